"""The distill stage's ``transfer`` option: unlabelled data the student learns from the teacher.

Pydantic only (the plugin hook module imports it through :mod:`compressor_stages.options`);
the split itself is built by :mod:`compressor_stages.distill_transfer`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr

from compressor.schemas import StrictModel

TransferMode = Literal["add", "replace"]


class TransferData(StrictModel):
    """``transfer: {dataset: NAME, options: {...}, split: train, skip: 0, limit: N}``.

    Any registered dataset; its labels are ignored. Its inputs are preprocessed like the
    recipe's data (``data.preprocess``, normalized with the recipe data's statistics) and
    must have the same shape.
    """

    dataset: str = Field(description="A registered dataset name; its labels are ignored.")
    options: dict[str, Any] = Field(default_factory=dict, description="The dataset's options.")
    split: Literal["train", "val", "test", "all"] = Field(
        default="train",
        description="Which of the dataset's splits is the transfer data; all: the three "
        "together (train, val, test, in that order), e.g. every image of an unlabeled folder.",
    )
    skip: int = Field(
        default=0, ge=0, description="Leave out the split's first rows (e.g. the labelled ones)."
    )
    limit: int | None = Field(
        default=None, ge=1, description="Keep at most this many rows after skip; unset: all."
    )
    acknowledge_overlap: bool = Field(
        default=False,
        description="Allow transfer rows that are the recipe's own validation or test rows "
        "(refused otherwise): the overlap is recorded in metrics.json and the report, whose "
        "figures are then not held out.",
    )
    _parsed: Any = PrivateAttr(default=None)
