"""Text continuation: the adapter on a tiny seeded GPT-2 (no download), then the app through gradio_client."""

import os

import pytest
import torch

from generators.lm import gpt2_fast
from generators import text
from generators.core.errors import InputError, ModelUnavailable
from generators.text import TextContinuation
from generators.lm.text_decoding import Detokenizer, Sampling, processed

PROMPT = "The old captain looked out over the harbour and said"


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture
def llama_tc(tiny_llama_dir, monkeypatch):
    """A tiny Llama (SmolLM2's architecture): the generic transformers path, not the lean GPT-2 one."""
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(tiny_llama_dir))
    return TextContinuation(torch.device("cpu"))


@pytest.fixture
def tc(tiny_gpt2_dir, monkeypatch):
    """The adapter with its bundled model swapped for a tiny one of 64 tokens of context (conftest.py)."""
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(tiny_gpt2_dir(64)))
    return TextContinuation(torch.device("cpu"))


def token_ids(alt):
    return [t.token_id for t in alt.tokens]


def test_stream_ends_with_the_non_streamed_result(tc):
    items = list(tc.stream(PROMPT, max_new_tokens=12, seed=3, n=2))
    assert len(items) == 12  # one update per token
    assert items[-1] == tc.continue_text(PROMPT, max_new_tokens=12, seed=3, n=2)
    assert all(a.finished for a in items[-1]) and not any(a.finished for a in items[0])
    assert all(a.text.startswith(PROMPT) for a in items[-1])
    assert all(not a.text.endswith("\ufffd") for alts in items[:-1] for a in alts)  # no half characters


def test_seed_reproduces_and_differs(tc):
    a = tc.continue_text(PROMPT, max_new_tokens=16, seed=1, n=3)
    assert a == tc.continue_text(PROMPT, max_new_tokens=16, seed=1, n=3)
    assert [x.text for x in a] != [x.text for x in tc.continue_text(PROMPT, max_new_tokens=16, seed=2, n=3)]
    assert len({x.text for x in a}) > 1  # the alternatives differ


def test_interleaved_requests_do_not_affect_each_other(tc):
    alone = tc.continue_text(PROMPT, max_new_tokens=10, seed=5)
    s1, s2 = tc.stream(PROMPT, max_new_tokens=10, seed=5), tc.stream("Another", max_new_tokens=10, seed=6)
    for a, _ in zip(s1, s2):
        pass
    assert a == alone


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_equals_generate(tc, penalty):
    lm = tc.load()
    ids = lm.tokenizer(PROMPT, return_tensors="pt").input_ids
    ref = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=False,
                            repetition_penalty=penalty, pad_token_id=lm.tokenizer.eos_token_id)
    for adapter in (tc, TextContinuation(tc.device, fast_path=False)):
        got = adapter.continue_text(PROMPT, max_new_tokens=20, temperature=0, repetition_penalty=penalty)
        assert token_ids(got[0]) == ref[0, ids.shape[1]:].tolist()


def test_lean_gpt2_path_equals_the_transformers_forward(tc):
    settings = dict(max_new_tokens=16, seed=9, n=3, temperature=1.0, top_k=0, top_p=1.0)
    lean = tc.continue_text(PROMPT, **settings)
    generic = TextContinuation(tc.device, fast_path=False).continue_text(PROMPT, **settings)
    assert [a.text for a in lean] == [a.text for a in generic]
    for a, b in zip(lean, generic):
        assert [t.prob for t in a.tokens] == pytest.approx([t.prob for t in b.tokens], rel=1e-4)


def test_other_architectures_use_the_generic_path(llama_tc):
    lm = llama_tc.load()
    assert lm.fast is None
    ids = lm.tokenizer(PROMPT, return_tensors="pt").input_ids
    ref = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                            pad_token_id=lm.tokenizer.eos_token_id)
    out = llama_tc.continue_text(PROMPT, max_new_tokens=12, temperature=0, repetition_penalty=1.0, n=2)
    assert token_ids(out[0]) == token_ids(out[1]) == ref[0, ids.shape[1]:].tolist()
    assert [n.key for n in out[0].notices] == ["text_greedy_alternatives"]
    items = list(llama_tc.stream(PROMPT, max_new_tokens=12, seed=1, n=2))
    assert items[-1][0].text != items[-1][1].text


def test_unfiltered_sampling_equals_generate(tc):
    """Without top-k and top-p, the same processing order and the same draws as transformers' sampler under the
    same seed (with them, draw() takes one number per possible token where torch.multinomial takes V)."""
    lm = tc.load()
    ids = lm.tokenizer(PROMPT, return_tensors="pt").input_ids
    settings = dict(temperature=0.9, top_k=0, top_p=1.0, repetition_penalty=1.2)
    torch.manual_seed(7)
    ref = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=True,
                            pad_token_id=lm.tokenizer.eos_token_id, **settings)
    got = tc.continue_text(PROMPT, max_new_tokens=20, seed=7, **settings)
    assert token_ids(got[0]) == ref[0, ids.shape[1]:].tolist()


def test_processed_logits_equal_generates_scores(tc):
    """With every filter on, the logits our draw sees are the scores transformers' sampler drew from, step by
    step along its own sample: the same repetition penalty, temperature, top-k and top-p, in the same order."""
    lm = tc.load()
    ids = lm.tokenizer(PROMPT, return_tensors="pt").input_ids
    settings = dict(temperature=0.9, top_k=20, top_p=0.9, repetition_penalty=1.2)
    torch.manual_seed(7)
    ref = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=True,
                            pad_token_id=lm.tokenizer.eos_token_id, output_scores=True,
                            return_dict_in_generate=True, **settings)
    with torch.no_grad():
        logits = lm.model(ref.sequences).logits[0]  # (T, V): position t predicts token t + 1
    for i, scores in enumerate(ref.scores):
        t = ids.shape[1] + i
        seen = torch.zeros(1, logits.shape[-1], dtype=torch.bool)
        seen[0, ref.sequences[0, :t]] = True
        ours = processed(logits[t - 1:t], seen, Sampling(**settings))
        assert torch.equal(torch.isfinite(ours), torch.isfinite(scores))
        torch.testing.assert_close(ours[torch.isfinite(ours)], scores[torch.isfinite(scores)], rtol=1e-4, atol=1e-4)


def test_closing_the_stream_stops_the_model(tc, monkeypatch):
    """Without batching, each request's own loop: no forward runs after the last item taken."""
    monkeypatch.setenv("PLAYGROUND_BATCHING", "0")
    calls = []
    forward = gpt2_fast.FastGpt2.__call__
    monkeypatch.setattr(gpt2_fast.FastGpt2, "__call__", lambda self, *a: calls.append(1) or forward(self, *a))
    stream = tc.stream(PROMPT, max_new_tokens=40, seed=0)
    for _ in range(5):
        next(stream)
    stream.close()
    assert len(calls) == 5
    assert next(stream, None) is None and len(calls) == 5


def test_stop_flag_ends_the_stream_with_its_token_view(tc):
    """Stop (a flag the stream reads between steps) ends it after the step in progress with a last item that has
    the tokens so far and their probabilities, the same tokens as the unstopped stream's, and a notice."""
    import threading

    stop, items = threading.Event(), []
    for alts in tc.stream(PROMPT, max_new_tokens=40, seed=3, n=2, stop=stop):
        items.append(alts)
        if len(items) == 4:
            stop.set()
    last, full = items[-1], tc.continue_text(PROMPT, max_new_tokens=40, seed=3, n=2)
    assert len(items) == 5 and last[0].finished and all(len(a.tokens) == 5 for a in last)
    assert last[0].notices[-1].key == "text_stopped" and last[0].notices[-1].fields == {"n": 5}
    assert all(n.key != "text_stopped" for n in full[0].notices)
    for stopped, whole in zip(last, full):
        assert token_ids(stopped) == token_ids(whole)[:5]
        assert [t.prob for t in stopped.tokens] == [t.prob for t in whole.tokens[:5]]


def test_text_tab_stop_keeps_the_text_and_shows_its_tokens(tc, monkeypatch):
    """The tab's handler with a session's Stop flag: set mid-stream, the last update has the text so far and its
    token view (what a cancelled stream could not send)."""
    from ui.tabs import text_tab

    monkeypatch.setattr(text_tab, "CONTINUATION", tc)
    flag, outputs = text_tab.StopFlag(), []
    for out in text_tab.continue_text(PROMPT, 200, 1, stop=flag):
        outputs.append(out)
        flag.set()  # after the first update, which is sent at once
    text, _, _, notice, highlighted, _, _, state = outputs[-1]
    assert len(outputs) == 2 and text.startswith(outputs[0][0]) and len(text) > len(outputs[0][0])
    n = len(state[0][1])
    assert 2 <= n < 200 and f"Stopped after {n} tokens." in notice
    assert "".join(t["token"] for t in highlighted) == text.rstrip("\ufffd")  # in Gradio's form (postprocess=False)
    assert text_tab.graceful_stop()


@pytest.mark.parametrize("settings", [dict(seed=3), dict(seed=4, n=3, temperature=1.2, top_k=0, top_p=0.9),
                                      dict(seed=5, temperature=0.0, repetition_penalty=1.5),
                                      dict(seed=6, watermark=2.0)])
def test_the_shared_engine_gives_the_tokens_of_one_loop_per_request(tc, monkeypatch, settings):
    """Batching on (the engine) or off (a loop per request): the same text and tokens from the same seed."""
    batched = tc.continue_text(PROMPT, max_new_tokens=30, **settings)
    monkeypatch.setenv("PLAYGROUND_BATCHING", "0")
    alone = tc.continue_text(PROMPT, max_new_tokens=30, **settings)
    assert [a.text for a in batched] == [a.text for a in alone]
    for a, b in zip(batched, alone):
        assert token_ids(a) == token_ids(b)
        assert [t.prob for t in a.tokens] == pytest.approx([t.prob for t in b.tokens], rel=1e-5)


def test_a_prompt_longer_than_the_context_is_cut_from_the_left(tc):
    prompt = " ".join(f"word{i}" for i in range(200))
    out = tc.continue_text(prompt, max_new_tokens=20, seed=0)[0]
    (notice,) = out.notices
    assert notice.key == "text_prompt_cut" and notice.fields["keep"] == 44 and notice.fields["new"] == 20
    assert prompt.endswith(out.prompt_text) and len(out.prompt_text) < len(prompt)
    assert len(tc.load().tokenizer(out.prompt_text).input_ids) <= 44


def test_a_prompt_that_fits_is_kept_whole_and_the_new_tokens_lowered(tc):
    prompt = PROMPT
    n = len(tc.load().tokenizer(prompt).input_ids)
    assert 1 < n < 60
    out = tc.continue_text(prompt, max_new_tokens=500, seed=0, temperature=1.0, top_k=0)[0]
    (notice,) = out.notices
    assert notice.key == "text_new_tokens_lowered" and notice.fields == dict(asked=500, got=64 - n, prompt=n,
                                                                            context=64)
    assert out.prompt_text == prompt and out.text.startswith(prompt)
    assert len(out.tokens) <= 64 - n


def test_empty_prompt_is_refused(tc):
    """An empty prompt used to start from EOS and wrote Gutenberg boilerplate; now it asks for words (issue 27)."""
    with pytest.raises(InputError, match="text_empty_prompt"):
        tc.continue_text("", max_new_tokens=8, seed=0)


def test_token_probabilities(tc):
    out = tc.continue_text(PROMPT, max_new_tokens=16, seed=4, top_k=0, top_p=1.0)[0]
    assert len(out.tokens) == 16
    for t in out.tokens:
        probs = [p for _, p in t.top]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert 0 < t.prob <= probs[0] + 1e-6
    eos = tc.load().tokenizer.eos_token_id
    pieces = "".join(t.text for t in out.tokens if t.token_id != eos)
    assert pieces == out.text[len(out.prompt_text):].rstrip("\ufffd")  # each token: what it adds


def test_detokenizer_holds_back_split_characters(tc):
    lm = tc.load()
    full = "Café ✓ 日本語 — naïve"
    ids = lm.tokenizer(full).input_ids
    assert len(ids) > len(full.split())  # some characters span several byte tokens
    d = Detokenizer(lm.decode, lm.tokenizer.eos_token_id)
    for token in ids:
        d.add(token)
        assert full.startswith(d.text) and not d.text.endswith("\ufffd")
    assert d.text == d.final_text() == full and "".join(d.pieces) == full


@pytest.mark.parametrize("bad", [
    dict(max_new_tokens=0), dict(max_new_tokens=513), dict(max_new_tokens=4.5), dict(temperature=2.5),
    dict(temperature=float("nan")), dict(top_k=-1), dict(top_k=201), dict(top_p=0), dict(top_p=1.5),
    dict(repetition_penalty=0.9), dict(seed=-1), dict(seed=2**32), dict(n=0), dict(n=4), dict(model="gpt5"),
])
def test_invalid_arguments_raise(tc, bad):
    with pytest.raises(InputError) as err:
        tc.stream(PROMPT, **bad)
    assert err.value.key in ("int_range", "float_range", "choice")


def test_overlong_prompt_raises(tc):
    with pytest.raises(InputError) as err:
        tc.stream("x" * 10_001)
    assert err.value.key == "text_prompt_long" and err.value.fields == dict(n=10_001, limit=10_000)


def test_concurrent_first_requests_load_once(tiny_gpt2_dir, tmp_path, monkeypatch):
    import shutil
    import threading

    shutil.copytree(tiny_gpt2_dir(64), tmp_path / "m")  # a path no test has loaded yet
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(tmp_path / "m"))
    loads, real = [], text._from_pretrained
    monkeypatch.setattr(text, "_from_pretrained", lambda *a, **k: loads.append(1) or real(*a, **k))
    threads = [threading.Thread(target=TextContinuation(torch.device("cpu")).load) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1


def test_missing_bundled_model_is_a_plain_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(tmp_path))
    with pytest.raises(ModelUnavailable, match="weights_missing"):
        TextContinuation(torch.device("cpu")).stream(PROMPT)


def test_hub_model_offline_fails_fast_with_a_plain_message(tc, monkeypatch):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    monkeypatch.setattr(text, "_hub_reachable", lambda: pytest.fail("offline mode must not try the network"))
    with pytest.raises(ModelUnavailable, match=r"text_hub_offline\(model=distilgpt2\)"):
        tc.stream(PROMPT, model="distilbert/distilgpt2")


def test_unreachable_hub_is_detected(monkeypatch, closed_port):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port}")
    assert text._hub_reachable(timeout=2.0) is False


# ---- the app, through gradio_client ----

@pytest.fixture(scope="module")
def app_client(tiny_gpt2_dir, client):
    """The launched app, its bundled text model being a tiny one with room for long streams."""
    os.environ["PLAYGROUND_TEXT_MODEL"] = str(tiny_gpt2_dir(600))
    yield client
    del os.environ["PLAYGROUND_TEXT_MODEL"]


def test_app_streams_the_growing_text(app_client):
    """Streamed: the first token's update, then the text as it grows (at most ~20 updates a second), the whole last."""
    job = app_client.submit(PROMPT, 48, 0, api_name="/continue_text")
    job.result(timeout=60)
    updates = job.outputs()
    assert len(updates) >= 2
    assert updates[0][0].startswith(PROMPT) and len(updates[0][0]) < len(updates[-1][0])
    assert updates[-1][0] == app_client.predict(PROMPT, 48, 0, api_name="/continue_text")[0]
    assert "Cost of this result" in updates[-1][3] and all("Cost" not in u[3] for u in updates[:-1])  # the notice
    assert "(?tab=text&prompt=" in updates[-1][3] and "&max_new_tokens=48&seed=0&" in updates[-1][3]


def test_app_outputs_the_token_view_and_top5_in_gradios_form(app_client):
    """The handler hands Gradio its outputs ready (postprocess=False): the last update carries the tokens coloured by
    rank (the prompt first, uncoloured) and the first token's top 5, as HighlightedText and Label give them."""
    job = app_client.submit(PROMPT, 12, 3, api_name="/continue_text")
    job.result(timeout=60)
    *streamed, last = job.outputs()
    tokens, top5 = last[4], last[6]
    assert tokens[0] == {"token": PROMPT, "class_or_confidence": None} and len(tokens) == 13
    assert {t["class_or_confidence"] for t in tokens[1:]} <= {"#1", "#2-5", "#6+"}
    confidences = [c["confidence"] for c in top5["confidences"]]
    assert len(confidences) == 5 and confidences == sorted(confidences, reverse=True)
    assert top5["label"] == top5["confidences"][0]["label"]
    assert all(u[4] is None for u in streamed)


def test_app_keyword_call_with_alternatives(app_client):
    out = app_client.predict(prompt="Once", max_new_tokens=8, seed=1, alternatives=2, temperature=1.0,
                             api_name="/continue_text")
    assert out[0].startswith("Once") and out[1].startswith("Once") and out[2] == ""


@pytest.mark.parametrize("args", [("Hi", -5, 0), ("Hi", 8, 0, 99.0), ("Hi", 8, 0, 0.8, 40, 0.95, 1.1, 1, "gpt5")])
def test_app_refuses_bad_input_then_serves(app_client, args):
    with pytest.raises(Exception):
        app_client.predict(*args, api_name="/continue_text")
    assert app_client.predict("Hi", 4, 0, api_name="/continue_text")[0].startswith("Hi")


def test_app_hub_model_offline_is_a_plain_error(app_client):
    with pytest.raises(Exception, match="Hugging Face Hub"):
        app_client.predict("Hi", 4, 0, model="distilbert/distilgpt2", api_name="/continue_text")


def test_app_cancel_then_serves(app_client):
    job = app_client.submit(PROMPT, 512, 0, 1.0, 0, 1.0, 1.0, api_name="/continue_text")
    for _ in job:  # the first token is out: cancel mid-stream
        break
    job.cancel()
    assert app_client.predict("Hi", 4, 0, api_name="/continue_text")[0].startswith("Hi")
    assert len(job.outputs()) < 512


def test_token_view_ranks_and_branching(tc):
    from ui.tabs.text_tab import _top5, branch, rank_bucket

    out = tc.continue_text(PROMPT, max_new_tokens=16, seed=4, temperature=1.5, top_k=0, top_p=1.0)[0]
    buckets = [rank_bucket(t) for t in out.tokens]
    for t, bucket in zip(out.tokens, buckets):
        best = max(p for _, p in t.top)
        assert (bucket == "#1") == (t.prob >= best - 1e-9)
        assert (bucket == "#6+") == (t.prob < min(p for _, p in t.top) - 1e-9)
    assert len(set(buckets)) >= 2  # a hot sample picks unlikely tokens too
    state = [(out.prompt_text, out.tokens)]
    candidates = _top5(state, 1, 3)
    second = sorted(candidates, key=candidates.get)[-2]
    new_prompt = branch(state, 1, 3, second)
    before = "".join(t.text for t in out.tokens[:3])
    assert new_prompt.startswith(out.prompt_text + before) and len(new_prompt) > len(out.prompt_text + before)


def test_app_watermarks_by_default_and_on_request_only(app_client):
    """The switch reaches the adapter: on by default with the tab's strength, off on request (the detector itself
    is tested in tests/test_watermark.py, on token ids: re-tokenizing a tiny model's text changes them)."""
    from generators.provenance.watermark import DELTA as WATERMARK_DELTA

    settings = dict(max_new_tokens=24, seed=1, temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0)
    adapter = TextContinuation(torch.device("cpu"))
    marked = app_client.predict(PROMPT, 24, 1, 1.0, 0, 1.0, 1.0, api_name="/continue_text")[0]
    plain = app_client.predict(PROMPT, 24, 1, 1.0, 0, 1.0, 1.0, watermark=False, api_name="/continue_text")[0]
    assert marked != plain
    assert marked == adapter.continue_text(PROMPT, watermark=WATERMARK_DELTA, **settings)[0].text
    assert plain == adapter.continue_text(PROMPT, watermark=0.0, **settings)[0].text
    with pytest.raises(Exception, match="watermark must be true or false"):
        app_client.predict(PROMPT, 8, 1, watermark="yes", api_name="/continue_text")
