/*
 * Random victims, as VMware ESX chooses the pages it swaps (Waldspurger, OSDI 2002,
 * section 3: the hypervisor swaps pages it selects at random, a last resort that needs
 * no knowledge of the guest). The simplest policy, and the template for new ones.
 *
 * It keeps no state at all: a victim is a host frame drawn uniformly at random that backs
 * a private resident page (vmem_host_frame_owner says which do). Draws that hit a free,
 * shared or compressed-tier frame are retried a few times, then the frames are scanned
 * from a random start, so every candidate stays reachable however few are left. With most
 * frames private, as under memory pressure, a pick takes about one draw per victim.
 */
#include "vmem/host_policy.h"

#include "policy_builtin.h"

#define DRAWS 32

static int random_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		       size_t errlen)
{
	static const char *const known[] = { NULL };

	(void)p;
	return vmem_policy_params_check(pp, "random", known, err, errlen);
}

static bool candidate(struct vmem_policy *p, uint64_t f, const uint64_t *out, size_t k)
{
	uint16_t vm;
	uint64_t gfn;

	if (vmem_host_frame_owner(p->host, f, &vm, &gfn))
		return false;
	for (size_t i = 0; i < k; i++)
		if (out[i] == f)
			return false;   /* victims are distinct */
	return true;
}

static size_t random_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	uint64_t frames = vmem_host_frames(p->host);
	size_t k = 0;

	while (k < n) {
		uint64_t f = 0;
		bool found = false;

		for (unsigned d = 0; d < DRAWS && !found; d++) {
			f = vmem_host_random(p->host) % frames;
			found = candidate(p, f, out, k);
		}
		if (!found) {
			uint64_t start = vmem_host_random(p->host) % frames;

			for (uint64_t i = 0; i < frames && !found; i++) {
				f = (start + i) % frames;
				found = candidate(p, f, out, k);
			}
		}
		if (!found)
			break;   /* no private resident page left */
		out[k++] = f;
	}
	return k;
}

const struct vmem_swap_policy_ops swap_policy_random = {
	.name = "random",
	.help = "uniformly random victims among private resident pages (ESX); no parameters, "
		"no memory",
	.init = random_init,
	.pick = random_pick,
};
