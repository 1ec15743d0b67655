/*
 * The in-guest balloon driver of the test guest: a virtio-balloon-like driver speaking
 * the port-I/O balloon channel of include/vmem/balloon_channel.h. Freestanding C: it is
 * compiled into vmem-vmm's test guest only, never into libvmem.
 *
 * The driver takes pages from the guest's page allocator to inflate the balloon and gives
 * them back on deflate (virtio spec 1.2, 5.5.6.3, "Memory Statistics" and 5.5.6.1-2
 * inflate/deflate), reports free pages (VIRTIO_BALLOON_F_REPORTING) and sends the
 * 16-tag statistics report (VIRTIO_BALLOON_F_STATS_VQ). It runs on one vCPU at a time.
 */
#ifndef BALLOON_GUEST_DRIVER_H
#define BALLOON_GUEST_DRIVER_H

#include <stdint.h>

#include "vmem/balloon_channel.h"

/* The guest's page allocator, as the driver sees it. */
struct balloon_page_allocator {
	void *ctx;
	/* One free page's pfn into *pfn: 0, or -1 when none is free. */
	int (*alloc)(void *ctx, uint32_t *pfn);
	void (*free)(void *ctx, uint32_t pfn);
	/* Up to max free pages' pfns into out (they stay free); how many. */
	uint32_t (*list_free)(void *ctx, uint32_t *out, uint32_t max);
	uint64_t (*free_pages)(void *ctx);
	uint64_t total_pages;
};

struct balloon_driver {
	struct vmem_bch_request *req;   /* the request buffer (guest-physical = virtual) */
	uint32_t max_entries;           /* INFLATE/DEFLATE pfns that fit in it */
	uint32_t *held;                 /* the balloon's pages */
	uint32_t held_count;
	uint32_t held_max;
	const struct balloon_page_allocator *alloc;
	int32_t last_status;            /* the host's status of the last rejected request */
	uint64_t inflated, deflated, reported;
};

/* req_bytes of request buffer at req; room for held_max pfns at held. */
void balloon_driver_init(struct balloon_driver *d, void *req, uint32_t req_bytes,
			 uint32_t *held, uint32_t held_max,
			 const struct balloon_page_allocator *alloc);

/* Reads the host's target (VMEM_BCH_PORT_TARGET), inflates or deflates towards it in
 * batches, writes the pages held to VMEM_BCH_PORT_ACTUAL. 0, or the host's negative status
 * of the request it rejected (the pages of that batch stay with the guest). */
int balloon_driver_adjust(struct balloon_driver *d);

/* Reports the allocator's free pages as ranges (REPORT_FREE). 0 or the host's status. */
int balloon_driver_report_free(struct balloon_driver *d);

/* Sends the statistics report, all VMEM_BCH_S_NR tags (STATS). 0 or the host's status. */
int balloon_driver_send_stats(struct balloon_driver *d, const uint64_t stats[VMEM_BCH_S_NR]);

#endif
