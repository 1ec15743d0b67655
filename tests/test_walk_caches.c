/*
 * What the walk caches and the TLB save, reference by reference, and when they are
 * invalidated: paging-structure caches on native and nested walks, the nested TLB, TLB
 * hits at L1 and L2, and the flush rules for CR3 loads (PCID), VM switches (VPID) and
 * INVLPG (libvmem/mmu.c, walk.c, guest_os.c; Intel SDM Vol. 3A, 4.10.3 and 4.10.4).
 *
 * Addresses used throughout (4-level paging):
 *   A = 0x7f0000201000 and B = 0x7f0000202000: the same 2 MiB region (same PT)
 *   C = 0x7f0000401000: same 1 GiB region (same PD), another 2 MiB region
 *   D = 0x7f0040001000: same 512 GiB region (same PDPT), another 1 GiB region
 *   E = 0x7e0000001000: another 512 GiB region
 * With sequential placement in a fresh VM the guest takes, for A's first touch, the data
 * frame first (gPA 0x1000), then PDPT 0x2000, PD 0x3000, PT 0x4000 (guest root at 0);
 * B's first touch takes 0x5000.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/pt.h"

#include "mmu_testlib.h"

#define A 0x7f0000201000ull
#define B 0x7f0000202000ull
#define C 0x7f0000401000ull
#define D 0x7f0040001000ull
#define E 0x7e0000001000ull

/* Counts the references of a recorded walk by what served them. */
static void count_served(const struct vmem_walk *w, unsigned *mem, unsigned *pwc,
			 unsigned *ntlb)
{
	*mem = *pwc = *ntlb = 0;
	for (unsigned i = 0; i < w->nrefs; i++) {
		switch (w->refs[i].served) {
		case VMEM_SERVED_MEM: (*mem)++; break;
		case VMEM_SERVED_PWC: (*pwc)++; break;
		case VMEM_SERVED_NTLB: (*ntlb)++; break;
		default: fail_msg("bad served value %u", w->refs[i].served);
		}
	}
}

/* Native 4/4 machine with the default walk caches and no TLB. */
static struct vmem_mmu *native_no_tlb(bool pcid)
{
	struct vmem_mmu_config c;

	mt_config(&c, VMEM_MODE_NATIVE, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_no_tlb(&c);
	c.pcid = pcid;
	return mt_create(&c);
}

/* ======================= paging-structure caches ======================= */

static void test_pwc_native_same_2m_region_second_walk_makes_1_ref(void **state)
{
	struct vmem_mmu *m = native_no_tlb(true);
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;
	uint64_t refs0, pwc0;

	(void)state;
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);   /* fills the PML4E, PDPTE, PDE caches */
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, NULL);   /* first touch of B */
	refs0 = mt_stat(m, "walk.refs");
	pwc0 = mt_stat(m, "walk.refs_pwc");
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
	/* PDE-cache hit for B's 2 MiB region: levels 4, 3, 2 skipped, the PTE read: 1. */
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(w.nrefs, 4);
	assert_int_equal(mem, 1);
	assert_int_equal(pwc, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(w.refs[i].served, VMEM_SERVED_PWC);
		assert_int_equal(w.refs[i].level, 4 - i);
		assert_int_equal(w.refs[i].table, 0);
	}
	assert_int_equal(w.refs[3].served, VMEM_SERVED_MEM);
	assert_int_equal(w.refs[3].level, 1);
	/* The PT of A and B: gPA 0x4000, natively its physical address. */
	assert_int_equal(w.refs[3].table, 0x4000);
	assert_int_equal(mt_stat(m, "walk.refs") - refs0, 1);
	assert_int_equal(mt_stat(m, "walk.refs_pwc") - pwc0, 3);
	vmem_mmu_destroy(m);
}

static void test_pwc_native_first_touch_in_same_2m_region_retries_with_1_ref(void **state)
{
	struct vmem_mmu *m = native_no_tlb(true);
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	/* B unmapped: walk 1 = PDE hit, PTE not present (1 ref), guest fault, walk 2 = PDE
	 * hit again (the fault wrote only a PTE, no cache was invalidated), 1 ref. */
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.walks, 2);
	assert_int_equal(w.guest_faults, 1);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 1);
	assert_int_equal(pwc, 3);
	/* A's first touch: 1 (empty root entry) + 4; B's: 1 + 1. */
	assert_int_equal(mt_stat(m, "walk.refs"), (1 + 4) + (1 + 1));
	vmem_mmu_destroy(m);
}

static void test_pwc_native_other_2m_region_same_1g_makes_2_refs(void **state)
{
	struct vmem_mmu *m = native_no_tlb(true);
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	/* First touch of C: walk 1 = PDE miss, PDPTE hit, reads the empty PDE (1 ref) and
	 * faults; the guest adds a PT; walk 2 = PDPTE hit, PDE and PTE read: 2 refs. */
	mt_translate(m, 0, 1, C, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.walks, 2);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 2);
	assert_int_equal(pwc, 2);
	assert_int_equal(w.refs[0].level, 4);
	assert_int_equal(w.refs[1].level, 3);
	assert_int_equal(w.refs[2].served, VMEM_SERVED_MEM);
	assert_int_equal(w.refs[2].level, 2);
	assert_int_equal(w.refs[2].table, 0x3000);   /* the PD shared with A */
	/* Walk 2 filled C's PDE entry: the next walk of C is 1 reference. */
	mt_translate(m, 0, 1, C, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 1);
	vmem_mmu_destroy(m);
}

static void test_pwc_native_other_1g_and_512g_regions_make_3_and_4_refs(void **state)
{
	struct vmem_mmu *m = native_no_tlb(true);
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 1, D, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 1, E, VMEM_ACC_LOAD, NULL);
	/* A, D and E are mapped now. Empty the caches and rewarm A's path only: D shares
	 * just A's PML4E (same 512 GiB region): PML4E-cache hit, then PDPTE, PDE and PTE
	 * read = 3 references, 1 skipped. */
	vmem_mmu_flush_caches(m);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 1, D, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 3);
	assert_int_equal(pwc, 1);
	/* E shares nothing with A or D: 4. */
	mt_translate(m, 0, 1, E, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 4);
	assert_int_equal(pwc, 0);
	vmem_mmu_destroy(m);
}

static void test_pwc_invlpg_drops_every_pwc_entry_of_the_pcid(void **state)
{
	struct vmem_mmu *m = native_no_tlb(true);
	struct vmem_trace_rec r = mt_unmap(0, 1, B, 4096);
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, NULL);
	/* Unmapping B invalidates B with INVLPG, which also empties the paging-structure
	 * caches of the current PCID (SDM Vol. 3A, 4.10.4.1): A walks 4 refs again. */
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "invlpgs"), 1);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 4);
	assert_int_equal(pwc, 0);
	vmem_mmu_destroy(m);
}

static void check_pwc_after_switch(bool pcid, unsigned want_mem)
{
	struct vmem_mmu *m = native_no_tlb(pcid);
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 2, E, VMEM_ACC_LOAD, NULL);   /* CR3 load to asid 2 */
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);     /* CR3 load back to asid 1 */
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, want_mem);
	assert_int_equal(mt_stat(m, "context_switches"), 3);  /* first load included */
	vmem_mmu_destroy(m);
}

static void test_pwc_cr3_load_without_pcid_flushes_with_pcid_keeps(void **state)
{
	(void)state;
	/* pcid=0: each CR3 load empties the caches of PCID 0: A walks 4 refs.
	 * pcid=1: asid 1's entries survive under its own PCID: PDE hit, 1 ref. */
	check_pwc_after_switch(false, 4);
	check_pwc_after_switch(true, 1);
}

/* ============================ nested walks ============================ */

/* Nested 4/4 without TLB; pwc_nested: what guest PWC entries hold ("combined" or
 * "guest_physical"). */
static struct vmem_mmu *nested_no_tlb(const char *pwc_nested)
{
	struct vmem_mmu_config c;

	mt_config(&c, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_no_tlb(&c);
	mt_set(&c, "pwc.nested", pwc_nested);
	return mt_create(&c);
}

static void test_pwc_nested_same_2m_region_walk_makes_2_refs(void **state)
{
	struct vmem_mmu *m = nested_no_tlb("guest_physical");
	struct vmem_walk w;
	unsigned mem, pwc, ntlb, k = 0;
	uint64_t refs0, pwc0, ntlb0;

	(void)state;
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, NULL);
	/*
	 * Empty every cache, then walk A: that fills the guest PWC with A's path, the nested
	 * TLB with the gPAs of the guest root (0), PDPT (0x2000), PD (0x3000), PT (0x4000)
	 * and A's data (0x1000), and the host PWC with the path of host 2 MiB region 0 (all
	 * these gPAs lie in it).
	 */
	vmem_mmu_flush_caches(m);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	refs0 = mt_stat(m, "walk.refs");
	pwc0 = mt_stat(m, "walk.refs_pwc");
	ntlb0 = mt_stat(m, "walk.refs_ntlb");
	/*
	 * pwc.nested=guest_physical: the guest PDE-cache entry holds the PT's gPA.
	 * Walk B (gPA 0x5000):
	 *   guest PDE-cache hit: guest steps 4, 3, 2 skipped with their host walks:
	 *     3 * (4 + 1) = 15 references served by the PWC;
	 *   the PT's gPA 0x4000 hits the nested TLB: 4 host references served by it;
	 *   the guest PTE: 1 memory reference;
	 *   the final gPA 0x5000 misses the nested TLB; the host PDE cache (region 0) hits:
	 *     3 host references served by the PWC, the host PTE: 1 memory reference.
	 * 24 recorded, 2 from memory, 18 by PWCs, 4 by the nested TLB.
	 */
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.walks, 1);
	assert_int_equal(w.nrefs, 24);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 2);
	assert_int_equal(pwc, 18);
	assert_int_equal(ntlb, 4);
	for (unsigned gl = 4; gl >= 2; gl--) {
		for (unsigned hl = 4; hl >= 1; hl--, k++) {
			assert_int_equal(w.refs[k].dim, VMEM_DIM_HOST);
			assert_int_equal(w.refs[k].gstep, gl);
			assert_int_equal(w.refs[k].served, VMEM_SERVED_PWC);
		}
		assert_int_equal(w.refs[k].dim, VMEM_DIM_GUEST);
		assert_int_equal(w.refs[k].level, gl);
		assert_int_equal(w.refs[k++].served, VMEM_SERVED_PWC);
	}
	for (unsigned hl = 4; hl >= 1; hl--, k++) {
		assert_int_equal(w.refs[k].dim, VMEM_DIM_HOST);
		assert_int_equal(w.refs[k].level, hl);
		assert_int_equal(w.refs[k].gstep, 1);
		assert_int_equal(w.refs[k].input, 0x4000);
		assert_int_equal(w.refs[k].served, VMEM_SERVED_NTLB);
	}
	assert_int_equal(w.refs[k].dim, VMEM_DIM_GUEST);
	assert_int_equal(w.refs[k].level, 1);
	assert_int_equal(w.refs[k++].served, VMEM_SERVED_MEM);
	for (unsigned hl = 4; hl >= 1; hl--, k++) {
		assert_int_equal(w.refs[k].dim, VMEM_DIM_HOST);
		assert_int_equal(w.refs[k].level, hl);
		assert_int_equal(w.refs[k].gstep, 0);
		assert_int_equal(w.refs[k].input, 0x5000);
		assert_int_equal(w.refs[k].served, hl == 1 ? VMEM_SERVED_MEM : VMEM_SERVED_PWC);
	}
	assert_int_equal(mt_stat(m, "walk.refs") - refs0, 2);
	assert_int_equal(mt_stat(m, "walk.refs_pwc") - pwc0, 18);
	assert_int_equal(mt_stat(m, "walk.refs_ntlb") - ntlb0, 4);
	/* Again: now 0x5000 hits the nested TLB too: only the guest PTE, 1 reference. */
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 1);
	assert_int_equal(pwc, 15);
	assert_int_equal(ntlb, 8);
	vmem_mmu_destroy(m);
}

/*
 * As above but without a nested TLB, in both pwc.nested variants: the reference count of
 * the warm 2D walk of B differs.
 *   guest_physical: the guest PDE-cache hit skips guest steps 4, 3, 2 and their host
 *     walks (15); the PT's gPA 0x4000 is walked with a host PDE-cache hit (3 PWC +
 *     1 memory); the guest PTE (1 memory); the final gPA 0x5000 likewise (3 PWC +
 *     1 memory): 3 memory references, 21 skipped.
 *   combined: the guest PDE-cache entry holds the PT's host-physical address, so the
 *     PT's host walk is skipped too (4 PWC): guest PTE (1 memory), final gPA (3 PWC +
 *     1 memory): 2 memory references, 22 skipped. 24 recorded either way.
 */
static void test_ntlb_nested_absent_walk_uses_host_pwc_only(void **state)
{
	static const struct {
		const char *pwc_nested;
		unsigned mem, pwc;
	} cases[] = { { "guest_physical", 3, 21 }, { "combined", 2, 22 } };
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;
	uint64_t hpa;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		mt_config(&c, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
		mt_no_tlb(&c);
		mt_no_ntlb(&c);
		mt_set(&c, "pwc.nested", cases[i].pwc_nested);
		m = mt_create(&c);
		mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
		mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, NULL);
		mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
		count_served(&w, &mem, &pwc, &ntlb);
		assert_int_equal(w.nrefs, 24);
		assert_int_equal(mem, cases[i].mem);
		assert_int_equal(pwc, cases[i].pwc);
		assert_int_equal(ntlb, 0);
		/* The guest PTE is read at the PT's host-physical address either way. */
		assert_int_equal(w.refs[19].dim, VMEM_DIM_GUEST);
		assert_int_equal(w.refs[19].level, 1);
		assert_int_equal(w.refs[19].served, VMEM_SERVED_MEM);
		assert_int_equal(mt_host_lookup(m, 0, 0x4000, &hpa, NULL), 0);
		assert_int_equal(w.refs[19].table, hpa);
		vmem_mmu_destroy(m);
	}
}

/*
 * Combined entries, with the nested TLB: the walk of B as in
 * test_pwc_nested_same_2m_region_walk_makes_2_refs, but the PT's host walk is served by
 * the guest PDE-cache entry (4 PWC) instead of the nested TLB (4 NTLB). First walk:
 * 15 + 4 = 19 PWC, guest PTE 1 memory, final gPA 0x5000: host PDE-cache hit, 3 PWC +
 * 1 memory: 2 memory, 22 PWC, 0 NTLB. Second walk: 0x5000 now hits the nested TLB:
 * 1 memory, 19 PWC, 4 NTLB.
 */
static void test_pwc_nested_combined_entry_skips_next_tables_host_walk(void **state)
{
	struct vmem_mmu *m = nested_no_tlb("combined");
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, NULL);
	vmem_mmu_flush_caches(m);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(w.nrefs, 24);
	assert_int_equal(mem, 2);
	assert_int_equal(pwc, 22);
	assert_int_equal(ntlb, 0);
	for (unsigned k = 15; k < 19; k++) {
		assert_int_equal(w.refs[k].dim, VMEM_DIM_HOST);
		assert_int_equal(w.refs[k].gstep, 1);
		assert_int_equal(w.refs[k].input, 0x4000);
		assert_int_equal(w.refs[k].served, VMEM_SERVED_PWC);
	}
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(mem, 1);
	assert_int_equal(pwc, 19);
	assert_int_equal(ntlb, 4);
	vmem_mmu_destroy(m);
}

static void test_ntlb_nested_warm_walk_with_large_host_pages_keeps_cold_shape(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;
	uint64_t pwc0, ntlb0;

	(void)state;
	/*
	 * walk.h: a skipped reference is still recorded, "so the record always has the walk's
	 * full shape and counts only differ in served". Nested 4/4, guest 4 KiB, host 2 MiB:
	 * every host walk is 3 references, a cold walk 4*(3+1)+3 = 19.
	 * pwc.nested=guest_physical. Warm walk of A: guest PDE-cache hit skips guest steps 4, 3, 2 with their host walks:
	 * 3*(3+1) = 12 served by the PWC; the PT's gPA hits the nested TLB: 3; the guest PTE
	 * from memory: 1; the final gPA hits the nested TLB: 3. 19 references: 1 memory,
	 * 12 PWC, 6 nested TLB.
	 */
	mt_config(&c, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_2M);
	mt_no_tlb(&c);
	mt_set(&c, "pwc.nested", "guest_physical");
	m = mt_create(&c);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
	vmem_mmu_flush_caches(m);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.nrefs, 19);
	pwc0 = mt_stat(m, "walk.refs_pwc");
	ntlb0 = mt_stat(m, "walk.refs_ntlb");
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	count_served(&w, &mem, &pwc, &ntlb);
	assert_int_equal(w.nrefs, 19);
	assert_int_equal(mem, 1);
	assert_int_equal(pwc, 12);
	assert_int_equal(ntlb, 6);
	assert_int_equal(mt_stat(m, "walk.refs_pwc") - pwc0, 12);
	assert_int_equal(mt_stat(m, "walk.refs_ntlb") - ntlb0, 6);
	vmem_mmu_destroy(m);
}

/* ================================ TLB ================================ */

static void test_tlb_hit_walk_record_carries_pa_and_size(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	struct vmem_walk w;

	(void)state;
	mt_config(&c, VMEM_MODE_NATIVE, 4, 4, VMEM_PAGE_2M, VMEM_PAGE_4K);
	m = mt_create(&c);
	mt_touch(m, 0, 1, 0x40012345, VMEM_ACC_LOAD);
	/* A TLB hit walks nothing but still reports the translation: guest 2 MiB page at
	 * gPA 0x200000 (block 1; the root is in block 0), + 0x12345 + 0x10. */
	mt_translate(m, 0, 1, 0x40012355, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	assert_int_equal(w.walks, 0);
	assert_int_equal(w.nrefs, 0);
	assert_int_equal(w.pa, 0x212355);
	assert_int_equal(w.size, VMEM_PAGE_2M);
	vmem_mmu_destroy(m);
}


static struct vmem_mmu *native_default(bool pcid, bool vpid)
{
	struct vmem_mmu_config c;

	mt_config(&c, VMEM_MODE_NATIVE, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	c.pcid = pcid;
	c.vpid = vpid;
	return mt_create(&c);
}

static void test_tlb_repeated_access_hits_l1(void **state)
{
	struct vmem_mmu *m = native_default(true, true);
	struct vmem_walk w;

	(void)state;
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	assert_int_equal(mt_stat(m, "tlb.misses"), 1);
	assert_int_equal(mt_stat(m, "tlb.l1.hits"), 0);
	mt_touch(m, 0, 1, A + 8, VMEM_ACC_STORE);
	mt_translate(m, 0, 1, A + 0x10, VMEM_ACC_LOAD, &w);
	/* Both later lookups hit L1; no walk. */
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	assert_int_equal(w.walks, 0);
	assert_int_equal(w.nrefs, 0);
	assert_int_equal(mt_stat(m, "tlb.l1.hits"), 2);
	assert_int_equal(mt_stat(m, "tlb.misses"), 1);
	assert_int_equal(mt_stat(m, "walks"), 2);   /* A's first touch: fault, retry */
	vmem_mmu_destroy(m);
}

static void test_tlb_l1_set_conflict_leaves_page_in_stlb(void **state)
{
	struct vmem_mmu *m = native_default(true, true);
	struct vmem_walk w;

	(void)state;
	/*
	 * L1 DTLB 4K: 64 entries, 4 ways, 16 sets (index = VPN mod 16); STLB: 1536 entries,
	 * 12 ways, 128 sets (VPN mod 128). A and A + k * 64 KiB (k = 1..4) share A's L1 set:
	 * the 4 later ones evict A (LRU). In the STLB they are in 4 other sets (16k mod 128
	 * differs), so A stays there: an L2 hit, which refills L1.
	 */
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	for (uint64_t k = 1; k <= 4; k++)
		mt_touch(m, 0, 1, A + k * 0x10000, VMEM_ACC_LOAD);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L2);
	assert_int_equal(w.walks, 0);
	assert_int_equal(mt_stat(m, "tlb.l2.hits"), 1);
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	vmem_mmu_destroy(m);
}

static unsigned hit_after_as_switch(bool pcid)
{
	struct vmem_mmu *m = native_default(pcid, true);
	struct vmem_walk w;

	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	mt_touch(m, 0, 2, A, VMEM_ACC_LOAD);     /* context switch, same va, other table */
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(mt_stat(m, "context_switches"), 3);
	/* Whatever the TLB did, asid 1's A is its own frame (gPA 0x1000), not asid 2's. */
	assert_int_equal(w.pa, mt_gpa(m, 0, 1, A));
	assert_int_equal(mt_gpa(m, 0, 1, A), 0x1000);
	vmem_mmu_destroy(m);
	return w.tlb_hit;
}

static void test_tlb_cr3_load_flushes_without_pcid_keeps_with_pcid(void **state)
{
	(void)state;
	/* pcid=0: the CR3 load back to asid 1 flushes PCID 0: A misses.
	 * pcid=1: asid 1's entry (its own PCID) survived the two switches: L1 hit. */
	assert_int_equal(hit_after_as_switch(false), VMEM_TLB_MISS);
	assert_int_equal(hit_after_as_switch(true), VMEM_TLB_HIT_L1);
}

static unsigned hit_after_vm_switch(bool vpid)
{
	struct vmem_mmu *m = native_default(true, vpid);
	struct vmem_walk w;

	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	mt_touch(m, 1, 1, A, VMEM_ACC_LOAD);     /* VM switch; same asid and va */
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(mt_stat(m, "vm_switches"), 2);
	assert_int_equal(w.pa, mt_gpa(m, 0, 1, A));
	vmem_mmu_destroy(m);
	return w.tlb_hit;
}

static void test_tlb_vm_switch_flushes_without_vpid_keeps_with_vpid(void **state)
{
	(void)state;
	/* vpid=0: every VM switch flushes everything: A misses.
	 * vpid=1: VM 0's entries are tagged with its VPID: L1 hit. */
	assert_int_equal(hit_after_vm_switch(false), VMEM_TLB_MISS);
	assert_int_equal(hit_after_vm_switch(true), VMEM_TLB_HIT_L1);
}

static void test_tlb_switch_vm_record_flushes_without_vpid(void **state)
{
	struct vmem_mmu *m = native_default(true, false);
	struct vmem_trace_rec r1 = mt_switch_vm(1), r0 = mt_switch_vm(0);
	struct vmem_walk w;

	(void)state;
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	/* Explicit VM switch records (VM 1 never ran: no address space there). */
	mt_apply(m, &r1);
	mt_apply(m, &r0);
	assert_int_equal(mt_stat(m, "vm_switches"), 2);
	assert_int_equal(mt_stat(m, "context_switches"), 1);   /* VM 0 resumes asid 1 */
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
	vmem_mmu_destroy(m);
}

static void test_tlb_unmap_invlpg_drops_the_page_only(void **state)
{
	struct vmem_mmu *m = native_default(true, true);
	struct vmem_trace_rec r = mt_unmap(0, 1, A, 4096);
	struct vmem_walk w;

	(void)state;
	mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
	mt_touch(m, 0, 1, B, VMEM_ACC_LOAD);
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "invlpgs"), 1);
	/* B untouched by the INVLPG of A. */
	mt_translate(m, 0, 1, B, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	/* A: the entry is gone (miss), the walk faults and the guest maps A anew. */
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
	assert_int_equal(w.guest_faults, 1);
	vmem_mmu_destroy(m);
}

static void test_tlb_protect_invlpg_then_store_faults_once(void **state)
{
	struct vmem_mmu *m = native_default(true, true);
	struct vmem_trace_rec r = mt_protect(0, 1, A, 4096, VMEM_PROT_READ);
	struct vmem_walk w;

	(void)state;
	mt_touch(m, 0, 1, A, VMEM_ACC_STORE);
	mt_apply(m, &r);
	/* A load: TLB miss (INVLPG), walk OK with the read-only leaf. */
	mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
	assert_int_equal(w.guest_faults, 0);
	/* A store: L1 hit without write permission, walk, fault, write granted, walk. */
	mt_translate(m, 0, 1, A, VMEM_ACC_STORE, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	assert_int_equal(w.walks, 2);
	assert_int_equal(w.guest_faults, 1);
	/* And now the TLB holds the writable translation. */
	mt_translate(m, 0, 1, A, VMEM_ACC_STORE, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	assert_int_equal(w.walks, 0);
	vmem_mmu_destroy(m);
}

static void test_tlb_nested_unmap_of_guest_2m_page_drops_4k_fragments(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	struct vmem_trace_rec r = mt_unmap(0, 1, 0x40000000, 4096);
	struct vmem_walk w;

	(void)state;
	/*
	 * Guest 2 MiB page over host 4 KiB pages: the TLB holds one 4 KiB combined entry per
	 * page touched (SDM Vol. 3C, 28.4.1). Unmapping the guest page (at its first 4 KiB)
	 * removes the whole 2 MiB leaf and invalidates its address; every fragment of the page
	 * must go (SDM Vol. 3A, 4.10.4.1), so the access to the second 4 KiB page must miss
	 * and fault, not use the stale fragment.
	 */
	mt_config(&c, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_2M, VMEM_PAGE_4K);
	m = mt_create(&c);
	mt_touch(m, 0, 1, 0x40000000, VMEM_ACC_LOAD);
	mt_touch(m, 0, 1, 0x40001000, VMEM_ACC_LOAD);
	mt_translate(m, 0, 1, 0x40001000, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
	assert_int_equal(w.size, VMEM_PAGE_4K);
	mt_apply(m, &r);
	assert_int_equal(mt_stat(m, "unmaps"), 1);
	mt_translate(m, 0, 1, 0x40001000, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
	assert_int_equal(w.guest_faults, 1);
	vmem_mmu_destroy(m);
}

static void test_tlb_pcid_tags_of_asids_4095_apart_do_not_alias(void **state)
{
	struct vmem_mmu *m = native_default(true, true);
	struct vmem_walk w;

	(void)state;
	/*
	 * mmu.c gives address space `asid` the PCID asid % 4095 + 1: asids 0 and 4095 both
	 * get PCID 1. A CR3 load with PCIDs flushes nothing, so the model must invalidate a
	 * PCID when it passes to another address space (as Linux does when it reassigns an
	 * ASID: arch/x86/mm/tlb.c, choose_new_asid), or asid 4095 would be handed asid 0's
	 * translation. asid 4095 never mapped A: its access must miss and fault.
	 */
	mt_touch(m, 0, 0, A, VMEM_ACC_LOAD);
	mt_translate(m, 0, 4095, A, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
	assert_int_equal(w.guest_faults, 1);
	assert_int_equal(w.pa, mt_gpa(m, 0, 4095, A));
	assert_true(w.pa != mt_gpa(m, 0, 0, A));
	vmem_mmu_destroy(m);
}

/*
 * Without VPIDs, every VM exit and the VM entry after it invalidate the linear and combined
 * mappings of VPID 0 (SDM Vol. 3C, 29.4.3.1): the TLB and the guest paging-structure
 * caches, not only a VM switch. Guest-physical mappings (nested TLB, host walk caches) are
 * tagged by EPTP and survive.
 *
 * Nested 4/4, default caches, one VM, asid 1:
 *   1. A's first touch maps guest root 0, data 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000;
 *      the walks that follow the EPT violations leave all five gPAs in the nested TLB.
 *   2. B's first touch: guest fault (no exit in nested mode), then the final gPA 0x5000 is
 *      not host-mapped: EPT violation, an exit. vpid=0: TLB and guest PWC flushed here; the
 *      retried walk of B refills the guest PWC with the PML4E, PDPTE and PDE of the region
 *      that A shares.
 *   3. A: vpid=1: still an L1 TLB hit, no walk. vpid=0: TLB miss; the guest PDE-cache hit
 *      skips guest steps 4, 3, 2 and their host walks (3 * (4 + 1) = 15 PWC) and, the
 *      entry being combined (the default pwc.nested), the PT's host walk (4 PWC); the
 *      data gPA 0x1000 hits the nested TLB (4); the guest PTE is the one memory
 *      reference: 24 = 1 + 19 + 4. The nested TLB kept 0x1000 through the exits.
 */
static void test_tlb_nested_exit_without_vpid_flushes_tlb_and_guest_pwc(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	for (int vpid = 1; vpid >= 0; vpid--) {
		mt_config(&c, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
		c.vpid = vpid;
		m = mt_create(&c);
		mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
		mt_touch(m, 0, 1, B, VMEM_ACC_LOAD);
		assert_int_equal(mt_stat(m, "exits.ept_violation"), 6);  /* 0, 0x1000..0x5000 */
		assert_int_equal(mt_stat(m, "vm_switches"), 0);
		mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
		if (vpid) {
			assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
			assert_int_equal(w.walks, 0);
		} else {
			assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
			assert_int_equal(w.walks, 1);
			count_served(&w, &mem, &pwc, &ntlb);
			assert_int_equal(w.nrefs, 24);
			assert_int_equal(mem, 1);
			assert_int_equal(pwc, 19);
			assert_int_equal(ntlb, 4);
		}
		vmem_mmu_destroy(m);
	}
}

/*
 * The same rule under shadow paging (shadow.sync=trap), where the TLB and walk caches hold
 * shadow translations. A's first touch exits (CR3 load, guest fault, PTE write, hidden
 * fault); B's first touch exits too (guest fault, PTE write to the shadowed PT, hidden
 * fault). vpid=1: A still hits L1. vpid=0: A's TLB entry went with B's exits; the retried
 * walk of B after its hidden fault refilled the PWC with the region's path, so A's shadow
 * walk is a PDE-cache hit (3 skipped) and one PTE read.
 */
static void test_tlb_shadow_exit_without_vpid_flushes_tlb_and_pwc(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	for (int vpid = 1; vpid >= 0; vpid--) {
		mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
		c.vpid = vpid;
		c.shadow_sync = VMEM_SHADOW_TRAP;
		m = mt_create(&c);
		mt_touch(m, 0, 1, A, VMEM_ACC_LOAD);
		mt_touch(m, 0, 1, B, VMEM_ACC_LOAD);
		assert_int_equal(mt_stat(m, "exits.hidden_fault"), 2);
		mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
		if (vpid) {
			assert_int_equal(w.tlb_hit, VMEM_TLB_HIT_L1);
			assert_int_equal(w.walks, 0);
		} else {
			assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
			assert_int_equal(w.walks, 1);
			assert_int_equal(w.exits, 0);
			count_served(&w, &mem, &pwc, &ntlb);
			assert_int_equal(mem, 1);
			assert_int_equal(pwc, 3);
		}
		vmem_mmu_destroy(m);
	}
}

/*
 * pcid.mode=linux with pcid.count=6: Linux's choose_new_asid (arch/x86/mm/tlb.c). The VM
 * boots with next_asid = 1 (slot 0 is init_mm's). Native, default TLB; A in asids 1..8,
 * each first touch a CR3 load that allocates a slot round-robin:
 *   asid 1..5 -> slots 1..5; asid 6 -> next_asid 6 >= 6: slot 0, next_asid = 1;
 *   asid 7 -> slot 1 (asid 1 loses it, its PCID flushed); asid 8 -> slot 2 (asid 2's).
 *   Slots: 0:6 1:7 2:8 3:3 4:4 5:5, next_asid 3.
 * Reloads, each a CR3 load, and whether A's translation survived in the TLB:
 *   3: slot 3 holds it: no-flush load, hit.
 *   1: no slot: slot 3 (next_asid 3 -> 4), asid 3 loses it, flushed: miss.
 *   3: no slot: slot 4 (-> 5), asid 4's: miss. (LRU would have taken slot 4 for asid 1
 *      and found asid 3 here: round-robin is what Linux does.)
 *   5: slot 5: hit.  6: slot 0: hit.  8: slot 2: hit.
 *   4: no slot: slot 5 (-> 6), asid 5's: miss.
 *   5: no slot: 6 >= 6, slot 0, next_asid 1; asid 6's: miss.
 *   6: slot 1 (asid 7's): miss.  7: slot 2 (asid 8's): miss.
 * With pcid.mode=per_as every address space keeps its own PCID: all ten reloads hit
 * (in L1 or, after set conflicts among the eight copies of A, the STLB).
 */
static void test_tlb_pcid_linux_mode_reuses_six_slots_round_robin(void **state)
{
	static const uint32_t reload[10] = { 3, 1, 3, 5, 6, 8, 4, 5, 6, 7 };
	static const bool hit[10] = { 1, 0, 0, 1, 1, 1, 0, 0, 0, 0 };
	struct vmem_mmu_config c;
	struct vmem_walk w;

	(void)state;
	for (int linux_mode = 1; linux_mode >= 0; linux_mode--) {
		struct vmem_mmu *m;

		mt_config(&c, VMEM_MODE_NATIVE, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
		mt_set(&c, "pcid.mode", linux_mode ? "linux" : "per_as");
		mt_set(&c, "pcid.count", "6");
		m = mt_create(&c);
		for (uint32_t asid = 1; asid <= 8; asid++)
			mt_touch(m, 0, asid, A, VMEM_ACC_LOAD);
		for (unsigned i = 0; i < 10; i++) {
			mt_translate(m, 0, reload[i], A, VMEM_ACC_LOAD, &w);
			if (!linux_mode || hit[i])
				assert_int_not_equal(w.tlb_hit, VMEM_TLB_MISS);
			else
				assert_int_equal(w.tlb_hit, VMEM_TLB_MISS);
			/* Never another address space's frame. */
			assert_int_equal(w.pa, mt_gpa(m, 0, reload[i], A));
			assert_int_equal(w.guest_faults, 0);
		}
		assert_int_equal(mt_stat(m, "context_switches"), 8 + 10);
		vmem_mmu_destroy(m);
	}
}

/* A slot's reuse flushes its paging-structure-cache entries too: asid 1's PDE-cache
 * entry for A is gone once asid 2 took its slot (pcid.count=1: every switch reuses slot
 * 0). No TLB: asid 1's A walks 4 references again, instead of 1 with per_as PCIDs. */
static void test_pwc_pcid_linux_mode_slot_reuse_flushes_pwc(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_walk w;
	unsigned mem, pwc, ntlb;

	(void)state;
	for (int linux_mode = 1; linux_mode >= 0; linux_mode--) {
		struct vmem_mmu *m;

		mt_config(&c, VMEM_MODE_NATIVE, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
		mt_no_tlb(&c);
		mt_set(&c, "pcid.mode", linux_mode ? "linux" : "per_as");
		mt_set(&c, "pcid.count", "1");
		m = mt_create(&c);
		mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, NULL);
		mt_translate(m, 0, 2, E, VMEM_ACC_LOAD, NULL);
		mt_translate(m, 0, 1, A, VMEM_ACC_LOAD, &w);
		count_served(&w, &mem, &pwc, &ntlb);
		assert_int_equal(mem, linux_mode ? 4 : 1);
		vmem_mmu_destroy(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pwc_native_same_2m_region_second_walk_makes_1_ref),
		cmocka_unit_test(test_pwc_native_first_touch_in_same_2m_region_retries_with_1_ref),
		cmocka_unit_test(test_pwc_native_other_2m_region_same_1g_makes_2_refs),
		cmocka_unit_test(test_pwc_native_other_1g_and_512g_regions_make_3_and_4_refs),
		cmocka_unit_test(test_pwc_invlpg_drops_every_pwc_entry_of_the_pcid),
		cmocka_unit_test(test_pwc_cr3_load_without_pcid_flushes_with_pcid_keeps),
		cmocka_unit_test(test_pwc_nested_same_2m_region_walk_makes_2_refs),
		cmocka_unit_test(test_ntlb_nested_absent_walk_uses_host_pwc_only),
		cmocka_unit_test(test_pwc_nested_combined_entry_skips_next_tables_host_walk),
		cmocka_unit_test(test_ntlb_nested_warm_walk_with_large_host_pages_keeps_cold_shape),
		cmocka_unit_test(test_tlb_hit_walk_record_carries_pa_and_size),
		cmocka_unit_test(test_tlb_repeated_access_hits_l1),
		cmocka_unit_test(test_tlb_l1_set_conflict_leaves_page_in_stlb),
		cmocka_unit_test(test_tlb_cr3_load_flushes_without_pcid_keeps_with_pcid),
		cmocka_unit_test(test_tlb_vm_switch_flushes_without_vpid_keeps_with_vpid),
		cmocka_unit_test(test_tlb_switch_vm_record_flushes_without_vpid),
		cmocka_unit_test(test_tlb_unmap_invlpg_drops_the_page_only),
		cmocka_unit_test(test_tlb_protect_invlpg_then_store_faults_once),
		cmocka_unit_test(test_tlb_nested_unmap_of_guest_2m_page_drops_4k_fragments),
		cmocka_unit_test(test_tlb_pcid_tags_of_asids_4095_apart_do_not_alias),
		cmocka_unit_test(test_tlb_nested_exit_without_vpid_flushes_tlb_and_guest_pwc),
		cmocka_unit_test(test_tlb_shadow_exit_without_vpid_flushes_tlb_and_pwc),
		cmocka_unit_test(test_tlb_pcid_linux_mode_reuses_six_slots_round_robin),
		cmocka_unit_test(test_pwc_pcid_linux_mode_slot_reuse_flushes_pwc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
