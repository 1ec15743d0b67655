#!/bin/sh
# End-to-end checks of vmem-trace: conversion between Lackey, ChampSim and .vmt (plain and
# zstd), compressed and standard input, info and cat output, error messages with file and
# line, --skip-bad, and exit codes.
#
# usage: sh tests/e2e/trace_cli.sh BIN_DIR
# Prints one line per check ("ok"/"FAIL"), then a summary; exits non-zero on any failure.
set -u

BIN=${1:?usage: trace_cli.sh BIN_DIR}
VT="$BIN/vmem-trace"
[ -x "$VT" ] || { echo "trace_cli: $VT not found or not executable" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/vmem-trace-e2e.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	d=$1
	shift
	if "$@" >"$T/out" 2>"$T/err"; then ok "$d"; else bad "$d"; sed 's/^/    /' "$T/err"; fi
}
# has FILE TEXT: FILE contains the fixed string TEXT.
has() { grep -F -q -- "$2" "$1"; }

# A small Lackey trace as Valgrind writes it: banners, 8-digit lowercase hex.
cat >"$T/a.lk" <<'EOF'
==4242== Lackey, an example Valgrind tool
==4242== Command: ./hello
==4242==
I  0400d7d4,8
 L 04ffe4fc,8
 S 7ff000100,4
 M 00001000,2
I  0400d7d8,3
 L 0400e000,16
EOF
grep -v '^==' "$T/a.lk" >"$T/a.records"

# Lackey -> .vmt, then info and cat.
check "convert lackey to vmt" "$VT" convert "$T/a.lk" "$T/a.vmt"
"$VT" info "$T/a.vmt" >"$T/info" 2>&1
if has "$T/info" "format: vmt" && has "$T/info" "records: 6" &&
	has "$T/info" "accesses.load: 2" && has "$T/info" "accesses.ifetch: 2" &&
	has "$T/info" "accesses.store: 1" && has "$T/info" "accesses.modify: 1" &&
	has "$T/info" "pages_4k: 5" && has "$T/info" "addr_min: 0x1000" &&
	has "$T/info" "addr_max: 0x7ff000100"; then
	ok "info on vmt counts records, kinds, pages and range"
else
	bad "info on vmt counts records, kinds, pages and range"; sed 's/^/    /' "$T/info"
fi
"$VT" info "$T/a.lk" >"$T/info" 2>&1
if has "$T/info" "format: lackey" && has "$T/info" "skipped_other: 3"; then
	ok "info on lackey detects format and counts banners"
else
	bad "info on lackey detects format and counts banners"; sed 's/^/    /' "$T/info"
fi

# cat of the .vmt shows the records as text.
"$VT" cat "$T/a.vmt" >"$T/a.cat" 2>"$T/err"
if [ "$(wc -l <"$T/a.cat")" -eq 6 ] &&
	has "$T/a.cat" "store     vm=0 asid=0 addr=0x7ff000100 size=4" &&
	has "$T/a.cat" "load      vm=0 asid=0 addr=0x400e000 size=16"; then
	ok "cat prints one readable line per record"
else
	bad "cat prints one readable line per record"; sed 's/^/    /' "$T/a.cat" "$T/err"
fi

# .vmt -> Lackey reproduces the record lines byte for byte.
check "convert vmt to lackey" "$VT" convert --to lackey "$T/a.vmt" "$T/b.lk"
if cmp -s "$T/a.records" "$T/b.lk"; then ok "lackey round trip is exact"; else
	bad "lackey round trip is exact"; diff "$T/a.records" "$T/b.lk" | sed 's/^/    /'; fi

# zstd-compressed .vmt.
check "convert with --zstd" "$VT" convert --zstd "$T/a.lk" "$T/az.vmt"
"$VT" cat "$T/az.vmt" >"$T/az.cat" 2>&1
flags=$(od -An -tu2 -j10 -N2 "$T/az.vmt" | tr -d ' ')
if [ "$flags" = 1 ] && cmp -s "$T/a.cat" "$T/az.cat"; then
	ok "zstd vmt has flag bit 0 and the same records"
else
	bad "zstd vmt has flag bit 0 and the same records (flags=$flags)"
fi

# compressed inputs, decompressed by magic bytes.
for z in gzip xz zstd; do
	if ! command -v $z >/dev/null 2>&1; then
		ok "$z input (skipped: no $z command)"
		continue
	fi
	$z -c <"$T/a.lk" >"$T/a.lk.$z" 2>/dev/null
	"$VT" cat "$T/a.lk.$z" >"$T/z.cat" 2>"$T/err"
	if cmp -s "$T/a.cat" "$T/z.cat"; then ok "$z-compressed lackey input decodes identically"
	else bad "$z-compressed lackey input decodes identically"; sed 's/^/    /' "$T/err"; fi
done

# standard input and output.
if "$VT" convert - - <"$T/a.lk" 2>/dev/null | "$VT" cat - >"$T/s.cat" 2>"$T/err" &&
	cmp -s "$T/a.cat" "$T/s.cat"; then
	ok "convert from stdin to stdout, cat from stdin"
else
	bad "convert from stdin to stdout, cat from stdin"; sed 's/^/    /' "$T/err"
fi

# --vm and --asid are given to Lackey records.
"$VT" cat --vm 3 --asid 7 --limit 2 "$T/a.lk" >"$T/v.cat" 2>&1
if [ "$(wc -l <"$T/v.cat")" -eq 2 ] && has "$T/v.cat" "ifetch    vm=3 asid=7 addr=0x400d7d4 size=8"; then
	ok "--vm, --asid and --limit apply"
else
	bad "--vm, --asid and --limit apply"; sed 's/^/    /' "$T/v.cat"
fi

# a malformed line fails with FILE:LINE; --skip-bad counts it.
printf 'I  0400d7d4,8\n L 04ffe4fc,8\n L zz,8\n S 1000,4\n' >"$T/bad.lk"
"$VT" convert "$T/bad.lk" "$T/bad.vmt" >/dev/null 2>"$T/err"
st=$?
if [ $st -eq 1 ] && has "$T/err" "$T/bad.lk:3: expected hex address after 'L'"; then
	ok "malformed lackey line fails with file:line and what was expected"
else
	bad "malformed lackey line fails with file:line and what was expected (exit $st)"
	sed 's/^/    /' "$T/err"
fi
"$VT" info --skip-bad "$T/bad.lk" >"$T/info" 2>&1
if has "$T/info" "records: 3" && has "$T/info" "skipped_bad: 1"; then
	ok "--skip-bad skips and counts the malformed line"
else
	bad "--skip-bad skips and counts the malformed line"; sed 's/^/    /' "$T/info"
fi

# ChampSim: one 64-byte record, ip 0x401000, source_memory[0] 0x1000,
# destination_memory[1] 0x2000 (little-endian).
{
	printf '\000\020\100\000\000\000\000\000'          # ip
	printf '\000\000\000\000\000\000\000\000'          # branch flags, registers
	printf '\000\000\000\000\000\000\000\000'          # destination_memory[0]
	printf '\000\040\000\000\000\000\000\000'          # destination_memory[1]
	printf '\000\020\000\000\000\000\000\000'          # source_memory[0]
	printf '\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'
	printf '\000\000\000\000\000\000\000\000'          # source_memory[1..3]
} >"$T/t.champsim"
"$VT" cat "$T/t.champsim" >"$T/c.cat" 2>"$T/err"
if [ "$(wc -l <"$T/c.cat")" -eq 3 ] &&
	[ "$(sed -n 1p "$T/c.cat")" = "ifetch    vm=0 asid=0 addr=0x401000 size=4" ] &&
	[ "$(sed -n 2p "$T/c.cat")" = "load      vm=0 asid=0 addr=0x1000 size=8" ] &&
	[ "$(sed -n 3p "$T/c.cat")" = "store     vm=0 asid=0 addr=0x2000 size=8" ]; then
	ok "champsim detected by name, expands to ifetch, load, store"
else
	bad "champsim detected by name, expands to ifetch, load, store"
	sed 's/^/    /' "$T/c.cat" "$T/err"
fi
cp "$T/t.champsim" "$T/t.rec"
if "$VT" info "$T/t.rec" >"$T/out" 2>"$T/err" && has "$T/out" "format: champsim"; then
	ok "champsim detected by record shape under another name"
else
	bad "champsim detected by record shape under another name"; sed 's/^/    /' "$T/out" "$T/err"
fi
# is_branch = 2: no instruction record, so nothing recognises it.
cp "$T/t.champsim" "$T/t.bin"
printf '\002' | dd of="$T/t.bin" bs=1 seek=8 conv=notrunc 2>/dev/null
"$VT" info "$T/t.bin" >/dev/null 2>"$T/err"
st=$?
if [ $st -eq 1 ] && has "$T/err" "$T/t.bin: cannot detect trace format; use --format"; then
	ok "undetectable format fails with a hint"
else
	bad "undetectable format fails with a hint (exit $st)"; sed 's/^/    /' "$T/err"
fi
check "--from champsim reads an unnamed champsim trace" "$VT" convert --from champsim "$T/t.bin" "$T/t.vmt"
printf '\000\000\000' >>"$T/t.bin"
"$VT" info --from champsim "$T/t.bin" >/dev/null 2>"$T/err"
if has "$T/err" "$T/t.bin: offset 64: expected a 64-byte record, got 3 bytes"; then
	ok "partial champsim record fails with its byte offset"
else
	bad "partial champsim record fails with its byte offset"; sed 's/^/    /' "$T/err"
fi

# a corrupt .vmt record names its offset.
cp "$T/a.vmt" "$T/c.vmt"
printf '\007' | dd of="$T/c.vmt" bs=1 seek=48 conv=notrunc 2>/dev/null
"$VT" cat "$T/c.vmt" >/dev/null 2>"$T/err"
st=$?
if [ $st -eq 1 ] && has "$T/err" "$T/c.vmt: offset 48: expected a record type 0..6, got unknown type 7"; then
	ok "corrupt vmt record fails with its byte offset"
else
	bad "corrupt vmt record fails with its byte offset (exit $st)"; sed 's/^/    /' "$T/err"
fi

# bad usage exits 2.
"$VT" convert "$T/a.lk" >/dev/null 2>&1
st1=$?
"$VT" frobnicate >/dev/null 2>&1
st2=$?
if [ $st1 -eq 2 ] && [ $st2 -eq 2 ]; then ok "bad usage exits 2"; else
	bad "bad usage exits 2 (got $st1, $st2)"; fi

echo "trace_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
