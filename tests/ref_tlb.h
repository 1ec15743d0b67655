/*
 * Reference models of the translation cache and of the TLB hierarchy, for differential
 * tests of libvmem/xcache.c and libvmem/tlb.c.
 *
 * They are written for clarity, not speed, and share no code with the library: a set
 * is an array scanned linearly; LRU keeps the valid entries of a set in a list ordered
 * from most to least recently used; tree-PLRU keeps an explicit array of booleans, one
 * per tree node, walked on every use; RANDOM keeps its own xorshift64* generator. The
 * behaviour they implement is the contract stated in include/vmem/xcache.h, tlb.h and the
 * model comments of libvmem/xcache.c and libvmem/tlb.c (invalid way first, the PLRU bit
 * convention, the random victim formula, the per-array seeds, the lookup order).
 *
 * Only valid geometries are supported (the tests check geometry errors on the library).
 */
#ifndef VMEM_TESTS_REF_TLB_H
#define VMEM_TESTS_REF_TLB_H

#include "vmem/tlb.h"

struct ref_tlb_cache;

/* Returns NULL if out of memory or if geom->repl is unknown. */
struct ref_tlb_cache *ref_tlb_cache_new(const struct vmem_cache_geom *geom, uint64_t seed);
void ref_tlb_cache_free(struct ref_tlb_cache *c);
bool ref_tlb_cache_lookup(struct ref_tlb_cache *c, uint64_t key, uint32_t ctx, uint64_t *val);
bool ref_tlb_cache_fill(struct ref_tlb_cache *c, uint64_t key, uint32_t ctx, uint64_t val);
void ref_tlb_cache_invalidate(struct ref_tlb_cache *c, uint64_t key, uint32_t ctx);
void ref_tlb_cache_flush_ctx(struct ref_tlb_cache *c, uint32_t ctx, uint32_t mask);
void ref_tlb_cache_flush_all(struct ref_tlb_cache *c);
uint32_t ref_tlb_cache_occupancy(const struct ref_tlb_cache *c);
const struct vmem_xcache_stats *ref_tlb_cache_stats(const struct ref_tlb_cache *c);

struct ref_tlb;

struct ref_tlb *ref_tlb_new(const struct vmem_tlb_config *cfg);
void ref_tlb_free(struct ref_tlb *t);
enum vmem_tlb_hit ref_tlb_lookup(struct ref_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
				 struct vmem_tlb_entry *e);
/* e->pa_base must be 4 KiB aligned. */
void ref_tlb_fill(struct ref_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
		  const struct vmem_tlb_entry *e);
void ref_tlb_invlpg(struct ref_tlb *t, uint64_t va, uint32_t ctx);
void ref_tlb_flush_ctx(struct ref_tlb *t, uint32_t ctx, uint32_t mask);
void ref_tlb_flush_all(struct ref_tlb *t);
const struct vmem_tlb_stats *ref_tlb_stats(const struct ref_tlb *t);

#endif
