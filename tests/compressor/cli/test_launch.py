"""``compressor run --nproc N``: what each torchrun process runs."""

from __future__ import annotations

from compressor.cli.launch import without_nproc


def test_nproc_is_dropped_from_what_each_process_runs() -> None:
    assert without_nproc(["--debug", "run", "r.yaml", "--nproc", "2", "--quiet"]) == [
        "--debug",
        "run",
        "r.yaml",
        "--quiet",
    ]
    assert without_nproc(["run", "r.yaml", "--nproc=4"]) == ["run", "r.yaml"]
