/*
 * The snapshot file format (layout in snapshot_internal.h and docs/BACKEND.md): writing it,
 * and reading it back with every field validated, since a snapshot file is input from
 * outside (it may be truncated, corrupt or hostile).
 *
 * What a reader checks, in this order, each failure one line naming the file, the offset
 * and what was expected: a regular file of at least the 64-byte header; the magic, the
 * version, the page size, the reserved word; a parent path length below 4096 that is 0
 * exactly when the parent id is 0; a page count of 1 to 2^28 (1 TiB) and a data page count
 * whose metadata fits in the file; the file's size, exactly metadata plus data pages; the
 * metadata's checksum; every kind byte (0, 1, or 2 only with a parent) and the number of
 * data kinds against the header. Allocations are bounded by the file's size and 2^28
 * pages. A chain is followed parent by parent: each parent must have the id and page count
 * its child names, no file may appear twice (same device and inode: a loop), and a chain
 * holds at most VMEM_SNAPSHOT_MAX_CHAIN files. Data pages are checked against their xxh3
 * checksum when they are read (snap_chain_verify), not here: a lazy restore reads only what
 * the guest touches.
 *
 * Parents are opened O_NONBLOCK, so that a path naming a FIFO cannot hang the reader
 * before fstat says it is not a regular file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "backend/backend_internal.h"
#include "backend/snapshot_internal.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the snapshot format is little-endian; this reader assumes a little-endian host"
#endif

/* Field offsets in the header. */
enum {
	OFF_MAGIC = 0, OFF_VERSION = 8, OFF_PAGE_SIZE = 12, OFF_PAGES = 16, OFF_DATA_PAGES = 24,
	OFF_ID = 32, OFF_PARENT_ID = 40, OFF_PARENT_LEN = 48, OFF_RESERVED = 52, OFF_SUM = 56,
};

/* Working-set header offsets. */
enum {
	WS_OFF_MAGIC = 0, WS_OFF_VERSION = 8, WS_OFF_PAGE_SIZE = 12, WS_OFF_ID = 16,
	WS_OFF_COUNT = 24, WS_OFF_DATA_PAGES = 32, WS_OFF_PAGES = 40, WS_OFF_RESERVED = 48,
	WS_OFF_SUM = 56,
};

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint64_t align_page(uint64_t x)
{
	return (x + SNAP_PAGE - 1) & ~(uint64_t)(SNAP_PAGE - 1);
}

uint64_t snap_page_sum(const void *page)
{
	return XXH3_64bits(page, SNAP_PAGE);
}

int snap_pread(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t k = pread(fd, p, len, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO;
		p += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t k = pwrite(fd, p, len, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO;
		p += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* The metadata's checksum, its own field counted as zero (the field is zeroed for the
 * hash and put back). */
static uint64_t meta_sum(unsigned char *meta, uint64_t len, unsigned sum_off)
{
	unsigned char saved[8];
	uint64_t h;

	memcpy(saved, meta + sum_off, 8);
	memset(meta + sum_off, 0, 8);
	h = XXH3_64bits(meta, (size_t)len);
	memcpy(meta + sum_off, saved, 8);
	return h;
}

/* Metadata bytes of a snapshot file: header, path, kinds, padding to 8, checksums. */
static uint64_t meta_bytes(uint64_t parent_len, uint64_t pages, uint64_t data_pages)
{
	uint64_t k = SNAP_HEADER_BYTES + parent_len + pages;

	return ((k + 7) & ~7ull) + 8 * data_pages;
}

/* ---- Writing ---- */

int snap_file_write(int fd, const char *path, uint64_t pages, const uint8_t *kinds,
		    uint64_t data_pages, const uint64_t *sums, uint64_t id,
		    const char *parent_name, uint64_t parent_id,
		    const void *(*data)(void *ctx, uint64_t page), void *ctx, char *err,
		    size_t errlen)
{
	size_t plen = parent_name ? strlen(parent_name) : 0;
	uint64_t mlen = meta_bytes(plen, pages, data_pages);
	uint64_t data_offset = align_page(mlen);
	unsigned char *meta = calloc(1, data_offset);
	uint64_t sums_at = (SNAP_HEADER_BYTES + plen + pages + 7) & ~7ull;
	uint64_t rank = 0;
	int rc;

	if (!meta) {
		backend_errf(err, errlen, "%s: no memory for %" PRIu64 " bytes of metadata", path,
			     data_offset);
		return VMEM_ENOMEM;
	}
	memcpy(meta + OFF_MAGIC, SNAP_MAGIC, 8);
	put32(meta + OFF_VERSION, VMEM_SNAPSHOT_VERSION);
	put32(meta + OFF_PAGE_SIZE, SNAP_PAGE);
	put64(meta + OFF_PAGES, pages);
	put64(meta + OFF_DATA_PAGES, data_pages);
	put64(meta + OFF_ID, id);
	put64(meta + OFF_PARENT_ID, parent_id);
	put32(meta + OFF_PARENT_LEN, (uint32_t)plen);
	if (plen)
		memcpy(meta + SNAP_HEADER_BYTES, parent_name, plen);
	memcpy(meta + SNAP_HEADER_BYTES + plen, kinds, pages);
	memcpy(meta + sums_at, sums, 8 * data_pages);
	put64(meta + OFF_SUM, meta_sum(meta, mlen, OFF_SUM));
	rc = pwrite_all(fd, meta, data_offset, 0);
	free(meta);
	/* Data pages in runs of pages consecutive in memory and in the file. */
	for (uint64_t i = 0; rc == 0 && i < pages;) {
		uint64_t n = 0;
		const char *first;

		if (kinds[i] != SNAP_KIND_DATA) {
			i++;
			continue;
		}
		first = data(ctx, i);
		while (i + n < pages && kinds[i + n] == SNAP_KIND_DATA &&
		       data(ctx, i + n) == first + n * SNAP_PAGE && n < 4096)
			n++;
		rc = pwrite_all(fd, first, n * SNAP_PAGE, data_offset + rank * SNAP_PAGE);
		rank += n;
		i += n;
	}
	if (rc) {
		backend_errf(err, errlen, "%s: write failed: %s", path, strerror(-rc));
		return VMEM_EIO;
	}
	return 0;
}

/* ---- Reading ---- */

#define BAD(...) (backend_errf(err, errlen, __VA_ARGS__), VMEM_EFORMAT)

static int open_regular(const char *path, int *fd, struct stat *sb, char *err, size_t errlen)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0) {
		backend_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return VMEM_EIO;
	}
	if (fstat(*fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
		close(*fd);
		*fd = -1;
		return BAD("%s: offset 0: expected a regular file", path);
	}
	fcntl(*fd, F_SETFL, 0);
	return 0;
}

static void file_close(struct snap_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->kinds);
	free(f->sums);
	free(f->parent);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

/* Opens and validates one snapshot file (everything but its data pages). */
static int file_open(struct snap_file *f, const char *path, uint64_t *bytes_read, char *err,
		     size_t errlen)
{
	unsigned char h[SNAP_HEADER_BYTES];
	unsigned char *meta = NULL;
	struct stat sb;
	uint64_t plen, mlen, sums_at, count = 0;
	uint32_t v;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->path = strdup(path);
	if (!f->path)
		return VMEM_ENOMEM;
	rc = open_regular(path, &f->fd, &sb, err, errlen);
	if (rc)
		return rc;
	f->bytes = (uint64_t)sb.st_size;
	f->dev = (uint64_t)sb.st_dev;
	f->ino = (uint64_t)sb.st_ino;
	if (f->bytes < SNAP_HEADER_BYTES)
		return BAD("%s: offset 0: truncated: expected a %u-byte header, the file has %"
			   PRIu64 " bytes", path, SNAP_HEADER_BYTES, f->bytes);
	rc = snap_pread(f->fd, h, sizeof(h), 0);
	if (rc) {
		backend_errf(err, errlen, "%s: offset 0: read failed: %s", path, strerror(-rc));
		return VMEM_EIO;
	}
	*bytes_read += sizeof(h);
	if (memcmp(h + OFF_MAGIC, SNAP_MAGIC, 8) != 0)
		return BAD("%s: offset 0: bad magic: expected \"" SNAP_MAGIC "\" (a vmem snapshot)",
			   path);
	v = get32(h + OFF_VERSION);
	if (v != VMEM_SNAPSHOT_VERSION)
		return BAD("%s: offset %d: version %" PRIu32 ": expected %d", path, OFF_VERSION, v,
			   VMEM_SNAPSHOT_VERSION);
	v = get32(h + OFF_PAGE_SIZE);
	if (v != SNAP_PAGE)
		return BAD("%s: offset %d: page size %" PRIu32 ": expected %u", path,
			   OFF_PAGE_SIZE, v, SNAP_PAGE);
	v = get32(h + OFF_RESERVED);
	if (v != 0)
		return BAD("%s: offset %d: reserved word %" PRIu32 ": expected 0", path,
			   OFF_RESERVED, v);
	f->pages = get64(h + OFF_PAGES);
	f->data_pages = get64(h + OFF_DATA_PAGES);
	f->id = get64(h + OFF_ID);
	f->parent_id = get64(h + OFF_PARENT_ID);
	plen = get32(h + OFF_PARENT_LEN);
	if (f->id == 0)
		return BAD("%s: offset %d: snapshot id 0: expected a non-zero id", path, OFF_ID);
	if (plen > SNAP_PATH_MAX)
		return BAD("%s: offset %d: parent path of %" PRIu64 " bytes: expected at most %u",
			   path, OFF_PARENT_LEN, plen, SNAP_PATH_MAX);
	if ((plen == 0) != (f->parent_id == 0))
		return BAD("%s: offset %d: parent path of %" PRIu64 " bytes with parent id %#"
			   PRIx64 ": expected both or neither", path, OFF_PARENT_LEN, plen,
			   f->parent_id);
	if (f->pages == 0 || f->pages > SNAP_MAX_PAGES)
		return BAD("%s: offset %d: %" PRIu64 " pages: expected 1 to %llu", path, OFF_PAGES,
			   f->pages, SNAP_MAX_PAGES);
	if (f->data_pages > f->pages)
		return BAD("%s: offset %d: %" PRIu64 " data pages: expected at most the %" PRIu64
			   " pages", path, OFF_DATA_PAGES, f->data_pages, f->pages);
	mlen = meta_bytes(plen, f->pages, f->data_pages);
	f->data_offset = align_page(mlen);
	if (mlen > f->bytes)
		return BAD("%s: offset %" PRIu64 ": truncated: expected %" PRIu64
			   " bytes of metadata for %" PRIu64 " pages, the file has %" PRIu64,
			   path, f->bytes, mlen, f->pages, f->bytes);
	if (f->bytes != f->data_offset + f->data_pages * SNAP_PAGE)
		return BAD("%s: offset %" PRIu64 ": file size %" PRIu64 ": expected %" PRIu64
			   " (metadata to %" PRIu64 ", then %" PRIu64 " data pages)", path,
			   f->bytes < f->data_offset + f->data_pages * SNAP_PAGE ? f->bytes :
			   f->data_offset + f->data_pages * SNAP_PAGE, f->bytes,
			   f->data_offset + f->data_pages * SNAP_PAGE, f->data_offset,
			   f->data_pages);
	meta = malloc(mlen);
	f->kinds = malloc(f->pages);
	f->sums = malloc(f->data_pages ? 8 * f->data_pages : 1);
	if (!meta || !f->kinds || !f->sums) {
		free(meta);
		backend_errf(err, errlen, "%s: no memory for %" PRIu64 " bytes of metadata", path,
			     mlen);
		return VMEM_ENOMEM;
	}
	rc = snap_pread(f->fd, meta, mlen, 0);
	if (rc) {
		free(meta);
		backend_errf(err, errlen, "%s: offset 0: read of %" PRIu64 " bytes failed: %s",
			     path, mlen, strerror(-rc));
		return VMEM_EIO;
	}
	*bytes_read += mlen;
	if (meta_sum(meta, mlen, OFF_SUM) != get64(meta + OFF_SUM)) {
		free(meta);
		return BAD("%s: offset %d: metadata checksum %#" PRIx64 ": expected the xxh3 of "
			   "bytes 0-%" PRIu64 " (the header or page table is corrupt)", path,
			   OFF_SUM, get64(h + OFF_SUM), mlen);
	}
	if (plen) {
		if (memchr(meta + SNAP_HEADER_BYTES, 0, plen)) {
			free(meta);
			return BAD("%s: offset %u: parent path holds a NUL byte: expected a path",
				   path, SNAP_HEADER_BYTES);
		}
		f->parent = strndup((const char *)meta + SNAP_HEADER_BYTES, plen);
		if (!f->parent) {
			free(meta);
			return VMEM_ENOMEM;
		}
	}
	memcpy(f->kinds, meta + SNAP_HEADER_BYTES + plen, f->pages);
	sums_at = (SNAP_HEADER_BYTES + plen + f->pages + 7) & ~7ull;
	memcpy(f->sums, meta + sums_at, 8 * f->data_pages);
	free(meta);
	for (uint64_t i = 0; i < f->pages; i++) {
		uint8_t k = f->kinds[i];

		if (k > SNAP_KIND_PARENT || (k == SNAP_KIND_PARENT && !f->parent))
			return BAD("%s: offset %" PRIu64 ": page %" PRIu64 " of kind %u: expected 0 "
				   "(zero), 1 (data)%s", path, SNAP_HEADER_BYTES + plen + i, i, k,
				   f->parent ? " or 2 (parent)" : "");
		count += k == SNAP_KIND_DATA;
	}
	if (count != f->data_pages)
		return BAD("%s: offset %d: %" PRIu64 " data pages: expected %" PRIu64
			   " (the data kinds of the page table)", path, OFF_DATA_PAGES,
			   f->data_pages, count);
	return 0;
}

/* The parent's path: as stored if absolute, else relative to the child's directory. */
static char *parent_path(const struct snap_file *child)
{
	char *copy, *dir, *out;
	size_t len;

	if (child->parent[0] == '/')
		return strdup(child->parent);
	copy = strdup(child->path);
	if (!copy)
		return NULL;
	dir = dirname(copy);
	len = strlen(dir) + 1 + strlen(child->parent) + 1;
	out = malloc(len);
	if (out)
		snprintf(out, len, "%s/%s", dir, child->parent);
	free(copy);
	return out;
}

void snap_chain_close(struct snap_chain *c)
{
	for (unsigned k = 0; k < c->n; k++)
		file_close(&c->f[k]);
	free(c->src);
	free(c->rank);
	memset(c, 0, sizeof(*c));
}

int snap_chain_open(struct snap_chain *c, const char *path, char *err, size_t errlen)
{
	uint64_t ranks[VMEM_SNAPSHOT_MAX_CHAIN] = { 0 };
	char perr[1024];
	int rc;

	memset(c, 0, sizeof(*c));
	for (;;) {
		struct snap_file *f = &c->f[c->n];
		char *next = NULL;

		if (c->n == 0) {
			rc = file_open(f, path, &c->bytes_read, err, errlen);
		} else {
			struct snap_file *child = &c->f[c->n - 1];

			next = parent_path(child);
			if (!next) {
				rc = VMEM_ENOMEM;
				goto fail;
			}
			rc = file_open(f, next, &c->bytes_read, perr, sizeof(perr));
			if (rc)
				backend_errf(err, errlen, "%s: offset %u: parent: %s", child->path,
					     SNAP_HEADER_BYTES, perr);
			if (rc == 0 && f->id != child->parent_id)
				rc = BAD("%s: offset %d: snapshot id %#" PRIx64 ": expected %#" PRIx64
					 ", the parent id of %s", next, OFF_ID, f->id,
					 child->parent_id, child->path);
			else if (rc == 0 && f->pages != child->pages)
				rc = BAD("%s: offset %d: %" PRIu64 " pages: expected %" PRIu64
					 ", as its child %s", next, OFF_PAGES, f->pages,
					 child->pages, child->path);
			for (unsigned k = 0; rc == 0 && k < c->n; k++)
				if (c->f[k].dev == f->dev && c->f[k].ino == f->ino)
					rc = BAD("%s: offset %u: parent %s is %s again: expected "
						 "a chain without loops", child->path,
						 SNAP_HEADER_BYTES, child->parent, c->f[k].path);
			free(next);
		}
		c->n++;
		if (rc)
			goto fail;
		if (!f->parent)
			break;
		if (c->n == VMEM_SNAPSHOT_MAX_CHAIN) {
			rc = BAD("%s: offset %u: parent %s would be file %u of the chain: expected at "
				 "most %d", f->path, SNAP_HEADER_BYTES, f->parent, c->n + 1,
				 VMEM_SNAPSHOT_MAX_CHAIN);
			goto fail;
		}
	}
	c->pages = c->f[0].pages;
	c->src = malloc(c->pages);
	c->rank = malloc(c->pages * sizeof(*c->rank));
	if (!c->src || !c->rank) {
		backend_errf(err, errlen, "%s: no memory for the page table of %" PRIu64 " pages",
			     path, c->pages);
		rc = VMEM_ENOMEM;
		goto fail;
	}
	/* Each page from the newest file that does not say "unchanged"; the last file of a
	 * chain has no parent kinds (file_open checked), so every page resolves. */
	for (uint64_t i = 0; i < c->pages; i++) {
		bool found = false;

		c->src[i] = SNAP_SRC_ZERO;
		c->rank[i] = 0;
		for (unsigned k = 0; k < c->n; k++) {
			uint8_t kind = c->f[k].kinds[i];

			if (!found && kind != SNAP_KIND_PARENT) {
				found = true;
				if (kind == SNAP_KIND_DATA) {
					c->src[i] = (uint8_t)k;
					c->rank[i] = (uint32_t)ranks[k];
				}
			}
			ranks[k] += kind == SNAP_KIND_DATA;
		}
	}
	return 0;
fail:
	snap_chain_close(c);
	return rc;
}

int snap_chain_verify(const struct snap_chain *c, uint64_t i, const void *page, char *err,
		      size_t errlen)
{
	const struct snap_file *f = &c->f[c->src[i]];
	uint64_t want = f->sums[c->rank[i]], got = snap_page_sum(page);

	if (got == want)
		return 0;
	return BAD("%s: offset %" PRIu64 ": page %" PRIu64 " has checksum %#" PRIx64
		   ": expected %#" PRIx64, f->path, f->data_offset + (uint64_t)c->rank[i] * SNAP_PAGE,
		   i, got, want);
}

/* ---- Working-set files ---- */

void snap_ws_close(struct snap_ws *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->order);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

int snap_ws_open(struct snap_ws *w, const char *path, const struct snap_chain *c, char *err,
		 size_t errlen)
{
	unsigned char h[SNAP_HEADER_BYTES];
	unsigned char *meta = NULL, *seen = NULL;
	struct stat sb;
	uint64_t bytes, id, pages, mlen, data = 0;
	uint32_t v;
	int rc;

	memset(w, 0, sizeof(*w));
	rc = open_regular(path, &w->fd, &sb, err, errlen);
	if (rc)
		return rc;
	bytes = (uint64_t)sb.st_size;
	if (bytes < SNAP_HEADER_BYTES) {
		rc = BAD("%s: offset 0: truncated: expected a %u-byte header, the file has %" PRIu64
			 " bytes", path, SNAP_HEADER_BYTES, bytes);
		goto fail;
	}
	rc = snap_pread(w->fd, h, sizeof(h), 0);
	if (rc) {
		backend_errf(err, errlen, "%s: offset 0: read failed: %s", path, strerror(-rc));
		rc = VMEM_EIO;
		goto fail;
	}
	w->bytes_read += sizeof(h);
	rc = VMEM_EFORMAT;
	if (memcmp(h + WS_OFF_MAGIC, SNAP_WS_MAGIC, 8) != 0) {
		backend_errf(err, errlen, "%s: offset 0: bad magic: expected \"" SNAP_WS_MAGIC "\" (a working-set file)",
		    path);
		goto fail;
	}
	if ((v = get32(h + WS_OFF_VERSION)) != VMEM_SNAPSHOT_VERSION) {
		backend_errf(err, errlen, "%s: offset %d: version %" PRIu32 ": expected %d", path, WS_OFF_VERSION, v,
		    VMEM_SNAPSHOT_VERSION);
		goto fail;
	}
	if ((v = get32(h + WS_OFF_PAGE_SIZE)) != SNAP_PAGE) {
		backend_errf(err, errlen, "%s: offset %d: page size %" PRIu32 ": expected %u", path, WS_OFF_PAGE_SIZE, v,
		    SNAP_PAGE);
		goto fail;
	}
	if (get64(h + WS_OFF_RESERVED) != 0) {
		backend_errf(err, errlen, "%s: offset %d: reserved word: expected 0", path, WS_OFF_RESERVED);
		goto fail;
	}
	id = get64(h + WS_OFF_ID);
	if (id != c->f[0].id) {
		backend_errf(err, errlen, "%s: offset %d: snapshot id %#" PRIx64 ": expected %#" PRIx64 ", the id of %s",
		    path, WS_OFF_ID, id, c->f[0].id, c->f[0].path);
		goto fail;
	}
	pages = get64(h + WS_OFF_PAGES);
	if (pages != c->pages) {
		backend_errf(err, errlen, "%s: offset %d: %" PRIu64 " pages: expected %" PRIu64 ", as %s", path,
		    WS_OFF_PAGES, pages, c->pages, c->f[0].path);
		goto fail;
	}
	w->count = get64(h + WS_OFF_COUNT);
	w->data_pages = get64(h + WS_OFF_DATA_PAGES);
	if (w->count > pages) {
		backend_errf(err, errlen, "%s: offset %d: %" PRIu64 " pages listed: expected at most %" PRIu64, path,
		    WS_OFF_COUNT, w->count, pages);
		goto fail;
	}
	if (w->data_pages > w->count) {
		backend_errf(err, errlen, "%s: offset %d: %" PRIu64 " data pages: expected at most the %" PRIu64
		    " listed", path, WS_OFF_DATA_PAGES, w->data_pages, w->count);
		goto fail;
	}
	mlen = SNAP_HEADER_BYTES + 8 * w->count;
	w->data_offset = align_page(mlen);
	if (bytes != w->data_offset + w->data_pages * SNAP_PAGE) {
		backend_errf(err, errlen, "%s: offset %" PRIu64 ": file size %" PRIu64 ": expected %" PRIu64 " (%" PRIu64
		    " pages listed, %" PRIu64 " data pages)", path,
		    bytes < w->data_offset ? bytes : w->data_offset, bytes,
		    w->data_offset + w->data_pages * SNAP_PAGE, w->count, w->data_pages);
		goto fail;
	}
	meta = malloc(mlen);
	w->order = malloc(w->count ? 8 * w->count : 1);
	seen = calloc(1, pages / 8 + 1);
	if (!meta || !w->order || !seen) {
		rc = VMEM_ENOMEM;
		goto fail;
	}
	rc = snap_pread(w->fd, meta, mlen, 0);
	if (rc) {
		backend_errf(err, errlen, "%s: offset 0: read failed: %s", path, strerror(-rc));
		rc = VMEM_EIO;
		goto fail;
	}
	w->bytes_read += mlen;
	rc = VMEM_EFORMAT;
	if (meta_sum(meta, mlen, WS_OFF_SUM) != get64(meta + WS_OFF_SUM)) {
		backend_errf(err, errlen, "%s: offset %d: checksum: expected the xxh3 of bytes 0-%" PRIu64
		    " (the header or page list is corrupt)", path, WS_OFF_SUM, mlen);
		goto fail;
	}
	for (uint64_t k = 0; k < w->count; k++) {
		uint64_t p = get64(meta + SNAP_HEADER_BYTES + 8 * k);

		if (p >= pages) {
			backend_errf(err, errlen, "%s: offset %" PRIu64 ": page %" PRIu64 ": expected a page below %" PRIu64,
			    path, SNAP_HEADER_BYTES + 8 * k, p, pages);
			goto fail;
		}
		if (seen[p / 8] & (1u << (p % 8))) {
			backend_errf(err, errlen, "%s: offset %" PRIu64 ": page %" PRIu64 " listed twice: expected each "
			    "page once", path, SNAP_HEADER_BYTES + 8 * k, p);
			goto fail;
		}
		seen[p / 8] |= (unsigned char)(1u << (p % 8));
		w->order[k] = p;
		data += c->src[p] != SNAP_SRC_ZERO;
	}
	if (data != w->data_pages) {
		backend_errf(err, errlen, "%s: offset %d: %" PRIu64 " data pages: expected %" PRIu64 " (the listed pages "
		    "that hold data in %s)", path, WS_OFF_DATA_PAGES, w->data_pages, data,
		    c->f[0].path);
		goto fail;
	}
	free(meta);
	free(seen);
	return 0;
fail:
	free(meta);
	free(seen);
	snap_ws_close(w);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int snap_ws_write(const char *path, const struct snap_chain *c, const uint64_t *order,
		  uint64_t count, char *err, size_t errlen)
{
	uint64_t mlen = SNAP_HEADER_BYTES + 8 * count, data_offset = align_page(mlen);
	unsigned char *meta = calloc(1, data_offset);
	uint64_t *sorted = malloc(count ? 8 * count : 1);
	char *buf = malloc(SNAP_PAGE);
	char tmp[4096];
	uint64_t data = 0;
	int fd = -1, rc = VMEM_ENOMEM;

	if (!meta || !sorted || !buf)
		goto out;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		backend_errf(err, errlen, "%s: path too long", path);
		rc = VMEM_EINVAL;
		goto out;
	}
	memcpy(sorted, order, 8 * count);
	qsort(sorted, count, 8, cmp_u64);
	for (uint64_t k = 0; k < count; k++) {
		put64(meta + SNAP_HEADER_BYTES + 8 * k, order[k]);
		data += c->src[order[k]] != SNAP_SRC_ZERO;
	}
	memcpy(meta + WS_OFF_MAGIC, SNAP_WS_MAGIC, 8);
	put32(meta + WS_OFF_VERSION, VMEM_SNAPSHOT_VERSION);
	put32(meta + WS_OFF_PAGE_SIZE, SNAP_PAGE);
	put64(meta + WS_OFF_ID, c->f[0].id);
	put64(meta + WS_OFF_COUNT, count);
	put64(meta + WS_OFF_DATA_PAGES, data);
	put64(meta + WS_OFF_PAGES, c->pages);
	put64(meta + WS_OFF_SUM, meta_sum(meta, mlen, WS_OFF_SUM));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		backend_errf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		rc = VMEM_EIO;
		goto out;
	}
	rc = pwrite_all(fd, meta, data_offset, 0);
	/* The data, sorted by page number, copied from the snapshot's files. */
	for (uint64_t k = 0, rank = 0; rc == 0 && k < count; k++) {
		int sfd;
		uint64_t off, sum;

		if (!snap_chain_data(c, sorted[k], &sfd, &off, &sum))
			continue;
		rc = snap_pread(sfd, buf, SNAP_PAGE, off);
		if (rc == 0)
			rc = pwrite_all(fd, buf, SNAP_PAGE, data_offset + rank++ * SNAP_PAGE);
	}
	if (rc) {
		backend_errf(err, errlen, "%s: write failed: %s", tmp, strerror(-rc));
		rc = VMEM_EIO;
	} else if (rename(tmp, path) != 0) {
		backend_errf(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		rc = VMEM_EIO;
	}
out:
	if (fd >= 0) {
		close(fd);
		if (rc)
			unlink(tmp);
	}
	free(meta);
	free(sorted);
	free(buf);
	return rc;
}
