#!/usr/bin/env bash
# Runs a command with the project's Node and pnpm on PATH and dependencies installed.
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_deps
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
exec "$@"
