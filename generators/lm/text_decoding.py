"""The decoding loop behind `TextContinuation`: per-request KV-cache sessions and the sampling step.

A session turns "the next input tokens" into "next-token logits" for a batch of n alternatives that
share one prompt. `SamplingLoop.step()` does one decoding step: logits -> processed logits (-> watermark
bias) -> the next n tokens, recording each chosen token's probability and the top-5 candidates on the way.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from generators.lm.gpt2_fast import FastGpt2

TOP = 5  # alternatives recorded per position


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked; the neutral value of each switches it off."""
    temperature: float = 0.8  # 0 = greedy (argmax)
    top_k: int = 40  # 0 = off
    top_p: float = 0.95  # 1.0 = off
    repetition_penalty: float = 1.1  # 1.0 = off


class Gpt2Session:
    """One request on the lean GPT-2 path: a preallocated cache for n sequences of `length` tokens."""

    def __init__(self, fast: FastGpt2, n: int, length: int):
        self.fast, self.n = fast, n
        self.cache = fast.new_cache(n, length)

    def start(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (1, T) -> logits (n, V); the prompt is computed once for all alternatives."""
        return self.fast(ids, self.cache).expand(self.n, -1)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (n, 1) -> logits (n, V)."""
        return self.fast(ids, self.cache)


class HfSession:
    """The same protocol over any transformers causal LM (e.g. SmolLM2), with its own DynamicCache."""

    def __init__(self, model, n: int):
        self.model, self.n, self.past = model, n, None

    def start(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.model(ids, use_cache=True, logits_to_keep=1)
        self.past = out.past_key_values
        self.past.batch_repeat_interleave(self.n)  # one prefill, n sequences
        return out.logits[:, -1].expand(self.n, -1)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.model(ids, past_key_values=self.past, use_cache=True, logits_to_keep=1)
        self.past = out.past_key_values
        return out.logits[:, -1]


def penalise_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty (Keskar et al. 2019, sec. 4.1) as transformers applies it:
    a token already in the sequence has its logit divided by `penalty` if positive, multiplied if negative."""
    if penalty == 1.0:
        return logits
    return torch.where(seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)


def filter_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keeps the k largest logits per row (ties at the k-th value kept, as in transformers)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k).values[:, -1:]  # (n, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus sampling (Holtzman et al. 2020): the smallest set of tokens whose probability reaches p."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=False)
    cum = sorted_logits.softmax(-1).cumsum(-1)
    drop = cum <= 1 - p
    drop[:, -1] = False  # the most likely token always stays
    return logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))


def processed(logits: torch.Tensor, seen: torch.Tensor, s: Sampling,
              bias: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """logits (n, V) -> the logits the draw sees, in transformers' generate() order (its sampler's scores): the
    repetition penalty, the temperature, top-k, top-p, and `bias` (the watermark) last, as transformers'
    WatermarkLogitsProcessor: it only reorders the tokens top-k and top-p kept (a filtered -inf stays -inf)."""
    logits = penalise_repeats(logits, seen, s.repetition_penalty)
    if s.temperature != 0:
        logits = filter_top_p(filter_top_k(logits / s.temperature, s.top_k), s.top_p)
    return logits if bias is None else bias(logits)


def choose(logits: torch.Tensor, seen: torch.Tensor, s: Sampling, generator: torch.Generator,
           bias: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """logits (n, V) -> next tokens (n,): the processed logits' argmax at temperature 0, else a draw."""
    logits = processed(logits, seen, s, bias)
    return logits.argmax(-1) if s.temperature == 0 else draw(logits, generator)


def uniforms(generator: torch.Generator, count: int) -> torch.Tensor:
    """The next `count` float64 uniforms of `generator` (torch.multinomial's exponential noise is -log1p(-u) of
    these: aten Distributions.cpp, cpu/DistributionTemplates.h)."""
    return torch.empty(count, dtype=torch.float64).uniform_(generator=generator)


def pick(probs: torch.Tensor, u: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
    """argmax(probs / q), q = -log1p(-u): torch.multinomial(probs, 1)[:, 0]'s rule given uniforms u (n, V).
    probs may be (n, c) at the increasing ids idx (n, c), every other probability 0: u is then (n, c) too, and the
    lowest id still wins an exact tie."""
    best = (probs / (-torch.log1p(-u)).float()).argmax(-1)
    return best if idx is None else idx.gather(1, best[:, None])[:, 0]


def draw(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row of softmax(logits), filtered logits being -inf: torch.multinomial's rule (argmax p / q,
    q ~ Exp(1)), but with one uniform for each token still possible, drawn from `generator` row by row in increasing
    id order, where torch.multinomial draws one for each of the V tokens. The same distribution (the others have
    p = 0); at top-k 40, 40 numbers instead of 50,257: the draw was the largest part of a batched sampling step.
    An unfiltered row draws all V, so its tokens are torch.multinomial's. The text engine draws the same numbers
    (batch_sampling), so a seed gives the same tokens alone as in a batch. On a GPU: torch.multinomial."""
    probs = logits.softmax(-1)
    if logits.device.type != "cpu":
        return torch.multinomial(probs, 1, generator=generator)[:, 0]
    possible = torch.isfinite(logits)
    u = torch.full(logits.shape, 0.5, dtype=torch.float64)  # p = 0 there: any q > 0 does
    u[possible] = uniforms(generator, int(possible.sum()))
    return pick(probs, u)


class SamplingLoop:
    """The decoding steps of one request; all its tensor work runs inside `step()` (inference mode),
    so nothing is held open between steps and a consumer may stop after any of them.

    `watermark` (a generators.provenance.watermark.Watermark, or None for none) biases the processed logits of each step
    just before the draw; the recorded probabilities are the unbiased model's."""

    def __init__(self, session, prompt_ids: torch.Tensor, n: int, steps: int, sampling: Sampling,
                 generator: torch.Generator, eos_id: int | None, watermark=None):
        self.session, self.prompt, self.n = session, prompt_ids, n  # prompt (1, T)
        self.sampling, self.generator, self.eos_id = sampling, generator, eos_id
        self.watermark, self.prev = watermark, None  # prev: the n last tokens as ints, what the green lists hash
        self.t, self.last, self.seen = 0, None, None
        self.done = torch.zeros(n, dtype=torch.bool, device=prompt_ids.device)
        self.chosen_p = torch.zeros(n, steps, device=prompt_ids.device)  # (n, steps)
        self.top_probs = torch.zeros(n, steps, TOP, device=prompt_ids.device)  # (n, steps, TOP)
        self.top_ids = torch.zeros(n, steps, TOP, dtype=torch.long, device=prompt_ids.device)

    @torch.inference_mode()
    def step(self) -> list[int]:
        """One token for each of the n sequences; a finished sequence keeps repeating EOS."""
        if self.t == 0:
            logits = self.session.start(self.prompt).float()  # (n, V)
            self.seen = torch.zeros_like(logits, dtype=torch.bool)
            self.seen[:, self.prompt[0]] = True
        else:
            logits = self.session.step(self.last[:, None]).float()
        bias = None
        if self.watermark is not None:
            prev = self.prev or [int(self.prompt[0, -1])] * self.n  # the green lists hash the previous tokens
            bias = partial(self.watermark.bias, prev_ids=prev)
        nxt = choose(logits, self.seen, self.sampling, self.generator, bias)  # (n,)
        if self.eos_id is not None:
            nxt = nxt.masked_fill(self.done, self.eos_id)
            self.done |= nxt == self.eos_id
        # probabilities as the model gives them (softmax at temperature 1, before any processing)
        probs = logits.softmax(-1)
        self.chosen_p[:, self.t] = probs.gather(1, nxt[:, None])[:, 0]
        top = probs.topk(TOP)
        self.top_probs[:, self.t], self.top_ids[:, self.t] = top.values, top.indices
        self.seen[torch.arange(self.n, device=nxt.device), nxt] = True
        self.last, self.t, self.prev = nxt, self.t + 1, nxt.tolist()
        return self.prev

    def all_done(self) -> bool:
        return bool(self.done.all())

    def records(self, i: int, length: int) -> tuple[list[float], list[list[int]], list[list[float]]]:
        """Alternative i's first `length` steps: chosen-token probability, top ids, top probabilities."""
        return (self.chosen_p[i, :length].tolist(), self.top_ids[i, :length].tolist(),
                self.top_probs[i, :length].tolist())


class Detokenizer:
    """The text of a growing token list, decoding only the tokens after the last complete character.

    Byte-level BPE (every model here) decodes by concatenating bytes, so text up to a character boundary
    never changes; a decoded tail that ends in U+FFFD is an incomplete character and is held back.
    """

    def __init__(self, decode: Callable[[list[int]], str], eos_id: int | None, eos_text: str = ""):
        self.decode, self.eos_id, self.eos_text = decode, eos_id, eos_text
        self.ids: list[int] = []
        self.pieces: list[str] = []  # what each token added to `text`
        self.text, self._start = "", 0

    def ended(self) -> bool:
        return bool(self.ids) and self.ids[-1] == self.eos_id

    def add(self, token: int) -> None:
        self.ids.append(token)
        if token == self.eos_id:
            self.pieces.append(self.eos_text)
            return
        tail = self.decode(self.ids[self._start:])
        if tail.endswith("\ufffd"):
            self.pieces.append("")
            return
        self.pieces.append(tail)
        self.text, self._start = self.text + tail, len(self.ids)

    def final_text(self) -> str:
        """All of it, an incomplete last character included (as U+FFFD)."""
        return self.text + self.decode(self.ids[self._start:])
