# What the three-node cluster launchers (scripts/clusters/nats.sh, rabbitmq.sh) share:
# the command line, starting nodes in parallel, kill -9 and restart of one node, the
# waits (deadlines, no fixed sleeps) and the memory figure. Sourced after the broker
# script defined:
#   CLUSTER        name of the run folder ($MATRIX_RUNS/cluster-$CLUSTER)
#   cluster_spawn N     start node N in the background (matrix_spawn: pid in $dir/pid)
#   cluster_serving N   true once node N serves clients and is part of the cluster
#   cluster_formed      true once the cluster as a whole is usable (after every node serves)
#   cluster_env         the variables a test run needs
# and may define:
#   cluster_create      run once after every node serves, before waiting for cluster_formed
#                       (Redis: the nodes form a cluster only when told to)
#   CLUSTER_NODES       the node numbers, after sourcing this file (default 1 2 3)
# Nodes are numbered 1..3 unless CLUSTER_NODES says otherwise; node N's folder is $CLUSTER_DIR/nN (data, process.log, pid).
# The processes come from the Debian 13 root of scripts/matrix/debian13.sh and are
# spawned with scripts/matrix/brokers.sh's functions (own session, pid file).
set -euo pipefail
CLUSTERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../matrix/brokers.sh
source "$CLUSTERS_DIR/../matrix/brokers.sh" --define-only
CLUSTER_DIR="$MATRIX_RUNS/cluster-$CLUSTER"
CLUSTER_NODES=(1 2 3)

cluster_log() { echo "clusters/$CLUSTER: $*" >&2; }
node_dir() { echo "$CLUSTER_DIR/n$1"; }
node_pid() { cat "$(node_dir "$1")/pid" 2>/dev/null || true; }
node_running() { local pid; pid=$(node_pid "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# Polls `check` (a command) every 0.2 s until it holds; fails at the deadline or when `alive` fails.
cluster_wait() { # seconds what check [alive]
  local deadline=$(( SECONDS + $1 )) what="$2" check="$3" alive="${4:-true}"
  until eval "$check"; do
    eval "$alive" || { cluster_log "$what: the process exited"; return 1; }
    [ $SECONDS -lt $deadline ] || { cluster_log "$what: not after $1 s"; return 1; }
    sleep 0.2
  done
}

# Starts node N (its earlier log kept as process.log.<k>) and waits until it serves.
node_start() { # N [timeout]
  local dir; dir=$(node_dir "$1")
  mkdir -p "$dir"
  node_running "$1" && return 0
  if [ -f "$dir/process.log" ]; then mv "$dir/process.log" "$dir/process.log.$(date +%s%N)"; fi
  cluster_spawn "$1"
}

node_wait() { # N [timeout]
  cluster_wait "${2:-120}" "node $1 serving" "cluster_serving $1" "node_running $1" || { tail -20 "$(node_dir "$1")/process.log" >&2; return 1; }
}

# SIGKILL to the node's process group (its helpers too), then wait until it is gone.
node_kill() { # N
  local pid; pid=$(node_pid "$1")
  [ -n "$pid" ] || return 0
  kill -KILL -- "-$pid" 2>/dev/null || true
  cluster_wait 30 "node $1 to die" "! kill -0 $pid 2>/dev/null"
}

# SIGTERM, then SIGKILL after a grace period.
node_stop() { # N
  local pid; pid=$(node_pid "$1")
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  cluster_wait 30 "node $1 to stop" "! kill -0 $pid 2>/dev/null" || true
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# Resident memory of every process of the cluster's nodes, in KiB (their sessions: matrix_spawn uses setsid).
cluster_rss() {
  local n pid total=0 kb
  for n in "${CLUSTER_NODES[@]}"; do
    pid=$(node_pid "$n")
    [ -n "$pid" ] || continue
    for kb in $(ps -o rss= -s "$pid" 2>/dev/null); do total=$(( total + kb )); done
  done
  echo "$total"
}

cluster_start() {
  local t0 n
  bash "$MATRIX_DIR/debian13.sh" install
  mkdir -p "$CLUSTER_DIR"
  t0=$(date +%s%N)
  for n in "${CLUSTER_NODES[@]}"; do node_start "$n"; done
  for n in "${CLUSTER_NODES[@]}"; do node_wait "$n" 180; done
  if declare -F cluster_create >/dev/null; then cluster_create; fi
  cluster_wait 120 "the cluster to form" cluster_formed
  cluster_log "${#CLUSTER_NODES[@]} nodes serving as one cluster after $(( ($(date +%s%N) - t0) / 1000000 )) ms, RSS $(( $(cluster_rss) / 1024 )) MiB"
}

cluster_stop() {
  local n
  for n in "${CLUSTER_NODES[@]}"; do node_stop "$n" & done
  wait
  rm -rf "$CLUSTER_DIR"
}

cluster_main() {
  local cmd="${1:-}"
  case "$cmd" in
    start) cluster_start ;;
    stop) cluster_stop ;;
    kill) node_kill "$2"; cluster_log "node $2 killed (-9)" ;;
    restart)
      local t0; t0=$(date +%s%N)
      if node_running "$2"; then node_kill "$2"; fi
      node_start "$2"; node_wait "$2" 120
      cluster_log "node $2 serving again after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      ;;
    env) cluster_env ;;
    rss) cluster_rss ;;
    status) for n in "${CLUSTER_NODES[@]}"; do if node_running "$n"; then echo "n$n up pid $(node_pid "$n")"; else echo "n$n down"; fi; done ;;
    *) echo "usage: $0 start|stop|kill N|restart N|env|rss|status" >&2; exit 2 ;;
  esac
}
