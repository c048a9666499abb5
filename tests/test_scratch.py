"""Train from scratch (issue 31): the training streams on tiny seeded nets (finite losses, the same seed the same
samples, Stop after the current step keeps the weights), the weights file round trip and its checks, two sessions
apart; then /train_from_scratch and /sample_scratch_model through gradio_client on the launched app."""

import json
import math
import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from gradio_client import handle_file
from safetensors.torch import load, save

import ui.tabs.scratch_tab as tab
from generators.core.errors import InputError
from generators.scratch import trainer, weights
from generators.scratch.trainer import FAMILIES, ScratchTrainer, in_background

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread
TINY = {"GAN": dict(hidden=16, z_dim=8, batch_size=16), "VAE": dict(hidden=16, latent_dim=4, batch_size=16),
        "diffusion": dict(hidden=32, layers=1, sample_steps=3, batch_size=16)}
KEYS = {"step", "seconds", "losses", "classifier_read", "class_accuracy"}


def tiny_recipe(family: str, failure: bool = False):
    _, default, broken = FAMILIES[family]
    return replace(broken if failure else default, **TINY[family])


class TinyTrainer(ScratchTrainer):
    """The trainer on tiny nets with a step cap, so that a stream is short and exactly reproducible."""

    def __init__(self, steps: int = 4):
        super().__init__(device=torch.device("cpu"))
        self.steps = steps

    def stream(self, *, family, failure=False, **kw):
        kw.setdefault("max_steps", self.steps)
        return super().stream(family=family, failure=failure, recipe=tiny_recipe(family, failure), every=0, **kw)


@pytest.fixture
def tiny_tab(monkeypatch):
    trainer = TinyTrainer()
    monkeypatch.setattr(tab, "TRAINER", trainer)
    return trainer


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_few_steps_stream_finite_losses_and_readings(family):
    updates = list(TinyTrainer(steps=3).stream(family=family, seconds=60, seed=0))
    assert [u.step for u in updates] == [0, 1, 2, 3, 3] and updates[-1].done and not updates[-1].stopped
    for u in updates[1:]:
        record = json.loads(json.dumps(u.record()))
        assert record.keys() >= KEYS and record["losses"] and all(math.isfinite(v) for v in record["losses"].values())
        assert 0 <= record["classifier_read"] <= 1 and u.images.shape == (100, 1, 28, 28)
        assert (record["class_accuracy"] is None) == (family == "VAE")
    assert set(updates[-1].losses) == {"GAN": {"D", "G"}, "VAE": {"reconstruction", "KL"},
                                       "diffusion": {"denoising"}}[family]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_same_seed_gives_the_same_samples_and_another_seed_others(family):
    first = [[u.images for u in TinyTrainer(steps=2).stream(family=family, seconds=60, seed=s)] for s in (3, 3, 4)]
    assert all(torch.equal(a, b) for a, b in zip(first[0], first[1]))
    assert not torch.equal(first[0][0], first[2][0]) and not torch.equal(first[0][-1], first[2][-1])
    assert not torch.equal(first[0][0], first[0][-1])  # the grid is the same noise, drawn by a changing model


def test_stop_ends_after_the_current_step_and_keeps_the_weights(tmp_path):
    stop = threading.Event()
    stream = TinyTrainer(steps=1000).stream(family="GAN", seconds=60, seed=0, stop=stop)
    for u in stream:
        if u.step == 3:
            stop.set()  # pressed while step 3 is on screen
            break
    last = next(stream)
    assert next(stream, None) is None and last.done and last.stopped and last.step == 3
    path = weights.save_run(last.run, tmp_path / "gan.safetensors", steps=last.step)
    again = weights.load_run(path)
    assert torch.equal(again.samples()[0], last.images) and again.config["steps"] == 3


def test_stop_reaches_a_training_on_its_own_thread():
    stop = threading.Event()
    stream = TinyTrainer(steps=10**6).stream(family="VAE", seconds=60, seed=0, stop=stop)
    seen = []
    for u in in_background(stream, stop):
        seen.append(u)
        if len(seen) == 3:
            stop.set()
    assert seen[-1].done and seen[-1].stopped and seen[-1].step < 10**6


def test_a_training_thread_yields_the_cpu_to_requests_and_the_app_keeps_its_priority():
    seen = []

    class Watched(TinyTrainer):
        def _update(self, *args):
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super()._update(*args)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    list(in_background(Watched(steps=1).stream(family="GAN", seconds=60, seed=0), threading.Event()))
    assert seen and all(nice == min(19, mine + trainer.NICE) for nice in seen)  # Linux: per thread
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("failure", [False, True])
def test_a_downloaded_file_loads_back_and_samples_the_same_digits(family, failure):
    *_, last = TinyTrainer(steps=2).stream(family=family, seconds=60, seed=5, failure=failure)
    again = weights.load_run(weights.save_run(last.run, steps=2))
    assert again.family == family and again.recipe == last.run.recipe
    for seed in (5, 6):
        assert torch.equal(again.samples(seed)[0], last.run.samples(seed)[0])


def tampered(blob: bytes, change) -> bytes:
    """The file with its tensors changed by `change(dict)`, its metadata kept."""
    header = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")])
    tensors = load(blob)
    change(tensors)
    return save(tensors, metadata=header["__metadata__"])


def test_foreign_or_corrupt_files_are_refused(tmp_path):
    *_, last = TinyTrainer(steps=1).stream(family="GAN", seconds=60, seed=0)
    good = weights.save_run(last.run)
    config = json.loads(json.loads(good[8:8 + int.from_bytes(good[:8], "little")])["__metadata__"]["config"])
    huge = {**config, "recipe": {**config["recipe"], "hidden": 10**6}}
    first = next(iter(load(good)))
    cases = {
        "not safetensors": (b"PK\x03\x04 a zip file" * 10, "scratch_file_invalid"),
        "cut short": (good[:len(good) // 2], "scratch_file_invalid"),
        "huge header size": (b"\xff" * 8 + good[8:], "scratch_file_invalid"),
        "no config": (save({"x": torch.zeros(2)}), "scratch_file_invalid"),
        "another format": (save({"x": torch.zeros(2)}, metadata={"format": "playground-lora/1", "config": "{}"}),
                           "scratch_file_invalid"),
        "a huge net": (save(load(good), metadata={"format": weights.FORMAT, "config": json.dumps(huge)}),
                       "scratch_file_mismatch"),
        "a wrong shape": (tampered(good, lambda t: t.update({first: torch.zeros(3, 3)})), "scratch_file_mismatch"),
        "a wrong dtype": (tampered(good, lambda t: t.update({first: t[first].double()})), "scratch_file_mismatch"),
        "a missing tensor": (tampered(good, lambda t: t.pop(first)), "scratch_file_mismatch"),
        "a NaN": (tampered(good, lambda t: t[first].view(-1)[0].fill_(math.nan)), "scratch_file_invalid"),
    }
    for name, (blob, key) in cases.items():
        with pytest.raises(InputError) as e:
            weights.load_run(blob)
        assert e.value.key == key, name
    with pytest.raises(InputError, match="scratch_file_too_large"):
        weights.load_run(b"\0" * (weights.MAX_FILE_BYTES + 1))
    with pytest.raises(InputError, match="scratch_file_invalid"):
        weights.load_run(str(tmp_path / "missing.safetensors"))


def train(session, family="GAN", seed=0, failure=False):
    """The tab's handler for one session (the tiny trainer: a few steps, exactly reproducible)."""
    return tab.train_from_scratch(family, 60, seed, failure, session)


def test_two_sessions_do_not_mix(tiny_tab):
    one, two = tab.Session(), tab.Session()
    for a, b in zip(train(one, "GAN", 0), train(two, "GAN", 1)):  # interleaved, as two users' requests would be
        pass
    *_, solo = train(tab.Session(), "GAN", 0)
    files = [load(Path(item[4]).read_bytes()) for item in (a, b, solo)]
    assert Path(a[4]).parent != Path(b[4]).parent and one.run is not two.run
    assert not all(torch.equal(files[0][k], files[1][k]) for k in files[0])
    assert all(torch.equal(files[0][k], files[2][k]) for k in files[0])  # the other session changed nothing here
    assert tab.sample_scratch_model(None, 0, one)[1] != tab.sample_scratch_model(None, 0, two)[1] or \
        not torch.equal(one.run.samples(0)[0], two.run.samples(0)[0])
    one.close()
    assert not Path(a[4]).exists() and Path(b[4]).exists()  # a session's end removes its file only


def test_the_handler_streams_then_adds_the_file_and_stop_keeps_it(tiny_tab):
    tiny_tab.steps = 10**6
    session = tab.Session()
    updates = train(session, "diffusion")
    shown = [next(updates) for _ in range(3)]
    session.stop.set()
    *_, last = updates
    assert all(u[4] is None for u in shown) and last[1]["stopped"] is True and last[1]["done"] is True
    assert last[2].startswith("Stopped after") and last[4].endswith("scratch-diffusion.safetensors")
    again = weights.load_run(last[4])
    assert torch.equal(again.samples(0)[0], session.run.samples(0)[0])
    assert tab.sample_scratch_model(last[4], 0, tab.Session())[1].startswith("A diffusion trained for")


def test_failure_adds_its_explanation(tiny_tab):
    *_, last = train(tab.Session(), "VAE", failure=True)
    assert "KL term weighs 25 times" in last[2] and last[1]["done"] is True
    assert "Cost of this result" in last[2] and last[1]["receipt"]["cpu_s"] > 0  # the training's receipt


# The launched app ---------------------------------------------------------------------------------------------

def test_train_from_scratch_streams_updates_then_the_weights(client, tmp_path):
    job = client.submit("VAE", 1, 0, False, api_name="/train_from_scratch")
    updates = list(job)
    image, record, status, plot, path = job.outputs()[-1]
    assert record.keys() >= KEYS and record["done"] is True and path.endswith(".safetensors")
    assert all(u[4] is None for u in updates[:-1]) and Path(image).exists()
    again, text = client.predict(handle_file(path), 0, api_name="/sample_scratch_model")
    assert Path(again).exists() and text.startswith("A VAE trained for")
    (tmp_path / "x.safetensors").write_bytes(save({"x": torch.zeros(2)}))
    with pytest.raises(Exception, match="not a model trained in this playground"):
        client.predict(handle_file(str(tmp_path / "x.safetensors")), 0, api_name="/sample_scratch_model")


@pytest.mark.parametrize("args, message", [
    (("RNN", 60, 0, False), "family must be one of GAN, VAE, diffusion"),
    (("GAN", 181, 0, False), "seconds must be a number between 1 and 180"),
    (("GAN", 0, 0, False), "seconds must be a number between 1 and 180"),
    (("GAN", 60, -1, False), "seed must be a whole number"),
    (("GAN", 60, 0, "yes"), "failure must be true or false"),
])
def test_bad_inputs_are_clear_errors(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/train_from_scratch")


def test_sampling_before_any_training_says_so(app_url):
    from gradio_client import Client

    fresh = Client(app_url, verbose=False)  # a session of its own: the shared client's may have trained already
    with pytest.raises(Exception, match="Nothing to sample from yet"):
        fresh.predict(None, 0, api_name="/sample_scratch_model")
