"""A run against a hostile file system: a read-only --out folder, a disk that fills up."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import torch

from compressor.cli import main


def _run(capsys, recipe_file: Path, out: Path) -> tuple[int, str]:
    code = main(["run", str(recipe_file), "--quiet", "--out", str(out)])
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def test_out_inside_a_read_only_folder_is_a_usage_error(
    capsys, tmp_path, tiny_recipe, write_recipe, monkeypatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked / "run"
    if os.geteuid() == 0:
        # chmod does not stop root: refuse the folder's creation the way the kernel would.
        real_mkdir = Path.mkdir

        def mkdir(self: Path, *args, **kwargs) -> None:
            if self.parent == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    else:
        locked.chmod(0o555)
    try:
        code, err = _run(capsys, write_recipe(tiny_recipe), out)
    finally:
        locked.chmod(0o755)
    assert code == 2
    assert _one_line(err) == f"error: --out {out}: cannot create the run folder (Permission denied)"
    assert list(locked.iterdir()) == []


def test_full_disk_mid_run_names_the_file_and_leaves_no_partial_file(
    capsys, tmp_path, tiny_recipe, write_recipe, monkeypatch
) -> None:
    tiny_recipe["stages"] = tiny_recipe["stages"][:1]
    tiny_recipe["stages"][0]["epochs"] = 1
    recipe_file = write_recipe(tiny_recipe)
    real_save, real_write_text = torch.save, Path.write_text
    full: list[Path] = []

    def save(obj, f, *args, **kwargs) -> None:
        # Half the checkpoint reaches the disk, then the disk is full, and stays full.
        real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[: Path(f).stat().st_size // 2])
        full.append(Path(f))
        raise OSError(errno.ENOSPC, "No space left on device", str(f))

    def write_text(self: Path, *args, **kwargs) -> int:
        if full:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(Path, "write_text", write_text)
    out = tmp_path / "run"
    code, err = _run(capsys, recipe_file, out)

    assert code == 1
    line = _one_line(err)
    # The first torch.save of the stage is its epoch-1 checkpoint.
    assert line.startswith("error: cannot write ")
    assert "checkpoints/teacher-0.pt: No space left on device" in line
    assert line.endswith(f"--resume {tmp_path / 'run.failed'})")
    assert full and full[0].name.endswith(".tmp")  # it was written through a temporary file
    assert not out.exists() and not (tmp_path / ".run.partial").exists()
    failed = tmp_path / "run.failed"
    left = sorted(str(p.relative_to(failed)) for p in failed.rglob("*"))
    # No teacher.pt, no checkpoint, no .tmp, no half-written metrics.json.
    assert left == ["checkpoints", "recipe.yaml"], left
