#!/bin/sh
# vmem-precopy: live migration's pre-copy over the dirty-page tracker, on real memory.
# Each run ends with the destination compared with the source page by page; the checks
# here want that comparison exact, a low dirty rate to converge, and a dirty rate above the
# bandwidth never to converge and to stop at the round limit.
#
# Figures the expectations rest on: --bandwidth 64 is 16384 pages/s, so 4096 pages take
# 0.25 s and 500 writes/s dirty ~125 pages meanwhile, whose re-copy (8 ms) dirties ~4: at most
# 64 (the default threshold) after round 2. --bandwidth 8 is 2048 pages/s: a round of 1024
# pages takes 0.5 s, in which 20000 writes/s touch every one of the 1024 pages, so every
# round finds all of them dirty and the run stops at --max-rounds.
bin=${1:?usage: precopy.sh BIN_DIR}
. "$(dirname "$0")/check.inc"
p=$bin/vmem-precopy

# Low rate: converges; content exact.
"$p" --pages 4096 --rate 500 --bandwidth 64 --csv "$tmp/low.csv" >"$tmp/low" 2>"$tmp/low.err"
check "low rate: exit status" 0 $?
check "low rate: converged" 1 "$(grep -c '^precopy: converged after' "$tmp/low")"
check "low rate: destination == source" 1 "$(grep -c 'destination == source (0 pages differ)' "$tmp/low")"
rounds=$(sed -n 's/^precopy: converged after \([0-9]*\) rounds.*/\1/p' "$tmp/low")
check "low rate: converged within 4 rounds" yes "$([ "${rounds:-99}" -le 4 ] && echo yes)"
check "low rate: round 1 sent the whole region" "1,4096" "$(sed -n 2p "$tmp/low.csv" | cut -d, -f1-2)"
check "low rate: the CSV has the rounds and the stop-and-copy" "$((rounds + 2))" "$(wc -l <"$tmp/low.csv")"
check "low rate: last line is the stop-and-copy" stop-copy "$(tail -1 "$tmp/low.csv" | cut -d, -f6)"
# The dirty pages of round 1 against the expectation 4096 (1 - exp(-500 T / 4096)), T the
# round's time: within a factor 2 (the machine is shared and writers are paced per ms).
check "low rate: round 1's dirty set near the expectation" yes "$(sed -n 2p "$tmp/low.csv" |
	awk -F, '{ print ($3 >= $5 / 2 && $3 <= $5 * 2 + 8) ? "yes" : "no: " $3 " vs " $5 }')"
# Every page sent after round 1 was one the previous round found dirty.
check "low rate: each round sends the previous round's dirty set" "" "$(awk -F, 'NR > 2 && $2 != prev { print NR": "$2" != "prev } { prev = $3 }' "$tmp/low.csv" | grep -v stop || true)"

# Rate above the bandwidth: no convergence, the round limit, content still exact.
"$p" --pages 1024 --rate 20000 --bandwidth 8 --max-rounds 3 --csv "$tmp/high.csv" >"$tmp/high" 2>&1
check "high rate: exit status" 0 $?
check "high rate: round limit after 3 rounds" 1 "$(grep -c '^precopy: round limit after 3 rounds' "$tmp/high")"
check "high rate: destination == source" 1 "$(grep -c 'destination == source (0 pages differ)' "$tmp/high")"
check "high rate: every live round found (nearly) every page dirty" yes "$(awk -F, '$6 == "live" && $3 < 1000 { bad = 1 } END { print bad ? "no" : "yes" }' "$tmp/high.csv")"
# At 20000 writes/s over 1024 pages a 0.5 s round dirties 1024 (1 - e^-9.8) = all but 0.06
# pages on average; writers starved of CPU on a loaded machine write fewer, hence >= 1000.
check "high rate: stop-and-copy is (nearly) the working set" yes \
	"$(tail -1 "$tmp/high.csv" | awk -F, '{ print ($2 >= 1000 && $2 <= 1024) ? "yes" : "no: " $2 }')"

# The synchronous mechanism and the direct copy, and a hot set.
"$p" --pages 2048 --rate 3000 --mech uffd-sync --transport copy -q >"$tmp/sync" 2>&1
check "uffd-sync, copy: exit status" 0 $?
check "uffd-sync, copy: destination == source" 1 "$(grep -c '(uffd-sync), destination == source (0 pages differ)' "$tmp/sync")"
check "uffd-sync, copy: -q prints the summary only" 1 "$(wc -l <"$tmp/sync")"
"$p" --pages 4096 --hot-set 128 --hot-share 95 --rate 30000 --bandwidth 128 -q >"$tmp/hot" 2>&1
check "hot set: destination == source" 1 "$(grep -c 'destination == source (0 pages differ)' "$tmp/hot")"

# The report names the mechanism and why not the others.
check "report: no VM for the KVM mechanisms" 2 "$(grep -c 'not kvm-.*: no VM attached' "$tmp/low")"
"$p" --mech kvm-bitmap --pages 16 2>"$tmp/err" >/dev/null
check "a forced mechanism that is not available: status 1" 1 $?
check "... and why" "vmem-precopy: tracker: kvm-bitmap is not available here: no VM attached (kvm_vm_fd is -1)" "$(cat "$tmp/err")"

echo "precopy: $pass passed, $fail failed"
[ "$fail" = 0 ]
