"""StreamedSplit: the same batches as the in-memory path, labels without decoding, its workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from compressor.data import (
    Preprocessing,
    SampleError,
    Split,
    StreamedSplit,
    batches,
    head,
    labels_of,
    materialize,
)
from tests.compressor.data.samples import Images, tensor_split

PREP = Preprocessing(resize=(8, 8), mean=(0.5,), std=(0.25,), value_range=(0, 255))


def _same(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_streamed_split_serves_the_in_memory_batches_for_the_same_seed(workers: int) -> None:
    split = tensor_split()
    streamed = StreamedSplit(split, num_workers=workers)
    memory, stream = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(3):  # epochs: one persistent loader, its order set anew each pass
        _same(
            list(batches(streamed, 16, shuffle=True, generator=stream)),
            list(batches(split, 16, shuffle=True, generator=memory)),
        )
    _same(list(batches(streamed, 40)), list(batches(split, 40)))
    shard = torch.arange(1, len(split), 2)
    _same(list(batches(streamed, 10, order=shard)), list(batches(split, 10, order=shard)))


@pytest.mark.parametrize("workers", [0, 2])
def test_decoded_samples_stream_as_their_copy_in_memory_holds_them(workers: int) -> None:
    streamed = StreamedSplit(Images(37), preprocessing=PREP, num_workers=workers)
    held = materialize(streamed)
    assert isinstance(held, Split) and held.x.shape == (37, 3, 8, 8)
    assert torch.equal(held.y, torch.arange(37) % 3)
    memory, stream = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    _same(
        list(batches(streamed, 8, shuffle=True, generator=stream)),
        list(batches(held, 8, shuffle=True, generator=memory)),
    )
    assert torch.equal(head(streamed, 3), held.x[:3]) and torch.equal(streamed[4][0], held.x[4])


def test_the_workers_persist_across_passes_and_leave_the_global_generator_alone() -> None:
    streamed = StreamedSplit(tensor_split(), num_workers=2)
    state = torch.get_rng_state()
    list(batches(streamed, 16))
    loader = streamed._loaders[False]
    pids = [w.pid for w in loader.loader._iterator._workers]
    list(batches(streamed, 16, shuffle=True, generator=torch.Generator()))
    assert streamed._loaders[False] is loader
    assert [w.pid for w in loader.loader._iterator._workers] == pids
    # A DataLoader draws its workers' seed every pass: from its own generator, or model
    # initialization and augmentation would differ between the paths.
    assert torch.equal(torch.get_rng_state(), state)


def test_a_pass_inside_a_pass_and_an_abandoned_pass_both_serve_the_right_rows() -> None:
    split = tensor_split(50)
    streamed = StreamedSplit(split, num_workers=2)
    outer = batches(streamed, 10)
    first = next(outer)
    inner = list(batches(streamed, 25))  # the persistent loader is busy: a one-pass loader
    _same(inner, list(batches(split, 25)))
    _same([first, *outer], list(batches(split, 10)))
    for _ in batches(streamed, 10):
        break  # abandoned after one batch
    _same(list(batches(streamed, 7)), list(batches(split, 7)))


def test_labels_come_from_targets_subsets_or_one_reading() -> None:
    assert torch.equal(labels_of(Images(7)), torch.tensor([0, 1, 2, 0, 1, 2, 0]))
    subset = Subset(Images(10), [9, 4, 2])
    assert torch.equal(labels_of(subset), torch.tensor([0, 1, 2]))
    assert torch.equal(labels_of(Images(5, targets=False), num_workers=2), torch.arange(5) % 3)
    streamed = StreamedSplit(subset, preprocessing=PREP)
    assert len(streamed) == 3 and streamed.labels.dtype == torch.int64


def test_a_sample_of_another_shape_is_named() -> None:
    streamed = StreamedSplit(
        Images(4, sizes=[(12, 10), (9, 9)]), preprocessing=Preprocessing(), name="val"
    )
    with pytest.raises(SampleError) as caught:
        head(streamed, 4)
    message = str(caught.value)
    assert message.startswith("data: val sample 1 (images/001.png) has shape (3, 9, 9)")
    assert "(3, 12, 10)" in message and "data.preprocess.resize" in message
    assert "\n" not in message


def test_samples_of_every_kind_become_float_inputs() -> None:
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    items = [
        (Image.fromarray(rgb), 0),
        (rgb, 1),
        (torch.from_numpy(rgb).permute(2, 0, 1).contiguous(), 0),
        (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, 1),
    ]
    streamed = StreamedSplit(
        items, preprocessing=Preprocessing(), labels=torch.tensor([0, 1, 0, 1])
    )
    x = head(streamed, 4)
    assert x.dtype == torch.float32 and x.shape == (4, 3, 6, 5)
    for row in x[1:]:
        assert torch.allclose(row, x[0])


def _workers(streamed: StreamedSplit) -> list:
    return [w for loader in streamed._loaders.values() for w in loader.loader._iterator._workers]


def test_an_abandoned_pass_and_a_closed_split_stop_their_workers_at_once() -> None:
    # PyTorch's graceful shutdown waited 5 s for each worker that held unread batches: a test
    # run collecting a few abandoned loaders spent tens of seconds there.
    streamed = StreamedSplit(tensor_split(200), num_workers=2)
    passed = batches(streamed, 10)
    next(passed)
    workers = _workers(streamed)
    assert workers and all(w.is_alive() for w in workers)
    passed.close()  # left after one batch, four more loaded ahead
    assert not any(w.is_alive() for w in workers)
    _same(list(batches(streamed, 30)), list(batches(tensor_split(200), 30)))
    workers = _workers(streamed)
    streamed.close()
    assert not any(w.is_alive() for w in workers)
