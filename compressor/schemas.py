"""Option types shared by stage plugins: references to other plugins, optimizers.

A stage's options schema uses these types for fields that name another plugin (a model, a
loss, a pruner, an exporter). The recipe validator finds every such reference, checks the name
against the registry and validates ``options`` with that plugin's own schema, before anything
runs. Third-party stages should use them too, to get the same checks and error messages.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys (a typo in a recipe is an error)."""

    model_config = ConfigDict(extra="forbid")


class PluginRef(StrictModel):
    """``{name: NAME, options: {...}}``: a reference to a registered plugin.

    After validation, :attr:`parsed` holds the options as validated by the plugin's own schema.
    """

    kind: ClassVar[str] = ""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    _parsed: BaseModel | None = PrivateAttr(default=None)

    @property
    def parsed(self) -> Any:
        """The options validated by the plugin's schema (set by the recipe validator)."""
        if self._parsed is None:
            raise RuntimeError(f"{self.kind} {self.name!r} was not validated against the registry")
        return self._parsed

    def check(self, record: Any) -> list[tuple[str, str]]:
        """Problems between this reference and the plugin's record: ``(field, message)`` pairs."""
        return []


class ModelRef(PluginRef):
    """A model architecture.

    Besides registered names, two shorthands are accepted:
    ``torchvision.resnet18`` (any ``torchvision.models`` classification builder) and ``package.module:attr``
    (a class or function you wrote, called with the options as keyword arguments).
    """

    kind: ClassVar[str] = "model"

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthands(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"name": data}
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return data
        name: str = data["name"]
        options = data.get("options") or {}
        if not isinstance(options, dict):
            return data  # not a mapping: let validation say so, naming the field
        options = dict(options)
        if name.startswith("torchvision."):
            options.setdefault("arch", name.removeprefix("torchvision."))
            return {**data, "name": "torchvision", "options": options}
        if ":" in name:
            return {**data, "name": "import", "options": {"target": name, "kwargs": options}}
        return data


class LossTerm(PluginRef):
    """One weighted term of a stage's loss.

    ``{name: kd, weight: 0.9, options: {temperature: 4}}`` compares logits. A feature loss
    names where its inputs come from, by module path, and can map the student's features to
    the teacher's shape with an adapter that is trained with the student and never exported::

        {name: fitnet, student: features.3, teacher: features.6, adapter: conv1x1}
    """

    kind: ClassVar[str] = "loss"

    weight: float = Field(default=1.0, ge=0.0)
    student: str = Field(default="logits", description="`logits` or a module path in the student.")
    teacher: str = Field(default="logits", description="`logits` or a module path in the teacher.")
    adapter: Literal["none", "linear", "conv1x1", "auto"] = Field(
        default="none",
        description="Regressor from the student's features to the teacher's shape (auto: by rank).",
    )
    teacher_artifact: str | None = Field(
        default=None,
        description="With several teachers: the one this term learns from (default: all, averaged).",
    )

    @property
    def uses_features(self) -> bool:
        """Whether the term reads an intermediate output of either network."""
        return self.student != "logits" or self.teacher != "logits"

    def check(self, record: Any) -> list[tuple[str, str]]:
        """The term's wiring must suit the loss: logits for logit losses, paths for feature ones."""
        accepts = getattr(record, "inputs", "logits")
        if accepts == "logits" and self.uses_features:
            where = "student" if self.student != "logits" else "teacher"
            return [
                (
                    where,
                    (
                        f"{self.name!r} compares logits; remove the module path, or use a "
                        "feature loss such as fitnet or at"
                    ),
                )
            ]
        if accepts == "features" and not self.uses_features:
            return [
                (
                    "student",
                    (
                        f"{self.name!r} compares intermediate features: set student: and "
                        "teacher: to module paths"
                    ),
                )
            ]
        if not record.needs_teacher and (self.teacher != "logits" or self.teacher_artifact):
            return [("teacher", f"{self.name!r} does not use a teacher")]
        if self.adapter != "none" and self.student == "logits" and accepts == "logits":
            return [("adapter", "adapters map intermediate features; logits need none")]
        return []


class PrunerRef(PluginRef):
    """A pruning method: ``{name: magnitude, options: {ratio: 0.5}}``."""

    kind: ClassVar[str] = "pruner"


class ExporterRef(PluginRef):
    """An exporter: ``{name: onnx, options: {opset: 18}}``."""

    kind: ClassVar[str] = "exporter"


class OptimizerConfig(StrictModel):
    """The optimizer and learning-rate schedule of a training stage."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    schedule: Literal["cosine", "constant"] = "cosine"
