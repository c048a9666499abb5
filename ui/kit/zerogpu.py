"""ZeroGPU support: `on_gpu` is `spaces.GPU` on a Hugging Face Space and a plain pass-through elsewhere.

On ZeroGPU, `spaces` must be imported before torch; app.py does that first. Here we only look it up,
so importing this module never imports `spaces` (tests and CPU machines run without it).
"""

import sys


def on_gpu(fn):
    """Wraps a handler (function or generator) so a ZeroGPU Space attaches a GPU for its duration."""
    return sys.modules["spaces"].GPU(fn) if on_zerogpu() else fn


def on_zerogpu() -> bool:
    """Whether handlers run in ZeroGPU's worker processes (`spaces` imported), where objects of a request's session
    (a Stop flag in gr.State) are copies."""
    return sys.modules.get("spaces") is not None
