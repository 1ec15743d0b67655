/*
 * The guest OS model (libvmem/guest_os.c) and the frame allocator under it
 * (libvmem/frames.c): where first touches land in guest-physical memory, large-page
 * first touches and their fallbacks, unmap and protect (frames, faults, TLB
 * invalidation), and the errors for exhausted memory and non-canonical addresses.
 *
 * Facts the expected values rest on:
 *  - frames.c, sequential placement: next fit, per block size, from a cursor that starts
 *    at 0 and moves past each block handed out; a freed frame is found again only when
 *    the cursor wraps around.
 *  - mmu.c creates an address space's guest root when the address space is first used:
 *    frame 0 of a fresh VM.
 *  - guest_os.c, first touch: the data block is allocated first, then vmem_pt_map
 *    allocates the missing table pages top-down. So in a fresh VM a 4 KiB first touch
 *    gets frame 1 (gPA 0x1000) and its PDPT, PD, PT get frames 2, 3, 4.
 *  - A large first touch is tried when no smaller table exists below it and a free
 *    aligned block is left, else the next smaller size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "mmu_testlib.h"

static struct vmem_mmu *native(enum vmem_page_size gp, const char *guest_mem)
{
	struct vmem_mmu_config c;

	mt_config(&c, VMEM_MODE_NATIVE, 4, 4, gp, VMEM_PAGE_4K);
	if (guest_mem)
		mt_set(&c, "guest.mem", guest_mem);
	return mt_create(&c);
}

/* First touch through vmem_mmu_translate; returns the walk's page size. */
static enum vmem_page_size touch_size(struct vmem_mmu *m, uint64_t va)
{
	struct vmem_walk w;

	mt_translate(m, 0, 1, va, VMEM_ACC_STORE, &w);
	return w.size;
}

static void test_guest_first_touch_takes_data_frame_then_table_frames(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);

	(void)state;
	mt_touch(m, 0, 1, 0x7f0000001234ull, VMEM_ACC_LOAD);
	/* Root 0 (made with the address space), data 1, PDPT 2, PD 3, PT 4. */
	assert_int_equal(mt_gpa(m, 0, 1, 0x7f0000001234ull), 0x1234);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x7f0000001234ull, 4), 0x0000);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x7f0000001234ull, 3), 0x2000);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x7f0000001234ull, 2), 0x3000);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x7f0000001234ull, 1), 0x4000);
	/* Next page, same PT: frame 5. */
	mt_touch(m, 0, 1, 0x7f0000002000ull, VMEM_ACC_LOAD);
	assert_int_equal(mt_gpa(m, 0, 1, 0x7f0000002000ull), 0x5000);
	/* Another 2 MiB region: data 6, its new PT 7. */
	mt_touch(m, 0, 1, 0x7f0000200000ull, VMEM_ACC_LOAD);
	assert_int_equal(mt_gpa(m, 0, 1, 0x7f0000200000ull), 0x6000);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x7f0000200000ull, 1), 0x7000);
	/* 8 frames: 3 data, 5 tables. */
	assert_int_equal(mt_stat(m, "frames.guest"), 8);
	assert_int_equal(mt_stat(m, "pages.guest_tables"), 5);
	assert_int_equal(mt_stat(m, "faults.guest"), 3);
	/* A second address space of the same VM: its root is the next frame, 8. */
	mt_touch(m, 0, 2, 0x1000, VMEM_ACC_LOAD);
	assert_int_equal(mt_guest_table_gpa(m, 0, 2, 0x1000, 4), 0x8000);
	assert_int_equal(mt_gpa(m, 0, 2, 0x1000), 0x9000);
	/* Another VM has its own guest-physical memory: the same layout from 0 again. */
	mt_touch(m, 1, 1, 0x7f0000001234ull, VMEM_ACC_LOAD);
	assert_int_equal(mt_gpa(m, 1, 1, 0x7f0000001234ull), 0x1234);
	vmem_mmu_destroy(m);
}

static void test_guest_page_2m_maps_2m_page_in_empty_region(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_2M, NULL);

	(void)state;
	/* Block 0 holds the root (frame 0), so the first free 2 MiB block is block 1:
	 * gPA 0x200000; va 0x40012345 is 0x12345 into its 2 MiB page: gPA 0x212345.
	 * PDPT and PD then take frames 1 and 2. */
	assert_int_equal(touch_size(m, 0x40012345), VMEM_PAGE_2M);
	assert_int_equal(mt_gpa(m, 0, 1, 0x40012345), 0x212345);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x40012345, 3), 0x1000);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x40012345, 2), 0x2000);
	/* 512 data frames + root, PDPT, PD. No PT. */
	assert_int_equal(mt_stat(m, "frames.guest"), 512 + 3);
	assert_int_equal(mt_stat(m, "pages.guest_tables"), 3);
	/* The rest of the 2 MiB page is mapped already: no further fault. */
	mt_touch(m, 0, 1, 0x401fffff & ~7ull, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "faults.guest"), 1);
	vmem_mmu_destroy(m);
}

static void test_guest_page_1g_maps_1g_page_in_empty_region(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_1G, NULL);

	(void)state;
	/* 1 GiB block 0 holds the root: block 1, gPA 0x40000000; offset 0x2345678. */
	assert_int_equal(touch_size(m, 0x82345678), VMEM_PAGE_1G);
	assert_int_equal(mt_gpa(m, 0, 1, 0x82345678), 0x42345678);
	assert_int_equal(mt_stat(m, "pages.guest_tables"), 2);    /* root, PDPT */
	vmem_mmu_destroy(m);
}

static void test_guest_page_2m_falls_back_to_4k_without_block_or_with_pt(void **state)
{
	/* 6 MiB of guest memory: three 2 MiB blocks, block 0 holding the root. */
	struct vmem_mmu *m = native(VMEM_PAGE_2M, "6m");
	struct vmem_trace_rec r = mt_unmap(0, 1, 0x40000000, 4096);

	(void)state;
	/* R1: block 1 (gPA 0x200000); PDPT frame 1, PD frame 2. */
	assert_int_equal(touch_size(m, 0x40000000), VMEM_PAGE_2M);
	assert_int_equal(mt_gpa(m, 0, 1, 0x40000000), 0x200000);
	/* R2: block 2 (gPA 0x400000). */
	assert_int_equal(touch_size(m, 0x40200000), VMEM_PAGE_2M);
	assert_int_equal(mt_gpa(m, 0, 1, 0x40200000), 0x400000);
	/* R3: no free 2 MiB block (block 0 has frames 0-2 in use): 4 KiB, data frame 3,
	 * then the new PT frame 4. */
	assert_int_equal(touch_size(m, 0x40400000), VMEM_PAGE_4K);
	assert_int_equal(mt_gpa(m, 0, 1, 0x40400000), 0x3000);
	assert_int_equal(mt_guest_table_gpa(m, 0, 1, 0x40400000, 1), 0x4000);
	/* Frames: root, PDPT, PD, PT (4) + 512 + 512 + 1 = 1029. */
	assert_int_equal(mt_stat(m, "frames.guest"), 1029);
	/* Unmapping R1 (its first 4 KiB: the whole 2 MiB page goes) frees block 1. */
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "frames.guest"), 1029 - 512);
	/* R3 again, next page: block 1 is free but R3 has a PT now: 4 KiB, frame 5. */
	assert_int_equal(touch_size(m, 0x40401000), VMEM_PAGE_4K);
	assert_int_equal(mt_gpa(m, 0, 1, 0x40401000), 0x5000);
	/* R4: empty region, block 1 free again: 2 MiB at gPA 0x200000 (the 2 MiB cursor
	 * wrapped from 3 past block 0). */
	assert_int_equal(touch_size(m, 0x40600000), VMEM_PAGE_2M);
	assert_int_equal(mt_gpa(m, 0, 1, 0x40600000), 0x200000);
	vmem_mmu_destroy(m);
}

static void test_guest_unmap_frees_frames_next_touch_reuses_lowest_free(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);
	struct vmem_trace_rec r = mt_unmap(0, 1, 0x1000, 4096);

	(void)state;
	mt_touch(m, 0, 1, 0x1000, VMEM_ACC_LOAD);    /* frame 1; tables 2, 3, 4 */
	mt_touch(m, 0, 1, 0x2000, VMEM_ACC_LOAD);    /* frame 5 */
	assert_int_equal(mt_stat(m, "frames.guest"), 6);
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "frames.guest"), 5);
	assert_int_equal(mt_stat(m, "unmaps"), 1);
	assert_int_equal(vmem_mmu_guest_lookup(m, 0, 1, 0x1000, &(uint64_t){ 0 }), VMEM_ENOENT);
	/* Sequential placement hands out the lowest free frame: the freed frame 1 comes
	 * back first (frames.c moves the cursor down on a free), as a guest recycles the
	 * memory it frees. */
	mt_touch(m, 0, 1, 0x3000, VMEM_ACC_LOAD);
	assert_int_equal(mt_gpa(m, 0, 1, 0x3000), 0x1000);
	assert_int_equal(mt_stat(m, "frames.guest"), 6);
	vmem_mmu_destroy(m);
}

static void test_guest_unmap_in_full_memory_next_touch_reuses_freed_frame(void **state)
{
	/* 2 MiB of guest memory: 512 frames. */
	struct vmem_mmu *m = native(VMEM_PAGE_4K, "2m");
	struct vmem_trace_rec r = mt_unmap(0, 1, 10 * 4096, 4096);

	(void)state;
	/* Page 0 takes frame 1 (tables 2-4), page i >= 1 frame i + 4: pages 0..507 fill
	 * frames 1..511; with the root, all 512 frames. */
	for (uint64_t i = 0; i < 508; i++)
		mt_touch(m, 0, 1, i * 4096, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "frames.guest"), 512);
	assert_int_equal(mt_gpa(m, 0, 1, 10 * 4096), (10 + 4) * 4096);
	/* Unmap page 10: its frame 14 is the only free one; page 508 gets it. */
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "frames.guest"), 511);
	mt_touch(m, 0, 1, 508 * 4096, VMEM_ACC_LOAD);
	assert_int_equal(mt_gpa(m, 0, 1, 508 * 4096), 14 * 4096);
	assert_int_equal(mt_stat(m, "frames.guest"), 512);
	vmem_mmu_destroy(m);
}

static void test_guest_unmap_of_2m_page_frees_512_frames(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_2M, NULL);
	struct vmem_trace_rec r = mt_unmap(0, 1, 0x40100000, 0x1000);

	(void)state;
	mt_touch(m, 0, 1, 0x40000000, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "frames.guest"), 515);
	/* Any address inside the large page unmaps all of it. */
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "frames.guest"), 3);
	assert_int_equal(mt_stat(m, "unmaps"), 1);
	assert_int_equal(mt_stat(m, "invlpgs"), 1);
	vmem_mmu_destroy(m);
}

static void test_guest_protect_readonly_then_store_faults_once_restoring_write(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);
	struct vmem_trace_rec r = mt_protect(0, 1, 0x1000, 4096, VMEM_PROT_READ);
	struct vmem_walk w;
	uint64_t gpa;

	(void)state;
	mt_touch(m, 0, 1, 0x1000, VMEM_ACC_STORE);   /* fault 1; 4 PTE writes */
	gpa = mt_gpa(m, 0, 1, 0x1000);
	mt_apply(m, &r);                              /* 1 PTE write, 1 INVLPG */
	assert_int_equal(mt_stat(m, "protects"), 1);
	assert_int_equal(mt_stat(m, "invlpgs"), 1);
	/* Loads still work without a fault. */
	mt_translate(m, 0, 1, 0x1000, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.guest_faults, 0);
	/* The store: one guest fault that grants write (PTE write 6), then it succeeds;
	 * same frame (protection changed, not the mapping). */
	mt_translate(m, 0, 1, 0x1000, VMEM_ACC_STORE, &w);
	assert_int_equal(w.guest_faults, 1);
	assert_int_equal(w.walks, 2);
	assert_int_equal(w.pa, gpa);
	mt_translate(m, 0, 1, 0x1000, VMEM_ACC_MODIFY, &w);
	assert_int_equal(w.guest_faults, 0);
	assert_int_equal(mt_stat(m, "faults.guest"), 2);
	assert_int_equal(mt_stat(m, "guest.pte_writes"), 4 + 1 + 1);
	/* Protect gave read (+user) only, so execute was taken away too: one more fault. */
	mt_translate(m, 0, 1, 0x1000, VMEM_ACC_IFETCH, &w);
	assert_int_equal(w.guest_faults, 1);
	assert_int_equal(mt_stat(m, "faults.guest"), 3);
	vmem_mmu_destroy(m);
}

static void test_guest_protect_of_unmapped_range_changes_nothing(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);
	struct vmem_trace_rec r = mt_protect(0, 1, 0x100000, 64 * 4096, VMEM_PROT_READ);

	(void)state;
	mt_touch(m, 0, 1, 0x1000, VMEM_ACC_LOAD);
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "protects"), 0);
	assert_int_equal(mt_stat(m, "invlpgs"), 0);
	assert_int_equal(mt_stat(m, "guest.pte_writes"), 4);
	vmem_mmu_destroy(m);
}

static void test_guest_unmap_33_pages_invlpg_each_34_or_more_full_flush(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);
	struct vmem_trace_rec r33 = mt_unmap(0, 1, 0, 33 * 4096);
	struct vmem_trace_rec r40 = mt_unmap(0, 1, 33 * 4096, 40 * 4096);
	struct vmem_walk w;

	(void)state;
	for (uint64_t i = 0; i < 80; i++)
		mt_touch(m, 0, 1, i * 4096, VMEM_ACC_LOAD);
	/* 33 pages: at Linux's tlb_single_page_flush_ceiling, one INVLPG each. */
	mt_apply(m, &r33);
	assert_int_equal(mt_stat(m, "invlpgs"), 33);
	assert_int_equal(mt_stat(m, "unmaps"), 33);
	/* Page 79 (not unmapped) is still in the TLB after INVLPGs of other pages. */
	mt_translate(m, 0, 1, 79 * 4096, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	/* 40 pages: above the ceiling: one full flush of the PCID, no INVLPG at all. */
	mt_apply(m, &r40);
	assert_int_equal(mt_stat(m, "invlpgs"), 33);
	assert_int_equal(mt_stat(m, "unmaps"), 73);
	/* The full flush took page 79's entry too. */
	mt_translate(m, 0, 1, 79 * 4096, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
	assert_int_equal(w.guest_faults, 0);
	vmem_mmu_destroy(m);
}

static void test_guest_unmap_counts_only_mapped_pages_toward_ceiling(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);
	struct vmem_trace_rec r = mt_unmap(0, 1, 0, 100 * 4096);

	(void)state;
	/* Every other page of 0..99 mapped: 50 pages; unmap those 50 -> full flush. */
	for (uint64_t i = 0; i < 100; i += 2)
		mt_touch(m, 0, 1, i * 4096, VMEM_ACC_LOAD);
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "unmaps"), 50);
	assert_int_equal(mt_stat(m, "invlpgs"), 0);
	/* 20 mapped pages in a 100-page range: 20 INVLPGs. */
	for (uint64_t i = 0; i < 100; i += 5)
		mt_touch(m, 0, 1, i * 4096, VMEM_ACC_LOAD);
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "unmaps"), 70);
	assert_int_equal(mt_stat(m, "invlpgs"), 20);
	vmem_mmu_destroy(m);
}

static void test_guest_tiny_guest_mem_reports_enospace_with_message(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, "2m");
	struct vmem_trace_rec r = mt_access(0, 1, 508 * 4096, VMEM_ACC_LOAD);

	(void)state;
	for (uint64_t i = 0; i < 508; i++)           /* all 512 frames in use (see above) */
		mt_touch(m, 0, 1, i * 4096, VMEM_ACC_LOAD);
	assert_int_equal(vmem_mmu_apply(m, &r), VMEM_ENOSPACE);
	print_message("message: %s\n", vmem_mmu_error(m));
	assert_non_null(strstr(vmem_mmu_error(m), "guest memory of VM 0 exhausted"));
	assert_non_null(strstr(vmem_mmu_error(m), "guest.mem=2 MiB"));
	/* Nothing changed: still 512 frames, and a mapped page still translates. */
	assert_int_equal(mt_stat(m, "frames.guest"), 512);
	mt_touch(m, 0, 1, 7 * 4096, VMEM_ACC_LOAD);
	vmem_mmu_destroy(m);
}

static void test_guest_tiny_host_mem_reports_enospace_with_message(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	int rc = 0;
	uint64_t i;

	(void)state;
	mt_config(&c, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_set(&c, "host.mem", "2m");
	m = mt_create(&c);
	/*
	 * 512 host frames. Page 0's first touch host-maps the guest root, page 0's data and
	 * the guest PDPT, PD and PT (5 frames) and builds the host table (root + PDPT, PD,
	 * PT: 4): 9 in use. Each later page adds one: 9 + i after page i, all 512 after
	 * page 503. Page 504's data gPA cannot be host-mapped: the loop stops with i = 505.
	 */
	for (i = 0; i < 600 && rc == 0; i++) {
		struct vmem_trace_rec r = mt_access(0, 1, i * 4096, VMEM_ACC_LOAD);

		rc = vmem_mmu_apply(m, &r);
	}
	assert_int_equal(rc, VMEM_ENOSPACE);
	print_message("stopped at page %llu: %s\n", (unsigned long long)(i - 1),
		      vmem_mmu_error(m));
	assert_non_null(strstr(vmem_mmu_error(m), "host memory exhausted (host.mem=2 MiB)"));
	assert_int_equal(mt_stat(m, "frames.host"), 512);
	assert_int_equal(i, 505);
	vmem_mmu_destroy(m);
}

static void test_guest_noncanonical_access_is_erange_with_message(void **state)
{
	struct vmem_mmu *m4 = native(VMEM_PAGE_4K, NULL);
	struct vmem_mmu_config c;
	struct vmem_mmu *m5;
	struct vmem_trace_rec r = mt_access(0, 1, 0x0000800000000000ull, VMEM_ACC_LOAD);
	struct vmem_trace_rec u = mt_unmap(0, 1, 0xffff000000000000ull, 4096);
	uint64_t pa;

	(void)state;
	assert_int_equal(vmem_mmu_apply(m4, &r), VMEM_ERANGE);
	print_message("message: %s\n", vmem_mmu_error(m4));
	assert_non_null(strstr(vmem_mmu_error(m4), "0x800000000000"));
	assert_non_null(strstr(vmem_mmu_error(m4), "not canonical"));
	assert_non_null(strstr(vmem_mmu_error(m4), "4-level"));
	assert_non_null(strstr(vmem_mmu_error(m4), "48 bits"));
	/* Not counted as an access; no fault, no walk. */
	assert_int_equal(mt_stat(m4, "accesses"), 0);
	assert_int_equal(mt_stat(m4, "faults.guest"), 0);
	assert_int_equal(mt_stat(m4, "walks"), 0);
	assert_int_equal(vmem_mmu_apply(m4, &u), VMEM_ERANGE);
	assert_int_equal(vmem_mmu_translate(m4, 0, 1, 0x0000800000000000ull, VMEM_ACC_LOAD, NULL,
					    &pa), VMEM_ERANGE);
	/* With 5 levels (57 bits) the same address is fine; bit 56 alone is not. */
	mt_config(&c, VMEM_MODE_NATIVE, 5, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	m5 = mt_create(&c);
	mt_apply(m5, &r);
	r.addr = 0x0100000000000000ull;
	assert_int_equal(vmem_mmu_apply(m5, &r), VMEM_ERANGE);
	assert_non_null(strstr(vmem_mmu_error(m5), "57 bits"));
	vmem_mmu_destroy(m4);
	vmem_mmu_destroy(m5);
}

static void test_guest_unmap_range_that_wraps_is_erange(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);
	struct vmem_trace_rec r = mt_unmap(0, 1, 0xfffffffffff00000ull, 0x200000);

	(void)state;
	/* 0xfffffffffff00000 is canonical; + 2 MiB wraps past 2^64. */
	assert_int_equal(vmem_mmu_apply(m, &r), VMEM_ERANGE);
	assert_non_null(strstr(vmem_mmu_error(m), "wraps"));
	vmem_mmu_destroy(m);
}

static void test_guest_access_crossing_a_page_translates_both_pages(void **state)
{
	struct vmem_mmu *m = native(VMEM_PAGE_4K, NULL);
	struct vmem_trace_rec r = mt_access(0, 1, 0x1ffc, VMEM_ACC_LOAD);

	(void)state;
	/* 8 bytes at 0x1ffc: pages 0x1000 and 0x2000: two translations, two faults. */
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "accesses"), 1);
	assert_int_equal(mt_stat(m, "translations"), 2);
	assert_int_equal(mt_stat(m, "faults.guest"), 2);
	assert_int_equal(mt_gpa(m, 0, 1, 0x2000), 0x5000);
	vmem_mmu_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_first_touch_takes_data_frame_then_table_frames),
		cmocka_unit_test(test_guest_page_2m_maps_2m_page_in_empty_region),
		cmocka_unit_test(test_guest_page_1g_maps_1g_page_in_empty_region),
		cmocka_unit_test(test_guest_page_2m_falls_back_to_4k_without_block_or_with_pt),
		cmocka_unit_test(test_guest_unmap_frees_frames_next_touch_reuses_lowest_free),
		cmocka_unit_test(test_guest_unmap_in_full_memory_next_touch_reuses_freed_frame),
		cmocka_unit_test(test_guest_unmap_of_2m_page_frees_512_frames),
		cmocka_unit_test(test_guest_protect_readonly_then_store_faults_once_restoring_write),
		cmocka_unit_test(test_guest_protect_of_unmapped_range_changes_nothing),
		cmocka_unit_test(test_guest_unmap_33_pages_invlpg_each_34_or_more_full_flush),
		cmocka_unit_test(test_guest_unmap_counts_only_mapped_pages_toward_ceiling),
		cmocka_unit_test(test_guest_tiny_guest_mem_reports_enospace_with_message),
		cmocka_unit_test(test_guest_tiny_host_mem_reports_enospace_with_message),
		cmocka_unit_test(test_guest_noncanonical_access_is_erange_with_message),
		cmocka_unit_test(test_guest_unmap_range_that_wraps_is_erange),
		cmocka_unit_test(test_guest_access_crossing_a_page_translates_both_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
