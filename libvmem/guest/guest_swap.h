/*
 * Guest swapping: the guest OS reclaims its own pages when it has no free guest-physical
 * memory left (its balloon driver wants pages, or a fault finds none free). Victims come
 * from the guest's own CLOCK over the 4 KiB leaves its address spaces map; a victim is
 * unmapped from its table (a TLB shootdown through the guest_notifier), its frame goes
 * back to the guest's free memory, and (asid, va) is remembered as "in guest swap" so
 * that the next fault there is a major fault that reads the page back.
 *
 * The guest layer sees one address space at a time (struct guest_mm); the translation
 * machine moves the CLOCK hand across a VM's address spaces (mmu/guest_mem.c).
 */
#ifndef VMEM_GUEST_SWAP_H
#define VMEM_GUEST_SWAP_H

#include "guest_os.h"

/* One (asid, page) in guest swap: an open-addressing set entry. */
struct gswap_entry {
	uint64_t vpn;                /* va >> 12, plus 1 (0: empty, UINT64_MAX: removed) */
	uint32_t asid;
};

/* A VM's guest swap device and the pages on it. */
struct guest_swap {
	struct gswap_entry *set;     /* capacity a power of two, at most half full */
	size_t cap, used, removed;
	uint64_t slots;              /* pages the device holds at most */
	uint64_t swap_in, swap_out;  /* pages read back (major faults), pages written */
};

void guest_swap_init(struct guest_swap *gs, uint64_t slots);
void guest_swap_fini(struct guest_swap *gs);

/* Pages on the device now. */
static inline uint64_t guest_swap_used(const struct guest_swap *gs)
{
	return gs->used;
}

/*
 * One sweep of the CLOCK hand through mm from *cursor: the next mapped 4 KiB leaf whose
 * accessed bit is clear is the victim (0, its address in *va, *cursor past it); leaves
 * with the bit set get a second chance (the bit is cleared, as Linux's
 * ptep_test_and_clear_young does, without a flush). Larger leaves are passed over (Linux
 * splits a huge page before swapping it; not modelled). Counts each leaf looked at in
 * *seen; VMEM_ELIMIT when *seen reaches limit, VMEM_ENOENT at the end of the address
 * space (the cursor is then back at 0).
 */
int guest_clock_scan(const struct guest_mm *mm, uint64_t *cursor, uint64_t *seen,
		     uint64_t limit, uint64_t *va);

/*
 * Swaps out the 4 KiB page at va of address space asid: unmaps it (INVLPG through the
 * notifier), frees its frame (the notifier's freed) and records (asid, va). *pfn gets the
 * frame it had. VMEM_ENOSPACE when the device is full, VMEM_ENOENT if va is not mapped
 * with a 4 KiB page.
 */
int guest_swap_out(struct guest_swap *gs, const struct guest_mm *mm, uint32_t asid,
		   uint64_t va, uint64_t *pfn);

/* A fault at va of asid: true (and the page leaves the device, counted as a swap-in)
 * when the page is in guest swap, which makes the fault a major one. */
bool guest_swap_in(struct guest_swap *gs, uint32_t asid, uint64_t va);

/* munmap of [va, va + len) in asid: its pages on the device are dropped unread. */
void guest_swap_forget(struct guest_swap *gs, uint32_t asid, uint64_t va, uint64_t len);

#endif
