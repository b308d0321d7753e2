#!/usr/bin/env bash
# Create .venv and install the pinned course stack into it. Idempotent: it
# reinstalls only when requirements.txt, pyproject.toml or this script change.
# Needs Python 3.11 (PYTHON=... to choose the interpreter) and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "hdrlab needs Python 3.11 (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.hdrlab-installed
wanted=$(cat requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install -r requirements.txt
# learn2learn 0.2.0 ships only a source archive whose generated C files do not
# compile on Python >= 3.11 and whose declared dependencies force numpy<2.
# Building with build_ext regenerates them with Cython 3; --no-deps keeps numpy 2
# (its runtime needs, gym/scipy/requests/tqdm, come from requirements.txt).
"${pip[@]}" install --no-deps -C--build-option=build_ext learn2learn==0.2.0
"${pip[@]}" install --no-deps -e .
echo "$wanted" > "$stamp"
