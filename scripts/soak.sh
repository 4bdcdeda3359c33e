#!/usr/bin/env bash
# The soak (docs/conformance.md, "Bad input and soak"; `npm run soak`):
# 200,000 messages through 3 groups on every broker that has
# adapters/<broker>/test/soak.test.ts, one broker after the other, memory
# sampled every second; then prints the table of the last runs.
# OMNIBUS_SOAK_MESSAGES overrides the size (CI runs the tests at 20,000 by default).
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_deps
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
export OMNIBUS_SOAK_MESSAGES="${OMNIBUS_SOAK_MESSAGES:-200000}"
BROKERS=()
FILES=()
for b in rabbitmq nats redis kafka; do
  if [ -f "adapters/$b/test/soak.test.ts" ]; then BROKERS+=("$b"); FILES+=("adapters/$b/test/soak.test.ts"); fi
done
source scripts/brokers.sh "${BROKERS[@]}"
status=0
vitest run --no-file-parallelism "${FILES[@]}" "$@" || status=$?
echo "== soak table (OMNIBUS_SOAK_MESSAGES=$OMNIBUS_SOAK_MESSAGES)"
node conformance/src/soak-table.ts
exit $status
