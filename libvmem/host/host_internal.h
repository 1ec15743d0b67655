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
 * touched cost no resident memory) and 8 bytes per host frame in use.
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

/* Frame table entries: a private frame's owner, or a shared frame's reference count. */
#define FRAME_FREE    UINT64_MAX
#define FRAME_SHARED  (1ull << 63)
#define FRAME_ZSWAP   (1ull << 62)   /* holds the compressed tier */
#define ZERO_FRAME    UINT32_MAX     /* the host's zero page, outside the capacity */

static inline uint64_t frame_owner(uint16_t vm, uint64_t gfn)
{
	return (uint64_t)vm << 40 | gfn;
}

struct hvm {
	uint16_t id;
	uint32_t shares;
	uint64_t npages;
	struct gpage *pages;
	struct vmem_host_vm_stats st;
	uint64_t refaults_mark, stall_mark;   /* balloon policy deltas */
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
	/* Frames: entries for frames below `fresh` (never-used frames lie above it), and a
	 * stack of frames freed since. */
	uint64_t *frames;
	uint64_t *shared_hash;       /* content of each shared frame (calloc, touched only
	                              * where frames are shared) */
	uint64_t nframes, fresh, nfree;
	uint32_t *free_stack;
	uint64_t free_top, free_cap;
	uint64_t wmark_min, wmark_low, wmark_high;   /* in frames */
	/* The compressed tier (swap_tier.c). */
	uint64_t zswap_bytes, zswap_frames, zswap_max_frames;
	uint32_t *zswap_list;        /* its frames */
	uint64_t zswap_cap;
	/* The swap device: slot bitmap, next-fit cursor, queue. */
	uint64_t *slot_map;
	uint64_t nslots, slots_used, slot_cursor;
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
/* Reclaims until `target` frames are free or nothing more can go; returns frames freed. */
uint64_t host_reclaim(struct vmem_host *h, uint64_t target);
/* The swap daemon's turn: reclaims to the high watermark when free is below low. */
void host_reclaim_daemon(struct vmem_host *h);

/* policy.c */
int policy_parse(const char *spec, char *name, size_t namelen, char *buf, size_t buflen,
		 struct vmem_policy_params *pp, char *err, size_t errlen);

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
