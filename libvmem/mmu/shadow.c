/*
 * Shadow paging, as the KVM MMU does it without EPT/NPT (Linux
 * Documentation/virt/kvm/x86/mmu.rst, "Shadow pages" and "Synchronized and unsync pages").
 *
 * The hardware walks a shadow table that maps guest-virtual straight to host-physical.
 * The VMM builds it lazily: a missing or too-weak shadow entry is a page fault that exits
 * to the VMM, which walks the guest table in software (host-mapping, on first touch, the
 * guest table pages it reads, as the nested walker would). If the guest maps the page,
 * this is a hidden fault: the VMM translates the guest-physical address through its own mapping of
 * guest RAM (mapping it on first touch), installs the shadow leaf at the smaller of the two
 * page sizes with the intersection of the permissions, and resumes the guest. If the guest
 * does not, the fault is reflected into the guest as a #PF.
 *
 * The shadow table mirrors the guest's: the shadow page at level L covering a region
 * shadows the guest table page at level L covering it (a "direct" shadow page under a
 * guest large page mapped by smaller host pages shadows nothing). A guest table page with
 * a shadow page is write-protected, so the guest's writes to it exit:
 *   trap    every such write exits; the VMM emulates it and drops the affected shadow
 *           entry (and the subtree below it), to be refilled on demand.
 *   unsync  the first write to a last-level page exits and marks the shadow page unsync:
 *           the VMM stops protecting it, so later writes run at native speed and the
 *           shadow may be stale until the guest flushes. An INVLPG (which exits) drops the
 *           shadow entry of its address; a CR3 load (which exits) resynchronizes every
 *           unsync page of the new root, comparing each shadow entry with the guest's and
 *           dropping those that differ, and write-protects the pages again.
 * Upper-level pages always stay write-protected, as in KVM.
 *
 * Each address space has its own shadow root. The root cache holds at most shadow.roots
 * of a VM's roots, evicting the least recently loaded (KVM keeps the current root and
 * KVM_MMU_NUM_PREV_ROOTS = 3 previous ones per vCPU). As in KVM, the cache holds root
 * pointers only: an evicted root's shadow pages live on (KVM keeps shadow pages in its
 * hash until they are zapped), still write-protecting the guest tables they shadow, so a
 * later CR3 load of that address space is a root-cache miss that finds its shadow entries
 * instead of rebuilding them one hidden fault at a time. Shadow pages are reclaimed by
 * their own limit, shadow.max_pages per VM (KVM's n_max_mmu_pages). Its default is KVM's
 * (kvm_mmu_calculate_default_mmu_pages): guest memory in pages * KVM_PERMILLE_MMU_PAGES
 * (20) / 1000, at least KVM_MIN_ALLOC_MMU_PAGES (64). Before a shadow page is allocated
 * beyond the limit, whole shadow trees of other address spaces are zapped, least recently
 * loaded first; if only the running tree is left, everything below its root goes (KVM's
 * kvm_mmu_zap_oldest_mmu_pages likewise never zaps a root in use). KVM picks the oldest
 * pages by creation order, page by page; the model's unit is the tree and its order the
 * last CR3 load, which keeps the working set of recently run address spaces.
 *
 * Simplified: shadow pages are per address space, not shared by gfn between roots;
 * accessed/dirty bits of guest entries are not emulated; dropping shadow page tables
 * flushes the TLB and walk caches of that address space (KVM's remote TLB flush).
 */
#include <stdlib.h>

#include "mmu_internal.h"

#define SP_UNSYNC 1u

/* The shadow-page limit of a VM (see the top comment). */
static uint64_t max_pages(const struct vmem_mmu *m)
{
	uint64_t n;

	if (m->cfg.shadow_max_pages)
		return m->cfg.shadow_max_pages;
	n = m->cfg.guest_mem / 4096 * 20 / 1000;
	return n < 64 ? 64 : n;
}

/* The shadow tables' frame source: host frames, counted in vm->shadow_pages. */
static int shadow_alloc_table(void *ctx, uint64_t *pfn)
{
	struct vm *vm = ctx;
	int err = frames_alloc_table(&vm->mmu->hframes, pfn);

	if (!err)
		vm->shadow_pages++;
	return err;
}

static void shadow_free_table(void *ctx, uint64_t pfn)
{
	struct vm *vm = ctx;

	frames_free_table(&vm->mmu->hframes, pfn);
	vm->shadow_pages--;
}

/* roots: the root_lru links; else the shadow_trees links. */
static struct as_link *lru_link(struct aspace *as, bool roots)
{
	return roots ? &as->root_link : &as->tree_link;
}

static void lru_remove(struct as_lru *l, struct aspace *as, bool roots)
{
	struct as_link *k = lru_link(as, roots);

	if (k->prev)
		lru_link(k->prev, roots)->next = k->next;
	else
		l->head = k->next;
	if (k->next)
		lru_link(k->next, roots)->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = NULL;
}

/* Appends as, the most recently loaded (it must not be in l). */
static void lru_append(struct as_lru *l, struct aspace *as, bool roots)
{
	struct as_link *k = lru_link(as, roots);

	k->prev = l->tail;
	k->next = NULL;
	if (l->tail)
		lru_link(l->tail, roots)->next = as;
	else
		l->head = as;
	l->tail = as;
}

/* The least recently loaded entry of l other than as, or NULL. */
static struct aspace *lru_oldest_but(const struct as_lru *l, struct aspace *as, bool roots)
{
	struct aspace *o = l->head;

	return o == as ? lru_link(o, roots)->next : o;
}

/* Takes as's root out of the root cache; its shadow pages stay. */
static void root_evict(struct vmem_mmu *m, struct aspace *as)
{
	/* The TLB and walk caches may hold what the root translated; the address space
	 * gets its root again through a fresh root load (KVM flushes a root it loads anew). */
	mmu_flush_as(m, as);
	as->root_cached = false;
	as->vm->shadow_roots--;
	lru_remove(&as->vm->root_lru, as, true);
}

/* Zaps as's whole shadow tree, root included. */
static void tree_free(struct vmem_mmu *m, struct aspace *as)
{
	if (as->root_cached)
		root_evict(m, as);
	else
		mmu_flush_as(m, as);
	vmem_pt_destroy(as->shadow);
	as->shadow = NULL;
	as->nunsync = 0;
	lru_remove(&as->vm->shadow_trees, as, false);
}

/*
 * A host remap makes shadow entries pointing at the old frame stale. KVM finds them through
 * its reverse maps (kvm_unmap_gfn_range); shadow pages here keep none, so the VM's trees
 * go whole and are rebuilt by hidden faults: the cost of a remap under shadow paging is
 * overstated rather than missed (docs/MODELS.md).
 */
void shadow_zap_vm(struct vmem_mmu *m, struct vm *vm)
{
	vm->shadow_stale = false;
	for (size_t i = 0; i < vm->nas; i++)
		if (vm->as[i]->shadow)
			tree_free(m, vm->as[i]);
}

/* Shadow tables the fill of a `leaf_level` entry for va would allocate in as's tree. */
static unsigned tables_needed(const struct aspace *as, uint64_t va, unsigned leaf_level)
{
	unsigned n = 0;

	if (!as->shadow)
		return 1;
	for (unsigned l = as->shadow->levels - 1; l >= leaf_level; l--)
		if (!pt_find_table(as->shadow, va, l))
			n++;
	return n;
}

/*
 * Makes room under shadow.max_pages for the shadow tables that filling va at
 * leaf_level in as's tree allocates (its root too, if it has none yet).
 */
static void reserve_pages(struct vmem_mmu *m, struct aspace *as, uint64_t va,
			  unsigned leaf_level)
{
	struct vm *vm = as->vm;
	uint64_t limit = max_pages(m);

	while (vm->shadow_pages + tables_needed(as, va, leaf_level) > limit) {
		struct aspace *lru = lru_oldest_but(&vm->shadow_trees, as, false);

		if (lru) {
			tree_free(m, lru);
			continue;
		}
		/* Only the running tree is left: keep its root, zap everything below. */
		if (!as->shadow || vmem_pt_table_pages(as->shadow) == 1)
			return;
		for (unsigned i = 0; i < VMEM_PT_ENTRIES; i++)
			vmem_pt_zap(as->shadow, (uint64_t)i << vmem_level_shift(as->shadow->levels),
				    as->shadow->levels);
		as->nunsync = 0;
		mmu_flush_as(m, as);
	}
}

/* Puts as's root into the root cache, allocating the root if as has no shadow tree. */
static int root_get(struct vmem_mmu *m, struct aspace *as)
{
	struct vm *vm = as->vm;
	struct vmem_pt_config cfg = { m->cfg.guest_levels, VMEM_PT_X86 };
	struct vmem_frame_source src = { shadow_alloc_table, shadow_free_table, vm };
	int err;

	if (as->shadow && as->root_cached)
		return 0;
	if (vm->shadow_roots >= m->cfg.shadow_roots) {
		struct aspace *lru = lru_oldest_but(&vm->root_lru, as, true);

		if (lru)
			root_evict(m, lru);
	}
	if (!as->shadow) {
		reserve_pages(m, as, 0, 1);
		err = vmem_pt_create(&cfg, &src, &as->shadow);
		if (err)
			return mmu_errorf(m, err, "cannot allocate a shadow root: %s",
					  vmem_strerror(err));
		/* Last: as is the running address space, or about to be stamped as such. */
		lru_append(&vm->shadow_trees, as, false);
	}
	as->root_cached = true;
	vm->shadow_roots++;
	lru_append(&vm->root_lru, as, true);
	return 0;
}

/* Drops the shadow entry at `level` covering va, and the shadow tables below it. */
static void zap(struct vmem_mmu *m, struct aspace *as, struct pt_page *sp, uint64_t va,
		unsigned level)
{
	if (!pt_entry_present(VMEM_PT_X86, pt_entry(sp, vmem_pt_index(va, level))))
		return;
	m->st.shadow_zaps++;
	if (vmem_pt_zap(as->shadow, va, level))
		mmu_flush_as(m, as);
}

/*
 * The VMM walks the guest table of va in software, reading guest memory through its own
 * mapping of guest RAM (KVM: FNAME(walk_addr_generic) reads guest PTEs through the
 * host virtual address of the guest frame). A guest table page the host has not mapped
 * yet is a host fault, handled inside the exit the VMM is already in. This is the same
 * charge as in nested mode, where the hardware walker's first touch of that page takes
 * an EPT violation and the same host fault (walk.c, guest_os.c): every guest-physical
 * page, table or data, costs one host fault on first touch in both modes; nested mode
 * adds the EPT-violation exit because the hardware made the touch.
 */
static int read_guest_tables(struct vmem_mmu *m, struct aspace *as, uint64_t va)
{
	struct vmem_pt_leaf h;

	for (unsigned l = as->pt->levels; l >= 1; l--) {
		const struct pt_page *t = pt_find_table(as->pt, va, l);
		int err;

		if (!t)
			break;     /* the entry above was missing or a leaf: the walk stopped */
		if ((err = host_map(m, as->vm, t->pa, false, &h)))
			return err;
	}
	return 0;
}

int shadow_fault(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc, bool *reflect)
{
	struct aspace *as = m->as;
	struct vmem_pt_leaf g, h;
	enum vmem_page_size size;
	uint64_t mask;
	int err;

	*reflect = false;
	if ((err = read_guest_tables(m, as, va)))
		return err;
	if (vmem_pt_lookup(as->pt, va, &g, NULL) != 0 ||
	    (g.prot & acc_need(acc)) != acc_need(acc)) {
		mmu_exit(m, VMEM_EXIT_GUEST_FAULT, 0);
		*reflect = true;
		return 0;
	}
	mmu_exit(m, VMEM_EXIT_HIDDEN_FAULT, m->cfg.cost.shadow_fill);
	m->st.shadow_fills++;
	if ((err = root_get(m, as)) || (err = host_map(m, as->vm, g.pa, acc_is_write(acc), &h)))
		return err;
	size = g.size < h.size ? g.size : h.size;
	mask = vmem_page_bytes(size) - 1;
	reserve_pages(m, as, va, (unsigned)size + 1);
	/* Replace a stale leaf (weaker permissions), or smaller shadow pages left from an
	 * earlier guest mapping of the region. */
	vmem_pt_unmap(as->shadow, va);
	err = vmem_pt_map(as->shadow, va & ~mask, h.pa & ~mask, size, g.prot & h.prot);
	if (err == VMEM_EEXIST) {
		struct pt_page *sp = pt_find_table(as->shadow, va, (unsigned)size + 1);

		if (sp)
			zap(m, as, sp, va, (unsigned)size + 1);
		err = vmem_pt_map(as->shadow, va & ~mask, h.pa & ~mask, size, g.prot & h.prot);
	}
	if (err)
		return mmu_errorf(m, err, "cannot build shadow entry for %#llx: %s",
				  (unsigned long long)va, vmem_strerror(err));
	return 0;
}

void shadow_guest_write(struct aspace *as, uint64_t va_base, unsigned level, unsigned index)
{
	struct vmem_mmu *m = as->vm->mmu;
	uint64_t va = va_base + ((uint64_t)index << vmem_level_shift(level));
	struct pt_page *sp;

	if (!as->shadow)
		return;
	sp = pt_find_table(as->shadow, va_base, level);
	if (!sp)
		return;   /* this guest table page is not shadowed, so not write-protected */
	if (m->cfg.shadow_sync == VMEM_SHADOW_UNSYNC && level == 1) {
		if (sp->user_flags & SP_UNSYNC)
			return;   /* no longer write-protected: the write does not exit */
		if (as->nunsync == as->capunsync) {
			size_t cap = as->capunsync ? as->capunsync * 2 : 16;
			uint64_t *n = realloc(as->unsync, cap * sizeof(*n));

			if (!n) {
				/* Cannot track it: keep the page protected (trap behaviour). */
				mmu_exit(m, VMEM_EXIT_PTE_WRITE, m->cfg.cost.pte_emulate);
				zap(m, as, sp, va, level);
				return;
			}
			as->unsync = n;
			as->capunsync = cap;
		}
		sp->user_flags |= SP_UNSYNC;
		as->unsync[as->nunsync++] = va_base;
	}
	mmu_exit(m, VMEM_EXIT_PTE_WRITE, m->cfg.cost.pte_emulate);
	zap(m, as, sp, va, level);
}

/* Drops the shadow entries of an unsync page that no longer match the guest's. */
static void resync_page(struct vmem_mmu *m, struct aspace *as, struct pt_page *sp,
			uint64_t va_base)
{
	m->st.shadow_resyncs++;
	m->st.cycles_exits += m->cfg.cost.resync;
	for (unsigned i = 0; i < VMEM_PT_ENTRIES; i++) {
		uint64_t e = pt_entry(sp, i), va = va_base + ((uint64_t)i << 12);
		struct vmem_pt_leaf g, h;
		bool same = false;

		if (!pt_entry_present(VMEM_PT_X86, e))
			continue;
		if (vmem_pt_lookup(as->pt, va, &g, NULL) == 0 &&
		    vmem_pt_lookup(as->vm->ept, g.pa, &h, NULL) == 0)
			same = vmem_pte_addr(e) == (h.pa & ~0xfffull) &&
			       vmem_pte_bits_to_prot(vmem_pte_decode(VMEM_PT_X86, e)) ==
				       (g.prot & h.prot);
		if (!same)
			zap(m, as, sp, va, 1);
	}
	sp->user_flags &= (uint8_t)~SP_UNSYNC;
}

int shadow_cr3_load(struct vmem_mmu *m, struct aspace *as, bool noflush)
{
	bool hit = as->shadow && as->root_cached;
	int err;

	mmu_exit(m, VMEM_EXIT_CR3_LOAD, 0);
	if (hit)
		m->st.shadow_root_hits++;
	else
		m->st.shadow_root_misses++;
	err = root_get(m, as);
	if (err)
		return err;
	/* The least recently loaded go first when trees or roots are evicted. */
	lru_remove(&as->vm->shadow_trees, as, false);
	lru_append(&as->vm->shadow_trees, as, false);
	lru_remove(&as->vm->root_lru, as, true);
	lru_append(&as->vm->root_lru, as, true);
	/*
	 * A no-flush load (CR3 bit 63 with PCIDs) tells the VMM the guest needs no TLB
	 * flush, so KVM does not sync the root either: kvm_set_cr3 passes the bit on as
	 * skip_tlb_flush/skip_mmu_sync to kvm_mmu_new_pgd (arch/x86/kvm/mmu/mmu.c), which
	 * requests KVM_REQ_MMU_SYNC only without it (later kernels: kvm_invalidate_pcid,
	 * called only for a flushing load). Unsync pages stay unsync and may stay stale,
	 * as the guest's own TLB entries may. A root taken from the root cache is reused as
	 * is; a root-cache miss loads the root anew, and kvm_mmu_load syncs it regardless.
	 */
	if (noflush && hit)
		return 0;
	for (size_t i = 0; i < as->nunsync; i++) {
		struct pt_page *sp = pt_find_table(as->shadow, as->unsync[i], 1);

		if (sp && (sp->user_flags & SP_UNSYNC))
			resync_page(m, as, sp, as->unsync[i]);
	}
	as->nunsync = 0;
	return 0;
}

void shadow_invlpg(struct vmem_mmu *m, uint64_t va)
{
	struct aspace *as = m->as;
	struct vmem_pt_leaf s;

	mmu_exit(m, VMEM_EXIT_INVLPG, 0);
	if (!as->shadow || vmem_pt_lookup(as->shadow, va, &s, NULL) != 0)
		return;
	m->st.shadow_zaps++;
	vmem_pt_unmap(as->shadow, va);
}
