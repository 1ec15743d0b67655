#!/bin/sh
# Line coverage of the saved fuzzer inputs (make coverage): replays every corpus of
# tests/fuzz/corpus/NAME through its replay binary BUILD/tests/fuzz/replay_NAME (built with
# clang -fprofile-instr-generate -fcoverage-mapping), merges the profiles and prints the
# line coverage of the trace readers and the configuration parsers. Writes BUILD/coverage/report.txt and BUILD/coverage/lines.txt (the source
# with counts, for finding the lines not run). Exits 1 if any named file but
# trace_outfile.c (no reader) is at or below the target (90%), unless COVERAGE_TARGET=0.
set -eu
build=${1:?usage: coverage.sh BUILD_DIR}
target=${COVERAGE_TARGET:-90}
out=$build/coverage
rm -rf "$out"
mkdir -p "$out/prof"

bins=
for d in tests/fuzz/corpus/*/; do
	name=$(basename "$d")
	bin=$build/tests/fuzz/replay_$name
	LLVM_PROFILE_FILE="$out/prof/$name-%p.profraw" "$bin" "$d" >/dev/null 2>&1
	bins="$bins $bin"
done
llvm-profdata-14 merge -sparse -o "$out/all.profdata" "$out"/prof/*.profraw

# llvm-cov takes the first binary as is and the others after -object.
# shellcheck disable=SC2086
set -- $bins
first=$1
shift
objs=
for b in "$@"; do objs="$objs -object $b"; done
files="libvmem/trace/*.c libvmem/mmu/mmu_config.c libvmem/gen/tracegen_config.c
libvmem/base/parse.c"
# shellcheck disable=SC2086
llvm-cov-14 report "$first" $objs -instr-profile="$out/all.profdata" $files >"$out/report.txt"
# shellcheck disable=SC2086
llvm-cov-14 show "$first" $objs -instr-profile="$out/all.profdata" $files >"$out/lines.txt"

echo "line coverage of the saved fuzzer inputs (make coverage; $out/lines.txt has the"
echo "counts of every line):"
printf '  %-32s %7s %7s %7s\n' file lines missed cover
status=0
# report columns: file, regions, missed, cover, functions, missed, cover, lines, missed,
# cover, branches, missed, cover
awk -v target="$target" '
	$1 ~ /\.c$/ || $1 == "TOTAL" {
		printf "  %-32s %7s %7s %7s\n", $1, $8, $9, $10
		if ($1 != "TOTAL" && $1 !~ /trace_outfile/ && $10 + 0 <= target + 0) bad++
	}
	END { exit bad > 0 }' "$out/report.txt" || status=1
echo "(trace_outfile.c writes the programs' output files, it reads no input: no harness"
echo "runs it and the target does not apply; tests/e2e/hostile.sh and output.sh test it)"
if [ "$status" != 0 ] && [ "$target" != 0 ]; then
	echo "coverage: a file is at or below $target% line coverage" >&2
	exit 1
fi
