#!/bin/sh
# End-to-end checks of vmem-walk: the reference counts of cold walks for each paging
# configuration, counted from its CSV output (one line per reference).
#   native:  n references (one fewer per larger page level)
#   nested:  n*(m+1) + m = (n+1)(m+1) - 1 with n, m the guest and host walk depths
bin=${1:?usage: walk.sh BIN_DIR}
pass=0; fail=0

check() { # name expected actual
	if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1 = $3"
	else fail=$((fail + 1)); echo "FAIL $1: expected $2, got $3"; fi
}

refs() { # vmem-walk arguments...; prints the number of references of the walk
	"$bin/vmem-walk" -o csv "$@" | tail -n +2 | wc -l | tr -d ' '
}

check "native 4-level 4k" 4 "$(refs -m native 0x7f0000001000)"
check "native 5-level 4k" 5 "$(refs -m native -s guest.levels=5 0x7f0000001000)"
check "native 4-level 2m" 3 "$(refs -m native -s guest.page=2m 0x7f0000200000)"
check "native 4-level 1g" 2 "$(refs -m native -s guest.page=1g 0x7f0040000000)"
check "shadow 4-level 4k" 4 "$(refs -m shadow 0x7f0000001000)"
check "nested 4/4 4k/4k" 24 "$(refs -m nested 0x7f0000001000)"
check "nested 5/5 4k/4k" 35 "$(refs -m nested -s guest.levels=5 -s host.levels=5 0x7f0000001000)"
check "nested 4/5 4k/4k" 29 "$(refs -m nested -s host.levels=5 0x7f0000001000)"
check "nested 4/4 2m/4k" 19 "$(refs -m nested -s guest.page=2m 0x7f0000200000)"
check "nested 4/4 4k/2m" 19 "$(refs -m nested -s host.page=2m 0x7f0000001000)"
check "nested 4/4 2m/2m" 15 "$(refs -m nested -s guest.page=2m -s host.page=2m 0x7f0000200000)"
check "nested 4/4 1g/1g" 8 "$(refs -m nested -s guest.page=1g -s host.page=1g 0x7f0040000000)"

# Every reference of a cold walk with the walk caches off comes from memory.
served=$("$bin/vmem-walk" -o csv 0x7f0000001000 | tail -n +2 | cut -d, -f10 | sort -u)
check "cold walk served by" memory "$served"

# Bad input: a clear one-line error and a non-zero exit.
if "$bin/vmem-walk" 0xzz >/dev/null 2>err.$$; then st=0; else st=$?; fi
check "bad address exit status" 2 "$st"
check "bad address message" 1 "$(grep -c "expected a number" err.$$)"
if "$bin/vmem-walk" -m native 0x800000000000 >/dev/null 2>err.$$; then st=0; else st=$?; fi
check "non-canonical address exit status" 1 "$st"
check "non-canonical address message" 1 "$(grep -c "not canonical" err.$$)"
rm -f err.$$

echo "walk: $pass passed, $fail failed"
[ "$fail" = 0 ]
