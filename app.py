"""Generative-AI playground: one tab per model family (ui/*_tab.py, found by ui/kit/registry.py).

    python app.py                      # http://127.0.0.1:7860, offline, bundled models
    PLAYGROUND_AUTH=me:pw python app.py --share   # a public link protected by a password
    python app.py --share --auth-file secrets.txt  # the same, user:password lines in a file

The page is up at once; each model loads on first use. No model code lives here.
"""

import argparse
import atexit
import importlib.util
import logging
import os
import shutil
from pathlib import Path

try:  # ZeroGPU Spaces need `spaces` imported before torch; elsewhere it is optional
    import spaces  # noqa: F401
except ImportError:
    spaces = None

import gradio as gr

from generators.core.network import reachable
from generators.runtime import memory, slots
from generators.serving import backend
from ui.kit import cards, disk, media, warm
from ui.kit.i18n import t
from ui.kit.registry import tabs
from ui.server import guard
from ui.server.gradio_patches import NO_SELF_CHECK, remember_missing_matplotlib, share_compute, static_paths_first
from ui.server.playground import SESSIONS, TITLE, Playground  # noqa: F401 - SESSIONS: the tests read the cap here

SHARE_SERVER = ("api.gradio.app", 443)  # where Gradio asks for a tunnel (gradio.networking.GRADIO_API_SERVER)


def model_cards() -> None:
    """A footer with each bundled model's card: data, recipe, hardware, time, measured quality; in Chinese from the
    README.zh.md beside a card."""
    with gr.Accordion(t("app_cards"), open=False):
        for key, path in (card for tab in tabs() for card in tab.cards):
            with gr.Accordion(t(key), open=False):
                missing = f"`{path}` " + t("app_card_missing")  # the frontend translates the marked part
                gr.Markdown(t(cards.text_key(path)) if (Path(__file__).parent / path).exists() else missing)


def examples_cache() -> None:
    """Example outputs are cached at first use in a folder of this process (removed at exit): Gradio keys the
    cache by component id only, so a kept cache would outlive retrained models; nor does it belong in the repo."""
    if "GRADIO_EXAMPLES_CACHE" not in os.environ:
        folder = str(disk.private_folder("examples-"))  # named with our pid: a later start removes it if orphaned
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["GRADIO_EXAMPLES_CACHE"] = folder


def queue_analytics(every: int = 500, kept: int = 2000) -> None:
    """Gradio's queue keeps its last 10,000 events for its monitoring page and rebuilds their summary after every
    event, a cost that grows with the events kept (docs/results.md, the load bench). Here the summary is rebuilt every
    `every` events over the last `kept` (Gradio's GRADIO_ANALYTICS_* variables; set in the environment, they win)."""
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(every))
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", str(kept))


def build_demo(queue_size: int = 32, concurrency: int | None = None) -> gr.Blocks:
    """The whole app: every registered tab, a bounded queue, English or Chinese by the browser's language.
    `concurrency`: model computations at once, app-wide (default: the core count; see share_compute)."""
    examples_cache()
    media.serve_static()
    static_paths_first(media.ROOT)
    remember_missing_matplotlib()
    queue_analytics()
    workers = slots.configure(concurrency)
    with Playground(title=TITLE, delete_cache=(disk.UPLOAD_PRUNE_EVERY_S, disk.UPLOAD_KEEP_S)) as demo:
        gr.Markdown(t("app_title"))
        gr.Markdown(t("app_header"))
        with gr.Tabs(overflow_behavior="wrap"):  # every tab's name in sight on a phone, not behind a "•••" menu
            for tab in tabs():
                with gr.Tab(t(f"{tab.key}_title"), id=tab.key, elem_id=f"tab-{tab.key}"):  # ui/kit/permalink.py
                    tab.build()
        model_cards()
    share_compute(demo, workers)
    demo.queue(max_size=queue_size, default_concurrency_limit=workers)
    return demo


def launch_local(demo: gr.Blocks, **kwargs) -> str:
    """Serves `demo` on 127.0.0.1 at the first free port Gradio finds from 7860 on (tests, benches); its URL."""
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **{**NO_SELF_CHECK, **kwargs})
    warm.start()
    return demo.local_url


def can_share(timeout: float = 3.0) -> bool:
    """Whether Gradio's share server answers, so that an offline --share says so in one line at once."""
    return reachable(*SHARE_SERVER, timeout=timeout)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line; environment variables give some defaults."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="make a public gradio.live link")
    p.add_argument("--auth-file", help="a file of user:password lines required to open the app")
    p.add_argument("--auth", help="user:password on the command line (visible in ps: prefer PLAYGROUND_AUTH or "
                                  "--auth-file)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="force the models onto this device")
    p.add_argument("--queue-size", type=int, default=32, help="requests waiting beyond this are refused")
    p.add_argument("--concurrency", type=int, metavar="N",
                   help="model computations at once, app-wide (default: the CPU cores), cores/N torch threads each")
    p.add_argument("--no-batching", action="store_true",
                   help="one request, one computation: no shared text engine or image micro-batches (same as "
                        "PLAYGROUND_BATCHING=0; for comparison)")
    p.add_argument("--forwarded-allow-ips", default=os.environ.get(guard.FORWARDED_ENV, ""), metavar="IPS",
                   help="comma-separated addresses of proxies whose X-Forwarded-For the login throttle believes "
                        "(PLAYGROUND_FORWARDED_ALLOW_IPS; default none: every client counts by its own address)")
    p.add_argument("--mcp", action="store_true", help="also serve the endpoints as MCP tools (needs gradio[mcp])")
    where, address = backend.from_environment()
    p.add_argument("--backend", choices=backend.BACKENDS, default=where,
                   help="where the models compute: in this process, a worker process per model family on this machine, "
                        "or Ray Serve deployments (PLAYGROUND_BACKEND)")
    p.add_argument("--ray-address", default=address, help="with --backend ray: join this Ray cluster ('auto': the "
                   "one this machine is in; PLAYGROUND_RAY_ADDRESS); default: start a local one")
    return p.parse_args(argv)


def read_auth(args: argparse.Namespace):
    """The login from --auth-file (user:password lines), else PLAYGROUND_AUTH, else --auth: a (user, password),
    a list of them for several lines, or None. The password may hold colons; the user may not."""
    if args.auth_file:
        text = Path(args.auth_file).read_text(encoding="utf-8")
    else:
        text = os.environ.get("PLAYGROUND_AUTH") or args.auth or ""
    pairs = []
    for line in filter(None, map(str.strip, text.splitlines())):
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise SystemExit("each login must look like user:password")
        pairs.append((user, password))
    return None if not pairs else pairs[0] if len(pairs) == 1 else pairs


def main(argv=None) -> None:
    """Builds the app and serves it until interrupted; --share falls back to local serving when offline."""
    memory.limit_arenas()  # before the server's threads start (generators/runtime/memory.py says why)
    args = parse_args(argv)
    disk.remove_orphans()  # folders of earlier runs that were killed (ui/kit/disk.py)
    disk.on_signals()  # SIGTERM and SIGINT remove this run's folders, then exit
    if args.device:
        os.environ["PLAYGROUND_DEVICE"] = args.device
    if args.no_batching:
        os.environ["PLAYGROUND_BATCHING"] = "0"
    guard.trust_proxies(args.forwarded_allow_ips)  # before launch: uvicorn reads it then
    auth = read_auth(args)
    handler = logging.StreamHandler()  # users' mistakes, one line each (ui/kit/errors.py, ui/server/guard.py)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger("playground").addHandler(handler)
    logging.getLogger("playground").setLevel(logging.INFO)
    if args.mcp and importlib.util.find_spec("mcp") is None:
        raise SystemExit('--mcp needs the MCP extra: pip install "gradio[mcp]==6.31.0"')
    if args.backend == "ray":
        backend.use_ray(args.ray_address)  # before the tabs are built: their adapters become Ray stand-ins
    elif args.backend == "process":
        backend.use_process()  # the same, for worker processes on this machine
    share = args.share and can_share()  # offline, Gradio would print a long note about a missing frpc download
    demo = build_demo(args.queue_size, args.concurrency)
    demo.launch(server_name=args.host, server_port=args.port, share=share, auth=auth, mcp_server=args.mcp,
                theme=gr.themes.Soft(), max_file_size="10mb", prevent_thread_lock=True, **NO_SELF_CHECK)
    warm.start()  # the tabs' warm-ups, now that the page answers
    if args.share and not demo.share_url:
        why = "see above" if share else "Gradio's share server cannot be reached: offline?"
        print(f"No share link ({why}). Serving on this machine only: {demo.local_url}")
    demo.block_thread()


if __name__ == "__main__":
    main()
