#!/usr/bin/env bash
# Proves that what users install works: packs every public package, checks
# each tarball's contents, installs the tarballs (and nothing from the
# workspace) into fresh apps outside the repo, and runs them on Node 22 and
# Node 24: connect by URL (memory:// and RabbitMQ), require() from CommonJS,
# the README's quick start, a strict TypeScript consumer (TypeScript 7 and
# 5.9), a third-party adapter passing the conformance suite,
# an app's tests on @omnibus/testing (its README's examples, brokers in containers and local),
# and `npm publish --dry-run` of each tarball.
# Usage: bash scripts/packaging.sh   (test.sh runs it after the build; alone it builds first)
# Needs OMNIBUS_RABBITMQ_URL (scripts/brokers.sh exports it).
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_deps
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
if [ -z "${OMNIBUS_RABBITMQ_URL:-}" ]; then source scripts/brokers.sh rabbitmq; fi

PACKAGES=(packages/core packages/protobuf packages/cli packages/outbox packages/testing adapters/memory adapters/rabbitmq adapters/nats adapters/redis adapters/kafka conformance)
NODE24_VERSION="24"
FIXTURES="$ROOT/scripts/packaging"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/omnibus-packaging.XXXXXX")"
# @omnibus/testing's app starts brokers in containers: the engine of scripts/docker.sh (started here and
# stopped on exit when test.sh has not started it) with the images of scripts/testing-images.sh.
STOP_DOCKER=
if [ -z "${DOCKER_HOST:-}" ]; then bash scripts/docker.sh start >/dev/null; STOP_DOCKER=1; fi
source scripts/docker.sh --env
trap 'rm -rf "$WORK"; [ -z "$STOP_DOCKER" ] || bash "$ROOT/scripts/docker.sh" stop' EXIT
TARBALLS="$WORK/tarballs"
NODE22="$(command -v node)"

# Each step prints how long the previous one took (the release note quotes them).
step_name="" step_started=$SECONDS
step() {
  [ -z "$step_name" ] || echo "-- $step_name: $((SECONDS - step_started)) s"
  step_name="$1" step_started=$SECONDS
  [ -z "$1" ] || echo "== packaging: $1"
}

# Users' Node must not see the workspace's source condition, nor the workspace's npm settings.
run_user() { (cd "$1" && shift && env -u NODE_OPTIONS -u OMNIBUS_URL "$@"); }
npm_user() { local dir="$1"; shift; run_user "$dir" npm --no-audit --no-fund --loglevel=error --prefer-offline "$@"; }

# test.sh has just built dist/ (OMNIBUS_BUILT=1); run alone, build so no stale dist/ is packed.
build_if_missing() {
  [ "${OMNIBUS_BUILT:-}" = 1 ] || pnpm -r --reporter=append-only run build
}

pack_all() {
  mkdir -p "$TARBALLS"
  for p in "${PACKAGES[@]}"; do
    pnpm -C "$p" pack --pack-destination "$TARBALLS" >/dev/null
  done
}

# Prints size and file count; fails on test files, fixtures or tsconfigs, or a missing LICENSE/README/entry point.
check_tarball() {
  local tgz="$1" files problems=()
  files="$(tar tzf "$tgz" | sed 's|^package/||')"
  printf '  %-34s %7s bytes %4s files\n' "$(basename "$tgz")" "$(stat -c %s "$tgz")" "$(wc -l <<<"$files")"
  for required in package.json LICENSE README.md CHANGELOG.md dist/index.js dist/index.d.ts; do
    grep -qx "$required" <<<"$files" || problems+=("lacks $required")
  done
  local unwanted
  unwanted="$(grep -E '(^|/)(test|tests|__tests__|fixtures)/|\.(test|spec)\.[cm]?[jt]s$|(^|/)tsconfig[^/]*\.json$|(^|/)vitest\.config\.' <<<"$files" || true)"
  [ -z "$unwanted" ] || problems+=("contains $(tr '\n' ' ' <<<"$unwanted")")
  if [ "${#problems[@]}" -gt 0 ]; then
    printf '    %s\n' "${problems[@]}" >&2
    return 1
  fi
}

tarball_paths() { ls "$TARBALLS"/*.tgz; }
tarball_of() { ls "$TARBALLS"/omnibus-"$1"-*.tgz; }

# node@24 from the npm registry, cached in .tools/node24 like env.sh caches Node 22.
ensure_node24() {
  local bin="$TOOLS/node24/node_modules/.bin/node"
  if [ ! -x "$bin" ] || [ "$("$bin" -p 'process.versions.node.split(".")[0]')" != "$NODE24_VERSION" ]; then
    echo "omnibus: installing node@$NODE24_VERSION into .tools/node24" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$TOOLS/node24" "node@$NODE24_VERSION" >&2
  fi
  NODE24="$bin"
}

# App #1: a plain ESM app that connects by URL only, plus a CommonJS file, the README's quick start and the omnibus bin.
app_url() {
  local app="$WORK/app-url"
  cp -r "$FIXTURES/app-url" "$app"
  # @omnibus/cli depends on every adapter and protobuf: their tarballs are installed with it, not fetched.
  npm_user "$app" install $(tarball_of core) $(tarball_of memory) $(tarball_of rabbitmq) amqplib@^2 \
    $(tarball_of cli) $(tarball_of nats) $(tarball_of redis) $(tarball_of kafka) $(tarball_of protobuf)
  extract_quick_start > "$app/quickstart.mts"
  for node in "$NODE22" "$NODE24"; do
    run_user "$app" timeout 60 "$node" main.mjs "memory://" "$OMNIBUS_RABBITMQ_URL"
    run_user "$app" timeout 30 "$node" require.cjs
  done
  run_user "$app" timeout 60 "$NODE22" quickstart.mts
  echo "ok quick start (README.md) ran on memory://"
  run_user "$app" timeout 30 npx --no-install omnibus --help >/dev/null
  run_user "$app" timeout 30 npx --no-install omnibus health --url memory://
  run_user "$app" timeout 30 npx --no-install omnibus topology --url "$OMNIBUS_RABBITMQ_URL" --group packaging >/dev/null
  run_user "$app" timeout 30 npx --no-install omnibus asyncapi contracts.mjs --out asyncapi.yaml
  grep -q '^asyncapi: 3.0.0$' "$app/asyncapi.yaml"
  echo "ok omnibus --help, health, topology and asyncapi (npx, from the @omnibus/cli tarball)"
}

# The broker clients' own declarations (NATS, Kafka, Redis) do not pass skipLibCheck: false with
# exactOptionalPropertyTypes or without @types they do not ship; our declarations must, so only
# errors inside those clients are tolerated (and listed).
THIRD_PARTY_TYPE_ERRORS='^node_modules/(@nats-io/|@platformatic/kafka/|ioredis/)'
typecheck() { # app package [tsc flags]
  local app="$1" tsc="node_modules/$2/bin/tsc" out status=0 ours
  shift 2
  echo "typescript $(run_user "$app" "$NODE22" "$tsc" --version)"
  out="$(run_user "$app" "$NODE22" "$tsc" -p . "$@" 2>&1)" || status=$?
  ours="$(grep -E '^[^ ].*error TS' <<<"$out" | grep -Ev "$THIRD_PARTY_TYPE_ERRORS" || true)"
  if [ -n "$ours" ] || { [ "$status" != 0 ] && ! grep -qE "$THIRD_PARTY_TYPE_ERRORS" <<<"$out"; }; then
    echo "$out" >&2
    return 1
  fi
  grep -E '^[^ ].*error TS' <<<"$out" | sed -E 's/^([^(]*)\(.*(TS[0-9]+).*/  tolerated (broker client types): \1 \2/' | sort -u
}

# App #2: a strict TypeScript consumer, type-checked by TypeScript 7 and 5.9 against the shipped .d.ts, then run.
app_typescript() {
  local app="$WORK/app-typescript"
  cp -r "$FIXTURES/app-typescript" "$app"
  extract_quick_start > "$app/src/quickstart.ts"
  npm_user "$app" install $(tarball_paths) effect@^4 @opentelemetry/api@^1.10 @types/node@^22 typescript@^7 ts59@npm:typescript@~5.9
  # Both packages have a `tsc` bin; call each by its own path.
  typecheck "$app" typescript
  typecheck "$app" ts59 --noEmit
  for node in "$NODE22" "$NODE24"; do run_user "$app" timeout 60 "$node" dist/main.js; done
  run_user "$app" timeout 60 "$NODE22" entry-points.mjs
}

# App #3: a third-party adapter package, built on @omnibus/core/adapter, passing conformance sections A-F.
app_adapter() {
  local app="$WORK/app-adapter"
  cp -r "$FIXTURES/app-adapter" "$app"
  npm_user "$app" install $(tarball_of core) $(tarball_of memory) $(tarball_of protobuf) $(tarball_of conformance)
  npm_user "$app" install --save-dev vitest@^5
  run_user "$app" timeout 300 "$NODE22" node_modules/vitest/vitest.mjs run
}

# App #4: an app's tests on @omnibus/testing, the README's vitest and node:test examples as written: brokers in
# containers of the engine scripts/docker.sh runs (images of scripts/testing-images.sh), then the node:test one
# again on the local fallback (OMNIBUS_TESTING_VIA=local, the machine's redis-server), and Kafka's local fallback
# from a KAFKA_HOME.
app_testing() {
  local app="$WORK/app-testing" readme="$ROOT/packages/testing/README.md"
  cp -r "$FIXTURES/app-testing" "$app"
  mkdir -p "$app/test"
  readme_block "$readme" "With vitest" > "$app/test/readme.test.ts"
  readme_block "$readme" "With node:test" > "$app/node-test-example.ts"
  npm_user "$app" install $(tarball_of testing) $(tarball_of core) $(tarball_of conformance) $(tarball_of protobuf) \
    $(tarball_of rabbitmq) $(tarball_of redis) effect@^4 testcontainers@^12
  npm_user "$app" install --save-dev vitest@^5
  run_user "$app" timeout 300 "$NODE22" node_modules/vitest/vitest.mjs run
  run_user "$app" timeout 300 "$NODE22" --test node-test-example.ts
  OMNIBUS_TESTING_VIA=local run_user "$app" timeout 300 "$NODE22" --test node-test-example.ts
  # Kafka's local fallback needs a distribution (KAFKA_HOME/libs): here the jars this repository fetched.
  npm_user "$app" install $(tarball_of kafka)
  local kafka_home="$WORK/kafka-home"
  mkdir -p "$kafka_home"
  bash "$ROOT/scripts/kafka.sh" fetch
  ln -sfn "$ROOT/.omnibus/kafka/${OMNIBUS_KAFKA_VERSION:-4.1.1}/lib" "$kafka_home/libs"
  KAFKA_HOME="$kafka_home" run_user "$app" timeout 300 "$NODE22" --test kafka-local.ts
  # The conformance suite as a user tool, from the @omnibus/conformance tarball, on the machine's RabbitMQ.
  run_user "$app" timeout 300 npx --no-install omnibus-conformance --url "$OMNIBUS_RABBITMQ_URL" | grep -E '^[0-9]+ passed, 0 failed'
}

# The first ```ts block under "## <title>" of a markdown file.
readme_block() { # file title
  awk -v t="## $2" '$0 == t {q=1; next} q && /^## /{exit} q && /^```ts$/{c=1; next} c && /^```$/{exit} c{print}' "$1"
}

# No publish happens: npm checks each tarball's manifest as the registry would take it.
publish_dry_run() {
  local tgz out
  for tgz in $(tarball_paths); do
    out="$(run_user "$WORK" npm publish --dry-run --loglevel=warn "$tgz" 2>&1)" || { echo "$out" >&2; return 1; }
    grep -E '^\+ @omnibus/' <<<"$out"
  done
}

# The first ```ts block under "## Quick start" in README.md.
extract_quick_start() { readme_block "$ROOT/README.md" "Quick start"; }

echo "packaging: work dir $WORK"
step "build"
build_if_missing
step "pack"
pack_all
failed=0
for tgz in $(tarball_paths); do check_tarball "$tgz" || failed=1; done
[ "$failed" = 0 ] || { echo "packaging: tarball contents are wrong (above)" >&2; exit 1; }
step "node 24"
ensure_node24
step "app-url (Node 22 and 24: memory://, RabbitMQ, require, quick start; omnibus bin)"
app_url
step "app-typescript (TypeScript 7 and 5.9, strict)"
app_typescript
step "app-adapter (third-party adapter, conformance A-F)"
app_adapter
step "testing images"
bash scripts/testing-images.sh
step "app-testing (@omnibus/testing: README's vitest and node:test examples, docker and local)"
app_testing
step "npm publish --dry-run"
publish_dry_run
step ""
