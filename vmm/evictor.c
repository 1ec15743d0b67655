/*
 * Hypervisor swapping while the guest runs (--swap): the pager (vmem/pager.h) owns the
 * data region, and this evictor takes pages away from the guest in rounds, a batch of
 * randomly chosen workload pages every interval, while the vCPUs run their passes. The
 * guest notices nothing but the time a fault takes: every page it checks must still hold
 * its pattern, which the pager brings back through userfaultfd.
 *
 * Random choice is deliberate here: it evicts pages in and out of the guest's working set
 * alike, so faults are many and their content must be right. Smarter victim choice is the
 * host memory manager's (docs/HOST.md).
 */
#include <errno.h>
#include <time.h>

#include "vmm.h"

uint64_t vmm_evict_slice(struct vmm *m, struct vmm_vcpu_ctx *c)
{
	const struct vmm_vcpu_block *b = c->block;
	uint64_t n = 0;

	for (uint64_t i = 0; i < b->pages; i++) {
		int rc = vmem_pager_evict(m->pager, b->first_page + i);

		if (rc == 0)
			n++;
		else if (rc != VMEM_ENOENT)
			__atomic_fetch_add(&m->evictor_errors, 1, __ATOMIC_RELAXED);
	}
	return n;
}

static void sleep_us(uint32_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void *vmm_evictor_thread(void *arg)
{
	struct vmm *m = arg;
	uint64_t x = 0x2545f4914f6cdd1dull;

	while (atomic_load(&m->vcpus_in_passes) < m->o.vcpus && !atomic_load(&m->evictor_stop))
		sleep_us(200);
	while (!atomic_load(&m->evictor_stop)) {
		for (uint32_t i = 0; i < m->o.swap_batch; i++) {
			int rc;

			x ^= x << 13;   /* xorshift64 (Marsaglia 2003) */
			x ^= x >> 7;
			x ^= x << 17;
			rc = vmem_pager_evict(m->pager, x % m->work_pages);
			if (rc == 0)
				__atomic_fetch_add(&m->evictor_evicted, 1, __ATOMIC_RELAXED);
			else if (rc != VMEM_ENOENT)
				__atomic_fetch_add(&m->evictor_errors, 1, __ATOMIC_RELAXED);
		}
		__atomic_fetch_add(&m->evictor_rounds, 1, __ATOMIC_RELAXED);
		sleep_us(m->o.swap_interval_us);
	}
	return NULL;
}
