/*
 * The balloon over guest RAM (vmem/ram_balloon.h): the page-list validator and the drops.
 *
 * A request reaches balloon_apply() already in host memory (the channel copied it out of
 * the guest, or a program passed its own arrays). It is handled in two passes:
 *
 *   1. check: every entry against guest RAM (which region, owned by the balloon, whole huge
 *      pages in a hugetlb region), against the request (a page named twice: a per-request
 *      bitmap `seen`, cleared again before returning) and against the balloon's bitmap (an
 *      INFLATE of a page already in it, a DEFLATE of one not in it). The first bad entry
 *      rejects the whole request; nothing has changed yet.
 *   2. act: INFLATE sorts the frames and drops each run of consecutive frames with one call
 *      (a guest's balloon pages come from its page allocator in any order), then sets their
 *      bits; DEFLATE clears the bits only (the pages were dropped at INFLATE); REPORT_FREE
 *      drops each range; STATS replaces the stored report.
 *
 * Dropping a page so that the host really gets the memory back depends on the backing:
 *   - private anonymous memory: madvise(MADV_DONTNEED) frees the page; the next access
 *     maps the zero page (read) or a new zeroed page (write). madvise(2).
 *   - a memfd mapped MAP_SHARED: MADV_DONTNEED only unmaps the page from this process,
 *     the shmem page cache keeps it (and its content). fallocate(FALLOC_FL_PUNCH_HOLE |
 *     FALLOC_FL_KEEP_SIZE) frees it from the file and unmaps it everywhere. fallocate(2).
 *   - hugetlb (anonymous or memfd): the same calls, which the kernel accepts on whole huge
 *     pages only (Documentation/admin-guide/mm/hugetlbpage.rst); the page goes back to the
 *     pool (HugePages_Free). So a request must name all 512 frames of a 2 MiB page.
 *   - THP regions: MADV_DONTNEED on 4 KiB of a huge page splits its mapping; the 4 KiB
 *     subpages are freed when the kernel splits the huge page itself (its deferred split
 *     queue, under memory pressure), so such a drop may give back memory only later.
 * The memory given back is measured, not assumed: mincore(2) on each run just before it is
 * dropped counts the pages that were resident (a page the guest never touched frees nothing).
 *
 * The statistics report keeps virtio-balloon's 16 tags. An entry with a tag this host does
 * not know is ignored and counted, not rejected: the virtio spec (1.2, 5.5.6.3 "Memory
 * Statistics Tags") says the device MUST ignore entries with tag values it does not
 * recognize, so that a newer guest (Linux 6.12 added tags 10 to 15) works with an older host.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/backend_internal.h"
#include "backend/ram_balloon_internal.h"

#define PAGE ((uint64_t)4096)
#define HUGE_FRAMES ((uint64_t)512)                  /* 4 KiB frames in a 2 MiB page */
#define RESIDENCY_CHUNK ((uint64_t)65536)            /* pages per mincore(2) call */

static const struct {
	const char *name;
	int code;
} reasons[VMEM_RB_REASONS] = {
	[VMEM_RB_BAD_HEADER] = { "bad header", VMEM_EFORMAT },
	[VMEM_RB_TOO_MANY] = { "too many entries", VMEM_ELIMIT },
	[VMEM_RB_REQUEST_OUTSIDE] = { "request outside guest RAM", VMEM_ERANGE },
	[VMEM_RB_OUTSIDE_RAM] = { "entry outside guest RAM", VMEM_ERANGE },
	[VMEM_RB_NOT_OWNED] = { "not owned by the balloon", VMEM_EINVAL },
	[VMEM_RB_UNALIGNED] = { "unaligned", VMEM_EINVAL },
	[VMEM_RB_DUPLICATE] = { "duplicate", VMEM_EEXIST },
	[VMEM_RB_ALREADY_IN] = { "already in the balloon", VMEM_EEXIST },
	[VMEM_RB_NOT_IN] = { "not in the balloon", VMEM_ENOENT },
	[VMEM_RB_HOLDS_REQUEST] = { "page holds the request", VMEM_EINVAL },
	[VMEM_RB_FULL] = { "balloon full", VMEM_ELIMIT },
	[VMEM_RB_DROP_FAILED] = { "drop failed", VMEM_EIO },
};

const char *vmem_ram_balloon_reason_name(enum vmem_ram_balloon_reason r)
{
	return (unsigned)r < VMEM_RB_REASONS ? reasons[r].name : "?";
}

static const char *op_name(enum vmem_bch_op op)
{
	switch (op) {
	case VMEM_BCH_INFLATE: return "INFLATE";
	case VMEM_BCH_DEFLATE: return "DEFLATE";
	case VMEM_BCH_REPORT_FREE: return "REPORT_FREE";
	case VMEM_BCH_STATS: return "STATS";
	}
	return "?";
}

int balloon_reject(struct vmem_ram_balloon *b, enum vmem_ram_balloon_reason reason,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->error, sizeof(b->error), fmt, ap);
	va_end(ap);
	b->st.rejected++;
	b->st.rejected_by[reason]++;
	return reasons[reason].code;
}

const struct balloon_region *balloon_region_of(const struct vmem_ram_balloon *b, uint64_t gpa)
{
	for (unsigned i = 0; i < b->nregions; i++)
		if (gpa - b->regions[i].r.gpa < b->regions[i].r.size)
			return &b->regions[i];
	return NULL;
}

static const struct balloon_region *region_of_frame(const struct vmem_ram_balloon *b,
						    uint64_t frame)
{
	for (unsigned i = 0; i < b->nregions; i++)
		if (frame - b->regions[i].r.first_frame < b->regions[i].pages)
			return &b->regions[i];
	return NULL;
}

static void bit_set(uint64_t *map, uint64_t f)
{
	map[f / 64] |= 1ull << (f % 64);
}

static void bit_clear(uint64_t *map, uint64_t f)
{
	map[f / 64] &= ~(1ull << (f % 64));
}

static void free_parts(struct vmem_ram_balloon *b)
{
	free(b->regions);
	free(b->in_balloon);
	free(b->seen);
	free(b->scratch_frames);
	free(b->scratch_count);
	free(b->residency);
	free(b->wire);
	free(b->wire_pfn);
	free(b->wire_range);
	free(b->wire_stat);
	free(b);
}

void vmem_ram_balloon_config_default(struct vmem_ram_balloon_config *c)
{
	c->regions = ~0ull;
	c->max_entries = VMEM_RAM_BALLOON_ENTRIES_DEFAULT;
	c->max_pages = 0;
}

int vmem_ram_balloon_create(struct vmem_guest_ram *ram, const struct vmem_ram_balloon_config *c,
			    struct vmem_ram_balloon **out, char *err, size_t errlen)
{
	struct vmem_ram_balloon_config cfg;
	struct vmem_ram_balloon *b;
	uint64_t owned = 0, words;
	unsigned n;

	if (!ram || !out) {
		backend_errf(err, errlen, "balloon: %s is NULL", ram ? "out" : "guest RAM");
		return VMEM_EINVAL;
	}
	*out = NULL;
	if (c)
		cfg = *c;
	else
		vmem_ram_balloon_config_default(&cfg);
	n = vmem_guest_ram_regions(ram);
	if (n == 0) {
		backend_errf(err, errlen, "balloon: guest RAM has no region; add them first");
		return VMEM_EINVAL;
	}
	if (cfg.max_entries < 1 || cfg.max_entries > VMEM_RAM_BALLOON_ENTRIES_MAX) {
		backend_errf(err, errlen, "balloon: max_entries %" PRIu32 ", expected 1 to %u",
			     cfg.max_entries, VMEM_RAM_BALLOON_ENTRIES_MAX);
		return VMEM_EINVAL;
	}
	/* ~0 means every region; any other mask may only name regions that exist. */
	if (cfg.regions != ~0ull && n < 64 && cfg.regions >> n) {
		backend_errf(err, errlen, "balloon: regions mask 0x%" PRIx64 " names region %u, "
			     "but guest RAM has %u regions", cfg.regions,
			     63 - (unsigned)__builtin_clzll(cfg.regions), n);
		return VMEM_EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return VMEM_ENOMEM;
	b->regions = calloc(n, sizeof(*b->regions));
	if (!b->regions)
		goto nomem;
	b->nregions = n;
	for (unsigned i = 0; i < n; i++) {
		struct balloon_region *g = &b->regions[i];

		vmem_guest_ram_region(ram, i, &g->r);
		g->pages = g->r.size / PAGE;
		g->huge_shift = g->r.page_bytes > PAGE ? 9 : 0;
		g->owned = i < 64 && (cfg.regions >> i & 1);
		if (g->owned)
			owned += g->pages;
	}
	if (cfg.max_pages > owned) {
		backend_errf(err, errlen, "balloon: max_pages %" PRIu64 " is more than the %" PRIu64
			     " pages of the regions it owns", cfg.max_pages, owned);
		free_parts(b);
		return VMEM_EINVAL;
	}
	if (cfg.max_pages == 0)
		cfg.max_pages = owned;
	b->ram = ram;
	b->cfg = cfg;
	b->frames = vmem_guest_ram_frames(ram);
	words = (b->frames + 63) / 64;
	b->in_balloon = calloc(words, sizeof(uint64_t));
	b->seen = calloc(words, sizeof(uint64_t));
	b->scratch_frames = calloc(cfg.max_entries, sizeof(uint64_t));
	b->scratch_count = calloc(cfg.max_entries, sizeof(uint64_t));
	b->residency = malloc(RESIDENCY_CHUNK);
	b->wire = malloc((size_t)cfg.max_entries * sizeof(struct vmem_bch_range));
	b->wire_pfn = calloc(cfg.max_entries, sizeof(uint64_t));
	b->wire_range = calloc(cfg.max_entries, sizeof(struct vmem_bch_range));
	b->wire_stat = calloc(cfg.max_entries, sizeof(struct vmem_bch_stat));
	if (!b->in_balloon || !b->seen || !b->scratch_frames || !b->scratch_count ||
	    !b->residency || !b->wire ||
	    !b->wire_pfn || !b->wire_range || !b->wire_stat)
		goto nomem;
	if (pthread_mutex_init(&b->lock, NULL))
		goto nomem;
	*out = b;
	return 0;
nomem:
	free_parts(b);
	return VMEM_ENOMEM;
}

void vmem_ram_balloon_destroy(struct vmem_ram_balloon *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free_parts(b);
}

/* Pages of [hva, hva + pages * 4 KiB) resident now, by mincore(2). */
static uint64_t resident_pages(struct vmem_ram_balloon *b, char *hva, uint64_t pages)
{
	uint64_t n = 0;

	while (pages > 0) {
		uint64_t k = pages < RESIDENCY_CHUNK ? pages : RESIDENCY_CHUNK;

		if (mincore(hva, k * PAGE, b->residency) == 0)
			for (uint64_t i = 0; i < k; i++)
				n += b->residency[i] & 1;
		hva += k * PAGE;
		pages -= k;
	}
	return n;
}

/*
 * Gives `pages` 4 KiB pages of region g from frame `frame` back to the host (see the top of
 * this file for why each backing needs its own call). 0, or the errno of the kernel's refusal.
 */
static int drop(const struct balloon_region *g, uint64_t frame, uint64_t pages)
{
	uint64_t offset = (frame - g->r.first_frame) * PAGE, len = pages * PAGE;
	int rc;

	if (g->r.backing == VMEM_RAM_MEMFD)
		rc = fallocate(g->r.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
			       (off_t)len);
	else
		rc = madvise((char *)g->r.hva + offset, len, MADV_DONTNEED);
	return rc ? errno : 0;
}

static char *frame_hva(const struct balloon_region *g, uint64_t frame)
{
	return (char *)g->r.hva + (frame - g->r.first_frame) * PAGE;
}

/*
 * Resident pages among the n sorted frames fr[] of region g, about to be dropped. Scattered
 * frames close together (a guest's allocator hands out pages from a few areas) are measured
 * with one mincore(2) over their whole span, when it is at most 64 pages a frame and fits the
 * vector; else one call per run of consecutive frames.
 */
static uint64_t resident_frames(struct vmem_ram_balloon *b, const struct balloon_region *g,
				const uint64_t *fr, size_t n)
{
	uint64_t span = fr[n - 1] - fr[0] + 1, count = 0;

	if (span <= RESIDENCY_CHUNK && span <= 64 * (uint64_t)n) {
		if (mincore(frame_hva(g, fr[0]), span * PAGE, b->residency) == 0)
			for (size_t i = 0; i < n; i++)
				count += b->residency[fr[i] - fr[0]] & 1;
		return count;
	}
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && fr[j] == fr[j - 1] + 1; j++)
			;
		count += resident_pages(b, frame_hva(g, fr[i]), j - i);
	}
	return count;
}

static bool in_request(const struct balloon_request *q, uint64_t gpa)
{
	return gpa >= q->req_gpa && gpa < q->req_gpa_end;
}

/*
 * A hugetlb region's frame names a 2 MiB page: its 512 frames must all be in `seen` (named
 * by this request). The region starts 2 MiB-aligned in guest-physical memory (guest RAM
 * checks that), so the huge page's frames are the 512 from its head's.
 */
static uint64_t huge_head(const struct balloon_region *g, uint64_t frame)
{
	return g->r.first_frame + ((frame - g->r.first_frame) & ~(HUGE_FRAMES - 1));
}

static int check_pages(struct vmem_ram_balloon *b, const struct balloon_request *q,
		       size_t *marked)
{
	bool inflate = q->op == VMEM_BCH_INFLATE;
	const char *op = op_name(q->op);

	for (size_t i = 0; i < q->count; i++) {
		uint64_t pfn = q->pfn[i], gpa = pfn << 12, f;
		const struct balloon_region *g;

		g = pfn >> 52 ? NULL : balloon_region_of(b, gpa);
		if (!g)
			return balloon_reject(b, VMEM_RB_OUTSIDE_RAM, "%s entry %zu: pfn 0x%" PRIx64
					      " is not in guest RAM", op, i, pfn);
		if (!g->owned)
			return balloon_reject(b, VMEM_RB_NOT_OWNED, "%s entry %zu: pfn 0x%" PRIx64
					      " is in region %u, which the balloon does not own",
					      op, i, pfn, (unsigned)(g - b->regions));
		f = balloon_frame(g, gpa);
		if (balloon_bit(b->seen, f))
			return balloon_reject(b, VMEM_RB_DUPLICATE, "%s entry %zu: pfn 0x%" PRIx64
					      " is named twice in the request", op, i, pfn);
		if (inflate && balloon_bit(b->in_balloon, f))
			return balloon_reject(b, VMEM_RB_ALREADY_IN, "%s entry %zu: pfn 0x%"
					      PRIx64 " is already in the balloon", op, i, pfn);
		if (!inflate && !balloon_bit(b->in_balloon, f))
			return balloon_reject(b, VMEM_RB_NOT_IN, "%s entry %zu: pfn 0x%" PRIx64
					      " is not in the balloon", op, i, pfn);
		if (inflate && in_request(q, gpa))
			return balloon_reject(b, VMEM_RB_HOLDS_REQUEST, "%s entry %zu: pfn 0x%"
					      PRIx64 " holds this request", op, i, pfn);
		bit_set(b->seen, f);
		b->scratch_frames[i] = f;
		*marked = i + 1;
	}
	for (size_t i = 0; i < q->count; i++) {
		uint64_t f = b->scratch_frames[i], head;
		const struct balloon_region *g = region_of_frame(b, f);

		if (!g->huge_shift)
			continue;
		head = huge_head(g, f);
		/* The head's entry checks the whole page; the others need only the head. */
		if (f != head && !balloon_bit(b->seen, head))
			return balloon_reject(b, VMEM_RB_UNALIGNED, "%s entry %zu: pfn 0x%" PRIx64
					      " is in hugetlb region %u, which gives back whole "
					      "2 MiB pages only: pfn 0x%" PRIx64 " of the same page "
					      "is missing", op, i, q->pfn[i],
					      (unsigned)(g - b->regions), q->pfn[i] - (f - head));
		for (uint64_t k = 0; f == head && k < HUGE_FRAMES; k++)
			if (!balloon_bit(b->seen, head + k))
				return balloon_reject(b, VMEM_RB_UNALIGNED, "%s entry %zu: pfn 0x%"
					PRIx64 " is in hugetlb region %u, which gives back whole "
					"2 MiB pages only: pfn 0x%" PRIx64 " of the same page is "
					"missing", op, i, q->pfn[i], (unsigned)(g - b->regions),
					q->pfn[i] - (f - head) + k);
	}
	if (inflate && q->count > b->cfg.max_pages - b->st.balloon_pages)
		return balloon_reject(b, VMEM_RB_FULL, "%s of %zu pages: the balloon holds %"
				      PRIu64 " of at most %" PRIu64 " pages", op, q->count,
				      b->st.balloon_pages, b->cfg.max_pages);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* INFLATE: measures and drops every run of consecutive frames (sorted first, region by
 * region), then sets their bits. */
static int inflate_checked(struct vmem_ram_balloon *b, size_t n)
{
	uint64_t *fr = b->scratch_frames;

	qsort(fr, n, sizeof(*fr), cmp_u64);
	for (size_t i = 0, k; i < n; i = k) {
		const struct balloon_region *g = region_of_frame(b, fr[i]);
		uint64_t end = g->r.first_frame + g->pages;

		for (k = i + 1; k < n && fr[k] < end; k++)
			;
		b->st.bytes_given_back += resident_frames(b, g, fr + i, k - i) * PAGE;
		for (size_t r = i, j; r < k; r = j) {
			int e;

			for (j = r + 1; j < k && fr[j] == fr[j - 1] + 1; j++)
				;
			e = drop(g, fr[r], j - r);
			if (e)
				return balloon_reject(b, VMEM_RB_DROP_FAILED, "INFLATE: dropping %zu "
						      "pages at gpa 0x%" PRIx64 " failed: %s; no page "
						      "entered the balloon", j - r, g->r.gpa +
						      (fr[r] - g->r.first_frame) * PAGE, strerror(e));
		}
	}
	for (size_t i = 0; i < n; i++)
		bit_set(b->in_balloon, fr[i]);
	b->st.balloon_pages += n;
	b->st.pages_inflated += n;
	return 0;
}

static int apply_pages(struct vmem_ram_balloon *b, const struct balloon_request *q)
{
	size_t marked = 0;
	int rc = check_pages(b, q, &marked);

	for (size_t i = 0; i < marked; i++)
		bit_clear(b->seen, b->scratch_frames[i]);
	if (rc)
		return rc;
	if (q->op == VMEM_BCH_INFLATE)
		return inflate_checked(b, q->count);
	/* DEFLATE: the pages were dropped when they went in; the guest's next access faults
	 * in a zero page. */
	for (size_t i = 0; i < q->count; i++)
		bit_clear(b->in_balloon, b->scratch_frames[i]);
	b->st.balloon_pages -= q->count;
	b->st.pages_deflated += q->count;
	return 0;
}

/* Clears the `seen` bits of ranges [0, n) of q, each from its start for up to pages[i]. */
static void unmark_ranges(struct vmem_ram_balloon *b, size_t n, const uint64_t *first, const uint64_t *pages)
{
	for (size_t i = 0; i < n; i++)
		for (uint64_t k = 0; k < pages[i]; k++)
			bit_clear(b->seen, first[i] + k);
}

static int check_ranges(struct vmem_ram_balloon *b, const struct balloon_request *q,
			size_t *nmarked, uint64_t *first, uint64_t *marked)
{
	for (size_t i = 0; i < q->count; i++) {
		uint64_t gpa = q->range[i].gpa, len = q->range[i].len, f;
		const struct balloon_region *g;
		const char *what = "range";

		if (gpa % PAGE || len % PAGE || len == 0 || gpa + len < gpa)
			return balloon_reject(b, VMEM_RB_UNALIGNED, "REPORT_FREE entry %zu: range "
					      "gpa 0x%" PRIx64 " len 0x%" PRIx64 " is not a "
					      "non-empty 4 KiB-aligned range", i, gpa, len);
		g = balloon_region_of(b, gpa);
		if (!g || len > g->r.size - (gpa - g->r.gpa))
			return balloon_reject(b, VMEM_RB_OUTSIDE_RAM, "REPORT_FREE entry %zu: range "
					      "gpa 0x%" PRIx64 " len 0x%" PRIx64 " is not %s one "
					      "region of guest RAM", i, gpa, len, g ? "inside" : "in");
		if (!g->owned)
			return balloon_reject(b, VMEM_RB_NOT_OWNED, "REPORT_FREE entry %zu: range "
					      "gpa 0x%" PRIx64 " is in region %u, which the balloon "
					      "does not own", i, gpa, (unsigned)(g - b->regions));
		if (g->huge_shift && ((gpa - g->r.gpa) % g->r.page_bytes || len % g->r.page_bytes))
			return balloon_reject(b, VMEM_RB_UNALIGNED, "REPORT_FREE entry %zu: range "
					      "gpa 0x%" PRIx64 " len 0x%" PRIx64 " is in hugetlb "
					      "region %u, which gives back whole 2 MiB pages only",
					      i, gpa, len, (unsigned)(g - b->regions));
		f = balloon_frame(g, gpa);
		first[i] = f;
		marked[i] = 0;
		*nmarked = i + 1;
		for (uint64_t k = 0; k < len / PAGE; k++, gpa += PAGE) {
			enum vmem_ram_balloon_reason r = VMEM_RB_REASONS;

			if (balloon_bit(b->seen, f + k)) {
				r = VMEM_RB_DUPLICATE;
				what = "overlaps an earlier range";
			} else if (balloon_bit(b->in_balloon, f + k)) {
				r = VMEM_RB_ALREADY_IN;
				what = "is in the balloon";
			} else if (in_request(q, gpa)) {
				r = VMEM_RB_HOLDS_REQUEST;
				what = "holds this request";
			}
			if (r != VMEM_RB_REASONS)
				return balloon_reject(b, r, "REPORT_FREE entry %zu: range gpa 0x%"
						      PRIx64 " len 0x%" PRIx64 ": its page at gpa 0x%"
						      PRIx64 " %s", i, q->range[i].gpa, len, gpa,
						      what);
			bit_set(b->seen, f + k);
			marked[i] = k + 1;
		}
	}
	return 0;
}

static int apply_ranges(struct vmem_ram_balloon *b, const struct balloon_request *q)
{
	/* Where each range's frames start and how many were marked, to unmark them. */
	uint64_t *first = b->scratch_frames, *marked = b->scratch_count;
	size_t nmarked = 0;
	uint64_t pages = 0;
	int rc;

	rc = check_ranges(b, q, &nmarked, first, marked);
	unmark_ranges(b, nmarked, first, marked);
	if (rc)
		return rc;
	for (size_t i = 0; i < q->count; i++) {
		const struct balloon_region *g = balloon_region_of(b, q->range[i].gpa);
		uint64_t n = q->range[i].len / PAGE;
		int e;

		b->st.bytes_given_back += resident_pages(b, frame_hva(g, first[i]), n) * PAGE;
		e = drop(g, first[i], n);

		if (e)
			return balloon_reject(b, VMEM_RB_DROP_FAILED, "REPORT_FREE entry %zu: "
					      "dropping gpa 0x%" PRIx64 " len 0x%" PRIx64
					      " failed: %s", i, q->range[i].gpa, q->range[i].len,
					      strerror(e));
		pages += n;
	}
	b->st.pages_reported += pages;
	return 0;
}

static int apply_stats(struct vmem_ram_balloon *b, const struct balloon_request *q)
{
	struct vmem_ram_balloon_guest_stats s = { .reports = b->guest.reports + 1 };

	for (size_t i = 0; i < q->count; i++) {
		uint16_t tag = q->stat[i].tag;

		if (tag >= VMEM_BCH_S_NR) {
			b->st.stats_unknown_tags++;      /* virtio 5.5.6.3: ignored */
			continue;
		}
		s.value[tag] = q->stat[i].val;           /* a repeated tag: the last one counts */
		s.present |= 1u << tag;
	}
	b->guest = s;
	b->st.stats_reports++;
	return 0;
}

int balloon_apply(struct vmem_ram_balloon *b, const struct balloon_request *q)
{
	if (q->count > b->cfg.max_entries)
		return balloon_reject(b, VMEM_RB_TOO_MANY, "%s of %zu entries: at most %" PRIu32
				      " per request", op_name(q->op), q->count,
				      b->cfg.max_entries);
	switch (q->op) {
	case VMEM_BCH_INFLATE:
	case VMEM_BCH_DEFLATE:
		return apply_pages(b, q);
	case VMEM_BCH_REPORT_FREE:
		return apply_ranges(b, q);
	case VMEM_BCH_STATS:
		return apply_stats(b, q);
	}
	return balloon_reject(b, VMEM_RB_BAD_HEADER, "op %u, expected 1 (INFLATE) to 4 (STATS)",
			      (unsigned)q->op);
}

/* The direct calls: a request from the caller's arrays. */
static int direct(struct vmem_ram_balloon *b, struct balloon_request *q, const void *entries)
{
	int rc;

	if (!b)
		return VMEM_EINVAL;
	pthread_mutex_lock(&b->lock);
	b->st.requests++;
	if (q->count && !entries)
		rc = balloon_reject(b, VMEM_RB_BAD_HEADER, "%s of %zu entries from NULL",
				    op_name(q->op), q->count);
	else
		rc = balloon_apply(b, q);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int vmem_ram_balloon_inflate(struct vmem_ram_balloon *b, const uint64_t *pfn, size_t n)
{
	struct balloon_request q = { .op = VMEM_BCH_INFLATE, .count = n, .pfn = pfn };

	return direct(b, &q, pfn);
}

int vmem_ram_balloon_deflate(struct vmem_ram_balloon *b, const uint64_t *pfn, size_t n)
{
	struct balloon_request q = { .op = VMEM_BCH_DEFLATE, .count = n, .pfn = pfn };

	return direct(b, &q, pfn);
}

int vmem_ram_balloon_report_free(struct vmem_ram_balloon *b, const struct vmem_bch_range *r,
				 size_t n)
{
	struct balloon_request q = { .op = VMEM_BCH_REPORT_FREE, .count = n, .range = r };

	return direct(b, &q, r);
}

int vmem_ram_balloon_report_stats(struct vmem_ram_balloon *b, const struct vmem_bch_stat *s,
				  size_t n)
{
	struct balloon_request q = { .op = VMEM_BCH_STATS, .count = n, .stat = s };

	return direct(b, &q, s);
}

int vmem_ram_balloon_set_target(struct vmem_ram_balloon *b, uint64_t pages)
{
	if (!b)
		return VMEM_EINVAL;
	pthread_mutex_lock(&b->lock);
	if (pages > b->cfg.max_pages || pages > UINT32_MAX) {
		pthread_mutex_unlock(&b->lock);
		return VMEM_EINVAL;
	}
	b->target = (uint32_t)pages;
	b->st.target_pages = pages;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

bool vmem_ram_balloon_contains(struct vmem_ram_balloon *b, uint64_t pfn)
{
	const struct balloon_region *g;
	bool in = false;

	if (!b || pfn >> 52)
		return false;
	pthread_mutex_lock(&b->lock);
	g = balloon_region_of(b, pfn << 12);
	if (g)
		in = balloon_bit(b->in_balloon, balloon_frame(g, pfn << 12));
	pthread_mutex_unlock(&b->lock);
	return in;
}

void vmem_ram_balloon_stats(struct vmem_ram_balloon *b, struct vmem_ram_balloon_stats *out)
{
	if (!b || !out)
		return;
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	pthread_mutex_unlock(&b->lock);
}

void vmem_ram_balloon_guest_stats(struct vmem_ram_balloon *b,
				  struct vmem_ram_balloon_guest_stats *out)
{
	if (!b || !out)
		return;
	pthread_mutex_lock(&b->lock);
	*out = b->guest;
	pthread_mutex_unlock(&b->lock);
}

void vmem_ram_balloon_error(struct vmem_ram_balloon *b, char *buf, size_t len)
{
	if (!buf || !len)
		return;
	if (!b) {
		buf[0] = 0;
		return;
	}
	pthread_mutex_lock(&b->lock);
	snprintf(buf, len, "%s", b->error);
	pthread_mutex_unlock(&b->lock);
}
