/*
 * The snapshot file format and its readers (snapshot_file.c), shared by save and restore
 * (snapshot.c) and clones (snapshot_clone.c). Not part of the public API.
 *
 * Snapshot file, version 1 (little-endian; docs/BACKEND.md has the same table):
 *
 *   offset  size  field
 *   0       8     magic "VMEMSNAP"
 *   8       4     version (1)
 *   12      4     page size (4096)
 *   16      8     pages of the region
 *   24      8     data pages in this file
 *   32      8     snapshot id (random, non-zero)
 *   40      8     parent's snapshot id (0: a full snapshot)
 *   48      4     length of the parent's path (0 without parent; < 4096)
 *   52      4     reserved (0)
 *   56      8     xxh3-64 of the metadata [0, end of checksums) with this field as 0
 *   64      P     parent's path (no NUL): a file name relative to this file's directory,
 *                 or an absolute path
 *   64+P    N     a kind per page: 0 zero, 1 data, 2 unchanged since the parent
 *   ...     8*D   (from an 8-aligned offset) xxh3-64 of each data page, in page order
 *   A       4096*D  the data pages in page order, from A = the end above rounded up to 4096
 *
 * The file is exactly A + 4096 * D bytes.
 */
#ifndef VMEM_SNAPSHOT_INTERNAL_H
#define VMEM_SNAPSHOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmem/snapshot.h"

#define SNAP_PAGE 4096u
#define SNAP_HEADER_BYTES 64u
#define SNAP_MAGIC "VMEMSNAP"
#define SNAP_WS_MAGIC "VMEMWSET"
#define SNAP_PATH_MAX 4095u
/* 2^28 pages = 1 TiB of guest RAM: bounds what a header can make a reader allocate. */
#define SNAP_MAX_PAGES (1ull << 28)

enum snap_kind {
	SNAP_KIND_ZERO = 0,
	SNAP_KIND_DATA = 1,
	SNAP_KIND_PARENT = 2,
};

/* Where a resolved page's content is: SNAP_SRC_ZERO, or the index of a chain file. */
#define SNAP_SRC_ZERO 0xffu

/* One validated snapshot file. */
struct snap_file {
	int fd;
	char *path;
	uint64_t bytes;              /* file size */
	uint64_t pages, data_pages, id, parent_id;
	uint64_t data_offset;        /* A */
	uint8_t *kinds;              /* [pages] */
	uint64_t *sums;              /* [data_pages] */
	char *parent;                /* parent's path as stored, or NULL */
	uint64_t dev, ino;
};

/* A snapshot and its parents, f[0] the snapshot itself, resolved page by page. */
struct snap_chain {
	unsigned n;
	struct snap_file f[VMEM_SNAPSHOT_MAX_CHAIN];
	uint64_t pages;
	uint8_t *src;                /* [pages] chain file holding the page, or SNAP_SRC_ZERO */
	uint32_t *rank;              /* [pages] the page's index among that file's data pages */
	uint64_t bytes_read;         /* metadata bytes read while opening */
};

/* A validated working-set file. */
struct snap_ws {
	int fd;
	uint64_t count;              /* pages listed */
	uint64_t *order;             /* [count] in first-touch order */
	uint64_t data_pages;
	uint64_t data_offset;
	uint64_t bytes_read;
};

/* Opens and validates path and its parents (not the data pages' checksums). */
int snap_chain_open(struct snap_chain *c, const char *path, char *err, size_t errlen);
void snap_chain_close(struct snap_chain *c);

/* The file offset of resolved page i's data and its checksum; false for a zero page. */
static inline bool snap_chain_data(const struct snap_chain *c, uint64_t i, int *fd,
				   uint64_t *offset, uint64_t *sum)
{
	unsigned f = c->src[i];

	if (f == SNAP_SRC_ZERO)
		return false;
	*fd = c->f[f].fd;
	*offset = c->f[f].data_offset + (uint64_t)c->rank[i] * SNAP_PAGE;
	*sum = c->f[f].sums[c->rank[i]];
	return true;
}

/* True if pages i and i + 1 are data at consecutive offsets of one file. */
static inline bool snap_chain_adjacent(const struct snap_chain *c, uint64_t i)
{
	return c->src[i] != SNAP_SRC_ZERO && c->src[i] == c->src[i + 1] &&
	       c->rank[i] + 1 == c->rank[i + 1];
}

/* The checksum of a 4 KiB page as the file stores it. */
uint64_t snap_page_sum(const void *page);

/* pread of exactly len bytes; 0, or -errno (-EIO for a short file). */
int snap_pread(int fd, void *buf, size_t len, uint64_t off);

/* Checks data page i (read into page) against the checksum of the chain; 0 or
 * VMEM_EFORMAT with a message naming the file and offset. */
int snap_chain_verify(const struct snap_chain *c, uint64_t i, const void *page, char *err,
		      size_t errlen);

/*
 * Writes a snapshot file: meta from kinds (pages) and sums (data_pages), parent_name and
 * parent_id (NULL / 0 for a full one); the data pages come from data(ctx, page) in page
 * order, for runs of consecutive pages (n pages from page). 0 or VMEM_EIO with a message.
 */
int snap_file_write(int fd, const char *path, uint64_t pages, const uint8_t *kinds,
		    uint64_t data_pages, const uint64_t *sums, uint64_t id,
		    const char *parent_name, uint64_t parent_id,
		    const void *(*data)(void *ctx, uint64_t page), void *ctx, char *err,
		    size_t errlen);

/* Opens and validates a working-set file for chain c (not the data's checksums). */
int snap_ws_open(struct snap_ws *w, const char *path, const struct snap_chain *c, char *err,
		 size_t errlen);
void snap_ws_close(struct snap_ws *w);

/* Writes a working-set file of order[count] for chain c, data read from its files. */
int snap_ws_write(const char *path, const struct snap_chain *c, const uint64_t *order,
		  uint64_t count, char *err, size_t errlen);

#endif
