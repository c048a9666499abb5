"""The comparison page's plain verdict: computed from this request's times and readings and the bench figures,
never written in; and training time marked with its hardware."""

import re

import pytest

from ui.kit.figures import Figures
from ui.tabs import compare_plain as plain
from ui.tabs.compare_plain import Drawn

FIG = {"gan": Figures(0.9985, 7.81, 5.03, 7.1, "cuda", samples=2000),
       "vae": Figures(0.93, 23.9, 5.03, 1.8, "cuda", 0.06, "cpu", samples=2000),
       "diffusion": Figures(0.9965, 8.13, 5.03, 145.1, "cpu", samples=2000)}


def drawn(diffusion_ms=125.0, diffusion_read=8, vae_crisp=0.1) -> dict[str, Drawn]:
    return {"gan": Drawn(0.5, 8, 8, 0.5), "vae": Drawn(0.4, 8, 8, vae_crisp),
            "diffusion": Drawn(diffusion_ms, diffusion_read, 8, 0.52)}


def lines(text: str) -> dict[str, str]:
    return {k: next(line for line in text.splitlines() if line.startswith(f"- **{w}")) for k, w in
            (("gan", "GAN"), ("vae", "VAE"), ("diffusion", "Diffusion"))}


def test_the_slowdown_is_computed_from_this_request():
    assert "~250× slower than the GAN here" in lines(plain.verdict(drawn(125.0), FIG, 0.44, 7, "en"))["diffusion"]
    assert "~6× slower than the GAN here" in lines(plain.verdict(drawn(3.0), FIG, 0.44, 7, "en"))["diffusion"]
    assert plain.ratio(1011, 1) == "1000" and plain.ratio(3.44, 1) == "3.4"
    got = lines(plain.verdict(drawn(), FIG, 0.44, 7, "en"))
    assert "instant" in got["gan"] and "instant" in got["vae"]  # 8 digits in 4 ms
    slow = drawn() | {"gan": Drawn(50.0, 8, 8, 0.5), "vae": Drawn(60.0, 8, 8, 0.1)}
    assert "instant" not in plain.verdict(slow, FIG, 0.44, 7, "en") and "60.0 ms a digit here" in \
        lines(plain.verdict(slow, FIG, 0.44, 7, "en"))["vae"]


def test_closest_to_real_handwriting_goes_to_the_lowest_bench_figure():
    got = lines(plain.verdict(drawn(), FIG, 0.44, 7, "en"))
    assert "closest to real handwriting (likeness 7.81)" in got["gan"] and "closest" not in got["diffusion"]
    better = FIG | {"diffusion": Figures(0.9965, 6.0, 5.03, 145.1, "cpu", samples=2000)}
    got = lines(plain.verdict(drawn(), better, 0.44, 7, "en"))
    assert "closest to real handwriting (likeness 6.00)" in got["diffusion"] and "closest" not in got["gan"]
    assert "two sets of real digits score 5.03" in plain.verdict(drawn(), FIG, 0.44, 7, "en")


def test_sharp_or_blurry_against_the_real_digits():
    got = lines(plain.verdict(drawn(vae_crisp=0.1), FIG, 0.44, 7, "en"))
    assert "blurry" in got["vae"] and "sharp" in got["gan"] and "sharp" in got["diffusion"]
    assert "sharp" in lines(plain.verdict(drawn(vae_crisp=0.44), FIG, 0.44, 7, "en"))["vae"]


def test_a_draw_worse_than_the_bench_says_both():
    got = lines(plain.verdict(drawn(diffusion_read=6), FIG, 0.44, 7, "en"))["diffusion"]
    assert got.endswith("This draw: 6 of 8 read as 7; over 2,000 bench draws: 99.65%.")
    assert "This draw" not in plain.verdict(drawn(diffusion_read=8), FIG, 0.44, 7, "en")
    zh = lines(plain.verdict(drawn(diffusion_read=6), FIG, 0.44, 7, "zh").replace("扩散模型", "Diffusion").replace("GAN（生成对抗网络）", "GAN").replace("VAE（变分自编码器）", "VAE"))
    assert "本次：8 个中有 6 个被认作 7；基准的 2,000 次抽样中：99.65%" in zh["diffusion"]


def test_a_missing_family_gets_no_line():
    got = plain.verdict({k: v for k, v in drawn().items() if k != "diffusion"}, FIG, 0.44, 7, "en")
    assert "**GAN:**" in got and "Diffusion" not in got


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_training_time_names_its_hardware(lang):
    gan, diffusion = plain.training(FIG["gan"], lang), plain.training(FIG["diffusion"], lang)
    if lang == "en":
        assert gan == "7.1 min on a GPU" and diffusion == "145.1 min on a CPU"
        assert plain.training(FIG["vae"], lang) == "1.8 min on a GPU + 0.1 min to fit the prior on a CPU"
    else:
        assert gan == "7.1 分钟（显卡 GPU）" and diffusion == "145.1 分钟（处理器 CPU）"
    assert plain.hardware_note(FIG, lang)  # GPU and CPU minutes side by side: the note says they differ
    assert plain.hardware_note({"gan": FIG["gan"], "vae": FIG["vae"]}, lang) == ""


def test_the_chinese_verdict_has_no_english_words():
    text = plain.verdict(drawn(diffusion_read=6), FIG, 0.44, 7, "zh")
    assert set(re.findall(r"[A-Za-z]{3,}", text)) <= {"GAN", "VAE"}
