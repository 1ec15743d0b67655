/*
 * The manager's dedup policy on real guest RAM (vmem/ram_manager.h, "Dedup"): the same
 * policy objects that merge simulated frames in vmem-host (ksm: its stable and unstable
 * indexes, pages_to_scan, sleep_millisecs, ...) decide which real pages are merged, and
 * the pager carries the merges out (vmem/pager.h, "Merged pages").
 *
 * Contents in. The policy reads a page's content hash from the books (vmem_host_page).
 * At every scan the binding hashes (XXH3-64) the resident pages whose content may have
 * changed since their last hash and tells the manager (vmem_host_set_content). Which
 * those are, the write protection already tells: a page is marked when it is faulted in
 * and when a write-protect fault shows a write. The order makes the hashes exact as of
 * the scan: take (and clear) the marks, write-protect the region, then hash; a write
 * after the protection is a fault that marks the page again, and a write before it has
 * finished when the ioctl returns. A page being evicted or served at that moment keeps
 * its mark for the next scan.
 *
 * Merges out. The observer sees each page the policy merges (resident -> shared, in the
 * order vmem_host_merge made them). After the manager call the binding finds the page's
 * frame in the books: a frame it has no store page for yet (the frame of the first page
 * of a new shared content) is given one from this page's content (vmem_pager_share), if
 * the page still holds the content the policy matched (its hash, then a full compare
 * under write protection with the bytes hashed); otherwise the page is compared in full
 * with the frame's store page and mapped from it (vmem_pager_merge). The manager's own compare is of hashes; the pager's is of bytes,
 * with the page write-protected. If they differ (the page was written after its hash)
 * the merge is refused and the manager is told what happened in its own terms: a write
 * fault on the page, the copy-on-write break that makes it resident again.
 *
 * Writes to merged pages. The kernel copies the store page on a write without any
 * userfaultfd event, unless the page was write-protected by a scan (then the handler
 * lets the write through and marks it). Each scan asks the pager which merged pages are
 * no longer the store's page (/proc/self/pagemap bit 61) and books each as a write fault
 * (shared -> resident, the policy's on_unshare), then gives it its own anonymous page
 * (vmem_pager_unmerge), so it can be evicted and served back like any resident page.
 * Between the write and the scan the books call it shared while memory holds a private
 * copy: one page more than the books for at most scan_ms.
 *
 * The frames. A shared frame's store slot is frame_slot[frame]; frame_refs counts the
 * pages mapped onto it in memory, which equals the books' count once a call's merges are
 * carried out (every refused merge is booked back at once); with the last one gone the
 * frame may be reused for another content and loses its slot.
 *
 * Not done: zero pages onto the kernel's zero page (use_zero_pages=1 is refused; zero
 * pages merge into one store page like any content), a balloon together with dedup.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "vmem/host_policy.h"
#include "vmem/pager.h"
#include "vmem/ram_manager.h"
#include "backend/backend_internal.h"
#include "backend/metadata_arena.h"
#include "backend/ram_manager_internal.h"

#define NO_SLOT UINT32_MAX

struct ram_manager_dedup {
	uint64_t frames;
	uint32_t *frame_slot;        /* per manager frame: its store slot, or NO_SLOT */
	uint32_t *frame_refs;        /* per manager frame: pages mapped onto it in memory */
	uint32_t *page_frame;        /* per page: the frame it is merged onto */
	uint64_t *queue;             /* pages the last call merged (resident -> shared/zero) */
	size_t nqueue, queue_cap;
	uint64_t *scratch;           /* a page list of the region's size */
	unsigned char *buf;          /* one page */
	unsigned content_class;
	uint64_t zero_hash;
	uint64_t hashed, merges, merges_refused, cow_breaks, errors, queue_lost;
	uint64_t merge_ns;           /* time in merge_one: the pager's calls and the books */
};

int ram_manager_dedup_init(struct vmem_ram_manager *rm, const struct vmem_host_config *hc,
			   char *err, size_t errlen)
{
	static const unsigned char zeros[PAGE];
	struct ram_manager_dedup *d;

	if (!hc->dedup[0] || strcmp(hc->dedup, "none") == 0)
		return 0;
	d = calloc(1, sizeof(*d));
	if (!d) {
		backend_errf(err, errlen, "ram manager: out of memory");
		return VMEM_ENOMEM;
	}
	rm->dedup = d;
	d->frames = vmem_host_frames(rm->host);
	d->frame_slot = metadata_alloc(rm->arena, d->frames * sizeof(*d->frame_slot));
	d->frame_refs = metadata_calloc(rm->arena, d->frames, sizeof(*d->frame_refs));
	d->page_frame = metadata_alloc(rm->arena, rm->pages * sizeof(*d->page_frame));
	d->scratch = malloc(rm->pages * sizeof(*d->scratch));
	d->buf = malloc(PAGE);
	if (!d->frame_slot || !d->frame_refs || !d->page_frame || !d->scratch || !d->buf) {
		backend_errf(err, errlen, "ram manager: out of memory for the dedup tables");
		return VMEM_ENOMEM;
	}
	memset(d->frame_slot, 0xff, d->frames * sizeof(*d->frame_slot));
	d->content_class = hc->content_class;
	d->zero_hash = XXH3_64bits(zeros, PAGE);
	return 0;
}

void ram_manager_dedup_fini(struct vmem_ram_manager *rm)
{
	struct ram_manager_dedup *d = rm->dedup;

	if (!d)
		return;
	/* The tables from the arena go with it. */
	free(d->queue);
	free(d->scratch);
	free(d->buf);
	free(d);
	rm->dedup = NULL;
}

void ram_manager_dedup_on_state(struct vmem_ram_manager *rm, uint64_t gfn,
				enum vmem_page_state from, enum vmem_page_state to)
{
	struct ram_manager_dedup *d = rm->dedup;

	if (from != VMEM_PG_RESIDENT || (to != VMEM_PG_SHARED && to != VMEM_PG_ZERO))
		return;
	if (d->nqueue == d->queue_cap) {
		size_t cap = d->queue_cap ? d->queue_cap * 2 : 256;
		uint64_t *q = realloc(d->queue, cap * sizeof(*q));

		if (!q) {
			d->queue_lost++;     /* the check reports the page shared in the books only */
			return;
		}
		d->queue = q;
		d->queue_cap = cap;
	}
	d->queue[d->nqueue++] = gfn;
}

/* Books a page that memory does not share as written: shared -> resident. */
static void book_write(struct vmem_ram_manager *rm, uint64_t page)
{
	ram_manager_fault(rm, page, true);
	ram_manager_carry_out(rm);
	atomic_fetch_or(&rm->seen[page], SEEN_YOUNG | SEEN_LRU | SEEN_HASH);
}

static void merge_one(struct vmem_ram_manager *rm, uint64_t g)
{
	struct ram_manager_dedup *d = rm->dedup;
	struct vmem_host_page hp = { .state = VMEM_PG_UNTOUCHED };
	uint32_t slot;
	int rc;

	if (vmem_host_page(rm->host, rm->vm, g, &hp) || hp.state != VMEM_PG_SHARED ||
	    hp.frame >= d->frames) {
		/* A zero merge (refused by configuration) or a page that moved on. */
		if (hp.state == VMEM_PG_ZERO) {
			d->merges_refused++;
			book_write(rm, g);
		}
		return;
	}
	if (d->frame_slot[hp.frame] == NO_SLOT) {
		/* The first page of a shared content: the store page must hold the content
		 * the policy matched (its hash in the books), or every later merge into the
		 * frame would be refused. So the page is read, hashed, and shared only if it
		 * still holds that content, compared in full under write protection. */
		rc = vmem_pager_read(rm->pager, g, d->buf);
		if (rc == 0 && XXH3_64bits(d->buf, PAGE) != hp.hash)
			rc = VMEM_EINVAL;
		if (rc == 0)
			rc = vmem_pager_share(rm->pager, g, d->buf, &slot);
		if (rc == 0)
			d->frame_slot[hp.frame] = slot;
	} else {
		rc = vmem_pager_merge(rm->pager, g, d->frame_slot[hp.frame]);
	}
	if (rc == 0) {
		d->frame_refs[hp.frame]++;
		d->page_frame[g] = (uint32_t)hp.frame;
		d->merges++;
		return;
	}
	if (rc == VMEM_EINVAL || rc == VMEM_ENOENT)
		d->merges_refused++;         /* written since its hash, or busy this instant */
	else
		d->errors++;
	book_write(rm, g);
}

void ram_manager_dedup_carry_out(struct vmem_ram_manager *rm)
{
	struct ram_manager_dedup *d = rm->dedup;

	struct timespec t0, t1;

	if (!d->nqueue)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A refused merge books a fault, which merges nothing: the queue does not grow. */
	for (size_t i = 0; i < d->nqueue; i++)
		merge_one(rm, d->queue[i]);
	d->nqueue = 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	d->merge_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll +
				  (t1.tv_nsec - t0.tv_nsec));
}

/* Merged pages the kernel copied on a write: booked written, given their own page. */
static void cow_breaks(struct vmem_ram_manager *rm)
{
	struct ram_manager_dedup *d = rm->dedup;
	int64_t n = vmem_pager_merged_written(rm->pager, d->scratch, rm->pages);

	if (n < 0) {
		d->errors++;
		return;
	}
	for (int64_t k = 0; k < n; k++) {
		uint64_t g = d->scratch[k];
		uint32_t f = d->page_frame[g];

		if (vmem_host_page_state(rm->host, rm->vm, g) == VMEM_PG_SHARED)
			ram_manager_fault(rm, g, true);
		ram_manager_carry_out(rm);
		if (vmem_pager_unmerge(rm->pager, g)) {
			d->errors++;
			continue;
		}
		if (--d->frame_refs[f] == 0)
			d->frame_slot[f] = NO_SLOT;
		atomic_fetch_or(&rm->seen[g], SEEN_YOUNG | SEEN_LRU | SEEN_HASH);
		d->cow_breaks++;
	}
}

bool ram_manager_dedup_scan(struct vmem_ram_manager *rm)
{
	struct ram_manager_dedup *d = rm->dedup;
	uint64_t n = 0;

	cow_breaks(rm);
	for (uint64_t g = 0; g < rm->pages; g++)
		if (atomic_load_explicit(&rm->seen[g], memory_order_relaxed) & SEEN_HASH) {
			atomic_fetch_and(&rm->seen[g], (uint8_t)~SEEN_HASH);
			d->scratch[n++] = g;
		}
	vmem_pager_write_protect(rm->pager, 0, rm->pages);
	for (uint64_t k = 0; k < n; k++) {
		uint64_t g = d->scratch[k], h;
		bool zero;

		if (vmem_pager_read(rm->pager, g, d->buf)) {
			/* Busy now (served or evicted): next time. Not resident: its fault
			 * marks it again. */
			if (vmem_pager_page_state(rm->pager, g) == VMEM_PAGER_RESIDENT)
				atomic_fetch_or(&rm->seen[g], SEEN_HASH);
			continue;
		}
		if (vmem_host_page_state(rm->host, rm->vm, g) != VMEM_PG_RESIDENT)
			continue;
		h = XXH3_64bits(d->buf, PAGE);
		zero = h == d->zero_hash;
		for (unsigned w = 0; zero && w < PAGE / 8; w++)
			zero = ((const uint64_t *)d->buf)[w] == 0;
		vmem_host_set_content(rm->host, rm->vm, g, h, zero, d->content_class);
		d->hashed++;
	}
	return true;
}

void ram_manager_dedup_stats(struct vmem_ram_manager *rm, struct vmem_ram_manager_stats *out)
{
	struct ram_manager_dedup *d = rm->dedup;

	out->dedup_hashed = d->hashed;
	out->dedup_merges = d->merges;
	out->dedup_merges_refused = d->merges_refused;
	out->dedup_cow_breaks = d->cow_breaks;
	out->dedup_errors = d->errors + d->queue_lost;
	out->dedup_merge_ns = d->merge_ns;
}

int ram_manager_dedup_check(struct vmem_ram_manager *rm, uint64_t page,
			    enum vmem_page_state books, char *err, size_t errlen)
{
	bool merged = vmem_pager_page_state(rm->pager, page) == VMEM_PAGER_MERGED;

	/* Shared in the books <=> mapped from the store. (A merged page written since the
	 * last scan is still both: booked at the next scan.) */
	if ((books == VMEM_PG_SHARED) != merged) {
		backend_errf(err, errlen, "page %" PRIu64 " is %s in the books and %s in memory",
			     page, vmem_page_state_name(books),
			     merged ? "merged (maps a store page)" : "not merged");
		return VMEM_EINVAL;
	}
	if (merged && rm->dedup->frame_slot[rm->dedup->page_frame[page]] == NO_SLOT) {
		backend_errf(err, errlen, "merged page %" PRIu64 ": its frame %" PRIu32 " has no "
			     "store page", page, rm->dedup->page_frame[page]);
		return VMEM_EINVAL;
	}
	return 0;
}
