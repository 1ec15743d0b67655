/*
 * Same-page deduplication of real guest RAM: the library's own scanner, and a driver for the
 * kernel's KSM.
 *
 * The own scanner (vmem_ram_dedup_*) merges identical 4 KiB pages of one region of guest RAM
 * (vmem/guest_ram.h: anonymous, 4 KiB pages) so that the host keeps one physical copy of
 * each content, with copy-on-write on the next guest write. It works as KSM does
 * (Documentation/admin-guide/mm/ksm.rst): it looks at pages_to_scan pages per pass, hashes
 * each (xxh3), and a page becomes a merge candidate only once its hash is unchanged since
 * its previous look (a changed page is volatile); candidates meet through a stable index
 * (merged contents) and an unstable one (emptied at each full scan). A hash match is
 * confirmed by a full compare, then again after the page was write-protected. A merged
 * page is mapped MAP_PRIVATE from one page of a library-owned memfd (the stable store):
 * every merged page reads the same page-cache page, and a write makes the kernel copy it
 * into a private anonymous page. An all-zero page is replaced by an empty anonymous
 * mapping, which reads as the kernel's zero page. libvmem/backend/ram_dedup.c explains the
 * mechanism and docs/BACKEND.md its limits (every merged page is a VMA of its own, bounded
 * by max_vmas).
 *
 * The KSM driver (vmem_ksm_*) asks the kernel to do the same: madvise(MADV_MERGEABLE) on a
 * range or prctl(PR_SET_MEMORY_MERGE) for the process, the knobs of /sys/kernel/mm/ksm/
 * (saved and restored), and the process's figures from /proc/self/ksm_stat.
 *
 * vmem_ram_smaps reads the kernel's own figures (Rss, Pss, Anonymous, ...) for the VMAs of an
 * address range, so that savings are measured, not only counted.
 *
 * Concurrency: vCPU threads (any number) may read and write the region at any time, also
 * while pages are being merged: a write to a page being merged waits in the kernel
 * (userfaultfd write protection) for a few microseconds and then lands in a private copy.
 * vmem_ram_dedup_scan, _start, _stop, _stats, _page_state and _vmas may be called from any
 * thread; they serialize on the scanner's lock (a batch holds it for its duration).
 * vmem_ram_dedup_create and _destroy need exclusive use of the scanner (no other call on it
 * in flight). vmem_ksm_open/close serialize with other processes using this driver through
 * a lock file; the other vmem_ksm_ and vmem_ram_smaps calls may run from any thread.
 */
#ifndef VMEM_RAM_DEDUP_H
#define VMEM_RAM_DEDUP_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_guest_ram;
struct vmem_ram_dedup;

struct vmem_ram_dedup_config {
	uint32_t pages_to_scan;      /* pages looked at per pass (KSM's pages_to_scan; 100) */
	uint32_t sleep_millisecs;    /* pause between passes of the scanner thread (20) */
	bool merge_zero_pages;       /* all-zero pages go to the kernel's zero page (KSM's
				      * use_zero_pages; default on) */
	/* VMAs merging may add to the process (default: a quarter of vm.max_map_count): each
	 * page merged away from its neighbours splits the region's mapping. A merge that would
	 * pass the bound is refused and counted (vma_limit_hits). */
	uint32_t max_vmas;
};

/* Counters under the names of /sys/kernel/mm/ksm/, and the scanner's own. */
struct vmem_ram_dedup_stats {
	uint64_t pages_scanned;      /* pages hashed */
	uint64_t pages_shared;       /* store pages mapped by at least one guest page */
	uint64_t pages_sharing;      /* further guest pages mapping them: the pages saved */
	uint64_t pages_unshared;     /* candidates waiting in the unstable index */
	uint64_t pages_volatile;     /* pages whose hash changed at their last look */
	uint64_t full_scans;
	uint64_t ksm_zero_pages;     /* pages merged onto the zero page, now */
	uint64_t zero_pages_merged;  /* ... ever */
	uint64_t pages_merged;       /* guest pages mapped onto a store page, ever */
	uint64_t cow_breaks;         /* merged pages found written (a private copy), ever */
	uint64_t zero_cow_breaks;    /* zero-merged pages found written, ever */
	uint64_t merge_races;        /* pages that changed between hash match and protection:
				      * not merged */
	uint64_t vma_limit_hits;     /* merges refused by max_vmas */
	uint64_t vmas_added;         /* VMAs the merges added (an estimate; the kernel's
				      * count: vmem_ram_smaps) */
	uint64_t remaps;             /* mmap calls that carried merges out: one per run of
				      * consecutive pages onto consecutive store pages (or
				      * onto the zero page) */
	uint64_t store_pages;        /* store pages holding content now (the cost of sharing) */
	uint64_t errors;             /* kernel calls that failed (the page was left as it was) */
	uint64_t cpu_ns;             /* CPU time of the passes (CLOCK_THREAD_CPUTIME_ID) */
	uint64_t metadata_bytes;     /* the scanner's tables */
};

/* A page as the scanner last saw it. */
enum vmem_ram_dedup_page {
	VMEM_DEDUP_UNMERGED = 0,     /* its own anonymous page (or none yet) */
	VMEM_DEDUP_MERGED = 1,       /* mapped from a store page */
	VMEM_DEDUP_ZERO = 2,         /* merged onto the zero page */
	VMEM_DEDUP_BROKEN = 3,       /* was merged, then written: a private copy */
};

void vmem_ram_dedup_config_default(struct vmem_ram_dedup_config *c);

/*
 * A scanner for region `region` of ram (anonymous, 4 KiB pages). VMEM_EINVAL with a message
 * in err for a region it cannot merge: memfd-backed (its pages are shared with the file),
 * THP or hugetlb, or registered with a userfaultfd (a pager owns it: two userfaultfds cannot
 * share a range); for a zero pages_to_scan; and when the kernel lacks userfaultfd write
 * protection or PAGEMAP_SCAN (Linux 6.7). c may be NULL (defaults). *out is the caller's
 * until vmem_ram_dedup_destroy. No thread is started.
 */
int vmem_ram_dedup_create(struct vmem_guest_ram *ram, unsigned region,
			  const struct vmem_ram_dedup_config *c, struct vmem_ram_dedup **out,
			  char *err, size_t errlen);

/* One pass in the caller's thread over the next `pages` pages (0: pages_to_scan); returns the
 * pages looked at (>= 0) or a negative VMEM_E code. */
int64_t vmem_ram_dedup_scan(struct vmem_ram_dedup *d, uint64_t pages);

/* Starts / stops the scanner's thread: a pass of pages_to_scan pages, sleep_millisecs, again.
 * _start on a running scanner and _stop on a stopped one do nothing. */
int vmem_ram_dedup_start(struct vmem_ram_dedup *d);
void vmem_ram_dedup_stop(struct vmem_ram_dedup *d);

void vmem_ram_dedup_stats(struct vmem_ram_dedup *d, struct vmem_ram_dedup_stats *out);

/* Page `page`'s state as of the scanner's last look (VMEM_ERANGE past the region). */
int vmem_ram_dedup_page_state(struct vmem_ram_dedup *d, uint64_t page);

/* The last error message (empty if none); valid until the next call on d. */
const char *vmem_ram_dedup_error(struct vmem_ram_dedup *d);

/*
 * Stops the thread, gives every merged or written-after-merge page its own anonymous page
 * again (content kept, vCPUs may keep running), unregisters the region and frees d (may be
 * NULL). Returns the first error met while unmerging (the page keeps its content then).
 */
int vmem_ram_dedup_destroy(struct vmem_ram_dedup *d);

/* The kernel's figures for the VMAs inside [addr, addr + len), summed (/proc/self/smaps). */
struct vmem_ram_smaps {
	uint64_t vmas;
	uint64_t rss_kb, pss_kb, anonymous_kb;
	uint64_t shared_clean_kb, shared_dirty_kb, private_clean_kb, private_dirty_kb;
};
int vmem_ram_smaps(const void *addr, uint64_t len, struct vmem_ram_smaps *out);

/* ---- The kernel's KSM ---- */

/* Knobs of /sys/kernel/mm/ksm/; a negative value leaves the knob as it is. */
struct vmem_ksm_config {
	int64_t pages_to_scan;
	int64_t sleep_millisecs;
	int64_t use_zero_pages;
	int64_t smart_scan;
	int64_t max_page_sharing;    /* the kernel refuses a change while KSM pages exist */
	int64_t merge_across_nodes;  /* likewise */
};

/* Per process, from /proc/self/ksm_stat (and /proc/self/ksm_merging_pages). */
struct vmem_ksm_process_stat {
	uint64_t ksm_rmap_items;
	uint64_t ksm_merging_pages;  /* pages of this process mapping a KSM page */
	uint64_t ksm_zero_pages;
	int64_t ksm_process_profit;  /* bytes: (merging + zero pages) * 4096 - 64 * rmap items */
};

/* System-wide, from /sys/kernel/mm/ksm/ (stale after processes exit). */
struct vmem_ksm_global_stat {
	uint64_t pages_scanned, pages_shared, pages_sharing, pages_unshared, pages_volatile;
	uint64_t pages_skipped, full_scans, ksm_zero_pages;
	int64_t general_profit;
};

struct vmem_ksm;

void vmem_ksm_config_default(struct vmem_ksm_config *c);   /* every knob left as it is */

/* VMEM_ENOENT with a message if this kernel has no KSM (/sys/kernel/mm/ksm absent). */
int vmem_ksm_available(char *err, size_t errlen);

/*
 * Takes the driver's lock file (/run/lock/vmem-ksm.lock; waits for another process holding
 * it), saves every knob, writes those c sets and run = 1. VMEM_EIO naming the knob if the
 * kernel refuses one (the knobs written so far are restored). *out is the caller's until
 * vmem_ksm_close.
 */
int vmem_ksm_open(const struct vmem_ksm_config *c, struct vmem_ksm **out, char *err,
		  size_t errlen);

/* Restores every saved knob, run last; if run was 0, writes 2 (unmerge everything, which
 * drops stale stable nodes) and then 0. Releases the lock and frees k (may be NULL). Returns
 * VMEM_EIO if a knob could not be restored. */
int vmem_ksm_close(struct vmem_ksm *k);

/* madvise(MADV_MERGEABLE / MADV_UNMERGEABLE) on [addr, addr + len) (page-aligned). */
int vmem_ksm_merge_range(void *addr, uint64_t len, bool on);

/* prctl(PR_SET_MEMORY_MERGE): every present and future mapping of the process. */
int vmem_ksm_merge_process(bool on);

int vmem_ksm_process_stat(struct vmem_ksm_process_stat *out);
int vmem_ksm_global_stat(struct vmem_ksm_global_stat *out);

/* Waits until this process has at least `merging` merging pages and `zero` KSM zero pages,
 * polling every 10 ms, for at most timeout_ms; VMEM_ELIMIT on timeout. out (may be NULL)
 * gets the last figures. */
int vmem_ksm_wait(uint64_t merging, uint64_t zero, unsigned timeout_ms,
		  struct vmem_ksm_process_stat *out);

/* CPU time (user + system, ns; clock-tick resolution) ksmd has used since it started, from
 * /proc/PID/stat. VMEM_ENOENT if there is no ksmd. */
int vmem_ksm_daemon_cpu_ns(uint64_t *ns);

#ifdef __cplusplus
}
#endif

#endif
