"""Text continuation: a causal language model continues a prompt, one token at a time.

Models: our bundled GPT-2 (assets/text-model, trained by training/train_text.py; the environment
variable PLAYGROUND_TEXT_MODEL points it elsewhere) or an allow-listed Hub model, fetched on first use.
Decoding is our own loop over a KV cache (generators/text_decoding.py), written as a Python
generator: Stop is the consumer closing it or no longer iterating, and no computation runs after that.

    tc = TextContinuation()
    for alts in tc.stream("The harbour was", max_new_tokens=20, seed=1, n=2):
        print(alts[0].text, "|", alts[1].text)  # prompt + continuation so far, once per token
    alts[0].tokens[0].prob, alts[0].tokens[0].top  # per-token probabilities, on the last item
"""

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch

from generators import gpt2_fast
from generators.device import pick_device
from generators.network import reachable
from generators.text_decoding import Detokenizer, Gpt2Session, HfSession, Sampling, SamplingLoop

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED = "bundled"
HUB_MODELS = ("distilbert/distilgpt2", "openai-community/gpt2", "HuggingFaceTB/SmolLM2-135M")
MODELS = (BUNDLED, *HUB_MODELS)
MAX_NEW_TOKENS = 512
MAX_PROMPT_CHARS = 10_000
MAX_ALTERNATIVES = 3
MAX_TOP_K = 200


class ModelUnavailable(RuntimeError):
    """A model cannot be loaded (not trained yet, or the Hub cannot be reached); the message is for users."""


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
    notice: str = ""  # truncation / clamping messages for the user
    finished: bool = False


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


_MODELS: dict[tuple[str, str], LoadedModel] = {}  # (source, device) -> model, shared read-only by all users
_LOAD_LOCK = threading.Lock()


def bundled_path() -> Path:
    return Path(os.environ.get("PLAYGROUND_TEXT_MODEL") or REPO_ROOT / "assets" / "text-model")


def check_args(prompt, model, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, n) -> None:
    """Raises ValueError with a short message for any argument out of range."""
    def is_int(x):
        return isinstance(x, int) and not isinstance(x, bool)

    def is_num(x):
        return (is_int(x) or isinstance(x, float)) and x == x  # excludes NaN

    if not isinstance(prompt, str):
        raise ValueError("The prompt must be text.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"The prompt is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}.")
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; choose one of {', '.join(MODELS)}.")
    checks = [
        (is_int(max_new_tokens) and 1 <= max_new_tokens <= MAX_NEW_TOKENS,
         f"max_new_tokens must be 1-{MAX_NEW_TOKENS}"),
        (is_num(temperature) and 0 <= temperature <= 2, "temperature must be between 0 and 2"),
        (is_int(top_k) and 0 <= top_k <= MAX_TOP_K, f"top_k must be 0-{MAX_TOP_K} (0 = off)"),
        (is_num(top_p) and 0 < top_p <= 1, "top_p must be above 0 and at most 1 (1 = off)"),
        (is_num(repetition_penalty) and 1 <= repetition_penalty <= 2, "repetition_penalty must be 1.0-2.0"),
        (is_int(seed) and 0 <= seed < 2**32, "seed must be a whole number from 0 to 2**32-1"),
        (is_int(n) and 1 <= n <= MAX_ALTERNATIVES, f"the number of alternatives must be 1-{MAX_ALTERNATIVES}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message + ".")


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
            raise ModelUnavailable(f"The bundled text model is not in {path} yet "
                                   "(python training/train_text.py writes it).")
        return _from_pretrained(path, device)
    short = name.split("/")[-1]
    try:
        return _from_pretrained(name, device, local_files_only=True)  # a cached copy works offline
    except OSError:
        pass
    message = f"Could not download {short} from the Hugging Face Hub (offline?). The bundled model still works."
    if _offline() or not _hub_reachable():
        raise ModelUnavailable(message)
    try:
        return _from_pretrained(name, device)
    except OSError as e:
        raise ModelUnavailable(message) from e


def load(name: str, device: torch.device) -> LoadedModel:
    """The model `name` on `device`, loaded once per process; concurrent first calls load it once."""
    source = str(bundled_path()) if name == BUNDLED else name
    key = (source, str(device))
    if key not in _MODELS:
        with _LOAD_LOCK:
            if key not in _MODELS:
                _MODELS[key] = _load(name, source, device)
    return _MODELS[key]


class TextContinuation:
    """Continues prompts with one of `MODELS`; `stream()` yields, `continue_text()` returns the last item."""

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

    def stream(self, prompt: str, *, model: str = BUNDLED, max_new_tokens: int = 48, temperature: float = 0.8,
               top_k: int = 40, top_p: float = 0.95, repetition_penalty: float = 1.1, seed: int = 0,
               n: int = 1) -> Iterator[list[Continuation]]:
        """Yields the n alternatives after every generated token; the last item has `finished` and `tokens`.

        Arguments are checked here (ValueError) and the model loaded (ModelUnavailable) before the first
        item. An empty prompt starts from the model's BOS token (EOS for GPT-2: "a new document begins").

        Example:
            >>> for alts in TextContinuation().stream("Once upon a time", max_new_tokens=30, seed=7):
            ...     show(alts[0].text)
            ...     if stop_pressed():
            ...         break  # the model stops here: no step runs after the last item taken
        """
        check_args(prompt, model, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, n)
        lm = self.load(model)
        sampling = Sampling(float(temperature), top_k, float(top_p), float(repetition_penalty))
        return self._generate(lm, prompt, max_new_tokens, sampling, seed, n)

    def continue_text(self, prompt: str, **kwargs) -> list[Continuation]:
        """The finished alternatives: the last item of `stream()`."""
        *_, last = self.stream(prompt, **kwargs)
        return last

    def _generate(self, lm: LoadedModel, prompt: str, max_new: int, sampling: Sampling, seed: int,
                  n: int) -> Iterator[list[Continuation]]:
        ids, prompt_text, max_new, notices = fit_context(lm, prompt, max_new)
        if sampling.temperature == 0 and n > 1:
            notices.append("Temperature 0 is greedy decoding: every alternative is the same.")
        prompt_ids = torch.tensor([ids], device=lm.device)  # (1, T)
        length = len(ids) + max_new
        session = (Gpt2Session(lm.fast, n, length) if lm.fast is not None and self.fast_path
                   else HfSession(lm.model, n))
        generator = torch.Generator(lm.device).manual_seed(seed)
        tok = lm.tokenizer
        loop = SamplingLoop(session, prompt_ids, n, max_new, sampling, generator, tok.eos_token_id)
        texts = [Detokenizer(lm.decode, tok.eos_token_id, tok.eos_token) for _ in range(n)]
        notice = " ".join(notices)
        for step in range(max_new):
            for d, token in zip(texts, loop.step()):
                if not d.ended():
                    d.add(token)
            if loop.all_done() or step == max_new - 1:
                break
            yield [Continuation(prompt_text + d.text, prompt_text, notice=notice) for d in texts]
        yield [Continuation(prompt_text + d.final_text(), prompt_text,
                            _token_infos(lm, d, *loop.records(i, len(d.ids))), notice, True)
               for i, d in enumerate(texts)]


def fit_context(lm: LoadedModel, prompt: str, max_new: int) -> tuple[list[int], str, int, list[str]]:
    """Prompt ids, the prompt text the model sees, the clamped max_new_tokens and notices for the user."""
    tok, notices = lm.tokenizer, []
    ids = tok(prompt).input_ids
    if not ids:
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise ValueError("This model needs a prompt: type a few words.")
        ids = [start]
    if max_new > lm.context - 1:
        notices.append(f"max_new_tokens lowered from {max_new} to {lm.context - 1}, "
                       f"this model's context ({lm.context} tokens) minus one for the prompt.")
        max_new = lm.context - 1
    keep = lm.context - max_new
    if len(ids) > keep:
        notices.append(f"The prompt was {len(ids)} tokens; only its last {keep} were kept, to leave room for "
                       f"{max_new} new tokens in the model's {lm.context}-token context.")
        ids = ids[-keep:]
        prompt = lm.decode(ids).lstrip("\ufffd")  # the cut may split a character
    return ids, prompt, max_new, notices


def _token_infos(lm: LoadedModel, d: Detokenizer, probs: list[float], top_ids: list[list[int]],
                 top_probs: list[list[float]]) -> list[TokenInfo]:
    texts = iter(lm.token_texts([i for ids in top_ids for i in ids]))  # one batch for all positions
    return [TokenInfo(token, piece, p, [(next(texts), q) for q in ps])
            for token, piece, p, ps in zip(d.ids, d.pieces, probs, top_probs)]
