"""The log-mel front-end against torch.stft and a mel filterbank written out here, in PyTorch
and in onnxruntime; SpecAugment only while training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from compressor_audio.frontend import LogMel, SpecAugment
from compressor_audio.quantize_check import FRONTEND_SCOPE, export_fp32, frontend_nodes


def htk_filterbank(rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK-scale triangles, peak 1, one filter and one bin at a time: (n_fft // 2 + 1, n_mels)."""

    def mel(hz: float) -> float:
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    def hz(m: float) -> float:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    low, high = mel(f_min), mel(f_max)
    edges = [hz(low + (high - low) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    bank = np.zeros((n_fft // 2 + 1, n_mels))
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for k in range(n_fft // 2 + 1):
            f = k * rate / n_fft
            if left < f <= centre:
                bank[k, m] = (f - left) / (centre - left)
            elif centre < f < right:
                bank[k, m] = (right - f) / (right - centre)
    return bank


def reference_log_mel(
    wave: torch.Tensor, rate: int, n_fft: int, hop: int, n_mels: int
) -> torch.Tensor:
    """torch.stft (periodic Hann window, center=False) then the filterbank above and a log."""
    spectrum = (
        torch.stft(
            wave.double(),
            n_fft,
            hop,
            window=torch.hann_window(n_fft, dtype=torch.float64),
            center=False,
            return_complex=True,
        ).abs()
        ** 2
    )
    bank = torch.from_numpy(htk_filterbank(rate, n_fft, n_mels, 20.0, rate / 2))
    return torch.log(bank.T @ spectrum + 1e-6)


@pytest.mark.parametrize(
    ("rate", "n_fft", "hop", "n_mels"), [(8000, 256, 128, 40), (16000, 400, 160, 32)]
)
def test_log_mel_matches_stft_and_an_htk_filterbank(
    rate: int, n_fft: int, hop: int, n_mels: int
) -> None:
    wave = torch.randn(3, rate // 2, generator=torch.Generator().manual_seed(0)) * 0.3
    frontend = LogMel(rate, n_fft=n_fft, hop=hop, n_mels=n_mels, normalize="none")
    got = frontend(wave)
    want = reference_log_mel(wave, rate, n_fft, hop, n_mels)
    assert got.shape == (3, n_mels, 1 + (rate // 2 - n_fft) // hop) == want.shape
    assert torch.allclose(got.double(), want, atol=1e-4)


def test_normalize_standardizes_each_utterance_or_bin_and_nothing_is_trainable() -> None:
    wave = torch.randn(2, 8000) * torch.linspace(0.01, 1.0, 8000)
    features = LogMel(8000, normalize="bin")(wave)
    assert features.shape == (2, 40, 61)
    assert torch.allclose(features.mean(dim=-1), torch.zeros(2, 40), atol=1e-4)
    assert torch.allclose(features.std(dim=-1, correction=0), torch.ones(2, 40), atol=1e-3)
    frontend = LogMel(8000)
    features = frontend(wave)
    assert torch.allclose(features.mean(dim=(1, 2)), torch.zeros(2), atol=1e-4)
    assert torch.allclose(features.flatten(1).std(dim=1, correction=0), torch.ones(2), atol=1e-3)
    # Utterance-wise keeps the spectral shape: the bins' means still differ.
    assert features.mean(dim=-1).std() > 0.1
    assert list(frontend.parameters()) == []
    assert {name for name, _ in frontend.named_buffers()} == {"kernels", "mel"}
    # Bins no filter reads are never computed: DC and Nyquist here.
    assert frontend.kernels.shape == (2 * 127, 1, 256)


def test_a_band_outside_the_sample_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="f_max <= sample_rate / 2"):
        LogMel(8000, f_max=6000.0)


def test_onnx_export_matches_and_names_the_frontend_scope(tmp_path: Path) -> None:
    class Holder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.frontend = LogMel(8000)

        def forward(self, wave: torch.Tensor) -> torch.Tensor:
            return self.frontend(wave).flatten(1)

    model = Holder().eval()
    wave = torch.randn(2, 4000) * 0.2
    path = tmp_path / "frontend.onnx"
    assert export_fp32(model, wave, path) < 1e-4
    names = frontend_nodes(onnx.load(str(path)))
    ops = {name.removeprefix(FRONTEND_SCOPE).split("_")[0] for name in names}
    assert {"Conv", "MatMul", "Log", "ReduceMean"} <= ops
    assert "STFT" not in {n.op_type for n in onnx.load(str(path)).graph.node}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = torch.randn(5, 4000) * 0.2  # another batch size than the trace's
    got = session.run(None, {"input": batch.numpy()})[0]
    np.testing.assert_allclose(got, model(batch).detach().numpy(), atol=1e-4)


def test_spec_augment_masks_bands_in_training_only() -> None:
    augment = SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_width=8)
    features = torch.randn(16, 40, 61) + 10.0
    torch.manual_seed(0)
    masked = augment.train()(features)
    zero = masked == 0.0
    freq_rows = zero.all(dim=2)  # whole mel bins masked
    time_columns = zero.all(dim=1)  # whole frames masked
    assert freq_rows.sum(dim=1).max() <= 2 * 5 and time_columns.sum(dim=1).max() <= 2 * 8
    assert freq_rows.any() and time_columns.any()
    assert torch.equal(masked[~zero], features[~zero])
    assert augment.eval()(features) is features
