/*
 * vmem-walk: explain one address translation reference by reference.
 *
 * For each ADDRESS it prints every memory reference of the page walk in order (dimension,
 * level, table address, index, entry value, what served it), what the walk cost under the
 * cost model, and for nested paging the grid of the two-dimensional walk.
 *
 * By default the paging-structure caches and the nested TLB are off, the address is
 * touched once first (so guest and host map it) and the TLB is emptied: the explained walk
 * makes every reference from memory, 24 for 4-level over 4-level nested paging.
 * --caches turns the walk caches on (a cold walk then still hits the host walk caches it
 * filled itself); --warm empties only the TLB, keeping the walk caches as the touch or
 * the --trace replay left them, and shows first, for comparison, the cold walk a twin
 * machine makes after the same replay and touches with every cache emptied.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmem/mmu.h"
#include "vmem/trace.h"

#include "trace/trace_outfile.h"

static const char usage[] =
"usage: vmem-walk [options] ADDRESS...\n"
"\n"
"Shows, reference by reference, what the translation of each virtual ADDRESS (hex or\n"
"decimal) costs: every page-table entry read, in order, with its dimension (native,\n"
"guest, host, shadow), level, table address, index, entry value and whether memory,\n"
"a paging-structure cache or the nested TLB served it; for nested paging the n x m\n"
"grid of the 2D walk.\n"
"\n"
"options:\n"
"  -m, --mode MODE      native, nested or shadow; overrides a mode= key of the\n"
"                       configuration (default: that key when given, else nested)\n"
"  -s, --set KEY=VALUE  configuration key, as for vmemsim (see vmemsim --help-config)\n"
"  -c, --config FILE    configuration file of KEY=VALUE lines\n"
"  -t, --trace FILE     replay FILE first, so tables and caches hold its state\n"
"  -n, --limit N        replay at most N records of the trace\n"
"  -C, --caches         enable the paging-structure caches and the nested TLB\n"
"                       (default: off, so every reference of the walk goes to memory)\n"
"  -w, --warm           keep the walk caches as the touch or trace left them and empty\n"
"                       only the TLB; text output shows the cold walk first\n"
"                       only the TLB (implies --caches; default: empty all caches)\n"
"  -a, --access TYPE    load (default), store or ifetch\n"
"      --vm N           VM id (default 0)\n"
"      --asid N         address-space id (default 0)\n"
"  -o, --output FMT     text (default), csv or json\n"
"  -h, --help           this text\n"
"      --version        the version of vmem-walk and libvmem\n"
"\n"
"examples:\n"
"  vmem-walk 0x7ffd12345678                          # the 24-reference 2D walk\n"
"  vmem-walk -m nested -s guest.page=2m -s host.page=2m 0x7f0000200000   # 15\n"
"  vmem-walk -m native -s guest.levels=5 0x7f0000001000                  # 5\n"
"  vmem-walk --caches 0x7ffd12345678                 # what the walk caches skip\n"
"  vmem-walk --warm 0x7f0000001000 0x7f0000002000    # the second walk hits the caches\n";

enum output { OUT_TEXT, OUT_CSV, OUT_JSON };

/* Prints "vmem-walk: MSGARG"; returns 2, the exit status of a usage error. */
static int complain(const char *msg, const char *arg)
{
	fprintf(stderr, "vmem-walk: %s%s\n", msg, arg);
	return 2;
}

static void fail(const char *msg, const char *arg)
{
	exit(complain(msg, arg));
}

/* Returns 0, or 2 after a message naming what (an option or "address"). */
static int parse_number(const char *s, const char *what, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || *end || !*s || *s == '-') {
		fprintf(stderr, "vmem-walk: %s '%s': expected a number (0x... for hex)\n", what, s);
		return 2;
	}
	return 0;
}

static const char *level_name(enum vmem_dim dim, unsigned level)
{
	static const char *const x86[] = { "?", "PT", "PD", "PDPT", "PML4", "PML5" };
	static const char *const ept[] = { "?", "EPT-PT", "EPT-PD", "EPT-PDPT", "EPT-PML4",
					   "EPT-PML5" };

	if (level > 5)
		return "?";
	return dim == VMEM_DIM_HOST ? ept[level] : x86[level];
}

static void replay(struct vmem_mmu *m, const char *path, uint64_t limit)
{
	struct vmem_trace_reader_opts opts;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec recs[1024];
	uint64_t done = 0;
	long n;

	vmem_trace_reader_opts_default(&opts);
	if (vmem_trace_open(path, &opts, &r)) {
		fprintf(stderr, "vmem-walk: %s\n", r ? vmem_trace_error(r) : path);
		exit(1);
	}
	while ((n = vmem_trace_read(r, recs, 1024)) > 0) {
		for (long i = 0; i < n && (!limit || done < limit); i++, done++) {
			if (vmem_mmu_apply(m, &recs[i])) {
				char pos[512];

				vmem_trace_record_position(r, (size_t)i, pos, sizeof(pos));
				fprintf(stderr, "vmem-walk: %s: %s\n", pos, vmem_mmu_error(m));
				exit(1);
			}
		}
		if (limit && done >= limit)
			break;
	}
	if (n < 0) {
		fprintf(stderr, "vmem-walk: %s\n", vmem_trace_error(r));
		exit(1);
	}
	if (done == 0) {
		fprintf(stderr, "vmem-walk: %s: no trace records\n", path);
		exit(1);
	}
	vmem_trace_close(r);
}

/* Grid cell of a 2D-walk reference: row = guest step (n..1, then 0 for the final gPA). */
static void print_grid(const struct vmem_mmu_config *cfg, const struct vmem_walk *w)
{
	unsigned n = cfg->guest_levels, mlev = cfg->host_levels;
	char cell[VMEM_MAX_LEVELS + 1][VMEM_MAX_LEVELS + 2][12];

	memset(cell, 0, sizeof(cell));
	for (unsigned i = 0; i < w->nrefs; i++) {
		const struct vmem_walk_ref *r = &w->refs[i];
		unsigned col = r->dim == VMEM_DIM_HOST ? mlev - r->level : mlev;
		const char *tag = r->served == VMEM_SERVED_PWC ? "P" :
				  r->served == VMEM_SERVED_NTLB ? "N" : NULL;

		if (r->gstep > VMEM_MAX_LEVELS || col > VMEM_MAX_LEVELS)
			continue;
		if (tag)
			snprintf(cell[r->gstep][col], sizeof(cell[0][0]), "%s", tag);
		else
			snprintf(cell[r->gstep][col], sizeof(cell[0][0]), "%u", i + 1);
	}
	printf("\n2D walk grid: one row per guest step, host references left to right, then the\n"
	       "guest entry. Numbers give the order of memory references; P = skipped thanks to\n"
	       "a paging-structure cache, N = host walk replaced by a nested-TLB hit.\n\n%-12s",
	       "");
	for (unsigned h = mlev; h >= 1; h--)
		printf(" %9s", level_name(VMEM_DIM_HOST, h));
	printf(" %9s\n", "guest");
	for (unsigned g = n + 1; g-- > 0;) {
		unsigned row = g;   /* n .. 1, then 0 */
		char label[16];

		if (row == 0)
			snprintf(label, sizeof(label), "data gPA");
		else
			snprintf(label, sizeof(label), "g%s", level_name(VMEM_DIM_GUEST, row));
		printf("%-12s", label);
		for (unsigned c = 0; c <= mlev; c++)
			printf(" %9s", cell[row][c][0] ? cell[row][c] :
			       (row == 0 && c == mlev ? "-" : "."));
		printf("\n");
	}
}

static void explain_text(const struct vmem_mmu_config *cfg, const struct vmem_walk *w,
			 enum vmem_access_type acc, uint16_t vm, uint32_t asid)
{
	static const char *const acc_names[] = { "load", "store", "ifetch", "modify" };
	static const char *const hit_names[] = { "miss", "L1 hit", "L2 (STLB) hit" };
	unsigned mem = 0, pwc = 0, ntlb = 0;
	uint64_t cycles;

	printf("%s paging: guest %u-level, %s pages", vmem_mode_name(cfg->mode), cfg->guest_levels,
	       vmem_page_size_name(cfg->guest_page));
	if (cfg->mode != VMEM_MODE_NATIVE)
		printf("; host %u-level, %s pages", cfg->host_levels,
		       vmem_page_size_name(cfg->host_page));
	printf("\naddress %#llx (vm %u, asid %u, %s): TLB %s\n", (unsigned long long)w->va, vm,
	       asid, acc_names[acc & 3], hit_names[w->tlb_hit < 3 ? w->tlb_hit : 0]);
	if (w->walks == 0) {
		printf("no page walk: the TLB supplied the translation -> %#llx\n",
		       (unsigned long long)w->pa);
		return;
	}
	if (w->walks > 1)
		printf("%u walks: %u ended in a fault that was handled (guest faults %u, host "
		       "faults %u, VM exits %u); the last one is shown\n", w->walks, w->walks - 1,
		       w->guest_faults, w->host_faults, w->exits);
	printf("\n%4s %-7s %-9s %-20s %-18s %5s %-18s %s\n", "#", "dim", "level", "translating",
	       "table", "index", "entry", "served by");
	for (unsigned i = 0; i < w->nrefs; i++) {
		const struct vmem_walk_ref *r = &w->refs[i];
		char table[24] = "-", entry[24] = "-";

		if (r->served == VMEM_SERVED_MEM) {
			snprintf(table, sizeof(table), "%#llx", (unsigned long long)r->table);
			snprintf(entry, sizeof(entry), "%#018llx", (unsigned long long)r->entry);
			mem++;
		} else if (r->served == VMEM_SERVED_PWC) {
			pwc++;
		} else {
			ntlb++;
		}
		char input[28];

		snprintf(input, sizeof(input), "%s %#llx", r->dim == VMEM_DIM_HOST ? "gPA" : "VA",
			 (unsigned long long)r->input);
		printf("%4u %-7s %-9s %-20s %-18s %5u %-18s %s\n", i + 1, vmem_dim_name(r->dim),
		       level_name(r->dim, r->level), input, table, r->index, entry,
		       vmem_served_name(r->served));
	}
	cycles = cfg->cost.walk_start + (uint64_t)mem * cfg->cost.ref_mem +
		 (uint64_t)pwc * cfg->cost.ref_pwc + (uint64_t)ntlb * cfg->cost.ref_ntlb;
	printf("\n%u references: %u from memory, %u skipped by paging-structure caches, %u by "
	       "the nested TLB\n", w->nrefs, mem, pwc, ntlb);
	printf("walk cost: %llu cycles (%u x cost.ref_mem %u", (unsigned long long)cycles, mem,
	       cfg->cost.ref_mem);
	if (cfg->cost.walk_start)
		printf(" + cost.walk_start %u", cfg->cost.walk_start);
	printf(")\nresult: %#llx -> %#llx (%s TLB entry)\n", (unsigned long long)w->va,
	       (unsigned long long)w->pa, vmem_page_size_name(w->size));
	if (cfg->mode == VMEM_MODE_NESTED)
		print_grid(cfg, w);
}

static void explain_csv(const struct vmem_walk *w, bool header)
{
	if (header)
		printf("address,ref,dim,level,gstep,index,input,table,entry,served\n");
	for (unsigned i = 0; i < w->nrefs; i++) {
		const struct vmem_walk_ref *r = &w->refs[i];

		printf("%#llx,%u,%s,%u,%u,%u,%#llx,%#llx,%#llx,%s\n", (unsigned long long)w->va,
		       i + 1, vmem_dim_name(r->dim), r->level, r->gstep, r->index,
		       (unsigned long long)r->input, (unsigned long long)r->table,
		       (unsigned long long)r->entry, vmem_served_name(r->served));
	}
}

static void explain_json(const struct vmem_walk *w, bool first)
{
	printf("%s\n  {\"address\": \"%#llx\", \"pa\": \"%#llx\", \"page\": \"%s\", \"tlb_hit\": %u, "
	       "\"walks\": %u, \"refs\": [", first ? "" : ",", (unsigned long long)w->va,
	       (unsigned long long)w->pa, vmem_page_size_name(w->size), w->tlb_hit, w->walks);
	for (unsigned i = 0; i < w->nrefs; i++) {
		const struct vmem_walk_ref *r = &w->refs[i];

		printf("%s\n    {\"dim\": \"%s\", \"level\": %u, \"gstep\": %u, \"index\": %u, "
		       "\"input\": \"%#llx\", \"table\": \"%#llx\", \"entry\": \"%#llx\", "
		       "\"served\": \"%s\"}", i ? "," : "", vmem_dim_name(r->dim), r->level, r->gstep,
		       r->index, (unsigned long long)r->input, (unsigned long long)r->table,
		       (unsigned long long)r->entry, vmem_served_name(r->served));
	}
	printf("]}");
}

/* What the command line asks for. */
struct cli {
	struct vmem_mmu_config cfg;
	enum vmem_access_type acc;
	enum output out;
	const char *trace;
	uint64_t limit, vm, asid;
	bool warm, caches;
};

#define PARSED (-1)         /* parse_args: the command line is good, go on */

/*
 * Parses the options into o (set to its defaults first) and leaves optind at the first
 * ADDRESS (the addresses themselves are read as they are walked). Returns PARSED to go
 * on, or the exit status after a message (2) or after --help or --version printed to
 * standard output (0; the caller checks that output with outfile_stdout_close). Never
 * exits.
 */
static int parse_args(int argc, char **argv, struct cli *o)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "set", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "trace", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'n' },
		{ "warm", no_argument, NULL, 'w' },
		{ "caches", no_argument, NULL, 'C' },
		{ "access", required_argument, NULL, 'a' },
		{ "vm", required_argument, NULL, 'V' },
		{ "asid", required_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL;
	char err[256];
	int c;

	memset(o, 0, sizeof(*o));
	vmem_mmu_config_default(&o->cfg);
	o->acc = VMEM_ACC_LOAD;
	o->out = OUT_TEXT;
	/* No valid mode: tells whether the configuration (-s, -c) names one. */
	o->cfg.mode = VMEM_MODES;
	while ((c = getopt_long(argc, argv, "m:s:c:t:n:wCa:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': mode = optarg; break;
		case 's':
			if (vmem_mmu_config_assign(&o->cfg, optarg, err, sizeof(err)))
				return complain(err, "");
			break;
		case 'c':
			if (vmem_mmu_config_load(&o->cfg, optarg, err, sizeof(err)))
				return complain(err, "");
			break;
		case 't': o->trace = optarg; break;
		case 'n':
			if (parse_number(optarg, "--limit", &o->limit))
				return 2;
			break;
		case 'w': o->warm = o->caches = true; break;
		case 'C': o->caches = true; break;
		case 'a':
			if (strcmp(optarg, "load") == 0)
				o->acc = VMEM_ACC_LOAD;
			else if (strcmp(optarg, "store") == 0)
				o->acc = VMEM_ACC_STORE;
			else if (strcmp(optarg, "ifetch") == 0)
				o->acc = VMEM_ACC_IFETCH;
			else
				return complain("--access: expected load, store or ifetch, not ", optarg);
			break;
		case 'V':
			if (parse_number(optarg, "--vm", &o->vm))
				return 2;
			if (o->vm > 65535)
				return complain("--vm: expected 0..65535, not ", optarg);
			break;
		case 'A':
			if (parse_number(optarg, "--asid", &o->asid))
				return 2;
			if (o->asid > UINT32_MAX)
				return complain("--asid: expected a 32-bit number, not ", optarg);
			break;
		case 'o':
			if (strcmp(optarg, "text") == 0)
				o->out = OUT_TEXT;
			else if (strcmp(optarg, "csv") == 0)
				o->out = OUT_CSV;
			else if (strcmp(optarg, "json") == 0)
				o->out = OUT_JSON;
			else
				return complain("--output: expected text, csv or json, not ", optarg);
			break;
		case 'h': fputs(usage, stdout); return 0;
		case 'v':
			printf("vmem-walk (libvmem) %s\n", vmem_version());
			return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (mode && vmem_mode_parse(mode, &o->cfg.mode))
		return complain("--mode: expected native, nested or shadow, not ", mode);
	if (o->cfg.mode == VMEM_MODES)
		o->cfg.mode = VMEM_MODE_NESTED;
	if (!o->caches) {
		static const char *const off[] = {
			"pwc.pml5e=0", "pwc.pml4e=0", "pwc.pdpte=0", "pwc.pde=0", "host.pwc.pml5e=0",
			"host.pwc.pml4e=0", "host.pwc.pdpte=0", "host.pwc.pde=0", "ntlb=0",
		};

		for (size_t k = 0; k < sizeof(off) / sizeof(off[0]); k++)
			vmem_mmu_config_assign(&o->cfg, off[k], NULL, 0);
	}
	if (vmem_mmu_config_check(&o->cfg, err, sizeof(err)))
		return complain("inconsistent configuration: ", err);
	return PARSED;
}

int main(int argc, char **argv)
{
	struct cli o;
	struct vmem_mmu *m, *twin = NULL;
	int rc = parse_args(argc, argv, &o);
	const struct vmem_mmu_config cfg = o.cfg;
	const enum vmem_access_type acc = o.acc;
	const enum output out = o.out;
	const char *const trace = o.trace;
	const uint64_t limit = o.limit, vm = o.vm, asid = o.asid;
	const bool warm = o.warm;

	if (rc != PARSED)
		return outfile_stdout_close("vmem-walk", rc);
	rc = vmem_mmu_create(&cfg, &m);
	if (rc == VMEM_ENOMEM)
		fail("configuration too large for this host: out of host memory creating the "
		     "machine (guest.mem, host.mem, tlb.*, pwc.*, ntlb)", "");
	if (rc)
		fail("cannot create the machine: ", vmem_strerror(rc));
	if (trace)
		replay(m, trace, limit);
	/* The cold walk of --warm: a twin that sees the same records and touches lays out the
	 * same tables and frames, so emptying its caches leaves m's walk caches untouched. */
	if (warm && out == OUT_TEXT) {
		if ((rc = vmem_mmu_create(&cfg, &twin)))
			fail("cannot create the machine: ", vmem_strerror(rc));
		if (trace)
			replay(twin, trace, limit);
	}
	if (out == OUT_JSON)
		printf("[");
	for (int i = optind; i < argc; i++) {
		uint64_t va, pa;
		struct vmem_walk w;

		if (parse_number(argv[i], "address", &va))
			exit(2);

		/* Touch first, so the explained walk is not a faulting one. */
		if (vmem_mmu_translate(m, (uint16_t)vm, (uint32_t)asid, va, acc, NULL, &pa)) {
			fprintf(stderr, "vmem-walk: %s: %s\n", argv[i], vmem_mmu_error(m));
			vmem_mmu_destroy(m);
			vmem_mmu_destroy(twin);
			return 1;
		}
		if (twin) {
			struct vmem_walk cold;

			rc = vmem_mmu_translate(twin, (uint16_t)vm, (uint32_t)asid, va, acc, NULL, &pa);
			if (!rc) {
				vmem_mmu_flush_caches(twin);
				rc = vmem_mmu_translate(twin, (uint16_t)vm, (uint32_t)asid, va, acc,
							&cold, &pa);
			}
			if (rc) {
				fprintf(stderr, "vmem-walk: %s: %s\n", argv[i], vmem_mmu_error(twin));
				vmem_mmu_destroy(m);
				vmem_mmu_destroy(twin);
				return 1;
			}
			printf("%s== cold walk: TLB and walk caches empty\n", i > optind ? "\n" : "");
			explain_text(&cfg, &cold, acc, (uint16_t)vm, (uint32_t)asid);
			printf("\n== warm walk: the walk caches as %s left them, the TLB empty\n",
			       trace ? "the trace and the touches" : "the touches");
		}
		if (warm)
			vmem_mmu_flush_tlb(m);
		else
			vmem_mmu_flush_caches(m);
		if (vmem_mmu_translate(m, (uint16_t)vm, (uint32_t)asid, va, acc, &w, &pa)) {
			fprintf(stderr, "vmem-walk: %s: %s\n", argv[i], vmem_mmu_error(m));
			vmem_mmu_destroy(m);
			vmem_mmu_destroy(twin);
			return 1;
		}
		if (out == OUT_TEXT) {
			if (i > optind && !twin)
				printf("\n");
			explain_text(&cfg, &w, acc, (uint16_t)vm, (uint32_t)asid);
		} else if (out == OUT_CSV) {
			explain_csv(&w, i == optind);
		} else {
			explain_json(&w, i == optind);
		}
	}
	if (out == OUT_JSON)
		printf("\n]\n");
	vmem_mmu_destroy(m);
	vmem_mmu_destroy(twin);
	return outfile_stdout_close("vmem-walk", 0);
}
