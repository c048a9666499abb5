"""A worker process of `python app.py --backend process`: one adapter (GanSampler, TextContinuation, ...) that loads
its model once and answers the Gradio process's calls (generators/serving/process_serve.py), each call on a thread of its
own, so concurrent requests still meet in the text engine's batch and the image micro-batchers.

Started as `python -m generators.serving.process_worker FD` with one end of a socket pair as FD (a fresh interpreter: no
fork of a process whose torch and threads already run, and no import of the app's main module, as
multiprocessing's "spawn" does). Messages are pickles of small tuples; tensors travel as numpy arrays, on the CPU
(only the rows a result holds, not the whole batch its storage belongs to).

    from the server: ("init", target "module:Class", options, threads) first, then
        ("call", id, method, args, kwargs)   ("stream", id, method, args, kwargs, has_stop)   ("attr", id, name)
        ("stats", id)   ("close", id): drop a stream   ("stop", id): set the `stop` flag a stream was given
    to the server: ("value", id, x)   ("item", id, x)   ("end", id)   ("error", id, exception)

The worker ends when the server's end of the socket closes (the app stopped, or died).
"""

import importlib
import io
import math
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection

import numpy as np
import torch

from generators.runtime import memory


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        """A tensor as a numpy array: ~7x cheaper to pickle than torch's own format, only its view (not the whole
        batch it was cut from), and on the CPU (the server never starts CUDA; adapters move inputs to their device)."""
        if type(obj) is torch.Tensor and obj.layout == torch.strided and obj.dtype not in (torch.bfloat16,
                                                                                          torch.complex32):
            return _tensor, (obj.detach().cpu().numpy(),)
        return NotImplemented


def dumps(obj) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=5).dump(obj)
    return buffer.getvalue()


def loads(data: bytes):
    return pickle.loads(data)


def sendable(e: BaseException) -> BaseException:
    """`e` if it survives pickling (keyed errors do, key and fields included), else a RuntimeError that names it."""
    try:
        pickle.loads(dumps(e))
        return e
    except Exception:  # noqa: BLE001 - an exception class that cannot be rebuilt from its args
        return RuntimeError(f"{type(e).__name__}: {e}")


class Worker:
    """One adapter and the calls running on it, each on its own thread; replies go out one at a time."""

    def __init__(self, adapter, conn: Connection):
        self.adapter, self.conn = adapter, conn
        self._send_lock, self._count_lock = threading.Lock(), threading.Lock()
        self.streams: dict[int, tuple[threading.Event, threading.Event]] = {}  # id -> (closed, stop)
        self.open, self.peak = 0, 0  # streams running now, and the most that ran at once
        self.stopped, self.taken = 0, None  # streams closed early, and the items the last of those took

    def dispatch(self, message: tuple) -> None:
        op, cid, *rest = message
        memory.QUIET.note()
        if op in ("close", "stop"):
            closed, stop = self.streams.get(cid, (None, None))
            event = closed if op == "close" else stop
            if event is not None:
                event.set()
            return
        if op == "stream":  # registered here, so that a close right behind it finds the stream
            self.streams[cid] = (threading.Event(), threading.Event())
        threading.Thread(target=getattr(self, f"_{op}"), args=(cid, *rest), daemon=True, name=f"call-{cid}").start()

    def send(self, message: tuple) -> None:
        try:
            data = dumps(message)
        except Exception as e:  # noqa: BLE001 - a result that cannot travel is that call's error
            data = dumps(("error", message[1], RuntimeError(f"cannot send the result: {e}")))
        with self._send_lock:
            try:
                self.conn.send_bytes(data)
            except OSError:  # the server is gone; the main loop ends the process
                pass

    def _answer(self, cid: int, compute) -> None:
        try:
            self.send(("value", cid, compute()))
        except Exception as e:  # noqa: BLE001 - every error goes back to its caller
            self.send(("error", cid, self._reported(e)))

    @staticmethod
    def _reported(e: Exception) -> BaseException:
        if not hasattr(e, "key"):  # not a user's mistake: the traceback goes to the app's log
            traceback.print_exc()
        return sendable(e)

    def _call(self, cid: int, name: str, args: tuple, kwargs: dict) -> None:
        self._answer(cid, lambda: getattr(self.adapter, name)(*args, **kwargs))

    def _attr(self, cid: int, name: str) -> None:
        """An attribute set when the model loads (device, the VAE's bank of test digits): loaded first."""
        self._answer(cid, lambda: (self.adapter.load(), getattr(self.adapter, name))[1])

    def _stats(self, cid: int) -> None:
        self._answer(cid, lambda: dict(open=self.open, peak=self.peak, stopped=self.stopped, taken=self.taken))

    def _stream(self, cid: int, name: str, args: tuple, kwargs: dict, has_stop: bool, every: float = 0.0) -> None:
        """Sends the stream's items as they come; a close stops it after the step in progress (no step after).
        every > 0 (snapshots: each item holds all before it): at most one item per `every` seconds, the first at
        once; an item that comes sooner waits, replaced by the next, and the last is always sent."""
        closed, stop = self.streams[cid]
        self._count(1)
        taken, sent_at, held = 0, -math.inf, None
        try:
            items = iter(getattr(self.adapter, name)(*args, **(dict(kwargs, stop=stop) if has_stop else kwargs)))
            try:
                for item in items:
                    if closed.is_set():
                        break
                    taken += 1
                    if every > 0 and time.monotonic() - sent_at < every:
                        held = item
                        continue
                    self.send(("item", cid, item))
                    sent_at, held = time.monotonic(), None
                else:
                    if held is not None:
                        self.send(("item", cid, held))
                    self.send(("end", cid))
            finally:
                getattr(items, "close", lambda: None)()
        except Exception as e:  # noqa: BLE001
            self.send(("error", cid, self._reported(e)))
        finally:
            self.streams.pop(cid, None)
            self._count(-1, taken if closed.is_set() else None)

    def _count(self, change: int, stopped_after: int | None = None) -> None:
        """Streams running (+1, -1); a stream closed early counts with the items it took."""
        with self._count_lock:
            self.open += change
            self.peak = max(self.peak, self.open)
            if stopped_after is not None:
                self.stopped, self.taken = self.stopped + 1, stopped_after


def make(target: str, options: dict):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(**options)


def main(fd: int) -> None:
    """Serves one adapter over the socket `fd` until the server closes it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal stops the app, which closes the socket
    memory.limit_arenas()  # before the calls' threads start (generators/runtime/memory.py says why)
    memory.QUIET.start()  # and the heap trimmed once the calls stop for a moment
    conn = Connection(fd)
    _, target, options, threads = loads(conn.recv_bytes())
    torch.set_num_threads(threads)
    worker = Worker(make(target, options), conn)
    while True:
        try:
            message = loads(conn.recv_bytes())
        except (EOFError, OSError):
            os._exit(0)  # the app is gone: no thread of ours outlives it
        worker.dispatch(message)


if __name__ == "__main__":  # run through the module's own name, so that its pickles name generators.serving.process_worker
    importlib.import_module("generators.serving.process_worker").main(int(sys.argv[1]))
