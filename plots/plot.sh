#!/bin/sh
# Draws every plot from the CSVs the demo writes, as PNG and PDF in OUT_DIR/plots/.
#
# usage: sh plots/plot.sh [OUT_DIR]      (default: out/ at the top of the tree; `make plots`)
#
#   OUT_DIR/demo.csv       vmemsim --csv   -> plots/cycles_per_access.{png,pdf}: the
#                                             steady-state rows after a warm-up (translation
#                                             cycles only), else the whole replay
#   OUT_DIR/mrc.csv        vmemsim --mrc   -> plots/mrc.{png,pdf}, or plots/mrc-TRACE.{png,pdf}
#                                             for each trace when there are several
#   OUT_DIR/demo-hist.csv  vmemsim --hist  -> plots/walk_refs_hist.{png,pdf} (all traces added
#                                             up), and plots/walk_refs_hist-traces.{png,pdf}
#                                             with a panel per trace when there are several
#   OUT_DIR/host-series.csv  vmem-host --series -> plots/host_memory.{png,pdf}: each VM's
#                                             memory by page state over time
#   OUT_DIR/host.csv       vmem-host --csv -> plots/savings.{png,pdf}: memory given back per
#                                             VM by mechanism
#   OUT_DIR/policies.csv   the demo         -> plots/policies.{png,pdf}: swap policies compared
#   OUT_DIR/hugepages.csv  the demo         -> plots/hugepages.{png,pdf}: 4 KiB against 2 MiB
#                                             host pages, with and without overcommit
#                                             (these four are drawn when their file is there)
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
for f in demo.csv demo-hist.csv mrc.csv; do
	# A header and at least one row.
	[ "$(head -n 2 "$OUT/$f" 2>/dev/null | wc -l)" = 2 ] || missing="$missing $OUT/$f"
done
if [ -n "$missing" ]; then
	for f in $missing; do echo "plot.sh: $f is missing or has no rows" >&2; done
	echo "plot.sh: run make demo first (it writes these CSVs, then draws the plots)" >&2
	exit 1
fi

mkdir -p "$OUT/plots"
# Plots of an earlier run (other traces) would look like this run's.
rm -f "$OUT"/plots/*.png "$OUT"/plots/*.pdf
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
# pdf OUT.png: the PDF beside it, drawn by the same script with the pdfcairo terminal.
pdf_of() { printf '%s\n' "$1" | sed 's/\.png$/.pdf/'; }
# file_name LABEL: a trace label as a file-name part.
file_name() { printf '%s' "$1" | sed 's/\.\(zst\|gz\|xz\)$//; s/\.lackey$//; s/\.vmt$//; s/[^A-Za-z0-9._-]/_/g'; }

# Cycles per access: after a warm-up the steady-state rows, translation cycles only (the
# accesses themselves are the same in every mode); else every row as vmemsim wrote it.
warmup=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$c["phase"] == "steady" { print $c["warmup"]; exit }' "$OUT/demo.csv")
if [ -n "$warmup" ]; then
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; print; next }
		$c["phase"] == "steady"' "$OUT/demo.csv" >"$OUT/plots/.steady.csv"
	opts="what='translation'; subtitle='steady state: each trace after its first $warmup records (vmemsim --warmup $warmup)'"
	draw cycles_per_access.gp "$OUT/plots/.steady.csv" "$OUT/plots/cycles_per_access.png" "$opts"
	draw cycles_per_access.gp "$OUT/plots/.steady.csv" "$OUT/plots/cycles_per_access.pdf" "$opts; pdf=1"
	rm -f "$OUT/plots/.steady.csv"
else
	draw cycles_per_access.gp "$OUT/demo.csv" "$OUT/plots/cycles_per_access.png"
	draw cycles_per_access.gp "$OUT/demo.csv" "$OUT/plots/cycles_per_access.pdf" "pdf=1"
fi

# Miss-ratio curves: one figure per trace (mrc.gp writes the PDF beside the PNG).
labels=$(tail -n +2 "$OUT/mrc.csv" | cut -d, -f1 | awk '!seen[$0]++')
if [ "$(printf '%s\n' "$labels" | wc -l)" -gt 1 ]; then
	printf '%s\n' "$labels" | while IFS= read -r t; do
		case $t in *"'"*) echo "plot.sh: skipping trace name with a quote: $t" >&2; continue ;; esac
		draw mrc.gp "$OUT/mrc.csv" "$OUT/plots/mrc-$(file_name "$t").png" "trace='$t'"
	done
else
	draw mrc.gp "$OUT/mrc.csv" "$OUT/plots/mrc.png"
fi

draw walk_refs_hist.gp "$OUT/demo-hist.csv" "$OUT/plots/walk_refs_hist.png"
draw walk_refs_hist.gp "$OUT/demo-hist.csv" "$OUT/plots/walk_refs_hist.pdf" "pdf=1"
# One panel per trace, in one figure, when the file holds several.
traces=$(tail -n +2 "$OUT/demo-hist.csv" | cut -d, -f1 | awk '!seen[$0]++')
if [ "$(printf '%s\n' "$traces" | wc -l)" -gt 1 ]; then
	draw walk_refs_hist.gp "$OUT/demo-hist.csv" "$OUT/plots/walk_refs_hist-traces.png" "panels=1"
	draw walk_refs_hist.gp "$OUT/demo-hist.csv" "$OUT/plots/walk_refs_hist-traces.pdf" "panels=1; pdf=1"
fi

# The overcommit scenario's plots, each when its CSV is there (the demo writes them all).
has_rows() { [ "$(head -n 2 "$OUT/$1" 2>/dev/null | wc -l)" = 2 ]; }
for pair in host-series.csv:host_memory host.csv:savings policies.csv:policies \
	hugepages.csv:hugepages; do
	csv=${pair%%:*}; gp=${pair#*:}
	if has_rows "$csv"; then
		draw "$gp.gp" "$OUT/$csv" "$OUT/plots/$gp.png"
		draw "$gp.gp" "$OUT/$csv" "$OUT/plots/$gp.pdf" "pdf=1"
	fi
done
