/*
 * Unit tests of the set-associative translation cache (libvmem/xcache.c): replacement
 * sequences for LRU, tree-PLRU and RANDOM on one 4-way set, set indexing, contexts and
 * flushes, geometry errors, absent caches and statistics; a large fully associative LRU
 * cache against a plain model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/xcache.h"

static struct vmem_xcache *make(uint32_t entries, uint32_t ways, enum vmem_repl repl,
				uint64_t seed)
{
	struct vmem_cache_geom g = { .entries = entries, .ways = ways, .repl = repl };
	struct vmem_xcache *c = NULL;

	assert_int_equal(vmem_xcache_create(&g, seed, &c), 0);
	assert_non_null(c);
	return c;
}

static bool hit(struct vmem_xcache *c, uint64_t key, uint32_t ctx)
{
	uint64_t v;

	return vmem_xcache_lookup(c, key, ctx, &v);
}

/* Asserts that key is present with value expect. */
static void expect_val(struct vmem_xcache *c, uint64_t key, uint32_t ctx, uint64_t expect)
{
	uint64_t v = 0;

	assert_true(vmem_xcache_lookup(c, key, ctx, &v));
	assert_int_equal(v, expect);
}

static void test_xcache_lru_one_set_evicts_least_recent(void **state)
{
	struct vmem_xcache *c = make(4, 4, VMEM_REPL_LRU, 1);
	const struct vmem_xcache_stats *st = vmem_xcache_stats(c);

	(void)state;
	/* Keys 1..4 fill the invalid ways 0..3: no eviction. Recency (old -> new): 1 2 3 4. */
	for (uint64_t k = 1; k <= 4; k++)
		assert_false(vmem_xcache_fill(c, k, 0, 100 + k));
	assert_int_equal(vmem_xcache_occupancy(c), 4);
	/* Hit on 1: recency 2 3 4 1. */
	expect_val(c, 1, 0, 101);
	/* Fill 5: set full, LRU victim is 2. Recency 3 4 1 5. */
	assert_true(vmem_xcache_fill(c, 5, 0, 105));
	assert_false(hit(c, 2, 0));      /* a miss leaves the recency order alone */
	/* Hit on 3: recency 4 1 5 3. Fill 6 evicts 4: recency 1 5 3 6. */
	expect_val(c, 3, 0, 103);
	assert_true(vmem_xcache_fill(c, 6, 0, 106));
	assert_false(hit(c, 4, 0));
	/* Hit on 1: recency 5 3 6 1. Fill 2 evicts 5: recency 3 6 1 2. */
	expect_val(c, 1, 0, 101);
	assert_true(vmem_xcache_fill(c, 2, 0, 202));
	assert_false(hit(c, 5, 0));
	/* Residents: 3 6 1 2. */
	expect_val(c, 3, 0, 103);
	expect_val(c, 6, 0, 106);
	expect_val(c, 1, 0, 101);
	expect_val(c, 2, 0, 202);
	assert_int_equal(vmem_xcache_occupancy(c), 4);
	/*
	 * lookups: 1, 2(miss), 3, 4(miss), 1, 5(miss), then 3 6 1 2 = 10; hits: 10 - 3 = 7.
	 * fills: 4 + 3 = 7; evictions: 3 (keys 2, 4, 5).
	 */
	assert_int_equal(st->lookups, 10);
	assert_int_equal(st->hits, 7);
	assert_int_equal(st->fills, 7);
	assert_int_equal(st->evictions, 3);
	assert_int_equal(st->invalidations, 0);
	vmem_xcache_destroy(c);
}

static void test_xcache_plru_sequence_evicts_tree_victims(void **state)
{
	struct vmem_xcache *c = make(4, 4, VMEM_REPL_PLRU, 1);

	(void)state;
	/*
	 * Tree of a 4-way set: node 1 (root) over ways {0,1} | {2,3}, node 2 over 0 | 1,
	 * node 3 over 2 | 3. Bit 0 = victim side is the left (lower) half, 1 = the right.
	 * A use points every node on its path away from the used way. Bits b1 b2 b3:
	 * start 0 0 0; fill 10 -> way 0: b1=1 b2=1; fill 11 -> way 1: b1=1 b2=0;
	 * fill 12 -> way 2: b1=0 b3=1; fill 13 -> way 3: b1=0 b3=0. Now 0 0 0.
	 */
	for (uint64_t k = 10; k <= 13; k++)
		assert_false(vmem_xcache_fill(c, k, 0, k));
	/* Hit 10 (way 0) -> 1 1 0. */
	assert_true(hit(c, 10, 0));
	/*
	 * Fill 14: root 1 -> node 3, b3 0 -> way 2, evicts 12 (true LRU would evict 11, the
	 * least recent of 11 12 13 10). Use way 2 -> 0 1 1.
	 */
	assert_true(vmem_xcache_fill(c, 14, 0, 14));
	assert_false(hit(c, 12, 0));
	/* Fill 15: root 0 -> node 2, b2 1 -> way 1, evicts 11. Use way 1 -> 1 0 1. */
	assert_true(vmem_xcache_fill(c, 15, 0, 15));
	assert_false(hit(c, 11, 0));
	/* Hit 13 (way 3) -> b1=0 b3=0 -> 0 0 0. */
	assert_true(hit(c, 13, 0));
	/* Fill 16: root 0 -> node 2, b2 0 -> way 0, evicts 10. Use way 0 -> 1 1 0. */
	assert_true(vmem_xcache_fill(c, 16, 0, 16));
	assert_false(hit(c, 10, 0));
	/*
	 * Ways now: 0:16 1:15 2:14 3:13. Invalidate 15 (way 1); the tree (1 1 0) would pick
	 * way 2 (14), but fill 17 takes the invalid way 1 without evicting.
	 * Use of way 1: b1=1 b2=0 -> 1 0 0.
	 */
	vmem_xcache_invalidate(c, 15, 0);
	assert_false(vmem_xcache_fill(c, 17, 0, 17));
	assert_true(hit(c, 14, 0));      /* way 2: b1=0 b3=1 -> 0 0 1 */
	/* Fill 18: root 0 -> node 2, b2 0 -> way 0, evicts 16. */
	assert_true(vmem_xcache_fill(c, 18, 0, 18));
	assert_false(hit(c, 16, 0));
	assert_true(hit(c, 17, 0));
	assert_true(hit(c, 13, 0));
	assert_true(hit(c, 18, 0));
	assert_int_equal(vmem_xcache_stats(c)->evictions, 4);   /* 12, 11, 10, 16 */
	vmem_xcache_destroy(c);
}

/*
 * RANDOM, 4 ways, seed 1. The generator (see libvmem/xcache.c) from x = 1:
 *   draw 1: x = 0x2000001,          r = 0x47e4ce4b896cdd1d
 *   draw 2: x = 0x4004000802801,    r = 0xabcfa6a8e079651d
 *   draw 3: x = 0xd004003202803,    r = 0xb9d10d8feb731f57
 *   draw 4: x = 0x200340a005480e81, r = 0x4db418a0bb1b019d
 *   draw 5: x = 0x081fd0210eb25e00, r = 0x0e6199b04d5aa600
 *   draw 6: x = 0xb00614a0466023ed, r = 0xc8674bcb42e3aad9
 * victim = ((r >> 32) * 4) >> 32 = the top two bits of r: 1, 2, 2, 1, 0, 3.
 */
static void random_script(struct vmem_xcache *c)
{
	/* 20..23 take the invalid ways 0..3: no draw. */
	for (uint64_t k = 20; k <= 23; k++)
		assert_false(vmem_xcache_fill(c, k, 0, k));
	/* Draws 1..4: ways 1, 2, 2, 1. */
	assert_true(vmem_xcache_fill(c, 24, 0, 24));    /* way 1: evicts 21 -> 20 24 22 23 */
	assert_true(vmem_xcache_fill(c, 25, 0, 25));    /* way 2: evicts 22 -> 20 24 25 23 */
	assert_true(vmem_xcache_fill(c, 26, 0, 26));    /* way 2: evicts 25 -> 20 24 26 23 */
	assert_true(vmem_xcache_fill(c, 27, 0, 27));    /* way 1: evicts 24 -> 20 27 26 23 */
	assert_false(hit(c, 21, 0));
	assert_false(hit(c, 22, 0));
	assert_false(hit(c, 25, 0));
	assert_false(hit(c, 24, 0));
	assert_true(hit(c, 20, 0));
	assert_true(hit(c, 27, 0));
	assert_true(hit(c, 26, 0));
	assert_true(hit(c, 23, 0));
	/*
	 * Invalid way first, and no draw for it: after removing 20 (way 0), 28 takes way 0
	 * without evicting. The next evicting fill uses draw 5 (way 0) and evicts 28; had the
	 * fill of 28 consumed a draw, 29 would use draw 6 (way 3) and evict 23 instead.
	 */
	vmem_xcache_invalidate(c, 20, 0);
	assert_false(vmem_xcache_fill(c, 28, 0, 28));
	assert_true(vmem_xcache_fill(c, 29, 0, 29));
	assert_false(hit(c, 28, 0));
	assert_true(hit(c, 23, 0));
	assert_true(hit(c, 27, 0));
	assert_true(hit(c, 26, 0));
	assert_true(hit(c, 29, 0));
}

static void test_xcache_random_seed1_evicts_reproducible_ways(void **state)
{
	struct vmem_xcache *a = make(4, 4, VMEM_REPL_RANDOM, 1);
	struct vmem_xcache *b = make(4, 4, VMEM_REPL_RANDOM, 1);

	(void)state;
	/* The same seed and the same operations give the same victims, twice. */
	random_script(a);
	random_script(b);
	assert_int_equal(vmem_xcache_stats(a)->evictions, 5);
	assert_int_equal(vmem_xcache_stats(b)->evictions, 5);
	vmem_xcache_destroy(a);
	vmem_xcache_destroy(b);
}

static void test_xcache_random_seed0_uses_fixed_substitute(void **state)
{
	struct vmem_xcache *a = make(4, 4, VMEM_REPL_RANDOM, 0);
	struct vmem_xcache *b = make(4, 4, VMEM_REPL_RANDOM, 0x9E3779B97F4A7C15ull);

	(void)state;
	/* Seed 0 (no valid xorshift state) is replaced by 0x9E3779B97F4A7C15. */
	for (uint64_t k = 0; k < 64; k++) {
		assert_int_equal(vmem_xcache_fill(a, k, 0, k), vmem_xcache_fill(b, k, 0, k));
		for (uint64_t j = 0; j <= k; j++)
			assert_int_equal(hit(a, j, 0), hit(b, j, 0));
	}
	vmem_xcache_destroy(a);
	vmem_xcache_destroy(b);
}

static void test_xcache_sets_distinct_index_bits_never_conflict(void **state)
{
	/* 16 entries, 4 ways -> 4 sets, set = key & 3. */
	struct vmem_xcache *c = make(16, 4, VMEM_REPL_LRU, 1);

	(void)state;
	/* Keys 0..15: set k & 3 gets exactly 4 keys; 16 fills, no eviction. */
	for (uint64_t k = 0; k < 16; k++)
		assert_false(vmem_xcache_fill(c, k, 0, k));
	assert_int_equal(vmem_xcache_occupancy(c), 16);
	for (uint64_t k = 0; k < 16; k++)
		expect_val(c, k, 0, k);
	/*
	 * Key 16 maps to set 0 (16 & 3 = 0), holding 0 4 8 12, all hit once in that order:
	 * LRU is 0. Only set 0 loses an entry.
	 */
	assert_true(vmem_xcache_fill(c, 16, 0, 16));
	assert_false(hit(c, 0, 0));
	for (uint64_t k = 1; k <= 16; k++)
		assert_true(hit(c, k, 0));
	vmem_xcache_destroy(c);
}

static void test_xcache_fully_assoc_ways0_equals_ways_entries(void **state)
{
	struct vmem_xcache *a = make(8, 0, VMEM_REPL_LRU, 1);
	struct vmem_xcache *b = make(8, 8, VMEM_REPL_LRU, 1);

	(void)state;
	/* One set of 8: keys 0..7 (any low bits) all fit; key 8 evicts the LRU key 0. */
	for (uint64_t k = 0; k < 8; k++) {
		assert_false(vmem_xcache_fill(a, k * 3, 0, k));
		assert_false(vmem_xcache_fill(b, k * 3, 0, k));
	}
	assert_true(vmem_xcache_fill(a, 100, 0, 1));
	assert_true(vmem_xcache_fill(b, 100, 0, 1));
	assert_false(hit(a, 0, 0));
	assert_false(hit(b, 0, 0));
	for (uint64_t k = 1; k < 8; k++) {
		assert_true(hit(a, k * 3, 0));
		assert_true(hit(b, k * 3, 0));
	}
	vmem_xcache_destroy(a);
	vmem_xcache_destroy(b);
}

static void test_xcache_ctx_same_key_other_ctx_misses(void **state)
{
	struct vmem_xcache *c = make(4, 4, VMEM_REPL_LRU, 1);
	uint32_t a = VMEM_CTX(1, 5), b = VMEM_CTX(2, 5), d = VMEM_CTX(1, 6);

	(void)state;
	assert_false(vmem_xcache_fill(c, 42, a, 1));
	assert_false(vmem_xcache_fill(c, 42, b, 2));    /* a second entry, not an update */
	assert_int_equal(vmem_xcache_occupancy(c), 2);
	expect_val(c, 42, a, 1);
	expect_val(c, 42, b, 2);
	assert_false(hit(c, 42, d));      /* same VPID, other PCID */
	assert_false(hit(c, 43, a));
	vmem_xcache_destroy(c);
}

static void test_xcache_fill_existing_updates_in_place(void **state)
{
	struct vmem_xcache *c = make(4, 4, VMEM_REPL_LRU, 1);
	const struct vmem_xcache_stats *st = vmem_xcache_stats(c);

	(void)state;
	for (uint64_t k = 1; k <= 4; k++)
		vmem_xcache_fill(c, k, 0, k);
	/* Recency 1 2 3 4. Refill 1 with a new value: no eviction, counts as a use: 2 3 4 1. */
	assert_false(vmem_xcache_fill(c, 1, 0, 99));
	assert_int_equal(vmem_xcache_occupancy(c), 4);
	/* Fill 5 evicts 2 (not 1, which the update made most recent). */
	assert_true(vmem_xcache_fill(c, 5, 0, 5));
	assert_false(hit(c, 2, 0));
	expect_val(c, 1, 0, 99);
	assert_int_equal(st->fills, 6);       /* 4 + update + 5 */
	assert_int_equal(st->evictions, 1);
	vmem_xcache_destroy(c);
}

static void test_xcache_flush_ctx_vpid_mask_vs_full_mask(void **state)
{
	struct vmem_xcache *c = make(8, 0, VMEM_REPL_LRU, 1);
	const struct vmem_xcache_stats *st = vmem_xcache_stats(c);

	(void)state;
	vmem_xcache_fill(c, 1, VMEM_CTX(1, 1), 1);
	vmem_xcache_fill(c, 2, VMEM_CTX(1, 2), 2);
	vmem_xcache_fill(c, 3, VMEM_CTX(2, 1), 3);
	vmem_xcache_fill(c, 4, VMEM_CTX(1, 1), 4);
	/* Full mask: exactly VPID 1 PCID 1 -> keys 1 and 4 go. */
	vmem_xcache_flush_ctx(c, VMEM_CTX(1, 1), VMEM_CTX_MASK_ALL);
	assert_int_equal(st->invalidations, 2);
	assert_false(hit(c, 1, VMEM_CTX(1, 1)));
	assert_false(hit(c, 4, VMEM_CTX(1, 1)));
	assert_true(hit(c, 2, VMEM_CTX(1, 2)));
	assert_true(hit(c, 3, VMEM_CTX(2, 1)));
	/* VPID mask: any PCID of VPID 1 (the PCID given is ignored) -> key 2 goes, 3 stays. */
	vmem_xcache_flush_ctx(c, VMEM_CTX(1, 7), VMEM_CTX_MASK_VPID);
	assert_int_equal(st->invalidations, 3);
	assert_false(hit(c, 2, VMEM_CTX(1, 2)));
	assert_true(hit(c, 3, VMEM_CTX(2, 1)));
	assert_int_equal(vmem_xcache_occupancy(c), 1);
	/* flush_all removes the last one. */
	vmem_xcache_flush_all(c);
	assert_int_equal(st->invalidations, 4);
	assert_int_equal(vmem_xcache_occupancy(c), 0);
	vmem_xcache_destroy(c);
}

static void test_xcache_invalidate_removes_only_that_entry(void **state)
{
	struct vmem_xcache *c = make(4, 4, VMEM_REPL_LRU, 1);
	const struct vmem_xcache_stats *st = vmem_xcache_stats(c);

	(void)state;
	vmem_xcache_fill(c, 7, VMEM_CTX(0, 1), 70);
	vmem_xcache_fill(c, 7, VMEM_CTX(0, 2), 71);
	vmem_xcache_fill(c, 8, VMEM_CTX(0, 1), 80);
	vmem_xcache_invalidate(c, 7, VMEM_CTX(0, 1));
	assert_int_equal(st->invalidations, 1);
	assert_false(hit(c, 7, VMEM_CTX(0, 1)));
	expect_val(c, 7, VMEM_CTX(0, 2), 71);
	expect_val(c, 8, VMEM_CTX(0, 1), 80);
	/* Absent entries: no-op, not counted. */
	vmem_xcache_invalidate(c, 7, VMEM_CTX(0, 1));
	vmem_xcache_invalidate(c, 9, VMEM_CTX(0, 1));
	assert_int_equal(st->invalidations, 1);
	assert_int_equal(vmem_xcache_occupancy(c), 2);
	vmem_xcache_destroy(c);
}

static void test_xcache_geom_invalid_returns_einval(void **state)
{
	static const struct vmem_cache_geom bad[] = {
		{ .entries = 24, .ways = 4, .repl = VMEM_REPL_LRU },     /* 6 sets */
		{ .entries = 4, .ways = 8, .repl = VMEM_REPL_LRU },      /* ways > entries */
		{ .entries = 10, .ways = 4, .repl = VMEM_REPL_LRU },     /* not a multiple */
		{ .entries = 12, .ways = 12, .repl = VMEM_REPL_PLRU },   /* PLRU, 12 ways */
		{ .entries = 12, .ways = 0, .repl = VMEM_REPL_PLRU },    /* same, fully assoc */
		{ .entries = 1536, .ways = 12, .repl = VMEM_REPL_PLRU }, /* same, 128 sets */
		{ .entries = 8, .ways = 4, .repl = (enum vmem_repl)7 },  /* unknown policy */
	};
	static const struct vmem_cache_geom good[] = {
		{ .entries = 1536, .ways = 12, .repl = VMEM_REPL_LRU },  /* 128 sets */
		{ .entries = 12, .ways = 0, .repl = VMEM_REPL_RANDOM },  /* 1 set of 12 */
		{ .entries = 0, .ways = 0, .repl = VMEM_REPL_LRU },      /* absent */
		{ .entries = 0, .ways = 4, .repl = VMEM_REPL_PLRU },     /* absent, ways ignored */
		{ .entries = 128, .ways = 128, .repl = VMEM_REPL_PLRU }, /* tree over 2 words */
		{ .entries = 1, .ways = 1, .repl = VMEM_REPL_PLRU },
	};

	static int sentinel;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Any non-NULL value, to see create reset it. */
		struct vmem_xcache *c = (struct vmem_xcache *)(void *)&sentinel;

		assert_int_equal(vmem_xcache_geom_check(&bad[i]), VMEM_EINVAL);
		assert_int_equal(vmem_xcache_create(&bad[i], 1, &c), VMEM_EINVAL);
		assert_null(c);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct vmem_xcache *c = NULL;

		assert_int_equal(vmem_xcache_geom_check(&good[i]), 0);
		assert_int_equal(vmem_xcache_create(&good[i], 1, &c), 0);
		vmem_xcache_destroy(c);
	}
	assert_int_equal(vmem_xcache_geom_check(NULL), VMEM_EINVAL);
}

static void test_xcache_absent_lookups_counted_fills_dropped(void **state)
{
	struct vmem_xcache *c = make(0, 0, VMEM_REPL_LRU, 1);
	const struct vmem_xcache_stats *st = vmem_xcache_stats(c);

	(void)state;
	assert_false(vmem_xcache_fill(c, 1, 0, 1));
	assert_false(hit(c, 1, 0));
	assert_false(hit(c, 2, 0));
	vmem_xcache_invalidate(c, 1, 0);
	vmem_xcache_flush_ctx(c, 0, VMEM_CTX_MASK_ALL);
	vmem_xcache_flush_all(c);
	assert_int_equal(vmem_xcache_occupancy(c), 0);
	/* 2 lookups counted, no hit; the dropped fill is not counted. */
	assert_int_equal(st->lookups, 2);
	assert_int_equal(st->hits, 0);
	assert_int_equal(st->fills, 0);
	assert_int_equal(st->evictions, 0);
	assert_int_equal(st->invalidations, 0);
	vmem_xcache_destroy(c);
}

static void test_xcache_plru_wide_tree_keeps_recent_ways(void **state)
{
	/* 128 ways: the tree has 127 nodes over two 64-bit words. */
	struct vmem_xcache *c = make(128, 0, VMEM_REPL_PLRU, 1);

	(void)state;
	for (uint64_t k = 0; k < 128; k++)
		assert_false(vmem_xcache_fill(c, k, 0, k));
	/*
	 * Fills went to ways 0..127 in order, so the last use under any node was its highest
	 * way, in its upper half: every bit is 0 and the victim would be way 0 (key 0).
	 * The hit on key 0 sets the 7 nodes on way 0's path to 1; the victim walk then goes
	 * right at the root (to ways 64..127) and left at every node below, which were not
	 * touched: way 64, holding key 64.
	 */
	assert_true(hit(c, 0, 0));
	assert_true(vmem_xcache_fill(c, 1000, 0, 1000));
	assert_false(hit(c, 64, 0));
	assert_true(hit(c, 0, 0));
	assert_true(hit(c, 63, 0));
	assert_true(hit(c, 65, 0));
	vmem_xcache_destroy(c);
}

static void test_xcache_repl_names_roundtrip(void **state)
{
	enum vmem_repl r;

	(void)state;
	assert_string_equal(vmem_repl_name(VMEM_REPL_LRU), "lru");
	assert_string_equal(vmem_repl_name(VMEM_REPL_PLRU), "plru");
	assert_string_equal(vmem_repl_name(VMEM_REPL_RANDOM), "random");
	assert_string_equal(vmem_repl_name((enum vmem_repl)9), "?");
	assert_int_equal(vmem_repl_parse("PLRU", &r), 0);
	assert_int_equal(r, VMEM_REPL_PLRU);
	assert_int_equal(vmem_repl_parse("random", &r), 0);
	assert_int_equal(r, VMEM_REPL_RANDOM);
	assert_int_equal(vmem_repl_parse("fifo", &r), VMEM_EINVAL);
}

/*
 * A large fully associative LRU cache (indexed in xcache.c) against a plain model: an
 * array of entries with last-use stamps, the victim the least recent. Random lookups,
 * fills, invalidations and context flushes over few enough keys that all of them hit,
 * miss and evict often.
 */
#define FA_WAYS 48
#define FA_KEYS 96

struct fa_model {
	uint64_t key[FA_WAYS], val[FA_WAYS], stamp[FA_WAYS], clock;
	uint32_t ctx[FA_WAYS];
	bool valid[FA_WAYS];
};

static int fa_model_find(const struct fa_model *m, uint64_t key, uint32_t ctx)
{
	for (int w = 0; w < FA_WAYS; w++)
		if (m->valid[w] && m->key[w] == key && m->ctx[w] == ctx)
			return w;
	return -1;
}

static void test_xcache_large_fully_assoc_lru_matches_model(void **state)
{
	struct vmem_xcache *c = make(FA_WAYS, 0, VMEM_REPL_LRU, 1);
	struct fa_model m = { 0 };
	uint64_t x = 12345, evictions = 0;

	(void)state;
	for (int step = 0; step < 200000; step++) {
		uint64_t key, v = 0, r;
		uint32_t ctx;
		int w;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = x;
		key = (r >> 8) % FA_KEYS;
		ctx = (uint32_t)((r >> 20) & 1) << 16 | (uint32_t)((r >> 21) & 1);
		w = fa_model_find(&m, key, ctx);
		switch (r % 16) {
		case 0:
			vmem_xcache_invalidate(c, key, ctx);
			if (w >= 0)
				m.valid[w] = false;
			break;
		case 1:
			if ((r >> 30) % 64 == 0) {
				vmem_xcache_flush_ctx(c, ctx, VMEM_CTX_MASK_VPID);
				for (int k = 0; k < FA_WAYS; k++)
					if ((m.ctx[k] & VMEM_CTX_MASK_VPID) == (ctx & VMEM_CTX_MASK_VPID))
						m.valid[k] = false;
			}
			break;
		case 2: case 3: case 4: case 5: case 6: {
			bool evicted = vmem_xcache_fill(c, key, ctx, r), evicts = false;

			if (w < 0) {
				w = -1;
				for (int k = 0; k < FA_WAYS && w < 0; k++)
					if (!m.valid[k])
						w = k;
				if (w < 0) {
					w = 0;
					for (int k = 1; k < FA_WAYS; k++)
						if (m.stamp[k] < m.stamp[w])
							w = k;
					evicts = true;
					evictions++;
				}
				m.key[w] = key;
				m.ctx[w] = ctx;
				m.valid[w] = true;
			}
			assert_int_equal(evicted, evicts);
			m.val[w] = r;
			m.stamp[w] = ++m.clock;
			break;
		}
		default:
			assert_int_equal(vmem_xcache_lookup(c, key, ctx, &v), w >= 0);
			if (w >= 0) {
				assert_int_equal(v, m.val[w]);
				m.stamp[w] = ++m.clock;
			}
			break;
		}
	}
	assert_int_equal(vmem_xcache_stats(c)->evictions, evictions);
	vmem_xcache_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xcache_lru_one_set_evicts_least_recent),
		cmocka_unit_test(test_xcache_plru_sequence_evicts_tree_victims),
		cmocka_unit_test(test_xcache_random_seed1_evicts_reproducible_ways),
		cmocka_unit_test(test_xcache_random_seed0_uses_fixed_substitute),
		cmocka_unit_test(test_xcache_sets_distinct_index_bits_never_conflict),
		cmocka_unit_test(test_xcache_fully_assoc_ways0_equals_ways_entries),
		cmocka_unit_test(test_xcache_ctx_same_key_other_ctx_misses),
		cmocka_unit_test(test_xcache_fill_existing_updates_in_place),
		cmocka_unit_test(test_xcache_flush_ctx_vpid_mask_vs_full_mask),
		cmocka_unit_test(test_xcache_invalidate_removes_only_that_entry),
		cmocka_unit_test(test_xcache_geom_invalid_returns_einval),
		cmocka_unit_test(test_xcache_absent_lookups_counted_fills_dropped),
		cmocka_unit_test(test_xcache_plru_wide_tree_keeps_recent_ways),
		cmocka_unit_test(test_xcache_repl_names_roundtrip),
		cmocka_unit_test(test_xcache_large_fully_assoc_lru_matches_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
