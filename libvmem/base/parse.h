/*
 * Parsers of the value kinds configuration keys have in common: unsigned numbers
 * (plain, counts with decimal suffixes, byte amounts with binary ones), reals and
 * booleans. Each reads the whole string: nothing may follow the value, nor precede it
 * except where said. They return true with the value in *out, or false with *out
 * unchanged.
 *
 * vmem_mmu_config_set() reads its numbers with strtoull's grammar instead (leading
 * blanks, a sign, octal after a leading 0), which these parsers reject or read otherwise.
 *
 * Concurrency: the functions touch only *out.
 */
#ifndef VMEM_PARSE_H
#define VMEM_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Decimal, or hex after 0x: "4096", "0x7f0000000000". */
bool vmem_parse_u64(const char *s, uint64_t *out);

/* A number with an optional suffix k, m, g or t (x 10^3 ... 10^12): "10k", "3m". */
bool vmem_parse_count(const char *s, uint64_t *out);

/*
 * A number with an optional suffix k, m, g or t (x 2^10 ... 2^40), then an optional i
 * and an optional b, all in either case: "64m", "64MB", "64MiB", "0x4000000".
 */
bool vmem_parse_bytes(const char *s, uint64_t *out);

/* A finite real in strtod's grammar, leading blanks allowed: "1", "0.25", "1e-3". */
bool vmem_parse_double(const char *s, double *out);

enum vmem_parse_case {
	VMEM_PARSE_CASE_EXACT,   /* "true" only */
	VMEM_PARSE_CASE_ANY,     /* "true", "True", "TRUE", ... */
};

/* 1/0, yes/no, true/false or on/off, the words matched as `match` says. */
bool vmem_parse_bool(const char *s, enum vmem_parse_case match, bool *out);

#endif
