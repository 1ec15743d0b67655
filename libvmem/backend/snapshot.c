/*
 * Snapshots of guest RAM: save, and lazy restore through userfaultfd with a recorded
 * working set prefetched (vmem/snapshot.h; the file format is snapshot_file.c's).
 *
 * Save classifies every page of the region: unchanged since the parent (an incremental
 * snapshot, the caller's dirty bitmap says so), all zero (no data), or data with its xxh3
 * checksum; then writes the file under a temporary name and renames it, so a crash never
 * leaves half a snapshot under the real name.
 *
 * Lazy restore is what Firecracker does to start a microVM from a snapshot with a
 * userfaultfd page-fault handler (Documentation/admin-guide/mm/userfaultfd.rst): the
 * region's pages are dropped (MADV_DONTNEED: on private anonymous memory the next access is
 * a MISSING fault), the region is registered with UFFDIO_REGISTER_MODE_MISSING, and the call
 * returns; the guest's first touch of each page waits in the kernel until the handler thread
 * has read the page from the snapshot (pread of 4 KiB), checked its checksum and installed
 * it with UFFDIO_COPY, or installed the zero page (UFFDIO_ZEROPAGE on a read; a copy of a
 * zero page on a write, which would otherwise take a second, copy-on-write fault at once).
 * The handler appends each page it serves to the first-touch record.
 *
 * REAP (Ustiugov et al., ASPLOS 2021) observed that a function restored from a snapshot
 * touches nearly the same pages every time, and that serving them one fault at a time is
 * what makes the restore slow. So the record is saved as a working-set file: the page
 * numbers in first-touch order, then those pages' data sorted by page number, contiguous.
 * A restore given that file maps its data (one read into the page cache, if it is not
 * there already) and installs each run of pages consecutive in the guest with one
 * UFFDIO_COPY straight from the mapping, each page checked before the guest can see it:
 * before returning (in page order, with a helper thread) or in a thread of its own while
 * the guest runs (from the end of the first-touch order); every other page stays lazy. A
 * fault on a working-set page makes the handler install the next pages of the first-touch
 * order too, so the guest takes one fault per AHEAD_PAGES pages, not one per page.
 *
 * Where the time goes on a VM whose own MMU is shadow-paged (docs/BACKEND.md has the
 * figures): dropping the region's pages, then about 2.5 us per installed page in the
 * kernel (allocation, copy, page-table update), against about 14 us per page served by a
 * fault (exception, wake-up of the handler, 4 KiB read, checksum, UFFDIO_COPY, wake-up of
 * the guest). Writing the pages before registration instead (a preadv into the region)
 * costs an anonymous fault per page inside the copy, more than UFFDIO_COPY's direct
 * installation.
 *
 * Every page has a state byte: missing, busy (claimed by whoever installs it: the handler,
 * the prefetch or the final fill, with a compare-and-swap) or installed. A fault on a page
 * another installer has claimed needs nothing more: that installer's UFFDIO_COPY wakes the
 * faulting thread. Counters are updated before the ioctl, which wakes the guest at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend_internal.h"
#include "backend/snapshot_internal.h"
#include "vmem/guest_ram.h"

#define PAGE SNAP_PAGE
/* Pages read and installed at once by the final fill: 4 MiB. */
#define RUN_PAGES 1024u
/* Pages checked and installed at once by the prefetch: 256 KiB, so that the copy finds the
 * pages the check has just read still in the CPU's cache. */
#define WS_RUN_PAGES 64u
/* Pages of the sorted working set a thread takes at once in a shared sync prefetch. */
#define SHARE_CHUNK 64u
/* Working-set pages the fault handler installs after a fault on one (install_ahead). */
#define AHEAD_PAGES 64u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool page_is_zero(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k])
			return false;
	return true;
}

static bool bit(const uint64_t *map, uint64_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

/* ---- Save ---- */

/* The name the child stores for its parent: the file name if both lie in the same
 * directory, else the parent's absolute path. NULL if a path cannot be resolved. */
static char *parent_name(const char *child, const char *parent)
{
	char *rp = realpath(parent, NULL), *copy = strdup(child), *cdir = NULL, *out = NULL;
	const char *slash;

	if (!rp || !copy)
		goto done;
	cdir = realpath(dirname(copy), NULL);
	slash = strrchr(rp, '/');
	if (cdir && (size_t)(slash - rp) == strlen(cdir) && strncmp(rp, cdir, strlen(cdir)) == 0)
		out = strdup(slash + 1);
	else if (cdir && slash == rp && strcmp(cdir, "/") == 0)
		out = strdup(slash + 1);
	else
		out = strdup(rp);
done:
	free(rp);
	free(copy);
	free(cdir);
	return out;
}

struct save_src {
	const char *base;
};

static const void *save_data(void *ctx, uint64_t page)
{
	return ((struct save_src *)ctx)->base + page * PAGE;
}

int vmem_snapshot_save(const struct vmem_guest_ram *ram, unsigned region, const char *path,
		       const char *parent, const uint64_t *dirty, struct vmem_snapshot_info *info,
		       char *err, size_t errlen)
{
	struct vmem_ram_region rg;
	struct snap_chain pc = { 0 };
	uint64_t pages, data_pages = 0, zero_pages = 0, parent_pages = 0, id = 0, parent_id = 0;
	uint8_t *kinds = NULL;
	uint64_t *sums = NULL;
	char *pname = NULL, tmp[PATH_MAX];
	struct save_src src;
	int fd = -1, rc;

	if (!ram || !path || vmem_guest_ram_region(ram, region, &rg) != 0) {
		backend_errf(err, errlen, "snapshot save: region %u: no such region", region);
		return VMEM_EINVAL;
	}
	if ((parent == NULL) != (dirty == NULL)) {
		backend_errf(err, errlen, "snapshot save: %s: a parent needs a dirty bitmap and a "
			     "dirty bitmap a parent", path);
		return VMEM_EINVAL;
	}
	if (rg.page_bytes != PAGE) {
		backend_errf(err, errlen, "snapshot save: region %u has %" PRIu64 "-byte pages: "
			     "expected 4 KiB pages", region, rg.page_bytes);
		return VMEM_EINVAL;
	}
	pages = rg.size / PAGE;
	if (pages > SNAP_MAX_PAGES) {
		backend_errf(err, errlen, "snapshot save: region %u of %" PRIu64 " pages: at most "
			     "%llu", region, pages, SNAP_MAX_PAGES);
		return VMEM_EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		backend_errf(err, errlen, "snapshot save: %s: path too long", path);
		return VMEM_EINVAL;
	}
	if (parent) {
		char perr[512];

		rc = snap_chain_open(&pc, parent, perr, sizeof(perr));
		if (rc) {
			backend_errf(err, errlen, "snapshot save: parent: %s", perr);
			return VMEM_EINVAL;
		}
		rc = VMEM_EINVAL;
		if (pc.pages != pages) {
			backend_errf(err, errlen, "snapshot save: parent %s has %" PRIu64 " pages: "
				     "expected %" PRIu64 ", as region %u", parent, pc.pages, pages,
				     region);
			goto out;
		}
		if (pc.n == VMEM_SNAPSHOT_MAX_CHAIN) {
			backend_errf(err, errlen, "snapshot save: parent %s ends a chain of %u files: "
				     "at most %d", parent, pc.n, VMEM_SNAPSHOT_MAX_CHAIN);
			goto out;
		}
		parent_id = pc.f[0].id;
		pname = parent_name(path, parent);
		if (!pname || strlen(pname) > SNAP_PATH_MAX) {
			backend_errf(err, errlen, "snapshot save: parent %s: cannot name it from %s",
				     parent, path);
			goto out;
		}
	}
	rc = VMEM_ENOMEM;
	kinds = malloc(pages);
	sums = malloc(pages * sizeof(*sums));
	if (!kinds || !sums) {
		backend_errf(err, errlen, "snapshot save: no memory for %" PRIu64 " pages", pages);
		goto out;
	}
	for (uint64_t i = 0; i < pages; i++) {
		const char *p = (const char *)rg.hva + i * PAGE;

		if (parent && !bit(dirty, i)) {
			kinds[i] = SNAP_KIND_PARENT;
			parent_pages++;
		} else if (page_is_zero(p)) {
			kinds[i] = SNAP_KIND_ZERO;
			zero_pages++;
		} else {
			kinds[i] = SNAP_KIND_DATA;
			sums[data_pages++] = snap_page_sum(p);
		}
	}
	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = now_ns() ^ ((uint64_t)getpid() << 40);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		backend_errf(err, errlen, "snapshot save: %s: cannot create: %s", tmp,
			     strerror(errno));
		rc = VMEM_EIO;
		goto out;
	}
	src.base = rg.hva;
	rc = snap_file_write(fd, tmp, pages, kinds, data_pages, sums, id, pname, parent_id,
			     save_data, &src, err, errlen);
	/* On disk before it gets its name; this also leaves its page cache clean, which is
	 * what clones then share (smaps: Shared_Clean). */
	if (rc == 0 && fdatasync(fd) != 0) {
		backend_errf(err, errlen, "snapshot save: %s: fdatasync: %s", tmp, strerror(errno));
		rc = VMEM_EIO;
	}
	if (rc == 0 && close(fd) != 0) {
		backend_errf(err, errlen, "snapshot save: %s: close: %s", tmp, strerror(errno));
		rc = VMEM_EIO;
	}
	fd = -1;
	if (rc == 0 && rename(tmp, path) != 0) {
		backend_errf(err, errlen, "snapshot save: cannot rename %s to %s: %s", tmp, path,
			     strerror(errno));
		rc = VMEM_EIO;
	}
	if (rc) {
		unlink(tmp);
		goto out;
	}
	if (info) {
		struct stat sb;

		memset(info, 0, sizeof(*info));
		info->pages = pages;
		info->data_pages = data_pages;
		info->zero_pages = zero_pages;
		info->parent_pages = parent_pages;
		info->file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
		info->snapshot_id = id;
		info->chain = parent ? pc.n + 1 : 1;
	}
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	snap_chain_close(&pc);
	free(pname);
	free(kinds);
	free(sums);
	return rc;
}

/* ---- Checks ---- */

int vmem_snapshot_check(const char *path, struct vmem_snapshot_info *info, char *err,
			size_t errlen)
{
	struct snap_chain c;
	char *buf;
	int rc;

	if (!path) {
		backend_errf(err, errlen, "snapshot check: no path");
		return VMEM_EINVAL;
	}
	rc = snap_chain_open(&c, path, err, errlen);
	if (rc)
		return rc;
	buf = malloc(PAGE);
	if (!buf) {
		snap_chain_close(&c);
		return VMEM_ENOMEM;
	}
	/* Every data page of every file of the chain, the ones its children replace too. */
	for (unsigned k = 0; rc == 0 && k < c.n; k++) {
		const struct snap_file *f = &c.f[k];

		for (uint64_t d = 0; rc == 0 && d < f->data_pages; d++) {
			uint64_t off = f->data_offset + d * PAGE, got;

			rc = snap_pread(f->fd, buf, PAGE, off);
			if (rc) {
				backend_errf(err, errlen, "%s: offset %" PRIu64 ": read failed: %s",
					     f->path, off, strerror(-rc));
				rc = VMEM_EIO;
			} else if ((got = snap_page_sum(buf)) != f->sums[d]) {
				backend_errf(err, errlen, "%s: offset %" PRIu64 ": data page %" PRIu64
					     " has checksum %#" PRIx64 ": expected %#" PRIx64,
					     f->path, off, d, got, f->sums[d]);
				rc = VMEM_EFORMAT;
			}
		}
	}
	if (rc == 0 && info) {
		const struct snap_file *f = &c.f[0];

		memset(info, 0, sizeof(*info));
		info->pages = f->pages;
		info->data_pages = f->data_pages;
		for (uint64_t i = 0; i < f->pages; i++) {
			info->zero_pages += f->kinds[i] == SNAP_KIND_ZERO;
			info->parent_pages += f->kinds[i] == SNAP_KIND_PARENT;
		}
		info->file_bytes = f->bytes;
		info->snapshot_id = f->id;
		info->chain = c.n;
	}
	free(buf);
	snap_chain_close(&c);
	return rc;
}

int vmem_snapshot_check_working_set(const char *ws_path, const char *path, uint64_t *pages,
				    char *err, size_t errlen)
{
	struct snap_chain c;
	struct snap_ws w;
	uint64_t *sorted = NULL, k = 0;
	char *buf = NULL;
	int rc;

	if (!ws_path || !path) {
		backend_errf(err, errlen, "snapshot check: no path");
		return VMEM_EINVAL;
	}
	rc = snap_chain_open(&c, path, err, errlen);
	if (rc)
		return rc;
	rc = snap_ws_open(&w, ws_path, &c, err, errlen);
	if (rc) {
		snap_chain_close(&c);
		return rc;
	}
	sorted = malloc(w.data_pages ? 8 * w.data_pages : 1);
	buf = malloc(PAGE);
	if (!sorted || !buf) {
		rc = VMEM_ENOMEM;
		goto out;
	}
	for (uint64_t j = 0; j < w.count; j++)
		if (c.src[w.order[j]] != SNAP_SRC_ZERO)
			sorted[k++] = w.order[j];
	for (uint64_t a = 1; a < k; a++) {          /* insertion sort: lists are short */
		uint64_t x = sorted[a], b = a;

		for (; b > 0 && sorted[b - 1] > x; b--)
			sorted[b] = sorted[b - 1];
		sorted[b] = x;
	}
	for (uint64_t d = 0; rc == 0 && d < k; d++) {
		uint64_t off = w.data_offset + d * PAGE;
		char perr[512];

		rc = snap_pread(w.fd, buf, PAGE, off);
		if (rc) {
			backend_errf(err, errlen, "%s: offset %" PRIu64 ": read failed: %s", ws_path,
				     off, strerror(-rc));
			rc = VMEM_EIO;
		} else if (snap_chain_verify(&c, sorted[d], buf, perr, sizeof(perr)) != 0) {
			backend_errf(err, errlen, "%s: offset %" PRIu64 ": page %" PRIu64 ": expected "
				     "the snapshot's data (%s)", ws_path, off, sorted[d], perr);
			rc = VMEM_EFORMAT;
		}
	}
	if (rc == 0 && pages)
		*pages = w.count;
out:
	free(sorted);
	free(buf);
	snap_ws_close(&w);
	snap_chain_close(&c);
	return rc;
}

/* ---- Lazy restore ---- */

enum page_state { MISSING = 0, BUSY = 1, INSTALLED = 2 };

struct counters {
	_Atomic uint64_t faults, faults_zero, prefetched, prefetched_zero, filled, bytes_read,
		reads, copies, checksum_errors;
};

/*
 * The working-set file holds the data of its data pages sorted by page number, one after
 * the other, so the data of listed page p lies at index rank(p) = the number of listed data
 * pages below p. Two bitmaps of the listed pages (all, and those with data) with a count
 * per 64-page word give the rank in O(1) and the pages in page order without a sort.
 */
struct ws_index {
	uint64_t *listed;                    /* [words] bit p: page p is in the working set */
	uint64_t *data;                      /* [words] ... and holds data */
	uint32_t *data_before;               /* [words] listed data pages in the words before */
	uint64_t *sorted;                    /* [count] the listed pages in page order */
	uint32_t *position;                  /* [pages] page's index in the first-touch order,
						or NOT_LISTED */
};

#define NOT_LISTED UINT32_MAX

struct vmem_snapshot_restore {
	struct snap_chain chain;
	struct snap_ws ws;
	bool have_ws;
	char *path;
	char *base;
	uint64_t pages;
	struct vmem_snapshot_restore_config cfg;
	int uffd, efd;
	pthread_t handler, prefetcher;
	bool handler_started, prefetch_started;
	_Atomic uint8_t *state;
	uint64_t *order;                     /* first touches, written by the handler only */
	_Atomic uint64_t recorded;
	struct counters n;
	uint64_t t0;
	_Atomic uint64_t first_instruction_ns, ready_ns, prefetch_ns;
	char *zero;                          /* a zero page, for write faults on zero pages */
	char *ws_path;                       /* the working-set file's path (in messages) */
	struct ws_index wsx;                 /* the working set, indexed (with have_ws) */
	const char *ws_map;                  /* its data pages, mapped read-only, or NULL */
	pthread_mutex_t lock;                /* err; prefetch_done */
	pthread_cond_t done_cond;
	bool prefetch_done;
	char err[512];
};

#define INC(r, f, v) atomic_fetch_add_explicit(&(r)->n.f, (v), memory_order_relaxed)

static void set_error(struct vmem_snapshot_restore *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct vmem_snapshot_restore *r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->lock);
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&r->lock);
}

void vmem_snapshot_restore_config_default(struct vmem_snapshot_restore_config *c)
{
	memset(c, 0, sizeof(*c));
	c->record = true;
	c->handler_cpu = -1;
	c->prefetch_cpu = -1;
}

static bool claim(struct vmem_snapshot_restore *r, uint64_t i)
{
	uint8_t expect = MISSING;

	return atomic_compare_exchange_strong_explicit(&r->state[i], &expect, BUSY,
						       memory_order_acq_rel, memory_order_relaxed);
}

static int rpread(struct vmem_snapshot_restore *r, int fd, void *buf, size_t len, uint64_t off)
{
	INC(r, reads, 1);
	INC(r, bytes_read, len);
	return snap_pread(fd, buf, len, off);
}

/*
 * Installs n claimed pages from page `first`: a copy of src (n pages), or zero pages if src
 * is NULL. EAGAIN (the mapping is changing) is retried; EEXIST (a page is there already)
 * skips that page; 0 or -errno. The pages installed are marked so; on an error the others
 * are released (missing again), so that a later fault or the final fill serves them.
 */
static int install(struct vmem_snapshot_restore *r, uint64_t first, uint64_t n, const char *src)
{
	uint64_t done = 0, len = n * PAGE;
	int rc = 0;

	while (done < len) {
		int64_t got;
		int e;

		INC(r, copies, 1);
		if (src) {
			struct uffdio_copy c = { .dst = (uintptr_t)r->base + first * PAGE + done,
						 .src = (uintptr_t)src + done, .len = len - done };

			e = ioctl(r->uffd, UFFDIO_COPY, &c) ? errno : 0;
			got = c.copy;
		} else {
			struct uffdio_zeropage z = {
				.range = { .start = (uintptr_t)r->base + first * PAGE + done,
					   .len = len - done } };

			e = ioctl(r->uffd, UFFDIO_ZEROPAGE, &z) ? errno : 0;
			got = z.zeropage;
		}
		if (e == 0)
			break;
		if (got > 0)
			done += (uint64_t)got;
		else if (e == EEXIST)
			done += PAGE;
		else if (e != EAGAIN) {
			rc = -e;
			break;
		}
	}
	for (uint64_t k = 0; k < n; k++)
		atomic_store_explicit(&r->state[first + k],
				      rc == 0 || k < done / PAGE ? INSTALLED : MISSING,
				      memory_order_release);
	return rc;
}

static void install_ahead(struct vmem_snapshot_restore *r, uint64_t i);

/* Serves a MISSING fault on page i (the handler thread). */
static void serve_fault(struct vmem_snapshot_restore *r, uint64_t i, bool write, char *buf)
{
	int fd, rc;
	uint64_t off, sum;
	const char *src = NULL;

	if (!claim(r, i)) {
		/* Another installer holds it: its UFFDIO_COPY wakes the faulting thread. If it
		 * is done already, a wake-up costs nothing and covers every ordering. */
		if (atomic_load_explicit(&r->state[i], memory_order_acquire) == INSTALLED) {
			struct uffdio_range w = { .start = (uintptr_t)r->base + i * PAGE, .len = PAGE };

			ioctl(r->uffd, UFFDIO_WAKE, &w);
		}
		return;
	}
	if (r->have_ws)
		install_ahead(r, i);
	if (snap_chain_data(&r->chain, i, &fd, &off, &sum)) {
		rc = rpread(r, fd, buf, PAGE, off);
		if (rc) {
			set_error(r, "%s: offset %" PRIu64 ": page %" PRIu64 ": read failed: %s",
				  r->chain.f[r->chain.src[i]].path, off, i, strerror(-rc));
			INC(r, checksum_errors, 1);
			memset(buf, 0, PAGE);
		} else if (snap_page_sum(buf) != sum) {
			char e[512];

			snap_chain_verify(&r->chain, i, buf, e, sizeof(e));
			set_error(r, "%s (served as a zero page)", e);
			INC(r, checksum_errors, 1);
			memset(buf, 0, PAGE);
		}
		src = buf;
	} else {
		INC(r, faults_zero, 1);
		if (write)
			src = r->zero;
	}
	if (r->cfg.record) {
		uint64_t k = atomic_load_explicit(&r->recorded, memory_order_relaxed);

		r->order[k] = i;
		atomic_store_explicit(&r->recorded, k + 1, memory_order_release);
	}
	INC(r, faults, 1);
	rc = install(r, i, 1, src);
	if (rc)
		set_error(r, "page %" PRIu64 ": serving its fault: %s", i, strerror(-rc));
}

/*
 * pthread_create with the thread pinned to cpu (-1: not pinned) from its start: a thread
 * pinned after it starts inherits its creator's CPUs and may run there first, e.g. a
 * prefetch thread on the CPU of the restoring (or guest) thread it is meant to leave alone.
 */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg, int cpu)
{
	pthread_attr_t attr;
	cpu_set_t set;
	int e;

	if (cpu < 0)
		return pthread_create(t, NULL, fn, arg);
	e = pthread_attr_init(&attr);
	if (e)
		return e;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	e = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (e == 0)
		e = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	/* A CPU this process may not use (EINVAL): the thread runs unpinned, as before. */
	return e == EINVAL ? pthread_create(t, NULL, fn, arg) : e;
}

static void *handler_main(void *arg)
{
	struct vmem_snapshot_restore *r = arg;
	struct uffd_msg msg[32];
	struct pollfd pfd[2] = { { .fd = r->uffd, .events = POLLIN },
				 { .fd = r->efd, .events = POLLIN } };
	char *buf = aligned_alloc(PAGE, PAGE);

	if (!buf) {
		set_error(r, "fault handler: no memory for a page buffer");
		return NULL;
	}
	for (;;) {
		ssize_t got = read(r->uffd, msg, sizeof(msg));

		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				break;
			if (poll(pfd, 2, -1) < 0 && errno != EINTR)
				break;
			if (pfd[1].revents)
				break;
			continue;
		}
		for (size_t k = 0; k < (size_t)got / sizeof(msg[0]); k++) {
			uint64_t addr, i;

			if (msg[k].event != UFFD_EVENT_PAGEFAULT)
				continue;
			addr = msg[k].arg.pagefault.address & ~(uint64_t)(PAGE - 1);
			i = (addr - (uintptr_t)r->base) / PAGE;
			if (addr < (uintptr_t)r->base || i >= r->pages)
				continue;
			serve_fault(r, i, msg[k].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE, buf);
		}
	}
	free(buf);
	return NULL;
}

/*
 * Installs data pages list[0..n) (sorted, at most RUN_PAGES) whose contents are buf
 * (page k of the list at buf + k * PAGE), for the final fill: each that can be claimed, in
 * runs of consecutive pages, one UFFDIO_COPY each. A page failing its checksum is
 * installed as zeros and counted. Returns the pages installed.
 */
static uint64_t install_list(struct vmem_snapshot_restore *r, const uint64_t *list, uint64_t n,
			     char *buf, _Atomic uint64_t *count)
{
	uint64_t installed = 0;

	for (uint64_t k = 0; k < n;) {
		uint64_t len = 0;

		/* Extend a run of consecutive, checked, claimed pages from list[k]. */
		while (k + len < n && (len == 0 || list[k + len] == list[k] + len)) {
			char *page = buf + (k + len) * PAGE;
			uint64_t p = list[k + len];

			if (snap_page_sum(page) != r->chain.f[r->chain.src[p]].sums[r->chain.rank[p]]) {
				char e[512];

				snap_chain_verify(&r->chain, p, page, e, sizeof(e));
				set_error(r, "%s (installed as zeros)", e);
				INC(r, checksum_errors, 1);
				memset(page, 0, PAGE);
			}
			if (!claim(r, p))
				break;
			len++;
		}
		if (len == 0) {
			k++;
			continue;
		}
		/* Counted first: the copy wakes the guest, which may read the counters. */
		atomic_fetch_add_explicit(count, len, memory_order_relaxed);
		if (install(r, list[k], len, buf + k * PAGE) != 0)
			set_error(r, "final fill: pages %" PRIu64 "-%" PRIu64 ": UFFDIO_COPY failed",
				  list[k], list[k] + len - 1);
		installed += len;
		k += len;
	}
	return installed;
}

/* Claims and installs zero pages first..first+n in runs, UFFDIO_ZEROPAGE each. */
static void install_zero_range(struct vmem_snapshot_restore *r, uint64_t first, uint64_t n,
			       _Atomic uint64_t *count)
{
	for (uint64_t k = 0; k < n;) {
		uint64_t len = 0;

		while (k + len < n && claim(r, first + k + len))
			len++;
		if (len == 0) {
			k++;
			continue;
		}
		atomic_fetch_add_explicit(count, len, memory_order_relaxed);
		if (install(r, first + k, len, NULL) != 0)
			set_error(r, "final fill: pages %" PRIu64 "-%" PRIu64 ": UFFDIO_ZEROPAGE failed",
				  first + k, first + k + len - 1);
		k += len;
	}
}

/* ---- The working-set prefetch ---- */

static void ws_index_free(struct ws_index *x)
{
	free(x->listed);
	free(x->data);
	free(x->data_before);
	free(x->sorted);
	free(x->position);
	memset(x, 0, sizeof(*x));
}

static int ws_index_build(struct ws_index *x, const struct snap_ws *w, const struct snap_chain *c)
{
	uint64_t words = (c->pages + 63) / 64, n = 0;
	uint32_t before = 0;

	x->listed = calloc(words, 8);
	x->data = calloc(words, 8);
	x->data_before = malloc(words * 4);
	x->sorted = malloc(w->count ? 8 * w->count : 1);
	x->position = malloc(c->pages * 4);
	if (!x->listed || !x->data || !x->data_before || !x->sorted || !x->position) {
		ws_index_free(x);
		return VMEM_ENOMEM;
	}
	memset(x->position, 0xff, c->pages * 4);
	for (uint64_t k = 0; k < w->count; k++) {
		uint64_t p = w->order[k];

		x->position[p] = (uint32_t)k;       /* count <= pages <= 2^28 */
		x->listed[p / 64] |= 1ull << (p % 64);
		if (c->src[p] != SNAP_SRC_ZERO)
			x->data[p / 64] |= 1ull << (p % 64);
	}
	for (uint64_t i = 0; i < words; i++) {
		x->data_before[i] = before;
		before += (uint32_t)__builtin_popcountll(x->data[i]);
		for (uint64_t b = x->listed[i]; b; b &= b - 1)
			x->sorted[n++] = i * 64 + (uint64_t)__builtin_ctzll(b);
	}
	return 0;
}

/* The index of listed data page p's data in the working-set file. */
static uint64_t ws_rank(const struct ws_index *x, uint64_t p)
{
	uint64_t below = x->data[p / 64] & ((1ull << (p % 64)) - 1);

	return x->data_before[p / 64] + (uint64_t)__builtin_popcountll(below);
}

/* True if listed page p's data in the mapped working-set file matches the snapshot. */
static bool ws_page_ok(struct vmem_snapshot_restore *r, uint64_t p, const char *src)
{
	char e[512];

	if (snap_page_sum(src) == r->chain.f[r->chain.src[p]].sums[r->chain.rank[p]])
		return true;
	snap_chain_verify(&r->chain, p, src, e, sizeof(e));
	set_error(r, "prefetch: %s: data of page %" PRIu64 " does not match the snapshot (%s): "
		  "left to the lazy path", r->ws_path, p, e);
	return false;
}

/*
 * Installs the working-set pages list[0..n), in that order, from the mapped working-set
 * file: each run of pages that are consecutive in the guest and (for data) in the file is
 * one UFFDIO_COPY straight from the file's page cache (no read into a buffer), or one
 * UFFDIO_ZEROPAGE. A page is checked against the snapshot's checksum before it is claimed,
 * so the guest never sees data that failed; one that fails is left to the lazy path, which
 * reads it from the snapshot. Pages another installer claimed first are skipped.
 */
static void install_ws(struct vmem_snapshot_restore *r, const uint64_t *list, uint64_t n)
{
	const struct ws_index *x = &r->wsx;

	for (uint64_t k = 0; k < n;) {
		uint64_t p = list[k], len = 0, rank = 0;
		bool zero = r->chain.src[p] == SNAP_SRC_ZERO;
		const char *src = NULL;
		int rc;

		if (atomic_load_explicit(&r->state[p], memory_order_relaxed) != MISSING) {
			k++;
			continue;
		}
		if (!zero) {
			rank = ws_rank(x, p);
			src = r->ws_map + rank * PAGE;
		}
		while (k + len < n && len < WS_RUN_PAGES && list[k + len] == p + len) {
			uint64_t q = p + len;

			if (zero != (r->chain.src[q] == SNAP_SRC_ZERO))
				break;
			if (!zero && (ws_rank(x, q) != rank + len || !ws_page_ok(r, q, src + len * PAGE)))
				break;
			if (!claim(r, q))
				break;
			len++;
		}
		if (len == 0) {
			k++;                         /* failed its check, or claimed by another */
			continue;
		}
		/* Counted first: the copy wakes a guest waiting for it, which may read them. */
		INC(r, prefetched, len);
		if (zero)
			INC(r, prefetched_zero, len);
		rc = install(r, p, len, src);
		if (rc)
			set_error(r, "prefetch: pages %" PRIu64 "-%" PRIu64 ": %s: %s", p, p + len - 1,
				  zero ? "UFFDIO_ZEROPAGE" : "UFFDIO_COPY", strerror(-rc));
		k += len;
	}
}

/*
 * A fault on a working-set page means the guest has reached pages the prefetch thread has
 * not installed (it works from the other end of the first-touch order, or its CPU is
 * busy). The handler then installs the next AHEAD_PAGES pages of the first-touch order
 * itself, before the faulting page, whose copy wakes the guest: the guest then finds them
 * in place instead of faulting on each, and the handler, on the guest's CPU, costs no
 * cross-CPU wake-up. Pages the prefetch thread has claimed are skipped; nothing is
 * installed twice.
 */
static void install_ahead(struct vmem_snapshot_restore *r, uint64_t i)
{
	uint64_t k = r->wsx.position[i], n;

	if (k == NOT_LISTED)
		return;
	n = r->ws.count - k - 1 < AHEAD_PAGES ? r->ws.count - k - 1 : AHEAD_PAGES;
	install_ws(r, r->ws.order + k + 1, n);
}

/*
 * A sync prefetch shared by the restoring thread and a helper: each takes the next chunk of
 * the sorted working set (about SHARE_CHUNK pages) from a common cursor until none is
 * left, so that a helper whose CPU is busy delays the restore by one chunk at most, not by
 * half the working set. A chunk ends where install_ws ends a run (the pages stop being
 * consecutive, change between zero and data, or the run reaches WS_RUN_PAGES), so the runs,
 * and the ioctls, are the same however the chunks are shared.
 */
struct shared_install {
	struct vmem_snapshot_restore *r;
	_Atomic uint64_t next;               /* index in wsx.sorted of the next chunk */
};

static uint64_t chunk_end(const struct vmem_snapshot_restore *r, uint64_t from)
{
	const uint64_t *list = r->wsx.sorted;
	uint64_t n = r->ws.count, to = from;

	while (to < n && to - from < SHARE_CHUNK) {
		bool zero = r->chain.src[list[to]] == SNAP_SRC_ZERO;
		uint64_t len = 1;

		while (to + len < n && len < WS_RUN_PAGES && list[to + len] == list[to] + len &&
		       (r->chain.src[list[to + len]] == SNAP_SRC_ZERO) == zero)
			len++;
		to += len;
	}
	return to;
}

static void *install_shared(void *arg)
{
	struct shared_install *s = arg;
	uint64_t from = atomic_load(&s->next), to;

	for (;;) {
		if (from >= s->r->ws.count)
			break;
		to = chunk_end(s->r, from);
		if (!atomic_compare_exchange_weak(&s->next, &from, to))
			continue;                    /* from is the cursor's new value */
		install_ws(s->r, s->r->wsx.sorted + from, to - from);
		from = atomic_load(&s->next);
	}
	return NULL;
}

/*
 * The prefetch before the guest runs, in page order. Its cost is the kernel's, per page
 * (allocation, copy, page-table update), and nothing else runs meanwhile: a helper thread
 * (on prefetch_cpu if set) shares the work.
 */
static void install_sorted(struct vmem_snapshot_restore *r)
{
	struct shared_install s = { .r = r, .next = 0 };
	pthread_t t;
	bool helper = r->ws.count >= 2 * SHARE_CHUNK &&
		      start_thread(&t, install_shared, &s, r->cfg.prefetch_cpu) == 0;

	install_shared(&s);
	if (helper)
		pthread_join(t, NULL);
}

/*
 * The prefetch while the guest runs: the first-touch order from its end backwards, a chunk
 * of SHARE_CHUNK pages at a time (each chunk in order), while the handler installs it from
 * the front, AHEAD_PAGES after each fault of the guest (install_ahead). The two meet once.
 * A thread going forwards instead, just ahead of the guest, keeps colliding with it: the
 * guest faults on a page the thread has claimed but not installed yet and waits for a
 * wake-up from the thread's CPU (65-70 us across the two CPUs here, docs/BACKEND.md):
 * measured, 38-46 ms to ready against 21-26 ms backwards.
 */
static void install_backwards(struct vmem_snapshot_restore *r)
{
	for (uint64_t end = r->ws.count; end > 0;) {
		uint64_t start = end > SHARE_CHUNK ? end - SHARE_CHUNK : 0;

		install_ws(r, r->ws.order + start, end - start);
		end = start;
	}
}

/*
 * The REAP prefetch: before the guest runs (sync), the pages in page order, shared with a
 * helper thread; in the background, from the end of the first-touch order.
 */
static void prefetch(struct vmem_snapshot_restore *r, bool in_background)
{
	uint64_t bytes = r->ws.data_pages * PAGE;

	/* One read of the whole file into the page cache (it is there already if it was
	 * written or read lately): the copies then find every source page resident. */
	if (bytes && madvise((void *)r->ws_map, bytes, MADV_POPULATE_READ) != 0 &&
	    errno != EINVAL) {
		set_error(r, "prefetch: %s: reading %" PRIu64 " bytes from offset %" PRIu64
			  " failed: %s: everything stays lazy", r->ws_path, bytes,
			  r->ws.data_offset, strerror(errno));
		goto out;
	}
	INC(r, reads, 1);
	INC(r, bytes_read, bytes);
	if (in_background)
		install_backwards(r);
	else
		install_sorted(r);
out:
	atomic_store(&r->prefetch_ns, now_ns() - r->t0);
	pthread_mutex_lock(&r->lock);
	r->prefetch_done = true;
	pthread_cond_broadcast(&r->done_cond);
	pthread_mutex_unlock(&r->lock);
}

static void *prefetch_main(void *arg)
{
	prefetch(arg, true);
	return NULL;
}

/* Installs every page not installed yet, in runs of pages adjacent in one file. Returns 0
 * or VMEM_EIO if a page could not be read (installed as zeros). */
static int fill_rest(struct vmem_snapshot_restore *r)
{
	uint64_t *list = malloc(RUN_PAGES * 8);
	char *buf = aligned_alloc(PAGE, (size_t)RUN_PAGES * PAGE);
	int status = 0;

	if (!list || !buf) {
		free(list);
		free(buf);
		set_error(r, "final fill: no memory");
		return VMEM_ENOMEM;
	}
	for (uint64_t i = 0; i < r->pages;) {
		uint64_t n = 0;
		int fd, rc;
		uint64_t off, sum;

		if (atomic_load_explicit(&r->state[i], memory_order_acquire) != MISSING) {
			i++;
			continue;
		}
		if (!snap_chain_data(&r->chain, i, &fd, &off, &sum)) {
			while (i + n < r->pages && n < RUN_PAGES && r->chain.src[i + n] == SNAP_SRC_ZERO)
				n++;
			install_zero_range(r, i, n, &r->n.filled);
			i += n;
			continue;
		}
		do
			list[n] = i + n, n++;
		while (i + n < r->pages && n < RUN_PAGES && snap_chain_adjacent(&r->chain, i + n - 1));
		rc = rpread(r, fd, buf, n * PAGE, off);
		if (rc) {
			set_error(r, "%s: offset %" PRIu64 ": read of %" PRIu64 " pages failed: %s "
				  "(installed as zeros)", r->chain.f[r->chain.src[i]].path, off, n,
				  strerror(-rc));
			memset(buf, 0, n * PAGE);   /* install_list counts them as errors */
			status = VMEM_EIO;
		}
		install_list(r, list, n, buf, &r->n.filled);
		i += n;
	}
	if (atomic_load(&r->n.checksum_errors))
		status = VMEM_EIO;
	free(list);
	free(buf);
	return status;
}

static int setup_uffd(struct vmem_snapshot_restore *r, char *err, size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)r->base, .len = r->pages * PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) |
			(1ull << _UFFDIO_WAKE);

	r->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (r->uffd < 0) {
		backend_errf(err, errlen, "snapshot restore: userfaultfd: %s (root, or "
			     "vm.unprivileged_userfaultfd=1, is needed)", strerror(errno));
		return VMEM_EIO;
	}
	if (ioctl(r->uffd, UFFDIO_API, &api)) {
		backend_errf(err, errlen, "snapshot restore: UFFDIO_API: %s", strerror(errno));
		return VMEM_EIO;
	}
	if (ioctl(r->uffd, UFFDIO_REGISTER, &reg)) {
		backend_errf(err, errlen, "snapshot restore: UFFDIO_REGISTER (missing) of %" PRIu64
			     " bytes: %s", r->pages * PAGE, strerror(errno));
		return VMEM_EIO;
	}
	if ((reg.ioctls & need) != need) {
		backend_errf(err, errlen, "snapshot restore: the region does not offer "
			     "UFFDIO_COPY, UFFDIO_ZEROPAGE and UFFDIO_WAKE");
		return VMEM_EIO;
	}
	return 0;
}

/* Frees everything; the threads must be stopped. */
static void restore_free(struct vmem_snapshot_restore *r)
{
	if (r->uffd >= 0) {
		struct uffdio_range rg = { .start = (uintptr_t)r->base, .len = r->pages * PAGE };

		ioctl(r->uffd, UFFDIO_UNREGISTER, &rg);
		close(r->uffd);
	}
	if (r->efd >= 0)
		close(r->efd);
	snap_chain_close(&r->chain);
	if (r->ws_map)
		munmap((void *)r->ws_map, r->ws.data_pages * PAGE);
	if (r->have_ws)
		snap_ws_close(&r->ws);
	ws_index_free(&r->wsx);
	free(r->ws_path);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->done_cond);
	free((void *)r->state);
	free(r->order);
	free(r->zero);
	free(r->path);
	free(r);
}

static void stop_handler(struct vmem_snapshot_restore *r)
{
	uint64_t one = 1;

	if (!r->handler_started)
		return;
	if (write(r->efd, &one, sizeof(one)) != sizeof(one))
		pthread_cancel(r->handler);
	pthread_join(r->handler, NULL);
	r->handler_started = false;
}

int vmem_snapshot_restore(struct vmem_guest_ram *ram, unsigned region, const char *path,
			  const struct vmem_snapshot_restore_config *c,
			  struct vmem_snapshot_restore **out, char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	struct vmem_snapshot_restore_config defaults;
	struct vmem_snapshot_restore *r;
	struct vmem_ram_region rg;
	int rc, e;

	*out = NULL;
	if (!c) {
		vmem_snapshot_restore_config_default(&defaults);
		c = &defaults;
	}
	if (!ram || !path || vmem_guest_ram_region(ram, region, &rg) != 0) {
		backend_errf(err, errlen, "snapshot restore: region %u: no such region", region);
		return VMEM_EINVAL;
	}
	if (rg.backing != VMEM_RAM_ANON || rg.pages != VMEM_RAM_4K) {
		backend_errf(err, errlen, "snapshot restore: region %u: expected anonymous memory "
			     "with 4 KiB pages", region);
		return VMEM_EINVAL;
	}
	if (c->handler_cpu < -1 || c->handler_cpu >= CPU_SETSIZE || c->prefetch_cpu < -1 ||
	    c->prefetch_cpu >= CPU_SETSIZE) {
		backend_errf(err, errlen, "snapshot restore: handler_cpu %d, prefetch_cpu %d: "
			     "expected CPU numbers or -1", c->handler_cpu, c->prefetch_cpu);
		return VMEM_EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return VMEM_ENOMEM;
	r->uffd = r->efd = -1;
	r->ws.fd = -1;
	r->t0 = t0;
	r->cfg = *c;
	r->cfg.prefetch = NULL;
	r->base = rg.hva;
	r->pages = rg.size / PAGE;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->done_cond, NULL);
	r->prefetch_done = true;
	rc = snap_chain_open(&r->chain, path, err, errlen);
	if (rc)
		goto fail;
	INC(r, bytes_read, r->chain.bytes_read);
	if (r->chain.pages != r->pages) {
		backend_errf(err, errlen, "snapshot restore: %s has %" PRIu64 " pages: expected %"
			     PRIu64 ", as region %u", path, r->chain.pages, r->pages, region);
		rc = VMEM_EINVAL;
		goto fail;
	}
	if (c->prefetch) {
		rc = snap_ws_open(&r->ws, c->prefetch, &r->chain, err, errlen);
		if (rc)
			goto fail;
		r->have_ws = true;
		INC(r, bytes_read, r->ws.bytes_read);
		rc = VMEM_ENOMEM;
		r->ws_path = strdup(c->prefetch);
		if (!r->ws_path || ws_index_build(&r->wsx, &r->ws, &r->chain) != 0) {
			backend_errf(err, errlen, "snapshot restore: %s: no memory to index %" PRIu64
				     " pages", c->prefetch, r->ws.count);
			goto fail;
		}
		/* The data pages are copied into the region straight from the file's page cache
		 * (UFFDIO_COPY reads its source like any user memory). */
		if (r->ws.data_pages) {
			void *m = mmap(NULL, r->ws.data_pages * PAGE, PROT_READ, MAP_SHARED, r->ws.fd,
				       (off_t)r->ws.data_offset);

			if (m == MAP_FAILED) {
				backend_errf(err, errlen, "snapshot restore: %s: mmap of %" PRIu64
					     " bytes at offset %" PRIu64 ": %s", c->prefetch,
					     r->ws.data_pages * PAGE, r->ws.data_offset,
					     strerror(errno));
				rc = VMEM_EIO;
				goto fail;
			}
			r->ws_map = m;
		}
	}
	rc = VMEM_ENOMEM;
	r->path = strdup(path);
	r->state = calloc(r->pages, 1);
	r->order = malloc(r->pages * sizeof(*r->order));
	r->zero = aligned_alloc(PAGE, PAGE);
	if (!r->path || !r->state || !r->order || !r->zero)
		goto fail;
	memset(r->zero, 0, PAGE);
	/* Drop the region's pages: on private anonymous memory every next access is a MISSING
	 * fault (madvise(2)). Nothing may touch the region until it is registered. */
	if (madvise(r->base, r->pages * PAGE, MADV_DONTNEED) != 0) {
		backend_errf(err, errlen, "snapshot restore: madvise(MADV_DONTNEED): %s",
			     strerror(errno));
		rc = VMEM_EIO;
		goto fail;
	}
	rc = setup_uffd(r, err, errlen);
	if (rc)
		goto fail;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		backend_errf(err, errlen, "snapshot restore: eventfd: %s", strerror(errno));
		rc = VMEM_EIO;
		goto fail;
	}
	e = start_thread(&r->handler, handler_main, r, c->handler_cpu);
	if (e) {
		backend_errf(err, errlen, "snapshot restore: handler thread: %s", strerror(e));
		rc = VMEM_EIO;
		goto fail;
	}
	r->handler_started = true;
	if (r->have_ws && c->prefetch_sync) {
		r->prefetch_done = false;
		prefetch(r, false);
	} else if (r->have_ws) {
		r->prefetch_done = false;
		e = start_thread(&r->prefetcher, prefetch_main, r, c->prefetch_cpu);
		if (e) {
			r->prefetch_done = true;
			set_error(r, "prefetch thread: %s: everything stays lazy", strerror(e));
		} else {
			r->prefetch_started = true;
		}
	}
	atomic_store(&r->first_instruction_ns, now_ns() - t0);
	*out = r;
	return 0;
fail:
	stop_handler(r);
	restore_free(r);
	return rc;
}

void vmem_snapshot_restore_ready(struct vmem_snapshot_restore *r)
{
	uint64_t zero = 0, t = now_ns() - r->t0;

	atomic_compare_exchange_strong(&r->ready_ns, &zero, t ? t : 1);
}

void vmem_snapshot_restore_wait_prefetch(struct vmem_snapshot_restore *r)
{
	pthread_mutex_lock(&r->lock);
	while (!r->prefetch_done)
		pthread_cond_wait(&r->done_cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

void vmem_snapshot_restore_stats(const struct vmem_snapshot_restore *r,
				 struct vmem_snapshot_restore_stats *out)
{
	struct vmem_snapshot_restore *w = (struct vmem_snapshot_restore *)r;

	memset(out, 0, sizeof(*out));
	out->first_instruction_ns = atomic_load(&w->first_instruction_ns);
	out->ready_ns = atomic_load(&w->ready_ns);
	out->prefetch_ns = atomic_load(&w->prefetch_ns);
	out->faults = atomic_load(&w->n.faults);
	out->faults_zero = atomic_load(&w->n.faults_zero);
	out->prefetched = atomic_load(&w->n.prefetched);
	out->prefetched_zero = atomic_load(&w->n.prefetched_zero);
	out->filled = atomic_load(&w->n.filled);
	out->bytes_read = atomic_load(&w->n.bytes_read);
	out->reads = atomic_load(&w->n.reads);
	out->copies = atomic_load(&w->n.copies);
	out->checksum_errors = atomic_load(&w->n.checksum_errors);
	out->recorded = atomic_load(&w->recorded);
}

uint64_t vmem_snapshot_restore_recorded(const struct vmem_snapshot_restore *r, uint64_t *pages,
					uint64_t max)
{
	uint64_t n = atomic_load_explicit(&((struct vmem_snapshot_restore *)r)->recorded,
					  memory_order_acquire);

	for (uint64_t k = 0; k < n && k < max; k++)
		pages[k] = r->order[k];
	return n;
}

int vmem_snapshot_restore_save_working_set(struct vmem_snapshot_restore *r, const char *ws_path,
					   char *err, size_t errlen)
{
	char def[PATH_MAX];
	uint64_t n = atomic_load_explicit(&r->recorded, memory_order_acquire);

	if (!ws_path) {
		if ((size_t)snprintf(def, sizeof(def), "%s.ws", r->path) >= sizeof(def)) {
			backend_errf(err, errlen, "snapshot working set: %s.ws: path too long",
				     r->path);
			return VMEM_EINVAL;
		}
		ws_path = def;
	}
	/* order[0..n) is stable: the handler only appends past n. */
	return snap_ws_write(ws_path, &r->chain, r->order, n, err, errlen);
}

const char *vmem_snapshot_restore_error(struct vmem_snapshot_restore *r)
{
	return r->err;
}

int vmem_snapshot_restore_end(struct vmem_snapshot_restore *r,
			      struct vmem_snapshot_restore_stats *stats)
{
	int rc;

	if (!r)
		return 0;
	if (r->prefetch_started) {
		pthread_join(r->prefetcher, NULL);
		r->prefetch_started = false;
	}
	rc = fill_rest(r);
	stop_handler(r);
	if (stats)
		vmem_snapshot_restore_stats(r, stats);
	restore_free(r);
	return rc;
}
