"""Errors and notices in the browser's language. Adapters and checks raise `KeyedError(key, **fields)`; the tab
that owns the key words it (ui/kit/registry.py: Tab.messages), generic keys are worded here. `localized` turns a keyed
error into a short gr.Error in the request's Accept-Language, logged as one line (never a traceback, never the
payload); any other exception is a server fault and keeps its traceback."""

import functools
import inspect
import logging

import gradio as gr

from generators.core.errors import KeyedError, Notice
from ui.kit.calls import Hooks, wrap
from ui.kit.figures import fill
from ui.kit.registry import Wording, merged, table

log = logging.getLogger("playground")

COMMON: dict[str, Wording] = table("""
int_range: {name} must be a whole number between {lo} and {hi}, not {got}. | {name}必须是 {lo} 到 {hi} 之间的整数，而不是 {got}。
float_range: {name} must be a number between {lo} and {hi}, not {got}. | {name}必须是 {lo} 到 {hi} 之间的数，而不是 {got}。
choice: {name} must be one of {choices}; got {got}. | {name}必须是以下之一：{choices}；收到的是 {got}。
weights_missing: Model weights are missing in {folder}; train them with python -m {script}. | {folder} 中缺少模型权重；请用 python -m {script} 训练。
result_link: [Link to this result]({query}) (the same inputs and seed give the same result) | [此结果的链接]({query})（同样的输入和种子给出同样的结果）
worker_down: The process that runs the {family} model stopped (exit code {code}); please try again: a new one starts. | 运行 {family} 模型的进程已停止（退出码 {code}）；请重试：会启动一个新的进程。
""")
NAMES = {"seed": "随机种子", "steps": "步数", "digit": "数字", "count": "数量"}


@functools.cache
def messages() -> dict[str, Wording]:
    """Every message template: the generic ones above, then each tab's; a measured figure in one is written
    {{model.key:format}} and filled from its metrics.json here, before the template's own {fields}."""
    return {key: (fill(en), fill(zh)) for key, (en, zh) in merged("messages", COMMON).items()}


@functools.cache
def names() -> dict[str, str]:
    return merged("names", NAMES)


def render(key: str, fields: dict, lang: str = "en") -> str:
    """The message `key` in `lang` ("en" or "zh"), its fields filled in; a field may itself be a keyed error."""
    template = messages()[key][1 if lang == "zh" else 0]
    return template.format(**{k: _field(k, v, lang) for k, v in fields.items()})


def _field(name: str, value, lang: str) -> str:
    if isinstance(value, (KeyedError, Notice)):
        return render(value.key, value.fields, lang)
    if lang == "zh" and name in ("name", "side") and value in names():
        return f"{names()[value]}（{value}）" if name == "name" else names()[value]
    return str(value)


def language(request: gr.Request | None) -> str:
    """"zh" when the request's Accept-Language ranks Chinese above English, else "en" (also with no request);
    a permalink's language (its cookie, ui/kit/permalink.py) comes first."""
    headers = getattr(request, "headers", None) if request is not None else None
    cookie = (getattr(request, "cookies", None) or {}).get("playground_lang") if request is not None else None
    if cookie in ("en", "zh"):
        return cookie
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


def user_error(e: KeyedError, lang: str, where: str) -> gr.Error:
    """The gr.Error a user sees for `e`, logged as one line: the endpoint and the key."""
    log.info("%s: %s", where, e.key)
    return gr.Error(render(e.key, e.fields, lang), title="错误" if lang == "zh" else "Error", print_exception=False)


def localized(fn):
    """Adds a last parameter `request: gr.Request = None`, which Gradio fills in (the API does not show it), and
    raises a KeyedError from the handler as a gr.Error in the request's language. A handler with a keyword `lang`
    gets the language there (hidden from the API too). Put it outermost, above on_gpu: the request stays in this
    process. Works for functions and generator functions."""
    sig = inspect.signature(fn)
    wants_lang = "lang" in sig.parameters
    shown = [p for name, p in sig.parameters.items() if name != "lang"]
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                annotation=gr.Request)
    signature = sig.replace(parameters=[*shown, request])

    def hooks(args, kwargs) -> Hooks:
        bound = signature.bind(*args, **kwargs)
        lang = language(bound.arguments.pop("request", None))
        kwargs = {**bound.kwargs, **({"lang": lang} if wants_lang else {})}

        def fail(e: Exception):
            if isinstance(e, KeyedError):
                raise user_error(e, lang, fn.__name__) from None
        return Hooks(bound.args, kwargs, fail=fail)

    wrapper = wrap(fn, hooks)
    wrapper.__signature__ = signature
    wrapper.__annotations__ = {k: v for k, v in getattr(fn, "__annotations__", {}).items() if k != "lang"}
    wrapper.__annotations__["request"] = gr.Request
    return wrapper
