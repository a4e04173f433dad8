"""Recipes: YAML files that list the ordered stages of a compression run.

Loading a recipe is three steps, all before anything runs:

1. parse the YAML (``yaml.safe_load``: a recipe never runs code) and apply ``--set`` overrides;
2. validate the structure with pydantic (:class:`Recipe`);
3. resolve it against the registry (:func:`resolve`): every plugin name must be registered,
   every ``options`` mapping must pass that plugin's own schema, every stage input must be
   produced by an earlier stage, and no artifact may be produced twice.

Any problem is a :class:`~compressor.errors.RecipeError` naming the field, the value and the
valid choices.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError
from pydantic.fields import FieldInfo

from compressor.context import StageInfo
from compressor.errors import RecipeError, UnknownNameError, UsageError, describe_value
from compressor.recipe.overrides import apply_overrides
from compressor.plugin.registry import Registry
from compressor.schemas import PluginRef, StrictModel

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
#: What a recipe error says a name must look like, instead of showing NAME_PATTERN.
NAME_EXPECTED = {"expected": "letters, digits, '_', '.' and '-', starting with a letter or digit"}
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|mps)$"
STAGE_KEYS = ("name", "type", "inputs", "outputs")
#: NumPy's seed range; stage seeds are derived from it and must stay within torch's int64.
MAX_SEED = 2**32 - 1
_INT64 = (-(2**63), 2**63 - 1)


class AugmentConfig(StrictModel):
    """``data.augment``: batch augmentation for every training stage.

    The teacher sees the very same augmented or mixed batch as the student.
    """

    shift: int = Field(
        default=0, ge=0, description="Random translation by up to this many pixels (pad and crop)."
    )
    flip: bool = Field(default=False, description="Random horizontal flips (not for digits).")
    rotate: float = Field(
        default=0.0, ge=0.0, le=180.0, description="Random rotation by up to this many degrees."
    )
    scale: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Random zoom by a factor in [1 - scale, 1 + scale].",
    )
    elastic: float = Field(
        default=0.0,
        ge=0.0,
        description="Elastic distortion strength alpha, in pixels (Simard et al. 2003; 34 for "
        "28x28 digits); 0 is off.",
    )
    elastic_sigma: float = Field(
        default=4.0, gt=0.0, description="Smoothness of the elastic displacement field, in pixels."
    )
    mixup: float = Field(default=0.0, ge=0.0, description="Mixup Beta(a, a) parameter; 0 is off.")
    cutmix: float = Field(default=0.0, ge=0.0, description="CutMix Beta(a, a) parameter; 0 is off.")
    mix_prob: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Probability that a batch is mixed."
    )


class DataConfig(StrictModel):
    """``data:``: the dataset every stage trains and evaluates on."""

    dataset: str = Field(description="A registered dataset name (see `compressor plugins`).")
    options: dict[str, Any] = Field(default_factory=dict, description="The dataset's options.")
    batch_size: int = Field(default=64, ge=1, description="Training batch size.")
    eval_batch_size: int = Field(default=512, ge=1, description="Inference batch size.")
    split_seed: int = Field(
        default=0,
        ge=0,
        le=MAX_SEED,
        description="Seeds the train/val/test split; fixed so runs compare fairly.",
    )
    augment: AugmentConfig | None = Field(
        default=None, description="Batch augmentation for training stages (none by default)."
    )
    _parsed: BaseModel | None = PrivateAttr(default=None)

    @property
    def parsed(self) -> Any:
        """The dataset options validated by the dataset plugin's schema."""
        return self._parsed


class StageConfig(BaseModel):
    """One entry of ``stages:``. Keys other than name/type/inputs/outputs are the stage's options."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, pattern=NAME_PATTERN, json_schema_extra=NAME_EXPECTED)
    type: str
    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    outputs: dict[str, str | list[str]] = Field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        """The stage-specific keys, to be validated by the stage plugin."""
        return dict(self.model_extra or {})


class Recipe(StrictModel):
    """A whole recipe (``version: 1``)."""

    version: Literal[1] = Field(description="The recipe format version.")
    name: str = Field(
        pattern=NAME_PATTERN, json_schema_extra=NAME_EXPECTED, description="Names the run folder."
    )
    description: str = ""
    seed: int = Field(
        default=0, ge=0, le=MAX_SEED, description="Seeds every random number generator."
    )
    device: str = Field(
        default="auto",
        pattern=DEVICE_PATTERN,
        json_schema_extra={"expected": "auto, cpu, cuda, cuda:N (a GPU index) or mps"},
        description="auto (CUDA when present), cpu, cuda, cuda:N, mps",
    )
    precision: Literal["fp32", "bf16"] = Field(
        default="fp32",
        description="fp32, or bf16: training forward passes and losses under bfloat16 autocast "
        "(for GPUs with bf16; correct but slow on CPU)",
    )
    data: DataConfig
    stages: list[StageConfig] = Field(min_length=1)


@dataclass
class Plan:
    """A validated, resolved recipe: what :func:`compressor.run.pipeline.run` executes."""

    recipe: Recipe
    stages: list[StageInfo]
    source: str

    def resolved(self) -> dict[str, Any]:
        """The recipe with every default filled in, as written to the run folder."""
        data = self.recipe.data.model_dump(mode="json")
        data["options"] = self.recipe.data.parsed.model_dump(mode="json")
        return {
            "version": self.recipe.version,
            "name": self.recipe.name,
            "description": self.recipe.description,
            "seed": self.recipe.seed,
            "device": self.recipe.device,
            "precision": self.recipe.precision,
            "data": data,
            "stages": [
                {
                    "name": s.name,
                    "type": s.type,
                    "inputs": s.inputs,
                    "outputs": s.outputs,
                    **s.options.model_dump(mode="json"),
                }
                for s in self.stages
            ],
        }


# --- reading ---------------------------------------------------------------------------------


def read_recipe_file(path: str | Path) -> dict[str, Any]:
    """Read a recipe file into a mapping.

    Raises:
        UsageError: The file is missing or unreadable, is not valid YAML, or is not a mapping.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"recipe file not found: {file}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe {file}: {type(exc).__name__}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{file}: invalid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise UsageError(
            f"{file}: a recipe must be a mapping with version, name, data and stages; "
            f"got {type(raw).__name__}"
        )
    return raw


def load(path: str | Path, registry: Registry, overrides: list[str] | None = None) -> Plan:
    """Read, override, validate and resolve a recipe file."""
    raw = apply_overrides(read_recipe_file(path), list(overrides or []))
    try:
        return resolve(raw, registry, source=str(path))
    except RecipeError as exc:
        raise exc.with_source(str(path)) from None


# --- pydantic errors -> one line -------------------------------------------------------------


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _walk(
    model: type[BaseModel], loc: tuple[Any, ...]
) -> tuple[FieldInfo | None, type[BaseModel] | None]:
    """The field that ``loc`` names in ``model``, and the model that field holds (if any)."""
    current: type[BaseModel] | None = model
    field: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None:
            return None, None
        field = current.model_fields.get(part)
        if field is None:
            return None, None
        current = _model_in(field.annotation)
    return field, current


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current = _walk(model, loc)[1]
    return list(current.model_fields) if current is not None else []


def _expected(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """A field's ``json_schema_extra={"expected": ...}``: its valid values in words."""
    field = _walk(model, loc)[0]
    extra = field.json_schema_extra if field is not None else None
    expected = extra.get("expected") if isinstance(extra, dict) else None
    return expected if isinstance(expected, str) else None


def field_path(prefix: str, key: Any) -> str:
    """``prefix.key``, or ``prefix['key']`` for a key that is not a plain name.

    Keys come from the recipe: one with a line break, a space or nothing at all must not
    break the one-line error message or read as a different field.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{prefix}[{key}]"
    if isinstance(key, str) and key.isprintable() and key and " " not in key:
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{key!r}]"


def _format_loc(prefix: str, loc: tuple[Any, ...]) -> str:
    text = prefix
    for part in loc:
        text = field_path(text, part)
    return text


def recipe_error(
    exc: ValidationError, model: type[BaseModel], prefix: str = "", extra_keys: tuple[str, ...] = ()
) -> RecipeError:
    """Turn the first pydantic error into a one-line :class:`RecipeError`."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    field = _format_loc(prefix, loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        keys = _keys_at(model, loc[:-1]) + (list(extra_keys) if len(loc) == 1 else [])
        return RecipeError(field, "unknown key", value=loc[-1], choices=keys)
    if kind == "missing":
        return RecipeError(field, "required field is missing")
    message = err["msg"]
    expected = _expected(model, loc) if kind == "string_pattern_mismatch" else None
    if expected:
        # A regular expression tells a user less than the words its field gives for it.
        return RecipeError(
            field, f"invalid value {describe_value(value)}: expected {expected}", value=value
        )
    if kind == "value_error":
        # Raised by our own validators: the message already says what is wrong.
        return RecipeError(field, message.removeprefix("Value error, "), value=value)
    message = message[0].lower() + message[1:]
    return RecipeError(field, f"invalid value {describe_value(value)}: {message}", value=value)


def _validate(
    model: type[BaseModel], data: Any, prefix: str, extra_keys: tuple[str, ...] = ()
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise recipe_error(exc, model, prefix, extra_keys) from None


# --- resolving against the registry ----------------------------------------------------------


def _lookup(registry: Registry, kind: str, name: str, field: str) -> Any:
    try:
        return registry.get(kind, name)
    except UnknownNameError as exc:
        detail = str(exc).split(";")[0]
        if exc.not_loaded:
            # The name may belong to a plugin that failed to load: say which, or it looks like a typo.
            detail += f" (not loaded: {', '.join(exc.not_loaded)})"
        raise RecipeError(field, detail, value=name, choices=exc.choices) from None


def _resolve_refs(value: Any, registry: Registry, field: str) -> None:
    """Validate every plugin reference inside ``value`` against its plugin's own schema."""
    if isinstance(value, PluginRef):
        record = _lookup(registry, value.kind, value.name, f"{field}.name")
        parsed = _validate(record.options, value.options, f"{field}.options")
        value._parsed = parsed
        value.options = parsed.model_dump(mode="json")
        for sub_field, message in value.check(record):
            raise RecipeError(f"{field}.{sub_field}", message)
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _resolve_refs(getattr(value, name), registry, f"{field}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _resolve_refs(item, registry, f"{field}[{i}]")


def _slots(
    given: dict[str, str | list[str]], declared: dict[str, Any], field: str, direction: str
) -> dict[str, str | list[str]]:
    slots: dict[str, str | list[str]] = {}
    for slot, names in given.items():
        role = declared.get(slot)
        if role is None:
            raise RecipeError(
                f"{field}.{slot}", f"unknown {direction} slot", value=slot, choices=declared
            )
        if role.many:
            slots[slot] = [names] if isinstance(names, str) else list(names)
        elif isinstance(names, list):
            raise RecipeError(
                f"{field}.{slot}", f"takes one artifact name, got a list {names!r}", value=names
            )
        else:
            slots[slot] = names
    return slots


def check_values(
    value: Any, field: str = "", _open: set[int] | None = None, _done: set[int] | None = None
) -> None:
    """Reject what no option can mean: recursive YAML aliases, non-finite floats, integers
    beyond 64 bits.

    Plugin schemas rarely bound their fields, and pydantic accepts ``.inf`` and huge integers
    for unbounded ones; torch would later fail on them mid-run with an overflow or a NaN loss.
    Checking the raw mapping once covers every plugin, third-party ones included.

    Raises:
        RecipeError: The first such value, naming its field.
    """
    open_ids = set() if _open is None else _open
    done = set() if _done is None else _done
    if isinstance(value, dict | list):
        # YAML aliases share nodes: `a: &x [*x]` is a cycle, and nested aliases a huge tree.
        # Each container is checked once, and one that contains itself is an error.
        if id(value) in open_ids:
            raise RecipeError(field, "refers to itself (a recursive YAML alias)")
        if id(value) in done:
            return
        open_ids.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            check_values(item, field_path(field, key), open_ids, done)
        open_ids.discard(id(value))
        done.add(id(value))
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise RecipeError(
            field,
            f"invalid value {describe_value(value)}: integers must fit in 64 bits",
            value=value,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(field, f"invalid value {value}: numbers must be finite", value=value)


def resolve(raw: dict[str, Any], registry: Registry, source: str = "<recipe>") -> Plan:
    """Validate a raw recipe mapping and resolve it against the registry.

    Raises:
        RecipeError: The first problem found, as one line naming the field.
    """
    check_values(raw)
    recipe: Recipe = _validate(Recipe, raw, "")
    data = recipe.data
    dataset = _lookup(registry, "dataset", data.dataset, "data.dataset")
    data._parsed = _validate(dataset.options, data.options, "data.options")

    stages: list[StageInfo] = []
    producers: dict[str, str] = {}
    seen_names: dict[str, int] = {}
    for index, stage in enumerate(recipe.stages):
        name = stage.name or stage.type
        field = f"stages.{name}"
        if name in seen_names:
            raise RecipeError(
                f"stages[{index}].name",
                f"duplicate stage name {name!r} (also stages[{seen_names[name]}]); give each stage "
                "a unique name",
                value=name,
            )
        seen_names[name] = index
        record = _lookup(registry, "stage", stage.type, f"stages[{index}].type")
        options = _validate(record.options, stage.options, field, STAGE_KEYS)
        _resolve_refs(options, registry, field)
        for sub_field, message in record.check(options, registry) if record.check else []:
            raise RecipeError(f"{field}.{sub_field}", message)

        inputs = _slots(stage.inputs, record.inputs, f"{field}.inputs", "input")
        for slot, role in record.inputs.items():
            if role.required and slot not in inputs:
                raise RecipeError(
                    f"{field}.inputs.{slot}", f"required input is missing ({role.description})"
                )
        outputs = _slots(stage.outputs, record.outputs, f"{field}.outputs", "output")
        if record.default_outputs is not None:
            for slot, names in record.default_outputs(inputs, options, registry).items():
                outputs.setdefault(slot, names)
        for slot, role in record.outputs.items():
            if slot not in outputs and role.required and not role.many:
                # A stage named "teacher" produces the artifact "teacher" unless told otherwise.
                outputs[slot] = name

        for slot, names in inputs.items():
            for artifact in names if isinstance(names, list) else [names]:
                if artifact not in producers:
                    raise RecipeError(
                        f"{field}.inputs.{slot}",
                        f"artifact {artifact!r} is not produced by any earlier stage",
                        value=artifact,
                        choices=producers,
                    )
        for slot, names in outputs.items():
            for artifact in names if isinstance(names, list) else [names]:
                if not re.match(NAME_PATTERN, artifact):
                    raise RecipeError(
                        f"{field}.outputs.{slot}",
                        f"invalid artifact name {artifact!r}: expected {NAME_EXPECTED['expected']}",
                    )
                if artifact in producers:
                    raise RecipeError(
                        f"{field}.outputs.{slot}",
                        f"artifact {artifact!r} is already produced by stage "
                        f"{producers[artifact]!r}; each artifact has one producer",
                        value=artifact,
                    )
                producers[artifact] = name
        stages.append(
            StageInfo(
                name=name,
                type=record.name,
                index=index,
                options=options,
                inputs=inputs,
                outputs=outputs,
            )
        )
    return Plan(recipe=recipe, stages=stages, source=source)
