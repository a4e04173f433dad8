"""Built-in datasets: ``digits`` (UCI, 8x8) and ``mnist`` (28x28, 5,000 shipped digits).

Both work offline: their data files ship in this package (``data/``, with their sources and
licences), and ``mnist`` reads torchvision's full MNIST when ``root`` points at it. Only
pydantic is imported here; numpy, torch and the loaders load when a recipe first uses a dataset.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from compressor import hookimpl
from compressor.records import DatasetPlugin
from compressor.schemas import StrictModel


class SplitOptions(StrictModel):
    """The validation and test fractions every built-in dataset shares."""

    val_fraction: float = Field(
        default=0.15,
        gt=0.0,
        le=0.5,
        description="Fraction of the training data held out for validation (0 < f <= 0.5).",
    )
    test_fraction: float = Field(
        default=0.2,
        gt=0.0,
        le=0.5,
        description="Fraction of the data held out for the final test figures (0 < f <= 0.5).",
    )

    @model_validator(mode="after")
    def _leaves_training_data(self) -> SplitOptions:
        # Each fraction alone may be valid while the pair leaves nothing to train on.
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + "
                f"{self.test_fraction}), or nothing is left to train on"
            )
        return self


class DigitsOptions(SplitOptions):
    """Options of ``digits``."""


class MnistOptions(SplitOptions):
    """Options of ``mnist``."""

    root: str | None = Field(
        default=None,
        description=(
            "Folder holding torchvision's MNIST files (MNIST/raw/...). Unset: use the 5,000 real "
            "MNIST digits shipped with compressor, split into train/val/test. Set: the official "
            "training set is split into train/val and the official test set is the test split "
            "(test_fraction is then ignored)."
        ),
    )
    download: bool = Field(
        default=False,
        description="Download the full MNIST into root when it is missing (needs internet).",
    )
    limit: int | None = Field(
        default=None,
        ge=10,
        description="Keep at most this many training samples (a random subset); unset: all.",
    )

    @model_validator(mode="after")
    def _download_needs_root(self) -> MnistOptions:
        if self.download and self.root is None:
            raise ValueError("download: true needs root, the folder to download MNIST into")
        return self


@hookimpl
def compressor_register_datasets() -> list[DatasetPlugin]:
    """Register the built-in datasets."""
    return [
        DatasetPlugin(
            name="digits",
            factory="compressor_datasets.digits:load_digits",
            options=DigitsOptions,
            description="UCI handwritten digits: 1,797 8x8 grey images, 10 classes (shipped).",
        ),
        DatasetPlugin(
            name="mnist",
            factory="compressor_datasets.mnist:load_mnist",
            options=MnistOptions,
            description=(
                "MNIST 28x28 digits: 5,000 shipped real samples, or the full set from `root`."
            ),
        ),
    ]
