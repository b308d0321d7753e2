#!/usr/bin/env bash
# Install what tests/test_browser.py needs (the explorers in a real JupyterLab):
# Debian's chromium package, when /usr/bin/chromium is missing, and Playwright
# for Python in .venv. Playwright drives that chromium (executable_path); its own
# browser download (`playwright install`) is never used. Idempotent; run after
# scripts/setup.sh (scripts/test.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
playwright_version=1.65.3  # checked with Debian 12's chromium 156
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "The browser test needs Chromium at /usr/bin/chromium: install Debian's (or Ubuntu's) chromium package," >&2
    echo "e.g. 'sudo apt-get install chromium', or run this script as root on Debian." >&2
    exit 2
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium  # its recommends bring the fonts
fi
installed=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("playwright"))' 2>/dev/null || true)
if [ "$installed" != "$playwright_version" ]; then
  .venv/bin/python -m pip --disable-pip-version-check install -q "playwright==$playwright_version"
fi
