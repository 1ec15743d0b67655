/*
 * x86-64 4-level page tables built in guest memory by the VMM (Intel SDM vol. 3A, 4.5;
 * AMD APM vol. 2, 5.3). Every entry is present, writable and user (the U bit at every
 * level: the guest runs at CPL3); leaves are 4 KiB PTEs or 2 MiB PDEs (PS).
 *
 * The tables live in a range of guest-physical memory the caller gives (a bump allocator:
 * nothing is freed), reached through its host address.
 *
 * Concurrency: one thread per builder.
 */
#ifndef VMM_PAGE_TABLES_H
#define VMM_PAGE_TABLES_H

#include <stdbool.h>
#include <stdint.h>

struct vmm_page_tables {
	uint8_t *hva;        /* host address of the table area */
	uint64_t gpa;        /* its guest-physical address, 4 KiB aligned */
	uint64_t bytes;      /* its size */
	uint64_t used;       /* bytes handed out */
	uint64_t pml4;       /* guest-physical address of the PML4: CR3 */
};

/* Table pages that mapping `bytes` at one place takes at most, for either leaf size. */
uint64_t vmm_page_tables_pages_for(uint64_t bytes);

/* Starts a builder in [gpa, gpa + bytes) at hva and allocates the PML4. -1 if too small. */
int vmm_page_tables_init(struct vmm_page_tables *pt, void *hva, uint64_t gpa, uint64_t bytes);

/* Maps [gva, gva + len) to [gpa, gpa + len) with 4 KiB or 2 MiB leaves; addresses and len
 * aligned to the leaf. -1 when the table area is full or a leaf exists already. */
int vmm_page_tables_map(struct vmm_page_tables *pt, uint64_t gva, uint64_t gpa, uint64_t len,
			bool huge_2m);

#endif
