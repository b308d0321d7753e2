#!/usr/bin/env bash
# Run the tests: set up .venv, then unit tests, doctests, and the grading tests
# (tests/test_grade.py: the teacher edition of every notebook graded as a
# submission with nbval, all PASS; a class of tampered submissions of 00 and 01)
# in the quick profile. Extra arguments go to pytest.
#
# The browser test needs Chromium and Playwright (scripts/setup_browser.sh). Where
# they cannot be installed (not root, no apt-get) it is left out with a printed
# reason; in CI (CI=true) that is an error instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
browser=()
if ! bash scripts/setup_browser.sh; then
  if [ "${CI:-}" = true ]; then
    echo "CI needs the browser test: scripts/setup_browser.sh failed" >&2
    exit 1
  fi
  echo "NOTE: leaving out tests/test_browser.py (see the message above); every other test runs." >&2
  browser=(--deselect tests/test_browser.py)
fi
export HDRLAB_PROFILE=quick
exec .venv/bin/python -m pytest tests hdrlab "${browser[@]}" "$@"
