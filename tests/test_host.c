/*
 * The host memory manager's books (libvmem/host/host.c, swap_tier.c, reclaim.c,
 * content.c) without a translation machine: faults by hand, then the page states, frame
 * counts and the invariants of vmem_host_check.
 *
 * Facts the expected values rest on:
 *  - host.mem = 1 MiB is 256 frames; watermarks 10/20/30 per mille are 2, 5 and 7 frames
 *    (256 * 10 / 1000 = 2.56 -> 2, 5.12 -> 5, 7.68 -> 7).
 *  - A fault takes a frame; when free frames are at or below min (2) it first reclaims
 *    up to min + 1 + reclaim_batch free frames.
 *  - Swapped pages use one slot each; compressed pages of class c take (c + 1) * 256 bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vmem/host.h"
#include "vmem/host_policy.h"

static struct vmem_host *make(const char *const *kv)
{
	struct vmem_host_config c;
	struct vmem_host *h;
	char err[256];

	vmem_host_config_default(&c);
	assert_int_equal(vmem_host_config_set(&c, "host.mem", "1m", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&c, "host.reclaim_batch", "4", err, sizeof(err)), 0);
	for (; kv && kv[0]; kv += 2)
		if (vmem_host_config_set(&c, kv[0], kv[1], err, sizeof(err)))
			fail_msg("%s", err);
	if (vmem_host_create(&c, &h, err, sizeof(err)))
		fail_msg("%s", err);
	return h;
}

static void check(struct vmem_host *h)
{
	char err[256];

	if (vmem_host_check(h, err, sizeof(err)))
		fail_msg("invariant: %s", err);
}

static uint64_t fault(struct vmem_host *h, uint16_t vm, uint64_t gfn, bool write)
{
	struct vmem_host_fault_result r;

	if (vmem_host_fault(h, vm, gfn, write, &r))
		fail_msg("fault: %s", vmem_host_error(h));
	check(h);
	return r.cycles;
}

static void test_host_first_touch_takes_a_frame_each(void **state)
{
	struct vmem_host *h = make(NULL);
	struct vmem_host_vm_stats s;
	struct vmem_host_stats hs;

	(void)state;
	assert_int_equal(vmem_host_add_vm(h, 0, 64 << 12, 1000), 0);
	/* Each first touch costs host.cost.zero_fill (5000). */
	assert_int_equal(fault(h, 0, 3, false), 5000);
	assert_int_equal(fault(h, 0, 4, true), 5000);
	/* A second fault on a resident page (the machine lost its mapping) costs nothing. */
	assert_int_equal(fault(h, 0, 3, false), 0);
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.state[VMEM_PG_RESIDENT], 2);
	assert_int_equal(s.state[VMEM_PG_UNTOUCHED], 62);
	assert_int_equal(s.faults_first, 2);
	vmem_host_stats(h, &hs);
	assert_int_equal(hs.frames, 256);
	assert_int_equal(hs.frames_free, 254);
	vmem_host_destroy(h);
}

static void test_host_overcommit_swaps_to_keep_the_min_watermark(void **state)
{
	/* No compressed tier: every victim goes to the swap device. */
	struct vmem_host *h = make(NULL);
	struct vmem_host_vm_stats a, b;
	struct vmem_host_stats hs;

	(void)state;
	/* Two VMs of 200 pages on 256 frames: 400 pages promised, overcommit 1.56. */
	vmem_host_add_vm(h, 0, 200 << 12, 1000);
	vmem_host_add_vm(h, 1, 200 << 12, 1000);
	for (uint64_t g = 0; g < 200; g++) {
		fault(h, 0, g, true);
		fault(h, 1, g, true);
	}
	vmem_host_vm_stats(h, 0, &a);
	vmem_host_vm_stats(h, 1, &b);
	vmem_host_stats(h, &hs);
	/* 400 touched, at most 256 resident: the rest on the swap device. */
	assert_int_equal(a.state[VMEM_PG_RESIDENT] + b.state[VMEM_PG_RESIDENT] +
			 a.state[VMEM_PG_SWAPPED] + b.state[VMEM_PG_SWAPPED], 400);
	assert_int_equal(hs.swap_slots_used, a.state[VMEM_PG_SWAPPED] + b.state[VMEM_PG_SWAPPED]);
	assert_true(hs.frames_free >= 1);
	assert_true(hs.reclaim_direct > 0);
	/* Reading a swapped page back waits for the device: more than the 80 us latency
	 * (200,000 cycles at 2.5 GHz) plus the fault handling (5000). */
	for (uint64_t g = 0; g < 200; g++)
		if (vmem_host_page_state(h, 0, g) == VMEM_PG_SWAPPED) {
			assert_true(fault(h, 0, g, false) >= 205000);
			break;
		}
	vmem_host_vm_stats(h, 0, &a);
	assert_int_equal(a.faults_swapin, 1);
	vmem_host_destroy(h);
}

static void test_host_compressed_tier_takes_compressible_pages(void **state)
{
	/* Every written page class 3 (<= 1 KiB): four fit in one frame of the tier. */
	static const char *const kv[] = { "zswap.percent", "50", "content.class", "3",
					  "content.zero", "0", "content.image", "0", NULL };
	struct vmem_host *h = make(kv);
	struct vmem_host_vm_stats s;
	struct vmem_host_stats hs;

	(void)state;
	vmem_host_add_vm(h, 0, 400 << 12, 1000);
	for (uint64_t g = 0; g < 400; g++)
		fault(h, 0, g, true);
	vmem_host_vm_stats(h, 0, &s);
	vmem_host_stats(h, &hs);
	assert_int_equal(s.state[VMEM_PG_SWAPPED], 0);
	assert_true(s.state[VMEM_PG_COMPRESSED] > 0);
	assert_int_equal(hs.zswap_bytes, s.state[VMEM_PG_COMPRESSED] * 1024);
	/* Perfect packing: the tier holds ceil(bytes / 4096) frames. */
	assert_int_equal(hs.frames_zswap, (hs.zswap_bytes + 4095) / 4096);
	/* A decompression costs host.cost.fault + host.cost.decompress = 15000. */
	for (uint64_t g = 0; g < 400; g++)
		if (vmem_host_page_state(h, 0, g) == VMEM_PG_COMPRESSED) {
			assert_int_equal(fault(h, 0, g, false), 15000);
			break;
		}
	vmem_host_destroy(h);
}

static void test_host_merge_shares_then_write_breaks(void **state)
{
	static const char *const kv[] = { "swap", "none", NULL };
	struct vmem_host *h = make(kv);
	struct vmem_host_page p3, p5;
	struct vmem_host_vm_stats s;

	(void)state;
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	fault(h, 0, 3, true);
	fault(h, 0, 5, true);
	vmem_host_set_content(h, 0, 3, 0xabc, false, 7);
	vmem_host_set_content(h, 0, 5, 0xabc, false, 7);
	assert_int_equal(vmem_host_page(h, 0, 3, &p3), 0);
	assert_int_equal(vmem_host_merge(h, 0, 5, p3.frame), 0);
	check(h);
	vmem_host_page(h, 0, 3, &p3);
	vmem_host_page(h, 0, 5, &p5);
	assert_int_equal(p3.state, VMEM_PG_SHARED);
	assert_int_equal(p5.state, VMEM_PG_SHARED);
	assert_int_equal(p3.frame, p5.frame);
	assert_int_equal(p3.refs, 2);
	/* Different content does not merge. */
	fault(h, 0, 7, true);
	vmem_host_set_content(h, 0, 7, 0xdef, false, 7);
	assert_int_equal(vmem_host_merge(h, 0, 7, p3.frame), VMEM_EINVAL);
	/* A read of a shared page stays shared; a write copies: cost host.cost.cow. */
	assert_int_equal(fault(h, 0, 5, false), 0);
	assert_int_equal(fault(h, 0, 5, true), 5000);
	vmem_host_page(h, 0, 3, &p3);
	assert_int_equal(p3.refs, 1);
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.faults_cow, 1);
	assert_int_equal(s.state[VMEM_PG_SHARED], 1);
	assert_int_equal(s.state[VMEM_PG_RESIDENT], 2);
	vmem_host_destroy(h);
}

static void test_host_zero_merge_frees_the_frame(void **state)
{
	static const char *const kv[] = { "swap", "none", "content.zero", "1000", NULL };
	struct vmem_host *h = make(kv);
	struct vmem_host_stats hs;

	(void)state;
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	fault(h, 0, 1, false);   /* content.zero = 1000: every first touch stays zero */
	assert_int_equal(vmem_host_merge_zero(h, 0, 1), 0);
	check(h);
	vmem_host_stats(h, &hs);
	assert_int_equal(hs.frames_free, 256);
	assert_int_equal(vmem_host_page_state(h, 0, 1), VMEM_PG_ZERO);
	/* A write gives it a frame of its own again. */
	assert_int_equal(fault(h, 0, 1, true), 5000);
	assert_int_equal(vmem_host_page_state(h, 0, 1), VMEM_PG_RESIDENT);
	vmem_host_destroy(h);
}

static void test_host_without_swap_runs_out_with_a_clear_error(void **state)
{
	static const char *const kv[] = { "swap", "none", NULL };
	struct vmem_host *h = make(kv);
	struct vmem_host_fault_result r;
	int err = 0;

	(void)state;
	vmem_host_add_vm(h, 0, 300 << 12, 1000);
	for (uint64_t g = 0; g < 300 && !err; g++)
		err = vmem_host_fault(h, 0, g, true, &r);
	assert_int_equal(err, VMEM_ENOSPACE);
	assert_non_null(strstr(vmem_host_error(h), "host memory exhausted"));
	check(h);
	vmem_host_destroy(h);
}

static void test_host_config_rejects_bad_values(void **state)
{
	struct vmem_host_config c;
	struct vmem_host *h;
	char err[256];

	(void)state;
	vmem_host_config_default(&c);
	assert_int_equal(vmem_host_config_set(&c, "host.mem", "1000", err, sizeof(err)),
			 VMEM_EINVAL);
	assert_int_equal(vmem_host_config_set(&c, "nope", "1", err, sizeof(err)), VMEM_ENOENT);
	assert_int_equal(vmem_host_config_set(&c, "zswap.max_class", "16", err, sizeof(err)),
			 VMEM_EINVAL);
	assert_int_equal(vmem_host_config_set(&c, "swap", "lottery", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_create(&c, &h, err, sizeof(err)), VMEM_ENOENT);
	assert_non_null(strstr(err, "no swap policy named 'lottery'"));
	assert_int_equal(vmem_host_config_set(&c, "swap", "random:k=1", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_create(&c, &h, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "policy random has no parameter 'k'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_first_touch_takes_a_frame_each),
		cmocka_unit_test(test_host_overcommit_swaps_to_keep_the_min_watermark),
		cmocka_unit_test(test_host_compressed_tier_takes_compressible_pages),
		cmocka_unit_test(test_host_merge_shares_then_write_breaks),
		cmocka_unit_test(test_host_zero_merge_frees_the_frame),
		cmocka_unit_test(test_host_without_swap_runs_out_with_a_clear_error),
		cmocka_unit_test(test_host_config_rejects_bad_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
