#!/bin/sh
# The demo behind `make demo`: replays the bundled Lackey traces (traces/lackey/) through
# native, nested and shadow translation with vmemsim's default configuration, sweeps the
# TLB sizes on the demo trace, and draws the plots.
#
# usage: sh scripts/demo.sh BIN_DIR
#
# Writes, under out/ at the top of the tree:
#   demo.csv, demo.json   every statistic per trace and mode (vmemsim --csv, --json)
#   demo-hist.csv         memory references per walk (vmemsim --hist)
#   sweep-tlb.csv         STLB and L1 DTLB size sweep of the demo trace (scripts/sweep-tlb.sh)
#   plots/*.png           plots/plot.sh
#
# The demo trace is the one traces/README.md names on a line that mentions the demo;
# DEMO_TRACE=FILE chooses another (then only that trace is replayed). DEMO_SWEEP_LIMIT
# caps the records each of the 26 sweep runs replays (default 3000000, the most any of the
# six small bundled traces holds, so they replay whole; 0 = no cap), which keeps a sweep
# of a long trace of your own to seconds rather than minutes.
set -eu

[ $# -eq 1 ] || { echo "usage: demo.sh BIN_DIR" >&2; exit 2; }
BIN=$(cd "$1" 2>/dev/null && pwd) || { echo "demo: no directory $1" >&2; exit 1; }
[ -x "$BIN/vmemsim" ] || { echo "demo: $BIN/vmemsim not found (make progs builds it)" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

LACKEY=traces/lackey
README=traces/README.md
# Used when traces/README.md names no demo trace that exists.
FALLBACK=$LACKEY/xz-text.lackey.zst
SWEEP_LIMIT=${DEMO_SWEEP_LIMIT:-3000000}
OUT=out
start=$(date +%s)

# The demo trace named in traces/README.md: on the first line that mentions the demo and
# names a bundled trace (by file name, sort-words.lackey.zst, or by stem, sort-words), the
# trace named first. Prints its path, or nothing.
from_readme() {
	[ -r "$README" ] || return 0
	printf '%s\n' "$all" | awk '
		FNR == NR {                       # the bundled traces, one path a line
			n++; path[n] = $0
			stem[n] = $0; sub(/.*\//, "", stem[n]); sub(/\.lackey(\.(zst|gz|xz))?$/, "", stem[n])
			next
		}
		tolower($0) ~ /demo/ {
			best = 0; at = 0
			for (i = 1; i <= n; i++) {
				# A whole-word match of the stem: no name character on either side.
				line = $0; off = 0
				while ((j = index(line, stem[i])) > 0) {
					before = j > 1 ? substr(line, j - 1, 1) : " "
					after = substr(line, j + length(stem[i]), 1)
					if (before !~ /[A-Za-z0-9_-]/ && after !~ /[A-Za-z0-9_-]/) break
					off += j; line = substr(line, j + 1); j = 0
				}
				if (j > 0 && (best == 0 || off + j < at)) { best = i; at = off + j }
			}
			if (best) { print path[best]; exit }
		}' - "$README"
}

if [ -n "${DEMO_TRACE:-}" ]; then
	[ -r "$DEMO_TRACE" ] || { echo "demo: cannot read DEMO_TRACE=$DEMO_TRACE" >&2; exit 1; }
	demo=$DEMO_TRACE
	traces=$DEMO_TRACE
else
	all=$(for f in "$LACKEY"/*.lackey "$LACKEY"/*.lackey.zst "$LACKEY"/*.lackey.gz \
		"$LACKEY"/*.lackey.xz; do [ -f "$f" ] && echo "$f"; done | sort)
	if [ -z "$all" ]; then
		echo "demo: no bundled traces in $LACKEY/ (*.lackey.zst); see $README," >&2
		echo "demo: or run DEMO_TRACE=FILE make demo with a Lackey trace of your own" >&2
		exit 1
	fi
	demo=$(from_readme)
	if [ -z "$demo" ]; then
		if [ -f "$FALLBACK" ]; then
			demo=$FALLBACK
		else
			demo=$(printf '%s\n' "$all" | head -n 1)
		fi
		echo "demo: $README names no demo trace in $LACKEY/; using $demo"
	fi
	# The demo trace first, then the other bundled traces.
	traces=$(printf '%s\n%s\n' "$demo" "$all" | awk '!seen[$0]++')
fi

mkdir -p "$OUT"
echo "== replaying $(printf '%s\n' "$traces" | wc -l) trace(s) in native, nested and shadow mode (demo trace: $demo)"
# Trace paths come from ls on traces/lackey/ or from DEMO_TRACE; one per line.
set --
while IFS= read -r t; do set -- "$@" "$t"; done <<EOF
$traces
EOF
"$BIN/vmemsim" --mode all --csv "$OUT/demo.csv" --json "$OUT/demo.json" \
	--hist "$OUT/demo-hist.csv" "$@"

echo
echo "== sweeping STLB and L1 DTLB sizes on $demo (native and nested)"
if [ "$SWEEP_LIMIT" != 0 ]; then
	echo "   (at most $SWEEP_LIMIT records a run; DEMO_SWEEP_LIMIT=0 for no cap)"
fi
export SWEEP_LIMIT
sh scripts/sweep-tlb.sh "$BIN" "$demo" "$OUT/sweep-tlb.csv"

echo
echo "== drawing the plots"
sh plots/plot.sh "$OUT"

# Cycles per access of each mode on the demo trace, from the CSV just written.
echo
awk -F, -v t="$(basename "$demo")" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	$1 == t { s = s sprintf("  %s %.2f", $col["mode"], $col["cycles.per_access"]) }
	END { if (s != "") print "cycles per access on " t ":" s }' "$OUT/demo.csv"
echo "demo done in $(($(date +%s) - start)) s. Outputs:"
echo "  $OUT/demo.csv  $OUT/demo.json  $OUT/demo-hist.csv   statistics and walk histogram"
echo "  $OUT/sweep-tlb.csv                            TLB size sweep"
for p in "$OUT"/plots/*.png; do echo "  $p"; done
