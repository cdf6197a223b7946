#!/usr/bin/env bash
# The one test command: formatting, lints, the dependency rule and every test.
# Installs what a fresh machine lacks; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "system packages (PostgreSQL server and libpq for the Diesel adapter)"
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -e /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
fi

step "tools the end-to-end tests drive: nginx, fcgiwrap + git, secret scanners, chromium + playwright-core"
scripts/ensure-nginx.sh
scripts/ensure-git-http.sh
scripts/ensure-scanners.sh
scripts/ensure-browser.sh

step "toolchain components"
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    rustup component add "$component"
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "pat-core has no I/O crate in its normal dependency tree (also a test: crates/pat-core/tests/invariants.rs)"
forbidden='^(tokio|diesel|actix-web|actix-http|lettre|hyper|reqwest|sqlx|libsqlite3-sys|pq-sys|mio) '
tree=$(cargo tree -p pat-core -e normal --prefix none --locked)
if grep -E "$forbidden" <<<"$tree"; then
  echo "pat-core must stay pure: the crates above belong in an adapter" >&2
  exit 1
fi

step "cargo deny: licenses, banned crates, sources (deny.toml; advisories need the internet)"
# A debug build of cargo-deny installs in about 1 minute (release: 3.5) and checks in seconds.
deny_root=${CARGO_TARGET_DIR:-target}/tools/cargo-deny
if [ ! -x "$deny_root/bin/cargo-deny" ]; then
  cargo install cargo-deny --locked --version 0.20.2 --debug --root "$deny_root" --quiet
fi
"$deny_root/bin/cargo-deny" --log-level error check licenses bans sources

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build patd (the black-box tests start the real binary)"
cargo build -p patd --locked

step "throwaway PostgreSQL"
pg_dir=$(mktemp -d)/pg
trap 'scripts/pg-throwaway.sh stop "$pg_dir"' EXIT
PAT_TEST_POSTGRES_URL=$(scripts/pg-throwaway.sh start "$pg_dir")
export PAT_TEST_POSTGRES_URL
echo "PostgreSQL at $PAT_TEST_POSTGRES_URL"

step "cargo test (unit, property, conformance on memory/SQLite/PostgreSQL, integration, doc tests)"
# The PostgreSQL tests are #[ignore]d for a plain `cargo test`; here the server exists.
cargo test --workspace --locked -- --include-ignored

step "schema-driven API testing: schemathesis against the served OpenAPI document (bounded)"
scripts/schemathesis.sh 10

step "fuzz smoke: every cargo-fuzz target from its seeds (skips without a nightly toolchain)"
FUZZ_BUILD=${FUZZ_BUILD:-dev} FUZZ_SECONDS=${FUZZ_SECONDS:-10} scripts/fuzz-smoke.sh

step "web UI in headless Chromium (screenshots in target/ui-screenshots/)"
(cd tests/ui && node --test --test-concurrency=1 .)
