#!/bin/sh
# Installs the Debian packages libvmem needs to build, test, fuzz, benchmark and plot.
# Called by `make deps` (and so by `make demo` and `make check`); does nothing when
# everything is present.
set -eu

PACKAGES="build-essential pkg-config libnuma-dev liburcu-dev libjemalloc-dev libcmocka-dev
gnuplot-nox valgrind libzstd-dev zstd zlib1g-dev liblzma-dev xz-utils libxxhash-dev liblz4-dev python3
clang libclang-rt-14-dev llvm-14 slurm-wlm munge
qemu-system-x86 busybox-static cpio file"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "deps: missing packages:$missing; run as root or install them by hand" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
