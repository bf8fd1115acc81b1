#!/usr/bin/env bash
# Create .venv (Python 3.11) and install orgsync_dagster with its pinned dependencies, the local-only tools (sandbox,
# embedded PostgreSQL, mongomock: the [local] extra) and the dev tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
  done
fi
if [ -z "$PY" ]; then echo "error: Python 3.11 is required (python3.11 or python3 on PATH)" >&2; exit 2; fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12), (3, 13)) else 1)'; then
  echo "error: $PY is $("$PY" -V 2>&1); orgsync_dagster needs Python 3.11-3.13" >&2; exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[local,dev]"
# The web app's browser tests drive Debian's chromium (never a downloaded browser build).
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests (apt-get install chromium)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; } \
      || echo "warning: apt-get could not install chromium: the browser tests will fail until it is installed" >&2
  else
    echo "warning: /usr/bin/chromium is missing and apt-get is not available: install Debian's chromium package" \
      "(or your system's chromium at /usr/bin/chromium) to run the web app's browser tests" >&2
  fi
fi
