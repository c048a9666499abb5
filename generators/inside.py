"""Inside the bundled language model: the adapter behind the "Inside the model" tab and its /inspect_text API.

It loads its own copy of the bundled GPT-2 with eager attention (3.4M parameters, ~14 MB: the text tab's copy runs
SDPA, which does not return attention weights) and answers in plain JSON-ready dicts; the model-side work is in
generators/lm/inspect.py.

    ins = ModelInspector()
    out = ins.inspect_text("The harbour was calm and", -1)
    out["attention"][layer][head][q][k], out["logit_lens"][layer], out["next"]  # top-20 {token, p}
"""

import base64
import threading
from pathlib import Path

import torch

from generators import text
from generators.core.errors import InputError, ModelUnavailable
from generators.core.limits import SEED, shown
from generators.lm import inspect as inspect_lm
from generators.lm.loaded import LOADING

MAX_TEXT_CHARS = 4_000  # far more than 64 tokens (~4 characters each); the window keeps the last ones
GUESS_CANDIDATES = 300  # tokens a guess is looked up among, most likely first
DECIMALS = 4  # of the API's probabilities: 64 x 64 x 24 attention weights stay ~0.5 MB of JSON


class ModelInspector:
    """Reads the bundled model from inside; holds the loaded model only (no per-user state)."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = folder  # None: the text tab's bundled model (PLAYGROUND_TEXT_MODEL or assets/text-model)
        self._loaded, self._lock = None, threading.Lock()

    def load(self):
        """(model, tokenizer), loaded once, on the CPU in fp32 (a 64-token forward takes milliseconds there)."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = _load(Path(self.folder or text.bundled_path()))
        return self._loaded

    def warm_up(self) -> None:
        """Loads the model ahead of the first inspection (for a background thread): the first picture then takes
        the inspection's time, not the load's. A failure is left for that request to report."""
        try:
            self.load()
        except Exception:  # noqa: BLE001 - the first request raises it again, with its message
            pass

    def window(self, text_in, position) -> tuple[list[int], int, int]:
        """(the window's ids, the text's token count, position): checked, InputError with a key otherwise."""
        if not isinstance(text_in, str):
            raise InputError("inside_text_type")
        if len(text_in) > MAX_TEXT_CHARS:
            raise InputError("inside_text_long", n=len(text_in), limit=MAX_TEXT_CHARS)
        ids = self.load()[1](text_in).input_ids
        if not ids:
            raise InputError("inside_text_empty")
        ids_w = inspect_lm.window(ids)
        n = len(ids_w)
        ok = isinstance(position, int) or (isinstance(position, float) and position.is_integer())
        if isinstance(position, bool) or not ok or not -n <= position < n:
            raise InputError("inside_position", lo=-n, hi=n - 1, got=shown(position))
        return ids_w, len(ids), int(position)

    def inspect(self, text_in: str, position: int = -1) -> inspect_lm.Inspection:
        ids, total, position = self.window(text_in, position)
        return inspect_lm.inspect(self.load()[0], ids, position, total)

    def inspect_text(self, text_in: str, position: int = -1) -> dict:
        """The /inspect_text answer: tokens, attention [layers][heads][T][T], logit_lens (per layer top-3
        {token, p} at `position`, embeddings first, the model's output last), next (top-20 {token, p})."""
        return self.answer(self.inspect(text_in, position))

    def answer(self, out: inspect_lm.Inspection, attention: bool = True) -> dict:
        """An inspection as JSON-ready lists and dicts (probabilities rounded to DECIMALS); `attention` False leaves
        the weights out (the page gets them as bytes)."""
        shown_attention = dict(attention=out.attention.double().round(decimals=DECIMALS).tolist()) if attention else {}
        return dict(tokens=self.pieces(out.ids), position=out.position, total_tokens=out.total,
                    window_start=out.total - len(out.ids), **shown_attention,
                    logit_lens=[self.ranked(row) for row in out.lens],
                    next=self.ranked(inspect_lm.top(out.logits, inspect_lm.TOP_NEXT)))

    def view(self, text_in: str, position: int = -1, seed: int = 0) -> dict:
        """What the tab's page draws from: the /inspect_text answer plus, for the sampling chart, the logits at
        the position and the seed's exponentials (both float32, base64), the ids the repetition penalty sees, and
        the most likely tokens for a guess to be looked up among. The page redraws the chart from these alone."""
        seed = SEED.check("seed", seed)
        out = self.inspect(text_in, position)
        answer = self.answer(out, attention=False)
        vocab = out.logits.numel()
        candidates = out.logits.topk(min(GUESS_CANDIDATES, vocab)).indices.tolist()
        shade = (out.attention * 255).round().to(torch.uint8)  # (L, H, T, T): what a heatmap's pixels need
        return dict(answer, layers=int(shade.shape[0]), heads=int(shade.shape[1]),
                    attention_u8=base64.b64encode(shade.contiguous().numpy().tobytes()).decode("ascii"),
                    logits=_b64(out.logits), q=_b64(inspect_lm.seed_exponentials(seed, vocab)),
                    seen=out.ids[:out.position + 1], seed=seed, ids=out.ids, candidates=candidates,
                    candidate_tokens=self.pieces(candidates))

    def pieces(self, ids: list[int]) -> list[str]:
        """Each id decoded on its own, special tokens shown."""
        tok = self.load()[1]
        return tok.backend_tokenizer.decode_batch([[i] for i in ids], skip_special_tokens=False)

    def ranked(self, pairs: list[tuple[int, float]]) -> list[dict]:
        names = self.pieces([i for i, _ in pairs])
        return [dict(token=name, id=i, p=round(p, DECIMALS)) for name, (i, p) in zip(names, pairs)]


def _b64(values: torch.Tensor) -> str:
    """float32 little-endian bytes as base64: the page reads them as a Float32Array (a third of their JSON)."""
    return base64.b64encode(values.detach().float().contiguous().numpy().astype("<f4").tobytes()).decode("ascii")


def _load(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (folder / "config.json").exists():
        raise ModelUnavailable("weights_missing", folder=str(folder), script="training.train_text")
    # one from_pretrained at a time with the text models' loads: transformers builds a model on the meta device
    # through process-wide switches, and two loads in two threads (this warm-up and the text tab's) broke one
    with LOADING:
        tok = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    return model.eval(), tok
