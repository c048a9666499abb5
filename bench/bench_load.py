"""A room full of users on one link: aggregate throughput and latency from 1 to 32 simulated users, with batching
(the shared text engine, the image micro-batchers) and without (`python app.py --no-batching`), in the same run;
and, as a third mode, batched with the models in worker processes (`python app.py --backend process`).

    python -m bench.bench_load                                  # 1, 4, 8, 16, 32 users; text, digits, mixed; 20 s
    python -m bench.bench_load --levels 1 16 --workloads text --seconds 30
    python -m bench.bench_load --modes batched process          # in the Gradio process vs in worker processes
    python -m bench.bench_load --backend process                # every mode with --backend process
    python -m bench.bench_load --dry-run                        # a smoke run: 1 and 2 users, 3 s a level

Each mode serves `python app.py` (plus the mode's flags, and --concurrency N or --backend B if given) in its own
process on a free loopback port. Each level runs `users` clients on threads of this process, each sending one request after another
until the level's time is up (requests in flight then are waited for): text = a 48-token continuation of the UI's
defaults (seed = request number), digits = 16 GAN digits, mixed = half the users each. A client calls Gradio's HTTP
API (/gradio_api/call) and reads its event stream as it comes, keeping one session as a browser tab or a
gradio_client does; not gradio_client itself: its Job iterator polls every millisecond under a lock, so 32 of them
in this process took the cores the server needed. Printed per level:
aggregate generated tokens/s and digits/s, p50/p95 latency and time to the first update, errors, the server's CPU
(cores busy over the level: the app's process with its worker processes, then the app's process alone) and its RSS
(with the workers) after the level against its RSS after the warm-up, and the load average (other work on the
machine: the clients here share its cores with the server).
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_soak import serve  # noqa: E402

PROMPTS = ["The old captain looked out over the harbour and said", "It was a dark and stormy night;",
           "She opened the letter and read", "In the morning the village"]
NEW_TOKENS, DIGITS = 48, 16
MODES = {"batched": [], "one-by-one": ["--no-batching"], "process": ["--backend", "process"]}  # app.py's flags


def text_request(j: int) -> tuple[str, list, str]:
    return "continue_text", [PROMPTS[j % len(PROMPTS)], NEW_TOKENS, j], "tokens"


def digit_request(j: int) -> tuple[str, list, str]:
    return "sample_digits", ["Any", DIGITS, j, 0.8], "digits"


WORKLOADS = {"text": [text_request], "digits": [digit_request], "mixed": [text_request, digit_request]}


def made(kind: str, out: list) -> int:
    """Tokens (the highlighted tokens, less the prompt) or digits (the gallery) in an endpoint's last output."""
    return max(0, len(out[4] or []) - 1) if kind == "tokens" else len(out[0])


def timed(http: httpx.Client, url: str, defaults: dict, request, j: int, session: str = "") -> dict:
    """One request over Gradio's HTTP API, its event stream read as it comes: latency, time to the first update,
    and what it made; or its error. `session`: the user's session, kept across its requests (as a browser tab's or
    a gradio_client's: Gradio sets up each new session's state, a copy of the page's config)."""
    api, data, kind = request(j)
    t0, first = time.perf_counter(), None
    body = {"data": [*data, *defaults[api][len(data):]], "session_hash": session or uuid.uuid4().hex}
    try:
        r = http.post(f"{url}gradio_api/call/{api}", json=body)
        r.raise_for_status()
        with http.stream("GET", f"{url}gradio_api/call/{api}/{r.json()['event_id']}") as events:
            event = None
            for line in events.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event in ("generating", "complete"):
                    first = first or time.perf_counter() - t0
                    if event == "complete":
                        took = time.perf_counter() - t0
                        return {"latency": took, "first": first, kind: made(kind, json.loads(line[6:]))}
                elif line.startswith("data: ") and event == "error":
                    return dict(error=f"{api}: {line[6:126]}")
        return dict(error=f"{api}: the stream ended without a result")
    except httpx.HTTPError as e:
        return dict(error=f"{api}: {type(e).__name__} {str(e)[:100]}")


def parameter_defaults(url: str) -> dict[str, list]:
    """Each endpoint's parameter defaults (the HTTP API wants every parameter)."""
    info = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]
    return {api: [p.get("parameter_default") for p in info[f"/{api}"]["parameters"]]
            for api in ("continue_text", "sample_digits")}


def level(url: str, defaults: dict, users: int, workload: str, seconds: float) -> tuple[float, list[dict]]:
    """`users` clients, each sending requests one after another for `seconds`: the wall time and every result."""
    results, lock, kinds = [], threading.Lock(), WORKLOADS[workload]
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    def user(u: int):
        session = uuid.uuid4().hex
        with httpx.Client(timeout=300) as http:
            while time.perf_counter() < deadline:
                with lock:
                    j = next(counter)
                r = timed(http, url, defaults, kinds[u % len(kinds)], j, session)
                with lock:
                    results.append(r)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return time.perf_counter() - t0, results


def pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] * 1000 if len(xs) > 1 else xs[0] * 1000


def row(mode: str, workload: str, users: int, wall: float, res: list[dict], cpu: tuple[float, float], rss: float,
        rss0: float) -> str:
    ok = [r for r in res if "error" not in r]
    text, digits = [r for r in ok if "tokens" in r], [r for r in ok if "digits" in r]
    cells = [f"{mode:8s} {workload:7s} {users:5d} {len(res):5d} {len(res) - len(ok):4d}",
             f"{sum(r['tokens'] for r in text) / wall:7.0f} {sum(r['digits'] for r in digits) / wall:7.0f}"]
    for group in (text, digits):
        if group:
            lat, first = [r["latency"] for r in group], [r["first"] for r in group]
            cells.append(f"{pct(lat, 50):6.0f}/{pct(lat, 95):<6.0f} {pct(first, 50):5.0f}/{pct(first, 95):<5.0f}")
        else:
            cells.append(f"{'-':>13s} {'-':>11s}")
    cells.append(f"{cpu[0]:5.2f} {cpu[1]:5.2f} {rss:6.0f} {100 * (rss / rss0 - 1):+5.1f}% {os.getloadavg()[0]:5.1f}")
    return " ".join(cells)


def tree(server: psutil.Process) -> list[psutil.Process]:
    """The app's process and its worker processes (--backend process), the app's first."""
    return [server, *server.children(recursive=True)]


def cpu_seconds(server: psutil.Process) -> dict[int, float]:
    """CPU seconds (user + system) so far of each process of the app's tree, by pid."""
    seconds = {}
    for proc in tree(server):
        with contextlib.suppress(psutil.NoSuchProcess):
            seconds[proc.pid] = sum(proc.cpu_times()[:2])
    return seconds


def rss_mb(server: psutil.Process) -> float:
    """The RSS of the app's process and its workers together."""
    total = 0
    for proc in tree(server):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / 2**20


def cores_busy(server: psutil.Process, before: dict[int, float], wall: float) -> tuple[float, float]:
    """(the whole tree, the app's process alone): cores busy since `before` (a process started since counts whole)."""
    after = cpu_seconds(server)
    used = {pid: t - before.get(pid, 0.0) for pid, t in after.items()}
    return sum(used.values()) / wall, used.get(server.pid, 0.0) / wall


def run_mode(mode: str, flags: list[str], args) -> None:
    """Serves the app with `flags`, warms it up, then runs every workload at every level."""
    server, url = serve(*flags)
    try:
        proc, defaults = psutil.Process(server.pid), parameter_defaults(url)
        with httpx.Client(timeout=300) as http:
            for request in (text_request, digit_request):  # every model loaded, the engine started
                print(f"  warm-up {request.__name__}: {timed(http, url, defaults, request, 0)}", flush=True)
        rss0 = rss_mb(proc)
        for workload in args.workloads:
            for users in args.levels:
                cpu0 = cpu_seconds(proc)
                wall, res = level(url, defaults, users, workload, args.seconds)
                cpu = cores_busy(proc, cpu0, wall)
                time.sleep(args.settle)  # what the server holds once the room is quiet again
                print(row(mode, workload, users, wall, res, cpu, rss_mb(proc), rss0), flush=True)
                for r in [r for r in res if "error" in r][:2]:
                    print("    error:", r["error"])
    finally:
        server.terminate()
        server.communicate(timeout=30)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 16, 32], help="simultaneous users")
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    p.add_argument("--seconds", type=float, default=20.0, help="each level sends requests for this long")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after a level before its RSS is read")
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=["batched", "one-by-one"],
                   help="batched, one-by-one (--no-batching), process (batched, --backend process)")
    p.add_argument("--concurrency", type=int, help="passed to app.py (default: its own, the core count)")
    p.add_argument("--backend", choices=["local", "process"], help="passed to app.py for every mode (default: the "
                   "app's own, or the mode's)")
    p.add_argument("--dry-run", action="store_true", help="1 and 2 users, 3 s a level")
    args = p.parse_args(argv)
    if args.dry_run:
        args.levels, args.seconds, args.settle = [1, 2], 3.0, 0.5
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
    extra += ["--backend", args.backend] if args.backend else []  # after a mode's own flags: argparse keeps the last
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {NEW_TOKENS}-token texts, {DIGITS} digits "
          f"a call, {args.seconds:.0f} s a level")
    print(f"{'mode':8s} {'work':7s} {'users':>5s} {'reqs':>5s} {'errs':>4s} {'tok/s':>7s} {'dig/s':>7s} "
          f"{'text p50/p95':>13s} {'1st p50/95':>11s} {'digits p50/p95':>13s} {'1st p50/95':>11s} "
          f"{'CPU':>5s} {'app':>5s} {'RSS MB':>6s} {'vs warm':>6s} {'load':>5s}   (ms)")
    for mode in args.modes:
        run_mode(mode, MODES[mode] + extra, args)


if __name__ == "__main__":
    main()
