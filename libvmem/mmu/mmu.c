/*
 * The translation machine: trace records in, TLB lookups, walks, faults and exits out.
 *
 * One logical CPU runs one VM and one of its address spaces at a time. Access records
 * whose (vm, asid) differ from the running ones switch first, as the scheduler would:
 * a VM switch, then a context switch (MOV to CR3) inside the VM.
 *
 * Flush rules (Intel SDM Vol. 3A, 4.10.4.1; Vol. 3C, 28.4.3):
 *   MOV to CR3 without PCIDs invalidates the TLB entries and paging-structure-cache
 *   entries of PCID 0 in the current VPID; with PCIDs (the no-flush form Linux uses for
 *   a PCID it has kept current) nothing is invalidated.
 *   VM entry/exit without VPIDs invalidates the linear and combined mappings of VPID 0
 *   (SDM Vol. 3C, 29.4.3.1 in recent revisions, 28.3.3.1 in older ones): the TLB and the
 *   guest paging-structure caches. That happens on every VM exit and the VM entry that
 *   resumes the guest (mmu_exit), not only on a VM switch. Guest-physical mappings (the
 *   nested TLB and the host paging-structure caches) are tagged by EPTP, not VPID, and
 *   VM entries and exits leave them alone (same section); only INVEPT drops them.
 *   A VM switch without VPIDs flushes them too: the model tags them with the VPID, so
 *   two VMs would share tag 0, and a VMM switching EPTPs without VPIDs has to INVEPT
 *   when it reuses a root anyway.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmu_internal.h"

/* How many fault-and-retry rounds one translation may take before we call it a bug. */
#define MAX_RETRIES 16

int mmu_errorf(struct vmem_mmu *m, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof(m->err), fmt, ap);
	va_end(ap);
	return err;
}

const char *vmem_mmu_error(const struct vmem_mmu *m)
{
	return m->err;
}

const struct vmem_mmu_config *vmem_mmu_get_config(const struct vmem_mmu *m)
{
	return &m->cfg;
}

static const char *const mode_names[VMEM_MODES] = { "native", "nested", "shadow" };

const char *vmem_mode_name(enum vmem_mode mode)
{
	return (unsigned)mode < VMEM_MODES ? mode_names[mode] : "?";
}

int vmem_mode_parse(const char *s, enum vmem_mode *out)
{
	for (unsigned i = 0; i < VMEM_MODES; i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (enum vmem_mode)i;
			return 0;
		}
	}
	return VMEM_EINVAL;
}

static const char *const exit_names[VMEM_EXIT_REASONS] = {
	"hidden_fault", "guest_fault", "pte_write", "cr3_load", "invlpg", "ept_violation",
};

const char *vmem_exit_reason_name(enum vmem_exit_reason r)
{
	return (unsigned)r < VMEM_EXIT_REASONS ? exit_names[r] : "?";
}

void mmu_exit(struct vmem_mmu *m, enum vmem_exit_reason r, uint32_t vmm_cycles)
{
	m->st.exits[r]++;
	m->st.exits_total++;
	m->st.cycles_exits += (uint64_t)m->cfg.cost.vm_exit + vmm_cycles;
	if (m->rec)
		m->rec->exits++;
	/*
	 * An exit implies the VM entry that resumes the guest. Without VPIDs both run with
	 * VPID 0 and invalidate every linear and combined mapping of VPID 0, for all PCIDs
	 * (SDM Vol. 3C, 29.4.3.1): the whole TLB and the guest paging-structure caches. The
	 * nested TLB and host walk caches hold guest-physical mappings, which VM entries and
	 * exits do not invalidate. When this happens inside translate_page's fault-and-retry
	 * loop (an EPT violation or a shadow fault), the retried walk starts cold, as the
	 * hardware's would after the VM entry.
	 */
	if (!m->cfg.vpid) {
		vmem_tlb_flush_ctx(m->tlb, VMEM_CTX(0, 0), VMEM_CTX_MASK_VPID);
		vmem_pwc_flush_ctx(m->pwc, VMEM_CTX(0, 0), VMEM_CTX_MASK_VPID);
	}
}

static void guest_write_observed(void *ctx, struct vmem_pt *pt, uint64_t table_pa,
				 uint64_t va_base, unsigned level, unsigned index,
				 uint64_t old_entry, uint64_t new_entry)
{
	struct aspace *as = ctx;
	struct vmem_mmu *m = as->vm->mmu;

	(void)pt;
	(void)old_entry;
	(void)new_entry;
	m->st.guest_pte_writes++;
	if (m->cfg.mode == VMEM_MODE_SHADOW)
		shadow_guest_write(as, va_base, level, index);
	/* Under a host memory manager the table page may be shared, swapped out or not
	 * backed yet: the write needs it writable, as the guest's store would. */
	if (m->backed && !m->backing_err) {
		struct vmem_pt_leaf leaf;

		m->backing_err = host_map(m, as->vm, table_pa, true, &leaf);
	}
}

static void vm_free(struct vm *vm)
{
	for (size_t i = 0; i < vm->nas; i++) {
		struct aspace *as = vm->as[i];

		vmem_pt_destroy(as->shadow);
		vmem_pt_destroy(as->pt);
		free(as->unsync);
		free(as);
	}
	free(vm->as);
	free(vm->as_index);
	free(vm->pcid_owner);
	vmem_pt_destroy(vm->ept);
	guest_mem_free(vm);
	frames_fini(&vm->gframes);
	free(vm);
}

static struct vm *vm_get(struct vmem_mmu *m, uint16_t id, int *err)
{
	struct vm *vm = m->vms[id];
	struct vmem_pt_config ept = { m->cfg.host_levels, VMEM_PT_EPT };
	struct vmem_frame_source hsrc = { frames_alloc_table, frames_free_table, &m->hframes };

	if (vm)
		return vm;
	if (m->nvm >= m->cfg.limit_vms) {
		*err = VMEM_ELIMIT;
		return NULL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		*err = VMEM_ENOMEM;
		return NULL;
	}
	vm->mmu = m;
	vm->id = id;
	vm->vpid = m->cfg.vpid ? (uint16_t)(id + 1) : 0;
	/* Linux boots with slot 0 taken by init_mm and next_asid = 1 (arch/x86/mm/init.c). */
	vm->next_slot = 1;
	*err = frames_init(&vm->gframes, m->cfg.guest_mem, m->cfg.guest_placement,
			   m->cfg.seed ^ (0x51ed27ull * (id + 1)));
	if (*err) {
		free(vm);
		return NULL;
	}
	if (m->cfg.mode != VMEM_MODE_NATIVE) {
		*err = vmem_pt_create(&ept, &hsrc, &vm->ept);
		if (*err) {
			frames_fini(&vm->gframes);
			free(vm);
			return NULL;
		}
	}
	if (!(m->nvm & (m->nvm + 1))) {
		/* Grow at 0, 1, 3, 7, ... entries: doubling capacity. */
		struct vm **n = realloc(m->vm_list, (2 * m->nvm + 1) * sizeof(*n));

		if (!n) {
			vm_free(vm);
			*err = VMEM_ENOMEM;
			return NULL;
		}
		m->vm_list = n;
	}
	m->vm_list[m->nvm++] = vm;
	m->vms[id] = vm;
	return vm;
}

struct vm *mmu_vm_get(struct vmem_mmu *m, uint16_t id, int *err)
{
	return vm_get(m, id, err);
}

/* The slot of asid in vm->as_index: where it is, or the empty slot it would go in. */
static size_t as_slot(const struct vm *vm, uint32_t asid)
{
	size_t mask = vm->as_index_cap - 1;
	size_t i = (size_t)((asid * 0x9e3779b97f4a7c15ull) >> 32) & mask;

	while (vm->as_index[i] && vm->as_index[i]->asid != asid)
		i = (i + 1) & mask;
	return i;
}

static struct aspace *aspace_find(const struct vm *vm, uint32_t asid)
{
	return vm->as_index_cap ? vm->as_index[as_slot(vm, asid)] : NULL;
}

/* Makes room in vm->as_index for one more address space (kept at most half full). */
static int as_index_reserve(struct vm *vm)
{
	size_t cap = vm->as_index_cap ? vm->as_index_cap : 16;
	struct aspace **old = vm->as_index;

	if (2 * (vm->nas + 1) <= vm->as_index_cap)
		return 0;
	while (2 * (vm->nas + 1) > cap)
		cap *= 2;
	vm->as_index = calloc(cap, sizeof(*vm->as_index));
	if (!vm->as_index) {
		vm->as_index = old;
		return VMEM_ENOMEM;
	}
	vm->as_index_cap = cap;
	for (size_t i = 0; i < vm->nas; i++)
		vm->as_index[as_slot(vm, vm->as[i]->asid)] = vm->as[i];
	free(old);
	return 0;
}

static struct aspace *aspace_get(struct vmem_mmu *m, struct vm *vm, uint32_t asid, int *err)
{
	struct vmem_pt_config gcfg = { m->cfg.guest_levels, VMEM_PT_X86 };
	struct vmem_frame_source gsrc = { frames_alloc_table, frames_free_table, &vm->gframes };
	struct vmem_pt_observer obs = { guest_write_observed, NULL };
	struct aspace *as = aspace_find(vm, asid);

	if (as)
		return as;
	if (m->naspaces >= m->cfg.limit_aspaces) {
		*err = VMEM_ELIMIT;
		return NULL;
	}
	if ((*err = as_index_reserve(vm)))
		return NULL;
	if (vm->nas == vm->capas) {
		size_t cap = vm->capas ? vm->capas * 2 : 8;
		struct aspace **n = realloc(vm->as, cap * sizeof(*n));

		if (!n) {
			*err = VMEM_ENOMEM;
			return NULL;
		}
		vm->as = n;
		vm->capas = cap;
	}
	as = calloc(1, sizeof(*as));
	if (!as) {
		*err = VMEM_ENOMEM;
		return NULL;
	}
	as->asid = asid;
	as->vm = vm;
	/* PCIDs are 12 bits; 0 stays for the no-PCID case. With pcid.mode=linux the
	 * address space gets a PCID at its first CR3 load. */
	as->pcid = m->cfg.pcid && m->cfg.pcid_mode == VMEM_PCID_PER_AS ?
			   (uint16_t)(asid % 4095u + 1u) : 0;
	*err = vmem_pt_create(&gcfg, &gsrc, &as->pt);
	if (*err) {
		free(as);
		return NULL;
	}
	obs.ctx = as;
	vmem_pt_set_observer(as->pt, &obs);
	vm->as[vm->nas++] = as;
	vm->as_index[as_slot(vm, asid)] = as;
	m->naspaces++;
	return as;
}

/* The running address space becomes `as` (state only; flushes are the caller's). */
static void set_running(struct vmem_mmu *m, struct aspace *as)
{
	m->vm = as->vm;
	m->vm->cur = as;
	m->as = as;
	m->run_vm = as->vm->id;
	m->run_asid = as->asid;
	m->ctx = as_ctx(as);
}

/*
 * Linux's PCID choice at a switch to `as` (choose_new_asid, arch/x86/mm/tlb.c): each CPU
 * has TLB_NR_DYN_ASIDS (6) slots remembering which mm (ctx_id) last used them. If one
 * holds `as`, it is reused and the CR3 load sets the no-flush bit (Linux also flushes
 * when the mm's tlb_gen moved on meanwhile; here every invalidation reaches the TLB when
 * it happens, so it never has). Otherwise the slot is next_asid, advanced round-robin
 * (not LRU): next_asid++, and past the last slot back to slot 0 with next_asid = 1; the
 * load then flushes that slot's PCID. Slot s runs with PCID s + 1 (kern_pcid: PCID 0
 * stays for non-PCID use; the PTI user PCIDs are not modelled). Returns true if the load
 * must flush.
 */
/* Makes vm->pcid_owner[0..n) valid (new entries NULL); n <= 4096. */
static int pcid_owner_reserve(struct vm *vm, size_t n)
{
	size_t cap = vm->pcid_owner_cap ? vm->pcid_owner_cap : 8;
	struct aspace **p;

	if (n <= vm->pcid_owner_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	p = realloc(vm->pcid_owner, cap * sizeof(*p));
	if (!p)
		return VMEM_ENOMEM;
	memset(p + vm->pcid_owner_cap, 0, (cap - vm->pcid_owner_cap) * sizeof(*p));
	vm->pcid_owner = p;
	vm->pcid_owner_cap = cap;
	return 0;
}

static bool choose_pcid_linux(struct vmem_mmu *m, struct aspace *as)
{
	struct vm *vm = as->vm;
	unsigned n = m->cfg.pcid_count, slot;
	struct aspace *old;

	for (slot = 0; slot < n; slot++) {
		if (vm->pcid_owner[slot + 1] == as) {
			as->pcid = (uint16_t)(slot + 1);
			return false;
		}
	}
	slot = vm->next_slot++;
	if (slot >= n) {
		slot = 0;
		vm->next_slot = 1;
	}
	old = vm->pcid_owner[slot + 1];
	if (old)
		old->pcid = 0;   /* its entries go with the flush below; it holds no PCID now */
	vm->pcid_owner[slot + 1] = as;
	as->pcid = (uint16_t)(slot + 1);
	return true;
}

/* A guest MOV to CR3 loading as's table. */
static int cr3_load(struct vmem_mmu *m, struct aspace *as)
{
	bool flush = true;

	/* Without PCIDs every load flushes; with them, only when the PCID last tagged
	 * another address space's entries (as Linux flushes a recycled ASID). */
	if (m->cfg.pcid &&
	    pcid_owner_reserve(as->vm, m->cfg.pcid_mode == VMEM_PCID_LINUX ?
						m->cfg.pcid_count + 1u : as->pcid + 1u))
		return mmu_errorf(m, VMEM_ENOMEM, "out of host memory for the PCIDs of VM %u",
				  as->vm->id);
	if (m->cfg.pcid && m->cfg.pcid_mode == VMEM_PCID_LINUX) {
		flush = choose_pcid_linux(m, as);
	} else if (m->cfg.pcid) {
		struct aspace **owner = &as->vm->pcid_owner[as->pcid];

		flush = *owner != as;
		*owner = as;
	}
	set_running(m, as);
	m->st.context_switches++;
	if (flush) {
		vmem_tlb_flush_ctx(m->tlb, m->ctx, VMEM_CTX_MASK_ALL);
		vmem_pwc_flush_ctx(m->pwc, m->ctx, VMEM_CTX_MASK_ALL);
	}
	if (m->cfg.mode == VMEM_MODE_SHADOW)
		return shadow_cr3_load(m, as, !flush);
	return 0;
}

/* The CPU leaves the running VM for vm: without VPIDs, every cached translation goes. */
static void vm_switch(struct vmem_mmu *m, struct vm *vm)
{
	m->st.vm_switches++;
	if (!m->cfg.vpid)
		vmem_mmu_flush_caches(m);
	m->vm = vm;
	if (vm->cur)
		set_running(m, vm->cur);
	else
		m->as = NULL;
}

/* The message of a failed vm_get. */
static int vm_error(struct vmem_mmu *m, uint16_t vmid, int err)
{
	char mem[32];

	if (err == VMEM_ELIMIT)
		return mmu_errorf(m, err, "cannot create VM %u: limit.vms=%u VMs exist already "
				  "(raise it with -s limit.vms=N)", vmid, m->cfg.limit_vms);
	if (err == VMEM_ENOMEM) {
		vmem_mmu_config_get(&m->cfg, "guest.mem", mem, sizeof(mem));
		return mmu_errorf(m, err, "cannot create VM %u: out of host memory for its frame "
				  "map of guest.mem=%s and its tables (%zu VMs exist)", vmid, mem,
				  m->nvm);
	}
	return mmu_errorf(m, err, "cannot create VM %u: %s", vmid, vmem_strerror(err));
}

/* Makes (vm, asid) the running address space, switching VM and CR3 as needed. */
static int switch_to(struct vmem_mmu *m, uint16_t vmid, uint32_t asid)
{
	int err = 0;
	struct vm *vm = vm_get(m, vmid, &err);
	struct aspace *as;

	if (!vm)
		return vm_error(m, vmid, err);
	if (vm != m->vm && m->vm)
		vm_switch(m, vm);
	m->vm = vm;
	if (m->as && m->as->vm == vm && m->as->asid == asid)
		return 0;
	as = aspace_get(m, vm, asid, &err);
	if (!as && err == VMEM_ELIMIT)
		return mmu_errorf(m, err, "cannot create address space %u of VM %u: limit.aspaces=%u "
				  "address spaces exist already (raise it with -s limit.aspaces=N)",
				  asid, vmid, m->cfg.limit_aspaces);
	if (!as)
		return mmu_errorf(m, err, "cannot create address space %u of VM %u: %s", asid,
				  vmid, vmem_strerror(err));
	return cr3_load(m, as);
}

void mmu_invlpg(struct vmem_mmu *m, uint64_t va, enum vmem_page_size guest_size)
{
	m->st.invlpgs++;
	vmem_tlb_invlpg(m->tlb, va, m->ctx);
	/*
	 * INVLPG of an address in a large page invalidates every TLB entry for that page
	 * (SDM Vol. 3A, 4.10.4.1), also the smaller entries a nested walk makes when the host
	 * maps the page with smaller pages (combined mappings, SDM Vol. 3C, 28.4.1). The TLB
	 * invalidates by page number, so a 4 KiB fragment elsewhere in the large page would
	 * survive: drop the context's entries instead (a superset, as permitted).
	 */
	if (guest_size > VMEM_PAGE_4K && m->cfg.mode == VMEM_MODE_NESTED)
		vmem_tlb_flush_ctx(m->tlb, m->ctx, VMEM_CTX_MASK_ALL);
	vmem_pwc_flush_ctx(m->pwc, m->ctx, VMEM_CTX_MASK_ALL);
	if (m->cfg.mode == VMEM_MODE_SHADOW)
		shadow_invlpg(m, va);
}

/* Invalidates what the TLB and walk caches hold for one address space. */
void mmu_flush_as(struct vmem_mmu *m, struct aspace *as)
{
	vmem_tlb_flush_ctx(m->tlb, as_ctx(as), VMEM_CTX_MASK_ALL);
	vmem_pwc_flush_ctx(m->pwc, as_ctx(as), VMEM_CTX_MASK_ALL);
}

void vmem_mmu_flush_caches(struct vmem_mmu *m)
{
	vmem_tlb_flush_all(m->tlb);
	vmem_pwc_flush_all(m->pwc);
	vmem_pwc_flush_all(m->hpwc);
	vmem_xcache_flush_all(m->ntlb);
}

void vmem_mmu_flush_tlb(struct vmem_mmu *m)
{
	vmem_tlb_flush_all(m->tlb);
}

static enum walk_outcome walk(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			      struct xlate *x)
{
	switch (m->cfg.mode) {
	case VMEM_MODE_NESTED:
		return walk_nested(m, va, acc, x);
	case VMEM_MODE_SHADOW:
		return walk_shadow(m, va, acc, x);
	default:
		return walk_native(m, va, acc, x);
	}
}

/* Handles what stopped a walk; the caller walks again. */
static int handle_fault(struct vmem_mmu *m, enum walk_outcome out, uint64_t va,
			enum vmem_access_type acc)
{
	bool reflect = false;
	int err;

	switch (out) {
	case WALK_GUEST_FAULT:
		return guest_fault(m, va, acc);
	case WALK_HOST_FAULT:
		mmu_exit(m, VMEM_EXIT_EPT_VIOLATION, 0);
		return host_fault(m, m->vm, m->fault_gpa, m->fault_write);
	case WALK_SHADOW_MISS:
		err = shadow_fault(m, va, acc, &reflect);
		if (err || !reflect)
			return err;
		return guest_fault(m, va, acc);
	default:
		return 0;
	}
}

static int translate_page(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			  uint64_t *pa)
{
	bool ifetch = acc == VMEM_ACC_IFETCH;
	unsigned need = acc_need(acc);
	struct vmem_tlb_entry e;
	enum vmem_tlb_hit hit;
	struct xlate x;

	m->st.translations++;
	/* The last entry a walk would read, if the TLB misses: its load overlaps the
	 * lookups (pt_prefetch_leaf_slot; nothing simulated changes). Only while the TLB
	 * misses: where it hits, finding the slot costs more than the overlap saves. */
	if (m->last_tlb_miss)
		pt_prefetch_leaf_slot(m->cfg.mode == VMEM_MODE_SHADOW && m->as->shadow ?
				      m->as->shadow : m->as->pt, va);
	hit = vmem_tlb_lookup(m->tlb, va, m->ctx, ifetch, &e);
	m->last_tlb_miss = hit == VMEM_TLB_MISS;
	if (m->rec)
		m->rec->tlb_hit = hit;
	if (hit != VMEM_TLB_MISS) {
		if (hit == VMEM_TLB_HIT_L1)
			m->st.tlb_l1_hits++;
		else
			m->st.tlb_l2_hits++;
		if ((e.prot & need) == need) {
			uint64_t hit_pa = e.pa_base + (va & (vmem_page_bytes(e.size) - 1));

			if (pa)
				*pa = hit_pa;
			if (m->rec) {
				m->rec->pa = hit_pa;
				m->rec->size = e.size;
			}
			return 0;
		}
		/* A cached translation without the permission: the processor walks again
		 * and faults if the tables agree (SDM Vol. 3A, 4.10.4.3). */
	} else {
		m->st.tlb_misses++;
	}
	for (int round = 0; round < MAX_RETRIES; round++) {
		uint64_t refs_before = m->st.walk_refs;
		enum walk_outcome out;
		int err;

		if (m->vm->shadow_stale)
			shadow_zap_vm(m, m->vm);
		m->fault_write = false;
		out = walk(m, va, acc, &x);

		if (out == WALK_OK) {
			m->st.walks_completed++;
			m->st.walk_refs_completed += m->st.walk_refs - refs_before;
			e.pa_base = x.pa_base;
			e.size = x.size;
			e.prot = (uint8_t)x.prot;
			vmem_tlb_fill(m->tlb, va, m->ctx, ifetch, &e);
			if (pa)
				*pa = x.pa_base + (va & (vmem_page_bytes(x.size) - 1));
			if (m->rec) {
				m->rec->pa = x.pa_base + (va & (vmem_page_bytes(x.size) - 1));
				m->rec->size = x.size;
			}
			return 0;
		}
		err = handle_fault(m, out, va, acc);
		if (err)
			return err;
	}
	return mmu_errorf(m, VMEM_EINVAL, "translation of %#llx did not settle after %d faults",
			  (unsigned long long)va, MAX_RETRIES);
}

static int check_va(struct vmem_mmu *m, uint64_t va)
{
	if (!vmem_addr_canonical(va, m->va_bits))
		return mmu_errorf(m, VMEM_ERANGE,
				  "address %#llx is not canonical for %u-level paging (%u bits)",
				  (unsigned long long)va, m->cfg.guest_levels, m->va_bits);
	return 0;
}

static int access(struct vmem_mmu *m, const struct vmem_trace_rec *r)
{
	enum vmem_access_type acc = (enum vmem_access_type)r->acc;
	uint64_t last = r->addr + (r->size ? r->size - 1u : 0);
	uint64_t pa = 0;
	int err;

	if (!vmem_addr_canonical(r->addr, m->va_bits))
		return check_va(m, r->addr);
	/* Its last byte past 2^64 (wrapping to page 0) or past the canonical range: the
	 * processor faults (#GP) rather than translate it. */
	if (last < r->addr || !vmem_addr_canonical(last, m->va_bits))
		return mmu_errorf(m, VMEM_ERANGE, "access of %u bytes at %#llx runs past the end "
				  "of the %u-bit address space", r->size,
				  (unsigned long long)r->addr, m->va_bits);
	m->st.accesses++;
	err = translate_page(m, r->addr, acc, &pa);
	if (!err && m->per_access)
		m->backing.access(m->backing.ctx, (pa >> 12) - m->hframes.nframes,
					  acc_is_write(acc));
	/* An access that crosses into the next 4 KiB page needs that page too. */
	if (!err && (r->addr & 0xfff) + r->size > 0x1000) {
		err = translate_page(m, (r->addr | 0xfff) + 1, acc, &pa);
		if (!err && m->per_access)
			m->backing.access(m->backing.ctx, (pa >> 12) - m->hframes.nframes,
					  acc_is_write(acc));
	}
	return err;
}

/* Every record but those mmu_apply_fast answers; kept out of line so that the fast
 * path's caller saves no registers. */
static __attribute__((noinline)) int apply_slow(struct vmem_mmu *m,
						const struct vmem_trace_rec *r)
{
	int err;

	m->st.records++;
	if (r->type != VMEM_REC_SWITCH_VM &&
	    (!m->as || r->vm != m->run_vm || r->asid != m->run_asid)) {
		err = switch_to(m, r->vm, r->asid);
		if (err)
			return err;
	}
	switch (r->type) {
	case VMEM_REC_ACCESS:
		return access(m, r);
	case VMEM_REC_SWITCH_AS:
		return 0;   /* done by switch_to above; a switch to the running one is a no-op */
	case VMEM_REC_SWITCH_VM: {
		struct vm *vm = vm_get(m, r->vm, &err);

		if (!vm)
			return vm_error(m, r->vm, err);
		if (vm != m->vm)
			vm_switch(m, vm);
		return 0;
	}
	case VMEM_REC_CONTENT: {
		/* New contents of a page: the guest wrote it. */
		struct vmem_trace_rec w = *r;
		struct vmem_pt_leaf leaf;

		w.type = VMEM_REC_ACCESS;
		w.acc = VMEM_ACC_STORE;
		w.size = 1;
		if ((err = access(m, &w)))
			return err;
		/* A host memory manager learns what the page now holds (dedup and compression
		 * act on it); the store above mapped it, so the guest table has it. */
		if (m->backed && m->backing.content &&
		    vmem_pt_lookup(m->as->pt, r->addr, &leaf, NULL) == 0)
			m->backing.content(m->backing.ctx, m->vm->id, leaf.pa >> 12, r->len,
					   r->prot & VMEM_CONTENT_ZERO, r->size);
		return 0;
	}
	case VMEM_REC_UNMAP:
	case VMEM_REC_FREE:   /* freed pages leave the address space as unmapped ones do */
		if ((err = check_va(m, r->addr)))
			return err;
		return guest_unmap(m, r->addr, r->len);
	case VMEM_REC_PROTECT:
		if ((err = check_va(m, r->addr)))
			return err;
		return guest_protect(m, r->addr, r->len, r->prot);
	default:
		return mmu_errorf(m, VMEM_EFORMAT, "unknown record type %u", r->type);
	}
}

int vmem_mmu_apply(struct vmem_mmu *m, const struct vmem_trace_rec *r)
{
	return mmu_apply_fast(m, r) ? 0 : apply_slow(m, r);
}

int vmem_mmu_translate(struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
		       enum vmem_access_type acc, struct vmem_walk *walk, uint64_t *pa)
{
	int err;

	if (!m->as || m->vm->id != vm || m->as->asid != asid) {
		err = switch_to(m, vm, asid);
		if (err)
			return err;
	}
	err = check_va(m, va);
	if (err)
		return err;
	if (walk) {
		memset(walk, 0, sizeof(*walk));
		walk->va = va;
	}
	m->rec = walk;
	err = translate_page(m, va, acc, pa);
	m->rec = NULL;
	return err;
}

int vmem_mmu_guest_lookup(const struct vmem_mmu *m, uint16_t vmid, uint32_t asid, uint64_t va,
			  uint64_t *gpa)
{
	const struct vm *vm = m->vms[vmid];
	const struct aspace *as = vm ? aspace_find(vm, asid) : NULL;
	struct vmem_pt_leaf leaf;

	if (!as || vmem_pt_lookup(as->pt, va, &leaf, NULL))
		return VMEM_ENOENT;
	*gpa = leaf.pa;
	return 0;
}

int vmem_mmu_create(const struct vmem_mmu_config *cfg, struct vmem_mmu **out)
{
	struct vmem_mmu *m;
	int err;

	*out = NULL;
	if ((err = vmem_mmu_config_check(cfg, NULL, 0)))
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return VMEM_ENOMEM;
	m->cfg = *cfg;
	/* One `seed` drives every random choice: placement and random replacement. */
	m->cfg.tlb.seed = cfg->seed;
	m->cfg.pwc.seed = cfg->seed ^ 0x5043ull;
	m->cfg.host_pwc.seed = cfg->seed ^ 0x48505743ull;
	cfg = &m->cfg;
	m->va_bits = 12 + 9 * cfg->guest_levels;
	m->vms = calloc(65536, sizeof(*m->vms));
	if (!m->vms) {
		free(m);
		return VMEM_ENOMEM;
	}
	/*
	 * A VM's frame map (a bit per guest frame) is allocated at its first record: try
	 * one now, so that a guest.mem too large for this host is blamed on the
	 * configuration, not on the first record of a trace.
	 */
	void *probe = calloc(cfg->guest_mem >> 15, 1);

	if (!probe) {
		free(m->vms);
		free(m);
		return VMEM_ENOMEM;
	}
	free(probe);
	if ((err = vmem_tlb_create(&cfg->tlb, &m->tlb)) ||
	    (err = vmem_pwc_create(&cfg->pwc, cfg->guest_levels, &m->pwc)) ||
	    (err = vmem_pwc_create(&cfg->host_pwc, cfg->host_levels, &m->hpwc)) ||
	    (err = vmem_xcache_create(&cfg->ntlb, cfg->seed, &m->ntlb)) ||
	    (err = frames_init(&m->hframes, cfg->host_mem, cfg->host_placement, cfg->seed))) {
		vmem_mmu_destroy(m);
		return err;
	}
	*out = m;
	return 0;
}

void vmem_mmu_destroy(struct vmem_mmu *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nvm; i++)
		vm_free(m->vm_list[i]);
	free(m->vm_list);
	free(m->vms);
	vmem_tlb_destroy(m->tlb);
	vmem_pwc_destroy(m->pwc);
	vmem_pwc_destroy(m->hpwc);
	vmem_xcache_destroy(m->ntlb);
	frames_fini(&m->hframes);
	free(m);
}
