#!/usr/bin/env bash
# Regenerates api/*.api.md, one API report per public entry point, from the
# built dist/*.d.ts (logic in scripts/api-report.ts). Build first.
# Usage: bash scripts/api-report.sh           write the reports (`npm run api`)
#        bash scripts/api-report.sh --check   fail if a report is out of date (scripts/test.sh)
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_deps
cd "$ROOT"
exec node scripts/api-report.ts "$@"
