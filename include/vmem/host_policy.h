/*
 * Policies of the host memory manager, and the narrow view of the manager they get.
 *
 * A policy kind is an ops table registered by name and chosen by configuration with its
 * parameters: host.swap=clock, host.dedup=ksm:pages_to_scan=100, host.balloon=
 * share-idle-tax:tax=0.75. A policy sees the manager only through the vmem_host_* calls
 * below, which exist for simulated frames and for real guest RAM alike, so one policy
 * object serves both. docs/POLICIES.md shows how to add one in one file.
 *
 * Callbacks run on the manager's thread, never concurrently with each other.
 */
#ifndef VMEM_HOST_POLICY_H
#define VMEM_HOST_POLICY_H

#include "vmem/host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A policy's parameters: "key=value" pairs split from its spec. */
struct vmem_policy_params {
	unsigned n;
	const char *key[16];
	const char *value[16];
};

/* The value of key, or NULL. */
const char *vmem_policy_param(const struct vmem_policy_params *pp, const char *key);

/* VMEM_EINVAL with a message naming the policy and the key if pp has a key not in known
 * (NULL-terminated). */
int vmem_policy_params_check(const struct vmem_policy_params *pp, const char *policy,
			     const char *const *known, char *err, size_t errlen);

/* Key as a number (counts take k/m/g suffixes) or a real, def when absent; VMEM_EINVAL
 * with a message if it does not parse or lies outside [min, max]. */
int vmem_policy_param_u64(const struct vmem_policy_params *pp, const char *policy,
			  const char *key, uint64_t def, uint64_t min, uint64_t max,
			  uint64_t *out, char *err, size_t errlen);
int vmem_policy_param_double(const struct vmem_policy_params *pp, const char *policy,
			     const char *key, double def, double min, double max, double *out,
			     char *err, size_t errlen);

/* One instance of a policy on one host. */
struct vmem_policy {
	struct vmem_host *host;
	void *priv;                  /* the policy's own state */
};

/*
 * Hypervisor swapping: which private resident page to evict. A frame is a candidate from
 * on_map until on_unmap (both may be NULL for a policy that keeps no list); pick must
 * return candidates only (the manager then evicts them and calls on_unmap for each).
 */
struct vmem_swap_policy_ops {
	const char *name;
	const char *help;            /* one line: what it does and its parameters */
	int (*init)(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		    size_t errlen);
	void (*on_map)(struct vmem_policy *p, uint64_t frame);
	void (*on_unmap)(struct vmem_policy *p, uint64_t frame);
	/* Every access the machine translates to frame, or NULL if not wanted (it costs
	 * a call per access; policies that sample accessed bits do not need it). */
	void (*on_access)(struct vmem_policy *p, uint64_t frame, bool write);
	/* Up to n victims into out; returns how many. */
	size_t (*pick)(struct vmem_policy *p, uint64_t *out, size_t n);
	void (*fini)(struct vmem_policy *p);
};

/*
 * Same-page deduplication: a scanner that runs as simulated time passes and merges pages
 * of equal content through vmem_host_merge / vmem_host_merge_zero.
 */
struct vmem_dedup_ops {
	const char *name;
	const char *help;
	int (*init)(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		    size_t errlen);
	/* Time passed to `now` (cycles): do the scanning that falls due. */
	void (*run)(struct vmem_policy *p, uint64_t now);
	/* Page (vm, gfn) stopped mapping shared frame `frame` (a write broke the sharing,
	 * the page was freed, ballooned or reclaimed). */
	void (*on_unshare)(struct vmem_policy *p, uint16_t vm, uint64_t gfn, uint64_t frame);
	/* Counter `name` (KSM's names: pages_shared, pages_sharing, ...); VMEM_ENOENT if the
	 * policy has no such counter. names() lists them, NULL-terminated. */
	int (*stat)(struct vmem_policy *p, const char *name, double *value);
	const char *const *(*names)(struct vmem_policy *p);
	void (*fini)(struct vmem_policy *p);
};

/* What a balloon target policy sees of one VM. */
struct vmem_balloon_vm {
	uint16_t vm;
	uint32_t shares;
	uint64_t pages;              /* configured */
	uint64_t resident;           /* host frames it uses (resident + its share of shared) */
	uint64_t balloon;            /* pages its balloon holds now */
	uint64_t guest_free;         /* pages its guest OS has free */
	double active;               /* estimated fraction of its pages in active use, 0..1 */
	uint64_t refaults;           /* faults on reclaimed pages since the last decision */
	uint64_t stall_cycles;       /* cycles stalled on the host since the last decision */
};

/*
 * Ballooning: every period, how many pages each VM's balloon should hold. The manager
 * inflates and deflates toward the targets (free guest pages first, then guest reclaim).
 */
struct vmem_balloon_policy_ops {
	const char *name;
	const char *help;
	int (*init)(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		    size_t errlen);
	/* free_target: host frames the manager wants free; target[i] for vms[i]. */
	void (*targets)(struct vmem_policy *p, const struct vmem_balloon_vm *vms, size_t n,
			uint64_t host_frames, uint64_t free_target, uint64_t *target);
	void (*fini)(struct vmem_policy *p);
};

/* Registry: built-in policies are registered at start; a program may add its own before
 * creating a host. VMEM_EEXIST if the name is taken. */
int vmem_swap_policy_register(const struct vmem_swap_policy_ops *ops);
int vmem_dedup_register(const struct vmem_dedup_ops *ops);
int vmem_balloon_policy_register(const struct vmem_balloon_policy_ops *ops);
const struct vmem_swap_policy_ops *vmem_swap_policy_find(const char *name);
const struct vmem_dedup_ops *vmem_dedup_find(const char *name);
const struct vmem_balloon_policy_ops *vmem_balloon_policy_find(const char *name);
/* The registered ones, NULL-terminated (for --help). */
const struct vmem_swap_policy_ops *const *vmem_swap_policies(void);
const struct vmem_dedup_ops *const *vmem_dedups(void);
const struct vmem_balloon_policy_ops *const *vmem_balloon_policies(void);

/* ---- The manager as policies see it ---- */

/* Host frames (capacity). */
uint64_t vmem_host_frames(const struct vmem_host *h);

/* The guest page a private frame backs; VMEM_ENOENT if the frame is free or shared. */
int vmem_host_frame_owner(const struct vmem_host *h, uint64_t frame, uint16_t *vm,
			  uint64_t *gfn);

/* The frame's accessed bit (set when a walk translated through it, as the hardware sets
 * the host table's A bit); clear = true clears it, as the kernel's page_referenced does. */
bool vmem_host_frame_young(struct vmem_host *h, uint64_t frame, bool clear);

/* A seeded random number, the same sequence for the same host.seed. */
uint64_t vmem_host_random(struct vmem_host *h);

/* Simulated cycles per millisecond (host.cpu_hz / 1000): converts vmem_host_now() to
 * time for policies with time parameters. */
uint64_t vmem_host_cycles_per_ms(const struct vmem_host *h);

/* Configured pages of vm. */
uint64_t vmem_host_vm_pages(const struct vmem_host *h, uint16_t vm);

/* One guest page as a dedup scanner sees it. */
struct vmem_host_page {
	enum vmem_page_state state;
	uint64_t frame;              /* resident or shared: its host frame */
	uint64_t hash;               /* content hash (valid when resident or shared) */
	bool zero;                   /* content is all zeros */
	uint32_t refs;               /* shared: pages mapping the frame */
};
int vmem_host_page(struct vmem_host *h, uint16_t vm, uint64_t gfn,
		   struct vmem_host_page *out);

/*
 * Merges resident page (vm, gfn) into `frame`, which holds the same content (the manager
 * compares the contents in full and returns VMEM_EINVAL if they differ): (vm, gfn) then
 * maps frame read-only and its own frame is freed. `frame` is a resident page's frame (it
 * becomes shared, write-protected) or already shared.
 */
int vmem_host_merge(struct vmem_host *h, uint16_t vm, uint64_t gfn, uint64_t frame);

/* Maps resident zero-content page (vm, gfn) onto the host's zero page (KSM's
 * use_zero_pages) and frees its frame. */
int vmem_host_merge_zero(struct vmem_host *h, uint16_t vm, uint64_t gfn);


/* Sets vm's dedup_profit (struct vmem_host_vm_stats): bytes its merged pages save, net of
 * the dedup policy's metadata for its pages. No effect on an unknown vm. */
void vmem_host_set_dedup_profit(struct vmem_host *h, uint16_t vm, int64_t bytes);

#ifdef __cplusplus
}
#endif

#endif
