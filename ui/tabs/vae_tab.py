"""VAE tab: walk the latent space between two digits (test digits or the user's own drawings)."""

import os
import struct
from pathlib import Path

import gradio as gr
from PIL import Image

from generators.core.bounded import gif_well_formed
from generators.core.errors import InputError
from generators.core.limits import SEED, check_choice
from generators.scratch.sampler import ScratchSampler
from generators.vae import MAX_SIDE, METHODS, STEPS, VaeInterpolator
from ui.kit import media, permalink
from ui.kit.adapters import adapter, queue_group
from ui.kit.common import DIGITS, examples, into_view, keep_on_error
from ui.kit.components import DrawingPad, RawNumber, RawSlider
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.images import gif_bytes, grid, png_bytes, to_pil, to_uint8, upscale
from ui.tabs.vae_latent import build_map, map_image
from ui.kit.receipts import metered
from ui.kit.registry import Tab, table
from ui.kit.trained import MODELS, SHIPPED, TRAINED, Session, model_choice, run_of, steps_of, trained_state
from ui.kit.zerogpu import on_gpu

DRAWING = "my drawing"
ENDPOINTS = (*DIGITS, DRAWING)
VAE = adapter(VaeInterpolator)  # the model cache, shared by all users
GENERATOR = VaeInterpolator.GENERATOR
MINE = ScratchSampler()  # interpolates with a session's own VAE; the run comes with each request, never kept here
MAX_DRAWING_BYTES = 10 * 2**20  # the upload cap (app.py: max_file_size)
UPDATES = 3  # streamed updates per interpolation (the last one included): each costs Gradio work, a few show progress

# (start, end, steps, path, seed): the classic straight morph, a curved one, a round digit into another
EXAMPLES = [["1", "7", 16, "linear", 0], ["3", "8", 16, "spherical", 0], ["0", "6", 24, "linear", 5]]


def _open_drawing(image):
    """A drawing's file (a path; PIL images and arrays pass through) opened from its header, refused before any
    pixel is decoded when it is not an image or larger than MAX_SIDE a side, then decoded at most ~560 px a side:
    a 13000x13000 PNG of 190 KB would decode to 170 MB (ui/server/guard.py keeps Pillow's bomb check strict as well)."""
    if not isinstance(image, (str, os.PathLike)):
        return image
    try:
        if os.path.getsize(image) > MAX_DRAWING_BYTES:
            raise InputError("vae_not_image")
        if not gif_well_formed(Path(image).read_bytes()):  # Pillow would crawl through its junk a byte at a time
            raise InputError("vae_not_image")
        im = Image.open(image)  # lazy: reads the header only
        w, h = im.size
        if max(w, h) > MAX_SIDE:
            raise InputError("vae_too_large", w=w, h=h, max_side=MAX_SIDE)
        im.draft(None, (560, 560))  # JPEG decodes at 1/2, 1/4 or 1/8 scale
        im.load()
        im.thumbnail((560, 560))  # sketch_to_mnist fits the ink into 20 px anyway
        return im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # past Pillow's fence, at open
        w, h = _png_size(image)
        raise InputError("vae_too_large", w=w, h=h, max_side=MAX_SIDE) from None
    except (OSError, SyntaxError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError("vae_not_image") from None


def _png_size(path) -> tuple:
    """A PNG's width and height from its IHDR chunk (bytes 16-24), for the message; ("?", "?") for others."""
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24]) if head[12:16] == b"IHDR" else ("?", "?")


def _endpoint(name: str, choice, image, seed: int, lang: str = "en"):
    """The (1, 1, 28, 28) digit of one end, and what it is in `lang`; `name` is "start" or "end"."""
    if check_choice(name, choice, ENDPOINTS) != DRAWING:
        return VAE.test_digit(int(choice), seed), render("vae_test_digit", dict(digit=choice), lang)
    if isinstance(image, dict):  # a Sketchpad/ImageEditor value
        image = image.get("composite") if image.get("composite") is not None else image.get("background")
    if image is None:
        raise InputError("vae_draw_first", name=name)
    try:
        digit = VAE.from_image(_open_drawing(image))
        doubt = VAE.check(digit)  # refuses what is far from any handwritten digit (a screenshot, a photo)
    except InputError as e:
        raise InputError("vae_endpoint", side=name, detail=e) from None
    what = render("vae_your_drawing", {}, lang)
    return digit, f"{what} ({render(doubt.key, doubt.fields, lang)})" if doubt else what


def _final(step, folder, paths, what: tuple[str, str], lang: str, made: dict) -> tuple:
    """The last update: frames, strip PNG, GIF, endpoints beside their reconstructions, latent map."""
    steps = len(step.frames)
    strip = media.write(folder, "strip.png", png_bytes(upscale(grid(to_uint8(step.frames), columns=min(steps, 16)))),
                        **made)
    gif = media.write(folder, "morph.gif", gif_bytes(to_pil(step.frames)), **made)
    # the endpoints are test digits or the user's drawings, not generated: unmarked; their reconstructions are
    ends = media.png_files(to_uint8(step.endpoints), folder, "endpoint", generator=None)
    ends += media.png_files(to_uint8(step.reconstructions), folder, "endpoint", start=2, **made)
    captions = [render(key, dict(what=w), lang) for key, w in (("vae_start_is", what[0]), ("vae_start_rebuilt", ""),
                                                                 ("vae_end_is", what[1]), ("vae_end_rebuilt", ""))]
    recon = media.gallery([ends[0], ends[2], ends[1], ends[3]], captions)
    # a plot of real digits' codes, not generated media: unmarked; the shipped VAE's, so without a path for yours
    latent = media.write(folder, "latent-map.png", png_bytes(map_image(VAE, step.path_2d)), generator=None)
    return media.gallery(paths), media.file(strip), media.image(gif, "image/gif"), recon, media.image(latent, "image/png")


@localized
def interpolate_digits(start_digit: str, end_digit: str, steps: int, method: str, seed: int,
                       start_image=None, end_image=None, model: str = SHIPPED, trained: Session | None = None, *,
                       lang: str = "en"):
    """Morphs one handwritten digit into another through a VAE's latent space, streaming the frames.

    Args:
        start_digit: "0"-"9" (a held-out MNIST test digit of that class, picked by seed) or "my drawing".
        end_digit: the same, for the end point.
        steps: how many frames, 2-64.
        method: "linear" or "spherical" interpolation between the two latent means.
        seed: picks the test digits, 0 to 2**32-1.
        start_image: the drawing used when start_digit is "my drawing".
        end_image: the drawing used when end_digit is "my drawing".
        model: "shipped" (default), or "trained": the VAE trained in this session's Train-from-scratch tab (a page
            session's; an API call has none); the latent map is the shipped VAE's, so it shows no path then.
    Returns:
        the frames in order (28 px), a strip PNG and an animated GIF (112 px a frame), the endpoints and their
        reconstructions, the latent map.
    """
    args = (start_digit, end_digit, STEPS.check("steps", steps), check_choice("method", method, METHODS),
            SEED.check("seed", seed), start_image, end_image)
    if check_choice("model", model, MODELS) == TRAINED:
        yield from _interpolate(*args, MINE.check(run_of(trained), "VAE"), lang)
    else:
        yield from _interpolate_shipped(*args, None, lang)


def _interpolate(start_digit, end_digit, steps: int, method: str, seed: int, start_image, end_image, run, lang: str):
    """The checked request's endpoints and morph by the shipped VAE (`run` None) or the person's own."""
    start, start_what = _endpoint("start", start_digit, start_image, seed, lang)
    end, end_what = _endpoint("end", end_digit, end_image, (seed + 1) % (SEED.hi + 1), lang)
    ends = dict(start=start_what, end=end_what, steps=steps, method=method, seed=seed)
    if run is None:
        made, note = dict(generator=GENERATOR, settings=ends), ""
        stream = VAE.stream(start=start, end=end, steps=steps, method=method, chunks=UPDATES)
    else:
        made = dict(generator=MINE.GENERATOR.format(family="VAE"), settings={**ends, "model": TRAINED})
        stream = MINE.interpolate(run, start=start, end=end, steps=steps, method=method, chunks=UPDATES)
        note = render("vae_trained_note", dict(steps=steps_of(run)), lang)
    # a link holds test digits and the shipped model: not a drawing, not a session's own model
    link = None if run is not None or DRAWING in (start_digit, end_digit) else dict(
        start_digit=start_digit, end_digit=end_digit, steps=steps, method=method, seed=seed)
    with metered("interpolate_digits") as meter:
        yield from _morph(stream, steps, method, (start_what, end_what), made, note, meter, link, lang)


_interpolate_shipped = on_gpu(_interpolate)  # the shipped VAE's whole request on a ZeroGPU's GPU; yours on the CPU


def _morph(stream, steps: int, method: str, what: tuple[str, str], made: dict, note: str, meter, link: dict | None,
           lang: str):
    """An interpolation stream as the tab's updates: a preview of the frames so far, then everything (its summary
    with the receipt and, where it has one, the link)."""
    folder = media.new_folder()
    for step in stream:
        if step.done:
            break
        # ONE preview PNG of the frames so far, where the GIF will be; the frames go once, at the end (a gallery
        # re-sent on every update cost a fetch per frame per update: bench/bench_streams.py). None, not gr.skip():
        # Gradio builds a new component for each skip() on every update (~5 ms each)
        preview = png_bytes(upscale(grid(to_uint8(step.frames), columns=min(steps, 16)), 2))
        preview = media.image(media.write(folder, f"preview-{len(step.frames):02d}.png", preview, sign=False,
                                          **made), "image/png")
        yield None, None, preview, None, None, render("vae_decoding", dict(n=len(step.frames), steps=steps), lang)
    paths = media.png_files(to_uint8(step.frames), folder, "frame", **made)
    reads = [VAE.reads(step.frames[[i]])[0] for i in (0, len(step.frames) - 1)]
    summary = render("vae_verdict", dict(steps=steps, first=reads[0], last=reads[1]), lang) + "\n\n" + \
        render("vae_summary", dict(steps=steps, method=render(f"vae_method_{method}", {}, lang), start=what[0],
                                   end=what[1]), lang) + (" " + note if note else "")
    summary = meter.under(summary, lang, permalink.line("vae", lang, **link) if link else "")
    yield (*_final(step, folder, paths, what, lang, made), summary)


def _endpoint_controls(side: str, value: str):
    """The digit picker and the sketchpad of one endpoint; `side` is "start" or "end"."""
    choices = [*DIGITS, (t("vae_my_drawing"), DRAWING)]
    choice = gr.Dropdown(choices, value=value, label=t(f"vae_{side}_digit"))
    # shown only for "my drawing": a sketchpad in the page, even untouched, is drawn out of its canvas before every
    # Interpolate, seconds where the model takes a tenth (docs/results.md, bench/bench_streams.py); one left out of
    # the page (visible=False) sends its value as it is
    image = DrawingPad(label=t(f"vae_{side}_drawing"), type="filepath", sources=["upload"], canvas_size=(280, 280),
                       height=300, elem_classes=["drawing-pad"], visible=value == DRAWING)
    choice.change(_pad_for, choice, image, queue=False, api_visibility="private", show_progress="hidden")
    return choice, image


def _pad_for(choice: str):
    """The sketchpad shown while its endpoint is "my drawing"."""
    return gr.update(visible=choice == DRAWING)


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("vae_about"))
    with gr.Row():
        with gr.Column():
            start_digit, start_image = _endpoint_controls("start", "1")
        with gr.Column():
            end_digit, end_image = _endpoint_controls("end", "7")
    with gr.Row():
        steps = RawSlider(STEPS.lo, STEPS.hi, value=16, step=1, label=t("app_steps"))
        method = gr.Radio([(t(f"vae_path_{m}"), m) for m in METHODS], value="linear", label=t("vae_path"),
                          info=t("vae_path_info"))
        seed = RawNumber(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("vae_seed"))
    model = model_choice("vae-model")
    with gr.Row():
        go = gr.Button(t("vae_interpolate"), variant="primary", elem_id="vae-interpolate")
        stop = gr.Button(t("app_stop"))
    summary = gr.Markdown(elem_id="vae-summary")
    frames = gr.Gallery(label=t("app_frames"), columns=8, height="auto", object_fit="contain", format="png",
                        elem_id="vae-frames", elem_classes=["pixelated"])
    with gr.Row():
        strip = gr.File(label=t("vae_strip"))
        gif = gr.Image(label=t("app_gif"), type="filepath", format="gif", elem_classes=["pixelated"])
    recon = gr.Gallery(label=t("vae_recon"), columns=4, height="auto", elem_classes=["pixelated", "captioned"])
    latent = build_map(VAE)
    outputs = [frames, strip, gif, recon, latent, summary]
    # postprocess=False: the handler returns values already in Gradio's form (ui/kit/media.py says why)
    event = go.click(interpolate_digits, [start_digit, end_digit, steps, method, seed, start_image, end_image, model,
                                          trained_state()], outputs, api_name="interpolate_digits", postprocess=False,
                     **queue_group(VaeInterpolator, "interpolations"),
                     js=into_view("vae-summary"))
    keep_on_error(event, outputs)
    stop.click(None, None, None, cancels=[event])
    # the drawings stay out (a URL cannot hold them): a link with "my drawing" asks for one, as the tab does
    linked = permalink.named(interpolate_digits, [start_digit, end_digit, steps, method, seed, start_image,
                                                  end_image])
    permalink.register("vae", linked, go), permalink.link_button("vae", linked)
    # run on click in the clicker's language; the examples leave the drawings out (None)
    examples(EXAMPLES, [start_digit, end_digit, steps, method, seed], "vae_examples", outputs=outputs,
             fn=media.for_examples(interpolate_digits))


STRINGS = table("""
vae_about: **VAE (variational autoencoder): a network that packs each digit into 16 numbers and unpacks any 16 numbers back into a digit.** Moving step by step between the numbers of two digits morphs one into the other. Press **Interpolate** to turn a 1 into a 7, then try drawing your own digit as the end. | **VAE（变分自编码器）：一个把每个数字压缩成 16 个数、又能把任意 16 个数还原成数字的网络。** 在两个数字的这组数之间一步步移动，一个数字就渐变成另一个。按下**插值**把 1 变成 7，再试试自己画一个数字作为终点。
vae_start_digit: Start digit | 起点数字
vae_end_digit: End digit | 终点数字
vae_start_drawing: Start: your drawing (used when 'my drawing' is chosen) | 起点：你的手绘（选择“我的手绘”时使用）
vae_end_drawing: End: your drawing (used when 'my drawing' is chosen) | 终点：你的手绘（选择“我的手绘”时使用）
vae_my_drawing: my drawing | 我的手绘
vae_path: Path | 路径
vae_path_info: linear: a straight line between the two points; spherical: an arc that keeps the length of typical latent points (slerp). | linear：两点之间的直线；spherical：沿球面的弧线，保持典型潜向量的长度（slerp）。
vae_seed: Seed (picks the test digits) | 随机种子（用来挑选测试集数字）
vae_interpolate: Interpolate | 插值
vae_examples: Examples: start digit, end digit, steps, path, seed | 示例：起点数字、终点数字、步数、路径、随机种子
vae_strip: Strip (PNG) | 长条图（PNG）
vae_recon: Endpoints and their reconstructions | 两端数字及其重建
vae_latent: Latent map: click a point to decode it | 潜空间图：点击一点即可解码
vae_picked: The digit at the clicked point | 点击处的数字
vae_click_map: **The map** shows held-out test digits by class, in the two directions of the 16-d latent that best separate the classes (Fisher's discriminant, fitted on the codes of the training digits); an interpolation's path goes from the black dot (start) to the white dot (end). Click anywhere on it: the VAE decodes the most typical code that lands there. | **这张图**按类别画出未参与训练的测试数字，用的是 16 维潜空间中最能区分各类别的两个方向（Fisher 判别分析，在训练数字的编码上拟合）；插值路径从黑点（起点）走到白点（终点）。点击图上任意位置：VAE 会解码落在该处的最典型的编码。
vae_path_linear: linear | 直线（linear）
vae_path_spherical: spherical | 球面（spherical）
vae_card: VAE | VAE
""")

MESSAGES = table("""
vae_draw_first: {name} is set to 'my drawing': draw or upload a digit first. | {name}设为“我的手绘”：请先画一个数字或上传一张图。
vae_endpoint: The {side} digit: {detail} | {side}数字：{detail}
vae_not_image: The drawing is not an image. | 手绘内容不是图片。
vae_too_large: The image is too large ({w}x{h}); at most {max_side} px a side. | 图片太大（{w}x{h}）；每边最多 {max_side} 像素。
vae_blank: The drawing is blank: draw a digit first. | 画板是空白的：请先画一个数字。
vae_not_digit: this image does not look like a handwritten digit: its strokes cover {ink} of it, and handwritten digits cover {lo} to {hi}. Draw or upload a single digit. | 这张图看起来不像手写数字：笔画占了画面的 {ink}，而手写数字为 {lo} 到 {hi}。请画或上传单个数字。
vae_unlikely_digit: this image does not look like a handwritten digit: the VAE finds it far less likely than any real one ({nelbo} nats; real digits: under {most}). Draw or upload a single digit. | 这张图看起来不像手写数字：VAE 认为它远不如任何真实数字可能（{nelbo} 奈特；真实数字低于 {most}）。请画或上传单个数字。
vae_unsure_digit: ⚠ little like the handwritten digits the VAE learnt from; our classifier reads a {reads}, {confidence} sure | ⚠ 不太像 VAE 学过的手写数字；我们的分类器认作 {reads}，把握 {confidence}
vae_test_digit: test digit {digit} | 测试集数字 {digit}
vae_your_drawing: your drawing | 你的手绘
vae_start_is: start: {what} | 起点：{what}
vae_start_rebuilt: start, as the VAE rebuilds it{what} | 起点经 VAE 重建{what}
vae_end_is: end: {what} | 终点：{what}
vae_end_rebuilt: end, as the VAE rebuilds it{what} | 终点经 VAE 重建{what}
vae_decoding: decoding… {n}/{steps} | 解码中… {n}/{steps}
vae_verdict: **{steps} frames: our classifier reads the first as {first} and the last as {last}; the frames between are the VAE's own in-between digits.** | **{steps} 帧：我们的分类器把第一帧认作 {first}，最后一帧认作 {last}；中间各帧是 VAE 自己生成的过渡数字。**
vae_summary: {steps} frames, {method} path, from {start} to {end}. | {steps} 帧，{method}路径，从{start}到{end}。
vae_trained_note: Drawn by your VAE ({steps} steps of training), which encodes and decodes both ends itself. The latent map below is the shipped VAE's, so it shows no path for yours. | 由你的 VAE（训练了 {steps} 步）生成，两端的编码和解码都由它完成。下方的潜空间图属于内置 VAE，所以不显示你的模型的路径。
vae_method_linear: linear | 直线
vae_method_spherical: spherical | 球面
vae_picked_is: The point ({x}, {y}) of the map decodes to this digit; our classifier reads a {reads} ({confidence}). | 图上的点（{x}, {y}）解码出这个数字；我们的分类器认作 {reads}（{confidence}）。
""")

# the sketchpad's label floats over its canvas, where the zoom and undo toolbar covers it: it goes above the pad
CSS = """
.drawing-pad { margin-top: 28px !important; }
.block.drawing-pad > label.float[data-testid="block-label"] { position: absolute; top: -28px; max-width: 100%; border: none;
                                                          background: none; }
"""

TAB = Tab(key="vae", order=30, title=("VAE interpolation", "VAE 插值"), build=build, strings=STRINGS,
          messages=MESSAGES, css=CSS, names={"start": "起点", "end": "终点", "method": "路径"},
          cards=(("vae_card", "assets/vae/README.md"),))
