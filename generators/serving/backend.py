"""Where the adapters compute: in this process (the default), in a worker process per adapter on this machine, or
in Ray Serve deployments on a cluster.

Each tab makes its adapter with `adapter(GanSampler)`: an instance here, or, after `use_process()` or `use_ray()`, a
stand-in with the same methods whose calls run in that family's worker process (generators/serving/process_serve.py) or
deployment (generators/serving/ray_serve.py). `python app.py --backend process|ray` calls use_process() or use_ray() before
the tabs are built; Ray is imported only then, so the app installs and runs without it.
"""

import atexit
import os

BACKENDS = ("local", "process", "ray")
_ray = False  # whether use_ray() ran in this process
_process = False  # whether use_process() ran (and use_local() did not since)


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
