"""A generation's receipt: wall time, the CPU seconds its thread used, and an estimate of the energy and grid CO2.

    with measure() as r:
        ...generate...
    r.wall_s, r.cpu_s, r.joules, r.co2_g    # filled in when the block ends

Energy is an estimate, apportioned by the request's CPU time:
- where the machine exposes RAPL (/sys/class/powercap/intel-rapl:0/energy_uj, readable), the package's measured
  energy over the request times the request's share of the machine's busy CPU time in that interval (/proc/stat);
- elsewhere codecarbon's CPU power model: the CPU's TDP from its table (or its 4 W a thread for an unknown CPU)
  over the logical CPUs, times the request's CPU seconds; i.e. a busy thread draws TDP / threads.
CO2 is the energy times the grid's carbon intensity: PLAYGROUND_GRID_G_PER_KWH, else codecarbon's world average
(475 g/kWh, IEA 2019).

A request's CPU seconds: the process's CPU time over the request divided by the requests measured at once (at its
end, itself included), and never less than its own thread's CPU time. Work a request hands to other threads (the
text engine, a micro-batcher, torch's intra-op pool) is then counted, shared evenly among the requests that ran.
"""

import functools
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
WATTS_PER_THREAD = 4.0  # codecarbon's figure for a CPU not in its table (core/cpu.py)
WORLD_G_PER_KWH = 475.0  # codecarbon's world average (data/private_infra/carbon_intensity_per_source.json: IEA 2019)
J_PER_KWH = 3.6e6


@dataclass
class Receipt:
    """What one generation cost; the energy and CO2 are estimates (see the module's docstring)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    joules: float = 0.0
    co2_g: float = 0.0
    source: str = ""  # "RAPL" or "codecarbon TDP model"

    def as_dict(self) -> dict:
        return dict(wall_s=round(self.wall_s, 4), cpu_s=round(self.cpu_s, 4), joules=round(self.joules, 3),
                    co2_g=round(self.co2_g, 5), source=self.source, estimate=True)


@functools.cache
def watts_per_thread() -> tuple[float, str]:
    """(W a busy logical CPU draws, where the figure comes from): codecarbon's TDP for this CPU over its threads."""
    threads = os.cpu_count() or 1
    try:
        logging.getLogger("codecarbon").setLevel(logging.ERROR)  # it warns about CPUs it does not know
        from codecarbon.core.cpu import TDP
        logging.getLogger("codecarbon").setLevel(logging.ERROR)  # set again: importing it configures its logger
        tdp = TDP()
        if tdp.tdp:
            return float(tdp.tdp) / threads, f"codecarbon TDP model ({tdp.model}, {tdp.tdp} W / {threads} threads)"
    except Exception:  # codecarbon not installed, or its CPU probe failed: its own default, a figure a thread
        pass
    return WATTS_PER_THREAD, f"codecarbon default, {WATTS_PER_THREAD:g} W a thread"


@functools.cache
def grid_g_per_kwh() -> float:
    """Grams of CO2 a kWh: PLAYGROUND_GRID_G_PER_KWH, else codecarbon's world average."""
    if value := os.environ.get("PLAYGROUND_GRID_G_PER_KWH"):
        return float(value)
    try:
        import codecarbon
        path = Path(codecarbon.__file__).parent / "data" / "private_infra" / "carbon_intensity_per_source.json"
        return float(json.loads(path.read_text())["world_average"])
    except Exception:
        return WORLD_G_PER_KWH


def _busy_ticks() -> int | None:
    """The machine's busy CPU time so far, in clock ticks (the first line of /proc/stat less idle and iowait)."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields) - fields[3] - fields[4]
    except (OSError, ValueError, IndexError):
        return None


def _rapl_uj(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


_inflight = 0  # requests being measured now
_inflight_lock = threading.Lock()


class measure:
    """A context manager that fills in a Receipt for the work done inside it (see the module's docstring)."""

    def __init__(self, rapl: Path = RAPL):
        self.rapl = rapl
        self.receipt = Receipt()

    def __enter__(self) -> Receipt:
        self._uj = _rapl_uj(self.rapl) if self.rapl.exists() else None
        self._ticks = _busy_ticks() if self._uj is not None else None
        global _inflight
        with _inflight_lock:
            _inflight += 1
        self._wall, self._cpu, self._process = time.perf_counter(), time.thread_time(), time.process_time()
        self._thread = threading.get_ident()
        return self.receipt

    def __exit__(self, *exc) -> None:
        global _inflight
        # a stream resumes in whichever worker thread is free: its own thread's time is only its own where it ended
        r = self.receipt
        own = time.thread_time() - self._cpu if threading.get_ident() == self._thread else 0.0
        with _inflight_lock:
            share, _inflight = (time.process_time() - self._process) / max(1, _inflight), _inflight - 1
        r.wall_s, r.cpu_s = time.perf_counter() - self._wall, max(own, share)
        r.joules, r.source = self._joules(r.cpu_s)
        r.co2_g = r.joules / J_PER_KWH * grid_g_per_kwh()

    def _joules(self, cpu_s: float) -> tuple[float, str]:
        if self._uj is not None and self._ticks is not None:
            uj, ticks = _rapl_uj(self.rapl), _busy_ticks()
            busy_s = (ticks - self._ticks) / os.sysconf("SC_CLK_TCK") if ticks is not None else 0.0
            if uj is not None and uj >= self._uj and busy_s > 0:
                return (uj - self._uj) / 1e6 * min(1.0, cpu_s / busy_s), "RAPL"
        watts, source = watts_per_thread()
        return cpu_s * watts, source
