"""A small CPU model's forward as one call that lets go of Python's GIL: a traced, frozen TorchScript graph.

In eager mode each op takes the GIL to dispatch and gives it back for its kernel, so a forward of some 40 ops takes
the GIL 40 times. Under load the server's other threads (Gradio, the handlers' PNGs and files) hold it for up to
Python's switch interval (5 ms) each time, and the forward waits in line: the GAN's generator, discriminator and
classifier on 100 rows, one torch thread, took 52 ms alone and 247 ms beside one Python thread that only counts;
traced, 54 and 68 ms. A traced graph runs all its ops in C++ with the GIL released, and freezing folds its batch
norms into the convolutions (the same outputs to ~1e-6).

Only for modules whose rows are independent and whose ops do not branch on the data (tracing records one path);
the batch size may change from call to call. Off with PLAYGROUND_TRACE=0 (for comparison), and on a GPU, where
eager mode is what we test.

    forward = gil_free(net, torch.zeros(2, 100))  # net's forward, or net itself where tracing is off or fails
    images = forward(z)
"""

import logging
import os
import warnings
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)
_OFF = ("0", "off", "false", "no")


class Method(torch.nn.Module):
    """One method of a module as a module's forward, to trace it: Method(vae, "decode")(z) == vae.decode(z)."""

    def __init__(self, module: torch.nn.Module, name: str):
        super().__init__()
        self.module, self.name = module, name

    def forward(self, *inputs: torch.Tensor):
        return getattr(self.module, self.name)(*inputs)


def tracing() -> bool:
    """Whether CPU models are traced (on unless PLAYGROUND_TRACE is 0, off, false or no)."""
    return os.environ.get("PLAYGROUND_TRACE", "1").strip().lower() not in _OFF


def gil_free(module: torch.nn.Module, *example: torch.Tensor) -> Callable[..., torch.Tensor]:
    """`module` (in eval mode, on the CPU) traced on `example` and frozen; `module` itself on another device, with
    tracing off, or where tracing fails (logged: the eager module gives the same results, only slower under load)."""
    if not tracing() or any(p.device.type != "cpu" for p in module.parameters()):
        return module
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice: still the one GIL-free forward here
            return torch.jit.freeze(torch.jit.trace(module.eval(), example))
    except Exception as e:  # noqa: BLE001 - any failure to trace leaves the eager module, which always works
        log.warning("%s stays eager: tracing failed (%s)", type(module).__name__, e)
        return module
