"""Error messages in the browser's language: English templates, their Chinese translations, and `localized`,
which re-raises a handler's gr.Error in the language of the request's Accept-Language header.

Messages stay English where they are made (handlers here, ValueErrors in generators/); `translate` recognises
an English message by its template and fills in the Chinese one. An unrecognised message stays English.
"""

import functools
import inspect
import re

import gradio as gr

ERRORS_EN = {
    # ui/: the handlers and ui.common's checks
    "int_range": "{name} must be a whole number between {lo} and {hi}.",
    "int_range_got": "{name} must be a whole number between {lo} and {hi}, not {value}.",
    "float_range": "{name} must be a number between {lo} and {hi}.",
    "float_range_got": "{name} must be a number between {lo} and {hi}, not {value}.",
    "choice": "{name} must be one of {choices}; got {value}.",
    "walk_digit": "Pick one digit (0-9) for the walk.",
    "draw_first": "{name} is set to 'my drawing': draw or upload a digit first.",
    "prompt_text": "The prompt must be text.",
    "text_failed": "Text generation failed; please try again.",
    # generators/ raise these as ValueError (ui.common.user_errors passes the text on); mirrored, not imported
    "not_image": "The drawing is not an image.",
    "too_large": "The image is too large ({w}x{h}); at most {max_side} px a side.",
    "blank": "The drawing is blank: draw a digit first.",
    "prompt_long": "The prompt is {n} characters; the limit is {limit}.",
    "unknown_model": "Unknown model {model}; choose one of {choices}.",
    "max_new_tokens": "max_new_tokens must be 1-{hi}.",
    "temperature": "temperature must be between 0 and 2.",
    "top_k": "top_k must be 0-{hi} (0 = off).",
    "top_p": "top_p must be above 0 and at most 1 (1 = off).",
    "repetition_penalty": "repetition_penalty must be 1.0-2.0.",
    "seed_text": "seed must be a whole number from 0 to 2**32-1.",
    "alternatives": "the number of alternatives must be 1-{hi}.",
    "no_text_model": "The bundled text model is not in {path} yet (python training/train_text.py writes it).",
    "hub_offline": "Could not download {model} from the Hugging Face Hub (offline?). The bundled model still works.",
    "needs_prompt": "This model needs a prompt: type a few words.",
    "weights_missing": "Model weights are missing in {folder}; train them with {script}.",
    "gan_digit": "digit must be 0-9 or Any, not {value}",
    "vae_digit": "digit must be 0-9, not {value}",
    "method": "method must be one of {choices}, not {value}",
    "range": "{name} must be between {lo} and {hi}, not {value}",
    "walk": "the walk needs a digit 0-9 and 2-{hi} steps",
    # ui/vae_tab.py prefixes an endpoint's image error with its side; last, as it is the loosest pattern
    "endpoint": "{side}: {detail}",
}

ERRORS_ZH = {
    "int_range": "{name}必须是 {lo} 到 {hi} 之间的整数。",
    "int_range_got": "{name}必须是 {lo} 到 {hi} 之间的整数，而不是 {value}。",
    "float_range": "{name}必须是 {lo} 到 {hi} 之间的数。",
    "float_range_got": "{name}必须是 {lo} 到 {hi} 之间的数，而不是 {value}。",
    "choice": "{name}必须是以下之一：{choices}；收到的是 {value}。",
    "walk_digit": "潜空间漫步需要选定一个数字（0-9）。",
    "draw_first": "{name}设为“我的手绘”：请先画一个数字或上传一张图。",
    "prompt_text": "提示词必须是文本。",
    "text_failed": "文本生成失败，请重试。",
    "not_image": "手绘内容不是图片。",
    "too_large": "图片太大（{w}x{h}）；每边最多 {max_side} 像素。",
    "blank": "画板是空白的：请先画一个数字。",
    "prompt_long": "提示词有 {n} 个字符，上限是 {limit}。",
    "unknown_model": "未知模型 {model}；可选：{choices}。",
    "max_new_tokens": "最多生成的 token 数（max_new_tokens）必须在 1-{hi} 之间。",
    "temperature": "温度（temperature）必须在 0 到 2 之间。",
    "top_k": "top_k 必须在 0-{hi} 之间（0 = 关闭）。",
    "top_p": "top_p 必须大于 0 且不超过 1（1 = 关闭）。",
    "repetition_penalty": "重复惩罚（repetition_penalty）必须在 1.0-2.0 之间。",
    "seed_text": "随机种子（seed）必须是 0 到 2**32-1 之间的整数。",
    "alternatives": "候选数必须在 1-{hi} 之间。",
    "no_text_model": "内置文本模型还不在 {path} 中（由 python training/train_text.py 生成）。",
    "hub_offline": "无法从 Hugging Face Hub 下载 {model}（是否离线？）。内置模型仍然可用。",
    "needs_prompt": "这个模型需要提示词：请输入几个词。",
    "weights_missing": "{folder} 中缺少模型权重；请用 {script} 训练。",
    "gan_digit": "数字（digit）必须是 0-9 或 Any，而不是 {value}。",
    "vae_digit": "数字（digit）必须是 0-9，而不是 {value}。",
    "method": "路径（method）必须是以下之一：{choices}，而不是 {value}。",
    "range": "{name}必须在 {lo} 到 {hi} 之间，而不是 {value}。",
    "walk": "潜空间漫步需要一个 0-9 的数字和 2-{hi} 步。",
    "endpoint": "{side}：{detail}",
}

# parameter names as the messages give them -> the Chinese label, shown beside the API name: 随机种子（seed）
NAMES_ZH = {"count": "数量", "seed": "随机种子", "seed A": "种子 A", "seed B": "种子 B", "steps": "步数",
            "truncation": "截断", "method": "路径", "digit": "数字", "start": "起点", "end": "终点",
            "max_new_tokens": "最多生成的 token 数", "temperature": "温度", "repetition_penalty": "重复惩罚",
            "alternatives": "候选数", "model": "模型"}
FIELD_PATTERNS = {"side": "start|end", "lo": r"\S+?", "hi": r"\S+?"}  # bounds have no spaces; other fields: any text


def message(key: str, **fields) -> str:
    """The English message `key` with its fields filled in (what handlers raise)."""
    return ERRORS_EN[key].format(**fields)


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)  # literal, field, literal, field, ..., literal
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{FIELD_PATTERNS.get(p, '.+?')})"
                    for i, p in enumerate(parts))
    return re.compile(regex, re.DOTALL)


PATTERNS = {key: _pattern(template) for key, template in ERRORS_EN.items()}


def translate(text: str, lang: str) -> str:
    """`text`, an English message of ERRORS_EN, in `lang` ("en" or "zh"); unknown messages stay English."""
    if lang != "zh":
        return text
    for key, pattern in PATTERNS.items():
        match = pattern.fullmatch(text)
        if match:
            fields = {k: _field_zh(k, v) for k, v in match.groupdict().items()}
            return ERRORS_ZH[key].format(**fields)
    return text


def _field_zh(name: str, value: str) -> str:
    if name == "detail":
        return translate(value, "zh")
    if name in ("name", "side") and value in NAMES_ZH:
        return f"{NAMES_ZH[value]}（{value}）" if name == "name" else NAMES_ZH[value]
    return value


def language(request: gr.Request | None) -> str:
    """"zh" when the request's Accept-Language ranks Chinese above English, else "en" (also with no request)."""
    headers = getattr(request, "headers", None) if request is not None else None
    header = next((headers[k] for k in (headers.keys() if headers else ()) if k.lower() == "accept-language"), "")
    ranked = []
    for i, part in enumerate(str(header).split(",")):
        tag, _, param = part.partition(";")
        try:
            q = float(param.strip()[2:]) if param.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        ranked.append((-q, i, tag.strip().lower().split("-")[0]))
    return next((lang for q, _, lang in sorted(ranked) if lang in ("en", "zh") and q < 0), "en")  # q=0: refused


def _in(lang: str, e: gr.Error) -> gr.Error:
    return gr.Error(translate(e.message, lang), duration=e.duration, visible=e.visible,
                    title="错误" if lang == "zh" and e.title == "Error" else e.title,
                    print_exception=e.print_exception)


def localized(fn):
    """Adds a last parameter `request: gr.Request = None`, which Gradio fills in (the API does not show it), and
    re-raises the handler's gr.Error in the request's language. Put it outermost, above on_gpu: the request
    stays in this process. Works for functions and generator functions."""
    sig = inspect.signature(fn)
    extra = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                              annotation=gr.Request)
    signature = sig.replace(parameters=[*sig.parameters.values(), extra])

    def split(args, kwargs):
        bound = signature.bind(*args, **kwargs)
        return language(bound.arguments.pop("request", None)), bound.args, bound.kwargs

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            lang, args, kwargs = split(args, kwargs)
            try:
                yield from fn(*args, **kwargs)
            except gr.Error as e:
                raise _in(lang, e) from None
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            lang, args, kwargs = split(args, kwargs)
            try:
                return fn(*args, **kwargs)
            except gr.Error as e:
                raise _in(lang, e) from None
    wrapper.__signature__ = signature
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
    return wrapper
