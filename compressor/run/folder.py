"""The run folder's life: staged under a hidden name, then published complete or kept as failed.

A run is written into ``.NAME.partial`` beside its final name and renamed to ``NAME`` only
when every stage succeeded, so a folder under its final name is always a complete run. A
failed or interrupted run is renamed to ``NAME.failed``, with ``error.txt`` and
``metrics.json`` beside what the finished stages wrote, ready for ``--resume``
(:mod:`compressor.run.resume`). Every file in it was itself written atomically.

Under torchrun only rank 0 writes the run folder; the other ranks' stages write into a
temporary folder that is deleted at the end.

Nothing here imports torch at module level: :mod:`compressor.run.resume` names folders with it.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.atomic import write_json, write_text
from compressor.context import CHECKPOINT_DIR
from compressor.errors import UsageError, WriteFailure
from compressor.run.results import COMPLETED_FILE

if TYPE_CHECKING:
    from compressor.training.distributed import DistributedInfo

#: ``.NAME.partial``: a run in progress (or killed outright).
PARTIAL_SUFFIX = ".partial"
#: ``NAME.failed``: a run that failed or was interrupted.
FAILED_SUFFIX = ".failed"


def default_run_dir(recipe_name: str, root: Path = Path("runs")) -> Path:
    """``runs/<recipe>-<YYYYmmdd-HHMMSS>``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{recipe_name}-{stamp}"


def staging_dir(out_dir: Path) -> Path:
    """Where the run that ends as ``out_dir`` is written: ``.NAME.partial`` beside it."""
    return out_dir.with_name(f".{out_dir.name}{PARTIAL_SUFFIX}")


def failed_dir(out_dir: Path) -> Path:
    """Where a run that was to end as ``out_dir`` is kept when it fails: ``NAME.failed``."""
    return out_dir.with_name(f"{out_dir.name}{FAILED_SUFFIX}")


def prepare_staging(out_dir: Path) -> Path:
    """Create the empty staging folder of a new run that ends as ``out_dir``.

    A staging folder left by a run killed outright is replaced.

    Raises:
        UsageError: ``out_dir`` holds files, or the folder cannot be created.
    """
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"--out {out_dir}: already exists and is not empty; choose another folder")
    staging = staging_dir(out_dir)
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise UsageError(
            f"--out {out_dir}: cannot create the run folder ({exc.strerror})"
        ) from None
    return staging


def prepare_rank_staging(out_dir: Path, dist: DistributedInfo) -> Path:
    """Rank 0 prepares the run folder; the other ranks a temporary folder, for stage code to
    write into as usual (nothing of theirs is kept).

    Raises:
        UsageError: Rank 0 cannot use ``out_dir`` (on every rank: the others stop too).
    """
    if not dist.enabled:
        return prepare_staging(out_dir)
    from compressor.training import distributed  # imports torch

    error: UsageError | None = None
    staging = out_dir
    if dist.is_main:
        try:
            staging = prepare_staging(out_dir)
        except UsageError as exc:
            error = exc
    else:
        staging = Path(tempfile.mkdtemp(prefix=f"compressor-rank{dist.rank}-"))
    # Agree before any training: otherwise the other ranks would wait for rank 0 in their first
    # collective until torchrun kills them, leaving their temporary folders behind.
    if distributed.reduce_totals(0.0 if error is None else 1.0)[0]:
        if error is not None:
            raise error
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError("rank 0 cannot create the run folder")  # rank 0 says why
    return staging


def discard(staging: Path) -> None:
    """Delete a folder nothing is kept from (the temporary folder of a rank other than 0)."""
    shutil.rmtree(staging, ignore_errors=True)


def keep_failed(
    staging: Path, out_dir: Path, error: BaseException, metrics: dict[str, Any]
) -> Path:
    """Keep a run that stopped with ``error`` as ``NAME.failed``, with its metrics and traceback.

    An earlier ``NAME.failed`` is replaced. ``error`` gets a ``kept_run_dir`` attribute, for
    the command line to say where the run is.

    Args:
        staging: The run's staging folder.
        out_dir: The name the run would have had.
        error: Why the run stopped; its traceback goes to ``error.txt``.
        metrics: The ``metrics.json`` document (:func:`compressor.run.metrics.run_metrics`).

    Returns:
        The kept folder.
    """
    try:
        write_json(staging / "metrics.json", metrics)
        write_text(staging / "error.txt", "".join(traceback.format_exception(error)))
    except WriteFailure:
        pass  # the disk may be what failed; the stage's own error is the one to report
    failed = failed_dir(out_dir)
    if failed.exists():
        shutil.rmtree(failed)
    os.replace(staging, failed)
    try:
        error.kept_run_dir = failed  # type: ignore[attr-defined]  # the CLI names it
    except AttributeError:
        pass
    return failed


def publish(staging: Path, out_dir: Path, metrics: dict[str, Any]) -> None:
    """Finish a completed run: ``metrics.json`` and the report, then the folder's final name.

    Args:
        staging: The run's staging folder.
        out_dir: The run's final name (absent, or the empty folder :func:`prepare_staging`
            accepted).
        metrics: The ``metrics.json`` document (:func:`compressor.run.metrics.run_metrics`).
    """
    from compressor.report import write_report

    write_json(staging / "metrics.json", metrics)
    write_report(staging, metrics)
    # A completed run needs neither: its models are saved, and it cannot be resumed.
    shutil.rmtree(staging / CHECKPOINT_DIR, ignore_errors=True)
    (staging / COMPLETED_FILE).unlink(missing_ok=True)
    if out_dir.exists():
        out_dir.rmdir()  # empty, checked in prepare_staging
    os.replace(staging, out_dir)
