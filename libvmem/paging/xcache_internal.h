/*
 * The translation cache's state (libvmem/paging/xcache.c has the model and the layout)
 * and the inline form of its commonest operations, for the TLB, the paging-structure
 * caches and the walks: a probe of a set-associative LRU cache, and the fill that
 * follows a probe that missed. Every other case (a profiled cache, the indexed fully
 * associative form, PLRU, RANDOM, an absent cache) goes to the out-of-line functions
 * of include/vmem/xcache.h. Both forms leave the cache in the same state.
 *
 * Why inline: a miss-heavy replay makes about eight probes and four or five fills per
 * access; a call to an out-of-line function each time cost more than the probe of a
 * small set itself.
 */
#ifndef VMEM_XCACHE_INTERNAL_H
#define VMEM_XCACHE_INTERNAL_H

#include "vmem/xcache.h"

#define XC_VALID (1ull << 32)
#define XC_NONE UINT32_MAX    /* end of a hash chain or of the LRU list */

/* Which operations the inline functions below take over. */
enum xc_inline {
	XC_INLINE_NONE,      /* none: profiled, PLRU, RANDOM or absent */
	XC_INLINE_SETS,      /* set-associative LRU */
	XC_INLINE_INDEXED,   /* indexed fully associative LRU */
};

struct vmem_xcache {
	uint64_t *block;     /* [sets * stride] the set blocks (see the top comment) */
	uint64_t *keys;      /* entry (set, way) at [set * stride + way], in block */
	uint64_t *tags;      /* the same: ctx | XC_VALID, or 0 when invalid */
	uint64_t *vals;      /* the same */
	uint64_t *stamps;    /* LRU: the same, last-use stamps; else NULL */
	size_t stride;       /* words per set block */
	uint64_t *plru;      /* PLRU: [sets * plru_words] tree bits, bit n = node n */
	uint64_t *plru_clr;  /* PLRU, ways <= 64: [ways] bits a use of the way clears */
	uint64_t *plru_set;  /* PLRU, ways <= 64: [ways] bits a use of the way sets */
	uint64_t set_mask;   /* sets - 1 */
	uint64_t clock;      /* LRU stamp counter */
	uint64_t rng;        /* RANDOM generator state */
	uint32_t ways;       /* 0 for an absent cache */
	uint32_t sets;
	uint32_t ways_log2;  /* PLRU tree depth */
	uint32_t plru_words;
	enum vmem_repl repl;
	enum xc_inline inline_ops;
	struct vmem_xcache_stats stats;
	struct vmem_mrc *mrc;  /* profiler, or NULL */
	/* Indexed fully associative LRU (see the top comment); bucket is NULL otherwise. */
	uint32_t *bucket;     /* [bucket_mask + 1] first way of each hash chain */
	uint32_t *chain;      /* [ways] next way in the same chain */
	uint32_t *newer;      /* [ways] LRU list links of valid ways */
	uint32_t *older;
	uint32_t *free_ways;  /* [ways] stack of invalid ways */
	uint32_t *home;       /* [ways] the hash chain of each valid way */
	uint32_t nfree;
	uint32_t mru, lru;    /* list ends */
	uint32_t bucket_mask;
	/* The last lookup that missed, if nothing has changed the cache since (hint_tag 0:
	 * none): (hint_key, hint_tag) is absent. A fill after a walk is almost always the
	 * fill of the lookup that missed just before, so it need not look for the entry.
	 * Under LRU, in a set-associative cache, the probe that missed has also found the
	 * victim such a fill takes, hint_way (see xc_lru_lookup); in the indexed form
	 * hint_way is the hash chain the entry goes in. */
	uint64_t hint_key;
	uint64_t hint_tag;
	uint32_t hint_way;
};

/*
 * A probe of a set-associative LRU cache (c->ways > 0, no index). A hit stamps the way.
 * A miss leaves the hint, with the way a fill of (key, ctx) would take: the first way of
 * the smallest stamp, which is the first invalid way if there is one (an invalid way's
 * stamp is 0, a valid one's at least 1), else the least recently used. Looking for it
 * in the same pass as the keys costs less than a second pass over the stamps at the fill.
 */
static inline bool xc_lru_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx,
				 uint64_t *val)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;
	const size_t base = (size_t)(key & c->set_mask) * c->stride;
	const uint64_t *keys = c->keys + base;
	const uint64_t *tags = c->tags + base;
	const uint64_t *stamps = c->stamps + base;
	const uint32_t ways = c->ways;
	uint64_t oldest = UINT64_MAX;
	uint32_t victim = 0;

	c->stats.lookups++;
	for (uint32_t w = 0; w < ways; w++) {
		if (keys[w] == key && tags[w] == tag) {
			c->hint_tag = 0;
			c->stats.hits++;
			*val = c->vals[base + w];
			c->stamps[base + w] = ++c->clock;
			return true;
		}
		if (stamps[w] < oldest) {
			oldest = stamps[w];
			victim = w;
		}
	}
	c->hint_key = key;
	c->hint_tag = tag;
	c->hint_way = victim;
	return false;
}

/* The fill of (key, tag) that the hint says is absent: into the hint's way. */
static inline bool xc_lru_fill_hinted(struct vmem_xcache *c, uint64_t key, uint64_t tag,
				      uint64_t val)
{
	const size_t i = (size_t)(key & c->set_mask) * c->stride + c->hint_way;
	bool evict = c->tags[i] != 0;

	c->hint_tag = 0;
	c->stats.evictions += evict;
	c->stats.fills++;
	c->keys[i] = key;
	c->tags[i] = tag;
	c->vals[i] = val;
	c->stamps[i] = ++c->clock;
	return evict;
}

/* ---- indexed fully associative LRU (the nested TLB) ---- */

static inline uint32_t xc_fa_bucket(const struct vmem_xcache *c, uint64_t key, uint64_t tag)
{
	return (uint32_t)(((key ^ (tag << 40)) * 0x9E3779B97F4A7C15ull) >> 40) & c->bucket_mask;
}

static inline void xc_fa_list_unlink(struct vmem_xcache *c, uint32_t w)
{
	if (c->newer[w] != XC_NONE)
		c->older[c->newer[w]] = c->older[w];
	else
		c->mru = c->older[w];
	if (c->older[w] != XC_NONE)
		c->newer[c->older[w]] = c->newer[w];
	else
		c->lru = c->newer[w];
}

static inline void xc_fa_list_push_mru(struct vmem_xcache *c, uint32_t w)
{
	c->newer[w] = XC_NONE;
	c->older[w] = c->mru;
	if (c->mru != XC_NONE)
		c->newer[c->mru] = w;
	else
		c->lru = w;
	c->mru = w;
}

/* A use of valid way w. */
static inline void xc_fa_touch(struct vmem_xcache *c, uint32_t w)
{
	if (c->mru == w)
		return;   /* already the most recently used */
	xc_fa_list_unlink(c, w);
	xc_fa_list_push_mru(c, w);
}

/* Makes valid way w (keys and tags set) findable in hash chain b and most recently used. */
static inline void xc_fa_link(struct vmem_xcache *c, uint32_t w, uint32_t b)
{
	c->home[w] = b;
	c->chain[w] = c->bucket[b];
	c->bucket[b] = w;
	xc_fa_list_push_mru(c, w);
}

/* Takes valid way w out of the index and the list (its tag still set). */
static inline void xc_fa_unlink(struct vmem_xcache *c, uint32_t w)
{
	uint32_t *link = &c->bucket[c->home[w]];

	while (*link != w)
		link = &c->chain[*link];
	*link = c->chain[w];
	xc_fa_list_unlink(c, w);
}

/* A probe of the indexed form; a miss leaves the hint with the hash chain to fill. */
static inline bool xc_fa_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;
	const uint32_t b = xc_fa_bucket(c, key, tag);

	c->stats.lookups++;
	for (uint32_t w = c->bucket[b]; w != XC_NONE; w = c->chain[w]) {
		if (c->keys[w] == key && c->tags[w] == tag) {
			c->hint_tag = 0;
			c->stats.hits++;
			*val = c->vals[w];
			xc_fa_touch(c, w);
			return true;
		}
	}
	c->hint_key = key;
	c->hint_tag = tag;
	c->hint_way = b;
	return false;
}

/* The fill of (key, tag) that the hint says is absent: a free way, else the least
 * recently used. */
static inline bool xc_fa_fill_hinted(struct vmem_xcache *c, uint64_t key, uint64_t tag,
				     uint64_t val)
{
	bool evict = c->nfree == 0;
	uint32_t w;

	c->hint_tag = 0;
	c->stats.fills++;
	if (evict) {
		w = c->lru;
		xc_fa_unlink(c, w);
		c->stats.evictions++;
	} else {
		w = c->free_ways[--c->nfree];
	}
	c->keys[w] = key;
	c->tags[w] = tag;
	c->vals[w] = val;
	xc_fa_link(c, w, c->hint_way);
	return evict;
}

/* vmem_xcache_lookup, inline for an LRU cache that is not profiled. */
static inline bool xcache_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	if (c->inline_ops == XC_INLINE_SETS)
		return xc_lru_lookup(c, key, ctx, val);
	if (c->inline_ops == XC_INLINE_INDEXED)
		return xc_fa_lookup(c, key, ctx, val);
	return vmem_xcache_lookup(c, key, ctx, val);
}

/* vmem_xcache_fill, inline for the fill that follows a miss of an LRU cache that is not
 * profiled. */
static inline bool xcache_fill(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t val)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;

	if (c->hint_tag == tag && c->hint_key == key) {
		if (c->inline_ops == XC_INLINE_SETS)
			return xc_lru_fill_hinted(c, key, tag, val);
		if (c->inline_ops == XC_INLINE_INDEXED)
			return xc_fa_fill_hinted(c, key, tag, val);
	}
	return vmem_xcache_fill(c, key, ctx, val);
}

#endif
