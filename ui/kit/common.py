"""What the tabs share: examples whose header reads well, and the digit choices of the digit tabs."""

import json
import threading

import gradio as gr
from gradio.context import Context

from ui.kit.errors import language
from ui.kit.i18n import strings, t

DIGITS = tuple(str(d) for d in range(10))


def examples(rows: list[list], inputs: list, label_key: str, **kwargs) -> gr.Examples:
    """gr.Examples that follow the visitor's language. Never cached: Gradio keeps one cached result an example for
    everyone, worded in the language of whoever clicked first; an example with `fn` runs on click instead, in the
    clicker's language. Gradio 6.31 shows a Dataset's column headers, and a choice's translated label, as the raw
    i18n marker: the header row is left out, and the choices' labels are set per page load in its language."""
    if kwargs.get("cache_examples"):
        raise ValueError("examples are not cached: a cached result keeps the first clicker's language")
    kwargs["cache_examples"] = False
    if kwargs.get("fn") is not None:
        kwargs.setdefault("run_on_click", True)
    shown = gr.Examples(rows, inputs, label=t(label_key), **kwargs)
    shown.dataset.headers = []
    keys = [_label_keys(props.get("choices")) for props in shown.dataset.component_props or []]
    for props in shown.dataset.component_props or []:
        if props.get("choices"):
            props["choices"] = [(value, value) for _, value in props["choices"]]
    if any(keys):
        props = shown.dataset.component_props

        def localize(request: gr.Request) -> gr.Dataset:  # not a functools.partial: Gradio finds the gr.Request
            return _localized_props(props, keys, request)  # parameter by its type hint, which a partial hides

        Context.root_block.load(localize, None, shown.dataset, queue=False, api_visibility="private",
                                show_progress="hidden")
    return shown


def _label_keys(choices) -> dict | None:
    """{value: i18n key} of the choices whose label is translated, or None."""
    found = {}
    for label, value in choices or []:
        text = str(label)
        if text.startswith("__i18n__"):
            found[value] = json.loads(text[len("__i18n__"):])["key"]
    return found or None


def _localized_props(props: list[dict], keys: list[dict | None], request: gr.Request) -> gr.Dataset:
    """The examples table's choice labels in the request's language (a page load)."""
    side = 1 if language(request) == "zh" else 0
    shown = [dict(p, choices=[(strings()[k[v]][side] if k and v in k else v, v) for _, v in p["choices"]])
             if k else p for p, k in zip(props, keys)]
    return gr.Dataset(component_props=shown)


def keep_on_error(event, outputs: list) -> None:
    """After `event` fails (a bad input, or the race of a Stop with the stream's last message), its outputs keep
    what they showed, under the error's toast. Gradio 6.31 marks each output of a failed event with a red "Error"
    badge over its content; a no-op event on the same outputs, hidden, sets their status back to complete."""
    event.failure(lambda: tuple(gr.skip() for _ in outputs) if len(outputs) > 1 else gr.skip(), None, outputs,
                  show_progress="hidden", queue=False, api_visibility="private")


def into_view(elem_id: str) -> str:
    """An event's `js=`: as the event starts, the element with this id is scrolled to the top of the window unless
    its top is already in the upper half, so the result arrives in sight (on a phone it is screens below the
    button). The inputs pass through unchanged. (Gradio 6.31's scroll_to_output never reaches its frontend.)"""
    return ("(...args) => { const el = document.getElementById(%r); const top = el && el.getBoundingClientRect().top;"
            " if (el && (top < 0 || top > innerHeight / 2)) el.scrollIntoView({block: 'start'}); return args; }"
            % elem_id)


def arm(session) -> None:
    """A training's button pressed: a Stop from before no longer applies (a session holds its `stop` Event)."""
    if isinstance(getattr(session, "stop", None), threading.Event):
        session.stop.clear()


def halt(session) -> None:
    """Stop pressed: the session's training ends after the step in progress and keeps what it learnt."""
    if isinstance(getattr(session, "stop", None), threading.Event):
        session.stop.set()
