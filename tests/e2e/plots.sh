#!/bin/sh
# End-to-end check of the plotting path: vmemsim's CSV, histogram and miss-ratio-curve
# output and plots/plot.sh, on a small generated Lackey trace, whole and after a warm-up. Checks that each PNG exists, is a PNG (signature and IHDR),
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
# smaller ones, and the miss-ratio curve has a slope to draw. 12,000 data records.
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

# plot.sh before the miss-ratio curves exist: a clear error naming make demo.
if sh "$ROOT/plots/plot.sh" "$OUT" >"$T/out" 2>"$T/err"; then
	bad "plot.sh fails while mrc.csv is missing"
elif grep -q "mrc.csv is missing" "$T/err" && grep -q "make demo" "$T/err"; then
	ok "plot.sh fails while mrc.csv is missing and says to run make demo"
else
	bad "plot.sh error names the missing CSV and make demo"; sed 's/^/    /' "$T/err"
fi

# The second pass over the 3000 pages hits in an STLB of 4096 entries and misses in one of
# 1536: the curve falls between those sizes.
check "vmemsim --mrc writes the miss-ratio curves" \
	"$SIM" --quiet --mode all --mrc "$OUT/mrc.csv" "$T/two-pass.lackey"
mr() { awk -F, -v e="$1" '$2 == "native" && $3 == "l2" && $7 == e { print $10 }' "$OUT/mrc.csv"; }
small=$(mr 1536)
large=$(mr 4096)
if [ -n "$small" ] && [ -n "$large" ] && awk -v a="$small" -v b="$large" 'BEGIN { exit !(b < a) }'; then
	ok "STLB miss ratio falls from 1536 entries ($small) to 4096 ($large)"
else
	bad "STLB miss ratio falls from 1536 entries to 4096, saw '$small' and '$large'"
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
for p in cycles_per_access mrc walk_refs_hist; do
	f="$OUT/plots/$p.png"
	# A plot with axes, bars or lines and text is tens of kilobytes; an empty canvas is ~2.
	if why=$(png_check "$f" 15000); then ok "$p.png: $why"; else bad "$p.png: $why"; fi
	f="$OUT/plots/$p.pdf"
	if [ "$(head -c 5 "$f" 2>/dev/null)" = "%PDF-" ] && [ "$(wc -c <"$f")" -gt 5000 ]; then
		ok "$p.pdf is a PDF"
	else
		bad "$p.pdf is a PDF"
	fi
done

# After a warm-up, the cycles plot shows the steady state's translation cycles.
"$SIM" --quiet --warmup 6000 --csv "$OUT/demo.csv" --hist "$OUT/demo-hist.csv" \
	--mrc "$OUT/mrc.csv" "$T/two-pass.lackey"
check "plot.sh draws the steady state after a warm-up" sh "$ROOT/plots/plot.sh" "$OUT"
if grep -q "wrote $OUT/plots/cycles_per_access.png" "$T/out"; then ok "steady-state cycles plot drawn"
else bad "steady-state cycles plot drawn"; fi
if why=$(png_check "$OUT/plots/cycles_per_access.png" 15000); then ok "steady cycles_per_access.png: $why"
else bad "steady cycles_per_access.png: $why"; fi

# Two runs overlaid: a smaller STLB against the default, one statistic.
"$SIM" --quiet --csv "$T/small.csv" -s tlb.l2=256:4 "$T/two-pass.lackey"
check "compare.sh overlays two runs" sh "$ROOT/plots/compare.sh" "$OUT/demo.csv" "$T/small.csv" \
	tlb.misses "$OUT/compare.png"
if why=$(png_check "$OUT/compare.png" 10000); then ok "compare.png: $why"; else bad "compare.png: $why"; fi
if [ "$(head -c 5 "$OUT/compare.pdf" 2>/dev/null)" = "%PDF-" ]; then ok "compare.pdf is a PDF"; else bad "compare.pdf is a PDF"; fi
if sh "$ROOT/plots/compare.sh" "$OUT/demo.csv" "$T/small.csv" no.such.stat "$T/x.png" 2>"$T/err"; then
	bad "compare.sh refuses an unknown statistic"
elif grep -q "has no column no.such.stat" "$T/err"; then ok "compare.sh names an unknown statistic"
else bad "compare.sh names an unknown statistic"; sed 's/^/    /' "$T/err"; fi

echo "plots: $pass passed, $fail failed"
[ "$fail" = 0 ]
