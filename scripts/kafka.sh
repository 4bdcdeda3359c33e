#!/usr/bin/env bash
# A throwaway single-node Kafka (KRaft, combined broker+controller) for tests,
# on a machine with only Java 17+ and Maven: no Kafka package, no Docker.
#
#   scripts/kafka.sh fetch   resolve kafka_2.13 + runtime deps from Maven Central
#                            into ~/.m2 and a classpath dir under .omnibus/kafka
#   scripts/kafka.sh start   fetch if needed, format a fresh KRaft log dir, start
#                            the broker on free 127.0.0.1 ports, wait until it is
#                            serving, print OMNIBUS_KAFKA_URL=kafka://127.0.0.1:<port>
#                            (also written to .omnibus/kafka/url). Idempotent: a
#                            running broker is reused.
#   scripts/kafka.sh stop    stop it and delete its data
#   scripts/kafka.sh status  print the URL if running (exit 1 otherwise)
#
# Env: OMNIBUS_KAFKA_VERSION (default below), OMNIBUS_KAFKA_START_TIMEOUT (s, default 90),
# OMNIBUS_KAFKA_PORT: a fixed client port (controller: port + 100) instead of free
# ones, and state of its own under .omnibus/kafka/<version>/port-<port>/, so
# several versions run side by side (scripts/matrix/brokers.sh); `start` then
# reuses whatever already listens on that port.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${OMNIBUS_KAFKA_VERSION:-4.1.1}"
# slf4j binding matching the slf4j-api 1.7.x that kafka 4.x depends on
SLF4J_VERSION="1.7.36"
HOME_DIR="$ROOT/.omnibus/kafka"
LIB="$HOME_DIR/$VERSION/lib"
FIXED_PORT="${OMNIBUS_KAFKA_PORT:-}"
STATE="$HOME_DIR${FIXED_PORT:+/$VERSION/port-$FIXED_PORT}"
RUN="$STATE/run"
PID_FILE="$STATE/pid"
URL_FILE="$STATE/url"
LOG_FILE="$STATE/broker.log"
START_TIMEOUT="${OMNIBUS_KAFKA_START_TIMEOUT:-90}"

log() { echo "kafka.sh: $*" >&2; }

running() {
  [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

fetch() {
  if [ -f "$LIB/.complete" ]; then return 0; fi
  # one fetch per version at a time, whatever the port (fd 7, closed for the broker)
  mkdir -p "$HOME_DIR"; exec 7>"$HOME_DIR/fetch-$VERSION.lock"; flock 7
  if [ -f "$LIB/.complete" ]; then return 0; fi
  # Debian's packages where the machine lacks them (the jars themselves come from Maven Central only).
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    command -v apt-get >/dev/null || { log "java 17+ and mvn are needed (no apt-get to install them)"; exit 1; }
    log "installing openjdk-17-jre-headless and maven"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >&2
  fi
  local build="$HOME_DIR/$VERSION/build"
  mkdir -p "$build"
  cat >"$build/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>omnibus.local</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- kafka_2.13 declares the KRaft server modules (kafka-server, kafka-metadata,
         kafka-raft, kafka-storage, coordinators...) as runtime dependencies -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$VERSION</version>
    </dependency>
    <!-- kafka only depends on slf4j-api: without a binding it logs nothing at all -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  log "fetching org.apache.kafka:kafka_2.13:$VERSION and its runtime dependencies (Maven Central)"
  rm -rf "$LIB"
  mvn -q -B -f "$build/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIB" >&2
  touch "$LIB/.complete"
  log "classpath ready: $(ls "$LIB" | grep -c '\.jar$') jars in $LIB"
}

# A port nothing listens on (bash /dev/tcp probe); the broker fails fast on a
# lost race and start() retries with new ports.
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

write_config() {
  local port="$1" cport="$2" data="$3"
  cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
num.partitions=3
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# tests: first join is not held back, short sessions are allowed (leaseMs)
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
# 8 MiB payloads plus headers
message.max.bytes=10485760
replica.fetch.max.bytes=10485760
# offsets of groups removed on close do not linger
offsets.retention.check.interval.ms=60000
EOF
}

start_once() {
  local port cport data cluster
  if [ -n "$FIXED_PORT" ]; then
    port=$FIXED_PORT; cport=$(( FIXED_PORT + 100 ))
  else
    port=$(free_port); cport=$(free_port)
    while [ "$cport" = "$port" ]; do cport=$(free_port); done
  fi
  data="$RUN/data"
  rm -rf "$RUN"; mkdir -p "$data"
  write_config "$port" "$cport" "$data"
  # 16 random bytes as a URL-safe base64 Kafka Uuid; never one starting with "-", which
  # kafka-storage's argument parser takes for an option (1 start in 64 failed on it)
  cluster=-
  while [ "${cluster#-}" != "$cluster" ]; do cluster=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22); done
  local jvm=(java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn
    -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info
    -Dorg.slf4j.simpleLogger.showDateTime=true
    -cp "$LIB/*")
  "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster" -c "$RUN/server.properties" >"$LOG_FILE" 2>&1 \
    || { log "storage format failed:"; cat "$LOG_FILE" >&2; return 1; }
  # 9>&-: the broker must not inherit the lock
  nohup "${jvm[@]}" kafka.Kafka "$RUN/server.properties" >>"$LOG_FILE" 2>&1 </dev/null 7>&- 9>&- &
  echo $! >"$PID_FILE"
  local deadline=$(( SECONDS + START_TIMEOUT ))
  # The listen socket is bound before the broker serves requests; the broker's
  # own "started" line is the readiness signal.
  until grep -q "Kafka Server started" "$LOG_FILE"; do
    if ! running; then log "broker exited during startup:"; tail -40 "$LOG_FILE" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then log "broker not ready after ${START_TIMEOUT}s"; tail -40 "$LOG_FILE" >&2; stop; return 1; fi
    sleep 0.2
  done
  echo "OMNIBUS_KAFKA_URL=kafka://127.0.0.1:$port" >"$URL_FILE"
}

start() {
  if running && [ -f "$URL_FILE" ]; then cat "$URL_FILE"; return 0; fi
  if [ -n "$FIXED_PORT" ] && (exec 3<>"/dev/tcp/127.0.0.1/$FIXED_PORT") 2>/dev/null; then
    log "a broker already listens on $FIXED_PORT: reused"
    echo "OMNIBUS_KAFKA_URL=kafka://127.0.0.1:$FIXED_PORT"; return 0
  fi
  fetch
  local t0=$SECONDS attempt
  for attempt in 1 2 3; do
    if start_once; then
      log "Kafka $VERSION ready in $(( SECONDS - t0 ))s (log: $LOG_FILE)"
      cat "$URL_FILE"
      return 0
    fi
    [ -z "$FIXED_PORT" ] && grep -q "Address already in use" "$LOG_FILE" || exit 1
    log "port taken, retrying ($attempt)"
  done
  exit 1
}

stop() {
  if running; then
    local pid; pid=$(cat "$PID_FILE")
    kill "$pid" 2>/dev/null || true
    local deadline=$(( SECONDS + 30 ))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; break; fi
      sleep 0.2
    done
  fi
  rm -f "$PID_FILE" "$URL_FILE"
  rm -rf "$RUN"
}

# One start/stop at a time (test files run in parallel processes).
lock() { mkdir -p "$STATE"; exec 9>"$STATE/lock"; flock 9; }

case "${1:-}" in
  fetch) lock; fetch ;;
  start) lock; start ;;
  stop) lock; stop ;;
  status) if running && [ -f "$URL_FILE" ]; then cat "$URL_FILE"; else exit 1; fi ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
