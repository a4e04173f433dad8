"""Atomic writes: a failed write leaves the previous file and no temporary file behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from compressor import atomic
from compressor.errors import WriteFailure


def _disk_fills_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes put half their text on disk, then fail as a full disk does."""
    real = Path.write_text

    def write_text(self: Path, text: str, *args, **kwargs) -> int:
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", write_text)


def test_full_disk_is_a_write_failure_naming_the_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "metrics.json"
    target.write_text('{"previous": true}\n')
    _disk_fills_up(monkeypatch)
    with pytest.raises(WriteFailure) as excinfo:
        atomic.write_json(target, {"accuracy": 0.9})
    assert str(excinfo.value) == f"cannot write {target}: No space left on device"
    assert excinfo.value.exit_code == 1
    monkeypatch.undo()
    assert target.read_text() == '{"previous": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no .tmp left


def test_unwritable_folder_is_a_write_failure(tmp_path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(WriteFailure, match=r"cannot write .*report\.md: Permission denied"):
        atomic.write_text(tmp_path / "report.md", "x")


def test_other_errors_pass_through_unchanged(tmp_path) -> None:
    with pytest.raises(FileNotFoundError), atomic.atomic_path(tmp_path / "m.onnx"):
        raise FileNotFoundError(errno.ENOENT, "an input the writer reads is missing")
    assert list(tmp_path.iterdir()) == []


def test_discard_folder_removes_it_whatever_hidden_folders_are_beside_it(tmp_path) -> None:
    folder = tmp_path / "0123456789abcdef"
    for _ in range(2):  # the second removal meets the first one's name, were it not unique
        folder.mkdir()
        (folder / "data").write_text("x")
        blocking = tmp_path / f".{folder.name[:12]}.removed.{os.getpid()}"
        blocking.mkdir(exist_ok=True)
        (blocking / "left").write_text("y")
        assert atomic.discard_folder(folder)
        assert not folder.exists()
    assert not atomic.discard_folder(folder)  # nothing to remove
    assert all(p.name.startswith(".") for p in tmp_path.iterdir())
