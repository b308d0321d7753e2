#!/usr/bin/env bash
# Run the tests: set up .venv, then unit tests, doctests and nbval grading of
# every notebook in the quick profile. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HDRLAB_PROFILE=quick
exec .venv/bin/python -m pytest tests hdrlab --nbval-lax --nbval-current-env notebooks "$@"
