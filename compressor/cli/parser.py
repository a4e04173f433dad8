"""The ``compressor`` argument parser, assembled from the command modules.

Each command module has ``register(commands, common)``: it adds its subparser (taking the
global options from ``common``) and sets ``handler`` to the function that runs it. Command
modules import nothing heavy at module level, so building the parser stays instant.
"""

from __future__ import annotations

import argparse

from compressor import __version__
from compressor.cli import bench, cache, new_plugin, plugins, report, run, validate
from compressor.cli.common import global_options

#: The commands in the order ``--help`` lists them.
COMMAND_MODULES = (run, validate, plugins, new_plugin, bench, report, cache)

EPILOG = """\
examples:
  compressor run recipes/quickstart.yaml
  compressor run recipes/quickstart.yaml --set stages.distill.epochs=3 --out runs/try
  compressor validate recipes/quickstart.yaml
  compressor plugins --json
  compressor new-plugin compressor-focal --dir plugins-dev/focal
  compressor bench runs/quickstart/student.onnx --dataset digits --batch 1,64 --threads 1,2
  compressor report runs/quickstart

docs: docs/cli.md, docs/recipes.md, docs/stages.md
"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options, ``--version`` and every command."""
    common = global_options()
    parser = argparse.ArgumentParser(
        prog="compressor",
        description="Distill, prune and export PyTorch models to ONNX from one YAML recipe, "
        "and benchmark the result in onnxruntime.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"compressor {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser
