#!/bin/sh
# Output file names are honoured by vmem-trace convert and vmem-gen: *.lackey is Lackey
# text, *.vmt.zst is compressed, and names that ask for what is not written (gzip, xz,
# compressed Lackey text from vmem-trace) or contradict --to are refused with a message,
# leaving no file behind.
bin=${1:?usage: outnames.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
trace=$here/data/ls-head.lackey.zst
. "$(dirname "$0")/check.inc"

"$bin/vmem-trace" convert "$trace" "$tmp/out.lackey" 2>/dev/null
check "convert to out.lackey: exit status" 0 $?
check "out.lackey is Lackey text" "I  0401ab70,3" "$(head -n 1 "$tmp/out.lackey")"
"$bin/vmem-trace" convert "$trace" "$tmp/out.vmt" 2>/dev/null
"$bin/vmem-trace" convert "$trace" "$tmp/out.vmt.zst" 2>"$tmp/err"
check "convert to out.vmt.zst: exit status" 0 $?
check "out.vmt.zst is written compressed" 1 "$(grep -c '(vmt+zstd)' "$tmp/err")"
check "out.vmt.zst is smaller than out.vmt" yes \
	"$([ "$(wc -c <"$tmp/out.vmt.zst")" -lt "$(wc -c <"$tmp/out.vmt")" ] && echo yes)"
check "out.vmt.zst replays the same records" \
	"$("$bin/vmem-trace" info "$tmp/out.vmt" | grep '^records')" \
	"$("$bin/vmem-trace" info "$tmp/out.vmt.zst" | grep '^records')"

for name in out.vmt.gz out.lackey.xz; do
	"$bin/vmem-trace" convert "$trace" "$tmp/$name" 2>"$tmp/err"
	check "convert to $name: refused" 2 $?
	check "convert to $name: message" 1 "$(grep -c "$name: gzip and xz output are not written" "$tmp/err")"
	check "convert to $name: no file left" no "$([ -e "$tmp/$name" ] && echo yes || echo no)"
done
"$bin/vmem-trace" convert "$trace" "$tmp/x.lackey.zst" 2>"$tmp/err"
check "convert to x.lackey.zst: refused" 2 $?
check "convert to x.lackey.zst: message" 1 "$(grep -c "Lackey output is written as plain text" "$tmp/err")"
"$bin/vmem-trace" convert --to vmt "$trace" "$tmp/y.lackey" 2>"$tmp/err"
check "--to vmt with y.lackey: refused" 2 $?
check "--to vmt with y.lackey: message" 1 "$(grep -c "the name says Lackey text but --to vmt was given" "$tmp/err")"

"$bin/vmem-gen" -o "$tmp/g.gz" pattern=sequential footprint=1m count=10 2>"$tmp/err"
check "vmem-gen -o g.gz: refused" 2 $?
check "vmem-gen -o g.gz: message" 1 "$(grep -c "g.gz: gzip and xz output are not written" "$tmp/err")"
"$bin/vmem-gen" -o "$tmp/g.lackey" pattern=sequential footprint=1m count=10 2>/dev/null
check "vmem-gen -o g.lackey writes Lackey text" 10 "$(grep -c '^ [LSM] ' "$tmp/g.lackey")"

echo "outnames: $pass passed, $fail failed"
[ "$fail" = 0 ]
