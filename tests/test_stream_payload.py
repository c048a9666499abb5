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


def test_diffusion_previews_and_gif_frames_in_16_gray_levels():
    """What a default run sends most of (noise) in 16 levels: 4-bit preview PNGs, a GIF of 16 grays; the finished
    digits keep all 256."""
    import numpy as np
    from PIL import Image

    import ui.tabs.diffusion_tab as diffusion_tab

    updates = list(diffusion_tab.denoise_digits("7", 4, 12, 2.0, 0))
    paths = [u[1]["path"] for u in updates[:-1]]
    assert paths and all(open(p, "rb").read()[24] == 4 for p in paths)  # IHDR's bit depth
    previews = [Image.open(p) for p in paths]
    assert all(set(np.unique(np.asarray(p))) <= set(range(0, 256, 17)) for p in previews)
    gallery, _, gif, _, _ = updates[-1]
    frames = Image.open(gif["path"])
    grays = set()
    for i in range(frames.n_frames):
        frames.seek(i)
        grays |= set(np.unique(np.asarray(frames.convert("L"))))
    assert grays <= set(range(0, 256, 17))
    digits = np.concatenate([np.asarray(Image.open(item["image"]["path"])).ravel() for item in gallery])
    assert len(set(np.unique(digits)) - set(range(0, 256, 17))) > 0


def test_vae_sketchpads_show_only_for_my_drawing():
    """An untouched sketchpad in the page is drawn out of its canvas before every Interpolate (seconds in headless
    Chromium): the pads are left out of the page unless their endpoint is "my drawing"."""
    assert vae_tab._pad_for(vae_tab.DRAWING)["visible"] is True
    assert vae_tab._pad_for("7")["visible"] is False


def test_diffusion_previews_due_by_time_stop_at_the_byte_budget(monkeypatch):
    import ui.tabs.diffusion_tab as diffusion_tab

    monkeypatch.setattr(diffusion_tab, "MIN_INTERVAL", 0)  # every step is due by time...
    assert len(list(diffusion_tab.denoise_digits("7", 4, 12, 2.0, 0))) == 12  # 11 previews and the result
    monkeypatch.setattr(diffusion_tab, "PREVIEW_BYTES", 0)  # ...until the budget is spent: then every 12/6 steps
    updates = list(diffusion_tab.denoise_digits("7", 4, 12, 2.0, 0))
    assert [int(u[1]["path"][-8:-4]) for u in updates[:-1]] == [2, 4, 6, 8, 10]  # x-0002.png ...
