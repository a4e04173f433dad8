"""Does structural pruning make models really smaller and faster, and does the teacher heal them?

Two measurements, each in one run on this machine, printed as a table:

1. torchvision resnet18 at a 32x32 input, 50% of channels pruned (magnitude, round_to 8).
   Arms: ``before`` (the model as built) and ``after`` (pruned); they differ only in the
   channels removed. Parameters, MACs, ONNX size, and onnxruntime latency at batch 1 and 64,
   the two files timed in the same interleaved rounds (``compressor.bench.timing.time_cells``,
   as every other benchmark times), on one intra-op thread (``--threads``). Goal: the latency
   speedup is at least 0.7x the MACs speedup.
2. The seed MLP student (784-128-10) distilled from the seed CNN for 60 epochs on the 5,000
   shipped MNIST digits. Arms, both through the prune stage with the very same fine-tuning
   (20 epochs of kd + ce from the teacher, lr 0.0005):

   - ``unpruned``: ratio 0 (no unit removed), then fine-tuned: the control;
   - ``pruned``: half its hidden units removed, then fine-tuned.

   They differ only in the units removed. Goal: at most 0.5 points of held-out (test)
   accuracy lost against the control. (Comparing with the student before its 20 extra epochs
   would credit the fine-tuning's own gain to pruning.)

Usage:
    python benchmarks/pruning.py            # both (about 3 minutes on 2 cores)
    python benchmarks/pruning.py --only resnet
    python benchmarks/pruning.py --only seed
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch
import torch_pruning as tp
import torchvision
from torch import nn

from compressor import recipe
from compressor.bench.session import make_session
from compressor.bench.timing import Cell, time_cells
from compressor.model.pruning import PruneSettings, measure, prune_model
from compressor.plugin.registry import Registry
from compressor.run import pipeline
from compressor.run.progress import Progress


def _export(registry: Registry, model: nn.Module, x: torch.Tensor, path: Path) -> None:
    record = registry.get("exporter", "onnx")
    record.build(record.options.model_validate({})).export(model, x, path)


def resnet_figures(registry: Registry, threads: int = 1) -> dict[str, float]:
    """Prune resnet18 by half; measure everything before and after, on ``threads`` intra-op
    threads (one by default: on a shared machine a second thread that is descheduled stalls
    every call of a small model, and the ratio then measures the load, not the pruning)."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    x = torch.randn(64, 3, 32, 32)
    with tempfile.TemporaryDirectory() as tmp:
        before_path, after_path = Path(tmp) / "before.onnx", Path(tmp) / "after.onnx"
        _export(registry, model, x, before_path)
        pruned = copy.deepcopy(model)
        prune_model(
            pruned,
            importance=tp.importance.GroupMagnitudeImportance(),
            example_inputs=x[:2],
            ignored_layers=[pruned.fc],
            settings=PruneSettings(ratio=0.5, round_to=8),
        )
        _export(registry, pruned, x, after_path)
        rows = {}
        cells = []
        for name, net, path in (("before", model, before_path), ("after", pruned, after_path)):
            macs, params = measure(net, x)
            rows[name] = {"params": params, "macs": macs, "bytes": path.stat().st_size}
            session = make_session(path, threads=threads)
            cells += [
                Cell(session, x[:1].numpy(), key=(name, "p50_b1_ms")),
                Cell(session, x.numpy(), key=(name, "p50_b64_ms")),
            ]
        # Both files in the same interleaved rounds: a burst of load lands on both.
        stats = time_cells(cells, warmup=5, repeat=30, min_seconds=3.0, rounds=6)
        spread = max(figures["round_spread"] for figures in stats)
        for cell, figures in zip(cells, stats, strict=True):
            name, key = cell.key
            rows[name][key] = figures["p50"]
    b, a = rows["before"], rows["after"]
    print(
        "\nresnet18, 32x32 input, 50% channels pruned (magnitude, round_to 8), onnxruntime CPU, "
        f"{threads} thread(s), before and after timed in 6 interleaved rounds (round medians "
        f"within {100 * spread:.0f}% of each other at worst)"
    )
    print(f"{'':20}{'before':>16}{'after':>16}{'ratio':>10}")
    for key, label in (
        ("params", "parameters"),
        ("macs", "MACs"),
        ("bytes", "ONNX bytes"),
        ("p50_b1_ms", "p50 ms, batch 1"),
        ("p50_b64_ms", "p50 ms, batch 64"),
    ):
        style = ",.3f" if key.endswith("_ms") else ",.0f"
        print(f"{label:20}{b[key]:>16{style}}{a[key]:>16{style}}{b[key] / a[key]:>9.2f}x")
    macs_speedup = b["macs"] / a["macs"]
    figures = {
        "macs_speedup": macs_speedup,
        "latency_speedup_b1": b["p50_b1_ms"] / a["p50_b1_ms"],
        "latency_speedup_b64": b["p50_b64_ms"] / a["p50_b64_ms"],
    }
    for batch in ("b1", "b64"):
        share = figures[f"latency_speedup_{batch}"] / macs_speedup
        verdict = "meets" if share >= 0.7 else "MISSES"
        print(
            f"latency speedup {batch}: {figures[f'latency_speedup_{batch}']:.2f}x = "
            f"{share:.2f} of the MACs speedup ({verdict} the 0.7 goal)"
        )
    return figures


SEED_RECIPE = {
    "version": 1,
    "name": "pruning-benchmark",
    "seed": 0,
    "device": "auto",
    "data": {"dataset": "mnist", "batch_size": 64},
    "stages": [
        {
            "name": "teacher",
            "type": "train",
            "epochs": 12,
            "model": {"name": "seed_cnn", "options": {"channels": [32, 64], "hidden": 128}},
        },
        {
            "name": "student",
            "type": "distill",
            "inputs": {"teacher": "teacher"},
            "epochs": 60,
            "model": {"name": "seed_mlp", "options": {"hidden": [128]}},
            "losses": [
                {"name": "kd", "weight": 0.9, "options": {"temperature": 4}},
                {"name": "ce", "weight": 0.1},
            ],
        },
        {
            "name": "unpruned",  # the control: the very same fine-tuning, nothing removed
            "type": "prune",
            "inputs": {"model": "student", "teacher": "teacher"},
            "pruner": {"name": "magnitude"},
            "ratio": 0.0,
            "finetune": {"epochs": 20, "optimizer": {"lr": 0.0005}},
        },
        {
            "name": "pruned",
            "type": "prune",
            "inputs": {"model": "student", "teacher": "teacher"},
            "pruner": {"name": "magnitude"},
            "ratio": 0.5,
            "finetune": {"epochs": 20, "optimizer": {"lr": 0.0005}},
        },
    ],
}


def seed_figures(registry: Registry) -> dict[str, float]:
    """Distill the seed MLP; fine-tune it unpruned and pruned by half, the same 20 epochs."""
    plan = recipe.resolve(copy.deepcopy(SEED_RECIPE), registry)
    with tempfile.TemporaryDirectory() as tmp:
        result = pipeline.run(plan, registry, Path(tmp) / "run", progress=Progress())
    stages = result.metrics["stages"]
    student, control, pruned = stages["student"], stages["unpruned"], stages["pruned"]
    loss = 100 * (control["test_accuracy"] - pruned["test_accuracy"])
    print("\nseed MLP 784-128-10 on the 5,000 shipped MNIST digits (held-out test split)")
    print(
        f"teacher (seed CNN)                       {100 * stages['teacher']['test_accuracy']:.2f}%"
    )
    print(
        f"distilled student (60 epochs)            {100 * student['test_accuracy']:.2f}%  "
        f"{student['params']:,} params"
    )
    print(
        f"unpruned + fine-tuned 20 epochs (control) {100 * control['test_accuracy']:.2f}%  "
        f"{control['params']:,} params"
    )
    print(
        f"pruned, before fine-tune                 {100 * pruned['pruned']['val_accuracy']:.2f}% "
        "(validation)"
    )
    print(
        f"pruned + fine-tuned 20 epochs            {100 * pruned['test_accuracy']:.2f}%  "
        f"{pruned['params']:,} params"
    )
    verdict = "meets" if loss <= 0.5 else "MISSES"
    print(
        f"accuracy lost to pruning (vs the control, same fine-tuning): {loss:+.2f} points "
        f"({verdict} the <= 0.5 goal)"
    )
    unfair = 100 * (student["test_accuracy"] - pruned["test_accuracy"])
    print(f"  (against the student before its 20 extra epochs it would read {unfair:+.2f} points)")
    return {"points_lost": loss}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["resnet", "seed"])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    registry = Registry.load()
    if args.only in (None, "resnet"):
        resnet_figures(registry, args.threads)
    if args.only in (None, "seed"):
        seed_figures(registry)


if __name__ == "__main__":
    main()
