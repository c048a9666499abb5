"""Every result a link: the URL's query holds the tab, its inputs, the seed and the language (docs/permalinks.md).

    run = button.click(sample_digits, [digit, count, seed], outputs, ...)
    linked = named(sample_digits, [digit, count, seed])  # {"digit": digit, "count": count, "seed": seed}
    register("gan", linked, button)   # restore on page load
    link_button("gan", linked)        # "Link to these settings": the link of what the inputs hold now

Opening `/?tab=gan&digit=7&count=16&seed=3&lang=zh` selects the tab (app.py gives each gr.Tab the id
`tab-<key>`), sets each named input to the URL's value and clicks the tab's own button, so the result is computed
by the very event a visitor runs: same handler, same checks, same output. `lang` is kept in a cookie that the
server's messages read (ui/kit/errors.py: language); the page's own labels follow the browser's language (Gradio 6.31
offers no way to set its locale from a page).
"""

import inspect
import json
from urllib.parse import quote, urlencode

import gradio as gr
from gradio.context import Context

from ui.kit.components import raw
from ui.kit.errors import render
from ui.kit.i18n import t

LANG_COOKIE = "playground_lang"
LANGS = ("en", "zh")
# A value longer than this, URL-encoded, is left out of a link (a fine-tune's text, a long prompt), so that a link
# stays under 8 KiB, which common proxies take in a request line (nginx's default); a Chinese character encodes to 9.
MAX_VALUE = 4000
# what a URL cannot hold: an uploaded file, a drawing, a session's state
UNLINKABLE = (gr.File, gr.ImageEditor, gr.State)


def _fits(value) -> bool:
    return value is not None and len(quote(str(value), safe="")) <= MAX_VALUE


def query(tab: str, lang: str, **inputs) -> str:
    """The query string of a result: `?tab=...&<input>=...&lang=...` (API answers carry it as `link`); None values
    and values over MAX_VALUE are left out (the page then keeps its own)."""
    return "?" + urlencode({"tab": tab, **{k: v for k, v in inputs.items() if _fits(v)}, "lang": lang})


def line(tab: str, lang: str, **inputs) -> str:
    """The result's link as a Markdown line under its summary: a link on the page, and what an API caller's summary
    carries (a query to append to the app's address)."""
    return render("result_link", dict(query=query(tab, lang, **inputs)), lang)


def named(fn, components: list, **extra) -> dict:
    """URL name -> component for a handler's inputs: the names are `fn`'s parameters (its API's), in order, those
    a URL cannot hold (files, drawings, state) left out; `extra` adds inputs of the tab's other events."""
    names = [n for n in inspect.signature(fn).parameters if n not in ("request", "lang")]
    return {n: c for n, c in zip(names, components) if not isinstance(c, UNLINKABLE)} | extra


def _value(component, text: str):
    """A URL value as its component holds it: numbers as numbers, checkboxes as booleans, else the text (the
    handler checks it and words any error)."""
    if isinstance(component, (gr.Number, gr.Slider)):
        try:
            number = float(text)
            return int(number) if number.is_integer() else number
        except ValueError:
            return text
    if isinstance(component, gr.Checkbox):
        return text.lower() in ("1", "true", "yes", "on")
    return text


def _restore(tab: str, inputs: dict):
    """The load handler: the URL's values for this tab's inputs (skip when the link is another tab's)."""
    names, components = list(inputs), list(inputs.values())

    def restore(request: gr.Request):
        params = dict(getattr(request, "query_params", {}) or {})
        if params.get("tab") != tab:
            return [gr.skip() for _ in names] if len(names) > 1 else gr.skip()
        values = [_value(c, params[n]) if n in params else gr.skip() for n, c in zip(names, components)]
        return values if len(values) > 1 else values[0]
    return restore


def _select_js(tab: str) -> str:
    """Client side, on load: for this tab's link, keep its language in a cookie and select the tab."""
    return """() => { const q = new URLSearchParams(location.search); if (q.get('tab') !== %s) return;
      const lang = q.get('lang'); if (%s.includes(lang)) document.cookie = '%s=' + lang + '; path=/; SameSite=Lax';
      document.getElementById('tab-' + %s + '-button')?.click(); }""" % (
        json.dumps(tab), json.dumps(list(LANGS)), LANG_COOKIE, json.dumps(tab))


def _click_js(tab: str, button_id: str) -> str:
    """Client side, once the inputs hold the URL's values: run the tab's own event."""
    return """() => { if (new URLSearchParams(location.search).get('tab') !== %s) return;
      setTimeout(() => document.querySelector('#%s')?.click(), 50); }""" % (json.dumps(tab), button_id)


def register(tab: str, inputs: dict, button: gr.Button) -> None:
    """On page load with `?tab=<tab>`: the tab selected, `inputs` (URL name -> component) set, `button` clicked.
    The button needs an elem_id."""
    if not button.elem_id:
        raise ValueError("a permalink's button needs an elem_id")
    for component in inputs.values():  # a choice the URL made up reaches the handler, whose check words it in the
        if isinstance(component, (gr.Dropdown, gr.Radio)):  # link's language (Gradio's own refusal is English only)
            raw(component)
    # postprocess=False: the values go to the page as the URL had them, so that a number that is not one reaches
    # the handler (which words the error) rather than failing in the component's postprocess
    Context.root_block.load(_restore(tab, inputs), None, list(inputs.values()), js=_select_js(tab), queue=False,
                            api_visibility="private", show_progress="hidden", postprocess=False) \
        .then(None, None, None, js=_click_js(tab, button.elem_id), queue=False, api_visibility="private")


def link_js(tab: str, names: list[str]) -> str:
    """Client side: the page's URL with this tab's current inputs and the browser's language."""
    return """(...values) => { const q = new URLSearchParams({tab: %s});
      %s.forEach((n, i) => { const v = values[i];
        if (v != null && encodeURIComponent(String(v)).length <= %d) q.set(n, String(v)); });
      q.set('lang', (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');
      return location.origin + location.pathname + '?' + q.toString(); }""" % (json.dumps(tab), json.dumps(names),
                                                                                MAX_VALUE)


def link_button(tab: str, inputs: dict, label=None, link_label=None) -> tuple[gr.Button, gr.Textbox]:
    """A "Link to these settings" button and the box that shows the link (copyable, hidden while empty); nothing runs
    on the server."""
    label, link_label = label or t("app_link_result"), link_label or t("app_link_label")
    button = gr.Button(label, size="sm", variant="secondary", elem_id=f"{tab}-permalink")
    # the placeholder is what the page's CSS tests for (:placeholder-shown) to keep the box hidden while it is empty
    box = gr.Textbox(label=link_label, interactive=False, buttons=["copy"], visible=True, max_lines=2,
                     placeholder="…", elem_id=f"{tab}-permalink-url", elem_classes=["permalink-url"])
    button.click(None, list(inputs.values()), box, js=link_js(tab, list(inputs)), queue=False,
                 api_visibility="private")
    return button, box
