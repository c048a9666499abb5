"""Every place the app relies on Gradio's internals, in one module. Written for Gradio 6.31.0 (GRADIO_VERSION);
tests/test_gradio_patches.py has a test per patch that fails when Gradio changes under it. Where Gradio offers a
public way (launch(i18n=, css=, app_kwargs=), set_static_paths, GRADIO_ANALYTICS_* variables), the app uses that.

- `PatchedBlocks`: gr.Blocks whose `process_api`, `validate_inputs` and `preprocess_data` answer inputs Gradio
  cannot read with one short message in the visitor's language (one log line) instead of Gradio's text with the
  whole payload in it, note each request for the quiet heap trim, and prune the queue's per-session bookkeeping.
- `SessionPruner`: drops `Queue.pending_event_ids_session` entries Gradio never empties on /gradio_api/call.
- `static_paths_first`: our media folder first in `_StaticFiles.all_paths` (asked for every file of every update).
- `remember_missing_matplotlib`: Gradio imports matplotlib for every event; a missing one is searched for each time.
- `share_compute`: puts endpoints without a queue group of their own into one app-wide group (BlockFunction fields).
- `keep_overrides`: sets ui/kit/components.py's instance overrides again on a component Gradio rebuilt for a session.
- `NO_SELF_CHECK`: launch() keyword that skips Gradio's one-try HEAD of its own URL (made for Colab).
"""

import contextvars
import importlib.util
import inspect
import sys
import time

import gradio as gr
from gradio.data_classes import _StaticFiles

from generators.runtime import memory
from ui.kit.errors import language
from ui.server import guard

GRADIO_VERSION = "6.31.0"
PRUNE_EVERY = 30  # seconds between prunes of Gradio's per-session bookkeeping
# launch() asks its own URL once with a 3 s timeout and, if that times out, refuses to start ("When localhost is not
# accessible, a shareable link must be created"): on a busy CPU the server is up but slow to answer. The check exists
# for hosted notebooks; `_frontend` guards nothing else in launch() (blocks.py, 6.31).
NO_SELF_CHECK = {"_frontend": False}

_REQUEST = contextvars.ContextVar("request", default=None)  # the request whose inputs are being read


class SessionPruner:
    """Drops Gradio's bookkeeping of sessions whose events are all finished and delivered: for every session that
    called /gradio_api/call/<name>, Gradio 6.31 keeps its finished event ids (never emptied on that route) and a
    message queue, about 2 KB a request (docs/serving.md, memory).

    A session is dropped when none of its event ids is still held by the queue and its message queue is empty,
    at two prunes in a row: a message put just after its event left the queue is read before the second look.
    Must run on the server's event loop (the queue's dicts are read and written there without locks).
    """

    def __init__(self, every: float = PRUNE_EVERY):
        self.every, self.last, self.idle = every, time.monotonic(), set()

    def maybe_prune(self, queue) -> int:
        """Prunes if `every` seconds have passed since the last prune; how many sessions were dropped."""
        if time.monotonic() - self.last < self.every:
            return 0
        self.last = time.monotonic()
        return self.prune(queue)

    def prune(self, queue) -> int:
        live, idle, dropped = queue.event_ids_to_events, set(), 0
        for session, ids in list(queue.pending_event_ids_session.items()):
            messages = queue.pending_messages_per_session.get(session)
            if any(i in live for i in ids) or (messages is not None and not messages.empty()):
                continue
            if session in self.idle:
                queue.pending_event_ids_session.pop(session, None)
                queue.pending_messages_per_session.pop(session, None)
                dropped += 1
            else:
                idle.add(session)
        self.idle = idle
        return dropped


_PRUNER = SessionPruner()


class PatchedBlocks(gr.Blocks):
    """gr.Blocks with the three request-path overrides above."""

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
            missing, defaults = len(block_fn.inputs) - len(inputs), _trailing_defaults(block_fn)
            if missing <= len(defaults):  # in place: Gradio reads this same list next
                inputs.extend(defaults[len(defaults) - missing:])
                return
            # counted as a caller sends them: a gr.State is not sent (skip_api)
            sent = [name for block, name in zip(block_fn.inputs, _names(block_fn)) if not block.skip_api]
            raise _refused(block_fn, "app_too_few", n=len(sent), got=len(inputs), names=", ".join(sent))

    async def postprocess_data(self, block_fn, predictions, state):
        try:
            return await super().postprocess_data(block_fn, predictions, state)
        finally:
            keep_overrides(block_fn.outputs, state)

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


def keep_overrides(blocks, state) -> None:
    """An event that sends an output a prop update (gr.update, even gr.skip()) makes Gradio rebuild that component
    from its constructor arguments for the session (postprocess_data: `state[block._id] = block.__class__(**kwargs)`),
    which drops what ui/kit/components.py set on the instance: after the permalink's load event, a raw seed box
    answered -1 with Gradio's English "Value -1 is less than minimum value 0.". Sets it again on the rebuilt one."""
    rebuilt = getattr(getattr(state, "blocks_config", None), "blocks", {})
    for block in blocks:
        overrides, copy = getattr(block, "kit_overrides", None), rebuilt.get(block._id)
        if overrides and copy is not None and copy is not block:
            vars(copy).update(overrides)


def _names(block_fn) -> list[str]:
    """The handler's parameter names, in the order of its inputs."""
    return [p for p in inspect.signature(block_fn.fn).parameters if p != "request"] if block_fn.fn else []


def _trailing_defaults(block_fn) -> list:
    """The values of the handler's last inputs that a raw REST call written before they were added may leave out:
    each parameter's default (a gr.State's value comes from the session whatever is sent), from the end back to
    the first one without a default."""
    if not block_fn.fn:
        return []
    params = [p for name, p in inspect.signature(block_fn.fn).parameters.items() if name != "request"]
    values = []
    for block, p in reversed(list(zip(block_fn.inputs, params))):
        if p.default is inspect.Parameter.empty and not block.stateful:
            break
        values.append(None if p.default is inspect.Parameter.empty else p.default)
    return values[::-1]


def _refused(block_fn, key: str, text: str = "", **fields) -> gr.Error:
    """A short gr.Error for inputs Gradio could not read, in the request's language; logged as one line."""
    lang, api = language(_REQUEST.get()), f"/{block_fn.api_name or block_fn.name}"
    guard.log.info("%s: %s", api[1:], key or "gradio_refused")
    return gr.Error(text or guard.message(key, lang, api=api, **fields), title="错误" if lang == "zh" else "Error",
                    print_exception=False)


def static_paths_first(root) -> None:
    """Moves `root` to the front of Gradio's static paths. Gradio asks, for every file of every update, whether it
    lies under each static path in turn, resolving both each time; the icons it registers on import came first
    (bench/bench_digits.py). Paths registered later still go to the end."""
    paths = getattr(_StaticFiles, "all_paths", None)
    if isinstance(paths, list) and root in paths:
        paths.remove(root)
        paths.insert(0, root)


def remember_missing_matplotlib() -> None:
    """Gradio imports matplotlib twice for every event it runs (utils.MatplotlibBackendMananger); where it is not
    installed, each try searched sys.path again (bench/bench_load.py). Python remembers a missing module given as
    None in sys.modules."""
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None


def share_compute(demo: gr.Blocks, workers: int) -> None:
    """Every public endpoint without a queue group of its own joins one group of `workers`: that many model
    computations run at once in the whole app (Gradio's default is a limit per endpoint). A tab may give an
    endpoint its own group: the text tab does while batching, its requests waiting on one engine."""
    for fn in demo.fns.values():
        if fn.fn is not None and fn.api_name and fn.api_visibility == "public" and fn.concurrency_id == str(id(fn.fn)):
            fn.concurrency_id, fn.concurrency_limit = "models", workers
