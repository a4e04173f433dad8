"""Teacher outputs of a streamed split on disk: written once, reused, same student, crash-safe."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from compressor.data import StreamedSplit
from compressor.training import WeightedLoss
from compressor.training.teacher_store import MANIFEST, OutputStore
from tests.compressor.training.toy import KL, bundle, fit_toy, net


class Counting(nn.Module):
    """A teacher that counts the rows it was run on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        return self.inner(x)


def streamed_bundle():
    data = bundle()
    train = StreamedSplit(data.train, name="train", labels=data.train.y, input_shape=(1, 8, 8))
    return data, dataclasses.replace(data, train=train)


def entries(root: Path) -> list[Path]:
    return [p for p in root.glob("*/*") if not p.name.startswith(".")]


TERMS = [WeightedLoss("kl", 1.0, KL(), True)]


def test_outputs_go_to_disk_once_and_are_reused_by_a_later_run(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = Counting(net(16)).eval()
    _, streamed = streamed_bundle()
    store = OutputStore(tmp_path, {"teacher": "t1"})
    first = fit_toy(net(), [teacher], TERMS, data=streamed, teacher_store=store, epochs=3)
    # One pass over 96 rows for three epochs (the adapters' probe runs nothing here).
    assert teacher.rows == 96
    (entry,) = entries(tmp_path)
    assert (entry / MANIFEST).is_file() and list(entry.glob("*.npy"))
    assert first.teacher_outputs["train"] == {
        "where": "disk", "reused": False, "folder": str(entry)
    }  # fmt: skip
    teacher.rows = 0
    again = fit_toy(net(), [teacher], TERMS, data=streamed, teacher_store=store)
    assert teacher.rows == 0 and again.teacher_outputs["train"]["reused"] is True
    # Another teacher (another key) computes its own.
    other = fit_toy(net(), [teacher], TERMS, data=streamed, teacher_store=OutputStore(tmp_path))
    assert teacher.rows == 96 and other.teacher_outputs["train"]["reused"] is False
    assert len(entries(tmp_path)) == 2


def test_disk_outputs_train_the_same_student_as_outputs_in_ram(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = net(16).eval()
    in_memory, streamed = streamed_bundle()
    students = []
    for data, store in ((in_memory, None), (streamed, OutputStore(tmp_path))):
        torch.manual_seed(1)
        student = net()
        result = fit_toy(student, [teacher], TERMS, data=data, teacher_store=store)
        students.append((result, student))
    (ram, ram_student), (disk, disk_student) = students
    assert ram.teacher_outputs["train"] == {"where": "memory"}
    assert disk.teacher_outputs["train"]["where"] == "disk"
    for a, b in zip(ram_student.parameters(), disk_student.parameters(), strict=True):
        assert torch.equal(a, b)


def test_without_a_folder_the_outputs_live_in_a_temporary_one_removed_at_the_end() -> None:
    teacher = Counting(net(16)).eval()
    _, streamed = streamed_bundle()
    result = fit_toy(net(), [teacher], TERMS, data=streamed, epochs=2)
    assert teacher.rows == 96
    assert not Path(result.teacher_outputs["train"]["folder"]).exists()


class Crashing(nn.Module):
    """A teacher that fails on its third batch: a run killed mid-pass."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("killed")
        return self.inner(x)


def test_a_half_written_entry_is_never_read(tmp_path: Path) -> None:
    torch.manual_seed(0)
    inner = net(16).eval()
    _, streamed = streamed_bundle()
    store = OutputStore(tmp_path, {"teacher": "t1"})
    with pytest.raises(RuntimeError, match="killed"):
        fit_toy(net(), [Crashing(inner)], TERMS, data=streamed, teacher_store=store)
    assert entries(tmp_path) == []  # only a staging folder was ever written
    teacher = Counting(inner)
    result = fit_toy(net(), [teacher], TERMS, data=streamed, teacher_store=store)
    assert teacher.rows == 96 and result.teacher_outputs["train"]["reused"] is False
    # A damaged entry (a truncated array: a disk that filled up) is computed again, not read.
    (entry,) = entries(tmp_path)
    array = next(entry.glob("*.npy"))
    array.write_bytes(array.read_bytes()[:-100])
    teacher.rows = 0
    result = fit_toy(net(), [teacher], TERMS, data=streamed, teacher_store=store)
    assert teacher.rows == 96 and result.teacher_outputs["train"]["reused"] is False


def test_a_damaged_entry_is_replaced_beside_the_leftover_of_an_earlier_removal(
    tmp_path: Path,
) -> None:
    # An earlier removal by this process that could not finish left its hidden folder: the
    # name the damaged entry is renamed to must not be that one, or the rename fails and the
    # fresh outputs cannot take the entry's place.
    store = OutputStore(tmp_path, {"teacher": "t1"})
    outputs = torch.arange(12.0).view(4, 3)

    def chunks():
        return iter([(torch.arange(4), {(0, "logits"): outputs})])

    store.write("k" * 40, 4, chunks())
    (entry,) = entries(tmp_path)
    array = next(entry.glob("*.npy"))
    array.write_bytes(array.read_bytes()[:-8])  # damaged: a disk that filled up
    assert store.load("k" * 40, 4) is None
    leftover = entry.with_name(f".{entry.name[:12]}.removed.{os.getpid()}")
    leftover.mkdir()
    (leftover / "0.npy").write_bytes(b"half deleted")
    written = store.write("k" * 40, 4, chunks())
    assert written.reused is False and entries(tmp_path) == [entry]
    assert store.load("k" * 40, 4) is not None


def test_with_random_augmentation_the_teacher_runs_every_batch(tmp_path: Path) -> None:
    from compressor.recipe import AugmentConfig

    teacher = Counting(net(16)).eval()
    _, streamed = streamed_bundle()
    result = fit_toy(
        net(), [teacher], TERMS, data=streamed, teacher_store=OutputStore(tmp_path),
        augment=AugmentConfig(shift=1), epochs=2,
    )  # fmt: skip
    assert teacher.rows == 2 * 96 and result.teacher_outputs == {}
    assert entries(tmp_path) == []


class Recording(nn.Module):
    """A loss that records the targets it got; ``teacher`` says whether it reads a teacher."""

    def __init__(self, teacher: bool) -> None:
        super().__init__()
        self.teacher, self.targets = teacher, []

    def forward(self, student, teacher, targets):
        self.targets.append(targets)
        if self.teacher:
            return KL()(student, teacher, targets)
        return nn.functional.cross_entropy(student, targets)


@pytest.mark.parametrize("mode", ["add", "replace"])
def test_transfer_batches_score_only_the_teacher_terms_without_labels(mode: str) -> None:
    data = bundle(96)
    transfer = bundle(50).train  # 2 batches of 32 per epoch; its labels must not be read
    kd, ce = Recording(True), Recording(False)
    terms = [WeightedLoss("kd", 1.0, kd, True), WeightedLoss("ce", 1.0, ce, False)]
    fit_toy(net(), [net(16).eval()], terms, data=data, transfer=transfer, transfer_mode=mode)
    labelled = 3 * 2 if mode == "add" else 0  # 96 rows: 3 batches, 2 epochs
    assert len(ce.targets) == labelled and all(t is not None for t in ce.targets)
    assert len(kd.targets) == labelled + 2 * 2
    assert sum(t is None for t in kd.targets) == 2 * 2


def test_compressor_cache_lists_prunes_and_clears_teacher_outputs(tmp_path: Path) -> None:
    from compressor.run.cache import StageCache
    from compressor.run.teacher_outputs import TEACHER_OUTPUTS_DIR

    root = tmp_path / "cache"
    _, streamed = streamed_bundle()
    store = OutputStore(root / TEACHER_OUTPUTS_DIR, {"teacher": "t1"})
    fit_toy(net(), [Counting(net(16)).eval()], TERMS, data=streamed, teacher_store=store)
    (listed,) = StageCache(root).entries()
    assert listed.stage == "teacher outputs" and listed.size > 0
    assert StageCache(root).prune(max_size=listed.size) == []  # it fits
    assert [e.key for e in StageCache(root).clear()] == [listed.key]
    assert entries(root / TEACHER_OUTPUTS_DIR) == []
