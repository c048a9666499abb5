"""Micro-batching for the image models: concurrent calls that arrive together run as one forward.

`fn` takes tensors whose rows (dim 0) are independent samples and returns a tensor or a tuple of
tensors with one row per input row. Calls that arrive while the previous batch ran, or within `window_s`
of the first when the last batch was shared (others were calling), are concatenated, run as one call of
`fn`, and each caller gets its own rows back. A lone caller does not wait for the window: the VAE tab's
stream makes 10 calls in a row, and the window had made it 34 ms instead of 3 (bench_digits, 2 threads).

Every batch runs on the batcher's own thread, started at the first call and ended after IDLE_S without one.
The forwards had run on whichever caller came first: each of the server's 16 request threads that ever ran one
kept about 3.5 MB of the forward's memory for as long as it lived (16 threads calling a GAN sample for 15 s: glibc's
in-use heap +50 to +57 MB while they lived, +1 MB with the forwards on one thread; the app's RSS after 16 digit users
+16% to +29% over its warm start). The price: a lone call hands its batch over and back (the VAE tab's stream, 10
calls: 4.0-5.3 ms vs 3.2, one torch thread). With more than one torch thread, the batcher's thread gets an OpenMP
team of its own, and two teams on the same cores slow each other down (README, "Where a room's memory went").

Each caller draws its noise from its own seed before calling (the adapters already do: every sampling
call builds its own torch.Generator), so a caller's samples never depend on who else was in the batch.
Rows match a lone run to float rounding: a convolution may pick another kernel for another batch size.

    batcher = MicroBatcher(lambda z, labels: generator(z, labels))
    z = torch.randn(16, z_dim, generator=torch.Generator().manual_seed(seed))  # per request, first
    images = batcher(z, labels)  # (16, 1, 28, 28): this caller's rows, computed with everyone else's
"""

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

import torch

IDLE_S = 30.0  # the batcher's thread ends after this long without a call (the next call starts another)


class _Call:
    def __init__(self, inputs: tuple[torch.Tensor, ...]):
        self.inputs, self.rows = inputs, inputs[0].shape[0]
        self.result, self.error = None, None
        self.ready = threading.Event()  # set when `result` (or `error`) is in


class MicroBatcher:
    """`batcher(*inputs)` returns `fn(*inputs)`, computed in one batch with the calls around it."""

    def __init__(self, fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]], *, max_batch: int = 256,
                 window_s: float = 0.002, name: str = "microbatch"):
        self.fn, self.max_batch, self.window_s, self.name = fn, max_batch, window_s, name
        self._reset()
        _ALL.add(self)

    def _reset(self) -> None:
        """A fresh lock, queue and no thread (at start, and in a forked child, where the thread does not exist)."""
        self._cond, self._queue, self._thread = threading.Condition(), deque(), None
        self._shared = False  # whether the last batch held more than one call, or others waited behind it

    def __call__(self, *inputs: torch.Tensor):
        """This caller's rows of fn over the batch; fn's exception if it raised."""
        call = _Call(inputs)
        with self._cond:
            self._queue.append(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify()
        call.ready.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def queued(self) -> int:
        """Calls waiting for a batch (a snapshot, for tests and benchmarks)."""
        with self._cond:
            return len(self._queue)

    def _work(self) -> None:
        """The batcher's thread: runs a batch whenever calls wait; ends after IDLE_S without any."""
        while True:
            with self._cond:
                queued = bool(self._queue)  # calls that queued while the last batch ran go at once
                if not queued and not self._cond.wait_for(lambda: self._queue, timeout=IDLE_S):
                    self._thread = None  # under the lock: the next call starts another thread
                    return
                wait = self._shared and not queued
            if wait:  # others have been calling just now: let the calls that arrive together join this batch
                time.sleep(self.window_s)
            self._run_batch()

    def _take(self) -> list[_Call]:
        """The oldest calls whose rows fit max_batch (a larger call runs alone)."""
        with self._cond:
            batch, rows = [], 0
            while self._queue and (not batch or rows + self._queue[0].rows <= self.max_batch):
                batch.append(self._queue.popleft())
                rows += batch[-1].rows
            return batch

    def _run_batch(self) -> None:
        batch = self._take()
        try:
            inputs = [torch.cat(parts) for parts in zip(*(c.inputs for c in batch))]
            out = self.fn(*inputs)
            sizes = [c.rows for c in batch]
            parts = zip(*(o.split(sizes) for o in out)) if isinstance(out, tuple) else out.split(sizes)
            for c, part in zip(batch, parts):
                c.result = part
        except Exception as e:  # noqa: BLE001 - every caller of the batch gets fn's error
            for c in batch:
                c.error = e
        with self._cond:
            self._shared = len(batch) > 1 or bool(self._queue)
        for c in batch:
            c.ready.set()


_ALL: "weakref.WeakSet[MicroBatcher]" = weakref.WeakSet()
if hasattr(os, "register_at_fork"):  # a forked child (ZeroGPU runs handlers in one) has no batcher threads
    os.register_at_fork(after_in_child=lambda: [b._reset() for b in list(_ALL)])
