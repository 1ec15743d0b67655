/*
 * State of the translation machine, shared by its parts:
 *   mmu.c       records, context and VM switches, the translate loop, TLB fills
 *   walk.c      the hardware walks: native, nested (2D) and shadow
 *   faults.c    guest faults, unmap and protect (through the guest OS model of
 *               guest/guest_os.h) and the host's first-touch faults
 *   shadow.c    the VMM's shadow paging (hidden faults, write traps, CR3, INVLPG)
 */
#ifndef VMEM_MMU_INTERNAL_H
#define VMEM_MMU_INTERNAL_H

#include "vmem/mmu.h"
#include "vmem/pt.h"

#include "paging/frames.h"
#include "paging/pt_internal.h"
#include "paging/tlb_internal.h"

struct vm;
struct aspace;

/* Links of an address space in one of its VM's least-recently-loaded lists (shadow.c). */
struct as_link {
	struct aspace *prev, *next;
};

/* Address spaces ordered by their last CR3 load, least recent first. */
struct as_lru {
	struct aspace *head, *tail;
};

/* One guest address space (a process): its guest page table and its shadow root. */
struct aspace {
	uint32_t asid;
	uint16_t pcid;               /* 0 when PCIDs are off, or (pcid.mode=linux) while the
	                              * address space holds no PCID slot */
	struct vm *vm;
	struct vmem_pt *pt;          /* guest table, in guest-physical memory */
	struct vmem_pt *shadow;      /* shadow table in host-physical memory, or NULL */
	bool root_cached;            /* shadow's root is in the VM's root cache */
	uint64_t *unsync;            /* va_base of unsync last-level shadow pages */
	size_t nunsync, capunsync;
	struct as_link tree_link;    /* in vm->shadow_trees while it has a shadow tree */
	struct as_link root_link;    /* in vm->root_lru while root_cached */
};

struct vm {
	struct vmem_mmu *mmu;
	uint16_t id;
	uint16_t vpid;               /* 0 when VPIDs are off */
	bool shadow_stale;           /* the backing remapped a page: zap the shadow trees
	                              * before the next walk (shadow.c) */
	struct frames gframes;       /* guest-physical memory */
	struct vmem_pt *ept;         /* guest-physical -> host-physical (nested, shadow) */
	struct aspace **as;          /* in creation order */
	size_t nas, capas;
	/* as by asid: open addressing, linear probing, at most half full; capacity a power
	 * of two (0 before the first address space). */
	struct aspace **as_index;
	size_t as_index_cap;
	struct aspace *cur;
	unsigned shadow_roots;       /* shadow roots in the root cache */
	/* Eviction order of shadow trees and cached roots, and the shadow table pages of
	 * all trees, kept as they change so that no choice scans every address space. */
	struct as_lru shadow_trees, root_lru;
	uint64_t shadow_pages;
	/* PCIDs are 12 bits, address-space ids 32: the address space whose entries a PCID's
	 * TLB and walk-cache entries belong to, so a reuse by another one flushes first.
	 * With pcid.mode=linux, pcid_owner[slot + 1] is the owner of slot `slot`. Grown on
	 * demand up to the 4096 PCIDs, so a VM with few address spaces stays small. */
	struct aspace **pcid_owner;
	size_t pcid_owner_cap;
	unsigned next_slot;          /* pcid.mode=linux: Linux's cpu_tlbstate.next_asid */
	uint64_t guest_faults;       /* guest page faults in this VM */
	struct guest_mem *gm;        /* balloon and guest swap (guest_mem.c), or NULL */
};

/* The result of a successful walk: what goes into the TLB. */
struct xlate {
	uint64_t pa_base;            /* base of the page at `size` */
	enum vmem_page_size size;
	unsigned prot;
};

enum walk_outcome {
	WALK_OK = 0,
	WALK_GUEST_FAULT,            /* guest entry missing or lacks a permission */
	WALK_HOST_FAULT,             /* host entry missing (fault_gpa says where) */
	WALK_SHADOW_MISS,            /* shadow entry missing or lacks a permission */
};

struct vmem_mmu {
	struct vmem_mmu_config cfg;
	struct vmem_tlb *tlb;
	struct vmem_pwc *pwc;        /* guest, native and shadow walks */
	struct vmem_pwc *hpwc;       /* host walks */
	struct vmem_xcache *ntlb;    /* gPA page -> hPA page */
	struct frames hframes;       /* host-physical memory */
	struct vm **vms;             /* by VM id, created on first use */
	struct vm **vm_list;         /* the created ones, in creation order */
	size_t nvm;
	size_t naspaces;             /* address spaces of all VMs (limit.aspaces) */
	struct vm *vm;               /* running VM */
	struct aspace *as;           /* running address space (vm->cur) */
	bool last_tlb_miss;          /* the last translation missed the TLB: prefetch ahead */
	uint16_t run_vm;             /* as->vm->id and as->asid, kept at hand for the */
	uint32_t run_asid;           /* per-record check */
	unsigned va_bits;            /* canonical width of guest-virtual addresses: 48 or 57 */
	uint32_t ctx;                /* VMEM_CTX(vm->vpid, as->pcid) */
	uint64_t fault_gpa;          /* set by WALK_HOST_FAULT */
	bool fault_write;            /* ... for a write: the host mapping lacks write access */
	bool backed;                 /* a host memory manager backs host memory */
	bool per_access;             /* ... and wants every access (backing.access) */
	struct vmem_mmu_backing backing;
	int backing_err;             /* a failed host fault inside a guest table write */
	struct vmem_walk *rec;       /* walk being recorded, or NULL */
	struct vmem_mmu_stats st;
	/* The TLB and walk-cache counters at the last vmem_mmu_stats_reset(): statistics
	 * report the difference, so a reset leaves those structures untouched. */
	struct vmem_tlb_stats tlb_base;
	struct vmem_pwc_stats pwc_base, hpwc_base;
	struct vmem_xcache_stats ntlb_base;
	char err[256];
};

static inline bool acc_is_write(enum vmem_access_type a)
{
	return a == VMEM_ACC_STORE || a == VMEM_ACC_MODIFY;
}

/* The VMEM_PROT_* bit an access needs. */
static inline unsigned acc_need(enum vmem_access_type a)
{
	return acc_is_write(a) ? VMEM_PROT_WRITE :
	       a == VMEM_ACC_IFETCH ? VMEM_PROT_EXEC : VMEM_PROT_READ;
}

static inline uint32_t as_ctx(const struct aspace *as)
{
	return VMEM_CTX(as->vm->vpid, as->pcid);
}

/*
 * The common record of a replay answered without a call: an access within one 4 KiB
 * page of the running address space that hits the L1 TLB entry its L1 last hit, with
 * the permission it needs. Counts what the full path (vmem_mmu_apply, access,
 * translate_page, vmem_tlb_lookup) counts for it and returns true; false, with nothing
 * changed, for any other record. (A memo hit implies a canonical address: the memo holds
 * the page of an address that was translated.)
 */
static inline bool mmu_apply_fast(struct vmem_mmu *m, const struct vmem_trace_rec *r)
{
	bool ifetch = r->acc == VMEM_ACC_IFETCH;
	uint64_t v;

	if (r->type != VMEM_REC_ACCESS || !m->as || m->per_access || r->vm != m->run_vm ||
	    r->asid != m->run_asid || (r->addr & 0xfff) + r->size > 0x1000)
		return false;
	v = tlb_memo_peek(m->tlb, r->addr, m->ctx, ifetch);
	if (!v || !(tlb_val_prot(v) & acc_need((enum vmem_access_type)r->acc)))
		return false;
	tlb_memo_count(m->tlb, ifetch);
	m->st.records++;
	m->st.accesses++;
	m->st.translations++;
	m->st.tlb_l1_hits++;
	return true;
}

/* walk.c */
enum walk_outcome walk_native(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			      struct xlate *x);
enum walk_outcome walk_nested(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			      struct xlate *x);
enum walk_outcome walk_shadow(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc,
			      struct xlate *x);

/* faults.c */
int guest_fault(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc);
int guest_unmap(struct vmem_mmu *m, uint64_t va, uint64_t len);
int guest_protect(struct vmem_mmu *m, uint64_t va, uint64_t len, unsigned prot);
/* Guest-physical -> host-physical via the VM's host table, mapping on first touch. */
int host_map(struct vmem_mmu *m, struct vm *vm, uint64_t gpa, bool write,
	     struct vmem_pt_leaf *leaf);
int host_fault(struct vmem_mmu *m, struct vm *vm, uint64_t gpa, bool write);

/* guest_mem.c: the guest OS's balloon driver and its own swapping */
struct guest_mm;
/* The guest OS's fault handler with guest swapping: a fault on a page in guest swap is a
 * major fault, and a fault that finds no free frame reclaims (or deflates) and retries. */
int guest_mem_fault(struct vmem_mmu *m, const struct guest_mm *mm, uint64_t va,
		    unsigned need);
/* munmap in the running address space: pages in guest swap there are dropped. */
void guest_mem_unmap(struct vmem_mmu *m, uint64_t va, uint64_t len);
void guest_mem_free(struct vm *vm);

/* mmu.c: the VM with id `id`, created on first use. */
struct vm *mmu_vm_get(struct vmem_mmu *m, uint16_t id, int *err);

/* shadow.c */
int shadow_fault(struct vmem_mmu *m, uint64_t va, enum vmem_access_type acc, bool *reflect);
/* noflush: the guest's load kept the TLB (PCID no-flush form). */
int shadow_cr3_load(struct vmem_mmu *m, struct aspace *as, bool noflush);
void shadow_invlpg(struct vmem_mmu *m, uint64_t va);
void shadow_guest_write(struct aspace *as, uint64_t va_base, unsigned level, unsigned index);
/* Zaps every shadow tree of vm (after the backing remapped host pages). */
void shadow_zap_vm(struct vmem_mmu *m, struct vm *vm);

/* mmu.c */
void mmu_exit(struct vmem_mmu *m, enum vmem_exit_reason r, uint32_t vmm_cycles);
/* A guest INVLPG of va, which the guest maps with a page of guest_size. */
void mmu_invlpg(struct vmem_mmu *m, uint64_t va, enum vmem_page_size guest_size);
void mmu_flush_as(struct vmem_mmu *m, struct aspace *as);
int mmu_errorf(struct vmem_mmu *m, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
