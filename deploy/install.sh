#!/bin/sh
# Installs runsc and containerd-shim-runsc-v1 and registers the runtime
# with containerd. Idempotent: running it again changes nothing.
#
#   install.sh [--prefix DIR] [--config FILE] [--runsc-config FILE]
#              [--bin-dir DIR] [--no-restart]
#
#   --prefix DIR        install the binaries into DIR/bin (default /usr/local)
#   --config FILE       containerd config to extend (default /etc/containerd/config.toml)
#   --runsc-config FILE where runsc.toml goes (default: next to --config)
#   --bin-dir DIR       where to take runsc and the shim from (default: the
#                       directory of this script, then ../target/release)
#   --no-restart        do not restart containerd (restarting is skipped
#                       anyway when systemctl is absent or with --prefix)
set -eu

prefix=/usr/local
config=/etc/containerd/config.toml
runsc_config=
bin_dir=
restart=1
custom_prefix=0
here=$(cd "$(dirname "$0")" && pwd)

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; custom_prefix=1; shift 2 ;;
    --prefix=*) prefix=${1#*=}; custom_prefix=1; shift ;;
    --config) config=$2; shift 2 ;;
    --config=*) config=${1#*=}; shift ;;
    --runsc-config) runsc_config=$2; shift 2 ;;
    --runsc-config=*) runsc_config=${1#*=}; shift ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --bin-dir=*) bin_dir=${1#*=}; shift ;;
    --no-restart) restart=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -n "$runsc_config" ] || runsc_config=$(dirname "$config")/runsc.toml

find_bin() {
  for d in "$bin_dir" "$here" "$here/../target/release" "$here/../target/debug"; do
    if [ -n "$d" ] && [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  echo "install.sh: cannot find $1 (build with cargo build --release, or pass --bin-dir)" >&2
  return 1
}

runsc=$(find_bin runsc)
shim=$(find_bin containerd-shim-runsc-v1)

mkdir -p "$prefix/bin"
for src in "$runsc" "$shim"; do
  dst="$prefix/bin/$(basename "$src")"
  if ! cmp -s "$src" "$dst" 2>/dev/null; then
    install -m 0755 "$src" "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"
    echo "installed $dst"
  fi
done

mkdir -p "$(dirname "$runsc_config")"
if [ ! -e "$runsc_config" ]; then
  install -m 0644 "$here/runsc.toml" "$runsc_config"
  echo "installed $runsc_config"
fi

mkdir -p "$(dirname "$config")"
[ -e "$config" ] || { echo 'version = 2' > "$config"; echo "created $config"; }
if grep -Eq '^[[:space:]]*disabled_plugins[[:space:]]*=.*"(io\.containerd\.grpc\.v1\.)?cri"' "$config"; then
  echo "install.sh: warning: $config disables the CRI plugin; Kubernetes cannot use runsc until it is enabled" >&2
fi
if grep -q 'containerd.runtimes.runsc\]' "$config"; then
  echo "$config already has the runsc runtime"
else
  # The snippets (comments dropped), with ConfigPath pointing at runsc.toml.
  {
    echo
    echo '# Added by rvisor install.sh'
    while IFS= read -r line; do
      case "$line" in
        '#'*) ;;
        *ConfigPath\ =*) printf '  ConfigPath = "%s"\n' "$runsc_config" ;;
        *) printf '%s\n' "$line" ;;
      esac
    done < "$here/containerd-config.toml"
    if ! grep -Eq 'containerd\.runtimes\.("runc"|runc)\]' "$config"; then
      grep -v '^#' "$here/containerd-config-runc.toml"
    fi
  } >> "$config"
  echo "added the runsc runtime to $config"
  if [ "$restart" = 1 ] && [ "$custom_prefix" = 0 ] && command -v systemctl >/dev/null 2>&1 \
      && systemctl is-active --quiet containerd 2>/dev/null; then
    systemctl restart containerd
    echo "restarted containerd"
  fi
fi
