#!/bin/sh
# Writes the synthetic sample traces in traces/synthetic/ with vmem-gen: one small .vmt
# (zstd-compressed) per pattern, and a multi-process trace with context switches,
# unmaps and protection changes for shadow-paging experiments. Every trace is seeded,
# so running this again gives byte-identical files (vmem-gen's output depends only on
# its keys; the zstd level is fixed here).
#
#   sh traces/make-synthetic.sh [BIN_DIR [OUT_DIR]]
#
# BIN_DIR holds vmem-gen (default build/rel/bin; `make progs` builds it), OUT_DIR
# defaults to traces/synthetic. traces/README.md describes each trace. At the end a
# Markdown table of what was written is printed (records by `vmem-trace info` when it is
# in BIN_DIR, and compressed bytes).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/rel/bin}
OUT=${2:-$ROOT/traces/synthetic}
GEN=$BIN/vmem-gen
[ -x "$GEN" ] || { echo "make-synthetic: $GEN not found; run make progs first" >&2; exit 1; }
mkdir -p "$OUT"

# gen NAME KEY=VALUE...: writes OUT/NAME.vmt.zst.
gen() {
	name=$1
	shift
	echo "== $name: $*" >&2
	"$GEN" --format vmt --zstd --level 19 -o "$OUT/$name.vmt.zst" "$@"
}

# Streaming: 8-byte loads and stores through 64 MiB, one new page every 512 accesses.
gen seq-64m pattern=sequential footprint=64m size=8 count=300k write_ratio=0.3 ifetch=1 seed=1
# One access per 4 KiB page over 256 MiB (65536 pages): every access misses a TLB of
# fewer entries, and the walk caches decide the cost.
gen stride4k-256m pattern=strided footprint=256m stride=4k size=8 count=300k seed=1
# Uniformly random 8-byte accesses over 1 GiB: no locality at all.
gen uniform-1g pattern=uniform footprint=1g size=8 count=100k write_ratio=0.3 seed=1
# Zipf(1.0) over the 262144 pages of 1 GiB, hot pages scattered: a skewed heap.
gen zipf-1g pattern=zipf footprint=1g alpha=1.0 size=8 count=100k write_ratio=0.3 \
	ifetch=1 seed=1
# Pointer chase through 64 Ki random 4 KiB pages (256 MiB): one TLB miss per load.
gen chase4k-256m pattern=chase footprint=256m granule=4k count=150k seed=1
# Pointer chase through 1 Mi random cache lines of 64 MiB.
gen chase64-64m pattern=chase footprint=64m granule=64 count=100k seed=1
# Three address spaces on one CPU (asids 1, 2, 3), 5k accesses per time slice, an unmap
# of up to 16 pages every 10k accesses and a protection change every 15k: the events
# that make a shadow-paging hypervisor resynchronise. Time slices are far shorter than
# a real scheduler's so that a small trace holds many switches.
gen multiproc-3 pattern=multiproc processes=3 asid=1 inner=zipf,chase,uniform \
	footprint=256m granule=4k alpha=1.0 quantum=5k unmap_every=10k protect_every=15k \
	event_pages=16 prot=rw count=100k write_ratio=0.2 ifetch=1 seed=1

echo
echo "| file | records | bytes |"
echo "|---|---:|---:|"
for f in "$OUT"/*.vmt.zst; do
	recs=?
	if [ -x "$BIN/vmem-trace" ]; then
		recs=$("$BIN/vmem-trace" info "$f" | sed -n 's/^records: //p')
	fi
	echo "| $(basename "$f") | $recs | $(wc -c <"$f") |"
done
