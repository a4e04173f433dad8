"""``compressor run RECIPE --resume RUN_DIR``: continue a run that did not complete.

A run that failed or was interrupted is kept as ``NAME.failed`` (``.NAME.partial`` if the
process was killed outright). It holds the resolved recipe, ``completed_stages.json`` (what
each finished stage published) and, for the stage that was training, the checkpoint of its last
completed epoch. Resuming moves the folder back to its staging name, restores the finished
stages' artifacts without running them, and continues the interrupted stage from its
checkpoint, so the run ends as the uninterrupted one would have.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compressor.errors import UsageError, describe_value
from compressor.run.folder import FAILED_SUFFIX, PARTIAL_SUFFIX, failed_dir, staging_dir
from compressor.run.results import read_completed

__all__ = ["FAILED_SUFFIX", "PARTIAL_SUFFIX", "ReopenedRun", "final_name", "reopen_run"]


@dataclass
class ReopenedRun:
    """An interrupted run, moved back to its staging folder.

    Attributes:
        out_dir: The name the run folder gets when the run completes.
        staging: Where the run continues.
        completed: The stages that had completed (see :mod:`compressor.run.results`).
    """

    out_dir: Path
    staging: Path
    completed: list[dict[str, Any]]


def final_name(folder: Path) -> Path:
    """``runs/x`` for ``runs/x.failed`` and ``runs/.x.partial``."""
    name = folder.name
    if name.endswith(FAILED_SUFFIX):
        return folder.with_name(name[: -len(FAILED_SUFFIX)])
    if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
        return folder.with_name(name[1 : -len(PARTIAL_SUFFIX)])
    return folder


def _first_difference(then: Any, now: Any, path: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(then, dict) and isinstance(now, dict):
        for key in list(then) + [k for k in now if k not in then]:
            found = _first_difference(
                then.get(key), now.get(key), f"{path}.{key}" if path else str(key)
            )
            if found:
                return found
        return None
    if isinstance(then, list) and isinstance(now, list) and len(then) == len(now):
        for i, (a, b) in enumerate(zip(then, now, strict=True)):
            found = _first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if then == now else (path or "<recipe>", then, now)


def _locate(folder: Path) -> Path:
    if folder.is_dir():
        return folder
    for candidate in (failed_dir(folder), staging_dir(folder)):
        if candidate.is_dir():
            return candidate
    raise UsageError(f"--resume {folder}: no such run folder (nor {folder.name}{FAILED_SUFFIX})")


def reopen_run(folder: Path, resolved_recipe: dict[str, Any]) -> ReopenedRun:
    """Check that ``folder`` can be resumed with this recipe, and move it back to staging.

    Args:
        folder: The run folder given to ``--resume``.
        resolved_recipe: :meth:`compressor.recipe.Plan.resolved` of the recipe given now.

    Raises:
        UsageError: Not a run folder, a completed run, or a different recipe (the message names
            the first field that differs).
    """
    import yaml

    folder = _locate(Path(folder))
    recipe_file = folder / "recipe.yaml"
    if not recipe_file.is_file():
        raise UsageError(f"--resume {folder}: not a compressor run folder (no recipe.yaml)")
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():
        try:
            status = json.loads(metrics_file.read_text(encoding="utf-8")).get("status")
        except ValueError:
            status = None
        if status == "completed":
            raise UsageError(f"--resume {folder}: this run completed; there is nothing to resume")
    try:
        then = yaml.safe_load(recipe_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(
            f"--resume {folder}: recipe.yaml is unreadable ({type(exc).__name__})"
        ) from None
    now = json.loads(json.dumps(resolved_recipe))
    difference = _first_difference(then, now)
    if difference is not None:
        field, old, new = difference
        raise UsageError(
            f"--resume {folder}: the recipe differs from the one this run started with at {field} "
            f"({describe_value(old)} then, {describe_value(new)} now); resume with the same recipe "
            "and --set overrides, or start a new run"
        )
    out_dir = final_name(folder)
    if out_dir != folder and out_dir.exists():
        raise UsageError(f"--resume {folder}: {out_dir} exists already; move it away first")
    staging = staging_dir(out_dir)
    if folder != staging:
        if staging.exists():
            raise UsageError(
                f"--resume {folder}: {staging} exists already (another run?); move it away first"
            )
        os.replace(folder, staging)
    for stale in ("error.txt", "metrics.json"):
        (staging / stale).unlink(missing_ok=True)
    return ReopenedRun(out_dir=out_dir, staging=staging, completed=read_completed(staging))
