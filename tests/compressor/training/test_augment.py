"""Batch augmentation: shifts and warps stay within their limits and pad with background;
mixing keeps labels honest."""

from __future__ import annotations

import pytest
import torch

from compressor.recipe import AugmentConfig
from compressor.training.augment import Augmenter

BACKGROUND = -0.5 / 0.25  # a black pixel, normalized with _augmenter's mean and std


def _augmenter(**config) -> Augmenter:
    return Augmenter(
        AugmentConfig(**config), mean=[0.5], std=[0.25], generator=torch.Generator().manual_seed(0)
    )


def test_shift_moves_content_and_fills_background() -> None:
    x = torch.zeros(64, 1, 8, 8)
    x[:, 0, 3, 3] = 9.0
    out = _augmenter(shift=2).shift(x, 2)
    assert out.shape == x.shape
    positions = {tuple(torch.nonzero(o[0] == 9.0)[0].tolist()) for o in out}
    assert len(positions) > 5 and all(1 <= r <= 5 and 1 <= c <= 5 for r, c in positions)
    corners = out[:, 0, [0, 0, 7, 7], [0, 7, 0, 7]]
    assert (corners == BACKGROUND).any() and ((corners == 0) | (corners == BACKGROUND)).all()


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


def _dot(h: int = 28, w: int = 28, at: tuple[int, int] = (6, 14)) -> torch.Tensor:
    """Background images (normalized black) with one bright 2x2 block; one copy per sample."""
    x = torch.full((32, 1, h, w), BACKGROUND)
    x[:, 0, at[0] : at[0] + 2, at[1] : at[1] + 2] = 2.0
    return x


def _centroids(x: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted (row, col) centre of what is above the background, per image."""
    mass = (x[:, 0] - BACKGROUND).clamp(min=0)
    rows = torch.arange(x.shape[2], dtype=x.dtype)[None, :, None]
    cols = torch.arange(x.shape[3], dtype=x.dtype)[None, None, :]
    total = mass.sum((1, 2))
    return torch.stack([(mass * rows).sum((1, 2)) / total, (mass * cols).sum((1, 2)) / total], 1)


def test_warp_without_distortion_is_the_identity() -> None:
    x = torch.randn(4, 1, 28, 28)
    out = _augmenter().warp(x, rotate=0.0, scale=0.0, alpha=0.0, sigma=4.0)
    assert torch.allclose(out, x, atol=1e-5)


@pytest.mark.parametrize(("h", "w"), [(28, 28), (20, 36)])
def test_rotation_turns_content_about_the_centre_within_the_limit(h: int, w: int) -> None:
    x = _dot(h, w, at=(4, w // 2 + 4))
    out = _augmenter(rotate=30.0)(x, torch.zeros(32, dtype=torch.long), 10)[0]
    centre = torch.tensor([(h - 1) / 2, (w - 1) / 2])
    before, after = _centroids(x) - centre, _centroids(out) - centre
    assert torch.allclose(after.norm(dim=1), before.norm(dim=1), atol=0.3)  # a turn, not a move
    angle_after, angle_before = torch.atan2(*after.T), torch.atan2(*before.T)  # (row, col) = (y, x)
    turned = torch.rad2deg(angle_after - angle_before)
    assert turned.abs().max() <= 30.5 and turned.abs().max() > 10  # random, up to 30 degrees


def test_zoom_scales_distances_from_the_centre_within_the_limit() -> None:
    x = _dot()
    out = _augmenter(scale=0.2)(x, torch.zeros(32, dtype=torch.long), 10)[0]
    centre = torch.tensor([13.5, 13.5])
    ratio = (_centroids(out) - centre).norm(dim=1) / (_centroids(x) - centre).norm(dim=1)
    assert ratio.min() >= 0.78 and ratio.max() <= 1.22
    assert ratio.max() - ratio.min() > 0.1  # each image its own zoom


def test_elastic_distortion_bends_locally_and_keeps_the_background() -> None:
    blank = torch.full((8, 1, 28, 28), BACKGROUND)
    augmenter = _augmenter(elastic=34.0)
    assert augmenter.active  # batches change every epoch, so teacher outputs are not cached
    assert torch.allclose(augmenter(blank, torch.zeros(8, dtype=torch.long), 10)[0], blank)
    x = _dot(at=(13, 13))
    mild = _augmenter().warp(x, rotate=0.0, scale=0.0, alpha=8.0, sigma=4.0)
    strong = _augmenter().warp(x, rotate=0.0, scale=0.0, alpha=34.0, sigma=4.0)
    moved_mild = (_centroids(mild) - _centroids(x)).norm(dim=1)
    moved_strong = (_centroids(strong) - _centroids(x)).norm(dim=1)
    # The same random field, four times as strong: the block moves about four times as far.
    assert moved_mild.mean() > 0.05
    assert 3.0 < moved_strong.mean() / moved_mild.mean() < 5.0
    assert moved_strong.max() < 6.0  # a local bend, not a jump across the image


def test_warp_is_reproducible_from_the_generator() -> None:
    x = torch.randn(4, 1, 28, 28)
    one = _augmenter(rotate=10.0, scale=0.1, elastic=20.0)(x, torch.zeros(4, dtype=torch.long), 10)[
        0
    ]
    two = _augmenter(rotate=10.0, scale=0.1, elastic=20.0)(x, torch.zeros(4, dtype=torch.long), 10)[
        0
    ]
    assert torch.equal(one, two) and not torch.allclose(one, x)
