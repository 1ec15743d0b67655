/*
 * The balloon channel's decoder and the balloon's page-list validator (vmem/ram_balloon.h)
 * driven by a guest that writes anything into its RAM and rings anything.
 *
 * Guest RAM, made once (64 frames of real memory):
 *   region 0  gpa 0         64 KiB anonymous  pfn 0x000..0x00f
 *   region 1  gpa 64 KiB   128 KiB anonymous  pfn 0x010..0x02f  (touches region 0)
 *   region 2  gpa 1 MiB     64 KiB memfd      pfn 0x100..0x10f
 * Input: byte 0 the owned regions (bits 0-2; none set = all) and whether max_pages is
 * limited (bit 3), byte 1 max_entries (1 + byte % 64 below 0xc0, else 256 * (byte - 0xbf):
 * requests that cross a page and a region), byte 2 max_pages (byte % 65),
 * byte 3 the number of actions (% 33), then 5 bytes per action (a kind byte and a 32-bit
 * value: a doorbell at pfn value % 0x120 or at the raw value, set_target, a port write or read
 * of any port and size), then the RAM image (region 0, 1, 2 in order; zeros past its end).
 *
 * Checked after every action, beyond "no crash, leak or sanitizer report":
 *   - a request's code is 0 or one of the documented rejections, never VMEM_EIO here;
 *   - a rejected request changed nothing (bitmap, balloon size, reported pages, bytes given
 *     back) and left a one-line message; an accepted one changed the bitmap as its op says,
 *     by exactly `done` pages, and `status`/`done` in the guest's header say what happened;
 *   - the balloon's size is its bitmap's population, within max_pages, only in owned
 *     regions, and every page in the balloon is really gone (mincore).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fuzz.h"
#include "vmem/ram_balloon.h"

#define PAGE 4096u
#define FRAMES 64u

static struct vmem_guest_ram *ram;
static uint64_t frame_pfn[FRAMES];       /* frame -> pfn */
static void *frame_hva[FRAMES];

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_balloon_channel: %s\n", what);
		abort();
	}
}

static void add(uint64_t gpa, uint64_t size, enum vmem_ram_backing backing)
{
	struct vmem_ram_region_config c;
	char err[256];

	vmem_ram_region_config_default(&c);
	c.gpa = gpa;
	c.size = size;
	c.backing = backing;
	check(vmem_guest_ram_add(ram, &c, NULL, err, sizeof(err)) == 0, err);
}

static void make_ram(void)
{
	unsigned f = 0;

	check(vmem_guest_ram_create(&ram) == 0, "vmem_guest_ram_create");
	add(0, 64 << 10, VMEM_RAM_ANON);
	add(64 << 10, 128 << 10, VMEM_RAM_ANON);
	add(1 << 20, 64 << 10, VMEM_RAM_MEMFD);
	check(vmem_guest_ram_frames(ram) == FRAMES, "64 frames");
	for (unsigned i = 0; i < vmem_guest_ram_regions(ram); i++) {
		struct vmem_ram_region r;

		vmem_guest_ram_region(ram, i, &r);
		for (uint64_t off = 0; off < r.size; off += PAGE, f++) {
			frame_pfn[f] = (r.gpa + off) >> 12;
			frame_hva[f] = (char *)r.hva + off;
		}
	}
}

static unsigned region_of_frame(unsigned f)
{
	return f < 16 ? 0 : f < 48 ? 1 : 2;
}

static uint64_t bitmap(struct vmem_ram_balloon *b)
{
	uint64_t m = 0;

	for (unsigned f = 0; f < FRAMES; f++)
		if (vmem_ram_balloon_contains(b, frame_pfn[f]))
			m |= 1ull << f;
	return m;
}

static bool resident(unsigned f)
{
	unsigned char v = 0;

	check(mincore(frame_hva[f], PAGE, &v) == 0, "mincore");
	return v & 1;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The invariants that hold after every action. */
static void check_state(struct vmem_ram_balloon *b, uint64_t owned_mask, uint64_t max_pages)
{
	struct vmem_ram_balloon_stats st;
	uint64_t m = bitmap(b);

	vmem_ram_balloon_stats(b, &st);
	check(st.balloon_pages == (uint64_t)__builtin_popcountll(m), "balloon size = bitmap");
	check(st.balloon_pages <= max_pages, "balloon within max_pages");
	for (unsigned f = 0; f < FRAMES; f++) {
		if (!(m >> f & 1))
			continue;
		check(owned_mask >> region_of_frame(f) & 1, "a page of a region not owned");
		check(!resident(f), "a page in the balloon is resident");
	}
}

/* A doorbell at pfn, with every check of what it did. */
static void doorbell(struct vmem_ram_balloon *b, uint32_t pfn, uint64_t owned_mask,
		     uint64_t max_pages)
{
	struct vmem_ram_balloon_stats before, after;
	uint64_t m0 = bitmap(b), m1;
	char err[256];
	int rc;

	vmem_ram_balloon_stats(b, &before);
	rc = vmem_ram_balloon_port_out(b, VMEM_BCH_PORT_DOORBELL, 4, pfn);
	vmem_ram_balloon_stats(b, &after);
	m1 = bitmap(b);
	check(after.requests == before.requests + 1, "a doorbell is one request");
	check(rc == 0 || rc == VMEM_EFORMAT || rc == VMEM_ELIMIT || rc == VMEM_ERANGE ||
	      rc == VMEM_EINVAL || rc == VMEM_EEXIST || rc == VMEM_ENOENT, "unexpected code");
	if (rc) {
		vmem_ram_balloon_error(b, err, sizeof(err));
		check(err[0] && !strchr(err, '\n'), "a one-line reason");
		check(m0 == m1, "a rejected request changed the bitmap");
		check(after.balloon_pages == before.balloon_pages &&
		      after.pages_reported == before.pages_reported &&
		      after.pages_inflated == before.pages_inflated &&
		      after.pages_deflated == before.pages_deflated &&
		      after.bytes_given_back == before.bytes_given_back &&
		      after.stats_reports == before.stats_reports, "a rejected request acted");
		check(after.rejected == before.rejected + 1, "rejections counted");
	} else {
		check(after.rejected == before.rejected, "an accepted request counted as rejected");
	}
	/* Unless the header itself could not be read, status and done are in the header. */
	if (after.rejected_by[VMEM_RB_REQUEST_OUTSIDE] == before.rejected_by[VMEM_RB_REQUEST_OUTSIDE]
	    || rc == 0) {
		const struct vmem_bch_request *h = vmem_guest_ram_gpa_to_hva(ram, (uint64_t)pfn << 12);
		struct vmem_bch_request copy;
		uint64_t added = m1 & ~m0, removed = m0 & ~m1;

		check(h != NULL, "an accepted header outside guest RAM");
		memcpy(&copy, h, sizeof(copy));
		check(copy.status == rc, "status written back");
		check(copy.done == (rc ? 0 : copy.count), "done written back");
		if (rc == 0) {
			unsigned n = (unsigned)__builtin_popcountll(added | removed);

			switch (copy.op) {
			case VMEM_BCH_INFLATE:
				check(!removed && n == copy.done, "INFLATE added done pages");
				check(after.bytes_given_back <= before.bytes_given_back +
				      (uint64_t)n * PAGE, "more given back than dropped");
				break;
			case VMEM_BCH_DEFLATE:
				check(!added && n == copy.done, "DEFLATE removed done pages");
				break;
			default:
				check(n == 0, "REPORT_FREE or STATS changed the balloon");
			}
		}
	}
	check_state(b, owned_mask, max_pages);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmem_ram_balloon_config c;
	struct vmem_ram_balloon *b;
	uint64_t owned_mask, max_pages;
	unsigned actions;
	char err[256];
	size_t off;

	if (!ram)
		make_ram();
	if (size < 4)
		return 0;
	vmem_ram_balloon_config_default(&c);
	if (data[0] & 7)
		c.regions = data[0] & 7;
	c.max_entries = data[1] < 0xc0 ? 1u + data[1] % 64u : 256u * (data[1] - 0xbfu);
	if (data[0] & 8)
		c.max_pages = data[2] % 65u;
	actions = data[3] % 33u;
	if (vmem_ram_balloon_create(ram, &c, &b, err, sizeof(err))) {
		check(err[0] && !strchr(err, '\n'), "a one-line config error");
		return 0;
	}
	owned_mask = c.regions & 7;
	max_pages = 0;
	for (unsigned f = 0; f < FRAMES; f++)
		max_pages += owned_mask >> region_of_frame(f) & 1;
	if (c.max_pages)
		max_pages = c.max_pages;
	off = 4 + 5 * (size_t)actions;
	/* The RAM image: every page written, so every page is resident before the first action. */
	for (unsigned f = 0; f < FRAMES; f++) {
		size_t at = off + (size_t)f * PAGE, n = at < size ? size - at : 0;

		if (n > PAGE)
			n = PAGE;
		if (n)
			memcpy(frame_hva[f], data + at, n);
		memset((char *)frame_hva[f] + n, 0, PAGE - n);
	}
	for (unsigned a = 0; a < actions && 4 + 5 * (size_t)a + 5 <= size; a++) {
		const uint8_t *p = data + 4 + 5 * a;
		uint32_t v = le32(p + 1), got;
		static const uint16_t ports[4] = { VMEM_BCH_PORT_DOORBELL, VMEM_BCH_PORT_TARGET,
						   VMEM_BCH_PORT_ACTUAL, 0x3f8 };
		unsigned port_size = 1u << (p[0] >> 3 & 3);       /* 1, 2, 4, 8 */
		uint16_t port = ports[p[0] >> 5 & 3];
		int rc;

		switch (p[0] & 7) {
		case 0: case 1: case 2: case 3:
			doorbell(b, v % 0x120, owned_mask, max_pages);
			break;
		case 4:
			doorbell(b, v, owned_mask, max_pages);
			break;
		case 5:
			rc = vmem_ram_balloon_set_target(b, v % 128);
			check(rc == 0 || (rc == VMEM_EINVAL && v % 128 > max_pages), "set_target");
			if (rc == 0) {
				check(vmem_ram_balloon_port_in(b, VMEM_BCH_PORT_TARGET, 4, &got) == 0 &&
				      got == v % 128, "the target reads back");
			}
			break;
		case 6:
			if (port == VMEM_BCH_PORT_DOORBELL && port_size == 4)
				break;                           /* a doorbell: cases 0-4 */
			rc = vmem_ram_balloon_port_out(b, port, port_size, v);
			check(rc == (port == 0x3f8 ? VMEM_ENOENT : port_size == 4 &&
				     port == VMEM_BCH_PORT_ACTUAL ? 0 : VMEM_EINVAL), "port_out");
			break;
		default:
			rc = vmem_ram_balloon_port_in(b, port, port_size, &got);
			check(rc == (port == 0x3f8 ? VMEM_ENOENT : port_size == 4 &&
				     port != VMEM_BCH_PORT_DOORBELL ? 0 : VMEM_EINVAL), "port_in");
			check(rc == 0 || got == 0, "value 0 on an error");
			break;
		}
	}
	check_state(b, owned_mask, max_pages);
	vmem_ram_balloon_destroy(b);
	return 0;
}
