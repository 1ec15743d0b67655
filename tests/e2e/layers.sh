#!/bin/sh
# The library's layers call down, never up (docs/DESIGN.md): a file in libvmem/LAYER/ may
# include headers of its own layer and of the layers below it, listed here lowest first.
# A layer missing from this list, or an include of a layer above, fails the check.
dir=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/check.inc"
order="base trace gen paging guest mmu host backend sweep"

rank() { # layer -> position in $order, or nothing
	i=0; for l in $order; do i=$((i + 1)); [ "$l" = "$1" ] && { echo $i; return; }; done
}

for d in "$dir"/libvmem/*/; do
	layer=$(basename "$d")
	check "layer $layer is in the order" yes "$( [ -n "$(rank "$layer")" ] && echo yes || echo no)"
done
bad=$(grep -rHo '#include "[a-z_]*/[a-z_]*\.h"' "$dir"/libvmem | grep -v '"vmem/' |
	while IFS= read -r line; do
		file=${line%%:*}; from=$(basename "$(dirname "$file")")
		to=$(echo "$line" | sed 's/.*#include "\([a-z_]*\)\/.*/\1/')
		rf=$(rank "$from"); rt=$(rank "$to")
		if [ -z "$rt" ] || [ "$rt" -gt "$rf" ]; then echo "${file#"$dir"/} includes $to/"; fi
	done)
check "no include from a lower layer to a higher one" "" "$bad"
echo "layers: $pass passed, $fail failed"
[ "$fail" = 0 ]
