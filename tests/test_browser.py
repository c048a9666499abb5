"""A real browser (Debian's headless Chromium, driven by Playwright) opens the app and uses every tab."""

import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
LOADED = "[...document.querySelectorAll('{} img')].every(i => i.complete && i.naturalWidth > 0)"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def page(app_url):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(app_url)
        yield page
        browser.close()


def shot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("PLAYGROUND_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 10_000


def test_text_tab_streams_into_the_page(page, tmp_path):
    page.get_by_role("tab", name="Text continuation").click()
    box = page.get_by_label("Text (alternative 1)")
    prompt = page.get_by_label("Prompt").input_value()
    page.get_by_role("button", name="Generate").click()
    seen, last_change, value = [], time.time(), ""
    while time.time() - last_change < 4 and len(seen) < 400:
        current = box.input_value()
        if current != value:
            value, last_change = current, time.time()
            seen.append(value)
        time.sleep(0.02)
    grown = [v for v in seen if v.startswith(prompt) and len(v) > len(prompt)]
    assert len(grown) >= 3, f"the text did not grow in the page in steps: {seen[:5]}"
    assert all(len(a) <= len(b) for a, b in zip(grown, grown[1:]))  # it only ever grows
    shot(page, "text", tmp_path)


def test_gan_tab_shows_digits(page, tmp_path):
    page.get_by_role("tab", name="GAN digits").click()
    page.get_by_role("button", name="Sample digits").click()
    page.wait_for_function("document.querySelectorAll('#gan-gallery img').length >= 32", timeout=60_000)
    page.wait_for_function(LOADED.format("#gan-gallery"), timeout=30_000)  # every image decoded, not a placeholder
    assert "realness" in page.locator("#gan-gallery").inner_text()
    shot(page, "gan", tmp_path)


def test_vae_tab_shows_frames(page, tmp_path):
    page.get_by_role("tab", name="VAE interpolation").click()
    page.get_by_role("button", name="Interpolate").click()
    page.wait_for_function("document.querySelectorAll('#vae-frames img').length >= 16", timeout=60_000)
    page.wait_for_function(LOADED.format("#vae-frames"), timeout=30_000)
    page.wait_for_function("document.body.innerText.includes('16 frames')", timeout=30_000)
    shot(page, "vae", tmp_path)


def test_chinese_browser_gets_the_chinese_interface(page, app_url):
    context = page.context.browser.new_context(locale="zh-CN")  # navigator.language and Accept-Language
    try:
        zh = context.new_page()
        zh.goto(app_url)
        zh.get_by_role("tab", name="GAN 手写数字").click(timeout=60_000)
        assert zh.get_by_role("button", name="采样数字").is_visible()
        assert zh.get_by_role("tab", name="GAN digits").count() == 0
    finally:
        context.close()
