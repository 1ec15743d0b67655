#!/bin/sh
# End-to-end checks of vmemsim's warm-up (--warmup) and --data-only on a bundled real trace:
# the cold and steady phases add up to the whole replay counter by counter, a warm-up as
# long as the trace is an error, and --data-only replays exactly the data records.
bin=${1:?usage: warmup.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
trace=$here/data/ls-head.lackey.zst
. "$(dirname "$0")/check.inc"

col() { # csv mode phase column-name
	awk -F, -v mode="$2" -v phase="$3" -v name="$4" '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$2 == mode && $3 == phase { print $c[name] }' "$1"
}

"$bin/vmemsim" -q --csv "$tmp/whole.csv" "$trace"
"$bin/vmemsim" -q --warmup 20000 --csv "$tmp/warm.csv" --json "$tmp/warm.json" "$trace"
check "warm-up replay exit status" 0 $?
check "two rows per mode (cold, steady)" 6 "$(tail -n +2 "$tmp/warm.csv" | wc -l)"
check "the warm-up is recorded in every row" 6 "$(awk -F, 'NR > 1 && $4 == 20000' "$tmp/warm.csv" | wc -l)"
check "cold phase holds the warm-up's records" 20000 "$(col "$tmp/warm.csv" nested cold records)"

# Every counter of the cold phase plus the steady phase equals the whole replay's; the
# derived ratios and the gauges (tables and frames in use now) are not sums.
python3 - "$tmp/whole.csv" "$tmp/warm.csv" >"$tmp/sums" <<'PY'
import csv, sys
whole = {r["mode"]: r for r in csv.DictReader(open(sys.argv[1]))}
parts = {}
for r in csv.DictReader(open(sys.argv[2])):
    parts[(r["mode"], r["phase"])] = r
skip = {"tlb.miss_rate", "walk.refs_per_walk", "walk.refs_per_completed",
        "cycles.per_access", "cycles.translation_share"}
bad = []
for mode, w in whole.items():
    for k, v in w.items():
        if k in ("trace", "mode", "phase", "warmup", "version") or k in skip or \
                k.startswith(("pages.", "frames.", "cfg.")):
            continue
        s = int(parts[(mode, "cold")][k]) + int(parts[(mode, "steady")][k])
        if s != int(v):
            bad.append("%s %s: %d + %d != %s" % (mode, k, int(parts[(mode, "cold")][k]),
                       int(parts[(mode, "steady")][k]), v))
    for k in w:
        if k.startswith(("pages.", "frames.")) and parts[(mode, "steady")][k] != w[k]:
            bad.append("%s %s: steady %s != whole %s" % (mode, k, parts[(mode, "steady")][k], w[k]))
print("\n".join(bad) if bad else "ok")
PY
check "cold + steady = whole, counter by counter" ok "$(head -n 3 "$tmp/sums")"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["traces"][0]
print(d["warmup"], sorted(d["modes"]), sorted(d["cold"]), d["cold"]["native"]["records"])' \
	"$tmp/warm.json" >"$tmp/json" 2>&1
check "JSON has the warm-up, steady modes and cold modes" \
	"20000 ['native', 'nested', 'shadow'] ['native', 'nested', 'shadow'] 20000" "$(cat "$tmp/json")"
"$bin/vmemsim" --warmup 20000 -m native "$trace" >"$tmp/table"
check "the table shows both phases" 2 "$(grep -c -e ': cold start, the first 20000 records' \
	-e ': steady state, after 20000 warm-up records' "$tmp/table")"

# The miss-ratio curves restart with the statistics: at the configured STLB (1536 entries)
# and L1 DTLB 4K (64) the curve's misses are the steady state's.
"$bin/vmemsim" -q --warmup 20000 --csv "$tmp/wm.csv" --mrc "$tmp/mrc.csv" "$trace"
mrc() { # mode array entries
	awk -F, -v m="$1" -v a="$2" -v e="$3" '$2 == m && $3 == a && $7 == e { print $9 }' "$tmp/mrc.csv"
}
for mode in native nested shadow; do
	check "$mode: STLB curve at 1536 entries = steady tlb.l2.misses" \
		"$(col "$tmp/wm.csv" $mode steady tlb.l2.misses)" "$(mrc $mode l2 1536)"
	check "$mode: L1 DTLB 4K curve at 64 entries = steady tlb.l1d.misses" \
		"$(col "$tmp/wm.csv" $mode steady tlb.l1d.misses)" "$(mrc $mode l1d.4k 64)"
done

# A warm-up that leaves nothing to measure, or a bad count: errors.
"$bin/vmemsim" -q --warmup 60000 "$trace" 2>"$tmp/err"
check "warm-up as long as the trace: exit status" 1 $?
check "warm-up as long as the trace: message" 1 \
	"$(grep -c "ls-head.lackey.zst: 59994 records; --warmup 60000 leaves none for the steady state" "$tmp/err")"
"$bin/vmemsim" -q --warmup 1000 --limit 1000 "$trace" 2>"$tmp/err"
check "warm-up not below --limit: exit status" 2 $?
"$bin/vmemsim" -q --warmup 1e6 "$trace" 2>"$tmp/err"
check "warm-up not a number: exit status" 2 $?
check "warm-up not a number: message" 1 "$(grep -c -- "--warmup 1e6: expected a number of records" "$tmp/err")"

# --data-only: instruction fetches are skipped, so the accesses are the trace's data records.
data=$(zstd -dc "$trace" | grep -c '^ [LSM] ')
"$bin/vmemsim" -q --data-only --csv "$tmp/data.csv" "$trace"
check "--data-only replays the data records" "$data" "$(col "$tmp/data.csv" native whole accesses)"
check "--data-only: no instruction TLB lookups" 0 "$(col "$tmp/data.csv" shadow whole tlb.l1i.lookups)"
check "--data-only: data TLB lookups unchanged" "$(col "$tmp/whole.csv" native whole tlb.l1d.lookups)" \
	"$(col "$tmp/data.csv" native whole tlb.l1d.lookups)"

# A trace with no records is an error, not a row of zeros.
: >"$tmp/empty.lackey"
printf '\n\n' >"$tmp/blank.lackey"
"$bin/vmemsim" -q "$tmp/empty.lackey" 2>"$tmp/err"
check "empty trace: exit status" 1 $?
check "empty trace: message names the file" 1 "$(grep -c "empty.lackey: no trace records" "$tmp/err")"
"$bin/vmemsim" -q "$tmp/blank.lackey" 2>"$tmp/err"
check "blank-line trace: exit status" 1 $?

echo "warmup: $pass passed, $fail failed"
[ "$fail" = 0 ]
