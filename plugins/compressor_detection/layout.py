"""What the channels of a dense detector's raw output are, for losses that read them.

A dense detector's ``forward`` returns one tensor ``(N, A, D)``: per anchor, ``D`` channels of
class logits, box regression and optionally a quality (centerness) logit. Which channels are
which, and whether the classes are independent sigmoids or one softmax (with a background
class), differs between families; a model says it with a ``raw_layout`` attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RawLayout:
    """The channels of a raw ``(N, A, D)`` output, in order: classes, boxes, quality.

    Attributes:
        classes: Class logit channels (for ``softmax``, the background one included).
        boxes: Box regression channels (4).
        quality: Quality logit channels after the boxes (FCOS centerness: 1; none: 0).
        activation: ``sigmoid`` (one independent probability per class: FCOS, RetinaNet) or
            ``softmax`` (one distribution over the classes and background: SSD).
    """

    classes: int
    boxes: int = 4
    quality: int = 0
    activation: Literal["sigmoid", "softmax"] = "sigmoid"

    @property
    def channels(self) -> int:
        """``D``: every channel of one anchor."""
        return self.classes + self.boxes + self.quality

    @property
    def box_slice(self) -> slice:
        """The box channels."""
        return slice(self.classes, self.classes + self.boxes)

    @property
    def quality_slice(self) -> slice:
        """The quality channels (empty when there are none)."""
        return slice(self.classes + self.boxes, self.channels)
