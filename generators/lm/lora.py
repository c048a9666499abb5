"""LoRA adapters (Hu et al. 2021, arXiv:2106.09685) on a shared base model, and the one file that carries them.

An adapter is the low-rank matrices A (r, in) and B (out, r) of each adapted layer, under peft's names, with the
config that loads them: the update is W + (alpha / r) B A. The file is safetensors (never a pickle), its config as
JSON in the metadata, checked against the base on load (model type, layers, shapes, the base weights' sha256).

    blob = save_adapter(result.adapter)         # bytes (or written to a path)
    tuned = load_adapter(blob, base)            # a LoadedModel: the base with the update applied
    tuned = cached_adapter("adapter.safetensors", base)  # the same, kept for repeated calls (by the file's sha256)
"""

import copy
import hashlib
import json
import math
import os
import threading
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from generators.lm import gpt2_fast
from generators.core.bounded import loads_bounded
from generators.core.errors import InputError
from generators.core.limits import Range
from generators.lm.engine import release
from generators.lm.loaded import LoadedModel

RANK = Range(1, 64)
MAX_ADAPTER_BYTES = 64 * 2**20
MAX_HEADER_BYTES = 2**20  # an adapter's JSON header (ours: ~3 KB for the bundled GPT-2, ~60 KB for SmolLM-135M)
MAX_JSON_DEPTH = 4  # the header nests 3 levels, the config 2: deeper is refused before it is parsed
MAX_TENSORS = 1024  # more than any base here has layers to adapt (SmolLM-135M: 30 x 7 x 2 = 420)
MAX_SCALING = 64.0  # alpha / rank; ours is ALPHA_PER_RANK
PROBE = 8  # tokens of the forward pass that checks a fine-tuned model's outputs are finite
FORMAT = "playground-lora/1"  # the adapter file's metadata "format"
ALPHA_PER_RANK = 2  # lora_alpha = 2 r: the update's scale alpha / r stays 2 whatever the rank
CACHED = 8  # applied adapters kept by cached_adapter, least recently used dropped first
_FINGERPRINTS: "weakref.WeakKeyDictionary[torch.nn.Module, str]" = weakref.WeakKeyDictionary()
_FINGERPRINT_LOCK = threading.Lock()
_PREFIX = "base_model.model."  # peft's name for the wrapped model


@dataclass(frozen=True)
class LoraAdapter:
    """LoRA weights under peft's names and the config that loads them; `save_adapter` writes both as one file."""
    weights: dict[str, torch.Tensor]  # "base_model.model.<layer>.lora_A.weight": (r, in); lora_B: (out, r)
    config: dict  # base, base_sha256, model_type, rank, alpha, target_modules, fan_in_fan_out


def lora_targets(model) -> tuple[tuple[str, ...], bool]:
    """The layers LoRA adapts, and whether they store weights as (in, out) like GPT-2's Conv1D (fan_in_fan_out)."""
    if model.config.model_type == "gpt2":
        return ("c_attn", "c_proj", "c_fc"), True
    return ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), False


def shared_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the module tree over the same weight storage, so wrapping or re-assigning its layers leaves `model`
    as it was: each parameter becomes a new frozen Parameter on the same memory (tied weights stay tied)."""
    memo = {id(p): torch.nn.Parameter(p.data, requires_grad=False) for p in model.parameters()}
    memo.update({id(b): b for b in model.buffers()})
    return copy.deepcopy(model, memo)


def fingerprint(model: torch.nn.Module) -> str:
    """sha256 of the weights (names, shapes, dtypes, bytes): an adapter names the exact base it was trained on."""
    with _FINGERPRINT_LOCK:  # computed once per base model (about a second for 135M parameters)
        if (known := _FINGERPRINTS.get(model)) is None:
            h = hashlib.sha256()
            for name, t in sorted(model.state_dict().items()):
                h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
                h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
            known = _FINGERPRINTS[model] = h.hexdigest()
    return known


def _lora_config(rank: int, alpha: float, targets, fan_in_fan_out: bool):
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), fan_in_fan_out=fan_in_fan_out,
                      lora_dropout=0.0, bias="none")


def _wrap(model: torch.nn.Module, config):
    from peft import get_peft_model

    with warnings.catch_warnings():  # peft 0.21 asks transformers 5 for a deprecated attribute
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        return get_peft_model(model, config)


def lora_model(base: torch.nn.Module, rank: int, seed: int):
    """peft's LoRA on a shared copy of `base`: base weights shared and frozen, A drawn from `seed`, B zero."""
    targets, fan_in_fan_out = lora_targets(base)
    model = _wrap(shared_copy(base), _lora_config(rank, ALPHA_PER_RANK * rank, targets, fan_in_fan_out))
    g = torch.Generator(next(base.parameters()).device).manual_seed(seed)
    for name, p in model.named_parameters():
        if "lora_A" in name:  # peft's own init (kaiming-uniform, a=sqrt(5)), from our generator, not the global one
            torch.nn.init.kaiming_uniform_(p, a=math.sqrt(5), generator=g)
    return model


def adapter_from_peft(model, base: torch.nn.Module, base_name: str, rank: int) -> LoraAdapter:
    """A snapshot (copied tensors) of a peft model's LoRA weights, with the config that loads them back."""
    from peft.utils import get_peft_model_state_dict

    targets, fan_in_fan_out = lora_targets(base)
    state = get_peft_model_state_dict(model, save_embedding_layers=False)
    weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    return LoraAdapter(weights, {"base": base_name, "base_sha256": fingerprint(base),
                                 "model_type": base.config.model_type, "rank": rank, "alpha": ALPHA_PER_RANK * rank,
                                 "target_modules": list(targets), "fan_in_fan_out": fan_in_fan_out})


def save_adapter(adapter: LoraAdapter, path: str | os.PathLike | None = None) -> bytes | Path:
    """One safetensors file: the LoRA tensors, and the config as JSON in its metadata. Bytes, or written to `path`."""
    from safetensors.torch import save

    blob = save(adapter.weights, metadata={"format": FORMAT, "config": json.dumps(adapter.config, sort_keys=True)})
    if path is None:
        return blob
    Path(path).write_bytes(blob)
    return Path(path)


def adapter_bytes(source) -> bytes:
    """The adapter file's bytes from a path or bytes, size-checked; InputError for anything else."""
    if not isinstance(source, (str, os.PathLike, bytes, bytearray)):
        raise InputError("finetune_adapter_invalid")
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise InputError("finetune_adapter_invalid")
        if (size := os.path.getsize(source)) > MAX_ADAPTER_BYTES:
            raise InputError("finetune_adapter_too_large", size=size, limit=MAX_ADAPTER_BYTES)
        return Path(source).read_bytes()
    if len(source) > MAX_ADAPTER_BYTES:
        raise InputError("finetune_adapter_too_large", size=len(source), limit=MAX_ADAPTER_BYTES)
    return bytes(source)


def read_adapter(source, base) -> LoraAdapter:
    """An adapter file (bytes, or a path) read with safetensors only (never pickle) and checked against `base`
    (a LoadedModel) in full before any tensor is made: InputError("finetune_adapter_invalid") if it is not an adapter
    file of ours (its header and config JSON past their size or depth, more tensors than the model has layers to
    adapt, a non-finite or out-of-range alpha, a tensor not float32 or not finite), ("finetune_adapter_mismatch",
    what, file, model) if it was made for another model."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    data = adapter_bytes(source)
    length = int.from_bytes(data[:8], "little")  # safetensors: u64 length, then the JSON header
    try:
        if len(data) < 8 or length > min(MAX_HEADER_BYTES, len(data) - 8):
            raise ValueError("header length")
        header = loads_bounded(data[8:8 + length], max_depth=MAX_JSON_DEPTH)
        meta = header.get("__metadata__") or {}
        config = loads_bounded(meta["config"], max_depth=MAX_JSON_DEPTH, max_bytes=MAX_HEADER_BYTES) \
            if meta.get("format") == FORMAT else None
        if not isinstance(config, dict) or len(header) - 1 > MAX_TENSORS:
            raise ValueError("not an adapter of ours")
        want = _check_config(config, base.model)
        _check_shapes(want, {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"})  # pre-`load`
        weights = load(data)
    except (ValueError, KeyError, TypeError, AttributeError, SafetensorError) as e:  # JSON errors are ValueErrors
        if isinstance(e, InputError):
            raise
        raise InputError("finetune_adapter_invalid") from None  # the cause is the file: no traceback to keep
    _check_fits(config, weights, base.model)
    return LoraAdapter(weights, config)


def _check_config(config: dict, base: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """The config's fields against `base`: the tensors' names and shapes it calls for."""
    targets, fan_in_fan_out = lora_targets(base)
    if config.get("model_type") != base.config.model_type:
        raise InputError("finetune_adapter_mismatch", what="model_type", file=str(config.get("model_type"))[:40],
                         model=base.config.model_type)
    rank, chosen, alpha = config.get("rank"), config.get("target_modules"), config.get("alpha")
    if (type(rank) is not int or not RANK.lo <= rank <= RANK.hi or type(alpha) not in (int, float)
            or not math.isfinite(alpha) or not 0 < alpha / rank <= MAX_SCALING
            or config.get("fan_in_fan_out") is not fan_in_fan_out or not isinstance(chosen, list)
            or not all(isinstance(t, str) for t in chosen) or not set(chosen) <= set(targets)):
        raise InputError("finetune_adapter_invalid")
    return expected_shapes(base, rank, chosen, fan_in_fan_out)


def _check_shapes(want: dict, got: dict) -> None:
    for key in sorted(set(want) | set(got), key=str)[:MAX_TENSORS]:
        if got.get(key) != want.get(key):
            raise InputError("finetune_adapter_mismatch", what=str(key).removeprefix(_PREFIX)[:80],
                             file=got.get(key), model=want.get(key))


def _check_fits(config: dict, weights: dict, base: torch.nn.Module) -> None:
    want = _check_config(config, base)
    if any(t.dtype != torch.float32 or not torch.isfinite(t).all() for t in weights.values()):
        raise InputError("finetune_adapter_invalid")
    _check_shapes(want, {k: tuple(t.shape) for k, t in weights.items()})
    if config.get("base_sha256") != fingerprint(base):
        raise InputError("finetune_adapter_mismatch", what="base_sha256", file=str(config.get("base_sha256"))[:12],
                         model=fingerprint(base)[:12])


def expected_shapes(base: torch.nn.Module, rank: int, targets, fan_in_fan_out: bool) -> dict[str, tuple[int, int]]:
    """peft's tensor names and their shapes for a rank-`rank` LoRA on the `targets` layers of `base`."""
    shapes = {}
    for name, module in base.named_modules():
        w = getattr(module, "weight", None)
        if name.rsplit(".", 1)[-1] in targets and isinstance(w, torch.Tensor) and w.dim() == 2:
            fan_in, fan_out = (w.shape[0], w.shape[1]) if fan_in_fan_out else (w.shape[1], w.shape[0])
            shapes[f"{_PREFIX}{name}.lora_A.weight"] = (rank, fan_in)
            shapes[f"{_PREFIX}{name}.lora_B.weight"] = (fan_out, rank)
    return shapes


def apply_adapter(base, adapter: LoraAdapter):
    """The base LoadedModel with the adapter applied, for generators.text to decode with; `base` stays untouched.

    With a lean GPT-2 path, W + (alpha / r) B A is merged into new tensors of a shared copy, so FastGpt2 decodes it
    as fast as the base. Otherwise peft's LoRA layers wrap a shared copy (the large weights are not copied).
    """

    c, model = adapter.config, shared_copy(base.model)
    weights = {k: v.to(base.device) for k, v in adapter.weights.items()}
    if base.fast is not None:
        layers = dict(model.named_modules())
        for key, a in weights.items():
            if key.endswith(".lora_A.weight"):
                delta = weights[key.replace(".lora_A.", ".lora_B.")] @ a * (c["alpha"] / c["rank"])  # (out, in)
                layer = layers[key.removeprefix(_PREFIX).removesuffix(".lora_A.weight")]
                merged = layer.weight + (delta.T if c["fan_in_fan_out"] else delta)
                layer.weight = torch.nn.Parameter(merged, requires_grad=False)
        fast = gpt2_fast.FastGpt2(model)
        fast.transient = True  # its decoding engine goes with it (generators/lm/engine.py: engine_for)
        return _probed(LoadedModel(model.eval(), base.tokenizer, base.device, base.context, fast))
    from peft.utils import set_peft_model_state_dict

    wrapped = _wrap(model, _lora_config(c["rank"], c["alpha"], c["target_modules"], c["fan_in_fan_out"]))
    set_peft_model_state_dict(wrapped, weights)
    return _probed(LoadedModel(wrapped.base_model.model.eval(), base.tokenizer, base.device, base.context, None))


@torch.inference_mode()
def _probed(tuned):
    """`tuned` once a forward pass over PROBE tokens gives finite logits: finite weights whose product overflows
    (or a huge alpha) would otherwise decode an empty continuation. InputError("finetune_adapter_invalid") if not."""
    vocab = tuned.model.config.vocab_size
    ids = (torch.arange(PROBE, device=tuned.device) * 7919 % vocab)[None]  # (1, PROBE): spread over the vocabulary
    if not torch.isfinite(tuned.model(ids).logits).all():
        raise InputError("finetune_adapter_invalid")
    return tuned


def load_adapter(source, base):
    """An adapter (a file as bytes or a path, or a LoraAdapter from a training) checked against `base` (a
    LoadedModel) and applied to it: what /continue_text decodes with when it is given an adapter."""
    if isinstance(source, LoraAdapter):
        _check_fits(source.config, source.weights, base.model)
        return apply_adapter(base, source)
    return apply_adapter(base, read_adapter(source, base))



_CACHE: "OrderedDict[tuple[str, str, str], object]" = OrderedDict()  # (file sha256, base sha256, device) -> model
_CACHE_LOCK = threading.Lock()


def cached_adapter(source, base):
    """`load_adapter(source, base)`, kept for the next call with the same file bytes on the same base: a file is read
    once per call (to hash it), then neither parsed, checked nor applied again. A LoraAdapter is applied uncached."""
    if isinstance(source, LoraAdapter):
        return load_adapter(source, base)
    data = adapter_bytes(source)
    key = (hashlib.sha256(data).hexdigest(), fingerprint(base.model), str(base.device))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    tuned = load_adapter(data, base)  # outside the lock: another user's upload need not wait for this one
    with _CACHE_LOCK:
        _CACHE[key] = tuned
        dropped = [_CACHE.popitem(last=False)[1] for _ in range(len(_CACHE) - CACHED)]
    for model in dropped:  # its engine's thread and KV cache go once its requests in flight are done
        release(model.fast)
    return tuned
