#!/bin/sh
# End-to-end checks of what identifies a run's output: --version of every program (the
# Makefile's VERSION), the version and the configuration in vmemsim's JSON and CSV, and
# --csv-append gathering runs in one file under one header.
bin=${1:?usage: output.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
trace=$here/data/ls-head.lackey.zst
version=$(sed -n 's/^VERSION *:= *//p' "$here/../Makefile")
. "$(dirname "$0")/check.inc"

col() { # csv row column-name: the value of a column in row number `row` (1 = first data row)
	awk -F, -v row="$2" -v name="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		NR == row + 1 { print (name in c) ? $c[name] : "(no column)" }' "$1"
}

# --version everywhere.
for prog in $(cd "$bin" && ls | grep -v "^bench_"); do
	out=$("$bin/$prog" --version)
	check "$prog --version exit status" 0 $?
	check "$prog --version" "$prog (libvmem) $version" "$out"
done

# JSON: the version beside the configuration.
"$bin/vmemsim" -q -m nested -s guest.page=2m --json "$tmp/out.json" "$trace"
check "JSON version and configuration" "$version 2m" "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["version"], d["traces"][0]["config"]["guest.page"])' "$tmp/out.json" 2>&1)"

# CSV: the leading columns stay, then the statistics, the version and cfg.KEY for every key.
"$bin/vmemsim" -q -m nested -s guest.page=2m -s tlb.l2=1024:8 --csv "$tmp/out.csv" "$trace"
check "CSV leading columns" "trace,mode,phase,warmup,records" "$(head -1 "$tmp/out.csv" | cut -d, -f1-5)"
check "CSV version column" "$version" "$(col "$tmp/out.csv" 1 version)"
check "CSV cfg.guest.page" 2m "$(col "$tmp/out.csv" 1 cfg.guest.page)"
check "CSV cfg.tlb.l2" 1024:8:lru "$(col "$tmp/out.csv" 1 cfg.tlb.l2)"
keys=$("$bin/vmemsim" --help-config | awk '/^  [a-z]/ && $1 != "mode" { printf "cfg.%s\n", $1 }')
missing=$(for k in $keys; do head -1 "$tmp/out.csv" | tr , '\n' | grep -qxF "$k" || echo "$k"; done)
check "CSV has a cfg. column for every key but mode" "" "$missing"

# --csv-append: one header, the rows of every run.
"$bin/vmemsim" -q --csv-append "$tmp/all.csv" -m native "$trace"
check "--csv-append to a new file" 0 $?
"$bin/vmemsim" -q --csv-append "$tmp/all.csv" -m shadow --warmup 1000 "$trace"
check "--csv-append to that file" 0 $?
check "one header, three rows" "1 3" "$(grep -c '^trace,' "$tmp/all.csv") $(grep -vc '^trace,' "$tmp/all.csv")"
check "rows in run order" "native,whole shadow,cold shadow,steady" \
	"$(tail -n +2 "$tmp/all.csv" | cut -d, -f2,3 | tr '\n' ' ' | sed 's/ $//')"
check "the header is the one --csv writes" "$(head -1 "$tmp/out.csv")" "$(head -1 "$tmp/all.csv")"
: >"$tmp/empty.csv"
"$bin/vmemsim" -q --csv-append "$tmp/empty.csv" -m native "$trace"
check "--csv-append to an empty file writes the header" "$(head -1 "$tmp/out.csv")" "$(head -1 "$tmp/empty.csv")"
sed '1s/,tlb.l1.hits,/,tlb.l1.hit,/' "$tmp/all.csv" >"$tmp/other.csv"
cp "$tmp/other.csv" "$tmp/other.before"
"$bin/vmemsim" -q --csv-append "$tmp/other.csv" -m native "$trace" 2>"$tmp/err"
check "--csv-append refuses another header" 2 $?
check "the refusal names the file and the column" \
	"vmemsim: $tmp/other.csv: cannot append: its header differs from this run's at column 8 ('tlb.l1.hit' there, 'tlb.l1.hits' here); write to a new file" \
	"$(cat "$tmp/err")"
check "the refused file is unchanged" same "$(cmp -s "$tmp/other.csv" "$tmp/other.before" && echo same)"
"$bin/vmemsim" -q --csv "$tmp/a.csv" --csv-append "$tmp/b.csv" "$trace" 2>"$tmp/err"
check "--csv with --csv-append" 2 $?
check "--csv with --csv-append message" 1 "$(grep -c 'give one CSV output' "$tmp/err")"

echo "output: $pass passed, $fail failed"
[ "$fail" = 0 ]
