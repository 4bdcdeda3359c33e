#!/usr/bin/env bash
# The one test command (README: `npm test`): installs what is missing (Node 22,
# pnpm, dependencies, brokers), type-checks the whole repo, builds dist/ of
# every published package, runs every test against real brokers, runs the
# conformance, fault and broker-version tests again on the newest version of
# each broker (scripts/matrix/test.sh newest: RabbitMQ 4.0, NATS 2.10, Redis 8.0,
# Kafka 4.4; skipped when test arguments are given or OMNIBUS_SKIP_MATRIX is set),
# then regenerates docs/guarantees.md from the conformance results of this run and
# checks the conformance CLI's verdicts against them. Every other matrix version
# as well: `npm run test:matrix`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_deps
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
BROKERS=()
for b in rabbitmq nats redis kafka; do [ -d "adapters/$b/test" ] && [ -n "$(ls adapters/$b/test 2>/dev/null)" ] && BROKERS+=("$b"); done
source scripts/brokers.sh "${BROKERS[@]}"
# PostgreSQL and MariaDB for packages/outbox.
source scripts/databases.sh
part() { echo "== $1 took $(( SECONDS - PART_T0 )) s"; PART_T0=$SECONDS; }
PART_T0=$SECONDS
# A Docker engine for packages/testing (started here, stopped on exit) and the broker images it
# runs, built offline under the official names (scripts/testing-images.sh: ~50 s the first time,
# ~5 s when cached).
bash scripts/docker.sh start >/dev/null
trap 'bash "$ROOT/scripts/docker.sh" stop' EXIT
source scripts/docker.sh --env
echo "== testing images"
bash scripts/testing-images.sh
part "docker engine and images"
echo "== typecheck"
tsc -p tsconfig.json
part typecheck
echo "== build"
pnpm -r --reporter=append-only run build
export OMNIBUS_BUILT=1
# What users install: the packed tarballs in fresh apps outside the repo (scripts/packaging.sh).
part build
echo "== packaging"
bash scripts/packaging.sh
part packaging
# The public API of every entry point must match its committed report (api/, `npm run api`).
echo "== api"
node scripts/api-report.ts --check
part api
echo "== tests"
rm -f conformance/results/*.json conformance/results/faults/*.json
vitest run "$@"
part tests
if [ $# -eq 0 ] && [ -z "${OMNIBUS_SKIP_MATRIX:-}" ]; then
  echo "== matrix (newest broker versions)"
  bash scripts/matrix/test.sh newest
  part matrix
fi
echo "== guarantees"
node conformance/src/guarantees.ts
# The conformance CLI against each broker must give the verdicts the run above wrote (~1 min a
# broker); a filtered run (arguments to vitest) wrote no complete results to compare with.
if [ $# -eq 0 ]; then
  echo "== conformance CLI"
  node --test conformance/test/cli-verdicts.ts
  part "conformance CLI"
fi
# The benchmark harness runs once in quick mode so it cannot rot; its figures are not asserted.
if [ -z "${OMNIBUS_SKIP_BENCH:-}" ]; then
  echo "== bench --quick"
  node bench/src/main.ts --quick
fi
