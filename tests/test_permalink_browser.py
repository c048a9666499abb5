"""A permalink opened in Chromium (desktop and phone, English and Chinese) restores the inputs and recomputes the same
result: the room's round (same digits) and the GAN tab's digits (same summary as the API gives). Screenshots go to
$PLAYGROUND_SCREENSHOTS (a temporary folder by default)."""

import os
import re
from pathlib import Path

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


@pytest.fixture(params=list(VIEWS))
def page(browser, request):
    width, height, lang = VIEWS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    page.view = (request.param, lang)
    yield page
    context.close()


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
        assert strip(api_summary)[:200].split("Median")[1][:40] in strip(summary.inner_text())
    shot(page, "gan-permalink", tmp_path)
    page.locator("#gan-permalink").click()
    url = page.locator("#gan-permalink-url textarea, #gan-permalink-url input").first
    page.wait_for_function("document.querySelector('#gan-permalink-url textarea, #gan-permalink-url input')"
                           ".value.includes('tab=gan')")
    link = url.input_value()
    assert "digit=7" in link and "count=12" in link and "seed=5" in link and f"lang={lang}" in link
