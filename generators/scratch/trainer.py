"""Training a GAN, a VAE or a small diffusion model from nothing, streamed: about once a second, the fixed grid's
samples, the losses, what our classifier reads in the samples, and the time left.

    trainer = ScratchTrainer()
    stop = threading.Event()
    for u in trainer.stream(family="GAN", seconds=60, seed=0, failure=False, stop=stop):
        show(u.images, u.losses, u.reading.read_share, u.seconds_left)  # stop.set() ends it after the current step
    blob = weights.save_run(u.run)  # the last update's run: what was learnt, as one safetensors file

`in_background(stream)` runs such a stream on a thread of its own with one torch thread, so a training takes one
core and leaves the others to the rest of the app.
"""

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import torch

from generators.core.device import pick_device
from generators.core.errors import InputError
from generators.core.limits import SEED, Range, check_choice
from generators.scratch import diffusion, gan, vae
from generators.scratch.data import Batches, Digits, Grader, Reading, bundled_digits

FAMILIES = {"GAN": (gan.GanRun, gan.GanRecipe(), gan.FAILURE),
            "VAE": (vae.VaeRun, vae.VaeRecipe(), vae.FAILURE),
            "diffusion": (diffusion.DiffusionRun, diffusion.DiffusionRecipe(), diffusion.FAILURE)}
SECONDS = Range(1, 180, whole=False)  # a training's time budget
DEFAULT_SECONDS = 60
UPDATE_EVERY = 1.0  # seconds between streamed updates


@dataclass(frozen=True)
class Update:
    """One streamed update; `run` is the live training (its nets hold what was learnt so far)."""
    step: int  # optimizer steps done
    seconds: float  # since the training began
    seconds_left: float
    losses: dict[str, float]  # the last step's ({} before the first)
    images: torch.Tensor  # the fixed grid's samples (GRID, 1, 28, 28) in [0, 1]
    labels: torch.Tensor | None  # the digit each sample was asked for (None: unconditional)
    reading: Reading
    run: object
    extra: dict = field(default_factory=dict)  # family figures (the VAE's held-out pixel error)
    done: bool = False  # the last update: the budget, the step cap or a Stop ended the training
    stopped: bool = False  # ended by a Stop

    def record(self) -> dict:
        """The JSON line of the API: {step, seconds, losses, classifier_read, class_accuracy, ...}."""
        acc = self.reading.class_accuracy
        return {"step": self.step, "seconds": round(self.seconds, 2), "losses": {k: round(v, 4) for k, v in
                                                                                self.losses.items()},
                "classifier_read": round(self.reading.read_share, 4),
                "class_accuracy": None if acc is None else round(acc, 4), "classes_read": self.reading.classes_read,
                "seconds_left": round(self.seconds_left, 1), **self.extra}


def validate(family, seconds, seed, failure) -> tuple[str, float, int, bool]:
    """The checked arguments, or an InputError for the first one that is not what it should be."""
    family = check_choice("family", family, tuple(FAMILIES))
    if not isinstance(failure, bool):
        raise InputError("scratch_failure_type", got=repr(failure)[:20])
    return family, SECONDS.check("seconds", seconds), SEED.check("seed", seed), failure


def new_run(family: str, seed: int, failure: bool = False, device: torch.device | None = None, recipe=None):
    """A family's untrained run: its default recipe (or the failure's, or `recipe`), weights drawn from `seed`."""
    cls, default, broken = FAMILIES[family]
    return cls(recipe or (broken if failure else default), seed, device or torch.device("cpu"))


class ScratchTrainer:
    """Trains from scratch on the bundled MNIST subset; the data and the grading classifier load once, shared."""

    def __init__(self, device: torch.device | None = None, digits: Digits | None = None, grader: Grader | None = None):
        self.device, self._digits, self.grader = device, digits, grader or Grader()

    def digits(self) -> Digits:
        return self._digits or bundled_digits()

    def stream(self, *, family: str, seconds: float = DEFAULT_SECONDS, seed: int = 0, failure: bool = False,
               stop: threading.Event | None = None, max_steps: int = 0, every: float = UPDATE_EVERY,
               recipe=None) -> Iterator[Update]:
        """Checks the arguments (InputError), then returns the stream: an update before the first step, then
        about every `every` seconds, and a last one (done=True). `max_steps` > 0 caps the steps (tests);
        `recipe` replaces the family's (bench, tests: a tiny net)."""
        family, seconds, seed, failure = validate(family, seconds, seed, failure)
        self.device = self.device or pick_device()
        run = new_run(family, seed, failure, self.device, recipe)
        cap = min(c for c in (max_steps, run.recipe.max_steps, 10**12) if c > 0)
        return self._train(run, seconds, cap, stop or threading.Event(), every)

    def _train(self, run, seconds: float, cap: int, stop: threading.Event, every: float) -> Iterator[Update]:
        d = self.digits()
        batches = Batches(d.train.to(self.device), d.train_labels.to(self.device), run.recipe.batch_size, run.g)
        step, losses = 0, {}
        yield self._update(run, step, losses, time.perf_counter(), seconds)  # the untrained model's grid
        t0 = shown = time.perf_counter()  # the budget is for training: it starts once the first grid is shown
        while step < cap and time.perf_counter() - t0 < seconds and not stop.is_set():
            losses = run.step(*batches.next())
            step += 1
            if time.perf_counter() - shown >= every:
                yield self._update(run, step, losses, t0, seconds)
                shown = time.perf_counter()
        yield replace(self._update(run, step, losses, t0, seconds), done=True, stopped=stop.is_set(),
                      seconds_left=0.0)

    def _update(self, run, step: int, losses: dict, t0: float, seconds: float) -> Update:
        images, labels = run.samples()
        reading = self.grader.read(images, labels)
        extra = {"pixel_error": round(run.pixel_error(self.digits().held), 5)} if hasattr(run, "pixel_error") else {}
        elapsed = time.perf_counter() - t0
        return Update(step, elapsed, max(0.0, seconds - elapsed), dict(losses), images, labels, reading, run, extra)


_DONE = object()
# The training thread's nice value: above the request threads' 0, so that on a busy machine the scheduler gives a
# digit request the core before the training (bench/bench_scratch.py --responsiveness measures both; the figures in
# docs/scratch-responsiveness.json). 0 = as the rest of the app.
NICE = 10


def lower_priority(nice: int) -> bool:
    """Raises this thread's nice value by `nice` (Linux: a thread is a task with its own priority, so the process's
    other threads keep theirs); False where the platform does not allow it."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        return True
    except OSError:  # a sandbox that forbids it: the training runs at the app's priority
        return False


def in_background(updates: Iterator[Update], stop: threading.Event, threads: int = 1,
                  nice: int | None = None) -> Iterator[Update]:
    """`updates` computed on a thread of its own with `threads` torch threads (OpenMP's count is per thread) at
    `nice` (default NICE) below the app's priority, handed over as they come. Closing this iterator sets `stop`, so
    the training ends after the step in progress."""
    box: queue.Queue = queue.Queue()
    nice = NICE if nice is None else nice

    def work():
        lower_priority(nice)
        torch.set_num_threads(threads)
        try:
            for u in updates:
                box.put(u)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            box.put(e)
        finally:
            box.put(_DONE)

    worker = threading.Thread(target=work, name="scratch-training", daemon=True)
    worker.start()
    try:
        while (item := box.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
