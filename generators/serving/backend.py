"""Where the adapters compute: in this process (the default), in a worker process per adapter on this machine, or
in Ray Serve deployments on a cluster.

Each tab makes its adapter with `adapter(GanSampler)`: an instance here, or, after `use_process()` or `use_ray()`, a
stand-in with the same methods whose calls run in that family's worker process (generators/serving/process_serve.py) or
deployment (generators/serving/ray_serve.py). `python app.py --backend process|ray` calls use_process() or use_ray() before
the tabs are built; Ray is imported only then, so the app installs and runs without it.
"""

import atexit
import functools
import os

BACKENDS = ("local", "process", "ray")
_ray = False  # whether use_ray() ran in this process
_process = False  # whether use_process() ran (and use_local() did not since)
LOCAL = frozenset({"load", "noise"})  # the networks themselves, for pages that read them in this process (compare)


def use_ray(address: str | None = None, **init) -> None:
    """Starts a local Ray (address None) or joins a cluster ("auto" on one of its nodes, or host:port); adapters
    made after this run in its deployments. `init`: more ray.init arguments (e.g. num_cpus for a local start)."""
    global _ray
    try:
        from generators.serving import ray_serve
    except ImportError:
        raise SystemExit('--backend ray needs Ray Serve: pip install -r requirements-ray.txt') from None
    ray_serve.start(address, **init)
    _ray = True


def use_process() -> None:
    """Adapters made after this run in worker processes of their own (one per adapter class, each started at its
    first call), ended when this process exits."""
    global _process
    from generators.serving import process_serve
    if not _process:
        atexit.register(process_serve.stop_all)
    _process = True


def use_local() -> None:
    """Leaves Ray (a local Ray that use_ray() started stops, with its deployments) or ends the worker processes;
    adapters made after this compute here again. For tests and benches: the app keeps its backend for its life."""
    global _ray, _process
    if _ray:
        from generators.serving import ray_serve
        ray_serve.stop()
    if _process:
        from generators.serving import process_serve
        process_serve.stop_all()
        atexit.unregister(process_serve.stop_all)
    _ray = _process = False


def adapter(cls: type, **options):
    """`cls(**options)`, in this process, or (after use_process, use_ray) in its worker process or Ray Serve
    deployment, where the options travel (picklable ones only): one adapter shared by every request."""
    if _process:
        from generators.serving.process_serve import ProcessAdapter, worker
        return ProcessAdapter(cls, worker(cls, options), options)
    if not _ray:
        return cls(**options)
    from generators.serving.ray_serve import RayAdapter, deploy
    return RayAdapter(cls, deploy(cls, options), options)


def from_environment() -> tuple[str, str | None]:
    """(backend, Ray address) from PLAYGROUND_BACKEND and PLAYGROUND_RAY_ADDRESS: the defaults of app.py's flags."""
    where = os.environ.get("PLAYGROUND_BACKEND", "local")
    if where not in BACKENDS:
        raise SystemExit(f"PLAYGROUND_BACKEND must be one of {', '.join(BACKENDS)}, not {where!r}")
    return where, os.environ.get("PLAYGROUND_RAY_ADDRESS") or None


class StandIn:
    """Stands for an adapter `cls(**options)` whose work runs elsewhere, with the adapter's methods: `stream*` methods
    go to `_stream(name, *args, **kwargs)`, other methods to `_call(name, args, kwargs)`, other attributes to
    `_attribute(name)` (read once); `load` and `noise` use a copy of the networks here, loaded from the same assets."""

    def __init__(self, cls: type, options: dict | None = None):
        self._cls, self._options = cls, options or {}
        self._local, self._attributes = None, {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in LOCAL:
            self._local = self._local or self._cls(**self._options)
            return getattr(self._local, name)
        if name.startswith("stream"):
            return functools.partial(self._stream, name)
        if callable(getattr(self._cls, name, None)):
            return lambda *args, **kwargs: self._call(name, args, kwargs)
        if name not in self._attributes:
            self._attributes[name] = self._attribute(name)
        return self._attributes[name]
