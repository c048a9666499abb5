"""What the process backend costs and saves the server: the CPU time this (the Gradio) process spends per call when
the model computes in its worker process (`--backend process`), beside the same calls computed here, one user.

    python bench/bench_process.py            # 200 GAN samples of 16 digits, 50 texts of 48 tokens, each way
    python bench/bench_process.py --dry-run  # 10 and 3

The server's CPU per call is what limits a room (issue 14: one process, one GIL): here it is this process's CPU time
(all its threads) over the calls, warm. Wall times are one user's latency; both sides run on 1 torch thread.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generators.serving import backend  # noqa: E402
from generators.gan import GanSampler  # noqa: E402
from generators.text import TextContinuation  # noqa: E402


def gan_call(sampler, j: int) -> int:
    sampler.sample(digit=None, count=16, seed=j, truncation=0.8)
    return 16


def text_call(continuation, j: int) -> int:
    return sum(1 for _ in continuation.stream("The old captain looked out over the harbour and said",
                                              max_new_tokens=48, seed=j))


def measure(adapter, call, calls: int) -> tuple[float, float, float]:
    """(this process's CPU ms per call, wall ms per call, items per call) over `calls` warm calls."""
    for j in range(3):
        call(adapter, j)
    cpu0, t0, items = time.process_time(), time.perf_counter(), 0
    for j in range(calls):
        items += call(adapter, j)
    return (time.process_time() - cpu0) / calls * 1e3, (time.perf_counter() - t0) / calls * 1e3, items / calls


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="a few calls each")
    args = p.parse_args(argv)
    counts = {GanSampler: 10, TextContinuation: 3} if args.dry_run else {GanSampler: 200, TextContinuation: 50}
    os.environ.setdefault("PLAYGROUND_DEVICE", "cpu")
    os.environ.setdefault("PLAYGROUND_WORKER_THREADS", "1")
    torch.set_num_threads(1)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'call':26s} {'backend':8s} {'server CPU ms':>13s} {'wall ms':>8s} {'items':>6s}")
    backend.use_process()
    try:
        for cls, call, what in ((GanSampler, gan_call, "GAN sample, 16 digits"),
                                (TextContinuation, text_call, "text stream, 48 tokens")):
            for name, adapter in (("process", backend.adapter(cls)), ("local", cls())):
                cpu, wall, items = measure(adapter, call, counts[cls])
                print(f"{what:26s} {name:8s} {cpu:13.2f} {wall:8.2f} {items:6.0f}", flush=True)
    finally:
        backend.use_local()  # the workers end


if __name__ == "__main__":
    main()
