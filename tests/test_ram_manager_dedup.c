/*
 * The manager's dedup policy on real guest RAM (libvmem/backend/ram_manager_dedup.c and
 * the pager's merged pages, libvmem/backend/pager_merge.c): the ksm policy object that
 * merges simulated frames in vmem-host decides, the pager maps real pages from its store.
 *
 * Facts the expected values rest on:
 *  - The region has 4096 pages (16 MiB). A page's content is pattern(class, gen): 512
 *    words mixing class, generation and word index, never zero, so pages of one class
 *    and generation hold the same bytes and any two others differ in every word.
 *  - ksm merges a page whose checksum was the same at its previous look: a page written
 *    once is merged in its second full scan. N pages of K contents end as K KSM pages
 *    (pages_shared = K) and N - K further mappings (pages_sharing = N - K), every one of
 *    them shared in the books, and the pager maps all N from K store pages.
 *  - A merged page maps its store page (a page-cache page of the pager's memfd) once
 *    touched: smaps counts it in Rss but not in Anonymous, and Pss divides each store
 *    page among its mappers, so K store pages mapped by N pages give Pss = 4 kB * K in
 *    all. smaps prints Pss per VMA in whole kB (0 for 4 pages of 4 store pages with 256
 *    mappers each), so what is checked is Rss = Shared (every page maps a page other
 *    pages map too; the store page is dirty shmem: Shared_Dirty), Anonymous = 0, and the
 *    memfd's allocated blocks: K pages. The process total Pss (smaps_rollup, summed
 *    before rounding) is printed: it falls by about 4 kB * (N - K), plus or minus what
 *    the rest of the process allocated meanwhile (too noisy under ASan to assert).
 *    mincore says resident for a page whose store page is in memory.
 *  - A write to a merged page makes the kernel copy its store page into an anonymous
 *    page: Anonymous grows by 4 kB, the other mappers of the content keep the store page.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/guest_ram.h"
#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "vmem/pager.h"
#include "vmem/ram_dedup.h"
#include "vmem/ram_manager.h"
#include "base/rng.h"

#define PAGE 4096u
#define PAGES 4096u                  /* 16 MiB region */

static uint64_t word(uint64_t cls, uint64_t gen, unsigned k)
{
	return rng_mix64((cls << 32) ^ (gen << 12) ^ k) | 1;
}

static void fill(void *page, uint64_t cls, uint64_t gen)
{
	uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		w[k] = word(cls, gen, k);
}

/* 0 if page holds pattern(cls, gen), else 1 + the first differing word. */
static unsigned differs(const void *page, uint64_t cls, uint64_t gen)
{
	const uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k] != word(cls, gen, k))
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

static void bind(struct fixture *f, const char *host, unsigned scan_ms)
{
	struct vmem_ram_manager_config c;
	char err[256];

	vmem_ram_manager_config_default(&c);
	c.host = host;
	c.scan_ms = scan_ms;
	if (vmem_ram_manager_create(f->ram, 0, &c, &f->rm, err, sizeof(err)))
		fail_msg("vmem_ram_manager_create(%s): %s", host, err);
}

static void check(struct fixture *f)
{
	char err[256];

	if (vmem_ram_manager_check(f->rm, err, sizeof(err)))
		fail_msg("vmem_ram_manager_check: %s", err);
}

static double ksm_stat(struct fixture *f, const char *name)
{
	double v = -1;

	assert_int_equal(vmem_host_dedup_stat(vmem_ram_manager_host(f->rm), name, &v), 0);
	return v;
}

static uint64_t mincore_resident(const char *addr, uint64_t pages)
{
	unsigned char *vec = malloc(pages);
	uint64_t n = 0;

	assert_non_null(vec);
	assert_int_equal(mincore((void *)addr, pages * PAGE, vec), 0);
	for (uint64_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

/* Bytes the pager's store holds in memory (its memfd's allocated blocks). */
static uint64_t store_bytes(struct fixture *f)
{
	struct stat sb;

	assert_int_equal(fstat(vmem_pager_store_fd(vmem_ram_manager_pager(f->rm)), &sb), 0);
	return (uint64_t)sb.st_blocks * 512;
}

/* The process's Pss (kB), summed by the kernel before rounding (smaps_rollup). */
static uint64_t rollup_pss_kb(void)
{
	FILE *fp = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned long kb = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "Pss: %lu kB", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

/* Ticks (a scan each) until the pager has `merged` pages merged; fails after 20 s. */
static void tick_until_merged(struct fixture *f, uint64_t merged)
{
	struct vmem_ram_manager_stats s;
	uint64_t t0 = now_ms();

	for (;;) {
		usleep(2000);
		vmem_ram_manager_tick(f->rm, true);
		vmem_ram_manager_stats(f->rm, &s);
		if (s.pager.merged_now == merged)
			return;
		if (now_ms() - t0 > 20000)
			fail_msg("after 20 s %llu pages merged, expected %llu (merges %llu, refused "
				 "%llu, hashed %llu, errors %llu)",
				 (unsigned long long)s.pager.merged_now, (unsigned long long)merged,
				 (unsigned long long)s.dedup_merges,
				 (unsigned long long)s.dedup_merges_refused,
				 (unsigned long long)s.dedup_hashed,
				 (unsigned long long)s.dedup_errors);
	}
}

/* ---- configuration ---- */

static void expect_refused(struct fixture *f, const char *host, unsigned scan_ms,
			   const char *words)
{
	struct vmem_ram_manager_config c;
	struct vmem_ram_manager *rm = (void *)1;
	char err[256] = "";

	vmem_ram_manager_config_default(&c);
	c.host = host;
	c.scan_ms = scan_ms;
	assert_int_equal(vmem_ram_manager_create(f->ram, 0, &c, &rm, err, sizeof(err)),
			 VMEM_EINVAL);
	assert_null(rm);
	if (!strstr(err, words))
		fail_msg("'%s': message '%s' lacks '%s'", host, err, words);
}

static void test_ram_manager_dedup_bad_configs_rejected_with_a_message(void **state)
{
	struct fixture f;

	(void)state;
	ram_setup(&f);
	expect_refused(&f, "host.mem=8m swap=clock dedup=ksm:use_zero_pages=1", 20,
		       "use_zero_pages must be 0");
	expect_refused(&f, "host.mem=8m swap=clock dedup=ksm", 0, "needs scan_ms > 0");
	expect_refused(&f, "host.mem=8m swap=clock dedup=ksm:nosuch=1", 20, "nosuch");
	expect_refused(&f, "host.mem=8m swap=clock dedup=ksm:pages_to_scan=many", 20,
		       "pages_to_scan");
	expect_refused(&f, "host.mem=8m swap=clock dedup=nosuch", 20,
		       "no dedup policy named 'nosuch'");
	vmem_guest_ram_destroy(f.ram);
}

/* ---- merging, a write, an eviction: one step at a time ---- */

/*
 * 1024 pages of 4 contents (page p: class p % 4), ksm with pages_to_scan=4096: every
 * page is merged into 4 store pages. Expected: pages_shared 4, pages_sharing 1020, 1024
 * pages shared in the books on 4 shared frames and no private frame; smaps of the region
 * after every page is read: Rss 4096 kB, Anonymous 0, Pss 16 kB (within 1 kB); mincore
 * 1024 resident. A write to page 5 (class 1) at the next scan: page 5 resident in the
 * books (1023 shared, still 4 frames shared: 255 mappers left on class 1's), one copy-on-
 * write break, Anonymous 4 kB; pages 1, 9, 13 (class 1) unchanged. Then 2048 fresh pages
 * of unique contents (classes 100..2147) under host.mem=8m (2048 frames) with fifo:
 * page 5, the oldest private frame, is the first victim; reading it back serves the
 * written content from the pager's copy.
 */
static void test_ram_manager_dedup_merges_share_memory_and_writes_break_one_page(void **state)
{
	struct vmem_ram_manager_stats s;
	struct vmem_ram_manager_page pg;
	struct vmem_ram_smaps sm;
	struct fixture f;
	uint64_t *w5, pss_before;
	volatile uint64_t sink = 0;

	(void)state;
	ram_setup(&f);
	bind(&f, "host.mem=8m swap=fifo zswap.percent=0 "
	     "dedup=ksm:pages_to_scan=4096:sleep_millisecs=1:smart_scan=0", 20);
	vmem_ram_manager_stop_thread(f.rm);  /* the test ticks itself */
	for (uint64_t p = 0; p < 1024; p++)
		fill(f.base + p * PAGE, p % 4, 1);
	pss_before = rollup_pss_kb();
	tick_until_merged(&f, 1024);

	for (uint64_t p = 0; p < 1024; p++)  /* every PTE mapped, every byte checked */
		if (differs(f.base + p * PAGE, p % 4, 1))
			fail_msg("page %llu differs after its merge", (unsigned long long)p);
	assert_int_equal(vmem_ram_smaps(f.base, (uint64_t)PAGES * PAGE, &sm), 0);
	printf("merged 1024 pages of 4 contents: smaps Rss %llu kB, Shared %llu kB, "
	       "Anonymous %llu kB, %llu VMAs; mincore %llu; store %llu bytes; process Pss %llu "
	       "-> %llu kB\n", (unsigned long long)sm.rss_kb,
	       (unsigned long long)(sm.shared_clean_kb + sm.shared_dirty_kb),
	       (unsigned long long)sm.anonymous_kb,
	       (unsigned long long)sm.vmas, (unsigned long long)mincore_resident(f.base, PAGES),
	       (unsigned long long)store_bytes(&f), (unsigned long long)pss_before,
	       (unsigned long long)rollup_pss_kb());
	assert_int_equal(sm.rss_kb, 4096);
	assert_int_equal(sm.anonymous_kb, 0);
	assert_int_equal(sm.shared_clean_kb + sm.shared_dirty_kb, 4096);
	assert_int_equal(sm.private_clean_kb + sm.private_dirty_kb, 0);
	assert_int_equal(mincore_resident(f.base, PAGES), 1024);
	assert_int_equal(store_bytes(&f), 4 * PAGE);
	vmem_ram_manager_stats(f.rm, &s);
	assert_int_equal(s.vm.state[VMEM_PG_SHARED], 1024);
	assert_int_equal(s.vm.state[VMEM_PG_RESIDENT], 0);
	assert_int_equal(s.host.frames_shared, 4);
	assert_int_equal(s.host.frames_private, 0);
	assert_int_equal(s.pager.store_pages, 4);
	assert_int_equal(s.dedup_merges, 1024);
	printf("merge cost: %.1f us a page (1024 pages: write-protect, compare, mmap, register; "
	       "the first of each content also hashed and written to the store)\n",
	       (double)s.dedup_merge_ns / 1024 / 1000);
	assert_int_equal(s.dedup_errors, 0);
	assert_int_equal(ksm_stat(&f, "pages_shared"), 4);
	assert_int_equal(ksm_stat(&f, "pages_sharing"), 1020);
	check(&f);

	/* A write to page 5: the kernel copies its store page, the next scan books it. */
	w5 = (uint64_t *)(f.base + 5 * PAGE);
	w5[7] = 0x5eed;
	vmem_ram_manager_tick(f.rm, true);
	vmem_ram_manager_stats(f.rm, &s);
	assert_int_equal(s.dedup_cow_breaks, 1);
	assert_int_equal(s.vm.state[VMEM_PG_SHARED], 1023);
	assert_int_equal(s.vm.state[VMEM_PG_RESIDENT], 1);
	assert_int_equal(s.host.frames_shared, 4);
	assert_int_equal(s.pager.merged_now, 1023);
	assert_int_equal(vmem_ram_manager_page(f.rm, 5, &pg), 0);
	assert_int_equal(pg.state, VMEM_PG_RESIDENT);
	assert_int_equal(vmem_ram_manager_page(f.rm, 9, &pg), 0);
	assert_int_equal(pg.state, VMEM_PG_SHARED);
	assert_int_equal(vmem_ram_smaps(f.base, (uint64_t)PAGES * PAGE, &sm), 0);
	assert_int_equal(sm.anonymous_kb, 4);
	assert_int_equal(differs(w5, 1, 1), 8);
	assert_int_equal(differs(f.base + 1 * PAGE, 1, 1), 0);
	assert_int_equal(differs(f.base + 9 * PAGE, 1, 1), 0);
	assert_int_equal(differs(f.base + 13 * PAGE, 1, 1), 0);
	check(&f);

	/* Pressure: page 5 leaves first (fifo), its VMA of its own served back. */
	for (uint64_t p = 2048; p < PAGES; p++) {
		fill(f.base + p * PAGE, 100 + p - 2048, 1);
		if (p % 256 == 0)
			vmem_ram_manager_tick(f.rm, false);
	}
	assert_int_equal(vmem_ram_manager_page(f.rm, 5, &pg), 0);
	assert_int_equal(pg.state, VMEM_PG_SWAPPED);
	assert_int_equal(pg.swap_outs, 1);
	assert_int_equal(vmem_pager_page_state(vmem_ram_manager_pager(f.rm), 5),
			 VMEM_PAGER_COMPRESSED);
	check(&f);
	sink += w5[7];                       /* a fault served from the pager's copy */
	assert_int_equal(sink, 0x5eed);
	assert_int_equal(differs(w5, 1, 1), 8);
	w5[7] = word(1, 1, 7);
	assert_int_equal(differs(w5, 1, 1), 0);
	assert_int_equal(vmem_ram_manager_page(f.rm, 5, &pg), 0);
	assert_int_equal(pg.swap_ins, 1);
	check(&f);

	/* Every byte, now and after destroy (which gives merged pages their own pages). */
	for (uint64_t p = 0; p < 1024; p++)
		assert_int_equal(differs(f.base + p * PAGE, p % 4, 1), 0);
	for (uint64_t p = 2048; p < PAGES; p++)
		assert_int_equal(differs(f.base + p * PAGE, 100 + p - 2048, 1), 0);
	assert_int_equal(vmem_ram_manager_destroy(f.rm), 0);
	for (uint64_t p = 0; p < 1024; p++)
		assert_int_equal(differs(f.base + p * PAGE, p % 4, 1), 0);
	for (uint64_t p = 2048; p < PAGES; p++)
		assert_int_equal(differs(f.base + p * PAGE, 100 + p - 2048, 1), 0);
	assert_int_equal(vmem_ram_smaps(f.base, (uint64_t)PAGES * PAGE, &sm), 0);
	assert_int_equal(sm.anonymous_kb, (1024 + 2048) * 4);
	vmem_guest_ram_destroy(f.ram);
}

/* ---- a merge the contents refuse ---- */

/* Sleeps until `ms` milliseconds after t0. */
static void sleep_until(uint64_t t0, uint64_t ms)
{
	while (now_ms() < t0 + ms)
		usleep(1000);
}

/*
 * 8 pages of one content (class 3), ksm with sleep_millisecs=300: its batches fall at
 * 300 ms and 600 ms after the binding is made (its clock is real time). The first scans
 * hash the 8 pages (8 hashes: each page once); ksm's first batch records their checksums (nothing merges: a page
 * needs the same checksum twice). Then the guest writes page 6, and no scan runs before
 * ksm's second batch, which therefore merges page 6 on its stale hash. The pager's full
 * compare refuses it and the binding books the write: page 6 resident with its new word,
 * the 7 others shared on one store page (pages_shared 1, pages_sharing 6),
 * dedup_merges_refused 1.
 */
static void test_ram_manager_dedup_stale_hash_merge_refused_and_booked_written(void **state)
{
	struct vmem_ram_manager_stats s;
	struct vmem_ram_manager_page pg;
	struct fixture f;
	uint64_t t0;

	(void)state;
	ram_setup(&f);
	t0 = now_ms();
	bind(&f, "host.mem=8m swap=clock "
	     "dedup=ksm:pages_to_scan=4096:sleep_millisecs=300:smart_scan=0", 20);
	vmem_ram_manager_stop_thread(f.rm);
	for (uint64_t p = 0; p < 8; p++)
		fill(f.base + p * PAGE, 3, 1);
	/* A page whose fault the handler is still finishing is hashed at the next scan. */
	for (int tries = 0; tries < 20; tries++) {
		vmem_ram_manager_tick(f.rm, true);
		vmem_ram_manager_stats(f.rm, &s);
		if (s.dedup_hashed == 8)
			break;
		usleep(2000);
	}
	sleep_until(t0, 400);
	vmem_ram_manager_tick(f.rm, false);
	vmem_ram_manager_stats(f.rm, &s);
	if (now_ms() >= t0 + 600 || s.pager.merged_now)
		fail_msg("the machine was too slow to place a write between ksm's batches "
			 "(%llu ms, %llu merged)", (unsigned long long)(now_ms() - t0),
			 (unsigned long long)s.pager.merged_now);
	assert_int_equal(s.dedup_hashed, 8);
	((uint64_t *)(f.base + 6 * PAGE))[0] = 0x66;
	sleep_until(t0, 700);
	vmem_ram_manager_tick(f.rm, false);
	vmem_ram_manager_stats(f.rm, &s);
	assert_int_equal(s.dedup_merges_refused, 1);
	assert_int_equal(s.dedup_merges, 7);
	assert_int_equal(s.vm.state[VMEM_PG_SHARED], 7);
	assert_int_equal(s.vm.state[VMEM_PG_RESIDENT], 1);
	assert_int_equal(s.pager.store_pages, 1);
	assert_int_equal(s.pager.merged_now, 7);
	assert_int_equal(ksm_stat(&f, "pages_shared"), 1);
	assert_int_equal(ksm_stat(&f, "pages_sharing"), 6);
	assert_int_equal(vmem_ram_manager_page(f.rm, 6, &pg), 0);
	assert_int_equal(pg.state, VMEM_PG_RESIDENT);
	assert_int_equal(vmem_pager_page_state(vmem_ram_manager_pager(f.rm), 6),
			 VMEM_PAGER_RESIDENT);
	check(&f);
	assert_int_equal(differs(f.base + 6 * PAGE, 3, 1), 1);
	assert_int_equal(((uint64_t *)(f.base + 6 * PAGE))[0], 0x66);
	for (uint64_t p = 0; p < 8; p++)
		if (p != 6)
			assert_int_equal(differs(f.base + p * PAGE, 3, 1), 0);
	assert_int_equal(vmem_ram_manager_destroy(f.rm), 0);
	vmem_guest_ram_destroy(f.ram);
}

/* ---- under writers, with evictions ---- */

#define WRITERS 2
#define SPAN 3072u                   /* pages in use: 12 MiB under host.mem=3m */
#define CLASSES 1024u

struct writer {
	struct fixture *f;
	unsigned id;
	uint32_t gen[SPAN];              /* per page it owns (page % WRITERS == id) */
	uint64_t rounds, writes, reads;
	uint64_t bad_page;               /* UINT64_MAX: none */
	unsigned bad_word;
	atomic_bool *stop;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	uint64_t x = 0x9e3779b97f4a7c15ull * (w->id + 1);

	while (!atomic_load(w->stop)) {
		for (unsigned k = 0; k < 400; k++) {
			uint64_t p;
			unsigned d;

			x = rng_mix64(x);
			p = (x >> 8) % (SPAN / WRITERS) * WRITERS + w->id;
			d = differs(w->f->base + p * PAGE, p % CLASSES, w->gen[p]);
			w->reads++;
			if (d) {
				w->bad_page = p;
				w->bad_word = d - 1;
				return NULL;
			}
			/* One access in eight writes the next generation: the page leaves its
			 * sharing, and may join the pages of its class at that generation. */
			if ((x & 7) == 0 && w->gen[p] < 4) {
				fill(w->f->base + p * PAGE, p % CLASSES, ++w->gen[p]);
				w->writes++;
			}
		}
		w->rounds++;
		usleep(500);
	}
	return NULL;
}

/*
 * Two writers own the even and odd pages of 3072 (12 MiB) under host.mem=3m (768
 * frames) with clock, the reclaim thread and scans running (2 ms, 10 ms), ksm with
 * pages_to_scan=2000 every 5 ms. Every page starts as pattern(p % 1024, 1): 1024
 * contents, 3 pages each, so even fully merged they need more frames than the budget:
 * evictions are certain.
 * Each writer reads random pages of its own, checks every word against the generation
 * it wrote last, and writes the next generation of one in eight (up to 4). A monitor
 * checks the books against memory every 10 ms. Expected: no check fails, no word
 * differs; merges, copy-on-write breaks and evictions all happened; at the end every
 * page holds its last generation (before and after destroy) and the merged pages share:
 * Anonymous (kB) = 4 * (pages resident in the books), as merged pages have no anonymous
 * page and evicted ones no page at all.
 */
static void test_ram_manager_dedup_under_writers_every_byte_kept(void **state)
{
	static struct writer w[WRITERS];
	struct vmem_ram_manager_stats s;
	struct vmem_ram_smaps sm;
	pthread_t t[WRITERS];
	atomic_bool stop = false;
	struct fixture f;
	uint64_t t0, checks = 0;
	char err[256];
#if defined(__SANITIZE_ADDRESS__)
	const uint64_t run_ms = 2500;
#else
	const uint64_t run_ms = 4000;
#endif

	(void)state;
	ram_setup(&f);
	bind(&f, "host.mem=3m swap=clock dedup=ksm:pages_to_scan=2000:sleep_millisecs=5", 10);
	for (uint64_t p = 0; p < SPAN; p++)
		fill(f.base + p * PAGE, p % CLASSES, 1);
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .f = &f, .id = i, .bad_page = UINT64_MAX, .stop = &stop };
		for (unsigned p = 0; p < SPAN; p++)
			w[i].gen[p] = 1;
		assert_int_equal(pthread_create(&t[i], NULL, writer_run, &w[i]), 0);
	}
	t0 = now_ms();
	while (now_ms() - t0 < run_ms) {
		usleep(10000);
		if (vmem_ram_manager_check(f.rm, err, sizeof(err))) {
			atomic_store(&stop, true);
			for (unsigned i = 0; i < WRITERS; i++)
				pthread_join(t[i], NULL);
			fail_msg("check %llu: %s", (unsigned long long)checks, err);
		}
		checks++;
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < WRITERS; i++)
		if (w[i].bad_page != UINT64_MAX)
			fail_msg("writer %u: page %llu word %u differs from generation %u", i,
				 (unsigned long long)w[i].bad_page, w[i].bad_word,
				 w[i].gen[w[i].bad_page]);
	vmem_ram_manager_stop_thread(f.rm);
	vmem_ram_manager_tick(f.rm, true);   /* books the last writes to merged pages */
	check(&f);
	vmem_ram_manager_stats(f.rm, &s);
	assert_int_equal(vmem_ram_smaps(f.base, (uint64_t)PAGES * PAGE, &sm), 0);
	printf("under writers: %llu+%llu reads, %llu+%llu writes, %llu checks; merges %llu "
	       "(refused %llu), cow breaks %llu, hashed %llu, evictions %llu, faults %llu; now "
	       "%llu shared on %llu frames, %llu resident, %llu out; smaps Rss %llu kB, Pss %llu "
	       "kB, Anonymous %llu kB, %llu VMAs\n",
	       (unsigned long long)w[0].reads, (unsigned long long)w[1].reads,
	       (unsigned long long)w[0].writes, (unsigned long long)w[1].writes,
	       (unsigned long long)checks, (unsigned long long)s.dedup_merges,
	       (unsigned long long)s.dedup_merges_refused, (unsigned long long)s.dedup_cow_breaks,
	       (unsigned long long)s.dedup_hashed, (unsigned long long)s.pager.evictions,
	       (unsigned long long)s.pager.faults,
	       (unsigned long long)s.vm.state[VMEM_PG_SHARED],
	       (unsigned long long)s.host.frames_shared,
	       (unsigned long long)s.vm.state[VMEM_PG_RESIDENT],
	       (unsigned long long)(s.vm.state[VMEM_PG_SWAPPED] + s.vm.state[VMEM_PG_COMPRESSED]),
	       (unsigned long long)sm.rss_kb, (unsigned long long)sm.pss_kb,
	       (unsigned long long)sm.anonymous_kb, (unsigned long long)sm.vmas);
	assert_true(s.dedup_merges > 0);
	assert_true(s.dedup_cow_breaks > 0);
	assert_true(s.pager.evictions > 0);
	assert_int_equal(s.dedup_errors, 0);
	assert_int_equal(s.pager.merged_now, s.vm.state[VMEM_PG_SHARED]);
	assert_int_equal(s.pager.store_pages, s.host.frames_shared);
	assert_true(s.host.frames_private + s.host.frames_shared <= 768);
	assert_int_equal(sm.anonymous_kb, 4 * s.vm.state[VMEM_PG_RESIDENT]);
	for (unsigned i = 0; i < WRITERS; i++)
		for (uint64_t p = i; p < SPAN; p += WRITERS)
			if (differs(f.base + p * PAGE, p % CLASSES, w[i].gen[p]))
				fail_msg("page %llu: not generation %u at the end",
					 (unsigned long long)p, w[i].gen[p]);
	assert_int_equal(vmem_ram_manager_destroy(f.rm), 0);
	for (unsigned i = 0; i < WRITERS; i++)
		for (uint64_t p = i; p < SPAN; p += WRITERS)
			if (differs(f.base + p * PAGE, p % CLASSES, w[i].gen[p]))
				fail_msg("page %llu: not generation %u after destroy",
					 (unsigned long long)p, w[i].gen[p]);
	vmem_guest_ram_destroy(f.ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_manager_dedup_bad_configs_rejected_with_a_message),
		cmocka_unit_test(test_ram_manager_dedup_merges_share_memory_and_writes_break_one_page),
		cmocka_unit_test(test_ram_manager_dedup_stale_hash_merge_refused_and_booked_written),
		cmocka_unit_test(test_ram_manager_dedup_under_writers_every_byte_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
