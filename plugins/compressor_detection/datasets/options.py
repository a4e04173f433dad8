"""The options of the detection datasets (pydantic only: the hook module imports this)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from compressor.schemas import StrictModel


class DetectionSplitOptions(StrictModel):
    """The validation and test fractions of a split by images, seeded by ``data.split_seed``."""

    val_fraction: float = Field(
        default=0.15,
        gt=0.0,
        le=0.5,
        description="Fraction of the training images held out for validation when no "
        "validation set is given (0 < f <= 0.5); a split by images, seeded.",
    )
    test_fraction: float = Field(
        default=0.2,
        gt=0.0,
        le=0.5,
        description="Fraction of the training images held out for the final test figures when "
        "no test set is given (0 < f <= 0.5); a split by images, seeded.",
    )

    @model_validator(mode="after")
    def _leaves_training_data(self) -> DetectionSplitOptions:
        # Each fraction alone may be valid while the pair leaves nothing to train on.
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + "
                f"{self.test_fraction}), or nothing is left to train on"
            )
        return self


class AnnotatedImagesOptions(DetectionSplitOptions):
    """What the datasets read from annotation files share: classes, faults, orientation."""

    classes: list[str] | None = Field(
        default=None,
        min_length=1,
        description="The class names, in index order; unset: every class the annotations name "
        "(see the dataset's description for the order).",
    )
    on_error: Literal["error", "skip"] = Field(
        default="error",
        description="What a bad annotation does (a box outside the image beyond 1 pixel, an "
        "empty or inverted box, an unknown class, a missing or unreadable image, a malformed "
        "file): error stops with one line naming the file and the fault; skip leaves the box "
        "out (the image, for a fault of the image) and counts it in metrics.json by fault.",
    )
    exif_orientation: Literal["ignore", "apply"] = Field(
        default="ignore",
        description="ignore: serve the pixels as stored and read the boxes against them (what "
        "PIL, torchvision and COCO's tools do); apply: rotate each image by its EXIF "
        "orientation tag first, for annotations drawn on the rotated view. Files with a tag "
        "are counted in metrics.json either way.",
    )
    keep_empty: bool = Field(
        default=True,
        description="Keep images with no boxes left (no objects, or all left out) as samples "
        "with no targets (background images); false leaves them out.",
    )

    @field_validator("classes")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            repeated = sorted({name for name in value if value.count(name) > 1})
            if repeated:
                raise ValueError(f"class names must be distinct; repeated: {', '.join(repeated)}")
        return value


class VocOptions(AnnotatedImagesOptions):
    """Options of ``voc``."""

    root: str = Field(
        description="The dataset folder: the VOC layout (JPEGImages/, Annotations/, optional "
        "ImageSets/Main/{train,val,test}.txt) or the flat one (images/, annotations/: one "
        "XML per image, matched by file name).",
    )
    val_root: str | None = Field(
        default=None,
        description="A folder of validation images laid out as root; unset: the ImageSets "
        "val list when root has one, else val_fraction of root's images.",
    )
    test_root: str | None = Field(
        default=None,
        description="A folder of test images laid out as root; unset: the ImageSets test list "
        "when root has one, else test_fraction of root's images.",
    )
    image_dir: str | None = Field(
        default=None,
        description="The images' subfolder of each root; unset: JPEGImages, or images.",
    )
    annotation_dir: str | None = Field(
        default=None,
        description="The XML files' subfolder of each root; unset: Annotations, or annotations.",
    )
    image_sets: bool = Field(
        default=True,
        description="Use root's ImageSets/Main/train.txt (or trainval.txt), val.txt and "
        "test.txt image lists when present; false: every XML file of root.",
    )
    include_difficult: bool = Field(
        default=True,
        description="Keep the boxes marked difficult, flagged (difficult = 1: the metric "
        "neither matches nor misses them); false leaves them out.",
    )


class CocoOptions(AnnotatedImagesOptions):
    """Options of ``coco``."""

    annotations: str = Field(
        description="The COCO instances JSON file (images, annotations, categories)."
    )
    images: str = Field(description="The folder of the images; file_name is relative to it.")
    val_annotations: str | None = Field(
        default=None,
        description="A COCO JSON file of validation images; unset: val_fraction of the "
        "training images.",
    )
    val_images: str | None = Field(
        default=None,
        description="The folder of val_annotations' images; unset: the images folder.",
    )
    test_annotations: str | None = Field(
        default=None,
        description="A COCO JSON file of test images; unset: test_fraction of the training images.",
    )
    test_images: str | None = Field(
        default=None,
        description="The folder of test_annotations' images; unset: the images folder.",
    )
    include_crowd: bool = Field(
        default=True,
        description="Keep crowd boxes (iscrowd: 1), flagged difficult = 1 (the metric ignores "
        "them, as COCO's evaluation does); false leaves them out.",
    )

    @model_validator(mode="after")
    def _images_need_annotations(self) -> CocoOptions:
        for split in ("val", "test"):
            if getattr(self, f"{split}_images") and not getattr(self, f"{split}_annotations"):
                raise ValueError(
                    f"{split}_images needs {split}_annotations, the JSON file of those images"
                )
        return self


def _span(value: list[int], low: int, what: str) -> list[int]:
    """``value`` as ``[min, max]`` with ``low <= min <= max``, or a one-line error."""
    if len(value) != 2 or not low <= value[0] <= value[1] or value[1] < 1:
        raise ValueError(
            f"invalid value {value}: expected [min, max] {what} with {low} <= min <= max, max >= 1"
        )
    return value


class MnistDetectionOptions(DetectionSplitOptions):
    """Options of ``mnist_detection``."""

    size: int = Field(
        default=96, ge=32, le=1024, description="Width and height of each square canvas (px)."
    )
    images: int = Field(
        default=3000,
        ge=20,
        le=200_000,
        description="Canvases in all, split into train/val/test by the fractions.",
    )
    digits_per_image: list[int] = Field(
        default=[1, 3],
        description="[min, max] digits drawn on a canvas (each count equally likely).",
    )
    digit_size: list[int] = Field(
        default=[20, 40],
        description="[min, max] side of a digit's 28x28 MNIST cell once scaled (px); the box "
        "is the tight box of its ink.",
    )
    max_overlap: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description="Largest IoU a digit's box may have with another digit's on its canvas "
        "(a digit that finds no place is left off after 50 tries).",
    )
    noise: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Standard deviation of the Gaussian noise added to each pixel, as a "
        "fraction of white (0 is clean).",
    )

    @field_validator("digits_per_image")
    @classmethod
    def _digits(cls, value: list[int]) -> list[int]:
        return _span(value, 0, "digits per canvas")

    @field_validator("digit_size")
    @classmethod
    def _digit_size(cls, value: list[int]) -> list[int]:
        return _span(value, 8, "digit size")

    @model_validator(mode="after")
    def _digits_fit(self) -> MnistDetectionOptions:
        if self.digit_size[1] > self.size:
            raise ValueError(
                f"digit_size {self.digit_size} does not fit a {self.size}px canvas; keep its "
                "max <= size"
            )
        return self
