/*
 * Default cycle costs. They are a model's assumptions, each with where it comes from;
 * docs/COST-MODEL.md has the full table (sources, what is an assumption and why, and how
 * the cycles of an access add up). Every one can be set with cost.<name>=N.
 *
 *   access 4       L1D load-to-use latency, Skylake client: Intel 64 and IA-32
 *                  Architectures Optimization Reference Manual, 2.2, table "Cache
 *                  Parameters of the Skylake Microarchitecture" (L1D 4, L2 12, L3 44).
 *   tlb_l1_hit 0   an L1 DTLB lookup runs alongside the (VIPT) L1D access.
 *   tlb_l2_hit 9   an L1 DTLB miss that hits the STLB. Intel does not document it: an
 *                  assumption between an L1D hit (4) and an L2 hit (12), see the docs.
 *   walk_start 0   fixed cost of starting a walk: an assumption, folded into ref_mem.
 *   ref_mem 20     one page-walk load. The walker's loads go through the data caches, so
 *                  this sits between an L2 hit (12) and an L3 hit (44) of the same table:
 *                  an assumption to set from measurements of the machine of interest.
 *   ref_pwc 0, ref_ntlb 0   a skipped reference costs nothing beyond the lookup, which
 *                  runs alongside the walk: an assumption.
 *   vm_exit 1200   VM exit plus VM entry with minimal handling. Landau et al. (SplitX,
 *                  WIOV 2011) measured ~2,000 cycles of direct cost per exit on Nehalem
 *                  under KVM; later cores are cheaper (Agesen et al., USENIX ATC 2012,
 *                  on hardware reducing transition costs). 1200 is an assumption for a
 *                  recent core, not a measurement.
 *   guest_fault 5000, host_fault 5000   an anonymous first touch (allocate, zero, map):
 *                  an assumption of a few microseconds; docs/COST-MODEL.md gives the
 *                  3.2-4.5 us measured on a (virtualized) test machine as an upper
 *                  bound.
 *   shadow_fill 600, pte_emulate 800, resync 3000   VMM work inside an exit: a software
 *                  walk of the guest table and a shadow update; decoding and emulating the
 *                  trapping store; re-reading 512 guest entries (~6 cycles each).
 *                  Assumptions of this model.
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
