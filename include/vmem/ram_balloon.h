/*
 * A balloon over real guest RAM: the host side of the balloon channel (vmem/balloon_channel.h).
 *
 * The guest's balloon driver gives pages back (INFLATE), takes them again (DEFLATE), reports
 * ranges it does not use now (REPORT_FREE, virtio's free page reporting) and sends its memory
 * statistics (STATS). The host checks every entry of a request against one guest RAM
 * (vmem/guest_ram.h) and this balloon's state, and only when all of them pass acts on them:
 *
 *   anonymous region, 4 KiB or THP   madvise(MADV_DONTNEED): the next access maps a zero page
 *   memfd region (MAP_SHARED)        fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE):
 *                                    MADV_DONTNEED would only unmap, shmem keeps the content
 *   hugetlb region (either backing)  the same, but only whole 2 MiB pages: an INFLATE or
 *                                    DEFLATE must list all 512 frames of each huge page it
 *                                    touches, a REPORT_FREE range must be 2 MiB aligned
 *
 * Pages in the balloon are kept in a bitmap over guest RAM's 4 KiB frames; DEFLATE only
 * takes them out of it (they were dropped at INFLATE: the guest's next access faults in a
 * zero page). REPORT_FREE drops pages without putting them in the balloon.
 *
 * All or nothing: one bad entry rejects the whole request, nothing changes, the request's
 * status gets a negative VMEM_E* code and vmem_ram_balloon_error() gives a one-line reason
 * that names the entry's index and value. The channel copies the header and then the entries
 * out of guest memory into a buffer of the balloon's own before it checks anything, so a
 * guest rewriting its request meanwhile changes nothing.
 *
 * Guest RAM regions must all be added before the balloon is created; regions added later
 * are not guest RAM for it.
 *
 * Concurrency: every call on one balloon takes the balloon's mutex, so the port-I/O entry
 * points may be called from any number of vCPU threads at once (a request is handled whole
 * while the others wait), and the statistics read a consistent snapshot. create and destroy
 * need one thread (no other call on the same balloon meanwhile). Guest vCPUs may run and
 * write guest memory during every call. A NULL balloon is refused (VMEM_EINVAL, false, or
 * nothing written).
 *
 * The wire is read as little-endian in host byte order: x86-64 hosts only.
 */
#ifndef VMEM_RAM_BALLOON_H
#define VMEM_RAM_BALLOON_H

#include "vmem/balloon_channel.h"
#include "vmem/common.h"
#include "vmem/guest_ram.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_ram_balloon;

/* Default and hard limit of entries in one request. The channel's buffer holds this many
 * entries of the largest kind (16-byte ranges): 1 MiB at the hard limit. */
#define VMEM_RAM_BALLOON_ENTRIES_DEFAULT 4096u
#define VMEM_RAM_BALLOON_ENTRIES_MAX 65536u

struct vmem_ram_balloon_config {
	/* Bit i set: guest RAM region i may be ballooned. Regions 64 and up never can. A region
	 * holding the guest's kernel or page tables is left out: its pages are "not owned by the
	 * balloon" and every request naming one is rejected. Default: every region. */
	uint64_t regions;
	/* Entries per request, 1 .. VMEM_RAM_BALLOON_ENTRIES_MAX. */
	uint32_t max_entries;
	/* The most 4 KiB pages the balloon may hold; 0 = every page of the balloonable regions. */
	uint64_t max_pages;
};

/* Why a request was rejected; each reason is counted (vmem_ram_balloon_stats.rejected). */
enum vmem_ram_balloon_reason {
	VMEM_RB_BAD_HEADER = 0,      /* magic, op, flags or reserved wrong (VMEM_EFORMAT) */
	VMEM_RB_TOO_MANY = 1,        /* count above max_entries (VMEM_ELIMIT) */
	VMEM_RB_REQUEST_OUTSIDE = 2, /* header or entries not wholly in guest RAM, or in a page of
				      * the balloon (VMEM_ERANGE) */
	VMEM_RB_OUTSIDE_RAM = 3,     /* an entry names memory outside guest RAM, or a range
				      * crossing a region's end (VMEM_ERANGE) */
	VMEM_RB_NOT_OWNED = 4,       /* an entry in a region the balloon does not own (VMEM_EINVAL) */
	VMEM_RB_UNALIGNED = 5,       /* a range not 4 KiB aligned, empty or wrapping; hugetlb pages
				      * not whole 2 MiB (VMEM_EINVAL) */
	VMEM_RB_DUPLICATE = 6,       /* a page named twice in one request (VMEM_EEXIST) */
	VMEM_RB_ALREADY_IN = 7,      /* INFLATE or REPORT_FREE of a page in the balloon (VMEM_EEXIST) */
	VMEM_RB_NOT_IN = 8,          /* DEFLATE of a page not in the balloon (VMEM_ENOENT) */
	VMEM_RB_HOLDS_REQUEST = 9,   /* INFLATE or REPORT_FREE of a page holding the request
				      * itself (VMEM_EINVAL) */
	VMEM_RB_FULL = 10,           /* the balloon would pass max_pages (VMEM_ELIMIT) */
	VMEM_RB_DROP_FAILED = 11,    /* the kernel refused to drop a page (VMEM_EIO): no page
				      * enters the balloon, but runs dropped before the failure
				      * stay dropped (an inflating guest gave them anyway) */
	VMEM_RB_REASONS = 12,
};

/* "bad header", "too many entries", ... */
const char *vmem_ram_balloon_reason_name(enum vmem_ram_balloon_reason r);

struct vmem_ram_balloon_stats {
	uint64_t requests;           /* requests handled, accepted or not */
	uint64_t pages_inflated;     /* 4 KiB pages that entered the balloon */
	uint64_t pages_deflated;     /* that left it */
	uint64_t pages_reported;     /* dropped by REPORT_FREE */
	uint64_t stats_reports;      /* STATS requests accepted */
	uint64_t stats_unknown_tags; /* entries with a tag >= VMEM_BCH_S_NR, ignored */
	uint64_t rejected;           /* requests rejected, all reasons */
	uint64_t rejected_by[VMEM_RB_REASONS];
	uint64_t bad_port_access;    /* port_in/out with a wrong size or direction */
	/* Bytes the host got back: pages resident (mincore(2)) just before they were dropped,
	 * by INFLATE and REPORT_FREE, times 4 KiB. Pages the guest never touched give nothing. */
	uint64_t bytes_given_back;
	uint64_t balloon_pages;      /* pages in the balloon now */
	uint64_t target_pages;       /* what vmem_ram_balloon_set_target asked */
	uint64_t actual_pages;       /* what the guest last wrote to VMEM_BCH_PORT_ACTUAL */
};

/* The guest's last statistics report. Each STATS request replaces the whole report. */
struct vmem_ram_balloon_guest_stats {
	uint64_t reports;            /* accepted STATS requests so far */
	uint32_t present;            /* bit t: tag t was in the last report */
	uint64_t value[VMEM_BCH_S_NR];  /* value[t] for tag t (VMEM_BCH_S_*); 0 when absent */
};

/* Every region, max_entries VMEM_RAM_BALLOON_ENTRIES_DEFAULT, max_pages 0. */
void vmem_ram_balloon_config_default(struct vmem_ram_balloon_config *c);

/*
 * A balloon over ram (which must outlive it), empty, target 0. c NULL = the defaults.
 * VMEM_EINVAL with a message in err for a bad config (max_entries 0 or above the hard limit,
 * a region bit for no region, max_pages above the balloonable pages, a guest RAM of no
 * region); VMEM_ENOMEM. *out is the caller's until vmem_ram_balloon_destroy.
 */
int vmem_ram_balloon_create(struct vmem_guest_ram *ram, const struct vmem_ram_balloon_config *c,
			    struct vmem_ram_balloon **out, char *err, size_t errlen);

/* Frees the balloon (b may be NULL). Pages in the balloon stay dropped: the guest RAM's
 * memory is not touched. */
void vmem_ram_balloon_destroy(struct vmem_ram_balloon *b);

/*
 * Port I/O, for a VMM's KVM_EXIT_IO handler (kvm_run->io: port, size, direction, data).
 *
 * vmem_ram_balloon_port_out: size must be 4.
 *   VMEM_BCH_PORT_DOORBELL  value = pfn of a request: it is handled now, its status and
 *                           done are written into the request's header before this returns,
 *                           and the status is returned too (0 or a negative VMEM_E*). When the
 *                           header itself is not wholly in guest RAM or lies in a page of the
 *                           balloon, nothing is written into guest memory (writing would
 *                           fault the page back in) and only the return value says why.
 *   VMEM_BCH_PORT_ACTUAL    value = pages the guest's balloon holds (kept for
 *                           vmem_ram_balloon_stats.actual_pages); returns 0.
 * vmem_ram_balloon_port_in: size must be 4.
 *   VMEM_BCH_PORT_TARGET    *value = the target; VMEM_BCH_PORT_ACTUAL: what the guest wrote.
 * Another port: VMEM_ENOENT (not this device's; nothing counted). A wrong size or direction:
 * VMEM_EINVAL, counted in bad_port_access. *value is 0 on every error.
 */
int vmem_ram_balloon_port_out(struct vmem_ram_balloon *b, uint16_t port, unsigned size,
			      uint32_t value);
int vmem_ram_balloon_port_in(struct vmem_ram_balloon *b, uint16_t port, unsigned size,
			     uint32_t *value);

/*
 * Direct calls, for programs without a guest: the same checks and actions as the channel's
 * requests, from host memory. pfn are 4 KiB guest-physical frame numbers (gpa >> 12); at
 * most max_entries of them per call. 0 or a negative VMEM_E* code (the reason in
 * vmem_ram_balloon_error); n == 0 is accepted and does nothing.
 */
int vmem_ram_balloon_inflate(struct vmem_ram_balloon *b, const uint64_t *pfn, size_t n);
int vmem_ram_balloon_deflate(struct vmem_ram_balloon *b, const uint64_t *pfn, size_t n);
int vmem_ram_balloon_report_free(struct vmem_ram_balloon *b, const struct vmem_bch_range *r,
				 size_t n);
int vmem_ram_balloon_report_stats(struct vmem_ram_balloon *b, const struct vmem_bch_stat *s,
				  size_t n);

/* The pages the host wants the balloon to hold, which the guest reads from
 * VMEM_BCH_PORT_TARGET. VMEM_EINVAL above max_pages (or above UINT32_MAX). */
int vmem_ram_balloon_set_target(struct vmem_ram_balloon *b, uint64_t pages);

/* Whether 4 KiB guest frame pfn is in the balloon (false outside guest RAM). */
bool vmem_ram_balloon_contains(struct vmem_ram_balloon *b, uint64_t pfn);

void vmem_ram_balloon_stats(struct vmem_ram_balloon *b, struct vmem_ram_balloon_stats *out);
void vmem_ram_balloon_guest_stats(struct vmem_ram_balloon *b,
				  struct vmem_ram_balloon_guest_stats *out);

/* The last rejected request's reason, one line ("" before any), copied into buf[len]. */
void vmem_ram_balloon_error(struct vmem_ram_balloon *b, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
