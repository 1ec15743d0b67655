/*
 * The host memory manager on real guest RAM (libvmem/backend/ram_manager.c): the manager's
 * swap policies choose, a pager evicts real pages and userfaultfd brings them back, while
 * plain threads stand in for vCPUs.
 *
 * Facts the expected values rest on:
 *  - The region has 4096 pages (16 MiB); host.mem=8m is 2048 frames. Only the manager
 *    backs pages and every eviction it decides is carried out before its lock is
 *    released, so at any instant with the lock held the pages resident in memory
 *    (mincore) are a subset of those the books call resident, which are at most 2048
 *    (frames in use + free = capacity): the budget holds with no slack at all. The
 *    watermarks (10/20/30 per mille: 20, 40 and 61 frames) only decide when reclaim runs.
 *  - Page contents are pattern(page, generation): 512 words mixing page, generation and
 *    word index, never all zero, so every eviction keeps a copy and every lost, stale or
 *    misplaced byte shows. Each page belongs to one writer thread (page % 2), which keeps
 *    its generation; a page never written reads as zeros.
 *  - Every pager fault is a first touch or the return of an evicted page, so
 *    pager faults = faults_first + faults_swapin + faults_decompress of the manager, and
 *    the manager's swap-outs (reclaimed) = the pager's evictions.
 *  - A record of the page table (read lock-free) is one consistent snapshot: a page out
 *    (swapped or compressed) has left once more than it came back, any other page as
 *    often: swap_outs = swap_ins + (state is out).
 *  - The journal holds every input the manager took; replayed through a vmem_host alone
 *    (same configuration, the same accessed-bit answers given in the same order) it
 *    must make the same victims in the same order: the policy code is the same.
 */
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

#include "vmem/guest_ram.h"
#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "vmem/pager.h"
#include "vmem/ram_manager.h"
#include "base/rng.h"

#define PAGE 4096u
#define PAGES 4096u                  /* 16 MiB region */
#define BUDGET 2048u                 /* host.mem=8m */
#define WRITERS 2
#define WINDOW 1536u                 /* working set: 6 MiB of the 8 MiB budget */
#define STEP 128u                    /* the window moves this many pages a round */

#if defined(__SANITIZE_ADDRESS__)
#define ROUNDS 24
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROUNDS 24
#endif
#endif
#ifndef ROUNDS
#define ROUNDS 64                    /* 64 * 128 = 8192 pages: the window crosses twice */
#endif
#define ACCESSES_PER_ROUND 1200      /* per writer */

/* A page pattern word: the splitmix64 finaliser, never zero. */
static uint64_t mix(uint64_t x)
{
	return rng_mix64(x) | 1;
}

/* Half random-looking, half one repeated word (lz4 has something to compress). */
static uint64_t word(uint64_t n, uint64_t gen, unsigned k)
{
	return k < PAGE / 16 ? mix((n << 32) ^ (gen << 12) ^ k) : mix((n << 32) ^ gen) ^ 1;
}

static void fill(void *page, uint64_t n, uint64_t gen)
{
	uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		w[k] = word(n, gen, k);
}

/* 0 if page holds pattern(n, gen) (zeros for gen 0), else 1 + the first differing word. */
static unsigned differs(const void *page, uint64_t n, uint64_t gen)
{
	const uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k] != (gen ? word(n, gen, k) : 0))
			return k + 1;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct fixture {
	struct vmem_guest_ram *ram;
	struct vmem_ram_manager *rm;
	char *base;
};

static void ram_setup(struct fixture *f)
{
	struct vmem_ram_region_config rc;
	struct vmem_ram_region r;
	char err[256];

	assert_int_equal(vmem_guest_ram_create(&f->ram), 0);
	vmem_ram_region_config_default(&rc);
	rc.gpa = 1ull << 30;
	rc.size = (uint64_t)PAGES * PAGE;
	if (vmem_guest_ram_add(f->ram, &rc, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_guest_ram_region(f->ram, 0, &r), 0);
	f->base = r.hva;
}

static void bind(struct fixture *f, const char *host, size_t journal_max)
{
	struct vmem_ram_manager_config c;
	char err[256];

	vmem_ram_manager_config_default(&c);
	c.host = host;
	c.journal_max = journal_max;
	if (vmem_ram_manager_create(f->ram, 0, &c, &f->rm, err, sizeof(err)))
		fail_msg("vmem_ram_manager_create(%s): %s", host, err);
}

static void check(struct fixture *f)
{
	char err[256];

	if (vmem_ram_manager_check(f->rm, err, sizeof(err)))
		fail_msg("vmem_ram_manager_check: %s", err);
}

/* The record's fields agree with one another (one snapshot). */
static bool record_consistent(const struct vmem_ram_manager_page *p)
{
	bool out = p->state == VMEM_PG_SWAPPED || p->state == VMEM_PG_COMPRESSED;

	return p->swap_outs == p->swap_ins + (out ? 1u : 0u) &&
	       (p->state == VMEM_PG_UNTOUCHED || p->state == VMEM_PG_RESIDENT || out);
}

/* ---- configuration errors ---- */

static void expect_refused(struct fixture *f, const char *host, const char *words)
{
	struct vmem_ram_manager_config c;
	struct vmem_ram_manager *rm = (void *)1;
	char err[256] = "";

	vmem_ram_manager_config_default(&c);
	c.host = host;
	assert_int_equal(vmem_ram_manager_create(f->ram, 0, &c, &rm, err, sizeof(err)),
			 VMEM_EINVAL);
	assert_null(rm);
	if (!strstr(err, words))
		fail_msg("'%s': message '%s' lacks '%s'", host ? host : "(null)", err, words);
}

static void test_ram_manager_bad_configs_rejected_with_a_message(void **state)
{
	struct vmem_ram_manager_config c;
	struct vmem_ram_manager *rm;
	struct fixture f;
	char err[256];

	(void)state;
	ram_setup(&f);
	expect_refused(&f, NULL, "no host configuration");
	expect_refused(&f, "swap=clock", "host.mem");
	expect_refused(&f, "host.mem=8m swap=none", "swap=none");
	expect_refused(&f, "host.mem=8m swap=clock dedup=ksm:use_zero_pages=1",
		       "use_zero_pages must be 0");
	expect_refused(&f, "host.mem=8m swap=clock balloon=static", "needs the guest's balloon");
	expect_refused(&f, "host.mem=8m swap=clock host.nosuch=1", "unknown key 'host.nosuch'");
	expect_refused(&f, "host.mem=8m clock", "expected KEY=VALUE, got 'clock'");
	expect_refused(&f, "host.mem=8q swap=clock", "host.mem=8q");
	expect_refused(&f, "host.mem=8m swap=nosuch", "no swap policy named 'nosuch'");
	vmem_ram_manager_config_default(&c);
	c.host = "host.mem=8m swap=fifo";
	c.reclaim_ms = 0;
	assert_int_equal(vmem_ram_manager_create(f.ram, 0, &c, &rm, err, sizeof(err)),
			 VMEM_EINVAL);
	assert_non_null(strstr(err, "reclaim_ms 0"));
	c.reclaim_ms = 2;
	assert_int_equal(vmem_ram_manager_create(f.ram, 7, &c, &rm, err, sizeof(err)),
			 VMEM_EINVAL);
	assert_non_null(strstr(err, "no guest RAM region 7"));
	vmem_guest_ram_destroy(f.ram);
}

/* ---- pages resident before the binding ---- */

static void test_ram_manager_takes_resident_pages_into_the_budget(void **state)
{
	struct vmem_ram_manager_stats st;
	struct fixture f;
	const unsigned touched = 3072;   /* 12 MiB written before binding, 4 MiB over */

	(void)state;
	ram_setup(&f);
	for (unsigned g = 0; g < touched; g++)
		fill(f.base + (size_t)g * PAGE, g, 1);
	bind(&f, "host.mem=8m swap=fifo zswap.percent=0", 0);
	vmem_ram_manager_stats(f.rm, &st);
	/* 3072 first writes in page order into 2048 frames: fifo sends the oldest away,
	 * at least the 1024 over the budget. */
	assert_true(st.resident <= BUDGET);
	assert_true(st.vm.reclaimed >= touched - BUDGET);
	assert_int_equal(st.vm.faults_first, touched);
	assert_int_equal(st.pager.evictions, st.vm.reclaimed);
	assert_int_equal(vmem_host_page_state(vmem_ram_manager_host(f.rm), 0, 0),
			 VMEM_PG_SWAPPED);
	check(&f);
	for (unsigned g = 0; g < PAGES; g++) {
		unsigned d = differs(f.base + (size_t)g * PAGE, g, g < touched ? 1 : 0);

		if (d)
			fail_msg("page %u word %u differs", g, d - 1);
	}
	check(&f);
	vmem_ram_manager_stats(f.rm, &st);
	assert_true(st.resident <= BUDGET);
	assert_int_equal(st.pager.faults, st.vm.faults_first - touched + st.vm.faults_swapin +
			 st.vm.faults_decompress);
	assert_int_equal(vmem_ram_manager_destroy(f.rm), 0);
	vmem_guest_ram_destroy(f.ram);
}

/* ---- writers over a moving working set, per policy ---- */

struct run {
	struct fixture f;
	uint32_t gen[PAGES];         /* page g's generation, owned by writer g % WRITERS */
	_Atomic unsigned round;
	_Atomic bool stop;
	_Atomic uint64_t bad_records, reads;
	uint64_t max_resident, samples;
	char monitor_err[256];
};

struct writer {
	struct run *r;
	unsigned id;
	char err[160];
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct run *r = w->r;
	uint64_t seed = 0x5eed + w->id;

	for (unsigned round = 0; round < ROUNDS; round++) {
		uint64_t first = (uint64_t)round * STEP;

		for (unsigned a = 0; a < ACCESSES_PER_ROUND; a++) {
			struct vmem_ram_manager_page rec;
			uint64_t g;
			unsigned d;
			char *p;

			seed = mix(seed);
			/* A page of this writer in the window, which wraps around the region. */
			g = (first + seed % WINDOW) % PAGES;
			g = (g - g % WRITERS + w->id) % PAGES;
			p = r->f.base + g * PAGE;
			d = differs(p, g, r->gen[g]);
			if (d) {
				snprintf(w->err, sizeof(w->err), "page %llu generation %u: word %u "
					 "differs", (unsigned long long)g, r->gen[g], d - 1);
				return NULL;
			}
			fill(p, g, ++r->gen[g]);
			/* The vCPU reads the table too, lock-free. */
			vmem_ram_manager_page(r->f.rm, g, &rec);
			if (!record_consistent(&rec))
				atomic_fetch_add(&r->bad_records, 1);
			atomic_fetch_add(&r->reads, 1);
		}
	}
	return NULL;
}

/* Checks the invariants, the budget and random records while the writers run. */
static void *monitor_main(void *arg)
{
	struct run *r = arg;
	uint64_t seed = 77;

	while (!atomic_load(&r->stop)) {
		struct vmem_ram_manager_stats st;

		if (vmem_ram_manager_check(r->f.rm, r->monitor_err, sizeof(r->monitor_err)))
			return NULL;
		vmem_ram_manager_stats(r->f.rm, &st);
		if (st.resident > r->max_resident)
			r->max_resident = st.resident;
		r->samples++;
		for (unsigned k = 0; k < 256; k++) {
			struct vmem_ram_manager_page rec;

			seed = mix(seed);
			vmem_ram_manager_page(r->f.rm, seed % PAGES, &rec);
			if (!record_consistent(&rec))
				atomic_fetch_add(&r->bad_records, 1);
		}
		usleep(5000);
	}
	r->monitor_err[0] = '\0';
	return NULL;
}

/* ---- the replay through a vmem_host alone ---- */

struct replay {
	const struct vmem_ram_manager_event *ev;
	size_t n, young_at;          /* the next YOUNG entry to answer from */
	uint64_t *victims;
	size_t nvictims;
	uint64_t young_mismatch;
};

static bool replay_young(void *ctx, uint16_t vm, uint64_t gfn, bool clear)
{
	struct replay *rp = ctx;

	(void)vm;
	while (rp->young_at < rp->n && rp->ev[rp->young_at].kind != VMEM_RM_YOUNG)
		rp->young_at++;
	if (rp->young_at == rp->n || rp->ev[rp->young_at].page != gfn ||
	    rp->ev[rp->young_at].flag != clear) {
		rp->young_mismatch++;
		return false;
	}
	return rp->ev[rp->young_at++].answer;
}

static void replay_observer(void *ctx, uint16_t vm, uint64_t gfn, enum vmem_page_state from,
			    enum vmem_page_state to)
{
	struct replay *rp = ctx;

	(void)vm;
	if (from == VMEM_PG_RESIDENT && (to == VMEM_PG_SWAPPED || to == VMEM_PG_COMPRESSED))
		rp->victims[rp->nvictims++] = gfn;
}

/* Replays the journal through a new host of the binding's configuration; returns the
 * victims compared. */
static size_t replay_and_compare(const char *host, const struct vmem_ram_manager_event *ev,
				 size_t n)
{
	struct vmem_host_config hc;
	struct vmem_host *h;
	struct replay rp = { .ev = ev, .n = n };
	char buf[256], err[256], *save = NULL, *w;
	size_t real = 0;

	/* The binding's configuration: the defaults, a swap device of the region's size,
	 * then the words. */
	vmem_host_config_default(&hc);
	hc.swap_size = (uint64_t)PAGES * PAGE;
	snprintf(buf, sizeof(buf), "%s", host);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');

		*eq = '\0';
		assert_int_equal(vmem_host_config_set(&hc, w, eq + 1, err, sizeof(err)), 0);
	}
	assert_int_equal(vmem_host_create(&hc, &h, err, sizeof(err)), 0);
	assert_int_equal(vmem_host_add_vm(h, 0, (uint64_t)PAGES * PAGE, 1000), 0);
	rp.victims = malloc(n * sizeof(*rp.victims) + 1);
	assert_non_null(rp.victims);
	vmem_host_set_young_source(h, replay_young, &rp);
	vmem_host_set_observer(h, replay_observer, &rp);
	for (size_t i = 0; i < n; i++) {
		struct vmem_host_fault_result res;

		switch (ev[i].kind) {
		case VMEM_RM_FAULT:
			assert_int_equal(vmem_host_fault(h, 0, ev[i].page, ev[i].flag, &res), 0);
			break;
		case VMEM_RM_ADVANCE:
			vmem_host_advance(h, ev[i].arg);
			break;
		case VMEM_RM_ACCESS:
			vmem_host_access(h, 0, ev[i].page, ev[i].flag);
			break;
		case VMEM_RM_VICTIM:
			real++;
			break;
		default:
			break;
		}
	}
	assert_int_equal(rp.young_mismatch, 0);
	assert_int_equal(rp.nvictims, real);
	for (size_t i = 0, k = 0; i < n; i++) {
		if (ev[i].kind != VMEM_RM_VICTIM)
			continue;
		if (rp.victims[k] != ev[i].page)
			fail_msg("victim %zu: real RAM chose page %llu, the simulated replay %llu", k,
				 (unsigned long long)ev[i].page, (unsigned long long)rp.victims[k]);
		k++;
	}
	assert_int_equal(vmem_host_check(h, err, sizeof(err)), 0);
	vmem_host_destroy(h);
	free(rp.victims);
	return real;
}

static void run_policy(const char *policy, const char *tier)
{
	struct run *r = calloc(1, sizeof(*r));
	struct writer w[WRITERS];
	pthread_t tw[WRITERS], tm;
	struct vmem_ram_manager_stats st;
	const struct vmem_ram_manager_event *ev;
	char host[128];
	size_t n, victims;
	uint64_t t0, elapsed;

	assert_non_null(r);
	snprintf(host, sizeof(host), "host.mem=8m swap=%s %s", policy, tier);
	ram_setup(&r->f);
	bind(&r->f, host, 4u << 20);
	t0 = now_ns();
	assert_int_equal(pthread_create(&tm, NULL, monitor_main, r), 0);
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .r = r, .id = i };
		assert_int_equal(pthread_create(&tw[i], NULL, writer_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(tw[i], NULL);
	elapsed = now_ns() - t0;
	atomic_store(&r->stop, true);
	pthread_join(tm, NULL);
	for (unsigned i = 0; i < WRITERS; i++)
		if (w[i].err[0])
			fail_msg("%s: writer %u: %s", policy, i, w[i].err);
	if (r->monitor_err[0])
		fail_msg("%s: while running: %s", policy, r->monitor_err);
	assert_int_equal(atomic_load(&r->bad_records), 0);
	assert_true(r->samples > 0);
	/* The budget: never more resident than host.mem. */
	assert_true(r->max_resident <= BUDGET);

	vmem_ram_manager_stop_thread(r->f.rm);
	check(&r->f);
	vmem_ram_manager_stats(r->f.rm, &st);
	printf("%s %s: faults %llu (first %llu, swap-ins %llu, decompressions %llu), evictions %llu, writes seen %llu, "
	       "scans %llu, max resident %llu of %u, %.0f faults/s, %.1f us per fault in the "
	       "manager, metadata %.1f B/page (%zu B)\n", policy, tier,
	       (unsigned long long)st.pager.faults, (unsigned long long)st.vm.faults_first,
	       (unsigned long long)st.vm.faults_swapin, (unsigned long long)st.vm.faults_decompress,
	       (unsigned long long)st.pager.evictions,
	       (unsigned long long)st.writes_seen, (unsigned long long)st.scans,
	       (unsigned long long)r->max_resident, BUDGET,
	       (double)st.pager.faults * 1e9 / (double)elapsed,
	       st.faults ? (double)st.fault_ns / (double)st.faults / 1000.0 : 0.0,
	       st.metadata_per_page, st.metadata_bytes);
	/* The manager and the pager count the same events. */
	assert_true(st.vm.reclaimed > 1000);           /* the window crossed the region */
	assert_int_equal(st.evict_failed, 0);
	assert_int_equal(st.evict_missing, 0);
	assert_int_equal(st.vm.reclaimed, st.pager.evictions);
	assert_int_equal(st.vm.swap_out + st.vm.compress_out, st.pager.evictions);
	assert_int_equal(st.pager.faults, st.vm.faults_first + st.vm.faults_swapin +
			 st.vm.faults_decompress);
	assert_int_equal(st.faults, st.vm.faults);
	assert_true(st.metadata_per_page > 8.0 && st.metadata_per_page < 64.0);

	/* The simulated replay makes the same victims. */
	ev = vmem_ram_manager_journal(r->f.rm, &n);
	assert_int_equal(st.journal_dropped, 0);
	victims = replay_and_compare(host, ev, n);
	assert_int_equal(victims, st.pager.evictions);
	printf("%s %s: the simulated replay of %zu journal entries made the same %zu victims\n",
	       policy, tier, n, victims);

	/* Every byte of every page: its last generation, or zeros. */
	for (uint64_t g = 0; g < PAGES; g++) {
		unsigned d = differs(r->f.base + g * PAGE, g, r->gen[g]);

		if (d)
			fail_msg("%s: page %llu generation %u: word %u differs", policy,
				 (unsigned long long)g, r->gen[g], d - 1);
	}
	check(&r->f);
	vmem_ram_manager_stats(r->f.rm, &st);
	assert_true(st.resident <= BUDGET);
	assert_int_equal(st.pager.faults, st.vm.faults_first + st.vm.faults_swapin +
			 st.vm.faults_decompress);
	assert_int_equal(vmem_ram_manager_destroy(r->f.rm), 0);
	for (uint64_t g = 0; g < PAGES; g++)
		assert_int_equal(differs(r->f.base + g * PAGE, g, r->gen[g]), 0);
	vmem_guest_ram_destroy(r->f.ram);
	free(r);
}

static void test_ram_manager_fifo_keeps_budget_and_bytes(void **state)
{
	(void)state;
	run_policy("fifo", "zswap.percent=0");
}

static void test_ram_manager_clock_keeps_budget_and_bytes(void **state)
{
	(void)state;
	run_policy("clock", "zswap.percent=0");
}

static void test_ram_manager_random_keeps_budget_and_bytes(void **state)
{
	(void)state;
	run_policy("random", "zswap.percent=0");
}

static void test_ram_manager_ws_keeps_budget_and_bytes(void **state)
{
	(void)state;
	run_policy("ws:tau_ms=50", "zswap.percent=0");
}

static void test_ram_manager_lru_keeps_budget_and_bytes(void **state)
{
	(void)state;
	run_policy("lru", "zswap.percent=0");
}

/* ---- fault service rate: through the manager, and a bare pager doing the same ---- */

#define RATE_PASSES 3

/* One thread writes the region page after page, RATE_PASSES times: with a budget of half
 * the region every write from the second pass on finds its page evicted. Returns ns. */
static uint64_t sweep(char *base, uint32_t *gen, struct vmem_pager *bare)
{
	uint64_t t0 = now_ns();

	for (unsigned pass = 0; pass < RATE_PASSES; pass++)
		for (uint64_t g = 0; g < PAGES; g++) {
			/* The bare run evicts as fifo would, from the same thread. */
			if (bare && (pass || g >= BUDGET))
				assert_int_equal(vmem_pager_evict(bare, (g + PAGES - BUDGET) % PAGES), 0);
			if (differs(base + g * PAGE, g, gen[g]))
				fail_msg("page %llu differs", (unsigned long long)g);
			fill(base + g * PAGE, g, ++gen[g]);
		}
	return now_ns() - t0;
}

static void test_ram_manager_fault_service_rate(void **state)
{
	static uint32_t gen[PAGES];
	struct vmem_ram_manager_config c;
	struct vmem_ram_manager_stats st;
	struct vmem_pager_stats ps;
	struct vmem_pager *bare;
	struct fixture f;
	char err[256];
	uint64_t ns_mgr, ns_bare;
	double rate_mgr, rate_bare;

	(void)state;
	memset(gen, 0, sizeof(gen));
	ram_setup(&f);
	vmem_ram_manager_config_default(&c);
	c.host = "host.mem=8m swap=fifo zswap.percent=0";
	c.scan_ms = 0;               /* faults only: no write-protect faults in the figure */
	if (vmem_ram_manager_create(f.ram, 0, &c, &f.rm, err, sizeof(err)))
		fail_msg("%s", err);
	ns_mgr = sweep(f.base, gen, NULL);
	vmem_ram_manager_stats(f.rm, &st);
	check(&f);
	assert_int_equal(st.pager.faults, st.vm.faults_first + st.vm.faults_swapin);
	assert_true(st.pager.faults >= RATE_PASSES * PAGES - BUDGET);
	rate_mgr = (double)st.pager.faults * 1e9 / (double)ns_mgr;
	assert_int_equal(vmem_ram_manager_destroy(f.rm), 0);
	vmem_guest_ram_destroy(f.ram);

	memset(gen, 0, sizeof(gen));
	ram_setup(&f);
	if (vmem_pager_create(f.ram, 0, NULL, &bare, err, sizeof(err)))
		fail_msg("%s", err);
	ns_bare = sweep(f.base, gen, bare);
	vmem_pager_stats(bare, &ps);
	rate_bare = (double)ps.faults * 1e9 / (double)ns_bare;
	assert_int_equal(vmem_pager_destroy(bare), 0);
	vmem_guest_ram_destroy(f.ram);
	printf("fault service: through the manager %.0f faults/s (%llu faults, %.1f us each in "
	       "the manager), bare pager evicting fifo itself %.0f faults/s: ratio %.2f\n",
	       rate_mgr, (unsigned long long)st.pager.faults,
	       (double)st.fault_ns / (double)st.faults / 1000.0, rate_bare, rate_mgr / rate_bare);
}

/* With the compressed tier on, the manager sends pages of class <= zswap.max_class to it
 * (its frames count against host.mem, so fewer pages stay resident) and the rest to the
 * swap device; both are evictions of the real page. */
static void test_ram_manager_clock_with_compressed_tier(void **state)
{
	(void)state;
	run_policy("clock", "zswap.percent=20 content.class=3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_manager_bad_configs_rejected_with_a_message),
		cmocka_unit_test(test_ram_manager_takes_resident_pages_into_the_budget),
		cmocka_unit_test(test_ram_manager_fault_service_rate),
		cmocka_unit_test(test_ram_manager_fifo_keeps_budget_and_bytes),
		cmocka_unit_test(test_ram_manager_clock_keeps_budget_and_bytes),
		cmocka_unit_test(test_ram_manager_random_keeps_budget_and_bytes),
		cmocka_unit_test(test_ram_manager_ws_keeps_budget_and_bytes),
		cmocka_unit_test(test_ram_manager_lru_keeps_budget_and_bytes),
		cmocka_unit_test(test_ram_manager_clock_with_compressed_tier),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
