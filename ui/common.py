"""What the tabs share: examples whose header reads well, and the digit choices of the digit tabs."""

import gradio as gr

from ui.i18n import t

DIGITS = tuple(str(d) for d in range(10))


def examples(rows: list[list], inputs: list, label_key: str, **kwargs) -> gr.Examples:
    """gr.Examples whose translated label names the columns: Gradio 6.31 shows a Dataset's column headers as the
    raw i18n marker of each label, so the header row is left out."""
    shown = gr.Examples(rows, inputs, label=t(label_key), **kwargs)
    shown.dataset.headers = []
    return shown
