"""Adapters of the GAN and VAE tabs on tiny seeded models (no trained weights needed)."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from generators.core.errors import InputError
from generators.digits import DigitClassifier, DigitDiscriminator, DigitGenerator, DigitVAE
from generators.gan import GanSampler
from generators.vae import sketch_to_mnist
from ui.kit.images import gif_bytes, grid, png_bytes, to_pil, to_uint8, upscale
from generators.vae import VaeInterpolator, slerp
from generators.digit_check import Fence, Likeness, judge
from generators.vae_map import LatentProjection


@pytest.fixture(scope="module")
def gan_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    DigitGenerator(ngf=8).eval().save_pretrained(root / "gan" / "generator")
    DigitDiscriminator(ndf=8).eval().save_pretrained(root / "gan" / "discriminator")
    DigitClassifier(width=4, feature_dim=16).eval().save_pretrained(root / "classifier")
    return root


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("vae")
    torch.manual_seed(0)
    vae = DigitVAE(latent_dim=4, width=4, hidden=16).eval()
    vae.save_pretrained(root)
    digits = (torch.rand(20, 1, 28, 28) * 255).to(torch.uint8)
    labels = torch.arange(10).repeat(2)
    save_file({"digits": digits, "digit_labels": labels, "pca_mean": torch.zeros(4),
               "pca_components": torch.eye(4)[:2].contiguous(), "map_points": torch.randn(20, 2),
               "map_labels": labels.clone()}, root / "examples.safetensors")
    save_file({"mean": torch.randn(10, 4), "scale_tril": torch.eye(4).repeat(10, 1, 1) * 0.5},
              root / "class_prior.safetensors")
    return root


def test_gan_sample_shapes_and_seed(gan_dir):
    sampler = GanSampler(gan_dir, device=torch.device("cpu"))
    a = sampler.sample(digit=None, count=12, seed=5, truncation=1.0)
    b = sampler.sample(digit=None, count=12, seed=5, truncation=1.0)
    c = sampler.sample(digit=None, count=12, seed=6, truncation=1.0)
    assert a.images.shape == (12, 1, 28, 28)
    assert 0 <= a.images.min() and a.images.max() <= 1
    assert torch.equal(a.images, b.images) and a.labels == b.labels
    assert not torch.equal(a.images, c.images)
    assert all(0 < r < 1 for r in a.realness) and len(a.realness) == 12
    assert all(0 <= p <= 9 for p in a.predicted)


def test_gan_conditioning_and_truncation(gan_dir):
    sampler = GanSampler(gan_dir, device=torch.device("cpu"))
    assert sampler.sample(digit=4, count=5, seed=0).labels == [4] * 5
    z_full, z_half = sampler.noise(3, seed=9, truncation=1.0), sampler.noise(3, seed=9, truncation=0.5)
    assert torch.allclose(z_half, z_full * 0.5)
    # the first digits of a larger batch are the same digits: count does not reshuffle the noise
    assert torch.allclose(sampler.sample(digit=2, count=3, seed=1).images,
                          sampler.sample(digit=2, count=6, seed=1).images[:3], atol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(digit=10), dict(count=0), dict(count=65), dict(seed=-1),
                                    dict(seed=2**32), dict(truncation=0.05), dict(truncation=1.5)])
def test_gan_rejects_bad_input(gan_dir, kwargs):
    args = dict(digit=None, count=4, seed=0, truncation=1.0) | kwargs
    with pytest.raises(InputError) as err:
        GanSampler(gan_dir, device=torch.device("cpu")).sample(**args)
    assert err.value.key in ("int_range", "float_range") and err.value.fields["name"] == next(iter(kwargs))


def test_gan_walk_streams_in_order(gan_dir):
    sampler = GanSampler(gan_dir, device=torch.device("cpu"))
    updates = list(sampler.stream_walk(digit=3, seed_a=1, seed_b=2, steps=16))
    assert len(updates) >= 3
    assert [len(u) for u in updates] == sorted(len(u) for u in updates) and len(updates[-1]) == 16
    first, last = sampler.sample(digit=3, count=1, seed=1), sampler.sample(digit=3, count=1, seed=2)
    assert torch.allclose(updates[-1][0], first.images[0], atol=1e-5)
    assert torch.allclose(updates[-1][-1], last.images[0], atol=1e-5)


def test_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    vae = DigitVAE(latent_dim=4, width=4, hidden=16).eval()
    vae.save_pretrained(tmp_path)
    loaded = DigitVAE.from_pretrained(tmp_path).eval()
    assert loaded.latent_dim == 4 and (tmp_path / "model.safetensors").exists()
    z = torch.randn(3, 4)
    assert torch.equal(vae.decode(z), loaded.decode(z))


def test_vae_stream(vae_dir):
    vae = VaeInterpolator(vae_dir, device=torch.device("cpu"))
    start, end = vae.test_digit(1, seed=0), vae.test_digit(7, seed=0)
    assert start.shape == (1, 1, 28, 28) and torch.equal(start, vae.test_digit(1, seed=0))
    for method in ("linear", "spherical"):
        updates = list(vae.stream(start=start, end=end, steps=12, method=method))
        assert len(updates) >= 3 and updates[-1].done and not updates[0].done
        final = updates[-1]
        assert final.frames.shape == (12, 1, 28, 28) and final.path_2d.shape == (12, 2)
        # the path starts and ends at the endpoints' latent means, so its ends decode to their reconstructions
        assert torch.allclose(final.frames[0], final.reconstructions[0], atol=1e-5)
        assert torch.allclose(final.frames[-1], final.reconstructions[1], atol=1e-5)


def test_slerp_ends_and_norm():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    t = torch.linspace(0, 1, 5)[:, None]
    path = slerp(a, b, t)
    assert torch.allclose(path[0], a[0]) and torch.allclose(path[-1], b[0], atol=1e-6)
    assert torch.allclose(slerp(a, a, t), a.expand(5, 2))  # parallel vectors fall back to lerp


@pytest.mark.parametrize("kwargs", [dict(steps=1), dict(steps=65), dict(method="cubic")])
def test_vae_rejects_bad_input(vae_dir, kwargs):
    vae = VaeInterpolator(vae_dir, device=torch.device("cpu"))
    x = vae.test_digit(0, seed=0)
    with pytest.raises(InputError) as err:
        list(vae.stream(start=x, end=x, **(dict(steps=8, method="linear") | kwargs)))
    assert err.value.fields["name"] == next(iter(kwargs))


def test_sketch_to_mnist_polarity_and_centring():
    paper = np.full((280, 280), 255, np.uint8)
    paper[40:240, 60:80] = 0  # a dark stroke, off-centre, on white paper
    x = sketch_to_mnist(paper)
    assert x.shape == (1, 1, 28, 28) and x.max() > 0.9
    ys, xs = torch.nonzero(x[0, 0] > 0.5, as_tuple=True)
    assert 12 <= xs.float().mean() <= 16 and 12 <= ys.float().mean() <= 16  # centred by mass
    assert ys.max() - ys.min() <= 20  # fits MNIST's 20 px box
    transparent = np.zeros((100, 100, 4), np.uint8)
    transparent[20:80, 45:55] = (0, 0, 0, 255)
    assert sketch_to_mnist(transparent).sum() > 0


@pytest.mark.parametrize("bad, key", [(np.full((50, 50), 255, np.uint8), "vae_blank"),
                                      (np.zeros((50, 50, 4), np.uint8), "vae_blank"),
                                      (np.zeros((5000, 10), np.uint8), "vae_too_large"), ("not an image", "vae_not_image")])
def test_sketch_to_mnist_rejects(bad, key):
    with pytest.raises(InputError) as err:
        sketch_to_mnist(bad)
    assert err.value.key == key


def test_gif_loops_forward_and_back():
    frames = to_pil(torch.rand(4, 1, 28, 28))
    from io import BytesIO

    from PIL import Image
    gif = Image.open(BytesIO(gif_bytes(frames)))
    assert gif.n_frames == 6 and gif.info.get("loop") == 0


def test_png_round_trip():
    """Our own PNG writer (grayscale arrays) decodes to the same pixels, for a digit and a wide grid of them."""
    from io import BytesIO

    from PIL import Image
    digits = to_uint8(torch.rand(5, 1, 28, 28))
    for a in (digits[0], upscale(grid(digits, columns=4))):
        im = Image.open(BytesIO(png_bytes(a)))
        assert im.mode == "L" and np.array_equal(np.asarray(im), a)


def test_digit_check_refuses_far_and_warns_near():
    fence = Fence(ink_lo=0.02, ink_hi=0.4, nelbo_refuse=250.0, nelbo_warn=150.0)

    def seen(ink, nelbo, confidence):
        return Likeness(torch.tensor([ink]), torch.tensor([nelbo]), torch.tensor([3]), torch.tensor([confidence]))
    assert judge(seen(0.12, 90.0, 0.99), fence) is None  # like a test digit
    for far, key in ((seen(0.0, 70.0, 0.2), "vae_not_digit"), (seen(0.5, 110.0, 0.95), "vae_not_digit"),
                     (seen(0.2, 600.0, 0.4), "vae_unlikely_digit")):  # faint, filled, unlikely
        with pytest.raises(InputError) as err:
            judge(far, fence)
        assert err.value.key == key
    for near in (seen(0.12, 180.0, 0.99), seen(0.12, 90.0, 0.5)):  # unlikely for the VAE; unsure classifier
        notice = judge(near, fence)
        assert notice.key == "vae_unsure_digit" and notice.fields["reads"] == 3


def test_a_refusal_quotes_the_figure_that_refused_it():
    """A screenshot refused for being unlikely does not quote its ink share, which lies inside the range."""
    from ui.kit.errors import render
    fence = Fence(ink_lo=0.01, ink_hi=0.43, nelbo_refuse=250.0, nelbo_warn=150.0)
    with pytest.raises(InputError) as err:
        judge(Likeness(torch.tensor([0.25]), torch.tensor([900.0]), torch.tensor([3]), torch.tensor([0.4])), fence)
    said = render(err.value.key, err.value.fields, "en")
    assert "900 nats" in said and "25%" not in said and "43%" not in said
    with pytest.raises(InputError) as err:
        judge(Likeness(torch.tensor([0.6]), torch.tensor([90.0]), torch.tensor([3]), torch.tensor([0.9])), fence)
    said = render(err.value.key, err.value.fields, "zh")
    assert "60%" in said and "43%" in said and "奈特" not in said


def test_latent_projection_separates_classes_and_lifts_back():
    torch.manual_seed(0)
    # ten classes apart along the two latent axes of least total spread, all with a wide shared spread elsewhere
    mean = torch.zeros(10, 6)
    mean[:, 4], mean[:, 5] = torch.arange(10.0) - 4.5, (torch.arange(10.0) % 3) * 3
    scale = torch.diag(torch.tensor([8.0, 8.0, 6.0, 6.0, 0.3, 0.3])).repeat(10, 1, 1)
    proj = LatentProjection.fit(mean, scale)
    z = mean.repeat_interleave(50, 0) + torch.randn(500, 6) @ scale[0].T
    labels = torch.arange(10).repeat_interleave(50)
    fisher = proj.project(z)
    pca = (z - z.mean(0)) @ torch.linalg.svd(z - z.mean(0), full_matrices=False).Vh[:2].T

    def nearest_class_accuracy(points):
        centres = torch.stack([points[labels == c].mean(0) for c in range(10)])
        return (torch.cdist(points, centres).argmin(1) == labels).float().mean()
    assert nearest_class_accuracy(fisher) > 0.9 > 0.5 > nearest_class_accuracy(pca)
    lifted = proj.lift(proj.project(mean))  # each class's centre on the map decodes to that class's mean
    assert torch.allclose(lifted, mean, atol=1e-4)
    assert torch.allclose(proj.project(lifted), proj.project(mean), atol=1e-4)
