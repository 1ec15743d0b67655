/*
 * The KSM model (ksm-dedup/ksm.c) on the host memory manager: which pages merge, what a
 * write does to them, max_page_sharing chains, the merge scope, zero pages, volatile and
 * skipped pages, the scan rate, the advisor, and a merged page written through a
 * translation machine.
 *
 * Facts the expected values rest on:
 *  - host.cpu_hz = 2.5 GHz: 2,500,000 cycles a millisecond. A batch of pages_to_scan pages
 *    runs at every multiple of sleep_millisecs after the host's creation (time 0).
 *  - A batch looks at pages_to_scan present (resident or shared) pages; the call that
 *    finds the end of a full scan ends the batch, and the next batch starts a new full
 *    scan. With fewer present pages than pages_to_scan, each batch is one full scan.
 *  - A page's first look only takes its checksum (volatile); from its second look on, an
 *    unchanged page is looked up in the stable index, then in the unstable one (a miss
 *    inserts it). So pages first merge in the second full scan.
 *  - pages_shared = KSM pages; pages_sharing = their mappers - pages_shared;
 *    general_profit = (pages_sharing + ksm_zero_pages) * 4096 - 64 * records, where a
 *    record exists for every page looked at that is still resident or shared.
 *  - Contents here come from vmem_host_set_content (content records), which a write does
 *    not change: a page written keeps its content until a new record sets one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>

#include "host/host_internal.h"
#include "mmu_testlib.h"

#define MS 2500000ull   /* cycles per millisecond at the default host.cpu_hz */

static struct vmem_host *make(const char *dedup, const char *const *kv)
{
	struct vmem_host_config c;
	struct vmem_host *h;
	char err[256];

	vmem_host_config_default(&c);
	assert_int_equal(vmem_host_config_set(&c, "host.mem", "1m", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&c, "swap", "none", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&c, "content.zero", "0", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&c, "content.image", "0", err, sizeof(err)),
			 0);
	if (vmem_host_config_set(&c, "dedup", dedup, err, sizeof(err)))
		fail_msg("%s", err);
	for (; kv && kv[0]; kv += 2)
		if (vmem_host_config_set(&c, kv[0], kv[1], err, sizeof(err)))
			fail_msg("%s", err);
	if (vmem_host_create(&c, &h, err, sizeof(err)))
		fail_msg("%s", err);
	return h;
}

/* A KSM counter (white-box: the host's dedup policy slot). */
static double st(struct vmem_host *h, const char *name)
{
	double v = -1;

	if (h->dedup_ops->stat(&h->dedup.p, name, &v))
		fail_msg("no counter %s", name);
	return v;
}

/* The manager's invariants, and the KSM books against the manager's: one KSM page per
 * shared frame, and one mapper per shared guest page. */
static void check(struct vmem_host *h)
{
	struct vmem_host_stats hs;
	uint64_t shared_pages = 0;
	const uint16_t *ids;
	size_t n;
	char err[256];

	if (vmem_host_check(h, err, sizeof(err)))
		fail_msg("invariant: %s", err);
	vmem_host_stats(h, &hs);
	ids = vmem_host_vms(h, &n);
	for (size_t i = 0; i < n; i++) {
		struct vmem_host_vm_stats s;

		vmem_host_vm_stats(h, ids[i], &s);
		shared_pages += s.state[VMEM_PG_SHARED];
	}
	assert_int_equal((uint64_t)st(h, "pages_shared"), hs.frames_shared);
	assert_int_equal((uint64_t)(st(h, "pages_shared") + st(h, "pages_sharing")),
			 shared_pages);
}

/* Advances the clock to `ms` milliseconds after creation. */
static void at(struct vmem_host *h, uint64_t ms)
{
	assert_true(ms * MS >= vmem_host_now(h));
	assert_int_equal(vmem_host_advance(h, ms * MS - vmem_host_now(h)), 0);
	check(h);
}

static uint64_t fault(struct vmem_host *h, uint16_t vm, uint64_t gfn, bool write)
{
	struct vmem_host_fault_result r;

	if (vmem_host_fault(h, vm, gfn, write, &r))
		fail_msg("fault: %s", vmem_host_error(h));
	check(h);
	return r.cycles;
}

/* Faults page gfn in (a read) and gives it content hash (0 with zero: a zero page). */
static void page(struct vmem_host *h, uint16_t vm, uint64_t gfn, uint64_t hash)
{
	if (vmem_host_page_state(h, vm, gfn) == VMEM_PG_UNTOUCHED)
		fault(h, vm, gfn, false);
	assert_int_equal(vmem_host_set_content(h, vm, gfn, hash, hash == 0, 7), 0);
	check(h);
}

static uint64_t frames_used(struct vmem_host *h)
{
	struct vmem_host_stats hs;

	vmem_host_stats(h, &hs);
	return hs.frames - hs.frames_free;
}

static void test_ksm_merges_exactly_the_duplicates_and_a_write_breaks_one(void **state)
{
	struct vmem_host *h = make("ksm", NULL);
	struct vmem_host_vm_stats s;
	struct vmem_host_page p0, p2;

	(void)state;
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	/* Pages 0-2 hold A, 3-4 hold B, 5-7 unique: 8 frames. */
	for (uint64_t g = 0; g < 3; g++)
		page(h, 0, g, 0xa);
	page(h, 0, 3, 0xb);
	page(h, 0, 4, 0xb);
	page(h, 0, 5, 0xc5);
	page(h, 0, 6, 0xc6);
	page(h, 0, 7, 0xc7);
	assert_int_equal(frames_used(h), 8);
	/* Nothing before the first batch at 20 ms. */
	at(h, 19);
	assert_int_equal(st(h, "pages_scanned"), 0);
	/* 20 ms: full scan 1 looks at the 8 pages: checksums only, all volatile. */
	at(h, 20);
	assert_int_equal(st(h, "full_scans"), 1);
	assert_int_equal(st(h, "pages_scanned"), 8);
	assert_int_equal(st(h, "ksm_rmap_items"), 8);
	assert_int_equal(st(h, "pages_volatile"), 8);
	assert_int_equal(st(h, "pages_shared"), 0);
	/* 40 ms: full scan 2. Page 0 goes to the unstable tree, page 1 finds it there: a
	 * KSM page (page 0's frame) with 2 mappers; page 2 finds it in the stable tree (3
	 * mappers). Page 3 unstable, page 4 makes a second KSM page. Pages 5-7 unstable. */
	at(h, 40);
	assert_int_equal(st(h, "full_scans"), 2);
	assert_int_equal(st(h, "pages_scanned"), 16);
	assert_int_equal(st(h, "pages_shared"), 2);
	assert_int_equal(st(h, "pages_sharing"), 3);     /* (3 - 1) + (2 - 1) */
	assert_int_equal(st(h, "pages_unshared"), 3);
	assert_int_equal(st(h, "pages_volatile"), 0);    /* 8 - 2 - 3 - 3 */
	assert_int_equal(frames_used(h), 5);             /* 8 - 3 saved */
	/* 3 pages saved, 8 records of 64 bytes. */
	assert_int_equal(st(h, "general_profit"), 3 * 4096 - 8 * 64);
	vmem_host_page(h, 0, 0, &p0);
	vmem_host_page(h, 0, 2, &p2);
	assert_int_equal(p0.state, VMEM_PG_SHARED);
	assert_int_equal(p0.frame, p2.frame);
	assert_int_equal(p0.refs, 3);
	/* All of it is VM 0's: its dedup_profit is the general profit. */
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.dedup_profit, 3 * 4096 - 8 * 64);
	assert_int_equal(st(h, "vm.0.profit"), 3 * 4096 - 8 * 64);
	assert_int_equal(st(h, "vm.0.ksm_merging_pages"), 5);
	/* A read of a merged page stays shared; a write costs a copy-on-write break
	 * (host.cost.cow = 5000) and leaves A's KSM page with 2 mappers. */
	assert_int_equal(fault(h, 0, 2, false), 0);
	assert_int_equal(fault(h, 0, 2, true), 5000);
	assert_int_equal(vmem_host_page_state(h, 0, 2), VMEM_PG_RESIDENT);
	assert_int_equal(st(h, "pages_shared"), 2);
	assert_int_equal(st(h, "pages_sharing"), 2);
	assert_int_equal(st(h, "pages_volatile"), 1);    /* page 2: in no tree now */
	assert_int_equal(frames_used(h), 6);
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.faults_cow, 1);
	/* Writes to both other mappers of A: its KSM page has none left and goes, frame
	 * and node; B's stays. */
	fault(h, 0, 0, true);
	assert_int_equal(st(h, "pages_shared"), 2);      /* page 1 still maps it */
	assert_int_equal(st(h, "pages_sharing"), 1);
	fault(h, 0, 1, true);
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 1);
	assert_int_equal(frames_used(h), 7);
	/* The guest wrote a new content to page 2. 60 ms, full scan 3: pages 0 and 1 are
	 * unchanged A (merge again: a new KSM page), page 2 changed (volatile), 3-4 are
	 * shared, 5-7 back into the unstable tree (emptied when the scan started). */
	page(h, 0, 2, 0xd);
	at(h, 60);
	assert_int_equal(st(h, "pages_shared"), 2);
	assert_int_equal(st(h, "pages_sharing"), 2);
	assert_int_equal(st(h, "pages_unshared"), 3);
	assert_int_equal(st(h, "pages_volatile"), 1);
	assert_int_equal(frames_used(h), 6);
	vmem_host_destroy(h);
}

static void test_ksm_max_page_sharing_makes_chains_of_dups(void **state)
{
	struct vmem_host *h = make("ksm:max_page_sharing=2", NULL);

	(void)state;
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	for (uint64_t g = 0; g < 5; g++)
		page(h, 0, g, 0xa);
	at(h, 40);
	/* Full scan 2: 0 unstable; 1 merges with it (KSM page X, 2 mappers: full); 2 finds
	 * X full and goes to the unstable tree; 3 merges with 2 (KSM page Y: X and Y are the
	 * dups of one chain); 4 finds both full and waits in the unstable tree. */
	assert_int_equal(st(h, "pages_shared"), 2);
	assert_int_equal(st(h, "pages_sharing"), 2);
	assert_int_equal(st(h, "pages_unshared"), 1);
	assert_int_equal(st(h, "stable_node_chains"), 1);
	assert_int_equal(st(h, "stable_node_dups"), 2);
	assert_int_equal(frames_used(h), 3);             /* X, Y and page 4's */
	/* Writes to 0 and 1 empty X: the chain is down to Y, a plain node again. */
	fault(h, 0, 0, true);
	assert_int_equal(st(h, "stable_node_chains"), 1);
	fault(h, 0, 1, true);
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 1);
	assert_int_equal(st(h, "stable_node_chains"), 0);
	assert_int_equal(st(h, "stable_node_dups"), 0);
	/* Full scan 3: 0 finds Y full, waits; 1 merges with it: KSM page Z, a chain again;
	 * 4 waits. */
	at(h, 60);
	assert_int_equal(st(h, "pages_shared"), 2);
	assert_int_equal(st(h, "pages_sharing"), 2);
	assert_int_equal(st(h, "pages_unshared"), 1);
	assert_int_equal(st(h, "stable_node_chains"), 1);
	assert_int_equal(st(h, "stable_node_dups"), 2);
	assert_int_equal(frames_used(h), 3);
	vmem_host_destroy(h);
}

/* Two VMs: page 0 of each holds A, page 1 of each B, and VM 0's page 2 B too. */
static struct vmem_host *two_vms(const char *dedup)
{
	struct vmem_host *h = make(dedup, NULL);

	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	vmem_host_add_vm(h, 1, 16 << 12, 1000);
	page(h, 0, 0, 0xa);
	page(h, 0, 1, 0xb);
	page(h, 0, 2, 0xb);
	page(h, 1, 0, 0xa);
	page(h, 1, 1, 0xb);
	at(h, 40);
	return h;
}

static void test_ksm_scope_vm_keeps_vms_apart_and_all_merges_across(void **state)
{
	struct vmem_host *h = two_vms("ksm");
	struct vmem_host_vm_stats s0, s1;

	(void)state;
	/* scope=vm: only VM 0's two B pages merge; the other three wait unstable. */
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 1);
	assert_int_equal(st(h, "pages_unshared"), 3);
	vmem_host_destroy(h);

	/* scope=all: VM 0's B pages merge (X); VM 1's A meets VM 0's A in the unstable
	 * tree (Y); VM 1's B finds X in the stable tree (3 mappers). */
	h = two_vms("ksm:scope=all");
	assert_int_equal(st(h, "pages_shared"), 2);
	assert_int_equal(st(h, "pages_sharing"), 3);
	assert_int_equal(st(h, "pages_unshared"), 0);
	assert_int_equal(frames_used(h), 2);
	assert_int_equal(st(h, "vm.0.ksm_merging_pages"), 3);
	assert_int_equal(st(h, "vm.1.ksm_merging_pages"), 2);
	/* The kernel's per-process profit counts every mapper: 3 and 2 pages. */
	assert_int_equal(st(h, "vm.0.ksm_process_profit"), 3 * 4096 - 3 * 64);
	assert_int_equal(st(h, "vm.1.ksm_process_profit"), 2 * 4096 - 2 * 64);
	/* The fair split: X saves 2 frames over 3 mappers (VM 0 has 2 of them: 4/3, VM 1
	 * 2/3), Y 1 frame over 2 (1/2 each). VM 0: 11/6 * 4096 = 7509.33 -> 7509, minus 3
	 * records; VM 1: 7/6 * 4096 = 4778.67 -> 4779, minus 2. They add up to the
	 * general profit, 3 * 4096 - 5 * 64 = 11968. */
	assert_int_equal(st(h, "vm.0.profit"), 7509 - 3 * 64);
	assert_int_equal(st(h, "vm.1.profit"), 4779 - 2 * 64);
	assert_int_equal(st(h, "general_profit"), 11968);
	vmem_host_vm_stats(h, 0, &s0);
	vmem_host_vm_stats(h, 1, &s1);
	assert_int_equal(s0.dedup_profit, 7509 - 3 * 64);
	assert_int_equal(s1.dedup_profit, 4779 - 2 * 64);
	vmem_host_destroy(h);
}

static void test_ksm_scope_domain_merges_within_a_trust_domain(void **state)
{
	struct vmem_host *h = make("ksm:scope=domain:domain_vms=2", NULL);

	(void)state;
	/* VMs 0 and 1 form domain 0, VM 2 domain 1; page 0 of each holds A. */
	for (uint16_t vm = 0; vm < 3; vm++) {
		vmem_host_add_vm(h, vm, 16 << 12, 1000);
		page(h, vm, 0, 0xa);
	}
	at(h, 40);
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 1);
	assert_int_equal(st(h, "pages_unshared"), 1);    /* VM 2's, alone in its domain */
	assert_int_equal(vmem_host_page_state(h, 2, 0), VMEM_PG_RESIDENT);
	vmem_host_destroy(h);
}

static void test_ksm_use_zero_pages_maps_zero_pages_onto_the_zero_page(void **state)
{
	struct vmem_host *h = make("ksm:use_zero_pages=1", NULL);

	(void)state;
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	for (uint64_t g = 0; g < 3; g++)
		page(h, 0, g, 0);
	page(h, 0, 3, 0xa);
	page(h, 0, 4, 0xa);
	at(h, 40);
	/* Pages 0-2 go to the zero page (no KSM page, records freed); 3-4 merge. */
	assert_int_equal(st(h, "ksm_zero_pages"), 3);
	assert_int_equal(st(h, "vm.0.ksm_zero_pages"), 3);
	assert_int_equal(vmem_host_page_state(h, 0, 1), VMEM_PG_ZERO);
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 1);
	assert_int_equal(st(h, "ksm_rmap_items"), 2);
	assert_int_equal(frames_used(h), 1);
	assert_int_equal(st(h, "general_profit"), (1 + 3) * 4096 - 2 * 64);
	/* A write to a zero page gives it a frame again: one zero page fewer. */
	assert_int_equal(fault(h, 0, 1, true), 5000);
	assert_int_equal(st(h, "ksm_zero_pages"), 2);
	vmem_host_destroy(h);

	/* Without use_zero_pages the zero pages merge like any content: one KSM page with 3
	 * mappers, and A's with 2. */
	h = make("ksm", NULL);
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	for (uint64_t g = 0; g < 3; g++)
		page(h, 0, g, 0);
	page(h, 0, 3, 0xa);
	page(h, 0, 4, 0xa);
	at(h, 40);
	assert_int_equal(st(h, "ksm_zero_pages"), 0);
	assert_int_equal(st(h, "pages_shared"), 2);
	assert_int_equal(st(h, "pages_sharing"), 3);
	assert_int_equal(frames_used(h), 2);
	vmem_host_destroy(h);
}

static void test_ksm_volatile_pages_wait_for_a_stable_checksum(void **state)
{
	struct vmem_host *h = make("ksm", NULL);

	(void)state;
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	page(h, 0, 0, 0xa);
	page(h, 0, 1, 0xa);
	at(h, 20);
	/* Page 1 changes between full scans 1 and 2: in scan 2 its checksum differs from
	 * the one scan 1 took, so it is volatile and page 0 waits alone. */
	page(h, 0, 1, 0xb);
	at(h, 40);
	assert_int_equal(st(h, "pages_shared"), 0);
	assert_int_equal(st(h, "pages_unshared"), 1);
	assert_int_equal(st(h, "pages_volatile"), 1);
	/* It changes back to A before scan 3: volatile again (its last checksum was B). */
	page(h, 0, 1, 0xa);
	at(h, 60);
	assert_int_equal(st(h, "pages_shared"), 0);
	assert_int_equal(st(h, "pages_volatile"), 1);
	/* Scan 4: unchanged since scan 3: merges. */
	at(h, 80);
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 1);
	assert_int_equal(st(h, "pages_volatile"), 0);
	vmem_host_destroy(h);
}

static void test_ksm_smart_scan_skips_pages_that_never_merge(void **state)
{
	struct vmem_host *h = make("ksm", NULL);

	(void)state;
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	page(h, 0, 0, 0xa);   /* unique: never merges */
	/* One full scan per batch. Looks with the age before each: scans 1-3 (ages 0-2)
	 * look; scan 4 (age 3) looks and allows 1 skip; scan 5 skips; scan 6 (age 5) looks
	 * and allows 2; scans 7-8 skip; scan 9 (age 8) looks and allows 4. */
	at(h, 9 * 20);
	assert_int_equal(st(h, "full_scans"), 9);
	assert_int_equal(st(h, "pages_scanned"), 6);
	assert_int_equal(st(h, "pages_skipped"), 3);
	/* Scans 10-13 skip; scan 14 (age 13) looks and allows 8. */
	at(h, 14 * 20);
	assert_int_equal(st(h, "pages_scanned"), 7);
	assert_int_equal(st(h, "pages_skipped"), 7);
	vmem_host_destroy(h);

	/* smart_scan=0: every full scan looks. */
	h = make("ksm:smart_scan=0", NULL);
	vmem_host_add_vm(h, 0, 16 << 12, 1000);
	page(h, 0, 0, 0xa);
	at(h, 9 * 20);
	assert_int_equal(st(h, "pages_scanned"), 9);
	assert_int_equal(st(h, "pages_skipped"), 0);
	vmem_host_destroy(h);
}

static void test_ksm_scans_pages_to_scan_every_sleep_millisecs(void **state)
{
	struct vmem_host *h = make("ksm:pages_to_scan=7:sleep_millisecs=10", NULL);

	(void)state;
	vmem_host_add_vm(h, 0, 256 << 12, 1000);
	for (uint64_t g = 0; g < 200; g++)
		page(h, 0, g, 0x1000 + g);
	/* After N ms: 7 * floor(N / 10) pages, in steps of any size. */
	at(h, 4);
	assert_int_equal(st(h, "pages_scanned"), 0);
	at(h, 15);
	assert_int_equal(st(h, "pages_scanned"), 7);
	at(h, 35);
	assert_int_equal(st(h, "pages_scanned"), 21);
	at(h, 280);
	assert_int_equal(st(h, "pages_scanned"), 196);
	assert_int_equal(st(h, "full_scans"), 0);
	/* 290 ms: the last 4 pages, then the end of the full scan ends the batch. */
	at(h, 290);
	assert_int_equal(st(h, "pages_scanned"), 200);
	assert_int_equal(st(h, "full_scans"), 1);
	/* Untouched pages cost nothing: 300 ms starts scan 2 with 7 pages. */
	at(h, 300);
	assert_int_equal(st(h, "pages_scanned"), 207);
	/* The modelled CPU: cost_scan = 2500 cycles a page. */
	assert_int_equal(st(h, "cpu_cycles"), 207 * 2500);
	vmem_host_destroy(h);
}

static void test_ksm_advisor_moves_pages_to_scan_toward_the_target(void **state)
{
	struct vmem_host *h = make("ksm:advisor_mode=scan-time:advisor_min_pages_to_scan=10:"
				   "advisor_target_scan_time=1:sleep_millisecs=100:cost_scan=250000",
				   NULL);

	(void)state;
	vmem_host_add_vm(h, 0, 256 << 12, 1000);
	for (uint64_t g = 0; g < 200; g++)
		page(h, 0, g, 0x1000 + g);
	/* It starts from advisor_min_pages_to_scan. */
	assert_int_equal(st(h, "pages_to_scan"), 10);
	/* Full scan 1: 200 pages at 10 a batch, batches 1-20 (100 .. 2000 ms); batch 21
	 * (2100 ms) ends it. scan_time = 2000 ms -> 2 s. CPU: 200 x 0.1 ms = 20 ms ->
	 * 20 * 100 / 2000 = 1 %. factor = 1 * 100 / 2 = 50; change = 100 % smoothed from 0:
	 * 30. pages = 10 * 100 / 50 = 20, * 30 / 100 = 6. Per 1 % of CPU: 10 / 1 = 10 pages,
	 * so at most 10 * 70 = 700 and at least 10 * 10 = 100: 100. */
	at(h, 2000);
	assert_int_equal(st(h, "pages_to_scan"), 10);
	at(h, 2100);
	assert_int_equal(st(h, "full_scans"), 1);
	assert_int_equal(st(h, "pages_to_scan"), 100);
	/* Full scan 2 starts at 2200 ms: 100 + 100 pages, ended by the batch at 2400 ms.
	 * scan_time 200 ms -> 0 -> 1 s; CPU 20 ms -> 2 %. factor 100; change =
	 * 1 * 100 / 2 = 50, smoothed (70 * 30 + 30 * 50) / 100 = 36. pages = 100 * 36 / 100
	 * = 36; per 1 %: 100 / 2 = 50 pages, so at least 500 (below the 30000 cap). */
	at(h, 2400);
	assert_int_equal(st(h, "full_scans"), 2);
	assert_int_equal(st(h, "pages_to_scan"), 500);
	vmem_host_destroy(h);
}

/* The books after every step of a seeded mix of reads, writes, new contents, balloon
 * takes and time: the manager's invariants, one KSM page per shared frame, one mapper per
 * shared page, the VMs' merging pages adding up to the mappers and their profits to the
 * general profit. */
static void test_ksm_books_hold_after_every_step_of_a_random_mix(void **state)
{
	struct vmem_host *h = make("ksm:scope=all:max_page_sharing=3:use_zero_pages=1:"
				   "pages_to_scan=40:sleep_millisecs=1", NULL);
	uint64_t x = 12345, ms = 0;

	(void)state;
	for (uint16_t vm = 0; vm < 3; vm++)
		vmem_host_add_vm(h, vm, 64 << 12, 1000);
	for (int step = 0; step < 4000; step++) {
		uint16_t vm;
		uint64_t gfn, r;
		double profit = 0, merging = 0;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		r = x >> 33;
		vm = (uint16_t)(r % 3);
		gfn = (r >> 2) % 64;
		switch ((r >> 8) % 8) {
		case 0:
		case 1:
			fault(h, vm, gfn, false);
			break;
		case 2:
			fault(h, vm, gfn, true);
			break;
		case 3:
		case 4:
			/* The guest writes one of few contents, so that many pages match
			 * (0: zeros); the write breaks any sharing first. */
			fault(h, vm, gfn, true);
			page(h, vm, gfn, (r >> 12) % 6);
			break;
		case 5:
			if (vmem_host_page_state(h, vm, gfn) != VMEM_PG_BALLOONED)
				host_balloon_take(h, h->vm_by_id[vm], gfn);
			check(h);
			break;
		default:
			at(h, ++ms);
			break;
		}
		for (uint16_t v = 0; v < 3; v++) {
			char name[32];

			snprintf(name, sizeof(name), "vm.%u.profit", v);
			profit += st(h, name);
			snprintf(name, sizeof(name), "vm.%u.ksm_merging_pages", v);
			merging += st(h, name);
		}
		assert_true(fabs(profit - st(h, "general_profit")) <= 3);
		assert_int_equal((uint64_t)merging,
				 (uint64_t)(st(h, "pages_shared") + st(h, "pages_sharing")));
		assert_true(st(h, "stable_node_dups") >= 2 * st(h, "stable_node_chains"));
	}
	/* The mix did merge, into chains and onto the zero page. */
	assert_true(st(h, "full_scans") > 10);
	assert_true(st(h, "stable_node_chains") + st(h, "ksm_zero_pages") > 0);
	vmem_host_destroy(h);
}

static void test_ksm_parameters_are_checked(void **state)
{
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{ "ksm:pages=1", "policy ksm has no parameter 'pages'" },
		{ "ksm:max_page_sharing=1", "max_page_sharing=1 is outside 2.." },
		{ "ksm:use_zero_pages=2", "use_zero_pages=2 is outside 0..1" },
		{ "ksm:smart_scan=yes", "smart_scan=yes: expected a whole number" },
		{ "ksm:sleep_millisecs=0", "sleep_millisecs=0 is outside" },
		{ "ksm:scope=world", "scope=world: expected vm, domain or all" },
		{ "ksm:domain_vms=2", "domain_vms applies with scope=domain only" },
		{ "ksm:advisor_mode=fast", "advisor_mode=fast: expected none or scan-time" },
		{ "ksm:advisor_max_cpu=50", "apply with advisor_mode=scan-time only" },
		{ "ksm:advisor_mode=scan-time:advisor_max_cpu=101", "advisor_max_cpu=101 is "
		  "outside 1..100" },
		{ "ksm:advisor_mode=scan-time:pages_to_scan=5", "pages_to_scan is set by the "
		  "advisor" },
		{ "ksm:advisor_mode=scan-time:advisor_min_pages_to_scan=600:"
		  "advisor_max_pages_to_scan=500", "advisor_min_pages_to_scan=600 is above" },
	};
	struct vmem_host_config c;
	struct vmem_host *h;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vmem_host_config_default(&c);
		assert_int_equal(vmem_host_config_set(&c, "host.mem", "1m", err, sizeof(err)), 0);
		assert_int_equal(vmem_host_config_set(&c, "dedup", bad[i].spec, err,
						      sizeof(err)), 0);
		assert_int_equal(vmem_host_create(&c, &h, err, sizeof(err)), VMEM_EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: got '%s', expected '%s'", bad[i].spec, err, bad[i].msg);
	}
	/* Every knob at once is fine. */
	h = make("ksm:pages_to_scan=1k:sleep_millisecs=5:max_page_sharing=10:use_zero_pages=1:"
		 "smart_scan=0:scope=domain:domain_vms=3:cost_scan=1:cost_merge=2", NULL);
	vmem_host_destroy(h);
	h = make("ksm:advisor_mode=scan-time:advisor_max_cpu=20:advisor_target_scan_time=60:"
		 "advisor_min_pages_to_scan=100:advisor_max_pages_to_scan=200", NULL);
	assert_int_equal(st(h, "pages_to_scan"), 100);
	vmem_host_destroy(h);
}

static void test_ksm_names_list_every_counter(void **state)
{
	struct vmem_host *h = make("ksm", NULL);
	const char *const *names;
	double v;
	size_t n = 0;
	bool saw_vm = false;

	(void)state;
	vmem_host_add_vm(h, 3, 16 << 12, 1000);
	names = h->dedup_ops->names(&h->dedup.p);
	for (; names[n]; n++) {
		assert_int_equal(h->dedup_ops->stat(&h->dedup.p, names[n], &v), 0);
		saw_vm |= strcmp(names[n], "vm.3.ksm_process_profit") == 0;
	}
	/* 14 host-wide counters and 5 for the one VM. */
	assert_int_equal(n, 14 + 5);
	assert_true(saw_vm);
	assert_int_equal(h->dedup_ops->stat(&h->dedup.p, "pages_merged", &v), VMEM_ENOENT);
	assert_int_equal(h->dedup_ops->stat(&h->dedup.p, "vm.3.nothing", &v), VMEM_ENOENT);
	assert_int_equal(h->dedup_ops->stat(&h->dedup.p, "vm.x.profit", &v), VMEM_ENOENT);
	assert_non_null(vmem_dedup_find("ksm"));
	vmem_host_destroy(h);
}

static void test_ksm_merged_page_written_by_the_guest_costs_a_cow_fault(void **state)
{
	struct vmem_mmu_config mc;
	struct vmem_mmu *m;
	struct vmem_host_config c;
	struct vmem_host *h;
	struct vmem_host_vm_stats s;
	uint64_t va = 0x7f0000001000ull, vb = 0x7f0000002000ull, ga, gb, faults, cycles;
	char err[256];

	(void)state;
	mt_config(&mc, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_set(&mc, "guest.mem", "2m");
	m = mt_create(&mc);
	vmem_host_config_default(&c);
	assert_int_equal(vmem_host_config_set(&c, "host.mem", "1m", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&c, "swap", "none", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&c, "content.zero", "0", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&c, "content.image", "0", err, sizeof(err)),
			 0);
	assert_int_equal(vmem_host_config_set(&c, "dedup", "ksm", err, sizeof(err)), 0);
	if (vmem_host_create(&c, &h, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_host_attach(h, m), 0);
	/* The guest reads two pages; the host backs them (and the guest's tables). */
	mt_touch(m, 0, 1, va, VMEM_ACC_LOAD);
	mt_touch(m, 0, 1, vb, VMEM_ACC_LOAD);
	ga = mt_gpa(m, 0, 1, va) >> 12;
	gb = mt_gpa(m, 0, 1, vb) >> 12;
	assert_true(ga != gb);
	/* Both hold the same content (as content records would say). */
	assert_int_equal(vmem_host_set_content(h, 0, ga, 0xabc, false, 7), 0);
	assert_int_equal(vmem_host_set_content(h, 0, gb, 0xabc, false, 7), 0);
	at(h, 40);
	assert_int_equal(vmem_host_page_state(h, 0, ga), VMEM_PG_SHARED);
	assert_int_equal(vmem_host_page_state(h, 0, gb), VMEM_PG_SHARED);
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 1);
	/* The merge dropped the host table's entries: a read faults the shared frame in
	 * read-only, at no cost. */
	faults = mt_stat(m, "faults.host");
	cycles = mt_stat(m, "cycles.faults");
	mt_touch(m, 0, 1, vb, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "faults.host"), faults + 1);
	assert_int_equal(mt_stat(m, "cycles.faults"), cycles);
	assert_int_equal(vmem_host_page_state(h, 0, gb), VMEM_PG_SHARED);
	/* A store to it: a host fault for the read-only mapping, and the copy-on-write
	 * break costs host.cost.cow = 5000 cycles. */
	mt_touch(m, 0, 1, vb, VMEM_ACC_STORE);
	assert_int_equal(mt_stat(m, "faults.host"), faults + 2);
	assert_int_equal(mt_stat(m, "cycles.faults"), cycles + 5000);
	assert_int_equal(vmem_host_page_state(h, 0, gb), VMEM_PG_RESIDENT);
	vmem_host_vm_stats(h, 0, &s);
	assert_int_equal(s.faults_cow, 1);
	check(h);
	/* The KSM page keeps its other mapper. */
	assert_int_equal(st(h, "pages_shared"), 1);
	assert_int_equal(st(h, "pages_sharing"), 0);
	/* A second store costs nothing more: the page is the guest's own again. */
	mt_touch(m, 0, 1, vb, VMEM_ACC_STORE);
	assert_int_equal(mt_stat(m, "faults.host"), faults + 2);
	vmem_host_destroy(h);
	vmem_mmu_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ksm_merges_exactly_the_duplicates_and_a_write_breaks_one),
		cmocka_unit_test(test_ksm_max_page_sharing_makes_chains_of_dups),
		cmocka_unit_test(test_ksm_scope_vm_keeps_vms_apart_and_all_merges_across),
		cmocka_unit_test(test_ksm_scope_domain_merges_within_a_trust_domain),
		cmocka_unit_test(test_ksm_use_zero_pages_maps_zero_pages_onto_the_zero_page),
		cmocka_unit_test(test_ksm_volatile_pages_wait_for_a_stable_checksum),
		cmocka_unit_test(test_ksm_smart_scan_skips_pages_that_never_merge),
		cmocka_unit_test(test_ksm_scans_pages_to_scan_every_sleep_millisecs),
		cmocka_unit_test(test_ksm_advisor_moves_pages_to_scan_toward_the_target),
		cmocka_unit_test(test_ksm_books_hold_after_every_step_of_a_random_mix),
		cmocka_unit_test(test_ksm_parameters_are_checked),
		cmocka_unit_test(test_ksm_names_list_every_counter),
		cmocka_unit_test(test_ksm_merged_page_written_by_the_guest_costs_a_cow_fault),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
