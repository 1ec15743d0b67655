/*
 * First-in, first-out victims: the page that became a candidate (was mapped to a private
 * frame: first touch, swap-in, copy-on-write break) longest ago leaves first, whatever
 * happened to it since. The classic baseline of page replacement (Belady, "A study of
 * replacement algorithms for a virtual-storage computer", IBM Systems Journal 5(2), 1966),
 * and what CLOCK degenerates to when every accessed bit is set.
 *
 * State: a doubly linked list of the candidate frames in on_map order, oldest at the
 * head, as two uint32 arrays indexed by frame (O(1) insert, remove and pick). Each link
 * holds the neighbour's index + 1, so 0 means "not a candidate"; index `frames` is the
 * sentinel that closes the circle. 8 bytes per host frame, allocated with calloc: only
 * the parts for frames the host has used are ever touched.
 *
 * Parameters: none.
 */
#include <stdlib.h>

#include "vmem/host_policy.h"

#include "policy_builtin.h"

struct fifo_state {
	uint32_t *next, *prev;       /* neighbour + 1; 0: not in the list */
	uint32_t sentinel;           /* = frames: next is the oldest, prev the newest */
};

static int fifo_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		     size_t errlen)
{
	static const char *const known[] = { NULL };
	uint64_t frames = vmem_host_frames(p->host);
	struct fifo_state *s;
	int rc = vmem_policy_params_check(pp, "fifo", known, err, errlen);

	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->next = calloc(frames + 1, sizeof(*s->next))) ||
	    !(s->prev = calloc(frames + 1, sizeof(*s->prev)))) {
		if (s)
			free(s->next);
		free(s);
		return VMEM_ENOMEM;
	}
	s->sentinel = (uint32_t)frames;
	s->next[s->sentinel] = s->prev[s->sentinel] = s->sentinel + 1;
	p->priv = s;
	return 0;
}

static void fifo_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct fifo_state *s = p->priv;
	uint32_t f = (uint32_t)frame, last = s->prev[s->sentinel] - 1;

	if (s->next[f])
		return;
	/* The newest: between the last one and the sentinel. */
	s->prev[f] = last + 1;
	s->next[f] = s->sentinel + 1;
	s->next[last] = f + 1;
	s->prev[s->sentinel] = f + 1;
}

static void fifo_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct fifo_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	if (!s->next[f])
		return;
	s->next[s->prev[f] - 1] = s->next[f];
	s->prev[s->next[f] - 1] = s->prev[f];
	s->next[f] = s->prev[f] = 0;
}

static size_t fifo_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct fifo_state *s = p->priv;
	uint32_t f = s->next[s->sentinel] - 1;
	size_t k = 0;

	/* The oldest n, left in place: the manager evicts them and unmaps each. */
	for (; k < n && f != s->sentinel; k++, f = s->next[f] - 1)
		out[k] = f;
	return k;
}

static void fifo_fini(struct vmem_policy *p)
{
	struct fifo_state *s = p->priv;

	free(s->next);
	free(s->prev);
	free(s);
}

const struct vmem_swap_policy_ops swap_policy_fifo = {
	.name = "fifo",
	.help = "first in, first out: the page mapped longest ago leaves first; no parameters",
	.init = fifo_init,
	.on_map = fifo_on_map,
	.on_unmap = fifo_on_unmap,
	.pick = fifo_pick,
	.fini = fifo_fini,
};
