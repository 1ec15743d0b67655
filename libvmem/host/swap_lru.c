/*
 * Exact least-recently-used victims: the page whose last access lies furthest back
 * leaves first. The reference that the approximations (CLOCK, working-set sampling) are
 * measured against (Mattson, Gecsei, Slutz and Traiger, "Evaluation techniques for
 * storage hierarchies", IBM Systems Journal 9(2), 1970: LRU as a stack algorithm), and
 * no hardware provides it: it needs every access, so it uses the on_access hook, which
 * turns off the replay's fast path (each translated access costs a call). Use it to
 * compare, not to run long traces fast.
 *
 * Accesses are those the machine translates for the guest's loads, stores and fetches;
 * the references of page walks to guest page-table pages are not accesses in this sense,
 * so a page-table page ages from its mapping on (a walk that needs it after it left
 * faults it back in, and the mapping counts as its use).
 *
 * State: the candidate frames, most recently used first, in a frame list
 * (frame_list.h); on_map and on_access move the frame to the front, pick takes from the
 * back: O(1) each, 8 bytes per host frame.
 *
 * Parameters: none.
 */
#include "vmem/host_policy.h"

#include "frame_list.h"
#include "policy_builtin.h"

/* Candidates from the most recently used (first) to the least (last). */
static int lru_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		    size_t errlen)
{
	static const char *const known[] = { NULL };
	struct frame_list *l;
	int rc = vmem_policy_params_check(pp, "lru", known, err, errlen);

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

/* f becomes the most recently used. */
static void to_front(struct frame_list *l, uint32_t f)
{
	if (frame_list_has(l, f))
		frame_list_remove(l, f);
	frame_list_insert_before(l, f, frame_list_next(l, l->sentinel));
}

static void lru_on_map(struct vmem_policy *p, uint64_t frame)
{
	to_front(p->priv, (uint32_t)frame);
}

static void lru_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct frame_list *l = p->priv;

	if (frame_list_has(l, (uint32_t)frame))
		frame_list_remove(l, (uint32_t)frame);
}

static void lru_on_access(struct vmem_policy *p, uint64_t frame, bool write)
{
	struct frame_list *l = p->priv;
	uint32_t f = (uint32_t)frame;

	(void)write;
	/* Only candidates move: an access to a frame the policy was not given (the machine
	 * reports every translated access) changes nothing. */
	if (frame_list_has(l, f) && frame_list_next(l, l->sentinel) != f)
		to_front(l, f);
}

static size_t lru_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct frame_list *l = p->priv;
	uint32_t f = frame_list_prev(l, l->sentinel);
	size_t k = 0;

	/* The n least recently used, oldest first, left in place: the manager evicts them
	 * and unmaps each. */
	for (; k < n && f != l->sentinel; k++, f = frame_list_prev(l, f))
		out[k] = f;
	return k;
}

static void lru_fini(struct vmem_policy *p)
{
	frame_list_fini(p->priv);
	free(p->priv);
}

const struct vmem_swap_policy_ops swap_policy_lru = {
	.name = "lru",
	.help = "exact least recently used over every translated access (the reference; "
		"turns off the replay fast path); no parameters",
	.init = lru_init,
	.on_map = lru_on_map,
	.on_unmap = lru_on_unmap,
	.on_access = lru_on_access,
	.pick = lru_pick,
	.fini = lru_fini,
};
