/*
 * Minimal replay loops: the least work a replay of each mode needs per record, written
 * inline, as the baseline that library replay is measured against (bench_replay.c).
 *
 * Per record: read(2) into a 1 MiB buffer, decode the 16-byte .vmt record (uncompressed
 * .vmt only), then translate its page (and the next one for an access that crosses a
 * page boundary):
 *   - a last-page memo per L1 (data, instruction), as the library keeps;
 *   - the L1 4 KiB TLB of the access type and the STLB, inline LRU caches of the default
 *     geometry (data 64 entries 4-way, instruction 128 8-way, STLB 1536 12-way), LRU by
 *     a per-line stamp (O(ways));
 *   - on an STLB miss a radix walk over tables laid out as hardware lays them, 4 KiB
 *     pages of 512 8-byte entries, the next table found from the entry (frame number =
 *     index of the page in a pool): native n = 4 reads; nested the 2D walk, each of the
 *     4 guest table addresses and the final guest-physical address translated through a
 *     4-level host table first, (n+1)(m+1)-1 = 24 reads. Pages and tables are created
 *     on first touch, frames handed out in sequence.
 * What it leaves out, because a minimal replay of these traces needs none of it: page
 * sizes other than 4 KiB, permission checks, contexts (one address space), walk caches,
 * the nested TLB, statistics beyond hit counts, unmap and protect records (skipped).
 */
#ifndef BENCH_MINIMAL_LOOPS_H
#define BENCH_MINIMAL_LOOPS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_READ_BYTES (1u << 20)
#define MIN_VMT_HEADER 32

/* An LRU set-associative cache of vpn -> frame; key 0 marks an invalid line (keys are
 * vpn + 1). */
struct min_cache {
	uint64_t *key, *val, *stamp;
	uint64_t set_mask, clock;
	unsigned ways;
};

/* Radix tables: pool page k is the table page of frame number k. */
struct min_pool {
	uint64_t (*page)[512];
	uint64_t n, cap;
};

struct min_machine {
	bool nested;
	uint64_t memo_vpn[2], memo_val[2];   /* [ifetch]; vpn ~0: empty */
	struct min_cache l1[2], l2;          /* l1[0] data, l1[1] instruction */
	struct min_pool gpt, hpt;            /* native or guest tables; host tables */
	uint64_t groot, hroot;
	uint64_t next_frame;                 /* next data frame (guest frame when nested) */
	uint64_t next_hframe;                /* next host frame of a guest frame (nested) */
	uint64_t l1_hits, l2_hits, walks;
	unsigned char *buf;
};

static void min_die(const char *what)
{
	fprintf(stderr, "bench_replay: minimal loop: %s\n", what);
	exit(1);
}

static void min_cache_init(struct min_cache *c, unsigned entries, unsigned ways)
{
	c->ways = ways;
	c->set_mask = entries / ways - 1;
	c->clock = 0;
	c->key = calloc(entries, sizeof(*c->key));
	c->val = calloc(entries, sizeof(*c->val));
	c->stamp = calloc(entries, sizeof(*c->stamp));
	if (!c->key || !c->val || !c->stamp)
		min_die("out of memory");
}

static void min_cache_free(struct min_cache *c)
{
	free(c->key);
	free(c->val);
	free(c->stamp);
}

static inline bool min_cache_lookup(struct min_cache *c, uint64_t vpn, uint64_t *val)
{
	size_t base = (size_t)(vpn & c->set_mask) * c->ways;
	const uint64_t *k = c->key + base;

	for (unsigned w = 0; w < c->ways; w++) {
		if (k[w] == vpn + 1) {
			c->stamp[base + w] = ++c->clock;
			*val = c->val[base + w];
			return true;
		}
	}
	return false;
}

/* Fills a line known to be absent: the first invalid way, else the least recent. */
static inline void min_cache_fill(struct min_cache *c, uint64_t vpn, uint64_t val)
{
	size_t base = (size_t)(vpn & c->set_mask) * c->ways;
	unsigned victim = 0;

	for (unsigned w = 0; w < c->ways; w++) {
		if (c->key[base + w] == 0) {
			victim = w;
			break;
		}
		if (c->stamp[base + w] < c->stamp[base + victim])
			victim = w;
	}
	c->key[base + victim] = vpn + 1;
	c->val[base + victim] = val;
	c->stamp[base + victim] = ++c->clock;
}

static uint64_t min_pool_new(struct min_pool *p)
{
	if (p->n == p->cap) {
		uint64_t cap = p->cap ? 2 * p->cap : 64;
		void *n = realloc(p->page, cap * sizeof(*p->page));

		if (!n)
			min_die("out of memory");
		p->page = n;
		p->cap = cap;
	}
	memset(p->page[p->n], 0, sizeof(p->page[0]));
	return p->n++;
}

/* One 4-level walk of vpn from table `root`: 4 reads; missing tables and the leaf are
 * made on the way (the leaf's frame from *next). Returns the frame number. */
static inline uint64_t min_walk(struct min_pool *p, uint64_t root, uint64_t vpn, uint64_t *next)
{
	uint64_t t = root;

	for (int shift = 27; shift > 0; shift -= 9) {
		unsigned i = (unsigned)(vpn >> shift) & 511u;
		uint64_t e = p->page[t][i];

		if (!e) {
			e = (min_pool_new(p) << 12) | 1;
			p->page[t][i] = e;
		}
		t = e >> 12;
	}
	if (!p->page[t][vpn & 511])
		p->page[t][vpn & 511] = ((*next)++ << 12) | 1;
	return p->page[t][vpn & 511] >> 12;
}

/* The 2D walk: each guest table's frame and the final guest frame through the host
 * table (4 reads each), the 4 guest entries between them: 24 reads. */
static inline uint64_t min_walk_2d(struct min_machine *mm, uint64_t vpn)
{
	uint64_t t = mm->groot, gfn;

	for (int shift = 27; shift >= 0; shift -= 9) {
		unsigned i = (unsigned)(vpn >> shift) & 511u;
		uint64_t e;

		/* A guest table's frame number is its pool index; data frames are numbered
		 * from 1 << 32 on, apart from them. */
		min_walk(&mm->hpt, mm->hroot, t, &mm->next_hframe);
		e = mm->gpt.page[t][i];
		if (!e) {
			e = ((shift ? min_pool_new(&mm->gpt) : mm->next_frame++) << 12) | 1;
			mm->gpt.page[t][i] = e;
		}
		t = e >> 12;
	}
	gfn = t;
	return min_walk(&mm->hpt, mm->hroot, gfn, &mm->next_hframe);
}

static inline uint64_t min_translate(struct min_machine *mm, uint64_t vpn, bool ifetch)
{
	struct min_cache *l1 = &mm->l1[ifetch];
	uint64_t v;

	if (mm->memo_vpn[ifetch] == vpn)
		return mm->memo_val[ifetch];
	if (min_cache_lookup(l1, vpn, &v)) {
		mm->l1_hits++;
	} else {
		if (min_cache_lookup(&mm->l2, vpn, &v)) {
			mm->l2_hits++;
		} else {
			mm->walks++;
			v = mm->nested ? min_walk_2d(mm, vpn) :
					 min_walk(&mm->gpt, mm->groot, vpn, &mm->next_frame);
			min_cache_fill(&mm->l2, vpn, v);
		}
		min_cache_fill(l1, vpn, v);
	}
	mm->memo_vpn[ifetch] = vpn;
	mm->memo_val[ifetch] = v;
	return v;
}

static void min_machine_init(struct min_machine *mm, bool nested)
{
	memset(mm, 0, sizeof(*mm));
	mm->nested = nested;
	mm->memo_vpn[0] = mm->memo_vpn[1] = ~0ull;
	min_cache_init(&mm->l1[0], 64, 4);
	min_cache_init(&mm->l1[1], 128, 8);
	min_cache_init(&mm->l2, 1536, 12);
	mm->groot = min_pool_new(&mm->gpt);
	if (nested)
		mm->hroot = min_pool_new(&mm->hpt);
	mm->next_frame = nested ? 1ull << 32 : 0;
	mm->buf = malloc(MIN_READ_BYTES);
	if (!mm->buf)
		min_die("out of memory");
}

static void min_machine_free(struct min_machine *mm)
{
	min_cache_free(&mm->l1[0]);
	min_cache_free(&mm->l1[1]);
	min_cache_free(&mm->l2);
	free(mm->gpt.page);
	free(mm->hpt.page);
	free(mm->buf);
}

static inline uint64_t min_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));   /* .vmt is little-endian, as is the x86-64 host */
	return v;
}

/*
 * One pass over an uncompressed .vmt file; returns the records read and adds the frames
 * of the translations to *sink (so that no translation can be left out).
 */
static uint64_t min_pass(const char *path, struct min_machine *mm, uint64_t *sink)
{
	static const unsigned char magic[8] = { 0x89, 'V', 'M', 'T', '\r', '\n', 0x1a, '\n' };
	unsigned char *buf = mm->buf;
	uint64_t records = 0, sum = 0;
	size_t have = 0;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		min_die("cannot open the trace");
	if (read(fd, buf, MIN_VMT_HEADER) != MIN_VMT_HEADER || memcmp(buf, magic, 8) != 0 ||
	    (buf[10] | buf[11]) != 0)
		min_die("expected an uncompressed .vmt trace");
	while ((n = read(fd, buf + have, MIN_READ_BYTES - have)) > 0) {
		const unsigned char *p = buf, *end = buf + have + (size_t)n;

		while (end - p >= 24 || (end - p >= 16 && (p[0] & 15) < 3)) {
			unsigned type = p[0] & 15;

			if (type == 0) {
				uint64_t addr = min_le64(p + 8), vpn = addr >> 12;
				bool ifetch = (p[0] >> 4) == 2;

				sum += min_translate(mm, vpn, ifetch);
				if ((addr & 0xfff) + p[1] > 0x1000)
					sum += min_translate(mm, vpn + 1, ifetch);
			}
			p += type < 3 ? 16 : 24;
			records++;
		}
		have = (size_t)(end - p);
		memmove(buf, p, have);
	}
	close(fd);
	if (n < 0 || have != 0)
		min_die("read error or a cut record");
	*sink += sum;
	return records;
}

#endif
