/*
 * Radix page tables in simulated physical memory: x86-64 4-level and 5-level paging
 * (Intel SDM Vol. 3A, 4.5) and the EPT format for host tables (SDM Vol. 3C, 29.3).
 *
 * Every table page is a 4 KiB frame with a physical address in the table's own physical
 * address space (guest-physical for guest tables, host-physical for EPT and shadow
 * tables), taken from a caller-supplied frame source. Entries hold real architectural
 * bits, so a walk reference has a real address (table base + 8 * index) and a real value.
 * Tables are sparse: only the table pages on the paths of mapped addresses exist.
 *
 * Leaves are 4 KiB pages at level 1, 2 MiB pages at level 2 and 1 GiB pages at level 3
 * (PS bit set). Table pages emptied by unmap are kept, as Linux keeps them until the
 * whole region is torn down; vmem_pt_zap() removes a subtree when a caller wants that.
 *
 * An optional observer sees every entry written by map/unmap/protect/zap (not the A/D
 * bits set by walks): shadow paging uses it to trap writes to guest page tables.
 *
 * Concurrency: none; one thread uses a table at a time.
 */
#ifndef VMEM_PT_H
#define VMEM_PT_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vmem_pt_format {
	VMEM_PT_X86 = 0,  /* IA-32e paging: P RW US PWT PCD A D PS G ... XD(63) */
	VMEM_PT_EPT = 1,  /* EPT: R W X memtype IPAT PS(7) A(8) D(9) */
};

/* Format-independent view of entry bits. */
enum vmem_pte_bit {
	VMEM_PTE_P = 1u << 0,    /* present (EPT: any of R/W/X) */
	VMEM_PTE_RW = 1u << 1,   /* writable */
	VMEM_PTE_US = 1u << 2,   /* user (x86 only; EPT entries report it set) */
	VMEM_PTE_A = 1u << 3,    /* accessed */
	VMEM_PTE_D = 1u << 4,    /* dirty (leaves) */
	VMEM_PTE_PS = 1u << 5,   /* page size: this level-2/3 entry is a leaf */
	VMEM_PTE_NX = 1u << 6,   /* no execute (EPT: X clear) */
};

#define VMEM_PT_ENTRIES 512
#define VMEM_PTE_ADDR_MASK 0x000ffffffffff000ull  /* bits 51:12 */

/* Encoding and decoding of one entry. */
uint64_t vmem_pte_encode(enum vmem_pt_format f, uint64_t pa, unsigned bits);
unsigned vmem_pte_decode(enum vmem_pt_format f, uint64_t e);

static inline uint64_t vmem_pte_addr(uint64_t e)
{
	return e & VMEM_PTE_ADDR_MASK;
}

/* Maps VMEM_PTE_* bits to VMEM_PROT_* bits (R always, W if RW, X unless NX, U if US). */
unsigned vmem_pte_bits_to_prot(unsigned bits);
unsigned vmem_prot_to_pte_bits(unsigned prot);

/* Index into the level-L table for addr (L = 1..5). */
static inline unsigned vmem_pt_index(uint64_t addr, unsigned level)
{
	return (unsigned)(addr >> (12u + 9u * (level - 1u))) & 511u;
}

/* Where table pages come from: 4 KiB frames of the table's physical address space. */
struct vmem_frame_source {
	int (*alloc)(void *ctx, uint64_t *pfn);
	void (*free)(void *ctx, uint64_t pfn);
	void *ctx;
};

struct vmem_pt;

/*
 * Called after an entry changes. table_pa: physical address of the table page;
 * va_base: the first address the table page maps; level: the table's level.
 */
struct vmem_pt_observer {
	void (*on_write)(void *ctx, struct vmem_pt *pt, uint64_t table_pa, uint64_t va_base,
			 unsigned level, unsigned index, uint64_t old_entry, uint64_t new_entry);
	void *ctx;
};

struct vmem_pt_config {
	unsigned levels;             /* 4 or 5 */
	enum vmem_pt_format format;
};

/* Creates an empty table (its root page is allocated from src at once). */
int vmem_pt_create(const struct vmem_pt_config *cfg, const struct vmem_frame_source *src,
		   struct vmem_pt **out);
/* Frees every table page back to the frame source, then the table. */
void vmem_pt_destroy(struct vmem_pt *pt);

void vmem_pt_set_observer(struct vmem_pt *pt, const struct vmem_pt_observer *obs);

unsigned vmem_pt_levels(const struct vmem_pt *pt);
enum vmem_pt_format vmem_pt_format(const struct vmem_pt *pt);
/* Physical address of the root table (what CR3 or the EPT pointer holds). */
uint64_t vmem_pt_root(const struct vmem_pt *pt);
/* Number of table pages, root included. */
uint64_t vmem_pt_table_pages(const struct vmem_pt *pt);

/*
 * Maps the page of `size` at va (both va and pa aligned to size) with VMEM_PROT_* prot.
 * Intermediate tables are created as needed. VMEM_EEXIST if any part is mapped already
 * (a leaf on the path, or a table below the new leaf's level); VMEM_ERANGE if va is not
 * canonical for the table's width; VMEM_ENOSPACE if the frame source is exhausted.
 */
int vmem_pt_map(struct vmem_pt *pt, uint64_t va, uint64_t pa, enum vmem_page_size size,
		unsigned prot);

/* Removes the leaf that maps va, whatever its size. VMEM_ENOENT if none. */
int vmem_pt_unmap(struct vmem_pt *pt, uint64_t va);

/* Rewrites the protection of the leaf that maps va. VMEM_ENOENT if none. */
int vmem_pt_protect(struct vmem_pt *pt, uint64_t va, unsigned prot);

/*
 * Clears the level-`level` entry covering va and frees every table page below it.
 * Returns the number of table pages freed (0 if the entry was empty or a leaf).
 */
uint64_t vmem_pt_zap(struct vmem_pt *pt, uint64_t va, unsigned level);

struct vmem_pt_leaf {
	uint64_t pa;                 /* physical address va translates to */
	enum vmem_page_size size;
	unsigned prot;               /* VMEM_PROT_* */
	unsigned bits;               /* VMEM_PTE_* of the leaf entry */
};

/* The accessed (young) or dirty bit of the leaf mapping va (false if none); clear = true
 * clears it, flushing nothing (as ptep_test_and_clear_young on x86). */
bool vmem_pt_test_young(struct vmem_pt *pt, uint64_t va, bool clear);
bool vmem_pt_test_dirty(struct vmem_pt *pt, uint64_t va, bool clear);

/*
 * Software lookup, no side effects. Returns 0 and fills *leaf, or VMEM_ENOENT and sets
 * *level_out (if not NULL) to the level of the table whose entry was not present.
 */
int vmem_pt_lookup(const struct vmem_pt *pt, uint64_t va, struct vmem_pt_leaf *leaf,
		   unsigned *level_out);

/* True if a table page exists at `level` on the path of va (the root level always). */
bool vmem_pt_has_table(const struct vmem_pt *pt, uint64_t va, unsigned level);


#ifdef __cplusplus
}
#endif
#endif
