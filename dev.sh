#!/usr/bin/env bash
# One entry point for a fresh clone: set up a virtualenv, then run the quick start or the tests.
#
#   bash dev.sh run    # set up, then run the shipped quickstart recipe end to end
#   bash dev.sh test   # set up, then run the test suite
#   bash dev.sh check  # set up, then lint, check formatting, types and the import layers
#   bash dev.sh setup  # only set up
#
# Extra arguments go to the command: `bash dev.sh test -k recipe`, `bash dev.sh run --out runs/x`.
# COMPRESSOR_VENV picks another virtualenv folder (default: .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV="${COMPRESSOR_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.compressor-installed"
  # Reinstall only when the dependencies may have changed.
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing compressor and its dependencies into $VENV (the first time takes a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # The timm extra too: its tests (timm models, safetensors weights) run rather than skip.
    "$VENV/bin/python" -m pip install --quiet -e ".[test,dev,timm]"
    touch "$stamp"
  fi
}

command="${1:-run}"
shift || true
case "$command" in
  setup) setup ;;
  run)
    setup
    exec "$VENV/bin/compressor" run quickstart "$@"
    ;;
  test)
    setup
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
  check)
    setup
    # What CI runs before the tests; each names what it found, and the first failure stops.
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
    "$VENV/bin/lint-imports"
    ;;
  *)
    echo "usage: bash dev.sh [run|test|check|setup] [args...]" >&2
    exit 2
    ;;
esac
