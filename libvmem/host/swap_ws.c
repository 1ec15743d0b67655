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
 * second), kept per frame in uint32 ticks of 1/16 ms, which wrap after about 74 hours of
 * simulated time (ages are differences, so only a page the hand has not passed for that
 * long is misjudged, as younger than it is).
 *
 * State: the circle as a doubly linked list over two uint32 arrays indexed by frame (a
 * link holds the neighbour's index + 1, 0 means "not a candidate"; index `frames` is a
 * sentinel the hand steps over) and a uint32 last-use tick per frame. 12 bytes per host
 * frame, allocated with calloc: only the parts for frames the host has used are ever
 * touched.
 *
 * Parameters: tau_ms, the working-set window in milliseconds of simulated time (default
 * 10; 1 .. 86400000). Choose it against the trace's length in simulated time: a window
 * longer than the run makes every page look in use, and the policy is then CLOCK.
 */
#include <stdlib.h>

#include "vmem/host_policy.h"

#include "policy_builtin.h"

#define TICKS_PER_MS 16

struct ws_state {
	uint32_t *next, *prev;       /* neighbour + 1; 0: not in the circle */
	uint32_t *last;              /* last-use time, ticks */
	uint32_t sentinel;           /* = frames */
	uint32_t hand;               /* the frame the hand points at (or the sentinel) */
	uint64_t n;                  /* candidates */
	uint64_t cycles_per_tick;
	uint32_t tau;                /* ticks */
};

static uint32_t now_ticks(const struct ws_state *s, const struct vmem_host *h)
{
	return (uint32_t)(vmem_host_now(h) / s->cycles_per_tick);
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
	    !(s->prev = calloc(frames + 1, sizeof(*s->prev))) ||
	    !(s->last = calloc(frames, sizeof(*s->last)))) {
		if (s) {
			free(s->next);
			free(s->prev);
		}
		free(s);
		return VMEM_ENOMEM;
	}
	s->sentinel = s->hand = (uint32_t)frames;
	s->next[s->sentinel] = s->prev[s->sentinel] = s->sentinel + 1;
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
	uint32_t f = (uint32_t)frame, behind = s->prev[s->hand] - 1;

	if (s->next[f])
		return;
	/* Just behind the hand (the last frame it reaches), used now. */
	s->prev[f] = behind + 1;
	s->next[f] = s->hand + 1;
	s->next[behind] = f + 1;
	s->prev[s->hand] = f + 1;
	s->last[f] = now_ticks(s, p->host);
	s->n++;
}

static void ws_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct ws_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	if (!s->next[f])
		return;
	if (s->hand == f)
		s->hand = s->next[f] - 1;
	s->next[s->prev[f] - 1] = s->next[f];
	s->prev[s->next[f] - 1] = s->prev[f];
	s->next[f] = s->prev[f] = 0;
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
	for (unsigned turn = 0; turn < 3 && k < n; turn++) {
		uint64_t steps = 0, count = s->n;

		while (k < n && steps < count) {
			uint32_t f = s->hand, age;

			s->hand = s->next[f] - 1;
			if (f == s->sentinel)
				continue;
			steps++;
			if (vmem_host_frame_young(p->host, f, true)) {
				s->last[f] = now;
				continue;
			}
			age = now - s->last[f];
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
	free(s->prev);
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
