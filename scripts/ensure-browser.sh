#!/usr/bin/env bash
# Installs what the web UI tests need when absent: Debian's chromium, and
# playwright-core (pinned in tests/ui/package-lock.json) into tests/ui/node_modules.
# Never downloads a browser through Playwright. Safe to run again; a no-op when ready.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm are needed for the UI tests: install Node.js 18 or newer" >&2
  exit 1
fi

if [ ! -d tests/ui/node_modules/playwright-core ]; then
  (cd tests/ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
