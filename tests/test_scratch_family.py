"""A model trained in the Train-from-scratch tab, sampled in its family's own tab ("Your trained model (this
session)"): the same seed the same digits and not the shipped model's, a clear message (en, zh) without one or with
another family's, two sessions apart; then the choice on the launched page through gradio_client."""

import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image
from test_scratch import TinyTrainer

import ui.tabs.diffusion_tab as diffusion_tab
import ui.tabs.gan_tab as gan_tab
import ui.tabs.scratch_tab as scratch_tab
import ui.tabs.vae_tab as vae_tab
from generators.scratch import weights
from generators.scratch.sampler import ScratchSampler
from ui.kit.errors import render
from ui.kit.trained import TRAINED, Session

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def trained(family: str, seed: int = 0, steps: int = 3) -> Session:
    """A session holding a tiny `family` model trained a few steps, as the scratch tab leaves it."""
    *_, last = TinyTrainer(steps=steps).stream(family=family, seconds=60, seed=seed)
    session = Session()
    session.keep(last.run, steps=last.step)
    return session


def pixels(gallery: list[dict]) -> np.ndarray:
    """The gallery's digits as one (B, 28, 28) array."""
    return np.stack([np.asarray(Image.open(item["image"]["path"])) for item in gallery])


def test_the_same_seed_draws_the_same_digits_and_not_the_shipped_models():
    session = trained("GAN")
    one = gan_tab.sample_digits("7", 8, 3, 1.0, TRAINED, session)
    two = gan_tab.sample_digits("7", 8, 3, 1.0, TRAINED, session)
    shipped = gan_tab.sample_digits("7", 8, 3, 1.0)  # the model choice left out: the shipped GAN, as before
    assert np.array_equal(pixels(one[0]), pixels(two[0]))
    assert not np.array_equal(pixels(one[0]), pixels(shipped[0]))
    assert not np.array_equal(pixels(one[0]), pixels(gan_tab.sample_digits("7", 8, 4, 1.0, TRAINED, session)[0]))
    assert one[2].startswith("**Your GAN (3 steps of training) drew 8 digits") and "ignores truncation" in one[2]
    assert "realness" in shipped[2] and "Your GAN" not in shipped[2]
    raised = ScratchSampler().digits(session.run, digit=7, count=8, seed=3).images  # the adapter the tab calls
    assert np.array_equal(pixels(one[0]), (raised[:, 0] * 255).round().to(torch.uint8).numpy())


def test_the_diffusion_tab_streams_the_trained_model_deterministically():
    session = trained("diffusion")
    runs = [list(diffusion_tab.denoise_digits("3", 4, 5, 2.0, 9, "DPM-Solver++", 0.0, TRAINED, session))
            for _ in range(2)]
    assert len(runs[0]) >= 2 and runs[0][-1][0] is not None and all(u[0] is None for u in runs[0][:-1])
    assert np.array_equal(pixels(runs[0][-1][0]), pixels(runs[1][-1][0]))
    summary = runs[0][-1][4]
    assert "in 5 DDIM steps" in summary and "apply to the shipped model only" in summary
    sampler = ScratchSampler()
    steps = list(sampler.stream_denoise(session.run, digit=3, count=4, steps=5, seed=9))
    again = list(sampler.stream_denoise(session.run, digit=3, count=4, steps=5, seed=9))
    assert [s.index for s in steps] == [1, 2, 3, 4, 5] and steps[-1].done and not steps[-2].done
    assert torch.equal(steps[-1].sample, again[-1].sample) and steps[-1].labels == [3] * 4


def test_the_vae_tab_morphs_with_the_trained_vae_beside_the_shipped_map():
    session = trained("VAE")
    *_, mine = vae_tab.interpolate_digits("1", "7", 6, "linear", 0, None, None, TRAINED, session)
    *_, shipped = vae_tab.interpolate_digits("1", "7", 6, "linear", 0)
    assert mine[4]["path"] != shipped[4]["path"]  # the shipped VAE's map, without a path for yours
    assert "Drawn by your VAE (3 steps of training)" in mine[5] and "your VAE" not in shipped[5]
    assert not np.array_equal(pixels(mine[0]), pixels(shipped[0]))


@pytest.mark.parametrize("call, family", [
    (lambda s: gan_tab.sample_digits("7", 8, 0, 1.0, TRAINED, s), "GAN"),
    (lambda s: list(diffusion_tab.denoise_digits("7", 4, 5, 2.0, 0, "DDIM", 0.0, TRAINED, s)), "diffusion"),
    (lambda s: list(vae_tab.interpolate_digits("1", "7", 4, "linear", 0, None, None, TRAINED, s)), "VAE"),
])
def test_without_a_trained_model_the_choice_says_what_to_do(call, family):
    with pytest.raises(Exception, match=f"train a {family} in the Train-from-scratch tab"):
        call(Session())
    with pytest.raises(Exception, match=f"Your model in this session is a VAE, not a {family}|is a GAN, not a VAE"):
        call(trained("GAN" if family == "VAE" else "VAE", steps=1))
    zh = render("scratch_trained_none", dict(family=family), "zh")
    assert "从零训练" in zh and family in zh


def test_two_sessions_do_not_mix():
    one, two, empty = trained("GAN", seed=0), trained("GAN", seed=1), Session()
    a = gan_tab.sample_digits("Any", 8, 5, 1.0, TRAINED, one)
    b = gan_tab.sample_digits("Any", 8, 5, 1.0, TRAINED, two)
    assert not np.array_equal(pixels(a[0]), pixels(b[0]))
    assert np.array_equal(pixels(a[0]), pixels(gan_tab.sample_digits("Any", 8, 5, 1.0, TRAINED, one)[0]))
    with pytest.raises(Exception, match="no model of yours"):
        gan_tab.sample_digits("Any", 8, 5, 1.0, TRAINED, empty)


# The launched app ---------------------------------------------------------------------------------------------

def test_each_family_tab_offers_the_choice_bound_to_the_scratch_tabs_state(client):
    config = client.config
    radios = {c["props"].get("elem_id"): c for c in config["components"]}
    assert {"gan-model", "vae-model", "diffusion-model"} <= radios.keys()
    states = {c["id"] for c in config["components"] if c["type"] == "state"}
    named = {d["api_name"]: d for d in config["dependencies"] if d.get("api_name")}
    shared = [set(named[name]["inputs"]) & states for name in
              ("sample_digits", "denoise_digits", "interpolate_digits", "train_from_scratch", "sample_scratch_model")]
    assert len(shared[0]) == 1 and all(s == shared[0] for s in shared)  # one State, the same in all five


def test_a_training_in_one_session_is_sampled_there_and_not_in_another(app_url):
    mine, other = Client(app_url, verbose=False), Client(app_url, verbose=False)
    mine.predict("GAN", 1, 0, False, api_name="/train_from_scratch")
    gallery, _, summary = mine.predict("7", 4, 0, 1.0, TRAINED, api_name="/sample_digits")
    assert len(gallery) == 4 and summary.startswith("**Your GAN")
    assert "realness" in mine.predict("7", 4, 0, 1.0, api_name="/sample_digits")[2]  # the default: shipped
    with pytest.raises(Exception, match="no model of yours"):
        other.predict("7", 4, 0, 1.0, TRAINED, api_name="/sample_digits")
    with pytest.raises(Exception, match="Your model in this session is a GAN, not a diffusion"):
        mine.predict("7", 4, 5, 2.0, 0, "DDIM", 0.0, TRAINED, api_name="/denoise_digits")


def test_an_uploaded_file_becomes_the_sessions_model_for_its_family_tab(tmp_path):
    made = trained("GAN", seed=2)
    path = weights.save_run(made.run, tmp_path / "gan.safetensors", steps=3)
    session = Session()
    said = scratch_tab.adopt_upload(str(path), session)
    assert said.startswith("Loaded: a GAN trained for 3 steps") and "GAN digits" in said
    ours = gan_tab.sample_digits("4", 6, 1, 1.0, TRAINED, session)
    theirs = gan_tab.sample_digits("4", 6, 1, 1.0, TRAINED, made)
    assert np.array_equal(pixels(ours[0]), pixels(theirs[0]))  # the file holds what was trained
    with pytest.raises(Exception, match="not a model trained in this playground"):
        scratch_tab.adopt_upload(str(tmp_path / "missing.safetensors"), Session())
