/*
 * The balloon controller: every balloon.period_ms of simulated time it
 *   1. reports free pages: pages the guest freed balloon.report_delay_ms ago and has not
 *      reused are dropped (their frame, slot or tier bytes freed; the next touch gets a
 *      zero page), as Linux's free page reporting and QEMU's MADV_DONTNEED do;
 *   2. estimates each VM's active fraction as ESX does (Waldspurger, OSDI 2002, 5.3):
 *      each period it samples balloon.samples random touched pages and clears their host
 *      accessed bits; at the next period the share of them touched again is the
 *      period's estimate f, smoothed by a slow and a fast moving average (gains 1/8 and
 *      1/2, an assumption: ESX's constants are not published in the paper); the largest
 *      of the three is used, so the estimate rises at once and falls slowly;
 *   3. gives the target policy each VM's shares, pages, host frames in use, balloon size,
 *      free guest pages, active fraction, refaults (host swap-ins and decompressions
 *      and guest swap-ins) and stall cycles since the last period, and moves each
 *      balloon toward its target by at most balloon.rate pages through the guest OS
 *      model of the attached machine (vmem_mmu_balloon_inflate / _deflate); each page
 *      the guest hands over leaves its host state for "ballooned" (host_balloon_take),
 *      each page given back becomes untouched (host_balloon_give).
 *
 * Clearing an accessed bit flushes nothing (as x86 Linux's ptep_clear_flush_young): a
 * page whose translation stays in a TLB is not seen touched, so f is a lower bound.
 */
#include <stdlib.h>

#include "host_internal.h"
#include "vmem/balloon.h"

struct bvm {
	bool setup;                  /* the guest's swap and features are set */
	uint64_t *sample;            /* pages sampled last period */
	uint32_t nsample;
	bool have_f;
	double f_slow, f_fast, active;
	uint64_t sampled, touched;
	uint64_t deflated_oom, guest_swapped, reported;
	uint64_t gswapin_mark;
};

struct report {
	uint64_t at;                 /* when the guest freed it, cycles */
	uint64_t gfn;
	uint16_t vm;
};

struct balloon_ctl {
	struct bvm *vm;              /* by position in h->vm_ids */
	size_t nvm;
	struct report *q;            /* ring of guest frees waiting to be reported */
	size_t qhead, qlen, qcap;
	struct vmem_balloon_vm *view;
	uint64_t *target;
	uint64_t *gfns;
	size_t viewcap, gfncap;
};

static struct balloon_ctl *ctl_get(struct vmem_host *h)
{
	struct balloon_ctl *c = h->bal;

	if (!c && !(c = h->bal = calloc(1, sizeof(*c))))
		return NULL;
	if (c->nvm < h->nvms) {
		struct bvm *b = realloc(c->vm, h->nvms * sizeof(*b));

		if (!b)
			return NULL;
		for (size_t i = c->nvm; i < h->nvms; i++)
			b[i] = (struct bvm){ .active = 1.0 };
		c->vm = b;
		c->nvm = h->nvms;
	}
	return c;
}

static struct bvm *bvm_of(const struct vmem_host *h, uint16_t vm)
{
	if (!h->bal)
		return NULL;
	for (size_t i = 0; i < h->bal->nvm; i++)
		if (h->vm_ids[i] == vm)
			return &h->bal->vm[i];
	return NULL;
}

void balloon_fini(struct vmem_host *h)
{
	struct balloon_ctl *c = h->bal;

	if (!c)
		return;
	for (size_t i = 0; i < c->nvm; i++)
		free(c->vm[i].sample);
	free(c->vm);
	free(c->q);
	free(c->view);
	free(c->target);
	free(c->gfns);
	free(c);
	h->bal = NULL;
}

static uint64_t ms_cycles(const struct vmem_host *h, unsigned ms)
{
	return h->cfg.cpu_hz / 1000 * ms;
}

/* ---- free page reporting ---- */

void balloon_guest_freed(struct vmem_host *h, struct hvm *v, uint64_t gfn)
{
	struct balloon_ctl *c;

	if (!h->cfg.balloon_report || !(c = ctl_get(h)))
		return;
	if (c->qlen == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 1024;
		struct report *q = malloc(cap * sizeof(*q));

		if (!q)
			return;   /* not reported: the page stays backed */
		for (size_t i = 0; i < c->qlen; i++)
			q[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = q;
		c->qcap = cap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen++) % c->qcap] = (struct report){ h->now, gfn, v->id };
}

static void report_due(struct vmem_host *h, struct balloon_ctl *c)
{
	uint64_t delay = ms_cycles(h, h->cfg.balloon_report_delay_ms);

	while (c->qlen && c->q[c->qhead].at + delay <= h->now) {
		struct report r = c->q[c->qhead];
		struct hvm *v = host_vm_find(h, r.vm);
		struct gpage *pg;
		struct bvm *b;

		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
		if (!v || r.gfn >= v->npages)
			continue;
		pg = &v->pages[r.gfn];
		/* Still free in the guest (not reused since), and holding something. */
		if (!(pg->flags & PG_GUEST_FREE) || pg->state == VMEM_PG_UNTOUCHED ||
		    pg->state == VMEM_PG_BALLOONED ||
		    (h->mmu && !vmem_mmu_guest_page_free(h->mmu, r.vm, r.gfn)))
			continue;
		host_why(h, "free page reporting: the guest freed it %u ms ago and has not reused it",
			 h->cfg.balloon_report_delay_ms);
		host_page_leave(h, v, r.gfn);
		pg->flags = 0;
		host_page_set_state(v, pg, VMEM_PG_UNTOUCHED);
		if ((b = bvm_of(h, r.vm)))
			b->reported++;
	}
}

/* ---- the active fraction ---- */

static bool touched_state(uint8_t s)
{
	return s == VMEM_PG_RESIDENT || s == VMEM_PG_SHARED || s == VMEM_PG_ZERO;
}

/* A page's accessed bit: the attached machine's, else the young source's (a backing
 * outside the simulator). */
static bool page_young(struct vmem_host *h, uint16_t vm, uint64_t gfn, bool clear)
{
	if (h->mmu)
		return vmem_mmu_host_young(h->mmu, vm, gfn, clear);
	return h->young && h->young(h->young_ctx, vm, gfn, clear);
}

static void sample_active(struct vmem_host *h, struct hvm *v, struct bvm *b)
{
	uint32_t want = h->cfg.balloon_samples, k = 0;

	if (b->nsample) {
		uint32_t touched = 0;
		double f;

		for (uint32_t i = 0; i < b->nsample; i++) {
			uint64_t g = b->sample[i];

			if (touched_state(v->pages[g].state) && page_young(h, v->id, g, false))
				touched++;
		}
		f = (double)touched / b->nsample;
		b->sampled = b->nsample;
		b->touched = touched;
		if (!b->have_f) {
			b->f_slow = b->f_fast = f;
			b->have_f = true;
		} else {
			b->f_slow += (f - b->f_slow) / 8;
			b->f_fast += (f - b->f_fast) / 2;
		}
		b->active = f > b->f_slow ? f : b->f_slow;
		if (b->f_fast > b->active)
			b->active = b->f_fast;
	}
	b->nsample = 0;
	if (!want)
		return;
	if (!b->sample && !(b->sample = malloc(want * sizeof(*b->sample))))
		return;
	/* Random touched pages; a VM with few touched pages gets fewer samples. */
	for (uint64_t tries = 0; k < want && tries < 4ull * want; tries++) {
		uint64_t g = vmem_host_random(h) % v->npages;

		if (!touched_state(v->pages[g].state))
			continue;
		page_young(h, v->id, g, true);
		if (!h->mmu && h->sample)
			h->sample(h->sample_ctx, v->id, g);
		b->sample[k++] = g;
	}
	b->nsample = k;
}

/* ---- the controller ---- */

static int ensure(struct balloon_ctl *c, size_t nvm, uint64_t rate)
{
	if (c->viewcap < nvm) {
		struct vmem_balloon_vm *vw = realloc(c->view, nvm * sizeof(*vw));
		uint64_t *t;

		if (!vw)
			return VMEM_ENOMEM;
		c->view = vw;
		if (!(t = realloc(c->target, nvm * sizeof(*t))))
			return VMEM_ENOMEM;
		c->target = t;
		c->viewcap = nvm;
	}
	if (c->gfncap < rate) {
		uint64_t *g = realloc(c->gfns, rate * sizeof(*g));

		if (!g)
			return VMEM_ENOMEM;
		c->gfns = g;
		c->gfncap = rate;
	}
	return 0;
}

static uint64_t refault_count(const struct hvm *v)
{
	return v->st.faults_swapin + v->st.faults_decompress + v->st.guest_swap_in;
}

/* Host frames each VM uses: its resident pages, its part of the shared frames and of the
 * compressed tier (each in proportion to its pages there). */
static void build_view(struct vmem_host *h, struct balloon_ctl *c)
{
	uint64_t shared_pages = 0, comp_pages = 0;

	for (size_t i = 0; i < h->nvms; i++) {
		const struct hvm *v = h->vm_by_id[h->vm_ids[i]];

		shared_pages += v->st.state[VMEM_PG_SHARED];
		comp_pages += v->st.state[VMEM_PG_COMPRESSED];
	}
	for (size_t i = 0; i < h->nvms; i++) {
		struct hvm *v = h->vm_by_id[h->vm_ids[i]];
		struct bvm *b = &c->vm[i];
		struct vmem_balloon_vm *w = &c->view[i];
		uint64_t res = v->st.state[VMEM_PG_RESIDENT];

		if (shared_pages)
			res += v->st.state[VMEM_PG_SHARED] * h->st.frames_shared / shared_pages;
		if (comp_pages)
			res += v->st.state[VMEM_PG_COMPRESSED] * h->zswap_frames / comp_pages;
		*w = (struct vmem_balloon_vm){
			.vm = v->id, .shares = v->shares, .pages = v->npages, .resident = res,
			.balloon = h->mmu ? vmem_mmu_balloon_size(h->mmu, v->id) :
				   h->balloon_be->size(h->balloon_be_ctx, v->id),
			.guest_free = h->mmu ? vmem_mmu_guest_free_pages(h->mmu, v->id) :
				      h->balloon_be->guest_free(h->balloon_be_ctx, v->id),
			.active = b->active,
			.refaults = refault_count(v) - v->refaults_mark,
			.stall_cycles = v->st.cycles_stalled - v->stall_mark,
		};
		v->refaults_mark = refault_count(v);
		v->stall_mark = v->st.cycles_stalled;
	}
}

static void move(struct vmem_host *h, struct balloon_ctl *c, struct hvm *v, struct bvm *b,
		 uint64_t size, uint64_t target)
{
	uint64_t rate = h->cfg.balloon_rate, got = 0, swapped = 0;

	if (!h->mmu) {
		/* A real guest moves its balloon itself, telling each page as it goes. */
		h->balloon_be->set_target(h->balloon_be_ctx, v->id, target);
		return;
	}
	if (target > size) {
		uint64_t want = target - size < rate ? target - size : rate;

		if (vmem_mmu_balloon_inflate(h->mmu, v->id, want, c->gfns, &got, &swapped))
			host_errorf(h, VMEM_EIO, "balloon of VM %u: %s", v->id,
				    vmem_mmu_error(h->mmu));
		b->guest_swapped += swapped;
		for (uint64_t i = 0; i < got; i++)
			if (c->gfns[i] < v->npages)
				host_balloon_take(h, v, c->gfns[i]);
	} else if (target < size) {
		uint64_t want = size - target < rate ? size - target : rate;

		vmem_mmu_balloon_deflate(h->mmu, v->id, want, c->gfns, &got);
		for (uint64_t i = 0; i < got; i++)
			if (c->gfns[i] < v->npages)
				host_balloon_give(h, v, c->gfns[i]);
	}
}

void balloon_run(struct vmem_host *h)
{
	unsigned period_ms = h->cfg.balloon_period_ms ? h->cfg.balloon_period_ms : 1;
	struct balloon_ctl *c;
	uint64_t free_target;

	if ((!h->balloon_ops && !h->cfg.balloon_report) || h->now < h->balloon_next)
		return;
	h->balloon_next = h->now + ms_cycles(h, period_ms);
	if (!(c = ctl_get(h)))
		return;
	if (h->cfg.balloon_report)
		report_due(h, c);
	if (!h->balloon_ops || (!h->mmu && !h->balloon_be) || h->nvms == 0)
		return;
	if (ensure(c, h->nvms, h->cfg.balloon_rate))
		return;
	for (size_t i = 0; i < h->nvms; i++) {
		struct hvm *v = h->vm_by_id[h->vm_ids[i]];
		struct bvm *b = &c->vm[i];

		if (!b->setup && h->mmu) {
			uint64_t swap = v->npages / 100 * h->cfg.balloon_guest_swap +
					v->npages % 100 * h->cfg.balloon_guest_swap / 100;

			if (vmem_mmu_guest_mem_setup(h->mmu, v->id, swap,
						     h->cfg.cost_guest_swap_in,
						     h->cfg.balloon_deflate_on_oom != 0))
				return;
			b->setup = true;
		}
		sample_active(h, v, b);
	}
	build_view(h, c);
	free_target = h->nframes / 1000 * h->cfg.balloon_free +
		      h->nframes % 1000 * h->cfg.balloon_free / 1000;
	for (size_t i = 0; i < h->nvms; i++)
		c->target[i] = c->view[i].balloon;
	h->balloon_ops->targets(&h->balloon.p, c->view, h->nvms, h->nframes, free_target,
				c->target);
	for (size_t i = 0; i < h->nvms; i++) {
		struct hvm *v = h->vm_by_id[h->vm_ids[i]];
		uint64_t t = c->target[i] > v->npages ? v->npages : c->target[i];

		v->st.balloon_target = t;
		move(h, c, v, &c->vm[i], c->view[i].balloon, t);
	}
}

/* ---- the machine's callbacks ---- */

uint64_t balloon_guest_swap(void *ctx, uint16_t vm, uint64_t gfn, bool in)
{
	struct vmem_host *h = ctx;
	struct hvm *v = host_vm_find(h, vm);
	struct vmem_host_fault_result r;
	uint8_t s;

	if (!v || gfn >= v->npages)
		return 0;
	if (in) {
		v->st.guest_swap_in++;
		return 0;
	}
	v->st.guest_swap_out++;
	s = v->pages[gfn].state;
	if (s != VMEM_PG_SWAPPED && s != VMEM_PG_COMPRESSED)
		return 0;
	/* Double paging: the guest reads a page the host swapped, to write it to its own
	 * swap; the host must bring it back first (Goldberg and Hassinger, 1974). */
	v->st.double_paging++;
	host_why(h, "double paging: the guest reads a page the host swapped, to swap it out "
		 "itself");
	return vmem_host_fault(h, vm, gfn, false, &r) == 0 ? r.cycles : 0;
}

void balloon_deflated(void *ctx, uint16_t vm, uint64_t gfn)
{
	struct vmem_host *h = ctx;
	struct hvm *v = host_vm_find(h, vm);
	struct bvm *b = bvm_of(h, vm);

	if (!v || gfn >= v->npages)
		return;
	host_balloon_give(h, v, gfn);
	if (b)
		b->deflated_oom++;
}

/* ---- reports ---- */

int vmem_host_balloon_info(const struct vmem_host *h, uint16_t vm,
			   struct vmem_host_balloon_info *out)
{
	const struct hvm *v = host_vm_find(h, vm);
	const struct bvm *b = bvm_of(h, vm);

	if (!v)
		return VMEM_ENOENT;
	*out = (struct vmem_host_balloon_info){
		.size = h->mmu ? vmem_mmu_balloon_size(h->mmu, vm) :
			v->st.state[VMEM_PG_BALLOONED],
		.target = v->st.balloon_target,
		.inflated = v->st.balloon_inflated,
		.deflated = v->st.balloon_deflated,
		.active = 1.0,
	};
	if (b) {
		out->deflated_oom = b->deflated_oom;
		out->guest_swapped = b->guest_swapped;
		out->reported = b->reported;
		out->active = b->active;
		out->sampled = b->sampled;
		out->touched = b->touched;
	}
	return 0;
}

int vmem_host_balloon_stats(const struct vmem_host *h, uint16_t vm,
			    struct vmem_balloon_stat *out, size_t n)
{
	static const char *const names[VMEM_BALLOON_STAT_TAGS] = {
		"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
		"total_memory", "available_memory", "disk_caches", "hugetlb_allocations",
		"hugetlb_failures", "oom_kill", "alloc_stall", "async_scan", "direct_scan",
		"async_reclaim", "direct_reclaim",
	};
	const struct hvm *v = host_vm_find(h, vm);
	struct vmem_mmu_guest_mem_stats g = { 0 };
	uint64_t val[VMEM_BALLOON_STAT_TAGS] = { 0 };

	if (!v)
		return VMEM_ENOENT;
	if (h->mmu)
		vmem_mmu_guest_mem_stats(h->mmu, vm, &g);
	val[0] = v->st.guest_swap_in * 4096;
	val[1] = v->st.guest_swap_out * 4096;
	val[2] = g.major_faults;
	val[3] = g.faults - g.major_faults;
	if (h->mmu) {
		val[4] = g.free * 4096;
		val[5] = (g.pages - g.balloon) * 4096;
		val[6] = g.free * 4096;
	}
	val[11] = g.alloc_stall;
	val[13] = g.direct_scan;
	val[15] = g.direct_reclaim;
	if (n > VMEM_BALLOON_STAT_TAGS)
		n = VMEM_BALLOON_STAT_TAGS;
	for (size_t i = 0; i < n; i++)
		out[i] = (struct vmem_balloon_stat){ names[i], val[i] };
	return (int)n;
}

/* ---- a balloon outside the simulator ---- */

void vmem_host_set_balloon_backend(struct vmem_host *h,
				   const struct vmem_host_balloon_backend *ops, void *ctx)
{
	h->balloon_be = ops;
	h->balloon_be_ctx = ctx;
}

int vmem_host_balloon_take(struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	struct hvm *v = host_vm_find(h, vm);

	if (!v || gfn >= v->npages)
		return VMEM_ENOENT;
	if (v->pages[gfn].state != VMEM_PG_BALLOONED)
		host_balloon_take(h, v, gfn);
	return 0;
}

int vmem_host_balloon_give(struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	struct hvm *v = host_vm_find(h, vm);

	if (!v || gfn >= v->npages)
		return VMEM_ENOENT;
	host_balloon_give(h, v, gfn);
	return 0;
}

int vmem_host_page_dropped(struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	struct hvm *v = host_vm_find(h, vm);
	struct gpage *pg;
	struct bvm *b;

	if (!v || gfn >= v->npages)
		return VMEM_ENOENT;
	pg = &v->pages[gfn];
	if (pg->state == VMEM_PG_UNTOUCHED || pg->state == VMEM_PG_BALLOONED)
		return 0;
	host_why(h, "free page reporting: the guest reported it free and the host dropped it");
	host_page_leave(h, v, gfn);
	pg->flags = 0;
	host_page_set_state(v, pg, VMEM_PG_UNTOUCHED);
	if (ctl_get(h) && (b = bvm_of(h, vm)))
		b->reported++;
	return 0;
}
