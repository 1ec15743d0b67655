/*
 * The pager (vmem/pager.h): hypervisor swapping of one region of real guest RAM, with the
 * evicted pages served back through userfaultfd.
 *
 * Why write-protect first. An eviction reads the page, keeps a copy and drops the page. A
 * vCPU writing the page between the read and the drop would lose its write: the dropped page
 * is gone and the copy is older. So the page is write-protected with userfaultfd
 * (UFFDIO_WRITEPROTECT, which also flushes the TLBs) before it is read: from then on a writer
 * waits in the kernel (a write-protect fault, queued as a message) until the page is either
 * dropped (its retry then takes a MISSING fault and gets the copy back) or, if the copy could
 * not be kept, write-enabled again in place. Readers are not stopped.
 *
 * The per-page state word. st[page] holds the page's state (enum vmem_pager_page) and a BUSY
 * bit. Whoever changes the page's mapping (an eviction, the handler serving a fault, destroy
 * bringing pages back) holds BUSY; the copy's bookkeeping (buffer, slot, length) belongs to
 * the BUSY holder, and is published to the next holder by the release store that clears
 * BUSY. An eviction holds BUSY from before the write-protect to after the drop, so the
 * handler, which can see the page's MISSING fault only after the drop, waits at most for the
 * state store that follows it.
 *
 * A subtle wake-up. A writer that hit the write protection may reach the fault queue only
 * after the eviction dropped the page and issued its UFFDIO_WAKE: it then sleeps (the
 * kernel's must-wait check sees an empty PTE). Its write-protect message reaches the handler
 * all the same, and the handler answers every such message by waking the page (or, if the
 * page is resident, by clearing the protection, which wakes too). So no writer sleeps forever.
 *
 * Kernel references: Documentation/admin-guide/mm/userfaultfd.rst (MISSING and WP modes,
 * UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_WRITEPROTECT, UFFDIO_WAKE), madvise(2) MADV_DONTNEED
 * (on private anonymous memory the next access is a fresh MISSING fault; the kernel installs
 * no write-protect marker there), mincore(2), open(2) O_TMPFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <lz4.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmem/guest_ram.h"
#include "vmem/pager.h"
#include "backend/backend_internal.h"
#include "backend/pager_internal.h"

void pager_set_error(struct vmem_pager *p, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&p->err_lock);
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&p->err_lock);
}

void vmem_pager_config_default(struct vmem_pager_config *c)
{
	memset(c, 0, sizeof(*c));
	c->store = VMEM_PAGER_LZ4;
	c->swap_path = NULL;
	c->swap_size = 0;
	c->handler_cpu = -1;
	c->verify = true;
}

/* ---- The per-page lock ---- */

/* Takes BUSY on page i whatever its state; returns the state. */
uint32_t pager_page_lock(struct vmem_pager *p, uint64_t i)
{
	uint32_t s = atomic_load_explicit(&p->st[i], memory_order_relaxed);

	for (unsigned spins = 0;; spins++) {
		if (!(s & BUSY)) {
			if (atomic_compare_exchange_weak_explicit(&p->st[i], &s, s | BUSY,
								  memory_order_acquire,
								  memory_order_relaxed))
				return s;
			continue;
		}
		if (spins > 64)
			sched_yield();
		s = atomic_load_explicit(&p->st[i], memory_order_relaxed);
	}
}

void pager_page_unlock(struct vmem_pager *p, uint64_t i, uint32_t state)
{
	atomic_store_explicit(&p->st[i], state, memory_order_release);
}

/* ---- userfaultfd calls on one page ---- */

int pager_uffd_wp(struct vmem_pager *p, uint64_t i, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)(p->base + i * PAGE), .len = PAGE },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	while (ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp))
		if (errno != EAGAIN)
			return -errno;
	return 0;
}

void pager_uffd_wake(struct vmem_pager *p, uint64_t i)
{
	struct uffdio_range r = { .start = (uintptr_t)(p->base + i * PAGE), .len = PAGE };

	ioctl(p->uffd, UFFDIO_WAKE, &r);
}

/* Maps src at page i (UFFDIO_COPY), waking the faulting threads; 0 also if it was there. */
static int uffd_copy(struct vmem_pager *p, uint64_t i, const void *src)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)(p->base + i * PAGE),
		.src = (uintptr_t)src,
		.len = PAGE,
		.mode = 0,
	};

	for (;;) {
		c.copy = 0;
		if (ioctl(p->uffd, UFFDIO_COPY, &c) == 0)
			return 0;
		if (errno == EEXIST) {
			pager_uffd_wake(p, i);
			return 0;
		}
		if (errno != EAGAIN)
			return -errno;
	}
}

static int uffd_zeropage(struct vmem_pager *p, uint64_t i)
{
	struct uffdio_zeropage z = {
		.range = { .start = (uintptr_t)(p->base + i * PAGE), .len = PAGE },
		.mode = 0,
	};

	for (;;) {
		z.zeropage = 0;
		if (ioctl(p->uffd, UFFDIO_ZEROPAGE, &z) == 0)
			return 0;
		if (errno == EEXIST) {
			pager_uffd_wake(p, i);
			return 0;
		}
		if (errno != EAGAIN)
			return -errno;
	}
}

/* ---- The store ---- */

static bool page_is_zero(const void *page)
{
	const uint64_t *w = page;
	uint64_t acc = 0;

	for (unsigned k = 0; k < PAGE / 8; k++)
		acc |= w[k];
	return acc == 0;
}

/*
 * The copy of page i (in state `state`) is going away: its accounting now, before the page
 * is mapped back (which wakes the faulting thread at once, so that thread sees the counters
 * already updated); unaccount(.., -1) undoes it if the mapping failed.
 */
static void unaccount(struct vmem_pager *p, uint64_t i, uint32_t state, int sign)
{
	if (state == VMEM_PAGER_COMPRESSED) {
		if (sign > 0)
			DEC(p, compressed_now, p->clen[i]);
		else
			INC(p, compressed_now, p->clen[i]);
	} else if (state == VMEM_PAGER_SWAPPED) {
		if (sign > 0)
			DEC(p, slots_used, 1);
		else
			INC(p, slots_used, 1);
	}
}

/* Releases the copy of page i (accounted for already). */
static void free_copy(struct vmem_pager *p, uint64_t i, uint32_t state)
{
	if (state == VMEM_PAGER_COMPRESSED) {
		free(p->buf[i]);
		p->buf[i] = NULL;
	} else if (state == VMEM_PAGER_SWAPPED) {
		pthread_mutex_lock(&p->slot_lock);
		p->free_slots[p->nfree++] = p->slot[i];
		pthread_mutex_unlock(&p->slot_lock);
	}
}

/* Keeps a verified compressed copy of page i; returns 0 or a VMEM_E code. */
static int keep_compressed(struct vmem_pager *p, uint64_t i, const char *src)
{
	char dst[LZ4_COMPRESSBOUND(PAGE)], back[PAGE];
	int len = LZ4_compress_default(src, dst, (int)PAGE, (int)sizeof(dst));
	const char *keep = dst;
	void *b;

	INC(p, bytes_in, PAGE);
	if (len <= 0 || (unsigned)len >= PAGE) {
		len = RAW_LEN;
		keep = src;
	} else if (p->cfg.verify && (LZ4_decompress_safe(dst, back, len, (int)PAGE) != (int)PAGE ||
				     memcmp(back, src, PAGE))) {
		INC(p, io_errors, 1);
		pager_set_error(p, "page %" PRIu64 ": the compressed copy does not decompress to the page",
			  i);
		return VMEM_EIO;
	}
	b = malloc((size_t)len);
	if (!b) {
		pager_set_error(p, "page %" PRIu64 ": no memory for its compressed copy", i);
		return VMEM_ENOMEM;
	}
	memcpy(b, keep, (size_t)len);
	if (len == RAW_LEN && p->cfg.verify && memcmp(b, src, PAGE)) {
		free(b);
		INC(p, io_errors, 1);
		pager_set_error(p, "page %" PRIu64 ": its copy differs from the page", i);
		return VMEM_EIO;
	}
	p->buf[i] = b;
	p->clen[i] = (uint16_t)len;
	INC(p, bytes_compressed, (uint64_t)len);
	INC(p, compressed_now, (uint64_t)len);
	return 0;
}

/* Writes page i to a free swap slot and reads it back; returns 0 or a VMEM_E code. */
static int keep_swapped(struct vmem_pager *p, uint64_t i, const char *src)
{
	char back[PAGE];
	uint32_t slot;
	ssize_t w, r = 0;
	off_t off;

	pthread_mutex_lock(&p->slot_lock);
	if (p->nfree == 0) {
		pthread_mutex_unlock(&p->slot_lock);
		INC(p, swap_full, 1);
		pager_set_error(p, "page %" PRIu64 ": the swap file is full (%" PRIu64 " slots of 4 KiB)",
			  i, p->nslots);
		return VMEM_ENOSPACE;
	}
	slot = p->free_slots[--p->nfree];
	pthread_mutex_unlock(&p->slot_lock);

	off = (off_t)slot * PAGE;
	w = pwrite(p->swap_fd, src, PAGE, off);
	if (w == (ssize_t)PAGE && p->cfg.verify)
		r = pread(p->swap_fd, back, PAGE, off);
	if (w != (ssize_t)PAGE || (p->cfg.verify && (r != (ssize_t)PAGE || memcmp(back, src, PAGE)))) {
		int e = errno;

		pthread_mutex_lock(&p->slot_lock);
		p->free_slots[p->nfree++] = slot;
		pthread_mutex_unlock(&p->slot_lock);
		INC(p, io_errors, 1);
		if (w < 0 || r < 0)
			pager_set_error(p, "page %" PRIu64 ": swap file %s at slot %" PRIu32 ": %s", i,
				  w < 0 ? "write" : "read-back", slot, strerror(e));
		else
			pager_set_error(p, "page %" PRIu64 ": swap file slot %" PRIu32 ": %s", i, slot,
				  w != (ssize_t)PAGE ? "short write" : r != (ssize_t)PAGE ?
				  "short read-back" : "read-back differs from the page");
		return VMEM_EIO;
	}
	p->slot[i] = slot;
	INC(p, slots_used, 1);
	return 0;
}

int vmem_pager_evict(struct vmem_pager *p, uint64_t page)
{
	const char *src;
	unsigned char present;
	uint32_t s, state;
	int rc;

	if (!p)
		return VMEM_EINVAL;
	if (page >= p->pages)
		return VMEM_ERANGE;
	s = atomic_load_explicit(&p->st[page], memory_order_relaxed);
	if (!(s & BUSY) && (s & STATE_MASK) != VMEM_PAGER_RESIDENT)
		return VMEM_ENOENT;
	s = pager_page_lock(p, page);
	if (s != VMEM_PAGER_RESIDENT) {
		pager_page_unlock(p, page, s);
		return VMEM_ENOENT;
	}
	src = p->base + page * PAGE;
	/* 1. Write-protect: from here on the content cannot change under us. */
	rc = pager_uffd_wp(p, page, true);
	if (rc) {
		pager_page_unlock(p, page, VMEM_PAGER_RESIDENT);
		INC(p, errors, 1);
		pager_set_error(p, "page %" PRIu64 ": UFFDIO_WRITEPROTECT: %s", page, strerror(-rc));
		return VMEM_EIO;
	}
	/* 2 and 3. A verified copy. A page something else dropped meanwhile (a balloon's
	 * MADV_DONTNEED) reads as zeros; reading it here would fault on the page we hold. */
	if (mincore((void *)src, PAGE, &present) == 0 && !(present & 1)) {
		state = VMEM_PAGER_ZERO;
		rc = 0;
	} else if (page_is_zero(src)) {
		state = VMEM_PAGER_ZERO;
		rc = 0;
	} else if (p->cfg.store == VMEM_PAGER_LZ4) {
		state = VMEM_PAGER_COMPRESSED;
		rc = keep_compressed(p, page, src);
	} else {
		state = VMEM_PAGER_SWAPPED;
		rc = keep_swapped(p, page, src);
	}
	/* 4. Drop it, or give it back untouched. */
	if (rc == 0 && madvise((void *)src, PAGE, MADV_DONTNEED)) {
		int e = errno;

		unaccount(p, page, state, 1);
		free_copy(p, page, state);
		pager_set_error(p, "page %" PRIu64 ": madvise(MADV_DONTNEED): %s", page, strerror(e));
		rc = VMEM_EIO;
	}
	if (rc) {
		pager_uffd_wp(p, page, false);     /* wakes the writers that waited */
		pager_page_unlock(p, page, VMEM_PAGER_RESIDENT);
		INC(p, errors, 1);
		return rc;
	}
	INC(p, evictions, 1);
	if (state == VMEM_PAGER_ZERO)
		INC(p, evicted_zero, 1);
	pager_page_unlock(p, page, state);
	pager_uffd_wake(p, page);
	return 0;
}

int vmem_pager_forget(struct vmem_pager *p, uint64_t page)
{
	uint32_t s;

	if (!p)
		return VMEM_EINVAL;
	if (page >= p->pages)
		return VMEM_ERANGE;
	s = pager_page_lock(p, page);
	if (s != VMEM_PAGER_ZERO && s != VMEM_PAGER_COMPRESSED && s != VMEM_PAGER_SWAPPED) {
		pager_page_unlock(p, page, s);
		return VMEM_ENOENT;
	}
	unaccount(p, page, s, 1);
	free_copy(p, page, s);
	pager_page_unlock(p, page, VMEM_PAGER_UNTOUCHED);
	return 0;
}

/*
 * Maps page i back from its copy; the caller holds BUSY and state is the page's state.
 * Returns the page's new state.
 */
static uint32_t serve(struct vmem_pager *p, uint64_t i, uint32_t state, bool write, char *buf)
{
	static const char zero[PAGE];
	const char *src = buf;
	int rc;

	switch (state) {
	case VMEM_PAGER_MERGED:
		/* Its store page is in the page cache while it is mapped: a MISSING fault
		 * cannot come from it; wake whoever waits, the retry maps the store page. */
		pager_uffd_wake(p, i);
		return state;
	case VMEM_PAGER_RESIDENT:
		/* Usually a second thread's fault on a page served already (EEXIST: wake it);
		 * but if something else dropped the page, a zero page is its content. */
		uffd_zeropage(p, i);
		return state;
	case VMEM_PAGER_UNTOUCHED:
	case VMEM_PAGER_ZERO:
		INC(p, faults_zero, 1);
		/* A write would take the zero page and then copy it at once: give it a page. */
		src = write ? zero : NULL;
		break;
	case VMEM_PAGER_COMPRESSED:
		if (p->clen[i] == RAW_LEN)
			memcpy(buf, p->buf[i], PAGE);
		else if (LZ4_decompress_safe(p->buf[i], buf, p->clen[i], (int)PAGE) != (int)PAGE) {
			INC(p, io_errors, 1);
			pager_set_error(p, "page %" PRIu64 ": its compressed copy is corrupt", i);
			memset(buf, 0, PAGE);
		}
		break;
	case VMEM_PAGER_SWAPPED: {
		ssize_t r = -1;

		for (int tries = 0; tries < 3 && r != (ssize_t)PAGE; tries++)
			r = pread(p->swap_fd, buf, PAGE, (off_t)p->slot[i] * PAGE);
		if (r != (ssize_t)PAGE) {
			INC(p, io_errors, 1);
			pager_set_error(p, "page %" PRIu64 ": swap file read of slot %" PRIu32 " failed",
				  i, p->slot[i]);
			memset(buf, 0, PAGE);
		}
		break;
	}
	}
	/* Counters and state first: the ioctl wakes the faulting thread at once. BUSY stays
	 * held until the caller's page_unlock. */
	INC(p, faults, 1);
	unaccount(p, i, state, 1);
	atomic_store_explicit(&p->st[i], VMEM_PAGER_RESIDENT | BUSY, memory_order_release);
	rc = src ? uffd_copy(p, i, src) : uffd_zeropage(p, i);
	if (rc) {
		/* The region went away (unmapped under us) or the uffd is unusable. */
		DEC(p, faults, 1);
		unaccount(p, i, state, -1);
		atomic_store_explicit(&p->st[i], state | BUSY, memory_order_relaxed);
		INC(p, errors, 1);
		pager_set_error(p, "page %" PRIu64 ": serving its fault: %s", i, strerror(-rc));
		return state;
	}
	free_copy(p, i, state);
	return VMEM_PAGER_RESIDENT;
}

static void *handler(void *arg)
{
	struct vmem_pager *p = arg;
	struct uffd_msg msg[32];
	char *buf = aligned_alloc(PAGE, PAGE);
	struct pollfd pfd[2] = { { .fd = p->uffd, .events = POLLIN },
				 { .fd = p->efd, .events = POLLIN } };

	if (!buf)
		return NULL;
	for (;;) {
		ssize_t got = read(p->uffd, msg, sizeof(msg));

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
			uint32_t s;
			bool write;

			if (msg[k].event != UFFD_EVENT_PAGEFAULT)
				continue;
			addr = msg[k].arg.pagefault.address & ~(uint64_t)(PAGE - 1);
			i = (addr - (uintptr_t)p->base) / PAGE;
			if (i >= p->pages)
				continue;
			s = pager_page_lock(p, i);
			write = msg[k].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
			if (msg[k].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
				INC(p, wp_faults, 1);
				if (s == VMEM_PAGER_RESIDENT || s == VMEM_PAGER_MERGED) {
					/* Let it through. On a merged page the write then
					 * copies the store page (copy-on-write). */
					pager_uffd_wp(p, i, false);
					if (p->cfg.fault_hook)
						p->cfg.fault_hook(p->cfg.fault_ctx, i, s,
								  VMEM_PAGER_FAULT_WP |
								  VMEM_PAGER_FAULT_WRITE);
				} else {
					pager_uffd_wake(p, i);
				}
			} else {
				if (p->cfg.fault_hook && s != VMEM_PAGER_MERGED)
					p->cfg.fault_hook(p->cfg.fault_ctx, i, s,
							  write ? VMEM_PAGER_FAULT_WRITE : 0);
				s = serve(p, i, s, write, buf);
			}
			pager_page_unlock(p, i, s);
		}
	}
	free(buf);
	return NULL;
}

/* ---- Creation and teardown ---- */

static int open_swap(struct vmem_pager *p, char *err, size_t errlen)
{
	const char *path = p->cfg.swap_path ? p->cfg.swap_path : "/var/tmp";
	struct stat sb;

	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		p->swap_fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (p->swap_fd < 0) {
			char tmpl[4096];

			snprintf(tmpl, sizeof(tmpl), "%s/vmem-swap.XXXXXX", path);
			p->swap_fd = mkostemp(tmpl, O_CLOEXEC);
			if (p->swap_fd >= 0)
				unlink(tmpl);
		}
	} else if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		p->swap_fd = open(path, O_RDWR | O_CLOEXEC);
	} else {
		p->swap_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	}
	if (p->swap_fd < 0) {
		backend_errf(err, errlen, "pager: swap file %s: %s", path, strerror(errno));
		return VMEM_EIO;
	}
	p->nslots = p->cfg.swap_size / PAGE;
	p->free_slots = malloc((p->nslots ? p->nslots : 1) * sizeof(*p->free_slots));
	if (!p->free_slots)
		return VMEM_ENOMEM;
	/* Slot 0 on top, so a fresh file fills from its start. */
	for (uint64_t k = 0; k < p->nslots; k++)
		p->free_slots[k] = (uint32_t)(p->nslots - 1 - k);
	p->nfree = p->nslots;
	return 0;
}

static int setup_uffd(struct vmem_pager *p, char *err, size_t errlen)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p->base, .len = p->pages * PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) |
			(1ull << _UFFDIO_WRITEPROTECT) | (1ull << _UFFDIO_WAKE);

	p->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (p->uffd < 0) {
		backend_errf(err, errlen, "pager: userfaultfd: %s%s", strerror(errno),
			     errno == EPERM ? " (as a user, vm.unprivileged_userfaultfd=1 is "
			     "needed)" : "");
		return VMEM_EIO;
	}
	/* Write protection of shmem pages lets merged pages (mapped from the store memfd)
	 * be protected as anonymous ones are; without it the pager works, merging is
	 * refused. A refused UFFDIO_API leaves the descriptor unusable: a new one. */
	if (ioctl(p->uffd, UFFDIO_API, &api)) {
		close(p->uffd);
		p->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		api = (struct uffdio_api){ .api = UFFD_API, .features = 0 };
		if (p->uffd < 0 || ioctl(p->uffd, UFFDIO_API, &api)) {
			backend_errf(err, errlen, "pager: UFFDIO_API: %s", strerror(errno));
			return VMEM_EIO;
		}
	} else {
		p->store.shmem_wp = true;
	}
	if (ioctl(p->uffd, UFFDIO_REGISTER, &reg)) {
		backend_errf(err, errlen, "pager: UFFDIO_REGISTER (missing + write-protect) of %"
			     PRIu64 " bytes: %s", p->pages * PAGE, strerror(errno));
		return VMEM_EIO;
	}
	if ((reg.ioctls & need) != need) {
		backend_errf(err, errlen, "pager: this kernel's userfaultfd lacks COPY, ZEROPAGE, "
			     "WRITEPROTECT or WAKE on anonymous memory");
		return VMEM_EIO;
	}
	p->efd = eventfd(0, EFD_CLOEXEC);
	if (p->efd < 0) {
		backend_errf(err, errlen, "pager: eventfd: %s", strerror(errno));
		return VMEM_EIO;
	}
	return 0;
}

static void teardown(struct vmem_pager *p)
{
	if (p->thread_started) {
		uint64_t one = 1;

		if (write(p->efd, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(p->thread);
		pthread_join(p->thread, NULL);
	}
	if (p->uffd >= 0) {
		struct uffdio_range r = { .start = (uintptr_t)p->base, .len = p->pages * PAGE };

		ioctl(p->uffd, UFFDIO_UNREGISTER, &r);
		close(p->uffd);
	}
	if (p->efd >= 0)
		close(p->efd);
	if (p->swap_fd >= 0)
		close(p->swap_fd);
	if (p->buf)
		for (uint64_t i = 0; i < p->pages; i++)
			free(p->buf[i]);
	free(p->buf);
	free(p->slot);
	free(p->clen);
	free((void *)p->st);
	free(p->free_slots);
	pager_store_fini(p);
	pthread_mutex_destroy(&p->slot_lock);
	pthread_mutex_destroy(&p->err_lock);
	free(p);
}

int vmem_pager_create(struct vmem_guest_ram *ram, unsigned region,
		      const struct vmem_pager_config *c, struct vmem_pager **out,
		      char *err, size_t errlen)
{
	struct vmem_pager_config def;
	struct vmem_ram_region r;
	struct vmem_pager *p;
	unsigned char *vec;
	int rc;

	if (!out) {
		backend_errf(err, errlen, "pager: out is NULL");
		return VMEM_EINVAL;
	}
	*out = NULL;
	if (!c) {
		vmem_pager_config_default(&def);
		c = &def;
	}
	if (!ram || vmem_guest_ram_region(ram, region, &r)) {
		backend_errf(err, errlen, "pager: %s", ram ? "no such guest RAM region" :
			     "guest RAM is NULL");
		return VMEM_EINVAL;
	}
	if (r.backing != VMEM_RAM_ANON || r.pages != VMEM_RAM_4K) {
		backend_errf(err, errlen, "pager: region %u must be anonymous with 4 KiB pages "
			     "(a memfd keeps its content on MADV_DONTNEED; huge pages are not "
			     "swapped)", region);
		return VMEM_EINVAL;
	}
	if ((unsigned)c->store > VMEM_PAGER_SWAPFILE) {
		backend_errf(err, errlen, "pager: store %d: not lz4 (0) or swapfile (1)",
			     (int)c->store);
		return VMEM_EINVAL;
	}
	if (c->swap_size % PAGE || c->swap_size / PAGE > UINT32_MAX) {
		backend_errf(err, errlen, "pager: swap_size %" PRIu64 ": must be a multiple of "
			     "4096 below 16 TiB", c->swap_size);
		return VMEM_EINVAL;
	}
	if (c->handler_cpu >= CPU_SETSIZE || c->handler_cpu < -1) {
		backend_errf(err, errlen, "pager: handler_cpu %d: not a CPU number or -1",
			     c->handler_cpu);
		return VMEM_EINVAL;
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		backend_errf(err, errlen, "pager: out of memory");
		return VMEM_ENOMEM;
	}
	p->ram = ram;
	p->region = region;
	p->base = r.hva;
	p->pages = r.size / PAGE;
	p->cfg = *c;
	if (!p->cfg.swap_size)
		p->cfg.swap_size = r.size;
	p->uffd = p->efd = p->swap_fd = -1;
	p->store.fd = p->store.pagemap_fd = -1;
	pthread_mutex_init(&p->slot_lock, NULL);
	pthread_mutex_init(&p->err_lock, NULL);
	p->st = calloc(p->pages, sizeof(*p->st));
	p->buf = calloc(p->pages, sizeof(*p->buf));
	p->slot = calloc(p->pages, sizeof(*p->slot));
	p->clen = calloc(p->pages, sizeof(*p->clen));
	vec = malloc(p->pages);
	if (!p->st || !p->buf || !p->slot || !p->clen || !vec || pager_store_init(p)) {
		free(vec);
		teardown(p);
		backend_errf(err, errlen, "pager: out of memory for %" PRIu64 " pages", p->pages);
		return VMEM_ENOMEM;
	}
	rc = p->cfg.store == VMEM_PAGER_SWAPFILE ? open_swap(p, err, errlen) : 0;
	if (!rc)
		rc = setup_uffd(p, err, errlen);
	/* Pages the region already has stay resident; the rest come on first touch. Register
	 * first, then ask, so a page touched in between is seen as resident. */
	if (!rc && mincore(p->base, p->pages * PAGE, vec)) {
		backend_errf(err, errlen, "pager: mincore: %s", strerror(errno));
		rc = VMEM_EIO;
	}
	if (rc) {
		free(vec);
		teardown(p);
		return rc;
	}
	for (uint64_t i = 0; i < p->pages; i++)
		atomic_init(&p->st[i], (vec[i] & 1) ? VMEM_PAGER_RESIDENT : VMEM_PAGER_UNTOUCHED);
	free(vec);
	if (pthread_create(&p->thread, NULL, handler, p)) {
		teardown(p);
		backend_errf(err, errlen, "pager: cannot start the fault-handling thread");
		return VMEM_ENOMEM;
	}
	p->thread_started = true;
	if (c->handler_cpu >= 0) {
		cpu_set_t set;
		int e;

		CPU_ZERO(&set);
		CPU_SET(c->handler_cpu, &set);
		e = pthread_setaffinity_np(p->thread, sizeof(set), &set);
		if (e) {
			teardown(p);
			backend_errf(err, errlen, "pager: handler_cpu %d: cannot pin the fault-handling "
				     "thread there: %s", c->handler_cpu, strerror(e));
			return VMEM_EINVAL;
		}
	}
	*out = p;
	return 0;
}

int vmem_pager_write_protect(struct vmem_pager *p, uint64_t first, uint64_t n)
{
	struct uffdio_writeprotect wp;

	if (!p)
		return VMEM_EINVAL;
	if (first > p->pages || n > p->pages - first)
		return VMEM_ERANGE;
	if (!n)
		return 0;
	/* On anonymous memory without UFFD_FEATURE_WP_UNPOPULATED only present entries get
	 * the protection; an eviction in flight keeps its own (its page is dropped after). */
	wp.range.start = (uintptr_t)(p->base + first * PAGE);
	wp.range.len = n * PAGE;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	pthread_rwlock_rdlock(&p->store.vma_lock);
	while (ioctl(p->uffd, UFFDIO_WRITEPROTECT, &wp))
		if (errno != EAGAIN) {
			int e = errno;

			pthread_rwlock_unlock(&p->store.vma_lock);
			pager_set_error(p, "UFFDIO_WRITEPROTECT of pages %" PRIu64 "..%" PRIu64 ": %s",
				  first, first + n - 1, strerror(e));
			return VMEM_EIO;
		}
	pthread_rwlock_unlock(&p->store.vma_lock);
	return 0;
}

enum vmem_pager_page vmem_pager_page_state(struct vmem_pager *p, uint64_t page)
{
	if (!p || page >= p->pages)
		return VMEM_PAGER_UNTOUCHED;
	return (enum vmem_pager_page)(atomic_load_explicit(&p->st[page], memory_order_acquire) &
				      STATE_MASK);
}

uint64_t vmem_pager_pages(const struct vmem_pager *p)
{
	return p ? p->pages : 0;
}

void vmem_pager_stats(const struct vmem_pager *p, struct vmem_pager_stats *out)
{
	struct vmem_pager *q = (struct vmem_pager *)p;

	memset(out, 0, sizeof(*out));
	if (!p)
		return;
	out->evictions = GET(q, evictions);
	out->evicted_zero = GET(q, evicted_zero);
	out->faults = GET(q, faults);
	out->faults_zero = GET(q, faults_zero);
	out->wp_faults = GET(q, wp_faults);
	out->bytes_in = GET(q, bytes_in);
	out->bytes_compressed = GET(q, bytes_compressed);
	out->compressed_now = GET(q, compressed_now);
	out->swap_full = GET(q, swap_full);
	out->io_errors = GET(q, io_errors);
	out->errors = GET(q, errors);
	out->slots = p->nslots;
	out->slots_used = GET(q, slots_used);
	out->merges = GET(q, merges);
	out->merges_refused = GET(q, merges_refused);
	out->unmerges = GET(q, unmerges);
	out->merged_now = GET(q, merged_now);
	out->store_pages = GET(q, store_pages);
}

const char *vmem_pager_error(struct vmem_pager *p)
{
	return p ? p->err : "";
}

int vmem_pager_swap_fd(const struct vmem_pager *p)
{
	return p ? p->swap_fd : -1;
}

int vmem_pager_store_fd(const struct vmem_pager *p)
{
	return p ? p->store.fd : -1;
}

int vmem_pager_destroy(struct vmem_pager *p)
{
	char *buf;
	int rc = 0;

	if (!p)
		return 0;
	/* Merged pages first get their own anonymous pages back (the region is then one
	 * kind of memory again, unregistered whole below). */
	rc = pager_store_unmerge_all(p);
	buf = aligned_alloc(PAGE, PAGE);
	for (uint64_t i = 0; buf && i < p->pages; i++) {
		uint32_t s = atomic_load_explicit(&p->st[i], memory_order_relaxed);

		if (s == VMEM_PAGER_RESIDENT || s == VMEM_PAGER_UNTOUCHED || s == VMEM_PAGER_MERGED)
			continue;
		s = pager_page_lock(p, i);
		if (s == VMEM_PAGER_COMPRESSED || s == VMEM_PAGER_SWAPPED)
			s = serve(p, i, s, true, buf);
		if (s == VMEM_PAGER_COMPRESSED || s == VMEM_PAGER_SWAPPED)
			rc = VMEM_EIO;
		pager_page_unlock(p, i, s);
	}
	free(buf);
	teardown(p);
	return rc;
}
