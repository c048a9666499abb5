"""Cold start: seconds from `python app.py --port P` to the page's first HTTP 200, and the modules imported by then,
for this checkout beside a baseline commit (a temporary git worktree) and beside `import gradio` alone (the floor).

    python -m bench.bench_start                       # 3 starts each; baseline: main's first parent of HEAD
    python -m bench.bench_start --runs 5 --baseline 5f8ebc4
    python -m bench.bench_start --baseline none       # this checkout and the floor only

Runs alternate between the two checkouts, so machine load hits both alike; the load average is printed beside the
figures. Each server is started exactly as `python app.py` (runpy, __main__) by a small wrapper whose thread polls
the page from inside the process and, at the first 200, writes the time and len(sys.modules) to stdout.
"""

import argparse
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARK = "BENCH_START "  # the wrapper's one line: "BENCH_START <seconds since exec> <modules>"


def child(repo: str, port: int) -> None:
    """Runs `python app.py --port port` in this process; a thread reports the first HTTP 200 and the modules then."""
    import runpy
    import urllib.request

    start = float(os.environ["BENCH_START_T0"])

    def watch():
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        print(f"{MARK}{time.time() - start:.3f} {len(sys.modules)}", flush=True)
                        return
            except OSError:
                time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    os.chdir(repo)
    sys.path[:] = [repo] + [p for p in sys.path if p not in ("", str(REPO))]  # the checkout's own packages
    sys.argv = ["app.py", "--port", str(port)]
    runpy.run_path("app.py", run_name="__main__")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_once(repo: Path, timeout: float) -> tuple[float, int]:
    """(seconds to HTTP 200, modules imported then) for one cold `python app.py` in `repo`."""
    port = free_port()
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from bench.bench_start import child; "
            f"child({str(repo)!r}, {port})")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "BENCH_START_T0": str(time.time())}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        deadline = time.time() + timeout
        while (left := deadline - time.time()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith(MARK):
                seconds, modules = line[len(MARK):].split()
                return float(seconds), int(modules)
        raise RuntimeError(f"no HTTP 200 from {repo} within {timeout:.0f} s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def floor_once() -> tuple[float, int]:
    """`import gradio` alone: no app can answer sooner than its framework imports."""
    code = "import time, sys; t = time.time(); import gradio; print(time.time() - t, len(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}).stdout.split()
    return float(out[0]), int(out[1])


def baseline_ref() -> str:
    """main's commit that HEAD started from (the merge base), or HEAD's parent when HEAD is on main."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()

    base, head = git("merge-base", "HEAD", "main"), git("rev-parse", "HEAD")
    return base if base and base != head else "HEAD~1"


def row(name: str, figures: list[tuple[float, int]]) -> str:
    seconds = [s for s, _ in figures]
    return (f"{name:<34} {statistics.median(seconds):7.2f} {min(seconds):7.2f} {max(seconds):7.2f} "
            f"{statistics.median(m for _, m in figures):9.0f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="cold starts per checkout")
    p.add_argument("--baseline", default=None, help="a git commit to compare with ('none': skip; default: the "
                                                   "commit of main this branch started from, else HEAD~1)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a start may take before it counts as failed")
    args = p.parse_args(argv)
    checkouts = {"this checkout": REPO}
    tmp = None
    if args.baseline != "none":
        ref = args.baseline or baseline_ref()
        tmp = Path(tempfile.mkdtemp(prefix="bench-start-")) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tmp), ref], cwd=REPO, check=True)
        short = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, capture_output=True, text=True)
        checkouts[f"baseline {short.stdout.strip()}"] = tmp
    try:
        results = {name: [] for name in checkouts} | {"floor: import gradio": []}
        load_before = os.getloadavg()
        for i in range(args.runs):
            for name, repo in checkouts.items():
                results[name].append(start_once(repo, args.timeout))
                print(f"run {i + 1} {name}: {results[name][-1][0]:.2f} s, {results[name][-1][1]} modules",
                      flush=True)
            results["floor: import gradio"].append(floor_once())
        load_after = os.getloadavg()
    finally:
        if tmp is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp)], cwd=REPO)
    print(f"\nseconds from `python app.py` to HTTP 200 ({args.runs} runs each; {os.cpu_count()} cores, load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; Python {sys.version.split()[0]})")
    print(f"{'':<34} {'median':>7} {'min':>7} {'max':>7} {'modules':>9}")
    for name, figures in results.items():
        print(row(name, figures))


if __name__ == "__main__":
    main()
