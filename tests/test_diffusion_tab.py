"""The diffusion tab: its throttle on a fake stream, then /denoise_digits through gradio_client on the launched app,
its model swapped for a tiny seeded UNet (the shipped weights, when there are any, in the last test)."""

import time

import pytest
import torch
from gradio_client import Client
from PIL import Image

import ui.tabs.diffusion_tab as tab
from generators.diffusion import ASSETS, DenoisingStep, DiffusionSampler, DigitDiffusionPipeline, build_scheduler, \
    build_unet
from ui.kit.images import to_uint8


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> DiffusionSampler:
    """An adapter on a tiny seeded pipeline saved in a temp folder."""
    path = tmp_path_factory.mktemp("tiny-models") / "diffusion"
    for seed, folder in ((0, path), (1, path.with_name("diffusion-4step"))):  # the teacher, and a "student"
        torch.manual_seed(seed)
        DigitDiffusionPipeline(build_unet((4, 8), layers_per_block=1, norm_num_groups=2), build_scheduler()) \
            .save_pretrained(folder)
    return DiffusionSampler(path, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def app(app_url, tiny):
    """The launched app with the tab's sampler pointed at the tiny pipeline (restored after). The client leaves the
    files where the server wrote them (this process): downloading each update's images would be most of the time."""
    before, tab.SAMPLER = tab.SAMPLER, tiny
    yield Client(app_url, verbose=False, download_files=False)
    tab.SAMPLER = before


def path(value) -> str:
    """The served file of a gallery item, an image or a file (as download_files=False leaves them)."""
    value = value.get("image", value)
    return value["path"]


def pixels(item) -> bytes:
    return Image.open(path(item)).convert("L").tobytes()


class FakeSampler:
    """Steps of 2 digits as fast as asked (`delay` seconds each): the tab's throttle alone."""

    device, path = torch.device("cpu"), ASSETS

    def __init__(self, delay: float = 0.0):
        self.delay, self.pulled, self.closed = delay, 0, False

    def check_weights(self):
        return None

    def check_weights(self):
        return None

    def stream(self, *, digit, count, steps, guidance, seed, sampler, interval=1.0):
        try:
            for i in range(steps):
                time.sleep(self.delay)
                self.pulled += 1
                x = torch.full((count, 1, 28, 28), i / steps)
                yield DenoisingStep(i + 1, steps, x, x, [digit] * count, done=i == steps - 1)
        finally:
            self.closed = True


class FakeReader:
    """A classifier that reads the first digit as a 1 and the rest as asked: captions must say what it reads."""

    def read(self, images):
        return [1] + [7] * (len(images) - 1), [0.5] + [0.99] * (len(images) - 1)


def images_in(value) -> int:
    """How many image files one output value of an update carries."""
    if value is None or isinstance(value, str):
        return 0
    return len(value) if isinstance(value, list) else 1


@pytest.mark.parametrize("delay", [0.0, 0.01])
def test_updates_are_throttled_and_end_with_the_finished_digits(monkeypatch, delay):
    monkeypatch.setattr(tab, "SAMPLER", FakeSampler(delay))
    monkeypatch.setattr(tab, "READER", FakeReader())
    t0 = time.perf_counter()
    updates = list(tab.denoise_digits("7", 2, 100, 1.0, 0, "DDIM"))
    seconds = time.perf_counter() - t0
    # every 100 // MIN_UPDATES-th step, plus at most one per MIN_INTERVAL of the run, plus the last
    assert tab.MIN_UPDATES <= len(updates) <= tab.MIN_UPDATES + seconds / tab.MIN_INTERVAL + 2
    assert all(u[2] is None for u in updates[:-1]) and updates[-1][2]["path"].endswith(".gif")
    # a streamed step sends one preview image, no gallery; the gallery's files go once, at the end
    assert all(sum(images_in(v) for v in u[:4]) == 1 and u[0] is None for u in updates[:-1])
    assert len(updates[-1][0]) == 2
    # the captions say what the classifier reads, not the digit asked for; the verdict counts the agreement
    assert [item["caption"] for item in updates[-1][0]] == ["reads 1 (50%)", "reads 7 (99%)"]
    assert "reads 1 of 2 as 7" in updates[-1][4]


def test_steps_slider_range_follows_the_sampler():
    from generators.diffusion import STEPS
    for sampler, allowed in STEPS.items():
        update = tab._range_for(sampler)
        assert (update["minimum"], update["maximum"]) == (allowed.lo, allowed.hi)
        assert "value" not in update  # an example's steps stay as the example set them
    assert tab._defaults_for("DDIM")[0]["maximum"] == 100


def test_stop_leaves_no_progress_line():
    class Zh:
        headers = {"accept-language": "zh-CN,zh;q=0.9"}
    assert tab._stopped(Zh()) == "已停止。按“去噪生成”重新开始。"
    assert "step" not in tab._stopped(None)


def test_closing_the_handler_closes_the_adapters_stream(monkeypatch):
    fake = FakeSampler()
    monkeypatch.setattr(tab, "SAMPLER", fake)
    stream = tab.denoise_digits("7", 2, 100, 1.0, 0, "DDIM")
    next(stream)
    pulled = fake.pulled
    stream.close()
    assert fake.closed and pulled == fake.pulled < 100


def test_streams_count_digits_as_the_adapter_draws_them(app, tiny):
    job = app.submit("3", 4, 20, 1.0, 5, "DPM-Solver++", api_name="/denoise_digits")
    job.result(timeout=120)
    updates = job.outputs()
    assert len(updates) >= 5
    assert all(u[0] is None and path(u[1]).endswith(".png") for u in updates[:-1])  # one preview a step
    final = updates[-1]
    assert len(final[0]) == 4 and all(item["caption"].startswith("reads ") for item in final[0])
    assert "guidance 1.0, interval 0.7)" in final[4]  # the summary names the interval the default 0 stood for
    assert "Cost of this result" in final[4] and all("Cost" not in (u[4] or "") for u in updates[:-1])
    assert "(?tab=diffusion&digit=3&count=4&steps=20&guidance=1.0&seed=5&sampler=DPM-Solver%2B%2B&guidance_interval=0" \
        "&lang=en)" in final[4]
    # the served digits are the adapter's finished samples, pixel for pixel: 1.0 is white (light digit on dark)
    expected = to_uint8(tiny.sample(digit=3, count=4, steps=20, guidance=1.0, seed=5, sampler="DPM-Solver++",
                                    interval=0.7).sample)  # the API's default 0: DPM-Solver++'s own interval
    assert [pixels(item) for item in final[0]] == [im.tobytes() for im in expected]
    assert all(Image.open(path(item)).size == (28, 28) for item in final[0])
    gif = Image.open(path(final[2]))
    assert gif.format == "GIF" and gif.n_frames >= 8  # an animation: 20 steps strided to GIF_FRAMES
    assert Image.open(path(final[3])).size[0] > 4 * 112 and "20 steps" in final[4]


def test_distilled_streams_the_students_four_steps(app, tiny):
    job = app.submit("5", 3, 4, 0.0, 2, "Distilled", api_name="/denoise_digits")
    job.result(timeout=120)
    final = job.outputs()[-1]
    expected = to_uint8(tiny.sample(digit=5, count=3, steps=4, guidance=0.0, seed=2, sampler="Distilled").sample)
    assert [pixels(item) for item in final[0]] == [im.tobytes() for im in expected]
    assert "4 steps (Distilled" in final[4]


def test_same_seed_same_digits_other_seed_others(app):
    a = app.predict("Any", 6, 4, 2.0, 11, "DDIM", api_name="/denoise_digits")
    b = app.predict("Any", 6, 4, 2.0, 11, "DDIM", api_name="/denoise_digits")
    c = app.predict("Any", 6, 4, 2.0, 12, "DDIM", api_name="/denoise_digits")
    assert [pixels(i) for i in a[0]] == [pixels(i) for i in b[0]]
    assert [i["caption"] for i in a[0]] == [i["caption"] for i in b[0]]
    assert [pixels(i) for i in a[0]] != [pixels(i) for i in c[0]]


def test_stop_mid_denoising_stops_the_unet(app, tiny):
    calls = []

    def slow(*_):
        calls.append(1)
        time.sleep(0.002)  # so the run outlasts the cancel on any machine
    hook = tiny.load().unet.register_forward_hook(slow)
    try:
        job = app.submit("1", 2, 1000, 0.0, 0, "DDPM", api_name="/denoise_digits")
        for _ in job:  # the first update is out: stop mid-denoising
            break
        job.cancel()
        seen, deadline = -1, time.time() + 10
        while len(calls) != seen and time.time() < deadline:  # until the UNet has not been called for 0.5 s
            seen = len(calls)
            time.sleep(0.5)
        assert 0 < len(calls) == seen < 1000
    finally:
        hook.remove()
    assert len(app.predict("1", 1, 2, 0.0, 0, "DDIM", api_name="/denoise_digits")[0]) == 1  # still serving


@pytest.mark.parametrize("args, says", [
    (("7", 4, 500, 1.0, 0, "DDIM"), "DDIM takes 1 to 100 steps, not 500"),
    (("7", 4, 20, 1.0, 0, "DDPM"), "DDPM takes 50 to 1000 steps, not 20"),
    (("7", 4, 2.5, 1.0, 0, "DDIM"), "DDIM takes 1 to 100 steps, not 2.5"),
    (("7", 4, 20, 10.5, 0, "DDIM"), "guidance must be a number between 0 and 10, not 10.5"),
    (("7", 4, 20, -1.0, 0, "DDIM"), "guidance must be a number between 0 and 10"),
    (("7", 4, 20, 1.0, 0, "Euler"), "sampler must be one of DPM-Solver++, UniPC, DDIM, DDPM, Distilled; got 'Euler'"),
    (("11", 4, 20, 1.0, 0, "DDIM"), "digit must be one of"),
    (("7", 65, 20, 1.0, 0, "DDIM"), "count must be a whole number between 1 and 64, not 65"),
    (("7", 0, 20, 1.0, 0, "DDIM"), "count must be a whole number between 1 and 64"),
    (("7", 4, 20, 1.0, -1, "DDIM"), "seed must be a whole number between 0 and 4294967295, not -1"),
    (("7", 4, 20, 1.0, 0, "DDIM", 1.5),
     "guidance_interval must be 0 (the sampler's own) or a number between 0.05 and 1, not 1.5"),
    (("7", 4, 20, 1.0, 0, "DDIM", 0.01), "or a number between 0.05 and 1, not 0.01"),
    (("7", 4, 20, 0.0, 0, "Distilled"), "Distilled takes exactly 4 steps (it was trained for them), not 20"),
    (("7", 4, 4, 10.5, 0, "Distilled"), "guidance must be a number between 0 and 10, not 10.5")])
def test_bad_input_is_answered_clearly(app, args, says):
    with pytest.raises(Exception) as err:
        app.predict(*args, api_name="/denoise_digits")
    assert says in str(err.value)


def test_errors_in_chinese(app_url, tiny):
    zh = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    with pytest.raises(Exception, match="DDIM 的步数须在 1 到 100 之间"):
        zh.predict("7", 4, 500, 1.0, 0, "DDIM", api_name="/denoise_digits")
    with pytest.raises(Exception, match="引导强度（guidance）必须是 0 到 10 之间的数"):
        zh.predict("7", 4, 20, 11.0, 0, "DDIM", api_name="/denoise_digits")


def test_missing_weights_are_the_keyed_error(client, tmp_path):
    before, tab.SAMPLER = tab.SAMPLER, DiffusionSampler(tmp_path)
    try:
        with pytest.raises(Exception, match="Model weights are missing in .*training.train_diffusion"):
            client.predict("7", 4, 20, 1.0, 0, "DDIM", api_name="/denoise_digits")
    finally:
        tab.SAMPLER = before


@pytest.mark.skipif(not (ASSETS / "model_index.json").exists(), reason="no trained diffusion weights yet")
def test_shipped_model_draws_light_digits_on_dark():
    from generators.digits import DigitClassifier

    step = DiffusionSampler(device=torch.device("cpu")).sample(digit=4, count=8, steps=20, guidance=1.0, seed=0,
                                                               sampler="DPM-Solver++")
    assert step.sample.mean() < 0.3  # mostly dark background
    clf = DigitClassifier.from_pretrained(ASSETS.parent / "classifier").eval()
    with torch.no_grad():
        assert (clf(step.sample).argmax(1) == 4).sum() >= 6
