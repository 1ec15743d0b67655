/*
 * The pager (libvmem/backend/pager.c): evict real guest pages and fault them back through
 * userfaultfd, with plain threads standing in for vCPUs.
 *
 * Facts the expected values rest on:
 *  - A page's content here is pattern(page, version): 512 words, each a mix of the page
 *    number, the version and the word's index, never all zero; so every evicted page keeps
 *    a copy (compressed or in a slot) and any lost, stale or misplaced byte shows.
 *  - A swap file of N * 4096 bytes has N slots: evicting N + k pages of distinct content
 *    fills N slots and refuses k evictions with VMEM_ENOSPACE, leaving those k resident.
 *  - /dev/full accepts the open and fails every write with ENOSPC; a 16 KiB tmpfs holds
 *    4 pages of file data, so the 5th slot written fails the same way.
 *  - The stress test: 16384 pages (64 MiB), an evictor evicting every page round after round
 *    while 2 writers each walk their half, verifying and rewriting each page; the test runs
 *    until 1,000,000 faults were served (100,000 under AddressSanitizer, to stay < 60 s).
 *    The handler thread is not pinned; VMEM_TEST_HANDLER_CPU=N pins it to CPU N, to compare.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/guest_ram.h"
#include "vmem/pager.h"
#include "base/rng.h"

#define PAGE 4096u

#if defined(__SANITIZE_ADDRESS__)
#define STRESS_FAULTS 100000ull
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRESS_FAULTS 100000ull
#endif
#endif
#ifndef STRESS_FAULTS
#define STRESS_FAULTS 1000000ull
#endif

/* A page pattern word: the splitmix64 finaliser, never zero. */
static uint64_t mix(uint64_t x)
{
	return rng_mix64(x) | 1;
}

/* Word k of pattern(n, version): the first half of the page random-looking, the second
 * half one repeated word (so lz4 has something to compress), both naming page and version. */
static uint64_t word(uint64_t n, uint64_t version, unsigned k)
{
	return k < PAGE / 16 ? mix((n << 32) ^ (version << 12) ^ k) : mix((n << 32) ^ version) ^ 1;
}

static void fill(void *page, uint64_t n, uint64_t version)
{
	uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		w[k] = word(n, version, k);
}

/* 0 if page holds pattern(n, version), else 1 + the first differing word. */
static unsigned differs(const void *page, uint64_t n, uint64_t version)
{
	const uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k] != word(n, version, k))
			return k + 1;
	return 0;
}

struct fixture {
	struct vmem_guest_ram *ram;
	struct vmem_pager *pager;
	char *base;
	uint64_t pages;
};

static void setup(struct fixture *f, uint64_t pages, const struct vmem_pager_config *c)
{
	struct vmem_ram_region_config rc;
	struct vmem_ram_region r;
	char err[256];

	assert_int_equal(vmem_guest_ram_create(&f->ram), 0);
	vmem_ram_region_config_default(&rc);
	rc.gpa = 1ull << 30;
	rc.size = pages * PAGE;
	if (vmem_guest_ram_add(f->ram, &rc, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	if (vmem_pager_create(f->ram, 0, c, &f->pager, err, sizeof(err)))
		fail_msg("vmem_pager_create: %s", err);
	assert_int_equal(vmem_guest_ram_region(f->ram, 0, &r), 0);
	f->base = r.hva;
	f->pages = pages;
}

static void teardown(struct fixture *f)
{
	assert_int_equal(vmem_pager_destroy(f->pager), 0);
	vmem_guest_ram_destroy(f->ram);
}

static struct vmem_pager_stats stats(struct fixture *f)
{
	struct vmem_pager_stats s;

	vmem_pager_stats(f->pager, &s);
	return s;
}

static void test_pager_untouched_pages_read_as_zero_pages(void **state)
{
	struct fixture f;
	struct vmem_pager_stats s;

	(void)state;
	setup(&f, 64, NULL);
	for (uint64_t i = 0; i < 64; i++) {
		assert_int_equal(vmem_pager_page_state(f.pager, i), VMEM_PAGER_UNTOUCHED);
		assert_int_equal(f.base[i * PAGE + 100], 0);         /* a read: UFFDIO_ZEROPAGE */
		assert_int_equal(vmem_pager_page_state(f.pager, i), VMEM_PAGER_RESIDENT);
	}
	s = stats(&f);
	assert_int_equal(s.faults, 64);
	assert_int_equal(s.faults_zero, 64);
	/* Evicting a zero page keeps no copy; evicting it again finds nothing resident. */
	assert_int_equal(vmem_pager_evict(f.pager, 3), 0);
	assert_int_equal(vmem_pager_page_state(f.pager, 3), VMEM_PAGER_ZERO);
	assert_int_equal(vmem_pager_evict(f.pager, 3), VMEM_ENOENT);
	assert_int_equal(vmem_pager_evict(f.pager, 64), VMEM_ERANGE);
	assert_int_equal(vmem_pager_evict(NULL, 0), VMEM_EINVAL);
	f.base[3 * PAGE] = 7;                                    /* a write: a fresh page */
	s = stats(&f);
	assert_int_equal(s.evicted_zero, 1);
	assert_int_equal(s.faults_zero, 65);
	assert_int_equal(f.base[3 * PAGE], 7);
	teardown(&f);
}

static void test_pager_page_dropped_elsewhere_reads_as_zeros(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f, 4, NULL);
	fill(f.base, 0, 1);
	fill(f.base + PAGE, 1, 1);
	/* A balloon drops page 0 behind the pager's back: the next access is served a zero
	 * page, not a hang or a stale copy. */
	assert_int_equal(madvise(f.base, PAGE, MADV_DONTNEED), 0);
	assert_int_equal(f.base[100], 0);
	/* Dropped, then evicted: evicted as a zero page without reading it. */
	assert_int_equal(madvise(f.base + PAGE, PAGE, MADV_DONTNEED), 0);
	assert_int_equal(vmem_pager_evict(f.pager, 1), 0);
	assert_int_equal(vmem_pager_page_state(f.pager, 1), VMEM_PAGER_ZERO);
	assert_int_equal(f.base[PAGE + 5], 0);
	teardown(&f);
}

/* Fill, evict all, check states, read back every byte; `rounds` times. */
static void round_trip(struct fixture *f, unsigned rounds, enum vmem_pager_page evicted)
{
	for (unsigned r = 0; r < rounds; r++) {
		for (uint64_t i = 0; i < f->pages; i++)
			fill(f->base + i * PAGE, i, r);
		for (uint64_t i = 0; i < f->pages; i++) {
			int rc = vmem_pager_evict(f->pager, i);

			if (rc)
				fail_msg("evict %lu: %s", (unsigned long)i, vmem_pager_error(f->pager));
			assert_int_equal(vmem_pager_page_state(f->pager, i), evicted);
		}
		for (uint64_t i = 0; i < f->pages; i++) {
			unsigned d = differs(f->base + i * PAGE, i, r);

			if (d)
				fail_msg("round %u page %lu word %u differs", r, (unsigned long)i, d - 1);
		}
	}
}

static void test_pager_lz4_round_trip_keeps_every_byte(void **state)
{
	struct fixture f;
	struct vmem_pager_stats s;

	(void)state;
	setup(&f, 256, NULL);
	round_trip(&f, 3, VMEM_PAGER_COMPRESSED);
	s = stats(&f);
	/* 3 rounds x 256 pages: each first written through a zero-fill fault in round 0, then
	 * evicted and served back once per round. */
	assert_int_equal(s.evictions, 768);
	assert_int_equal(s.faults, 256 + 768);
	assert_int_equal(s.bytes_in, 768 * PAGE);
	assert_int_equal(s.compressed_now, 0);                   /* everything back */
	assert_int_equal(s.errors, 0);
	/* Compressible content compresses: a page with a repeated pattern. */
	memset(f.base, 'x', PAGE);
	assert_int_equal(vmem_pager_evict(f.pager, 0), 0);
	s = stats(&f);
	assert_true(s.compressed_now > 0 && s.compressed_now < 100);
	assert_int_equal(f.base[PAGE - 1], 'x');
	teardown(&f);
}

static void test_pager_swap_file_reuses_its_slots(void **state)
{
	struct vmem_pager_config c;
	struct fixture f;
	struct vmem_pager_stats s;
	struct stat sb;

	(void)state;
	vmem_pager_config_default(&c);
	c.store = VMEM_PAGER_SWAPFILE;
	setup(&f, 128, &c);
	round_trip(&f, 4, VMEM_PAGER_SWAPPED);
	s = stats(&f);
	assert_int_equal(s.slots, 128);                          /* default: the region's size */
	assert_int_equal(s.slots_used, 0);
	assert_int_equal(s.evictions, 512);
	/* 4 rounds of 128 pages used the same 128 slots: the file never grew past them. */
	assert_int_equal(fstat(vmem_pager_swap_fd(f.pager), &sb), 0);
	assert_true(sb.st_size <= 128 * PAGE);
	for (uint64_t i = 0; i < 10; i++)
		assert_int_equal(vmem_pager_evict(f.pager, i), 0);
	assert_int_equal(stats(&f).slots_used, 10);
	/* Destroy brings the 10 evicted pages back (teardown checks it returned 0). */
	assert_int_equal(vmem_pager_destroy(f.pager), 0);
	for (uint64_t i = 0; i < 128; i++)
		assert_int_equal(differs(f.base + i * PAGE, i, 3), 0);
	vmem_guest_ram_destroy(f.ram);
}

static void test_pager_full_swap_file_leaves_pages_resident(void **state)
{
	struct vmem_pager_config c;
	struct fixture f;
	struct vmem_pager_stats s;
	unsigned ok = 0, full = 0;

	(void)state;
	vmem_pager_config_default(&c);
	c.store = VMEM_PAGER_SWAPFILE;
	c.swap_size = 8 * PAGE;
	setup(&f, 24, &c);
	for (uint64_t i = 0; i < 24; i++)
		fill(f.base + i * PAGE, i, 1);
	for (uint64_t i = 0; i < 24; i++) {
		int rc = vmem_pager_evict(f.pager, i);

		if (rc == 0)
			ok++;
		else if (rc == VMEM_ENOSPACE)
			full++;
		else
			fail_msg("evict %lu: %d %s", (unsigned long)i, rc, vmem_pager_error(f.pager));
	}
	assert_int_equal(ok, 8);
	assert_int_equal(full, 16);
	assert_non_null(strstr(vmem_pager_error(f.pager), "swap file is full"));
	s = stats(&f);
	assert_int_equal(s.swap_full, 16);
	assert_int_equal(s.errors, 16);
	assert_int_equal(s.slots_used, 8);
	for (uint64_t i = 8; i < 24; i++)
		assert_int_equal(vmem_pager_page_state(f.pager, i), VMEM_PAGER_RESIDENT);
	/* Everything intact; the refused pages are writable (no write protection left). */
	for (uint64_t i = 0; i < 24; i++)
		assert_int_equal(differs(f.base + i * PAGE, i, 1), 0);
	for (uint64_t i = 0; i < 24; i++)
		fill(f.base + i * PAGE, i, 2);
	for (uint64_t i = 0; i < 24; i++)
		assert_int_equal(differs(f.base + i * PAGE, i, 2), 0);
	/* The slots came back with their pages: 8 more evictions fit again. (The handler
	 * thread returns a slot just after the copy that wakes the writer, so an eviction
	 * right after may still find the file full for a moment: retry, up to 1 s.) */
	for (uint64_t i = 16; i < 24; i++) {
		int rc = vmem_pager_evict(f.pager, i);

		for (int t = 0; rc == VMEM_ENOSPACE && t < 1000; t++) {
			usleep(1000);
			rc = vmem_pager_evict(f.pager, i);
		}
		assert_int_equal(rc, 0);
	}
	teardown(&f);
}

/* Evicts all `pages` to a swap file at path: expects `good` successes, the rest VMEM_EIO. */
static void io_error_case(const char *path, uint64_t pages, unsigned good)
{
	struct vmem_pager_config c;
	struct fixture f;
	struct vmem_pager_stats s;
	unsigned ok = 0, eio = 0;

	vmem_pager_config_default(&c);
	c.store = VMEM_PAGER_SWAPFILE;
	c.swap_path = path;
	c.swap_size = 64 * PAGE;
	setup(&f, pages, &c);
	for (uint64_t i = 0; i < pages; i++)
		fill(f.base + i * PAGE, i, 5);
	for (uint64_t i = 0; i < pages; i++) {
		int rc = vmem_pager_evict(f.pager, i);

		ok += rc == 0;
		eio += rc == VMEM_EIO;
	}
	printf("%s: %u evicted, %u refused: %s\n", path, ok, eio, vmem_pager_error(f.pager));
	assert_int_equal(ok, good);
	assert_int_equal(eio, pages - good);
	assert_non_null(strstr(vmem_pager_error(f.pager), "No space left on device"));
	s = stats(&f);
	assert_int_equal(s.io_errors, pages - good);
	assert_int_equal(s.slots_used, good);
	for (uint64_t i = 0; i < pages; i++)
		assert_int_equal(differs(f.base + i * PAGE, i, 5), 0);
	teardown(&f);
}

static void test_pager_write_error_leaves_data_intact(void **state)
{
	char dir[] = "/tmp/vmem-pager-tmpfs.XXXXXX";
	char file[64];

	(void)state;
	/* Every write fails. */
	io_error_case("/dev/full", 8, 0);
	/* A real full filesystem: a 16 KiB tmpfs takes 4 pages, then ENOSPC. */
	assert_non_null(mkdtemp(dir));
	if (mount("tmpfs", dir, "tmpfs", 0, "size=16k,mode=0700") == 0) {
		snprintf(file, sizeof(file), "%s/swap", dir);
		io_error_case(file, 8, 4);
		umount2(dir, MNT_DETACH);
	} else {
		printf("tmpfs: cannot mount here (%s): only /dev/full was used\n", strerror(errno));
	}
	rmdir(dir);
}

/* ---- The stress test ---- */

struct stress {
	struct fixture f;
	uint32_t *version;                   /* per page, owned by its writer */
	atomic_bool stop;
	atomic_ullong touched;
	atomic_uint bad;
	uint64_t rounds;
};

struct writer {
	struct stress *s;
	unsigned id;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct stress *s = w->s;

	while (!atomic_load(&s->stop)) {
		for (uint64_t i = w->id; i < s->f.pages && !atomic_load(&s->stop); i += 2) {
			char *pg = s->f.base + i * PAGE;
			unsigned d = differs(pg, i, s->version[i]);

			if (d) {
				fprintf(stderr, "writer %u: page %lu version %u: word %u differs\n",
					w->id, (unsigned long)i, s->version[i], d - 1);
				atomic_fetch_add(&s->bad, 1);
			}
			fill(pg, i, ++s->version[i]);
			atomic_fetch_add_explicit(&s->touched, 1, memory_order_relaxed);
		}
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void stress(enum vmem_pager_store store, uint64_t pages, uint64_t target, double max_s)
{
	struct vmem_pager_config c;
	struct stress *s = calloc(1, sizeof(*s));
	struct writer w[2];
	pthread_t t[2];
	struct vmem_pager_stats st;
	double t0, t1;
	uint64_t evicted = 0, refused = 0;

	assert_non_null(s);
	vmem_pager_config_default(&c);
	c.store = store;
	if (getenv("VMEM_TEST_HANDLER_CPU"))
		c.handler_cpu = atoi(getenv("VMEM_TEST_HANDLER_CPU"));
	setup(&s->f, pages, &c);
	s->version = calloc(pages, sizeof(*s->version));
	assert_non_null(s->version);
	for (uint64_t i = 0; i < pages; i++)
		fill(s->f.base + i * PAGE, i, 0);
	t0 = now();
	for (unsigned k = 0; k < 2; k++) {
		w[k].s = s;
		w[k].id = k;
		assert_int_equal(pthread_create(&t[k], NULL, writer_main, &w[k]), 0);
	}
	do {
		uint64_t before = evicted;

		for (uint64_t i = 0; i < pages; i++) {
			int rc = vmem_pager_evict(s->f.pager, i);

			if (rc == 0)
				evicted++;
			else if (rc == VMEM_ENOENT)
				refused++;           /* the writers have not touched it back yet */
			else
				fail_msg("evict: %s", vmem_pager_error(s->f.pager));
		}
		s->rounds++;
		/* Few pages back yet: let the writers and the handler have the CPUs. */
		if (evicted - before < pages / 8)
			nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
		vmem_pager_stats(s->f.pager, &st);
	} while (st.faults < target && now() - t0 < max_s);
	atomic_store(&s->stop, true);
	for (unsigned k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	t1 = now();
	vmem_pager_stats(s->f.pager, &st);
	/* Final check of every byte of every page, in place and after one more eviction. */
	for (uint64_t i = 0; i < pages; i++)
		if (differs(s->f.base + i * PAGE, i, s->version[i]))
			atomic_fetch_add(&s->bad, 1);
	printf("stress %s: %lu pages, %lu rounds, %lu evictions (%lu not resident), %lu faults "
	       "(%lu waited on write protection) in %.1f s: %.0f faults/s, %lu page writes; "
	       "compressed %lu -> %lu bytes\n",
	       store == VMEM_PAGER_LZ4 ? "lz4" : "swapfile", (unsigned long)pages,
	       (unsigned long)s->rounds, (unsigned long)evicted, (unsigned long)refused,
	       (unsigned long)st.faults, (unsigned long)st.wp_faults, t1 - t0,
	       (double)st.faults / (t1 - t0), (unsigned long)atomic_load(&s->touched),
	       (unsigned long)st.bytes_in, (unsigned long)st.bytes_compressed);
	assert_int_equal(atomic_load(&s->bad), 0);
	assert_int_equal(st.errors, 0);
	if (st.faults < target)
		fail_msg("only %lu faults in %.0f s (wanted %lu)", (unsigned long)st.faults, max_s,
			 (unsigned long)target);
	assert_int_equal(vmem_pager_destroy(s->f.pager), 0);
	for (uint64_t i = 0; i < pages; i++)
		assert_int_equal(differs(s->f.base + i * PAGE, i, s->version[i]), 0);
	vmem_guest_ram_destroy(s->f.ram);
	free(s->version);
	free(s);
}

static void test_pager_million_faults_under_two_writers_every_byte_kept(void **state)
{
	(void)state;
	stress(VMEM_PAGER_LZ4, 16384, STRESS_FAULTS, 150);
}

static void test_pager_swap_file_under_two_writers_every_byte_kept(void **state)
{
	(void)state;
	stress(VMEM_PAGER_SWAPFILE, 2048, STRESS_FAULTS / 20, 60);
}

static void test_pager_bad_configs_rejected_with_a_message(void **state)
{
	struct vmem_guest_ram *ram;
	struct vmem_ram_region_config rc;
	struct vmem_pager_config c;
	struct vmem_pager *p;
	char err[256];

	(void)state;
	assert_int_equal(vmem_guest_ram_create(&ram), 0);
	vmem_ram_region_config_default(&rc);
	rc.size = 2 << 20;
	assert_int_equal(vmem_guest_ram_add(ram, &rc, NULL, err, sizeof(err)), 0);
	rc.gpa = 4 << 20;
	rc.backing = VMEM_RAM_MEMFD;
	assert_int_equal(vmem_guest_ram_add(ram, &rc, NULL, err, sizeof(err)), 0);
	vmem_pager_config_default(&c);
	assert_int_equal(vmem_pager_create(ram, 1, &c, &p, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "anonymous with 4 KiB pages"));
	assert_int_equal(vmem_pager_create(ram, 2, &c, &p, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "no such guest RAM region"));
	c.swap_size = 100;
	assert_int_equal(vmem_pager_create(ram, 0, &c, &p, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "swap_size 100"));
	c.swap_size = 0;
	c.handler_cpu = 100000;
	assert_int_equal(vmem_pager_create(ram, 0, &c, &p, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "handler_cpu"));
	c.handler_cpu = -1;
	c.store = VMEM_PAGER_SWAPFILE;
	c.swap_path = "/nonexistent/dir/swap";
	assert_int_equal(vmem_pager_create(ram, 0, &c, &p, err, sizeof(err)), VMEM_EIO);
	assert_non_null(strstr(err, "/nonexistent/dir/swap"));
	assert_int_equal(vmem_pager_create(ram, 0, NULL, NULL, err, sizeof(err)), VMEM_EINVAL);
	/* The defaults work, pinned to CPU 0 too. */
	c.swap_path = NULL;
	c.handler_cpu = 0;
	if (vmem_pager_create(ram, 0, &c, &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_pager_pages(p), 512);
	assert_int_equal(vmem_pager_destroy(p), 0);
	vmem_guest_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pager_bad_configs_rejected_with_a_message),
		cmocka_unit_test(test_pager_untouched_pages_read_as_zero_pages),
		cmocka_unit_test(test_pager_page_dropped_elsewhere_reads_as_zeros),
		cmocka_unit_test(test_pager_lz4_round_trip_keeps_every_byte),
		cmocka_unit_test(test_pager_swap_file_reuses_its_slots),
		cmocka_unit_test(test_pager_full_swap_file_leaves_pages_resident),
		cmocka_unit_test(test_pager_write_error_leaves_data_intact),
		cmocka_unit_test(test_pager_million_faults_under_two_writers_every_byte_kept),
		cmocka_unit_test(test_pager_swap_file_under_two_writers_every_byte_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
