#!/usr/bin/env bash
# What sessions in the store cost per request: GET /api/v1/me with a session cookie
# (one indexed read of the session and its user per request; a last-use write at most
# once a minute) against the same endpoint with a PAT (answered from the verification
# cache) and the hello-world ceiling, in one run on one release patd.
#
#   scripts/session-bench.sh [sqlite|postgres] [seconds]
#
# postgres needs PAT_TEST_POSTGRES_URL (scripts/pg-throwaway.sh start DIR prints one).
# Not part of the test command: it builds in release mode and wants a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
seconds=${2:-20}
connections=32
threads=2
target=${CARGO_TARGET_DIR:-target}
work="$target/session-bench"
rm -rf "$work" && mkdir -p "$work"
command -v wrk >/dev/null 2>&1 || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
echo "==> release builds (patd, the hello-world ceiling)"
cargo build --release --locked -p patd
cargo build --release --locked -p pat-actix --example hello
case "$backend" in
  sqlite) url="sqlite://$work/patd.db" ;;
  postgres)
    : "${PAT_TEST_POSTGRES_URL:?set PAT_TEST_POSTGRES_URL (scripts/pg-throwaway.sh start DIR)}"
    dbname="pat_session_bench_$$"
    psql "$PAT_TEST_POSTGRES_URL" -qc "create database $dbname"
    url="${PAT_TEST_POSTGRES_URL%/*}/$dbname"
    ;;
  *) echo "backend must be sqlite or postgres, got $backend" >&2; exit 2 ;;
esac
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
steal() { awk '/^cpu / {print $9}' /proc/stat; }
bench() { # name url [header]
  local header=()
  [ -n "${3:-}" ] && header=(-H "$3")
  wrk -t"$threads" -c"$connections" -d3s "${header[@]}" "$2" >/dev/null
  wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "${header[@]}" "$2" | tee "$work/$1.txt"
}

port=$(free_port)
"$target/release/examples/hello" "127.0.0.1:$port" & hello=$!
trap 'kill $hello 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$port/api/v1/auth/check"
steal0=$(steal)
bench hello "http://127.0.0.1:$port/api/v1/auth/check"
kill $hello; wait $hello 2>/dev/null || true

port=$(free_port)
base="http://127.0.0.1:$port"
PATD_LISTEN="127.0.0.1:$port" PATD_DATABASE_URL="$url" PATD_DATA_DIR="$work" \
  PATD_ADMIN_EMAIL=admin@example.com PATD_ADMIN_PASSWORD=session-bench-password \
  PATD_FAILED_AUTHS_PER_MINUTE=0 RUST_LOG=warn "$target/release/patd" serve >"$work/patd.log" 2>&1 & patd=$!
trap 'kill $patd 2>/dev/null || true' EXIT
wait_for "$base/healthz"
login=$(curl -s -D "$work/login.headers" -H 'content-type: application/json' \
  -d '{"email":"admin@example.com","password":"session-bench-password"}' "$base/api/v1/session")
cookie=$(awk 'tolower($1) == "set-cookie:" {print $2}' "$work/login.headers" | tr -d ';\r' | head -1)
csrf=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["csrf_token"])' "$login")
secret=$(curl -s -H "cookie: $cookie" -H "x-csrf-token: $csrf" -H 'content-type: application/json' \
  -d '{"name":"bench","expires_in_days":30,"scopes":["*:*"]}' "$base/api/v1/tokens" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
bench session "$base/api/v1/me" "cookie: $cookie"
bench token "$base/api/v1/me" "authorization: Bearer $secret"
steal1=$(steal)
kill -TERM $patd; wait $patd 2>/dev/null || true

rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.txt"; }
p99() { awk '$1 == "99%" {print $2}' "$work/$1.txt"; }
statuses() { awk '/Non-2xx/ {print "non-2xx:", $NF}' "$work/$1.txt"; }
echo
echo "| $backend, GET /api/v1/me | req/s | of hello-world | p99 | |"
echo "|---|---|---|---|---|"
for run in hello session token; do
  echo "| $run | $(rps $run) | $(python3 -c "print(f'{$(rps $run)/$(rps hello):.2f}')") | $(p99 $run) | $(statuses $run) |"
done
echo "CPU steal during the runs: $((steal1 - steal0)) ticks of $(getconf CLK_TCK)/s"
