"""The GAN's 16-digit sample through the Ray Serve backend against the same adapter in this process.

    python bench/bench_ray.py                      # a local Ray of this machine's cores, one GAN replica
    python bench/bench_ray.py --replicas 2 --users 1 16 --seconds 10
    python bench/bench_ray.py --address auto       # a running cluster (its replicas, wherever they run)
    python bench/bench_ray.py --dry-run            # a smoke run

For each number of users (threads, each calling `sample(digit=7, count=16, seed=i, truncation=0.8)` one call after
another for --seconds): aggregate digits/s and per-call p50/p95 latency, first in this process (GanSampler, torch on
--threads threads) and then through RayAdapter (the replica on --cpus CPUs: one forward per @serve.batch of calls).
The 1-minute load average is printed beside each line: other work on the machine moves these figures.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PLAYGROUND_DEVICE", "cpu")

import torch

from generators.serving import backend
from generators.gan import GanSampler


def run(sampler, users: int, seconds: float, count: int) -> tuple[float, list[float]]:
    """(digits/s over all users, each call's latency in ms) for `users` threads calling for `seconds`."""
    latencies, lock, stop = [], threading.Lock(), time.perf_counter() + seconds

    def user(i):
        seed = i * 1000
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            sampler.sample(digit=7, count=count, seed=seed, truncation=0.8)
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
            seed += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    [t.start() for t in threads], [t.join() for t in threads]
    return len(latencies) * count / (time.perf_counter() - t0), latencies


def report(name: str, users: int, digits_per_s: float, ms: list[float]) -> None:
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) > 1 else ms[0]
    print(f"{name:6s} users {users:3d}: {digits_per_s:8.0f} digits/s   p50 {statistics.median(ms):7.1f} ms   "
          f"p95 {p95:7.1f} ms   calls {len(ms):5d}   load {os.getloadavg()[0]:.1f}", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", help="join this Ray cluster; default: start a local one")
    p.add_argument("--users", type=int, nargs="+", default=[1, 16])
    p.add_argument("--seconds", type=float, default=10.0, help="per level and path")
    p.add_argument("--count", type=int, default=16, help="digits a call")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--cpus", type=float, default=1.0, help="CPUs (and torch threads) a replica")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the in-process path")
    p.add_argument("--dry-run", action="store_true", help="1 and 2 users, 1 s each")
    args = p.parse_args(argv)
    if args.dry_run:
        args.users, args.seconds = [1, 2], 1.0
    torch.set_num_threads(args.threads)
    os.environ.update(PLAYGROUND_RAY_REPLICAS=str(args.replicas), PLAYGROUND_RAY_CPUS=str(args.cpus))
    local = GanSampler()
    backend.use_ray(args.address)
    from ray import serve
    remote = backend.adapter(GanSampler)
    for sampler in (local, remote):  # warm-up: loads, first kernels, the replica's start
        for _ in range(3):
            sampler.sample(digit=7, count=args.count, seed=0, truncation=0.8)
    stats = serve.get_app_handle("GanSampler").stats
    for users in args.users:
        report("local", users, *run(local, users, args.seconds, args.count))
        before = stats.remote().result()
        report("ray", users, *run(remote, users, args.seconds, args.count))
        after = stats.remote().result()
        calls, forwards = after["batched"] - before["batched"], after["batches"] - before["batches"]
        print(f"       the replica ran {forwards} forwards for {calls} calls "
              f"({calls / max(1, forwards):.1f} a forward)")
    backend.use_local()


if __name__ == "__main__":
    main()
