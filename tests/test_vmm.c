/*
 * vmem-vmm's parts that stand alone (vmm/): the page-table builder, the guest's memory
 * pattern, the probe and KVM's binary statistics on a real VM.
 *
 * Facts the expected values rest on:
 *  - An x86-64 4-level walk indexes the PML4 with bits 47..39, the PDPT with 38..30, the PD
 *    with 29..21 and the PT with 20..12 (Intel SDM vol. 3A, 4.5). 0x40201000 is PML4 index
 *    0, PDPT index 1 (1 GiB), PD index 1 (2 MiB), PT index 1 (4 KiB).
 *  - Every entry the builder writes has P|RW|US (0x7); a 2 MiB leaf also PS (0x80).
 *  - Mapping 4 KiB pages of one 2 MiB-aligned range of 4 MiB takes a PDPT, a PD and 2 PTs
 *    after the PML4: 5 table pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <cmocka.h>

#include "../vmm/kvm_stats.h"
#include "../vmm/kvm_vm.h"
#include "../vmm/page_tables.h"
#include "../vmm/pattern.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)

static uint8_t area[64 * 4096] __attribute__((aligned(4096)));

/* The entry a walk of gva reads at `level` (4 = PML4 .. 1 = PT), or 0 if it stops before. */
static uint64_t entry_at(const struct vmm_page_tables *pt, uint64_t gva, int level)
{
	uint64_t t = pt->pml4;

	for (int l = 4; l >= level; l--) {
		uint64_t e = ((const uint64_t *)(pt->hva + (t - pt->gpa)))[(gva >> (12 + 9 * (l - 1))) & 511];

		if (l == level)
			return e;
		if (!(e & 1) || (e & 0x80))
			return 0;
		t = e & 0x000ffffffffff000ull;
	}
	return 0;
}

static void test_page_tables_4k_maps_every_page_user_writable(void **state)
{
	struct vmm_page_tables pt;

	(void)state;
	assert_int_equal(vmm_page_tables_init(&pt, area, 0x100000, sizeof(area)), 0);
	assert_int_equal(vmm_page_tables_map(&pt, 0x40000000, 0x40000000, 4 * MiB, false), 0);
	/* PML4 + PDPT + PD + 2 PTs */
	assert_int_equal(pt.used, 5 * 4096);
	for (int level = 4; level >= 2; level--)
		assert_int_equal(entry_at(&pt, 0x40201000, level) & 0xfff, 0x7);
	assert_int_equal(entry_at(&pt, 0x40201000, 1), 0x40201000 | 0x7);
	assert_int_equal(entry_at(&pt, 0x403ff000, 1), 0x403ff000 | 0x7);
	/* Outside the range: nothing mapped. */
	assert_int_equal(entry_at(&pt, 0x40400000, 2), 0);
}

static void test_page_tables_2m_leaves_have_ps(void **state)
{
	struct vmm_page_tables pt;

	(void)state;
	assert_int_equal(vmm_page_tables_init(&pt, area, 0x100000, sizeof(area)), 0);
	assert_int_equal(vmm_page_tables_map(&pt, 0x40000000, 0x80000000, 4 * MiB, true), 0);
	/* PML4 + PDPT + PD: no PT */
	assert_int_equal(pt.used, 3 * 4096);
	assert_int_equal(entry_at(&pt, 0x40200000, 2), 0x80200000 | 0x80 | 0x7);
}

static void test_page_tables_refuse_unaligned_overlap_and_full(void **state)
{
	struct vmm_page_tables pt;

	(void)state;
	assert_int_equal(vmm_page_tables_init(&pt, area, 0x100000, sizeof(area)), 0);
	assert_int_equal(vmm_page_tables_map(&pt, 0x1000, 0x1000, 0x800, false), -1);
	assert_int_equal(vmm_page_tables_map(&pt, 0x1000, 0x1000, 2 * MiB, true), -1);
	assert_int_equal(vmm_page_tables_map(&pt, 0, 0, 2 * MiB, true), 0);
	/* A 4 KiB page under the 2 MiB leaf, and the same leaf twice. */
	assert_int_equal(vmm_page_tables_map(&pt, 0x1000, 0x1000, 4096, false), -1);
	assert_int_equal(vmm_page_tables_map(&pt, 0, 0, 2 * MiB, true), -1);
	/* 64 pages of area: 4 KiB leaves of 200 MiB need 100 PTs. */
	assert_int_equal(vmm_page_tables_map(&pt, 1ull << 32, 1ull << 32, 200 * MiB, false), -1);
	assert_true(vmm_page_tables_pages_for(200 * MiB) >= 100 + 2);
}

static void test_pattern_depends_on_page_and_generation(void **state)
{
	(void)state;
	assert_int_not_equal(vmm_page_seed(1, 0, 0), vmm_page_seed(2, 0, 0));
	assert_int_not_equal(vmm_page_seed(1, 0, 0), vmm_page_seed(1, 1, 0));
	/* Shared pages (multiples of dup_every) hold one content whatever page or generation. */
	assert_int_equal(vmm_page_seed(4, 0, 4), vmm_page_seed(8, 3, 4));
	assert_int_not_equal(vmm_page_seed(5, 0, 4), vmm_page_seed(4, 0, 4));
	assert_int_not_equal(vmm_pattern_word(vmm_page_seed(1, 0, 0), 0),
			     vmm_pattern_word(vmm_page_seed(1, 0, 0), 1));
	/* The window: pass 1 starts at 0, pass p at (p - 1) * step mod pages. */
	assert_int_equal(vmm_window_start(1, 3, 10), 0);
	assert_int_equal(vmm_window_start(5, 3, 10), 2);
}

static bool kvm_usable(const char *test)
{
	char err[256];

	if (vmm_kvm_probe(err, sizeof(err)) == 0)
		return true;
	printf("SKIP: %s: no usable /dev/kvm (%s)\n", test, err);
	return false;
}

static void test_kvm_stats_read_from_descriptors(void **state)
{
	struct vmm_kvm_stats vm, cpu;
	struct vmm_kvm k;
	struct vmm_vcpu v;
	char err[256];

	(void)state;
	if (!kvm_usable("test_kvm_stats_read_from_descriptors"))
		skip();
	assert_int_equal(vmm_kvm_open(&k, err, sizeof(err)), 0);
	assert_int_equal(vmm_vcpu_create(&k, 0, &v, err, sizeof(err)), 0);
	if (vmm_kvm_stats_open(&vm, k.vm_fd, err, sizeof(err)) < 0 ||
	    vmm_kvm_stats_open(&cpu, v.fd, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(vmm_kvm_stats_read(&vm, err, sizeof(err)), 0);
	assert_int_equal(vmm_kvm_stats_read(&cpu, err, sizeof(err)), 0);
	assert_true(vm.count > 0 && cpu.count > 0);
	assert_non_null(strstr(vm.id, "kvm-"));
	/* Every x86 VM has these (arch/x86/kvm/x86.c, kvm_vm_stats_desc and
	 * kvm_vcpu_stats_desc); nothing ran yet, so no exit and no fixed fault. */
	assert_non_null(vmm_kvm_stats_find(&vm, "pages_4k"));
	assert_non_null(vmm_kvm_stats_find(&cpu, "exits"));
	assert_int_equal(vmm_kvm_stats_find(&cpu, "pf_fixed")->value, 0);
	assert_null(vmm_kvm_stats_find(&cpu, "no_such_statistic"));
	assert_string_equal(vmm_kvm_stat_type(vmm_kvm_stats_find(&cpu, "exits")->flags),
			    "cumulative");
	vmm_kvm_stats_close(&vm);
	vmm_kvm_stats_close(&cpu);
	vmm_vcpu_close(&v);
	vmm_kvm_close(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_tables_4k_maps_every_page_user_writable),
		cmocka_unit_test(test_page_tables_2m_leaves_have_ps),
		cmocka_unit_test(test_page_tables_refuse_unaligned_overlap_and_full),
		cmocka_unit_test(test_pattern_depends_on_page_and_generation),
		cmocka_unit_test(test_kvm_stats_read_from_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
