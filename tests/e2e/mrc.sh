#!/bin/sh
# End-to-end checks of vmemsim --mrc (miss-ratio curves of the TLB arrays): the CSV is
# well formed (header, field count, entries = sets x ways, misses never rise with the
# ways, miss_ratio = misses / lookups, 8 x the configured ways per array), and the row at
# the configured geometry equals vmemsim's own tlb.l2.* / tlb.l1d.* / tlb.l1i.* figures of
# the same run, in every mode, with the default and a changed STLB and L1D geometry. The
# traces map only 4 KiB pages, so the L1 4K arrays' misses are the L1 misses.
bin=${1:?usage: mrc.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
. "$(dirname "$0")/check.inc"

col() { # csv mode column-name: the value of a column in a mode's row
	awk -F, -v mode="$2" -v name="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$2 == mode { print $c[name] }' "$1"
}

mrc() { # csv mode array ways column: one field of the curve's row
	awk -F, -v mode="$2" -v arr="$3" -v w="$4" -v name="$5" '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$2 == mode && $3 == arr && $6 == w { print $c[name] }' "$1"
}

# well_formed csv: prints "ok" or the first problem found.
well_formed() {
	awk -F, '
		NR == 1 { if ($0 != "label,mode,array,page_size,sets,ways,entries,lookups,misses,miss_ratio")
				{ print "bad header: " $0; bad = 1; exit }
			  next }
		NF != 10 { print "line " NR ": " NF " fields"; bad = 1; exit }
		$5 !~ /^[0-9]+$/ || $6 !~ /^[0-9]+$/ || $7 !~ /^[0-9]+$/ || $8 !~ /^[0-9]+$/ ||
		$9 !~ /^[0-9]+$/ { print "line " NR ": not a count"; bad = 1; exit }
		$7 != $5 * $6 { print "line " NR ": entries != sets x ways"; bad = 1; exit }
		$9 > $8 { print "line " NR ": more misses than lookups"; bad = 1; exit }
		{ r = $8 ? $9 / $8 : 0; d = r - $10; if (d < 0) d = -d
		  if (d > 1e-5) { print "line " NR ": miss_ratio " $10 " != " r; bad = 1; exit } }
		{ k = $1 SUBSEP $2 SUBSEP $3
		  if (k in last) {
			if ($6 != lastw[k] + 1) { print "line " NR ": ways not consecutive"; bad = 1; exit }
			if ($9 > last[k]) { print "line " NR ": misses rise with the ways"; bad = 1; exit }
		  } else if ($6 != 1) { print "line " NR ": curve does not start at 1 way"; bad = 1; exit }
		  last[k] = $9; lastw[k] = $6 }
		END { if (!bad) print "ok" }' "$1"
}

# rows csv mode array: how many ways the curve has
rows() {
	awk -F, -v mode="$2" -v arr="$3" '$2 == mode && $3 == arr { n++ } END { print n + 0 }' "$1"
}

for trace in "$here/data/ls-head.lackey.zst" "$here/../traces/synthetic/uniform-1g.vmt.zst"; do
	name=$(basename "$trace")
	"$bin/vmemsim" -q --csv "$tmp/stats.csv" --mrc "$tmp/mrc.csv" "$trace"
	check "$name: exit status with --mrc" 0 $?
	check "$name: CSV well formed" ok "$(well_formed "$tmp/mrc.csv")"
	for mode in native nested shadow; do
		# Default geometry: STLB 128 sets x 12, L1D 4K 16 x 4, L1I 4K 16 x 8.
		check "$name $mode: STLB rows (8 x 12 ways)" 96 "$(rows "$tmp/mrc.csv" $mode l2)"
		check "$name $mode: L1D 4K rows (8 x 4 ways)" 32 "$(rows "$tmp/mrc.csv" $mode l1d.4k)"
		check "$name $mode: no row for the absent L1I 1G" 0 "$(rows "$tmp/mrc.csv" $mode l1i.1g)"
		check "$name $mode: STLB lookups = tlb.l2.lookups" \
			"$(col "$tmp/stats.csv" $mode tlb.l2.lookups)" "$(mrc "$tmp/mrc.csv" $mode l2 12 lookups)"
		check "$name $mode: STLB at 128 x 12 = tlb.l2.misses" \
			"$(col "$tmp/stats.csv" $mode tlb.l2.misses)" "$(mrc "$tmp/mrc.csv" $mode l2 12 misses)"
		check "$name $mode: L1D 4K lookups = tlb.l1d.lookups" \
			"$(col "$tmp/stats.csv" $mode tlb.l1d.lookups)" "$(mrc "$tmp/mrc.csv" $mode l1d.4k 4 lookups)"
		check "$name $mode: L1D 4K at 16 x 4 = tlb.l1d.misses" \
			"$(col "$tmp/stats.csv" $mode tlb.l1d.misses)" "$(mrc "$tmp/mrc.csv" $mode l1d.4k 4 misses)"
		check "$name $mode: L1I 4K at 16 x 8 = tlb.l1i.misses" \
			"$(col "$tmp/stats.csv" $mode tlb.l1i.misses)" "$(mrc "$tmp/mrc.csv" $mode l1i.4k 8 misses)"
	done
done

# Another geometry: the curves follow the configured sets and ways.
trace=$here/data/ls-head.lackey.zst
"$bin/vmemsim" -q -m nested --tlb l2=512:8,l1d.4k=32:2 --csv "$tmp/stats.csv" \
	--mrc "$tmp/mrc.csv" "$trace"
check "changed geometry: exit status" 0 $?
check "changed geometry: CSV well formed" ok "$(well_formed "$tmp/mrc.csv")"
check "changed geometry: STLB sets" 64 "$(mrc "$tmp/mrc.csv" nested l2 8 sets)"
check "changed geometry: STLB rows (8 x 8 ways)" 64 "$(rows "$tmp/mrc.csv" nested l2)"
check "changed geometry: STLB at 64 x 8 = tlb.l2.misses" \
	"$(col "$tmp/stats.csv" nested tlb.l2.misses)" "$(mrc "$tmp/mrc.csv" nested l2 8 misses)"
check "changed geometry: L1D 4K at 16 x 2 = tlb.l1d.misses" \
	"$(col "$tmp/stats.csv" nested tlb.l1d.misses)" "$(mrc "$tmp/mrc.csv" nested l1d.4k 2 misses)"

# --mrc does not change the simulation: the statistics are the same without it.
"$bin/vmemsim" -q --csv "$tmp/with.csv" --mrc "$tmp/mrc.csv" "$trace"
"$bin/vmemsim" -q --csv "$tmp/without.csv" "$trace"
if cmp -s "$tmp/with.csv" "$tmp/without.csv"; then check "statistics unchanged by --mrc" 0 0
else check "statistics unchanged by --mrc" same "$(diff "$tmp/without.csv" "$tmp/with.csv" | head -3)"; fi

# The label goes into the first column.
"$bin/vmemsim" -q -m native --label lbl --mrc "$tmp/mrc.csv" "$trace"
check "--label names the rows" "lbl" "$(sed -n 2p "$tmp/mrc.csv" | cut -d, -f1)"

echo "mrc: $pass passed, $fail failed"
[ "$fail" = 0 ]
