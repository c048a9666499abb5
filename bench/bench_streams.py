"""What a streamed image endpoint costs a visitor: requests, bytes and time to the result in Chromium, and the time
of gradio_client with its defaults (files downloaded), each beside the model's own time.

    python -m bench.bench_streams                    # this checkout
    python -m bench.bench_streams --baseline /tmp/base   # and another checkout (e.g. main) in the same run
    python -m bench.bench_streams --floor            # and the floor: the same outputs from an app with no model

Each checkout runs as `python app.py` on a free loopback port. The model's time: the diffusion summary's own "in N ms";
for the walk and the interpolation (whose summaries give no time) gradio_client with download_files=False, which
receives the stream but fetches no file. Each figure is the median of --runs runs after a warm-up; timings on a shared
CPU are noisy, so compare columns of the same run only.

--floor also times bench/stream_floor.py, a Gradio app with no model whose walk and interpolation answer with the
same outputs from files written at its start: what the page and gradio_client cost with a model that takes no time.
Its "x" columns are against the app's model time, so a floor above the target says the target cannot be met with
these outputs, whatever the model does.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# (name, api_name, data (its defaults), tab title, button, a JS test that the result is on the page)
CASES = [
    ("diffusion", "/denoise_digits", ["7", 16, 20, 2.0, 0, "DPM-Solver++", 0.0], "Diffusion digits", "Denoise",
     "document.querySelectorAll('#diffusion-gallery .caption-label').length >= 16"),
    ("gan walk", "/latent_walk", ["3", 1, 2, 24, 1.0, ""], "GAN digits", "Walk",
     "[...document.querySelectorAll('img')].some(i => i.src.includes('walk.gif'))"),
    ("vae interpolation", "/interpolate_digits", ["1", "7", 16, "linear", 0, None, None], "VAE interpolation",
     "Interpolate", "[...document.querySelectorAll('img')].some(i => i.src.includes('morph.gif'))"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(root: Path, log: Path):
    port = free_port()
    # Gradio's own check that localhost answers gives up after 3 s and then refuses to start: on a busy shared CPU
    # the app is served but not answering yet, so the bench skips that check (its client waits for the app instead)
    start = ("import runpy, sys, gradio.networking as n; n.url_ok = lambda url: True; "
             f"sys.argv = ['app.py', '--port', '{port}']; runpy.run_path('app.py', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", start], cwd=root, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc, f"http://127.0.0.1:{port}/"


def client(url: str, proc=None, **kwargs):
    from gradio_client import Client
    for _ in range(600):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the app at {url} exited")
        try:
            return Client(url, verbose=False, **kwargs)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise RuntimeError(f"{url} never answered")


def started(root: Path, tries: int = 3):
    """(process, url) of the app once it answers; a start whose own localhost check timed out on a busy CPU
    (Gradio gives it 3 s) is retried."""
    for attempt in range(tries):
        proc, url = serve(root, Path(f"/tmp/bench-streams-{os.getpid()}-{root.name}-{attempt}.log"))
        try:
            client(url, proc)
            return proc, url
        except RuntimeError:
            if attempt == tries - 1:
                raise


def model_ms(result, fallback_s: float) -> float:
    """The diffusion summary's own figure, else the download-free call's time."""
    found = re.search(r"in (\d+) ms", str(result[-1])) if isinstance(result, tuple) else None
    return float(found.group(1)) if found else fallback_s * 1000


def api_times(url: str, api: str, data: list, runs: int) -> tuple[float, float, float]:
    """(model ms, gradio_client default ms, gradio_client with one TLS context ms), medians. The third is a client
    made as README makes it, with ssl_verify=ssl.create_default_context(cafile=certifi.where()): httpx then reuses that
    context for each file it fetches instead of loading the CA bundle again (~20 ms a file), and certificates are still
    checked."""
    import ssl

    import certifi
    plain, full = client(url, download_files=False), client(url)
    shared = client(url, ssl_verify=ssl.create_default_context(cafile=certifi.where()))
    full.predict(*data, api_name=api)  # warm-up
    shared.predict(*data, api_name=api)
    models, totals, contexts = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = plain.predict(*data, api_name=api)
        models.append(model_ms(result, time.perf_counter() - t0))
        totals.append(_timed(full.predict, *data, api_name=api))
        contexts.append(_timed(shared.predict, *data, api_name=api))
    return statistics.median(models), statistics.median(totals), statistics.median(contexts)


def browser_run(browser, url: str, tab: str, button: str, done: str, runs: int) -> tuple[int, int, float]:
    """(requests, bytes received, ms to the result) of clicking `button`, medians over fresh pages."""
    counts, sizes, times = [], [], []
    for _ in range(runs + 1):  # the first page warms up
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)
        page.get_by_role("tab", name=tab, exact=True).click()
        page.wait_for_timeout(500)
        seen = []
        page.on("requestfinished", lambda r: seen.append(r))
        t0 = time.perf_counter()
        page.get_by_role("button", name=button, exact=True).first.click()
        page.wait_for_function(done, timeout=120_000, polling=20)
        ms = (time.perf_counter() - t0) * 1000
        page.wait_for_timeout(1500)  # the rest of the last update's files
        counts.append(len(seen))
        sizes.append(sum(max(0, r.sizes()["responseBodySize"]) + r.sizes()["responseHeadersSize"] for r in seen))
        times.append(ms)
        page.close()
    return (statistics.median(counts[1:]), statistics.median(sizes[1:]), statistics.median(times[1:]))


def per_file_ms(url: str, api: str, data: list) -> tuple[float, float]:
    """(gradio_client's way, one shared connection): median ms to fetch one of a walk's frames. gradio_client 2.7.2
    opens a new httpx client for every file of every streamed message (Endpoint._download_file), and fetches the
    last message's files twice (as the last process_generating, then as process_completed): the first figure times
    the floor that a stream's files set on its default client's time, the second what of it the server spends."""
    import httpx
    from gradio_client import utils

    frames = client(url, download_files=False).predict(*data, api_name=api)[0]
    urls = [url + "gradio_api/file=" + utils.encode_file_path(item["image"]["path"]) for item in frames]

    def own(u: str) -> None:
        with httpx.stream("GET", u) as response:
            response.read()

    with httpx.Client() as shared:
        return tuple(statistics.median(_timed(fetch, u) for u in urls) for fetch in (own, shared.get))


def _timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000


def timed_cases(proc, url: str, cases: list, runs: int) -> dict:
    """Each case (name, api_name, data, tab, button, done) through gradio_client and Chromium; the server stopped
    after."""
    from playwright.sync_api import sync_playwright
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for name, api, data, tab, button, done in cases:
                model, full, shared = api_times(url, api, data, runs)
                requests, size, shown = browser_run(browser, url, tab, button, done, runs)
                out[name] = dict(model=model, client=full, shared=shared, requests=requests, kb=size / 1024,
                                 browser=shown)
            browser.close()
        walk = next(case for case in cases if case[0] == "gan walk")
        out["per file"] = per_file_ms(url, walk[1], walk[2])
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def measure(root: Path, runs: int) -> dict:
    return timed_cases(*started(root), CASES, runs)


def measure_floor(runs: int) -> dict:
    """The walk's and the interpolation's outputs from bench/stream_floor.py (no model), as many frames."""
    from bench.stream_floor import TABS
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.stream_floor", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    client(url, proc)
    cases = [(name, api, [data[3] if key == "walk" else data[2]], *TABS[key], done)
             for (name, api, data, _, _, done), key in zip(CASES[1:], TABS)]
    return timed_cases(proc, url, cases, runs)


def handler_ms(runs: int) -> dict:
    """The walk's and the interpolation's whole handlers (model, PNGs, GIF, provenance marks) called in this process,
    no server: ms, median of `runs` after a warm-up."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ui.tabs import gan_tab, vae_tab
    out = {}
    for (name, _, data, *_), fn in zip(CASES[1:], (gan_tab.latent_walk, vae_tab.interpolate_digits)):
        list(fn(*data))
        out[name] = statistics.median(_timed(lambda: list(fn(*data))) for _ in range(runs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to measure in the same run (e.g. main)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--floor", action="store_true", help="also time the same outputs from an app with no model")
    args = parser.parse_args()
    results = {}
    if args.baseline:
        results["before"] = measure(args.baseline.resolve(), args.runs)
    results["after"] = measure(ROOT, args.runs)
    print(f"{'endpoint':18} {'run':7} {'requests':>8} {'KB':>7} {'model ms':>9} {'page ms':>8} {'x':>5} "
          f"{'client ms':>9} {'x':>5} {'ctx ms':>7} {'x':>5}")
    for name, *_ in CASES:
        for label, figures in results.items():
            f = figures[name]
            print(f"{name:18} {label:7} {f['requests']:8.0f} {f['kb']:7.0f} {f['model']:9.0f} {f['browser']:8.0f} "
                  f"{f['browser'] / f['model']:5.2f} {f['client']:9.0f} {f['client'] / f['model']:5.2f} "
                  f"{f['shared']:7.0f} {f['shared'] / f['model']:5.2f}")
    if args.floor:
        floor, handlers = measure_floor(args.runs), handler_ms(max(5, args.runs))
        print("floor: bench/stream_floor.py, the same outputs with no model; x against the app's model ms above")
        for name, f in ((k, v) for k, v in floor.items() if k != "per file"):
            model = results["after"][name]["model"]
            print(f"{name:18} {'floor':7} {f['requests']:8.0f} {f['kb']:7.0f} {f['model']:9.0f} {f['browser']:8.0f} "
                  f"{f['browser'] / model:5.2f} {f['client']:9.0f} {f['client'] / model:5.2f} {f['shared']:7.0f} "
                  f"{f['shared'] / model:5.2f}")
        print("(the floor's model ms column: its gradio_client call with files not fetched, no model behind it)")
        for name, ms in handlers.items():
            print(f"{name}: the whole handler in-process (model, files, marks, no server) {ms:.0f} ms")
    for label, figures in results.items():
        own, shared = figures["per file"]
        print(f"{label}: a file as gradio_client fetches it (a new httpx client each) {own:.1f} ms, "
              f"on one shared connection {shared:.1f} ms (medians over a walk's frames)")


if __name__ == "__main__":
    main()
