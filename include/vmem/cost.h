/*
 * The cycle cost model. Every figure is configurable (keys cost.*); the defaults and
 * their sources are listed in cost.c and docs/COST-MODEL.md.
 */
#ifndef VMEM_COST_H
#define VMEM_COST_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_cost {
	uint32_t access;       /* an access itself, translation aside (L1D load-to-use) */
	uint32_t tlb_l1_hit;   /* extra cycles of an L1 TLB hit */
	uint32_t tlb_l2_hit;   /* L1 miss served by the STLB */
	uint32_t walk_start;   /* fixed cost of starting a page walk after an STLB miss */
	uint32_t ref_mem;      /* one walk reference served by the cache hierarchy / memory */
	uint32_t ref_pwc;      /* one reference skipped thanks to a paging-structure cache */
	uint32_t ref_ntlb;     /* one host reference skipped thanks to the nested TLB */
	uint32_t vm_exit;      /* VM exit + VMM dispatch + VM entry round trip */
	uint32_t guest_fault;  /* guest OS page-fault handler (allocate, zero, map) */
	uint32_t host_fault;   /* host handling of an EPT violation (allocate, zero, map) */
	uint32_t shadow_fill;  /* VMM: walk the guest table, build shadow entries */
	uint32_t pte_emulate;  /* VMM: emulate one trapped guest page-table write */
	uint32_t resync;       /* VMM: resynchronize one unsync shadow page */
};

void vmem_cost_default(struct vmem_cost *c);


#ifdef __cplusplus
}
#endif
#endif
