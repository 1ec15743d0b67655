#!/bin/sh
# The same swap policy code on real guest RAM and on simulated frames: runs vmem-vmm with
# its data region run by the host memory manager (--manager CONFIG), writing the guest's
# data accesses as a trace (--trace), replays the trace through vmem-host with the same
# configuration, and prints the manager's figures of both side by side. docs/KVM.md
# explains why they differ.
#
# usage: sh vmm/compare-manager.sh BIN_DIR CONFIG [vmem-vmm options...]
#   e.g. sh vmm/compare-manager.sh build/rel/bin 'host.mem=2m swap=clock' --memory 4m
set -u
bin=${1:?usage: compare-manager.sh BIN_DIR CONFIG [vmem-vmm options...]}
config=${2:?usage: compare-manager.sh BIN_DIR CONFIG [vmem-vmm options...]}
shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmem-compare-manager.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

"$bin/vmem-vmm" -q "$@" --manager "$config" --trace "$tmp/guest.vmt.zst" >"$tmp/real.out" || {
	echo "compare-manager: vmem-vmm failed:" >&2; cat "$tmp/real.out" >&2; exit 1; }
sets=
for w in $config; do
	sets="$sets -s $w"
done
# shellcheck disable=SC2086 # one -s per configuration word
"$bin/vmem-host" -q $sets --csv "$tmp/sim.csv" "$tmp/guest.vmt.zst" >"$tmp/sim.out" 2>&1 || {
	echo "compare-manager: vmem-host failed:" >&2; cat "$tmp/sim.out" >&2; exit 1; }
exec python3 - "$tmp" "$config" <<'PY'
import csv, sys
d, config = sys.argv[1], sys.argv[2]
real = {}
for line in open(d + '/real.out'):
    k, _, v = line.strip().partition(' ')
    real[k] = v
row = next(csv.DictReader(open(d + '/sim.csv')))
sim_in = int(row['faults_swapin']) + int(row['faults_decompress'])
rows = [
    ('first touches', real['manager.faults_first'], row['faults_first']),
    ('swap-ins (swap device + compressed tier)', real['manager.swap_ins'], sim_in),
    ('swap-outs (pages reclaimed)', real['manager.swap_outs'], row['reclaimed']),
    ('faults', real['manager.faults'], row['faults']),
]
print('policy and budget: %s (real: %s)' % (config, real.get('manager.policy', '?')))
print('%-42s %12s %12s' % ('', 'real (KVM)', 'simulated'))
for name, r, s in rows:
    print('%-42s %12s %12s' % (name, r, s))
print('%-42s %12s %12s' % ('accesses the manager saw', 'faults + %s writes' %
      real['manager.writes_seen'], row['accesses']))
print('result of the real run: %s' % real['result'])
PY
