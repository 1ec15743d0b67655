/*
 * A KVM VM and its vCPUs, as vmem-vmm uses them: opening /dev/kvm, probing that a guest
 * can run, creating vCPUs and starting them in 64-bit mode at CPL3.
 * (Documentation/virt/kvm/api.rst: KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_CPUID2,
 * KVM_SET_SREGS, KVM_SET_REGS, KVM_RUN.)
 *
 * Concurrency: the VM's calls need one thread; each vCPU is then run by a thread of its
 * own (KVM_RUN on different vCPUs may run at once).
 */
#ifndef VMM_KVM_VM_H
#define VMM_KVM_VM_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

struct vmm_kvm {
	int kvm_fd;
	int vm_fd;
	size_t run_bytes;             /* KVM_GET_VCPU_MMAP_SIZE */
	struct kvm_cpuid2 *cpuid;     /* KVM_GET_SUPPORTED_CPUID, given to every vCPU */
};

struct vmm_vcpu {
	int fd;
	unsigned index;
	struct kvm_run *run;          /* mmap of the vCPU fd, run_bytes long */
	size_t run_bytes;
};

/* Opens /dev/kvm and creates a VM. -1 with the reason in err (the VM is then closed). */
int vmm_kvm_open(struct vmm_kvm *k, char *err, size_t errlen);
void vmm_kvm_close(struct vmm_kvm *k);

/*
 * Whether a guest can run here the way vmem-vmm runs it: a VM of its own with 64 KiB of
 * memory and one vCPU in 64-bit mode at CPL3 whose one instruction is an `out` that must
 * reach user space. 0, or -1 with the reason in err.
 */
int vmm_kvm_probe(char *err, size_t errlen);

int vmm_vcpu_create(struct vmm_kvm *k, unsigned index, struct vmm_vcpu *v, char *err,
		    size_t errlen);
void vmm_vcpu_close(struct vmm_vcpu *v);

/*
 * Puts the vCPU in 64-bit mode at CPL3 (4-level paging with the tables at cr3, segments of
 * DPL 3 and RPL-3 selectors, RFLAGS = IOPL 3 so port I/O exits to user space) at rip with
 * rsp, and rdi, rsi as the first two arguments of the System V ABI. tss_gpa is
 * VMM_TSS_BYTES of zeroed, mapped guest memory for the TSS (its I/O bitmap allows all).
 */
int vmm_vcpu_start_long_mode(struct vmm_vcpu *v, uint64_t cr3, uint64_t tss_gpa, uint64_t rip,
			     uint64_t rsp, uint64_t rdi, uint64_t rsi, char *err, size_t errlen);

/* The name of a KVM exit reason ("IO", "SHUTDOWN", ...). */
const char *vmm_exit_name(uint32_t reason);

#endif
