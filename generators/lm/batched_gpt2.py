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

import functools
from typing import List, Optional, Union

import torch
import torch.nn.functional as F

from generators.lm.gpt2_fast import FastGpt2, KVCache
from generators.runtime.traced import tracing

ALIGN = 32  # attention lengths are multiples of this: a row's softmax runs the same vector loop alone or padded


def _linear(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor], onednn: bool) -> torch.Tensor:
    """x (B, in) -> x @ W + b. oneDNN with a prepacked weight computes each row the same whatever B (measured);
    elsewhere addmm with W as (in, out), made invariant by padding every step to one shape."""
    if onednn:
        scalars: List[Optional[Union[int, float, complex]]] = []
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", scalars, "")
    return torch.addmm(b, x, w) if b is not None else x @ w


def _step(ids: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, wte: torch.Tensor,
          wpe: torch.Tensor, layers: List[List[torch.Tensor]], ln_f: List[torch.Tensor], lm_head: torch.Tensor,
          arange: torch.Tensor, nh: int, eps: float, T: int, onednn: bool) -> torch.Tensor:
    """One decoding step of B rows: ids (B,) at positions pos (B,), K/V written into the rows' cache slots, attention
    over the first T positions -> logits (B, V). Each layer's tensors: ln_1 weight and bias, c_attn W and b, c_proj W
    and b, ln_2 weight and bias, c_fc W and b, the MLP's c_proj W and b (W packed for oneDNN, else (in, out))."""
    B, C = ids.shape[0], wte.shape[1]
    hs = C // nh
    mask = torch.zeros(B, 1, 1, T, device=ids.device)
    mask.masked_fill_((arange[:T] > pos[:, None])[:, None, None], float("-inf"))  # (B, 1, 1, T)
    x = wte[ids] + wpe[pos]  # (B, C)
    rows = arange[:B]
    for i in range(len(layers)):
        w = layers[i]
        h = F.layer_norm(x, [C], w[0], w[1], eps)
        qkv = _linear(h, w[2], w[3], onednn).view(B, 3, nh, hs)
        k_cache[i, rows, :, pos], v_cache[i, rows, :, pos] = qkv[:, 1], qkv[:, 2]
        att = qkv[:, 0, :, None] @ k_cache[i, :B, :, :T].transpose(-1, -2)  # (B, nh, 1, T)
        att = (att * hs ** -0.5 + mask).softmax(-1)
        y = (att @ v_cache[i, :B, :, :T]).view(B, C)  # (B, nh, 1, hs) -> (B, C)
        x = x + _linear(y, w[4], w[5], onednn)
        h = F.layer_norm(x, [C], w[6], w[7], eps)
        x = x + _linear(F.gelu(_linear(h, w[8], w[9], onednn), approximate="tanh"), w[10], w[11], onednn)
    x = F.layer_norm(x, [C], ln_f[0], ln_f[1], eps)
    return _linear(x, lm_head, None, onednn)


def step_graph(script: bool):
    """`_step` as one TorchScript call that runs every op with the GIL released (generators/runtime/traced.py says why it
    matters under load: a 16-row step took 3.8 ms alone and 585 ms beside one busy Python thread in eager mode, 3.5
    and 63 ms scripted), compiled once a process; `_step` itself when `script` is False or scripting fails."""
    return _scripted() if script else _step


@functools.cache
def _scripted():
    try:
        return torch.jit.script(_step)
    except Exception:  # noqa: BLE001 - the eager function computes the same
        return _step


class BatchedGpt2:
    """FastGpt2's arithmetic for B rows at their own positions, over per-row cache slots (rows 0..B-1)."""

    def __init__(self, fast: FastGpt2, rows: int, onednn: bool):
        self.fast, self.nh, self.C, self.eps, self.onednn = fast, fast.n_head, fast.n_embd, fast.eps, onednn
        slot = -(-fast.max_len // ALIGN) * ALIGN
        shape = (len(fast.layers), rows, self.nh, slot, self.C // self.nh)  # (L, R, nh, T, hs), FastGpt2's layout
        self.k, self.v = fast.wte.new_zeros(shape), fast.wte.new_zeros(shape)  # finite: masked slots get 0 weight
        self.pad_to = 0 if onednn else rows
        pack = (lambda w: torch.ops.mkldnn._reorder_linear_weight(w.T.contiguous(), None)) if onednn else (lambda w: w)
        self.layers = [[ln1_w, ln1_b, pack(aw), ab, pack(pw), pb, ln2_w, ln2_b, pack(fw), fb, pack(ow), ob]
                       for ln1_w, ln1_b, aw, ab, pw, pb, ln2_w, ln2_b, fw, fb, ow, ob in fast.layers]
        self.lm_head, self.ln_f = pack(fast.lm_head_t), list(fast.ln_f)
        self.arange = torch.arange(max(rows, slot), device=fast.wte.device)
        self._graph = step_graph(tracing() and fast.wte.device.type == "cpu")

    @property
    def rows(self) -> int:
        return self.k.shape[1]

    def prefill(self, ids: torch.Tensor, row: int, n: int) -> torch.Tensor:
        """ids (1, T) into rows row..row+n-1 (computed once, as TextContinuation does) -> logits (1, V)."""
        return self.fast(ids, KVCache(self.k[:, row:row + n], self.v[:, row:row + n]))

    def step(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """ids (B,) at positions pos (B,) of rows 0..B-1 -> logits (B, V)."""
        B = ids.shape[0]
        size = self.size(B)
        if size > B:  # padding rows write position 0 of free slots, which a prefill overwrites
            ids, pos = F.pad(ids, (0, size - B)), F.pad(pos, (0, size - B))
        T = min(-(-(int(pos.max()) + 1) // ALIGN) * ALIGN, self.k.shape[3])
        return self._graph(ids, pos, self.k, self.v, self.fast.wte, self.fast.wpe, self.layers, self.ln_f,
                           self.lm_head, self.arange, self.nh, self.eps, T, self.onednn)[:B]  # (B, V)

    def size(self, B: int) -> int:
        """The rows a step of B live rows computes: all of them when padded; else B rounded up to a multiple of 4
        (1 and 2 as they are). oneDNN keeps ~2.8 MB of kernels for each batch shape it has run (the app's heap grew
        by that with each new B under load: +85 MB for all 32); 10 shapes instead of 32, and a row gets the same
        logits either way. A step of 3 rows took 1.28 ms and of 4, 0.93; of 17, 2.15 and of 20, 2.64."""
        return self.pad_to or (B if B <= 2 else min(self.rows, -(-B // 4) * 4))

    @torch.inference_mode()
    def warm(self) -> None:
        """One decoding step at every shape step() computes: oneDNN builds (and keeps) its kernels for each now,
        not under the first room of users. It writes the cache: only while no row is live."""
        for B in sorted({self.size(b) for b in range(1, self.rows + 1)}):
            zeros = torch.zeros(B, dtype=torch.long, device=self.k.device)
            self.step(zeros, zeros)
        self.k.zero_(), self.v.zero_()

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
