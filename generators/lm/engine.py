"""Continuous batching for the lean GPT-2: one decoding thread per loaded model serves every request.

Requests join the running batch at the next token boundary and leave when finished or cancelled
(iteration-level scheduling: Yu et al. 2022, "Orca", OSDI). Each row owns a slot of a preallocated KV
cache and has its own position and sampling settings. A prompt is computed alone by FastGpt2 (as
TextContinuation computes it); the decoding steps of all rows then run as one batch.

Three parts: the batched model (generators/lm/batched_gpt2.py: its kernels give a row the same logits alone or in a
batch, checked at start; padded to one shape where they do not), the batched sampler
(generators/lm/batch_sampling.py: every request draws from its own generator) and the scheduler here (who joins,
who leaves, rows kept packed at 0..B-1).

    engine = engine_for(lm.fast, tokenizer.eos_token_id)
    with engine.submit(ids, n=2, max_new=20, sampling=Sampling(), seed=1) as gen:
        for step in gen:  # one Step per token; step.tokens[i] is alternative i's token
            ...           # leaving the loop early cancels: the rows leave at the next step
"""

import queue
import threading
import warnings
from collections import deque
from dataclasses import dataclass

import torch

from generators.lm.batch_sampling import BatchSampler, RowState
from generators.lm.batched_gpt2 import ALIGN, BatchedGpt2
from generators.lm.gpt2_fast import FastGpt2
from generators.lm.text_decoding import Sampling

MAX_ROWS = 32  # rows in one batch (alternatives of all requests); more requests wait for a free row
CACHE_BYTES = 1 << 30  # the KV cache's budget; it bounds max_rows for large models
# rows of an adapter's engine: a fine-tune is one visitor's, and each cached adapter keeps its KV cache, so the
# LoRA cache's memory stays a few MB an adapter instead of the shared engine's (docs/deploy.md, Bounds)
TRANSIENT_ROWS = 4
_END = object()



@dataclass(frozen=True)
class Step:
    """One decoding step of one request: for each alternative, the chosen token, its probability and the
    top-5 (ids, probabilities), from the model's softmax at temperature 1 before any processing."""
    tokens: list[int]
    probs: list[float]
    top_ids: list[list[int]]
    top_probs: list[list[float]]


class Generation:
    """A submitted request. Iterate it for its Steps; `close()` (or leaving a `with` block or the loop)
    cancels it. `step()`, `all_done()` and `records()` are SamplingLoop's interface, so either can
    drive TextContinuation."""

    def __init__(self, engine, prompt_ids: list[int], n: int, max_new: int, sampling: Sampling,
                 generator: torch.Generator, watermark):
        self.engine, self.n, self.max_new, self.sampling = engine, n, max_new, sampling
        self.prompt = torch.tensor([prompt_ids], device=engine.device)  # (1, T)
        self.generator, self.watermark = generator, watermark
        self.prev = [prompt_ids[-1]] * n  # engine thread: each alternative's last token, what green lists hash
        self.rows: list[int] = []  # engine thread: the cache row of each alternative
        self.sent, self.ended = 0, [False] * n  # engine thread: steps delivered, alternatives at EOS
        self.cancelled = False
        self._queue, self._steps, self._over = queue.SimpleQueue(), [], False
        self._got_eos = [False] * n  # consumer side: alternatives whose EOS was taken

    def next_step(self) -> Step | None:
        """Waits for the next Step; None once the request is over (all alternatives ended, max_new, or closed)."""
        if self._over:
            return None
        item = self._queue.get()
        if item is _END or isinstance(item, BaseException):
            self._over = True
            if item is _END:
                return None
            raise item
        self._steps.append(item)
        eos = self.engine.eos_id
        self._got_eos = [e or t == eos for e, t in zip(self._got_eos, item.tokens)]
        return item

    def __iter__(self):
        try:
            while (step := self.next_step()) is not None:
                yield step
        finally:
            self.close()

    def step(self) -> list[int]:
        """SamplingLoop.step(): the next token of each alternative."""
        step = self.next_step()
        if step is None:
            raise RuntimeError("this request has ended")
        return step.tokens

    def all_done(self) -> bool:
        """SamplingLoop.all_done(): every alternative has produced EOS."""
        return all(self._got_eos)

    def records(self, i: int, length: int) -> tuple[list[float], list[list[int]], list[list[float]]]:
        """Alternative i's first `length` steps: chosen-token probability, top ids, top probabilities."""
        steps = self._steps[:length]
        return [s.probs[i] for s in steps], [s.top_ids[i] for s in steps], [s.top_probs[i] for s in steps]

    def close(self) -> None:
        """Cancels the request; its rows leave the batch at once (the engine thread's next step). Idempotent."""
        self.cancelled = True
        with self.engine._cond:
            self.engine._cond.notify()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DecodingEngine:
    """One decoding thread for one model, shared by every request; see the module docstring."""

    def __init__(self, fast: FastGpt2, eos_id: int | None, *, max_rows: int = MAX_ROWS, pad: bool | None = None,
                 idle_exit: bool = False):
        self.fast, self.eos_id, self.device, self.idle_exit = fast, eos_id, fast.wte.device, idle_exit
        self.vocab, self.context = fast.wte.shape[0], fast.max_len
        row_bytes = 2 * len(fast.layers) * fast.n_embd * (fast.max_len + ALIGN) * fast.wte.element_size()
        self.max_rows = max(1, min(max_rows, CACHE_BYTES // row_bytes))
        onednn = self.device.type == "cpu" and torch.backends.mkldnn.is_available() and not pad
        with torch.inference_mode():
            self.net = BatchedGpt2(fast, self.max_rows, onednn)
            if onednn and not self.batch_invariant():
                self.net = BatchedGpt2(fast, self.max_rows, onednn=False)
            if not self.batch_invariant():
                warnings.warn("decoding engine: rows change with the batch here; a seed may not give the same "
                              "text alone and among others")
            self.net.warm()
        self.rows = RowState(self.max_rows, self.net.k.shape[3], self.device)
        self.sampler = BatchSampler(self.rows, self.vocab, eos_id)
        self._owner: list[Generation] = []  # row -> its request; rows 0..len-1 are live
        self._live: list[Generation] = []
        self._waiting: deque[Generation] = deque()
        self._cond, self._thread, self._closed = threading.Condition(), None, False

    def submit(self, prompt_ids, *, n: int = 1, max_new: int, sampling: Sampling, seed: int | None = None,
               generator: torch.Generator | None = None, watermark=None) -> Generation:
        """Queues a request; it joins the batch at the next token boundary with a free row per alternative.

        prompt_ids: a list of ids or a (1, T) tensor. The draws come from `generator`, or one seeded with `seed`
        (SamplingLoop's: the same seed gives the same tokens). `watermark`: a generators.provenance.watermark.Watermark
        biasing this request's logits, as in SamplingLoop."""
        if torch.is_tensor(prompt_ids):
            prompt_ids = prompt_ids[0].tolist()
        if generator is None:
            generator = torch.Generator(self.device).manual_seed(seed)
        if not 1 <= n <= self.max_rows or max_new < 1 or not prompt_ids:
            raise ValueError(f"need a prompt, 1 <= n <= {self.max_rows} and max_new >= 1")
        if len(prompt_ids) + max_new > self.context:
            raise ValueError(f"{len(prompt_ids)} + {max_new} tokens do not fit the context of {self.context}")
        gen = Generation(self, prompt_ids, n, max_new, sampling, generator, watermark)
        with self._cond:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self._waiting.append(gen)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="text-engine", daemon=True)
                self._thread.start()
            self._cond.notify()
        return gen

    def live_rows(self) -> int:
        """Rows in the running batch (a snapshot, for tests and benchmarks)."""
        return len(self._owner)

    def retire(self) -> None:
        """From now on the thread ends whenever no request is live or waiting (the requests in flight finish)."""
        with self._cond:
            self.idle_exit = True
            self._cond.notify()

    def running(self) -> bool:
        """Whether the engine's thread is alive (a snapshot, for tests)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self) -> None:
        """Ends every request and stops the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        for gen in [*self._live, *self._waiting]:
            gen._queue.put(_END)

    def batch_invariant(self) -> bool:
        """Whether a decoding step gives a row the same logits alone as in a full batch, bit for bit (see
        BatchedGpt2.is_batch_invariant). Only while no request is live: it uses the cache."""
        return self.net.is_batch_invariant(self.vocab, self.context)

    def _run(self) -> None:
        """The engine thread: steps the batch while any request is live or waiting, and releases cancelled
        requests at once. Every step runs here, a lone request's too: when a request's own thread stepped it while
        alone, each request thread that ever had (up to 32) kept the forward's per-thread memory, at no gain in one
        user's latency (bench_load; docs/results.md, "Where a room's memory went")."""
        while True:
            with self._cond:
                while not (self._closed or self._live or self._waiting):
                    if self.idle_exit:  # the next submit starts another thread; until then nothing holds us
                        self._thread = None
                        return
                    self._cond.wait()
                if self._closed:
                    return
            self._step()

    def _step(self) -> None:
        with torch.inference_mode():
            try:
                self._iteration()
            except Exception as e:  # noqa: BLE001 - every request in the batch gets the error
                for gen in self._live:
                    gen._queue.put(e)
                self._owner, self._live = [], []

    def _iteration(self) -> None:
        for gen in [g for g in self._live if g.cancelled]:
            self._release(gen)
        live = len(self._owner)
        joining = self._admit()
        parts = []
        if live:  # decoding first: in padded mode the padding rows write into the free rows
            parts.append(self.net.step(self.rows.last[:live], self.rows.length[:live]))
            self.rows.length[:live] += 1
        for gen in joining:
            parts.append(self.net.prefill(gen.prompt, gen.rows[0], gen.n).expand(gen.n, -1))
        if not parts:
            return
        logits = torch.cat(parts).float() if len(parts) > 1 else parts[0].float()  # (B, V)
        self._deliver(logits, *self.sampler.choose(logits, self._live))

    def _admit(self) -> list[Generation]:
        """Takes waiting requests, in order, while their alternatives fit the free rows."""
        joining = []
        with self._cond:
            while self._waiting:
                gen = self._waiting[0]
                if gen.cancelled:
                    self._waiting.popleft()._queue.put(_END)
                    continue
                if len(self._owner) + gen.n > self.max_rows:
                    break
                self._waiting.popleft()
                r = len(self._owner)
                gen.rows = list(range(r, r + gen.n))
                self._owner += [gen] * gen.n
                self._live.append(gen)
                self.rows.start(slice(r, r + gen.n), gen.prompt, gen.sampling)
                joining.append(gen)
        return joining

    def _deliver(self, logits, tokens, chosen, top_ids, top_probs) -> None:
        tokens, chosen, top_ids, top_probs = tokens.tolist(), chosen.tolist(), top_ids.tolist(), top_probs.tolist()
        for gen in self._live:
            r = gen.rows
            gen._queue.put(Step([tokens[i] for i in r], [chosen[i] for i in r], [top_ids[i] for i in r],
                                [top_probs[i] for i in r]))
            gen.sent, gen.prev = gen.sent + 1, [tokens[i] for i in r]
            gen.ended = [e or tokens[i] == self.eos_id for e, i in zip(gen.ended, r)]
        for gen in [g for g in self._live if g.sent == g.max_new or all(g.ended)]:
            self._release(gen)  # after delivering: releasing moves other requests' rows

    def _release(self, gen: Generation) -> None:
        """Ends a request and refills its rows with the last live rows, so rows 0..B-1 stay the live ones."""
        gen._queue.put(_END)
        mine, keep = set(gen.rows), len(self._owner) - gen.n
        holes = [r for r in sorted(mine) if r < keep]
        tail = [r for r in range(keep, len(self._owner)) if r not in mine]
        if holes:
            src, dst = torch.tensor(tail, device=self.device), torch.tensor(holes, device=self.device)
            self.rows.move(src, dst)
            self.net.k[:, dst], self.net.v[:, dst] = self.net.k[:, src], self.net.v[:, src]
            for s, d in zip(tail, holes):
                other = self._owner[d] = self._owner[s]
                other.rows[other.rows.index(s)] = d
        del self._owner[keep:]
        self._live.remove(gen)


_ENGINES: dict[tuple[int, int | None], DecodingEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(fast: FastGpt2, eos_id: int | None, **kwargs) -> DecodingEngine:
    """The engine of a loaded model, created on first use (with `kwargs`) and shared by every request.

    A model that may be dropped (`fast.transient`: an adapter's, generators/lm/lora.py) keeps its engine on itself,
    with a thread that ends whenever it is idle, so that engine, thread and KV cache go with the model: a registry
    here would keep each of them (about 76 MB and a thread an adapter) for the life of the process.
    """
    with _ENGINES_LOCK:
        if getattr(fast, "transient", False):
            engine = getattr(fast, "engine", None)
            if engine is None or engine.eos_id != eos_id:
                kwargs["max_rows"] = min(kwargs.get("max_rows", MAX_ROWS), TRANSIENT_ROWS)
                engine = fast.engine = DecodingEngine(fast, eos_id, idle_exit=True, **kwargs)
            return engine
        key = (id(fast), eos_id)
        if key not in _ENGINES:
            _ENGINES[key] = DecodingEngine(fast, eos_id, **kwargs)
        return _ENGINES[key]


def release(fast: FastGpt2 | None) -> None:
    """A transient model leaves its cache: its engine ends its thread after the requests in flight and is
    dropped (a request that still holds the model builds another, which goes the same way)."""
    with _ENGINES_LOCK:
        engine = fast.__dict__.pop("engine", None) if fast is not None else None
    if engine is not None:
        engine.retire()
