/*
 * TLB hierarchy of one logical CPU (contract in include/vmem/tlb.h).
 *
 * Model
 * -----
 * Eight vmem_xcache arrays: L1 data TLB per page size (4K, 2M, 1G), L1 instruction TLB per
 * page size, the unified STLB for 4 KiB and 2 MiB pages, and the STLB for 1 GiB pages.
 *
 * Keys. An L1 array for page size s is keyed by the virtual page number at that size,
 * va >> page_shift(s); its set index is therefore the low VPN bits. The unified STLB holds
 * 4 KiB and 2 MiB entries in one array; its key is (va >> page_shift(s)) | s << 60, so a
 * 4 KiB and a 2 MiB entry with the same VPN value never alias, while the set index (low
 * bits) is still taken from the VPN. The VPN of a 64-bit address has at most 52 bits, so
 * bits 60..63 are free. The 1 GiB STLB is keyed by va >> 30.
 *
 * Values. pa_base >> 12 in bits 0..51, the page size in bits 52..53 and the prot bits in
 * bits 56..63. The low 12 bits of pa_base are not kept (pa_base is page aligned).
 *
 * Lookup (ifetch selects the L1 instruction arrays, otherwise the L1 data arrays):
 *   1. L1 4K, L1 2M, L1 1G, in this order; the first hit wins (VMEM_TLB_HIT_L1).
 *   2. STLB with the 4K key, then with the 2M key, then the 1 GiB STLB. A hit refills the
 *      L1 array of the access type (data or instruction) for the page size of the entry
 *      (VMEM_TLB_HIT_L2). The levels are non-inclusive (no back-invalidation).
 *   3. Otherwise VMEM_TLB_MISS; the caller walks the page tables and calls vmem_tlb_fill.
 * Hardware probes the page-size arrays in parallel; the fixed order matters only when
 * stale entries of two sizes cover the same address, where the smaller page wins.
 *
 * Fill writes the STLB (1 GiB entries into the 1 GiB STLB) and the L1 array of the access
 * type for the entry's page size. An absent array (entries 0) holds nothing: e.g. with no
 * L1 ITLB for 1 GiB pages, such translations live only in the STLB and every instruction
 * fetch from them is an STLB hit.
 *
 * INVLPG va invalidates the page of va at every size in every array, for the given
 * context exactly (VPID and PCID; Intel SDM Vol. 3A, 4.10.4.1). flush_ctx and flush_all
 * apply to all arrays.
 *
 * Statistics: l1d_lookups / l1i_lookups count accesses that probed the L1 data /
 * instruction TLB, l1d_hits / l1i_hits those that hit there at any page size; l2_lookups
 * counts L1 misses (accesses that probed the STLB), l2_hits those that hit in either STLB
 * array. flushes counts flush_ctx and flush_all calls, invlpgs invlpg calls.
 *
 * Default geometry (vmem_tlb_config_default): Skylake client, from the Intel 64 and IA-32
 * Architectures Optimization Reference Manual (order no. 248966), section 2.2 "Skylake
 * client microarchitecture", table "TLB Parameters of the Skylake Microarchitecture"
 * (Table 2-15 in revision 045, February 2022; section and table numbers move between
 * revisions). WikiChip's Skylake (client) page agrees (ITLB 4K 8-way, STLB 12-way).
 *   ITLB  4 KiB        128 entries, 8-way (dynamically shared between SMT threads)
 *   ITLB  2 MiB/4 MiB    8 entries per thread (fully associative as enumerated by
 *                        CPUID leaf 2, descriptor 76H)
 *   DTLB  4 KiB         64 entries, 4-way
 *   DTLB  2 MiB/4 MiB   32 entries, 4-way
 *   DTLB  1 GiB          4 entries, 4-way (i.e. fully associative)
 *   STLB  4 KiB+2 MiB 1536 entries, 12-way (128 sets)
 *   STLB  1 GiB         16 entries, 4-way
 * There is no L1 ITLB for 1 GiB pages (entries 0). CPUID leaf 2 on these parts reports the
 * STLB as 6-way (descriptor C3H); the manual's 12-way is used here.
 * Replacement policy: LRU. This is an assumption: Intel does not document the TLB
 * replacement policy.
 *
 * Miss-ratio curves (vmem_tlb_enable_mrc, include/vmem/mrc.h): every present array gets a
 * profiler fed by its own lookups, fills and invalidations. Two places need the TLB's help
 * to count one lookup per access: the STLB is probed with two keys per access, so its
 * profiler counts the smaller depth of the two once per access (grouped); and the L1
 * memo (tlb_internal.h), which answers lookups without probing the L1 arrays, stays
 * empty while profiling, so that every lookup reaches the profilers.
 *
 * Concurrency: none; one thread uses a TLB at a time.
 */
#include <stdlib.h>

#include "vmem/mrc.h"

#include "mrc_internal.h"
#include "base/rng.h"
#include "tlb_internal.h"
#include "xcache_internal.h"

#define TLB_L2_SIZE_SHIFT 60

/* Index of each array, used to derive its RANDOM seed from the configuration's seed. */
enum {
	TLB_ARR_L1D = 0,        /* + page size: 0, 1, 2 */
	TLB_ARR_L1I = 3,        /* + page size: 3, 4, 5 */
	TLB_ARR_L2 = 6,
	TLB_ARR_L2_1G = 7,
};

void vmem_tlb_config_default(struct vmem_tlb_config *cfg)
{
	static const struct vmem_tlb_config skylake = {
		.l1d = {
			[VMEM_PAGE_4K] = { .entries = 64, .ways = 4, .repl = VMEM_REPL_LRU },
			[VMEM_PAGE_2M] = { .entries = 32, .ways = 4, .repl = VMEM_REPL_LRU },
			[VMEM_PAGE_1G] = { .entries = 4, .ways = 4, .repl = VMEM_REPL_LRU },
		},
		.l1i = {
			[VMEM_PAGE_4K] = { .entries = 128, .ways = 8, .repl = VMEM_REPL_LRU },
			[VMEM_PAGE_2M] = { .entries = 8, .ways = 0, .repl = VMEM_REPL_LRU },
			[VMEM_PAGE_1G] = { .entries = 0, .ways = 0, .repl = VMEM_REPL_LRU },
		},
		.l2 = { .entries = 1536, .ways = 12, .repl = VMEM_REPL_LRU },
		.l2_1g = { .entries = 16, .ways = 4, .repl = VMEM_REPL_LRU },
		.seed = 1,
	};

	*cfg = skylake;
}

/*
 * Seed of array number idx: the splitmix64 output function applied to
 * seed + (idx + 1) * 0x9E3779B97F4A7C15, so that arrays with RANDOM replacement draw
 * independent sequences from one configured seed.
 */
static uint64_t tlb_array_seed(uint64_t seed, unsigned idx)
{
	return rng_mix64(seed + (uint64_t)(idx + 1) * 0x9E3779B97F4A7C15ull);
}

static struct vmem_xcache **tlb_array(struct vmem_tlb *t, unsigned idx)
{
	if (idx < TLB_ARR_L1I)
		return &t->l1d[idx - TLB_ARR_L1D];
	if (idx < TLB_ARR_L2)
		return &t->l1i[idx - TLB_ARR_L1I];
	return idx == TLB_ARR_L2 ? &t->l2 : &t->l2_1g;
}

static const struct vmem_cache_geom *cfg_geom(const struct vmem_tlb_config *cfg, unsigned idx)
{
	if (idx < TLB_ARR_L1I)
		return &cfg->l1d[idx - TLB_ARR_L1D];
	if (idx < TLB_ARR_L2)
		return &cfg->l1i[idx - TLB_ARR_L1I];
	return idx == TLB_ARR_L2 ? &cfg->l2 : &cfg->l2_1g;
}

static void memo_clear(struct vmem_tlb *t, unsigned k)
{
	for (uint64_t i = 0; i <= t->memo_mask[k]; i++)
		t->memo[k][i].vpn = TLB_MEMO_EMPTY;
}

/* The 4 KiB L1 entry (vpn, ctx) -> v has just been used (hit or filled): its set's memo. */
static void memo_set(struct vmem_tlb *t, bool ifetch, uint64_t vpn, uint32_t ctx, uint64_t v)
{
	if (t->memo_on[ifetch])
		t->memo[ifetch][vpn & t->memo_mask[ifetch]] = (struct l1_memo){ vpn, v, ctx };
}

int vmem_tlb_create(const struct vmem_tlb_config *cfg, struct vmem_tlb **out)
{
	struct vmem_tlb *t;
	int err;

	if (out == NULL)
		return VMEM_EINVAL;
	*out = NULL;
	if (cfg == NULL)
		return VMEM_EINVAL;
	for (unsigned i = 0; i <= TLB_ARR_L2_1G; i++) {
		err = vmem_xcache_geom_check(cfg_geom(cfg, i));
		if (err)
			return err;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return VMEM_ENOMEM;
	t->only_4k = true;
	for (unsigned k = 0; k < 2; k++) {
		const struct vmem_cache_geom *g = k ? &cfg->l1i[VMEM_PAGE_4K] : &cfg->l1d[VMEM_PAGE_4K];
		/* An absent array gets one memo that stays empty (nothing is filled there). */
		uint32_t sets = g->entries && g->ways ? g->entries / g->ways : 1;

		t->memo_mask[k] = sets - 1;
		t->memo_on[k] = g->entries != 0;
		t->memo[k] = malloc(sets * sizeof(*t->memo[k]));
		if (t->memo[k] == NULL) {
			vmem_tlb_destroy(t);
			return VMEM_ENOMEM;
		}
		memo_clear(t, k);
	}
	for (unsigned i = 0; i <= TLB_ARR_L2_1G; i++) {
		err = vmem_xcache_create(cfg_geom(cfg, i), tlb_array_seed(cfg->seed, i),
					 tlb_array(t, i));
		if (err) {
			vmem_tlb_destroy(t);
			return err;
		}
	}
	*out = t;
	return 0;
}

void vmem_tlb_destroy(struct vmem_tlb *t)
{
	if (t == NULL)
		return;
	free(t->memo[0]);
	free(t->memo[1]);
	for (unsigned i = 0; i <= TLB_ARR_L2_1G; i++)
		vmem_xcache_destroy(*tlb_array(t, i));
	free(t);
}

static inline uint64_t l2_key(uint64_t va, unsigned s)
{
	return (va >> vmem_page_shift((enum vmem_page_size)s)) |
	       ((uint64_t)s << TLB_L2_SIZE_SHIFT);
}

static inline uint64_t pack(const struct vmem_tlb_entry *e)
{
	return (e->pa_base >> 12) | ((uint64_t)e->size << TLB_VAL_SIZE_SHIFT) |
	       ((uint64_t)e->prot << TLB_VAL_PROT_SHIFT);
}

static inline void unpack(uint64_t v, struct vmem_tlb_entry *e)
{
	if (e == NULL)
		return;
	e->pa_base = tlb_val_pa_base(v);
	e->size = tlb_val_size(v);
	e->prot = (uint8_t)tlb_val_prot(v);
}

enum vmem_tlb_hit vmem_tlb_lookup(struct vmem_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
				  struct vmem_tlb_entry *e)
{
	struct vmem_xcache *const *l1 = ifetch ? t->l1i : t->l1d;
	/* Profiled, every array is probed: its profiler counts the lookup. */
	bool only_4k = t->only_4k && !t->mrc;
	unsigned s2;
	uint64_t v;

	if ((v = tlb_memo_peek(t, va, ctx, ifetch)) != 0) {
		tlb_memo_count(t, ifetch);
		unpack(v, e);
		return VMEM_TLB_HIT_L1;
	}
	if (ifetch)
		t->stats.l1i_lookups++;
	else
		t->stats.l1d_lookups++;
	if (only_4k) {
		/* The loops below with one page size each, written out: the common case. */
		if (xcache_lookup(l1[VMEM_PAGE_4K], va >> 12, ctx, &v)) {
			if (ifetch)
				t->stats.l1i_hits++;
			else
				t->stats.l1d_hits++;
			memo_set(t, ifetch, va >> 12, ctx, v);
			unpack(v, e);
			return VMEM_TLB_HIT_L1;
		}
		t->stats.l2_lookups++;
		if (!xcache_lookup(t->l2, l2_key(va, VMEM_PAGE_4K), ctx, &v))
			return VMEM_TLB_MISS;
		xcache_fill(l1[VMEM_PAGE_4K], va >> 12, ctx, v);
		memo_set(t, ifetch, va >> 12, ctx, v);
		t->stats.l2_hits++;
		unpack(v, e);
		return VMEM_TLB_HIT_L2;
	}
	for (unsigned s = 0; s < VMEM_PAGE_SIZES; s++) {
		unsigned shift = vmem_page_shift((enum vmem_page_size)s);

		if (xcache_lookup(l1[s], va >> shift, ctx, &v)) {
			if (ifetch)
				t->stats.l1i_hits++;
			else
				t->stats.l1d_hits++;
			if (s == VMEM_PAGE_4K)
				memo_set(t, ifetch, va >> 12, ctx, v);
			unpack(v, e);
			return VMEM_TLB_HIT_L1;
		}
	}

	t->stats.l2_lookups++;
	s2 = VMEM_PAGE_4K;
	while (s2 <= VMEM_PAGE_2M && !xcache_lookup(t->l2, l2_key(va, s2), ctx, &v))
		s2++;
	if (t->l2_mrc != NULL)
		mrc_group_end(t->l2_mrc);   /* one STLB lookup per access */
	if (s2 <= VMEM_PAGE_2M) {
		xcache_fill(l1[s2], va >> vmem_page_shift((enum vmem_page_size)s2), ctx, v);
		if (s2 == VMEM_PAGE_4K)
			memo_set(t, ifetch, va >> 12, ctx, v);
		t->stats.l2_hits++;
		unpack(v, e);
		return VMEM_TLB_HIT_L2;
	}
	if (xcache_lookup(t->l2_1g, va >> vmem_page_shift(VMEM_PAGE_1G), ctx, &v)) {
		xcache_fill(l1[VMEM_PAGE_1G], va >> vmem_page_shift(VMEM_PAGE_1G), ctx, v);
		t->stats.l2_hits++;
		unpack(v, e);
		return VMEM_TLB_HIT_L2;
	}
	return VMEM_TLB_MISS;
}

void vmem_tlb_fill(struct vmem_tlb *t, uint64_t va, uint32_t ctx, bool ifetch,
		   const struct vmem_tlb_entry *e)
{
	struct vmem_xcache *const *l1 = ifetch ? t->l1i : t->l1d;
	uint64_t v;
	unsigned s;

	if (e == NULL || (unsigned)e->size >= VMEM_PAGE_SIZES)
		return;
	s = (unsigned)e->size;
	if (s != VMEM_PAGE_4K)
		t->only_4k = false;
	v = pack(e);
	if (s == VMEM_PAGE_1G)
		xcache_fill(t->l2_1g, va >> vmem_page_shift(VMEM_PAGE_1G), ctx, v);
	else
		xcache_fill(t->l2, l2_key(va, s), ctx, v);
	xcache_fill(l1[s], va >> vmem_page_shift(e->size), ctx, v);
	if (s == VMEM_PAGE_4K)
		memo_set(t, ifetch, va >> 12, ctx, v);
}

void vmem_tlb_invlpg(struct vmem_tlb *t, uint64_t va, uint32_t ctx)
{
	/* The sets of va's 4 KiB page may lose their most recent entry. */
	t->memo[0][(va >> 12) & t->memo_mask[0]].vpn = TLB_MEMO_EMPTY;
	t->memo[1][(va >> 12) & t->memo_mask[1]].vpn = TLB_MEMO_EMPTY;
	for (unsigned s = 0; s < VMEM_PAGE_SIZES; s++) {
		uint64_t vpn = va >> vmem_page_shift((enum vmem_page_size)s);

		vmem_xcache_invalidate(t->l1d[s], vpn, ctx);
		vmem_xcache_invalidate(t->l1i[s], vpn, ctx);
		if (s == VMEM_PAGE_1G)
			vmem_xcache_invalidate(t->l2_1g, vpn, ctx);
		else
			vmem_xcache_invalidate(t->l2, l2_key(va, s), ctx);
	}
	t->stats.invlpgs++;
}

void vmem_tlb_flush_ctx(struct vmem_tlb *t, uint32_t ctx, uint32_t mask)
{
	memo_clear(t, 0);
	memo_clear(t, 1);
	for (unsigned i = 0; i <= TLB_ARR_L2_1G; i++)
		vmem_xcache_flush_ctx(*tlb_array(t, i), ctx, mask);
	t->stats.flushes++;
}

void vmem_tlb_flush_all(struct vmem_tlb *t)
{
	memo_clear(t, 0);
	memo_clear(t, 1);
	for (unsigned i = 0; i <= TLB_ARR_L2_1G; i++)
		vmem_xcache_flush_all(*tlb_array(t, i));
	t->stats.flushes++;
}

int vmem_tlb_enable_mrc(struct vmem_tlb *t, uint32_t max_ways)
{
	if (t == NULL)
		return VMEM_EINVAL;
	for (unsigned i = 0; i <= TLB_ARR_L2_1G; i++) {
		struct vmem_xcache *c = *tlb_array(t, i);
		int err;

		if (vmem_xcache_ways(c) == 0)
			continue;   /* absent: nothing to profile */
		err = vmem_xcache_enable_mrc(c, max_ways);
		if (err)
			return err;
	}
	t->l2_mrc = vmem_xcache_mrc(t->l2);
	if (t->l2_mrc != NULL)
		mrc_set_grouped(t->l2_mrc);
	t->mrc = true;
	for (unsigned k = 0; k < 2; k++) {
		memo_clear(t, k);
		t->memo_on[k] = false;
	}
	return 0;
}

struct vmem_mrc *vmem_tlb_mrc(const struct vmem_tlb *t, enum vmem_tlb_array a)
{
	if (t == NULL || (unsigned)a > TLB_ARR_L2_1G)
		return NULL;
	return vmem_xcache_mrc(*tlb_array((struct vmem_tlb *)t, (unsigned)a));
}

const struct vmem_tlb_stats *vmem_tlb_stats(const struct vmem_tlb *t)
{
	return &t->stats;
}
