/*
 * Guest swapping (guest_swap.h says what it models).
 *
 * The set of swapped pages is keyed by (address space, virtual page), as a Linux swap
 * entry lives in the PTE of the process that owned the page: 16 bytes a swapped page, in
 * an open-addressing table at most half full. The CLOCK hand needs no memory of its own:
 * it walks the page table itself, as Linux's MGLRU walks page tables to age pages, and
 * uses the accessed bits the walks set.
 */
#include <stdlib.h>

#include "guest_swap.h"

#define REMOVED UINT64_MAX

void guest_swap_init(struct guest_swap *gs, uint64_t slots)
{
	*gs = (struct guest_swap){ .slots = slots };
}

void guest_swap_fini(struct guest_swap *gs)
{
	free(gs->set);
	gs->set = NULL;
	gs->cap = gs->used = gs->removed = 0;
}

static size_t slot_hash(uint32_t asid, uint64_t vpn, size_t cap)
{
	uint64_t x = (vpn ^ ((uint64_t)asid << 40) ^ asid) * 0x9e3779b97f4a7c15ull;

	return (size_t)(x >> 17) & (cap - 1);
}

/* The entry of (asid, vpn), or NULL. */
static struct gswap_entry *lookup(const struct guest_swap *gs, uint32_t asid, uint64_t vpn)
{
	if (!gs->cap)
		return NULL;
	for (size_t i = slot_hash(asid, vpn, gs->cap);; i = (i + 1) & (gs->cap - 1)) {
		struct gswap_entry *e = &gs->set[i];

		if (e->vpn == 0)
			return NULL;
		if (e->vpn == vpn + 1 && e->asid == asid)
			return e;
	}
}

static int grow(struct guest_swap *gs)
{
	size_t cap = gs->cap ? gs->cap * 2 : 64;
	struct gswap_entry *set, *old = gs->set;
	size_t oldcap = gs->cap;

	/* Many removals: rehash at the same size. */
	if (gs->removed > gs->used)
		cap = gs->cap;
	set = calloc(cap, sizeof(*set));
	if (!set)
		return VMEM_ENOMEM;
	for (size_t i = 0; i < oldcap; i++) {
		const struct gswap_entry *e = &old[i];
		size_t j;

		if (e->vpn == 0 || e->vpn == REMOVED)
			continue;
		for (j = slot_hash(e->asid, e->vpn - 1, cap); set[j].vpn; j = (j + 1) & (cap - 1))
			;
		set[j] = *e;
	}
	free(old);
	gs->set = set;
	gs->cap = cap;
	gs->removed = 0;
	return 0;
}

static int insert(struct guest_swap *gs, uint32_t asid, uint64_t vpn)
{
	size_t i;

	if ((gs->used + gs->removed + 1) * 2 > gs->cap) {
		int err = grow(gs);

		if (err)
			return err;
	}
	for (i = slot_hash(asid, vpn, gs->cap); gs->set[i].vpn && gs->set[i].vpn != REMOVED;
	     i = (i + 1) & (gs->cap - 1))
		;
	if (gs->set[i].vpn == REMOVED)
		gs->removed--;
	gs->set[i] = (struct gswap_entry){ .vpn = vpn + 1, .asid = asid };
	gs->used++;
	return 0;
}

static void remove_entry(struct guest_swap *gs, struct gswap_entry *e)
{
	e->vpn = REMOVED;
	gs->used--;
	gs->removed++;
}

int guest_clock_scan(const struct guest_mm *mm, uint64_t *cursor, uint64_t *seen,
		     uint64_t limit, uint64_t *va)
{
	uint64_t a = *cursor & ~0xfffull;

	for (;;) {
		struct vmem_pt_leaf leaf;
		unsigned missing = 1;
		uint64_t step, base;
		int rc = vmem_pt_lookup(mm->pt, a, &leaf, &missing);

		if (rc == VMEM_ERANGE) {
			*cursor = 0;
			return VMEM_ENOENT;   /* past the top of the canonical lower half */
		}
		if (rc != 0) {
			step = 1ull << vmem_level_shift(missing);
		} else {
			step = vmem_page_bytes(leaf.size);
			if (leaf.size == VMEM_PAGE_4K) {
				(*seen)++;
				if (!vmem_pt_test_young(mm->pt, a, true)) {
					*va = a;
					*cursor = a + step;
					return 0;
				}
			}
		}
		base = a & ~(step - 1);
		if (base + step < base) {
			*cursor = 0;
			return VMEM_ENOENT;
		}
		a = base + step;
		if (*seen >= limit) {
			*cursor = a;
			return VMEM_ELIMIT;
		}
	}
}

int guest_swap_out(struct guest_swap *gs, const struct guest_mm *mm, uint32_t asid,
		   uint64_t va, uint64_t *pfn)
{
	struct vmem_pt_leaf leaf;
	int err;

	va &= ~0xfffull;
	if (gs->used >= gs->slots)
		return VMEM_ENOSPACE;
	if (vmem_pt_lookup(mm->pt, va, &leaf, NULL) || leaf.size != VMEM_PAGE_4K)
		return VMEM_ENOENT;
	if ((err = insert(gs, asid, va >> 12)))
		return err;
	*pfn = leaf.pa >> 12;
	err = vmem_pt_unmap(mm->pt, va);
	mm->notify->invlpg(mm->notify->ctx, va, VMEM_PAGE_4K);
	frames_free(mm->frames, *pfn, VMEM_PAGE_4K);
	if (mm->notify->freed)
		mm->notify->freed(mm->notify->ctx, *pfn, 1);
	gs->swap_out++;
	return err;
}

bool guest_swap_in(struct guest_swap *gs, uint32_t asid, uint64_t va)
{
	struct gswap_entry *e = lookup(gs, asid, va >> 12);

	if (!e)
		return false;
	remove_entry(gs, e);
	gs->swap_in++;
	return true;
}

void guest_swap_forget(struct guest_swap *gs, uint32_t asid, uint64_t va, uint64_t len)
{
	uint64_t first = va >> 12, last;

	if (!gs->used || len == 0)
		return;
	last = (va + len - 1) >> 12;
	if (va + len - 1 < va)
		last = UINT64_MAX >> 12;
	if (last - first < gs->cap) {
		for (uint64_t p = first; p <= last && gs->used; p++) {
			struct gswap_entry *e = lookup(gs, asid, p);

			if (e)
				remove_entry(gs, e);
		}
		return;
	}
	for (size_t i = 0; i < gs->cap; i++) {
		struct gswap_entry *e = &gs->set[i];

		if (e->vpn && e->vpn != REMOVED && e->asid == asid && e->vpn - 1 >= first &&
		    e->vpn - 1 <= last)
			remove_entry(gs, e);
	}
}
