#!/usr/bin/env bash
# The full reliability suite: the 500-image campaign under injected faults, the bad-input
# corpus, response fuzzing, and the real scheduler/triggerer kill tests. CI runs the same
# tests with a 100-image campaign.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export WAN_RELIABILITY_IMAGES="${WAN_RELIABILITY_IMAGES:-500}"
exec .venv/bin/pytest -p no:cacheprovider "$@" \
  tests/reliability tests/api/test_parsing_fuzz.py tests/system tests/operators/test_killed_upload.py
