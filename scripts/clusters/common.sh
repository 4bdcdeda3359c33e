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
#   cluster_unstick N   a broker defect known to leave a restarted or partitioned node running but
#                       never current: what to log about it; `restart N` (node N not serving) and
#                       `heal N` (the cluster not formed again) then restart node N once more, after
#                       RESTART_WAIT seconds (set it with the hook; default 120, the only wait otherwise)
#   CLUSTER_SUBNET      (before sourcing) x of 10.x.0.0/24: every node runs in a network namespace of
#                       its own on that subnet, which makes `partition N` / `heal` possible (below)
# Nodes are numbered 1..3 unless CLUSTER_NODES says otherwise; node N's folder is $CLUSTER_DIR/nN (data, process.log, pid).
# The processes come from the Debian 13 root of scripts/matrix/debian13.sh and are
# spawned with scripts/matrix/brokers.sh's functions (own session, pid file).
set -euo pipefail
CLUSTERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../matrix/brokers.sh
source "$CLUSTERS_DIR/../matrix/brokers.sh" --define-only
CLUSTER_DIR="$MATRIX_RUNS/cluster-$CLUSTER"
CLUSTER_NODES=(1 2 3)
RESTART_WAIT="${RESTART_WAIT:-120}"

cluster_log() { echo "clusters/$CLUSTER: $*" >&2; }

# ---- network namespaces (launchers that set CLUSTER_SUBNET)
# Node N runs in the namespace omb-<cluster>-N with one veth into the bridge omb-<cluster>, on
# 10.<subnet>.0.(10+N)/24; the host side of the bridge is 10.<subnet>.0.1, so the test process (host
# namespace) reaches every node. Nothing is routed beyond that private subnet. Without CLUSTER_SUBNET
# every node is 127.0.0.1 in the host namespace (ports tell them apart).
IP=/usr/sbin/ip
netns() { echo "omb-$CLUSTER-$1"; }
bridge_name() { echo "omb-$CLUSTER"; }
node_ip() { if [ -n "${CLUSTER_SUBNET:-}" ]; then echo "10.$CLUSTER_SUBNET.0.$(( 10 + $1 ))"; else echo 127.0.0.1; fi; }
host_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-; } # host port
# Runs a command in node N's namespace (in the host namespace without CLUSTER_SUBNET).
node_exec() { # N command...
  local n="$1"; shift
  if [ -n "${CLUSTER_SUBNET:-}" ]; then "$IP" netns exec "$(netns "$n")" "$@"; else "$@"; fi
}
# Starts node N's process in the background in its namespace (matrix_spawn: own session, pid in $dir/pid).
node_spawn() { # N command...
  local n="$1"; shift
  if [ -n "${CLUSTER_SUBNET:-}" ]; then matrix_spawn "$(node_dir "$n")" "$IP" netns exec "$(netns "$n")" "$@"
  else matrix_spawn "$(node_dir "$n")" "$@"; fi
}

# The bridge and one namespace per node; each step only when missing (a second start changes nothing).
netns_up() {
  [ -n "${CLUSTER_SUBNET:-}" ] || return 0
  local br n ns veth; br=$(bridge_name)
  if ! "$IP" link show "$br" >/dev/null 2>&1; then
    "$IP" link add "$br" type bridge
    "$IP" addr add "10.$CLUSTER_SUBNET.0.1/24" dev "$br"
  fi
  "$IP" link set "$br" up
  for n in "${CLUSTER_NODES[@]}"; do
    ns=$(netns "$n"); veth="omb$CLUSTER_SUBNET-$n"
    [ -e "/run/netns/$ns" ] || "$IP" netns add "$ns"
    "$IP" -n "$ns" link set lo up
    if ! "$IP" -n "$ns" link show eth0 >/dev/null 2>&1; then
      # a host side left over from a namespace that outlived its name (a process still in it)
      "$IP" link del "$veth" 2>/dev/null || true
      "$IP" link add "$veth" type veth peer name eth0 netns "$ns"
      "$IP" link set "$veth" master "$br" up
      "$IP" -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
      "$IP" -n "$ns" link set eth0 up
    fi
  done
}

netns_down() {
  [ -n "${CLUSTER_SUBNET:-}" ] || return 0
  local n pids
  for n in "${CLUSTER_NODES[@]}"; do
    # what the node left running in its namespace (RabbitMQ's epmd daemonizes out of the node's process
    # group) would keep the namespace, and its veth, alive after its name is gone
    pids=$("$IP" netns pids "$(netns "$n")" 2>/dev/null || true)
    if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
    "$IP" netns del "$(netns "$n")" 2>/dev/null || true
  done
  "$IP" link del "$(bridge_name)" 2>/dev/null || true
}

# A partition: node N and every other node drop what they send each other (blackhole routes in both
# namespaces; established connections stall as on a real partition, new ones fail). The host still
# reaches every node, so clients can move to the majority side.
node_partition() { # N
  local m
  for m in "${CLUSTER_NODES[@]}"; do
    [ "$m" = "$1" ] && continue
    "$IP" -n "$(netns "$1")" route replace blackhole "$(node_ip "$m")/32"
    "$IP" -n "$(netns "$m")" route replace blackhole "$(node_ip "$1")/32"
  done
}

# Removes every partition route (all nodes: heal is safe to repeat).
cluster_heal() {
  local n
  for n in "${CLUSTER_NODES[@]}"; do "$IP" -n "$(netns "$n")" route flush type blackhole 2>/dev/null || true; done
}
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

# Node N, started but not current after RESTART_WAIT s: restarted once more and waited for, but only
# where the launcher knows a defect that causes it (cluster_unstick) and only while its process runs.
node_unstick() { # N
  declare -F cluster_unstick >/dev/null && node_running "$1" || exit 1
  cluster_unstick "$1"
  node_kill "$1"; node_start "$1"; node_wait "$1" 120
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
  netns_up
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
  netns_down
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
      node_start "$2"
      node_wait "$2" "$RESTART_WAIT" || node_unstick "$2"
      cluster_log "node $2 serving again after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      ;;
    partition)
      [ -n "${CLUSTER_SUBNET:-}" ] || { cluster_log "partition: this launcher runs its nodes in the host namespace"; exit 2; }
      node_partition "$2"; cluster_log "node $2 cut off from the other nodes" ;;
    heal)
      # the routes go at once; then wait until the cluster is whole again (node N serving, cluster formed)
      local t0; t0=$(date +%s%N)
      cluster_heal
      if [ -n "${2:-}" ]; then node_wait "$2" 120; fi
      if ! cluster_wait "$RESTART_WAIT" "the cluster to form again" cluster_formed; then
        [ -n "${2:-}" ] || exit 1
        node_unstick "$2"   # the node that was cut off
        cluster_wait 120 "the cluster to form again" cluster_formed
      fi
      cluster_log "partition healed; cluster whole again after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      ;;
    env) cluster_env ;;
    rss) cluster_rss ;;
    status) for n in "${CLUSTER_NODES[@]}"; do if node_running "$n"; then echo "n$n up pid $(node_pid "$n")"; else echo "n$n down"; fi; done ;;
    *) echo "usage: $0 start|stop|kill N|restart N|partition N|heal [N]|env|rss|status" >&2; exit 2 ;;
  esac
}
