/*
 * The guest OS model, and the host's first-touch mapping of guest-physical memory.
 *
 * A plain virtual-address trace is enough because the guest behaves like a demand-paging
 * kernel (Linux's do_anonymous_page): the first access to an unmapped page faults, the
 * handler takes a free guest-physical frame (sequential or seeded-random placement) and
 * writes the PTE, allocating page-table pages from the same guest memory on the way.
 * With guest.page=2m (or 1g) a first touch maps the whole aligned region with one large
 * page when no smaller mapping exists in it yet and an aligned free block is left, as
 * transparent huge pages do; otherwise 4 KiB.
 *
 * A write or instruction fetch to a page mapped without that permission faults and the
 * handler grants it, as for a copy-on-write or dirty-tracking write fault; protect events
 * in a trace therefore cost faults and PTE writes, not program crashes.
 *
 * Unmap and protect events change every mapped leaf in the range (a large page is changed
 * whole; the model does not split it) and invalidate the TLB: one INVLPG per page up to
 * 33 pages, one full flush beyond, as Linux's flush_tlb_mm_range() does with
 * tlb_single_page_flush_ceiling = 33 (arch/x86/mm/tlb.c).
 *
 * The host maps guest-physical memory on first touch the same way (an EPT violation in
 * nested mode, a fault on the VMM's guest-RAM mapping in shadow mode), with host.page.
 */
#include "mmu_internal.h"

/* Linux's tlb_single_page_flush_ceiling (arch/x86/mm/tlb.c). */
#define FLUSH_CEILING 33

/*
 * Maps the page containing addr at the largest size up to `want` that fits: a large
 * page needs no table below it yet and a free aligned block of frames.
 */
static int map_first_touch(struct vmem_pt *pt, struct frames *fr, uint64_t addr,
			   enum vmem_page_size want, unsigned prot)
{
	for (int s = (int)want; s >= 0; s--) {
		enum vmem_page_size size = (enum vmem_page_size)s;
		uint64_t base = addr & ~(vmem_page_bytes(size) - 1);
		uint64_t pfn;
		int err;

		if (size > VMEM_PAGE_4K && vmem_pt_has_table(pt, addr, (unsigned)size))
			continue;
		err = frames_alloc(fr, size, &pfn);
		if (err && size > VMEM_PAGE_4K)
			continue;
		if (err)
			return err;
		err = vmem_pt_map(pt, base, pfn << 12, size, prot);
		if (err) {
			frames_free(fr, pfn, size);
			if (err == VMEM_EEXIST && size > VMEM_PAGE_4K)
				continue;
			return err;
		}
		return 0;
	}
	return VMEM_EEXIST;
}

int guest_fault(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc)
{
	struct aspace *as = m->as;
	struct vmem_pt_leaf leaf;
	int err;

	m->st.guest_faults++;
	m->st.cycles_faults += m->cfg.cost.guest_fault;
	if (m->rec)
		m->rec->guest_faults++;
	if (vmem_pt_lookup(as->pt, va, &leaf, NULL) == 0)
		return vmem_pt_protect(as->pt, va, leaf.prot | acc_need(acc));
	err = map_first_touch(as->pt, &as->vm->gframes, va, m->cfg.guest_page,
			      VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_EXEC | VMEM_PROT_USER);
	if (err == VMEM_ENOSPACE)
		return mmu_errorf(m, err, "guest memory of VM %u exhausted (guest.mem=%llu MiB)",
				  as->vm->id, (unsigned long long)(m->cfg.guest_mem >> 20));
	if (err)
		return mmu_errorf(m, err, "guest fault at %#llx: %s", (unsigned long long)va,
				  vmem_strerror(err));
	return 0;
}

int host_fault(struct vmem_mmu *m, struct vm *vm, uint64_t gpa)
{
	int err;

	m->st.host_faults++;
	m->st.cycles_faults += m->cfg.cost.host_fault;
	if (m->rec)
		m->rec->host_faults++;
	err = map_first_touch(vm->ept, &m->hframes, gpa, m->cfg.host_page,
			      VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_EXEC | VMEM_PROT_USER);
	if (err == VMEM_ENOSPACE)
		return mmu_errorf(m, err, "host memory exhausted (host.mem=%llu MiB)",
				  (unsigned long long)(m->cfg.host_mem >> 20));
	if (err)
		return mmu_errorf(m, err, "host fault at gpa %#llx: %s", (unsigned long long)gpa,
				  vmem_strerror(err));
	return 0;
}

int host_map(struct vmem_mmu *m, struct vm *vm, uint64_t gpa, struct vmem_pt_leaf *leaf)
{
	int err;

	if (vmem_pt_lookup(vm->ept, gpa, leaf, NULL) == 0)
		return 0;
	err = host_fault(m, vm, gpa);
	if (err)
		return err;
	return vmem_pt_lookup(vm->ept, gpa, leaf, NULL);
}

/* Pages changed by one unmap/protect event, for the TLB invalidation that follows. */
struct flush_list {
	uint64_t va[FLUSH_CEILING];
	enum vmem_page_size size[FLUSH_CEILING];
	unsigned n;
	bool full;
};

static void flush_note(struct flush_list *fl, uint64_t va, enum vmem_page_size size)
{
	if (fl->n < FLUSH_CEILING) {
		fl->va[fl->n] = va;
		fl->size[fl->n++] = size;
	} else {
		fl->full = true;
	}
}

static void flush_apply(struct vmem_mmu *m, const struct flush_list *fl)
{
	if (fl->full) {
		/* A full flush of the current PCID (Linux reloads CR3); under shadow paging
		 * that is a CR3 load the VMM intercepts. */
		vmem_tlb_flush_ctx(m->tlb, m->ctx, VMEM_CTX_MASK_ALL);
		vmem_pwc_flush_ctx(m->pwc, m->ctx, VMEM_CTX_MASK_ALL);
		if (m->cfg.mode == VMEM_MODE_SHADOW)
			shadow_cr3_load(m, m->as, false);
		return;
	}
	for (unsigned i = 0; i < fl->n; i++)
		mmu_invlpg(m, fl->va[i], fl->size[i]);
}

/*
 * Calls change() on every mapped leaf of the running address space that overlaps
 * [va, va + len), skipping unmapped regions a whole missing table at a time.
 */
static int for_each_leaf(struct vmem_mmu *m, uint64_t va, uint64_t len,
			 int (*change)(struct vmem_mmu *m, uint64_t base,
				       const struct vmem_pt_leaf *leaf, unsigned arg),
			 unsigned arg, uint64_t *count)
{
	struct flush_list fl = { .n = 0, .full = false };
	uint64_t a = va & ~0xfffull, end = va + len;
	int err = 0;

	if (len == 0)
		return 0;
	if (end < va)
		return mmu_errorf(m, VMEM_ERANGE, "range %#llx+%#llx wraps around",
				  (unsigned long long)va, (unsigned long long)len);
	while (a < end) {
		struct vmem_pt_leaf leaf;
		unsigned missing = 1;
		uint64_t step, base;

		int rc = vmem_pt_lookup(m->as->pt, a, &leaf, &missing);

		if (rc == VMEM_ERANGE)
			break;   /* past the top of the canonical lower half */
		if (rc != 0) {
			step = 1ull << vmem_level_shift(missing);
			base = a & ~(step - 1);
		} else {
			step = vmem_page_bytes(leaf.size);
			base = a & ~(step - 1);
			err = change(m, base, &leaf, arg);
			if (err)
				break;
			(*count)++;
			flush_note(&fl, base, leaf.size);
		}
		if (base + step < base)
			break;
		a = base + step;
	}
	flush_apply(m, &fl);
	return err;
}

static int unmap_leaf(struct vmem_mmu *m, uint64_t base, const struct vmem_pt_leaf *leaf,
		      unsigned arg)
{
	(void)arg;
	frames_free(&m->vm->gframes, (leaf->pa & ~(vmem_page_bytes(leaf->size) - 1)) >> 12,
		    leaf->size);
	return vmem_pt_unmap(m->as->pt, base);
}

static int protect_leaf(struct vmem_mmu *m, uint64_t base, const struct vmem_pt_leaf *leaf,
			unsigned prot)
{
	(void)leaf;
	return vmem_pt_protect(m->as->pt, base, prot);
}

int guest_unmap(struct vmem_mmu *m, uint64_t va, uint64_t len)
{
	return for_each_leaf(m, va, len, unmap_leaf, 0, &m->st.unmaps);
}

int guest_protect(struct vmem_mmu *m, uint64_t va, uint64_t len, unsigned prot)
{
	/* Trace pages are user pages; readable whenever mapped. */
	prot |= VMEM_PROT_USER | VMEM_PROT_READ;
	return for_each_leaf(m, va, len, protect_leaf, prot, &m->st.protects);
}
