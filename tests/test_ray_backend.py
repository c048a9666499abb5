"""The Ray Serve backend (`python app.py --backend ray`): each endpoint answered by deployments in a local single-node
Ray that this module starts (no network), with the in-process adapters' outputs for the same seeds, keyed errors
intact, a Stop that stops the replica; then the app itself with the flag, driven through gradio_client.

Slow, honestly: Ray's start, one replica per family and the app in its own process take ~30-60 s on 2 busy cores,
so the module shares one Ray for all its tests. Skipped where Ray Serve is not installed (requirements-ray.txt)."""

import os
import threading
import time

import pytest
import torch

pytest.importorskip("ray.serve")

import ray  # noqa: E402

from generators.serving import backend  # noqa: E402
from generators.diffusion import DiffusionSampler  # noqa: E402
from generators.core.errors import InputError  # noqa: E402
from generators.gan import GanSampler  # noqa: E402
from generators.text import TextContinuation  # noqa: E402
from generators.vae import VaeInterpolator  # noqa: E402
from served import answers_text_and_digits, served_app  # noqa: E402

pytestmark = [pytest.mark.slow,  # a Ray cluster: the second tier
              pytest.mark.usefixtures("one_thread")]  # conftest.py: the local adapters on one thread, as the replicas
FAMILIES = (TextContinuation, GanSampler, VaeInterpolator, DiffusionSampler)


@pytest.fixture(scope="module")
def remote():
    """Every family deployed in a local Ray of 2 CPUs (a quarter CPU a replica, so all four fit); shut down after."""
    before = os.environ.get("PLAYGROUND_RAY_CPUS")
    os.environ["PLAYGROUND_RAY_CPUS"] = "0.25"
    backend.use_ray(num_cpus=2)
    yield {cls: backend.adapter(cls) for cls in FAMILIES}
    backend.use_local()
    os.environ.pop("PLAYGROUND_RAY_CPUS") if before is None else os.environ.update(PLAYGROUND_RAY_CPUS=before)


@pytest.fixture(scope="module")
def local():
    return {cls: cls(device=torch.device("cpu")) for cls in FAMILIES}


def test_gan_sample_is_the_local_one_for_the_same_seed(remote, local):
    there = remote[GanSampler].sample(digit=None, count=8, seed=3, truncation=0.8)
    here = local[GanSampler].sample(digit=None, count=8, seed=3, truncation=0.8)
    assert there.labels == here.labels and there.predicted == here.predicted
    torch.testing.assert_close(there.images, here.images, atol=1e-5, rtol=0)
    assert there.realness == pytest.approx(here.realness, abs=1e-5)
    assert remote[GanSampler].device.type == "cpu"
    assert remote[GanSampler].real_realness(7) == pytest.approx(local[GanSampler].real_realness(7), abs=1e-5)


def test_concurrent_gan_samples_each_get_their_own_digits(remote, local):
    """Calls that arrive together are batched into one forward (@serve.batch); each caller gets its own rows."""
    requests = [dict(digit=d, count=c, seed=s, truncation=1.0) for d, c, s in ((1, 3, 0), (7, 5, 1), (None, 2, 2))]
    results = [None] * len(requests)

    def call(i):
        results[i] = remote[GanSampler].sample(**requests[i])

    before = gan_stats()["batched"]
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    [t.start() for t in threads], [t.join() for t in threads]
    assert gan_stats()["batched"] == before + len(requests)  # all through the batch (how many per batch: timing)
    for request, there in zip(requests, results):
        here = local[GanSampler].sample(**request)
        assert there.labels == here.labels
        torch.testing.assert_close(there.images, here.images, atol=1e-5, rtol=0)


def gan_stats() -> dict:
    from ray import serve

    return serve.get_app_handle("GanSampler").stats.remote().result()


def test_sample_together_gives_each_request_its_lone_digits(local):
    """The batch @serve.batch runs: one forward for all, each request's rows equal to its lone call's."""
    from generators.serving.ray_serve import sample_together

    requests = [dict(digit=None, count=4, seed=9, truncation=0.5), dict(digit=2, count=1, seed=0)]
    for request, batch in zip(requests, sample_together(local[GanSampler], requests)):
        alone = local[GanSampler].sample(**request)
        assert batch.labels == alone.labels and batch.predicted == alone.predicted
        torch.testing.assert_close(batch.images, alone.images, atol=1e-5, rtol=0)


def test_gan_walk_streams_the_local_frames(remote, local):
    request = dict(digit=3, seed_a=1, seed_b=2, steps=8, end_digit=8)
    there, here = list(remote[GanSampler].stream_walk(**request)), list(local[GanSampler].stream_walk(**request))
    assert [f.shape for f in there] == [f.shape for f in here]
    torch.testing.assert_close(there[-1], here[-1], atol=1e-5, rtol=0)


def test_text_streams_the_local_tokens_for_the_same_seed(remote, local):
    settings = dict(max_new_tokens=12, seed=7, temperature=0.8, n=2)
    there = [alts[0].text for alts in remote[TextContinuation].stream("The old captain said", **settings)]
    here = [alts[0].text for alts in local[TextContinuation].stream("The old captain said", **settings)]
    assert len(there) > 1 and there == here  # streamed, token by token, the same text


def test_vae_interpolation_is_the_local_one(remote, local):
    ends = [remote[VaeInterpolator].test_digit(d, 0) for d in (1, 7)]
    torch.testing.assert_close(ends[0], local[VaeInterpolator].test_digit(1, 0))
    there = list(remote[VaeInterpolator].stream(start=ends[0], end=ends[1], steps=6, method="spherical", chunks=3))
    here = list(local[VaeInterpolator].stream(start=ends[0], end=ends[1], steps=6, method="spherical", chunks=3))
    assert len(there) == 3 and there[-1].done
    torch.testing.assert_close(there[-1].frames, here[-1].frames, atol=1e-5, rtol=0)
    local[VaeInterpolator].load()  # the bank of test digits comes with the model
    assert set(remote[VaeInterpolator].bank) == set(local[VaeInterpolator].bank)


def test_diffusion_denoises_as_locally(remote, local):
    request = dict(digit=5, count=2, steps=3, guidance=1.0, seed=4, sampler="DPM-Solver++")
    there, here = list(remote[DiffusionSampler].stream(**request)), list(local[DiffusionSampler].stream(**request))
    assert [s.index for s in there] == [s.index for s in here] and there[-1].done
    torch.testing.assert_close(there[-1].sample, here[-1].sample, atol=1e-4, rtol=0)


def test_keyed_errors_arrive_with_their_key_and_fields(remote):
    with pytest.raises(InputError) as call:
        remote[GanSampler].sample(digit=7, count=65, seed=0, truncation=1.0)
    assert call.value.key == "int_range" and call.value.fields["name"] == "count" and call.value.fields["hi"] == 64
    with pytest.raises(InputError) as streamed:
        next(remote[TextContinuation].stream("Hi", max_new_tokens=10_000, seed=0))
    assert streamed.value.key == "int_range" and streamed.value.fields["name"] == "max_new_tokens"


def test_stop_stops_the_stream_in_the_replica(remote):
    """Closing the stream (the tab's Stop) cancels the request: the replica closes the adapter's generator after
    the step it is in, long before the 512 tokens asked for."""
    from ray import serve

    before = text_streams()["stopped"]
    stream = remote[TextContinuation].stream("Once upon a time", max_new_tokens=512, seed=0)
    next(stream), next(stream)
    stream.close()
    assert_stopped_early(before)


def text_streams() -> dict:
    """The text replica's streams: how many run, how many stopped early, how many tokens the last of those took."""
    from ray import serve

    return serve.get_app_handle("TextContinuation").stats.remote().result()


def assert_stopped_early(before: int, limit: int = 512) -> None:
    """Waits (up to 30 s) until no text stream runs, then checks that one more stopped before `limit` tokens."""
    deadline = time.time() + 30
    while (state := text_streams())["open"] and time.time() < deadline:
        time.sleep(0.05)
    assert state["open"] == 0 and state["stopped"] == before + 1 and state["taken"] < limit, state


@pytest.fixture(scope="module")
def app_on_ray(remote, tmp_path_factory):
    """`python app.py --backend ray --ray-address <this module's Ray>` in its own process: it joins the cluster and
    uses the deployments already there."""
    address = ray.get_runtime_context().gcs_address
    with served_app(tmp_path_factory.mktemp("ray-app"), "--backend", "ray", "--ray-address", address) as (client, _):
        yield client


def test_the_app_with_backend_ray_answers_every_family(app_on_ray, local):
    answers_text_and_digits(app_on_ray, local[TextContinuation])
    frames = app_on_ray.predict("1", "7", 4, "linear", 0, api_name="/interpolate_digits")[0]
    assert len(frames) == 4
    digits = app_on_ray.predict("3", 2, 2, 1.0, 0, "DPM-Solver++", api_name="/denoise_digits")[0]
    assert len(digits) == 2
    walk = app_on_ray.predict("3", 1, 2, 4, 1.0, api_name="/latent_walk")[0]
    assert len(walk) == 4
    real, *families, _, _ = app_on_ray.predict("4", 2, 0, api_name="/compare_families")  # GAN and VAE read here
    assert [len(f) for f in families] == [2, 2, 2]
    before = text_streams()["stopped"]
    job = app_on_ray.submit("Once upon a time", 512, 0, api_name="/continue_text")
    deadline = time.time() + 60
    while not job.outputs() and time.time() < deadline:  # Stop after the first streamed update
        time.sleep(0.02)
    job.cancel()
    assert_stopped_early(before)
    with pytest.raises(Exception, match="64"):  # a keyed error from a replica, worded for the user
        app_on_ray.predict("7", 65, 3, 0.8, api_name="/sample_digits")
