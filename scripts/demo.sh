#!/usr/bin/env bash
# Install everything and run the main job end to end on embedded defaults (no credentials, no servers).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/orgsync demo "$@"
