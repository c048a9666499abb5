"""Micro-batching for the image models: concurrent calls that arrive together run as one forward.

`fn` takes tensors whose rows (dim 0) are independent samples and returns a tensor or a tuple of
tensors with one row per input row. Calls that arrive while the previous batch ran, or within `window_s`
of the first when the last batch was shared (others were calling), are concatenated, run as one call of
`fn`, and each caller gets its own rows back. A lone caller does not wait for the window: the VAE tab's
stream makes 10 calls in a row, and the window had made it 34 ms instead of 3 (bench_digits, 2 threads).
No thread of its own: the first caller runs the batch, and hands the next batch to a waiting caller.

Each caller draws its noise from its own seed before calling (the adapters already do: every sampling
call builds its own torch.Generator), so a caller's samples never depend on who else was in the batch.
Rows match a lone run to float rounding: a convolution may pick another kernel for another batch size.

    batcher = MicroBatcher(lambda z, labels: generator(z, labels))
    z = torch.randn(16, z_dim, generator=torch.Generator().manual_seed(seed))  # per request, first
    images = batcher(z, labels)  # (16, 1, 28, 28): this caller's rows, computed with everyone else's
"""

import threading
import time
from collections import deque
from collections.abc import Callable

import torch


class _Call:
    def __init__(self, inputs: tuple[torch.Tensor, ...]):
        self.inputs, self.rows = inputs, inputs[0].shape[0]
        self.result, self.error, self.lead = None, None, False
        self.ready = threading.Event()  # set when `result` (or `error`) is in, or when this call must lead


class MicroBatcher:
    """`batcher(*inputs)` returns `fn(*inputs)`, computed in one batch with the calls around it."""

    def __init__(self, fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]], *, max_batch: int = 256,
                 window_s: float = 0.002):
        self.fn, self.max_batch, self.window_s = fn, max_batch, window_s
        self._lock, self._queue, self._busy = threading.Lock(), deque(), False
        self._shared = False  # whether the last batch held more than one call, or others waited behind it

    def __call__(self, *inputs: torch.Tensor):
        """This caller's rows of fn over the batch; fn's exception if it raised."""
        call = _Call(inputs)
        with self._lock:
            self._queue.append(call)
            lead, self._busy, wait = not self._busy, True, self._shared
        if lead:
            if wait:  # others have been calling: let the calls that arrive together join this batch
                time.sleep(self.window_s)
            self._run_batch()
        else:
            call.ready.wait()
            if call.lead:  # queued while the previous batch ran: this call runs the next one
                self._run_batch()
        if call.error is not None:
            raise call.error
        return call.result

    def queued(self) -> int:
        """Calls waiting for a batch (a snapshot, for tests and benchmarks)."""
        with self._lock:
            return len(self._queue)

    def _take(self) -> list[_Call]:
        """The oldest calls whose rows fit max_batch (a larger call runs alone)."""
        with self._lock:
            batch, rows = [], 0
            while self._queue and (not batch or rows + self._queue[0].rows <= self.max_batch):
                batch.append(self._queue.popleft())
                rows += batch[-1].rows
            return batch

    def _run_batch(self) -> None:
        batch = self._take()  # the leading call is the oldest, so it is in its own batch
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
        with self._lock:
            self._shared = len(batch) > 1 or bool(self._queue)
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].ready.set()
            else:
                self._busy = False
        for c in batch:
            c.ready.set()
