/*
 * Page contents of live processes, as VMEM_REC_CONTENT records.
 *
 * vmem_capture_process() snapshots a running process: it lists its mappings in
 * /proc/PID/maps, reads each readable one page by page through /proc/PID/mem and writes
 * one VMEM_REC_CONTENT record per 4 KiB page: the page's XXH3-64 hash, whether it is all
 * zeros, and its compressibility class from the size LZ4 compresses it to (see
 * vmem_content_class() in vmem/trace.h). By default only pages that are resident or
 * swapped out (/proc/PID/pagemap) are taken: what the process has actually touched, as a
 * guest's RAM would hold it. [vvar], [vvar_vclock] and [vsyscall] are skipped, and so are
 * mappings larger than 64 GiB (sanitizer shadow memory, address-space reservations) and
 * pages the kernel refuses to read (I/O mappings, guard pages).
 *
 * Reading another process's memory needs ptrace access to it (the same user and a
 * permissive kernel.yama.ptrace_scope, or CAP_SYS_PTRACE). The process runs on while it
 * is read, so a page changed meanwhile is seen either before or after the change.
 */
#ifndef VMEM_CAPTURE_H
#define VMEM_CAPTURE_H

#include "vmem/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMEM_CAPTURE_MAX_PAGES_DEFAULT 262144u   /* 1 GiB of 4 KiB pages */

struct vmem_capture_opts {
	uint16_t vm;          /* VM id of the records */
	uint32_t asid;        /* address-space id of the records */
	uint64_t max_pages;   /* stop after this many pages; 0: no limit */
	bool all_pages;       /* also pages never touched (read as zeros or file data) */
};

void vmem_capture_opts_default(struct vmem_capture_opts *o);

struct vmem_capture_stats {
	uint64_t regions;           /* mappings listed */
	uint64_t regions_skipped;   /* not readable, [vvar], [vsyscall], over 64 GiB */
	uint64_t pages;             /* CONTENT records written */
	uint64_t pages_zero;        /* of which all zeros */
	uint64_t pages_absent;      /* mapped but neither resident nor swapped: not taken */
	uint64_t pages_unreadable;  /* the kernel refused to read them */
	bool resident_only;         /* pagemap was readable and absent pages were left out */
	bool truncated;             /* max_pages stopped the capture */
};

/*
 * The CONTENT record of one 4 KiB page (page points to its 4096 bytes) at addr (aligned
 * down to 4 KiB) of (vm, asid).
 */
void vmem_content_page(const void *page, uint64_t addr, uint16_t vm, uint32_t asid,
		       struct vmem_trace_rec *out);

/*
 * Writes the CONTENT records of process pid's pages to w, in address order; st (may be
 * NULL) receives the counts. Returns 0, or a negative code with a one-line message in
 * err: VMEM_ENOENT (no such process), VMEM_EIO (a /proc file cannot be opened or read,
 * naming it, e.g. "/proc/1/mem: permission denied"), or the writer's error.
 */
int vmem_capture_process(int pid, const struct vmem_capture_opts *o,
			 struct vmem_trace_writer *w, struct vmem_capture_stats *st,
			 char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
