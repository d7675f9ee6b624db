#!/usr/bin/env bash
# Prepares a fresh Debian machine for the test suite (the README's "Run the tests"):
# the Debian packages the tests start or drive, then a project virtualenv (.venv) with
# the package and every test and benchmark extra. A clean clone has no .venv, so a
# dependency missing from pyproject.toml fails here instead of hiding on a used machine.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=()
command -v redis-server >/dev/null || debian_packages+=(redis-server)
command -v redis-cli >/dev/null || debian_packages+=(redis-tools)
command -v wrk >/dev/null || debian_packages+=(wrk)
# The console's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser download is never used: `playwright install` is not run).
[[ -x /usr/bin/chromium ]] || debian_packages+=(chromium)
# Stock Debian Python ships venv without ensurepip; python3-venv brings it.
python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
  || debian_packages+=(python3-venv)
if ((${#debian_packages[@]})); then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${debian_packages[@]}"
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,bench]'
