/*
 * Ballooning end to end: a nested-paging machine (vmem/mmu.h) attached to a host memory
 * manager (vmem/host.h) with a balloon policy; the guest OS model gives pages to its
 * balloon and swaps its own pages when it has none free (libvmem/mmu/guest_mem.c,
 * libvmem/guest/guest_swap.c); the controller (libvmem/host/balloon.c) moves balloons
 * toward the policies' targets (the balloon_*.c files of balloon-driver/).
 *
 * Facts the expected values rest on:
 *  - guest.mem = 2 MiB: 512 guest-physical frames per VM. Touching n <= 512 pages at
 *    consecutive addresses of one 2 MiB-aligned region with 4-level guest tables takes n
 *    data frames and 4 table pages (PML4, PDPT, PD, one PT), all from the same 512.
 *  - The host backs each guest frame the machine touches: the n data pages and the 4
 *    table pages are resident on the host after the touches.
 *  - A balloon period is balloon.period_ms = 100 ms = 250,000,000 cycles at 2.5 GHz; the
 *    controller runs at the first vmem_host_advance and then once a period.
 *  - The guest's CLOCK sweeps its pages in address order; a page the machine walked has
 *    its accessed bit set, so the first sweep clears every bit and the second takes the
 *    pages from the lowest address up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vmem/balloon.h"
#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "vmem/mmu.h"

#include "mmu_testlib.h"

#define PERIOD 250000000ull
#define BASE 0x40000000ull     /* 1 GiB: 2 MiB-aligned, one PT covers 512 pages */

/* ---- a policy the test steers: each VM's target is knob[vm] ---- */

static uint64_t knob[4];

static int knob_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		     size_t errlen)
{
	(void)p;
	(void)pp;
	(void)err;
	(void)errlen;
	return 0;
}

static void knob_targets(struct vmem_policy *p, const struct vmem_balloon_vm *vms, size_t n,
			 uint64_t host_frames, uint64_t free_target, uint64_t *target)
{
	(void)p;
	(void)host_frames;
	(void)free_target;
	for (size_t i = 0; i < n; i++)
		target[i] = knob[vms[i].vm];
}

static const struct vmem_balloon_policy_ops knob_ops = {
	.name = "test-knob", .help = "targets set by the test", .init = knob_init,
	.targets = knob_targets,
};

/* ---- a machine and a host ---- */

struct rig {
	struct vmem_mmu *m;
	struct vmem_host *h;
};

static struct rig make_mode(enum vmem_mode mode, unsigned nvms, const char *const *kv)
{
	struct vmem_mmu_config mc;
	struct vmem_host_config hc;
	struct rig r;
	char err[256];

	mt_config(&mc, mode, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_set(&mc, "guest.mem", "2m");
	mt_set(&mc, "host.mem", "8m");
	r.m = mt_create(&mc);
	vmem_host_config_default(&hc);
	assert_int_equal(vmem_host_config_set(&hc, "host.mem", "8m", err, sizeof(err)), 0);
	for (; kv && kv[0]; kv += 2)
		if (vmem_host_config_set(&hc, kv[0], kv[1], err, sizeof(err)))
			fail_msg("%s", err);
	if (vmem_host_create(&hc, &r.h, err, sizeof(err)))
		fail_msg("%s", err);
	for (unsigned v = 0; v < nvms; v++)
		assert_int_equal(vmem_host_add_vm(r.h, (uint16_t)v, 2 << 20, 1000), 0);
	assert_int_equal(vmem_host_attach(r.h, r.m), 0);
	return r;
}

static struct rig make(unsigned nvms, const char *const *kv)
{
	return make_mode(VMEM_MODE_NESTED, nvms, kv);
}

static void done(struct rig *r)
{
	vmem_host_destroy(r->h);
	vmem_mmu_destroy(r->m);
}

static void check(const struct rig *r)
{
	char err[256];

	if (vmem_host_check(r->h, err, sizeof(err)))
		fail_msg("invariant: %s", err);
}

/* One balloon period passes. */
static void period(struct rig *r)
{
	assert_int_equal(vmem_host_advance(r->h, PERIOD), 0);
	check(r);
}

/* VM vm writes pages [first, first + n) of its region at BASE. */
static void touch(struct rig *r, uint16_t vm, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++)
		mt_touch(r->m, vm, 1, BASE + i * 4096, VMEM_ACC_STORE);
	check(r);
}

static struct vmem_host_vm_stats vmst(const struct rig *r, uint16_t vm)
{
	struct vmem_host_vm_stats s;

	assert_int_equal(vmem_host_vm_stats(r->h, vm, &s), 0);
	return s;
}

static struct vmem_host_balloon_info info(const struct rig *r, uint16_t vm)
{
	struct vmem_host_balloon_info b;

	assert_int_equal(vmem_host_balloon_info(r->h, vm, &b), 0);
	return b;
}

static uint64_t stat_tag(const struct rig *r, uint16_t vm, const char *name)
{
	struct vmem_balloon_stat st[VMEM_BALLOON_STAT_TAGS];
	int n = vmem_host_balloon_stats(r->h, vm, st, VMEM_BALLOON_STAT_TAGS);

	assert_int_equal(n, VMEM_BALLOON_STAT_TAGS);
	for (int i = 0; i < n; i++)
		if (strcmp(st[i].name, name) == 0)
			return st[i].value;
	fail_msg("no statistic %s", name);
	return 0;
}

static const char *const knob_kv[] = { "balloon", "test-knob", "balloon.rate", "200", NULL };

/* ---- the mechanisms ---- */

static void test_inflate_takes_free_pages_before_guest_reclaim(void **state)
{
	struct rig r = make(1, knob_kv);
	struct vmem_host_vm_stats s;
	struct vmem_host_balloon_info b;
	uint64_t before;

	(void)state;
	/* 100 data pages + 4 table pages: 104 guest frames used, 408 free. */
	touch(&r, 0, 0, 100);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 408);
	knob[0] = 450;
	/* Period 1: 200 pages (balloon.rate) from the 408 free; nothing swapped. */
	period(&r);
	s = vmst(&r, 0);
	assert_int_equal(vmem_mmu_balloon_size(r.m, 0), 200);
	assert_int_equal(s.state[VMEM_PG_BALLOONED], 200);
	assert_int_equal(s.guest_swap_out, 0);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 208);
	/* Period 2: 400, still from free pages: 8 left, guest swapping still zero. */
	period(&r);
	s = vmst(&r, 0);
	assert_int_equal(s.state[VMEM_PG_BALLOONED], 400);
	assert_int_equal(s.guest_swap_out, 0);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 8);
	/* Period 3: 50 more: the 8 free, then 42 the guest swaps out to free them. */
	period(&r);
	s = vmst(&r, 0);
	b = info(&r, 0);
	assert_int_equal(s.state[VMEM_PG_BALLOONED], 450);
	assert_int_equal(b.size, 450);
	assert_int_equal(b.inflated, 450);
	assert_int_equal(s.guest_swap_out, 42);
	assert_int_equal(b.guest_swapped, 42);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 0);
	/* Host frames: 104 resident after the touches, less the 42 the balloon took. */
	assert_int_equal(s.state[VMEM_PG_RESIDENT], 62);
	{
		/* Every virtio-balloon tag, in the kernel's order. */
		static const char *const tags[VMEM_BALLOON_STAT_TAGS] = {
			"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
			"total_memory", "available_memory", "disk_caches",
			"hugetlb_allocations", "hugetlb_failures", "oom_kill", "alloc_stall",
			"async_scan", "direct_scan", "async_reclaim", "direct_reclaim",
		};
		struct vmem_balloon_stat st[VMEM_BALLOON_STAT_TAGS];

		assert_int_equal(vmem_host_balloon_stats(r.h, 0, st, VMEM_BALLOON_STAT_TAGS),
				 VMEM_BALLOON_STAT_TAGS);
		for (int i = 0; i < VMEM_BALLOON_STAT_TAGS; i++)
			assert_string_equal(st[i].name, tags[i]);
		/* 100 guest faults (one a page; the tables come with them), none major. */
		assert_int_equal(stat_tag(&r, 0, "minor_faults"), 100);
		assert_int_equal(stat_tag(&r, 0, "disk_caches"), 0);
		assert_int_equal(vmem_host_balloon_stats(r.h, 9, st, 4), VMEM_ENOENT);
	}
	assert_int_equal(stat_tag(&r, 0, "swap_out"), 42 * 4096);
	assert_int_equal(stat_tag(&r, 0, "direct_reclaim"), 42);
	assert_int_equal(stat_tag(&r, 0, "total_memory"), (512 - 450) * 4096);
	assert_int_equal(stat_tag(&r, 0, "free_memory"), 0);
	/* Page 0 went first (second sweep of the CLOCK): touching it again is a major
	 * fault, and with nothing free the guest swaps page 42 out to make room. */
	before = mt_stat(r.m, "cycles.faults");
	touch(&r, 0, 0, 1);
	s = vmst(&r, 0);
	assert_int_equal(s.guest_swap_in, 1);
	assert_int_equal(s.guest_swap_out, 43);
	assert_int_equal(stat_tag(&r, 0, "major_faults"), 1);
	assert_int_equal(stat_tag(&r, 0, "swap_in"), 4096);
	assert_int_equal(stat_tag(&r, 0, "alloc_stall"), 2);   /* period 3, this fault */
	/* The major fault costs the guest's fault (5000) plus host.cost.guest_swap_in
	 * (205000). */
	assert_true(mt_stat(r.m, "cycles.faults") - before >= 5000 + 205000);
	done(&r);
}

/* Guest swapping takes pages of an address space that is not running: its TLB entries
 * and (shadow paging) shadow entries must go, so the next access faults and reads the
 * page back. */
static void victims_in_another_address_space(enum vmem_mode mode)
{
	struct rig r = make_mode(mode, 1, knob_kv);
	struct vmem_host_vm_stats s;
	uint64_t pa, want;

	/* asid 1: 100 pages (4 tables + 100 frames); asid 2: 100 pages at the same
	 * addresses (4 more tables + 100 frames): 208 used, 304 free. asid 2 runs last. */
	touch(&r, 0, 0, 100);
	for (uint64_t i = 0; i < 100; i++)
		mt_touch(r.m, 0, 2, BASE + i * 4096, VMEM_ACC_STORE);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 304);
	/* 200 then 150: 304 free, then 46 guest swap-outs. The hand starts in asid 1
	 * (created first), whose first sweep clears its bits; it moves on to asid 2 and
	 * clears those; back in asid 1 it takes pages 0..45. */
	knob[0] = 350;
	period(&r);
	period(&r);
	s = vmst(&r, 0);
	assert_int_equal(s.guest_swap_out, 46);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 0);
	assert_int_equal(vmem_mmu_guest_lookup(r.m, 0, 1, BASE, &pa), VMEM_ENOENT);
	assert_int_equal(vmem_mmu_guest_lookup(r.m, 0, 2, BASE, &pa), 0);
	/* asid 1's page 0 again: a major fault (the cached translation is gone), and the
	 * translation agrees with the tables. */
	pa = mt_translate(r.m, 0, 1, BASE, VMEM_ACC_LOAD, NULL);
	check(&r);
	assert_int_equal(vmst(&r, 0).guest_swap_in, 1);
	assert_int_equal(mt_expected_pa(r.m, 0, 1, BASE, &want), 0);
	assert_int_equal(pa, want);
	/* asid 2 kept its pages: no fault there. */
	pa = mt_translate(r.m, 0, 2, BASE + 5 * 4096, VMEM_ACC_LOAD, NULL);
	assert_int_equal(mt_expected_pa(r.m, 0, 2, BASE + 5 * 4096, &want), 0);
	assert_int_equal(pa, want);
	assert_int_equal(vmst(&r, 0).guest_swap_in, 1);
	done(&r);
}

static void test_victims_in_another_address_space_nested(void **state)
{
	(void)state;
	victims_in_another_address_space(VMEM_MODE_NESTED);
}

static void test_victims_in_another_address_space_shadow(void **state)
{
	(void)state;
	victims_in_another_address_space(VMEM_MODE_SHADOW);
}

static void test_deflate_returns_pages_to_the_guest(void **state)
{
	struct rig r = make(1, knob_kv);
	struct vmem_host_vm_stats s;
	struct vmem_host_balloon_info b;

	(void)state;
	touch(&r, 0, 0, 100);   /* 408 free */
	knob[0] = 300;
	period(&r);
	period(&r);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 108);
	/* Target 100: deflate 200 (one period at rate 200). */
	knob[0] = 100;
	period(&r);
	s = vmst(&r, 0);
	b = info(&r, 0);
	assert_int_equal(b.size, 100);
	assert_int_equal(s.state[VMEM_PG_BALLOONED], 100);
	assert_int_equal(s.balloon_deflated, 200);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 308);
	/* Deflated pages are untouched: 512 - 104 resident - 100 ballooned. */
	assert_int_equal(s.state[VMEM_PG_UNTOUCHED], 308);
	/* The guest uses them again: 300 more pages, no guest swapping. */
	touch(&r, 0, 100, 300);
	s = vmst(&r, 0);
	assert_int_equal(s.guest_swap_out, 0);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 8);
	/* Target 0: the whole balloon comes back. */
	knob[0] = 0;
	period(&r);
	assert_int_equal(info(&r, 0).size, 0);
	assert_int_equal(vmst(&r, 0).state[VMEM_PG_BALLOONED], 0);
	done(&r);
}

static void test_touch_of_a_ballooned_page_deflates_it(void **state)
{
	struct rig r = make(1, knob_kv);
	struct vmem_host_fault_result fr;
	struct vmem_host_vm_stats s;
	uint64_t gfn = UINT64_MAX;

	(void)state;
	touch(&r, 0, 0, 10);
	knob[0] = 50;
	period(&r);
	for (uint64_t g = 0; g < 512 && gfn == UINT64_MAX; g++)
		if (vmem_host_page_state(r.h, 0, g) == VMEM_PG_BALLOONED)
			gfn = g;
	assert_true(gfn != UINT64_MAX);
	/* The guest touches it (as a guest that ignores its balloon would): the host
	 * cannot refuse, the page is backed again and counts as deflated. */
	assert_int_equal(vmem_host_fault(r.h, 0, gfn, true, &fr), 0);
	check(&r);
	s = vmst(&r, 0);
	assert_int_equal(vmem_host_page_state(r.h, 0, gfn), VMEM_PG_RESIDENT);
	assert_int_equal(s.state[VMEM_PG_BALLOONED], 49);
	assert_int_equal(s.balloon_deflated, 1);
	assert_int_equal(s.faults_first, 14 + 1);   /* 10 data + 4 tables, then this one */
	done(&r);
}

static void test_deflate_on_oom(void **state)
{
	static const char *const kv[] = { "balloon", "test-knob", "balloon.rate", "1000",
					  "balloon.guest_swap", "0", "balloon.deflate_on_oom", "1",
					  NULL };
	static const char *const kv_no[] = { "balloon", "test-knob", "balloon.rate", "1000",
					     "balloon.guest_swap", "0", NULL };
	struct rig r = make(1, kv);
	struct vmem_trace_rec rec;
	struct vmem_host_balloon_info b;

	(void)state;
	touch(&r, 0, 0, 12);   /* 16 frames used, 496 free */
	knob[0] = 496;
	period(&r);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 0);
	/* No free frame and no guest swap: the driver deflates 256 pages
	 * (VIRTIO_BALLOON_OOM_NR_PAGES) and the fault takes one of them. */
	touch(&r, 0, 12, 1);
	b = info(&r, 0);
	assert_int_equal(b.size, 496 - 256);
	assert_int_equal(b.deflated_oom, 256);
	assert_int_equal(vmst(&r, 0).state[VMEM_PG_BALLOONED], 240);
	assert_int_equal(vmem_mmu_guest_free_pages(r.m, 0), 255);
	done(&r);

	/* Without deflate-on-OOM the same fault fails: guest memory exhausted. */
	r = make(1, kv_no);
	touch(&r, 0, 0, 12);
	period(&r);
	rec = mt_access(0, 1, BASE + 12 * 4096, VMEM_ACC_STORE);
	assert_int_equal(vmem_mmu_apply(r.m, &rec), VMEM_ENOSPACE);
	done(&r);
}

static void test_double_paging_is_counted(void **state)
{
	/* 64 host frames (256 KiB) for 2 MiB of guest: the host swaps most guest pages. */
	static const char *const kv[] = { "host.mem", "256k", "balloon", "test-knob",
					  "balloon.rate", "1000", NULL };
	struct rig r = make(1, kv);
	struct vmem_host_vm_stats s;

	(void)state;
	touch(&r, 0, 0, 200);   /* 204 frames in the guest, at most 64 on the host */
	s = vmst(&r, 0);
	assert_true(s.state[VMEM_PG_SWAPPED] > 100);
	/* 308 free guest frames, then 100 guest swap-outs; the guest reads each victim,
	 * and a victim the host swapped comes back from the host's swap first. */
	knob[0] = 408;
	period(&r);
	s = vmst(&r, 0);
	assert_int_equal(s.guest_swap_out, 100);
	assert_true(s.double_paging > 0);
	assert_true(s.double_paging <= 100);
	assert_true(s.faults_swapin >= s.double_paging);
	done(&r);
}

static void test_free_page_reporting(void **state)
{
	static const char *const kv[] = { "balloon.report", "1", NULL };
	struct rig r = make(1, kv);
	struct vmem_host_vm_stats s;
	struct vmem_trace_rec u;
	uint64_t untouched;

	(void)state;
	touch(&r, 0, 0, 50);
	untouched = vmst(&r, 0).state[VMEM_PG_UNTOUCHED];   /* 512 - 54 */
	assert_int_equal(untouched, 458);
	period(&r);   /* t = 0.1 s: the frees below happen after this period's run */
	u = mt_unmap(0, 1, BASE, 50 * 4096);
	mt_apply(r.m, &u);
	check(&r);
	s = vmst(&r, 0);
	assert_int_equal(s.guest_freed, 50);
	assert_int_equal(s.state[VMEM_PG_RESIDENT], 54);   /* still backed */
	/* 1.9 s later: not yet 2 s since the frees. */
	for (int i = 0; i < 19; i++)
		period(&r);
	assert_int_equal(vmst(&r, 0).state[VMEM_PG_RESIDENT], 54);
	/* 2.0 s: reported; the 50 frames go back to the host. */
	period(&r);
	s = vmst(&r, 0);
	assert_int_equal(s.state[VMEM_PG_RESIDENT], 4);
	assert_int_equal(s.state[VMEM_PG_UNTOUCHED], 458 + 50);
	assert_int_equal(info(&r, 0).reported, 50);
	/* The guest reuses them: first touches again (a zero page each). */
	touch(&r, 0, 0, 50);
	assert_int_equal(vmst(&r, 0).faults_first, 54 + 50);
	done(&r);
}

static void test_active_fraction_is_sampled(void **state)
{
	static const char *const kv[] = { "balloon", "test-knob", "balloon.samples", "50", NULL };
	struct rig r = make(2, kv);
	struct vmem_host_balloon_info a, b;

	(void)state;
	knob[0] = knob[1] = 0;
	touch(&r, 0, 0, 200);
	touch(&r, 1, 0, 200);
	/* VM 0 touches its pages every period, VM 1 never again. The TLB is emptied
	 * before each round, as a context switch without PCIDs would, so the walks set
	 * the accessed bits (a TLB hit does not). */
	for (int i = 0; i < 4; i++) {
		period(&r);
		vmem_mmu_flush_caches(r.m);
		touch(&r, 0, 0, 200);
	}
	period(&r);
	a = info(&r, 0);
	b = info(&r, 1);
	assert_int_equal(a.sampled, 50);
	assert_int_equal(a.touched, 50);
	assert_true(a.active > 0.99);
	assert_int_equal(b.touched, 0);
	/* VM 1's first estimate is 0 and so is every one after it: all three averages
	 * stay 0. */
	assert_true(b.active < 0.01);
	done(&r);
}

/* The lecture's story: host memory runs short, the idle VM's balloon inflates and the
 * busy VM keeps its memory (share-idle-tax, tau = 0.75). */
static void test_idle_vm_gives_memory_under_share_idle_tax(void **state)
{
	/* 512 host frames for two VMs of 512 pages; the policies aim for 200 per mille
	 * free: 512 * 200 / 1000 = 102 frames. */
	static const char *const kv[] = { "host.mem", "2m", "balloon", "share-idle-tax",
					  "balloon.free", "200", "balloon.samples", "50", NULL };
	struct rig r = make(2, kv);
	struct vmem_host_balloon_info a, b;
	struct vmem_host_vm_stats s0, s1;
	struct vmem_host_stats hs;

	(void)state;
	/* 100 pages each (104 frames each, 304 free): no shortfall yet. VM 0 keeps
	 * touching its pages (the TLB emptied before each round so the walks set the
	 * accessed bits), VM 1 does not: after three periods f = 1 and f = 0. */
	touch(&r, 0, 0, 100);
	touch(&r, 1, 0, 100);
	for (int i = 0; i < 3; i++) {
		period(&r);
		vmem_mmu_flush_caches(r.m);
		touch(&r, 0, 0, 100);
	}
	assert_int_equal(info(&r, 0).size + info(&r, 1).size, 0);
	/* 140 more pages each: 488 frames used, 24 free, 78 short of 102. VM 1 pays
	 * least per page (rho = S / (P * 4) against S / P), so its balloon takes it all,
	 * period after period, until its guest gives up pages it backed (swaps them). */
	touch(&r, 0, 100, 140);
	touch(&r, 1, 100, 140);
	for (int i = 0; i < 8; i++) {
		period(&r);
		vmem_mmu_flush_caches(r.m);
		touch(&r, 0, 0, 240);
	}
	a = info(&r, 0);
	b = info(&r, 1);
	s0 = vmst(&r, 0);
	s1 = vmst(&r, 1);
	vmem_host_stats(r.h, &hs);
	assert_true(a.active > 0.9);
	assert_true(b.active < 0.1);
	assert_int_equal(a.size, 0);
	assert_true(b.size > 0);
	assert_int_equal(s0.guest_swap_out, 0);
	assert_true(s1.guest_swap_out > 0);
	/* The busy VM kept all its pages on the host. */
	assert_int_equal(s0.state[VMEM_PG_RESIDENT], 244);
	assert_true(hs.frames_free >= 102 - 1);
	done(&r);
}

/* The pressure policy through the controller: a quiet VM's balloon grows a step a
 * period; refaults make it give back. */
static void test_pressure_loop_shrinks_quiet_vm_and_backs_off(void **state)
{
	/* step=100 per mille of 512 pages: 51 a period; min=100 keeps 51: at most 461. */
	static const char *const kv[] = { "balloon", "pressure:step=100", NULL };
	struct rig r = make(1, kv);

	(void)state;
	touch(&r, 0, 0, 100);   /* 104 host first touches: 520,000 stall cycles */
	/* Period 1 sees those stalls (over stall=250000): give back, from 0 to 0. */
	period(&r);
	assert_int_equal(info(&r, 0).size, 0);
	/* Quiet periods: 51 more each; 8 of them take the 408 free pages. */
	for (int i = 1; i <= 8; i++) {
		period(&r);
		assert_int_equal(info(&r, 0).size, 51 * (uint64_t)i);
	}
	assert_int_equal(vmst(&r, 0).guest_swap_out, 0);
	/* One more: 459, the guest swaps 51 of its pages out for it. */
	period(&r);
	assert_int_equal(info(&r, 0).size, 459);
	assert_int_equal(vmst(&r, 0).guest_swap_out, 51);
	/* The VM comes back to its 100 pages: major faults (refaults) far over 8, so the
	 * balloon gives back two steps, 102 pages. */
	touch(&r, 0, 0, 100);
	assert_true(vmst(&r, 0).guest_swap_in > 8);
	period(&r);
	assert_int_equal(info(&r, 0).size, 459 - 102);
	done(&r);
}

/* ---- the policies' targets, by hand ---- */

static void targets(const char *spec, const struct vmem_balloon_vm *vms, size_t n,
		    uint64_t host_frames, uint64_t free_target, uint64_t *out)
{
	struct vmem_host_config hc;
	struct vmem_host *h;
	char err[256];
	const struct vmem_balloon_policy_ops *ops;
	struct vmem_policy p = { 0 };
	struct vmem_policy_params pp = { 0 };
	char buf[160], *save = NULL, *tok, name[64];

	/* A host only to own the policy; the policy sees nothing of it here. */
	vmem_host_config_default(&hc);
	assert_int_equal(vmem_host_create(&hc, &h, err, sizeof(err)), 0);
	snprintf(buf, sizeof(buf), "%s", spec);
	tok = strtok_r(buf, ":", &save);
	snprintf(name, sizeof(name), "%s", tok);
	while ((tok = strtok_r(NULL, ":", &save))) {
		char *eq = strchr(tok, '=');

		*eq = 0;
		pp.key[pp.n] = tok;
		pp.value[pp.n++] = eq + 1;
	}
	ops = vmem_balloon_policy_find(name);
	assert_non_null(ops);
	p.host = h;
	if (ops->init(&p, &pp, err, sizeof(err)))
		fail_msg("%s", err);
	ops->targets(&p, vms, n, host_frames, free_target, out);
	if (ops->fini)
		ops->fini(&p);
	vmem_host_destroy(h);
}

static void test_static_targets(void **state)
{
	struct vmem_balloon_vm v[2] = {
		{ .vm = 0, .shares = 1000, .pages = 1000, .resident = 500 },
		{ .vm = 1, .shares = 1000, .pages = 300, .resident = 300 },
	};
	uint64_t t[2];
	static const char *const kv[] = { "balloon", "static:percent=25", "balloon.rate",
					  "1000", NULL };
	struct rig r;

	(void)state;
	/* pages=400: 400 each, capped at the VM's 300 pages. */
	targets("static:pages=400", v, 2, 10000, 0, t);
	assert_int_equal(t[0], 400);
	assert_int_equal(t[1], 300);
	/* percent=25: 250 and 75. */
	targets("static:percent=25", v, 2, 10000, 0, t);
	assert_int_equal(t[0], 250);
	assert_int_equal(t[1], 75);
	/* Through the controller: 25 % of 512 pages = 128 after one period. */
	r = make(1, kv);
	touch(&r, 0, 0, 10);
	period(&r);
	assert_int_equal(info(&r, 0).size, 128);
	assert_int_equal(info(&r, 0).target, 128);
	assert_int_equal(vmst(&r, 0).state[VMEM_PG_BALLOONED], 128);
	done(&r);
}

static void test_proportional_targets(void **state)
{
	/* Host 1000 frames, free target 100: 900 to divide. Shares 2000 : 1000 give
	 * entitlements 600 and 300. */
	struct vmem_balloon_vm v[2] = {
		{ .vm = 0, .shares = 2000, .pages = 1000, .resident = 700, .balloon = 10 },
		{ .vm = 1, .shares = 1000, .pages = 1000, .resident = 300, .balloon = 20 },
	};
	uint64_t t[2];

	(void)state;
	/* Resident 700 + 300: 0 free, shortfall 100. VM 0 is 100 over its 600, VM 1 at
	 * its 300: all 100 from VM 0. */
	targets("proportional", v, 2, 1000, 100, t);
	assert_int_equal(t[0], 10 + 100);
	assert_int_equal(t[1], 20);
	/* Resident 650 + 320 (30 free, shortfall 70): excesses 50 and 20, so the 70 splits
	 * 50 : 20. */
	v[0].resident = 650;
	v[1].resident = 320;
	targets("proportional", v, 2, 1000, 100, t);
	assert_int_equal(t[0], 10 + 50);
	assert_int_equal(t[1], 20 + 20);
	/* Resident 400 + 200 (400 free, surplus 300): given back 2 : 1, 200 and 100, at
	 * most the balloons (10 and 20). */
	v[0].resident = 400;
	v[1].resident = 200;
	targets("proportional", v, 2, 1000, 100, t);
	assert_int_equal(t[0], 0);
	assert_int_equal(t[1], 0);
}

static void test_share_idle_tax_worked_example(void **state)
{
	/*
	 * Two VMs with equal shares S = 1000 and P = 1000 pages each; VM 0 is mostly idle
	 * (f = 0.1), VM 1 mostly active (f = 0.9). With tau = 0.75, k = 1 / (1 - 0.75) = 4:
	 *   rho_0 = 1000 / (1000 * (0.1 + 4 * 0.9)) = 1 / 3.7 = 0.270
	 *   rho_1 = 1000 / (1000 * (0.9 + 4 * 0.1)) = 1 / 1.3 = 0.769
	 * VM 0 pays less per page, so reclaim starts there, and stays there until
	 * P_0 * 3.7 = P_1 * 1.3, i.e. P_0 = 1300 / 3.7 = 351.4 with P_1 = 1000.
	 *  - Shortfall 500 (host 2100 frames, 2000 used, free target 600): P_0 = 500 still
	 *    has rho_0 = 1 / 1.85 = 0.541 < 0.769, so all 500 come from VM 0.
	 *  - Shortfall 800 (free target 900): both give. P_0 + P_1 = 1200 with
	 *    P_0 * 3.7 = P_1 * 1.3 gives P_1 = 1200 * 3.7 / 5 = 888, P_0 = 312: VM 0 gives
	 *    688, VM 1 gives 112 (the page-by-page greedy lands within a page of it).
	 *  - tau = 0 (k = 1, plain shares): rho = S / P, equal shares and sizes, so the
	 *    800 split evenly, 400 each.
	 */
	struct vmem_balloon_vm v[2] = {
		{ .vm = 0, .shares = 1000, .pages = 2000, .resident = 1000, .active = 0.1 },
		{ .vm = 1, .shares = 1000, .pages = 2000, .resident = 1000, .active = 0.9 },
	};
	uint64_t t[2];

	(void)state;
	targets("share-idle-tax", v, 2, 2100, 600, t);
	assert_int_equal(t[0], 500);
	assert_int_equal(t[1], 0);
	targets("share-idle-tax:tax=0.75", v, 2, 2100, 900, t);
	assert_int_equal(t[0] + t[1], 800);
	assert_in_range(t[0], 687, 689);
	assert_in_range(t[1], 111, 113);
	targets("share-idle-tax:tax=0", v, 2, 2100, 900, t);
	assert_int_equal(t[0], 400);
	assert_int_equal(t[1], 400);
	/* More shares buy more memory: VM 1 with 3000 shares, both idle alike (f = 0.5,
	 * k = 4: f + k(1 - f) = 2.5). rho_0 = 1000 / (P_0 * 2.5), rho_1 = 3000 / (P_1 * 2.5):
	 * equal when P_1 = 3 P_0. Shortfall 800 leaves 1200 = 300 + 900: VM 0 gives 700,
	 * VM 1 gives 100. */
	v[0].active = v[1].active = 0.5;
	v[1].shares = 3000;
	targets("share-idle-tax", v, 2, 2100, 900, t);
	assert_in_range(t[0], 699, 701);
	assert_in_range(t[1], 99, 101);
	/* A surplus goes back to the balloons, highest rho first: VM 0 (balloon 100,
	 * P = 1900) and VM 1 (balloon 100, P = 1900, three times the shares) with 50 free
	 * beyond the target: all 50 to VM 1. */
	v[0].balloon = v[1].balloon = 100;
	v[0].resident = v[1].resident = 500;
	targets("share-idle-tax", v, 2, 1100, 50, t);
	assert_int_equal(t[0], 100);
	assert_int_equal(t[1], 50);
}

static void test_pressure_direction(void **state)
{
	/* step=10 per mille of 1000 pages = 10 a period; back=2: 20 back. */
	struct vmem_balloon_vm v[3] = {
		{ .vm = 0, .pages = 1000, .balloon = 100 },                      /* quiet */
		{ .vm = 1, .pages = 1000, .balloon = 100, .refaults = 50 },      /* refaults */
		{ .vm = 2, .pages = 1000, .balloon = 100, .stall_cycles = 1000000 },  /* stalls */
	};
	uint64_t t[3];

	(void)state;
	targets("pressure", v, 3, 10000, 0, t);
	assert_int_equal(t[0], 110);   /* quiet: shrink the VM further */
	assert_int_equal(t[1], 80);    /* pressure: give back */
	assert_int_equal(t[2], 80);
	/* A quiet VM stops at min=100 per mille kept: balloon at most 900. */
	v[0].balloon = 895;
	targets("pressure", v, 3, 10000, 0, t);
	assert_int_equal(t[0], 900);
	/* Looser targets: 50 refaults a period are fine with refaults=64. */
	targets("pressure:refaults=64:step=20", v, 3, 10000, 0, t);
	assert_int_equal(t[1], 120);
}

static void test_policies_registered_and_checked(void **state)
{
	struct vmem_host_config hc;
	struct vmem_host *h;
	char err[256];

	(void)state;
	assert_non_null(vmem_balloon_policy_find("static"));
	assert_non_null(vmem_balloon_policy_find("proportional"));
	assert_non_null(vmem_balloon_policy_find("share-idle-tax"));
	assert_non_null(vmem_balloon_policy_find("pressure"));
	vmem_host_config_default(&hc);
	assert_int_equal(vmem_host_config_set(&hc, "balloon", "share-idle-tax:tax=1.5", err,
					      sizeof(err)), 0);
	assert_int_equal(vmem_host_create(&hc, &h, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "tax"));
	assert_int_equal(vmem_host_config_set(&hc, "balloon", "static:pages=1:percent=2", err,
					      sizeof(err)), 0);
	assert_int_equal(vmem_host_create(&hc, &h, err, sizeof(err)), VMEM_EINVAL);
	assert_int_equal(vmem_host_config_set(&hc, "balloon", "pressure:speed=3", err,
					      sizeof(err)), 0);
	assert_int_equal(vmem_host_create(&hc, &h, err, sizeof(err)), VMEM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_takes_free_pages_before_guest_reclaim),
		cmocka_unit_test(test_victims_in_another_address_space_nested),
		cmocka_unit_test(test_victims_in_another_address_space_shadow),
		cmocka_unit_test(test_deflate_returns_pages_to_the_guest),
		cmocka_unit_test(test_touch_of_a_ballooned_page_deflates_it),
		cmocka_unit_test(test_deflate_on_oom),
		cmocka_unit_test(test_double_paging_is_counted),
		cmocka_unit_test(test_free_page_reporting),
		cmocka_unit_test(test_active_fraction_is_sampled),
		cmocka_unit_test(test_idle_vm_gives_memory_under_share_idle_tax),
		cmocka_unit_test(test_pressure_loop_shrinks_quiet_vm_and_backs_off),
		cmocka_unit_test(test_static_targets),
		cmocka_unit_test(test_proportional_targets),
		cmocka_unit_test(test_share_idle_tax_worked_example),
		cmocka_unit_test(test_pressure_direction),
		cmocka_unit_test(test_policies_registered_and_checked),
	};

	vmem_balloon_policy_register(&knob_ops);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
