"""A finished stage's results on disk: its artifacts, its files and its metrics.

Two features bring back a stage without running it again, and both use this module:
``--resume`` reads ``completed_stages.json`` in the interrupted run folder, and the stage cache
(:mod:`compressor.run.cache`) keeps the same description beside copies of the stage's files.
An artifact is described by its kind, name, producer, file and metadata; a model artifact is
restored by loading its checkpoint (``weights_only=True``), a file artifact by its path.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compressor.artifacts import Artifact, FileArtifact, ModelArtifact
from compressor.atomic import write_json

if TYPE_CHECKING:
    from compressor.plugin.registry import Registry

#: In a run folder: the stages that completed, in order, with what they published.
COMPLETED_FILE = "completed_stages.json"


def json_safe(value: Any) -> Any:
    """``value`` reduced to what JSON keeps exactly (other leaves become strings)."""
    return json.loads(json.dumps(value, default=str))


def _stored_path(path: Path, run_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(Path(path).resolve())  # outside the run (a ``load`` stage's source file)


def describe_artifact(artifact: Artifact, run_dir: Path) -> dict[str, Any] | None:
    """A JSON description of ``artifact``, or ``None`` if it cannot be restored from disk.

    Args:
        artifact: A published artifact.
        run_dir: The run folder; paths inside it are stored relative to it.
    """
    base = {"name": artifact.name, "producer": artifact.producer, "meta": json_safe(artifact.meta)}
    if isinstance(artifact, ModelArtifact) and artifact.path is not None:
        return {
            **base,
            "kind": "model",
            "path": _stored_path(artifact.path, run_dir),
            "spec": json_safe(artifact.spec),
        }
    if isinstance(artifact, FileArtifact):
        return {
            **base,
            "kind": "file",
            "path": _stored_path(artifact.path, run_dir),
            "format": artifact.format,
            "source": artifact.source,
        }
    return None


def restore_artifact(
    description: dict[str, Any], run_dir: Path, registry: Registry, device: str
) -> Artifact:
    """Rebuild an artifact from :func:`describe_artifact`'s description.

    Raises:
        UsageError: A model checkpoint is missing or cannot be loaded.
    """
    from compressor.model.checkpoint import load_model

    path = run_dir / description["path"]  # an absolute stored path stays absolute
    common = {
        "name": description["name"],
        "producer": description["producer"],
        "meta": dict(description.get("meta", {})),
    }
    if description["kind"] == "model":
        model, _ = load_model(path, registry)
        return ModelArtifact(
            **common, model=model.to(device).eval(), spec=description["spec"], path=path
        )
    return FileArtifact(
        **common, path=path, format=description["format"], source=description["source"]
    )


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_digest(artifact: Artifact) -> str | None:
    """What identifies an artifact's content, for cache keys; ``None`` when unknown.

    A model's digest covers its reference and every tensor of its ``state_dict`` (a checkpoint
    file's bytes would not do: they depend on the temporary name it was written under); a file's
    digest is its SHA-256.
    """
    if isinstance(artifact, ModelArtifact) and artifact.model is not None:
        import torch

        digest = hashlib.sha256(json.dumps(json_safe(artifact.spec), sort_keys=True).encode())
        for key, tensor in artifact.model.state_dict().items():
            value = tensor.detach().cpu().contiguous()
            digest.update(f"{key}:{value.dtype}:{tuple(value.shape)}".encode())
            # Raw bytes through a uint8 view: works for every dtype, bfloat16 included.
            digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()
    if isinstance(artifact, FileArtifact) and artifact.path.is_file():
        return file_digest(artifact.path)
    return None


def snapshot(run_dir: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """``relative path -> (size, mtime_ns)`` of every file in ``run_dir`` (minus ``skip`` folders)."""
    found = {}
    for path in run_dir.rglob("*"):
        rel = path.relative_to(run_dir)
        if path.is_file() and rel.parts[0] not in skip:
            stat = path.stat()
            found[str(rel)] = (stat.st_size, stat.st_mtime_ns)
    return found


def written_since(
    run_dir: Path, before: dict[str, tuple[int, int]], skip: tuple[str, ...] = ()
) -> list[str]:
    """Files in ``run_dir`` that are new or changed since :func:`snapshot` returned ``before``."""
    after = snapshot(run_dir, skip)
    return sorted(rel for rel, stamp in after.items() if before.get(rel) != stamp)


def read_completed(run_dir: Path) -> list[dict[str, Any]]:
    """The completed stages recorded in ``run_dir`` (empty when none)."""
    path = run_dir / COMPLETED_FILE
    if not path.exists():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("stages", []))


def write_completed(run_dir: Path, stages: list[dict[str, Any]]) -> None:
    """Record the completed stages in ``run_dir`` (atomically, after each stage)."""
    write_json(run_dir / COMPLETED_FILE, {"stages": stages})
