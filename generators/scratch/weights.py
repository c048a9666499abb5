"""A training's weights as one safetensors file (never a pickle), its config as JSON in the metadata, and the
checks a file passes before it is sampled from again: the header's size, the format and config, then each tensor's
name, shape and dtype against the net the config builds, and finite values (the fine-tune adapters' checks,
generators/lm/lora.py).

    blob = save_run(run, steps=812)          # bytes: what the Train button's download holds
    model = load_run(blob)                   # a run of the same family and recipe holding those weights
    images, labels = model.samples(seed=0)   # the same grid the training showed for seed 0
"""

import dataclasses
import json
import math
import os
from pathlib import Path

import torch

from generators.core.errors import InputError
from generators.core.limits import SEED
from generators.scratch.trainer import FAMILIES, new_run

FORMAT = "playground-scratch/1"
MAX_FILE_BYTES = 16 * 2**20  # the default nets' files: GAN 2.3 MB, VAE 2.6 MB, diffusion 6.5 MB
MAX_HEADER_BYTES = 64 * 2**10
# the range a config may give each size field, so that no file makes the app build a huge net or divide by zero;
# any other number (a learning rate, a weight) lies in [0, 1000]
LIMITS = {"z_dim": (1, 256), "hidden": (1, 1024), "latent_dim": (1, 64), "layers": (1, 6), "timesteps": (2, 4000),
          "sample_steps": (1, 100), "batch_size": (1, 1024), "max_steps": (0, 10**9), "g_steps": (1, 10)}


def save_run(run, path: str | os.PathLike | None = None, **facts) -> bytes | Path:
    """One safetensors file of the run's sampling weights; the metadata holds the config that rebuilds it (family,
    recipe, seed) and `facts` (steps, seconds, failure). Bytes, or written to `path`."""
    from safetensors.torch import save

    config = {"family": run.family, "seed": run.seed, "recipe": dataclasses.asdict(run.recipe), **facts}
    weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in run.weights().items()}
    blob = save(weights, metadata={"format": FORMAT, "config": json.dumps(config, sort_keys=True)})
    if path is None:
        return blob
    Path(path).write_bytes(blob)
    return Path(path)


def file_bytes(source) -> bytes:
    """The file's bytes from a path or bytes, size-checked; InputError for anything else."""
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise InputError("scratch_file_invalid")
        if (size := os.path.getsize(source)) > MAX_FILE_BYTES:
            raise InputError("scratch_file_too_large", size=size, limit=MAX_FILE_BYTES)
        return Path(source).read_bytes()
    if not isinstance(source, (bytes, bytearray)):
        raise InputError("scratch_file_invalid")
    if len(source) > MAX_FILE_BYTES:
        raise InputError("scratch_file_too_large", size=len(source), limit=MAX_FILE_BYTES)
    return bytes(source)


def read_config(data: bytes) -> dict:
    """The config in the file's metadata, after the header's size and JSON are checked (nothing decoded yet)."""
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < size <= min(MAX_HEADER_BYTES, len(data) - 8):  # safetensors: u64 length, then the JSON header
        raise InputError("scratch_file_invalid")
    try:
        meta = json.loads(data[8:8 + size]).get("__metadata__") or {}
        config = json.loads(meta["config"]) if meta.get("format") == FORMAT else None
    except (ValueError, KeyError, TypeError, AttributeError) as e:  # JSON errors are ValueErrors
        raise InputError("scratch_file_invalid") from e
    if not isinstance(config, dict):
        raise InputError("scratch_file_invalid")
    return config


def recipe_of(config: dict):
    """The family's recipe the config names, every field of the right type and size; InputError otherwise."""
    family, fields = config.get("family"), config.get("recipe")
    if family not in FAMILIES or not isinstance(fields, dict):
        raise InputError("scratch_file_invalid")
    default = FAMILIES[family][1]
    known = {f.name: type(getattr(default, f.name)) for f in dataclasses.fields(default)}
    if set(fields) != set(known):
        raise InputError("scratch_file_mismatch", what="recipe", file=", ".join(sorted(fields))[:80],
                         model=", ".join(sorted(known)))
    for name, value in fields.items():
        kind = known[name]
        ok = (type(value) is kind or (kind is float and type(value) is int))
        lo, hi = LIMITS.get(name, (0, 1e3))
        if not ok or (kind in (int, float) and not math.isfinite(value)) or not lo <= value <= hi:
            raise InputError("scratch_file_mismatch", what=name, file=repr(value)[:20], model=kind.__name__)
    return dataclasses.replace(default, **{k: (float(v) if known[k] is float else v) for k, v in fields.items()})


def load_run(source):
    """The run a file (bytes or a path) describes, holding the file's weights, ready to sample; checked first:
    InputError "scratch_file_invalid" (not such a file, a corrupt one), "scratch_file_mismatch" (a tensor or a
    field not what the config's net has) or "scratch_file_too_large"."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    data = file_bytes(source)
    config = read_config(data)
    recipe, seed = recipe_of(config), config.get("seed")
    if type(seed) is not int or not SEED.lo <= seed <= SEED.hi:
        raise InputError("scratch_file_invalid")
    try:
        weights = load(data)
    except (SafetensorError, ValueError, TypeError) as e:
        raise InputError("scratch_file_invalid") from e
    run = new_run(config["family"], seed, recipe=recipe)
    want = {k: (tuple(v.shape), v.dtype) for k, v in run.weights().items()}
    for key in sorted(set(want) | set(weights)):
        got = (tuple(weights[key].shape), weights[key].dtype) if key in weights else None
        if got != want.get(key):
            raise InputError("scratch_file_mismatch", what=key, file=_shown(got), model=_shown(want.get(key)))
    if any(not torch.isfinite(t).all() for t in weights.values()):
        raise InputError("scratch_file_invalid")
    run.load_weights(weights)
    run.config = config
    return run


def _shown(entry) -> str:
    return "none" if entry is None else f"{list(entry[0])} {str(entry[1]).removeprefix('torch.')}"
