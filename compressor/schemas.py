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


#: torchvision's detection builders by name prefix: ``torchvision.NAME`` with one of these is a
#: ``torchvision_detector``, the rest a ``torchvision`` classifier.
TORCHVISION_DETECTORS = (
    "fasterrcnn_",
    "fcos_",
    "retinanet_",
    "ssd300_",
    "ssdlite320_",
    "maskrcnn_",
    "keypointrcnn_",
)


class ModelRef(PluginRef):
    """A model architecture, and where its starting weights come from.

    Besides registered names, three shorthands are accepted: ``torchvision.resnet18`` (any
    ``torchvision.models`` classification builder), ``timm.resnet18`` (any timm model, with the
    ``timm`` extra installed) and ``package.module:attr`` (a class or function you wrote, called
    with the options as keyword arguments).

    The other fields apply to every architecture (``docs/models.md``): ``width`` builds it with
    that fraction of the channels of every prunable layer; ``weights`` loads a ``state_dict``
    file or, for builders that have them, named pretrained weights; ``head: replace`` trains a
    new classifier on the weights' backbone when the class counts differ.
    """

    kind: ClassVar[str] = "model"

    weights: str | None = Field(
        default=None,
        description="Starting weights: a state_dict file (PATH; also {state_dict: ...} or "
        "{model: ...} containers, DDP's module. prefix stripped), or a weights name of the "
        "builder such as DEFAULT or IMAGENET1K_V1 (torchvision, timm).",
    )
    strict: bool = Field(
        default=True,
        description="Every key of the model must be in the weights and the reverse; false loads "
        "what matches and lists the missing and unexpected keys.",
    )
    head: Literal["keep", "replace"] = Field(
        default="keep",
        description="replace: a new classifier for the data's classes on the weights' backbone "
        "(needed when the weights were trained for another number of classes).",
    )
    width: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Build the architecture with this fraction of the channels of every prunable "
        "layer (the classifier's outputs kept): 0.5 is the same network, half as wide.",
    )
    download: bool = Field(
        default=False,
        description="With a weights name: download the weights when they are not in the local "
        "cache (default: fail and say which file to put where).",
    )

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
        for prefix in ("torchvision", "timm"):
            if name.startswith(f"{prefix}."):
                arch = name.removeprefix(f"{prefix}.")
                options.setdefault("arch", arch)
                if prefix == "torchvision" and arch.startswith(TORCHVISION_DETECTORS):
                    prefix = "torchvision_detector"  # registered by the detection plugin
                return {**data, "name": prefix, "options": options}
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


class TaskRef(PluginRef):
    """The recipe's ``task:``: ``detection``, or ``{name: detection, options: {metric: map50}}``.

    Unset, the dataset's own task (:attr:`compressor.records.DatasetPlugin.task`) is used.
    """

    kind: ClassVar[str] = "task"

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class PrunerRef(PluginRef):
    """A pruning method: ``{name: magnitude, options: {ratio: 0.5}}``."""

    kind: ClassVar[str] = "pruner"


class ExporterRef(PluginRef):
    """An exporter: ``{name: onnx, options: {opset: 18}}``."""

    kind: ClassVar[str] = "exporter"


class ParamGroup(StrictModel):
    """Parameters of some modules trained with their own learning rate or weight decay."""

    modules: list[str] = Field(
        min_length=1, description="Module paths (``fc``, ``layer4``); their parameters and below."
    )
    lr: float | None = Field(default=None, gt=0.0, description="Learning rate (default: lr).")
    weight_decay: float | None = Field(
        default=None, ge=0.0, description="Weight decay (default: weight_decay)."
    )


class OptimizerConfig(StrictModel):
    """The optimizer and learning-rate schedule of a training stage."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    schedule: Literal["cosine", "constant"] = "cosine"
    param_groups: list[ParamGroup] = Field(
        default_factory=list,
        description="Learning rates (or weight decay) of some modules' parameters, e.g. a "
        "higher one for a new classifier than for a pretrained backbone; the rest use lr.",
    )
