/*
 * bench_balloon: the balloon over guest RAM on real memory (bench/run.sh runs it).
 *
 *   inflate          every page of a filled region goes into the balloon, in a shuffled
 *                    order (a guest's page allocator hands its balloon driver pages in no
 *                    particular order), 256 pages a request (Linux's virtio-balloon sends
 *                    VIRTIO_BALLOON_ARRAY_PFNS_MAX = 256 pfns a time):
 *                    (a) bare: madvise(MADV_DONTNEED) page by page in the same order, the
 *                        least a host can do for a balloon;
 *                    (b) the channel: the guest's side writes each request into guest RAM
 *                        and rings the doorbell (vmem_ram_balloon_port_out), which copies,
 *                        checks, measures (mincore) and drops;
 *                    (c) the direct call (vmem_ram_balloon_inflate) with the same lists.
 *                    pages/s, and the ratio of the times, channel over bare.
 *   deflate+refault  the balloon gives every page back (256 a request) and the guest writes
 *                    each once, against writing the same dropped pages with no balloon.
 * Both for an anonymous region and a memfd one (bare: fallocate(PUNCH_HOLE) page by page).
 * Best of --runs runs; prints `key value` lines.
 *
 * usage: bench_balloon [--mib N] [--runs N]
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "vmem/ram_balloon.h"

#define PAGE 4096ull
#define BATCH 256u
#define REQ_GPA 0x10000ull                   /* requests live in region 0 */
#define BALLOON_GPA (1ull << 20)             /* region 1 starts at 1 MiB */

static void fatal(const char *what, const char *detail)
{
	fprintf(stderr, "bench_balloon: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct setup {
	struct vmem_guest_ram *ram;
	struct vmem_ram_region r;
	uint64_t pages;
	uint64_t *order;                     /* pfns, shuffled */
};

static void make(struct setup *s, uint64_t mib, enum vmem_ram_backing backing)
{
	struct vmem_ram_region_config c;
	char err[256];
	uint64_t x = 88172645463325252ull;  /* xorshift64, fixed seed */

	if (vmem_guest_ram_create(&s->ram))
		fatal("vmem_guest_ram_create", NULL);
	vmem_ram_region_config_default(&c);
	c.size = 1ull << 20;
	if (vmem_guest_ram_add(s->ram, &c, NULL, err, sizeof(err)))
		fatal("region 0", err);
	c.gpa = BALLOON_GPA;
	c.size = mib << 20;
	c.backing = backing;
	if (vmem_guest_ram_add(s->ram, &c, NULL, err, sizeof(err)))
		fatal("region 1", err);
	vmem_guest_ram_region(s->ram, 1, &s->r);
	s->pages = s->r.size / PAGE;
	s->order = malloc(s->pages * sizeof(*s->order));
	if (!s->order)
		fatal("out of memory", NULL);
	for (uint64_t i = 0; i < s->pages; i++)
		s->order[i] = (BALLOON_GPA >> 12) + i;
	for (uint64_t i = s->pages - 1; i > 0; i--) {
		uint64_t j, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = x % (i + 1);
		t = s->order[i];
		s->order[i] = s->order[j];
		s->order[j] = t;
	}
}

static void touch_all(struct setup *s)
{
	for (uint64_t i = 0; i < s->pages; i++)
		((volatile uint64_t *)((char *)s->r.hva + i * PAGE))[0] = i + 1;
}

static char *page_hva(struct setup *s, uint64_t pfn)
{
	return (char *)s->r.hva + ((pfn << 12) - BALLOON_GPA);
}

/* (a): seconds to drop every page one call each, in the shuffled order. */
static double bare_drop(struct setup *s)
{
	double t0 = now();

	for (uint64_t i = 0; i < s->pages; i++) {
		char *p = page_hva(s, s->order[i]);
		int rc;

		if (s->r.backing == VMEM_RAM_MEMFD)
			rc = fallocate(s->r.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       (off_t)((s->order[i] << 12) - BALLOON_GPA), PAGE);
		else
			rc = madvise(p, PAGE, MADV_DONTNEED);
		if (rc)
			fatal("bare drop", NULL);
	}
	return now() - t0;
}

/* The guest's side: requests of up to 256 pfns written at REQ_GPA, each with a doorbell. */
static double channel(struct setup *s, struct vmem_ram_balloon *b, uint16_t op)
{
	char *req = vmem_guest_ram_gpa_to_hva(s->ram, REQ_GPA);
	double t0 = now();

	for (uint64_t i = 0; i < s->pages; i += BATCH) {
		uint32_t n = (uint32_t)(s->pages - i < BATCH ? s->pages - i : BATCH);
		struct vmem_bch_request h = { .magic = VMEM_BCH_MAGIC, .op = op, .count = n };
		uint32_t *e = (uint32_t *)(req + sizeof(h));
		int rc;

		memcpy(req, &h, sizeof(h));
		for (uint32_t k = 0; k < n; k++)
			e[k] = (uint32_t)s->order[i + k];
		rc = vmem_ram_balloon_port_out(b, VMEM_BCH_PORT_DOORBELL, 4,
					       (uint32_t)(REQ_GPA >> 12));
		if (rc)
			fatal("doorbell", vmem_strerror(rc));
	}
	return now() - t0;
}

/* (c): the same lists through the direct call. */
static double direct(struct setup *s, struct vmem_ram_balloon *b)
{
	double t0 = now();

	for (uint64_t i = 0; i < s->pages; i += BATCH) {
		size_t n = s->pages - i < BATCH ? (size_t)(s->pages - i) : BATCH;
		int rc = vmem_ram_balloon_inflate(b, s->order + i, n);

		if (rc)
			fatal("vmem_ram_balloon_inflate", vmem_strerror(rc));
	}
	return now() - t0;
}

static struct vmem_ram_balloon *new_balloon(struct setup *s)
{
	struct vmem_ram_balloon_config c;
	struct vmem_ram_balloon *b;
	char err[256];

	vmem_ram_balloon_config_default(&c);
	c.regions = 0x2;
	if (vmem_ram_balloon_create(s->ram, &c, &b, err, sizeof(err)))
		fatal("vmem_ram_balloon_create", err);
	return b;
}

static double min2(double a, double b)
{
	return a < b ? a : b;
}

static void run(const char *name, uint64_t mib, enum vmem_ram_backing backing, int runs)
{
	double bare = 1e9, chan = 1e9, dir = 1e9, refault_bare = 1e9, defl_refault = 1e9;
	uint64_t given = 0;
	struct setup s;

	make(&s, mib, backing);
	for (int r = 0; r < runs; r++) {
		struct vmem_ram_balloon *b;
		struct vmem_ram_balloon_stats st;
		double t0;

		touch_all(&s);
		bare = min2(bare, bare_drop(&s));
		t0 = now();
		touch_all(&s);                       /* refault of dropped pages, no balloon */
		refault_bare = min2(refault_bare, now() - t0);

		b = new_balloon(&s);
		chan = min2(chan, channel(&s, b, VMEM_BCH_INFLATE));
		vmem_ram_balloon_stats(b, &st);
		given = st.bytes_given_back;
		t0 = now();
		channel(&s, b, VMEM_BCH_DEFLATE);
		touch_all(&s);
		defl_refault = min2(defl_refault, now() - t0);
		vmem_ram_balloon_destroy(b);

		b = new_balloon(&s);
		dir = min2(dir, direct(&s, b));
		vmem_ram_balloon_destroy(b);
	}
	printf("balloon.%s.pages %" PRIu64 "\n", name, s.pages);
	printf("balloon.%s.inflate_bare_pages_per_s %.0f\n", name, (double)s.pages / bare);
	printf("balloon.%s.inflate_channel_pages_per_s %.0f\n", name, (double)s.pages / chan);
	printf("balloon.%s.inflate_direct_pages_per_s %.0f\n", name, (double)s.pages / dir);
	printf("balloon.%s.inflate_channel_over_bare_time %.2f\n", name, chan / bare);
	printf("balloon.%s.given_back_mib %.1f\n", name, (double)given / (1 << 20));
	printf("balloon.%s.refault_bare_pages_per_s %.0f\n", name, (double)s.pages / refault_bare);
	printf("balloon.%s.deflate_refault_pages_per_s %.0f\n", name,
	       (double)s.pages / defl_refault);
	printf("balloon.%s.deflate_refault_over_bare_time %.2f\n", name, defl_refault / refault_bare);
	free(s.order);
	vmem_guest_ram_destroy(s.ram);
}

int main(int argc, char **argv)
{
	uint64_t mib = 64;
	int runs = 3;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (i + 1 < argc && strcmp(argv[i], "--mib") == 0) {
			mib = strtoull(argv[++i], &end, 10);
			if (*end || mib < 1 || mib > 65536)
				fatal("--mib: expected 1 to 65536", argv[i]);
		} else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0) {
			runs = (int)strtol(argv[++i], &end, 10);
			if (*end || runs < 1 || runs > 1000)
				fatal("--runs: expected 1 to 1000", argv[i]);
		} else {
			fprintf(stderr, "usage: bench_balloon [--mib N] [--runs N]\n");
			return 2;
		}
	}
	printf("balloon: %" PRIu64 " MiB, 256 pages a request, shuffled order, best of %d runs\n",
	       mib, runs);
	run("anon", mib, VMEM_RAM_ANON, runs);
	run("memfd", mib, VMEM_RAM_MEMFD, runs);
	return 0;
}
