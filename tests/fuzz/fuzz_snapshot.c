/*
 * The snapshot and working-set file readers (vmem/snapshot.h) on arbitrary bytes: a
 * snapshot file is input from outside.
 *
 * Input: a 4-byte little-endian word, whose low 31 bits are a length L, then L bytes of
 * snapshot file, then the rest as a working-set file for it (absent if empty). If the
 * word's top bit is set, the harness first makes the checksums right (each data page's,
 * then the metadata's, of both files, as far as the fields it reads let it), so that
 * mutated fields behind a checksum reach the checks after it. Both are given to the readers as anonymous
 * in-memory files named /proc/self/fd/N, so a parent path in the input may name either of
 * them (or itself, a loop) by its descriptor number, or any other path.
 *
 * Checked: vmem_snapshot_check and vmem_snapshot_check_working_set return 0 or a reader's
 * error (VMEM_EFORMAT, VMEM_EIO, VMEM_ENOMEM) with a one-line message naming a file; an
 * accepted snapshot's page counts add up and its size is the input's; an accepted working
 * set lists at most the snapshot's pages; an accepted snapshot can be cloned (mmap, every
 * page's checksum verified again) and read.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "fuzz.h"
#include "vmem/snapshot.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_snapshot: %s\n", what);
		abort();
	}
}

static void check_error(int rc, const char *err)
{
	check(rc == VMEM_EFORMAT || rc == VMEM_EIO || rc == VMEM_ENOMEM || rc == VMEM_ELIMIT,
	      "an error code a reader may return");
	check(err[0] != '\0', "an error has a message");
	check(strchr(err, '\n') == NULL, "a message is one line");
	check(strchr(err, '/') != NULL, "a message names a file");
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Rewrites the checksums of a snapshot file (layout in docs/BACKEND.md) in place. */
static void reseal_snapshot(uint8_t *f, size_t len)
{
	uint64_t plen, pages, data, sums_at, mlen, data_at, h;
	uint32_t p32;

	if (len < 64)
		return;
	memcpy(&p32, f + 48, 4);
	plen = p32;
	pages = get64(f + 16);
	data = get64(f + 24);
	if (plen > len || pages > len || data > len / 8)
		return;
	sums_at = (64 + plen + pages + 7) & ~7ull;
	mlen = sums_at + 8 * data;
	if (mlen > len)
		return;
	data_at = (mlen + 4095) & ~4095ull;
	for (uint64_t d = 0; d < data && data_at + (d + 1) * 4096 <= len; d++) {
		h = XXH3_64bits(f + data_at + d * 4096, 4096);
		memcpy(f + sums_at + 8 * d, &h, 8);
	}
	memset(f + 56, 0, 8);
	h = XXH3_64bits(f, mlen);
	memcpy(f + 56, &h, 8);
}

/* The same for a working-set file: its header and page list. */
static void reseal_working_set(uint8_t *f, size_t len)
{
	uint64_t count, h;

	if (len < 64)
		return;
	count = get64(f + 24);
	if (count > len / 8 || 64 + 8 * count > len)
		return;
	memset(f + 56, 0, 8);
	h = XXH3_64bits(f, 64 + 8 * count);
	memcpy(f + 56, &h, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char snap[64], ws[64], err[1024];
	struct vmem_snapshot_info info;
	uint32_t len = 0;
	int sfd, wfd = -1, rc;
	bool snap_ok, reseal;
	uint8_t *copy = NULL;

	if (size < 4)
		return 0;
	memcpy(&len, data, 4);
	reseal = len >> 31;
	len &= 0x7fffffffu;
	data += 4;
	size -= 4;
	if (len > size)
		len = (uint32_t)size;
	if (reseal) {
		copy = malloc(size ? size : 1);
		if (!copy)
			return 0;
		memcpy(copy, data, size);
		reseal_snapshot(copy, len);
		reseal_working_set(copy + len, size - len);
		data = copy;
	}
	sfd = fuzz_memfile(data, len, snap, sizeof(snap));
	if (size > len)
		wfd = fuzz_memfile(data + len, size - len, ws, sizeof(ws));
	free(copy);

	err[0] = '\0';
	memset(&info, 0, sizeof(info));
	rc = vmem_snapshot_check(snap, &info, err, sizeof(err));
	snap_ok = rc == 0;
	if (rc) {
		check_error(rc, err);
	} else {
		check(info.pages > 0, "an accepted snapshot has pages");
		check(info.data_pages + info.zero_pages + info.parent_pages == info.pages,
		      "data, zero and parent pages add up");
		check(info.file_bytes == len, "the size is the input's");
		check(info.chain >= 1 && info.chain <= VMEM_SNAPSHOT_MAX_CHAIN, "chain length");
	}
	if (wfd >= 0) {
		uint64_t pages = ~0ull;

		err[0] = '\0';
		rc = vmem_snapshot_check_working_set(ws, snap, &pages, err, sizeof(err));
		if (rc)
			check_error(rc, err);
		/* (A working set may be accepted for a snapshot whose check failed on a data
		 * page it does not list: the page counts are then unknown.) */
		else if (snap_ok)
			check(pages <= info.pages, "a working set lists at most every page");
	}
	if (snap_ok) {
		struct vmem_snapshot_clone *c;

		/* verify: the clone re-reads and checks every page the chain resolves to. */
		rc = vmem_snapshot_clone(snap, true, &c, err, sizeof(err));
		if (rc) {
			check_error(rc, err);
		} else {
			const volatile unsigned char *m = vmem_snapshot_clone_base(c);
			uint64_t pages = vmem_snapshot_clone_bytes(c) / 4096;
			unsigned sum = 0;

			check(pages == info.pages, "a clone has the snapshot's pages");
			for (uint64_t i = 0; i < pages && i < 4096; i++)
				sum += m[i * 4096 + 4095];
			(void)sum;
			vmem_snapshot_clone_destroy(c);
		}
	}
	close(sfd);
	if (wfd >= 0)
		close(wfd);
	return 0;
}
