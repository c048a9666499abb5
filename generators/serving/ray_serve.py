"""The adapters as Ray Serve deployments (`python app.py --backend ray`), and the stand-in the tabs call instead.

One deployment per adapter class (GanSampler, VaeInterpolator, ...), each replica holding one adapter that loads its
model once, as in the app; replicas spread over the Ray cluster. The front (Gradio) holds a `RayAdapter` with the
adapter's methods: plain methods run in a replica and return its result, `stream*` methods stream item by item, and
closing such a stream (the tab's Stop) cancels the request, which closes the adapter's generator in the replica after
its current step. Keyed errors (InputError, ModelUnavailable) arrive as themselves, key and fields included. The GAN's
`sample` is batched with `@serve.batch`: requests that arrive together run as one forward.

    start(address=None)                  # a local Ray of its own (or join a cluster: "auto", "10.0.0.1:6379")
    sampler = RayAdapter(GanSampler, deploy(GanSampler))
    batch = sampler.sample(digit=7, count=16, seed=3, truncation=0.8)   # computed in the cluster
"""

import asyncio
import contextlib
import functools
import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ray
import torch
from ray import serve
from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle

from generators import gan
from generators.serving.standin import StandIn
from generators.core.errors import KeyedError

ROOT = Path(__file__).resolve().parents[2]
# The code and weights each node's replicas import (uploaded once to the cluster; .gitignore'd paths are left out)
EXCLUDES = [".git", "tests", "bench", "training", "assets/screenshot.png", "assets/gan/samples.png"]
ENV_PREFIXES = ("PLAYGROUND_", "HF_", "TRANSFORMERS_")  # settings the replicas share with the front
MAX_ONGOING = 32  # requests a replica takes at once (threads of the sync calls, streams interleaved at each step)
_END = object()
_local = False  # whether start() asked for a Ray of this process's own


def start(address: str | None = None, **init) -> None:
    """Starts a local Ray (address None) or joins a cluster, and Serve without an HTTP proxy (only the front
    calls the deployments, through handles). `init`: more ray.init arguments (num_cpus for a local start).
    A local Ray is a new one ("local"): ray.init(None) would join a cluster `ray start` left on this machine."""
    global _local
    if not ray.is_initialized():
        _local = address is None
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, **init,
                 runtime_env={"working_dir": str(ROOT), "excludes": EXCLUDES, "env_vars": env})
    serve.start(proxy_location="Disabled")


def stop() -> None:
    """Leaves Ray; a local Ray of this process's own goes with its deployments, a joined cluster keeps them."""
    if _local:
        serve.shutdown()
    ray.shutdown()


def deploy(cls: type, options: dict | None = None, replicas: int | None = None,
           cpus: float | None = None) -> DeploymentHandle:
    """The handle of `cls`'s deployment (replicas hold `cls(**options)`): deployed now unless the cluster already
    serves it (another front)."""
    name = cls.__name__
    if name in serve.status().applications:
        return serve.get_app_handle(name)
    replicas = replicas or int(os.environ.get("PLAYGROUND_RAY_REPLICAS", "1"))
    cpus = float(os.environ.get("PLAYGROUND_RAY_CPUS", "1")) if cpus is None else cpus
    gpus = float(os.environ.get("PLAYGROUND_RAY_GPUS", "0"))  # Ray hides the GPUs from a replica that asks none
    kind = GanDeployment if name == "GanSampler" else AdapterDeployment
    app = kind.options(name=name, num_replicas=replicas, ray_actor_options={"num_cpus": cpus, "num_gpus": gpus})
    target = serve.RunTarget(app.bind(f"{cls.__module__}:{cls.__qualname__}", max(1, round(cpus)), options or {}),
                             name=name, route_prefix=None)
    return serve.run_many([target], wait_for_applications_running=False)[0]


async def _stepped(items, pool: ThreadPoolExecutor):
    """`items` (a sync generator) as an async one, each step in a thread of `pool`; closed after the step it is in
    when this generator is closed or its task cancelled (the caller stopped), so no step runs after that."""
    pending, loop = None, asyncio.get_running_loop()
    try:
        while (item := await asyncio.shield(pending := loop.run_in_executor(pool, next, items, _END))) is not _END:
            yield item
    finally:
        if pending is not None and not pending.done():
            await asyncio.wait([pending])  # a generator cannot be closed while a thread is inside it
        items.close()


class _Adapter:
    """A replica: one adapter (`target` "module:Class", made with `options`), its methods called by name."""

    def __init__(self, target: str, threads: int, options: dict):
        torch.set_num_threads(threads)
        module, _, name = target.partition(":")
        self.adapter = getattr(importlib.import_module(module), name)(**options)
        self.open, self.stopped, self.taken = 0, 0, None  # streams running, stopped early, items the last one took
        # a thread for each request it takes: asyncio's default pool (cores + 4) would cap the streams waiting on
        # one model at once, and so the text engine's batch
        self.pool = ThreadPoolExecutor(MAX_ONGOING, thread_name_prefix=name)

    async def call(self, name: str, args: tuple, kwargs: dict):
        return await self._run(getattr(self.adapter, name), *args, **kwargs)

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    async def stream(self, name: str, args: tuple, kwargs: dict):
        items = await self._run(getattr(self.adapter, name), *args, **kwargs)  # text checks before item 1
        self.open, taken, done = self.open + 1, 0, False
        try:
            async with contextlib.aclosing(_stepped(iter(items), self.pool)) as steps:
                async for item in steps:
                    taken += 1
                    yield item
            done = True
        finally:
            self.open -= 1
            if not done:
                self.stopped, self.taken = self.stopped + 1, taken

    def stats(self) -> dict:
        """How many streams run now, how many stopped early, and how many items the last of those took."""
        return dict(open=self.open, stopped=self.stopped, taken=self.taken)

    def attribute(self, name: str):
        """An attribute set when the model loads (device, the VAE's bank of test digits): loaded first."""
        self.adapter.load()
        return getattr(self.adapter, name)


class _Gan(_Adapter):
    """The GAN's replica: concurrent `sample` calls run as one forward (generator, discriminator, classifier)."""

    def __init__(self, target: str, threads: int, options: dict):
        super().__init__(target, threads, options)
        self.batches, self.batched = 0, 0  # forwards of `sample`, and the calls they served

    def stats(self) -> dict:
        return dict(super().stats(), batches=self.batches, batched=self.batched)

    async def call(self, name: str, args: tuple, kwargs: dict):
        if name != "sample" or args:
            return await super().call(name, args, kwargs)
        gan.validate(**kwargs)  # a bad request fails alone, before it joins a batch
        return await self._sample(kwargs)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _sample(self, requests: list[dict]) -> list:
        self.batches, self.batched = self.batches + 1, self.batched + len(requests)
        return await self._run(sample_together, self.adapter, requests)


@torch.inference_mode()
def sample_together(sampler, requests: list[dict]) -> list:
    """`sampler.sample(**r)` for each request r, computed as one batch: each request's noise and labels drawn from
    its own seed as GanSampler.sample draws them, so its digits match a lone call's (to float rounding)."""
    z = torch.cat([sampler.noise(r["count"], r["seed"], r.get("truncation", 1.0)) for r in requests])
    labels = torch.cat([sampler.labels(r["digit"], r["count"], r["seed"]) for r in requests])
    images, realness, probs = sampler._forward(z.to(sampler.device), labels.to(sampler.device))  # (sum of counts, ...)
    confidence, predicted = probs.max(1)
    out, start = [], 0
    for r in requests:
        rows = slice(start, start + r["count"])
        out.append(gan.DigitBatch(images[rows].cpu(), labels[rows].tolist(), realness[rows].tolist(),
                                  predicted[rows].tolist(), confidence[rows].tolist()))
        start = rows.stop
    return out


AdapterDeployment = serve.deployment(_Adapter, max_ongoing_requests=MAX_ONGOING)
GanDeployment = serve.deployment(_Gan, max_ongoing_requests=MAX_ONGOING)


def _unwrapped(call):
    """Runs `call()`; a replica's keyed error is raised as itself (Ray wraps what a replica raises)."""
    try:
        return call()
    except RayTaskError as e:
        if isinstance(e.cause, KeyedError):
            raise e.cause from None
        raise


class RayAdapter(StandIn):
    """Stands for an adapter `cls(**options)` whose work runs in its Ray Serve deployment (`handle`)."""

    supports_stop = False  # a stream's stop flag does not cross into the replica: Stop closes the stream instead

    def __init__(self, cls: type, handle: DeploymentHandle, options: dict | None = None):
        super().__init__(cls, options)
        self._handle = handle

    def _call(self, name: str, args: tuple, kwargs: dict):
        return _unwrapped(lambda: self._handle.call.remote(name, args, kwargs).result())

    def _attribute(self, name: str):
        return _unwrapped(lambda: self._handle.attribute.remote(name).result())

    def _stream(self, name: str, *args, **kwargs):
        """The replica's stream, item by item; closing this generator cancels it there."""
        responses = self._handle.options(stream=True).stream.remote(name, args, kwargs)
        item = None
        try:
            while (item := _unwrapped(lambda: next(responses, _END))) is not _END:
                yield item
        finally:
            if item is not _END:  # stopped early: the replica stops after its current step
                responses.cancel()
