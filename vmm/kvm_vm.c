/*
 * KVM VM and vCPUs (kvm_vm.h).
 *
 * The guest starts directly in 64-bit mode (no firmware, no mode switches): CR0.PE|PG,
 * CR4.PAE, EFER.LME|LMA, CR3 at the VMM's tables, and at CPL3, because a CPL0 guest is
 * executed instruction by instruction by KVM's emulator on a host without VT-x/SVM
 * (kvm_pvm), while CPL3 code runs natively under its shadow MMU. There is no GDT or IDT
 * in guest memory: KVM_SET_SREGS loads the hidden parts of the segment registers directly,
 * so the selectors only need RPL 3 and the descriptors DPL 3. Any exception then
 * triple-faults, which KVM reports as KVM_EXIT_SHUTDOWN.
 */
#include "kvm_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_abi.h"
#include "page_tables.h"

#define CR0_PE 0x1ull
#define CR0_MP 0x2ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_WP 0x10000ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define CR4_OSFXSR 0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define RFLAGS_IOPL3 0x3000ull
#define RFLAGS_FIXED 0x2ull

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int vmm_kvm_open(struct vmm_kvm *k, char *err, size_t errlen)
{
	int n = 256, version, size;

	memset(k, 0, sizeof(*k));
	k->vm_fd = -1;
	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0)
		return fail(err, errlen, "/dev/kvm: %s", strerror(errno));
	version = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version < 0) {
		int e = errno;

		vmm_kvm_close(k);
		return fail(err, errlen, "/dev/kvm: KVM_GET_API_VERSION: %s", strerror(e));
	}
	if (version != KVM_API_VERSION) {
		vmm_kvm_close(k);
		return fail(err, errlen, "/dev/kvm: API version %d, expected %d", version,
			    KVM_API_VERSION);
	}
	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		int e = errno;

		vmm_kvm_close(k);
		return fail(err, errlen, "KVM_CREATE_VM: %s", strerror(e));
	}
	size = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run)) {
		vmm_kvm_close(k);
		return fail(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	}
	k->run_bytes = (size_t)size;
	/* The CPUID the host supports, for the vCPUs (long mode needs the LM bit). */
	for (;;) {
		k->cpuid = calloc(1, sizeof(*k->cpuid) + (size_t)n * sizeof(k->cpuid->entries[0]));
		if (!k->cpuid) {
			vmm_kvm_close(k);
			return fail(err, errlen, "out of memory");
		}
		k->cpuid->nent = (uint32_t)n;
		if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, k->cpuid) == 0)
			break;
		free(k->cpuid);
		k->cpuid = NULL;
		if (errno != E2BIG || n >= 4096) {
			int e = errno;

			vmm_kvm_close(k);
			return fail(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
		}
		n *= 2;
	}
	return 0;
}

void vmm_kvm_close(struct vmm_kvm *k)
{
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	free(k->cpuid);
	k->vm_fd = k->kvm_fd = -1;
	k->cpuid = NULL;
}

int vmm_vcpu_create(struct vmm_kvm *k, unsigned index, struct vmm_vcpu *v, char *err,
		    size_t errlen)
{
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->index = index;
	v->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return fail(err, errlen, "KVM_CREATE_VCPU %u: %s", index, strerror(errno));
	if (ioctl(v->fd, KVM_SET_CPUID2, k->cpuid) < 0) {
		int e = errno;

		close(v->fd);
		return fail(err, errlen, "KVM_SET_CPUID2 on vCPU %u: %s", index, strerror(e));
	}
	v->run_bytes = k->run_bytes;
	v->run = mmap(NULL, k->run_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		int e = errno;

		close(v->fd);
		v->run = NULL;
		return fail(err, errlen, "mmap of vCPU %u: %s", index, strerror(e));
	}
	return 0;
}

void vmm_vcpu_close(struct vmm_vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_bytes);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

int vmm_vcpu_start_long_mode(struct vmm_vcpu *v, uint64_t cr3, uint64_t tss_gpa, uint64_t rip,
			     uint64_t rsp, uint64_t rdi, uint64_t rsi, char *err, size_t errlen)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = (1 << 3) | 3,
		.type = 0xb, /* execute/read, accessed */
		.present = 1, .dpl = 3, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = (2 << 3) | 3,
		.type = 0x3, /* read/write, accessed */
		.present = 1, .dpl = 3, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return fail(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	/*
	 * A busy 64-bit TSS over VMM_TSS_BYTES of zeroed guest memory at VMM_TSS_GPA. Its only
	 * use is the I/O permission bitmap (Intel SDM vol. 1, 19.5.2): with IOPL 3 a CPL3 `out`
	 * needs none, but KVM's instruction emulator, which kvm_pvm's port I/O goes through,
	 * reads the bitmap anyway, at the offset in the TSS's word 0x66, and refuses ports
	 * whose bit lies past the limit (a 0x67 limit allowed ports below 0x340 only). Zeros
	 * everywhere: the bitmap starts at the TSS and allows all 65536 ports.
	 */
	sregs.tr = (struct kvm_segment){ .base = tss_gpa, .selector = 3 << 3,
					 .limit = VMM_TSS_BYTES - 1, .type = 0xb, .present = 1 };
	sregs.ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .unusable = 1 };
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = cr3;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return fail(err, errlen, "KVM_SET_SREGS (64-bit mode, CPL3): %s", strerror(errno));
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rsp = rsp;
	regs.rdi = rdi;
	regs.rsi = rsi;
	regs.rflags = RFLAGS_FIXED | RFLAGS_IOPL3;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return fail(err, errlen, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

const char *vmm_exit_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO", [KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG", [KVM_EXIT_HLT] = "HLT", [KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN (triple fault)",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY", [KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_SET_TPR] = "SET_TPR", [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "other";
}

/* The probe's guest: `out %eax, %dx` with dx = VMM_PORT_PING, at CPL3. */
int vmm_kvm_probe(char *err, size_t errlen)
{
	static const uint8_t code[] = { 0x66, 0xba, VMM_PORT_PING & 0xff, VMM_PORT_PING >> 8,
					0xef, 0xeb, 0xfe }; /* mov $port,%dx; out; jmp . */
	const uint64_t mem_bytes = 64 << 10, code_gpa = 0x1000, tss_gpa = 0x2000;
	const uint64_t tables_gpa = tss_gpa + VMM_TSS_BYTES;
	struct kvm_userspace_memory_region slot = { 0 };
	struct vmm_page_tables pt;
	struct vmm_kvm k;
	struct vmm_vcpu v;
	uint8_t *mem;
	int rc = -1;

	if (vmm_kvm_open(&k, err, errlen) < 0)
		return -1;
	mem = mmap(NULL, mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		vmm_kvm_close(&k);
		return fail(err, errlen, "mmap: %s", strerror(errno));
	}
	memcpy(mem + code_gpa, code, sizeof(code));
	if (vmm_page_tables_init(&pt, mem + tables_gpa, tables_gpa, mem_bytes - tables_gpa) < 0 ||
	    vmm_page_tables_map(&pt, 0, 0, mem_bytes, false) < 0) {
		fail(err, errlen, "page tables do not fit");
		goto out;
	}
	slot.memory_size = mem_bytes;
	slot.userspace_addr = (uint64_t)(uintptr_t)mem;
	if (ioctl(k.vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
		fail(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		goto out;
	}
	if (vmm_vcpu_create(&k, 0, &v, err, errlen) < 0)
		goto out;
	if (vmm_vcpu_start_long_mode(&v, pt.pml4, tss_gpa, code_gpa, mem_bytes - 16, 0, 0, err,
				     errlen) == 0) {
		if (ioctl(v.fd, KVM_RUN, 0) < 0)
			fail(err, errlen, "KVM_RUN: %s", strerror(errno));
		else if (v.run->exit_reason != KVM_EXIT_IO || v.run->io.port != VMM_PORT_PING)
			fail(err, errlen, "a 64-bit CPL3 guest's `out` gave exit %s, not IO",
			     vmm_exit_name(v.run->exit_reason));
		else
			rc = 0;
	}
	vmm_vcpu_close(&v);
out:
	munmap(mem, mem_bytes);
	vmm_kvm_close(&k);
	return rc;
}
