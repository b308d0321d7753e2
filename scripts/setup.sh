#!/usr/bin/env bash
# Create .venv and install the pinned course stack into it. Idempotent: it
# reinstalls only when requirements.txt, pyproject.toml or this script change.
#
# Python 3.11 or 3.12 (PYTHON=... chooses the interpreter; default python3): the
# pins of requirements.txt resolve on both. torch==2.13.0 is the catch: pip takes
# its CPU wheel (about 190 MB) when an index it reads has one (the project's
# machines keep a cp311 one in pip's find-links; elsewhere the PyTorch CPU index,
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu), and otherwise PyPI's
# CUDA build with its nvidia-* and triton wheels (about 2.7 GB). Before installing,
# this script asks pip which torch it would take and stops, saying what to do, if it
# is not the CPU wheel, unless HDRLAB_TORCH=cuda asks for the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
supported='import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))'
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -c "$supported" 2>/dev/null; then
    echo "hdrlab needs Python 3.11 or 3.12 (found: $("$python" --version 2>&1))." >&2
    echo "Install one (e.g. pyenv install 3.11, or apt install python3.11-venv) and run: PYTHON=/path/to/python3.11 bash scripts/setup.sh" >&2
    exit 2
  fi
  "$python" -m venv .venv
elif ! .venv/bin/python -c "$supported"; then
  echo "hdrlab needs Python 3.11 or 3.12, and .venv has $(.venv/bin/python --version 2>&1)." >&2
  echo "Remove .venv and run: PYTHON=/path/to/python3.11 bash scripts/setup.sh" >&2
  exit 2
fi
stamp=.venv/.hdrlab-installed
wanted=$(cat requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)
torch_pin=$(grep -E '^torch==' requirements.txt)
installed=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)
if [ "${HDRLAB_TORCH:-cpu}" != cuda ] && [ "${installed%%+*}" != "${torch_pin#torch==}" ]; then
  # --dry-run reads only metadata: nothing large is downloaded here
  chosen=$("${pip[@]}" install --dry-run --ignore-installed --no-deps --quiet --report - "$torch_pin" |
    .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])')
  if [[ $chosen != *+cpu ]]; then
    version=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    cat >&2 <<EOF
No CPU wheel of $torch_pin for Python $version is on this machine's package indexes:
pip would download PyPI's CUDA build of torch $chosen with its nvidia-* and triton
wheels (about 2.7 GB). Choose one and run this script again:
  - the CPU wheel from PyTorch's index (about 190 MB):
      PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup.sh
  - on a machine that keeps the CPU wheel for another Python (this project's
    machines have it for 3.11 only): rm -r .venv; PYTHON=python3.11 bash scripts/setup.sh
  - the CUDA build (a GPU machine): HDRLAB_TORCH=cuda bash scripts/setup.sh
EOF
    exit 3
  fi
fi
"${pip[@]}" install -r requirements.txt
# learn2learn 0.2.0 ships only a source archive whose generated C files do not
# compile on Python >= 3.11 and whose declared dependencies force numpy<2.
# Building with build_ext regenerates them with Cython 3; --no-deps keeps numpy 2
# (its runtime needs, gym/scipy/requests/tqdm, come from requirements.txt).
"${pip[@]}" install --no-deps -C--build-option=build_ext learn2learn==0.2.0
# ColorVideoVDP (hdrlab.metrics.cvvdp_jod): its declared dependencies pull video
# tools it never uses (ffmpeg, PyEXR); --no-deps installs it with just the modules
# pycvvdp imports at load time (the same line is hdrlab.metrics.CVVDP_INSTALL).
"${pip[@]}" install --no-deps cvvdp==0.5.7 einops==0.8.2 ffmpeg-python==0.2.0 future==1.0.0 \
  imageio==2.38.2 huggingface_hub==0.34.4
"${pip[@]}" install --no-deps -e .
echo "$wanted" > "$stamp"
