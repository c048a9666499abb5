"""Generative-AI playground: one tab per model family (ui/*_tab.py, found by ui/registry.py).

    python app.py                      # http://127.0.0.1:7860, offline, bundled models
    python app.py --share --auth me:pw # a public link protected by a password

The page is up at once; each model loads on first use. No model code lives here.
"""

import argparse
import atexit
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

try:  # ZeroGPU Spaces need `spaces` imported before torch; elsewhere it is optional
    import spaces  # noqa: F401
except ImportError:
    spaces = None

import gradio as gr

from generators.device import share_cpu
from generators.network import reachable
from ui import media
from ui.i18n import i18n as translations, t
from ui.registry import tabs

TITLE = "Generative AI playground · 生成式 AI 体验场"  # the browser tab's title: Gradio 6.31 does not translate it
SHARE_SERVER = ("api.gradio.app", 443)  # where Gradio asks for a tunnel (gradio.networking.GRADIO_API_SERVER)
# Digits are served at their 28 px; the browser enlarges them pixel for pixel instead of blurring them.
CSS = ".pixelated img { image-rendering: pixelated; }"
CONCURRENCY = 2  # requests served at once; each gets 1/CONCURRENCY of torch's CPU threads


class Playground(gr.Blocks):
    """gr.Blocks whose launch() serves the interface's translations (unless given others) and its CSS (before any
    given): Gradio takes them as launch(i18n=..., css=...), so `python app.py`, tests and Spaces that call
    build_demo().launch() all get them."""

    def launch(self, *args, i18n: gr.I18n | None = None, css: str | None = None, **kwargs):
        own = CSS + "".join(tab.css for tab in tabs())
        return super().launch(*args, i18n=i18n or translations(), css=own + (css or ""), **kwargs)


def model_cards() -> None:
    """A footer with each bundled model's card: data, recipe, hardware, time, measured quality."""
    with gr.Accordion(t("app_cards"), open=False):
        for key, path in (card for tab in tabs() for card in tab.cards):
            card = Path(__file__).parent / path
            with gr.Accordion(t(key), open=False):
                missing = f"`{path}` " + t("app_card_missing")  # the frontend translates the marked part
                gr.Markdown(card.read_text(encoding="utf-8") if card.exists() else missing)


def examples_cache() -> None:
    """Example outputs are cached at first use in a folder of this process (removed at exit): Gradio keys the
    cache by component id only, so a kept cache would outlive retrained models; nor does it belong in the repo."""
    if "GRADIO_EXAMPLES_CACHE" not in os.environ:
        folder = tempfile.mkdtemp(prefix="genai-playground-examples-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["GRADIO_EXAMPLES_CACHE"] = folder


def build_demo(queue_size: int = 32) -> gr.Blocks:
    """The whole app: every registered tab, a bounded queue, English or Chinese by the browser's language."""
    examples_cache()
    media.serve_static()
    share_cpu(CONCURRENCY)
    with Playground(title=TITLE) as demo:
        gr.Markdown(t("app_title"))
        gr.Markdown(t("app_header"))
        for tab in tabs():
            with gr.Tab(t(f"{tab.key}_title")):
                tab.build()
        model_cards()
    demo.queue(max_size=queue_size, default_concurrency_limit=CONCURRENCY)
    return demo


def launch_local(demo: gr.Blocks, **kwargs) -> str:
    """Serves `demo` on 127.0.0.1 at the first free port Gradio finds from 7860 on (tests, benches); its URL."""
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **kwargs)
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
    p.add_argument("--auth", default=os.environ.get("PLAYGROUND_AUTH"),
                   help="user:password required to open the app (or PLAYGROUND_AUTH)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="force the models onto this device")
    p.add_argument("--queue-size", type=int, default=32, help="requests waiting beyond this are refused")
    p.add_argument("--mcp", action="store_true", help="also serve the endpoints as MCP tools (needs gradio[mcp])")
    return p.parse_args(argv)


def main(argv=None) -> None:
    """Builds the app and serves it until interrupted; --share falls back to local serving when offline."""
    args = parse_args(argv)
    if args.device:
        os.environ["PLAYGROUND_DEVICE"] = args.device
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            raise SystemExit("--auth must look like user:password")
        auth = (user, password)
    if args.mcp and importlib.util.find_spec("mcp") is None:
        raise SystemExit('--mcp needs the MCP extra: pip install "gradio[mcp]==6.31.0"')
    share = args.share and can_share()  # offline, Gradio would print a long note about a missing frpc download
    demo = build_demo(args.queue_size)
    demo.launch(server_name=args.host, server_port=args.port, share=share, auth=auth, mcp_server=args.mcp,
                theme=gr.themes.Soft(), max_file_size="10mb", prevent_thread_lock=True)
    if args.share and not demo.share_url:
        why = "see above" if share else "Gradio's share server cannot be reached: offline?"
        print(f"No share link ({why}). Serving on this machine only: {demo.local_url}")
    demo.block_thread()


if __name__ == "__main__":
    main()
