"""``compressor predict MODEL.onnx IMAGE...``: classify image files with an exported model.

Reads nothing but the file: its ``metadata_props`` say how training prepared each input
(:mod:`compressor.onnx.deployment`), which is repeated on every image with PIL and numpy, and
onnxruntime runs the graph. No recipe, no run folder, no torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from compressor.errors import UsageError


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``predict`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "predict",
        parents=[common],
        help="classify image files with an exported ONNX model",
        description="Prepare each image exactly as training did (channels, resize, crop, "
        "scale, normalize), from the preprocessing the export recorded in the file, and print "
        "the top classes with their probabilities.",
    )
    parser.add_argument("model", type=Path, metavar="MODEL.onnx", help="an exported ONNX file")
    parser.add_argument(
        "images", type=Path, nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)"
    )
    parser.add_argument(
        "--top-k", type=int, default=3, metavar="K", help="classes shown per image (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=predict)


def load_model(path: Path) -> tuple[Any, Any]:
    """An onnxruntime session for ``path`` and the :class:`Deployment` its metadata records.

    Raises:
        UsageError: ``path`` is missing, is not an ONNX model, or has no compressor
            preprocessing metadata.
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
    return session, read_preprocessing(session.get_modelmeta().custom_metadata_map, str(path))


def softmax(logits: Any) -> Any:
    """Probabilities from one row of logits (numerically stable)."""
    import numpy as np

    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def run_predict(model: Path, images: list[Path], top_k: int) -> list[dict[str, Any]]:
    """The top ``top_k`` classes of each image, as JSON-ready rows.

    Returns:
        One ``{"image", "top": [{"class", "index", "probability"}, ...]}`` per image.

    Raises:
        UsageError: A bad model file (see :func:`load_model`), an unreadable image, or a
            ``top_k`` below 1.
    """
    import numpy as np

    if top_k < 1:
        raise UsageError(f"--top-k {top_k}: expected a number of classes, 1 or more")
    session, deployment = load_model(model)
    name = session.get_inputs()[0].name
    rows = []
    for image in images:
        logits = session.run(None, {name: deployment.prepare(image)})[0][0]
        probabilities = softmax(logits.astype(np.float64))
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        names = deployment.class_names
        rows.append(
            {
                "image": str(image),
                "top": [
                    {
                        "class": names[i] if i < len(names) else f"class {i}",
                        "index": int(i),
                        "probability": float(probabilities[i]),
                    }
                    for i in order
                ],
            }
        )
    return rows


def predict(args: argparse.Namespace) -> int:
    """Print each image's top classes: a table, or JSON with ``--json``."""
    rows = run_predict(args.model, list(args.images), args.top_k)
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("image", overflow="fold")  # a long path wraps whole, never cut short
    table.add_column("rank", justify="right")
    table.add_column("class", overflow="fold")
    table.add_column("probability", justify="right")
    for row in rows:
        for rank, top in enumerate(row["top"], start=1):
            image = row["image"] if rank == 1 else ""
            table.add_row(image, str(rank), top["class"], f"{top['probability']:.3f}")
    Console().print(table)
    return 0
