/*
 * Closed-loop pressure, after Meta's TMO (Weiner et al., ASPLOS 2022): memory is taken
 * from each VM step by step for as long as the VM does not feel it, and given back as
 * soon as it does. TMO's Senpai reclaims while the PSI memory pressure of a container
 * stays under a target (0.1 %); here the signal of a VM over one controller period is
 *   refaults      faults on pages reclaimed from it (host swap-ins and decompressions,
 *                 guest swap-ins), and
 *   stall_cycles  cycles it waited on the host,
 * both from the controller (vmem_balloon_vm). Each period, per VM:
 *   - both at or under their targets: the balloon grows by `step` per mille of the VM's
 *     pages, until the VM keeps only `min` per mille of its pages;
 *   - either above: the balloon shrinks by `back` times that step.
 * The policy is proactive (it does not wait for the host to run short), as TMO is.
 *
 * Parameters:
 *   step=N       per mille of a VM's pages per period (default 10: 1 %)
 *   refaults=N   refaults per period that still count as no pressure (default 8)
 *   stall=N      stall cycles per period that still count as no pressure (default
 *                250000: 0.1 % of a 100 ms period at 2.5 GHz, TMO's PSI target)
 *   back=N       give-back steps per step taken (default 2)
 *   min=N        per mille of its pages a VM always keeps (default 100)
 */
#include <stdlib.h>

#include "host/policy_builtin.h"

struct pressure_state {
	uint64_t step, refaults, stall, back, min;
};

static int pressure_init(struct vmem_policy *p, const struct vmem_policy_params *pp,
			 char *err, size_t errlen)
{
	static const char *const known[] = { "step", "refaults", "stall", "back", "min", NULL };
	struct pressure_state s;
	int rc = vmem_policy_params_check(pp, "pressure", known, err, errlen);

	if (rc ||
	    (rc = vmem_policy_param_u64(pp, "pressure", "step", 10, 1, 1000, &s.step, err,
					errlen)) ||
	    (rc = vmem_policy_param_u64(pp, "pressure", "refaults", 8, 0, UINT64_MAX,
					&s.refaults, err, errlen)) ||
	    (rc = vmem_policy_param_u64(pp, "pressure", "stall", 250000, 0, UINT64_MAX,
					&s.stall, err, errlen)) ||
	    (rc = vmem_policy_param_u64(pp, "pressure", "back", 2, 0, 1000, &s.back, err,
					errlen)) ||
	    (rc = vmem_policy_param_u64(pp, "pressure", "min", 100, 0, 1000, &s.min, err,
					errlen)))
		return rc;
	if (!(p->priv = malloc(sizeof(s))))
		return VMEM_ENOMEM;
	*(struct pressure_state *)p->priv = s;
	return 0;
}

static uint64_t per_mille(uint64_t n, uint64_t pm)
{
	return n / 1000 * pm + n % 1000 * pm / 1000;
}

static void pressure_targets(struct vmem_policy *p, const struct vmem_balloon_vm *vms,
			     size_t n, uint64_t host_frames, uint64_t free_target,
			     uint64_t *target)
{
	const struct pressure_state *s = p->priv;

	(void)host_frames;
	(void)free_target;
	for (size_t i = 0; i < n; i++) {
		const struct vmem_balloon_vm *v = &vms[i];
		uint64_t step = per_mille(v->pages, s->step);
		uint64_t keep = per_mille(v->pages, s->min);
		uint64_t most = v->pages > keep ? v->pages - keep : 0;

		if (step == 0)
			step = 1;
		if (v->refaults <= s->refaults && v->stall_cycles <= s->stall) {
			uint64_t t = v->balloon + step;

			target[i] = t < most ? t : (v->balloon > most ? v->balloon : most);
		} else {
			uint64_t give = step * s->back;

			target[i] = v->balloon > give ? v->balloon - give : 0;
		}
	}
}

static void pressure_fini(struct vmem_policy *p)
{
	free(p->priv);
}

const struct vmem_balloon_policy_ops balloon_policy_pressure = {
	.name = "pressure",
	.help = "TMO-style closed loop: grow a VM's balloon while its refaults and stalls "
		"stay under target, shrink it when they rise; step=10 (per mille) refaults=8 "
		"stall=250000 back=2 min=100",
	.init = pressure_init,
	.targets = pressure_targets,
	.fini = pressure_fini,
};
