"""One test per Gradio internal the app relies on (ui/server/gradio_patches.py): each fails when Gradio changes
under the patch, so an upgrade shows what to look at."""

import inspect
from pathlib import Path

import gradio as gr
import gradio.utils
import pytest
from gradio.data_classes import _StaticFiles
from gradio.queueing import Queue

from ui.server import gradio_patches as patches


def test_written_for_this_gradio():
    assert gr.__version__ == patches.GRADIO_VERSION, "re-check every patch in ui/server/gradio_patches.py"


@pytest.mark.parametrize("name, params", [
    ("process_api", ["block_fn", "inputs", "state", "request"]),
    ("validate_inputs", ["block_fn", "inputs"]),
    ("preprocess_data", ["block_fn", "inputs", "state", "explicit_call"]),
])
def test_the_overridden_methods_keep_their_parameters(name, params):
    """PatchedBlocks calls super() with these positional parameters."""
    assert list(inspect.signature(getattr(gr.Blocks, name)).parameters)[1:len(params) + 1] == params


def test_too_few_inputs_get_one_short_message():
    with patches.PatchedBlocks() as demo:
        a, b = gr.Number(), gr.Number()
        gr.Button().click(lambda x, y: x, [a, b], a, api_name="two")
    block_fn = next(fn for fn in demo.fns.values() if fn.api_name == "two")
    with pytest.raises(gr.Error) as e:
        demo.validate_inputs(block_fn, [1])
    assert "/two" in e.value.message and len(e.value.message) < 300


def test_a_call_leaving_out_parameters_added_later_gets_their_defaults():
    """Gradio's preprocess_data reads the very list validate_inputs was given: the filled-in values reach the handler,
    a gr.State's from the session whatever stands in its place."""
    assert "self.validate_inputs(block_fn, inputs)" in inspect.getsource(gr.Blocks.preprocess_data)

    def handler(x, y, model="shipped", session=None):
        return x
    with patches.PatchedBlocks() as demo:
        a, b, c, s = gr.Number(), gr.Number(), gr.Textbox("shipped"), gr.State()
        gr.Button().click(handler, [a, b, c, s], a, api_name="four")
    block_fn = next(fn for fn in demo.fns.values() if fn.api_name == "four")
    inputs = [1, 2]
    demo.validate_inputs(block_fn, inputs)
    assert inputs == [1, 2, "shipped", None]
    # y has no default; the State is not sent, so not counted
    with pytest.raises(gr.Error, match="takes 3 inputs \\(x, y, model\\); got 1"):
        demo.validate_inputs(block_fn, [1])


def test_the_queue_keeps_the_session_dicts_the_pruner_empties():
    source = inspect.getsource(Queue)
    for name in ("pending_event_ids_session", "pending_messages_per_session", "event_ids_to_events"):
        assert f"self.{name}" in source


def test_our_static_path_goes_first(tmp_path):
    gr.set_static_paths([tmp_path])
    assert isinstance(_StaticFiles.all_paths, list)
    root = next(p for p in _StaticFiles.all_paths if Path(p) == tmp_path)
    patches.static_paths_first(root)
    assert _StaticFiles.all_paths[0] is root


def test_gradio_still_imports_matplotlib_per_event():
    assert hasattr(gradio.utils, "MatplotlibBackendMananger")


def test_endpoints_without_a_group_share_the_models_group():
    with gr.Blocks() as demo:
        n = gr.Number()
        gr.Button().click(lambda x: x, n, n, api_name="plain")
        gr.Button().click(lambda x: x, n, n, api_name="grouped", concurrency_id="own", concurrency_limit=4)
    patches.share_compute(demo, 3)
    fns = {fn.api_name: fn for fn in demo.fns.values()}
    assert (fns["plain"].concurrency_id, fns["plain"].concurrency_limit) == ("models", 3)
    assert (fns["grouped"].concurrency_id, fns["grouped"].concurrency_limit) == ("own", 4)


def test_frontend_guards_only_the_self_check_in_launch():
    """NO_SELF_CHECK turns off `_frontend`, which launch() reads only to HEAD its own URL."""
    source = inspect.getsource(gr.Blocks.launch)
    (name,) = patches.NO_SELF_CHECK
    assert name in inspect.signature(gr.Blocks.launch).parameters
    uses = [line.strip() for line in source.splitlines() if name in line and not line.strip().startswith(name)]
    assert uses == [f"if {name} and not networking.url_ok(self.local_url) and not self.share:"], uses


def test_a_raw_number_stays_raw_after_an_event_updates_it():
    """gr.skip() sent to a raw seed box made Gradio rebuild it for the session, bound checks back on (in English)."""
    from gradio_client import Client

    from ui.kit.components import RawNumber
    with patches.PatchedBlocks() as demo:
        seed, shown = RawNumber(0, minimum=0, precision=0), gr.Textbox()
        gr.Button().click(lambda: gr.skip(), None, seed, api_name="touch")
        gr.Button().click(repr, seed, shown, api_name="read")
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **patches.NO_SELF_CHECK)
    try:
        client = Client(demo.local_url, verbose=False)  # one session: the rebuilt box is this session's
        client.predict(api_name="/touch")
        assert client.predict(-1.5, api_name="/read") == "-1.5"  # as sent: the handler's own check words it
    finally:
        demo.close()
