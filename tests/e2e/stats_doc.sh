#!/bin/sh
# docs/STATS.md is what `make stats-doc` makes from the programs under test: a statistic
# added or described anew without regenerating it fails here. Every statistic of the CSV
# header and every miss-ratio-curve column has its line in vmemsim --help-stats.
bin=${1:?usage: stats_doc.sh BIN_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/check.inc"

sh "$top/scripts/stats-doc.sh" "$bin" "$tmp/STATS.md"
check "stats-doc.sh exit status" 0 $?
if cmp -s "$tmp/STATS.md" "$top/docs/STATS.md"; then check "docs/STATS.md is up to date" 0 0
else check "docs/STATS.md is up to date (make stats-doc regenerates it)" same \
	"$(diff "$top/docs/STATS.md" "$tmp/STATS.md" | head -3)"; fi

"$bin/vmemsim" --help-stats >"$tmp/help"
"$bin/vmemsim" -q --csv "$tmp/out.csv" --mrc "$tmp/mrc.csv" -m native "$top/tests/data/ls-head.lackey.zst"
undescribed() { # header file: its columns that have no "  NAME  MEANING" line
	head -1 "$1" | tr , '\n' | grep -v '^cfg\.' | while read -r c; do
		grep -q "^  $c  *[^ ]" "$tmp/help" || echo "$c"
	done
}
check "every CSV column is described" "" "$(undescribed "$tmp/out.csv")"
check "every curve column is described" "" "$(undescribed "$tmp/mrc.csv")"
check "cfg.KEY columns are described" 1 "$(grep -c '^  cfg\.KEY  ' "$tmp/help")"

echo "stats_doc: $pass passed, $fail failed"
[ "$fail" = 0 ]
