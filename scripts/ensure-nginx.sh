#!/usr/bin/env bash
# Makes sure an `nginx` binary is on the PATH (the forward-auth test starts a real one).
# Installs the Debian/Ubuntu package when absent; a quick no-op when present.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends nginx
# Only the binary is needed: the packaged service may not run (no init system in CI).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || {
  echo "nginx is still missing after apt-get install" >&2
  exit 1
}
