"""The stand-in for an adapter whose work runs elsewhere (a worker process, a Ray Serve deployment): the part the
process and Ray backends share, so neither imports the module that chooses between them."""

import functools

LOCAL = frozenset({"load", "noise"})  # the networks themselves, for pages that read them in this process (compare)


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
