"""The run folder's life: staging, the failed folder with its error, the published folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from compressor.errors import StageFailure, UsageError, WriteFailure
from compressor.run import folder
from compressor.run.resume import final_name
from compressor.training.distributed import DistributedInfo


def test_default_run_dir_is_the_recipe_name_and_a_timestamp(tmp_path) -> None:
    run_dir = folder.default_run_dir("tiny", tmp_path)
    assert run_dir.parent == tmp_path and re.fullmatch(r"tiny-\d{8}-\d{6}", run_dir.name)
    assert folder.default_run_dir("tiny").parent == Path("runs")


def test_staging_and_failed_names_sit_beside_the_final_name(tmp_path) -> None:
    out = tmp_path / "run"
    assert folder.staging_dir(out) == tmp_path / ".run.partial"
    assert folder.failed_dir(out) == tmp_path / "run.failed"
    assert final_name(folder.staging_dir(out)) == out == final_name(folder.failed_dir(out))


def test_staging_replaces_what_a_killed_run_left(tmp_path) -> None:
    out = tmp_path / "deep" / "run"
    leftover = folder.staging_dir(out)
    leftover.mkdir(parents=True)
    (leftover / "half.pt").write_bytes(b"")
    staging = folder.prepare_staging(out)
    assert staging == leftover and staging.is_dir() and not any(staging.iterdir())
    assert not out.exists()


def test_an_empty_out_folder_is_accepted_and_a_file_refused(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    assert folder.prepare_staging(tmp_path / "empty") == tmp_path / ".empty.partial"
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="already exists and is not empty"):
        folder.prepare_staging(tmp_path / "file")


def test_one_process_prepares_the_run_folder_itself(tmp_path) -> None:
    staging = folder.prepare_rank_staging(tmp_path / "run", DistributedInfo())
    assert staging == tmp_path / ".run.partial" and staging.is_dir()


def test_other_ranks_write_into_a_temporary_folder(tmp_path, monkeypatch) -> None:
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    staging = folder.prepare_rank_staging(tmp_path / "run", DistributedInfo(rank=1, world_size=2))
    assert staging.parent == tmp_path / "tmp" and staging.name.startswith("compressor-rank1-")
    assert not (tmp_path / ".run.partial").exists()
    folder.discard(staging)
    assert not staging.exists()


def test_a_failed_run_is_kept_with_its_error_and_metrics(tmp_path) -> None:
    out = tmp_path / "run"
    staging = folder.prepare_staging(out)
    (staging / "teacher.pt").write_bytes(b"weights")
    old = folder.failed_dir(out)
    old.mkdir()
    (old / "stale.txt").write_text("from an earlier failure")
    try:
        raise StageFailure("parity check failed")
    except StageFailure as error:
        kept = folder.keep_failed(staging, out, error, {"status": "failed"})
        assert error.kept_run_dir == kept  # type: ignore[attr-defined]
    assert kept == old and not staging.exists() and not out.exists()
    assert sorted(p.name for p in kept.iterdir()) == ["error.txt", "metrics.json", "teacher.pt"]
    assert json.loads((kept / "metrics.json").read_text()) == {"status": "failed"}
    text = (kept / "error.txt").read_text()
    assert "Traceback" in text and "StageFailure: parity check failed" in text


def test_a_failed_disk_still_keeps_the_run(tmp_path, monkeypatch) -> None:
    def full_disk(path, data):
        raise WriteFailure(f"cannot write {path}: no space left on device")

    monkeypatch.setattr(folder, "write_json", full_disk)
    out = tmp_path / "run"
    staging = folder.prepare_staging(out)
    error = KeyboardInterrupt()
    kept = folder.keep_failed(staging, out, error, {"status": "interrupted"})
    assert kept.is_dir() and not any(kept.iterdir())
    assert error.kept_run_dir == kept  # type: ignore[attr-defined]


def test_publishing_writes_metrics_and_report_and_drops_what_only_resume_needs(
    tmp_path, monkeypatch
) -> None:
    reported = []
    monkeypatch.setattr(
        "compressor.report.write_report", lambda run_dir, metrics: reported.append(metrics)
    )
    out = tmp_path / "run"
    out.mkdir()  # empty: accepted, and replaced by the run
    staging = folder.prepare_staging(out)
    (staging / "checkpoints").mkdir()
    (staging / "checkpoints" / "teacher-0.pt").write_bytes(b"")
    (staging / "completed_stages.json").write_text("[]")
    (staging / "student.onnx").write_bytes(b"onnx")
    folder.publish(staging, out, {"status": "completed"})
    assert reported == [{"status": "completed"}] and not staging.exists()
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "student.onnx"]
    assert json.loads((out / "metrics.json").read_text()) == {"status": "completed"}
