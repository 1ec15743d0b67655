/*
 * The balloon over guest RAM (libvmem/backend/ram_balloon.c, balloon_channel.c), on real
 * memory, with plain threads standing in for the guest. No KVM is needed: the guest's side
 * of the channel is memory writes into guest RAM and a call of the port-write handler.
 *
 * The guest RAM of most tests (every region 2 MiB-aligned in host memory):
 *   region 0  gpa 0       1 MiB anonymous   frames    0 ..  255  the "kernel": not owned
 *   region 1  gpa 1 MiB   4 MiB anonymous   frames  256 .. 1279  owned
 *   region 2  gpa 16 MiB  4 MiB memfd       frames 1280 .. 2303  owned
 * Regions 0 and 1 touch (gpa 1 MiB), so a request may run from one into the other; gpa 5 MiB
 * to 16 MiB is a hole. A pfn is gpa >> 12: region 1 is pfns 0x100..0x4ff, region 2
 * 0x1000..0x13ff. Requests are written at gpa 0x10000 (region 0) unless a test says else.
 *
 * Facts the expected values rest on:
 *  - madvise(MADV_DONTNEED) on private anonymous memory frees the page: mincore(2) says it is
 *    not resident, smaps' Rss drops by 4 kB, and the next read sees zeros.
 *  - fallocate(PUNCH_HOLE) on a memfd frees the page from the file: fstat's st_blocks (512-byte
 *    units) drops by 8 per 4 KiB page, and the mapping's page is gone (mincore).
 *  - A page never dropped keeps its content: every page is filled with a pattern of its pfn
 *    and checked word by word.
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/ram_balloon.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define PAGE 4096ull
#define REQ_GPA 0x10000ull
#define R1_PFN 0x100ull           /* first pfn of region 1 */
#define R1_PAGES 1024ull
#define R2_PFN 0x1000ull          /* first pfn of region 2 */
#define R2_PAGES 1024ull

struct guest {
	struct vmem_guest_ram *ram;
	struct vmem_ram_balloon *b;
	struct vmem_ram_region r[3];
};

static void add(struct vmem_guest_ram *ram, uint64_t gpa, uint64_t size,
		enum vmem_ram_backing backing, enum vmem_ram_pages pages)
{
	struct vmem_ram_region_config c;
	char err[256];

	vmem_ram_region_config_default(&c);
	c.gpa = gpa;
	c.size = size;
	c.backing = backing;
	c.pages = pages;
	if (vmem_guest_ram_add(ram, &c, NULL, err, sizeof(err)))
		fail_msg("vmem_guest_ram_add: %s", err);
}

static void *hva(struct guest *g, uint64_t gpa)
{
	void *p = vmem_guest_ram_gpa_to_hva(g->ram, gpa);

	assert_non_null(p);
	return p;
}

/* The word a page of pfn holds at word w until it is dropped. */
static uint64_t pattern(uint64_t pfn, unsigned w)
{
	return pfn * 0x9e3779b97f4a7c15ull ^ w;
}

static void fill(struct guest *g, uint64_t pfn, uint64_t n)
{
	for (uint64_t p = pfn; p < pfn + n; p++) {
		uint64_t *w = hva(g, p << 12);

		for (unsigned i = 0; i < PAGE / 8; i++)
			w[i] = pattern(p, i);
	}
}

static bool holds_pattern(struct guest *g, uint64_t pfn)
{
	const uint64_t *w = hva(g, pfn << 12);

	for (unsigned i = 0; i < PAGE / 8; i++)
		if (w[i] != pattern(pfn, i))
			return false;
	return true;
}

static bool all_zero(struct guest *g, uint64_t pfn)
{
	const uint64_t *w = hva(g, pfn << 12);

	for (unsigned i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Whether the page of pfn is resident, by mincore(2). */
static bool resident(struct guest *g, uint64_t pfn)
{
	unsigned char v = 0;

	assert_int_equal(mincore(hva(g, pfn << 12), PAGE, &v), 0);
	return v & 1;
}

/* Rss (kB) of the mapping that starts at addr, from /proc/self/smaps. */
static long rss_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo == (uintptr_t)addr;
		else if (in && sscanf(line, "Rss: %ld", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* 512-byte blocks the memfd of region i holds (shmem counts what is allocated). */
static long long file_blocks(struct guest *g, unsigned i)
{
	struct stat st;

	assert_int_equal(fstat(g->r[i].fd, &st), 0);
	return (long long)st.st_blocks;
}

static void make_guest(struct guest *g, const struct vmem_ram_balloon_config *c)
{
	char err[256];

	memset(g, 0, sizeof(*g));
	assert_int_equal(vmem_guest_ram_create(&g->ram), 0);
	add(g->ram, 0, 1 * MiB, VMEM_RAM_ANON, VMEM_RAM_4K);
	add(g->ram, 1 * MiB, 4 * MiB, VMEM_RAM_ANON, VMEM_RAM_4K);
	add(g->ram, 16 * MiB, 4 * MiB, VMEM_RAM_MEMFD, VMEM_RAM_4K);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vmem_guest_ram_region(g->ram, i, &g->r[i]), 0);
	if (vmem_ram_balloon_create(g->ram, c, &g->b, err, sizeof(err)))
		fail_msg("vmem_ram_balloon_create: %s", err);
}

/* The default balloon, owning regions 1 and 2, with both filled (every page resident). */
static void make_filled(struct guest *g)
{
	struct vmem_ram_balloon_config c;

	vmem_ram_balloon_config_default(&c);
	c.regions = 0x6;
	make_guest(g, &c);
	fill(g, R1_PFN, R1_PAGES);
	fill(g, R2_PFN, R2_PAGES);
}

static void destroy_guest(struct guest *g)
{
	vmem_ram_balloon_destroy(g->b);
	vmem_guest_ram_destroy(g->ram);
}

/* Writes len bytes at gpa into guest RAM, page by page (a request may cross regions). */
static void guest_write(struct guest *g, uint64_t gpa, const void *src, size_t len)
{
	const unsigned char *s = src;

	while (len) {
		size_t chunk = PAGE - gpa % PAGE;

		if (chunk > len)
			chunk = len;
		memcpy(hva(g, gpa), s, chunk);
		gpa += chunk;
		s += chunk;
		len -= chunk;
	}
}

/* What the guest reads back from its request header after the doorbell. */
struct reply {
	int rc;              /* what the port write returned */
	int32_t status;
	uint32_t done;
};

/* The guest's side: a request at gpa (header, then `bytes` of entries), the doorbell. */
static struct reply ring_raw(struct guest *g, uint64_t gpa, const struct vmem_bch_request *h,
			     const void *entries, size_t bytes)
{
	struct vmem_bch_request back;
	struct reply r;

	guest_write(g, gpa, h, sizeof(*h));
	if (bytes)
		guest_write(g, gpa + sizeof(*h), entries, bytes);
	r.rc = vmem_ram_balloon_port_out(g->b, VMEM_BCH_PORT_DOORBELL, 4, (uint32_t)(gpa >> 12));
	memcpy(&back, hva(g, gpa), sizeof(back));
	r.status = back.status;
	r.done = back.done;
	return r;
}

static struct reply ring(struct guest *g, uint16_t op, const void *entries, uint32_t count,
			 size_t entry_size)
{
	struct vmem_bch_request h = {
		.magic = VMEM_BCH_MAGIC, .op = op, .count = count,
		.status = 0x7777, .done = 0x7777,     /* the host must overwrite both */
	};

	return ring_raw(g, REQ_GPA, &h, entries, (size_t)count * entry_size);
}

static struct reply ring_pfns(struct guest *g, uint16_t op, const uint32_t *pfn, uint32_t n)
{
	return ring(g, op, pfn, n, sizeof(*pfn));
}

static void expect_ok(struct guest *g, struct reply r, uint32_t count)
{
	char err[256];

	vmem_ram_balloon_error(g->b, err, sizeof(err));
	if (r.rc != 0)
		fail_msg("request rejected (%d): %s", r.rc, err);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.done, count);
}

/* ---- What "nothing changed" means: the balloon's state and the memory's. ---- */

struct snapshot {
	struct vmem_ram_balloon_stats st;
	bool in[R1_PAGES + R2_PAGES];
	bool res[R1_PAGES + R2_PAGES];
	bool intact[R1_PAGES + R2_PAGES];  /* resident and holding its pattern */
};

static uint64_t pfn_at(unsigned k)
{
	return k < R1_PAGES ? R1_PFN + k : R2_PFN + (k - R1_PAGES);
}

static void snap(struct guest *g, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	vmem_ram_balloon_stats(g->b, &s->st);
	for (unsigned k = 0; k < R1_PAGES + R2_PAGES; k++) {
		s->in[k] = vmem_ram_balloon_contains(g->b, pfn_at(k));
		s->res[k] = resident(g, pfn_at(k));
		/* Reading a page that is not resident would fault it in: only resident ones. */
		s->intact[k] = s->res[k] && holds_pattern(g, pfn_at(k));
	}
}

/* A request rejected with code `rc`, a message containing `want`, and nothing changed. */
static void expect_rejected(struct guest *g, const struct snapshot *before, struct reply r,
			    int rc, bool status_written, const char *want)
{
	struct snapshot after;
	char err[256];

	vmem_ram_balloon_error(g->b, err, sizeof(err));
	if (r.rc != rc)
		fail_msg("expected %d (%s), got %d: \"%s\"", rc, want, r.rc, err);
	if (status_written) {
		assert_int_equal(r.status, rc);
		assert_int_equal(r.done, 0);
	}
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
	assert_null(strchr(err, '\n'));
	snap(g, &after);
	assert_int_equal(after.st.balloon_pages, before->st.balloon_pages);
	assert_int_equal(after.st.pages_inflated, before->st.pages_inflated);
	assert_int_equal(after.st.pages_deflated, before->st.pages_deflated);
	assert_int_equal(after.st.pages_reported, before->st.pages_reported);
	assert_int_equal(after.st.bytes_given_back, before->st.bytes_given_back);
	assert_int_equal(after.st.rejected, before->st.rejected + 1);
	assert_memory_equal(after.in, before->in, sizeof(after.in));
	assert_memory_equal(after.res, before->res, sizeof(after.res));
	assert_memory_equal(after.intact, before->intact, sizeof(after.intact));
}

/* ---- Tests ---- */

static void test_anon_inflate_deflate_cycles_free_and_zero_pages(void **state)
{
	struct guest g;
	struct vmem_ram_balloon_stats st;
	uint32_t pfn[256];
	long rss0;

	(void)state;
	make_filled(&g);
	rss0 = rss_kb(g.r[1].hva);
	/* Every page of region 1 was written: 1024 pages = 4096 kB. */
	assert_int_equal(rss0, 4096);
	/* Every 4th page of region 1: pfns 0x100, 0x104, ..., 0x4fc (256 pages). */
	for (unsigned k = 0; k < 256; k++)
		pfn[k] = (uint32_t)(R1_PFN + 4 * k);
	for (unsigned cycle = 1; cycle <= 2; cycle++) {
		expect_ok(&g, ring_pfns(&g, VMEM_BCH_INFLATE, pfn, 256), 256);
		/* 256 pages gone: 4096 - 256 * 4 = 3072 kB; the other 768 intact. */
		assert_int_equal(rss_kb(g.r[1].hva), 3072);
		for (unsigned k = 0; k < R1_PAGES; k++) {
			bool in = k % 4 == 0;

			assert_int_equal(resident(&g, R1_PFN + k), !in);
			assert_int_equal(vmem_ram_balloon_contains(g.b, R1_PFN + k), in);
			if (!in)
				assert_true(holds_pattern(&g, R1_PFN + k));
		}
		vmem_ram_balloon_stats(g.b, &st);
		assert_int_equal(st.balloon_pages, 256);
		/* Each cycle gave back 256 resident pages: 1 MiB a cycle. */
		assert_int_equal(st.bytes_given_back, cycle * 256 * PAGE);
		assert_int_equal(st.pages_inflated, cycle * 256);

		expect_ok(&g, ring_pfns(&g, VMEM_BCH_DEFLATE, pfn, 256), 256);
		vmem_ram_balloon_stats(g.b, &st);
		assert_int_equal(st.balloon_pages, 0);
		assert_int_equal(st.pages_deflated, cycle * 256);
		/* The guest takes its pages back: they read as zeros; it writes them again. */
		for (unsigned k = 0; k < 256; k++) {
			assert_false(vmem_ram_balloon_contains(g.b, pfn[k]));
			assert_true(all_zero(&g, pfn[k]));
		}
		fill(&g, R1_PFN, R1_PAGES);
		assert_int_equal(rss_kb(g.r[1].hva), 4096);
	}
	destroy_guest(&g);
}

static void test_memfd_inflate_punches_holes_in_the_file(void **state)
{
	struct guest g;
	struct vmem_ram_balloon_stats st;
	uint64_t pfn[128];
	unsigned char zero[PAGE], buf[PAGE];

	(void)state;
	make_filled(&g);
	/* 1024 pages written: 1024 * 8 = 8192 blocks of 512 bytes. */
	assert_int_equal(file_blocks(&g, 2), 8192);
	/* Pages 0..127 of region 2 in reverse order, through the direct call: sorted into one
	 * run of 128 pages before dropping. */
	for (unsigned k = 0; k < 128; k++)
		pfn[k] = R2_PFN + 127 - k;
	assert_int_equal(vmem_ram_balloon_inflate(g.b, pfn, 128), 0);
	/* 128 pages punched out of the file: 8192 - 128 * 8 = 7168 blocks. With MADV_DONTNEED
	 * the file would still hold 8192 (shmem keeps the pages). */
	assert_int_equal(file_blocks(&g, 2), 7168);
	memset(zero, 0, sizeof(zero));
	for (unsigned k = 0; k < R2_PAGES; k++) {
		assert_int_equal(resident(&g, R2_PFN + k), k >= 128);
		if (k >= 128)
			assert_true(holds_pattern(&g, R2_PFN + k));
	}
	/* The file itself reads zeros in the hole (pread does not map anything). */
	assert_int_equal(pread(g.r[2].fd, buf, PAGE, 5 * PAGE), (ssize_t)PAGE);
	assert_memory_equal(buf, zero, PAGE);
	vmem_ram_balloon_stats(g.b, &st);
	assert_int_equal(st.bytes_given_back, 128 * PAGE);
	assert_int_equal(vmem_ram_balloon_deflate(g.b, pfn, 128), 0);
	for (unsigned k = 0; k < 128; k++)
		assert_true(all_zero(&g, R2_PFN + k));
	destroy_guest(&g);
}

static void test_bad_requests_rejected_and_nothing_changes(void **state)
{
	struct vmem_ram_balloon_config c;
	struct snapshot s;
	struct guest g;
	uint32_t in8[8], p[4];
	struct vmem_bch_range rg[2];
	struct vmem_bch_request h;
	uint32_t big[1101];
	struct reply r;

	(void)state;
	vmem_ram_balloon_config_default(&c);
	c.regions = 0x6;
	c.max_entries = 1100;
	c.max_pages = 16;
	make_guest(&g, &c);
	fill(&g, R1_PFN, R1_PAGES);
	fill(&g, R2_PFN, R2_PAGES);
	/* 8 pages in the balloon to start with: pfns 0x200..0x207. */
	for (unsigned k = 0; k < 8; k++)
		in8[k] = 0x200 + k;
	expect_ok(&g, ring_pfns(&g, VMEM_BCH_INFLATE, in8, 8), 8);

#define REJECT(call, rc, written, want) do { snap(&g, &s); \
		expect_rejected(&g, &s, (call), (rc), (written), (want)); } while (0)

	/* Out of guest RAM: past the end (4 GiB) and in the hole at 8 MiB. */
	p[0] = 0x300; p[1] = 0x100000;
	REJECT(ring_pfns(&g, VMEM_BCH_INFLATE, p, 2), VMEM_ERANGE, true,
	       "INFLATE entry 1: pfn 0x100000 is not in guest RAM");
	p[1] = 0x800;
	REJECT(ring_pfns(&g, VMEM_BCH_INFLATE, p, 2), VMEM_ERANGE, true, "entry 1: pfn 0x800");
	/* Region 0, the "kernel", is not the balloon's. */
	p[1] = 0x20;
	REJECT(ring_pfns(&g, VMEM_BCH_INFLATE, p, 2), VMEM_EINVAL, true,
	       "entry 1: pfn 0x20 is in region 0, which the balloon does not own");
	/* A duplicate within the request. */
	p[0] = 0x300; p[1] = 0x301; p[2] = 0x300;
	REJECT(ring_pfns(&g, VMEM_BCH_INFLATE, p, 3), VMEM_EEXIST, true,
	       "entry 2: pfn 0x300 is named twice");
	/* Already in the balloon / not in it. */
	p[0] = 0x300; p[1] = 0x203;
	REJECT(ring_pfns(&g, VMEM_BCH_INFLATE, p, 2), VMEM_EEXIST, true,
	       "entry 1: pfn 0x203 is already in the balloon");
	p[0] = 0x200; p[1] = 0x208;
	REJECT(ring_pfns(&g, VMEM_BCH_DEFLATE, p, 2), VMEM_ENOENT, true,
	       "DEFLATE entry 1: pfn 0x208 is not in the balloon");
	/* Full: 8 in the balloon + 9 > max_pages 16. */
	for (unsigned k = 0; k < 9; k++)
		big[k] = 0x400 + k;
	REJECT(ring_pfns(&g, VMEM_BCH_INFLATE, big, 9), VMEM_ELIMIT, true,
	       "the balloon holds 8 of at most 16 pages");
	/* Counts over the limit, up to the largest a guest can write: nothing is copied. */
	REJECT(ring(&g, VMEM_BCH_INFLATE, big, 1101, 4), VMEM_ELIMIT, true,
	       "count 1101, at most 1100");
	REJECT(ring(&g, VMEM_BCH_STATS, NULL, 0xffffffffu, 0), VMEM_ELIMIT, true,
	       "count 4294967295");
	/* The header: magic, op, flags, reserved. */
	h = (struct vmem_bch_request){ .magic = 0x11223344, .op = 1, .count = 1 };
	REJECT(ring_raw(&g, REQ_GPA, &h, p, 4), VMEM_EFORMAT, true, "magic 0x11223344");
	h.magic = VMEM_BCH_MAGIC;
	h.op = 0;
	REJECT(ring_raw(&g, REQ_GPA, &h, p, 4), VMEM_EFORMAT, true, "op 0, expected");
	h.op = 5;
	REJECT(ring_raw(&g, REQ_GPA, &h, p, 4), VMEM_EFORMAT, true, "op 5, expected");
	h.op = 1;
	h.flags = 1;
	REJECT(ring_raw(&g, REQ_GPA, &h, p, 4), VMEM_EFORMAT, true, "flags 0x1");
	h.flags = 0;
	h.reserved = 9;
	REJECT(ring_raw(&g, REQ_GPA, &h, p, 4), VMEM_EFORMAT, true, "reserved 0x9");
	h.reserved = 0;
	/* The request itself outside guest RAM: nothing can be written back. */
	snap(&g, &s);
	r.rc = vmem_ram_balloon_port_out(g.b, VMEM_BCH_PORT_DOORBELL, 4, 0x100000);
	expect_rejected(&g, &s, r, VMEM_ERANGE, false, "request at gpa 0x100000000: its header");
	/* Entries running off the end of region 2 (its last page is pfn 0x13ff): a header at
	 * the last page and 1100 entries of 4 bytes = 4424 bytes, past 20 MiB. */
	h.count = 1100;
	guest_write(&g, 0x13ffull << 12, &h, sizeof(h));   /* before the snapshot: the guest's */
	REJECT(ring_raw(&g, 0x13ffull << 12, &h, NULL, 0), VMEM_ERANGE, true,
	       "its entries reach gpa 0x1400000, outside guest RAM");
	/* A request in a page of the balloon is not read (that would fault it back in). */
	snap(&g, &s);
	r.rc = vmem_ram_balloon_port_out(g.b, VMEM_BCH_PORT_DOORBELL, 4, 0x205);
	expect_rejected(&g, &s, r, VMEM_ERANGE, false, "a page in the balloon");
	/* A request may cross from region 0 into region 1 (they touch at 1 MiB): at the last
	 * page of region 0 (0xff000) with 1100 entries, its entries end in pfn 0x100. Inflating
	 * pfn 0x100 would drop the request itself. */
	for (unsigned k = 0; k < 1024; k++)
		big[k] = (uint32_t)(R2_PFN + k);         /* all of region 2 */
	for (unsigned k = 1024; k < 1099; k++)
		big[k] = 0x300 + k - 1024;               /* 0x300..0x34a of region 1 */
	big[1099] = 0x100;
	h = (struct vmem_bch_request){ .magic = VMEM_BCH_MAGIC, .op = 1, .count = 1100 };
	guest_write(&g, 0xff000, &h, sizeof(h));            /* the guest's own writes */
	guest_write(&g, 0xff000 + sizeof(h), big, 1100 * 4);
	REJECT(ring_raw(&g, 0xff000, &h, big, 1100 * 4), VMEM_EINVAL, true,
	       "entry 1099: pfn 0x100 holds this request");

	/* Free page reports: unaligned, empty, wrapping, crossing a region's end, overlapping,
	 * in the balloon, not owned. */
	rg[0] = (struct vmem_bch_range){ .gpa = 0x300000, .len = 0x1000 };
	rg[1] = (struct vmem_bch_range){ .gpa = 0x310001, .len = 0x1000 };
	REJECT(ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), VMEM_EINVAL, true,
	       "entry 1: range gpa 0x310001 len 0x1000 is not a non-empty 4 KiB-aligned range");
	rg[1] = (struct vmem_bch_range){ .gpa = 0x310000, .len = 0 };
	REJECT(ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), VMEM_EINVAL, true, "len 0x0");
	rg[1] = (struct vmem_bch_range){ .gpa = 0x310000, .len = 0xfffffffffffff000ull };
	REJECT(ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), VMEM_EINVAL, true,
	       "entry 1: range gpa 0x310000 len 0xfffffffffffff000");
	rg[1] = (struct vmem_bch_range){ .gpa = 0x4ff000, .len = 0x2000 };
	REJECT(ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), VMEM_ERANGE, true,
	       "entry 1: range gpa 0x4ff000 len 0x2000 is not inside one region");
	rg[1] = (struct vmem_bch_range){ .gpa = 0x2ff000, .len = 0x3000 };
	REJECT(ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), VMEM_EEXIST, true,
	       "its page at gpa 0x300000 overlaps an earlier range");
	rg[1] = (struct vmem_bch_range){ .gpa = 0x1ff000, .len = 0x2000 };
	REJECT(ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), VMEM_EEXIST, true,
	       "its page at gpa 0x200000 is in the balloon");
	rg[1] = (struct vmem_bch_range){ .gpa = 0x20000, .len = 0x1000 };
	REJECT(ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), VMEM_EINVAL, true,
	       "region 0, which the balloon does not own");
	/* The same checks through the direct calls. */
	{
		uint64_t d[2] = { 0x300, 0x300 };

		snap(&g, &s);
		r.rc = vmem_ram_balloon_inflate(g.b, d, 2);
		expect_rejected(&g, &s, r, VMEM_EEXIST, false, "entry 1: pfn 0x300 is named twice");
		d[1] = 1ull << 60;
		snap(&g, &s);
		r.rc = vmem_ram_balloon_inflate(g.b, d, 2);
		expect_rejected(&g, &s, r, VMEM_ERANGE, false, "pfn 0x1000000000000000");
		snap(&g, &s);
		r.rc = vmem_ram_balloon_deflate(g.b, d, 100000);
		expect_rejected(&g, &s, r, VMEM_ELIMIT, false, "at most 1100 per request");
	}
#undef REJECT
	/* Each reason was counted. */
	{
		struct vmem_ram_balloon_stats st;

		vmem_ram_balloon_stats(g.b, &st);
		/* By hand from the calls above: */
		/* 2 pfns, a range, a direct pfn */
		assert_int_equal(st.rejected_by[VMEM_RB_OUTSIDE_RAM], 4);
		assert_int_equal(st.rejected_by[VMEM_RB_NOT_OWNED], 2);
		assert_int_equal(st.rejected_by[VMEM_RB_DUPLICATE], 3);     /* pfn, range, direct */
		assert_int_equal(st.rejected_by[VMEM_RB_ALREADY_IN], 2);
		assert_int_equal(st.rejected_by[VMEM_RB_NOT_IN], 1);
		assert_int_equal(st.rejected_by[VMEM_RB_FULL], 1);
		assert_int_equal(st.rejected_by[VMEM_RB_TOO_MANY], 3);
		assert_int_equal(st.rejected_by[VMEM_RB_BAD_HEADER], 5);
		assert_int_equal(st.rejected_by[VMEM_RB_REQUEST_OUTSIDE], 3);
		assert_int_equal(st.rejected_by[VMEM_RB_HOLDS_REQUEST], 1);
		assert_int_equal(st.rejected_by[VMEM_RB_UNALIGNED], 3);
		assert_int_equal(st.rejected, 28);
		assert_int_equal(st.requests, 29);                          /* + the first */
		assert_int_equal(st.balloon_pages, 8);
	}
	/* Ports: a wrong size or direction is refused and counted; another port is not ours. */
	assert_int_equal(vmem_ram_balloon_port_out(g.b, VMEM_BCH_PORT_DOORBELL, 2, 0x10),
			 VMEM_EINVAL);
	assert_int_equal(vmem_ram_balloon_port_out(g.b, VMEM_BCH_PORT_TARGET, 4, 5), VMEM_EINVAL);
	assert_int_equal(vmem_ram_balloon_port_out(g.b, 0x3f8, 1, 'x'), VMEM_ENOENT);
	destroy_guest(&g);
}

static void test_free_page_reporting_drops_without_ballooning(void **state)
{
	struct guest g;
	struct vmem_ram_balloon_stats st;
	struct vmem_bch_range rg[2] = {
		{ .gpa = 1 * MiB + 64 * KiB, .len = 256 * KiB },   /* 64 pages of region 1 */
		{ .gpa = 16 * MiB, .len = 1 * MiB },               /* 256 pages of region 2 */
	};
	uint32_t pfn[1] = { R1_PFN + 16 };                         /* reported above */

	(void)state;
	make_filled(&g);
	expect_ok(&g, ring(&g, VMEM_BCH_REPORT_FREE, rg, 2, sizeof(*rg)), 2);
	vmem_ram_balloon_stats(g.b, &st);
	/* 64 + 256 = 320 pages dropped, none in the balloon. */
	assert_int_equal(st.pages_reported, 320);
	assert_int_equal(st.balloon_pages, 0);
	assert_int_equal(st.bytes_given_back, 320 * PAGE);
	/* Region 1: 4096 - 64 * 4 = 3840 kB; region 2's file: 8192 - 256 * 8 = 6144 blocks. */
	assert_int_equal(rss_kb(g.r[1].hva), 3840);
	assert_int_equal(file_blocks(&g, 2), 6144);
	for (unsigned k = 0; k < R1_PAGES; k++) {
		bool gone = k >= 16 && k < 80;

		assert_int_equal(resident(&g, R1_PFN + k), !gone);
		if (!gone)
			assert_true(holds_pattern(&g, R1_PFN + k));
	}
	for (unsigned k = 0; k < R2_PAGES; k++)
		assert_int_equal(resident(&g, R2_PFN + k), k >= 256);
	/* A reported page is still the guest's: it may be ballooned later. */
	expect_ok(&g, ring_pfns(&g, VMEM_BCH_INFLATE, pfn, 1), 1);
	/* It gave nothing back this time (it was already gone): still 320 pages. */
	vmem_ram_balloon_stats(g.b, &st);
	assert_int_equal(st.bytes_given_back, 320 * PAGE);
	/* Two resident pages 900 apart: measured run by run (their span is more than 64 pages
	 * a frame): 2 * 4096 bytes more. */
	{
		uint64_t far[2] = { R1_PFN + 1000, R1_PFN + 100 };

		assert_int_equal(vmem_ram_balloon_inflate(g.b, far, 2), 0);
		vmem_ram_balloon_stats(g.b, &st);
		assert_int_equal(st.bytes_given_back, 322 * PAGE);
		assert_false(resident(&g, R1_PFN + 100));
		assert_false(resident(&g, R1_PFN + 1000));
		assert_true(holds_pattern(&g, R1_PFN + 101));
	}
	/* The guest uses a reported page again: zeros. */
	assert_true(all_zero(&g, R1_PFN + 17));
	destroy_guest(&g);
}

static void test_stats_target_and_actual(void **state)
{
	struct guest g;
	struct vmem_ram_balloon_guest_stats gs;
	struct vmem_ram_balloon_stats st;
	struct vmem_bch_stat s[18];
	uint32_t v;

	(void)state;
	make_filled(&g);
	/* All 16 tags with value 1000 + tag, then tag 99 (unknown: ignored) and tag 4 again. */
	for (unsigned t = 0; t < 16; t++)
		s[t] = (struct vmem_bch_stat){ .tag = (uint16_t)t, .val = 1000 + t };
	s[16] = (struct vmem_bch_stat){ .tag = 99, .val = 5 };
	s[17] = (struct vmem_bch_stat){ .tag = VMEM_BCH_S_MEMFREE, .val = 77 };
	expect_ok(&g, ring(&g, VMEM_BCH_STATS, s, 18, sizeof(*s)), 18);
	vmem_ram_balloon_guest_stats(g.b, &gs);
	assert_int_equal(gs.reports, 1);
	assert_int_equal(gs.present, 0xffff);
	for (unsigned t = 0; t < 16; t++)
		assert_int_equal(gs.value[t], t == VMEM_BCH_S_MEMFREE ? 77 : 1000 + t);
	vmem_ram_balloon_stats(g.b, &st);
	assert_int_equal(st.stats_unknown_tags, 1);
	/* A second report replaces the first: only tag 5 present. */
	assert_int_equal(vmem_ram_balloon_report_stats(g.b, &(struct vmem_bch_stat){ .tag = 5,
			 .val = 9 }, 1), 0);
	vmem_ram_balloon_guest_stats(g.b, &gs);
	assert_int_equal(gs.reports, 2);
	assert_int_equal(gs.present, 1u << 5);
	assert_int_equal(gs.value[5], 9);
	assert_int_equal(gs.value[4], 0);

	/* Target: the host's policy sets it, the guest reads it. Max = 2048 owned pages. */
	assert_int_equal(vmem_ram_balloon_set_target(g.b, 300), 0);
	assert_int_equal(vmem_ram_balloon_port_in(g.b, VMEM_BCH_PORT_TARGET, 4, &v), 0);
	assert_int_equal(v, 300);
	assert_int_equal(vmem_ram_balloon_set_target(g.b, 2049), VMEM_EINVAL);
	assert_int_equal(vmem_ram_balloon_port_in(g.b, VMEM_BCH_PORT_TARGET, 4, &v), 0);
	assert_int_equal(v, 300);
	/* Actual: the guest writes it, the host reads it. */
	assert_int_equal(vmem_ram_balloon_port_out(g.b, VMEM_BCH_PORT_ACTUAL, 4, 123), 0);
	assert_int_equal(vmem_ram_balloon_port_in(g.b, VMEM_BCH_PORT_ACTUAL, 4, &v), 0);
	assert_int_equal(v, 123);
	vmem_ram_balloon_stats(g.b, &st);
	assert_int_equal(st.actual_pages, 123);
	assert_int_equal(st.target_pages, 300);
	assert_int_equal(vmem_ram_balloon_port_in(g.b, VMEM_BCH_PORT_DOORBELL, 4, &v), VMEM_EINVAL);
	assert_int_equal(vmem_ram_balloon_port_in(g.b, VMEM_BCH_PORT_TARGET, 1, &v), VMEM_EINVAL);
	assert_int_equal(vmem_ram_balloon_port_in(g.b, 0x60, 4, &v), VMEM_ENOENT);
	vmem_ram_balloon_stats(g.b, &st);
	assert_int_equal(st.bad_port_access, 2);
	destroy_guest(&g);
}

static void test_config_errors_named(void **state)
{
	struct vmem_ram_balloon_config c;
	struct vmem_ram_balloon *b;
	struct guest g;
	char err[256];

	(void)state;
	make_guest(&g, NULL);
	vmem_ram_balloon_config_default(&c);
	c.max_entries = 0;
	assert_int_equal(vmem_ram_balloon_create(g.ram, &c, &b, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "max_entries 0, expected 1 to 65536"));
	c.max_entries = VMEM_RAM_BALLOON_ENTRIES_MAX + 1;
	assert_int_equal(vmem_ram_balloon_create(g.ram, &c, &b, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "max_entries 65537"));
	vmem_ram_balloon_config_default(&c);
	c.regions = 0x9;                              /* region 3 does not exist */
	assert_int_equal(vmem_ram_balloon_create(g.ram, &c, &b, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "names region 3, but guest RAM has 3 regions"));
	c.regions = 0x2;                              /* 1024 pages owned */
	c.max_pages = 1025;
	assert_int_equal(vmem_ram_balloon_create(g.ram, &c, &b, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "max_pages 1025 is more than the 1024 pages"));
	destroy_guest(&g);
}

/*
 * The guest rewrites its request while the host reads it. A second thread (another vCPU)
 * keeps rewriting the entries and the count of the request at REQ_GPA: lists of 16 or 8
 * distinct pages of region 1, then a bad entry (pfn 0xffffffff) or a count of 2^20. The
 * first thread rings the doorbell again and again. After every request:
 *   - accepted: `done` pages entered the balloon, done is 8 or 16 (a count the writer wrote),
 *     and status 0; rejected: the balloon did not change at all;
 *   - the bitmap equals what mincore says: a page of region 1 is in the balloon exactly
 *     when it is not resident (every other page is resident: the guest re-writes each page
 *     it takes back).
 * Then the new pages are deflated and written again, so the next round starts from the
 * same state.
 */
struct rewriter {
	struct guest *g;
	atomic_bool stop;
	atomic_ulong rounds;
};

static void *rewrite(void *arg)
{
	struct rewriter *w = arg;
	volatile uint32_t *count = (uint32_t *)((char *)hva(w->g, REQ_GPA) +
						 offsetof(struct vmem_bch_request, count));
	volatile uint32_t *e = (uint32_t *)((char *)hva(w->g, REQ_GPA) + sizeof(struct
						 vmem_bch_request));
	unsigned long r = 0;

	while (!atomic_load(&w->stop)) {
		/* List r: 16 distinct pages of region 1 from page (r * 16) % 1008. */
		uint32_t base = (uint32_t)(R1_PFN + (r * 16) % 1008);

		for (unsigned j = 0; j < 16; j++)
			e[j] = base + j;
		*count = r % 3 ? 16 : 8;
		e[r % 16] = 0xffffffffu;                 /* a bad entry for a moment */
		if (r % 5 == 0)
			*count = 1u << 20;               /* a bad count for a moment */
		e[r % 16] = base + (uint32_t)(r % 16);
		*count = r % 3 ? 16 : 8;
		r++;
		atomic_store(&w->rounds, r);
	}
	return NULL;
}

static void test_concurrent_rewrite_all_or_nothing(void **state)
{
	struct rewriter w = { 0 };
	struct vmem_bch_request h = { .magic = VMEM_BCH_MAGIC, .op = VMEM_BCH_INFLATE, .count = 16 };
	unsigned long accepted = 0, rejected = 0, requests = 0;
	unsigned char vec[R1_PAGES];
	struct guest g;
	pthread_t t;
	time_t start = time(NULL);

	(void)state;
	make_filled(&g);
	w.g = &g;
	guest_write(&g, REQ_GPA, &h, sizeof(h));
	assert_int_equal(pthread_create(&t, NULL, rewrite, &w), 0);
	while ((requests < 3000 || !accepted || !rejected) && time(NULL) - start < 20) {
		struct vmem_ram_balloon_stats before, after;
		uint64_t added[16];
		unsigned n = 0;
		struct vmem_bch_request back;
		int rc;

		vmem_ram_balloon_stats(g.b, &before);
		rc = vmem_ram_balloon_port_out(g.b, VMEM_BCH_PORT_DOORBELL, 4, REQ_GPA >> 12);
		memcpy(&back, hva(&g, REQ_GPA), sizeof(back));
		vmem_ram_balloon_stats(g.b, &after);
		requests++;
		assert_int_equal(back.status, rc);
		/* One mincore over region 1 (a system call per page costs microseconds here). */
		assert_int_equal(mincore(g.r[1].hva, R1_PAGES * PAGE, vec), 0);
		for (unsigned k = 0; k < R1_PAGES; k++) {
			bool in = vmem_ram_balloon_contains(g.b, R1_PFN + k);

			if (in == (vec[k] & 1))
				fail_msg("request %lu: pfn 0x%llx in balloon %d but mincore resident %d",
					 requests, (unsigned long long)(R1_PFN + k), in, !in);
			if (in) {
				if (n == 16)
					fail_msg("request %lu: more than 16 pages in the balloon",
						 requests);
				added[n++] = R1_PFN + k;
			}
		}
		if (rc == 0) {
			accepted++;
			assert_true(back.done == 8 || back.done == 16);
			assert_int_equal(n, back.done);
			assert_int_equal(after.balloon_pages, back.done);
			/* Deflate them and write them again: the next request starts alike. */
			assert_int_equal(vmem_ram_balloon_deflate(g.b, added, n), 0);
			for (unsigned k = 0; k < n; k++)
				fill(&g, added[k], 1);
		} else {
			rejected++;
			assert_int_equal(back.done, 0);
			assert_int_equal(n, 0);
			assert_int_equal(after.balloon_pages, 0);
			assert_int_equal(after.bytes_given_back, before.bytes_given_back);
		}
	}
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	printf("concurrent rewrite: %lu requests (%lu accepted, %lu rejected) while the guest "
	       "rewrote its list %lu times\n", requests, accepted, rejected,
	       atomic_load(&w.rounds));
	assert_true(accepted > 0);
	assert_true(rejected > 0);
	/* Every page of region 1 holds its pattern again. */
	for (unsigned k = 0; k < R1_PAGES; k++)
		assert_true(holds_pattern(&g, R1_PFN + k));
	destroy_guest(&g);
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static bool write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

static long hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long n = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * A hugetlb region (anonymous, then memfd) of two 2 MiB pages at gpa 1 GiB (pfn 0x40000):
 * only whole huge pages go into the balloon, and one that does goes back to the pool.
 */
static void hugetlb_case(enum vmem_ram_backing backing)
{
	struct vmem_ram_region_config c;
	struct vmem_guest_ram *ram;
	struct vmem_ram_balloon *b;
	struct vmem_ram_region r;
	uint64_t pfn[512];
	struct vmem_bch_range rg = { .gpa = 1ull << 30, .len = 4096 };
	char err[256];
	long free0;

	assert_int_equal(vmem_guest_ram_create(&ram), 0);
	add(ram, 0, 1 * MiB, VMEM_RAM_ANON, VMEM_RAM_4K);
	vmem_ram_region_config_default(&c);
	c.gpa = 1ull << 30;
	c.size = 4 * MiB;
	c.backing = backing;
	c.pages = VMEM_RAM_HUGETLB;
	c.prealloc = true;
	if (vmem_guest_ram_add(ram, &c, NULL, err, sizeof(err)))
		fail_msg("hugetlb region: %s", err);
	assert_int_equal(vmem_guest_ram_region(ram, 1, &r), 0);
	memset(r.hva, 0x5a, 4 * MiB);
	if (vmem_ram_balloon_create(ram, &(struct vmem_ram_balloon_config){ .regions = 2,
				    .max_entries = 1024 }, &b, err, sizeof(err)))
		fail_msg("%s", err);
	free0 = hugepages_free();
	/* 511 of the 512 frames of the first huge page (pfn 0x40000..0x401fe): refused. */
	for (unsigned k = 0; k < 512; k++)
		pfn[k] = 0x40000 + 511 - k;              /* any order */
	assert_int_equal(vmem_ram_balloon_inflate(b, pfn + 1, 511), VMEM_EINVAL);
	vmem_ram_balloon_error(b, err, sizeof(err));
	if (!strstr(err, "whole 2 MiB pages only: pfn 0x401ff of the same page is missing"))
		fail_msg("error \"%s\"", err);
	assert_int_equal(hugepages_free(), free0);
	/* A 4 KiB free page report in it: refused too. */
	assert_int_equal(vmem_ram_balloon_report_free(b, &rg, 1), VMEM_EINVAL);
	/* All 512: the huge page goes back to the pool (HugePages_Free + 1). */
	assert_int_equal(vmem_ram_balloon_inflate(b, pfn, 512), 0);
	assert_int_equal(hugepages_free(), free0 + 1);
	/* The second huge page is intact. */
	for (uint64_t off = 2 * MiB; off < 4 * MiB; off += 4096)
		assert_int_equal(((unsigned char *)r.hva)[off], 0x5a);
	assert_int_equal(vmem_ram_balloon_deflate(b, pfn, 512), 0);
	/* Taken back: zeros (a new huge page from the pool). */
	for (uint64_t off = 0; off < 2 * MiB; off += 4096)
		assert_int_equal(((unsigned char *)r.hva)[off], 0);
	assert_int_equal(hugepages_free(), free0);
	/* The second huge page by a free page report of 2 MiB. */
	rg = (struct vmem_bch_range){ .gpa = (1ull << 30) + 2 * MiB, .len = 2 * MiB };
	assert_int_equal(vmem_ram_balloon_report_free(b, &rg, 1), 0);
	assert_int_equal(hugepages_free(), free0 + 1);
	vmem_ram_balloon_destroy(b);
	vmem_guest_ram_destroy(ram);
}

#define HUGEPAGES_KNOB "/proc/sys/vm/nr_hugepages"
static long hugepages_before = -1;

/* The pool is raised by two pages for the test and put back after, failed or not. */
static int restore_hugepages(void **state)
{
	(void)state;
	if (hugepages_before >= 0)
		write_long(HUGEPAGES_KNOB, hugepages_before);
	hugepages_before = -1;
	return 0;
}

static void test_hugetlb_whole_pages_only(void **state)
{
	long before = read_long(HUGEPAGES_KNOB);

	(void)state;
	if (before < 0 || !write_long(HUGEPAGES_KNOB, before + 2) ||
	    read_long(HUGEPAGES_KNOB) != before + 2) {
		write_long(HUGEPAGES_KNOB, before);
		printf("SKIP: test_hugetlb_whole_pages_only: cannot raise vm.nr_hugepages by 2 "
		       "(needs root)\n");
		skip();
	}
	hugepages_before = before;
	hugetlb_case(VMEM_RAM_ANON);
	hugetlb_case(VMEM_RAM_MEMFD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anon_inflate_deflate_cycles_free_and_zero_pages),
		cmocka_unit_test(test_memfd_inflate_punches_holes_in_the_file),
		cmocka_unit_test(test_bad_requests_rejected_and_nothing_changes),
		cmocka_unit_test(test_free_page_reporting_drops_without_ballooning),
		cmocka_unit_test(test_stats_target_and_actual),
		cmocka_unit_test(test_config_errors_named),
		cmocka_unit_test(test_concurrent_rewrite_all_or_nothing),
		cmocka_unit_test_teardown(test_hugetlb_whole_pages_only, restore_hugepages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
