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
    blob = lora.save_adapter(result.adapter)  # one safetensors file (bytes), its config in the metadata
    tuned = lora.load_adapter(blob, tuner.load())  # a LoadedModel that generators.text decodes with

The text's checks and held-out split are generators/lm/corpus.py; the adapter and its file, generators/lm/lora.py.
"""

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from generators import text as text_models
from generators.lm.corpus import TokenSplit, encode, held_out_loss, read_text, split_tokens
from generators.core.device import pick_device
from generators.core.limits import SEED, Range, check_choice
from generators.lm.lora import RANK, LoraAdapter, adapter_from_peft, lora_model, save_adapter
from generators.lm import smollm
from generators.lm.smollm import NAME as SMOLLM2

STEPS = Range(1, 2000)
LR = Range(1e-5, 5e-2, whole=False)
SECONDS = Range(0, 600, whole=False)  # a time budget for the training steps; 0 = none
METHODS = ("lora", "full")  # "full": every weight trains, on a private copy (the bench's baseline)


@dataclass(frozen=True)
class Settings:
    """One training's settings; the defaults are the ones bench/bench_finetune.py measured on the bundled model."""
    steps: int = 60  # on 50 kB of a play more steps overfit (bench_finetune; docs/results.md, "Fine-tuning")
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
    adapter: LoraAdapter | None  # None for method="full"

    def summary(self) -> dict:
        """The JSON the API returns."""
        return {"perplexity_before": round(self.perplexity_before, 3),
                "perplexity_after": round(self.perplexity_after, 3), "steps_done": self.steps_done,
                "seconds": round(self.seconds, 2), "tokens_per_s": round(self.tokens_per_s, 1)}


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

    MODELS = (text_models.BUNDLED, SMOLLM2)  # what a person may tune: SmolLM2 says so itself if not installed

    @staticmethod
    def offered_models() -> tuple[str, ...]:
        """The models besides the bundled one that can be tuned here (SmolLM2 where its package is installed)."""
        return tuple(smollm.offered())

    @staticmethod
    def adapter_file(adapter: LoraAdapter) -> bytes:
        """The adapter as one safetensors file, its config in the metadata (what /continue_text takes back)."""
        return save_adapter(adapter)

    def load(self, model: str = "bundled"):
        """The base LoadedModel, shared with text continuation (loaded once per process)."""
        if self.base is not None:
            return self.base
        self.device = self.device or pick_device()
        return text_models.load(model, self.device)

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
        check_choice("method", s.method, METHODS), check_choice("model", model, text_models.MODELS)
        body = read_text(text)
        lm = self.load(model)
        s = replace(s, block_size=min(s.block_size, lm.context), eval_every=max(1, s.eval_every))
        split = split_tokens(encode(lm, body), s.batch_size, s.block_size)
        return FinetuneRun(lm, model, split, s).stream()

    def finetune(self, **kwargs) -> FinetuneResult:
        """The result of a whole training: the last item of `stream()`."""
        *_, last = self.stream(**kwargs)
        return last.result
