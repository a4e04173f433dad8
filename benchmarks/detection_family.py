"""Does the dense detector family train, distil and deploy on a small CPU?

On 96x96 canvases of 1-3 MNIST digits (10 classes; the test helpers' generator,
tests/plugins/detection/canvases.py), with a plain PyTorch loop on this machine's cores:

1. a teacher ``dense_detector`` trains for ``--teacher-seconds``;
2. a student of the same family (narrower, shallower, same levels) trains for
   ``--student-steps``, once alone (``detection`` loss) and once distilled from the teacher
   (``detection`` + ``dense_kd``);
3. each is scored on held-out canvases in its deployed form (decode + Fast NMS) with the
   task's scorer (mAP@.5 and mAP@[.5:.95]); the teacher's mAP with greedy NMS
   (torchvision.ops.batched_nms) instead of Fast NMS is printed beside it;
4. the teacher and the distilled student are exported to ONNX (the exporter's torch.onnx path)
   raw, deployed with the task's default settings, and deployed with settings fit for 1-3
   objects per image, and timed at batch 1 in onnxruntime (one thread), interleaved round by
   round; medians.

Arms: the teacher, the student alone and the distilled student (the students differ only in
their loss, the same steps and batches), each deployed three ways that differ only in the
postprocessing settings (raw, default, fit for 1-3 objects).

Goals: the teacher reaches a high mAP@.5 (>= 0.9) in a few minutes; the student is >= 4x
faster than the teacher at batch 1.

Usage:
    python benchmarks/detection_family.py                   # ~12 minutes on 2 cores
    python benchmarks/detection_family.py --teacher-file /tmp/teacher.pt   # train once
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from compressor_detection.losses import DenseKDLoss, DetectionLoss
from compressor_detection.metric import DetectionScorer
from compressor_detection.models.dense import DenseDetector, build_dense_detector
from compressor_detection.options import DenseDetectorOptions, DetectionOptions
from compressor_detection.postprocess import deployed_form, top_candidates
from compressor_detection.task import DetectionTask
from compressor_exporters import OnnxOptions
from compressor_exporters.torch_onnx import export_onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.plugins.detection.canvases import MEAN, STD, make_canvases

SIZE = 96
SHAPE = (3, SIZE, SIZE)
TEACHER = DenseDetectorOptions(channels=[16, 32, 64, 128], levels=[8, 16], neck_channels=64)
STUDENT = DenseDetectorOptions(channels=[8, 16, 24, 48], levels=[8, 16], neck_channels=24, depth=0)


def canvases(count: int, seed: int, digits_from: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, targets = make_canvases(count, size=SIZE, seed=seed, digits_from=digits_from)
    return (x - MEAN) / STD, DetectionTask().collate(targets)


def train(
    model: DenseDetector,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    seconds: float = math.inf,
    steps: int = 0,
    teacher: DenseDetector | None = None,
    batch_size: int = 32,
    lr: float = 3e-3,
) -> tuple[int, float]:
    """AdamW, cosine schedule over ``steps`` (or over ``seconds``); (steps, seconds) taken."""
    x, y = data
    supervised = DetectionLoss()
    supervised.bind(model)
    distil = DenseKDLoss(temperature=2.0, box_weight=1.0)
    distil.bind(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    start, step = time.perf_counter(), 0
    generator = torch.Generator().manual_seed(0)
    while True:
        elapsed = time.perf_counter() - start
        progress = step / steps if steps else elapsed / seconds
        if progress >= 1:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 30) * 0.5 * (1 + math.cos(math.pi * progress))
        rows = torch.randint(len(x), (batch_size,), generator=generator)
        raw = model(x[rows])
        loss = supervised(raw, None, y[rows])
        if teacher is not None:
            with torch.no_grad():
                teacher_raw = teacher(x[rows])
            loss = loss + distil(raw, teacher_raw, y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
    model.eval()
    return step, time.perf_counter() - start


def greedy(model: DenseDetector, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The deployed form with greedy NMS (torchvision.ops.batched_nms) instead of Fast NMS."""
    options = DetectionOptions()
    boxes, scores = model.boxes_and_scores(model(x))
    chosen, best, classes = top_candidates(boxes, scores, options.candidates)
    n, k = best.shape
    keep = torch.zeros(n, k, dtype=torch.bool)
    for i in range(n):
        kept = torchvision.ops.batched_nms(chosen[i], best[i], classes[i], options.nms_iou)
        keep[i, kept] = True
    return deployed_form(
        chosen,
        best,
        classes,
        keep,
        max_detections=options.max_detections,
        score_threshold=options.score_threshold,
    )


def score(model: DenseDetector, data: tuple[torch.Tensor, torch.Tensor], fast: bool = True) -> dict:
    task = DetectionTask()
    scorer = DetectionScorer(SHAPE, [str(d) for d in range(10)])
    deployed = task.deployable(model).eval()
    x, y = data
    with torch.no_grad():
        for start in range(0, len(x), 100):
            batch = x[start : start + 100]
            outputs = deployed(batch) if fast else greedy(model, batch)
            scorer.update([o.numpy() for o in outputs], y[start : start + 100].numpy())
    return scorer.compute()


class Raw(torch.nn.Module):
    """The detector alone: its raw output, no decode or NMS."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.model(x)
        return result


def latency(models: dict[str, DenseDetector], rounds: int = 7, calls: int = 100) -> dict:
    """Median batch-1 latency (ms) of each model: raw, deployed with the task's defaults, and
    deployed with settings fit for 1-3 objects (``max_detections`` 20, ``candidates`` 50)."""
    variants = {
        "raw": Raw,
        "deployed": DetectionTask().deployable,
        "deployed (K 20, 50 candidates)": DetectionTask(
            DetectionOptions(max_detections=20, candidates=50)
        ).deployable,
    }
    sessions: dict[tuple[str, str], ort.InferenceSession] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, model in models.items():
            for variant, wrap in variants.items():
                path = Path(scratch) / f"{name}-{len(sessions)}.onnx"
                trace = torch.randn(2, *SHAPE)
                export_onnx(wrap(model).eval(), trace, path, OnnxOptions(), [])
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                sessions[(name, variant)] = ort.InferenceSession(str(path), options)
    batch = np.random.default_rng(0).normal(size=(1, *SHAPE)).astype(np.float32)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in sessions}
    for _ in range(rounds):
        for key, session in sessions.items():
            for _ in range(10):
                session.run(None, {"input": batch})
            start = time.perf_counter()
            for _ in range(calls):
                session.run(None, {"input": batch})
            times[key].append((time.perf_counter() - start) / calls * 1e3)
    return {key: float(np.median(t)) for key, t in times.items()}


def teacher_model(
    args: argparse.Namespace, data: tuple[torch.Tensor, torch.Tensor]
) -> DenseDetector:
    """The teacher: trained for ``--teacher-seconds``, or loaded from ``--teacher-file``."""
    teacher = build_dense_detector(TEACHER, input_shape=SHAPE, num_classes=10)
    if args.teacher_file and Path(args.teacher_file).exists():
        teacher.load_state_dict(torch.load(args.teacher_file))
        print(f"teacher: loaded from {args.teacher_file}")
        return teacher.eval()
    steps, seconds = train(teacher, data, seconds=args.teacher_seconds)
    print(f"teacher: {steps} steps of 32 in {seconds:.0f} s")
    if args.teacher_file:
        torch.save(teacher.state_dict(), args.teacher_file)
    return teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher-seconds", type=float, default=240)
    parser.add_argument("--teacher-file", default="", help="keep/reuse the teacher's weights")
    parser.add_argument("--student-steps", type=int, default=400)
    parser.add_argument("--train", type=int, default=4000, help="training canvases")
    parser.add_argument("--test", type=int, default=500, help="test canvases")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # Training and test canvases share no MNIST digit.
    train_data, test_data = canvases(args.train, 0, "train"), canvases(args.test, 1, "test")
    print(f"torch threads {torch.get_num_threads()}; canvases {args.train} train, {args.test} test")
    teacher = teacher_model(args, train_data)
    fast, greedy_nms = score(teacher, test_data), score(teacher, test_data, fast=False)
    print(
        f"teacher: mAP@.5 {fast['map50']:.3f} mAP {fast['map']:.3f} (greedy NMS: mAP@.5 "
        f"{greedy_nms['map50']:.3f} mAP {greedy_nms['map']:.3f})"
    )
    students = {}
    for name, distilled in (("student", False), ("student+kd", True)):
        torch.manual_seed(1)
        student = build_dense_detector(STUDENT, input_shape=SHAPE, num_classes=10)
        guide = teacher if distilled else None
        steps, seconds = train(student, train_data, steps=args.student_steps, teacher=guide)
        figures = score(student, test_data)
        print(
            f"{name}: {steps} steps in {seconds:.0f} s; mAP@.5 {figures['map50']:.3f} mAP "
            f"{figures['map']:.3f}"
        )
        students[name] = student
    timings = latency({"teacher": teacher, "student": students["student+kd"]})
    for variant in ("raw", "deployed", "deployed (K 20, 50 candidates)"):
        t, s = timings[("teacher", variant)], timings[("student", variant)]
        print(
            f"onnxruntime batch 1, one thread, {variant}: teacher {t:.3f} ms, student {s:.3f} ms: {t / s:.2f}x"
        )


if __name__ == "__main__":
    main()
