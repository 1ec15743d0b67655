/*
 * Static balloon targets: every VM's balloon holds a fixed number of pages, or a fixed
 * percentage of the VM's pages, whatever the host's state (as an administrator sets a
 * balloon size by hand with virsh setmem or QEMU's balloon command).
 *
 * Parameters: pages=N (a count, k/m/g suffixes), or percent=P (0..100, default 0). The
 * target is capped at the VM's pages.
 */
#include <stdio.h>
#include <stdlib.h>

#include "host/policy_builtin.h"

struct static_state {
	uint64_t pages;
	uint64_t percent;
	bool by_pages;
};

static int static_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		       size_t errlen)
{
	static const char *const known[] = { "pages", "percent", NULL };
	struct static_state *s;
	int rc = vmem_policy_params_check(pp, "static", known, err, errlen);

	if (rc)
		return rc;
	if (vmem_policy_param(pp, "pages") && vmem_policy_param(pp, "percent")) {
		snprintf(err, errlen, "balloon policy static: give pages or percent, not both");
		return VMEM_EINVAL;
	}
	if (!(s = calloc(1, sizeof(*s))))
		return VMEM_ENOMEM;
	s->by_pages = vmem_policy_param(pp, "pages") != NULL;
	if ((rc = vmem_policy_param_u64(pp, "static", "pages", 0, 0, UINT64_MAX, &s->pages, err,
					errlen)) ||
	    (rc = vmem_policy_param_u64(pp, "static", "percent", 0, 0, 100, &s->percent, err,
					errlen))) {
		free(s);
		return rc;
	}
	p->priv = s;
	return 0;
}

static void static_targets(struct vmem_policy *p, const struct vmem_balloon_vm *vms, size_t n,
			   uint64_t host_frames, uint64_t free_target, uint64_t *target)
{
	const struct static_state *s = p->priv;

	(void)host_frames;
	(void)free_target;
	for (size_t i = 0; i < n; i++) {
		uint64_t t = s->by_pages ? s->pages :
			     vms[i].pages / 100 * s->percent + vms[i].pages % 100 * s->percent / 100;

		target[i] = t < vms[i].pages ? t : vms[i].pages;
	}
}

static void static_fini(struct vmem_policy *p)
{
	free(p->priv);
}

const struct vmem_balloon_policy_ops balloon_policy_static = {
	.name = "static",
	.help = "a fixed balloon per VM: pages=N or percent=P of its pages (default 0)",
	.init = static_init,
	.targets = static_targets,
	.fini = static_fini,
};
