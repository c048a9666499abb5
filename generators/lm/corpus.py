"""The text a user fine-tunes on: checked (UTF-8, not binary, not empty, at most ~1 MB), tokenized, split into a
training part and a held-out last tenth, and scored (next-token loss, from which perplexity = exp(loss)).

    text = read_text(upload_bytes)                 # InputError("finetune_*") for what is not usable text
    split = split_tokens(encode(lm, text), batch_size=8, block_size=64)
    held_out_loss(lm.model, split.held, lm.context, max_tokens=4096)  # nats per token
"""

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from generators.core.errors import InputError

MAX_TEXT_BYTES = 1_000_000
HELD_OUT = 0.1  # the last tenth of the tokens is never trained on
MIN_HELD_TOKENS = 16
EVAL_BLOCK = 256  # held-out windows (tokens), or the model's context if shorter
BINARY_SHARE = 0.01  # more control characters than this (NUL aside, which is never text) reads as binary
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # C0 controls except \t \n \v \f \r, and DEL


@dataclass(frozen=True)
class TokenSplit:
    train: torch.Tensor  # (N_train,) token ids
    held: torch.Tensor  # (N_held,) the last tenth, never trained on


def read_text(source) -> str:
    """The text to train on from a str, UTF-8 bytes or a path (os.PathLike), else InputError("finetune_*")."""
    if source is None:
        raise InputError("finetune_empty")
    if isinstance(source, os.PathLike):
        if (size := os.path.getsize(source)) > MAX_TEXT_BYTES:
            raise InputError("finetune_too_large", size=size, limit=MAX_TEXT_BYTES)
        source = Path(source).read_bytes()
    if isinstance(source, str):
        try:
            source = source.encode("utf-8")  # lone surrogates (from JSON) are not text either
        except UnicodeEncodeError as e:
            raise InputError("finetune_not_utf8", position=e.start) from None
    if not isinstance(source, (bytes, bytearray)):
        raise TypeError(f"text must be str, bytes or a path, not {type(source).__name__}")
    if len(source) > MAX_TEXT_BYTES:
        raise InputError("finetune_too_large", size=len(source), limit=MAX_TEXT_BYTES)
    if b"\x00" in source:
        raise InputError("finetune_binary")
    try:
        text = bytes(source).decode("utf-8")  # strict: a wrong byte is an error, never replaced
    except UnicodeDecodeError as e:
        raise InputError("finetune_not_utf8", position=e.start) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if len(_CONTROL.findall(text)) > BINARY_SHARE * len(text):
        raise InputError("finetune_binary")
    if not text.strip():
        raise InputError("finetune_empty")
    return text


def encode(lm, text: str) -> list[int]:
    """Token ids with no special tokens (the Rust tokenizer directly: no length warnings on long texts)."""
    backend = getattr(lm.tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.encode(text, add_special_tokens=False).ids
    return lm.tokenizer(text, add_special_tokens=False).input_ids


def min_tokens(batch_size: int, block_size: int) -> int:
    """The fewest tokens that leave one training batch of windows after the held-out tenth."""
    need = batch_size * block_size + 1
    return max(need + MIN_HELD_TOKENS, math.ceil(need / (1 - HELD_OUT)))


def split_tokens(ids: list[int], batch_size: int, block_size: int) -> TokenSplit:
    """The first ~90% to train on, the last ~10% held out, else InputError("finetune_too_short")."""
    if len(ids) < (need := min_tokens(batch_size, block_size)):
        raise InputError("finetune_too_short", tokens=len(ids), need=need)
    held = max(MIN_HELD_TOKENS, math.ceil(len(ids) * HELD_OUT))
    t = torch.tensor(ids, dtype=torch.long)
    return TokenSplit(t[:-held], t[-held:])


def token_nll(model, ids: torch.Tensor, block_size: int, batch_size: int = 8) -> float:
    """Summed next-token loss (nats) of ids[1:], read in consecutive windows of `block_size`.

    Every target is scored once; a window's first target sees one token of context. Dropout must be off (eval()).
    """
    windows = [ids[s:s + block_size + 1] for s in range(0, len(ids) - 1, block_size)]
    x = torch.zeros(len(windows), block_size, dtype=torch.long)  # (W, T), the short last window padded
    y = torch.full((len(windows), block_size), -100, dtype=torch.long)  # -100: not scored
    for j, w in enumerate(windows):
        x[j, :len(w) - 1], y[j, :len(w) - 1] = w[:-1], w[1:]
    device, total = next(model.parameters()).device, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            ids_ = x[i:i + batch_size].to(device)
            logits = model(input_ids=ids_, attention_mask=torch.ones_like(ids_)).logits  # (b, T, V); pads come last
            total += F.cross_entropy(logits.flatten(0, 1).float(), y[i:i + batch_size].flatten().to(device),
                                     ignore_index=-100, reduction="sum").item()
    return total


def held_out_loss(model, held: torch.Tensor, context: int, max_tokens: int) -> float:
    """Mean next-token loss (nats) over the first `max_tokens` held-out tokens, in windows of EVAL_BLOCK."""
    ids = held[:max_tokens + 1]
    return token_nll(model, ids, min(EVAL_BLOCK, context)) / (len(ids) - 1)
