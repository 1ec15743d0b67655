/*
 * Page contents for traces that carry none (Lackey, ChampSim, .vmt without content
 * records): a seeded model of what a guest's memory holds, enough for dedup and
 * compression to have something to find.
 *
 * On first touch a page is, by a draw seeded from (host.seed, VM, page):
 *   - zero, with probability host.content.zero per mille: memory the guest allocated
 *     and has not written (Linux hands out zeroed pages);
 *   - its boot image's page, with probability host.content.image per mille: VMs whose ids
 *     fall in one group of host.content.image_vms share an image, and page gfn of every VM
 *     of a group starts with the same content (kernel text, libraries, page cache of one
 *     disk image, the pages ESX found most sharing in; Waldspurger, OSDI 2002);
 *   - otherwise unique.
 * The draw depends on the page, not on the order of touches, so two VMs of one group
 * agree on which pages are image pages. A write the host sees (a write fault, or the dirty
 * bit of the host table found set) makes the content unique and no longer zero, with
 * compressibility class host.content.class; a content record from the trace overrides
 * all of this for its page.
 *
 * The draws exactly (docs/HOST.md, "Page contents"): draw(s, a, b, c) = mix(mix(mix(s ^ a)
 * ^ b) ^ c) with mix the splitmix64 finaliser; first touch r = draw(seed, 0xc0de, vm, gfn)
 * % 1000 picks zero, image (hash draw(seed, 0x1a6e, group, gfn) | 1, class 7) or unique
 * (draw(seed, 0x0a1e, vm, gfn) | 1); the n-th write seen anywhere on the host gives
 * draw(seed, n, vm, gfn) | 1.
 */
#include "host_internal.h"

#include "base/rng.h"

/* A 64-bit draw from (seed, a, b, c), independent of any sequence. */
static uint64_t draw(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	return rng_mix64(rng_mix64(rng_mix64(seed ^ a) ^ b) ^ c);
}

void content_first_touch(struct vmem_host *h, struct hvm *v, uint64_t gfn, struct gpage *pg)
{
	const struct vmem_host_config *c = &h->cfg;
	uint64_t r = draw(c->seed, 0xc0de, v->id, gfn) % 1000;
	unsigned group = c->content_image_vms ? v->id / c->content_image_vms : v->id;

	if (pg->flags & PG_CONTENT_SET)
		return;
	if (r < c->content_zero) {
		pg->hash = 0;
		pg->flags |= PG_ZERO;
		pg->cls = 0;
	} else if (r < (uint64_t)c->content_zero + c->content_image) {
		pg->hash = draw(c->seed, 0x1a6e, group, gfn) | 1;
		pg->flags &= (uint8_t)~PG_ZERO;
		/* Images hold code and data that compress about as well as zram's
		 * benchmark data: class 7 (<= 2 KiB), a ratio near 2 (LZ4's ratio of about
		 * 2.1 in the zram commit log). */
		pg->cls = 7;
	} else {
		pg->hash = draw(c->seed, 0x0a1e, v->id, gfn) | 1;
		pg->flags &= (uint8_t)~PG_ZERO;
		pg->cls = (uint8_t)c->content_class;
	}
}

void content_written(struct vmem_host *h, struct hvm *v, uint64_t gfn, struct gpage *pg)
{
	if (pg->flags & PG_CONTENT_SET)
		return;
	pg->hash = draw(h->cfg.seed, ++h->content_seq, v->id, gfn) | 1;
	pg->flags &= (uint8_t)~PG_ZERO;
	pg->cls = (uint8_t)h->cfg.content_class;
}
