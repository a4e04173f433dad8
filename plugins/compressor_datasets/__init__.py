"""Built-in datasets: ``digits`` and ``mnist`` (shipped), ``image_folder``, ``torchvision``
and ``import`` (your files, torchvision's datasets, your own code).

``digits`` (UCI, 8x8) and ``mnist`` (28x28, 5,000 shipped digits) work offline: their data
files ship in this package (``data/``, with their sources and licences), and ``mnist`` reads
torchvision's full MNIST when ``root`` points at it. The other three give raw samples, which the
run preprocesses and streams or holds in memory (docs/data.md). Only pydantic is imported here;
numpy, torch and the loaders load when a recipe first uses a dataset.
"""

from __future__ import annotations

from typing import Any, Literal

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


#: The image files ``image_folder`` reads by default (their extensions, any case).
IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"]
#: ``channels``: what every image is converted to (PIL ``convert``: grey, palette, RGBA...).
CHANNELS_DESCRIPTION = (
    "Channels every image is converted to: 3 (RGB) or 1 (grey); grey, palette, CMYK and RGBA "
    "images are converted with PIL's convert (alpha is dropped)."
)


class ImageFolderOptions(SplitOptions):
    """Options of ``image_folder``."""

    train_root: str = Field(
        description=(
            "Folder of the training images: one subfolder per class (the class names are the "
            "sorted subfolder names; images at any depth inside), or with labels: false any "
            "images at any depth."
        ),
    )
    val_root: str | None = Field(
        default=None,
        description="Folder of the validation images, laid out as train_root; unset: "
        "val_fraction of train_root, stratified, seeded by data.split_seed.",
    )
    test_root: str | None = Field(
        default=None,
        description="Folder of the test images, laid out as train_root; unset: test_fraction "
        "of train_root, stratified, seeded by data.split_seed.",
    )
    extensions: list[str] = Field(
        default_factory=lambda: list(IMAGE_EXTENSIONS),
        min_length=1,
        description="The file extensions read as images, case-insensitive; other files are "
        "ignored.",
    )
    channels: Literal[3, 1] = Field(default=3, description=CHANNELS_DESCRIPTION)
    labels: bool = Field(
        default=True,
        description="false: unlabeled images (transfer data for distillation): every image "
        "under train_root at any depth, no class subfolders needed, every label -1.",
    )
    check_files: bool = Field(
        default=True,
        description="Parse every file's header when loading (and decode those that look "
        "truncated), so that a bad file stops the run before training; false skips it (a bad "
        "file then fails the run when it is read).",
    )
    skip_unreadable: bool = Field(
        default=False,
        description="Leave out the files that cannot be read (counted in metrics.json as "
        "data.skipped_unreadable) instead of stopping with the first one's name.",
    )

    @model_validator(mode="after")
    def _skipping_needs_the_check(self) -> ImageFolderOptions:
        if self.skip_unreadable and not self.check_files:
            raise ValueError("skip_unreadable: true needs check_files: true, which finds them")
        return self


class TorchvisionOptions(SplitOptions):
    """Options of ``torchvision``."""

    name: str = Field(
        description="A torchvision.datasets classification dataset: CIFAR10, CIFAR100, MNIST, "
        "FashionMNIST, KMNIST, SVHN, STL10, Flowers102, Food101, ImageNet, ...",
    )
    root: str = Field(
        description="The folder holding the dataset's files, as torchvision "
        "lays them out (its root argument)."
    )
    download: bool = Field(
        default=False,
        description="Let torchvision download the files into root when they are missing "
        "(needs internet); false: read only what is there.",
    )
    channels: Literal[3, 1] | None = Field(
        default=None,
        description=CHANNELS_DESCRIPTION + " Unset: as the dataset gives them.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="More keyword arguments for the dataset class (not train, split, root, "
        "download, transform).",
    )


class ImportOptions(SplitOptions):
    """Options of ``import``."""

    factory: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="package.module:callable returning a map-style Dataset of (sample, label) "
        "to split, a dict of them keyed train/val/test, or a (train, val, test) tuple.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments the factory is called with."
    )
    num_classes: int | None = Field(
        default=None,
        ge=2,
        description="Number of classes; unset: len(class_names), the dataset's classes "
        "attribute, or the largest label + 1.",
    )
    class_names: list[str] | None = Field(
        default=None, description="One name per class; unset: the dataset's classes attribute."
    )

    @model_validator(mode="after")
    def _names_match_count(self) -> ImportOptions:
        names, count = self.class_names, self.num_classes
        if names is not None and count is not None and len(names) != count:
            raise ValueError(
                f"class_names has {len(names)} names but num_classes is {count}; give one "
                "name per class"
            )
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
        DatasetPlugin(
            name="image_folder",
            factory="compressor_datasets.image_folder:load_image_folder",
            options=ImageFolderOptions,
            description="Your images: a folder with one subfolder per class (or unlabeled).",
        ),
        DatasetPlugin(
            name="torchvision",
            factory="compressor_datasets.torchvision_data:load_torchvision",
            options=TorchvisionOptions,
            description="A torchvision.datasets classification dataset (CIFAR10, SVHN, ...).",
        ),
        DatasetPlugin(
            name="import",
            factory="compressor_datasets.imported:load_imported",
            options=ImportOptions,
            description="Datasets your own code returns: factory: package.module:callable.",
        ),
    ]
