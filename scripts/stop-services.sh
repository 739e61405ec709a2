#!/usr/bin/env bash
# Stop what scripts/services.sh started (nothing when the broker was already running).
set -euo pipefail
state_file="${STATE_FILE:-.services-started}"
[ -f "$state_file" ] || exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export PATH="$PATH:/usr/sbin"
if grep -qx rabbitmq "$state_file"; then
  echo "services: stopping the RabbitMQ this run started"
  $sudo rabbitmqctl stop >/dev/null 2>&1 || true
fi
rm -f "$state_file"
