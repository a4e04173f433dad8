"""The in-memory Split as a Dataset, the DataSplit protocol and the batch helpers on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from compressor.data import DataSplit, NumpyRows, batches, head, iterate_batches
from tests.compressor.data.samples import tensor_split


def _old_iterate_batches(split, batch_size, *, shuffle=False, generator=None):
    """compressor.data.iterate_batches as it was before streamed splits, for comparison."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield idx, split.x[idx], split.y[idx]


def test_a_split_is_a_map_style_dataset_and_a_data_split() -> None:
    split = tensor_split(10)
    assert isinstance(split, Dataset) and isinstance(split, DataSplit)
    x, y = split[3]
    assert torch.equal(x, split.x[3]) and y == split.y[3]
    assert split.labels is split.y and split.input_shape == (1, 4, 4)
    assert torch.equal(split.take(torch.tensor([4, 1])), split.x[[4, 1]])


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_are_what_iterate_batches_gave(shuffle: bool) -> None:
    split = tensor_split()
    new, old = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(2):  # two epochs: the generator advances the same way
        got = list(batches(split, 16, shuffle=shuffle, generator=new))
        want = list(_old_iterate_batches(split, 16, shuffle=shuffle, generator=old))
        assert len(got) == len(want) == 7
        for a, b in zip(got, want, strict=True):
            assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    # the old name serves the same batches
    again = torch.Generator().manual_seed(3)
    first = next(iterate_batches(split, 16, shuffle=shuffle, generator=again))
    assert torch.equal(
        first[0],
        next(
            _old_iterate_batches(
                split, 16, shuffle=shuffle, generator=torch.Generator().manual_seed(3)
            )
        )[0],
    )


def test_the_permutation_is_drawn_when_the_first_batch_is_asked_for() -> None:
    # The trainer's generator also augments: the draw must come at the same point as before.
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    pass_ = batches(tensor_split(), 8, shuffle=True, generator=generator)
    assert torch.equal(generator.get_state(), state)
    next(pass_)
    assert not torch.equal(generator.get_state(), state)


def test_an_order_is_served_as_given_and_excludes_shuffle() -> None:
    split = tensor_split(20)
    got = list(batches(split, 3, order=[7, 2, 19, 0]))
    assert [b[0].tolist() for b in got] == [[7, 2, 19], [0]]
    assert torch.equal(got[0][1], split.x[[7, 2, 19]]) and torch.equal(got[1][2], split.y[[0]])
    with pytest.raises(ValueError, match="either shuffle or order"):
        next(batches(split, 3, order=[1], shuffle=True))


def test_head_is_the_first_inputs_as_a_new_tensor() -> None:
    split = tensor_split(5)
    first = head(split, 2)
    assert torch.equal(first, split.x[:2])
    first += 1  # a copy: the split is untouched
    assert not torch.equal(first, split.x[:2])
    assert len(head(split, 50)) == 5


def test_numpy_rows_read_only_the_rows_asked_for() -> None:
    split = tensor_split(9)
    rows = NumpyRows(split)
    got = rows[np.array([8, 0])]
    assert len(rows) == 9 and got.dtype == np.float32
    np.testing.assert_array_equal(got, split.x[[8, 0]].numpy())
