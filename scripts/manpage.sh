#!/bin/sh
# Writes the man page of one of libvmem's programs, made from its own --help and --version
# output, so that the page and the program cannot disagree.
#
# usage: sh scripts/manpage.sh BIN_DIR PROGRAM > PROGRAM.1
set -eu

[ $# -eq 2 ] || { echo "usage: manpage.sh BIN_DIR PROGRAM" >&2; exit 2; }
prog=$2
exe=$1/$prog
[ -x "$exe" ] || { echo "manpage: $exe not found" >&2; exit 1; }
case $prog in
vmemsim) what="replay memory traces through models of native, nested and shadow address translation" ;;
vmem-walk) what="show each memory reference of one page walk and what it costs" ;;
vmem-trace) what="convert, inspect and print memory traces" ;;
vmem-gen) what="generate seeded synthetic memory traces" ;;
vmem-sweep) what="run experiment sweeps over traces and configurations, locally or on Slurm" ;;
vmem-host) what="run several VMs on one overcommitted host: swapping, deduplication, ballooning" ;;
vmem-capture) what="snapshot the pages of running processes as content records" ;;
vmem-precopy) what="live migration pre-copy over the dirty-page tracker, on real memory" ;;
vmem-vmm) what="run a test guest under KVM on libvmem guest RAM: swapping, ballooning, KVM statistics" ;;
*) echo "manpage: no summary for $prog" >&2; exit 1 ;;
esac
version=$("$exe" --version | awk '{ print $NF; exit }')

# roff: a backslash is written \e, and a line may not start with a dot or a quote.
escape() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

printf '.TH %s 1 "" "libvmem %s" "libvmem"\n' "$(echo "$prog" | tr 'a-z' 'A-Z')" "$version"
printf '.SH NAME\n%s \\- %s\n' "$prog" "$what"
printf '.SH DESCRIPTION\nThe text below is what \\fB%s --help\\fR prints.\n.PP\n.nf\n' "$prog"
"$exe" --help | escape
printf '.fi\n.SH SEE ALSO\n'
printf 'The libvmem README and docs/ (MODELS.md, COST-MODEL.md, STATS.md, ERRORS.md) in the source tree.\n'
