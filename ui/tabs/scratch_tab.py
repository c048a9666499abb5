"""The Train-from-scratch tab: a GAN, a VAE or a small diffusion model learns MNIST digits from nothing, live: the
same grid of noise sharpening into digits about once a second, the losses, what our classifier reads in the
samples, the time left; a switch that shows the family's classic failure; the weights to download and sample from
again."""

from pathlib import Path

import gradio as gr
import pandas as pd

from generators.core.errors import InputError
from generators.core.limits import SEED
from generators.scratch import weights
from generators.scratch.data import CONFIDENT, Reading
from generators.scratch.sampler import ScratchSampler
from generators.scratch.trainer import DEFAULT_SECONDS, FAMILIES, SECONDS, ScratchTrainer, in_background
from ui.kit import media, permalink
from ui.kit.common import arm, halt, into_view, keep_on_error
from ui.kit.components import RawNumber, RawSlider, raw
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.images import grid, png_bytes, to_uint8, upscale
from ui.kit.receipts import Meter
from ui.kit.registry import Tab
from ui.kit.trained import Session, steps_of, trained_state
from ui.tabs.scratch_text import MESSAGES, STRINGS

TRAINER = ScratchTrainer()  # the bundled digits and the grading classifier, shared read-only; runs live in sessions
GENERATOR = ScratchSampler.GENERATOR  # what its files say made them (C2PA)
CURVES = ("read", "asked")  # the plot's two curves, message keys scratch_curve_<name>


def grid_png(images, family: str, settings: dict, folder: Path | None = None, index: int = 0,
             sign: bool = False) -> str:
    """The samples as one PNG, ten to a row, each 28 px digit at 56 px, marked as generated; in `folder` (a new
    one by default) as grid-<index>.png, the grid of two updates before removed (the page shows the newest)."""
    folder = folder or media.new_folder()
    (folder / f"grid-{index - 2:04d}.png").unlink(missing_ok=True)
    data = png_bytes(upscale(grid(to_uint8(images), columns=10), 2))
    return str(media.write(folder, f"grid-{index:04d}.png", data, generator=GENERATOR.format(family=family),
                           settings=settings, sign=sign))


def curve_frame(history: list[tuple[float, str, float | None]], lang: str) -> pd.DataFrame:
    """The plot's value: one row per (seconds, curve, percent); both curves named from the first value (Gradio's
    plot keeps the curves of its first value)."""
    first = [(0.0, render(f"scratch_curve_{c}", {}, lang), None) for c in CURVES]
    return pd.DataFrame([*first, *history], columns=["seconds", "curve", "percent"])


def _record_curves(history: list, u, lang: str) -> None:
    history.append((round(u.seconds, 1), render("scratch_curve_read", {}, lang), round(100 * u.reading.read_share, 1)))
    if u.reading.class_accuracy is not None:
        history.append((round(u.seconds, 1), render("scratch_curve_asked", {}, lang),
                        round(100 * u.reading.class_accuracy, 1)))


def _reading(r: Reading, lang: str) -> str:
    text = render("scratch_reading", dict(read=f"{r.read_share:.0%}", sure=f"{CONFIDENT:.0%}",
                                          classes=r.classes_read), lang)
    if r.class_accuracy is not None:
        text += " " + render("scratch_asked", dict(asked=f"{r.class_accuracy:.0%}"), lang)
    return text


def _losses(losses: dict, lang: str) -> str:
    return " · ".join(f"{render('scratch_loss_' + k, {}, lang)} {v:.3f}" for k, v in losses.items())


def _status(u, seconds: float, lang: str) -> str:
    filled = round(10 * min(1.0, u.seconds / seconds))
    return render("scratch_progress", dict(bar="▰" * filled + "▱" * (10 - filled), step=u.step,
                                           left=f"{u.seconds_left:.0f}", losses=_losses(u.losses, lang) or "—",
                                           reading=_reading(u.reading, lang)), lang)


def _final(u, family: str, failure: bool, lang: str) -> str:
    key = "scratch_stopped" if u.stopped else "scratch_done"
    text = render(key, dict(step=u.step, seconds=f"{u.seconds:.0f}", reading=_reading(u.reading, lang)), lang)
    text += "\n\n" + render("scratch_elsewhere", dict(tab=render(f"scratch_tab_{family}", {}, lang)), lang)
    return text + ("\n\n" + render(f"scratch_failure_{family}", {}, lang) if failure else "")


@localized  # not on_gpu: Stop reaches the training through the session's object, which a ZeroGPU worker would not share
def train_from_scratch(family: str, seconds: float, seed: int, failure: bool = False, session: Session | None = None,
                       *, lang: str = "en"):
    """Trains a GAN, a VAE or a small diffusion model on MNIST digits from nothing, streaming what it learns.

    Args:
        family: "GAN", "VAE" or "diffusion".
        seconds: the time budget, 1-180 (60 by default).
        seed: draws the initial weights, the batches and the fixed grid of noise, 0 to 2**32-1.
        failure: True shows the family's classic failure (GAN mode collapse, VAE KL blur, diffusion under-trained).
    Returns:
        streamed about once a second: the fixed grid's 100 samples (one PNG, each row the digits 0-9 where the model
        is asked for a digit) and a JSON line {step, seconds, losses, classifier_read, class_accuracy,
        classes_read, seconds_left}, with a status line and the classifier's curve; the last item adds the
        weights file (one safetensors file, its config in the metadata) that /sample_scratch_model takes, and to
        the record its link (the query of this training on the page) and its receipt (what it cost, an estimate).
    """
    session = session if isinstance(session, Session) else Session()
    meter = Meter("train_from_scratch")  # ends with the last item's receipt, or unkept if the stream stops
    stream = TRAINER.stream(family=family, seconds=seconds, seed=seed, failure=failure, stop=session.stop)
    settings = dict(family=family, seconds=seconds, seed=seed, failure=failure)
    history, u, frames = [], None, media.new_folder()  # this training's grids, one folder
    for i, u in enumerate(in_background(stream, session.stop)):
        _record_curves(history, u, lang)
        if u.done:
            break
        yield grid_png(u.images, family, settings, frames, i), u.record(), _status(u, seconds, lang), \
            curve_frame(history, lang), None, session
    path = session.keep(u.run, steps=u.step, seconds=round(u.seconds, 1), failure=failure)
    receipt = meter.line(lang)
    record = {**u.record(), "stopped": u.stopped, "done": True, "link": permalink.query("scratch", lang, **settings),
              "receipt": meter.receipt.as_dict()}
    yield grid_png(u.images, family, settings, frames, i, sign=True), record, \
        _final(u, family, failure, lang) + "  \n" + receipt, curve_frame(history, lang), str(path), session


@localized
def sample_scratch_model(upload: str | None, seed: int, session: Session | None = None, *, lang: str = "en"):
    """Samples a grid of 100 digits from a model trained in this tab: an uploaded weights file (checked: a
    safetensors file of ours, its tensors what its config's net has, finite), else this session's last training.

    Args:
        upload: a .safetensors file that /train_from_scratch gave; None: this session's last training.
        seed: the grid of noise, 0 to 2**32-1 (the training's seed gives the grid it showed).
    Returns:
        the grid (one PNG) and a line saying what the classifier reads in it.
    """
    seed = SEED.check("seed", seed)
    if upload is not None:
        if not isinstance(upload, str):
            raise InputError("scratch_file_invalid")
        run = weights.load_run(upload)
        if isinstance(session, Session):
            session.adopt(run)  # the family tab can sample it too
    elif isinstance(session, Session) and session.run is not None:
        run = session.run
    else:
        raise InputError("scratch_nothing_trained")
    images, labels = run.samples(seed)
    reading = TRAINER.grader.read(images, labels)
    facts = getattr(run, "config", {})
    text = render("scratch_sampled", dict(family=run.family, steps=facts.get("steps", "?")), lang) + " " + \
        _reading(reading, lang)
    return grid_png(images, run.family, dict(seed=seed, sampled=True), sign=True), text


def _controls() -> list:
    """The inputs, in the order of train_from_scratch's parameters."""
    with gr.Row():
        family = raw(gr.Radio([(t(f"scratch_family_{k}"), k) for k in FAMILIES], value="GAN", label=t("scratch_family"),
                              elem_id="scratch-family", scale=2))  # raw: the handler words a wrong family
        seconds = RawSlider(SECONDS.lo, SECONDS.hi, value=DEFAULT_SECONDS, step=1, label=t("scratch_seconds"),
                            scale=2)
        seed = RawNumber(0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"), scale=1)
    failure = raw(gr.Checkbox(False, label=t("scratch_failure"), elem_id="scratch-failure"))
    return [family, seconds, seed, failure]


def _sampler(session) -> None:
    """Sampling again from this session's training or an uploaded weights file."""
    with gr.Accordion(t("scratch_again_title"), open=False):
        gr.Markdown(t("scratch_again_about"))
        with gr.Row():
            upload = gr.File(label=t("scratch_upload"), file_types=[".safetensors"], type="filepath")
            seed = RawNumber(0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("scratch_sample_seed"))
        button = gr.Button(t("scratch_sample"), elem_id="scratch-sample")
        image = gr.Image(label=t("scratch_sampled_grid"), type="filepath", elem_id="scratch-sampled",
                         elem_classes=["pixelated"])
        summary = gr.Markdown()
        sampled = button.click(sample_scratch_model, [upload, seed, session], [image, summary],
                               api_name="sample_scratch_model")
        keep_on_error(sampled, [image, summary])
        upload.upload(adopt_upload, [upload, session], summary, api_visibility="private")


@localized
def adopt_upload(upload: str | None, session: Session | None = None, *, lang: str = "en") -> str:
    """An uploaded weights file, checked, becomes this session's model: the family's own tab samples it too."""
    if not isinstance(upload, str) or not isinstance(session, Session):
        raise InputError("scratch_file_invalid")
    run = weights.load_run(upload)
    session.adopt(run)
    return render("scratch_adopted", dict(family=run.family, steps=steps_of(run),
                                          tab=render(f"scratch_tab_{run.family}", {}, lang)), lang)


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("scratch_about"))
    inputs = _controls()
    gr.Markdown(t("scratch_recipes"))
    with gr.Row():
        train = gr.Button(t("scratch_train"), variant="primary", elem_id="scratch-train")
        stop = gr.Button(t("app_stop"), elem_id="scratch-stop")
    status = gr.Markdown(t("scratch_ready"), elem_id="scratch-status")  # never empty: the page's scroll anchor
    with gr.Row():
        image = gr.Image(label=t("scratch_grid"), type="filepath", elem_id="scratch-grid",
                         elem_classes=["pixelated"], scale=3)
        plot = gr.LinePlot(x="seconds", y="percent", color="curve", label=t("scratch_plot"),
                           x_title=t("scratch_axis_seconds"), y_title="%", color_title="", y_lim=[0, 100], height=340,
                           scale=2, elem_id="scratch-plot")
    # the API's JSON line; the page says the same in the status line's words (no raw JSON in the page)
    record = gr.JSON(visible=False, elem_id="scratch-record")
    weights_file = gr.File(label=t("scratch_weights"), elem_id="scratch-weights")
    session = trained_state()  # the family tabs sample from its model too (ui/kit/trained.py)
    outputs = [image, record, status, plot, weights_file, session]
    # Trainings run one at a time in their own queue ("scratch"), positions shown: image and text requests never wait
    run = train.click(arm, session, None, queue=False, api_visibility="private", js=into_view("scratch-status")).then(
        train_from_scratch, [*inputs, session], outputs, api_name="train_from_scratch", concurrency_limit=1,
        concurrency_id="scratch")
    keep_on_error(run, outputs[:5])  # a bad input keeps the last training's results
    stop.click(halt, session, None, queue=False, api_visibility="private")
    linked = permalink.named(train_from_scratch, inputs)  # re-running the training is the recompute
    permalink.register("scratch", linked, train), permalink.link_button("scratch", linked)
    _sampler(session)


TAB = Tab(key="scratch", order=45, title=("Train from scratch", "从零训练"), build=build, strings=STRINGS,
          messages=MESSAGES, names={"family": "模型类型", "failure": "失败开关"})  # "seconds": the fine-tune tab's
