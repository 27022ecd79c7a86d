#!/usr/bin/env bash
# Install headless Chromium + chromedriver (Debian packages) for the console browser tests.
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver already exist.
# Never downloads a browser from anywhere but the system package manager.
# Usage: scripts/install-chromium.sh
set -euo pipefail
log() { echo "install-chromium: $*" >&2; }

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  log "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown)"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    log "not root and no passwordless sudo: cannot install chromium (browser tests will be skipped)"
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
$SUDO apt-get update -qq >&2
log "apt-get install chromium chromium-driver fonts-noto-cjk"
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >&2
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
log "installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown)"
