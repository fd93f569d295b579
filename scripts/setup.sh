#!/usr/bin/env bash
# Installs what rvisor's build and test suite need on a Debian machine.
# Idempotent: packages already present are not touched.
set -euo pipefail

packages=(containerd runc podman busybox-static gcc libc6-dev musl-tools make bash coreutils python3 protobuf-compiler)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || {
    echo "setup: cargo not found: install a stable Rust toolchain (rustup) first" >&2
    exit 1
}
