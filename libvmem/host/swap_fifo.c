/*
 * First-in, first-out victims: the page that became a candidate (was mapped to a private
 * frame: first touch, swap-in, copy-on-write break) longest ago leaves first, whatever
 * happened to it since. The classic baseline of page replacement (Belady, "A study of
 * replacement algorithms for a virtual-storage computer", IBM Systems Journal 5(2), 1966),
 * and what CLOCK degenerates to when every accessed bit is set.
 *
 * State: the candidate frames in on_map order, oldest first, in a frame list
 * (frame_list.h: O(1) insert, remove and pick, 8 bytes per host frame).
 *
 * Parameters: none.
 */
#include "vmem/host_policy.h"

#include "frame_list.h"
#include "policy_builtin.h"

/* Candidates in the order they were mapped: the first is the oldest. */
static int fifo_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		     size_t errlen)
{
	static const char *const known[] = { NULL };
	struct frame_list *l;
	int rc = vmem_policy_params_check(pp, "fifo", known, err, errlen);

	if (rc)
		return rc;
	l = malloc(sizeof(*l));
	if (!l || frame_list_init(l, vmem_host_frames(p->host))) {
		free(l);
		return VMEM_ENOMEM;
	}
	p->priv = l;
	return 0;
}

static void fifo_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct frame_list *l = p->priv;

	/* The newest: at the end. */
	if (!frame_list_has(l, (uint32_t)frame))
		frame_list_insert_before(l, (uint32_t)frame, l->sentinel);
}

static void fifo_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct frame_list *l = p->priv;

	if (frame_list_has(l, (uint32_t)frame))
		frame_list_remove(l, (uint32_t)frame);
}

static size_t fifo_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct frame_list *l = p->priv;
	uint32_t f = frame_list_next(l, l->sentinel);
	size_t k = 0;

	/* The oldest n, left in place: the manager evicts them and unmaps each. */
	for (; k < n && f != l->sentinel; k++, f = frame_list_next(l, f))
		out[k] = f;
	return k;
}

static void fifo_fini(struct vmem_policy *p)
{
	frame_list_fini(p->priv);
	free(p->priv);
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
