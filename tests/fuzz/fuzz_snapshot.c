/*
 * The snapshot and working-set file readers (vmem/snapshot.h) on arbitrary bytes: a
 * snapshot file is input from outside.
 *
 * Input: a 4-byte little-endian length L, then L bytes of snapshot file, then the rest as
 * a working-set file for it (absent if empty). Both are given to the readers as anonymous
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char snap[64], ws[64], err[1024];
	struct vmem_snapshot_info info;
	uint32_t len = 0;
	int sfd, wfd = -1, rc;
	bool snap_ok;

	if (size < 4)
		return 0;
	memcpy(&len, data, 4);
	data += 4;
	size -= 4;
	if (len > size)
		len = (uint32_t)size;
	sfd = fuzz_memfile(data, len, snap, sizeof(snap));
	if (size > len)
		wfd = fuzz_memfile(data + len, size - len, ws, sizeof(ws));

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
