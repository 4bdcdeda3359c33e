#!/usr/bin/env bash
# A private Docker engine for the tests of packages/testing: Debian's docker.io,
# no bridge and no iptables rules (containers run with network mode "host" and
# bind 127.0.0.1 only), its own socket, pid file and exec root, images kept in
# $OMNIBUS_CACHE/docker (outside the clone, like ~/.m2) so builds survive runs.
#
#   scripts/docker.sh start    install docker.io if missing, start the engine unless
#                              it runs, wait until it answers; prints DOCKER_HOST=...
#   scripts/docker.sh stop     stop the engine this script started (containers go with it)
#   scripts/docker.sh host     print the DOCKER_HOST value
#   source scripts/docker.sh --env   export DOCKER_HOST (and what testcontainers needs here)
#
# TESTCONTAINERS_RYUK_DISABLED=true: Ryuk (testcontainers' reaper) is an image pulled from
# a registry and reached through a mapped port; neither exists here. @omnibus/testing
# removes its own containers on stop(); `stop` here removes whatever a killed test left.
# TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1: inside a container (/.dockerenv, as on our machines)
# testcontainers looks for the bridge network's gateway, and this engine has no bridge.
set -euo pipefail

DOCKER_CACHE="${OMNIBUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/omnibus}/docker"
DOCKER_RUN=/run/omnibus-docker
DOCKER_SOCKET="$DOCKER_RUN/docker.sock"
DOCKER_PID="$DOCKER_RUN/dockerd.pid"

docker_log() { echo "docker.sh: $*" >&2; }

docker_env() {
  export DOCKER_HOST="unix://$DOCKER_SOCKET"
  export TESTCONTAINERS_RYUK_DISABLED=true
  export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
}

docker_running() { [ -f "$DOCKER_PID" ] && kill -0 "$(cat "$DOCKER_PID")" 2>/dev/null; }

docker_start() {
  if ! command -v dockerd >/dev/null; then
    command -v apt-get >/dev/null || { docker_log "dockerd missing and no apt-get to install docker.io"; return 1; }
    docker_log "installing docker.io (Debian package)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2
  fi
  mkdir -p "$DOCKER_RUN" "$DOCKER_CACHE/data"
  if ! docker_running; then
    local t0=$SECONDS
    # setsid: the engine outlives this shell; the test script stops it.
    setsid nohup dockerd --host "unix://$DOCKER_SOCKET" --pidfile "$DOCKER_PID" \
      --exec-root "$DOCKER_RUN/exec" --data-root "$DOCKER_CACHE/data" \
      --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
      >"$DOCKER_RUN/dockerd.log" 2>&1 </dev/null &
    local deadline=$(( SECONDS + 60 ))
    until DOCKER_HOST="unix://$DOCKER_SOCKET" docker version >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || { docker_log "engine not answering after 60 s:"; tail -20 "$DOCKER_RUN/dockerd.log" >&2; return 1; }
      sleep 0.2
    done
    docker_log "engine ready in $(( SECONDS - t0 )) s (log: $DOCKER_RUN/dockerd.log)"
  fi
  echo "DOCKER_HOST=unix://$DOCKER_SOCKET"
}

docker_stop() {
  docker_running || return 0
  local pid; pid=$(cat "$DOCKER_PID")
  # containers a killed test process left behind (label set by @omnibus/testing)
  local left; left=$(DOCKER_HOST="unix://$DOCKER_SOCKET" docker ps -aq --filter label=omnibus.testing 2>/dev/null || true)
  [ -z "$left" ] || DOCKER_HOST="unix://$DOCKER_SOCKET" docker rm -f $left >/dev/null 2>&1 || true
  kill "$pid" 2>/dev/null || true
  local deadline=$(( SECONDS + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; break; fi
    sleep 0.2
  done
  docker_log "engine stopped"
}

case "${1:-}" in
  --env) docker_env ;;
  start) docker_start ;;
  stop) docker_stop ;;
  host) echo "unix://$DOCKER_SOCKET" ;;
  *) echo "usage: $0 start|stop|host, or source $0 --env" >&2; exit 2 ;;
esac
