"""Soak: many mixed requests against one server, and what the server's memory does meanwhile.

    python -m bench.bench_soak                       # 2,000 requests from 4 clients (or --minutes, whichever first)
    python -m bench.bench_soak --requests 300 --clients 2   # a shorter run
    python -m bench.bench_soak --no-hostile          # the friendly mix alone

The app runs as `python app.py` in its own process on a free loopback port, so its RSS is the server's alone.
Clients mix every digit endpoint and the text endpoint, bad inputs (each must come back with its message) and
cancelled streams (through gradio_client). Prints requests, errors, p50/p95 latency, and the server's RSS before
(after a warm-up), after the first 100 requests, at its peak, and after the load.

The hostile mix (bench/soak_hostile.py, on unless --no-hostile) adds uploads (a GIF of 20,000 XMP openings, a
4097 x 1 PNG, a chunked upload over 10 MB), fine-tuned adapters (12 distinct ones in turn, past the cache of 8, and
one nested 200,000 deep) and 10,000-character texts to detect; a probe asks for /gradio_api/info every 0.5 s, so
its longest answer is the longest any request waited behind the others. Also printed: the disk use of each folder
the app writes (after the load and after the idle wait) and the size of the server's log.
"""

import argparse
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
# (endpoint, data, the event it must end with, a word its message must have); data is padded with the endpoint's
# defaults (/gradio_api/info) except for the one call that sends too few on purpose
WORK = [
    ("sample_digits", ["7", 16, 3, 0.8], "complete", None),
    ("sample_digits", ["Any", 64, 1, 1.0], "complete", None),
    ("interpolate_digits", ["1", "7", 16, "linear", 0, None, None], "complete", None),
    ("latent_walk", ["3", 1, 2, 16, 1.0, ""], "complete", None),
    ("continue_text", ["Once upon a time", 16, 0], "complete", None),
    ("sample_digits", ["7", 4, 1.5, 1.0], "error", "seed"),
    ("sample_digits", ["7", "16", 1, 1.0], "error", "count"),
    ("sample_digits", ["7"], "error", "takes 5"),  # too few (the session State is not counted: it is not sent)
    ("continue_text", [123, 16, 0], "error", "text"),
    ("interpolate_digits", ["1", "7", 8, "cubic", 0, None, None], "error", "cubic"),
]


def call(url: str, api: str, data) -> tuple[str, object]:
    """POST /gradio_api/call/<api>, then its event stream: (last event, its data)."""
    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=120)
    if r.status_code != 200:
        return f"http {r.status_code}", r.text[:200]
    text = httpx.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=120).text
    events = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    datas = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    return events[-1], json.loads(datas[-1])


def padded(url: str) -> list:
    """WORK with each call's data padded with its endpoint's parameter defaults."""
    info = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]
    work = []
    for api, data, want, says in WORK:
        defaults = [p.get("parameter_default") for p in info[f"/{api}"]["parameters"]]
        too_few = says is not None and says.startswith("takes")  # the call that sends too few, as it is
        work.append((api, data if too_few else [*data, *defaults[len(data):]], want, says))
    return work


def serve(*flags: str, log=subprocess.PIPE, env=None) -> tuple[subprocess.Popen, str]:
    """`python app.py` (with `flags`) on a free loopback port; its process and URL once it answers. `log`: where its
    stderr goes (a file for long runs: a pipe nobody reads fills and stops the server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *flags], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            httpx.get(url, timeout=1)
            return server, url
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the app did not start")


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def soak(url: str, pid: int, requests: int, clients: int, seconds: float, hostile=None) -> dict:
    """`requests` mixed calls from `clients` threads (at most `seconds`); latencies, failures, RSS samples.
    `hostile`: a bench.soak_hostile.Hostile whose calls join the mix."""
    lock, latencies, failures, done = threading.Lock(), [], [], [0]
    rss, work = {"peak": rss_mb(pid)}, padded(url)
    work += hostile.work if hostile is not None else []
    deadline = time.time() + seconds
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            rss["peak"] = max(rss["peak"], rss_mb(pid))

    def client(k: int):
        rng = random.Random(k)
        while time.time() < deadline:
            with lock:
                if done[0] >= requests:
                    return
                done[0] += 1
                n = done[0]
                if n == 100:
                    rss["after 100"] = rss_mb(pid)
            api, data, want, says = rng.choice(work)
            t0 = time.perf_counter()
            try:
                if n % 25 == 0:
                    cancel(url)
                    continue
                event, out = data(url) if callable(data) else call(url, api, data)
            except httpx.HTTPError as e:  # a timeout on an overloaded machine is an error, not the end of the run
                event, out = f"client {type(e).__name__}", {}
            with lock:
                latencies.append(time.perf_counter() - t0)
                ok = event == want and (says is None or says in str(out.get("error") if isinstance(out, dict) else ""))
                if not ok:
                    failures.append((api, event, str(out)[:200]))
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    stop.set()
    return dict(requests=done[0], latencies=latencies, failures=failures, rss=rss)


def cancel(url: str) -> None:
    """A streamed interpolation, cancelled after its first update (gradio_client)."""
    from gradio_client import Client

    job = Client(url, verbose=False).submit("1", "7", 48, "spherical", 0, api_name="/interpolate_digits")
    for _ in job:
        job.cancel()
        break


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--minutes", type=float, default=10.0, help="stop after this long even if requests remain")
    p.add_argument("--no-hostile", action="store_true", help="the friendly mix only")
    p.add_argument("--baseline", type=float, default=10.0, help="seconds the probe asks the idle server before the "
                   "load (its figures are printed beside the load's)")
    p.add_argument("--idle", type=float, default=35.0, help="seconds to wait after the load before the last RSS (the "
                   "app gives its C heap's free pages back once it has been quiet for 1 s: generators/runtime/memory.py)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bench import soak_hostile

    uploads = tempfile.mkdtemp(prefix="soak-uploads-")  # Gradio's upload folder, the server's alone
    log_file = tempfile.NamedTemporaryFile("w+", prefix="soak-log-", suffix=".txt")
    server, url = serve(log=log_file, env={**os.environ, "GRADIO_TEMP_DIR": uploads})
    hostile = None if args.no_hostile else soak_hostile.Hostile(url)
    probe = soak_hostile.Probe(url)
    try:
        for api, data, _, _ in padded(url)[:5]:  # warm-up: every model loaded, every endpoint run once
            call(url, api, data)
        before = rss_mb(server.pid)
        with soak_hostile.Probe(url) as idle_probe:  # the baseline: the same probe, the server idle
            time.sleep(args.baseline)
        t0 = time.time()
        with probe:
            result = soak(url, server.pid, args.requests, args.clients, args.minutes * 60, hostile)
        took = time.time() - t0
        disk_after = soak_hostile.disk_use(server.pid, uploads)
        time.sleep(args.idle)
        after = rss_mb(server.pid)
        disk_idle = soak_hostile.disk_use(server.pid, uploads)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log = Path(log_file.name).read_text(errors="replace")
    lat = sorted(result["latencies"])
    q = lambda f: lat[min(len(lat) - 1, math.floor(f * len(lat)))] * 1000  # noqa: E731
    rss = result["rss"]
    print(f"requests {result['requests']} in {took:.0f} s from {args.clients} clients "
          f"({result['requests'] // 25} of them cancelled streams); errors {len(result['failures'])}")
    print(f"latency  p50 {q(0.5):.0f} ms  p95 {q(0.95):.0f} ms  (mean {statistics.fmean(lat) * 1000:.0f} ms)")
    print(f"RSS MB   before {before:.0f}  after 100 {rss.get('after 100', float('nan')):.0f}  "
          f"peak {rss['peak']:.0f}  after {after:.0f}  (after/after-100 {after / rss.get('after 100', after):.3f})")
    print(f"server log: {len(log.splitlines())} lines, {len(log.encode()) / 1024:.0f} KB, "
          f"{log.count('Traceback')} tracebacks")
    print(f"probe (GET /gradio_api/info every 0.5 s, {probe.count} asked): longest wait {probe.longest * 1000:.0f} ms,"
          f" p99 {probe.quantile(0.99) * 1000:.0f} ms, p50 {probe.quantile(0.5) * 1000:.0f} ms; idle server before the"
          f" load: longest {idle_probe.longest * 1000:.0f} ms, p50 {idle_probe.quantile(0.5) * 1000:.0f} ms")
    for name, (a, b) in {k: (disk_after[k], disk_idle[k]) for k in disk_after}.items():
        print(f"disk {name:9s} after the load {a / 2**20:7.1f} MB, after {args.idle:.0f} s idle {b / 2**20:7.1f} MB")
    for failure in result["failures"][:5]:
        print("  failed:", failure)


if __name__ == "__main__":
    main()
