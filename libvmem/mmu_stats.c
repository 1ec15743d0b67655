/*
 * Statistics of the translation machine by dotted name: the names printed in tables,
 * CSV headers and JSON keys, read one at a time with vmem_mmu_stat_get().
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

struct stat_def {
	const char *name;
	size_t off;          /* of a uint64_t in struct vmem_mmu_stats, unless derive is set */
	derive_fn derive;
};

#define COUNT(n, f) { n, offsetof(struct vmem_mmu_stats, f), NULL }
#define EXITS(n, r) { n, offsetof(struct vmem_mmu_stats, exits) + (r) * sizeof(uint64_t), NULL }
#define DERIVED(n, fn) { n, 0, fn }

static const struct stat_def stats[] = {
	COUNT("records", records),
	COUNT("accesses", accesses),
	COUNT("translations", translations),
	COUNT("tlb.l1.hits", tlb_l1_hits),
	COUNT("tlb.l2.hits", tlb_l2_hits),
	COUNT("tlb.misses", tlb_misses),
	DERIVED("tlb.miss_rate", tlb_miss_rate),
	COUNT("tlb.l1d.lookups", tlb_l1d_lookups),
	COUNT("tlb.l1d.misses", tlb_l1d_misses),
	COUNT("tlb.l1i.lookups", tlb_l1i_lookups),
	COUNT("tlb.l1i.misses", tlb_l1i_misses),
	COUNT("tlb.l2.lookups", tlb_l2_lookups),
	COUNT("tlb.l2.misses", tlb_l2_misses),
	COUNT("pwc.lookups", pwc_lookups),
	COUNT("pwc.hits", pwc_hits),
	COUNT("host_pwc.lookups", host_pwc_lookups),
	COUNT("host_pwc.hits", host_pwc_hits),
	COUNT("ntlb.lookups", ntlb_lookups),
	COUNT("ntlb.hits", ntlb_hits),
	COUNT("walks", walks),
	COUNT("walk.refs", walk_refs),
	DERIVED("walk.refs_per_walk", refs_per_walk),
	COUNT("walk.completed", walks_completed),
	COUNT("walk.refs_completed", walk_refs_completed),
	DERIVED("walk.refs_per_completed", refs_per_completed_walk),
	COUNT("walk.refs_pwc", walk_refs_pwc),
	COUNT("walk.refs_ntlb", walk_refs_ntlb),
	COUNT("faults.guest", guest_faults),
	COUNT("faults.host", host_faults),
	COUNT("exits.total", exits_total),
	EXITS("exits.hidden_fault", VMEM_EXIT_HIDDEN_FAULT),
	EXITS("exits.guest_fault", VMEM_EXIT_GUEST_FAULT),
	EXITS("exits.pte_write", VMEM_EXIT_PTE_WRITE),
	EXITS("exits.cr3_load", VMEM_EXIT_CR3_LOAD),
	EXITS("exits.invlpg", VMEM_EXIT_INVLPG),
	EXITS("exits.ept_violation", VMEM_EXIT_EPT_VIOLATION),
	COUNT("shadow.fills", shadow_fills),
	COUNT("shadow.zaps", shadow_zaps),
	COUNT("shadow.resyncs", shadow_resyncs),
	COUNT("shadow.root_hits", shadow_root_hits),
	COUNT("shadow.root_misses", shadow_root_misses),
	COUNT("guest.pte_writes", guest_pte_writes),
	COUNT("context_switches", context_switches),
	COUNT("vm_switches", vm_switches),
	COUNT("invlpgs", invlpgs),
	COUNT("unmaps", unmaps),
	COUNT("protects", protects),
	COUNT("pages.guest_tables", guest_table_pages),
	COUNT("pages.host_tables", host_table_pages),
	COUNT("pages.shadow_tables", shadow_table_pages),
	COUNT("frames.guest", guest_frames),
	COUNT("frames.host", host_frames),
	COUNT("cycles.access", cycles_access),
	COUNT("cycles.tlb", cycles_tlb),
	COUNT("cycles.walk", cycles_walk),
	COUNT("cycles.exits", cycles_exits),
	COUNT("cycles.faults", cycles_faults),
	COUNT("cycles.total", cycles_total),
	DERIVED("cycles.per_access", cycles_per_access),
	DERIVED("cycles.translation_share", translation_share),
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
