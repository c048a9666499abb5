"""The gan tab (placeholder until its adapter lands)."""

import gradio as gr


def build() -> None:
    gr.Markdown("Coming up.")
