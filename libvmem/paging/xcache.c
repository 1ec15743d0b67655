/*
 * Set-associative translation cache: the building block of the TLBs, the paging-structure
 * caches and the nested TLB (contract in include/vmem/xcache.h).
 *
 * Model
 * -----
 * A cache of E entries and W ways has S = E / W sets (S a power of two; W = 0 or W = E
 * gives one set, fully associative). An entry holds (key, ctx) -> val. The set of a key is
 * key & (S - 1), the low bits of the key, as a TLB is indexed by the low bits of the
 * virtual page number (Intel SDM Vol. 3A, 4.10.2; the index function of real Intel STLBs
 * hashes more bits, which is not modelled). A lookup hits when an entry of that set has the
 * same full key and the same full context.
 *
 * Replacement, within one set, on a fill that finds no entry for (key, ctx):
 *   - an invalid way, if any, is used first: the lowest-numbered one (all policies);
 *   - LRU: exact least recently used. Every use (a lookup hit or a fill, including a fill
 *     that overwrites an existing entry in place) stamps the way with a per-cache counter
 *     that increments on every use; the victim is the valid way with the smallest stamp.
 *   - PLRU: tree pseudo-LRU (as described, e.g., by Al-Zoubi, Milenkovic and Milenkovic,
 *     "Performance evaluation of cache replacement policies for the SPEC CPU2000
 *     benchmark suite", ACM-SE 2004). W must be a power of two; the set keeps W - 1 bits,
 *     one per inner node of a complete binary tree over the ways, numbered in heap order:
 *     node 1 is the root, node n has children 2n (lower-numbered half of its ways) and
 *     2n + 1 (upper half); leaf W + w is way w. Bit convention: bit n = 0 means the
 *     pseudo-LRU side of node n is its lower half (left), 1 its upper half (right).
 *     A use of way w sets every node on the root-to-w path to point away from w (to 1
 *     when w lies in the node's left half, to 0 when in its right half). The victim is
 *     found from the root by following the bits. All bits start at 0.
 *   - RANDOM: a uniformly chosen way from xorshift64* (Marsaglia, "Xorshift RNGs", J. Stat.
 *     Software 8(14), 2003; the * output scrambler from Vigna, "An experimental
 *     exploration of Marsaglia's xorshift generators, scrambled", ACM TOMS 42(4), 2016).
 *     One generator per cache, state = seed (or 0x9E3779B97F4A7C15 if seed is 0, since
 *     xorshift has no zero state). A number is drawn only when the set has no invalid way:
 *         x ^= x >> 12; x ^= x << 25; x ^= x >> 27; r = x * 0x2545F4914F6CDD1D;
 *         victim = ((r >> 32) * W) >> 32
 *     (a multiply-shift range reduction: no division). The sequence of victims is thus a
 *     pure function of the seed and of the order of evicting fills.
 * Invalidation (invalidate, flush_ctx, flush_all) clears only the valid state of entries;
 * the PLRU bits are left as they are, as in hardware where a flush does not reset the
 * replacement state. (The LRU stamp of an invalidated way is set to 0, which nothing can
 * observe: an invalid way is taken before any valid one, and a fill stamps it anew.)
 *
 * Statistics: lookups counts every call to vmem_xcache_lookup, also on an absent cache
 * (entries == 0), where it never hits. fills counts fills that stored something (a new
 * entry or an in-place update); fills into an absent cache are dropped and not counted.
 * evictions counts fills that displaced a valid entry; invalidations counts valid entries
 * removed by invalidate, flush_ctx and flush_all.
 *
 * Layout (this is the simulator's hot path): one block per set, cache-line aligned, holding
 * the set's W keys, then its W tags, W LRU stamps (LRU only) and W values, so that a probe
 * and a victim choice read adjacent lines of one block rather than lines of four arrays
 * far apart; entry (set, way) of an array is at set * stride + way from the array's first
 * element. A tag is the 32-bit context with bit 32 set for a valid entry and 0 for an
 * invalid one, so a probe is two 64-bit compares per way and an invalid way never
 * matches. No allocation after create, no division.
 *
 * Wide sets: an LRU cache of 8 to 15 ways (the STLB) keeps no stamps; its block starts
 * with four words, a one-byte fingerprint of each way's key, the ways in order of last
 * use (4 bits each) and a bit per valid way, so that a probe compares eight fingerprints
 * in one word and a victim is read off the order (xcache_internal.h says why it is the
 * same LRU). Caches of fewer ways keep stamps: scanning 2 to 4 of them costs less.
 *
 * The probe of an LRU cache and the fill that follows a miss are inline
 * (xcache_internal.h) for the TLB, the paging-structure caches and the walks; the probe
 * that misses also finds the victim (stamps) or the hash chain (indexed form), so that
 * fill writes the way without reading the set again.
 *
 * Profiling: a cache may carry a miss-ratio-curve profiler (vmem_xcache_enable_mrc,
 * libvmem/mrc.c). Lookups, fills, invalidations and flushes then also go to it; the
 * cache's own state and statistics are the same with or without it. Without one each
 * operation costs one well-predicted branch more.
 *
 * A large fully associative LRU cache (one set of at least XC_INDEX_WAYS ways, such as
 * the nested TLB) would scan all its ways on every probe and every victim choice, so it
 * is indexed instead: a hash of (key, ctx) chains its valid ways, and a doubly linked
 * list orders them from most to least recently used, so that a probe, a use and a
 * victim choice each take constant time. Invalid ways wait on a free stack. Which
 * invalid way a fill takes is not observable (under LRU only recency picks victims), so
 * the results equal those of the scanning form.
 *
 * Concurrency: none; one thread uses a cache at a time.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmem/mrc.h"

#include "xcache_internal.h"

#define XC_RNG_ZERO_SEED 0x9E3779B97F4A7C15ull
#define XC_INDEX_WAYS 16      /* fully associative LRU caches this large are indexed */

static const char *const repl_names[] = {
	[VMEM_REPL_LRU] = "lru",
	[VMEM_REPL_PLRU] = "plru",
	[VMEM_REPL_RANDOM] = "random",
};

const char *vmem_repl_name(enum vmem_repl r)
{
	if ((unsigned)r < sizeof(repl_names) / sizeof(repl_names[0]))
		return repl_names[r];
	return "?";
}

int vmem_repl_parse(const char *s, enum vmem_repl *out)
{
	if (s == NULL || out == NULL)
		return VMEM_EINVAL;
	for (unsigned i = 0; i < sizeof(repl_names) / sizeof(repl_names[0]); i++) {
		if (strcasecmp(s, repl_names[i]) == 0) {
			*out = (enum vmem_repl)i;
			return 0;
		}
	}
	return VMEM_EINVAL;
}

static bool is_pow2(uint32_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static uint32_t log2_u32(uint32_t x)
{
	uint32_t l = 0;

	while (x > 1) {
		x >>= 1;
		l++;
	}
	return l;
}

/* Resolves geom into ways per set and number of sets; 0 or VMEM_EINVAL. */
static int geom_resolve(const struct vmem_cache_geom *geom, uint32_t *ways, uint32_t *sets)
{
	uint32_t w;

	if (geom == NULL)
		return VMEM_EINVAL;
	if (geom->repl != VMEM_REPL_LRU && geom->repl != VMEM_REPL_PLRU &&
	    geom->repl != VMEM_REPL_RANDOM)
		return VMEM_EINVAL;
	if (geom->entries == 0) {
		/* Absent structure; ways is ignored. */
		*ways = 0;
		*sets = 1;
		return 0;
	}
	w = geom->ways == 0 ? geom->entries : geom->ways;
	if (w > geom->entries || geom->entries % w != 0)
		return VMEM_EINVAL;
	if (!is_pow2(geom->entries / w))
		return VMEM_EINVAL;
	if (geom->repl == VMEM_REPL_PLRU && !is_pow2(w))
		return VMEM_EINVAL;
	*ways = w;
	*sets = geom->entries / w;
	return 0;
}

int vmem_xcache_geom_check(const struct vmem_cache_geom *geom)
{
	uint32_t ways, sets;

	return geom_resolve(geom, &ways, &sets);
}

/* Marks way (in set) as most recently used: the tree walk of the model comment. */
static void plru_touch_walk(struct vmem_xcache *c, uint64_t set, uint32_t way)
{
	uint64_t *bits = c->plru + set * c->plru_words;
	uint32_t node = 1;

	for (uint32_t d = c->ways_log2; d-- > 0;) {
		uint32_t upper = (way >> d) & 1u;
		uint64_t bit = 1ull << (node & 63);

		/* Point away from the half that holds way. */
		if (upper)
			bits[node >> 6] &= ~bit;
		else
			bits[node >> 6] |= bit;
		node = 2 * node + upper;
	}
}

/*
 * For ways <= 64 (the tree fits one word), precomputes per way the node bits a use of
 * that way clears and sets, so that a use is one and-or (plru_touch).
 */
static int plru_masks_init(struct vmem_xcache *c)
{
	c->plru_clr = calloc(c->ways, sizeof(*c->plru_clr));
	c->plru_set = calloc(c->ways, sizeof(*c->plru_set));
	if (c->plru_clr == NULL || c->plru_set == NULL)
		return VMEM_ENOMEM;
	for (uint32_t w = 0; w < c->ways; w++) {
		uint32_t node = 1;

		for (uint32_t d = c->ways_log2; d-- > 0;) {
			uint32_t upper = (w >> d) & 1u;

			if (upper)
				c->plru_clr[w] |= 1ull << node;
			else
				c->plru_set[w] |= 1ull << node;
			node = 2 * node + upper;
		}
	}
	return 0;
}

/* ---- indexed fully associative LRU ---- */

static int fa_index_init(struct vmem_xcache *c)
{
	uint32_t nb = 1;

	while (nb < 2 * c->ways)
		nb *= 2;
	c->bucket_mask = nb - 1;
	c->bucket = malloc(nb * sizeof(*c->bucket));
	c->chain = malloc(c->ways * sizeof(*c->chain));
	c->newer = malloc(c->ways * sizeof(*c->newer));
	c->older = malloc(c->ways * sizeof(*c->older));
	c->free_ways = malloc(c->ways * sizeof(*c->free_ways));
	c->home = malloc(c->ways * sizeof(*c->home));
	if (!c->bucket || !c->chain || !c->newer || !c->older || !c->free_ways || !c->home)
		return VMEM_ENOMEM;
	for (uint32_t b = 0; b < nb; b++)
		c->bucket[b] = XC_NONE;
	/* Lowest-numbered on top, as the scanning form fills an empty cache. */
	for (uint32_t w = 0; w < c->ways; w++)
		c->free_ways[w] = c->ways - 1 - w;
	c->nfree = c->ways;
	c->mru = c->lru = XC_NONE;
	return 0;
}

/* The way holding (key, tag), or c->ways. */
static inline uint32_t fa_find(const struct vmem_xcache *c, uint64_t key, uint64_t tag)
{
	for (uint32_t w = c->bucket[xc_fa_bucket(c, key, tag)]; w != XC_NONE; w = c->chain[w])
		if (c->keys[w] == key && c->tags[w] == tag)
			return w;
	return c->ways;
}

/* Invalidates valid way w. */
static void fa_release(struct vmem_xcache *c, uint32_t w)
{
	xc_fa_unlink(c, w);
	c->tags[w] = 0;
	c->free_ways[c->nfree++] = w;
}

static bool fa_fill(struct vmem_xcache *c, uint64_t key, uint64_t tag, uint64_t val)
{
	uint32_t w;
	bool evict = false;

	if (c->hint_tag == tag && c->hint_key == key)
		return xc_fa_fill_hinted(c, key, tag, val);
	w = fa_find(c, key, tag);
	c->stats.fills++;
	if (w != c->ways) {
		c->vals[w] = val;
		xc_fa_touch(c, w);
		return false;
	}
	if (c->nfree) {
		w = c->free_ways[--c->nfree];
	} else {
		w = c->lru;
		xc_fa_unlink(c, w);
		evict = true;
		c->stats.evictions++;
	}
	c->keys[w] = key;
	c->tags[w] = tag;
	c->vals[w] = val;
	xc_fa_link(c, w, xc_fa_bucket(c, key, tag));
	return evict;
}

/* Wide sets (xcache_internal.h): no valid way, fingerprints 0, the ways in order. */
static void wide_init(struct vmem_xcache *c)
{
	uint64_t order = ~0ull;

	for (uint32_t w = c->ways; w-- > 0;)
		order = order << 4 | w;
	c->meta = c->block;
	for (uint32_t s = 0; s < c->sets; s++)
		c->meta[(size_t)s * c->stride + 2] = order;
	c->fp_mask[0] = c->ways >= 8 ? ~0ull : (1ull << (8 * c->ways)) - 1;
	c->fp_mask[1] = c->ways > 8 ? (1ull << (8 * (c->ways - 8))) - 1 : 0;
}

int vmem_xcache_create(const struct vmem_cache_geom *geom, uint64_t seed,
		       struct vmem_xcache **out)
{
	struct vmem_xcache *c;
	uint32_t ways, sets;
	int err;

	if (out == NULL)
		return VMEM_EINVAL;
	*out = NULL;
	err = geom_resolve(geom, &ways, &sets);
	if (err)
		return err;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VMEM_ENOMEM;
	c->ways = ways;
	c->sets = sets;
	c->set_mask = (uint64_t)sets - 1;
	c->repl = geom->repl;
	c->rng = seed != 0 ? seed : XC_RNG_ZERO_SEED;
	/*
	 * An absent cache still gets one-element arrays so that the probe loop, which runs
	 * zero times, never forms a pointer from NULL.
	 */
	{
		size_t w = ways != 0 ? ways : 1;
		bool wide = c->repl == VMEM_REPL_LRU && ways >= XC_WIDE_MIN_WAYS &&
			    ways <= XC_WIDE_MAX_WAYS;
		size_t narrays = c->repl == VMEM_REPL_LRU && !wide ? 4 : 3;
		size_t meta_words = wide ? XC_META_WORDS : 0;
		size_t bytes;

		c->stride = meta_words + w * narrays;
		bytes = (size_t)sets * c->stride * sizeof(uint64_t);
		bytes = (bytes + 63) & ~(size_t)63;
		c->block = aligned_alloc(64, bytes);
		if (c->block == NULL)
			goto nomem;
		memset(c->block, 0, bytes);
		c->keys = c->block + meta_words;
		c->tags = c->keys + w;
		c->vals = c->tags + w;
		if (wide) {
			wide_init(c);
		} else if (c->repl == VMEM_REPL_LRU) {
			c->stamps = c->tags + w;
			c->vals = c->stamps + w;
		}
	}
	if (c->repl == VMEM_REPL_PLRU && ways != 0) {
		c->ways_log2 = log2_u32(ways);
		c->plru_words = (uint32_t)(((uint64_t)ways + 63) >> 6);
		c->plru = calloc((size_t)sets * c->plru_words, sizeof(*c->plru));
		if (c->plru == NULL)
			goto nomem;
		if (ways <= 64 && plru_masks_init(c) != 0)
			goto nomem;
	}
	if (c->repl == VMEM_REPL_LRU && sets == 1 && ways >= XC_INDEX_WAYS &&
	    fa_index_init(c) != 0)
		goto nomem;
	if (c->bucket)
		c->inline_ops = XC_INLINE_INDEXED;
	else if (c->meta)
		c->inline_ops = XC_INLINE_WIDE;
	else if (c->repl == VMEM_REPL_LRU && ways != 0)
		c->inline_ops = XC_INLINE_SETS;
	*out = c;
	return 0;
nomem:
	vmem_xcache_destroy(c);
	return VMEM_ENOMEM;
}

void vmem_xcache_destroy(struct vmem_xcache *c)
{
	if (c == NULL)
		return;
	free(c->block);
	free(c->plru);
	free(c->plru_clr);
	free(c->plru_set);
	vmem_mrc_destroy(c->mrc);
	free(c->bucket);
	free(c->chain);
	free(c->newer);
	free(c->older);
	free(c->free_ways);
	free(c->home);
	free(c);
}

/*
 * The same update in one step when the tree fits a word (ways <= 64): the bits a use of
 * each way clears and sets are precomputed at create.
 */
static inline void plru_touch(struct vmem_xcache *c, uint64_t set, uint32_t way)
{
	if (c->plru_set != NULL)
		c->plru[set] = (c->plru[set] & ~c->plru_clr[way]) | c->plru_set[way];
	else
		plru_touch_walk(c, set, way);
}

static inline uint32_t plru_victim(const struct vmem_xcache *c, uint64_t set)
{
	const uint64_t *bits = c->plru + set * c->plru_words;
	uint32_t node = 1;

	for (uint32_t d = 0; d < c->ways_log2; d++)
		node = 2 * node + (uint32_t)((bits[node >> 6] >> (node & 63)) & 1u);
	return node - c->ways;
}

static inline uint32_t random_victim(struct vmem_xcache *c)
{
	uint64_t x = c->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->rng = x;
	x *= 0x2545F4914F6CDD1Dull;
	return (uint32_t)(((x >> 32) * (uint64_t)c->ways) >> 32);
}

static inline uint32_t lru_victim(const struct vmem_xcache *c, size_t base)
{
	const uint64_t *st = c->stamps + base;
	uint32_t victim = 0;

	for (uint32_t w = 1; w < c->ways; w++)
		if (st[w] < st[victim])
			victim = w;
	return victim;
}

static inline __attribute__((always_inline)) void touch(struct vmem_xcache *c, uint64_t set, size_t base, uint32_t way)
{
	switch (c->repl) {
	case VMEM_REPL_LRU:
		if (c->bucket)
			xc_fa_touch(c, way);
		else if (c->meta)
			c->meta[base + 2] = xc_order_use(c->meta[base + 2], way);
		else
			c->stamps[base + way] = ++c->clock;
		break;
	case VMEM_REPL_PLRU:
		plru_touch(c, set, way);
		break;
	case VMEM_REPL_RANDOM:
		break;
	}
}

static inline bool lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;
	const uint64_t set = key & c->set_mask;
	const size_t base = (size_t)set * c->stride;
	const uint64_t *keys = c->keys + base;
	const uint64_t *tags = c->tags + base;
	const uint32_t ways = c->ways;

	if (c->bucket)
		return xc_fa_lookup(c, key, ctx, val);
	if (c->repl == VMEM_REPL_LRU && ways != 0)
		return xc_lru_lookup(c, key, ctx, val);
	c->stats.lookups++;
	for (uint32_t w = 0; w < ways; w++) {
		if (keys[w] == key && tags[w] == tag) {
			c->hint_tag = 0;
			c->stats.hits++;
			*val = c->vals[base + w];
			touch(c, set, base, w);
			return true;
		}
	}
	if (ways != 0) {
		c->hint_key = key;
		c->hint_tag = tag;
	}
	return false;
}

/*
 * With a profiler, lookups and fills take these separate paths, kept out of line, so that
 * the path without one stays a leaf function (a call in it would cost register saves).
 */
__attribute__((noinline)) static bool lookup_profiled(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	vmem_mrc_lookup(c->mrc, key, ctx);
	return lookup(c, key, ctx, val);
}

bool vmem_xcache_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	if (c->mrc != NULL)
		return lookup_profiled(c, key, ctx, val);
	return lookup(c, key, ctx, val);
}

static inline bool fill(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t val)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;
	const uint64_t set = key & c->set_mask;
	const size_t base = (size_t)set * c->stride;
	const uint64_t *keys = c->keys + base;
	const uint64_t *tags = c->tags + base;
	const uint32_t ways = c->ways;
	uint32_t way = ways;   /* first invalid way, ways if none */
	bool evict = false;

	if (ways == 0)
		return false;   /* absent: dropped */
	if (c->bucket) {
		evict = fa_fill(c, key, tag, val);
		c->hint_tag = 0;
		return evict;
	}
	if (c->repl == VMEM_REPL_LRU && c->hint_tag == tag && c->hint_key == key) {
		/* Absent, as the lookup found. */
		if (c->meta)
			return xc_wide_fill_hinted(c, key, tag, val);
		return xc_stamp_fill_hinted(c, key, tag, val);
	}
	c->hint_tag = 0;
	if (c->meta) {
		uint64_t *meta = c->meta + base;

		way = xc_wide_find(c, meta, keys, tags, key, tag);
		c->stats.fills++;
		if (way != ways) {
			c->vals[base + way] = val;
			meta[2] = xc_order_use(meta[2], way);
			return false;
		}
		way = xc_wide_victim(c, meta);
		evict = (meta[3] >> way) & 1u;
		c->stats.evictions += evict;
		c->keys[base + way] = key;
		c->tags[base + way] = tag;
		c->vals[base + way] = val;
		xc_wide_use_filled(meta, way, key);
		return evict;
	}
	if (c->repl == VMEM_REPL_LRU) {
		/*
		 * One pass finds the entry, the first invalid way and the least recently used
		 * way (the lowest-numbered of equal stamps, as lru_victim).
		 */
		const uint64_t *st = c->stamps + base;
		uint32_t lru = 0;

		for (uint32_t w = 0; w < ways; w++) {
			if (keys[w] == key && tags[w] == tag) {
				c->vals[base + w] = val;
				c->stamps[base + w] = ++c->clock;
				c->stats.fills++;
				return false;
			}
			if (tags[w] == 0 && way == ways)
				way = w;
			if (st[w] < st[lru])
				lru = w;
		}
		if (way == ways) {
			way = lru;
			evict = true;
			c->stats.evictions++;
		}
		c->keys[base + way] = key;
		c->tags[base + way] = tag;
		c->vals[base + way] = val;
		c->stamps[base + way] = ++c->clock;
		c->stats.fills++;
		return evict;
	}
	for (uint32_t w = 0; w < ways; w++) {
		if (keys[w] == key && tags[w] == tag) {
			c->vals[base + w] = val;
			touch(c, set, base, w);
			c->stats.fills++;
			return false;
		}
		if (tags[w] == 0 && way == ways)
			way = w;
	}
	if (way == ways) {
		switch (c->repl) {
		case VMEM_REPL_LRU:
			way = lru_victim(c, base);
			break;
		case VMEM_REPL_PLRU:
			way = plru_victim(c, set);
			break;
		case VMEM_REPL_RANDOM:
			way = random_victim(c);
			break;
		}
		evict = true;
		c->stats.evictions++;
	}
	c->keys[base + way] = key;
	c->tags[base + way] = tag;
	c->vals[base + way] = val;
	touch(c, set, base, way);
	c->stats.fills++;
	return evict;
}

__attribute__((noinline)) static bool fill_profiled(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t val)
{
	if (c->ways != 0)
		vmem_mrc_fill(c->mrc, key, ctx);
	return fill(c, key, ctx, val);
}

bool vmem_xcache_fill(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t val)
{
	if (c->mrc != NULL)
		return fill_profiled(c, key, ctx, val);
	return fill(c, key, ctx, val);
}

void vmem_xcache_invalidate(struct vmem_xcache *c, uint64_t key, uint32_t ctx)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;
	const size_t base = (size_t)(key & c->set_mask) * c->stride;

	if (c->mrc != NULL)
		vmem_mrc_invalidate(c->mrc, key, ctx);
	c->hint_tag = 0;
	if (c->bucket) {
		uint32_t w = fa_find(c, key, tag);

		if (w != c->ways) {
			fa_release(c, w);
			c->stats.invalidations++;
		}
		return;
	}
	for (uint32_t w = 0; w < c->ways; w++) {
		if (c->keys[base + w] == key && c->tags[base + w] == tag) {
			c->tags[base + w] = 0;
			if (c->stamps)
				c->stamps[base + w] = 0;   /* (unobservable: see lookup) */
			if (c->meta)
				c->meta[base + 3] &= ~(1ull << w);
			c->stats.invalidations++;
			return;   /* (key, ctx) is present at most once */
		}
	}
}

void vmem_xcache_flush_ctx(struct vmem_xcache *c, uint32_t ctx, uint32_t mask)
{
	const uint32_t want = ctx & mask;

	if (c->mrc != NULL)
		vmem_mrc_flush_ctx(c->mrc, ctx, mask);
	c->hint_tag = 0;
	for (size_t s = 0; s < c->sets; s++) {
		for (uint32_t w = 0; w < c->ways; w++) {
			size_t i = s * c->stride + w;
			uint64_t t = c->tags[i];

			if (t != 0 && ((uint32_t)t & mask) == want) {
				if (c->bucket)
					fa_release(c, w);   /* (one set) */
				c->tags[i] = 0;
				if (c->stamps)
					c->stamps[i] = 0;
				if (c->meta)
					c->meta[s * c->stride + 3] &= ~(1ull << w);
				c->stats.invalidations++;
			}
		}
	}
}

void vmem_xcache_flush_all(struct vmem_xcache *c)
{
	if (c->mrc != NULL)
		vmem_mrc_flush_all(c->mrc);
	c->hint_tag = 0;

	for (size_t s = 0; s < c->sets; s++) {
		for (uint32_t w = 0; w < c->ways; w++) {
			size_t i = s * c->stride + w;

			if (c->tags[i] != 0) {
				if (c->bucket)
					fa_release(c, w);   /* (one set) */
				c->tags[i] = 0;
				if (c->stamps)
					c->stamps[i] = 0;
				if (c->meta)
					c->meta[s * c->stride + 3] &= ~(1ull << w);
				c->stats.invalidations++;
			}
		}
	}
}

uint32_t vmem_xcache_occupancy(const struct vmem_xcache *c)
{
	uint32_t count = 0;

	for (size_t s = 0; s < c->sets; s++)
		for (uint32_t w = 0; w < c->ways; w++)
			count += c->tags[s * c->stride + w] != 0;
	return count;
}

uint32_t vmem_xcache_sets(const struct vmem_xcache *c)
{
	return c->sets;
}

uint32_t vmem_xcache_ways(const struct vmem_xcache *c)
{
	return c->ways;
}

const struct vmem_xcache_stats *vmem_xcache_stats(const struct vmem_xcache *c)
{
	return &c->stats;
}

int vmem_xcache_enable_mrc(struct vmem_xcache *c, uint32_t max_ways)
{
	struct vmem_mrc *p = NULL;
	int err;

	if (c == NULL || c->ways == 0)
		return VMEM_EINVAL;
	if (max_ways == 0)
		max_ways = c->ways > VMEM_MRC_MAX_WAYS / 8 ? VMEM_MRC_MAX_WAYS : 8 * c->ways;
	err = vmem_mrc_create(c->sets, max_ways, &p);
	if (err)
		return err;
	vmem_mrc_destroy(c->mrc);
	c->mrc = p;
	c->inline_ops = XC_INLINE_NONE;   /* the profiler must see every operation */
	return 0;
}

struct vmem_mrc *vmem_xcache_mrc(const struct vmem_xcache *c)
{
	return c->mrc;
}
