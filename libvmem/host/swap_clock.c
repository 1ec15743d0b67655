/*
 * CLOCK (second chance) over the host table's accessed bits. The candidate frames form a
 * circle with a hand; at the hand, a frame whose accessed bit is set gets a second
 * chance (the bit is cleared and the hand moves on), a frame whose bit is clear is the
 * victim. Corbató, "A paging experiment with the Multics system" (MIT Project MAC
 * MAC-M-384, 1968; in "In Honor of P. M. Morse", MIT Press, 1969), where the algorithm
 * appears as the Multics page-replacement policy.
 *
 * The bit is the one the hardware sets in the host table (EPT/NPT) entry when a walk
 * translates through it; vmem_host_frame_young(..., clear = true) reads and clears it, as
 * Linux's page_referenced() does through ptep_clear_flush_young(), which on x86 is
 * ptep_test_and_clear_young() without a TLB flush (arch/x86/mm/pgtable.c: "clearing the
 * accessed bit without a TLB flush doesn't cause data corruption"; it can only make a
 * page the TLB still caches look idle). The manager's young bit models exactly that: a
 * page that keeps hitting in the TLB after its bit was cleared stays "not young" until a
 * walk sets the bit again.
 *
 * A newly mapped frame enters the circle just behind the hand, so the hand reaches it
 * last. A pick of n victims moves the hand at most two turns: the first clears every bit
 * it meets, so the second finds victims; the work per pick is bounded by twice the
 * number of candidates. Chosen victims stay in the circle until the manager unmaps them
 * (on_unmap moves the hand past a frame that leaves under it); the hand never returns
 * the same frame twice in one pick.
 *
 * State: the circle as a frame list (frame_list.h) whose sentinel the hand steps over:
 * 8 bytes per host frame.
 *
 * Parameters: none.
 */
#include "vmem/host_policy.h"

#include "frame_list.h"
#include "policy_builtin.h"

struct clock_state {
	struct frame_list circle;    /* the candidates; the sentinel closes the circle */
	uint32_t hand;               /* the frame the hand points at (or the sentinel) */
	uint64_t n;                  /* candidates */
};

static int clock_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		      size_t errlen)
{
	static const char *const known[] = { NULL };
	struct clock_state *s;
	int rc = vmem_policy_params_check(pp, "clock", known, err, errlen);

	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s || frame_list_init(&s->circle, vmem_host_frames(p->host))) {
		free(s);
		return VMEM_ENOMEM;
	}
	s->hand = s->circle.sentinel;
	p->priv = s;
	return 0;
}

static void clock_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct clock_state *s = p->priv;

	if (frame_list_has(&s->circle, (uint32_t)frame))
		return;
	/* Just behind the hand: the last frame it reaches. */
	frame_list_insert_before(&s->circle, (uint32_t)frame, s->hand);
	s->n++;
}

static void clock_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct clock_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	if (!frame_list_has(&s->circle, f))
		return;
	if (s->hand == f)
		s->hand = frame_list_next(&s->circle, f);
	frame_list_remove(&s->circle, f);
	s->n--;
}

static bool chosen(const uint64_t *out, size_t k, uint32_t f)
{
	for (size_t i = 0; i < k; i++)
		if (out[i] == f)
			return true;
	return false;
}

static size_t clock_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct clock_state *s = p->priv;
	uint64_t steps = 0, budget = 2 * s->n;   /* two turns */
	size_t k = 0;

	while (k < n && steps < budget) {
		uint32_t f = s->hand;

		s->hand = frame_list_next(&s->circle, f);
		if (f == s->circle.sentinel)
			continue;
		steps++;
		/* Second chance: referenced since the hand last passed. (A chosen frame is
		 * never young again within a pick: nothing runs while the hand moves.) */
		if (vmem_host_frame_young(p->host, f, true))
			continue;
		if (!chosen(out, k, f))
			out[k++] = f;
	}
	return k;
}

static void clock_fini(struct vmem_policy *p)
{
	struct clock_state *s = p->priv;

	frame_list_fini(&s->circle);
	free(s);
}

const struct vmem_swap_policy_ops swap_policy_clock = {
	.name = "clock",
	.help = "CLOCK (second chance) over the host table's accessed bits; no parameters",
	.init = clock_init,
	.on_map = clock_on_map,
	.on_unmap = clock_on_unmap,
	.pick = clock_pick,
	.fini = clock_fini,
};
