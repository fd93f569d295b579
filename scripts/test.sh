#!/usr/bin/env bash
# The whole test suite: installs what it needs, checks formatting and lints,
# runs every test of the workspace, then reports the benchmarks' ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings

step "cargo test (the integration guests and real programs run under runc and runsc, compared)"
cargo build -q -p sandbox --bin runsc
export RVISOR_RUNSC="$PWD/target/debug/runsc"
cargo test --workspace --no-fail-fast

step "benchmarks (ratios measured in this run; reported, never asserted)"
cargo bench -q -p platforms --bench syscall -- 20000
cargo bench -q -p gofer-9p --bench gofer
cargo bench -q -p sandbox --bench sentry
cargo bench -q -p shim --bench ctr -- 5
