"""A real browser (Debian's headless Chromium, driven by Playwright) uses the app as a person would, on a desktop
(1440x900) and a phone (390x844), in English and in Chinese, and checks what that person sees: the result in sight,
galleries whole, captions under their digits, results in the page's language, a Stop or a bad input that leaves the
result as it was. Screenshots go to $PLAYGROUND_SCREENSHOTS (a temporary folder by default)."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
VIEWS = {"desktop-en": (1440, 900, "en"), "phone-en": (390, 844, "en"), "desktop-zh": (1440, 900, "zh"),
         "phone-zh": (390, 844, "zh")}
pytestmark = [pytest.mark.slow,  # a browser: the second tier
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (.ci/run installs)")]

# A Stop races the stream: Gradio answers /cancel, then sends the stream an empty completion message; a frontend that
# reads that message after its Stop handler finished marked every output "Error" (4 of 8 Stops on a slow machine).
# The page below holds that message back 400 ms, so the race goes the bad way on every Stop, and counts the holds.
HOLD_CANCEL_ANSWER = r"""
(() => { const fetch0 = window.fetch; window.__held = 0;
  window.fetch = async (...args) => { const r = await fetch0(...args);
    if (!String(args[0].url || args[0]).includes('queue/data') || !r.body) return r;
    const reader = r.body.getReader(), text = new TextDecoder();
    const held = new ReadableStream({ async pull(out) { const {done, value} = await reader.read();
      if (done) { out.close(); return; }
      if (/"output":\s*\{\}/.test(text.decode(value))) { window.__held++; await new Promise(z => setTimeout(z, 400)); }
      out.enqueue(value); } });
    return new Response(held, {headers: r.headers, status: r.status}); }; })();
"""
# the red "Error" badge a status tracker shows over an output (toasts have .error parts of their own)
BADGES = "[...document.querySelectorAll('{} [data-testid=status-tracker] .error')].filter(e => e.offsetParent).length"
LOADED = "[...document.querySelectorAll('{} img')].every(i => i.complete && i.naturalWidth > 0)"


class View:
    """One browser page at one size in one language, and the app's own wording in that language."""

    def __init__(self, page, name: str, width: int, height: int, lang: str):
        self.page, self.name, self.width, self.height, self.lang = page, name, width, height, lang

    def s(self, key: str) -> str:
        """An interface string (ui/kit/i18n.py) as this page shows it."""
        from ui.kit.i18n import strings
        return strings()[key][self.lang == "zh"]

    def said(self, key: str) -> str:
        """The longest fixed part of a message template (ui/kit/errors.py), to find the message in the page."""
        from ui.kit.errors import messages
        return max(re.split(r"\{[^}]*\}", messages()[key][self.lang == "zh"]), key=len).strip()

    def tab(self, key: str) -> None:
        self.page.get_by_role("tab", name=self.s(f"{key}_title"), exact=True).click()

    def number(self, label_key: str):
        """The number box of a slider or gr.Number, found by its label."""
        label = self.s(label_key)
        box = self.page.locator(f"input[type=number][aria-label='number input for {label}']").filter(visible=True)
        return (box if box.count() else self.page.get_by_label(label, exact=True).filter(visible=True)).first

    def set_number(self, label_key: str, value) -> None:
        box = self.number(label_key)
        box.fill(str(value))
        box.press("Enter")

    def in_sight(self, selector: str) -> None:
        """The element's top edge lies in the window: the person sees where the result begins."""
        top = self.page.evaluate(f"document.querySelector('{selector}').getBoundingClientRect().top")
        assert -2 <= top < self.height - 80, f"{selector} begins at {top:.0f} px, out of a {self.height} px window"

    def wait_toast(self, key: str) -> None:
        self.page.locator(".toast-body", has_text=self.said(key)).first.wait_for(timeout=30_000)

    def shot(self, name: str, tmp_path: Path) -> None:
        folder = Path(os.environ.get("PLAYGROUND_SCREENSHOTS", tmp_path))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}-{name}.png"
        self.page.screenshot(path=str(path))
        assert path.stat().st_size > 5_000


@pytest.fixture(scope="module")
def browser():
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def views(kind=View, init_script: str | None = None):
    """A module's `view` fixture: the app opened in each of VIEWS (size and language) as a `kind`, in the module's
    Chromium (`browser`, imported beside it); `init_script` runs in the page before the app's own scripts."""
    @pytest.fixture(scope="module", params=list(VIEWS))
    def view(browser, app_url, request):
        width, height, lang = VIEWS[request.param]
        context = browser.new_context(viewport={"width": width, "height": height},
                                      locale="zh-CN" if lang == "zh" else "en-US")  # Accept-Language and navigator
        page = context.new_page()
        if init_script:
            page.add_init_script(init_script)
        page.goto(app_url)
        page.wait_for_selector("[role=tab]", timeout=60_000)
        yield kind(page, request.param, width, height, lang)
        context.close()
    return view


view = views(View, HOLD_CANCEL_ANSWER)


def gallery_fits(view, selector: str) -> None:
    """Every image of the gallery lies inside the window's width, and each caption below its image, not over it."""
    boxes = view.page.evaluate(f"""[...document.querySelectorAll('{selector} .thumbnail-item')].map(t => {{
        const i = t.querySelector('img').getBoundingClientRect(), c = t.querySelector('.caption-label');
        return [i.left, i.right, i.bottom, c ? c.getBoundingClientRect().top : null]; }})""")
    assert boxes, f"no images in {selector}"
    cut = [b for b in boxes if b[0] < 0 or b[1] > view.width]
    assert not cut, f"{len(cut)} of {len(boxes)} images of {selector} are cut off at {view.width} px"
    covered = [b for b in boxes if b[3] is not None and b[3] < b[2] - 1]
    assert not covered, f"{len(covered)} captions of {selector} cover their digit"


def test_every_tab_in_sight(view, tmp_path):
    """All six tabs are named in the tab bar (no "•••" menu), in the page's language."""
    from ui.kit.registry import tabs
    for tab in tabs():
        button = view.page.get_by_role("tab", name=view.s(f"{tab.key}_title"), exact=True)
        assert button.is_visible(), f"tab {tab.key} is not in sight at {view.width} px"
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= view.width
    other = "en" if view.lang == "zh" else "zh"
    assert view.page.get_by_role("tab", name=tabs()[1].title[other == "zh"], exact=True).count() == 0
    view.shot("tabs", tmp_path)


def test_text_streams_and_stop_keeps_it(view, tmp_path):
    """The text grows token by token in sight; Stop leaves what was written, no Error badge; so does a bad input."""
    page = view.page
    view.tab("text")
    view.set_number("text_max_new_tokens", 512)
    view.set_number("text_alternatives", 3)  # three rows at once: a longer run for the Stop to land in
    box = page.locator("#text-output textarea")
    prompt = page.get_by_label(view.s("text_prompt"), exact=True).input_value()
    stopped_note = view.said("text_stopped")
    for attempt in range(4):  # the Stop must land mid-stream: its notice says it did
        page.get_by_role("button", name=view.s("text_generate"), exact=True).click()
        seen, deadline = [box.input_value()], time.time() + 30
        while len(seen) < 3 and time.time() < deadline:
            value = box.input_value()
            if value.startswith(prompt) and len(value) > len(prompt) and value != seen[-1]:
                seen.append(value)
            time.sleep(0.01)
        page.get_by_role("button", name=view.s("app_stop"), exact=True).dispatch_event("click")
        time.sleep(1.2)
        if stopped_note in page.locator("body").inner_text():
            break
    assert stopped_note in page.locator("body").inner_text(), "every run ended before its Stop"
    assert len(seen) == 3 and len(seen[1]) < len(seen[2]), "the text did not grow in steps"
    stopped = box.input_value()
    assert stopped.startswith(prompt) and len(stopped) > len(prompt), "Stop wiped the text"
    tokens = page.locator("#text-tokens").inner_text()  # the token view of what was written before the Stop
    words = [w.strip('.,;:!?"“”') for w in stopped[len(prompt):].split()]
    # inner_text puts a line break between tokens: a word of several tokens ("man--there's") matches once they go
    flat = "".join(tokens.split())
    assert any(len(w) > 2 and w in flat for w in words[-5:]), f"Stop left no token view: {tokens[-200:]!r}"
    assert page.evaluate(BADGES.format("#text-output")) == 0, "Stop left an Error badge on the text"
    assert page.evaluate(BADGES.format("body")) == 0
    view.in_sight("#text-output")
    assert view.said("text_new_tokens_lowered") in page.locator("body").inner_text()  # the notice, in its language
    view.shot("text-stopped", tmp_path)
    view.set_number("app_seed", -1)  # a bad input: a toast, and the text stays
    page.get_by_role("button", name=view.s("text_generate"), exact=True).click()
    view.wait_toast("int_range")
    time.sleep(0.3)
    assert box.input_value() == stopped
    assert page.evaluate(BADGES.format("body")) == 0
    view.shot("text-bad-input", tmp_path)


def test_gan_digits_fit_and_bad_input_keeps_them(view, tmp_path):
    """32 digits in sight, whole, captions under them in the page's language; a bad seed keeps them."""
    page = view.page
    view.tab("gan")
    page.get_by_role("button", name=view.s("gan_sample"), exact=True).click()
    page.wait_for_function("document.querySelectorAll('#gan-gallery img').length >= 32", timeout=60_000)
    page.wait_for_function(LOADED.format("#gan-gallery"), timeout=30_000)
    view.in_sight("#gan-gallery")
    gallery_fits(view, "#gan-gallery")
    caption = page.locator("#gan-gallery .caption-label").first.inner_text()
    assert view.said("gan_caption").strip(" ·") in caption, caption  # "realness" / "真实度"
    view.shot("gan", tmp_path)
    before = page.locator("#gan-gallery img").first.get_attribute("src")
    view.set_number("app_seed", -1)
    page.get_by_role("button", name=view.s("gan_sample"), exact=True).click()
    view.wait_toast("int_range")
    time.sleep(0.3)
    assert page.locator("#gan-gallery img").count() >= 32
    assert page.locator("#gan-gallery img").first.get_attribute("src") == before
    assert page.evaluate(BADGES.format("body")) == 0, "a bad seed covered the digits with an Error badge"
    view.set_number("app_seed", 0)


def test_vae_frames_fit_and_bad_input_keeps_them(view, tmp_path):
    """16 frames whole and in sight, the summary in the page's language; a bad seed keeps them; a click on the
    latent map decodes the point clicked."""
    page = view.page
    view.tab("vae")
    page.get_by_role("button", name=view.s("vae_interpolate"), exact=True).click()
    page.wait_for_function("document.querySelectorAll('#vae-frames img').length >= 16", timeout=60_000)
    page.wait_for_function(LOADED.format("#vae-frames"), timeout=30_000)
    summary = view.said("vae_summary")
    page.get_by_text(summary).first.wait_for(timeout=30_000)
    view.in_sight("#vae-frames")
    gallery_fits(view, "#vae-frames")
    view.shot("vae", tmp_path)
    view.set_number("vae_seed", -1)
    page.get_by_role("button", name=view.s("vae_interpolate"), exact=True).click()
    view.wait_toast("int_range")
    time.sleep(0.3)
    assert page.locator("#vae-frames img").count() >= 16
    assert page.evaluate(BADGES.format("body")) == 0
    view.set_number("vae_seed", 0)
    latent_map = page.locator("#vae-latent-map img")  # a click on the map decodes that point
    box = latent_map.bounding_box()
    # the legend's first key (0) lies below the buttons the page lays over the image's top right corner
    from ui.kit.plots import LEGEND_TOP
    natural = page.evaluate("document.querySelector('#vae-latent-map img').naturalHeight")
    buttons = page.evaluate("""Math.max(0, ...[...document.querySelectorAll('#vae-latent-map button')]
        .map(b => b.getBoundingClientRect()).filter(r => r.height > 0 && r.height < 60).map(r => r.bottom))""")
    assert buttons <= box["y"] + LEGEND_TOP * box["height"] / natural, "the image's buttons cover the legend's 0"
    latent_map.click(position={"x": box["width"] * 0.4, "y": box["height"] * 0.5})
    page.locator("#vae-picked img").wait_for(timeout=30_000)
    page.get_by_text(view.said("vae_picked_is")).first.wait_for(timeout=30_000)
    view.shot("vae-map-click", tmp_path)
    # the sketchpads join the page only for "my drawing": an untouched one cost every Interpolate seconds
    assert page.locator(".drawing-pad").count() == 0
    page.get_by_label(view.s("vae_start_digit"), exact=True).filter(visible=True).first.click()
    page.get_by_role("option", name=view.s("vae_my_drawing")).click()
    page.locator(".drawing-pad").first.wait_for(timeout=30_000)


def test_a_diffusion_example_keeps_its_own_guidance(view):
    """The DDPM example sets guidance 1 at every step (interval 1); the sampler's own defaults apply when a person
    picks a sampler, not when an example sets one (its change had overwritten them with 2 and 0)."""
    page = view.page
    view.tab("diffusion")
    page.get_by_text(view.s("diffusion_advanced"), exact=True).click()  # steps, guidance, interval live there
    page.locator(".gallery-item, table tr, button").filter(has_text="1000").filter(visible=True).first.click()
    page.wait_for_function("[...document.querySelectorAll('input[type=number]')].some(i => i.value === '1000')",
                           timeout=30_000)
    time.sleep(0.5)  # a change event, had there been one, answers within this
    for key in ("diffusion_guidance", "diffusion_interval"):  # by role: the exact label of its number box
        box = page.get_by_role("spinbutton", name=f"number input for {view.s(key)}", exact=True)
        assert box.input_value() == "1", key
