"""A green-list watermark for generated text and its detector (Kirchenbauer et al., 2023, "A Watermark for Large
Language Models"), with GLTR-style rank evidence beside it (Gehrmann et al., 2019).

At each decoding step a hash of (secret key, previous token, candidate token) puts a fraction `gamma` of the vocabulary
on the green list, and the green logits get `+delta` (the paper's "soft" watermark, Algorithm 2, context width 1),
after the sampling filters.
Marked text then holds more green tokens than the `gamma` expected of text written without the key, and a one-sided
z-test on the green count finds it from the token ids alone: no model is needed to detect.

The green list is integer arithmetic on the CPU (Python ints and numpy uint64, which wrap mod 2**64 by definition), so
it is bit-identical on every machine and the bias is only added on the model's device. transformers'
WatermarkLogitsProcessor draws its list with torch.randperm on the model's device, and CPU and CUDA generators give
different permutations: text marked on a GPU would not be found on a CPU.

    wm = Watermark(delta=2.0)                        # SamplingLoop(..., watermark=wm) biases every step
    detect(token_ids)["z_score"]                     # from ids
    detect_in(lm, "Some pasted text")["verdict"]     # from text, with a loaded model's tokenizer and GLTR ranks

The key is public (it is in this file): anyone can check text for the mark, and anyone could also strip or forge it.
A deployer who wants a private mark passes another `key`.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from generators.core.errors import InputError
from generators.core.limits import Range
from generators.lm.text_decoding import Detokenizer

KEY = 15485863  # the paper's and transformers' default hashing key
GAMMA = 0.5  # green fraction of the vocabulary
DELTA = 2.0  # the text tab's strength: found in nearly every continuation at a small perplexity cost (bench_watermark)
STRENGTH = Range(0.0, 8.0, whole=False)  # `watermark=` of TextContinuation.stream: delta, 0 = off
Z_THRESHOLD = 4.0  # the paper's z >= 4: a false positive once in ~31,600 texts of unmarked tokens
MIN_TOKENS = 16  # fewer scored tokens than this: the verdict is "too_short", whatever z is
# Below z_threshold, a text with fewer scored tokens than `needed` is "too_short", not "no_watermark": marked text that
# short is often missed. The bundled model's figure is measured (assets/text-model/watermark.json); this is the floor.
MAX_TEXT_CHARS = 10_000  # as long a text as the text tab takes as a prompt
RANK_CHUNK_BYTES = 32 * 2**20  # the logits of one batch of rank windows: 4 windows of the bundled GPT-2 (256 x 8192)
RANK_BUCKETS = ((10, "top10"), (100, "top100"), (1000, "top1000"))  # GLTR's colours; the rest is "beyond"
VERDICTS = ("watermarked", "no_watermark", "too_short")

_MASK64 = (1 << 64) - 1
_GOLDEN, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64 (Steele et al. 2014)


def splitmix64(x):
    """splitmix64's finaliser on a Python int or a numpy uint64 array (the same bits for both)."""
    x = (x + _GOLDEN) & _MASK64
    x = ((x ^ (x >> 30)) * _M1) & _MASK64
    x = ((x ^ (x >> 27)) * _M2) & _MASK64
    return x ^ (x >> 31)


def _threshold(gamma: float) -> np.uint64:
    return np.uint64(int(gamma * 2**64))  # green: hash < gamma * 2**64


@lru_cache(maxsize=8)
def _token_salts(vocab_size: int) -> np.ndarray:
    """splitmix64 of every token id, (V,) uint64: the per-token half of the hash, computed once per vocabulary."""
    return splitmix64(np.arange(vocab_size, dtype=np.uint64))


def _seeds(prev_ids, key: int) -> np.ndarray:
    """The per-previous-token half of the hash, (N,) uint64 (Python ints: a few per step, no array overhead)."""
    return np.array([splitmix64(splitmix64(int(p) & _MASK64) ^ (key & _MASK64)) for p in prev_ids], dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """Two multiply-xorshift rounds, in place; the top bits, which the threshold reads, depend on every input bit."""
    np.multiply(x, np.uint64(_M1), out=x)
    x ^= x >> np.uint64(29)
    return np.multiply(x, np.uint64(_M2), out=x)


def green_mask(prev_ids: Sequence[int], vocab_size: int, *, gamma: float = GAMMA, key: int = KEY) -> np.ndarray:
    """(n, V) bool: row i is the green list that follows token prev_ids[i]. No device, no RNG: the same everywhere."""
    seeds = _seeds(prev_ids, key)[:, None]  # (n, 1)
    return _mix(_token_salts(vocab_size)[None, :] ^ seeds) < _threshold(gamma)  # (n, V)


def is_green(prev_ids: Sequence[int], token_ids: Sequence[int], *, gamma: float = GAMMA, key: int = KEY) -> np.ndarray:
    """(N,) bool: whether token_ids[i] is on the green list of prev_ids[i] (the same hash as `green_mask`)."""
    salts = splitmix64(np.asarray(token_ids, dtype=np.int64).astype(np.uint64))
    return _mix(salts ^ _seeds(prev_ids, key)) < _threshold(gamma)


@dataclass(frozen=True)
class Watermark:
    """The soft watermark's settings; `SamplingLoop` calls `bias` at every step.

    The bias goes on last, after the repetition penalty, temperature, top-k and top-p, where transformers 5.23 puts
    its WatermarkLogitsProcessor: it only reorders the tokens the filters kept. Biasing the raw logits instead (delta
    scaled by 1/T, green tokens from outside the top-k let in) cost more perplexity for the same detection in our
    bench (98% found at 128 tokens: +12.4% there, +9.4% here). The probabilities the loop records stay the model's.
    """
    delta: float = DELTA
    gamma: float = GAMMA
    key: int = KEY

    def __post_init__(self):
        if not 0 < self.gamma < 1:
            raise ValueError(f"gamma must be between 0 and 1, not {self.gamma}")  # a programming error

    def bias(self, logits: torch.Tensor, prev_ids: Sequence[int]) -> torch.Tensor:
        """logits (n, V) on any device; prev_ids: the n previous tokens, as ints on the CPU."""
        mask = torch.from_numpy(green_mask(prev_ids, logits.shape[-1], gamma=self.gamma, key=self.key))
        return logits.add(mask.to(logits.device, non_blocking=True), alpha=self.delta)


def z_score(green: int, scored: int, gamma: float) -> float:
    """The one-proportion z-test (Kirchenbauer et al., eq. 3): green count vs gamma * scored."""
    return (green - gamma * scored) / math.sqrt(scored * gamma * (1 - gamma)) if scored else 0.0


def verdict(z: float, scored: int, needed: int = MIN_TOKENS) -> str:
    """Three outcomes: "watermarked" (z clears the threshold on enough tokens), "no_watermark" (it does not, on a text
    long enough for marked text to clear it), "too_short" (fewer than `needed` scored tokens and not found)."""
    if scored < MIN_TOKENS:
        return "too_short"
    if z >= Z_THRESHOLD:
        return "watermarked"
    return "too_short" if scored < needed else "no_watermark"


def detect(token_ids: Sequence[int], *, gamma: float = GAMMA, key: int = KEY, needed: int = MIN_TOKENS) -> dict:
    """The watermark test on a token sequence; token i is scored against token i-1, so the first is not scored.

    A (previous, token) pair that repeats is scored once (as transformers' `ignore_repeated_ngrams`): a repeated
    phrase would otherwise count its green or red tokens again and push z either way without new evidence.
    """
    ids = [int(t) for t in token_ids]
    flags = is_green(ids[:-1], ids[1:], gamma=gamma, key=key).tolist() if len(ids) > 1 else []
    seen, scored = set(), []
    for pair in zip(ids[:-1], ids[1:]):
        scored.append(pair not in seen)
        seen.add(pair)
    n = sum(scored)
    g = sum(f for f, s in zip(flags, scored) if s)
    z = z_score(g, n, gamma)
    needed = max(int(needed), MIN_TOKENS)
    return {"z_score": z, "p_value": 0.5 * math.erfc(z / math.sqrt(2)), "tokens_scored": n, "green_tokens": g,
            "green_fraction": g / n if n else 0.0, "gamma": gamma, "verdict": verdict(z, n, needed),
            "min_tokens": MIN_TOKENS, "tokens_needed": needed,
            "z_threshold": Z_THRESHOLD,
            "green": [None] + flags if ids else [], "scored": [False] + scored if ids else []}


@torch.inference_mode()
def token_ranks(lm, ids: Sequence[int], *, chunk_bytes: int = RANK_CHUNK_BYTES) -> list[int | None]:
    """Each token's rank under the model (1 = its most likely next token); None for the first, which has no context.

    Forward passes over windows of the model's context that overlap by one token (each window predicts its tokens
    after the first), so a text longer than the context is ranked too, with less context at each seam. The windows
    go through in batches whose logits fit `chunk_bytes`, and only the ranks are kept: memory grows with a batch,
    not with the text (one pass over all 40,000 tokens of 10,000 emoji once took 4.6 GB).
    """
    ids, c = list(ids), lm.context
    if len(ids) < 2:
        return [None] * len(ids)
    starts = list(range(0, len(ids) - 1, c - 1))
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    per_batch = max(1, chunk_bytes // (c * vocab * 4))  # windows whose (C, V) float32 logits fit the budget
    ranks = [None]
    for first in range(0, len(starts), per_batch):
        ranks += _window_ranks(lm, ids, starts[first:first + per_batch], c)
    return ranks


def _window_ranks(lm, ids: list[int], starts: Sequence[int], c: int) -> list[int]:
    """The ranks of the tokens that the windows starting at `starts` predict, in order."""
    windows = torch.zeros(len(starts), c, dtype=torch.long)  # (B, C), padded at the end: causal, so harmless
    for b, s in enumerate(starts):
        chunk = ids[s:s + c]
        windows[b, :len(chunk)] = torch.tensor(chunk)
    windows = windows.to(lm.device)
    logits = lm.model(windows, attention_mask=torch.ones_like(windows)).logits[:, :-1].float()  # (B, C-1, V)
    chosen = logits.gather(-1, windows[:, 1:, None])  # (B, C-1, 1): position t predicts token t+1
    ranks = ((logits > chosen).sum(-1) + 1).tolist()  # (B, C-1)
    del logits, chosen
    return [r for b, s in enumerate(starts) for r in ranks[b][:len(ids[s:s + c]) - 1]]


def rank_bucket(rank: int | None) -> str | None:
    """GLTR's colour of a rank: "top10", "top100", "top1000" or "beyond"."""
    if rank is None:
        return None
    return next((name for limit, name in RANK_BUCKETS if rank <= limit), "beyond")


def rank_shares(ranks: Sequence[int | None]) -> dict[str, float]:
    """The share of ranked tokens in each GLTR bucket (they sum to 1; all 0 when nothing is ranked)."""
    buckets = [rank_bucket(r) for r in ranks if r is not None]
    names = [name for _, name in RANK_BUCKETS] + ["beyond"]
    return {name: buckets.count(name) / len(buckets) if buckets else 0.0 for name in names}


def detect_in(lm, text: str, *, gamma: float = GAMMA, key: int = KEY, needed: int = MIN_TOKENS) -> dict:
    """`detect` on text tokenized by `lm`'s tokenizer (a generators.lm.loaded.LoadedModel), with GLTR ranks and shares.

    The result is plain JSON: detect()'s fields, "rank_shares" and "tokens", a list of {"text", "green", "scored",
    "rank", "bucket"} per token (the first token is neither scored nor ranked). Ranks are a hint that works on
    unmarked text too (a model's own greedy-ish text ranks high), not a test.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("watermark_empty_text")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError("watermark_text_too_long", limit=MAX_TEXT_CHARS, got=len(text))
    ids = lm.tokenizer(text).input_ids
    result = detect(ids, gamma=gamma, key=key, needed=needed)
    ranks = token_ranks(lm, ids)
    pieces = _pieces(lm, ids)
    result["rank_shares"] = rank_shares(ranks)
    result["tokens"] = [{"text": p, "green": g, "scored": s, "rank": r, "bucket": rank_bucket(r)}
                        for p, g, s, r in zip(pieces, result.pop("green"), result.pop("scored"), ranks)]
    return result


def _pieces(lm, ids: list[int]) -> list[str]:
    """What each token adds to the text ("" for the first bytes of a character that a later token completes)."""
    d = Detokenizer(lm.decode, lm.tokenizer.eos_token_id, lm.tokenizer.eos_token or "")
    for token in ids:
        d.add(token)
    if d.pieces:
        d.pieces[-1] += d.final_text()[len(d.text):]  # held back as an incomplete character: the last token's
    return d.pieces
