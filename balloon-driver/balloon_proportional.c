/*
 * Proportional share: host memory (less the free target) divided among the VMs in
 * proportion to their shares. A VM's entitlement is E_i = (host_frames - free_target) *
 * S_i / sum(S). When free memory is below the free target, the shortfall
 * R = free_target - free is reclaimed from the VMs above their entitlement, each in
 * proportion to its excess (resident_i - E_i), at most its excess; what remains (every
 * VM at or under its entitlement) is taken in proportion to shares. When free memory is
 * above the target, the surplus is given back to the balloons in proportion to shares.
 *
 * Free memory is host_frames - sum(resident_i): the frames the VMs do not use.
 * No parameters.
 */
#include <stdlib.h>

#include "host/policy_builtin.h"

static int proportional_init(struct vmem_policy *p, const struct vmem_policy_params *pp,
			     char *err, size_t errlen)
{
	static const char *const known[] = { NULL };

	p->priv = NULL;
	return vmem_policy_params_check(pp, "proportional", known, err, errlen);
}

/* a * b / c without overflow for the sizes here (pages < 2^40, shares < 2^32). */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	return c ? (uint64_t)((unsigned __int128)a * b / c) : 0;
}

static void proportional_targets(struct vmem_policy *p, const struct vmem_balloon_vm *vms,
				 size_t n, uint64_t host_frames, uint64_t free_target,
				 uint64_t *target)
{
	uint64_t used = 0, shares = 0, excess = 0, avail, nfree, need;

	(void)p;
	for (size_t i = 0; i < n; i++) {
		used += vms[i].resident;
		shares += vms[i].shares;
		target[i] = vms[i].balloon;
	}
	nfree = used < host_frames ? host_frames - used : 0;
	avail = free_target < host_frames ? host_frames - free_target : 0;
	if (nfree >= free_target) {
		uint64_t surplus = nfree - free_target;

		for (size_t i = 0; i < n; i++) {
			uint64_t give = muldiv(surplus, vms[i].shares, shares);

			target[i] -= give < vms[i].balloon ? give : vms[i].balloon;
		}
		return;
	}
	need = free_target - nfree;
	for (size_t i = 0; i < n; i++) {
		uint64_t e = muldiv(avail, vms[i].shares, shares);

		excess += vms[i].resident > e ? vms[i].resident - e : 0;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t e = muldiv(avail, vms[i].shares, shares);
		uint64_t x = vms[i].resident > e ? vms[i].resident - e : 0;
		uint64_t take;

		if (need <= excess) {
			/* Rounded up, so the takes add up to the need. */
			take = excess ? (uint64_t)(((unsigned __int128)need * x + excess - 1) /
						   excess) : 0;
			if (take > x)
				take = x;
		} else {
			take = x + muldiv(need - excess, vms[i].shares, shares);
			if (take > vms[i].resident)
				take = vms[i].resident;
		}
		target[i] = vms[i].balloon + take;
	}
}

const struct vmem_balloon_policy_ops balloon_policy_proportional = {
	.name = "proportional",
	.help = "host memory divided in proportion to shares: reclaim the shortfall below "
		"balloon.nfree from VMs over their share; no parameters",
	.init = proportional_init,
	.targets = proportional_targets,
};
