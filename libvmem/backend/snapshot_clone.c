/*
 * Clones: guests whose memory is a snapshot mapped MAP_PRIVATE from its files, as
 * Firecracker maps a snapshot's memory file. Every clone of one snapshot maps the same
 * page-cache pages, so an unchanged page exists once in host memory however many clones
 * read it; the first write to a page in a clone copies that page into an anonymous page of
 * the clone's own (copy-on-write, mmap(2) MAP_PRIVATE), and only that page.
 *
 * The snapshot file holds data pages in page order with zero pages left out, and an
 * incremental snapshot takes each page from the newest file of its chain that has it. So a
 * clone is an anonymous private reservation (zero pages: the kernel's shared zero page
 * until written) with one MAP_FIXED file mapping per run of pages that lie at consecutive
 * offsets of one file. The kernel merges nothing across files, so a fragmented chain can
 * need many mappings: more than half of vm.max_map_count is refused (VMEM_ELIMIT).
 *
 * How much is shared is read from /proc/self/smaps (Documentation/filesystems/proc.rst):
 * Rss counts every page mapped; Pss divides each page by the number of mappings of it (a
 * page mapped by two clones counts half in each, also within one process); Shared_Clean
 * counts pages mapped more than once and not written; Private_Dirty the clone's own copies.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend_internal.h"
#include "backend/snapshot_internal.h"

struct vmem_snapshot_clone {
	char *base;
	uint64_t bytes;
};

static uint64_t max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	unsigned long long v = 65530;

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 65530;
		fclose(f);
	}
	return v;
}

/* Reads every data page the chain resolves to and checks its checksum. */
static int verify_chain(const struct snap_chain *c, char *err, size_t errlen)
{
	char *buf = malloc(SNAP_PAGE);
	int rc = 0;

	if (!buf)
		return VMEM_ENOMEM;
	for (uint64_t i = 0; rc == 0 && i < c->pages; i++) {
		int fd;
		uint64_t off, sum;

		if (!snap_chain_data(c, i, &fd, &off, &sum))
			continue;
		rc = snap_pread(fd, buf, SNAP_PAGE, off);
		if (rc) {
			backend_errf(err, errlen, "%s: offset %" PRIu64 ": read failed: %s",
				     c->f[c->src[i]].path, off, strerror(-rc));
			rc = VMEM_EIO;
		} else {
			rc = snap_chain_verify(c, i, buf, err, errlen);
		}
	}
	free(buf);
	return rc;
}

int vmem_snapshot_clone(const char *path, bool verify, struct vmem_snapshot_clone **out,
			char *err, size_t errlen)
{
	struct snap_chain c;
	struct vmem_snapshot_clone *cl;
	uint64_t runs = 0;
	int rc;

	*out = NULL;
	if (!path) {
		backend_errf(err, errlen, "snapshot clone: no path");
		return VMEM_EINVAL;
	}
	rc = snap_chain_open(&c, path, err, errlen);
	if (rc)
		return rc;
	if (verify && (rc = verify_chain(&c, err, errlen)) != 0) {
		snap_chain_close(&c);
		return rc;
	}
	for (uint64_t i = 0; i < c.pages; i++)
		if (c.src[i] != SNAP_SRC_ZERO && (i == 0 || !snap_chain_adjacent(&c, i - 1)))
			runs++;
	if (2 * runs + 1 > max_map_count() / 2) {
		backend_errf(err, errlen, "snapshot clone: %s needs %" PRIu64 " mappings: at most "
			     "half of vm.max_map_count (%" PRIu64 ")", path, 2 * runs + 1,
			     max_map_count());
		snap_chain_close(&c);
		return VMEM_ELIMIT;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		snap_chain_close(&c);
		return VMEM_ENOMEM;
	}
	cl->bytes = c.pages * SNAP_PAGE;
	cl->base = mmap(NULL, cl->bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (cl->base == MAP_FAILED) {
		backend_errf(err, errlen, "snapshot clone: mmap of %" PRIu64 " bytes: %s", cl->bytes,
			     strerror(errno));
		free(cl);
		snap_chain_close(&c);
		return VMEM_ENOMEM;
	}
	for (uint64_t i = 0; i < c.pages;) {
		uint64_t n = 1, off, sum;
		int fd;

		if (!snap_chain_data(&c, i, &fd, &off, &sum)) {
			i++;
			continue;
		}
		while (i + n < c.pages && snap_chain_adjacent(&c, i + n - 1))
			n++;
		if (mmap(cl->base + i * SNAP_PAGE, n * SNAP_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED, fd, (off_t)off) == MAP_FAILED) {
			backend_errf(err, errlen, "snapshot clone: mmap of %s at offset %" PRIu64
				     " (%" PRIu64 " pages): %s", c.f[c.src[i]].path, off, n,
				     strerror(errno));
			munmap(cl->base, cl->bytes);
			free(cl);
			snap_chain_close(&c);
			return VMEM_ENOMEM;
		}
		i += n;
	}
	/* The mappings hold the files; the descriptors are no longer needed. */
	snap_chain_close(&c);
	*out = cl;
	return 0;
}

void *vmem_snapshot_clone_base(const struct vmem_snapshot_clone *c)
{
	return c->base;
}

uint64_t vmem_snapshot_clone_bytes(const struct vmem_snapshot_clone *c)
{
	return c->bytes;
}

int vmem_snapshot_clone_memory(const struct vmem_snapshot_clone *c,
			       struct vmem_snapshot_sharing *out)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	uintptr_t lo = (uintptr_t)c->base, hi = lo + c->bytes;
	bool inside = false;
	char line[512];

	memset(out, 0, sizeof(*out));
	if (!f)
		return VMEM_EIO;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		unsigned long long kb;
		char key[64];

		/* A mapping's first line is "start-end perms offset dev inode path"; its
		 * fields follow as "Key: value kB". */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			inside = start >= lo && end <= hi;
			out->mappings += inside;
			continue;
		}
		if (!inside || sscanf(line, "%63[^:]: %llu kB", key, &kb) != 2)
			continue;
		if (strcmp(key, "Rss") == 0)
			out->rss += kb * 1024;
		else if (strcmp(key, "Pss") == 0)
			out->pss += kb * 1024;
		else if (strcmp(key, "Shared_Clean") == 0)
			out->shared_clean += kb * 1024;
		else if (strcmp(key, "Shared_Dirty") == 0)
			out->shared_dirty += kb * 1024;
		else if (strcmp(key, "Private_Clean") == 0)
			out->private_clean += kb * 1024;
		else if (strcmp(key, "Private_Dirty") == 0)
			out->private_dirty += kb * 1024;
	}
	fclose(f);
	return 0;
}

void vmem_snapshot_clone_destroy(struct vmem_snapshot_clone *c)
{
	if (!c)
		return;
	munmap(c->base, c->bytes);
	free(c);
}
