#!/usr/bin/env bash
# `npm run test:clusters`: for each broker, starts its three-node cluster
# (scripts/clusters/<broker>.sh), runs adapters/<broker>/test/clusters.test.ts against it
# (the cluster fault suite, conformance/src/clusters/) while sampling the cluster's memory,
# then stops it; one broker after the other, so two clusters never share the 2 cores.
# Results: conformance/results/clusters/<broker>@<version>.json; the summary prints each
# cluster's start time and peak RSS (all node processes, sampled every 0.5 s).
#
#   bash scripts/clusters/test.sh [BROKER...]   default: nats rabbitmq redis kafka
# These tests are not part of `npm test` (vitest.config.ts leaves them out): they need the clusters.
# Ends by regenerating docs/guarantees.md ("What survives what — clusters").
set -euo pipefail
source "$(dirname "$0")/../env.sh"
ensure_deps
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
if [ $# -gt 0 ]; then BROKERS=("$@"); else BROKERS=(nats rabbitmq redis kafka); fi
summary=()
failed=()
sampler=
cleanup() {
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; fi
  for b in "${BROKERS[@]}"; do bash "scripts/clusters/$b.sh" stop 2>/dev/null || true; done
}
trap cleanup EXIT
for b in "${BROKERS[@]}"; do
  [ -f "adapters/$b/test/clusters.test.ts" ] || { echo "clusters: no adapters/$b/test/clusters.test.ts" >&2; exit 2; }
  echo "== clusters: $b"
  bash "scripts/matrix/debian13.sh" install
  t0=$(date +%s%N)
  bash "scripts/clusters/$b.sh" start
  start_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  peak_file=$(mktemp)
  echo 0 >"$peak_file"
  ( peak=0; while :; do kb=$(bash "scripts/clusters/$b.sh" rss 2>/dev/null || echo 0); if [ "$kb" -gt "$peak" ]; then peak=$kb; echo "$peak" >"$peak_file"; fi; sleep 0.5; done ) &
  sampler=$!
  t1=$SECONDS
  # shellcheck disable=SC2046 # env prints NAME=value words without spaces
  if env $(bash "scripts/clusters/$b.sh" env) vitest run --config scripts/clusters/vitest.config.ts "adapters/$b/test/clusters.test.ts"; then status=passed; else status=FAILED; failed+=("$b"); fi
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; sampler=
  summary+=("$b: $status in $(( SECONDS - t1 )) s; cluster started in $start_ms ms, peak RSS $(( $(cat "$peak_file") / 1024 )) MiB")
  rm -f "$peak_file"
  bash "scripts/clusters/$b.sh" stop
done
echo "== clusters summary"
printf '  %s\n' "${summary[@]}"
# the failed cases' reasons again at the very end, where a log cut to its tail still shows them
for b in "${failed[@]}"; do
  node -e 'for (const f of process.argv.slice(1)) for (const c of JSON.parse(require("fs").readFileSync(f, "utf8")).faults) if (c.status !== "pass") console.log(`  ${f.split("/").pop()} ${c.id}: ${c.status}: ${c.reason ?? ""}`)' conformance/results/clusters/"$b"@*.json 2>/dev/null || true
done
[ ${#failed[@]} -eq 0 ] || { echo "clusters: failed: ${failed[*]}" >&2; exit 1; }
# docs/guarantees.md's "What survives what — clusters" comes from these results.
node conformance/src/guarantees.ts
