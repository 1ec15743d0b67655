#!/bin/sh
# Sweeps the size of the second-level TLB (tlb.l2, the STLB) and of the L1 data TLB for
# 4 KiB pages (tlb.l1d.4k) over one trace, in native and nested mode, one vmemsim run per
# (structure, size, mode); every other key keeps its default.
#
# usage: sh scripts/sweep-tlb.sh BIN_DIR TRACE OUT.csv
#
# OUT.csv has one row per run: structure,entries,mode, then vmemsim's --csv columns with
# its own mode column left out (it would repeat the third column):
#   structure  the key swept: tlb.l2 or tlb.l1d.4k
#   entries    its number of entries (the ways are in the geometry lists below)
#   mode       native or nested
#   trace,records,accesses,...  as vmemsim --csv writes them
# plots/tlb_miss_vs_size.gp draws it.
#
# Environment (all optional):
#   SWEEP_LIMIT  replay at most this many records of the trace (vmemsim --limit; 0 or
#                unset: all of it)
#   SWEEP_MODES  modes to run [native nested]
#   SWEEP_L2     tlb.l2 geometries, ENTRIES:WAYS [64:4 128:4 256:8 512:8 1024:8 1536:12
#                2048:16 4096:16]
#   SWEEP_L1D    tlb.l1d.4k geometries [16:4 32:4 64:4 128:4 256:4]
#   SWEEP_JOBS   runs at a time [the number of CPUs]
# Every geometry needs a power-of-two number of sets (ENTRIES / WAYS); vmemsim rejects
# the others and the sweep stops with its message.
set -eu

usage="usage: sweep-tlb.sh BIN_DIR TRACE OUT.csv"
[ $# -eq 3 ] || { echo "$usage" >&2; exit 2; }
SIM="$1/vmemsim"
TRACE=$2
OUT=$3
[ -x "$SIM" ] || { echo "sweep-tlb: $SIM not found or not executable (make progs builds it)" >&2; exit 1; }
[ -r "$TRACE" ] || { echo "sweep-tlb: cannot read trace $TRACE" >&2; exit 1; }

MODES=${SWEEP_MODES:-native nested}
L2=${SWEEP_L2:-64:4 128:4 256:8 512:8 1024:8 1536:12 2048:16 4096:16}
L1D=${SWEEP_L1D:-16:4 32:4 64:4 128:4 256:4}
JOBS=${SWEEP_JOBS:-$(nproc 2>/dev/null || echo 1)}
LIMIT=
case ${SWEEP_LIMIT:-0} in
0) ;;
*[!0-9]*) echo "sweep-tlb: SWEEP_LIMIT must be a number of records" >&2; exit 2 ;;
*) LIMIT="--limit $SWEEP_LIMIT" ;;
esac

T=$(mktemp -d "${TMPDIR:-/tmp}/sweep-tlb.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

# Run list, one line per run: index structure geometry mode.
n=0
for mode in $MODES; do
	for g in $L2; do n=$((n + 1)); echo "$n tlb.l2 $g $mode"; done
	for g in $L1D; do n=$((n + 1)); echo "$n tlb.l1d.4k $g $mode"; done
done >"$T/runs"

# Runs one line of the list; vmemsim's messages go to $T/<index>.err.
run() {
	# shellcheck disable=SC2086
	"$SIM" --quiet --mode "$4" --set "$2=$3" $LIMIT --csv "$T/$1.csv" "$TRACE" \
		>/dev/null 2>"$T/$1.err"
}

# Up to JOBS runs at a time; a failed run stops the sweep with vmemsim's message.
failed=0
pids=
started=0
while read -r i s g m; do
	run "$i" "$s" "$g" "$m" &
	pids="$pids $!:$i"
	started=$((started + 1))
	if [ "$started" -ge "$JOBS" ]; then
		for p in $pids; do
			wait "${p%%:*}" || { failed=1; echo "sweep-tlb: run ${p#*:} failed:" >&2; cat "$T/${p#*:}.err" >&2; }
		done
		pids=
		started=0
	fi
done <"$T/runs"
for p in $pids; do
	wait "${p%%:*}" || { failed=1; echo "sweep-tlb: run ${p#*:} failed:" >&2; cat "$T/${p#*:}.err" >&2; }
done
[ "$failed" = 0 ] || exit 1

# Join the per-run CSVs in run order under one header.
mkdir -p "$(dirname "$OUT")"
while read -r i s g m; do
	[ -s "$T/$i.csv" ] || { echo "sweep-tlb: run $s=$g ($m) wrote no CSV" >&2; exit 1; }
	tail -n +2 "$T/$i.csv" | sed "s|^|$s,${g%%:*},$m,|"
	head -n 1 "$T/$i.csv" >>"$T/headers"
done <"$T/runs" >"$T/rows"
if [ "$(sort -u "$T/headers" | wc -l)" != 1 ]; then
	echo "sweep-tlb: vmemsim runs wrote different CSV headers" >&2
	exit 1
fi
# Column of vmemsim's own mode (counted in its header), dropped from header and rows.
mcol=$(head -n 1 "$T/headers" | tr ',' '\n' | grep -n -x mode | cut -d: -f1)
[ -n "$mcol" ] || { echo "sweep-tlb: no mode column in vmemsim's CSV" >&2; exit 1; }
{
	printf 'structure,entries,mode,'
	head -n 1 "$T/headers"
	cat "$T/rows"
} | awk -F, -v OFS=, -v drop=$((mcol + 3)) '
	{
		line = ""
		for (f = 1; f <= NF; f++) {
			if (f == drop) continue
			line = line (line == "" ? "" : OFS) $f
		}
		print line
	}' >"$T/out.csv"
mv "$T/out.csv" "$OUT"
echo "sweep-tlb: $(($(wc -l <"$OUT") - 1)) runs of $(basename "$TRACE") written to $OUT"
