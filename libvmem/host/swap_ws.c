/*
 * Working-set victims by WSClock (Carr and Hennessy, "WSCLOCK - a simple and effective
 * algorithm for virtual memory management", SOSP 1981): Denning's working set (the pages
 * referenced within the last tau; Denning, "The working set model for program behavior",
 * CACM 11(5), 1968) estimated with a clock over the accessed bits, as CLOCK is, plus a
 * last-use time per frame.
 *
 * The candidate frames form a circle with a hand. At the hand:
 *   - accessed bit set: the page was used since the hand last passed; its last-use time
 *     becomes now, the bit is cleared (vmem_host_frame_young with clear = true, the host
 *     table's A bit, cleared without a TLB flush as Linux does on x86; see swap_clock.c),
 *     and the hand moves on;
 *   - bit clear and now - last use > tau: the page has left the working set: victim;
 *   - otherwise the page is in the working set: the hand moves on.
 * The last-use time is thus when the hand found the page referenced (or when it was
 * mapped), not the instant of its last access: the sampling error is at most the time
 * between two passes of the hand.
 *
 * When a whole turn finds fewer old pages than asked for, every page is in some working
 * set and memory is short of them all. The textbook fallback (Tanenbaum, Modern
 * Operating Systems, section "The WSClock page replacement algorithm": claim any clean
 * page, else the one at the hand) becomes here a second turn that takes the pages
 * not referenced since the hand last passed them (CLOCK's answer), and, only if every
 * page was referenced, a third that takes the pages it meets. Work per pick: at most
 * three turns. (Dirty pages need no special case: the manager writes what leaves.)
 *
 * Time is the manager's simulated clock (vmem_host_now, cycles; host.cpu_hz of them per
 * second), kept per frame in 31-bit ticks of 1/16 ms, which wrap after about 37 hours of
 * simulated time (ages are differences, so only a page the hand has not passed for that
 * long is misjudged, as younger than it is).
 *
 * State, 8 bytes per host frame (two uint32 arrays indexed by frame, allocated with
 * calloc: only the parts for frames the host has used are ever touched):
 *   next   the circle, singly linked: the successor's index + 1, 0 for a frame not in
 *          it; index `frames` is a sentinel the hand steps over. The hand remembers the
 *          frame behind it, so a new frame goes in just behind the hand (the last one it
 *          reaches) in O(1).
 *   last   the last-use tick, and in its top bit "left": on_unmap only sets the bit
 *          (O(1) without a back link), and the hand unlinks the frame when it next
 *          passes. A frame mapped again before that takes its old place back, used now.
 *
 * Parameters: tau_ms, the working-set window in milliseconds of simulated time (default
 * 10; 1 .. 86400000). Choose it against the trace's length in simulated time: a window
 * longer than the run makes every page look in use, and the policy is then CLOCK.
 */
#include <stdlib.h>

#include "vmem/host_policy.h"

#include "policy_builtin.h"

#define TICKS_PER_MS 16
#define LEFT (1u << 31)              /* last[f]: unmapped, still in the circle */
#define TICKS (LEFT - 1)             /* last[f]: the tick */

struct ws_state {
	uint32_t *next;              /* successor + 1; 0: not in the circle */
	uint32_t *last;              /* LEFT | last-use tick */
	uint32_t sentinel;           /* = frames */
	uint32_t hand;               /* the frame the hand points at (or the sentinel) */
	uint32_t behind;             /* the one before it */
	uint64_t n;                  /* candidates */
	uint64_t linked;             /* frames in the circle: candidates and left ones */
	uint64_t cycles_per_tick;
	uint32_t tau;                /* ticks */
};

static uint32_t now_ticks(const struct ws_state *s, const struct vmem_host *h)
{
	return (uint32_t)(vmem_host_now(h) / s->cycles_per_tick) & TICKS;
}

static int ws_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		   size_t errlen)
{
	static const char *const known[] = { "tau_ms", NULL };
	uint64_t frames = vmem_host_frames(p->host), tau_ms;
	struct ws_state *s;
	int rc = vmem_policy_params_check(pp, "ws", known, err, errlen);

	if (!rc)
		rc = vmem_policy_param_u64(pp, "ws", "tau_ms", 10, 1, 86400000, &tau_ms, err,
					   errlen);
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->next = calloc(frames + 1, sizeof(*s->next))) ||
	    !(s->last = calloc(frames, sizeof(*s->last)))) {
		if (s)
			free(s->next);
		free(s);
		return VMEM_ENOMEM;
	}
	s->sentinel = s->hand = s->behind = (uint32_t)frames;
	s->next[s->sentinel] = s->sentinel + 1;
	s->tau = (uint32_t)(tau_ms * TICKS_PER_MS);
	s->cycles_per_tick = vmem_host_cycles_per_ms(p->host) / TICKS_PER_MS;
	if (s->cycles_per_tick == 0)
		s->cycles_per_tick = 1;
	p->priv = s;
	return 0;
}

static void ws_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct ws_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	if (s->next[f]) {
		/* Still in the circle: a candidate already, or one that left and comes back
		 * before the hand unlinked it. */
		if (s->last[f] & LEFT) {
			s->last[f] = now_ticks(s, p->host);
			s->n++;
		}
		return;
	}
	/* Just behind the hand (the last frame it reaches), used now. */
	s->next[f] = s->hand + 1;
	s->next[s->behind] = f + 1;
	s->behind = f;
	s->last[f] = now_ticks(s, p->host);
	s->n++;
	s->linked++;
}

static void ws_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct ws_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	if (!s->next[f] || (s->last[f] & LEFT))
		return;
	s->last[f] |= LEFT;
	s->n--;
}

static bool chosen(const uint64_t *out, size_t k, uint32_t f)
{
	for (size_t i = 0; i < k; i++)
		if (out[i] == f)
			return true;
	return false;
}

static size_t ws_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct ws_state *s = p->priv;
	uint32_t now = now_ticks(s, p->host);
	size_t k = 0;

	/* Turn 0: pages out of their working set (age > tau). Turn 1: pages not referenced
	 * since the hand last passed (age > 0: the first turn refreshed the referenced ones
	 * to now). Turn 2: any page. */
	for (unsigned turn = 0; turn < 3 && k < n && s->n; turn++) {
		uint64_t steps = 0, count = s->linked;

		while (k < n && steps < count) {
			uint32_t f = s->hand, age;

			if (f == s->sentinel) {
				s->behind = f;
				s->hand = s->next[f] - 1;
				continue;
			}
			steps++;
			if (s->last[f] & LEFT) {
				/* Left since the hand last passed: unlink it now. */
				s->hand = s->next[f] - 1;
				s->next[s->behind] = s->hand + 1;
				s->next[f] = 0;
				s->last[f] = 0;
				s->linked--;
				continue;
			}
			s->behind = f;
			s->hand = s->next[f] - 1;
			if (vmem_host_frame_young(p->host, f, true)) {
				s->last[f] = now;
				continue;
			}
			age = (now - s->last[f]) & TICKS;
			if ((turn == 0 && age <= s->tau) || (turn == 1 && age == 0))
				continue;
			if (!chosen(out, k, f))
				out[k++] = f;
		}
	}
	return k;
}

static void ws_fini(struct vmem_policy *p)
{
	struct ws_state *s = p->priv;

	free(s->next);
	free(s->last);
	free(s);
}

const struct vmem_swap_policy_ops swap_policy_ws = {
	.name = "ws",
	.help = "working set by WSClock: evicts pages not referenced within tau (accessed "
		"bits sampled by a clock); tau_ms=10",
	.init = ws_init,
	.on_map = ws_on_map,
	.on_unmap = ws_on_unmap,
	.pick = ws_pick,
	.fini = ws_fini,
};
