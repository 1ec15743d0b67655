/*
 * Huge pages against overcommit. With host.page=2m the manager backs guest memory as
 * Linux's transparent huge pages back a VMM's guest RAM: a first touch in an aligned
 * 2 MiB region nobody has touched takes 512 contiguous frames and the machine maps them
 * with one 2 MiB host-table entry, so 2D walks end a level earlier and one TLB entry
 * covers the region. Anything that needs one 4 KiB page of it on its own (a swap-out, a
 * dedup merge, a balloon page) splits the region first: the 2 MiB entry goes, its pages
 * stay where they are, and the machine maps them back 4 KiB at a time as the guest
 * touches them (KVM zaps the huge entry and faults small ones back the same way). A
 * khugepaged-like collapse later moves a split region whose 512 pages are all private
 * and resident again into a fresh 2 MiB block (thp.collapse_pages pages scanned every
 * thp.collapse_ms), copying them.
 *
 * Both sides are counted per VM: the huge first touches, the splits and their cause,
 * the collapses; the bytes saved are in the page states and the walk references and
 * translation cycles in the machine's figures (vmem-host reports both per VM).
 *
 * 2 MiB blocks come only from memory never used since the host started (the model has no
 * compaction): on a host that has been through reclaim, huge pages run out, as they do on
 * a fragmented real one.
 */
#include "host_internal.h"

static bool region_untouched(const struct hvm *v, uint64_t region)
{
	const struct gpage *pg = &v->pages[region * 512];

	if (region * 512 + 512 > v->npages)
		return false;
	for (unsigned i = 0; i < 512; i++)
		if (pg[i].state != VMEM_PG_UNTOUCHED)
			return false;
	return true;
}

/* An aligned block of 512 never-used frames, free memory staying above the min
 * watermark; the frames skipped to align it go to the free list. */
static bool block_alloc(struct vmem_host *h, uint64_t *base)
{
	uint64_t start = (h->fresh + 511) & ~511ull;

	if (start + 512 > h->nframes || h->nfree < 512 + h->wmark_min + (start - h->fresh))
		return false;
	while (h->fresh < start) {
		host_frame_free(h, h->fresh++);
		h->nfree--;   /* host_frame_free counted it; it was free already */
	}
	h->fresh += 512;
	h->nfree -= 512;
	*base = start;
	return true;
}

bool thp_first_touch(struct vmem_host *h, struct hvm *v, uint64_t gfn, uint64_t *base)
{
	uint64_t region = gfn / 512;

	if (!h->thp || v->regions[region] != THP_NONE || !region_untouched(v, region) ||
	    !block_alloc(h, base))
		return false;
	v->regions[region] = THP_HUGE;
	v->st.thp_huge++;
	v->st.thp_faults++;
	return true;
}

void thp_split(struct vmem_host *h, struct hvm *v, uint64_t gfn, enum thp_cause cause)
{
	uint64_t region = gfn / 512;

	if (!h->thp || v->regions[region] != THP_HUGE)
		return;
	v->regions[region] = THP_SPLIT;
	v->st.thp_huge--;
	v->st.thp_splits++;
	v->st.thp_split_by[cause]++;
	if (h->mmu)
		vmem_mmu_host_invalidate(h->mmu, v->id, region * 512);
}

/* Moves split region `region` of v into a fresh block if its pages are all private and
 * resident. */
static bool collapse(struct vmem_host *h, struct hvm *v, uint64_t region)
{
	struct gpage *pg = &v->pages[region * 512];
	uint64_t base;

	for (unsigned i = 0; i < 512; i++)
		if (pg[i].state != VMEM_PG_RESIDENT)
			return false;
	if (!block_alloc(h, &base))
		return false;
	host_why(h, "collapsed into a 2 MiB host page (copied to frame %llu)",
		 (unsigned long long)(base + pg - v->pages - region * 512));
	for (unsigned i = 0; i < 512; i++) {
		uint64_t gfn = region * 512 + i;

		if (h->mmu)
			vmem_mmu_host_invalidate(h->mmu, v->id, gfn);
		host_page_move(h, v, gfn, base + i);
	}
	v->regions[region] = THP_HUGE;
	v->st.thp_huge++;
	v->st.thp_collapses++;
	h->work_cycles += h->cfg.thp_collapse_cost;
	return true;
}

void thp_collapse_run(struct vmem_host *h)
{
	uint64_t period = h->cfg.thp_collapse_ms * (h->cfg.cpu_hz / 1000);
	uint64_t budget = h->cfg.thp_collapse_pages;

	if (!h->thp || !period || !budget || h->now < h->thp_next)
		return;
	h->thp_next = h->now + period;
	/* A cursor over every VM's regions, as khugepaged walks the mm list. */
	while (budget >= 512 && h->nvms) {
		struct hvm *v = h->vm_by_id[h->vm_ids[h->thp_vm % h->nvms]];
		uint64_t nregions = v->npages / 512;

		if (h->thp_region >= nregions) {
			h->thp_region = 0;
			h->thp_vm++;
			if (h->thp_vm % h->nvms == 0)
				break;   /* one full pass per period at most */
			continue;
		}
		if (v->regions[h->thp_region] == THP_SPLIT)
			collapse(h, v, h->thp_region);
		h->thp_region++;
		budget -= 512;
	}
}
