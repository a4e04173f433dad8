"""``image_folder``: your images, one subfolder per class, or unlabeled (``labels: false``).

The class names are the sorted subfolder names of ``train_root``; a class's images may sit at
any depth inside its folder. ``val_root`` and ``test_root`` are laid out the same way, with
the same classes; a split without its folder is a stratified fraction of ``train_root``,
seeded by ``data.split_seed``. Every file is checked when the data loads
(:func:`compressor.data.images.unreadable`), so that a bad file is an error naming it before
anything trains, or, with ``skip_unreadable: true``, is left out and counted.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from compressor import logs
from compressor.data import DataBundle, split_indices, stratified_split_indices
from compressor.data.images import ImageFiles, image_files, unreadable
from compressor.errors import RecipeError, UsageError
from compressor_datasets import ImageFolderOptions
from compressor_datasets.samples import raw_bundle

_log = logs.get_logger(__name__)
#: Threads that check files: opening files waits on the disk far more than on Python.
CHECK_THREADS = 8
#: The label of every image of ``labels: false``.
UNLABELED = -1

Files = tuple[list[Path], np.ndarray]


def load_image_folder(options: ImageFolderOptions, seed: int) -> DataBundle:
    """Load the image folders as train/val/test datasets of ``(PIL image, label)``.

    Args:
        options: The validated ``image_folder`` options.
        seed: The split seed (``data.split_seed``).

    Returns:
        The bundle of three :class:`~compressor.data.images.ImageFiles`; ``details`` counts the
        files left out by ``skip_unreadable``.

    Raises:
        RecipeError: A folder is missing or empty, a class folder holds no images, the
            folders' classes differ, or a fraction leaves a split empty.
        UsageError: A file cannot be read (and ``skip_unreadable`` is off).
    """
    roots = {"train": options.train_root, "val": options.val_root, "test": options.test_root}
    given = {name: root for name, root in roots.items() if root is not None}
    classes: list[str] = []
    found: dict[str, Files] = {}
    for name, root in given.items():
        field = f"data.options.{name}_root"
        if options.labels:
            folder_classes, files = _class_files(field, Path(root), options.extensions)
            if name == "train":
                classes = folder_classes
            else:
                _same_classes(field, folder_classes, classes)
        else:
            files = _flat_files(field, Path(root), options.extensions)
        found[name] = files
    skipped = 0
    if options.check_files:
        for name, files in found.items():
            found[name], left_out = _readable(files, skip=options.skip_unreadable)
            skipped += left_out
    splits = _with_fractions(found, options, seed, stratified=options.labels)
    datasets = {
        name: ImageFiles(paths, labels, channels=options.channels)
        for name, (paths, labels) in splits.items()
    }
    details: dict[str, object] = {"skipped_unreadable": skipped} if options.skip_unreadable else {}
    return raw_bundle(
        "image_folder",
        datasets,
        classes,
        num_classes=len(classes) if options.labels else 0,
        details=details,
    )


def _folder(field: str, root: Path) -> Path:
    """``root``, checked to be an existing folder."""
    if not root.exists():
        raise RecipeError(field, f"folder not found: {root}", value=str(root))
    if not root.is_dir():
        raise RecipeError(field, f"{root} is a file, not a folder of images", value=str(root))
    return root


def _class_files(field: str, root: Path, extensions: list[str]) -> tuple[list[str], Files]:
    """The class names (sorted subfolders) of ``root``, its images and their labels."""
    subfolders = sorted(
        p for p in _folder(field, root).iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not subfolders:
        loose = image_files(root, extensions, recursive=False)
        what = f"has {len(loose)} images but no class subfolders" if loose else "is empty"
        raise RecipeError(
            field,
            f"{root} {what}; put each class's images in a subfolder named after the class, or "
            "set data.options.labels: false for unlabeled images",
            value=str(root),
        )
    if len(subfolders) < 2:
        raise RecipeError(
            field,
            f"{root} has one class folder ({subfolders[0].name}); a classifier needs at least "
            "two, one subfolder per class",
            value=str(root),
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(subfolders):
        images = image_files(folder, extensions, recursive=True)
        if not images:
            raise RecipeError(
                field,
                f"class folder {folder} holds no images (extensions {', '.join(extensions)}); "
                "add images or remove the folder",
                value=str(root),
            )
        paths += images
        labels += [label] * len(images)
    return [p.name for p in subfolders], (paths, np.asarray(labels, dtype=np.int64))


def _flat_files(field: str, root: Path, extensions: list[str]) -> Files:
    """Every image under ``root`` at any depth, each labelled :data:`UNLABELED`."""
    paths = image_files(_folder(field, root), extensions, recursive=True)
    if not paths:
        raise RecipeError(
            field,
            f"{root} holds no images (extensions {', '.join(extensions)}), at any depth",
            value=str(root),
        )
    return paths, np.full(len(paths), UNLABELED, dtype=np.int64)


def _same_classes(field: str, found: list[str], train: list[str]) -> None:
    """Raise when a split folder's classes are not ``train_root``'s."""
    if found == train:
        return
    only_train = sorted(set(train) - set(found))
    only_here = sorted(set(found) - set(train))
    name = field.rsplit(".", 1)[-1]
    differences = [
        f"only in train_root: {', '.join(only_train)}" if only_train else "",
        f"only in {name}: {', '.join(only_here)}" if only_here else "",
    ]
    raise RecipeError(
        field,
        f"its class folders differ from data.options.train_root's "
        f"({'; '.join(d for d in differences if d)}); give both the same class subfolders",
    )


def _readable(files: Files, *, skip: bool) -> tuple[Files, int]:
    """``files`` without the unreadable ones (``skip``), or the error naming the first."""
    paths, labels = files
    with ThreadPoolExecutor(CHECK_THREADS) as pool:
        reasons = list(pool.map(unreadable, paths))
    bad = [i for i, reason in enumerate(reasons) if reason is not None]
    if not bad:
        return files, 0
    if not skip:
        more = f" ({len(bad)} unreadable files in all)" if len(bad) > 1 else ""
        raise UsageError(
            f"{paths[bad[0]]}: cannot read the image ({reasons[bad[0]]}){more}; remove or "
            "replace it, or set data.options.skip_unreadable: true to leave such files out"
        )
    _log.warning(
        "data.options.skip_unreadable: left out %d unreadable files, the first %s (%s)",
        len(bad),
        paths[bad[0]],
        reasons[bad[0]],
    )
    keep = np.ones(len(paths), dtype=bool)
    keep[bad] = False
    return ([p for p, k in zip(paths, keep, strict=True) if k], labels[keep]), len(bad)


def _with_fractions(
    found: dict[str, Files], options: ImageFolderOptions, seed: int, *, stratified: bool
) -> dict[str, Files]:
    """Every split: its own folder's files, or its fraction of ``train_root``'s."""
    missing = [name for name in ("val", "test") if name not in found]
    if not missing:
        return found
    fractions = [options.val_fraction if n == "val" else options.test_fraction for n in missing]
    paths, labels = found["train"]
    parts_of = stratified_split_indices if stratified else _shuffled
    parts = parts_of(torch.from_numpy(labels), [1.0 - sum(fractions), *fractions], seed)
    splits = dict(found)
    for name, part in zip(["train", *missing], parts, strict=True):
        rows = part.numpy()
        if len(rows) == 0:
            raise RecipeError(
                f"data.options.{name}_fraction" if name != "train" else "data.options.train_root",
                f"leaves the {name} split empty ({len(paths)} images in train_root); raise it, "
                f"or give data.options.{name}_root",
            )
        splits[name] = ([paths[i] for i in rows], labels[rows])
    return splits


def _shuffled(labels: torch.Tensor, fractions: list[float], seed: int) -> list[torch.Tensor]:
    return split_indices(len(labels), fractions, seed)
