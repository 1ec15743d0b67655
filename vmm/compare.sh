#!/bin/sh
# KVM's figures beside the simulator's for the same guest accesses: runs vmem-vmm with the
# given options, writing KVM's statistics (--json) and the guest's data accesses (--trace),
# replays the trace through vmemsim in nested and shadow mode and prints the figures that
# answer the same question side by side. docs/KVM.md explains each row.
#
# usage: sh vmm/compare.sh BIN_DIR [vmem-vmm options...]
set -u
bin=${1:?usage: compare.sh BIN_DIR [vmem-vmm options...]}
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmem-compare.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# The page sizes the guest and the host use, told to the simulator too.
simopts=
prev=
for a in "$@"; do
	case "$prev=$a" in
	--guest-pages=2m) simopts="$simopts -s guest.page=2m" ;;
	--pages=thp | --pages=hugetlb) simopts="$simopts -s host.page=2m" ;;
	esac
	prev=$a
done

"$bin/vmem-vmm" -q "$@" --json "$tmp/kvm.json" --trace "$tmp/guest.vmt.zst" >"$tmp/kvm.out" || {
	echo "compare: vmem-vmm failed:" >&2; cat "$tmp/kvm.out" >&2; exit 1; }
for mode in nested shadow; do
	"$bin/vmemsim" -q -m $mode $simopts --json "$tmp/$mode.json" "$tmp/guest.vmt.zst" || {
		echo "compare: vmemsim -m $mode failed" >&2; exit 1; }
done
exec python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
kvm = json.load(open(d + '/kvm.json'))
k = dict(kvm['figures']); k.update({'vm.' + n: v for n, v in kvm['kvm']['vm'].items()})
k.update({'vcpu.' + n: v for n, v in kvm['kvm']['vcpu'].items()})
sim = {}
for mode in ('nested', 'shadow'):
    t = json.load(open('%s/%s.json' % (d, mode)))['traces'][0]['modes'][mode]
    sim[mode] = t.get('stats', t)
def g(src, key):
    v = src.get(key)
    return '-' if v is None else str(v)
rows = [
    ('data pages the guest touches', 'data_pages', 'faults.guest', 'faults.guest'),
    ('host MMU faults fixed', 'vcpu.pf_fixed', 'exits.ept_violation', 'shadow.fills'),
    ('host pages mapped (KVM: 4 KiB leaves now)', 'vm.pages_4k', 'faults.host', 'faults.host'),
    ('  KVM: 2 MiB leaves now', 'vm.pages_2m', None, None),
    ('guest page-table walks (TLB misses)', None, 'walks', 'walks'),
    ('guest page faults', 'vcpu.pf_guest', 'faults.guest', 'exits.guest_fault'),
    ('VM exits, all causes', 'vcpu.exits', 'exits.total', 'exits.total'),
    ('  of which port I/O (the test protocol)', 'vmm.io_exits', None, None),
    ('guest page-table writes trapped', 'vm.mmu_pte_write', None, 'exits.pte_write'),
    ('TLB flushes', 'vcpu.tlb_flush', None, None),
]
def cell(src, key):
    return '%s %s' % (g(src, key), key) if key else '-'
print('%-40s %-24s %-28s %-24s' % ('figure', 'KVM (kvm_pvm)', 'vmemsim nested', 'vmemsim shadow'))
for name, kk, nk, sk in rows:
    print('%-40s %-24s %-28s %-24s' % (name, cell(k, kk), cell(sim['nested'], nk),
                                        cell(sim['shadow'], sk)))
print('records replayed: %s; KVM result: %s' % (sim['shadow'].get('records'), kvm['result']))
PY
