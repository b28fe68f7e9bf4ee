#!/usr/bin/env bash
# What the test suite needs from the machine, installed from Debian's packages when missing:
# PostgreSQL and Redis (started by scripts/services.sh), headless Chromium for the console's
# browser tests (Playwright drives /usr/bin/chromium: it never downloads a browser), and wrk, the
# load generator of `promobridge bench claims` (without it the benchmark falls back to a slower
# Python load generator, so a missing wrk is a warning, not an error). Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "chromium missing: install it (apt-get install chromium chromium-driver) or run this script as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  echo "installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
fi

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "wrk missing: install it (apt-get install wrk) for bench claims' load generator" >&2
  else
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    echo "installed $(wrk --version 2>/dev/null | head -n 1)"
  fi
fi

bash scripts/services.sh
