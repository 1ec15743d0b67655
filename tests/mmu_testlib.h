/*
 * Helpers for the tests of the translation machine (tests/test_walk_refs.c,
 * test_walk_caches.c, test_shadow.c, test_guest_os.c, test_mmu_differential.c, ...):
 * building a configuration in one line, making trace records, applying them with an
 * assertion, reading statistics, and a few white-box look-ups into the machine's tables.
 *
 * Every helper that can fail fails the running cmocka test (it asserts), so a test reads
 * as the sequence of steps it checks.
 *
 * The white-box look-ups (mt_host_lookup, mt_guest_table_gpa, mt_expected_pa) read the
 * machine's guest and host tables through libvmem/mmu_internal.h, with the software
 * lookup of include/vmem/pt.h; they never run the hardware walk, so they are an
 * independent reference for what a walk must find.
 */
#ifndef VMEM_TESTS_MMU_TESTLIB_H
#define VMEM_TESTS_MMU_TESTLIB_H

#include "vmem/mmu.h"
#include "vmem/pt.h"

/*
 * Defaults (vmem_mmu_config_default) with the given mode, paging depths and first-touch
 * page sizes.
 */
void mt_config(struct vmem_mmu_config *c, enum vmem_mode mode, unsigned guest_levels,
	       unsigned host_levels, enum vmem_page_size guest_page,
	       enum vmem_page_size host_page);

/* vmem_mmu_config_set that must succeed. */
void mt_set(struct vmem_mmu_config *c, const char *key, const char *value);

/* Removes (entries 0) every TLB array. */
void mt_no_tlb(struct vmem_mmu_config *c);
/* Removes the guest and host paging-structure caches. */
void mt_no_pwc(struct vmem_mmu_config *c);
/* Removes the nested TLB. */
void mt_no_ntlb(struct vmem_mmu_config *c);
/* All three: every walk reference then comes from memory. */
void mt_no_caches(struct vmem_mmu_config *c);
/* Every TLB array, paging-structure cache and the nested TLB with `entries` entries,
 * fully associative, LRU (tiny sizes force evictions). */
void mt_tiny_caches(struct vmem_mmu_config *c, unsigned entries);

/* vmem_mmu_create that must succeed. */
struct vmem_mmu *mt_create(const struct vmem_mmu_config *c);

/* Trace records. */
struct vmem_trace_rec mt_access(uint16_t vm, uint32_t asid, uint64_t va,
				enum vmem_access_type acc);
struct vmem_trace_rec mt_unmap(uint16_t vm, uint32_t asid, uint64_t va, uint64_t len);
struct vmem_trace_rec mt_protect(uint16_t vm, uint32_t asid, uint64_t va, uint64_t len,
				 unsigned prot);
struct vmem_trace_rec mt_switch_as(uint16_t vm, uint32_t asid);
struct vmem_trace_rec mt_switch_vm(uint16_t vm);

/* vmem_mmu_apply that must succeed; the machine's error message is printed if not. */
void mt_apply(struct vmem_mmu *m, const struct vmem_trace_rec *r);
/* Shorthand for mt_apply of mt_access. */
void mt_touch(struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
	      enum vmem_access_type acc);

/* vmem_mmu_translate that must succeed; returns the physical address. */
uint64_t mt_translate(struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
		      enum vmem_access_type acc, struct vmem_walk *walk);

/* A counter by its dotted name (vmem_mmu_stat_get), which must exist. */
uint64_t mt_stat(struct vmem_mmu *m, const char *name);

/* Guest-physical address of (vm, asid, va) now (vmem_mmu_guest_lookup must succeed). */
uint64_t mt_gpa(const struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va);

/*
 * White-box: host-physical address that gpa maps to in the host table of vm, without
 * side effects. Returns 0 and sets *hpa (and *size if not NULL), or VMEM_ENOENT.
 */
int mt_host_lookup(const struct vmem_mmu *m, uint16_t vm, uint64_t gpa, uint64_t *hpa,
		   enum vmem_page_size *size);

/* White-box: guest-physical address of the guest table page at `level` on va's path in
 * (vm, asid); asserts that it exists. */
uint64_t mt_guest_table_gpa(const struct vmem_mmu *m, uint16_t vm, uint32_t asid,
			    uint64_t va, unsigned level);

/* White-box: physical address of the root of vm's host table; asserts it exists. */
uint64_t mt_host_root(const struct vmem_mmu *m, uint16_t vm);

/* White-box: the tables of a machine (NULL if absent): the guest table of (vm, asid), its
 * shadow table (shadow mode, while it has a root), the VM's host table. */
const struct vmem_pt *mt_guest_pt(const struct vmem_mmu *m, uint16_t vm, uint32_t asid);
const struct vmem_pt *mt_shadow_pt(const struct vmem_mmu *m, uint16_t vm, uint32_t asid);
const struct vmem_pt *mt_host_pt(const struct vmem_mmu *m, uint16_t vm);

/* White-box: physical address of the table page at `level` on va's path in pt, or ~0 if
 * there is none; and the entry of that page that va selects (0 if no page). */
uint64_t mt_table_pa(const struct vmem_pt *pt, uint64_t va, unsigned level);
uint64_t mt_entry(const struct vmem_pt *pt, uint64_t va, unsigned level);

/*
 * White-box reference translation: the guest table maps va to gpa; natively that is the
 * physical address, under nested or shadow paging the host table maps gpa on. Returns 0
 * and sets *pa, or VMEM_ENOENT if either mapping is missing.
 */
int mt_expected_pa(const struct vmem_mmu *m, uint16_t vm, uint32_t asid, uint64_t va,
		   uint64_t *pa);

#endif
