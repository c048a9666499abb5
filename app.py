"""Generative-AI playground: one tab per model family (ui/*_tab.py, found by ui/kit/registry.py).

    python app.py                      # http://127.0.0.1:7860, offline, bundled models
    PLAYGROUND_AUTH=me:pw python app.py --share   # a public link protected by a password
    python app.py --share --auth-file secrets.txt  # the same, user:password lines in a file

The page is up at once; each model loads on first use. No model code lives here.
"""

import argparse
import atexit
import contextvars
import importlib.util
import inspect
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

try:  # ZeroGPU Spaces need `spaces` imported before torch; elsewhere it is optional
    import spaces  # noqa: F401
except ImportError:
    spaces = None

import gradio as gr
from starlette.middleware import Middleware

from generators.serving import backend
from generators.runtime import memory, slots
from generators.core.network import reachable
from ui.kit import cards, media
from ui.server import guard
from ui.server.housekeeping import SessionPruner
from ui.kit.errors import language
from ui.kit.i18n import i18n as translations, t
from ui.kit.registry import tabs

TITLE = "Generative AI playground · 生成式 AI 体验场"  # the browser tab's title: Gradio 6.31 does not translate it
SHARE_SERVER = ("api.gradio.app", 443)  # where Gradio asks for a tunnel (gradio.networking.GRADIO_API_SERVER)
# Digits are served at their 28 px; the browser enlarges them pixel for pixel instead of blurring them.
CSS = """
.pixelated img { image-rendering: pixelated; }
.grid-wrap.fixed-height { min-height: 0 !important; }  /* a gallery of 4 digits is not 450 px tall */
.block .empty.large, .block .empty.small { min-height: 0 !important; height: 64px !important; }  /* outputs at rest */
.secondary-wrap > input { text-overflow: ellipsis; padding-right: 24px !important; }  /* a dropdown's text stops before its arrow */
@media (max-width: 640px) {  /* a phone: galleries as many columns as fit, not Gradio's fixed 8-16 cut off */
  .grid-container { grid-template-columns: repeat(auto-fill, minmax(52px, 1fr)) !important;
                    grid-template-rows: none !important; grid-auto-rows: auto !important; }
  .grid-wrap.fixed-height { max-height: none !important; height: auto !important; }  /* the page scrolls */
  /* labels that float over an image or a gallery's first row go above them, in full */
  .block > label.float[data-testid="block-label"] { position: static; white-space: normal; max-width: 100%; }
  .grid-container.pt-6 { padding-top: 0; }
}
"""
# Gradio keeps the state of its last 10,000 sessions, each with a copy of the config of every block of the page
# (gradio/state_holder.py: SessionState; the model cards' Markdown included), and every API call is a session of
# its own, so memory grew with every request. The least recently used session goes first, so a browser tab still
# in use keeps its state (the text tab's token probabilities); one idle while 64 others came loses it.
SESSIONS = 64


_REQUEST = contextvars.ContextVar("request", default=None)  # the request whose inputs are being read
_PRUNER = SessionPruner()  # Gradio's bookkeeping of finished API sessions (ui/server/housekeeping.py)


class Playground(gr.Blocks):
    """gr.Blocks whose launch() serves the interface's translations (unless given others), its CSS (before any
    given) and the guard (ui/server/guard.py: body caps, login throttling, media checks): Gradio takes them as
    launch(i18n=..., css=..., app_kwargs=...), so `python app.py`, tests and Spaces that call
    build_demo().launch() all get them. Inputs Gradio itself cannot read (too few, a value its component refuses)
    answer with one short message, logged as one line, instead of Gradio's text with the whole payload in it."""

    def launch(self, *args, i18n: gr.I18n | None = None, css: str | None = None, app_kwargs: dict | None = None,
               max_file_size: str | int | None = "10mb", state_session_capacity: int = SESSIONS, **kwargs):
        own = CSS + "".join(tab.css for tab in tabs())
        app_kwargs = dict(app_kwargs or {})
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(guard.Guard)]
        memory.QUIET.start()  # the C heap trimmed once the app goes quiet (generators/runtime/memory.py)
        return super().launch(*args, i18n=i18n or translations(), css=own + (css or ""), app_kwargs=app_kwargs,
                              max_file_size=max_file_size, state_session_capacity=state_session_capacity, **kwargs)

    async def process_api(self, block_fn, inputs, state=None, request=None, *args, **kwargs):
        if getattr(self, "_queue", None) is not None:  # on the event loop, where Gradio's queue keeps its per-session dicts
            _PRUNER.maybe_prune(self._queue)
        token = _REQUEST.set(request)
        memory.QUIET.note()
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        except gr.Error as e:  # a handler's message quoting a huge payload (check_choice's "got ...")
            if len(str(e.message)) > 300:
                raise gr.Error(guard.shorten(str(e.message)), title=e.title, print_exception=False) from None
            raise
        finally:
            memory.QUIET.note()
            _REQUEST.reset(token)

    def validate_inputs(self, block_fn, inputs):
        if len(inputs) < len(block_fn.inputs):
            raise _refused(block_fn, "app_too_few", n=len(block_fn.inputs), got=len(inputs),
                           names=", ".join(_names(block_fn)[:len(block_fn.inputs)]))

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as e:
            if e.print_exception or len(str(e.message)) > 300:  # Gradio's own (a dropdown's "Value ... not in")
                raise _refused(block_fn, "", text=guard.shorten(str(e.message))) from None
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            index = guard.component_index(e)
            if index is None or index >= len(block_fn.inputs):
                raise _refused(block_fn, "app_bad_call") from None
            block, names = block_fn.inputs[index], _names(block_fn)
            raise _refused(block_fn, "app_bad_input", index=index + 1, kind=block.get_block_name(),
                           name=names[index] if index < len(names) else block.label or "?") from None


def _names(block_fn) -> list[str]:
    """The handler's parameter names, in the order of its inputs."""
    return [p for p in inspect.signature(block_fn.fn).parameters if p != "request"] if block_fn.fn else []


def _refused(block_fn, key: str, text: str = "", **fields) -> gr.Error:
    """A short gr.Error for inputs Gradio could not read, in the request's language; logged as one line."""
    lang, api = language(_REQUEST.get()), f"/{block_fn.api_name or block_fn.name}"
    guard.log.info("%s: %s", api[1:], key or "gradio_refused")
    return gr.Error(text or guard.message(key, lang, api=api, **fields), title="错误" if lang == "zh" else "Error",
                    print_exception=False)


def remember_missing_matplotlib() -> None:
    """Gradio imports matplotlib twice for every event it runs (utils.MatplotlibBackendMananger); where it is not
    installed, each try searched sys.path again: ~6% of the server's CPU at 16 text users. Python remembers a missing
    module given as None in sys.modules."""
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None


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
        folder = tempfile.mkdtemp(prefix="genai-playground-examples-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["GRADIO_EXAMPLES_CACHE"] = folder


def queue_analytics(every: int = 500, kept: int = 2000) -> None:
    """Gradio's queue keeps its last 10,000 events for its monitoring page and, after every event, rebuilds their
    summary as a pandas DataFrame: 2.8 ms of server CPU with 100 events kept, 4.0 with 1,000, 13.7 with 10,000, so
    at 16 users asking for digits (~37 requests a second) the cost grows with the records to ~0.5 core (13.7 x 37).
    Here the summary is rebuilt every `every` events over the last `kept` (Gradio's GRADIO_ANALYTICS_* variables;
    set in the environment, they win)."""
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(every))
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", str(kept))


def build_demo(queue_size: int = 32, concurrency: int | None = None) -> gr.Blocks:
    """The whole app: every registered tab, a bounded queue, English or Chinese by the browser's language.
    `concurrency`: model computations at once, app-wide (default: the core count; see share_compute)."""
    examples_cache()
    media.serve_static()
    remember_missing_matplotlib()
    queue_analytics()
    workers = slots.configure(concurrency)
    with Playground(title=TITLE) as demo:
        gr.Markdown(t("app_title"))
        gr.Markdown(t("app_header"))
        with gr.Tabs(overflow_behavior="wrap"):  # every tab's name in sight on a phone, not behind a "•••" menu
            for tab in tabs():
                with gr.Tab(t(f"{tab.key}_title")):
                    tab.build()
        model_cards()
    share_compute(demo, workers)
    demo.queue(max_size=queue_size, default_concurrency_limit=workers)
    return demo


def share_compute(demo: gr.Blocks, workers: int) -> None:
    """Every public endpoint without a queue group of its own joins one group of `workers`: that many model
    computations run at once in the whole app (Gradio's default is a limit per endpoint: 2 each made 8 at once).
    A tab may give an endpoint its own group: the text tab does while batching, its requests waiting on one engine."""
    for fn in demo.fns.values():
        if fn.fn is not None and fn.api_name and fn.api_visibility == "public" and fn.concurrency_id == str(id(fn.fn)):
            fn.concurrency_id, fn.concurrency_limit = "models", workers


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
    if args.device:
        os.environ["PLAYGROUND_DEVICE"] = args.device
    if args.no_batching:
        os.environ["PLAYGROUND_BATCHING"] = "0"
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
                theme=gr.themes.Soft(), max_file_size="10mb", prevent_thread_lock=True)
    if args.share and not demo.share_url:
        why = "see above" if share else "Gradio's share server cannot be reached: offline?"
        print(f"No share link ({why}). Serving on this machine only: {demo.local_url}")
    demo.block_thread()


if __name__ == "__main__":
    main()
