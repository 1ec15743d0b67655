/*
 * Seeded synthetic trace generators (see include/vmem/tracegen.h for the patterns).
 *
 * Random numbers. Every random decision draws from a xoshiro256** generator (Blackman and
 * Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS 47(4), 2021; the
 * reference code at https://prng.di.unimi.it/) whose 256-bit state is filled by
 * splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014), as the xoshiro authors recommend. Each purpose has its own stream,
 * seeded from (seed, stream number) through the splitmix64 finaliser: the address stream
 * and the permutation stream of every process, the store/load decisions and the event
 * ranges. Integers below a bound n come from Lemire's multiply-and-reject method ("Fast
 * random integer generation in an interval", ACM TOMACS 29(1), 2019), which is exactly
 * uniform; doubles in [0, 1) are the top 53 bits times 2^-53.
 *
 * Zipf. Ranks 1..n (n = footprint / 4 KiB pages) with P(k) proportional to k^-alpha are
 * drawn by rejection-inversion (Hörmann and Derflinger, "Rejection-inversion to generate
 * variates from monotone discrete distributions", ACM TOMACS 6(3), 1996): with the
 * hat function h(x) = x^-alpha and its integral H(x) = (x^(1-alpha) - 1) / (1 - alpha)
 * (log x when alpha = 1), draw u uniformly in (H(1.5) - 1, H(n + 0.5)], invert
 * x = H^-1(u), round to k; accept at once when k - x <= s (a constant that makes the
 * test cheap for most draws), else when u >= H(k + 0.5) - h(k). Expected draws per
 * variate are below 1.1 for every alpha and n, memory is O(1), and H is evaluated through
 * log1p/expm1 so alpha near 1 loses no precision (the formulation of Apache Commons
 * Math's ZipfRejectionInversionSampler). Rank k is then mapped to page perm[k - 1], a
 * seeded Fisher-Yates shuffle (Durstenfeld's in-place form, CACM 7(7), 1964), so hot
 * pages lie scattered over the footprint as a real heap's do.
 *
 * Pointer chase. The footprint is cut into n elements of `granule` bytes; Sattolo's
 * algorithm ("An algorithm to generate a random cyclic permutation", IPL 22(6), 1986)
 * builds next[] so that i -> next[i] is one cycle through all n elements, drawn
 * uniformly from the (n-1)! such cycles. The walk starts at element 0 and loads the first
 * byte of each element, so every element is visited once per n hops: with 4 KiB elements
 * and n larger than the TLB reach, every hop misses the TLB (the pattern of lmbench's
 * lat_mem_rd and of multichase).
 *
 * Events. In the stream, data access number i (from 0) is preceded by, in this order:
 * a VMEM_REC_SWITCH_AS (multiproc, when i % quantum == 0; the one at i = 0 names the
 * first address space), a VMEM_REC_UNMAP (when unmap_every and i > 0 and
 * i % unmap_every == 0), a VMEM_REC_PROTECT (likewise with protect_every) and an
 * instruction fetch (ifetch=1). An event range starts at a uniformly random page of the
 * footprint and covers 1..event_pages pages, clipped at the footprint's end. So count
 * accesses carry floor((count - 1) / every) events of each kind and multiproc carries
 * 1 + floor((count - 1) / quantum) switches.
 *
 * Simplified: instruction fetches are 4-byte fetches walking the code region in order
 * (one tight loop), and every process uses the same virtual layout, as processes
 * started from one binary do.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmem/tracegen.h"

#define GEN_PAGE 4096ull
#define GEN_IFETCH_SIZE 4u
/* Largest permutation table (elements): 512 MiB of uint32_t. */
#define GEN_MAX_PERM (1ull << 27)
#define GEN_MAX_COUNT (1ull << 62)
#define GEN_MAX_BYTES (1ull << 56)

/* Stream numbers of the random streams (see the top comment). */
enum {
	STREAM_STORE = 1,
	STREAM_EVENT = 2,
	STREAM_PROC = 16,   /* + 2 * process: addresses; + 2 * process + 1: permutation */
};

/* ---- random numbers ---- */

struct xoshiro {
	uint64_t s[4];
};

static uint64_t splitmix64_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void xoshiro_seed(struct xoshiro *x, uint64_t seed, uint64_t stream)
{
	uint64_t sm = seed ^ mix64(stream * 0xd1b54a32d192ed03ull + 0x2545f4914f6cdd1dull);

	for (int i = 0; i < 4; i++)
		x->s[i] = splitmix64_next(&sm);
	/* splitmix64 is a bijection of its counter, so four zeros cannot all come out. */
}

static inline uint64_t rotl64(uint64_t v, int k)
{
	return (v << k) | (v >> (64 - k));
}

static inline uint64_t xoshiro_next(struct xoshiro *x)
{
	uint64_t *s = x->s;
	uint64_t result = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

/* GCC and Clang on 64-bit targets; __extension__ keeps -Wpedantic quiet. */
__extension__ typedef unsigned __int128 gen_u128;

/* Uniform in [0, n), n > 0 (Lemire 2019). */
static inline uint64_t xoshiro_below(struct xoshiro *x, uint64_t n)
{
	gen_u128 m = (gen_u128)xoshiro_next(x) * n;
	uint64_t low = (uint64_t)m;

	if (low < n) {
		uint64_t t = -n % n;

		while (low < t) {
			m = (gen_u128)xoshiro_next(x) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Uniform in [0, 1). */
static inline double xoshiro_double(struct xoshiro *x)
{
	return (double)(xoshiro_next(x) >> 11) * 0x1.0p-53;
}

/* ---- Zipf by rejection-inversion ---- */

struct zipf {
	double alpha;
	double n;
	double h_x1;      /* H(1.5) - 1 */
	double h_n;       /* H(n + 0.5) */
	double s;         /* 2 - H^-1(H(2.5) - h(2)) */
};

/* log1p(x) / x, continuous at 0. */
static double zipf_helper1(double x)
{
	if (fabs(x) > 1e-8)
		return log1p(x) / x;
	return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

/* expm1(x) / x, continuous at 0. */
static double zipf_helper2(double x)
{
	if (fabs(x) > 1e-8)
		return expm1(x) / x;
	return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* h(x) = x^-alpha */
static double zipf_h(const struct zipf *z, double x)
{
	return exp(-z->alpha * log(x));
}

/* H(x) = (x^(1-alpha) - 1) / (1 - alpha), log(x) at alpha = 1. */
static double zipf_hint(const struct zipf *z, double x)
{
	double lx = log(x);

	return zipf_helper2((1.0 - z->alpha) * lx) * lx;
}

static double zipf_hint_inv(const struct zipf *z, double x)
{
	double t = x * (1.0 - z->alpha);

	if (t < -1.0)
		t = -1.0;   /* guards rounding at the lower end; H^-1 is 1 there */
	return exp(zipf_helper1(t) * x);
}

static void zipf_init(struct zipf *z, uint64_t n, double alpha)
{
	z->alpha = alpha;
	z->n = (double)n;
	z->h_x1 = zipf_hint(z, 1.5) - 1.0;
	z->h_n = zipf_hint(z, z->n + 0.5);
	z->s = 2.0 - zipf_hint_inv(z, zipf_hint(z, 2.5) - zipf_h(z, 2.0));
}

/* A rank in 1..n. */
static uint64_t zipf_sample(const struct zipf *z, struct xoshiro *rng)
{
	for (;;) {
		double u = z->h_n + xoshiro_double(rng) * (z->h_x1 - z->h_n);
		double x = zipf_hint_inv(z, u);
		double kd = floor(x + 0.5);

		if (kd < 1.0)
			kd = 1.0;
		else if (kd > z->n)
			kd = z->n;
		if (kd - x <= z->s || u >= zipf_hint(z, kd + 0.5) - zipf_h(z, kd))
			return (uint64_t)kd;
	}
}

/* ---- the generator ---- */

struct gen_proc {
	enum vmem_tracegen_pattern pat;
	uint32_t asid;
	struct xoshiro rng;   /* addresses */
	uint64_t pos;         /* sequential/strided: offset; chase: element */
	uint64_t ip;          /* offset in the code region */
	uint32_t *perm;       /* zipf: rank - 1 -> page; chase: element -> next element */
	struct zipf zipf;
};

enum gen_phase {
	PH_SWITCH = 0,
	PH_UNMAP,
	PH_PROTECT,
	PH_IFETCH,
	PH_DATA,
};

struct vmem_tracegen {
	struct vmem_tracegen_config cfg;
	struct gen_proc *procs;
	unsigned nprocs;
	unsigned cur;
	bool multiproc;
	struct xoshiro store_rng;
	struct xoshiro event_rng;
	uint64_t i;            /* data accesses emitted */
	enum gen_phase phase;  /* what comes next before/at access i */
	uint64_t npages;       /* whole 4 KiB pages in the footprint */
	struct vmem_tracegen_counts counts;
};

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

/* ---- value parsing ---- */

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

/*
 * Unsigned number: decimal, or hex after 0x; then an optional suffix, k/m/g/t, scaling
 * by unit^1..4 (unit 1024 for byte amounts, 1000 for counts; 0 = no suffix allowed).
 */
static bool parse_u64(const char *s, unsigned unit, uint64_t *out)
{
	const char *p = s;
	int base = 10;
	uint64_t v = 0, mul = 1;
	bool digits = false;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + d;
		digits = true;
	}
	if (!digits)
		return false;
	if (*p && unit) {
		const char *sfx = "kmgt";
		const char *q = strchr(sfx, *p | 0x20);

		if (!q || !*q)
			return false;
		for (long e = 0; e <= q - sfx; e++)
			mul *= unit;
		p++;
		/* Accept "64M", "64MB", "64MiB" too. */
		if (unit == 1024 && (*p == 'i' || *p == 'I'))
			p++;
		if (unit == 1024 && (*p == 'b' || *p == 'B'))
			p++;
	}
	if (*p)
		return false;
	if (mul > 1 && v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

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

int vmem_tracegen_config_set(struct vmem_tracegen_config *cfg, const char *key,
			     const char *value, char *errbuf, size_t errlen)
{
	const struct vmem_tracegen_key *k = NULL;
	struct vmem_tracegen_config c;
	uint64_t u = 0;
	double d = 0.0;

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
	c = *cfg;

#define BAD() set_err(errbuf, errlen, "%s: expected %s, got '%s'", key, k->values, value)
#define IS(name) (strcmp(key, name) == 0)

	if (IS("pattern")) {
		if (vmem_tracegen_pattern_parse(value, &c.pattern) < 0)
			return BAD();
	} else if (IS("inner")) {
		if (!parse_inner(value, &c))
			return set_err(errbuf, errlen,
				       "inner: expected 1..%d comma-separated patterns out of "
				       "sequential, strided, uniform, zipf, chase; got '%s'",
				       VMEM_TRACEGEN_MAX_INNER, value);
	} else if (IS("count")) {
		if (!parse_u64(value, 1000, &u) || u == 0 || u > GEN_MAX_COUNT)
			return set_err(errbuf, errlen,
				       "count: expected a number of accesses 1..2^62, got '%s'", value);
		c.count = u;
	} else if (IS("footprint")) {
		if (!parse_u64(value, 1024, &u) || u == 0 || u > GEN_MAX_BYTES)
			return set_err(errbuf, errlen,
				       "footprint: expected a byte amount 1..2^56 such as 64m or "
				       "0x4000000, got '%s'", value);
		c.footprint = u;
	} else if (IS("base") || IS("code_base")) {
		if (!parse_u64(value, 0, &u))
			return set_err(errbuf, errlen,
				       "%s: expected an address such as 0x7f0000000000, got '%s'",
				       key, value);
		if (IS("base")) {
			if (u % GEN_PAGE)
				return set_err(errbuf, errlen,
					       "base: expected a 4 KiB aligned address, got '%s'",
					       value);
			c.base = u;
		} else {
			c.code_base = u;
		}
	} else if (IS("size")) {
		if (!parse_u64(value, 0, &u) || u < 1 || u > 255)
			return BAD();
		c.size = (unsigned)u;
	} else if (IS("stride")) {
		if (!parse_u64(value, 1024, &u) || u == 0 || u > GEN_MAX_BYTES)
			return set_err(errbuf, errlen,
				       "stride: expected a byte amount 1..2^56, got '%s'", value);
		c.stride = u;
	} else if (IS("granule")) {
		if (!parse_u64(value, 1024, &u) || u == 0 || (u & (u - 1)) || u > GEN_MAX_BYTES)
			return set_err(errbuf, errlen,
				       "granule: expected a power of two such as 64 or 4k, got '%s'",
				       value);
		c.granule = u;
	} else if (IS("alpha")) {
		if (!parse_double(value, &d) || !(d > 0.0) || d > 100.0)
			return set_err(errbuf, errlen,
				       "alpha: expected a real number in (0, 100], got '%s'", value);
		c.alpha = d;
	} else if (IS("write_ratio")) {
		if (!parse_double(value, &d) || d < 0.0 || d > 1.0)
			return set_err(errbuf, errlen,
				       "write_ratio: expected a fraction in [0, 1], got '%s'", value);
		c.write_ratio = d;
	} else if (IS("ifetch")) {
		if (!parse_bool(value, &c.ifetch))
			return BAD();
	} else if (IS("code_size")) {
		if (!parse_u64(value, 1024, &u) || u == 0 || u % GEN_IFETCH_SIZE ||
		    u > GEN_MAX_BYTES)
			return BAD();
		c.code_size = u;
	} else if (IS("seed")) {
		if (!parse_u64(value, 0, &u))
			return BAD();
		c.seed = u;
	} else if (IS("processes")) {
		if (!parse_u64(value, 0, &u) || u < 1 || u > VMEM_TRACEGEN_MAX_PROCESSES)
			return BAD();
		c.processes = (unsigned)u;
	} else if (IS("quantum")) {
		if (!parse_u64(value, 1000, &u) || u == 0 || u > GEN_MAX_COUNT)
			return set_err(errbuf, errlen,
				       "quantum: expected a number of accesses >= 1, got '%s'", value);
		c.quantum = u;
	} else if (IS("unmap_every") || IS("protect_every")) {
		if (!parse_u64(value, 1000, &u) || u > GEN_MAX_COUNT)
			return set_err(errbuf, errlen,
				       "%s: expected a number of accesses (0 = never), got '%s'",
				       key, value);
		if (IS("unmap_every"))
			c.unmap_every = u;
		else
			c.protect_every = u;
	} else if (IS("event_pages")) {
		if (!parse_u64(value, 1000, &u) || u == 0 || u > (GEN_MAX_BYTES >> 12))
			return set_err(errbuf, errlen,
				       "event_pages: expected a number of pages >= 1, got '%s'",
				       value);
		c.event_pages = u;
	} else if (IS("prot")) {
		if (!parse_prot(value, &c.prot))
			return set_err(errbuf, errlen,
				       "prot: expected none or a combination of r, w, x "
				       "such as rw, got '%s'", value);
	} else if (IS("vm")) {
		if (!parse_u64(value, 0, &u) || u > UINT16_MAX)
			return BAD();
		c.vm = (uint16_t)u;
	} else if (IS("asid")) {
		if (!parse_u64(value, 0, &u) || u > UINT32_MAX)
			return BAD();
		c.asid = (uint32_t)u;
	} else if (IS("va_bits")) {
		if (!parse_u64(value, 0, &u) || (u != 48 && u != 57))
			return BAD();
		c.va_bits = (unsigned)u;
	} else {
		return set_err(errbuf, errlen, "%s: key not handled", key);
	}
#undef BAD
#undef IS
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

/* ---- creation ---- */

static int proc_init(struct vmem_tracegen *g, struct gen_proc *p, unsigned idx)
{
	const struct vmem_tracegen_config *c = &g->cfg;
	struct xoshiro prng;
	uint64_t n;

	p->pat = g->multiproc ? c->inner[idx % c->n_inner] : c->pattern;
	p->asid = c->asid + idx;
	xoshiro_seed(&p->rng, c->seed, STREAM_PROC + 2ull * idx);
	xoshiro_seed(&prng, c->seed, STREAM_PROC + 2ull * idx + 1);
	p->pos = 0;
	p->ip = 0;
	p->perm = NULL;
	switch (p->pat) {
	case VMEM_TRACEGEN_ZIPF:
		n = c->footprint / GEN_PAGE;
		p->perm = malloc(n * sizeof(uint32_t));
		if (!p->perm)
			return VMEM_ENOMEM;
		for (uint64_t i = 0; i < n; i++)
			p->perm[i] = (uint32_t)i;
		/* Fisher-Yates: position i takes a uniform pick of positions 0..i. */
		for (uint64_t i = n - 1; i > 0; i--) {
			uint64_t j = xoshiro_below(&prng, i + 1);
			uint32_t t = p->perm[i];

			p->perm[i] = p->perm[j];
			p->perm[j] = t;
		}
		zipf_init(&p->zipf, n, c->alpha);
		break;
	case VMEM_TRACEGEN_CHASE:
		n = c->footprint / c->granule;
		p->perm = malloc(n * sizeof(uint32_t));
		if (!p->perm)
			return VMEM_ENOMEM;
		for (uint64_t i = 0; i < n; i++)
			p->perm[i] = (uint32_t)i;
		/* Sattolo: like Fisher-Yates but j < i, which leaves a single cycle. */
		for (uint64_t i = n - 1; i > 0; i--) {
			uint64_t j = xoshiro_below(&prng, i);
			uint32_t t = p->perm[i];

			p->perm[i] = p->perm[j];
			p->perm[j] = t;
		}
		break;
	default:
		break;
	}
	return 0;
}

int vmem_tracegen_create(const struct vmem_tracegen_config *cfg, struct vmem_tracegen **out)
{
	struct vmem_tracegen *g;
	int rc;

	if (!out)
		return VMEM_EINVAL;
	*out = NULL;
	rc = vmem_tracegen_config_check(cfg, NULL, 0);
	if (rc < 0)
		return rc;
	g = calloc(1, sizeof(*g));
	if (!g)
		return VMEM_ENOMEM;
	g->cfg = *cfg;
	g->multiproc = cfg->pattern == VMEM_TRACEGEN_MULTIPROC;
	g->nprocs = g->multiproc ? cfg->processes : 1;
	g->npages = cfg->footprint / GEN_PAGE;
	g->phase = PH_SWITCH;
	xoshiro_seed(&g->store_rng, cfg->seed, STREAM_STORE);
	xoshiro_seed(&g->event_rng, cfg->seed, STREAM_EVENT);
	g->procs = calloc(g->nprocs, sizeof(*g->procs));
	if (!g->procs) {
		free(g);
		return VMEM_ENOMEM;
	}
	for (unsigned i = 0; i < g->nprocs; i++) {
		rc = proc_init(g, &g->procs[i], i);
		if (rc < 0) {
			vmem_tracegen_destroy(g);
			return rc;
		}
	}
	*out = g;
	return 0;
}

void vmem_tracegen_destroy(struct vmem_tracegen *g)
{
	if (!g)
		return;
	if (g->procs) {
		for (unsigned i = 0; i < g->nprocs; i++)
			free(g->procs[i].perm);
		free(g->procs);
	}
	free(g);
}

void vmem_tracegen_counts(const struct vmem_tracegen *g, struct vmem_tracegen_counts *out)
{
	if (!out)
		return;
	if (g)
		*out = g->counts;
	else
		memset(out, 0, sizeof(*out));
}

/* ---- generation ---- */

/* The data offset of the next access of process p. */
static uint64_t proc_next_offset(struct vmem_tracegen *g, struct gen_proc *p)
{
	const struct vmem_tracegen_config *c = &g->cfg;
	uint64_t off, page;

	switch (p->pat) {
	case VMEM_TRACEGEN_SEQUENTIAL:
		off = p->pos;
		p->pos += c->size;
		if (p->pos >= c->footprint)
			p->pos = 0;
		return off;
	case VMEM_TRACEGEN_STRIDED:
		off = p->pos;
		p->pos = (p->pos + c->stride) % c->footprint;
		return off;
	case VMEM_TRACEGEN_UNIFORM:
		return xoshiro_below(&p->rng, c->footprint / c->size) * c->size;
	case VMEM_TRACEGEN_ZIPF:
		page = p->perm[zipf_sample(&p->zipf, &p->rng) - 1];
		return page * GEN_PAGE + xoshiro_below(&p->rng, GEN_PAGE / c->size) * c->size;
	case VMEM_TRACEGEN_CHASE:
		off = p->pos * c->granule;
		p->pos = p->perm[p->pos];
		return off;
	default:
		return 0;
	}
}

static void rec_control(struct vmem_tracegen *g, struct vmem_trace_rec *r, uint8_t type)
{
	const struct gen_proc *p = &g->procs[g->cur];

	memset(r, 0, sizeof(*r));
	r->type = type;
	r->vm = g->cfg.vm;
	r->asid = p->asid;
	if (type == VMEM_REC_UNMAP || type == VMEM_REC_PROTECT) {
		uint64_t first = xoshiro_below(&g->event_rng, g->npages);
		uint64_t most = g->npages - first;

		if (most > g->cfg.event_pages)
			most = g->cfg.event_pages;
		r->addr = g->cfg.base + first * GEN_PAGE;
		r->len = (1 + xoshiro_below(&g->event_rng, most)) * GEN_PAGE;
		if (type == VMEM_REC_PROTECT)
			r->prot = g->cfg.prot;
	}
}

static bool due(uint64_t i, uint64_t every)
{
	return every && i > 0 && i % every == 0;
}

long vmem_tracegen_next(struct vmem_tracegen *g, struct vmem_trace_rec *recs, size_t max)
{
	const struct vmem_tracegen_config *c;
	size_t n = 0;

	if (!g || (!recs && max))
		return VMEM_EINVAL;
	c = &g->cfg;
	while (n < max && g->i < c->count) {
		struct vmem_trace_rec *r = &recs[n];
		struct gen_proc *p;

		switch (g->phase) {
		case PH_SWITCH:
			g->phase = PH_UNMAP;
			if (g->multiproc && g->i % c->quantum == 0) {
				if (g->i > 0)
					g->cur = (g->cur + 1) % g->nprocs;
				rec_control(g, r, VMEM_REC_SWITCH_AS);
				g->counts.switches++;
				n++;
			}
			break;
		case PH_UNMAP:
			g->phase = PH_PROTECT;
			if (due(g->i, c->unmap_every)) {
				rec_control(g, r, VMEM_REC_UNMAP);
				g->counts.unmaps++;
				n++;
			}
			break;
		case PH_PROTECT:
			g->phase = PH_IFETCH;
			if (due(g->i, c->protect_every)) {
				rec_control(g, r, VMEM_REC_PROTECT);
				g->counts.protects++;
				n++;
			}
			break;
		case PH_IFETCH:
			g->phase = PH_DATA;
			if (c->ifetch) {
				p = &g->procs[g->cur];
				memset(r, 0, sizeof(*r));
				r->type = VMEM_REC_ACCESS;
				r->acc = VMEM_ACC_IFETCH;
				r->size = GEN_IFETCH_SIZE;
				r->vm = c->vm;
				r->asid = p->asid;
				r->addr = c->code_base + p->ip;
				p->ip += GEN_IFETCH_SIZE;
				if (p->ip >= c->code_size)
					p->ip = 0;
				g->counts.ifetches++;
				n++;
			}
			break;
		case PH_DATA:
			p = &g->procs[g->cur];
			memset(r, 0, sizeof(*r));
			r->type = VMEM_REC_ACCESS;
			r->acc = VMEM_ACC_LOAD;
			if (p->pat != VMEM_TRACEGEN_CHASE && c->write_ratio > 0.0 &&
			    (c->write_ratio >= 1.0 || xoshiro_double(&g->store_rng) < c->write_ratio)) {
				r->acc = VMEM_ACC_STORE;
				g->counts.stores++;
			}
			r->size = (uint8_t)c->size;
			r->vm = c->vm;
			r->asid = p->asid;
			r->addr = c->base + proc_next_offset(g, p);
			g->counts.accesses++;
			g->i++;
			g->phase = PH_SWITCH;
			n++;
			break;
		}
	}
	return (long)n;
}
