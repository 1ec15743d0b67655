/*
 * Miss-ratio curves of the TLB arrays from one replay.
 *
 * A profiler (struct vmem_mrc) follows the reference stream of one set-associative cache
 * with S sets and, from that single pass, gives the miss count of an LRU cache with the
 * same S sets for every associativity w = 1..W at once (entries = S x w): per-set LRU stack
 * distances (Mattson, Gecsei, Slutz and Traiger, IBM Systems Journal 9(2), 1970). Entries
 * removed by invalidations and flushes are accounted exactly (libvmem/mrc.c explains how
 * and proves it).
 *
 * A profiler can be used alone (vmem_mrc_lookup / _fill / _invalidate / _flush_*), or be
 * attached to a vmem_xcache, whose lookups, fills and invalidations then feed it; the
 * cache itself behaves exactly as without it. vmem_tlb_enable_mrc and vmem_mmu_enable_mrc
 * attach one profiler to every present array of a TLB hierarchy.
 *
 * What the curve of a TLB array means. Each array's profiler sees the stream of that array
 * in the configured machine. The input of an L1 array (accesses and L1 fills) does not
 * depend on the size of the STLB, and the input of the STLB (the L1 misses) does not
 * depend on the size of the STLB; likewise an L1 array's input does not depend on its own
 * size. So each array's curve is exact for LRU replacement with every other array fixed
 * at its configured geometry: the row of the curve at w ways equals the misses that array
 * has in a machine configured with w ways for it and the same number of sets. This holds
 * while no address is cached at two page sizes in the same array at once (the simulator's
 * guest OS invalidates a page before its mapping changes). For an array configured with
 * PLRU or RANDOM replacement the curve is still the LRU curve of its input.
 *
 * Counting, per TLB array (one count per access that probes the array, not per probe):
 *   L1 data / instruction array for page size s: lookups = accesses that probe it (the L1
 *     arrays are probed 4K, 2M, 1G until one hits); misses[w] = those it does not hit.
 *   STLB (4 KiB + 2 MiB, probed with the 4 KiB and then the 2 MiB key): lookups = L1
 *     misses (vmemsim's tlb.l2.lookups), misses[w] = those it hits with neither key.
 *   1 GiB STLB: lookups = accesses that missed the STLB.
 * With only 4 KiB pages the L1 data 4K row at the configured geometry is vmemsim's
 * tlb.l1d.misses and the STLB row is tlb.l2.misses.
 *
 * Memory: O(S x W) per profiler. Time: each reference scans at most W slots of its set.
 * Concurrency: none; one thread uses a profiler (and the cache it is attached to).
 */
#ifndef VMEM_MRC_H
#define VMEM_MRC_H

#include <stdio.h>

#include "vmem/mmu.h"
#include "vmem/tlb.h"
#include "vmem/xcache.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMEM_MRC_MAX_WAYS 4096u   /* largest W a profiler accepts */

struct vmem_mrc;

/*
 * A profiler for a cache of `sets` sets (a power of two) tracking w = 1..max_ways
 * (1 <= max_ways <= VMEM_MRC_MAX_WAYS); VMEM_EINVAL otherwise.
 */
int vmem_mrc_create(uint32_t sets, uint32_t max_ways, struct vmem_mrc **out);
void vmem_mrc_destroy(struct vmem_mrc *p);

/*
 * One reference of the stream (keys map to set key & (sets - 1), as in vmem_xcache):
 *   lookup      counts a lookup; returns its stack depth (1..max_ways: a hit for every
 *               w >= depth) or 0 (a miss for every w); a found entry becomes the most
 *               recently used. The lookup is assumed to be followed, when it misses in a
 *               cache, by that cache's fill of the same key before any other change of
 *               its content (libvmem/mrc.c says why the TLB satisfies this).
 *   fill        (key, ctx) becomes the most recently used entry (inserted if absent).
 *   invalidate  (key, ctx) leaves every cache; flush_ctx removes the entries whose context
 *               matches ctx under mask, flush_all every entry (as in vmem_xcache).
 */
uint32_t vmem_mrc_lookup(struct vmem_mrc *p, uint64_t key, uint32_t ctx);
void vmem_mrc_fill(struct vmem_mrc *p, uint64_t key, uint32_t ctx);
void vmem_mrc_invalidate(struct vmem_mrc *p, uint64_t key, uint32_t ctx);
void vmem_mrc_flush_ctx(struct vmem_mrc *p, uint32_t ctx, uint32_t mask);
void vmem_mrc_flush_all(struct vmem_mrc *p);

uint32_t vmem_mrc_sets(const struct vmem_mrc *p);
uint32_t vmem_mrc_max_ways(const struct vmem_mrc *p);
/* Lookups counted since creation or the last vmem_mrc_reset_counts. */
uint64_t vmem_mrc_lookups(const struct vmem_mrc *p);
/* Misses of an LRU cache of vmem_mrc_sets(p) sets and `ways` ways (1..max_ways; a larger
 * value is answered for max_ways, 0 gives the lookups). */
uint64_t vmem_mrc_misses(const struct vmem_mrc *p, uint32_t ways);
/* Zeroes the counts and keeps the stacks (a warm-up ends). */
void vmem_mrc_reset_counts(struct vmem_mrc *p);

/*
 * Attaches a new profiler with the cache's sets and max_ways ways (0: 8 x the cache's
 * ways, at most VMEM_MRC_MAX_WAYS) to c, replacing and freeing any earlier one; it is
 * freed with the cache. The profiler starts empty, as if the cache were empty: enable it
 * before the first use of the cache to profile a whole stream. VMEM_EINVAL for an absent
 * cache (entries 0).
 */
int vmem_xcache_enable_mrc(struct vmem_xcache *c, uint32_t max_ways);
/* The attached profiler, or NULL. */
struct vmem_mrc *vmem_xcache_mrc(const struct vmem_xcache *c);

/* The arrays of a TLB hierarchy. */
enum vmem_tlb_array {
	VMEM_TLB_L1D_4K = 0,
	VMEM_TLB_L1D_2M = 1,
	VMEM_TLB_L1D_1G = 2,
	VMEM_TLB_L1I_4K = 3,
	VMEM_TLB_L1I_2M = 4,
	VMEM_TLB_L1I_1G = 5,
	VMEM_TLB_L2 = 6,      /* STLB, 4 KiB and 2 MiB pages */
	VMEM_TLB_L2_1G = 7,   /* STLB, 1 GiB pages */
	VMEM_TLB_ARRAYS = 8,
};

/* "l1d.4k", ..., "l1i.1g", "l2", "l2.1g": the tlb.* configuration key without "tlb.". */
const char *vmem_tlb_array_name(enum vmem_tlb_array a);
/* "4k", "2m", "1g", or "4k+2m" for the STLB. */
const char *vmem_tlb_array_pages(enum vmem_tlb_array a);

/*
 * Profiles every present array of t (vmem_xcache_enable_mrc with max_ways; 0 = 8 x each
 * array's ways). Call it before the first lookup.
 */
int vmem_tlb_enable_mrc(struct vmem_tlb *t, uint32_t max_ways);
/* The profiler of array a, or NULL (profiling off, or the array is absent). */
struct vmem_mrc *vmem_tlb_mrc(const struct vmem_tlb *t, enum vmem_tlb_array a);

/* The same for the TLB of a machine; call it after vmem_mmu_create, before replay. */
int vmem_mmu_enable_mrc(struct vmem_mmu *m, uint32_t max_ways);
struct vmem_mrc *vmem_mmu_mrc(const struct vmem_mmu *m, enum vmem_tlb_array a);
/* vmem_mrc_reset_counts on every profiler of the machine. */
void vmem_mmu_mrc_reset_counts(struct vmem_mmu *m);

/*
 * CSV of the curves: vmem_mrc_csv_header writes the header line
 *   label,mode,array,page_size,sets,ways,entries,lookups,misses,miss_ratio
 * and vmem_mmu_mrc_csv one row per profiled array of m and ways = 1..W (entries =
 * sets x ways, miss_ratio = misses / lookups, 0 without lookups). Arrays in enum order.
 * Returns 0, or VMEM_EIO if the stream reports an error.
 */
int vmem_mrc_csv_header(FILE *f);
int vmem_mmu_mrc_csv(FILE *f, const char *label, const struct vmem_mmu *m);

/* The column names of that CSV, in order, terminated by NULL; and what one holds, in one
 * line (NULL for an unknown name). */
const char *const *vmem_mrc_csv_columns(void);
const char *vmem_mrc_csv_column_help(const char *name);

#ifdef __cplusplus
}
#endif

#endif
