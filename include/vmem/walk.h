/*
 * The record of one page walk: every memory reference it made or skipped, in order.
 *
 * Native and shadow walks read n entries (n = levels) of one table. A nested (2D) walk
 * reads n guest entries, and before each of them, and after the last, translates a
 * guest-physical address through the host table (m references each): (n+1)(m+1)-1
 * references in all (Bhargava et al., "Accelerating two-dimensional page walks for
 * virtualized systems", ASPLOS 2008, figure 2). A reference that a paging-structure cache
 * or the nested TLB made unnecessary is still recorded, marked with what served it, so
 * the record always has the walk's full shape and counts only differ in `served`.
 */
#ifndef VMEM_WALK_H
#define VMEM_WALK_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vmem_dim {
	VMEM_DIM_NATIVE = 0,  /* the only table of a native walk */
	VMEM_DIM_GUEST = 1,   /* guest table, read at a host-physical address */
	VMEM_DIM_HOST = 2,    /* host (EPT/NPT) table */
	VMEM_DIM_SHADOW = 3,  /* shadow table (guest-virtual -> host-physical) */
};

enum vmem_served {
	VMEM_SERVED_MEM = 0,   /* a real memory reference */
	VMEM_SERVED_PWC = 1,   /* skipped: a paging-structure cache supplied the next table */
	VMEM_SERVED_NTLB = 2,  /* skipped: the nested TLB supplied the host translation */
};

const char *vmem_dim_name(enum vmem_dim d);
const char *vmem_served_name(enum vmem_served s);

struct vmem_walk_ref {
	uint8_t dim;       /* enum vmem_dim */
	uint8_t level;     /* level of the table read (n .. 1) */
	uint8_t served;    /* enum vmem_served */
	/* 2D walks: the guest step this reference belongs to. Host references carry the
	 * guest level whose table address they translate, 0 for the final guest-physical
	 * address; guest references carry their own level. */
	uint8_t gstep;
	uint16_t index;    /* entry index in the table */
	uint64_t input;    /* address being translated (gVA, gPA or VA) */
	uint64_t table;    /* physical address of the table page (0 if skipped) */
	uint64_t entry;    /* value read (0 if skipped) */
};

/* Enough for a 5-level over 5-level walk: 35. */
#define VMEM_WALK_MAX_REFS 40

/*
 * What one translation did. refs[] holds the references of its last walk; the earlier
 * walks of the same translation (ones that ended in a fault, were handled and retried)
 * are only counted in `walks`.
 */
struct vmem_walk {
	uint64_t va;
	uint64_t pa;                 /* final physical address */
	enum vmem_page_size size;    /* size of the TLB entry made */
	unsigned tlb_hit;            /* enum vmem_tlb_hit of the lookup before any walk */
	unsigned walks;              /* walks taken, faulting ones included */
	unsigned guest_faults;
	unsigned host_faults;
	unsigned exits;
	unsigned nrefs;
	unsigned truncated;          /* references that did not fit in refs[] */
	struct vmem_walk_ref refs[VMEM_WALK_MAX_REFS];
};


#ifdef __cplusplus
}
#endif
#endif
