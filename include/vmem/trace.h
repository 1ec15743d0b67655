/*
 * Memory traces: records, streaming readers and the .vmt writer.
 *
 * A trace is a stream of records: memory accesses (load, store, instruction fetch,
 * read-modify-write) tagged with a VM id and an address-space id, control events
 * (context switch, VM switch, unmap, protect, free) that a guest OS would cause, and page
 * contents (a page's content hash and compressibility, as vmem-capture records them, for
 * deduplication and compression models). Readers never
 * load a whole trace: they decode a bounded buffer at a time, so memory use is flat in
 * trace length.
 *
 * Formats read (chosen by content, not by file name, except where noted):
 *   lackey    Valgrind Lackey text (`valgrind --tool=lackey --trace-mem=yes`):
 *             lines "I  addr,size", " L addr,size", " S addr,size", " M addr,size".
 *             Other lines Valgrind prints (==pid== banners) are skipped and counted.
 *   champsim  ChampSim binary instruction traces (64-byte input_instr records), plain,
 *             .gz or .xz (by magic bytes). Each instruction yields an ifetch of its ip
 *             and a load or store for every non-zero memory operand.
 *   vmt       libvmem's native binary format, optionally zstd-compressed; see
 *             traces/FORMAT.md. Versions 1 and 2 are read (CONTENT and FREE records
 *             exist from version 2 on); the writer writes version 2.
 * Only .vmt carries CONTENT and FREE records; Lackey and ChampSim traces never hold them.
 *
 * Errors: a reader that meets bad input returns VMEM_EFORMAT and vmem_trace_error()
 * gives a one-line message naming the file and the line (text) or byte offset (binary)
 * and what was expected. With skip_bad set, bad records are counted and skipped instead.
 *
 * Concurrency: a reader or writer is used by one thread at a time.
 */
#ifndef VMEM_TRACE_H
#define VMEM_TRACE_H

#include <stdio.h>

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vmem_rec_type {
	VMEM_REC_ACCESS = 0,     /* a memory access: acc, size, addr */
	VMEM_REC_SWITCH_AS = 1,  /* context switch in vm to address space asid (a CR3 load) */
	VMEM_REC_SWITCH_VM = 2,  /* the CPU switches to running vm */
	VMEM_REC_UNMAP = 3,      /* guest unmaps [addr, addr+len) in (vm, asid) */
	VMEM_REC_PROTECT = 4,    /* guest changes protection of [addr, addr+len) to prot */
	/*
	 * The page at addr (4 KiB-aligned) of (vm, asid) now holds content whose 64-bit
	 * hash (XXH3-64 of its 4096 bytes) is len; prot holds VMEM_CONTENT_* flags and size
	 * the compressibility class (vmem_content_class). For the translation models it is
	 * a store to the page.
	 */
	VMEM_REC_CONTENT = 5,
	VMEM_REC_FREE = 6,       /* guest OS frees [addr, addr+len) of (vm, asid): its pages
				  * return to the guest's free list (translation: as UNMAP) */
	VMEM_REC_TYPES = 7,
};

/* prot of a VMEM_REC_CONTENT record. */
#define VMEM_CONTENT_ZERO   0x01u   /* the page is all zeros */
#define VMEM_CONTENT_FLAGS  0x01u   /* every flag defined */

/* Compressibility classes of VMEM_REC_CONTENT (its size field). */
#define VMEM_CONTENT_CLASSES 16
#define VMEM_CONTENT_CLASS_BYTES 256u

/*
 * The class of a 4 KiB page that compresses (LZ4_compress_default) to compressed_bytes:
 * class c holds pages of at most (c + 1) * 256 bytes compressed, so 0 (an empty or
 * all-zero page: 1..256 bytes) .. 15 (3841..4096 bytes, or larger: incompressible, kept as
 * the 4096 bytes themselves).
 */
static inline unsigned vmem_content_class(unsigned compressed_bytes)
{
	if (compressed_bytes <= VMEM_CONTENT_CLASS_BYTES)
		return 0;
	if (compressed_bytes > VMEM_CONTENT_CLASSES * VMEM_CONTENT_CLASS_BYTES)
		return VMEM_CONTENT_CLASSES - 1;
	return (compressed_bytes - 1) / VMEM_CONTENT_CLASS_BYTES;
}

/* The bytes a page of class cls takes compressed, at most: (cls + 1) * 256 (4096 for
 * 15 and above). */
static inline unsigned vmem_content_class_bytes(unsigned cls)
{
	if (cls >= VMEM_CONTENT_CLASSES - 1)
		return VMEM_CONTENT_CLASSES * VMEM_CONTENT_CLASS_BYTES;
	return (cls + 1) * VMEM_CONTENT_CLASS_BYTES;
}

struct vmem_trace_rec {
	uint8_t type;     /* enum vmem_rec_type */
	uint8_t acc;      /* enum vmem_access_type, for VMEM_REC_ACCESS */
	uint8_t prot;     /* enum vmem_prot bits, for VMEM_REC_PROTECT; VMEM_CONTENT_* flags,
			   * for VMEM_REC_CONTENT */
	uint8_t size;     /* access size in bytes (1..255), for VMEM_REC_ACCESS; the class
			   * 0..15, for VMEM_REC_CONTENT */
	uint16_t vm;      /* VM id */
	uint32_t asid;    /* address-space id within the VM */
	uint64_t addr;    /* virtual address (canonical, 57-bit at most) */
	uint64_t len;     /* bytes, for UNMAP, PROTECT and FREE; the content hash, for CONTENT */
};

enum vmem_trace_format {
	VMEM_TRACE_AUTO = 0,  /* detect from the first bytes */
	VMEM_TRACE_LACKEY,
	VMEM_TRACE_CHAMPSIM,
	VMEM_TRACE_VMT,
};

const char *vmem_trace_format_name(enum vmem_trace_format f);
int vmem_trace_format_parse(const char *s, enum vmem_trace_format *out);

struct vmem_trace_reader_opts {
	enum vmem_trace_format format;
	bool skip_bad;        /* count and skip malformed records instead of failing */
	uint16_t vm;          /* VM id given to records of formats that carry none */
	uint32_t asid;        /* address-space id likewise */
};

void vmem_trace_reader_opts_default(struct vmem_trace_reader_opts *o);

struct vmem_trace_reader;

/*
 * Opens path ("-" is standard input) for streaming. On failure returns a negative code
 * and, when *out is not NULL afterwards, vmem_trace_error(*out) says why; the caller
 * still closes it. The reader owns its buffers; close it with vmem_trace_close().
 */
int vmem_trace_open(const char *path, const struct vmem_trace_reader_opts *opts,
		    struct vmem_trace_reader **out);

/*
 * Decodes up to max records into recs. Returns how many (> 0), 0 at end of trace, or a
 * negative code (VMEM_EFORMAT, VMEM_EIO) with vmem_trace_error() set. Records decoded
 * before an error in the same call are lost only if the call returns the error; readers
 * return the good prefix first and the error on the next call.
 */
long vmem_trace_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs, size_t max);

/* One line: "FILE:LINE: what was expected" or "FILE: offset N: ...". */
const char *vmem_trace_error(const struct vmem_trace_reader *r);

/* The detected or given format. */
enum vmem_trace_format vmem_trace_reader_format(const struct vmem_trace_reader *r);

/*
 * Where the last record returned came from, for error messages of the caller:
 * writes "FILE:LINE" or "FILE: offset N" into buf.
 */
void vmem_trace_position(const struct vmem_trace_reader *r, char *buf, size_t len);

/*
 * Where record recs[index] of the last batch vmem_trace_read() returned came from:
 * "FILE:LINE" or "FILE: offset N" (the offset of a ChampSim instruction for each record
 * it yields). Answered from what the reader kept, never by reading the input again, so
 * it works for pipes, FIFOs and standard input. Returns 0, or VMEM_EINVAL (buf then
 * holds just the file name) when index is not in the last batch.
 */
int vmem_trace_record_position(const struct vmem_trace_reader *r, size_t index, char *buf,
			       size_t len);

/*
 * The same positions as raw numbers (line numbers, or byte offsets for binary formats):
 * copies those of the first min(n, records in the last batch) records of the last batch
 * into out and returns how many. vmem_trace_format_position turns one into the text
 * vmem_trace_record_position writes; it reads only what is fixed when the trace is opened,
 * so another thread may call it while the reader reads on.
 */
size_t vmem_trace_batch_positions(const struct vmem_trace_reader *r, uint64_t *out, size_t n);
void vmem_trace_format_position(const struct vmem_trace_reader *r, uint64_t pos, char *buf,
				size_t len);

struct vmem_trace_counts {
	uint64_t records;       /* records returned */
	uint64_t skipped_bad;   /* malformed records skipped (skip_bad) */
	uint64_t skipped_other; /* lines that are not records by design (Valgrind banners) */
	uint64_t bytes;         /* input bytes consumed (before decompression) */
};

void vmem_trace_counts(const struct vmem_trace_reader *r, struct vmem_trace_counts *out);

void vmem_trace_close(struct vmem_trace_reader *r);

/* Longest line vmem_trace_lackey_line() writes, newline included. */
#define VMEM_LACKEY_LINE_MAX 32

/*
 * Formats an access record as one line of Lackey text, as Valgrind prints it
 * ("I  0400d7d4,8", " L ...", " S ...", " M ...", address as %08lx), newline included,
 * into buf (at least VMEM_LACKEY_LINE_MAX bytes). Returns the length, or 0 for a record
 * Lackey cannot express (a control event, page contents).
 */
size_t vmem_trace_lackey_line(const struct vmem_trace_rec *r, char *buf);

/* .vmt writer. */
struct vmem_trace_writer;

struct vmem_trace_writer_opts {
	bool zstd;         /* compress the record stream with zstd */
	int zstd_level;    /* 1..19; default 3 */
	const char *name;  /* file name for messages; NULL: the path opened */
};

void vmem_trace_writer_opts_default(struct vmem_trace_writer_opts *o);

/* Creates path ("-" is standard output). Close with vmem_trace_writer_close(). */
int vmem_trace_writer_open(const char *path, const struct vmem_trace_writer_opts *opts,
			   struct vmem_trace_writer **out);
int vmem_trace_write(struct vmem_trace_writer *w, const struct vmem_trace_rec *recs, size_t n);
const char *vmem_trace_writer_error(const struct vmem_trace_writer *w);
/* Flushes and closes; returns the first error seen, if any. Frees w in all cases. */
int vmem_trace_writer_close(struct vmem_trace_writer *w);


#ifdef __cplusplus
}
#endif
#endif
