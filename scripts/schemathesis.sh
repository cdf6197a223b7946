#!/usr/bin/env bash
# Schema-driven API testing: schemathesis (PyPI, pinned) against the OpenAPI document a
# real patd serves, authenticated as an admin with a full-access token. Fails on any 5xx
# and on any answer the document does not describe.
#
#   scripts/schemathesis.sh [max-examples-per-operation]   (default 25; CI runs a few)
#
# Needs target/debug/patd (cargo build -p patd) and python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${1:-25}
version=4.32.5
target=${CARGO_TARGET_DIR:-target}
tools="$target/tools/schemathesis-$version"
if [ ! -x "$tools/bin/st" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

patd_bin="$(cd "$target" && pwd)/debug/patd"
[ -x "$patd_bin" ] || { echo "no $patd_bin: run cargo build -p patd first" >&2; exit 1; }
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
# The failed-authentication limit is off: schemathesis deliberately sends bad
# credentials, and a 429 afterwards would hide what it is testing.
(cd "$data" && PATD_LISTEN="127.0.0.1:$port" PATD_ADMIN_EMAIL=admin@example.com \
  PATD_ADMIN_PASSWORD=schemathesis-admin PATD_FAILED_AUTHS_PER_MINUTE=0 \
  PATD_LOG_FORMAT=json exec "$patd_bin" serve >"$data/patd.log" 2>&1) &
patd=$!
trap 'kill $patd 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done

curl -sf -c "$data/jar" -H 'content-type: application/json' \
  -d '{"email":"admin@example.com","password":"schemathesis-admin"}' "$url/api/v1/session" >"$data/session.json"
csrf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$data/session.json")
curl -sf -b "$data/jar" -H "X-CSRF-Token: $csrf" -H 'content-type: application/json' \
  -d '{"name":"schemathesis","expires_in_days":30,"scopes":["*:*"]}' "$url/api/v1/tokens" >"$data/token.json"
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$data/token.json")
# The document can only state static bounds (expires_in_days <= 366, grace_minutes <=
# 10080); make the server's policy the same, so a schema-valid lifetime or grace period
# is a policy-valid one.
curl -sf -b "$data/jar" -H "X-CSRF-Token: $csrf" -H 'content-type: application/json' -X PUT \
  -d '{"pats_enabled":true,"max_lifetime_days":366,"max_active_per_user":100,"expiry_warning_days":7,"max_grace_minutes":10080}' \
  "$url/api/v1/admin/settings" >/dev/null

# Not generated, because each would take away the credentials under test (they have
# black-box tests of their own): /session, /tokens/self (DELETE revokes the presented
# token), POST /tokens/self/rotate (retires its secret), DELETE /tokens (deletes it),
# PUT /admin/settings (can switch PATs off) and PATCH /admin/users/{id} (can deactivate
# the admin).
common=(--header "Authorization: Bearer $secret" --max-examples "$examples" --seed 1)
status=0
"$tools/bin/st" run "$url/api/v1/openapi.json" "${common[@]}" --checks all \
  --exclude-operation-id-regex '^(login|logout|get_self|revoke_self|rotate_self|delete_all_tokens|put_settings|update_user|auth_check)$' \
  || status=$?
# /auth/check takes resource and operation together or not at all, and answers 422 to
# one without the other; OpenAPI cannot state that dependency, so schemathesis would
# call such a 422 "a schema-valid request rejected". Every other check still applies.
"$tools/bin/st" run "$url/api/v1/openapi.json" "${common[@]}" --checks all \
  --exclude-checks positive_data_acceptance --include-operation-id auth_check \
  || status=$?
if grep -q '"http.status_code":5' "$data/patd.log"; then
  echo "patd answered 5xx:" >&2
  grep '"http.status_code":5' "$data/patd.log" >&2
  status=1
fi
exit $status
