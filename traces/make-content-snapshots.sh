#!/bin/sh
# Makes the page-content snapshots of traces/content/: real processes started here (two
# python3, two bash, one sqlite3 with an open database of a few MiB), each run until it
# has done its work and waits, then captured with vmem-capture (CONTENT records, .vmt with
# a zstd record stream). Prints the table of traces/README.md from `vmem-trace info`.
#
# usage: sh traces/make-content-snapshots.sh [-o OUT_DIR] [BIN_DIR]
#        (OUT_DIR defaults to traces/content, BIN_DIR to build/rel/bin)
#
# Needs /usr/bin/python3, bash and sqlite3 (Debian: python3, bash, sqlite3), and ptrace
# access to the processes it starts (its own children: any user, unless
# kernel.yama.ptrace_scope is 2 or more).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/traces/content
if [ "${1:-}" = -o ]; then
	out=${2:?usage: make-content-snapshots.sh [-o OUT_DIR] [BIN_DIR]}
	shift 2
fi
bin=$(cd "${1:-$top/build/rel/bin}" && pwd)
for p in /usr/bin/python3 bash sqlite3 "$bin/vmem-capture" "$bin/vmem-trace"; do
	command -v "$p" >/dev/null 2>&1 || { echo "make-content-snapshots: $p not found" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The same empty environment for every process (as traces/make-lackey-traces.sh does).
# env execs the program, so $! after "$run PROGRAM &" is the program's own pid. The
# processes write nothing to the caller's output (a pipe there would stay open).
run="env -i PATH=/usr/bin:/bin LC_ALL=C HOME=$work PYTHONHASHSEED=0"

# waitfor FILE: until a process has written FILE (60 s at most).
waitfor() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then
			echo "make-content-snapshots: $1 not written in 60 s" >&2
			cat "$work/log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# python3: the same modules imported, different data built from different seeds, then
# wait. -S -s: no site packages, so only the standard library is loaded.
cat >"$work/py.py" <<'EOF'
import collections, decimal, email.parser, html.parser, http.client, json, random, re
import sqlite3, sys, time, xml.etree.ElementTree as ET
rng = random.Random(int(sys.argv[1]))
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 12)))
         for _ in range(60000)]
counts = collections.Counter(words)
doc = json.dumps(counts.most_common(5000))
found = re.findall(r'\b[aeiou][a-z]{3,}\b', ' '.join(words[:20000]))
total = sum(decimal.Decimal(len(w)) / 7 for w in words[:5000])
root = ET.fromstring('<r>' + ''.join('<w n="%d">%s</w>' % (i, w) for i, w in enumerate(words[:3000])) + '</r>')
open(sys.argv[2], 'w').write('%d %d %d %s\n' % (len(doc), len(found), len(root), total))
time.sleep(3600)
EOF
$run /usr/bin/python3 -S -s "$work/py.py" 1 "$work/py1.ready" >/dev/null 2>>"$work/log" &
py1=$!
pids="$pids $py1"
$run /usr/bin/python3 -S -s "$work/py.py" 2 "$work/py2.ready" >/dev/null 2>>"$work/log" &
py2=$!
pids="$pids $py2"

# bash: an associative array and a sort through a pipe, then wait on a FIFO that nobody
# opens for writing.
mkfifo "$work/never"
cat >"$work/sh.sh" <<'EOF'
declare -A m
for ((i = 1; i <= $1; i++)); do m[key$i]=$((i * i % 9973)); done
s=$(printf '%s\n' "${m[@]}" | sort -n | tail -n 1)
echo "${#m[@]} $s" > "$2"
read -r _ < "$3"
EOF
$run bash --norc --noprofile "$work/sh.sh" 3000 "$work/sh1.ready" "$work/never" \
	>/dev/null 2>>"$work/log" &
sh1=$!
pids="$pids $sh1"
$run bash --norc --noprofile "$work/sh.sh" 5000 "$work/sh2.ready" "$work/never" \
	>/dev/null 2>>"$work/log" &
sh2=$!
pids="$pids $sh2"

# sqlite3: a 4-5 MiB database made with a fixed seed, opened by the sqlite3 shell with a
# page cache large enough for all of it; two queries read every page; then it waits for
# more input on a FIFO this script keeps open.
$run /usr/bin/python3 -S -s - "$work/db.sqlite" <<'EOF'
import random, sqlite3, sys
rng = random.Random(3)
db = sqlite3.connect(sys.argv[1])
db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, note TEXT)')
db.execute('CREATE INDEX t_name ON t (name)')
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(3, 9)))
         for _ in range(5000)]
db.executemany('INSERT INTO t (name, qty, note) VALUES (?, ?, ?)',
               ((rng.choice(words), rng.randint(0, 10**6),
                 ' '.join(rng.choice(words) for _ in range(rng.randint(5, 20))))
                for _ in range(40000)))
db.commit()
db.close()
EOF
mkfifo "$work/sql.in"
$run sqlite3 "$work/db.sqlite" <"$work/sql.in" >/dev/null 2>>"$work/log" &
sq=$!
pids="$pids $sq"
exec 3>"$work/sql.in"
cat >&3 <<EOF
PRAGMA cache_size = -16384;
SELECT count(*), sum(length(note)), max(qty) FROM t;
SELECT name, count(*) FROM t GROUP BY name ORDER BY 2 DESC LIMIT 3;
.output $work/sq.ready
SELECT 'ready';
.output stdout
EOF

for f in py1 py2 sh1 sh2 sq; do waitfor "$work/$f.ready"; done
sleep 0.5

cap() { # file pid...: captures the processes as vm 0, 1, ...
	f=$1
	shift
	"$bin/vmem-capture" -q --level 19 -o "$out/$f" "$@"
}
cap python3-x2.vmt.zst "$py1" "$py2"
cap bash-x2.vmt.zst "$sh1" "$sh2"
cap sqlite3.vmt.zst "$sq"
cap all-5.vmt.zst "$py1" "$py2" "$sh1" "$sh2" "$sq"
exec 3>&-
db_bytes=$(wc -c <"$work/db.sqlite")

val() { sed -n "s/^$2: //p" "$1"; }
echo "database: $db_bytes bytes"
echo
echo "| file | processes | pages | zero | distinct hashes | duplicate pages | sharing a hash | ... within a process | ... across processes | bytes |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for f in python3-x2 bash-x2 sqlite3 all-5; do
	"$bin/vmem-trace" info "$out/$f.vmt.zst" >"$work/info"
	case $f in
	python3-x2) what="python3, python3" ;;
	bash-x2) what="bash, bash" ;;
	sqlite3) what="sqlite3" ;;
	all-5) what="all five" ;;
	esac
	echo "| $f.vmt.zst | $what | $(val "$work/info" content.pages) | $(val "$work/info" content.pages_zero) | $(val "$work/info" content.hashes_distinct) | $(val "$work/info" content.pages_duplicate) | $(val "$work/info" content.pages_shared) | $(val "$work/info" content.pages_shared_within) | $(val "$work/info" content.pages_shared_across) | $(wc -c <"$out/$f.vmt.zst") |"
done
echo
echo "classes (pages of class 0 .. 15):"
for f in python3-x2 bash-x2 sqlite3 all-5; do
	echo "  $f: $("$bin/vmem-trace" info "$out/$f.vmt.zst" | sed -n 's/^content.classes: //p')"
done
