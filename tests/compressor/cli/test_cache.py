"""``compressor cache``: list the stage cache's entries, prune them by age or size, clear them."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from compressor.run.cache import StageCache, cache_key
from tests.compressor.cli.invoke import run_cli

DAY = 86400.0


def _entry(cache: StageCache, tmp_path: Path, stage: str, size: int, used_days_ago: float) -> str:
    """Store an entry of ``size`` bytes made by a ``stage`` stage, last used that long ago."""
    run_dir = tmp_path / f"run-{stage}-{size}"
    run_dir.mkdir()
    (run_dir / "model.pt").write_bytes(b"w" * size)
    key = cache_key({"stage": {"type": stage}, "size": size})
    material = {"stage": {"type": stage, "epochs": 1}}
    assert cache.store(
        key, run_dir=run_dir, files=["model.pt"], artifacts=[], metrics={}, material=material
    )
    used = time.time() - used_days_ago * DAY
    os.utime(cache.root / key[:2] / key / "entry.json", (used, used))  # type: ignore[operator]
    return key


@pytest.fixture
def filled(tmp_path) -> tuple[Path, dict[str, str]]:
    """A cache with a train entry unused for 40 days, a distill one for 10 and a fresh export."""
    cache = StageCache(tmp_path / "cache")
    keys = {
        "train": _entry(cache, tmp_path, "train", 300_000, 40),
        "distill": _entry(cache, tmp_path, "distill", 200_000, 10),
        "export": _entry(cache, tmp_path, "export", 100_000, 0),
    }
    return tmp_path / "cache", keys


def _keys(root: Path) -> set[str]:
    return {p.parent.name for p in root.glob("*/*/entry.json")}


def test_lists_entries_newest_first_with_their_total(capsys, filled) -> None:
    root, keys = filled
    code, out, _ = run_cli(capsys, "cache", "--cache-dir", str(root))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"stage cache {root}:"
    rows = lines[2:5]
    assert [row.split()[0] for row in rows] == [
        keys[s][:12] for s in ("export", "distill", "train")
    ]
    # 200,000 bytes of files and entry.json; stored just now, last used 10 days ago (set so).
    assert re.search(r"distill +195\.\d KiB +just now +10 days ago$", rows[1])
    assert lines[-1].startswith("total: 3 entries, 586.")


def test_json_lists_every_entry(capsys, filled) -> None:
    root, keys = filled
    code, out, _ = run_cli(capsys, "cache", "--cache-dir", str(root), "--json")
    payload = json.loads(out)
    assert code == 0 and payload["cache_dir"] == str(root)
    assert {e["key"]: e["stage"] for e in payload["entries"]} == {k: s for s, k in keys.items()}
    assert payload["total_size"] == sum(e["size"] for e in payload["entries"]) > 600_000


def test_an_empty_or_missing_cache_says_so(capsys, tmp_path) -> None:
    code, out, _ = run_cli(capsys, "cache", "--cache-dir", str(tmp_path / "none"))
    assert code == 0 and out.strip() == f"stage cache {tmp_path / 'none'}: empty"


def test_prune_older_than_removes_entries_unused_that_long(capsys, filled) -> None:
    root, keys = filled
    code, out, _ = run_cli(
        capsys, "cache", "--cache-dir", str(root), "--prune", "--older-than", "30"
    )
    assert code == 0 and out.startswith("removed 1 entry, ")
    assert _keys(root) == {keys["distill"], keys["export"]}


def test_max_size_removes_the_least_recently_used_first(capsys, filled) -> None:
    root, keys = filled
    code, _, _ = run_cli(capsys, "cache", "--cache-dir", str(root), "--max-size", "350K")
    assert code == 0
    assert _keys(root) == {keys["distill"], keys["export"]}  # 300 KB of train went first
    run_cli(capsys, "cache", "--cache-dir", str(root), "--max-size", "0.1M")
    assert _keys(root) == {keys["export"]}  # 100,000 bytes and its entry.json fit in 0.1 MiB


def test_a_hit_counts_as_a_use(capsys, filled) -> None:
    root, keys = filled
    assert StageCache(root).load(keys["train"]) is not None  # used now: no longer 40 days old
    run_cli(capsys, "cache", "--cache-dir", str(root), "--older-than", "30")
    assert keys["train"] in _keys(root)


def test_clear_removes_every_entry_and_abandoned_temporary_folders(capsys, filled) -> None:
    root, _ = filled
    abandoned, in_progress = root / "ab" / ".abandoned", root / "ab" / ".in-progress"
    for folder in (abandoned, in_progress):
        folder.mkdir(parents=True)
    os.utime(abandoned, (time.time() - 2 * 3600,) * 2)
    code, out, _ = run_cli(capsys, "cache", "--cache-dir", str(root), "--clear")
    assert code == 0 and out.startswith("removed 3 entries, ") and out.rstrip().endswith("0 B left")
    assert _keys(root) == set()
    assert not abandoned.exists() and in_progress.exists()  # another run may be writing that one


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prune"], "--prune: say what to remove with --older-than DAYS and/or --max-size SIZE"),
        (["--older-than", "soon"], "--older-than: expected a number of days, 0 or more"),
        (["--older-than", "-1"], "--older-than: expected a number of days, 0 or more"),
        (["--max-size", "big"], "--max-size: expected a size such as 500M, 2G or 1.5GiB"),
        (["--clear", "--max-size", "1G"], "--clear removes every entry"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(capsys, filled, argv, message) -> None:
    root, keys = filled
    code, _, err = run_cli(capsys, "cache", "--cache-dir", str(root), *argv)
    assert code == 2 and err.count("\n") == 1 and message in err
    assert _keys(root) == set(keys.values())  # nothing removed
