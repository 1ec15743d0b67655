/*
 * The guest OS model (guest_os.h says what it sees).
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
 * nested mode, a fault on the VMM's guest-RAM mapping in shadow mode), with host.page,
 * through first_touch_map().
 */
#include "guest_os.h"

/* Linux's tlb_single_page_flush_ceiling (arch/x86/mm/tlb.c). */
#define FLUSH_CEILING 33

int first_touch_map(struct vmem_pt *pt, struct frames *fr, uint64_t addr,
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

int guest_os_fault(const struct guest_mm *mm, uint64_t va, unsigned need)
{
	struct vmem_pt_leaf leaf;

	if (vmem_pt_lookup(mm->pt, va, &leaf, NULL) == 0)
		return vmem_pt_protect(mm->pt, va, leaf.prot | need);
	return first_touch_map(mm->pt, mm->frames, va, mm->page,
			       VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_EXEC | VMEM_PROT_USER);
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

static void flush_apply(const struct guest_notifier *nt, const struct flush_list *fl)
{
	if (fl->full) {
		nt->flush_all(nt->ctx);
		return;
	}
	for (unsigned i = 0; i < fl->n; i++)
		nt->invlpg(nt->ctx, fl->va[i], fl->size[i]);
}

/*
 * Calls change() on every mapped leaf of the address space that overlaps [va, va + len),
 * skipping unmapped regions a whole missing table at a time.
 */
static int for_each_leaf(const struct guest_mm *mm, uint64_t va, uint64_t len,
			 int (*change)(const struct guest_mm *mm, uint64_t base,
				       const struct vmem_pt_leaf *leaf, unsigned arg),
			 unsigned arg, uint64_t *count)
{
	struct flush_list fl = { .n = 0, .full = false };
	uint64_t a = va & ~0xfffull, end = va + len;
	int err = 0;

	if (len == 0)
		return 0;
	if (end < va)
		return VMEM_ERANGE;
	while (a < end) {
		struct vmem_pt_leaf leaf;
		unsigned missing = 1;
		uint64_t step, base;

		int rc = vmem_pt_lookup(mm->pt, a, &leaf, &missing);

		if (rc == VMEM_ERANGE)
			break;   /* past the top of the canonical lower half */
		if (rc != 0) {
			step = 1ull << vmem_level_shift(missing);
			base = a & ~(step - 1);
		} else {
			step = vmem_page_bytes(leaf.size);
			base = a & ~(step - 1);
			err = change(mm, base, &leaf, arg);
			if (err)
				break;
			(*count)++;
			flush_note(&fl, base, leaf.size);
		}
		if (base + step < base)
			break;
		a = base + step;
	}
	flush_apply(mm->notify, &fl);
	return err;
}

static int unmap_leaf(const struct guest_mm *mm, uint64_t base, const struct vmem_pt_leaf *leaf,
		      unsigned arg)
{
	uint64_t pfn = (leaf->pa & ~(vmem_page_bytes(leaf->size) - 1)) >> 12;

	(void)arg;
	frames_free(mm->frames, pfn, leaf->size);
	if (mm->notify->freed)
		mm->notify->freed(mm->notify->ctx, pfn, vmem_page_bytes(leaf->size) >> 12);
	return vmem_pt_unmap(mm->pt, base);
}

static int protect_leaf(const struct guest_mm *mm, uint64_t base,
			const struct vmem_pt_leaf *leaf, unsigned prot)
{
	(void)leaf;
	return vmem_pt_protect(mm->pt, base, prot);
}

int guest_os_unmap(const struct guest_mm *mm, uint64_t va, uint64_t len, uint64_t *count)
{
	return for_each_leaf(mm, va, len, unmap_leaf, 0, count);
}

int guest_os_protect(const struct guest_mm *mm, uint64_t va, uint64_t len, unsigned prot,
		     uint64_t *count)
{
	/* Trace pages are user pages; readable whenever mapped. */
	prot |= VMEM_PROT_USER | VMEM_PROT_READ;
	return for_each_leaf(mm, va, len, protect_leaf, prot, count);
}
