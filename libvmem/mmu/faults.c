/*
 * The translation machine's side of page faults: the guest OS model's handler
 * (guest/guest_os.h) for guest faults, unmap and protect events, and the host's
 * first-touch mapping of guest-physical memory. Counts the faults and their costs, words
 * the errors, and answers the guest OS's TLB shootdowns.
 */
#include "guest/guest_os.h"
#include "mmu_internal.h"

static void invalidate_vm(struct vmem_mmu *m, struct vm *vm, bool whole_ntlb);

static void notify_invlpg(void *ctx, uint64_t va, enum vmem_page_size size)
{
	mmu_invlpg(ctx, va, size);
}

static void notify_flush_all(void *ctx)
{
	struct vmem_mmu *m = ctx;

	/* A full flush of the current PCID (Linux reloads CR3); under shadow paging that is a
	 * CR3 load the VMM intercepts. */
	vmem_tlb_flush_ctx(m->tlb, m->ctx, VMEM_CTX_MASK_ALL);
	vmem_pwc_flush_ctx(m->pwc, m->ctx, VMEM_CTX_MASK_ALL);
	if (m->cfg.mode == VMEM_MODE_SHADOW)
		shadow_cr3_load(m, m->as, false);
}

static void notify_freed(void *ctx, uint64_t pfn, uint64_t n)
{
	struct vmem_mmu *m = ctx;

	for (uint64_t i = 0; i < n; i++)
		m->backing.guest_free(m->backing.ctx, m->as->vm->id, pfn + i);
}

/* The running address space as the guest OS sees it. */
static struct guest_mm running_mm(struct vmem_mmu *m, struct guest_notifier *nt)
{
	*nt = (struct guest_notifier){ .ctx = m, .invlpg = notify_invlpg,
				       .flush_all = notify_flush_all,
				       .freed = m->backed && m->backing.guest_free ?
						notify_freed : NULL };
	return (struct guest_mm){ .pt = m->as->pt, .frames = &m->as->vm->gframes,
				  .page = m->cfg.guest_page, .notify = nt };
}

/* A host fault that failed inside a guest page-table write (whose observer cannot
 * return it); its message is set. */
static int backing_error(struct vmem_mmu *m)
{
	int err = m->backing_err;

	m->backing_err = 0;
	return err;
}

int guest_fault(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc)
{
	struct guest_notifier nt;
	struct guest_mm mm = running_mm(m, &nt);
	int err;

	m->st.guest_faults++;
	m->st.cycles_faults += m->cfg.cost.guest_fault;
	if (m->rec)
		m->rec->guest_faults++;
	err = guest_os_fault(&mm, va, acc_need(acc));
	if (!err)
		err = backing_error(m);
	if (err == VMEM_ENOSPACE)
		return mmu_errorf(m, err, "guest memory of VM %u exhausted (guest.mem=%llu MiB)",
				  m->as->vm->id, (unsigned long long)(m->cfg.guest_mem >> 20));
	if (err)
		return mmu_errorf(m, err, "guest fault at %#llx: %s", (unsigned long long)va,
				  vmem_strerror(err));
	return 0;
}

static int range_error(struct vmem_mmu *m, int err, uint64_t va, uint64_t len)
{
	if (err == VMEM_ERANGE)
		return mmu_errorf(m, err, "range %#llx+%#llx wraps around",
				  (unsigned long long)va, (unsigned long long)len);
	return err;
}

int guest_unmap(struct vmem_mmu *m, uint64_t va, uint64_t len)
{
	struct guest_notifier nt;
	struct guest_mm mm = running_mm(m, &nt);

	int err = guest_os_unmap(&mm, va, len, &m->st.unmaps);

	return range_error(m, err ? err : backing_error(m), va, len);
}

int guest_protect(struct vmem_mmu *m, uint64_t va, uint64_t len, unsigned prot)
{
	struct guest_notifier nt;
	struct guest_mm mm = running_mm(m, &nt);

	int err = guest_os_protect(&mm, va, len, prot, &m->st.protects);

	return range_error(m, err ? err : backing_error(m), va, len);
}

/* The host's first touch of a guest page, without a host memory manager. */
static int host_first_touch(struct vmem_mmu *m, struct vm *vm, uint64_t gpa)
{
	int err;

	m->st.cycles_faults += m->cfg.cost.host_fault;
	err = first_touch_map(vm->ept, &m->hframes, gpa, m->cfg.host_page,
			      VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_EXEC | VMEM_PROT_USER);
	if (err == VMEM_ENOSPACE)
		return mmu_errorf(m, err, "host memory exhausted (host.mem=%llu MiB)",
				  (unsigned long long)(m->cfg.host_mem >> 20));
	if (err)
		return mmu_errorf(m, err, "host fault at gpa %#llx: %s", (unsigned long long)gpa,
				  vmem_strerror(err));
	return 0;
}

/* A host fault served by the host memory manager: it backs the page (swapping in,
 * breaking sharing, ...) and says what the guest waited. */
static int host_backed_fault(struct vmem_mmu *m, struct vm *vm, uint64_t gpa, bool write)
{
	const struct vmem_mmu_backing *b = &m->backing;
	struct vmem_mmu_backed_page bp = { 0 };
	enum vmem_page_size size;
	uint64_t page;
	int err = b->fault(b->ctx, vm->id, gpa >> 12, write, &bp);

	if (err)
		return mmu_errorf(m, err, "host fault at gpa %#llx of VM %u: %s",
				  (unsigned long long)gpa, vm->id,
				  b->error ? b->error(b->ctx) : vmem_strerror(err));
	m->st.cycles_faults += bp.cycles;
	/* A read-only mapping the fault replaces (a write to a shared page) goes first,
	 * with what the caches hold of it. */
	vmem_mmu_host_invalidate(m, vm->id, gpa >> 12);
	size = bp.huge ? VMEM_PAGE_2M : VMEM_PAGE_4K;
	page = gpa & ~(vmem_page_bytes(size) - 1);
	if (bp.huge) {
		/* A table left below the 2 MiB entry by earlier 4 KiB mappings (a collapse
		 * replaces them) goes with what the caches hold of it. */
		vmem_pt_zap(vm->ept, page, 2);
		invalidate_vm(m, vm, true);
	}
	/* The manager's frames lie above the host memory the machine keeps for its own
	 * host tables (a multiple of 2 MiB), so no host-physical address means two things. */
	err = vmem_pt_map(vm->ept, page, (bp.frame + m->hframes.nframes) << 12, size,
			  VMEM_PROT_READ | VMEM_PROT_EXEC | VMEM_PROT_USER |
			  (bp.writable ? VMEM_PROT_WRITE : 0));
	if (err)
		return mmu_errorf(m, err, "host table of VM %u: cannot map gpa %#llx: %s", vm->id,
				  (unsigned long long)gpa, vmem_strerror(err));
	return 0;
}

int host_fault(struct vmem_mmu *m, struct vm *vm, uint64_t gpa, bool write)
{
	m->st.host_faults++;
	if (m->rec)
		m->rec->host_faults++;
	return m->backed ? host_backed_fault(m, vm, gpa, write) : host_first_touch(m, vm, gpa);
}

int host_map(struct vmem_mmu *m, struct vm *vm, uint64_t gpa, bool write,
	     struct vmem_pt_leaf *leaf)
{
	int err;

	if (vmem_pt_lookup(vm->ept, gpa, leaf, NULL) == 0 &&
	    (!write || (leaf->prot & VMEM_PROT_WRITE)))
		return 0;
	err = host_fault(m, vm, gpa, write);
	if (err)
		return err;
	return vmem_pt_lookup(vm->ept, gpa, leaf, NULL);
}

int vmem_mmu_set_backing(struct vmem_mmu *m, const struct vmem_mmu_backing *b)
{
	if (!b) {
		m->backed = m->per_access = false;
		return 0;
	}
	if (m->cfg.mode == VMEM_MODE_NATIVE)
		return mmu_errorf(m, VMEM_EINVAL, "a host memory manager needs mode nested or "
				  "shadow (native mode has no host)");
	if (m->cfg.host_page == VMEM_PAGE_1G)
		return mmu_errorf(m, VMEM_EINVAL, "a host memory manager needs host.page=4k or "
				  "2m");
	if (!b->fault)
		return mmu_errorf(m, VMEM_EINVAL, "the backing has no fault handler");
	m->backing = *b;
	m->backed = true;
	m->per_access = b->access != NULL;
	return 0;
}

/*
 * As INVEPT single-context after an EPT change (SDM Vol. 3C, 28.4.3.1): the VM's combined
 * mappings (TLB), its guest-physical mappings (nested TLB: the whole VM's when a 2 MiB
 * mapping went, whose 4 KiB-keyed entries lie all over it) and the paging-structure caches
 * that may hold the old frame's address: host walk caches, and guest walk caches that
 * cache host-physical table addresses (pwc.nested=combined).
 */
static void invalidate_vm(struct vmem_mmu *m, struct vm *vm, bool whole_ntlb)
{
	uint32_t ctx = VMEM_CTX(vm->vpid, 0);

	vmem_tlb_flush_ctx(m->tlb, ctx, VMEM_CTX_MASK_VPID);
	vmem_pwc_flush_ctx(m->pwc, ctx, VMEM_CTX_MASK_VPID);
	vmem_pwc_flush_ctx(m->hpwc, ctx, VMEM_CTX_MASK_VPID);
	if (whole_ntlb)
		vmem_xcache_flush_ctx(m->ntlb, ctx, VMEM_CTX_MASK_ALL);
	if (m->cfg.mode == VMEM_MODE_SHADOW)
		vm->shadow_stale = true;
}

void vmem_mmu_host_invalidate(struct vmem_mmu *m, uint16_t vmid, uint64_t gfn)
{
	struct vm *vm = m->vms[vmid];
	struct vmem_pt_leaf leaf;

	/* Nothing caches a translation through a page the host table does not map: each
	 * removal below flushed what was cached from it. */
	if (!vm || !vm->ept || vmem_pt_lookup(vm->ept, gfn << 12, &leaf, NULL) != 0)
		return;
	vmem_pt_unmap(vm->ept, gfn << 12);
	invalidate_vm(m, vm, leaf.size != VMEM_PAGE_4K);
	if (leaf.size == VMEM_PAGE_4K)
		vmem_xcache_invalidate(m->ntlb, gfn, VMEM_CTX(vm->vpid, 0));
}

bool vmem_mmu_host_young(struct vmem_mmu *m, uint16_t vmid, uint64_t gfn, bool clear)
{
	struct vm *vm = m->vms[vmid];

	return vm && vm->ept && vmem_pt_test_young(vm->ept, gfn << 12, clear);
}

bool vmem_mmu_host_dirty(struct vmem_mmu *m, uint16_t vmid, uint64_t gfn, bool clear)
{
	struct vm *vm = m->vms[vmid];

	return vm && vm->ept && vmem_pt_test_dirty(vm->ept, gfn << 12, clear);
}
