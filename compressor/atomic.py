"""Atomic file writes: a crashed run never leaves a half-written artifact.

Everything goes to a temporary file in the destination's folder and is renamed over the
destination only once complete (``os.replace`` is atomic on POSIX and Windows). A write that
fails for lack of space or permission leaves no temporary file and raises
:class:`~compressor.errors.WriteFailure`, naming the file and the reason. Folders that readers
may be using (cache entries, teacher outputs) are removed the same way round:
:func:`discard_folder` renames one away before deleting it.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compressor.errors import WriteFailure, one_line


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block succeeds.

    Example:
        >>> with atomic_path(run_dir / "student.onnx") as tmp:
        ...     torch.onnx.export(model, args, tmp)
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_failure(target, exc) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; artifacts get the usual permissions (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise _write_failure(target, exc) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


#: errno values that mean "this file cannot be written here" rather than a bug in the writer.
WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
)


def _write_failure(target: Path, exc: OSError) -> WriteFailure:
    """One line naming the file and the system's reason; a full disk is not a bug."""
    return WriteFailure(f"cannot write {target}: {exc.strerror or one_line(exc)}")


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically and return the path."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def discard_folder(folder: str | os.PathLike[str]) -> bool:
    """Remove ``folder``, renamed away first so that no reader sees it half deleted.

    The hidden name is unique (process, a random part): a leftover of an earlier removal that
    could not finish, or another process removing the same folder, never blocks the rename.
    It starts with a dot, as the cache's abandoned temporary folders do, so a sweep of those
    finds it if deleting fails.

    Returns:
        Whether ``folder`` was there to remove (``False``: it was not, or it could not be
        renamed, e.g. another process removed it first).
    """
    target = Path(folder)
    hidden = target.with_name(f".{target.name[:12]}.removed.{os.getpid()}.{secrets.token_hex(6)}")
    try:
        os.rename(target, hidden)
    except OSError:
        return False
    shutil.rmtree(hidden, ignore_errors=True)
    return True
