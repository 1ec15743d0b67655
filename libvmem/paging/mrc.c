/*
 * Miss-ratio curve profiler: per-set LRU stacks with holes (contract in include/vmem/mrc.h).
 *
 * Stack distances
 * ---------------
 * Mattson, Gecsei, Slutz and Traiger ("Evaluation techniques for storage hierarchies",
 * IBM Systems Journal 9(2), 1970) observed that LRU is a stack algorithm: at every point of
 * a reference stream, the content of an LRU cache of w entries is the top w entries of one
 * recency stack, for every w at once. A reference found at depth d of the stack therefore
 * hits in every cache of w >= d entries and misses in every smaller one; one pass that
 * histograms the depths gives the misses of every size. A set-associative cache with S
 * sets indexed by key & (S - 1) is S independent fully associative caches, so one stack
 * per set gives every associativity w at the fixed S (entries S x w), as noted by Hill and
 * Smith ("Evaluating associativity in CPU caches", IEEE Trans. Computers 38(12), 1989).
 *
 * Invalidation: holes
 * -------------------
 * Invalidations break the plain stack: a cache that lost an entry has a free slot, and a
 * cache with a free slot does not evict on its next fill, so its content is no longer the
 * top w entries of the recency order of the valid entries. The stack here keeps slots,
 * each holding a valid entry or a HOLE, with these rules (positions 1 = top .. W):
 *   - invalidate X at position d: position d becomes a hole (nothing moves);
 *   - use of X (a lookup that finds it, or a fill), X at position d, or d = infinity
 *     when X is not in the stack: let h be the topmost hole above d (h < d), if any.
 *     With a hole: the entries at 1..h-1 move down one position, the hole at h is
 *     consumed, X goes to position 1 and position d (if finite) becomes a hole. Without
 *     one: the entries at 1..d-1 move down one, X goes to position 1 (for d = infinity
 *     the entry at W falls off).
 * Slots below the deepest one ever used are holes too (an empty cache is all holes).
 *
 * Invariant I(w), for every w: the valid entries in positions 1..w are exactly the
 * content of the LRU cache of w entries, and their order is its recency order. (Then the
 * cache's free slots are the holes in 1..w, since it holds w minus that many entries.)
 *
 * Proof, by induction over the references; initially the caches are empty and every
 * slot is a hole. Take one w, a reference to X, and let T = positions 1..w.
 *   Invalidate X at d. If d <= w, X is in the cache (I(w)) and leaves it; position d
 *     becomes a hole, so T's valid entries lose exactly X. If d > w, X is not in the
 *     cache, nothing changes in T. Order is untouched.
 *   Use of X at d <= w (a hit in cache w). The cache keeps its content, X becomes most
 *     recently used. In the stack X moves to 1; with a hole at h < d, the entries at
 *     1..h-1 move to 2..h and d becomes a hole: T loses the hole at h, gains one at d,
 *     both inside T, and keeps the same valid entries; without one, 1..d-1 move to 2..d,
 *     all inside T. The others keep their relative order, X is first: I(w) holds.
 *   Use of X at d > w (a miss in cache w, followed by its fill of X).
 *     - If T has a hole, the cache has a free slot (I(w)) and fills it: its content
 *       gains X and loses nothing. The topmost hole above d is then the topmost hole of
 *       T, h <= w: entries 1..h-1 move to 2..h, all inside T, X enters at 1; the hole at h
 *       is consumed; position d > w is outside T. T's valid entries gain exactly X.
 *     - If T has no hole, the cache is full and evicts its least recently used entry,
 *       the one at position w (I(w)). The topmost hole above d, if any, lies at h > w:
 *       either way the entries at 1..w-1 move to 2..w and the one at w moves to w + 1,
 *       out of T, and X enters at 1. T's valid entries lose the one at w and gain X.
 *     In both cases X is the most recent and the others keep their order: I(w) holds.
 *   Flushes are invalidations of every matching entry, each a hole in place.
 * A lookup therefore hits cache w exactly when X is valid at a position <= w, which is
 * what the depth histogram counts. Keeping only W positions per set changes nothing for
 * w <= W: what falls off position W is outside every tracked T.
 *
 * The proof treats a lookup that finds X at depth d > w as cache w's miss AND its fill of
 * X, since the stack moves X at the lookup already. So the stream must be such that a
 * cache that misses fills the same key next, with no other change of its content in
 * between (lookups that miss change nothing). The TLB does so: between a lookup of an
 * array and that array's fill come only the other probes of the access and the page walk.
 * A walk can fault and the fault can flush, but only for a translation that no TLB of
 * any size holds (a cached translation has its table entries; the simulator flushes a
 * context whenever it drops them), and such a lookup finds nothing in the stack either.
 * Where a stream breaks the rule, the curve is that of caches that fill at the lookup.
 *
 * The differential test (tests/test_mrc.c) replays random streams with invalidations and
 * context flushes on real vmem_xcache instances of every w and checks the counts.
 *
 * Layout: per set, W key slots and W tag slots (the context with bit 32 set for a valid
 * entry, 0 for a hole), most recent first, and the number of slots in use (len; slots from
 * len on are holes and are not scanned). Trailing holes are trimmed from len. A reference
 * scans the keys of its set once, then moves at most W slots (memmove). Three shortcuts
 * keep the common cases cheap, none changes a result:
 *   - each set counts its holes below len; a set without holes is not searched for one;
 *   - each set keeps the OR of every key stored since it was last empty: a key with a bit
 *     outside it cannot be there, so the scan is skipped (the STLB's 2 MiB probe in a run
 *     of 4 KiB pages: the page size is in the key's high bits);
 *   - the last two lookups that missed, with the topmost hole they found, are remembered
 *     until the stacks change: the fill that follows a miss then needs no second scan.
 */
#include <stdlib.h>
#include <string.h>

#include "vmem/mrc.h"

#include "mrc_internal.h"

#define MRC_VALID (1ull << 32)
#define MRC_NONE UINT32_MAX

struct mrc_set {
	uint32_t len;        /* slots in use */
	uint32_t holes;      /* holes among them */
	uint64_t key_or;     /* OR of the keys stored since the set was last empty */
};

/* A lookup that found nothing, valid while version is the profiler's. */
struct mrc_miss {
	uint64_t key, tag;
	uint64_t version;
	uint32_t hole;       /* topmost hole of the set, or MRC_NONE */
};

struct vmem_mrc {
	uint64_t *keys;      /* [sets * ways] */
	uint64_t *tags;      /* [sets * ways]: ctx | MRC_VALID, 0 for a hole */
	struct mrc_set *set; /* [sets] */
	uint64_t *hits;      /* [ways + 1]: lookups found at depth d, d = 1..ways */
	uint64_t lookups;
	uint64_t set_mask;
	uint64_t version;    /* incremented by every change of the stacks */
	struct mrc_miss miss[2];
	uint32_t next_miss;
	uint32_t sets;
	uint32_t ways;
	bool grouped;        /* lookups are counted by mrc_group_end */
	uint32_t group;      /* grouped: smallest depth since the last group end (0: none) */
};

int vmem_mrc_create(uint32_t sets, uint32_t max_ways, struct vmem_mrc **out)
{
	struct vmem_mrc *p;
	size_t n;

	if (out == NULL)
		return VMEM_EINVAL;
	*out = NULL;
	if (sets == 0 || (sets & (sets - 1)) != 0 || max_ways == 0 ||
	    max_ways > VMEM_MRC_MAX_WAYS)
		return VMEM_EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return VMEM_ENOMEM;
	n = (size_t)sets * max_ways;
	p->keys = calloc(n, sizeof(*p->keys));
	p->tags = calloc(n, sizeof(*p->tags));
	p->set = calloc(sets, sizeof(*p->set));
	p->hits = calloc((size_t)max_ways + 1, sizeof(*p->hits));
	if (p->keys == NULL || p->tags == NULL || p->set == NULL || p->hits == NULL) {
		vmem_mrc_destroy(p);
		return VMEM_ENOMEM;
	}
	p->sets = sets;
	p->ways = max_ways;
	p->set_mask = (uint64_t)sets - 1;
	p->version = 1;   /* the zeroed miss memo is stale */
	*out = p;
	return 0;
}

void vmem_mrc_destroy(struct vmem_mrc *p)
{
	if (p == NULL)
		return;
	free(p->keys);
	free(p->tags);
	free(p->set);
	free(p->hits);
	free(p);
}

/*
 * Finds (key, tag) in set s: returns its index (0-based) or len when absent, and the
 * index of the topmost hole above it in *hole (or MRC_NONE).
 */
static inline uint32_t find(const struct vmem_mrc *p, uint64_t s, uint64_t key, uint64_t tag,
			    uint32_t *hole)
{
	const struct mrc_set *st = &p->set[s];
	const size_t base = (size_t)s * p->ways;
	const uint64_t *keys = p->keys + base;
	const uint64_t *tags = p->tags + base;
	const uint32_t len = st->len;
	uint32_t i = len;

	*hole = MRC_NONE;
	if ((key & ~st->key_or) == 0) {   /* else it has a bit no stored key has: absent */
		for (uint32_t k = 0; k < len; k++) {
			if (keys[k] == key && tags[k] == tag) {
				i = k;
				break;
			}
		}
	}
	if (st->holes != 0) {
		for (uint32_t k = 0; k < i; k++) {
			if (tags[k] == 0) {
				*hole = k;
				break;
			}
		}
	}
	return i;
}

/* Drops trailing holes from the set's slots in use. */
static inline void trim(struct vmem_mrc *p, uint64_t s)
{
	struct mrc_set *st = &p->set[s];
	const uint64_t *tags = p->tags + s * p->ways;

	while (st->len > 0 && tags[st->len - 1] == 0) {
		st->len--;
		st->holes--;
	}
	if (st->len == 0)
		st->key_or = 0;
}

/* The use rule of the file comment: (key, tag), found at index i (len: absent), goes on top. */
static void to_front(struct vmem_mrc *p, uint64_t s, uint32_t i, uint32_t hole, uint64_t key,
		     uint64_t tag)
{
	struct mrc_set *st = &p->set[s];
	const size_t base = (size_t)s * p->ways;
	uint64_t *keys = p->keys + base;
	uint64_t *tags = p->tags + base;
	const uint32_t len = st->len;
	uint32_t shift;   /* slots 0..shift-1 move down one */

	p->version++;
	st->key_or |= key;
	if (hole != MRC_NONE) {
		shift = hole;              /* the hole at `hole` is consumed */
		st->holes--;
	} else if (i < len) {
		shift = i;                 /* the slot of X is reused */
	} else if (len < p->ways) {
		shift = len;               /* the stack grows */
		st->len++;
	} else {
		shift = len - 1;           /* the entry at the bottom falls off */
	}
	memmove(keys + 1, keys, shift * sizeof(*keys));
	memmove(tags + 1, tags, shift * sizeof(*tags));
	keys[0] = key;
	tags[0] = tag;
	if (hole != MRC_NONE && i < len) {
		tags[i] = 0;               /* X's old position becomes a hole */
		st->holes++;
		if (i == len - 1)
			trim(p, s);
	}
}

uint32_t vmem_mrc_lookup(struct vmem_mrc *p, uint64_t key, uint32_t ctx)
{
	const uint64_t s = key & p->set_mask;
	const uint64_t tag = (uint64_t)ctx | MRC_VALID;
	uint32_t hole, i, depth = 0;

	i = find(p, s, key, tag, &hole);
	if (i < p->set[s].len) {
		depth = i + 1;
		if (i != 0)
			to_front(p, s, i, hole, key, tag);
	} else {
		struct mrc_miss *m = &p->miss[p->next_miss];

		p->next_miss ^= 1;
		*m = (struct mrc_miss){ key, tag, p->version, hole };
	}
	if (p->grouped) {
		if (depth != 0 && (p->group == 0 || depth < p->group))
			p->group = depth;
	} else {
		p->lookups++;
		p->hits[depth]++;   /* hits[0] counts misses of every size; unused */
	}
	return depth;
}

void vmem_mrc_fill(struct vmem_mrc *p, uint64_t key, uint32_t ctx)
{
	const uint64_t s = key & p->set_mask;
	const uint64_t tag = (uint64_t)ctx | MRC_VALID;
	uint32_t hole, i;

	for (unsigned k = 0; k < 2; k++) {
		const struct mrc_miss *m = &p->miss[k];

		if (m->version == p->version && m->key == key && m->tag == tag) {
			to_front(p, s, p->set[s].len, m->hole, key, tag);
			return;
		}
	}
	i = find(p, s, key, tag, &hole);
	if (i != 0 || p->set[s].len == 0)   /* not already on top */
		to_front(p, s, i, hole, key, tag);
}

void vmem_mrc_invalidate(struct vmem_mrc *p, uint64_t key, uint32_t ctx)
{
	const uint64_t s = key & p->set_mask;
	const uint64_t tag = (uint64_t)ctx | MRC_VALID;
	uint32_t hole, i;

	i = find(p, s, key, tag, &hole);
	if (i < p->set[s].len) {
		p->version++;
		p->tags[(size_t)s * p->ways + i] = 0;
		p->set[s].holes++;
		trim(p, s);
	}
}

void vmem_mrc_flush_ctx(struct vmem_mrc *p, uint32_t ctx, uint32_t mask)
{
	const uint32_t want = ctx & mask;

	p->version++;
	for (uint64_t s = 0; s < p->sets; s++) {
		uint64_t *tags = p->tags + s * p->ways;
		struct mrc_set *st = &p->set[s];

		for (uint32_t i = 0; i < st->len; i++) {
			if (tags[i] != 0 && ((uint32_t)tags[i] & mask) == want) {
				tags[i] = 0;
				st->holes++;
			}
		}
		trim(p, s);
	}
}

void vmem_mrc_flush_all(struct vmem_mrc *p)
{
	p->version++;
	memset(p->set, 0, p->sets * sizeof(*p->set));
}

uint32_t vmem_mrc_sets(const struct vmem_mrc *p)
{
	return p->sets;
}

uint32_t vmem_mrc_max_ways(const struct vmem_mrc *p)
{
	return p->ways;
}

uint64_t vmem_mrc_lookups(const struct vmem_mrc *p)
{
	return p->lookups;
}

uint64_t vmem_mrc_misses(const struct vmem_mrc *p, uint32_t ways)
{
	uint64_t hits = 0;

	if (ways > p->ways)
		ways = p->ways;
	for (uint32_t d = 1; d <= ways; d++)
		hits += p->hits[d];
	return p->lookups - hits;
}

void vmem_mrc_reset_counts(struct vmem_mrc *p)
{
	p->lookups = 0;
	memset(p->hits, 0, ((size_t)p->ways + 1) * sizeof(*p->hits));
	p->group = 0;
}

void mrc_set_grouped(struct vmem_mrc *p)
{
	p->grouped = true;
	p->group = 0;
}

void mrc_group_end(struct vmem_mrc *p)
{
	p->lookups++;
	p->hits[p->group]++;
	p->group = 0;
}
