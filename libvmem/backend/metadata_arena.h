/*
 * A jemalloc arena of the library's own for the real backend's metadata (not part of the
 * public API): its bytes are counted apart from the rest of the process, and freeing it
 * all at once returns its memory.
 *
 * Concurrency: metadata_alloc, metadata_calloc and metadata_free may run on any threads
 * at once (jemalloc locks the arena); metadata_arena_bytes too. metadata_arena_create and
 * metadata_arena_destroy need exclusive use.
 */
#ifndef VMEM_METADATA_ARENA_H
#define VMEM_METADATA_ARENA_H

#include <stddef.h>

struct metadata_arena;

/* 0, or a VMEM_E code with a message in err. */
int metadata_arena_create(struct metadata_arena **out, char *err, size_t errlen);
/* Discards the arena and everything still allocated from it; a may be NULL. */
void metadata_arena_destroy(struct metadata_arena *a);

void *metadata_alloc(struct metadata_arena *a, size_t size);
void *metadata_calloc(struct metadata_arena *a, size_t n, size_t size);
void metadata_free(struct metadata_arena *a, void *ptr);

/* Bytes allocated from the arena now (jemalloc's small + large allocated, which count
 * whole size classes), after refreshing jemalloc's statistics. */
size_t metadata_arena_bytes(struct metadata_arena *a);

#endif
