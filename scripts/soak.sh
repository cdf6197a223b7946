#!/usr/bin/env bash
# Soak test: patd on a fresh SQLite file under mixed load (creates, revokes,
# regenerates, deletes, lists, token use, dead secrets, re-logins) from several
# concurrent clients for a while, sampling patd's RSS, open fds, requests done and
# unexpected responses. Prints a table and a verdict: memory flat (last tenth of the run
# within +10 % of the second tenth: minute 2 against the last minute for 600 s), no
# unexpected responses, no fd growth. Exit status 0 only on PASS.
#
#   [PATD_BIN=path] [SOAK_CLIENTS=6] [SOAK_DATABASE_URL=postgres://…] scripts/soak.sh [seconds, default 600]
#
# SOAK_DATABASE_URL runs it against another (empty) database instead of a fresh SQLite
# file, e.g. a throwaway PostgreSQL from scripts/pg-throwaway.sh.
#
# Uses target/release/patd when it exists, else target/debug/patd (cargo build -p
# patd); it never builds in release mode. Not part of the test command: it runs for ten
# minutes. Smoke run: scripts/soak.sh 30.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
clients=${SOAK_CLIENTS:-6}
target=${CARGO_TARGET_DIR:-target}
if [ -n "${PATD_BIN:-}" ]; then
  bin=$PATD_BIN
elif [ -x "$target/release/patd" ]; then
  bin=$target/release/patd
else
  [ -x "$target/debug/patd" ] || cargo build -p patd
  bin=$target/debug/patd
fi

work=$(mktemp -d)
database_url=${SOAK_DATABASE_URL:-sqlite://$work/patd.db}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin_email=admin@example.com
admin_password=soak-admin-password-long-enough

echo "==> $bin on $database_url, 127.0.0.1:$port, $clients clients, $seconds s"
# Clients present dead secrets on purpose: no failed-authentication limit. Notices are
# processed every 30 s so the outbox worker runs during the soak.
PATD_LISTEN="127.0.0.1:$port" PATD_DATA_DIR="$work" PATD_DATABASE_URL="$database_url" \
  PATD_ADMIN_EMAIL=$admin_email PATD_ADMIN_PASSWORD=$admin_password \
  PATD_FAILED_AUTHS_PER_MINUTE=0 PATD_NOTIFY_INTERVAL_SECS=30 RUST_LOG=warn \
  "$bin" serve >"$work/patd.log" 2>&1 &
patd=$!
cleanup() {
  kill "$patd" 2>/dev/null || true
  wait "$patd" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
  kill -0 "$patd" 2>/dev/null || { cat "$work/patd.log" >&2; exit 1; }
  sleep 0.1
done

status=0
python3 scripts/soak.py --address "127.0.0.1:$port" --pid "$patd" --seconds "$seconds" \
  --clients "$clients" --database "$work/patd.db" --admin-email "$admin_email" --admin-password "$admin_password" || status=$?

kill -0 "$patd" 2>/dev/null || { echo "patd died during the soak; log: $work/patd.log" >&2; exit 1; }
[ -e "$work/patd.db" ] && echo "database: $(du -h "$work/patd.db" | cut -f1) (+ WAL $(du -h "$work/patd.db-wal" 2>/dev/null | cut -f1))"
echo "log: $(wc -l <"$work/patd.log") lines, $(grep -c ERROR "$work/patd.log" || true) at ERROR"
if [ "$status" = 0 ]; then
  cleanup
  rm -rf "$work"
else
  echo "kept for inspection: $work (patd.db, patd.log)" >&2
fi
exit "$status"
