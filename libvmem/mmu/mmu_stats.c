/*
 * Statistics of the translation machine by dotted name: the names printed in tables,
 * CSV headers and JSON keys, read one at a time with vmem_mmu_stat_get(), each with the
 * one-line description docs/STATS.md is generated from.
 */
#include <stddef.h>
#include <string.h>

#include "mmu_internal.h"

typedef double (*derive_fn)(const struct vmem_mmu_stats *s);

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static double tlb_miss_rate(const struct vmem_mmu_stats *s)
{
	return ratio(s->tlb_misses, s->translations);
}

static double refs_per_walk(const struct vmem_mmu_stats *s)
{
	return ratio(s->walk_refs, s->walks);
}

static double refs_per_completed_walk(const struct vmem_mmu_stats *s)
{
	return ratio(s->walk_refs_completed, s->walks_completed);
}

static double cycles_per_access(const struct vmem_mmu_stats *s)
{
	return ratio(s->cycles_total, s->accesses);
}

static double translation_share(const struct vmem_mmu_stats *s)
{
	return ratio(s->cycles_tlb + s->cycles_walk + s->cycles_exits, s->cycles_total);
}

/* One statistic: its name, where its value comes from, and a line for the glossary
 * (vmemsim --help-stats, docs/STATS.md). */
struct stat_def {
	const char *name;
	size_t off;          /* of a uint64_t in struct vmem_mmu_stats, unless derive is set */
	derive_fn derive;
	const char *help;
};

#define COUNT(n, f, h) { n, offsetof(struct vmem_mmu_stats, f), NULL, h }
#define EXITS(n, r, h) \
	{ n, offsetof(struct vmem_mmu_stats, exits) + (r) * sizeof(uint64_t), NULL, h }
#define DERIVED(n, fn, h) { n, 0, fn, h }

static const struct stat_def stats[] = {
	COUNT("records", records,
	  "trace records replayed (accesses and control records: context and VM "
	  "switches, INVLPG, unmap, protect)"),
	COUNT("accesses", accesses,
	  "access records (loads, stores, modifies, instruction fetches)"),
	COUNT("translations", translations,
	  "page translations looked up: one per access, two for an access that crosses "
	  "a page boundary"),
	COUNT("tlb.l1.hits", tlb_l1_hits,
	  "translations that hit in an L1 TLB (data or instruction, any page size)"),
	COUNT("tlb.l2.hits", tlb_l2_hits,
	  "translations that missed the L1 TLB and hit the second-level TLB (STLB)"),
	COUNT("tlb.misses", tlb_misses,
	  "translations that missed every TLB level and needed a page walk"),
	DERIVED("tlb.miss_rate", tlb_miss_rate,
	  "tlb.misses / translations"),
	COUNT("tlb.l1d.lookups", tlb_l1d_lookups,
	  "translations of data accesses that probed the L1 data TLB"),
	COUNT("tlb.l1d.misses", tlb_l1d_misses,
	  "of those, the ones that hit at no page size"),
	COUNT("tlb.l1i.lookups", tlb_l1i_lookups,
	  "translations of instruction fetches that probed the L1 instruction TLB"),
	COUNT("tlb.l1i.misses", tlb_l1i_misses,
	  "of those, the ones that hit at no page size"),
	COUNT("tlb.l2.lookups", tlb_l2_lookups,
	  "L1 TLB misses, which probe the STLB"),
	COUNT("tlb.l2.misses", tlb_l2_misses,
	  "of those, the ones that hit in neither STLB array (4K+2M, 1G)"),
	COUNT("pwc.lookups", pwc_lookups,
	  "paging-structure-cache lookups: one at the start of each guest, native or "
	  "shadow walk"),
	COUNT("pwc.hits", pwc_hits,
	  "of those, the ones a paging-structure cache answered (at any level), "
	  "skipping steps"),
	COUNT("host_pwc.lookups", host_pwc_lookups,
	  "host (EPT) walk-cache lookups: one at the start of each host walk"),
	COUNT("host_pwc.hits", host_pwc_hits,
	  "of those, the ones a host walk cache answered"),
	COUNT("ntlb.lookups", ntlb_lookups,
	  "nested-TLB lookups (guest-physical to host-physical, nested mode)"),
	COUNT("ntlb.hits", ntlb_hits,
	  "of those, the ones the nested TLB answered (a host walk saved)"),
	COUNT("walks", walks,
	  "page walks, faulting ones (retried after the fault is handled) included"),
	COUNT("walk.refs", walk_refs,
	  "memory references made by all walks (page-table entries read from memory)"),
	DERIVED("walk.refs_per_walk", refs_per_walk,
	  "walk.refs / walks"),
	COUNT("walk.completed", walks_completed,
	  "walks that ended in a translation rather than a fault"),
	COUNT("walk.refs_completed", walk_refs_completed,
	  "memory references made by those walks"),
	DERIVED("walk.refs_per_completed", refs_per_completed_walk,
	  "walk.refs_completed / walk.completed: the references of a TLB miss"),
	COUNT("walk.refs_pwc", walk_refs_pwc,
	  "walk references skipped thanks to a paging-structure cache hit (guest or "
	  "host)"),
	COUNT("walk.refs_ntlb", walk_refs_ntlb,
	  "host walk references skipped thanks to a nested-TLB hit"),
	COUNT("faults.guest", guest_faults,
	  "guest page faults (first touch of a page, protection) handled by the guest "
	  "OS model"),
	COUNT("faults.host", host_faults,
	  "host faults: first touches of a guest-physical page, which the host then "
	  "maps"),
	COUNT("exits.total", exits_total,
	  "VM exits of every cause (nested and shadow modes)"),
	EXITS("exits.hidden_fault", VMEM_EXIT_HIDDEN_FAULT,
	  "shadow mode: exits on a shadow entry missing while the guest maps the page "
	  "(the VMM fills it)"),
	EXITS("exits.guest_fault", VMEM_EXIT_GUEST_FAULT,
	  "shadow mode: shadow faults reflected to the guest as page faults"),
	EXITS("exits.pte_write", VMEM_EXIT_PTE_WRITE,
	  "shadow mode: guest writes to write-protected guest page-table pages"),
	EXITS("exits.cr3_load", VMEM_EXIT_CR3_LOAD,
	  "shadow mode: guest CR3 loads (address-space switches)"),
	EXITS("exits.invlpg", VMEM_EXIT_INVLPG,
	  "shadow mode: guest INVLPG instructions"),
	EXITS("exits.ept_violation", VMEM_EXIT_EPT_VIOLATION,
	  "host mapping missing on a guest-physical access (nested mode; in shadow mode"
	  " inside other exits)"),
	COUNT("shadow.fills", shadow_fills,
	  "shadow page-table entries filled by the VMM"),
	COUNT("shadow.zaps", shadow_zaps,
	  "shadow entries dropped because the guest wrote the guest entry they mirror"),
	COUNT("shadow.resyncs", shadow_resyncs,
	  "unsync shadow pages resynchronized with the guest's tables (INVLPG, CR3 "
	  "load)"),
	COUNT("shadow.root_hits", shadow_root_hits,
	  "CR3 loads whose shadow root was still cached (shadow.roots)"),
	COUNT("shadow.root_misses", shadow_root_misses,
	  "CR3 loads that had to build or look up a shadow root again"),
	COUNT("guest.pte_writes", guest_pte_writes,
	  "page-table entries the guest OS model wrote in its own tables"),
	COUNT("context_switches", context_switches,
	  "address-space switches (CR3 loads) from context-switch records"),
	COUNT("vm_switches", vm_switches,
	  "switches between VMs from VM-switch records"),
	COUNT("invlpgs", invlpgs,
	  "INVLPG records (single-page TLB invalidations by the guest)"),
	COUNT("unmaps", unmaps,
	  "pages unmapped by the guest's unmap records"),
	COUNT("protects", protects,
	  "pages re-protected by the guest's protect records"),
	COUNT("pages.guest_tables", guest_table_pages,
	  "guest page-table pages in use at the end, all VMs (a gauge, not a counter)"),
	COUNT("pages.host_tables", host_table_pages,
	  "host (EPT) page-table pages in use at the end (gauge)"),
	COUNT("pages.shadow_tables", shadow_table_pages,
	  "shadow page-table pages in use at the end (gauge)"),
	COUNT("frames.guest", guest_frames,
	  "guest-physical 4 KiB frames in use at the end, data and tables (gauge)"),
	COUNT("frames.host", host_frames,
	  "host-physical 4 KiB frames in use at the end (gauge)"),
	COUNT("cycles.access", cycles_access,
	  "cycles of the accesses themselves: accesses x cost.access"),
	COUNT("cycles.tlb", cycles_tlb,
	  "cycles of TLB hits: L1 hits x cost.tlb_l1_hit + STLB hits x cost.tlb_l2_hit"),
	COUNT("cycles.walk", cycles_walk,
	  "cycles of page walks: cost.walk_start per walk plus the cost of each "
	  "reference (memory, walk cache, nested TLB)"),
	COUNT("cycles.exits", cycles_exits,
	  "cycles of VM exits and the VMM work done in them (fills, PTE emulation, "
	  "resyncs)"),
	COUNT("cycles.faults", cycles_faults,
	  "cycles of guest and host fault handling"),
	COUNT("cycles.total", cycles_total,
	  "the sum of the cycles.* components above"),
	DERIVED("cycles.per_access", cycles_per_access,
	  "cycles.total / accesses"),
	DERIVED("cycles.translation_share", translation_share,
	  "(cycles.tlb + cycles.walk + cycles.exits) / cycles.total: the share spent "
	  "translating"),
};

#define NSTATS (sizeof(stats) / sizeof(stats[0]))

const char *const *vmem_mmu_stat_names(void)
{
	static const char *names[NSTATS + 1];

	if (!names[0])
		for (size_t i = 0; i < NSTATS; i++)
			names[i] = stats[i].name;
	return names;
}

const char *vmem_mmu_stat_help(const char *name)
{
	for (size_t i = 0; i < NSTATS; i++)
		if (strcmp(stats[i].name, name) == 0)
			return stats[i].help;
	return NULL;
}

static uint64_t pwc_hits(const struct vmem_pwc_stats *ps)
{
	uint64_t n = 0;

	for (unsigned l = 0; l <= VMEM_MAX_LEVELS; l++)
		n += ps->hits[l];
	return n;
}

const struct vmem_mmu_stats *vmem_mmu_stats(struct vmem_mmu *m)
{
	struct vmem_mmu_stats *s = &m->st;
	const struct vmem_tlb_stats *t = vmem_tlb_stats(m->tlb), *t0 = &m->tlb_base;
	const struct vmem_pwc_stats *p = vmem_pwc_stats(m->pwc), *hp = vmem_pwc_stats(m->hpwc);
	const struct vmem_xcache_stats *n = vmem_xcache_stats(m->ntlb);

	s->tlb_l1d_lookups = t->l1d_lookups - t0->l1d_lookups;
	s->tlb_l1d_misses = s->tlb_l1d_lookups - (t->l1d_hits - t0->l1d_hits);
	s->tlb_l1i_lookups = t->l1i_lookups - t0->l1i_lookups;
	s->tlb_l1i_misses = s->tlb_l1i_lookups - (t->l1i_hits - t0->l1i_hits);
	s->tlb_l2_lookups = t->l2_lookups - t0->l2_lookups;
	s->tlb_l2_misses = s->tlb_l2_lookups - (t->l2_hits - t0->l2_hits);
	s->pwc_lookups = p->lookups - m->pwc_base.lookups;
	s->pwc_hits = pwc_hits(p) - pwc_hits(&m->pwc_base);
	s->host_pwc_lookups = hp->lookups - m->hpwc_base.lookups;
	s->host_pwc_hits = pwc_hits(hp) - pwc_hits(&m->hpwc_base);
	s->ntlb_lookups = n->lookups - m->ntlb_base.lookups;
	s->ntlb_hits = n->hits - m->ntlb_base.hits;

	s->guest_table_pages = s->host_table_pages = s->shadow_table_pages = 0;
	s->guest_frames = 0;
	for (size_t v = 0; v < m->nvm; v++) {
		const struct vm *vm = m->vm_list[v];

		s->guest_frames += vm->gframes.used;
		if (vm->ept)
			s->host_table_pages += vmem_pt_table_pages(vm->ept);
		for (size_t i = 0; i < vm->nas; i++) {
			s->guest_table_pages += vmem_pt_table_pages(vm->as[i]->pt);
			if (vm->as[i]->shadow)
				s->shadow_table_pages += vmem_pt_table_pages(vm->as[i]->shadow);
		}
	}
	s->host_frames = m->hframes.used;
	/* Fixed costs per event, so derived here rather than added up per access. */
	s->cycles_access = s->accesses * m->cfg.cost.access;
	s->cycles_tlb = s->tlb_l1_hits * m->cfg.cost.tlb_l1_hit +
			s->tlb_l2_hits * m->cfg.cost.tlb_l2_hit;
	s->cycles_total = s->cycles_access + s->cycles_tlb + s->cycles_walk + s->cycles_exits +
			  s->cycles_faults;
	return s;
}

void vmem_mmu_stats_reset(struct vmem_mmu *m)
{
	memset(&m->st, 0, sizeof(m->st));
	m->tlb_base = *vmem_tlb_stats(m->tlb);
	m->pwc_base = *vmem_pwc_stats(m->pwc);
	m->hpwc_base = *vmem_pwc_stats(m->hpwc);
	m->ntlb_base = *vmem_xcache_stats(m->ntlb);
}

int vmem_mmu_stat_get(struct vmem_mmu *m, const char *name, double *value)
{
	return vmem_mmu_stats_value(vmem_mmu_stats(m), name, value);
}

int vmem_mmu_stats_value(const struct vmem_mmu_stats *s, const char *name, double *value)
{
	for (size_t i = 0; i < NSTATS; i++) {
		if (strcmp(stats[i].name, name) != 0)
			continue;
		if (stats[i].derive)
			*value = stats[i].derive(s);
		else
			*value = (double)*(const uint64_t *)((const char *)s + stats[i].off);
		return 0;
	}
	return VMEM_ENOENT;
}
