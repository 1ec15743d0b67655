/*
 * Synthetic trace generators: determinism by seed and batch size, the exact addresses of
 * sequential and strided walks, one visit per element per pointer-chase cycle, Zipf page
 * frequencies against the pmf, multiproc switches and unmap/protect events, store ratio,
 * instruction fetches, and rejection of bad keys and values.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmem/tracegen.h"

/* ---- helpers ---- */

static void set(struct vmem_tracegen_config *c, const char *key, const char *value)
{
	char err[256] = "";
	int rc = vmem_tracegen_config_set(c, key, value, err, sizeof(err));

	if (rc != 0)
		fail_msg("%s=%s rejected: %s", key, value, err);
}

/* Configuration from "key=value" strings, NULL-terminated. */
static void config(struct vmem_tracegen_config *c, const char *const *kv)
{
	vmem_tracegen_config_default(c);
	for (; *kv; kv++) {
		char key[64];
		const char *eq = strchr(*kv, '=');

		assert_non_null(eq);
		assert_true((size_t)(eq - *kv) < sizeof(key));
		memcpy(key, *kv, (size_t)(eq - *kv));
		key[eq - *kv] = '\0';
		set(c, key, eq + 1);
	}
}

/* Every record of the generator, in batches of `batch`; *n gets the number. */
static struct vmem_trace_rec *generate(const struct vmem_tracegen_config *c, size_t batch,
				       size_t *n)
{
	struct vmem_tracegen *g = NULL;
	struct vmem_trace_rec *all = NULL;
	size_t cap = 0, len = 0;
	long got;

	assert_int_equal(vmem_tracegen_create(c, &g), 0);
	assert_non_null(g);
	for (;;) {
		if (len + batch > cap) {
			cap = (len + batch) * 2;
			all = realloc(all, cap * sizeof(*all));
			assert_non_null(all);
		}
		got = vmem_tracegen_next(g, all + len, batch);
		assert_true(got >= 0);
		if (got == 0)
			break;
		len += (size_t)got;
	}
	/* Finished generators stay finished. */
	assert_int_equal(vmem_tracegen_next(g, all, batch), 0);
	vmem_tracegen_destroy(g);
	*n = len;
	return all;
}

static bool same_recs(const struct vmem_trace_rec *a, const struct vmem_trace_rec *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].type != b[i].type || a[i].acc != b[i].acc || a[i].prot != b[i].prot ||
		    a[i].size != b[i].size || a[i].vm != b[i].vm || a[i].asid != b[i].asid ||
		    a[i].addr != b[i].addr || a[i].len != b[i].len)
			return false;
	}
	return true;
}

static bool same_config(const struct vmem_tracegen_config *a,
			const struct vmem_tracegen_config *b)
{
	return a->pattern == b->pattern && a->n_inner == b->n_inner &&
	       memcmp(a->inner, b->inner, sizeof(a->inner)) == 0 && a->count == b->count &&
	       a->footprint == b->footprint && a->base == b->base && a->size == b->size &&
	       a->stride == b->stride && a->granule == b->granule && a->alpha == b->alpha &&
	       a->write_ratio == b->write_ratio && a->ifetch == b->ifetch &&
	       a->code_base == b->code_base && a->code_size == b->code_size &&
	       a->seed == b->seed && a->processes == b->processes &&
	       a->quantum == b->quantum && a->unmap_every == b->unmap_every &&
	       a->protect_every == b->protect_every && a->event_pages == b->event_pages &&
	       a->prot == b->prot && a->vm == b->vm && a->asid == b->asid &&
	       a->va_bits == b->va_bits;
}

/* ---- determinism ---- */

static const char *const busy_keys[] = {
	"pattern=multiproc", "processes=3", "inner=zipf,chase,uniform", "quantum=777",
	"unmap_every=1000", "protect_every=1500", "footprint=8m", "granule=4k",
	"write_ratio=0.3", "ifetch=1", "count=20000", "seed=42", NULL,
};

static void test_tracegen_same_seed_same_stream(void **state)
{
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *a, *b;
	size_t na, nb;

	(void)state;
	config(&c, busy_keys);
	a = generate(&c, 4096, &na);
	b = generate(&c, 4096, &nb);
	assert_int_equal(na, nb);
	assert_true(same_recs(a, b, na));
	free(a);
	free(b);
}

static void test_tracegen_batch_size_any_same_stream(void **state)
{
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *a, *b;
	size_t na, nb;

	(void)state;
	config(&c, busy_keys);
	a = generate(&c, 4096, &na);
	b = generate(&c, 1, &nb);   /* one record per call: batches end between control
				      * records and their access */
	assert_int_equal(na, nb);
	assert_true(same_recs(a, b, na));
	free(a);
	free(b);
}

static void test_tracegen_other_seed_other_stream(void **state)
{
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *a, *b;
	size_t na, nb, differ = 0;

	(void)state;
	config(&c, busy_keys);
	a = generate(&c, 4096, &na);
	set(&c, "seed", "43");
	b = generate(&c, 4096, &nb);
	/* Same structure (counts of everything depend only on count, quantum, every). */
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		differ += a[i].addr != b[i].addr;
	assert_true(differ > na / 4);
	free(a);
	free(b);
}

/*
 * The seed alone fixes the stream, on every machine: the first addresses of seed 1 are
 * pinned here, so a change of generator, stream derivation or sampler shows up.
 */
static void check_pinned(const char *const *keys, const uint64_t *want, size_t n_want)
{
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n;

	config(&c, keys);
	r = generate(&c, 1, &n);
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r[i].addr, want[i]);
	free(r);
}

static void test_tracegen_seed1_pinned_prefix(void **state)
{
	static const char *const uniform[] = {
		"pattern=uniform", "count=4", "footprint=1m", "base=0x100000", "size=8", NULL,
	};
	static const uint64_t uniform_want[] = { 0x13cf48, 0x117988, 0x18cbe0, 0x1f7168 };
	static const char *const zipf[] = {
		"pattern=zipf", "count=3", "footprint=1m", "base=0x100000", NULL,
	};
	static const uint64_t zipf_want[] = { 0x10d178, 0x183f70, 0x1c8fa0 };
	static const char *const chase[] = {
		"pattern=chase", "count=3", "footprint=1m", "base=0x100000", "granule=4k", NULL,
	};
	static const uint64_t chase_want[] = { 0x100000, 0x111000, 0x154000 };

	(void)state;
	check_pinned(uniform, uniform_want, 4);
	check_pinned(zipf, zipf_want, 3);
	check_pinned(chase, chase_want, 3);
}

/* ---- sequential and strided: addresses derived by hand ---- */

static void test_tracegen_sequential_wraps_at_footprint(void **state)
{
	/*
	 * footprint 32, size 8: offsets 0, 8, 16, 24, then back to 0.
	 * base 0x7f0000000000, so accesses 0..9 are
	 *   ...000 ...008 ...010 ...018 ...000 ...008 ...010 ...018 ...000 ...008
	 */
	static const char *const keys[] = {
		"pattern=sequential", "count=10", "footprint=32", "size=8", NULL,
	};
	static const uint64_t want[10] = {
		0x7f0000000000, 0x7f0000000008, 0x7f0000000010, 0x7f0000000018,
		0x7f0000000000, 0x7f0000000008, 0x7f0000000010, 0x7f0000000018,
		0x7f0000000000, 0x7f0000000008,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n;

	(void)state;
	config(&c, keys);
	r = generate(&c, 3, &n);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].type, VMEM_REC_ACCESS);
		assert_int_equal(r[i].acc, VMEM_ACC_LOAD);
		assert_int_equal(r[i].size, 8);
		assert_int_equal(r[i].vm, 0);
		assert_int_equal(r[i].asid, 0);
		assert_int_equal(r[i].addr, want[i]);
	}
	free(r);
}

static void test_tracegen_strided_wraps_modulo_footprint(void **state)
{
	/*
	 * footprint 16 KiB (0x4000), stride 12 KiB (0x3000): offsets
	 *   0, 0x3000, 0x6000 mod 0x4000 = 0x2000, 0x5000 mod 0x4000 = 0x1000,
	 *   0x4000 mod 0x4000 = 0, 0x3000, 0x2000
	 * so every page of the footprint is touched once per 4 accesses. base 0x10000000.
	 */
	static const char *const keys[] = {
		"pattern=strided", "count=7", "footprint=16k", "stride=12k", "size=4",
		"base=0x10000000", "vm=3", "asid=9", NULL,
	};
	static const uint64_t want[7] = {
		0x10000000, 0x10003000, 0x10002000, 0x10001000, 0x10000000, 0x10003000,
		0x10002000,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n;

	(void)state;
	config(&c, keys);
	r = generate(&c, 4096, &n);
	assert_int_equal(n, 7);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].addr, want[i]);
		assert_int_equal(r[i].size, 4);
		assert_int_equal(r[i].vm, 3);
		assert_int_equal(r[i].asid, 9);
	}
	free(r);
}

static void test_tracegen_strided_page_stride_new_page_each_access(void **state)
{
	/* stride 4096 over 1 MiB = 256 pages: access i is at base + (i mod 256) * 4096. */
	static const char *const keys[] = {
		"pattern=strided", "count=600", "footprint=1m", "stride=4096", NULL,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n;

	(void)state;
	config(&c, keys);
	r = generate(&c, 100, &n);
	assert_int_equal(n, 600);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r[i].addr, 0x7f0000000000ull + (i % 256) * 4096);
	free(r);
}

/* ---- pointer chase ---- */

static void check_chase(const char *footprint, const char *granule, uint64_t elems,
			uint64_t gran)
{
	const char *keys[] = {
		"pattern=chase", "footprint=", "granule=", "count=", "seed=7",
		"write_ratio=0.5", NULL,
	};
	char kf[64], kg[64], kc[64];
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	unsigned char *seen = calloc(elems, 1);
	size_t n;

	assert_non_null(seen);
	snprintf(kf, sizeof(kf), "footprint=%s", footprint);
	snprintf(kg, sizeof(kg), "granule=%s", granule);
	snprintf(kc, sizeof(kc), "count=%llu", (unsigned long long)(3 * elems));
	keys[1] = kf;
	keys[2] = kg;
	keys[3] = kc;
	config(&c, keys);
	r = generate(&c, 1000, &n);
	assert_int_equal(n, 3 * elems);
	/* Starts at element 0. */
	assert_int_equal(r[0].addr, c.base);
	for (size_t cycle = 0; cycle < 3; cycle++) {
		memset(seen, 0, elems);
		for (size_t i = cycle * elems; i < (cycle + 1) * elems; i++) {
			uint64_t off = r[i].addr - c.base;

			/* Loads only, whatever write_ratio says; at the start of an element. */
			assert_int_equal(r[i].acc, VMEM_ACC_LOAD);
			assert_int_equal(off % gran, 0);
			assert_true(off / gran < elems);
			assert_int_equal(seen[off / gran], 0);   /* once per cycle */
			seen[off / gran] = 1;
			/* The cycle repeats: the same successor every time round. */
			if (cycle > 0)
				assert_int_equal(r[i].addr, r[i - elems].addr);
		}
	}
	free(seen);
	free(r);
}

static void test_tracegen_chase_pages_each_once_per_cycle(void **state)
{
	(void)state;
	check_chase("1m", "4k", 256, 4096);
}

static void test_tracegen_chase_lines_each_once_per_cycle(void **state)
{
	(void)state;
	check_chase("64k", "64", 1024, 64);
}

static void test_tracegen_chase_single_element_stays(void **state)
{
	(void)state;
	check_chase("4k", "4k", 1, 4096);
}

/* ---- Zipf ---- */

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * N draws over n pages. Expected: P(rank k) = k^-alpha / sum_{j=1..n} j^-alpha, summed
 * here directly (not with the sampler's integral). The hot pages are scattered by a
 * permutation, so the page counts are sorted and the i-th largest count is compared
 * with rank i; the top ranks are many standard deviations apart for these n, alpha
 * and N, so the sort recovers them. Tolerance: 5 standard deviations of a binomial
 * count, sqrt(N p (1 - p)).
 */
static void check_zipf(const char *alpha_s, double alpha)
{
	enum { PAGES = 1000, N = 1000000, TOP = 10 };
	const char *keys[] = {
		"pattern=zipf", "footprint=4000k", "count=1m", "size=8", "seed=11", "", NULL,
	};
	char ka[64];
	struct vmem_tracegen_config c;
	struct vmem_tracegen *g = NULL;
	struct vmem_trace_rec *buf = malloc(4096 * sizeof(*buf));
	uint64_t *counts = calloc(PAGES, sizeof(*counts));
	double norm = 0.0, top_p = 0.0;
	uint64_t total = 0, top_count = 0;
	long got;

	assert_non_null(buf);
	assert_non_null(counts);
	snprintf(ka, sizeof(ka), "alpha=%s", alpha_s);
	keys[5] = ka;
	config(&c, keys);
	assert_int_equal(c.footprint / 4096, PAGES);
	assert_int_equal(vmem_tracegen_create(&c, &g), 0);
	while ((got = vmem_tracegen_next(g, buf, 4096)) > 0) {
		for (long i = 0; i < got; i++) {
			uint64_t off = buf[i].addr - c.base;

			assert_true(buf[i].addr >= c.base && off < c.footprint);
			assert_int_equal(off % 8, 0);
			counts[off / 4096]++;
			total++;
		}
	}
	vmem_tracegen_destroy(g);
	assert_int_equal(total, N);

	for (int k = 1; k <= PAGES; k++)
		norm += pow((double)k, -alpha);
	qsort(counts, PAGES, sizeof(*counts), cmp_desc);
	for (int k = 1; k <= TOP; k++) {
		double p = pow((double)k, -alpha) / norm;
		double want = N * p, sd = sqrt(N * p * (1.0 - p));

		if (fabs((double)counts[k - 1] - want) > 5.0 * sd)
			fail_msg("alpha %s rank %d: %llu draws, expected %.0f +- %.0f", alpha_s, k,
				 (unsigned long long)counts[k - 1], want, 5.0 * sd);
		top_p += p;
		top_count += counts[k - 1];
	}
	/* The tail as a whole: the draws outside the top ranks. */
	{
		double q = 1.0 - top_p;
		double want = N * q, sd = sqrt(N * q * (1.0 - q));

		if (fabs((double)(N - top_count) - want) > 5.0 * sd)
			fail_msg("alpha %s tail: %llu draws, expected %.0f +- %.0f", alpha_s,
				 (unsigned long long)(N - top_count), want, 5.0 * sd);
	}
	free(counts);
	free(buf);
}

static void test_tracegen_zipf_alpha1_top_ranks_match_pmf(void **state)
{
	(void)state;
	check_zipf("1.0", 1.0);
}

static void test_tracegen_zipf_alpha08_top_ranks_match_pmf(void **state)
{
	(void)state;
	check_zipf("0.8", 0.8);
}

static void test_tracegen_zipf_alpha13_top_ranks_match_pmf(void **state)
{
	(void)state;
	check_zipf("1.3", 1.3);
}

static void test_tracegen_zipf_hot_pages_scattered(void **state)
{
	/* The hottest pages are not simply the first ones: of 1000 pages, the 10 most
	 * drawn do not all lie in the first 10 (chance of that under a random permutation:
	 * 1 / C(1000, 10)). */
	static const char *const keys[] = {
		"pattern=zipf", "footprint=4000k", "count=200k", "alpha=1.2", NULL,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	uint64_t counts[1000] = { 0 };
	size_t n, low = 0;

	(void)state;
	config(&c, keys);
	r = generate(&c, 4096, &n);
	for (size_t i = 0; i < n; i++)
		counts[(r[i].addr - c.base) / 4096]++;
	for (int p = 0; p < 10; p++)
		low += counts[p] > n / 100;
	assert_true(low < 10);
	free(r);
}

/* ---- multiproc and events ---- */

static void test_tracegen_multiproc_switch_every_quantum(void **state)
{
	/*
	 * 3 processes, quantum 100, 1000 accesses: switches before accesses 0, 100, ...,
	 * 900 = 10, to asids 0, 1, 2, 0, 1, 2, ... Unmaps before accesses 250, 500, 750
	 * (floor(999 / 250) = 3); protects before 300, 600, 900 (3).
	 */
	static const char *const keys[] = {
		"pattern=multiproc", "processes=3", "quantum=100", "count=1000",
		"unmap_every=250", "protect_every=300", "inner=uniform,sequential",
		"footprint=1m", "event_pages=8", "prot=r", NULL,
	};
	struct vmem_tracegen_config c;
	struct vmem_tracegen_counts cnt;
	struct vmem_tracegen *g = NULL;
	struct vmem_trace_rec *r;
	size_t n, switches = 0, unmaps = 0, protects = 0, accesses = 0, since = 0;
	uint32_t cur = UINT32_MAX;

	(void)state;
	config(&c, keys);
	r = generate(&c, 64, &n);
	assert_int_equal(n, 1000 + 10 + 3 + 3);
	assert_int_equal(r[0].type, VMEM_REC_SWITCH_AS);
	for (size_t i = 0; i < n; i++) {
		switch (r[i].type) {
		case VMEM_REC_SWITCH_AS:
			if (switches > 0)
				assert_int_equal(since, 100);
			assert_int_equal(accesses, switches * 100);
			assert_int_equal(r[i].asid, switches % 3);
			cur = r[i].asid;
			switches++;
			since = 0;
			break;
		case VMEM_REC_UNMAP:
		case VMEM_REC_PROTECT:
			assert_int_equal(r[i].asid, cur);
			assert_int_equal(r[i].addr % 4096, 0);
			assert_int_equal(r[i].len % 4096, 0);
			assert_true(r[i].len >= 4096 && r[i].len <= 8 * 4096);
			assert_true(r[i].addr >= c.base &&
				    r[i].addr + r[i].len <= c.base + c.footprint);
			if (r[i].type == VMEM_REC_UNMAP) {
				unmaps++;
				assert_int_equal(accesses, unmaps * 250);
			} else {
				protects++;
				assert_int_equal(accesses, protects * 300);
				assert_int_equal(r[i].prot, VMEM_PROT_READ | VMEM_PROT_USER);
			}
			break;
		case VMEM_REC_ACCESS:
			assert_int_equal(r[i].asid, cur);
			accesses++;
			since++;
			break;
		default:
			fail_msg("record %zu: unexpected type %u", i, r[i].type);
		}
	}
	assert_int_equal(switches, 10);
	assert_int_equal(unmaps, 3);
	assert_int_equal(protects, 3);
	assert_int_equal(accesses, 1000);

	assert_int_equal(vmem_tracegen_create(&c, &g), 0);
	while (vmem_tracegen_next(g, r, 50) > 0)
		;
	vmem_tracegen_counts(g, &cnt);
	assert_int_equal(cnt.accesses, 1000);
	assert_int_equal(cnt.switches, 10);
	assert_int_equal(cnt.unmaps, 3);
	assert_int_equal(cnt.protects, 3);
	assert_int_equal(cnt.ifetches, 0);
	vmem_tracegen_destroy(g);
	free(r);
}

static void test_tracegen_multiproc_same_layout_own_state(void **state)
{
	/*
	 * Two processes running sequential over 64 bytes with size 8, quantum 3: each keeps
	 * its own position. asid 5 does offsets 0, 8, 16; asid 6 does 0, 8, 16; asid 5
	 * continues with 24, 32, 40; asid 6 with 24, 32, 40.
	 */
	static const char *const keys[] = {
		"pattern=multiproc", "processes=2", "inner=sequential", "quantum=3",
		"count=12", "footprint=64", "asid=5", "base=0x1000", NULL,
	};
	static const uint64_t want_off[12] = { 0, 8, 16, 0, 8, 16, 24, 32, 40, 24, 32, 40 };
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n, a = 0;

	(void)state;
	config(&c, keys);
	r = generate(&c, 4096, &n);
	assert_int_equal(n, 12 + 4);
	for (size_t i = 0; i < n; i++) {
		if (r[i].type != VMEM_REC_ACCESS)
			continue;
		assert_int_equal(r[i].asid, 5 + (a / 3) % 2);
		assert_int_equal(r[i].addr, 0x1000 + want_off[a]);
		a++;
	}
	free(r);
}

static void test_tracegen_unmap_every_single_process_count(void **state)
{
	/* Events work without multiproc too: 10000 accesses, every 1000: 9 unmaps. */
	static const char *const keys[] = {
		"pattern=uniform", "count=10000", "unmap_every=1000", NULL,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n, unmaps = 0, others = 0;

	(void)state;
	config(&c, keys);
	assert_true(vmem_tracegen_config_has_events(&c));
	r = generate(&c, 4096, &n);
	for (size_t i = 0; i < n; i++) {
		unmaps += r[i].type == VMEM_REC_UNMAP;
		others += r[i].type != VMEM_REC_UNMAP && r[i].type != VMEM_REC_ACCESS;
	}
	assert_int_equal(unmaps, 9);
	assert_int_equal(others, 0);
	assert_int_equal(n, 10009);
	free(r);
}

/* ---- stores and instruction fetches ---- */

static void test_tracegen_write_ratio_fraction_addresses_unchanged(void **state)
{
	static const char *const keys[] = {
		"pattern=uniform", "count=100k", "footprint=16m", "write_ratio=0.25", NULL,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r, *r0;
	size_t n, n0, stores = 0;

	(void)state;
	config(&c, keys);
	r = generate(&c, 4096, &n);
	for (size_t i = 0; i < n; i++)
		stores += r[i].acc == VMEM_ACC_STORE;
	/* Binomial(100000, 0.25): sd 137; allow 5 sd. */
	assert_true(stores > 25000 - 685 && stores < 25000 + 685);
	/* Stores are decided on a stream of their own: the addresses do not move. */
	set(&c, "write_ratio", "0");
	r0 = generate(&c, 4096, &n0);
	assert_int_equal(n, n0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].addr, r0[i].addr);
		assert_int_equal(r0[i].acc, VMEM_ACC_LOAD);
	}
	free(r);
	free(r0);
}

static void test_tracegen_ifetch_precedes_each_access(void **state)
{
	/* code_size 16: fetches at code_base + 0, 4, 8, 12, 0, ... one before each access. */
	static const char *const keys[] = {
		"pattern=sequential", "count=6", "ifetch=1", "code_base=0x400000",
		"code_size=16", NULL,
	};
	static const uint64_t want_ip[6] = {
		0x400000, 0x400004, 0x400008, 0x40000c, 0x400000, 0x400004,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n;

	(void)state;
	config(&c, keys);
	r = generate(&c, 5, &n);
	assert_int_equal(n, 12);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(r[2 * i].acc, VMEM_ACC_IFETCH);
		assert_int_equal(r[2 * i].size, 4);
		assert_int_equal(r[2 * i].addr, want_ip[i]);
		assert_int_equal(r[2 * i + 1].acc, VMEM_ACC_LOAD);
		assert_int_equal(r[2 * i + 1].addr, 0x7f0000000000ull + 8 * i);
	}
	free(r);
}

static void test_tracegen_uniform_covers_footprint_aligned(void **state)
{
	/* 64 pages, 64000 draws: ~1000 per page, sd ~31; every page within 6 sd. */
	static const char *const keys[] = {
		"pattern=uniform", "count=64000", "footprint=256k", "size=16", NULL,
	};
	struct vmem_tracegen_config c;
	struct vmem_trace_rec *r;
	size_t n;
	unsigned counts[64] = { 0 };

	(void)state;
	config(&c, keys);
	r = generate(&c, 4096, &n);
	for (size_t i = 0; i < n; i++) {
		uint64_t off = r[i].addr - c.base;

		assert_true(off < 256 * 1024);
		assert_int_equal(off % 16, 0);
		counts[off / 4096]++;
	}
	for (int p = 0; p < 64; p++)
		assert_true(counts[p] > 1000 - 190 && counts[p] < 1000 + 190);
	free(r);
}

/* ---- configuration ---- */

static void expect_rejected(const char *key, const char *value, const char *in_msg)
{
	struct vmem_tracegen_config c, before;
	char err[640] = "";

	vmem_tracegen_config_default(&c);
	before = c;
	assert_int_equal(vmem_tracegen_config_set(&c, key, value, err, sizeof(err)),
			 VMEM_EINVAL);
	if (!strstr(err, in_msg))
		fail_msg("%s=%s: message '%s' does not mention '%s'", key, value, err, in_msg);
	assert_true(same_config(&c, &before));
}

static void test_tracegen_config_bad_keys_rejected_with_message(void **state)
{
	(void)state;
	expect_rejected("footprnt", "1m", "unknown key 'footprnt'");
	expect_rejected("footprint", "12q", "footprint: expected");
	expect_rejected("footprint", "", "footprint");
	expect_rejected("footprint", "0", "footprint");
	expect_rejected("count", "-5", "count: expected");
	expect_rejected("size", "256", "size: expected 1..255");
	expect_rejected("alpha", "0", "alpha: expected");
	expect_rejected("alpha", "nan", "alpha");
	expect_rejected("write_ratio", "1.5", "write_ratio: expected a fraction");
	expect_rejected("pattern", "fractal", "pattern: expected");
	expect_rejected("inner", "zipf,multiproc", "inner: expected");
	expect_rejected("inner", "zipf,", "inner");
	expect_rejected("granule", "96", "granule: expected a power of two");
	expect_rejected("base", "0x7f0000000123", "base: expected a 4 KiB aligned");
	expect_rejected("ifetch", "maybe", "ifetch: expected 0|1");
	expect_rejected("prot", "rwz", "prot: expected");
	expect_rejected("va_bits", "52", "va_bits");
	expect_rejected("vm", "70000", "vm");
	expect_rejected("seed", "0x1g", "seed");
	expect_rejected("footprint", "99999999999999999999", "footprint");
}

static void test_tracegen_config_suffixes_parsed(void **state)
{
	struct vmem_tracegen_config c;

	(void)state;
	vmem_tracegen_config_default(&c);
	set(&c, "footprint", "64m");
	assert_int_equal(c.footprint, 64ull << 20);
	set(&c, "footprint", "2G");
	assert_int_equal(c.footprint, 2ull << 30);
	set(&c, "footprint", "0x10000");
	assert_int_equal(c.footprint, 0x10000);
	set(&c, "footprint", "8KiB");
	assert_int_equal(c.footprint, 8192);
	set(&c, "count", "2k");
	assert_int_equal(c.count, 2000);
	set(&c, "count", "3m");
	assert_int_equal(c.count, 3000000);
	set(&c, "pattern", "random");
	assert_int_equal(c.pattern, VMEM_TRACEGEN_UNIFORM);
	set(&c, "prot", "rx");
	assert_int_equal(c.prot, VMEM_PROT_READ | VMEM_PROT_EXEC | VMEM_PROT_USER);
	set(&c, "inner", "chase,zipf");
	assert_int_equal(c.n_inner, 2);
	assert_int_equal(c.inner[0], VMEM_TRACEGEN_CHASE);
	assert_int_equal(c.inner[1], VMEM_TRACEGEN_ZIPF);
}

static void test_tracegen_config_inconsistent_rejected_by_check(void **state)
{
	struct vmem_tracegen_config c;
	struct vmem_tracegen *g = (struct vmem_tracegen *)&c;
	char err[640] = "";

	(void)state;
	/* footprint not a multiple of size */
	vmem_tracegen_config_default(&c);
	set(&c, "footprint", "100");
	set(&c, "size", "8");
	assert_int_equal(vmem_tracegen_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "footprint"));
	assert_int_equal(vmem_tracegen_create(&c, &g), VMEM_EINVAL);
	assert_null(g);

	/* a region that leaves the lower canonical half of a 48-bit space */
	vmem_tracegen_config_default(&c);
	set(&c, "base", "0x7ffffff00000");
	set(&c, "footprint", "2m");
	assert_int_equal(vmem_tracegen_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "canonical"));
	set(&c, "va_bits", "57");   /* fine with 5-level paging */
	assert_int_equal(vmem_tracegen_config_check(&c, err, sizeof(err)), 0);

	/* zipf needs whole pages */
	vmem_tracegen_config_default(&c);
	set(&c, "pattern", "zipf");
	set(&c, "footprint", "6000");
	assert_int_equal(vmem_tracegen_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "4096"));

	/* stride not a multiple of size */
	vmem_tracegen_config_default(&c);
	set(&c, "pattern", "strided");
	set(&c, "stride", "100");
	assert_int_equal(vmem_tracegen_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "stride"));

	/* code region overlapping the data */
	vmem_tracegen_config_default(&c);
	set(&c, "ifetch", "1");
	set(&c, "code_base", "0x7f0000001000");
	assert_int_equal(vmem_tracegen_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "overlaps"));

	/* chase granule larger than the footprint */
	vmem_tracegen_config_default(&c);
	set(&c, "pattern", "chase");
	set(&c, "granule", "8k");
	set(&c, "footprint", "4k");
	assert_int_equal(vmem_tracegen_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "granule"));
}

static void test_tracegen_keys_table_documents_every_key(void **state)
{
	size_t n;
	const struct vmem_tracegen_key *k = vmem_tracegen_keys(&n);
	static const char *const needed[] = {
		"pattern", "count", "footprint", "base", "size", "stride", "alpha",
		"write_ratio", "ifetch", "seed", "processes", "quantum", "unmap_every",
		"protect_every",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		bool found = false;

		for (size_t j = 0; j < n; j++)
			found |= strcmp(k[j].name, needed[i]) == 0;
		if (!found)
			fail_msg("key %s missing from the table", needed[i]);
	}
	/* Every row is documented, and its default parses. */
	for (size_t j = 0; j < n; j++) {
		struct vmem_tracegen_config c, d;

		assert_non_null(k[j].values);
		assert_non_null(k[j].help);
		assert_true(strlen(k[j].help) > 10);
		vmem_tracegen_config_default(&c);
		d = c;
		set(&c, k[j].name, k[j].def);
		if (!same_config(&c, &d))
			fail_msg("%s=%s is not the default", k[j].name, k[j].def);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracegen_same_seed_same_stream),
		cmocka_unit_test(test_tracegen_batch_size_any_same_stream),
		cmocka_unit_test(test_tracegen_other_seed_other_stream),
		cmocka_unit_test(test_tracegen_seed1_pinned_prefix),
		cmocka_unit_test(test_tracegen_sequential_wraps_at_footprint),
		cmocka_unit_test(test_tracegen_strided_wraps_modulo_footprint),
		cmocka_unit_test(test_tracegen_strided_page_stride_new_page_each_access),
		cmocka_unit_test(test_tracegen_chase_pages_each_once_per_cycle),
		cmocka_unit_test(test_tracegen_chase_lines_each_once_per_cycle),
		cmocka_unit_test(test_tracegen_chase_single_element_stays),
		cmocka_unit_test(test_tracegen_zipf_alpha1_top_ranks_match_pmf),
		cmocka_unit_test(test_tracegen_zipf_alpha08_top_ranks_match_pmf),
		cmocka_unit_test(test_tracegen_zipf_alpha13_top_ranks_match_pmf),
		cmocka_unit_test(test_tracegen_zipf_hot_pages_scattered),
		cmocka_unit_test(test_tracegen_multiproc_switch_every_quantum),
		cmocka_unit_test(test_tracegen_multiproc_same_layout_own_state),
		cmocka_unit_test(test_tracegen_unmap_every_single_process_count),
		cmocka_unit_test(test_tracegen_write_ratio_fraction_addresses_unchanged),
		cmocka_unit_test(test_tracegen_ifetch_precedes_each_access),
		cmocka_unit_test(test_tracegen_uniform_covers_footprint_aligned),
		cmocka_unit_test(test_tracegen_config_bad_keys_rejected_with_message),
		cmocka_unit_test(test_tracegen_config_suffixes_parsed),
		cmocka_unit_test(test_tracegen_config_inconsistent_rejected_by_check),
		cmocka_unit_test(test_tracegen_keys_table_documents_every_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
