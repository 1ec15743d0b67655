#!/bin/sh
# Runs every end-to-end test script in tests/e2e/ against the programs in BIN_DIR.
# Each script prints a line per check and exits non-zero on failure.
bin=${1:?usage: run.sh BIN_DIR}
dir=$(dirname "$0")
passed=0; failed=0
for t in "$dir"/*.sh; do
	[ "$(basename "$t")" = run.sh ] && continue
	echo "== $(basename "$t")"
	if sh "$t" "$bin"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t" >&2; fi
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
