/*
 * Default cycle costs. They are a model's assumptions, each with where it comes from;
 * every one can be set with cost.<name>=N (docs/COST-MODEL.md).
 *
 *   access 4       L1D load-to-use latency, Skylake client: Intel 64 and IA-32
 *                  Architectures Optimization Reference Manual, 2.2, table "Cache
 *                  Parameters of the Skylake Microarchitecture" (L1D 4, L2 12, L3 44).
 *   tlb_l1_hit 0   an L1 DTLB hit is hidden in the load latency.
 *   tlb_l2_hit 9   an L1 DTLB miss that hits the STLB: about 9 cycles, the figure
 *                  microbenchmarks report for Skylake (7-cpu.com); an assumption to
 *                  re-measure on the machine of interest.
 *   walk_start 0   fixed cost of starting a walk (none by default).
 *   ref_mem 20     one page-walk load. The walker's loads go through the data caches, so
 *                  this sits between an L2 hit (12) and an L3 hit (44) of the same table:
 *                  an assumption to set from measurements of the machine of interest.
 *   ref_pwc 0, ref_ntlb 0   a skipped reference costs nothing beyond the lookup, which
 *                  runs alongside the walk.
 *   vm_exit 1200   VM exit plus VM entry with minimal handling, of the order of a thousand
 *                  cycles on recent Intel cores (Agesen et al., "Software techniques for
 *                  avoiding hardware virtualization exits", USENIX ATC 2012).
 *   guest_fault 5000, host_fault 5000   a first touch of an anonymous 4 KiB page, measured
 *                  at 1.4-2.2 us on a 2-core x86-64 test machine, ~5000 cycles at 3 GHz
 *                  (page allocation and zeroing dominate).
 *   shadow_fill 600, pte_emulate 800, resync 3000   VMM work inside an exit: a software
 *                  walk of the guest table and a shadow update; decoding and emulating the
 *                  trapping store; re-reading 512 guest entries. Assumptions of this model.
 */
#include "vmem/cost.h"

void vmem_cost_default(struct vmem_cost *c)
{
	*c = (struct vmem_cost){
		.access = 4,
		.tlb_l1_hit = 0,
		.tlb_l2_hit = 9,
		.walk_start = 0,
		.ref_mem = 20,
		.ref_pwc = 0,
		.ref_ntlb = 0,
		.vm_exit = 1200,
		.guest_fault = 5000,
		.host_fault = 5000,
		.shadow_fill = 600,
		.pte_emulate = 800,
		.resync = 3000,
	};
}
