/*
 * Layout of radix page tables, shared by the table code and the walkers.
 *
 * Each table page keeps its 512 architectural entries next to host pointers to its
 * child table pages. The entries are the truth (they hold the children's physical
 * addresses); the pointers spare the walkers a physical-address lookup.
 */
#ifndef VMEM_PT_INTERNAL_H
#define VMEM_PT_INTERNAL_H

#include "vmem/pt.h"

struct pt_page {
	uint64_t e[VMEM_PT_ENTRIES];
	struct pt_page *child[VMEM_PT_ENTRIES];
	uint64_t pa;        /* physical address of this table page */
	uint64_t va_base;   /* first address this table maps */
	uint16_t used;      /* present entries */
	uint8_t level;      /* 1 (PT) .. 5 (PML5) */
	uint8_t user_flags; /* owned by the table's user: shadow paging marks unsync pages */
};

struct vmem_pt {
	struct pt_page *root;
	unsigned levels;
	unsigned va_bits;   /* 48 or 57 */
	enum vmem_pt_format format;
	struct vmem_frame_source src;
	struct vmem_pt_observer obs;
	uint64_t pages;
};

/* True if entry e of a level-`level` table is a leaf (a page, not a table). */
static inline bool pt_entry_is_leaf(enum vmem_pt_format f, uint64_t e, unsigned level)
{
	(void)f;    /* PS is bit 7 in both formats */
	return level == 1 || (e & (1ull << 7));
}

static inline bool pt_entry_present(enum vmem_pt_format f, uint64_t e)
{
	return f == VMEM_PT_EPT ? (e & 7u) != 0 : (e & 1u) != 0;
}

/* The leaf table page and entry index mapping va, or NULL. */
struct pt_page *pt_find_leaf(const struct vmem_pt *pt, uint64_t va, unsigned *index);

/* The table page at `level` covering va, or NULL. */
struct pt_page *pt_find_table(const struct vmem_pt *pt, uint64_t va, unsigned level);

/* Sets the A bit (and D for writes) of a leaf entry, as the walker does (no observer). */
static inline void pt_set_accessed(enum vmem_pt_format f, uint64_t *e, bool leaf, bool write)
{
	uint64_t a = f == VMEM_PT_EPT ? 1ull << 8 : 1ull << 5;
	uint64_t d = f == VMEM_PT_EPT ? 1ull << 9 : 1ull << 6;
	*e |= a | (leaf && write ? d : 0);
}

#endif
