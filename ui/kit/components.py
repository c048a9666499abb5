"""Input components that hand the handler what the caller sent, so that the handler's own checks word the error.

Gradio's number and slider round a value to their precision and compare it with their bounds before the handler
runs: a seed of 1.5 became 2, and "16", null or NaN raised a TypeError whose text (with the payload in it) never
reached the caller. Its textbox turned 123 or ["a"] into text. Its sketchpad decoded every image before the handler
could look at the header, so a 13000x13000 PNG of 190 KB cost gigabytes. `raw(...)` makes a component pass the
payload through unchanged (the handler's `Range.check`, `check_choice` and type checks refuse it with a keyed,
localized message); `drawing(...)` makes a sketchpad hand over its file's path, undecoded.

They change the component instance, not its class: Gradio writes a .pyi stub beside any module that subclasses a
component, and the browser draws a component by its class name.
"""

import gradio as gr
from gradio.components.image_editor import EditorData
from pydantic import model_validator


def _as_sent(payload):
    return payload


def keep(component: gr.components.Component, **overrides) -> None:
    """Sets `overrides` on the instance and remembers them in `kit_overrides`: Gradio rebuilds a component from its
    constructor arguments, for one session, when an event updates its props (ui/server/gradio_patches.py sets them
    again on the rebuilt one)."""
    vars(component).update(overrides)
    component.kit_overrides = {**getattr(component, "kit_overrides", {}), **overrides}


def raw(component: gr.components.Component) -> gr.components.Component:
    """`component` (a gr.Number, gr.Slider or gr.Textbox) whose value reaches the handler as sent: not rounded,
    not bound-checked, not converted to text."""
    keep(component, preprocess=_as_sent)
    return component


class DrawingData(EditorData):
    """A sketchpad's value, or a plain image file (a FileData) taken as the drawing's background."""

    @model_validator(mode="before")
    @classmethod
    def _plain_file(cls, value):
        if isinstance(value, dict) and "path" in value:
            return {"background": value, "layers": [], "composite": None}
        return value


def _drawing_path(payload: DrawingData | None) -> str | None:
    """The path of the drawing (its composite, else its background), or None."""
    if payload is None:
        return None
    image = payload.composite or payload.background
    return image.path if image is not None else None


def _no_blobs(data):
    raise gr.Error("Send the drawing as a file.", print_exception=False)


def drawing(pad: gr.Sketchpad) -> gr.Sketchpad:
    """`pad` handing the handler the path of the drawing, undecoded, so that the handler reads the image's header
    before it decodes anything; a plain image file is taken as the drawing. Images sent as in-memory blobs (the
    realtime mode, which this app does not use) are refused rather than held."""
    keep(pad, data_model=DrawingData, preprocess=_drawing_path, accept_blobs=_no_blobs,
         server_fns=[fn for fn in pad.server_fns if fn.__name__ != "accept_blobs"])
    return pad


# Constructors, named like the components they make (the tabs build them as they would build gr.Number).
def RawNumber(*args, **kwargs) -> gr.Number:  # noqa: N802
    """gr.Number(...) whose value reaches the handler as sent."""
    return raw(gr.Number(*args, **kwargs))


def RawSlider(*args, **kwargs) -> gr.Slider:  # noqa: N802
    """gr.Slider(...) whose value reaches the handler as sent."""
    return raw(gr.Slider(*args, **kwargs))


def RawTextbox(*args, **kwargs) -> gr.Textbox:  # noqa: N802
    """gr.Textbox(...) whose value reaches the handler as sent."""
    return raw(gr.Textbox(*args, **kwargs))


def DrawingPad(*args, **kwargs) -> gr.Sketchpad:  # noqa: N802
    """gr.Sketchpad(...) that hands the handler its drawing's path, undecoded (see `drawing`)."""
    return drawing(gr.Sketchpad(*args, **kwargs))
