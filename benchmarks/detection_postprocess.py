"""Fast NMS or ONNX NonMaxSuppression after a dense detector: parity, latency, quantizability.

Both variants share everything but the suppression (compressor_detection.postprocess): the
``candidates`` best (anchor, class) pairs by one TopK, then either Fast NMS (a broadcast IoU
matrix) or greedy NMS through ``torchvision.ops.nms`` (ONNX NonMaxSuppression), with the
images and classes kept apart by offsetting the boxes (what ``batched_nms`` does when traced).
A tiny conv stands for the model so that the file looks like a detector's to the quantizer.

Printed per variant: the exporter that produced the file, the largest difference from
PyTorch on boxes and scores (batch 3, one image without objects), whether onnxruntime's
``quant_pre_process`` accepts the file, and the median onnxruntime latency (one thread) of
the postprocessing alone (the conv's time measured separately and subtracted), at batch 1 and
8, the two variants interleaved round by round.

Arms: Fast NMS and greedy NMS; they differ only in the suppression step, on the same
candidates, inputs and thread count.

Usage:
    python benchmarks/detection_postprocess.py            # about a minute on 2 cores
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from compressor_detection.postprocess import deployed_form, postprocess, top_candidates
from compressor_exporters import OnnxOptions
from compressor_exporters.torch_onnx import export_onnx
from torch import nn

CLASSES = 10
SIZE = 96
STRIDE = 8
CANDIDATES = 200
ROUNDS = 5
CALLS = 50


class Raw(nn.Module):
    """A conv whose output is read as per-anchor boxes and class scores, with a few objects."""

    def __init__(self, suppression: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4 + CLASSES, 3, stride=STRIDE, padding=1)
        self.suppression = suppression

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raw = self.conv(x).flatten(2).transpose(1, 2)
        corner = torch.sigmoid(raw[..., :2]) * SIZE * 0.7
        size = torch.sigmoid(raw[..., 2:4]) * SIZE * 0.3 + 4
        boxes = torch.cat([corner, corner + size], -1)
        # Most scores low, as a trained detector's are; the input decides which are high.
        scores = torch.sigmoid(raw[..., 4:] * 4 - 6)
        if self.suppression == "none":
            return boxes, scores
        if self.suppression == "fast":
            return postprocess(boxes, scores, candidates=CANDIDATES)
        return greedy(boxes, scores)


def greedy(boxes: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Greedy NMS per image and class through torchvision.ops.nms (NonMaxSuppression)."""
    chosen, best, classes = top_candidates(boxes, scores, CANDIDATES)
    n, k = best.shape
    image = torch.arange(n).unsqueeze(1).expand(n, k)
    offsets = ((image * CLASSES + classes) * (SIZE + 1)).to(chosen.dtype)
    keep_index = torchvision.ops.nms(
        (chosen + offsets.unsqueeze(-1)).reshape(-1, 4), best.flatten(), 0.5
    )
    keep = torch.zeros(n * k, dtype=best.dtype).index_fill(0, keep_index, 1.0).reshape(n, k) > 0
    return deployed_form(chosen, best, classes, keep, max_detections=100, score_threshold=0.05)


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export(model: nn.Module, folder: Path, name: str) -> tuple[Path, str]:
    path = folder / f"{name}.onnx"
    trace = torch.randn(2, 3, SIZE, SIZE)
    method, _ = export_onnx(model.eval(), trace, path, OnnxOptions(), [])
    return path, method


def parity(model: nn.Module, sess: ort.InferenceSession) -> tuple[float, float]:
    torch.manual_seed(1)
    batch = torch.randn(3, 3, SIZE, SIZE)
    batch[1] = 0.0  # scores from the biases alone, all below 0.05: an image without objects
    with torch.no_grad():
        expected = [t.numpy() for t in model(batch)]
    got = sess.run(None, {"input": batch.numpy()})
    assert (got[2] == expected[2]).all(), "labels differ"
    assert (got[2][1] == -1).all(), "the image without objects has detections"
    return float(np.abs(got[0] - expected[0]).max()), float(np.abs(got[1] - expected[1]).max())


def quantizable(path: Path) -> str:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(path), str(path.with_suffix(".pre.onnx")), skip_symbolic_shape=False)
    except Exception as error:  # noqa: BLE001 - any failure is the answer "no"
        return f"no ({type(error).__name__})"
    return "yes"


def timed(sess: ort.InferenceSession, batch: np.ndarray) -> float:
    for _ in range(20):
        sess.run(None, {"input": batch})
    start = time.perf_counter()
    for _ in range(CALLS):
        sess.run(None, {"input": batch})
    return (time.perf_counter() - start) / CALLS * 1e3


def main() -> None:
    torch.manual_seed(0)
    base = Raw("none")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        sessions = {}
        for name in ("none", "fast", "greedy"):
            model = Raw(name)
            model.load_state_dict(base.state_dict())
            path, method = export(model, folder, name)
            sessions[name] = session(path)
            if name != "none":
                boxes, scores = parity(model, sessions[name])
                print(
                    f"{name}: exporter {method}, parity boxes {boxes:.2e} scores {scores:.2e}, "
                    f"quant_pre_process {quantizable(path)}"
                )
        for batch_size in (1, 8, 32):
            batch = np.random.default_rng(0).normal(size=(batch_size, 3, SIZE, SIZE))
            batch = batch.astype(np.float32)
            times: dict[str, list[float]] = {name: [] for name in sessions}
            for _ in range(ROUNDS):
                for name, sess in sessions.items():
                    times[name].append(timed(sess, batch))
            floor = float(np.median(times["none"]))
            for name in ("fast", "greedy"):
                median = float(np.median(times[name]))
                print(
                    f"batch {batch_size} {name}: {median:.3f} ms in all, "
                    f"{median - floor:.3f} ms postprocessing (model alone {floor:.3f} ms)"
                )


if __name__ == "__main__":
    main()
