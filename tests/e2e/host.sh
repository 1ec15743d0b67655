#!/bin/sh
# End-to-end checks of vmem-host: two real traces as two VMs on a host with less memory
# than they touch. The summary must match the checked-in figures, the invariants hold
# after every turn (--check), page states add up to each VM's pages, the time series and
# JSON are well formed, demand phases idle a VM, and bad input stops with a clear message.
bin=${1:?usage: host.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
a=$here/../traces/lackey/sort-words.lackey.zst
b=$here/../traces/lackey/gzip-text.lackey.zst
expected=$here/expected/host.csv
. "$(dirname "$0")/check.inc"

# 2 MiB of host memory for two VMs that touch ~3 MiB: the swap policy must evict.
run() { "$bin/vmem-host" -q -s host.mem=2m -s guest.mem=16m "$@"; }

run --check --csv "$tmp/host.csv" --json "$tmp/host.json" --series "$tmp/series.csv" "$a" "$b"
check "exit status of an overcommitted run (invariants after every turn)" 0 $?
sed 's|^\([0-9]*\),[^,]*/|\1,|' "$tmp/host.csv" >"$tmp/host.rel.csv"
if [ "${VMEM_UPDATE_EXPECTED:-0}" = 1 ]; then cp "$tmp/host.rel.csv" "$expected"; fi
if cmp -s "$tmp/host.rel.csv" "$expected"; then check "CSV matches tests/expected/host.csv" 0 0
else check "CSV matches tests/expected/host.csv" same "$(diff "$expected" "$tmp/host.rel.csv" | head -5)"; fi

col() { # csv vm column
	awk -F, -v vm="$2" -v name="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$1 == vm { print $c[name] }' "$1"
}
for vm in 0 1; do
	sum=$(awk -F, -v vm=$vm 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$1 == vm { n = $c["untouched"] + $c["resident"] + $c["shared"] + $c["zero"]
			print n + $c["swapped"] + $c["compressed"] + $c["ballooned"] }' "$tmp/host.csv")
	check "VM $vm: pages in all states add up to its pages" "$(col "$tmp/host.csv" $vm pages)" "$sum"
done
check "some pages were swapped" yes "$([ "$(col "$tmp/host.csv" 0 swap_out)" -gt 0 ] && echo yes || echo no)"
check "some were read back" yes "$([ $(($(col "$tmp/host.csv" 0 faults_swapin) + $(col "$tmp/host.csv" 1 faults_swapin))) -gt 0 ] && echo yes || echo no)"
check "every record replayed" 4999990 $(($(col "$tmp/host.csv" 0 records) + $(col "$tmp/host.csv" 1 records)))
check "JSON parses, two VMs" 2 "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["vms"]))' "$tmp/host.json")"
check "time series: rows of both VMs, time never going back" ok "$(awk -F, 'NR > 1 { if ($1 < t) bad = 1; t = $1; n[$2]++ }
	END { print (!bad && n[0] > 3 && n[1] > 3) ? "ok" : "bad" }' "$tmp/series.csv")"

# Huge pages against overcommit: with host.page=2m first touches take 2 MiB host pages
# until fresh memory runs out; reclaim then splits them (invariants after every turn).
run --check -s host.mem=8m -s host.page=2m --csv "$tmp/thp.csv" "$a" "$b"
check "huge pages: exit status" 0 $?
check "huge pages: first touches took 2 MiB pages" yes "$([ "$(col "$tmp/thp.csv" 0 thp_faults)" -gt 0 ] && echo yes || echo no)"
run --check -s host.mem=4m -s host.page=2m --csv "$tmp/thp2.csv" "$a" "$b" \
	"$here/../traces/lackey/bzip2-text.lackey.zst" "$here/../traces/lackey/xz-text.lackey.zst"
check "huge pages under pressure: reclaim split some" yes "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	{ n += $c["thp_split_reclaim"] } END { print (n > 0 ? "yes" : "no") }' "$tmp/thp2.csv")"

# Real page contents (a snapshot of two python3 and two bash processes, one VM each, and
# sqlite3) deduplicated by the KSM policy across VMs: the content records reach the manager.
"$bin/vmem-host" -q --vm-ids -s host.mem=256m -s guest.mem=1g --check --csv "$tmp/k.csv" \
	-s "dedup=ksm:pages_to_scan=20000:sleep_millisecs=1:scope=all" \
	"$here/../traces/content/all-5.vmt.zst"
check "dedup of real contents: exit status" 0 $?
check "dedup of real contents: the two python3 VMs share pages" yes "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$1 <= 1 && $c["shared"] > 1000 { n++ } END { print (n == 2 ? "yes" : "no") }' "$tmp/k.csv")"

# A compressed tier takes compressible pages before the device does.
run --check -s zswap.percent=25 --csv "$tmp/z.csv" "$a" "$b"
check "with a compressed tier, pages are compressed" yes "$([ "$(col "$tmp/z.csv" 0 compress_out)" -gt 0 ] && echo yes || echo no)"

# Shadow paging under the same manager: the shadow trees follow every remap.
run --check -m shadow --csv "$tmp/s.csv" "$a" "$b"
check "shadow mode under the manager (invariants after every turn)" 0 $?

# Demand phases: VM 1 idles from the start until 2 ms, so VM 0 runs alone until then.
printf '# time_ms vm rate\n0 1 0\n2 1 1\n' >"$tmp/phases"
run --phases "$tmp/phases" --series "$tmp/ph.csv" "$a" "$b"
check "a phase file runs" 0 $?
check "VM 1 replays nothing before 2 ms" 0 "$(awk -F, 'NR > 1 && $1 < 2 && $2 == 1 { n += $10 } END { print n + 0 }' "$tmp/ph.csv")"

# A page's story: its first touch, and the victims of a reclaim pass with their cause.
run -s zswap.percent=20 --explain 0:0x10 --explain-reclaim 3 --explain-json "$tmp/story.json" \
	"$a" "$b" >"$tmp/story.txt"
check "story: exit status" 0 $?
check "story: the watched page's first touch" 1 "$(grep -A2 'story of VM 0 page 0x10 ' "$tmp/story.txt" | grep -c 'untouched -> resident .*first touch by a guest')"
check "story: victims of reclaim pass 3 named with the policy" yes "$(grep -q 'reclaim pass 3, the swap daemon (free [0-9]* < low [0-9]*): victim of swap policy random' "$tmp/story.txt" && echo yes || echo no)"
check "story: JSON parses, events in time order" ok "$(python3 -c 'import json,sys
e = json.load(open(sys.argv[1]))["events"]
print("ok" if e and all(a["time_cycles"] <= b["time_cycles"] for a, b in zip(e, e[1:])) else "bad")' "$tmp/story.json")"

# The story of the pages a balloon takes, under share-based ballooning on the 2 MiB host.
run -s balloon=share-idle-tax -s balloon.period_ms=1 --explain-balloon 2 "$a" "$b" \
	>"$tmp/bstory.txt"
check "balloon story: exit status" 0 $?
check "balloon story: two pages, with the policy named" 2 "$(grep -c -- '-> ballooned .*balloon policy share-idle-tax' "$tmp/bstory.txt")"

# Errors: a message naming what is wrong, exit status 1 or 2, no output files.
err() { # name expected-substring command...
	name=$1; want=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ $rc -ne 0 ] && grep -q -- "$want" "$tmp/err"; then check "$name" ok ok
	else check "$name" "exit!=0 and '$want'" "exit $rc: $(head -c 200 "$tmp/err")"; fi
}
err "native mode refused" "expected nested or shadow" run -m native "$a"
err "native mode refused in a key too" "needs nested or shadow" run -s mode=native "$a"
err "unknown key" "unknown key 'host.bogus'" run -s host.bogus=1 "$a"
err "unknown policy" "no swap policy named 'lottery'" run -s swap=lottery "$a"
err "policy parameter" "policy random has no parameter 'x'" run -s swap=random:x=1 "$a"
printf '0 1\n' >"$tmp/bad-phases"
err "phase file line" "bad-phases:1: expected TIME_MS VM RATE" run --phases "$tmp/bad-phases" "$a"
err "phase file is a directory" "is a directory" run --phases "$tmp" "$a"
err "--vm-ids takes one trace" "--vm-ids takes one trace" run --vm-ids "$a" "$b"
err "no swap and too little memory" "host memory exhausted" run -s swap=none "$a" "$b"
err "no trace" "no trace given" run
err "--explain needs VM:GFN" "expected VM:GFN" run --explain 3 "$a"
echo "host: $pass passed, $fail failed"
[ "$fail" = 0 ]
