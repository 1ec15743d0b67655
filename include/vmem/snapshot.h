/*
 * Snapshots of guest RAM: save a region to a file, restore it lazily through userfaultfd,
 * prefetch its recorded working set, and clone it into guests that share unchanged pages.
 *
 * Save (vmem_snapshot_save) writes one region of guest RAM (vmem/guest_ram.h) to a file:
 * a header, a kind for every 4 KiB page (zero: no data; data: 4 KiB in the file with an
 * xxh3 checksum; parent: unchanged since the parent snapshot) and the data pages at 4 KiB-
 * aligned offsets, so the file can be mmap'ed. An incremental snapshot names a parent and
 * holds only the pages a bitmap says were written since it; reading resolves the chain.
 * Every read of a snapshot or working-set file is validated (magic, version, sizes that fit
 * the file, header and page checksums, a parent chain of at most VMEM_SNAPSHOT_MAX_CHAIN
 * files without a loop); an error is one line naming the file, the offset and what was
 * expected. docs/BACKEND.md describes the format byte by byte.
 *
 * Lazy restore (vmem_snapshot_restore) drops the region's pages, registers it with a
 * userfaultfd (MISSING) and returns at once: the guest may run. A handler thread serves
 * each first touch with UFFDIO_COPY from the snapshot (checksum verified) or
 * UFFDIO_ZEROPAGE, and can record the order of first touches as a working-set file. A
 * later restore given that file installs those pages eagerly, copied in runs straight
 * from the file's page cache (REAP: Ustiugov et al., "Benchmarking, Analysis, and
 * Optimization of Serverless Function Snapshots", ASPLOS 2021); the rest stays lazy.
 *
 * Clones (vmem_snapshot_clone) map a snapshot MAP_PRIVATE from its files: every clone of one
 * snapshot shares the page cache's copy of an unchanged page, and a write copies only that
 * page into the clone (copy-on-write). vmem_snapshot_clone_memory reads /proc/self/smaps to
 * say how much is shared.
 *
 * Snapshot and working-set files must not change while a restore or a clone uses them
 * (clones map the snapshot; a prefetch maps the working set's data and reads it in place).
 *
 * Concurrency: vmem_snapshot_save reads the region and needs the guest paused (no writer of
 * the region) for a consistent image; saves of different files may run concurrently.
 * vmem_snapshot_check and vmem_snapshot_check_working_set are independent of everything.
 * A restore: vmem_snapshot_restore and vmem_snapshot_restore_end need exclusive use of the
 * restore object; between them any number of threads may read and write the region while
 * vmem_snapshot_restore_ready, _wait_prefetch, _stats, _save_working_set and _error run
 * from any thread. Threads may still touch the region during _end. The handler and
 * prefetch threads are the restore's own. A clone is one thread's object except
 * vmem_snapshot_clone_memory, which may run while other threads use the clone's memory.
 */
#ifndef VMEM_SNAPSHOT_H
#define VMEM_SNAPSHOT_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_guest_ram;
struct vmem_snapshot_restore;
struct vmem_snapshot_clone;

#define VMEM_SNAPSHOT_VERSION 1
#define VMEM_SNAPSHOT_MAX_CHAIN 32   /* files in a chain, the snapshot itself included */

/* What vmem_snapshot_save wrote, and what vmem_snapshot_check found. */
struct vmem_snapshot_info {
	uint64_t pages;              /* 4 KiB pages of the region */
	uint64_t data_pages;         /* pages with data in this file */
	uint64_t zero_pages;         /* pages recorded as all zero in this file */
	uint64_t parent_pages;       /* pages unchanged since the parent */
	uint64_t file_bytes;         /* size of this file */
	uint64_t snapshot_id;        /* random, names this snapshot to its children */
	unsigned chain;              /* files in the chain, this one included (1: full) */
};

/*
 * Saves region `region` of ram to the file `path` (written next to it under a temporary
 * name, then renamed over it). parent NULL: a full snapshot; dirty must be NULL. Else an
 * incremental one: parent is an existing snapshot of a region of the same size, and dirty a
 * bitmap of one bit per 4 KiB page (bit i % 64 of word i / 64 for page i) of the pages
 * written since it: only those are saved (as zero or data pages), the others reference the
 * parent. The parent is named by its file name if it lies in the same directory as path,
 * else by its absolute path. info (may be NULL) receives what was written. VMEM_EINVAL
 * with a message for a bad argument or parent (the parent is validated as a restore would),
 * VMEM_EIO if a write fails.
 */
int vmem_snapshot_save(const struct vmem_guest_ram *ram, unsigned region, const char *path,
		       const char *parent, const uint64_t *dirty, struct vmem_snapshot_info *info,
		       char *err, size_t errlen);

/*
 * Validates the snapshot `path` and its whole chain as a restore reads it, and every data
 * page's checksum. 0 and *info (may be NULL) filled; VMEM_EFORMAT or VMEM_EIO with a one-
 * line message naming the file, the offset and what was expected.
 */
int vmem_snapshot_check(const char *path, struct vmem_snapshot_info *info, char *err,
			size_t errlen);

/*
 * Validates the working-set file `ws_path` against the snapshot `path` (its snapshot id,
 * page numbers, and every page's data against the snapshot's checksum). 0 and *pages (may
 * be NULL) the number of pages it lists; VMEM_EFORMAT or VMEM_EIO with a message.
 */
int vmem_snapshot_check_working_set(const char *ws_path, const char *path, uint64_t *pages,
				    char *err, size_t errlen);

struct vmem_snapshot_restore_config {
	/* Working-set file to prefetch from, or NULL: everything lazy. A file that does not
	 * belong to the snapshot is an error (VMEM_EFORMAT). */
	const char *prefetch;
	/* Prefetch before vmem_snapshot_restore returns (true: the caller and a helper thread
	 * share the work) or in a thread of its own while the guest runs (false, default);
	 * vmem_snapshot_restore_wait_prefetch waits for it. */
	bool prefetch_sync;
	/* Record the order of first touches served by the handler (default on). */
	bool record;
	/* CPU the fault-handling thread is pinned to, or -1 (default): not pinned. A wake-up
	 * across CPUs can cost far more than the fault on some VMs (docs/BACKEND.md). */
	int handler_cpu;
	int prefetch_cpu;            /* the same for the prefetch (or helper) thread (default
				        -1); threads start on their CPU */
};

struct vmem_snapshot_restore_stats {
	uint64_t first_instruction_ns;   /* vmem_snapshot_restore's entry to its return */
	uint64_t ready_ns;               /* entry to vmem_snapshot_restore_ready (0: not yet) */
	uint64_t prefetch_ns;            /* entry to the end of the prefetch (0: none / not yet) */
	uint64_t faults;                 /* pages served lazily by the handler */
	uint64_t faults_zero;            /* of which zero pages */
	uint64_t prefetched;             /* pages installed by the prefetch */
	uint64_t prefetched_zero;        /* of which zero pages */
	uint64_t filled;                 /* pages installed by vmem_snapshot_restore_end */
	uint64_t bytes_read;             /* bytes read from snapshot and working-set files */
	uint64_t reads;                  /* read calls (a working-set file's mapping read at
					    once counts one) that read them */
	uint64_t copies;                 /* UFFDIO_COPY / UFFDIO_ZEROPAGE calls */
	uint64_t checksum_errors;        /* pages whose data failed its checksum (served zero) */
	uint64_t recorded;               /* first touches recorded */
};

/* Defaults: no prefetch, prefetch in its own thread, record on, threads not pinned. */
void vmem_snapshot_restore_config_default(struct vmem_snapshot_restore_config *c);

/*
 * Restores the snapshot `path` (and its chain) into region `region` of ram lazily: the
 * region's current pages are dropped (MADV_DONTNEED), the region is registered with a
 * userfaultfd in MISSING mode, the handler thread started and, with c->prefetch, the
 * working set installed (now or in the background). Returns as soon as the guest may run.
 * The region must be anonymous with 4 KiB pages, as large as the snapshot, and not used
 * by a pager or another restore; nothing may touch it during this call. VMEM_EINVAL for a
 * bad argument, VMEM_EFORMAT for a bad snapshot or working-set file, VMEM_EIO if the
 * kernel refuses userfaultfd (the region's pages are dropped by then: it reads as zeros);
 * a message in err. ram must outlive the restore; *out is the caller's until
 * vmem_snapshot_restore_end.
 */
int vmem_snapshot_restore(struct vmem_guest_ram *ram, unsigned region, const char *path,
			  const struct vmem_snapshot_restore_config *c,
			  struct vmem_snapshot_restore **out, char *err, size_t errlen);

/* Marks the caller-defined "ready" point (e.g. the workload touched its working set): the
 * first call sets stats.ready_ns. Thread-safe. */
void vmem_snapshot_restore_ready(struct vmem_snapshot_restore *r);

/* Waits until the background prefetch (if any) is done. Thread-safe. */
void vmem_snapshot_restore_wait_prefetch(struct vmem_snapshot_restore *r);

/* A snapshot of the counters (each read atomically; together not one instant). */
void vmem_snapshot_restore_stats(const struct vmem_snapshot_restore *r,
				 struct vmem_snapshot_restore_stats *out);

/*
 * The first touches recorded so far, in order: up to max page numbers to pages[], returns
 * how many were recorded in all (may exceed max). Thread-safe.
 */
uint64_t vmem_snapshot_restore_recorded(const struct vmem_snapshot_restore *r, uint64_t *pages,
					uint64_t max);

/*
 * Writes the first touches recorded so far as a working-set file at ws_path (NULL: the
 * snapshot's path with ".ws" appended): their page numbers in order, then the data of
 * those that hold data, read from the snapshot and sorted by page number so that a
 * prefetch copies them in runs from one read of the file. VMEM_EIO / VMEM_EINVAL with a
 * message.
 */
int vmem_snapshot_restore_save_working_set(struct vmem_snapshot_restore *r, const char *ws_path,
					   char *err, size_t errlen);

/* The last error's message ("" if none); valid until the next error. */
const char *vmem_snapshot_restore_error(struct vmem_snapshot_restore *r);

/*
 * Installs every page not installed yet (large reads, multi-page UFFDIO_COPY), waits for
 * the prefetch, stops and joins the threads, unregisters the region and frees r (may be
 * NULL); stats (may be NULL) receives the final counters. The region is then plain memory
 * with the snapshot's content plus whatever the guest wrote. 0, or VMEM_EIO if a page
 * could not be read or failed its checksum (it reads as zeros).
 */
int vmem_snapshot_restore_end(struct vmem_snapshot_restore *r,
			      struct vmem_snapshot_restore_stats *stats);

/* ---- Clones ---- */

/*
 * A new guest memory with the snapshot's content, mapped MAP_PRIVATE from the chain's files:
 * its unchanged data pages are the page cache's, shared with every other clone (and
 * process) mapping them; zero pages are anonymous; a write copies the page. verify: read
 * every data page once (pread, which also fills the page cache) and check its checksum
 * first. VMEM_EFORMAT / VMEM_EIO / VMEM_ENOMEM with a message; VMEM_ELIMIT if the snapshot
 * needs more separate mappings than the kernel allows (vm.max_map_count). *out is the
 * caller's until vmem_snapshot_clone_destroy.
 */
int vmem_snapshot_clone(const char *path, bool verify, struct vmem_snapshot_clone **out,
			char *err, size_t errlen);

/* The clone's memory and its size in bytes. */
void *vmem_snapshot_clone_base(const struct vmem_snapshot_clone *c);
uint64_t vmem_snapshot_clone_bytes(const struct vmem_snapshot_clone *c);

/* The clone's memory as /proc/self/smaps counts it (bytes, summed over its mappings). */
struct vmem_snapshot_sharing {
	uint64_t rss;
	uint64_t pss;                /* Rss with each page divided by the number of its mappers */
	uint64_t shared_clean;
	uint64_t shared_dirty;
	uint64_t private_clean;
	uint64_t private_dirty;      /* pages this clone wrote (its own copies) */
	uint64_t mappings;           /* VMAs the clone's memory is made of */
};

/* Reads /proc/self/smaps for the clone's range. VMEM_EIO if it cannot be read. */
int vmem_snapshot_clone_memory(const struct vmem_snapshot_clone *c,
			       struct vmem_snapshot_sharing *out);

/* Unmaps the clone; c may be NULL. */
void vmem_snapshot_clone_destroy(struct vmem_snapshot_clone *c);

#ifdef __cplusplus
}
#endif

#endif
