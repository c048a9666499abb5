"""A result's receipt line for any tab: wall time, CPU seconds, estimated energy and grid CO2, kept for the room.

    with receipted("sample_digits") as r:
        batch = SAMPLER.sample(...)
    summary += " " + receipt_text(r, lang)

The estimate itself is generators/room/receipts.py's; each receipt is added to the room's totals (the room tab's
"What it costs"), in the database, unless PLAYGROUND_RECEIPTS=0.
"""

import contextlib
import functools
import logging
import os

from generators.room.receipts import Receipt, measure
from ui.kit.registry import table

log = logging.getLogger("playground")

MESSAGES = table("""
receipt_line: ⏱ {wall} ms · CPU {cpu} s · ≈ {j} J · ≈ {co2} mg CO₂ (estimate: {source}) | ⏱ {wall} 毫秒 · CPU {cpu} 秒 · ≈ {j} 焦耳 · ≈ {co2} 毫克 CO₂（估算：{source}）
""")


@functools.cache
def store():
    """The room's database (generators/room/store.py), opened on first use."""
    from generators.room.store import RoomStore
    return RoomStore()


def keep(what: str, receipt: Receipt) -> None:
    """Adds a receipt to the room's totals; a database that fails is logged, never the user's problem."""
    if os.environ.get("PLAYGROUND_RECEIPTS", "1") in ("0", "off", "false", "no"):
        return
    try:
        store().record_receipt(what, receipt)
    except Exception as e:  # noqa: BLE001 - a receipt is a by-product: the result still goes out
        log.warning("receipt not kept: %s", e)


@contextlib.contextmanager
def receipted(what: str, kept: bool = True):
    """Measures the block (this thread's CPU time) and, when it ends without error, keeps its receipt."""
    m = measure()
    with m as receipt:
        yield receipt
    if kept:
        keep(what, receipt)


def receipt_text(receipt: Receipt, lang: str = "en") -> str:
    """The receipt as one line in the visitor's language."""
    template = MESSAGES["receipt_line"][1 if lang == "zh" else 0]
    return template.format(wall=f"{receipt.wall_s * 1000:.0f}", cpu=f"{receipt.cpu_s:.3f}",
                           j=f"{receipt.joules:.2f}", co2=f"{receipt.co2_g * 1000:.3f}",
                           source="RAPL" if receipt.source == "RAPL" else "codecarbon")
