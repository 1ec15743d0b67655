/*
 * The TLB hierarchy of one logical CPU: L1 data TLBs per page size, L1 instruction TLBs,
 * and the unified second-level TLB (STLB), each a vmem_xcache.
 *
 * Entries map a virtual page (at its page size) in a context VMEM_CTX(vpid, pcid) to a
 * physical page base and permissions. Under nested paging the entry is the combined
 * guest-virtual -> host-physical translation, at the smaller of the guest and host page
 * sizes (Intel SDM Vol. 3C, 28.4.1 "combined mappings").
 *
 * A lookup probes L1 (data or instruction) for every page size, then the STLB; an STLB
 * hit refills L1. A fill after a page walk writes the STLB and L1. The levels are
 * non-inclusive: an STLB eviction does not remove the L1 copy.
 *
 * Flush rules (Intel SDM Vol. 3A, 4.10.4.1 and 4.11.1):
 *   - MOV to CR3 without PCIDs: entries of the current VPID are invalidated
 *     (vmem_tlb_flush_ctx with VMEM_CTX_MASK_VPID). With PCIDs: nothing is invalidated.
 *   - INVLPG va: every entry for va of the current PCID, at any page size and level.
 *   - VM entry/exit without VPID: everything (vmem_tlb_flush_all); with VPIDs: nothing.
 * Global pages are not modelled.
 *
 * Concurrency: none; one thread uses a TLB at a time.
 */
#ifndef VMEM_TLB_H
#define VMEM_TLB_H

#include "vmem/xcache.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_tlb_config {
	struct vmem_cache_geom l1d[VMEM_PAGE_SIZES];  /* L1 data TLB per page size */
	struct vmem_cache_geom l1i[VMEM_PAGE_SIZES];  /* L1 instruction TLB per page size */
	struct vmem_cache_geom l2;                    /* STLB for 4 KiB and 2 MiB pages */
	struct vmem_cache_geom l2_1g;                 /* STLB for 1 GiB pages */
	uint64_t seed;                                /* for RANDOM replacement */
};

/* Skylake client defaults; the source is cited in tlb.c. */
void vmem_tlb_config_default(struct vmem_tlb_config *cfg);

struct vmem_tlb_entry {
	uint64_t pa_base;            /* physical base of the page (aligned to its size) */
	enum vmem_page_size size;
	uint8_t prot;                /* enum vmem_prot bits granted by the translation */
};

enum vmem_tlb_hit {
	VMEM_TLB_MISS = 0,
	VMEM_TLB_HIT_L1 = 1,
	VMEM_TLB_HIT_L2 = 2,
};

struct vmem_tlb_stats {
	uint64_t l1d_lookups, l1d_hits;
	uint64_t l1i_lookups, l1i_hits;
	uint64_t l2_lookups, l2_hits;
	uint64_t flushes;            /* whole-context or whole-TLB flushes */
	uint64_t invlpgs;
};

struct vmem_tlb;

int vmem_tlb_create(const struct vmem_tlb_config *cfg, struct vmem_tlb **out);
void vmem_tlb_destroy(struct vmem_tlb *t);

/* Looks va up; on a hit fills *e (unless e is NULL). ifetch selects the L1 instruction TLB. */
enum vmem_tlb_hit vmem_tlb_lookup(struct vmem_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
				  struct vmem_tlb_entry *e);

/* Installs the translation of va after a walk (STLB and the L1 of the access type, for
 * e->size). An e->size outside enum vmem_page_size is ignored. */
void vmem_tlb_fill(struct vmem_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
		   const struct vmem_tlb_entry *e);

void vmem_tlb_invlpg(struct vmem_tlb *t, uint64_t va, uint32_t ctx);
void vmem_tlb_flush_ctx(struct vmem_tlb *t, uint32_t ctx, uint32_t mask);
void vmem_tlb_flush_all(struct vmem_tlb *t);

const struct vmem_tlb_stats *vmem_tlb_stats(const struct vmem_tlb *t);


#ifdef __cplusplus
}
#endif
#endif
