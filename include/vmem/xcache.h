/*
 * A set-associative translation cache: the one building block of the TLBs, the
 * paging-structure caches and the nested TLB.
 *
 * An entry maps a 64-bit key, within a 32-bit context, to a 64-bit value. The set is
 * chosen by the low bits of the key (key & (sets - 1)), as hardware indexes a TLB by the
 * low bits of the virtual page number. The context tags an entry with the address space
 * it belongs to; libvmem packs it as VMEM_CTX(vpid, pcid) so that flushes can select all
 * entries of a VPID or of one PCID within a VPID.
 *
 * Replacement within a set: true LRU, tree pseudo-LRU (ways must be a power of two), or
 * random with a seed (xorshift, reproducible). Every policy fills an invalid way first
 * (the lowest-numbered). Lookup hits and fills (also in-place updates) count as uses.
 * The exact rules (PLRU bit convention, random sequence) are in libvmem/xcache.c.
 *
 * A miss-ratio-curve profiler can ride along (vmem_xcache_enable_mrc, include/vmem/mrc.h).
 *
 * Concurrency: none; one thread uses a cache at a time.
 */
#ifndef VMEM_XCACHE_H
#define VMEM_XCACHE_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vmem_repl {
	VMEM_REPL_LRU = 0,
	VMEM_REPL_PLRU = 1,
	VMEM_REPL_RANDOM = 2,
};

const char *vmem_repl_name(enum vmem_repl r);
int vmem_repl_parse(const char *s, enum vmem_repl *out);

/*
 * entries == 0: the structure is absent (every lookup misses, fills are dropped); ways is
 * then ignored. Lookups on an absent cache are counted in stats.lookups (never in hits);
 * dropped fills are not counted.
 * ways == 0 or ways == entries: fully associative. Otherwise entries must be a multiple
 * of ways and entries / ways (the number of sets) a power of two.
 */
struct vmem_cache_geom {
	uint32_t entries;
	uint32_t ways;
	enum vmem_repl repl;
};

/* Context tag: VPID in the high 16 bits, PCID (12 bits used) in the low 16. */
#define VMEM_CTX(vpid, pcid) (((uint32_t)(vpid) << 16) | ((uint32_t)(pcid) & 0xffffu))
#define VMEM_CTX_VPID(ctx) ((uint16_t)((ctx) >> 16))
#define VMEM_CTX_MASK_ALL 0xffffffffu   /* match vpid and pcid */
#define VMEM_CTX_MASK_VPID 0xffff0000u  /* match vpid only */

struct vmem_xcache_stats {
	uint64_t lookups;
	uint64_t hits;
	uint64_t fills;          /* fills that stored an entry (new or updated in place) */
	uint64_t evictions;      /* fills that displaced a valid entry */
	uint64_t invalidations;  /* entries removed by invalidate/flush */
};

struct vmem_xcache;

/* Checks geom; returns VMEM_EINVAL with nothing allocated if it is not valid. */
int vmem_xcache_geom_check(const struct vmem_cache_geom *geom);

/* Allocates a cache; destroy with vmem_xcache_destroy(). seed drives RANDOM replacement. */
int vmem_xcache_create(const struct vmem_cache_geom *geom, uint64_t seed,
		       struct vmem_xcache **out);
void vmem_xcache_destroy(struct vmem_xcache *c);

/* On a hit stores the value in *val, updates replacement state and returns true. */
bool vmem_xcache_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val);

/*
 * Inserts or updates (key, ctx) -> val. An existing entry with the same key and context
 * is overwritten in place (no eviction). Returns true if a valid entry was evicted.
 */
bool vmem_xcache_fill(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t val);

/* Removes the entry for (key, ctx) if present. */
void vmem_xcache_invalidate(struct vmem_xcache *c, uint64_t key, uint32_t ctx);

/* Removes every entry whose context matches ctx under mask ((e.ctx & mask) == (ctx & mask)). */
void vmem_xcache_flush_ctx(struct vmem_xcache *c, uint32_t ctx, uint32_t mask);

/* Removes every entry. */
void vmem_xcache_flush_all(struct vmem_xcache *c);

/* Sets, and ways per set (0 for an absent cache, which has one set). */
uint32_t vmem_xcache_sets(const struct vmem_xcache *c);
uint32_t vmem_xcache_ways(const struct vmem_xcache *c);

/* Number of valid entries (for tests and reports). */
uint32_t vmem_xcache_occupancy(const struct vmem_xcache *c);

const struct vmem_xcache_stats *vmem_xcache_stats(const struct vmem_xcache *c);


#ifdef __cplusplus
}
#endif
#endif
