/* Physical frame allocator; see frames.h. */
#include <stdlib.h>

#include "frames.h"
#include "base/rng.h"

int frames_init(struct frames *f, uint64_t bytes, enum vmem_placement place, uint64_t seed)
{
	uint64_t n = bytes >> 12;

	if (n < 512 || (n & 511))
		return VMEM_EINVAL;
	f->bitmap = calloc(n / 64, sizeof(uint64_t));
	if (!f->bitmap)
		return VMEM_ENOMEM;
	f->nframes = n;
	f->used = 0;
	for (unsigned s = 0; s < VMEM_PAGE_SIZES; s++)
		f->cursor[s] = 0;
	f->place = place;
	f->rng = seed ? seed : 1;
	return 0;
}

void frames_fini(struct frames *f)
{
	free(f->bitmap);
	f->bitmap = NULL;
}

/* True if the n frames from pfn (n a multiple of 64 or 1) are all free. */
static bool block_free(const struct frames *f, uint64_t pfn, uint64_t n)
{
	if (n == 1)
		return !(f->bitmap[pfn / 64] & (1ull << (pfn % 64)));
	for (uint64_t w = pfn / 64; w < (pfn + n) / 64; w++)
		if (f->bitmap[w])
			return false;
	return true;
}

static void block_mark(struct frames *f, uint64_t pfn, uint64_t n, bool used)
{
	if (n == 1) {
		if (used)
			f->bitmap[pfn / 64] |= 1ull << (pfn % 64);
		else
			f->bitmap[pfn / 64] &= ~(1ull << (pfn % 64));
	} else {
		for (uint64_t w = pfn / 64; w < (pfn + n) / 64; w++)
			f->bitmap[w] = used ? ~0ull : 0;
	}
	f->used = used ? f->used + n : f->used - n;
}

int frames_alloc(struct frames *f, enum vmem_page_size size, uint64_t *pfn)
{
	uint64_t n = 1ull << (9 * (unsigned)size);
	uint64_t blocks = f->nframes / n;

	if (blocks == 0 || f->used + n > f->nframes)
		return VMEM_ENOSPACE;
	if (f->place == VMEM_PLACE_RANDOM) {
		/* A few random probes find a free block while memory is not nearly full;
		 * after that, fall back to next fit from a random start. */
		for (int tries = 0; tries < 16; tries++) {
			uint64_t b = rng_next(&f->rng) % blocks;

			if (block_free(f, b * n, n)) {
				block_mark(f, b * n, n, true);
				*pfn = b * n;
				return 0;
			}
		}
		f->cursor[size] = rng_next(&f->rng) % blocks;
	}
	for (uint64_t k = 0; k < blocks; k++) {
		uint64_t b = (f->cursor[size] + k) % blocks;

		if (block_free(f, b * n, n)) {
			block_mark(f, b * n, n, true);
			f->cursor[size] = b + 1;
			*pfn = b * n;
			return 0;
		}
	}
	return VMEM_ENOSPACE;
}

void frames_free(struct frames *f, uint64_t pfn, enum vmem_page_size size)
{
	block_mark(f, pfn, 1ull << (9 * (unsigned)size), false);
	/* Keep each next-fit cursor at or below the lowest free block, so sequential
	 * placement hands out the lowest free frame and freed frames are reused first. */
	for (unsigned s = 0; s < VMEM_PAGE_SIZES; s++)
		if (pfn >> (9 * s) < f->cursor[s])
			f->cursor[s] = pfn >> (9 * s);
}

int frames_alloc_table(void *ctx, uint64_t *pfn)
{
	return frames_alloc(ctx, VMEM_PAGE_4K, pfn);
}

void frames_free_table(void *ctx, uint64_t pfn)
{
	frames_free(ctx, pfn, VMEM_PAGE_4K);
}
