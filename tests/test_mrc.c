/*
 * Tests of the miss-ratio curve profiler (libvmem/mrc.c) and of its use on the TLB
 * (libvmem/tlb.c, libvmem/mrc_tlb.c):
 *   - hand-derived streams on a 1-set and a 2-set profiler, with invalidations that leave
 *     holes, a context flush and a full flush;
 *   - the TLB's counting: one STLB lookup per access, L1 memo hits replayed;
 *   - a differential test: seeded random streams with invalidations and flushes, profiled
 *     once and replayed on real LRU vmem_xcache instances of every associativity;
 *   - an end-to-end differential: bundled traces replayed once through a profiled machine
 *     and through machines whose STLB or L1 data TLB has each associativity in turn.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/mrc.h"
#include "vmem/trace.h"

static struct vmem_mrc *make(uint32_t sets, uint32_t ways)
{
	struct vmem_mrc *p = NULL;

	assert_int_equal(vmem_mrc_create(sets, ways, &p), 0);
	assert_non_null(p);
	return p;
}

/* An access as the TLB makes it: a lookup, and a fill when it missed at every size. */
static uint32_t access_key(struct vmem_mrc *p, uint64_t key, uint32_t ctx)
{
	uint32_t d = vmem_mrc_lookup(p, key, ctx);

	vmem_mrc_fill(p, key, ctx);
	return d;
}

static void test_mrc_create_rejects_bad_geometry(void **state)
{
	struct vmem_mrc *p = (struct vmem_mrc *)1;

	(void)state;
	assert_int_equal(vmem_mrc_create(3, 4, &p), VMEM_EINVAL);
	assert_null(p);
	assert_int_equal(vmem_mrc_create(0, 4, &p), VMEM_EINVAL);
	assert_int_equal(vmem_mrc_create(4, 0, &p), VMEM_EINVAL);
	assert_int_equal(vmem_mrc_create(4, VMEM_MRC_MAX_WAYS + 1, &p), VMEM_EINVAL);
	p = make(8, 3);
	assert_int_equal(vmem_mrc_sets(p), 8);
	assert_int_equal(vmem_mrc_max_ways(p), 3);
	vmem_mrc_destroy(p);
}

/*
 * One set, W = 4, context 0; keys A..E = 1..5. The stack after each step, top first,
 * "_" a hole (trailing holes are not shown: they are the never-used slots):
 *    1 A     miss           [A]
 *    2 B     miss           [B A]
 *    3 C     miss           [C B A]
 *    4 A     depth 3        [A C B]
 *    5 D     miss           [D A C B]
 *    6 B     depth 4        [B D A C]
 *    7 inv D                [B _ A C]       D leaves the caches of 2 and more entries
 *    8 E     miss           [E B A C]       the hole at 2 is consumed: no eviction in
 *                                           caches >= 2, C stays in the cache of 4
 *    9 C     depth 4        [C E B A]
 *   10 A     depth 4        [A C E B]
 *   11 inv E                [A C _ B]
 *   12 B     depth 4        [B A C _]       only 1..2 move down (into the hole at 3);
 *                                           B's old position 4 becomes the hole
 *   13 C     depth 3        [C B A]
 *   14 D     miss           [D C B A]
 * 12 lookups; hits by depth: 3 (steps 4, 13), 4 (steps 6, 9, 10, 12).
 * misses: w=1: 12, w=2: 12, w=3: 12 - 2 = 10, w=4: 12 - 6 = 6.
 * Check by hand for w = 3 (LRU, MRU first): A, BA, CBA, A hits (ACB), D evicts B (DAC),
 * B evicts C (BDA), inv D (BA), E fills the free slot (EBA), C evicts A (CEB), A evicts B
 * (ACE), inv E (AC), B fills the free slot (BAC), C hits (CBA), D evicts A: 2 hits, 10
 * misses. Without the hole rule step 8 would push C to position 5 and step 9 would miss
 * in the cache of 4.
 */
static void test_mrc_one_set_with_holes(void **state)
{
	enum { A = 1, B, C, D, E };
	static const uint64_t keys[] = { A, B, C, A, D, B };
	static const uint32_t depth[] = { 0, 0, 0, 3, 0, 4 };
	struct vmem_mrc *p = make(1, 4);

	(void)state;
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(access_key(p, keys[i], 0), depth[i]);
	vmem_mrc_invalidate(p, D, 0);
	assert_int_equal(access_key(p, E, 0), 0);
	assert_int_equal(access_key(p, C, 0), 4);
	assert_int_equal(access_key(p, A, 0), 4);
	vmem_mrc_invalidate(p, E, 0);
	vmem_mrc_invalidate(p, E, 0);   /* absent now: nothing happens */
	assert_int_equal(access_key(p, B, 0), 4);
	assert_int_equal(access_key(p, C, 0), 3);
	assert_int_equal(access_key(p, D, 0), 0);

	assert_int_equal(vmem_mrc_lookups(p), 12);
	assert_int_equal(vmem_mrc_misses(p, 0), 12);
	assert_int_equal(vmem_mrc_misses(p, 1), 12);
	assert_int_equal(vmem_mrc_misses(p, 2), 12);
	assert_int_equal(vmem_mrc_misses(p, 3), 10);
	assert_int_equal(vmem_mrc_misses(p, 4), 6);
	assert_int_equal(vmem_mrc_misses(p, 9), 6);   /* beyond W: as W */

	/* Reset keeps the stack [D C B A]: B is at depth 3. */
	vmem_mrc_reset_counts(p);
	assert_int_equal(vmem_mrc_lookups(p), 0);
	assert_int_equal(access_key(p, B, 0), 3);
	assert_int_equal(vmem_mrc_misses(p, 2), 1);
	assert_int_equal(vmem_mrc_misses(p, 3), 0);
	vmem_mrc_destroy(p);
}

/*
 * Two sets, W = 2: even keys go to set 0, odd keys to set 1; contexts c1 = VMEM_CTX(1, 1)
 * and c2 = VMEM_CTX(2, 2); "k/c" is key k in context c.
 *    1 0/c1  miss      set 0 [0/1]
 *    2 1/c1  miss      set 1 [1/1]
 *    3 2/c1  miss      set 0 [2/1 0/1]
 *    4 0/c1  depth 2   set 0 [0/1 2/1]
 *    5 0/c2  miss      set 0 [0/2 0/1]        another context is another entry; 2/1 falls
 *                                             off (deeper than W)
 *    6 3/c2  miss      set 1 [3/2 1/1]
 *    7 1/c1  depth 2   set 1 [1/1 3/2]
 *    8 flush c1        set 0 [0/2 _], set 1 [_ 3/2]
 *    9 3/c2  depth 2   set 1 [3/2 _]         the hole is on top: nothing moves down
 *   10 2/c1  miss      set 0 [2/1 0/2]        the hole at 2 is consumed
 *   11 0/c2  depth 2   set 0 [0/2 2/1]
 *   12 4/c1  miss      set 0 [4/1 0/2]
 *   13 inv 0/c2        set 0 [4/1 _]
 *   14 0/c2  miss      set 0 [0/2 4/1]
 *   15 0/c2  depth 1
 *   16 flush all
 *   17 0/c2  miss
 * 14 lookups (every step but 8, 13 and 16); hits at depth 1: 1 (step 15), at depth 2: 4
 * (steps 4, 7, 9, 11). misses: w=1: 14 - 1 = 13, w=2: 14 - 5 = 9.
 * Step 9 for w = 1: set 1 held [1/1] after step 7; the flush empties it, so 3/c2 misses and
 * fills the free way. For w = 2: set 1 held {1/1, 3/2}, the flush leaves {3/2}: a hit.
 */
static void test_mrc_two_sets_context_flush(void **state)
{
	const uint32_t c1 = VMEM_CTX(1, 1), c2 = VMEM_CTX(2, 2);
	struct vmem_mrc *p = make(2, 2);

	(void)state;
	assert_int_equal(access_key(p, 0, c1), 0);
	assert_int_equal(access_key(p, 1, c1), 0);
	assert_int_equal(access_key(p, 2, c1), 0);
	assert_int_equal(access_key(p, 0, c1), 2);
	assert_int_equal(access_key(p, 0, c2), 0);
	assert_int_equal(access_key(p, 3, c2), 0);
	assert_int_equal(access_key(p, 1, c1), 2);
	vmem_mrc_flush_ctx(p, c1, VMEM_CTX_MASK_ALL);
	assert_int_equal(access_key(p, 3, c2), 2);
	assert_int_equal(access_key(p, 2, c1), 0);
	assert_int_equal(access_key(p, 0, c2), 2);
	assert_int_equal(access_key(p, 4, c1), 0);
	vmem_mrc_invalidate(p, 0, c2);
	assert_int_equal(access_key(p, 0, c2), 0);
	assert_int_equal(access_key(p, 0, c2), 1);
	vmem_mrc_flush_all(p);
	assert_int_equal(access_key(p, 0, c2), 0);

	assert_int_equal(vmem_mrc_lookups(p), 14);
	assert_int_equal(vmem_mrc_misses(p, 1), 13);
	assert_int_equal(vmem_mrc_misses(p, 2), 9);
	vmem_mrc_destroy(p);
}

/* A profiler attached to a cache follows it without changing what the cache does. */
static void test_mrc_attached_to_xcache(void **state)
{
	const struct vmem_cache_geom g = { .entries = 8, .ways = 2, .repl = VMEM_REPL_LRU };
	const struct vmem_cache_geom absent = { .entries = 0 };
	struct vmem_xcache *c = NULL, *none = NULL;
	struct vmem_mrc *p;
	uint64_t v;

	(void)state;
	assert_int_equal(vmem_xcache_create(&g, 1, &c), 0);
	assert_null(vmem_xcache_mrc(c));
	assert_int_equal(vmem_xcache_enable_mrc(c, 0), 0);
	p = vmem_xcache_mrc(c);
	assert_non_null(p);
	assert_int_equal(vmem_mrc_sets(p), 4);
	assert_int_equal(vmem_mrc_max_ways(p), 16);   /* 8 x 2 ways */
	/* Keys 0, 4, 8 share set 0: 8 evicts 0 from the 2-way cache, not from a 3-way one. */
	assert_false(vmem_xcache_lookup(c, 0, 0, &v));
	vmem_xcache_fill(c, 0, 0, 10);
	assert_false(vmem_xcache_lookup(c, 4, 0, &v));
	vmem_xcache_fill(c, 4, 0, 14);
	assert_false(vmem_xcache_lookup(c, 8, 0, &v));
	vmem_xcache_fill(c, 8, 0, 18);
	assert_false(vmem_xcache_lookup(c, 0, 0, &v));   /* depth 3 */
	vmem_xcache_fill(c, 0, 0, 10);
	assert_true(vmem_xcache_lookup(c, 0, 0, &v));    /* depth 1 */
	assert_int_equal(v, 10);
	vmem_xcache_invalidate(c, 0, 0);
	assert_false(vmem_xcache_lookup(c, 0, 0, &v));   /* miss everywhere */
	assert_int_equal(vmem_xcache_stats(c)->lookups, 6);
	assert_int_equal(vmem_xcache_stats(c)->hits, 1);
	assert_int_equal(vmem_mrc_lookups(p), 6);
	assert_int_equal(vmem_mrc_misses(p, 1), 5);
	assert_int_equal(vmem_mrc_misses(p, 2), 5);
	assert_int_equal(vmem_mrc_misses(p, 3), 4);
	/* Enabling again starts over. */
	assert_int_equal(vmem_xcache_enable_mrc(c, 3), 0);
	assert_int_equal(vmem_mrc_lookups(vmem_xcache_mrc(c)), 0);
	assert_int_equal(vmem_mrc_max_ways(vmem_xcache_mrc(c)), 3);
	vmem_xcache_destroy(c);

	assert_int_equal(vmem_xcache_create(&absent, 1, &none), 0);
	assert_int_equal(vmem_xcache_enable_mrc(none, 4), VMEM_EINVAL);
	vmem_xcache_destroy(none);
}

/*
 * The TLB counts one lookup per access and array. Default geometry (L1D 4K: 16 sets x 4,
 * L1D 2M: 8 x 4, STLB: 128 x 12), one context.
 *   1. va 0x5000 (4K page): L1D 4K miss, L1D 2M miss, L1D 1G miss, STLB miss with both
 *      keys (one STLB lookup), 1G STLB miss; the fill puts it in the STLB and L1D 4K.
 *   2. va 0x5008: an L1D 4K hit at depth 1 (it sets the L1 memo).
 *   3. va 0x5010: a memo hit, replayed as an L1D 4K lookup at depth 1.
 *   4. va 0x40000000 (a 2M page, filled first): L1D 4K miss, L1D 2M hit at depth 1.
 *   5. va 0x40000010: a memo hit: replayed as an L1D 4K miss and an L1D 2M depth-1 hit.
 * L1D 4K: 5 lookups, 3 misses at every size (steps 1, 4, 5). L1D 2M: 3 lookups (1, 4, 5),
 * 1 miss. L1D 1G: 1 lookup (step 1), a miss. STLB: 1 lookup, 1 miss; 1G STLB: 1 lookup,
 * 1 miss. The L1I 1G array is absent by default: no profiler.
 */
static void test_mrc_tlb_counts_per_access(void **state)
{
	struct vmem_tlb_config cfg;
	struct vmem_tlb *t = NULL;
	struct vmem_tlb_entry e = { .pa_base = 0x9000, .size = VMEM_PAGE_4K, .prot = 7 };
	struct vmem_tlb_entry big = { .pa_base = 0x200000, .size = VMEM_PAGE_2M, .prot = 7 };
	const struct vmem_mrc *l1d4k, *l1d2m, *l1d1g, *l2, *l2g;

	(void)state;
	vmem_tlb_config_default(&cfg);
	assert_int_equal(vmem_tlb_create(&cfg, &t), 0);
	assert_int_equal(vmem_tlb_enable_mrc(t, 0), 0);
	assert_null(vmem_tlb_mrc(t, VMEM_TLB_L1I_1G));
	l1d4k = vmem_tlb_mrc(t, VMEM_TLB_L1D_4K);
	l1d2m = vmem_tlb_mrc(t, VMEM_TLB_L1D_2M);
	l1d1g = vmem_tlb_mrc(t, VMEM_TLB_L1D_1G);
	l2 = vmem_tlb_mrc(t, VMEM_TLB_L2);
	l2g = vmem_tlb_mrc(t, VMEM_TLB_L2_1G);
	assert_int_equal(vmem_mrc_sets(l2), 128);
	assert_int_equal(vmem_mrc_max_ways(l2), 96);

	assert_int_equal(vmem_tlb_lookup(t, 0x5000, 0, false, NULL), VMEM_TLB_MISS);
	vmem_tlb_fill(t, 0x5000, 0, false, &e);
	assert_int_equal(vmem_tlb_lookup(t, 0x5008, 0, false, NULL), VMEM_TLB_HIT_L1);
	assert_int_equal(vmem_tlb_lookup(t, 0x5010, 0, false, NULL), VMEM_TLB_HIT_L1);
	vmem_tlb_fill(t, 0x40000000, 0, false, &big);
	assert_int_equal(vmem_tlb_lookup(t, 0x40000000, 0, false, NULL), VMEM_TLB_HIT_L1);
	assert_int_equal(vmem_tlb_lookup(t, 0x40000010, 0, false, NULL), VMEM_TLB_HIT_L1);

	assert_int_equal(vmem_mrc_lookups(l1d4k), 5);
	assert_int_equal(vmem_mrc_misses(l1d4k, 1), 3);
	assert_int_equal(vmem_mrc_misses(l1d4k, 32), 3);
	assert_int_equal(vmem_mrc_lookups(l1d2m), 3);
	assert_int_equal(vmem_mrc_misses(l1d2m, 1), 1);
	assert_int_equal(vmem_mrc_lookups(l1d1g), 1);
	assert_int_equal(vmem_mrc_misses(l1d1g, 1), 1);
	assert_int_equal(vmem_mrc_lookups(l2), 1);
	assert_int_equal(vmem_mrc_misses(l2, 12), 1);
	assert_int_equal(vmem_mrc_lookups(l2g), 1);
	assert_int_equal(vmem_mrc_misses(l2g, 4), 1);
	assert_int_equal(vmem_tlb_stats(t)->l1d_lookups, 5);
	assert_int_equal(vmem_tlb_stats(t)->l2_lookups, 1);
	vmem_tlb_destroy(t);
}

/* ---------------- differential: profiler vs real LRU caches ---------------- */

/* The stream generator (splitmix64; unrelated to the code under test). */
static uint64_t gen_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint32_t gen_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(gen_next(s) % n);
}

#define DIFF_MAX_W 16

/*
 * A random stream on `sets` sets: accesses (lookup, fill on a miss), plain fills,
 * invalidations, context flushes (by VPID or exact context) and full flushes; one key in
 * eight has bit 60 set, as the STLB tags a 2 MiB entry. Every cache
 * of w = 1..W ways gets the stream; the profiler rides on the cache of `host` ways (its
 * own misses and fills feed it). At checkpoints and at the end each cache's misses must
 * equal the curve at its w.
 */
static void diff_run(uint32_t sets, uint32_t W, uint32_t host, uint32_t keyspace, long ops,
		     uint64_t seed)
{
	struct vmem_xcache *c[DIFF_MAX_W + 1];
	uint64_t misses[DIFF_MAX_W + 1] = { 0 };
	uint64_t s = seed, lookups = 0;
	struct vmem_mrc *p;

	assert_true(W <= DIFF_MAX_W && host >= 1 && host <= W);
	for (uint32_t w = 1; w <= W; w++) {
		struct vmem_cache_geom g = { .entries = sets * w, .ways = w,
					     .repl = VMEM_REPL_LRU };

		c[w] = NULL;
		assert_int_equal(vmem_xcache_create(&g, 1, &c[w]), 0);
	}
	assert_int_equal(vmem_xcache_enable_mrc(c[host], W), 0);
	p = vmem_xcache_mrc(c[host]);
	for (long i = 0; i < ops; i++) {
		uint32_t op = gen_below(&s, 1000);
		uint64_t key = gen_below(&s, keyspace);
		uint32_t ctx = VMEM_CTX(gen_below(&s, 2), gen_below(&s, 2));
		uint64_t v;

		if (gen_below(&s, 8) == 0)
			key |= 1ull << 60;   /* a high bit, as the STLB's size tag */

		if (op < 800) {
			lookups++;
			for (uint32_t w = 1; w <= W; w++) {
				if (!vmem_xcache_lookup(c[w], key, ctx, &v)) {
					misses[w]++;
					vmem_xcache_fill(c[w], key, ctx, key);
				}
			}
		} else if (op < 880) {
			for (uint32_t w = 1; w <= W; w++)
				vmem_xcache_fill(c[w], key, ctx, key + 1);
		} else if (op < 990) {
			for (uint32_t w = 1; w <= W; w++)
				vmem_xcache_invalidate(c[w], key, ctx);
		} else if (op < 998) {
			uint32_t mask = (op & 1) ? VMEM_CTX_MASK_VPID : VMEM_CTX_MASK_ALL;

			for (uint32_t w = 1; w <= W; w++)
				vmem_xcache_flush_ctx(c[w], ctx, mask);
		} else {
			for (uint32_t w = 1; w <= W; w++)
				vmem_xcache_flush_all(c[w]);
		}
		if (i % 997 == 0 || i == ops - 1) {
			assert_int_equal(vmem_mrc_lookups(p), lookups);
			for (uint32_t w = 1; w <= W; w++) {
				if (vmem_mrc_misses(p, w) != misses[w])
					fail_msg("sets %u, seed %llu, op %ld: w=%u: curve %llu, cache "
						 "%llu", sets, (unsigned long long)seed, i, w,
						 (unsigned long long)vmem_mrc_misses(p, w),
						 (unsigned long long)misses[w]);
			}
		}
	}
	for (uint32_t w = 1; w <= W; w++)
		vmem_xcache_destroy(c[w]);
}

static void test_mrc_differential_random_streams(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		diff_run(1, 8, 1, 14, 20000, seed);
		diff_run(1, 12, 12, 20, 20000, seed + 100);
		diff_run(2, 6, 3, 16, 20000, seed + 200);
		diff_run(4, 10, 4, 60, 20000, seed + 300);
		diff_run(16, 5, 2, 120, 20000, seed + 400);
		diff_run(8, 16, 16, 150, 20000, seed + 500);
	}
}

/* ---------------- end to end: profiled machine vs machines of each size ---------------- */

#define E2E_RECORDS 200000

static size_t read_trace(const char *path, struct vmem_trace_rec **out)
{
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec *recs = malloc(E2E_RECORDS * sizeof(*recs));
	size_t n = 0;
	long got;

	assert_non_null(recs);
	vmem_trace_reader_opts_default(&o);
	if (vmem_trace_open(path, &o, &r))
		fail_msg("%s: %s", path, r ? vmem_trace_error(r) : "cannot open");
	while (n < E2E_RECORDS && (got = vmem_trace_read(r, recs + n, E2E_RECORDS - n)) > 0)
		n += (size_t)got;
	vmem_trace_close(r);
	assert_true(n > 0);
	*out = recs;
	return n;
}

static struct vmem_mmu *replay(const struct vmem_mmu_config *cfg, bool mrc,
			       const struct vmem_trace_rec *recs, size_t n)
{
	struct vmem_mmu *m = NULL;

	assert_int_equal(vmem_mmu_create(cfg, &m), 0);
	if (mrc)
		assert_int_equal(vmem_mmu_enable_mrc(m, 0), 0);
	for (size_t i = 0; i < n; i++)
		if (vmem_mmu_apply(m, &recs[i]))
			fail_msg("record %zu: %s", i, vmem_mmu_error(m));
	return m;
}

/*
 * The trace through one profiled machine (with one more configuration assignment, if
 * setting is not NULL), then through machines whose STLB has w ways
 * (128 sets, the default) and machines whose L1 data TLB for the page size `l1` has w ways
 * (its default sets): the STLB misses (tlb.l2.misses) and the L1D misses
 * (tlb.l1d.misses) of each must equal the curve at w. Guest and host map with the one
 * page size `page`, so every TLB entry has that size: only one L1D array and one STLB key
 * ever hit, and the L1D array of `page` sees every L1D access (the arrays of smaller
 * pages always miss).
 */
static void e2e_run(const char *path, enum vmem_mode mode, enum vmem_page_size page,
		    const char *setting, const uint32_t *l2_ways, const uint32_t *l1_ways)
{
	struct vmem_mmu_config cfg;
	struct vmem_trace_rec *recs;
	size_t n = read_trace(path, &recs);
	struct vmem_mmu *prof;
	const struct vmem_mrc *l2, *l1;
	uint32_t l1_sets;

	vmem_mmu_config_default(&cfg);
	cfg.mode = mode;
	cfg.guest_page = page;
	cfg.host_page = page;
	if (setting != NULL)
		assert_int_equal(vmem_mmu_config_assign(&cfg, setting, NULL, 0), 0);
	prof = replay(&cfg, true, recs, n);
	l2 = vmem_mmu_mrc(prof, VMEM_TLB_L2);
	l1 = vmem_mmu_mrc(prof, (enum vmem_tlb_array)(VMEM_TLB_L1D_4K + page));
	assert_non_null(l2);
	assert_non_null(l1);
	assert_int_equal(vmem_mrc_lookups(l2), vmem_mmu_stats(prof)->tlb_l2_lookups);
	assert_int_equal(vmem_mrc_lookups(l1), vmem_mmu_stats(prof)->tlb_l1d_lookups);
	l1_sets = vmem_mrc_sets(l1);
	for (const uint32_t *w = l2_ways; *w; w++) {
		struct vmem_mmu_config c = cfg;
		struct vmem_mmu *m;

		c.tlb.l2.entries = 128 * *w;
		c.tlb.l2.ways = *w;
		m = replay(&c, false, recs, n);
		if (vmem_mmu_stats(m)->tlb_l2_misses != vmem_mrc_misses(l2, *w))
			fail_msg("%s %s: STLB %u ways: machine %llu misses, curve %llu", path,
				 vmem_mode_name(mode), *w,
				 (unsigned long long)vmem_mmu_stats(m)->tlb_l2_misses,
				 (unsigned long long)vmem_mrc_misses(l2, *w));
		vmem_mmu_destroy(m);
	}
	for (const uint32_t *w = l1_ways; *w; w++) {
		struct vmem_mmu_config c = cfg;
		struct vmem_mmu *m;

		c.tlb.l1d[page].entries = l1_sets * *w;
		c.tlb.l1d[page].ways = *w;
		m = replay(&c, false, recs, n);
		if (vmem_mmu_stats(m)->tlb_l1d_misses != vmem_mrc_misses(l1, *w))
			fail_msg("%s %s: L1D %s %u ways: machine %llu misses, curve %llu", path,
				 vmem_mode_name(mode), vmem_page_size_name(page), *w,
				 (unsigned long long)vmem_mmu_stats(m)->tlb_l1d_misses,
				 (unsigned long long)vmem_mrc_misses(l1, *w));
		vmem_mmu_destroy(m);
	}
	vmem_mmu_destroy(prof);
	free(recs);
}

/*
 * Three processes with context switches, unmaps and protection changes (INVLPGs and
 * context flushes): with PCIDs; without them (every switch flushes the context); under
 * shadow paging with one shadow root per VM (each switch drops another process's root and
 * flushes its context).
 */
static void test_mrc_e2e_multiproc(void **state)
{
	static const char trace[] = "traces/synthetic/multiproc-3.vmt.zst";
	static const uint32_t l2w[] = { 1, 2, 3, 5, 8, 12, 16, 24, 0 };
	static const uint32_t l1w[] = { 1, 2, 3, 4, 6, 8, 0 };
	static const uint32_t few[] = { 1, 3, 12, 0 };

	(void)state;
	e2e_run(trace, VMEM_MODE_NATIVE, VMEM_PAGE_4K, NULL, l2w, l1w);
	e2e_run(trace, VMEM_MODE_SHADOW, VMEM_PAGE_4K, NULL, l2w, l1w);
	e2e_run(trace, VMEM_MODE_NATIVE, VMEM_PAGE_4K, "pcid=0", few, few);
	e2e_run(trace, VMEM_MODE_SHADOW, VMEM_PAGE_4K, "shadow.roots=1", few, few);
}

/* A Zipf footprint of 1 GiB with 4 KiB pages, and with 2 MiB pages under nested paging
 * (the STLB is probed with both keys, the L1D 2M array after the 4K one misses). */
static void test_mrc_e2e_zipf(void **state)
{
	static const uint32_t l2w[] = { 1, 2, 3, 12, 32, 0 };
	static const uint32_t l1w[] = { 1, 2, 4, 7, 0 };

	(void)state;
	e2e_run("traces/synthetic/zipf-1g.vmt.zst", VMEM_MODE_NATIVE, VMEM_PAGE_4K, NULL, l2w,
		l1w);
	e2e_run("traces/synthetic/zipf-1g.vmt.zst", VMEM_MODE_NESTED, VMEM_PAGE_2M, NULL, l2w,
		l1w);
}

/*
 * A warm-up: the counts restart after half the records, the stacks stay. The curve at the
 * configured geometry (STLB 128 x 12, L1D 4K 16 x 4) then counts exactly the misses the
 * machine has in the second half.
 */
static void test_mrc_reset_counts_after_warmup(void **state)
{
	struct vmem_mmu_config cfg;
	struct vmem_trace_rec *recs;
	size_t n = read_trace("traces/synthetic/multiproc-3.vmt.zst", &recs);
	struct vmem_mmu *m = NULL;
	struct vmem_mmu_stats before = { 0 };
	const struct vmem_mmu_stats *after;
	const struct vmem_mrc *l2, *l1;

	(void)state;
	vmem_mmu_config_default(&cfg);
	assert_int_equal(vmem_mmu_create(&cfg, &m), 0);
	assert_int_equal(vmem_mmu_enable_mrc(m, 0), 0);
	for (size_t i = 0; i < n; i++) {
		if (i == n / 2) {
			before = *vmem_mmu_stats(m);
			vmem_mmu_mrc_reset_counts(m);
		}
		assert_int_equal(vmem_mmu_apply(m, &recs[i]), 0);
	}
	after = vmem_mmu_stats(m);
	l2 = vmem_mmu_mrc(m, VMEM_TLB_L2);
	l1 = vmem_mmu_mrc(m, VMEM_TLB_L1D_4K);
	assert_int_equal(vmem_mrc_lookups(l2), after->tlb_l2_lookups - before.tlb_l2_lookups);
	assert_int_equal(vmem_mrc_misses(l2, 12), after->tlb_l2_misses - before.tlb_l2_misses);
	assert_int_equal(vmem_mrc_lookups(l1), after->tlb_l1d_lookups - before.tlb_l1d_lookups);
	assert_int_equal(vmem_mrc_misses(l1, 4), after->tlb_l1d_misses - before.tlb_l1d_misses);
	assert_true(vmem_mrc_misses(l2, 12) > 0);
	vmem_mmu_destroy(m);
	free(recs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mrc_create_rejects_bad_geometry),
		cmocka_unit_test(test_mrc_one_set_with_holes),
		cmocka_unit_test(test_mrc_two_sets_context_flush),
		cmocka_unit_test(test_mrc_attached_to_xcache),
		cmocka_unit_test(test_mrc_tlb_counts_per_access),
		cmocka_unit_test(test_mrc_differential_random_streams),
		cmocka_unit_test(test_mrc_e2e_multiproc),
		cmocka_unit_test(test_mrc_e2e_zipf),
		cmocka_unit_test(test_mrc_reset_counts_after_warmup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
