"""The GAN and VAE endpoints through gradio_client on the launched app, with the bundled weights."""

import pytest
import torch
from gradio_client import handle_file
from PIL import Image, ImageDraw

from generators.digits import DigitClassifier
from generators.gan import ASSETS


def read_digit(path: str | Image.Image) -> int:
    """What our MNIST classifier reads in a served 112x112 image (a file, or the image itself)."""
    clf = DigitClassifier.from_pretrained(ASSETS / "classifier").eval()
    im = (path if isinstance(path, Image.Image) else Image.open(path)).convert("L").resize((28, 28), Image.LANCZOS)
    x = torch.tensor(list(im.getdata()), dtype=torch.float32).view(1, 1, 28, 28) / 255
    with torch.no_grad():
        return int(clf(x).argmax())


def test_sample_digits(client):
    gallery, grid_png, summary = client.predict("7", 12, 3, 0.8, api_name="/sample_digits")
    assert len(gallery) == 12
    assert all("realness" in item["caption"] for item in gallery)
    assert all(item["caption"].startswith("7 ") for item in gallery)
    assert Image.open(grid_png).size[0] > 8 * 112
    # light digit on a dark background (MNIST polarity)
    im = Image.open(gallery[0]["image"]).convert("L")
    assert sum(im.getdata()) / (im.size[0] * im.size[1]) < 100
    again, _, _ = client.predict("7", 12, 3, 0.8, api_name="/sample_digits")
    assert [g["caption"] for g in gallery] == [g["caption"] for g in again]  # the seed reproduces


# Numbers and sliders reach the handler as sent (ui/kit/components.py): its range checks word the message, which
# names the problem and the range; Gradio still checks the choices of a dropdown itself.
@pytest.mark.parametrize("args, says", [(("7", 0, 1, 1.0), "between 1 and 64"),
                                        (("7", 65, 1, 1.0), "between 1 and 64"),
                                        (("seven", 4, 1, 1.0), "seven"), (("7", 4, -3, 1.0), "seed"),
                                        (("7", 4, 1, 0.0), "truncation"), (("7", 4, 1, 2.0), "truncation"),
                                        (("7", 2.5, 1, 1.0), "count")])
def test_sample_digits_bad_input(client, args, says):
    with pytest.raises(Exception) as err:
        client.predict(*args, api_name="/sample_digits")
    assert says in str(err.value)
    assert len(client.predict("1", 2, 0, 1.0, api_name="/sample_digits")[0]) == 2  # still serving


def test_interpolate_digits_streams(client):
    job = client.submit("1", "7", 12, "linear", 0, api_name="/interpolate_digits")
    updates = [out[0] for out in job]
    final = job.outputs()[-1]
    assert len(updates) >= 3
    frames = final[0]
    assert len(frames) == 12
    assert read_digit(frames[0]["image"]) == 1 and read_digit(frames[-1]["image"]) == 7
    assert final[2].endswith(".gif") and len(final[3]) == 4


def test_interpolate_from_a_drawing(client, tmp_path):
    paper = Image.new("L", (280, 280), 255)
    paper.paste(0, (130, 40, 150, 240))  # a dark vertical bar: a one
    paper.save(tmp_path / "one.png")
    sketch = {"background": handle_file(str(tmp_path / "one.png")), "layers": [],
              "composite": handle_file(str(tmp_path / "one.png"))}
    out = client.predict("my drawing", "0", 8, "spherical", 0, sketch, None, api_name="/interpolate_digits")
    assert len(out[0]) == 8 and "your drawing" in out[5]


@pytest.mark.parametrize("args, says", [(("1", "7", 1, "linear", 0), "between 2 and 64"),
                                        (("1", "7", 65, "linear", 0), "between 2 and 64"),
                                        (("1", "7", 8, "cubic", 0), "cubic"), (("11", "7", 8, "linear", 0), "11"),
                                        (("1", "7", 8, "linear", -1), "seed"),
                                        (("my drawing", "7", 8, "linear", 0), "draw")])
def test_interpolate_bad_input(client, args, says):
    with pytest.raises(Exception) as err:
        client.predict(*args, api_name="/interpolate_digits")
    assert says in str(err.value)
    assert len(client.predict("1", "7", 4, "linear", 0, api_name="/interpolate_digits")[0]) == 4  # still serving


def test_blank_drawing_is_refused(client, tmp_path):
    Image.new("L", (280, 280), 255).save(tmp_path / "blank.png")
    blank = {"background": handle_file(str(tmp_path / "blank.png")), "layers": [],
             "composite": handle_file(str(tmp_path / "blank.png"))}
    with pytest.raises(Exception) as err:
        client.predict("my drawing", "7", 8, "linear", 0, blank, None, api_name="/interpolate_digits")
    assert "blank" in str(err.value)


def test_largest_seed_works(client):
    out = client.predict("1", "7", 4, "linear", 2**32 - 1, api_name="/interpolate_digits")
    assert len(out[0]) == 4


@pytest.mark.parametrize("handler", ["sample_digits", "interpolate_digits"])
def test_cached_examples_keep_their_own_files(app_url, handler):
    """Request files are removed after an hour; a cached example must link to Gradio's copies, not to them."""
    import gc

    from gradio.helpers import Examples

    from ui.kit import media

    gc.unfreeze()  # the app's warm-ups froze what was loaded by then (ui/kit/warm.py): out of get_objects' sight
    (shown,) = [e for e in gc.get_objects() if isinstance(e, Examples) and handler in repr(e.fn)]
    gallery = shown.load_from_cache(0)[0]
    urls = [item.image.url for item in gallery.root]
    assert urls and all("/gradio_api/file=" in url and str(media.ROOT) + "/" not in url for url in urls)


def test_gan_numbers_beside_real_digits_and_in_chinese(client, app_url):
    from gradio_client import Client

    _, _, summary = client.predict("7", 8, 3, 1.0, api_name="/sample_digits")
    assert "real test digits" in summary and "median" in summary
    zh = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN"})
    gallery, _, summary = zh.predict("7", 8, 3, 1.0, api_name="/sample_digits")
    assert "真实测试数字" in summary and all("真实度" in item["caption"] for item in gallery)
    _, _, _, _, _, summary = zh.predict("1", "7", 4, "spherical", 0, api_name="/interpolate_digits")
    verdict, details = summary.split("\n\n")
    assert details == "4 帧，球面路径，从测试集数字 1到测试集数字 7。"
    assert verdict.startswith("**4 帧：我们的分类器把第一帧认作 1") and "最后一帧认作 7" in verdict
    assert "本次结果的成本" in verdict  # the receipt and the link, under the verdict
    assert "(?tab=vae&start_digit=1&end_digit=7&steps=4&method=spherical&seed=0&lang=zh)" in verdict
    gallery, _, summary = zh.predict("7", 8, 3, 0.5, api_name="/sample_digits")  # a verdict a non-expert reads
    assert summary.startswith("**") and "秒画出 8 个数字；我们的分类器认出其中" in summary.split("\n\n")[0]
    assert "本次结果的成本" in summary and "(?tab=gan&digit=7&count=8&seed=3&truncation=0.5&lang=zh)" in summary


def test_latent_walk_from_one_digit_to_another(client):
    frames, gif = client.predict("3", 1, 2, 8, 1.0, "8", api_name="/latent_walk")
    assert len(frames) == 8 and gif.endswith(".gif")
    assert read_digit(frames[0]["image"]) == 3 and read_digit(frames[-1]["image"]) == 8
    same, _ = client.predict("3", 1, 2, 8, api_name="/latent_walk")  # the default: a walk in noise alone
    assert read_digit(same[-1]["image"]) == 3


def _upload(tmp_path, name: str, image: Image.Image) -> dict:
    """A sketchpad value holding `image` as its drawing."""
    image.save(tmp_path / name)
    return {"background": handle_file(str(tmp_path / name)), "layers": [], "composite": handle_file(str(tmp_path / name))}


def test_a_screenshot_is_not_taken_for_a_digit(client, tmp_path):
    page = Image.new("L", (800, 500), 255)
    draw = ImageDraw.Draw(page)
    for row in range(12):  # lines of text, as on a screenshot
        draw.text((20, 20 + 30 * row), "Lorem ipsum dolor sit amet, consectetur adipiscing", fill=0)
    with pytest.raises(Exception) as err:
        client.predict("my drawing", "7", 8, "linear", 0, _upload(tmp_path, "page.png", page), None,
                       api_name="/interpolate_digits")
    assert "does not look like a handwritten digit" in str(err.value)


def test_a_doubtful_drawing_is_used_with_a_warning(client, tmp_path):
    paper = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(paper)
    for line in [(80, 40, 80, 240), (200, 40, 200, 240), (80, 140, 200, 140)]:  # an H: no digit, yet strokes
        draw.line(line, fill=0, width=16)
    out = client.predict("my drawing", "7", 8, "linear", 0, _upload(tmp_path, "letter-h.png", paper), None,
                         api_name="/interpolate_digits")
    assert len(out[0]) == 8 and "little like the handwritten digits" in out[5]
    one = Image.new("L", (280, 280), 255)
    one.paste(0, (130, 40, 150, 240))
    out = client.predict("my drawing", "7", 8, "linear", 0, _upload(tmp_path, "one.png", one), None,
                         api_name="/interpolate_digits")
    assert "your drawing" in out[5] and "little like" not in out[5]  # a plain one is taken as it is


def test_a_click_on_the_latent_map_decodes_that_point():
    from ui.kit.plots import _to_pixels
    from ui.tabs.vae_latent import decode_click
    from ui.tabs.vae_tab import VAE
    VAE.load()
    centres = VAE.projection.project(VAE.projection.class_mean)  # (10, 2): each class's centre on the map
    for digit in (0, 1, 7):
        x, y = _to_pixels(centres[digit:digit + 1], VAE.map_box(), 420)[0]
        picture, caption = decode_click(VAE, x, y)
        assert picture.size == (112, 112)
        assert f"reads a {digit} " in caption, caption
        assert read_digit(picture) == digit


def test_png4_bytes_decodes_to_16_gray_levels():
    import io

    import numpy as np
    from PIL import Image

    from ui.kit.images import gray16, png4_bytes

    image = np.random.default_rng(0).integers(0, 256, (7, 13), dtype=np.uint8)  # an odd width: a padded last byte
    data = png4_bytes(image)
    back = Image.open(io.BytesIO(data))
    assert back.size == (13, 7) and data[24] == 4  # IHDR's bit depth
    assert (np.asarray(back.convert("L")) == gray16(image)).all()
    assert np.abs(gray16(image).astype(int) - image).max() <= 8
