/*
 * bench_pager: the pager's speed on real memory (bench/run.sh runs it; figures in
 * BENCHMARKS.md).
 *
 *   fault service  one thread touches every page of a region whose pages are all missing:
 *                  (a) a bare userfaultfd loop in this process: a handler thread that polls,
 *                      reads the message and answers UFFDIO_COPY from one fixed page, the
 *                      least a userfaultfd pager can do (the userfaultfd(2) man page's
 *                      example); the region is emptied with MADV_DONTNEED between runs;
 *                  (b) the pager (vmem/pager.h) serving pages it evicted to lz4, to its swap
 *                      file, and evicted all-zero (UFFDIO_ZEROPAGE).
 *                  us per fault, and the ratio pager / bare (target <= 1.5). Measured with
 *                  the handler on the faulting thread's CPU and on the other CPU: a wake-up
 *                  across CPUs costs far more than the fault on some VMs.
 *   throughput     swap-out (vmem_pager_evict of every page, verify on) and swap-in (touch
 *                  every page) in MB/s, with compression (lz4) and without (swap file).
 *
 * Page content: half random-looking words, half one repeated word (lz4 makes ~2.1 KB of a
 * page). Best of --runs runs for each figure.
 *
 * usage: bench_pager [--pages N] [--runs N]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include <time.h>
#include <unistd.h>

#include "vmem/guest_ram.h"
#include "vmem/pager.h"
#include "base/rng.h"

#define PAGE 4096u

static void fatal(const char *what, const char *detail)
{
	fprintf(stderr, "bench_pager: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* A page pattern word: the splitmix64 finaliser, never zero. */
static uint64_t mix(uint64_t x)
{
	return rng_mix64(x) | 1;
}

static void fill(char *base, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t *w = (uint64_t *)(base + i * PAGE);

		for (unsigned k = 0; k < PAGE / 8; k++)
			w[k] = k < PAGE / 16 ? mix(i << 20 | k) : mix(i);
	}
}

/* Touches one byte per page (a read), returns seconds. */
static double touch(const char *base, uint64_t pages)
{
	volatile const char *b = base;
	double t0 = now();
	unsigned sum = 0;

	for (uint64_t i = 0; i < pages; i++)
		sum += (unsigned char)b[i * PAGE];
	(void)sum;
	return now() - t0;
}

/* ---- (a) the bare loop ---- */

struct bare {
	int uffd, efd;
	int cpu;
	char *page;
};

static void *bare_handler(void *arg)
{
	struct bare *b = arg;
	struct pollfd pfd[2] = { { .fd = b->uffd, .events = POLLIN }, { .fd = b->efd, .events = POLLIN } };
	struct uffd_msg msg;

	pin(b->cpu);
	for (;;) {
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents)
			return NULL;
		if (read(b->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event == UFFD_EVENT_PAGEFAULT) {
			struct uffdio_copy c = {
				.dst = msg.arg.pagefault.address & ~(uint64_t)(PAGE - 1),
				.src = (uintptr_t)b->page, .len = PAGE,
			};

			ioctl(b->uffd, UFFDIO_COPY, &c);
		}
	}
}

/* Best us per fault of the bare loop over runs. */
static double bare_loop(uint64_t pages, int runs, int handler_cpu)
{
	size_t size = pages * PAGE;
	char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .range = { .start = (uintptr_t)base, .len = size },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct bare b = { .cpu = handler_cpu };
	pthread_t t;
	double best = 1e9;
	uint64_t one = 1;

	if (base == MAP_FAILED)
		fatal("mmap", strerror(errno));
	madvise(base, size, MADV_NOHUGEPAGE);
	b.page = aligned_alloc(PAGE, PAGE);
	fill(b.page, 1);
	b.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	b.efd = eventfd(0, 0);
	if (b.uffd < 0 || ioctl(b.uffd, UFFDIO_API, &api) || ioctl(b.uffd, UFFDIO_REGISTER, &reg))
		fatal("userfaultfd", strerror(errno));
	pthread_create(&t, NULL, bare_handler, &b);
	for (int r = 0; r < runs; r++) {
		double s = touch(base, pages);

		if (s < best)
			best = s;
		madvise(base, size, MADV_DONTNEED);
	}
	if (write(b.efd, &one, sizeof(one)) != sizeof(one))
		fatal("eventfd", strerror(errno));
	pthread_join(t, NULL);
	close(b.uffd);
	close(b.efd);
	free(b.page);
	munmap(base, size);
	return best * 1e6 / (double)pages;
}

/* ---- (b) the pager ---- */

struct result {
	double fault_us;             /* best us per fault */
	double out_mb_s, in_mb_s;    /* best swap-out and swap-in */
	double ratio;                /* bytes compressed / bytes in */
};

static struct result pager_run(uint64_t pages, int runs, enum vmem_pager_store store,
			       bool zero, int handler_cpu)
{
	struct vmem_guest_ram *ram;
	struct vmem_ram_region_config rc;
	struct vmem_ram_region r;
	struct vmem_pager_config c;
	struct vmem_pager *p;
	struct vmem_pager_stats st;
	struct result res = { 1e9, 0, 0, 0 };
	char err[256];
	double mb = (double)pages * PAGE / 1e6;

	vmem_ram_region_config_default(&rc);
	rc.size = pages * PAGE;
	if (vmem_guest_ram_create(&ram) || vmem_guest_ram_add(ram, &rc, NULL, err, sizeof(err)))
		fatal("guest RAM", err);
	vmem_pager_config_default(&c);
	c.store = store;
	c.handler_cpu = handler_cpu;
	if (vmem_pager_create(ram, 0, &c, &p, err, sizeof(err)))
		fatal("pager", err);
	vmem_guest_ram_region(ram, 0, &r);
	if (zero)
		memset(r.hva, 0, rc.size);
	else
		fill(r.hva, pages);
	for (int k = 0; k < runs; k++) {
		double t0 = now(), out, in;

		for (uint64_t i = 0; i < pages; i++)
			if (vmem_pager_evict(p, i))
				fatal("evict", vmem_pager_error(p));
		out = now() - t0;
		in = touch(r.hva, pages);
		if (mb / out > res.out_mb_s)
			res.out_mb_s = mb / out;
		if (mb / in > res.in_mb_s)
			res.in_mb_s = mb / in;
		if (in * 1e6 / (double)pages < res.fault_us)
			res.fault_us = in * 1e6 / (double)pages;
	}
	vmem_pager_stats(p, &st);
	if (st.errors)
		fatal("pager", vmem_pager_error(p));
	res.ratio = st.bytes_in ? (double)st.bytes_compressed / (double)st.bytes_in : 0;
	vmem_pager_destroy(p);
	vmem_guest_ram_destroy(ram);
	return res;
}

int main(int argc, char **argv)
{
	uint64_t pages = 16384;
	int runs = 3, ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			pages = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_pager [--pages N] [--runs N]\n");
			return 2;
		}
	}
	if (pages == 0 || runs < 1)
		fatal("--pages and --runs must be at least 1", NULL);

	/* The faulting thread (this one) stays on CPU 0; the handler on CPU 0, then CPU 1. */
	pin(0);
	printf("pager: userfaultfd fault service, %" PRIu64 " pages (%.0f MiB), best of %d runs\n",
	       pages, (double)pages * PAGE / (1 << 20), runs);
	for (int cpu = 0; cpu < (ncpu > 1 ? 2 : 1); cpu++) {
		double bare = bare_loop(pages, runs, cpu);
		struct result lz = pager_run(pages, runs, VMEM_PAGER_LZ4, false, cpu);
		struct result sw = pager_run(pages, runs, VMEM_PAGER_SWAPFILE, false, cpu);
		struct result zr = pager_run(pages, runs, VMEM_PAGER_LZ4, true, cpu);

		printf("  handler on the %s CPU: bare UFFDIO_COPY loop %.2f us/fault (%.0f faults/s)\n",
		       cpu == 0 ? "faulting thread's" : "other", bare, 1e6 / bare);
		printf("    pager lz4      %.2f us/fault (%.0f faults/s): ratio %.2f to bare (target <= 1.5) %s\n",
		       lz.fault_us, 1e6 / lz.fault_us, lz.fault_us / bare,
		       lz.fault_us / bare <= 1.5 ? "PASS" : "FAIL");
		printf("    pager swapfile %.2f us/fault: ratio %.2f\n", sw.fault_us, sw.fault_us / bare);
		printf("    pager zero     %.2f us/fault (UFFDIO_ZEROPAGE): ratio %.2f\n", zr.fault_us,
		       zr.fault_us / bare);
		if (cpu == 0) {
			printf("  swap-out/in throughput (verify on), handler on the faulting CPU:\n");
			printf("    lz4 (compressed to %.0f %%): out %.0f MB/s, in %.0f MB/s\n",
			       lz.ratio * 100, lz.out_mb_s, lz.in_mb_s);
			printf("    swap file (uncompressed): out %.0f MB/s, in %.0f MB/s\n",
			       sw.out_mb_s, sw.in_mb_s);
		}
	}
	return 0;
}
