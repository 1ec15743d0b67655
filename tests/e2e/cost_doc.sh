#!/bin/sh
# docs/COST-MODEL.md documents every cost key with the default the programs use: each
# "cost.*" line of `vmemsim --help-config` ("KEY  help [DEFAULT]") must have a table row
# "| `KEY` | DEFAULT | source ... |" in the document.
bin=${1:?usage: cost_doc.sh BIN_DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
doc=$here/docs/COST-MODEL.md
pass=0; fail=0
if [ ! -f "$doc" ]; then
	echo "FAIL docs/COST-MODEL.md exists"
	echo "cost_doc: 0 passed, 1 failed"
	exit 1
fi
keys=$("$bin/vmemsim" --help-config | awk '$1 ~ /^cost\./ { d = $NF; gsub(/[][]/, "", d); print $1 "=" d }')
[ -n "$keys" ] || { echo "FAIL no cost keys in --help-config"; exit 1; }
for kv in $keys; do
	key=${kv%%=*}; def=${kv#*=}
	if grep -q "^| \`$key\` | $def | [^|]" "$doc"; then
		pass=$((pass + 1)); echo "ok   $key default $def documented with a source"
	else
		fail=$((fail + 1)); echo "FAIL $key: no row '| \`$key\` | $def | ...' in docs/COST-MODEL.md"
	fi
done
echo "cost_doc: $pass passed, $fail failed"
[ "$fail" = 0 ]
