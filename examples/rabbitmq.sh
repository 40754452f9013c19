#!/usr/bin/env bash
# rabbitmq.sh DIR PORT DIST_PORT: runs a private RabbitMQ node in the foreground
# (exec), for make demo BROKER=rabbitmq and the benchmarks: its own node
# name (revrx-PORT@localhost), AMQP port PORT and Erlang distribution
# port DIST_PORT on 127.0.0.1, and everything it writes (configuration,
# database, logs, Erlang cookie) under DIR. It shares the system's epmd, as
# every Erlang node does, and leaves any other node alone. Stop it with
# SIGTERM to the PID it runs as. Debian's scripts under
# /usr/lib/rabbitmq/bin run as the caller (make deps installs them).
set -euo pipefail
dir=$1 port=$2 dist=$3
server=/usr/lib/rabbitmq/bin/rabbitmq-server
[ -x "$server" ] || { echo "rabbitmq.sh: $server missing; run make deps" >&2; exit 1; }
mkdir -p "$dir/home" "$dir/conf.d" "$dir/mnesia" "$dir/log"
echo "listeners.tcp.1 = 127.0.0.1:$port" >"$dir/rabbitmq.conf"
[ -z "${RABBITMQ_EXTRA_CONF:-}" ] || echo "$RABBITMQ_EXTRA_CONF" >>"$dir/rabbitmq.conf"
: >"$dir/rabbitmq-env.conf"
echo '[].' >"$dir/enabled_plugins"
export HOME="$dir/home" RABBITMQ_NODENAME="revrx-$port@localhost" \
  RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
  RABBITMQ_CONFIG_FILES="$dir/conf.d" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
  RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
  RABBITMQ_ENABLED_PLUGINS= RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$dist" \
  ERL_EPMD_ADDRESS=127.0.0.1 RUNNING_UNDER_SYSTEMD=true # the script execs the VM: its PID is this one's
exec "$server"
