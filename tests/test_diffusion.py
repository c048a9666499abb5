"""The digit diffusion pipeline and its adapter, on a tiny seeded UNet built here (no trained weights needed)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generators.diffusion import (COUNT, GUIDANCE, SAMPLERS, STEPS, DigitDiffusionPipeline, DiffusionSampler,
                                  build_scheduler, build_unet, unet_passes)
from generators.digits import DigitClassifier
from generators.errors import InputError, ModelUnavailable

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def tiny_pipeline() -> DigitDiffusionPipeline:
    torch.manual_seed(0)
    return DigitDiffusionPipeline(build_unet((4, 8), layers_per_block=1, norm_num_groups=2), build_scheduler())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("diffusion")
    tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def sampler(folder) -> DiffusionSampler:
    return DiffusionSampler(folder, device=torch.device("cpu"))


def request(**changes) -> dict:
    return {"digit": 3, "count": 2, "steps": 3, "guidance": 1.0, "seed": 0, "sampler": "DPM-Solver++"} | changes


def test_folder_is_a_pipeline_repo(folder):
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "DigitDiffusionPipeline"
    assert index["unet"] == ["diffusers", "UNet2DModel"] and index["scheduler"] == ["diffusers", "DDPMScheduler"]
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").exists()


def test_save_load_round_trip_gives_the_same_digits(folder):
    loaded = DigitDiffusionPipeline.from_pretrained(folder)
    for name in ("DPM-Solver++", "DDIM"):
        kw = {"steps": 4, "guidance": 2.0, "sampler": name}
        a = tiny_pipeline()(torch.tensor([1, 7]), generator=torch.Generator().manual_seed(5), **kw)
        b = loaded(torch.tensor([1, 7]), generator=torch.Generator().manual_seed(5), **kw)
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", SAMPLERS)
def test_same_seed_same_digits_and_streamed_final_equals_sample(sampler, name):
    steps = max(3, int(STEPS[name].lo))
    run = list(sampler.stream(**request(sampler=name, steps=steps)))
    assert [s.index for s in run] == list(range(1, steps + 1)) and [s.done for s in run][-2:] == [False, True]
    final = sampler.sample(**request(sampler=name, steps=steps))
    assert torch.equal(run[-1].sample, final.sample) and final.sample.shape == (2, 1, 28, 28)
    assert 0 <= final.sample.min() and final.sample.max() <= 1 and final.labels == [3, 3]
    other = sampler.sample(**request(sampler=name, steps=steps, seed=1))
    assert not torch.equal(final.sample, other.sample)


def test_predicted_clean_digits_come_with_every_step(sampler):
    run = list(sampler.stream(**request(steps=5, sampler="DDIM")))
    assert all(s.predicted.shape == (2, 1, 28, 28) for s in run)
    # the last step lands on the model's clean estimate, so the first noisy sample differs from the final
    assert not torch.equal(run[0].sample, run[-1].sample)


def test_guidance_changes_the_digits_and_zero_skips_the_unconditional_pass(sampler):
    batches = []
    hook = sampler.load().unet.register_forward_hook(lambda m, args, out: batches.append(len(args[0])))
    try:
        plain = sampler.sample(**request(guidance=0.0))
        guided = sampler.sample(**request(guidance=3.0))
    finally:
        hook.remove()
    assert batches == [2] * 3 + [4] * 3  # guidance 0: conditional only; else one batch of cond + uncond
    assert not torch.equal(plain.sample, guided.sample)


def test_any_digit_draws_labels_from_the_seed(sampler):
    a = sampler.sample(**request(digit=None, count=8))
    assert a.labels == sampler.sample(**request(digit=None, count=8)).labels and len(set(a.labels)) > 1
    assert sampler.sample(**request(digit=None, count=3)).labels == a.labels[:3]  # more digits keep the first ones


def test_closing_the_stream_stops_the_unet(sampler):
    calls = []
    hook = sampler.load().unet.register_forward_hook(lambda *_: calls.append(1))
    try:
        stream = sampler.stream(**request(steps=10))
        next(stream), next(stream)
        stream.close()
        assert len(calls) == 2
    finally:
        hook.remove()


@pytest.mark.parametrize("bad, key", [
    ({"steps": 0}, "int_range"), ({"steps": 101}, "int_range"), ({"sampler": "DDPM", "steps": 20}, "int_range"),
    ({"guidance": -0.5}, "float_range"), ({"guidance": float("nan")}, "float_range"), ({"count": 0}, "int_range"),
    ({"count": 65}, "int_range"), ({"digit": 10}, "int_range"), ({"seed": -1}, "int_range"),
    ({"sampler": "Euler"}, "choice"), ({"steps": 2.5}, "int_range"), ({"interval": 0.0}, "float_range"),
    ({"interval": 1.5}, "float_range")])
def test_bad_input_raises_input_error(sampler, bad, key):
    with pytest.raises(InputError) as e:
        next(sampler.stream(**request(**bad)))
    assert e.value.key == key


def test_guidance_interval_guides_only_the_steps_below_it(sampler):
    """interval 1 is classic guidance at every step; an interval below every timestep of the run guides none of
    them (the unguided digits); in between, neither. unet_passes counts the UNet rows a digit costs."""
    pipe, seen = sampler.load(), []
    hook = pipe.unet.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    try:
        run = {name: sampler.sample(**request(steps=3, guidance=2.0, interval=interval)).sample
               for name, interval in (("classic", 1.0), ("none", 0.05), ("some", 0.5))}
    finally:
        hook.remove()
    assert torch.equal(run["classic"], sampler.sample(**request(steps=3, guidance=2.0)).sample)
    assert torch.equal(run["none"], sampler.sample(**request(steps=3, guidance=0.0)).sample)
    assert not torch.equal(run["some"], run["classic"]) and not torch.equal(run["some"], run["none"])
    rows = [sum(seen[i:i + 3]) // 2 for i in (0, 3, 6)]  # 2 digits a run: rows per digit over its 3 steps
    config = pipe.scheduler.config
    assert rows == [unet_passes(config, steps=3, sampler="DPM-Solver++", guidance=2.0, interval=i)
                    for i in (1.0, 0.05, 0.5)] == [6, 3, 4]  # trailing timesteps 999, 666, 332
    assert unet_passes(config, steps=20, sampler="DPM-Solver++", guidance=0.0, interval=0.7) == 20


def test_limits_read_by_the_ui():
    assert (COUNT.lo, COUNT.hi) == (1, 64) and (GUIDANCE.lo, GUIDANCE.hi, GUIDANCE.whole) == (0, 10, False)
    assert set(STEPS) == set(SAMPLERS) and STEPS["DDPM"].hi == 1000


def test_missing_weights_raise_model_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable) as e:
        DiffusionSampler(tmp_path).load()
    assert e.value.key == "weights_missing"


def test_stored_pixels_of_the_tiny_model(sampler):
    """A few output values of the tiny model at a fixed seed (from one run): a change in the sampling maths, the
    guidance convention or the seeding shows up here. DDPM, because the ODE samplers clip the untrained model's
    x_0 to 0 or 1 everywhere, where a change would not show."""
    x = sampler.sample(**request(steps=50, guidance=2.0, seed=7, sampler="DDPM")).sample
    got = torch.cat([x[0, 0, 14, 8:12], x[1, 0, 5, 8:12]])
    expected = torch.tensor([0.4871, 0.9809, 0.8512, 1.0, 0.893, 0.0, 0.0045, 0.3632])
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_guided_ddim_with_the_bundled_model_draws_the_asked_digits(guidance):
    """DDIM re-derives eps from the clipped x_0 (use_clipped_model_output). Without it a guided run drifts with the
    steps: at 20 steps this batch read 14 of 20 as asked at guidance 1 and 1 of 20 at guidance 3."""
    labels = torch.arange(20) % 10
    pipe = DiffusionSampler(device=torch.device("cpu")).load()
    x = pipe(labels, steps=20, guidance=guidance, generator=torch.Generator().manual_seed(0), sampler="DDIM")
    classifier = DigitClassifier.from_pretrained(ROOT / "assets" / "classifier").eval()
    with torch.no_grad():
        assert (classifier(x).argmax(1) == labels).sum().item() >= 19


@pytest.mark.skipif(not MNIST.exists(), reason="../shared/data/mnist is not beside the checkout")
def test_training_dry_run_exports_a_loadable_pipeline(tmp_path):
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "training.train_diffusion", "--dry-run", "--batch-size", "8",
                    "--out", str(out), "--run-dir", str(tmp_path / "run")],
                   check=True, cwd=ROOT, timeout=300, capture_output=True)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 3 and (tmp_path / "run" / "last.pt").exists()
    step = DiffusionSampler(out, device=torch.device("cpu")).sample(**request())
    assert step.done and step.sample.shape == (2, 1, 28, 28)


@pytest.mark.skipif(not MNIST.exists(), reason="../shared/data/mnist is not beside the checkout")
def test_a_resumed_run_keeps_the_earlier_runs_recipe_and_checkpoints(tmp_path):
    """--resume with --cosine (a final phase at a falling learning rate): the summary keeps the first run's recipe
    and graded checkpoints ahead of its own, and the step count goes on."""
    def dry_run(*flags):
        subprocess.run([sys.executable, "-m", "training.train_diffusion", "--dry-run", "--batch-size", "8",
                        "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"), *flags],
                       check=True, cwd=ROOT, timeout=300, capture_output=True)
        return json.loads((tmp_path / "out" / "metrics.json").read_text())

    first = dry_run("--lr", "0.002")
    second = dry_run("--resume", "--cosine", "--lr", "0.001", "--seed", "1")
    assert second["steps"] == first["steps"] + 3 == 6 and second["cosine"] and second["lr"] == 0.001
    assert second["earlier_runs"] == [{k: first[k] for k in first if k in second["earlier_runs"][0]}]
    assert second["earlier_runs"][0]["lr"] == 0.002 and not second["earlier_runs"][0]["cosine"]
    assert [h["step"] for h in second["history"]] == [3, 6]
