/*
 * Using libvmem as a library: build one machine per translation mode, touch a page, and
 * print what a cold TLB miss on it costs in memory references.
 *
 *   cc walk_cost.c $(pkg-config --cflags --libs libvmem) -o walk_cost
 */
#include <stdio.h>

#include <vmem/vmem.h>

int main(void)
{
	const uint64_t va = 0x7f0000001000;

	for (int mode = 0; mode < VMEM_MODES; mode++) {
		struct vmem_mmu_config cfg;
		struct vmem_mmu *m;
		struct vmem_walk w;
		uint64_t pa;

		vmem_mmu_config_default(&cfg);
		cfg.mode = (enum vmem_mode)mode;
		/* No walk caches: every reference of the walk goes to memory. */
		for (unsigned l = 2; l <= VMEM_MAX_LEVELS; l++)
			cfg.pwc.level[l].entries = cfg.host_pwc.level[l].entries = 0;
		cfg.ntlb.entries = 0;
		if (vmem_mmu_create(&cfg, &m))
			return 1;
		/* The first translation faults the page in; then empty the TLB and walk again. */
		if (vmem_mmu_translate(m, 0, 0, va, VMEM_ACC_LOAD, NULL, &pa))
			return 1;
		vmem_mmu_flush_caches(m);
		if (vmem_mmu_translate(m, 0, 0, va, VMEM_ACC_LOAD, &w, &pa))
			return 1;
		printf("%s: %u references, %#llx -> %#llx\n", vmem_mode_name(cfg.mode), w.nrefs,
		       (unsigned long long)va, (unsigned long long)pa);
		vmem_mmu_destroy(m);
	}
	return 0;
}
