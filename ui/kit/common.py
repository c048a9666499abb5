"""What the tabs share: examples whose header reads well, and the digit choices of the digit tabs."""

import gradio as gr

from ui.kit.i18n import t

DIGITS = tuple(str(d) for d in range(10))


def examples(rows: list[list], inputs: list, label_key: str, **kwargs) -> gr.Examples:
    """gr.Examples whose translated label names the columns: Gradio 6.31 shows a Dataset's column headers as the
    raw i18n marker of each label, so the header row is left out; and a choice's translated label the same way, so
    the table shows the choice's value ("linear")."""
    shown = gr.Examples(rows, inputs, label=t(label_key), **kwargs)
    shown.dataset.headers = []
    for props in shown.dataset.component_props or []:
        if props.get("choices"):
            props["choices"] = [(value, value) for _, value in props["choices"]]
    return shown


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
