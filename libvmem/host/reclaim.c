/*
 * Reclaim: when free host memory runs low, the swap policy picks private resident pages
 * and they leave for the compressed tier or the swap device (swap_tier.c).
 *
 * Watermarks as Linux's zone watermarks (Documentation/admin-guide/sysctl/vm.rst,
 * min_free_kbytes and watermark_scale_factor): below low the swap daemon (kswapd) wakes
 * as time passes and reclaims until free memory reaches high; a fault that finds free
 * memory at or below min reclaims itself first (direct reclaim), and the guest waits for
 * that work. Shared and zero pages are not reclaimed here (KSM pages can be swapped in
 * Linux; not modelled).
 */
#include <stdio.h>
#include <string.h>

#include "host_internal.h"

#define PICK_MAX 64

uint64_t host_reclaim(struct vmem_host *h, uint64_t target, const char *trigger)
{
	uint64_t before = h->nfree;
	char why[sizeof(h->why)];

	if (!h->swap_ops || h->in_reclaim)
		return 0;
	h->in_reclaim = true;
	/* The fault that reclaims goes on with its own cause afterwards. */
	memcpy(why, h->why, sizeof(why));
	h->reclaim_passes++;
	h->watch_pass = h->reclaim_passes == h->watch_reclaim;
	host_why(h, "reclaim pass %llu, %s: victim of swap policy %s",
		 (unsigned long long)h->reclaim_passes, trigger, h->swap_ops->name);
	while (h->nfree < target) {
		uint64_t victims[PICK_MAX];
		size_t want = target - h->nfree, got, evicted = 0;

		if (want > PICK_MAX)
			want = PICK_MAX;
		if (want > h->cfg.reclaim_batch)
			want = h->cfg.reclaim_batch;
		got = h->swap_ops->pick(&h->swap.p, victims, want);
		for (size_t i = 0; i < got; i++) {
			uint16_t vm;
			uint64_t gfn;

			if (vmem_host_frame_owner(h, victims[i], &vm, &gfn))
				continue;   /* not a private page: a policy error, skipped */
			if (host_evict(h, h->vm_by_id[vm], gfn) == 0)
				evicted++;
		}
		if (evicted == 0)
			break;   /* nothing to pick, or the swap space is full */
	}
	h->in_reclaim = false;
	h->watch_pass = false;
	memcpy(h->why, why, sizeof(why));
	return h->nfree > before ? h->nfree - before : 0;
}

void host_reclaim_daemon(struct vmem_host *h)
{
	uint64_t work = h->work_cycles;

	if (h->nfree >= h->wmark_low || !h->swap_ops)
		return;
	char trigger[96] = "";

	h->st.reclaim_daemon++;
	if (story_on(h))
		snprintf(trigger, sizeof(trigger), "the swap daemon (free %llu < low %llu)",
			 (unsigned long long)h->nfree, (unsigned long long)h->wmark_low);
	host_reclaim(h, h->wmark_high, trigger);
	h->st.cycles_daemon += h->work_cycles - work;
	h->work_cycles = work;
}
