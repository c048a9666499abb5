"""A loaded causal language model with its tokenizer: what the text adapter, LoRA and SmolLM2 share."""

import threading
from dataclasses import dataclass

import torch

from generators.lm import gpt2_fast

# One model load at a time in this process: two transformers from_pretrained calls in two threads break in
# transformers 5.23 ("Cannot copy out of meta tensor", weights left initialised). Every loader takes it.
LOADING = threading.RLock()


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    context: int  # most tokens the model attends to (prompt + continuation)
    fast: gpt2_fast.FastGpt2 | None  # the lean GPT-2 path, when the architecture allows it

    def decode(self, ids: list[int]) -> str:
        """Text without special tokens (the Rust decoder directly: it runs once per streamed token)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            return backend.decode(ids, skip_special_tokens=True)
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def token_texts(self, ids: list[int]) -> list[str]:
        """Each id decoded on its own, special tokens shown (e.g. <|endoftext|>)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            return backend.decode_batch([[i] for i in ids], skip_special_tokens=False)
        return [self.tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in ids]
