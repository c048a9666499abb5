"""The app's gr.Blocks: launch() serves the interface's translations (unless given others), its CSS (before any
given) and the guard (ui/server/guard.py: body caps, login throttling, media checks). Gradio takes them as
launch(i18n=..., css=..., app_kwargs=...), so `python app.py`, tests and Spaces that call build_demo().launch() all
get them. The request-path overrides it inherits are in ui/server/gradio_patches.py."""

import gradio as gr
from starlette.middleware import Middleware

from generators.runtime import memory
from ui.kit.i18n import i18n as translations
from ui.kit.registry import tabs
from ui.server import guard
from ui.server.gradio_patches import PatchedBlocks

TITLE = "Generative AI playground · 生成式 AI 体验场"  # the browser tab's title: Gradio 6.31 does not translate it
# Digits are served at their 28 px; the browser enlarges them pixel for pixel instead of blurring them.
CSS = """
.pixelated img { image-rendering: pixelated; }
/* an image sent at the digits' own pixels (a diffusion run's guess and GIF) fills its box, below its label */
.enlarged .image-frame { width: 100% !important; }
.enlarged img { width: 100% !important; height: auto !important; max-height: none !important; }
.enlarged .image-container { padding-top: 2.2em; }
.grid-wrap.fixed-height { min-height: 0 !important; }  /* a gallery of 4 digits is not 450 px tall */
/* every digit in sight: a gallery grows with its digits (no inner scrollbar: 32 GAN digits showed 2.5 of 4 rows)
   and has as many columns as fit its width (Gradio's fixed 8 columns cut the diffusion samples at the right) */
.grid-wrap, .grid-wrap.fixed-height { max-height: none !important; height: auto !important; overflow: visible !important; }
.grid-container { grid-template-columns: repeat(auto-fill, minmax(64px, 1fr)) !important;
                  grid-template-rows: none !important; grid-auto-rows: auto !important; }
.captioned .grid-container { grid-template-columns: repeat(auto-fill, minmax(112px, 1fr)) !important; }
/* a wide table (the comparison's) says that it scrolls: a shadow at the edge it continues past */
.table-wrap, .md table { background: linear-gradient(to right, var(--background-fill-primary) 30%, transparent),
    linear-gradient(to left, var(--background-fill-primary) 30%, transparent) right,
    radial-gradient(farthest-side at 0 50%, rgba(0,0,0,.25), transparent),
    radial-gradient(farthest-side at 100% 50%, rgba(0,0,0,.25), transparent) right;
  background-repeat: no-repeat; background-size: 40px 100%, 40px 100%, 14px 100%, 14px 100%;
  background-attachment: local, local, scroll, scroll; }
/* a plot is seen whole: Gradio 6.31 draws the chart 46 px below its block's top and 20 px shorter than the block,
   whose overflow is hidden, so the x axis's title and the legend (which colour is which curve) were cut off */
.block:has(> .vega-embed) { overflow: visible !important; margin-bottom: 28px; }
/* a "Link to these settings" box stays out of sight until its button has filled it (ui/kit/permalink.py) */
.permalink-url:has(:is(textarea, input):placeholder-shown) { display: none !important; }
.block .empty.large, .block .empty.small { min-height: 0 !important; height: 64px !important; }  /* outputs at rest */
.secondary-wrap > input { text-overflow: ellipsis; padding-right: 24px !important; }  /* a dropdown's text stops before its arrow */
/* a slider's label keeps a readable width and its number box goes below it (a Chinese label in a phone's narrow
   column had shrunk to one character a line) */
.head:has(> .tab-like-container) > label { min-width: min(100%, 7em); flex: 1 1 auto; }
/* labels that float over an image or a gallery's first row go above them, in full (the GAN gallery's label hid
   the top of its first digit) */
.block > label.float[data-testid="block-label"] { position: static; white-space: normal; max-width: 100%; }
.grid-container.pt-6 { padding-top: 0; }
@media (max-width: 640px) {  /* a phone: galleries as many columns as fit, not Gradio's fixed 8-16 cut off */
  .grid-container { grid-template-columns: repeat(auto-fill, minmax(52px, 1fr)) !important; }
}
"""
# Gradio keeps the state of its last 10,000 sessions, each with a copy of the config of every block of the page
# (gradio/state_holder.py: SessionState; the model cards' Markdown included), and every API call is a session of
# its own, so memory grew with every request. The least recently used session goes first, so a browser tab still
# in use keeps its state (the text tab's token probabilities); one idle while 64 others came loses it.
SESSIONS = 64


class Playground(PatchedBlocks):
    """gr.Blocks with the playground's translations, CSS, guard and session cap at launch."""

    def launch(self, *args, i18n: gr.I18n | None = None, css: str | None = None, app_kwargs: dict | None = None,
               max_file_size: str | int | None = "10mb", state_session_capacity: int = SESSIONS, **kwargs):
        own = CSS + "".join(tab.css for tab in tabs())
        app_kwargs = dict(app_kwargs or {})
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(guard.Guard)]
        memory.QUIET.start()  # the C heap trimmed once the app goes quiet (generators/runtime/memory.py)
        return super().launch(*args, i18n=i18n or translations(), css=own + (css or ""), app_kwargs=app_kwargs,
                              max_file_size=max_file_size, state_session_capacity=state_session_capacity, **kwargs)
