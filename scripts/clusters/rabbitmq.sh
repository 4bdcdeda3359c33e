#!/usr/bin/env bash
# A three-node RabbitMQ cluster (Debian 13 rabbitmq-server 4.0.5 from scripts/matrix/debian13.sh),
# formed at boot by classic_config peer discovery (one Erlang cookie for all); each node in a network
# namespace of its own (scripts/clusters/common.sh; bridge omb-rabbitmq), with long node names on its
# address and its own epmd (on that address and the namespace's loopback).
#
#   node  address     AMQP  dist   node name                    data
#   1     10.74.0.11  5681  25681  omnibus-cluster-1@10.74.0.11 $OMNIBUS_CACHE/run/cluster-rabbitmq/n1/mnesia
#   2     10.74.0.12  5682  25682  omnibus-cluster-2@10.74.0.12 .../n2/mnesia
#   3     10.74.0.13  5683  25683  omnibus-cluster-3@10.74.0.13 .../n3/mnesia
#   (OMNIBUS_RABBITMQ_CLUSTER_PORT moves the AMQP ports: base+1..3; dist ports +20000)
#
# cluster_partition_handling = pause_minority: a node that sees fewer than half of the cluster pauses
# (closes its listeners and client connections) until it sees a majority again, so clients move to
# the majority; with the default `ignore` both sides go on and the cluster stays split after the heal.
# net_ticktime = 5: a peer cut off is seen down after 4-6 s instead of 45-75 s, so the minority pauses
# within the partition suite's 10 s cut (C-partition).
#
#   bash scripts/clusters/rabbitmq.sh start       start the missing nodes (in parallel), wait until
#                                                 each booted and all three are running members
#   bash scripts/clusters/rabbitmq.sh kill N      kill -9 node N (and wait until it is gone)
#   bash scripts/clusters/rabbitmq.sh restart N   start node N again on its data dir, wait until booted
#   bash scripts/clusters/rabbitmq.sh partition N node N cut off from the two others (clients still reach it)
#   bash scripts/clusters/rabbitmq.sh heal [N]    the partition removed; waits until N serves again
#   bash scripts/clusters/rabbitmq.sh ctl N ARGS  rabbitmqctl against node N (e.g. list_queues name leader)
#   bash scripts/clusters/rabbitmq.sh env         OMNIBUS_RABBITMQ_CLUSTER_URL (every node) and
#                                                 OMNIBUS_RABBITMQ_CLUSTER_NODES (node names, node 1 first)
#   bash scripts/clusters/rabbitmq.sh rss|status|stop
#
# Deprecated features are refused as on the matrix node (scripts/matrix/rabbitmq-4.conf), except
# transient_nonexcl_queues: its boot-time check can fail a node restarted after kill -9 (see
# conformance/src/brokers/rabbitmq.ts), and these nodes are killed and restarted.
CLUSTER=rabbitmq
CLUSTER_SUBNET=74
RABBIT_BASE="${OMNIBUS_RABBITMQ_CLUSTER_PORT:-5680}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

amqp_port() { echo $(( RABBIT_BASE + $1 )); }
node_name() { echo "omnibus-cluster-$1@$(node_ip "$1")"; }
COOKIE_FILE="$CLUSTER_DIR/cookie"

node_env() { # N: the environment every rabbitmq program of node N runs with
  local dir; dir=$(node_dir "$1")
  echo PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="$dir/home" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_NODENAME="$(node_name "$1")" RABBITMQ_USE_LONGNAME=true \
    RABBITMQ_NODE_IP_ADDRESS="$(node_ip "$1")" RABBITMQ_NODE_PORT="$(amqp_port "$1")" RABBITMQ_DIST_PORT=$(( $(amqp_port "$1") + 20000 )) \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_LOGS=- ERL_EPMD_ADDRESS="$(node_ip "$1")"
}

node_config() { # N: written once; a restart reuses it
  local dir n; dir=$(node_dir "$1")
  [ -f "$dir/rabbitmq.conf" ] && return 0
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  if [ ! -f "$COOKIE_FILE" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$COOKIE_FILE.tmp"
    mv "$COOKIE_FILE.tmp" "$COOKIE_FILE"
  fi
  cp "$COOKIE_FILE" "$dir/home/.erlang.cookie"; chmod 400 "$dir/home/.erlang.cookie"
  {
    printf 'listeners.tcp.local = %s:%s\nloopback_users = none\n' "$(node_ip "$1")" "$(amqp_port "$1")"
    printf 'cluster_partition_handling = pause_minority\nnet_ticktime = 5\n'
    printf 'log.console = true\nlog.console.level = info\nlog.file = false\n'
    # a test cluster on a shared machine: three nodes may not take 60 % of the memory each
    printf 'vm_memory_high_watermark.relative = 0.15\ndisk_free_limit.absolute = 50MB\n'
    printf 'cluster_formation.peer_discovery_backend = classic_config\n'
    for n in "${CLUSTER_NODES[@]}"; do printf 'cluster_formation.classic_config.nodes.%s = %s\n' "$n" "$(node_name "$n")"; done
    grep -v '^\s*deprecated_features\.permit\.transient_nonexcl_queues\b' "$MATRIX_DIR/rabbitmq-4.conf"
  } >"$dir/rabbitmq.conf"
  echo "[]." >"$dir/enabled_plugins"; : >"$dir/rabbitmq-env.conf"
}

cluster_spawn() { # N
  node_config "$1"
  # shellcheck disable=SC2046 # node_env prints NAME=value words without spaces
  node_spawn "$1" env -i $(node_env "$1") \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {$(node_ip "$1" | tr . ,)}" \
    "$MATRIX_BIN/rabbitmq-server"
}

ctl() { # N args...
  local n="$1"; shift
  # shellcheck disable=SC2046
  node_exec "$n" env -i $(node_env "$n") "$MATRIX_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

# Booted: the AMQP port accepts and this start of the node logged its completion.
cluster_serving() { host_port_open "$(node_ip "$1")" "$(amqp_port "$1")" && grep -q "Server startup complete" "$(node_dir "$1")/process.log" 2>/dev/null; }

# All three are running members (one rabbitmqctl call: an Erlang VM start, ~1-2 s).
cluster_formed() {
  local running
  running=$(ctl 1 cluster_status --formatter json 2>/dev/null | grep -o '"running_nodes":\[[^]]*\]' | grep -o '"omnibus-cluster-[0-9]*@' | wc -l) || return 1
  [ "$running" -ge 3 ]
}

cluster_env() {
  local hosts=() n
  for n in "${CLUSTER_NODES[@]}"; do hosts+=("$(node_ip "$n"):$(amqp_port "$n")"); done
  echo "OMNIBUS_RABBITMQ_CLUSTER_URL=amqp://guest:guest@$(IFS=,; echo "${hosts[*]}") OMNIBUS_RABBITMQ_CLUSTER_NODES=$(node_name 1),$(node_name 2),$(node_name 3)"
}

if [ "${1:-}" = ctl ]; then shift; n="$1"; shift; ctl "$n" "$@"; exit; fi
cluster_main "$@"
