/*
 * Paging-structure caches (Intel SDM Vol. 3A, 4.10.3) for one radix page-table format.
 *
 * For an n-level table, the cache for level L (L = n..2; PML5E, PML4E, PDPTE, PDE for
 * 5-level x86) maps the address bits that select a level-L entry (and the entries above
 * it), addr >> vmem_pwc_shift(L), to the physical address of the level-(L-1) table that
 * entry points to. addr is first truncated to the width the table translates (48 bits
 * for 4 levels, 57 for 5), so the sign-extended high bits of a canonical address do not
 * matter. Only non-leaf entries are cached. A walk asks for the longest match:
 * a PDE-cache hit leaves one reference (the PTE), a PDPTE-cache hit two, and so on.
 *
 * The same structure serves guest walks (key: guest-virtual address, context: VPID and
 * PCID; value: guest-physical table address) and host/EPT walks (key: guest-physical
 * address, context: VPID; value: host-physical table address; SDM Vol. 3C, 28.4).
 *
 * Invalidation: INVLPG and MOV to CR3 invalidate the entries of the current PCID
 * (SDM 4.10.4.1); VM switches without VPID invalidate everything.
 *
 * Concurrency: none.
 */
#ifndef VMEM_PWC_H
#define VMEM_PWC_H

#include "vmem/xcache.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMEM_MAX_LEVELS 5

struct vmem_pwc_config {
	/* level[L] for L = 2..5 is the cache of level-L entries; level[0], level[1] unused. */
	struct vmem_cache_geom level[VMEM_MAX_LEVELS + 1];
	uint64_t seed;
};

/* Defaults after Barr, Cox and Rixner, "Translation caching: skip, don't walk (the page
 * table)", ISCA 2010; the figures are cited in pwc.c. */
void vmem_pwc_config_default(struct vmem_pwc_config *cfg);

/* Address bits below the ones that select a level-L entry: 12 + 9 * (L - 1). */
static inline unsigned vmem_pwc_shift(unsigned level)
{
	return 12u + 9u * (level - 1u);
}

struct vmem_pwc;

/* levels: 4 or 5, the depth of the tables this cache serves. */
int vmem_pwc_create(const struct vmem_pwc_config *cfg, unsigned levels, struct vmem_pwc **out);
void vmem_pwc_destroy(struct vmem_pwc *p);

/*
 * Longest-prefix lookup for addr. On a hit in the level-L cache returns L-1, the level
 * of the table the walk can start at, and stores that table's physical address in
 * *table_pa. Returns 0 on a miss in every level (start at the root).
 * Levels are probed from the deepest (PDE) upwards. vmem_pwc_stats counts one lookup per
 * call and, on a hit, one hit for the level of the cache that matched.
 */
unsigned vmem_pwc_lookup(struct vmem_pwc *p, uint64_t addr, uint32_t ctx, uint64_t *table_pa);

/* Caches the level-L entry for addr, pointing to a level-(L-1) table at table_pa.
 * A level outside 2..levels is ignored. */
void vmem_pwc_fill(struct vmem_pwc *p, uint64_t addr, uint32_t ctx, unsigned level,
		   uint64_t table_pa);

void vmem_pwc_flush_ctx(struct vmem_pwc *p, uint32_t ctx, uint32_t mask);
void vmem_pwc_flush_all(struct vmem_pwc *p);

struct vmem_pwc_stats {
	uint64_t lookups;            /* calls to vmem_pwc_lookup */
	uint64_t hits[VMEM_MAX_LEVELS + 1];  /* hits by level of the cache that matched */
};

const struct vmem_pwc_stats *vmem_pwc_stats(const struct vmem_pwc *p);


#ifdef __cplusplus
}
#endif
#endif
