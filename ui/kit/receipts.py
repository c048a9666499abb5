"""A result's receipt line for any tab: wall time, CPU seconds, estimated energy and grid CO2, kept for the room.

    with receipted("sample_digits") as r:
        batch = SAMPLER.sample(...)
    summary += " " + receipt_text(r, lang)

The estimate itself is generators/room/receipts.py's; each receipt is added to the room's totals (the room tab's
"What it costs"), in the database, unless PLAYGROUND_RECEIPTS=0.
"""

import atexit
import contextlib
import functools
import logging
import os
import queue
import threading
import time
import weakref

from generators.room.receipts import Receipt, measure
from ui.kit.registry import table

log = logging.getLogger("playground")

MESSAGES = table("""
receipt_line: Cost of this result: {wall} ms · CPU {cpu} s · ≈ {j} J · ≈ {co2} mg CO₂ (estimate: {source}) | 本次结果的成本：{wall} 毫秒 · CPU {cpu} 秒 · ≈ {j} 焦耳 · ≈ {co2} 毫克 CO₂（估算：{source}）
""")


@functools.cache
def store():
    """The room's database (generators/room/store.py), opened on first use."""
    from generators.room.store import RoomStore
    return RoomStore()


class Keeper:
    """Receipts queued by requests and written by one thread, many to a transaction: a request pays a queue put
    (microseconds), not a database commit (~2 ms on SQLite; bench/bench_room.py)."""

    def __init__(self, every: float = 0.5):
        self.every, self._queue, self._lock, self._thread = every, queue.SimpleQueue(), threading.Lock(), None

    def put(self, what: str, receipt: Receipt) -> None:
        self._queue.put((what, receipt, time.time()))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="receipts", daemon=True)
                    self._thread.start()

    def flush(self) -> int:
        """Writes what is queued now; the count written."""
        batch = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            try:
                store().record_receipts(batch)
            except Exception as e:  # noqa: BLE001 - a receipt is a by-product: the results went out
                log.warning("%d receipts not kept: %s", len(batch), e)
        return len(batch)

    def _run(self) -> None:
        while True:
            time.sleep(self.every)
            self.flush()


KEEPER = Keeper()
atexit.register(KEEPER.flush)


def keep(what: str, receipt: Receipt) -> None:
    """Adds a receipt to the room's totals (written within KEEPER.every seconds), unless PLAYGROUND_RECEIPTS=0."""
    if os.environ.get("PLAYGROUND_RECEIPTS", "1") not in ("0", "off", "false", "no"):
        KEEPER.put(what, receipt)


@contextlib.contextmanager
def receipted(what: str, kept: bool = True):
    """Measures the block (this thread's CPU time) and, when it ends without error, keeps its receipt."""
    m = measure()
    with m as receipt:
        yield receipt
    if kept:
        keep(what, receipt)


class Meter:
    """A stream's receipt: measured from the handler's first line to `line()`, called just before the result that
    shows it (a stream's last item), which also keeps it for the room. A meter dropped unended (a stream stopped or
    failed) ends unkept when it is collected, or at the end of `metered`."""

    def __init__(self, what: str):
        self.what, self._measure = what, measure()
        self.receipt = self._measure.__enter__()
        self._open = weakref.finalize(self, self._measure.__exit__, None, None, None)

    @property
    def ended(self) -> bool:
        return not self._open.alive

    def end(self, kept: bool) -> Receipt:
        if self._open.detach() is not None:  # the first end only
            self._measure.__exit__(None, None, None)
            if kept:
                keep(self.what, self.receipt)
        return self.receipt

    def line(self, lang: str = "en") -> str:
        """The receipt as one line in the visitor's language (the measurement ends here and is kept)."""
        return receipt_text(self.end(kept=True), lang)

    def under(self, summary: str, lang: str, link: str = "") -> str:
        """`summary` with the receipt line, and the result's link line (ui/kit/permalink.py: line) where it has one,
        under its first paragraph: the verdict."""
        verdict, gap, rest = summary.partition("\n\n")
        return "  \n".join([verdict, self.line(lang), *([link] if link else [])]) + gap + rest


@contextlib.contextmanager
def metered(what: str):
    """`with metered("compare_families") as meter: ... yield ..., meter.under(summary, lang, link)`. A stream that
    stops early or fails ends its measurement here, unkept (the room counts results that went out)."""
    meter = Meter(what)
    try:
        yield meter
    finally:
        meter.end(kept=False)


def receipt_text(receipt: Receipt, lang: str = "en") -> str:
    """The receipt as one line in the visitor's language."""
    template = MESSAGES["receipt_line"][1 if lang == "zh" else 0]
    return template.format(wall=f"{receipt.wall_s * 1000:.0f}", cpu=f"{receipt.cpu_s:.3f}",
                           j=f"{receipt.joules:.2f}", co2=f"{receipt.co2_g * 1000:.3f}",
                           source="RAPL" if receipt.source == "RAPL" else "codecarbon")
