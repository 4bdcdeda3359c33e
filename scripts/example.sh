#!/usr/bin/env bash
# README's first command (`npm start`): runs the employee example, by default
# on the embedded in-memory broker (OMNIBUS_URL picks another).
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_deps
cd "$ROOT/examples/employee"
exec node --disable-warning=ExperimentalWarning src/main.ts "$@"
