#!/usr/bin/env bash
# The one test command: formatting, lints, the dependency rule and every test.
# Installs what a fresh machine lacks; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    rustup component add "$component"
  fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "pat-core has no I/O crate in its normal dependency tree"
forbidden='^(tokio|diesel|actix-web|actix-http|lettre|hyper|reqwest|sqlx|libsqlite3-sys|pq-sys|mio) '
tree=$(cargo tree -p pat-core -e normal --prefix none --locked)
if grep -E "$forbidden" <<<"$tree"; then
  echo "pat-core must stay pure: the crates above belong in an adapter" >&2
  exit 1
fi

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property, conformance, integration, doc tests)"
cargo test --workspace --locked
