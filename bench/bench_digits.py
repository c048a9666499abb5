"""Quality and speed of the GAN and VAE tabs, with baselines, printed as one table.

    python -m bench.bench_digits            # full run (about 2 minutes on 2 CPU cores)
    python -m bench.bench_digits --quick    # smaller samples, for a smoke test

Quality: our MNIST classifier's test accuracy; the class accuracy of conditional GAN samples graded by
it; a Frechet distance on its 128-d features (Heusel et al., 2017, with our classifier in place of
Inception) between GAN samples and real test digits (a seeded random sample: training/metrics.py,
reference_order), beside the real-vs-real floor at the same sample size and what training digits
themselves score; the VAE's test-set reconstruction error and ELBO.
Speed: compute for a 64-digit grid (generator + discriminator + classifier) and a 16-frame
interpolation, each beside a naive per-image loop; p50 round trip through the app's API.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch

from bench.record import record
from generators.gan import GanSampler
from generators.vae import VaeInterpolator
from training.metrics import frechet, reference_digits, reference_order, training_copy, vae_figures
from training.mnist import DEFAULT_DATA, load_mnist


def timed(fn, repeats: int) -> float:
    """Median milliseconds of `fn()` after two warm-up calls (waiting for the GPU, if any, before each reading)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    fn(), fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


@torch.inference_mode()
def quality(sampler: GanSampler, vae: VaeInterpolator, data: Path, n: int,
            figures: dict | None = None) -> list[tuple[str, str]]:
    """The printed rows; `figures` gets the GAN's graded numbers (--write-metrics: assets/gan/metrics.json)."""
    figures = {} if figures is None else figures
    G, _, C = sampler.load()
    x_test, y_test = load_mnist(data, "test")
    x_test = x_test.to(sampler.device)
    acc = (torch.cat([C(x_test[i:i + 1000]).argmax(1).cpu() for i in range(0, 10000, 1000)]) == y_test).float().mean()
    rows = [("classifier test accuracy (10,000 digits)", f"{acc:.2%}")]
    stored, x_test = x_test, reference_order(x_test)  # the Frechet distances grade against a fair sample
    for psi in (1.0, 0.7):
        batches = [sampler.sample(digit=None, count=64, seed=s, truncation=psi) for s in range(-(-n // 64))]
        images = torch.cat([b.images for b in batches])[:n].to(sampler.device)
        labels = torch.tensor(sum((b.labels for b in batches), []))[:n]
        cond = (C(images).argmax(1).cpu() == labels).float().mean()
        rows.append((f"GAN conditional accuracy, psi={psi} ({n} samples)", f"{cond:.2%}"))
        suffix = "" if psi == 1.0 else f"_psi{psi:g}".replace(".", "")
        figures["conditional_accuracy" + suffix] = round(float(cond), 4)
        fd = frechet(C.features(images).cpu(), C.features(x_test[:n]).cpu())
        rows.append((f"GAN Frechet distance to real test digits, psi={psi}", f"{fd:.2f}"))
        figures["frechet" + suffix] = round(float(fd), 2)
    floor = frechet(C.features(x_test[:n]).cpu(), C.features(x_test[n:2 * n]).cpu())
    rows.append((f"real-vs-real floor (two disjoint {n}-digit test sets)", f"{floor:.2f}"))
    copy = training_copy(C, reference_digits(data, 'train')[:n], x_test)
    rows.append((f"{n} training digits as if generated (a perfect copy of the training data)", f"{copy:.2f}"))
    figures.update(samples=n, floor=round(float(floor), 2), training_copy=round(float(copy), 2))
    untrained = G.__class__(**{"z_dim": G.z_dim, "ngf": G.ngf}).eval()
    fake = ((untrained(torch.randn(n, G.z_dim), torch.randint(0, 10, (n,))) + 1) / 2).to(sampler.device)
    fd = frechet(C.features(fake).cpu(), C.features(x_test[:n]).cpu())
    rows.append(("baseline: untrained generator's Frechet distance", f"{fd:.2f}"))
    figures["frechet_untrained"] = round(float(fd), 2)
    m = vae_figures(vae.load(), stored.cpu(), vae.device)  # all 10,000 in stored order, as train_vae writes them
    rows += [("VAE test reconstruction (Bernoulli NLL, nats/digit)", f"{m['recon_nll_nats']:.1f}"),
             ("VAE test KL (nats/digit)", f"{m['kl_nats']:.1f}"),
             ("VAE test negative ELBO (nats/digit)", f"{m['neg_elbo_nats']:.1f}"),
             ("VAE test pixel MSE at the latent mean", f"{m['pixel_mse_at_mean']:.4f}")]
    return rows


def speed(sampler: GanSampler, vae: VaeInterpolator, repeats: int) -> list[tuple[str, str]]:
    G, D, C = sampler.load()
    dev = sampler.device

    @torch.inference_mode()
    def naive_grid():  # one forward per digit, as a per-image demo loop does
        for i in range(64):
            label = torch.tensor([i % 10], device=dev)
            x = G(torch.randn(1, G.z_dim, device=dev), label)
            D(x, label), C((x + 1) / 2)

    @torch.inference_mode()
    def grid_g_and_d():  # the grid the tab shows: digits and their realness, without the classifier's reading
        z, labels = sampler.noise(64, 0, 1.0).to(dev), torch.randint(0, 10, (64,), device=dev)
        D(G(z, labels), labels)

    start, end = vae.test_digit(1, 0), vae.test_digit(7, 0)

    @torch.inference_mode()
    def naive_interp():  # encode, then decode frame by frame
        v = vae.load()
        mu, _ = v.encode(torch.cat([start, end]).to(vae.device))
        for t in torch.linspace(0, 1, 16):
            v.decode(torch.lerp(mu[:1], mu[1:], t)).cpu()

    return [
        ("64-digit grid, generator + discriminator realness, ms", f"{timed(grid_g_and_d, repeats):.1f}"),
        ("64-digit grid, ours (batched G + D + classifier), ms", f"{timed(lambda: sampler.sample(digit=None, count=64, seed=0), repeats):.1f}"),
        ("64-digit grid, baseline per-digit loop, ms", f"{timed(naive_grid, repeats):.1f}"),
        # the tab's stream does more than the baseline: the two reconstructions, the latent map's projection of the
        # path, and 8 chunked decodes (through the micro-batcher unless PLAYGROUND_BATCHING=0), each one a frame update
        ("16-frame interpolation, ours (the tab's stream: 8 updates, reconstructions, latent map), ms",
         f"{timed(lambda: list(vae.stream(start=start, end=end, steps=16)), repeats):.1f}"),
        ("16-frame interpolation, baseline: encode, then 16 one-frame decodes, ms",
         f"{timed(naive_interp, repeats):.1f}"),
    ]


def api_round_trip(repeats: int) -> list[tuple[str, str]]:
    """p50 of whole requests through gradio_client against the app on a loopback port, until the result (with
    the images' URLs) is back; each call a new seed, so no two responses are the same files. Timing starts once
    the text model the app loads in the background is in (seconds of CPU that would otherwise land in the first
    calls). The floor: the same client calling an endpoint that echoes a string, in an app of its own."""
    import gradio as gr
    from gradio_client import Client

    import app
    from ui.tabs import text_tab

    def serve(demo: gr.Blocks) -> Client:
        return Client(app.launch_local(demo), verbose=False, download_files=False)

    demo = app.build_demo()
    try:
        client = serve(demo)
        text_tab.CONTINUATION.warm_up()  # returns when the app's background load has finished
        seeds = iter(range(10**6))
        gan64 = timed(lambda: client.predict("Any", 64, next(seeds), 1.0, api_name="/sample_digits"), repeats)
        gan16 = timed(lambda: client.predict("Any", 16, next(seeds), 1.0, api_name="/sample_digits"), repeats)
        vae = timed(lambda: client.predict("1", "7", 16, "linear", next(seeds), api_name="/interpolate_digits"),
                    repeats)
    finally:
        demo.close()
    with gr.Blocks() as echo:
        box = gr.Textbox()
        box.submit(lambda text: text, box, box, api_name="echo")
    try:
        client = serve(echo)
        floor = timed(lambda: client.predict("7", api_name="/echo"), repeats)
    finally:
        echo.close()
    return [("API round trip p50, /sample_digits (64 digits), ms", f"{gan64:.0f}"),
            ("API round trip p50, /sample_digits (16 digits), ms", f"{gan16:.0f}"),
            ("API round trip p50, /interpolate_digits (16 steps), ms", f"{vae:.0f}"),
            ("API round trip p50, floor: an endpoint that echoes a string, ms", f"{floor:.0f}")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="MNIST IDX folder")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-api", action="store_true", help="skip the API round trip")
    p.add_argument("--device", default="cpu", help="where quality and speed run (cpu, cuda); the API run is the app's")
    p.add_argument("--write-metrics", action="store_true",
                   help="write the GAN's graded figures into assets/gan/metrics.json (the cards and tabs read them)")
    args = p.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    sampler, vae = GanSampler(device=device), VaeInterpolator(device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, device {device.type} ({name})")
    gan_figures: dict = {}
    rows = quality(sampler, vae, Path(args.data), 500 if args.quick else 2000, gan_figures)
    rows += speed(sampler, vae, 5 if args.quick else 30)
    if not args.no_api:
        rows += api_round_trip(5 if args.quick else 20)
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.write_metrics:
        print("wrote", record(Path("assets/gan"), gan_figures))


if __name__ == "__main__":
    main()
