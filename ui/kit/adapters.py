"""Where tabs get their adapters: one per adapter class for the whole app, made where the app's backend computes
(generators/serving/backend.py: this process, a worker process, or Ray Serve), so the compare and provenance pages
share the family tabs' models without importing those tabs."""

import functools

from generators.runtime.slots import batched_group
from generators.serving import backend


@functools.cache
def adapter(cls: type):
    """The app's one `cls()`, here or on its backend (made on the first call: after app.py chose the backend)."""
    return backend.adapter(cls)


def queue_group(cls: type, name: str) -> dict:
    """Gradio queue-group settings for an endpoint whose requests meet in `cls`'s batches: `cls.batch_limit` at once
    in a group of their own while batching; {} (the app's shared group) without."""
    return batched_group(name, cls.batch_limit)


def stops_in_loop(model) -> bool:
    """Whether a stop flag handed to `model`'s stream reaches its loop (then Stop ends the stream with a finished
    last item); where not, Stop closes the stream."""
    return bool(getattr(model, "supports_stop", False))
