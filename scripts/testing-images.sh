#!/usr/bin/env bash
# Builds, without any registry, the images @omnibus/testing starts by default, under the
# official names: rabbitmq:4, nats:2.10, redis:8 and apache/kafka:4.1.1 (Dockerfiles in
# scripts/testing-images/). Their base is the Debian 13 root of scripts/matrix/debian13.sh
# (RabbitMQ 4.0.5, NATS 2.10.27, Redis 8.0.2) imported as omnibus-debian13-base; Kafka adds
# Debian's OpenJDK 21 (apt inside the build, host network) and the Maven Central jars of
# scripts/kafka.sh. Idempotent: the base is imported again only when the root changed (its
# stamp is the image's label) and Docker's layer cache makes an unchanged build a no-op.
# Prints each image's build time and size. Needs a running engine (scripts/docker.sh start).
# Usage: bash scripts/testing-images.sh [rabbitmq] [nats] [redis] [kafka]   (default: all)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/docker.sh" --env
CACHE="${OMNIBUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/omnibus}"
ROOTFS="$CACHE/debian13/root"
STAMP="$CACHE/debian13/complete"
BASE=omnibus-debian13-base
KAFKA_VERSION="${OMNIBUS_KAFKA_VERSION:-4.1.1}"
# The legacy builder: Debian's engine has no BuildKit component here, and it needs none.
export DOCKER_BUILDKIT=0

log() { echo "testing-images: $*" >&2; }

tag_of() {
  case "$1" in
    rabbitmq) echo rabbitmq:4 ;; nats) echo nats:2.10 ;; redis) echo redis:8 ;;
    kafka) echo "apache/kafka:$KAFKA_VERSION" ;;
    *) log "unknown image $1 (rabbitmq nats redis kafka)"; return 1 ;;
  esac
}

size_mb() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'; }

ensure_base() {
  if [ ! -f "$STAMP" ]; then
    [ -f "$ROOT/scripts/matrix/debian13.sh" ] || { log "no Debian 13 root at $ROOTFS and no scripts/matrix/debian13.sh to make it"; return 1; }
    bash "$ROOT/scripts/matrix/debian13.sh" install
  fi
  local want have
  want="$(sha256sum "$STAMP" | cut -c1-16)"
  have="$(docker image inspect -f '{{index .Config.Labels "omnibus.root"}}' "$BASE" 2>/dev/null || true)"
  if [ "$want" = "$have" ]; then log "$BASE: up to date ($(size_mb "$BASE"))"; return 0; fi
  local t0=$SECONDS
  # The root's /proc, /dev and /tmp may hold mounts of a running program (debian13.sh exec): not archived.
  tar -C "$ROOTFS" --exclude=./proc/* --exclude=./dev/* --exclude=./tmp/* --exclude="./${CACHE#/}/*" -c . \
    | docker import --change "LABEL omnibus.root=$want" --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE" >/dev/null
  log "$BASE: imported in $(( SECONDS - t0 )) s ($(size_mb "$BASE"))"
}

build() { # name
  local name="$1" tag context t0=$SECONDS
  tag="$(tag_of "$name")"
  context="$ROOT/scripts/testing-images/$name"
  if [ "$name" = kafka ]; then
    OMNIBUS_KAFKA_VERSION="$KAFKA_VERSION" bash "$ROOT/scripts/kafka.sh" fetch
    # The jars go into the image (a context of their own, outside the clone's tracked files).
    context="$ROOT/.omnibus/testing-images/kafka-$KAFKA_VERSION"
    rm -rf "$context"; mkdir -p "$context/lib"
    cp "$ROOT/scripts/testing-images/kafka/Dockerfile" "$ROOT/scripts/testing-images/kafka/run.sh" "$context/"
    cp "$ROOT/.omnibus/kafka/$KAFKA_VERSION/lib/"*.jar "$context/lib/"
  fi
  local out
  out="$(docker build --network host --label omnibus.testing.image=local -t "$tag" "$context" 2>&1)" || { echo "$out" >&2; return 1; }
  printf 'testing-images: %-20s %4d s  %s\n' "$tag" $(( SECONDS - t0 )) "$(size_mb "$tag")" >&2
}

[ $# -gt 0 ] || set -- rabbitmq nats redis kafka
for name in "$@"; do tag_of "$name" >/dev/null; done
ensure_base
for name in "$@"; do build "$name"; done
# A rebuild leaves the previous image untagged: drop those.
docker image prune -f >/dev/null
