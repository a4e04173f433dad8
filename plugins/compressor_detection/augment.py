"""Box-aware per-sample augmentation for detection: the boxes move with the pixels.

The classification augmentation of ``data.augment`` (shift, flip, mixup, ...) moves pixels
without moving targets, so the ``detection`` task turns it off; this one transforms each
training image together with its boxes (torchvision.transforms.v2 with
``tv_tensors.BoundingBoxes``), in a fixed order:

1. ``horizontal_flip``: mirror left-right with probability p (not for digits or text);
2. ``scale_jitter``: zoom by a factor drawn in [min, max] (``ScaleJitter``), then cut or pad
   (black) back to the input size at a random place (``RandomCrop(pad_if_needed=True)``): the
   large-scale jitter of Ghiasi et al. 2021;
3. ``iou_crop``: SSD's crop (``RandomIoUCrop``): a random crop that keeps at least one box
   overlapping it by a drawn minimum IoU; boxes whose centres fall outside are dropped;
4. ``photometric``: SSD's colour distortion (``RandomPhotometricDistort``);
5. back to the input size (``Resize``), then ``SanitizeBoundingBoxes``: boxes left thinner
   than ``min_box_size`` pixels (cut away by a crop) disappear from the target.

It runs where :class:`compressor.training.sample_augment.SampleAugment` runs, on the 0..1
image after ``data.preprocess`` resized it and before normalization, and seeds its draws by
``(seed, epoch, index)`` the same way: a sample's augmentation does not depend on which
worker loads it, nor on ``data.num_workers``. This module imports pydantic alone at import
time (the recipe schema imports :class:`DetectionAugmentConfig`); torch and torchvision load
on the first call.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from compressor.schemas import StrictModel


class IoUCropConfig(StrictModel):
    """``iou_crop``: torchvision's ``RandomIoUCrop`` (SSD, Liu et al. 2016)."""

    min_scale: float = Field(
        default=0.3, gt=0.0, le=1.0, description="Smallest crop side, a fraction of the image's."
    )
    max_scale: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Largest crop side, a fraction of the image's."
    )
    min_aspect_ratio: float = Field(
        default=0.5, gt=0.0, description="Smallest crop width / height."
    )
    max_aspect_ratio: float = Field(default=2.0, gt=0.0, description="Largest crop width / height.")
    min_ious: list[float] = Field(
        default=[0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0],
        min_length=1,
        description="The minimum IoU one box must have with the crop, drawn from this list per "
        "image; 1.0 means no crop.",
    )
    trials: int = Field(
        default=40, ge=1, description="Crops tried per drawn minimum IoU before drawing again."
    )

    @model_validator(mode="after")
    def _ordered(self) -> IoUCropConfig:
        if self.min_scale > self.max_scale or self.min_aspect_ratio > self.max_aspect_ratio:
            raise ValueError("min_scale <= max_scale and min_aspect_ratio <= max_aspect_ratio")
        if max(self.min_ious) < 1.0 and not any(v <= 0.0 for v in self.min_ious):
            # Without 0 or 1 an image whose boxes no crop can satisfy would be tried forever.
            raise ValueError("min_ious must include 0.0 or 1.0, so that every image gets a crop")
        return self


class PhotometricConfig(StrictModel):
    """``photometric``: torchvision's ``RandomPhotometricDistort`` (SSD's colour distortion)."""

    brightness: list[float] = Field(
        default=[0.875, 1.125], description="[min, max] brightness factor."
    )
    contrast: list[float] = Field(default=[0.5, 1.5], description="[min, max] contrast factor.")
    saturation: list[float] = Field(default=[0.5, 1.5], description="[min, max] saturation factor.")
    hue: list[float] = Field(
        default=[-0.05, 0.05], description="[min, max] hue shift, a fraction of the circle."
    )
    p: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Probability of each distortion (and of a channel shuffle).",
    )

    @field_validator("brightness", "contrast", "saturation", "hue")
    @classmethod
    def _pair(cls, value: list[float]) -> list[float]:
        if len(value) != 2 or value[0] > value[1]:
            raise ValueError(f"invalid value {value}: expected [min, max] with min <= max")
        return value


class DetectionAugmentConfig(StrictModel):
    """Box-aware per-sample augmentation of detection training images (see the module)."""

    horizontal_flip: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Probability of a left-right mirror of image and boxes (0 is off; not for "
        "digits or text, whose classes change when mirrored).",
    )
    scale_jitter: list[float] | None = Field(
        default=None,
        description="[min, max] zoom factor (e.g. [0.5, 1.5]); the zoomed image is cut or "
        "padded back to the input size at a random place. Unset: off.",
    )
    iou_crop: IoUCropConfig | None = Field(
        default=None,
        description="SSD's IoU-constrained random crop (torchvision RandomIoUCrop), resized "
        "back to the input size; true for the defaults.",
    )
    photometric: PhotometricConfig | None = Field(
        default=None,
        description="SSD's colour distortion (torchvision RandomPhotometricDistort); true for "
        "the defaults.",
    )
    min_box_size: float = Field(
        default=1.0,
        ge=1.0,
        description="Boxes narrower or lower than this many input pixels after augmentation "
        "are dropped from the target.",
    )

    @field_validator("iou_crop", "photometric", mode="before")
    @classmethod
    def _true_is_defaults(cls, value: Any) -> Any:
        return {} if value is True else None if value is False else value

    @field_validator("scale_jitter")
    @classmethod
    def _scale_range(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (len(value) != 2 or not 0.0 < value[0] <= value[1] <= 10.0):
            raise ValueError(
                f"invalid value {value}: expected [min, max] zoom with 0 < min <= max <= 10"
            )
        return value

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return bool(
            self.horizontal_flip > 0
            or self.scale_jitter
            or self.iou_crop is not None
            or self.photometric is not None
        )


class DetectionAugment:
    """One training sample's box-aware augmentation, seeded by ``(seed, epoch, index)``.

    Picklable (it travels to ``DataLoader`` workers); the torchvision pipeline is built in
    each process on first use, per input size.

    Args:
        config: The validated options.
        seed: The stage's seed.
    """

    def __init__(self, config: DetectionAugmentConfig, seed: int) -> None:
        self.config = config
        self.seed = int(seed)
        self._pipelines: dict[tuple[int, int, bool], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "seed": self.seed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"], state["seed"])  # type: ignore[misc]

    def __call__(self, image: Any, target: Any, index: int, epoch: int) -> tuple[Any, Any]:
        """``image`` ``(3, H, W)`` float in 0..1 and its ``(M, 6)`` normalized target rows,
        augmented as sample ``index`` is in ``epoch``.

        Returns:
            The image, same shape and dtype, and the rows of the boxes that remain, moved
            (``(M', 6)``, ``M' <= M``; the type given: numpy array or tensor). Padding rows
            (class -1) are left out.
        """
        import numpy as np
        import torch

        from compressor.training.sample_augment import sample_seed

        was_tensor = isinstance(target, torch.Tensor)
        rows = target.detach().cpu().numpy() if was_tensor else np.asarray(target)
        rows = rows.reshape(-1, 6).astype(np.float32)
        rows = rows[rows[:, 0] >= 0]
        height, width = int(image.shape[-2]), int(image.shape[-1])
        pipeline = self._pipeline(height, width, has_boxes=len(rows) > 0)
        scale = np.array([width, height, width, height], dtype=np.float32)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, epoch, index))
            out = pipeline(_sample(image, rows[:, 1:5] * scale, (height, width)))
        kept = out["labels"].numpy()
        moved = rows[kept].copy()
        boxes = out["boxes"].as_subclass(torch.Tensor).numpy().reshape(-1, 4)
        moved[:, 1:5] = np.clip(boxes / scale, 0.0, 1.0)
        picture = out["image"].as_subclass(torch.Tensor).contiguous()
        return picture, torch.from_numpy(moved) if was_tensor else moved

    def _pipeline(self, height: int, width: int, *, has_boxes: bool) -> Any:
        """The v2 pipeline for ``(height, width)`` inputs (cached per process)."""
        key = (height, width, has_boxes)
        if key not in self._pipelines:
            self._pipelines[key] = build_pipeline(self.config, (height, width), has_boxes)
        return self._pipelines[key]


def _sample(image: Any, boxes: Any, size: tuple[int, int]) -> dict[str, Any]:
    """The v2 input: the image, its boxes (pixels, XYXY) and their row numbers as labels,
    so that the rows ``SanitizeBoundingBoxes`` keeps are known afterwards."""
    import torch
    from torchvision import tv_tensors

    return {
        "image": tv_tensors.Image(image),
        "boxes": tv_tensors.BoundingBoxes(
            torch.from_numpy(boxes), format="XYXY", canvas_size=size, clamping_mode="hard"
        ),
        "labels": torch.arange(len(boxes)),
    }


def build_pipeline(config: DetectionAugmentConfig, size: tuple[int, int], has_boxes: bool) -> Any:
    """The ``torchvision.transforms.v2`` pipeline of ``config`` for ``size`` (height, width)
    inputs; ``has_boxes: False`` leaves out ``iou_crop``, which needs a box to aim at."""
    from torchvision.transforms import v2

    steps: list[Any] = []
    if config.horizontal_flip > 0:
        steps.append(v2.RandomHorizontalFlip(p=config.horizontal_flip))
    if config.scale_jitter:
        # ScaleJitter scales by min(target / size) x the drawn factor; a square target of the
        # input's longer side makes that the factor alone, whichever axis order it reads.
        side = max(size)
        low, high = config.scale_jitter
        steps.append(v2.ScaleJitter(target_size=(side, side), scale_range=(low, high)))
        steps.append(v2.RandomCrop(list(size), pad_if_needed=True, fill=0))
    crop = config.iou_crop
    if crop is not None and has_boxes:
        steps.append(
            batched_iou_crop()(
                min_scale=crop.min_scale,
                max_scale=crop.max_scale,
                min_aspect_ratio=crop.min_aspect_ratio,
                max_aspect_ratio=crop.max_aspect_ratio,
                sampler_options=list(crop.min_ious),
                trials=crop.trials,
            )
        )
    colour = config.photometric
    if colour is not None:
        steps.append(
            v2.RandomPhotometricDistort(
                brightness=tuple(colour.brightness),
                contrast=tuple(colour.contrast),
                saturation=tuple(colour.saturation),
                hue=tuple(colour.hue),
                p=colour.p,
            )
        )
    if config.scale_jitter or (crop is not None and has_boxes):  # a flip keeps the size
        steps.append(v2.Resize(list(size), antialias=True))
    steps.append(v2.SanitizeBoundingBoxes(min_size=config.min_box_size))
    return v2.Compose(steps)


def batched_iou_crop() -> type:
    """``RandomIoUCrop`` whose ``trials`` crops per drawn minimum IoU are drawn and checked as
    one batch of tensor operations rather than one by one (the same rules: the first crop of
    the batch that qualifies is taken, else another minimum IoU is drawn).

    torchvision checks each trial with a dozen small tensor calls; with the default minimum
    IoUs, images whose boxes are small fail whole rounds of 40 trials, which made ``iou_crop``
    cost about 18 ms per 96x96 image against 1.5 ms for a flip. The class is made on demand so
    that torchvision loads on first use.
    """
    import torch
    from torchvision import tv_tensors
    from torchvision.ops import box_iou
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as F

    class BatchedIoUCrop(v2.RandomIoUCrop):
        def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
            boxes = next(x for x in flat_inputs if isinstance(x, tv_tensors.BoundingBoxes))
            height, width = boxes.canvas_size
            xyxy = F.convert_bounding_box_format(
                boxes.as_subclass(torch.Tensor), boxes.format, tv_tensors.BoundingBoxFormat.XYXY
            ).float()
            cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
            while True:
                min_iou = self.options[int(torch.randint(len(self.options), (1,)))]
                if min_iou >= 1.0:  # "leave as is"
                    return {}
                scale = self.min_scale + (self.max_scale - self.min_scale) * torch.rand(
                    self.trials, 2
                )
                new_w, new_h = (width * scale[:, 0]).long(), (height * scale[:, 1]).long()
                place = torch.rand(self.trials, 2)
                left = ((width - new_w) * place[:, 0]).long()
                top = ((height - new_h) * place[:, 1]).long()
                ratio = new_w / new_h.clamp(min=1)
                fits = (ratio >= self.min_aspect_ratio) & (ratio <= self.max_aspect_ratio)
                fits &= (new_w > 0) & (new_h > 0)
                right, bottom = left + new_w, top + new_h
                within = (left[:, None] < cx) & (cx < right[:, None])
                within &= (top[:, None] < cy) & (cy < bottom[:, None])
                crops = torch.stack([left, top, right, bottom], dim=1).float()
                best = box_iou(crops, xyxy).masked_fill(~within, -1.0).amax(dim=1)
                fits &= within.any(dim=1) & (best >= min_iou)
                if fits.any():
                    t = int(fits.int().argmax())
                    return {
                        "top": int(top[t]),
                        "left": int(left[t]),
                        "height": int(new_h[t]),
                        "width": int(new_w[t]),
                        "is_within_crop_area": within[t],
                    }

    return BatchedIoUCrop
