"""A lean GPT-2 forward pass with a preallocated KV cache, reading the weights of a transformers GPT-2.

Why: on CPU a small GPT-2 spends most of each decoding step in Python overhead (cache objects, mask
building, output dataclasses), not in matmuls. This path does the same arithmetic as
`GPT2LMHeadModel` (Radford et al. 2019: pre-LayerNorm blocks, tanh-GELU MLP, tied embeddings)
with a handful of torch calls per layer. It reads the model's tensors (one transposed copy, below).
bench/bench_text.py measures it against `model.generate()`; tests check greedy tokens are identical.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def supports(model) -> bool:
    """True for the GPT-2 variants this path reproduces exactly (ours, gpt2, distilgpt2)."""
    c = model.config
    return (c.model_type == "gpt2" and c.activation_function == "gelu_new" and c.scale_attn_weights
            and not c.scale_attn_by_inverse_layer_idx and not c.reorder_and_upcast_attn
            and not getattr(c, "add_cross_attention", False))


@dataclass
class KVCache:
    """Keys and values of every layer, preallocated for the whole sequence."""
    k: torch.Tensor  # (L, B, nh, T_max, hs)
    v: torch.Tensor  # (L, B, nh, T_max, hs)
    length: int = 0  # positions filled so far


class FastGpt2:
    """`logits = FastGpt2(model)(ids, cache)`: next-token logits of the last position, cache advanced."""

    def __init__(self, model):
        c = model.config
        t = model.transformer
        self.n_head, self.n_embd, self.eps = c.n_head, c.n_embd, c.layer_norm_epsilon
        self.max_len = c.n_positions
        self.wte, self.wpe = t.wte.weight, t.wpe.weight  # (V, C), (T_max, C)
        w = model.lm_head.weight  # (V, C), tied to wte in GPT-2
        # On CPU a (1, C) @ (C, V) product with (C, V) row-major runs ~2-3x faster than with W.T (bench);
        # that one copy of the output embedding is the only tensor this class owns.
        self.lm_head_t = w.T.contiguous() if w.device.type == "cpu" else w.T  # (C, V)
        self.ln_f = (t.ln_f.weight, t.ln_f.bias)
        # Conv1D stores its weight as (in, out): y = x @ W + b, hence addmm below.
        self.layers = [(b.ln_1.weight, b.ln_1.bias, b.attn.c_attn.weight, b.attn.c_attn.bias,
                        b.attn.c_proj.weight, b.attn.c_proj.bias, b.ln_2.weight, b.ln_2.bias,
                        b.mlp.c_fc.weight, b.mlp.c_fc.bias, b.mlp.c_proj.weight, b.mlp.c_proj.bias)
                       for b in t.h]

    def new_cache(self, batch: int, length: int) -> KVCache:
        """Room for `batch` sequences of up to `length` tokens (prompt + new tokens)."""
        if length > self.max_len:
            raise ValueError(f"{length} tokens do not fit the model's context of {self.max_len}")
        shape = (len(self.layers), batch, self.n_head, length, self.n_embd // self.n_head)
        return KVCache(self.wte.new_empty(shape), self.wte.new_empty(shape))

    def __call__(self, ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """ids (B, T) continue the sequences in `cache`; returns logits (B, V) for the last position.

        The first call (the prompt) may pass B=1 for a cache of n sequences: the prompt is computed
        once and its keys/values broadcast to all n, so alternatives share the prefill.
        """
        B, T = ids.shape
        start, end = cache.length, cache.length + T
        if T > 1 and start > 0:
            raise ValueError("only the first call (the prompt) may pass several tokens")
        x = self.wte[ids] + self.wpe[start:end]  # (B, T, C)
        for i, layer in enumerate(self.layers):
            x = self._block(x, layer, cache.k[i], cache.v[i], start, end)
        cache.length = end
        x = F.layer_norm(x[:, -1], (self.n_embd,), *self.ln_f, self.eps)  # (B, C)
        return x @ self.lm_head_t  # (B, V)

    def _block(self, x, layer, k_cache, v_cache, start: int, end: int) -> torch.Tensor:
        ln1_w, ln1_b, attn_w, attn_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, out_w, out_b = layer
        B, T, C = x.shape
        hs = C // self.n_head
        h = F.layer_norm(x, (C,), ln1_w, ln1_b, self.eps)
        qkv = torch.addmm(attn_b, h.view(B * T, C), attn_w).view(B, T, 3, self.n_head, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        k_cache[:, :, start:end] = k  # broadcasts a B=1 prompt over the cache's batch
        v_cache[:, :, start:end] = v
        if start == 0:  # the prompt attends causally to itself
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # one new token attends to everything so far
            y = F.scaled_dot_product_attention(q, k_cache[:, :, :end], v_cache[:, :, :end])
        y = y.transpose(1, 2).reshape(B * T, C)  # (B*T, C)
        x = x + torch.addmm(proj_b, y, proj_w).view(B, T, C)
        h = F.layer_norm(x, (C,), ln2_w, ln2_b, self.eps).view(B * T, C)
        h = F.gelu(torch.addmm(fc_b, h, fc_w), approximate="tanh")  # (B*T, 4C)
        return x + torch.addmm(out_b, h, out_w).view(B, T, C)
