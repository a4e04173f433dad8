"""The docs name every built-in plugin, so a new one cannot ship undocumented."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_builtin_is_documented(registry) -> None:
    text = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    missing = [
        f"{kind} {record.name}"
        for kind in ("task", "loss", "pruner", "exporter", "dataset", "model", "stage")
        for record in registry.records(kind)
        if "(compressor " in record.source and f"`{record.name}`" not in text
    ]
    assert not missing, f"undocumented built-ins: {missing}"


def test_every_augment_field_is_documented() -> None:
    from compressor.recipe import AugmentConfig

    table = (DOCS / "distillation.md").read_text()
    missing = [name for name in AugmentConfig.model_fields if f"| `{name}` |" not in table]
    assert not missing, f"augment fields missing from docs/distillation.md's table: {missing}"
