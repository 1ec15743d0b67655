/*
 * The own scanner (vmem/ram_dedup.h): same-page merging of one region of real guest RAM, as
 * KSM does it (Documentation/admin-guide/mm/ksm.rst), from user space.
 *
 * The algorithm
 * -------------
 * A pass looks at the next pages_to_scan pages of the region, the cursor wrapping at its end
 * (one wrap is a full scan). First the kernel says what each page is (the PAGEMAP_SCAN
 * ioctl on /proc/self/pagemap, Documentation/admin-guide/mm/pagemap.rst): not present
 * (never touched, or dropped), the zero page (PAGE_IS_PFNZERO), a page of a file
 * (PAGE_IS_FILE: still mapping the stable store) or an anonymous page. So a merged page
 * found anonymous was written (a copy-on-write break), and a zero-merged page found neither
 * absent nor the zero page was written too: both are seen in the kernel's page tables, not
 * guessed. Only present anonymous pages are hashed (XXH3-64). As in KSM, a page is a merge
 * candidate only when its hash equals the one of its previous look; a page whose hash
 * changed is volatile and waits for the next full scan. A candidate is then:
 *   - all zeros: mapped onto the kernel's zero page (KSM's use_zero_pages);
 *   - found in the stable index (merged contents, keyed by hash): mapped onto that store
 *     page, if a full compare under write protection agrees;
 *   - found in the unstable index (candidates of this full scan, keyed by hash): both pages
 *     are compared, copied into a new store page and mapped onto it;
 *   - else put into the unstable index, which is emptied when a full scan starts (its pages
 *     stay writable, so it is trusted only through a compare).
 * The mappings are not changed at once: merges are carried out at the end of the pass by
 * runs of consecutive pages onto consecutive store pages, one write protection and one
 * mmap per run ("Merging: decisions now, remaps by runs" below).
 *
 * The mechanism
 * -------------
 * There is no system call that merges two anonymous pages from user space. What the kernel
 * does share is a page-cache page: mmap(MAP_PRIVATE | MAP_FIXED) of one page of the
 * library's memfd (the stable store) over a guest page makes every such mapping read the
 * same page-cache page, and the first write makes the kernel copy it into a private
 * anonymous page (copy-on-write, mm/memory.c do_cow_fault / wp_page_copy). The guest
 * page's own anonymous page is freed by the remap. An all-zero page is replaced by a fresh
 * empty anonymous mapping, which reads as the kernel's zero page and merges back into the
 * region's VMA.
 *
 * Why write-protect, and why with userfaultfd. Between the compare and the remap a vCPU
 * could write the page; the remap would throw that write away. So the run is
 * write-protected first and each page compared in full. mprotect would make such a write
 * a SIGSEGV (and KVM_RUN fail with EFAULT); a userfaultfd write protection (UFFDIO_WRITEPROTECT,
 * Documentation/admin-guide/mm/userfaultfd.rst) makes the writer wait in the kernel
 * instead, KVM's vCPUs included (their faults go through get_user_pages). The remap takes
 * the mmap lock for writing, so a writer is either queued before it (and woken by the
 * UFFDIO_WAKE that follows) or faults after it on the new mapping (and copies on write).
 * This is also why a zero page is not dropped with MADV_DONTNEED: that runs under the read
 * lock, and a writer that queues after the drop and the wake-up would sleep for ever (an
 * empty PTE tells userfaultfd to wait). A store mapping is registered with the scanner's
 * userfaultfd only when it needs protecting (UFFD_FEATURE_WP_HUGETLBFS_SHMEM allows it on
 * the store's shmem pages): a page written after its merge, merged again or unmerged. The
 * zero page's empty mapping is registered at once, so that its VMA flags match the region's
 * and the kernel merges the two VMAs again. Writers that waited are woken by one
 * UFFDIO_WAKE of the run after its remaps.
 *
 * The store. One 4 KiB page per merged content at offset slot * 4096 (pwrite; the file is
 * sparse). A slot's content stays while a guest page maps it unwritten (mappers); when the
 * last such page is written, the slot's page is punched out (FALLOC_FL_PUNCH_HOLE), but its
 * offset is not reused while pages written after their merge still sit in a VMA of that
 * offset (refs): if the guest dropped such a page (MADV_DONTNEED) it reads the hole, zeros,
 * as anonymous memory would. Slots never exceed the region's pages.
 *
 * VMAs. Every run of merged pages is a VMA of its own (a file mapping amid the anonymous
 * region): a run merged between two anonymous neighbours adds two. max_vmas bounds what
 * merging adds (vm.max_map_count is 65530 by default); vmas_added counts a run as
 * 2 / 1 / 0 by whether both, one or neither neighbour is anonymous (a page whose own merge
 * is pending is not), an estimate that errs high: a run next to a store mapping of the
 * neighbouring offset joins its VMA. Registering one page of such a VMA splits it again.
 *
 * Limits (docs/BACKEND.md): anonymous 4 KiB regions only; a region with a pager is refused
 * (a range takes one userfaultfd); the unstable index forgets its pages at each full scan
 * (KSM counts them as unshared until it meets them again); a merged page dropped by
 * MADV_DONTNEED reads its merged content again, not zeros; pages given back their own
 * anonymous page by vmem_ram_dedup_destroy (mremap of a filled page over them) stay VMAs
 * of their own; the new pages follow the process's NUMA policy, not the region's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "vmem/guest_ram.h"
#include "vmem/ram_dedup.h"
#include "backend/backend_internal.h"

#define PAGE 4096u
#define NONE UINT32_MAX

/* PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h): not in older headers. */
struct dedup_page_region {
	uint64_t start, end, categories;
};
struct dedup_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define DEDUP_PAGEMAP_SCAN _IOWR('f', 16, struct dedup_pm_scan_arg)
#define PAGE_IS_FILE_ (1u << 2)
#define PAGE_IS_PRESENT_ (1u << 3)
#define PAGE_IS_PFNZERO_ (1u << 5)
#define SCAN_VEC 256

enum { ST_ANON = VMEM_DEDUP_UNMERGED, ST_MERGED = VMEM_DEDUP_MERGED,
       ST_ZERO = VMEM_DEDUP_ZERO, ST_BROKEN = VMEM_DEDUP_BROKEN };

/* A guest page's record (KSM's rmap_item). */
struct page_rec {
	uint64_t checksum;           /* hash at the last look */
	uint32_t slot;               /* MERGED, BROKEN: the store offset its VMA maps */
	uint32_t unstable_epoch;     /* the full scan it entered the unstable index in */
	uint8_t state;
	uint8_t seen;                /* checksum is valid */
	uint8_t volatile_;           /* the hash changed at the last look */
	uint8_t store_registered;    /* MERGED, BROKEN: its store VMA is registered again */
};

/* A store page (a stable node). */
struct slot {
	uint64_t hash;
	uint32_t mappers;            /* MERGED pages mapping it */
	uint32_t refs;               /* MERGED + BROKEN pages whose VMA maps its offset */
	uint32_t next;               /* hash chain of live slots */
	uint32_t pending;            /* merges onto it decided but not mapped yet */
	uint8_t live;                /* holds content, in the stable index */
};

/* Merges decided but not mapped yet: guest pages [first, first + len) onto the store slots
 * [slot, slot + len), or onto the zero page (slot == NONE). vmas: what the run was
 * charged against max_vmas. */
struct pending_run {
	uint64_t first;
	uint32_t slot, len, vmas;
};
#define PENDING_RUNS 8
#define RUN_MAX 64u                  /* pages a run maps at most (its compare buffer) */

struct unstable_entry {
	uint64_t hash;
	uint32_t page;
	uint32_t epoch;              /* valid only in this full scan */
};

struct vmem_ram_dedup {
	struct vmem_ram_dedup_config cfg;
	char *base;
	uint64_t pages;
	bool nohuge;                 /* the region is madvise(MADV_NOHUGEPAGE) */
	int uffd, store_fd, pagemap_fd;

	struct page_rec *rec;
	struct slot *slots;
	uint32_t *buckets, bucket_mask;
	uint32_t *free_slots, nfree, slots_used;   /* never-used slots start at slots_used */
	struct unstable_entry *unstable;
	uint64_t unstable_mask;
	uint32_t epoch;
	uint64_t cursor;
	uint8_t *cat;                /* PAGEMAP_SCAN categories of the pass's pages */
	uint64_t cat_cap;
	uint64_t zero_hash;

	unsigned wakes_pending;      /* remaps since the last UFFDIO_WAKE of the region */
	struct pending_run pending[PENDING_RUNS];
	unsigned npending;
	uint64_t pending_vmas;       /* charged by the pending runs */
	unsigned char *run_buf;      /* RUN_MAX store pages read back */

	struct vmem_ram_dedup_stats n;   /* the counters kept as they go */
	uint64_t total_mappers;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stopping;
	char err[256];
};

void vmem_ram_dedup_config_default(struct vmem_ram_dedup_config *c)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	unsigned long max = 65530;

	memset(c, 0, sizeof(*c));
	c->pages_to_scan = 100;
	c->sleep_millisecs = 20;
	c->merge_zero_pages = true;
	if (f) {
		if (fscanf(f, "%lu", &max) != 1)
			max = 65530;
		fclose(f);
	}
	c->max_vmas = (uint32_t)(max / 4);
}

/* ---- userfaultfd on one page ---- */

static int uffd_wp(struct vmem_ram_dedup *d, uint64_t i, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)(d->base + i * PAGE), .len = PAGE },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	while (ioctl(d->uffd, UFFDIO_WRITEPROTECT, &wp))
		if (errno != EAGAIN)
			return -errno;
	return 0;
}

/* Wakes every writer waiting on the region (UFFDIO_WAKE; cheap when none waits). */
static void uffd_wake_region(struct vmem_ram_dedup *d)
{
	struct uffdio_range r = { .start = (uintptr_t)d->base, .len = d->pages * PAGE };

	ioctl(d->uffd, UFFDIO_WAKE, &r);
	d->wakes_pending = 0;
}

/*
 * A page was remapped while protected: a writer may wait on it. The wake-up is shared by
 * WAKE_EVERY remaps (and the end of each pass), which saves a system call per merge; a
 * write that raced a merge waits at most that many merges (a few hundred microseconds).
 * Correct because a writer queued before a remap stays queued until woken, and one that
 * faults after it finds the new mapping, which has no write protection.
 */
#define WAKE_EVERY 16
static void wake_later(struct vmem_ram_dedup *d)
{
	if (++d->wakes_pending >= WAKE_EVERY)
		uffd_wake_region(d);
}

static int uffd_register(struct vmem_ram_dedup *d, void *addr, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(d->uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

/* Write-protects page i. A page mapped from the store sits in a VMA of its own that the
 * remap left unregistered; it is registered only now, when it needs protecting (written
 * after its merge, or being unmerged), which saves a system call on every merge. */
static int protect(struct vmem_ram_dedup *d, uint64_t i)
{
	struct page_rec *r = &d->rec[i];

	if ((r->state == ST_MERGED || r->state == ST_BROKEN) && !r->store_registered) {
		int rc = uffd_register(d, d->base + i * PAGE, PAGE);

		if (rc)
			return rc;
		r->store_registered = 1;
	}
	return uffd_wp(d, i, true);
}

/* ---- The stable store ---- */

static uint32_t slot_alloc(struct vmem_ram_dedup *d)
{
	if (d->nfree)
		return d->free_slots[--d->nfree];
	return d->slots_used < d->pages ? d->slots_used++ : NONE;
}

static void stable_insert(struct vmem_ram_dedup *d, uint32_t s, uint64_t hash)
{
	uint32_t b = (uint32_t)hash & d->bucket_mask;

	d->slots[s] = (struct slot){ .hash = hash, .next = d->buckets[b], .live = 1 };
	d->buckets[b] = s;
	d->n.store_pages++;
}

/* The slot's last unwritten mapper is gone: drop its content, keep its offset. */
static void stable_remove(struct vmem_ram_dedup *d, uint32_t s)
{
	uint32_t *p = &d->buckets[(uint32_t)d->slots[s].hash & d->bucket_mask];

	while (*p != s)
		p = &d->slots[*p].next;
	*p = d->slots[s].next;
	d->slots[s].live = 0;
	d->n.store_pages--;
	if (fallocate(d->store_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s * PAGE,
		      PAGE))
		d->n.errors++;
}

static void slot_put_mapper(struct vmem_ram_dedup *d, uint32_t s)
{
	d->total_mappers--;
	if (--d->slots[s].mappers == 0 && d->slots[s].pending == 0)
		stable_remove(d, s);
}

static void slot_put_ref(struct vmem_ram_dedup *d, uint32_t s)
{
	if (--d->slots[s].refs == 0 && !d->slots[s].live && d->slots[s].pending == 0)
		d->free_slots[d->nfree++] = s;
}

/* The live slot with this hash, or NONE. Only the hash is matched here: the page is
 * compared in full with the slot's page under write protection when its run is carried
 * out (flush_run), and left alone if they differ. */
static uint32_t stable_find(struct vmem_ram_dedup *d, uint64_t hash)
{
	for (uint32_t s = d->buckets[(uint32_t)hash & d->bucket_mask]; s != NONE;
	     s = d->slots[s].next)
		if (d->slots[s].hash == hash)
			return s;
	return NONE;
}

/* ---- The unstable index ---- */

static struct unstable_entry *unstable_slot(struct vmem_ram_dedup *d, uint64_t hash)
{
	uint64_t i = hash & d->unstable_mask;

	/* At most one entry per page and hash per full scan, in a table of twice the pages:
	 * a free entry is always found. */
	while (d->unstable[i].epoch == d->epoch && d->unstable[i].hash != hash)
		i = (i + 1) & d->unstable_mask;
	return &d->unstable[i];
}

/* ---- VMA accounting ---- */

/* Whether page i is in a run whose merge is decided but not carried out yet. */
static bool pending_page(const struct vmem_ram_dedup *d, uint64_t i)
{
	for (unsigned k = 0; k < d->npending; k++)
		if (i >= d->pending[k].first && i < d->pending[k].first + d->pending[k].len)
			return true;
	return false;
}

/* Whether the page step away from i sits in the region's anonymous VMA (and will stay
 * there: a page with a merge pending will not). */
static bool anon_vma_page(const struct vmem_ram_dedup *d, uint64_t i, int64_t step)
{
	if ((step < 0 && i == 0) || (step > 0 && i + 1 >= d->pages))
		return false;                /* the region's edge: another VMA */
	uint64_t n = i + (uint64_t)step;
	uint8_t st = d->rec[n].state;
	return (st == ST_ANON || st == ST_ZERO) && !pending_page(d, n);
}

/* VMAs added by turning anonymous page i into a VMA of its own. */
static uint32_t vmas_for_split(const struct vmem_ram_dedup *d, uint64_t i)
{
	return (uint32_t)anon_vma_page(d, i, -1) + (uint32_t)anon_vma_page(d, i, +1);
}

/* ---- Merging: decisions now, remaps by runs ---- */

/*
 * A merge is decided when a page's hash is found (stable index) or matched (unstable
 * index), and carried out later, by runs: guest pages that are consecutive and merge onto
 * consecutive store slots (or all onto the zero page) are write-protected, compared and
 * remapped together, one UFFDIO_WRITEPROTECT and one mmap for the whole run. The remap is
 * most of a merge's cost (an mmap splits the region's VMA and zaps the old page, some
 * 10 us on this kind of machine), and the pages that merge between guests booted from
 * one image come in runs: the same program and library pages in the same order (the
 * bundled snapshots of two python3 processes hold 5,618 mergeable pages in 181 such runs).
 * Slots are allocated in the order pairs are found, so a run of pairs gets a run of slots.
 * Pending runs are all carried out before a pass returns, and every pending page is behind
 * the cursor, so no page is looked at while its merge is pending.
 */

static bool vma_budget(struct vmem_ram_dedup *d, uint32_t vmas)
{
	if (d->n.vmas_added + d->pending_vmas + vmas <= d->cfg.max_vmas)
		return true;
	d->n.vma_limit_hits++;
	return false;
}

/* The pending run page i would extend (onto slot s, NONE for the zero page), or NULL. */
static struct pending_run *run_extended_by(struct vmem_ram_dedup *d, uint64_t i, uint32_t s)
{
	for (unsigned k = 0; k < d->npending; k++) {
		struct pending_run *run = &d->pending[k];

		if (run->first + run->len == i && run->len < RUN_MAX &&
		    (s == NONE ? run->slot == NONE :
				 run->slot != NONE && run->slot + run->len == s))
			return run;
	}
	return NULL;
}

/* VMAs that merging page i onto s would add: none when it extends a run (the run's VMA
 * grows over it) or when it sits in a VMA of its own already (written after a merge) or
 * when it goes to the zero page (its mapping joins the region's VMA); otherwise one per
 * anonymous neighbour that it splits off. An estimate that errs high: a run next to a
 * store mapping of the neighbouring offset joins that VMA. */
static uint32_t vmas_for_merge(struct vmem_ram_dedup *d, uint64_t i, uint32_t s)
{
	if (s == NONE || d->rec[i].state == ST_BROKEN || run_extended_by(d, i, s))
		return 0;
	return vmas_for_split(d, i);
}

static void flush_runs(struct vmem_ram_dedup *d);

/* Adds page i onto slot s (NONE: the zero page) to the pending runs, with vmas charged. */
static void defer_merge(struct vmem_ram_dedup *d, uint64_t i, uint32_t s, uint32_t vmas)
{
	struct pending_run *run;

	/* Counted first: carrying the other runs out below settles their slots, and s (made
	 * for a pair whose first page's run is among them, say) must not be dropped or freed
	 * while this merge onto it is still to come. */
	if (s != NONE)
		d->slots[s].pending++;
	run = run_extended_by(d, i, s);
	if (!run) {
		if (d->npending == PENDING_RUNS)
			flush_runs(d);
		run = &d->pending[d->npending++];
		*run = (struct pending_run){ .first = i, .slot = s };
	}
	run->len++;
	run->vmas += vmas;
	d->pending_vmas += vmas;
}

/* Page i now maps slot s. */
static void account_merged(struct vmem_ram_dedup *d, uint64_t i, uint32_t s)
{
	struct page_rec *r = &d->rec[i];

	if (r->state == ST_BROKEN)
		slot_put_ref(d, r->slot);
	r->state = ST_MERGED;
	r->slot = s;
	r->store_registered = 0;
	d->slots[s].mappers++;
	d->slots[s].refs++;
	d->total_mappers++;
	d->n.pages_merged++;
}

/* Page i now reads as the kernel's zero page. */
static void account_zero(struct vmem_ram_dedup *d, uint64_t i)
{
	struct page_rec *r = &d->rec[i];

	if (r->state == ST_BROKEN) {         /* a VMA of its own no more */
		slot_put_ref(d, r->slot);
		uint32_t v = vmas_for_split(d, i);
		d->n.vmas_added -= v < d->n.vmas_added ? v : d->n.vmas_added;
	}
	r->state = ST_ZERO;
	d->n.ksm_zero_pages++;
	d->n.zero_pages_merged++;
}

static bool page_is_zero(const void *page)
{
	const uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k])
			return false;
	return true;
}

/* Replaces pages [i, i + n) by one mapping: of store slots [s, s + n), or (s == NONE) an
 * empty anonymous mapping that reads as the zero page, registered at once so that its VMA
 * flags match the region's and the kernel merges them again. */
static int remap(struct vmem_ram_dedup *d, uint64_t i, uint64_t n, uint32_t s)
{
	void *a = d->base + i * PAGE;
	void *got = s == NONE ?
		mmap(a, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		     -1, 0) :
		mmap(a, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, d->store_fd,
		     (off_t)s * PAGE);

	if (got == MAP_FAILED) {
		int e = errno;

		backend_errf(d->err, sizeof(d->err), "mmap of %s over pages %" PRIu64 "..%"
			     PRIu64 ": %s", s == NONE ? "an empty mapping" : "store pages", i,
			     i + n - 1, strerror(e));
		return -e;
	}
	d->n.remaps++;
	if (s == NONE) {
		if (d->nohuge)
			madvise(a, n * PAGE, MADV_NOHUGEPAGE);
		if (uffd_register(d, a, n * PAGE))
			d->n.errors++;
	}
	return 0;
}

/* A slot whose pending merges are all carried out: dropped if nothing maps it, freed if
 * no VMA maps its offset either. */
static void slot_settle(struct vmem_ram_dedup *d, uint32_t s)
{
	struct slot *sl = &d->slots[s];

	if (sl->pending)
		return;
	if (sl->live && sl->mappers == 0)
		stable_remove(d, s);
	if (!sl->live && sl->refs == 0 && sl->mappers == 0)
		d->free_slots[d->nfree++] = s;
}

/*
 * Carries one run out. Between the decision and now the guest may have written any of its
 * pages, and the decision compared without protection (or only hashes, for the stable
 * index): so the run is write-protected first (a writer now waits in the kernel) and each
 * page compared in full with what it will map; the pages that still match are remapped by
 * maximal sub-runs, the others unprotected (merge_races). A remap drops the protection
 * (the new VMA is not registered); the writers that waited are woken after it. mmap takes
 * the mmap lock for writing, so a writer is either queued before it (and woken by the
 * UFFDIO_WAKE) or faults after it on the new mapping (and copies on write).
 */
static void flush_run(struct vmem_ram_dedup *d, const struct pending_run *run)
{
	const bool zero = run->slot == NONE;
	uint64_t i0 = run->first, n = run->len;
	bool match[RUN_MAX];
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)(d->base + i0 * PAGE), .len = n * PAGE },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	struct uffdio_range all = wp.range;
	bool mapped = false;
	int rc = 0;

	d->pending_vmas -= run->vmas;
	/* A page written after an earlier merge sits in a store VMA that is not registered
	 * yet (protect()); register it so that the whole run can be protected at once. */
	for (uint64_t k = 0; k < n && !rc; k++) {
		struct page_rec *r = &d->rec[i0 + k];

		if (r->state == ST_BROKEN && !r->store_registered) {
			rc = uffd_register(d, d->base + (i0 + k) * PAGE, PAGE);
			r->store_registered = !rc;
		}
	}
	while (!rc && ioctl(d->uffd, UFFDIO_WRITEPROTECT, &wp))
		if (errno != EAGAIN)
			rc = -errno;
	if (!rc && !zero &&
	    pread(d->store_fd, d->run_buf, n * PAGE, (off_t)run->slot * PAGE) !=
	    (ssize_t)(n * PAGE))
		rc = -EIO;
	if (rc) {
		d->n.errors += n;
		goto settle;
	}
	for (uint64_t k = 0; k < n; k++) {
		const char *a = d->base + (i0 + k) * PAGE;

		match[k] = zero ? page_is_zero(a) : !memcmp(a, d->run_buf + k * PAGE, PAGE);
		if (!match[k]) {
			uffd_wp(d, i0 + k, false);
			d->n.merge_races++;
		}
	}
	for (uint64_t k = 0; k < n;) {
		uint64_t len = 0;

		if (!match[k]) {
			k++;
			continue;
		}
		while (k + len < n && match[k + len])
			len++;
		if (remap(d, i0 + k, len, zero ? NONE : run->slot + (uint32_t)k)) {
			for (uint64_t m = k; m < k + len; m++)
				uffd_wp(d, i0 + m, false);
			d->n.errors += len;
		} else {
			for (uint64_t m = k; m < k + len; m++) {
				if (zero)
					account_zero(d, i0 + m);
				else
					account_merged(d, i0 + m, run->slot + (uint32_t)m);
			}
			mapped = true;
		}
		k += len;
	}
	if (mapped)
		d->n.vmas_added += run->vmas;
	ioctl(d->uffd, UFFDIO_WAKE, &all);
settle:
	if (!zero)
		for (uint64_t k = 0; k < n; k++) {
			d->slots[run->slot + k].pending--;
			slot_settle(d, run->slot + (uint32_t)k);
		}
}

static void flush_runs(struct vmem_ram_dedup *d)
{
	for (unsigned k = 0; k < d->npending; k++)
		flush_run(d, &d->pending[k]);
	d->npending = 0;
}

/* Page i onto live slot s, whose hash it has: compared in full when the run is flushed. */
static void merge_into_stable(struct vmem_ram_dedup *d, uint64_t i, uint32_t s)
{
	uint32_t vmas = vmas_for_merge(d, i, s);

	if (vma_budget(d, vmas))
		defer_merge(d, i, s, vmas);
}

/* Pages i and j (same hash) into a new store page. Returns true if the merge is decided. */
static bool merge_pair(struct vmem_ram_dedup *d, uint64_t i, uint64_t j, uint64_t hash)
{
	char *a = d->base + i * PAGE, *b = d->base + j * PAGE;
	uint32_t s, vj, vi;

	if (memcmp(a, b, PAGE))
		return false;
	s = slot_alloc(d);
	if (s == NONE)
		return false;                /* cannot happen: slots never exceed pages */
	vj = vmas_for_merge(d, j, s);
	vi = vmas_for_merge(d, i, s);
	if (!vma_budget(d, vj + vi)) {
		d->free_slots[d->nfree++] = s;
		return false;
	}
	/* The store page is written from a copy of one of the two, taken once and checked
	 * against the hash the slot is filed under: a writer may change the page while it is
	 * copied (nothing is protected yet), and a slot whose bytes did not match its hash
	 * would take pages of another content later. Both pages are compared with the store
	 * page under write protection when their runs are flushed. run_buf is free here:
	 * runs are flushed only after this returns. */
	memcpy(d->run_buf, a, PAGE);
	if (XXH3_64bits(d->run_buf, PAGE) != hash) {
		d->free_slots[d->nfree++] = s;
		d->n.merge_races++;
		return false;
	}
	if (pwrite(d->store_fd, d->run_buf, PAGE, (off_t)s * PAGE) != PAGE) {
		backend_errf(d->err, sizeof(d->err), "writing store page %" PRIu32 ": %s", s,
			     strerror(errno));
		d->free_slots[d->nfree++] = s;
		d->n.errors++;
		return false;
	}
	stable_insert(d, s, hash);
	defer_merge(d, j, s, vj);
	defer_merge(d, i, s, vi);
	return true;
}

/* ---- A pass ---- */

static int classify(struct vmem_ram_dedup *d, uint64_t first, uint64_t n)
{
	struct dedup_page_region vec[SCAN_VEC];
	uint64_t start = (uintptr_t)(d->base + first * PAGE), end = start + n * PAGE;

	memset(d->cat, 0, n);
	while (start < end) {
		struct dedup_pm_scan_arg arg = {
			.size = sizeof(arg), .start = start, .end = end,
			.vec = (uintptr_t)vec, .vec_len = SCAN_VEC,
			.category_anyof_mask = PAGE_IS_PRESENT_,
			.return_mask = PAGE_IS_PRESENT_ | PAGE_IS_FILE_ | PAGE_IS_PFNZERO_,
		};
		long got = ioctl(d->pagemap_fd, DEDUP_PAGEMAP_SCAN, &arg);

		if (got < 0) {
			backend_errf(d->err, sizeof(d->err), "PAGEMAP_SCAN: %s", strerror(errno));
			return VMEM_EIO;
		}
		for (long k = 0; k < got; k++)
			for (uint64_t p = vec[k].start; p < vec[k].end; p += PAGE)
				d->cat[(p - (uintptr_t)d->base) / PAGE - first] =
					(uint8_t)vec[k].categories;
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	return 0;
}

static void look_at(struct vmem_ram_dedup *d, uint64_t i, uint8_t cat)
{
	struct page_rec *r = &d->rec[i];
	const void *a = d->base + i * PAGE;
	bool present = cat & PAGE_IS_PRESENT_, file = cat & PAGE_IS_FILE_,
	     zero = cat & PAGE_IS_PFNZERO_;
	uint64_t h;
	uint32_t s;

	if (r->state == ST_MERGED) {
		if (!present || file)
			return;              /* still the store's page (or not mapped yet) */
		r->state = ST_BROKEN;        /* written: the kernel copied it */
		slot_put_mapper(d, r->slot);
		d->n.cow_breaks++;
	} else if (r->state == ST_ZERO) {
		if (!present || zero)
			return;
		r->state = ST_ANON;
		d->n.ksm_zero_pages--;
		d->n.zero_cow_breaks++;
	}
	if (!present || zero || file)
		return;                      /* nothing to merge, or a dropped written page */

	h = XXH3_64bits(a, PAGE);
	d->n.pages_scanned++;
	if (!r->seen || r->checksum != h) {
		r->checksum = h;
		r->seen = 1;
		r->volatile_ = 1;
		return;
	}
	r->volatile_ = 0;
	if (h == d->zero_hash && d->cfg.merge_zero_pages && page_is_zero(a)) {
		defer_merge(d, i, NONE, 0);
		return;
	}
	s = stable_find(d, h);
	if (s != NONE) {
		merge_into_stable(d, i, s);
		return;
	}
	struct unstable_entry *e = unstable_slot(d, h);
	if (e->epoch == d->epoch && e->page != NONE && e->page != i) {
		uint64_t j = e->page;
		struct page_rec *rj = &d->rec[j];

		if (rj->unstable_epoch == d->epoch && rj->checksum == h &&
		    (rj->state == ST_ANON || rj->state == ST_BROKEN) && merge_pair(d, i, j, h)) {
			e->page = NONE;
			return;
		}
	}
	/* i waits for a partner (it replaces a stale or different entry of this hash). */
	*e = (struct unstable_entry){ .hash = h, .page = (uint32_t)i, .epoch = d->epoch };
	r->unstable_epoch = d->epoch;
}

static int64_t scan_locked(struct vmem_ram_dedup *d, uint64_t want)
{
	struct timespec t0, t1;
	uint64_t looked = 0;
	int rc = 0;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	while (looked < want) {
		uint64_t n = d->pages - d->cursor;

		if (n > want - looked)
			n = want - looked;
		if (n > d->cat_cap)
			n = d->cat_cap;
		if (d->cursor == 0)
			d->epoch++;          /* a new full scan: the unstable index is empty */
		rc = classify(d, d->cursor, n);
		if (rc)
			break;
		for (uint64_t k = 0; k < n; k++)
			look_at(d, d->cursor + k, d->cat[k]);
		looked += n;
		d->cursor += n;
		if (d->cursor == d->pages) {
			d->cursor = 0;
			d->n.full_scans++;
			break;               /* as ksmd: the pass that ends a full scan stops there */
		}
	}
	flush_runs(d);
	if (d->wakes_pending)
		uffd_wake_region(d);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	d->n.cpu_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll +
				  (t1.tv_nsec - t0.tv_nsec));
	return rc ? rc : (int64_t)looked;
}

int64_t vmem_ram_dedup_scan(struct vmem_ram_dedup *d, uint64_t pages)
{
	int64_t rc;

	if (!d)
		return VMEM_EINVAL;
	pthread_mutex_lock(&d->lock);
	rc = scan_locked(d, pages ? pages : d->cfg.pages_to_scan);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static void *scanner_thread(void *arg)
{
	struct vmem_ram_dedup *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		struct timespec until;

		scan_locked(d, d->cfg.pages_to_scan);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(d->cfg.sleep_millisecs % 1000) * 1000000l;
		until.tv_sec += d->cfg.sleep_millisecs / 1000 + until.tv_nsec / 1000000000l;
		until.tv_nsec %= 1000000000l;
		while (!d->stopping &&
		       pthread_cond_timedwait(&d->wake, &d->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int vmem_ram_dedup_start(struct vmem_ram_dedup *d)
{
	int rc = 0;

	if (!d)
		return VMEM_EINVAL;
	pthread_mutex_lock(&d->lock);
	if (!d->running) {
		d->stopping = false;
		if (pthread_create(&d->thread, NULL, scanner_thread, d)) {
			backend_errf(d->err, sizeof(d->err), "cannot start the scanner thread");
			rc = VMEM_ENOMEM;
		} else {
			d->running = true;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void vmem_ram_dedup_stop(struct vmem_ram_dedup *d)
{
	bool join;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	join = d->running;
	d->stopping = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
	if (join)
		pthread_join(d->thread, NULL);
	pthread_mutex_lock(&d->lock);
	d->running = false;
	pthread_mutex_unlock(&d->lock);
}

void vmem_ram_dedup_stats(struct vmem_ram_dedup *d, struct vmem_ram_dedup_stats *out)
{
	uint64_t unshared = 0, volatile_ = 0;

	pthread_mutex_lock(&d->lock);
	*out = d->n;
	for (uint64_t i = 0; i < d->pages; i++) {
		const struct page_rec *r = &d->rec[i];

		if (r->state != ST_ANON && r->state != ST_BROKEN)
			continue;
		if (r->volatile_)
			volatile_++;
		else if (r->unstable_epoch == d->epoch && r->seen)
			unshared++;
	}
	out->pages_unshared = unshared;
	out->pages_volatile = volatile_;
	out->pages_shared = d->n.store_pages;
	out->pages_sharing = d->total_mappers - d->n.store_pages;
	out->metadata_bytes = d->pages * (sizeof(struct page_rec) + sizeof(struct slot) +
					  sizeof(uint32_t) * 2 + 2 * sizeof(struct unstable_entry)) +
			      d->cat_cap;
	pthread_mutex_unlock(&d->lock);
}

int vmem_ram_dedup_page_state(struct vmem_ram_dedup *d, uint64_t page)
{
	int st;

	if (!d || page >= d->pages)
		return VMEM_ERANGE;
	pthread_mutex_lock(&d->lock);
	st = d->rec[page].state;
	pthread_mutex_unlock(&d->lock);
	return st;
}

const char *vmem_ram_dedup_error(struct vmem_ram_dedup *d)
{
	return d ? d->err : "";
}

/* ---- Create and destroy ---- */

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static void free_tables(struct vmem_ram_dedup *d)
{
	free(d->rec);
	free(d->slots);
	free(d->buckets);
	free(d->free_slots);
	free(d->unstable);
	free(d->cat);
	free(d->run_buf);
}

static void close_fds(struct vmem_ram_dedup *d)
{
	if (d->uffd >= 0)
		close(d->uffd);
	if (d->store_fd >= 0)
		close(d->store_fd);
	if (d->pagemap_fd >= 0)
		close(d->pagemap_fd);
}

static int open_kernel_side(struct vmem_ram_dedup *d, unsigned region, char *err,
			    size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
	struct dedup_pm_scan_arg probe = {
		.size = sizeof(probe), .start = (uintptr_t)d->base, .end = (uintptr_t)d->base,
	};
	int rc;

	d->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (d->pagemap_fd < 0 || ioctl(d->pagemap_fd, DEDUP_PAGEMAP_SCAN, &probe) < 0) {
		backend_errf(err, errlen, "dedup: the PAGEMAP_SCAN ioctl of /proc/self/pagemap "
			     "(Linux 6.7) is needed: %s", strerror(errno));
		return VMEM_EINVAL;
	}
	d->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (d->uffd < 0) {
		backend_errf(err, errlen, "dedup: userfaultfd: %s%s", strerror(errno),
			     errno == EPERM ? " (as a user, vm.unprivileged_userfaultfd=1 is "
			     "needed)" : "");
		return VMEM_EINVAL;
	}
	if (ioctl(d->uffd, UFFDIO_API, &api)) {
		backend_errf(err, errlen, "dedup: userfaultfd write protection of shmem pages "
			     "(UFFD_FEATURE_WP_HUGETLBFS_SHMEM) is needed: %s", strerror(errno));
		return VMEM_EINVAL;
	}
	rc = uffd_register(d, d->base, d->pages * PAGE);
	if (rc == -EBUSY) {
		backend_errf(err, errlen, "dedup: region %u is registered with another userfaultfd "
			     "(a pager owns it): merging needs to write-protect its pages with its "
			     "own; destroy the pager first", region);
		return VMEM_EINVAL;
	}
	if (rc) {
		backend_errf(err, errlen, "dedup: UFFDIO_REGISTER (write-protect) of region %u: %s",
			     region, strerror(-rc));
		return VMEM_EINVAL;
	}
	d->store_fd = memfd_create("vmem-dedup-store", MFD_CLOEXEC);
	if (d->store_fd < 0 || ftruncate(d->store_fd, (off_t)(d->pages * PAGE))) {
		backend_errf(err, errlen, "dedup: the store memfd: %s", strerror(errno));
		return VMEM_ENOMEM;
	}
	return 0;
}

int vmem_ram_dedup_create(struct vmem_guest_ram *ram, unsigned region,
			  const struct vmem_ram_dedup_config *c, struct vmem_ram_dedup **out,
			  char *err, size_t errlen)
{
	struct vmem_ram_dedup_config defaults;
	struct vmem_ram_region r;
	struct vmem_ram_dedup *d;
	static const unsigned char zeros[PAGE];
	uint64_t buckets;
	int rc;

	if (!ram || !out) {
		backend_errf(err, errlen, "dedup: %s is NULL", ram ? "out" : "guest RAM");
		return VMEM_EINVAL;
	}
	if (vmem_guest_ram_region(ram, region, &r)) {
		backend_errf(err, errlen, "dedup: no region %u (guest RAM has %u)", region,
			     vmem_guest_ram_regions(ram));
		return VMEM_EINVAL;
	}
	if (r.backing != VMEM_RAM_ANON || r.pages != VMEM_RAM_4K) {
		backend_errf(err, errlen, "dedup: region %u is %s; the scanner merges anonymous "
			     "regions of 4 KiB pages only", region,
			     r.backing != VMEM_RAM_ANON ? "memfd-backed (shared with its file)" :
			     r.pages == VMEM_RAM_THP ? "THP-backed (merging would split its huge "
						       "pages)" : "hugetlb-backed");
		return VMEM_EINVAL;
	}
	if (!c) {
		vmem_ram_dedup_config_default(&defaults);
		c = &defaults;
	}
	if (c->pages_to_scan == 0) {
		backend_errf(err, errlen, "dedup: pages_to_scan must be at least 1");
		return VMEM_EINVAL;
	}
	if (r.size / PAGE >= NONE) {
		backend_errf(err, errlen, "dedup: region %u has %" PRIu64 " pages; at most %u",
			     region, r.size / PAGE, NONE - 1);
		return VMEM_EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return VMEM_ENOMEM;
	d->cfg = *c;
	d->base = r.hva;
	d->pages = r.size / PAGE;
	d->nohuge = true;
	d->uffd = d->store_fd = d->pagemap_fd = -1;
	d->cat_cap = d->pages < 65536 ? d->pages : 65536;
	buckets = pow2_at_least(d->pages);
	d->bucket_mask = (uint32_t)(buckets - 1);
	d->unstable_mask = pow2_at_least(2 * d->pages) - 1;
	d->rec = calloc(d->pages, sizeof(*d->rec));
	d->slots = calloc(d->pages, sizeof(*d->slots));
	d->buckets = malloc(buckets * sizeof(*d->buckets));
	d->free_slots = malloc(d->pages * sizeof(*d->free_slots));
	d->unstable = calloc(d->unstable_mask + 1, sizeof(*d->unstable));
	d->cat = malloc(d->cat_cap);
	d->run_buf = malloc(RUN_MAX * PAGE);
	if (!d->run_buf || !d->rec || !d->slots || !d->buckets || !d->free_slots ||
	    !d->unstable || !d->cat) {
		free_tables(d);
		free(d);
		backend_errf(err, errlen, "dedup: out of memory for the tables of %" PRIu64
			     " pages", r.size / PAGE);
		return VMEM_ENOMEM;
	}
	memset(d->buckets, 0xff, buckets * sizeof(*d->buckets));
	d->zero_hash = XXH3_64bits(zeros, PAGE);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	rc = open_kernel_side(d, region, err, errlen);
	if (rc) {
		close_fds(d);
		free_tables(d);
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

/* Gives page i (merged, or written after its merge) its own anonymous page again: a page
 * filled elsewhere is moved over it with mremap, under write protection (mremap takes the
 * mmap lock for writing, as the merge's mmap does). */
static int unmerge_page(struct vmem_ram_dedup *d, uint64_t i)
{
	struct page_rec *r = &d->rec[i];
	char *a = d->base + i * PAGE;
	void *tmp;

	if (protect(d, i)) {
		backend_errf(d->err, sizeof(d->err), "unmerging page %" PRIu64
			     ": write protection failed", i);
		return VMEM_EIO;
	}
	tmp = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED) {
		uffd_wp(d, i, false);
		backend_errf(d->err, sizeof(d->err), "unmerging page %" PRIu64 ": %s", i,
			     strerror(errno));
		return VMEM_ENOMEM;
	}
	memcpy(tmp, a, PAGE);
	if (d->nohuge)
		madvise(tmp, PAGE, MADV_NOHUGEPAGE);
	if (mremap(tmp, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a) == MAP_FAILED) {
		backend_errf(d->err, sizeof(d->err), "unmerging page %" PRIu64 ": mremap: %s", i,
			     strerror(errno));
		munmap(tmp, PAGE);
		uffd_wp(d, i, false);
		return VMEM_EIO;
	}
	if (r->state == ST_MERGED)
		slot_put_mapper(d, r->slot);
	slot_put_ref(d, r->slot);
	r->state = ST_ANON;
	wake_later(d);
	return 0;
}

int vmem_ram_dedup_destroy(struct vmem_ram_dedup *d)
{
	int rc = 0;

	if (!d)
		return 0;
	vmem_ram_dedup_stop(d);
	pthread_mutex_lock(&d->lock);
	for (uint64_t i = 0; i < d->pages; i++) {
		if (d->rec[i].state == ST_MERGED || d->rec[i].state == ST_BROKEN) {
			int e = unmerge_page(d, i);

			if (e && !rc)
				rc = e;
		}
	}
	uffd_wake_region(d);
	pthread_mutex_unlock(&d->lock);
	/* Closing the userfaultfd unregisters the region and wakes any waiter. */
	close_fds(d);
	free_tables(d);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->wake);
	free(d);
	return rc;
}

/* ---- The kernel's figures ---- */

int vmem_ram_smaps(const void *addr, uint64_t len, struct vmem_ram_smaps *out)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	uintptr_t lo_want = (uintptr_t)addr, hi_want = lo_want + len;
	char line[512];
	bool in = false;

	memset(out, 0, sizeof(*out));
	if (!f)
		return VMEM_EIO;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, kb;
		char key[64];
		char *dash = strchr(line, '-'), *space = strchr(line, ' ');

		if (dash && space && dash < space && sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = lo < hi_want && hi > lo_want;
			out->vmas += in;
			continue;
		}
		if (!in || sscanf(line, "%63[^:]: %lu kB", key, &kb) != 2)
			continue;
		if (!strcmp(key, "Rss"))
			out->rss_kb += kb;
		else if (!strcmp(key, "Pss"))
			out->pss_kb += kb;
		else if (!strcmp(key, "Anonymous"))
			out->anonymous_kb += kb;
		else if (!strcmp(key, "Shared_Clean"))
			out->shared_clean_kb += kb;
		else if (!strcmp(key, "Shared_Dirty"))
			out->shared_dirty_kb += kb;
		else if (!strcmp(key, "Private_Clean"))
			out->private_clean_kb += kb;
		else if (!strcmp(key, "Private_Dirty"))
			out->private_dirty_kb += kb;
	}
	fclose(f);
	return 0;
}
