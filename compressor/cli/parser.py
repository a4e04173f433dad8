"""The ``compressor`` argument parser, assembled from the command modules.

Each command module has ``register(commands, common)``: it adds its subparser (taking the
global options from ``common``, so they work after the command too) and sets ``handler`` to
the function that runs it. Command modules import nothing heavy at module level, so building
the parser stays instant. Parse with :func:`parse_command_line`, which merges the global options
given before and after the command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from compressor import __version__
from compressor.cli import (
    bench,
    cache,
    new_plugin,
    plugins,
    predict,
    recipes,
    report,
    run,
    schema,
    search,
    validate,
)
from compressor.cli.common import global_options, merge_global_options

#: The commands in the order ``--help`` lists them.
COMMAND_MODULES = (
    run,
    validate,
    search,
    recipes,
    plugins,
    new_plugin,
    bench,
    predict,
    report,
    schema,
    cache,
)

EPILOG = """\
examples:
  compressor recipes                       # the shipped recipes; run one by name
  compressor run quickstart
  compressor run quickstart --set stages.distill.epochs=3 --out runs/try
  compressor run detection                 # boxes: train, distill, prune, ONNX, INT8, mAP
  compressor run speech                    # keyword spotting: the waveform in, classes out
  compressor search budget --storage sqlite:///study.db        # a budget search, shared
  compressor search --worker --storage sqlite:///study.db --role latency
  compressor validate my_recipe.yaml
  compressor plugins --json
  compressor schema --out recipe.schema.json   # editor completion for recipes
  compressor -v validate quickstart --disable-plugin my_plugin
  compressor new-plugin compressor-focal --dir plugins-dev/focal
  compressor bench runs/quickstart/student.onnx --dataset digits --batch 1,64 --threads 1,2
  compressor predict runs/quickstart/student.onnx photo.png --top-k 3
  compressor predict runs/detection/student.onnx street.jpg --json --draw boxes/
  compressor report runs/quickstart

docs: https://github.com/compressor-dev/compressor/tree/main/docs (cli.md, recipes.md, stages.md)
"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options, ``--version`` and every command."""
    common = global_options(after_command=True)
    parser = argparse.ArgumentParser(
        prog="compressor",
        description="Distill, prune and export PyTorch models to ONNX from one YAML recipe, "
        "and benchmark the result in onnxruntime.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[global_options()],
    )
    parser.add_argument("--version", action="version", version=f"compressor {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser


def parse_command_line(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``); global options from either side, merged."""
    return merge_global_options(parser.parse_args(argv))
