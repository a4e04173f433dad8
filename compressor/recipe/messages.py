"""Pydantic validation errors turned into one line that names the recipe field.

A recipe error must say which field, what value and what would be valid, in one line: the
first pydantic error is rewritten here, with the field path written as the recipe spells it
(``stages.distill.losses[0].name``) and a field's ``json_schema_extra={"expected": ...}`` in
place of a regular expression.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from compressor.errors import RecipeError, describe_value


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


def validate(
    model: type[BaseModel], data: Any, prefix: str, extra_keys: tuple[str, ...] = ()
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise recipe_error(exc, model, prefix, extra_keys) from None
