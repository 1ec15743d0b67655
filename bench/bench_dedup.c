/*
 * bench_dedup: the own scanner (vmem/ram_dedup.h) against the kernel's KSM merging the same
 * pages at the same scan rate (bench/run.sh runs it; figures in docs/BACKEND.md).
 *
 * Workloads:
 *   random (default): a region of --pages pages, each content on --dup pages placed at
 *        random, so no two merged neighbours map neighbouring store pages: every merged page
 *        is a VMA and a remap of its own for the own scanner (its worst case); all pages
 *        merge, --pages / --dup store or KSM pages remain.
 *   --content FILE: the pages of a vmem-capture snapshot (.vmt CONTENT records, e.g.
 *        traces/content/python3-x2.vmt.zst: two python3 processes), one process after the
 *        other in address order, each page filled from its recorded hash (equal hashes give
 *        equal pages, the zero-page flag gives zeros): the layout of real memory, where the
 *        pages two guests of one image share come in runs. Every page whose hash another
 *        page has merges; the all-zero pages go to the zero page (both scanners).
 *
 *   own  vmem_ram_dedup_scan of --pages-to-scan pages, then --sleep-ms, in this thread,
 *        until every page is merged. CPU: the scanner's CLOCK_THREAD_CPUTIME_ID over its
 *        passes. Saved: the region's Pss before and after (/proc/self/smaps), every page
 *        read once so that every mapping counts.
 *   ksm  the same layout in a fresh region, madvise(MADV_MERGEABLE); KSM's pages_to_scan and
 *        sleep_millisecs set to the same values (and restored after), until
 *        /proc/self/ksm_stat says every page is merging. CPU: ksmd's utime + stime
 *        (/proc/PID/stat, clock ticks of 10 ms: run enough pages for a few hundred ms).
 *
 * Then both scan the merged memory --idle-scans more full scans with nothing left to merge:
 * the CPU one full scan costs (the price of watching memory that is already merged).
 *
 * Figures, as `key value` lines: pages merged per CPU-second for both and their ratio
 * (own / ksm; target > 1), CPU per idle full scan and its ratio, wall seconds, full scans,
 * the kernel's count of VMAs. ksmd's CPU also covers any other process's mergeable memory.
 * The machine may be shared: CPU time is what is compared, not wall time.
 *
 * usage: bench_dedup [--pages N] [--dup K | --content FILE] [--pages-to-scan P]
 *                    [--sleep-ms S] [--timeout-s T] [--idle-scans F]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmem/guest_ram.h"
#include "vmem/ram_dedup.h"
#include "vmem/trace.h"
#include "base/rng.h"

#define PAGE 4096u

static void fatal(const char *what, const char *detail)
{
	fprintf(stderr, "bench_dedup: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000l };

	nanosleep(&ts, NULL);
}

/* A page pattern word: the splitmix64 finaliser, never zero. */
static uint64_t mix(uint64_t x)
{
	return rng_mix64(x) | 1;
}

/* Page i holds content key(i): a random permutation of 0..pages-1, modulo pages / dup. */
static void layout(char *base, uint64_t pages, uint64_t dup)
{
	uint64_t *perm = malloc(pages * sizeof(*perm));

	if (!perm)
		fatal("out of memory", NULL);
	for (uint64_t i = 0; i < pages; i++)
		perm[i] = i;
	for (uint64_t i = pages - 1; i > 0; i--) {           /* Fisher-Yates, seeded */
		uint64_t j = mix(i * 7919) % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t key = perm[i] % (pages / dup), *w = (uint64_t *)(base + i * PAGE);

		for (unsigned k = 0; k < PAGE / 8; k++)
			w[k] = mix((key << 12) ^ k);
	}
	free(perm);
}

/* One page of a snapshot: its hash, or that it is all zeros. */
struct snap_page {
	uint16_t vm;
	uint64_t addr, hash;
	bool zero;
};

static int by_vm_addr(const void *a, const void *b)
{
	const struct snap_page *x = a, *y = b;

	if (x->vm != y->vm)
		return x->vm < y->vm ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int by_hash(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* Reads the CONTENT records of a snapshot (at most max_pages), in (vm, address) order. */
static struct snap_page *read_snapshot(const char *path, uint64_t max_pages, uint64_t *n)
{
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec recs[4096];
	struct snap_page *pg = NULL;
	uint64_t cap = 0;
	long got;

	*n = 0;
	vmem_trace_reader_opts_default(&o);
	if (vmem_trace_open(path, &o, &r))
		fatal(path, r ? vmem_trace_error(r) : "cannot open");
	while ((got = vmem_trace_read(r, recs, 4096)) > 0) {
		for (long k = 0; k < got; k++) {
			if (recs[k].type != VMEM_REC_CONTENT)
				continue;
			if (*n == max_pages)
				fatal(path, "more pages than --pages allows (1 << 22)");
			if (*n == cap) {
				cap = cap ? 2 * cap : 4096;
				pg = realloc(pg, cap * sizeof(*pg));
				if (!pg)
					fatal("out of memory", NULL);
			}
			pg[(*n)++] = (struct snap_page){ .vm = recs[k].vm, .addr = recs[k].addr,
				.hash = recs[k].len, .zero = recs[k].prot & VMEM_CONTENT_ZERO };
		}
	}
	if (got < 0)
		fatal("reading the snapshot", vmem_trace_error(r));
	vmem_trace_close(r);
	if (*n < 16)
		fatal(path, "fewer than 16 CONTENT records (a vmem-capture snapshot is expected)");
	qsort(pg, *n, sizeof(*pg), by_vm_addr);
	return pg;
}

/* Fills the region from the snapshot's pages. */
static void layout_snapshot(char *base, const struct snap_page *pg, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t *w = (uint64_t *)(base + i * PAGE);

		for (unsigned k = 0; k < PAGE / 8; k++)
			w[k] = pg[i].zero ? 0 : mix(pg[i].hash ^ ((uint64_t)k << 52));
	}
}

/* Pages that merge: the non-zero pages whose hash another page has (*dup) and the zero
 * pages (*zero). */
static void count_mergeable(const struct snap_page *pg, uint64_t pages, uint64_t *dup,
			    uint64_t *zero)
{
	uint64_t *h = malloc(pages * sizeof(*h)), nz = 0;

	if (!h)
		fatal("out of memory", NULL);
	*dup = *zero = 0;
	for (uint64_t i = 0; i < pages; i++) {
		if (pg[i].zero)
			(*zero)++;
		else
			h[nz++] = pg[i].hash;
	}
	qsort(h, nz, sizeof(*h), by_hash);
	for (uint64_t i = 0; i < nz;) {
		uint64_t j = i;

		while (j < nz && h[j] == h[i])
			j++;
		if (j - i > 1)
			*dup += j - i;
		i = j;
	}
	free(h);
}

static uint64_t read_all(const char *base, uint64_t pages)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < pages; i++)
		sum += *(const volatile uint64_t *)(base + i * PAGE);
	return sum;
}

static struct vmem_guest_ram *region(uint64_t pages, char **base)
{
	struct vmem_guest_ram *ram;
	struct vmem_ram_region_config rc;
	struct vmem_ram_region r;
	char err[256];

	if (vmem_guest_ram_create(&ram))
		fatal("vmem_guest_ram_create", NULL);
	vmem_ram_region_config_default(&rc);
	rc.gpa = 1ull << 32;
	rc.size = pages * PAGE;
	if (vmem_guest_ram_add(ram, &rc, NULL, err, sizeof(err)))
		fatal("guest RAM", err);
	vmem_guest_ram_region(ram, 0, &r);
	*base = r.hva;
	return ram;
}

static uint64_t parse(const char *opt, const char *v, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || end == v || v[0] == '-' || x < min || x > max) {
		fprintf(stderr, "bench_dedup: %s expects an integer in %" PRIu64 "..%" PRIu64
			", not '%s'\n", opt, min, max, v);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	uint64_t pages = 8192, dup = 4, to_scan = 1000, sleep = 20, timeout_s = 120, idle_scans = 8;
	uint64_t want_merged, want_zero;
	const char *content = NULL;
	struct snap_page *snap = NULL;
	struct vmem_ram_dedup_config c;
	struct vmem_ram_dedup_stats s;
	struct vmem_ram_smaps before, after;
	struct vmem_ram_dedup *d;
	struct vmem_guest_ram *ram;
	struct vmem_ksm_config kc;
	struct vmem_ksm_process_stat ps;
	struct vmem_ksm_global_stat g0, g1;
	struct vmem_ksm *k;
	uint64_t ksmd0, ksmd1;
	double t0, own_wall, own_cpu, ksm_wall, ksm_cpu, own_rate, ksm_rate, own_idle, ksm_idle;
	char err[256], *base;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--pages"))
			pages = parse(argv[i], argv[i + 1], 16, 1u << 22);
		else if (!strcmp(argv[i], "--dup"))
			dup = parse(argv[i], argv[i + 1], 2, 1024);
		else if (!strcmp(argv[i], "--content"))
			content = argv[i + 1];
		else if (!strcmp(argv[i], "--pages-to-scan"))
			to_scan = parse(argv[i], argv[i + 1], 1, 1u << 20);
		else if (!strcmp(argv[i], "--sleep-ms"))
			sleep = parse(argv[i], argv[i + 1], 0, 10000);
		else if (!strcmp(argv[i], "--timeout-s"))
			timeout_s = parse(argv[i], argv[i + 1], 1, 3600);
		else if (!strcmp(argv[i], "--idle-scans"))
			idle_scans = parse(argv[i], argv[i + 1], 1, 1000);
		else
			goto usage;
		i++;
	}
	if (content) {
		snap = read_snapshot(content, 1u << 22, &pages);
		count_mergeable(snap, pages, &want_merged, &want_zero);
		printf("dedup.layout content %s\n", content);
	} else {
		if (pages % dup)
			fatal("--pages must be a multiple of --dup", NULL);
		want_merged = pages;
		want_zero = 0;
		printf("dedup.layout random\n");
		printf("dedup.dup %" PRIu64 "\n", dup);
	}
	printf("dedup.pages %" PRIu64 "\n", pages);
	printf("dedup.mergeable_pages %" PRIu64 "\n", want_merged);
	printf("dedup.zero_pages %" PRIu64 "\n", want_zero);
	printf("dedup.pages_to_scan %" PRIu64 "\n", to_scan);
	printf("dedup.sleep_millisecs %" PRIu64 "\n", sleep);

	/* The own scanner. */
	ram = region(pages, &base);
	if (snap)
		layout_snapshot(base, snap, pages);
	else
		layout(base, pages, dup);
	vmem_ram_dedup_config_default(&c);
	c.pages_to_scan = (uint32_t)to_scan;
	c.sleep_millisecs = (uint32_t)sleep;
	c.max_vmas = (uint32_t)(3 * pages);     /* every page may be a VMA: bounded by pages */
	if (vmem_ram_dedup_create(ram, 0, &c, &d, err, sizeof(err)))
		fatal("vmem_ram_dedup_create", err);
	vmem_ram_smaps(base, pages * PAGE, &before);
	t0 = now();
	for (;;) {
		if (vmem_ram_dedup_scan(d, 0) < 0)
			fatal("vmem_ram_dedup_scan", vmem_ram_dedup_error(d));
		vmem_ram_dedup_stats(d, &s);
		if ((s.pages_shared + s.pages_sharing >= want_merged &&
		     s.ksm_zero_pages >= want_zero) || now() - t0 > (double)timeout_s)
			break;
		sleep_ms((unsigned)sleep);
	}
	own_wall = now() - t0;
	printf("dedup.own.full_scans %" PRIu64 "\n", s.full_scans);
	/* Steady state: further full scans over merged memory, nothing left to merge. */
	{
		uint64_t cpu0 = s.cpu_ns, scans0 = s.full_scans;

		while (s.full_scans < scans0 + idle_scans) {
			if (vmem_ram_dedup_scan(d, 0) < 0)
				fatal("vmem_ram_dedup_scan", vmem_ram_dedup_error(d));
			vmem_ram_dedup_stats(d, &s);
			sleep_ms((unsigned)sleep);
		}
		own_idle = (double)(s.cpu_ns - cpu0) * 1e-9 / (double)idle_scans;
		s.cpu_ns = cpu0;             /* the merge figures below are the merge phase's */
	}
	read_all(base, pages);
	vmem_ram_smaps(base, pages * PAGE, &after);
	own_cpu = (double)s.cpu_ns * 1e-9;
	own_rate = (double)(s.pages_shared + s.pages_sharing + s.ksm_zero_pages) / own_cpu;
	printf("dedup.own.merged_pages %" PRIu64 "\n", s.pages_shared + s.pages_sharing);
	printf("dedup.own.zero_pages %" PRIu64 "\n", s.ksm_zero_pages);
	printf("dedup.own.pages_shared %" PRIu64 "\n", s.pages_shared);
	printf("dedup.own.pages_sharing %" PRIu64 "\n", s.pages_sharing);
	printf("dedup.own.cpu_s %.3f\n", own_cpu);
	printf("dedup.own.wall_s %.3f\n", own_wall);
	printf("dedup.own.merged_per_cpu_s %.0f\n", own_rate);
	printf("dedup.own.idle_full_scan_cpu_ms %.2f\n", own_idle * 1e3);
	printf("dedup.own.vmas %" PRIu64 "\n", after.vmas);
	printf("dedup.own.remaps %" PRIu64 "\n", s.remaps);
	printf("dedup.own.vma_limit_hits %" PRIu64 "\n", s.vma_limit_hits);
	printf("dedup.own.pss_before_kb %" PRIu64 "\n", before.pss_kb);
	printf("dedup.own.pss_after_kb %" PRIu64 "\n", after.pss_kb);
	printf("dedup.own.pss_saved_kb %" PRIu64 "\n", before.pss_kb - after.pss_kb);
	printf("dedup.own.metadata_bytes %" PRIu64 "\n", s.metadata_bytes);
	t0 = now();
	rc = vmem_ram_dedup_destroy(d);
	printf("dedup.own.unmerge_all_s %.3f\n", now() - t0);
	if (rc)
		fatal("vmem_ram_dedup_destroy", "unmerging failed");
	vmem_guest_ram_destroy(ram);

	/* The kernel's KSM on the same layout. */
	if (vmem_ksm_available(err, sizeof(err))) {
		printf("dedup.ksm unavailable (%s)\n", err);
		return 0;
	}
	ram = region(pages, &base);
	if (snap)
		layout_snapshot(base, snap, pages);
	else
		layout(base, pages, dup);
	if (vmem_ksm_merge_range(base, pages * PAGE, true))
		fatal("madvise(MADV_MERGEABLE)", strerror(errno));
	if (vmem_ksm_daemon_cpu_ns(&ksmd0))
		fatal("no ksmd in /proc", NULL);
	vmem_ksm_global_stat(&g0);
	vmem_ksm_config_default(&kc);
	kc.pages_to_scan = (int64_t)to_scan;
	kc.sleep_millisecs = (int64_t)sleep;
	kc.use_zero_pages = 1;               /* as the own scanner's merge_zero_pages */
	t0 = now();
	if (vmem_ksm_open(&kc, &k, err, sizeof(err)))
		fatal("vmem_ksm_open", err);
	rc = vmem_ksm_wait(want_merged, want_zero, (unsigned)timeout_s * 1000, &ps);
	ksm_wall = now() - t0;
	vmem_ksm_daemon_cpu_ns(&ksmd1);
	vmem_ksm_global_stat(&g1);
	/* Steady state: idle_scans more full scans of ksmd (its CPU in clock ticks: coarse). */
	ksm_idle = 0;
	if (!rc) {
		struct vmem_ksm_global_stat g2 = g1;
		uint64_t ksmd2 = ksmd1;
		double t1 = now();

		while (g2.full_scans < g1.full_scans + idle_scans && now() - t1 < (double)timeout_s) {
			sleep_ms(10);
			vmem_ksm_global_stat(&g2);
		}
		vmem_ksm_daemon_cpu_ns(&ksmd2);
		if (g2.full_scans > g1.full_scans)
			ksm_idle = (double)(ksmd2 - ksmd1) * 1e-9 /
				   (double)(g2.full_scans - g1.full_scans);
	}
	if (vmem_ksm_close(k))
		fprintf(stderr, "bench_dedup: a KSM knob could not be restored\n");
	ksm_cpu = (double)(ksmd1 - ksmd0) * 1e-9;
	ksm_rate = ksm_cpu > 0 ? (double)(ps.ksm_merging_pages + ps.ksm_zero_pages) / ksm_cpu : 0;
	printf("dedup.ksm.merged_pages %" PRIu64 "%s\n", ps.ksm_merging_pages,
	       rc ? " (timed out)" : "");
	printf("dedup.ksm.zero_pages %" PRIu64 "\n", ps.ksm_zero_pages);
	printf("dedup.ksm.full_scans %" PRIu64 "\n", g1.full_scans - g0.full_scans);
	printf("dedup.ksm.cpu_s %.3f\n", ksm_cpu);
	printf("dedup.ksm.wall_s %.3f\n", ksm_wall);
	printf("dedup.ksm.merged_per_cpu_s %.0f\n", ksm_rate);
	printf("dedup.ksm.idle_full_scan_cpu_ms %.2f\n", ksm_idle * 1e3);
	printf("dedup.ksm.process_profit_kb %" PRId64 "\n", ps.ksm_process_profit / 1024);
	printf("dedup.ratio_own_to_ksm %.2f (merged pages per CPU-second, %s; target > 1) %s\n",
	       ksm_rate > 0 ? own_rate / ksm_rate : 0,
	       snap ? "the snapshot's layout" :
		      "duplicates scattered at random: one mmap per merge, the own scanner's "
		      "worst case",
	       ksm_rate > 0 && own_rate > ksm_rate ? "PASS" : "FAIL");
	printf("dedup.idle_scan_ratio_ksm_to_own %.2f (CPU per full scan of merged memory, "
	       "KSM / own; > 1: own cheaper)\n", own_idle > 0 ? ksm_idle / own_idle : 0);
	vmem_guest_ram_destroy(ram);
	free(snap);
	return 0;

usage:
	fprintf(stderr, "usage: bench_dedup [--pages N] [--dup K | --content FILE] "
		"[--pages-to-scan P] [--sleep-ms S] [--timeout-s T] [--idle-scans F]\n");
	return 2;
}
