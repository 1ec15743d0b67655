/*
 * The test guest's memory pattern, compiled into the guest and into vmem-vmm: the guest
 * writes and checks its pages with it, the VMM replays the same sequence of guest-virtual
 * addresses into a .vmt trace and checks the data region from the host side after the
 * guest has stopped.
 *
 * Every word of a page is a function of (page, generation, word): a page moved, lost,
 * zeroed or left stale by the host fails the check. Pages whose global index is a multiple
 * of dup_every hold one shared content instead, the same in all of them (what a
 * deduplicating host merges); they are written once and only read after.
 *
 * A pass p >= 1 of a slice of `pages` pages touches a window of `window` pages starting at
 * ((p - 1) * step) mod pages, wrapping: the working set moves by `step` per pass, so pages
 * fall out of it and come back (what a swapping host takes away and must bring back). Each
 * page of the window is checked against its last generation, then (unless shared)
 * rewritten with generation p, which dirties it.
 *
 * Only <stdint.h>: the guest is freestanding.
 */
#ifndef VMM_PATTERN_H
#define VMM_PATTERN_H

#include <stdint.h>

#define VMM_PAGE_BYTES 4096u
#define VMM_PAGE_WORDS (VMM_PAGE_BYTES / 8u)
#define VMM_SHARED_SEED 0x5eed5eed5eed5eedull

/* splitmix64's finalizer (Steele, Lea, Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014): a cheap bijective mix. */
static inline uint64_t vmm_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline int vmm_page_is_shared(uint64_t page, uint32_t dup_every)
{
	return dup_every != 0 && page % dup_every == 0;
}

/* The seed of a page's words: page and generation for a page of its own, a constant for a
 * shared page. Word w of the page holds vmm_mix64(seed + w). */
static inline uint64_t vmm_page_seed(uint64_t page, uint32_t gen, uint32_t dup_every)
{
	if (vmm_page_is_shared(page, dup_every))
		return VMM_SHARED_SEED;
	return vmm_mix64((page << 24) ^ ((uint64_t)gen << 1) ^ 0x9e3779b97f4a7c15ull) &
	       ~0xfffull;
}

static inline uint64_t vmm_pattern_word(uint64_t seed, uint32_t word)
{
	return vmm_mix64(seed + word);
}

/* The slice index of the window's first page in pass p (p >= 1). */
static inline uint64_t vmm_window_start(uint64_t pass, uint64_t step, uint64_t pages)
{
	return pages ? ((pass - 1) % pages) * (step % pages) % pages : 0;
}

#endif
