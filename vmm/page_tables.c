/*
 * 4-level page tables in guest memory (page_tables.h).
 */
#include "page_tables.h"

#include <string.h>

#define PTE_P   0x1ull
#define PTE_RW  0x2ull
#define PTE_US  0x4ull
#define PTE_PS  0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define PAGE 4096ull

uint64_t vmm_page_tables_pages_for(uint64_t bytes)
{
	/* Page tables (one per 2 MiB), page directories (one per 1 GiB), PDPTs (one per
	 * 512 GiB), each plus one for a range that straddles a boundary. */
	return (bytes >> 21) + 1 + (bytes >> 30) + 1 + (bytes >> 39) + 1;
}

static uint64_t *table(struct vmm_page_tables *pt, uint64_t gpa)
{
	return (uint64_t *)(pt->hva + (gpa - pt->gpa));
}

/* A zeroed table page's guest-physical address, or 0 when the area is full. */
static uint64_t alloc_table(struct vmm_page_tables *pt)
{
	uint64_t gpa;

	if (pt->used + PAGE > pt->bytes)
		return 0;
	gpa = pt->gpa + pt->used;
	pt->used += PAGE;
	memset(table(pt, gpa), 0, PAGE);
	return gpa;
}

int vmm_page_tables_init(struct vmm_page_tables *pt, void *hva, uint64_t gpa, uint64_t bytes)
{
	pt->hva = hva;
	pt->gpa = gpa;
	pt->bytes = bytes;
	pt->used = 0;
	pt->pml4 = alloc_table(pt);
	return pt->pml4 ? 0 : -1;
}

/* The table an entry points to, made when missing; 0 when full or the entry is a leaf. */
static uint64_t next_level(struct vmm_page_tables *pt, uint64_t *entry)
{
	uint64_t gpa;

	if (*entry & PTE_P)
		return (*entry & PTE_PS) ? 0 : (*entry & PTE_ADDR);
	gpa = alloc_table(pt);
	if (gpa)
		*entry = gpa | PTE_P | PTE_RW | PTE_US;
	return gpa;
}

int vmm_page_tables_map(struct vmm_page_tables *pt, uint64_t gva, uint64_t gpa, uint64_t len,
			bool huge_2m)
{
	uint64_t leaf = huge_2m ? (2ull << 20) : PAGE;

	if ((gva | gpa | len) & (leaf - 1))
		return -1;
	for (uint64_t off = 0; off < len; off += leaf) {
		uint64_t va = gva + off, t = pt->pml4;
		int last = huge_2m ? 2 : 1;

		for (int level = 4; level > last; level--) {
			uint64_t *e = &table(pt, t)[(va >> (12 + 9 * (level - 1))) & 511];

			t = next_level(pt, e);
			if (!t)
				return -1;
		}
		uint64_t *e = &table(pt, t)[(va >> (12 + 9 * (last - 1))) & 511];

		if (*e & PTE_P)
			return -1;
		*e = (gpa + off) | PTE_P | PTE_RW | PTE_US | (huge_2m ? PTE_PS : 0);
	}
	return 0;
}
