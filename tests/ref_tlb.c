/*
 * Reference models of the translation cache and the TLB hierarchy (see ref_tlb.h).
 * Deliberately plain: linear scans, lists that are shifted element by element, a tree of
 * booleans. Nothing here is shared with libvmem/xcache.c or libvmem/tlb.c.
 */
#include <stdlib.h>

#include "ref_tlb.h"

struct ref_entry {
	bool valid;
	uint64_t key;
	uint32_t ctx;
	uint64_t val;
};

struct ref_tlb_cache {
	enum vmem_repl repl;
	unsigned nsets;
	unsigned nways;            /* 0: absent */
	/*
	 * LRU: set s owns entries[s * nways .. s * nways + count[s] - 1], the valid entries
	 * of the set, most recently used first.
	 * PLRU and RANDOM: entries[s * nways + w] is way w of set s.
	 */
	struct ref_entry *entries;
	unsigned *count;           /* LRU only */
	bool *tree;                /* PLRU only: tree[s * nways + node], node 1..nways-1;
				    * true = the pseudo-LRU side is the upper half */
	uint64_t rng;              /* RANDOM only */
	struct vmem_xcache_stats stats;
};

struct ref_tlb_cache *ref_tlb_cache_new(const struct vmem_cache_geom *geom, uint64_t seed)
{
	struct ref_tlb_cache *c = calloc(1, sizeof(*c));
	size_t n;

	if (c == NULL)
		return NULL;
	if (geom->repl != VMEM_REPL_LRU && geom->repl != VMEM_REPL_PLRU &&
	    geom->repl != VMEM_REPL_RANDOM) {
		free(c);
		return NULL;
	}
	c->repl = geom->repl;
	if (geom->entries == 0) {
		c->nsets = 1;
		c->nways = 0;
	} else if (geom->ways == 0 || geom->ways == geom->entries) {
		c->nsets = 1;
		c->nways = geom->entries;
	} else {
		c->nsets = geom->entries / geom->ways;
		c->nways = geom->ways;
	}
	c->rng = seed;
	if (c->rng == 0)
		c->rng = 0x9E3779B97F4A7C15ull;
	n = (size_t)c->nsets * c->nways + 1;
	c->entries = calloc(n, sizeof(*c->entries));
	c->count = calloc(c->nsets, sizeof(*c->count));
	c->tree = calloc(n, sizeof(*c->tree));
	if (c->entries == NULL || c->count == NULL || c->tree == NULL) {
		ref_tlb_cache_free(c);
		return NULL;
	}
	return c;
}

void ref_tlb_cache_free(struct ref_tlb_cache *c)
{
	if (c == NULL)
		return;
	free(c->entries);
	free(c->count);
	free(c->tree);
	free(c);
}

static struct ref_entry *set_of(const struct ref_tlb_cache *c, uint64_t key)
{
	unsigned set = (unsigned)(key % c->nsets);

	return &c->entries[(size_t)set * c->nways];
}

static bool *tree_of(const struct ref_tlb_cache *c, uint64_t key)
{
	unsigned set = (unsigned)(key % c->nsets);

	return &c->tree[(size_t)set * c->nways];
}

static bool same(const struct ref_entry *e, uint64_t key, uint32_t ctx)
{
	return e->valid && e->key == key && e->ctx == ctx;
}

/* --- LRU: a list per set, most recent first --- */

/* Moves list element i to the front. */
static void lru_to_front(struct ref_entry *list, unsigned i)
{
	struct ref_entry e = list[i];

	while (i > 0) {
		list[i] = list[i - 1];
		i--;
	}
	list[0] = e;
}

/* Removes list element i, closing the gap. */
static void lru_remove(struct ref_entry *list, unsigned *count, unsigned i)
{
	while (i + 1 < *count) {
		list[i] = list[i + 1];
		i++;
	}
	(*count)--;
	list[*count].valid = false;
}

/* --- PLRU: an explicit tree of booleans --- */

static void plru_use(const struct ref_tlb_cache *c, bool *tree, unsigned way)
{
	unsigned node = 1, lo = 0, size = c->nways;

	while (size > 1) {
		unsigned half = size / 2;

		if (way < lo + half) {
			tree[node] = true;   /* used the lower half: LRU side is the upper */
			node = 2 * node;
		} else {
			tree[node] = false;  /* used the upper half: LRU side is the lower */
			node = 2 * node + 1;
			lo += half;
		}
		size = half;
	}
}

static unsigned plru_pick(const struct ref_tlb_cache *c, const bool *tree)
{
	unsigned node = 1, lo = 0, size = c->nways;

	while (size > 1) {
		unsigned half = size / 2;

		if (tree[node]) {
			node = 2 * node + 1;
			lo += half;
		} else {
			node = 2 * node;
		}
		size = half;
	}
	return lo;
}

/* --- RANDOM: xorshift64* --- */

static unsigned random_pick(struct ref_tlb_cache *c)
{
	uint64_t r;

	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	r = c->rng * 0x2545F4914F6CDD1Dull;
	/* floor(upper 32 bits of r * ways / 2^32) */
	return (unsigned)(((r >> 32) * c->nways) / 4294967296ull);
}

bool ref_tlb_cache_lookup(struct ref_tlb_cache *c, uint64_t key, uint32_t ctx, uint64_t *val)
{
	struct ref_entry *set;

	c->stats.lookups++;
	if (c->nways == 0)
		return false;
	set = set_of(c, key);
	if (c->repl == VMEM_REPL_LRU) {
		unsigned *count = &c->count[key % c->nsets];

		for (unsigned i = 0; i < *count; i++) {
			if (same(&set[i], key, ctx)) {
				*val = set[i].val;
				lru_to_front(set, i);
				c->stats.hits++;
				return true;
			}
		}
		return false;
	}
	for (unsigned w = 0; w < c->nways; w++) {
		if (same(&set[w], key, ctx)) {
			*val = set[w].val;
			if (c->repl == VMEM_REPL_PLRU)
				plru_use(c, tree_of(c, key), w);
			c->stats.hits++;
			return true;
		}
	}
	return false;
}

bool ref_tlb_cache_fill(struct ref_tlb_cache *c, uint64_t key, uint32_t ctx, uint64_t val)
{
	struct ref_entry *set;
	struct ref_entry fresh = { .valid = true, .key = key, .ctx = ctx, .val = val };
	bool evicted = false;
	unsigned w;

	if (c->nways == 0)
		return false;
	set = set_of(c, key);
	c->stats.fills++;
	if (c->repl == VMEM_REPL_LRU) {
		unsigned *count = &c->count[key % c->nsets];

		for (unsigned i = 0; i < *count; i++) {
			if (same(&set[i], key, ctx)) {
				set[i].val = val;
				lru_to_front(set, i);
				return false;
			}
		}
		if (*count == c->nways) {
			/* The last element is the least recently used: drop it. */
			lru_remove(set, count, *count - 1);
			evicted = true;
			c->stats.evictions++;
		}
		set[*count] = fresh;
		(*count)++;
		lru_to_front(set, *count - 1);
		return evicted;
	}
	for (w = 0; w < c->nways; w++) {
		if (same(&set[w], key, ctx)) {
			set[w].val = val;
			if (c->repl == VMEM_REPL_PLRU)
				plru_use(c, tree_of(c, key), w);
			return false;
		}
	}
	for (w = 0; w < c->nways; w++)
		if (!set[w].valid)
			break;
	if (w == c->nways) {
		if (c->repl == VMEM_REPL_PLRU)
			w = plru_pick(c, tree_of(c, key));
		else
			w = random_pick(c);
		evicted = true;
		c->stats.evictions++;
	}
	set[w] = fresh;
	if (c->repl == VMEM_REPL_PLRU)
		plru_use(c, tree_of(c, key), w);
	return evicted;
}

/* Removes every valid entry for which match() holds. */
static void remove_if(struct ref_tlb_cache *c, bool (*match)(const struct ref_entry *e,
							  uint64_t a, uint32_t b, uint32_t m),
		      uint64_t a, uint32_t b, uint32_t m)
{
	for (unsigned s = 0; s < c->nsets; s++) {
		struct ref_entry *set = &c->entries[(size_t)s * c->nways];

		if (c->repl == VMEM_REPL_LRU) {
			unsigned i = 0;

			while (i < c->count[s]) {
				if (match(&set[i], a, b, m)) {
					lru_remove(set, &c->count[s], i);
					c->stats.invalidations++;
				} else {
					i++;
				}
			}
			continue;
		}
		for (unsigned w = 0; w < c->nways; w++) {
			if (set[w].valid && match(&set[w], a, b, m)) {
				set[w].valid = false;
				c->stats.invalidations++;
			}
		}
	}
}

static bool match_key_ctx(const struct ref_entry *e, uint64_t key, uint32_t ctx, uint32_t m)
{
	(void)m;
	return same(e, key, ctx);
}

static bool match_ctx(const struct ref_entry *e, uint64_t unused, uint32_t ctx, uint32_t mask)
{
	(void)unused;
	return e->valid && (e->ctx & mask) == (ctx & mask);
}

static bool match_any(const struct ref_entry *e, uint64_t a, uint32_t b, uint32_t m)
{
	(void)a;
	(void)b;
	(void)m;
	return e->valid;
}

void ref_tlb_cache_invalidate(struct ref_tlb_cache *c, uint64_t key, uint32_t ctx)
{
	remove_if(c, match_key_ctx, key, ctx, 0);
}

void ref_tlb_cache_flush_ctx(struct ref_tlb_cache *c, uint32_t ctx, uint32_t mask)
{
	remove_if(c, match_ctx, 0, ctx, mask);
}

void ref_tlb_cache_flush_all(struct ref_tlb_cache *c)
{
	remove_if(c, match_any, 0, 0, 0);
}

uint32_t ref_tlb_cache_occupancy(const struct ref_tlb_cache *c)
{
	uint32_t n = 0;

	for (size_t i = 0; i < (size_t)c->nsets * c->nways; i++)
		if (c->entries[i].valid)
			n++;
	return n;
}

const struct vmem_xcache_stats *ref_tlb_cache_stats(const struct ref_tlb_cache *c)
{
	return &c->stats;
}

/* ---------------- TLB hierarchy ---------------- */

struct ref_tlb {
	struct ref_tlb_cache *dtlb[VMEM_PAGE_SIZES];
	struct ref_tlb_cache *itlb[VMEM_PAGE_SIZES];
	struct ref_tlb_cache *stlb;      /* 4K and 2M */
	struct ref_tlb_cache *stlb_1g;
	struct vmem_tlb_stats stats;
};

/* splitmix64 output function: the per-array seed rule of libvmem/tlb.c. */
static uint64_t array_seed(uint64_t seed, uint64_t number)
{
	uint64_t z = seed + number * 0x9E3779B97F4A7C15ull;

	z ^= z >> 30;
	z *= 0xBF58476D1CE4E5B9ull;
	z ^= z >> 27;
	z *= 0x94D049BB133111EBull;
	z ^= z >> 31;
	return z;
}

struct ref_tlb *ref_tlb_new(const struct vmem_tlb_config *cfg)
{
	struct ref_tlb *t = calloc(1, sizeof(*t));
	bool ok = true;

	if (t == NULL)
		return NULL;
	/* Arrays are numbered 1..8: L1D 4K/2M/1G, L1I 4K/2M/1G, STLB, 1G STLB. */
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		t->dtlb[s] = ref_tlb_cache_new(&cfg->l1d[s], array_seed(cfg->seed, 1 + s));
		t->itlb[s] = ref_tlb_cache_new(&cfg->l1i[s], array_seed(cfg->seed, 4 + s));
		ok = ok && t->dtlb[s] != NULL && t->itlb[s] != NULL;
	}
	t->stlb = ref_tlb_cache_new(&cfg->l2, array_seed(cfg->seed, 7));
	t->stlb_1g = ref_tlb_cache_new(&cfg->l2_1g, array_seed(cfg->seed, 8));
	if (!ok || t->stlb == NULL || t->stlb_1g == NULL) {
		ref_tlb_free(t);
		return NULL;
	}
	return t;
}

void ref_tlb_free(struct ref_tlb *t)
{
	if (t == NULL)
		return;
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		ref_tlb_cache_free(t->dtlb[s]);
		ref_tlb_cache_free(t->itlb[s]);
	}
	ref_tlb_cache_free(t->stlb);
	ref_tlb_cache_free(t->stlb_1g);
	free(t);
}

static uint64_t page_number(uint64_t va, int size)
{
	static const unsigned shift[VMEM_PAGE_SIZES] = { 12, 21, 30 };

	return va >> shift[size];
}

/* The unified STLB tells sizes apart by bits 60 and up of the key. */
static uint64_t stlb_key(uint64_t va, int size)
{
	return page_number(va, size) + ((uint64_t)size << 60);
}

/* Value: the 4 KiB-aligned base with the size in bits 0-1 and prot in bits 2-9. */
static uint64_t encode(const struct vmem_tlb_entry *e)
{
	return e->pa_base | (uint64_t)e->size | ((uint64_t)e->prot << 2);
}

static void decode(uint64_t v, struct vmem_tlb_entry *e)
{
	e->pa_base = v & ~0xfffull;
	e->size = (enum vmem_page_size)(v & 3);
	e->prot = (uint8_t)((v >> 2) & 0xff);
}

enum vmem_tlb_hit ref_tlb_lookup(struct ref_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
				 struct vmem_tlb_entry *e)
{
	struct ref_tlb_cache **l1 = ifetch ? t->itlb : t->dtlb;
	uint64_t v;

	if (ifetch)
		t->stats.l1i_lookups++;
	else
		t->stats.l1d_lookups++;
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		if (ref_tlb_cache_lookup(l1[s], page_number(va, s), ctx, &v)) {
			if (ifetch)
				t->stats.l1i_hits++;
			else
				t->stats.l1d_hits++;
			decode(v, e);
			return VMEM_TLB_HIT_L1;
		}
	}
	t->stats.l2_lookups++;
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		bool hit;

		if (s == VMEM_PAGE_1G)
			hit = ref_tlb_cache_lookup(t->stlb_1g, page_number(va, s), ctx, &v);
		else
			hit = ref_tlb_cache_lookup(t->stlb, stlb_key(va, s), ctx, &v);
		if (hit) {
			t->stats.l2_hits++;
			ref_tlb_cache_fill(l1[s], page_number(va, s), ctx, v);
			decode(v, e);
			return VMEM_TLB_HIT_L2;
		}
	}
	return VMEM_TLB_MISS;
}

void ref_tlb_fill(struct ref_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
		  const struct vmem_tlb_entry *e)
{
	struct ref_tlb_cache **l1 = ifetch ? t->itlb : t->dtlb;
	int s = (int)e->size;

	if (s == VMEM_PAGE_1G)
		ref_tlb_cache_fill(t->stlb_1g, page_number(va, s), ctx, encode(e));
	else
		ref_tlb_cache_fill(t->stlb, stlb_key(va, s), ctx, encode(e));
	ref_tlb_cache_fill(l1[s], page_number(va, s), ctx, encode(e));
}

void ref_tlb_invlpg(struct ref_tlb *t, uint64_t va, uint32_t ctx)
{
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		ref_tlb_cache_invalidate(t->dtlb[s], page_number(va, s), ctx);
		ref_tlb_cache_invalidate(t->itlb[s], page_number(va, s), ctx);
	}
	ref_tlb_cache_invalidate(t->stlb, stlb_key(va, VMEM_PAGE_4K), ctx);
	ref_tlb_cache_invalidate(t->stlb, stlb_key(va, VMEM_PAGE_2M), ctx);
	ref_tlb_cache_invalidate(t->stlb_1g, page_number(va, VMEM_PAGE_1G), ctx);
	t->stats.invlpgs++;
}

void ref_tlb_flush_ctx(struct ref_tlb *t, uint32_t ctx, uint32_t mask)
{
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		ref_tlb_cache_flush_ctx(t->dtlb[s], ctx, mask);
		ref_tlb_cache_flush_ctx(t->itlb[s], ctx, mask);
	}
	ref_tlb_cache_flush_ctx(t->stlb, ctx, mask);
	ref_tlb_cache_flush_ctx(t->stlb_1g, ctx, mask);
	t->stats.flushes++;
}

void ref_tlb_flush_all(struct ref_tlb *t)
{
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		ref_tlb_cache_flush_all(t->dtlb[s]);
		ref_tlb_cache_flush_all(t->itlb[s]);
	}
	ref_tlb_cache_flush_all(t->stlb);
	ref_tlb_cache_flush_all(t->stlb_1g);
	t->stats.flushes++;
}

const struct vmem_tlb_stats *ref_tlb_stats(const struct ref_tlb *t)
{
	return &t->stats;
}
