#!/usr/bin/env bash
# Start a throwaway redis-server for stillwatch's decision service and its tests, on 127.0.0.1 only.
#
# Idempotent: if a server already answers on the port, it only prints the URL. Installs redis-server
# with apt-get when it is missing. No persistence (--save '' --appendonly no): never keep data in it.
#
# Usage:  scripts/start-redis.sh          # last line: redis://127.0.0.1:56379/0
#         export STILLWATCH_TEST_REDIS_URL="$(scripts/start-redis.sh | tail -n 1)"
#         scripts/start-redis.sh stop
set -euo pipefail

PORT="${REDIS_PORT_STILLWATCH:-56379}"
URL="redis://127.0.0.1:${PORT}/0"
log() { echo "start-redis: $*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ]; then log "redis-server is missing and this is not root: cannot apt-get install"; exit 1; fi
  log "installing redis-server with apt-get"
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends redis-server >&2
fi

ping() { redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; }

if [ "${1:-start}" = "stop" ]; then
  if ping; then redis-cli -h 127.0.0.1 -p "$PORT" shutdown nosave >&2 || true; fi
  exit 0
fi

if ! ping; then
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "/tmp/stillwatch-redis-${PORT}.pid" --logfile "/tmp/stillwatch-redis-${PORT}.log" >&2
  for _ in $(seq 1 50); do ping && break; sleep 0.1; done
  ping || { log "redis-server did not answer on 127.0.0.1:${PORT}"; exit 1; }
fi
echo "$URL"
