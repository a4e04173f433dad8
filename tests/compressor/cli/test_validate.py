"""``compressor validate``: what a valid recipe prints."""

from __future__ import annotations

from tests.compressor.cli.invoke import run_cli


def test_validate_prints_the_flow(capsys, tiny_recipe, write_recipe) -> None:
    code, out, _ = run_cli(
        capsys, "validate", str(write_recipe(tiny_recipe)), "--set", "stages.distill.epochs=3"
    )
    assert code == 0
    assert "teacher (train) → distill (distill) → prune (prune) → export (export)" in out
