#!/usr/bin/env bash
# Installs the secret scanners the rules in deploy/secret-scanning/ are tested with, into
# target/tools/, at pinned versions: secretlint (npm) and detect-secrets (PyPI).
# Needs node >= 20, npm and python3 (with venv, or else pip). Safe to run again: a quick
# no-op once installed. Afterwards use target/tools/bin/secretlint and
# target/tools/bin/detect-secrets.
set -euo pipefail
cd "$(dirname "$0")/.."

SECRETLINT_VERSION=12.0.0          # 13.x needs node >= 22
DETECT_SECRETS_VERSION=1.5.0

tools=target/tools
bin=$tools/bin
stamp=$tools/installed

fail() {
  echo "ensure-scanners: $*" >&2
  exit 1
}

for tool in node npm python3; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH: install it (node >= 20 with npm, and python3)"
done

# A venv and the wrappers hold absolute paths: a new interpreter or a moved tree reinstalls.
wanted="secretlint=$SECRETLINT_VERSION detect-secrets=$DETECT_SECRETS_VERSION $(python3 --version 2>&1) in $PWD"
installed() {
  [ -x "$bin/secretlint" ] && [ -x "$bin/detect-secrets" ] &&
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]
}
if installed; then
  exit 0
fi

mkdir -p "$tools"
# Two runs at once (a test and scripts/test.sh) must not install over each other.
if command -v flock >/dev/null; then
  exec 9>"$tools/lock"
  flock 9
  if installed; then
    exit 0
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "secretlint $SECRETLINT_VERSION needs node >= 20, found $(node --version): install a newer node"

echo "ensure-scanners: installing secretlint $SECRETLINT_VERSION and detect-secrets $DETECT_SECRETS_VERSION into $tools" >&2
rm -rf "$tools/node" "$tools/venv" "$tools/pylib" "$bin" "$stamp"
mkdir -p "$tools/node" "$bin"

npm install --prefix "$tools/node" --no-audit --no-fund --no-update-notifier --loglevel=error \
  --engine-strict --save-exact \
  "secretlint@$SECRETLINT_VERSION" "@secretlint/secretlint-rule-pattern@$SECRETLINT_VERSION" >&2 ||
  fail "npm could not install secretlint $SECRETLINT_VERSION: check that the npm registry is reachable"
cat >"$bin/secretlint" <<EOF
#!/bin/sh
exec "$PWD/$tools/node/node_modules/.bin/secretlint" "\$@"
EOF

if python3 -m venv "$tools/venv" >/dev/null 2>&1; then
  "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "detect-secrets==$DETECT_SECRETS_VERSION" >&2 ||
    fail "pip could not install detect-secrets $DETECT_SECRETS_VERSION: check that PyPI is reachable"
  cat >"$bin/detect-secrets" <<EOF
#!/bin/sh
exec "$PWD/$tools/venv/bin/detect-secrets" "\$@"
EOF
elif python3 -m pip --version >/dev/null 2>&1; then
  # No venv module (Debian without python3-venv): a private --target directory instead.
  rm -rf "$tools/venv"
  python3 -m pip install --quiet --disable-pip-version-check --target "$tools/pylib" \
    "detect-secrets==$DETECT_SECRETS_VERSION" >&2 ||
    fail "pip could not install detect-secrets $DETECT_SECRETS_VERSION: check that PyPI is reachable"
  cat >"$bin/detect-secrets" <<EOF
#!/bin/sh
PYTHONPATH="$PWD/$tools/pylib\${PYTHONPATH:+:\$PYTHONPATH}"
export PYTHONPATH
exec python3 -m detect_secrets "\$@"
EOF
else
  fail "python3 has neither venv nor pip: install one (Debian/Ubuntu: apt-get install python3-venv)"
fi

chmod +x "$bin/secretlint" "$bin/detect-secrets"
"$bin/secretlint" --version >/dev/null || fail "secretlint was installed but does not run; delete $tools and retry"
"$bin/detect-secrets" --version >/dev/null || fail "detect-secrets was installed but does not run; delete $tools and retry"
echo "$wanted" >"$stamp"
echo "ensure-scanners: done" >&2
