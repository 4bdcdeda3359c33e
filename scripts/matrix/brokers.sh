#!/usr/bin/env bash
# The broker versions of the test matrix, beside the machine's own brokers
# (scripts/brokers.sh: RabbitMQ 3.10, NATS 2.9, Redis 7.0, Kafka 4.1). Each
# target listens on 127.0.0.1 only, on a port of its own, and is started when
# that port is closed (a broker already there is reused). Installed once into
# the cache outside the clone: the Debian 13 root of scripts/matrix/debian13.sh
# (RabbitMQ, NATS, Redis, Valkey) and Maven Central jars through scripts/kafka.sh.
#
#   target        port                   what
#   rabbitmq-4.0  5673 (dist 25673)      Debian 13 rabbitmq-server 4.0.5 (Erlang 27), every
#                                        deprecated feature refused (scripts/matrix/rabbitmq-4.conf)
#   nats-2.10     4223                   Debian 13 nats-server 2.10.27, JetStream on file storage
#   redis-8.0     6380                   Debian 13 redis-server 8.0.2
#   valkey-8.1    6381                   Debian 13 valkey-server 8.1.1
#   kafka-4.4     9094 (controller 9194) kafka_2.13 4.4.0, KRaft
#   kafka-3.9     9093 (controller 9193) kafka_2.13 3.9.2, KRaft
#
# Usage:
#   source scripts/matrix/brokers.sh [TARGET...]    start what is missing (default: all)
#   source scripts/matrix/brokers.sh --define-only  only the functions (matrix_start, matrix_env, ...)
#   bash scripts/matrix/brokers.sh start [TARGET...]
#   bash scripts/matrix/brokers.sh env TARGET       the variables a test run against TARGET needs:
#       OMNIBUS_<BROKER>_URL (the shared broker, for conformance) and what the private
#       brokers of the fault suite run (OMNIBUS_RABBITMQ_SERVER + OMNIBUS_RABBITMQ_EXTRA_CONF,
#       OMNIBUS_NATS_SERVER, OMNIBUS_REDIS_SERVER, OMNIBUS_KAFKA_VERSION)
#   bash scripts/matrix/brokers.sh stop [TARGET...] stop what this script started (data deleted)
#
# Runtime state: $OMNIBUS_CACHE/run/<target>/ (data, log, pid), OMNIBUS_CACHE as in debian13.sh.
MATRIX_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MATRIX_ROOT="$(cd "$MATRIX_DIR/../.." && pwd)"
MATRIX_CACHE="${OMNIBUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/omnibus}"
MATRIX_BIN="$MATRIX_CACHE/debian13/bin"
MATRIX_RUNS="$MATRIX_CACHE/run"
MATRIX_TARGETS=(rabbitmq-4.0 nats-2.10 redis-8.0 valkey-8.1 kafka-4.4 kafka-3.9)
# Newest version of each broker: what `npm test` runs besides the machine's brokers.
MATRIX_NEWEST=(rabbitmq-4.0 nats-2.10 redis-8.0 kafka-4.4)

matrix_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }
matrix_log() { echo "matrix: $*" >&2; }

matrix_port() {
  case "$1" in
    rabbitmq-4.0) echo 5673 ;; nats-2.10) echo 4223 ;; redis-8.0) echo 6380 ;; valkey-8.1) echo 6381 ;;
    kafka-4.4) echo 9094 ;; kafka-3.9) echo 9093 ;;
    *) matrix_log "unknown target $1 (one of ${MATRIX_TARGETS[*]})"; return 1 ;;
  esac
}

matrix_kafka_version() { case "$1" in kafka-4.4) echo 4.4.0 ;; kafka-3.9) echo 3.9.2 ;; esac; }

# Waits (deadline, no fixed sleep) until the port accepts and, when given, the log has the line.
matrix_wait() { # target port seconds pid [logfile line]
  local deadline=$(( SECONDS + $3 ))
  until matrix_port_open "$2" && { [ -z "${5:-}" ] || grep -q "$6" "$5" 2>/dev/null; }; do
    kill -0 "$4" 2>/dev/null || { matrix_log "$1 exited during startup"; tail -20 "${5:-/dev/null}" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { matrix_log "$1 not serving after $3 s"; return 1; }
    sleep 0.2
  done
}

# setsid: the broker outlives the shell that started it, in its own process group.
matrix_spawn() { # dir command...
  local dir="$1"; shift
  setsid nohup "$@" >>"$dir/process.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$dir/pid"
}

matrix_start_rabbitmq() { # target port
  local dir="$MATRIX_RUNS/$1" port="$2"
  rm -rf "$dir"; mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$dir/home/.erlang.cookie"
  chmod 400 "$dir/home/.erlang.cookie"
  { printf 'listeners.tcp.local = 127.0.0.1:%s\nloopback_users = none\nlog.console = true\nlog.console.level = info\nlog.file = false\n' "$port"
    cat "$MATRIX_DIR/rabbitmq-4.conf"; } >"$dir/rabbitmq.conf"
  echo "[]." >"$dir/enabled_plugins"; : >"$dir/rabbitmq-env.conf"
  matrix_spawn "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="$dir/home" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_NODENAME="omnibus-${1//./-}@localhost" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT=$(( port + 20000 )) \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_LOGS=- ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$MATRIX_BIN/rabbitmq-server"
  matrix_wait "$1" "$port" 120 "$(cat "$dir/pid")" "$dir/process.log" "Server startup complete"
}

matrix_start_nats() { # target port
  local dir="$MATRIX_RUNS/$1" port="$2"
  rm -rf "$dir"; mkdir -p "$dir"
  matrix_spawn "$dir" "$MATRIX_BIN/nats-server" -a 127.0.0.1 -p "$port" -js -sd "$dir/store" -n "omnibus-$1"
  matrix_wait "$1" "$port" 30 "$(cat "$dir/pid")" "$dir/process.log" "Server is ready"
}

matrix_start_redis() { # target port program
  local dir="$MATRIX_RUNS/$1" port="$2"
  rm -rf "$dir"; mkdir -p "$dir"
  matrix_spawn "$dir" "$MATRIX_BIN/$3" --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" --daemonize no
  matrix_wait "$1" "$port" 30 "$(cat "$dir/pid")"
}

matrix_start_kafka() { # target port
  OMNIBUS_KAFKA_VERSION="$(matrix_kafka_version "$1")" OMNIBUS_KAFKA_PORT="$2" bash "$MATRIX_ROOT/scripts/kafka.sh" start >/dev/null
}

matrix_start() { # target
  local port t0=$SECONDS
  port=$(matrix_port "$1") || return 1
  matrix_port_open "$port" && return 0
  case "$1" in
    rabbitmq-*|nats-*|redis-*|valkey-*) bash "$MATRIX_DIR/debian13.sh" install || return 1 ;;
  esac
  t0=$SECONDS
  case "$1" in
    rabbitmq-*) matrix_start_rabbitmq "$1" "$port" ;;
    nats-*) matrix_start_nats "$1" "$port" ;;
    redis-*) matrix_start_redis "$1" "$port" redis-server ;;
    valkey-*) matrix_start_redis "$1" "$port" valkey-server ;;
    kafka-*) matrix_start_kafka "$1" "$port" ;;
  esac || return 1
  matrix_log "$1 serving on 127.0.0.1:$port after $(( SECONDS - t0 )) s"
}

matrix_env() { # target
  local port; port=$(matrix_port "$1") || return 1
  case "$1" in
    rabbitmq-*) echo "OMNIBUS_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$port OMNIBUS_RABBITMQ_SERVER=$MATRIX_BIN/rabbitmq-server OMNIBUS_RABBITMQ_EXTRA_CONF=$MATRIX_DIR/rabbitmq-4.conf" ;;
    nats-*) echo "OMNIBUS_NATS_URL=nats://127.0.0.1:$port OMNIBUS_NATS_SERVER=$MATRIX_BIN/nats-server" ;;
    redis-*) echo "OMNIBUS_REDIS_URL=redis://127.0.0.1:$port OMNIBUS_REDIS_SERVER=$MATRIX_BIN/redis-server" ;;
    valkey-*) echo "OMNIBUS_REDIS_URL=redis://127.0.0.1:$port OMNIBUS_REDIS_SERVER=$MATRIX_BIN/valkey-server" ;;
    kafka-*) echo "OMNIBUS_KAFKA_URL=kafka://127.0.0.1:$port OMNIBUS_KAFKA_VERSION=$(matrix_kafka_version "$1")" ;;
  esac
}

# The adapter a target is tested through (valkey: the Redis adapter).
matrix_adapter() { case "$1" in valkey-*) echo redis ;; *) echo "${1%%-*}" ;; esac; }

matrix_stop() { # target
  case "$1" in
    kafka-*) OMNIBUS_KAFKA_VERSION="$(matrix_kafka_version "$1")" OMNIBUS_KAFKA_PORT="$(matrix_port "$1")" bash "$MATRIX_ROOT/scripts/kafka.sh" stop ;;
    *)
      local dir="$MATRIX_RUNS/$1" pid
      [ -f "$dir/pid" ] || return 0
      pid=$(cat "$dir/pid")
      # the whole process group: rabbitmq-server's helpers (erl_child_setup, inet_gethost) too
      kill -TERM -- "-$pid" 2>/dev/null || true
      local deadline=$(( SECONDS + 30 ))
      while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      rm -rf "$dir"
      ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cmd="${1:-start}"; shift || true
  case "$cmd" in
    start) for t in "${@:-${MATRIX_TARGETS[@]}}"; do matrix_start "$t"; done ;;
    env) matrix_env "$1" ;;
    stop) for t in "${@:-${MATRIX_TARGETS[@]}}"; do matrix_stop "$t"; done ;;
    *) echo "usage: $0 start|env|stop [TARGET...]" >&2; exit 2 ;;
  esac
elif [ "${1:-}" != "--define-only" ]; then
  for t in "${@:-${MATRIX_TARGETS[@]}}"; do matrix_start "$t" || return 1; done
fi
