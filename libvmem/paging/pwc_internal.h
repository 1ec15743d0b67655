/*
 * The paging-structure caches' state (libvmem/paging/pwc.c has the model) and their
 * lookup and fill inline for the walks, which make about three lookups per walk on a
 * miss-heavy trace (one for the guest or native walk, one per host walk).
 */
#ifndef VMEM_PWC_INTERNAL_H
#define VMEM_PWC_INTERNAL_H

#include "vmem/pwc.h"

#include "xcache_internal.h"

struct vmem_pwc {
	struct vmem_xcache *level[VMEM_MAX_LEVELS + 1];   /* [2..levels] */
	unsigned levels;
	uint64_t addr_mask;   /* 2^(12 + 9 levels) - 1 */
	struct vmem_pwc_stats stats;
};

/* vmem_pwc_lookup */
static inline unsigned pwc_lookup(struct vmem_pwc *p, uint64_t addr, uint32_t ctx,
				  uint64_t *table_pa)
{
	const uint64_t a = addr & p->addr_mask;
	uint64_t v;

	p->stats.lookups++;
	for (unsigned l = 2; l <= p->levels; l++) {
		if (xcache_lookup(p->level[l], a >> vmem_pwc_shift(l), ctx, &v)) {
			p->stats.hits[l]++;
			if (table_pa != NULL)
				*table_pa = v;
			return l - 1;
		}
	}
	return 0;
}

/* vmem_pwc_fill */
static inline void pwc_fill(struct vmem_pwc *p, uint64_t addr, uint32_t ctx, unsigned level,
			    uint64_t table_pa)
{
	if (level < 2 || level > p->levels)
		return;
	xcache_fill(p->level[level], (addr & p->addr_mask) >> vmem_pwc_shift(level), ctx, table_pa);
}

#endif
