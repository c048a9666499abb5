"""Inside a causal language model: attention per layer and head, the logit lens, the next-token distribution, and the
numbers the sampling draw uses. Side-effect free: it takes a loaded model and its tokenizer, loads nothing itself.

    out = inspect(model, tokenizer, "The harbour was", position=-1)
    out.attention  # (layers, heads, T, T): row q is where token q looked, zeros after q
    out.lens       # per layer (embeddings first, the model's own output last): the top-3 (token id, p)

The model must return its attention weights (transformers' eager attention: SDPA computes them but does not give
them back). The logit lens (nostalgebraist 2020) reads each layer's hidden state through the model's final norm and
unembedding, as if the model stopped there.
"""

from dataclasses import dataclass

import torch

WINDOW = 64  # most tokens inspected: the last ones of the text (64 x 64 attention maps stay legible on a phone)
TOP_NEXT = 20
TOP_LENS = 3


@dataclass(frozen=True)
class Inspection:
    """One text's window, seen from inside the model."""
    ids: list[int]  # the window's token ids (the last <= WINDOW of the text)
    total: int  # tokens in the whole text
    position: int  # the inspected position, 0..T-1 (a negative one resolved)
    attention: torch.Tensor  # (L, H, T, T), rows sum to 1
    lens: list[list[tuple[int, float]]]  # (L + 1) rows: embeddings, then after each layer; top TOP_LENS
    logits: torch.Tensor  # (V,) the model's next-token logits at `position`


def final_norm(model) -> torch.nn.Module:
    """The norm before the unembedding: GPT-2's ln_f, Llama's and Qwen2's norm."""
    base = model.base_model
    for name in ("ln_f", "norm", "final_layer_norm"):
        if isinstance(getattr(base, name, None), torch.nn.Module):
            return getattr(base, name)
    raise TypeError(f"no final norm found on {type(base).__name__}")


def window(ids: list[int], size: int = WINDOW) -> list[int]:
    """The last `size` ids: the model sees only these, so every attention row is a whole distribution."""
    return ids[-size:]


def resolve(position: int, length: int) -> int:
    """-length..length-1 -> 0..length-1 (Python's negative indexing); the caller checks the range."""
    return position + length if position < 0 else position


@torch.inference_mode()
def inspect(model, ids: list[int], position: int, total: int | None = None) -> Inspection:
    """Runs the window `ids` (already cut to <= WINDOW) once and reads attention, the lens and the logits at
    `position` (-len..len-1)."""
    norm, seen = final_norm(model), {}

    def keep_input(module, args, output) -> None:  # returns None: a hook's return value would replace the output
        seen["last"] = args[0]

    hook = norm.register_forward_hook(keep_input)
    try:
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    finally:
        hook.remove()
    pos = resolve(position, len(ids))
    attention = torch.stack([a[0] for a in out.attentions]).float()  # (L, H, T, T)
    # hidden_states: the embeddings, then each layer's output, the last one already through the final norm;
    # the hook gave that last layer's output before the norm, so every layer goes through the same path
    layers = [h[0, pos] for h in out.hidden_states[:-1]] + [seen["last"][0, pos]]  # (L + 1) x (D,)
    lens_logits = model.get_output_embeddings()(norm(torch.stack(layers))).float()  # (L + 1, V)
    return Inspection(list(ids), total or len(ids), pos, attention, [top(row, TOP_LENS) for row in lens_logits],
                      out.logits[0, pos].float())


def top(logits: torch.Tensor, k: int) -> list[tuple[int, float]]:
    """The k most likely (id, p) of softmax(logits) at temperature 1."""
    probs = logits.softmax(-1)
    values, indices = probs.topk(min(k, probs.shape[-1]))
    return list(zip(indices.tolist(), values.tolist()))


def seed_exponentials(seed: int, count: int) -> torch.Tensor:
    """q = -log1p(-u) for the first `count` uniforms of torch.Generator().manual_seed(seed), as float32: the noise
    text_decoding.draw divides the probabilities by (its `uniforms` and `pick`), the i-th going to the i-th token
    still possible in increasing id order. With them a page can redraw the seed's pick for any temperature, top-k
    and top-p without asking the server."""
    generator = torch.Generator().manual_seed(seed)
    u = torch.empty(count, dtype=torch.float64).uniform_(generator=generator)
    return (-torch.log1p(-u)).float()
