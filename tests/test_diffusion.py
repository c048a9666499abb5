"""The digit diffusion pipeline and its adapter, on a tiny seeded UNet built here (no trained weights needed)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from generators.diffusion import (COUNT, DISTILLED, GUIDANCE, SAMPLER_GUIDANCE, SAMPLERS, STEPS, DigitDiffusionPipeline,
                                  DiffusionSampler, build_scheduler, build_unet, unet_passes)
from generators.digits import DigitClassifier
from generators.core.errors import InputError, ModelUnavailable

ROOT = Path(__file__).resolve().parents[1]


def tiny_pipeline(seed: int = 0) -> DigitDiffusionPipeline:
    torch.manual_seed(seed)
    return DigitDiffusionPipeline(build_unet((4, 8), layers_per_block=1, norm_num_groups=2), build_scheduler())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A tiny teacher in diffusion/ and a tiny "student" (other weights) beside it in diffusion-4step/."""
    path = tmp_path_factory.mktemp("models") / "diffusion"
    tiny_pipeline().save_pretrained(path)
    tiny_pipeline(seed=1).save_pretrained(path.with_name("diffusion-4step"))
    return path


@pytest.fixture(scope="module")
def sampler(folder) -> DiffusionSampler:
    return DiffusionSampler(folder, device=torch.device("cpu"))


def request(**changes) -> dict:
    base = {"digit": 3, "count": 2, "steps": 3, "guidance": 1.0, "seed": 0, "sampler": "DPM-Solver++"}
    if changes.get("sampler") == DISTILLED:  # its 4 steps, unguided
        base |= {"steps": 4, "guidance": 0.0}
    return base | changes


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
    if name == DISTILLED:
        steps = 4
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
    ({"interval": 1.5}, "float_range"), ({"sampler": DISTILLED, "steps": 3}, "int_range"),
    ({"sampler": DISTILLED, "steps": 20}, "int_range"), ({"sampler": DISTILLED, "guidance": 11.0}, "float_range")])
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


def test_distilled_is_ddim_with_the_students_first_step(sampler, folder):
    """"Distilled" is DDIM at 4 steps, guidance 0: the student (diffusion-4step/ beside the teacher) takes the first
    step from x_T at t = 999, the teacher's UNet the other three; one pass a step."""
    teacher, student, seen = sampler.load(), sampler.load_student(), []
    assert student is not teacher and student.unet.device.type == "cpu"
    hooks = [net.unet.register_forward_pre_hook(lambda module, args, who=who: seen.append((who, int(args[1][0]),
                                                                                             len(args[0]))))
             for who, net in (("student", student), ("teacher", teacher))]
    try:
        got = sampler.sample(**request(sampler=DISTILLED)).sample
    finally:
        [h.remove() for h in hooks]
    assert seen == [("student", 999, 2), ("teacher", 749, 2), ("teacher", 499, 2), ("teacher", 249, 2)]
    labels, noise = sampler.draw(digit=3, count=2, seed=0)
    first = DigitDiffusionPipeline.from_pretrained(folder.with_name("diffusion-4step")).unet
    teacher = DigitDiffusionPipeline.from_pretrained(folder)
    expected = teacher(labels, steps=4, guidance=0.0, generator=torch.Generator(), sampler="DDIM", noise=noise,
                       first_step=first)
    torch.testing.assert_close(got, expected)
    plain = sampler.sample(**request(sampler="DDIM", steps=4, guidance=0.0)).sample
    assert not torch.equal(got, plain)
    with pytest.raises(ValueError, match="DDIM"):
        next(teacher.denoise(labels, steps=4, guidance=0.0, generator=torch.Generator(), first_step=first))


def test_distilled_guidance_guides_the_models_steps_below_the_interval(sampler):
    """Guidance on "Distilled" never reaches the student's step: the model's steps below the interval run both
    branches (the sampler's own interval is 0.7: t = 499 and 249), the student's first step stays the same."""
    teacher, student, seen = sampler.load(), sampler.load_student(), []
    hooks = [net.unet.register_forward_pre_hook(lambda module, args, who=who: seen.append((who, int(args[1][0]),
                                                                                             len(args[0]))))
             for who, net in (("student", student), ("teacher", teacher))]
    try:
        guided = list(sampler.stream(**request(sampler=DISTILLED, guidance=2.0, interval=0.7)))
        every = list(sampler.stream(**request(sampler=DISTILLED, guidance=2.0, interval=1.0)))
    finally:
        [h.remove() for h in hooks]
    assert seen == [("student", 999, 2), ("teacher", 749, 2), ("teacher", 499, 4), ("teacher", 249, 4),
                    ("student", 999, 2), ("teacher", 749, 4), ("teacher", 499, 4), ("teacher", 249, 4)]
    plain = list(sampler.stream(**request(sampler=DISTILLED)))
    assert torch.equal(guided[0].sample, plain[0].sample) and torch.equal(every[0].sample, plain[0].sample)
    assert not torch.equal(guided[-1].sample, plain[-1].sample)
    assert SAMPLER_GUIDANCE[DISTILLED] == (2.0, 0.7)  # the tab guides those two steps by default


def test_a_missing_student_is_the_keyed_error_naming_its_script(tmp_path):
    tiny_pipeline().save_pretrained(tmp_path / "diffusion")
    alone = DiffusionSampler(tmp_path / "diffusion", device=torch.device("cpu"))
    assert alone.sample(**request()).done  # the teacher's samplers still work
    with pytest.raises(ModelUnavailable) as e:
        next(alone.stream(**request(sampler=DISTILLED)))
    assert e.value.key == "weights_missing" and e.value.fields["script"] == "training.distill_diffusion"


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


@pytest.mark.slow  # a training dry run
def test_training_dry_run_exports_a_loadable_pipeline(tmp_path, mnist_dir):
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "training.train_diffusion", "--dry-run", "--batch-size", "8",
                    "--out", str(out), "--run-dir", str(tmp_path / "run")],
                   check=True, cwd=ROOT, timeout=300, capture_output=True)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 3 and (tmp_path / "run" / "last.pt").exists()
    step = DiffusionSampler(out, device=torch.device("cpu")).sample(**request())
    assert step.done and step.sample.shape == (2, 1, 28, 28)


@pytest.mark.slow  # two training dry runs
def test_a_resumed_run_keeps_the_earlier_runs_recipe_and_checkpoints(tmp_path, mnist_dir):
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


@pytest.mark.slow  # training dry runs
def test_init_starts_a_new_run_from_an_exported_unet(tmp_path, mnist_dir):
    """--init: the model and its EMA start from an exported pipeline's UNet (3 warm-up steps barely move it), and
    the summary names where the run started."""
    start = DigitDiffusionPipeline(build_unet((4, 8), 1, 4), build_scheduler())
    start.save_pretrained(tmp_path / "start")

    def exported(*flags):
        out = tmp_path / f"out{len(flags)}"
        subprocess.run([sys.executable, "-m", "training.train_diffusion", "--dry-run", "--batch-size", "8",
                        "--out", str(out), "--run-dir", str(out / "run"), "--seed", "5", *flags],
                       check=True, cwd=ROOT, timeout=300, capture_output=True)
        unet = DigitDiffusionPipeline.from_pretrained(out).unet
        return unet, json.loads((out / "metrics.json").read_text())

    def gap(unet):
        return max((a - b).abs().max().item() for a, b in zip(unet.parameters(), start.unet.parameters()))

    (warm, summary), (fresh, plain) = exported("--init", str(tmp_path / "start")), exported()
    assert gap(warm) < 1e-2 < gap(fresh)
    assert summary["init"] == str(tmp_path / "start") and plain["init"] is None


def test_the_first_step_is_ddims_step_from_a_clean_estimate():
    """ddim_from_x0, which the sampler and the distillation's loss take, is DDIMScheduler's step for a model that
    predicts x_0 (prediction_type "sample", the student's config), x_0 clipped."""
    from diffusers import DDIMScheduler

    from generators.diffusion import ddim_from_x0
    from training.distill_diffusion import student_timesteps

    config = build_scheduler().config
    ddim = DDIMScheduler.from_config(config, prediction_type="sample")
    ddim.set_timesteps(4)
    stops, a = student_timesteps(config), ddim.alphas_cumprod
    assert stops == [int(t) for t in ddim.timesteps] == [999, 749, 499, 249]
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for t, nxt in zip(stops, stops[1:] + [None]):
        x0 = torch.randn(x.shape, generator=torch.Generator().manual_seed(t)) * 1.5
        ours = ddim_from_x0(x, x0.clamp(-1, 1), a[t], a[nxt] if nxt is not None else torch.tensor(1.0))
        theirs = ddim.step(x0, t, x, use_clipped_model_output=True).prev_sample
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
        x = theirs


def test_teacher_points_are_where_the_teachers_run_is():
    """The student's targets: the tab's DPM-Solver++ run from the same x_T, stopped before its step at t = 749."""
    from training.distill_diffusion import teacher_points

    pipe, labels = tiny_pipeline(), torch.tensor([2, 7])
    noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    point = teacher_points(pipe, labels, noise, steps=20, guidance=2.0, interval=0.7, until=749)
    run = list(pipe.denoise(labels, steps=20, guidance=2.0, interval=0.7, generator=torch.Generator(), noise=noise))
    torch.testing.assert_close(point.clamp(-1, 1).add(1).div(2), run[4].sample)  # after steps at 999, 949, ..., 799
    with pytest.raises(ValueError, match="do not pass through"):
        teacher_points(pipe, labels, noise, steps=7, guidance=0.0, interval=1.0, until=749)


@pytest.mark.slow  # distillation dry runs
def test_distillation_dry_run_exports_a_student_and_resumes(tmp_path):
    def dry_run(*flags):
        subprocess.run([sys.executable, "-m", "training.distill_diffusion", "--dry-run", "--batch-size", "8",
                        "--out", str(tmp_path / "diffusion-4step"), "--run-dir", str(tmp_path / "run"), *flags],
                       check=True, cwd=ROOT, timeout=300, capture_output=True)
        return json.loads((tmp_path / "diffusion-4step" / "metrics.json").read_text())

    first = dry_run()
    assert first["steps"] == 3 and first["student_steps"] == 4 and (tmp_path / "run" / "teacher.pt").exists()
    config = json.loads((tmp_path / "diffusion-4step" / "scheduler" / "scheduler_config.json").read_text())
    assert config["prediction_type"] == "sample"  # the student predicts x_0
    resumed = dry_run("--resume", "--cosine")
    assert resumed["steps"] == 6 and resumed["cosine"] and not first["cosine"]
    tiny_pipeline().save_pretrained(tmp_path / "diffusion")
    step = DiffusionSampler(tmp_path / "diffusion", device=torch.device("cpu")).sample(**request(sampler=DISTILLED))
    assert step.done and step.sample.shape == (2, 1, 28, 28)


@pytest.mark.slow  # the GPU script's whole flow at toy sizes
@pytest.mark.skipif(not shutil.which("bash") or not shutil.which("tar"), reason="needs bash and tar")
def test_the_gpu_script_runs_its_whole_flow_on_the_cpu(tmp_path, mnist_dir):
    """training/gpu_diffusion.sh at toy sizes on the CPU: both teachers, a student each, the headline and table logs,
    and what it packs for $OUT (the script is what a lent GPU runs; a mistake found there costs device time)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)  # the script calls python3: this test's interpreter
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "D": "cpu", "M1": "0.02", "M2": "0.02",
           "PAIRS": "32", "B1": "16", "B2": "16", "N": "20", "EV": "0", "DATA": str(mnist_dir), "WHEELS": "none",
           "OUT": str(tmp_path / "out"), "W": str(tmp_path / "w"),
           "TABLE": "--table-samples 20 --steps 1 --guidance 0 --samplers DDIM"}
    run = subprocess.run(["bash", "training/gpu_diffusion.sh"], cwd=ROOT, env=env, timeout=600, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    stages = (tmp_path / "out" / "stages.txt").read_text()
    assert [line.split("] ")[1] for line in stages.splitlines()] == ["start", "teachers done", "students done",
                                                                    "figures done"]
    for model in ("small", "big"):
        with tarfile.open(tmp_path / "out" / f"{model}.tar") as tar:
            names = set(tar.getnames())
            assert {f"{model}/model_index.json", f"{model}-4step/model_index.json", f"{model}-4step/metrics.json"} <= names
            assert not any(name.endswith(".pt") for name in names)  # checkpoints stay behind: $OUT is 64 MB
            headline = tar.extractfile(f"{model}-headline.log").read().decode()
            table = tar.extractfile(f"{model}-table.log").read().decode()
        assert headline.count("diffusion Distilled 4 steps") == 3 and "real-vs-real floor" in headline
        assert re.search(r"^DDIM\s+1\s+0\.0\s", table, re.M)
    big = json.loads((tmp_path / "w" / "big" / "metrics.json").read_text())
    assert big["channels"] == [32, 64, 64] and big["init"] is None
    assert json.loads((tmp_path / "w" / "small" / "metrics.json").read_text())["init"] == "assets/diffusion"


def test_the_ema_update_moves_each_weight_by_one_minus_decay():
    """ema_update (one multi-tensor lerp) is ema + (1 - decay)(model - ema) for every parameter, bit for bit."""
    from training.train_diffusion import ema_update

    torch.manual_seed(0)
    model, ema = build_unet((4, 8), 1, 4), build_unet((4, 8), 1, 4)
    before = [p.detach().clone() for p in ema.parameters()]
    with torch.no_grad():
        ema_update(ema, model, 0.9)
    for e, b, m in zip(ema.parameters(), before, model.parameters()):
        assert torch.equal(e, b.lerp(m, 0.1))
    assert sum(not torch.equal(e, b) for e, b in zip(ema.parameters(), before)) > len(before) // 2  # norms' start alike
