#!/usr/bin/env bash
# Install everything and run the whole test suite (real PostgreSQL: $ORGSYNC_TEST_DATABASE_URL, else the server
# on 127.0.0.1:5432, else an embedded one started for the run; sandbox VAN/Action Network over HTTP; moto S3).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check --quiet . || { echo "ruff check failed (fix: .venv/bin/ruff check --fix .)" >&2; exit 1; }
.venv/bin/ruff format --check --quiet . || { echo "ruff format check failed (fix: .venv/bin/ruff format .)" >&2; exit 1; }
# the code location loads in the local profile (production would demand every credential: see lib/profile.py);
# validation needs no instance: an empty DAGSTER_HOME (the repo's dagster.yaml wants DAGSTER_PG_URL)
export ORGSYNC_PROFILE=local
VALIDATE_HOME="$(mktemp -d)"
trap 'rm -rf "$VALIDATE_HOME"' EXIT
DAGSTER_HOME="$VALIDATE_HOME" .venv/bin/dagster definitions validate -m orgsync_dagster.definitions >/dev/null 2>&1 \
  || { DAGSTER_HOME="$VALIDATE_HOME" .venv/bin/dagster definitions validate -m orgsync_dagster.definitions; exit 1; }
.venv/bin/python -m pytest -n "${ORGSYNC_TEST_WORKERS:-4}" "$@"
