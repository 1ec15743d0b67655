/*
 * Shadow paging (libvmem/shadow.c): VM exits by reason on crafted traces, derived step by
 * step, in both coherence variants (trap: every write to a shadowed guest table page
 * exits; unsync: last-level pages go unsync after their first trapped write and are
 * resynchronized at the next CR3 load), the bounded shadow-root cache, and agreement of
 * shadow translations with nested ones on the same guest.
 *
 * Rules the derivations use (shadow.c, mmu.c, guest_os.c):
 *  - A CR3 load (the first switch into an address space, every later switch back, and the
 *    full TLB flush of an unmap/protect of more than 33 pages) exits (cr3_load) and looks
 *    up the address space's shadow root: a root hit, or a root miss that allocates one.
 *    Unsync pages are resynchronized at a flushing load; a switch back to an address
 *    space whose PCID is still its own is a no-flush load, which skips the resync when
 *    the root hits (KVM's skip_mmu_sync); the full flush always resyncs.
 *  - An access whose shadow entry is missing or too weak walks, misses and exits: if the
 *    guest maps it with the permission, a hidden fault (the VMM fills the shadow entry,
 *    host-mapping the gPA on first touch: a host fault but no exit in shadow mode);
 *    otherwise a guest fault reflected to the guest (guest_fault exit), whose handler
 *    writes guest PTEs, after which the access walks again. The VMM's software walk of
 *    the guest table host-maps each guest table page it reads on first touch: a host
 *    fault, no exit (the VMM is already running).
 *  - A guest PTE write exits (pte_write) only if the guest table page it lands in is
 *    shadowed, i.e. the shadow table has a page at that level covering the same region.
 *    The guest root is shadowed from the CR3 load on; a guest table page created by the
 *    write's own fault is not. In unsync mode a write to an already unsync PT does not
 *    exit.
 *  - An unmap or protect of at most 33 pages issues one INVLPG per page (invlpg exit).
 * All the traces run with the default TLBs and caches and PCIDs on: the TLB only ever
 * holds translations the shadow table also has, so it removes walks, never exits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mmu_testlib.h"

#define A 0x400000ull           /* PML4 0, PDPT 0, PD 2, PT index 0 */
#define B 0x401000ull           /* same PT, index 1 */

static struct vmem_mmu *shadow_machine(enum vmem_shadow_sync sync, unsigned roots)
{
	struct vmem_mmu_config c;

	mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	c.shadow_sync = sync;
	c.shadow_roots = roots;
	return mt_create(&c);
}

struct exits {
	uint64_t cr3, gf, pw, hf, inv;
};

/* Checks every exit counter and that they add up to exits.total. */
static void check_exits(struct vmem_mmu *m, struct exits e)
{
	uint64_t total = mt_stat(m, "exits.total");

	assert_int_equal(mt_stat(m, "exits.cr3_load"), e.cr3);
	assert_int_equal(mt_stat(m, "exits.guest_fault"), e.gf);
	assert_int_equal(mt_stat(m, "exits.pte_write"), e.pw);
	assert_int_equal(mt_stat(m, "exits.hidden_fault"), e.hf);
	assert_int_equal(mt_stat(m, "exits.invlpg"), e.inv);
	assert_int_equal(mt_stat(m, "exits.ept_violation"), 0);
	assert_int_equal(total, mt_stat(m, "exits.pte_write") + mt_stat(m, "exits.cr3_load") +
					mt_stat(m, "exits.hidden_fault") +
					mt_stat(m, "exits.guest_fault") + mt_stat(m, "exits.invlpg") +
					mt_stat(m, "exits.ept_violation"));
	assert_int_equal(total, e.cr3 + e.gf + e.pw + e.hf + e.inv);
}

/*
 * The trace of the first two tests, one step per call, with the exits after each step in
 * both variants written next to it.
 */
static void run_trace(struct vmem_mmu *m, bool unsync)
{
	struct vmem_trace_rec r;

	/*
	 * 1. Load A in asid 1 of a fresh VM.
	 *    CR3 load into asid 1: cr3 1, root miss 1.
	 *    Walk: empty shadow: miss; guest has nothing: guest fault (gf 1). The guest maps A:
	 *    data gPA 0x1000, PDPT 0x2000 (root entry write: shadowed root, pw 1), PD 0x3000
	 *    and PT 0x4000 (their entries are in pages just made, not shadowed: no exit), PTE.
	 *    4 guest PTE writes. Walk: miss; hidden fault (hf 1): shadow PDPT, PD, PT and leaf.
	 *    Exits: cr3 1, gf 1, pw 1, hf 1 in both variants.
	 */
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	check_exits(m, (struct exits){ 1, 1, 1, 1, 0 });
	assert_int_equal(mt_stat(m, "guest.pte_writes"), 4);

	/*
	 * 2. Store to B (same PT). Guest fault (gf 2); the guest writes B's PTE in the PT,
	 *    which is shadowed now: pw 2 (unsync: the first write to the PT also exits and
	 *    marks it unsync). Hidden fault (hf 2).
	 */
	mt_touch(m, 0, 1, B, VMEM_ACC_STORE);
	check_exits(m, (struct exits){ 1, 2, 2, 2, 0 });

	/*
	 * 3. Context switch to asid 2: CR3 load (cr3 2), root miss 2 (4 roots allowed).
	 * 4. Load A in asid 2: as step 1 in a new table: gf 3, pw 3 (its root), hf 3.
	 */
	r = mt_switch_as(0, 2);
	mt_apply(m, &r);
	check_exits(m, (struct exits){ 2, 2, 2, 2, 0 });
	mt_touch(m, 0, 2, A, VMEM_ACC_LOAD);
	check_exits(m, (struct exits){ 2, 3, 3, 3, 0 });

	/*
	 * 5. Load A in asid 1: CR3 load (cr3 3), root hit 1. asid 1's PCID still tags its
	 *    entries: a no-flush load, so unsync mode does not resynchronize asid 1's unsync
	 *    PT (resync 0): it stays unsync. A hits the TLB (PCID kept it): no walk, no exit.
	 */
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	check_exits(m, (struct exits){ 3, 3, 3, 3, 0 });
	assert_int_equal(mt_stat(m, "shadow.resyncs"), 0);
	assert_int_equal(mt_stat(m, "shadow.zaps"), 0);

	/*
	 * 6. Unmap B. The guest clears B's PTE. Trap: the PT is shadowed and protected: pw 4,
	 *    B's shadow entry zapped (zaps 1); the INVLPG of B (inv 1) finds it gone. Unsync:
	 *    the PT is still unsync: no exit; the INVLPG (inv 1) drops B's stale shadow entry
	 *    (zaps 1).
	 */
	r = mt_unmap(0, 1, B, 4096);
	mt_apply(m, &r);
	check_exits(m, (struct exits){ 3, 3, unsync ? 3 : 4, 3, 1 });
	assert_int_equal(mt_stat(m, "shadow.zaps"), 1);

	/*
	 * 7. Protect A read-only. Trap: the PTE write exits (pw 5) and zaps A's shadow entry
	 *    (zaps 2); INVLPG (inv 2) finds nothing more. Unsync: the PT is unsync: no exit;
	 *    INVLPG (inv 2) drops A's stale shadow entry (zaps 2).
	 */
	r = mt_protect(0, 1, A, 4096, VMEM_PROT_READ);
	mt_apply(m, &r);
	check_exits(m, (struct exits){ 3, 3, unsync ? 3 : 5, 3, 2 });
	assert_int_equal(mt_stat(m, "shadow.zaps"), 2);

	/*
	 * 8. Load A: TLB miss (INVLPG), shadow miss, guest maps it read-only: hidden fault
	 *    (hf 4), read-only shadow entry.
	 */
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	check_exits(m, (struct exits){ 3, 3, unsync ? 3 : 5, 4, 2 });

	/*
	 * 9. Store to A: the TLB entry lacks write, the shadow entry too: the guest lacks it
	 *    as well: guest fault (gf 4); the handler grants write (one PTE write). Trap:
	 *    pw 6, the read-only shadow entry zapped (zaps 3). Unsync: no exit, stale entry
	 *    kept. Walk: shadow entry missing (trap) or still read-only (unsync): hidden fault
	 *    (hf 5) that installs the writable entry.
	 */
	mt_touch(m, 0, 1, A, VMEM_ACC_STORE);
	check_exits(m, (struct exits){ 3, 4, unsync ? 3 : 6, 5, 2 });
	assert_int_equal(mt_stat(m, "shadow.zaps"), unsync ? 2 : 3);
}

static void check_trace_totals(struct vmem_mmu *m, bool unsync)
{
	/* Trap: 3 + 4 + 6 + 5 + 2 = 20 exits; unsync: 3 + 4 + 3 + 5 + 2 = 17. */
	assert_int_equal(mt_stat(m, "exits.total"), unsync ? 17 : 20);
	/* Guest PTE writes, all of them, trapped or not: 4 (step 1) + 1 (2) + 4 (4) +
	 * 1 (6) + 1 (7) + 1 (9) = 12; only 6 (trap) or 3 (unsync) exited. */
	assert_int_equal(mt_stat(m, "guest.pte_writes"), 12);
	assert_int_equal(mt_stat(m, "faults.guest"), 4);
	/* Host first touches: every guest-physical page the VMM or the guest touched: asid 1's
	 * root, PDPT, PD and PT (read by the VMM's software walks) and the data of A and B;
	 * asid 2's root, PDPT, PD, PT and A: 6 + 5 = 11, as in nested mode. */
	assert_int_equal(mt_stat(m, "faults.host"), 11);
	assert_int_equal(mt_stat(m, "shadow.fills"), 5);
	/* Root misses at steps 1 and 3; the only root hit is the CR3 load of step 5. */
	assert_int_equal(mt_stat(m, "shadow.root_misses"), 2);
	assert_int_equal(mt_stat(m, "shadow.root_hits"), 1);
	assert_int_equal(mt_stat(m, "shadow.resyncs"), 0);
	assert_int_equal(mt_stat(m, "context_switches"), 3);
	assert_int_equal(mt_stat(m, "invlpgs"), 2);
	assert_int_equal(mt_stat(m, "unmaps"), 1);
	assert_int_equal(mt_stat(m, "protects"), 1);
	/* Shadow tables: root, PDPT, PD, PT for each of the two address spaces. */
	assert_int_equal(mt_stat(m, "pages.shadow_tables"), 8);
	/* Guest frames: asid 1: root, A, PDPT, PD, PT, B (freed); asid 2: root, A, PDPT,
	 * PD, PT: 11 - 1 = 10. */
	assert_int_equal(mt_stat(m, "frames.guest"), 10);
	/* Host frames: the host table's 4 pages (all these gPAs lie in its first 2 MiB), the
	 * 8 shadow table pages and the 11 host-mapped guest pages: 4 + 8 + 11 = 23. */
	assert_int_equal(mt_stat(m, "frames.host"), 23);
	assert_int_equal(mt_stat(m, "pages.host_tables"), 4);
}

static void test_shadow_trap_trace_exits_match_hand_count(void **state)
{
	struct vmem_mmu *m = shadow_machine(VMEM_SHADOW_TRAP, 4);

	(void)state;
	run_trace(m, false);
	check_trace_totals(m, false);
	vmem_mmu_destroy(m);
}

static void test_shadow_unsync_trace_exits_match_hand_count(void **state)
{
	struct vmem_mmu *m = shadow_machine(VMEM_SHADOW_UNSYNC, 4);

	(void)state;
	run_trace(m, true);
	check_trace_totals(m, true);
	vmem_mmu_destroy(m);
}

/* Touches n pages of one PT (A's 2 MiB region) in asid 1, stores. */
static void touch_pages(struct vmem_mmu *m, uint32_t asid, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++)
		mt_touch(m, 0, asid, A + (uint64_t)i * 4096, VMEM_ACC_STORE);
}

static void test_shadow_unsync_many_ptes_of_one_table_exit_once(void **state)
{
	struct vmem_mmu *trap = shadow_machine(VMEM_SHADOW_TRAP, 4);
	struct vmem_mmu *uns = shadow_machine(VMEM_SHADOW_UNSYNC, 4);

	(void)state;
	touch_pages(trap, 1, 0, 64);
	touch_pages(uns, 1, 0, 64);
	/*
	 * 64 first touches in one PT: 64 guest faults and 64 hidden faults in both variants.
	 * PTE-write exits: page 0 writes the shadowed root (1); pages 1..63 write the PT,
	 * shadowed since page 0's hidden fault. Trap: 1 + 63 = 64. Unsync: the first PT write
	 * (page 1) exits and unsyncs the PT, pages 2..63 run at native speed: 1 + 1 = 2.
	 * Totals: trap 1 + 64 + 64 + 64 = 193; unsync 1 + 64 + 2 + 64 = 131.
	 */
	check_exits(trap, (struct exits){ 1, 64, 64, 64, 0 });
	check_exits(uns, (struct exits){ 1, 64, 2, 64, 0 });
	assert_int_equal(mt_stat(trap, "exits.total"), 193);
	assert_int_equal(mt_stat(uns, "exits.total"), 131);
	/* All the writes: 4 for page 0 (root, PDPT, PD, PTE) + 63 PTEs = 67 in both. */
	assert_int_equal(mt_stat(trap, "guest.pte_writes"), 67);
	assert_int_equal(mt_stat(uns, "guest.pte_writes"), 67);
	assert_int_equal(mt_stat(uns, "shadow.resyncs"), 0);
	vmem_mmu_destroy(trap);
	vmem_mmu_destroy(uns);
}

static void test_shadow_default_sync_is_unsync(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;

	(void)state;
	/* The defaults, shadow mode: as the unsync machine above, 64 first touches in one PT
	 * make 2 PTE-write exits (the root's entry, then the PT's first write), not 64. */
	mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	assert_int_equal(c.shadow_sync, VMEM_SHADOW_UNSYNC);
	m = mt_create(&c);
	touch_pages(m, 1, 0, 64);
	check_exits(m, (struct exits){ 1, 64, 2, 64, 0 });
	assert_int_equal(mt_stat(m, "exits.total"), 131);
	vmem_mmu_destroy(m);
}

static void test_shadow_unsync_resyncs_at_cr3_load_of_its_root(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;

	(void)state;
	/* Without PCIDs every CR3 load flushes, so every load resyncs. */
	mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	c.shadow_sync = VMEM_SHADOW_UNSYNC;
	c.pcid = false;
	m = mt_create(&c);
	touch_pages(m, 1, 0, 64);            /* asid 1's PT unsync (see above) */
	assert_int_equal(mt_stat(m, "shadow.resyncs"), 0);
	/* CR3 load to asid 2: its own (empty) unsync list: no resync. */
	mt_touch(m, 0, 2, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "shadow.resyncs"), 0);
	/* CR3 load back to asid 1: its unsync PT is resynchronized; all 64 shadow entries
	 * match the guest's: no zap. */
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "shadow.resyncs"), 1);
	assert_int_equal(mt_stat(m, "shadow.zaps"), 0);
	assert_int_equal(mt_stat(m, "exits.pte_write"), 2 + 1);   /* + asid 2's root write */
	/* The PT is write-protected again: the next new page's PTE write exits and unsyncs
	 * it again; the one after does not. */
	touch_pages(m, 1, 64, 2);
	assert_int_equal(mt_stat(m, "exits.pte_write"), 3 + 1);
	vmem_mmu_destroy(m);
}

/*
 * The same switches with PCIDs. KVM does not sync the roots on a CR3 load with the
 * no-flush bit (kvm_mmu_new_pgd's skip_mmu_sync); it does on a flushing load, and a
 * root-cache miss is synced when the root is loaded anew (kvm_mmu_load).
 *   per_as PCIDs, 4 roots: asid 1 keeps its PCID, the load back is no-flush and hits
 *     the root cache: resyncs 0; the PT stays unsync: the 2 new pages write it without
 *     exits: pte_write stays 2 + 1.
 *   linux PCIDs with 1 slot: asid 2 took the slot, the load back flushes: resyncs 1,
 *     and the PT is protected again: pte_write 3 + 1 after the 2 new pages.
 *   per_as PCIDs, 1 root: no-flush load, but asid 1's root was evicted by asid 2's:
 *     root miss, resynced: resyncs 1, pte_write 3 + 1.
 */
static void test_shadow_unsync_no_flush_cr3_load_skips_resync(void **state)
{
	static const struct {
		const char *mode;
		unsigned roots;
		uint64_t resyncs, pw;
	} cases[] = {
		{ "per_as", 4, 0, 2 + 1 },
		{ "linux", 4, 1, 3 + 1 },
		{ "per_as", 1, 1, 3 + 1 },
	};
	struct vmem_mmu_config c;

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		struct vmem_mmu *m;

		mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
		c.shadow_sync = VMEM_SHADOW_UNSYNC;
		c.shadow_roots = cases[i].roots;
		mt_set(&c, "pcid", "1");
		mt_set(&c, "pcid.mode", cases[i].mode);
		mt_set(&c, "pcid.count", "1");
		m = mt_create(&c);
		touch_pages(m, 1, 0, 64);
		mt_touch(m, 0, 2, A, VMEM_ACC_LOAD);
		mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
		assert_int_equal(mt_stat(m, "shadow.resyncs"), cases[i].resyncs);
		assert_int_equal(mt_stat(m, "shadow.zaps"), 0);
		touch_pages(m, 1, 64, 2);
		assert_int_equal(mt_stat(m, "exits.pte_write"), cases[i].pw);
		vmem_mmu_destroy(m);
	}
}

static void test_shadow_unmap_40_pages_flushes_with_one_cr3_exit(void **state)
{
	struct vmem_mmu *trap = shadow_machine(VMEM_SHADOW_TRAP, 4);
	struct vmem_mmu *uns = shadow_machine(VMEM_SHADOW_UNSYNC, 4);
	struct vmem_trace_rec r = mt_unmap(0, 1, A, 40 * 4096);

	(void)state;
	touch_pages(trap, 1, 0, 40);
	touch_pages(uns, 1, 0, 40);
	/* Before: trap pw 40 (1 root + 39 PT), unsync pw 2; cr3 1; gf = hf = 40. */
	check_exits(trap, (struct exits){ 1, 40, 40, 40, 0 });
	check_exits(uns, (struct exits){ 1, 40, 2, 40, 0 });
	mt_apply(trap, &r);
	mt_apply(uns, &r);
	/*
	 * 40 pages > 33: one full flush (a CR3 reload the VMM intercepts: cr3 + 1) instead of
	 * 40 INVLPGs. Trap: each of the 40 PTE clears exits (pw + 40) and zaps its shadow
	 * entry (zaps 40). Unsync: the PT is unsync: no exit; the CR3 load resyncs it and
	 * drops the 40 shadow entries that no longer match (zaps 40, resyncs 1).
	 */
	check_exits(trap, (struct exits){ 2, 40, 80, 40, 0 });
	check_exits(uns, (struct exits){ 2, 40, 2, 40, 0 });
	assert_int_equal(mt_stat(trap, "invlpgs"), 0);
	assert_int_equal(mt_stat(uns, "invlpgs"), 0);
	assert_int_equal(mt_stat(trap, "shadow.zaps"), 40);
	assert_int_equal(mt_stat(uns, "shadow.zaps"), 40);
	assert_int_equal(mt_stat(uns, "shadow.resyncs"), 1);
	assert_int_equal(mt_stat(trap, "unmaps"), 40);
	/* A full flush is not a context switch. */
	assert_int_equal(mt_stat(trap, "context_switches"), 1);
	vmem_mmu_destroy(trap);
	vmem_mmu_destroy(uns);
}

static void alternate(struct vmem_mmu *m, unsigned rounds)
{
	for (unsigned i = 0; i < rounds; i++) {
		mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
		mt_touch(m, 0, 2, A, VMEM_ACC_LOAD);
	}
}

/*
 * Host faults for the guest's table pages are charged alike in nested and shadow mode: a
 * host fault (cost.host_fault) for every guest-physical page on first touch, tables and
 * data alike. Trace: asid 1 touches A and B (same PT), asid 2 touches A.
 *   asid 1: root gPA 0, data 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000; B's data 0x5000:
 *     6 host faults; asid 2: its root, PDPT, PD, PT and A's data: 5. Total 11 in both.
 * Nested: each is an EPT violation exit (the walker touched the page): 11 exits.
 * Shadow: the VMM touched the tables in its software walk and the data in its fill,
 * inside the exits it already took: no EPT-violation exits.
 * Fault cycles: 3 guest faults * 5000 + 11 host faults * 5000 = 70000 in both.
 */
static void test_shadow_host_faults_for_guest_tables_match_nested(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *mm[2];

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		mt_config(&c, i ? VMEM_MODE_SHADOW : VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K,
			  VMEM_PAGE_4K);
		mm[i] = mt_create(&c);
		mt_touch(mm[i], 0, 1, A, VMEM_ACC_LOAD);
		mt_touch(mm[i], 0, 1, B, VMEM_ACC_LOAD);
		mt_touch(mm[i], 0, 2, A, VMEM_ACC_LOAD);
		assert_int_equal(mt_stat(mm[i], "faults.host"), 11);
		assert_int_equal(mt_stat(mm[i], "faults.guest"), 3);
		assert_int_equal(mt_stat(mm[i], "cycles.faults"), 3 * 5000 + 11 * 5000);
		assert_int_equal(mt_stat(mm[i], "exits.ept_violation"), i ? 0 : 11);
	}
	/* Same guest-physical pages host-mapped: shadow's host frames are nested's plus its
	 * shadow table pages. */
	assert_int_equal(mt_stat(mm[1], "frames.host"),
			 mt_stat(mm[0], "frames.host") + mt_stat(mm[1], "pages.shadow_tables"));
	vmem_mmu_destroy(mm[0]);
	vmem_mmu_destroy(mm[1]);
}

static void test_shadow_one_root_two_aspaces_every_switch_misses(void **state)
{
	struct vmem_mmu *m = shadow_machine(VMEM_SHADOW_TRAP, 1);

	(void)state;
	/*
	 * shadow.roots=1, asids 1 and 2 alternating, 3 rounds = 6 CR3 loads. Each load finds
	 * its root evicted from the root cache by the other's: 6 root misses, 0 hits. The
	 * cache holds root pointers only: the evicted tree keeps its shadow pages (the
	 * default shadow.max_pages is far away), so after the first touch of each address
	 * space the access finds its shadow entry: 2 hidden faults, not 6. (The eviction
	 * flushed the address space's TLB entries, so the access walks the shadow table.)
	 * Guest faults only on the two first touches, each with one trapped write (its
	 * root): gf 2, pw 2.
	 */
	alternate(m, 3);
	assert_int_equal(mt_stat(m, "shadow.root_misses"), 6);
	assert_int_equal(mt_stat(m, "shadow.root_hits"), 0);
	check_exits(m, (struct exits){ 6, 2, 2, 2, 0 });
	/* First touches: 3 walks each (shadow miss, guest fault; miss, hidden fault; hit);
	 * the 4 later accesses: 1 walk each. */
	assert_int_equal(mt_stat(m, "walks"), 2 * 3 + 4);
	/* Both trees alive, each with A's path: root, PDPT, PD, PT. */
	assert_int_equal(mt_stat(m, "pages.shadow_tables"), 8);
	vmem_mmu_destroy(m);
}

static void test_shadow_page_limit_zaps_least_recently_loaded_tree(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;

	(void)state;
	mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	c.shadow_sync = VMEM_SHADOW_TRAP;
	mt_set(&c, "shadow.max_pages", "6");
	m = mt_create(&c);
	/*
	 * Four roots may be cached, but only 6 shadow table pages may exist in the VM.
	 *   asid 1, A: root (1 page), then the fill adds PDPT, PD, PT: 4 pages.
	 *   asid 2, A: root: 5 pages; the fill needs 3 more: 8 > 6, so the least recently
	 *     loaded other tree (asid 1's, 4 pages) is zapped whole, root and all: 1 + 3 = 4.
	 *   asid 1, A: its tree is gone: root miss, new root (5 pages), TLB entry gone with
	 *     the tree, walk misses: hidden fault, which needs 3: asid 2's tree is zapped: 4.
	 *   and so on: every load misses and every access is a hidden fault.
	 * 6 loads: root misses 6, hits 0; hidden faults 6; gf 2, pw 2 as above. One tree left.
	 */
	alternate(m, 3);
	assert_int_equal(mt_stat(m, "shadow.root_misses"), 6);
	assert_int_equal(mt_stat(m, "shadow.root_hits"), 0);
	check_exits(m, (struct exits){ 6, 2, 2, 6, 0 });
	assert_int_equal(mt_stat(m, "pages.shadow_tables"), 4);
	vmem_mmu_destroy(m);
	/* The same trace with room for both trees (8 pages): misses 2, hits 4, 2 fills. */
	mt_set(&c, "shadow.max_pages", "8");
	m = mt_create(&c);
	alternate(m, 3);
	assert_int_equal(mt_stat(m, "shadow.root_misses"), 2);
	assert_int_equal(mt_stat(m, "shadow.root_hits"), 4);
	check_exits(m, (struct exits){ 6, 2, 2, 2, 0 });
	assert_int_equal(mt_stat(m, "pages.shadow_tables"), 8);
	vmem_mmu_destroy(m);
}

static void test_shadow_page_limit_alone_zaps_below_the_running_root(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;

	(void)state;
	mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	c.shadow_sync = VMEM_SHADOW_TRAP;
	mt_set(&c, "shadow.max_pages", "4");
	m = mt_create(&c);
	/*
	 * One address space, limit 4 = root + one path. A (0x400000) fills PDPT, PD, PT:
	 * 4 pages. E (0x7e0000001000: another PML4 slot) needs a PDPT, PD and PT of its own:
	 * 4 + 3 > 4 and no other tree: everything below the running root goes, then E's path
	 * is built: 4 pages. Back to A: its shadow path is gone: another hidden fault.
	 * Hidden faults: A, E, A = 3.
	 */
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	mt_touch(m, 0, 1, 0x7e0000001000ull, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "pages.shadow_tables"), 4);
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "exits.hidden_fault"), 3);
	assert_int_equal(mt_stat(m, "pages.shadow_tables"), 4);
	vmem_mmu_destroy(m);
}

static void test_shadow_two_roots_two_aspaces_switches_hit(void **state)
{
	struct vmem_mmu *m = shadow_machine(VMEM_SHADOW_TRAP, 2);

	(void)state;
	/* Both roots fit: misses on the first load of each (2), hits on the other 4; the
	 * shadows stay filled and the TLB (PCIDs) keeps A for each: 2 hidden faults only. */
	alternate(m, 3);
	assert_int_equal(mt_stat(m, "shadow.root_misses"), 2);
	assert_int_equal(mt_stat(m, "shadow.root_hits"), 4);
	check_exits(m, (struct exits){ 6, 2, 2, 2, 0 });
	assert_int_equal(mt_stat(m, "pages.shadow_tables"), 8);
	vmem_mmu_destroy(m);
}

static void test_shadow_root_eviction_picks_least_recently_loaded(void **state)
{
	struct vmem_mmu *m = shadow_machine(VMEM_SHADOW_TRAP, 2);

	(void)state;
	/* Loads: 1 (miss), 2 (miss), 1 (hit), 3 (miss: evicts 2, loaded before 1's reload),
	 * 1 (hit), 2 (miss: evicts 3). */
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	mt_touch(m, 0, 2, A, VMEM_ACC_LOAD);
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	mt_touch(m, 0, 3, A, VMEM_ACC_LOAD);
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "shadow.root_misses"), 3);
	assert_int_equal(mt_stat(m, "shadow.root_hits"), 2);
	mt_touch(m, 0, 2, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "shadow.root_misses"), 4);
	assert_int_equal(mt_stat(m, "shadow.root_hits"), 2);
	vmem_mmu_destroy(m);
}

/* ================== shadow and nested agree on the same guest ================== */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void agree(enum vmem_page_size gp, enum vmem_page_size hp)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *mm[4];
	uint64_t seed = 99 + gp * 3 + hp;
	const uint64_t regions[3] = { 0x400000ull, 0x7f0000000000ull, 0x7fffffe00000ull };

	mt_config(&c, VMEM_MODE_NATIVE, 4, 4, gp, hp);
	mm[0] = mt_create(&c);
	c.mode = VMEM_MODE_NESTED;
	mm[1] = mt_create(&c);
	c.mode = VMEM_MODE_SHADOW;
	c.shadow_sync = VMEM_SHADOW_TRAP;
	mm[2] = mt_create(&c);
	c.shadow_sync = VMEM_SHADOW_UNSYNC;
	mm[3] = mt_create(&c);
	for (unsigned step = 0; step < 3000; step++) {
		uint64_t r = rnd(&seed);
		uint32_t asid = 1 + (uint32_t)(r % 2);
		uint64_t va = regions[(r >> 8) % 3] + ((r >> 16) % 512) * 4096 + (r >> 40) % 4096;
		unsigned kind = (unsigned)((r >> 32) % 100);
		struct vmem_trace_rec rec;

		if (kind < 4)
			rec = mt_unmap(0, asid, va & ~0xfffull, ((r >> 50) % 40 + 1) * 4096);
		else if (kind < 8)
			rec = mt_protect(0, asid, va & ~0xfffull, ((r >> 50) % 8 + 1) * 4096,
					 (r >> 60) & 1 ? VMEM_PROT_READ :
							 VMEM_PROT_READ | VMEM_PROT_WRITE);
		else
			rec = mt_access(0, asid, va, (enum vmem_access_type)((r >> 56) % 4));
		for (unsigned i = 0; i < 4; i++)
			mt_apply(mm[i], &rec);
		if (rec.type != VMEM_REC_ACCESS)
			continue;
		/* The guest OS model ran the same faults in every mode: same gPA. In each mode
		 * the final address is the host translation of that gPA (native: the gPA). */
		uint64_t gpa = mt_gpa(mm[0], 0, asid, va);

		for (unsigned i = 0; i < 4; i++) {
			uint64_t pa, want;

			assert_int_equal(mt_gpa(mm[i], 0, asid, va), gpa);
			pa = mt_translate(mm[i], 0, asid, va, (enum vmem_access_type)rec.acc, NULL);
			assert_int_equal(mt_expected_pa(mm[i], 0, asid, va, &want), 0);
			assert_int_equal(pa, want);
		}
	}
	/* Same guest behaviour in all four machines. */
	for (unsigned i = 1; i < 4; i++) {
		assert_int_equal(mt_stat(mm[i], "faults.guest"), mt_stat(mm[0], "faults.guest"));
		assert_int_equal(mt_stat(mm[i], "guest.pte_writes"),
				 mt_stat(mm[0], "guest.pte_writes"));
		assert_int_equal(mt_stat(mm[i], "frames.guest"), mt_stat(mm[0], "frames.guest"));
	}
	/* Shadow: every guest fault was first a reflected guest-fault exit. */
	assert_int_equal(mt_stat(mm[2], "exits.guest_fault"), mt_stat(mm[2], "faults.guest"));
	assert_int_equal(mt_stat(mm[3], "exits.guest_fault"), mt_stat(mm[3], "faults.guest"));
	/* Nested: every host fault was an EPT violation. */
	assert_int_equal(mt_stat(mm[1], "exits.ept_violation"), mt_stat(mm[1], "faults.host"));
	/* The host touches the same guest-physical pages, tables included, in both modes. */
	assert_int_equal(mt_stat(mm[2], "faults.host"), mt_stat(mm[1], "faults.host"));
	assert_int_equal(mt_stat(mm[3], "faults.host"), mt_stat(mm[1], "faults.host"));
	for (unsigned i = 0; i < 4; i++)
		vmem_mmu_destroy(mm[i]);
}

static void test_shadow_translations_agree_with_nested_4k(void **state)
{
	(void)state;
	agree(VMEM_PAGE_4K, VMEM_PAGE_4K);
}

static void test_shadow_translations_agree_with_nested_large_pages(void **state)
{
	(void)state;
	agree(VMEM_PAGE_2M, VMEM_PAGE_4K);
	agree(VMEM_PAGE_4K, VMEM_PAGE_2M);
	agree(VMEM_PAGE_2M, VMEM_PAGE_2M);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shadow_trap_trace_exits_match_hand_count),
		cmocka_unit_test(test_shadow_unsync_trace_exits_match_hand_count),
		cmocka_unit_test(test_shadow_unsync_many_ptes_of_one_table_exit_once),
		cmocka_unit_test(test_shadow_default_sync_is_unsync),
		cmocka_unit_test(test_shadow_unsync_resyncs_at_cr3_load_of_its_root),
		cmocka_unit_test(test_shadow_unsync_no_flush_cr3_load_skips_resync),
		cmocka_unit_test(test_shadow_unmap_40_pages_flushes_with_one_cr3_exit),
		cmocka_unit_test(test_shadow_host_faults_for_guest_tables_match_nested),
		cmocka_unit_test(test_shadow_one_root_two_aspaces_every_switch_misses),
		cmocka_unit_test(test_shadow_two_roots_two_aspaces_switches_hit),
		cmocka_unit_test(test_shadow_page_limit_zaps_least_recently_loaded_tree),
		cmocka_unit_test(test_shadow_page_limit_alone_zaps_below_the_running_root),
		cmocka_unit_test(test_shadow_root_eviction_picks_least_recently_loaded),
		cmocka_unit_test(test_shadow_translations_agree_with_nested_4k),
		cmocka_unit_test(test_shadow_translations_agree_with_nested_large_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
