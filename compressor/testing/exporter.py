"""The exporter contract check: :func:`check_exporter`.

An exporter is called as the ``export`` stage calls it, ``export(model, example_inputs, path,
context=...)`` (``context`` only when its ``export`` takes that keyword); :func:`check_exporter`
runs it on a tiny model into an empty folder, watching the destination with
:class:`~compressor.testing.write_watch.WriteWatch`, loads what it wrote, and, on a model whose
forward raises, checks that a failed export leaves nothing behind.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn

from compressor.export_context import ExportContext, call_export
from compressor.records import ExporterPlugin
from compressor.testing.building import build_plugin, plugin_label
from compressor.testing.tiny import default_inputs, tiny_cnn
from compressor.testing.write_watch import WriteWatch


def check_exporter(
    exporter: Any,
    options: Mapping[str, Any] | BaseModel | None = None,
    *,
    suffix: str | None = None,
    model: nn.Module | None = None,
    example_inputs: torch.Tensor | None = None,
    directory: str | Path | None = None,
    load: Callable[[Path], Any] | None = None,
    check_failure: bool = True,
    context: ExportContext | None = None,
) -> dict[str, Any]:
    """Check the exporter contract: ``export(model, example_inputs, path, *, context) -> dict``.

    The exporter must write ``path`` (and nothing else) through a temporary file, never open
    ``path`` itself for writing, leave the model unchanged, and return a dict of facts. The file
    must load: ``load`` is called on it (JSON and ONNX files are loaded by default). With
    ``check_failure``, a model whose forward raises is exported too: if the exporter fails,
    nothing may be left at the destination.

    Args:
        exporter: A name, an :class:`~compressor.records.ExporterPlugin`, a factory or a built
            exporter.
        options: The exporter options (validated by the record's schema).
        suffix: The file suffix (default: the record's, else ``.bin``).
        model: The model to export (default: :func:`tiny_cnn`).
        example_inputs: Inputs given to the exporter (default: 8 random digit-shaped inputs).
        directory: An empty folder to export into (default: a new temporary folder).
        load: Called with the written path; raise to reject the file.
        check_failure: Also check that a failed export leaves nothing behind.
        context: What the export stage would pass as ``context=`` (to an exporter whose
            ``export`` takes it; default: the example inputs' shape, mean 0, std 1, artifact
            ``model``).

    Returns:
        What ``export`` returned.

    Raises:
        AssertionError: A part of the contract does not hold; the message says which.
    """
    built, record = build_plugin("exporter", exporter, options, ExporterPlugin, "export")
    label = plugin_label("exporter", built, record)
    suffix = suffix or (record.suffix if isinstance(record, ExporterPlugin) else ".bin")
    folder = _empty_folder(directory)
    model = model if model is not None else tiny_cnn()
    if example_inputs is None:
        example_inputs = default_inputs()
    if context is None:
        channels = example_inputs.shape[1] if example_inputs.dim() > 1 else 1
        context = ExportContext(
            input_shape=tuple(example_inputs.shape[1:]),
            mean=(0.0,) * channels,
            std=(1.0,) * channels,
            recipe_name="check",
            artifact="model",
        )
    path = folder / f"model{suffix}"
    facts = _export(built, model, example_inputs, path, label, context)
    _check_loads(load or _default_loader(suffix), path, label)
    if check_failure:
        failing = folder / f"failing{suffix}"
        _check_failure_leaves_nothing(built, example_inputs, failing, path, label, context)
    return facts


def _empty_folder(directory: str | Path | None) -> Path:
    """``directory`` (created if needed), or a new temporary folder; it must be empty."""
    folder = (
        Path(directory)
        if directory is not None
        else Path(tempfile.mkdtemp(prefix="compressor-check-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    assert not any(folder.iterdir()), f"check_exporter needs an empty folder, {folder} is not"
    return folder


def _export(
    built: Any,
    model: nn.Module,
    example_inputs: torch.Tensor,
    path: Path,
    label: str,
    context: ExportContext,
) -> dict[str, Any]:
    """Export ``model`` to ``path``, checking the write, the returned facts and the model."""
    state = copy.deepcopy(model.state_dict())
    training = model.training
    with WriteWatch.watching(path) as direct_writes:
        try:
            facts = call_export(built, model, example_inputs, path, context)
        except Exception as exc:
            raise AssertionError(
                f"{label} failed on {type(model).__name__}: {type(exc).__name__}: {exc}"
            ) from exc
    assert not direct_writes, (
        f"{label} opened the destination {path.name} for writing ({direct_writes[0]}); write a "
        "temporary file and rename it, e.g. with compressor.atomic.atomic_path(path)"
    )
    assert isinstance(facts, dict), (
        f"{label}: export() must return a dict of facts, got {type(facts).__name__}"
    )
    assert all(isinstance(k, str) for k in facts), (
        f"{label}: the keys of the returned dict must be strings"
    )
    assert path.is_file(), f"{label}: export() returned but {path.name} was not written"
    stray = _leftovers(path.parent, {path.name})
    beside = [s for s in stray if s.startswith(f".{path.name}.") and ".tmp" in s]
    assert not beside, (
        f"{label} wrote {beside[0]} beside the temporary file atomic_path gave it: a writer that "
        "appends its own suffix to a path (numpy.savez adds .npz) wrote elsewhere and left "
        f"{path.name} empty; give it an open file instead (with tmp.open('wb') as f: ...)"
    )
    assert path.stat().st_size > 0, f"{label} wrote an empty {path.name}"
    assert not stray, f"{label} left other files next to {path.name}: {', '.join(stray)}"
    assert model.training == training and all(
        torch.equal(state[k], v) for k, v in model.state_dict().items()
    ), f"{label} modified the model it exported; export a copy (copy.deepcopy(model))"
    return facts


def _check_loads(loader: Callable[[Path], Any] | None, path: Path, label: str) -> None:
    """The written file must load (when there is a loader for its suffix)."""
    if loader is None:
        return
    try:
        loader(path)
    except Exception as exc:
        raise AssertionError(
            f"{label}: the written {path.name} does not load: {type(exc).__name__}: {exc}"
        ) from exc


def _check_failure_leaves_nothing(
    built: Any,
    example_inputs: torch.Tensor,
    failing: Path,
    exported: Path,
    label: str,
    context: ExportContext,
) -> None:
    """Export a model whose forward raises to ``failing``: if that fails, it leaves nothing.

    ``exported`` is the earlier, good export in the same folder: the only file that may stay.
    """
    try:
        call_export(built, _RaisingModel(), example_inputs, failing, context)
    except Exception:  # noqa: BLE001 - any failure is expected: the forward raises
        stray = _leftovers(failing.parent, {exported.name})
        assert not stray, (
            f"{label} failed (as it should on a model whose forward raises) but left "
            f"{', '.join(stray)} behind; write through compressor.atomic.atomic_path"
        )
    else:
        failing.unlink(missing_ok=True)  # this exporter never runs the model: nothing to check


class _RaisingModel(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("deliberate failure of compressor.testing.check_exporter")


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def _default_loader(suffix: str) -> Callable[[Path], Any] | None:
    """How a file of ``suffix`` is loaded by default: JSON and ONNX; others are not loaded."""
    if suffix == ".json":
        return lambda path: json.loads(path.read_text(encoding="utf-8"))
    if suffix == ".onnx":

        def load_onnx(path: Path) -> Any:
            import onnx

            onnx.checker.check_model(str(path))
            return onnx.load(str(path))

        return load_onnx
    return None
