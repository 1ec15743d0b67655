/*
 * The TLB's state and its last-hit memo, shared by tlb.c and the translation machine's
 * fast path (mmu.c), which answers the commonest access of a replay, a repeat hit on
 * the last L1 entry used, without a call.
 */
#ifndef VMEM_TLB_INTERNAL_H
#define VMEM_TLB_INTERNAL_H

#include "vmem/mrc.h"
#include "vmem/tlb.h"

/* Packed entry values: pa_base >> 12, the page size in bits 52..53, prot in 56..63. */
#define TLB_VAL_SIZE_SHIFT 52
#define TLB_VAL_PROT_SHIFT 56
#define TLB_VAL_PFN_MASK ((1ull << TLB_VAL_SIZE_SHIFT) - 1)

/*
 * The last L1 hit of each L1 TLB (data, instruction). Replaying traces, most lookups
 * repeat the previous one. Hitting the same entry again, with no other lookup, fill or
 * invalidation of that L1 in between, changes no replacement state (it is already the
 * most recently used way of its set under LRU and PLRU; RANDOM keeps no use state), so
 * such a lookup can be answered from here with only the TLB statistics updated. Any
 * other use of the L1 goes the full way and refreshes or clears the memo.
 */
struct l1_memo {
	uint64_t vpn;        /* va >> 12: a 4 KiB granule even for a large-page entry, since a
			      * 4 KiB entry elsewhere in the large page would take precedence */
	uint64_t val;        /* packed entry */
	uint32_t ctx;
	bool valid;
};

struct vmem_tlb {
	struct vmem_xcache *l1d[VMEM_PAGE_SIZES];
	struct vmem_xcache *l1i[VMEM_PAGE_SIZES];
	struct vmem_xcache *l2;
	struct vmem_xcache *l2_1g;
	struct l1_memo memo[2];  /* [0] data, [1] instruction */
	/* No 2 MiB or 1 GiB entry was ever filled: the arrays of those sizes are empty, and
	 * a probe of them, which could only miss and changes no state, is skipped. */
	bool only_4k;
	struct vmem_tlb_stats stats;
	bool mrc;                /* profilers attached */
	struct vmem_mrc *l2_mrc; /* the STLB's profiler, or NULL */
};

/* The packed entry of a memo hit for va, or 0 (a valid entry is never 0: it grants R). */
static inline uint64_t tlb_memo_peek(const struct vmem_tlb *t, uint64_t va, uint32_t ctx,
				     bool ifetch)
{
	const struct l1_memo *memo = &t->memo[ifetch];

	return memo->valid && memo->ctx == ctx && (va >> 12) == memo->vpn ? memo->val : 0;
}

/* Counts a lookup answered by the memo, as vmem_tlb_lookup counts an L1 hit. */
static inline void tlb_memo_count(struct vmem_tlb *t, bool ifetch)
{
	if (ifetch) {
		t->stats.l1i_lookups++;
		t->stats.l1i_hits++;
	} else {
		t->stats.l1d_lookups++;
		t->stats.l1d_hits++;
	}
}

static inline unsigned tlb_val_prot(uint64_t v)
{
	return (unsigned)(v >> TLB_VAL_PROT_SHIFT);
}

static inline enum vmem_page_size tlb_val_size(uint64_t v)
{
	return (enum vmem_page_size)((v >> TLB_VAL_SIZE_SHIFT) & 3u);
}

static inline uint64_t tlb_val_pa_base(uint64_t v)
{
	return (v & TLB_VAL_PFN_MASK) << 12;
}

#endif
