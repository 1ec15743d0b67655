/*
 * Unit tests of the paging-structure caches (libvmem/pwc.c): longest-prefix lookups,
 * contexts, flushes, 5-level tables, canonical addresses and statistics.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/pwc.h"

/* A 4-level address from its table indices and page offset. */
static uint64_t va4(uint64_t i4, uint64_t i3, uint64_t i2, uint64_t i1, uint64_t off)
{
	return (i4 << 39) | (i3 << 30) | (i2 << 21) | (i1 << 12) | off;
}

static struct vmem_pwc *make(unsigned levels)
{
	struct vmem_pwc_config cfg;
	struct vmem_pwc *p = NULL;

	vmem_pwc_config_default(&cfg);
	assert_int_equal(vmem_pwc_create(&cfg, levels, &p), 0);
	assert_non_null(p);
	return p;
}

enum {
	PDPT_PA = 0x1000000,   /* table the PML4E points to */
	PD_PA = 0x2000000,     /* table the PDPTE points to */
	PT_PA = 0x3000000,     /* table the PDE points to */
};

/* Caches the walk of va in ctx: PML4E -> PDPT, PDPTE -> PD, PDE -> PT. */
static void fill_walk(struct vmem_pwc *p, uint64_t va, uint32_t ctx)
{
	vmem_pwc_fill(p, va, ctx, 4, PDPT_PA);
	vmem_pwc_fill(p, va, ctx, 3, PD_PA);
	vmem_pwc_fill(p, va, ctx, 2, PT_PA);
}

static void expect(struct vmem_pwc *p, uint64_t va, uint32_t ctx, unsigned level,
		   uint64_t table)
{
	uint64_t t = 0;

	assert_int_equal(vmem_pwc_lookup(p, va, ctx, &t), level);
	if (level != 0)
		assert_int_equal(t, table);
}

static void test_pwc_default_config_values(void **state)
{
	struct vmem_pwc_config cfg;

	(void)state;
	vmem_pwc_config_default(&cfg);
	/* PDE 32 entries 4-way; PDPTE 4, PML4E 4, PML5E 2, fully associative (pwc.c). */
	assert_int_equal(cfg.level[2].entries, 32);
	assert_int_equal(cfg.level[2].ways, 4);
	assert_int_equal(cfg.level[3].entries, 4);
	assert_int_equal(cfg.level[3].ways, 0);
	assert_int_equal(cfg.level[4].entries, 4);
	assert_int_equal(cfg.level[4].ways, 0);
	assert_int_equal(cfg.level[5].entries, 2);
	assert_int_equal(cfg.level[5].ways, 0);
	for (unsigned l = 2; l <= 5; l++)
		assert_int_equal(cfg.level[l].repl, VMEM_REPL_LRU);
}

static void test_pwc_same_2m_region_starts_at_pt(void **state)
{
	struct vmem_pwc *p = make(4);

	(void)state;
	fill_walk(p, va4(0xfe, 1, 1, 0, 0), 0);
	/* Same 2 MiB region (other PTE index, offset): PDE-cache hit -> level 1, the PT. */
	expect(p, va4(0xfe, 1, 1, 0x1ff, 0xabc), 0, 1, PT_PA);
	vmem_pwc_destroy(p);
}

static void test_pwc_same_1g_other_2m_starts_at_pd(void **state)
{
	struct vmem_pwc *p = make(4);

	(void)state;
	fill_walk(p, va4(0xfe, 1, 1, 0, 0), 0);
	/* PD index 2 instead of 1: PDE miss, PDPTE hit -> level 2, the PD. */
	expect(p, va4(0xfe, 1, 2, 0, 0), 0, 2, PD_PA);
	vmem_pwc_destroy(p);
}

static void test_pwc_same_512g_other_1g_starts_at_pdpt(void **state)
{
	struct vmem_pwc *p = make(4);

	(void)state;
	fill_walk(p, va4(0xfe, 1, 1, 0, 0), 0);
	/* PDPT index 2 instead of 1: only the PML4E matches -> level 3, the PDPT. */
	expect(p, va4(0xfe, 2, 1, 0, 0), 0, 3, PDPT_PA);
	vmem_pwc_destroy(p);
}

static void test_pwc_other_512g_misses(void **state)
{
	struct vmem_pwc *p = make(4);
	const struct vmem_pwc_stats *st = vmem_pwc_stats(p);

	(void)state;
	fill_walk(p, va4(0xfe, 1, 1, 0, 0), 0);
	expect(p, va4(0xfd, 1, 1, 0, 0), 0, 0, 0);
	/* Hits at levels 2, 3, 4 and the miss: 4 lookups, one hit per level. */
	expect(p, va4(0xfe, 1, 1, 7, 0), 0, 1, PT_PA);
	expect(p, va4(0xfe, 1, 3, 0, 0), 0, 2, PD_PA);
	expect(p, va4(0xfe, 3, 1, 0, 0), 0, 3, PDPT_PA);
	assert_int_equal(st->lookups, 4);
	assert_int_equal(st->hits[2], 1);
	assert_int_equal(st->hits[3], 1);
	assert_int_equal(st->hits[4], 1);
	assert_int_equal(st->hits[5], 0);
	vmem_pwc_destroy(p);
}

static void test_pwc_other_ctx_misses(void **state)
{
	struct vmem_pwc *p = make(4);
	const uint64_t va = va4(0x10, 2, 3, 4, 0);

	(void)state;
	fill_walk(p, va, VMEM_CTX(1, 1));
	expect(p, va, VMEM_CTX(1, 1), 1, PT_PA);
	expect(p, va, VMEM_CTX(1, 2), 0, 0);
	expect(p, va, VMEM_CTX(2, 1), 0, 0);
	vmem_pwc_destroy(p);
}

static void test_pwc_flush_ctx_and_all_empty_the_levels(void **state)
{
	struct vmem_pwc *p = make(4);
	const uint64_t va = va4(0x10, 2, 3, 4, 0);

	(void)state;
	fill_walk(p, va, VMEM_CTX(1, 1));
	fill_walk(p, va, VMEM_CTX(1, 2));
	fill_walk(p, va, VMEM_CTX(2, 1));
	/* INVLPG / MOV to CR3 with PCIDs: the current PCID only. */
	vmem_pwc_flush_ctx(p, VMEM_CTX(1, 1), VMEM_CTX_MASK_ALL);
	expect(p, va, VMEM_CTX(1, 1), 0, 0);
	expect(p, va, VMEM_CTX(1, 2), 1, PT_PA);
	/* Whole VPID 1. */
	vmem_pwc_flush_ctx(p, VMEM_CTX(1, 0), VMEM_CTX_MASK_VPID);
	expect(p, va, VMEM_CTX(1, 2), 0, 0);
	expect(p, va, VMEM_CTX(2, 1), 1, PT_PA);
	vmem_pwc_flush_all(p);
	expect(p, va, VMEM_CTX(2, 1), 0, 0);
	vmem_pwc_destroy(p);
}

static void test_pwc_five_levels_pml5e_hit_returns_4(void **state)
{
	struct vmem_pwc *p = make(5);
	/* 57-bit address: PML5 index 0x1f in bits 56:48, the rest as va4. */
	const uint64_t va = (0x1full << 48) | va4(0xfe, 1, 1, 0, 0);
	const uint64_t other_pml4 = (0x1full << 48) | va4(0x11, 1, 1, 0, 0);
	const uint64_t other_pml5 = (0x1eull << 48) | va4(0xfe, 1, 1, 0, 0);

	(void)state;
	vmem_pwc_fill(p, va, 0, 5, 0x4000000);     /* PML5E -> PML4 table */
	fill_walk(p, va, 0);
	expect(p, va, 0, 1, PT_PA);
	expect(p, other_pml4, 0, 4, 0x4000000);
	expect(p, other_pml5, 0, 0, 0);
	assert_int_equal(vmem_pwc_stats(p)->hits[5], 1);
	vmem_pwc_destroy(p);
}

static void test_pwc_fill_level_out_of_range_is_ignored(void **state)
{
	struct vmem_pwc *p = make(4);
	const uint64_t va = va4(1, 1, 1, 1, 0);

	(void)state;
	/* Levels 0, 1 (PTEs are leaves) and 5 (not in a 4-level table) are ignored. */
	vmem_pwc_fill(p, va, 0, 0, 0x1000);
	vmem_pwc_fill(p, va, 0, 1, 0x1000);
	vmem_pwc_fill(p, va, 0, 5, 0x1000);
	vmem_pwc_fill(p, va, 0, 6, 0x1000);
	expect(p, va, 0, 0, 0);
	vmem_pwc_destroy(p);
}

static void test_pwc_canonical_high_bits_do_not_matter(void **state)
{
	struct vmem_pwc *p4 = make(4);
	struct vmem_pwc *p5 = make(5);

	(void)state;
	/*
	 * 4 levels: 0xffff800000200000 is canonical (bit 47 set, sign-extended). The key keeps
	 * bits 47:21 only, so it is the same as that of 0x0000800000200000.
	 */
	vmem_pwc_fill(p4, 0xffff800000200000, 0, 2, PT_PA);
	expect(p4, 0xffff8000003ff000, 0, 1, PT_PA);
	expect(p4, 0x0000800000200000, 0, 1, PT_PA);
	/* 5 levels: bits 56:21 are kept; 0xff00000000200000 is canonical for 57 bits. */
	vmem_pwc_fill(p5, 0xff00000000200000, 0, 2, PT_PA);
	expect(p5, 0xff00000000201000, 0, 1, PT_PA);
	expect(p5, 0x0100000000200000, 0, 1, PT_PA);
	/* Bit 56 is part of the 5-level key: clearing it is another address. */
	expect(p5, 0x0000000000200000, 0, 0, 0);
	vmem_pwc_destroy(p4);
	vmem_pwc_destroy(p5);
}

static void test_pwc_create_bad_levels_returns_einval(void **state)
{
	struct vmem_pwc_config cfg;
	struct vmem_pwc *p = NULL;

	(void)state;
	vmem_pwc_config_default(&cfg);
	assert_int_equal(vmem_pwc_create(&cfg, 3, &p), VMEM_EINVAL);
	assert_int_equal(vmem_pwc_create(&cfg, 6, &p), VMEM_EINVAL);
	assert_null(p);
	cfg.level[2].entries = 24;   /* 6 sets of 4 */
	assert_int_equal(vmem_pwc_create(&cfg, 4, &p), VMEM_EINVAL);
	/* An invalid level-5 geometry does not matter for a 4-level table. */
	vmem_pwc_config_default(&cfg);
	cfg.level[5].entries = 3;
	cfg.level[5].ways = 2;
	assert_int_equal(vmem_pwc_create(&cfg, 4, &p), 0);
	vmem_pwc_destroy(p);
	assert_int_equal(vmem_pwc_create(&cfg, 5, &p), VMEM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pwc_default_config_values),
		cmocka_unit_test(test_pwc_same_2m_region_starts_at_pt),
		cmocka_unit_test(test_pwc_same_1g_other_2m_starts_at_pd),
		cmocka_unit_test(test_pwc_same_512g_other_1g_starts_at_pdpt),
		cmocka_unit_test(test_pwc_other_512g_misses),
		cmocka_unit_test(test_pwc_other_ctx_misses),
		cmocka_unit_test(test_pwc_flush_ctx_and_all_empty_the_levels),
		cmocka_unit_test(test_pwc_five_levels_pml5e_hit_returns_4),
		cmocka_unit_test(test_pwc_fill_level_out_of_range_is_ignored),
		cmocka_unit_test(test_pwc_canonical_high_bits_do_not_matter),
		cmocka_unit_test(test_pwc_create_bad_levels_returns_einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
