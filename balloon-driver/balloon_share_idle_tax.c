/*
 * Share-based allocation with an idle memory tax, as VMware ESX allocates memory
 * (Waldspurger, "Memory Resource Management in VMware ESX Server", OSDI 2002, section 5).
 *
 * A VM's shares-per-page ratio, with its idle pages taxed, is
 *
 *     rho = S / (P * (f + k * (1 - f))),   k = 1 / (1 - tau)
 *
 * with S its shares, P the host pages it is allocated, f the fraction of them in active
 * use (the controller's sampled estimate) and tau the tax rate (0: plain proportional
 * share; 0.75, ESX's default, makes an idle page cost as much as four active ones). When
 * free memory falls below the free target, the shortfall is reclaimed page by page from
 * the VM with the lowest rho (the one that pays least per page it holds); each page taken
 * lowers its P and raises its rho. When free memory is above the target, the surplus goes
 * back to the balloons of the VMs with the highest rho first (P being the pages a VM may
 * use, its configured pages less its balloon).
 *
 * Free memory is host_frames - sum(resident_i). For speed the pages move in chunks of
 * max(1, shortfall / 1024).
 *
 * Parameter: tax=TAU (0 .. 0.99, default 0.75).
 */
#include <math.h>
#include <stdlib.h>

#include "host/policy_builtin.h"

struct sit_state {
	double tax;
};

static int sit_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		    size_t errlen)
{
	static const char *const known[] = { "tax", NULL };
	struct sit_state *s;
	double tax;
	int rc = vmem_policy_params_check(pp, "share-idle-tax", known, err, errlen);

	if (rc || (rc = vmem_policy_param_double(pp, "share-idle-tax", "tax", 0.75, 0, 0.99,
						 &tax, err, errlen)))
		return rc;
	if (!(s = calloc(1, sizeof(*s))))
		return VMEM_ENOMEM;
	s->tax = tax;
	p->priv = s;
	return 0;
}

static double rho(const struct vmem_balloon_vm *v, uint64_t pages, double k)
{
	double f = v->active < 0 ? 0 : v->active > 1 ? 1 : v->active;

	if (pages == 0)
		return INFINITY;
	return v->shares / ((double)pages * (f + k * (1 - f)));
}

static void sit_targets(struct vmem_policy *p, const struct vmem_balloon_vm *vms, size_t n,
			uint64_t host_frames, uint64_t free_target, uint64_t *target)
{
	const struct sit_state *s = p->priv;
	double k = 1 / (1 - s->tax);
	uint64_t used = 0, nfree, amount, chunk;
	uint64_t *alloc = malloc((n ? n : 1) * sizeof(*alloc));

	for (size_t i = 0; i < n; i++) {
		used += vms[i].resident;
		target[i] = vms[i].balloon;
	}
	if (!alloc)
		return;
	nfree = used < host_frames ? host_frames - used : 0;
	if (nfree < free_target) {
		/* Reclaim from the lowest rho. */
		amount = free_target - nfree;
		chunk = amount / 1024 ? amount / 1024 : 1;
		for (size_t i = 0; i < n; i++)
			alloc[i] = vms[i].resident;
		while (amount > 0) {
			size_t best = n;
			double br = INFINITY;

			for (size_t i = 0; i < n; i++) {
				double r = rho(&vms[i], alloc[i], k);

				if (alloc[i] > 0 && (best == n || r < br)) {
					best = i;
					br = r;
				}
			}
			if (best == n)
				break;
			uint64_t t = chunk < amount ? chunk : amount;

			if (t > alloc[best])
				t = alloc[best];
			alloc[best] -= t;
			target[best] += t;
			amount -= t;
		}
	} else if (nfree > free_target) {
		/* Give back to the highest rho. */
		amount = nfree - free_target;
		chunk = amount / 1024 ? amount / 1024 : 1;
		for (size_t i = 0; i < n; i++)
			alloc[i] = vms[i].pages - (vms[i].balloon < vms[i].pages ? vms[i].balloon :
						   vms[i].pages);
		while (amount > 0) {
			size_t best = n;
			double br = -1;

			for (size_t i = 0; i < n; i++) {
				double r = rho(&vms[i], alloc[i], k);

				if (target[i] > 0 && (best == n || r > br)) {
					best = i;
					br = r;
				}
			}
			if (best == n)
				break;
			uint64_t t = chunk < amount ? chunk : amount;

			if (t > target[best])
				t = target[best];
			alloc[best] += t;
			target[best] -= t;
			amount -= t;
		}
	}
	free(alloc);
}

static void sit_fini(struct vmem_policy *p)
{
	free(p->priv);
}

const struct vmem_balloon_policy_ops balloon_policy_share_idle_tax = {
	.name = "share-idle-tax",
	.help = "ESX share-based allocation with an idle memory tax: reclaim from the VM "
		"with the lowest shares per (taxed) page; tax=0.75",
	.init = sit_init,
	.targets = sit_targets,
	.fini = sit_fini,
};
