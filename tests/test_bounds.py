"""Issue 28, item 2: what the app keeps grows to a bound and stops (docs/deploy.md, "Bounds").

32 distinct adapters, each used for a continuation on the shared engine path, leave RSS within 10% of its level
after 8 (the adapter cache holds lora.CACHED = 8); a /detect_text of 10,000 emoji (40,000 tokens) peaks within a
bound that does not grow with the text.
"""

import gc
import re

import pytest
import torch

from generators.lm import lora
from generators.lm.text_decoding import Sampling
from generators.runtime.memory import trim_heap
from generators.text import TextContinuation, detect_text
from tests.test_hostile_uploads import adapter

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def settled_rss() -> float:
    gc.collect()
    trim_heap()
    return rss_mb()


def test_32_distinct_adapters_leave_rss_within_10_percent_of_8(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_BATCHING", "1")
    monkeypatch.setattr(lora, "_CACHE", type(lora._CACHE)())
    text = TextContinuation(torch.device("cpu"))
    base = text.load()
    levels = {}
    for i in range(32):
        tuned = lora.cached_adapter(adapter(base, seed=i), base)
        *_, last = text._generate(tuned, "Once upon a time", 8, Sampling(temperature=1.0), i, 1)
        assert last[0].finished
        del tuned, last
        if i + 1 in (8, 32):
            levels[i + 1] = settled_rss()
    assert levels[32] <= 1.10 * levels[8], levels


def test_detecting_10000_emoji_peaks_within_its_window_bound():
    lm = TextContinuation(torch.device("cpu")).load()
    detect_text("warm up " * 50)
    before = settled_rss()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM)
    result = detect_text("😀" * 10_000)
    with open("/proc/self/status") as f:
        peak = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024
    assert len(result["tokens"]) == len(lm.tokenizer("😀" * 10_000).input_ids)
    assert peak - before < 400, (before, peak)  # one pass over all 40,000 tokens took +4,575 MB
