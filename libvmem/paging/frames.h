/*
 * Physical frame allocator of one simulated physical address space (a guest's or the
 * host's): 4 KiB frames, and naturally aligned 2 MiB and 1 GiB blocks for large pages.
 *
 * Placement is sequential (next fit from the lowest free frame, the order a freshly
 * booted OS hands out memory) or seeded random (scattered frames, as on a long-running
 * system). A bitmap of capacity bits tracks use; it is allocated with calloc, so
 * untouched parts cost no resident host memory.
 */
#ifndef VMEM_FRAMES_H
#define VMEM_FRAMES_H

#include "vmem/common.h"

enum vmem_placement {
	VMEM_PLACE_SEQUENTIAL = 0,
	VMEM_PLACE_RANDOM = 1,
};

struct frames {
	uint64_t *bitmap;      /* bit set: frame in use */
	uint64_t nframes;      /* capacity in 4 KiB frames (a multiple of 512) */
	uint64_t used;
	uint64_t cursor[VMEM_PAGE_SIZES];   /* next-fit position per block size, in frames */
	uint64_t rng;
	enum vmem_placement place;
};

int frames_init(struct frames *f, uint64_t bytes, enum vmem_placement place, uint64_t seed);
void frames_fini(struct frames *f);

/* Allocates a block of `size` (aligned to it); returns its first frame number in *pfn. */
int frames_alloc(struct frames *f, enum vmem_page_size size, uint64_t *pfn);
void frames_free(struct frames *f, uint64_t pfn, enum vmem_page_size size);

/* Frame-source adapters for page tables: ctx is a struct frames. */
int frames_alloc_table(void *ctx, uint64_t *pfn);
void frames_free_table(void *ctx, uint64_t pfn);

#endif
