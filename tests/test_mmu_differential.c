/*
 * Differential tests of the translation machine: the caches may only skip what is legal
 * to skip (DESIGN.md, "Model notes").
 *
 * Seeded random traces (accesses with locality over two VMs with three address spaces
 * each, context and VM switches, unmap and protect events of every size) are replayed in
 * lockstep through twelve machines: each of the four modes (native, nested, shadow with
 * trap, shadow with unsync) with three cache configurations that differ in nothing else:
 *   none     every TLB array, paging-structure cache and the nested TLB at 0 entries
 *   default  the default (Skylake-like) sizes
 *   tiny     every one of them 4 entries, fully associative: constant evictions
 * After every access record, each machine translates the same (vm, asid, va, access)
 * again with vmem_mmu_translate, and a load from an older, still-mapped page of the same
 * address space (which misses small TLBs and walks through the walk caches); for each:
 *   - within a mode the three physical addresses are identical (the fault sequence, and
 *     so the allocation of guest and host frames, must not depend on the caches);
 *   - each one equals a reference computed from scratch: the guest table's mapping of va
 *     (vmem_mmu_guest_lookup), then natively nothing more, otherwise the host table's
 *     mapping of that gPA (software lookups, tests/mmu_testlib.c);
 *   - all twelve machines agree on the guest-physical address (the guest OS model sees
 *     the same faults in every mode).
 * At the end, within a mode, every fault, exit, shadow, event, table-page and frame
 * counter is identical across the cache configurations; only walk, TLB and cycle counts
 * may differ.
 *
 * Identical translations alone cannot show an illegal skip here: the walker re-derives
 * the table a paging-structure-cache hit names from the radix tree and falls back to the
 * root on a mismatch, so a cache that starts walks at the wrong level would only change
 * reference counts. So every walk recorded by those vmem_mmu_translate calls is also
 * checked against the tables themselves: references from the root down to the leaf that
 * maps the address now, those skipped by a cache strictly before those read from memory,
 * every memory reference reading the table page that really sits at its level on the
 * path (for guest references under nested paging: at the host translation of that
 * page's gPA) and finding the entry that is there, a nested-TLB hit standing for a whole
 * host walk, and guest steps skipped by the guest paging-structure cache only as a
 * prefix of the 2D walk (with pwc.nested=combined, the default, the host walk of the first
 * guest table read after that prefix is skipped as well).
 *
 * VMEM_DIFF_RECORDS=N in the environment sets the records per group (default 50000;
 * six groups).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mmu_testlib.h"

enum { M_NATIVE, M_NESTED, M_TRAP, M_UNSYNC, NMODES };
enum { C_NONE, C_DEFAULT, C_TINY, NCACHES };

static const char *const mode_names[NMODES] = { "native", "nested", "shadow-trap",
						"shadow-unsync" };
static const char *const cache_names[NCACHES] = { "none", "default", "tiny" };

#define NVMS 2
#define NASIDS 3        /* asids 1..3 in each VM */
#define NREGIONS 6
#define REGION_PAGES 1024   /* 4 MiB */

struct group {
	const char *name;
	unsigned guest_levels, host_levels;
	enum vmem_page_size guest_page, host_page;
	bool pcid, vpid;
	unsigned shadow_roots;
	uint64_t seed;
	bool gpa_pwc;                /* pwc.nested=guest_physical (default: combined) */
};

/* ------------------------------ trace generator ------------------------------ */

struct proc {
	uint64_t region[NREGIONS];
	unsigned cur_region;
	int64_t cursor;              /* page index in the current region */
};

struct gen {
	uint64_t rng;
	unsigned va_bits;
	struct proc p[NVMS][NASIDS];
	uint16_t vm;
	uint32_t asid;               /* index 0..NASIDS-1 */
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t canon(uint64_t v, unsigned bits)
{
	return (uint64_t)((int64_t)(v << (64 - bits)) >> (64 - bits));
}

static void gen_init(struct gen *g, const struct group *grp)
{
	memset(g, 0, sizeof(*g));
	g->rng = grp->seed;
	g->va_bits = 12 + 9 * grp->guest_levels;
	for (unsigned v = 0; v < NVMS; v++) {
		for (unsigned a = 0; a < NASIDS; a++) {
			struct proc *p = &g->p[v][a];

			/* Region 0 at the same address in every process (program text), region 1
			 * just below the top of the lower half (stack), one in the upper half, the
			 * rest anywhere in the lower half; all 4 MiB aligned. */
			p->region[0] = 0x400000;
			p->region[1] = (1ull << (g->va_bits - 1)) - (8ull << 20);
			p->region[2] = canon(rnd(&g->rng) | (1ull << (g->va_bits - 1)), g->va_bits) &
				       ~((4ull << 20) - 1);
			for (unsigned r = 3; r < NREGIONS; r++)
				p->region[r] = (rnd(&g->rng) & ((1ull << (g->va_bits - 1)) - 1)) &
					       ~((4ull << 20) - 1);
		}
	}
}

static uint64_t page_va(const struct proc *p, unsigned region, int64_t page)
{
	return p->region[region] + (uint64_t)page * 4096;
}

static struct vmem_trace_rec gen_next(struct gen *g)
{
	uint64_t r = rnd(&g->rng);
	unsigned kind = (unsigned)(r % 10000);
	struct proc *p;
	struct vmem_trace_rec rec;

	if (kind < 8) {                                   /* VM switch record */
		g->vm = (uint16_t)((g->vm + 1) % NVMS);
		return mt_switch_vm(g->vm);
	}
	if (kind < 40) {                                  /* context switch record */
		g->asid = (uint32_t)((r >> 20) % NASIDS);
		return mt_switch_as(g->vm, g->asid + 1);
	}
	if (kind < 60) {                                  /* an access from elsewhere */
		g->vm = (uint16_t)((r >> 20) % NVMS);
		g->asid = (uint32_t)((r >> 24) % NASIDS);
	}
	p = &g->p[g->vm][g->asid];
	if (kind >= 60 && kind < 100) {                   /* unmap */
		unsigned reg = (unsigned)((r >> 16) % NREGIONS);
		uint64_t first = (r >> 24) % REGION_PAGES, n;

		n = (r >> 40) % 8 == 0 ? REGION_PAGES : 1 + (r >> 44) % 64;
		if (n == REGION_PAGES)
			first = 0;
		return mt_unmap(g->vm, g->asid + 1, page_va(p, reg, (int64_t)first), n * 4096);
	}
	if (kind >= 100 && kind < 140) {                  /* protect */
		static const unsigned prots[] = {
			VMEM_PROT_READ, VMEM_PROT_READ | VMEM_PROT_WRITE,
			VMEM_PROT_READ | VMEM_PROT_EXEC,
			VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_EXEC,
		};
		unsigned reg = (unsigned)((r >> 16) % NREGIONS);
		uint64_t first = (r >> 24) % REGION_PAGES, n = 1 + (r >> 40) % 48;

		return mt_protect(g->vm, g->asid + 1, page_va(p, reg, (int64_t)first), n * 4096,
				  prots[(r >> 56) & 3]);
	}
	/* An access with locality: mostly near the cursor, sometimes anywhere in the
	 * process's regions, now and then a new cursor. */
	{
		unsigned loc = (unsigned)((r >> 16) % 100);
		unsigned a = (unsigned)((r >> 24) % 100);
		uint64_t off = (r >> 32) % 4096;
		enum vmem_access_type acc = a < 60 ? VMEM_ACC_LOAD : a < 85 ? VMEM_ACC_STORE :
					    a < 95 ? VMEM_ACC_IFETCH : VMEM_ACC_MODIFY;

		if (loc < 75) {
			p->cursor += (int64_t)((r >> 44) % 7) - 2;
		} else if (loc < 95) {
			p->cur_region = (unsigned)((r >> 44) % NREGIONS);
			p->cursor = (int64_t)((r >> 48) % REGION_PAGES);
		} else {
			p->cursor = (int64_t)((r >> 48) % REGION_PAGES);
		}
		if (p->cursor < 0)
			p->cursor = 0;
		if (p->cursor >= REGION_PAGES)
			p->cursor = REGION_PAGES - 1;
		if ((r >> 60) == 0)
			off = 4092;                               /* crosses into the next page */
		rec = mt_access(g->vm, g->asid + 1, page_va(p, p->cur_region, p->cursor) + off,
				acc);
		rec.size = (uint8_t)(1 + (r >> 56) % 8);
		if ((r >> 60) == 0)
			rec.size = 8;
		return rec;
	}
}

/* ------------------------------- the machines ------------------------------- */

static struct vmem_mmu *make(const struct group *g, unsigned mode, unsigned cache)
{
	static const enum vmem_mode modes[NMODES] = { VMEM_MODE_NATIVE, VMEM_MODE_NESTED,
						      VMEM_MODE_SHADOW, VMEM_MODE_SHADOW };
	struct vmem_mmu_config c;

	mt_config(&c, modes[mode], g->guest_levels, g->host_levels, g->guest_page,
		  g->host_page);
	mt_set(&c, "guest.mem", "4g");
	mt_set(&c, "host.mem", "16g");
	c.pcid = g->pcid;
	c.vpid = g->vpid;
	c.shadow_roots = g->shadow_roots;
	if (g->gpa_pwc)
		mt_set(&c, "pwc.nested", "guest_physical");
	c.shadow_sync = mode == M_UNSYNC ? VMEM_SHADOW_UNSYNC : VMEM_SHADOW_TRAP;
	if (cache == C_NONE)
		mt_no_caches(&c);
	else if (cache == C_TINY)
		mt_tiny_caches(&c, 4);
	return mt_create(&c);
}

/* Counters that must not depend on the caches. */
static const char *const same_stats[] = {
	"records", "accesses", "translations", "faults.guest", "faults.host", "exits.total",
	"exits.hidden_fault", "exits.guest_fault", "exits.pte_write", "exits.cr3_load",
	"exits.invlpg", "exits.ept_violation", "shadow.fills", "shadow.zaps", "shadow.resyncs",
	"shadow.root_hits", "shadow.root_misses", "guest.pte_writes", "context_switches",
	"vm_switches", "invlpgs", "unmaps", "protects", "pages.guest_tables",
	"pages.host_tables", "pages.shadow_tables", "frames.guest", "frames.host",
	"cycles.faults", "cycles.exits",
};

/* ------------------------------ walk validation ------------------------------ */

struct walk_counts {
	uint64_t walks, skipped_pwc, skipped_ntlb;
};

static int why_fmt(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_fmt(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Checks refs[*k...] as one 1D walk of pt for `in` (a VA, or a gPA for host walks with
 * guest step gstep) and advances *k past it. 0, or -1 with the reason in why.
 */
static int check_1d(const struct vmem_walk *w, unsigned *k, const struct vmem_pt *pt,
		    uint64_t in, unsigned dim, unsigned gstep, struct walk_counts *wc, char *why,
		    size_t len)
{
	unsigned n = vmem_pt_levels(pt), leaf, skipped = 0;
	struct vmem_pt_leaf lf;

	if (vmem_pt_lookup(pt, in, &lf, NULL))
		return why_fmt(why, len, "%#llx is not mapped in the %s table",
			       (unsigned long long)in, vmem_dim_name((enum vmem_dim)dim));
	leaf = 1 + (unsigned)lf.size;
	if (*k < w->nrefs && w->refs[*k].served == VMEM_SERVED_NTLB) {
		/* A nested-TLB hit stands for the whole host walk. */
		unsigned cnt = 0;

		while (*k < w->nrefs && w->refs[*k].served == VMEM_SERVED_NTLB) {
			const struct vmem_walk_ref *f = &w->refs[*k];

			if (dim != VMEM_DIM_HOST || f->dim != VMEM_DIM_HOST || f->gstep != gstep ||
			    f->input != in || f->level != n - cnt)
				return why_fmt(why, len, "ref %u: bad nested-TLB reference", *k);
			cnt++;
			(*k)++;
			wc->skipped_ntlb++;
		}
		/* The full host walk has n - leaf + 1 references. */
		if (cnt != n - leaf + 1)
			return why_fmt(why, len, "nested-TLB hit recorded %u host references", cnt);
		return 0;
	}
	for (unsigned level = n; level >= leaf; level--, (*k)++) {
		const struct vmem_walk_ref *f = &w->refs[*k];

		if (*k >= w->nrefs)
			return why_fmt(why, len, "walk ends before level %u of %#llx", level,
				       (unsigned long long)in);
		if (f->dim != dim || f->level != level || f->input != in ||
		    (dim == VMEM_DIM_HOST && f->gstep != gstep) ||
		    f->index != vmem_pt_index(in, level))
			return why_fmt(why, len, "ref %u: expected %s level %u for %#llx, got %s "
				       "level %u for %#llx", *k, vmem_dim_name((enum vmem_dim)dim),
				       level, (unsigned long long)in,
				       vmem_dim_name((enum vmem_dim)f->dim), f->level,
				       (unsigned long long)f->input);
		if (f->served == VMEM_SERVED_PWC) {
			if (skipped != n - level)
				return why_fmt(why, len, "ref %u: skipped after a memory reference", *k);
			skipped++;
			wc->skipped_pwc++;
			continue;
		}
		if (f->served != VMEM_SERVED_MEM)
			return why_fmt(why, len, "ref %u: served %u inside a walk", *k, f->served);
		/* The walk reads the table page that is really at this level of the path:
		 * for the first memory reference after skipped ones, the legality check. */
		if (f->table != mt_table_pa(pt, in, level))
			return why_fmt(why, len, "ref %u: level %u read table %#llx, the path has "
				       "%#llx (%u levels skipped)", *k, level,
				       (unsigned long long)f->table,
				       (unsigned long long)mt_table_pa(pt, in, level), skipped);
		if (vmem_pte_addr(f->entry) != vmem_pte_addr(mt_entry(pt, in, level)))
			return why_fmt(why, len, "ref %u: level %u entry %#llx, table holds %#llx",
				       *k, level, (unsigned long long)f->entry,
				       (unsigned long long)mt_entry(pt, in, level));
	}
	if (skipped == n - leaf + 1)
		return why_fmt(why, len, "every reference of the walk of %#llx skipped",
			       (unsigned long long)in);
	return 0;
}

static int check_2d(const struct vmem_walk *w, const struct vmem_pt *gpt,
		    const struct vmem_pt *ept, uint64_t va, struct walk_counts *wc, char *why,
		    size_t len)
{
	unsigned n = vmem_pt_levels(gpt), m = vmem_pt_levels(ept), k = 0, gleaf;
	struct vmem_pt_leaf gl, hl;
	bool walked = false;

	if (vmem_pt_lookup(gpt, va, &gl, NULL))
		return why_fmt(why, len, "va not mapped by the guest");
	gleaf = 1 + (unsigned)gl.size;
	for (unsigned l = n; l >= gleaf; l--) {
		uint64_t tg = mt_table_pa(gpt, va, l);     /* gPA of the guest table page */
		unsigned g = k;
		const struct vmem_walk_ref *f;

		while (g < w->nrefs && w->refs[g].dim == VMEM_DIM_HOST)
			g++;
		if (g >= w->nrefs || w->refs[g].dim != VMEM_DIM_GUEST || w->refs[g].level != l ||
		    w->refs[g].gstep != l || w->refs[g].input != va)
			return why_fmt(why, len, "no guest reference for level %u", l);
		if (w->refs[g].served == VMEM_SERVED_PWC) {
			/* A guest step the guest paging-structure cache skipped, with its host
			 * walk: only before every step that was walked. */
			unsigned hs;     /* level of the host leaf that maps the table page */

			if (walked)
				return why_fmt(why, len, "guest level %u skipped after a walked level", l);
			if (vmem_pt_lookup(ept, tg, &hl, NULL))
				return why_fmt(why, len, "guest table %#llx not host mapped",
					       (unsigned long long)tg);
			hs = 1 + (unsigned)hl.size;
			for (unsigned h = k; h < g; h++)
				if (w->refs[h].served != VMEM_SERVED_PWC || w->refs[h].gstep != l)
					return why_fmt(why, len, "ref %u in skipped guest step %u", h, l);
			/* m - hs + 1 host references in full; walk.c records m (reported with the
			 * nested-TLB case above), accepted. */
			if (g - k != m - hs + 1 && g - k != m)
				return why_fmt(why, len, "skipped step %u has %u host references", l,
					       g - k);
			wc->skipped_pwc += g - k + 1;
			k = g + 1;
			continue;
		}
		/* pwc.nested=combined: the hit that skipped the steps above also gave this
		 * table's host-physical address, so its whole host walk is skipped too. */
		bool all_pwc = !walked && k > 0 && g > k;

		for (unsigned h = k; all_pwc && h < g; h++)
			all_pwc = w->refs[h].served == VMEM_SERVED_PWC && w->refs[h].gstep == l;
		if (all_pwc) {
			if (vmem_pt_lookup(ept, tg, &hl, NULL))
				return why_fmt(why, len, "guest table %#llx not host mapped",
					       (unsigned long long)tg);
			if (g - k != m - (1 + (unsigned)hl.size) + 1)
				return why_fmt(why, len, "combined step %u has %u host references",
					       l, g - k);
			wc->skipped_pwc += g - k;
			k = g;
			walked = true;
		} else {
			walked = true;
			if (check_1d(w, &k, ept, tg, VMEM_DIM_HOST, l, wc, why, len))
				return -1;
		}
		f = &w->refs[k];
		if (k != g || f->served != VMEM_SERVED_MEM)
			return why_fmt(why, len, "ref %u: guest level %u not read after its host walk",
				       k, l);
		/* Read at the host-physical address of the guest table page. */
		if (vmem_pt_lookup(ept, tg, &hl, NULL) || f->table != hl.pa)
			return why_fmt(why, len, "ref %u: guest level %u read at %#llx, its table "
				       "%#llx is at host %#llx", k, l, (unsigned long long)f->table,
				       (unsigned long long)tg, (unsigned long long)hl.pa);
		if (f->index != vmem_pt_index(va, l) ||
		    vmem_pte_addr(f->entry) != vmem_pte_addr(mt_entry(gpt, va, l)))
			return why_fmt(why, len, "ref %u: guest level %u entry %#llx, table holds "
				       "%#llx", k, l, (unsigned long long)f->entry,
				       (unsigned long long)mt_entry(gpt, va, l));
		k++;
	}
	if (!walked)
		return why_fmt(why, len, "every guest step skipped");
	if (check_1d(w, &k, ept, gl.pa, VMEM_DIM_HOST, 0, wc, why, len))
		return -1;
	if (k != w->nrefs)
		return why_fmt(why, len, "%u references after the final host walk", w->nrefs - k);
	return 0;
}

/* Checks the walk a translation recorded, if it walked. */
static void check_walk(struct vmem_mmu *mm, unsigned mode, const struct vmem_trace_rec *r,
		       const struct vmem_walk *w, struct walk_counts *wc, const char *where)
{
	char why[256];
	unsigned k = 0;
	int rc;

	if (w->walks == 0)
		return;
	wc->walks++;
	if (w->truncated)
		fail_msg("%s: walk truncated", where);
	if (mode == M_NATIVE)
		rc = check_1d(w, &k, mt_guest_pt(mm, r->vm, r->asid), r->addr, VMEM_DIM_NATIVE, 0,
			      wc, why, sizeof(why));
	else if (mode == M_NESTED)
		rc = check_2d(w, mt_guest_pt(mm, r->vm, r->asid), mt_host_pt(mm, r->vm), r->addr,
			      wc, why, sizeof(why));
	else
		rc = check_1d(w, &k, mt_shadow_pt(mm, r->vm, r->asid), r->addr, VMEM_DIM_SHADOW, 0,
			      wc, why, sizeof(why));
	if (!rc && mode != M_NESTED && k != w->nrefs)
		rc = why_fmt(why, sizeof(why), "%u references after the leaf", w->nrefs - k);
	if (rc) {
		for (unsigned i = 0; i < w->nrefs; i++)
			print_error("  ref %2u %-6s L%u g%u %-6s in %#llx table %#llx entry %#llx\n",
				    i, vmem_dim_name((enum vmem_dim)w->refs[i].dim),
				    w->refs[i].level, w->refs[i].gstep,
				    vmem_served_name((enum vmem_served)w->refs[i].served),
				    (unsigned long long)w->refs[i].input,
				    (unsigned long long)w->refs[i].table,
				    (unsigned long long)w->refs[i].entry);
		fail_msg("%s: %s", where, why);
	}
}

static void check_access(struct vmem_mmu *m[NMODES][NCACHES], const struct group *g,
			 unsigned i, const struct vmem_trace_rec *r,
			 struct walk_counts wc[NMODES][NCACHES])
{
	struct vmem_walk w;
	char where[160];

	uint64_t gpa = mt_gpa(m[M_NATIVE][C_NONE], r->vm, r->asid, r->addr);

	for (unsigned mode = 0; mode < NMODES; mode++) {
		uint64_t first = 0;

		for (unsigned c = 0; c < NCACHES; c++) {
			uint64_t g2 = ~0ull, pa, want = ~0ull;
			int rc;

			if (vmem_mmu_guest_lookup(m[mode][c], r->vm, r->asid, r->addr, &g2) ||
			    g2 != gpa)
				fail_msg("%s record %u: vm %u asid %u va %#llx: %s/%s gPA %#llx, "
					 "native/none %#llx", g->name, i, r->vm, r->asid,
					 (unsigned long long)r->addr, mode_names[mode], cache_names[c],
					 (unsigned long long)g2, (unsigned long long)gpa);
			rc = vmem_mmu_translate(m[mode][c], r->vm, r->asid, r->addr,
						(enum vmem_access_type)r->acc, &w, &pa);
			if (rc)
				fail_msg("%s record %u: %s/%s translate: %s", g->name, i,
					 mode_names[mode], cache_names[c],
					 vmem_mmu_error(m[mode][c]));
			if (mt_expected_pa(m[mode][c], r->vm, r->asid, r->addr, &want) || pa != want)
				fail_msg("%s record %u: vm %u asid %u va %#llx acc %u: %s/%s pa %#llx, "
					 "tables say %#llx", g->name, i, r->vm, r->asid,
					 (unsigned long long)r->addr, r->acc, mode_names[mode],
					 cache_names[c], (unsigned long long)pa,
					 (unsigned long long)want);
			snprintf(where, sizeof(where), "%s record %u: vm %u asid %u va %#llx: %s/%s",
				 g->name, i, r->vm, r->asid, (unsigned long long)r->addr,
				 mode_names[mode], cache_names[c]);
			check_walk(m[mode][c], mode, r, &w, &wc[mode][c], where);
			if (c == 0)
				first = pa;
			else if (pa != first)
				fail_msg("%s record %u: va %#llx: %s/%s pa %#llx != %s/none %#llx",
					 g->name, i, (unsigned long long)r->addr, mode_names[mode],
					 cache_names[c], (unsigned long long)pa, mode_names[mode],
					 (unsigned long long)first);
		}
	}
}

static unsigned records_per_group(void)
{
	const char *e = getenv("VMEM_DIFF_RECORDS");
	unsigned long n = e ? strtoul(e, NULL, 10) : 0;

	return n ? (unsigned)n : 50000;
}

static void run_group(const struct group *g)
{
	struct vmem_mmu *m[NMODES][NCACHES];
	unsigned n = records_per_group(), accesses = 0, events = 0;
	struct walk_counts wc[NMODES][NCACHES];
	static uint64_t hist[NVMS][NASIDS + 1][64];   /* recent pages per address space */
	unsigned nhist[NVMS][NASIDS + 1];
	uint64_t probe_rng = g->seed * 7919;
	struct gen gen;

	memset(wc, 0, sizeof(wc));
	memset(nhist, 0, sizeof(nhist));

	for (unsigned mode = 0; mode < NMODES; mode++)
		for (unsigned c = 0; c < NCACHES; c++)
			m[mode][c] = make(g, mode, c);
	gen_init(&gen, g);
	for (unsigned i = 0; i < n; i++) {
		struct vmem_trace_rec r = gen_next(&gen);

		for (unsigned mode = 0; mode < NMODES; mode++) {
			for (unsigned c = 0; c < NCACHES; c++) {
				int rc = vmem_mmu_apply(m[mode][c], &r);

				if (rc)
					fail_msg("%s record %u (type %u, addr %#llx): %s/%s: %s",
						 g->name, i, r.type, (unsigned long long)r.addr,
						 mode_names[mode], cache_names[c],
						 vmem_mmu_error(m[mode][c]));
			}
		}
		if (r.type == VMEM_REC_ACCESS) {
			uint64_t *h = hist[r.vm][r.asid], pr = rnd(&probe_rng), gpa;
			unsigned *nh = &nhist[r.vm][r.asid];

			check_access(m, g, i, &r, wc);
			accesses++;
			/* Then a load from an older page of the same address space, if it is still
			 * mapped: with small TLBs it misses and walks through whatever the walk
			 * caches hold, which check_walk then examines. */
			if (*nh) {
				struct vmem_trace_rec probe = r;

				probe.addr = h[pr % (*nh < 64 ? *nh : 64)];
				probe.acc = VMEM_ACC_LOAD;
				if (!vmem_mmu_guest_lookup(m[M_NATIVE][C_NONE], r.vm, r.asid, probe.addr,
							   &gpa))
					check_access(m, g, i, &probe, wc);
			}
			h[(*nh)++ % 64] = r.addr;
		} else if (r.type == VMEM_REC_UNMAP || r.type == VMEM_REC_PROTECT) {
			events++;
		}
	}
	for (unsigned mode = 0; mode < NMODES; mode++) {
		for (unsigned c = 1; c < NCACHES; c++) {
			for (size_t s = 0; s < sizeof(same_stats) / sizeof(same_stats[0]); s++) {
				uint64_t a = mt_stat(m[mode][0], same_stats[s]);
				uint64_t b = mt_stat(m[mode][c], same_stats[s]);

				if (a != b)
					fail_msg("%s: %s %s: none %llu, %s %llu", g->name,
						 mode_names[mode], same_stats[s], (unsigned long long)a,
						 cache_names[c], (unsigned long long)b);
			}
		}
		/* The caches did work: fewer memory references than without them. */
		assert_true(mt_stat(m[mode][C_DEFAULT], "walk.refs") <
			    mt_stat(m[mode][C_NONE], "walk.refs"));
		assert_true(mt_stat(m[mode][C_TINY], "walk.refs") <
			    mt_stat(m[mode][C_NONE], "walk.refs"));
	}
	print_message("%s: %u records (%u accesses, %u unmap/protect); guest faults %llu, "
		      "nested exits %llu, shadow exits trap %llu unsync %llu; walk refs nested "
		      "none/default/tiny %llu/%llu/%llu\n", g->name, n, accesses, events,
		      (unsigned long long)mt_stat(m[M_NATIVE][0], "faults.guest"),
		      (unsigned long long)mt_stat(m[M_NESTED][0], "exits.total"),
		      (unsigned long long)mt_stat(m[M_TRAP][0], "exits.total"),
		      (unsigned long long)mt_stat(m[M_UNSYNC][0], "exits.total"),
		      (unsigned long long)mt_stat(m[M_NESTED][C_NONE], "walk.refs"),
		      (unsigned long long)mt_stat(m[M_NESTED][C_DEFAULT], "walk.refs"),
		      (unsigned long long)mt_stat(m[M_NESTED][C_TINY], "walk.refs"));
	for (unsigned mode = 0; mode < NMODES; mode++)
		print_message("  %-13s walks checked none/default/tiny %llu/%llu/%llu, references "
			      "skipped by PWCs (tiny) %llu, by the nested TLB (tiny) %llu\n",
			      mode_names[mode], (unsigned long long)wc[mode][C_NONE].walks,
			      (unsigned long long)wc[mode][C_DEFAULT].walks,
			      (unsigned long long)wc[mode][C_TINY].walks,
			      (unsigned long long)wc[mode][C_TINY].skipped_pwc,
			      (unsigned long long)wc[mode][C_TINY].skipped_ntlb);
	/* The trace exercised what it is meant to. */
	assert_true(wc[M_NATIVE][C_TINY].skipped_pwc > 0);
	assert_true(wc[M_NESTED][C_TINY].skipped_ntlb > 0);
	assert_true(mt_stat(m[M_NATIVE][0], "unmaps") > 0);
	assert_true(mt_stat(m[M_NATIVE][0], "protects") > 0);
	assert_true(mt_stat(m[M_NATIVE][0], "vm_switches") > 0);
	assert_true(mt_stat(m[M_NATIVE][0], "context_switches") > 10);
	/* Unsync pages are last-level (PT) pages: with large guest pages there are few. */
	if (g->guest_page == VMEM_PAGE_4K)
		assert_true(mt_stat(m[M_UNSYNC][0], "shadow.resyncs") > 0);
	for (unsigned mode = 0; mode < NMODES; mode++)
		for (unsigned c = 0; c < NCACHES; c++)
			vmem_mmu_destroy(m[mode][c]);
}

static void test_diff_4over4_4k_4k_pcid_vpid_translations_identical(void **state)
{
	static const struct group g = { "4/4 4k/4k pcid vpid", 4, 4, VMEM_PAGE_4K,
					VMEM_PAGE_4K, true, true, 4, 1, false };

	(void)state;
	run_group(&g);
}

static void test_diff_4over4_2m_4k_no_pcid_two_roots_translations_identical(void **state)
{
	/* Guest large pages over small host pages: fractured TLB entries. */
	static const struct group g = { "4/4 2m/4k nopcid roots=2", 4, 4, VMEM_PAGE_2M,
					VMEM_PAGE_4K, false, true, 2, 2, false };

	(void)state;
	run_group(&g);
}

static void test_diff_4over4_4k_2m_no_vpid_translations_identical(void **state)
{
	static const struct group g = { "4/4 4k/2m novpid gpa-pwc", 4, 4, VMEM_PAGE_4K,
					VMEM_PAGE_2M, true, false, 4, 3, true };

	(void)state;
	run_group(&g);
}

static void test_diff_4over4_2m_2m_no_tags_translations_identical(void **state)
{
	static const struct group g = { "4/4 2m/2m nopcid novpid gpa-pwc", 4, 4, VMEM_PAGE_2M,
					VMEM_PAGE_2M, false, false, 4, 4, true };

	(void)state;
	run_group(&g);
}

static void test_diff_5over4_1g_2m_two_roots_translations_identical(void **state)
{
	/* 1 GiB guest pages while 1 GiB blocks last, then 2 MiB and 4 KiB fallbacks. */
	static const struct group g = { "5/4 1g/2m roots=2", 5, 4, VMEM_PAGE_1G, VMEM_PAGE_2M,
					true, true, 2, 5, false };

	(void)state;
	run_group(&g);
}

static void test_diff_4over5_2m_1g_translations_identical(void **state)
{
	static const struct group g = { "4/5 2m/1g", 4, 5, VMEM_PAGE_2M, VMEM_PAGE_1G, true,
					true, 4, 6, false };

	(void)state;
	run_group(&g);
}

static void test_diff_same_config_twice_gives_identical_statistics(void **state)
{
	static const struct group g = { "determinism", 4, 4, VMEM_PAGE_4K, VMEM_PAGE_2M, true,
					true, 4, 7, false };
	const char *const *names = vmem_mmu_stat_names();
	struct vmem_mmu *a = make(&g, M_UNSYNC, C_DEFAULT), *b = make(&g, M_UNSYNC, C_DEFAULT);
	struct gen gen;

	(void)state;
	gen_init(&gen, &g);
	for (unsigned i = 0; i < 20000; i++) {
		struct vmem_trace_rec r = gen_next(&gen);

		mt_apply(a, &r);
		mt_apply(b, &r);
	}
	/* Every statistic, walk and TLB counts included: the model is deterministic. */
	for (size_t s = 0; names[s]; s++) {
		double x, y;

		assert_int_equal(vmem_mmu_stat_get(a, names[s], &x), 0);
		assert_int_equal(vmem_mmu_stat_get(b, names[s], &y), 0);
		if (x != y)
			fail_msg("%s: %g vs %g", names[s], x, y);
	}
	vmem_mmu_destroy(a);
	vmem_mmu_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_4over4_4k_4k_pcid_vpid_translations_identical),
		cmocka_unit_test(test_diff_4over4_2m_4k_no_pcid_two_roots_translations_identical),
		cmocka_unit_test(test_diff_4over4_4k_2m_no_vpid_translations_identical),
		cmocka_unit_test(test_diff_4over4_2m_2m_no_tags_translations_identical),
		cmocka_unit_test(test_diff_5over4_1g_2m_two_roots_translations_identical),
		cmocka_unit_test(test_diff_4over5_2m_1g_translations_identical),
		cmocka_unit_test(test_diff_same_config_twice_gives_identical_statistics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
