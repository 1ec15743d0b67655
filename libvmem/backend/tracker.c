/*
 * The tracker (vmem/tracker.h): pages written since the last collect, over the best of four
 * kernel mechanisms.
 *
 * Kernel references:
 *  - Documentation/virt/kvm/api.rst: 4.35 KVM_SET_USER_MEMORY_REGION (KVM_MEM_LOG_DIRTY_PAGES),
 *    4.8 KVM_GET_DIRTY_LOG, 4.118 KVM_CLEAR_DIRTY_LOG, 7.18 KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
 *    8.29 KVM_CAP_DIRTY_LOG_RING (the ring's protocol: an entry is the collector's once its
 *    flags say DIRTY; the collector sets RESET and calls KVM_RESET_DIRTY_RINGS, which
 *    write-protects those pages again and gives the entries back to the vCPU).
 *  - Documentation/admin-guide/mm/userfaultfd.rst: write-protect mode, UFFDIO_WRITEPROTECT,
 *    UFFD_FEATURE_WP_UNPOPULATED (6.4: protection markers on pages not populated yet, so a
 *    first write is seen too) and UFFD_FEATURE_WP_ASYNC (6.7: the kernel lifts the protection
 *    on a write by itself, with no message).
 *  - Documentation/admin-guide/mm/pagemap.rst: the PAGEMAP_SCAN ioctl (6.7). With
 *    PM_SCAN_WP_MATCHING it write-protects the pages it reports, page table by page table under
 *    the page table lock, so a write is either before the scan (reported now) or after the
 *    protection (reported next time): reading and re-arming cannot lose a write.
 *
 * Why the synchronous handler holds the collect's lock. A writer goes on as soon as the handler
 * lifts the protection of its page. If the handler recorded the page only after that, outside
 * the lock, a collect could run in between: the write is done but not recorded, so that collect
 * misses it (and a final collect, after the writers stopped, could miss it for good). Lifting
 * and recording under the lock the collect holds makes the pair one step for the collect. A
 * repeat remains possible: a second queued fault for a page collected (and protected again)
 * since the first lifts the new protection and records the page once more.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmem/tracker.h"
#include "backend/backend_internal.h"

/* Linux 6.4 and 6.7 definitions the Debian 12 headers (Linux 6.1) lack, from
 * include/uapi/linux/userfaultfd.h and include/uapi/linux/fs.h of Linux 6.7. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)          /* Linux 6.4 */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)                /* Linux 6.7 */
#endif
#ifndef PAGEMAP_SCAN                                    /* Linux 6.7 */
#define PAGE_IS_WRITTEN (1 << 1)
struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

#define PAGE 4096u
#define SCAN_VEC 512                 /* page_region entries per PAGEMAP_SCAN call */
#define AGE_NEVER UINT32_MAX
#define WHY(r, m, ...) snprintf((r)->why_not[m], sizeof((r)->why_not[m]), __VA_ARGS__)

struct dirty_ring {
	struct kvm_dirty_gfn *gfns;
	uint32_t fetch;              /* next entry to look at (free-running) */
};

struct vmem_tracker {
	struct vmem_tracker_config cfg;
	struct vmem_tracker_report report;
	enum vmem_track_mech mech;
	uint64_t pages, words;
	uint8_t *base;

	pthread_mutex_t lock;        /* collects, harvests and the pending bitmap */
	uint64_t *pending;           /* ring: harvested, not yet collected */
	_Atomic uint64_t *recorded;  /* uffd sync: written pages recorded by the handler */
	/* The collect (1, 2, ...) that last reported each page, 0 if none: the write age is the
	 * collects since, and a collect updates only the pages it reports. */
	_Atomic uint32_t *reported_at;
	uint64_t *scratch;           /* bitmap: KVM_GET_DIRTY_LOG's buffer */

	int uffd, pagemap_fd, stop_fd;
	pthread_t handler;
	bool handler_started;
	bool slot_logging;           /* KVM_MEM_LOG_DIRTY_PAGES set by us */

	struct dirty_ring *rings;
	unsigned nrings;
	uint32_t ring_entries;

	_Atomic uint64_t collects, pages_reported, wp_faults, ring_harvested, ring_harvests;
	char errmsg[256];
};

static const char *const mech_names[VMEM_TRACK_MECHS] = {
	"auto", "kvm-ring", "kvm-bitmap", "uffd-async", "uffd-sync",
};

void vmem_tracker_config_default(struct vmem_tracker_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mech = VMEM_TRACK_AUTO;
	c->kvm_vm_fd = -1;
	c->ring_entries = 4096;
	c->handler_cpu = -1;
}

const char *vmem_tracker_mech_name(enum vmem_track_mech m)
{
	return (unsigned)m < VMEM_TRACK_MECHS ? mech_names[m] : "?";
}

int vmem_tracker_mech_parse(const char *s, enum vmem_track_mech *out)
{
	for (unsigned m = 0; m < VMEM_TRACK_MECHS; m++)
		if (s && strcmp(s, mech_names[m]) == 0) {
			*out = (enum vmem_track_mech)m;
			return 0;
		}
	return VMEM_EINVAL;
}

static int check_config(const struct vmem_tracker_config *c, char *err, size_t errlen)
{
	if (!c || !c->hva || (uintptr_t)c->hva % PAGE) {
		backend_errf(err, errlen, "tracker: hva must be a 4096-aligned address");
		return VMEM_EINVAL;
	}
	if (c->size == 0 || c->size % PAGE || (uintptr_t)c->hva + c->size < (uintptr_t)c->hva) {
		backend_errf(err, errlen, "tracker: size %" PRIu64 " is not a non-zero multiple "
			     "of 4096", c->size);
		return VMEM_EINVAL;
	}
	if ((unsigned)c->mech >= VMEM_TRACK_MECHS) {
		backend_errf(err, errlen, "tracker: unknown mechanism %d", (int)c->mech);
		return VMEM_EINVAL;
	}
	/* The kernel's smallest ring is one 4 KiB page of 16-byte entries. */
	if (c->ring_entries < 256 || c->ring_entries > (1u << 24) ||
	    (c->ring_entries & (c->ring_entries - 1))) {
		backend_errf(err, errlen, "tracker: ring_entries %" PRIu32 " is not a power of "
			     "two in 256..16777216", c->ring_entries);
		return VMEM_EINVAL;
	}
	if (c->kvm_gpa % PAGE) {
		backend_errf(err, errlen, "tracker: kvm_gpa 0x%" PRIx64 " is not 4096-aligned",
			     c->kvm_gpa);
		return VMEM_EINVAL;
	}
	return 0;
}

/* ---- probes: no lasting effect on the VM or the range ---- */

static uint64_t uffd_features_offered(int *err_no)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };

	*err_no = 0;
	if (fd < 0) {
		*err_no = errno;
		return 0;
	}
	/* With features = 0 the kernel answers with every feature it offers. */
	if (ioctl(fd, UFFDIO_API, &api)) {
		*err_no = errno;
		api.features = 0;
	}
	close(fd);
	return api.features;
}

/* 0 if the range can take a userfaultfd write-protect registration (tried, then undone),
 * else the errno of the refusal. */
static int uffd_range_free(const struct vmem_tracker_config *c)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK), e = 0;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)c->hva, .len = c->size },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	if (fd < 0)
		return errno;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg))
		e = errno;
	close(fd);                   /* closing unregisters */
	return e;
}

static bool pagemap_scan_offered(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	static char probe_page[PAGE] __attribute__((aligned(PAGE)));
	struct page_region vec[1];
	struct pm_scan_arg a = {
		.size = sizeof(a), .start = (uintptr_t)probe_page,
		.end = (uintptr_t)probe_page + PAGE, .vec = (uintptr_t)vec, .vec_len = 1,
		.category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
	};
	bool ok;

	if (fd < 0)
		return false;
	ok = ioctl(fd, PAGEMAP_SCAN, &a) >= 0;
	close(fd);
	return ok;
}

static void probe_uffd(const struct vmem_tracker_config *c, struct vmem_tracker_report *r,
		       bool *async_ok, bool *sync_ok)
{
	int e;
	uint64_t f = uffd_features_offered(&e);

	*async_ok = *sync_ok = false;
	if (e) {
		WHY(r, VMEM_TRACK_UFFD_ASYNC, "userfaultfd refused: %s%s", strerror(e),
		    e == EPERM ? " (root or vm.unprivileged_userfaultfd=1 needed)" : "");
		WHY(r, VMEM_TRACK_UFFD_SYNC, "%s", r->why_not[VMEM_TRACK_UFFD_ASYNC]);
		return;
	}
	e = uffd_range_free(c);
	if (e == EBUSY) {
		WHY(r, VMEM_TRACK_UFFD_ASYNC, "the range is already registered with a userfaultfd "
		    "(a pager's?): one registration per range");
		WHY(r, VMEM_TRACK_UFFD_SYNC, "%s", r->why_not[VMEM_TRACK_UFFD_ASYNC]);
		return;
	}
	if (e) {
		WHY(r, VMEM_TRACK_UFFD_ASYNC, "UFFDIO_REGISTER in write-protect mode refused: %s",
		    strerror(e));
		WHY(r, VMEM_TRACK_UFFD_SYNC, "%s", r->why_not[VMEM_TRACK_UFFD_ASYNC]);
		return;
	}
	*sync_ok = (f & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0;
	if (!*sync_ok)
		WHY(r, VMEM_TRACK_UFFD_SYNC, "not offered by this kernel "
		    "(UFFD_FEATURE_PAGEFAULT_FLAG_WP, Linux 5.7)");
	if (!(f & UFFD_FEATURE_WP_ASYNC))
		WHY(r, VMEM_TRACK_UFFD_ASYNC, "not offered by this kernel (UFFD_FEATURE_WP_ASYNC, "
		    "Linux 6.7)");
	else if (!pagemap_scan_offered())
		WHY(r, VMEM_TRACK_UFFD_ASYNC, "not offered by this kernel (the PAGEMAP_SCAN ioctl "
		    "of /proc/self/pagemap, Linux 6.7)");
	else
		*async_ok = true;
}

static void probe_kvm(const struct vmem_tracker_config *c, struct vmem_tracker_report *r,
		      bool *ring_ok, bool *bitmap_ok)
{
	int ring_bytes;

	*ring_ok = *bitmap_ok = false;
	if (c->kvm_vm_fd < 0) {
		WHY(r, VMEM_TRACK_KVM_RING, "no VM attached (kvm_vm_fd is -1)");
		WHY(r, VMEM_TRACK_KVM_BITMAP, "no VM attached (kvm_vm_fd is -1)");
		return;
	}
	if (ioctl(c->kvm_vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) {
		WHY(r, VMEM_TRACK_KVM_RING, "kvm_vm_fd %d is not a KVM VM (KVM_CHECK_EXTENSION: "
		    "%s)", c->kvm_vm_fd, strerror(errno));
		WHY(r, VMEM_TRACK_KVM_BITMAP, "%s", r->why_not[VMEM_TRACK_KVM_RING]);
		return;
	}
	*bitmap_ok = true;
	r->manual_protect = (ioctl(c->kvm_vm_fd, KVM_CHECK_EXTENSION,
				   KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) &
			     KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0;
	ring_bytes = ioctl(c->kvm_vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	r->ring_max_entries = ring_bytes > 0 ? (uint32_t)ring_bytes / sizeof(struct kvm_dirty_gfn)
					     : 0;
	if (ring_bytes <= 0)
		WHY(r, VMEM_TRACK_KVM_RING, "not offered by this kernel (KVM_CAP_DIRTY_LOG_RING)");
	else if (c->ring_entries > r->ring_max_entries)
		WHY(r, VMEM_TRACK_KVM_RING, "ring_entries %" PRIu32 " above the kernel's largest "
		    "ring (%" PRIu32 " entries)", c->ring_entries, r->ring_max_entries);
	else
		*ring_ok = true;
}

static void probe_all(const struct vmem_tracker_config *c, struct vmem_tracker_report *r,
		      bool ok[VMEM_TRACK_MECHS])
{
	memset(r, 0, sizeof(*r));
	r->page_idle = access("/sys/kernel/mm/page_idle/bitmap", F_OK) == 0;
	ok[VMEM_TRACK_AUTO] = false;
	probe_kvm(c, r, &ok[VMEM_TRACK_KVM_RING], &ok[VMEM_TRACK_KVM_BITMAP]);
	probe_uffd(c, r, &ok[VMEM_TRACK_UFFD_ASYNC], &ok[VMEM_TRACK_UFFD_SYNC]);
	WHY(r, VMEM_TRACK_AUTO, "not a mechanism");
}

/* After the choice: the mechanisms that were available but not chosen say so. */
static void note_choice(struct vmem_tracker_report *r, const bool ok[VMEM_TRACK_MECHS],
			enum vmem_track_mech used, bool forced)
{
	r->used = used;
	for (unsigned m = 1; m < VMEM_TRACK_MECHS; m++) {
		if (m == (unsigned)used)
			r->why_not[m][0] = '\0';
		else if (ok[m])
			WHY(r, m, "available; %s %s", mech_names[used],
			    forced ? "was asked for" : "is preferred");
	}
}

int vmem_tracker_probe(const struct vmem_tracker_config *c, struct vmem_tracker_report *out,
		       char *err, size_t errlen)
{
	bool ok[VMEM_TRACK_MECHS];
	enum vmem_track_mech used = VMEM_TRACK_AUTO;
	int rc = check_config(c, err, errlen);

	if (rc)
		return rc;
	probe_all(c, out, ok);
	if (c->mech != VMEM_TRACK_AUTO)
		used = ok[c->mech] ? c->mech : VMEM_TRACK_AUTO;
	else
		for (unsigned m = 1; m < VMEM_TRACK_MECHS && used == VMEM_TRACK_AUTO; m++)
			if (ok[m])
				used = (enum vmem_track_mech)m;
	note_choice(out, ok, used, c->mech != VMEM_TRACK_AUTO);
	return 0;
}

/* ---- bookkeeping shared by the mechanisms ---- */

static void set_error(struct vmem_tracker *t, const char *fmt, const char *what)
{
	snprintf(t->errmsg, sizeof(t->errmsg), fmt, what, strerror(errno));
}

static void set_bits(uint64_t *bm, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++)
		bm[p / 64] |= 1ull << (p % 64);
}

/* ---- userfaultfd ---- */

static int uffd_wp(struct vmem_tracker *t, uint64_t first, uint64_t n, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)(t->base + first * PAGE), .len = n * PAGE },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(t->uffd, UFFDIO_WRITEPROTECT, &wp);
}

static void *sync_handler(void *arg)
{
	struct vmem_tracker *t = arg;
	struct uffd_msg msg[32];
	struct pollfd pfd[2] = {
		{ .fd = t->uffd, .events = POLLIN }, { .fd = t->stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		ssize_t n = read(t->uffd, msg, sizeof(msg));
		if (n <= 0)
			continue;
		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
			if (msg[i].event != UFFD_EVENT_PAGEFAULT ||
			    !(msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
				continue;
			uint64_t page = (msg[i].arg.pagefault.address - (uintptr_t)t->base) / PAGE;
			if (page >= t->pages)
				continue;
			/* Lift and record as one step for collect: see the top of this file. The
			 * fault is counted first: lifting the protection wakes the writer, which
			 * may read the counters at once. */
			atomic_fetch_add_explicit(&t->wp_faults, 1, memory_order_relaxed);
			pthread_mutex_lock(&t->lock);
			uffd_wp(t, page, 1, false);
			atomic_fetch_or(&t->recorded[page / 64], 1ull << (page % 64));
			pthread_mutex_unlock(&t->lock);
		}
	}
	return NULL;
}

static int uffd_start(struct vmem_tracker *t, bool async, char *err, size_t errlen)
{
	int e;
	uint64_t offered = uffd_features_offered(&e);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)t->base, .len = t->pages * PAGE },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	api.features = offered & UFFD_FEATURE_WP_UNPOPULATED;
	if (async)
		api.features |= UFFD_FEATURE_WP_ASYNC;
	t->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (t->uffd < 0 || ioctl(t->uffd, UFFDIO_API, &api)) {
		backend_errf(err, errlen, "tracker: userfaultfd: %s", strerror(errno));
		return VMEM_EIO;
	}
	if (ioctl(t->uffd, UFFDIO_REGISTER, &reg)) {
		e = errno;
		backend_errf(err, errlen, "tracker: %s: the range is %s",
			     mech_names[t->mech], e == EBUSY ?
			     "already registered with a userfaultfd (a pager's?): one registration "
			     "per range" : strerror(e));
		return e == EBUSY ? VMEM_EEXIST : VMEM_EIO;
	}
	/* Without protection markers on unpopulated pages, a first write to one would not be
	 * seen: populate them (read: the shared zero page) so that every page carries the bit. */
	if (!(api.features & UFFD_FEATURE_WP_UNPOPULATED) &&
	    madvise(t->base, t->pages * PAGE, MADV_POPULATE_READ)) {
		backend_errf(err, errlen, "tracker: MADV_POPULATE_READ: %s", strerror(errno));
		return VMEM_EIO;
	}
	if (uffd_wp(t, 0, t->pages, true)) {
		backend_errf(err, errlen, "tracker: UFFDIO_WRITEPROTECT: %s", strerror(errno));
		return VMEM_EIO;
	}
	if (async) {
		t->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (t->pagemap_fd < 0) {
			backend_errf(err, errlen, "tracker: /proc/self/pagemap: %s", strerror(errno));
			return VMEM_EIO;
		}
		return 0;
	}
	t->recorded = calloc(t->words, sizeof(*t->recorded));
	t->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!t->recorded || t->stop_fd < 0) {
		backend_errf(err, errlen, "tracker: out of memory");
		return VMEM_ENOMEM;
	}
	if ((e = pthread_create(&t->handler, NULL, sync_handler, t))) {
		backend_errf(err, errlen, "tracker: pthread_create: %s", strerror(e));
		return VMEM_EIO;
	}
	t->handler_started = true;
	if (t->cfg.handler_cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(t->cfg.handler_cpu, &set);
		pthread_setaffinity_np(t->handler, sizeof(set), &set);
	}
	return 0;
}

static int collect_uffd_async(struct vmem_tracker *t, uint64_t *dirty)
{
	struct page_region vec[SCAN_VEC];
	uint64_t end = (uintptr_t)t->base + t->pages * PAGE;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)t->base, .end = end,
		.vec = (uintptr_t)vec, .vec_len = SCAN_VEC,
		.category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
	};

	while (a.start < end) {
		long n = ioctl(t->pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			set_error(t, "tracker: %s: %s", "PAGEMAP_SCAN");
			return VMEM_EIO;
		}
		for (long i = 0; i < n; i++)
			set_bits(dirty, (vec[i].start - (uintptr_t)t->base) / PAGE,
				 (vec[i].end - vec[i].start) / PAGE);
		/* walk_end: where the walk stopped (the end, or where the vector filled). */
		if (a.walk_end <= a.start)
			break;
		a.start = a.walk_end;
	}
	return 0;
}

static int collect_uffd_sync(struct vmem_tracker *t, uint64_t *dirty)
{
	for (uint64_t w = 0; w < t->words; w++) {
		uint64_t bits = atomic_exchange(&t->recorded[w], 0);
		dirty[w] = bits;
		while (bits) {
			unsigned lo = (unsigned)__builtin_ctzll(bits);
			uint64_t rest = ~(bits >> lo);   /* zeros where the run of set bits is */
			unsigned run = rest ? (unsigned)__builtin_ctzll(rest) : 64 - lo;
			if (uffd_wp(t, w * 64 + lo, run, true)) {
				set_error(t, "tracker: %s: %s", "UFFDIO_WRITEPROTECT");
				/* Keep the pages reported: they were written. */
				for (uint64_t r = w + 1; r < t->words; r++)
					dirty[r] = atomic_exchange(&t->recorded[r], 0);
				return VMEM_EIO;
			}
			bits &= run >= 64 ? 0 : ~(((1ull << run) - 1) << lo);
		}
	}
	return 0;
}

/* ---- KVM ---- */

static int set_slot_logging(struct vmem_tracker *t, bool on)
{
	struct kvm_userspace_memory_region mr = {
		.slot = t->cfg.kvm_slot,
		.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		.guest_phys_addr = t->cfg.kvm_gpa,
		.memory_size = t->pages * PAGE,
		.userspace_addr = (uintptr_t)t->base,
	};

	return ioctl(t->cfg.kvm_vm_fd, KVM_SET_USER_MEMORY_REGION, &mr);
}

static int kvm_start(struct vmem_tracker *t, char *why, size_t whylen)
{
	int vm = t->cfg.kvm_vm_fd;

	if (t->mech == VMEM_TRACK_KVM_RING) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_DIRTY_LOG_RING,
			.args = { (uint64_t)t->cfg.ring_entries * sizeof(struct kvm_dirty_gfn) },
		};
		if (ioctl(vm, KVM_ENABLE_CAP, &cap)) {
			snprintf(why, whylen, "KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING) refused: %s (it "
				 "must be enabled before the VM's first vCPU, and once)",
				 strerror(errno));
			return VMEM_ENOENT;
		}
		t->ring_entries = t->cfg.ring_entries;
	} else if (t->report.manual_protect) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE },
		};
		if (ioctl(vm, KVM_ENABLE_CAP, &cap))
			t->report.manual_protect = false;   /* plain GET_DIRTY_LOG still works */
	}
	if (set_slot_logging(t, true)) {
		snprintf(why, whylen, "KVM_SET_USER_MEMORY_REGION (slot %u, KVM_MEM_LOG_DIRTY_PAGES) "
			 "refused: %s", t->cfg.kvm_slot, strerror(errno));
		return VMEM_EIO;
	}
	t->slot_logging = true;
	if (t->mech == VMEM_TRACK_KVM_BITMAP) {
		t->scratch = calloc(t->words, sizeof(uint64_t));
		if (!t->scratch)
			return VMEM_ENOMEM;
		/* Start clean: a bitmap read now may hold pages from before. */
		struct kvm_dirty_log log = { .slot = t->cfg.kvm_slot, .dirty_bitmap = t->scratch };
		if (ioctl(vm, KVM_GET_DIRTY_LOG, &log)) {
			snprintf(why, whylen, "KVM_GET_DIRTY_LOG refused: %s%s", strerror(errno),
				 errno == ENXIO ? " (the VM uses the dirty ring)" : "");
			return VMEM_ENOENT;
		}
		if (t->report.manual_protect) {
			struct kvm_clear_dirty_log cl = {
				.slot = t->cfg.kvm_slot, .num_pages = (uint32_t)t->pages,
				.dirty_bitmap = t->scratch,
			};
			ioctl(vm, KVM_CLEAR_DIRTY_LOG, &cl);
		}
	}
	return 0;
}

int vmem_tracker_add_vcpu(struct vmem_tracker *t, int vcpu_fd, char *err, size_t errlen)
{
	if (t->mech != VMEM_TRACK_KVM_RING) {
		backend_errf(err, errlen, "tracker: vCPUs are given to the kvm-ring mechanism only "
			     "(this tracker uses %s)", mech_names[t->mech]);
		return VMEM_EINVAL;
	}
	struct dirty_ring *r = realloc(t->rings, (t->nrings + 1) * sizeof(*r));
	if (!r)
		return VMEM_ENOMEM;
	t->rings = r;
	void *m = mmap(NULL, (size_t)t->ring_entries * sizeof(struct kvm_dirty_gfn),
		       PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
		       (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * PAGE);
	if (m == MAP_FAILED) {
		backend_errf(err, errlen, "tracker: mmap of vCPU fd %d's dirty ring: %s", vcpu_fd,
			     strerror(errno));
		return VMEM_EIO;
	}
	pthread_mutex_lock(&t->lock);
	t->rings[t->nrings++] = (struct dirty_ring){ .gfns = m, .fetch = 0 };
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Under t->lock. Empties every ring into t->pending and gives the entries back to KVM. */
static int harvest_locked(struct vmem_tracker *t)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < t->nrings; i++) {
		struct dirty_ring *r = &t->rings[i];
		for (;;) {
			struct kvm_dirty_gfn *e = &r->gfns[r->fetch & (t->ring_entries - 1)];
			uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
			if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
				break;
			/* slot: address space in the high 16 bits, slot id in the low. */
			if (e->slot == t->cfg.kvm_slot && e->offset < t->pages)
				t->pending[e->offset / 64] |= 1ull << (e->offset % 64);
			__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
			r->fetch++;
			n++;
		}
	}
	atomic_fetch_add_explicit(&t->ring_harvests, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->ring_harvested, n, memory_order_relaxed);
	if (n && ioctl(t->cfg.kvm_vm_fd, KVM_RESET_DIRTY_RINGS) < 0) {
		set_error(t, "tracker: %s: %s", "KVM_RESET_DIRTY_RINGS");
		return VMEM_EIO;
	}
	return 0;
}

int vmem_tracker_harvest(struct vmem_tracker *t)
{
	int rc = 0;

	if (t->mech != VMEM_TRACK_KVM_RING)
		return 0;
	pthread_mutex_lock(&t->lock);
	rc = harvest_locked(t);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int collect_kvm_bitmap(struct vmem_tracker *t, uint64_t *dirty)
{
	struct kvm_dirty_log log = { .slot = t->cfg.kvm_slot, .dirty_bitmap = dirty };

	if (ioctl(t->cfg.kvm_vm_fd, KVM_GET_DIRTY_LOG, &log)) {
		set_error(t, "tracker: %s: %s", "KVM_GET_DIRTY_LOG");
		return VMEM_EIO;
	}
	if (t->report.manual_protect) {
		/* Re-protects (and clears) exactly the pages reported; a page written since the
		 * GET keeps its bit for the next round. */
		struct kvm_clear_dirty_log cl = {
			.slot = t->cfg.kvm_slot, .num_pages = (uint32_t)t->pages, .first_page = 0,
			.dirty_bitmap = dirty,
		};
		if (ioctl(t->cfg.kvm_vm_fd, KVM_CLEAR_DIRTY_LOG, &cl)) {
			set_error(t, "tracker: %s: %s", "KVM_CLEAR_DIRTY_LOG");
			return VMEM_EIO;
		}
	}
	return 0;
}

/* ---- create, collect, destroy ---- */

int vmem_tracker_create(const struct vmem_tracker_config *c, struct vmem_tracker **out,
			char *err, size_t errlen)
{
	bool ok[VMEM_TRACK_MECHS];
	struct vmem_tracker *t;
	int rc = check_config(c, err, errlen);

	*out = NULL;
	if (rc)
		return rc;
	if (c->kvm_vm_fd >= 0 && c->size / PAGE > UINT32_MAX) {
		backend_errf(err, errlen, "tracker: a KVM slot of more than 2^32 pages");
		return VMEM_EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return VMEM_ENOMEM;
	t->cfg = *c;
	t->base = c->hva;
	t->pages = c->size / PAGE;
	t->words = (t->pages + 63) / 64;
	t->uffd = t->pagemap_fd = t->stop_fd = -1;
	pthread_mutex_init(&t->lock, NULL);
	t->pending = calloc(t->words, sizeof(uint64_t));
	t->reported_at = calloc(t->pages, sizeof(*t->reported_at));
	if (!t->pending || !t->reported_at) {
		vmem_tracker_destroy(t);
		return VMEM_ENOMEM;
	}

	probe_all(c, &t->report, ok);
	if (c->mech != VMEM_TRACK_AUTO && !ok[c->mech]) {
		backend_errf(err, errlen, "tracker: %s is not available here: %s",
			     mech_names[c->mech], t->report.why_not[c->mech]);
		rc = strstr(t->report.why_not[c->mech], "already registered") ? VMEM_EEXIST
									      : VMEM_ENOENT;
		vmem_tracker_destroy(t);
		return rc;
	}
	/* Try the forced one, or each available one in order of preference; a mechanism that
	 * fails to start (the ring on a VM with vCPUs already) records why and the next is tried. */
	rc = VMEM_ENOENT;
	for (unsigned m = 1; m < VMEM_TRACK_MECHS; m++) {
		if (!ok[m] || (c->mech != VMEM_TRACK_AUTO && m != (unsigned)c->mech))
			continue;
		t->mech = (enum vmem_track_mech)m;
		if (m == VMEM_TRACK_KVM_RING || m == VMEM_TRACK_KVM_BITMAP)
			rc = kvm_start(t, t->report.why_not[m], sizeof(t->report.why_not[m]));
		else
			rc = uffd_start(t, m == VMEM_TRACK_UFFD_ASYNC, err, errlen);
		if (rc == 0)
			break;
		ok[m] = false;
		if (m == VMEM_TRACK_KVM_RING || m == VMEM_TRACK_KVM_BITMAP) {
			if (t->slot_logging)
				set_slot_logging(t, false);
			t->slot_logging = false;
			backend_errf(err, errlen, "tracker: %s: %s", mech_names[m],
				     t->report.why_not[m]);
		} else {
			snprintf(t->report.why_not[m], sizeof(t->report.why_not[m]), "%s", err);
			break;       /* the range may be half set up: do not try the other uffd */
		}
	}
	if (rc) {
		/* Nothing available: name the reason of the mechanism that needs the least
		 * (uffd-async; for a range a pager holds, that it is registered already). */
		if (c->mech == VMEM_TRACK_AUTO && rc == VMEM_ENOENT) {
			const char *why = t->report.why_not[VMEM_TRACK_UFFD_ASYNC];
			backend_errf(err, errlen, "tracker: no mechanism is available here; "
				     "uffd-async: %s", why);
			if (strstr(why, "already registered"))
				rc = VMEM_EEXIST;
		}
		vmem_tracker_destroy(t);
		return rc;
	}
	note_choice(&t->report, ok, t->mech, c->mech != VMEM_TRACK_AUTO);
	*out = t;
	return 0;
}

int vmem_tracker_collect(struct vmem_tracker *t, uint64_t *dirty, uint64_t *count)
{
	int rc = 0;
	uint64_t n = 0;

	pthread_mutex_lock(&t->lock);
	memset(dirty, 0, t->words * sizeof(uint64_t));
	switch (t->mech) {
	case VMEM_TRACK_KVM_RING:
		rc = harvest_locked(t);
		memcpy(dirty, t->pending, t->words * sizeof(uint64_t));
		memset(t->pending, 0, t->words * sizeof(uint64_t));
		break;
	case VMEM_TRACK_KVM_BITMAP:
		rc = collect_kvm_bitmap(t, dirty);
		break;
	case VMEM_TRACK_UFFD_ASYNC:
		rc = collect_uffd_async(t, dirty);
		break;
	case VMEM_TRACK_UFFD_SYNC:
		rc = collect_uffd_sync(t, dirty);
		break;
	default:
		rc = VMEM_EINVAL;
	}
	if (t->pages % 64)
		dirty[t->words - 1] &= (1ull << (t->pages % 64)) - 1;
	uint32_t this_collect = (uint32_t)atomic_load(&t->collects) + 1;
	for (uint64_t w = 0; w < t->words; w++)
		for (uint64_t bits = dirty[w]; bits; bits &= bits - 1, n++)
			atomic_store_explicit(&t->reported_at[w * 64 + (uint64_t)__builtin_ctzll(bits)],
					      this_collect, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->collects, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->pages_reported, n, memory_order_relaxed);
	pthread_mutex_unlock(&t->lock);
	if (count)
		*count = n;
	return rc;
}

uint32_t vmem_tracker_write_age(const struct vmem_tracker *t, uint64_t page)
{
	if (page >= t->pages)
		return AGE_NEVER;
	uint32_t at = atomic_load_explicit(&t->reported_at[page], memory_order_relaxed);
	return at ? (uint32_t)atomic_load(&t->collects) - at : AGE_NEVER;
}

enum vmem_track_mech vmem_tracker_mechanism(const struct vmem_tracker *t)
{
	return t->mech;
}

void vmem_tracker_report(const struct vmem_tracker *t, struct vmem_tracker_report *out)
{
	*out = t->report;
}

uint64_t vmem_tracker_pages(const struct vmem_tracker *t)
{
	return t->pages;
}

void vmem_tracker_stats(const struct vmem_tracker *t, struct vmem_tracker_stats *out)
{
	out->collects = atomic_load(&t->collects);
	out->pages_reported = atomic_load(&t->pages_reported);
	out->wp_faults = atomic_load(&t->wp_faults);
	out->ring_entries = atomic_load(&t->ring_harvested);
	out->ring_harvests = atomic_load(&t->ring_harvests);
}

const char *vmem_tracker_error(struct vmem_tracker *t)
{
	return t->errmsg;
}

void vmem_tracker_destroy(struct vmem_tracker *t)
{
	if (!t)
		return;
	if (t->handler_started) {
		uint64_t one = 1;
		if (write(t->stop_fd, &one, sizeof(one)) != sizeof(one))
			abort();     /* an eventfd write of 1 cannot fail */
		pthread_join(t->handler, NULL);
	}
	if (t->uffd >= 0) {
		/* Closing the userfaultfd unregisters the range and wakes any waiting writer;
		 * lift the protection first so no stale protection bit remains on the pages. */
		uffd_wp(t, 0, t->pages, false);
		close(t->uffd);
	}
	if (t->slot_logging)
		set_slot_logging(t, false);
	for (unsigned i = 0; i < t->nrings; i++)
		munmap(t->rings[i].gfns, (size_t)t->ring_entries * sizeof(struct kvm_dirty_gfn));
	if (t->pagemap_fd >= 0)
		close(t->pagemap_fd);
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	free(t->rings);
	free(t->pending);
	free(t->recorded);
	free(t->reported_at);
	free(t->scratch);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
