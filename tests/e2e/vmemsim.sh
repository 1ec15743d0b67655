#!/bin/sh
# End-to-end checks of vmemsim on a bundled real trace (the first 60,000 lines of a
# Valgrind Lackey trace of `ls /`): the CSV must match the checked-in expected output,
# the three modes must agree on what does not depend on the mode, the same trace in .vmt
# form must give the same figures, and bad input must stop with a located message.
bin=${1:?usage: vmemsim.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
trace=$here/data/ls-head.lackey.zst
expected=$here/expected/ls-head.csv
. "$(dirname "$0")/check.inc"

col() { # csv mode column-name: the value of a column in a mode's row
	awk -F, -v mode="$2" -v name="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$2 == mode { print $c[name] }' "$1"
}

"$bin/vmemsim" -q --label ls-head --csv "$tmp/out.csv" --json "$tmp/out.json" \
	--hist "$tmp/hist.csv" "$trace"
check "exit status of a replay" 0 $?
if [ "${VMEM_UPDATE_EXPECTED:-0}" = 1 ]; then cp "$tmp/out.csv" "$expected"; fi
if cmp -s "$tmp/out.csv" "$expected"; then check "CSV matches tests/expected/ls-head.csv" 0 0
else check "CSV matches tests/expected/ls-head.csv" same "$(diff "$expected" "$tmp/out.csv" | head -5)"; fi

# Every bundled trace, real and synthetic, in all three modes, against the checked-in
# figures (one vmemsim run over all of them).
bundled=$here/expected/bundled.csv
"$bin/vmemsim" -q --csv "$tmp/bundled.csv" "$here"/../traces/lackey/*.zst "$here"/../traces/synthetic/*.zst
check "exit status of the bundled replay" 0 $?
if [ "${VMEM_UPDATE_EXPECTED:-0}" = 1 ]; then cp "$tmp/bundled.csv" "$bundled"; fi
if cmp -s "$tmp/bundled.csv" "$bundled"; then check "bundled traces match tests/expected/bundled.csv" 0 0
else check "bundled traces match tests/expected/bundled.csv" same "$(diff "$bundled" "$tmp/bundled.csv" | head -5)"; fi

# What the mode does not change: records, accesses, TLB lookups and misses (4 KiB pages
# everywhere, so every TLB entry has the same size in every mode), guest faults.
for stat in accesses translations tlb.misses faults.guest guest.pte_writes; do
	n=$(col "$tmp/out.csv" native $stat)
	check "$stat equal in nested and native" "$n" "$(col "$tmp/out.csv" nested $stat)"
	check "$stat equal in shadow and native" "$n" "$(col "$tmp/out.csv" shadow $stat)"
done
# The host maps the same guest-physical pages (data and guest page tables) in both
# virtualized modes: one host fault each.
check "faults.host equal in shadow and nested" "$(col "$tmp/out.csv" nested faults.host)" \
	"$(col "$tmp/out.csv" shadow faults.host)"
# Each first touch of a page is one guest fault; native mode has no exits.
check "native mode exits" 0 "$(col "$tmp/out.csv" native exits.total)"
# Shadow exits add up by cause.
sum=0
for cause in hidden_fault guest_fault pte_write cr3_load invlpg ept_violation; do
	sum=$((sum + $(col "$tmp/out.csv" shadow exits.$cause)))
done
check "shadow exits add up by cause" "$(col "$tmp/out.csv" shadow exits.total)" "$sum"
# The walk histogram accounts for every walk.
for mode in native nested shadow; do
	walks=$(awk -F, -v m=$mode '$2 == m { s += $4 } END { print s }' "$tmp/hist.csv")
	check "$mode histogram sums to walks" "$(col "$tmp/out.csv" $mode walks)" "$walks"
done
python3 -m json.tool "$tmp/out.json" >/dev/null 2>&1
check "JSON output parses" 0 $?

# The same trace as .vmt (plain and zstd) gives the same figures.
"$bin/vmem-trace" convert "$trace" "$tmp/t.vmt" 2>/dev/null
"$bin/vmem-trace" convert --zstd "$trace" "$tmp/tz.vmt" 2>/dev/null
"$bin/vmemsim" -q --label ls-head --csv "$tmp/vmt.csv" "$tmp/t.vmt"
"$bin/vmemsim" -q --label ls-head --csv "$tmp/vmtz.csv" "$tmp/tz.vmt"
check ".vmt replay equals Lackey replay" "$(cat "$tmp/out.csv")" "$(cat "$tmp/vmt.csv")"
check ".vmt.zst replay equals Lackey replay" "$(cat "$tmp/out.csv")" "$(cat "$tmp/vmtz.csv")"

# --mode all equals the three single modes run one after another, row for row (CSV,
# walk histogram, miss-ratio curves), however many threads run the machines: one (in
# turn), two (three machines shared out), three, and the default on one processor. The
# 59,994 records are 4 batches of 16,384; the warm-up ends inside the second.
same_rows() { # name expected-file actual-file: the rows after the header line
	tail -n +2 "$2" >"$tmp/rows.expected"
	tail -n +2 "$3" >"$tmp/rows.actual"
	if cmp -s "$tmp/rows.expected" "$tmp/rows.actual"; then check "$1" 0 0
	else check "$1" same "$(diff "$tmp/rows.expected" "$tmp/rows.actual" | head -5)"; fi
}
for out in csv hist mrc; do echo header >"$tmp/single.$out"; done
for mode in native nested shadow; do
	"$bin/vmemsim" -q -m $mode --warmup 20000 --csv "$tmp/one.csv" --hist "$tmp/one.hist" \
		--mrc "$tmp/one.mrc" "$trace"
	for out in csv hist mrc; do tail -n +2 "$tmp/one.$out" >>"$tmp/single.$out"; done
done
for threads in 1 2 3 default-on-cpu0; do
	case $threads in
	default-on-cpu0) run="taskset -c 0 $bin/vmemsim" ;;
	*) run="$bin/vmemsim --threads $threads" ;;
	esac
	if [ $threads = default-on-cpu0 ] && ! taskset -c 0 true 2>/dev/null; then
		echo "SKIP: --mode all on one processor: taskset cannot run on processor 0"
		continue
	fi
	$run -q -m all --warmup 20000 --csv "$tmp/all.csv" --hist "$tmp/all.hist" \
		--mrc "$tmp/all.mrc" "$trace"
	check "--mode all, threads $threads: exit status" 0 $?
	for out in csv hist mrc; do
		same_rows "--mode all, threads $threads: $out rows equal the single modes'" \
			"$tmp/single.$out" "$tmp/all.$out"
	done
done

# A record a machine rejects: --mode all reports the earliest one of the three single
# modes' (each machine rejects a different record, the shadow machine's first, in the
# third batch; the native machine's in the fourth), whichever thread got there first.
"$bin/vmem-gen" --format vmt -o "$tmp/uniform.vmt" pattern=uniform footprint=1g size=8 \
	count=100k seed=1 2>/dev/null
small="-s host.mem=160m -s guest.mem=200m"
for mode in native nested shadow; do
	"$bin/vmemsim" -q -m $mode $small "$tmp/uniform.vmt" 2>>"$tmp/single.err"
	check "$mode machine rejects a record of the small host: exit status" 1 $?
done
earliest=$(sort -t' ' -k4,4n "$tmp/single.err" | head -n 1)
check "the three machines reject three different records" 3 \
	"$(awk '{ print $4 }' "$tmp/single.err" | sort -u | wc -l)"
for threads in 1 2 3; do
	"$bin/vmemsim" -q --threads $threads $small "$tmp/uniform.vmt" 2>"$tmp/err"
	check "--mode all, threads $threads, small host: exit status" 1 $?
	check "--mode all, threads $threads, small host: the earliest rejection" "$earliest" \
		"$(cat "$tmp/err")"
done
"$bin/vmemsim" -q --threads 0 "$trace" 2>"$tmp/err"
check "--threads 0 exit status" 2 $?
check "--threads 0 message" 1 \
	"$(grep -c "threads 0: expected a number of threads from 1" "$tmp/err")"

# A ChampSim trace (xz-compressed, 2 instructions: one load, one store) replays as 4
# accesses: an instruction fetch per instruction plus its memory operands.
{
	printf '\000\020\100\000\000\000\000\000'              # ip 0x401000
	printf '\000\000\000\000\000\000\000\000'              # flags, registers
	printf '\000\000\000\000\000\000\000\000%.0s' 1 2      # no destinations
	printf '\000\020\000\000\000\000\000\000'              # source_memory[0] 0x1000
	printf '\000\000\000\000\000\000\000\000%.0s' 1 2 3
	printf '\004\020\100\000\000\000\000\000'              # ip 0x401004
	printf '\000\000\000\000\000\000\000\000'
	printf '\000\040\000\000\000\000\000\000'              # destination_memory[0] 0x2000
	printf '\000\000\000\000\000\000\000\000%.0s' 1 2 3 4 5
} | xz -c > "$tmp/t.champsimtrace.xz"
"$bin/vmemsim" -q -m native --csv "$tmp/cs.csv" "$tmp/t.champsimtrace.xz"
check "ChampSim .xz replay exit status" 0 $?
check "ChampSim accesses" 4 "$(col "$tmp/cs.csv" native accesses)"
check "ChampSim pages touched (guest faults)" 3 "$(col "$tmp/cs.csv" native faults.guest)"

# Bad input: malformed line -> FILE:LINE message, exit 1; --skip-bad counts and goes on.
printf 'I  0400d7d4,8\n L 04ffe4fc,8\n S 0x4zz,8\n L 04ffe500,4\n' > "$tmp/bad.lackey"
"$bin/vmemsim" -q "$tmp/bad.lackey" 2>"$tmp/err"
check "malformed trace exit status" 1 $?
check "malformed trace message names the line" 1 "$(grep -c "bad.lackey:3:" "$tmp/err")"
"$bin/vmemsim" --skip-bad -m native --csv "$tmp/skip.csv" "$tmp/bad.lackey" >/dev/null 2>"$tmp/err"
check "--skip-bad exit status" 0 $?
check "--skip-bad replays the good records" 3 "$(col "$tmp/skip.csv" native accesses)"
check "--skip-bad reports the count" 1 "$(grep -c "skipped 1 malformed" "$tmp/err")"

# An address a 4-level guest cannot map: located error, exit 1; fine with 5 levels.
printf ' L 04ffe4fc,8\n L 00ff000000001000,8\n' > "$tmp/wide.lackey"
"$bin/vmemsim" -q -m native "$tmp/wide.lackey" 2>"$tmp/err"
check "non-canonical address exit status" 1 $?
check "non-canonical address message names the line" 1 \
	"$(grep -c "wide.lackey:2: address 0xff000000001000 is not canonical" "$tmp/err")"
"$bin/vmemsim" -q -m native -s guest.levels=5 "$tmp/wide.lackey"
check "5-level guest maps a 57-bit address" 0 $?

# Bad configuration and arguments: exit 2 with what was expected.
"$bin/vmemsim" -q -s tlb.l2=100:7 "$trace" 2>"$tmp/err"
check "bad geometry exit status" 2 $?
check "bad geometry message" 1 "$(grep -c "tlb.l2: bad value '100:7': expected" "$tmp/err")"
"$bin/vmemsim" -q -s no.such.key=1 "$trace" 2>"$tmp/err"
check "unknown key exit status" 2 $?
"$bin/vmemsim" -q "$tmp/missing.lackey" 2>"$tmp/err"
check "missing trace exit status" 1 $?

echo "vmemsim: $pass passed, $fail failed"
[ "$fail" = 0 ]
