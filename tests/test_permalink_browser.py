"""A permalink opened in Chromium (desktop and phone, English and Chinese) restores the inputs and recomputes the same
result: the room's round (same digits), the GAN tab's digits (same summary as the API gives), the text tab's text and
the diffusion tab's digits (the same as the API's); every other tab once, in one view each. Screenshots go to
$PLAYGROUND_SCREENSHOTS (a temporary folder by default)."""

import contextlib
import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.test_browser import CHROMIUM, FLAGS, VIEWS

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def opened(browser, view: str):
    """A page in `view` (VIEWS: its size and its browser's language)."""
    width, height, lang = VIEWS[view]
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    page.view = (view, lang)
    try:
        yield page
    finally:
        context.close()


# a desktop in English and a phone in Chinese: each size and each language, in half the time of all four (the
# pages' own layout at every size and language is tests/test_browser.py's)
@pytest.fixture(params=["desktop-en", "phone-zh"])
def page(browser, request):
    with opened(browser, request.param) as page:
        yield page


def shot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("PLAYGROUND_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{page.view[0]}.png"), full_page=False)


def digit_sources(page) -> list[str]:
    return page.eval_on_selector_all("#room-digits img", "els => els.map(e => e.getAttribute('src'))")


def test_a_room_permalink_replays_the_same_round(page, app_url, client, tmp_path):
    lang = page.view[1]
    reply = client.predict("digits", 4242, api_name="/play_round")
    page.goto(app_url + reply["link"].replace("lang=en", f"lang={lang}"))
    page.locator("#room-digits img").nth(7).wait_for(timeout=120_000)
    assert page.locator("#room-seed input").input_value() == "4242"
    assert page.locator("#room-submit").is_enabled()
    # the tally is there as the page opens (the room's first visitor reads that nobody has answered yet)
    page.locator("#room-tally").get_by_text(re.compile("作答" if lang == "zh" else "rounds? answered")).wait_for()
    # the same round: the same pixels as the API's items (the page's images are files; compare decoded)
    import base64
    import io

    import numpy as np
    import requests
    from PIL import Image
    page_pixels = []
    for src in digit_sources(page):
        body = requests.get(src if src.startswith("http") else app_url.rstrip("/") + src, timeout=30).content
        page_pixels.append(np.array(Image.open(io.BytesIO(body)).convert("L")))
    api_pixels = [np.array(Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1])))) for u in reply["items"]]
    assert all(np.array_equal(a, b) for a, b in zip(page_pixels, api_pixels))
    shot(page, "room-permalink", tmp_path)
    page.locator("#room-digit-1 input").check()
    page.locator("#room-submit").click()
    result = page.locator("#room-result")
    result.get_by_text(re.compile("判断对了" if lang == "zh" else "You marked")).wait_for(timeout=60_000)
    page.locator("#room-tally").get_by_text(re.compile("轮作答" if lang == "zh" else "rounds answered")).wait_for()
    shot(page, "room-reveal", tmp_path)


def test_a_gan_permalink_restores_inputs_and_the_same_result(page, app_url, client, tmp_path):
    lang = page.view[1]
    page.goto(app_url + f"?tab=gan&digit=7&count=12&seed=5&truncation=0.6&lang={lang}")
    gallery = page.locator("#gan-gallery img")
    gallery.nth(11).wait_for(timeout=120_000)
    assert gallery.count() == 12
    summary = page.locator("#gan-summary")  # the verdict line, then the figures (median realness, agreement)
    summary.get_by_text(re.compile("12 个数字" if lang == "zh" else "12 digits in")).first.wait_for()
    _, _, api_summary = client.predict("7", 12, 5, 0.6, api_name="/sample_digits")
    # the same digits give the same realness median and agreement; only the timing differs
    strip = lambda s: re.sub(r"\d+ (ms|毫秒)", "", s)  # noqa: E731
    if lang == "en":
        assert strip(api_summary).split("Median")[1][:40] in strip(summary.inner_text())
    shot(page, "gan-permalink", tmp_path)
    assert not page.locator("#gan-permalink-url").is_visible()  # an empty link box is out of sight
    page.locator("#gan-permalink").click()
    url = page.locator("#gan-permalink-url textarea, #gan-permalink-url input").first
    page.wait_for_function("document.querySelector('#gan-permalink-url textarea, #gan-permalink-url input')"
                           ".value.includes('tab=gan')")
    link = url.input_value()
    assert url.is_visible()
    assert "digit=7" in link and "count=12" in link and "seed=5" in link and f"lang={lang}" in link


def params(link: str) -> dict:
    return dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))


def relinked(page, tab: str) -> dict:
    """The link "Link to these settings" makes now, from what the inputs hold: the restored values, if restored."""
    box = f"#{tab}-permalink-url textarea, #{tab}-permalink-url input"
    page.locator(f"#{tab}-permalink").click()
    page.wait_for_function(f"document.querySelector('{box}')?.value.includes('tab={tab}')", timeout=30_000)
    return params(page.locator(box).first.input_value())


def assert_restored(page, link: str) -> None:
    asked, now = params(link), relinked(page, params(link)["tab"])
    assert {k: now.get(k) for k in asked} == asked


def in_language(text: str, lang: str) -> bool:
    return bool(text.strip()) and (re.search(r"[\u4e00-\u9fff]", text) is not None) == (lang == "zh")


TEXT = dict(prompt="The lighthouse keeper opened the door and", max_new_tokens=12, seed=3, temperature=0.9, top_k=20)


def test_a_text_permalink_writes_the_same_text(page, app_url, client, tmp_path):
    lang = page.view[1]
    link = "?" + urlencode({"tab": "text", **TEXT, "lang": lang})
    api_text = client.predict(*TEXT.values(), api_name="/continue_text")[0]
    page.goto(app_url + link)
    box = page.locator("#text-output textarea")
    # the page's text grows to the API's, token by token (a different text never equals it)
    page.wait_for_function("t => document.querySelector('#text-output textarea')?.value === t", arg=api_text,
                           timeout=120_000)
    assert box.input_value() == api_text
    assert_restored(page, link)
    shot(page, "text-permalink", tmp_path)


DIFFUSION = dict(digit="3", count=6, steps=8, guidance=2, seed=4, sampler="DDIM", guidance_interval=0)


def test_a_diffusion_permalink_draws_the_same_digits(page, app_url, client, tmp_path):
    lang = page.view[1]
    link = "?tab=diffusion&" + "&".join(f"{k}={v}" for k, v in DIFFUSION.items()) + f"&lang={lang}"
    page.goto(app_url + link)
    gallery = page.locator("#diffusion-gallery img")
    gallery.nth(DIFFUSION["count"] - 1).wait_for(timeout=120_000)
    summary = page.locator("#diffusion-summary")
    summary.get_by_text(re.compile("DDIM")).first.wait_for(timeout=60_000)
    assert gallery.count() == DIFFUSION["count"] and in_language(summary.inner_text(), lang)
    digits = client.predict(*DIFFUSION.values(), api_name="/denoise_digits")[0]
    # what our classifier reads in each digit: the API's, in the page's language
    reads = [re.search(r"\d+ \(\d+%\)|\d+（\d+%）", c).group() for c in
             page.locator("#diffusion-gallery .caption-label").all_inner_texts()]
    api_reads = [re.search(r"\d+ \(\d+%\)", d["caption"]).group() for d in digits]
    assert [re.sub(r"\D+", " ", r).strip() for r in reads] == [re.sub(r"\D+", " ", r).strip() for r in api_reads]
    assert_restored(page, link)
    shot(page, "diffusion-permalink", tmp_path)


# every other tab once: its link, the element its result lands in, what that result shows once it is done
OTHERS = {
    "inside": ("desktop-en", "?tab=inside&text=The%20sea%20was%20calm%20and%20the&position=2&seed=3",
               "#inside-view", "document.querySelectorAll('#inside-view .inside-grid canvas').length > 0"),
    "vae": ("phone-zh", "?tab=vae&start_digit=2&end_digit=5&steps=8&method=spherical&seed=1", "#vae-summary",
            "document.querySelectorAll('#vae-frames img').length === 8"),
    "compare": ("desktop-zh", "?tab=compare&digit=4&count=2&seed=1", "#compare-verdict",
                "document.querySelectorAll('#compare-gan img').length === 2"),
    "finetune": ("phone-en", "?tab=finetune&text=&example=alice&steps=2&seconds=0&seed=1", "#finetune-status",
                 "/Done:|完成：/.test(document.querySelector('#finetune-status')?.innerText) && "
                 "document.querySelector('#finetune-base textarea')?.value.length > 0"),
    "scratch": ("desktop-zh", "?tab=scratch&family=VAE&seconds=2&seed=1&failure=false", "#scratch-status",
                "/Done:|完成：/.test(document.querySelector('#scratch-status')?.innerText)"),
    "provenance": ("desktop-en", "?tab=provenance&text=The%20old%20captain%20looked%20out%20over%20the%20harbour",
                   "#provenance-text-verdict",
                   "document.querySelector('#provenance-text-verdict')?.innerText.length > 0"),
}


@pytest.mark.parametrize("tab", list(OTHERS))
def test_every_other_tabs_permalink_restores_and_recomputes(browser, app_url, tab, tmp_path):
    view, link, result, done = OTHERS[tab]
    lang = VIEWS[view][2]
    with opened(browser, view) as page:
        page.goto(app_url + f"{link}&lang={lang}")
        page.wait_for_function(done, timeout=150_000)
        assert in_language(page.locator(result).inner_text(), lang)
        assert_restored(page, f"{link}&lang={lang}")
        shot(page, f"{tab}-permalink", tmp_path)


@pytest.mark.parametrize("link, words", [("?tab=gan&digit=7&count=999&seed=0&lang=zh", "数量"),
                                         ("?tab=vae&start_digit=42&end_digit=7&seed=0&lang=zh", "起点")])
def test_a_bad_value_in_a_link_gets_the_tabs_message_in_the_links_language(browser, app_url, link, words):
    with opened(browser, "desktop-zh") as page:
        page.goto(app_url + link)
        toast = page.locator(".toast-body, [data-testid=toast-body]").filter(has_text=words)
        toast.first.wait_for(timeout=60_000)
        assert "Traceback" not in toast.first.inner_text()
