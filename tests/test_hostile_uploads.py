"""Issue 28, items 1-3: no upload holds the server, adapters are checked in full before use, and what the adapter
cache evicts and the watermark detector hold stays bounded.

Each parser the app runs on an upload (image header and metadata, C2PA, PNG and GIF blocks, a drawing, a digit,
an adapter's safetensors header and config, a fine-tuning text) gets pathological inputs. Each answers (a result or
a keyed refusal) within a second of CPU, while another thread of the process keeps getting its turn: a regular
expression that backtracks holds the GIL for its whole run (22 s for 220 KB before).
"""

import io
import json
import logging
import struct
import threading
import time
import zlib

import pytest
import torch
from PIL import Image

from generators.core.bounded import gif_well_formed, json_depth, loads_bounded
from generators.core.errors import InputError
from generators.lm import corpus, lora
from generators.provenance import c2pa, watermark
from generators.text import TextContinuation
from ui.kit.errors import render
from ui.kit.images import gif_bytes, png_bytes

pytestmark = pytest.mark.usefixtures("one_thread")
GIF_HEAD = b"GIF89a\x01\x00\x01\x00\x00\x00\x00"


def chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


PNG = png_bytes(torch.zeros(28, 28, dtype=torch.uint8).numpy())
IMAGES = {  # name -> bytes a stranger might upload
    "gif many xmpmeta openings": GIF_HEAD + b"<x:xmpmeta>" * 200_000,
    "gif xmpmeta openings then junk": GIF_HEAD + b"<x:xmpmeta " * 100_000 + b"\xff" * 10**6,
    "gif long run of zeros": GIF_HEAD + b"\0" * 10**7,
    "gif long run of one byte": GIF_HEAD + b"<" * 10**7,
    "gif nested tags": GIF_HEAD + b"<x:xmpmeta>" + b"<rdf:li>" * 500_000,
    "png xmp attribute openings": PNG[:33] + chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0"
                                                   + b'xmp:CreatorTool="' * 50_000) + PNG[33:],
    "png xmp element openings": PNG[:33] + chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0"
                                                 + b"<x:xmpmeta><xmp:CreatorTool>" * 30_000) + PNG[33:],
    "png many text chunks": PNG[:33] + chunk(b"tEXt", b"Generator\0g") * 100_000 + PNG[33:],
    "png long run after the header": PNG[:33] + b"\0" * 10**7,
    "png nested json settings": PNG[:33] + chunk(b"tEXt", b"Settings\0" + b"[" * 500_000) + PNG[33:],
    "jpeg many app1 segments": b"\xff\xd8" + (b"\xff\xe1\xff\xf0http://ns.adobe.com/xap/1.0/\0" + b"<x:xmpmeta>"
                                              * 5_950 + b"\0" * 6) * 40 + b"\xff\xd9",
    "c2pa label runs": GIF_HEAD + b"c2pa" * 2_500_000,
    "4097 x 1": png_bytes(torch.zeros(1, 4097, dtype=torch.uint8).numpy()),
}


class Heartbeat:
    """Another request of the server, in small: a thread that wakes every 10 ms and notes the longest gap."""

    def __enter__(self):
        self.longest, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return self

    def _beat(self):
        last = time.perf_counter()
        while not self._stop.wait(0.01):
            now = time.perf_counter()
            self.longest, last = max(self.longest, now - last), now

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def answered(fn, *args):
    """fn's result or the ValueError it raised, the process CPU seconds it took, and the longest stall of another
    thread meanwhile."""
    with Heartbeat() as beat:
        cpu = time.process_time()
        try:
            out = fn(*args)
        except ValueError as e:  # InputError is one; loads_bounded raises plain ones
            out = e
        cpu = time.process_time() - cpu
    return out, cpu, beat.longest


@pytest.mark.parametrize("name", IMAGES)
def test_image_checks_answer_within_a_second_and_others_get_their_turn(name, tmp_path):
    from ui.tabs import provenance_tab, vae_tab

    path = tmp_path / "upload.bin"
    path.write_bytes(IMAGES[name])
    for fn in (c2pa.verify, vae_tab._open_drawing):
        out, cpu, stall = answered(fn, str(path))
        assert cpu < 1.0 and stall < 1.0, (fn.__name__, cpu, stall)
    facts = {"width": 28, "height": 28}
    out, cpu, stall = answered(provenance_tab._digit, str(path), facts)
    assert cpu < 1.0 and stall < 1.0, ("_digit", cpu, stall)


def test_images_over_4096_px_a_side_are_refused_from_their_header():
    with pytest.raises(InputError) as e:
        c2pa.verify(IMAGES["4097 x 1"])
    assert e.value.key == "provenance_too_wide" and e.value.fields["max_side"] == 4096
    assert c2pa.verify(png_bytes(torch.zeros(1, 4096, dtype=torch.uint8).numpy()))["width"] == 4096
    assert render("provenance_too_wide", e.value.fields, "zh") != render("provenance_too_wide", e.value.fields, "en")


def test_marked_images_still_read_back_with_the_scan():
    digit = torch.zeros(28, 28, dtype=torch.uint8).numpy()
    for fmt, data in (("png", png_bytes(digit)), ("gif", gif_bytes([Image.fromarray(digit)] * 3))):
        marked = c2pa.mark(data, fmt, generator="gan", settings={"digit": 7}, sign=fmt == "png")
        assert gif_well_formed(marked)
        result = c2pa.verify(marked)
        assert result["metadata"]["generator"] == "gan" and result["metadata"]["xmp"]
        assert result["digital_source_type"] == c2pa.SOURCE_TYPE


def test_a_call_past_its_budget_is_refused_and_the_next_one_runs():
    from generators.runtime.budget import TimeBudget

    budget, release = TimeBudget(workers=1), threading.Event()
    with pytest.raises(InputError) as e:
        budget.run(release.wait, 5, seconds=0.2, key="provenance_too_slow")
    assert e.value.key == "provenance_too_slow" and e.value.fields == {"seconds": 0.2}
    release.set()
    assert budget.run(lambda: 7, seconds=2, key="provenance_too_slow") == 7


def test_json_depth_is_measured_without_recursion():
    assert json_depth(b'{"a": [1, {"b": "[[[[\\"]]"}]}') == 3
    for deep in (b"[" * 200_000, b'{"a":' * 200_000, b"[" * 200_000 + b"]" * 200_000):
        out, cpu, stall = answered(loads_bounded, deep)
        assert cpu < 1.0 and stall < 1.0
        with pytest.raises(ValueError, match="deeper"):
            loads_bounded(deep)
    assert loads_bounded('{"a": [1, 2]}') == {"a": [1, 2]}


# -- adapters ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base():
    return TextContinuation(torch.device("cpu")).load()


def adapter(base, seed=0, scale=0.01, **config) -> bytes:
    """A valid adapter file for `base` (random A and B, seeded), with `config` fields replaced."""
    targets, fan = lora.lora_targets(base.model)
    g = torch.Generator().manual_seed(seed)
    weights = {k: torch.randn(s, generator=g) * scale for k, s in lora.expected_shapes(base.model, 2, targets,
                                                                                        fan).items()}
    cfg = {"base": "bundled", "base_sha256": lora.fingerprint(base.model), "model_type": "gpt2", "rank": 2,
           "alpha": 4, "target_modules": list(targets), "fan_in_fan_out": fan, **config}
    return lora.save_adapter(lora.LoraAdapter(weights, cfg))


def safetensors(header: bytes, data: bytes = b"") -> bytes:
    return len(header).to_bytes(8, "little") + header + data


def many_tensors(n: int) -> bytes:
    meta = {"format": lora.FORMAT, "config": json.dumps({"model_type": "gpt2", "rank": 2, "alpha": 4})}
    header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(n)}
    return safetensors(json.dumps({"__metadata__": meta, **header}).encode(), b"\0" * 4 * n)


def with_config(text: str) -> bytes:
    return safetensors(json.dumps({"__metadata__": {"format": lora.FORMAT, "config": text}}).encode())


HOSTILE_ADAPTERS = {
    "header nested 200,000 deep": lambda base: safetensors(b"[" * 200_000),
    "header of nested objects": lambda base: safetensors(b'{"a":' * 100_000),
    "config nested 200,000 deep": lambda base: with_config("[" * 200_000),
    "100,000 tiny tensors": lambda base: many_tensors(100_000),
    "header length past the file": lambda base: (2**40).to_bytes(8, "little") + b"{}",
    "a long run of one byte": lambda base: b"\xff" * 5_000_000,
    "alpha NaN": lambda base: adapter(base, alpha=float("nan")),
    "alpha 1e300": lambda base: adapter(base, alpha=1e300),
    "alpha negative": lambda base: adapter(base, alpha=-4),
    "alpha a string": lambda base: adapter(base, alpha="4"),
    "weights whose product overflows": lambda base: adapter(base, scale=1e19),
}


@pytest.mark.parametrize("name", HOSTILE_ADAPTERS)
def test_hostile_adapters_are_refused_quickly_with_the_adapter_message(base, name):
    data = HOSTILE_ADAPTERS[name](base)
    out, cpu, stall = answered(lora.load_adapter, data, base)
    assert isinstance(out, InputError) and out.key == "finetune_adapter_invalid", out
    assert cpu < 1.0 and stall < 1.0


def test_the_adapter_refusal_is_one_log_line_in_both_languages(base, tmp_path, caplog):
    import gradio as gr

    from ui.tabs import text_tab

    path = tmp_path / "deep.safetensors"
    path.write_bytes(safetensors(b"[" * 200_000))
    caplog.set_level(logging.INFO)
    with pytest.raises(gr.Error) as e:
        list(text_tab.continue_text("Once", 4, 0, adapter=str(path)))
    assert e.value.message == render("finetune_adapter_invalid", {}, "en")
    assert render("finetune_adapter_invalid", {}, "zh") != e.value.message
    assert not [r for r in caplog.records if r.exc_info], "a user's mistake left a traceback"


def test_a_valid_adapter_still_loads_and_continues(base):
    tuned = lora.load_adapter(adapter(base), base)
    assert tuned.fast is not None and tuned.fast.transient
    assert TextContinuation(torch.device("cpu"))._generate(tuned, "Once", 4, _greedy(), 0, 1)


def _greedy():
    from generators.lm.text_decoding import Sampling

    return Sampling(temperature=0.0)


def test_fine_tuning_texts_are_refused_or_read_quickly():
    for data in (b"\xe4" * 1_000_000, b"a" * 1_000_000, "\u202e".encode() * 300_000, b"[" * 1_000_000):
        out, cpu, stall = answered(corpus.read_text, data)
        assert cpu < 1.0 and stall < 1.0


# -- bounded memory -------------------------------------------------------------------------------------------------

def test_evicted_adapters_end_their_engine_threads(base, monkeypatch):
    from generators.lm import engine as engine_mod

    monkeypatch.setattr(lora, "_CACHE", type(lora._CACHE)())
    monkeypatch.setattr(lora, "CACHED", 2)
    engines = []
    for seed in range(5):
        tuned = lora.cached_adapter(adapter(base, seed), base)
        gen = engine_mod.engine_for(tuned.fast, base.tokenizer.eos_token_id)
        list(gen.submit([1, 2, 3], max_new=3, sampling=_greedy(), seed=0))
        engines.append(gen)
    assert all(e not in engine_mod._ENGINES.values() for e in engines)
    deadline = time.monotonic() + 10
    while any(e.running() for e in engines[:3]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(e.running() for e in engines[:3]), "an evicted adapter's engine thread still runs"
    assert len(lora._CACHE) == 2


def test_token_ranks_run_in_windows_that_fit_the_budget(base):
    ids = base.tokenizer("The cat sat on the mat. " * 200).input_ids
    seen, forward = [], base.model.forward

    def spy(input_ids, **kw):
        seen.append(input_ids.shape[0])
        return forward(input_ids, **kw)

    whole = watermark.token_ranks(base, ids, chunk_bytes=2**40)
    base.model.forward = spy
    try:
        budget = 2 * base.context * base.model.config.vocab_size * 4  # two windows' logits
        chunked = watermark.token_ranks(base, ids, chunk_bytes=budget)
    finally:
        del base.model.forward
    assert chunked == whole and len(whole) == len(ids)
    assert max(seen) <= 2 and sum(seen) == len(range(0, len(ids) - 1, base.context - 1))
