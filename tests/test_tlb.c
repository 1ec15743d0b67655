/*
 * Unit tests of the TLB hierarchy (libvmem/tlb.c): default geometry, L1 and STLB hits and
 * refills, page sizes, instruction fetches, INVLPG, context flushes and VPID isolation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/tlb.h"

static struct vmem_tlb *make(const struct vmem_tlb_config *cfg)
{
	struct vmem_tlb_config def;
	struct vmem_tlb *t = NULL;

	if (cfg == NULL) {
		vmem_tlb_config_default(&def);
		cfg = &def;
	}
	assert_int_equal(vmem_tlb_create(cfg, &t), 0);
	assert_non_null(t);
	return t;
}

static void fill(struct vmem_tlb *t, uint64_t va, uint32_t ctx, bool ifetch, uint64_t pa,
		 enum vmem_page_size size, uint8_t prot)
{
	struct vmem_tlb_entry e = { .pa_base = pa, .size = size, .prot = prot };

	vmem_tlb_fill(t, va, ctx, ifetch, &e);
}

/* Looks va up, expecting level `want`; on a hit also the entry (pa, size). */
static void expect(struct vmem_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
		   enum vmem_tlb_hit want, uint64_t pa, enum vmem_page_size size)
{
	struct vmem_tlb_entry e = { 0 };

	assert_int_equal(vmem_tlb_lookup(t, va, ctx, ifetch, &e), want);
	if (want != VMEM_TLB_MISS) {
		assert_int_equal(e.pa_base, pa);
		assert_int_equal(e.size, size);
	}
}

static void geom_is(const struct vmem_cache_geom *g, uint32_t entries, uint32_t ways)
{
	assert_int_equal(g->entries, entries);
	assert_int_equal(g->ways, ways);
	assert_int_equal(g->repl, VMEM_REPL_LRU);
}

static void test_tlb_default_config_is_skylake(void **state)
{
	struct vmem_tlb_config cfg;
	struct vmem_tlb *t;

	(void)state;
	vmem_tlb_config_default(&cfg);
	/* Optimization Reference Manual, Skylake TLB table (cited in tlb.c). */
	geom_is(&cfg.l1d[VMEM_PAGE_4K], 64, 4);
	geom_is(&cfg.l1d[VMEM_PAGE_2M], 32, 4);
	geom_is(&cfg.l1d[VMEM_PAGE_1G], 4, 4);
	geom_is(&cfg.l1i[VMEM_PAGE_4K], 128, 8);
	geom_is(&cfg.l1i[VMEM_PAGE_2M], 8, 0);
	geom_is(&cfg.l1i[VMEM_PAGE_1G], 0, 0);
	geom_is(&cfg.l2, 1536, 12);     /* 1536 / 12 = 128 sets */
	geom_is(&cfg.l2_1g, 16, 4);
	/* Every default array is a valid geometry. */
	assert_int_equal(vmem_tlb_create(&cfg, &t), 0);
	vmem_tlb_destroy(t);
}

static void test_tlb_fill_4k_then_lookup_hits_l1(void **state)
{
	struct vmem_tlb *t = make(NULL);
	const uint32_t ctx = VMEM_CTX(1, 0);
	struct vmem_tlb_entry e = { 0 };
	const struct vmem_tlb_stats *st = vmem_tlb_stats(t);

	(void)state;
	fill(t, 0x7f1234567000, ctx, false, 0x12345000, VMEM_PAGE_4K,
	     VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_USER);
	/* Any offset in the page. */
	assert_int_equal(vmem_tlb_lookup(t, 0x7f1234567abc, ctx, false, &e), VMEM_TLB_HIT_L1);
	assert_int_equal(e.pa_base, 0x12345000);
	assert_int_equal(e.size, VMEM_PAGE_4K);
	assert_int_equal(e.prot, VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_USER);
	/* The neighbouring pages are not mapped. */
	expect(t, 0x7f1234568000, ctx, false, VMEM_TLB_MISS, 0, 0);
	expect(t, 0x7f1234566fff, ctx, false, VMEM_TLB_MISS, 0, 0);
	/* 3 data lookups, 1 L1 hit; the 2 misses probed the STLB in vain. */
	assert_int_equal(st->l1d_lookups, 3);
	assert_int_equal(st->l1d_hits, 1);
	assert_int_equal(st->l2_lookups, 2);
	assert_int_equal(st->l2_hits, 0);
	assert_int_equal(st->l1i_lookups, 0);
	/* A NULL entry pointer is allowed. */
	assert_int_equal(vmem_tlb_lookup(t, 0x7f1234567000, ctx, false, NULL), VMEM_TLB_HIT_L1);
	vmem_tlb_destroy(t);
}

static void test_tlb_l1_set_conflict_then_hits_l2_and_refills(void **state)
{
	struct vmem_tlb *t = make(NULL);
	const struct vmem_tlb_stats *st = vmem_tlb_stats(t);

	(void)state;
	/*
	 * L1 DTLB 4K: 64 entries / 4 ways = 16 sets, set = vpn & 15. Pages vpn = 0x100 + 16 i
	 * (i = 0..4) all map to set 0. In the STLB (128 sets, set = vpn & 127) they map to
	 * sets 0, 16, 32, 48, 64: no conflict there.
	 * Fills i = 0..3 take the 4 ways; fill 4 evicts the LRU page, i = 0.
	 */
	for (uint64_t i = 0; i < 5; i++)
		fill(t, (0x100 + 16 * i) << 12, 0, false, 0x1000000 + (i << 12), VMEM_PAGE_4K,
		     VMEM_PROT_READ);
	/* Page 0: L1 miss at every size, STLB hit; refill into L1 set 0 evicts i = 1 (LRU). */
	expect(t, 0x100ull << 12, 0, false, VMEM_TLB_HIT_L2, 0x1000000, VMEM_PAGE_4K);
	expect(t, 0x100ull << 12, 0, false, VMEM_TLB_HIT_L1, 0x1000000, VMEM_PAGE_4K);
	expect(t, 0x110ull << 12, 0, false, VMEM_TLB_HIT_L2, 0x1001000, VMEM_PAGE_4K);
	/* Pages 3 and 4 were the most recent before the refills: still in L1. */
	expect(t, 0x130ull << 12, 0, false, VMEM_TLB_HIT_L1, 0x1003000, VMEM_PAGE_4K);
	expect(t, 0x140ull << 12, 0, false, VMEM_TLB_HIT_L1, 0x1004000, VMEM_PAGE_4K);
	/* 5 data lookups: 3 L1 hits, 2 STLB lookups, both hits. */
	assert_int_equal(st->l1d_lookups, 5);
	assert_int_equal(st->l1d_hits, 3);
	assert_int_equal(st->l2_lookups, 2);
	assert_int_equal(st->l2_hits, 2);
	vmem_tlb_destroy(t);
}

static void test_tlb_fill_2m_covers_whole_region(void **state)
{
	struct vmem_tlb *t = make(NULL);
	const uint64_t base = 0x40a00000;    /* 2 MiB aligned: 0x205 * 2 MiB */

	(void)state;
	fill(t, base + 0x12345, 0, false, 0x80000000, VMEM_PAGE_2M, VMEM_PROT_READ);
	expect(t, base, 0, false, VMEM_TLB_HIT_L1, 0x80000000, VMEM_PAGE_2M);
	expect(t, base + 0x1000, 0, false, VMEM_TLB_HIT_L1, 0x80000000, VMEM_PAGE_2M);
	expect(t, base + 0x1fffff, 0, false, VMEM_TLB_HIT_L1, 0x80000000, VMEM_PAGE_2M);
	expect(t, base + 0x200000, 0, false, VMEM_TLB_MISS, 0, 0);
	expect(t, base - 1, 0, false, VMEM_TLB_MISS, 0, 0);
	vmem_tlb_destroy(t);
}

static void test_tlb_ifetch_uses_l1i_stlb_hit_refills_access_type_l1(void **state)
{
	struct vmem_tlb *t = make(NULL);
	const struct vmem_tlb_stats *st = vmem_tlb_stats(t);

	(void)state;
	fill(t, 0x400000, 0, true, 0x9000, VMEM_PAGE_4K, VMEM_PROT_READ | VMEM_PROT_EXEC);
	/* The fill went to the STLB and the L1 ITLB only. */
	expect(t, 0x400000, 0, true, VMEM_TLB_HIT_L1, 0x9000, VMEM_PAGE_4K);
	expect(t, 0x400000, 0, false, VMEM_TLB_HIT_L2, 0x9000, VMEM_PAGE_4K);
	/* The STLB hit refilled the L1 DTLB. */
	expect(t, 0x400000, 0, false, VMEM_TLB_HIT_L1, 0x9000, VMEM_PAGE_4K);
	assert_int_equal(st->l1i_lookups, 1);
	assert_int_equal(st->l1i_hits, 1);
	assert_int_equal(st->l1d_lookups, 2);
	assert_int_equal(st->l1d_hits, 1);
	assert_int_equal(st->l2_lookups, 1);
	assert_int_equal(st->l2_hits, 1);

	/* Conversely a data fill reaches the L1 ITLB only through an STLB hit. */
	fill(t, 0x800000, 0, false, 0xa000, VMEM_PAGE_4K, VMEM_PROT_READ);
	expect(t, 0x800000, 0, true, VMEM_TLB_HIT_L2, 0xa000, VMEM_PAGE_4K);
	expect(t, 0x800000, 0, true, VMEM_TLB_HIT_L1, 0xa000, VMEM_PAGE_4K);
	/* 3 instruction lookups, 2 L1 hits; the STLB saw 2 lookups, 2 hits. */
	assert_int_equal(st->l1i_lookups, 3);
	assert_int_equal(st->l1i_hits, 2);
	assert_int_equal(st->l2_lookups, 2);
	assert_int_equal(st->l2_hits, 2);
	vmem_tlb_destroy(t);
}

static void test_tlb_invlpg_removes_every_size_and_level(void **state)
{
	struct vmem_tlb *t = make(NULL);
	const uint32_t c1 = VMEM_CTX(1, 1), c2 = VMEM_CTX(1, 2);
	const uint64_t va = 0x40201000;   /* 1 GiB page 1, 2 MiB page 0x201, 4 KiB page 0x40201 */

	(void)state;
	fill(t, va, c1, false, 0x5000, VMEM_PAGE_4K, VMEM_PROT_READ);
	fill(t, va, c1, true, 0x5000, VMEM_PAGE_4K, VMEM_PROT_READ | VMEM_PROT_EXEC);
	fill(t, va, c1, false, 0x600000, VMEM_PAGE_2M, VMEM_PROT_READ);
	fill(t, va, c1, false, 0x80000000, VMEM_PAGE_1G, VMEM_PROT_READ);
	fill(t, va, c2, false, 0x7000, VMEM_PAGE_4K, VMEM_PROT_READ);
	/* Before: the 4K entry wins (probed first) for data and instruction lookups. */
	expect(t, va, c1, false, VMEM_TLB_HIT_L1, 0x5000, VMEM_PAGE_4K);
	expect(t, va, c1, true, VMEM_TLB_HIT_L1, 0x5000, VMEM_PAGE_4K);
	vmem_tlb_invlpg(t, va, c1);
	/* 4K in L1D, L1I, STLB; 2M in L1D, STLB; 1G in L1D, 1G STLB: all gone. */
	expect(t, va, c1, false, VMEM_TLB_MISS, 0, 0);
	expect(t, va, c1, true, VMEM_TLB_MISS, 0, 0);
	/* The 2M and 1G pages that contained va are gone for their other addresses too. */
	expect(t, va + 0x1000, c1, false, VMEM_TLB_MISS, 0, 0);
	expect(t, va + 0x10000000, c1, false, VMEM_TLB_MISS, 0, 0);
	/* Another PCID is untouched. */
	expect(t, va, c2, false, VMEM_TLB_HIT_L1, 0x7000, VMEM_PAGE_4K);
	assert_int_equal(vmem_tlb_stats(t)->invlpgs, 1);
	vmem_tlb_destroy(t);
}

static void test_tlb_flush_ctx_vpid_mask_drops_all_pcids_of_vpid(void **state)
{
	struct vmem_tlb *t = make(NULL);

	(void)state;
	fill(t, 0x1000, VMEM_CTX(1, 0), false, 0xa000, VMEM_PAGE_4K, VMEM_PROT_READ);
	fill(t, 0x2000, VMEM_CTX(1, 3), true, 0xb000, VMEM_PAGE_4K, VMEM_PROT_EXEC);
	fill(t, 0x3000, VMEM_CTX(2, 0), false, 0xc000, VMEM_PAGE_4K, VMEM_PROT_READ);
	/* MOV to CR3 without PCIDs in VPID 1: every PCID of VPID 1 goes, VPID 2 stays. */
	vmem_tlb_flush_ctx(t, VMEM_CTX(1, 0), VMEM_CTX_MASK_VPID);
	expect(t, 0x1000, VMEM_CTX(1, 0), false, VMEM_TLB_MISS, 0, 0);
	expect(t, 0x2000, VMEM_CTX(1, 3), true, VMEM_TLB_MISS, 0, 0);
	expect(t, 0x3000, VMEM_CTX(2, 0), false, VMEM_TLB_HIT_L1, 0xc000, VMEM_PAGE_4K);
	/* VM entry without VPID: everything. */
	vmem_tlb_flush_all(t);
	expect(t, 0x3000, VMEM_CTX(2, 0), false, VMEM_TLB_MISS, 0, 0);
	assert_int_equal(vmem_tlb_stats(t)->flushes, 2);
	vmem_tlb_destroy(t);
}

static void test_tlb_vpid_same_va_isolated(void **state)
{
	struct vmem_tlb *t = make(NULL);
	const uint64_t va = 0x7fff0000;

	(void)state;
	fill(t, va, VMEM_CTX(1, 0), false, 0x111000, VMEM_PAGE_4K, VMEM_PROT_READ);
	fill(t, va, VMEM_CTX(2, 0), false, 0x222000, VMEM_PAGE_4K, VMEM_PROT_READ);
	expect(t, va, VMEM_CTX(1, 0), false, VMEM_TLB_HIT_L1, 0x111000, VMEM_PAGE_4K);
	expect(t, va, VMEM_CTX(2, 0), false, VMEM_TLB_HIT_L1, 0x222000, VMEM_PAGE_4K);
	expect(t, va, VMEM_CTX(3, 0), false, VMEM_TLB_MISS, 0, 0);
	vmem_tlb_destroy(t);
}

static void test_tlb_fill_1g_goes_to_l2_1g_only(void **state)
{
	struct vmem_tlb_config cfg;
	struct vmem_tlb *t;

	(void)state;
	/* No unified STLB and no L1D 1G array: a 1G fill can only live in l2_1g. */
	vmem_tlb_config_default(&cfg);
	cfg.l2.entries = 0;
	cfg.l1d[VMEM_PAGE_1G].entries = 0;
	t = make(&cfg);
	fill(t, 0xc0001234, 0, false, 0x40000000, VMEM_PAGE_1G, VMEM_PROT_READ);
	/* Every access to the 1G page hits the 1G STLB (nothing to refill at L1). */
	expect(t, 0xc0000000, 0, false, VMEM_TLB_HIT_L2, 0x40000000, VMEM_PAGE_1G);
	expect(t, 0xffffffff, 0, false, VMEM_TLB_HIT_L2, 0x40000000, VMEM_PAGE_1G);
	expect(t, 0x100000000, 0, false, VMEM_TLB_MISS, 0, 0);
	vmem_tlb_destroy(t);

	/* Conversely, without l2_1g (and the L1D 1G array) it is nowhere: not in l2. */
	vmem_tlb_config_default(&cfg);
	cfg.l2_1g.entries = 0;
	cfg.l1d[VMEM_PAGE_1G].entries = 0;
	t = make(&cfg);
	fill(t, 0xc0001234, 0, false, 0x40000000, VMEM_PAGE_1G, VMEM_PROT_READ);
	expect(t, 0xc0000000, 0, false, VMEM_TLB_MISS, 0, 0);
	vmem_tlb_destroy(t);

	/* Default: L1D has a 1G array, so the first lookup hits L1. */
	t = make(NULL);
	fill(t, 0xc0001234, 0, false, 0x40000000, VMEM_PAGE_1G, VMEM_PROT_READ);
	expect(t, 0xc0000000, 0, false, VMEM_TLB_HIT_L1, 0x40000000, VMEM_PAGE_1G);
	vmem_tlb_destroy(t);
}

static void test_tlb_ifetch_1g_without_l1i_array_hits_stlb(void **state)
{
	struct vmem_tlb *t = make(NULL);
	const struct vmem_tlb_stats *st = vmem_tlb_stats(t);

	(void)state;
	/* Skylake has no L1 ITLB for 1 GiB pages: such fetches always come from the STLB. */
	fill(t, 0x40000000, 0, true, 0x80000000, VMEM_PAGE_1G, VMEM_PROT_EXEC);
	expect(t, 0x40000000, 0, true, VMEM_TLB_HIT_L2, 0x80000000, VMEM_PAGE_1G);
	expect(t, 0x40001000, 0, true, VMEM_TLB_HIT_L2, 0x80000000, VMEM_PAGE_1G);
	assert_int_equal(st->l1i_lookups, 2);
	assert_int_equal(st->l1i_hits, 0);
	assert_int_equal(st->l2_hits, 2);
	vmem_tlb_destroy(t);
}

static void test_tlb_4k_and_2m_same_vpn_value_do_not_alias(void **state)
{
	struct vmem_tlb_config cfg;
	struct vmem_tlb *t;

	(void)state;
	/* No L1 arrays: everything is decided in the STLB. */
	vmem_tlb_config_default(&cfg);
	for (int s = 0; s < VMEM_PAGE_SIZES; s++)
		cfg.l1d[s].entries = 0;
	t = make(&cfg);
	/*
	 * 4K page 5 (va 0x5000) and 2M page 5 (va 0xa00000) have the same VPN value 5 and
	 * the same STLB set; the size bits of the key keep them apart.
	 */
	fill(t, 0x5000, 0, false, 0x11000, VMEM_PAGE_4K, VMEM_PROT_READ);
	expect(t, 0xa00000, 0, false, VMEM_TLB_MISS, 0, 0);
	fill(t, 0xa00000, 0, false, 0x400000, VMEM_PAGE_2M, VMEM_PROT_READ);
	expect(t, 0x5000, 0, false, VMEM_TLB_HIT_L2, 0x11000, VMEM_PAGE_4K);
	expect(t, 0xa01000, 0, false, VMEM_TLB_HIT_L2, 0x400000, VMEM_PAGE_2M);
	vmem_tlb_destroy(t);
}

static void test_tlb_create_bad_geometry_returns_einval(void **state)
{
	struct vmem_tlb_config cfg;
	struct vmem_tlb *t = NULL;

	(void)state;
	vmem_tlb_config_default(&cfg);
	cfg.l2.repl = VMEM_REPL_PLRU;   /* 12 ways: not a power of two */
	assert_int_equal(vmem_tlb_create(&cfg, &t), VMEM_EINVAL);
	assert_null(t);
	vmem_tlb_config_default(&cfg);
	cfg.l1d[VMEM_PAGE_4K].entries = 48;   /* 12 sets of 4 */
	assert_int_equal(vmem_tlb_create(&cfg, &t), VMEM_EINVAL);
	assert_int_equal(vmem_tlb_create(NULL, &t), VMEM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tlb_default_config_is_skylake),
		cmocka_unit_test(test_tlb_fill_4k_then_lookup_hits_l1),
		cmocka_unit_test(test_tlb_l1_set_conflict_then_hits_l2_and_refills),
		cmocka_unit_test(test_tlb_fill_2m_covers_whole_region),
		cmocka_unit_test(test_tlb_ifetch_uses_l1i_stlb_hit_refills_access_type_l1),
		cmocka_unit_test(test_tlb_invlpg_removes_every_size_and_level),
		cmocka_unit_test(test_tlb_flush_ctx_vpid_mask_drops_all_pcids_of_vpid),
		cmocka_unit_test(test_tlb_vpid_same_va_isolated),
		cmocka_unit_test(test_tlb_fill_1g_goes_to_l2_1g_only),
		cmocka_unit_test(test_tlb_ifetch_1g_without_l1i_array_hits_stlb),
		cmocka_unit_test(test_tlb_4k_and_2m_same_vpn_value_do_not_alias),
		cmocka_unit_test(test_tlb_create_bad_geometry_returns_einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
