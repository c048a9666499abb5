"""Fine-tuning a language model on your own text with LoRA (Hu et al. 2021, arXiv:2106.09685), streamed.

The base model stays shared and untouched: peft's LoRA layers wrap a structural copy of it (new modules over the
base's own weight storage, frozen), and only the low-rank matrices train: y = W x + (alpha / r) B A x, with
A (r, in) and B (out, r). The last tenth of the text's tokens is held out to measure perplexity before and after.

    tuner = FineTuner()
    for p in tuner.stream(text=play, steps=60, lr=5e-3, rank=8, seed=0):
        plot(p.step, p.train_loss, p.eval_loss)  # eval_loss every `eval_every` steps, else None
        if stop_pressed():
            break  # closing the stream: no optimizer step runs after the update taken last
    result = p.run.result()  # what was learnt so far: perplexities, steps_done, seconds, adapter
    blob = save_adapter(result.adapter)  # one safetensors file (bytes), its config in the metadata
    tuned = load_adapter(blob, tuner.load())  # a LoadedModel that generators.text decodes with
"""

import copy
import hashlib
import json
import math
import os
import re
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from generators import gpt2_fast
from generators.device import pick_device
from generators.errors import InputError
from generators.limits import SEED, Range, check_choice

STEPS = Range(1, 2000)
LR = Range(1e-5, 5e-2, whole=False)
RANK = Range(1, 64)
SECONDS = Range(0, 600, whole=False)  # a time budget for the training steps; 0 = none
METHODS = ("lora", "full")  # "full": every weight trains, on a private copy (the bench's baseline)
MAX_TEXT_BYTES = 1_000_000
HELD_OUT = 0.1  # the last tenth of the tokens is never trained on
MIN_HELD_TOKENS = 16
EVAL_BLOCK = 256  # held-out windows (tokens), or the model's context if shorter
BINARY_SHARE = 0.01  # more control characters than this (NUL aside, which is never text) reads as binary
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # C0 controls except \t \n \v \f \r, and DEL
MAX_ADAPTER_BYTES = 64 * 2**20
FORMAT = "playground-lora/1"  # the adapter file's metadata "format"
ALPHA_PER_RANK = 2  # lora_alpha = 2 r: the update's scale alpha / r stays 2 whatever the rank
SMOLLM2 = "SmolLM2-135M-Instruct (GGUF)"  # generators/smollm.NAME, named here so importing this loads nothing heavy


@dataclass(frozen=True)
class Settings:
    """One training's settings; the defaults are the ones bench/bench_finetune.py measured on the bundled model."""
    steps: int = 60  # 50 kB of a play: 60 steps gave 64.5% lower perplexity, 200 steps 63.3% (it overfits)
    lr: float = 5e-3
    rank: int = 8
    seed: int = 0
    batch_size: int = 8
    block_size: int = 64  # tokens per training window
    eval_every: int = 10  # steps between held-out evaluations (and at the last step)
    seconds: float = 45  # stop the training steps after this long, whatever `steps` says (0: no budget)
    method: str = "lora"
    warmup: int = 20  # linear warm-up steps, then cosine decay to 10% (of the steps or of the time budget)
    eval_tokens: int = 4096  # held-out losses read at most this many of the held-out tokens, so evaluations stay cheap


DEFAULTS = {SMOLLM2: Settings(steps=40, lr=5e-3, batch_size=4, eval_every=10, eval_tokens=1024, seconds=180)}


def defaults(model: str) -> Settings:
    """The recipe measured for `model` by bench/bench_finetune.py (the bundled model's for any other)."""
    return DEFAULTS.get(model, Settings())


@dataclass(frozen=True)
class Progress:
    """One streamed update; `run` is the live training, so a consumer that stops keeps `run.result()`."""
    step: int  # optimizer steps done (0 on the first update, before training)
    steps: int
    train_loss: float | None  # this step's batch loss, nats/token
    eval_loss: float | None  # held-out loss at this step, or None between evaluations
    tokens_per_s: float  # training tokens per second of training steps
    seconds: float  # since the stream began
    eta: float  # seconds left, estimated
    run: "FinetuneRun"
    result: "FinetuneResult | None" = None  # on the last item only


@dataclass(frozen=True)
class FinetuneResult:
    perplexity_before: float
    perplexity_after: float
    steps_done: int
    seconds: float
    tokens_per_s: float
    adapter: "LoraAdapter | None"  # None for method="full"

    def summary(self) -> dict:
        """The JSON the API returns."""
        return {"perplexity_before": round(self.perplexity_before, 3),
                "perplexity_after": round(self.perplexity_after, 3), "steps_done": self.steps_done,
                "seconds": round(self.seconds, 2), "tokens_per_s": round(self.tokens_per_s, 1)}


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


# LoRA on a shared base, and the adapter file ---------------------------------------------------------------------

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


def _adapter_bytes(source) -> bytes:
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
    (a LoadedModel): InputError("finetune_adapter_invalid") if it is not an adapter file of ours,
    ("finetune_adapter_mismatch", what, file, model) if it was made for another model."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    data = _adapter_bytes(source)
    try:
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])  # safetensors: u64 length, JSON header
        meta = header.get("__metadata__") or {}
        config = json.loads(meta["config"]) if meta.get("format") == FORMAT else None
        weights = load(data)
    except (ValueError, KeyError, TypeError, AttributeError, SafetensorError) as e:  # JSON errors are ValueErrors
        raise InputError("finetune_adapter_invalid") from e
    if not isinstance(config, dict):
        raise InputError("finetune_adapter_invalid")
    _check_fits(config, weights, base.model)
    return LoraAdapter(weights, config)


def _check_fits(config: dict, weights: dict, base: torch.nn.Module) -> None:
    targets, fan_in_fan_out = lora_targets(base)
    if config.get("model_type") != base.config.model_type:
        raise InputError("finetune_adapter_mismatch", what="model_type", file=config.get("model_type"),
                         model=base.config.model_type)
    rank, chosen = config.get("rank"), config.get("target_modules")
    if (type(rank) is not int or not RANK.lo <= rank <= RANK.hi or not isinstance(config.get("alpha"), (int, float))
            or config.get("fan_in_fan_out") is not fan_in_fan_out or not isinstance(chosen, list)
            or not set(chosen) <= set(targets)
            or any(t.dtype != torch.float32 or not torch.isfinite(t).all() for t in weights.values())):
        raise InputError("finetune_adapter_invalid")
    want = expected_shapes(base, rank, chosen, fan_in_fan_out)
    for key in sorted(set(want) | set(weights)):
        got = tuple(weights[key].shape) if key in weights else None
        if got != want.get(key):
            raise InputError("finetune_adapter_mismatch", what=key.removeprefix(_PREFIX), file=got, model=want.get(key))
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
    from generators.text import LoadedModel

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
        return LoadedModel(model.eval(), base.tokenizer, base.device, base.context, gpt2_fast.FastGpt2(model))
    from peft.utils import set_peft_model_state_dict

    wrapped = _wrap(model, _lora_config(c["rank"], c["alpha"], c["target_modules"], c["fan_in_fan_out"]))
    set_peft_model_state_dict(wrapped, weights)
    return LoadedModel(wrapped.base_model.model.eval(), base.tokenizer, base.device, base.context, None)


def load_adapter(source, base):
    """An adapter (a file as bytes or a path, or a LoraAdapter from a training) checked against `base` (a
    LoadedModel) and applied to it: what /continue_text decodes with when it is given an adapter."""
    if isinstance(source, LoraAdapter):
        _check_fits(source.config, source.weights, base.model)
        return apply_adapter(base, source)
    return apply_adapter(base, read_adapter(source, base))


class FinetuneRun:
    """One training: the model, its optimizer and data, and what it has learnt so far (`result()`)."""

    def __init__(self, lm, base_name: str, split: TokenSplit, s: Settings):
        self.lm, self.base_name, self.split, self.s = lm, base_name, split, s
        if s.method == "lora":
            self.model = lora_model(lm.model, s.rank, s.seed)
        else:
            self.model = copy.deepcopy(lm.model).requires_grad_(True)
        self.model.eval()  # dropout off: a seed gives the same training; gradients flow all the same
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=s.lr, betas=(0.9, 0.95), weight_decay=0.0)
        self.g = torch.Generator().manual_seed(s.seed)  # batch positions
        self.windows = split.train.unfold(0, s.block_size + 1, 1)  # (N - T, T + 1), views of the train tokens
        self.steps_done, self.train_seconds, self.seconds = 0, 0.0, 0.0
        self.history: list[tuple[int, float | None, float | None]] = []  # (step, train loss, held-out loss)
        self.loss_before = math.nan
        self._result: FinetuneResult | None = None

    def stream(self) -> Iterator[Progress]:
        """Yields before training and after every optimizer step; the last item holds the result."""
        t0 = time.perf_counter()
        self.loss_before = self._held_out_loss()
        yield self._progress(None, self.loss_before, t0)
        for step in range(1, self.s.steps + 1):
            loss, step_seconds = self._train_step(self._fraction(t0))
            out_of_time = bool(self.s.seconds) and time.perf_counter() - t0 + step_seconds > self.s.seconds
            last = step == self.s.steps or out_of_time
            evaluate = last or step % self.s.eval_every == 0
            eval_loss = self._held_out_loss() if evaluate else None
            update = self._progress(loss, eval_loss, t0)
            if last:
                yield replace(update, eta=0.0, result=self._finish(eval_loss))
                return
            yield update

    def result(self) -> FinetuneResult:
        """What the steps done so far give (a held-out evaluation runs if none was made at this step)."""
        if self._result is None or self._result.steps_done != self.steps_done:
            evals = [e for step, _, e in self.history if step == self.steps_done and e is not None]
            self._finish(evals[-1] if evals else self._held_out_loss())
        return self._result

    def _held_out_loss(self) -> float:
        return held_out_loss(self.model, self.split.held, self.lm.context, self.s.eval_tokens)

    def tokens_per_s(self) -> float:
        tokens = self.steps_done * self.s.batch_size * self.s.block_size
        return tokens / self.train_seconds if self.train_seconds else 0.0

    def _fraction(self, t0: float) -> float:
        done = self.steps_done / self.s.steps
        return max(done, (time.perf_counter() - t0) / self.s.seconds) if self.s.seconds else done

    def _train_step(self, fraction: float) -> tuple[float, float]:
        s, start = self.s, time.perf_counter()
        warm = min(s.warmup, max(1, s.steps // 10))
        lr = (s.lr * (self.steps_done + 1) / warm if self.steps_done < warm
              else s.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(fraction, 1.0)))))
        for group in self.opt.param_groups:
            group["lr"] = lr
        ix = torch.randint(len(self.windows), (s.batch_size,), generator=self.g)
        x = self.windows[ix].to(self.lm.device)  # (B, T + 1)
        logits = self.model(input_ids=x[:, :-1]).logits  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.steps_done += 1
        seconds = time.perf_counter() - start
        self.train_seconds += seconds
        return loss.item(), seconds

    def _progress(self, loss, eval_loss, t0: float) -> Progress:
        self.seconds = time.perf_counter() - t0
        self.history.append((self.steps_done, loss, eval_loss))
        eta = (self.s.steps - self.steps_done) * self.train_seconds / max(1, self.steps_done)
        if self.s.seconds:
            eta = min(eta, max(0.0, self.s.seconds - self.seconds))
        return Progress(self.steps_done, self.s.steps, loss, eval_loss, self.tokens_per_s(), self.seconds, eta, self)

    def _finish(self, loss_after: float) -> FinetuneResult:
        adapter = (adapter_from_peft(self.model, self.lm.model, self.base_name, self.s.rank)
                   if self.s.method == "lora" else None)
        self._result = FinetuneResult(math.exp(self.loss_before), math.exp(loss_after), self.steps_done,
                                      self.seconds, self.tokens_per_s(), adapter)
        return self._result


def _given(value, default):
    return default if value is None else value


class FineTuner:
    """Fine-tunes a text model on a user's text; `stream()` yields progress, `finetune()` returns the result."""

    def __init__(self, device: torch.device | None = None, base=None):
        self.device = device  # None: pick_device() on first load, so constructing has no side effects
        self.base = base  # a LoadedModel to tune whatever `model` says (dry runs, tests), else loaded by name

    def load(self, model: str = "bundled"):
        """The base LoadedModel, shared with text continuation (loaded once per process)."""
        if self.base is not None:
            return self.base
        self.device = self.device or pick_device()
        if model == SMOLLM2:
            from generators import smollm

            return smollm.load(self.device)
        from generators import text

        return text.load(model, self.device)

    def stream(self, *, text, steps: int | None = None, lr: float | None = None, rank: int | None = None,
               seed: int = 0, model: str = "bundled", seconds: float | None = None, **recipe) -> Iterator[Progress]:
        """Checks the arguments (InputError), loads the model and splits the text, then returns the stream.

        `text`: a str, UTF-8 bytes or a path (os.PathLike). None for steps, lr, rank or seconds takes the model's
        default (`defaults(model)`); seconds=0 is no time budget. `recipe`: other `Settings` fields (batch_size,
        block_size, eval_every, eval_tokens, method, warmup). Example: the module docstring.
        """
        d = replace(defaults(model), **recipe)
        s = replace(d, steps=STEPS.check("steps", _given(steps, d.steps)), lr=LR.check("lr", _given(lr, d.lr)),
                    rank=RANK.check("rank", _given(rank, d.rank)), seed=SEED.check("seed", seed),
                    seconds=SECONDS.check("seconds", _given(seconds, d.seconds)))
        check_choice("method", s.method, METHODS)
        body = read_text(text)
        lm = self.load(model)
        s = replace(s, block_size=min(s.block_size, lm.context), eval_every=max(1, s.eval_every))
        split = split_tokens(encode(lm, body), s.batch_size, s.block_size)
        return FinetuneRun(lm, model, split, s).stream()

    def finetune(self, **kwargs) -> FinetuneResult:
        """The result of a whole training: the last item of `stream()`."""
        *_, last = self.stream(**kwargs)
        return last.result
