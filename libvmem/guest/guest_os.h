/*
 * The guest OS model: what a demand-paging kernel does to one address space's page table.
 *
 * It sees only that table and the frames of the guest-physical memory it maps, and it tells
 * the translation machine which pages it changed through a notifier (as Linux's mm tells
 * KVM through mmu_notifier callbacks): it never reads the machine's state. The machine
 * counts the faults and their costs and words the errors.
 */
#ifndef VMEM_GUEST_OS_H
#define VMEM_GUEST_OS_H

#include "vmem/pt.h"

#include "paging/frames.h"

/* TLB shootdowns a change asks for, answered by the translation machine. */
struct guest_notifier {
	void *ctx;
	/* One page at va, mapped with a page of `size`, changed (INVLPG). */
	void (*invlpg)(void *ctx, uint64_t va, enum vmem_page_size size);
	/* Too many pages changed for one INVLPG each: the whole address space (CR3 reload). */
	void (*flush_all)(void *ctx);
	/* Guest-physical frames [pfn, pfn + n) went back to the guest's free memory; may be
	 * NULL. */
	void (*freed)(void *ctx, uint64_t pfn, uint64_t n);
};

/* One guest address space as the guest OS sees it. */
struct guest_mm {
	struct vmem_pt *pt;           /* its table, in guest-physical memory */
	struct frames *frames;        /* guest-physical memory (data pages and table pages) */
	enum vmem_page_size page;     /* largest page a first touch may map (guest.page) */
	const struct guest_notifier *notify;
};

/*
 * Maps the page containing addr at the largest size up to `want` that fits: a large page
 * needs no table below it yet and a free aligned block of frames. Returns 0, VMEM_ENOSPACE
 * when no frame is left, or another VMEM_E* code. Also the host's first-touch mapping of
 * guest-physical memory.
 */
int first_touch_map(struct vmem_pt *pt, struct frames *fr, uint64_t addr,
		    enum vmem_page_size want, unsigned prot);

/* The page fault handler: maps va on first touch, or grants the permission `need`
 * (VMEM_PROT_*) to a mapped page that lacks it. */
int guest_os_fault(const struct guest_mm *mm, uint64_t va, unsigned need);

/* munmap / mprotect of [va, va + len): changes every mapped leaf in the range, frees the
 * unmapped frames and notifies the shootdowns; adds the leaves changed to *count.
 * VMEM_ERANGE when the range wraps around the address space. */
int guest_os_unmap(const struct guest_mm *mm, uint64_t va, uint64_t len, uint64_t *count);
int guest_os_protect(const struct guest_mm *mm, uint64_t va, uint64_t len, unsigned prot,
		     uint64_t *count);

#endif
