#!/bin/sh
# End-to-end checks of configuration handling as a user meets it:
#   - the mode: a program's --mode wins wherever it stands on the command line; otherwise
#     a mode= key (from -s or -c) is obeyed by vmemsim and vmem-walk alike; otherwise
#     vmemsim runs all three modes and vmem-walk nested; mode=all is no configuration value;
#   - an inconsistent configuration names the key, its value and the constraint;
#   - --config given a directory names it.
bin=${1:?usage: config.sh BIN_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
trace=$here/data/ls-head.lackey.zst
. "$(dirname "$0")/check.inc"

modes() { # vmemsim arguments...: the modes of the CSV rows, space-separated
	"$bin/vmemsim" -q --csv - "$@" "$trace" | awk -F, 'NR > 1 { printf "%s%s", s, $2; s = " " }'
}

walk_mode() { # vmem-walk arguments...: the mode its explanation names
	"$bin/vmem-walk" "$@" 0x7f0000001000 | awk 'NR == 1 { print $1 }'
}

fails_with() { # name message program arguments...: exit status 2 and the message
	name=$1; msg=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	check "$name: exit status" 2 $?
	if grep -qF -- "$msg" "$tmp/err"; then check "$name: message" ok ok
	else check "$name: message" "$msg" "$(cat "$tmp/err")"; fi
}

printf 'mode = nested   # one machine\n' >"$tmp/nested.conf"

# The mode.
check "vmemsim without a mode runs all three" "native nested shadow" "$(modes)"
check "vmemsim obeys -s mode=" "shadow" "$(modes -s mode=shadow)"
check "vmemsim obeys mode= in a config file" "nested" "$(modes -c "$tmp/nested.conf")"
check "vmemsim --mode before -c wins" "native" "$(modes --mode native -c "$tmp/nested.conf")"
check "vmemsim --mode after -c wins" "shadow" "$(modes -c "$tmp/nested.conf" -m shadow)"
check "vmemsim --mode all wins over mode=" "native nested shadow" \
	"$(modes -c "$tmp/nested.conf" --mode all)"
check "vmem-walk without a mode walks nested" "nested" "$(walk_mode)"
check "vmem-walk obeys -s mode=" "native" "$(walk_mode -s mode=native)"
check "vmem-walk: the last --mode wins" "nested" "$(walk_mode -m shadow -c "$tmp/nested.conf" -m nested)"
check "vmem-walk --mode before -c wins" "shadow" "$(walk_mode --mode shadow -c "$tmp/nested.conf")"
printf 'mode=native\n' >"$tmp/native.conf"
check "vmem-walk obeys mode= in a config file" "native" "$(walk_mode -c "$tmp/native.conf")"
for prog in vmemsim vmem-walk; do
	if "$bin/$prog" --help | grep -q "overrides a mode= key"; then check "$prog --help states the rule" 0 0
	else check "$prog --help states the rule" "overrides a mode= key" "$("$bin/$prog" --help | grep -- --mode)"; fi
done
check "--help-config states vmemsim's default" 1 \
	"$("$bin/vmemsim" --help-config | grep -c '^  mode .*without either, vmemsim runs all three.*\[unset: all three\]$')"
printf 'mode=all\n' >"$tmp/all.conf"
fails_with "vmemsim -s mode=all" "mode: bad value 'all': expected native, nested or shadow" \
	"$bin/vmemsim" -s mode=all "$trace"
fails_with "vmemsim mode=all in a file" "$tmp/all.conf:1: mode: bad value 'all'" \
	"$bin/vmemsim" -c "$tmp/all.conf" "$trace"
fails_with "vmem-walk mode=all in a file" "vmemsim --mode all runs the three" \
	"$bin/vmem-walk" -c "$tmp/all.conf" 0x1000
fails_with "vmem-walk --mode all" "--mode: expected native, nested or shadow, not all" \
	"$bin/vmem-walk" --mode all 0x1000

# Inconsistent configurations: the key, the value and the constraint.
for prog in vmemsim vmem-walk; do
	arg=$trace; [ $prog = vmem-walk ] && arg=0x1000
	fails_with "$prog guest.mem=3m" \
		"$prog: inconsistent configuration: guest.mem=3m: must be a multiple of 2m, at least 2m" \
		"$bin/$prog" -s guest.mem=3m "$arg"
	fails_with "$prog host.mem=1m" "host.mem=1m: must be a multiple of 2m, at least 2m" \
		"$bin/$prog" -s host.mem=1m "$arg"
	fails_with "$prog shadow.roots=0" "shadow.roots=0: must be at least 1" \
		"$bin/$prog" -s shadow.roots=0 "$arg"
	fails_with "$prog pcid.count=4096" "pcid.count=4096: must be 1..4095" \
		"$bin/$prog" -s pcid.count=4096 "$arg"
	fails_with "$prog shadow.max_pages=4 with 5 levels" \
		"shadow.max_pages=4: must be 0 (derived from guest.mem) or at least guest.levels=5" \
		"$bin/$prog" -s shadow.max_pages=4 -s guest.levels=5 "$arg"
done

# A directory where a configuration file belongs.
mkdir "$tmp/confdir"
fails_with "vmemsim --config DIR" "vmemsim: $tmp/confdir: is a directory; expected a file" \
	"$bin/vmemsim" --config "$tmp/confdir" "$trace"
fails_with "vmem-walk --config DIR" "vmem-walk: $tmp/confdir: is a directory" \
	"$bin/vmem-walk" --config "$tmp/confdir" 0x1000

echo "config: $pass passed, $fail failed"
[ "$fail" = 0 ]
