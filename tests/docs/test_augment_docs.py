"""docs/data.md's Augmentation section: its recipe fragment validates and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from compressor.recipe import DataConfig

DOC = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return DOC.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_augmentation_example_validates() -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", _section("Augmentation"), flags=re.DOTALL)
    augment = DataConfig.model_validate(yaml.safe_load(block)["data"]).augment
    assert augment is not None and augment.per_sample and augment.flip
    assert augment.random_resized_crop.scale == [0.35, 1.0] and augment.trivial_augment


def test_every_per_sample_key_is_in_the_table() -> None:
    from compressor.recipe.augment import AugmentConfig

    section = _section("Augmentation")
    per_sample = ["random_resized_crop", "color_jitter", "rand_augment", "trivial_augment"]
    assert all(f"| `{key}` |" in section for key in per_sample)
    assert set(per_sample) <= set(AugmentConfig.model_fields)
