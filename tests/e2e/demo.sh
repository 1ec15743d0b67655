#!/bin/sh
# End-to-end check of `make demo`'s job (scripts/demo.sh) on the bundled large real traces:
# the statistics equal the checked-in figures (tests/expected/demo.csv), in the steady
# state nested paging costs more translation cycles per access than native paging on every
# trace, the overcommit scenario's figures equal tests/expected/demo-host.csv, and every
# plot is drawn.
bin=${1:?usage: demo.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
expected=$here/expected/demo.csv
. "$(dirname "$0")/check.inc"

DEMO_OUT="$tmp/out" sh "$here/../scripts/demo.sh" "$bin" >"$tmp/log" 2>&1
check "demo exit status" 0 $?
if [ "${VMEM_UPDATE_EXPECTED:-0}" = 1 ]; then cp "$tmp/out/demo.csv" "$expected"; fi
if cmp -s "$tmp/out/demo.csv" "$expected"; then check "demo figures match tests/expected/demo.csv" 0 0
else check "demo figures match tests/expected/demo.csv" same "$(diff "$expected" "$tmp/out/demo.csv" | head -5)"; fi

# Steady state: translation cycles per access (STLB hits, walks, exits, faults) by mode.
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$c["phase"] == "steady" {
		x = ($c["cycles.tlb"] + $c["cycles.walk"] + $c["cycles.exits"] + $c["cycles.faults"]) / $c["accesses"]
		print $c["trace"], $c["mode"], x, $c["tlb.misses"], $c["faults.guest"]
	}' "$tmp/out/demo.csv" >"$tmp/xlate"
for t in $(cut -d' ' -f1 "$tmp/xlate" | sort -u); do
	native=$(awk -v t="$t" '$1 == t && $2 == "native" { print $3 }' "$tmp/xlate")
	nested=$(awk -v t="$t" '$1 == t && $2 == "nested" { print $3 }' "$tmp/xlate")
	check "$t: steady-state translation cycles, nested ($nested) > native ($native)" yes \
		"$(awk -v a="$nested" -v b="$native" 'BEGIN { print (a > b ? "yes" : "no") }')"
	# The steady state's TLB misses are mostly (at least 80%) not first touches: real TLB pressure.
	check "$t: steady-state TLB misses are at least 5x the guest faults" yes \
		"$(awk -v t="$t" '$1 == t && $2 == "native" { print ($4 >= 5 * $5 ? "yes" : "no") }' "$tmp/xlate")"
done
# The overcommit scenario: four VMs on 60 % of their memory, against the checked-in figures
# (trace paths made relative); the host had to compress or swap.
host_expected=$here/expected/demo-host.csv
sed 's|^\([0-9]*\),[^,]*/|\1,|' "$tmp/out/host.csv" >"$tmp/host.csv"
if [ "${VMEM_UPDATE_EXPECTED:-0}" = 1 ]; then cp "$tmp/host.csv" "$host_expected"; fi
if cmp -s "$tmp/host.csv" "$host_expected"; then check "overcommit figures match tests/expected/demo-host.csv" 0 0
else check "overcommit figures match tests/expected/demo-host.csv" same "$(diff "$host_expected" "$tmp/host.csv" | head -5)"; fi
check "overcommit: four VMs" 4 "$(tail -n +2 "$tmp/host.csv" | wc -l)"
check "overcommit: pages left host memory" yes "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	{ n += $c["compress_out"] + $c["swap_out"] } END { print (n > 0 ? "yes" : "no") }' "$tmp/host.csv")"
check "every swap policy compared" "$("$bin/vmem-host" --help-policies | awk '/^swap victim/ { on = 1; next } /^$/ { on = 0 } on' | wc -l)" \
	"$(tail -n +2 "$tmp/out/policies.csv" | wc -l)"
# 2 MiB host pages translate cheaper than 4 KiB ones without overcommit, and overcommit
# splits some of them.
check "huge pages: fewer cycles per access than 4 KiB pages" yes "$(awk -F, '$1 == "4k/512m" { a = $2 / $3 } $1 == "2m/512m" { b = $2 / $3 } END { print (b < a ? "yes" : "no") }' "$tmp/out/hugepages.csv")"
check "huge pages: overcommit split some" yes "$(awk -F, '$1 == "2m/154m" { print ($7 > 0 ? "yes" : "no") }' "$tmp/out/hugepages.csv")"
for p in cycles_per_access.png cycles_per_access.pdf walk_refs_hist.png walk_refs_hist.pdf \
	walk_refs_hist-traces.png walk_refs_hist-traces.pdf host_memory.png host_memory.pdf \
	savings.png savings.pdf policies.png policies.pdf hugepages.png hugepages.pdf; do
	check "demo drew $p" yes "$([ -s "$tmp/out/plots/$p" ] && echo yes || echo no)"
done
check "demo drew a miss-ratio curve per trace" "$(cut -d' ' -f1 "$tmp/xlate" | sort -u | wc -l)" \
	"$(ls "$tmp/out/plots"/mrc-*.png 2>/dev/null | wc -l)"

echo "demo: $pass passed, $fail failed"
[ "$fail" = 0 ]
