/*
 * The pager: hypervisor swapping of real guest RAM through userfaultfd.
 *
 * A pager owns one region of guest RAM (vmem/guest_ram.h; anonymous, 4 KiB pages) that it
 * registers with a userfaultfd in MISSING and write-protect mode. vmem_pager_evict(page)
 * takes a resident page away from the guest:
 *   1. write-protect it (UFFDIO_WRITEPROTECT): a vCPU writing it from now on waits;
 *   2. keep its content: nothing for an all-zero page, else compressed with lz4 into host
 *      memory, or written to a slot of the pager's swap file (pwrite);
 *   3. verify the copy (decompress or read back, compare every byte);
 *   4. drop the page (madvise(MADV_DONTNEED)) and wake any waiting writer.
 * The next access to the page is a MISSING fault, which the pager's fault-handling thread
 * serves with UFFDIO_COPY from the stored copy (UFFDIO_ZEROPAGE for a page never touched or
 * evicted all-zero), freeing the copy. If keeping or verifying the copy fails (the swap file
 * is full, a write or read-back fails), the page is write-enabled again and stays resident
 * with its content untouched; the error is counted and returned. Data is never dropped before
 * a verified copy exists.
 *
 * Swap slots are reused through a free list: a slot is free again once its page is back.
 *
 * Concurrency: vmem_pager_evict may be called from any number of threads at once, while any
 * number of other threads (vCPUs) read and write the region; evictions of the same page
 * serialize on the page. vmem_pager_stats, vmem_pager_page_state and vmem_pager_error may run
 * concurrently with everything. vmem_pager_create and vmem_pager_destroy need exclusive use
 * of the pager (no evict in flight); threads may still touch the region during destroy.
 * The fault-handling thread is the pager's own.
 */
#ifndef VMEM_PAGER_H
#define VMEM_PAGER_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_guest_ram;
struct vmem_pager;

enum vmem_pager_store {
	VMEM_PAGER_LZ4 = 0,          /* compressed in host memory (lz4) */
	VMEM_PAGER_SWAPFILE = 1,     /* a swap file of the pager's own */
};

/* The page states vmem_pager_page_state reports. */
enum vmem_pager_page {
	VMEM_PAGER_UNTOUCHED = 0,    /* never touched: served as a zero page */
	VMEM_PAGER_RESIDENT = 1,
	VMEM_PAGER_ZERO = 2,         /* evicted, was all zeros */
	VMEM_PAGER_COMPRESSED = 3,   /* evicted to the compressed tier */
	VMEM_PAGER_SWAPPED = 4,      /* evicted to the swap file */
	VMEM_PAGER_MERGED = 5,       /* maps a page of the store (vmem_pager_share/_merge) */
};

struct vmem_pager_config {
	enum vmem_pager_store store;
	/* Swap file: a directory (an unlinked file is made in it with O_TMPFILE; default
	 * "/var/tmp") or a file path (created or truncated; a device such as /dev/full is
	 * opened as it is). Only for VMEM_PAGER_SWAPFILE. */
	const char *swap_path;
	uint64_t swap_size;          /* bytes of swap file, a multiple of 4096 (default: region) */
	/* CPU the fault-handling thread is pinned to, or -1 (default): not pinned. A wake-up
	 * across CPUs can cost far more than the fault itself on some VMs (docs/BACKEND.md). */
	int handler_cpu;
	bool verify;                 /* compare every stored copy with the page (default on) */
	/* Called by the fault-handling thread for every fault it takes, or NULL (default):
	 * before it serves a MISSING fault (flags VMEM_PAGER_FAULT_WRITE for a write; `was`
	 * the page's state before: untouched, zero, compressed or swapped, or resident for a
	 * second thread's fault on a page served already), and after it lets through a
	 * write to a resident page that vmem_pager_write_protect protected (flags
	 * VMEM_PAGER_FAULT_WP | VMEM_PAGER_FAULT_WRITE, was = resident). It runs with the
	 * page locked: the faulting thread waits, no eviction of the page can run, and the
	 * hook must not evict the page itself (other pages it may). */
	void (*fault_hook)(void *ctx, uint64_t page, enum vmem_pager_page was, unsigned flags);
	void *fault_ctx;
};

#define VMEM_PAGER_FAULT_WRITE 1u  /* the access was a write */
#define VMEM_PAGER_FAULT_WP 2u     /* a write-protect fault on a resident page */


struct vmem_pager_stats {
	uint64_t evictions;          /* pages evicted (zero, compressed and swapped) */
	uint64_t evicted_zero;       /* of which all-zero (no copy kept) */
	uint64_t faults;             /* MISSING faults served (copy or zero page) */
	uint64_t faults_zero;        /* of which with UFFDIO_ZEROPAGE */
	uint64_t wp_faults;          /* writes that waited for an eviction */
	uint64_t bytes_in;           /* bytes given to the compressor */
	uint64_t bytes_compressed;   /* bytes it made of them */
	uint64_t compressed_now;     /* bytes held in the compressed tier now */
	uint64_t slots;              /* swap file slots */
	uint64_t slots_used;         /* in use now */
	uint64_t swap_full;          /* evictions refused: no free slot */
	uint64_t io_errors;          /* evictions refused: a write, read-back or compare failed;
				      * plus fault-time read errors */
	uint64_t errors;             /* every failed eviction (swap_full + io_errors + others) */
	/* Merged pages (see "Merged pages" below). */
	uint64_t merges;             /* pages mapped onto a store page (share and merge) */
	uint64_t merges_refused;     /* merges refused: the contents differed */
	uint64_t unmerges;           /* merged pages given their own anonymous page again */
	uint64_t merged_now;         /* pages merged now */
	uint64_t store_pages;        /* store pages holding a content now */
};

/* Defaults: lz4, verify on, handler not pinned, swap file in /var/tmp as big as the region. */
void vmem_pager_config_default(struct vmem_pager_config *c);

/*
 * A pager over region `region` of ram, with its fault-handling thread started. The region
 * must be anonymous with 4 KiB pages; pages already resident stay resident (mincore), the
 * others are served on first touch. VMEM_EINVAL with a message in err for a bad argument;
 * VMEM_EIO if the kernel refuses userfaultfd or the swap file. ram must outlive the pager.
 * *out is the caller's until vmem_pager_destroy.
 */
int vmem_pager_create(struct vmem_guest_ram *ram, unsigned region,
		      const struct vmem_pager_config *c, struct vmem_pager **out,
		      char *err, size_t errlen);

/*
 * Evicts 4 KiB page `page` (index in the region). 0 when it was evicted; VMEM_ENOENT if it
 * was not resident (nothing done); VMEM_ERANGE past the region; VMEM_ENOSPACE if the swap
 * file has no free slot and VMEM_EIO if a write or the verification failed: in both cases
 * the page stays resident and intact, and vmem_pager_error says why. Thread-safe.
 */
int vmem_pager_evict(struct vmem_pager *p, uint64_t page);

/*
 * Forgets evicted page `page`: its copy (compressed, in the swap file, or the note that it
 * was zero) is dropped and the page becomes untouched, so that its next access is served a
 * zero page, as for a page a balloon dropped. For a page given up while it is evicted (a
 * balloon inflating it, free page reporting). 0 when forgotten; VMEM_ENOENT if the page
 * was not evicted (nothing done); VMEM_ERANGE past the region. Thread-safe.
 */
int vmem_pager_forget(struct vmem_pager *p, uint64_t page);

/*
 * Write-protects the resident pages of [first, first + n) (UFFDIO_WRITEPROTECT), so that
 * the next write to each is a write-protect fault, which the handler reports to the
 * fault hook and lets through (a software dirty bit). Pages not resident are left as
 * they are. VMEM_ERANGE past the region, VMEM_EIO if the kernel refuses. Thread-safe.
 */
int vmem_pager_write_protect(struct vmem_pager *p, uint64_t first, uint64_t n);

/*
 * Merged pages: same-page merging carried out on the region, for a policy that decides
 * which pages hold the same content (vmem/ram_manager.h runs the manager's dedup policy).
 * There is no system call that makes two anonymous pages share a frame; a page-cache page
 * can be shared. The pager keeps a store (a memfd, one 4 KiB page per merged content):
 * a merged page is mapped MAP_PRIVATE | MAP_FIXED from its store page, so every page of
 * that content reads the one page-cache page, and the page's own anonymous page is freed.
 * A write makes the kernel copy the store page into a private anonymous page
 * (copy-on-write) with no userfaultfd event unless the page is write-protected; so the
 * caller asks vmem_pager_merged_written which merged pages the kernel has copied
 * (/proc/self/pagemap: present and no longer a file page) and gives them their own
 * anonymous page with vmem_pager_unmerge (their content, written, is kept).
 *
 * Each merged page is a VMA of its own (the store mapping, registered with the pager's
 * userfaultfd in MISSING and write-protect mode so that range write protections keep
 * working), and so is an unmerged page (an anonymous page moved in with mremap, which
 * the kernel does not merge back into the region's VMA): at most 2 VMAs per page, within
 * vm.max_map_count (65530) for regions up to 32767 pages merged; the caller bounds it.
 * A merged page is never evicted (vmem_pager_evict: VMEM_ENOENT): unmerge it first.
 *
 * vmem_pager_share: resident page `page` becomes a new store page (written and read back)
 * and is mapped from it; *slot names the store page. With `expect` (4096 bytes, or NULL)
 * the page is first compared in full with it and refused (VMEM_EINVAL) if it differs,
 * so the store page holds the content the caller decided on. vmem_pager_merge: resident page
 * `page` is compared in full with store page `slot` and, if equal, mapped from it;
 * VMEM_EINVAL if the contents differ (nothing changed). Both write-protect the page
 * through the pager's userfaultfd first, so a vCPU's write waits until the page is
 * mapped (the mmap takes the mmap lock for writing: the write then copies the store
 * page) or refused. VMEM_ENOENT if the page is not resident (nothing done), VMEM_EINVAL
 * if the kernel cannot write-protect shmem pages (UFFD_FEATURE_WP_HUGETLBFS_SHMEM),
 * VMEM_EIO if a system call failed (the page stays resident and intact).
 *
 * vmem_pager_unmerge: merged page `page` gets its own anonymous page with its current
 * content (the store page, or the private copy a write made). A store page mapped by no
 * page is punched out of the memfd (FALLOC_FL_PUNCH_HOLE). VMEM_ENOENT if not merged.
 *
 * vmem_pager_merged_written: writes to *out (at most max) the merged pages the kernel
 * has copied on a write; returns how many, or VMEM_EIO.
 *
 * vmem_pager_read: copies resident page `page` into buf (4096 bytes) with the page
 * locked against eviction; VMEM_ENOENT if it is not resident and mapped, or is being
 * evicted or served at this moment (it does not wait). A write may run concurrently
 * unless the page is write-protected (vmem_pager_write_protect).
 *
 * Concurrency: all are thread-safe, and serialise with evictions and faults of the same
 * page; the caller keeps a page's store slot consistent with its own books.
 */
int vmem_pager_share(struct vmem_pager *p, uint64_t page, const void *expect,
		     uint32_t *slot);
int vmem_pager_merge(struct vmem_pager *p, uint64_t page, uint32_t slot);
int vmem_pager_unmerge(struct vmem_pager *p, uint64_t page);
int64_t vmem_pager_merged_written(struct vmem_pager *p, uint64_t *out, uint64_t max);
int vmem_pager_read(struct vmem_pager *p, uint64_t page, void *buf);

/* Page `page`'s state now (a snapshot: it may change at once). */
enum vmem_pager_page vmem_pager_page_state(struct vmem_pager *p, uint64_t page);

/* Pages in the region. */
uint64_t vmem_pager_pages(const struct vmem_pager *p);

/* A snapshot of the counters (each read atomically; together not one instant). */
void vmem_pager_stats(const struct vmem_pager *p, struct vmem_pager_stats *out);

/* The last error's message ("" if none); valid until the next error. */
const char *vmem_pager_error(struct vmem_pager *p);

/* The swap file's descriptor (-1 without one), for tests that inspect it. */
int vmem_pager_swap_fd(const struct vmem_pager *p);

/* The store's memfd (-1 before the first merge), for tests that inspect it. */
int vmem_pager_store_fd(const struct vmem_pager *p);

/*
 * Brings every evicted page back (so the region keeps all its content), stops and joins the
 * fault-handling thread, unregisters the region and frees everything; p may be NULL.
 * Returns 0, or VMEM_EIO if a page could not be brought back (it reads as zeros then).
 */
int vmem_pager_destroy(struct vmem_pager *p);

#ifdef __cplusplus
}
#endif

#endif
