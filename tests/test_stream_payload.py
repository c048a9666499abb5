"""Streams that cost what they show: every streamed update of an image endpoint carries at most one image (a preview
of the whole grid), and the last one carries the gallery, each file once (bench/bench_streams.py measures the cost)."""

import pytest

import ui.tabs.gan_tab as gan_tab
import ui.tabs.vae_tab as vae_tab

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def images_in(value) -> int:
    """How many image files one output value of an update carries (a gallery: one per item)."""
    if isinstance(value, list):
        return len(value)
    return int(isinstance(value, dict) and "path" in value)


def test_latent_walk_streams_one_preview_a_step_and_the_frames_once(monkeypatch):
    monkeypatch.setattr(gan_tab, "PREVIEW_EVERY", 0)  # a preview at every chunk, however fast the walk
    updates = list(gan_tab.latent_walk("3", 1, 2, 16, 1.0, "8"))
    assert len(updates) >= 3
    for frames, preview in updates[:-1]:
        assert frames is None and images_in(preview) == 1 and preview["path"].endswith(".png")
    frames, gif = updates[-1]
    assert len(frames) == 16 and gif["path"].endswith(".gif")


def test_interpolation_streams_one_preview_a_step_and_the_frames_once():
    updates = list(vae_tab.interpolate_digits("1", "7", 12, "linear", 0))
    assert len(updates) >= 2
    for update in updates[:-1]:
        assert sum(images_in(v) for v in update[:5]) == 1 and update[2]["path"].endswith(".png")
    final = updates[-1]
    assert len(final[0]) == 12 and final[2]["path"].endswith(".gif") and len(final[3]) == 4
