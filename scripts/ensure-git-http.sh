#!/usr/bin/env bash
# Makes sure `git` (with its `git-http-backend`) and `fcgiwrap` are installed (the git over
# HTTPS test serves a bare repository through nginx, fcgiwrap and git http-backend).
# Installs the Debian/Ubuntu packages when absent; a quick no-op when present.
set -euo pipefail

# The git-http-backend that belongs to the `git` on the PATH, e.g.
# /usr/lib/git-core/git-http-backend for Debian's package.
http_backend() {
  local exec_path
  exec_path="$(git --exec-path 2>/dev/null)" || return 1
  [ -x "$exec_path/git-http-backend" ]
}

have_fcgiwrap() {
  command -v fcgiwrap >/dev/null 2>&1 || [ -x /usr/sbin/fcgiwrap ]
}

if http_backend && have_fcgiwrap; then
  exit 0
fi

packages=()
http_backend || packages+=(git)
have_fcgiwrap || packages+=(fcgiwrap)

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${packages[@]}"
# Only the binaries are needed: the packaged fcgiwrap service may not run (no init system in CI).
http_backend || {
  echo "git-http-backend is still missing after apt-get install (git --exec-path: $(git --exec-path 2>&1))" >&2
  exit 1
}
have_fcgiwrap || {
  echo "fcgiwrap is still missing after apt-get install" >&2
  exit 1
}
