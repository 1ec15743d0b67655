/*
 * Statistics of the translation machine across a warm-up (vmem_mmu_stats_reset) and the
 * statistic of completed walks (walk.completed, walk.refs_completed).
 *
 * Native 4-level paging, 4 KiB pages, default TLBs and walk caches. A = 0x7f0000201000.
 * The guest root exists when the address space is made; A's first touch therefore goes:
 *   walk 1: reads the PML4 entry for A (1 memory reference), not present -> guest fault;
 *           the guest maps A (data frame, PDPT, PD and PT pages);
 *   walk 2: the walk caches are empty, so PML4E, PDPTE, PDE, PTE: 4 references; it
 *           completes and fills the PML4E, PDPTE and PDE caches.
 * So walks = 2, walk.refs = 5, walk.completed = 1, walk.refs_completed = 4.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmem/mrc.h"

#include "mmu_testlib.h"

#define A 0x7f0000201000ull

static struct vmem_mmu *native_machine(enum vmem_mode mode)
{
	struct vmem_mmu_config c;

	mt_config(&c, mode, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	return mt_create(&c);
}

static void test_first_touch_counts_faulting_and_completed_walks(void **state)
{
	struct vmem_mmu *m = native_machine(VMEM_MODE_NATIVE);

	(void)state;
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "walks"), 2);
	assert_int_equal(mt_stat(m, "walk.refs"), 5);
	assert_int_equal(mt_stat(m, "walk.completed"), 1);
	assert_int_equal(mt_stat(m, "walk.refs_completed"), 4);
	assert_int_equal(mt_stat(m, "faults.guest"), 1);
	vmem_mmu_destroy(m);
}

/*
 * After the reset every counter starts from zero but the machine keeps its state: A's
 * next access hits the L1 DTLB (1 lookup, no miss, no walk). After emptying the TLBs
 * (the walk caches keep their entries) the next access walks from the cached PDE: the PT
 * entry is the only memory reference and 3 references are skipped (walk.refs_pwc), one
 * walk-cache lookup that hits.
 */
static void test_reset_restarts_counters_and_keeps_state(void **state)
{
	struct vmem_mmu *m = native_machine(VMEM_MODE_NATIVE);
	uint64_t tables;

	(void)state;
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	tables = mt_stat(m, "pages.guest_tables");
	assert_int_equal(tables, 4);     /* root, PDPT, PD, PT */
	vmem_mmu_stats_reset(m);
	assert_int_equal(mt_stat(m, "records"), 0);
	assert_int_equal(mt_stat(m, "walks"), 0);
	assert_int_equal(mt_stat(m, "tlb.l1d.lookups"), 0);
	assert_int_equal(mt_stat(m, "pwc.lookups"), 0);
	assert_int_equal(mt_stat(m, "cycles.total"), 0);
	/* Gauges are not counters: the tables are still there. */
	assert_int_equal(mt_stat(m, "pages.guest_tables"), tables);

	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "accesses"), 1);
	assert_int_equal(mt_stat(m, "tlb.l1.hits"), 1);
	assert_int_equal(mt_stat(m, "tlb.l1d.lookups"), 1);
	assert_int_equal(mt_stat(m, "tlb.l1d.misses"), 0);
	assert_int_equal(mt_stat(m, "walks"), 0);
	assert_int_equal(mt_stat(m, "faults.guest"), 0);

	vmem_mmu_flush_tlb(m);
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "tlb.l1d.lookups"), 2);
	assert_int_equal(mt_stat(m, "tlb.l1d.misses"), 1);
	assert_int_equal(mt_stat(m, "tlb.l2.lookups"), 1);
	assert_int_equal(mt_stat(m, "tlb.l2.misses"), 1);
	assert_int_equal(mt_stat(m, "walks"), 1);
	assert_int_equal(mt_stat(m, "walk.refs"), 1);
	assert_int_equal(mt_stat(m, "walk.refs_pwc"), 3);
	assert_int_equal(mt_stat(m, "walk.completed"), 1);
	assert_int_equal(mt_stat(m, "walk.refs_completed"), 1);
	assert_int_equal(mt_stat(m, "pwc.lookups"), 1);
	assert_int_equal(mt_stat(m, "pwc.hits"), 1);
	vmem_mmu_destroy(m);
}

/*
 * A kept copy of the statistics reads the same by name as the machine did when it was
 * taken, whatever the machine does afterwards.
 */
static void test_kept_statistics_read_by_name(void **state)
{
	struct vmem_mmu *m = native_machine(VMEM_MODE_NESTED);
	struct vmem_mmu_stats cold;
	double v;

	(void)state;
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	cold = *vmem_mmu_stats(m);
	vmem_mmu_stats_reset(m);
	mt_touch(m, 0, 1, A + 0x1000, VMEM_ACC_LOAD);
	assert_int_equal(vmem_mmu_stats_value(&cold, "accesses", &v), 0);
	assert_true(v == 1.0);
	assert_int_equal(vmem_mmu_stats_value(&cold, "walk.completed", &v), 0);
	assert_true(v == 1.0);
	/* The nested TLB's counters restart too. */
	assert_int_equal(vmem_mmu_stats_value(&cold, "ntlb.lookups", &v), 0);
	assert_true(v > 0);
	assert_int_equal(mt_stat(m, "accesses"), 1);
	assert_int_equal(vmem_mmu_stats_value(&cold, "no.such.stat", &v), VMEM_ENOENT);
	vmem_mmu_destroy(m);
}

/* Every statistic and miss-ratio-curve column has a one-line description (docs/STATS.md). */
static void test_every_statistic_and_curve_column_is_described(void **state)
{
	const char *const *names = vmem_mmu_stat_names();
	char *header = NULL, expect[512] = "";
	size_t len = 0;
	FILE *f;

	(void)state;
	for (size_t i = 0; names[i]; i++) {
		const char *h = vmem_mmu_stat_help(names[i]);

		if (!h || !*h || strchr(h, '\n'))
			fail_msg("statistic %s: no one-line description", names[i]);
	}
	assert_null(vmem_mmu_stat_help("no.such.statistic"));
	for (const char *const *c = vmem_mrc_csv_columns(); *c; c++) {
		const char *h = vmem_mrc_csv_column_help(*c);

		if (!h || !*h || strchr(h, '\n'))
			fail_msg("curve column %s: no one-line description", *c);
		strcat(expect, expect[0] ? "," : "");
		strcat(expect, *c);
	}
	assert_null(vmem_mrc_csv_column_help("no_such_column"));
	/* The header the curve CSV gets is that list of columns. */
	strcat(expect, "\n");
	f = open_memstream(&header, &len);
	assert_non_null(f);
	assert_int_equal(vmem_mrc_csv_header(f), 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(header, expect);
	free(header);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_touch_counts_faulting_and_completed_walks),
		cmocka_unit_test(test_reset_restarts_counters_and_keeps_state),
		cmocka_unit_test(test_kept_statistics_read_by_name),
		cmocka_unit_test(test_every_statistic_and_curve_column_is_described),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
