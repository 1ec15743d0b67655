/*
 * The translation cache's state (libvmem/paging/xcache.c has the model and the layout)
 * and the inline form of its commonest operations, for the TLB, the paging-structure
 * caches and the walks: a probe of an LRU cache (stamps, wide sets or the indexed fully
 * associative form), and the fill that follows a probe that missed. Every other case (a
 * profiled cache, PLRU, RANDOM, an absent cache, a fill the last probe did not prepare)
 * goes to the out-of-line functions of include/vmem/xcache.h, which use the same
 * functions for LRU: both leave the cache in the same state.
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
	XC_INLINE_SETS,      /* set-associative LRU, stamps */
	XC_INLINE_WIDE,      /* set-associative LRU, wide sets (below) */
	XC_INLINE_INDEXED,   /* indexed fully associative LRU */
};

struct vmem_xcache {
	uint64_t *block;     /* [sets * stride] the set blocks (see the top comment) */
	uint64_t *keys;      /* entry (set, way) at [set * stride + way], in block */
	uint64_t *tags;      /* the same: ctx | XC_VALID, or 0 when invalid */
	uint64_t *vals;      /* the same */
	uint64_t *stamps;    /* LRU but wide sets: the same, last-use stamps; else NULL */
	uint64_t *meta;      /* wide sets: [set * stride] the set's XC_META_WORDS; else NULL */
	uint64_t fp_mask[2]; /* wide sets: the fingerprint bytes of existing ways */
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
	 * victim such a fill takes, hint_way (see xc_stamp_lookup); in the indexed form
	 * hint_way is the hash chain the entry goes in. */
	uint64_t hint_key;
	uint64_t hint_tag;
	uint32_t hint_way;
};

/*
 * A probe of a set-associative LRU cache of stamps (c->ways > 0, no index, not wide). A
 * hit stamps the way.
 * A miss leaves the hint, with the way a fill of (key, ctx) would take: the first way of
 * the smallest stamp, which is the first invalid way if there is one (an invalid way's
 * stamp is 0, a valid one's at least 1), else the least recently used. Looking for it
 * in the same pass as the keys costs less than a second pass over the stamps at the fill.
 */
static inline bool xc_stamp_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx,
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
static inline bool xc_stamp_fill_hinted(struct vmem_xcache *c, uint64_t key, uint64_t tag,
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

/* ---- wide sets (XC_WIDE_MIN_WAYS to XC_WIDE_MAX_WAYS ways, LRU: the STLB) ----
 *
 * Scanning 12 keys on every probe that misses, and 12 stamps for every victim, cost more
 * than the rest of a TLB miss's bookkeeping, and a set's stamps and keys are four cache
 * lines apart. A wide set keeps instead, in XC_META_WORDS words before its keys:
 *   [0], [1]  a one-byte fingerprint of the key in each way (ways 0-7, 8-15), so that a
 *             probe compares eight ways at once (SWAR: Mycroft's has-zero-byte test on
 *             the fingerprints xor the probe's) and reads a key only where its byte
 *             matches; a stale byte of an invalid way matches at worst, and its key or
 *             tag then does not;
 *   [2]       the ways in order of last use, one 4-bit number each, most recent in the
 *             low nibble (positions past the ways hold 0xf, never a way's number);
 *   [3]       the valid ways, one bit each.
 * A use moves the way to the front of the order; the least recently used way is at the
 * back. This is exact LRU, the same victims as the stamps: the order is always sorted
 * by last use, and once every way is valid each has been used since it was filled.
 */
#define XC_WIDE_MIN_WAYS 8
#define XC_WIDE_MAX_WAYS 15
#define XC_META_WORDS 4
#define XC_BYTES_ONES 0x0101010101010101ull
#define XC_NIBBLES_ONES 0x1111111111111111ull

static inline uint64_t xc_fingerprint(uint64_t key)
{
	return (key * 0x9E3779B97F4A7C15ull) >> 56;   /* the high byte mixes every key bit */
}

/* The high bit of every byte of word that equals byte (and maybe of bytes above one
 * that does: a borrow; the lowest is exact). */
static inline uint64_t xc_bytes_equal(uint64_t word, uint64_t byte)
{
	uint64_t x = word ^ (byte * XC_BYTES_ONES);

	return (x - XC_BYTES_ONES) & ~x & (XC_BYTES_ONES << 7);
}

/* The way of wide set meta holding (key, tag), or c->ways. */
static inline uint32_t xc_wide_find(const struct vmem_xcache *c, const uint64_t *meta,
				    const uint64_t *keys, const uint64_t *tags, uint64_t key,
				    uint64_t tag)
{
	const uint64_t fp = xc_fingerprint(key);

	for (unsigned half = 0; half < 2; half++) {
		uint64_t m = xc_bytes_equal(meta[half], fp) & c->fp_mask[half];

		for (; m != 0; m &= m - 1) {
			uint32_t w = 8 * half + ((unsigned)__builtin_ctzll(m) >> 3);

			if (keys[w] == key && tags[w] == tag)
				return w;
		}
	}
	return c->ways;
}

/* The order with way w moved to the front (most recently used). */
static inline uint64_t xc_order_use(uint64_t order, uint32_t w)
{
	uint64_t x = order ^ (w * XC_NIBBLES_ONES);
	/* The lowest nibble of x that is 0 (the has-zero test on nibbles): w's position. */
	uint64_t z = (x - XC_NIBBLES_ONES) & ~x & (XC_NIBBLES_ONES << 3);
	unsigned shift = (unsigned)__builtin_ctzll(z) - 3;
	uint64_t below = order & ((1ull << shift) - 1);
	uint64_t above = order & ~((2ull << (shift + 3)) - 1);

	return above | below << 4 | w;
}

/* Way w of wide set meta now holds an entry with this key and has just been used. */
static inline void xc_wide_use_filled(uint64_t *meta, uint32_t w, uint64_t key)
{
	unsigned byte = 8 * (w & 7);

	meta[w >> 3] = (meta[w >> 3] & ~(0xffull << byte)) | xc_fingerprint(key) << byte;
	meta[2] = xc_order_use(meta[2], w);
	meta[3] |= 1ull << w;
}

/* The way a fill of an absent entry takes: the first invalid way, else the LRU one. */
static inline uint32_t xc_wide_victim(const struct vmem_xcache *c, const uint64_t *meta)
{
	if (meta[3] != (1ull << c->ways) - 1)
		return (uint32_t)__builtin_ctzll(~meta[3]);
	return (uint32_t)(meta[2] >> (4 * (c->ways - 1))) & 0xfu;
}

static inline bool xc_wide_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;
	const size_t base = (size_t)(key & c->set_mask) * c->stride;
	uint64_t *meta = c->meta + base;
	uint32_t w = xc_wide_find(c, meta, c->keys + base, c->tags + base, key, tag);

	c->stats.lookups++;
	if (w == c->ways) {
		c->hint_key = key;
		c->hint_tag = tag;
		return false;
	}
	c->hint_tag = 0;
	c->stats.hits++;
	*val = c->vals[base + w];
	meta[2] = xc_order_use(meta[2], w);
	return true;
}

/* The fill of (key, tag) that the hint says is absent. */
static inline bool xc_wide_fill_hinted(struct vmem_xcache *c, uint64_t key, uint64_t tag,
				       uint64_t val)
{
	const size_t base = (size_t)(key & c->set_mask) * c->stride;
	uint64_t *meta = c->meta + base;
	uint32_t w = xc_wide_victim(c, meta);
	bool evict = (meta[3] >> w) & 1u;

	c->hint_tag = 0;
	c->stats.evictions += evict;
	c->stats.fills++;
	c->keys[base + w] = key;
	c->tags[base + w] = tag;
	c->vals[base + w] = val;
	xc_wide_use_filled(meta, w, key);
	return evict;
}

/* The probe of a set-associative LRU cache, either form. */
static inline bool xc_lru_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	if (c->meta)
		return xc_wide_lookup(c, key, ctx, val);
	return xc_stamp_lookup(c, key, ctx, val);
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
	if (!evict) {
		w = c->free_ways[--c->nfree];
		c->keys[w] = key;
		c->tags[w] = tag;
		c->vals[w] = val;
		xc_fa_link(c, w, c->hint_way);
		return false;
	}
	/* The least recently used way takes the entry: out of its hash chain into the
	 * hint's, and from the back of the list to the front (a rotation when it is not
	 * the only way). */
	w = c->lru;
	c->stats.evictions++;
	{
		uint32_t *link = &c->bucket[c->home[w]];

		while (*link != w)
			link = &c->chain[*link];
		*link = c->chain[w];
	}
	if (w != c->mru) {
		uint32_t next = c->newer[w];

		c->older[next] = XC_NONE;
		c->lru = next;
		c->newer[c->mru] = w;
		c->older[w] = c->mru;
		c->newer[w] = XC_NONE;
		c->mru = w;
	}
	c->keys[w] = key;
	c->tags[w] = tag;
	c->vals[w] = val;
	c->home[w] = c->hint_way;
	c->chain[w] = c->bucket[c->hint_way];
	c->bucket[c->hint_way] = w;
	return true;
}

/* vmem_xcache_lookup, inline for an LRU cache that is not profiled. */
static inline __attribute__((always_inline)) bool
xcache_lookup(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	if (c->inline_ops == XC_INLINE_SETS)
		return xc_stamp_lookup(c, key, ctx, val);
	if (c->inline_ops == XC_INLINE_WIDE)
		return xc_wide_lookup(c, key, ctx, val);
	if (c->inline_ops == XC_INLINE_INDEXED)
		return xc_fa_lookup(c, key, ctx, val);
	return vmem_xcache_lookup(c, key, ctx, val);
}

/* vmem_xcache_fill, inline for the fill that follows a miss of an LRU cache that is not
 * profiled. */
static inline __attribute__((always_inline)) bool
xcache_fill(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t val)
{
	const uint64_t tag = (uint64_t)ctx | XC_VALID;

	if (c->hint_tag == tag && c->hint_key == key) {
		if (c->inline_ops == XC_INLINE_SETS)
			return xc_stamp_fill_hinted(c, key, tag, val);
		if (c->inline_ops == XC_INLINE_WIDE)
			return xc_wide_fill_hinted(c, key, tag, val);
		if (c->inline_ops == XC_INLINE_INDEXED)
			return xc_fa_fill_hinted(c, key, tag, val);
	}
	return vmem_xcache_fill(c, key, ctx, val);
}

#endif
