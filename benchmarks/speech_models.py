"""Keyword spotting on FSDD: can a student under 50k parameters reach 97% test accuracy, and
how fast does it run in onnxruntime, front-end included?

On the Free Spoken Digit Dataset (``spoken_digits`` with ``root``: the shared 2,000 recordings
of 4 speakers; ``--split index``, the dataset's own split, is the default; ``--split speaker``
holds george out), every candidate model (front-end + network, waveforms in) trains in a plain
PyTorch loop: AdamW, one-cycle learning rate, label smoothing 0.05, a random time shift of up to
10% of the frames and SpecAugment. The front-end has no parameters, so the loop computes every
clip's log-mel once with the model's own front-end and trains the rest of the model on them
(``KeywordSpotter.classify``): the same model as trained on waveforms, at about half the cost on
this busy machine. The epoch with the best
validation accuracy is kept; its test accuracy is reported. Each kept model is exported with
the TorchScript ONNX exporter (its front-end's nodes named ``/frontend/...``), checked against
PyTorch, quantized to static INT8 QDQ (per channel, after ``quant_pre_process``, 128 training
clips to calibrate) with every ``/frontend/`` node left in float, and both files are timed in
onnxruntime at batch 1 and one intra-op thread, every file interleaved over several rounds
(p50 of all calls).

Arms: the candidate models; they differ only in the network after the front-end (the same
loop, epochs, data and timing).

Goals: test accuracy >= 97% with fewer than 50k parameters; p50 <= 0.5 ms.

Usage:
    python benchmarks/speech_models.py                      # a few minutes on 2 shared cores
    python benchmarks/speech_models.py --models bc_resnet_1 --epochs 20 --split speaker
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from compressor_audio import compressor_register_models
from compressor_audio.dataset_options import SpokenDigitsOptions
from compressor_audio.datasets.spoken_digits import load_spoken_digits
from compressor_audio.quantize_check import export_fp32, quantize_int8
from torch import nn

from compressor.bench.session import make_session
from compressor.bench.timing import Cell, time_cells
from compressor.data.audio import AudioPreprocessing
from compressor.model.pruning import measure

FSDD = "/work/shared/data/fsdd/recordings"
RATE = 8000
#: The front-end every candidate shares: 32 ms windows, 16 ms hop, 40 mel bins.
FRONTEND = {"sample_rate": RATE, "n_fft": 256, "hop": 128, "n_mels": 40}
SPEC_AUGMENT = {"freq_masks": 2, "freq_width": 4, "time_masks": 2, "time_width": 6}
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "ds_cnn_s": ("ds_cnn", {"size": "S"}),
    "ds_cnn_32": ("ds_cnn", {"size": "S", "channels": 32}),
    "bc_resnet_1": ("bc_resnet", {"scale": 1.0}),
    "bc_resnet_1_bn": ("bc_resnet", {"scale": 1.0, "sub_bands": 1}),
    "bc_resnet_1.5": ("bc_resnet", {"scale": 1.5}),
    "bc_resnet_2_bn": ("bc_resnet", {"scale": 2.0, "sub_bands": 1}),
}
PARAMS_GOAL, ACCURACY_GOAL, LATENCY_GOAL_MS = 50_000, 0.97, 0.5


def waves(split: Any, steps: AudioPreprocessing) -> tuple[torch.Tensor, torch.Tensor]:
    """Every clip of ``split`` as the model's input, and the labels."""
    x = torch.stack([steps(split[i][0]) for i in range(len(split))])
    return x, torch.from_numpy(split.targets.copy())


def build(name: str, samples: int, classes: int) -> nn.Module:
    """Candidate ``name`` through its registered model plugin."""
    plugin, extra = CANDIDATES[name]
    record = next(r for r in compressor_register_models() if r.name == plugin)
    options = record.options.model_validate({**FRONTEND, **extra, "spec_augment": SPEC_AUGMENT})
    model: nn.Module = record.build(options, input_shape=(samples,), num_classes=classes)
    return model


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def frame_shift(features: torch.Tensor, most: int, generator: torch.Generator) -> torch.Tensor:
    """Each spectrogram ``(n_mels, frames)`` moved up to ``most`` frames either way, the frames
    shifted in set to the spectrogram's minimum (silence)."""
    n, _, frames = features.shape
    shifts = torch.randint(-most, most + 1, (n, 1), generator=generator)
    source = torch.arange(frames)[None, :] - shifts
    inside = (source >= 0) & (source < frames)
    picked = features.gather(2, source.clamp(0, frames - 1)[:, None, :].expand_as(features))
    floor = features.amin(dim=(1, 2), keepdim=True)
    return torch.where(inside[:, None, :], picked, floor)


def train(
    model: Any, data: dict[str, tuple[torch.Tensor, torch.Tensor]], args: argparse.Namespace
) -> dict[str, Any]:
    """Train ``model`` in place; keep (load) the best validation epoch's weights."""
    x, y = data["train"]
    with torch.no_grad():
        features = model.frontend(x)
    steps_per_epoch = -(-len(x) // args.batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch
    )
    generator = torch.Generator().manual_seed(args.seed)
    most = max(1, features.shape[2] // 10)
    best = (-1.0, 0, copy.deepcopy(model.state_dict()))
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for rows in torch.randperm(len(x), generator=generator).split(args.batch):
            batch = frame_shift(features[rows], most, generator)
            loss = F.cross_entropy(model.classify(batch), y[rows], label_smoothing=0.05)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        val = accuracy(model, *data["val"])
        if val > best[0]:
            best = (val, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    return {
        "val_accuracy": best[0],
        "best_epoch": best[1],
        "train_seconds": round(time.perf_counter() - started, 1),
    }


def onnx_accuracy(session: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of an onnxruntime session, batch by batch."""
    name = session.get_inputs()[0].name
    hits = 0
    for rows in torch.arange(len(x)).split(256):
        logits = session.run(None, {name: x[rows].numpy()})[0]
        hits += int((logits.argmax(1) == y[rows].numpy()).sum())
    return hits / len(x)


def evaluate(
    name: str, data: dict[str, Any], args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """Train, export, quantize and score candidate ``name``; its files go into ``folder``."""
    torch.manual_seed(args.seed)
    x_train = data["train"][0]
    model = build(name, x_train.shape[1], args.classes)
    macs, params = measure(model.eval(), x_train[:1])
    figures: dict[str, Any] = {"params": params, "network_macs": macs, **train(model, data, args)}
    figures["test_accuracy"] = accuracy(model, *data["test"])
    fp32, int8 = folder / f"{name}.onnx", folder / f"{name}.int8.onnx"
    figures["onnx_max_abs_diff"] = export_fp32(model.eval(), data["test"][0][:8], fp32)
    figures["kept_float"] = quantize_int8(fp32, int8, x_train[:128].numpy())
    for kind, path in (("fp32", fp32), ("int8", int8)):
        session = make_session(path, threads=1)
        figures[f"{kind}_test_accuracy"] = onnx_accuracy(session, *data["test"])
        figures[f"{kind}_bytes"] = path.stat().st_size
    print(f"{name}: {json.dumps(figures)}", flush=True)
    return figures


def latencies(names: list[str], folder: Path, example: np.ndarray, rounds: int) -> dict[str, float]:
    """p50 ms per file at batch 1, one thread, every file interleaved over ``rounds``."""
    cells = [
        Cell(make_session(folder / f"{name}{suffix}.onnx", threads=1), example, (name, kind))
        for name in names
        for kind, suffix in (("fp32", ""), ("int8", ".int8"))
    ]
    summaries = time_cells(cells, warmup=50, repeat=400, min_seconds=1.0, rounds=rounds)
    return {f"{c.key[0]}/{c.key[1]}": s["p50"] for c, s in zip(cells, summaries, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=FSDD, help="FSDD recordings folder")
    parser.add_argument("--split", choices=["index", "speaker"], default="index")
    parser.add_argument("--models", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "speech_models.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = load_spoken_digits(
        SpokenDigitsOptions(root=args.root, split=args.split), seed=args.seed
    )
    steps = AudioPreprocessing.from_seconds(args.clip_seconds, sample_rate=RATE)
    data = {name: waves(bundle.split(name), steps) for name in ("train", "val", "test")}
    args.classes = bundle.num_classes
    print(f"FSDD split {args.split}: " + ", ".join(f"{k} {len(v[1])}" for k, v in data.items()))
    results: dict[str, Any] = {
        "split": args.split,
        "clip_samples": steps.clip_samples,
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.models:
            results["models"][name] = evaluate(name, data, args, folder)
        example = data["test"][0][:1].numpy()
        for key, p50 in latencies(args.models, folder, example, args.rounds).items():
            name, kind = key.split("/")
            results["models"][name][f"{kind}_p50_ms"] = round(p50, 4)
    print("| model | params | test acc | INT8 test acc | FP32 p50 ms | INT8 p50 ms | goals |")
    print("|---|---|---|---|---|---|---|")
    for name, f in results["models"].items():
        met = f["params"] < PARAMS_GOAL and f["test_accuracy"] >= ACCURACY_GOAL
        fast = min(f["fp32_p50_ms"], f["int8_p50_ms"]) <= LATENCY_GOAL_MS
        print(
            f"| {name} | {f['params']:,} | {f['test_accuracy']:.1%} | {f['int8_test_accuracy']:.1%} "
            f"| {f['fp32_p50_ms']:.3f} | {f['int8_p50_ms']:.3f} | "
            f"{'accuracy' if met else '-'} {'latency' if fast else '-'} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
