"""Sampling for a batch of rows that belong to different requests, each with its own settings and generator:
text_decoding.choose() row by row, as tensor ops over the batch (temperature, top-k, top-p and the repetition
penalty as per-row tensors).

Each request draws from its own torch.Generator exactly the numbers text_decoding.draw() draws (one uniform per
token its filters left, in increasing id order), so its tokens do not depend on the rows around it.
"""

import torch

from generators.lm.text_decoding import TOP, Sampling, draw, filter_top_k, filter_top_p, pick, uniforms


class RowState:
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


def candidates(y: torch.Tensor, k: torch.Tensor, p_floor: torch.Tensor):
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


class BatchSampler:
    """Chooses the next token of every row; `rows` holds the per-row settings and sequences so far. A request
    (engine.Generation) brings its rows, `sampling`, `generator`, `watermark` and the last tokens `prev`."""

    def __init__(self, rows: RowState, vocab: int, eos_id: int | None):
        self.rows, self.vocab, self.eos_id = rows, vocab, eos_id
        self.arange = torch.arange(rows.seq.shape[0], device=rows.seq.device)

    def choose(self, logits: torch.Tensor, live: list) -> tuple[torch.Tensor, ...]:
        """Next tokens for all rows, text_decoding.choose() with per-row settings: logits (B, V) of the rows of the
        requests `live` -> tokens (B,), each one's model probability (B,), the top ids and probabilities (B, TOP)."""
        B, st = logits.shape[0], self.rows
        x = self._penalised(logits)
        tokens = torch.zeros(B, dtype=torch.long, device=logits.device)
        greedy = [g for g in live if g.sampling.temperature == 0]
        if greedy:
            rows = [r for g in greedy for r in g.rows]
            tokens[rows] = watermarked(x[rows], greedy).argmax(-1)
        sampled = [g for g in live if g.sampling.temperature > 0]
        top_k = [g for g in sampled if 0 < g.sampling.top_k < self.vocab]
        if top_k and self._sample_top_k(x, top_k, tokens):
            sampled = [g for g in sampled if g not in top_k]
        for g in sampled:  # no top-k (or equal logits at the k-th place): today's filters, on this request alone
            s = g.sampling
            y = filter_top_p(filter_top_k(x[g.rows] / s.temperature, s.top_k), s.top_p)
            tokens[g.rows] = draw(watermarked(y, [g]), g.generator)
        if self.eos_id is not None:  # a finished alternative keeps repeating EOS, as in SamplingLoop
            tokens = tokens.masked_fill(st.done[:B], self.eos_id)
            st.done[:B] |= tokens == self.eos_id
        st.seq[self.arange[:B], st.length[:B]] = tokens  # where each token will be fed
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

    def _sample_top_k(self, x: torch.Tensor, gens: list, tokens: torch.Tensor) -> bool:
        """Samples the rows of requests with a top-k together, on their candidates; False if it could not."""
        st = self.rows
        rows = [r for g in gens for r in g.rows]
        idx = torch.tensor(rows, device=x.device)
        y = (x if rows == list(range(x.shape[0])) else x[idx]) / st.temperature[idx, None]
        found = candidates(y, st.top_k[idx], st.p_floor[idx])
        if found is None:
            return False
        ids, filtered = found
        filtered = watermarked(filtered, gens)
        probs = filtered.softmax(-1).gather(1, ids)  # (B, c), at the increasing ids
        if x.device.type != "cpu":
            full = probs.new_zeros(probs.shape[0], self.vocab).scatter_(1, ids, probs)
            tokens[idx] = torch.cat([torch.multinomial(full[at:at + g.n], 1, generator=g.generator)[:, 0]
                                     for g, at in zip(gens, offsets(gens))])
            return True
        # text_decoding.draw()'s numbers: each request's uniforms for its possible tokens, rows in order, ids
        # increasing; a boolean assignment fills in that same order
        possible = torch.isfinite(filtered.gather(1, ids))
        per_row = possible.sum(1).tolist()
        u = torch.full(ids.shape, 0.5, dtype=torch.float64)
        u[possible] = torch.cat([uniforms(g.generator, sum(per_row[at:at + g.n]))
                                 for g, at in zip(gens, offsets(gens))])
        tokens[idx] = pick(probs, u, ids)
        return True


def watermarked(x: torch.Tensor, gens: list) -> torch.Tensor:
    """x (the rows of gens, stacked in order; changed in place) with each watermarked request's green-list bias
    on its rows, which text_decoding.choose() adds last, just before the draw (a filtered -inf stays -inf)."""
    for g, at in zip(gens, offsets(gens)):
        if g.watermark is not None:
            x[at:at + g.n] = g.watermark.bias(x[at:at + g.n], g.prev)
    return x


def offsets(gens: list) -> list[int]:
    """Where each request's rows start when their rows are stacked in this order."""
    out, at = [], 0
    for g in gens:
        out.append(at)
        at += g.n
    return out

