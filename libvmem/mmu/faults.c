/*
 * The translation machine's side of page faults: the guest OS model's handler
 * (guest/guest_os.h) for guest faults, unmap and protect events, and the host's
 * first-touch mapping of guest-physical memory. Counts the faults and their costs, words
 * the errors, and answers the guest OS's TLB shootdowns.
 */
#include "guest/guest_os.h"
#include "mmu_internal.h"

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

/* The running address space as the guest OS sees it. */
static struct guest_mm running_mm(struct vmem_mmu *m, struct guest_notifier *nt)
{
	*nt = (struct guest_notifier){ .ctx = m, .invlpg = notify_invlpg,
				       .flush_all = notify_flush_all };
	return (struct guest_mm){ .pt = m->as->pt, .frames = &m->as->vm->gframes,
				  .page = m->cfg.guest_page, .notify = nt };
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

	return range_error(m, guest_os_unmap(&mm, va, len, &m->st.unmaps), va, len);
}

int guest_protect(struct vmem_mmu *m, uint64_t va, uint64_t len, unsigned prot)
{
	struct guest_notifier nt;
	struct guest_mm mm = running_mm(m, &nt);

	return range_error(m, guest_os_protect(&mm, va, len, prot, &m->st.protects), va, len);
}

int host_fault(struct vmem_mmu *m, struct vm *vm, uint64_t gpa)
{
	int err;

	m->st.host_faults++;
	m->st.cycles_faults += m->cfg.cost.host_fault;
	if (m->rec)
		m->rec->host_faults++;
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
