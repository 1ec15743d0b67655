/*
 * libvmem common definitions: error codes, page sizes, access types.
 *
 * Every libvmem function returns 0 or a negative VMEM_E* code; vmem_strerror() names it.
 * Parsers additionally leave a one-line message with context (file, line, offset) that the
 * caller reads through the object that failed (e.g. vmem_trace_error()).
 */
#ifndef VMEM_COMMON_H
#define VMEM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmem_err {
	VMEM_OK = 0,
	VMEM_EINVAL = -1,    /* bad argument or configuration */
	VMEM_ENOMEM = -2,    /* host allocation failed */
	VMEM_EIO = -3,       /* read/write/decompression error */
	VMEM_EFORMAT = -4,   /* malformed input (trace, config) */
	VMEM_ENOSPACE = -5,  /* simulated physical memory exhausted */
	VMEM_EEXIST = -6,    /* mapping already present */
	VMEM_ENOENT = -7,    /* no such mapping / key / name */
	VMEM_ERANGE = -8,    /* address out of range (non-canonical, too large) */
	VMEM_EEOF = -9,      /* end of input */
	VMEM_ELIMIT = -10,   /* a configured limit (limit.* keys) was reached */
};

const char *vmem_strerror(int err);

/* The library's version, "MAJOR.MINOR.PATCH" (the Makefile's VERSION). */
const char *vmem_version(void);

enum vmem_page_size {
	VMEM_PAGE_4K = 0,
	VMEM_PAGE_2M = 1,
	VMEM_PAGE_1G = 2,
	VMEM_PAGE_SIZES = 3,
};

/* log2 of the page size: 12, 21, 30. */
static inline unsigned vmem_page_shift(enum vmem_page_size s)
{
	return 12u + 9u * (unsigned)s;
}

static inline uint64_t vmem_page_bytes(enum vmem_page_size s)
{
	return 1ull << vmem_page_shift(s);
}

/* Address bits below the index of a level-L page-table entry: 12 + 9 * (L - 1). An entry
 * at level L maps 1 << vmem_level_shift(L) bytes. */
static inline unsigned vmem_level_shift(unsigned level)
{
	return 12u + 9u * (level - 1u);
}

/* "4k", "2m", "1g". */
const char *vmem_page_size_name(enum vmem_page_size s);
int vmem_page_size_parse(const char *s, enum vmem_page_size *out);

enum vmem_access_type {
	VMEM_ACC_LOAD = 0,
	VMEM_ACC_STORE = 1,
	VMEM_ACC_IFETCH = 2,
	VMEM_ACC_MODIFY = 3,   /* read-modify-write: one translation with write intent */
};

/* Memory-protection bits used by map/protect calls and trace events. */
enum vmem_prot {
	VMEM_PROT_READ = 1u << 0,
	VMEM_PROT_WRITE = 1u << 1,
	VMEM_PROT_EXEC = 1u << 2,
	VMEM_PROT_USER = 1u << 3,
};

/* True if va is canonical for a virtual-address width of `bits` (48 or 57). */
static inline bool vmem_addr_canonical(uint64_t va, unsigned bits)
{
	int64_t s = (int64_t)(va << (64 - bits)) >> (64 - bits);
	return (uint64_t)s == va;
}


#ifdef __cplusplus
}
#endif
#endif
