"""Building the plugin under test, the way a recipe would, from whatever form the test gives.

A check accepts a registered name, a record, a factory or an already built object;
:func:`build_plugin` turns any of them into the built plugin (and its record, when there is
one), and :func:`parse_options` validates the options by the record's schema. Both raise
:class:`AssertionError`, so a wrong name or option reads as a failed check.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from compressor.records import PluginRecord


def find_record(kind: str, target: Any, expected: type[PluginRecord]) -> PluginRecord | None:
    """The record behind ``target``: looked up when it is a name, itself when it is a record.

    Args:
        kind: The plugin kind (``"loss"``, ``"pruner"``, ...), to look names up under.
        target: What the test gave: a name, a record, or anything else.
        expected: The record type of ``kind``.

    Returns:
        The record, or ``None`` when ``target`` is neither a name nor a record.

    Raises:
        AssertionError: The name is not registered, or the record is of another kind.
    """
    if isinstance(target, str):
        from compressor.errors import UnknownNameError
        from compressor.plugin.registry import Registry

        registry = Registry.load()
        try:
            return registry.get(kind, target)
        except UnknownNameError as exc:
            raise AssertionError(f"{exc}; {_why_unknown(registry, exc)}") from None
    if isinstance(target, PluginRecord):
        assert isinstance(target, expected), (
            f"expected a {expected.__name__} record, got {type(target).__name__}"
        )
        return target
    return None


def _why_unknown(registry: Any, error: Any) -> str:
    """What to tell an author whose name is unknown: why the plugins that did not load did not.

    A broken plugin (a typo in a hook, a failed import) is installed; "is it installed?" would
    send its author the wrong way.
    """
    reasons = []
    for label in error.not_loaded:
        name = label.removesuffix(" blocked").split(" (")[0]
        why = registry.why_not_loaded(name)
        if why:
            reasons.append(f"{name}: {why}")
    if reasons:
        return "why: " + "; ".join(reasons)
    return "is the plugin installed in this environment (pip install -e .)?"


def parse_options(record: PluginRecord | None, options: Any) -> Any:
    """``options`` validated by the record's schema; as given when parsed or without a record.

    Args:
        record: The plugin's record, if any.
        options: A mapping, ``None`` (no options) or an already validated pydantic model.

    Returns:
        The validated options model (or ``options`` itself, see above).

    Raises:
        AssertionError: The schema rejects the options, or a mapping was given for a bare
            factory (which has no schema to validate it with).
    """
    if isinstance(options, BaseModel):
        return options
    if record is None:
        # A bare factory has no schema to validate a mapping with: it would get a plain dict
        # where a recipe gives it a validated model, and fail on attribute access.
        assert not options, (
            f"options {dict(options)!r} given as a mapping, but the plugin under test is a bare "
            "factory without a schema; pass the options as a validated model (MyOptions(...)), "
            "or pass the plugin's record"
        )
        return options
    try:
        return record.options.model_validate(dict(options or {}))
    except Exception as exc:
        raise AssertionError(
            f"{record.kind} {record.name!r}: options {dict(options or {})!r} are rejected by "
            f"its schema {record.options.__name__}: {exc}"
        ) from exc


def build_plugin(
    kind: str, target: Any, options: Any, expected: type[PluginRecord], has: str
) -> tuple[Any, PluginRecord | None]:
    """Build the plugin object from a name, record, factory or built object.

    Args:
        kind: The plugin kind, for lookups and messages.
        target: A registered name, a record, a factory (called with the options) or a built
            object (anything with a ``has`` attribute that is not a class).
        options: The options, validated by the record's schema when there is a record.
        expected: The record type of ``kind``.
        has: The method every built plugin of ``kind`` has (``"forward"``, ``"export"``, ...).

    Returns:
        The built plugin and its record (``None`` for a factory or a built object).

    Raises:
        AssertionError: The plugin cannot be found or built, or lacks ``has``.
    """
    record = find_record(kind, target, expected)
    parsed = parse_options(record, options)
    label = f"{kind} {record.name!r}" if record else f"{kind} {target!r}"
    if record is not None:
        try:
            built = record.build(parsed)
        except Exception as exc:
            raise AssertionError(
                f"{label}: factory {record.factory!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    elif hasattr(target, has) and not isinstance(target, type):
        built = target
    elif callable(target):
        built = target(parsed)
    else:
        raise AssertionError(
            f"cannot check {target!r}: give a name, a record, a factory or a {kind}"
        )
    assert hasattr(built, has), (
        f"{label}: the factory returned {type(built).__name__}, which has no {has}() method"
    )
    return built, record


def plugin_label(kind: str, built: Any, record: PluginRecord | None) -> str:
    """How a check's messages name the plugin: its registered name, else its class."""
    return f"{kind} {record.name!r}" if record else f"{kind} {type(built).__name__}"
