#!/usr/bin/env bash
# Makes sure the brokers the tests need are reachable and exports their URLs.
# Order (docs/architecture.md, "Brokers in tests"): an OMNIBUS_<BROKER>_URL
# already set wins; otherwise the machine's broker on its standard port,
# started (and installed from Debian packages) when it is not running.
# Kafka has no Debian package: scripts/kafka.sh runs it from Maven Central jars.
# Usage: source scripts/brokers.sh [rabbitmq] [nats] [redis] [kafka]
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }

wait_port() { # port seconds
  local i=0
  while ! port_open "$1"; do
    i=$((i + 1)); [ "$i" -gt $(($2 * 5)) ] && return 1; sleep 0.2
  done
}

apt_install() {
  command -v apt-get >/dev/null || { echo "omnibus: cannot install $* (no apt-get)" >&2; return 1; }
  [ -n "${OMNIBUS_APT_UPDATED:-}" ] || { apt-get update -qq >&2; export OMNIBUS_APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_rabbitmq() {
  [ -n "${OMNIBUS_RABBITMQ_URL:-}" ] && return 0
  if ! port_open 5672; then
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    echo "omnibus: starting rabbitmq-server" >&2
    rabbitmq-server -detached >&2 || true
    wait_port 5672 90 || { echo "omnibus: RabbitMQ did not start" >&2; return 1; }
  fi
  export OMNIBUS_RABBITMQ_URL="amqp://guest:guest@127.0.0.1:5672"
}

ensure_nats() {
  [ -n "${OMNIBUS_NATS_URL:-}" ] && return 0
  if ! port_open 4222; then
    command -v nats-server >/dev/null || apt_install nats-server
    echo "omnibus: starting nats-server -js" >&2
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log >&2
    wait_port 4222 30 || { echo "omnibus: NATS did not start" >&2; return 1; }
  fi
  export OMNIBUS_NATS_URL="nats://127.0.0.1:4222"
}

ensure_redis() {
  [ -n "${OMNIBUS_REDIS_URL:-}" ] && return 0
  if ! port_open 6379; then
    command -v redis-server >/dev/null || apt_install redis-server
    echo "omnibus: starting redis-server" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >&2
    wait_port 6379 30 || { echo "omnibus: Redis did not start" >&2; return 1; }
  fi
  export OMNIBUS_REDIS_URL="redis://127.0.0.1:6379"
}

ensure_kafka() {
  [ -n "${OMNIBUS_KAFKA_URL:-}" ] && return 0
  bash "$ROOT/scripts/kafka.sh" start >&2 || return 1
  # the file holds one line: OMNIBUS_KAFKA_URL=kafka://127.0.0.1:<port>
  OMNIBUS_KAFKA_URL="$(sed -n 's/^OMNIBUS_KAFKA_URL=//p' "$ROOT/.omnibus/kafka/url")"
  export OMNIBUS_KAFKA_URL
}

for b in "$@"; do "ensure_$b" || return 1 2>/dev/null || exit 1; done
