#!/bin/sh
# The documented commands run as written: every command line of README.md's indented
# blocks that starts with build/rel/bin/ or make (make demo, check, bench, install and
# uninstall excepted: other tests cover them), and every line of each program's --help
# examples, and every indented vmem-sweep command of docs/SWEEPS.md, must exit 0. They run
# in a scratch directory that mirrors the top of the tree
# (traces/, tests/, build/ and the rest linked in), so the files they write land there.
# Commands name build/rel/bin/ or a bare program; both run the programs under test.
bin=${1:?usage: docs.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$top"/*; do ln -s "$f" "$work/$(basename "$f")"; done
pass=0; fail=0

# Joins lines ending in a backslash, drops '# comments' and leading blanks.
normalize() {
	awk '{ line = line $0 } /\\$/ { sub(/\\$/, "", line); next }
	     { sub(/[ \t]+#.*$/, "", line); sub(/^[ \t]+/, "", line); if (line != "") print line; line = "" }'
}

# vmem-vmm needs a usable /dev/kvm: without one its commands are skipped, loudly.
kvm=yes
"$bin/vmem-vmm" --probe >"$work/.probe" 2>&1 || kvm=$(tail -1 "$work/.probe")

run() { # where command: the programs under test found first on the PATH
	cmd=$(printf '%s\n' "$2" | sed -e "s|^build/rel/bin/|$bin/|")
	case "$cmd" in *vmem-vmm\ *|*vmem-vmm) if [ "$kvm" != yes ]; then
		echo "SKIP $1: $2: no usable /dev/kvm ($kvm)"; return; fi ;;
	esac
	(cd "$work" && PATH="$bin:$PATH" && eval "$cmd") >"$work/.out" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		pass=$((pass + 1)); echo "ok   $1: $2"
	else
		fail=$((fail + 1)); echo "FAIL $1: $2 (exit $rc): $(tail -1 "$work/.out")"
	fi
}

awk '/^    (build\/rel\/bin\/|make )/ || (prev ~ /\\$/ && /^    /) { print } { prev = $0 }' \
	"$top/README.md" | normalize |
	grep -Ev '^make (demo|check|bench|install|uninstall)( |$)' >"$work/.readme"
n=$(wc -l <"$work/.readme")
[ "$n" -ge 5 ] || { fail=$((fail + 1)); echo "FAIL README.md: only $n commands found"; }
while IFS= read -r cmd; do run README.md "$cmd"; done <"$work/.readme"

# docs/SWEEPS.md: its indented command lines that start with vmem-sweep or build/rel/bin/.
awk '/^    (build\/rel\/bin\/|vmem-sweep )/ || (prev ~ /\\$/ && /^    /) { print } { prev = $0 }' \
	"$top/docs/SWEEPS.md" | normalize >"$work/.sweeps"
n=$(wc -l <"$work/.sweeps")
[ "$n" -ge 5 ] || { fail=$((fail + 1)); echo "FAIL docs/SWEEPS.md: only $n commands found"; }
while IFS= read -r cmd; do run docs/SWEEPS.md "$cmd"; done <"$work/.sweeps"

# Every program (the benchmarks excepted).
for prog in $(cd "$bin" && ls | grep -v '^bench_'); do
	"$bin/$prog" --help | awk 'tolower($0) ~ /^examples:/ { on = 1; next } on && /^$/ { on = 0 } on' |
		normalize >"$work/.help"
	n=$(wc -l <"$work/.help")
	[ "$n" -ge 1 ] || { fail=$((fail + 1)); echo "FAIL $prog --help: no examples found"; }
	while IFS= read -r cmd; do run "$prog --help" "$cmd"; done <"$work/.help"
done

echo "docs: $pass passed, $fail failed"
[ "$fail" = 0 ]
