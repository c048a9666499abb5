"""The comparison page and what it reads: the VAE's class prior (with the shipped VAE), the figures files, and
/compare_families through gradio_client, its diffusion model a tiny seeded UNet."""

import json

import pytest
import torch
from gradio_client import Client
from PIL import Image

import ui.tabs.compare_tab as page
from generators.diffusion import DiffusionSampler, DigitDiffusionPipeline, build_scheduler, build_unet
from generators.digits import DigitClassifier
from generators.core.errors import InputError
from generators.gan import ASSETS
from generators.vae_prior import VaeClassPrior, read_figures
from training import fit_vae_prior
from training.distill_diffusion import student_pipeline
from ui.kit import figures


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture(scope="module")
def prior() -> VaeClassPrior:
    return VaeClassPrior(device=torch.device("cpu"))


@pytest.fixture(scope="module")
def classifier() -> DigitClassifier:
    return DigitClassifier.from_pretrained(ASSETS / "classifier").eval()


def test_class_prior_draws_the_asked_digit_far_above_chance(prior, classifier):
    with torch.no_grad():
        read = torch.cat([classifier(prior.sample(digit=d, count=10, seed=0)).argmax(1) for d in range(10)])
    accuracy = (read == torch.arange(10).repeat_interleave(10)).float().mean()
    assert accuracy > 0.5  # chance is 0.1


def test_class_prior_is_seeded_and_checks_its_input(prior):
    a = prior.sample(digit=3, count=5, seed=1)
    assert a.shape == (5, 1, 28, 28) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, prior.sample(digit=3, count=5, seed=1))
    # more digits keep the first ones (to float rounding: a batch of 2 may take other kernels than one of 5)
    torch.testing.assert_close(a[:2], prior.sample(digit=3, count=2, seed=1), atol=1e-5, rtol=0)
    assert not torch.equal(a, prior.sample(digit=3, count=5, seed=2))
    for bad in ({"digit": 10}, {"count": 0}, {"seed": -1}):
        with pytest.raises(InputError):
            prior.sample(**({"digit": 3, "count": 5, "seed": 1} | bad))


@pytest.mark.slow  # a training dry run
def test_fit_dry_run_writes_a_prior_with_its_figures(tmp_path, classifier, mnist_dir):
    out = tmp_path / "prior.safetensors"
    fit_vae_prior.main(["--dry-run", "--out", str(out), "--data", str(mnist_dir)])
    meta = read_figures(out)
    assert meta["eval_samples"] == "200" and 0.5 < float(meta["class_accuracy"]) <= 1  # chance is 0.1
    # at 200 samples a Frechet distance on 128 features is mostly estimation bias (the floor there is ~57), so the
    # dry run checks that both were measured, not their order
    assert float(meta["frechet"]) > 0 and float(meta["frechet_floor"]) > 0
    digits = VaeClassPrior(device=torch.device("cpu"), prior=out).sample(digit=1, count=4, seed=0)
    assert digits.shape == (4, 1, 28, 28)


def test_figures_come_from_the_files_or_are_not_measured(tmp_path):
    def metrics(model, data):
        (tmp_path / "assets" / model).mkdir(parents=True, exist_ok=True)
        (tmp_path / "assets" / model / "metrics.json").write_text(json.dumps(data))

    metrics("gan", {"train_minutes": 3.0, "device": "cpu",
                    "bench": {"conditional_accuracy": 0.985, "frechet": 12.25, "floor": 3.5}})
    metrics("diffusion", {"train_minutes": 9.5,
                          "history": [{"step": 1, "eval_accuracy": 0.5, "eval_frechet": 80.0}, {"step": 2}]})
    got = figures.all_families(tmp_path)
    assert got["gan"] == figures.Figures(0.985, 12.25, 3.5, 3.0, "cpu")
    assert got["vae"] == figures.Figures()  # nothing there: every figure "not measured"
    assert got["diffusion"] == figures.Figures(0.5, 80.0, None, 9.5, None)  # no bench: the last graded checkpoint
    metrics("diffusion", {"train_minutes": 9.5, "history": [{"step": 1, "eval_accuracy": 0.5, "eval_frechet": 80.0}],
                          "bench": {"conditional_accuracy": 0.996, "frechet": 6.5, "floor": 3.76}})
    assert figures.diffusion(tmp_path) == figures.Figures(0.996, 6.5, 3.76, 9.5, None)  # the bench's figures first
    metrics("diffusion", {"train_minutes": 9.5, "bench": {"conditional_accuracy": 0.996, "frechet": 6.5,
                                                          "samples": 2000}})
    assert figures.diffusion(tmp_path).samples == 2000  # the verdict's "over 2,000 bench draws"
    assert got["distilled"] == figures.Figures()
    metrics("diffusion-4step", {"train_minutes": 35.0, "bench": {"conditional_accuracy": 0.9725, "frechet": 12.5,
                                                                 "floor": 3.76}})
    assert figures.distilled(tmp_path) == figures.Figures(0.9725, 12.5, 3.76, 35.0, None)


def test_reference_digits_are_real_test_digits_of_the_class(classifier):
    x = page.reference(6, 12, 0)
    assert x.shape == (12, 1, 28, 28) and torch.equal(x, page.reference(6, 12, 0))
    with torch.no_grad():
        assert (classifier(x).argmax(1) == 6).sum() >= 11


# ---- the launched app ----

@pytest.fixture(scope="module")
def tiny_diffusion(tmp_path_factory):
    """The diffusion tab's sampler (which the page uses) pointed at a tiny seeded pipeline and a tiny distilled
    first step, restored after."""
    path, student = tmp_path_factory.mktemp("tiny-diffusion"), tmp_path_factory.mktemp("tiny-student")
    torch.manual_seed(0)
    DigitDiffusionPipeline(build_unet((4, 8), layers_per_block=1, norm_num_groups=2), build_scheduler()) \
        .save_pretrained(path)
    student_pipeline(build_unet((4, 8), layers_per_block=1, norm_num_groups=2)).save_pretrained(student)
    before = page.DIFFUSION_SAMPLER
    page.DIFFUSION_SAMPLER = DiffusionSampler(path, device=torch.device("cpu"), student=student)
    yield page.DIFFUSION_SAMPLER
    page.DIFFUSION_SAMPLER = before


@pytest.fixture(scope="module")
def app(app_url):
    return Client(app_url, verbose=False, download_files=False)


def test_all_three_families_and_the_reference_row(app, tiny_diffusion, classifier):
    real, gan, vae, diffusion, table, trade = app.predict("7", 4, 0, api_name="/compare_families")
    assert [len(g) for g in (real, gan, vae, diffusion)] == [4, 4, 4, 4]
    assert all(item["caption"].startswith("reads ") for g in (real, gan, vae, diffusion) for item in g)
    images = torch.stack([torch.tensor(list(Image.open(item["image"]["path"]).convert("L").getdata()))
                          .view(1, 28, 28) / 255 for item in real])
    with torch.no_grad():
        assert (classifier(images).argmax(1) == 7).sum() >= 3
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 6  # the header, the real digits, GAN, VAE, diffusion, its distilled 4 steps
    assert "GAN · one pass" in table and "VAE + class prior" in table
    assert "Diffusion · 34 network passes" in table  # 20 steps, the 14 below t = 700 guided
    assert rows[5].startswith("| Diffusion, distilled · 6 network passes |")  # its 4 steps, the two below 0.7 guided
    assert "not measured" not in rows[2] and "/4" in rows[4] and "/4" in rows[5]
    assert "One pass or many steps" in trade and "x the GAN's time" in trade and "distilled fast path" in trade
    # the answer leads with one computed line a family, and the table marks training time with its hardware
    assert trade.startswith("**In one line each**") and trade.index("**Diffusion:**") < trade.index("What does each")
    assert all(f"- **{name}:**" in trade for name in ("GAN", "VAE", "Diffusion"))
    gan = figures.gan()
    assert f"{gan.train_minutes:.1f} min on a GPU" in rows[2] and "not comparable" in table
    assert f"two sets of real digits score {gan.floor:.2f}" in trade
    assert "Cost of this result" in trade and "J" in trade  # the receipt line, under the verdict
    assert "[Link to this result](?tab=compare&digit=7&count=4&seed=0&lang=en)" in trade


def test_same_seed_same_digits(app, tiny_diffusion):
    a, b = (app.predict("2", 3, 5, api_name="/compare_families") for _ in range(2))
    for ga, gb in zip(a[:4], b[:4]):
        assert [Image.open(i["image"]["path"]).tobytes() for i in ga] == \
            [Image.open(i["image"]["path"]).tobytes() for i in gb]


def test_without_diffusion_weights_the_page_says_so(app, tmp_path, monkeypatch):
    monkeypatch.setattr(page, "DIFFUSION_SAMPLER", DiffusionSampler(tmp_path))
    real, gan, vae, diffusion, table, trade = app.predict("1", 2, 0, api_name="/compare_families")
    assert len(gan) == len(vae) == len(real) == 2 and diffusion == []
    assert "Model weights are missing" in table and "x the GAN's time" not in trade
    assert "**GAN:**" in trade and "**Diffusion:**" not in trade  # no verdict for a model that is not here
    assert table.count("Model weights are missing") == 2  # the default and the distilled rows


def test_the_page_in_chinese(app_url, tiny_diffusion):
    zh = Client(app_url, verbose=False, download_files=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    *_, table, trade = zh.predict("4", 2, 0, api_name="/compare_families")
    assert "真实测试数字" in table and "扩散模型" in table and "每类模型各有什么取舍" in trade
    assert "一句话总结" in trade and "**GAN（生成对抗网络）：**" in trade and "分钟（" in table
    assert "***" not in trade  # the bold heading and the italic that follows it stay apart, so both render
    assert "本次结果的成本" in trade
    with pytest.raises(Exception, match="数量（count）必须是 1 到 16 之间的整数"):
        zh.predict("4", 17, 0, api_name="/compare_families")


@pytest.mark.parametrize("args, says", [(("Any", 4, 0), "digit must be one of"), (("7", 0, 0), "count must be"),
                                        (("7", 17, 0), "between 1 and 16"), (("7", 4, -1), "seed must be")])
def test_bad_input_is_answered_clearly(app, args, says):
    with pytest.raises(Exception, match=says):
        app.predict(*args, api_name="/compare_families")
