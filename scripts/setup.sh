#!/usr/bin/env bash
# Install the project and its locked dependencies into .venv (idempotent, a few seconds when warm).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v uv >/dev/null 2>&1; then
  echo "Installing uv (the package installer that reads uv.lock)..."
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
# Exactly the tested set of packages, from uv.lock; fails if pyproject.toml and the lock disagree.
uv sync --frozen --extra dev --extra s3 --extra bench --quiet
