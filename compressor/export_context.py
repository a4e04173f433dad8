"""What an exporter is told about the model it writes, beyond the model itself.

A deployment engineer gets only the exported file, so the exporter needs what the file must
carry: how inputs were normalized (to embed it or to record it), the class names, and which
recipe produced it. The ``export`` stage builds one :class:`ExportContext` per model and passes
it as ``context=`` to exporters whose ``export`` accepts that keyword; older exporters with the
three-argument signature keep working (see :func:`call_export`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ExportContext:
    """Facts about the data and the run that an exported file should carry.

    Attributes:
        input_shape: Shape of one input sample, e.g. ``(1, 28, 28)``.
        mean: Per-channel mean subtracted from inputs, in the 0..1 pixel scale.
        std: Per-channel standard deviation inputs were divided by, in the 0..1 scale.
        class_names: One name per output class.
        dataset: The dataset's registered name.
        recipe_name: The recipe's ``name``.
        recipe_hash: :func:`recipe_hash` of the resolved recipe.
        artifact: The model artifact being exported (``student``).
        preprocessing: The run's deployment preprocessing,
            :meth:`compressor.data.Preprocessing.describe` (resize, interpolation, center
            crop, value range, mean, std); ``None``: unknown (normalization alone is recorded).
        task: The run's task (:mod:`compressor.task`); the model given to the exporter is the
            task's deployed form.
        outputs: The names of the deployed form's outputs, in order: the file's outputs.
        task_metadata: What the task records about itself (:meth:`compressor.task.Task.metadata`:
            a detector's postprocessing), for ``compressor predict``.
        modality: What an input is (``image``, ``audio``), for ``compressor predict``.
        keep_float: Node-name scopes (``/frontend/``) of the modules that must stay float
            when the file is quantized (models say which in ``float_modules``); the file
            records them for the ``quantize`` stage.
    """

    input_shape: tuple[int, ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    class_names: tuple[str, ...] = ()
    dataset: str = ""
    recipe_name: str = ""
    recipe_hash: str = ""
    artifact: str = ""
    preprocessing: dict[str, Any] | None = None
    task: str = "classification"
    outputs: tuple[str, ...] = ("logits",)
    task_metadata: dict[str, Any] | None = None
    modality: str = "image"
    keep_float: tuple[str, ...] = ()


def float_scopes(model: Any) -> tuple[str, ...]:
    """The ONNX node-name scopes of ``model``'s modules that must stay float under INT8.

    A module lists the names of its children that must stay float in a ``float_modules``
    attribute (a keyword spotter's ``("frontend",)``); an exporter names a module's nodes by
    its path (``/frontend/Conv``, ``/model/frontend/Log`` inside a wrapper).
    """
    scopes = []
    for path, module in model.named_modules():
        for name in getattr(module, "float_modules", ()):
            qualified = f"{path}.{name}" if path else name
            scopes.append("/" + qualified.replace(".", "/") + "/")
    return tuple(scopes)


def recipe_hash(resolved: Any) -> str:
    """A short, stable fingerprint of a resolved recipe (every default filled in).

    Keys are sorted, so two recipes that differ only in key order hash alike; any change of a
    value changes the hash. 16 hex digits of SHA-256: enough to tell runs apart by eye.

    Example:
        >>> recipe_hash({"name": "a", "seed": 0}) == recipe_hash({"seed": 0, "name": "a"})
        True
    """
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def run_recipe_hash(run_dir: Path, recipe: Any = None) -> str:
    """The hash of the recipe a run executes.

    The pipeline writes the resolved recipe to ``recipe.yaml`` before any stage runs, so that
    file is hashed: it is what the run folder documents. Without it (a stage run by hand), the
    validated recipe object is hashed instead; ``""`` when there is nothing to hash.
    """
    import yaml

    path = Path(run_dir) / "recipe.yaml"
    if path.is_file():
        return recipe_hash(yaml.safe_load(path.read_text(encoding="utf-8")))
    dump = getattr(recipe, "model_dump", None)
    return recipe_hash(dump(mode="json")) if callable(dump) else ""


def accepts_context(export: Any) -> bool:
    """Whether an exporter's ``export`` method takes the ``context`` keyword."""
    try:
        parameters = inspect.signature(export).parameters.values()
    except (TypeError, ValueError):  # builtins or C callables without a signature
        return False
    return any(p.name == "context" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def call_export(
    exporter: Any, model: Any, example_inputs: Any, path: Path, context: ExportContext
) -> dict[str, Any]:
    """Call ``exporter.export``, passing ``context`` only to exporters that accept it."""
    if accepts_context(exporter.export):
        return exporter.export(model, example_inputs, path, context=context)
    return exporter.export(model, example_inputs, path)
