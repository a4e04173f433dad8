"""Mixed precision: fp32 runs untouched, bf16 under autocast."""

from __future__ import annotations

import torch

from compressor.training.precision import PRECISIONS, autocast


def test_fp32_is_no_autocast_and_bf16_computes_in_bfloat16() -> None:
    assert PRECISIONS == ("fp32", "bf16")
    assert not isinstance(autocast("cpu", "fp32"), torch.autocast)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", "fp32"):
        assert (a @ b).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16
