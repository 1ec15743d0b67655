#!/bin/sh
# Throughput and memory benchmarks of trace replay; `make bench` runs this.
#
#   sh bench/run.sh BINDIR RESULTS
#
# Picks the bundled real trace (the one traces/README.md names as the demo or benchmark
# trace, else the largest traces/lackey/*.zst), converts it to .vmt with vmem-trace,
# decompresses its Lackey text for the parsing benchmark, runs bench_replay and writes
# the machine, the date and the figures to RESULTS. See BENCHMARKS.md.
#
# Environment: BENCH_TRACE=FILE benchmarks FILE (a Lackey trace, compressed or not)
# instead of the bundled one; BENCH_RUNS (default 5) timed runs per measurement;
# BENCH_MIN_SECONDS (default 0.5) shortest timed run. Exits 0 whatever the figures are;
# non-zero only when the benchmark cannot run.
set -eu

BIN=${1:-build/rel/bin}
OUT=${2:-bench/results.txt}
RUNS=${BENCH_RUNS:-5}
MIN_SECONDS=${BENCH_MIN_SECONDS:-0.5}

die() {
	echo "bench: $*" >&2
	exit 1
}

# Paths given relative to where we were started; the traces are found from the top of the tree.
abspath() {
	case "$1" in
	/*) echo "$1" ;;
	*) echo "$(pwd)/$1" ;;
	esac
}
BIN=$(abspath "$BIN")
OUT=$(abspath "$OUT")
[ -z "${BENCH_TRACE:-}" ] || BENCH_TRACE=$(abspath "$BENCH_TRACE")
cd "$(dirname "$0")/.."

for prog in bench_replay vmem-trace; do
	[ -x "$BIN/$prog" ] || die "$BIN/$prog not found; build it first (make bench)"
done

# The trace traces/README.md names on a line that speaks of the benchmark trace, else of
# the demo trace, if that file is in traces/lackey/; else the largest bundled Lackey trace.
pick_trace() {
	if [ -f traces/README.md ]; then
		for word in bench demo; do
			for name in $(grep -i "$word" traces/README.md |
				grep -o -E '[A-Za-z0-9_.+-]+\.lackey(\.zst|\.zstd|\.gz|\.xz)?' || true); do
				if [ -f "traces/lackey/$name" ]; then
					echo "traces/lackey/$name"
					return
				fi
			done
		done
	fi
	# shellcheck disable=SC2012
	ls -S traces/lackey/*.zst 2>/dev/null | head -n 1
}

if [ -n "${BENCH_TRACE:-}" ]; then
	TRACE=$BENCH_TRACE
	[ -f "$TRACE" ] || die "BENCH_TRACE=$TRACE: no such file"
else
	TRACE=$(pick_trace)
	[ -n "$TRACE" ] || die "no bundled trace in traces/lackey/*.zst; set BENCH_TRACE=FILE"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmem-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

echo "bench: trace $TRACE" >&2
"$BIN/vmem-trace" convert "$TRACE" "$WORK/trace.vmt" >&2 ||
	die "vmem-trace convert $TRACE failed"
[ -s "$WORK/trace.vmt" ] || die "vmem-trace convert wrote nothing"

# The Lackey text, uncompressed, for the parsing benchmark.
case "$TRACE" in
*.zst | *.zstd) DECOMP="zstd -dc" ;;
*.xz) DECOMP="xz -dc" ;;
*.gz) DECOMP="gzip -dc" ;;
*) DECOMP="cat" ;;
esac
if command -v "${DECOMP%% *}" >/dev/null 2>&1; then
	$DECOMP "$TRACE" >"$WORK/trace.lackey" || die "cannot decompress $TRACE"
else
	# No decompressor: the reader decompresses; the text is then the normalized form.
	"$BIN/vmem-trace" convert --to lackey "$TRACE" "$WORK/trace.lackey" >&2 ||
		die "cannot decompress $TRACE"
fi

cpu=$(grep -m 1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: *//')
{
	echo "libvmem benchmarks (bench/run.sh; see BENCHMARKS.md)"
	echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine:  $(nproc) CPUs, ${cpu:-unknown CPU}, $(uname -sr)"
	echo "compiler: $(${CC:-cc} --version 2>/dev/null | head -n 1); programs in $BIN"
	echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "trace:    $TRACE"
	"$BIN/vmem-trace" info "$WORK/trace.vmt" | awk -F': ' '
		{ v[$1] = $2 }
		END {
			printf "          %s records: %s loads, %s stores, %s ifetches, %s modifies;",
				v["records"], v["accesses.load"], v["accesses.store"],
				v["accesses.ifetch"], v["accesses.modify"]
			printf " %s distinct 4 KiB pages\n", v["pages_4k"]
		}'
	echo
} >"$WORK/results"

status=0
"$BIN/bench_replay" --vmt "$WORK/trace.vmt" --lackey "$WORK/trace.lackey" \
	--workdir "$WORK" --label "$(basename "$TRACE")" \
	--lackey-label "$(basename "$TRACE"), decompressed" \
	--runs "$RUNS" --min-seconds "$MIN_SECONDS" >>"$WORK/results" || status=$?
if [ "$status" -ne 0 ]; then
	cat "$WORK/results" >&2
	die "bench_replay failed (exit status $status)"
fi
cp "$WORK/results" "$OUT"
cat "$OUT"
echo "bench: results written to $OUT" >&2
