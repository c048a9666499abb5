"""The two rounds of "real or generated?": what each item is, drawn from a seed, and the machine detectors' marks.

A digits round: 8 digits, 2-4 of them real held-out MNIST test digits (assets/vae/examples.safetensors), the rest
each from the GAN, the VAE's class prior, the diffusion model (DPM-Solver++, 20 steps) or its distilled 4-step
sampler. A text round: 8 paragraphs of the books held out from the text model's training (assets/room), 2-4 of
them as written, the rest the paragraph's first sentence continued by our model to about the same length.

The detectors, one fixed rule each, the same every round:
- discriminator: the GAN's D, given the classifier's reading as the label, marks a digit real when D(x) >= 0.5;
- classifier: marks a digit real when it reads it with at least CONFIDENT confidence (real test digits mostly are
  read that surely; a generated digit's strokes often are not);
- perplexity (text): marks a paragraph real when our model's loss on it after the first sentence is above LOSS
  nats a token, its average on the held-out books (sampled text is likelier under the model that sampled it).

The family adapters are given (`DigitSources`, `TextSources`), so this module loads no model of its own.
"""

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

ASSETS = Path(__file__).resolve().parents[2] / "assets"
ITEMS = 8
REAL = (2, 4)  # real items in a round, at least a quarter
DIGIT_FAMILIES = ("gan", "vae", "diffusion", "distilled")
TEXT_FAMILIES = ("model",)
REALNESS = 0.5
CONFIDENT = 0.999
# nats a token: the text model's validation loss on the four held-out books, to 2 places (its metrics.json, the
# one home of that figure; the room tab quotes it from there too)
LOSS = round(json.loads((Path(__file__).resolve().parents[2] / "assets" / "text-model" / "metrics.json")
                        .read_text(encoding="utf-8"))["val_loss"], 2)


@dataclass(frozen=True)
class Item:
    family: str  # "real" or a generator's name
    content: object  # a (28, 28) uint8 tensor, or a str
    detectors: dict  # detector name -> it took the item for real

    @property
    def real(self) -> bool:
        return self.family == "real"

    def record(self) -> dict:
        """What the database keeps of the item (never shown before the answer)."""
        return dict(family=self.family, real=self.real, detectors=self.detectors)


def plan(seed: int, families: tuple[str, ...]) -> list[str]:
    """The families of a round's 8 items, in the order shown: 2-4 "real", the others each a random family."""
    rng = random.Random(seed)
    n_real = rng.randint(*REAL)
    drawn = ["real"] * n_real + [rng.choice(families) for _ in range(ITEMS - n_real)]
    rng.shuffle(drawn)
    return drawn


@dataclass
class DigitSources:
    """The adapters a digits round draws from: GanSampler, VaeClassPrior, DiffusionSampler."""

    gan: object
    vae: object
    diffusion: object
    bank: Path = ASSETS / "vae" / "examples.safetensors"

    def real(self, seed: int, count: int) -> torch.Tensor:
        """`count` held-out test digits (count, 1, 28, 28) in [0, 1], chosen by the seed."""
        digits = load_file(self.bank)["digits"]
        pick = torch.randperm(len(digits), generator=torch.Generator().manual_seed(seed))[:count]
        return digits[pick].float() / 255

    def draw(self, family: str, seed: int, count: int) -> torch.Tensor:
        """`count` digits (count, 1, 28, 28) in [0, 1] of random classes from one family."""
        if family == "real":
            return self.real(seed, count)
        if family == "gan":
            return self.gan.sample(digit=None, count=count, seed=seed, truncation=1.0).images
        if family == "vae":
            classes = torch.randint(0, 10, (count,), generator=torch.Generator().manual_seed(seed))
            return torch.cat([self.vae.sample(digit=int(c), count=1, seed=seed + i) for i, c in enumerate(classes)])
        sampler, steps = ("Distilled", 4) if family == "distilled" else ("DPM-Solver++", 20)
        return self.diffusion.sample(digit=None, count=count, steps=steps, guidance=2.0, interval=0.7, seed=seed,
                                     sampler=sampler).sample

    @torch.inference_mode()
    def detect(self, images: torch.Tensor) -> list[dict]:
        """Each detector's mark on each digit (B, 1, 28, 28) in [0, 1]."""
        G, D, C = self.gan.load()
        device = next(D.parameters()).device
        x = images.to(device)
        confidence, reads = torch.softmax(C(x), dim=1).max(1)
        realness = torch.sigmoid(D(x * 2 - 1, reads))
        return [dict(discriminator=bool(r >= REALNESS), classifier=bool(c >= CONFIDENT))
                for r, c in zip(realness.tolist(), confidence.tolist())]


def digits_round(sources: DigitSources, seed: int) -> list[Item]:
    """8 digits: the plan's families, each family drawn in one call; the same seed gives the same round."""
    families = plan(seed, DIGIT_FAMILIES)
    images = torch.zeros(ITEMS, 1, 28, 28)
    for k, family in enumerate(sorted(set(families))):
        where = [i for i, f in enumerate(families) if f == family]
        images[where] = sources.draw(family, seed * 8 + k, len(where)).float().cpu()
    marks = sources.detect(images)
    pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0]  # (8, 28, 28)
    return [Item(f, pixels[i], marks[i]) for i, f in enumerate(families)]


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z“‘\"'])")  # . ! or ? then a space and a capital or a quote


def first_sentence(text: str) -> str:
    return SENTENCE_END.split(text, maxsplit=1)[0]


def sentences(text: str) -> tuple[str, str]:
    """(the first sentence, the rest) of a paragraph."""
    head = first_sentence(text)
    return head, text[len(head):]


@dataclass
class TextSources:
    """The text round's adapter (TextContinuation) and the held-out paragraphs."""

    text: object
    passages: Path = ASSETS / "room" / "passages.json"

    def paragraphs(self) -> list[str]:
        return [p["text"] for p in json.loads(self.passages.read_text(encoding="utf-8"))]

    def continue_(self, head: str, length: int, seed: int) -> str:
        """The model's continuation of `head`, cut at the last sentence end near `length` characters."""
        tokens = max(24, min(200, round(length / 3.9)))  # ~3.95 characters a token (the tokenizer's card)
        alt = self.text.continue_text(head, max_new_tokens=tokens, seed=seed)[0]
        body = alt.text[len(alt.prompt_text):]
        cut = max(body.rfind(c, 0, length + 40) for c in ".!?”")
        return head + (body[:cut + 1] if cut > length // 2 else body[:length])

    @torch.inference_mode()
    def loss(self, text: str) -> float:
        """Our model's mean next-token loss (nats) on the text after its first sentence."""
        lm = self.text.load()
        head, _ = sentences(text)
        enc = lm.tokenizer.backend_tokenizer
        ids, n_head = enc.encode(text, add_special_tokens=False).ids, len(enc.encode(head).ids)
        ids = torch.tensor([ids[:lm.context]], device=lm.device)
        logits = lm.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, :-1].float()
        losses = F.cross_entropy(logits, ids[0, 1:], reduction="none")[max(0, n_head - 1):]
        return float(losses.mean()) if len(losses) else LOSS


def text_round(sources: TextSources, seed: int) -> list[Item]:
    """8 paragraphs: real ones as written, generated ones their first sentence continued by our model."""
    families = plan(seed, TEXT_FAMILIES)
    paragraphs = sources.paragraphs()
    chosen = random.Random(seed + 1).sample(range(len(paragraphs)), ITEMS)
    items = []
    for i, (family, p) in enumerate(zip(families, chosen)):
        text = paragraphs[p]
        if family != "real":
            head, rest = sentences(text)
            text = sources.continue_(head, len(rest), seed * 8 + i)
        items.append(Item(family, text, dict(perplexity=sources.loss(text) > LOSS)))
    return items
