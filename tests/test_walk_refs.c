/*
 * Reference counts and shapes of page walks with every cache removed (TLBs, guest and
 * host paging-structure caches and the nested TLB at 0 entries), for every combination of
 * mode, paging depth and page size.
 *
 * Method: translate a page once (the first touch faults and maps it, and maps every
 * guest table page on the way), empty the caches, then translate it again with a
 * struct vmem_walk and check the recorded walk: number of references, that each came
 * from memory, their order, dimension, level, guest step, input, index and table
 * address, against the guest and host tables read independently (vmem_pt_lookup via
 * tests/mmu_testlib.c), and the statistics the walk added.
 *
 * Expected counts. A 1D walk of an n-level table for a page whose leaf sits at level
 * 1 + s (s = 0, 1, 2 for 4 KiB, 2 MiB, 1 GiB) reads n - s entries. A 2D walk reads, for
 * each of the n_eff = n - s_g guest entries, first the m_eff = m - s_h host entries that
 * translate the guest table's gPA, then the guest entry itself, and at the end m_eff host
 * entries for the final gPA: n_eff * (m_eff + 1) + m_eff references (Bhargava et al.,
 * ASPLOS 2008; (n+1)(m+1)-1 when both use 4 KiB pages). Every host walk has length
 * m_eff because the host maps all of guest-physical memory touched here with host.page
 * (host memory has free blocks of every size). A shadow walk is a 1D walk of the shadow
 * table, whose leaves are at the smaller of the guest and host page sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/pt.h"

#include "mmu_testlib.h"

#define VM 0
#define ASID 1

static const char *const size_names[] = { "4k", "2m", "1g" };

/* An address with a non-zero offset in every page size, canonical for the depth. */
static uint64_t test_va(unsigned levels)
{
	return levels == 5 ? 0x00abcdef12345678ull : 0x00007f5a12345678ull;
}

struct walked {
	struct vmem_walk w;
	uint64_t pa;
	uint64_t refs, walks, refs_pwc, refs_ntlb;   /* statistics added by the walk */
};

/* First touch, flush, recorded walk. */
static struct vmem_mmu *walk_cold(enum vmem_mode mode, unsigned n, unsigned m,
				  enum vmem_page_size gp, enum vmem_page_size hp,
				  struct walked *out)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *mmu;
	uint64_t va = test_va(n), pa0, r0, w0, p0, t0;

	mt_config(&c, mode, n, m, gp, hp);
	mt_no_caches(&c);
	mmu = mt_create(&c);
	pa0 = mt_translate(mmu, VM, ASID, va, VMEM_ACC_LOAD, NULL);
	vmem_mmu_flush_caches(mmu);
	r0 = mt_stat(mmu, "walk.refs");
	w0 = mt_stat(mmu, "walks");
	p0 = mt_stat(mmu, "walk.refs_pwc");
	t0 = mt_stat(mmu, "walk.refs_ntlb");
	out->pa = mt_translate(mmu, VM, ASID, va, VMEM_ACC_LOAD, &out->w);
	out->refs = mt_stat(mmu, "walk.refs") - r0;
	out->walks = mt_stat(mmu, "walks") - w0;
	out->refs_pwc = mt_stat(mmu, "walk.refs_pwc") - p0;
	out->refs_ntlb = mt_stat(mmu, "walk.refs_ntlb") - t0;
	assert_int_equal(out->pa, pa0);
	return mmu;
}

/* What every cold, cache-less walk of a mapped page must satisfy. */
static void check_common(struct vmem_mmu *mmu, const struct walked *r, unsigned expect)
{
	uint64_t want_pa;

	assert_int_equal(r->w.nrefs, expect);
	assert_int_equal(r->w.truncated, 0);
	assert_int_equal(r->w.walks, 1);
	assert_int_equal(r->w.guest_faults, 0);
	assert_int_equal(r->w.host_faults, 0);
	assert_int_equal(r->w.exits, 0);
	assert_int_equal(r->w.tlb_hit, VMEM_TLB_MISS);
	for (unsigned i = 0; i < r->w.nrefs; i++)
		assert_int_equal(r->w.refs[i].served, VMEM_SERVED_MEM);
	/* Statistics: one walk, `expect` references, none skipped. */
	assert_int_equal(r->walks, 1);
	assert_int_equal(r->refs, expect);
	assert_int_equal(r->refs_pwc, 0);
	assert_int_equal(r->refs_ntlb, 0);
	/* The final address is the one the tables give. */
	assert_int_equal(mt_expected_pa(mmu, VM, ASID, r->w.va, &want_pa), 0);
	assert_int_equal(r->pa, want_pa);
	assert_int_equal(r->w.pa, want_pa);
}

/* ================================ native ================================ */

static void check_native(unsigned n, enum vmem_page_size gp, unsigned expect)
{
	struct walked r;
	struct vmem_mmu *mmu = walk_cold(VMEM_MODE_NATIVE, n, 4, gp, VMEM_PAGE_4K, &r);
	uint64_t va = test_va(n);

	print_message("native %u-level %s: %u refs\n", n, size_names[gp], expect);
	check_common(mmu, &r, expect);
	assert_int_equal(r.w.size, gp);
	for (unsigned i = 0; i < expect; i++) {
		const struct vmem_walk_ref *f = &r.w.refs[i];
		unsigned level = n - i;

		assert_int_equal(f->dim, VMEM_DIM_NATIVE);
		assert_int_equal(f->level, level);
		assert_int_equal(f->input, va);
		assert_int_equal(f->index, vmem_pt_index(va, level));
		/* Natively a table's guest-physical address is its physical address. */
		assert_int_equal(f->table, mt_guest_table_gpa(mmu, VM, ASID, va, level));
		if (i + 1 < expect)
			assert_int_equal(vmem_pte_addr(f->entry), r.w.refs[i + 1].table);
	}
	/* The last entry read is the leaf: PS set above level 1. */
	assert_int_equal(!!(r.w.refs[expect - 1].entry & 0x80), gp != VMEM_PAGE_4K);
	vmem_mmu_destroy(mmu);
}

static void test_walk_native_4level_cold_refs_are_4_3_2(void **state)
{
	(void)state;
	check_native(4, VMEM_PAGE_4K, 4);   /* PML4E, PDPTE, PDE, PTE */
	check_native(4, VMEM_PAGE_2M, 3);   /* PML4E, PDPTE, PDE (PS) */
	check_native(4, VMEM_PAGE_1G, 2);   /* PML4E, PDPTE (PS) */
}

static void test_walk_native_5level_cold_refs_are_5_4_3(void **state)
{
	(void)state;
	check_native(5, VMEM_PAGE_4K, 5);   /* PML5E, PML4E, PDPTE, PDE, PTE */
	check_native(5, VMEM_PAGE_2M, 4);
	check_native(5, VMEM_PAGE_1G, 3);
}

/* ================================ nested ================================ */

/*
 * Checks one host walk of gpa starting at refs[k] (m_eff references for guest step
 * gstep) and returns the host-physical address it yields.
 */
static uint64_t check_host_walk(struct vmem_mmu *mmu, const struct vmem_walk *w, unsigned *k,
				unsigned m, enum vmem_page_size hp, unsigned gstep,
				uint64_t gpa)
{
	unsigned hleaf = 1 + (unsigned)hp;
	uint64_t hpa, want;
	enum vmem_page_size hsize;

	for (unsigned hl = m; hl >= hleaf; hl--, (*k)++) {
		const struct vmem_walk_ref *f = &w->refs[*k];

		assert_int_equal(f->dim, VMEM_DIM_HOST);
		assert_int_equal(f->level, hl);
		assert_int_equal(f->gstep, gstep);
		assert_int_equal(f->input, gpa);
		assert_int_equal(f->index, vmem_pt_index(gpa, hl));
		if (hl == m)
			assert_int_equal(f->table, mt_host_root(mmu, VM));
		else
			assert_int_equal(f->table, vmem_pte_addr(w->refs[*k - 1].entry));
	}
	/* The host leaf read last gives the host page; EPT PS is bit 7 as well. */
	hpa = vmem_pte_addr(w->refs[*k - 1].entry) + (gpa & (vmem_page_bytes(hp) - 1));
	assert_int_equal(!!(w->refs[*k - 1].entry & 0x80), hp != VMEM_PAGE_4K);
	assert_int_equal(mt_host_lookup(mmu, VM, gpa, &want, &hsize), 0);
	assert_int_equal(hsize, hp);
	assert_int_equal(hpa, want);
	return hpa;
}

static void check_nested(unsigned n, unsigned m, enum vmem_page_size gp,
			 enum vmem_page_size hp, unsigned expect)
{
	struct walked r;
	struct vmem_mmu *mmu = walk_cold(VMEM_MODE_NESTED, n, m, gp, hp, &r);
	uint64_t va = test_va(n), gpa = mt_gpa(mmu, VM, ASID, va), hpa;
	unsigned gleaf = 1 + (unsigned)gp, k = 0;

	print_message("nested %u/%u %s/%s: %u refs\n", n, m, size_names[gp], size_names[hp],
		      expect);
	check_common(mmu, &r, expect);
	/* TLB entry at the smaller page size (combined mapping). */
	assert_int_equal(r.w.size, gp < hp ? gp : hp);
	for (unsigned gl = n; gl >= gleaf; gl--) {
		uint64_t table_gpa = mt_guest_table_gpa(mmu, VM, ASID, va, gl);
		uint64_t table_hpa = check_host_walk(mmu, &r.w, &k, m, hp, gl, table_gpa);
		const struct vmem_walk_ref *f = &r.w.refs[k++];

		/* Then the guest entry, read at the host translation of its table. */
		assert_int_equal(f->dim, VMEM_DIM_GUEST);
		assert_int_equal(f->level, gl);
		assert_int_equal(f->gstep, gl);
		assert_int_equal(f->input, va);
		assert_int_equal(f->index, vmem_pt_index(va, gl));
		assert_int_equal(f->table, table_hpa);
		if (gl > gleaf)
			assert_int_equal(vmem_pte_addr(f->entry),
					 mt_guest_table_gpa(mmu, VM, ASID, va, gl - 1));
		else
			assert_int_equal(vmem_pte_addr(f->entry) + (va & (vmem_page_bytes(gp) - 1)),
					 gpa);
	}
	/* Finally the host walk of the final gPA (guest step 0). */
	hpa = check_host_walk(mmu, &r.w, &k, m, hp, 0, gpa);
	assert_int_equal(k, expect);
	assert_int_equal(hpa, r.pa);
	vmem_mmu_destroy(mmu);
}

/*
 * refs = n_eff * (m_eff + 1) + m_eff with n_eff = n - s_g, m_eff = m - s_h
 * (s = 0, 1, 2 for 4k, 2m, 1g). Each row is worked out beside it.
 */
static const struct nested_case {
	unsigned n, m;
	enum vmem_page_size gp, hp;
	unsigned refs;
} nested_cases[] = {
	{ 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K, 24 },   /* 4*5+4 */
	{ 4, 4, VMEM_PAGE_4K, VMEM_PAGE_2M, 19 },   /* 4*4+3 */
	{ 4, 4, VMEM_PAGE_4K, VMEM_PAGE_1G, 14 },   /* 4*3+2 */
	{ 4, 4, VMEM_PAGE_2M, VMEM_PAGE_4K, 19 },   /* 3*5+4 */
	{ 4, 4, VMEM_PAGE_2M, VMEM_PAGE_2M, 15 },   /* 3*4+3 */
	{ 4, 4, VMEM_PAGE_2M, VMEM_PAGE_1G, 11 },   /* 3*3+2 */
	{ 4, 4, VMEM_PAGE_1G, VMEM_PAGE_4K, 14 },   /* 2*5+4 */
	{ 4, 4, VMEM_PAGE_1G, VMEM_PAGE_2M, 11 },   /* 2*4+3 */
	{ 4, 4, VMEM_PAGE_1G, VMEM_PAGE_1G, 8 },    /* 2*3+2 */
	{ 4, 5, VMEM_PAGE_4K, VMEM_PAGE_4K, 29 },   /* 4*6+5 */
	{ 4, 5, VMEM_PAGE_4K, VMEM_PAGE_2M, 24 },   /* 4*5+4 */
	{ 4, 5, VMEM_PAGE_4K, VMEM_PAGE_1G, 19 },   /* 4*4+3 */
	{ 4, 5, VMEM_PAGE_2M, VMEM_PAGE_4K, 23 },   /* 3*6+5 */
	{ 4, 5, VMEM_PAGE_2M, VMEM_PAGE_2M, 19 },   /* 3*5+4 */
	{ 4, 5, VMEM_PAGE_2M, VMEM_PAGE_1G, 15 },   /* 3*4+3 */
	{ 4, 5, VMEM_PAGE_1G, VMEM_PAGE_4K, 17 },   /* 2*6+5 */
	{ 4, 5, VMEM_PAGE_1G, VMEM_PAGE_2M, 14 },   /* 2*5+4 */
	{ 4, 5, VMEM_PAGE_1G, VMEM_PAGE_1G, 11 },   /* 2*4+3 */
	{ 5, 4, VMEM_PAGE_4K, VMEM_PAGE_4K, 29 },   /* 5*5+4 */
	{ 5, 4, VMEM_PAGE_4K, VMEM_PAGE_2M, 23 },   /* 5*4+3 */
	{ 5, 4, VMEM_PAGE_4K, VMEM_PAGE_1G, 17 },   /* 5*3+2 */
	{ 5, 4, VMEM_PAGE_2M, VMEM_PAGE_4K, 24 },   /* 4*5+4 */
	{ 5, 4, VMEM_PAGE_2M, VMEM_PAGE_2M, 19 },   /* 4*4+3 */
	{ 5, 4, VMEM_PAGE_2M, VMEM_PAGE_1G, 14 },   /* 4*3+2 */
	{ 5, 4, VMEM_PAGE_1G, VMEM_PAGE_4K, 19 },   /* 3*5+4 */
	{ 5, 4, VMEM_PAGE_1G, VMEM_PAGE_2M, 15 },   /* 3*4+3 */
	{ 5, 4, VMEM_PAGE_1G, VMEM_PAGE_1G, 11 },   /* 3*3+2 */
	{ 5, 5, VMEM_PAGE_4K, VMEM_PAGE_4K, 35 },   /* 5*6+5 */
	{ 5, 5, VMEM_PAGE_4K, VMEM_PAGE_2M, 29 },   /* 5*5+4 */
	{ 5, 5, VMEM_PAGE_4K, VMEM_PAGE_1G, 23 },   /* 5*4+3 */
	{ 5, 5, VMEM_PAGE_2M, VMEM_PAGE_4K, 29 },   /* 4*6+5 */
	{ 5, 5, VMEM_PAGE_2M, VMEM_PAGE_2M, 24 },   /* 4*5+4 */
	{ 5, 5, VMEM_PAGE_2M, VMEM_PAGE_1G, 19 },   /* 4*4+3 */
	{ 5, 5, VMEM_PAGE_1G, VMEM_PAGE_4K, 23 },   /* 3*6+5 */
	{ 5, 5, VMEM_PAGE_1G, VMEM_PAGE_2M, 19 },   /* 3*5+4 */
	{ 5, 5, VMEM_PAGE_1G, VMEM_PAGE_1G, 15 },   /* 3*4+3 */
};

static void run_nested(unsigned n, unsigned m)
{
	for (size_t i = 0; i < sizeof(nested_cases) / sizeof(nested_cases[0]); i++) {
		const struct nested_case *c = &nested_cases[i];

		if (c->n == n && c->m == m)
			check_nested(c->n, c->m, c->gp, c->hp, c->refs);
	}
}

static void test_walk_nested_4_over_4_cold_refs_24_19_15(void **state)
{
	(void)state;
	run_nested(4, 4);
}

static void test_walk_nested_4_over_5_cold_refs_29_to_11(void **state)
{
	(void)state;
	run_nested(4, 5);
}

static void test_walk_nested_5_over_4_cold_refs_29_to_11(void **state)
{
	(void)state;
	run_nested(5, 4);
}

static void test_walk_nested_5_over_5_cold_refs_35_to_15(void **state)
{
	(void)state;
	run_nested(5, 5);
}

static void test_walk_nested_table_of_cases_matches_formula(void **state)
{
	(void)state;
	/* Guards the hand-written table above against a typo: (n+1)(m+1)-1 when both are
	 * 4k, and the general n_eff * (m_eff + 1) + m_eff. */
	for (size_t i = 0; i < sizeof(nested_cases) / sizeof(nested_cases[0]); i++) {
		const struct nested_case *c = &nested_cases[i];
		unsigned ne = c->n - c->gp, me = c->m - c->hp;

		assert_int_equal(c->refs, ne * (me + 1) + me);
		if (c->gp == VMEM_PAGE_4K && c->hp == VMEM_PAGE_4K)
			assert_int_equal(c->refs, (c->n + 1) * (c->m + 1) - 1);
	}
}

/* ================================ shadow ================================ */

static void check_shadow(unsigned n, unsigned m, enum vmem_page_size gp,
			 enum vmem_page_size hp)
{
	enum vmem_page_size s = gp < hp ? gp : hp;
	unsigned expect = n - (unsigned)s;    /* shadow leaf at the smaller size */
	struct walked r;
	struct vmem_mmu *mmu = walk_cold(VMEM_MODE_SHADOW, n, m, gp, hp, &r);
	uint64_t va = test_va(n);

	print_message("shadow %u/%u %s/%s: %u refs\n", n, m, size_names[gp], size_names[hp],
		      expect);
	check_common(mmu, &r, expect);
	assert_int_equal(r.w.size, s);
	for (unsigned i = 0; i < expect; i++) {
		const struct vmem_walk_ref *f = &r.w.refs[i];

		assert_int_equal(f->dim, VMEM_DIM_SHADOW);
		assert_int_equal(f->level, n - i);
		assert_int_equal(f->input, va);
		assert_int_equal(f->index, vmem_pt_index(va, n - i));
		if (i + 1 < expect)
			assert_int_equal(vmem_pte_addr(f->entry), r.w.refs[i + 1].table);
	}
	/* The shadow leaf maps straight to the host page. */
	assert_int_equal(vmem_pte_addr(r.w.refs[expect - 1].entry) +
				 (va & (vmem_page_bytes(s) - 1)), r.pa);
	vmem_mmu_destroy(mmu);
}

static void test_walk_shadow_cold_refs_are_guest_depth_minus_leaf_level(void **state)
{
	(void)state;
	/* n - s with s the smaller of the two page sizes: 4k/any -> n; 2m/2m, 2m/1g,
	 * 1g/2m -> n - 1; 1g/1g -> n - 2; 2m/4k, 1g/4k -> n (host 4k splits the page). */
	for (unsigned n = 4; n <= 5; n++)
		for (unsigned m = 4; m <= 5; m++)
			for (unsigned gp = 0; gp < VMEM_PAGE_SIZES; gp++)
				for (unsigned hp = 0; hp < VMEM_PAGE_SIZES; hp++)
					check_shadow(n, m, (enum vmem_page_size)gp,
						     (enum vmem_page_size)hp);
}

/* ======================= first-touch walk records ======================= */

static void test_walk_native_first_touch_takes_two_walks_one_fault(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *mmu;
	struct vmem_walk w;

	(void)state;
	mt_config(&c, VMEM_MODE_NATIVE, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_no_caches(&c);
	mmu = mt_create(&c);
	/* Walk 1 reads the empty root entry (1 ref) and faults; the guest maps the page;
	 * walk 2 reads 4 entries. refs[] keeps the last walk. */
	mt_translate(mmu, VM, ASID, test_va(4), VMEM_ACC_STORE, &w);
	assert_int_equal(w.walks, 2);
	assert_int_equal(w.guest_faults, 1);
	assert_int_equal(w.host_faults, 0);
	assert_int_equal(w.exits, 0);
	assert_int_equal(w.nrefs, 4);
	assert_int_equal(mt_stat(mmu, "walks"), 2);
	assert_int_equal(mt_stat(mmu, "walk.refs"), 1 + 4);
	assert_int_equal(mt_stat(mmu, "faults.guest"), 1);
	vmem_mmu_destroy(mmu);
}

static void test_walk_nested_first_touch_faults_on_each_new_table_gpa(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *mmu;
	struct vmem_walk w;

	(void)state;
	mt_config(&c, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_no_caches(&c);
	mmu = mt_create(&c);
	/*
	 * Fresh VM: guest root at gPA 0, host table empty.
	 *   walk 1: host walk of gPA 0 reads the empty EPT root entry: EPT violation (1).
	 *   walk 2: root translated (4), root entry empty: guest fault. The guest takes the
	 *           data frame 1 first, then PDPT 2, PD 3, PT 4 (guest_os.c: data block first,
	 *           then vmem_pt_map makes the tables).
	 *   walks 3, 4, 5: the PDPT, PD and PT gPAs (0x2000, 0x3000, 0x4000) are not host
	 *           mapped yet: one EPT violation each.
	 *   walk 6: the final gPA 0x1000 is not host mapped: EPT violation.
	 *   walk 7: complete, 24 references.
	 * walks 7, guest faults 1, host faults 5, exits 5 (all EPT violations).
	 */
	mt_translate(mmu, VM, ASID, 0x7f0000001000ull, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.walks, 7);
	assert_int_equal(w.guest_faults, 1);
	assert_int_equal(w.host_faults, 5);
	assert_int_equal(w.exits, 5);
	assert_int_equal(w.nrefs, 24);
	assert_int_equal(mt_stat(mmu, "exits.ept_violation"), 5);
	assert_int_equal(mt_stat(mmu, "exits.total"), 5);
	assert_int_equal(mt_gpa(mmu, VM, ASID, 0x7f0000001000ull), 0x1000);
	assert_int_equal(mt_guest_table_gpa(mmu, VM, ASID, 0x7f0000001000ull, 3), 0x2000);
	assert_int_equal(mt_guest_table_gpa(mmu, VM, ASID, 0x7f0000001000ull, 2), 0x3000);
	assert_int_equal(mt_guest_table_gpa(mmu, VM, ASID, 0x7f0000001000ull, 1), 0x4000);
	vmem_mmu_destroy(mmu);
}

static void test_walk_shadow_first_touch_takes_three_walks_three_exits(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *mmu;
	struct vmem_walk w;

	(void)state;
	mt_config(&c, VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_no_caches(&c);
	mmu = mt_create(&c);
	/*
	 * The switch to the address space (a CR3 load exit) happens before the walk record
	 * starts. Then:
	 *   walk 1: empty shadow root entry (1 ref): shadow miss; the VMM's software walk reads
	 *           the guest root (gPA 0: host fault, no exit in shadow mode); the guest has
	 *           no mapping: guest-fault exit, reflected. The guest maps the page: its write
	 *           to the root table (shadowed by the shadow root) exits (pte_write); the new
	 *           PDPT, PD and PT are not shadowed, their writes do not.
	 *   walk 2: shadow miss again; the software walk reads the new PDPT, PD and PT (3 host
	 *           faults); now a hidden fault: exit, fill (the host maps the data gPA on the
	 *           way: a host fault).
	 *   walk 3: 4 references.
	 * walks 3, guest faults 1, host faults 1 + 3 + 1 = 5 (as the nested walk's 5 EPT
	 * violations above), exits 3.
	 */
	mt_translate(mmu, VM, ASID, 0x7f0000001000ull, VMEM_ACC_LOAD, &w);
	assert_int_equal(w.walks, 3);
	assert_int_equal(w.guest_faults, 1);
	assert_int_equal(w.host_faults, 5);
	assert_int_equal(w.exits, 3);
	assert_int_equal(w.nrefs, 4);
	assert_int_equal(mt_stat(mmu, "exits.cr3_load"), 1);
	assert_int_equal(mt_stat(mmu, "exits.total"), 4);
	vmem_mmu_destroy(mmu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_native_4level_cold_refs_are_4_3_2),
		cmocka_unit_test(test_walk_native_5level_cold_refs_are_5_4_3),
		cmocka_unit_test(test_walk_nested_table_of_cases_matches_formula),
		cmocka_unit_test(test_walk_nested_4_over_4_cold_refs_24_19_15),
		cmocka_unit_test(test_walk_nested_4_over_5_cold_refs_29_to_11),
		cmocka_unit_test(test_walk_nested_5_over_4_cold_refs_29_to_11),
		cmocka_unit_test(test_walk_nested_5_over_5_cold_refs_35_to_15),
		cmocka_unit_test(test_walk_shadow_cold_refs_are_guest_depth_minus_leaf_level),
		cmocka_unit_test(test_walk_native_first_touch_takes_two_walks_one_fault),
		cmocka_unit_test(test_walk_nested_first_touch_faults_on_each_new_table_gpa),
		cmocka_unit_test(test_walk_shadow_first_touch_takes_three_walks_three_exits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
