#!/usr/bin/env bash
# What the test suite needs from the machine, installed from Debian's packages when missing:
# PostgreSQL and Redis (started by scripts/services.sh) and headless Chromium for the console's
# browser tests (Playwright drives /usr/bin/chromium: it never downloads a browser). Used by .ci/run.
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

bash scripts/services.sh
