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
 * A memo of the most recently used 4 KiB entry of each set of each L1 TLB (data,
 * instruction). A lookup that hits that entry again changes no replacement state (it is
 * already the most recently used way of its set under LRU and PLRU; RANDOM keeps no use
 * state), and the 4 KiB array is probed first, so such a lookup can be answered from
 * here with only the TLB statistics updated. Every use of a set keeps its memo right:
 * a hit or a fill makes the entry it touched the memo, an invalidation clears it.
 */
struct l1_memo {
	uint64_t vpn;        /* va >> 12; TLB_MEMO_EMPTY when empty */
	uint64_t val;        /* packed entry */
	uint32_t ctx;
};

#define TLB_MEMO_EMPTY UINT64_MAX   /* no virtual page number is this large */

struct vmem_tlb {
	struct vmem_xcache *l1d[VMEM_PAGE_SIZES];
	struct vmem_xcache *l1i[VMEM_PAGE_SIZES];
	struct vmem_xcache *l2;
	struct vmem_xcache *l2_1g;
	struct l1_memo *memo[2];  /* [0] data, [1] instruction: one per set of the 4 KiB array */
	uint64_t memo_mask[2];    /* sets - 1 of the 4 KiB array */
	bool memo_on[2];          /* the 4 KiB array exists and is not profiled */
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
	const struct l1_memo *m = &t->memo[ifetch][(va >> 12) & t->memo_mask[ifetch]];

	return m->vpn == va >> 12 && m->ctx == ctx ? m->val : 0;
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
