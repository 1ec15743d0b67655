/*
 * Snapshots of live processes' pages as VMEM_REC_CONTENT records (vmem/capture.h).
 *
 * /proc/PID/maps lists the mappings; for each readable one, /proc/PID/pagemap (8 bytes a
 * page: bit 63 present, bit 62 swapped) says which pages the process has touched, and
 * /proc/PID/mem gives their bytes, each run of touched pages read with one pread(2), and
 * page by page when that fails, so that one unreadable page costs only itself. Each page is
 * hashed with XXH3-64 (libxxhash) and compressed with LZ4_compress_default (liblz4) for
 * its class.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#include <xxhash.h>

#include "vmem/capture.h"

#define PAGE   4096u
#define CHUNK  512u                       /* pages looked at together */
/* Larger mappings are skipped: sanitizer shadow memory and address-space reservations
 * span terabytes, which even their pagemap entries would take minutes to read. */
#define MAX_MAPPING (1ull << 36)
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)

void vmem_capture_opts_default(struct vmem_capture_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_pages = VMEM_CAPTURE_MAX_PAGES_DEFAULT;
}

static bool all_zero(const unsigned char *p)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;

	for (unsigned i = 0; i < PAGE / 8; i++)
		acc |= q[i];
	return acc == 0;
}

void vmem_content_page(const void *page, uint64_t addr, uint16_t vm, uint32_t asid,
		       struct vmem_trace_rec *out)
{
	/* LZ4_compressBound(4096) is 4096 + 4096/255 + 16. */
	char dst[PAGE + PAGE / 255 + 16];
	uint64_t aligned[PAGE / 8];
	const unsigned char *p = page;
	int z;

	/* all_zero reads 8 bytes at a time: copy an unaligned page first. */
	if ((uintptr_t)page % 8) {
		memcpy(aligned, page, PAGE);
		p = (const unsigned char *)aligned;
	}
	z = LZ4_compress_default((const char *)p, dst, (int)PAGE, (int)sizeof(dst));
	*out = (struct vmem_trace_rec){
		.type = VMEM_REC_CONTENT,
		.prot = all_zero(p) ? VMEM_CONTENT_ZERO : 0,
		.size = (uint8_t)vmem_content_class(z > 0 ? (unsigned)z : PAGE),
		.vm = vm,
		.asid = asid,
		.addr = addr & ~(uint64_t)(PAGE - 1),
		.len = XXH3_64bits(p, PAGE),
	};
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* "permission denied" or strerror's text, for "FILE: reason" messages. */
static const char *reason(int e)
{
	return e == EACCES || e == EPERM ? "permission denied" : strerror(e);
}

struct cap {
	int pid;
	const struct vmem_capture_opts *o;
	struct vmem_trace_writer *w;
	struct vmem_capture_stats *st;
	int mem, pagemap;
	unsigned char *buf;                 /* CHUNK pages */
	uint64_t pm[CHUNK];                 /* their pagemap entries */
	bool take[CHUNK];                   /* which of them to take */
	struct vmem_trace_rec recs[CHUNK];
	char *err;
	size_t errlen;
};

static bool full(const struct cap *c)
{
	return c->o->max_pages && c->st->pages >= c->o->max_pages;
}

/* Hashes and classes the pages [a, a + n * PAGE) just read into buf. */
static void take_run(struct cap *c, uint64_t a, size_t n, size_t *nrec)
{
	for (size_t i = 0; i < n; i++) {
		struct vmem_trace_rec *r = &c->recs[(*nrec)++];

		vmem_content_page(c->buf + i * PAGE, a + i * PAGE, c->o->vm, c->o->asid, r);
		if (r->prot & VMEM_CONTENT_ZERO)
			c->st->pages_zero++;
	}
}

/*
 * Captures [start, end) of one mapping, CHUNK pages at a time: the pagemap entries of
 * the chunk, then each run of pages to take in one pread (page by page if that fails).
 * Returns 0 or a writer error.
 */
static int capture_range(struct cap *c, uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end && !full(c);) {
		uint64_t n = (end - a) / PAGE;
		size_t nrec = 0;
		int rc;

		if (n > CHUNK)
			n = CHUNK;
		if (c->o->max_pages && n > c->o->max_pages - c->st->pages)
			n = c->o->max_pages - c->st->pages;
		for (uint64_t i = 0; i < n; i++)
			c->take[i] = true;
		if (c->pagemap >= 0) {
			ssize_t k = pread(c->pagemap, c->pm, n * 8, (off_t)(a / PAGE * 8));

			for (uint64_t i = 0; i < n; i++) {
				c->take[i] = k >= (ssize_t)((i + 1) * 8) &&
					     (c->pm[i] & (PM_PRESENT | PM_SWAPPED));
				if (!c->take[i])
					c->st->pages_absent++;
			}
		}
		for (uint64_t i = 0; i < n;) {
			uint64_t j = i;

			if (!c->take[i]) {
				i++;
				continue;
			}
			while (j < n && c->take[j])
				j++;
			if (pread(c->mem, c->buf, (j - i) * PAGE, (off_t)(a + i * PAGE)) ==
			    (ssize_t)((j - i) * PAGE)) {
				take_run(c, a + i * PAGE, j - i, &nrec);
			} else {
				/* Some page of the run cannot be read: find which, one by one. */
				for (uint64_t p = i; p < j; p++) {
					if (pread(c->mem, c->buf, PAGE, (off_t)(a + p * PAGE)) ==
					    (ssize_t)PAGE)
						take_run(c, a + p * PAGE, 1, &nrec);
					else
						c->st->pages_unreadable++;
				}
			}
			i = j;
		}
		rc = vmem_trace_write(c->w, c->recs, nrec);
		if (rc < 0)
			return fail(c->err, c->errlen, rc, "%s", vmem_trace_writer_error(c->w));
		c->st->pages += nrec;
		a += n * PAGE;
	}
	return 0;
}

int vmem_capture_process(int pid, const struct vmem_capture_opts *o,
			 struct vmem_trace_writer *w, struct vmem_capture_stats *st,
			 char *err, size_t errlen)
{
	struct vmem_capture_opts def;
	struct vmem_capture_stats dummy;
	struct cap c;
	char path[64], line[4096];
	FILE *maps;
	int rc = 0;

	if (!o) {
		vmem_capture_opts_default(&def);
		o = &def;
	}
	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (!w || pid <= 0)
		return fail(err, errlen, VMEM_EINVAL, "no such process %d", pid);
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "re");
	if (!maps) {
		int e = errno;

		if (e == ENOENT)
			return fail(err, errlen, VMEM_ENOENT, "no such process %d", pid);
		return fail(err, errlen, VMEM_EIO, "%s: %s", path, reason(e));
	}
	memset(&c, 0, sizeof(c));
	c.pid = pid;
	c.o = o;
	c.w = w;
	c.st = st;
	c.err = err;
	c.errlen = errlen;
	c.pagemap = -1;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	c.mem = open(path, O_RDONLY | O_CLOEXEC);
	if (c.mem < 0) {
		int e = errno;

		fclose(maps);
		if (e == ENOENT)
			return fail(err, errlen, VMEM_ENOENT, "no such process %d", pid);
		return fail(err, errlen, VMEM_EIO, "%s: %s", path, reason(e));
	}
	if (!o->all_pages) {
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
		c.pagemap = open(path, O_RDONLY | O_CLOEXEC);
		st->resident_only = c.pagemap >= 0;
	}
	c.buf = malloc(CHUNK * PAGE);
	if (!c.buf) {
		rc = fail(err, errlen, VMEM_ENOMEM, "out of memory");
		goto out;
	}
	/* A read error on maps ends the list early: fgets fails as at its end. */
	while (!full(&c) && fgets(line, sizeof(line), maps)) {
		unsigned long long start, end;
		char perms[8] = "";
		int name_at = 0;
		const char *name;

		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &start, &end, perms,
			   &name_at) < 3)
			continue;
		st->regions++;
		name = name_at ? line + name_at : "";
		if (perms[0] != 'r' || strncmp(name, "[vvar", 5) == 0 ||
		    strncmp(name, "[vsyscall]", 10) == 0 || start >= end ||
		    start >= (1ull << 63) || end - start > MAX_MAPPING) {
			st->regions_skipped++;
			continue;
		}
		rc = capture_range(&c, start, end);
		if (rc < 0)
			goto out;
	}
	if (!feof(maps) && !full(&c) && ferror(maps)) {
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
		rc = fail(err, errlen, VMEM_EIO, "%s: %s", path, reason(errno));
		goto out;
	}
	st->truncated = full(&c);
out:
	free(c.buf);
	if (c.pagemap >= 0)
		close(c.pagemap);
	close(c.mem);
	fclose(maps);
	return rc;
}
