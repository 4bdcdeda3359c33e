#!/usr/bin/env bash
# Runs, against other broker versions than the machine's (scripts/matrix/brokers.sh),
# what can differ between versions: the conformance suite (A–F), the fault suite and
# the adapter's broker-version tests. Each run is labelled with the version the server
# reports, so conformance/results/ gets a file per version and docs/guarantees.md a column.
#
#   bash scripts/matrix/test.sh [newest|all|TARGET...]   default: all
#     newest: rabbitmq-4.0 nats-2.10 redis-8.0 kafka-4.4 (what `npm test` adds)
#     all:    those and valkey-8.1, kafka-3.9 (`npm run test:matrix`)
#   OMNIBUS_MATRIX_GUARANTEES=1 regenerates docs/guarantees.md at the end.
#
# Every target runs even when one fails; the exit status says whether all passed.
set -euo pipefail
source "$(dirname "$0")/../env.sh"
ensure_deps
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
source scripts/matrix/brokers.sh --define-only
case "${1:-all}" in
  all) TARGETS=("${MATRIX_TARGETS[@]}") ;;
  newest) TARGETS=("${MATRIX_NEWEST[@]}") ;;
  *) TARGETS=("$@") ;;
esac
for t in "${TARGETS[@]}"; do matrix_start "$t"; done
failed=()
summary=()
for t in "${TARGETS[@]}"; do
  adapter=$(matrix_adapter "$t")
  files=()
  for f in conformance faults broker-versions; do
    [ -f "adapters/$adapter/test/$f.test.ts" ] && files+=("adapters/$adapter/test/$f.test.ts")
  done
  echo "== matrix: $t (${files[*]})"
  t0=$SECONDS
  # shellcheck disable=SC2046 # matrix_env prints NAME=value words without spaces
  if env $(matrix_env "$t") vitest run "${files[@]}"; then status=passed; else status=FAILED; failed+=("$t"); fi
  summary+=("$t: $status in $(( SECONDS - t0 )) s")
done
echo "== matrix summary"
printf '  %s\n' "${summary[@]}"
if [ -n "${OMNIBUS_MATRIX_GUARANTEES:-}" ]; then node conformance/src/guarantees.ts; fi
[ ${#failed[@]} -eq 0 ] || { echo "matrix: failed: ${failed[*]}" >&2; exit 1; }
