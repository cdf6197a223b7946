#!/usr/bin/env bash
# Load benchmark of GET /api/v1/auth/check, the way an operator would measure it:
# 1,000,000 seeded tokens, a release patd, wrk from another process at 64 connections
# with a realistic mix (70 % valid, 10 % revoked, 10 % unknown, 10 % malformed), and in
# the same run a hello-world actix-web handler as the ceiling. Reports req/s, p50, p99,
# status counts, patd's peak RSS (VmHWM) and requests per server CPU-second (both servers).
#
#   [PATD_AUTH_CACHE_ENTRIES=0] scripts/load-bench.sh [sqlite|postgres] [seconds] [tokens]
#
# The default configuration is measured: the verification cache is on (exact, see
# docs/operations.md); PATD_AUTH_CACHE_ENTRIES=0 (inherited by patd) measures every
# check reading the store.
#
# postgres needs PAT_TEST_POSTGRES_URL (scripts/pg-throwaway.sh start DIR prints one).
# The failed-authentication limit is off (PATD_FAILED_AUTHS_PER_MINUTE=0): all the load
# comes from one address, as it does behind a forward-auth proxy.
# Not part of the test command: it builds in release mode and wants a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-sqlite}
seconds=${2:-30}
tokens=${3:-1000000}
connections=64
threads=2
target=${CARGO_TARGET_DIR:-target}
work="$target/load-bench"
mkdir -p "$work"
key="Xl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl4=" # base64 of 32 bytes of 0x5e: the seed key

if ! command -v wrk >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update && $sudo apt-get install -y --no-install-recommends wrk
fi

echo "==> release builds (patd, the seed example, the hello-world ceiling)"
cargo build --release --locked -p patd
cargo build --release --locked -p pat-store-diesel --example seed
cargo build --release --locked -p pat-actix --example hello

case "$backend" in
  sqlite)
    db="$work/seed-$tokens.db"
    url="sqlite://$db"
    if [ ! -s "$db" ]; then
      echo "==> seeding $tokens tokens into $db"
      "$target/release/examples/seed" "$url" "$tokens" "$work/mix.txt"
    fi
    ;;
  postgres)
    : "${PAT_TEST_POSTGRES_URL:?set PAT_TEST_POSTGRES_URL (scripts/pg-throwaway.sh start DIR)}"
    base=${PAT_TEST_POSTGRES_URL%/*}
    dbname="pat_load_$tokens"
    url="$base/$dbname"
    if ! psql "$PAT_TEST_POSTGRES_URL" -tAc "select 1 from pg_database where datname='$dbname'" | grep -q 1; then
      psql "$PAT_TEST_POSTGRES_URL" -c "create database $dbname" >/dev/null
      echo "==> seeding $tokens tokens into $url"
      "$target/release/examples/seed" "$url" "$tokens" "$work/mix.txt"
    fi
    ;;
  *) echo "backend must be sqlite or postgres, got $backend" >&2; exit 2 ;;
esac
"$target/release/examples/seed" "$url" "$tokens" "$work/mix.txt" --only-mix >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
run_wrk() { PAT_MIX="$work/mix.txt" wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s benches/auth-check.lua "$1"; }
# CPU time (user + system) a process has used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# Requests served per CPU-second of the server: requests in the run / its CPU time.
per_cpu_second() { python3 -c "print(round($(awk '/requests in/ {print $1}' "$1") / (($3 - $2) / $hz)))"; }

echo "==> ceiling: hello-world actix-web, wrk -t$threads -c$connections -d${seconds}s"
port=$(free_port)
"$target/release/examples/hello" "127.0.0.1:$port" & hello=$!
trap 'kill $hello 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$port/api/v1/auth/check"
hello_cpu0=$(cpu_ticks $hello)
run_wrk "http://127.0.0.1:$port/api/v1/auth/check" | tee "$work/hello.txt"
hello_per_cpu=$(per_cpu_second "$work/hello.txt" "$hello_cpu0" "$(cpu_ticks $hello)")
kill $hello; wait $hello 2>/dev/null || true

echo "==> patd on $backend with $tokens tokens, verification cache entries ${PATD_AUTH_CACHE_ENTRIES:-default}, same settings"
port=$(free_port)
data=$(mktemp -d)
PATD_LISTEN="127.0.0.1:$port" PATD_DATABASE_URL="$url" PATD_TOKEN_KEY="$key" \
  PATD_ADMIN_EMAIL=admin@example.com PATD_ADMIN_PASSWORD=load-bench-password \
  PATD_FAILED_AUTHS_PER_MINUTE=0 RUST_LOG=warn "$target/release/patd" serve >"$work/patd.log" 2>&1 & patd=$!
trap 'kill $patd 2>/dev/null || true; rm -rf "$data"' EXIT
wait_for "http://127.0.0.1:$port/healthz"
# Warm-up, so the figure is steady state rather than start-up.
PAT_MIX="$work/mix.txt" wrk -t"$threads" -c"$connections" -d3s -s benches/auth-check.lua \
  "http://127.0.0.1:$port/api/v1/auth/check" >/dev/null
patd_cpu0=$(cpu_ticks $patd)
run_wrk "http://127.0.0.1:$port/api/v1/auth/check" | tee "$work/patd-$backend.txt"
patd_per_cpu=$(per_cpu_second "$work/patd-$backend.txt" "$patd_cpu0" "$(cpu_ticks $patd)")
rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$patd/status")
echo "PATD_PEAK_RSS $rss"
kill -TERM $patd; wait $patd 2>/dev/null || true

hello_rps=$(awk '/Requests\/sec/ {print $2}' "$work/hello.txt")
patd_rps=$(awk '/Requests\/sec/ {print $2}' "$work/patd-$backend.txt")
echo
echo "| backend | tokens | hello-world req/s | patd req/s | ratio | patd p50 / p99 (µs) | statuses | patd peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $backend | $tokens | $hello_rps | $patd_rps | $(python3 -c "print(f'{$patd_rps/$hello_rps:.2f}')") | $(awk '/LATENCY_US/ {print $2, "/", $3}' "$work/patd-$backend.txt") | $(awk '/STATUSES/ {$1=""; print}' "$work/patd-$backend.txt") | $rss |"
echo
echo "requests per server CPU-second: hello-world $hello_per_cpu, patd $patd_per_cpu, ratio $(python3 -c "print(f'{$patd_per_cpu/$hello_per_cpu:.2f}')")"
