"""``torchvision``: a ``torchvision.datasets`` classification dataset, read from ``root``.

The dataset's own splits become train/val/test: ``train=True/False`` (CIFAR10, MNIST, ...), or
``split="train"/"val"/"test"`` (Flowers102, SVHN, STL10, ImageNet, ...); a split the dataset
lacks is a stratified fraction of its training set (``val_fraction``; ImageNet's ``val`` is
then the test split), and a dataset with no split argument is cut into all three. Nothing is
downloaded unless ``download: true``: missing files are one line saying which files to put
where. ``classes`` gives the class names; labels are read from the dataset's label arrays, so
no image is decoded to learn them.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from compressor.data import DataBundle
from compressor.data.images import ImageFiles
from compressor.errors import RecipeError, UsageError, one_line
from compressor_datasets import TorchvisionOptions
from compressor_datasets.samples import Labeled, raw_bundle, stratified_parts

#: The classification datasets of torchvision.datasets (those of this torchvision are offered).
CLASSIFICATION = (
    "CIFAR10", "CIFAR100", "Caltech101", "Caltech256", "Country211", "DTD", "EMNIST", "EuroSAT",
    "FER2013", "FGVCAircraft", "FashionMNIST", "Flowers102", "Food101", "GTSRB", "ImageNet",
    "Imagenette", "INaturalist", "KMNIST", "MNIST", "OxfordIIITPet", "PCAM", "Places365",
    "QMNIST", "RenderedSST2", "SEMEION", "STL10", "SUN397", "SVHN", "StanfordCars", "USPS",
)  # fmt: skip
#: The ``split`` values tried for each of our splits, in order (the first the dataset takes).
SPLIT_VALUES = {"train": ("train", "trainval"), "val": ("val", "valid"), "test": ("test",)}
#: Where datasets keep their labels, besides ``targets``; the run then decodes no image.
LABEL_ATTRIBUTES = ("targets", "labels", "_labels", "y")
#: Options the plugin sets itself.
RESERVED = ("root", "train", "split", "download", "transform", "target_transform")


def load_torchvision(options: TorchvisionOptions, seed: int) -> DataBundle:
    """Load a torchvision dataset as train/val/test datasets of ``(PIL image, label)``.

    Args:
        options: The validated ``torchvision`` options.
        seed: The split seed (``data.split_seed``), for splits the dataset lacks.

    Returns:
        The bundle; class names from the dataset's ``classes``.

    Raises:
        RecipeError: ``name`` is not a classification dataset of torchvision, or ``kwargs``
            sets an option the plugin sets.
        UsageError: The files are missing (``download: false``) or the download failed.
    """
    cls = dataset_class(options.name)
    reserved = sorted(set(options.kwargs) & set(RESERVED))
    if reserved:
        raise RecipeError(
            "data.options.kwargs",
            f"sets {', '.join(reserved)}, which the torchvision dataset plugin sets itself; "
            "use data.options.root and data.options.download, and remove them",
        )
    official = official_splits(cls, options)
    train = _labeled(official["train"], options.channels)
    classes = [str(c) for c in getattr(official["train"], "classes", None) or []]
    num_classes = len(classes) or int(train.targets.max()) + 1
    splits: dict[str, Any] = {"train": train}
    for name in ("val", "test"):
        if official[name] is not None:
            splits[name] = _labeled(official[name], options.channels)
    missing = [name for name in ("val", "test") if name not in splits]
    if missing:
        fractions = [options.val_fraction if n == "val" else options.test_fraction for n in missing]
        parts = stratified_parts(train, [1.0 - sum(fractions), *fractions], seed)
        splits.update(zip(["train", *missing], parts, strict=True))
    return raw_bundle(
        "torchvision",
        splits,
        classes or [str(i) for i in range(num_classes)],
        details={"torchvision_dataset": cls.__name__},
    )


def dataset_class(name: str) -> type:
    """The ``torchvision.datasets`` class called ``name`` (any case).

    Raises:
        RecipeError: It is not one of this torchvision's classification datasets; the message
            lists them, the closest first.
    """
    import torchvision.datasets

    offered = [n for n in CLASSIFICATION if hasattr(torchvision.datasets, n)]
    by_lower = {n.lower(): n for n in offered}
    if name.lower() not in by_lower:
        raise RecipeError(
            "data.options.name",
            f"{name!r} is not a classification dataset of torchvision.datasets",
            value=name,
            choices=offered,
        )
    cls: type = getattr(torchvision.datasets, by_lower[name.lower()])
    return cls


def official_splits(cls: type, options: TorchvisionOptions) -> dict[str, Any]:
    """The dataset's own train/val/test sets (``None`` for those it does not have).

    Raises:
        UsageError: Its files are missing, or the download failed.
    """
    parameters = inspect.signature(cls).parameters
    if "train" in parameters:
        return {
            "train": _make(cls, options, train=True),
            "val": None,
            "test": _make(cls, options, train=False),
        }
    if "split" not in parameters:
        return {"train": _make(cls, options), "val": None, "test": None}
    found = {name: _first_split(cls, options, values) for name, values in SPLIT_VALUES.items()}
    if found["train"] is None:
        raise RecipeError(
            "data.options.name",
            f"torchvision's {cls.__name__} has no training split ({', '.join(SPLIT_VALUES['train'])})",
            value=options.name,
        )
    if found["test"] is None:  # ImageNet: its val set is the held-out one, val comes from train
        found["test"], found["val"] = found["val"], None
    return found


def _first_split(cls: type, options: TorchvisionOptions, values: tuple[str, ...]) -> Any:
    """The set of the first ``split`` value in ``values`` that the dataset accepts."""
    for value in values:
        try:
            return _make(cls, options, split=value)
        except ValueError as error:
            if "argument split" not in str(error):  # torchvision's verify_str_arg
                raise
    return None


def _make(cls: type, options: TorchvisionOptions, **split: Any) -> Any:
    """``cls(root, **split, download=..., **kwargs)``, missing files as one line."""
    root = str(Path(options.root).expanduser())
    try:
        return cls(root, download=options.download, **split, **options.kwargs)
    except (RuntimeError, OSError) as error:
        if options.download:
            raise UsageError(
                f"data.options.download: could not download torchvision's {cls.__name__} into "
                f"{root} ({one_line(error)}); check the connection, or put the files there "
                f"yourself: {where_files_go(cls, root)}"
            ) from None
        raise UsageError(
            f"data.options.root: torchvision's {cls.__name__} files are not in {root} "
            f"({one_line(error)}); put them there ({where_files_go(cls, root)}), or set "
            "data.options.download: true on a machine with internet"
        ) from None


def where_files_go(cls: type, root: str) -> str:
    """Which files ``cls`` reads under ``root``, as far as its class attributes say."""
    resources = getattr(cls, "resources", None)
    if isinstance(resources, list) and resources:  # the MNIST family, uncompressed
        names = [Path(str(r[0])).name.removesuffix(".gz") for r in resources]
        return f"{', '.join(names)} in {Path(root) / cls.__name__ / 'raw'}"
    folder = getattr(cls, "base_folder", None)
    archive, url = getattr(cls, "filename", None), getattr(cls, "url", None)
    if isinstance(folder, str):
        source = f", extracted from {archive} ({url})" if archive and url else ""
        return f"the folder {Path(root) / folder}{source}"
    return f"as torchvision.datasets.{cls.__name__}'s documentation lays them out under {root}"


def _labeled(dataset: Any, channels: int | None) -> Labeled | ImageFiles:
    """``dataset`` with its labels as numpy; an image folder as :class:`ImageFiles`."""
    from torchvision.datasets import DatasetFolder
    from torchvision.datasets.folder import default_loader

    if isinstance(dataset, DatasetFolder) and dataset.loader is default_loader:
        # Its samples are a Python list of (path, label): ImageNet's would grow every worker
        # by hundreds of MiB (compressor.data.streamed); default_loader is PIL in RGB.
        paths = [path for path, _ in dataset.samples]
        labels = [label for _, label in dataset.samples]
        return ImageFiles(paths, labels, channels=channels or 3)
    return Labeled(dataset, _targets(dataset), channels=channels)


def _targets(dataset: Any) -> np.ndarray | None:
    """The dataset's labels from its label attribute, or ``None`` when it has none."""
    for name in LABEL_ATTRIBUTES:
        values = getattr(dataset, name, None)
        if values is not None and len(values) == len(dataset):
            return np.asarray(values, dtype=np.int64).reshape(-1)
    samples = getattr(dataset, "_samples", None)
    if isinstance(samples, list) and len(samples) == len(dataset):
        return np.asarray([label for _, label in samples], dtype=np.int64)
    return None
