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

# Man pages: one per program, made from its --help, rendered by man.
for p in $(cd "$bin" && ls | grep -v "^bench_"); do
	page="$prefix/share/man/man1/$p.1"
	check "man page $p.1 installed" yes "$([ -s "$page" ] && echo yes || echo no)"
	if command -v man >/dev/null 2>&1; then
		check "man -l $p.1 renders its NAME and usage" 2 \
			"$(MANWIDTH=100 man -l "$page" 2>/dev/null | grep -c -e "^NAME" -e "usage: $p")"
	fi
done

# The shared library exports the vmem_ API only (the version node VMEM_0 is not a symbol).
check "nm -D of libvmem.so lists only vmem_ symbols" "" \
	"$(nm -D --defined-only "$prefix/lib/libvmem.so" | awk '$2 != "A" && $3 !~ /^vmem_/ { print $3 }')"
check "nm -D of libvmem.so lists the API" yes \
	"$(nm -D --defined-only "$prefix/lib/libvmem.so" | grep -q ' vmem_mmu_create@@VMEM_0$' && echo yes)"

# C++: every public header compiles as C++17 (checked with -pedantic), the C example builds
# as C++, and the C++ example runs against the shared library found through the rpath
# that pkg-config gives.
for h in "$prefix"/include/vmem/*.h; do echo "#include <vmem/$(basename "$h")>"; done >"$prefix/all.cpp"
echo 'int main() { return 0; }' >>"$prefix/all.cpp"
c++ -std=c++17 -Wall -Wextra -pedantic -Werror $flags -c "$prefix/all.cpp" -o "$prefix/all.o"
check "every public header compiles as C++17" 0 $?
c++ -std=c++17 $sanflags $flags -x c++ "$top/examples/walk_cost.c" -x none -o "$prefix/walk_cost_cxx" \
	$(pkg-config --libs libvmem)
check "the C example builds as C++" 0 $?
check "the C example built as C++ gives the same output" "$out" "$("$prefix/walk_cost_cxx" || echo failed)"
c++ -std=c++17 -Wall -Wextra $sanflags $flags "$top/examples/steady_state.cpp" \
	-o "$prefix/steady_state" $(pkg-config --libs libvmem)
check "examples/steady_state.cpp builds with pkg-config" 0 $?
ss=$("$prefix/steady_state" "$top/tests/data/ls-head.lackey.zst" 20000)
check "examples/steady_state.cpp runs (rpath from pkg-config)" 0 $?
check "steady state after 20000 of 59994 records" "accesses 39994" "$(echo "$ss" | head -n 1)"

# make uninstall takes back what make install put there.
make -s -C "$top" uninstall BUILD="$build" SANITIZE="${san:-0}" PREFIX="$prefix" >/dev/null
check "make uninstall" 0 $?
check "nothing of libvmem left after make uninstall" "" \
	"$(cd "$prefix" && find lib include bin share -type f 2>/dev/null)"
echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
