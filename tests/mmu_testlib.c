/* Helpers for the translation-machine tests; see mmu_testlib.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>

#include "mmu_testlib.h"

#include "mmu/mmu_internal.h"

void mt_config(struct vmem_mmu_config *c, enum vmem_mode mode, unsigned guest_levels,
	       unsigned host_levels, enum vmem_page_size guest_page,
	       enum vmem_page_size host_page)
{
	vmem_mmu_config_default(c);
	c->mode = mode;
	c->guest_levels = guest_levels;
	c->host_levels = host_levels;
	c->guest_page = guest_page;
	c->host_page = host_page;
}

void mt_set(struct vmem_mmu_config *c, const char *key, const char *value)
{
	char err[256] = "";
	int rc = vmem_mmu_config_set(c, key, value, err, sizeof(err));

	if (rc)
		print_error("config %s=%s: %s\n", key, value, err);
	assert_int_equal(rc, 0);
}

void mt_no_tlb(struct vmem_mmu_config *c)
{
	static const char *const keys[] = {
		"tlb.l1d.4k", "tlb.l1d.2m", "tlb.l1d.1g", "tlb.l1i.4k", "tlb.l1i.2m",
		"tlb.l1i.1g", "tlb.l2", "tlb.l2.1g",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		mt_set(c, keys[i], "0");
}

void mt_no_pwc(struct vmem_mmu_config *c)
{
	static const char *const keys[] = {
		"pwc.pml5e", "pwc.pml4e", "pwc.pdpte", "pwc.pde",
		"host.pwc.pml5e", "host.pwc.pml4e", "host.pwc.pdpte", "host.pwc.pde",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		mt_set(c, keys[i], "0");
}

void mt_no_ntlb(struct vmem_mmu_config *c)
{
	mt_set(c, "ntlb", "0");
}

void mt_no_caches(struct vmem_mmu_config *c)
{
	mt_no_tlb(c);
	mt_no_pwc(c);
	mt_no_ntlb(c);
}

void mt_tiny_caches(struct vmem_mmu_config *c, unsigned entries)
{
	static const char *const keys[] = {
		"tlb.l1d.4k", "tlb.l1d.2m", "tlb.l1d.1g", "tlb.l1i.4k", "tlb.l1i.2m",
		"tlb.l1i.1g", "tlb.l2", "tlb.l2.1g",
		"pwc.pml5e", "pwc.pml4e", "pwc.pdpte", "pwc.pde",
		"host.pwc.pml5e", "host.pwc.pml4e", "host.pwc.pdpte", "host.pwc.pde", "ntlb",
	};
	char v[32];

	snprintf(v, sizeof(v), "%u:0:lru", entries);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		mt_set(c, keys[i], v);
}

struct vmem_mmu *mt_create(const struct vmem_mmu_config *c)
{
	struct vmem_mmu *m = NULL;

	assert_int_equal(vmem_mmu_create(c, &m), 0);
	assert_non_null(m);
	return m;
}

struct vmem_trace_rec mt_access(uint16_t vm, uint32_t asid, uint64_t va,
				enum vmem_access_type acc)
{
	return (struct vmem_trace_rec){ .type = VMEM_REC_ACCESS, .acc = (uint8_t)acc,
					.size = 8, .vm = vm, .asid = asid, .addr = va };
}

struct vmem_trace_rec mt_unmap(uint16_t vm, uint32_t asid, uint64_t va, uint64_t len)
{
	return (struct vmem_trace_rec){ .type = VMEM_REC_UNMAP, .vm = vm, .asid = asid,
					.addr = va, .len = len };
}

struct vmem_trace_rec mt_protect(uint16_t vm, uint32_t asid, uint64_t va, uint64_t len,
				 unsigned prot)
{
	return (struct vmem_trace_rec){ .type = VMEM_REC_PROTECT, .prot = (uint8_t)prot,
					.vm = vm, .asid = asid, .addr = va, .len = len };
}

struct vmem_trace_rec mt_switch_as(uint16_t vm, uint32_t asid)
{
	return (struct vmem_trace_rec){ .type = VMEM_REC_SWITCH_AS, .vm = vm, .asid = asid };
}

struct vmem_trace_rec mt_switch_vm(uint16_t vm)
{
	return (struct vmem_trace_rec){ .type = VMEM_REC_SWITCH_VM, .vm = vm };
}

void mt_apply(struct vmem_mmu *m, const struct vmem_trace_rec *r)
{
	int rc = vmem_mmu_apply(m, r);

	if (rc)
		print_error("record type %u vm %u asid %u addr %#llx: %s (%s)\n", r->type, r->vm,
			    r->asid, (unsigned long long)r->addr, vmem_strerror(rc),
			    vmem_mmu_error(m));
	assert_int_equal(rc, 0);
}

void mt_touch(struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
	      enum vmem_access_type acc)
{
	struct vmem_trace_rec r = mt_access(vm, asid, va, acc);

	mt_apply(m, &r);
}

uint64_t mt_translate(struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
		      enum vmem_access_type acc, struct vmem_walk *walk)
{
	uint64_t pa = ~0ull;
	int rc = vmem_mmu_translate(m, vm, asid, va, acc, walk, &pa);

	if (rc)
		print_error("translate vm %u asid %u va %#llx: %s (%s)\n", vm, asid,
			    (unsigned long long)va, vmem_strerror(rc), vmem_mmu_error(m));
	assert_int_equal(rc, 0);
	return pa;
}

uint64_t mt_stat(struct vmem_mmu *m, const char *name)
{
	double v = -1;
	int rc = vmem_mmu_stat_get(m, name, &v);

	if (rc)
		print_error("no statistic named %s\n", name);
	assert_int_equal(rc, 0);
	return (uint64_t)v;
}

uint64_t mt_gpa(const struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va)
{
	uint64_t gpa = ~0ull;

	assert_int_equal(vmem_mmu_guest_lookup(m, vm, asid, va, &gpa), 0);
	return gpa;
}

int mt_host_lookup(const struct vmem_mmu *m, uint16_t vm, uint64_t gpa, uint64_t *hpa,
		   enum vmem_page_size *size)
{
	const struct vm *v = m->vms[vm];
	struct vmem_pt_leaf leaf;

	if (!v || !v->ept || vmem_pt_lookup(v->ept, gpa, &leaf, NULL))
		return VMEM_ENOENT;
	*hpa = leaf.pa;
	if (size)
		*size = leaf.size;
	return 0;
}

static const struct aspace *find_as(const struct vmem_mmu *m, uint16_t vm, uint32_t asid)
{
	const struct vm *v = m->vms[vm];

	if (!v)
		return NULL;
	for (size_t i = 0; i < v->nas; i++)
		if (v->as[i]->asid == asid)
			return v->as[i];
	return NULL;
}

uint64_t mt_guest_table_gpa(const struct vmem_mmu *m, uint16_t vm, uint32_t asid,
			    uint64_t va, unsigned level)
{
	const struct aspace *as = find_as(m, vm, asid);
	const struct pt_page *p;

	assert_non_null(as);
	p = pt_find_table(as->pt, va, level);
	assert_non_null(p);
	return p->pa;
}

uint64_t mt_host_root(const struct vmem_mmu *m, uint16_t vm)
{
	const struct vm *v = m->vms[vm];

	assert_non_null(v);
	assert_non_null(v->ept);
	return vmem_pt_root(v->ept);
}

const struct vmem_pt *mt_guest_pt(const struct vmem_mmu *m, uint16_t vm, uint32_t asid)
{
	const struct aspace *as = find_as(m, vm, asid);

	return as ? as->pt : NULL;
}

const struct vmem_pt *mt_shadow_pt(const struct vmem_mmu *m, uint16_t vm, uint32_t asid)
{
	const struct aspace *as = find_as(m, vm, asid);

	return as ? as->shadow : NULL;
}

const struct vmem_pt *mt_host_pt(const struct vmem_mmu *m, uint16_t vm)
{
	return m->vms[vm] ? m->vms[vm]->ept : NULL;
}

uint64_t mt_table_pa(const struct vmem_pt *pt, uint64_t va, unsigned level)
{
	const struct pt_page *p = pt_find_table(pt, va, level);

	return p ? p->pa : ~0ull;
}

uint64_t mt_entry(const struct vmem_pt *pt, uint64_t va, unsigned level)
{
	const struct pt_page *p = pt_find_table(pt, va, level);

	return p ? pt_entry(p, vmem_pt_index(va, level)) : 0;
}

int mt_expected_pa(const struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
		   uint64_t *pa)
{
	uint64_t gpa;

	if (vmem_mmu_guest_lookup(m, vm, asid, va, &gpa))
		return VMEM_ENOENT;
	if (vmem_mmu_get_config(m)->mode == VMEM_MODE_NATIVE) {
		*pa = gpa;
		return 0;
	}
	return mt_host_lookup(m, vm, gpa, pa, NULL);
}
