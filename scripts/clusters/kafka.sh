#!/usr/bin/env bash
# A three-node Kafka cluster in KRaft mode (kafka_2.13 from Maven Central through
# scripts/kafka.sh fetch; the newest version of the matrix): every node
# both broker and controller (a three-voter quorum), one log dir each, and the broker
# settings a production cluster uses for durability (docs/clusters.md): replication
# factor 3 and min.insync.replicas 2 for new topics and for the internal ones. Each node runs
# in a network namespace of its own (scripts/clusters/common.sh; bridge omb-kafka).
#
#   node  address     client  controller  node.id  data
#   1     10.73.0.11  9201    9211        1        $OMNIBUS_CACHE/run/cluster-kafka/n1/data
#   2     10.73.0.12  9202    9212        2        .../n2/data
#   3     10.73.0.13  9203    9213        3        .../n3/data
#   (OMNIBUS_KAFKA_CLUSTER_PORT moves the client ports: base+1..3; controllers +10)
#
#   bash scripts/clusters/kafka.sh start       format (first start) and start the missing nodes,
#                                              wait until every node serves
#   bash scripts/clusters/kafka.sh kill N      kill -9 node N (and wait until it is gone)
#   bash scripts/clusters/kafka.sh restart N   start node N again on its log dir, wait until it serves
#   bash scripts/clusters/kafka.sh partition N node N cut off from the two others (clients still reach it)
#   bash scripts/clusters/kafka.sh heal [N]    the partition removed
#   bash scripts/clusters/kafka.sh env         OMNIBUS_KAFKA_CLUSTER_URL (every node) and
#                                              OMNIBUS_KAFKA_CLUSTER_NODES (node ids, node 1 first)
#   bash scripts/clusters/kafka.sh rss|status|stop
CLUSTER=kafka
CLUSTER_SUBNET=73
KAFKA_BASE="${OMNIBUS_KAFKA_CLUSTER_PORT:-9200}"
KAFKA_CLUSTER_VERSION="${OMNIBUS_KAFKA_CLUSTER_VERSION:-4.4.0}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

client_port() { echo $(( KAFKA_BASE + $1 )); }
controller_port() { echo $(( KAFKA_BASE + 10 + $1 )); }
kafka_lib() { echo "$MATRIX_ROOT/.omnibus/kafka/$KAFKA_CLUSTER_VERSION/lib"; }

KAFKA_JVM=(java -Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn
  -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info
  -Dorg.slf4j.simpleLogger.showDateTime=true -cp "$(kafka_lib)/*")

write_properties() { # N
  local dir voters=() m
  dir=$(node_dir "$1")
  for m in "${CLUSTER_NODES[@]}"; do voters+=("$m@$(node_ip "$m"):$(controller_port "$m")"); done
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=PLAINTEXT://$(node_ip "$1"):$(client_port "$1"),CONTROLLER://$(node_ip "$1"):$(controller_port "$1")
advertised.listeners=PLAINTEXT://$(node_ip "$1"):$(client_port "$1")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
delete.topic.enable=true
# durability: three copies, a write acknowledged (acks=all) only once two are in sync
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
# tests: first join is not held back, short sessions are allowed (leaseMs)
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
message.max.bytes=10485760
replica.fetch.max.bytes=10485760
PROPS
}

cluster_spawn() { # N
  local dir; dir=$(node_dir "$1")
  if [ ! -f "$dir/data/meta.properties" ]; then
    write_properties "$1"
    # one cluster id for the three log dirs, written by the first node formatted
    [ -f "$CLUSTER_DIR/cluster-id" ] || head -c16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22 | sed 's/^-/A/' >"$CLUSTER_DIR/cluster-id"
    "${KAFKA_JVM[@]}" kafka.tools.StorageTool format -t "$(cat "$CLUSTER_DIR/cluster-id")" -c "$dir/server.properties" >>"$dir/format.log" 2>&1 \
      || { cluster_log "node $1: storage format failed"; cat "$dir/format.log" >&2; return 1; }
  fi
  node_spawn "$1" "${KAFKA_JVM[@]}" kafka.Kafka "$dir/server.properties"
}

# The broker's own "started" line (the listen socket is bound before it serves requests).
cluster_serving() { host_port_open "$(node_ip "$1")" "$(client_port "$1")" && grep -q "Kafka Server started" "$(node_dir "$1")/process.log" 2>/dev/null; }

# Every node started since its last spawn (each waits for the controller quorum to start).
cluster_formed() { local n; for n in "${CLUSTER_NODES[@]}"; do cluster_serving "$n" || return 1; done; }

cluster_env() {
  local urls=() n
  for n in "${CLUSTER_NODES[@]}"; do urls+=("$(node_ip "$n"):$(client_port "$n")"); done
  echo "OMNIBUS_KAFKA_CLUSTER_URL=kafka://$(IFS=,; echo "${urls[*]}") OMNIBUS_KAFKA_CLUSTER_NODES=1,2,3 OMNIBUS_KAFKA_VERSION=$KAFKA_CLUSTER_VERSION"
}

if [ "${1:-}" = start ]; then
  OMNIBUS_KAFKA_VERSION="$KAFKA_CLUSTER_VERSION" bash "$MATRIX_ROOT/scripts/kafka.sh" fetch
fi
cluster_main "$@"
