/*
 * Same-page deduplication of real guest RAM (libvmem/backend/ram_dedup.c, ram_ksm.c), with
 * plain threads standing in for vCPUs.
 *
 * The workload (layout()): a region of 256 pages,
 *   - pages 0..127: 8 groups of 16 identical pages, page p in group p % 8 (so no two
 *     neighbours share a content);
 *   - pages 128..191: 64 pages of unique content;
 *   - pages 192..223: 32 pages written with zeros (present, anonymous, all zero);
 *   - pages 224..255: never touched (no page at all).
 * Contents are pattern(key): 512 words mixed from the key, never zero, so any byte that is
 * lost or comes from another page shows.
 *
 * Expected after two full scans (the first records each page's hash; a page merges when
 * its hash is unchanged at the next look, as in KSM):
 *   pages_shared = 8 (one store page per group), pages_sharing = 8 * 15 = 120,
 *   pages_merged = 128, ksm_zero_pages = 32, pages_unshared = 64 (the unique pages wait in
 *   the unstable index), pages_volatile = 0.
 *   VMAs added (the scanner's bound; merges are carried out by runs of consecutive pages
 *   onto consecutive store pages, one mmap a run, at the end of each pass of 64 pages): in
 *   full scan 2, pass 1 (pages 0..63): pages 0..7 enter the unstable index; page 8 pairs
 *   with page 0 into new slot 0: page 0 splits off the region's start (+1), page 8 the
 *   middle (+2); pages 9..15 pair with 1..7 into slots 1..7 and extend both runs (+0);
 *   pages 16, 24, ..., 56 each start a run onto slots 0..7 whose left neighbour is in a
 *   pending run and whose right is anonymous (+1 each, 6), the 7 pages after each extend
 *   it (+0): 9. Pass 2 (64..127): the same, 8 runs of +1 (the left neighbour is merged
 *   or pending): 8. Total 17 (the kernel's count is 16: the estimate errs high by page 8's
 *   left neighbour, merged after it). The kernel merges a store mapping with its left
 *   neighbour only when the store offsets run on: pages 0..7 map store pages 0..7 (slot s
 *   is made for group s) and so do 8..15, 16..23, ...: 16 file VMAs of 8 pages, plus the
 *   anonymous rest (128..255, zero-merged pages merged back into it): 17 VMAs.
 *   smaps over the region, every page read once (so that every mapping is present):
 *     before: Anonymous = Rss = Pss = 224 pages = 896 kB;
 *     after:  Anonymous = 64 unique pages = 256 kB; the zero page counts nowhere; each group
 *             page maps the group's store page: Rss = 256 + 512 = 768 kB, Shared_Dirty =
 *             512 kB (a shmem page written by pwrite stays dirty: there is no file to
 *             clean it to), Pss = 256 + 8 * 4 = 288 kB;
 *     saved:  Pss drops by 608 kB = (120 + 32) pages, which is pages_sharing +
 *             ksm_zero_pages; the store holds 8 pages (32 kB) of memfd memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/guest_ram.h"
#include "vmem/pager.h"
#include "vmem/ram_dedup.h"
#include "base/rng.h"

#define PAGE 4096u
#define PAGES 256u
#define GROUPS 8u
#define GROUP_PAGES 128u
#define UNIQUE_END 192u
#define ZERO_END 224u

/* A page pattern word: the splitmix64 finaliser, never zero. */
static uint64_t mix(uint64_t x)
{
	return rng_mix64(x) | 1;
}

static void fill(void *page, uint64_t key)
{
	uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		w[k] = mix((key << 12) ^ k);
}

/* 0 if page holds pattern(key), else 1 + the first differing word. */
static unsigned differs(const void *page, uint64_t key)
{
	const uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k] != mix((key << 12) ^ k))
			return k + 1;
	return 0;
}

static bool all_zero(const void *page)
{
	const uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k])
			return false;
	return true;
}

/* The key of page p in the workload: group g, or 1000 + p for a unique page. */
static uint64_t key_of(unsigned p)
{
	return p < GROUP_PAGES ? p % GROUPS : 1000 + p;
}

struct fixture {
	struct vmem_guest_ram *ram;
	struct vmem_ram_dedup *d;
	char *base;
};

static void make_region(struct fixture *f, uint64_t pages)
{
	struct vmem_ram_region_config rc;
	struct vmem_ram_region r;
	char err[256];

	memset(f, 0, sizeof(*f));
	assert_int_equal(vmem_guest_ram_create(&f->ram), 0);
	vmem_ram_region_config_default(&rc);
	rc.gpa = 1ull << 30;
	rc.size = pages * PAGE;
	if (vmem_guest_ram_add(f->ram, &rc, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_guest_ram_region(f->ram, 0, &r), 0);
	f->base = r.hva;
}

static void layout(char *base)
{
	for (unsigned p = 0; p < ZERO_END; p++) {
		if (p < UNIQUE_END)
			fill(base + (size_t)p * PAGE, key_of(p));
		else
			memset(base + (size_t)p * PAGE, 0, PAGE);
	}
}

/* Every page holds what layout() wrote (read, so that every mapping is present). */
static void check_layout(const char *base)
{
	for (unsigned p = 0; p < PAGES; p++) {
		const char *pg = base + (size_t)p * PAGE;

		if (p < UNIQUE_END) {
			unsigned w = differs(pg, key_of(p));
			if (w)
				fail_msg("page %u: word %u differs from pattern(%llu)", p, w - 1,
					 (unsigned long long)key_of(p));
		} else if (!all_zero(pg)) {
			fail_msg("page %u is not all zero", p);
		}
	}
}

static struct vmem_ram_dedup_stats stats(struct fixture *f)
{
	struct vmem_ram_dedup_stats s;

	vmem_ram_dedup_stats(f->d, &s);
	return s;
}

static void start_scanner(struct fixture *f, uint32_t pages_to_scan)
{
	struct vmem_ram_dedup_config c;
	char err[256];

	vmem_ram_dedup_config_default(&c);
	c.pages_to_scan = pages_to_scan;
	c.sleep_millisecs = 1;
	if (vmem_ram_dedup_create(f->ram, 0, &c, &f->d, err, sizeof(err)))
		fail_msg("vmem_ram_dedup_create: %s", err);
}

/* Passes until `scans` more full scans are done. */
static void full_scans(struct fixture *f, uint64_t scans)
{
	uint64_t until = stats(f).full_scans + scans;

	while (stats(f).full_scans < until)
		assert_true(vmem_ram_dedup_scan(f->d, 0) > 0);
}

static void teardown(struct fixture *f)
{
	assert_int_equal(vmem_ram_dedup_destroy(f->d), 0);
	vmem_guest_ram_destroy(f->ram);
}

static struct vmem_ram_smaps smaps(const struct fixture *f)
{
	struct vmem_ram_smaps s;

	assert_int_equal(vmem_ram_smaps(f->base, (uint64_t)PAGES * PAGE, &s), 0);
	return s;
}

static void test_dedup_groups_zero_unique_merge_to_hand_derived_counts(void **state)
{
	struct fixture f;
	struct vmem_ram_dedup_stats s;
	struct vmem_ram_smaps before, after;

	(void)state;
	make_region(&f, PAGES);
	layout(f.base);
	start_scanner(&f, 64);
	before = smaps(&f);
	assert_int_equal(before.anonymous_kb, 896);
	assert_int_equal(before.pss_kb, 896);
	assert_int_equal(before.vmas, 1);

	full_scans(&f, 1);                   /* hashes recorded, nothing merged yet */
	s = stats(&f);
	assert_int_equal(s.pages_scanned, 224);
	assert_int_equal(s.pages_volatile, 224);
	assert_int_equal(s.pages_sharing + s.pages_shared + s.ksm_zero_pages, 0);

	full_scans(&f, 1);
	s = stats(&f);
	assert_int_equal(s.full_scans, 2);
	assert_int_equal(s.pages_shared, 8);
	assert_int_equal(s.pages_sharing, 120);
	assert_int_equal(s.pages_merged, 128);
	assert_int_equal(s.ksm_zero_pages, 32);
	assert_int_equal(s.zero_pages_merged, 32);
	assert_int_equal(s.pages_unshared, 64);
	assert_int_equal(s.pages_volatile, 0);
	assert_int_equal(s.store_pages, 8);
	assert_int_equal(s.vmas_added, 17);
	assert_int_equal(s.remaps, 17);      /* 16 runs of 8 group pages, 1 of 32 zero pages */
	assert_int_equal(s.merge_races + s.errors + s.vma_limit_hits + s.cow_breaks, 0);
	for (unsigned p = 0; p < PAGES; p++)
		assert_int_equal(vmem_ram_dedup_page_state(f.d, p),
				 p < GROUP_PAGES ? VMEM_DEDUP_MERGED :
				 p >= UNIQUE_END && p < ZERO_END ? VMEM_DEDUP_ZERO :
				 VMEM_DEDUP_UNMERGED);

	check_layout(f.base);
	after = smaps(&f);
	print_message("smaps before: Rss %llu Pss %llu Anonymous %llu kB; after: Rss %llu Pss %llu "
		      "Anonymous %llu Shared_Dirty %llu kB, %llu VMAs\n",
		      (unsigned long long)before.rss_kb, (unsigned long long)before.pss_kb,
		      (unsigned long long)before.anonymous_kb, (unsigned long long)after.rss_kb,
		      (unsigned long long)after.pss_kb, (unsigned long long)after.anonymous_kb,
		      (unsigned long long)after.shared_dirty_kb, (unsigned long long)after.vmas);
	assert_int_equal(after.anonymous_kb, 256);
	assert_int_equal(after.rss_kb, 768);
	assert_int_equal(after.shared_dirty_kb, 512);
	assert_int_equal(after.pss_kb, 288);
	assert_int_equal(before.pss_kb - after.pss_kb, (s.pages_sharing + s.ksm_zero_pages) * 4);
	assert_int_equal(after.vmas, 17);

	/* A third full scan changes nothing. */
	full_scans(&f, 1);
	s = stats(&f);
	assert_int_equal(s.pages_sharing, 120);
	assert_int_equal(s.pages_merged, 128);
	assert_int_equal(s.ksm_zero_pages, 32);

	/* Destroy gives every page its own anonymous page again, content kept. */
	assert_int_equal(vmem_ram_dedup_destroy(f.d), 0);
	f.d = NULL;
	check_layout(f.base);
	after = smaps(&f);
	assert_int_equal(after.anonymous_kb, 256 + 128 * 4);   /* zero pages stay the zero page */
	vmem_guest_ram_destroy(f.ram);
}

static void test_dedup_write_breaks_sharing_of_that_page_only(void **state)
{
	struct fixture f;
	struct vmem_ram_dedup_stats s;
	struct vmem_ram_smaps merged, written;

	(void)state;
	make_region(&f, PAGES);
	layout(f.base);
	start_scanner(&f, 100);
	full_scans(&f, 2);
	check_layout(f.base);
	merged = smaps(&f);

	/* Page 8 (group 0, merged) and page 200 (zero-merged) get written. */
	fill(f.base + 8 * PAGE, 777);
	memset(f.base + 200 * PAGE + 64, 0x5a, 8);
	written = smaps(&f);
	/* One private copy each: Anonymous +8 kB; page 8 no longer maps group 0's store page
	 * (Rss -4 + 4, and 15 mappers of it remain shared: Shared_Dirty -4 kB). */
	assert_int_equal(written.anonymous_kb, merged.anonymous_kb + 8);
	assert_int_equal(written.shared_dirty_kb, merged.shared_dirty_kb - 4);
	assert_int_equal(differs(f.base + 8 * PAGE, 777), 0);
	for (unsigned p = 0; p < GROUP_PAGES; p++)
		if (p != 8)
			assert_int_equal(differs(f.base + (size_t)p * PAGE, key_of(p)), 0);
	assert_int_equal((unsigned char)f.base[200 * PAGE + 64], 0x5a);
	assert_true(all_zero(f.base + 201 * PAGE));

	/* The scanner sees both in the page tables at its next look. */
	full_scans(&f, 1);
	s = stats(&f);
	assert_int_equal(s.cow_breaks, 1);
	assert_int_equal(s.zero_cow_breaks, 1);
	assert_int_equal(s.pages_sharing, 119);
	assert_int_equal(s.pages_shared, 8);
	assert_int_equal(s.ksm_zero_pages, 31);
	assert_int_equal(vmem_ram_dedup_page_state(f.d, 8), VMEM_DEDUP_BROKEN);
	assert_int_equal(vmem_ram_dedup_page_state(f.d, 200), VMEM_DEDUP_UNMERGED);

	/* Page 8 written back to group 0's content: the look that found the break recorded
	 * the hash of pattern(777), so the next look finds it changed (volatile) and the one
	 * after merges it into group 0's store page again. */
	fill(f.base + 8 * PAGE, 0);
	full_scans(&f, 1);
	assert_int_equal(stats(&f).pages_sharing, 119);
	full_scans(&f, 1);
	s = stats(&f);
	assert_int_equal(s.pages_sharing, 120);
	assert_int_equal(vmem_ram_dedup_page_state(f.d, 8), VMEM_DEDUP_MERGED);
	assert_int_equal(smaps(&f).anonymous_kb, merged.anonymous_kb + 4);   /* page 200 */
	for (unsigned p = 0; p < UNIQUE_END; p++)
		assert_int_equal(differs(f.base + (size_t)p * PAGE, key_of(p)), 0);
	teardown(&f);
}

/* ---- Writers racing the scanner ---- */

#define RACE_PAGES 256u
#define RACE_KEYS 6u

struct race {
	char *base;
	_Atomic uint32_t *key;               /* each page's last written key */
	unsigned first, last;                /* the writer's pages */
	uint64_t writes, bad;
	_Atomic bool stop;
	unsigned seed;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		unsigned p = r->first + (unsigned)rand_r(&r->seed) % (r->last - r->first);
		uint32_t k = 1 + (uint32_t)rand_r(&r->seed) % RACE_KEYS;
		char *pg = r->base + (size_t)p * PAGE;

		fill(pg, k);
		atomic_store(&r->key[p], k);
		/* Whatever the scanner did meanwhile, the page holds what was just written. */
		if (differs(pg, k))
			r->bad++;
		r->writes++;
	}
	return NULL;
}

static void test_dedup_pages_changing_during_scans_never_merge_wrongly(void **state)
{
	struct fixture f;
	struct race w[2];
	pthread_t t[2];
	_Atomic uint32_t key[RACE_PAGES];
	struct vmem_ram_dedup_stats s;
	struct timespec pause = { 1, 500 * 1000000l };

	(void)state;
	make_region(&f, RACE_PAGES);
	for (unsigned p = 0; p < RACE_PAGES; p++) {
		fill(f.base + (size_t)p * PAGE, 1 + p % RACE_KEYS);
		atomic_init(&key[p], 1 + p % RACE_KEYS);
	}
	start_scanner(&f, 64);
	full_scans(&f, 2);                   /* most pages merged before the writers start */
	assert_true(stats(&f).pages_merged > 200);
	assert_int_equal(vmem_ram_dedup_start(f.d), 0);
	for (unsigned i = 0; i < 2; i++) {
		w[i] = (struct race){ .base = f.base, .key = key, .first = i * RACE_PAGES / 2,
				      .last = (i + 1) * RACE_PAGES / 2, .seed = 17 + i };
		atomic_init(&w[i].stop, false);
		assert_int_equal(pthread_create(&t[i], NULL, race_writer, &w[i]), 0);
	}
	nanosleep(&pause, NULL);
	for (unsigned i = 0; i < 2; i++) {
		atomic_store(&w[i].stop, true);
		pthread_join(t[i], NULL);
	}
	vmem_ram_dedup_stop(f.d);
	s = stats(&f);
	print_message("writers: %llu writes; scanner: %llu full scans, %llu merged, %llu "
		      "copy-on-write breaks, %llu races caught\n",
		      (unsigned long long)(w[0].writes + w[1].writes),
		      (unsigned long long)s.full_scans, (unsigned long long)s.pages_merged,
		      (unsigned long long)s.cow_breaks, (unsigned long long)s.merge_races);
	assert_int_equal(w[0].bad + w[1].bad, 0);
	assert_true(w[0].writes > 1000 && w[1].writes > 1000);
	assert_true(s.cow_breaks > 0);
	assert_int_equal(s.errors, 0);
	/* Quiet now: a few more full scans merge what is left; every page holds its last key. */
	full_scans(&f, 3);
	for (unsigned p = 0; p < RACE_PAGES; p++)
		if (differs(f.base + (size_t)p * PAGE, atomic_load(&key[p])))
			fail_msg("page %u lost its last write (key %u)", p, atomic_load(&key[p]));
	s = stats(&f);
	/* RACE_KEYS contents: every page merged, one store page per content. */
	assert_int_equal(s.pages_shared + s.pages_sharing, RACE_PAGES);
	assert_true(s.pages_shared <= RACE_KEYS);
	teardown(&f);
}

/* ---- Regions the scanner refuses ---- */

static void test_dedup_refuses_pager_memfd_thp_and_bad_config(void **state)
{
	struct fixture f;
	struct vmem_pager *pager;
	struct vmem_ram_dedup *d = NULL;
	struct vmem_ram_dedup_config c;
	struct vmem_ram_region_config rc;
	char err[256];

	(void)state;
	make_region(&f, 64);
	if (vmem_pager_create(f.ram, 0, NULL, &pager, err, sizeof(err)))
		fail_msg("vmem_pager_create: %s", err);
	assert_int_equal(vmem_ram_dedup_create(f.ram, 0, NULL, &d, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "a pager owns it"));
	assert_int_equal(vmem_pager_destroy(pager), 0);
	/* Without the pager the same region is accepted. */
	assert_int_equal(vmem_ram_dedup_create(f.ram, 0, NULL, &d, err, sizeof(err)), 0);
	assert_int_equal(vmem_ram_dedup_destroy(d), 0);

	vmem_ram_dedup_config_default(&c);
	c.pages_to_scan = 0;
	assert_int_equal(vmem_ram_dedup_create(f.ram, 0, &c, &d, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "pages_to_scan"));
	assert_int_equal(vmem_ram_dedup_create(f.ram, 5, NULL, &d, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "no region 5"));

	vmem_ram_region_config_default(&rc);
	rc.gpa = 1ull << 32;
	rc.size = 64 * PAGE;
	rc.backing = VMEM_RAM_MEMFD;
	if (vmem_guest_ram_add(f.ram, &rc, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_ram_dedup_create(f.ram, 1, NULL, &d, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "memfd"));
	rc.gpa = 1ull << 33;
	rc.size = 2u << 20;
	rc.backing = VMEM_RAM_ANON;
	rc.pages = VMEM_RAM_THP;
	if (vmem_guest_ram_add(f.ram, &rc, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_ram_dedup_create(f.ram, 2, NULL, &d, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "THP"));
	vmem_guest_ram_destroy(f.ram);
}

/*
 * Runs. Pages 0..31 hold keys 0..31 and pages 100..131 the same keys in the same order
 * (two guests of one image); the rest is never touched. One pass per full scan. In full
 * scan 2 pages 0..31 enter the unstable index; page 100 pairs with page 0 into new slot 0
 * (page 0: the region's edge on the left, an anonymous page on the right: +1; page 100:
 * +2), and pages 101..131 pair with 1..31 into slots 1..31, extending both runs (+0). So
 * two remaps carry out 64 merges: vmas_added 3, which is exact here: the kernel has the
 * file VMA of pages 0..31, the anonymous 32..99, the file VMA of 100..131 and the
 * anonymous rest, 4 VMAs where there was 1. Each store page is mapped twice: Pss 64 pages
 * x 4 kB / 2 = 128 kB (256 kB before), Anonymous 0.
 */
static void test_dedup_runs_of_neighbours_merge_with_one_mmap_each(void **state)
{
	struct fixture f;
	struct vmem_ram_dedup_stats s;
	struct vmem_ram_dedup_config c;
	struct vmem_ram_smaps sm;
	char err[256];

	(void)state;
	make_region(&f, PAGES);
	for (unsigned p = 0; p < 32; p++) {
		fill(f.base + (size_t)p * PAGE, 7000 + p);
		fill(f.base + (size_t)(100 + p) * PAGE, 7000 + p);
	}
	vmem_ram_dedup_config_default(&c);
	c.pages_to_scan = PAGES;
	if (vmem_ram_dedup_create(f.ram, 0, &c, &f.d, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(smaps(&f).pss_kb, 256);
	full_scans(&f, 2);
	s = stats(&f);
	assert_int_equal(s.pages_merged, 64);
	assert_int_equal(s.pages_shared, 32);
	assert_int_equal(s.pages_sharing, 32);
	assert_int_equal(s.remaps, 2);
	assert_int_equal(s.vmas_added, 3);
	assert_int_equal(s.merge_races + s.errors + s.vma_limit_hits, 0);
	for (unsigned p = 0; p < 32; p++) {
		assert_int_equal(differs(f.base + (size_t)p * PAGE, 7000 + p), 0);
		assert_int_equal(differs(f.base + (size_t)(100 + p) * PAGE, 7000 + p), 0);
	}
	sm = smaps(&f);
	assert_int_equal(sm.vmas, 4);
	assert_int_equal(sm.pss_kb, 128);
	assert_int_equal(sm.anonymous_kb, 0);
	/* A write in the middle of a run copies that page only. */
	f.base[(size_t)110 * PAGE] ^= 1;
	assert_int_equal(differs(f.base + (size_t)10 * PAGE, 7000 + 10), 0);
	assert_int_equal(smaps(&f).anonymous_kb, 4);
	teardown(&f);
}

/*
 * A merge budget of max_vmas = 10, one pass per full scan, at most 8 runs pending (the
 * scanner carries them all out when a ninth starts). In full scan 2 (top comment's count):
 * pair (8, 0) needs 1 + 2 = 3 VMAs, pairs (9, 1) .. (15, 7) extend both runs (0); the runs
 * onto slots 0..7 starting at pages 16, 24, ..., 56 need 1 each: 9, with 8 runs pending.
 * Page 64 starts a run (1: 10): the 8 runs are carried out first; 65..71 extend it. Page
 * 72 would need 1 more (11 > 10): refused, and so is every later group page (73 has two
 * anonymous neighbours now: 2; and so on): pages 72..127, 56 refused. Zero pages cost no
 * VMA: all 32 merge. Merged: pages 0..71 onto slots 0..7, 8 shared and 64 sharing. The
 * kernel has 9 file VMAs (pages 0..7, 8..15, ..., 64..71, each onto store pages 0..7)
 * and the anonymous rest: 10 VMAs in all.
 */
static void test_dedup_vma_bound_refuses_merges_past_it(void **state)
{
	struct fixture f;
	struct vmem_ram_dedup_config c;
	struct vmem_ram_dedup_stats s;
	char err[256];

	(void)state;
	make_region(&f, PAGES);
	layout(f.base);
	vmem_ram_dedup_config_default(&c);
	c.pages_to_scan = PAGES;
	c.max_vmas = 10;
	if (vmem_ram_dedup_create(f.ram, 0, &c, &f.d, err, sizeof(err)))
		fail_msg("%s", err);
	full_scans(&f, 2);
	s = stats(&f);
	assert_int_equal(s.vmas_added, 10);
	assert_int_equal(s.vma_limit_hits, 56);
	assert_int_equal(s.pages_merged, 72);
	assert_int_equal(s.pages_shared, 8);
	assert_int_equal(s.pages_sharing, 64);
	assert_int_equal(s.ksm_zero_pages, 32);
	assert_int_equal(smaps(&f).vmas, 10);
	check_layout(f.base);
	teardown(&f);
}

/* ---- A KVM guest over merged memory ---- */

/*
 * A real-mode guest at guest-physical 0 of a 16-page region registered as a KVM memory slot.
 * Pages 2..9 hold byte 0x5a, pages 10..13 byte 0x3c, pages 0 (code), 1, 14 and 15 other
 * contents. Phase 1 reads page 2 and writes 0x5a (its own value) into page 5, so KVM has
 * used the pages before they are merged; phase 2, after the merge, writes 0x77 into page 5
 * and reads pages 5, 6 and 11 back. Two full scans merge pages 2..9 (one store page, 7
 * sharing) and 10..13 (one, 3 sharing): pages_sharing 10. The guest must see the merged
 * memory through its memory slot and its write must land in a private copy of page 5 only
 * (0x77 read back; page 6 and the host's view of pages 2..9 still 0x5a), which the next
 * full scan counts as a copy-on-write break (pages_sharing 9). kvm_pvm runs real-mode code
 * in KVM's instruction emulator, whose accesses go through the slot's host addresses.
 */
static const uint8_t guest_code[] = {
	0xa0, 0x23, 0x21,                    /* mov al, [0x2123]        page 2 */
	0xe6, 0x10,                          /* out 0x10, al */
	0xc6, 0x06, 0x10, 0x50, 0x5a,        /* mov byte [0x5010], 0x5a page 5, same value */
	0xe6, 0x11,                          /* out 0x11, al            the host merges now */
	0xc6, 0x06, 0x10, 0x50, 0x77,        /* mov byte [0x5010], 0x77 */
	0xa0, 0x10, 0x50,                    /* mov al, [0x5010] */
	0xe6, 0x10,                          /* out 0x10, al */
	0xa0, 0x10, 0x60,                    /* mov al, [0x6010]        page 6 */
	0xe6, 0x10,                          /* out 0x10, al */
	0xa0, 0x10, 0xb0,                    /* mov al, [0xb010]        page 11 */
	0xe6, 0x10,                          /* out 0x10, al */
	0xf4,                                /* hlt */
};

/* Runs the vCPU to its next exit; returns the byte of an `out` (port in *port) or -1 for
 * another exit (its reason in *port). */
static int guest_step(int vcpu, struct kvm_run *run, unsigned *port)
{
	if (ioctl(vcpu, KVM_RUN, 0))
		fail_msg("KVM_RUN: %s", strerror(errno));
	if (run->exit_reason != KVM_EXIT_IO) {
		*port = run->exit_reason;
		return -1;
	}
	*port = run->io.port;
	return *((uint8_t *)run + run->io.data_offset);
}

static void test_dedup_kvm_guest_reads_merged_pages_and_its_write_copies(void **state)
{
	struct fixture f;
	struct vmem_ram_dedup_stats s;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0, .rflags = 2 };
	struct kvm_run *run;
	unsigned port;
	char err[256];
	int kvm, vm, vcpu, mmap_size;

	(void)state;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		print_message("SKIP: test_dedup_kvm_guest_reads_merged_pages_and_its_write_copies: "
			      "no usable /dev/kvm (%s)\n", strerror(errno));
		if (kvm >= 0)
			close(kvm);
		skip();
	}
	memset(&f, 0, sizeof(f));
	assert_int_equal(vmem_guest_ram_create(&f.ram), 0);
	{
		struct vmem_ram_region_config rc;
		struct vmem_ram_region r;

		vmem_ram_region_config_default(&rc);
		rc.gpa = 0;
		rc.size = 16 * PAGE;
		if (vmem_guest_ram_add(f.ram, &rc, NULL, err, sizeof(err)))
			fail_msg("%s", err);
		assert_int_equal(vmem_guest_ram_region(f.ram, 0, &r), 0);
		f.base = r.hva;
	}
	for (unsigned p = 0; p < 16; p++)
		memset(f.base + (size_t)p * PAGE, p >= 2 && p <= 9 ? 0x5a : p >= 10 && p <= 13 ?
		       0x3c : 0x90 + (int)p, PAGE);
	memcpy(f.base, guest_code, sizeof(guest_code));
	if (vmem_guest_ram_kvm_register(f.ram, vm, 0, err, sizeof(err)))
		fail_msg("%s", err);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	assert_true(vcpu >= 0);
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	assert_true(run != MAP_FAILED);
	assert_int_equal(ioctl(vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	assert_int_equal(ioctl(vcpu, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(vcpu, KVM_SET_REGS, &regs), 0);

	/* Phase 1, before merging. */
	assert_int_equal(guest_step(vcpu, run, &port), 0x5a);
	assert_int_equal(port, 0x10);
	guest_step(vcpu, run, &port);
	assert_int_equal(port, 0x11);

	start_scanner(&f, 16);
	full_scans(&f, 2);
	s = stats(&f);
	assert_int_equal(s.pages_shared, 2);
	assert_int_equal(s.pages_sharing, 10);
	assert_int_equal(vmem_ram_dedup_page_state(f.d, 5), VMEM_DEDUP_MERGED);

	/* Phase 2, over merged memory. */
	assert_int_equal(guest_step(vcpu, run, &port), 0x77);   /* its write, read back */
	assert_int_equal(guest_step(vcpu, run, &port), 0x5a);   /* page 6: unchanged */
	assert_int_equal(guest_step(vcpu, run, &port), 0x3c);   /* page 11 */
	assert_int_equal(guest_step(vcpu, run, &port), -1);
	assert_int_equal(port, KVM_EXIT_HLT);
	assert_int_equal((uint8_t)f.base[5 * PAGE + 0x10], 0x77);
	for (unsigned p = 2; p <= 9; p++)
		for (unsigned b = 0; b < PAGE; b++)
			if ((uint8_t)f.base[(size_t)p * PAGE + b] != (p == 5 && b == 0x10 ? 0x77 : 0x5a))
				fail_msg("page %u byte %u: %#x", p, b,
					 (uint8_t)f.base[(size_t)p * PAGE + b]);
	full_scans(&f, 1);
	s = stats(&f);
	assert_int_equal(s.cow_breaks, 1);
	assert_int_equal(s.pages_sharing, 9);
	assert_int_equal(vmem_ram_dedup_page_state(f.d, 5), VMEM_DEDUP_BROKEN);

	munmap(run, (size_t)mmap_size);
	close(vcpu);
	close(vm);
	close(kvm);
	teardown(&f);
}

/* ---- The kernel's KSM on the same workload ---- */

static void test_ksm_merges_the_same_workload(void **state)
{
	struct fixture f;
	struct vmem_ksm *k;
	struct vmem_ksm_config c;
	struct vmem_ksm_process_stat ps;
	int64_t before[3], after[3];
	const char *knobs[3] = { "pages_to_scan", "sleep_millisecs", "use_zero_pages" };
	char err[256];
	int rc;

	(void)state;
	if (vmem_ksm_available(err, sizeof(err))) {
		print_message("SKIP: test_ksm_merges_the_same_workload: no kernel KSM (%s)\n", err);
		skip();
	}
	for (unsigned i = 0; i < 3; i++) {
		char path[96];
		FILE *fp;

		snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", knobs[i]);
		fp = fopen(path, "r");
		assert_non_null(fp);
		assert_int_equal(fscanf(fp, "%lld", (long long *)&before[i]), 1);
		fclose(fp);
	}
	make_region(&f, PAGES);
	layout(f.base);
	assert_int_equal(vmem_ksm_merge_range(f.base, (uint64_t)PAGES * PAGE, true), 0);
	vmem_ksm_config_default(&c);
	c.pages_to_scan = 1000;
	c.sleep_millisecs = 10;
	c.use_zero_pages = 1;
	if (vmem_ksm_open(&c, &k, err, sizeof(err)))
		fail_msg("vmem_ksm_open: %s", err);
	/* 128 group pages map 8 KSM pages; the 32 zero pages go to the zero page. */
	rc = vmem_ksm_wait(128, 32, 60000, &ps);
	print_message("ksm_stat: ksm_rmap_items %llu, ksm_merging_pages %llu, ksm_zero_pages %llu,"
		      " ksm_process_profit %lld\n", (unsigned long long)ps.ksm_rmap_items,
		      (unsigned long long)ps.ksm_merging_pages, (unsigned long long)ps.ksm_zero_pages,
		      (long long)ps.ksm_process_profit);
	assert_int_equal(rc, 0);
	assert_int_equal(ps.ksm_merging_pages, 128);
	assert_int_equal(ps.ksm_zero_pages, 32);
	check_layout(f.base);
	/* A write to a merged page: that page only. */
	fill(f.base + 8 * PAGE, 777);
	assert_int_equal(differs(f.base + 8 * PAGE, 777), 0);
	for (unsigned p = 0; p < GROUP_PAGES; p++)
		if (p != 8)
			assert_int_equal(differs(f.base + (size_t)p * PAGE, key_of(p)), 0);
	assert_int_equal(vmem_ksm_close(k), 0);
	for (unsigned i = 0; i < 3; i++) {
		char path[96];
		FILE *fp;

		snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", knobs[i]);
		fp = fopen(path, "r");
		assert_non_null(fp);
		assert_int_equal(fscanf(fp, "%lld", (long long *)&after[i]), 1);
		fclose(fp);
		assert_int_equal(after[i], before[i]);   /* restored */
	}
	vmem_guest_ram_destroy(f.ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedup_groups_zero_unique_merge_to_hand_derived_counts),
		cmocka_unit_test(test_dedup_write_breaks_sharing_of_that_page_only),
		cmocka_unit_test(test_dedup_pages_changing_during_scans_never_merge_wrongly),
		cmocka_unit_test(test_dedup_refuses_pager_memfd_thp_and_bad_config),
		cmocka_unit_test(test_dedup_runs_of_neighbours_merge_with_one_mmap_each),
		cmocka_unit_test(test_dedup_vma_bound_refuses_merges_past_it),
		cmocka_unit_test(test_dedup_kvm_guest_reads_merged_pages_and_its_write_copies),
		cmocka_unit_test(test_ksm_merges_the_same_workload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
