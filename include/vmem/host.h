/*
 * The host memory manager: one host with a fixed amount of memory, several VMs whose
 * configured memory may add up to more (overcommit), and the mechanisms that give memory
 * back when the host runs short: ballooning, same-page deduplication, and hypervisor
 * swapping to a compressed tier and a swap device. Policies decide who gives back and how
 * (vmem/host_policy.h); the manager keeps the books.
 *
 * Every guest page (VM, guest frame number) is in exactly one state:
 *   untouched   never touched since boot or since a balloon deflate returned it
 *   resident    backed by a host frame of its own
 *   shared      mapped read-only onto a host frame that other pages map too (dedup)
 *   zero        mapped read-only onto the host's zero page (dedup of zero pages)
 *   swapped     its content is on the swap device
 *   compressed  its content is in the compressed tier (in host memory, compressed)
 *   ballooned   given to the host by the guest's balloon driver
 * and every host frame is free, backs resident or shared pages, or holds compressed pages.
 *
 * Time is simulated: the caller advances the clock (vmem_host_advance) by the cycles the
 * guests ran; background work (the swap daemon, the dedup scanner, the balloon
 * controller) runs when it is due. The cycles a guest waits for the host (a swap-in, a
 * decompression, a copy-on-write break) are returned by vmem_host_fault and counted per VM.
 *
 * A translation machine (vmem/mmu.h) is attached with vmem_host_attach: its host faults
 * come here, and every remap here (swap-out, merge, balloon) invalidates the machine's
 * host table, TLB, nested TLB and shadow entries for the page.
 *
 * Concurrency: one thread at a time per host (the simulator's replay thread).
 */
#ifndef VMEM_HOST_H
#define VMEM_HOST_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_mmu;
struct vmem_host;

enum vmem_page_state {
	VMEM_PG_UNTOUCHED = 0,
	VMEM_PG_RESIDENT = 1,
	VMEM_PG_SHARED = 2,
	VMEM_PG_ZERO = 3,
	VMEM_PG_SWAPPED = 4,
	VMEM_PG_COMPRESSED = 5,
	VMEM_PG_BALLOONED = 6,
	VMEM_PG_STATES = 7,
};

/* "untouched", "resident", ... */
const char *vmem_page_state_name(enum vmem_page_state s);

#define VMEM_HOST_POLICY_SPEC 160   /* bytes of a policy spec, "name:key=value:..." */

struct vmem_host_config {
	uint64_t mem;                /* host.mem: bytes of host memory for guest pages */
	uint64_t vm_mem;             /* host.vm_mem: guest memory of a VM not added explicitly */
	unsigned max_vms;            /* host.max_vms: VMs at most */
	/* Free-memory watermarks, per mille of host.mem (Linux's min/low/high): below low
	 * the swap daemon wakes and reclaims until free reaches high; below min a fault
	 * reclaims itself (direct reclaim) before it takes a frame. */
	unsigned wmark_min, wmark_low, wmark_high;
	unsigned reclaim_batch;      /* host.reclaim_batch: pages per reclaim pass */
	uint64_t cpu_hz;             /* host.cpu_hz: cycles per simulated second */
	/* Costs in cycles (docs/COST-MODEL.md gives their sources). */
	uint32_t cost_zero_fill;     /* first touch: allocate and zero a frame */
	uint32_t cost_cow;           /* copy-on-write break of a shared or zero page */
	uint32_t cost_compress;      /* compress one page into the compressed tier */
	uint32_t cost_decompress;    /* decompress one page back */
	uint32_t cost_fault;         /* the host's fault handling around a swap-in */
	/* The swap device: latency of one I/O and its bandwidth. */
	uint32_t swap_latency_us;
	uint32_t swap_mb_s;
	uint64_t swap_size;          /* host.swap.size: bytes of swap space */
	/* The compressed tier (zswap): on when zswap_percent > 0, at most that share of
	 * host.mem; pages that compress to more than zswap_max_class stay out of it. */
	unsigned zswap_percent;
	unsigned zswap_max_class;
	/* Page contents of traces that carry none (content model, host/content.c). */
	unsigned content_zero;       /* per mille of first-touched pages that stay zero */
	unsigned content_image;      /* per mille of a VM's pages that start as its image's */
	unsigned content_image_vms;  /* VMs booted from one image (VM ids 0..n-1 share one) */
	unsigned content_class;      /* compressibility class of written pages (0..15) */
	/* Huge pages (with host.page=2m on the machine): costs, and the collapse of split
	 * regions (khugepaged's pages_to_scan and scan_sleep_millisecs). */
	uint32_t thp_zero_fill;      /* cycles to zero a 2 MiB host page on first touch */
	uint32_t thp_collapse_cost;  /* cycles to copy a split region into a 2 MiB page */
	uint32_t thp_collapse_pages;
	uint32_t thp_collapse_ms;
	uint64_t seed;
	/* Policies, "name" or "name:key=value:key=value" (vmem/host_policy.h). */
	char swap[VMEM_HOST_POLICY_SPEC];
	char dedup[VMEM_HOST_POLICY_SPEC];
	char balloon[VMEM_HOST_POLICY_SPEC];
	/* Ballooning (vmem/balloon.h): the controller runs every balloon_period_ms of
	 * simulated time and moves each balloon by balloon_rate pages at most; policies aim
	 * to keep balloon_free per mille of host memory free; the active fraction of each
	 * VM is estimated from balloon_samples sampled pages; the guest OS has a swap
	 * device of balloon_guest_swap percent of its memory. Free page reporting
	 * (balloon_report) drops pages the guest freed balloon_report_delay_ms ago;
	 * balloon_deflate_on_oom lets the guest deflate when it runs out of memory. */
	unsigned balloon_period_ms;
	unsigned balloon_rate;
	unsigned balloon_free;
	unsigned balloon_samples;
	unsigned balloon_guest_swap;
	unsigned balloon_report;
	unsigned balloon_report_delay_ms;
	unsigned balloon_deflate_on_oom;
	uint32_t cost_guest_swap_in; /* a guest major fault: read from the guest's own swap */
};

void vmem_host_config_default(struct vmem_host_config *cfg);

/* Sets one key (the names above with their "host." prefix, e.g. "host.mem", "host.swap").
 * On error writes a one-line message naming the key to err. */
int vmem_host_config_set(struct vmem_host_config *cfg, const char *key, const char *value,
			 char *err, size_t errlen);

/* Every key with its meaning and default, NULL-terminated. */
struct vmem_host_config_key {
	const char *name;
	const char *help;
};
const struct vmem_host_config_key *vmem_host_config_keys(void);

/* Writes the value of key as text (the form vmem_host_config_set accepts). */
int vmem_host_config_get(const struct vmem_host_config *cfg, const char *key, char *buf,
			 size_t len);

/*
 * A program that runs a host manager over a translation machine takes both configurations
 * from one set of KEY=VALUE assignments: each key goes where it belongs, and host.mem and
 * seed go to both. Unknown keys are errors naming the key; files name FILE:LINE.
 */
struct vmem_mmu_config;
int vmem_host_setup_assign(struct vmem_host_config *hc, struct vmem_mmu_config *mc,
			   const char *assignment, char *err, size_t errlen);
int vmem_host_setup_load(struct vmem_host_config *hc, struct vmem_mmu_config *mc,
			 const char *path, char *err, size_t errlen);

/* Creates a host; checks the configuration and the policies' parameters (err says what is
 * wrong). The caller owns *out and frees it with vmem_host_destroy. */
int vmem_host_create(const struct vmem_host_config *cfg, struct vmem_host **out, char *err,
		     size_t errlen);
void vmem_host_destroy(struct vmem_host *h);

/* The last error's message. */
const char *vmem_host_error(const struct vmem_host *h);

/* Adds VM vm with mem bytes of guest memory and shares (proportional-share policies).
 * VMs the trace names without being added get host.vm_mem and 1000 shares. */
int vmem_host_add_vm(struct vmem_host *h, uint16_t vm, uint64_t mem, uint32_t shares);

/* Serves the host faults of machine m (which must outlive the host or be detached by
 * destroying the host first). The machine must run in nested or shadow mode with 4 KiB
 * host pages, and its guest.mem must equal the VMs' memory. */
int vmem_host_attach(struct vmem_host *h, struct vmem_mmu *m);

/* Advances the simulated clock by cycles and runs the background work that falls due. */
int vmem_host_advance(struct vmem_host *h, uint64_t cycles);
uint64_t vmem_host_now(const struct vmem_host *h);

/* What one fault cost the guest. */
struct vmem_host_fault_result {
	uint64_t frame;              /* host frame now backing the page (huge: the first of
	                              * the 512 backing its aligned 2 MiB) */
	bool writable;               /* false: shared or zero page, mapped read-only */
	bool huge;                   /* a 2 MiB host page backs the region (host.page=2m) */
	uint64_t cycles;             /* cycles the guest waited */
};

/* A guest access to a page the host does not map (or maps read-only and write is true):
 * backs it, swapping in, decompressing or breaking sharing as its state requires. */
int vmem_host_fault(struct vmem_host *h, uint16_t vm, uint64_t gfn, bool write,
		    struct vmem_host_fault_result *res);

/* The guest wrote content `hash` to page gfn (a content record; flags VMEM_CONTENT_ZERO,
 * class 0..15). Pages without a content record follow the content model. */
int vmem_host_set_content(struct vmem_host *h, uint16_t vm, uint64_t gfn, uint64_t hash,
			  bool zero, unsigned cls);

/* The guest's allocator freed page gfn (free page reporting acts on such pages). */
int vmem_host_guest_free(struct vmem_host *h, uint16_t vm, uint64_t gfn);

/* Statistics of one VM. */
struct vmem_host_vm_stats {
	uint64_t pages;                     /* configured guest pages */
	uint64_t state[VMEM_PG_STATES];     /* guest pages in each state */
	uint64_t faults;                    /* host faults taken */
	uint64_t faults_first;              /* ... that backed an untouched page */
	uint64_t faults_swapin;             /* ... that read a page from the swap device */
	uint64_t faults_decompress;         /* ... that decompressed a page */
	uint64_t faults_cow;                /* ... that broke sharing (shared or zero page) */
	uint64_t swap_out;                  /* pages written to the swap device */
	uint64_t compress_out;              /* pages stored in the compressed tier */
	uint64_t reclaimed;                 /* pages taken from this VM by reclaim */
	uint64_t balloon_target;            /* pages the balloon should hold */
	uint64_t balloon_inflated, balloon_deflated;
	uint64_t guest_swap_out, guest_swap_in;   /* the guest's own swapping */
	uint64_t guest_freed;               /* pages the guest reported free */
	/* Hypervisor swapping pathologies (Amit et al., ASPLOS 2014). */
	uint64_t silent_swap_writes;        /* swap-out of a page the guest had freed */
	uint64_t stale_swap_reads;          /* swap-in of a page the guest then overwrote whole */
	uint64_t false_swap_reads;          /* swap-in of a page the guest had freed */
	uint64_t double_paging;             /* guest swap-out of a page the host had swapped */
	uint64_t decayed_swap_reads;        /* swap-in of the page after the one read last,
	                                     * from a slot not after its slot: a sequential
	                                     * guest read made random on the device */
	uint64_t cycles_stalled;            /* cycles the VM waited on host faults */
	/* Huge pages (host.page=2m): 2 MiB regions backed by one now, first touches that
	 * took one, splits by what caused them, and collapses. */
	uint64_t thp_huge, thp_faults, thp_splits, thp_collapses;
	uint64_t thp_split_by[4];           /* reclaim, dedup, balloon, other */
	int64_t dedup_profit;               /* bytes saved by merging minus metadata, this VM */
};

/* Statistics of the host. */
struct vmem_host_stats {
	uint64_t frames;                    /* capacity in 4 KiB frames */
	uint64_t frames_free;
	uint64_t frames_private;            /* backing resident pages */
	uint64_t frames_shared;             /* backing shared pages */
	uint64_t frames_zswap;              /* holding the compressed tier */
	uint64_t zswap_bytes;               /* compressed bytes stored */
	uint64_t swap_slots_used, swap_slots;
	uint64_t swap_reads, swap_writes;   /* page I/Os of the swap device */
	uint64_t reclaim_direct, reclaim_daemon;  /* reclaim passes */
	uint64_t cycles_daemon;             /* host CPU cycles of the swap daemon's work */
	uint64_t cow_breaks;
	uint64_t now;                       /* simulated cycles */
	uint64_t device_busy_until;         /* swap device queue, in cycles */
	size_t metadata_bytes;              /* the manager's own memory */
};

int vmem_host_vm_stats(const struct vmem_host *h, uint16_t vm, struct vmem_host_vm_stats *out);
void vmem_host_stats(const struct vmem_host *h, struct vmem_host_stats *out);

/* The dedup policy's counters (KSM's names): NULL-terminated names, and one by name
 * (VMEM_ENOENT without a dedup policy or such a counter). */
const char *const *vmem_host_dedup_stat_names(struct vmem_host *h);
int vmem_host_dedup_stat(struct vmem_host *h, const char *name, double *value);

/* The VMs, in creation order: *n of them. */
const uint16_t *vmem_host_vms(const struct vmem_host *h, size_t *n);

/* The state of one guest page. */
enum vmem_page_state vmem_host_page_state(const struct vmem_host *h, uint16_t vm, uint64_t gfn);

/*
 * A page's story, for coursework: every state change of watched pages, with its simulated
 * time, its cause (which guest access, which policy, which watermark) and its cost.
 * vmem_host_watch adds a page (at most VMEM_HOST_WATCH_MAX); vmem_host_watch_reclaim
 * watches the victims of the pass-th reclaim pass (1 = the first) from that pass on;
 * vmem_host_watch_balloon the first `pages` pages balloons take, from then on.
 * At most VMEM_HOST_EVENTS_MAX events are kept; vmem_host_events says how many more were
 * dropped.
 */
#define VMEM_HOST_WATCH_MAX 64
#define VMEM_HOST_EVENTS_MAX 100000

struct vmem_host_event {
	uint64_t time;               /* simulated cycles */
	uint16_t vm;
	uint64_t gfn;
	enum vmem_page_state from, to;
	uint64_t cycles;             /* what the change cost: the guest's wait, or the
	                              * host's work for a reclaim */
	char cause[200];
};

int vmem_host_watch(struct vmem_host *h, uint16_t vm, uint64_t gfn);
int vmem_host_watch_reclaim(struct vmem_host *h, uint64_t pass);
int vmem_host_watch_balloon(struct vmem_host *h, uint64_t pages);
const struct vmem_host_event *vmem_host_events(const struct vmem_host *h, size_t *n,
					       uint64_t *dropped);

/*
 * A backing outside the simulator: the manager's books kept for memory that something
 * else maps (vmem/ram_manager.h binds a host to the real RAM of a guest).
 *
 * vmem_host_set_observer: fn sees every page state change as it happens (vm, gfn, the
 * old state, the new one), called inside the vmem_host_* call that makes the change, on
 * the caller's thread, after the page's books are updated; it must not call back into
 * the host. NULL removes it. Unset, it costs one predictable branch per state change.
 *
 * vmem_host_set_young_source: the accessed bits the swap policies sample
 * (vmem_host_frame_young) come from fn instead of an attached machine: fn returns
 * whether page (vm, gfn) was accessed since its bit was last cleared, and clears it if
 * clear is true; it is called inside the swap policy's pick, on the caller's thread, and
 * must not call back into the host either. NULL removes it.
 *
 * vmem_host_set_sample_source: the balloon controller's active-fraction sample (ESX's
 * statistical sampling, Waldspurger, OSDI 2002, 5.3) without an attached machine: after
 * it clears the young bit of a page it picks, it calls fn(ctx, vm, gfn), so that a
 * backing whose young bits see only writes can make the page's next access of any kind
 * visible, as ESX invalidates the mappings of its sampled pages (vmem/ram_manager.h takes
 * the page away through the pager; its next touch faults and sets the bit). Called inside
 * vmem_host_advance, on the caller's thread; it must not call back into the host. NULL
 * (the default) removes it.
 *
 * vmem_host_access: an access to (vm, gfn) seen from outside, given to the swap policy's
 * on_access (lru) when the page is resident; nothing otherwise. VMEM_ENOENT for an
 * unknown page.
 *
 * Concurrency: as every vmem_host_* call, one thread at a time per host.
 */
typedef void (*vmem_host_observer_fn)(void *ctx, uint16_t vm, uint64_t gfn,
				      enum vmem_page_state from, enum vmem_page_state to);
typedef bool (*vmem_host_young_fn)(void *ctx, uint16_t vm, uint64_t gfn, bool clear);
typedef void (*vmem_host_sample_fn)(void *ctx, uint16_t vm, uint64_t gfn);
void vmem_host_set_observer(struct vmem_host *h, vmem_host_observer_fn fn, void *ctx);
void vmem_host_set_young_source(struct vmem_host *h, vmem_host_young_fn fn, void *ctx);
void vmem_host_set_sample_source(struct vmem_host *h, vmem_host_sample_fn fn, void *ctx);
int vmem_host_access(struct vmem_host *h, uint16_t vm, uint64_t gfn, bool write);

/*
 * A balloon outside the simulator: the controller (host.balloon=POLICY) of a host with no
 * attached machine drives it through these operations (vmem/ram_manager.h implements them
 * for the balloon driver of a real guest). The controller runs as with a machine: every
 * balloon_period_ms it samples the young source for the active fraction, builds the
 * target policy's view and asks the policy; then, where the modelled guest would be
 * inflated or deflated at once, it hands each VM's target to set_target, and the guest
 * moves its balloon at its own pace, each page told to the books through
 * vmem_host_balloon_take (it entered the balloon: its frame, slot or tier bytes are
 * freed, state ballooned) and vmem_host_balloon_give (it left: untouched, the next touch
 * gets a zero page). vmem_host_page_dropped: the page's backing was dropped outside the
 * balloon (free page reporting): untouched, counted as reported.
 *
 * The operations are called inside vmem_host_advance on its thread and must not call back
 * into the host:
 *   size         pages the VM's balloon holds now;
 *   guest_free   guest pages free now as the guest last reported (0: unknown);
 *   set_target   the pages the VM's balloon should hold (at most the VM's pages).
 * NULL ops removes the backend. Ignored while a machine is attached (its guest OS model
 * is the balloon then). VMEM_ENOENT for an unknown page; vmem_host_balloon_give of a page
 * not ballooned changes nothing (a touch deflated it already).
 */
struct vmem_host_balloon_backend {
	uint64_t (*size)(void *ctx, uint16_t vm);
	uint64_t (*guest_free)(void *ctx, uint16_t vm);
	void (*set_target)(void *ctx, uint16_t vm, uint64_t pages);
};
void vmem_host_set_balloon_backend(struct vmem_host *h,
				   const struct vmem_host_balloon_backend *ops, void *ctx);
int vmem_host_balloon_take(struct vmem_host *h, uint16_t vm, uint64_t gfn);
int vmem_host_balloon_give(struct vmem_host *h, uint16_t vm, uint64_t gfn);
int vmem_host_page_dropped(struct vmem_host *h, uint16_t vm, uint64_t gfn);

/*
 * Checks every invariant: frames in use + free = capacity; each page in exactly one state
 * with the per-state counts matching; shared frames' reference counts equal the pages
 * mapping them; swap slots in use equal swapped pages. Returns 0 or VMEM_EINVAL with the
 * first violation in err.
 */
int vmem_host_check(const struct vmem_host *h, char *err, size_t errlen);

/*
 * Demand phases of a scenario (a file of "TIME_MS VM RATE" lines): from TIME_MS of
 * simulated time on, VM runs RATE times its share of records per turn (0: it idles;
 * default 1). Errors name FILE:LINE. The caller frees with vmem_host_phases_free.
 */
struct vmem_host_phases;
int vmem_host_phases_load(const char *path, struct vmem_host_phases **out, char *err,
			  size_t errlen);
double vmem_host_phases_rate(const struct vmem_host_phases *ph, uint16_t vm, uint64_t now_ms);
/* The first phase change after now_ms, or UINT64_MAX. */
uint64_t vmem_host_phases_next(const struct vmem_host_phases *ph, uint64_t now_ms);
void vmem_host_phases_free(struct vmem_host_phases *ph);

#ifdef __cplusplus
}
#endif

#endif
