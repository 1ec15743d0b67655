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
 * State: a doubly linked list of the candidate frames, most recently used at the head,
 * as two uint32 arrays indexed by frame (a link holds the neighbour's index + 1, 0 means
 * "not a candidate"; index `frames` is the sentinel). on_map and on_access move the frame
 * to the head, pick takes from the tail: O(1) each. 8 bytes per host frame, allocated
 * with calloc: only the parts for frames the host has used are ever touched.
 *
 * Parameters: none.
 */
#include <stdlib.h>

#include "vmem/host_policy.h"

#include "policy_builtin.h"

struct lru_state {
	uint32_t *next, *prev;       /* neighbour + 1; 0: not in the list */
	uint32_t sentinel;           /* = frames: next is the most recent, prev the least */
};

static int lru_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		    size_t errlen)
{
	static const char *const known[] = { NULL };
	uint64_t frames = vmem_host_frames(p->host);
	struct lru_state *s;
	int rc = vmem_policy_params_check(pp, "lru", known, err, errlen);

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

static void unlink_frame(struct lru_state *s, uint32_t f)
{
	s->next[s->prev[f] - 1] = s->next[f];
	s->prev[s->next[f] - 1] = s->prev[f];
}

static void push_head(struct lru_state *s, uint32_t f)
{
	uint32_t first = s->next[s->sentinel] - 1;

	s->next[f] = first + 1;
	s->prev[f] = s->sentinel + 1;
	s->prev[first] = f + 1;
	s->next[s->sentinel] = f + 1;
}

static void lru_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct lru_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	if (s->next[f])
		unlink_frame(s, f);
	push_head(s, f);
}

static void lru_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct lru_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	if (!s->next[f])
		return;
	unlink_frame(s, f);
	s->next[f] = s->prev[f] = 0;
}

static void lru_on_access(struct vmem_policy *p, uint64_t frame, bool write)
{
	struct lru_state *s = p->priv;
	uint32_t f = (uint32_t)frame;

	(void)write;
	/* Only candidates move: an access to a frame the policy was not given (the machine
	 * reports every translated access) changes nothing. */
	if (!s->next[f] || s->next[s->sentinel] == f + 1)
		return;
	unlink_frame(s, f);
	push_head(s, f);
}

static size_t lru_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct lru_state *s = p->priv;
	uint32_t f = s->prev[s->sentinel] - 1;
	size_t k = 0;

	/* The n least recently used, oldest first, left in place: the manager evicts them
	 * and unmaps each. */
	for (; k < n && f != s->sentinel; k++, f = s->prev[f] - 1)
		out[k] = f;
	return k;
}

static void lru_fini(struct vmem_policy *p)
{
	struct lru_state *s = p->priv;

	free(s->next);
	free(s->prev);
	free(s);
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
