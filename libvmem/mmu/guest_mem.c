/*
 * Guest memory as the guest OS manages it, per VM: the balloon driver's pages and the
 * guest's own swapping (guest/guest_swap.h), and the machine entry points a host memory
 * manager's balloon controller calls (vmem/mmu.h).
 *
 * The balloon driver allocates 4 KiB guest-physical frames as virtio-balloon's
 * fill_balloon does (balloon_page_alloc): free frames first; when the guest has none the
 * allocation reclaims, which here means the guest swaps out one of its own pages, chosen
 * by a CLOCK hand that sweeps the VM's address spaces in creation order. Deflating
 * returns the most recently taken frames first, as the driver's page list is a stack.
 *
 * A victim in the running address space is invalidated with an INVLPG; one in another
 * address space has its TLB and walk-cache context flushed (and its shadow entry dropped
 * under shadow paging), as Linux defers the flush of a non-running mm to its next switch.
 */
#include <stdlib.h>

#include "guest/guest_swap.h"
#include "mmu_internal.h"

/* Linux's VIRTIO_BALLOON_OOM_NR_PAGES (drivers/virtio/virtio_balloon.c). */
#define OOM_PAGES 256

struct guest_mem {
	uint64_t *balloon;           /* the driver's pages, a stack */
	uint64_t nballoon, capballoon;
	struct guest_swap swap;
	bool deflate_on_oom;
	uint32_t swap_in_cycles;     /* a major fault's read from guest swap */
	size_t hand_as;              /* CLOCK hand: address space (index in vm->as) ... */
	uint64_t hand_va;            /* ... and address in it */
	uint64_t alloc_stall, direct_scan, direct_reclaim, deflate_oom;
};

static struct guest_mem *gm_get(struct vm *vm)
{
	if (!vm->gm) {
		vm->gm = calloc(1, sizeof(*vm->gm));
		if (vm->gm)
			guest_swap_init(&vm->gm->swap, 0);
	}
	return vm->gm;
}

void guest_mem_free(struct vm *vm)
{
	if (!vm->gm)
		return;
	guest_swap_fini(&vm->gm->swap);
	free(vm->gm->balloon);
	free(vm->gm);
	vm->gm = NULL;
}

/* ---- shootdowns of a victim, which may be in an address space that is not running ---- */

struct victim_ctx {
	struct vmem_mmu *m;
	struct aspace *as;
};

static void victim_invlpg(void *ctx, uint64_t va, enum vmem_page_size size)
{
	struct victim_ctx *c = ctx;
	struct vmem_mmu *m = c->m;
	struct vmem_pt_leaf s;

	if (c->as == m->as) {
		mmu_invlpg(m, va, size);
		return;
	}
	mmu_flush_as(m, c->as);
	if (c->as->shadow && vmem_pt_lookup(c->as->shadow, va, &s, NULL) == 0) {
		m->st.shadow_zaps++;
		vmem_pt_unmap(c->as->shadow, va);
	}
}

static void victim_flush_all(void *ctx)
{
	struct victim_ctx *c = ctx;

	mmu_flush_as(c->m, c->as);
}

static void victim_freed(void *ctx, uint64_t pfn, uint64_t n)
{
	struct victim_ctx *c = ctx;
	struct vmem_mmu *m = c->m;

	if (m->backed && m->backing.guest_free)
		for (uint64_t i = 0; i < n; i++)
			m->backing.guest_free(m->backing.ctx, c->as->vm->id, pfn + i);
}

/*
 * The guest reclaims one page: the CLOCK hand finds a victim, the guest reads it (a page
 * the host swapped comes back: *cycles the guest waited) and writes it to its swap.
 * VMEM_ENOSPACE when the swap is full or no page can go.
 */
static int reclaim_one(struct vmem_mmu *m, struct vm *vm, struct guest_mem *gm,
		       uint64_t *cycles)
{
	uint64_t seen = 0, limit = 2 * vm->gframes.used + 64, va = 0;
	size_t moves = 0;

	if (gm->swap.used >= gm->swap.slots || vm->nas == 0)
		return VMEM_ENOSPACE;
	for (;;) {
		struct aspace *as = vm->as[gm->hand_as % vm->nas];
		struct victim_ctx c = { m, as };
		struct guest_notifier nt = { .ctx = &c, .invlpg = victim_invlpg,
					     .flush_all = victim_flush_all,
					     .freed = victim_freed };
		struct guest_mm mm = { .pt = as->pt, .frames = &vm->gframes,
				       .page = m->cfg.guest_page, .notify = &nt };
		int rc = guest_clock_scan(&mm, &gm->hand_va, &seen, limit, &va);
		uint64_t pfn;
		struct vmem_pt_leaf leaf;

		if (rc == VMEM_ENOENT) {
			/* End of this address space: on to the next. Two rounds over all of
			 * them clear every accessed bit, so a third finds nothing only if no
			 * 4 KiB page is mapped. */
			gm->hand_as = (gm->hand_as + 1) % vm->nas;
			gm->hand_va = 0;
			if (++moves > 2 * vm->nas + 1)
				break;
			continue;
		}
		if (rc)
			break;
		gm->direct_scan += seen;
		seen = 0;
		/* The guest reads the page to write it out: ask the host for it. */
		if (vmem_pt_lookup(as->pt, va, &leaf, NULL) == 0 && m->backed &&
		    m->backing.guest_swap)
			*cycles += m->backing.guest_swap(m->backing.ctx, vm->id, leaf.pa >> 12,
							 false);
		rc = guest_swap_out(&gm->swap, &mm, as->asid, va, &pfn);
		if (!rc && m->backing_err)
			rc = m->backing_err;   /* a guest table write the host could not back */
		m->backing_err = 0;
		if (rc)
			return rc;
		gm->direct_reclaim++;
		return 0;
	}
	gm->direct_scan += seen;
	return VMEM_ENOSPACE;
}

/* deflate-on-OOM: the driver gives back up to OOM_PAGES pages and tells the host. */
static int deflate_oom(struct vmem_mmu *m, struct vm *vm, struct guest_mem *gm)
{
	uint64_t k = 0;

	if (!gm->deflate_on_oom || gm->nballoon == 0)
		return VMEM_ENOSPACE;
	while (k < OOM_PAGES && gm->nballoon > 0) {
		uint64_t pfn = gm->balloon[--gm->nballoon];

		frames_free(&vm->gframes, pfn, VMEM_PAGE_4K);
		if (m->backed && m->backing.balloon_deflated)
			m->backing.balloon_deflated(m->backing.ctx, vm->id, pfn);
		k++;
	}
	gm->deflate_oom += k;
	return 0;
}

int guest_mem_fault(struct vmem_mmu *m, const struct guest_mm *mm, uint64_t va,
		    unsigned need)
{
	struct vm *vm = m->as->vm;
	struct guest_mem *gm = vm->gm;
	bool major = gm && guest_swap_in(&gm->swap, m->as->asid, va);
	uint64_t cycles = 0;
	bool stalled = false;
	int err;

	if (major)
		m->st.cycles_faults += gm->swap_in_cycles;
	err = guest_os_fault(mm, va, need);
	/* Out of free frames: reclaim (guest swap) or, when that fails, deflate-on-OOM,
	 * then try again. Without a balloon the guest has no swap and fails as before. */
	while (err == VMEM_ENOSPACE && gm) {
		stalled = true;
		if (reclaim_one(m, vm, gm, &cycles) && deflate_oom(m, vm, gm))
			break;
		err = guest_os_fault(mm, va, need);
	}
	if (stalled)
		gm->alloc_stall++;
	m->st.cycles_faults += cycles;
	if (!err && major && m->backed && m->backing.guest_swap) {
		struct vmem_pt_leaf leaf;

		if (vmem_pt_lookup(mm->pt, va, &leaf, NULL) == 0)
			m->st.cycles_faults += m->backing.guest_swap(m->backing.ctx, vm->id,
								     leaf.pa >> 12, true);
	}
	return err;
}

void guest_mem_unmap(struct vmem_mmu *m, uint64_t va, uint64_t len)
{
	struct guest_mem *gm = m->as->vm->gm;

	if (gm)
		guest_swap_forget(&gm->swap, m->as->asid, va, len);
}

/* ---- the entry points ---- */

static struct guest_mem *gm_of(struct vmem_mmu *m, uint16_t vmid, struct vm **vmout, int *err)
{
	struct vm *vm = mmu_vm_get(m, vmid, err);
	struct guest_mem *gm;

	if (!vm)
		return NULL;
	gm = gm_get(vm);
	if (!gm)
		*err = VMEM_ENOMEM;
	*vmout = vm;
	return gm;
}

int vmem_mmu_guest_mem_setup(struct vmem_mmu *m, uint16_t vmid, uint64_t swap_pages,
			     uint32_t swap_in_cycles, bool deflate_on_oom)
{
	struct vm *vm;
	int err = 0;
	struct guest_mem *gm = gm_of(m, vmid, &vm, &err);

	if (!gm)
		return mmu_errorf(m, err, "VM %u: cannot set up its guest memory: %s", vmid,
				  vmem_strerror(err));
	gm->swap.slots = swap_pages;
	gm->swap_in_cycles = swap_in_cycles;
	gm->deflate_on_oom = deflate_on_oom;
	return 0;
}

int vmem_mmu_balloon_inflate(struct vmem_mmu *m, uint16_t vmid, uint64_t n, uint64_t *gfns,
			     uint64_t *got, uint64_t *guest_swapped)
{
	struct vm *vm;
	int err = 0;
	struct guest_mem *gm = gm_of(m, vmid, &vm, &err);
	uint64_t cycles = 0;

	*got = *guest_swapped = 0;
	if (!gm)
		return mmu_errorf(m, err, "VM %u: balloon: %s", vmid, vmem_strerror(err));
	if (gm->nballoon + n > gm->capballoon) {
		uint64_t cap = gm->capballoon ? gm->capballoon : 256;
		uint64_t *b;

		while (cap < gm->nballoon + n)
			cap *= 2;
		b = realloc(gm->balloon, cap * sizeof(*b));
		if (!b)
			return mmu_errorf(m, VMEM_ENOMEM, "VM %u: out of memory for the balloon's "
					  "page list", vmid);
		gm->balloon = b;
		gm->capballoon = cap;
	}
	while (*got < n) {
		uint64_t pfn;

		if (frames_alloc(&vm->gframes, VMEM_PAGE_4K, &pfn) != 0) {
			int rc = reclaim_one(m, vm, gm, &cycles);

			if (rc == VMEM_ENOSPACE)
				break;
			if (rc)
				return mmu_errorf(m, rc, "VM %u: guest reclaim for the balloon: %s",
						  vmid, vmem_strerror(rc));
			(*guest_swapped)++;
			continue;
		}
		gm->balloon[gm->nballoon++] = pfn;
		gfns[(*got)++] = pfn;
	}
	if (*guest_swapped)
		gm->alloc_stall++;
	return 0;
}

int vmem_mmu_balloon_deflate(struct vmem_mmu *m, uint16_t vmid, uint64_t n, uint64_t *gfns,
			     uint64_t *got)
{
	struct vm *vm;
	int err = 0;
	struct guest_mem *gm = gm_of(m, vmid, &vm, &err);

	*got = 0;
	if (!gm)
		return mmu_errorf(m, err, "VM %u: balloon: %s", vmid, vmem_strerror(err));
	while (*got < n && gm->nballoon > 0) {
		uint64_t pfn = gm->balloon[--gm->nballoon];

		frames_free(&vm->gframes, pfn, VMEM_PAGE_4K);
		gfns[(*got)++] = pfn;
	}
	return 0;
}

uint64_t vmem_mmu_balloon_size(const struct vmem_mmu *m, uint16_t vmid)
{
	const struct vm *vm = m->vms[vmid];

	return vm && vm->gm ? vm->gm->nballoon : 0;
}

uint64_t vmem_mmu_guest_free_pages(const struct vmem_mmu *m, uint16_t vmid)
{
	const struct vm *vm = m->vms[vmid];

	if (!vm)
		return m->cfg.guest_mem >> 12;
	return vm->gframes.nframes - vm->gframes.used;
}

bool vmem_mmu_guest_page_free(const struct vmem_mmu *m, uint16_t vmid, uint64_t gfn)
{
	const struct vm *vm = m->vms[vmid];

	if (!vm)
		return true;
	if (gfn >= vm->gframes.nframes)
		return false;
	return !(vm->gframes.bitmap[gfn / 64] >> (gfn % 64) & 1);
}

int vmem_mmu_guest_mem_stats(const struct vmem_mmu *m, uint16_t vmid,
			     struct vmem_mmu_guest_mem_stats *out)
{
	const struct vm *vm = m->vms[vmid];
	const struct guest_mem *gm;

	*out = (struct vmem_mmu_guest_mem_stats){ .pages = m->cfg.guest_mem >> 12,
						   .free = m->cfg.guest_mem >> 12 };
	if (!vm)
		return 0;
	gm = vm->gm;
	out->free = vm->gframes.nframes - vm->gframes.used;
	out->faults = vm->guest_faults;
	if (!gm)
		return 0;
	out->balloon = gm->nballoon;
	out->major_faults = gm->swap.swap_in;
	out->swap_in = gm->swap.swap_in;
	out->swap_out = gm->swap.swap_out;
	out->swap_used = gm->swap.used;
	out->swap_pages = gm->swap.slots;
	out->alloc_stall = gm->alloc_stall;
	out->direct_scan = gm->direct_scan;
	out->direct_reclaim = gm->direct_reclaim;
	out->deflate_oom = gm->deflate_oom;
	return 0;
}
