"""Built-in models: ``seed_cnn`` (teacher), ``seed_mlp`` (student), ``torchvision``, ``timm``,
``import``.

Recipes may also use shorthands for the last three (see :class:`compressor.schemas.ModelRef`):
``torchvision.resnet18``, ``timm.resnet18`` and ``package.module:attr``. Only pydantic is
imported here; torch, torchvision and timm load when a stage first builds a model.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator

from compressor import hookimpl
from compressor.records import ModelPlugin
from compressor.schemas import StrictModel

#: ``kwargs`` keys that would make torchvision download pretrained weights.
WEIGHT_KEYS = ("weights", "weights_backbone")
#: ``package.module:attr`` with an optional dotted attribute path.
TARGET_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"

PositiveInt = Annotated[int, Field(ge=1)]


class SeedCNNOptions(StrictModel):
    """Options of ``seed_cnn``."""

    channels: list[PositiveInt] = Field(
        default_factory=lambda: [32, 64],
        min_length=1,
        description="Output channels of each 3x3 conv block (conv, batch norm, ReLU, max-pool).",
    )
    hidden: PositiveInt = Field(default=128, description="Width of the hidden classifier layer.")
    dropout: float = Field(
        default=0.25, ge=0.0, lt=1.0, description="Dropout before each classifier Linear."
    )


class SeedMLPOptions(StrictModel):
    """Options of ``seed_mlp``."""

    hidden: list[PositiveInt] = Field(
        default_factory=lambda: [128],
        description="Width of each hidden layer; an empty list is logistic regression.",
    )
    dropout: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Dropout after each hidden layer (0: none)."
    )


def _reject_num_classes(kwargs: dict[str, Any]) -> dict[str, Any]:
    if "num_classes" in kwargs:
        raise ValueError("num_classes comes from the dataset; remove it from kwargs")
    return kwargs


def _no_weight_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    # Weights go through the model entry's weights: field (one path for files and names, the
    # head and strict checks, offline by default), never through the builder's own download.
    found = [k for k in WEIGHT_KEYS if k in kwargs]
    if found:
        raise ValueError(
            f"{', '.join(found)} in kwargs would make the builder download weights; set "
            "weights: on the model instead (a name such as DEFAULT, or a state_dict file)"
        )
    return _reject_num_classes(kwargs)


class TorchvisionOptions(StrictModel):
    """Options of ``torchvision`` (recipe shorthand: ``torchvision.ARCH``)."""

    arch: str = Field(description="A torchvision.models builder name, e.g. resnet18.")
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra builder arguments (pretrained weights: the model's weights: field).",
    )

    @field_validator("kwargs")
    @classmethod
    def _no_weights(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        return _no_weight_kwargs(kwargs)


class TimmOptions(StrictModel):
    """Options of ``timm`` (recipe shorthand: ``timm.NAME``; needs ``compressor[timm]``)."""

    arch: str = Field(description="A timm model name, e.g. resnet18 or mobilenetv3_small_100.")
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra timm.create_model arguments (drop_rate, ...); in_chans and "
        "num_classes come from the data, pretrained weights from the model's weights: field.",
    )

    @field_validator("kwargs")
    @classmethod
    def _no_pretrained(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        for key in ("pretrained", "in_chans", "checkpoint_path"):
            if key in kwargs:
                raise ValueError(
                    f"{key} is set by compressor (in_chans from the data, weights from the "
                    "model's weights: field); remove it from kwargs"
                )
        return _reject_num_classes(kwargs)


class ImportOptions(StrictModel):
    """Options of ``import`` (recipe shorthand: ``package.module:attr``)."""

    target: str = Field(
        pattern=TARGET_PATTERN,
        json_schema_extra={"expected": "package.module:attr, e.g. mypackage.nets:TinyNet"},
        description="The class or function to call, as package.module:attr.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Keyword arguments for the call; num_classes and input_shape are added when the "
            "callable takes parameters of those names."
        ),
    )

    @field_validator("kwargs")
    @classmethod
    def _valid_keywords(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in kwargs if not re.fullmatch(r"[A-Za-z_]\w*", str(k))]
        if bad:
            raise ValueError(f"not valid keyword argument names: {', '.join(map(str, bad))}")
        return kwargs


@hookimpl
def compressor_register_models() -> list[ModelPlugin]:
    """Register the built-in model architectures."""
    return [
        ModelPlugin(
            name="seed_cnn",
            factory="compressor_models.seed:SeedCNN.from_options",
            options=SeedCNNOptions,
            description="Small CNN teacher: conv/BN/ReLU/max-pool blocks, then a 2-layer head.",
        ),
        ModelPlugin(
            name="seed_mlp",
            factory="compressor_models.seed:SeedMLP.from_options",
            options=SeedMLPOptions,
            description="MLP student: flatten, hidden Linear+ReLU layers, Linear classifier.",
        ),
        ModelPlugin(
            name="torchvision",
            factory="compressor_models.zoo:build_torchvision",
            options=TorchvisionOptions,
            pretrained="compressor_models.pretrained:torchvision_weights",
            description="Any torchvision.models architecture (torchvision.ARCH).",
        ),
        ModelPlugin(
            name="timm",
            factory="compressor_models.timm_models:build_timm",
            options=TimmOptions,
            pretrained="compressor_models.timm_models:timm_weights",
            description="Any timm model (timm.NAME; needs pip install compressor[timm]).",
        ),
        ModelPlugin(
            name="import",
            factory="compressor_models.zoo:build_import",
            options=ImportOptions,
            description="Your own nn.Module class or builder function (package.module:attr).",
        ),
    ]
