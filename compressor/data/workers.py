"""The ``DataLoader`` behind a streamed split, and what a failing worker tells the user.

One :class:`PassLoader` per streamed split (and pinning choice) lives as long as the split: its
workers persist across passes, and its batch sampler (:class:`PassOrder`) is told the rows of
each pass before the pass starts, so the workers serve exactly the batches the in-memory path
would cut from the same order. Workers return whole batches (``(indices, x, y)``): a sample
that fails comes back as a :class:`_Failed` marker carrying its one-line message, raised in the
main process as :class:`SampleError`. A worker that dies (killed, out of memory, ``/dev/shm``
too small) becomes one :class:`WorkerDied` line saying what to change, never PyTorch's bare
"DataLoader worker exited unexpectedly".
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from compressor.errors import StageFailure, UsageError, one_line

#: ``(indices, x, y)``, as :func:`compressor.data.batches` yields.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
#: ``(indices, epoch) -> (x, y)``: how a loader's workers load one batch.
Fetch = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


class SampleError(UsageError):
    """A sample could not be read or preprocessed; the message names the split, the sample
    and, when the dataset says, its file. Exit code 2: the data is bad input."""


class WorkerDied(StageFailure):
    """A ``DataLoader`` worker process died without raising (killed by a signal, out of memory
    or shared memory, ``os._exit``). Exit code 1."""


#: What PyTorch says when a worker vanished, from ``next()`` or from its SIGCHLD handler:
#: "DataLoader worker (pid 123) exited unexpectedly with exit code 1. Details are lost ...",
#: "DataLoader worker (pid(s) 123) exited unexpectedly", "... is killed by signal: Killed.".
_DIED = re.compile(r"DataLoader worker \(pid(?:\(s\))? [\d, ]+\) (?P<what>[^.]*)")


def explain_death(error: BaseException) -> WorkerDied | None:
    """The one-line :class:`WorkerDied` for PyTorch's "DataLoader worker ... exited" error.

    Returns:
        The error to raise instead, or ``None`` when ``error`` is not about a dead worker.
    """
    text = " ".join(str(error).split())
    match = _DIED.search(text) if isinstance(error, RuntimeError) else None
    if match is None:
        return None
    shm = "shared memory" in text or "Bus error" in text
    hint = (
        "it ran out of shared memory: give the container a larger /dev/shm "
        "(docker run --shm-size 2g), or "
        if shm
        else "it may have been killed for memory (in a container, /dev/shm may be too small); "
    )
    return WorkerDied(
        f"a data loader worker process died ({match.group('what').strip()}); {hint}"
        "set data.num_workers: 0 to load the data in the main process"
    )


@contextmanager
def worker_errors() -> Iterator[None]:
    """Turn PyTorch's errors about failing workers into one line each.

    Wrap a loop that consumes streamed batches in it: PyTorch reports a dead worker from a
    signal handler, at whatever line the main process is running, not only inside ``next()``.

    Raises:
        WorkerDied: A worker process died.
        StageFailure: A worker raised outside a sample's loading (its message's last line).
    """
    try:
        yield
    except RuntimeError as error:
        died = explain_death(error)
        if died is not None:
            raise died from error
        text = str(error)
        if text.startswith("Caught ") and "DataLoader worker" in text.splitlines()[0]:
            last = text.strip().splitlines()[-1]
            raise StageFailure(f"a data loader worker failed: {last}") from error
        raise


@dataclass(frozen=True)
class _Failed:
    """What a worker returns instead of a batch whose loading raised."""

    message: str


class PassOrder(Sampler[list[int]]):
    """A batch sampler whose batches are set before each pass (the persistent loader's order)."""

    def __init__(self) -> None:
        self.rows: list[list[int]] = []
        self.epoch = 0

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:  # type: ignore[override]
        # Each request carries the pass's epoch: persistent workers hold their own copy of
        # the split, so this is how an augmenting split's workers learn it.
        return ((self.epoch, rows) for rows in self.rows)

    def __len__(self) -> int:
        return len(self.rows)


class _Fetch(Dataset[Any]):
    """The loader's dataset: a whole batch per call, fetched by the split's ``fetch``."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__((0, [index]))

    def __getitems__(self, request: tuple[int, list[int]]) -> Batch | _Failed:
        epoch, rows = request
        idx = torch.tensor(rows, dtype=torch.long)
        try:
            x, y = self.fetch(idx, epoch)
        except UsageError as error:
            return _Failed(str(error))
        except Exception as error:  # noqa: BLE001 - a worker must report, not die, on any error
            return _Failed(f"data: loading rows {rows[:3]}...: {one_line(error)}")
        return idx, x, y


def _whole(batch: Any) -> Any:
    """The collate function: workers already return whole batches."""
    return batch


def stop_workers(loader: DataLoader[Any] | None) -> None:
    """Kill ``loader``'s persistent worker processes and let PyTorch tidy up after them.

    PyTorch's own shutdown asks each worker to finish and waits up to 5 s for it; a worker
    that cannot finish (its prefetched batches never read, or forked into a lock another
    thread held) costs those 5 s, and a test run collecting a few loaders spent tens of
    seconds there. Between passes and after a failure the workers hold nothing wanted.
    """
    iterator = getattr(loader, "_iterator", None)
    if iterator is None:
        return
    if getattr(iterator, "_worker_pids_set", False):
        # Unwatched first: PyTorch's SIGCHLD handler would report the kill as a failure.
        torch._C._remove_worker_pids(id(iterator))
        iterator._worker_pids_set = False
    for worker in getattr(iterator, "_workers", []):
        if worker.is_alive():
            worker.kill()
    iterator._shutdown_workers()


def _unwrapped(item: Batch | _Failed) -> Batch:
    if isinstance(item, _Failed):
        raise SampleError(item.message)
    return item


class PassLoader:
    """Serves passes over a split through one ``DataLoader`` with persistent workers.

    Args:
        fetch: ``(indices, epoch) -> (x, y)`` for one batch; runs in the workers.
        num_workers: Worker processes; 0 fetches in this process.
        prefetch_factor: Batches each worker loads ahead.
        pin_memory: Pin batches (for a CUDA device).
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        num_workers: int,
        prefetch_factor: int,
        pin_memory: bool,
    ) -> None:
        self.fetch = fetch
        self.pin_memory = pin_memory
        self.order = PassOrder()
        self.busy = False
        #: Set when a pass failed other than on a bad sample: its workers cannot be trusted.
        self.broken = False
        self.loader: DataLoader[Any] | None = None
        if num_workers > 0:
            self.loader = DataLoader(
                _Fetch(fetch),
                batch_sampler=self.order,
                num_workers=num_workers,
                collate_fn=_whole,
                pin_memory=pin_memory,
                persistent_workers=True,
                prefetch_factor=prefetch_factor,
                # Its own generator: a loader draws its workers' base seed every pass, and from
                # torch's global generator that would change the run's other random draws.
                generator=torch.Generator().manual_seed(0),
            )
        # Runs when the loader is closed or collected, before PyTorch's slow shutdown could.
        self._finalizer = weakref.finalize(self, stop_workers, self.loader)

    def passes(self, rows: torch.Tensor, batch_size: int, *, epoch: int = 0) -> Iterator[Batch]:
        """One pass: ``rows`` cut into batches of ``batch_size``, served in that order; ``epoch``
        is passed to ``fetch`` (an augmenting split seeds its transforms with it).

        Raises:
            SampleError: A sample could not be loaded.
            WorkerDied: A worker process died.
        """
        cut = [rows[s : s + batch_size].tolist() for s in range(0, len(rows), batch_size)]
        self.busy = True
        try:
            with worker_errors():
                if self.loader is None:
                    yield from self._in_process(cut, epoch)
                else:
                    self.order.rows, self.order.epoch = cut, epoch
                    for item in self.loader:
                        yield _unwrapped(item)
        except SampleError:
            raise
        except (Exception, GeneratorExit):
            # A dead worker, or a pass left before its end (BatchNorm recalibration takes the
            # first N batches): the workers hold batches nobody will read.
            self.broken = True
            self.close()
            raise
        finally:
            self.busy = False

    def close(self) -> None:
        """Stop the worker processes now; the loader serves no more passes."""
        self._finalizer()
        self.broken = True
        self.loader = None

    def _in_process(self, cut: list[list[int]], epoch: int) -> Iterator[Batch]:
        for batch_rows in cut:
            idx = torch.tensor(batch_rows, dtype=torch.long)
            x, y = self.fetch(idx, epoch)
            if self.pin_memory:
                x, y = x.pin_memory(), y.pin_memory()
            yield idx, x, y
