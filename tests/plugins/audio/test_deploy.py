"""A keyword spotter in ONNX: dynamic batch, parity, and static INT8 with a float front-end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from compressor_audio import compressor_register_models
from compressor_audio.quantize_check import export_fp32, frontend_nodes, quantize_int8


def test_int8_keeps_the_frontend_in_float_and_agrees(tmp_path: Path) -> None:
    torch.manual_seed(0)
    record = next(r for r in compressor_register_models() if r.name == "ds_cnn")
    options = record.options.model_validate({"sample_rate": 8000, "channels": 16})
    model = record.build(options, input_shape=(4000,), num_classes=4).eval()
    waves = torch.randn(40, 4000) * torch.linspace(0.05, 0.5, 40)[:, None]
    fp32, int8 = tmp_path / "kws.onnx", tmp_path / "kws.int8.onnx"
    assert export_fp32(model, waves[:2], fp32) < 1e-4
    kept = quantize_int8(fp32, int8, waves[:32].numpy())
    # quant_pre_process folds the Constant nodes into initializers and renames nothing else.
    exported = onnx.load(str(fp32)).graph.node
    computing = {n.name for n in exported if n.name in frontend_nodes(onnx.load(str(fp32)))}
    assert set(kept) == {name for name in computing if "/Constant" not in name}
    assert {"/frontend/Conv", "/frontend/MatMul", "/frontend/Log"} <= set(kept)
    graph = onnx.load(str(int8)).graph
    produced_by = {out: node for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    # The front-end's STFT convolution reads its float kernels; the network's read INT8 ones.
    frontend_conv = next(n for n in convs if n.name.startswith("/frontend/"))
    assert frontend_conv.input[1] in {i.name for i in graph.initializer}
    network_convs = [n for n in convs if not n.name.startswith("/frontend/")]
    assert network_convs and all(
        produced_by[n.input[1]].op_type == "DequantizeLinear" for n in network_convs
    )
    frontend_inputs = [i for n in graph.node if n.name.startswith("/frontend/") for i in n.input]
    assert not any(
        i in produced_by and produced_by[i].op_type == "DequantizeLinear" for i in frontend_inputs
    )
    sessions = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, int8)
    ]
    batch = waves[32:].numpy()  # 8 rows: not the traced batch size
    logits = [s.run(None, {"input": batch})[0] for s in sessions]
    assert logits[0].shape == (8, 4)
    np.testing.assert_allclose(logits[0], model(waves[32:]).detach().numpy(), atol=1e-4)
    assert np.corrcoef(logits[0].ravel(), logits[1].ravel())[0, 1] > 0.9
