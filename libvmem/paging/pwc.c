/*
 * Paging-structure caches (contract in include/vmem/pwc.h).
 *
 * Model
 * -----
 * Intel's split translation caches (Intel SDM Vol. 3A, 4.10.3: the PML5, PML4, PDPTE and
 * PDE caches; the "split translation cache" of Barr, Cox and Rixner, "Translation caching:
 * skip, don't walk (the page table)", ISCA 2010). One vmem_xcache per level L = 2..n of an
 * n-level table (n = 4 or 5). The level-L cache maps the address bits that select the
 * level-L entry and every entry above it,
 *     key(L) = (addr mod 2^(12 + 9n)) >> (12 + 9 (L - 1)),
 * to the physical address of the level-(L-1) table. The address is first reduced to the
 * width the table translates (48 bits for 4 levels, 57 for 5), so the sign-extended upper
 * bits of canonical addresses do not take part: this is the 27-bit PDE-cache tag of SDM
 * 4.10.3.1 (bits 47:21) for 4-level paging, and bits 56:21 for 5-level paging.
 *
 * Lookup probes the PDE cache (L = 2) first, then L = 3, 4, (5), and returns at the first
 * hit: the longest cached prefix of the walk. A hit at level L returns L - 1, the level of
 * the table the walk continues at, and that table's address; a miss returns 0. Only
 * non-leaf entries are cached; callers fill after reading an entry that points to a table.
 * A fill for a level outside 2..n is ignored.
 *
 * Default geometry (vmem_pwc_config_default), LRU in every cache:
 *   PML5E cache   2 entries, fully associative
 *   PML4E cache   4 entries, fully associative
 *   PDPTE cache   4 entries, fully associative
 *   PDE cache    32 entries, 4-way (8 sets)
 * These sizes are assumptions in the spirit of Barr et al.'s split translation cache (a
 * few entries for the upper levels, a few dozen for the PDE level, where most hits are);
 * they are not figures copied from the paper, and Intel does not document the sizes of
 * its paging-structure caches (SDM 4.10.3.1 allows any or none). For comparison, the
 * ChampSim simulator's default page-table-walker caches are 2 (PML5), 4 (PML4),
 * 2x4 (PDPT) and 4x8 (PD) entries. The replacement policy is likewise an assumption.
 *
 * Statistics: lookups counts calls to vmem_pwc_lookup, hits[L] the calls answered by the
 * level-L cache.
 *
 * Concurrency: none.
 */
#include <stdlib.h>

#include "vmem/pwc.h"

#include "base/rng.h"
#include "pwc_internal.h"

void vmem_pwc_config_default(struct vmem_pwc_config *cfg)
{
	static const struct vmem_pwc_config def = {
		.level = {
			[0] = { .entries = 0, .ways = 0, .repl = VMEM_REPL_LRU },
			[1] = { .entries = 0, .ways = 0, .repl = VMEM_REPL_LRU },
			[2] = { .entries = 32, .ways = 4, .repl = VMEM_REPL_LRU },
			[3] = { .entries = 4, .ways = 0, .repl = VMEM_REPL_LRU },
			[4] = { .entries = 4, .ways = 0, .repl = VMEM_REPL_LRU },
			[5] = { .entries = 2, .ways = 0, .repl = VMEM_REPL_LRU },
		},
		.seed = 1,
	};

	*cfg = def;
}

/* Seed of the level-L cache: splitmix64 output function of seed + L * golden ratio. */
static uint64_t pwc_level_seed(uint64_t seed, unsigned level)
{
	return rng_mix64(seed + (uint64_t)level * 0x9E3779B97F4A7C15ull);
}

int vmem_pwc_create(const struct vmem_pwc_config *cfg, unsigned levels, struct vmem_pwc **out)
{
	struct vmem_pwc *p;
	int err;

	if (out == NULL)
		return VMEM_EINVAL;
	*out = NULL;
	if (cfg == NULL || (levels != 4 && levels != 5))
		return VMEM_EINVAL;
	for (unsigned l = 2; l <= levels; l++) {
		err = vmem_xcache_geom_check(&cfg->level[l]);
		if (err)
			return err;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return VMEM_ENOMEM;
	p->levels = levels;
	p->addr_mask = (1ull << (12 + 9 * levels)) - 1;
	for (unsigned l = 2; l <= levels; l++) {
		err = vmem_xcache_create(&cfg->level[l], pwc_level_seed(cfg->seed, l),
					 &p->level[l]);
		if (err) {
			vmem_pwc_destroy(p);
			return err;
		}
	}
	*out = p;
	return 0;
}

void vmem_pwc_destroy(struct vmem_pwc *p)
{
	if (p == NULL)
		return;
	for (unsigned l = 0; l <= VMEM_MAX_LEVELS; l++)
		vmem_xcache_destroy(p->level[l]);
	free(p);
}

unsigned vmem_pwc_lookup(struct vmem_pwc *p, uint64_t addr, uint32_t ctx, uint64_t *table_pa)
{
	return pwc_lookup(p, addr, ctx, table_pa);
}

void vmem_pwc_fill(struct vmem_pwc *p, uint64_t addr, uint32_t ctx, unsigned level,
		   uint64_t table_pa)
{
	pwc_fill(p, addr, ctx, level, table_pa);
}

void vmem_pwc_flush_ctx(struct vmem_pwc *p, uint32_t ctx, uint32_t mask)
{
	for (unsigned l = 2; l <= p->levels; l++)
		vmem_xcache_flush_ctx(p->level[l], ctx, mask);
}

void vmem_pwc_flush_all(struct vmem_pwc *p)
{
	for (unsigned l = 2; l <= p->levels; l++)
		vmem_xcache_flush_all(p->level[l]);
}

const struct vmem_pwc_stats *vmem_pwc_stats(const struct vmem_pwc *p)
{
	return &p->stats;
}
