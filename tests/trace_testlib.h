/*
 * Helpers for the trace reader and writer tests (tests/test_trace_lackey.c,
 * test_trace_champsim.c, test_trace_vmt.c): temporary input files, plain or compressed
 * with gzip, xz or zstd; little-endian byte packing; opening a reader and draining it;
 * checking one access record.
 *
 * Every helper that can fail fails the running cmocka test (it asserts), so a test reads
 * as the sequence of steps it checks.
 */
#ifndef VMEM_TESTS_TRACE_TESTLIB_H
#define VMEM_TESTS_TRACE_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include <lzma.h>

#include "vmem/trace.h"

/*
 * Names this program's temporary files /tmp/vmem-<tag>-XXXXXX<suffix>; the tag is
 * "trace" until set. The string must outlive every later call.
 */
void ttl_temp_tag(const char *tag);

/* A new empty file with a unique name ending in suffix; free the name with ttl_drop. */
char *ttl_temp_path(const char *suffix);
/*
 * A new temporary file (ttl_temp_path) holding the len bytes at data: as they are, or
 * compressed with gzip (level 6), xz (the given preset and integrity check) or zstd
 * (level 3).
 */
char *ttl_write_temp(const char *suffix, const void *data, size_t len);
char *ttl_write_gz(const char *suffix, const void *data, size_t len);
char *ttl_write_xz(const char *suffix, const void *data, size_t len, uint32_t preset,
		   lzma_check check);
char *ttl_write_zst(const char *suffix, const void *data, size_t len);
/* Removes the file and frees its name. */
void ttl_drop(char *path);

/* Little-endian stores. */
void ttl_put16(unsigned char *p, uint16_t v);
void ttl_put32(unsigned char *p, uint32_t v);
void ttl_put64(unsigned char *p, uint64_t v);

/* vmem_trace_open that must succeed (o may be NULL); its error message is printed if not. */
struct vmem_trace_reader *ttl_open(const char *path, const struct vmem_trace_reader_opts *o);

/*
 * Reads until vmem_trace_read returns 0 or an error, in batches of max, into a new array
 * (*out, to free); returns the number of records. The last return of vmem_trace_read goes
 * to *last; with last NULL an error fails the test instead.
 */
size_t ttl_read_all(struct vmem_trace_reader *r, size_t max, struct vmem_trace_rec **out,
		    long *last);

/* x is an access with these fields, prot 0 and len 0. */
void ttl_assert_rec(const struct vmem_trace_rec *x, uint8_t acc, uint64_t addr, uint8_t size,
		    uint16_t vm, uint32_t asid);

#endif
