#!/bin/sh
# The tests that use KVM, against a real KVM inside QEMU (TCG emulating AMD SVM), with nested
# paging (kvm_amd npt=1) and shadow paging (npt=0): scripts/qemu/qemu-kvm.sh.
# Runs when VMEM_QEMU_KVM=1, or when this machine's own /dev/kvm cannot run a guest (then it
# is where the KVM parts of the unit tests, skipped natively, really run). Otherwise it says
# why it does not run and passes.
bin=${1:?usage: qemu_kvm.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
tests_dir=$(cd "$bin/../tests" && pwd)
. "$(dirname "$0")/check.inc"

# Native probe: the statistics probe itself runs a small guest on /dev/kvm.
cc -std=c11 -D_GNU_SOURCE -O2 -static -o "$tmp/kvm_stats" "$root/scripts/qemu/kvm_stats.c" || exit 1
if "$tmp/kvm_stats" native 16 > "$tmp/native.log" 2>&1; then
	native="usable"
else
	native="not usable: $(tail -n 1 "$tmp/native.log")"
fi
if [ "${VMEM_QEMU_KVM:-0}" != 1 ] && [ "$native" = usable ]; then
	echo "skip: native /dev/kvm is usable, the KVM tests ran on it; VMEM_QEMU_KVM=1 also runs them inside QEMU"
	exit 0
fi

programs=""
for src in $(grep -l /dev/kvm "$root"/tests/test_*.c); do
	name=$(basename "$src" .c)
	[ -x "$tests_dir/$name" ] || { echo "FAIL $name is not built in $tests_dir"; exit 1; }
	programs="$programs $tests_dir/$name"
done
# vmem-vmm with its test guest (its own checks decide PASS through its exit status).
[ -x "$bin/vmem-vmm" ] || { echo "FAIL vmem-vmm is not built in $bin"; exit 1; }
echo "################################################################################"
echo "## KVM tests run on: KVM inside QEMU (TCG emulating AMD SVM), kvm_amd npt=1 and npt=0"
echo "## native /dev/kvm: $native"
echo "################################################################################"
start=$(date +%s)
# shellcheck disable=SC2086
sh "$root/scripts/qemu/qemu-kvm.sh" "$root/build/qemu-kvm" $programs \
	"$bin/vmem-vmm -q --memory 8m --passes 4" > "$tmp/qemu.log" 2>&1
rc=$?
grep -E '^QEMU-KVM|^qemu-kvm:' "$tmp/qemu.log"
check "KVM tests inside QEMU, npt=1 and npt=0 ($(($(date +%s) - start)) s)" 0 $rc
[ "$fail" = 0 ]
