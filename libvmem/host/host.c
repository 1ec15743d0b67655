/*
 * The host memory manager's books: VMs, the state of every guest page, the host frames,
 * and the transitions between states (vmem/host.h lists the states).
 *
 * A fault on an untouched page takes a frame and gives the page its first content (the
 * content model, content.c, unless a content record set it); on a swapped or compressed
 * page it takes a frame and reads the content back (swap_tier.c); a write to a shared or
 * zero page copies it into a frame of its own (the copy-on-write break). Frames come from
 * the free pool; below the min watermark a fault reclaims first (direct reclaim, as
 * Linux's __alloc_pages_slowpath), and the swap daemon (reclaim.c) keeps free memory
 * between the low and high watermarks as simulated time passes. A frame is taken from
 * the frames given back most recently first (the free list through the frame table);
 * only when none is free, the lowest-numbered frame never used (the `fresh` cursor).
 * docs/HOST.md states the whole order, which tests/ref_host.c restates.
 *
 * Every change that takes a frame away from a page the machine maps (eviction, merging,
 * ballooning, a broken sharing) tells the attached machine through
 * vmem_mmu_host_invalidate, which drops its host-table entry and cached translations.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"

#include "base/rng.h"

static const char *const state_names[VMEM_PG_STATES] = {
	"untouched", "resident", "shared", "zero", "swapped", "compressed", "ballooned",
};

const char *vmem_page_state_name(enum vmem_page_state s)
{
	return (unsigned)s < VMEM_PG_STATES ? state_names[s] : "?";
}

int host_errorf(struct vmem_host *h, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err, sizeof(h->err), fmt, ap);
	va_end(ap);
	return err;
}

const char *vmem_host_error(const struct vmem_host *h)
{
	return h->err;
}

/* ---- policies ---- */

static int policy_start(struct vmem_host *h, const char *spec, const char *kind,
			struct policy_slot *slot, const void **ops_out, char *err, size_t errlen)
{
	char name[64], buf[VMEM_HOST_POLICY_SPEC];
	struct vmem_policy_params pp;
	int rc;

	*ops_out = NULL;
	if (!spec[0] || strcmp(spec, "none") == 0)
		return 0;
	rc = policy_parse(spec, name, sizeof(name), buf, sizeof(buf), &pp, err, errlen);
	if (rc)
		return rc;
	slot->p.host = h;
	slot->p.priv = NULL;
	if (strcmp(kind, "swap") == 0) {
		const struct vmem_swap_policy_ops *o = vmem_swap_policy_find(name);

		if (!o)
			goto unknown;
		rc = o->init(&slot->p, &pp, err, errlen);
		*ops_out = o;
	} else if (strcmp(kind, "dedup") == 0) {
		const struct vmem_dedup_ops *o = vmem_dedup_find(name);

		if (!o)
			goto unknown;
		rc = o->init(&slot->p, &pp, err, errlen);
		*ops_out = o;
	} else {
		const struct vmem_balloon_policy_ops *o = vmem_balloon_policy_find(name);

		if (!o)
			goto unknown;
		rc = o->init(&slot->p, &pp, err, errlen);
		*ops_out = o;
	}
	if (rc) {
		*ops_out = NULL;
		return rc;
	}
	slot->live = true;
	return 0;
unknown:
	snprintf(err, errlen, "host.%s: no %s policy named '%s' (vmem-host --help lists them)",
		 kind, kind, name);
	return VMEM_ENOENT;
}

/* ---- create, destroy, VMs ---- */

static uint64_t per_mille(uint64_t n, unsigned pm)
{
	return n / 1000 * pm + n % 1000 * pm / 1000;
}

int vmem_host_create(const struct vmem_host_config *cfg, struct vmem_host **out, char *err,
		     size_t errlen)
{
	struct vmem_host *h;
	const void *ops;
	int rc;

	*out = NULL;
	if (cfg->mem < 4096 * 64) {
		snprintf(err, errlen, "host.mem=%llu: the host needs at least 256 KiB",
			 (unsigned long long)cfg->mem);
		return VMEM_EINVAL;
	}
	if (cfg->mem >> 12 > UINT32_MAX - 1) {
		snprintf(err, errlen, "host.mem=%llu: at most 16 TiB", (unsigned long long)cfg->mem);
		return VMEM_EINVAL;
	}
	if (!(cfg->wmark_min <= cfg->wmark_low && cfg->wmark_low <= cfg->wmark_high &&
	      cfg->wmark_high < 1000)) {
		snprintf(err, errlen, "host.wmark_min <= host.wmark_low <= host.wmark_high < 1000 "
			 "(per mille) does not hold: %u, %u, %u", cfg->wmark_min, cfg->wmark_low,
			 cfg->wmark_high);
		return VMEM_EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->vm_by_id = calloc(65536, sizeof(*h->vm_by_id)))) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return VMEM_ENOMEM;
	}
	h->cfg = *cfg;
	h->nframes = cfg->mem >> 12;
	h->nfree = h->nframes;
	h->frames = calloc(h->nframes, sizeof(*h->frames));
	h->shared_hash = calloc(h->nframes, sizeof(*h->shared_hash));
	h->wmark_min = per_mille(h->nframes, cfg->wmark_min);
	h->wmark_low = per_mille(h->nframes, cfg->wmark_low);
	h->wmark_high = per_mille(h->nframes, cfg->wmark_high);
	h->rng = cfg->seed ^ 0x7b0b5ull;
	if (!h->frames || !h->shared_hash) {
		vmem_host_destroy(h);
		snprintf(err, errlen, "out of memory for %llu frames",
			 (unsigned long long)h->nframes);
		return VMEM_ENOMEM;
	}
	if ((rc = swap_tier_init(h))) {
		snprintf(err, errlen, "%s", h->err);
		vmem_host_destroy(h);
		return rc;
	}
	if ((rc = policy_start(h, cfg->swap, "swap", &h->swap, &ops, err, errlen)))
		goto fail;
	h->swap_ops = ops;
	if ((rc = policy_start(h, cfg->dedup, "dedup", &h->dedup, &ops, err, errlen)))
		goto fail;
	h->dedup_ops = ops;
	if ((rc = policy_start(h, cfg->balloon, "balloon", &h->balloon, &ops, err, errlen)))
		goto fail;
	h->balloon_ops = ops;
	*out = h;
	return 0;
fail:
	vmem_host_destroy(h);
	return rc;
}

void vmem_host_destroy(struct vmem_host *h)
{
	if (!h)
		return;
	if (h->mmu)
		vmem_mmu_set_backing(h->mmu, NULL);
	if (h->swap_ops && h->swap_ops->fini)
		h->swap_ops->fini(&h->swap.p);
	if (h->dedup_ops && h->dedup_ops->fini)
		h->dedup_ops->fini(&h->dedup.p);
	if (h->balloon_ops && h->balloon_ops->fini)
		h->balloon_ops->fini(&h->balloon.p);
	balloon_fini(h);
	for (size_t i = 0; i < h->nvms; i++) {
		struct hvm *v = h->vm_by_id[h->vm_ids[i]];

		free(v->pages);
		free(v->regions);
		free(v);
	}
	swap_tier_fini(h);
	story_fini(h);
	free(h->vm_ids);
	free(h->vm_by_id);
	free(h->frames);
	free(h->shared_hash);
	free(h);
}

static int vm_create(struct vmem_host *h, uint16_t id, uint64_t mem, uint32_t shares,
		     struct hvm **out)
{
	struct hvm *v;
	uint16_t *ids;

	if (h->nvms >= h->cfg.max_vms)
		return host_errorf(h, VMEM_ELIMIT, "cannot add VM %u: host.max_vms=%u VMs exist "
				   "already", id, h->cfg.max_vms);
	if (mem < 4096 || mem >> 12 > UINT32_MAX)
		return host_errorf(h, VMEM_EINVAL, "VM %u: memory of %llu bytes is outside "
				   "4 KiB .. 16 TiB", id, (unsigned long long)mem);
	v = calloc(1, sizeof(*v));
	ids = realloc(h->vm_ids, (h->nvms + 1) * sizeof(*ids));
	if (ids)
		h->vm_ids = ids;
	if (!v || !ids || !(v->pages = calloc(mem >> 12, sizeof(*v->pages))) ||
	    !(v->regions = calloc((mem >> 12) / 512 + 1, 1))) {
		if (v)
			free(v->pages);
		free(v);
		return host_errorf(h, VMEM_ENOMEM, "VM %u: out of memory for %llu page entries",
				   id, (unsigned long long)(mem >> 12));
	}
	v->host = h;
	v->last_swapin_gfn = UINT64_MAX - 1;
	v->id = id;
	v->shares = shares;
	v->npages = mem >> 12;
	v->st.pages = v->npages;
	v->st.state[VMEM_PG_UNTOUCHED] = v->npages;
	h->vm_by_id[id] = v;
	h->vm_ids[h->nvms++] = id;
	*out = v;
	return 0;
}

int vmem_host_add_vm(struct vmem_host *h, uint16_t vm, uint64_t mem, uint32_t shares)
{
	struct hvm *v;

	if (h->vm_by_id[vm])
		return host_errorf(h, VMEM_EEXIST, "VM %u exists already", vm);
	return vm_create(h, vm, mem, shares, &v);
}

struct hvm *host_vm(struct vmem_host *h, uint16_t vm, int *err)
{
	struct hvm *v = h->vm_by_id[vm];

	*err = 0;
	if (!v)
		*err = vm_create(h, vm, h->cfg.vm_mem, 1000, &v);
	return *err ? NULL : v;
}

const uint16_t *vmem_host_vms(const struct vmem_host *h, size_t *n)
{
	*n = h->nvms;
	return h->vm_ids;
}

/* ---- frames ---- */

int host_frame_alloc(struct vmem_host *h, uint64_t *frame)
{
	if (h->nfree <= h->wmark_min && !h->in_reclaim) {
		char trigger[96] = "";

		h->st.reclaim_direct++;
		if (story_on(h))
			snprintf(trigger, sizeof(trigger), "direct reclaim in a fault (free %llu <= "
				 "min %llu)", (unsigned long long)h->nfree,
				 (unsigned long long)h->wmark_min);
		host_reclaim(h, h->wmark_min + 1 + h->cfg.reclaim_batch, trigger);
	}
	if (h->nfree == 0)
		return host_errorf(h, VMEM_ENOSPACE, "host memory exhausted (host.mem=%llu MiB): "
				   "nothing left to reclaim (host.swap=%s, swap space %llu MiB)",
				   (unsigned long long)(h->cfg.mem >> 20),
				   h->cfg.swap[0] ? h->cfg.swap : "none",
				   (unsigned long long)(h->cfg.swap_size >> 20));
	if (h->free_head) {
		*frame = h->free_head - 1;
		h->free_head = h->frames[*frame] & ~FRAME_FREE;
	} else {
		*frame = h->fresh++;
	}
	h->nfree--;
	return 0;
}

void host_frame_free(struct vmem_host *h, uint64_t frame)
{
	h->frames[frame] = FRAME_FREE | h->free_head;
	h->free_head = frame + 1;
	h->nfree++;
}

/* ---- page states ---- */

void host_page_set_state(struct hvm *v, struct gpage *pg, enum vmem_page_state s)
{
	enum vmem_page_state from = (enum vmem_page_state)pg->state;

	v->st.state[pg->state]--;
	v->st.state[s]++;
	pg->state = (uint8_t)s;
	if (v->host->nwatch || v->host->watch_pass)
		story_record(v->host, v, (uint64_t)(pg - v->pages), from, s);
	/* One predictable branch while no observer is set (the simulators never set one). */
	if (__builtin_expect(v->host->observer != NULL, 0))
		v->host->observer(v->host->observer_ctx, v->id, (uint64_t)(pg - v->pages), from, s);
}

static void swap_candidate(struct vmem_host *h, uint64_t frame, bool on)
{
	if (!h->swap_ops)
		return;
	if (on && h->swap_ops->on_map)
		h->swap_ops->on_map(&h->swap.p, frame);
	else if (!on && h->swap_ops->on_unmap)
		h->swap_ops->on_unmap(&h->swap.p, frame);
}

static void mmu_drop(struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	if (h->mmu)
		vmem_mmu_host_invalidate(h->mmu, vm, gfn);
}

/* Drops (vm, gfn)'s reference to shared frame f; frees f with the last one. */
static void shared_put(struct vmem_host *h, struct hvm *v, uint64_t gfn, uint64_t f)
{
	uint64_t refs = (h->frames[f] & ~FRAME_SHARED) - 1;

	if (refs == 0) {
		host_frame_free(h, f);
		h->st.frames_shared--;
	} else {
		h->frames[f] = FRAME_SHARED | refs;
	}
	if (h->dedup_ops && h->dedup_ops->on_unshare)
		h->dedup_ops->on_unshare(&h->dedup.p, v->id, gfn, f);
}

void host_page_leave(struct vmem_host *h, struct hvm *v, uint64_t gfn)
{
	struct gpage *pg = &v->pages[gfn];

	thp_split(h, v, gfn, THP_BY_OTHER);
	switch ((enum vmem_page_state)pg->state) {
	case VMEM_PG_RESIDENT:
		mmu_drop(h, v->id, gfn);
		swap_candidate(h, pg->loc, false);
		host_frame_free(h, pg->loc);
		h->st.frames_private--;
		break;
	case VMEM_PG_SHARED:
		mmu_drop(h, v->id, gfn);
		shared_put(h, v, gfn, pg->loc);
		break;
	case VMEM_PG_ZERO:
		mmu_drop(h, v->id, gfn);
		break;
	case VMEM_PG_SWAPPED:
	case VMEM_PG_COMPRESSED:
		swap_tier_drop(h, pg);
		break;
	default:
		break;
	}
	pg->flags &= (uint8_t)~PG_WRITABLE;
}

/* Gives page gfn a private frame; a resident page afterwards. */
static int make_resident(struct vmem_host *h, struct hvm *v, uint64_t gfn, uint64_t frame)
{
	struct gpage *pg = &v->pages[gfn];

	pg->loc = (uint32_t)frame;
	h->frames[frame] = frame_owner(v->id, gfn);
	h->st.frames_private++;
	host_page_set_state(v, pg, VMEM_PG_RESIDENT);
	swap_candidate(h, frame, true);
	return 0;
}

void host_page_move(struct vmem_host *h, struct hvm *v, uint64_t gfn, uint64_t to)
{
	struct gpage *pg = &v->pages[gfn];

	swap_candidate(h, pg->loc, false);
	host_frame_free(h, pg->loc);
	pg->loc = (uint32_t)to;
	h->frames[to] = frame_owner(v->id, gfn);
	swap_candidate(h, to, true);
}

int host_evict(struct vmem_host *h, struct hvm *v, uint64_t gfn)
{
	struct gpage *pg = &v->pages[gfn];
	uint64_t frame = pg->loc;
	int err;

	if (pg->state != VMEM_PG_RESIDENT)
		return VMEM_EINVAL;
	thp_split(h, v, gfn, THP_BY_RECLAIM);
	/* Content written since the host last looked is the content that leaves. */
	if (h->mmu && vmem_mmu_host_dirty(h->mmu, v->id, gfn, true))
		content_written(h, v, gfn, pg);
	err = swap_tier_store(h, v, pg);
	if (err)
		return err;
	/* Counted once the page has left: an eviction that failed wrote nothing. */
	if (pg->flags & PG_GUEST_FREE)
		v->st.silent_swap_writes++;
	mmu_drop(h, v->id, gfn);
	swap_candidate(h, frame, false);
	host_frame_free(h, frame);
	h->st.frames_private--;
	pg->flags &= (uint8_t)~(PG_WRITABLE | PG_SWAPIN_CLEAN);
	v->st.reclaimed++;
	return 0;
}

void host_balloon_take(struct vmem_host *h, struct hvm *v, uint64_t gfn)
{
	struct gpage *pg = &v->pages[gfn];

	/* One of the first balloon pages a story follows (vmem_host_watch_balloon). */
	if (h->watch_balloon && vmem_host_watch(h, v->id, gfn) == 0)
		h->watch_balloon--;
	thp_split(h, v, gfn, THP_BY_BALLOON);
	host_page_leave(h, v, gfn);
	pg->flags = 0;
	host_why(h, "the guest's balloon driver gave it to the host (inflating toward the "
		 "target of balloon policy %s)", h->balloon_ops ? h->balloon_ops->name : "none");
	host_page_set_state(v, pg, VMEM_PG_BALLOONED);
	v->st.balloon_inflated++;
}

void host_balloon_give(struct vmem_host *h, struct hvm *v, uint64_t gfn)
{
	struct gpage *pg = &v->pages[gfn];

	(void)h;
	if (pg->state != VMEM_PG_BALLOONED)
		return;
	host_why(h, "the balloon gave it back to the guest (deflate)");
	host_page_set_state(v, pg, VMEM_PG_UNTOUCHED);
	v->st.balloon_deflated++;
}

/* ---- faults ---- */

static struct gpage *page_of(struct vmem_host *h, uint16_t vm, uint64_t gfn,
			     struct hvm **vout, int *err)
{
	struct hvm *v = host_vm(h, vm, err);

	if (!v)
		return NULL;
	if (gfn >= v->npages) {
		*err = host_errorf(h, VMEM_ERANGE, "VM %u: guest page %#llx is beyond its %llu "
				   "pages", vm, (unsigned long long)gfn,
				   (unsigned long long)v->npages);
		return NULL;
	}
	*vout = v;
	return &v->pages[gfn];
}

int vmem_host_fault(struct vmem_host *h, uint16_t vm, uint64_t gfn, bool write,
		    struct vmem_host_fault_result *res)
{
	struct hvm *v;
	int err;
	struct gpage *pg = page_of(h, vm, gfn, &v, &err);
	uint64_t frame, cycles = 0;
	enum vmem_page_state was;
	const char *acc = write ? "write" : "read";
	size_t story = h->nevents;
	bool huge = false;

	if (!pg)
		return err;
	was = (enum vmem_page_state)pg->state;
	v->st.faults++;
	h->work_cycles = 0;   /* direct reclaim in this fault adds its work */
	switch (was) {
	case VMEM_PG_RESIDENT:
		/* The machine lost its mapping (a remap of a neighbour in a huge region, an
		 * invalidation): map it again, the whole region when it is huge. */
		frame = pg->loc;
		if (h->thp && v->regions[gfn / 512] == THP_HUGE) {
			frame -= gfn % 512;
			huge = true;
		}
		break;
	case VMEM_PG_SHARED:
	case VMEM_PG_ZERO:
		if (!write) {
			frame = was == VMEM_PG_ZERO ? ZERO_FRAME : pg->loc;
			break;
		}
		/* Copy-on-write: a frame of its own with the same content, then the write. */
		if ((err = host_frame_alloc(h, &frame)))
			return err;
		host_why(h, "guest write to a %s page: copy-on-write into a frame of its own",
			 was == VMEM_PG_ZERO ? "zero" : "shared");
		mmu_drop(h, vm, gfn);
		if (pg->state == VMEM_PG_SHARED)
			shared_put(h, v, gfn, pg->loc);
		make_resident(h, v, gfn, frame);
		v->st.faults_cow++;
		h->st.cow_breaks++;
		cycles += h->cfg.cost_cow;
		break;
	case VMEM_PG_SWAPPED:
	case VMEM_PG_COMPRESSED:
		if ((err = host_frame_alloc(h, &frame)))
			return err;
		if (was == VMEM_PG_SWAPPED)
			host_why(h, "guest %s: read back from swap slot %u (device queue, %u us "
				 "latency, transfer)", acc, pg->loc, h->cfg.swap_latency_us);
		else
			host_why(h, "guest %s: decompressed from %u bytes of the compressed tier", acc,
				 pg->loc);
		if (pg->flags & PG_GUEST_FREE)
			v->st.false_swap_reads++;
		swap_tier_load(h, v, pg, &cycles);
		make_resident(h, v, gfn, frame);
		pg->flags |= PG_SWAPIN_CLEAN;
		break;
	case VMEM_PG_UNTOUCHED:
	case VMEM_PG_BALLOONED:
		/* A ballooned page the guest touches again is deflated by that touch (as
		 * with deflate-on-OOM, the host cannot refuse it). */
		if (was == VMEM_PG_BALLOONED)
			v->st.balloon_deflated++;
		if (was == VMEM_PG_UNTOUCHED && thp_first_touch(h, v, gfn, &frame)) {
			uint64_t first = gfn & ~511ull;

			host_why(h, "first touch by a guest %s in an untouched 2 MiB region: a "
				 "zeroed 2 MiB host page (512 pages)", acc);
			for (unsigned i = 0; i < 512; i++) {
				make_resident(h, v, first + i, frame + i);
				content_first_touch(h, v, first + i, &v->pages[first + i]);
			}
			v->st.faults_first++;
			cycles += h->cfg.thp_zero_fill;
			huge = true;
			break;
		}
		if ((err = host_frame_alloc(h, &frame)))
			return err;
		if (was == VMEM_PG_BALLOONED)
			host_why(h, "guest %s of a ballooned page: deflated by the touch, a zeroed "
				 "frame", acc);
		else
			host_why(h, "first touch by a guest %s: a zeroed frame", acc);
		make_resident(h, v, gfn, frame);
		content_first_touch(h, v, gfn, pg);
		v->st.faults_first++;
		cycles += h->cfg.cost_zero_fill;
		break;
	default:
		return host_errorf(h, VMEM_EINVAL, "VM %u page %#llx: bad state %u", vm,
				   (unsigned long long)gfn, pg->state);
	}
	if (write && pg->state == VMEM_PG_RESIDENT) {
		if (pg->flags & PG_SWAPIN_CLEAN && was != VMEM_PG_SWAPPED &&
		    was != VMEM_PG_COMPRESSED)
			pg->flags &= (uint8_t)~PG_SWAPIN_CLEAN;
		content_written(h, v, gfn, pg);
		pg->flags |= PG_WRITABLE;
	}
	pg->flags &= (uint8_t)~PG_GUEST_FREE;
	res->frame = frame;
	res->huge = huge;
	res->writable = pg->state == VMEM_PG_RESIDENT;
	if (res->writable)
		pg->flags |= PG_WRITABLE;
	res->cycles = cycles + h->work_cycles;
	h->work_cycles = 0;
	v->st.cycles_stalled += res->cycles;
	if (h->nevents > story)
		story_cost(h, story, vm, gfn, res->cycles);
	return 0;
}

int vmem_host_set_content(struct vmem_host *h, uint16_t vm, uint64_t gfn, uint64_t hash,
			  bool zero, unsigned cls)
{
	struct hvm *v;
	int err;
	struct gpage *pg = page_of(h, vm, gfn, &v, &err);

	if (!pg)
		return err;
	if (cls > 15)
		return host_errorf(h, VMEM_EINVAL, "content class %u is outside 0..15", cls);
	/* A page read back from swap and overwritten whole before any other write: the
	 * swap-in was a stale read (VSwapper). */
	if (pg->flags & PG_SWAPIN_CLEAN) {
		v->st.stale_swap_reads++;
		pg->flags &= (uint8_t)~PG_SWAPIN_CLEAN;
	}
	pg->hash = hash;
	pg->cls = (uint8_t)cls;
	pg->flags = (uint8_t)((pg->flags & ~PG_ZERO) | PG_CONTENT_SET | (zero ? PG_ZERO : 0));
	return 0;
}

int vmem_host_guest_free(struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	struct hvm *v;
	int err;
	struct gpage *pg = page_of(h, vm, gfn, &v, &err);

	if (!pg)
		return err;
	pg->flags |= PG_GUEST_FREE;
	v->st.guest_freed++;
	balloon_guest_freed(h, v, gfn);
	return 0;
}

/* ---- merging (the dedup policies' calls) ---- */

int vmem_host_page(struct vmem_host *h, uint16_t vm, uint64_t gfn,
		   struct vmem_host_page *out)
{
	struct hvm *v = h->vm_by_id[vm];
	struct gpage *pg;

	if (!v || gfn >= v->npages)
		return VMEM_ENOENT;
	pg = &v->pages[gfn];
	/* Reading a resident page's content: a write since the last look changed it. */
	if (pg->state == VMEM_PG_RESIDENT && h->mmu &&
	    vmem_mmu_host_dirty(h->mmu, vm, gfn, true))
		content_written(h, v, gfn, pg);
	out->state = (enum vmem_page_state)pg->state;
	out->frame = pg->state == VMEM_PG_RESIDENT || pg->state == VMEM_PG_SHARED ? pg->loc : 0;
	out->hash = pg->hash;
	out->zero = (pg->flags & PG_ZERO) != 0;
	out->refs = pg->state == VMEM_PG_SHARED ?
		    (uint32_t)(h->frames[pg->loc] & ~FRAME_SHARED) : 0;
	return 0;
}

/* Whether frame holds content `hash` (the full compare of a merge: equal hashes stand
 * for equal contents, as no two contents in a run share a 64-bit hash by design of the
 * content model and, for content records, with probability ~n^2 / 2^65). */
static bool frame_holds(const struct vmem_host *h, uint64_t frame, uint64_t hash)
{
	uint64_t e = h->frames[frame];
	const struct hvm *v;

	if (frame_is_shared(e))
		return h->shared_hash[frame] == hash;
	if (!frame_is_private(e))
		return false;
	v = h->vm_by_id[e >> 40];
	return v && v->pages[e & ((1ull << 40) - 1)].hash == hash;
}

int vmem_host_merge(struct vmem_host *h, uint16_t vm, uint64_t gfn, uint64_t frame)
{
	struct hvm *v = h->vm_by_id[vm];
	struct gpage *pg;
	uint64_t e;

	if (!v || gfn >= v->npages || frame >= h->fresh)
		return VMEM_ENOENT;
	pg = &v->pages[gfn];
	if (pg->state != VMEM_PG_RESIDENT || pg->loc == frame)
		return VMEM_EINVAL;
	/* The full compare: the frame must hold the same content. */
	if (!frame_holds(h, frame, pg->hash))
		return VMEM_EINVAL;
	e = h->frames[frame];
	if (frame_is_private(e)) {
		/* The owner becomes the first mapper of a write-protected shared frame. */
		struct hvm *ov = h->vm_by_id[e >> 40];
		uint64_t ogfn = e & ((1ull << 40) - 1);
		struct gpage *op = &ov->pages[ogfn];

		thp_split(h, ov, ogfn, THP_BY_DEDUP);
		mmu_drop(h, ov->id, ogfn);
		swap_candidate(h, frame, false);
		host_why(h, "dedup: VM %u page %#llx of the same content merged into its frame "
			 "%llu, now shared and write-protected", vm, (unsigned long long)gfn,
			 (unsigned long long)frame);
		host_page_set_state(ov, op, VMEM_PG_SHARED);
		op->flags &= (uint8_t)~PG_WRITABLE;
		h->frames[frame] = FRAME_SHARED | 1;
		h->shared_hash[frame] = op->hash;
		h->st.frames_private--;
		h->st.frames_shared++;
	}
	/* The merged page drops its own frame and maps the shared one. */
	thp_split(h, v, gfn, THP_BY_DEDUP);
	host_page_leave(h, v, gfn);
	host_why(h, "dedup: merged into shared frame %llu (%llu pages map it now), its own "
		 "frame freed", (unsigned long long)frame,
		 (unsigned long long)((h->frames[frame] & ~FRAME_SHARED) + 1));
	pg->loc = (uint32_t)frame;
	host_page_set_state(v, pg, VMEM_PG_SHARED);
	h->frames[frame]++;
	return 0;
}

int vmem_host_merge_zero(struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	struct hvm *v = h->vm_by_id[vm];
	struct gpage *pg;

	if (!v || gfn >= v->npages)
		return VMEM_ENOENT;
	pg = &v->pages[gfn];
	if (pg->state != VMEM_PG_RESIDENT || !(pg->flags & PG_ZERO))
		return VMEM_EINVAL;
	thp_split(h, v, gfn, THP_BY_DEDUP);
	host_page_leave(h, v, gfn);
	host_why(h, "dedup: zero content mapped onto the host's zero page, its frame freed");
	host_page_set_state(v, pg, VMEM_PG_ZERO);
	return 0;
}

/* ---- the view policies get ---- */

uint64_t vmem_host_frames(const struct vmem_host *h)
{
	return h->nframes;
}

int vmem_host_frame_owner(const struct vmem_host *h, uint64_t frame, uint16_t *vm,
			  uint64_t *gfn)
{
	uint64_t e;

	if (frame >= h->fresh)
		return VMEM_ENOENT;
	e = h->frames[frame];
	if (!frame_is_private(e))
		return VMEM_ENOENT;
	*vm = (uint16_t)(e >> 40);
	*gfn = e & ((1ull << 40) - 1);
	return 0;
}

bool vmem_host_frame_young(struct vmem_host *h, uint64_t frame, bool clear)
{
	uint16_t vm;
	uint64_t gfn;

	if ((!h->mmu && !h->young) || vmem_host_frame_owner(h, frame, &vm, &gfn))
		return false;
	if (h->young)
		return h->young(h->young_ctx, vm, gfn, clear);
	return vmem_mmu_host_young(h->mmu, vm, gfn, clear);
}

/* ---- a backing outside the simulator ---- */

void vmem_host_set_observer(struct vmem_host *h, vmem_host_observer_fn fn, void *ctx)
{
	h->observer = fn;
	h->observer_ctx = ctx;
}

void vmem_host_set_young_source(struct vmem_host *h, vmem_host_young_fn fn, void *ctx)
{
	h->young = fn;
	h->young_ctx = ctx;
}

void vmem_host_set_sample_source(struct vmem_host *h, vmem_host_sample_fn fn, void *ctx)
{
	h->sample = fn;
	h->sample_ctx = ctx;
}

int vmem_host_access(struct vmem_host *h, uint16_t vm, uint64_t gfn, bool write)
{
	const struct hvm *v = h->vm_by_id[vm];
	const struct gpage *pg;

	if (!v || gfn >= v->npages)
		return VMEM_ENOENT;
	pg = &v->pages[gfn];
	if (pg->state == VMEM_PG_RESIDENT && h->swap_ops && h->swap_ops->on_access)
		h->swap_ops->on_access(&h->swap.p, pg->loc, write);
	return 0;
}

uint64_t vmem_host_random(struct vmem_host *h)
{
	return rng_next(&h->rng);
}

uint64_t vmem_host_cycles_per_ms(const struct vmem_host *h)
{
	return h->cfg.cpu_hz / 1000;
}

uint64_t vmem_host_vm_pages(const struct vmem_host *h, uint16_t vm)
{
	const struct hvm *v = h->vm_by_id[vm];

	return v ? v->npages : 0;
}

uint64_t vmem_host_now(const struct vmem_host *h)
{
	return h->now;
}

void vmem_host_set_dedup_profit(struct vmem_host *h, uint16_t vm, int64_t bytes)
{
	struct hvm *v = h->vm_by_id[vm];

	if (v)
		v->st.dedup_profit = bytes;
}

enum vmem_page_state vmem_host_page_state(const struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	const struct hvm *v = h->vm_by_id[vm];

	return v && gfn < v->npages ? (enum vmem_page_state)v->pages[gfn].state :
	       VMEM_PG_UNTOUCHED;
}

/* ---- time ---- */

int vmem_host_advance(struct vmem_host *h, uint64_t cycles)
{
	uint64_t work = h->work_cycles;

	h->now += cycles;
	host_reclaim_daemon(h);
	thp_collapse_run(h);
	h->st.cycles_daemon += h->work_cycles - work;
	h->work_cycles = work;
	if (h->dedup_ops)
		h->dedup_ops->run(&h->dedup.p, h->now);
	balloon_run(h);
	return 0;
}

const char *const *vmem_host_dedup_stat_names(struct vmem_host *h)
{
	static const char *const none[] = { NULL };

	return h->dedup_ops && h->dedup_ops->names ? h->dedup_ops->names(&h->dedup.p) : none;
}

int vmem_host_dedup_stat(struct vmem_host *h, const char *name, double *value)
{
	if (!h->dedup_ops || !h->dedup_ops->stat)
		return VMEM_ENOENT;
	return h->dedup_ops->stat(&h->dedup.p, name, value);
}

/* ---- the machine ---- */

static int backing_fault(void *ctx, uint16_t vm, uint64_t gfn, bool write,
			 struct vmem_mmu_backed_page *out)
{
	struct vmem_host_fault_result r;
	int err = vmem_host_fault(ctx, vm, gfn, write, &r);

	if (err)
		return err;
	out->frame = r.frame;
	out->writable = r.writable;
	out->huge = r.huge;
	out->cycles = r.cycles;
	return 0;
}

static void backing_content(void *ctx, uint16_t vm, uint64_t gfn, uint64_t hash, bool zero,
			    unsigned cls)
{
	vmem_host_set_content(ctx, vm, gfn, hash, zero, cls);
}

static void backing_free(void *ctx, uint16_t vm, uint64_t gfn)
{
	vmem_host_guest_free(ctx, vm, gfn);
}

static void backing_access(void *ctx, uint64_t frame, bool write)
{
	struct vmem_host *h = ctx;

	if (frame < h->fresh && frame_is_private(h->frames[frame]))
		h->swap_ops->on_access(&h->swap.p, frame, write);
}

static const char *backing_error(void *ctx)
{
	return vmem_host_error(ctx);
}

int vmem_host_attach(struct vmem_host *h, struct vmem_mmu *m)
{
	struct vmem_mmu_backing b = {
		.ctx = h, .fault = backing_fault, .content = backing_content,
		.guest_free = backing_free, .error = backing_error,
		.access = h->swap_ops && h->swap_ops->on_access ? backing_access : NULL,
		.guest_swap = balloon_guest_swap, .balloon_deflated = balloon_deflated,
	};
	int err = vmem_mmu_set_backing(m, &b);

	if (err)
		return host_errorf(h, err, "%s", vmem_mmu_error(m));
	h->mmu = m;
	h->cfg.vm_mem = vmem_mmu_get_config(m)->guest_mem;
	h->thp = vmem_mmu_get_config(m)->host_page == VMEM_PAGE_2M;
	return 0;
}

/* ---- statistics and invariants ---- */

int vmem_host_vm_stats(const struct vmem_host *h, uint16_t vm, struct vmem_host_vm_stats *out)
{
	const struct hvm *v = h->vm_by_id[vm];

	if (!v)
		return VMEM_ENOENT;
	*out = v->st;
	return 0;
}

void vmem_host_stats(const struct vmem_host *h, struct vmem_host_stats *out)
{
	*out = h->st;
	out->frames = h->nframes;
	out->frames_free = h->nfree;
	out->frames_zswap = h->zswap_frames;
	out->zswap_bytes = h->zswap_bytes;
	out->swap_slots = h->nslots;
	out->swap_slots_used = h->slots_used;
	out->now = h->now;
	out->device_busy_until = h->device_busy;
	out->metadata_bytes = h->fresh * sizeof(*h->frames) + (h->slot_hwm + 63) / 64 * 8;
	for (size_t i = 0; i < h->nvms; i++) {
		const struct hvm *v = h->vm_by_id[h->vm_ids[i]];

		out->metadata_bytes += sizeof(*v) + (v->npages - v->st.state[VMEM_PG_UNTOUCHED]) *
				       sizeof(struct gpage);
	}
}

int vmem_host_check(const struct vmem_host *h, char *err, size_t errlen)
{
	uint64_t priv = 0, shared = 0, zsw = 0, free_seen = 0, slots = 0, zbytes = 0;
	uint64_t *refs = calloc(h->fresh ? h->fresh : 1, sizeof(*refs));

	if (!refs) {
		snprintf(err, errlen, "out of memory for the check");
		return VMEM_ENOMEM;
	}
	for (uint64_t f = 0; f < h->fresh; f++) {
		uint64_t e = h->frames[f];

		if (frame_is_free(e))
			free_seen++;
		else if (frame_is_shared(e))
			shared++;
		else if (e & FRAME_ZSWAP)
			zsw++;
		else
			priv++;
	}
	free_seen += h->nframes - h->fresh;
#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); free(refs); return VMEM_EINVAL; } while (0)
	if (free_seen != h->nfree)
		FAIL("free frames: %llu counted, %llu on the books", (unsigned long long)free_seen,
		     (unsigned long long)h->nfree);
	if (priv + shared + zsw + free_seen != h->nframes)
		FAIL("frames in use + free = %llu, capacity %llu",
		     (unsigned long long)(priv + shared + zsw + free_seen),
		     (unsigned long long)h->nframes);
	if (priv != h->st.frames_private || shared != h->st.frames_shared ||
	    zsw != h->zswap_frames)
		FAIL("frames by use: private %llu/%llu shared %llu/%llu zswap %llu/%llu "
		     "(counted/books)", (unsigned long long)priv,
		     (unsigned long long)h->st.frames_private, (unsigned long long)shared,
		     (unsigned long long)h->st.frames_shared, (unsigned long long)zsw,
		     (unsigned long long)h->zswap_frames);
	for (size_t i = 0; i < h->nvms; i++) {
		const struct hvm *v = h->vm_by_id[h->vm_ids[i]];
		uint64_t count[VMEM_PG_STATES] = { 0 };

		for (uint64_t g = 0; g < v->npages; g++) {
			const struct gpage *pg = &v->pages[g];

			if (pg->state >= VMEM_PG_STATES)
				FAIL("VM %u page %#llx: state %u", v->id, (unsigned long long)g,
				     pg->state);
			count[pg->state]++;
			if (pg->state == VMEM_PG_RESIDENT &&
			    h->frames[pg->loc] != frame_owner(v->id, g))
				FAIL("VM %u page %#llx: resident in frame %u owned by %#llx",
				     v->id, (unsigned long long)g, pg->loc,
				     (unsigned long long)h->frames[pg->loc]);
			if (pg->state == VMEM_PG_SHARED) {
				if (!frame_is_shared(h->frames[pg->loc]))
					FAIL("VM %u page %#llx: shared in unshared frame %u", v->id,
					     (unsigned long long)g, pg->loc);
				refs[pg->loc]++;
			}
			if (pg->state == VMEM_PG_SWAPPED)
				slots++;
			if (pg->state == VMEM_PG_COMPRESSED)
				zbytes += pg->loc;
		}
		for (uint64_t r = 0; r < v->npages / 512; r++) {
			const struct gpage *pg = &v->pages[r * 512];

			if (v->regions[r] != THP_HUGE)
				continue;
			for (unsigned k = 0; k < 512; k++)
				if (pg[k].state != VMEM_PG_RESIDENT || pg[k].loc != pg[0].loc + k ||
				    pg[0].loc % 512)
					FAIL("VM %u 2 MiB region %llu: page %u is not the %u-th frame of "
					     "an aligned block", v->id, (unsigned long long)r, k, k);
		}
		for (unsigned s = 0; s < VMEM_PG_STATES; s++)
			if (count[s] != v->st.state[s])
				FAIL("VM %u: %llu pages %s, the books say %llu", v->id,
				     (unsigned long long)count[s], state_names[s],
				     (unsigned long long)v->st.state[s]);
	}
	for (uint64_t f = 0; f < h->fresh; f++)
		if (frame_is_shared(h->frames[f]) && (h->frames[f] & ~FRAME_SHARED) != refs[f])
			FAIL("shared frame %llu: %llu references, %llu pages map it",
			     (unsigned long long)f,
			     (unsigned long long)(h->frames[f] & ~FRAME_SHARED),
			     (unsigned long long)refs[f]);
	if (slots != h->slots_used)
		FAIL("swap slots: %llu in use, %llu pages swapped", (unsigned long long)h->slots_used,
		     (unsigned long long)slots);
	if (zbytes != h->zswap_bytes)
		FAIL("compressed tier: %llu bytes stored, pages account for %llu",
		     (unsigned long long)h->zswap_bytes, (unsigned long long)zbytes);
#undef FAIL
	free(refs);
	return 0;
}
