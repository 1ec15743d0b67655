#!/bin/sh
# Runs KVM tests against a real KVM inside QEMU: QEMU's software emulator (TCG) emulates
# AMD SVM with nested paging, so a stock Debian kernel booted in it loads kvm_amd and gets a
# /dev/kvm. Each program runs twice in one boot: with nested paging (kvm_amd npt=1) and with
# shadow paging (npt=0). See docs/KVM-QEMU.md.
#
#   qemu-kvm.sh WORKDIR PROGRAM...
#
# A PROGRAM argument may carry the program's own arguments after its path, separated by
# spaces ('build/rel/bin/vmem-vmm --guest-mib 64'); they must not contain spaces themselves.
# WORKDIR keeps the unpacked kernel package (fetched once with `apt-get download`, unpacked
# with `dpkg -x`, never installed), the initramfs and the console log. Programs that are not
# statically linked get their shared libraries (as ldd lists them) copied next to them.
# Exits non-zero when a result line is missing, a program fails or skips, or QEMU times out.
# QEMU_KVM_TIMEOUT (seconds, default 600) bounds the boot.
set -eu

work=${1:?usage: qemu-kvm.sh WORKDIR PROGRAM...}
shift
here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${QEMU_KVM_TIMEOUT:-600}
case $timeout_s in ''|*[!0-9]*|0) echo "qemu-kvm: QEMU_KVM_TIMEOUT must be a number of seconds >= 1, got '$timeout_s'" >&2; exit 2 ;; esac

for tool in qemu-system-x86_64 busybox cpio gzip xz objcopy cc timeout apt-get dpkg file; do
	command -v $tool >/dev/null 2>&1 || { echo "qemu-kvm: $tool not found (scripts/deps.sh installs it)" >&2; exit 1; }
done
busybox_bin=$(command -v busybox)
is_static() { file -L "$1" 2>/dev/null | grep -qE 'statically linked|static-pie linked'; }
if ! is_static "$busybox_bin"; then
	echo "qemu-kvm: $busybox_bin is not statically linked (install busybox-static)" >&2
	exit 1
fi
for cmd in "$@"; do
	p=${cmd%% *}
	[ -x "$p" ] || { echo "qemu-kvm: program '$p' not found or not executable" >&2; exit 1; }
done

mkdir -p "$work"
work=$(cd "$work" && pwd)

# 1. The kernel. The project's tests use kernel interfaces up to Linux 6.7 (PAGEMAP_SCAN,
# UFFD_FEATURE_WP_ASYNC), newer than Debian 12's own 6.1, so by default the kernel comes
# from bookworm-backports, read through an apt state kept in WORKDIR (the system's apt
# sources are left alone). QEMU_KVM_KERNEL=stable takes the kernel of the system's own
# sources instead. Fetched with `apt-get download`, unpacked with `dpkg -x`, never installed.
kernel_from=${QEMU_KVM_KERNEL:-backports}
case $kernel_from in
backports|stable) ;;
*) echo "qemu-kvm: QEMU_KVM_KERNEL must be backports or stable, got '$kernel_from'" >&2; exit 2 ;;
esac
kernel_dir=$work/kernel-$kernel_from
if ! ls "$kernel_dir"/boot/vmlinuz-* >/dev/null 2>&1; then
	apt_opts=""
	if [ "$kernel_from" = backports ]; then
		codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
		[ -n "$codename" ] || { echo "qemu-kvm: no VERSION_CODENAME in /etc/os-release; use QEMU_KVM_KERNEL=stable" >&2; exit 1; }
		mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
		echo "deb http://deb.debian.org/debian $codename-backports main" > "$work/apt/sources.list"
		apt_opts="-o Dir::Etc::sourcelist=$work/apt/sources.list -o Dir::Etc::sourceparts=-
			-o Dir::State::Lists=$work/apt/lists -o Dir::Cache=$work/apt/cache"
		# shellcheck disable=SC2086
		apt-get -q $apt_opts update >/dev/null ||
			{ echo "qemu-kvm: apt-get update of $codename-backports failed; QEMU_KVM_KERNEL=stable uses the system's kernel package" >&2; exit 1; }
	fi
	# shellcheck disable=SC2086
	pkg=$(apt-cache $apt_opts depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
	[ -n "$pkg" ] || { echo "qemu-kvm: apt-cache names no kernel package for linux-image-amd64 ($kernel_from)" >&2; exit 1; }
	echo "qemu-kvm: fetching $pkg ($kernel_from)"
	rm -f "$work"/linux-image-*.deb
	# shellcheck disable=SC2086
	(cd "$work" && apt-get -q $apt_opts download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	deb=$(ls "$work"/"$pkg"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { echo "qemu-kvm: apt-get download $pkg gave no .deb" >&2; exit 1; }
	rm -rf "$kernel_dir.tmp"
	dpkg -x "$deb" "$kernel_dir.tmp"
	rm -f "$deb"
	rm -rf "$kernel_dir"
	mv "$kernel_dir.tmp" "$kernel_dir"
fi
vmlinuz=$(ls "$kernel_dir"/boot/vmlinuz-* | head -n 1)
version=${vmlinuz##*/vmlinuz-}
moddir=$kernel_dir/lib/modules/$version/kernel
[ -d "$moddir" ] || { echo "qemu-kvm: no modules for $version under $kernel_dir" >&2; exit 1; }

# 2. The initramfs tree.
root=$work/root
rm -rf "$root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/tests" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp "$busybox_bin" "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

# kvm-amd and what it depends on (the depends= field of each module's .modinfo section),
# listed so that each module comes after its dependencies.
module_path() { find "$moddir" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1; }
# Modules may be compressed (newer Debian kernels ship .ko.xz); busybox insmod wants them plain.
module_plain() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -dcq "$1" ;;
	*) cat "$1" ;;
	esac
}
module_depends() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout | tr '\0' '\n' |
		sed -n 's/^depends=//p' | tr ',' ' '
}
order=""
add_module() { # NAME (kvm_amd or kvm-amd)
	local name path dep
	name=$(echo "$1" | tr '_' '-')
	case " $order " in *" $name "*) return 0 ;; esac
	path=$(module_path "$name")
	[ -n "$path" ] || path=$(module_path "$(echo "$name" | tr '-' '_')")
	[ -n "$path" ] || { echo "qemu-kvm: module $name not in the kernel package" >&2; exit 1; }
	module_plain "$path" > "$root/lib/modules/$name.ko"
	for dep in $(module_depends "$root/lib/modules/$name.ko"); do add_module "$dep"; done
	order="$order $name"
}
add_module kvm-amd
echo $order | tr ' ' '\n' > "$root/lib/modules/order"

# The statistics probe, and the programs with their shared libraries.
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -static -o "$root/bin/kvm_stats" "$here/kvm_stats.c"
: > "$root/tests/list"
for cmd in "$@"; do
	p=${cmd%% *}
	args=${cmd#"$p"}
	cp "$p" "$root/tests/"
	echo "$(basename "$p")$args" >> "$root/tests/list"
	if ! is_static "$p"; then
		for lib in $(ldd "$p" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]*ld-linux/ { print $1 }'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	fi
done
# The loader is found at its canonical path.
if [ -e "$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] && [ ! -e "$root/lib64/ld-linux-x86-64.so.2" ]; then
	mkdir -p "$root/lib64"
	ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
fi

initrd=$work/initrd.gz
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$initrd"
echo "qemu-kvm: kernel $version, modules:$order, initramfs $(($(wc -c < "$initrd") / 1024)) KiB"

# 3. Boot. TCG emulates SVM (there is no VMX emulation), so the inner KVM is kvm_amd.
# One TCG thread for both vCPUs (thread=single): with a thread per vCPU the emulated
# kernel was seen to die on an int3 in __schedule (a race of its own code patching under
# multi-threaded TCG). If the emulated kernel still panics before the programs report, the
# boot is tried once more and says so; the first console log is kept as console-1.log.
log=$work/console.log
start=$(date +%s)
for boot in 1 2; do
	rc=0
	timeout "$timeout_s" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 1G -smp 2 \
		-nodefaults -no-user-config -display none -serial stdio -no-reboot \
		-kernel "$vmlinuz" -initrd "$initrd" -append 'console=ttyS0 quiet panic=-1' \
		< /dev/null > "$log" 2>&1 || rc=$?
	tr -d '\r' < "$log" > "$log.txt" && mv "$log.txt" "$log"
	grep -q 'Kernel panic' "$log" && ! grep -q '^QEMU-KVM done' "$log" || break
	[ $boot = 2 ] && break
	mv "$log" "$work/console-1.log"
	echo "qemu-kvm: the emulated kernel panicked (console log: $work/console-1.log); booting again"
done
elapsed=$(($(date +%s) - start))

# 4. Results.
grep -E '^QEMU-KVM|^KVM-EXIT-COST|^KVM-TIME' "$log" || true
failed=0
if [ $rc = 124 ]; then
	echo "qemu-kvm: FAIL: QEMU did not finish within $timeout_s s (console log: $log)"
	failed=1
elif [ $rc != 0 ]; then
	echo "qemu-kvm: FAIL: QEMU exited with $rc (console log: $log)"
	failed=1
fi
if grep -q '^QEMU-KVM.*: FAIL' "$log"; then failed=1; fi
for npt in 1 0; do
	for p in kvm_stats $(cut -d' ' -f1 "$root/tests/list"); do
		line=$(grep "^QEMU-KVM npt=$npt $p: " "$log" || true)
		case $line in
		*": PASS"*) ;;
		"") echo "qemu-kvm: FAIL: no result line for $p with npt=$npt (console log: $log)"; failed=1 ;;
		*) echo "qemu-kvm: FAIL: $line"; failed=1 ;;
		esac
	done
done

# KVM's counters of the probe guest, side by side for the two MMUs.
printf '%-38s %14s %14s\n' "kvm_stats (first touch of 4096 pages)" "npt=1" "npt=0"
for stat in exits pf_fixed pages_4k pages_2m mmu_cache_miss mmu_shadow_zapped mmu_pte_write mmu_unsync \
	mmu_flooded mmu_recycled tlb_flush remote_tlb_flush; do
	v1=$(awk -v s="$stat" '$1 == "KVM-STAT" && $2 == "npt=1" && $3 == "first-touch" && $5 == s { print $6 }' "$log" | head -n 1)
	v0=$(awk -v s="$stat" '$1 == "KVM-STAT" && $2 == "npt=0" && $3 == "first-touch" && $5 == s { print $6 }' "$log" | head -n 1)
	[ -z "$v1$v0" ] && continue
	printf '%-38s %14s %14s\n' "$stat" "${v1:--}" "${v0:--}"
done
echo "qemu-kvm: boot, both modes and poweroff took $elapsed s (console log: $log)"
if [ $failed != 0 ]; then
	echo "qemu-kvm: FAILED"
	exit 1
fi
echo "qemu-kvm: all passed with npt=1 and npt=0"
