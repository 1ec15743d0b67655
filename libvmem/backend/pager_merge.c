/*
 * Merged pages of the pager (vmem/pager.h, "Merged pages"): a guest page mapped
 * MAP_PRIVATE from a page of the pager's store, a memfd, so that pages of one content
 * share one page-cache page. The caller decides what to merge (vmem/ram_manager.h: the
 * manager's dedup policy); this file carries it out on the real region.
 *
 * Why write-protect, and why through the pager's own userfaultfd. Between the compare
 * and the remap a vCPU could write the page, and the remap would throw that write away.
 * So the page is write-protected first (UFFDIO_WRITEPROTECT: a writer waits in the
 * kernel, KVM's vCPUs included, where mprotect would give it SIGSEGV or KVM_RUN EFAULT)
 * and only then compared. A range is registered with one userfaultfd: the pager's, so it
 * is the pager's that protects. The remap (mmap MAP_FIXED) takes the mmap lock for
 * writing: a writer is either queued on the protection before it (and woken by the
 * UFFDIO_WAKE that follows; its retry faults on the new mapping and copies the store
 * page) or faults after it on the new mapping. The page's BUSY bit (pager.c) keeps the
 * pager's own eviction and fault service off the page meanwhile.
 *
 * VMAs. The remap makes the page a VMA of its own (a file mapping amid the anonymous
 * region). It is registered with the pager's userfaultfd in MISSING | WP mode at once:
 * a range write protection (vmem_pager_write_protect, every scan) fails with ENOENT at
 * the first VMA of the range that is not registered, and with WP the scans see writes
 * to merged pages too (the handler lets them through: the kernel then copies the store
 * page). Write protection of a shmem VMA needs UFFD_FEATURE_WP_HUGETLBFS_SHMEM, asked for
 * when the pager's userfaultfd is made. MISSING never fires on a merged page: its store
 * page stays in the page cache as long as a page maps it (a MAP_PRIVATE read of a
 * page-cache page is a plain minor fault).
 *
 * Unmerging. A merged page written by the guest holds a private anonymous copy inside
 * the store's VMA; MADV_DONTNEED would drop that copy and the next access would read the
 * store page again, silently and stale, with no MISSING fault to serve it. So before such
 * a page can be evicted it gets an anonymous VMA back: its content is copied into a page
 * mapped elsewhere, which mremap moves over it (one mmap-lock-for-writing step, so no
 * access sees an empty page in between), and the moved VMA, which mremap leaves
 * unregistered, is registered again (MISSING | WP). Between the two an access finds the
 * right content; only a write there is not reported, and the caller rehashes an unmerged
 * page anyway. The kernel keeps such a page a VMA of its own (its anon_vma is not the
 * region's).
 *
 * The store. Slot s is the memfd's page at s * 4096, written with pwrite and read back.
 * When no merged page maps it any more, its page is punched out (FALLOC_FL_PUNCH_HOLE)
 * and the slot is reused. Slots never exceed the region's pages.
 *
 * Kernel references: Documentation/admin-guide/mm/userfaultfd.rst (write protection of
 * shmem with UFFD_FEATURE_WP_HUGETLBFS_SHMEM), Documentation/admin-guide/mm/pagemap.rst
 * (bit 61: "page is file-page or shared-anon", bit 63: present), mmap(2), mremap(2),
 * fallocate(2) FALLOC_FL_PUNCH_HOLE, memfd_create(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmem/pager.h"
#include "backend/pager_internal.h"

#define PM_PRESENT (1ull << 63)
#define PM_FILE (1ull << 61)         /* "page is file-page or shared-anon" */
#define PAGEMAP_BATCH 512

int pager_store_init(struct vmem_pager *p)
{
	struct pager_store *st = &p->store;

	pthread_mutex_init(&st->lock, NULL);
	pthread_rwlock_init(&st->vma_lock, NULL);
	st->ready = true;
	st->page_slot = malloc(p->pages * sizeof(*st->page_slot));
	st->refs = calloc(p->pages, sizeof(*st->refs));
	st->free_slots = malloc(p->pages * sizeof(*st->free_slots));
	if (!st->page_slot || !st->refs || !st->free_slots)
		return VMEM_ENOMEM;
	for (uint64_t i = 0; i < p->pages; i++)
		st->page_slot[i] = NO_STORE_SLOT;
	return 0;
}

void pager_store_fini(struct vmem_pager *p)
{
	struct pager_store *st = &p->store;

	if (!st->ready)
		return;
	if (st->fd >= 0)
		close(st->fd);
	if (st->pagemap_fd >= 0)
		close(st->pagemap_fd);
	free(st->page_slot);
	free(st->refs);
	free(st->free_slots);
	pthread_mutex_destroy(&st->lock);
	pthread_rwlock_destroy(&st->vma_lock);
	st->ready = false;
}

/* The memfd, made on the first merge (a pager that never merges has none). */
static int store_open(struct vmem_pager *p)
{
	struct pager_store *st = &p->store;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if (st->fd < 0) {
		st->fd = memfd_create("vmem-pager-store", MFD_CLOEXEC);
		if (st->fd < 0 || ftruncate(st->fd, (off_t)(p->pages * PAGE))) {
			pager_set_error(p, "the store memfd: %s", strerror(errno));
			if (st->fd >= 0)
				close(st->fd);
			st->fd = -1;
			rc = VMEM_EIO;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

static uint32_t slot_alloc(struct pager_store *st)
{
	uint32_t s;

	pthread_mutex_lock(&st->lock);
	s = st->nfree ? st->free_slots[--st->nfree] : st->used++;
	pthread_mutex_unlock(&st->lock);
	return s;
}

/* Drops one mapper of slot s; the last one empties it. */
static void slot_put(struct vmem_pager *p, uint32_t s)
{
	struct pager_store *st = &p->store;
	bool empty;

	pthread_mutex_lock(&st->lock);
	empty = --st->refs[s] == 0;
	if (empty)
		st->free_slots[st->nfree++] = s;
	pthread_mutex_unlock(&st->lock);
	if (!empty)
		return;
	DEC(p, store_pages, 1);
	if (fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s * PAGE, PAGE))
		pager_set_error(p, "store slot %" PRIu32 ": punching its page: %s", s,
				strerror(errno));
}

static int uffd_register(struct vmem_pager *p, void *addr)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)addr, .len = PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(p->uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

/*
 * Takes resident page i for a merge: locked (BUSY), write-protected, and mapped (a page
 * dropped meanwhile would fault on our own lock if read). Returns 0 with the lock held,
 * or an error with nothing held.
 */
static int take_resident(struct vmem_pager *p, uint64_t i)
{
	unsigned char present = 0;
	uint32_t s;
	int rc;

	if (!p->store.shmem_wp) {
		pager_set_error(p, "merging needs userfaultfd write protection of shmem pages "
				"(UFFD_FEATURE_WP_HUGETLBFS_SHMEM), which this kernel refused");
		return VMEM_EINVAL;
	}
	if (i >= p->pages)
		return VMEM_ERANGE;
	if (store_open(p))
		return VMEM_EIO;
	s = pager_page_lock(p, i);
	if (s != VMEM_PAGER_RESIDENT) {
		pager_page_unlock(p, i, s);
		return VMEM_ENOENT;
	}
	rc = pager_uffd_wp(p, i, true);
	if (rc == 0 && (mincore(p->base + i * PAGE, PAGE, &present) || !(present & 1)))
		rc = -ENOENT;
	if (rc) {
		pager_uffd_wp(p, i, false);
		pager_page_unlock(p, i, VMEM_PAGER_RESIDENT);
		return rc == -ENOENT ? VMEM_ENOENT : VMEM_EIO;
	}
	return 0;
}

/* Maps store slot s over page i (write-protected and locked by the caller) and
 * registers the new VMA; then i is merged and its writers are woken. */
static int map_store(struct vmem_pager *p, uint64_t i, uint32_t s)
{
	char *a = p->base + i * PAGE;
	int rc = 0;

	pthread_rwlock_wrlock(&p->store.vma_lock);
	if (mmap(a, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, p->store.fd,
		 (off_t)s * PAGE) == MAP_FAILED) {
		rc = -errno;
		pager_set_error(p, "page %" PRIu64 ": mmap of store slot %" PRIu32 ": %s", i, s,
				strerror(errno));
	} else if ((rc = uffd_register(p, a))) {
		/* The page maps the store all the same: the content is right; only write
		 * protections of ranges over it fail now. */
		pager_set_error(p, "page %" PRIu64 ": UFFDIO_REGISTER of its store mapping: %s", i,
				strerror(-rc));
		INC(p, errors, 1);
		rc = 0;
	}
	pthread_rwlock_unlock(&p->store.vma_lock);
	if (rc) {
		pager_uffd_wp(p, i, false);
		pager_page_unlock(p, i, VMEM_PAGER_RESIDENT);
		INC(p, errors, 1);
		return VMEM_EIO;
	}
	p->store.page_slot[i] = s;
	INC(p, merges, 1);
	INC(p, merged_now, 1);
	pager_page_unlock(p, i, VMEM_PAGER_MERGED);
	pager_uffd_wake(p, i);
	return 0;
}

int vmem_pager_share(struct vmem_pager *p, uint64_t page, const void *expect,
		     uint32_t *slot)
{
	char back[PAGE];
	const char *a;
	uint32_t s;
	int rc;

	if (!p || !slot)
		return VMEM_EINVAL;
	rc = take_resident(p, page);
	if (rc)
		return rc;
	a = p->base + page * PAGE;
	if (expect && memcmp(a, expect, PAGE)) {
		INC(p, merges_refused, 1);
		pager_uffd_wp(p, page, false);
		pager_page_unlock(p, page, VMEM_PAGER_RESIDENT);
		return VMEM_EINVAL;
	}
	s = slot_alloc(&p->store);
	errno = 0;
	if (pwrite(p->store.fd, a, PAGE, (off_t)s * PAGE) != (ssize_t)PAGE ||
	    pread(p->store.fd, back, PAGE, (off_t)s * PAGE) != (ssize_t)PAGE ||
	    memcmp(back, a, PAGE)) {
		pager_set_error(p, "page %" PRIu64 ": writing store slot %" PRIu32 ": %s", page, s,
				errno ? strerror(errno) : "read back differs");
		pthread_mutex_lock(&p->store.lock);
		p->store.free_slots[p->store.nfree++] = s;
		pthread_mutex_unlock(&p->store.lock);
		pager_uffd_wp(p, page, false);
		pager_page_unlock(p, page, VMEM_PAGER_RESIDENT);
		INC(p, errors, 1);
		return VMEM_EIO;
	}
	pthread_mutex_lock(&p->store.lock);
	p->store.refs[s] = 1;
	pthread_mutex_unlock(&p->store.lock);
	INC(p, store_pages, 1);
	rc = map_store(p, page, s);
	if (rc) {
		slot_put(p, s);
		return rc;
	}
	*slot = s;
	return 0;
}

int vmem_pager_merge(struct vmem_pager *p, uint64_t page, uint32_t slot)
{
	char content[PAGE];
	bool live;
	int rc;

	if (!p)
		return VMEM_EINVAL;
	pthread_mutex_lock(&p->store.lock);
	live = slot < p->store.used && p->store.refs[slot] > 0;
	if (live)
		p->store.refs[slot]++;       /* held while we compare */
	pthread_mutex_unlock(&p->store.lock);
	if (!live) {
		pager_set_error(p, "page %" PRIu64 ": store slot %" PRIu32 " holds no content",
				page, slot);
		return VMEM_EINVAL;
	}
	rc = take_resident(p, page);
	if (rc) {
		slot_put(p, slot);
		return rc;
	}
	/* The full compare, with the page protected: it cannot change any more. */
	if (pread(p->store.fd, content, PAGE, (off_t)slot * PAGE) != (ssize_t)PAGE) {
		pager_set_error(p, "page %" PRIu64 ": reading store slot %" PRIu32 ": %s", page,
				slot, strerror(errno));
		rc = VMEM_EIO;
	} else if (memcmp(content, p->base + page * PAGE, PAGE)) {
		INC(p, merges_refused, 1);
		rc = VMEM_EINVAL;
	}
	if (rc) {
		pager_uffd_wp(p, page, false);
		pager_page_unlock(p, page, VMEM_PAGER_RESIDENT);
		slot_put(p, slot);
		return rc;
	}
	rc = map_store(p, page, slot);
	if (rc)
		slot_put(p, slot);
	return rc;
}

/* Gives merged page i (locked by the caller) its own anonymous page again. */
static int unmerge_locked(struct vmem_pager *p, uint64_t i)
{
	char *a = p->base + i * PAGE;
	uint32_t s = p->store.page_slot[i];
	void *tmp;
	int rc;

	/* Reading the page maps the store page (a minor fault: it is in the page cache) or
	 * reads the private copy a write made. Protected first, so no write is lost. */
	if (pager_uffd_wp(p, i, true)) {
		pager_set_error(p, "unmerging page %" PRIu64 ": UFFDIO_WRITEPROTECT failed", i);
		return VMEM_EIO;
	}
	tmp = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED) {
		pager_uffd_wp(p, i, false);
		pager_set_error(p, "unmerging page %" PRIu64 ": %s", i, strerror(errno));
		return VMEM_ENOMEM;
	}
	memcpy(tmp, a, PAGE);
	pthread_rwlock_wrlock(&p->store.vma_lock);
	if (mremap(tmp, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a) == MAP_FAILED) {
		int e = errno;

		pthread_rwlock_unlock(&p->store.vma_lock);
		munmap(tmp, PAGE);
		pager_uffd_wp(p, i, false);
		pager_set_error(p, "unmerging page %" PRIu64 ": mremap: %s", i, strerror(e));
		return VMEM_EIO;
	}
	rc = uffd_register(p, a);
	pthread_rwlock_unlock(&p->store.vma_lock);
	if (rc) {
		/* Resident with its content; the pager cannot serve it if it is evicted, so
		 * say so: the caller should not pick it. */
		pager_set_error(p, "unmerging page %" PRIu64 ": UFFDIO_REGISTER: %s", i,
				strerror(-rc));
		INC(p, errors, 1);
	}
	p->store.page_slot[i] = NO_STORE_SLOT;
	slot_put(p, s);
	INC(p, unmerges, 1);
	DEC(p, merged_now, 1);
	return 0;
}

int vmem_pager_unmerge(struct vmem_pager *p, uint64_t page)
{
	uint32_t s;
	int rc;

	if (!p)
		return VMEM_EINVAL;
	if (page >= p->pages)
		return VMEM_ERANGE;
	s = pager_page_lock(p, page);
	if (s != VMEM_PAGER_MERGED) {
		pager_page_unlock(p, page, s);
		return VMEM_ENOENT;
	}
	rc = unmerge_locked(p, page);
	pager_page_unlock(p, page, rc ? VMEM_PAGER_MERGED : VMEM_PAGER_RESIDENT);
	pager_uffd_wake(p, page);
	return rc;
}

int pager_store_unmerge_all(struct vmem_pager *p)
{
	int rc = 0;

	for (uint64_t i = 0; p->store.ready && i < p->pages; i++)
		if ((atomic_load_explicit(&p->st[i], memory_order_relaxed) & STATE_MASK) ==
		    VMEM_PAGER_MERGED && vmem_pager_unmerge(p, i) && !rc)
			rc = VMEM_EIO;
	return rc;
}

int64_t vmem_pager_merged_written(struct vmem_pager *p, uint64_t *out, uint64_t max)
{
	uint64_t entries[PAGEMAP_BATCH], found = 0;

	if (!p || (!out && max))
		return VMEM_EINVAL;
	if (!GET(p, merged_now))
		return 0;
	pthread_mutex_lock(&p->store.lock);
	if (p->store.pagemap_fd < 0)
		p->store.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&p->store.lock);
	if (p->store.pagemap_fd < 0) {
		pager_set_error(p, "/proc/self/pagemap: %s", strerror(errno));
		return VMEM_EIO;
	}
	for (uint64_t first = 0; first < p->pages && found < max; first += PAGEMAP_BATCH) {
		uint64_t n = p->pages - first < PAGEMAP_BATCH ? p->pages - first : PAGEMAP_BATCH;
		off_t off = (off_t)(((uintptr_t)p->base / PAGE + first) * sizeof(uint64_t));
		ssize_t got = pread(p->store.pagemap_fd, entries, n * sizeof(uint64_t), off);

		if (got != (ssize_t)(n * sizeof(uint64_t))) {
			pager_set_error(p, "/proc/self/pagemap: short read");
			return VMEM_EIO;
		}
		for (uint64_t k = 0; k < n && found < max; k++) {
			uint32_t s = atomic_load_explicit(&p->st[first + k], memory_order_acquire);

			/* A merged page the kernel copied on a write: present, no longer the
			 * store's file page. Not present: never read since its merge. */
			if ((s & STATE_MASK) == VMEM_PAGER_MERGED && (entries[k] & PM_PRESENT) &&
			    !(entries[k] & PM_FILE))
				out[found++] = first + k;
		}
	}
	return (int64_t)found;
}

int vmem_pager_read(struct vmem_pager *p, uint64_t page, void *buf)
{
	uint32_t s = VMEM_PAGER_RESIDENT;
	unsigned char present = 0;
	int rc = 0;

	if (!p || !buf)
		return VMEM_EINVAL;
	if (page >= p->pages)
		return VMEM_ERANGE;
	/* Locked only if resident and free now: a holder may be the handler waiting for
	 * the caller's own lock. */
	if (!atomic_compare_exchange_strong_explicit(&p->st[page], &s, VMEM_PAGER_RESIDENT | BUSY,
						     memory_order_acquire, memory_order_relaxed))
		return VMEM_ENOENT;
	if (mincore(p->base + page * PAGE, PAGE, &present) || !(present & 1))
		rc = VMEM_ENOENT;
	else
		memcpy(buf, p->base + page * PAGE, PAGE);
	pager_page_unlock(p, page, VMEM_PAGER_RESIDENT);
	return rc;
}
