"""Batch augmentation: shifts move content and pad with background; mixing keeps labels honest."""

from __future__ import annotations

import torch

from compressor.augment import Augmenter
from compressor.recipe import AugmentConfig


def _augmenter(**config) -> Augmenter:
    return Augmenter(AugmentConfig(**config), mean=[0.5], std=[0.25], generator=torch.Generator().manual_seed(0))


def test_shift_moves_content_and_fills_background() -> None:
    x = torch.zeros(64, 1, 8, 8)
    x[:, 0, 3, 3] = 9.0
    out = _augmenter(shift=2).shift(x, 2)
    assert out.shape == x.shape
    positions = {tuple(torch.nonzero(o[0] == 9.0)[0].tolist()) for o in out}
    assert len(positions) > 5 and all(1 <= r <= 5 and 1 <= c <= 5 for r, c in positions)
    background = -0.5 / 0.25
    corners = out[:, 0, [0, 0, 7, 7], [0, 7, 0, 7]]
    assert (corners == background).any() and ((corners == 0) | (corners == background)).all()


def test_no_augmentation_passes_through() -> None:
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    augmenter = _augmenter()
    assert not augmenter.active
    out, targets = augmenter(x, y, 4)
    assert out is x and targets is y


def test_mixup_gives_probabilities() -> None:
    x, y = torch.randn(16, 1, 8, 8), torch.arange(16) % 4
    out, targets = _augmenter(mixup=0.4)(x, y, 4)
    assert targets.shape == (16, 4)
    assert torch.allclose(targets.sum(1), torch.ones(16))
    assert not torch.equal(out, x)


def test_cutmix_label_weight_is_the_pasted_area() -> None:
    x = torch.zeros(8, 1, 8, 8)
    x[4:] = 1.0  # two kinds of images: the pasted area is countable
    y = torch.tensor([0] * 4 + [1] * 4)
    augmenter = _augmenter(cutmix=1.0)
    out, targets = augmenter(x, y, 2)
    for image, target, label in zip(out, targets, y, strict=True):
        own = (image == float(label)).float().mean().item()
        assert abs(target[label].item() - own) < 1e-6 or torch.equal(image, x[0] * 0 + float(label))
