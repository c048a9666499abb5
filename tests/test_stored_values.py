"""Stored-value regression tests (the diffusers habit): each bundled model, given fixed seeded inputs, gives a few
output values stored here. A change that keeps every shape but breaks a model (a wrong layer order, a missed
normalisation, weights loaded into the wrong place) fails here. The values were printed by these same calls on the
shipped weights; retraining a model means storing its new values (and saying so in its card)."""

from pathlib import Path

import pytest
import torch

from generators.digits import DigitClassifier, DigitDiscriminator, DigitGenerator, DigitVAE
from generators.text import BUNDLED, load

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TOL = dict(atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def gan_digits():
    """Two generator outputs, a 3 and a 7, from seed 0, in [-1, 1]: (2, 1, 28, 28)."""
    G = DigitGenerator.from_pretrained(ASSETS / "gan" / "generator").eval()
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return G(z, torch.tensor([3, 7]))


def test_gan_generator(gan_digits):
    got = gan_digits[:, 0, 7:22:3, 14]  # a column of 5 pixels through the middle of each digit
    assert torch.allclose(got, torch.tensor(EXPECTED["G"]), **TOL), got.tolist()
    assert gan_digits.mean().item() == pytest.approx(EXPECTED["G_mean"], abs=1e-4)


def test_gan_discriminator(gan_digits):
    D = DigitDiscriminator.from_pretrained(ASSETS / "gan" / "discriminator").eval()
    with torch.no_grad():
        got = D(gan_digits, torch.tensor([3, 7]))
    assert torch.allclose(got, torch.tensor(EXPECTED["D"]), **TOL), got.tolist()


def test_classifier(gan_digits):
    C = DigitClassifier.from_pretrained(ASSETS / "classifier").eval()
    with torch.no_grad():
        got = C((gan_digits + 1) / 2)[:, :4]
    assert torch.allclose(got, torch.tensor(EXPECTED["C"]), **TOL), got.tolist()


def test_vae(gan_digits):
    V = DigitVAE.from_pretrained(ASSETS / "vae").eval()
    with torch.no_grad():
        mu, _ = V.encode((gan_digits + 1) / 2)
        decoded = V.decode(torch.zeros(1, V.latent_dim))[0, 0, 7:22:3, 14]
    assert torch.allclose(mu[:, :4], torch.tensor(EXPECTED["V_mu"]), **TOL), mu[:, :4].tolist()
    assert torch.allclose(decoded, torch.tensor(EXPECTED["V_decoded"]), **TOL), decoded.tolist()


def test_text_model():
    lm = load(BUNDLED, torch.device("cpu"))
    ids = lm.tokenizer("The old captain looked out over the harbour", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = lm.model(ids).logits[0, -1]
    assert ids[0].tolist() == EXPECTED["T_ids"]
    assert torch.allclose(logits[:5], torch.tensor(EXPECTED["T_logits"]), **TOL), logits[:5].tolist()
    assert int(logits.argmax()) == EXPECTED["T_argmax"]


# printed by these calls on the shipped weights (CPU, fp32)
EXPECTED = {
    'G': [[0.86303, 0.95468, 0.50564, -1.0, -0.99525], [-0.74734, -0.79322, -0.99975, 0.69254, 0.51176]],
    'G_mean': -0.78105,
    'D': [0.04487, -0.07715],
    'C': [[-10.74231, -6.51143, -4.50996, 10.05188], [-8.20961, -3.88421, 0.83236, 1.58707]],
    'V_mu': [[0.23587, 0.53181, 0.03064, 0.47018], [0.21681, -0.85897, -0.01399, -1.73444]],
    'V_decoded': [0.87501, 0.01576, 0.87804, 0.38043, 0.09146],
    'T_ids': [608, 685, 2201, 803, 458, 591, 263, 844, 5715],
    'T_logits': [-8.7251, -1.14392, -4.11424, -14.89557, -11.16653],
    'T_argmax': 12,
}
