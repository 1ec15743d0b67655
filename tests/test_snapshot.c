/*
 * Snapshots (libvmem/backend/snapshot*.c): save guest RAM, restore it lazily through
 * userfaultfd, record and prefetch the working set, clone it; plain threads stand in for
 * vCPUs, on real memory, files and userfaultfd.
 *
 * Facts the expected values rest on:
 *  - A page's content here is pattern(page, version): 512 words mixing page number, version
 *    and word index, never all zero; "zero" pages are all zero. Page i of the base image is
 *    zero when i % 5 == 0, else pattern(i, 0): of 2048 pages, 410 are zero (0, 5, ..., 2045)
 *    and 1638 hold data.
 *  - A snapshot file is its metadata (64-byte header, parent path, a byte per page, padding
 *    to 8, 8 bytes of checksum per data page) rounded up to 4096, then 4096 bytes per data
 *    page: for 2048 pages and 1638 data pages, 64 + 2048 = 2112, + 8 * 1638 = 15216, rounded
 *    up 16384, + 1638 * 4096 = 6725632 bytes.
 *  - /proc/self/smaps counts a page cache page mapped by two clones once in each clone's Rss
 *    and half in each one's Pss, under Shared_Clean; the kernel's zero page (a read of a
 *    zero page) counts in neither; a written page is the clone's own (Private_Dirty) and the
 *    page cache page it replaced is left with one mapper (Private_Clean in the other clone).
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <xxhash.h>

#include "vmem/guest_ram.h"
#include "vmem/snapshot.h"
#include "base/rng.h"

#define PAGE 4096u

static char dir[256];

/* A page pattern word: the splitmix64 finaliser, never zero. */
static uint64_t mix(uint64_t x)
{
	return rng_mix64(x) | 1;
}

static void fill(void *page, uint64_t n, uint64_t version)
{
	uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		w[k] = mix((n << 32) ^ (version << 12) ^ k);
}

/* version ~0: an all-zero page. */
#define ZERO ~0ull

static void set_page(void *page, uint64_t n, uint64_t version)
{
	if (version == ZERO)
		memset(page, 0, PAGE);
	else
		fill(page, n, version);
}

/* 0 if page holds pattern(n, version) (or zeros for ZERO), else 1 + the first bad word. */
static unsigned differs(const void *page, uint64_t n, uint64_t version)
{
	const uint64_t *w = page;

	for (unsigned k = 0; k < PAGE / 8; k++)
		if (w[k] != (version == ZERO ? 0 : mix((n << 32) ^ (version << 12) ^ k)))
			return k + 1;
	return 0;
}

static uint64_t base_version(uint64_t i)
{
	return i % 5 == 0 ? ZERO : 0;
}

struct ram {
	struct vmem_guest_ram *ram;
	char *base;
	uint64_t pages;
};

static void ram_make(struct ram *r, uint64_t pages)
{
	struct vmem_ram_region_config rc;
	struct vmem_ram_region rg;
	char err[256];

	assert_int_equal(vmem_guest_ram_create(&r->ram), 0);
	vmem_ram_region_config_default(&rc);
	rc.gpa = 1ull << 30;
	rc.size = pages * PAGE;
	if (vmem_guest_ram_add(r->ram, &rc, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_guest_ram_region(r->ram, 0, &rg), 0);
	r->base = rg.hva;
	r->pages = pages;
}

static char *in_dir(const char *name)
{
	static char path[8][512];
	static unsigned next;
	char *p = path[next++ % 8];

	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static void check_all(const struct ram *r, uint64_t (*version)(uint64_t))
{
	for (uint64_t i = 0; i < r->pages; i++) {
		unsigned d = differs(r->base + i * PAGE, i, version(i));

		if (d)
			fail_msg("page %lu word %u differs", (unsigned long)i, d - 1);
	}
}

static bool have_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, 0);

	if (fd < 0) {
		printf("SKIP: test_snapshot: userfaultfd unavailable (%s): run as root or set "
		       "vm.unprivileged_userfaultfd=1\n", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* ---- Save and lazy restore ---- */

struct walker {
	char *base;
	uint64_t pages;
	unsigned which;                      /* 0, 1: readers; 2: writer */
	atomic_ulong bad;
};

/* Pages i % 4 == 1 are the writer's; the readers read the others, one forward and one
 * backward, so that they fault on the same pages at the same time. */
static void *walk(void *arg)
{
	struct walker *w = arg;

	for (uint64_t k = 0; k < w->pages; k++) {
		uint64_t i = w->which == 1 ? w->pages - 1 - k : k;
		char *p = w->base + i * PAGE;

		if (w->which == 2) {
			if (i % 4 != 1)
				continue;
			if (differs(p, i, base_version(i)))
				w->bad++;
			fill(p, i, 2);
			if (differs(p, i, 2))
				w->bad++;
		} else if (i % 4 != 1 && differs(p, i, base_version(i))) {
			w->bad++;
		}
	}
	return NULL;
}

static uint64_t after_walk(uint64_t i)
{
	return i % 4 == 1 ? 2 : base_version(i);
}

static void test_snapshot_save_then_lazy_restore_is_identical_under_threads(void **state)
{
	struct ram r;
	struct vmem_snapshot_info info;
	struct vmem_snapshot_restore *rs;
	struct vmem_snapshot_restore_stats st;
	struct walker w[3];
	pthread_t t[3];
	struct stat sb;
	char err[512];

	(void)state;
	if (!have_uffd())
		skip();
	ram_make(&r, 2048);
	for (uint64_t i = 0; i < r.pages; i++)
		set_page(r.base + i * PAGE, i, base_version(i));
	if (vmem_snapshot_save(r.ram, 0, in_dir("full.snap"), NULL, NULL, &info, err, sizeof(err)))
		fail_msg("%s", err);
	/* 410 zero pages, 1638 data pages; 6725632 bytes (see the top of the file). */
	assert_int_equal(info.pages, 2048);
	assert_int_equal(info.zero_pages, 410);
	assert_int_equal(info.data_pages, 1638);
	assert_int_equal(info.parent_pages, 0);
	assert_int_equal(info.chain, 1);
	assert_int_equal(info.file_bytes, 6725632);
	assert_int_equal(stat(in_dir("full.snap"), &sb), 0);
	assert_int_equal(sb.st_size, 6725632);
	if (vmem_snapshot_check(in_dir("full.snap"), &info, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(info.data_pages, 1638);

	/* Scribble over everything: the restore must bring the snapshot back. */
	for (uint64_t i = 0; i < r.pages; i++)
		fill(r.base + i * PAGE, i, 9);
	if (vmem_snapshot_restore(r.ram, 0, in_dir("full.snap"), NULL, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.faults, 0);                  /* nothing read before the guest runs */
	assert_true(st.first_instruction_ns > 0);
	for (unsigned k = 0; k < 3; k++) {
		w[k] = (struct walker){ .base = r.base, .pages = r.pages, .which = k };
		assert_int_equal(pthread_create(&t[k], NULL, walk, &w[k]), 0);
	}
	for (unsigned k = 0; k < 3; k++) {
		pthread_join(t[k], NULL);
		assert_int_equal(w[k].bad, 0);
	}
	vmem_snapshot_restore_ready(rs);
	/* Every page was touched: each served by exactly one lazy fault, 410 of them zero,
	 * and the 1638 data pages read once each, 4 KiB at a time (plus the metadata). */
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.faults, 2048);
	assert_int_equal(st.faults_zero, 410);
	assert_int_equal(st.recorded, 2048);
	assert_int_equal(st.checksum_errors, 0);
	assert_int_equal(st.reads, 1638);
	assert_int_equal(st.bytes_read, 1638ull * PAGE + 64 + 15216);  /* header, then metadata */
	assert_true(st.ready_ns >= st.first_instruction_ns);
	assert_int_equal(vmem_snapshot_restore_end(rs, &st), 0);
	assert_int_equal(st.filled, 0);
	check_all(&r, after_walk);
	vmem_guest_ram_destroy(r.ram);
}

/* ---- Incremental chains ---- */

/* The three states: base; inc1 = base with pages i % 7 == 1 zeroed and i % 7 == 2
 * rewritten (version 1); inc2 = inc1 with pages i % 11 == 3 rewritten (version 2) and
 * i % 11 == 4 zeroed. */
static uint64_t inc1_version(uint64_t i)
{
	return i % 7 == 1 ? ZERO : i % 7 == 2 ? 1 : base_version(i);
}

static uint64_t inc2_version(uint64_t i)
{
	return i % 11 == 3 ? 2 : i % 11 == 4 ? ZERO : inc1_version(i);
}

static void restore_all_and_check(struct ram *r, const char *path, uint64_t (*version)(uint64_t))
{
	struct vmem_snapshot_restore *rs;
	struct vmem_snapshot_restore_stats st;
	char err[512];

	for (uint64_t i = 0; i < r->pages; i++)
		fill(r->base + i * PAGE, i, 9);
	if (vmem_snapshot_restore(r->ram, 0, path, NULL, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	/* Nothing touched: the final fill installs all of it in large reads. */
	if (vmem_snapshot_restore_end(rs, &st))
		fail_msg("restore_end failed");
	assert_int_equal(st.filled, r->pages);
	assert_int_equal(st.faults, 0);
	check_all(r, version);
}

static void test_snapshot_incremental_chain_restores_each_state(void **state)
{
	struct ram r;
	struct vmem_snapshot_info info;
	uint64_t dirty[1024 / 64];
	uint64_t zero1 = 0, data1 = 0, n1 = 0, n2 = 0;
	char err[512];

	(void)state;
	if (!have_uffd())
		skip();
	ram_make(&r, 1024);
	for (uint64_t i = 0; i < r.pages; i++)
		set_page(r.base + i * PAGE, i, base_version(i));
	if (vmem_snapshot_save(r.ram, 0, in_dir("base.snap"), NULL, NULL, NULL, err, sizeof(err)))
		fail_msg("%s", err);

	memset(dirty, 0, sizeof(dirty));
	for (uint64_t i = 0; i < r.pages; i++)
		if (i % 7 == 1 || i % 7 == 2) {
			set_page(r.base + i * PAGE, i, inc1_version(i));
			dirty[i / 64] |= 1ull << (i % 64);
			n1++;
			zero1 += i % 7 == 1;
			data1 += i % 7 == 2;
		}
	if (vmem_snapshot_save(r.ram, 0, in_dir("inc1.snap"), in_dir("base.snap"), dirty, &info,
			       err, sizeof(err)))
		fail_msg("%s", err);
	/* 1024 = 146 * 7 + 2: 147 pages of i % 7 == 1, 146 of i % 7 == 2. */
	assert_int_equal(n1, 293);
	assert_int_equal(info.zero_pages, zero1);
	assert_int_equal(info.data_pages, data1);
	assert_int_equal(info.parent_pages, 1024 - 293);
	assert_int_equal(info.chain, 2);

	memset(dirty, 0, sizeof(dirty));
	for (uint64_t i = 0; i < r.pages; i++)
		if (i % 11 == 3 || i % 11 == 4) {
			set_page(r.base + i * PAGE, i, inc2_version(i));
			dirty[i / 64] |= 1ull << (i % 64);
			n2++;
		}
	if (vmem_snapshot_save(r.ram, 0, in_dir("inc2.snap"), in_dir("inc1.snap"), dirty, &info,
			       err, sizeof(err)))
		fail_msg("%s", err);
	/* 1024 = 93 * 11 + 1: 93 pages each of i % 11 == 3 and == 4. */
	assert_int_equal(n2, 186);
	assert_int_equal(info.parent_pages, 1024 - 186);
	assert_int_equal(info.chain, 3);
	if (vmem_snapshot_check(in_dir("inc2.snap"), &info, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(info.chain, 3);

	restore_all_and_check(&r, in_dir("inc2.snap"), inc2_version);
	restore_all_and_check(&r, in_dir("inc1.snap"), inc1_version);
	restore_all_and_check(&r, in_dir("base.snap"), base_version);

	/* A parent without a bitmap, or a parent of another size, is refused. */
	assert_int_equal(vmem_snapshot_save(r.ram, 0, in_dir("x.snap"), in_dir("base.snap"), NULL,
					    NULL, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "dirty bitmap"));
	{
		struct ram small;

		ram_make(&small, 16);
		memset(dirty, 0xff, sizeof(dirty));
		assert_int_equal(vmem_snapshot_save(small.ram, 0, in_dir("x.snap"),
						    in_dir("base.snap"), dirty, NULL, err,
						    sizeof(err)), VMEM_EINVAL);
		assert_non_null(strstr(err, "1024 pages: expected 16"));
		vmem_guest_ram_destroy(small.ram);
	}
	vmem_guest_ram_destroy(r.ram);
}

/* ---- Working set: recording and prefetch ---- */

#define WS_PAGES 300

/* The working set: 300 distinct pages of 2048 in a scattered order (k * 997 mod 2048, 997
 * odd so k -> page is one-to-one), zero and data pages mixed (60 of them, those with
 * page % 5 == 0, are zero pages). */
static uint64_t ws_page(uint64_t k)
{
	return (k * 997 + 13) % 2048;
}

static void touch_ws(const char *base)
{
	volatile const char *p = base;

	for (uint64_t k = 0; k < WS_PAGES; k++)
		(void)p[ws_page(k) * PAGE + 8];
}

static void test_snapshot_working_set_is_recorded_in_order_and_prefetched(void **state)
{
	struct ram r;
	struct vmem_snapshot_restore *rs;
	struct vmem_snapshot_restore_config c;
	struct vmem_snapshot_restore_stats st;
	uint64_t rec[2048], n, pages, zero = 0;
	char err[512];

	(void)state;
	if (!have_uffd())
		skip();
	ram_make(&r, 2048);
	for (uint64_t i = 0; i < r.pages; i++)
		set_page(r.base + i * PAGE, i, base_version(i));
	if (vmem_snapshot_save(r.ram, 0, in_dir("ws.snap"), NULL, NULL, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	for (uint64_t k = 0; k < WS_PAGES; k++)
		zero += ws_page(k) % 5 == 0;

	/* Record: exactly the pages touched, in the order touched. */
	if (vmem_snapshot_restore(r.ram, 0, in_dir("ws.snap"), NULL, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	touch_ws(r.base);
	n = vmem_snapshot_restore_recorded(rs, rec, 2048);
	assert_int_equal(n, WS_PAGES);
	for (uint64_t k = 0; k < WS_PAGES; k++)
		assert_int_equal(rec[k], ws_page(k));
	if (vmem_snapshot_restore_save_working_set(rs, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_snapshot_restore_end(rs, &st), 0);
	assert_int_equal(st.faults, WS_PAGES);
	assert_int_equal(st.faults_zero, zero);
	assert_int_equal(st.filled, 2048 - WS_PAGES);
	assert_int_equal(st.recorded, WS_PAGES);           /* the final fill records nothing */
	check_all(&r, base_version);
	if (vmem_snapshot_check_working_set(in_dir("ws.snap.ws"), in_dir("ws.snap"), &pages, err,
					    sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(pages, WS_PAGES);

	/* Prefetch before the guest runs: the working set is there, no fault for it, and it
	 * came from a single read of the ws file (its data pages mapped and read at once). */
	for (uint64_t i = 0; i < r.pages; i++)
		fill(r.base + i * PAGE, i, 9);
	vmem_snapshot_restore_config_default(&c);
	c.prefetch = in_dir("ws.snap.ws");
	c.prefetch_sync = true;
	if (vmem_snapshot_restore(r.ram, 0, in_dir("ws.snap"), &c, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.prefetched, WS_PAGES);
	assert_int_equal(st.prefetched_zero, zero);
	assert_int_equal(st.reads, 1);
	assert_true(st.prefetch_ns > 0 && st.prefetch_ns <= st.first_instruction_ns);
	touch_ws(r.base);
	vmem_snapshot_restore_ready(rs);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.faults, 0);
	/* A page outside the working set is still lazy: page 2 (k * 997 + 13 = 2 mod 2048
	 * needs k = 1771 > 300). */
	for (uint64_t k = 0; k < WS_PAGES; k++)
		assert_int_not_equal(ws_page(k), 2);
	assert_int_equal(differs(r.base + 2 * PAGE, 2, 0), 0);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.faults, 1);
	assert_int_equal(vmem_snapshot_restore_end(rs, &st), 0);
	assert_int_equal(st.filled, 2048 - WS_PAGES - 1);
	check_all(&r, base_version);

	/* Prefetch in the background while the guest touches its working set: every page is
	 * installed once, by one or the other. */
	for (uint64_t i = 0; i < r.pages; i++)
		fill(r.base + i * PAGE, i, 9);
	c.prefetch_sync = false;
	if (vmem_snapshot_restore(r.ram, 0, in_dir("ws.snap"), &c, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	touch_ws(r.base);
	/* Each installer counts a page before installing it, and each page is claimed by one:
	 * once the workload has touched them all, they are all counted, once. */
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.prefetched + st.faults, WS_PAGES);
	vmem_snapshot_restore_wait_prefetch(rs);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.prefetched + st.faults, WS_PAGES);
	assert_int_equal(vmem_snapshot_restore_end(rs, &st), 0);
	assert_int_equal(st.prefetched + st.faults + st.filled, 2048);
	check_all(&r, base_version);

	/* A working set of another snapshot is refused, naming the id. */
	if (vmem_snapshot_save(r.ram, 0, in_dir("other.snap"), NULL, NULL, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_snapshot_restore(r.ram, 0, in_dir("other.snap"), &c, &rs, err,
					       sizeof(err)), VMEM_EFORMAT);
	assert_non_null(strstr(err, "ws.snap.ws: offset 16: snapshot id"));
	assert_non_null(strstr(err, "other.snap"));
	vmem_guest_ram_destroy(r.ram);
}

/* ---- Clones ---- */

/* The other process's clone: reads every page, writes page 7, reports its smaps figures
 * on `report`, then waits for the parent to measure before it lets go of its memory. */
static void clone_in_child(const char *path, int report, int hold)
{
	struct vmem_snapshot_clone *c;
	struct vmem_snapshot_sharing s;
	volatile const char *p;
	char err[512], byte;
	unsigned sum = 0;

	if (vmem_snapshot_clone(path, false, &c, err, sizeof(err)))
		_exit(2);
	p = vmem_snapshot_clone_base(c);
	for (uint64_t i = 0; i < 320; i++)
		sum += (unsigned char)p[i * PAGE];
	(void)sum;
	fill((char *)vmem_snapshot_clone_base(c) + 7 * PAGE, 7, 5);
	if (vmem_snapshot_clone_memory(c, &s) || write(report, &s, sizeof(s)) != sizeof(s))
		_exit(3);
	if (read(hold, &byte, 1) < 0)
		_exit(4);
	vmem_snapshot_clone_destroy(c);
	_exit(0);
}

static void test_snapshot_clones_share_unchanged_pages(void **state)
{
	struct ram r;
	struct vmem_snapshot_clone *a, *b;
	struct vmem_snapshot_sharing sa, sb, sc;
	char err[512], buf[PAGE];
	int fd, report[2], hold[2], status;
	pid_t child;

	(void)state;
	/* 256 data pages then 64 zero pages: the data is one run, one file mapping. */
	ram_make(&r, 320);
	for (uint64_t i = 0; i < 256; i++)
		fill(r.base + i * PAGE, i, 0);
	if (vmem_snapshot_save(r.ram, 0, in_dir("clone.snap"), NULL, NULL, NULL, err, sizeof(err)))
		fail_msg("%s", err);

	/* Two clones in this process: each page cache page has two mappings, so each clone's
	 * Pss is half its Rss. (Save made the file's pages clean with fdatasync.) */
	if (vmem_snapshot_clone(in_dir("clone.snap"), true, &a, err, sizeof(err)) ||
	    vmem_snapshot_clone(in_dir("clone.snap"), false, &b, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_snapshot_clone_bytes(a), 320 * PAGE);
	for (uint64_t i = 0; i < 320; i++) {
		uint64_t v = i < 256 ? 0 : ZERO;

		assert_int_equal(differs((char *)vmem_snapshot_clone_base(a) + i * PAGE, i, v), 0);
		assert_int_equal(differs((char *)vmem_snapshot_clone_base(b) + i * PAGE, i, v), 0);
	}
	assert_int_equal(vmem_snapshot_clone_memory(a, &sa), 0);
	assert_int_equal(vmem_snapshot_clone_memory(b, &sb), 0);
	/* 256 data pages mapped (1024 KiB), each by both clones: 512 KiB of Pss each; the 64
	 * zero pages are the kernel's zero page and count nowhere. Two mappings: the file run
	 * and the anonymous rest. */
	assert_int_equal(sa.mappings, 2);
	assert_int_equal(sa.rss, 1024 * 1024);
	assert_int_equal(sa.pss, 512 * 1024);
	assert_int_equal(sa.shared_clean, 1024 * 1024);
	assert_int_equal(sa.private_dirty, 0);
	assert_int_equal(sb.rss, 1024 * 1024);
	assert_int_equal(sb.pss, 512 * 1024);
	vmem_snapshot_clone_destroy(b);

	/* A clone in another process, which reads every page and writes its page 7: that page
	 * alone becomes its own. Here: 255 pages shared (1020 KiB Shared_Clean, 510 KiB Pss)
	 * and page 7 with one mapper left (4 KiB Private_Clean): Pss 514 KiB, Rss unchanged.
	 * There: the same 1020 KiB shared, 4 KiB Private_Dirty, Pss 514 KiB. */
	assert_int_equal(pipe(report), 0);
	assert_int_equal(pipe(hold), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		vmem_snapshot_clone_destroy(a);
		clone_in_child(in_dir("clone.snap"), report[1], hold[0]);
	}
	assert_int_equal(read(report[0], &sc, sizeof(sc)), sizeof(sc));
	assert_int_equal(vmem_snapshot_clone_memory(a, &sa), 0);
	assert_int_equal(write(hold[1], "x", 1), 1);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(report[0]);
	close(report[1]);
	close(hold[0]);
	close(hold[1]);
	assert_int_equal(sa.rss, 1024 * 1024);
	assert_int_equal(sa.shared_clean, 1020 * 1024);
	assert_int_equal(sa.private_clean, 4096);
	assert_int_equal(sa.private_dirty, 0);
	assert_int_equal(sa.pss, 514 * 1024);
	assert_int_equal(sc.rss, 1024 * 1024);
	assert_int_equal(sc.shared_clean, 1020 * 1024);
	assert_int_equal(sc.private_dirty, 4096);
	assert_int_equal(sc.pss, 514 * 1024);
	/* This clone and the file keep the snapshot's page 7. */
	assert_int_equal(differs((char *)vmem_snapshot_clone_base(a) + 7 * PAGE, 7, 0), 0);
	fd = open(in_dir("clone.snap"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, PAGE, 4096 + 7 * PAGE), PAGE);
	assert_int_equal(differs(buf, 7, 0), 0);
	close(fd);
	/* Writes here: a data page and a zero page become this clone's own. */
	fill((char *)vmem_snapshot_clone_base(a) + 9 * PAGE, 9, 5);
	((char *)vmem_snapshot_clone_base(a))[300 * PAGE] = 1;
	assert_int_equal(vmem_snapshot_clone_memory(a, &sa), 0);
	assert_int_equal(sa.private_dirty, 8192);
	assert_int_equal(sa.rss, 1028 * 1024);
	vmem_snapshot_clone_destroy(a);
	vmem_guest_ram_destroy(r.ram);
}

/* ---- Hostile files ---- */

/* A snapshot file written by hand, so that every field can be made wrong: see the format
 * in docs/BACKEND.md. kinds[pages]; data pages are pattern(page, 0). */
static void write_raw(const char *path, uint64_t pages, const uint8_t *kinds, uint64_t id,
		      const char *parent, uint64_t parent_id)
{
	size_t plen = parent ? strlen(parent) : 0;
	uint64_t data = 0, mlen, off;
	unsigned char *m;
	FILE *f;

	for (uint64_t i = 0; i < pages; i++)
		data += kinds[i] == 1;
	mlen = ((64 + plen + pages + 7) & ~7ull) + 8 * data;
	off = (mlen + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	m = calloc(1, off + data * PAGE);
	assert_non_null(m);
	memcpy(m, "VMEMSNAP", 8);
	*(uint32_t *)(m + 8) = 1;
	*(uint32_t *)(m + 12) = PAGE;
	*(uint64_t *)(m + 16) = pages;
	*(uint64_t *)(m + 24) = data;
	*(uint64_t *)(m + 32) = id;
	*(uint64_t *)(m + 40) = parent_id;
	*(uint32_t *)(m + 48) = (uint32_t)plen;
	if (plen)
		memcpy(m + 64, parent, plen);
	memcpy(m + 64 + plen, kinds, pages);
	for (uint64_t i = 0, d = 0; i < pages; i++)
		if (kinds[i] == 1) {
			fill(m + off + d * PAGE, i, 0);
			*(uint64_t *)(m + ((64 + plen + pages + 7) & ~7ull) + 8 * d) =
				XXH3_64bits(m + off + d * PAGE, PAGE);
			d++;
		}
	*(uint64_t *)(m + 56) = XXH3_64bits(m, mlen);      /* the field is 0 while hashing */
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(m, 1, off + data * PAGE, f), off + data * PAGE);
	fclose(f);
	free(m);
}

/* Rewrites bytes [at, at + len) of path, then (reseal) recomputes the metadata checksum
 * over mlen bytes so that only the field itself is wrong. */
static void patch(const char *path, uint64_t at, const void *bytes, size_t len, uint64_t mlen)
{
	int fd = open(path, O_RDWR);
	unsigned char *m;

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, (off_t)at), (ssize_t)len);
	if (mlen) {
		uint64_t zero = 0, sum;

		m = malloc(mlen);
		assert_int_equal(pread(fd, m, mlen, 0), (ssize_t)mlen);
		memcpy(m + 56, &zero, 8);
		sum = XXH3_64bits(m, mlen);
		assert_int_equal(pwrite(fd, &sum, 8, 56), 8);
		free(m);
	}
	close(fd);
}

static void expect_rejected(const char *path, int code, const char *what)
{
	char err[512] = "";
	struct vmem_snapshot_info info;

	assert_int_equal(vmem_snapshot_check(path, &info, err, sizeof(err)), code);
	if (code == 0)
		return;
	if (!strstr(err, what) || !strstr(err, path) || strchr(err, '\n'))
		fail_msg("message \"%s\": expected one line naming %s and \"%s\"", err, path, what);
}

/* The pages 100-699, touched in order: a sequential working set. */
static void touch_run(const char *base)
{
	volatile const char *p = base;

	for (uint64_t i = 100; i < 700; i++)
		(void)p[i * PAGE + 16];
}

static void test_snapshot_prefetch_installs_runs_and_refuses_hostile_working_sets(void **state)
{
	/* Working set: pages 100-699. Of these, 100, 105, ..., 695 are zero (120 pages) and
	 * the 480 others hold data in 120 runs of 4 consecutive pages (101-104, ..., 696-699).
	 * The working-set file: 64 + 8 * 600 = 4864 bytes of metadata, so data from offset
	 * 8192, page 101 at 8192, page 102 at 12288 (data pages sorted by page number); the
	 * file is 8192 + 480 * 4096 = 1974272 bytes. */
	char ws[512];
	struct ram r;
	struct vmem_snapshot_restore *rs;
	struct vmem_snapshot_restore_config c;
	struct vmem_snapshot_restore_stats st;
	uint64_t out_of_range = 2048, twice = 100;
	uint8_t flip = 0x5a;
	char err[512];

	(void)state;
	if (!have_uffd())
		skip();
	snprintf(ws, sizeof(ws), "%s", in_dir("run.snap.ws"));   /* in_dir's buffers rotate */
	ram_make(&r, 2048);
	for (uint64_t i = 0; i < r.pages; i++)
		set_page(r.base + i * PAGE, i, base_version(i));
	if (vmem_snapshot_save(r.ram, 0, in_dir("run.snap"), NULL, NULL, NULL, err, sizeof(err)))
		fail_msg("%s", err);
	if (vmem_snapshot_restore(r.ram, 0, in_dir("run.snap"), NULL, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	touch_run(r.base);
	if (vmem_snapshot_restore_save_working_set(rs, ws, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(vmem_snapshot_restore_end(rs, NULL), 0);

	/* Sync: one UFFDIO_COPY per data run and one UFFDIO_ZEROPAGE per zero page between
	 * them: 120 + 120 = 240 calls for 600 pages, and then no fault in the working set. Two
	 * threads share the pages in chunks that end where a run ends: the same calls. */
	for (uint64_t i = 0; i < r.pages; i++)
		fill(r.base + i * PAGE, i, 9);
	vmem_snapshot_restore_config_default(&c);
	c.prefetch = ws;
	c.prefetch_sync = true;
	if (vmem_snapshot_restore(r.ram, 0, in_dir("run.snap"), &c, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.prefetched, 600);
	assert_int_equal(st.prefetched_zero, 120);
	assert_int_equal(st.copies, 240);
	assert_int_equal(st.reads, 1);
	for (uint64_t i = 100; i < 700; i++)
		assert_int_equal(differs(r.base + i * PAGE, i, base_version(i)), 0);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.faults, 0);
	assert_int_equal(vmem_snapshot_restore_end(rs, &st), 0);
	assert_int_equal(st.filled, 2048 - 600);
	check_all(&r, base_version);

	/* A corrupt data page in the working-set file (page 102, at 12288): the check names
	 * it; the prefetch leaves it to the lazy path, which serves the snapshot's data: the
	 * run 101-104 becomes 101 and 103-104, 241 calls, 599 pages prefetched, one fault. */
	patch(ws, 12288 + 100, &flip, 1, 0);
	assert_int_equal(vmem_snapshot_check_working_set(ws, in_dir("run.snap"), NULL, err,
							 sizeof(err)), VMEM_EFORMAT);
	assert_non_null(strstr(err, "offset 12288: page 102"));
	for (uint64_t i = 0; i < r.pages; i++)
		fill(r.base + i * PAGE, i, 9);
	if (vmem_snapshot_restore(r.ram, 0, in_dir("run.snap"), &c, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.prefetched, 599);
	assert_int_equal(st.copies, 241);
	assert_non_null(strstr(vmem_snapshot_restore_error(rs), "run.snap.ws: data of page 102 "
			       "does not match the snapshot"));
	assert_non_null(strstr(vmem_snapshot_restore_error(rs), "left to the lazy path"));
	for (uint64_t i = 100; i < 700; i++)
		assert_int_equal(differs(r.base + i * PAGE, i, base_version(i)), 0);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.faults, 1);
	assert_int_equal(st.checksum_errors, 0);
	assert_int_equal(vmem_snapshot_restore_end(rs, &st), 0);
	check_all(&r, base_version);
	/* The same in the background, the guest touching the pages meanwhile. */
	for (uint64_t i = 0; i < r.pages; i++)
		fill(r.base + i * PAGE, i, 9);
	c.prefetch_sync = false;
	if (vmem_snapshot_restore(r.ram, 0, in_dir("run.snap"), &c, &rs, err, sizeof(err)))
		fail_msg("%s", err);
	for (uint64_t i = 100; i < 700; i++)
		assert_int_equal(differs(r.base + i * PAGE, i, base_version(i)), 0);
	vmem_snapshot_restore_wait_prefetch(rs);
	vmem_snapshot_restore_stats(rs, &st);
	assert_int_equal(st.prefetched + st.faults, 600);
	assert_true(st.faults >= 1);                       /* page 102 at least */
	assert_int_equal(vmem_snapshot_restore_end(rs, &st), 0);
	check_all(&r, base_version);

	/* Hostile page lists (the metadata checksum resealed over 4864 bytes): refused with
	 * the entry's offset before anything is dropped (page 0 keeps its content). */
	c.prefetch_sync = true;
	fill(r.base, 0, 3);
	patch(ws, 64, &out_of_range, 8, 4864);
	assert_int_equal(vmem_snapshot_restore(r.ram, 0, in_dir("run.snap"), &c, &rs, err,
					       sizeof(err)), VMEM_EFORMAT);
	assert_non_null(strstr(err, "run.snap.ws: offset 64: page 2048: expected a page below 2048"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(differs(r.base, 0, 3), 0);
	patch(ws, 64, &twice, 8, 0);
	patch(ws, 72, &twice, 8, 4864);
	assert_int_equal(vmem_snapshot_restore(r.ram, 0, in_dir("run.snap"), &c, &rs, err,
					       sizeof(err)), VMEM_EFORMAT);
	assert_non_null(strstr(err, "run.snap.ws: offset 72: page 100 listed twice"));
	/* A truncated file: one page short. */
	assert_int_equal(truncate(ws, 1974272 - PAGE), 0);
	assert_int_equal(vmem_snapshot_restore(r.ram, 0, in_dir("run.snap"), &c, &rs, err,
					       sizeof(err)), VMEM_EFORMAT);
	assert_non_null(strstr(err, "file size 1970176: expected 1974272"));
	assert_int_equal(differs(r.base, 0, 3), 0);
	vmem_guest_ram_destroy(r.ram);
}

static void test_snapshot_hostile_files_are_rejected_with_a_reason(void **state)
{
	/* 8 pages: data, zero, data, data, zero, zero, data, zero: 4 data pages. Metadata
	 * 64 + 8 = 72, + 4 * 8 = 104 bytes; data from offset 4096; file 4096 + 4 * 4096. */
	const uint8_t kinds[8] = { 1, 0, 1, 1, 0, 0, 1, 0 };
	const char *p = in_dir("h.snap");
	uint64_t big = 1ull << 40, mid = 1ull << 20;
	uint32_t v2 = 2;
	uint8_t two = 2, flip = 0x5a;
	struct ram r;
	struct vmem_snapshot_restore *rs;
	struct vmem_snapshot_restore_stats st;
	char err[512];

	(void)state;
	write_raw(p, 8, kinds, 11, NULL, 0);
	expect_rejected(p, 0, "");

	assert_int_equal(truncate(p, 40), 0);
	expect_rejected(p, VMEM_EFORMAT, "offset 0: truncated: expected a 64-byte header");

	write_raw(p, 8, kinds, 11, NULL, 0);
	assert_int_equal(truncate(p, 4096 + 3 * PAGE), 0);
	expect_rejected(p, VMEM_EFORMAT, "file size 16384: expected 20480");

	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 0, "VMEMSNAQ", 8, 0);
	expect_rejected(p, VMEM_EFORMAT, "offset 0: bad magic: expected \"VMEMSNAP\"");

	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 8, &v2, 4, 0);
	expect_rejected(p, VMEM_EFORMAT, "offset 8: version 2: expected 1");

	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 16, &big, 8, 0);
	expect_rejected(p, VMEM_EFORMAT, "offset 16: 1099511627776 pages: expected 1 to 268435456");

	/* 2^20 pages would need 1 MiB of kinds: more than the file holds. */
	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 16, &mid, 8, 0);
	expect_rejected(p, VMEM_EFORMAT, "truncated: expected 1048672 bytes of metadata");

	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 24, &big, 8, 0);
	expect_rejected(p, VMEM_EFORMAT, "offset 24: 1099511627776 data pages: expected at most");

	/* A kind byte changed without the checksum: the metadata checksum catches it. */
	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 64 + 1, &two, 1, 0);
	expect_rejected(p, VMEM_EFORMAT, "offset 56: metadata checksum");
	/* Resealed: kind 2 without a parent is named at its own offset. */
	patch(p, 64 + 1, &two, 1, 104);
	expect_rejected(p, VMEM_EFORMAT, "offset 65: page 1 of kind 2: expected 0 (zero), 1 (data)");
	/* A data kind more than the header says. */
	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 64 + 1, "\x01", 1, 104);
	expect_rejected(p, VMEM_EFORMAT, "offset 24: 4 data pages: expected 5");

	/* A corrupt data page: found by the check, and a restore serves it as zeros and
	 * says so. Page 3 is the third data page: offset 4096 + 2 * 4096 = 12288. */
	write_raw(p, 8, kinds, 11, NULL, 0);
	patch(p, 12288 + 100, &flip, 1, 0);
	expect_rejected(p, VMEM_EFORMAT, "offset 12288: data page 2 has checksum");
	if (have_uffd()) {
		ram_make(&r, 8);
		if (vmem_snapshot_restore(r.ram, 0, p, NULL, &rs, err, sizeof(err)))
			fail_msg("%s", err);
		assert_int_equal(differs(r.base + 3 * PAGE, 3, ZERO), 0);
		assert_non_null(strstr(vmem_snapshot_restore_error(rs),
				       "offset 12288: page 3 has checksum"));
		assert_int_equal(differs(r.base + 2 * PAGE, 2, 0), 0);
		assert_int_equal(vmem_snapshot_restore_end(rs, &st), VMEM_EIO);
		assert_int_equal(st.checksum_errors, 1);
		/* A snapshot of another size is refused before anything is dropped. */
		write_raw(p, 8, kinds, 11, NULL, 0);
		fill(r.base, 0, 3);
		vmem_guest_ram_destroy(r.ram);
		ram_make(&r, 16);
		fill(r.base, 0, 3);
		assert_int_equal(vmem_snapshot_restore(r.ram, 0, p, NULL, &rs, err, sizeof(err)),
				 VMEM_EINVAL);
		assert_non_null(strstr(err, "has 8 pages: expected 16"));
		assert_int_equal(differs(r.base, 0, 3), 0);
		vmem_guest_ram_destroy(r.ram);
	}

	/* Parent loops: a names b and b names a; c names itself. */
	{
		uint8_t inc[8] = { 2, 2, 2, 2, 2, 2, 2, 2 };

		write_raw(in_dir("a.snap"), 8, inc, 21, "b.snap", 22);
		write_raw(in_dir("b.snap"), 8, inc, 22, "a.snap", 21);
		expect_rejected(in_dir("a.snap"), VMEM_EFORMAT, "parent a.snap is");
		write_raw(in_dir("c.snap"), 8, inc, 23, "c.snap", 23);
		expect_rejected(in_dir("c.snap"), VMEM_EFORMAT,
				"offset 64: parent c.snap is");
		/* A parent with another id than its child names. */
		write_raw(in_dir("b.snap"), 8, kinds, 99, NULL, 0);
		expect_rejected(in_dir("a.snap"), VMEM_EFORMAT, "snapshot id 0x63: expected 0x16");
		/* A parent that is missing: named with its child. */
		unlink(in_dir("b.snap"));
		expect_rejected(in_dir("a.snap"), VMEM_EIO, "offset 64: parent: ");
		expect_rejected(in_dir("a.snap"), VMEM_EIO, "b.snap: cannot open");
	}
	/* A chain of 33 files: one too many. */
	{
		uint8_t inc[8] = { 2, 2, 2, 2, 2, 2, 2, 2 };
		char name[64], parent[64];

		for (unsigned k = 0; k < 33; k++) {
			snprintf(name, sizeof(name), "chain%u.snap", k);
			snprintf(parent, sizeof(parent), "chain%u.snap", k + 1);
			if (k == 32)
				write_raw(in_dir(name), 8, kinds, 100 + k, NULL, 0);
			else
				write_raw(in_dir(name), 8, inc, 100 + k, parent, 101 + k);
		}
		assert_int_equal(vmem_snapshot_check(in_dir("chain0.snap"), NULL, err, sizeof(err)),
				 VMEM_EFORMAT);
		assert_non_null(strstr(err, "chain31.snap: offset 64: parent chain32.snap would be "
				       "file 33 of the chain: expected at most 32"));
		expect_rejected(in_dir("chain1.snap"), 0, "");
	}
	/* Not a regular file. */
	expect_rejected("/dev/null", VMEM_EFORMAT, "offset 0: expected a regular file");
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/var/tmp/vmem-snapshot-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_save_then_lazy_restore_is_identical_under_threads),
		cmocka_unit_test(test_snapshot_incremental_chain_restores_each_state),
		cmocka_unit_test(test_snapshot_working_set_is_recorded_in_order_and_prefetched),
		cmocka_unit_test(test_snapshot_prefetch_installs_runs_and_refuses_hostile_working_sets),
		cmocka_unit_test(test_snapshot_clones_share_unchanged_pages),
		cmocka_unit_test(test_snapshot_hostile_files_are_rejected_with_a_reason),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
