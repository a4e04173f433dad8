"""docs/detection.md: every option of every detection dataset and of the box-aware
augmentation is documented, and the examples validate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from compressor_detection.augment import DetectionAugmentConfig
from compressor_detection.datasets import DATASET_RECORDS

DOC = (Path(__file__).resolve().parents[4] / "docs" / "detection.md").read_text(encoding="utf-8")


def _subsection(title: str) -> str:
    return DOC.split(f"\n### {title}\n", 1)[1].split("\n### ", 1)[0]


def _yaml_blocks(text: str) -> list[dict]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)]


@pytest.mark.parametrize("record", DATASET_RECORDS, ids=lambda r: r.name)
def test_every_option_is_documented_and_the_example_validates(record) -> None:
    text = _subsection(f"`{record.name}`")
    missing = [name for name in record.options.model_fields if f"`{name}`" not in text]
    assert not missing, f"{record.name}: options not documented: {missing}"
    data = _yaml_blocks(text)[0]["data"]
    assert data["dataset"] == record.name
    record.options.model_validate(data["options"])


def test_every_augment_key_is_documented_and_the_example_validates() -> None:
    text = _subsection("Box-aware augmentation")
    missing = [f for f in DetectionAugmentConfig.model_fields if f"| `{f}` |" not in text]
    assert not missing, f"augment keys missing from the table: {missing}"
    augment = DetectionAugmentConfig.model_validate(_yaml_blocks(text)[0]["data"]["augment"])
    assert augment.active and augment.iou_crop is not None
