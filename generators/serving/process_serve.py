"""The adapters in worker processes (`python app.py --backend process`), and the stand-in the tabs call instead.

One worker process per adapter class (GanSampler, TextContinuation, ...; generators/serving/process_worker.py), started at
its first call, so the model computes beside the Gradio process instead of under its GIL. The Gradio process holds
a `ProcessAdapter` with the adapter's methods: plain methods return the worker's result, `stream*` methods stream
item by item (a stream the adapter names in SNAPSHOT_STREAMS only its newest item, at most one per interval, the
first and last at once: each of its items holds all before it), and closing such a stream (Stop, a cancel, a client gone) closes the adapter's generator in the worker
after its current step. A stream's `stop` flag (the text tab's Stop) is carried: once set here, it is set there.
The worker does not wait for each item to be taken (as the text engine's shared batch does not): while this process
is slower than the model, a Stop or a close lands after the items already made.
Keyed errors (InputError, ModelUnavailable) arrive as themselves. A worker that dies fails the calls it had with
ModelUnavailable("worker_down") at once; the next call starts a fresh one.

    sampler = ProcessAdapter(GanSampler, worker(GanSampler))
    batch = sampler.sample(digit=7, count=16, seed=3, truncation=0.8)   # computed in the GanSampler worker
"""

import itertools
import os
import queue
import socket
import subprocess
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from generators.serving.standin import StandIn
from generators.core.errors import ModelUnavailable
from generators.serving.process_worker import dumps, loads
from generators.runtime.slots import cores

ROOT = Path(__file__).resolve().parents[2]
STOP_POLL_S = 0.05  # how often a stream given a `stop` flag looks at it while no item comes


def threads() -> int:
    """torch threads of each worker: PLAYGROUND_WORKER_THREADS, else the cores less one (at least 1): the Gradio
    process, which serialises every update, keeps a core; its own torch runs on few (app.py: serving.configure)."""
    return int(os.environ.get("PLAYGROUND_WORKER_THREADS") or max(1, cores() - 1))


class _Link:
    """One worker process, its socket, and the calls waiting for its replies (a reader thread hands them out)."""

    def __init__(self, family: str, target: str, options: dict):
        ours, theirs = socket.socketpair()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen([sys.executable, "-m", "generators.serving.process_worker", str(theirs.fileno())],
                                        pass_fds=(theirs.fileno(),), env=env)
        theirs.close()
        self.family, self.conn = family, Connection(ours.detach())
        self.pending: dict[int, queue.SimpleQueue] = {}
        self.down: ModelUnavailable | None = None
        self._lock, self._send_lock = threading.Lock(), threading.Lock()
        _post(self, ("init", target, options, threads()))  # a worker that dies at once fails its calls as usual
        threading.Thread(target=self._read, daemon=True, name=f"{family}-replies").start()

    def alive(self) -> bool:
        return self.down is None and self.process.poll() is None

    def request(self, cid: int, message: tuple) -> queue.SimpleQueue:
        """Sends `message` for the call `cid`; its replies come on the queue returned."""
        replies = queue.SimpleQueue()
        with self._lock:
            if self.down is not None:
                raise self.down
            self.pending[cid] = replies
        try:
            self.post(message)
        except OSError:  # the worker died just now: the reader fails this call too
            pass
        except Exception:  # an argument that cannot travel: this call's error
            self.forget(cid)
            raise
        return replies

    def post(self, message: tuple) -> None:
        with self._send_lock:
            self.conn.send_bytes(dumps(message))

    def forget(self, cid: int) -> None:
        with self._lock:
            self.pending.pop(cid, None)

    def _read(self) -> None:
        """Hands each reply to its call's queue; when the worker is gone, fails every call still waiting."""
        try:
            while True:
                kind, cid, *value = loads(self.conn.recv_bytes())
                replies = self.pending.get(cid)
                if replies is not None:  # None: a stream closed here meanwhile
                    replies.put((kind, *value))
        except (EOFError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a reply this process cannot read: the worker is of no use any more
            traceback.print_exc()
            self.process.kill()
        self.conn.close()
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        with self._lock:
            self.down = ModelUnavailable("worker_down", family=self.family, code=code)
            waiting, self.pending = list(self.pending.values()), {}
        for replies in waiting:
            replies.put(("error", ModelUnavailable("worker_down", family=self.family, code=code)))

    def close(self, timeout: float = 10) -> None:
        """Shuts the socket (the worker ends when it sees that, and so does the reader); killed if it has not
        ended after `timeout` s."""
        try:
            with socket.fromfd(self.conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader, which a close() of the socket would not
        except OSError:  # already closed
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WorkerProcess:
    """The worker of one adapter class: started at the first call, started afresh at the call after it died."""

    def __init__(self, cls: type, options: dict | None = None):
        self.family, self.options = cls.__name__, options or {}
        self.target = f"{cls.__module__}:{cls.__qualname__}"
        self._lock, self._link, self._ids = threading.Lock(), None, itertools.count(1)

    def _open(self, op: str, *message) -> tuple[_Link, int, queue.SimpleQueue]:
        with self._lock:
            if self._link is None or not self._link.alive():
                self._link = _Link(self.family, self.target, self.options)
            link, cid = self._link, next(self._ids)
        return link, cid, link.request(cid, (op, cid, *message))

    def pid(self) -> int | None:
        """The worker's process id; None while none runs (before the first call, after it died)."""
        link = self._link
        return link.process.pid if link is not None and link.alive() else None

    def ask(self, op: str, *message):
        """A plain call ("call", "attr", "stats"): the worker's result, or its error raised here."""
        link, cid, replies = self._open(op, *message)
        try:
            kind, *value = replies.get()
        finally:
            link.forget(cid)
        if kind == "error":
            raise value[0]
        return value[0]

    def stream(self, name: str, args: tuple, kwargs: dict, stop=None, every: float = 0.0):
        """The worker's stream, item by item; closing this generator closes it there. `stop`: a flag (is_set())
        that, once set, is set in the worker's loop too (looked at every STOP_POLL_S while no item comes).
        `every` > 0: each item supersedes the one before (a snapshot), so the worker sends at most one per `every`
        seconds, the first and the last at once."""
        link, cid, replies = self._open("stream", name, args, kwargs, stop is not None, every)
        told, done = stop is None, False
        try:
            while True:
                if not told and stop.is_set():
                    _post(link, ("stop", cid))
                    told = True
                try:
                    kind, *value = replies.get(timeout=None if told else STOP_POLL_S)
                except queue.Empty:
                    continue
                if kind != "item":
                    break
                yield value[0]
            done = True
            if kind == "error":
                raise value[0]
        finally:
            link.forget(cid)
            if not done:  # stopped early: the worker stops after its current step
                _post(link, ("close", cid))

    def stop(self) -> None:
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            link.close()


def _post(link: _Link, message: tuple) -> None:
    """Sends `message` if the worker is still there (if not, its reader fails the call)."""
    try:
        link.post(message)
    except OSError:
        pass


_workers: dict[str, WorkerProcess] = {}  # adapter class name -> its worker, one for all stand-ins of that class
_workers_lock = threading.Lock()


def worker(cls: type, options: dict | None = None) -> WorkerProcess:
    """The worker of `cls` (made with `options` the first time; started at its first call)."""
    with _workers_lock:
        return _workers.setdefault(cls.__name__, WorkerProcess(cls, options))


def stop_all() -> None:
    """Ends every worker (the app's exit; a test's teardown)."""
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    for w in workers:
        w.stop()


class ProcessAdapter(StandIn):
    """Stands for an adapter `cls(**options)` whose work runs in its worker process. A stream's `stop` flag reaches
    the worker's loop (ui/tabs/text_tab.py: the graceful Stop)."""

    @property
    def supports_stop(self) -> bool:
        return bool(getattr(self._cls, "supports_stop", False))

    def __init__(self, cls: type, worker: WorkerProcess, options: dict | None = None):
        super().__init__(cls, options)
        self._worker = worker

    def _call(self, name: str, args: tuple, kwargs: dict):
        return self._worker.ask("call", name, args, kwargs)

    def _attribute(self, name: str):
        return self._worker.ask("attr", name)

    def _stream(self, name: str, *args, stop=None, **kwargs):
        every = getattr(self._cls, "SNAPSHOT_STREAMS", {}).get(name, 0.0)  # the adapter says which streams may drop
        return self._worker.stream(name, args, kwargs, stop, every)

    def worker_stats(self) -> dict:
        """The worker's streams: how many run (open) and ran at once at most (peak), how many were closed early
        (stopped) and how many items the last of those took (taken)."""
        return self._worker.ask("stats")

    def worker_pid(self) -> int | None:
        return self._worker.pid()
