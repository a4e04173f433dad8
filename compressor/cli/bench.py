"""``compressor bench MODEL.onnx``: benchmark any ONNX file by itself, as the stage would.

The same measurements as the ``benchmark`` stage
(:func:`compressor.bench.files.benchmark_files` and the machine's limits), with the dataset
named on the command line: accuracy when the dataset's samples fit the model's input, a clear
error when they do not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from compressor.errors import UsageError, one_line


def parse_counts(text: str | None, flag: str) -> list[int] | None:
    """``"1,64"`` -> ``[1, 64]``; ``None`` stays ``None``.

    Raises:
        UsageError: A part is not a positive integer.
    """
    if text is None:
        return None
    values = []
    for part in text.split(","):
        part = part.strip()
        # ASCII digits only: str.isdigit() also accepts '¹', which int() refuses.
        if not re.fullmatch(r"[0-9]+", part) or int(part) < 1:
            raise UsageError(
                f"{flag} {text!r}: expected positive integers separated by commas, e.g. 1,64"
            )
        values.append(int(part))
    return values


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["root=~/data", "limit=500"]`` -> ``{"root": "~/data", "limit": 500}`` (YAML values)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--data-option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def load_dataset(registry: Any, name: str, options: dict[str, Any]) -> Any:
    """Build dataset ``name`` with ``options`` validated by its own schema, as a run would
    serve it with the default ``data`` settings (in memory when it fits, else streamed)."""
    from pydantic import ValidationError

    from compressor.data import prepare_bundle
    from compressor.recipe import recipe_error

    record = registry.get("dataset", name)
    try:
        parsed = record.options.model_validate(options)
    except ValidationError as error:
        raise recipe_error(error, record.options, "--data-option") from None
    return prepare_bundle(record.build(parsed, seed=0))


def _synthetic_split(spec: Any) -> Any:
    """Random samples of the model's input shape, for timing a model without a dataset."""
    import torch

    from compressor.data import Split

    if not all(isinstance(d, int) for d in spec.sample_shape):
        dims = ", ".join(str(d) for d in spec.shape)
        raise UsageError(
            f"the model's input [{dims}] has symbolic sample dimensions; give --dataset to "
            "benchmark it on real samples"
        )
    x = torch.randn(64, *spec.sample_shape, generator=torch.Generator().manual_seed(0))
    return Split(x=x, y=torch.zeros(64, dtype=torch.long))


def run_bench(
    model: Path,
    *,
    registry: Any,
    dataset: str | None,
    data_options: dict[str, Any],
    split: str = "test",
    batch_sizes: list[int] | None = None,
    threads: list[int] | None = None,
    warmup: int = 10,
    repeat: int = 100,
    min_seconds: float = 0.5,
    rounds: int = 5,
    device: str = "cpu",
) -> dict[str, Any]:
    """Benchmark one ONNX file; return everything measured, JSON-ready.

    Raises:
        UsageError: The file is missing or not ONNX, the dataset is unknown, or its samples do
            not fit the model's input.
    """
    from compressor.bench.files import benchmark_files
    from compressor.bench.limits import limits_figures
    from compressor.bench.session import available_providers
    from compressor.onnx.inspection import check_sample_shape, describe_file, input_spec, load_onnx

    described = describe_file(model)  # a broken file fails here, before a dataset loads
    spec = input_spec(load_onnx(model))
    if dataset is not None:
        bundle = load_dataset(registry, dataset, data_options)
        check_sample_shape(spec, bundle.input_shape, f"dataset {dataset!r}", model.name)
        data, mean, std = bundle.split(split), bundle.mean, bundle.std
    else:
        data, mean, std = _synthetic_split(spec), (0.5,), (0.25,)
    batches = batch_sizes or ([spec.fixed_batch] if spec.fixed_batch else [1, 64])
    counts: list[int | None] = list(threads) if threads else [None]
    try:
        results, limits = benchmark_files(
            {model.name: model},
            data,
            mean=mean,
            std=std,
            batch_sizes=batches,
            threads=counts,
            providers=available_providers(device),
            warmup=warmup,
            repeat=repeat,
            min_seconds=min_seconds,
            rounds=rounds,
            limits=True,
        )
    except Exception as error:
        # A file that parses as ONNX can still be unrunnable (an unknown operator, a broken
        # graph): onnxruntime's own errors mean the input is wrong, not compressor.
        if not type(error).__module__.startswith("onnxruntime"):
            raise
        raise UsageError(
            f"{model}: onnxruntime cannot run this model ({one_line(error, 200)})"
        ) from None
    measured = results[model.name]
    if dataset is None:
        measured["accuracy"] = None  # random inputs: timing only
    macs = described["macs"]
    return {
        "model": str(model),
        "dataset": dataset,
        "split": split if dataset else None,
        **measured,
        "params": described["params"],
        "macs": macs,
        "metadata": described["metadata"],
        "limits": limits,
        "vs_limits": limits_figures(measured, limits, macs),
    }


def print_bench(result: dict[str, Any], console: Any) -> None:
    """The result as a summary and one table row per timed cell."""
    from rich import box
    from rich.table import Table

    from compressor.bench.timing import UNSTABLE_SPREAD, thread_label
    from compressor.report.format import (
        format_bytes,
        format_count,
        format_limits,
        format_percent,
        format_spread,
    )

    accuracy = result.get("accuracy")
    where = f" on {result['dataset']} ({result['split']})" if result.get("dataset") else ""
    console.print(
        f"[bold]{result['model']}[/]: input {result['input']['dtype']} {result['input']['shape']}"
        + (", normalized inside the graph" if result["input"]["embedded"] else "")
    )
    console.print(
        "accuracy" + where + f": {format_percent(accuracy)}; "
        f"params {format_count(result.get('params'))}, MACs {format_count(result.get('macs'))}, "
        f"file {format_bytes(result.get('file_bytes'))}"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    columns = (
        "provider",
        "threads",
        "batch",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "per s",
        "rounds apart",
    )
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    unstable = False
    for g in result["grid"]:
        spread = g.get("round_spread", 0.0)
        unstable = unstable or spread > UNSTABLE_SPREAD
        table.add_row(
            g["provider"],
            thread_label(g["threads"]),
            str(g["batch"]),
            f"{g['p50']:.4f}",
            f"{g['p90']:.4f}",
            f"{g['p99']:.4f}",
            f"{g['throughput_per_s']:,.0f}",
            format_spread(spread),
        )
    console.print(table)
    if unstable:
        console.print(
            f"⚠ rounds more than {100 * UNSTABLE_SPREAD:.0f}% apart: the machine's load changed "
            "while timing; these figures will not repeat"
        )
    for label, v in result["limits"].items():
        console.print(f"limits, {format_limits(label, v)}")
    lim = result["vs_limits"]
    if lim.get("latency_vs_floor") is not None:
        gflops = lim.get("gflops")
        console.print(
            f"batch {lim['latency_batch']} latency = {lim['latency_vs_floor']:.1f}× the floor"
            + (
                f"; {gflops:.1f} GFLOP/s at batch {lim['gflops_batch']} = "
                f"{100 * lim['peak_fraction']:.0f}% of the MatMul peak"
                if gflops is not None
                else ""
            )
        )


def register(commands: Any, common: Any) -> None:
    """Add the ``bench`` command to the ``compressor`` parser's subcommands."""
    parser = commands.add_parser(
        "bench",
        parents=[common],
        help="benchmark any ONNX file in onnxruntime",
        description="Accuracy on a dataset (when its samples fit the model's input), latency "
        "percentiles and throughput per batch size and thread count, params, MACs, file size, "
        "and how close the model runs to this machine's limits (docs/deployment.md).",
    )
    parser.add_argument("model", type=Path, metavar="MODEL.onnx", help="the ONNX file")
    parser.add_argument(
        "--dataset",
        default=None,
        metavar="NAME",
        help="a dataset plugin (accuracy, real inputs); without it: random inputs, timing only",
    )
    parser.add_argument(
        "--data-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dataset option (repeatable), e.g. root=~/mnist",
    )
    parser.add_argument("--split", choices=["test", "val", "train"], default="test")
    parser.add_argument(
        "--batch", default=None, metavar="B[,B...]", help="batch sizes, e.g. 1,64 (default: 1,64)"
    )
    parser.add_argument(
        "--threads",
        default=None,
        metavar="T[,T...]",
        help="intra-op thread counts, e.g. 1,2 (default: onnxruntime's)",
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    parser.add_argument(
        "--repeat", type=int, default=100, help="at least this many timed calls (default 100)"
    )
    parser.add_argument(
        "--min-seconds", type=float, default=0.5, help="and at least this long (default 0.5)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="interleaved rounds the timed calls are spread over (default 5)",
    )
    parser.add_argument(
        "--device", default="cpu", help="cpu, or cuda to time the CUDA provider too when present"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=bench)


def bench(args: Any) -> int:
    """Benchmark the file; print a summary and the table of cells, or JSON with ``--json``."""
    import json

    from compressor.cli.common import registry_for

    result = run_bench(
        args.model,
        registry=registry_for(args) if args.dataset else None,
        dataset=args.dataset,
        data_options=parse_options(args.data_option),
        split=args.split,
        batch_sizes=parse_counts(args.batch, "--batch"),
        threads=parse_counts(args.threads, "--threads"),
        warmup=args.warmup,
        repeat=args.repeat,
        min_seconds=args.min_seconds,
        rounds=args.rounds,
        device=args.device,
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    from rich.console import Console

    print_bench(result, Console())
    return 0
