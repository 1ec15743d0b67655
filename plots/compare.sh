#!/bin/sh
# Overlays two vmemsim runs: one statistic of run A beside the same statistic of run B, for
# every trace and mode the two CSVs share (the steady-state rows when a run had a warm-up),
# as clustered bars in a PNG and a PDF.
#
# usage: sh plots/compare.sh A.csv B.csv [STAT] [OUT.png]
#        STAT: a column of vmemsim --csv (default cycles.per_access; vmemsim --help-stats
#        lists them); OUT.png defaults to compare.png, the PDF goes beside it.
#        LABEL_A and LABEL_B name the runs in the key (default: the file names).
set -eu

[ $# -ge 2 ] && [ $# -le 4 ] || { echo "usage: compare.sh A.csv B.csv [STAT] [OUT.png]" >&2; exit 2; }
A=$1 B=$2 STAT=${3:-cycles.per_access} OUT=${4:-compare.png}
for f in "$A" "$B"; do
	[ -r "$f" ] || { echo "compare.sh: cannot read $f" >&2; exit 1; }
done
case $OUT in *.png) ;; *) echo "compare.sh: OUT must end in .png (the PDF is written beside it)" >&2; exit 2 ;; esac
case "$A$B$OUT${LABEL_A:-}${LABEL_B:-}" in *"'"*) echo "compare.sh: names may not contain a single quote" >&2; exit 2 ;; esac
command -v gnuplot >/dev/null 2>&1 || { echo "compare.sh: gnuplot not found; install gnuplot-nox" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmem-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# rows FILE: "trace/mode value" for the steady (or whole) rows that have STAT.
rows() {
	awk -F, -v stat="$STAT" -v file="$1" '
		NR == 1 {
			for (i = 1; i <= NF; i++) c[$i] = i
			if (!(stat in c)) { printf "compare.sh: %s has no column %s\n", file, stat > "/dev/stderr"; exit 1 }
			next
		}
		$c["phase"] == "steady" || $c["phase"] == "whole" {
			t = $c["trace"]; gsub(/"/, "", t); sub(/\.(zst|gz|xz)$/, "", t); sub(/\.(lackey|vmt)$/, "", t)
			print t "/" $c["mode"], $c[stat]
		}' "$1"
}
rows "$A" >"$tmp/a"
rows "$B" >"$tmp/b"
awk 'NR == FNR { a[$1] = $2; next } ($1 in a) { print $1, a[$1], $2 }' "$tmp/a" "$tmp/b" >"$tmp/ab"
[ -s "$tmp/ab" ] || { echo "compare.sh: $A and $B share no trace and mode" >&2; exit 1; }

la=${LABEL_A:-$(basename "$A")}
lb=${LABEL_B:-$(basename "$B")}
for term in png pdf; do
	o=$OUT
	[ $term = pdf ] && o=$(printf '%s\n' "$OUT" | sed 's/\.png$/.pdf/')
	gnuplot -e "in='$tmp/ab'; out='$o'; stat='$STAT'; la='$la'; lb='$lb'; pdf=$([ $term = pdf ] && echo 1 || echo 0)" \
		"$here/compare.gp"
	echo "compare.sh: wrote $o"
done
