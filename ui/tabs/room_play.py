"""The room's endpoints (a contract: /play_round, /submit_guess, /room_stats) and who is asking.

    play_round(kind, seed)                -> {round_id, token, items, receipt, link}
    submit_guess(round_id, token, marks)  -> {score, truth, families, detectors, room}
    room_stats()                          -> the tallies, `rounds` answered, the energy totals

A round's items are what a person sees, nothing more: 28-px PNGs (data: URIs) or paragraphs, never their family.
"""

import base64
import functools
import inspect
import io
import ipaddress
import threading

import gradio as gr
from PIL import Image

from generators.core.errors import InputError, KeyedError
from generators.core.limits import SEED, check_choice
from generators.diffusion import DiffusionSampler
from generators.gan import GanSampler
from generators.room import rounds
from generators.room import KINDS
from generators.text import TextContinuation
from generators.vae_prior import VaeClassPrior
from ui.kit import permalink
from ui.kit.adapters import adapter
from ui.kit.errors import language, user_error
from ui.kit.receipts import receipt_text, receipted, store


@functools.cache
def sources() -> tuple[rounds.DigitSources, rounds.TextSources]:
    """The rounds' sources: the app's shared adapters (made at first use, after app.py chose the backend)."""
    return (rounds.DigitSources(adapter(GanSampler), adapter(VaeClassPrior), adapter(DiffusionSampler)),
            rounds.TextSources(adapter(TextContinuation)))

_compose = threading.Lock()  # one round composed at a time: a round is many model calls on two cores


def who(request: gr.Request | None) -> tuple[str, str]:
    """(session, client address). A proxy on this machine (the share tunnel) makes every peer 127.0.0.1, so there
    the first X-Forwarded-For address counts; a remote peer's own header is not believed."""
    if request is None:
        return "local", "local"
    host = getattr(getattr(request, "client", None), "host", None) or "unknown"
    forwarded = (request.headers.get("x-forwarded-for") or "") if getattr(request, "headers", None) else ""
    try:
        if forwarded and ipaddress.ip_address(host).is_loopback:
            host = forwarded.split(",")[0].strip()[:64] or host
    except ValueError:
        pass
    return str(getattr(request, "session_hash", None) or f"no-session:{host}"), host


def png_uri(pixels) -> str:
    """A (28, 28) uint8 digit as a data: URI of its 28-px PNG."""
    buf = io.BytesIO()
    Image.fromarray(pixels.numpy(), mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _keyed(fn):
    """Runs an endpoint; a KeyedError becomes a short gr.Error in the request's language (never a traceback)."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        request = signature.bind(*args, **kwargs).arguments.get("request")
        try:
            return fn(*args, **kwargs)
        except KeyedError as e:
            raise user_error(e, language(request), fn.__name__) from None
    return run


def compose(kind: str, seed: int) -> list[rounds.Item]:
    """A round's items from the seed alone (a permalink's round is the same round)."""
    with _compose:
        digits, text = sources()
        return rounds.digits_round(digits, seed) if kind == "digits" else rounds.text_round(text, seed)


@_keyed
def play_round(kind: str, seed: int, request: gr.Request = None) -> dict:
    """Starts a round of "real or generated?": 8 items, some real, some made by our models; mark the real ones.

    Args:
        kind: "digits" (handwritten digits) or "text" (book paragraphs).
        seed: which round, 0 to 2**32-1; the same seed gives the same items.
    Returns:
        {round_id, token (answers this round once), items (8 PNG data URIs or paragraphs), receipt (what making it
        cost, an estimate), link (a URL query that replays this round)}.
    """
    reply, _ = start(kind, seed, request)
    return reply


def start(kind, seed, request: gr.Request | None) -> tuple[dict, list[rounds.Item]]:
    """/play_round's answer and the round's items (the tab shows their pixels; the API their PNGs)."""
    kind, seed = check_choice("kind", kind, KINDS), SEED.check("seed", seed)
    session, address = who(request)
    store().admit_round(session, address)
    with receipted(f"play_round:{kind}") as receipt:
        items = compose(kind, seed)
    issued = store().issue(kind, seed, [i.record() for i in items], session=session, address=address)
    shown = [png_uri(i.content) if kind == "digits" else i.content for i in items]
    lang = language(request)
    return dict(round_id=issued.round_id, token=issued.token, kind=kind, seed=seed, items=shown,
                receipt={**receipt.as_dict(), "line": receipt_text(receipt, lang)},
                link=permalink.query("room", lang, kind=kind, seed=seed)), items


@_keyed
def submit_guess(round_id: str, token: str, marks: str, request: gr.Request = None) -> dict:
    """Answers a round once: which of its 8 items you marked real.

    Args:
        round_id: from /play_round.
        token: from /play_round; it answers that round once.
        marks: a JSON list of 8 booleans, true = marked real, e.g. "[true, false, false, true, false, false, false,
            false]".
    Returns:
        {score (items marked right), truth (true = real), families, detectors (each detector's marks on the same 8),
        room (every counted round's tallies), counted (false: your address had answered this seed's round before,
        so it is scored but left out of the room's tally)}.
    """
    session, address = who(request)
    for name, value in (("round_id", round_id), ("token", token)):
        if not isinstance(value, str):
            raise InputError("room_not_text", name=name)
    result = store().answer(round_id, token, marks, session=session, address=address)
    return dict(score=result["score"], truth=result["truth"], families=result["families"],
                detectors=result["detectors"], room=store().stats(), counted=result["counted"])


def room_stats() -> dict:
    """The room so far: `rounds` answered, people's and detectors' accuracy by family, the last hour in ten-minute
    steps, and the energy totals of every receipt (estimates)."""
    return store().stats()
