#!/bin/sh
# End-to-end check of the plotting path: vmemsim's CSV and histogram output, the TLB size
# sweep (scripts/sweep-tlb.sh with its default geometries) and plots/plot.sh, on a small
# generated Lackey trace. Checks that each PNG exists, is a PNG (signature and IHDR),
# has a sensible size in pixels and is more than a few kilobytes, and that plot.sh names
# `make demo` when a CSV is missing.
#
# usage: sh tests/e2e/plots.sh BIN_DIR
# Prints one line per check ("ok"/"FAIL"), then a summary; exits non-zero on any failure.
set -u

BIN=${1:?usage: plots.sh BIN_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIM="$BIN/vmemsim"
[ -x "$SIM" ] || { echo "plots: $SIM not found or not executable" >&2; exit 1; }
command -v gnuplot >/dev/null 2>&1 || {
	echo "plots: gnuplot not found; install gnuplot-nox (make deps does)" >&2
	exit 1
}

T=$(mktemp -d "${TMPDIR:-/tmp}/vmem-plots-e2e.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	d=$1
	shift
	if "$@" >"$T/out" 2>"$T/err"; then ok "$d"; else bad "$d"; sed 's/^/    /' "$T/err" "$T/out"; fi
}

# A Lackey trace: 2 code pages, then two passes over 3000 data pages (one load and one
# store a page), so the second pass hits only in TLBs of 4096 entries and misses in the
# smaller ones, and the sweep has a slope to draw. 12,000 data records.
awk 'BEGIN {
	print "==1== Lackey, an example Valgrind tool"
	for (pass = 0; pass < 2; pass++)
		for (p = 0; p < 3000; p++) {
			printf "I  %08x,4\n", 4194304 + (p % 2) * 4096 + (p % 512) * 8
			printf " L %08x,8\n", 268435456 + p * 4096 + (p % 64) * 8
			printf " S %08x,8\n", 268435456 + p * 4096 + 2048
		}
}' >"$T/two-pass.lackey"

OUT="$T/out-dir"
mkdir -p "$OUT"
check "vmemsim writes CSV and walk histogram in all modes" \
	"$SIM" --quiet --mode all --csv "$OUT/demo.csv" --hist "$OUT/demo-hist.csv" "$T/two-pass.lackey"
rows=$(tail -n +2 "$OUT/demo.csv" | wc -l)
if [ "$rows" = 3 ]; then ok "demo CSV has 3 rows (native, nested, shadow)"; else bad "demo CSV has 3 rows, saw $rows"; fi

# plot.sh before the sweep exists: a clear error naming make demo.
if sh "$ROOT/plots/plot.sh" "$OUT" >"$T/out" 2>"$T/err"; then
	bad "plot.sh fails while sweep-tlb.csv is missing"
elif grep -q "sweep-tlb.csv is missing" "$T/err" && grep -q "make demo" "$T/err"; then
	ok "plot.sh fails while sweep-tlb.csv is missing and says to run make demo"
else
	bad "plot.sh error names the missing CSV and make demo"; sed 's/^/    /' "$T/err"
fi

check "sweep-tlb.sh runs every default STLB and L1 DTLB geometry" \
	sh "$ROOT/scripts/sweep-tlb.sh" "$BIN" "$T/two-pass.lackey" "$OUT/sweep-tlb.csv"
hdr=$(head -n 1 "$OUT/sweep-tlb.csv" 2>/dev/null | cut -d, -f1-7)
if [ "$hdr" = "structure,entries,mode,trace,phase,warmup,records" ]; then
	ok "sweep CSV header starts structure,entries,mode,trace,phase,warmup,records"
else
	bad "sweep CSV header starts structure,entries,mode,trace,phase,warmup,records, saw '$hdr'"
fi
rows=$(tail -n +2 "$OUT/sweep-tlb.csv" 2>/dev/null | wc -l)
# 8 STLB sizes + 5 L1 DTLB sizes, in 2 modes.
if [ "$rows" = 26 ]; then ok "sweep CSV has 26 rows"; else bad "sweep CSV has 26 rows, saw $rows"; fi
# The STLB miss rate falls from 64 to 4096 entries on this trace (second pass hits).
mr() { awk -F, -v s="$1" -v e="$2" -v m=native 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$1 == s && $2 == e && $3 == m { print $c["tlb.miss_rate"] }' "$OUT/sweep-tlb.csv"; }
small=$(mr tlb.l2 64)
large=$(mr tlb.l2 4096)
if [ -n "$small" ] && [ -n "$large" ] && awk -v a="$small" -v b="$large" 'BEGIN { exit !(b < a) }'; then
	ok "STLB miss rate falls from 64 entries ($small) to 4096 ($large)"
else
	bad "STLB miss rate falls from 64 entries to 4096, saw '$small' and '$large'"
fi

check "plot.sh draws every plot" sh "$ROOT/plots/plot.sh" "$OUT"

# png_check FILE MIN_BYTES: signature, IHDR chunk, width and height within reason.
png_check() {
	f=$1
	[ -f "$f" ] || { echo "missing"; return 1; }
	sig=$(head -c 16 "$f" | od -An -tx1 | tr -d ' \n')
	[ "$sig" = "89504e470d0a1a0a0000000d49484452" ] || { echo "not a PNG (starts $sig)"; return 1; }
	size=$(wc -c <"$f")
	[ "$size" -ge "$2" ] || { echo "only $size bytes"; return 1; }
	wh=$(od -An -tu1 -j 16 -N 8 "$f" | tr -s ' \n' '  ')
	# shellcheck disable=SC2086 # split the eight byte values into $1..$8
	set -- $wh
	w=$(($1 * 16777216 + $2 * 65536 + $3 * 256 + $4))
	h=$(($5 * 16777216 + $6 * 65536 + $7 * 256 + $8))
	if [ "$w" -lt 600 ] || [ "$w" -gt 4000 ] || [ "$h" -lt 400 ] || [ "$h" -gt 4000 ]; then
		echo "odd size ${w}x$h"
		return 1
	fi
	echo "PNG ${w}x$h, $size bytes"
}
for p in cycles_per_access tlb_miss_vs_size walk_refs_hist; do
	f="$OUT/plots/$p.png"
	# A plot with axes, bars or lines and text is tens of kilobytes; an empty canvas is ~2.
	if why=$(png_check "$f" 15000); then ok "$p.png: $why"; else bad "$p.png: $why"; fi
done

echo "plots: $pass passed, $fail failed"
[ "$fail" = 0 ]
