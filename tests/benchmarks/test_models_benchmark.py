"""benchmarks/models.py: its pieces are the library's, not copies that drift."""

from __future__ import annotations

import torch
from torch import nn


def test_batchnorm_recalibration_is_the_library_one_with_dropout_off() -> None:
    import models

    torch.manual_seed(0)
    # A dropout before the norm: the copy this script once had left dropout on, and the
    # running mean came out of the dropped, rescaled activations instead of the data's.
    model = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(4)).train()
    x = torch.randn(512, 4) + 3.0  # two batches of 256, averaged with equal weight
    models.recalibrate_batch_norm(model, x)
    torch.testing.assert_close(model[1].running_mean, x.mean(dim=0), atol=1e-5, rtol=0)
    assert not model.training
