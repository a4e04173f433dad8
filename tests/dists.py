"""Fake installed distributions: a dist-info folder is all importlib.metadata needs to see entry points."""

from __future__ import annotations

from pathlib import Path

#: The example plugin distribution shipped in examples/.
EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "compressor-plugin-example"
EXAMPLE_DIST = ("compressor-plugin-example", "0.1.0")
EXAMPLE_PLUGIN = "compressor_plugin_example"


def write_dist_info(site: Path, dist: str, version: str, entry_points: dict[str, str]) -> Path:
    """Write ``<dist>-<version>.dist-info`` into ``site`` declaring ``entry_points`` in the compressor group.

    Put ``site`` and the folder holding the package source on ``sys.path`` (or ``PYTHONPATH``)
    and the plugin is visible exactly as after ``pip install -e``, without touching the venv.
    """
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[compressor]\n{lines}")
    return info


def install_example(site: Path) -> list[str]:
    """Make the example plugin visible; returns the paths to prepend to ``sys.path``."""
    write_dist_info(site, *EXAMPLE_DIST, {EXAMPLE_PLUGIN: EXAMPLE_PLUGIN})
    return [str(site), str(EXAMPLE_DIR)]
