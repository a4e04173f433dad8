"""What a failing worker tells the user: one line naming the sample, or saying what to change."""

from __future__ import annotations

import gc

import pytest

from compressor.data import (
    Preprocessing,
    SampleError,
    StreamedSplit,
    WorkerDied,
    batches,
    worker_errors,
)
from compressor.data.workers import explain_death
from compressor.errors import StageFailure, UsageError
from tests.compressor.data.samples import Corrupt, Dying

PREP = Preprocessing(resize=(8, 8))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_sample_that_raises_in_a_worker_is_one_line_naming_it(workers: int) -> None:
    streamed = StreamedSplit(Corrupt(12), preprocessing=PREP, name="train", num_workers=workers)
    with pytest.raises(SampleError) as caught:
        list(batches(streamed, 4))
    assert str(caught.value) == (
        "data: cannot read train sample 5 (images/005.png): OSError: image file is truncated "
        "(3 bytes not processed)"
    )
    assert isinstance(caught.value, UsageError)  # bad data is bad input: exit code 2
    # The workers survive a bad sample: rows that read fine still stream.
    assert [b[0].tolist() for b in batches(streamed, 4, order=[0, 1, 2, 3])] == [[0, 1, 2, 3]]


# Shutting down the loader whose worker died, PyTorch's queue feeder thread trips over the
# closed pipe; collected here, so that its noise is this test's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_dies_is_one_line_saying_what_to_change() -> None:
    streamed = StreamedSplit(Dying(12), preprocessing=PREP, num_workers=2)
    with pytest.raises(WorkerDied) as caught:
        list(batches(streamed, 4))
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, StageFailure)
    assert message.startswith("a data loader worker process died (exited unexpectedly")
    assert "set data.num_workers: 0" in message and "/dev/shm" in message
    assert "DataLoader worker" not in message
    # The broken loader is replaced: the next pass starts new workers (which die again here).
    with pytest.raises(WorkerDied):
        list(batches(streamed, 4, order=[4, 5]))
    del streamed, caught
    gc.collect()


@pytest.mark.parametrize(
    ("text", "what", "shm"),
    [
        (
            (
                "DataLoader worker (pid 4242) exited unexpectedly with exit code 1. Details are lost "
                "due to multiprocessing. Rerunning with num_workers=0 may give better error trace."
            ),
            "exited unexpectedly with exit code 1",
            False,
        ),
        ("DataLoader worker (pid(s) 11, 12) exited unexpectedly", "exited unexpectedly", False),
        (
            "DataLoader worker (pid 7) is killed by signal: Killed. ",
            "is killed by signal: Killed",
            False,
        ),
        (
            (
                "DataLoader worker (pid 9) is killed by signal: Bus error. It is possible that "
                "dataloader's workers are out of shared memory. Please try to raise your shared "
                "memory limit."
            ),
            "is killed by signal: Bus error",
            True,
        ),
    ],
)
def test_each_way_pytorch_reports_a_dead_worker_is_explained(
    text: str, what: str, shm: bool
) -> None:
    died = explain_death(RuntimeError(text))
    assert died is not None
    assert str(died).startswith(f"a data loader worker process died ({what});")
    assert ("docker run --shm-size" in str(died)) is shm
    assert explain_death(RuntimeError("CUDA out of memory")) is None
    assert explain_death(ValueError(text)) is None


def test_worker_errors_turns_loader_errors_raised_anywhere_into_one_line() -> None:
    # PyTorch's SIGCHLD handler raises at whatever line the main process runs.
    with pytest.raises(WorkerDied), worker_errors():
        raise RuntimeError("DataLoader worker (pid 5) is killed by signal: Killed.")
    caught = "Caught ValueError in DataLoader worker process 1.\nOriginal Traceback:\n  ...\nValueError: bad"
    with (
        pytest.raises(StageFailure, match="^a data loader worker failed: ValueError: bad$"),
        worker_errors(),
    ):
        raise RuntimeError(caught)
    with pytest.raises(RuntimeError, match="unrelated"), worker_errors():
        raise RuntimeError("unrelated")
