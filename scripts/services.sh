#!/usr/bin/env bash
# Make sure a RabbitMQ answers for `make run` and `make test`.
#
# A broker that already answers on AMQP_HOST:AMQP_PORT is used as is. Otherwise
# Debian's rabbitmq-server is installed when missing, started detached and
# awaited. When this script started the broker it writes STATE_FILE, so the
# caller can stop exactly what it started (and never a broker that was running).
set -euo pipefail

host="${AMQP_HOST:-127.0.0.1}"
port="${AMQP_PORT:-5672}"
state_file="${STATE_FILE:-.services-started}"

answers() { timeout 2 bash -c ">/dev/tcp/${host}/${port}" 2>/dev/null; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

if answers; then
  echo "services: RabbitMQ answers on ${host}:${port}"
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
  echo "services: rabbitmq-server is not installed; installing Debian's package (this takes a minute)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rabbitmq-server >/dev/null
fi
export PATH="$PATH:/usr/sbin"

if ! answers; then
  echo "services: starting rabbitmq-server"
  $sudo rabbitmq-server -detached
  echo "rabbitmq" > "$state_file"
fi
echo "services: waiting for RabbitMQ to finish starting"
$sudo timeout 120 rabbitmqctl await_startup >/dev/null
for _ in $(seq 1 60); do
  if answers; then echo "services: RabbitMQ is up on ${host}:${port}"; exit 0; fi
  sleep 1
done
echo "services: RabbitMQ did not answer on ${host}:${port}" >&2
exit 1
