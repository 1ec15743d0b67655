#!/bin/sh
# Draws every plot from the CSVs the demo writes, as PNGs in OUT_DIR/plots/.
#
# usage: sh plots/plot.sh [OUT_DIR]      (default: out/ at the top of the tree; `make plots`)
#
#   OUT_DIR/demo.csv       vmemsim --csv     -> plots/cycles_per_access.png
#   OUT_DIR/demo-hist.csv  vmemsim --hist    -> plots/walk_refs_hist.png (all traces), and
#                                               plots/walk_refs_hist-TRACE.png for each trace
#                                               when there are several
#   OUT_DIR/sweep-tlb.csv  scripts/sweep-tlb.sh -> plots/tlb_miss_vs_size.png
#
# `make demo` writes all three CSVs. Each .gp file also runs alone; see its header.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$(dirname "$here")/out}
case $OUT in *"'"*) echo "plot.sh: OUT_DIR may not contain a single quote" >&2; exit 2 ;; esac

command -v gnuplot >/dev/null 2>&1 || {
	echo "plot.sh: gnuplot not found; install gnuplot-nox (make deps does)" >&2
	exit 1
}

missing=
for f in demo.csv demo-hist.csv sweep-tlb.csv; do
	# A header and at least one row.
	[ "$(head -n 2 "$OUT/$f" 2>/dev/null | wc -l)" = 2 ] || missing="$missing $OUT/$f"
done
if [ -n "$missing" ]; then
	for f in $missing; do echo "plot.sh: $f is missing or has no rows" >&2; done
	echo "plot.sh: run make demo first (it writes these CSVs, then draws the plots)" >&2
	exit 1
fi

mkdir -p "$OUT/plots"
# draw SCRIPT IN OUT [EXTRA]: one gnuplot run; gnuplot's own messages on failure.
draw() {
	if gnuplot -e "in='$2'; out='$3'${4:+; $4}" "$here/$1" 2>"$OUT/plots/.gnuplot.err"; then
		echo "plot.sh: wrote $3"
		rm -f "$OUT/plots/.gnuplot.err"
	else
		echo "plot.sh: gnuplot failed on $here/$1 with $2:" >&2
		cat "$OUT/plots/.gnuplot.err" >&2
		rm -f "$OUT/plots/.gnuplot.err" "$3"
		exit 1
	fi
}

draw cycles_per_access.gp "$OUT/demo.csv" "$OUT/plots/cycles_per_access.png"
draw walk_refs_hist.gp "$OUT/demo-hist.csv" "$OUT/plots/walk_refs_hist.png"
draw tlb_miss_vs_size.gp "$OUT/sweep-tlb.csv" "$OUT/plots/tlb_miss_vs_size.png"

# One histogram per trace when the file holds several.
traces=$(tail -n +2 "$OUT/demo-hist.csv" | cut -d, -f1 | awk '!seen[$0]++')
if [ "$(printf '%s\n' "$traces" | wc -l)" -gt 1 ]; then
	printf '%s\n' "$traces" | while IFS= read -r t; do
		case $t in *"'"*) echo "plot.sh: skipping trace name with a quote: $t" >&2; continue ;; esac
		name=$(printf '%s' "$t" | sed 's/\.\(zst\|gz\|xz\)$//; s/\.lackey$//; s/[^A-Za-z0-9._-]/_/g')
		draw walk_refs_hist.gp "$OUT/demo-hist.csv" "$OUT/plots/walk_refs_hist-$name.png" \
			"trace='$t'"
	done
fi
