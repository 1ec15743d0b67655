/*
 * The balloon channel: how a guest's balloon driver talks to the host over port I/O.
 *
 * Modelled on virtio-balloon (virtio spec 1.2, 5.5; include/uapi/linux/virtio_balloon.h)
 * without the virtqueues: the guest builds a request in its own memory and rings a doorbell
 * with the request's guest-physical page frame number; the host reads the request, checks
 * it, acts on it and writes the status back into the request before the doorbell's port
 * write returns to the guest.
 *
 *   out VMEM_BCH_PORT_DOORBELL (32 bit)  pfn of a request (gpa = pfn << 12)
 *   in  VMEM_BCH_PORT_TARGET   (32 bit)  pages the host wants the balloon to hold
 *                                        (virtio_balloon_config.num_pages)
 *   out VMEM_BCH_PORT_ACTUAL   (32 bit)  pages the balloon holds now (config.actual)
 *
 * A request is a header followed by `count` entries, all in guest RAM, little-endian:
 *   INFLATE, DEFLATE  uint32_t pfn[count]: 4 KiB guest page frames, as virtio-balloon's
 *                     inflateq/deflateq carry them (VIRTIO_BALLOON_PFN_SHIFT 12)
 *   REPORT_FREE       struct vmem_bch_range[count]: free page reporting
 *                     (VIRTIO_BALLOON_F_REPORTING), ranges the guest does not use now
 *   STATS             struct vmem_bch_stat[count]: the statistics report
 *                     (VIRTIO_BALLOON_F_STATS_VQ), tags VMEM_BCH_S_*
 * The host handles a request all or nothing: one bad entry (out of guest RAM, not owned by
 * this guest, a duplicate, a page already in the balloon for INFLATE or not in it for
 * DEFLATE, a count above the host's limit) rejects the whole request, changes nothing and
 * puts a negative VMEM_E* code in `status`. The host copies the request out of guest
 * memory before checking it, so a guest that changes it meanwhile changes nothing.
 *
 * This header is the guest ABI: it needs only <stdint.h> so a freestanding guest can use it.
 */
#ifndef VMEM_BALLOON_CHANNEL_H
#define VMEM_BALLOON_CHANNEL_H

#include <stdint.h>

#define VMEM_BCH_PORT_DOORBELL 0x510
#define VMEM_BCH_PORT_TARGET   0x514
#define VMEM_BCH_PORT_ACTUAL   0x518

#define VMEM_BCH_MAGIC 0x4c4c4142u       /* "BALL" */

enum vmem_bch_op {
	VMEM_BCH_INFLATE = 1,
	VMEM_BCH_DEFLATE = 2,
	VMEM_BCH_REPORT_FREE = 3,
	VMEM_BCH_STATS = 4,
};

struct vmem_bch_request {
	uint32_t magic;                  /* VMEM_BCH_MAGIC */
	uint16_t op;                     /* enum vmem_bch_op */
	uint16_t flags;                  /* 0 */
	uint32_t count;                  /* entries after the header */
	int32_t status;                  /* host: 0, or a negative VMEM_E* code */
	uint32_t done;                   /* host: entries acted on (count, or 0 if rejected) */
	uint32_t reserved;               /* 0 */
	/* entries follow */
};

struct vmem_bch_range {
	uint64_t gpa;                    /* 4 KiB aligned */
	uint64_t len;                    /* bytes, a non-zero multiple of 4 KiB */
};

/* virtio_balloon_stat: a 16-bit tag and a 64-bit value, packed (10 bytes). */
struct __attribute__((packed)) vmem_bch_stat {
	uint16_t tag;
	uint64_t val;
};

/* Statistics tags, with virtio-balloon's numbers (VIRTIO_BALLOON_S_*). */
enum vmem_bch_stat_tag {
	VMEM_BCH_S_SWAP_IN = 0,
	VMEM_BCH_S_SWAP_OUT = 1,
	VMEM_BCH_S_MAJFLT = 2,
	VMEM_BCH_S_MINFLT = 3,
	VMEM_BCH_S_MEMFREE = 4,
	VMEM_BCH_S_MEMTOT = 5,
	VMEM_BCH_S_AVAIL = 6,
	VMEM_BCH_S_CACHES = 7,
	VMEM_BCH_S_HTLB_PGALLOC = 8,
	VMEM_BCH_S_HTLB_PGFAIL = 9,
	VMEM_BCH_S_OOM_KILL = 10,
	VMEM_BCH_S_ALLOC_STALL = 11,
	VMEM_BCH_S_ASYNC_SCAN = 12,
	VMEM_BCH_S_DIRECT_SCAN = 13,
	VMEM_BCH_S_ASYNC_RECLAIM = 14,
	VMEM_BCH_S_DIRECT_RECLAIM = 15,
	VMEM_BCH_S_NR = 16,
};

#endif
