#!/usr/bin/env bash
# Set up, then run every check CI runs: lint, format, types, and the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/api -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

echo "== ruff (lint and format)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (the package)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
