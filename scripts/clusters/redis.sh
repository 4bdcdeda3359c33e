#!/usr/bin/env bash
# A Redis Cluster (Debian 13 redis-server 8.0.2 from scripts/matrix/debian13.sh), each node in a
# network namespace of its own (scripts/clusters/common.sh; bridge omb-redis, node N at 10.72.0.(10+N)):
# 3 primaries with OMNIBUS_REDIS_CLUSTER_REPLICAS replicas each (default 2: 9 processes; 1 gives
# the minimal 3 primaries + 3 replicas), formed by `redis-cli --cluster create --cluster-replicas R`.
# Each node: AOF with appendfsync always (as the fault suite's private servers), no RDB snapshots,
# cluster-node-timeout 2000 ms (a primary is failed over about 3 s after it dies),
# cluster-require-full-coverage no (a dead primary stops its own slots only, not the whole cluster),
# cluster-allow-replica-migration no (a shard keeps its own replicas: the suite freezes a shard's
# replicas, and one migrating in from another shard meanwhile would take over with the data),
# protected-mode no (a node listens on its namespace's private address only; protected mode would refuse
# every client not on the node's own loopback, the test process on the bridge included).
#
#   node  address      port    cluster bus  data
#   N     10.72.0.1N   7100+N  17100+N      $OMNIBUS_CACHE/run/cluster-redis/nN (nodes.conf, appendonlydir)
#   (OMNIBUS_REDIS_CLUSTER_PORT moves the ports: base+N, bus +10000; nodes 1-3 start as primaries)
#
#   bash scripts/clusters/redis.sh start       start the nodes, create the cluster, wait until every
#                                              node says cluster_state:ok and agrees on the slots
#   bash scripts/clusters/redis.sh kill N      kill -9 node N (and wait until it is gone); a primary's
#                                              replica takes over its slots after the node timeout
#   bash scripts/clusters/redis.sh restart N   start node N again on its data (it rejoins, as a replica
#                                              when it was failed over), wait until it is in sync
#   bash scripts/clusters/redis.sh freeze N    SIGSTOP node N (a stalled node: it answers nothing and
#   bash scripts/clusters/redis.sh thaw N      reconnects to nothing), SIGCONT it again
#   bash scripts/clusters/redis.sh partition N node N cut off from every other node (clients still reach it)
#   bash scripts/clusters/redis.sh heal [N]    the partition removed; waits until the cluster is whole
#   bash scripts/clusters/redis.sh cli N ARGS  redis-cli against node N (e.g. cluster nodes)
#   bash scripts/clusters/redis.sh env         OMNIBUS_REDIS_CLUSTER_URL (every node, cluster=true)
#                                              and OMNIBUS_REDIS_CLUSTER_NODES (host:port, node 1 first)
#   bash scripts/clusters/redis.sh rss|status|stop
CLUSTER=redis
CLUSTER_SUBNET=72
REDIS_BASE="${OMNIBUS_REDIS_CLUSTER_PORT:-7100}"
REPLICAS="${OMNIBUS_REDIS_CLUSTER_REPLICAS:-2}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
case "$REPLICAS" in 1|2) ;; *) cluster_log "OMNIBUS_REDIS_CLUSTER_REPLICAS must be 1 or 2"; exit 2 ;; esac
# shellcheck disable=SC2207 # numbers only
CLUSTER_NODES=($(seq 1 $(( 3 * (1 + REPLICAS) ))))
CREATED="$CLUSTER_DIR/created"

port() { echo $(( REDIS_BASE + $1 )); }
cli() { local n="$1"; shift; "$MATRIX_BIN/redis-cli" -h "$(node_ip "$n")" -p "$(port "$n")" "$@"; }

cluster_spawn() { # N
  local dir; dir=$(node_dir "$1")
  node_spawn "$1" "$MATRIX_BIN/redis-server" --bind "$(node_ip "$1")" --port "$(port "$1")" --dir "$dir" --daemonize no \
    --cluster-announce-ip "$(node_ip "$1")" --protected-mode no \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --appendonly yes --appendfsync always --save "" \
    --repl-diskless-sync yes --repl-diskless-sync-delay 0 --cluster-require-full-coverage no \
    --cluster-allow-replica-migration no
}

info_field() { sed -n "s/^$1:\\([^[:space:]]*\\).*/\\1/p"; }

# Before the cluster exists: the node answers. After: it sees the cluster as ok and, as a
# replica, is in sync with its primary (so killing that primary next cannot lose what it holds).
cluster_serving() {
  local info
  [ "$(cli "$1" ping 2>/dev/null)" = PONG ] || return 1
  [ -f "$CREATED" ] || return 0
  [ "$(cli "$1" cluster info 2>/dev/null | info_field cluster_state)" = ok ] || return 1
  info=$(cli "$1" info replication 2>/dev/null) || return 1
  case "$(info_field role <<<"$info")" in
    # a failed-over primary restarts as one until the cluster tells it otherwise: every node must agree
    master) slots_agreed "$1" ;;
    slave) [ "$(info_field master_link_status <<<"$info")" = up ] ;;
    *) return 1 ;;
  esac
}

slots_agreed() {
  local out; out=$(cli "$1" --cluster check "$(node_ip "$1"):$(port "$1")" 2>/dev/null) || return 1
  grep -q "All nodes agree about slots configuration" <<<"$out" && grep -q "All 16384 slots covered" <<<"$out"
}

cluster_create() {
  [ -f "$CREATED" ] && return 0
  local hosts=() n
  for n in "${CLUSTER_NODES[@]}"; do hosts+=("$(node_ip "$n"):$(port "$n")"); done
  cli 1 --cluster create "${hosts[@]}" --cluster-replicas "$REPLICAS" --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1 \
    || { tail -20 "$CLUSTER_DIR/create.log" >&2; return 1; }
  : >"$CREATED"
}

# Every running node says cluster_state:ok, the replicas are in sync, and
# `redis-cli --cluster check` finds all 16384 slots covered with every node agreeing.
cluster_formed() {
  local n first=
  for n in "${CLUSTER_NODES[@]}"; do
    node_running "$n" || continue
    cluster_serving "$n" || return 1
    first=${first:-$n}
  done
  [ -n "$first" ] && slots_agreed "$first"
}

cluster_env() {
  local hosts=() n
  for n in "${CLUSTER_NODES[@]}"; do hosts+=("$(node_ip "$n"):$(port "$n")"); done
  echo "OMNIBUS_REDIS_CLUSTER_URL=redis://$(IFS=,; echo "${hosts[*]}")?cluster=true OMNIBUS_REDIS_CLUSTER_NODES=$(IFS=,; echo "${hosts[*]}")"
}

case "${1:-}" in
  cli) shift; n="$1"; shift; cli "$n" "$@"; exit ;;
  freeze) kill -STOP -- "-$(node_pid "$2")"; cluster_log "node $2 frozen (SIGSTOP)"; exit ;;
  thaw) kill -CONT -- "-$(node_pid "$2")"; cluster_log "node $2 thawed (SIGCONT)"; exit ;;
esac
cluster_main "$@"
