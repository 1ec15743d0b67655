/*
 * A reference model of the host memory manager, for the differential test of
 * libvmem/host/ (tests/test_host_differential.c).
 *
 * Written for clarity, not speed, from the rules stated in include/vmem/host.h,
 * include/vmem/host_policy.h, docs/HOST.md and the model comments of the sources in libvmem/host/;
 * it shares no code with the library. Each VM is a plain array of page records; the host
 * is a plain array of frame records; every decision is a linear scan over them: the free
 * frame to take, the victims of reclaim, the compressed tier's frame to give back, the next
 * swap slot. Counts (free frames, frames by use, pages by state, slots in use, the tier's
 * bytes) are never kept on the side: they are counted from the records when asked for.
 *
 * What it models: faults (first touch, swap-in, decompression, copy-on-write breaks),
 * content records, guest frees, merges (vmem_host_merge, vmem_host_merge_zero), the
 * watermarks with direct reclaim and the swap daemon, the compressed tier, the swap device
 * with its queue, and the content model. What it leaves out: ballooning, dedup and
 * balloon policies (the test runs with none), an attached translation machine (so the
 * host table's accessed and dirty bits play no role), and the manager's own memory
 * (metadata_bytes is left 0).
 *
 * The swap policy is one of two fixed rules, the same ones the test registers on the
 * library with vmem_swap_policy_register.
 */
#ifndef VMEM_TESTS_REF_HOST_H
#define VMEM_TESTS_REF_HOST_H

#include "vmem/host.h"
#include "vmem/host_policy.h"

enum ref_swap_rule {
	/* Victims are the private frames with the lowest frame numbers. */
	REF_SWAP_LOWEST_FRAME,
	/* Victims are the private resident pages that became resident longest ago
	 * (first in, first out by the time their frame was mapped). */
	REF_SWAP_OLDEST_MAPPED,
};

struct ref_host;

/* Only cfg's sizes, watermarks, costs, device, tier and content keys are used; the
 * policies named in cfg are ignored in favour of rule. NULL if out of memory. */
struct ref_host *ref_host_new(const struct vmem_host_config *cfg, enum ref_swap_rule rule);
void ref_host_free(struct ref_host *r);

int ref_host_add_vm(struct ref_host *r, uint16_t vm, uint64_t mem);
int ref_host_fault(struct ref_host *r, uint16_t vm, uint64_t gfn, bool write,
		   struct vmem_host_fault_result *res);
int ref_host_set_content(struct ref_host *r, uint16_t vm, uint64_t gfn, uint64_t hash,
			 bool zero, unsigned cls);
int ref_host_guest_free(struct ref_host *r, uint16_t vm, uint64_t gfn);
int ref_host_merge(struct ref_host *r, uint16_t vm, uint64_t gfn, uint64_t frame);
int ref_host_merge_zero(struct ref_host *r, uint16_t vm, uint64_t gfn);
void ref_host_advance(struct ref_host *r, uint64_t cycles);

int ref_host_page(const struct ref_host *r, uint16_t vm, uint64_t gfn,
		  struct vmem_host_page *out);
int ref_host_vm_stats(const struct ref_host *r, uint16_t vm, struct vmem_host_vm_stats *out);
void ref_host_stats(const struct ref_host *r, struct vmem_host_stats *out);

#endif
