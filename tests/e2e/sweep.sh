#!/bin/sh
# vmem-sweep end to end: a small sweep (a bundled real trace and a generated one, the STLB
# at four sizes, two modes: 16 runs) run in one go; the same sweep killed half-way and
# resumed, which must redo no finished run and end with every run present once and the
# same table; failed runs recorded with their error while the sweep goes on; collect
# without the spec, JSON, run-task chunks, the batch script, plots, and spec errors.
bin=${1:?usage: sweep.sh BIN_DIR}
bin=$(cd "$bin" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/check.inc"
cd "$tmp" || exit 1
ln -s "$top/traces" traces
sweep="$bin/vmem-sweep"

"$bin/vmem-gen" -o gen.vmt pattern=uniform footprint=64m count=150k seed=3 >/dev/null 2>&1
cat >small.sweep <<'EOF'
# 2 traces x 4 tlb.l2 x 2 modes = 16 runs
trace = traces/lackey/xz-text.lackey.zst gen.vmt
axis tlb.l2 = range 64..512 *2 as {}:4
modes = native nested
limit = 150k
EOF

check "plan counts the runs" "16" \
	"$("$sweep" plan small.sweep | head -n 1 | sed -n 's/.*: \([0-9]*\) runs.*/\1/p')"
check "plan lists every run" "17" "$("$sweep" plan small.sweep | wc -l)"

# The sweep in one go.
"$sweep" run --jobs 2 --results ref small.sweep 2>ref.log
check "run in one go exits 0" 0 $?
check "run in one go: summary" "vmem-sweep: 16 runs: 16 ran, 0 reused, 0 failed" \
	"$(sed -n 's/; results in.*//p' ref.log)"
"$sweep" collect --results ref --csv ref.csv small.sweep 2>/dev/null
check "one go: a row per run" 17 "$(wc -l <ref.csv)"

# The same sweep, killed (SIGKILL, as a crash) once some runs are done, then resumed.
"$sweep" run --jobs 1 --results res small.sweep 2>/dev/null &
pid=$!
n=0
for _ in $(seq 600); do
	n=$(find res/runs -type f ! -name '.*' 2>/dev/null | wc -l)
	[ "$n" -ge 4 ] && break
	sleep 0.05
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
done1=$(find res/runs -type f ! -name '.*' | wc -l)
[ "$done1" -ge 4 ] && [ "$done1" -lt 16 ]
check "killed half-way ($done1 of 16 runs done)" 0 $?
sleep 0.3   # the orphaned vmemsim of the killed sweep finishes
"$sweep" run --jobs 2 --results res small.sweep 2>resume.log
check "resume exits 0" 0 $?
check "resume redoes no finished run" \
	"vmem-sweep: 16 runs: $((16 - done1)) ran, $done1 reused, 0 failed" \
	"$(sed -n 's/; results in.*//p' resume.log)"
check "every run present once" 16 "$(find res/runs -type f ! -name '.*' | wc -l)"
"$sweep" collect --results res --csv res.csv small.sweep 2>/dev/null
check "resumed table equals the one-go table" "" "$(cmp res.csv ref.csv 2>&1)"
check "keys unique" 16 "$(tail -n +2 res.csv | cut -d, -f2 | sort -u | wc -l)"
"$sweep" run --results res small.sweep 2>again.log
check "a finished sweep reruns nothing" "vmem-sweep: 16 runs: 0 ran, 16 reused, 0 failed" \
	"$(sed -n 's/; results in.*//p' again.log)"

# Collect without the spec: every result of the folder, sorted by key.
"$sweep" collect --results res >all.csv 2>/dev/null
check "collect --results: every result" 17 "$(wc -l <all.csv)"
"$sweep" collect --results ref --json ref.json small.sweep 2>/dev/null
check "JSON: 16 runs, statistics as numbers" "16 True" "$(python3 -c '
import json, sys
t = json.load(open("ref.json"))
print(len(t), all(isinstance(r["stats"]["accesses"], int) for r in t))')"

# Partial results: collect says how many are present.
rm -f "$(find ref/runs -type f | head -n 1)"
check "collect on partial results" "vmem-sweep: 15 of 16 runs present (0 failed)" \
	"$("$sweep" collect --results ref small.sweep 2>&1 >/dev/null)"

# A changed trace is a different run: its results are not reused.
"$bin/vmem-gen" -o gen.vmt pattern=uniform footprint=64m count=150k seed=4 >/dev/null 2>&1
"$sweep" run --results res small.sweep 2>changed.log
check "a changed trace reruns its runs" "vmem-sweep: 16 runs: 8 ran, 8 reused, 0 failed" \
	"$(sed -n 's/; results in.*//p' changed.log)"

check "the folder holds both versions' results" 24 "$(find res/runs -type f ! -name '.*' | wc -l)"

# A failed run is recorded with its error; the others run; exit status 1.
printf 'I  0400d7d4,8\nthis is no trace\n' >bad.lackey
cat >bad.sweep <<'EOF'
trace = bad.lackey gen.vmt
modes = native
EOF
"$sweep" run --results bad bad.sweep 2>bad.log
check "failed run: exit status 1" 1 $?
check "failed run: summary" "vmem-sweep: 2 runs: 1 ran, 0 reused, 1 failed" \
	"$(sed -n 's/; results in.*//p' bad.log)"
check "failed run: reported with the error" 1 "$(grep -c 'run 0 (bad.lackey mode=native) failed: vmemsim: bad.lackey:2:' bad.log)"
"$sweep" collect --results bad bad.sweep 2>/dev/null >bad.csv
check "failed run: in the table with its error" "failed" \
	"$(awk -F, 'NR == 2 { print $7 }' bad.csv)"
check "failed run: the error names FILE:LINE" 1 "$(grep -c 'bad.lackey:2:' bad.csv)"

# Array tasks: chunk K of the plan through the same code; the batch script.
"$sweep" run-task --task 1 --chunk 4 --results res small.sweep 2>task.log
check "run-task runs its chunk" "vmem-sweep: 4 runs: 0 ran, 4 reused, 0 failed" \
	"$(sed -n 's/; results in.*//p' task.log)"
"$sweep" run-task --task 4 --chunk 4 --results res small.sweep 2>/dev/null
check "run-task past the last chunk fails" 2 $?
"$sweep" submit --no-submit --chunk 5 --max-parallel 2 --partition p1 --time 5:00 \
	--results res small.sweep >/dev/null
s=res/slurm/small.sbatch
check "submit: an array of 4 tasks of 5, 2 at a time" 1 "$(grep -c '^#SBATCH --array=0-3%2$' "$s")"
check "submit: partition and time" 2 "$(grep -c -e '^#SBATCH --partition=p1$' -e '^#SBATCH --time=5:00$' "$s")"
check "submit: each task runs run-task" 1 "$(grep -c 'vmem-sweep'"'"' run-task .*--chunk 5 ' "$s")"

# Plots: PNG and PDF of each standard plot (the heat map needs two axes: none here).
"$sweep" plot --results ref --out plots small.sweep >plot.log 2>&1
check "plot exits 0" 0 $?
for p in miss_rate cycles_by_mode; do
	[ -s "plots/$p.png" ] && [ -s "plots/$p.pdf" ]
	check "plot: $p.png and $p.pdf" 0 $?
done

# Spec errors name the file and line; bounds are enforced.
printf 'trace = gen.vmt\naxis tlb.l2 = 64 huge\n' >e1.sweep
check "spec error names FILE:LINE" "vmem-sweep: e1.sweep:2: tlb.l2: bad value 'huge'" \
	"$("$sweep" plan e1.sweep 2>&1 | cut -d: -f1-5)"
"$sweep" plan e1.sweep >/dev/null 2>&1
check "spec error: exit status 2" 2 $?
printf 'trace = nothing/*.vmt\n' >e2.sweep
check "trace pattern matching nothing" "vmem-sweep: e2.sweep:1: trace nothing/*.vmt: no such file" \
	"$("$sweep" plan e2.sweep 2>&1 | sed 's/ (patterns.*//')"
check "max-runs bounds the plan" 1 \
	"$("$sweep" plan --max-runs 10 small.sweep 2>&1 | grep -c 'has 16 runs, more than max-runs = 10')"

# A vmemsim of another build is refused: its version is part of every key.
"$sweep" run --vmemsim /bin/echo --results other small.sweep 2>other.log
check "another vmemsim is refused" "1 1" "$? $(grep -c 'must come from the same build' other.log)"

# The bundled example specs plan (from the top of the tree, as documented).
for spec in "$top"/examples/sweeps/*.sweep; do
	(cd "$top" && "$sweep" plan "examples/sweeps/$(basename "$spec")" >/dev/null)
	check "examples/sweeps/$(basename "$spec") plans" 0 $?
done

echo "sweep: $pass passed, $fail failed"
[ "$fail" = 0 ]
