/*
 * Seeded synthetic trace generators.
 *
 * A generator produces the same struct vmem_trace_rec stream as a trace reader, so
 * everything that replays a trace replays a synthetic one. It is configured by a plain
 * struct (vmem_tracegen_config_default() plus key=value parsing with
 * vmem_tracegen_config_set(); vmem_tracegen_keys() lists every key with its default and
 * meaning, which `vmem-gen --help` prints) and produces its records in batches with
 * vmem_tracegen_next() until `count` data accesses have been emitted.
 *
 * Patterns (key `pattern`; each data access is `size` bytes inside
 * [base, base + footprint)):
 *   sequential  offsets 0, size, 2*size, ... wrapping at footprint.
 *   strided     offsets 0, stride, 2*stride, ... modulo footprint (stride 4096 touches
 *               a new page on every access and defeats the TLBs).
 *   uniform     a uniformly random size-aligned offset in the footprint.
 *   zipf        a page drawn from a Zipf(alpha) distribution over the footprint's 4 KiB
 *               pages (rank k has probability proportional to 1/k^alpha), mapped to a
 *               page by a seeded random permutation so the hot pages are scattered, and
 *               a random size-aligned offset inside that page.
 *   chase       pointer chasing: a seeded random single-cycle permutation of the
 *               footprint's `granule`-byte elements (cache lines or pages), one load per
 *               hop, so every element is visited exactly once per cycle.
 *   multiproc   `processes` address spaces (asid, asid+1, ...) each running the
 *               pattern `inner` (a comma list is assigned round-robin) with its own
 *               seed-derived state, switching round-robin every `quantum` data accesses
 *               with a VMEM_REC_SWITCH_AS record.
 * With every pattern, unmap_every/protect_every add VMEM_REC_UNMAP/VMEM_REC_PROTECT
 * records of a random page range of the footprint in the current address space, and
 * ifetch=1 puts one instruction fetch from a small code region before each data access.
 *
 * Determinism: the output depends only on the configuration (including seed). All
 * randomness comes from xoshiro256** streams seeded by splitmix64; the address, store
 * and event decisions use separate streams, so changing write_ratio does not move the
 * addresses. The zipf sampler computes with exp, log, log1p and expm1: its draws are
 * bit-identical wherever libm returns the same values for them; a libm that differs in
 * the last bit could, very rarely, move a draw to the neighbouring rank.
 *
 * Concurrency: a generator is used by one thread at a time; distinct generators are
 * independent. The functions on configurations touch only the struct passed.
 */
#ifndef VMEM_TRACEGEN_H
#define VMEM_TRACEGEN_H

#include <stddef.h>
#include <stdint.h>

#include "vmem/common.h"
#include "vmem/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vmem_tracegen_pattern {
	VMEM_TRACEGEN_SEQUENTIAL = 0,
	VMEM_TRACEGEN_STRIDED,
	VMEM_TRACEGEN_UNIFORM,
	VMEM_TRACEGEN_ZIPF,
	VMEM_TRACEGEN_CHASE,
	VMEM_TRACEGEN_MULTIPROC,
	VMEM_TRACEGEN_PATTERNS,
};

/* Most inner patterns a multiproc configuration can list (inner=zipf,chase,...). */
#define VMEM_TRACEGEN_MAX_INNER 8
/* Most address spaces of a multiproc configuration. */
#define VMEM_TRACEGEN_MAX_PROCESSES 4096

struct vmem_tracegen_config {
	enum vmem_tracegen_pattern pattern;
	/* multiproc: the pattern of process i is inner[i % n_inner]. */
	enum vmem_tracegen_pattern inner[VMEM_TRACEGEN_MAX_INNER];
	unsigned n_inner;
	uint64_t count;          /* data accesses to emit */
	uint64_t footprint;      /* bytes of the data region */
	uint64_t base;           /* first byte of the data region (4 KiB aligned) */
	unsigned size;           /* bytes per data access, 1..255 */
	uint64_t stride;         /* strided: bytes between accesses */
	uint64_t granule;        /* chase: bytes per element (power of two) */
	double alpha;            /* zipf exponent, > 0 */
	double write_ratio;      /* fraction of data accesses that are stores, 0..1 */
	bool ifetch;             /* an instruction fetch before every data access */
	uint64_t code_base;      /* first byte of the code region */
	uint64_t code_size;      /* bytes of the code region */
	uint64_t seed;
	unsigned processes;      /* multiproc: address spaces */
	uint64_t quantum;        /* multiproc: data accesses between switches */
	uint64_t unmap_every;    /* data accesses between unmap events; 0 = none */
	uint64_t protect_every;  /* data accesses between protect events; 0 = none */
	uint64_t event_pages;    /* most 4 KiB pages an unmap/protect range covers */
	uint8_t prot;            /* enum vmem_prot bits of protect events */
	uint16_t vm;             /* VM id of every record */
	uint32_t asid;           /* address space of every record (multiproc: the first) */
	unsigned va_bits;        /* 48 or 57: the canonical-address check */
};

/* One row of the key table: name, accepted values, default, meaning. */
struct vmem_tracegen_key {
	const char *name;
	const char *values;
	const char *def;
	const char *help;
};

/* The defaults the key table states: a sequential 1M-access walk over 64 MiB. */
void vmem_tracegen_config_default(struct vmem_tracegen_config *cfg);

/*
 * Sets one key from its text value. Numbers accept decimal or 0x hex; byte amounts
 * (footprint, stride, ...) accept the suffixes k, m, g, t (powers of 1024) and counts
 * accept k, m, g (powers of 1000) too. Returns 0, or VMEM_EINVAL with a message in
 * errbuf (when not NULL) naming the key and what was expected; cfg is unchanged then.
 */
int vmem_tracegen_config_set(struct vmem_tracegen_config *cfg, const char *key,
			     const char *value, char *errbuf, size_t errlen);

/*
 * Checks the keys against each other (footprint a multiple of size, canonical region,
 * ...). Returns 0 or VMEM_EINVAL with a message in errbuf (when not NULL).
 * vmem_tracegen_create() runs the same check.
 */
int vmem_tracegen_config_check(const struct vmem_tracegen_config *cfg, char *errbuf,
			       size_t errlen);

/* True if the configuration emits control records (switches, unmaps, protects). */
bool vmem_tracegen_config_has_events(const struct vmem_tracegen_config *cfg);

/* The key table, *n rows; static storage. */
const struct vmem_tracegen_key *vmem_tracegen_keys(size_t *n);

const char *vmem_tracegen_pattern_name(enum vmem_tracegen_pattern p);
int vmem_tracegen_pattern_parse(const char *s, enum vmem_tracegen_pattern *out);

struct vmem_tracegen;

/*
 * Creates a generator; the configuration is copied. Allocates the permutation tables of
 * zipf and chase (4 bytes per page or element, per process). Returns 0, VMEM_EINVAL
 * (see vmem_tracegen_config_check()) or VMEM_ENOMEM. Free with vmem_tracegen_destroy().
 */
int vmem_tracegen_create(const struct vmem_tracegen_config *cfg, struct vmem_tracegen **out);

/*
 * Writes up to max records into recs. Returns how many (> 0), or 0 once `count` data
 * accesses have been emitted. A batch may end between a control record and the access
 * it precedes; the stream is the same whatever the batch sizes.
 */
long vmem_tracegen_next(struct vmem_tracegen *g, struct vmem_trace_rec *recs, size_t max);

struct vmem_tracegen_counts {
	uint64_t accesses;   /* data accesses (loads and stores) */
	uint64_t stores;
	uint64_t ifetches;
	uint64_t switches;
	uint64_t unmaps;
	uint64_t protects;
};

/* What the generator has emitted so far. */
void vmem_tracegen_counts(const struct vmem_tracegen *g, struct vmem_tracegen_counts *out);

void vmem_tracegen_destroy(struct vmem_tracegen *g);


#ifdef __cplusplus
}
#endif
#endif
