/*
 * The hardware page walks: native (1D), nested (2D) and shadow.
 *
 * 1D walk (Intel SDM Vol. 3A, 4.5): starting at the root (CR3), read the level-n entry,
 * then the entry it points to, down to a leaf: n references for a 4 KiB page, one fewer
 * for each larger page size. The paging-structure caches (SDM 4.10.3) let the walk start
 * lower: a hit in the level-L cache supplies the level-(L-1) table and skips the
 * references above it. Only the entries of a walk that found a table are cached.
 *
 * 2D walk (SDM Vol. 3C, 29.3; AMD APM Vol. 2, 15.25.5; Bhargava et al., ASPLOS 2008):
 * every guest table address is guest-physical, so before each guest reference the
 * walker translates the table's gPA through the host table (m references, or one nested
 * TLB hit), and after the guest leaf it translates the final gPA the same way:
 * n*(m+1) + m = (n+1)(m+1) - 1 references, 24 for 4 over 4 levels. Guest paging-structure
 * cache hits skip whole guest steps (the guest reference and its host walk); host
 * paging-structure caches shorten the host walks; the nested TLB replaces a host walk.
 * The TLB entry is the combined gVA -> hPA mapping at the smaller of the two page sizes.
 *
 * What a guest paging-structure-cache entry holds (pwc.nested):
 *   combined (default)  the host-physical address of the next guest table: Intel's
 *       combined paging-structure-cache entries map the upper bits of a linear address
 *       to "the physical address of the paging structure" (SDM Vol. 3C, 28.3.1 "Cached
 *       Translation Information"; 29.4.1 in recent revisions), so a hit at level L skips
 *       guest steps n..L and the host walk of the level-(L-1) table as well. An entry is
 *       filled once the next table's gPA has been translated.
 *   guest_physical  the table's guest-physical address: the walk still translates it
 *       through the nested TLB or a host walk before reading it. This is the behaviour
 *       of a walker whose walk cache is not indexed by the guest-virtual address with a
 *       host-physical value; AMD's page walk cache caches page-table entries rather than
 *       partial translations (Barr, Cox and Rixner, ISCA 2010, contrast AMD's and Intel's
 *       MMU caches), and its 2D walks rely on the nested TLB for the gPA -> hPA step of
 *       guest tables (Bhargava et al., ASPLOS 2008, on the Opteron's page walk cache and
 *       nested TLB). The AMD APM (Vol. 2, 15.25) does not specify the caches' contents.
 *   Each skipped reference is recorded, served by the PWC, so the walk keeps its shape.
 *
 * Shadow walk: a 1D walk of the VMM's shadow table (gVA -> hPA), which the hardware
 * treats as an ordinary table. A missing entry is a hidden page fault for the VMM.
 *
 * Accessed/dirty bits are set as the walk goes (SDM 4.8); their memory writes are not
 * counted as references.
 */
#include "mmu_internal.h"
#include "paging/pwc_internal.h"

struct refcount {
	unsigned mem;
	unsigned pwc;
	unsigned ntlb;
};

static inline void rec(struct vmem_mmu *m, enum vmem_dim dim, unsigned level,
		       enum vmem_served served, unsigned gstep, uint64_t input, uint64_t table,
		       unsigned index, uint64_t entry)
{
	struct vmem_walk *w = m->rec;

	if (!w)
		return;
	if (w->nrefs == VMEM_WALK_MAX_REFS) {
		w->truncated++;
		return;
	}
	w->refs[w->nrefs++] = (struct vmem_walk_ref){
		.dim = (uint8_t)dim, .level = (uint8_t)level, .served = (uint8_t)served,
		.gstep = (uint8_t)gstep, .index = (uint16_t)index, .input = input,
		.table = table, .entry = entry,
	};
}

static void walk_begin(struct vmem_mmu *m)
{
	if (m->rec) {
		m->rec->nrefs = 0;
		m->rec->truncated = 0;
		m->rec->walks++;
	}
}

static void walk_end(struct vmem_mmu *m, const struct refcount *c)
{
	const struct vmem_cost *k = &m->cfg.cost;

	m->st.walks++;
	m->st.walk_refs += c->mem;
	m->st.walk_refs_pwc += c->pwc;
	m->st.walk_refs_ntlb += c->ntlb;
	m->st.walk_hist[c->mem < VMEM_WALK_HIST ? c->mem : VMEM_WALK_HIST - 1]++;
	m->st.cycles_walk += k->walk_start + (uint64_t)c->mem * k->ref_mem +
			     (uint64_t)c->pwc * k->ref_pwc + (uint64_t)c->ntlb * k->ref_ntlb;
}

/* The table the paging-structure cache says the walk of va can start at, or NULL. */
static struct pt_page *pwc_start(struct vmem_pwc *pwc, struct vmem_pt *pt, uint64_t va,
				 uint32_t ctx, unsigned *level)
{
	uint64_t table_pa;
	unsigned start = pwc_lookup(pwc, va, ctx, &table_pa);
	struct pt_page *t;

	if (!start)
		return NULL;
	/* (Most walks start from the few tables the PWC names: remembered.) */
	t = pt_find_table_memo(pt, va, start);
	/* A cached pointer to a table that is no longer there would be a missed
	 * invalidation; walking from the root keeps the translation right. */
	if (!t || t->pa != table_pa)
		return NULL;
	*level = start;
	return t;
}

/*
 * Walks pt from the root (or from a paging-structure cache hit) for va. Returns true and
 * fills *x at a leaf granting `need`; false if an entry is missing or lacks a permission.
 */
static inline __attribute__((always_inline)) bool
walk_1d(struct vmem_mmu *m, struct vmem_pt *pt, struct vmem_pwc *pwc,
		    uint32_t ctx, enum vmem_dim dim, unsigned gstep, uint64_t va,
		    unsigned need, bool write, struct xlate *x, struct refcount *c)
{
	enum vmem_pt_format f = pt->format;
	unsigned level = pt->levels;
	struct pt_page *p = pwc_start(pwc, pt, va, ctx, &level);

	if (p) {
		/* Each level above the hit counts as a reference served by the PWC; only a
		 * recorded walk needs them one by one. */
		c->pwc += pt->levels - level;
		if (m->rec)
			for (unsigned l = pt->levels; l > level; l--)
				rec(m, dim, l, VMEM_SERVED_PWC, dim == VMEM_DIM_HOST ? gstep : l,
				    va, 0, vmem_pt_index(va, l), 0);
	} else {
		p = pt->root;
	}
	for (;; level--) {
		unsigned i = vmem_pt_index(va, level);
		uint64_t *s = pt_slot(p, i);
		uint64_t e = s ? pt_word_entry(*s) : 0;

		rec(m, dim, level, VMEM_SERVED_MEM, dim == VMEM_DIM_HOST ? gstep : level, va,
		    p->pa, i, e);
		c->mem++;
		if (!pt_entry_present(f, e))
			return false;
		if (pt_entry_is_leaf(f, e, level)) {
			unsigned prot = pt_entry_prot(f, e);

			if ((prot & need) != need)
				return false;
			pt_set_accessed(f, s, true, write);
			x->size = (enum vmem_page_size)(level - 1);
			x->pa_base = vmem_pte_addr(e) & ~(vmem_page_bytes(x->size) - 1);
			x->prot = prot;
			return true;
		}
		pt_set_accessed(f, s, false, false);
		p = pt_slot_child(s);
		pwc_fill(pwc, va, ctx, level, p->pa);
	}
}

enum walk_outcome walk_native(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			      struct xlate *x)
{
	struct refcount c = { 0 };
	bool ok;

	walk_begin(m);
	ok = walk_1d(m, m->as->pt, m->pwc, m->ctx, VMEM_DIM_NATIVE, 0, va, acc_need(acc),
		     acc_is_write(acc), x, &c);
	walk_end(m, &c);
	return ok ? WALK_OK : WALK_GUEST_FAULT;
}

enum walk_outcome walk_shadow(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			      struct xlate *x)
{
	struct refcount c = { 0 };
	bool ok;

	if (!m->as->shadow)
		return WALK_SHADOW_MISS;
	walk_begin(m);
	ok = walk_1d(m, m->as->shadow, m->pwc, m->ctx, VMEM_DIM_SHADOW, 0, va, acc_need(acc),
		     acc_is_write(acc), x, &c);
	walk_end(m, &c);
	return ok ? WALK_OK : WALK_SHADOW_MISS;
}

/*
 * pwc.nested=combined: the guest table the PWC says the walk can start at, or NULL, and
 * in *hpa its host-physical address. Like pwc_start, a cached pointer that no longer
 * matches the tables (guest or host) is ignored.
 */
static struct pt_page *pwc_start_combined(struct vmem_mmu *m, struct vmem_pt *gpt,
					  uint64_t va, unsigned *level, uint64_t *hpa)
{
	uint64_t table_hpa, h;
	unsigned start = pwc_lookup(m->pwc, va, m->ctx, &table_hpa);
	struct pt_page *t;

	if (!start)
		return NULL;
	t = pt_find_table_memo(gpt, va, start);
	/* (The host translation of a guest table is remembered until the host table
	 * changes: most walks start from the few tables the PWC names.) */
	if (!t || pt_translate_memo(m->vm->ept, t->pa, &h) != 0 || h != table_hpa)
		return NULL;
	*level = start;
	*hpa = table_hpa;
	return t;
}

/*
 * The host maps with pages no larger than host.page (guest_os.c), so at 4 KiB every host
 * walk is as deep as the host table: unless the walk is recorded, a skipped host walk
 * needs no lookup to be counted.
 */
static inline bool host_depth_known(const struct vmem_mmu *m)
{
	return !m->rec && m->cfg.host_page == VMEM_PAGE_4K;
}

/* skip_host_walk when the walk is recorded or the host may map large pages: the host
 * leaf of tgpa gives the depth. */
static unsigned skip_host_walk_recorded(struct vmem_mmu *m, uint64_t tgpa, unsigned gstep)
{
	unsigned idx, mlev = m->vm->ept->levels, depth = mlev;
	const struct pt_page *hleaf;

	hleaf = pt_find_leaf(m->vm->ept, tgpa, &idx);
	if (hleaf)
		depth = mlev - hleaf->level + 1;
	for (unsigned h = mlev; h > mlev - depth; h--)
		rec(m, VMEM_DIM_HOST, h, VMEM_SERVED_PWC, gstep, tgpa, 0, vmem_pt_index(tgpa, h), 0);
	return depth;
}

/*
 * Records the host walk of guest table tgpa (guest step gstep) as skipped by the PWC:
 * as deep as the host maps that page. Returns the number of references. (Inline: most
 * walks are not recorded and the host maps 4 KiB pages, where the answer is a constant.)
 */
static inline unsigned skip_host_walk(struct vmem_mmu *m, uint64_t tgpa, unsigned gstep)
{
	if (host_depth_known(m))
		return m->vm->ept->levels;
	return skip_host_walk_recorded(m, tgpa, gstep);
}

/* Nested TLB values: host page base | size << 4 | prot. */
static inline uint64_t ntlb_pack(uint64_t hpa, enum vmem_page_size size, unsigned prot)
{
	return (hpa & ~0xfffull) | ((uint64_t)size << 4) | (prot & 0xfu);
}

/*
 * Translates gpa through the running VM's host table for guest step `gstep`. Returns
 * false (and sets m->fault_gpa) if the host has not mapped it yet.
 */
static inline __attribute__((always_inline)) bool
host_xlate(struct vmem_mmu *m, uint64_t gpa, unsigned gstep, bool write,
		       uint64_t *hpa, struct xlate *hx, struct refcount *c)
{
	struct vm *vm = m->vm;
	uint32_t hctx = VMEM_CTX(vm->vpid, 0);
	unsigned mlev = vm->ept->levels;
	uint64_t v;

	if (gstep == 0)
		pt_prefetch_leaf_slot(vm->ept, gpa);   /* (the data page's: rarely cached) */
	if (xcache_lookup(m->ntlb, gpa >> 12, hctx, &v) &&
	    (!write || (v & VMEM_PROT_WRITE))) {
		hx->size = (enum vmem_page_size)((v >> 4) & 3);
		/* The host walk this hit replaces: down to the level of the host leaf. */
		for (unsigned l = mlev; l > (unsigned)hx->size; l--)
			rec(m, VMEM_DIM_HOST, l, VMEM_SERVED_NTLB, gstep, gpa, 0,
			    vmem_pt_index(gpa, l), 0);
		c->ntlb += mlev - (unsigned)hx->size;
		hx->prot = v & 0xfu;
		*hpa = (v & ~0xfffull) | (gpa & 0xfffu);
		hx->pa_base = *hpa & ~(vmem_page_bytes(hx->size) - 1);
		return true;
	}
	/* A write through a read-only host mapping (a shared page under a host memory
	 * manager) is an EPT violation too: the manager breaks the sharing. */
	if (!walk_1d(m, vm->ept, m->hpwc, hctx, VMEM_DIM_HOST, gstep, gpa, 0, write, hx, c) ||
	    (write && !(hx->prot & VMEM_PROT_WRITE))) {
		m->fault_gpa = gpa;
		m->fault_write = write;
		return false;
	}
	*hpa = hx->pa_base + (gpa & (vmem_page_bytes(hx->size) - 1));
	xcache_fill(m->ntlb, gpa >> 12, hctx, ntlb_pack(*hpa, hx->size, hx->prot));
	return true;
}

enum walk_outcome walk_nested(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			      struct xlate *x)
{
	struct vmem_pt *gpt = m->as->pt;
	enum vmem_pt_format f = gpt->format;
	unsigned need = acc_need(acc), n = gpt->levels;
	unsigned level = n, gprot = 0;
	bool write = acc_is_write(acc);
	bool combined = m->cfg.pwc_nested == VMEM_PWC_NESTED_COMBINED;
	bool table_cached = false;   /* combined: hpa of p came from the PWC */
	bool fill_parent = false;    /* combined: cache the entry that pointed to p */
	enum walk_outcome out = WALK_OK;
	enum vmem_page_size gsize = VMEM_PAGE_4K;
	struct refcount c = { 0 };
	struct xlate hx;
	uint64_t hpa = 0, gpa = 0;
	struct pt_page *p;

	walk_begin(m);
	if (combined)
		p = pwc_start_combined(m, gpt, va, &level, &hpa);
	else
		p = pwc_start(m->pwc, gpt, va, m->ctx, &level);
	if (p) {
		/* Each skipped guest step skips its host walk too, as deep as the host maps
		 * that guest table page. */
		if (host_depth_known(m)) {
			/* (Counted without the tables' addresses, which are not needed.) */
			c.pwc += (n - level) * (m->vm->ept->levels + 1);
		} else {
			for (unsigned l = n; l > level; l--) {
				c.pwc += skip_host_walk(m, pt_find_table(gpt, va, l)->pa, l);
				rec(m, VMEM_DIM_GUEST, l, VMEM_SERVED_PWC, l, va, 0,
				    vmem_pt_index(va, l), 0);
				c.pwc++;
			}
		}
		/* A combined entry also gave the table's host-physical address. */
		if (combined) {
			c.pwc += skip_host_walk(m, p->pa, level);
			table_cached = true;
		}
	} else {
		p = gpt->root;
	}
	for (;; level--) {
		unsigned i = vmem_pt_index(va, level);
		uint64_t *s, e;

		if (table_cached) {
			table_cached = false;
		} else if (!host_xlate(m, p->pa, level, false, &hpa, &hx, &c)) {
			out = WALK_HOST_FAULT;
			goto done;
		}
		if (fill_parent) {
			/* The level-(level+1) entry read above now has its full translation. */
			pwc_fill(m->pwc, va, m->ctx, level + 1, hpa);
			fill_parent = false;
		}
		s = pt_slot(p, i);
		e = s ? pt_word_entry(*s) : 0;
		rec(m, VMEM_DIM_GUEST, level, VMEM_SERVED_MEM, level, va, hpa, i, e);
		c.mem++;
		if (!pt_entry_present(f, e)) {
			out = WALK_GUEST_FAULT;
			goto done;
		}
		if (pt_entry_is_leaf(f, e, level)) {
			gprot = pt_entry_prot(f, e);
			if ((gprot & need) != need) {
				out = WALK_GUEST_FAULT;
				goto done;
			}
			pt_set_accessed(f, s, true, write);
			gsize = (enum vmem_page_size)(level - 1);
			gpa = vmem_pte_addr(e) + (va & (vmem_page_bytes(gsize) - 1));
			break;
		}
		pt_set_accessed(f, s, false, false);
		p = pt_slot_child(s);
		if (combined)
			fill_parent = true;
		else
			pwc_fill(m->pwc, va, m->ctx, level, p->pa);
	}
	if (!host_xlate(m, gpa, 0, write, &hpa, &hx, &c)) {
		out = WALK_HOST_FAULT;
		goto done;
	}
	x->size = gsize < hx.size ? gsize : hx.size;
	x->pa_base = hpa & ~(vmem_page_bytes(x->size) - 1);
	x->prot = gprot & hx.prot;
done:
	walk_end(m, &c);
	return out;
}

const char *vmem_dim_name(enum vmem_dim d)
{
	static const char *const names[] = { "native", "guest", "host", "shadow" };

	return (unsigned)d < 4 ? names[d] : "?";
}

const char *vmem_served_name(enum vmem_served s)
{
	static const char *const names[] = { "memory", "pwc", "ntlb" };

	return (unsigned)s < 3 ? names[s] : "?";
}
