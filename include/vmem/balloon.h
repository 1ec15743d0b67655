/*
 * Ballooning on a host memory manager (vmem/host.h): what each VM's balloon holds, what
 * the controller estimates, and the virtio-balloon statistics report of each guest.
 *
 * The controller (host.balloon=POLICY, balloon.* keys) runs every balloon.period_ms of
 * simulated time: it estimates each VM's active fraction by sampling, asks the target
 * policy how many pages each balloon should hold (vmem/host_policy.h), and inflates or
 * deflates each balloon toward its target by at most balloon.rate pages, through the
 * guest OS model of an attached machine (vmem_mmu_balloon_inflate / _deflate): the guest
 * gives up free pages first and swaps its own pages when it has none free. docs/POLICIES.md
 * ("Ballooning") describes the mechanisms and the policies.
 */
#ifndef VMEM_BALLOON_H
#define VMEM_BALLOON_H

#include "vmem/host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One virtio-balloon statistic: its tag name and value. */
struct vmem_balloon_stat {
	const char *name;
	uint64_t value;
};

#define VMEM_BALLOON_STAT_TAGS 16

/*
 * The statistics report of VM vm's guest, with every tag of virtio-balloon
 * (include/uapi/linux/virtio_balloon.h), in its order and with its units:
 *   swap_in, swap_out        bytes the guest swapped in / out (its own swap device)
 *   major_faults             guest faults that read a page from guest swap
 *   minor_faults             the other guest page faults
 *   free_memory              bytes of guest-physical memory free
 *   total_memory             guest memory less the balloon, bytes
 *   available_memory         as free_memory (the model has no page cache)
 *   disk_caches              0: the model has no page cache
 *   hugetlb_allocations, hugetlb_failures   0: no hugetlbfs in the model
 *   oom_kill                 0: a guest out of memory stops the replay with an error
 *   alloc_stall              guest allocations (faults, balloon inflations) that had to
 *                            reclaim first
 *   async_scan, async_reclaim   0: the guest model has no kswapd; all its reclaim is direct
 *   direct_scan              pages the guest's CLOCK looked at
 *   direct_reclaim           pages it reclaimed
 * Writes min(n, VMEM_BALLOON_STAT_TAGS) entries; returns how many, or VMEM_ENOENT for an
 * unknown VM. Without an attached machine only the swap counts are known.
 */
int vmem_host_balloon_stats(const struct vmem_host *h, uint16_t vm,
			    struct vmem_balloon_stat *out, size_t n);

/* What the balloon controller knows of one VM. */
struct vmem_host_balloon_info {
	uint64_t size;               /* pages the guest's balloon holds */
	uint64_t target;             /* the policy's last target */
	uint64_t inflated;           /* pages the balloon took from the guest */
	uint64_t deflated;           /* pages returned (deflate, touch, deflate-on-OOM) */
	uint64_t deflated_oom;       /* ... of them by deflate-on-OOM */
	uint64_t guest_swapped;      /* pages the guest swapped out to fill the balloon */
	uint64_t reported;           /* free pages reported and dropped by the host */
	double active;               /* estimated active fraction (1 before a sample) */
	uint64_t sampled, touched;   /* the last finished sample: pages, pages touched */
};
int vmem_host_balloon_info(const struct vmem_host *h, uint16_t vm,
			   struct vmem_host_balloon_info *out);

#ifdef __cplusplus
}
#endif

#endif
