/*
 * Configuration of the synthetic trace generators (see include/vmem/tracegen.h): the
 * pattern names, the key table with each key's accepted values, default and meaning,
 * the defaults, key=value parsing, and the checks of the keys against each other.
 *
 * vmem_tracegen_config_set() checks one value on its own (its syntax and range) and
 * leaves the configuration unchanged when it rejects it; vmem_tracegen_config_check()
 * checks what depends on several keys (footprint a multiple of size, canonical regions,
 * the limits of the permutation tables).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmem/tracegen.h"

#include "base/parse.h"
#include "tracegen_internal.h"

/* Largest permutation table (elements): 512 MiB of uint32_t. */
#define GEN_MAX_PERM (1ull << 27)
#define GEN_MAX_COUNT (1ull << 62)
#define GEN_MAX_BYTES (1ull << 56)

/* ---- names and the key table ---- */

static const char *const pattern_names[VMEM_TRACEGEN_PATTERNS] = {
	"sequential", "strided", "uniform", "zipf", "chase", "multiproc",
};

const char *vmem_tracegen_pattern_name(enum vmem_tracegen_pattern p)
{
	return (unsigned)p < VMEM_TRACEGEN_PATTERNS ? pattern_names[p] : "?";
}

int vmem_tracegen_pattern_parse(const char *s, enum vmem_tracegen_pattern *out)
{
	if (!s || !out)
		return VMEM_EINVAL;
	for (unsigned i = 0; i < VMEM_TRACEGEN_PATTERNS; i++) {
		if (strcasecmp(s, pattern_names[i]) == 0) {
			*out = (enum vmem_tracegen_pattern)i;
			return 0;
		}
	}
	if (strcasecmp(s, "random") == 0) {
		*out = VMEM_TRACEGEN_UNIFORM;
		return 0;
	}
	return VMEM_EINVAL;
}

static const struct vmem_tracegen_key key_table[] = {
	{ "pattern", "sequential|strided|uniform|zipf|chase|multiproc", "sequential",
	  "access pattern (random is another name for uniform)" },
	{ "count", "N", "1m",
	  "data accesses to emit; instruction fetches and control records come on top" },
	{ "footprint", "BYTES", "64m",
	  "size of the data region [base, base + footprint); a multiple of size" },
	{ "base", "ADDR", "0x7f0000000000",
	  "first byte of the data region; 4 KiB aligned, region canonical" },
	{ "size", "1..255", "8", "bytes per data access" },
	{ "stride", "BYTES", "4096",
	  "strided: bytes between consecutive accesses, a multiple of size" },
	{ "granule", "BYTES, a power of two", "64",
	  "chase: element size (64 = cache lines, 4096 = pages); size..footprint" },
	{ "alpha", "REAL > 0", "1.0", "zipf: exponent; P(rank k) ~ 1/k^alpha" },
	{ "write_ratio", "0..1", "0", "fraction of data accesses that are stores (chase: loads only)" },
	{ "ifetch", "0|1", "0", "an instruction fetch from the code region before each data access" },
	{ "code_base", "ADDR", "0x555555554000", "ifetch: first byte of the code region" },
	{ "code_size", "BYTES, a multiple of 4", "16k",
	  "ifetch: code region walked by 4-byte fetches in a loop" },
	{ "seed", "0..2^64-1", "1", "random seed; the same seed gives the same trace" },
	{ "processes", "1..4096", "2", "multiproc: address spaces (asid, asid+1, ...)" },
	{ "inner", "pattern[,pattern...]", "zipf",
	  "multiproc: pattern of each process, assigned round-robin" },
	{ "quantum", "N >= 1", "10k", "multiproc: data accesses between context switches" },
	{ "unmap_every", "N, 0 = never", "0",
	  "data accesses between unmaps of a random page range (any pattern)" },
	{ "protect_every", "N, 0 = never", "0",
	  "data accesses between protection changes of a random page range (any pattern)" },
	{ "event_pages", "N >= 1", "16", "most 4 KiB pages an unmap/protect range covers" },
	{ "prot", "none|r|rw|rx|rwx|...", "rw",
	  "protection protect events set (user bit always set)" },
	{ "vm", "0..65535", "0", "VM id of every record" },
	{ "asid", "0..2^32-1", "0", "address-space id (multiproc: of the first process)" },
	{ "va_bits", "48|57", "48", "virtual-address width the regions must be canonical in" },
};

#define N_KEYS (sizeof(key_table) / sizeof(key_table[0]))

const struct vmem_tracegen_key *vmem_tracegen_keys(size_t *n)
{
	if (n)
		*n = N_KEYS;
	return key_table;
}

void vmem_tracegen_config_default(struct vmem_tracegen_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->pattern = VMEM_TRACEGEN_SEQUENTIAL;
	cfg->inner[0] = VMEM_TRACEGEN_ZIPF;
	cfg->n_inner = 1;
	cfg->count = 1000000;
	cfg->footprint = 64ull << 20;
	cfg->base = 0x7f0000000000ull;
	cfg->size = 8;
	cfg->stride = 4096;
	cfg->granule = 64;
	cfg->alpha = 1.0;
	cfg->write_ratio = 0.0;
	cfg->ifetch = false;
	cfg->code_base = 0x555555554000ull;
	cfg->code_size = 16ull << 10;
	cfg->seed = 1;
	cfg->processes = 2;
	cfg->quantum = 10000;
	cfg->unmap_every = 0;
	cfg->protect_every = 0;
	cfg->event_pages = 16;
	cfg->prot = VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_USER;
	cfg->vm = 0;
	cfg->asid = 0;
	cfg->va_bits = 48;
}

/* Writes the message into errbuf (when not NULL) and returns VMEM_EINVAL. */
static int set_err(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf && errlen) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return VMEM_EINVAL;
}

/* ---- key=value parsing ---- */

/* "none", or r, w and x each at most once, either case; the user bit is always set. */
static bool parse_prot(const char *s, uint8_t *out)
{
	uint8_t p = VMEM_PROT_USER;

	if (strcasecmp(s, "none") == 0) {
		*out = p;
		return true;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		uint8_t bit;

		switch (*s | 0x20) {
		case 'r': bit = VMEM_PROT_READ; break;
		case 'w': bit = VMEM_PROT_WRITE; break;
		case 'x': bit = VMEM_PROT_EXEC; break;
		default: return false;
		}
		if (p & bit)
			return false;
		p |= bit;
	}
	*out = p;
	return true;
}

/* A comma list of 1..VMEM_TRACEGEN_MAX_INNER patterns other than multiproc. */
static bool parse_inner(const char *s, struct vmem_tracegen_config *cfg)
{
	enum vmem_tracegen_pattern pats[VMEM_TRACEGEN_MAX_INNER];
	unsigned n = 0;
	char name[32];

	while (*s) {
		size_t len = strcspn(s, ",");

		if (len == 0 || len >= sizeof(name) || n == VMEM_TRACEGEN_MAX_INNER)
			return false;
		memcpy(name, s, len);
		name[len] = '\0';
		if (vmem_tracegen_pattern_parse(name, &pats[n]) < 0 ||
		    pats[n] == VMEM_TRACEGEN_MULTIPROC)
			return false;
		n++;
		s += len;
		if (*s == ',') {
			s++;
			if (!*s)
				return false;
		}
	}
	if (n == 0)
		return false;
	memcpy(cfg->inner, pats, n * sizeof(pats[0]));
	cfg->n_inner = n;
	return true;
}

/* The key names, comma-separated, for the message about an unknown key. */
static void key_list(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_KEYS && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", key_table[i].name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* Reads value with parse into *u; true if that succeeds and lo <= *u <= hi. */
static bool uint_in(bool (*parse)(const char *, uint64_t *), const char *value, uint64_t lo,
		    uint64_t hi, uint64_t *u)
{
	return parse(value, u) && *u >= lo && *u <= hi;
}

int vmem_tracegen_config_set(struct vmem_tracegen_config *cfg, const char *key,
			     const char *value, char *errbuf, size_t errlen)
{
	const struct vmem_tracegen_key *k = NULL;
	struct vmem_tracegen_config c;
	const char *expect;   /* what the message says was expected when ok is false */
	bool ok;
	uint64_t u = 0;

	if (!cfg || !key || !value)
		return set_err(errbuf, errlen, "missing configuration, key or value");
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(key, key_table[i].name) == 0)
			k = &key_table[i];
	}
	if (!k) {
		char names[512];

		key_list(names, sizeof(names));
		return set_err(errbuf, errlen, "unknown key '%s'; the keys are %s", key, names);
	}
	/* The branches write into the copy c, even when they reject the value. */
	c = *cfg;
	expect = k->values;

#define IS(name) (strcmp(key, name) == 0)

	if (IS("pattern")) {
		ok = vmem_tracegen_pattern_parse(value, &c.pattern) >= 0;
	} else if (IS("inner")) {
		if (!parse_inner(value, &c))
			return set_err(errbuf, errlen,
				       "inner: expected 1..%d comma-separated patterns out of "
				       "sequential, strided, uniform, zipf, chase; got '%s'",
				       VMEM_TRACEGEN_MAX_INNER, value);
		ok = true;
	} else if (IS("count")) {
		ok = uint_in(vmem_parse_count, value, 1, GEN_MAX_COUNT, &c.count);
		expect = "a number of accesses 1..2^62";
	} else if (IS("footprint")) {
		ok = uint_in(vmem_parse_bytes, value, 1, GEN_MAX_BYTES, &c.footprint);
		expect = "a byte amount 1..2^56 such as 64m or 0x4000000";
	} else if (IS("base")) {
		ok = vmem_parse_u64(value, &c.base);
		expect = "an address such as 0x7f0000000000";
		if (ok && c.base % GEN_PAGE) {
			ok = false;
			expect = "a 4 KiB aligned address";
		}
	} else if (IS("code_base")) {
		ok = vmem_parse_u64(value, &c.code_base);
		expect = "an address such as 0x7f0000000000";
	} else if (IS("size")) {
		ok = uint_in(vmem_parse_u64, value, 1, 255, &u);
		c.size = (unsigned)u;
	} else if (IS("stride")) {
		ok = uint_in(vmem_parse_bytes, value, 1, GEN_MAX_BYTES, &c.stride);
		expect = "a byte amount 1..2^56";
	} else if (IS("granule")) {
		ok = uint_in(vmem_parse_bytes, value, 1, GEN_MAX_BYTES, &c.granule) &&
		     !(c.granule & (c.granule - 1));
		expect = "a power of two such as 64 or 4k";
	} else if (IS("alpha")) {
		ok = vmem_parse_double(value, &c.alpha) && c.alpha > 0.0 && c.alpha <= 100.0;
		expect = "a real number in (0, 100]";
	} else if (IS("write_ratio")) {
		ok = vmem_parse_double(value, &c.write_ratio) && c.write_ratio >= 0.0 &&
		     c.write_ratio <= 1.0;
		expect = "a fraction in [0, 1]";
	} else if (IS("ifetch")) {
		ok = vmem_parse_bool(value, VMEM_PARSE_CASE_ANY, &c.ifetch);
	} else if (IS("code_size")) {
		ok = uint_in(vmem_parse_bytes, value, 1, GEN_MAX_BYTES, &c.code_size) &&
		     c.code_size % GEN_IFETCH_SIZE == 0;
	} else if (IS("seed")) {
		ok = vmem_parse_u64(value, &c.seed);
	} else if (IS("processes")) {
		ok = uint_in(vmem_parse_u64, value, 1, VMEM_TRACEGEN_MAX_PROCESSES, &u);
		c.processes = (unsigned)u;
	} else if (IS("quantum")) {
		ok = uint_in(vmem_parse_count, value, 1, GEN_MAX_COUNT, &c.quantum);
		expect = "a number of accesses >= 1";
	} else if (IS("unmap_every") || IS("protect_every")) {
		ok = uint_in(vmem_parse_count, value, 0, GEN_MAX_COUNT,
			     IS("unmap_every") ? &c.unmap_every : &c.protect_every);
		expect = "a number of accesses (0 = never)";
	} else if (IS("event_pages")) {
		ok = uint_in(vmem_parse_count, value, 1, GEN_MAX_BYTES >> 12, &c.event_pages);
		expect = "a number of pages >= 1";
	} else if (IS("prot")) {
		ok = parse_prot(value, &c.prot);
		expect = "none or a combination of r, w, x such as rw";
	} else if (IS("vm")) {
		ok = uint_in(vmem_parse_u64, value, 0, UINT16_MAX, &u);
		c.vm = (uint16_t)u;
	} else if (IS("asid")) {
		ok = uint_in(vmem_parse_u64, value, 0, UINT32_MAX, &u);
		c.asid = (uint32_t)u;
	} else if (IS("va_bits")) {
		ok = vmem_parse_u64(value, &u) && (u == 48 || u == 57);
		c.va_bits = (unsigned)u;
	} else {
		return set_err(errbuf, errlen, "%s: key not handled", key);
	}
#undef IS
	if (!ok)
		return set_err(errbuf, errlen, "%s: expected %s, got '%s'", key, expect, value);
	*cfg = c;
	return 0;
}

/* ---- checks ---- */

/* [start, start + len) lies in one canonical half of a va_bits address space. */
static bool region_canonical(uint64_t start, uint64_t len, unsigned va_bits)
{
	uint64_t last = start + len - 1;

	if (last < start)
		return false;
	if (!vmem_addr_canonical(start, va_bits) || !vmem_addr_canonical(last, va_bits))
		return false;
	/* Both in the lower or both in the upper half. */
	return (start >> 63) == (last >> 63);
}

static bool uses_pattern(const struct vmem_tracegen_config *cfg, enum vmem_tracegen_pattern p)
{
	if (cfg->pattern != VMEM_TRACEGEN_MULTIPROC)
		return cfg->pattern == p;
	for (unsigned i = 0; i < cfg->n_inner && i < cfg->processes; i++) {
		if (cfg->inner[i] == p)
			return true;
	}
	return false;
}

bool vmem_tracegen_config_has_events(const struct vmem_tracegen_config *cfg)
{
	return cfg && (cfg->pattern == VMEM_TRACEGEN_MULTIPROC || cfg->unmap_every ||
		       cfg->protect_every);
}

int vmem_tracegen_config_check(const struct vmem_tracegen_config *cfg, char *errbuf,
			       size_t errlen)
{
	if (!cfg)
		return set_err(errbuf, errlen, "no configuration");
	if ((unsigned)cfg->pattern >= VMEM_TRACEGEN_PATTERNS)
		return set_err(errbuf, errlen, "pattern: out of range");
	if (cfg->size < 1 || cfg->size > 255)
		return set_err(errbuf, errlen, "size: expected 1..255, got %u", cfg->size);
	if (cfg->count == 0 || cfg->footprint == 0)
		return set_err(errbuf, errlen, "count and footprint must be at least 1");
	if (cfg->va_bits != 48 && cfg->va_bits != 57)
		return set_err(errbuf, errlen, "va_bits: expected 48 or 57, got %u", cfg->va_bits);
	if (cfg->pattern == VMEM_TRACEGEN_MULTIPROC) {
		if (cfg->processes < 1 || cfg->processes > VMEM_TRACEGEN_MAX_PROCESSES)
			return set_err(errbuf, errlen, "processes: expected 1..%d, got %u",
				       VMEM_TRACEGEN_MAX_PROCESSES, cfg->processes);
		if (cfg->n_inner < 1 || cfg->n_inner > VMEM_TRACEGEN_MAX_INNER)
			return set_err(errbuf, errlen, "inner: expected 1..%d patterns",
				       VMEM_TRACEGEN_MAX_INNER);
		for (unsigned i = 0; i < cfg->n_inner; i++) {
			if ((unsigned)cfg->inner[i] >= VMEM_TRACEGEN_MULTIPROC)
				return set_err(errbuf, errlen,
					       "inner: a process cannot run '%s'",
					       vmem_tracegen_pattern_name(cfg->inner[i]));
		}
		if (cfg->quantum == 0)
			return set_err(errbuf, errlen, "quantum: expected >= 1");
		if ((uint64_t)cfg->asid + cfg->processes - 1 > UINT32_MAX)
			return set_err(errbuf, errlen,
				       "asid: asid + processes - 1 must fit in 32 bits");
	}
	if (cfg->footprint % cfg->size)
		return set_err(errbuf, errlen,
			       "footprint: expected a multiple of size (%u), got %llu",
			       cfg->size, (unsigned long long)cfg->footprint);
	if (cfg->base % GEN_PAGE)
		return set_err(errbuf, errlen, "base: expected a 4 KiB aligned address");
	if (!region_canonical(cfg->base, cfg->footprint, cfg->va_bits))
		return set_err(errbuf, errlen,
			       "base, footprint: [0x%llx, 0x%llx + 0x%llx) is not canonical "
			       "for %u-bit virtual addresses",
			       (unsigned long long)cfg->base, (unsigned long long)cfg->base,
			       (unsigned long long)cfg->footprint, cfg->va_bits);
	if (uses_pattern(cfg, VMEM_TRACEGEN_STRIDED) && cfg->stride % cfg->size)
		return set_err(errbuf, errlen,
			       "stride: expected a multiple of size (%u), got %llu",
			       cfg->size, (unsigned long long)cfg->stride);
	if (uses_pattern(cfg, VMEM_TRACEGEN_ZIPF)) {
		if (cfg->footprint % GEN_PAGE)
			return set_err(errbuf, errlen,
				       "footprint: zipf draws 4 KiB pages; expected a multiple "
				       "of 4096, got %llu", (unsigned long long)cfg->footprint);
		if (cfg->footprint / GEN_PAGE > GEN_MAX_PERM)
			return set_err(errbuf, errlen,
				       "footprint: zipf supports at most 2^27 pages (512 GiB)");
		if (!(cfg->alpha > 0.0) || !isfinite(cfg->alpha))
			return set_err(errbuf, errlen, "alpha: expected a real number > 0");
	}
	if (uses_pattern(cfg, VMEM_TRACEGEN_CHASE)) {
		if (cfg->granule < cfg->size || (cfg->granule & (cfg->granule - 1)))
			return set_err(errbuf, errlen,
				       "granule: expected a power of two >= size (%u), got %llu",
				       cfg->size, (unsigned long long)cfg->granule);
		if (cfg->footprint % cfg->granule)
			return set_err(errbuf, errlen,
				       "footprint: chase expected a multiple of granule (%llu), "
				       "got %llu", (unsigned long long)cfg->granule,
				       (unsigned long long)cfg->footprint);
		if (cfg->footprint / cfg->granule > GEN_MAX_PERM)
			return set_err(errbuf, errlen,
				       "footprint: chase supports at most 2^27 elements; "
				       "raise granule or lower footprint");
	}
	if (!(cfg->write_ratio >= 0.0 && cfg->write_ratio <= 1.0))
		return set_err(errbuf, errlen, "write_ratio: expected a fraction in [0, 1]");
	if ((cfg->unmap_every || cfg->protect_every)) {
		if (cfg->footprint < GEN_PAGE)
			return set_err(errbuf, errlen,
				       "footprint: unmap/protect events need at least one 4 KiB page");
		if (cfg->event_pages == 0)
			return set_err(errbuf, errlen, "event_pages: expected >= 1");
	}
	if (cfg->ifetch) {
		uint64_t cs = cfg->code_base, ce = cfg->code_base + cfg->code_size;

		if (cfg->code_size == 0 || cfg->code_size % GEN_IFETCH_SIZE)
			return set_err(errbuf, errlen, "code_size: expected a multiple of 4");
		if (!region_canonical(cfg->code_base, cfg->code_size, cfg->va_bits))
			return set_err(errbuf, errlen,
				       "code_base, code_size: the code region is not canonical "
				       "for %u-bit virtual addresses", cfg->va_bits);
		if (cs < cfg->base + cfg->footprint && cfg->base < ce)
			return set_err(errbuf, errlen,
				       "code_base, code_size: the code region overlaps the data "
				       "region [base, base + footprint)");
	}
	return 0;
}
