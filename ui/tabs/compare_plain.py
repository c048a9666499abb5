"""The comparison page in plain words: one verdict line a family, computed from this request's times and readings and
from the bench figures (ui/kit/figures.py), saying where this draw differs from the bench; training time with the
hardware it ran on."""

from dataclasses import dataclass

from ui.kit.errors import render
from ui.kit.figures import Figures
from ui.kit.registry import table

FAMILIES = ("gan", "vae", "diffusion")
INSTANT_MS = 100  # a whole request under ~0.1 s reads as instant to a person (Nielsen's response-time limits)
SHARP = 0.8  # "sharp": solid stroke pixels at least 4/5 of the real digits' share; below, digits look soft beside them


@dataclass
class Drawn:
    """What the verdict needs of one family's draw in this request."""

    ms_per_digit: float | None  # None: the model is missing here
    read: int  # digits our classifier reads as the asked one
    count: int
    crisp: float  # share of ink pixels at full strength (compare_tab.crisp_share)


def ratio(slow: float, fast: float) -> str:
    """`slow / fast` to two significant figures, as a person says it: 247.3 -> "250", 3.44 -> "3.4"."""
    return f"{float(f'{slow / fast:.2g}'):g}"


def _speed(name: str, drawn: dict[str, Drawn], lang: str) -> str:
    """"instant", "N ms a digit here", or "~N× slower than the GAN here": this request's times against the GAN's
    (the fastest family whose model is here when the GAN's is not)."""
    timed = {k: d.ms_per_digit for k, d in drawn.items() if d.ms_per_digit}
    base = "gan" if "gan" in timed else min(timed, key=timed.get)
    mine = drawn[name]
    if name == base or mine.ms_per_digit / timed[base] < 2:  # one pass each: the same speed, to the noise
        if mine.ms_per_digit * mine.count < INSTANT_MS:
            return render("compare_v_instant", {}, lang)
        return render("compare_v_ms", dict(ms=f"{mine.ms_per_digit:.1f}"), lang)
    return render("compare_v_slower", dict(ratio=ratio(mine.ms_per_digit, timed[base]),
                                           than=render(f"compare_v_{base}", {}, lang)), lang)


def _likeness(name: str, fig: dict[str, Figures], lang: str) -> str:
    """The bench's likeness to real handwriting, "closest" for the family with the lowest figure."""
    scored = {k: fig[k].frechet for k in FAMILIES if fig[k].frechet is not None}
    if name not in scored:
        return render("compare_v_no_likeness", {}, lang)
    closest = min(scored, key=scored.get) == name
    return render("compare_v_closest" if closest else "compare_v_likeness", dict(fd=f"{scored[name]:.2f}"), lang)


def _draw_note(name: str, drawn: Drawn, f: Figures, digit: int, lang: str) -> str:
    """Where this draw reads worse than the bench figure, both, so the page does not contradict itself."""
    if f.accuracy is None or drawn.read >= drawn.count or drawn.read / drawn.count >= f.accuracy:
        return ""
    key = "compare_v_draw" if f.samples else "compare_v_draw_bench"
    fields = dict(read=drawn.read, count=drawn.count, digit=digit, samples=f"{f.samples or 0:,}",
                  accuracy=f"{f.accuracy:.2%}")
    return (" " if lang != "zh" else "") + render(key, fields, lang)


def family_line(name: str, drawn: dict[str, Drawn], fig: dict[str, Figures], real_crisp: float, digit: int,
                lang: str) -> str:
    """One family's verdict: speed here, sharp or blurry, likeness to real handwriting, what it offers, and this
    draw beside the bench where they differ."""
    d = drawn[name]
    look = "compare_v_sharp" if d.crisp >= SHARP * real_crisp else "compare_v_blurry"
    return render("compare_v_line", dict(
        family=render(f"compare_v_{name}", {}, lang), speed=_speed(name, drawn, lang), look=render(look, {}, lang),
        likeness=_likeness(name, fig, lang), offers=render(f"compare_v_offers_{name}", {}, lang),
        draw=_draw_note(name, d, fig[name], digit, lang)), lang)


def verdict(drawn: dict[str, Drawn], fig: dict[str, Figures], real_crisp: float, digit: int, lang: str) -> str:
    """The plain answer that leads the page: a line a family drawn here, and what "likeness" means."""
    lines = [family_line(k, drawn, fig, real_crisp, digit, lang) for k in FAMILIES if k in drawn]
    floor = fig["gan"].floor
    scale = render("compare_v_scale", dict(floor=f"{floor:.2f}"), lang) if floor is not None else ""
    return render("compare_v_head", {}, lang) + "\n\n" + "\n".join(f"- {line}" for line in lines) + \
        ("\n\n" + scale if scale else "")


def training(f: Figures, lang: str) -> str:
    """Training time with its hardware ("7.1 min on a GPU"), plus the VAE prior's fit."""
    if f.train_minutes is None:
        return render("compare_not_measured", {}, lang)
    text = render("compare_minutes_on", dict(minutes=f"{f.train_minutes:.1f}", hardware=hardware(f.device, lang)),
                  lang)
    if f.fit_minutes is not None:
        text += " " + render("compare_fit", dict(minutes=f"{f.fit_minutes:.1f}",
                                                 hardware=hardware(f.fit_device, lang)), lang)
    return text


def hardware(device: str | None, lang: str) -> str:
    """"a GPU" / "a CPU" for torch's device names; another name as it is."""
    if device in ("cuda", "mps", "cpu"):
        return render("compare_hw_cpu" if device == "cpu" else "compare_hw_gpu", {}, lang)
    return device or render("compare_not_measured", {}, lang)


def hardware_note(fig: dict[str, Figures], lang: str) -> str:
    """Under the table, where families trained on different hardware: their minutes are not a race."""
    kinds = {hardware(f.device, "en") for f in fig.values() if f.device}
    return render("compare_hw_note", {}, lang) if len(kinds) > 1 else ""


MESSAGES = table("""
compare_v_head: **In one line each** (this request's time on this machine, the bench's figures for looks): | **一句话总结**（速度是本次请求在这台机器上的用时，效果看基准数据）：
compare_v_line: **{family}:** {speed}, {look}; {likeness}. {offers}{draw} | **{family}：** 速度{speed}，笔画{look}；{likeness}。{offers}{draw}
compare_v_gan: GAN | GAN（生成对抗网络）
compare_v_vae: VAE | VAE（变分自编码器）
compare_v_diffusion: Diffusion | 扩散模型
compare_v_instant: instant | 极快，瞬间完成
compare_v_ms: {ms} ms a digit here | 为每个数字 {ms} 毫秒
compare_v_slower: ~{ratio}× slower than the {than} here | 比 {than} 慢约 {ratio} 倍
compare_v_sharp: sharp | 清晰
compare_v_blurry: blurry | 模糊
compare_v_closest: closest to real handwriting (likeness {fd}) | 最接近真实手写（差距 {fd}）
compare_v_likeness: likeness to real handwriting {fd} | 与真实手写的差距 {fd}
compare_v_no_likeness: likeness not measured | 相似度未测量
compare_v_offers_gan: You pick the digit; one pass draws it. | 你选数字，一次计算就画出来。
compare_v_offers_vae: You can walk its space (the VAE tab). | 你可以在它的潜空间里漫步（见 VAE 标签页）。
compare_v_offers_diffusion: More steps buy quality, fewer buy time (the diffusion tab). | 步数越多质量越好，越少越快（见扩散标签页）。
compare_v_draw:  This draw: {read} of {count} read as {digit}; over {samples} bench draws: {accuracy}. | 本次：{count} 个中有 {read} 个被认作 {digit}；基准的 {samples} 次抽样中：{accuracy}。
compare_v_draw_bench:  This draw: {read} of {count} read as {digit}; in the bench: {accuracy}. | 本次：{count} 个中有 {read} 个被认作 {digit}；基准中：{accuracy}。
compare_v_scale: *Likeness to real handwriting: lower is closer; two sets of real digits score {floor}.* | *与真实手写的差距：越低越接近；两组真实数字之间为 {floor}。*
compare_minutes_on: {minutes} min on {hardware} | {minutes} 分钟（{hardware}）
compare_fit: + {minutes} min to fit the prior on {hardware} | + 拟合先验 {minutes} 分钟（{hardware}）
compare_hw_gpu: a GPU | 显卡 GPU
compare_hw_cpu: a CPU | 处理器 CPU
compare_hw_note: *Training minutes on a GPU and on a CPU are not comparable: a GPU does this kind of work many times faster, so a shorter time on a GPU is not a cheaper model.* | *GPU 上的训练分钟数与 CPU 上的不可直接比较：GPU 做这类计算要快很多倍，所以 GPU 上用时短并不代表模型更省。*
""")
