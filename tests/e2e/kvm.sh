#!/bin/sh
# vmem-vmm under real KVM: the test guest's content check on one and two vCPUs, with
# anonymous, memfd and THP memory, while the pager swaps its pages out and in, while its
# balloon inflates and deflates; KVM's dirty log must hold the pages the guest wrote; a
# corrupted word must make the run fail; KVM's own
# statistics must show the work (exits, pf_fixed, pages_4k, pages_2m); the guest's trace
# replayed by vmemsim must see the same pages; the host memory manager with each swap
# policy must run the guest's RAM under its budget, and its dedup policy merge the guest's
# duplicate pages; pre-copy migration while the guest runs must copy it exactly. Without a
# usable /dev/kvm it says SKIP loudly.
#
# usage: sh tests/e2e/kvm.sh BIN_DIR
bin=${1:?usage: kvm.sh BIN_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/check.inc"

if ! why=$("$bin/vmem-vmm" --probe 2>&1); then
	why=${why#vmem-vmm: no usable /dev/kvm: }
	echo "SKIP: kvm.sh: no usable /dev/kvm (${why% (running under QEMU*})"
	echo "kvm: 0 passed, 0 failed (skipped)"
	exit 0
fi

# fig FILE KEY: the value of a `key value` line of vmem-vmm's output.
fig() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
# at_least A B: "yes" when the integer A >= B.
at_least() { [ -n "$1" ] && [ "$1" -ge "$2" ] 2>/dev/null && echo yes || echo "no ($1 < $2)"; }
vmm() { # name options...: runs vmem-vmm into $tmp/NAME.out and .err
	name=$1; shift
	timeout -k 2 60 "$bin/vmem-vmm" -q "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
}
passes() { # name: exit 0, PASS, no bad word seen by the guest or the host
	check "$1: exit status" 0 "$rc"
	check "$1: result" PASS "$(fig "$tmp/$1.out" result)"
	check "$1: guest found no corrupted word" 0 "$(fig "$tmp/$1.out" guest.words_bad)"
	check "$1: host found no corrupted word" 0 "$(fig "$tmp/$1.out" host.words_bad)"
	[ "$rc" = 0 ] || sed 's/^/    /' "$tmp/$1.err" | head -5
}

vmm basic --memory 8m --passes 4 --json "$tmp/basic.json"
passes basic
check "basic: pages checked: 2048 after the fill, 4 passes x 512, 2048 at the end" 6144 \
	"$(fig "$tmp/basic.out" guest.pages_checked)"
check "basic: KVM exits > 0" yes "$(at_least "$(fig "$tmp/basic.out" kvm.vcpu.exits)" 1)"
check "basic: KVM pf_fixed >= the 2048 data pages" yes \
	"$(at_least "$(fig "$tmp/basic.out" kvm.vcpu.pf_fixed)" 2048)"
check "basic: KVM pages_4k >= 2048" yes "$(at_least "$(fig "$tmp/basic.out" kvm.vm.pages_4k)" 2048)"
check "basic: JSON has KVM's VM and vCPU statistics" "PASS yes yes" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["result"], "yes" if d["kvm"]["vm"].get("pages_4k", 0) > 0 else "no",
      "yes" if d["kvm"]["vcpu"].get("exits", 0) > 0 else "no")' "$tmp/basic.json" 2>&1)"

vmm corrupt --memory 4m --passes 2 --corrupt-page 900
check "corrupt: a damaged word fails the run" 1 "$rc"
check "corrupt: result" CORRUPT "$(fig "$tmp/corrupt.out" result)"
check "corrupt: the guest saw it" yes "$(at_least "$(fig "$tmp/corrupt.out" guest.words_bad)" 1)"
check "corrupt: the message names the address" 1 \
	"$(grep -c 'corrupted words, the first at gva 0x40384038' "$tmp/corrupt.err")"

vmm smp --vcpus 2 --memory 8m --passes 4 --dup-every 4
passes smp
check "smp: 2 vCPUs" 2 "$(fig "$tmp/smp.out" vcpus)"

vmm swap --memory 4m --passes 6 --swap --swap-batch 32 --swap-interval 500
passes swap
check "swap: all 1024 pages evicted before the second check" 1024 \
	"$(fig "$tmp/swap.out" swap.evicted_before_check)"
check "swap: the pager served faults" yes "$(at_least "$(fig "$tmp/swap.out" pager.faults)" 1024)"
check "swap: no pager error" 0 "$(fig "$tmp/swap.out" pager.errors)"

vmm swapfile --vcpus 2 --memory 4m --passes 4 --swap --swap-store file --swap-interval 200
passes swapfile

vmm memfd --memory 4m --passes 4 --backing memfd
passes memfd

vmm thp --memory 8m --passes 4 --pages thp --guest-pages 2m
passes thp
check "thp: KVM maps 2 MiB pages" yes "$(at_least "$(fig "$tmp/thp.out" kvm.vm.pages_2m)" 1)"

vmm balloon --memory 4m --passes 4 --balloon 512
passes balloon
check "balloon: inflated to half the pool, then deflated" "256 256 0 0" \
	"$(for k in balloon.inflated balloon.deflated balloon.actual balloon.rejected; do
		fig "$tmp/balloon.out" $k; done | tr '\n' ' ' | sed 's/ $//')"
check "balloon: the host freed the pool (resident pages before, inflated)" "1536 1024" \
	"$(fig "$tmp/balloon.out" balloon.resident_before_inflate) $(fig "$tmp/balloon.out" balloon.resident_inflated)"
check "balloon: the guest's statistics arrived (MemTotal of 1536 pages)" 6291456 \
	"$(fig "$tmp/balloon.out" balloon.stats.memtot)"
check "balloon: all 16 statistics tags, in both reports" "16 2" \
	"$(fig "$tmp/balloon.out" balloon.stats_tags) $(fig "$tmp/balloon.out" balloon.stats_reports)"
check "balloon: the host got memory back" yes \
	"$(at_least "$(fig "$tmp/balloon.out" balloon.bytes_given_back)" 1048576)"
vmm balloonfd --memory 4m --passes 4 --balloon 512 --backing memfd
passes balloonfd
check "balloon on memfd: the pool punched out of the file" "1536 1024" \
	"$(fig "$tmp/balloonfd.out" balloon.resident_before_inflate) $(fig "$tmp/balloonfd.out" balloon.resident_inflated)"

# The host memory manager runs the data region (--manager): 1024 pages under a budget of
# 512 (host.mem=2m), the window (384 pages) moving 64 a pass. Each swap policy must keep
# the content, never more than 512 pages resident (mincore, checked every 5 ms and at the
# end against the manager's books), and count what the pager did: its swap-outs are the
# pager's evictions, its faults the pager's faults (first touches + swap-ins).
for policy in random fifo clock lru ws; do
	vmm "mgr-$policy" --memory 4m --passes 6 --window 384 --step 64 --pings 0 \
		--manager "host.mem=2m swap=$policy"
	passes "mgr-$policy"
	out=$tmp/mgr-$policy.out
	check "mgr-$policy: the policy ran" "$policy" "$(fig "$out" manager.policy)"
	check "mgr-$policy: every check of the books against mincore passed" 0 \
		"$(fig "$out" manager.check_failures)"
	check "mgr-$policy: checked while running" yes "$(at_least "$(fig "$out" manager.checks)" 2)"
	check "mgr-$policy: at most 512 pages resident" yes \
		"$(at_least 512 "$(fig "$out" manager.max_resident)")"
	check "mgr-$policy: swap-outs = pager evictions" "$(fig "$out" pager.evictions)" \
		"$(fig "$out" manager.swap_outs)"
	check "mgr-$policy: faults = pager faults" "$(fig "$out" pager.faults)" \
		"$(fig "$out" manager.faults)"
	check "mgr-$policy: faults = 1024 first touches + swap-ins" "$(fig "$out" manager.faults)" \
		"$(($(fig "$out" manager.swap_ins) + 1024))"
	check "mgr-$policy: over the budget, pages left (>= 1024 - 512)" yes \
		"$(at_least "$(fig "$out" manager.swap_outs)" 512)"
	check "mgr-$policy: no refused eviction" 0 "$(fig "$out" manager.evict_failed)"
done
# The manager's dedup policy on the guest's RAM (dedup=ksm): every second page of the 1024
# holds the one shared content (--dup-every 2), so 512 pages can merge; ksm's
# max_page_sharing (256) gives them at least 2 store pages. The guest checks every word of
# every page, merged ones included; the region's memory (its own pages plus the store
# pages) stays within the 512-page budget.
vmm mgr-dedup --vcpus 2 --memory 4m --passes 6 --window 384 --step 64 --pings 0 --dup-every 2 \
	--manager "host.mem=2m swap=clock dedup=ksm:pages_to_scan=1000:sleep_millisecs=5"
passes mgr-dedup
out=$tmp/mgr-dedup.out
check "mgr-dedup: every check of the books against memory passed" 0 \
	"$(fig "$out" manager.check_failures)"
check "mgr-dedup: at most 512 pages of memory" yes \
	"$(at_least 512 "$(fig "$out" manager.max_resident)")"
check "mgr-dedup: merges carried out (>= 256)" yes \
	"$(at_least "$(fig "$out" manager.dedup_merges)" 256)"
check "mgr-dedup: shared in the books = merged in memory" "$(fig "$out" manager.shared_pages)" \
	"$(fig "$out" pager.merged_now)"
check "mgr-dedup: shared frames = store pages, at least 2" \
	"$(fig "$out" manager.shared_frames) yes" \
	"$(fig "$out" pager.store_pages) $(at_least "$(fig "$out" pager.store_pages)" 2)"
check "mgr-dedup: no merge or unmerge failed" 0 "$(fig "$out" manager.dedup_errors)"
echo "    manager with dedup=ksm: $(fig "$out" manager.dedup_merges) merges" \
	"($(fig "$out" manager.dedup_merges_refused) refused), $(fig "$out" manager.shared_pages)" \
	"pages on $(fig "$out" pager.store_pages) store pages at the end"

echo "    manager, same guest pattern: faults by policy (random fifo clock lru ws):" \
	"$(for policy in random fifo clock lru ws; do fig "$tmp/mgr-$policy.out" manager.faults; done |
		tr '\n' ' ')"
check "manager: random and clock fault differently on the same pattern" yes \
	"$([ "$(fig "$tmp/mgr-random.out" manager.faults)" != "$(fig "$tmp/mgr-clock.out" manager.faults)" ] &&
		echo yes || echo no)"
vmm mgrjson --memory 4m --passes 2 --pings 0 --manager "host.mem=2m swap=clock" \
	--json "$tmp/mgr.json"
passes mgrjson
check "manager: JSON has the policy and the manager's and KVM's figures" "PASS clock yes yes" \
	"$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
f = d["figures"]
print(d["result"], d["manager_policy"],
      "yes" if f["manager.swap_outs"] == f["pager.evictions"] > 0 else "no",
      "yes" if d["kvm"]["vcpu"].get("pf_fixed", 0) > 0 else "no")' "$tmp/mgr.json" 2>&1)"
# The same policy on simulated frames: the guest's trace replayed through vmem-host.
sh "$top/vmm/compare-manager.sh" "$bin" "host.mem=2m swap=clock" --memory 4m --passes 6 \
	--window 384 --step 64 --pings 0 >"$tmp/cmpmgr.out" 2>&1
check "compare-manager.sh: exit status" 0 $?
check "compare-manager.sh: 1024 first touches on real RAM" 1024 \
	"$(awk '/^first touches/ { print $(NF - 1) }' "$tmp/cmpmgr.out")"
sed 's/^/    /' "$tmp/cmpmgr.out"
vmm usage3 --manager "host.mem=2m swap=none" --memory 4m
check "--manager swap=none is refused" 1 "$rc"
check "--manager swap=none: the message names the policies" 1 \
	"$(grep -c 'swap=none cannot keep host.mem' "$tmp/usage3.err")"
vmm usage4 --manager "host.mem=2m" --swap
check "--manager with --swap is refused" 2 "$rc"

# KVM's dirty log, page-exact: 1024 pages filled, 6 passes of 256 window pages less the
# shared ones (every 3rd page: 85 or 86 of each window), no page for a check.
vmm dirty --memory 4m --passes 6 --dup-every 3 --dirty-log
passes dirty
check "dirty: every command logged exactly the pages it wrote" 0 \
	"$(fig "$tmp/dirty.out" dirty.mismatched_commands)"
check "dirty: logged = expected" "$(fig "$tmp/dirty.out" dirty.expected_pages)" \
	"$(fig "$tmp/dirty.out" dirty.logged_pages)"
vmm dirtyswap --memory 4m --passes 6 --dirty-log --swap --swap-interval 500
passes dirtyswap
check "dirty + swap: each command's log within its writes + the pager's refaults" 0 \
	"$(fig "$tmp/dirtyswap.out" dirty.mismatched_commands)"

# The same accesses in the simulator: every data page is one host fault there too.
sh "$top/vmm/compare.sh" "$bin" --memory 4m --passes 4 >"$tmp/compare.out" 2>&1
check "compare.sh: exit status" 0 $?
check "compare.sh: vmemsim shadow fills one shadow entry per data page" 1024 \
	"$(awk '/^host MMU faults fixed/ { print $(NF - 1) }' "$tmp/compare.out")"
sed 's/^/    /' "$tmp/compare.out"

vmm timeout --memory 64m --passes 100000 --timeout 1
check "--timeout 1 stops a guest that runs longer, and fails" 1 "$rc"
check "--timeout: the message says so" 1 "$(grep -c 'did not finish within 1 s' "$tmp/timeout.err")"

vmm usage --vcpus 17
check "--vcpus 17 is refused" 2 "$rc"
vmm usage2 --swap --backing memfd
check "--swap with memfd is refused" 2 "$rc"

# Same-page merging while the guest runs its passes: every 4th page holds the shared content,
# 2048 / 4 = 512 pages, one kept and 511 mapped from it (the own scanner's store page: 512
# sharing it); the anonymous memory of the data region drops by those pages, 2044 KiB+.
# drop FILE KEY1 KEY2: KEY1's value less KEY2's (empty if either is missing).
drop() { a=$(fig "$1" "$2"); b=$(fig "$1" "$3"); [ -n "$a" ] && [ -n "$b" ] && echo $((a - b)); }
vmm dedup --memory 8m --dup-every 4 --passes 300 --pings 0 --dedup
passes dedup
check "dedup: merging ran while the guest ran" 1 "$(fig "$tmp/dedup.out" dedup.merging_while_running)"
check "dedup: pages_sharing > 0" yes "$(at_least "$(fig "$tmp/dedup.out" dedup.pages_sharing)" 1)"
check "dedup: Anonymous dropped by >= 1 MiB (smaps)" yes \
	"$(at_least "$(drop "$tmp/dedup.out" smaps.before.anonymous_kb smaps.after.anonymous_kb)" 1024)"
check "dedup: no scanner error" 0 "$(fig "$tmp/dedup.out" dedup.errors)"
vmm usage3 --dedup --swap
check "--dedup with --swap is refused" 2 "$rc"
check "--dedup with --swap: the message says why" 1 "$(grep -c 'pager owns' "$tmp/usage3.err")"

# The kernel's KSM on the same data (its knobs restored after): KSM pages stay Anonymous in
# smaps, so Pss is the figure that drops.
if [ -d /sys/kernel/mm/ksm ]; then
	ksm_run=$(cat /sys/kernel/mm/ksm/run)
	vmm ksm --memory 4m --dup-every 4 --passes 1500 --pings 0 --dedup=ksm
	passes ksm
	check "ksm: merging pages > 0 (/proc/self/ksm_stat)" yes \
		"$(at_least "$(fig "$tmp/ksm.out" ksm.merging_pages)" 1)"
	check "ksm: Pss dropped by >= 512 KiB (smaps)" yes \
		"$(at_least "$(drop "$tmp/ksm.out" smaps.before.pss_kb smaps.after.pss_kb)" 512)"
	check "ksm: /sys/kernel/mm/ksm/run restored" "$ksm_run" "$(cat /sys/kernel/mm/ksm/run)"
else
	echo "SKIP: kvm.sh: --dedup ksm: this kernel has no KSM (/sys/kernel/mm/ksm absent)"
fi

# Snapshot after the passes, then new VMs restored from it: lazily (every one of the 1024
# data pages arrives through userfaultfd on its first touch: the guest's check touches all),
# then with the working set that restore recorded prefetched. The restored guest checks
# the generations the saved one wrote: told a different pass count, it must find them wrong.
vmm snap --memory 4m --dup-every 4 --passes 6 --pings 0 --snapshot "$tmp/guest.snap"
passes snap
check "snapshot: 1024 data pages saved" 1024 "$(fig "$tmp/snap.out" snapshot.data_pages)"
vmm restore --restore "$tmp/guest.snap" --pings 0
passes restore
check "restore: the guest checked its 1024 pages" 1024 "$(fig "$tmp/restore.out" guest.pages_checked)"
check "restore: pages faulted lazily > 0" yes "$(at_least "$(fig "$tmp/restore.out" restore.lazy_faults)" 1)"
check "restore: the guest was ready (time > 0)" yes "$(at_least "$(fig "$tmp/restore.out" restore.us_to_ready)" 1)"
check "restore: the working set was recorded" yes "$([ -s "$tmp/guest.snap.ws" ] && echo yes)"
vmm prefetch --restore "$tmp/guest.snap" --prefetch --pings 0
passes prefetch
check "prefetch: pages prefetched > 0" yes "$(at_least "$(fig "$tmp/prefetch.out" restore.prefetched)" 1)"
check "prefetch: prefetched + lazy = 1024" 1024 \
	"$(awk '$1 == "restore.prefetched" || $1 == "restore.lazy_faults" { n += $2 } END { print n }' \
	"$tmp/prefetch.out")"
sed 's/passes 6/passes 5/' "$tmp/guest.snap.vmm" >"$tmp/guest.snap.tmp" && mv "$tmp/guest.snap.tmp" "$tmp/guest.snap.vmm"
vmm restorewrong --restore "$tmp/guest.snap" --pings 0
check "restore told the wrong pass count: the guest's check fails" 1 "$rc"
check "restore told the wrong pass count: result" CORRUPT "$(fig "$tmp/restorewrong.out" result)"
echo "bogus 1" >>"$tmp/guest.snap.vmm"
vmm restorebad --restore "$tmp/guest.snap"
check "restore: a bad FILE.vmm line is refused" 2 "$rc"

# Pre-copy migration while the guest runs its passes, with KVM's dirty log and with
# userfaultfd write protection: the guest writes 8 new pages (--step of a 16-page window) a
# millisecond; every round's dirty pages must include every page of the passes that ran
# within it and no page outside the passes that may have (dirty_missing, dirty_outside), the
# rounds must converge below the threshold, and the copy must equal the source.
for mech in kvm-bitmap uffd-async; do
	vmm "precopy-$mech" --memory 8m --window 16 --passes 400 --pass-interval 1000 --pings 0 \
		--precopy --precopy-mech "$mech"
	passes "precopy-$mech"
	out=$tmp/precopy-$mech.out
	check "precopy $mech: the tracker used" "$mech" "$(fig "$out" precopy.mechanism)"
	check "precopy $mech: rounds ran while the guest ran" yes "$(at_least "$(fig "$out" precopy.rounds)" 1)"
	check "precopy $mech: converged" 1 "$(fig "$out" precopy.converged)"
	check "precopy $mech: no page the guest wrote missed" 0 "$(fig "$out" precopy.dirty_missing)"
	check "precopy $mech: no page reported outside the passes" 0 "$(fig "$out" precopy.dirty_outside)"
	check "precopy $mech: round 1 found >= its lower bound" yes "$(at_least \
		"$(fig "$out" precopy.round.1.dirty)" "$(fig "$out" precopy.round.1.expected_min)")"
	check "precopy $mech: destination == source" 1 "$(fig "$out" precopy.dest_equals_source)"
	check "precopy $mech: stop-and-copy <= threshold + a pause's passes" yes \
		"$([ "$(fig "$out" precopy.stop_copy_pages)" -le 256 ] 2>/dev/null && echo yes)"
done
vmm precopy2 --vcpus 2 --memory 8m --window 16 --passes 300 --pass-interval 1000 --pings 0 --precopy
passes precopy2
check "precopy, 2 vCPUs: no page missed" 0 "$(fig "$tmp/precopy2.out" precopy.dirty_missing)"
check "precopy, 2 vCPUs: destination == source" 1 "$(fig "$tmp/precopy2.out" precopy.dest_equals_source)"
vmm usage5 --precopy --swap
check "--precopy with --swap is refused" 2 "$rc"
vmm usage6 --precopy --precopy-mech kvm-ring
check "--precopy-mech kvm-ring is refused with the reason" 1 "$(grep -c 'before the vCPUs' "$tmp/usage6.err")"

echo "kvm: $pass passed, $fail failed"
[ "$fail" = 0 ]
