/*
 * Seeded synthetic trace generators: creation and generation (include/vmem/tracegen.h
 * describes the patterns; tracegen_config.c holds the keys and their checks).
 *
 * Random numbers. Every random decision draws from a xoshiro256** stream (rng.h). Each
 * purpose has its own stream, seeded from (seed, stream number): the address stream and
 * the permutation stream of every process, the store/load decisions and the event
 * ranges.
 *
 * Zipf. Ranks 1..n (n = footprint / 4 KiB pages) with P(k) proportional to k^-alpha come
 * from the rejection-inversion sampler of zipf.c. Rank k is then mapped to page
 * perm[k - 1], a seeded Fisher-Yates shuffle (Durstenfeld's in-place form, CACM 7(7),
 * 1964), so hot pages lie scattered over the footprint as a real heap's do.
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
#include <stdlib.h>
#include <string.h>

#include "vmem/tracegen.h"

#include "base/rng.h"
#include "tracegen_internal.h"
#include "zipf.h"

/* Stream numbers of the random streams (see the top comment). */
enum {
	STREAM_STORE = 1,
	STREAM_EVENT = 2,
	STREAM_PROC = 16,   /* + 2 * process: addresses; + 2 * process + 1: permutation */
};

struct gen_proc {
	enum vmem_tracegen_pattern pat;
	uint32_t asid;
	struct rng_xoshiro rng;   /* addresses */
	uint64_t pos;             /* sequential/strided: offset; chase: element */
	uint64_t ip;              /* offset in the code region */
	uint32_t *perm;           /* zipf: rank - 1 -> page; chase: element -> next element */
	struct vmem_zipf zipf;
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
	struct rng_xoshiro store_rng;
	struct rng_xoshiro event_rng;
	uint64_t i;            /* data accesses emitted */
	enum gen_phase phase;  /* what comes next before/at access i */
	uint64_t npages;       /* whole 4 KiB pages in the footprint */
	struct vmem_tracegen_counts counts;
};

/* ---- creation ---- */

enum perm_kind {
	PERM_SHUFFLE,   /* Fisher-Yates: every permutation alike */
	PERM_CYCLE,     /* Sattolo: every single cycle through all elements alike */
};

/*
 * A new table (malloc) holding a seeded random permutation of 0..n-1, n >= 1, or NULL.
 * Fisher-Yates: position i takes a uniform pick of positions 0..i. Sattolo: the pick is
 * among 0..i-1 (j < i), which leaves a single cycle.
 */
static uint32_t *perm_new(uint64_t n, enum perm_kind kind, struct rng_xoshiro *rng)
{
	uint32_t *perm = malloc(n * sizeof(uint32_t));

	if (!perm)
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rng_xoshiro_below(rng, kind == PERM_CYCLE ? i : i + 1);
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	return perm;
}

static int proc_init(struct vmem_tracegen *g, struct gen_proc *p, unsigned idx)
{
	const struct vmem_tracegen_config *c = &g->cfg;
	struct rng_xoshiro prng;
	uint64_t n;

	p->pat = g->multiproc ? c->inner[idx % c->n_inner] : c->pattern;
	p->asid = c->asid + idx;
	rng_xoshiro_seed(&p->rng, c->seed, STREAM_PROC + 2ull * idx);
	rng_xoshiro_seed(&prng, c->seed, STREAM_PROC + 2ull * idx + 1);
	p->pos = 0;
	p->ip = 0;
	p->perm = NULL;
	switch (p->pat) {
	case VMEM_TRACEGEN_ZIPF:
		n = c->footprint / GEN_PAGE;
		p->perm = perm_new(n, PERM_SHUFFLE, &prng);
		if (!p->perm)
			return VMEM_ENOMEM;
		vmem_zipf_init(&p->zipf, n, c->alpha);
		break;
	case VMEM_TRACEGEN_CHASE:
		p->perm = perm_new(c->footprint / c->granule, PERM_CYCLE, &prng);
		if (!p->perm)
			return VMEM_ENOMEM;
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
	rng_xoshiro_seed(&g->store_rng, cfg->seed, STREAM_STORE);
	rng_xoshiro_seed(&g->event_rng, cfg->seed, STREAM_EVENT);
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
		return rng_xoshiro_below(&p->rng, c->footprint / c->size) * c->size;
	case VMEM_TRACEGEN_ZIPF:
		page = p->perm[vmem_zipf_sample(&p->zipf, &p->rng) - 1];
		return page * GEN_PAGE + rng_xoshiro_below(&p->rng, GEN_PAGE / c->size) * c->size;
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
		uint64_t first = rng_xoshiro_below(&g->event_rng, g->npages);
		uint64_t most = g->npages - first;

		if (most > g->cfg.event_pages)
			most = g->cfg.event_pages;
		r->addr = g->cfg.base + first * GEN_PAGE;
		r->len = (1 + rng_xoshiro_below(&g->event_rng, most)) * GEN_PAGE;
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
			    (c->write_ratio >= 1.0 ||
			     rng_xoshiro_double(&g->store_rng) < c->write_ratio)) {
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
