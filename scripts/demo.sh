#!/usr/bin/env bash
# Quick start: installs what is needed, builds runsc, and runs a program in
# the sandbox: `runsc do` serves the host's root read-only through a Gofer
# and runs the command in a confined Sentry, which implements every system
# call itself. Pass another command to run it instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release -q -p sandbox --bin runsc
if [ "$#" -eq 0 ]; then
    set -- /bin/busybox uname -a
fi
exec target/release/runsc do "$@"
