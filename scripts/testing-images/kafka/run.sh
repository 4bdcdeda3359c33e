#!/bin/sh
# Entrypoint of the offline apache/kafka image (Dockerfile beside this file).
set -euf  # -f: the classpath wildcard is for java, not the shell
PROPS=/var/lib/kafka/server.properties
: "${CLUSTER_ID:=5L6g3nShT-eMCtK--X86sw}"
: "${KAFKA_NODE_ID:=1}"
: "${KAFKA_PROCESS_ROLES:=broker,controller}"
: "${KAFKA_LISTENERS:=PLAINTEXT://:9092,CONTROLLER://:9093}"
: "${KAFKA_ADVERTISED_LISTENERS:=PLAINTEXT://localhost:9092}"
: "${KAFKA_CONTROLLER_LISTENER_NAMES:=CONTROLLER}"
: "${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP:=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT}"
: "${KAFKA_CONTROLLER_QUORUM_VOTERS:=1@localhost:9093}"
: "${KAFKA_LOG_DIRS:=/var/lib/kafka/data}"
: "${KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR:=1}"
: "${KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR:=1}"
: "${KAFKA_TRANSACTION_STATE_LOG_MIN_ISR:=1}"
export KAFKA_NODE_ID KAFKA_PROCESS_ROLES KAFKA_LISTENERS KAFKA_ADVERTISED_LISTENERS KAFKA_CONTROLLER_LISTENER_NAMES \
  KAFKA_LISTENER_SECURITY_PROTOCOL_MAP KAFKA_CONTROLLER_QUORUM_VOTERS KAFKA_LOG_DIRS \
  KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR KAFKA_TRANSACTION_STATE_LOG_MIN_ISR
# KAFKA_HEAP_OPTS and KAFKA_OPTS are JVM settings, not properties.
env | grep '^KAFKA_' | grep -v -e '^KAFKA_HEAP_OPTS=' -e '^KAFKA_OPTS=' | while IFS= read -r line; do
  name=${line%%=*}; value=${line#*=}
  key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
  printf '%s=%s\n' "$key" "$value"
done > "$PROPS"
JAVA="java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true ${KAFKA_OPTS:-}
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info
  -Dorg.slf4j.simpleLogger.showDateTime=true -cp /opt/kafka/libs/*"
# A restarted container keeps its formatted log dir.
[ -f "$KAFKA_LOG_DIRS/meta.properties" ] || $JAVA kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$PROPS" --ignore-formatted
exec $JAVA kafka.Kafka "$PROPS"
