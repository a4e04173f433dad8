"""``audio_folder``: your clips, labelled by class subfolder or by a file-name pattern.

With ``label_from: folder`` the class names are the sorted subfolder names of ``train_root``
(clips at any depth inside); with ``label_from: pattern`` they are the sorted values of the
pattern's ``{label}`` field. ``val_root`` and ``test_root`` are laid out as ``train_root``. A
split without its folder is cut from ``train_root``'s clips: the ``test_groups`` (with
``group_by``), or a fraction, stratified by class or, with ``group_by``, by whole groups
(:mod:`compressor_audio.datasets.splitting`). Every file's header is read when the data loads,
so that an unreadable or empty file is an error naming it before anything trains, or, with
``skip_unreadable: true``, is left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressor.data import DataBundle
from compressor.data.audio import audio_files
from compressor.errors import RecipeError
from compressor_audio.dataset_options import AudioFolderOptions
from compressor_audio.datasets.bundle import audio_bundle
from compressor_audio.datasets.files import AudioFiles, read_headers, readable
from compressor_audio.datasets.naming import name_fields
from compressor_audio.datasets.splitting import cut, held_out_groups


@dataclass
class Found:
    """The clips of one folder: files, class names, group names (``None`` without group_by)."""

    paths: list[Path]
    labels: list[str]
    groups: list[str] | None

    def rows(self, rows: np.ndarray) -> Found:
        """The clips at ``rows``."""
        picked = [int(r) for r in rows]
        return Found(
            [self.paths[r] for r in picked],
            [self.labels[r] for r in picked],
            None if self.groups is None else [self.groups[r] for r in picked],
        )


def folder(field: str, root: Path) -> Path:
    """``root``, checked to be an existing folder."""
    if not root.exists():
        raise RecipeError(field, f"folder not found: {root}", value=str(root))
    if not root.is_dir():
        raise RecipeError(field, f"{root} is a file, not a folder of clips", value=str(root))
    return root


def scan(field: str, root: Path, options: AudioFolderOptions) -> Found:
    """The clips under ``root`` with their class and group names.

    Raises:
        RecipeError: The folder is missing or holds no clips, a class folder is empty, or a
            file name does not match the pattern.
    """
    extensions = options.extensions
    if options.label_from == "folder":
        classes = sorted(
            p for p in folder(field, root).iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        paths: list[Path] = []
        labels: list[str] = []
        for class_folder in classes:
            clips = audio_files(class_folder, extensions)
            if not clips:
                raise RecipeError(
                    field,
                    f"class folder {class_folder} holds no clips (extensions "
                    f"{', '.join(extensions)}); add clips or remove the folder",
                    value=str(root),
                )
            paths += clips
            labels += [class_folder.name] * len(clips)
    else:
        paths = audio_files(folder(field, root), extensions)
    if not paths:
        raise RecipeError(
            field,
            f"{root} holds no clips (extensions {', '.join(extensions)})"
            + (
                "; put each class's clips in a subfolder named after it"
                if options.label_from == "folder"
                else ""
            ),
            value=str(root),
        )
    fields = name_fields(paths, options.pattern) if options.pattern is not None else {}
    if options.label_from == "pattern":
        labels = fields["label"]
    groups = fields[options.group_by] if options.group_by is not None else None
    return Found(paths, labels, groups)


def _class_names(found: dict[str, Found], options: AudioFolderOptions) -> list[str]:
    """The training clips' classes; every other split's must be among them."""
    classes = sorted(set(found["train"].labels))
    if len(classes) < 2:
        raise RecipeError(
            "data.options.train_root",
            f"{options.train_root} holds one class ({classes[0]}); a classifier needs two",
        )
    for name, clips in found.items():
        unknown = sorted(set(clips.labels) - set(classes))
        if unknown:
            raise RecipeError(
                f"data.options.{name}_root",
                f"classes not in train_root: {', '.join(unknown[:10])}; give every split the "
                "same classes",
            )
    return classes


def _split(
    train: Found, options: AudioFolderOptions, missing: list[str], seed: int
) -> dict[str, Found]:
    """The splits cut from ``train_root``'s clips: ``test_groups``, then fractions."""
    parts: dict[str, Found] = {}
    if "test" in missing and options.test_groups is not None:
        assert train.groups is not None  # the options need group_by with test_groups
        names = sorted(set(train.groups))
        codes = np.array([names.index(g) for g in train.groups])
        held = held_out_groups(codes, names, options.test_groups, "data.options.test_groups")
        parts["test"] = train.rows(held)
        train = train.rows(np.setdiff1d(np.arange(len(train.paths)), held))
        missing = [m for m in missing if m != "test"]
    fractions = {m: options.val_fraction if m == "val" else options.test_fraction for m in missing}
    labels = np.unique(train.labels, return_inverse=True)[1]
    groups = None if train.groups is None else np.unique(train.groups, return_inverse=True)[1]
    for name, rows in cut(labels, groups, fractions, seed).items():
        parts[name] = train.rows(rows)
    return parts


def load_audio_folder(options: AudioFolderOptions, seed: int) -> DataBundle:
    """Load the folders as train/val/test datasets of ``(Clip, label)``.

    Args:
        options: The validated ``audio_folder`` options.
        seed: The split seed (``data.split_seed``).

    Returns:
        The bundle of three :class:`~compressor_audio.datasets.files.AudioFiles`;
        ``details`` counts the files left out by ``skip_unreadable``.

    Raises:
        RecipeError: A folder is missing or empty, the classes differ, a file name does not
            match the pattern, or a split would be empty.
        UsageError: A file cannot be read (and ``skip_unreadable`` is off).
    """
    roots = {"train": options.train_root, "val": options.val_root, "test": options.test_root}
    found = {
        name: scan(f"data.options.{name}_root", Path(root), options)
        for name, root in roots.items()
        if root is not None
    }
    classes = _class_names(found, options)
    headers = {}
    skipped = 0
    for name, clips in found.items():
        read = read_headers(clips.paths)
        keep, left_out = readable(
            clips.paths, read, skip=options.skip_unreadable, field="data.options.skip_unreadable"
        )
        found[name], headers[name] = clips.rows(keep), [read[i] for i in keep]
        skipped += left_out
    missing = [name for name in ("val", "test") if name not in found]
    header_of = dict(zip(found["train"].paths, headers["train"], strict=True))
    for name, clips in _split(found["train"], options, missing, seed).items():
        found[name], headers[name] = clips, [header_of[p] for p in clips.paths]
    index = {name: i for i, name in enumerate(classes)}
    splits = {
        name: AudioFiles(clips.paths, [index[label] for label in clips.labels], headers[name])
        for name, clips in found.items()
    }
    details: dict[str, object] = {"skipped_unreadable": skipped} if options.skip_unreadable else {}
    return audio_bundle("audio_folder", splits, classes, details)
