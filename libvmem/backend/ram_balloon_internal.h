/*
 * Between the balloon channel (balloon_channel.c: ports, copying a request out of guest
 * memory, decoding it) and the balloon over guest RAM (ram_balloon.c: checking the entries
 * against guest RAM and the balloon, dropping pages). Not part of the public API.
 */
#ifndef VMEM_RAM_BALLOON_INTERNAL_H
#define VMEM_RAM_BALLOON_INTERNAL_H

#include <pthread.h>

#include "vmem/ram_balloon.h"

/* A request decoded into host memory: one of the arrays, `count` entries. */
struct balloon_request {
	enum vmem_bch_op op;
	size_t count;
	const uint64_t *pfn;                  /* INFLATE, DEFLATE */
	const struct vmem_bch_range *range;   /* REPORT_FREE */
	const struct vmem_bch_stat *stat;     /* STATS */
	/* Guest-physical [req_gpa, req_gpa_end) holds the request itself, whole pages (empty for
	 * a direct call): INFLATE and REPORT_FREE may not drop them. */
	uint64_t req_gpa, req_gpa_end;
};

/* One guest RAM region as the balloon sees it (a copy of vmem_ram_region, plus ownership). */
struct balloon_region {
	struct vmem_ram_region r;
	uint64_t pages;                       /* 4 KiB pages */
	unsigned huge_shift;                  /* 9 for hugetlb (512 frames a page), else 0 */
	bool owned;                           /* the balloon may take its pages */
};

struct vmem_ram_balloon {
	pthread_mutex_t lock;
	struct vmem_guest_ram *ram;
	struct vmem_ram_balloon_config cfg;
	unsigned nregions;
	struct balloon_region *regions;
	uint64_t frames;
	uint64_t *in_balloon;                 /* bitmap over frames */
	uint64_t *seen;                       /* per request: frames named so far (all 0 between) */
	uint64_t *scratch_frames;             /* max_entries frames, sorted before dropping */
	uint64_t *scratch_count;              /* max_entries counts (pages of each range marked) */
	unsigned char *residency;             /* mincore(2) window */
	/* The channel's copy of a request: entries as the guest wrote them, then decoded. */
	unsigned char *wire;
	uint64_t *wire_pfn;
	struct vmem_bch_range *wire_range;
	struct vmem_bch_stat *wire_stat;
	uint32_t target;
	uint32_t actual;
	struct vmem_ram_balloon_stats st;
	struct vmem_ram_balloon_guest_stats guest;
	char error[256];
};

/* Checks every entry of q and, only if all pass, acts on it; with b->lock held. 0 or the
 * negative VMEM_E* code of the reason, which is counted and worded in b->error. */
int balloon_apply(struct vmem_ram_balloon *b, const struct balloon_request *q);

/* Rejects a request for `reason` with a printf-style one-line message: counts it, keeps the
 * message, returns the reason's VMEM_E* code. With b->lock held. */
int balloon_reject(struct vmem_ram_balloon *b, enum vmem_ram_balloon_reason reason,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The region holding guest-physical gpa, or NULL. */
const struct balloon_region *balloon_region_of(const struct vmem_ram_balloon *b, uint64_t gpa);

/* The guest frame number of gpa in region g. */
static inline uint64_t balloon_frame(const struct balloon_region *g, uint64_t gpa)
{
	return g->r.first_frame + ((gpa - g->r.gpa) >> 12);
}

static inline bool balloon_bit(const uint64_t *map, uint64_t frame)
{
	return map[frame / 64] >> (frame % 64) & 1;
}

#endif
