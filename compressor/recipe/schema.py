"""The recipe's JSON Schema, composed from every registered plugin's options, for editors.

``compressor schema`` prints it; VS Code (with the YAML extension) and any other editor that
runs yaml-language-server then completes and checks recipes as they are typed. The schema is
the recipe's own models (:mod:`compressor.recipe.models`) with each place that names a plugin
turned into a choice discriminated by that name:

- a stage entry by its ``type``: the stage plugin's options and its input and output slots;
- ``data`` by its ``dataset``: the dataset's ``options``;
- a plugin reference (:class:`~compressor.schemas.PluginRef`: a model, a loss term, a pruner,
  an exporter, the task) by its ``name``: that plugin's ``options``.

Each choice is an ``enum`` of the registered (normalized) names, for completion, and one
``if``/``then`` per name that applies the plugin's options schema. The dialect is draft-07,
the newest that every yaml-language-server release reads. The schema checks what the options
models declare; what needs the registry at run time (artifact flow, a loss that needs a
teacher, cross-field validators) is ``compressor validate``'s business, and ``--set``
overrides are not the schema's at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from compressor import __version__
from compressor.recipe.models import NAME_PATTERN, DataConfig, Recipe, StageConfig
from compressor.records import StagePlugin
from compressor.schemas import ModelRef, PluginRef, TaskRef

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry
    from compressor.records import PluginRecord, Role

#: The JSON Schema dialect of the document.
DIALECT = "http://json-schema.org/draft-07/schema#"
#: The kinds of registered things, each of which a recipe can name.
KINDS = ("loss", "pruner", "exporter", "dataset", "model", "stage", "task")
#: Model names :class:`~compressor.schemas.ModelRef` expands itself: ``torchvision.ARCH``,
#: ``timm.NAME`` and ``package.module:attr`` (the ``import`` model's target pattern).
MODEL_SHORTHANDS = (r"^torchvision\..+$", r"^timm\..+$", r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
#: What makes a model name a shorthand rather than a registered name, as ModelRef decides it.
SHORTHAND_START = r"^torchvision\.|^timm\.|:"
#: Mark, while pydantic generates the definitions, those of plugin references (and their kind)
#: and those of model references (which take shorthands); removed before the schema is done.
_REF_MARK = "x-compressor-reference"
_SHORTHANDS_MARK = "x-compressor-shorthands"
_BARE_MARK = "x-compressor-bare-name"

Defs = dict[str, JsonSchemaValue]
#: A pydantic model's definition: its name in ``$defs``, or a ``$ref`` to it.
DefOf = Callable[[type[BaseModel]], str]
RefOf = Callable[[type[BaseModel]], JsonSchemaValue]


class _MarkReferences(GenerateJsonSchema):
    """Pydantic's generator, marking each plugin reference's definition with its kind."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        cls = schema["cls"]
        if issubclass(cls, PluginRef) and cls.kind:
            json_schema = {**json_schema, _REF_MARK: cls.kind}
            if issubclass(cls, ModelRef):
                json_schema[_SHORTHANDS_MARK] = True
            elif issubclass(cls, TaskRef):
                json_schema[_BARE_MARK] = True
        return json_schema


def recipe_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of a recipe, for the plugins in ``registry``.

    Args:
        registry: The registered plugins; their names become the choices and their options
            models the schemas applied to each choice.

    Returns:
        A draft-07 JSON Schema document, ready for ``json.dumps``.
    """
    records = {kind: registry.records(kind) for kind in KINDS}
    options = [record.options for kind in KINDS for record in records[kind]]
    models: dict[type[BaseModel], None] = dict.fromkeys([Recipe, DataConfig, StageConfig, *options])
    refs, document = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/$defs/{model}",
        schema_generator=_MarkReferences,
    )
    defs: Defs = document["$defs"]

    def def_of(model: type[BaseModel]) -> str:
        return str(refs[(model, "validation")]["$ref"]).rsplit("/", 1)[-1]

    def ref_of(model: type[BaseModel]) -> JsonSchemaValue:
        return {"$ref": f"#/$defs/{def_of(model)}"}

    for name, definition in list(defs.items()):
        kind = definition.pop(_REF_MARK, None)
        if kind is not None:
            shorthands = bool(definition.pop(_SHORTHANDS_MARK, False))
            bare = shorthands or bool(definition.pop(_BARE_MARK, False))
            defs[name] = _reference(definition, records.get(kind, []), ref_of, shorthands, bare)
    data = def_of(DataConfig)
    defs[data] = _discriminated(defs[data], "dataset", records["dataset"], ref_of)
    stage = def_of(StageConfig)
    stages = [record for record in records["stage"] if isinstance(record, StagePlugin)]
    defs[stage] = _stage_choice(defs[stage], stages, defs, def_of)
    top = defs.pop(def_of(Recipe))
    _drop_unreferenced(defs, top)
    return {
        "$schema": DIALECT,
        "$comment": f"compressor {__version__}, for the plugins installed when it was made; "
        "`compressor schema --out FILE` makes it again",
        **top,
        "title": "compressor recipe",
        "$defs": defs,
    }


def _name_choices(field: JsonSchemaValue, records: list[PluginRecord]) -> JsonSchemaValue:
    """A name field as the registered names, each with its description for the editor."""
    choices = {k: v for k, v in field.items() if k not in ("type", "anyOf", "pattern")}
    return {
        **choices,
        "type": "string",
        "enum": [record.name for record in records],
        # Not JSON Schema: VS Code and yaml-language-server show these beside each choice.
        "enumDescriptions": [record.description for record in records],
    }


def _when(key: str, value: str, then: JsonSchemaValue) -> JsonSchemaValue:
    """``then`` applies to an object whose ``key`` is ``value``."""
    return {"if": {"properties": {key: {"const": value}}, "required": [key]}, "then": then}


def _discriminated(
    base: JsonSchemaValue, key: str, records: list[PluginRecord], ref_of: RefOf
) -> JsonSchemaValue:
    """``base`` (an object with ``key`` and ``options``) with ``options`` chosen by ``key``."""
    properties = dict(base.get("properties", {}))
    properties[key] = _name_choices(properties.get(key, {}), records)
    return {
        **base,
        "properties": properties,
        "allOf": [
            _when(key, record.name, {"properties": {"options": ref_of(record.options)}})
            for record in records
        ],
    }


def _reference(
    base: JsonSchemaValue,
    records: list[PluginRecord],
    ref_of: RefOf,
    shorthands: bool,
    bare: bool = False,
) -> JsonSchemaValue:
    """A ``{name, options}`` reference, discriminated by ``name``.

    A model or a task may also be a bare name (``seed_mlp``, ``detection``: ``bare``), and a
    model's name may be one of the shorthands :class:`~compressor.schemas.ModelRef` expands,
    whose options are not checked here.
    """
    schema = _discriminated(base, "name", records, ref_of)
    if not bare:
        return schema
    name = registered = schema["properties"]["name"]
    if shorthands:
        # if/then/else rather than anyOf: an error names the one rule that failed, not "none of".
        name = {
            "description": "A registered model, torchvision.ARCH, timm.NAME, or "
            "package.module:attr.",
            "type": "string",
            "if": {"pattern": SHORTHAND_START},
            "then": {"anyOf": [{"pattern": pattern} for pattern in MODEL_SHORTHANDS]},
            "else": registered,
        }
    schema["properties"] = {**schema["properties"], "name": name}
    return {
        "description": base.get("description", ""),
        "if": {"type": "string"},
        "then": name,
        "else": schema,
    }


def _slots(roles: dict[str, Role], *, outputs: bool) -> JsonSchemaValue:
    """A stage's ``inputs`` or ``outputs``: its declared slots, each one artifact or a list."""
    one: JsonSchemaValue = {"type": "string"}
    if outputs:
        one["pattern"] = NAME_PATTERN
    properties = {
        slot: {
            "description": role.description,
            **({"anyOf": [one, {"type": "array", "items": one}]} if role.many else one),
        }
        for slot, role in roles.items()
    }
    # An output left out is named by the stage (after itself, or its inputs): never required.
    required = [] if outputs else [slot for slot, role in roles.items() if role.required]
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        **({"required": required} if required else {}),
    }


def _stage_branch(record: StagePlugin, options: JsonSchemaValue) -> JsonSchemaValue:
    """What a stage entry of this type holds: the four common keys and the stage's options."""
    branch = {
        k: v
        for k, v in options.items()
        if k not in ("title", "type", "properties", "required", "description")
    }
    branch["properties"] = {
        **options.get("properties", {}),
        # The common keys are checked by the entry's own schema; here they are only allowed.
        "name": {},
        "type": {},
        "inputs": _slots(record.inputs, outputs=False),
        "outputs": _slots(record.outputs, outputs=True),
    }
    required = list(options.get("required", []))
    if any(role.required for role in record.inputs.values()):
        required.append("inputs")
    if required:
        branch["required"] = required
    return branch


def _stage_choice(
    base: JsonSchemaValue, records: list[StagePlugin], defs: Defs, def_of: DefOf
) -> JsonSchemaValue:
    """A ``stages:`` entry, discriminated by ``type``: the stage's options, slots and names."""
    properties = dict(base.get("properties", {}))
    properties["type"] = _name_choices(properties.get("type", {}), list(records))
    return {
        "type": "object",
        "title": base.get("title", "StageConfig"),
        "description": "One stage: name, type, inputs, outputs, and the options of its type.",
        "properties": properties,
        "required": ["type"],
        "allOf": [
            _when("type", record.name, _stage_branch(record, defs[def_of(record.options)]))
            for record in records
        ],
    }


def _drop_unreferenced(defs: Defs, top: JsonSchemaValue) -> None:
    """Remove the definitions nothing refers to any more (stage options, now inlined)."""
    wanted: set[str] = set()
    pending = [top]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in wanted and name in defs:
                    wanted.add(name)
                    pending.append(defs[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for name in set(defs) - wanted:
        del defs[name]
