#!/bin/sh
# Throughput and memory benchmarks of trace replay; `make bench` runs this.
#
#   sh bench/run.sh BINDIR RESULTS
#
# Replays, against the minimal loops of bench/minimal_loops.h measured in the same
# process (see BENCHMARKS.md):
#   - the bundled real trace (the one traces/README.md names as the demo or benchmark
#     trace, else the largest traces/lackey/*.zst): TLB-hit-dominated; also end to end
#     from the compressed file, Lackey parsing, and memory against trace length;
#   - the miss-heavy synthetic traces uniform-1g and chase4k-256m of traces/synthetic/;
#   - every other bundled Lackey trace of more than LARGE_PAGES distinct 4 KiB pages (a
#     real large trace), whatever its kind;
# measures memory against footprint on uniform traces of 200k accesses that vmem-gen
# writes over 64 MiB to 1 TiB, and times vmemsim --mode all against the three single
# modes, a 64-run vmem-sweep on one worker against two, and the host memory manager
# (bench_host: multi-VM throughput, metadata, 64 VMs on 640 GiB). Writes the machine, the date
# and the figures to RESULTS.
#
# Environment: BENCH_TRACE=FILE benchmarks FILE (a Lackey trace, compressed or not)
# instead of the bundled real one; BENCH_RUNS (default 5) timed runs per measurement;
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

LARGE_PAGES=10000

for prog in bench_replay bench_host vmem-trace vmem-gen vmemsim vmem-sweep vmem-host; do
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

# bench LABEL VMT [bench_replay options...]: one run of bench_replay, appended to the results.
bench() {
	label=$1
	vmt=$2
	shift 2
	status=0
	echo "bench: $label" >&2
	"$BIN/bench_replay" --vmt "$vmt" --label "$label" --runs "$RUNS" \
		--min-seconds "$MIN_SECONDS" "$@" >>"$WORK/results" || status=$?
	if [ "$status" -ne 0 ]; then
		cat "$WORK/results" >&2
		die "bench_replay failed on $label (exit status $status)"
	fi
}

# The hit-dominated real trace, end to end, parsing and memory against length.
bench "$(basename "$TRACE")" "$WORK/trace.vmt" --e2e "$TRACE" --lackey "$WORK/trace.lackey" \
	--lackey-label "$(basename "$TRACE"), decompressed" --workdir "$WORK"

# Miss-heavy synthetic traces.
for name in uniform-1g chase4k-256m; do
	src=traces/synthetic/$name.vmt.zst
	[ -f "$src" ] || die "$src not found"
	"$BIN/vmem-trace" convert "$src" "$WORK/$name.vmt" >&2 || die "cannot convert $src"
	bench "$name.vmt.zst" "$WORK/$name.vmt" --e2e "$src"
	rm -f "$WORK/$name.vmt"
done

# Real traces with a large footprint.
for src in traces/lackey/*.zst; do
	[ -f "$src" ] && [ "$src" != "$TRACE" ] || continue
	"$BIN/vmem-trace" convert "$src" "$WORK/large.vmt" >&2 || die "cannot convert $src"
	pages=$("$BIN/vmem-trace" info "$WORK/large.vmt" | sed -n 's/^pages_4k: //p')
	if [ "${pages:-0}" -gt "$LARGE_PAGES" ]; then
		bench "$(basename "$src")" "$WORK/large.vmt" --e2e "$src"
	fi
	rm -f "$WORK/large.vmt"
done

# Memory against footprint: 200k uniform accesses over ever larger regions, from every
# page touched many times (64 MiB) to almost every access a new page in a table page of
# its own (1 TiB).
set --
for fp in 64m 1g 16g 256g 1t; do
	"$BIN/vmem-gen" --format vmt -o "$WORK/uniform-$fp.vmt" pattern=uniform footprint=$fp \
		size=8 count=200k seed=1 >&2 || die "vmem-gen failed"
	set -- "$@" --rss-trace "$WORK/uniform-$fp.vmt"
done
status=0
"$BIN/bench_replay" "$@" >>"$WORK/results" || status=$?
[ "$status" -eq 0 ] || die "bench_replay (memory against footprint) failed"

# vmemsim --mode all (a worker thread a processor) against the three single modes added up, on
# the bundled real trace and on a miss-heavy trace of 1 M uniform accesses over 1 GiB.
"$BIN/vmem-gen" --format vmt -o "$WORK/uniform-1g-1m.vmt" pattern=uniform footprint=1g \
	size=8 count=1m write_ratio=0.3 seed=1 >&2 || die "vmem-gen failed"
status=0
"$BIN/bench_replay" --vmemsim "$BIN/vmemsim" --all-trace "$TRACE" \
	--all-trace "$WORK/uniform-1g-1m.vmt" --runs "$RUNS" >>"$WORK/results" || status=$?
[ "$status" -eq 0 ] || die "bench_replay (vmemsim --mode all) failed"

# A 64-run local sweep (vmem-sweep run) on one worker and on two: the ratio of the wall
# times, two workers over one (target <= 0.6 on two cores). Each run replays 300k uniform
# accesses over 256 MiB; fresh results folders, so nothing is reused.
"$BIN/vmem-gen" --format vmt -o "$WORK/sweep.vmt" pattern=uniform footprint=256m size=8 \
	count=300k seed=1 >&2 || die "vmem-gen failed"
cat >"$WORK/bench.sweep" <<EOF
# 1 trace x 8 tlb.l2 x 4 cost.ref_mem x 2 modes = 64 runs
trace = $WORK/sweep.vmt
axis tlb.l2 = range 64..8192 *2 as {}:4
axis cost.ref_mem = 10 20 30 40
modes = native nested
EOF
sweep_time() { # jobs: wall seconds of the whole sweep
	rm -rf "$WORK/sweep-results"
	t0=$(date +%s.%N)
	"$BIN/vmem-sweep" run --quiet --jobs "$1" --results "$WORK/sweep-results" \
		"$WORK/bench.sweep" >&2 || die "vmem-sweep run --jobs $1 failed"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}
echo "bench: 64-run sweep, --jobs 1 and --jobs 2" >&2
s1=$(sweep_time 1)
s2=$(sweep_time 2)
rm -rf "$WORK/sweep-results" "$WORK/sweep.vmt"
{
	echo
	echo "sweep: 64 runs (vmem-sweep run, 300k uniform accesses each), $(nproc) CPUs"
	echo "$s1 $s2" | awk '{ printf "  --jobs 1 %.2f s, --jobs 2 %.2f s: ratio %.2f (target <= 0.6)\n",
		$1, $2, $2 / $1 }'
} >>"$WORK/results"

# The host memory manager (bench/bench_host.c): four VMs on 60 % of what they touch, with
# every mechanism vmem-host knows a policy for, against one VM alone; metadata per touched
# page; 64 VMs of 16 GiB on a 640 GiB host.
policy() { # kind heading in --help-policies -> the first policy of that kind
	"$BIN/vmem-host" --help-policies | awk -v h="$1" 'index($0, h) == 1 { on = 1; next }
		/^$/ { on = 0 } on { print $1; exit }'
}
dedup=$(policy "same-page deduplication")
balloon=$(policy "balloon target policies")
large=traces/lackey/sort-large.lackey.zst
"$BIN/vmem-trace" convert "$large" "$WORK/host.vmt" >&2 || die "cannot convert $large"
echo "bench: host memory manager" >&2
echo >>"$WORK/results"
status=0
"$BIN/bench_host" "$WORK/host.vmt" --runs "$RUNS" ${dedup:+--dedup "$dedup"} \
	${balloon:+--balloon "$balloon"} >>"$WORK/results" || status=$?
[ "$status" -eq 0 ] || die "bench_host failed"
rm -f "$WORK/host.vmt"

# The real backend's pager (bench/bench_pager.c): userfaultfd fault service against a bare
# UFFDIO_COPY loop in the same process (target <= 1.5x), swap-out/in with and without
# compression. Needs userfaultfd (root, or vm.unprivileged_userfaultfd=1): without it the
# results say so and the rest stands.
echo "bench: pager" >&2
echo >>"$WORK/results"
"$BIN/bench_pager" --runs "$RUNS" >>"$WORK/results" 2>&1 ||
	echo "pager: bench_pager could not run (is userfaultfd allowed?)" >>"$WORK/results"

# Snapshots (bench/bench_restore.c): time to ready of a workload touching its working set
# after a lazy userfaultfd restore, without and with the recorded working set prefetched
# (REAP; target: prefetch >= 2x faster), against reading the whole snapshot file in the same
# process; and the memory four clones of one snapshot share. Needs userfaultfd, like the pager.
echo "bench: snapshot restore" >&2
echo >>"$WORK/results"
"$BIN/bench_restore" --runs "$RUNS" >>"$WORK/results" 2>&1 ||
	echo "restore: bench_restore could not run (is userfaultfd allowed?)" >>"$WORK/results"

# Same-page deduplication of real guest RAM (bench/bench_dedup.c): the own scanner against the
# kernel's KSM merging the same pages at the same scan rate, pages merged per CPU-second
# (ratio own / KSM; target > 1), on the pages of two real python3 processes laid out as two
# guests of one image, then on duplicates scattered at random (the own scanner's worst case:
# one remap per page). Needs userfaultfd and, for KSM, root and /sys/kernel/mm/ksm.
echo "bench: dedup" >&2
for layout in "--content traces/content/python3-x2.vmt.zst" ""; do
	echo >>"$WORK/results"
	# shellcheck disable=SC2086 # the layout is two words or none
	"$BIN/bench_dedup" $layout >>"$WORK/results" 2>&1 ||
		echo "dedup: bench_dedup could not run (userfaultfd, PAGEMAP_SCAN or KSM missing?)" >>"$WORK/results"
done

# The dirty-page tracker (bench/bench_tracker.c): a collect over 256 MiB with 0 %, 1 % and
# 100 % of the pages written, against the bare PAGEMAP_SCAN ioctl (ratio), and the first write
# to a tracked page. Needs userfaultfd, as the pager does.
echo "bench: tracker" >&2
echo >>"$WORK/results"
"$BIN/bench_tracker" --mib 256 --runs "$RUNS" >>"$WORK/results" 2>&1 ||
	echo "tracker: bench_tracker could not run (is userfaultfd allowed?)" >>"$WORK/results"

# The balloon over guest RAM (bench/bench_balloon.c): inflate through the channel against a
# bare madvise(MADV_DONTNEED) / fallocate(PUNCH_HOLE) loop over the same pages in the same
# process (ratio of the times), deflate + refault against a bare refault.
echo "bench: balloon" >&2
echo >>"$WORK/results"
"$BIN/bench_balloon" --runs "$RUNS" >>"$WORK/results" 2>&1 ||
	echo "balloon: bench_balloon could not run" >>"$WORK/results"

cp "$WORK/results" "$OUT"
cat "$OUT"
echo "bench: results written to $OUT" >&2
