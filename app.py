"""Generative-AI playground: text continuation, GAN digit sampling, VAE latent interpolation.

    python app.py                      # http://127.0.0.1:7860, offline, bundled models
    python app.py --share --auth me:pw # a public link protected by a password

The page is up at once; each model loads on first use. No model code lives here.
"""

import argparse
import importlib.util
import os
from pathlib import Path

try:  # ZeroGPU Spaces need `spaces` imported before torch; elsewhere it is optional
    import spaces  # noqa: F401
except ImportError:
    spaces = None

import gradio as gr

from ui import gan_tab, text_tab, vae_tab

TITLE = "Generative AI playground"
INTRO = (
    "Three model families behind the question *bubble or future?*, live on real trained models. "
    "Every model here was trained by us on open data; the model cards give data, recipe and measured quality."
)


CARDS = {"Text model": "assets/text-model/README.md", "GAN": "assets/gan/README.md",
         "VAE": "assets/vae/README.md", "Digit classifier (grades the GAN)": "assets/classifier/README.md"}


def model_cards() -> None:
    """A footer with each bundled model's card: data, recipe, hardware, time, measured quality."""
    with gr.Accordion("Model cards: how each model was trained and how good it measured", open=False):
        for name, path in CARDS.items():
            card = Path(__file__).parent / path
            with gr.Accordion(name, open=False):
                gr.Markdown(card.read_text(encoding="utf-8") if card.exists() else f"`{path}` is missing.")


def build_demo(queue_size: int = 32) -> gr.Blocks:
    """The whole app: one tab per model family, a bounded queue."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tab("Text continuation"):
            text_tab.build()
        with gr.Tab("GAN digits"):
            gan_tab.build()
        with gr.Tab("VAE interpolation"):
            vae_tab.build()
        model_cards()
    demo.queue(max_size=queue_size, default_concurrency_limit=2)
    return demo


def parse_args(argv=None) -> argparse.Namespace:
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
    demo = build_demo(args.queue_size)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth, mcp_server=args.mcp,
                theme=gr.themes.Soft(), max_file_size="10mb")


if __name__ == "__main__":
    main()
