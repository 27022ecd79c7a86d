#!/usr/bin/env bash
# Install (if missing) and start the services the test suite needs, on loopback only.
# Prints KEY=VALUE lines for the environment of the test run (the Makefile sources them).
# Usage: scripts/services.sh start
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log() { echo "services: $*" >&2; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" != "0" ]; then log "not root: cannot apt-get install $*"; return 1; fi
  if [ $apt_updated = 0 ]; then apt-get update -qq >&2 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Java for the Spark engine tests.
if ! command -v java >/dev/null 2>&1; then
  log "installing a Java runtime for Spark"
  apt_install openjdk-17-jre-headless || log "no Java: Spark tests will fail"
fi

# PostgreSQL for the case-store tests.
if [ -x "$here/start-postgres.sh" ] || [ -f "$here/start-postgres.sh" ]; then
  if url=$(bash "$here/start-postgres.sh" 2>&2 | tail -n 1); then
    echo "STILLWATCH_TEST_PG_URL=$url"
  else
    log "PostgreSQL did not start"
  fi
fi

# Redis for the decision-service tests.
if [ -f "$here/start-redis.sh" ]; then
  if url=$(bash "$here/start-redis.sh" | tail -n 1); then
    echo "STILLWATCH_TEST_REDIS_URL=$url"
  fi
fi

# Headless Chromium for the console browser tests.
if [ -f "$here/install-chromium.sh" ]; then
  bash "$here/install-chromium.sh" >&2 && echo "STILLWATCH_TEST_CHROMIUM=/usr/bin/chromium"
fi
exit 0
