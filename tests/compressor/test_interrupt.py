"""Ctrl-C: the first stops cleanly at the next step, the second at once; nothing is half-written."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compressor import interrupt
from tests.compressor.run.test_resume import RECIPE


def test_first_sigint_only_asks_to_stop_and_the_second_raises() -> None:
    # Whatever was installed before comes back: SIG_IGN when the suite runs as a background job.
    before = signal.getsignal(signal.SIGINT)
    with interrupt.graceful_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested()
        with pytest.raises(interrupt.Interrupted, match="interrupted at epoch 2, step 5"):
            interrupt.check("epoch 2, step 5")
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the signal is delivered between bytecodes
    assert not interrupt.requested()
    assert signal.getsignal(signal.SIGINT) is before


def _start(tmp_path: Path, write_recipe) -> tuple[subprocess.Popen[str], Path]:
    raw = copy.deepcopy(RECIPE)
    raw["stages"][1]["epochs"] = 2000  # long enough to be stopped in the middle
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "compressor",
            "run",
            str(write_recipe(raw)),
            "--out",
            str(out),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = tmp_path / ".run.partial" / "checkpoints" / "distill-0.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the distill stage never saved a checkpoint"
        time.sleep(0.05)
    return process, out


def test_ctrl_c_stops_after_the_current_step_and_can_be_resumed(tmp_path, write_recipe) -> None:
    process, _ = _start(tmp_path, write_recipe)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "of stage 'distill'" in lines[0]
    assert f"--resume {tmp_path / 'run.failed'}" in lines[0]
    assert "Traceback" not in err
    kept = tmp_path / "run.failed"
    assert (kept / "checkpoints" / "distill-0.pt").is_file()
    assert not list(kept.rglob("*.tmp")) and not list(kept.rglob(".*.tmp"))
    import torch

    assert torch.load(kept / "checkpoints" / "distill-0.pt", weights_only=True)["epoch"] >= 1


def test_second_ctrl_c_stops_at_once_without_half_written_files(tmp_path, write_recipe) -> None:
    process, _ = _start(tmp_path, write_recipe)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert [p.name for p in folders] == ["run.failed"]
    leftovers = [p for p in folders[0].rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    import torch

    for checkpoint in folders[0].rglob("*.pt"):
        torch.load(checkpoint, weights_only=True)  # every file under its final name is whole
