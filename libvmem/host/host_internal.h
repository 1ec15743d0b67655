/*
 * State of the host memory manager, shared by its parts:
 *   host.c         VMs, page states, frames, faults, merges, invariants, statistics
 *   host_config.c  configuration keys
 *   content.c      the content model of pages whose traces carry no contents
 *   swap_tier.c    the compressed tier and the swap device
 *   reclaim.c      watermarks, reclaim and the swap daemon
 *   policy.c       the policy registry and parameter parsing
 *   balloon.c      the balloon controller (balloon-driver/ has its target policies)
 *
 * Memory: 16 bytes per configured guest page (allocated with calloc, so pages never
 * touched cost no resident memory) and 8 bytes per host frame ever used; a swap policy
 * may add its own (random adds none).
 */
#ifndef VMEM_HOST_INTERNAL_H
#define VMEM_HOST_INTERNAL_H

#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "vmem/mmu.h"

/* gpage.flags */
enum {
	PG_CONTENT_SET = 1u << 0,    /* the hash came from a content record */
	PG_ZERO = 1u << 1,           /* the content is all zeros */
	PG_GUEST_FREE = 1u << 2,     /* the guest's allocator holds it free */
	PG_SWAPIN_CLEAN = 1u << 3,   /* swapped in and not written since (stale-read test) */
	PG_WRITABLE = 1u << 4,       /* resident: the machine may map it writable */
};

/* One guest page: 16 bytes. */
struct gpage {
	uint64_t hash;               /* content hash */
	uint32_t loc;                /* resident, shared: frame; swapped: slot;
	                              * compressed: compressed bytes */
	uint8_t state;               /* enum vmem_page_state */
	uint8_t flags;
	uint8_t cls;                 /* compressibility class 0..15 */
	uint8_t pad;
};

/*
 * Frame table entries, 8 bytes a frame, by their two top bits:
 *   00  a private frame: its owner, vm << 40 | gfn
 *   10  a shared frame: its reference count
 *   01  a frame of the compressed tier
 *   11  a free frame: the next free frame + 1 in the free list (0 ends it)
 */
#define FRAME_SHARED  (1ull << 63)
#define FRAME_ZSWAP   (1ull << 62)
#define FRAME_FREE    (3ull << 62)
#define ZERO_FRAME    UINT32_MAX     /* the host's zero page, outside the capacity */

static inline bool frame_is_free(uint64_t e)
{
	return (e & FRAME_FREE) == FRAME_FREE;
}

static inline bool frame_is_private(uint64_t e)
{
	return (e & FRAME_FREE) == 0;
}

static inline bool frame_is_shared(uint64_t e)
{
	return (e & FRAME_FREE) == FRAME_SHARED;
}

static inline uint64_t frame_owner(uint16_t vm, uint64_t gfn)
{
	return (uint64_t)vm << 40 | gfn;
}

/* A VM's aligned 2 MiB regions under huge pages (thp.c). */
enum thp_region { THP_NONE = 0, THP_HUGE = 1, THP_SPLIT = 2 };
enum thp_cause { THP_BY_RECLAIM, THP_BY_DEDUP, THP_BY_BALLOON, THP_BY_OTHER };

struct hvm {
	struct vmem_host *host;
	uint8_t *regions;            /* enum thp_region of each 2 MiB region */
	uint16_t id;
	uint32_t shares;
	uint64_t npages;
	struct gpage *pages;
	struct vmem_host_vm_stats st;
	uint64_t refaults_mark, stall_mark;   /* balloon policy deltas */
	uint64_t last_swapin_gfn, last_swapin_slot;   /* decayed sequentiality */
};

struct policy_slot {
	struct vmem_policy p;
	bool live;
};

struct vmem_host {
	struct vmem_host_config cfg;
	struct vmem_mmu *mmu;        /* attached machine, or NULL */
	struct hvm **vm_by_id;       /* 65536 entries, created on first use */
	uint16_t *vm_ids;            /* in creation order */
	size_t nvms;
	/* Frames: entries for frames below `fresh` (never-used frames lie above it); those
	 * freed since form a list through their entries, most recently freed first. */
	uint64_t *frames;
	uint64_t *shared_hash;       /* content of each shared frame (calloc, touched only
	                              * where frames are shared) */
	uint64_t nframes, fresh, nfree;
	uint64_t free_head;          /* first frame of the free list + 1, 0: empty */
	uint64_t wmark_min, wmark_low, wmark_high;   /* in frames */
	/* The compressed tier (swap_tier.c). */
	uint64_t zswap_bytes, zswap_frames, zswap_max_frames;
	uint32_t *zswap_list;        /* its frames */
	uint64_t zswap_cap;
	/* The swap device: slot bitmap, next-fit cursor, queue. */
	uint64_t *slot_map;
	uint64_t nslots, slots_used, slot_cursor;
	uint64_t slot_hwm;           /* slots ever used: the part of the map in memory */
	uint64_t device_busy;        /* cycle the device finishes what it was given */
	uint64_t now;
	uint64_t rng;
	uint64_t content_seq;        /* writes seen: each gives a fresh unique content */
	uint64_t work_cycles;        /* reclaim work since the fault that started it */
	bool in_reclaim;
	const struct vmem_swap_policy_ops *swap_ops;
	const struct vmem_dedup_ops *dedup_ops;
	const struct vmem_balloon_policy_ops *balloon_ops;
	struct policy_slot swap, dedup, balloon;
	struct vmem_host_stats st;
	uint64_t balloon_next;       /* next balloon period, cycles */
	struct balloon_ctl *bal;     /* the balloon controller's state (balloon.c) */
	bool thp;                    /* the machine maps 2 MiB host pages (thp.c) */
	uint64_t thp_next, thp_vm, thp_region;   /* collapse: next run, cursor */
	/* Stories of watched pages (story.c). */
	uint64_t watch[VMEM_HOST_WATCH_MAX];   /* frame_owner(vm, gfn) of each */
	unsigned nwatch;
	uint64_t watch_reclaim;      /* the reclaim pass whose victims join, 0: none */
	uint64_t watch_balloon;      /* balloon pages still to join as they are taken */
	uint64_t reclaim_passes;
	bool watch_pass;             /* that pass is running */
	struct vmem_host_event *events;
	size_t nevents;
	uint64_t events_dropped;
	/* Hooks for a backing outside the simulator (vmem_host_set_observer,
	 * vmem_host_set_young_source): NULL unless set. */
	vmem_host_observer_fn observer;
	void *observer_ctx;
	vmem_host_young_fn young;
	void *young_ctx;
	vmem_host_sample_fn sample;  /* the balloon controller's sampled pages (a backing) */
	void *sample_ctx;
	const struct vmem_host_balloon_backend *balloon_be;   /* vmem_host_set_balloon_backend */
	void *balloon_be_ctx;
	char why[160];               /* the cause of the changes being made now */
	char err[256];
};

int host_errorf(struct vmem_host *h, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* host.c */
struct hvm *host_vm(struct vmem_host *h, uint16_t vm, int *err);
static inline struct hvm *host_vm_find(const struct vmem_host *h, uint16_t vm)
{
	return h->vm_by_id[vm];
}
/* Takes a frame, reclaiming first if free memory is below the min watermark. */
int host_frame_alloc(struct vmem_host *h, uint64_t *frame);
void host_frame_free(struct vmem_host *h, uint64_t frame);
/* Moves page (vm, gfn) to `to`: releases what its old state held (frame, slot, tier
 * bytes) and the machine's mapping of it. The caller sets up the new state's holdings. */
void host_page_leave(struct vmem_host *h, struct hvm *v, uint64_t gfn);
void host_page_set_state(struct hvm *v, struct gpage *pg, enum vmem_page_state s);
/* Moves resident private page gfn to frame `to` (taken already), freeing its frame. */
void host_page_move(struct vmem_host *h, struct hvm *v, uint64_t gfn, uint64_t to);
/* Evicts resident private page (vm, gfn): to the compressed tier or the swap device. */
int host_evict(struct vmem_host *h, struct hvm *v, uint64_t gfn);
/* The balloon takes page gfn (its frame goes back to the host) or gives it back. */
void host_balloon_take(struct vmem_host *h, struct hvm *v, uint64_t gfn);
void host_balloon_give(struct vmem_host *h, struct hvm *v, uint64_t gfn);

/* content.c: the content a page gets on first touch, and after a write the host saw. */
void content_first_touch(struct vmem_host *h, struct hvm *v, uint64_t gfn, struct gpage *pg);
void content_written(struct vmem_host *h, struct hvm *v, uint64_t gfn, struct gpage *pg);

/* swap_tier.c */
int swap_tier_init(struct vmem_host *h);
void swap_tier_fini(struct vmem_host *h);
/* Stores page content: in the compressed tier if it fits, else on the swap device;
 * adds the CPU work to h->work_cycles. Returns VMEM_ENOSPACE when both are full. */
int swap_tier_store(struct vmem_host *h, struct hvm *v, struct gpage *pg);
/* Brings it back; *cycles the guest waits for it. */
void swap_tier_load(struct vmem_host *h, struct hvm *v, struct gpage *pg, uint64_t *cycles);
/* Drops it without reading it (the page was freed, ballooned or overwritten). */
void swap_tier_drop(struct vmem_host *h, struct gpage *pg);

/* reclaim.c */
/* Reclaims until `target` frames are free or nothing more can go; returns frames freed.
 * trigger says why, for the stories of the victims. */
uint64_t host_reclaim(struct vmem_host *h, uint64_t target, const char *trigger);
/* The swap daemon's turn: reclaims to the high watermark when free is below low. */
void host_reclaim_daemon(struct vmem_host *h);

/* policy.c */
int policy_parse(const char *spec, char *name, size_t namelen, char *buf, size_t buflen,
		 struct vmem_policy_params *pp, char *err, size_t errlen);

/* thp.c: a first touch that takes a 2 MiB block for the region (base: its first frame;
 * the caller makes the 512 pages resident), a split before one page of a huge region
 * changes on its own, and the collapse of split regions as time passes. */
bool thp_first_touch(struct vmem_host *h, struct hvm *v, uint64_t gfn, uint64_t *base);
void thp_split(struct vmem_host *h, struct hvm *v, uint64_t gfn, enum thp_cause cause);
void thp_collapse_run(struct vmem_host *h);

/* story.c: records a watched page's change from `from` to its state now, caused by
 * h->why; story_cost sets the cost of (vm, gfn)'s events recorded since event `since`. */
void story_record(struct vmem_host *h, struct hvm *v, uint64_t gfn, enum vmem_page_state from,
		  enum vmem_page_state to);
void story_cost(struct vmem_host *h, size_t since, uint16_t vm, uint64_t gfn, uint64_t cycles);
void story_fini(struct vmem_host *h);
/* Whether any page is watched, or will be (a reclaim pass to watch is set). */
static inline bool story_on(const struct vmem_host *h)
{
	return h->nwatch || h->watch_reclaim || h->watch_balloon;
}

/* Sets h->why (printf-style) when story_on(h). */
void host_why(struct vmem_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* balloon.c */
/* The balloon controller's turn, when its period is due (from vmem_host_advance). */
void balloon_run(struct vmem_host *h);
void balloon_fini(struct vmem_host *h);
/* The guest freed page gfn (free page reporting reports it later). */
void balloon_guest_freed(struct vmem_host *h, struct hvm *v, uint64_t gfn);
/* The machine's backing callbacks for guest swapping and deflate-on-OOM. */
uint64_t balloon_guest_swap(void *ctx, uint16_t vm, uint64_t gfn, bool in);
void balloon_deflated(void *ctx, uint16_t vm, uint64_t gfn);

#endif
