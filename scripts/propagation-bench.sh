#!/usr/bin/env bash
# Revocation propagation between patd processes on one database, with the default
# configuration (docs/benchmarks.md, "Revocation propagation"):
#   postgres  two release patd instances, A and B, on one PostgreSQL: A revokes, B must
#             refuse; ROUNDS revocations, then as many again with B's change watcher
#             connection killed (pg_terminate_backend) before every 10th revocation.
#   sqlite    one patd and the patd CLI on one SQLite file: the CLI revokes, patd must
#             refuse.
# Each prints p50/p99/max of "revoke call returned → first refused check sent" and the
# checks accepted later than the bound (must be 0; the example fails otherwise).
#
#   [ROUNDS=200] scripts/propagation-bench.sh [postgres|sqlite|all]
#
# postgres needs PAT_TEST_POSTGRES_URL (scripts/pg-throwaway.sh start DIR prints one).
# Not part of the test command: it builds in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
rounds=${ROUNDS:-200}
target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
key="Xl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl4=" # 32 bytes of 0x5e, base64
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

echo "==> release builds (patd, the propagation client)"
cargo build --release --locked -p patd
cargo build --release --locked -p pat-tests --example propagation
patd="$target/release/patd"
client="$target/release/examples/propagation"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

export PATD_TOKEN_KEY="$key" PATD_ADMIN_EMAIL=admin@example.com \
  PATD_ADMIN_PASSWORD=propagation-bench-password PATD_FAILED_AUTHS_PER_MINUTE=0 RUST_LOG=warn
export PROP_EMAIL=$PATD_ADMIN_EMAIL PROP_PASSWORD=$PATD_ADMIN_PASSWORD PROP_ROUNDS=$rounds

# start_patd NAME URL: a patd serving URL's database; its base URL is left in $started.
start_patd() {
  local port dir
  port=$(free_port); dir="$work/$1"; mkdir -p "$dir"
  PATD_LISTEN="127.0.0.1:$port" PATD_DATA_DIR="$dir" PATD_DATABASE_URL="$2" \
    "$patd" serve >"$dir/patd.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/healthz"
  started="http://127.0.0.1:$port"
}

if [ "$which" = postgres ] || [ "$which" = all ]; then
  : "${PAT_TEST_POSTGRES_URL:?set PAT_TEST_POSTGRES_URL (scripts/pg-throwaway.sh start DIR)}"
  url="${PAT_TEST_POSTGRES_URL%/*}/pat_propagation"
  psql "$PAT_TEST_POSTGRES_URL" -qc "drop database if exists pat_propagation" -c "create database pat_propagation"
  start_patd a "$url"; a=$started
  start_patd b "$url"; b=$started
  echo "==> PostgreSQL: A revokes, B refuses ($rounds rounds)"
  PROP_A=$a PROP_B=$b "$client"
  echo "==> PostgreSQL: the same, B's watcher connection killed before every 10th revocation"
  PROP_A=$a PROP_B=$b PROP_PG_URL=$url PROP_KILL_EVERY=10 "$client"
fi

if [ "$which" = sqlite ] || [ "$which" = all ]; then
  url="sqlite://$work/propagation.db"
  start_patd sqlite "$url"; server=$started
  echo "==> SQLite: the CLI revokes, patd refuses ($rounds rounds)"
  PATD_DATA_DIR="$work/sqlite" PATD_DATABASE_URL="$url" PROP_A=$server PROP_B=$server \
    PROP_REVOKER=cli PROP_PATD="$patd" "$client"
fi
