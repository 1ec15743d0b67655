/*
 * --dedup: same-page merging of the data region while the guest runs its passes, by
 * libvmem's own scanner (vmem/ram_dedup.h: xxh3 + memcmp, a merged page is a MAP_PRIVATE
 * mapping of a memfd store page, so a guest write is the kernel's copy-on-write) or by the
 * kernel's KSM (madvise(MADV_MERGEABLE), Documentation/admin-guide/mm/ksm.rst).
 *
 * Merging starts once every vCPU has filled and checked its slice (the pages then hold
 * their contents) and stops as soon as the guest has stopped; the kernel's figures of the
 * data region (/proc/self/smaps) are taken at both points. KVM sees the merged pages through
 * its MMU notifiers: a merge or a copy-on-write changes the host page behind a guest page,
 * and KVM drops its mapping of the old one (Documentation/virt/kvm/mmu.rst).
 *
 * Concurrency: vmm_dedup_begin and vmm_dedup_end run in main's thread; between them the
 * starter thread alone touches the state until it has started merging (joined in _end).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmem/common.h"
#include "vmem/ram_dedup.h"

#include "vmm.h"

struct vmm_dedup_run {
	struct vmm *m;
	pthread_t starter;
	bool starter_running;
	struct vmem_ram_dedup *scanner;     /* VMM_DEDUP_OWN */
	struct vmem_ksm *ksm;               /* VMM_DEDUP_KSM */
	bool merging;                       /* the starter started merging */
	uint64_t start_ns, end_ns;
	struct vmem_ram_smaps before, after;
	struct vmem_ram_dedup_stats stats;
	struct vmem_ksm_process_stat ksm_before, ksm_after;
	struct vmem_ksm_global_stat ksm_global;
	int error;                          /* a kernel call failed while merging */
	char why[256];
};

/* Waits for every vCPU to reach its passes (or to end), then starts merging. */
static void *starter_thread(void *arg)
{
	struct vmm_dedup_run *d = arg;
	struct vmm *m = d->m;
	struct timespec tick = { 0, 200000 };

	while (atomic_load(&m->vcpus_in_passes) < m->o.vcpus &&
	       atomic_load(&m->vcpus_done) < m->o.vcpus)
		nanosleep(&tick, NULL);
	if (atomic_load(&m->vcpus_done) == m->o.vcpus)
		return NULL;                /* the guest ended (or failed) before its passes */
	vmem_ram_smaps(m->data_hva, m->data_bytes, &d->before);
	d->start_ns = vmm_now_ns();
	if (d->scanner) {
		if (vmem_ram_dedup_start(d->scanner) < 0) {
			d->error = 1;
			snprintf(d->why, sizeof(d->why), "scanner: %s",
				 vmem_ram_dedup_error(d->scanner));
			return NULL;
		}
	} else {
		vmem_ksm_process_stat(&d->ksm_before);
		if (vmem_ksm_merge_range(m->data_hva, m->data_bytes, true) < 0) {
			d->error = 1;
			snprintf(d->why, sizeof(d->why), "madvise(MADV_MERGEABLE) on the data "
				 "region failed");
			return NULL;
		}
	}
	d->merging = true;
	return NULL;
}

int vmm_dedup_begin(struct vmm *m, char *err, size_t errlen)
{
	struct vmm_dedup_run *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->m = m;
	m->dedup = d;
	if (m->o.dedup == VMM_DEDUP_OWN) {
		struct vmem_ram_dedup_config c;
		char why[256];

		vmem_ram_dedup_config_default(&c);
		c.pages_to_scan = m->o.dedup_scan;
		c.sleep_millisecs = m->o.dedup_sleep_ms;
		if (vmem_ram_dedup_create(m->ram, 1, &c, &d->scanner, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "--dedup: %s", why);
			return -1;
		}
	} else {
		struct vmem_ksm_config c;
		char why[256];

		if (vmem_ksm_available(why, sizeof(why)) < 0) {
			snprintf(err, errlen, "--dedup ksm: %s", why);
			return -1;
		}
		vmem_ksm_config_default(&c);
		c.pages_to_scan = m->o.dedup_scan;
		c.sleep_millisecs = m->o.dedup_sleep_ms;
		/* Shared pages only: the guest writes no zero pages. */
		if (vmem_ksm_open(&c, &d->ksm, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "--dedup ksm: %s", why);
			return -1;
		}
	}
	if (pthread_create(&d->starter, NULL, starter_thread, d) != 0) {
		snprintf(err, errlen, "--dedup: cannot start a thread");
		return -1;
	}
	d->starter_running = true;
	return 0;
}

void vmm_dedup_end(struct vmm *m)
{
	struct vmm_dedup_run *d = m->dedup;

	if (!d)
		return;
	if (d->starter_running) {
		pthread_join(d->starter, NULL);
		d->starter_running = false;
	}
	d->end_ns = vmm_now_ns();
	if (d->scanner) {
		vmem_ram_dedup_stop(d->scanner);
		vmem_ram_dedup_stats(d->scanner, &d->stats);
	} else if (d->ksm) {
		/* KSM keeps merging until the range is unregistered: figures first. */
		vmem_ksm_process_stat(&d->ksm_after);
		vmem_ksm_global_stat(&d->ksm_global);
	}
	vmem_ram_smaps(m->data_hva, m->data_bytes, &d->after);
}

int vmm_dedup_print(struct vmm *m, FILE *f)
{
	struct vmm_dedup_run *d = m->dedup;

	if (!d)
		return 0;
	if (d->error)
		fprintf(stderr, "vmem-vmm: --dedup: %s\n", d->why);
	vmm_print_figure(f, "dedup.merging_while_running", d->merging);
	vmm_print_figure(f, "dedup.ms_while_running",
			 d->merging ? (d->end_ns - d->start_ns) / 1000000 : 0);
	if (d->scanner) {
		vmm_print_figure(f, "dedup.pages_scanned", d->stats.pages_scanned);
		vmm_print_figure(f, "dedup.full_scans", d->stats.full_scans);
		vmm_print_figure(f, "dedup.pages_shared", d->stats.pages_shared);
		vmm_print_figure(f, "dedup.pages_sharing", d->stats.pages_sharing);
		vmm_print_figure(f, "dedup.pages_merged", d->stats.pages_merged);
		vmm_print_figure(f, "dedup.cow_breaks", d->stats.cow_breaks);
		vmm_print_figure(f, "dedup.merge_races", d->stats.merge_races);
		vmm_print_figure(f, "dedup.vma_limit_hits", d->stats.vma_limit_hits);
		vmm_print_figure(f, "dedup.remaps", d->stats.remaps);
		vmm_print_figure(f, "dedup.store_pages", d->stats.store_pages);
		vmm_print_figure(f, "dedup.errors", d->stats.errors);
		vmm_print_figure(f, "dedup.cpu_us", d->stats.cpu_ns / 1000);
	} else {
		vmm_print_figure(f, "ksm.merging_pages_before", d->ksm_before.ksm_merging_pages);
		vmm_print_figure(f, "ksm.merging_pages", d->ksm_after.ksm_merging_pages);
		vmm_print_figure(f, "ksm.rmap_items", d->ksm_after.ksm_rmap_items);
		vmm_print_figure(f, "ksm.zero_pages", d->ksm_after.ksm_zero_pages);
		fprintf(f, "ksm.process_profit %" PRId64 "\n", d->ksm_after.ksm_process_profit);
		vmm_print_figure(f, "ksm.global.pages_shared", d->ksm_global.pages_shared);
		vmm_print_figure(f, "ksm.global.pages_sharing", d->ksm_global.pages_sharing);
		vmm_print_figure(f, "ksm.global.full_scans", d->ksm_global.full_scans);
	}
	vmm_print_figure(f, "smaps.before.vmas", d->before.vmas);
	vmm_print_figure(f, "smaps.before.rss_kb", d->before.rss_kb);
	vmm_print_figure(f, "smaps.before.pss_kb", d->before.pss_kb);
	vmm_print_figure(f, "smaps.before.anonymous_kb", d->before.anonymous_kb);
	vmm_print_figure(f, "smaps.after.vmas", d->after.vmas);
	vmm_print_figure(f, "smaps.after.rss_kb", d->after.rss_kb);
	vmm_print_figure(f, "smaps.after.pss_kb", d->after.pss_kb);
	vmm_print_figure(f, "smaps.after.anonymous_kb", d->after.anonymous_kb);
	return d->error ? -1 : 0;
}

/* Unmerges (the scanner gives every page its own again) and restores KSM's knobs. */
void vmm_dedup_destroy(struct vmm *m)
{
	struct vmm_dedup_run *d = m->dedup;

	if (!d)
		return;
	if (d->starter_running)
		pthread_join(d->starter, NULL);
	if (d->scanner && vmem_ram_dedup_destroy(d->scanner) < 0)
		fprintf(stderr, "vmem-vmm: --dedup: a merged page could not be unmerged\n");
	if (d->ksm) {
		vmem_ksm_merge_range(m->data_hva, m->data_bytes, false);
		if (vmem_ksm_close(d->ksm) < 0)
			fprintf(stderr, "vmem-vmm: --dedup ksm: a knob of /sys/kernel/mm/ksm could "
				"not be restored\n");
	}
	free(d);
	m->dedup = NULL;
}
