"""The Provenance tab through gradio_client on the launched app: the app's own watermarked text is detected and a
human passage is not; a grid downloaded from /sample_digits validates and names our GAN, the same file edited does
not, an unsigned PNG has no manifest; bad inputs are answered with a clear message in the caller's language."""

import json
import os
import struct
import zlib

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from ui.tabs import gan_tab, vae_tab
from generators.provenance import c2pa as provenance
from ui.kit.images import png_bytes
from ui.tabs.provenance_tab import DETECTOR, _edited, example_file

HUMAN = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
         "of a wife. However little known the feelings or views of such a man may be on his first entering a "
         "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
         "the rightful property of some one or other of their daughters.")


@pytest.fixture(scope="module")
def zh(app_url):
    return Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})


def test_the_apps_own_text_is_detected_and_unmarked_text_is_not(client):
    prompt = "The old captain looked out over the harbour and said"
    marked = client.predict(prompt, 128, 3, api_name="/continue_text")[0]
    plain = client.predict(prompt, 128, 3, watermark=False, api_name="/continue_text")[0]
    found, verdict, green, ranks, shares = client.predict(marked, api_name="/detect_text")
    assert found["verdict"] == "watermarked" and found["z_score"] >= 4 and found["p_value"] < 1e-4
    assert isinstance(found["tokens_scored"], int) and found["tokens_scored"] >= 100
    assert verdict.startswith("**Watermarked") and "| Tokens checked |" in verdict
    assert "".join(t["text"] for t in found["tokens"]) == marked  # the pieces rebuild the text
    labels = [t["class_or_confidence"] for t in green]
    assert len(green) == len(ranks) == len(found["tokens"])
    assert labels.count("green") == found["green_tokens"] and labels[0] is None  # the first token is not scored
    assert {t["class_or_confidence"] for t in ranks} <= {None, "top10", "top100", "top1000", "beyond"}
    assert "only a hint" in shares and f"{found['rank_shares']['top10']:.0%}" in shares
    unmarked = client.predict(plain, api_name="/detect_text")[0]
    assert unmarked["verdict"] != "watermarked" and unmarked["z_score"] < 4


def test_the_text_tabs_default_output_is_found(client, zh):
    """What the text tab writes with its defaults, pasted into the provenance tab, reads as watermarked (issue 27;
    the rate over 100 seeds: bench/bench_watermark_default.py), and the text tab's verdict line says so."""
    from generators.text import DEFAULT_NEW_TOKENS
    from ui.tabs.text_tab import DEFAULT_PROMPT

    for seed in (0, 1, 2):
        out = client.predict(DEFAULT_PROMPT, DEFAULT_NEW_TOKENS, seed, api_name="/continue_text")
        found, verdict, *_ = client.predict(out[0], api_name="/detect_text")
        assert found["verdict"] == "watermarked", (seed, found["z_score"])
        assert "watermarked, so the Provenance tab" in out[3]
    assert zh.predict(out[0], api_name="/detect_text")[1].startswith("**有水印")


def test_the_text_examples_are_the_text_tabs_output_and_a_book(client):
    """The text side's example buttons: "written by our text tab" is the text tab's own default output (seed 0) and
    reads as watermarked; "a passage from a book" does not."""
    from generators.text import DEFAULT_NEW_TOKENS
    from ui.tabs import provenance_tab
    from ui.tabs.text_tab import DEFAULT_PROMPT

    ours, book = (provenance_tab.example_text(kind) for kind in provenance_tab.TEXT_EXAMPLES)
    assert provenance_tab.EXAMPLE_PROMPT == DEFAULT_PROMPT
    assert ours == client.predict(DEFAULT_PROMPT, DEFAULT_NEW_TOKENS, 0, api_name="/continue_text")[0]
    assert client.predict(ours, api_name="/detect_text")[0]["verdict"] == "watermarked"
    assert client.predict(book, api_name="/detect_text")[0]["verdict"] == "no_watermark"


def test_human_text_is_not_flagged_and_short_text_is_not_judged(client, zh):
    human, verdict, *_ = client.predict(HUMAN, api_name="/detect_text")
    assert human["tokens_scored"] >= 16 and human["z_score"] < 4
    if human["tokens_scored"] < human["tokens_needed"]:  # shorter than marked text needs: not a "no"
        assert human["verdict"] == "too_short" and f"about {human['tokens_needed']}" in verdict
    else:
        assert human["verdict"] == "no_watermark" and "does not mean a person wrote it" in verdict
    long = " ".join([HUMAN, HUMAN.replace("man", "woman").replace("wife", "husband"), HUMAN.upper()])
    long_human = client.predict(long, api_name="/detect_text")[0]
    assert long_human["verdict"] == "no_watermark" and long_human["tokens_scored"] >= long_human["tokens_needed"]
    short, verdict, *_ = client.predict("Hello there, friend.", api_name="/detect_text")
    assert short["verdict"] == "too_short" and short["tokens_scored"] < 16 and "Too short" in verdict
    assert "太短" in zh.predict("Hello there, friend.", api_name="/detect_text")[1]


@pytest.mark.parametrize("text, says", [("", "Paste some text"), ("   \n", "Paste some text"),
                                        (123, "Paste some text"), ("a" * 10_001, "at most 10000")])
def test_bad_text_is_answered_clearly(client, text, says):
    with pytest.raises(Exception, match=says):
        client.predict(text, api_name="/detect_text")


def test_empty_text_in_chinese(zh):
    with pytest.raises(Exception, match="请粘贴要检查的文本"):
        zh.predict("", api_name="/detect_text")


def verify(client, path):
    return client.predict(handle_file(str(path)), api_name="/verify_image")


def test_a_downloaded_grid_validates_and_an_edited_one_does_not(client, tmp_path):
    gallery, grid_png, _ = client.predict("7", 4, 3, 0.8, api_name="/sample_digits")
    found, report = verify(client, grid_png)
    assert (found["c2pa"], found["generator"], found["digital_source_type"]) == \
        ("valid", gan_tab.GENERATOR, provenance.SOURCE_TYPE)
    assert found["manifest"]["settings"] == {"digit": "7", "count": 4, "seed": 3, "truncation": 0.8}
    assert found["manifest"]["trusted"] is False and "untrusted but intact" in report
    # plain labels in the page: no IPTC URL, no settings JSON (the API's JSON keeps both)
    assert "| How it was made | made by a trained AI model (signed, in the manifest) |" in report
    settings = next(line for line in report.splitlines() if line.startswith("| Settings |"))
    assert all(part in settings for part in ("digit 7", "count 4", "seed 3", "truncation 0.8"))
    assert "http" not in report and "{" not in report
    assert found["digit"] is None and "Not one 28x28-style digit" in report  # a grid, not one digit

    thumb, _ = verify(client, gallery[0]["image"])  # thumbnails carry the labels, unsigned (ui/kit/media.py)
    assert (thumb["c2pa"], thumb["generator"], thumb["claims_from"]) == ("absent", gan_tab.GENERATOR, "metadata")
    assert thumb["digit"]["reads"] == 7 and 0 <= thumb["digit"]["realness"] <= 1

    signed = open(grid_png, "rb").read()
    pixels = np.asarray(Image.open(grid_png)).copy()
    pixels[10, 10] ^= 0xFF  # one pixel changed, the file re-assembled with its manifest and metadata kept
    (tmp_path / "edited.png").write_bytes(_edited(signed, pixels))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "edited.png")), pixels)
    found, report = verify(client, tmp_path / "edited.png")
    assert found["c2pa"] == "invalid" and found["claims_from"] == "metadata" and "invalid" in report


def test_an_unsigned_digit_has_no_manifest_and_gets_scores_beside_the_measured_auc(client, zh, tmp_path):
    digit = (np.asarray(Image.open(example_file("real"))))
    (tmp_path / "plain.png").write_bytes(png_bytes(digit))
    found, report = verify(client, tmp_path / "plain.png")
    assert (found["c2pa"], found["generator"], found["digital_source_type"]) == ("absent", None, None)
    assert found["digit"]["reads"] == 7 and 0 <= found["digit"]["realness"] <= 1
    if DETECTOR.exists():  # bench/bench_detectors.py's figure, shown as measured
        auc = json.loads(DETECTOR.read_text())["auc"]
        assert found["digit"]["discriminator_auc"] == auc and f"ROC AUC {auc:.2f}" in report
    assert "不存在" in verify(zh, tmp_path / "plain.png")[1]


def test_vae_downloads_are_signed_and_its_plot_and_real_digits_are_not(client):
    frames, strip, gif, recon, latent, _ = client.predict("1", "7", 4, "linear", 0, api_name="/interpolate_digits")
    for path in (strip, gif):
        found, _ = verify(client, path)
        assert (found["c2pa"], found["generator"]) == ("valid", vae_tab.GENERATOR)
    assert verify(client, latent)[0]["generator"] is None  # a plot of real digits' codes: not labelled as generated
    start, rebuilt = verify(client, recon[0]["image"])[0], verify(client, recon[1]["image"])[0]
    assert start["generator"] is None and rebuilt["generator"] == vae_tab.GENERATOR


def test_the_examples(tmp_path):
    assert provenance.verify(example_file("real"))["c2pa"] == "absent"
    gan = provenance.verify(example_file("gan"))
    assert (gan["c2pa"], gan["generator"]) == ("valid", gan_tab.GENERATOR)
    edited = provenance.verify(example_file("edited"))
    assert edited["c2pa"] == "invalid" and "assertion.dataHash.mismatch" in edited["manifest"]["failures"]
    assert os.stat(os.path.dirname(example_file("gan"))).st_mode & 0o077 == 0  # a private folder


def png_header(w: int, h: int) -> bytes:
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 9)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name, data, says", [("notes.txt", b"just some text\n", "not an image"),
                                              ("fake.png", b"\x89PNG\r\n\x1a\nnot really", "not an image"),
                                              ("huge.png", png_header(5000, 5000), "too large")])
def test_bad_images_are_answered_clearly(client, zh, tmp_path, name, data, says):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(Exception, match=says):
        verify(client, tmp_path / name)
    with pytest.raises(Exception, match="不是图片" if "not" in says else "太大"):
        verify(zh, tmp_path / name)


def test_no_file_is_answered_clearly(client):
    with pytest.raises(Exception, match="Upload an image file first"):
        client.predict(None, api_name="/verify_image")


def test_a_file_over_the_upload_cap_is_refused_before_it_is_sent(client, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10 * 2**20 + 1))  # 1 byte over app.py's max_file_size of 10 MB
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        verify(client, big)
    assert verify(client, example_file("gan"))[0]["c2pa"] == "valid"  # still serving
