/*
 * The balloon channel's host side (vmem/balloon_channel.h): the ports, and decoding a
 * guest's request.
 *
 * A doorbell write names a request by its page frame. The guest's vCPUs keep running (and a
 * guest may have other vCPUs rewrite the request while the one that rang waits in its port
 * write), so the request is read exactly once, in this order:
 *   1. copy the 24-byte header out of guest memory into host memory;
 *   2. check the copy: magic, op, flags and reserved, and count against max_entries (which
 *      bounds what step 3 copies);
 *   3. copy count entries, of the op's size, into the balloon's own buffer (sized for
 *      max_entries entries of the largest kind when the balloon was made);
 *   4. decode them into host arrays, and only then check and act on the entries
 *      (ram_balloon.c), never reading guest memory again;
 *   5. write status and done back into the header.
 * Guest memory is read page by page through guest RAM's regions, so a request may cross
 * from one region into the next when their guest-physical ranges touch, and no byte outside
 * guest RAM is read. A page in the balloon is not read either (reading would fault it back
 * in): a request there is rejected, and its status cannot be written.
 *
 * The wire is little-endian, as the x86-64 hosts this runs on: fields are copied with memcpy.
 */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "backend/ram_balloon_internal.h"

#define PAGE 4096ull

static size_t entry_bytes(unsigned op)
{
	switch (op) {
	case VMEM_BCH_INFLATE:
	case VMEM_BCH_DEFLATE:
		return sizeof(uint32_t);
	case VMEM_BCH_REPORT_FREE:
		return sizeof(struct vmem_bch_range);
	case VMEM_BCH_STATS:
		return sizeof(struct vmem_bch_stat);
	}
	return 0;
}

/*
 * Copies len bytes of guest memory from gpa into dst. Rejects the request (`what`: whose
 * bytes, the header or the entries of the request at req_gpa) when a byte is outside guest RAM or in a
 * page of the balloon.
 */
static int copy_from_guest(struct vmem_ram_balloon *b, uint64_t req_gpa, const char *what,
			   uint64_t gpa, void *dst, size_t len)
{
	unsigned char *out = dst;

	while (len > 0) {
		const struct balloon_region *g = balloon_region_of(b, gpa);
		size_t chunk = PAGE - gpa % PAGE;

		if (!g)
			return balloon_reject(b, VMEM_RB_REQUEST_OUTSIDE, "request at gpa 0x%" PRIx64
					      ": its %s gpa 0x%" PRIx64 ", outside guest "
					      "RAM", req_gpa, what, gpa);
		if (balloon_bit(b->in_balloon, balloon_frame(g, gpa)))
			return balloon_reject(b, VMEM_RB_REQUEST_OUTSIDE, "request at gpa 0x%" PRIx64
					      ": its %s gpa 0x%" PRIx64 ", a page in the "
					      "balloon", req_gpa, what, gpa);
		if (chunk > len)
			chunk = len;
		memcpy(out, (char *)g->r.hva + (gpa - g->r.gpa), chunk);
		out += chunk;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

/* Entries as the guest wrote them (b->wire) -> the host arrays balloon_apply reads. */
static void decode_entries(struct vmem_ram_balloon *b, struct balloon_request *q)
{
	const unsigned char *w = b->wire;

	switch (q->op) {
	case VMEM_BCH_INFLATE:
	case VMEM_BCH_DEFLATE:
		for (size_t i = 0; i < q->count; i++) {
			uint32_t pfn;

			memcpy(&pfn, w + i * sizeof(pfn), sizeof(pfn));
			b->wire_pfn[i] = pfn;
		}
		q->pfn = b->wire_pfn;
		break;
	case VMEM_BCH_REPORT_FREE:
		memcpy(b->wire_range, w, q->count * sizeof(struct vmem_bch_range));
		q->range = b->wire_range;
		break;
	case VMEM_BCH_STATS:
		memcpy(b->wire_stat, w, q->count * sizeof(struct vmem_bch_stat));
		q->stat = b->wire_stat;
		break;
	}
}

/* Steps 1 to 4 of the top of this file; *writable says whether step 5 may write. */
static int handle_request(struct vmem_ram_balloon *b, uint64_t gpa, bool *writable,
			  uint32_t *count)
{
	struct vmem_bch_request h;
	struct balloon_request q = { 0 };
	size_t bytes;
	int rc;

	*writable = false;
	rc = copy_from_guest(b, gpa, "header reaches", gpa, &h, sizeof(h));
	if (rc)
		return rc;
	*writable = true;
	if (h.magic != VMEM_BCH_MAGIC)
		return balloon_reject(b, VMEM_RB_BAD_HEADER, "request at gpa 0x%" PRIx64 ": magic "
				      "0x%08" PRIx32 ", expected 0x%08x (\"BALL\")", gpa, h.magic,
				      VMEM_BCH_MAGIC);
	if (!entry_bytes(h.op))
		return balloon_reject(b, VMEM_RB_BAD_HEADER, "request at gpa 0x%" PRIx64 ": op %u,"
				      " expected 1 (INFLATE) to 4 (STATS)", gpa, h.op);
	if (h.flags || h.reserved)
		return balloon_reject(b, VMEM_RB_BAD_HEADER, "request at gpa 0x%" PRIx64 ": flags "
				      "0x%x and reserved 0x%" PRIx32 ", expected 0", gpa, h.flags,
				      h.reserved);
	if (h.count > b->cfg.max_entries)
		return balloon_reject(b, VMEM_RB_TOO_MANY, "request at gpa 0x%" PRIx64 ": count %"
				      PRIu32 ", at most %" PRIu32 " per request", gpa, h.count,
				      b->cfg.max_entries);
	bytes = h.count * entry_bytes(h.op);
	rc = copy_from_guest(b, gpa, "entries reach", gpa + sizeof(h), b->wire, bytes);
	if (rc)
		return rc;
	q.op = (enum vmem_bch_op)h.op;
	q.count = h.count;
	*count = h.count;
	q.req_gpa = gpa;
	q.req_gpa_end = (gpa + sizeof(h) + bytes + PAGE - 1) & ~(PAGE - 1);
	decode_entries(b, &q);
	return balloon_apply(b, &q);
}

static int doorbell(struct vmem_ram_balloon *b, uint32_t pfn)
{
	uint64_t gpa = (uint64_t)pfn << 12;
	uint32_t count = 0;
	bool writable;
	int rc;

	b->st.requests++;
	rc = handle_request(b, gpa, &writable, &count);
	if (writable) {
		/* The header is in one page (a request starts on a page boundary) of one region,
		 * not in the balloon: an INFLATE or REPORT_FREE of it was rejected. The fields
		 * are naturally aligned; the guest may read them from another vCPU. */
		const struct balloon_region *g = balloon_region_of(b, gpa);
		char *h = (char *)g->r.hva + (gpa - g->r.gpa);

		__atomic_store_n((uint32_t *)(h + offsetof(struct vmem_bch_request, done)),
				 rc ? 0 : count, __ATOMIC_RELAXED);
		__atomic_store_n((int32_t *)(h + offsetof(struct vmem_bch_request, status)), rc,
				 __ATOMIC_RELEASE);
	}
	return rc;
}

int vmem_ram_balloon_port_out(struct vmem_ram_balloon *b, uint16_t port, unsigned size,
			      uint32_t value)
{
	int rc = 0;

	if (!b)
		return VMEM_EINVAL;
	if (port != VMEM_BCH_PORT_DOORBELL && port != VMEM_BCH_PORT_ACTUAL &&
	    port != VMEM_BCH_PORT_TARGET)
		return VMEM_ENOENT;
	pthread_mutex_lock(&b->lock);
	if (size != 4 || port == VMEM_BCH_PORT_TARGET) {
		b->st.bad_port_access++;
		rc = VMEM_EINVAL;
	} else if (port == VMEM_BCH_PORT_ACTUAL) {
		b->actual = value;
		b->st.actual_pages = value;
	} else {
		rc = doorbell(b, value);
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int vmem_ram_balloon_port_in(struct vmem_ram_balloon *b, uint16_t port, unsigned size,
			     uint32_t *value)
{
	int rc = 0;

	if (value)
		*value = 0;
	if (!b || !value)
		return VMEM_EINVAL;
	if (port != VMEM_BCH_PORT_DOORBELL && port != VMEM_BCH_PORT_ACTUAL &&
	    port != VMEM_BCH_PORT_TARGET)
		return VMEM_ENOENT;
	pthread_mutex_lock(&b->lock);
	if (size != 4 || port == VMEM_BCH_PORT_DOORBELL) {
		b->st.bad_port_access++;
		rc = VMEM_EINVAL;
	} else {
		*value = port == VMEM_BCH_PORT_TARGET ? b->target : b->actual;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}
