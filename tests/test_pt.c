/*
 * Unit tests of the radix page tables (include/vmem/pt.h, libvmem/pt.c): entry encodings
 * bit by bit against the Intel SDM, map/unmap/protect at 4 KiB, 2 MiB and 1 GiB on 4- and
 * 5-level tables in the x86 and EPT formats, the error cases, table-page accounting on
 * sparse address spaces, zap, the frame source and the write observer.
 *
 * Entry layouts used for the expected values:
 *   x86 (SDM Vol. 3A, 4.5, tables 4-15 to 4-20): P bit 0, R/W bit 1, U/S bit 2, A bit 5,
 *     D bit 6, PS bit 7 (in PDPTEs and PDEs: the entry maps a page), XD bit 63,
 *     address bits 51:12.
 *   EPT (SDM Vol. 3C, 29.3.2, tables 29-2 to 29-6): read bit 0, write bit 1, execute
 *     bit 2, EPT memory type bits 5:3 in entries that map a page (6 = write-back,
 *     0 = uncacheable), ignore-PAT bit 6, PS bit 7, A bit 8, D bit 9, address bits 51:12.
 *     Bits 7:3 of an EPT PML4E and bits 6:3 of non-leaf PDPTEs/PDEs are reserved (0).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmem/pt.h"

#define RWXU (VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_EXEC | VMEM_PROT_USER)

/* ---- a frame source that counts and checks every frame it hands out ---- */

#define FS_BASE 0x100u      /* first pfn handed out: table pages at 0x100000 upwards */
#define FS_MAX 65536u

struct fsrc {
	uint64_t allocs, frees;
	uint64_t limit;               /* allocations allowed in all (0: no limit) */
	uint64_t next;                /* next pfn to hand out, relative to FS_BASE */
	unsigned char live[FS_MAX];   /* 1 while the frame is allocated */
	uint64_t bad_frees;           /* frees of frames that were not allocated */
};

static int fs_alloc(void *ctx, uint64_t *pfn)
{
	struct fsrc *f = ctx;

	if ((f->limit && f->allocs >= f->limit) || f->next >= FS_MAX)
		return VMEM_ENOSPACE;
	f->live[f->next] = 1;
	*pfn = FS_BASE + f->next++;
	f->allocs++;
	return 0;
}

static void fs_free(void *ctx, uint64_t pfn)
{
	struct fsrc *f = ctx;

	if (pfn < FS_BASE || pfn - FS_BASE >= FS_MAX || !f->live[pfn - FS_BASE]) {
		f->bad_frees++;
		return;
	}
	f->live[pfn - FS_BASE] = 0;
	f->frees++;
}

static struct fsrc *fs_new(void)
{
	struct fsrc *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	return f;
}

static struct vmem_pt *pt_new(struct fsrc *f, unsigned levels, enum vmem_pt_format fmt)
{
	struct vmem_pt_config cfg = { .levels = levels, .format = fmt };
	struct vmem_frame_source src = { fs_alloc, fs_free, f };
	struct vmem_pt *pt = NULL;

	assert_int_equal(vmem_pt_create(&cfg, &src, &pt), 0);
	assert_non_null(pt);
	return pt;
}

/* ---- an observer that records every write ---- */

struct write_rec {
	uint64_t table_pa, va_base, old_e, new_e;
	unsigned level, index;
};

struct wlog {
	struct write_rec w[64];
	unsigned n;
};

static void wlog_on_write(void *ctx, struct vmem_pt *pt, uint64_t table_pa, uint64_t va_base,
			  unsigned level, unsigned index, uint64_t old_entry, uint64_t new_entry)
{
	struct wlog *l = ctx;

	(void)pt;
	if (l->n < 64)
		l->w[l->n] = (struct write_rec){ table_pa, va_base, old_entry, new_entry, level,
						 index };
	l->n++;
}

static void observe(struct vmem_pt *pt, struct wlog *l)
{
	struct vmem_pt_observer obs = { wlog_on_write, l };

	memset(l, 0, sizeof(*l));
	vmem_pt_set_observer(pt, &obs);
}

/* The entry the last write of a map stored: the leaf. */
static uint64_t map_leaf_entry(struct vmem_pt *pt, uint64_t va, uint64_t pa,
			       enum vmem_page_size size, unsigned prot)
{
	struct wlog l;

	observe(pt, &l);
	assert_int_equal(vmem_pt_map(pt, va, pa, size, prot), 0);
	assert_true(l.n >= 1);
	vmem_pt_set_observer(pt, NULL);
	return l.w[l.n - 1].new_e;
}

/* ================================ encodings ================================ */

static void test_pte_encode_x86_4k_rwx_user_is_0x1234007(void **state)
{
	(void)state;
	/* 0x1234000 | P(1) | RW(2) | US(4) = 0x1234007; XD clear because executable. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0x1234000,
					 VMEM_PTE_P | VMEM_PTE_RW | VMEM_PTE_US), 0x1234007);
	/* Same bits through vmem_prot_to_pte_bits(RWXU). */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0x1234000, vmem_prot_to_pte_bits(RWXU)),
			 0x1234007);
}

static void test_pte_encode_x86_nx_sets_bit63(void **state)
{
	(void)state;
	/* RW user, not executable: XD is bit 63: 0x8000000000000000 | 0x1234007. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0x1234000,
					 vmem_prot_to_pte_bits(VMEM_PROT_READ | VMEM_PROT_WRITE |
							       VMEM_PROT_USER)),
			 0x8000000001234007ull);
}

static void test_pte_encode_x86_flag_bits_at_sdm_positions(void **state)
{
	(void)state;
	/* Read-only user executable: P|US = 0x5. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0x5000,
					 vmem_prot_to_pte_bits(VMEM_PROT_READ | VMEM_PROT_EXEC |
							       VMEM_PROT_USER)), 0x5005);
	/* Supervisor RWX: P|RW = 0x3. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0x5000,
					 vmem_prot_to_pte_bits(VMEM_PROT_READ | VMEM_PROT_WRITE |
							       VMEM_PROT_EXEC)), 0x5003);
	/* A = bit 5 (0x20), D = bit 6 (0x40), PS = bit 7 (0x80): P|A|D|PS = 0xe1. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0x200000,
					 VMEM_PTE_P | VMEM_PTE_A | VMEM_PTE_D | VMEM_PTE_PS),
			 0x2000e1);
	/* Address bits outside 51:12 are dropped: 0xfff0000000000fff & mask = 0. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0xfff0000000000fffull, VMEM_PTE_P), 1);
	/* Highest address bit kept: bit 51. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 1ull << 51, VMEM_PTE_P),
			 (1ull << 51) | 1);
	/* Not present: the whole entry is 0. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_X86, 0x1234000, VMEM_PTE_RW), 0);
}

static void test_pte_decode_x86_roundtrips_every_flag(void **state)
{
	static const unsigned flags[] = { VMEM_PTE_RW, VMEM_PTE_US, VMEM_PTE_A, VMEM_PTE_D,
					  VMEM_PTE_PS, VMEM_PTE_NX };

	(void)state;
	for (unsigned mask = 0; mask < 64; mask++) {
		unsigned bits = VMEM_PTE_P;

		for (unsigned i = 0; i < 6; i++)
			if (mask & (1u << i))
				bits |= flags[i];
		assert_int_equal(vmem_pte_decode(VMEM_PT_X86,
						 vmem_pte_encode(VMEM_PT_X86, 0x77000, bits)),
				 bits);
	}
	/* P clear: nothing else is reported. */
	assert_int_equal(vmem_pte_decode(VMEM_PT_X86, 0x8000000000000066ull), 0);
}

static void test_pte_encode_ept_rwx_is_0x7_and_ad_at_bits_8_9(void **state)
{
	(void)state;
	/* R(1)|W(2)|X(4) = 0x7; vmem_pte_encode writes no memory type (bits 5:3 = 0). */
	assert_int_equal(vmem_pte_encode(VMEM_PT_EPT, 0x1234000, VMEM_PTE_P | VMEM_PTE_RW),
			 0x1234007);
	/* Read-only, execute disabled: R only. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_EPT, 0x1234000, VMEM_PTE_P | VMEM_PTE_NX),
			 0x1234001);
	/* A = bit 8 (0x100), D = bit 9 (0x200), PS = bit 7 (0x80): 0x380 | R|X (0x5). */
	assert_int_equal(vmem_pte_encode(VMEM_PT_EPT, 0x40000000,
					 VMEM_PTE_P | VMEM_PTE_A | VMEM_PTE_D | VMEM_PTE_PS),
			 0x40000385);
	/* US has no EPT bit. */
	assert_int_equal(vmem_pte_encode(VMEM_PT_EPT, 0x1000, VMEM_PTE_P | VMEM_PTE_US),
			 0x1005);
}

static void test_pte_decode_ept_any_of_rwx_is_present_and_us_reported(void **state)
{
	(void)state;
	/* Execute-only (bit 2 alone) is present, read-only-decoded with US set. */
	assert_int_equal(vmem_pte_decode(VMEM_PT_EPT, 0x1004), VMEM_PTE_P | VMEM_PTE_US);
	/* Read only: NX because X is clear. */
	assert_int_equal(vmem_pte_decode(VMEM_PT_EPT, 0x1001),
			 VMEM_PTE_P | VMEM_PTE_US | VMEM_PTE_NX);
	/* R|W|X with memory type WB (0x30), A, D, PS. */
	assert_int_equal(vmem_pte_decode(VMEM_PT_EPT, 0x2003b7),
			 VMEM_PTE_P | VMEM_PTE_US | VMEM_PTE_RW | VMEM_PTE_A | VMEM_PTE_D |
				 VMEM_PTE_PS);
	/* None of R/W/X: not present, whatever else is set. */
	assert_int_equal(vmem_pte_decode(VMEM_PT_EPT, 0x12343b8), 0);
}

static void test_pte_prot_bits_roundtrip_for_every_readable_prot(void **state)
{
	(void)state;
	for (unsigned prot = 0; prot < 16; prot++) {
		unsigned p = prot | VMEM_PROT_READ;

		assert_int_equal(vmem_pte_bits_to_prot(vmem_prot_to_pte_bits(p)), p);
	}
	assert_int_equal(vmem_pte_bits_to_prot(0), 0);
}

static void test_pt_map_x86_leaves_written_bit_exact(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);

	(void)state;
	/* 4 KiB RWX user at 0x1234000: 0x1234007 (see the encode test). */
	assert_int_equal(map_leaf_entry(pt, 0x400000, 0x1234000, VMEM_PAGE_4K, RWXU), 0x1234007);
	/* 4 KiB RW user, no exec: XD bit 63 set. */
	assert_int_equal(map_leaf_entry(pt, 0x401000, 0x1235000, VMEM_PAGE_4K,
					VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_USER),
			 0x8000000001235007ull);
	/* 2 MiB RWX user at pa 0x40000000: 0x40000000 | PS(0x80) | 0x7 = 0x40000087. */
	assert_int_equal(map_leaf_entry(pt, 0x40000000, 0x40000000, VMEM_PAGE_2M, RWXU),
			 0x40000087);
	/* 1 GiB RWX user at pa 0x80000000: 0x80000087. */
	assert_int_equal(map_leaf_entry(pt, 0x8000000000ull, 0x80000000, VMEM_PAGE_1G, RWXU),
			 0x80000087);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_map_ept_leaves_carry_writeback_memtype(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_EPT);

	(void)state;
	/*
	 * pt.c documents EPT leaves as memory type 6 (write-back) in bits 5:3: 6 << 3 = 0x30.
	 * SDM Vol. 3C, table 29-6: bits 5:3 of an EPT PTE are the page's memory type; 0 would
	 * make guest RAM uncacheable. 4 KiB R|W|X at 0x1234000: 0x1234000 | 0x30 | 0x7.
	 */
	assert_int_equal(map_leaf_entry(pt, 0x1000, 0x1234000, VMEM_PAGE_4K, RWXU), 0x1234037);
	/* Read-only, no execute: R (0x1) | WB (0x30). */
	assert_int_equal(map_leaf_entry(pt, 0x2000, 0x5000, VMEM_PAGE_4K,
					VMEM_PROT_READ | VMEM_PROT_USER), 0x5031);
	/* 2 MiB R|W|X: PS (0x80) | WB (0x30) | 0x7 = 0xb7. */
	assert_int_equal(map_leaf_entry(pt, 0x200000, 0x600000, VMEM_PAGE_2M, RWXU), 0x6000b7);
	/* 1 GiB likewise. */
	assert_int_equal(map_leaf_entry(pt, 0x40000000, 0xc0000000, VMEM_PAGE_1G, RWXU),
			 0xc00000b7);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_protect_ept_leaf_keeps_memtype_and_ps(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_EPT);
	struct wlog l;

	(void)state;
	assert_int_equal(vmem_pt_map(pt, 0x200000, 0x600000, VMEM_PAGE_2M, RWXU), 0);
	observe(pt, &l);
	assert_int_equal(vmem_pt_protect(pt, 0x200000, VMEM_PROT_READ), 0);
	assert_int_equal(l.n, 1);
	/* R (0x1) | WB (0x30) | PS (0x80) = 0xb1. */
	assert_int_equal(l.w[0].old_e, 0x6000b7);
	assert_int_equal(l.w[0].new_e, 0x6000b1);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_table_entries_grant_everything_in_both_formats(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt;
	struct wlog l;

	(void)state;
	for (int fmt = 0; fmt < 2; fmt++) {
		pt = pt_new(f, 4, (enum vmem_pt_format)fmt);
		observe(pt, &l);
		assert_int_equal(vmem_pt_map(pt, 0x400000, 0x9000, VMEM_PAGE_4K,
					     VMEM_PROT_READ), 0);
		/* Three table-pointer writes (PML4E, PDPTE, PDE), then the leaf. Each pointer
		 * is the child's address | 0x7: x86 P|RW|US, EPT R|W|X; nothing else (XD and
		 * the EPT bits 7:3 clear). The child's address is the next write's table_pa. */
		assert_int_equal(l.n, 4);
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(l.w[i].new_e, l.w[i + 1].table_pa | 0x7);
		vmem_pt_destroy(pt);
	}
	free(f);
}

/* ====================== map / unmap / protect per size ====================== */

/* For each page size: map, look up inside the page, protect, unmap; check each step. */
static void map_cycle(unsigned levels, enum vmem_pt_format fmt)
{
	/* Addresses in the upper half of the canonical space too (sign-extended). */
	const uint64_t top = levels == 5 ? 0xff5a000000000000ull : 0xffff9a0000000000ull;
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, levels, fmt);

	for (unsigned s = 0; s < VMEM_PAGE_SIZES; s++) {
		enum vmem_page_size size = (enum vmem_page_size)s;
		uint64_t bytes = vmem_page_bytes(size);
		uint64_t va = top + 7 * (1ull << 30) + (s + 1) * bytes * 4;
		uint64_t pa = 0x5000000000ull + s * (1ull << 30);
		uint64_t off = bytes - 8;
		struct vmem_pt_leaf leaf;
		unsigned lvl = 0;

		va &= ~(bytes - 1);
		assert_int_equal(vmem_pt_map(pt, va, pa, size,
					     VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_USER), 0);
		assert_int_equal(vmem_pt_lookup(pt, va + off, &leaf, NULL), 0);
		assert_int_equal(leaf.pa, pa + off);
		assert_int_equal(leaf.size, size);
		/* EPT has no user bit and reports it set: RWU in both formats. */
		assert_int_equal(leaf.prot, VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_USER);
		assert_int_equal(!!(leaf.bits & VMEM_PTE_PS), size != VMEM_PAGE_4K);

		assert_int_equal(vmem_pt_protect(pt, va + 16, VMEM_PROT_READ | VMEM_PROT_EXEC |
							       VMEM_PROT_USER), 0);
		assert_int_equal(vmem_pt_lookup(pt, va, &leaf, NULL), 0);
		assert_int_equal(leaf.prot, VMEM_PROT_READ | VMEM_PROT_EXEC | VMEM_PROT_USER);
		assert_int_equal(leaf.size, size);     /* PS kept by protect */
		assert_int_equal(leaf.pa, pa);

		assert_int_equal(vmem_pt_unmap(pt, va + off), 0);
		assert_int_equal(vmem_pt_lookup(pt, va, &leaf, &lvl), VMEM_ENOENT);
		/* The leaf's own table reports the missing entry. */
		assert_int_equal(lvl, s + 1);
		assert_int_equal(vmem_pt_unmap(pt, va), VMEM_ENOENT);
		assert_int_equal(vmem_pt_protect(pt, va, VMEM_PROT_READ), VMEM_ENOENT);
	}
	vmem_pt_destroy(pt);
	assert_int_equal(f->allocs, f->frees);
	free(f);
}

static void test_pt_map_cycle_x86_4level_all_sizes_roundtrip(void **state)
{
	(void)state;
	map_cycle(4, VMEM_PT_X86);
}

static void test_pt_map_cycle_x86_5level_all_sizes_roundtrip(void **state)
{
	(void)state;
	map_cycle(5, VMEM_PT_X86);
}

static void test_pt_map_cycle_ept_4level_all_sizes_roundtrip(void **state)
{
	(void)state;
	map_cycle(4, VMEM_PT_EPT);
}

static void test_pt_map_cycle_ept_5level_all_sizes_roundtrip(void **state)
{
	(void)state;
	map_cycle(5, VMEM_PT_EPT);
}

static void test_pt_lookup_inside_large_pages_returns_pa_plus_offset(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);
	struct vmem_pt_leaf leaf;

	(void)state;
	assert_int_equal(vmem_pt_map(pt, 0x40000000, 0x7fe00000, VMEM_PAGE_2M, RWXU), 0);
	/* 0x40000000 + 0x12345 -> 0x7fe00000 + 0x12345 = 0x7fe12345. */
	assert_int_equal(vmem_pt_lookup(pt, 0x40012345, &leaf, NULL), 0);
	assert_int_equal(leaf.pa, 0x7fe12345);
	assert_int_equal(leaf.size, VMEM_PAGE_2M);
	/* Last byte: + 0x1fffff. */
	assert_int_equal(vmem_pt_lookup(pt, 0x401fffff, &leaf, NULL), 0);
	assert_int_equal(leaf.pa, 0x7fffffff);
	assert_int_equal(vmem_pt_map(pt, 0x80000000, 0x1c0000000ull, VMEM_PAGE_1G, RWXU), 0);
	/* 0x80000000 + 0x2345678 -> 0x1c0000000 + 0x2345678 = 0x1c2345678. */
	assert_int_equal(vmem_pt_lookup(pt, 0x82345678, &leaf, NULL), 0);
	assert_int_equal(leaf.pa, 0x1c2345678ull);
	assert_int_equal(leaf.size, VMEM_PAGE_1G);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_lookup_missing_reports_level_of_empty_entry(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);
	struct vmem_pt_leaf leaf;
	const uint64_t va = 0x7f1234567000ull;
	unsigned lvl = 99;

	(void)state;
	/* Empty table: the root (level 4) entry is missing. */
	assert_int_equal(vmem_pt_lookup(pt, va, &leaf, &lvl), VMEM_ENOENT);
	assert_int_equal(lvl, 4);
	assert_int_equal(vmem_pt_map(pt, va, 0x3000, VMEM_PAGE_4K, RWXU), 0);
	/* Same PT, next page: level 1 entry missing. */
	assert_int_equal(vmem_pt_lookup(pt, va + 0x1000, &leaf, &lvl), VMEM_ENOENT);
	assert_int_equal(lvl, 1);
	/* Next 2 MiB region: va's PD index is 0x1a2 (not the last), so the same PD: level 2. */
	assert_int_equal(vmem_pt_lookup(pt, va + (2ull << 20), &leaf, &lvl), VMEM_ENOENT);
	assert_int_equal(lvl, 2);
	/* Next 1 GiB region (PDPT index 0x48 + 1, same PDPT): level 3. */
	assert_int_equal(vmem_pt_lookup(pt, va + (1ull << 30), &leaf, &lvl), VMEM_ENOENT);
	assert_int_equal(lvl, 3);
	/* A different 512 GiB region: root entry missing, level 4. */
	assert_int_equal(vmem_pt_lookup(pt, va - (512ull << 30), &leaf, &lvl), VMEM_ENOENT);
	assert_int_equal(lvl, 4);
	vmem_pt_destroy(pt);
	free(f);
}

/* ================================ errors ================================ */

static void test_pt_map_4k_under_2m_leaf_is_eexist(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);
	uint64_t pages;

	(void)state;
	assert_int_equal(vmem_pt_map(pt, 0x40000000, 0x200000, VMEM_PAGE_2M, RWXU), 0);
	pages = vmem_pt_table_pages(pt);
	assert_int_equal(vmem_pt_map(pt, 0x40003000, 0x9000, VMEM_PAGE_4K, RWXU), VMEM_EEXIST);
	/* No table page created below the 2 MiB leaf. */
	assert_int_equal(vmem_pt_table_pages(pt), pages);
	assert_false(vmem_pt_has_table(pt, 0x40003000, 1));
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_map_2m_over_existing_pt_is_eexist(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_EPT);
	struct vmem_pt_leaf leaf;

	(void)state;
	assert_int_equal(vmem_pt_map(pt, 0x40003000, 0x9000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt, 0x40000000, 0x200000, VMEM_PAGE_2M, RWXU), VMEM_EEXIST);
	/* Also after the only 4 KiB page is unmapped: the (empty) PT is kept. */
	assert_int_equal(vmem_pt_unmap(pt, 0x40003000), 0);
	assert_true(vmem_pt_has_table(pt, 0x40000000, 1));
	assert_int_equal(vmem_pt_map(pt, 0x40000000, 0x200000, VMEM_PAGE_2M, RWXU), VMEM_EEXIST);
	assert_int_equal(vmem_pt_lookup(pt, 0x40000000, &leaf, NULL), VMEM_ENOENT);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_map_overlaps_of_every_kind_are_eexist(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 5, VMEM_PT_X86);

	(void)state;
	/* Same 4 KiB page twice. */
	assert_int_equal(vmem_pt_map(pt, 0x1000, 0x1000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt, 0x1000, 0x2000, VMEM_PAGE_4K, RWXU), VMEM_EEXIST);
	/* 1 GiB where a PD exists (0..1 GiB holds the PD of page 0x1000). */
	assert_int_equal(vmem_pt_map(pt, 0, 0x40000000, VMEM_PAGE_1G, RWXU), VMEM_EEXIST);
	/* 2 MiB and 4 KiB under a 1 GiB leaf. */
	assert_int_equal(vmem_pt_map(pt, 0x80000000, 0x40000000, VMEM_PAGE_1G, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt, 0x80200000, 0x200000, VMEM_PAGE_2M, RWXU), VMEM_EEXIST);
	assert_int_equal(vmem_pt_map(pt, 0xbffff000, 0x3000, VMEM_PAGE_4K, RWXU), VMEM_EEXIST);
	/* The same 1 GiB again. */
	assert_int_equal(vmem_pt_map(pt, 0x80000000, 0x80000000, VMEM_PAGE_1G, RWXU),
			 VMEM_EEXIST);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_map_noncanonical_is_erange(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt4 = pt_new(f, 4, VMEM_PT_X86);
	struct vmem_pt *pt5 = pt_new(f, 5, VMEM_PT_EPT);
	struct vmem_pt_leaf leaf;

	(void)state;
	/* 48-bit: bit 47 set without bits 63:48 is not canonical; nor the reverse. */
	assert_int_equal(vmem_pt_map(pt4, 0x0000800000000000ull, 0, VMEM_PAGE_4K, RWXU),
			 VMEM_ERANGE);
	assert_int_equal(vmem_pt_map(pt4, 0xffff7ffffffff000ull, 0, VMEM_PAGE_4K, RWXU),
			 VMEM_ERANGE);
	assert_int_equal(vmem_pt_lookup(pt4, 0x0000800000000000ull, &leaf, NULL), VMEM_ERANGE);
	/* Both halves' edges are canonical. */
	assert_int_equal(vmem_pt_map(pt4, 0x00007ffffffff000ull, 0, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt4, 0xffff800000000000ull, 0, VMEM_PAGE_4K, RWXU), 0);
	/* 57-bit: 0x0000800000000000 is fine, bit 56 alone is not. */
	assert_int_equal(vmem_pt_map(pt5, 0x0000800000000000ull, 0, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt5, 0x0100000000000000ull, 0, VMEM_PAGE_4K, RWXU),
			 VMEM_ERANGE);
	assert_int_equal(vmem_pt_map(pt5, 0xff00000000000000ull, 0, VMEM_PAGE_2M, RWXU), 0);
	assert_int_equal(vmem_pt_lookup(pt5, 0xff00000000000123ull, &leaf, NULL), 0);
	assert_int_equal(leaf.pa, 0x123);
	vmem_pt_destroy(pt4);
	vmem_pt_destroy(pt5);
	free(f);
}

static void test_pt_map_misaligned_is_einval(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);

	(void)state;
	assert_int_equal(vmem_pt_map(pt, 0x1800, 0x1000, VMEM_PAGE_4K, RWXU), VMEM_EINVAL);
	assert_int_equal(vmem_pt_map(pt, 0x1000, 0x1800, VMEM_PAGE_4K, RWXU), VMEM_EINVAL);
	assert_int_equal(vmem_pt_map(pt, 0x201000, 0x200000, VMEM_PAGE_2M, RWXU), VMEM_EINVAL);
	assert_int_equal(vmem_pt_map(pt, 0x200000, 0x201000, VMEM_PAGE_2M, RWXU), VMEM_EINVAL);
	assert_int_equal(vmem_pt_map(pt, 0x40000000, 0x200000, VMEM_PAGE_1G, RWXU), VMEM_EINVAL);
	assert_int_equal(vmem_pt_map(pt, 0, 0, VMEM_PAGE_SIZES, RWXU), VMEM_EINVAL);
	/* Nothing was created by the failed calls. */
	assert_int_equal(vmem_pt_table_pages(pt), 1);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_create_bad_levels_or_source_is_einval(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt_config cfg = { .levels = 3, .format = VMEM_PT_X86 };
	struct vmem_frame_source src = { fs_alloc, fs_free, f };
	struct vmem_frame_source nofree = { fs_alloc, NULL, f };
	struct vmem_pt *pt = (struct vmem_pt *)1;

	(void)state;
	assert_int_equal(vmem_pt_create(&cfg, &src, &pt), VMEM_EINVAL);
	assert_null(pt);
	cfg.levels = 6;
	assert_int_equal(vmem_pt_create(&cfg, &src, &pt), VMEM_EINVAL);
	cfg.levels = 4;
	assert_int_equal(vmem_pt_create(&cfg, &nofree, &pt), VMEM_EINVAL);
	assert_int_equal(vmem_pt_create(&cfg, NULL, &pt), VMEM_EINVAL);
	assert_int_equal(f->allocs, 0);
	free(f);
}

static void test_pt_map_with_exhausted_source_is_enospace(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt;
	struct vmem_pt_leaf leaf;

	(void)state;
	/* Root + one more page: a 4 KiB map needs three more (PDPT, PD, PT). */
	f->limit = 2;
	pt = pt_new(f, 4, VMEM_PT_X86);
	assert_int_equal(vmem_pt_map(pt, 0x1000, 0x1000, VMEM_PAGE_4K, RWXU), VMEM_ENOSPACE);
	assert_int_equal(vmem_pt_lookup(pt, 0x1000, &leaf, NULL), VMEM_ENOENT);
	/* The PDPT that was made stays in the tree: 2 pages, all accounted for. */
	assert_int_equal(vmem_pt_table_pages(pt), 2);
	/* More frames: the map completes with the two missing tables. */
	f->limit = 0;
	assert_int_equal(vmem_pt_map(pt, 0x1000, 0x1000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_table_pages(pt), 4);
	vmem_pt_destroy(pt);
	assert_int_equal(f->allocs, 4);
	assert_int_equal(f->frees, 4);
	free(f);
}

/* ============================ table accounting ============================ */

static void test_pt_first_4k_map_in_empty_4level_creates_three_tables(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);

	(void)state;
	assert_int_equal(vmem_pt_table_pages(pt), 1);          /* the root */
	assert_int_equal(vmem_pt_root(pt), FS_BASE << 12);     /* first frame handed out */
	assert_int_equal(vmem_pt_map(pt, 0x7f0000001000ull, 0x1000, VMEM_PAGE_4K, RWXU), 0);
	/* PDPT + PD + PT = 3 new, 4 with the root; the source handed out 4 frames. */
	assert_int_equal(vmem_pt_table_pages(pt), 4);
	assert_int_equal(f->allocs, 4);
	/* A second page in the same PT needs nothing new. */
	assert_int_equal(vmem_pt_map(pt, 0x7f0000002000ull, 0x2000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_table_pages(pt), 4);
	for (unsigned l = 1; l <= 4; l++)
		assert_true(vmem_pt_has_table(pt, 0x7f0000001000ull, l));
	assert_false(vmem_pt_has_table(pt, 0x7f0000201000ull, 1));
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_first_map_per_size_and_depth_creates_path_tables(void **state)
{
	(void)state;
	for (unsigned levels = 4; levels <= 5; levels++) {
		for (unsigned s = 0; s < VMEM_PAGE_SIZES; s++) {
			struct fsrc *f = fs_new();
			struct vmem_pt *pt = pt_new(f, levels, VMEM_PT_X86);

			assert_int_equal(vmem_pt_map(pt, 0x40000000, 0x40000000,
						     (enum vmem_page_size)s, RWXU), 0);
			/* Tables from the root down to the leaf's level (s + 1):
			 * levels - s pages: 4,3,2 (4-level) and 5,4,3 (5-level). */
			assert_int_equal(vmem_pt_table_pages(pt), levels - s);
			vmem_pt_destroy(pt);
			assert_int_equal(f->frees, levels - s);
			free(f);
		}
	}
}

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Number of distinct values of (v[i] & mask) >> shift. */
static uint64_t distinct(const uint64_t *v, size_t n, uint64_t mask, unsigned shift)
{
	uint64_t *t = malloc(n * sizeof(*t)), d = 0;

	assert_non_null(t);
	for (size_t i = 0; i < n; i++)
		t[i] = (v[i] & mask) >> shift;
	qsort(t, n, sizeof(*t), cmp_u64);
	for (size_t i = 0; i < n; i++)
		d += i == 0 || t[i] != t[i - 1];
	free(t);
	return d;
}

/*
 * Maps n distinct random 4 KiB pages over the whole canonical space (both halves), half
 * uniformly scattered, half clustered in a few 8 MiB windows; checks every translation
 * and that the table pages are exactly the ones the paths need: one per distinct prefix
 * at each level above the leaves, plus the root.
 */
static void sparse_check(unsigned levels)
{
	const unsigned bits = 12 + 9 * levels;
	const uint64_t mask = (bits == 64 ? ~0ull : (1ull << bits) - 1);
	const size_t n = 4000;
	uint64_t *va = malloc(n * sizeof(*va)), seed = 42 + levels, want = 1;
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, levels, VMEM_PT_X86);
	size_t got = 0;

	assert_non_null(va);
	while (got < n) {
		uint64_t r = next_rand(&seed), v;
		int rc;

		if (got % 2)
			v = r & mask & ~0xfffull;                      /* anywhere */
		else
			v = ((r % 5) << (bits - 4)) | (next_rand(&seed) & 0x7ff000);  /* clusters */
		/* Sign-extend from bit (bits - 1): a canonical address. */
		v = (uint64_t)((int64_t)(v << (64 - bits)) >> (64 - bits));
		rc = vmem_pt_map(pt, v, (uint64_t)got << 12, VMEM_PAGE_4K, RWXU);
		if (rc == VMEM_EEXIST)
			continue;                                     /* drawn twice */
		assert_int_equal(rc, 0);
		va[got++] = v;
	}
	for (size_t i = 0; i < n; i++) {
		struct vmem_pt_leaf leaf;

		assert_int_equal(vmem_pt_lookup(pt, va[i] + 0x10, &leaf, NULL), 0);
		assert_int_equal(leaf.pa, ((uint64_t)i << 12) + 0x10);
	}
	/* The entry at level L (L = 2..levels) on a path points to one table page per
	 * distinct value of va >> vmem_level_shift(L) (on the address truncated to the table's
	 * width): PTs per va >> 21, PDs per va >> 30, PDPTs per va >> 39 and, with 5 levels,
	 * PML4s per va >> 48; plus the root. */
	for (unsigned l = 2; l <= levels; l++)
		want += distinct(va, n, mask, vmem_level_shift(l));
	assert_int_equal(vmem_pt_table_pages(pt), want);
	assert_int_equal(f->allocs - f->frees, want);
	vmem_pt_destroy(pt);
	assert_int_equal(f->allocs, f->frees);
	assert_int_equal(f->bad_frees, 0);
	free(f);
	free(va);
}

static void test_pt_sparse_4000_pages_4level_tables_match_distinct_prefixes(void **state)
{
	(void)state;
	sparse_check(4);
}

static void test_pt_sparse_4000_pages_5level_tables_match_distinct_prefixes(void **state)
{
	(void)state;
	sparse_check(5);
}

/* ================================ zap ================================ */

static void test_pt_zap_frees_subtree_and_returns_count(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);
	struct vmem_pt_leaf leaf;
	unsigned lvl;

	(void)state;
	/*
	 * Pages 0x40000000 (PDPT index 1, PD "B", PT "A"), 0x40200000 and 0x40201000 (PD B,
	 * PT "B2"), 0x1000 (PDPT index 0, PD "Z", PT "Z"). Tables: root, PDPT, PD B, PD Z,
	 * PT A, PT B2, PT Z = 7.
	 */
	assert_int_equal(vmem_pt_map(pt, 0x40000000, 0x1000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt, 0x40200000, 0x2000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt, 0x40201000, 0x3000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_map(pt, 0x1000, 0x4000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(vmem_pt_table_pages(pt), 7);
	/* Zap the PDPTE of 1G..2G: frees PD B, PT A and PT B2 = 3. */
	assert_int_equal(vmem_pt_zap(pt, 0x40000000, 3), 3);
	assert_int_equal(vmem_pt_table_pages(pt), 4);
	assert_int_equal(f->frees, 3);
	assert_int_equal(vmem_pt_lookup(pt, 0x40201000, &leaf, &lvl), VMEM_ENOENT);
	assert_int_equal(lvl, 3);
	assert_int_equal(vmem_pt_lookup(pt, 0x1000, &leaf, NULL), 0);    /* untouched */
	/* Zap the same entry again: empty, 0. */
	assert_int_equal(vmem_pt_zap(pt, 0x40000000, 3), 0);
	/* Zap the root entry: PDPT, PD Z and PT Z = 3; only the root is left. */
	assert_int_equal(vmem_pt_zap(pt, 0x1000, 4), 3);
	assert_int_equal(vmem_pt_table_pages(pt), 1);
	assert_int_equal(f->frees, 6);
	vmem_pt_destroy(pt);
	assert_int_equal(f->frees, 7);
	assert_int_equal(f->bad_frees, 0);
	free(f);
}

static void test_pt_zap_of_leaf_or_missing_table_returns_zero(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);
	struct vmem_pt_leaf leaf;

	(void)state;
	assert_int_equal(vmem_pt_map(pt, 0x600000, 0x200000, VMEM_PAGE_2M, RWXU), 0);
	/* A leaf entry: cleared, no table freed. */
	assert_int_equal(vmem_pt_zap(pt, 0x600000, 2), 0);
	assert_int_equal(vmem_pt_lookup(pt, 0x600000, &leaf, NULL), VMEM_ENOENT);
	assert_int_equal(vmem_pt_table_pages(pt), 3);
	/* No level-1 table on the path: nothing to zap. */
	assert_int_equal(vmem_pt_zap(pt, 0x600000, 1), 0);
	/* No level-2 table in another 512 GiB region. */
	assert_int_equal(vmem_pt_zap(pt, 0x7f0000000000ull, 2), 0);
	assert_int_equal(f->frees, 0);
	vmem_pt_destroy(pt);
	free(f);
}

static void test_pt_destroy_returns_every_frame_to_source(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 5, VMEM_PT_EPT);
	uint64_t s = 7;

	(void)state;
	for (unsigned i = 0; i < 300; i++) {
		uint64_t va = next_rand(&s) & 0x00fffffffffff000ull;   /* 57-bit lower half */
		int rc;

		if (i % 3 == 0)
			rc = vmem_pt_map(pt, va & ~0x1fffffull, 0, VMEM_PAGE_2M, RWXU);
		else
			rc = vmem_pt_map(pt, va, 0x1000, VMEM_PAGE_4K, RWXU);
		assert_true(rc == 0 || rc == VMEM_EEXIST);
	}
	/* Root plus at least one PML4, PDPT and PD per page that landed alone. */
	assert_true(f->allocs > 300);
	assert_int_equal(f->allocs - f->frees, vmem_pt_table_pages(pt));
	vmem_pt_destroy(pt);
	/* Every frame handed out came back, each exactly once. */
	assert_int_equal(f->frees, f->allocs);
	assert_int_equal(f->bad_frees, 0);
	for (unsigned i = 0; i < f->next; i++)
		assert_int_equal(f->live[i], 0);
	free(f);
}

/* ============================== observer ============================== */

static void test_pt_observer_sees_map_writes_top_down_with_level_index_base(void **state)
{
	struct fsrc *f = fs_new();
	struct vmem_pt *pt = pt_new(f, 4, VMEM_PT_X86);
	/* Upper half: indices L4 = 0x1fe, L3 = 0x048, L2 = 0x1a2, L1 = 0x167. */
	const uint64_t va = 0xffffff1234567000ull;
	struct wlog l;

	(void)state;
	assert_int_equal(vmem_pt_index(va, 4), 0x1fe);
	assert_int_equal(vmem_pt_index(va, 3), 0x048);
	assert_int_equal(vmem_pt_index(va, 2), 0x1a2);
	assert_int_equal(vmem_pt_index(va, 1), 0x167);
	observe(pt, &l);
	assert_int_equal(vmem_pt_map(pt, va, 0xabc000, VMEM_PAGE_4K, RWXU), 0);
	assert_int_equal(l.n, 4);
	/* Root: table_pa = root, maps the whole space from 0. */
	assert_int_equal(l.w[0].level, 4);
	assert_int_equal(l.w[0].index, 0x1fe);
	assert_int_equal(l.w[0].va_base, 0);
	assert_int_equal(l.w[0].table_pa, vmem_pt_root(pt));
	/* PDPT: va_base = va & ~(2^39 - 1) = 0xffffff0000000000 (sign-extended). */
	assert_int_equal(l.w[1].level, 3);
	assert_int_equal(l.w[1].index, 0x048);
	assert_int_equal(l.w[1].va_base, 0xffffff0000000000ull);
	/* PD: va & ~(2^30 - 1) = 0xffffff1200000000. */
	assert_int_equal(l.w[2].level, 2);
	assert_int_equal(l.w[2].index, 0x1a2);
	assert_int_equal(l.w[2].va_base, 0xffffff1200000000ull);
	/* PT: va & ~(2^21 - 1) = 0xffffff1234400000. */
	assert_int_equal(l.w[3].level, 1);
	assert_int_equal(l.w[3].index, 0x167);
	assert_int_equal(l.w[3].va_base, 0xffffff1234400000ull);
	assert_int_equal(l.w[3].new_e, 0xabc007);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(l.w[i].old_e, 0);
	/* Tables were handed out in the order they were made: PDPT, PD, PT. */
	assert_int_equal(l.w[1].table_pa, (FS_BASE + 1) << 12);
	assert_int_equal(l.w[2].table_pa, (FS_BASE + 2) << 12);
	assert_int_equal(l.w[3].table_pa, (FS_BASE + 3) << 12);

	/* Protect: one write, old leaf -> read-only NX leaf (XD | P | US). */
	l.n = 0;
	assert_int_equal(vmem_pt_protect(pt, va, VMEM_PROT_READ | VMEM_PROT_USER), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.w[0].level, 1);
	assert_int_equal(l.w[0].index, 0x167);
	assert_int_equal(l.w[0].old_e, 0xabc007);
	assert_int_equal(l.w[0].new_e, 0x8000000000abc005ull);
	/* Unmap: one write to 0. */
	l.n = 0;
	assert_int_equal(vmem_pt_unmap(pt, va), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.w[0].old_e, 0x8000000000abc005ull);
	assert_int_equal(l.w[0].new_e, 0);
	/* Zap of the PML4E: one write at the root; the freed pages are not written. */
	l.n = 0;
	assert_int_equal(vmem_pt_zap(pt, va, 4), 3);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.w[0].level, 4);
	assert_int_equal(l.w[0].index, 0x1fe);
	assert_int_equal(l.w[0].old_e, ((FS_BASE + 1) << 12) | 0x7);
	assert_int_equal(l.w[0].new_e, 0);
	/* Failed calls write nothing. */
	l.n = 0;
	assert_int_equal(vmem_pt_unmap(pt, va), VMEM_ENOENT);
	assert_int_equal(vmem_pt_map(pt, va + 1, 0, VMEM_PAGE_4K, RWXU), VMEM_EINVAL);
	assert_int_equal(l.n, 0);
	vmem_pt_destroy(pt);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pte_encode_x86_4k_rwx_user_is_0x1234007),
		cmocka_unit_test(test_pte_encode_x86_nx_sets_bit63),
		cmocka_unit_test(test_pte_encode_x86_flag_bits_at_sdm_positions),
		cmocka_unit_test(test_pte_decode_x86_roundtrips_every_flag),
		cmocka_unit_test(test_pte_encode_ept_rwx_is_0x7_and_ad_at_bits_8_9),
		cmocka_unit_test(test_pte_decode_ept_any_of_rwx_is_present_and_us_reported),
		cmocka_unit_test(test_pte_prot_bits_roundtrip_for_every_readable_prot),
		cmocka_unit_test(test_pt_map_x86_leaves_written_bit_exact),
		cmocka_unit_test(test_pt_map_ept_leaves_carry_writeback_memtype),
		cmocka_unit_test(test_pt_protect_ept_leaf_keeps_memtype_and_ps),
		cmocka_unit_test(test_pt_table_entries_grant_everything_in_both_formats),
		cmocka_unit_test(test_pt_map_cycle_x86_4level_all_sizes_roundtrip),
		cmocka_unit_test(test_pt_map_cycle_x86_5level_all_sizes_roundtrip),
		cmocka_unit_test(test_pt_map_cycle_ept_4level_all_sizes_roundtrip),
		cmocka_unit_test(test_pt_map_cycle_ept_5level_all_sizes_roundtrip),
		cmocka_unit_test(test_pt_lookup_inside_large_pages_returns_pa_plus_offset),
		cmocka_unit_test(test_pt_lookup_missing_reports_level_of_empty_entry),
		cmocka_unit_test(test_pt_map_4k_under_2m_leaf_is_eexist),
		cmocka_unit_test(test_pt_map_2m_over_existing_pt_is_eexist),
		cmocka_unit_test(test_pt_map_overlaps_of_every_kind_are_eexist),
		cmocka_unit_test(test_pt_map_noncanonical_is_erange),
		cmocka_unit_test(test_pt_map_misaligned_is_einval),
		cmocka_unit_test(test_pt_create_bad_levels_or_source_is_einval),
		cmocka_unit_test(test_pt_map_with_exhausted_source_is_enospace),
		cmocka_unit_test(test_pt_first_4k_map_in_empty_4level_creates_three_tables),
		cmocka_unit_test(test_pt_first_map_per_size_and_depth_creates_path_tables),
		cmocka_unit_test(test_pt_sparse_4000_pages_4level_tables_match_distinct_prefixes),
		cmocka_unit_test(test_pt_sparse_4000_pages_5level_tables_match_distinct_prefixes),
		cmocka_unit_test(test_pt_zap_frees_subtree_and_returns_count),
		cmocka_unit_test(test_pt_zap_of_leaf_or_missing_table_returns_zero),
		cmocka_unit_test(test_pt_destroy_returns_every_frame_to_source),
		cmocka_unit_test(test_pt_observer_sees_map_writes_top_down_with_level_index_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
