/*
 * The host memory manager running the guest's data region (--manager CONFIG): instead of
 * the pager and the random evictor of --swap, a vmem_ram_manager (vmem/ram_manager.h)
 * keeps the books of the region with the same vmem_host and swap policy objects that
 * vmem-host runs on simulated frames, and its pager carries the decisions out on the real
 * pages: the guest's faults come in through userfaultfd, the policy's victims leave,
 * and host.mem bounds the pages of the region resident in real memory.
 *
 * With dedup=POLICY in CONFIG (ksm and its knobs) the manager's dedup policy merges
 * pages of the region too, carried out by the pager from its store memfd.
 *
 * A checker thread runs vmem_ram_manager_check every few milliseconds while the guest
 * runs (the books against mincore, page by page, under the manager's lock: a few
 * microseconds per hundred pages) and records the most pages ever resident; the VMM
 * checks once more after the guest stopped. A failed check fails the run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vmem/host.h"

#include "vmm.h"

/* The swap policy the configuration names (the manager's default if it names none). */
static void policy_name(const char *config, char *out, size_t len)
{
	struct vmem_host_config hc;
	char buf[1024], msg[256], *save = NULL, *w;

	vmem_host_config_default(&hc);
	snprintf(buf, sizeof(buf), "%s", config);
	for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(w, '=');

		if (!eq)
			continue;
		*eq = '\0';
		vmem_host_config_set(&hc, w, eq + 1, msg, sizeof(msg));
	}
	snprintf(out, len, "%s", hc.swap);
	/* It goes into the JSON as a string: nothing there may need escaping. */
	for (char *c = out; *c; c++)
		if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
			*c = '?';
}

int vmm_manager_create(struct vmm *m, char *err, size_t errlen)
{
	struct vmem_ram_manager_config c;
	struct vmem_host_stats hs;

	vmem_ram_manager_config_default(&c);
	c.host = m->o.manager;
	if (vmem_ram_manager_create(m->ram, 1, &c, &m->rm, err, errlen) < 0)
		return -1;
	m->pager = vmem_ram_manager_pager(m->rm);
	vmem_host_stats(vmem_ram_manager_host(m->rm), &hs);
	m->manager_budget_pages = hs.frames;
	policy_name(m->o.manager, m->manager_policy, sizeof(m->manager_policy));
	return 0;
}

/* One check; the first failure's message is kept. Any thread (the manager locks). */
static void check_once(struct vmm *m)
{
	struct vmem_ram_manager_stats st;
	char msg[256];

	if (vmem_ram_manager_check(m->rm, msg, sizeof(msg)) != 0) {
		if (atomic_fetch_add(&m->manager_check_failures, 1) == 0)
			snprintf(m->manager_check_error, sizeof(m->manager_check_error), "%s", msg);
	}
	vmem_ram_manager_stats(m->rm, &st);
	/* With dedup=POLICY mincore counts every merged page, though its store page is one
	 * page of memory for all its mappers: the region's memory is its own pages plus the
	 * store pages (a merged page written since the last scan is counted as merged). */
	st.resident = st.resident - st.pager.merged_now + st.pager.store_pages;
	if (st.resident > m->manager_max_resident)
		m->manager_max_resident = st.resident;
	m->manager_checks++;
}

void *vmm_manager_checker_thread(void *arg)
{
	struct vmm *m = arg;
	struct timespec period = { .tv_sec = 0, .tv_nsec = 5 * 1000 * 1000 };

	while (!atomic_load(&m->evictor_stop)) {
		struct timespec left = period;

		check_once(m);
		while (nanosleep(&left, &left) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

int vmm_manager_finish(struct vmm *m, struct vmem_ram_manager_stats *st)
{
	vmem_ram_manager_stop_thread(m->rm);
	check_once(m);
	vmem_ram_manager_stats(m->rm, st);
	m->pager = NULL;
	if (vmem_ram_manager_destroy(m->rm) < 0) {
		m->rm = NULL;
		return -1;
	}
	m->rm = NULL;
	return 0;
}
