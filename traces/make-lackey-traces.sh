#!/bin/bash
# Records the bundled real traces in traces/lackey/: small real programs run under
# Valgrind's Lackey tool (`valgrind --tool=lackey --trace-mem=yes`), which prints one line
# per instruction fetch, load, store and modify ("I  addr,size", " L addr,size", ...).
#
#   traces/make-lackey-traces.sh [-n LINES] [-o DIR] [NAME...]
#
# NAME is one of the traces below (default: all). -n caps the lines kept of every trace
# (default: each trace's own cap, 2-3 million for the small ones, 20 million for the
# large ones); -o writes somewhere else than traces/lackey/. Each trace is a window of
# whole lines of Valgrind's output: the first SKIP lines are dropped and the next KEEP
# kept, streamed through `tail -n +SKIP+1 | head -n KEEP` so the full output (gigabytes
# of text for the large traces) never reaches the disk. A window from the start keeps
# the ==pid== banner lines (the readers skip them). The window is compressed with
# `zstd -19` into DIR/NAME.lackey.zst. Valgrind is stopped as soon as enough lines have
# been read, so a small trace takes seconds to a minute; a large one runs its program
# through 100-320 million lines first, several minutes each.
#
# Inputs are generated here with fixed seeds (words.txt, text.txt, lines.txt,
# order.txt, random.bin), so the traces depend only on the programs' and Valgrind's
# versions, except grep-include, which reads the machine's /usr/include/linux. At the
# end a Markdown table of what was written (lines, accesses by kind, distinct 4 KiB
# pages touched, compressed size) is printed for traces/README.md.
#
# Needs: valgrind, zstd, python3 (the system /usr/bin/python3 for the python traces),
# coreutils, gzip, xz-utils, bzip2, grep.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/lackey
CAP=

usage() {
	echo "usage: $0 [-n LINES] [-o DIR] [NAME...]" >&2
	echo "NAME: sort-words gzip-text xz-text bzip2-text grep-include python-dict" >&2
	echo "      sort-large shuf-large python-dictbig" >&2
	exit 2
}

while getopts n:o:h opt; do
	case $opt in
	n) CAP=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
case "$CAP" in
'' | *[!0-9]*) [ -z "$CAP" ] || usage ;;
esac

for tool in valgrind zstd python3; do
	command -v "$tool" >/dev/null || { echo "$0: $tool not found" >&2; exit 1; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# A fixed working directory: its name reaches the programs (Python hashes its path), so a
# random one would make reruns differ. One run at a time.
WORK=${TMPDIR:-/tmp}/make-lackey-traces.work
rm -rf "$WORK"
mkdir -p "$WORK"
VG=
cleanup() {
	if [ -n "$VG" ]; then kill -KILL "$VG" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"

# Deterministic inputs: 60,000 random lowercase words (one per line, ~510 KB), and a
# 512 KB text of those words in lines of 8 to 15 words. A 64-bit LCG (Knuth's MMIX
# constants) keeps them identical under every Python version.
# words.py: the generator and the 60,000 words, the start of every input script below.
cat >words.py <<'EOF'
state = 2024
def rnd(n):
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    return (state >> 33) % n
letters = "etaoinshrdlcumwfgypbvkjxqz"
words = []
for _ in range(60000):
    length = 2 + rnd(7) + rnd(6)
    words.append("".join(letters[min(rnd(26), rnd(26))] for _ in range(length)))
EOF
{ cat words.py; cat <<'EOF'; } | python3 -
with open("words.txt", "w") as f:
    f.write("\n".join(words) + "\n")
lines, size = [], 0
while size < 512 * 1024:
    line = " ".join(words[rnd(len(words))] for _ in range(8 + rnd(8)))
    lines.append(line)
    size += len(line) + 1
with open("text.txt", "w") as f:
    f.write("\n".join(lines) + "\n")
EOF

# The Python workload: an interpreter building and sorting a 400,000-entry dict of
# small lists. Python's own start-up (-S -s: no site module, no user site directory; the
# environment is emptied and PYTHONHASHSEED=0 fixes the string hashes) takes about 29
# million Lackey lines on Debian 12's Python 3.11, so python-dict skips the first 32
# million lines and keeps a window of the workload proper.
cat >dict.py <<'EOF'
d = {}
for i in range(400000):
    d[(i * 2654435761) % 1000003] = [i, str(i)]
keys = sorted(d)
t = 0
for k in keys[::7]:
    t += d[k][0]
print(t)
EOF

# The dict workload of python-dictbig: the 150,000 lines of lines.txt as bytes objects
# (51 MB, in pymalloc pools by size class) become the values of a dict keyed by their
# line numbers, and then four passes look the line numbers up in the order of order.txt,
# a fixed random permutation of them, and add up the lengths of the lines found. Each
# lookup lands on an unrelated index slot, dict entry, key object and line. Everything
# runs in C (map, sum), so the lookups are a few hundred Lackey lines apart.
cat >dictbig.py <<'EOF'
lines = open("lines.txt", "rb").read().split(b"\n")
del lines[-1]
d = dict(zip(range(len(lines)), lines))
order = list(map(int, open("order.txt", "rb").read().split()))
n = 0
for _ in range(4):
    n += sum(map(len, map(d.__getitem__, order)))
print(len(d), n)
EOF

# large_input FILE: makes an input of the large traces (once): lines.txt, 150,000 lines
# of 20 to 60 of the words.txt words (same generator and seed, 51 MB), order.txt or
# random.bin.
large_input() {
	[ -f "$WORK/$1" ] && return 0
	case $1 in
	lines.txt)
		{ cat words.py; cat <<'EOF'; } | python3 -
with open("lines.txt", "w") as f:
    for _ in range(150000):
        f.write(" ".join(words[rnd(len(words))] for _ in range(20 + rnd(41))) + "\n")
EOF
		;;
	order.txt | random.bin)
		# order.txt: 0..149999 shuffled (Fisher-Yates), one a line; random.bin: 4 MiB,
		# the bytes shuf draws its permutation from. The same 64-bit LCG, other seeds.
		python3 - <<'EOF'
def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield state >> 32
r = lcg(7)
order = list(range(150000))
for i in range(len(order) - 1, 0, -1):
    j = next(r) % (i + 1)
    order[i], order[j] = order[j], order[i]
with open("order.txt", "w") as f:
    f.write("\n".join(map(str, order)) + "\n")
r = lcg(11)
with open("random.bin", "wb") as f:
    f.write(b"".join(next(r).to_bytes(4, "little") for _ in range(1 << 20)))
EOF
		;;
	esac
}

# record NAME SKIP KEEP COMMAND...: lines SKIP+1 .. SKIP+KEEP of Lackey's output.
record() {
	local name=$1 skip=$2 keep=$3 fifo="$WORK/fifo"
	shift 3
	[ -z "$CAP" ] || [ "$keep" -le "$CAP" ] || keep=$CAP
	echo "== $name: $* (lines $((skip + 1))..$((skip + keep)))" >&2
	rm -f "$fifo"
	mkfifo "$fifo"
	env -i PATH=/usr/bin:/bin LC_ALL=C HOME="$WORK" PYTHONHASHSEED=0 \
		valgrind --tool=lackey --trace-mem=yes --log-fd=3 "$@" 3>"$fifo" \
		>/dev/null 2>"$WORK/$name.err" &
	VG=$!
	tail -n +$((skip + 1)) <"$fifo" | head -n "$keep" >"$WORK/$name.lackey"
	# Valgrind carries on after the pipe closes; it has nothing more to give us.
	kill -KILL "$VG" 2>/dev/null || true
	wait "$VG" 2>/dev/null || true
	VG=
	rm -f "$fifo"
	local got
	got=$(wc -l <"$WORK/$name.lackey")
	if [ "$got" -eq 0 ]; then
		echo "$0: $name: no output from valgrind:" >&2
		cat "$WORK/$name.err" >&2
		exit 1
	fi
	zstd -19 -q -f "$WORK/$name.lackey" -o "$OUT/$name.lackey.zst"
	rm -f "$WORK/$name.lackey"
}

SELECTED="$*"
ALL="sort-words gzip-text xz-text bzip2-text grep-include python-dict"
ALL="$ALL sort-large shuf-large python-dictbig"
for n in $SELECTED; do
	case " $ALL " in *" $n "*) ;; *) echo "$0: unknown trace $n" >&2; usage ;; esac
done
# sel NAME: NAME was asked for (or nothing was, which asks for all).
sel() {
	[ -z "$SELECTED" ] && return 0
	case " $SELECTED " in *" $1 "*) return 0 ;; esac
	return 1
}

sel sort-words && record sort-words 0 2000000 sort words.txt
sel gzip-text && record gzip-text 0 3000000 gzip -6 -c text.txt
sel xz-text && record xz-text 0 2000000 xz -6 -c text.txt
sel bzip2-text && record bzip2-text 0 2000000 bzip2 -9 -c text.txt
sel grep-include && record grep-include 0 3000000 grep -r -c -E 'struct [a-z_]+ \{' /usr/include/linux
sel python-dict && record python-dict 32000000 3000000 /usr/bin/python3 -S -s dict.py

# The large traces: data footprints of 40-60 MiB, several times the reach of a
# 1536-entry STLB of 4 KiB pages, each a contiguous window of about 20 million records
# in the program's main phase, where it keeps coming back to the pages it touched.
sel sort-large && large_input lines.txt &&
	record sort-large 300000000 20000000 sort -S 1G --parallel=1 lines.txt
sel shuf-large && large_input lines.txt && large_input random.bin &&
	record shuf-large 90000000 20000000 shuf --random-source=random.bin lines.txt
sel python-dictbig && large_input lines.txt && large_input order.txt &&
	record python-dictbig 715000000 20000000 /usr/bin/python3 -S -s dictbig.py

# The table for traces/README.md, from the files as written.
echo
echo "valgrind: $(valgrind --version)"
echo
echo "| file | lines | I | L | S | M | 4K pages (code/data) | bytes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for f in "$OUT"/*.lackey.zst; do
	name=$(basename "$f")
	sel "${name%.lackey.zst}" || continue
	stats=$(zstd -dc "$f" | python3 -c '
import sys
n = {"I": 0, "L": 0, "S": 0, "M": 0}
lines = 0
pages, ipages, dpages = set(), set(), set()
for line in sys.stdin:
    lines += 1
    kind = line[0] if line[0] == "I" else line[1:2]
    if kind not in n or line[2:3] != " ":
        continue
    addr, size = line[3:].split(",")
    addr, size = int(addr, 16), int(size)
    n[kind] += 1
    tgt = ipages if kind == "I" else dpages
    for p in range(addr >> 12, ((addr + max(size, 1) - 1) >> 12) + 1):
        pages.add(p)
        tgt.add(p)
print("%d | %d | %d | %d | %d | %d (%d/%d)" % (lines, n["I"], n["L"], n["S"], n["M"],
      len(pages), len(ipages), len(dpages)))
')
	echo "| $name | $stats | $(wc -c <"$f") |"
done
