/*
 * Random victims, as VMware ESX chooses the pages it swaps (Waldspurger, OSDI 2002,
 * section 3: "the ESX Server swap daemon ... randomly selects pages"). The simplest policy
 * and the template for new ones: a set of candidate frames with O(1) insert, remove and
 * uniform choice (an array and each frame's position in it). 8 bytes per host frame.
 */
#include <stdlib.h>

#include "vmem/host_policy.h"

#include "policy_builtin.h"

struct random_state {
	uint32_t *cand;              /* candidate frames, in no order */
	uint32_t *pos;               /* frame -> index in cand + 1 (0: not a candidate) */
	uint64_t n;
};

static int random_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		       size_t errlen)
{
	static const char *const known[] = { NULL };
	uint64_t frames = vmem_host_frames(p->host);
	struct random_state *s;
	int rc = vmem_policy_params_check(pp, "random", known, err, errlen);

	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->cand = calloc(frames, sizeof(*s->cand))) ||
	    !(s->pos = calloc(frames, sizeof(*s->pos)))) {
		if (s)
			free(s->cand);
		free(s);
		return VMEM_ENOMEM;
	}
	p->priv = s;
	return 0;
}

static void random_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct random_state *s = p->priv;

	if (s->pos[frame])
		return;
	s->cand[s->n] = (uint32_t)frame;
	s->pos[frame] = (uint32_t)++s->n;
}

static void random_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct random_state *s = p->priv;
	uint32_t i = s->pos[frame];

	if (!i)
		return;
	/* The last candidate takes the leaving one's place. */
	s->cand[i - 1] = s->cand[--s->n];
	s->pos[s->cand[i - 1]] = i;
	s->pos[frame] = 0;
}

static size_t random_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct random_state *s = p->priv;
	size_t k;

	/* Distinct victims: each chosen one moves to the tail, out of the next draws. */
	for (k = 0; k < n && k < s->n; k++) {
		uint64_t tail = s->n - 1 - k;
		uint64_t j = vmem_host_random(p->host) % (tail + 1);
		uint32_t f = s->cand[j];

		s->cand[j] = s->cand[tail];
		s->pos[s->cand[j]] = (uint32_t)j + 1;
		s->cand[tail] = f;
		s->pos[f] = (uint32_t)tail + 1;
		out[k] = f;
	}
	return k;
}

static void random_fini(struct vmem_policy *p)
{
	struct random_state *s = p->priv;

	free(s->cand);
	free(s->pos);
	free(s);
}

const struct vmem_swap_policy_ops swap_policy_random = {
	.name = "random",
	.help = "uniformly random victims among private resident pages (ESX); no parameters",
	.init = random_init,
	.on_map = random_on_map,
	.on_unmap = random_on_unmap,
	.pick = random_pick,
	.fini = random_fini,
};
