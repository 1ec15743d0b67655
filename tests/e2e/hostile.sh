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
BIN=$(cd "$BIN" && pwd) || exit 1
DATA=$(cd "$(dirname "$0")/../data" && pwd) || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/vmem-hostile.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

# Sanitizer builds reserve terabytes of shadow address space: no ulimit -v for them
# (MEMLIMIT empty also marks a sanitizer build below).
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

# ---- converting a file onto itself, and outputs that appear whole or not at all ------
zstd -dc "$DATA/ls-head.lackey.zst" >"$T/big.lackey"
cp "$T/big.lackey" "$T/big.orig"
mkdir "$T/conv"
limited 20 sh -c "cd '$T' && exec '$BIN/vmem-trace' convert big.lackey ./big.lackey"
expect "vmem-trace convert X ./X is refused" 2 "input and output are the same file"
cmp -s "$T/big.lackey" "$T/big.orig" && ok "... and X is intact" || bad "... and X is intact"
ln "$T/big.lackey" "$T/conv/link.lackey"
limited 20 "$BIN/vmem-trace" convert --to lackey "$T/big.lackey" "$T/conv/link.lackey"
expect "vmem-trace convert onto a hard link of the input is refused" 2 \
	"input and output are the same file"
rm "$T/conv/link.lackey"
limited 20 sh -c "'$BIN/vmem-trace' convert - '$T/big.lackey' <'$T/big.lackey'"
expect "vmem-trace convert - X < X is refused" 2 "input and output are the same file"
cmp -s "$T/big.lackey" "$T/big.orig" && ok "... and X is intact" || bad "... and X is intact"

# A conversion that fails at line 2 leaves an existing target as it was and no stray file.
echo "previous contents" >"$T/conv/out.vmt"
printf ' L 00001000,8\n L zz\n' >"$T/badfmt.lackey"
limited 20 "$BIN/vmem-trace" convert "$T/badfmt.lackey" "$T/conv/out.vmt"
expect "vmem-trace convert of a malformed trace fails" 1 "badfmt.lackey:2: expected hex address"
[ "$(cat "$T/conv/out.vmt")" = "previous contents" ] && ok "... and the old target is intact" ||
	bad "... and the old target is intact"
limited 20 "$BIN/vmem-trace" convert --to lackey "$T/badfmt.lackey" "$T/conv/new.lackey"
expect "vmem-trace convert --to lackey of a malformed trace fails" 1 "expected hex address"
[ "$(ls -A "$T/conv")" = out.vmt ] && ok "... and leaves no new or temporary file" ||
	{ bad "... and leaves no new or temporary file"; ls -A "$T/conv" | sed 's/^/    /'; }
limited 20 "$BIN/vmem-trace" convert --zstd "$T/big.lackey" "$T/conv/out.vmt"
expect "vmem-trace convert replaces the target on success" 0 ""
limited 20 "$BIN/vmem-trace" info "$T/conv/out.vmt"
expect "... with a readable .vmt" 0 ""
[ "$(ls -A "$T/conv")" = out.vmt ] && ok "... and no temporary file" || bad "... and no temporary file"
limited 20 "$BIN/vmem-gen" -o "$T/conv/gen.vmt" count=1000
expect "vmem-gen writes its output through a temporary file" 0 ""
[ "$(ls -A "$T/conv" | tr '\n' ' ')" = "gen.vmt out.vmt " ] && ok "... and leaves none behind" ||
	bad "... and leaves none behind"
limited 20 "$BIN/vmem-gen" -o "$T/nodir/gen.vmt" count=1000
expect "vmem-gen into a missing folder fails" 1 "$T/nodir/gen.vmt: cannot create"

# ---- many address spaces: the time is linear in the trace -----------------------------
# vmt_records FILE KIND N: a .vmt trace of N records, record i being KIND
# (switch_as: a context switch to address space i of VM 0; switch_vm: a switch to VM i).
vmt_records() {
	python3 - "$@" <<'PY'
import struct, sys
path, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, 'wb') as f:
    f.write(b"\x89VMT\r\n\x1a\n" + struct.pack('<HHI', 1, 0, 32) + bytes(16))
    for i in range(n):
        if kind == 'switch_as':
            f.write(struct.pack('<BBHIQ', 1, 0, 0, i, 0))
        else:
            f.write(struct.pack('<BBHIQ', 2, 0, i % 65536, 0, 0))
PY
}
# (Before the index, 50000 took 28 s native and over 120 s shadow; now about 1 and 2 s.
# Sanitizer builds run several times slower: they check a smaller count for leaks only.)
NAS=50000
[ -z "$MEMLIMIT" ] && NAS=20000
vmt_records "$T/many-as.vmt" switch_as $NAS
for mode in native nested shadow; do
	limited 30 "$BIN/vmemsim" -q -m $mode -s limit.aspaces=$NAS "$T/many-as.vmt"
	expect "vmemsim -m $mode: $NAS address spaces in linear time" 0 ""
done

# ---- huge VM and address-space counts: bounded by limit.vms and limit.aspaces --------
vmt_records "$T/vm64k.vmt" switch_vm 65536
limited 30 "$BIN/vmemsim" -q "$T/vm64k.vmt"
expect "vmemsim: 65536 SWITCH_VM records stop at limit.vms" 1 \
	"vm64k.vmt: offset 1056: cannot create VM 64: limit.vms=64 VMs exist already"
vmt_records "$T/as64k.vmt" switch_as 65536
limited 30 "$BIN/vmemsim" -q "$T/as64k.vmt"
expect "vmemsim: 65536 address spaces stop at limit.aspaces" 1 \
	"as64k.vmt: offset 65568: cannot create address space 4096 of VM 0: limit.aspaces=4096"
limited 30 "$BIN/vmem-walk" -t "$T/vm64k.vmt" 0x1000
expect "vmem-walk: the same bound, located in the trace" 1 \
	"vm64k.vmt: offset 1056: cannot create VM 64: limit.vms=64"

# ---- empty traces, blank lines, special files, a directory as configuration ----------
: >"$T/empty.lackey"
printf '\n\n\r\n\n' >"$T/blank.lackey"
for tr in empty.lackey blank.lackey; do
	limited 20 "$BIN/vmemsim" -q "$T/$tr"
	expect "vmemsim: $tr is an error" 1 "$T/$tr: no trace records"
	limited 20 "$BIN/vmem-walk" -t "$T/$tr" 0x1000
	expect "vmem-walk -t: $tr is an error" 1 "$T/$tr: no trace records"
	for cmd in info cat; do
		limited 20 "$BIN/vmem-trace" $cmd "$T/$tr"
		expect "vmem-trace $cmd: $tr is an error" 1 "$T/$tr: no trace records"
	done
	limited 20 "$BIN/vmem-trace" convert "$T/$tr" "$T/conv/from-empty.vmt"
	expect "vmem-trace convert: $tr is an error" 1 "$T/$tr: no trace records"
	[ ! -e "$T/conv/from-empty.vmt" ] && ok "... and writes nothing" || bad "... and writes nothing"
done
limited 20 "$BIN/vmemsim" -q /dev/null
expect "vmemsim: /dev/null is an empty trace" 1 "/dev/null: no trace records"
limited 20 sh -c "'$BIN/vmem-trace' info - </dev/null"
expect "vmem-trace info: empty standard input is an error" 1 "<stdin>: no trace records"
limited 20 "$BIN/vmemsim" -q "$T"
expect "vmemsim: a directory as trace" 1 "$T: read error: Is a directory"
for prog in vmemsim vmem-walk; do
	limited 20 "$BIN/$prog" --config "$T" "$T/bad.lackey"
	expect "$prog --config DIRECTORY is an error" 2 \
		"$T: is a directory; expected a file of KEY=VALUE lines"
done
printf 'mode=native\npcid=1\0\n' >"$T/nul.conf"
limited 20 "$BIN/vmemsim" --config "$T/nul.conf" "$T/bad.lackey"
expect "vmemsim --config with a NUL byte names it" 2 "$T/nul.conf:2: NUL byte"

# ---- results that cannot be written: /dev/full, an unwritable place --------------------
printf ' L 00001000,8\n S 00002000,8\n' >"$T/good.lackey"
full() {
	d=$1
	shift
	limited 20 sh -c '"$@" >/dev/full' sh "$@"
	expect "$d" 1 "<stdout>: write error: No space left on device"
}
full "vmemsim: the table to /dev/full" "$BIN/vmemsim" "$T/good.lackey"
full "vmemsim --help to /dev/full" "$BIN/vmemsim" --help
for prog in vmemsim vmem-walk vmem-gen vmem-trace; do
	full "$prog --version to /dev/full" "$BIN/$prog" --version
done
full "vmem-walk: the walk to /dev/full" "$BIN/vmem-walk" 0x1000
full "vmem-walk -o json to /dev/full" "$BIN/vmem-walk" -o json 0x1000
full "vmem-trace info to /dev/full" "$BIN/vmem-trace" info "$T/good.lackey"
full "vmem-trace cat to /dev/full" "$BIN/vmem-trace" cat "$T/good.lackey"
full "vmem-trace convert to standard output on /dev/full" "$BIN/vmem-trace" convert \
	--to lackey "$T/good.lackey" -
full "vmem-gen to standard output on /dev/full" "$BIN/vmem-gen" -o - count=10
full "vmem-gen --format lackey to standard output on /dev/full" "$BIN/vmem-gen" \
	--format lackey -o - count=10
for opt in --csv --json --hist --mrc; do
	limited 20 "$BIN/vmemsim" -q $opt /dev/full "$T/good.lackey"
	expect "vmemsim $opt /dev/full" 2 "/dev/full: write failed: No space left on device"
	limited 20 "$BIN/vmemsim" -q $opt "$T/nodir/x" "$T/good.lackey"
	expect "vmemsim $opt into a missing folder" 2 "$T/nodir/x: cannot create"
done
# --csv-append reads the rows of a regular file only: /dev/zero never ends, a FIFO blocks.
limited 20 "$BIN/vmemsim" -q --csv-append /dev/full "$T/good.lackey"
expect "vmemsim --csv-append /dev/full" 2 "/dev/full: write failed: No space left on device"
limited 20 "$BIN/vmemsim" -q --csv-append /dev/zero "$T/good.lackey"
expect "vmemsim --csv-append /dev/zero is written, not read" 0 ""
rm -f "$T/append.fifo"
mkfifo "$T/append.fifo"
# The shell holds the FIFO open (read-write: the open does not wait for a writer), so what
# vmemsim writes stays in the pipe however late a reader comes; its few rows fit in the
# pipe's buffer. A background reader could open it only after vmemsim had closed it on a
# loaded machine, and the rows would be lost.
exec 3<>"$T/append.fifo"
limited 20 "$BIN/vmemsim" -q --csv-append "$T/append.fifo" "$T/good.lackey"
expect "vmemsim --csv-append FIFO is written, not read" 0 ""
timeout 5 head -n 1 <&3 >"$T/append.csv"
exec 3<&-
if grep -q '^trace,mode,phase,' "$T/append.csv"; then
	ok "vmemsim --csv-append FIFO: the header and rows come out"
else
	bad "vmemsim --csv-append FIFO: the header and rows come out"
fi
limited 20 "$BIN/vmem-trace" convert "$T/good.lackey" /dev/full
expect "vmem-trace convert to /dev/full" 1 "/dev/full: write error: No space left on device"
limited 20 "$BIN/vmem-gen" -o /dev/full count=10
expect "vmem-gen -o /dev/full" 1 "/dev/full: write error: No space left on device"

# ---- labels with commas, quotes and bytes that are not UTF-8 ---------------------------
label=$(printf 'a,"b"\377\303\251')
limited 20 "$BIN/vmemsim" -q -m native --label "$label" --csv "$T/l.csv" --json "$T/l.json" \
	--hist "$T/l.hist" --mrc "$T/l.mrc" "$T/good.lackey"
expect "vmemsim with an awkward --label" 0 ""
if python3 - "$T" <<'PY'
import csv, json, sys
t = sys.argv[1]
want = 'a,"b"\udcff\u00e9'        # as Python decodes the argument bytes
for name in ('l.csv', 'l.hist', 'l.mrc'):
    with open(f'{t}/{name}', encoding='utf-8', errors='surrogateescape', newline='') as f:
        rows = list(csv.reader(f))
    assert all(r[0] == want for r in rows[1:]) and len(rows) > 1, (name, rows[1])
    assert len({len(r) for r in rows}) == 1, name
with open(f'{t}/l.json', 'rb') as f:
    doc = json.loads(f.read().decode('utf-8'))   # strict: valid UTF-8 only
assert doc['traces'][0]['label'] == 'a,"b"\ufffd\u00e9', doc['traces'][0]['label']
PY
then ok "... CSV fields quoted as RFC 4180 says, JSON valid UTF-8"
else bad "... CSV fields quoted as RFC 4180 says, JSON valid UTF-8"; fi

# ---- a configuration too large for this host is blamed on the configuration -----------
# (Only under the memory limit: that is what makes the allocations fail.)
if [ -n "$MEMLIMIT" ]; then
	limited 20 "$BIN/vmemsim" -q -s guest.mem=64t "$T/good.lackey"
	expect "vmemsim: guest.mem beyond the host is a configuration error" 2 \
		"configuration too large for this host: out of host memory creating the native machine"
	limited 20 "$BIN/vmem-walk" -s host.mem=64t 0x1000
	expect "vmem-walk: host.mem beyond the host is a configuration error" 2 \
		"configuration too large for this host"
	limited 30 "$BIN/vmemsim" -q -m native -s limit.vms=65536 -s guest.mem=16t "$T/vm64k.vmt"
	expect "vmemsim: VMs beyond the host's memory: the error says why" 1 \
		"out of host memory for its frame map of guest.mem=16t and its tables"
fi

echo "hostile: $pass passed, $fail failed"
[ "$fail" = 0 ]
