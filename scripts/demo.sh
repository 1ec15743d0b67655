#!/bin/sh
# The demo behind `make demo`: replays the bundled real traces whose data footprint is
# several times the STLB's reach through native, nested and shadow translation, with a
# warm-up, so that the figures are those of a running program (TLB capacity misses, 2D
# walks) rather than of its first touches; then draws the plots.
#
# usage: sh scripts/demo.sh BIN_DIR
#
# Writes, under out/ at the top of the tree:
#   demo.csv, demo.json   every statistic per trace, mode and phase (cold: the warm-up;
#                         steady: the rest), vmemsim --csv and --json
#   demo-hist.csv         memory references per walk in the steady state (vmemsim --hist)
#   mrc.csv               miss-ratio curve of every TLB array in the steady state, from the
#                         same single replay (vmemsim --mrc)
#   host.csv, host.json,  four VMs on an overcommitted host (vmem-host with
#   host-series.csv       configs/host/overcommit-demo.conf): summary per VM, time series
#   policies.csv          the same scenario per swap victim policy, VMs added up
#   hugepages.csv         the same with 4 KiB and 2 MiB host pages, overcommitted and not
#   plots/*.png, *.pdf    plots/plot.sh
#
# DEMO_TRACES="FILE..." replays other traces; DEMO_WARMUP=N sets the warm-up in records
# (default 5000000, a quarter of each bundled large trace); DEMO_HOST_TRACES="FILE..." gives
# the overcommit scenario its VMs; DEMO_OUT=DIR writes there instead of out/.
set -eu

[ $# -eq 1 ] || { echo "usage: demo.sh BIN_DIR" >&2; exit 2; }
BIN=$(cd "$1" 2>/dev/null && pwd) || { echo "demo: no directory $1" >&2; exit 1; }
[ -x "$BIN/vmemsim" ] || { echo "demo: $BIN/vmemsim not found (make progs builds it)" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# The large real traces of traces/README.md ("Traces with TLB pressure").
BUNDLED="traces/lackey/sort-large.lackey.zst traces/lackey/shuf-large.lackey.zst
traces/lackey/python-dictbig.lackey.zst"
TRACES=${DEMO_TRACES:-$BUNDLED}
HOST_TRACES=${DEMO_HOST_TRACES:-"$BUNDLED traces/lackey/xz-text.lackey.zst"}
WARMUP=${DEMO_WARMUP:-5000000}
OUT=${DEMO_OUT:-out}
start=$(date +%s)

case $WARMUP in ''|*[!0-9]*) echo "demo: DEMO_WARMUP=$WARMUP: expected a number of records" >&2; exit 2 ;; esac
set --
for t in $TRACES; do
	[ -r "$t" ] || { echo "demo: cannot read trace $t (see traces/README.md)" >&2; exit 1; }
	set -- "$@" "$t"
done
[ $# -gt 0 ] || { echo "demo: DEMO_TRACES names no trace" >&2; exit 2; }

mkdir -p "$OUT"
echo "== replaying $# trace(s) in native, nested and shadow mode; the first $WARMUP records"
echo "   of each warm the machines up, the rest is the steady state"
"$BIN/vmemsim" --mode all --warmup "$WARMUP" --csv "$OUT/demo.csv" --json "$OUT/demo.json" \
	--hist "$OUT/demo-hist.csv" --mrc "$OUT/mrc.csv" "$@"

# Overcommit: the same real programs as four VMs on a host with 60 % of the memory they
# were promised (configs/host/overcommit-demo.conf), with xz-text as the fourth, smaller VM.
echo
echo "== overcommit: 4 VMs of 64 MiB on a host with 154 MiB for guest memory (60 %)"
"$BIN/vmem-host" -c configs/host/overcommit-demo.conf --quantum 100000 \
	--series "$OUT/host-series.csv" --csv "$OUT/host.csv" --json "$OUT/host.json" \
	$HOST_TRACES

# The same scenario once per swap victim policy vmem-host knows, and with 4 KiB against
# 2 MiB host pages, with and without overcommit: the VMs' figures added up, one row each.
# sum_vms CSV LABEL COLUMN...: LABEL and the sum over the VMs of each named column.
sum_vms() {
	awk -F, -v label="$2" -v cols="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ n = split(cols, k, " "); for (i = 1; i <= n; i++) s[i] += $c[k[i]] }
		END { printf "%s", label; for (i = 1; i <= n; i++) printf ",%s", s[i]; print "" }' "$1"
}
echo
echo "== the scenario again with each swap victim policy"
echo "policy,swapins,decompressions,swap_out,compress_out,cycles_stalled,cycles,accesses" \
	>"$OUT/policies.csv"
for p in $("$BIN/vmem-host" --help-policies |
	awk '/^swap victim policies/ { on = 1; next } /^$/ { on = 0 } on { print $1 }'); do
	echo "   swap=$p"
	"$BIN/vmem-host" -q -c configs/host/overcommit-demo.conf --quantum 100000 -s swap="$p" \
		--csv "$OUT/.run.csv" $HOST_TRACES
	sum_vms "$OUT/.run.csv" "$p" "faults_swapin faults_decompress swap_out compress_out cycles_stalled cycles accesses" >>"$OUT/policies.csv"
done
echo
echo "== the scenario with 4 KiB and 2 MiB host pages, overcommitted and not"
echo "config,cycles,accesses,walk_refs,not_resident_pages,thp_huge,thp_splits" >"$OUT/.hp.csv"
for page in 4k 2m; do
	for mem in 154m 512m; do
		label="$page/$mem"
		echo "   host.page=$page host.mem=$mem"
		"$BIN/vmem-host" -q -c configs/host/overcommit-demo.conf --quantum 100000 \
			-s host.page=$page -s host.mem=$mem --csv "$OUT/.run.csv" $HOST_TRACES
		awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; print "not_resident"; next }
			{ print $c["swapped"] + $c["compressed"] + $c["shared"] + $c["zero"] + $c["ballooned"] }' \
			"$OUT/.run.csv" | paste -d, "$OUT/.run.csv" - >"$OUT/.run2.csv"
		sum_vms "$OUT/.run2.csv" "$label" "cycles accesses walk_refs not_resident thp_huge thp_splits" >>"$OUT/.hp.csv"
	done
done
awk -F, 'NR == 1 { print "config,cycles,accesses,walk_refs,not_resident_mib,thp_huge,thp_splits"; next }
	{ printf "%s,%s,%s,%s,%.1f,%s,%s\n", $1, $2, $3, $4, $5 / 256, $6, $7 }' \
	"$OUT/.hp.csv" >"$OUT/hugepages.csv"
rm -f "$OUT/.run.csv" "$OUT/.run2.csv" "$OUT/.hp.csv"

echo
echo "== drawing the plots"
sh plots/plot.sh "$OUT"

# What a student should see, per trace: in the steady state, translation cycles per
# access (STLB hits, walks, exits, faults) by mode, and what a completed walk costs.
echo
echo "steady state (after $WARMUP records), per access:"
awk -F, '
	NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$c["phase"] != "steady" { next }
	{
		t = $c["trace"]; m = $c["mode"]; a = $c["accesses"]
		x = ($c["cycles.tlb"] + $c["cycles.walk"] + $c["cycles.exits"] + $c["cycles.faults"]) / a
		if (!(t in seen)) { seen[t] = 1; order[++n] = t }
		line[t] = line[t] sprintf("  %s %.3f", m, x)
		if (m == "native") stlb[t] = sprintf("STLB misses per 1000 accesses %.2f", 1000 * $c["tlb.misses"] / a)
		refs[t] = refs[t] sprintf(" %s %.2f", m, $c["walk.refs_per_completed"])
	}
	END {
		for (i = 1; i <= n; i++) {
			t = order[i]
			printf "  %s: %s\n    translation cycles:%s\n    memory references per completed walk:%s\n", \
				t, stlb[t], line[t], refs[t]
		}
	}' "$OUT/demo.csv"
echo "demo done in $(($(date +%s) - start)) s. Outputs:"
echo "  $OUT/demo.csv  $OUT/demo.json  $OUT/demo-hist.csv   statistics and walk histogram"
echo "  $OUT/mrc.csv                                   miss-ratio curves of the TLBs"
echo "  $OUT/host.csv  $OUT/host.json  $OUT/host-series.csv   the overcommitted host, per VM"
echo "  $OUT/policies.csv  $OUT/hugepages.csv         swap policies, huge pages against overcommit"
for p in "$OUT"/plots/*.png "$OUT"/plots/*.pdf; do echo "  $p"; done
