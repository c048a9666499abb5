"""Provenance tab: was this made by a machine? Check text for our watermark (with GLTR rank evidence beside it) and an
image for its C2PA manifest, its digital source type and, for a digit, what our discriminator and classifier say."""

import functools
import json
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from generators.text import TextContinuation, detect_text as check_watermark
from generators.diffusion import DiffusionSampler
from generators.gan import ASSETS, GanSampler
from generators.vae import VaeInterpolator
from generators.core.bounded import gif_well_formed
from ui.kit import permalink
from ui.kit.adapters import adapter
from ui.kit.common import keep_on_error
from ui.kit.components import RawTextbox
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.images import png_bytes, to_uint8
from ui.kit.registry import Tab, table
from ui.tabs import provenance_plain
from ui.kit.zerogpu import on_gpu

DETECTOR = ASSETS / "gan" / "detector.json"  # bench/bench_detectors.py: the discriminator's measured ROC AUC
# the text side's examples: our text tab's output with its defaults (this prompt, seed 0), and a passage of a book
# our text model never read (the room's, with their source and licence)
EXAMPLE_PROMPT = "The old captain looked out over the harbour and said"
PASSAGES = ASSETS / "room" / "passages.json"
TEXT_EXAMPLES = ("ours", "book")
DIGIT_SIDE = 560  # a square image up to this side is read as one digit (a 28 px digit, or one enlarged)
DIGIT_BYTES = 2 * 2**20  # and up to this size: 560 x 560 RGBA raw is 1.25 MB
HAS_DIFFUSION = (ASSETS / "diffusion" / "unet" / "diffusion_pytorch_model.safetensors").exists()
GREEN_COLOURS = {"green": "#2ca02c", "red": "#d62728"}
RANK_COLOURS = {"top10": "#2ca02c", "top100": "#f2c500", "top1000": "#d62728", "beyond": "#9467bd"}  # GLTR's


@localized
@on_gpu
def detect_text(text: str, *, lang: str = "en"):
    """Checks a text for this playground's green-list watermark (Kirchenbauer et al., 2023), with GLTR rank evidence.

    Args:
        text: the text to check, up to 10,000 characters (at least 16 scored tokens are needed for a verdict).
    Returns:
        a JSON value {"z_score", "p_value", "tokens_scored", "verdict": "watermarked" | "no_watermark" | "too_short",
        "green_fraction", "rank_shares", "tokens": [{"text", "green", "scored", "rank", "bucket"}, ...], "link"}; the
        verdict in words; the tokens coloured by list; the tokens coloured by rank; the rank shares in words.
    """
    result = {**check_watermark(text), "link": permalink.query("provenance", lang, text=text)}
    return (result, _verdict(result, lang), _highlight(result, "green"), _highlight(result, "bucket"),
            _shares(result, lang))


def _verdict(result: dict, lang: str) -> str:
    """The verdict in a line, then the evidence as a short table with plain labels (the API has the JSON)."""
    fields = dict(z=f"{result['z_score']:.2f}", p=f"{result['p_value']:.2g}", n=result["tokens_scored"],
                  needed=result.get("tokens_needed", result["min_tokens"]), threshold=f"{result['z_threshold']:g}",
                  green=f"{result['green_fraction']:.0%}", gamma=f"{result['gamma']:.0%}",
                  odds=f"{1 / (0.5 * math.erfc(result['z_threshold'] / math.sqrt(2))):,.0f}")  # P(z >= threshold)
    rows = [render(f"provenance_ev_{k}", fields, lang).split(" · ") for k in ("head", "tokens", "green", "z", "p")]
    table_md = "\n".join([f"| {rows[0][0]} | {rows[0][1]} |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows[1:]])
    return render(f"provenance_verdict_{result['verdict']}", fields, lang) + "\n\n" + table_md


def _highlight(result: dict, field: str) -> list[tuple[str, str | None]]:
    """The tokens as (piece, label): "green"/"red" by list, or GLTR's rank bucket; unscored tokens unlabelled.
    The labels are the colours' keys, the same in every language: the component's label explains them."""
    if field == "bucket":
        return [(token["text"], token["bucket"]) for token in result["tokens"]]
    return [(token["text"], ("green" if token["green"] else "red") if token["scored"] else None)
            for token in result["tokens"]]


def _shares(result: dict, lang: str) -> str:
    return render("provenance_ranks", {k: f"{v:.0%}" for k, v in result["rank_shares"].items()}, lang)


@localized
@on_gpu
def verify_image(image: str, *, lang: str = "en"):
    """Checks where an image came from: its C2PA manifest (validated), its digital source type, what made it, and,
    for one 28x28-style digit, our GAN discriminator's realness and what our classifier reads.

    Args:
        image: the image file (PNG, GIF, JPEG, ...), sent as a file so that its metadata arrive untouched.
    Returns:
        a JSON value {"c2pa": "valid" | "invalid" | "absent", "digital_source_type", "generator", "claims_from",
        "manifest", "metadata", "digit": {"realness", "reads", "confidence", "discriminator_auc"} | null, ...}, and
        what it means, in words.
    """
    from generators.provenance import c2pa as provenance  # c2pa loads at the first check, not at start

    result = provenance.verify(image)
    result["digit"] = _digit(image, result)
    return result, _report(result, lang)


@functools.cache
def detector() -> dict | None:
    """The discriminator's measured ROC AUC (real test digits vs GAN digits), or None before the bench has run."""
    return json.loads(DETECTOR.read_text()) if DETECTOR.exists() else None


@torch.inference_mode()
def _digit(path: str, result: dict) -> dict | None:
    """Realness and the classifier's reading of a square image up to DIGIT_SIDE px, seen as a 28x28 MNIST digit
    (light on dark: a dark-on-light drawing is inverted); None for other images or ones that do not decode."""
    if result["width"] != result["height"] or result["width"] > DIGIT_SIDE or os.path.getsize(path) > DIGIT_BYTES:
        return None
    try:
        if not gif_well_formed(Path(path).read_bytes()):  # Pillow would crawl through its junk a byte at a time
            return None
        with Image.open(path) as im:
            gray = np.asarray(im.convert("L").resize((28, 28), Image.BOX), np.float32) / 255
    except Exception:  # noqa: BLE001 - an edited or cut file: the manifest verdict above says what is wrong
        return None
    gray = 1 - gray if gray.mean() > 0.5 else gray
    judged = adapter(GanSampler).judge(torch.from_numpy(gray))  # the GAN's discriminator and our classifier
    measured = detector()
    return {**judged,
            "discriminator_auc": measured["auc"] if measured else None,
            "auc_measured_on": f"{measured['real']} real test digits vs {measured['generated']} GAN digits"
            if measured else None}


def _report(result: dict, lang: str) -> str:
    """The checker's findings in words: the manifest, the source type, what made it, the digit's scores."""
    from generators.provenance.c2pa import UNTRUSTED

    m = result["manifest"]
    lines = [render(f"provenance_c2pa_{result['c2pa']}", dict(
        signer=m.get("signer") or "?", issuer=m.get("issuer") or "?",
        failures=", ".join(f for f in m.get("failures") or [] if f not in UNTRUSTED) or m.get("error", "?")),
        lang)]
    if result["c2pa"] == "valid":
        lines.append(render("provenance_ours" if m.get("signed_by_this_playground") else "provenance_not_ours", {},
                            lang))
    where = render(f"provenance_from_{result['claims_from'] or 'c2pa'}", {}, lang)
    settings = m.get("settings") if result["claims_from"] == "c2pa" else \
        result["metadata"].get("png_text", {}).get("Settings")
    lines.append(provenance_plain.image_table(result, settings, where, lang))
    d = result["digit"]
    if d is None:
        lines.append(render("provenance_no_digit", dict(side=DIGIT_SIDE), lang))
    else:
        auc = render("provenance_auc", dict(auc=f"{d['discriminator_auc']:.2f}", n=detector()["real"]), lang) \
            if d["discriminator_auc"] is not None else render("provenance_auc_missing", {}, lang)
        lines.append(render("provenance_digit", dict(realness=f"{d['realness']:.2f}", reads=d["reads"],
                                                     confidence=f"{d['confidence']:.0%}", auc=auc), lang))
    return "\n\n".join(lines)


# -- examples: made at first use, in a private folder of this process ---------------------------------------------

@functools.cache
def _example_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="genai-playground-provenance-"))  # mkdtemp: mode 0700


def _edited(signed: bytes, pixels: np.ndarray) -> bytes:
    """The signed PNG with new pixels (H, W) uint8 in its IDAT, everything else kept, as an editor that keeps the
    metadata would save it: the manifest is intact, its hash of the pixels no longer matches."""
    rows = np.zeros((pixels.shape[0], pixels.shape[1] + 1), np.uint8)  # filter byte 0 before each row
    rows[:, 1:] = pixels
    out, i = [signed[:8]], 8
    while i < len(signed):
        n, tag = struct.unpack(">I4s", signed[i:i + 8])
        chunk = signed[i:i + 12 + n]
        if tag == b"IDAT":
            data = zlib.compress(rows.tobytes())
            chunk = struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
        out.append(chunk)
        i += 12 + n
    return b"".join(out)


@functools.cache
def example_file(kind: str) -> str:
    """The example image `kind` ("real", "gan", "diffusion", "edited") as a file, made once."""
    from generators.provenance import c2pa as provenance

    if kind == "real":
        data = png_bytes(to_uint8(adapter(VaeInterpolator).test_digit(7, 0))[0])  # a held-out MNIST test digit: never marked
    elif kind == "diffusion":
        step = adapter(DiffusionSampler).sample(digit=5, count=1, steps=20, guidance=1.0, seed=0, sampler="DPM-Solver++")
        data = provenance.mark(png_bytes(to_uint8(step.sample)[0]), "png", generator=DiffusionSampler.GENERATOR,
                               settings=dict(digit=5, steps=20, guidance=1.0, seed=0, sampler="DPM-Solver++"))
    else:
        settings = dict(digit=3, count=1, seed=0, truncation=1.0)
        pixels = to_uint8(adapter(GanSampler).sample(**settings).images)[0]
        data = provenance.mark(png_bytes(pixels), "png", generator=GanSampler.GENERATOR, settings=settings)
        if kind == "edited":
            pixels = pixels.copy()
            pixels[22:25, 4:24] = 255  # a stroke added under the digit
            data = _edited(data, pixels)
    path = _example_folder() / f"{kind}-digit.png"
    path.write_bytes(data)
    return str(path)


def example_text(kind: str) -> str:
    """"ours": what the text tab writes with its defaults (watermarked); "book": a human passage (not)."""
    if kind == "ours":
        return adapter(TextContinuation).continue_text(EXAMPLE_PROMPT, seed=0, watermark=True)[0].text
    return json.loads(PASSAGES.read_text(encoding="utf-8"))[0]["text"]


def _text_panel() -> None:
    gr.Markdown(t("provenance_text_about"))
    text = RawTextbox(lines=6, label=t("provenance_text"), placeholder=t("provenance_text_placeholder"),
                      elem_id="provenance-text")
    with gr.Row():
        examples = {kind: gr.Button(t(f"provenance_text_example_{kind}"), size="sm",
                                    elem_id=f"provenance-text-example-{kind}") for kind in TEXT_EXAMPLES}
    go = gr.Button(t("provenance_check_text"), variant="primary", elem_id="provenance-check-text")
    verdict = gr.Markdown(elem_id="provenance-text-verdict")
    shown = dict(show_legend=False, show_inline_category=False)  # the label says what each colour means
    green = gr.HighlightedText(label=t("provenance_green"), color_map=GREEN_COLOURS, **shown)
    ranks = gr.HighlightedText(label=t("provenance_rank"), color_map=RANK_COLOURS, **shown)
    shares = gr.Markdown()
    details = gr.JSON(label=t("provenance_details"), open=False, visible=False)  # the API's answer; the page has words
    outputs = [details, verdict, green, ranks, shares]
    keep_on_error(go.click(detect_text, text, outputs, api_name="detect_text"), outputs)
    for kind, button in examples.items():
        button.click(functools.partial(example_text, kind), None, text, api_visibility="private").then(
            detect_text, text, outputs, api_visibility="private")
    # the text check only: an uploaded image cannot go in a URL (docs/permalinks.md)
    permalink.register("provenance", {"text": text}, go), permalink.link_button("provenance", {"text": text})


def _image_panel() -> None:
    gr.Markdown(t("provenance_image_about"))
    # a file, not gr.Image: an image component re-encodes the upload and drops the manifest and metadata
    # no file_types: Gradio would refuse other files in English only; the checker answers them in both languages
    upload = gr.File(label=t("provenance_image"), type="filepath")
    kinds = ("real", "gan", *(("diffusion",) if HAS_DIFFUSION else ()), "edited")
    with gr.Row():
        buttons = {kind: gr.Button(t(f"provenance_example_{kind}"), size="sm") for kind in kinds}
    go = gr.Button(t("provenance_check_image"), variant="primary")
    report = gr.Markdown()
    details = gr.JSON(label=t("provenance_details"), open=False, visible=False)  # the API's answer; the page has words
    keep_on_error(go.click(verify_image, upload, [details, report], api_name="verify_image"),
                  [details, report])
    for kind, button in buttons.items():
        button.click(functools.partial(example_file, kind), None, upload, api_visibility="private").then(
            verify_image, upload, [details, report], api_visibility="private")


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("provenance_about"))
    with gr.Row():
        with gr.Column():
            _text_panel()
        with gr.Column():
            _image_panel()
    gr.Markdown(t("provenance_limits"))


STRINGS = table("""
provenance_about: **Was this made by a machine?** What this playground generates is marked: its text carries a statistical watermark, its images a signed C2PA manifest and the IPTC label *trained algorithmic media*. Check a text or an image here; below, what each check can and cannot tell. | **这是机器生成的吗？** 本体验场生成的内容都带有标记：文本带统计水印，图片带签名的 C2PA 清单和 IPTC 标签“训练算法生成的媒体”。可以在这里检查一段文本或一张图片；下方说明每种检查能说明什么、不能说明什么。
provenance_text_about: **Did our text tab write this?** Paste a text and press Check: the answer is watermarked, not watermarked, or too short to tell. How it works: our text tab nudges each word choice toward a "green list" that a hash of the previous token and a key picks (Kirchenbauer et al., 2023); the check counts green tokens and needs no model. | **这是我们的文本页写的吗？** 粘贴一段文本，按“检查”：答案是有水印、没有水印，或者太短无法判断。原理： 文本页在生成时把每次用词轻推向一个“绿名单”，绿名单由前一个 token 与密钥的哈希选出（Kirchenbauer 等，2023）；检测只数绿色 token，不需要模型。
provenance_text: Text to check | 要检查的文本
provenance_text_placeholder: Paste a text, e.g. one written by the text tab | 粘贴一段文本，例如文本页写出的文字
provenance_check_text: Check the text | 检查文本
provenance_text_example_ours: Example: written by our text tab | 示例：我们的文本页写的
provenance_text_example_book: Example: a passage from a book | 示例：书中的一段
provenance_green: Each token by its list: green (favoured by our mark) or red; uncoloured tokens are not scored (the first, and repeated pairs) | 按名单着色的每个 token：绿色（水印偏好）或红色；无颜色的不计分（第一个及重复出现的词对）
provenance_rank: Each token by its rank under our model (GLTR, Gehrmann et al., 2019): green top 10, yellow top 100, red top 1000, purple beyond | 按我们模型给出的排名着色的每个 token（GLTR，Gehrmann 等，2019）：绿色前 10，黄色前 100，红色前 1000，紫色 1000 名之外
provenance_details: Details (JSON, as the API returns them) | 详细结果（JSON，与 API 返回的相同）
provenance_image_about: **Image.** Upload a file as it was downloaded: the checker validates its C2PA manifest, reads the digital source type and what made it, and, for one digit, asks our GAN's discriminator and our classifier. Or try an example. | **图片。** 上传下载下来的原始文件：检查器验证它的 C2PA 清单，读出数字来源类型和生成它的模型；如果是单个数字，还会询问 GAN 的判别器和我们的分类器。也可以试试示例。
provenance_image: Image file (PNG, GIF, JPEG; at most 10 MB) | 图片文件（PNG、GIF、JPEG；最大 10 MB）
provenance_example_real: Example: a real MNIST digit | 示例：真实的 MNIST 数字
provenance_example_gan: Example: a GAN digit | 示例：GAN 生成的数字
provenance_example_diffusion: Example: a diffusion digit | 示例：扩散模型生成的数字
provenance_example_edited: Example: a GAN digit, downloaded then edited | 示例：下载后被修改过的 GAN 数字
provenance_check_image: Check the image | 检查图片
provenance_limits: **Honest limits, measured.** *Text:* in bench/bench_watermark.py (100 continuations of 128 tokens at the tab's setting, γ 0.5, δ 2, costing 9.4% in perplexity) the mark was found in 98% of them, in 93% with 10% of the tokens replaced at random, in 41% with 25% and in none with half replaced (and in 0 of 200 human passages), so a paraphrase or a translation removes it; the key is public, so anyone can also strip or forge it. *Images:* in bench/bench_provenance.py any re-save (an editor, a screenshot) or a 1-pixel crop leaves no manifest at all, one changed byte makes it invalid, and the unsigned labels are as easy to strip or to copy onto a real photo, so a missing mark proves nothing and a valid one proves only that the file is unchanged since we signed it. | **诚实的局限（实测）。** *文本：* 在 bench/bench_watermark.py 中（100 段 128 个 token 的续写，使用文本页的设置 γ 0.5、δ 2，困惑度代价 9.4%），水印检出 98%；随机替换 10% 的 token 后检出 93%，替换 25% 后 41%，替换一半后一个也检不出（200 段人写的文本无一误报），所以改写或翻译就能去掉水印；密钥是公开的，任何人也都能去除或伪造它。*图片：* 在 bench/bench_provenance.py 中，任何重新保存（编辑器、截图）或裁掉 1 像素都会让清单彻底消失，改动一个字节就会使其无效；未签名的标签同样容易被删掉或复制到真实照片上。因此没有标记什么也证明不了，有效的标记也只证明文件自我们签名以来未被改动。
""")

MESSAGES = provenance_plain.MESSAGES | table("""
provenance_verdict_watermarked: **Watermarked: this text carries our text tab's mark.** Text written without our key scores this high about once in {odds} texts. | **有水印：这段文本带有我们文本页的水印。** 不使用我们密钥写出的文本，大约 {odds} 篇里才有一篇能得到这么高的分数。
provenance_verdict_no_watermark: **Not watermarked.** {n} tokens is long enough for our own marked text to show the mark, and this one does not. That does not mean a person wrote it: other models do not use our key, and edits wash the mark out. | **没有水印。** {n} 个 token 已足够让我们自己加了水印的文本显出水印，而这段没有。这并不说明是人写的：其他模型不用我们的密钥，修改也会冲掉水印。
provenance_verdict_too_short: **Too short to tell.** {n} tokens could be checked and no mark shows yet; our own marked text needs about {needed} before the mark shows reliably. Paste a longer text (or make the text tab write more). | **太短，无法判断。** 只有 {n} 个 token 可供检查，目前看不出水印；我们自己加了水印的文本大约要 {needed} 个才能可靠地显出水印。请粘贴更长的文本（或让文本页多写一些）。
provenance_ev_head: Evidence · Value | 证据 · 数值
provenance_ev_tokens: Tokens checked · {n} | 检查的 token 数 · {n}
provenance_ev_green: Share on the green list · {green} (text without our mark: about {gamma}) | 落在绿名单上的比例 · {green}（不带我们水印的文本约为 {gamma}）
provenance_ev_z: Score z · {z} ({threshold} or more means watermarked) | 分数 z · {z}（达到 {threshold} 即判定有水印）
provenance_ev_p: Chance that unmarked text scores this high · {p} | 无水印文本得到这么高分数的概率 · {p}
provenance_ranks: Ranks under our model: top 10 {top10}, top 100 {top100}, top 1000 {top1000}, beyond {beyond}. A model's own text sits mostly in its top 10; people pick rarer words more often. This works on unmarked text too, but it is only a hint, never a test: plain prose by a person can rank high, and a model sampled hot can rank low. | 在我们模型下的排名：前 10 占 {top10}，前 100 占 {top100}，前 1000 占 {top1000}，之外占 {beyond}。模型自己写的文本大多落在前 10；人更常选用少见的词。这对没有水印的文本也有效，但只是线索，绝不是检验：人写的平实文字可能排名很高，高温采样的模型文本也可能排名很低。
provenance_c2pa_valid: **C2PA manifest: valid.** The signature and the hashes check out: the file is unchanged since it was signed. Signed by {signer} ({issuer}): a self-signed certificate on no trust list, so *untrusted but intact*; it shows the file was not changed, not who made it. | **C2PA 清单：有效。** 签名和哈希都核对无误：文件自签名以来未被改动。签名者 {signer}（{issuer}）：自签名证书，不在任何信任列表上，因此是*不受信任但完整*；它说明文件没被改过，而不说明是谁做的。
provenance_c2pa_invalid: **C2PA manifest: invalid.** The file holds a manifest that no longer matches it: it was changed after it was signed ({failures}). | **C2PA 清单：无效。** 文件里的清单与文件已不相符：签名之后它被改动过（{failures}）。
provenance_c2pa_absent: **C2PA manifest: absent.** The file was never signed, or the manifest was removed (any re-save does that). | **C2PA 清单：不存在。** 文件从未签名，或清单已被去掉（任何重新保存都会这样）。
provenance_ours: This playground's own key signed it. | 由本体验场自己的密钥签名。
provenance_not_ours: Another key signed it, not this playground's. | 签名的是另一个密钥，不是本体验场的。
provenance_from_c2pa: signed, in the manifest | 已签名，来自清单
provenance_from_metadata: unsigned metadata only: anyone could have written it | 仅为未签名的元数据：任何人都能写入
provenance_no_digit: Not one 28x28-style digit (a square image up to {side} px): no discriminator score. | 不是单个 28x28 风格的数字（边长不超过 {side} 像素的正方形图片）：不给判别器分数。
provenance_digit: As a 28x28 digit: our GAN discriminator's realness {realness} (its probability that the digit is real), and our classifier reads {reads} ({confidence}). {auc} | 作为 28x28 数字：GAN 判别器给的真实度 {realness}（它认为该数字为真实样本的概率），我们的分类器认作 {reads}（{confidence}）。{auc}
provenance_auc: Do not over-read the realness: on {n} real test digits vs {n} GAN digits the discriminator ranks a real one above a GAN one with ROC AUC {auc} (0.5 = chance; bench/bench_detectors.py). | 不要过度解读真实度：在 {n} 个真实测试数字与 {n} 个 GAN 数字上，判别器把真实数字排在 GAN 数字之前的 ROC AUC 只有 {auc}（0.5 即随机猜测；bench/bench_detectors.py）。
provenance_auc_missing: How well the discriminator tells real from generated is not measured yet (python -m bench.bench_detectors). | 判别器区分真假的能力尚未测量（python -m bench.bench_detectors）。
provenance_no_file: Upload an image file first. | 请先上传一个图片文件。
provenance_not_image: The file is not an image. | 该文件不是图片。
provenance_too_large: The image is too large ({pixels} pixels); at most {max_pixels}. | 图片太大（{pixels} 像素）；最多 {max_pixels}。
provenance_too_wide: The image is {width} × {height} px; at most {max_side} px a side. | 图片为 {width} × {height} 像素；每边最多 {max_side} 像素。
provenance_too_complex: The file is made of more than {max_blocks} blocks; it was not read. | 该文件由超过 {max_blocks} 个数据块组成，未读取。
provenance_too_slow: Reading this file's metadata took longer than {seconds} s, so it was stopped. | 读取此文件的元数据超过 {seconds} 秒，已停止。
provenance_file_too_large: The file is too large ({mb} MB); at most {max_mb} MB. | 文件太大（{mb} MB）；最大 {max_mb} MB。
provenance_mark_format: This file is not a {fmt} as the playground writes it, so it cannot be marked. | 该文件不是本体验场所写的 {fmt} 格式，无法加标记。
provenance_key: The image signing key could not be read or made ({path}: {reason}). | 无法读取或创建图片签名密钥（{path}：{reason}）。
watermark_empty_text: Paste some text to check. | 请粘贴要检查的文本。
watermark_text_too_long: The text is too long ({got} characters); at most {limit}. | 文本太长（{got} 个字符）；最多 {limit} 个。
""")

TAB = Tab(key="provenance", order=60, title=("Provenance check", "溯源检查"), build=build, strings=STRINGS,
          messages=MESSAGES, prefixes=("watermark",))
