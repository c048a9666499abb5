"""The fine-tuning tab: its handlers on a tiny seeded GPT-2 (Stop keeps what was learnt, two sessions never mix),
then /finetune_text and /continue_text(adapter=...) through gradio_client on the launched app with the bundled
model, a few steps each: the stream, the adapter round trip, bad inputs, a cancel."""

from pathlib import Path

import pytest
import torch
from gradio_client import handle_file
from safetensors.torch import save

import ui.tabs.finetune_tab as tab
from generators.lm import lora
from generators.finetune import FineTuner
from generators.text import TextContinuation
from training.finetune_text import tiny_model
from generators.provenance.watermark import DELTA as WATERMARK_DELTA

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread

EXAMPLE = (tab.EXAMPLES_DIR / "time_machine.txt").read_text(encoding="utf-8")
OTHER = (tab.EXAMPLES_DIR / "alice.txt").read_text(encoding="utf-8")
PROMPT = "The Time Traveller said"
SUMMARY = {"perplexity_before", "perplexity_after", "steps_done", "seconds"}


@pytest.fixture(scope="module")
def tiny():
    """A random 2-layer GPT-2 with a tokenizer trained on a few lines (the CLI's --dry-run base)."""
    return tiny_model(EXAMPLE[:4000], torch.device("cpu"))


@pytest.fixture
def tiny_tab(monkeypatch, tiny):
    """The tab's training and continuations on the tiny model."""
    class TinyContinuation(TextContinuation):
        def load(self, name="bundled"):
            return tiny
    monkeypatch.setattr(tab, "TUNER", FineTuner(base=tiny))
    monkeypatch.setattr(tab, "CONTINUATION", TinyContinuation(torch.device("cpu")))
    return tiny


def train(session, text=EXAMPLE, steps=4, seed=0):
    """The handler's stream for one session (no time budget: exactly reproducible)."""
    return tab.finetune_text(text, steps, seed, 1e-2, 4, 0, None, "", "bundled", session)


def last(stream) -> tuple:
    *_, item = stream
    return item


def test_stop_ends_training_after_the_step_in_progress_and_keeps_what_was_learnt(tiny_tab):
    session = tab.Session()
    updates = train(session, steps=50)
    shown = [next(updates) for _ in range(3)]  # steps 0 (before training), 1 and 2
    session.stop.set()  # pressed while step 2 is on screen
    plot, status, summary, path, kept = next(updates)
    assert next(updates, None) is None
    assert all(u[2] is None and u[3] is None for u in shown)
    assert summary["stopped"] is True and summary["steps_done"] == 2 and summary.keys() >= SUMMARY
    assert summary["perplexity_after"] < summary["perplexity_before"] and status.startswith("Stopped after 2 steps")
    assert "Cost of this result" in status and summary["receipt"]["cpu_s"] > 0 and summary["receipt"]["estimate"]
    assert kept is session and session.result.steps_done == 2
    assert plot.dropna().query("curve == 'training batch'")["step"].tolist() == [1, 2]
    uploaded = lora.read_adapter(Path(path).read_bytes(), tiny_tab)  # the file holds what was learnt
    assert all(torch.equal(uploaded.weights[k], v) for k, v in session.result.adapter.weights.items())
    base, tuned = last(tab.compare(PROMPT, 0, session))
    assert base != tuned  # the side-by-side continuation uses the stopped run's adapter


def test_two_sessions_do_not_mix(tiny_tab):
    one, two = tab.Session(), tab.Session()
    for a, b in zip(train(one, EXAMPLE), train(two, OTHER)):  # interleaved, as two users' requests would be
        pass
    *_, solo = train(tab.Session(), EXAMPLE)
    files = [lora.read_adapter(path, tiny_tab).weights for path in (a[3], b[3], solo[3])]
    assert Path(a[3]).parent != Path(b[3]).parent
    assert not all(torch.equal(files[0][k], files[1][k]) for k in files[0])
    assert all(torch.equal(files[0][k], files[2][k]) for k in files[0])  # the other session changed nothing here
    settings = dict(max_new_tokens=tab.COMPARE_TOKENS, seed=7)
    own = [tab.CONTINUATION.continue_text(PROMPT, adapter=s.result.adapter, **settings)[0].text for s in (one, two)]
    assert last(tab.compare(PROMPT, 7, one))[1] == own[0] != own[1] == last(tab.compare(PROMPT, 7, two))[1]
    one.close()
    assert not Path(a[3]).exists() and Path(b[3]).exists()  # a session's end removes its file only


def test_the_page_opens_on_an_example_that_train_learns_from():
    """Train pressed on the page as it opens learns the chosen example (the box left empty), not "there is no text
    to learn from"."""
    import gradio as gr

    from generators.lm.corpus import read_text

    with gr.Blocks():
        inputs = tab._controls()
    text, example = inputs[0].value, inputs[7].value
    assert text == "" and example in tab.EXAMPLES
    assert len(read_text(tab.text_source(text, None, example))) > 20_000


def test_compare_before_any_training_changes_nothing():
    assert list(tab.compare(PROMPT, 0, tab.Session())) == [(tab.gr.skip(), tab.gr.skip())]


# The launched app, the bundled model ------------------------------------------------------------------------------

def finetune(client, steps=3, **kw):
    kw = {"example": "time_machine", "seconds": 0, **kw}
    job = client.submit("", steps, 0, api_name="/finetune_text", **kw)
    return list(job), job.outputs()[-1]


def test_finetune_text_streams_and_its_adapter_continues_text(client):
    updates, (plot, status, summary, adapter) = finetune(client)
    assert summary.keys() >= SUMMARY and summary["steps_done"] == 3 and summary["stopped"] is False
    assert all(u[2] is None and u[3] is None for u in updates[:-1]) and len(updates) >= 4
    rows = {(step, curve) for step, curve, _ in plot["data"]}
    assert rows == {(0, "held-out text"), (0, "training batch"), (1, "training batch"), (2, "training batch"),
                    (3, "training batch"), (3, "held-out text")}  # the step-0 training row has no loss
    assert adapter.endswith(".safetensors") and summary["perplexity_after"] < summary["perplexity_before"]
    tuned = [client.predict(PROMPT, 20, 5, adapter=handle_file(adapter), api_name="/continue_text")[0]
             for _ in range(2)]
    plain = client.predict(PROMPT, 20, 5, api_name="/continue_text")[0]
    local = TextContinuation(torch.device("cpu")).continue_text(PROMPT, max_new_tokens=20, seed=5, adapter=adapter,
                                                               watermark=WATERMARK_DELTA)[0].text
    assert tuned[0] == tuned[1] == local != plain  # downloaded, uploaded: the same fine-tuned continuation


def test_the_media_folder_serves_adapter_files_only_when_they_are_safetensors(client, app_url):
    import httpx

    from ui.kit import media

    finetune(client, steps=1)
    served = next(media.ROOT.rglob("finetuned-adapter.safetensors"))
    assert httpx.get(f"{app_url}gradio_api/file={served}", timeout=30).status_code == 200
    (served.parent / "evil.safetensors").write_text("<script>alert(1)</script>")
    assert httpx.get(f"{app_url}gradio_api/file={served.parent / 'evil.safetensors'}", timeout=30).status_code == 404


@pytest.mark.parametrize("kwargs, message", [
    ({"example": ""}, "no text to learn from"),
    ({"example": "", "text": "Too short a text."}, "fine-tuning needs at least"),
    ({"upload": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50}, "binary file"),
    ({"upload": "Café, s'il vous plaît. ".encode("latin-1") * 100}, "not UTF-8"),
    ({"upload": b"a" * 1_000_001}, "the limit is 1000000 bytes"),
    ({"steps": 0}, "steps must be a whole number between 1 and 2000"),
    ({"lr": 1.0}, "lr must be a number between 1e-05 and 0.05"),
    ({"rank": 65}, "rank must be a whole number between 1 and 64"),
    ({"example": "hamlet"}, "example must be one of"),
])
def test_bad_inputs_are_clear_errors(client, tmp_path, kwargs, message):
    kwargs = {"example": "time_machine", "seconds": 0, **kwargs}
    if isinstance(kwargs.get("upload"), bytes):
        (tmp_path / "upload.txt").write_bytes(kwargs["upload"])
        kwargs["upload"] = handle_file(str(tmp_path / "upload.txt"))
    text, steps = kwargs.pop("text", ""), kwargs.pop("steps", 2)
    with pytest.raises(Exception, match=message):
        client.predict(text, steps, 0, api_name="/finetune_text", **kwargs)


def test_adapters_for_another_model_or_not_adapters_are_refused(client, tiny, tmp_path):
    other = FineTuner(base=tiny).finetune(text=EXAMPLE, steps=1, seconds=0, batch_size=2, block_size=16).adapter
    lora.save_adapter(other, tmp_path / "other.safetensors")
    (tmp_path / "tensors.safetensors").write_bytes(save({"x": torch.zeros(2)}))
    for name, message in (("other.safetensors", "made for another model"),
                          ("tensors.safetensors", "not a fine-tuning adapter")):
        with pytest.raises(Exception, match=message):
            client.predict(PROMPT, 8, 0, adapter=handle_file(str(tmp_path / name)), api_name="/continue_text")


def test_a_cancelled_training_stops_and_text_is_served_meanwhile(client, monkeypatch):
    from generators.finetune import FinetuneRun

    steps, train_step = {}, FinetuneRun._train_step

    def counted(run, fraction):
        steps[id(run)] = steps.get(id(run), 0) + 1
        return train_step(run, fraction)
    monkeypatch.setattr(FinetuneRun, "_train_step", counted)
    job = client.submit("", 2000, 0, example="time_machine", seconds=0, api_name="/finetune_text")
    for update in job:
        if " of 2000" in update[1]:  # a step done: training is under way
            break
    text = client.predict("Hi", 4, 0, api_name="/continue_text")[0]  # another queue: it does not wait
    assert text.startswith("Hi") and not job.done()
    job.cancel()
    (run,) = steps
    finetune(client, steps=1)  # a whole other training in the same queue; the cancelled one's last step is over
    after_cancel = steps[run]
    finetune(client, steps=1)
    assert steps[run] == after_cancel < 2000  # the cancelled training took no step meanwhile


@pytest.mark.slow  # a browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Chromium is not installed (.ci/run installs it)")
def test_stop_in_the_browser_keeps_the_result_and_continues_side_by_side(app_url):
    """Gradio's frontend: Stop (a plain event on the session's state) ends the streaming training, whose last update
    still reaches the page: the summary, the adapter file, then both continuations."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 2000})
        page.goto(app_url)
        page.get_by_role("tab", name="Fine-tune").click()
        page.get_by_label("Example text").click()
        page.get_by_role("option", name="The Time Machine, chapters I-III (29 kB)").click()
        page.wait_for_function("document.querySelector('#finetune-text textarea').value.length > 20000")
        # 2000 steps, so Stop comes first however fast the machine: at 60, a fast CPU took its steps quicker than the
        # page was polled ("step 2 of 60" was never seen) and trained to the end before Stop was pressed
        page.locator("#finetune-steps input[type=number]").fill("2000")
        page.locator("#finetune-steps input[type=number]").press("Enter")
        page.locator("#finetune-train").click()
        # a few steps, so the adapter has learnt enough to change the continuation (LoRA starts as the base model)
        page.wait_for_function("/step ([5-9]|[1-9][0-9]+) of 2000/.test(document.body.innerText)", timeout=120_000)
        page.locator("#finetune-stop").click()
        page.wait_for_function("document.body.innerText.includes('Stopped after')", timeout=60_000)
        assert page.locator("a[href*='finetuned-adapter.safetensors']").count() == 1
        # the result as a plain table (the API's JSON stays out of the page)
        page.wait_for_function("document.querySelector('#finetune-result').innerText.includes('Training steps done')")
        assert "perplexity_before" not in page.locator("body").inner_text()
        # both stream token by token and begin alike: wait until they part (a tuned text equal to the base one
        # to the end times out and fails)
        page.wait_for_function("(([b, t]) => b.length > 40 && t.length > 40 && b !== t)("
                               "['base', 'tuned'].map(s => document.querySelector(`#finetune-${s} textarea`).value))",
                               timeout=60_000)
        base, tuned = (page.locator(f"#finetune-{side} textarea").input_value() for side in ("base", "tuned"))
        assert base.startswith(PROMPT) and tuned.startswith(PROMPT) and base != tuned
        browser.close()
