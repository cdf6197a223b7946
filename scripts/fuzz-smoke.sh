#!/usr/bin/env bash
# A short run of every fuzz target in fuzz/ (docs/reliability.md, "Fuzzing"): each starts
# from its seeds in fuzz/corpus/<target>/ and runs FUZZ_RUNS inputs (default 20000) or
# FUZZ_SECONDS seconds (default 15), whichever ends first. FUZZ_BUILD=dev builds the
# targets without optimizations (debug assertions and AddressSanitizer still on): a cold
# build takes a fraction of the release build's time, which is what CI needs. A crash fails the script and
# leaves the input in fuzz/artifacts/<target>/ with the command that replays it.
#
# cargo-fuzz needs a nightly toolchain (sanitizer and coverage flags are nightly-only):
# without one this says why and exits 0. cargo-fuzz itself is installed into
# target/tools/cargo-fuzz when `cargo fuzz` is not available. Run it niced on a shared
# machine: `nice -n 19 scripts/fuzz-smoke.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
runs=${FUZZ_RUNS:-20000}
seconds=${FUZZ_SECONDS:-15}
build_flags=()
if [ "${FUZZ_BUILD:-release}" = dev ]; then
  build_flags=(--dev)
fi
targets=(token_parse scope_parse authorization_header json_bodies)
tools=target/tools/cargo-fuzz
scratch=fuzz/target/smoke

say() {
  echo "fuzz-smoke: $*" >&2
}

if ! command -v rustup >/dev/null; then
  say "SKIPPED: rustup is not installed, so there is no nightly toolchain for cargo-fuzz"
  exit 0
fi
toolchains=$(rustup toolchain list 2>/dev/null || true)
if ! grep -q '^nightly' <<<"$toolchains" || ! cargo +nightly --version >/dev/null 2>&1; then
  say "SKIPPED: no nightly Rust toolchain (installed: $(paste -sd ',' - <<<"$toolchains"))."
  say "cargo-fuzz needs nightly; where downloads are allowed: rustup toolchain install nightly"
  exit 0
fi

start=$SECONDS
if [ -x "$tools/bin/cargo-fuzz" ]; then
  PATH="$PWD/$tools/bin:$PATH"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$tools" --quiet
  PATH="$PWD/$tools/bin:$PATH"
fi
say "$(cargo fuzz --version), $(cargo +nightly --version)"

say "building the fuzz targets (${FUZZ_BUILD:-release}, debug assertions, AddressSanitizer)"
cargo +nightly fuzz build "${build_flags[@]}"

mkdir -p "$scratch"
for target in "${targets[@]}"; do
  # New inputs go to a scratch corpus, never into the seeds kept in git.
  corpus=$scratch/$target
  log=$scratch/$target.log
  rm -rf "$corpus"
  mkdir -p "$corpus"
  if ! cargo +nightly fuzz run "${build_flags[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
    -runs="$runs" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1; then
    grep -A 4 'panicked at' "$log" >&2 || true
    sed -n '/^Failing input:/,/^Error: /p' "$log" >&2
    say "FAILED: $target (full log: $log); replay with +nightly as shown above"
    exit 1
  fi
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  say "$target ok: ${done_line:-$(tail -n 1 "$log")}"
done
say "all ${#targets[@]} targets ok in $((SECONDS - start))s"
