#!/bin/sh
# valgrind memcheck over a short replay in all three modes and over the walk explainer:
# no invalid access, no uninitialised use, no leak. Programs built with the sanitizers
# (make check SANITIZE=1) cannot run under valgrind; they are checked by ASan instead.
bin=${1:?usage: valgrind.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
if ldd "$bin/vmemsim" 2>/dev/null | grep -q libasan; then
	echo "valgrind: 0 passed, 0 failed (sanitizer build: ASan and UBSan check these runs)"
	exit 0
fi
command -v valgrind >/dev/null || { echo "FAIL valgrind is not installed (make deps)"; exit 1; }
pass=0; fail=0
run() { # name command...
	name=$1; shift
	if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$@" >/dev/null 2>valgrind.$$.log; then
		pass=$((pass + 1)); echo "ok   $name"
	else
		fail=$((fail + 1)); echo "FAIL $name"; tail -20 valgrind.$$.log
	fi
	rm -f valgrind.$$.log
}
run "vmemsim all modes, 20000 records" "$bin/vmemsim" -q -n 20000 "$here/data/ls-head.lackey.zst"
run "vmemsim shadow unsync, no PCID" "$bin/vmemsim" -q -n 20000 -m shadow -s shadow.sync=unsync \
	-s pcid=0 "$here/data/ls-head.lackey.zst"
run "vmem-walk nested 5/5" "$bin/vmem-walk" -s guest.levels=5 -s host.levels=5 0x7f0000001000
echo "valgrind: $pass passed, $fail failed"
[ "$fail" = 0 ]
