"""Continuous batching for the lean GPT-2: one decoding thread per loaded model serves every request.

Requests join the running batch at the next token boundary and leave when finished or cancelled
(iteration-level scheduling: Yu et al. 2022, "Orca", OSDI). Each row owns a slot of a preallocated KV
cache and has its own position and sampling settings. A prompt is computed alone by FastGpt2 (as
TextContinuation computes it); the decoding steps of all rows then run as one batch.

Batch invariance: a request gives the same tokens whether it runs alone or among others, because no
kernel computes a row differently when the batch around it changes:
- linear layers run on oneDNN with prepacked weights: MKL's sgemm (behind torch.addmm) changes its
  kernel at 4 rows and again with 2 threads, so a row's logits moved in the last bits with the batch;
- attention is matmul + masked softmax over a length rounded up to ALIGN: the CPU flash kernel
  (scaled_dot_product_attention) splits its work differently at batch 1 with 2 threads;
- sampling is row-wise, and each request draws from its own torch.Generator exactly the numbers
  torch.multinomial draws (argmax(p / q), q ~ Exp(1); aten/src/ATen/native/Distributions.cpp).
The engine checks this on its own weights at start; where it fails (or off CPU) every step is padded
to `max_rows` rows, so every kernel sees one shape.

    engine = engine_for(lm.fast, tokenizer.eos_token_id)
    with engine.submit(ids, n=2, max_new=20, sampling=Sampling(), seed=1) as gen:
        for step in gen:  # one Step per token; step.tokens[i] is alternative i's token
            ...           # leaving the loop early cancels: the rows leave at the next step
"""

import queue
import threading
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generators.gpt2_fast import FastGpt2, KVCache
from generators.text_decoding import TOP, Sampling, filter_top_k, filter_top_p

ALIGN = 32  # attention lengths are multiples of this: a row's softmax runs the same vector loop alone or padded
CACHE_BYTES = 1 << 30  # the KV cache's budget; it bounds max_rows for large models
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
        self.next_u = None  # engine thread: the next step's uniforms, being drawn on the helper thread
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
        """Cancels the request; its rows leave the batch before the next step. Idempotent."""
        self.cancelled = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _linear(w_in_out: torch.Tensor, bias: torch.Tensor | None, onednn: bool):
    """x (B, in) -> x @ W + b. oneDNN with a prepacked weight computes each row the same whatever B (measured);
    elsewhere addmm, made invariant by padding every step to one shape."""
    if onednn:
        packed = torch.ops.mkldnn._reorder_linear_weight(w_in_out.T.contiguous(), None)
        return lambda x: torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
    return (lambda x: torch.addmm(bias, x, w_in_out)) if bias is not None else (lambda x: x @ w_in_out)


class BatchedGpt2:
    """FastGpt2's arithmetic for B rows at their own positions, over per-row cache slots (rows 0..B-1)."""

    def __init__(self, fast: FastGpt2, rows: int, onednn: bool):
        self.fast, self.nh, self.C, self.eps = fast, fast.n_head, fast.n_embd, fast.eps
        slot = -(-fast.max_len // ALIGN) * ALIGN
        shape = (len(fast.layers), rows, self.nh, slot, self.C // self.nh)  # (L, R, nh, T, hs), FastGpt2's layout
        self.k, self.v = fast.wte.new_zeros(shape), fast.wte.new_zeros(shape)  # finite: masked slots get 0 weight
        self.scale = (self.C // self.nh) ** -0.5
        self.pad_to = 0 if onednn else rows
        self.layers = [(ln1_w, ln1_b, _linear(aw, ab, onednn), _linear(pw, pb, onednn), ln2_w, ln2_b,
                        _linear(fw, fb, onednn), _linear(ow, ob, onednn))
                       for ln1_w, ln1_b, aw, ab, pw, pb, ln2_w, ln2_b, fw, fb, ow, ob in fast.layers]
        self.lm_head = _linear(fast.lm_head_t, None, onednn)
        self.arange = torch.arange(max(rows, slot), device=fast.wte.device)

    def prefill(self, ids: torch.Tensor, row: int, n: int) -> torch.Tensor:
        """ids (1, T) into rows row..row+n-1 (computed once, as TextContinuation does) -> logits (1, V)."""
        return self.fast(ids, KVCache(self.k[:, row:row + n], self.v[:, row:row + n]))

    def step(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """ids (B,) at positions pos (B,) of rows 0..B-1 -> logits (B, V)."""
        B = ids.shape[0]
        if self.pad_to > B:  # padding rows write position 0 of free slots, which a prefill overwrites
            ids, pos = F.pad(ids, (0, self.pad_to - B)), F.pad(pos, (0, self.pad_to - B))
        T = min(-(-(int(pos.max()) + 1) // ALIGN) * ALIGN, self.k.shape[3])
        mask = torch.zeros(ids.shape[0], 1, 1, T, device=ids.device)
        mask.masked_fill_((self.arange[:T] > pos[:, None])[:, None, None], float("-inf"))  # (B', 1, 1, T)
        x = self.fast.wte[ids] + self.fast.wpe[pos]  # (B', C)
        for i, layer in enumerate(self.layers):
            x = self._block(x, i, layer, pos, mask, T)
        x = F.layer_norm(x, (self.C,), *self.fast.ln_f, self.eps)
        return self.lm_head(x)[:B]  # (B, V)

    def _block(self, x, i, layer, pos, mask, T) -> torch.Tensor:
        ln1_w, ln1_b, attn, proj, ln2_w, ln2_b, fc, out = layer
        B, C, nh = x.shape[0], self.C, self.nh
        h = F.layer_norm(x, (C,), ln1_w, ln1_b, self.eps)
        q, k, v = attn(h).view(B, 3, nh, C // nh).unbind(1)  # each (B, nh, hs)
        rows = self.arange[:B]
        self.k[i, rows, :, pos], self.v[i, rows, :, pos] = k, v
        att = q[:, :, None] @ self.k[i, :B, :, :T].transpose(-1, -2)  # (B, nh, 1, T)
        att = (att * self.scale + mask).softmax(-1)
        y = (att @ self.v[i, :B, :, :T]).view(B, C)  # (B, nh, 1, hs) -> (B, C)
        x = x + proj(y)
        h = F.layer_norm(x, (C,), ln2_w, ln2_b, self.eps)
        return x + out(F.gelu(fc(h), approximate="tanh"))


class _Rows:
    """Per-row decoding state in preallocated buffers; the engine keeps live rows at 0..B-1."""

    def __init__(self, rows: int, slot: int, device):
        z = lambda dtype: torch.zeros(rows, dtype=dtype, device=device)  # noqa: E731
        self.last, self.length, self.top_k = z(torch.long), z(torch.long), z(torch.long)
        self.temperature, self.p_floor, self.penalty = z(torch.float), z(torch.float), z(torch.float)
        self.done = z(torch.bool)
        self.seq = torch.zeros(rows, slot, dtype=torch.long, device=device)  # (R, T) prompt + tokens so far

    def start(self, r: slice, prompt: torch.Tensor, s: Sampling) -> None:
        self.length[r], self.done[r] = prompt.shape[1], False
        self.seq[r] = prompt[0, 0]  # past a row's length: its first token again, a harmless repeat
        self.seq[r, :prompt.shape[1]] = prompt[0]
        self.temperature[r], self.top_k[r] = s.temperature, s.top_k
        self.p_floor[r] = 1 - s.top_p if s.top_p < 1 else -1.0  # cum <= p_floor is dropped; -1: never
        self.penalty[r] = s.repetition_penalty

    def move(self, src: torch.Tensor, dst: torch.Tensor) -> None:
        for t in vars(self).values():
            t[dst] = t[src]


def _candidates(y: torch.Tensor, k: torch.Tensor, p_floor: torch.Tensor):
    """filter_top_k then filter_top_p (text_decoding) for rows that all have a top-k, on their top-c logits only.

    Returns the candidate ids (B, c) in increasing order and the filtered rows (B, V), the very numbers
    filter_top_p(filter_top_k(y)) gives (-inf elsewhere); None where equal logits reach past the c-th place."""
    B, V = y.shape
    c = int(k.max())
    top = torch.topk(y, min(c + 1, V))  # (B, c + 1), largest first
    vals, idx = top.values[:, :c], top.indices[:, :c]
    kth = vals.gather(1, k[:, None] - 1)  # (B, 1)
    if c < V and bool((top.values[:, c:] >= kth).any()):
        return None
    vals = torch.where(vals >= kth, vals, float("-inf"))  # each row's own k (ties at the k-th kept)
    if bool((p_floor >= 0).any()):
        vals = _top_p(vals, idx, p_floor, V)
    filtered = y.new_full((B, V), float("-inf")).scatter_(1, idx, vals)
    return idx.sort(-1).values, filtered  # increasing ids: argmax then keeps multinomial's lowest-id rule


def _top_p(vals: torch.Tensor, idx: torch.Tensor, p_floor: torch.Tensor, V: int) -> torch.Tensor:
    """Nucleus filtering of the candidates: the ascending sort of a whole top-k-filtered row is -inf but for its
    last c places, so those c places give the same softmax and cumulative sums. Equal logits at the boundary:
    the lowest id stays (filter_top_p's torch.sort, being unstable, leaves it to chance)."""
    B, c = vals.shape
    by_id = idx.argsort(-1, descending=True)
    ascending, order = torch.sort(vals.gather(1, by_id), stable=True)  # (B, c)
    full = vals.new_full((B, V), float("-inf"))
    full[:, V - c:] = ascending
    cum = full.softmax(-1)[:, V - c:].cumsum(-1)  # the -inf prefix adds exact zeros
    drop = cum <= p_floor[:, None]
    drop[:, -1] = False  # the most likely token always stays
    return vals.scatter(1, by_id.gather(1, order), torch.where(drop, float("-inf"), ascending))


def _uniforms(generator: torch.Generator, n: int, vocab: int) -> torch.Tensor:
    """The float64 uniforms torch.multinomial draws from `generator` for n rows of vocab probabilities, in order
    (its exponential noise is -log1p(-u) of these: aten Distributions.cpp, cpu/DistributionTemplates.h)."""
    return torch.empty(n, vocab, dtype=torch.float64).uniform_(generator=generator)


def _pick(probs: torch.Tensor, u: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
    """torch.multinomial(probs, 1)[:, 0] given its uniforms u (n, V): argmax(probs / q), q = -log1p(-u).
    probs may be (n, c) at the increasing ids idx (n, c), every other probability 0: q is then computed
    only there, and the lowest id still wins an exact tie."""
    u = u if idx is None else u.gather(1, idx)
    best = (probs / (-torch.log1p(-u)).float()).argmax(-1)
    return best if idx is None else idx.gather(1, best[:, None])[:, 0]


class DecodingEngine:
    """One decoding thread for one model, shared by every request; see the module docstring."""

    def __init__(self, fast: FastGpt2, eos_id: int | None, *, max_rows: int = 32, pad: bool | None = None):
        self.fast, self.eos_id, self.device = fast, eos_id, fast.wte.device
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
        self.rows = _Rows(self.max_rows, self.net.k.shape[3], self.device)
        self._owner: list[Generation] = []  # row -> its request; rows 0..len-1 are live
        self._live: list[Generation] = []
        self._waiting: deque[Generation] = deque()
        self._cond, self._thread, self._closed = threading.Condition(), None, False
        self._rng = ThreadPoolExecutor(1, thread_name_prefix="text-engine-rng")  # draws a step ahead

    def submit(self, prompt_ids, *, n: int = 1, max_new: int, sampling: Sampling, seed: int | None = None,
               generator: torch.Generator | None = None, watermark=None) -> Generation:
        """Queues a request; it joins the batch at the next token boundary with a free row per alternative.

        prompt_ids: a list of ids or a (1, T) tensor. The draws come from `generator`, or one seeded with `seed`
        (SamplingLoop's: the same seed gives the same tokens). `watermark`: a generators.watermark.Watermark
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

    def close(self) -> None:
        """Ends every request and stops the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        self._rng.shutdown()
        for gen in [*self._live, *self._waiting]:
            gen._queue.put(_END)

    @torch.inference_mode()
    def batch_invariant(self) -> bool:
        """Whether a decoding step gives a row the same logits alone as in a full batch, bit for bit (random
        tokens, positions and cache contents, the first and last rows). Only while no request is live: it uses
        the cache."""
        g = torch.Generator(self.device).manual_seed(0)
        R, net = self.max_rows, self.net
        ids = torch.randint(0, self.vocab, (R,), generator=g, device=self.device)
        pos = torch.randint(0, min(self.context, 3 * ALIGN), (R,), generator=g, device=self.device)
        base = [torch.randn(t[:, :1].shape, generator=g, device=self.device) for t in (net.k, net.v)]
        net.k[:], net.v[:] = base
        full = net.step(ids, pos)
        ok = True
        for r in {0, R - 1}:
            net.k[:], net.v[:] = base
            ok &= torch.equal(net.step(ids[r:r + 1], pos[r:r + 1])[0], full[r])
        net.k.zero_(), net.v.zero_()
        return ok

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not (self._waiting or self._live or self._closed):
                        self._cond.wait()
                    if self._closed:
                        return
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
        self._deliver(logits, *self._choose(logits))

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

    def _choose(self, logits: torch.Tensor):
        """Next tokens for all rows, text_decoding.choose() with per-row settings: logits (B, V) -> tokens (B,)."""
        B, st = logits.shape[0], self.rows
        x = self._penalised(logits)
        tokens = torch.zeros(B, dtype=torch.long, device=logits.device)
        greedy = [g for g in self._live if g.sampling.temperature == 0]
        if greedy:
            rows = [r for g in greedy for r in g.rows]
            tokens[rows] = _watermarked(x[rows], greedy).argmax(-1)
        sampled = [g for g in self._live if g.sampling.temperature > 0]
        top_k = [g for g in sampled if 0 < g.sampling.top_k < self.vocab]
        if top_k and self._sample_top_k(x, top_k, tokens):
            sampled = [g for g in sampled if g not in top_k]
        for g in sampled:  # no top-k (or equal logits at the k-th place): today's filters, on this request alone
            s = g.sampling
            y = filter_top_p(filter_top_k(x[g.rows] / s.temperature, s.top_k), s.top_p)
            tokens[g.rows] = self._draw(g, _watermarked(y, [g]).softmax(-1))
        if self.eos_id is not None:  # a finished alternative keeps repeating EOS, as in SamplingLoop
            tokens = tokens.masked_fill(st.done[:B], self.eos_id)
            st.done[:B] |= tokens == self.eos_id
        st.seq[self.net.arange[:B], st.length[:B]] = tokens  # where each token will be fed
        st.last[:B] = tokens
        probs = logits.softmax(-1)  # the model's own distribution, for the records
        top = probs.topk(TOP)
        return tokens, probs.gather(1, tokens[:, None])[:, 0], top.indices, top.values

    def _penalised(self, x: torch.Tensor) -> torch.Tensor:
        """penalise_repeats on every row, by index: each row's tokens so far are gathered, penalised, put back."""
        st, B = self.rows, x.shape[0]
        seq = st.seq[:B, :int(st.length[:B].max())]  # (B, T)
        seen, pen = x.gather(1, seq), st.penalty[:B, None]
        return x.scatter(1, seq, torch.where(seen < 0, seen * pen, seen / pen))

    def _sample_top_k(self, x: torch.Tensor, gens: list[Generation], tokens: torch.Tensor) -> bool:
        """Samples the rows of requests with a top-k together, on their candidates; False if it could not."""
        st = self.rows
        rows = [r for g in gens for r in g.rows]
        idx = torch.tensor(rows, device=x.device)
        y = (x if rows == list(range(x.shape[0])) else x[idx]) / st.temperature[idx, None]
        found = _candidates(y, st.top_k[idx], st.p_floor[idx])
        if found is None:
            return False
        ids, filtered = found
        probs = _watermarked(filtered, gens).softmax(-1).gather(1, ids)
        if x.device.type != "cpu":
            full = probs.new_zeros(probs.shape[0], self.vocab).scatter_(1, ids, probs)
            tokens[idx] = torch.cat([self._draw(g, full[at:at + g.n]) for g, at in zip(gens, _offsets(gens))])
        else:  # every request's own uniforms, then one multinomial step for all rows
            tokens[idx] = _pick(probs, torch.cat([self._noise(g) for g in gens]), ids)
        return True

    def _noise(self, g: Generation) -> torch.Tensor:
        """Request g's uniforms for this step, drawn during the previous one on the helper thread."""
        u = g.next_u.result() if g.next_u is not None else _uniforms(g.generator, g.n, self.vocab)
        more = g.sent + 1 < g.max_new
        g.next_u = self._rng.submit(_uniforms, g.generator, g.n, self.vocab) if more else None
        return u

    def _draw(self, g: Generation, probs: torch.Tensor) -> torch.Tensor:
        """torch.multinomial(probs, 1)[:, 0] from request g's generator (probs (n, V))."""
        if probs.device.type != "cpu":
            return torch.multinomial(probs, 1, generator=g.generator)[:, 0]
        return _pick(probs, self._noise(g))

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


def _watermarked(x: torch.Tensor, gens: list[Generation]) -> torch.Tensor:
    """x (the rows of gens, stacked in order; changed in place) with each watermarked request's green-list bias
    on its rows, which text_decoding.choose() adds last, just before the draw (a filtered -inf stays -inf)."""
    for g, at in zip(gens, _offsets(gens)):
        if g.watermark is not None:
            x[at:at + g.n] = g.watermark.bias(x[at:at + g.n], g.prev)
    return x


def _offsets(gens: list[Generation]) -> list[int]:
    """Where each request's rows start when their rows are stacked in this order."""
    out, at = [], 0
    for g in gens:
        out.append(at)
        at += g.n
    return out


_ENGINES: dict[tuple[int, int | None], DecodingEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(fast: FastGpt2, eos_id: int | None, **kwargs) -> DecodingEngine:
    """The engine of a loaded model, created on first use (with `kwargs`) and shared by every request."""
    key = (id(fast), eos_id)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = DecodingEngine(fast, eos_id, **kwargs)
        return _ENGINES[key]
