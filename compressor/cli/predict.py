"""``compressor predict MODEL.onnx INPUT...``: run an exported model on files, as training did.

Reads nothing but the file: its ``metadata_props`` say what an input is (the modality: image
files today), how training prepared each one (:mod:`compressor.onnx.deployment`), and which task
reads the outputs (``task``: the top classes of a classifier, a detector's boxes mapped back onto
the original image). onnxruntime runs the graph; PIL and numpy do the rest. No recipe, no run
folder, no torch.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compressor.errors import UsageError


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``predict`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "predict",
        parents=[common],
        help="run an exported ONNX model on image or audio files: classes, or detected boxes",
        description="Prepare each input exactly as training did (an image's channels, resize, "
        "crop, scale and normalization; an audio clip's downmix, resampling and length), from "
        "the preprocessing the export recorded in the file, run it, "
        "and print what the model's task reads from the outputs: the top classes with their "
        "probabilities, or each detected object's class, score and box in the original "
        "image's pixels.",
    )
    parser.add_argument("model", type=Path, metavar="MODEL.onnx", help="an exported ONNX file")
    parser.add_argument(
        "inputs",
        type=Path,
        nargs="+",
        metavar="INPUT",
        help="input files: images (PNG, JPEG, ...) or audio clips (WAV, FLAC, OGG), as the "
        "model was trained on",
    )
    parser.add_argument(
        "--top-k", type=int, default=3, metavar="K", help="classes shown per input (default 3)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="S",
        help="detection: keep boxes scoring at least S (default: the file's score_threshold)",
    )
    parser.add_argument(
        "--draw",
        type=Path,
        default=None,
        metavar="DIR",
        help="detection: write each image with its boxes drawn to DIR/NAME.png",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=predict)


@dataclass
class Loaded:
    """An exported file, ready to predict with.

    Attributes:
        session: Its onnxruntime session.
        reader: Prepares an input file as training did (``read(path) -> (input, size)``).
        task: The task that reads the outputs (:class:`compressor.task.Task`).
        recorded: The metadata the task reads: its own entries, ``class_names``,
            ``model_input`` (the graph input's spatial size).
    """

    session: Any
    reader: Any
    task: Any
    recorded: dict[str, Any]


def _task(name: str, path: Path) -> Any:
    """The registered task ``name`` with its default options.

    Raises:
        UsageError: No installed plugin registers it.
    """
    from compressor.errors import UnknownNameError
    from compressor.plugin.registry import Registry

    try:
        return Registry.load().get("task", name).build(None)
    except UnknownNameError as error:
        raise UsageError(f"{path}: made for task {name!r}, which {error}") from None


def load_model(path: Path) -> Loaded:
    """An onnxruntime session for ``path``, how to read its inputs, and its task.

    Raises:
        UsageError: ``path`` is missing, is not an ONNX model, has no compressor
            preprocessing metadata, or names a modality or task this installation lacks.
    """
    import onnxruntime as ort

    from compressor.onnx.deployment import read_preprocessing

    if not path.is_file():
        raise UsageError(f"{path}: no such file; MODEL.onnx must be an exported ONNX file")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types for bad files
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{path}: not an ONNX model onnxruntime can load ({first})") from None
    meta = session.get_modelmeta().custom_metadata_map
    reader = read_preprocessing(meta, str(path))
    recorded: dict[str, Any] = json.loads(meta.get("task_metadata", "{}"))
    recorded["class_names"] = reader.class_names
    shape = json.loads(meta.get("input_shape", "[]"))
    recorded["model_input"] = [int(v) for v in shape[-2:]] if len(shape) >= 3 else []
    return Loaded(session, reader, _task(meta.get("task", "classification"), path), recorded)


def run_predict(
    model: Path, inputs: list[Path], top_k: int, threshold: float | None = None
) -> list[dict[str, Any]]:
    """What the model's task reads from its outputs on each input, as JSON-ready rows.

    Returns:
        One row per input: ``{"image": PATH, "top": [{"class", "index", "probability"}, ...]}``
        for a classifier, ``{"image": PATH, "detections": [{"box", "class", "index",
        "score"}, ...]}`` for a detector (boxes in the original image's pixels).

    Raises:
        UsageError: A bad model file (see :func:`load_model`), an unreadable input, or a
            ``top_k`` below 1.
    """
    if top_k < 1:
        raise UsageError(f"--top-k {top_k}: expected a number of classes, 1 or more")
    return predictions(load_model(model), inputs, top_k, threshold)


def predictions(
    loaded: Loaded, inputs: list[Path], top_k: int, threshold: float | None = None
) -> list[dict[str, Any]]:
    """:func:`run_predict` with the model already loaded."""
    name = loaded.session.get_inputs()[0].name
    rows = []
    for path in inputs:
        x, size = loaded.reader.read(path)
        outputs = loaded.session.run(None, {name: x})
        recorded = {**loaded.recorded, "input_size": [list(size) if size else []]}
        if threshold is not None:
            recorded["threshold"] = threshold
        (prediction,) = loaded.task.predictions(outputs, recorded, top=top_k)
        rows.append({"image": str(path), **prediction})
    return rows


def draw(rows: list[dict[str, Any]], folder: Path) -> None:
    """Each image with its detected boxes drawn, as ``folder/NAME.png``, written atomically.

    Raises:
        UsageError: The model's predictions have no boxes to draw.
    """
    from PIL import Image, ImageDraw

    from compressor.atomic import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if "detections" not in row:
            raise UsageError("--draw: this model predicts no boxes (it is not a detector)")
        with Image.open(row["image"]) as opened:
            image = opened.convert("RGB")
        pen = ImageDraw.Draw(image)
        for found in row["detections"]:
            pen.rectangle(found["box"], outline=(255, 40, 40), width=2)
            pen.text((found["box"][0] + 2, found["box"][1] + 1), found["class"], fill=(255, 40, 40))
        with atomic_path(folder / f"{Path(row['image']).stem}.png") as tmp:
            image.save(tmp, format="PNG")


def predict(args: argparse.Namespace) -> int:
    """Print each input's prediction: a table, or JSON with ``--json``."""
    if args.top_k < 1:
        raise UsageError(f"--top-k {args.top_k}: expected a number of classes, 1 or more")
    loaded = load_model(args.model)
    rows = predictions(loaded, list(args.inputs), args.top_k, args.threshold)
    if args.draw is not None:
        draw(rows, args.draw)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    task = loaded.task
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("image", overflow="fold")  # a long path wraps whole, never cut short
    for column in task.table_columns:
        table.add_column(column, justify="left" if column in ("class", "box") else "right")
    for row in rows:
        cells = task.table(row) or [["—"] * len(task.table_columns)]
        for index, cell in enumerate(cells):
            table.add_row(row["image"] if index == 0 else "", *cell)
    Console().print(table)
    return 0
