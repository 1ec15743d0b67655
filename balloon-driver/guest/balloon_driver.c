/*
 * The test guest's balloon driver (balloon_driver.h): requests are built in the request
 * buffer and handed to the host by writing their pfn to the doorbell; the host has
 * answered (status, done) when the `out` returns.
 */
#include "balloon_driver.h"

#include "port_io.h"

#define PAGE_SHIFT 12

void balloon_driver_init(struct balloon_driver *d, void *req, uint32_t req_bytes,
			 uint32_t *held, uint32_t held_max,
			 const struct balloon_page_allocator *alloc)
{
	d->req = req;
	d->max_entries = (req_bytes - (uint32_t)sizeof(*d->req)) / (uint32_t)sizeof(uint32_t);
	d->held = held;
	d->held_count = 0;
	d->held_max = held_max;
	d->alloc = alloc;
	d->last_status = 0;
	d->inflated = d->deflated = d->reported = 0;
}

static void *entries(struct balloon_driver *d)
{
	return (char *)d->req + sizeof(*d->req);
}

/* Fills the header and rings the doorbell; the host's status. */
static int ring(struct balloon_driver *d, uint16_t op, uint32_t count)
{
	d->req->magic = VMEM_BCH_MAGIC;
	d->req->op = op;
	d->req->flags = 0;
	d->req->count = count;
	d->req->status = 1;      /* not a value the host writes: shows it answered */
	d->req->done = 0;
	d->req->reserved = 0;
	port_out32(VMEM_BCH_PORT_DOORBELL, (uint32_t)((uintptr_t)d->req >> PAGE_SHIFT));
	if (d->req->status != 0)
		d->last_status = d->req->status;
	return d->req->status;
}

static int inflate(struct balloon_driver *d, uint32_t want)
{
	uint32_t *pfn = entries(d), n = 0;
	int st;

	while (n < want && n < d->max_entries && d->held_count + n < d->held_max &&
	       d->alloc->alloc(d->alloc->ctx, &pfn[n]) == 0)
		n++;
	if (n == 0)
		return 0;
	st = ring(d, VMEM_BCH_INFLATE, n);
	if (st != 0) {
		for (uint32_t i = 0; i < n; i++)
			d->alloc->free(d->alloc->ctx, pfn[i]);
		return st;
	}
	for (uint32_t i = 0; i < n; i++)
		d->held[d->held_count++] = pfn[i];
	d->inflated += n;
	return (int)n;
}

static int deflate(struct balloon_driver *d, uint32_t want)
{
	uint32_t *pfn = entries(d), n = 0;
	int st;

	while (n < want && n < d->max_entries && n < d->held_count) {
		pfn[n] = d->held[d->held_count - 1 - n];
		n++;
	}
	if (n == 0)
		return 0;
	st = ring(d, VMEM_BCH_DEFLATE, n);
	if (st != 0)
		return st;
	d->held_count -= n;
	for (uint32_t i = 0; i < n; i++)
		d->alloc->free(d->alloc->ctx, pfn[i]);
	d->deflated += n;
	return (int)n;
}

int balloon_driver_adjust(struct balloon_driver *d)
{
	uint32_t target = port_in32(VMEM_BCH_PORT_TARGET);
	int n = 0;

	for (;;) {
		if (d->held_count < target)
			n = inflate(d, target - d->held_count);
		else if (d->held_count > target)
			n = deflate(d, d->held_count - target);
		else
			n = 0;
		if (n <= 0)
			break;
	}
	port_out32(VMEM_BCH_PORT_ACTUAL, d->held_count);
	return n < 0 ? n : 0;
}

int balloon_driver_report_free(struct balloon_driver *d)
{
	/* The pfns go at the end of the buffer, the ranges they make at its start: a range
	 * takes 16 bytes and a pfn 4, so take a quarter of the room as pfns. */
	uint32_t room = d->max_entries * (uint32_t)sizeof(uint32_t);
	uint32_t max_pfns = room / (uint32_t)(sizeof(uint32_t) + sizeof(struct vmem_bch_range));
	uint32_t *pfns = (uint32_t *)((char *)entries(d) + room) - max_pfns;
	struct vmem_bch_range *r = entries(d);
	uint32_t n, count = 0;

	n = d->alloc->list_free(d->alloc->ctx, pfns, max_pfns);
	/* Sort (insertion: the list is short) and merge neighbours into ranges. */
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = pfns[i], j = i;

		while (j > 0 && pfns[j - 1] > v) {
			pfns[j] = pfns[j - 1];
			j--;
		}
		pfns[j] = v;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)pfns[i] << PAGE_SHIFT;

		if (count > 0 && r[count - 1].gpa + r[count - 1].len == gpa) {
			r[count - 1].len += 1u << PAGE_SHIFT;
		} else {
			r[count].gpa = gpa;
			r[count].len = 1u << PAGE_SHIFT;
			count++;
		}
	}
	if (count == 0)
		return 0;
	if (ring(d, VMEM_BCH_REPORT_FREE, count) != 0)
		return d->req->status;
	d->reported += n;
	return 0;
}

int balloon_driver_send_stats(struct balloon_driver *d, const uint64_t stats[VMEM_BCH_S_NR])
{
	struct vmem_bch_stat *s = entries(d);

	for (uint16_t tag = 0; tag < VMEM_BCH_S_NR; tag++) {
		s[tag].tag = tag;
		s[tag].val = stats[tag];
	}
	return ring(d, VMEM_BCH_STATS, VMEM_BCH_S_NR);
}
