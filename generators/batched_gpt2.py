"""FastGpt2's arithmetic for a batch of rows, each at its own position in its own slot of one KV cache.

Batch invariance: a row's logits are the same, bit for bit, whether it runs alone or among others, because no
kernel computes a row differently when the batch around it changes:
- linear layers run on oneDNN with prepacked weights: MKL's sgemm (behind torch.addmm) changes its kernel at 4
  rows (a gemv below) and again with 2 threads, so a row's logits moved in the last bits with the batch;
- attention is matmul + masked softmax over a length rounded up to ALIGN: the CPU flash kernel
  (scaled_dot_product_attention) splits its work differently at batch 1 with 2 threads.
`is_batch_invariant()` checks this on the model's own weights; where it fails (or off CPU) the caller pads every
step to all rows (`pad=True`), so every kernel sees one shape.
"""

import torch
import torch.nn.functional as F

from generators.gpt2_fast import FastGpt2, KVCache

ALIGN = 32  # attention lengths are multiples of this: a row's softmax runs the same vector loop alone or padded


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

    @property
    def rows(self) -> int:
        return self.k.shape[1]

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

    @torch.inference_mode()
    def is_batch_invariant(self, vocab: int, context: int) -> bool:
        """Whether a decoding step gives a row the same logits alone as in a full batch, bit for bit (random
        tokens, positions and cache contents, the first and last rows). It overwrites the cache: only while no
        row is live."""
        device = self.k.device
        g = torch.Generator(device).manual_seed(0)
        R = self.rows
        ids = torch.randint(0, vocab, (R,), generator=g, device=device)
        pos = torch.randint(0, min(context, 3 * ALIGN), (R,), generator=g, device=device)
        base = [torch.randn(t[:, :1].shape, generator=g, device=device) for t in (self.k, self.v)]
        self.k[:], self.v[:] = base
        full = self.step(ids, pos)
        ok = True
        for r in {0, R - 1}:
            self.k[:], self.v[:] = base
            ok &= torch.equal(self.step(ids[r:r + 1], pos[r:r + 1])[0], full[r])
        self.k.zero_(), self.v.zero_()
        return ok
