"""Tiny random language models (seeded) in the bundled GPT-2's and SmolLM2's shapes: the dry run's base and the
tests' stand-ins, written once here."""

import torch


def tiny_gpt2(tokenizer, n_positions: int = 64, n_embd: int = 32, seed: int = 0):
    """A random 2-layer, 2-head GPT-2 over `tokenizer`'s vocabulary (EOS as BOS, EOS and padding), in eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel

    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=2, n_head=2,
                        bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    torch.manual_seed(seed)  # a script or a test, never a request handler: the tiny model's init
    return GPT2LMHeadModel(config).eval()


def tiny_llama(tokenizer, n_positions: int = 64, seed: int = 0):
    """A random 2-layer Llama, SmolLM2's architecture (grouped-query attention, tied embeddings), in eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    eos = tokenizer.eos_token_id
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=n_positions,
                         tie_word_embeddings=True, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def loaded(model, tokenizer, device: torch.device = torch.device("cpu")):
    """`model` as the LoadedModel generators.text would give (the lean decoding path for a GPT-2)."""
    from generators.lm import gpt2_fast
    from generators.lm.loaded import LoadedModel

    fast = gpt2_fast.FastGpt2(model) if gpt2_fast.supports(model) else None
    positions = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    return LoadedModel(model.to(device), tokenizer, device, positions, fast)
