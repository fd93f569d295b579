#!/usr/bin/env bash
# Quick start: installs what is needed, builds runsc, and runs a program in
# the sandbox. Every system call the program makes is served by runsc.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release -q -p sandbox --bin runsc
exec target/release/runsc platform-demo --confine "$@"
