"""Eager vs traced forwards, alone and beside busy Python threads: the image models (generators/runtime/traced.py) and the
text engine's decoding step (generators/batched_gpt2.step_graph, scripted).

    python -m bench.bench_traced                  # GAN sample, VAE decode, text step; 16 and 100 rows
    python -m bench.bench_traced --busy 0 1 3     # beside 0, 1 and 3 threads that run Python and nothing else

Under load a server's other threads run Python (Gradio, the handlers' PNGs), and an eager forward takes the GIL back
after every op, waiting for it each time; a traced forward runs its ops with the GIL released. Each cell is the
median milliseconds of a forward on one torch thread, eager then traced, in the same run.
"""

import argparse
import statistics
import threading
import time

import torch

from generators.lm.batched_gpt2 import BatchedGpt2, _step, step_graph
from generators.gan import GanSampler, SampleNet
from generators.text import TextContinuation
from generators.runtime.traced import Method
from generators.vae import VaeInterpolator


class Busy:
    """`n` threads that run Python loops until stopped: the server's handlers and event loop, as far as the GIL
    sees them."""

    def __init__(self, n: int):
        self.stop, self.threads = threading.Event(), [threading.Thread(target=self._spin) for _ in range(n)]

    def _spin(self):
        x = 0
        while not self.stop.is_set():
            for i in range(1000):
                x += i

    def __enter__(self):
        for t in self.threads:
            t.start()

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


@torch.inference_mode()
def median_ms(fn, inputs: tuple, repeats: int) -> float:
    fn(*inputs), fn(*inputs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*inputs)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def text_step():
    """The bundled text model's batched decoding step, eager and scripted, over one cache of 100 rows."""
    fast = TextContinuation(torch.device("cpu")).load().fast
    net = BatchedGpt2(fast, 100, onednn=True)

    def with_graph(graph):
        return lambda ids, pos: (setattr(net, "_graph", graph), net.step(ids, pos))[1]
    inputs = lambda n: (torch.randint(0, fast.wte.shape[0], (n,)), torch.randint(0, 90, (n,)))  # noqa: E731
    return "text decoding step", with_graph(_step), with_graph(step_graph(True)), inputs


def models() -> list[tuple[str, torch.nn.Module, object, callable]]:
    """(name, eager module, traced callable, inputs for n rows) for the GAN's sample, the VAE's decode and the text
    model's decoding step."""
    gan, vae = GanSampler(device=torch.device("cpu")), VaeInterpolator(device=torch.device("cpu"))
    G, D, C = gan.load()
    vae.load()
    return [("GAN sample (G + D + classifier)", SampleNet(G, D, C), gan._net,
             lambda n: (torch.randn(n, G.z_dim), torch.randint(0, 10, (n,)))),
            ("VAE decode", Method(vae._model, "decode"), vae._decoder,
             lambda n: (torch.randn(n, vae._model.latent_dim),)), text_step()]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[16, 100])
    p.add_argument("--busy", type=int, nargs="+", default=[0, 1, 3], help="busy Python threads beside the forward")
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 torch thread; median ms a forward, eager / traced")
    print(f"{'model':34s} {'rows':>5s} " + " ".join(f"{f'{b} busy':>17s}" for b in args.busy))
    for name, eager, traced, inputs in models():
        for n in args.rows:
            x, cells = inputs(n), []
            for b in args.busy:
                with Busy(b):
                    e, t = median_ms(eager, x, args.repeats), median_ms(traced, x, args.repeats)
                cells.append(f"{e:7.1f} / {t:6.1f}")
            print(f"{name:34s} {n:5d} " + " ".join(f"{c:>17s}" for c in cells))


if __name__ == "__main__":
    main()
