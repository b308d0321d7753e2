#!/usr/bin/env bash
# Run the tests: set up .venv, then unit tests, doctests, and the grading tests
# (tests/test_grade.py: the teacher edition of every notebook graded as a
# submission with nbval, all PASS; a class of tampered submissions of 00 and 01)
# in the quick profile. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_browser.sh  # chromium and Playwright for tests/test_browser.py
export HDRLAB_PROFILE=quick
exec .venv/bin/python -m pytest tests hdrlab "$@"
