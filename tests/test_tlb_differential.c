/*
 * Differential tests: seeded random operation sequences replayed on the library's
 * translation cache and TLB hierarchy and on the independent reference models of
 * tests/ref_tlb.c. Every operation must return the same result (hit level, value,
 * eviction flag, occupancy) and the final statistics must be identical.
 *
 * Keys, addresses and contexts come from small spaces so that set conflicts, evictions,
 * updates in place and invalidations of present entries are frequent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/tlb.h"
#include "ref_tlb.h"

/* The operation generator (splitmix64; unrelated to the generators under test). */
struct gen {
	uint64_t s;
};

static uint64_t gen_next(struct gen *g)
{
	uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in 0..n-1 (n small; the modulo bias is irrelevant here). */
static uint32_t gen_below(struct gen *g, uint32_t n)
{
	return (uint32_t)(gen_next(g) % n);
}

static void stats_equal(const struct vmem_xcache_stats *a, const struct vmem_xcache_stats *b)
{
	assert_int_equal(a->lookups, b->lookups);
	assert_int_equal(a->hits, b->hits);
	assert_int_equal(a->fills, b->fills);
	assert_int_equal(a->evictions, b->evictions);
	assert_int_equal(a->invalidations, b->invalidations);
}

/* ---------------- translation cache ---------------- */

static uint32_t random_ctx(struct gen *g)
{
	return VMEM_CTX(gen_below(g, 2), gen_below(g, 3));
}

static void xcache_run(const struct vmem_cache_geom *geom, uint64_t seed, uint32_t keyspace,
		       long ops, uint64_t opseed)
{
	struct vmem_xcache *c = NULL;
	struct ref_tlb_cache *r = ref_tlb_cache_new(geom, seed);
	struct gen g = { opseed };
	uint64_t evictions = 0;

	assert_int_equal(vmem_xcache_create(geom, seed, &c), 0);
	assert_non_null(r);
	/* Flushes are rarer for bigger caches, so that sets fill up between them. */
	const uint32_t flush_period = 32 * geom->entries + 64;

	for (long i = 0; i < ops; i++) {
		uint32_t op = gen_below(&g, 100);
		uint64_t key = gen_below(&g, keyspace);
		uint32_t ctx = random_ctx(&g);

		if (op < 48) {
			uint64_t va = 0xdead, vr = 0xbeef;
			bool ha = vmem_xcache_lookup(c, key, ctx, &va);
			bool hr = ref_tlb_cache_lookup(r, key, ctx, &vr);

			assert_int_equal(ha, hr);
			if (ha)
				assert_int_equal(va, vr);
		} else if (op < 96) {
			uint64_t val = gen_next(&g);
			bool ea = vmem_xcache_fill(c, key, ctx, val);

			assert_int_equal(ea, ref_tlb_cache_fill(r, key, ctx, val));
			evictions += ea;
		} else {
			vmem_xcache_invalidate(c, key, ctx);
			ref_tlb_cache_invalidate(r, key, ctx);
		}
		if (gen_below(&g, flush_period) == 0) {
			uint32_t mask = gen_below(&g, 2) ? VMEM_CTX_MASK_ALL : VMEM_CTX_MASK_VPID;

			vmem_xcache_flush_ctx(c, ctx, mask);
			ref_tlb_cache_flush_ctx(r, ctx, mask);
		}
		if (gen_below(&g, 8 * flush_period) == 0) {
			vmem_xcache_flush_all(c);
			ref_tlb_cache_flush_all(r);
		}
		if ((i & 1023) == 0)
			assert_int_equal(vmem_xcache_occupancy(c), ref_tlb_cache_occupancy(r));
	}
	assert_int_equal(vmem_xcache_occupancy(c), ref_tlb_cache_occupancy(r));
	stats_equal(vmem_xcache_stats(c), ref_tlb_cache_stats(r));
	/* The sequence must have exercised replacement (unless the cache is absent). */
	if (geom->entries != 0)
		assert_true(evictions > (uint64_t)ops / 100);
	vmem_xcache_destroy(c);
	ref_tlb_cache_free(r);
}

static void xcache_all_policies(uint32_t entries, uint32_t ways, uint32_t keyspace, long ops)
{
	static const enum vmem_repl policies[] = {
		VMEM_REPL_LRU, VMEM_REPL_PLRU, VMEM_REPL_RANDOM,
	};

	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
		struct vmem_cache_geom geom = { entries, ways, policies[p] };

		if (vmem_xcache_geom_check(&geom) != 0)
			continue;   /* PLRU with a non-power-of-two way count */
		xcache_run(&geom, 12345, keyspace, ops, 1 + p);
		xcache_run(&geom, 0, keyspace, ops / 4, 100 + p);
	}
}

static void test_xcache_diff_one_set_4way_matches_reference(void **state)
{
	(void)state;
	xcache_all_policies(4, 4, 12, 200000);
}

static void test_xcache_diff_multi_set_matches_reference(void **state)
{
	(void)state;
	xcache_all_policies(16, 4, 64, 200000);     /* 4 sets */
	xcache_all_policies(64, 8, 200, 100000);    /* 8 sets */
	xcache_all_policies(24, 6, 64, 100000);     /* 4 sets of 6 (no PLRU) */
	/* LRU sets of 8 to 15 ways keep fingerprints and a use order (xcache_internal.h) */
	xcache_all_policies(48, 12, 150, 100000);   /* 4 sets of 12 (no PLRU) */
	xcache_all_policies(60, 15, 180, 100000);   /* 4 sets of 15, the widest (no PLRU) */
	xcache_all_policies(16, 16, 40, 50000);     /* one set of 16: indexed */
	xcache_all_policies(2, 1, 8, 50000);        /* direct mapped */
}

static void test_xcache_diff_fully_assoc_matches_reference(void **state)
{
	(void)state;
	xcache_all_policies(8, 0, 24, 100000);
	xcache_all_policies(12, 0, 30, 100000);     /* no PLRU */
	xcache_all_policies(128, 0, 300, 50000);    /* PLRU tree over two words */
	xcache_all_policies(0, 0, 8, 10000);        /* absent */
}

/* ---------------- TLB hierarchy ---------------- */

/*
 * Addresses: 2 x 1 GiB regions, 3 x 2 MiB regions in each, 24 x 4 KiB pages in each, at
 * a random offset. ctx: VPID 0..1, PCID 0..1.
 */
static uint64_t random_va(struct gen *g)
{
	uint64_t gib = gen_below(g, 2), mib = gen_below(g, 3), page = gen_below(g, 24);

	return (gib << 30) | (mib << 21) | (page << 12) | gen_below(g, 4096);
}

static void random_entry(struct gen *g, struct vmem_tlb_entry *e)
{
	uint32_t r = gen_below(g, 10);

	e->size = r < 6 ? VMEM_PAGE_4K : r < 9 ? VMEM_PAGE_2M : VMEM_PAGE_1G;
	/* A page-aligned frame somewhere below 2^46, varying per fill. */
	e->pa_base = ((gen_next(g) & ((1ull << 46) - 1)) >> vmem_page_shift(e->size))
		     << vmem_page_shift(e->size);
	e->prot = (uint8_t)gen_below(g, 16);
}

static void tlb_run(const struct vmem_tlb_config *cfg, long ops, uint64_t opseed)
{
	struct vmem_tlb *t = NULL;
	struct ref_tlb *r = ref_tlb_new(cfg);
	struct gen g = { opseed };
	uint64_t l2_hits = 0, l1_hits = 0;

	assert_int_equal(vmem_tlb_create(cfg, &t), 0);
	assert_non_null(r);
	for (long i = 0; i < ops; i++) {
		uint32_t op = gen_below(&g, 1000);
		uint64_t va = random_va(&g);
		uint32_t ctx = VMEM_CTX(gen_below(&g, 2), gen_below(&g, 2));
		bool ifetch = gen_below(&g, 4) == 0;
		struct vmem_tlb_entry e;

		if (op < 700) {
			/* An access: look up; on a miss, walk (fill) most of the time. */
			struct vmem_tlb_entry ea = { 1, 1, 1 }, er = { 2, 2, 2 };
			enum vmem_tlb_hit ha = vmem_tlb_lookup(t, va, ctx, ifetch, &ea);
			enum vmem_tlb_hit hr = ref_tlb_lookup(r, va, ctx, ifetch, &er);

			assert_int_equal(ha, hr);
			if (ha != VMEM_TLB_MISS) {
				assert_int_equal(ea.pa_base, er.pa_base);
				assert_int_equal(ea.size, er.size);
				assert_int_equal(ea.prot, er.prot);
			}
			l1_hits += ha == VMEM_TLB_HIT_L1;
			l2_hits += ha == VMEM_TLB_HIT_L2;
			if (ha == VMEM_TLB_MISS && gen_below(&g, 5) != 0) {
				random_entry(&g, &e);
				vmem_tlb_fill(t, va, ctx, ifetch, &e);
				ref_tlb_fill(r, va, ctx, ifetch, &e);
			}
		} else if (op < 950) {
			/* A fill out of the blue (e.g. a remapping at another size). */
			random_entry(&g, &e);
			vmem_tlb_fill(t, va, ctx, ifetch, &e);
			ref_tlb_fill(r, va, ctx, ifetch, &e);
		} else if (op < 990) {
			vmem_tlb_invlpg(t, va, ctx);
			ref_tlb_invlpg(r, va, ctx);
		} else if (op < 998) {
			uint32_t mask = gen_below(&g, 2) ? VMEM_CTX_MASK_ALL : VMEM_CTX_MASK_VPID;

			vmem_tlb_flush_ctx(t, ctx, mask);
			ref_tlb_flush_ctx(r, ctx, mask);
		} else {
			vmem_tlb_flush_all(t);
			ref_tlb_flush_all(r);
		}
	}
	{
		const struct vmem_tlb_stats *a = vmem_tlb_stats(t), *b = ref_tlb_stats(r);

		assert_int_equal(a->l1d_lookups, b->l1d_lookups);
		assert_int_equal(a->l1d_hits, b->l1d_hits);
		assert_int_equal(a->l1i_lookups, b->l1i_lookups);
		assert_int_equal(a->l1i_hits, b->l1i_hits);
		assert_int_equal(a->l2_lookups, b->l2_lookups);
		assert_int_equal(a->l2_hits, b->l2_hits);
		assert_int_equal(a->flushes, b->flushes);
		assert_int_equal(a->invlpgs, b->invlpgs);
	}
	/* Both levels must have been exercised. */
	assert_true(l1_hits > (uint64_t)ops / 100);
	assert_true(l2_hits > (uint64_t)ops / 100);
	vmem_tlb_destroy(t);
	ref_tlb_free(r);
}

static void set_all(struct vmem_tlb_config *cfg, enum vmem_repl repl)
{
	for (int s = 0; s < VMEM_PAGE_SIZES; s++) {
		cfg->l1d[s].repl = repl;
		cfg->l1i[s].repl = repl;
	}
	cfg->l2.repl = repl;
	cfg->l2_1g.repl = repl;
}

/* Tiny arrays: one set each at L1, so every few fills evict. */
static void tiny_config(struct vmem_tlb_config *cfg, enum vmem_repl repl)
{
	static const struct vmem_tlb_config tiny = {
		.l1d = { { 4, 4, 0 }, { 2, 2, 0 }, { 2, 0, 0 } },
		.l1i = { { 4, 0, 0 }, { 2, 0, 0 }, { 0, 0, 0 } },
		.l2 = { 16, 4, 0 },
		.l2_1g = { 2, 2, 0 },
		.seed = 7,
	};

	*cfg = tiny;
	set_all(cfg, repl);
}

/* Several sets everywhere; the STLB has 8 ways and 4 sets. */
static void multiset_config(struct vmem_tlb_config *cfg, enum vmem_repl repl)
{
	static const struct vmem_tlb_config multi = {
		.l1d = { { 16, 4, 0 }, { 8, 2, 0 }, { 4, 2, 0 } },
		.l1i = { { 16, 8, 0 }, { 4, 0, 0 }, { 0, 0, 0 } },
		.l2 = { 32, 8, 0 },
		.l2_1g = { 4, 2, 0 },
		.seed = 99,
	};

	*cfg = multi;
	set_all(cfg, repl);
}

static void test_tlb_diff_tiny_lru_plru_random_match_reference(void **state)
{
	struct vmem_tlb_config cfg;

	(void)state;
	tiny_config(&cfg, VMEM_REPL_LRU);
	tlb_run(&cfg, 300000, 1);
	tiny_config(&cfg, VMEM_REPL_PLRU);
	tlb_run(&cfg, 300000, 2);
	tiny_config(&cfg, VMEM_REPL_RANDOM);
	tlb_run(&cfg, 300000, 3);
}

static void test_tlb_diff_multiset_lru_plru_random_match_reference(void **state)
{
	struct vmem_tlb_config cfg;

	(void)state;
	multiset_config(&cfg, VMEM_REPL_LRU);
	tlb_run(&cfg, 300000, 4);
	multiset_config(&cfg, VMEM_REPL_PLRU);
	tlb_run(&cfg, 300000, 5);
	multiset_config(&cfg, VMEM_REPL_RANDOM);
	tlb_run(&cfg, 300000, 6);
}

static void test_tlb_diff_skylake_shape_12way_stlb_matches_reference(void **state)
{
	struct vmem_tlb_config cfg;

	(void)state;
	/* Skylake's shapes scaled down: 12-way STLB (LRU, RANDOM), absent L1I 1G array. */
	vmem_tlb_config_default(&cfg);
	cfg.l1d[VMEM_PAGE_4K].entries = 16;
	cfg.l1d[VMEM_PAGE_2M].entries = 8;
	cfg.l1i[VMEM_PAGE_4K].entries = 16;
	cfg.l2.entries = 48;            /* 4 sets of 12 */
	cfg.l2_1g.entries = 4;
	tlb_run(&cfg, 200000, 7);
	set_all(&cfg, VMEM_REPL_RANDOM);
	tlb_run(&cfg, 200000, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xcache_diff_one_set_4way_matches_reference),
		cmocka_unit_test(test_xcache_diff_multi_set_matches_reference),
		cmocka_unit_test(test_xcache_diff_fully_assoc_matches_reference),
		cmocka_unit_test(test_tlb_diff_tiny_lru_plru_random_match_reference),
		cmocka_unit_test(test_tlb_diff_multiset_lru_plru_random_match_reference),
		cmocka_unit_test(test_tlb_diff_skylake_shape_12way_stlb_matches_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
