#!/bin/sh
# vmem-walk --warm: the text shows, per address, the cold walk (every cache empty) and
# then the warm one (walk caches kept, TLB emptied); both end at the same address, the
# cold one is what --caches shows, the warm one what --warm's CSV shows, and the cold
# walk leaves the warm walk's caches alone (same figures with and without it).
bin=${1:?usage: walk_warm.sh BIN_DIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
trace=$top/tests/data/ls-head.lackey.zst
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

check() { # name expected actual
	if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1 = $3"
	else fail=$((fail + 1)); echo "FAIL $1: expected $2, got $3"; fi
}

mem_refs() { # text: the "N from memory" counts of its walks, in order
	sed -n 's/^[0-9]* references: \([0-9]*\) from memory.*/\1/p' "$1" | tr '\n' ' ' | sed 's/ $//'
}

csv_mem_refs() { # vmem-walk arguments...: references served by memory, from the CSV
	"$bin/vmem-walk" -o csv "$@" | awk -F, 'NR > 1 && $10 == "memory"' | wc -l | tr -d ' '
}

a=0x7f0000001000; b=0x7f0000002000
"$bin/vmem-walk" --warm $a $b >"$tmp/warm"
check "exit status" 0 $?
check "sections in order" "cold warm cold warm" \
	"$(sed -n 's/^== \([a-z]*\) walk:.*/\1/p' "$tmp/warm" | tr '\n' ' ' | sed 's/ $//')"
check "both walks of an address end at the same place" 2 \
	"$(grep '^result:' "$tmp/warm" | sort -u | wc -l | tr -d ' ')"
"$bin/vmem-walk" --caches $a >"$tmp/caches"
cold=$(mem_refs "$tmp/caches")
warm_a=$(csv_mem_refs --warm $a)
warm_b=$(csv_mem_refs --warm $a $b)   # a's walk leaves its caches to b's
warm_b=$((warm_b - warm_a))
check "cold and warm references from memory" "$cold $warm_a $cold $warm_b" "$(mem_refs "$tmp/warm")"
check "the warm walk reads fewer references from memory" 1 "$([ "$warm_a" -lt "$cold" ] && echo 1)"

# After a trace: the warm walk is the one the trace's caches give, as without the cold walk.
"$bin/vmem-walk" --warm -t "$trace" $a >"$tmp/trace"
check "with a trace: exit status" 0 $?
check "with a trace: the warm walk names the trace" 1 \
	"$(grep -c '^== warm walk: the walk caches as the trace and the touches left them' "$tmp/trace")"
check "with a trace: warm references from memory" "$(csv_mem_refs --warm -t "$trace" $a)" \
	"$(mem_refs "$tmp/trace" | cut -d' ' -f2)"
check "CSV output has no cold walk" 0 "$("$bin/vmem-walk" -o csv --warm $a | grep -c '^==')"

echo "walk_warm: $pass passed, $fail failed"
[ "$fail" = 0 ]
