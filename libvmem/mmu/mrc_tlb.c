/*
 * Miss-ratio curves of a machine's TLB arrays: enabling the profilers on a machine,
 * naming the arrays, and the CSV report (contract in include/vmem/mrc.h; the profiler
 * itself is libvmem/mrc.c, its feeding by the TLB hierarchy libvmem/tlb.c).
 *
 * CSV: one row per profiled array and associativity w = 1..W, arrays in enum order:
 *   label,mode,array,page_size,sets,ways,entries,lookups,misses,miss_ratio
 * with entries = sets x ways and miss_ratio = misses / lookups (6 significant digits, 0
 * without lookups). The label is written as given; the caller keeps commas out of it.
 */
#include <string.h>

#include "vmem/mrc.h"

#include "mmu_internal.h"

static const char *const array_names[VMEM_TLB_ARRAYS] = {
	"l1d.4k", "l1d.2m", "l1d.1g", "l1i.4k", "l1i.2m", "l1i.1g", "l2", "l2.1g",
};

static const char *const array_pages[VMEM_TLB_ARRAYS] = {
	"4k", "2m", "1g", "4k", "2m", "1g", "4k+2m", "1g",
};

const char *vmem_tlb_array_name(enum vmem_tlb_array a)
{
	return (unsigned)a < VMEM_TLB_ARRAYS ? array_names[a] : "?";
}

const char *vmem_tlb_array_pages(enum vmem_tlb_array a)
{
	return (unsigned)a < VMEM_TLB_ARRAYS ? array_pages[a] : "?";
}

int vmem_mmu_enable_mrc(struct vmem_mmu *m, uint32_t max_ways)
{
	if (m == NULL)
		return VMEM_EINVAL;
	return vmem_tlb_enable_mrc(m->tlb, max_ways);
}

struct vmem_mrc *vmem_mmu_mrc(const struct vmem_mmu *m, enum vmem_tlb_array a)
{
	return m == NULL ? NULL : vmem_tlb_mrc(m->tlb, a);
}

void vmem_mmu_mrc_reset_counts(struct vmem_mmu *m)
{
	for (unsigned a = 0; a < VMEM_TLB_ARRAYS; a++) {
		struct vmem_mrc *p = vmem_mmu_mrc(m, (enum vmem_tlb_array)a);

		if (p != NULL)
			vmem_mrc_reset_counts(p);
	}
}

/* The CSV columns in order, each with a line for the glossary (vmemsim --help-stats). */
static const struct {
	const char *name, *help;
} columns[] = {
	{ "label", "the trace's label (vmemsim --label; default the trace file name)" },
	{ "mode", "translation mode of the machine the array belongs to" },
	{ "array", "TLB array: l1d.4k, l1d.2m, l1d.1g, l1i.4k, l1i.2m, l1i.1g, l2 (STLB, "
	  "4 KiB and 2 MiB pages), l2.1g" },
	{ "page_size", "page sizes the array holds: 4k, 2m, 1g or 4k+2m" },
	{ "sets", "sets of the array as configured (the curve keeps them)" },
	{ "ways", "associativity of this point of the curve, 1 to 8 x the configured one" },
	{ "entries", "sets x ways: the size of the array at this point" },
	{ "lookups", "accesses that probed the array (one per access, not per page-size "
	  "probe); the same at every point" },
	{ "misses", "lookups an LRU array of this many ways would have missed, the rest of "
	  "the machine as configured" },
	{ "miss_ratio", "misses / lookups (0 without lookups)" },
};

#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

const char *const *vmem_mrc_csv_columns(void)
{
	static const char *names[NCOLUMNS + 1];

	if (!names[0])
		for (size_t i = 0; i < NCOLUMNS; i++)
			names[i] = columns[i].name;
	return names;
}

const char *vmem_mrc_csv_column_help(const char *name)
{
	for (size_t i = 0; i < NCOLUMNS; i++)
		if (strcmp(columns[i].name, name) == 0)
			return columns[i].help;
	return NULL;
}

int vmem_mrc_csv_header(FILE *f)
{
	for (size_t i = 0; i < NCOLUMNS; i++)
		fprintf(f, "%s%s", i ? "," : "", columns[i].name);
	fputc('\n', f);
	return ferror(f) ? VMEM_EIO : 0;
}

int vmem_mmu_mrc_csv(FILE *f, const char *label, const struct vmem_mmu *m)
{
	const char *mode = vmem_mode_name(m->cfg.mode);

	for (unsigned a = 0; a < VMEM_TLB_ARRAYS; a++) {
		const struct vmem_mrc *p = vmem_mmu_mrc(m, (enum vmem_tlb_array)a);
		uint64_t lookups;
		uint32_t sets;

		if (p == NULL)
			continue;
		lookups = vmem_mrc_lookups(p);
		sets = vmem_mrc_sets(p);
		for (uint32_t w = 1; w <= vmem_mrc_max_ways(p); w++) {
			uint64_t misses = vmem_mrc_misses(p, w);

			fprintf(f, "%s,%s,%s,%s,%u,%u,%llu,%llu,%llu,%.6g\n", label, mode,
				array_names[a], array_pages[a], sets, w,
				(unsigned long long)sets * w, (unsigned long long)lookups,
				(unsigned long long)misses,
				lookups ? (double)misses / (double)lookups : 0.0);
		}
	}
	return ferror(f) ? VMEM_EIO : 0;
}
