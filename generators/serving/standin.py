"""The stand-in for an adapter whose work runs elsewhere (a worker process, a Ray Serve deployment): the part the
process and Ray backends share, so neither imports the module that chooses between them."""

import functools


class StandIn:
    """Stands for an adapter `cls(**options)` whose work runs elsewhere, with the adapter's methods: `stream*` methods
    go to `_stream(name, *args, **kwargs)`, other methods to `_call(name, args, kwargs)`, other attributes to
    `_attribute(name)` (read once), and the class's own constants (`GENERATOR`, `batch_limit`) as they are."""

    def __init__(self, cls: type, options: dict | None = None):
        self._cls, self._options = cls, options or {}
        self._attributes = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in vars(self._cls) and not callable(vars(self._cls)[name]):  # a class constant: the same everywhere
            return vars(self._cls)[name]
        if name.startswith("stream"):
            return functools.partial(self._stream, name)
        if callable(getattr(self._cls, name, None)):
            return lambda *args, **kwargs: self._call(name, args, kwargs)
        if name not in self._attributes:
            self._attributes[name] = self._attribute(name)
        return self._attributes[name]
