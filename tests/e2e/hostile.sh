#!/bin/sh
# Hostile inputs and environments, each under a time limit and (outside sanitizer builds,
# whose shadow memory needs a large address space) a memory limit: FIFOs and standard
# input that cannot be read twice, a conversion onto its own input, huge VM and address
# space counts, special files, outputs that cannot be written. Each check wants a given
# exit status and one line of error naming the cause.
#
# usage: sh tests/e2e/hostile.sh BIN_DIR
set -u

BIN=${1:?usage: hostile.sh BIN_DIR}
T=$(mktemp -d "${TMPDIR:-/tmp}/vmem-hostile.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

# Sanitizer builds reserve terabytes of shadow address space: no ulimit -v for them.
case "$BIN" in
*/san/*) MEMLIMIT= ;;
*) MEMLIMIT=1048576 ;;   # KiB: 1 GiB
esac

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }

# limited SECONDS COMMAND...: runs the command with a time limit and the memory limit,
# standard output to $T/out and standard error to $T/err; sets rc.
limited() {
	secs=$1
	shift
	(
		[ -n "$MEMLIMIT" ] && ulimit -v "$MEMLIMIT"
		exec timeout -k 2 "$secs" "$@"
	) >"$T/out" 2>"$T/err"
	rc=$?
}

# expect DESCRIPTION RC TEXT: the last limited command exited with RC (124: it timed
# out), and its standard error is one line containing the fixed string TEXT.
expect() {
	if [ "$rc" != "$2" ]; then
		bad "$1 (exit $rc, expected $2)"
		sed 's/^/    /' "$T/err" | head -5
	elif [ -n "$3" ] && ! grep -F -q -- "$3" "$T/err"; then
		bad "$1 (message)"
		echo "    expected: $3"
		sed 's/^/    got:      /' "$T/err" | head -5
	elif [ -n "$3" ] && [ "$(wc -l <"$T/err")" != 1 ]; then
		bad "$1 (expected one line of error)"
		sed 's/^/    /' "$T/err" | head -5
	else
		ok "$1"
	fi
}

# A record the machine rejects (canonical for 57 bits, not for 4-level paging) on line 2.
printf ' L 00001000,8\n L 00ff000000000000,8\n' >"$T/bad.lackey"

# ---- FIFOs and standard input: errors are located from what was read ---------------
mkfifo "$T/fifo"
cat "$T/bad.lackey" >"$T/fifo" &
limited 20 "$BIN/vmemsim" -q "$T/fifo"
expect "vmemsim: a rejected record of a FIFO is located without reopening it" 1 \
	"$T/fifo:2: address 0xff000000000000 is not canonical"
wait

limited 20 sh -c "cat '$T/bad.lackey' | '$BIN/vmemsim' -q -"
expect "vmemsim: a rejected record of standard input is located by line" 1 \
	"<stdin>:2: address 0xff000000000000 is not canonical"

cat "$T/bad.lackey" >"$T/fifo" &
limited 20 "$BIN/vmem-walk" -t "$T/fifo" 0x1000
expect "vmem-walk: a rejected record of a FIFO is located by line" 1 \
	"$T/fifo:2: address 0xff000000000000 is not canonical"
wait

echo "hostile: $pass passed, $fail failed"
[ "$fail" = 0 ]
