/*
 * Huge pages against overcommit (libvmem/host/thp.c) on a real translation machine
 * (nested paging, host.page=2m): a first touch in an untouched 2 MiB region takes a
 * 2 MiB host page, a merge inside it splits it, and the walks after the split are longer.
 *
 * Facts the expected values rest on:
 *  - host.mem 16 MiB = 4096 frames; the 2 MiB blocks come from never-used frames, aligned.
 *  - The guest maps its first page at guest-physical 0x1000 (frame 1: frame 0 is the root
 *    of its page table) and its table pages at frames 2, 3, 4, all in guest-physical
 *    region 0 (the first 2 MiB), so region 0 is touched once: one huge first touch.
 *  - With every cache off, a nested walk with 4-level guest and host tables makes
 *    (4 + 1) * (4 + 1) - 1 = 24 references when the host maps 4 KiB pages; a 2 MiB host
 *    page ends each of the five host walks one level early: 24 - 5 = 19.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "vmem/host.h"
#include "vmem/host_policy.h"

#include "mmu_testlib.h"

#define VA 0x7f0000001000ull

static void setup(struct vmem_mmu **m, struct vmem_host **h)
{
	struct vmem_mmu_config mc;
	struct vmem_host_config hc;
	char err[256];

	mt_config(&mc, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_2M);
	mt_no_caches(&mc);
	mt_set(&mc, "guest.mem", "16m");
	mt_set(&mc, "host.mem", "16m");
	*m = mt_create(&mc);
	vmem_host_config_default(&hc);
	assert_int_equal(vmem_host_config_set(&hc, "host.mem", "16m", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&hc, "swap", "none", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_create(&hc, h, err, sizeof(err)), 0);
	assert_int_equal(vmem_host_attach(*h, *m), 0);
}

static void check(struct vmem_host *h)
{
	char err[256];

	if (vmem_host_check(h, err, sizeof(err)))
		fail_msg("invariant: %s", err);
}

static void test_thp_first_touch_maps_2m_then_merge_splits(void **state)
{
	struct vmem_mmu *m;
	struct vmem_host *h;
	struct vmem_host_vm_stats s;
	struct vmem_host_page p1;
	struct vmem_walk w;
	enum vmem_page_size size;
	uint64_t hpa;

	(void)state;
	setup(&m, &h);
	mt_touch(m, 0, 1, VA, VMEM_ACC_STORE);
	check(h);
	vmem_host_vm_stats(h, 0, &s);
	/* One huge first touch: 512 pages resident at once, in one 2 MiB host page. */
	assert_int_equal(s.thp_faults, 1);
	assert_int_equal(s.thp_huge, 1);
	assert_int_equal(s.state[VMEM_PG_RESIDENT], 512);
	assert_int_equal(mt_gpa(m, 0, 1, VA), 0x1000);
	assert_int_equal(mt_host_lookup(m, 0, 0x1000, &hpa, &size), 0);
	assert_int_equal(size, VMEM_PAGE_2M);
	/* No caches: 19 references (each host walk ends at its 2 MiB leaf). */
	mt_translate(m, 0, 1, VA, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.nrefs, 19);

	/* Two pages of the region with one content: the merge splits the 2 MiB page. */
	vmem_host_set_content(h, 0, 1, 0x5eed, false, 7);
	vmem_host_set_content(h, 0, 7, 0x5eed, false, 7);
	assert_int_equal(vmem_host_page(h, 0, 7, &p1), 0);
	assert_int_equal(vmem_host_merge(h, 0, 1, p1.frame), 0);
	check(h);
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.thp_huge, 0);
	assert_int_equal(s.thp_splits, 1);
	assert_int_equal(s.thp_split_by[1], 1);   /* dedup */
	assert_int_equal(s.state[VMEM_PG_SHARED], 2);
	assert_int_equal(s.state[VMEM_PG_RESIDENT], 510);
	/* The machine maps the region 4 KiB at a time again: the walk is 24 references,
	 * and the data page, now shared, is read through a 4 KiB host page. */
	mt_translate(m, 0, 1, VA, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.nrefs, 24);
	assert_int_equal(mt_host_lookup(m, 0, 0x1000, &hpa, &size), 0);
	assert_int_equal(size, VMEM_PAGE_4K);
	vmem_host_destroy(h);
	vmem_mmu_destroy(m);
}

static void test_thp_collapse_restores_the_2m_page(void **state)
{
	struct vmem_mmu *m;
	struct vmem_host *h;
	struct vmem_host_vm_stats s;
	struct vmem_host_page p;
	struct vmem_host_fault_result r;

	(void)state;
	setup(&m, &h);
	mt_touch(m, 0, 1, VA, VMEM_ACC_STORE);
	vmem_host_set_content(h, 0, 1, 0x5eed, false, 7);
	vmem_host_set_content(h, 0, 7, 0x5eed, false, 7);
	vmem_host_page(h, 0, 7, &p);
	vmem_host_merge(h, 0, 1, p.frame);
	/* A guest write breaks the sharing of page 1 (the copy-on-write puts it in a frame
	 * of its own); page 7 keeps the shared frame, so the region cannot collapse yet. */
	mt_touch(m, 0, 1, VA, VMEM_ACC_STORE);
	vmem_host_advance(h, 10000ull * 2500000);   /* one collapse period: 10 s */
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.thp_collapses, 0);
	/* Page 7 written too (a copy-on-write of its own): all 512 private again, and the
	 * next collapse period moves them into a fresh 2 MiB block. */
	assert_int_equal(vmem_host_fault(h, 0, 7, true, &r), 0);
	vmem_host_advance(h, 10000ull * 2500000);
	check(h);
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.thp_collapses, 1);
	assert_int_equal(s.thp_huge, 1);
	vmem_host_destroy(h);
	vmem_mmu_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thp_first_touch_maps_2m_then_merge_splits),
		cmocka_unit_test(test_thp_collapse_restores_the_2m_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
