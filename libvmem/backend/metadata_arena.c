/*
 * The backend's metadata arena: a jemalloc arena made for it with mallctl("arenas.create"),
 * allocated from with mallocx(MALLOCX_ARENA(i) | MALLOCX_TCACHE_NONE) and freed with
 * dallocx (jemalloc(3), "MALLCTL NAMESPACE"). Bypassing the thread caches keeps every byte
 * in the arena's own statistics at once, and lets arena.<i>.destroy discard it whole.
 *
 * Statistics: jemalloc refreshes its counters only when "epoch" is written; the arena's
 * bytes are then stats.arenas.<i>.small.allocated + stats.arenas.<i>.large.allocated
 * (bytes of the size classes handed out, so an 8-byte record counts 8 and a 24-byte one
 * 32).
 *
 * The allocator and the sanitizers: Debian's libjemalloc exports malloc as well, so a
 * program that loads it gets jemalloc as its malloc too (the Makefile links it
 * --as-needed: only programs that use the real backend load it). Under AddressSanitizer
 * the sanitizer's runtime comes first in symbol lookup, so malloc stays the sanitizer's
 * and jemalloc serves only the mallocx calls here: the metadata is then not checked by
 * ASan (no redzones), everything else is, and no pointer crosses between the two since
 * this file frees only what it allocated.
 */
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmem/common.h"
#include "backend/backend_internal.h"
#include "backend/metadata_arena.h"

struct metadata_arena {
	unsigned index;              /* jemalloc's arena number */
	int flags;                   /* MALLOCX_ARENA(index) | MALLOCX_TCACHE_NONE */
};

int metadata_arena_create(struct metadata_arena **out, char *err, size_t errlen)
{
	struct metadata_arena *a;
	unsigned index;
	size_t len = sizeof(index);
	int e = mallctl("arenas.create", &index, &len, NULL, 0);

	*out = NULL;
	if (e) {
		backend_errf(err, errlen, "metadata arena: mallctl(arenas.create): %s", strerror(e));
		return VMEM_ENOMEM;
	}
	a = mallocx(sizeof(*a), MALLOCX_ARENA(index) | MALLOCX_TCACHE_NONE);
	if (!a) {
		backend_errf(err, errlen, "metadata arena: out of memory");
		return VMEM_ENOMEM;
	}
	a->index = index;
	a->flags = MALLOCX_ARENA(index) | MALLOCX_TCACHE_NONE;
	*out = a;
	return 0;
}

void metadata_arena_destroy(struct metadata_arena *a)
{
	char name[64];

	if (!a)
		return;
	snprintf(name, sizeof(name), "arena.%u.destroy", a->index);
	/* Discards every allocation of the arena, a itself included. */
	mallctl(name, NULL, NULL, NULL, 0);
}

void *metadata_alloc(struct metadata_arena *a, size_t size)
{
	return mallocx(size ? size : 1, a->flags);
}

void *metadata_calloc(struct metadata_arena *a, size_t n, size_t size)
{
	size_t bytes;

	if (size && n > SIZE_MAX / size)
		return NULL;
	bytes = n * size;
	return mallocx(bytes ? bytes : 1, a->flags | MALLOCX_ZERO);
}

void metadata_free(struct metadata_arena *a, void *ptr)
{
	if (ptr)
		dallocx(ptr, a->flags);
}

size_t metadata_arena_bytes(struct metadata_arena *a)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch), small = 0, large = 0, n = sizeof(size_t);
	char name[96];

	mallctl("epoch", &epoch, &len, &epoch, len);
	snprintf(name, sizeof(name), "stats.arenas.%u.small.allocated", a->index);
	mallctl(name, &small, &n, NULL, 0);
	n = sizeof(size_t);
	snprintf(name, sizeof(name), "stats.arenas.%u.large.allocated", a->index);
	mallctl(name, &large, &n, NULL, 0);
	return small + large;
}
