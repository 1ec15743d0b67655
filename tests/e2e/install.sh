#!/bin/sh
# `make install` into a scratch prefix, then build and run examples/walk_cost.c against the
# installed headers and library through pkg-config, statically and dynamically.
bin=${1:?usage: install.sh BIN_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(dirname "$bin")
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
pass=0; fail=0
check() { # name expected actual
	if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1"
	else fail=$((fail + 1)); echo "FAIL $1: expected '$2', got '$3'"; fi
}

san=; ldd "$bin/vmemsim" 2>/dev/null | grep -q libasan && san=1
make -s -C "$top" install BUILD="$build" SANITIZE="${san:-0}" PREFIX="$prefix" >/dev/null
check "make install" 0 $?
for f in lib/libvmem.a lib/libvmem.so lib/pkgconfig/libvmem.pc include/vmem/vmem.h bin/vmemsim bin/vmem-walk; do
	check "installed $f" yes "$([ -e "$prefix/$f" ] && echo yes || echo no)"
done
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# The static build names libvmem.a itself and takes the rest (-L, -lzstd, ...) from
# pkg-config; -lvmem would pick the shared library.
flags=$(pkg-config --cflags libvmem) && libs=$(pkg-config --libs --static libvmem | sed 's/-lvmem//')
check "pkg-config knows libvmem" 0 $?
sanflags=; [ -n "$san" ] && sanflags=-fsanitize=address,undefined
cc -std=c11 $sanflags $flags "$top/examples/walk_cost.c" -o "$prefix/walk_cost" \
	"$prefix/lib/libvmem.a" $libs
check "example builds against the installed static library" 0 $?
out=$("$prefix/walk_cost")
check "example: native walk" 1 "$(echo "$out" | grep -c '^native: 4 references')"
check "example: nested walk" 1 "$(echo "$out" | grep -c '^nested: 24 references')"
check "example: shadow walk" 1 "$(echo "$out" | grep -c '^shadow: 4 references')"
cc -std=c11 $sanflags $flags "$top/examples/walk_cost.c" -o "$prefix/walk_cost_so" \
	-L"$prefix/lib" -lvmem -Wl,-rpath,"$prefix/lib"
check "example builds against the shared library" 0 $?
check "shared build gives the same output" "$out" "$("$prefix/walk_cost_so" || echo failed)"
echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
