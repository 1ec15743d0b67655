#!/bin/sh
# The configuration presets in configs/ load in vmemsim and vmem-walk and set what they
# say; skylake.conf, libvmem's defaults written out, changes no figure.
bin=${1:?usage: presets.sh BIN_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
trace=$top/tests/data/ls-head.lackey.zst
. "$(dirname "$0")/check.inc"

col() { # csv column-name: the column's value in the first data row
	awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		NR == 2 { print $c[name] }' "$1"
}

n=0
for conf in "$top"/configs/*.conf; do
	name=$(basename "$conf")
	# A preset of vmem-host (host keys vmemsim does not take) is checked by demo.sh.
	grep -q '^# .*(vmem-host -c configs/' "$conf" && continue
	n=$((n + 1))
	"$bin/vmemsim" -q -c "$conf" --csv "$tmp/$name.csv" "$trace"
	check "vmemsim -c configs/$name" 0 $?
	"$bin/vmem-walk" -c "$conf" 0x7f0000001000 >/dev/null
	check "vmem-walk -c configs/$name" 0 $?
	# Every key=value line of the file is what the run used, as vmemsim prints it.
	sed -e 's/#.*//' -e 's/[ \t]//g' "$conf" | grep = | while IFS== read -r key value; do
		got=$(col "$tmp/$name.csv" "cfg.$key")
		case $value in *:*:*) want=$value ;; *:*) want=$value:lru ;; 0) want=0:0:lru ;; *) want=$value ;; esac
		[ "$got" = "$want" ] || echo "$key: file $value, run $got"
	done >"$tmp/diff"
	check "configs/$name: the run used every value of the file" "" "$(cat "$tmp/diff")"
done
check "presets found" 1 "$([ "$n" -ge 3 ] && echo 1)"

"$bin/vmemsim" -q --csv "$tmp/default.csv" "$trace"
check "configs/skylake.conf is the defaults" same \
	"$(cmp -s "$tmp/default.csv" "$tmp/skylake.conf.csv" && echo same)"

echo "presets: $pass passed, $fail failed"
[ "$fail" = 0 ]
