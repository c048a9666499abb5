"""The Inside the model tab in a real browser (tests/test_browser.py's Chromium, sizes and languages): the attention
maps drawn and tapped, a guess revealed, the sampling chart redrawn with no request to the server, and the scale view,
at 1440 and 390 px wide, in English and Chinese. Screenshots go to $PLAYGROUND_SCREENSHOTS."""

import time

import pytest

from tests.test_browser import CHROMIUM, views
from tests.test_browser import browser  # noqa: F401 - the module's Chromium

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                                   reason="Chromium is not installed")]


view = views()


def said(view, key: str) -> str:
    """A page-script word (inside_js_*) as this page shows it, its {fields} left out."""
    from ui.kit.errors import messages
    return max(messages()[key][view.lang == "zh"].split("{"), key=len).split("}")[-1].strip()


def no_overflow(view, selector: str) -> None:
    wide = view.page.evaluate(f"(() => {{ const e = document.querySelector('{selector}');"
                              f" return [e.scrollWidth, e.clientWidth, document.documentElement.scrollWidth]; }})()")
    assert wide[0] <= wide[1] + 1 and wide[2] <= view.width + 1, f"{selector} overflows at {view.width} px: {wide}"


def test_inside_the_model(view, tmp_path):
    page = view.page
    view.tab("inside")
    start = time.perf_counter()
    page.get_by_role("button", name=view.s("inside_look"), exact=True).click()
    page.wait_for_function("document.querySelectorAll('#inside-view .inside-grid canvas').length === 24",
                           timeout=60_000)
    print(f"{view.name}: first picture {1000 * (time.perf_counter() - start):.0f} ms after the click "
          f"(a shared CPU; the bench prints the server's part)")
    root = page.locator("#inside-view .inside-root")
    assert said(view, "inside_js_attention_title") in root.inner_text()  # the script's words in the page's language
    chips = page.locator("#inside-view .inside-tok")
    assert chips.count() >= 10 and page.locator("#inside-view .inside-query").count() == 1
    chips.nth(3).click()  # a tap chooses the query row
    assert "inside-query" in chips.nth(3).get_attribute("class")
    assert "inside-later" in chips.nth(4).get_attribute("class")
    page.locator("#inside-view .inside-grid canvas").nth(7).click()  # layer 2, head 2 (6 heads a row)
    assert page.locator("#inside-view canvas.inside-selected").get_attribute("data-l") == "1"
    assert view.s("inside_look")  # the interface string exists in both languages
    no_overflow(view, "#inside-view")
    view.shot("inside-attention", tmp_path)

    assert page.locator("#inside-view .inside-revealed").is_hidden()  # nothing of the answer before the guess
    page.locator("#inside-view .inside-guess input").fill("calm")
    page.locator("#inside-view .inside-reveal").click()
    result = page.locator("#inside-view .inside-guess-result").inner_text()
    assert said(view, "inside_js_top5") in result
    assert page.locator("#inside-view .inside-revealed").is_visible()
    assert page.locator("#inside-view .inside-lens tr").count() == 1 + 5  # header, embeddings, 4 layers

    requests = []
    page.on("request", lambda r: requests.append(r.url))
    bars = page.locator("#inside-view .inside-bars").inner_html()
    picks = set()
    for t in ("0.3", "1.2", "2"):
        page.evaluate(f"""(() => {{ const s = document.querySelector('#inside-view input[data-k=temperature]');
            s.value = {t}; s.dispatchEvent(new Event('input', {{bubbles: true}})); }})()""")
        picks.add(root.get_attribute("data-pick"))
        assert root.get_attribute("data-redraw-ms") is not None
    page.evaluate("""(() => { const s = document.querySelector('#inside-view input[data-k=top_k]');
        s.value = 3; s.dispatchEvent(new Event('input', {bubbles: true})); })()""")
    assert page.locator("#inside-view .inside-bar:not(.inside-dropped)").count() <= 3
    assert page.locator("#inside-view .inside-cut").count() == 1  # the top-k line drawn
    assert page.locator("#inside-view .inside-bars").inner_html() != bars
    time.sleep(0.3)
    assert requests == [], f"the chart asked the server: {requests}"
    print(f"{view.name}: chart redrawn in {root.get_attribute('data-redraw-ms')} ms, no request")
    no_overflow(view, "#inside-view")
    page.locator("#inside-view .inside-bars").scroll_into_view_if_needed()
    view.shot("inside-sampling", tmp_path)


def test_scale_view(view, tmp_path):
    page = view.page
    view.tab("inside")
    page.get_by_role("button", name=view.s("inside_scale_run"), exact=True).click()
    page.wait_for_selector("#inside-scale .inside-card", timeout=60_000)
    page.wait_for_selector("figure.inside-plot svg", timeout=120_000)
    cards = page.locator("#inside-scale .inside-card")
    from generators import scales
    assert cards.count() == len(scales.models())
    ours = page.locator("#inside-scale .inside-card[data-model=bundled]").inner_text()
    assert len(ours.splitlines()) >= 3 and said(view, "inside_ours") in ours
    off = page.locator("#inside-scale .inside-off")
    assert off.count() >= 4 and said(view, "inside_unavailable") in off.first.inner_text()
    assert said(view, "inside_plot_hub") in page.locator("figure.inside-plot").inner_text()
    no_overflow(view, "#inside-scale")
    page.locator("figure.inside-plot").scroll_into_view_if_needed()
    view.shot("inside-scale", tmp_path)
