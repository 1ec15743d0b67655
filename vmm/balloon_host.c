/*
 * The host end of the balloon channel (include/vmem/balloon_channel.h) in vmem-vmm: the
 * TARGET and ACTUAL ports and the doorbell. A request is copied out of guest memory first
 * (a guest changing it meanwhile changes nothing), checked as a whole, then acted on:
 * INFLATE drops the pages from the host (madvise(MADV_DONTNEED) on anonymous memory,
 * fallocate(FALLOC_FL_PUNCH_HOLE) on a memfd: either way the host frees them and the next
 * guest touch gets a zero page), DEFLATE gives them back to the guest (nothing to do: they
 * fault in on use), REPORT_FREE drops the ranges the guest reported free, STATS keeps the
 * guest's 16 statistics. Any bad entry rejects the request with a VMEM_E* status.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmem/balloon_channel.h"

#include "vmm.h"

#define MAX_ENTRIES 65536u

/* Gives the host memory of [gpa, gpa + len) (all in the data region) back. */
static int drop(struct vmm *m, uint64_t gpa, uint64_t len)
{
	struct vmem_ram_region r;
	uint8_t *p = vmm_guest_range(m, gpa, len);

	if (!p || vmem_guest_ram_region(m->ram, 1, &r) < 0)
		return -1;
	if (r.fd >= 0)
		return fallocate(r.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (off_t)(gpa - r.gpa), (off_t)len);
	return madvise(p, len, MADV_DONTNEED);
}

/* Page index in the data region of pfn, or -1 outside it. */
static int64_t data_page(const struct vmm *m, uint64_t pfn)
{
	uint64_t gpa = pfn << 12;

	if (gpa < VMM_DATA_GPA || gpa - VMM_DATA_GPA >= m->data_bytes)
		return -1;
	return (int64_t)((gpa - VMM_DATA_GPA) >> 12);
}

static int32_t inflate_or_deflate(struct vmm *m, const uint32_t *pfn, uint32_t n, bool inflate)
{
	struct vmm_balloon_state *bs = &m->balloon;
	int32_t st = 0;
	uint32_t i;

	/* Check all: in the data region, in or out of the balloon, no duplicate (mark 2). */
	for (i = 0; i < n; i++) {
		int64_t page = data_page(m, pfn[i]);

		if (page < 0) {
			st = VMEM_ERANGE;
			break;
		}
		if (bs->in_balloon[page] != (inflate ? 0 : 1)) {
			st = bs->in_balloon[page] == 2 ? VMEM_EEXIST :
			     inflate ? VMEM_EEXIST : VMEM_ENOENT;
			break;
		}
		bs->in_balloon[page] = 2;
	}
	for (uint32_t j = 0; j < i; j++)
		bs->in_balloon[data_page(m, pfn[j])] = inflate ? 0 : 1;
	if (st)
		return st;
	for (i = 0; i < n; i++) {
		int64_t page = data_page(m, pfn[i]);

		if (inflate && drop(m, (uint64_t)pfn[i] << 12, 4096) < 0)
			return VMEM_EIO;
		bs->in_balloon[page] = inflate ? 1 : 0;
	}
	if (inflate)
		bs->inflated += n;
	else
		bs->deflated += n;
	return 0;
}

static int32_t report_free(struct vmm *m, const struct vmem_bch_range *r, uint32_t n)
{
	uint64_t pages = 0;

	for (uint32_t i = 0; i < n; i++) {
		if ((r[i].gpa | r[i].len) & 4095 || r[i].len == 0 ||
		    r[i].gpa < VMM_DATA_GPA || r[i].gpa - VMM_DATA_GPA > m->data_bytes ||
		    r[i].len > m->data_bytes - (r[i].gpa - VMM_DATA_GPA))
			return VMEM_ERANGE;
		for (uint64_t off = 0; off < r[i].len; off += 4096)
			if (m->balloon.in_balloon[data_page(m, (r[i].gpa + off) >> 12)])
				return VMEM_EEXIST;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (drop(m, r[i].gpa, r[i].len) < 0)
			return VMEM_EIO;
		pages += r[i].len >> 12;
	}
	m->balloon.reported_pages += pages;
	return 0;
}

static int32_t stats(struct vmm *m, const struct vmem_bch_stat *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (s[i].tag >= VMEM_BCH_S_NR)
			return VMEM_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		m->balloon.stats[s[i].tag] = s[i].val;
	m->balloon.stats_seen = true;
	return 0;
}

/* Handles the request at pfn; its status goes back into the guest's header. */
static int doorbell(struct vmm *m, struct vmm_vcpu_ctx *c, uint32_t pfn)
{
	uint64_t gpa = (uint64_t)pfn << 12, entry_bytes;
	struct vmem_bch_request h, *guest = vmm_guest_range(m, gpa, sizeof(h));
	void *entries = NULL;
	int32_t st = 0;

	if (!guest) {
		snprintf(c->error, sizeof(c->error), "vCPU %u: balloon request at gpa 0x%llx, "
			 "outside guest RAM", c->vcpu.index, (unsigned long long)gpa);
		c->failed = true;
		return -1;
	}
	memcpy(&h, guest, sizeof(h));
	m->balloon.requests++;
	switch (h.op) {
	case VMEM_BCH_INFLATE:
	case VMEM_BCH_DEFLATE:
		entry_bytes = sizeof(uint32_t);
		break;
	case VMEM_BCH_REPORT_FREE:
		entry_bytes = sizeof(struct vmem_bch_range);
		break;
	case VMEM_BCH_STATS:
		entry_bytes = sizeof(struct vmem_bch_stat);
		break;
	default:
		entry_bytes = 0;
		break;
	}
	if (h.magic != VMEM_BCH_MAGIC || h.flags || h.reserved || entry_bytes == 0)
		st = VMEM_EINVAL;
	else if (h.count > MAX_ENTRIES)
		st = VMEM_ELIMIT;
	if (st == 0 && h.count) {
		const void *src = vmm_guest_range(m, gpa + sizeof(h), entry_bytes * h.count);

		entries = src ? malloc(entry_bytes * h.count) : NULL;
		if (!src)
			st = VMEM_ERANGE;
		else if (!entries)
			st = VMEM_ENOMEM;
		else
			memcpy(entries, src, entry_bytes * h.count);
	}
	if (st == 0) {
		switch (h.op) {
		case VMEM_BCH_INFLATE:
		case VMEM_BCH_DEFLATE:
			st = inflate_or_deflate(m, entries, h.count, h.op == VMEM_BCH_INFLATE);
			break;
		case VMEM_BCH_REPORT_FREE:
			st = report_free(m, entries, h.count);
			break;
		case VMEM_BCH_STATS:
			st = stats(m, entries, h.count);
			break;
		}
	}
	free(entries);
	if (st)
		m->balloon.rejected++;
	guest->status = st;
	guest->done = st ? 0 : h.count;
	return 0;
}

int vmm_balloon_port(struct vmm *m, struct vmm_vcpu_ctx *c, uint16_t port, bool write,
		     uint32_t *value)
{
	if (!m->balloon.in_balloon)
		return -1;
	if (port == VMEM_BCH_PORT_DOORBELL && write)
		return doorbell(m, c, *value);
	if (port == VMEM_BCH_PORT_TARGET && !write) {
		*value = m->balloon.target;
		return 0;
	}
	if (port == VMEM_BCH_PORT_ACTUAL && write) {
		m->balloon.actual = *value;
		return 0;
	}
	return -1;
}

uint64_t vmm_data_resident_pages(struct vmm *m)
{
	size_t n = (size_t)(m->data_bytes >> 12);
	unsigned char *vec = malloc(n);
	uint64_t count = 0;

	if (!vec)
		return 0;
	if (mincore(m->data_hva, m->data_bytes, vec) == 0)
		for (size_t i = 0; i < n; i++)
			count += vec[i] & 1;
	free(vec);
	return count;
}
