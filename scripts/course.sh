#!/usr/bin/env bash
# Run the course: set up .venv, then execute every notebook (quick profile by
# default) with papermill. Arguments go to `python -m hdrlab course`, e.g.
#   bash scripts/course.sh --only 00 --out /tmp/run
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m hdrlab course "$@"
