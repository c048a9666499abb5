"""A person's model trained in the Train-from-scratch tab, shared with the family tabs that sample from it ("Your
trained model (this session)"): one gr.State of the page, passed to the scratch tab's events and to theirs. Its value
is per browser session (gr.State copies the initial Session for each), so two people never see each other's model;
nothing here is a module global of user data."""

import shutil
import threading
import weakref
from pathlib import Path

import gradio as gr

from generators.scratch import weights
from ui.kit import media
from ui.kit.components import raw
from ui.kit.i18n import t

SHIPPED, TRAINED = "shipped", "trained"  # a family tab's model choice (its API values)
MODELS = (SHIPPED, TRAINED)
_STATES: "weakref.WeakKeyDictionary[gr.Blocks, gr.State]" = weakref.WeakKeyDictionary()  # one per page built


class Session:
    """One browser session's trainings, kept in its gr.State: no other session can reach them. Its weights file is
    removed with the session (gr.State's delete_callback) or by the media folder's hourly cleanup."""

    def __init__(self):
        self.stop = threading.Event()  # set by Stop; the training ends after the step in progress
        self.run = None  # the last training's run (or the last upload's): what the family tabs sample from
        self.folder: Path | None = None

    def __deepcopy__(self, memo) -> "Session":  # gr.State copies its initial value for each new session
        return Session()

    def keep(self, run, **facts) -> Path:
        """Holds the run and writes its weights as one safetensors file (the previous one removed)."""
        self.close()
        run.config = {"family": run.family, "seed": run.seed, **facts}  # as an uploaded file's run has it
        self.run, self.folder = run, media.new_folder()
        return media.write(self.folder, f"scratch-{run.family}.safetensors", weights.save_run(run, **facts),
                           generator=None)

    def adopt(self, run) -> None:
        """Holds an uploaded (checked) run to sample from; the last training's download stays as it was."""
        self.run = run

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def trained_state() -> gr.State:
    """The page's one session State of trainings, made by the first tab that asks while the page is built: the
    scratch tab and the family tabs, built in any order, get the same component."""
    page = gr.context.Context.root_block
    if page is None:
        raise RuntimeError("trained_state() is called while a gr.Blocks is being built")
    if page not in _STATES:
        _STATES[page] = gr.State(Session(), delete_callback=Session.close)
    return _STATES[page]


def steps_of(run) -> int | str:
    """How many steps the run was trained for ("?" where not known)."""
    return getattr(run, "config", {}).get("steps", "?")


def run_of(session):
    """The session's trained run, or None (no session: an API call without the page's state)."""
    return session.run if isinstance(session, Session) else None


def model_choice(elem_id: str) -> gr.Radio:
    """A family tab's choice between its shipped model and the person's trained one (the scratch tab's words)."""
    return raw(gr.Radio([(t("scratch_model_shipped"), SHIPPED), (t("scratch_model_trained"), TRAINED)], value=SHIPPED,
                        label=t("scratch_model"), info=t("scratch_model_info"), elem_id=elem_id))


def shipped_only(model: gr.Radio, controls: list) -> None:
    """`controls` that only the shipped model reads are greyed out while "Your trained model" is chosen (each
    handler says so too), and come back with "Shipped model"."""
    def follow(choice):
        updates = [gr.update(interactive=choice != TRAINED) for _ in controls]
        return updates[0] if len(updates) == 1 else updates  # one output: Gradio takes a list as its value
    model.change(follow, model, controls, queue=False, api_visibility="private", show_progress="hidden")
