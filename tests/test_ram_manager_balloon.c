/*
 * The host memory manager's balloon controller on real guest RAM (vmem/ram_manager.h,
 * "Ballooning"): the manager's balloon target policy decides, the target reaches the guest
 * through VMEM_BCH_PORT_TARGET, and a thread standing in for the guest's balloon driver
 * inflates and deflates by building requests in guest memory and ringing the doorbell.
 *
 * Facts the expected values rest on:
 *  - The region has 4096 pages (16 MiB) at gpa 1 GiB; host.mem=12m is 3072 frames, whose
 *    watermarks (10/20/30 per mille: 30, 61, 92 frames) the 2561 pages touched below never
 *    reach (3072 - 2561 = 511 free frames): the manager evicts nothing, so every page the
 *    guest wrote is resident when the balloon takes it.
 *  - The guest writes pages 0..2559 (pattern(page), never all zero) and keeps its balloon
 *    requests in page 4000, which it writes too: 2561 resident pages.
 *  - balloon=static:pages=1024: the target is 1024 pages. The driver inflates the pages it
 *    does not use, 1535+1 .. 2559 (1024 pages) in requests of 256: each page was resident,
 *    so the balloon gives back 1024 * 4 KiB = 4 MiB, and 2561 - 1024 = 1537 pages stay
 *    resident (mincore, and 1537 * 4 = 6148 kB of Rss in the region's smaps entry).
 *  - The books: 1537 resident, 1024 ballooned, balloon size 1024 = target.
 *  - Deflating 512 of them (2048..2559) makes them untouched in the books; the guest then
 *    reads page 2559: a first touch served as a zero page (the pager still calls it
 *    resident, the binding tells the manager), so 1538 resident and 512 ballooned.
 *  - balloon=proportional with balloon.free=250: free_target = 3072 / 1000 * 250 +
 *    3072 % 1000 * 250 / 1000 = 750 + 18 = 768 frames. One VM: entitlement E = 3072 - 768
 *    = 2304. With 2561 resident, free = 511 < 768: need = 257, excess = 2561 - 2304 = 257,
 *    take = ceil(257 * 257 / 257) = 257: target 257. Once the guest holds 257 in its
 *    balloon, resident = 2304, free = 768 = free_target: no surplus, the target stays 257.
 *    Then the guest reports 512 pages free (1024..1535, REPORT_FREE): resident 1792,
 *    free = 1280, surplus 512 >= 257: target 0, and the guest deflates all 257.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/balloon.h"
#include "vmem/balloon_channel.h"
#include "vmem/guest_ram.h"
#include "vmem/host.h"
#include "vmem/ram_balloon.h"
#include "vmem/ram_manager.h"

#define PAGE 4096u
#define PAGES 4096u
#define GPA (1ull << 30)
#define USED 1536u                   /* pages the guest keeps using */
#define WRITTEN 2560u                /* pages the guest wrote */
#define REQ_PAGE 4000u               /* the driver's request page */
#define TARGET 1024u
#define CHUNK 256u

static uint64_t word(uint64_t n, unsigned k)
{
	uint64_t x = (n << 32) ^ k ^ 0x9e3779b97f4a7c15ull;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return (x ^ (x >> 29)) | 1;
}

static void fill(char *page, uint64_t n)
{
	uint64_t *w = (uint64_t *)page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		w[k] = word(n, k);
}

/* 0 if page holds pattern(n) (or zeros when zero is true), else 1 + the first bad word. */
static unsigned differs(const char *page, uint64_t n, bool zero)
{
	const uint64_t *w = (const uint64_t *)page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k] != (zero ? 0 : word(n, k)))
			return k + 1;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct fixture {
	struct vmem_guest_ram *ram;
	struct vmem_ram_balloon *b;
	struct vmem_ram_manager *rm;
	char *base;
};

static void setup_sampling(struct fixture *f, const char *host, bool sample_reads)
{
	struct vmem_ram_region_config rc;
	struct vmem_ram_region r;
	struct vmem_ram_manager_config c;
	char err[256];

	assert_int_equal(vmem_guest_ram_create(&f->ram), 0);
	vmem_ram_region_config_default(&rc);
	rc.gpa = GPA;
	rc.size = (uint64_t)PAGES * PAGE;
	if (vmem_guest_ram_add(f->ram, &rc, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_guest_ram_region(f->ram, 0, &r), 0);
	f->base = r.hva;
	if (vmem_ram_balloon_create(f->ram, NULL, &f->b, err, sizeof(err)))
		fail_msg("vmem_ram_balloon_create: %s", err);
	vmem_ram_manager_config_default(&c);
	c.host = host;
	c.balloon = f->b;
	c.sample_reads = sample_reads;
	if (vmem_ram_manager_create(f->ram, 0, &c, &f->rm, err, sizeof(err)))
		fail_msg("vmem_ram_manager_create(%s): %s", host, err);
}

static void setup(struct fixture *f, const char *host)
{
	setup_sampling(f, host, false);
}

static void teardown(struct fixture *f)
{
	assert_int_equal(vmem_ram_manager_destroy(f->rm), 0);
	vmem_ram_balloon_destroy(f->b);
	vmem_guest_ram_destroy(f->ram);
}

static void check(struct fixture *f)
{
	char err[256];

	if (vmem_ram_manager_check(f->rm, err, sizeof(err)))
		fail_msg("vmem_ram_manager_check: %s", err);
}

static uint64_t resident(const struct fixture *f)
{
	static unsigned char vec[PAGES];
	uint64_t n = 0;

	assert_int_equal(mincore(f->base, (size_t)PAGES * PAGE, vec), 0);
	for (unsigned i = 0; i < PAGES; i++)
		n += vec[i] & 1;
	return n;
}

/* The Rss of the smaps entry that starts at base, kB (the region is one mapping). */
static long smaps_rss_kb(const void *base)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long rss = -1;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = lo == (unsigned long)(uintptr_t)base;
			continue;
		}
		if (in && sscanf(line, "Rss: %ld kB", &rss) == 1)
			break;
	}
	fclose(fp);
	return rss;
}

/* ---- the guest's balloon driver: requests in guest memory, the doorbell ---- */

struct driver {
	struct fixture *f;
	uint64_t next;               /* the next page to give: counts down from WRITTEN - 1 */
	uint32_t actual;
	uint32_t want;               /* proportional: the target at which the driver stops */
	uint32_t given[PAGES];       /* the pfns in its balloon, in the order given */
	int last_rc;
	uint64_t requests;
};

static int ring(struct driver *d, uint16_t op, const uint32_t *pfn, uint32_t n)
{
	char *req = d->f->base + (size_t)REQ_PAGE * PAGE;
	struct vmem_bch_request h = { .magic = VMEM_BCH_MAGIC, .op = op, .count = n,
				      .status = 0x7777 };
	struct vmem_bch_request back;
	int rc;

	memcpy(req, &h, sizeof(h));
	memcpy(req + sizeof(h), pfn, n * sizeof(*pfn));
	rc = vmem_ram_balloon_port_out(d->f->b, VMEM_BCH_PORT_DOORBELL, 4,
				       (uint32_t)((GPA >> 12) + REQ_PAGE));
	memcpy(&back, req, sizeof(back));
	d->requests++;
	if (rc == 0 && (back.status != 0 || back.done != n))
		rc = -100;
	return rc;
}

/* Reads TARGET and inflates toward it until the balloon holds it (or 10 s pass). */
static void *driver_main(void *arg)
{
	struct driver *d = arg;
	uint64_t deadline = now_ms() + 10000;

	while (now_ms() < deadline) {
		uint32_t target = 0, pfn[CHUNK], n = 0;

		assert_int_equal(vmem_ram_balloon_port_in(d->f->b, VMEM_BCH_PORT_TARGET, 4,
							  &target), 0);
		if (target && d->actual == target)
			break;
		while (d->actual + n < target && n < CHUNK && d->next >= USED)
			pfn[n++] = (uint32_t)((GPA >> 12) + d->next--);
		if (!n) {
			usleep(1000);
			continue;
		}
		d->last_rc = ring(d, VMEM_BCH_INFLATE, pfn, n);
		if (d->last_rc)
			break;
		d->actual += n;
		vmem_ram_balloon_port_out(d->f->b, VMEM_BCH_PORT_ACTUAL, 4, d->actual);
	}
	return NULL;
}

/* Follows TARGET both ways until the balloon holds d->want and TARGET says so (10 s). */
static void *follower_main(void *arg)
{
	struct driver *d = arg;
	uint64_t deadline = now_ms() + 10000;

	while (now_ms() < deadline) {
		uint32_t target = 0, pfn[CHUNK], n = 0;
		uint16_t op = VMEM_BCH_INFLATE;

		assert_int_equal(vmem_ram_balloon_port_in(d->f->b, VMEM_BCH_PORT_TARGET, 4,
							  &target), 0);
		if (target == d->want && d->actual == target)
			break;
		if (d->actual < target) {
			while (d->actual + n < target && n < CHUNK && d->next >= USED) {
				pfn[n] = (uint32_t)((GPA >> 12) + d->next--);
				d->given[d->actual + n] = pfn[n];
				n++;
			}
		} else if (d->actual > target) {
			op = VMEM_BCH_DEFLATE;
			while (d->actual - n > target && n < CHUNK) {
				pfn[n] = d->given[d->actual - n - 1];
				n++;
			}
		}
		if (!n) {
			usleep(1000);
			continue;
		}
		d->last_rc = ring(d, op, pfn, n);
		if (d->last_rc)
			break;
		if (op == VMEM_BCH_INFLATE) {
			d->actual += n;
		} else {
			d->actual -= n;
			d->next += n;
		}
		vmem_ram_balloon_port_out(d->f->b, VMEM_BCH_PORT_ACTUAL, 4, d->actual);
	}
	return NULL;
}

static void run_follower(struct driver *d, uint32_t want)
{
	pthread_t t;
	char err[256];

	d->want = want;
	assert_int_equal(pthread_create(&t, NULL, follower_main, d), 0);
	pthread_join(t, NULL);
	if (d->last_rc) {
		vmem_ram_balloon_error(d->f->b, err, sizeof(err));
		fail_msg("request rejected (%d): %s", d->last_rc, err);
	}
	if (d->actual != want)
		fail_msg("the balloon holds %u pages, expected %u", d->actual, want);
}

static void test_static_target_inflates_the_real_balloon(void **state)
{
	struct vmem_ram_manager_stats st;
	struct vmem_ram_balloon_stats bs;
	struct vmem_host_balloon_info bi;
	struct vmem_host_vm_stats vs;
	struct fixture f;
	struct driver d = { .f = &f, .next = WRITTEN - 1 };
	pthread_t t;
	uint32_t pfn[CHUNK];
	uint64_t res_before, res_after;
	long rss_before, rss_after;
	char err[256];

	(void)state;
	setup(&f, "host.mem=12m swap=clock balloon=static:pages=1024 balloon.period_ms=5");
	for (unsigned n = 0; n < WRITTEN; n++)
		fill(f.base + (size_t)n * PAGE, n);
	memset(f.base + (size_t)REQ_PAGE * PAGE, 0, PAGE);
	res_before = resident(&f);
	rss_before = smaps_rss_kb(f.base);
	assert_int_equal(res_before, WRITTEN + 1);
	assert_int_equal(rss_before, (WRITTEN + 1) * 4);

	assert_int_equal(pthread_create(&t, NULL, driver_main, &d), 0);
	pthread_join(t, NULL);
	if (d.last_rc) {
		vmem_ram_balloon_error(f.b, err, sizeof(err));
		fail_msg("inflate rejected (%d): %s", d.last_rc, err);
	}
	assert_int_equal(d.actual, TARGET);
	assert_int_equal(d.requests, TARGET / CHUNK);

	/* The kernel's figures: 1024 pages given back. */
	res_after = resident(&f);
	rss_after = smaps_rss_kb(f.base);
	assert_int_equal(res_after, WRITTEN + 1 - TARGET);
	assert_int_equal(rss_after, (WRITTEN + 1 - TARGET) * 4);
	vmem_ram_balloon_stats(f.b, &bs);
	assert_int_equal(bs.balloon_pages, TARGET);
	assert_int_equal(bs.bytes_given_back, (uint64_t)TARGET * PAGE);
	assert_int_equal(bs.target_pages, TARGET);

	/* The manager's books agree. */
	check(&f);
	vmem_ram_manager_stats(f.rm, &st);
	assert_int_equal(st.vm.state[VMEM_PG_RESIDENT], WRITTEN + 1 - TARGET);
	assert_int_equal(st.vm.state[VMEM_PG_BALLOONED], TARGET);
	assert_int_equal(st.balloon_pages, TARGET);
	assert_int_equal(st.balloon_target, TARGET);
	assert_true(st.balloon_targets_set >= 1);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.host.frames_free, 3072 - (WRITTEN + 1 - TARGET));
	vmem_ram_manager_stop_thread(f.rm);
	assert_int_equal(vmem_host_balloon_info(vmem_ram_manager_host(f.rm), 0, &bi), 0);
	assert_int_equal(bi.size, TARGET);
	assert_int_equal(bi.target, TARGET);
	assert_int_equal(bi.inflated, TARGET);

	/* Contents of the pages the guest kept: intact. */
	for (unsigned n = 0; n < USED; n++)
		if (differs(f.base + (size_t)n * PAGE, n, false))
			fail_msg("page %u lost its content", n);

	/* Deflate 2048..2559, then touch 2559: a first touch, zeros. */
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned k = 0; k < CHUNK; k++)
			pfn[k] = (uint32_t)((GPA >> 12) + 2048 + i * CHUNK + k);
		assert_int_equal(ring(&d, VMEM_BCH_DEFLATE, pfn, CHUNK), 0);
	}
	vmem_ram_manager_stats(f.rm, &st);
	assert_int_equal(st.vm.state[VMEM_PG_BALLOONED], TARGET - 2 * CHUNK);
	assert_int_equal(st.vm.state[VMEM_PG_UNTOUCHED], PAGES - (WRITTEN + 1) + 2 * CHUNK);
	if (differs(f.base + (size_t)(WRITTEN - 1) * PAGE, 0, true))
		fail_msg("a deflated page does not read as zeros");
	check(&f);
	vmem_ram_manager_stats(f.rm, &st);
	assert_int_equal(st.vm.state[VMEM_PG_RESIDENT], WRITTEN + 1 - TARGET + 1);
	assert_int_equal(vmem_host_vm_stats(vmem_ram_manager_host(f.rm), 0, &vs), 0);
	assert_int_equal(vs.balloon_deflated, 2 * CHUNK);
	assert_int_equal(resident(&f), WRITTEN + 1 - TARGET + 1);
	printf("balloon=static: Rss %ld kB -> %ld kB, %" PRIu64 " requests, %" PRIu64
	       " targets handed to the guest\n", rss_before, rss_after, d.requests,
	       st.balloon_targets_set);
	teardown(&f);
}

/* A page the pager holds evicted may not enter the balloon: the request is refused whole,
 * the page keeps its content; a resident page may. host.mem=4m (1024 frames) and 2048
 * pages written: at least 1024 are out. */
static void test_evicted_page_refused_resident_page_taken(void **state)
{
	struct vmem_ram_manager_stats st;
	struct vmem_ram_balloon_stats bs;
	struct vmem_ram_manager_page pg;
	struct fixture f;
	uint64_t out = UINT64_MAX, in = UINT64_MAX, pfn;
	char err[256];

	(void)state;
	setup(&f, "host.mem=4m swap=fifo balloon=static:pages=0");
	for (unsigned n = 0; n < 2048; n++)
		fill(f.base + (size_t)n * PAGE, n);
	vmem_ram_manager_stop_thread(f.rm);
	for (uint64_t n = 0; n < 2048 && out == UINT64_MAX; n++) {
		assert_int_equal(vmem_ram_manager_page(f.rm, n, &pg), 0);
		if (pg.state != VMEM_PG_RESIDENT)
			out = n;
	}
	assert_true(out != UINT64_MAX);
	pfn = (GPA >> 12) + out;
	assert_int_equal(vmem_ram_balloon_inflate(f.b, &pfn, 1), VMEM_EINVAL);
	vmem_ram_balloon_error(f.b, err, sizeof(err));
	assert_non_null(strstr(err, "the host holds it evicted"));
	vmem_ram_balloon_stats(f.b, &bs);
	assert_int_equal(bs.rejected_by[VMEM_RB_REFUSED], 1);
	assert_int_equal(bs.balloon_pages, 0);
	vmem_ram_manager_stats(f.rm, &st);
	assert_int_equal(st.balloon_refused, 1);
	assert_int_equal(differs(f.base + out * PAGE, out, false), 0);

	/* A resident page, found after the read above (whose fault made fifo evict another). */
	for (uint64_t n = 0; n < 2048 && in == UINT64_MAX; n++) {
		assert_int_equal(vmem_ram_manager_page(f.rm, n, &pg), 0);
		if (pg.state == VMEM_PG_RESIDENT)
			in = n;
	}
	assert_true(in != UINT64_MAX);
	pfn = (GPA >> 12) + in;
	assert_int_equal(vmem_ram_balloon_inflate(f.b, &pfn, 1), 0);
	assert_int_equal(vmem_ram_manager_page(f.rm, in, &pg), 0);
	assert_int_equal(pg.state, VMEM_PG_BALLOONED);
	check(&f);
	teardown(&f);
}

static void test_proportional_target_inflates_then_deflates(void **state)
{
	static struct driver d;
	struct vmem_ram_manager_stats st;
	struct vmem_ram_balloon_stats bs;
	struct vmem_bch_range range = { GPA + 1024ull * PAGE, 512ull * PAGE };
	struct fixture f;
	char *req;
	struct vmem_bch_request h = { .magic = VMEM_BCH_MAGIC, .op = VMEM_BCH_REPORT_FREE,
				      .count = 1 };
	long rss;

	(void)state;
	setup(&f, "host.mem=12m swap=clock balloon=proportional balloon.free=250 "
	      "balloon.period_ms=5");
	for (unsigned n = 0; n < WRITTEN; n++)
		fill(f.base + (size_t)n * PAGE, n);
	memset(f.base + (size_t)REQ_PAGE * PAGE, 0, PAGE);
	usleep(50000);               /* ten periods: the target follows the last write */
	memset(&d, 0, sizeof(d));
	d.f = &f;
	d.next = WRITTEN - 1;
	run_follower(&d, 257);
	check(&f);
	vmem_ram_manager_stats(f.rm, &st);
	assert_int_equal(st.balloon_target, 257);
	assert_int_equal(st.vm.state[VMEM_PG_RESIDENT], WRITTEN + 1 - 257);
	assert_int_equal(st.vm.state[VMEM_PG_BALLOONED], 257);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(resident(&f), WRITTEN + 1 - 257);
	rss = smaps_rss_kb(f.base);
	assert_int_equal(rss, (WRITTEN + 1 - 257) * 4);

	/* The guest reports 1024..1535 free: the surplus deflates the whole balloon. */
	req = f.base + (size_t)REQ_PAGE * PAGE;
	memcpy(req, &h, sizeof(h));
	memcpy(req + sizeof(h), &range, sizeof(range));
	assert_int_equal(vmem_ram_balloon_port_out(f.b, VMEM_BCH_PORT_DOORBELL, 4,
						   (uint32_t)((GPA >> 12) + REQ_PAGE)), 0);
	run_follower(&d, 0);
	check(&f);
	vmem_ram_manager_stats(f.rm, &st);
	vmem_ram_balloon_stats(f.b, &bs);
	assert_int_equal(bs.pages_reported, 512);
	assert_int_equal(bs.balloon_pages, 0);
	assert_int_equal(st.balloon_reported, 512);
	assert_int_equal(st.balloon_target, 0);
	assert_int_equal(st.vm.state[VMEM_PG_RESIDENT], WRITTEN + 1 - 257 - 512);
	assert_int_equal(st.vm.state[VMEM_PG_BALLOONED], 0);
	assert_int_equal(st.vm.balloon_inflated, 257);
	assert_int_equal(st.vm.balloon_deflated, 257);
	assert_int_equal(resident(&f), WRITTEN + 1 - 257 - 512);
	for (unsigned n = 0; n < 1024; n++)
		if (differs(f.base + (size_t)n * PAGE, n, false))
			fail_msg("page %u lost its content", n);
	for (unsigned n = 1024; n < USED; n++)
		if (differs(f.base + (size_t)n * PAGE, n, true))
			fail_msg("reported page %u does not read as zeros", n);
	check(&f);
	printf("balloon=proportional: target 257 reached, Rss %ld kB; after 512 pages "
	       "reported free, target 0, deflated 257\n", rss);
	teardown(&f);
}

/* ---- reads in the active fraction (sample_reads) ---- */

#define READ_PAGES 1024u             /* the reader's quarter of the region */

struct reader {
	struct fixture *f;
	atomic_bool stop;
	uint64_t rounds, bad;
};

/* Reads the first and the last word of pages 0..READ_PAGES-1 over and over, checking
 * them (the whole pages are checked at the end); writes none. A round is short beside a
 * controller period, so that every page of the quarter is read in each. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		for (unsigned n = 0; n < READ_PAGES; n++) {
			const uint64_t *w = (const uint64_t *)(r->f->base + (size_t)n * PAGE);

			r->bad += w[0] != word(n, 0) || w[PAGE / 8 - 1] != word(n, PAGE / 8 - 1);
		}
		r->rounds++;
	}
	return NULL;
}

/*
 * The guest writes all 4096 pages once; then a reader reads pages 0..1023 (a quarter) over
 * and over and writes nothing. balloon=static:pages=0 runs the controller without a
 * target; every 50 ms it clears the young bits of balloon.samples=400 random resident
 * pages and, 50 ms later, counts how many are young again (vmem/balloon.h: sampled,
 * touched; active is the largest of that share f and its slow and fast averages).
 *   - Without sample_reads the young bits see faults and writes: after the writes no page
 *     is young again, so every sample finds f = 0: the active fraction is about 0 although
 *     a quarter of the memory is read all the time. (A page the writes were still filling
 *     when a scan protected it can count in the first sample, 1 of 400, whose share the
 *     slow average keeps for a while: below 0.05.)
 *   - With sample_reads each sampled page is taken away through the pager; the reader
 *     faults back those of its quarter (checking every word) and the fault marks them: f
 *     is the share of a sample of 400 random pages that falls in pages 0..1023, binomial
 *     with p = 1/4: mean 100 (f = 0.25), standard deviation 8.7 (0.022). So the last f is
 *     in 0.15..0.35 and active, at least f and at most the largest of the last samples, in
 *     0.15..0.40 (4 standard deviations on each side). Sampled pages of 1024..4095 stay out
 *     (sample_out > 0, fewer pages resident than written); at the end every page holds its
 *     content and the books match real memory.
 */
static void sampled_run(bool sample_reads, struct vmem_host_balloon_info *bi,
			struct vmem_ram_manager_stats *st, uint64_t *res)
{
	struct fixture f;
	struct reader r = { .f = &f };
	pthread_t t;

	setup_sampling(&f, "host.mem=32m swap=clock balloon=static:pages=0 "
		       "balloon.period_ms=50 balloon.samples=400", sample_reads);
	for (unsigned n = 0; n < PAGES; n++)
		fill(f.base + (size_t)n * PAGE, n);
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	for (int i = 0; i < 10; i++) {
		usleep(100000);
		check(&f);
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	vmem_ram_manager_stop_thread(f.rm);
	assert_int_equal(vmem_host_balloon_info(vmem_ram_manager_host(f.rm), 0, bi), 0);
	vmem_ram_manager_stats(f.rm, st);
	*res = resident(&f);
	print_message("sample_reads %d: reader rounds %" PRIu64 ", last sample %" PRIu64 " of %"
		      PRIu64 " touched, active %.3f; taken %" PRIu64 ", touched %" PRIu64
		      ", out %" PRIu64 ", resident %" PRIu64 "\n", sample_reads, r.rounds,
		      bi->touched, bi->sampled, bi->active, st->sample_taken, st->sample_touched,
		      st->sample_out, *res);
	assert_int_equal(r.bad, 0);
	assert_true(r.rounds > 0);
	check(&f);
	for (unsigned n = 0; n < PAGES; n++)
		assert_int_equal(differs(f.base + (size_t)n * PAGE, n, false), 0);
	teardown(&f);
}

static void test_sample_reads_counts_pages_only_read(void **state)
{
	struct vmem_host_balloon_info bi;
	struct vmem_ram_manager_stats st;
	uint64_t res;

	(void)state;
	sampled_run(false, &bi, &st, &res);
	assert_int_equal(bi.sampled, 400);
	assert_int_equal(bi.touched, 0);
	assert_true(bi.active < 0.05);
	assert_int_equal(st.sample_taken + st.sample_touched + st.sample_out, 0);
	assert_int_equal(res, PAGES);

	sampled_run(true, &bi, &st, &res);
	assert_int_equal(bi.sampled, 400);
	assert_in_range(bi.touched, 60, 140);
	assert_true(bi.active >= 0.15 && bi.active <= 0.40);
	assert_true(st.sample_taken > 0);
	assert_true(st.sample_touched > 0);
	assert_true(st.sample_out > 0);
	assert_true(res < PAGES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_target_inflates_the_real_balloon),
		cmocka_unit_test(test_evicted_page_refused_resident_page_taken),
		cmocka_unit_test(test_proportional_target_inflates_then_deflates),
		cmocka_unit_test(test_sample_reads_counts_pages_only_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
