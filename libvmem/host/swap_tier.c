/*
 * Where evicted pages go: a compressed tier in host memory in front of a swap device, as
 * Linux's zswap sits in front of swap (Documentation/admin-guide/mm/zswap.rst).
 *
 * Compressed tier: a page of compressibility class c takes (c + 1) * 256 bytes; pages of a
 * class above host.zswap.max_class go straight to the device, as zswap rejects pages that
 * compress poorly. The tier takes whole host frames as its bytes need them, packed
 * perfectly (zsmalloc's compaction at its best), up to host.zswap.percent of host memory
 * (zswap's max_pool_percent, 20 by default). When it is full, new pages go to the device
 * (zswap would write its oldest pages back first; not modelled).
 *
 * Swap device: host.swap.size bytes of 4 KiB slots, next-fit. A write is queued and
 * costs the guest nothing directly, but the device is busy for its transfer time
 * (4 KiB at host.swap.mb_s); a read waits for the queue ahead of it, then for the
 * device's latency and its own transfer. So heavy swap-out delays every VM's swap-ins, the
 * interference hypervisor swapping is known for. A slot is freed when its page is read
 * back (no swap cache).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"

static uint64_t us_to_cycles(const struct vmem_host *h, uint64_t us)
{
	return us * h->cfg.cpu_hz / 1000000;
}

static uint64_t transfer_cycles(const struct vmem_host *h)
{
	return 4096 * h->cfg.cpu_hz / ((uint64_t)h->cfg.swap_mb_s * 1000000);
}

int swap_tier_init(struct vmem_host *h)
{
	h->nslots = h->cfg.swap_size >> 12;
	/* zswap.percent of the frames, rounded down once (not per hundred frames). */
	h->zswap_max_frames = h->nframes / 100 * h->cfg.zswap_percent +
			      h->nframes % 100 * h->cfg.zswap_percent / 100;
	if (h->nslots && !(h->slot_map = calloc((h->nslots + 63) / 64, sizeof(uint64_t))))
		return host_errorf(h, VMEM_ENOMEM, "out of memory for %llu swap slots "
				   "(host.swap.size)", (unsigned long long)h->nslots);
	return 0;
}

void swap_tier_fini(struct vmem_host *h)
{
	free(h->slot_map);
	free(h->zswap_list);
}

static unsigned class_bytes(unsigned cls)
{
	return (cls + 1) * 256;
}

/* Grows or shrinks the tier's frames to hold its bytes. False if it cannot grow. */
static bool zswap_fit(struct vmem_host *h)
{
	while (h->zswap_bytes > h->zswap_frames * 4096) {
		uint64_t f;

		if (h->zswap_frames >= h->zswap_max_frames)
			return false;
		if (h->zswap_frames == h->zswap_cap) {
			uint64_t cap = h->zswap_cap ? h->zswap_cap * 2 : 256;
			uint32_t *l = realloc(h->zswap_list, cap * sizeof(*l));

			if (!l)
				return false;
			h->zswap_list = l;
			h->zswap_cap = cap;
		}
		if (host_frame_alloc(h, &f))
			return false;
		h->frames[f] = FRAME_ZSWAP;
		h->zswap_list[h->zswap_frames++] = (uint32_t)f;
	}
	/* Under perfect packing the tier's frames are interchangeable: give back the last. */
	while (h->zswap_frames > 0 && h->zswap_bytes <= (h->zswap_frames - 1) * 4096)
		host_frame_free(h, h->zswap_list[--h->zswap_frames]);
	return true;
}

static bool slot_take(struct vmem_host *h, uint64_t *slot)
{
	if (h->slots_used >= h->nslots)
		return false;
	for (uint64_t n = 0; n < h->nslots; n++) {
		uint64_t s = (h->slot_cursor + n) % h->nslots;

		if (!(h->slot_map[s / 64] & 1ull << (s % 64))) {
			h->slot_map[s / 64] |= 1ull << (s % 64);
			h->slots_used++;
			h->slot_cursor = s + 1;
			if (s + 1 > h->slot_hwm)
				h->slot_hwm = s + 1;
			*slot = s;
			return true;
		}
	}
	return false;
}

static void slot_put(struct vmem_host *h, uint64_t slot)
{
	h->slot_map[slot / 64] &= ~(1ull << (slot % 64));
	h->slots_used--;
}

/* Adds where the page went to the cause of its eviction, for its story; returns the
 * length before, for why_cut to take it off again (the next victim may go elsewhere). */
static size_t why_append(struct vmem_host *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static size_t why_append(struct vmem_host *h, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	if (!story_on(h))
		return 0;
	len = strlen(h->why);
	va_start(ap, fmt);
	vsnprintf(h->why + len, sizeof(h->why) - len, fmt, ap);
	va_end(ap);
	return len;
}

static void why_cut(struct vmem_host *h, size_t len)
{
	if (story_on(h))
		h->why[len] = '\0';
}

int swap_tier_store(struct vmem_host *h, struct hvm *v, struct gpage *pg)
{
	uint64_t slot;
	size_t len;

	if (h->cfg.zswap_percent && pg->cls <= h->cfg.zswap_max_class) {
		h->zswap_bytes += class_bytes(pg->cls);
		if (zswap_fit(h)) {
			pg->loc = class_bytes(pg->cls);
			size_t story = h->nevents;

			len = why_append(h, "; compressed to %u bytes", pg->loc);
			host_page_set_state(v, pg, VMEM_PG_COMPRESSED);
			why_cut(h, len);
			if (h->nevents > story)
				story_cost(h, story, v->id, (uint64_t)(pg - v->pages),
					   h->cfg.cost_compress);
			h->work_cycles += h->cfg.cost_compress;
			v->st.compress_out++;
			return 0;
		}
		h->zswap_bytes -= class_bytes(pg->cls);
		zswap_fit(h);
		/* Compressed for nothing: the work was done before the tier said no. */
		h->work_cycles += h->cfg.cost_compress;
	}
	if (!slot_take(h, &slot))
		return VMEM_ENOSPACE;
	pg->loc = (uint32_t)slot;
	len = why_append(h, "; written to swap slot %llu (queued)", (unsigned long long)slot);
	host_page_set_state(v, pg, VMEM_PG_SWAPPED);
	why_cut(h, len);
	if (h->device_busy < h->now)
		h->device_busy = h->now;
	h->device_busy += transfer_cycles(h);
	h->st.swap_writes++;
	v->st.swap_out++;
	return 0;
}

void swap_tier_load(struct vmem_host *h, struct hvm *v, struct gpage *pg, uint64_t *cycles)
{
	uint64_t gfn;

	*cycles += h->cfg.cost_fault;
	if (pg->state == VMEM_PG_COMPRESSED) {
		h->zswap_bytes -= pg->loc;
		zswap_fit(h);
		*cycles += h->cfg.cost_decompress;
		v->st.faults_decompress++;
		return;
	}
	gfn = (uint64_t)(pg - v->pages);
	/* Guest-physical neighbours read one after the other from slots that are not
	 * (VSwapper's decayed swap sequentiality): the guest's sequential access became
	 * random I/O on the device. */
	if (gfn == v->last_swapin_gfn + 1 && pg->loc != v->last_swapin_slot + 1)
		v->st.decayed_swap_reads++;
	v->last_swapin_gfn = gfn;
	v->last_swapin_slot = pg->loc;
	slot_put(h, pg->loc);
	if (h->device_busy < h->now)
		h->device_busy = h->now;
	h->device_busy += transfer_cycles(h);
	*cycles += h->device_busy - h->now + us_to_cycles(h, h->cfg.swap_latency_us);
	h->st.swap_reads++;
	v->st.faults_swapin++;
}

void swap_tier_drop(struct vmem_host *h, struct gpage *pg)
{
	if (pg->state == VMEM_PG_COMPRESSED) {
		h->zswap_bytes -= pg->loc;
		zswap_fit(h);
	} else {
		slot_put(h, pg->loc);
	}
}
