/*
 * bench_tracker: what the tracker (vmem/tracker.h) costs on real memory, against the bare
 * kernel interface in the same process (bench/run.sh runs it).
 *
 *   collect      time of one collect over the region with 0 %, 1 % and 100 % of its pages
 *                written since the last, in ms per GiB:
 *                  bare        PAGEMAP_SCAN (PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
 *                              PAGE_IS_WRITTEN) over a range this program armed itself with a
 *                              userfaultfd in WP_ASYNC mode: the least a tracker can do;
 *                  uffd-async  vmem_tracker_collect over the same scan (+ the bitmap, ages);
 *                  uffd-sync   vmem_tracker_collect: the handler's records, re-protected.
 *                kvm-bitmap  vmem_tracker_collect (KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG) over
 *                              a memory slot of a VM with no vCPU: nothing written, the cost of
 *                              reading and clearing the bitmap alone (if /dev/kvm is usable).
 *   first write  the cost of the first write to a page after a collect, us per page, against
 *                a write to a page nobody tracks: the kernel's async write-protect fault,
 *                and the handler round trip of uffd-sync (handler not pinned).
 * Each figure is the best of --runs. The region is populated, 4 KiB pages.
 *
 * usage: bench_tracker [--mib N] [--runs N]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmem/tracker.h"

#define PAGE 4096u

/* Linux 6.7 (include/uapi/linux/fs.h, userfaultfd.h), absent from the Debian 12 headers. */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WRITTEN (1 << 1)
struct page_region {
	uint64_t start, end, categories;
};
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

static uint64_t pages;
static unsigned runs = 3;

static void fatal(const char *what)
{
	fprintf(stderr, "bench_tracker: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint8_t *region(void)
{
	uint8_t *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fatal("mmap");
	madvise(m, pages * PAGE, MADV_NOHUGEPAGE);
	if (madvise(m, pages * PAGE, MADV_POPULATE_WRITE))
		fatal("MADV_POPULATE_WRITE");
	return m;
}

/* Writes one byte to every `step`-th page; returns the seconds it took. */
static double write_pages(uint8_t *m, uint64_t step, uint8_t v)
{
	double t0 = now();
	for (uint64_t p = 0; p < pages; p += step)
		m[p * PAGE] = v;
	return now() - t0;
}

/* ---- the bare kernel interface ---- */

struct bare {
	int uffd, pagemap;
	uint8_t *m;
};

static void bare_arm(struct bare *b)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct uffdio_register reg = { .range = { (uintptr_t)b->m, pages * PAGE },
				       .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };

	b->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (b->uffd < 0 || ioctl(b->uffd, UFFDIO_API, &api) || ioctl(b->uffd, UFFDIO_REGISTER, &reg) ||
	    ioctl(b->uffd, UFFDIO_WRITEPROTECT, &wp))
		fatal("userfaultfd in WP_ASYNC mode");
	b->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (b->pagemap < 0)
		fatal("/proc/self/pagemap");
}

static uint64_t bare_scan(struct bare *b)
{
	static struct page_region vec[512];
	uint64_t end = (uintptr_t)b->m + pages * PAGE, n = 0;
	struct pm_scan_arg a = {
		.size = sizeof(a), .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)b->m, .end = end, .vec = (uintptr_t)vec, .vec_len = 512,
		.category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
	};
	while (a.start < end) {
		long r = ioctl(b->pagemap, PAGEMAP_SCAN, &a);
		if (r < 0)
			fatal("PAGEMAP_SCAN");
		for (long i = 0; i < r; i++)
			n += (vec[i].end - vec[i].start) / PAGE;
		if (a.walk_end <= a.start)
			break;
		a.start = a.walk_end;
	}
	return n;
}

/* ---- measurements ---- */

static const uint64_t steps[] = { 0, 100, 1 };          /* none, 1 %, all */
static const char *const step_names[] = { "0pct", "1pct", "100pct" };

struct figures {
	double collect_ms[3];        /* per GiB, best of runs */
	double first_write_us;       /* per page */
};

static double per_gib(double secs)
{
	return secs * 1e3 * (double)(1ull << 30) / ((double)pages * PAGE);
}

static void measure_bare(struct figures *f)
{
	struct bare b = { .m = region() };
	bare_arm(&b);
	bare_scan(&b);
	f->first_write_us = 1e30;
	for (unsigned s = 0; s < 3; s++) {
		f->collect_ms[s] = 1e30;
		for (unsigned r = 0; r < runs; r++) {
			if (steps[s]) {
				double w = write_pages(b.m, steps[s], (uint8_t)r);
				if (steps[s] == 1 && w * 1e6 / (double)pages < f->first_write_us)
					f->first_write_us = w * 1e6 / (double)pages;
			}
			double t0 = now();
			uint64_t n = bare_scan(&b);
			double t = per_gib(now() - t0);
			uint64_t want = steps[s] ? (pages + steps[s] - 1) / steps[s] : 0;
			if (n != want) {
				fprintf(stderr, "bench_tracker: bare scan found %llu pages, %llu written\n",
					(unsigned long long)n, (unsigned long long)want);
				exit(1);
			}
			if (t < f->collect_ms[s])
				f->collect_ms[s] = t;
		}
	}
	close(b.uffd);
	close(b.pagemap);
	munmap(b.m, pages * PAGE);
}

static void measure_tracker(enum vmem_track_mech mech, struct figures *f)
{
	uint8_t *m = region();
	struct vmem_tracker_config c;
	struct vmem_tracker *t;
	char err[256];
	uint64_t *dirty = malloc((pages + 63) / 64 * 8), n;

	vmem_tracker_config_default(&c);
	c.hva = m;
	c.size = pages * PAGE;
	c.mech = mech;
	if (vmem_tracker_create(&c, &t, err, sizeof(err))) {
		fprintf(stderr, "bench_tracker: %s\n", err);
		exit(1);
	}
	f->first_write_us = 1e30;
	for (unsigned s = 0; s < 3; s++) {
		f->collect_ms[s] = 1e30;
		for (unsigned r = 0; r < runs; r++) {
			if (steps[s]) {
				double w = write_pages(m, steps[s], (uint8_t)r);
				if (steps[s] == 1 && w * 1e6 / (double)pages < f->first_write_us)
					f->first_write_us = w * 1e6 / (double)pages;
			}
			double t0 = now();
			if (vmem_tracker_collect(t, dirty, &n))
				fatal(vmem_tracker_error(t));
			double secs = per_gib(now() - t0);
			uint64_t want = steps[s] ? (pages + steps[s] - 1) / steps[s] : 0;
			if (n != want) {
				fprintf(stderr, "bench_tracker: %s found %llu pages, %llu written\n",
					vmem_tracker_mech_name(mech), (unsigned long long)n,
					(unsigned long long)want);
				exit(1);
			}
			if (secs < f->collect_ms[s])
				f->collect_ms[s] = secs;
		}
	}
	vmem_tracker_destroy(t);
	free(dirty);
	munmap(m, pages * PAGE);
}

/* A KVM VM with the region as slot 0; -1 if /dev/kvm is not usable here. */
static double kvm_bitmap_idle_ms(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;
	if (kvm < 0 || (vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0)
		return -1;
	uint8_t *m = region();
	struct vmem_tracker_config c;
	struct vmem_tracker *t;
	char err[256];
	uint64_t *dirty = malloc((pages + 63) / 64 * 8), n;
	double best = 1e30;

	vmem_tracker_config_default(&c);
	c.hva = m;
	c.size = pages * PAGE;
	c.mech = VMEM_TRACK_KVM_BITMAP;
	c.kvm_vm_fd = vm;
	if (vmem_tracker_create(&c, &t, err, sizeof(err))) {
		fprintf(stderr, "bench_tracker: %s\n", err);
		exit(1);
	}
	for (unsigned r = 0; r < runs; r++) {
		double t0 = now();
		if (vmem_tracker_collect(t, dirty, &n))
			fatal(vmem_tracker_error(t));
		double ms = per_gib(now() - t0);
		if (ms < best)
			best = ms;
	}
	vmem_tracker_destroy(t);
	close(vm);
	close(kvm);
	free(dirty);
	munmap(m, pages * PAGE);
	return best;
}

int main(int argc, char **argv)
{
	uint64_t mib = 1024;

	for (int i = 1; i < argc; i++) {
		char *end;
		if (i + 1 < argc && strcmp(argv[i], "--mib") == 0) {
			mib = strtoull(argv[++i], &end, 10);
			if (*end || mib < 1 || mib > 65536) {
				fprintf(stderr, "bench_tracker: --mib needs 1..65536\n");
				return 2;
			}
		} else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0) {
			runs = (unsigned)strtoul(argv[++i], &end, 10);
			if (*end || runs < 1 || runs > 100) {
				fprintf(stderr, "bench_tracker: --runs needs 1..100\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: bench_tracker [--mib N] [--runs N]\n");
			return 2;
		}
	}
	pages = mib * 256;

	struct figures bare, async, sync, plain;
	/* Writes nobody tracks: a populated region, written twice (the second pass timed). */
	uint8_t *m = region();
	plain.first_write_us = 1e30;
	for (unsigned r = 0; r < runs; r++) {
		double w = write_pages(m, 1, (uint8_t)r) * 1e6 / (double)pages;
		if (w < plain.first_write_us)
			plain.first_write_us = w;
	}
	munmap(m, pages * PAGE);
	measure_bare(&bare);
	measure_tracker(VMEM_TRACK_UFFD_ASYNC, &async);
	measure_tracker(VMEM_TRACK_UFFD_SYNC, &sync);

	printf("tracker: %llu MiB region, best of %u runs (ms per GiB; ratio to the bare scan)\n",
	       (unsigned long long)mib, runs);
	for (unsigned s = 0; s < 3; s++) {
		printf("tracker.collect.bare.%s_ms_per_gib %.3f\n", step_names[s], bare.collect_ms[s]);
		printf("tracker.collect.uffd_async.%s_ms_per_gib %.3f\n", step_names[s],
		       async.collect_ms[s]);
		printf("tracker.collect.uffd_async.%s_ratio %.2f\n", step_names[s],
		       async.collect_ms[s] / bare.collect_ms[s]);
		printf("tracker.collect.uffd_sync.%s_ms_per_gib %.3f\n", step_names[s],
		       sync.collect_ms[s]);
	}
	double kb = kvm_bitmap_idle_ms();
	if (kb >= 0)
		printf("tracker.collect.kvm_bitmap.0pct_ms_per_gib %.3f\n", kb);
	else
		printf("tracker.collect.kvm_bitmap: no usable /dev/kvm\n");
	printf("tracker.write.untracked_us_per_page %.3f\n", plain.first_write_us);
	printf("tracker.write.bare_async_us_per_page %.3f\n", bare.first_write_us);
	printf("tracker.write.uffd_async_us_per_page %.3f\n", async.first_write_us);
	printf("tracker.write.uffd_async_ratio %.2f\n", async.first_write_us / bare.first_write_us);
	printf("tracker.write.uffd_sync_us_per_page %.3f\n", sync.first_write_us);
	return 0;
}
