/*
 * The translation machine: one logical CPU with its TLBs and walk caches, the guest OS
 * model of each VM, the host, and one of three translation modes over the same state:
 *
 *   native  the guest's tables are walked directly (n references per walk).
 *   nested  two-dimensional walks through guest tables and the VM's host (EPT/NPT)
 *           table: (n+1)(m+1)-1 references.
 *   shadow  the VMM keeps shadow tables (guest-virtual -> host-physical) that the
 *           hardware walks (n references); they are filled lazily on hidden page faults,
 *           guest page-table writes and CR3 loads exit to the VMM.
 *
 * Feed it trace records with vmem_mmu_apply(); it allocates guest-physical frames on a
 * guest's first touch of a page (the guest OS model) and host frames on the first touch of
 * a guest-physical page (an EPT violation), builds every table in simulated physical
 * memory, and counts references, hits, exits, faults and cycles.
 *
 * Configuration is a plain struct with defaults (vmem_mmu_config_default) and key=value
 * setters (vmem_mmu_config_set); vmem_mmu_config_keys() lists every key with its meaning.
 * Statistics are read as a struct or by dotted name (vmem_mmu_stat_get), the same names
 * the CSV and JSON outputs use.
 *
 * Concurrency: none; one thread drives a machine.
 */
#ifndef VMEM_MMU_H
#define VMEM_MMU_H

#include "vmem/cost.h"
#include "vmem/pwc.h"
#include "vmem/tlb.h"
#include "vmem/trace.h"
#include "vmem/walk.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vmem_mode {
	VMEM_MODE_NATIVE = 0,
	VMEM_MODE_NESTED = 1,
	VMEM_MODE_SHADOW = 2,
	VMEM_MODES = 3,
};

const char *vmem_mode_name(enum vmem_mode m);
int vmem_mode_parse(const char *s, enum vmem_mode *out);

/* How the VMM keeps shadow tables coherent with guest page-table writes. */
enum vmem_shadow_sync {
	VMEM_SHADOW_TRAP = 0,    /* every write to a shadowed guest table page exits */
	VMEM_SHADOW_UNSYNC = 1,  /* last-level pages go unsync; resync at INVLPG / CR3 load */
};

/* How the guest OS hands out PCIDs (with pcid on). */
enum vmem_pcid_mode {
	VMEM_PCID_PER_AS = 0,    /* one PCID per address space, kept for its lifetime */
	VMEM_PCID_LINUX = 1,     /* Linux: pcid_count per-CPU slots reused round-robin */
};

/* What a guest paging-structure-cache entry holds under nested paging. */
enum vmem_pwc_nested {
	VMEM_PWC_NESTED_COMBINED = 0,        /* host-physical address of the next guest table
	                                      * (Intel: combined paging-structure-cache entries) */
	VMEM_PWC_NESTED_GUEST_PHYSICAL = 1,  /* its guest-physical address: the walk translates
	                                      * it through the host table (or nested TLB) */
};

struct vmem_mmu_config {
	enum vmem_mode mode;
	unsigned guest_levels;               /* 4 or 5 */
	unsigned host_levels;                /* 4 or 5 */
	enum vmem_page_size guest_page;      /* page size the guest maps on first touch */
	enum vmem_page_size host_page;       /* page size the host maps on first touch */
	uint64_t guest_mem;                  /* bytes of guest-physical memory per VM */
	uint64_t host_mem;                   /* bytes of host-physical memory */
	unsigned guest_placement;            /* 0 sequential, 1 random */
	unsigned host_placement;
	bool pcid;                           /* CR3 loads keep the TLB (PCID tags) */
	enum vmem_pcid_mode pcid_mode;
	unsigned pcid_count;                 /* slots of VMEM_PCID_LINUX (Linux: 6) */
	bool vpid;                           /* VM switches keep the TLB (VPID tags) */
	enum vmem_shadow_sync shadow_sync;
	unsigned shadow_roots;               /* shadow roots cached per VM */
	unsigned shadow_max_pages;           /* shadow table pages per VM; 0: from guest_mem */
	struct vmem_tlb_config tlb;
	struct vmem_pwc_config pwc;          /* guest/native/shadow walks */
	enum vmem_pwc_nested pwc_nested;     /* nested walks: what guest PWC entries hold */
	struct vmem_pwc_config host_pwc;     /* host (EPT) walks */
	struct vmem_cache_geom ntlb;         /* nested TLB: gPA -> hPA */
	struct vmem_cost cost;
	uint64_t seed;
	/* Bounds on what a trace can make the machine create (each costs host memory):
	 * VMs, and address spaces of all VMs together. Reaching one is VMEM_ELIMIT. */
	unsigned limit_vms;                  /* 1..65536 */
	unsigned limit_aspaces;              /* >= 1 */
};

void vmem_mmu_config_default(struct vmem_mmu_config *cfg);

/*
 * Sets one key ("guest.levels", "tlb.l2", "cost.vm_exit", ...) from its text value.
 * On error returns VMEM_EINVAL and writes a one-line reason into err (if not NULL).
 */
int vmem_mmu_config_set(struct vmem_mmu_config *cfg, const char *key, const char *value,
			char *err, size_t errlen);

/* Parses "key=value" (one assignment). */
int vmem_mmu_config_assign(struct vmem_mmu_config *cfg, const char *assignment, char *err,
			   size_t errlen);

/*
 * Reads a configuration file: one key=value per line, '#' starts a comment. Errors name
 * the file and line.
 */
int vmem_mmu_config_load(struct vmem_mmu_config *cfg, const char *path, char *err,
			 size_t errlen);

/*
 * Checks that the keys agree with each other and with what the machine can build
 * (memory sizes, PCID slots, shadow limits, cache geometries, enumerations in range).
 * Returns 0, or VMEM_EINVAL with one line in err (if not NULL) naming the key, its value
 * and the constraint, e.g. "guest.mem=3m: must be a multiple of 2m, at least 2m".
 * vmem_mmu_create makes the same check.
 */
int vmem_mmu_config_check(const struct vmem_mmu_config *cfg, char *err, size_t errlen);

struct vmem_config_key {
	const char *key;
	const char *help;
};

/* The documented keys, terminated by an entry with key == NULL. */
const struct vmem_config_key *vmem_mmu_config_keys(void);

/* Writes the value of key in cfg as text (the form vmem_mmu_config_set accepts). */
int vmem_mmu_config_get(const struct vmem_mmu_config *cfg, const char *key, char *buf,
			size_t len);

enum vmem_exit_reason {
	VMEM_EXIT_HIDDEN_FAULT = 0,  /* shadow entry missing, guest mapping present: fill */
	VMEM_EXIT_GUEST_FAULT = 1,   /* shadow fault reflected to the guest as a #PF */
	VMEM_EXIT_PTE_WRITE = 2,     /* write to a write-protected guest table page */
	VMEM_EXIT_CR3_LOAD = 3,      /* guest MOV to CR3 */
	VMEM_EXIT_INVLPG = 4,        /* guest INVLPG */
	VMEM_EXIT_EPT_VIOLATION = 5, /* host mapping missing (nested and shadow) */
	VMEM_EXIT_REASONS = 6,
};

const char *vmem_exit_reason_name(enum vmem_exit_reason r);

#define VMEM_WALK_HIST 64   /* histogram buckets of memory references per walk */

struct vmem_mmu_stats {
	uint64_t records;
	uint64_t accesses;            /* access records */
	uint64_t translations;        /* page lookups (an access crossing a page: two) */
	uint64_t tlb_l1_hits;
	uint64_t tlb_l2_hits;
	uint64_t tlb_misses;
	/* Per structure, refreshed from the TLB and walk caches by vmem_mmu_stats(). */
	uint64_t tlb_l1d_lookups, tlb_l1d_misses;
	uint64_t tlb_l1i_lookups, tlb_l1i_misses;
	uint64_t tlb_l2_lookups, tlb_l2_misses;
	uint64_t pwc_lookups, pwc_hits;            /* guest / native / shadow walks */
	uint64_t host_pwc_lookups, host_pwc_hits;  /* host (EPT) walks */
	uint64_t ntlb_lookups, ntlb_hits;
	uint64_t walks;               /* page walks, faulting ones included */
	uint64_t walk_refs;           /* memory references made by walks */
	uint64_t walks_completed;     /* walks that ended in a translation (no fault) */
	uint64_t walk_refs_completed; /* memory references made by those walks */
	uint64_t walk_refs_pwc;       /* references skipped by paging-structure caches */
	uint64_t walk_refs_ntlb;      /* host references skipped by the nested TLB */
	uint64_t walk_hist[VMEM_WALK_HIST];  /* walks by memory references made */
	uint64_t guest_faults;        /* guest page faults (first touch, protection) */
	uint64_t host_faults;         /* host first touches of guest-physical pages */
	uint64_t exits[VMEM_EXIT_REASONS];
	uint64_t exits_total;
	uint64_t shadow_fills;
	uint64_t shadow_zaps;         /* shadow entries dropped by guest table writes */
	uint64_t shadow_resyncs;      /* unsync shadow pages resynchronized */
	uint64_t shadow_root_hits;
	uint64_t shadow_root_misses;
	uint64_t guest_pte_writes;    /* entries the guest OS wrote in its tables */
	uint64_t context_switches;
	uint64_t vm_switches;
	uint64_t invlpgs;
	uint64_t unmaps;              /* pages unmapped by guest unmap events */
	uint64_t protects;            /* pages re-protected by guest protect events */
	uint64_t guest_table_pages;   /* now, all VMs */
	uint64_t host_table_pages;    /* EPT table pages now */
	uint64_t shadow_table_pages;  /* now */
	uint64_t guest_frames;        /* guest-physical 4 KiB frames in use (data + tables) */
	uint64_t host_frames;         /* host-physical 4 KiB frames in use */
	uint64_t cycles_access;       /* accesses themselves */
	uint64_t cycles_tlb;          /* TLB hits at L1/L2 */
	uint64_t cycles_walk;         /* page walks */
	uint64_t cycles_exits;        /* VM exits and the VMM work in them */
	uint64_t cycles_faults;       /* guest and host fault handling */
	uint64_t cycles_total;
};

struct vmem_mmu;

/* Creates a machine; VMEM_EINVAL if the configuration is inconsistent (see
 * vmem_mmu_config_check for why). */
int vmem_mmu_create(const struct vmem_mmu_config *cfg, struct vmem_mmu **out);
void vmem_mmu_destroy(struct vmem_mmu *m);

/*
 * Applies one trace record. Returns 0, or a negative code when the record cannot be
 * simulated (VMEM_ERANGE: address not canonical for the guest's paging depth;
 * VMEM_ENOSPACE: guest or host memory exhausted); vmem_mmu_error() says more.
 */
int vmem_mmu_apply(struct vmem_mmu *m, const struct vmem_trace_rec *rec);

/*
 * Translates va for (vm, asid) as an access of type acc would, recording every reference
 * of the walk(s) it takes into *walk (if not NULL). Faults are taken and retried as
 * during replay. *pa gets the final physical address (host-physical under
 * virtualization). Used by the walk explainer and by tests.
 */
int vmem_mmu_translate(struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
		       enum vmem_access_type acc, struct vmem_walk *walk, uint64_t *pa);

/* Guest-physical address that (vm, asid, va) maps to now, without side effects. */
int vmem_mmu_guest_lookup(const struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
			  uint64_t *gpa);

/* Empties every TLB, paging-structure cache and the nested TLB. */
void vmem_mmu_flush_caches(struct vmem_mmu *m);

/* Empties the TLBs only; walk caches keep their entries. */
void vmem_mmu_flush_tlb(struct vmem_mmu *m);

/* Statistics so far; the table-page and frame counts are refreshed on each call. */
const struct vmem_mmu_stats *vmem_mmu_stats(struct vmem_mmu *m);

/*
 * Restarts the statistics, as at the end of a warm-up: every counter, those of the TLBs
 * and walk caches included, reads zero from here on, while the machine keeps its state
 * (tables, TLB and walk-cache contents, shadow pages, frames). The gauges (table pages and
 * frames in use now) are not counters and keep reading what is there.
 */
void vmem_mmu_stats_reset(struct vmem_mmu *m);
const struct vmem_mmu_config *vmem_mmu_get_config(const struct vmem_mmu *m);

/* Reads one statistic by its dotted name ("tlb.l1.hits", "exits.cr3_load", ...). */
int vmem_mmu_stat_get(struct vmem_mmu *m, const char *name, double *value);

/* The same, from a copy of the statistics kept earlier (e.g. at the end of a warm-up). */
int vmem_mmu_stats_value(const struct vmem_mmu_stats *s, const char *name, double *value);

/* The statistic names in output order, terminated by NULL. */
const char *const *vmem_mmu_stat_names(void);

/* What a statistic counts, in one line (vmemsim --help-stats); NULL for an unknown name. */
const char *vmem_mmu_stat_help(const char *name);

const char *vmem_mmu_error(const struct vmem_mmu *m);

/*
 * A host memory manager behind the machine's host memory (vmem/host.h attaches one with
 * vmem_host_attach). Without one, the machine backs guest-physical memory on first touch
 * from host.mem and never takes it back. With one, every host fault (an EPT violation in
 * nested mode, a fault on the VMM's mapping in shadow mode, and a guest page-table write to
 * a page the host does not map writable) asks the manager for the frame, and the manager
 * tells the machine when it takes a frame away (vmem_mmu_host_invalidate).
 */
/* How the backing backs a guest page. */
struct vmem_mmu_backed_page {
	uint64_t frame;              /* host frame (the first of 512 when huge) */
	bool writable;               /* false: shared, copy-on-write */
	bool huge;                   /* one 2 MiB host page maps the aligned 2 MiB around it */
	uint64_t cycles;             /* what the guest waits */
};

struct vmem_mmu_backing {
	void *ctx;
	/* Back guest page gfn of VM vm for an access (write or not). */
	int (*fault)(void *ctx, uint16_t vm, uint64_t gfn, bool write,
		     struct vmem_mmu_backed_page *out);
	/* The guest wrote content (a content record) to page gfn; may be NULL. */
	void (*content)(void *ctx, uint16_t vm, uint64_t gfn, uint64_t hash, bool zero,
			unsigned cls);
	/* The guest OS freed page gfn (its allocator took it back); may be NULL. */
	void (*guest_free)(void *ctx, uint16_t vm, uint64_t gfn);
	/* Every translated access to a host frame, or NULL (set only when a policy needs
	 * every access: it turns off the replay's fast path). */
	void (*access)(void *ctx, uint64_t frame, bool write);
	/* Error message of the last failed fault. */
	const char *(*error)(void *ctx);
};

/* Installs (b != NULL) or removes the backing; only before the first record. The machine
 * copies *b. VMEM_EINVAL in native mode or with host.page=1g (with host.page=2m the
 * backing may back 2 MiB at a time, as transparent huge pages). */
int vmem_mmu_set_backing(struct vmem_mmu *m, const struct vmem_mmu_backing *b);

/*
 * The backing took guest page gfn of VM vm away or remapped it: drops the host table's
 * entry (a 2 MiB one whole) and every cached translation through it (the VM's TLB entries, its nested-TLB
 * entry, host walk caches, and under shadow paging the VM's shadow pages), as KVM's MMU
 * notifier does on an invalidation. The next access faults to the backing again.
 */
void vmem_mmu_host_invalidate(struct vmem_mmu *m, uint16_t vm, uint64_t gfn);

/* The accessed bit of the host table's entry for (vm, gfn), which walks set; clear = true
 * clears it. False if the page is not mapped. */
bool vmem_mmu_host_young(struct vmem_mmu *m, uint16_t vm, uint64_t gfn, bool clear);
/* The dirty bit of the same entry, which walks for writes set. */
bool vmem_mmu_host_dirty(struct vmem_mmu *m, uint16_t vm, uint64_t gfn, bool clear);


#ifdef __cplusplus
}
#endif
#endif
