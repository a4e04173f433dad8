"""A split served from a map-style dataset, batch by batch, through ``DataLoader`` workers.

:class:`StreamedSplit` wraps any ``Dataset`` whose items are ``(sample, label)`` (a sample a PIL
image, a numpy array or a tensor) with the deterministic :class:`Preprocessing`, or wraps an
in-memory :class:`~compressor.data.split.Split` as it is (``data.in_memory: false`` on the
built-in datasets). It knows its labels without decoding (:func:`labels_of`), serves the same
batches as the in-memory path for the same order, and keeps one loader per pinning choice whose
workers persist across passes (:mod:`compressor.data.workers`).

Dataset plugins: keep per-sample metadata (file paths, labels) in numpy arrays or tensors, not
Python lists. Every worker reads the dataset, and reading a Python object touches its reference
count, which copies the memory page it lives on into the worker: a list of a million paths
grows every worker by its whole size, the "DataLoader memory leak" users report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from compressor.data.split import Batch, Split, batch_order
from compressor.data.workers import PassLoader, SampleError, worker_errors
from compressor.errors import one_line

#: A training split's per-sample augmentation:
#: ``(input in 0..1, target, index, epoch) -> (input, target)``; the target is the sample's row
#: of the split's labels, returned in the same shape (moved with the input when the task's
#: targets say where things are, as a detection's boxes do; as given otherwise).
SampleTransform = Callable[
    [torch.Tensor, torch.Tensor, int, int], tuple[torch.Tensor, torch.Tensor]
]
#: Per-sample targets -> the split's targets tensor (a task's ``collate``).
Collate = Callable[[Sequence[Any]], torch.Tensor]
#: Samples per loader batch when labels are read by decoding (datasets without ``targets``).
LABEL_BATCH = 256


def sample_name(dataset: Any, index: int) -> str:
    """How an error names sample ``index``: ``sample 17``, with its file when the dataset says.

    A dataset names its samples with a ``sample_name(index) -> str`` method, or (as
    torchvision's ``ImageFolder``) a ``samples`` list of ``(path, label)``; a ``Subset`` asks
    the dataset it wraps.
    """
    inner, position = dataset, index
    while isinstance(inner, Subset):
        position = int(inner.indices[position])
        inner = inner.dataset
    try:
        if hasattr(inner, "sample_name"):
            return f"sample {index} ({inner.sample_name(position)})"
        samples = getattr(inner, "samples", None)
        return (
            f"sample {index} ({samples[position][0]})" if samples is not None else f"sample {index}"
        )
    except Exception:  # noqa: BLE001 - naming must not hide the error being reported
        return f"sample {index}"


def class_indices(targets: Sequence[Any]) -> torch.Tensor:
    """One class index per sample, as an int64 tensor: the classification task's targets."""
    return torch.tensor([int(t) for t in targets], dtype=torch.long)


def labels_of(
    dataset: Any, *, num_workers: int = 0, collate: Collate | None = None
) -> torch.Tensor:
    """Every target of ``dataset`` as one tensor, decoding samples only when it must.

    ``Split``: its ``y``; a streamed split: its labels; a ``Subset``: its dataset's labels at
    its indices; a dataset with ``targets`` (torchvision's, or a detection dataset's boxes per
    sample): those, collated. Otherwise every item is read once, in ``num_workers`` worker
    processes.

    Args:
        dataset: A map-style dataset of ``(sample, target)``.
        num_workers: Worker processes when items must be read.
        collate: The task's per-sample targets -> one tensor (:meth:`compressor.task.Task.collate`);
            default: one class index per sample, int64.
    """
    collate = collate or class_indices
    if isinstance(dataset, (Split, StreamedSplit)):
        return dataset.labels
    if isinstance(dataset, Subset):
        inner = labels_of(dataset.dataset, num_workers=num_workers, collate=collate)
        return inner[torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)]
    targets = getattr(dataset, "targets", None)
    if targets is not None and len(targets) == len(dataset):
        if collate is class_indices:  # a fast path for an array of ints (torchvision's)
            return torch.as_tensor(np.asarray(targets), dtype=torch.long).flatten()
        return collate([targets[i] for i in range(len(targets))])
    loader = DataLoader(
        dataset,
        batch_size=LABEL_BATCH,
        num_workers=num_workers,
        collate_fn=_targets_only,
        generator=torch.Generator().manual_seed(0),  # leaves torch's global generator alone
    )
    with worker_errors():
        parts = [item for batch in loader for item in batch]
    return collate(parts) if parts else collate([])


def _targets_only(items: list[Any]) -> list[Any]:
    return [item[1] for item in items]


class Samples:
    """What a streamed split's workers need: the dataset, its preprocessing, labels and shape.

    Kept apart from :class:`StreamedSplit` so that the loaders a split owns do not refer back
    to it: when the split goes, its loaders and their worker processes go with it.
    """

    def __init__(
        self,
        dataset: Any,
        preprocessing: Any,
        name: str,
        labels: torch.Tensor,
        input_shape: tuple[int, ...] | None,
        augment: SampleTransform | None = None,
    ) -> None:
        self.dataset = dataset
        self.preprocessing = preprocessing
        self.name = name
        self.labels = labels
        self.shape = input_shape
        self.augment = augment

    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input (the first sample's, unless given)."""
        if self.shape is None:
            self.shape = tuple(self._input(0)[0].shape)
        return self.shape

    def load(self, index: int, epoch: int = 0) -> torch.Tensor:
        """The model's input for sample ``index``: decoded, preprocessed (augmented as in
        ``epoch`` when the split augments), shape-checked.

        Raises:
            SampleError: The sample could not be read or preprocessed, or its shape is not the
                split's; the message names the split, the sample and its file when known.
        """
        return self.load_with_target(index, epoch)[0]

    def load_with_target(self, index: int, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`load`, with the sample's target as the augmentation left it (its row of
        :attr:`labels` when the split does not augment).

        Raises:
            SampleError: As :meth:`load`.
        """
        x, target = self._input(index, epoch)
        shape = self.input_shape()
        if tuple(x.shape) != shape:
            raise SampleError(
                f"data: {self.name} {sample_name(self.dataset, index)} has shape "
                f"{tuple(x.shape)} after data.preprocess, but the split's inputs are {shape}; "
                "set data.preprocess.resize to [height, width] or data.preprocess.center_crop "
                "so that every sample gets one shape"
            )
        return x, target

    def _input(self, index: int, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.labels[index]
        try:
            item = self.dataset[index]
            sample = item[0] if isinstance(item, (tuple, list)) else item
            if self.preprocessing is not None and self.augment is not None:
                image, target = self.augment(
                    self.preprocessing.scaled(sample), target, index, epoch
                )
                return self.preprocessing.normalize(image), target
            if self.preprocessing is not None:
                return self.preprocessing(sample), target
            return torch.as_tensor(sample, dtype=torch.float32), target
        except Exception as error:
            raise SampleError(
                f"data: cannot read {self.name} {sample_name(self.dataset, index)}: "
                f"{one_line(error)}"
            ) from error

    def fetch(self, indices: torch.Tensor, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of rows ``indices`` (in ``epoch``): what one worker does for one batch."""
        if isinstance(self.dataset, Split):
            return self.dataset.x[indices], self.dataset.y[indices]
        x = torch.empty((len(indices), *self.input_shape()), dtype=torch.float32)
        y = self.labels[indices].clone()
        for row, index in enumerate(indices.tolist()):
            x[row], y[row] = self.load_with_target(index, epoch)
        return x, y


class StreamedSplit(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A split whose inputs are decoded when a batch needs them.

    Args:
        dataset: A map-style dataset of ``(sample, label)``, or a :class:`Split`.
        preprocessing: Turns a sample into the model's input (an image
            :class:`Preprocessing`, an :class:`~compressor.data.audio.AudioPreprocessing`:
            ``scaled``, ``normalize``, ``__call__``); ``None`` when the dataset's samples already
            are inputs (a ``Split``, or float tensors of ``input_shape``).
        name: The split's name in error messages (``train``, ``val``, ``test``).
        labels: Every target, when known; read with :func:`labels_of` otherwise.
        input_shape: The shape of one input; by default the first sample's, once loaded.
        num_workers: ``DataLoader`` worker processes (0: load in this process).
        prefetch_factor: Batches each worker loads ahead.
        collate: The task's per-sample targets -> one tensor, when ``labels`` are read
            (default: class indices).
    """

    def __init__(
        self,
        dataset: Any,
        *,
        preprocessing: Any = None,
        name: str = "split",
        labels: torch.Tensor | None = None,
        input_shape: tuple[int, ...] | None = None,
        num_workers: int = 0,
        prefetch_factor: int = 2,
        collate: Collate | None = None,
    ) -> None:
        if labels is None:
            labels = labels_of(dataset, num_workers=num_workers, collate=collate)
        self.samples = Samples(dataset, preprocessing, name, labels, input_shape)
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self._loaders: dict[bool, PassLoader] = {}
        #: The epoch a training pass augments as (see :meth:`augmented`); the trainer sets it.
        self.epoch = 0

    def augmented(self, augment: SampleTransform) -> StreamedSplit:
        """A view of this split whose samples ``augment`` transforms, for training.

        ``augment(image, target, index, epoch)`` gets each sample resized, cropped and in 0..1,
        before normalization, with its target (its row of :attr:`labels`), in the workers, and
        returns both; it should seed its random draws from ``index`` and ``epoch`` (set
        :attr:`epoch` before each pass), so that the batches do not depend on which worker
        loads them. The view has its own workers; this split is unchanged.
        """
        view = StreamedSplit.__new__(StreamedSplit)
        s = self.samples
        view.samples = Samples(s.dataset, s.preprocessing, s.name, s.labels, None, augment)
        view.num_workers, view.prefetch_factor = self.num_workers, self.prefetch_factor
        view._loaders, view.epoch = {}, 0
        return view

    def __len__(self) -> int:
        return len(self.samples.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.samples.load(index), self.samples.labels[index]

    @property
    def dataset(self) -> Any:
        """The wrapped dataset."""
        return self.samples.dataset

    @property
    def preprocessing(self) -> Any:
        """The transform from a sample to an input (``None``: samples are inputs)."""
        return self.samples.preprocessing

    @property
    def labels(self) -> torch.Tensor:
        """Every target, in the task's form (classification: ``(N,)`` int64)."""
        return self.samples.labels

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input (the first sample's, unless given)."""
        return self.samples.input_shape()

    def take(self, indices: torch.Tensor) -> torch.Tensor:
        """The inputs of rows ``indices``, stacked (decoded in this process)."""
        return self.samples.fetch(torch.as_tensor(indices, dtype=torch.long))[0]

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        order: torch.Tensor | Sequence[int] | None = None,
        device: str | None = None,
    ) -> Iterator[Batch]:
        """``(indices, x, y)`` batches, loaded ahead by the workers; see
        :func:`compressor.data.batches`. The order is drawn when the first batch is asked for,
        exactly as the in-memory path draws it."""
        rows = batch_order(len(self), shuffle=shuffle, generator=generator, order=order)
        if len(rows):
            self.samples.input_shape()  # known before the workers fork, not found by each
        loader = self._loader(pin=str(device or "").startswith("cuda"))
        yield from loader.passes(rows, batch_size, epoch=self.epoch)

    def _loader(self, *, pin: bool) -> PassLoader:
        """The persistent loader for ``pin``; a one-pass loader while that one is mid-pass."""
        loader = self._loaders.get(pin)
        if loader is not None and not loader.busy and not loader.broken:
            return loader
        made = PassLoader(
            self.samples.fetch,
            num_workers=self.num_workers,
            prefetch_factor=self.prefetch_factor,
            pin_memory=pin,
        )
        if loader is None or loader.broken:
            self._loaders[pin] = made
        return made

    def close(self) -> None:
        """Stop this split's worker processes now (they stop when the split goes anyway)."""
        for loader in self._loaders.values():
            loader.close()
        self._loaders.clear()
