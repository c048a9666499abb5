"""The room tab: "Real or generated?" played by everyone on the link, tallied in one database (generators/room/)."""

import json
import secrets

import gradio as gr

from generators.core.errors import KeyedError
from generators.core.limits import SEED
from generators.room import ITEMS
from ui.kit import permalink
from ui.kit.components import RawNumber
from ui.kit.errors import language, render, user_error
from ui.kit.i18n import t
from ui.kit.receipts import MESSAGES as RECEIPT_MESSAGES
from ui.kit.registry import Tab, table
from ui.tabs import room_views
from ui.tabs.room_play import play_round, room_stats, start, submit_guess


def _play(kind, seed, request: gr.Request):
    """The UI's round: the same /play_round, shown as 8 unlabelled items with a "real" box each."""
    lang = language(request)
    try:
        r, items = start(kind, seed, request)
    except KeyedError as e:
        raise user_error(e, lang, "play") from None
    digits = r["kind"] == "digits"
    images = [gr.update(value=item.content.numpy() if digits else None) for item in items]
    texts = [gr.update(value=item.content if not digits else "") for item in items]
    boxes = [gr.update(value=False) for _ in range(2 * ITEMS)]
    state = dict(round_id=r["round_id"], token=r["token"], kind=r["kind"])
    return (state, gr.update(visible=digits), gr.update(visible=not digits), *images, *texts, *boxes,
            r["receipt"]["line"], render_key("room_marked_prompt", lang), gr.update(interactive=True))


def _submit(request: gr.Request, state, *boxes):  # the request first: Gradio inserts it by position
    """Sends the marks of the round shown; the reveal, the room's tally and the next seed come back."""
    lang = language(request)
    if not state:
        raise user_error(KeyedError("room_no_round"), lang, "submit")
    kind = state["kind"]
    marks = list(boxes[:ITEMS] if kind == "digits" else boxes[ITEMS:])
    result = submit_guess(state["round_id"], state["token"], json.dumps(marks), request=request)
    reveal = room_views.reveal(result, kind, marks, lang)
    return (None, reveal, room_views.tally(result["room"], lang), room_views.energy(result["room"], lang),
            secrets.randbelow(SEED.hi), gr.update(interactive=False))


def _refresh(request: gr.Request):
    lang, stats = language(request), room_stats()
    return room_views.tally(stats, lang), room_views.energy(stats, lang)


def render_key(key: str, lang: str) -> str:
    return render(key, {}, lang)


def _cells():
    """8 digit cells (image + box) in a row that wraps, and 8 paragraph cells (text + box) in a column."""
    images, digit_boxes, texts, text_boxes = [], [], [], []
    with gr.Row(visible=True, elem_id="room-digits", elem_classes=["room-digits"]) as digit_row:
        for i in range(ITEMS):
            with gr.Column(min_width=96, elem_classes=["room-cell"]):
                images.append(gr.Image(show_label=False, interactive=False, height=112, width=112, format="png",
                                       elem_classes=["pixelated"], buttons=[]))
                digit_boxes.append(gr.Checkbox(label=t("room_real"), elem_id=f"room-digit-{i + 1}"))
    with gr.Column(visible=False, elem_id="room-texts") as text_col:
        for i in range(ITEMS):
            texts.append(gr.Markdown(elem_classes=["room-passage"]))
            text_boxes.append(gr.Checkbox(label=t("room_real"), elem_id=f"room-text-{i + 1}"))
    return digit_row, text_col, images, texts, digit_boxes + text_boxes


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("room_about"))
    with gr.Row():
        kind = gr.Radio([(t("room_kind_digits_button"), "digits"), (t("room_kind_text_button"), "text")],
                        value="digits", label=t("room_kind"))
        seed = RawNumber(value=secrets.randbelow(SEED.hi), precision=0, minimum=SEED.lo, maximum=SEED.hi,
                         label=t("app_seed"), elem_id="room-seed")
    play = gr.Button(t("room_play"), variant="primary", elem_id="room-play")
    state = gr.State(None)
    prompt = gr.Markdown()
    digit_row, text_col, images, texts, boxes = _cells()
    submit = gr.Button(t("room_submit"), variant="primary", interactive=False, elem_id="room-submit")
    result = gr.Markdown(elem_id="room-result")
    receipt = gr.Markdown(elem_id="room-receipt")
    inputs = {"kind": kind, "seed": seed}
    permalink.link_button("room", inputs, t("room_link"), t("room_link_label"))
    with gr.Accordion(t("room_tally_title"), open=True):
        tally = gr.Markdown(elem_id="room-tally")
        refresh = gr.Button(t("room_refresh"), size="sm")
    with gr.Accordion(t("room_energy_title"), open=False):
        energy = gr.Markdown(elem_id="room-energy")
    played = play.click(_play, [kind, seed], [state, digit_row, text_col, *images, *texts, *boxes, receipt, prompt,
                                              submit], api_visibility="private", concurrency_id="models")
    played.then(lambda: "", None, result, queue=False, api_visibility="private")
    submit.click(_submit, [state, *boxes], [state, result, tally, energy, seed, submit], api_visibility="private",
                 concurrency_id="room", concurrency_limit=32)
    refresh.click(_refresh, None, [tally, energy], api_visibility="private", concurrency_id="room")
    # the page opens with the room's tally (running totals: a few rows), not an open section with nothing in it
    gr.context.Context.root_block.load(_refresh, None, [tally, energy], api_visibility="private",
                                       concurrency_id="room", show_progress="hidden")
    gr.api(play_round, api_name="play_round")
    gr.api(submit_guess, api_name="submit_guess", concurrency_id="room", concurrency_limit=32)
    gr.api(room_stats, api_name="room_stats", concurrency_id="room", concurrency_limit=32)
    permalink.register("room", inputs, play)


STRINGS = table("""
room_about: **Real or generated?** Eight handwritten digits (or eight book paragraphs): some are real, held-out MNIST test digits (or paragraphs of books our text model never read), the others made by our GAN, VAE and diffusion models (or our text model continuing the paragraph's first sentence). Mark the ones you think are real, then see which was which, how the machine detectors did on the same eight, and how everyone on this link has done so far. | **真实还是生成？** 八个手写数字（或八段书中文字）：有些是真实的——留出的 MNIST 测试数字（或我们的文本模型从未读过的书中段落），其余由我们的 GAN、VAE 和扩散模型生成（或由文本模型续写段落的第一句）。勾选你认为真实的那些，然后看看哪个是哪个、机器检测器在同样八个上的表现，以及这个链接上所有人到目前为止的成绩。
room_kind: Round | 回合类型
room_kind_digits_button: Digits | 数字
room_kind_text_button: Text | 文本
room_play: New round | 新一轮
room_real: real | 真实
room_submit: Submit my marks | 提交我的判断
room_link: Link to this round | 本轮链接
room_link_label: Link (same round, same seed) | 链接（同一轮、同一随机种子）
room_tally_title: The room so far | 房间至今的成绩
room_refresh: Refresh | 刷新
room_energy_title: What it costs: energy of every generation here, beside published figures for large models | 代价：这里每次生成的能耗，与大模型公开数据对照
""")

MESSAGES = table("""
room_marked_prompt: Tick **real** under each one you think is real, then submit. | 在你认为真实的每一项下勾选 **真实**，然后提交。
room_no_round: Start a round first (New round). | 请先开始一轮（新一轮）。
room_not_text: {name} must be text. | {name}必须是文本。
room_marks: marks must be a JSON list of {n} booleans (true = real), e.g. [true, false, false, true, false, false, false, false]. | marks 必须是由 {n} 个布尔值组成的 JSON 列表（true = 真实），例如 [true, false, false, true, false, false, false, false]。
room_unknown: This round does not exist here: ask for a new one with /play_round. | 此回合在这里不存在：请用 /play_round 开始新的一轮。
room_forged: This token does not belong to this round: the answer is refused. | 此令牌不属于该回合：答案被拒绝。
room_not_counted: You had answered this same round before (same seed, from your network), so you knew its answer: it is scored, but not added to the room's tally. | 你之前（从你的网络）回答过同一轮（同一随机种子），已经知道答案：本次计分，但不计入全场统计。
room_replayed: This round has already been answered: each round counts once. Start a new round. | 此回合已经作答：每一轮只计一次。请开始新的一轮。
room_expired: This round is older than {minutes} minutes and can no longer be answered. Start a new round. | 此回合已超过 {minutes} 分钟，不能再作答。请开始新的一轮。
room_flood: Too many {what} from you: at most {limit} a minute. Try again in {wait} s. | 你的请求过于频繁（{what}）：每分钟最多 {limit} 次。请 {wait} 秒后再试。
room_score: **You marked {score} of {n} right.** | **你判断对了 {score}/{n} 个。**
room_machine_score: {name} right on {score}/{n} | {name}判断对 {score}/{n}
room_col_truth: it was | 实际是
room_col_you: you said | 你的判断
room_col_items: items | 项数
room_col_people: people | 人类
room_col_what: per query | 每次请求
room_col_wh: Wh | 瓦时
room_col_source: source | 来源
room_said_real: real | 真实
room_said_fake: generated | 生成
room_det_discriminator: discriminator | 判别器
room_det_classifier: classifier | 分类器
room_det_perplexity: perplexity | 困惑度
room_family_real: real | 真实
room_family_gan: GAN | GAN（生成对抗网络）
room_family_vae: VAE | VAE（变分自编码器）
room_family_diffusion: diffusion | 扩散
room_family_distilled: diffusion, distilled | 扩散（蒸馏）
room_family_model: our text model | 我们的文本模型
room_kind_digits: digits | 数字
room_kind_text: text | 文本
room_rule_digits: The detectors' rule, the same every round: the GAN's discriminator says real when its realness is at least 0.5 (given the classifier's reading as the label); the classifier says real when it is at least 99.9% sure of its reading. | 检测器的规则每轮相同：GAN 的判别器在真实度不低于 0.5 时判为真实（以分类器认出的数字为标签）；分类器在对其读数的把握不低于 99.9% 时判为真实。
room_rule_text: The detector's rule, the same every round: our text model says real when its loss on the paragraph after the first sentence is above {{text-model.val_loss:.2f}} nats a token, its average on the held-out books (text it sampled itself is likelier to it). | 检测器的规则每轮相同：当我们的文本模型在第一句之后的文字上的损失高于每词元 {{text-model.val_loss:.2f}} 奈特（它在留出书籍上的平均值）时判为真实（它自己采样的文字对它来说更“可能”）。
room_no_rounds: No round answered on this link yet: be the first. | 这个链接上还没有人作答：来做第一个吧。
room_rounds: **{n} rounds answered on this link.** Share of items each judged right: | **这个链接上已有 {n} 轮作答。** 各方判断正确的比例：
room_hour: How it moved over the last hour (ten-minute steps): | 过去一小时的变化（每十分钟）：
room_hour_step: {kind}, {hi}–{lo} min ago: people {people} of {n} items · {machines} | {kind}，{hi}–{lo} 分钟前：人类 {people}（共 {n} 项）· {machines}
room_energy_totals: **Everyone on this link so far:** {n} generations, {wall} s of wall time, {cpu} s of CPU, ≈ {j} J (≈ {wh} Wh), ≈ {co2} g of grid CO₂ (estimates). | **这个链接上所有人至今：** {n} 次生成，墙钟时间 {wall} 秒，CPU {cpu} 秒，≈ {j} 焦耳（≈ {wh} 瓦时），≈ {co2} 克电网 CO₂（估算）。
room_ours_per: this playground, average generation | 本体验场，平均每次生成
room_ours_source: our receipts: CPU seconds × codecarbon's power model (or RAPL) | 我们的收据：CPU 秒数 × codecarbon 功耗模型（或 RAPL）
room_energy_note: Our figure counts the CPU time of the request's own thread on a small CPU model, not the machine's idle power, cooling or the models' training; the published figures are each their publisher's own method and scope. | 我们的数字只计请求自身线程的 CPU 时间（小型 CPU 模型），不含机器空闲功耗、散热或模型训练；公开数字各按其发布者自己的方法和范围计算。
""")

CSS = """
.room-digits { flex-wrap: wrap; }
.room-cell { align-items: center; }
#room-digits img { width: 96px !important; height: 96px !important; object-fit: contain; image-rendering: pixelated; }
.room-passage { border-top: 1px solid var(--border-color-primary); padding-top: 6px; }
"""

TAB = Tab(key="room", order=5, title=("Real or generated?", "真实还是生成？"), build=build, strings=STRINGS,
          messages={**MESSAGES, **RECEIPT_MESSAGES}, css=CSS, prefixes=("receipt",), names={"kind": "回合类型"})
