/*
 * The reference host memory manager (see ref_host.h). Every rule below is stated where it
 * is used, with the place it is documented.
 */
#include <stdlib.h>
#include <string.h>

#include "ref_host.h"

/* The host's zero page is a frame number outside the capacity (host_internal.h). */
#define REF_ZERO_FRAME 0xffffffffull
#define REF_MAX_VMS 16
/* A reclaim pass asks the policy for at most this many victims (docs/HOST.md). */
#define REF_PASS_MAX 64

enum frame_use { F_FREE, F_PRIVATE, F_SHARED, F_TIER };

struct ref_frame {
	enum frame_use use;
	bool ever_used;          /* taken at least once since the host was created */
	uint64_t freed_at;       /* free: when it was last given back (event counter) */
	uint64_t taken_at;       /* tier: when the tier took it */
	uint16_t vm;             /* private: its page */
	uint64_t gfn;
	uint64_t refs;           /* shared: pages mapping it */
	uint64_t hash;           /* shared: the content it holds */
};

struct ref_page {
	enum vmem_page_state state;
	uint64_t frame;          /* resident, shared */
	uint64_t slot;           /* swapped */
	uint64_t tier_bytes;     /* compressed */
	uint64_t mapped_at;      /* resident: when it became resident (event counter) */
	uint64_t hash;
	bool zero;
	unsigned cls;
	bool recorded;           /* its content came from a content record */
	bool guest_free;         /* the guest reported it free and has not touched it since */
	bool clean_swapin;       /* swapped in and not written since */
};

struct ref_vm {
	bool present;
	uint16_t id;
	uint64_t npages;
	struct ref_page *pages;
	struct vmem_host_vm_stats st;   /* the event counters; state[] is counted */
};

struct ref_host {
	struct vmem_host_config cfg;
	enum ref_swap_rule rule;
	uint64_t nframes;
	struct ref_frame *frames;
	uint64_t wmin, wlow, whigh;     /* watermarks in frames */
	uint64_t tier_max_frames;
	uint64_t nslots;
	bool *slot_used;
	uint64_t slot_next;             /* where the next-fit search starts */
	uint64_t device_busy;
	uint64_t now;
	uint64_t events;                /* orders frees, tier takes and mappings */
	uint64_t writes_seen;           /* the content model's write counter */
	uint64_t work;                  /* host CPU cycles of reclaim since it was reset */
	bool reclaiming;
	struct ref_vm vms[REF_MAX_VMS];
	/* Host event counters (the counts are taken from the records). */
	uint64_t swap_reads, swap_writes, reclaim_direct, reclaim_daemon, cycles_daemon;
	uint64_t cow_breaks;
};

/* ---- the content model (libvmem/host/content.c, docs/HOST.md "Page contents") ---- */

/* The splitmix64 finaliser. */
static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* draw(seed, a, b, c) = mix(mix(mix(seed ^ a) ^ b) ^ c). */
static uint64_t draw(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	return mix(mix(mix(seed ^ a) ^ b) ^ c);
}

static void content_first_touch(struct ref_host *r, const struct ref_vm *v, uint64_t gfn,
				struct ref_page *p)
{
	const struct vmem_host_config *c = &r->cfg;
	uint64_t x = draw(c->seed, 0xc0de, v->id, gfn) % 1000;
	uint64_t group = c->content_image_vms ? v->id / c->content_image_vms : v->id;

	if (p->recorded)
		return;
	if (x < c->content_zero) {
		p->hash = 0;
		p->zero = true;
		p->cls = 0;
	} else if (x < (uint64_t)c->content_zero + c->content_image) {
		p->hash = draw(c->seed, 0x1a6e, group, gfn) | 1;
		p->zero = false;
		p->cls = 7;
	} else {
		p->hash = draw(c->seed, 0x0a1e, v->id, gfn) | 1;
		p->zero = false;
		p->cls = c->content_class;
	}
}

static void content_written(struct ref_host *r, const struct ref_vm *v, uint64_t gfn,
			    struct ref_page *p)
{
	if (p->recorded)
		return;
	r->writes_seen++;
	p->hash = draw(r->cfg.seed, r->writes_seen, v->id, gfn) | 1;
	p->zero = false;
	p->cls = r->cfg.content_class;
}

/* ---- setup ---- */

struct ref_host *ref_host_new(const struct vmem_host_config *cfg, enum ref_swap_rule rule)
{
	struct ref_host *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cfg = *cfg;
	r->rule = rule;
	r->nframes = cfg->mem / 4096;
	/* Watermarks: per mille of the frames, rounded down (host.h). */
	r->wmin = r->nframes * cfg->wmark_min / 1000;
	r->wlow = r->nframes * cfg->wmark_low / 1000;
	r->whigh = r->nframes * cfg->wmark_high / 1000;
	/* The tier: at most zswap.percent of the frames, rounded down (docs/HOST.md). */
	r->tier_max_frames = r->nframes * cfg->zswap_percent / 100;
	r->nslots = cfg->swap_size / 4096;
	r->frames = calloc(r->nframes, sizeof(*r->frames));
	r->slot_used = calloc(r->nslots ? r->nslots : 1, sizeof(*r->slot_used));
	if (!r->frames || !r->slot_used) {
		ref_host_free(r);
		return NULL;
	}
	return r;
}

void ref_host_free(struct ref_host *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < REF_MAX_VMS; i++)
		free(r->vms[i].pages);
	free(r->frames);
	free(r->slot_used);
	free(r);
}

static struct ref_vm *vm_find(const struct ref_host *r, uint16_t vm)
{
	for (unsigned i = 0; i < REF_MAX_VMS; i++)
		if (r->vms[i].present && r->vms[i].id == vm)
			return (struct ref_vm *)&r->vms[i];
	return NULL;
}

int ref_host_add_vm(struct ref_host *r, uint16_t vm, uint64_t mem)
{
	for (unsigned i = 0; i < REF_MAX_VMS; i++) {
		struct ref_vm *v = &r->vms[i];

		if (v->present)
			continue;
		v->pages = calloc(mem / 4096, sizeof(*v->pages));
		if (!v->pages)
			return VMEM_ENOMEM;
		v->present = true;
		v->id = vm;
		v->npages = mem / 4096;
		v->st.pages = v->npages;
		return 0;
	}
	return VMEM_ELIMIT;
}

static struct ref_page *page_find(const struct ref_host *r, uint16_t vm, uint64_t gfn,
				  struct ref_vm **vout)
{
	struct ref_vm *v = vm_find(r, vm);

	if (!v || gfn >= v->npages)
		return NULL;
	*vout = v;
	return &v->pages[gfn];
}

/* ---- frames ---- */

static uint64_t frames_free(const struct ref_host *r)
{
	uint64_t n = 0;

	for (uint64_t f = 0; f < r->nframes; f++)
		n += r->frames[f].use == F_FREE;
	return n;
}

static void frame_give_back(struct ref_host *r, uint64_t f)
{
	r->frames[f].use = F_FREE;
	r->frames[f].freed_at = ++r->events;
}

static void reclaim(struct ref_host *r, uint64_t target);

/*
 * Takes a free frame. First, when free frames are at or below the min watermark and no
 * reclaim is running, direct reclaim up to min + 1 + reclaim_batch free frames (host.h,
 * docs/HOST.md). Then the frame: the one given back most recently among those given back
 * at least once; if no such frame is free, the lowest-numbered frame never used
 * (docs/HOST.md, "Frames, watermarks and reclaim").
 */
static int frame_take(struct ref_host *r, uint64_t *out)
{
	uint64_t best = UINT64_MAX;

	if (frames_free(r) <= r->wmin && !r->reclaiming) {
		r->reclaim_direct++;
		reclaim(r, r->wmin + 1 + r->cfg.reclaim_batch);
	}
	for (uint64_t f = 0; f < r->nframes; f++) {
		const struct ref_frame *fr = &r->frames[f];

		if (fr->use != F_FREE || !fr->ever_used)
			continue;
		if (best == UINT64_MAX || fr->freed_at > r->frames[best].freed_at)
			best = f;
	}
	if (best == UINT64_MAX)
		for (uint64_t f = 0; f < r->nframes && best == UINT64_MAX; f++)
			if (r->frames[f].use == F_FREE && !r->frames[f].ever_used)
				best = f;
	if (best == UINT64_MAX)
		return VMEM_ENOSPACE;
	r->frames[best].use = F_PRIVATE;   /* the caller says what for */
	r->frames[best].ever_used = true;
	*out = best;
	return 0;
}

/* ---- the compressed tier and the swap device (docs/HOST.md, swap_tier.c) ---- */

static uint64_t tier_bytes(const struct ref_host *r)
{
	uint64_t b = 0;

	for (unsigned i = 0; i < REF_MAX_VMS; i++)
		for (uint64_t g = 0; r->vms[i].present && g < r->vms[i].npages; g++)
			if (r->vms[i].pages[g].state == VMEM_PG_COMPRESSED)
				b += r->vms[i].pages[g].tier_bytes;
	return b;
}

static uint64_t tier_frames(const struct ref_host *r)
{
	uint64_t n = 0;

	for (uint64_t f = 0; f < r->nframes; f++)
		n += r->frames[f].use == F_TIER;
	return n;
}

/* Perfect packing: the tier holds exactly ceil(bytes / 4096) frames. It gives back the
 * frame it took last; it takes frames without reclaim (it grows only during reclaim). */
static void tier_shrink(struct ref_host *r)
{
	uint64_t need = (tier_bytes(r) + 4095) / 4096;

	while (tier_frames(r) > need) {
		uint64_t last = UINT64_MAX;

		for (uint64_t f = 0; f < r->nframes; f++)
			if (r->frames[f].use == F_TIER &&
			    (last == UINT64_MAX || r->frames[f].taken_at > r->frames[last].taken_at))
				last = f;
		frame_give_back(r, last);
	}
}

/* Whether the tier can hold `extra` more bytes, taking a frame if it must. */
static bool tier_make_room(struct ref_host *r, uint64_t extra)
{
	uint64_t need = (tier_bytes(r) + extra + 4095) / 4096;
	uint64_t f;

	while (tier_frames(r) < need) {
		if (tier_frames(r) >= r->tier_max_frames || frame_take(r, &f))
			return false;
		r->frames[f].use = F_TIER;
		r->frames[f].taken_at = ++r->events;
	}
	return true;
}

static uint64_t transfer_cycles(const struct ref_host *r)
{
	/* 4 KiB at swap.mb_s, in cycles, rounded down. */
	return 4096 * r->cfg.cpu_hz / ((uint64_t)r->cfg.swap_mb_s * 1000000);
}

/* The device queue: an I/O starts when the device is idle (or now) and keeps it busy for
 * one transfer. */
static void device_io(struct ref_host *r)
{
	if (r->device_busy < r->now)
		r->device_busy = r->now;
	r->device_busy += transfer_cycles(r);
}

/* Next-fit: the first free slot at or after the slot after the last one taken, wrapping
 * around at the end of the device. */
static bool slot_take(struct ref_host *r, uint64_t *slot)
{
	for (uint64_t n = 0; n < r->nslots; n++) {
		uint64_t s = (r->slot_next + n) % r->nslots;

		if (!r->slot_used[s]) {
			r->slot_used[s] = true;
			r->slot_next = s + 1;
			*slot = s;
			return true;
		}
	}
	return false;
}

/*
 * Evicts resident page p: to the compressed tier when it is on, the class is at most
 * zswap.max_class and the tier has room ((class + 1) * 256 bytes, host.cost.compress of
 * work); else to the swap device (a write on the queue). A page that tried the tier and
 * did not fit has still cost the compression. Then its frame is given back.
 */
static int evict(struct ref_host *r, struct ref_vm *v, struct ref_page *p)
{
	uint64_t frame = p->frame, slot;

	if (r->cfg.zswap_percent && p->cls <= r->cfg.zswap_max_class) {
		uint64_t bytes = (p->cls + 1) * 256;

		r->work += r->cfg.cost_compress;
		if (tier_make_room(r, bytes)) {
			p->state = VMEM_PG_COMPRESSED;
			p->tier_bytes = bytes;
			v->st.compress_out++;
			goto stored;
		}
	}
	if (!slot_take(r, &slot))
		return VMEM_ENOSPACE;
	p->state = VMEM_PG_SWAPPED;
	p->slot = slot;
	device_io(r);
	r->swap_writes++;
	v->st.swap_out++;
stored:
	if (p->guest_free)
		v->st.silent_swap_writes++;
	frame_give_back(r, frame);
	p->clean_swapin = false;
	v->st.reclaimed++;
	return 0;
}

/* ---- the swap rules and reclaim ---- */

/* Whether frame f is already in victims[0..n). */
static bool chosen(const uint64_t *victims, size_t n, uint64_t f)
{
	for (size_t i = 0; i < n; i++)
		if (victims[i] == f)
			return true;
	return false;
}

static size_t pick(const struct ref_host *r, uint64_t *victims, size_t want)
{
	size_t n = 0;

	while (n < want) {
		uint64_t best = UINT64_MAX, best_key = 0;

		for (uint64_t f = 0; f < r->nframes; f++) {
			const struct ref_frame *fr = &r->frames[f];
			uint64_t key;

			if (fr->use != F_PRIVATE || chosen(victims, n, f))
				continue;
			key = r->rule == REF_SWAP_LOWEST_FRAME ? f :
			      vm_find(r, fr->vm)->pages[fr->gfn].mapped_at;
			if (best == UINT64_MAX || key < best_key) {
				best = f;
				best_key = key;
			}
		}
		if (best == UINT64_MAX)
			break;
		victims[n++] = best;
	}
	return n;
}

/*
 * Reclaim to `target` free frames: passes of up to min(reclaim_batch, 64, target - free)
 * victims from the swap rule, evicted in the order given; it stops at the target or after
 * a pass that evicted nothing. Reclaim does not nest.
 */
static void reclaim(struct ref_host *r, uint64_t target)
{
	if (r->reclaiming)
		return;
	r->reclaiming = true;
	while (frames_free(r) < target) {
		uint64_t victims[REF_PASS_MAX];
		size_t want = target - frames_free(r), got, evicted = 0;

		if (want > REF_PASS_MAX)
			want = REF_PASS_MAX;
		if (want > r->cfg.reclaim_batch)
			want = r->cfg.reclaim_batch;
		got = pick(r, victims, want);
		for (size_t i = 0; i < got; i++) {
			const struct ref_frame *fr = &r->frames[victims[i]];
			struct ref_vm *v = vm_find(r, fr->vm);

			if (evict(r, v, &v->pages[fr->gfn]) == 0)
				evicted++;
		}
		if (evicted == 0)
			break;
	}
	r->reclaiming = false;
}

void ref_host_advance(struct ref_host *r, uint64_t cycles)
{
	r->now += cycles;
	/* The swap daemon: below low, reclaim to high; its work is the host's. */
	if (frames_free(r) < r->wlow) {
		uint64_t before = r->work;

		r->reclaim_daemon++;
		reclaim(r, r->whigh);
		r->cycles_daemon += r->work - before;
		r->work = before;
	}
}

/* ---- page transitions ---- */

static void become_resident(struct ref_host *r, struct ref_vm *v, uint64_t gfn,
			    struct ref_page *p, uint64_t frame)
{
	r->frames[frame].use = F_PRIVATE;
	r->frames[frame].vm = v->id;
	r->frames[frame].gfn = gfn;
	p->state = VMEM_PG_RESIDENT;
	p->frame = frame;
	p->mapped_at = ++r->events;
}

/* Drops p's reference to its shared frame; the last one gives the frame back. */
static void unshare(struct ref_host *r, struct ref_page *p)
{
	struct ref_frame *fr = &r->frames[p->frame];

	if (--fr->refs == 0)
		frame_give_back(r, p->frame);
}

int ref_host_fault(struct ref_host *r, uint16_t vm, uint64_t gfn, bool write,
		   struct vmem_host_fault_result *res)
{
	struct ref_vm *v;
	struct ref_page *p = page_find(r, vm, gfn, &v);
	enum vmem_page_state was;
	uint64_t frame = 0, cycles = 0;

	if (!p)
		return VMEM_ERANGE;
	was = p->state;
	v->st.faults++;
	r->work = 0;
	switch (was) {
	case VMEM_PG_RESIDENT:
		frame = p->frame;
		break;
	case VMEM_PG_SHARED:
	case VMEM_PG_ZERO:
		if (!write) {
			frame = was == VMEM_PG_ZERO ? REF_ZERO_FRAME : p->frame;
			break;
		}
		/* Copy-on-write: a new frame first, then the old reference goes. */
		if (frame_take(r, &frame))
			return VMEM_ENOSPACE;
		if (was == VMEM_PG_SHARED)
			unshare(r, p);
		become_resident(r, v, gfn, p, frame);
		v->st.faults_cow++;
		r->cow_breaks++;
		cycles += r->cfg.cost_cow;
		break;
	case VMEM_PG_SWAPPED:
	case VMEM_PG_COMPRESSED:
		if (frame_take(r, &frame))
			return VMEM_ENOSPACE;
		if (p->guest_free)
			v->st.false_swap_reads++;
		cycles += r->cfg.cost_fault;
		if (was == VMEM_PG_COMPRESSED) {
			p->state = VMEM_PG_UNTOUCHED;   /* out of the tier's count */
			tier_shrink(r);
			cycles += r->cfg.cost_decompress;
			v->st.faults_decompress++;
		} else {
			r->slot_used[p->slot] = false;
			device_io(r);
			cycles += r->device_busy - r->now +
				  (uint64_t)r->cfg.swap_latency_us * r->cfg.cpu_hz / 1000000;
			r->swap_reads++;
			v->st.faults_swapin++;
		}
		become_resident(r, v, gfn, p, frame);
		p->clean_swapin = true;
		break;
	case VMEM_PG_UNTOUCHED:
	case VMEM_PG_BALLOONED:
		if (was == VMEM_PG_BALLOONED)
			v->st.balloon_deflated++;
		if (frame_take(r, &frame))
			return VMEM_ENOSPACE;
		become_resident(r, v, gfn, p, frame);
		content_first_touch(r, v, gfn, p);
		v->st.faults_first++;
		cycles += r->cfg.cost_zero_fill;
		break;
	default:
		return VMEM_EINVAL;
	}
	if (write) {
		/* The write of the fault that swapped the page in leaves it clean (it may
		 * still be overwritten whole); any later write makes it dirty. */
		if (was != VMEM_PG_SWAPPED && was != VMEM_PG_COMPRESSED)
			p->clean_swapin = false;
		content_written(r, v, gfn, p);
	}
	p->guest_free = false;
	res->frame = frame;
	res->writable = p->state == VMEM_PG_RESIDENT;
	res->cycles = cycles + r->work;
	r->work = 0;
	v->st.cycles_stalled += res->cycles;
	return 0;
}

int ref_host_set_content(struct ref_host *r, uint16_t vm, uint64_t gfn, uint64_t hash,
			 bool zero, unsigned cls)
{
	struct ref_vm *v;
	struct ref_page *p = page_find(r, vm, gfn, &v);

	if (!p)
		return VMEM_ERANGE;
	if (cls > 15)
		return VMEM_EINVAL;
	if (p->clean_swapin) {
		v->st.stale_swap_reads++;
		p->clean_swapin = false;
	}
	p->hash = hash;
	p->zero = zero;
	p->cls = cls;
	p->recorded = true;
	return 0;
}

int ref_host_guest_free(struct ref_host *r, uint16_t vm, uint64_t gfn)
{
	struct ref_vm *v;
	struct ref_page *p = page_find(r, vm, gfn, &v);

	if (!p)
		return VMEM_ERANGE;
	p->guest_free = true;
	v->st.guest_freed++;
	return 0;
}

int ref_host_merge(struct ref_host *r, uint16_t vm, uint64_t gfn, uint64_t frame)
{
	struct ref_vm *v;
	struct ref_page *p = page_find(r, vm, gfn, &v);
	struct ref_frame *fr;

	if (!p || frame >= r->nframes || !r->frames[frame].ever_used)
		return VMEM_ENOENT;
	if (p->state != VMEM_PG_RESIDENT || p->frame == frame)
		return VMEM_EINVAL;
	fr = &r->frames[frame];
	if (fr->use == F_SHARED) {
		if (fr->hash != p->hash)
			return VMEM_EINVAL;
	} else if (fr->use == F_PRIVATE) {
		struct ref_page *owner = &vm_find(r, fr->vm)->pages[fr->gfn];

		if (owner->hash != p->hash)
			return VMEM_EINVAL;
		/* The owner becomes the first page of a shared frame. */
		owner->state = VMEM_PG_SHARED;
		fr->use = F_SHARED;
		fr->refs = 1;
		fr->hash = owner->hash;
	} else {
		return VMEM_EINVAL;
	}
	frame_give_back(r, p->frame);
	p->state = VMEM_PG_SHARED;
	p->frame = frame;
	fr->refs++;
	return 0;
}

int ref_host_merge_zero(struct ref_host *r, uint16_t vm, uint64_t gfn)
{
	struct ref_vm *v;
	struct ref_page *p = page_find(r, vm, gfn, &v);

	if (!p)
		return VMEM_ENOENT;
	if (p->state != VMEM_PG_RESIDENT || !p->zero)
		return VMEM_EINVAL;
	frame_give_back(r, p->frame);
	p->state = VMEM_PG_ZERO;
	return 0;
}

/* ---- what the test compares ---- */

int ref_host_page(const struct ref_host *r, uint16_t vm, uint64_t gfn,
		  struct vmem_host_page *out)
{
	struct ref_vm *v;
	const struct ref_page *p = page_find(r, vm, gfn, &v);

	if (!p)
		return VMEM_ENOENT;
	memset(out, 0, sizeof(*out));
	out->state = p->state;
	if (p->state == VMEM_PG_RESIDENT || p->state == VMEM_PG_SHARED)
		out->frame = p->frame;
	out->hash = p->hash;
	out->zero = p->zero;
	if (p->state == VMEM_PG_SHARED)
		out->refs = (uint32_t)r->frames[p->frame].refs;
	return 0;
}

int ref_host_vm_stats(const struct ref_host *r, uint16_t vm, struct vmem_host_vm_stats *out)
{
	const struct ref_vm *v = vm_find(r, vm);

	if (!v)
		return VMEM_ENOENT;
	*out = v->st;
	memset(out->state, 0, sizeof(out->state));
	for (uint64_t g = 0; g < v->npages; g++)
		out->state[v->pages[g].state]++;
	return 0;
}

void ref_host_stats(const struct ref_host *r, struct vmem_host_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->frames = r->nframes;
	for (uint64_t f = 0; f < r->nframes; f++) {
		switch (r->frames[f].use) {
		case F_FREE: out->frames_free++; break;
		case F_PRIVATE: out->frames_private++; break;
		case F_SHARED: out->frames_shared++; break;
		case F_TIER: out->frames_zswap++; break;
		}
	}
	out->zswap_bytes = tier_bytes(r);
	for (uint64_t s = 0; s < r->nslots; s++)
		out->swap_slots_used += r->slot_used[s];
	out->swap_slots = r->nslots;
	out->swap_reads = r->swap_reads;
	out->swap_writes = r->swap_writes;
	out->reclaim_direct = r->reclaim_direct;
	out->reclaim_daemon = r->reclaim_daemon;
	out->cycles_daemon = r->cycles_daemon;
	out->cow_breaks = r->cow_breaks;
	out->now = r->now;
	out->device_busy_until = r->device_busy;
}
