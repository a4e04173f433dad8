"""Is ``width: 0.5`` really "ResNet-18 at half width"? Sizes and onnxruntime latency.

The ``width`` section of ``benchmarks/models.py`` (``--section width``); runnable alone too.

One measurement, in one run on this machine: torchvision ResNet-18 built from two model entries,
``torchvision.resnet18`` and ``{name: torchvision.resnet18, width: 0.5}``, for 3x224x224 inputs
and 10 classes, exactly as a recipe builds them (:func:`compressor.model.building.build_model`),
exported to ONNX and timed in onnxruntime at batch 1, the two models interleaved over several
rounds (medians of every call). Goal: parameters and MACs about 4x fewer, latency at least
2.5x lower at batch 1.

Arms: ``full`` (``torchvision.resnet18``) and ``width 0.5`` (the same entry with ``width:
0.5``): the same builder, input, exporter and timing rounds; they differ only in the channel
counts.

Usage:
    python benchmarks/models_width.py              # about a minute on 2 cores
    python benchmarks/models_width.py --threads 2 --rounds 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from compressor.bench.session import make_session
from compressor.bench.timing import Cell, time_cells
from compressor.model.building import build_model
from compressor.model.pruning import measure
from compressor.plugin.registry import Registry
from compressor.recipe.resolve import resolve_refs
from compressor.schemas import ModelRef

#: One input of the measurement: an ImageNet-sized RGB image.
INPUT_SHAPE = (3, 224, 224)
#: Goals of the issue.
SIZE_RATIO_AROUND = 4.0
LATENCY_RATIO_AT_LEAST = 2.5


def _model(registry: Registry, entry: Any) -> torch.nn.Module:
    ref = ModelRef.model_validate(entry)
    resolve_refs(ref, registry, "model")
    return build_model(ref, registry, input_shape=INPUT_SHAPE, num_classes=10).model.eval()


def width_figures(registry: Registry, threads: int, rounds: int) -> dict[str, Any]:
    """Build, count, export and time the full and the half-width ResNet-18."""
    torch.manual_seed(0)
    entries = {
        "full": "torchvision.resnet18",
        "half": {"name": "torchvision.resnet18", "width": 0.5},
    }
    models = {name: _model(registry, entry) for name, entry in entries.items()}
    x = torch.randn(1, *INPUT_SHAPE)
    exporter = registry.get("exporter", "onnx")
    figures: dict[str, Any] = {}
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            macs, params = measure(model, x)
            path = Path(tmp) / f"{name}.onnx"
            exporter.build(exporter.options.model_validate({})).export(model, x, path)
            figures[name] = {"params": params, "macs": macs, "bytes": path.stat().st_size}
            cells.append(Cell(make_session(path, threads=threads), x.numpy(), key=name))
        stats = time_cells(cells, warmup=10, repeat=100, min_seconds=6.0, rounds=rounds)
    for cell, stat in zip(cells, stats, strict=True):
        figures[cell.key]["p50_ms"] = stat["p50"]
        figures[cell.key]["round_spread"] = stat["round_spread"]
    return figures


def report(figures: dict[str, Any], threads: int, rounds: int) -> list[str]:
    """The table, the ratios and whether they meet the goals, as lines."""
    full, half = figures["full"], figures["half"]
    lines = []
    lines.append(
        f"\nResNet-18 vs width: 0.5, {'x'.join(map(str, INPUT_SHAPE))} input, 10 classes, "
        f"onnxruntime CPU, batch 1, {threads} intra-op thread(s), {rounds} interleaved rounds"
    )
    lines.append(f"{'':18}{'full':>16}{'width 0.5':>16}{'ratio':>9}")
    for key, label in (
        ("params", "parameters"),
        ("macs", "MACs"),
        ("bytes", "ONNX bytes"),
        ("p50_ms", "p50 ms, batch 1"),
    ):
        style = ",.3f" if key.endswith("_ms") else ",.0f"
        lines.append(
            f"{label:18}{full[key]:>16{style}}{half[key]:>16{style}}{full[key] / half[key]:>8.2f}x"
        )
    sizes = [full[k] / half[k] for k in ("params", "macs")]
    latency = full["p50_ms"] / half["p50_ms"]
    about = all(abs(r - SIZE_RATIO_AROUND) / SIZE_RATIO_AROUND < 0.15 for r in sizes)
    lines.append(
        f"parameters {sizes[0]:.2f}x and MACs {sizes[1]:.2f}x fewer "
        f"({'meets' if about else 'MISSES'} 'about 4x'); latency {latency:.2f}x lower "
        f"({'meets' if latency >= LATENCY_RATIO_AT_LEAST else 'MISSES'} the 2.5x goal)"
    )
    spreads = ", ".join(f"{k} {figures[k]['round_spread']:.0%}" for k in ("full", "half"))
    lines.append(f"round spread (slowest vs fastest round median): {spreads}")
    return lines


def main() -> None:
    """Run the measurement and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved timing rounds")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    figures = width_figures(Registry.load(), args.threads, args.rounds)
    print("\n".join(report(figures, args.threads, args.rounds)))
    print(f"load average (1 min) {before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
