#!/bin/sh
# End-to-end checks of vmem-capture: snapshots of live processes this script starts (a
# sleep, and a python3 holding identical and zero pages), what vmem-trace info and cat
# say about them, several processes as several VMs, vmemsim replaying CONTENT and FREE
# records, and the errors (no such process, not a process id, permission denied).
#
# usage: sh tests/e2e/capture.sh BIN_DIR
bin=${1:?usage: capture.sh BIN_DIR}
. "$(dirname "$0")/check.inc"
VC=$bin/vmem-capture
VT=$bin/vmem-trace

info() { # file key: the value of one line of vmem-trace info
	"$VT" info "$1" | sed -n "s/^$2: //p"
}

pids=
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

sleep 60 &
s1=$!
sleep 60 &
s2=$!
pids="$s1 $s2"
# A child runs the shell until it has exec'd sleep: wait for that (5 s at most).
for p in $s1 $s2; do
	n=0
	while [ "$(cat /proc/$p/comm 2>/dev/null)" != sleep ] && [ $n -lt 100 ]; do
		sleep 0.05; n=$((n + 1))
	done
done

# One process.
"$VC" -o "$tmp/s.vmt" "$s1" 2>"$tmp/err"
check "capture of a sleep exits 0" 0 $?
check "the summary names the process" 1 "$(grep -c "process $s1 (sleep) as vm 0: [1-9][0-9]* pages" "$tmp/err")"
pages=$(info "$tmp/s.vmt" content.pages)
check "content.pages > 0" yes "$([ "${pages:-0}" -gt 0 ] && echo yes)"
check "one CONTENT record a page" "$pages" "$(info "$tmp/s.vmt" records.content)"
check "nothing but CONTENT records" "$pages" "$(info "$tmp/s.vmt" records)"
check "cat: every line a content record of vm 0" "$pages" \
	"$("$VT" cat "$tmp/s.vmt" | grep -c '^content   vm=0 asid=0 addr=0x[0-9a-f]*000 hash=0x[0-9a-f]\{16\} class=[0-9]')"
classes=$(info "$tmp/s.vmt" content.classes)
check "16 class counts adding up to the pages" "16 $pages" \
	"$(echo "$classes" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print NF, s }')"

# Options after the PID, as in "vmem-capture PID -o FILE".
"$VC" "$s1" -q -o "$tmp/after.vmt"
check "options after the PID" "0 yes" \
	"$? $([ "$(info "$tmp/after.vmt" content.pages)" -gt 0 ] 2>/dev/null && echo yes)"

# Compressed output and --max-pages.
"$VC" -q --max-pages 10 -o "$tmp/s10.vmt.zst" "$s1" 2>"$tmp/err"
check "--max-pages 10 with .zst output exits 0 quietly" "0 0" "$? $(wc -c <"$tmp/err")"
check "--max-pages 10 gives 10 pages" 10 "$(info "$tmp/s10.vmt.zst" content.pages)"

# Two processes of one program: two VMs sharing pages (the program's and libc's).
"$VC" -q --vm 5 --asid 7 -o "$tmp/two.vmt" "$s1" "$s2"
check "two processes exit 0" 0 $?
check "the first as vm 5, the second as vm 6" "5 6" \
	"$("$VT" cat "$tmp/two.vmt" | sed -n 's/^content   vm=\([0-9]*\) asid=7 .*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//')"
across=$(info "$tmp/two.vmt" content.pages_shared_across)
check "two sleeps share pages across VMs" yes "$([ "${across:-0}" -gt 0 ] && echo yes)"

# Known content: 64 identical pages and 32 zero pages that were written.
if command -v python3 >/dev/null 2>&1; then
	python3 -c '
import mmap, os, sys, time
m = mmap.mmap(-1, 96 * 4096)
m[:64 * 4096] = bytes(range(256)) * 16 * 64
for i in range(64, 96):
    m[i * 4096] = 1
    m[i * 4096] = 0
open(sys.argv[1], "w").write("%d\n" % os.getpid())
time.sleep(60)
' "$tmp/py.ready" &
	pids="$pids $!"
	i=0
	while [ ! -s "$tmp/py.ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	py=$(cat "$tmp/py.ready" 2>/dev/null)
	"$VC" -q -o "$tmp/py.vmt" "$py"
	check "capture of python3 exits 0" 0 $?
	shared=$(info "$tmp/py.vmt" content.pages_shared)
	zero=$(info "$tmp/py.vmt" content.pages_zero)
	check "the 64 identical pages share a hash" yes "$([ "${shared:-0}" -ge 96 ] && echo yes)"
	check "the 32 written zero pages are zero pages" yes "$([ "${zero:-0}" -ge 32 ] && echo yes)"
	check "duplicates = pages - distinct hashes" \
		"$(( $(info "$tmp/py.vmt" content.pages) - $(info "$tmp/py.vmt" content.hashes_distinct) ))" \
		"$(info "$tmp/py.vmt" content.pages_duplicate)"
else
	echo "skip python3 checks (no python3)"
fi

# vmemsim replays a snapshot: one store a page, each a first touch.
"$bin/vmemsim" -q -m native --csv "$tmp/s.csv" "$tmp/s.vmt"
check "vmemsim replays the snapshot" 0 $?
col() { awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	{ print $c[name] }' "$tmp/s.csv"; }
check "vmemsim: records = pages" "$pages" "$(col records)"
check "vmemsim: guest faults = pages" "$pages" "$(col faults.guest)"

# CONTENT, FREE of its page, CONTENT again: the page is mapped twice.
{
	printf '\211VMT\r\n\032\n\002\000\000\000\040\000\000\000'; head -c 16 /dev/zero
	printf '\065\001\000\000\000\000\000\000\000\020\000\000\000\000\000\000'; head -c 8 /dev/zero
	printf '\006\000\000\000\000\000\000\000\000\020\000\000\000\000\000\000'
	printf '\000\020\000\000\000\000\000\000'
	printf '\065\000\000\000\000\000\000\000\000\020\000\000\000\000\000\000'
	printf '\001\002\003\004\005\006\007\010'
} >"$tmp/cf.vmt"
check "vmem-trace cat of CONTENT, FREE, CONTENT" \
	"content   vm=0 asid=0 addr=0x1000 hash=0x0000000000000000 class=3 zero|free      vm=0 asid=0 addr=0x1000 len=0x1000|content   vm=0 asid=0 addr=0x1000 hash=0x0807060504030201 class=3" \
	"$("$VT" cat "$tmp/cf.vmt" 2>&1 | paste -sd'|')"
for mode in native nested shadow; do
	"$bin/vmemsim" -q -m $mode --csv "$tmp/cf.csv" "$tmp/cf.vmt"
	check "vmemsim $mode: CONTENT after FREE faults again" "3 2 2" \
		"$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
			{ print $c["records"], $c["accesses"], $c["faults.guest"] }' "$tmp/cf.csv")"
done

# Errors: one line, non-zero exit.
"$VC" -o "$tmp/x.vmt" 2147483647 2>"$tmp/err"
check "no such process: exit 1" "1 vmem-capture: no such process 2147483647" "$? $(cat "$tmp/err")"
check "... and no output file" no "$([ -e "$tmp/x.vmt" ] && echo yes || echo no)"
"$VC" -o "$tmp/x.vmt" 12x 2>"$tmp/err"
check "bad PID: exit 2" "2 1" "$? $(grep -c 'vmem-capture: 12x is not a process id' "$tmp/err")"
"$VC" -o "$tmp/x.vmt" 2>"$tmp/err"
check "no PID: exit 2" 2 $?
"$VC" -o "$tmp/x.vmt" "$s1" 2147483647 2>"$tmp/err"
check "a good then a missing process: exit 1, no output" "1 no" \
	"$? $([ -e "$tmp/x.vmt" ] && echo yes || echo no)"
# Permission denied: another user's process.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$VC" -o /dev/null "$s1" 2>"$tmp/err"
	check "permission denied names the file: exit 1" \
		"1 vmem-capture: /proc/$s1/maps: permission denied" "$? $(cat "$tmp/err")"
elif [ "$(id -u)" != 0 ]; then
	"$VC" -o /dev/null 1 2>"$tmp/err"
	check "permission denied names the file: exit 1" \
		"1 1" "$? $(grep -c "^vmem-capture: /proc/1/[a-z]*: permission denied$" "$tmp/err")"
fi

echo "capture: $pass passed, $fail failed"
[ "$fail" = 0 ]
