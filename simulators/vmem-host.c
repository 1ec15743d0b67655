/*
 * vmem-host: several VMs on one host with less memory than they were promised. Each trace
 * is one VM's memory accesses; the VMs take turns on a translation machine (nested or
 * shadow paging) whose host memory is managed by the host memory manager with its swap,
 * dedup and balloon policies. Prints a summary per VM and writes a time series of every
 * VM's memory by page state, faults, swap I/O and translation cycles.
 *
 * Time is the machine's cycles (every access, walk, exit and fault, host stalls
 * included); background work (swap daemon, dedup scanner, balloon controller) runs as it
 * passes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmem/balloon.h"
#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "vmem/mmu.h"
#include "vmem/trace.h"

#include "trace/textout.h"
#include "trace/trace_outfile.h"

#define MAX_VMS 256
#define BATCH 4096

static const char usage[] =
"usage: vmem-host [options] TRACE...\n"
"\n"
"Runs VM i on TRACE i (i = 0, 1, ...; Lackey, ChampSim or .vmt, compressed or not), all on\n"
"one host of host.mem bytes, taking turns of --quantum records, and prints per VM its\n"
"memory by page state (resident, shared, zero, swapped, compressed, ballooned), host\n"
"faults, swap I/O and cycles. With one TRACE and --vm-ids, the VMs are the VM ids the\n"
"trace's records carry.\n"
"\n"
"options:\n"
"  -m, --mode MODE      nested or shadow (default nested)\n"
"  -s, --set KEY=VALUE  set a host or translation key (repeatable; --help-config lists\n"
"                       the host keys, vmemsim --help-config the translation keys)\n"
"  -c, --config FILE    read KEY=VALUE lines from FILE ('#' starts a comment)\n"
"      --shares LIST    shares per VM for proportional policies: 0=2000,1=1000\n"
"      --quantum N      records of one VM per turn (default 10000)\n"
"      --phases FILE    demand over time: lines TIME_MS VM RATE (RATE x the quantum from\n"
"                       TIME_MS on; 0 idles the VM)\n"
"      --vm-ids         one TRACE whose records carry their VM ids\n"
"  -n, --limit N        replay at most N records of each trace\n"
"      --series FILE    CSV time series: one row per VM every --interval of simulated time\n"
"      --interval MS    time series step in simulated milliseconds (default 1)\n"
"      --csv FILE       CSV summary: one row per VM, then the configuration as cfg.KEY\n"
"      --json FILE      JSON summary: configuration, host, dedup counters, VMs\n"
"      --check          check every invariant of the manager after every turn (slow)\n"
"      --explain VM:GFN the story of guest page GFN of VM (repeatable, up to 64 pages):\n"
"                       every state change with its time, cause and cost\n"
"      --explain-reclaim N  the story of the victims of the Nth reclaim pass, from it on\n"
"      --explain-balloon N  the story of the first N pages the balloons take\n"
"      --explain-json FILE  the stories as JSON\n"
"  -q, --quiet          no table on standard output (the stories of --explain stay)\n"
"      --help-config    the host memory manager's keys with their defaults\n"
"      --help-policies  the swap, dedup and balloon policies and their parameters\n"
"  -h, --help           this text\n"
"      --version        the version of vmem-host and libvmem\n"
"\n"
"examples:\n"
"  vmem-host -s host.mem=24m -s guest.mem=16m traces/lackey/sort-words.lackey.zst \\\n"
"            traces/lackey/gzip-text.lackey.zst\n"
"  vmem-host -s host.mem=24m -s guest.mem=16m -s zswap.percent=20 -s swap=random \\\n"
"            --series series.csv traces/lackey/sort-words.lackey.zst \\\n"
"            traces/lackey/gzip-text.lackey.zst\n";

struct vmrun {
	uint16_t id;
	const char *path;
	struct vmem_trace_reader *r;
	bool done;
	uint64_t records;
	/* The machine's counters while this VM ran. */
	uint64_t cycles, cycles_faults, accesses, tlb_misses, walk_refs;
};

struct options {
	struct vmem_host_config hc;
	struct vmem_mmu_config mc;
	uint32_t shares[MAX_VMS];
	uint64_t quantum, limit, interval_ms;
	const char *series, *csv, *json, *phases, *explain_json;
	uint16_t explain_vm[64];
	uint64_t explain_gfn[64], explain_reclaim, explain_balloon;
	unsigned nexplain;
	bool vm_ids, check, quiet;
	struct vmem_trace_reader_opts ropts;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("vmem-host: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t number(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < min || v > max)
		die("%s %s: expected a whole number from %" PRIu64 " to %" PRIu64, opt, s, min,
		    max);
	return v;
}

static void parse_shares(struct options *o, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (!copy)
		die("out of memory");
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq)
			die("--shares %s: expected VM=SHARES items, got '%s'", list, item);
		*eq = '\0';
		o->shares[number("--shares", item, 0, MAX_VMS - 1)] =
			(uint32_t)number("--shares", eq + 1, 1, 1000000);
	}
	free(copy);
}

/* --explain VM:GFN (GFN decimal or 0x hex). */
static void parse_explain(struct options *o, const char *arg)
{
	const char *colon = strchr(arg, ':');
	char vm[16];
	char *end;
	unsigned long long gfn;

	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(vm))
		die("--explain %s: expected VM:GFN, e.g. 0:0x1a3", arg);
	memcpy(vm, arg, (size_t)(colon - arg));
	vm[colon - arg] = '\0';
	errno = 0;
	gfn = strtoull(colon + 1, &end, 0);
	if (!colon[1] || *end || errno || colon[1] == '-')
		die("--explain %s: expected VM:GFN, e.g. 0:0x1a3", arg);
	if (o->nexplain == 64)
		die("--explain: at most 64 pages");
	o->explain_vm[o->nexplain] = (uint16_t)number("--explain", vm, 0, MAX_VMS - 1);
	o->explain_gfn[o->nexplain++] = gfn;
}

static void help_config(void)
{
	struct vmem_host_config def;
	char val[VMEM_HOST_POLICY_SPEC];

	vmem_host_config_default(&def);
	printf("host memory manager keys (KEY=VALUE; defaults in brackets):\n\n");
	for (const struct vmem_host_config_key *k = vmem_host_config_keys(); k->name; k++) {
		vmem_host_config_get(&def, k->name, val, sizeof(val));
		printf("  %-20s %s [%s]\n", k->name, k->help, val);
	}
	printf("\nThe translation machine's keys (vmemsim --help-config) apply too; host.mem\n"
	       "and seed set both. guest.mem is each VM's memory.\n");
}

static void help_policies(void)
{
	printf("swap victim policies (swap=NAME[:KEY=VALUE...]):\n");
	for (const struct vmem_swap_policy_ops *const *p = vmem_swap_policies(); *p; p++)
		printf("  %-16s %s\n", (*p)->name, (*p)->help);
	printf("\nsame-page deduplication (dedup=NAME[:KEY=VALUE...]):\n");
	for (const struct vmem_dedup_ops *const *p = vmem_dedups(); *p; p++)
		printf("  %-16s %s\n", (*p)->name, (*p)->help);
	printf("\nballoon target policies (balloon=NAME[:KEY=VALUE...]):\n");
	for (const struct vmem_balloon_policy_ops *const *p = vmem_balloon_policies(); *p; p++)
		printf("  %-16s %s\n", (*p)->name, (*p)->help);
	printf("\nnone turns a mechanism off.\n");
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum { O_SHARES = 256, O_QUANTUM, O_PHASES, O_VMIDS, O_SERIES, O_INTERVAL, O_CSV, O_JSON,
	       O_CHECK, O_EXPLAIN, O_EXPLAIN_RECLAIM, O_EXPLAIN_BALLOON, O_EXPLAIN_JSON, O_HELPCFG,
	       O_HELPPOL,
	       O_VERSION };
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "set", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "shares", required_argument, NULL, O_SHARES },
		{ "quantum", required_argument, NULL, O_QUANTUM },
		{ "phases", required_argument, NULL, O_PHASES },
		{ "vm-ids", no_argument, NULL, O_VMIDS },
		{ "limit", required_argument, NULL, 'n' },
		{ "series", required_argument, NULL, O_SERIES },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "csv", required_argument, NULL, O_CSV },
		{ "json", required_argument, NULL, O_JSON },
		{ "check", no_argument, NULL, O_CHECK },
		{ "explain", required_argument, NULL, O_EXPLAIN },
		{ "explain-reclaim", required_argument, NULL, O_EXPLAIN_RECLAIM },
		{ "explain-balloon", required_argument, NULL, O_EXPLAIN_BALLOON },
		{ "explain-json", required_argument, NULL, O_EXPLAIN_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help-config", no_argument, NULL, O_HELPCFG },
		{ "help-policies", no_argument, NULL, O_HELPPOL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	char err[320];
	int c;

	while ((c = getopt_long(argc, argv, "m:s:c:n:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "nested") && strcmp(optarg, "shadow"))
				die("--mode %s: expected nested or shadow (a host memory manager needs "
				    "a host)", optarg);
			vmem_mode_parse(optarg, &o->mc.mode);
			break;
		case 's':
			if (vmem_host_setup_assign(&o->hc, &o->mc, optarg, err, sizeof(err)))
				die("-s %s", err);
			break;
		case 'c':
			if (vmem_host_setup_load(&o->hc, &o->mc, optarg, err, sizeof(err)))
				die("%s", err);
			break;
		case O_SHARES: parse_shares(o, optarg); break;
		case O_QUANTUM: o->quantum = number("--quantum", optarg, 1, 1ull << 32); break;
		case O_PHASES: o->phases = optarg; break;
		case O_VMIDS: o->vm_ids = true; break;
		case 'n': o->limit = number("--limit", optarg, 1, UINT64_MAX); break;
		case O_SERIES: o->series = optarg; break;
		case O_INTERVAL: o->interval_ms = number("--interval", optarg, 1, 1ull << 40); break;
		case O_CSV: o->csv = optarg; break;
		case O_JSON: o->json = optarg; break;
		case O_CHECK: o->check = true; break;
		case O_EXPLAIN: parse_explain(o, optarg); break;
		case O_EXPLAIN_RECLAIM:
			o->explain_reclaim = number("--explain-reclaim", optarg, 1, UINT64_MAX);
			break;
		case O_EXPLAIN_BALLOON:
			o->explain_balloon = number("--explain-balloon", optarg, 1, 64);
			break;
		case O_EXPLAIN_JSON: o->explain_json = optarg; break;
		case 'q': o->quiet = true; break;
		case O_HELPCFG: help_config(); exit(outfile_stdout_close("vmem-host", 0));
		case O_HELPPOL: help_policies(); exit(outfile_stdout_close("vmem-host", 0));
		case 'h': fputs(usage, stdout); exit(outfile_stdout_close("vmem-host", 0));
		case O_VERSION:
			printf("vmem-host (libvmem) %s\n", vmem_version());
			exit(outfile_stdout_close("vmem-host", 0));
		default:
			fputs("Try 'vmem-host --help'.\n", stderr);
			exit(2);
		}
	}
	if (o->mc.mode == VMEM_MODE_NATIVE)
		die("mode=native: a host memory manager needs nested or shadow mode");
	if (optind >= argc)
		die("no trace given (vmem-host --help says how to run it)");
	if (o->vm_ids && argc - optind != 1)
		die("--vm-ids takes one trace, %d given", argc - optind);
	if (argc - optind > MAX_VMS)
		die("%d traces: at most %d VMs", argc - optind, MAX_VMS);
}

/* ---- the run ---- */

struct sim {
	const struct options *o;
	struct vmem_mmu *m;
	struct vmem_host *h;
	struct vmem_host_phases *phases;
	struct vmrun vms[MAX_VMS];
	struct vmrun *by_id[65536];
	size_t nvms;
	struct vmem_mmu_stats mark;   /* counters at the last attribution */
	struct vmrun *current;
	FILE *series;
	uint64_t next_sample;         /* cycles */
	uint64_t cycles_per_ms;
};

static struct vmrun *vm_of(struct sim *s, uint16_t id)
{
	struct vmrun *v = s->by_id[id];

	if (v)
		return v;
	if (s->nvms == MAX_VMS)
		die("more than %d VMs in the trace", MAX_VMS);
	v = &s->vms[s->nvms++];
	v->id = id;
	s->by_id[id] = v;
	return v;
}

/* Charges the machine's counters since the last call to the VM that ran. */
static void attribute(struct sim *s)
{
	const struct vmem_mmu_stats *st = vmem_mmu_stats(s->m);
	struct vmrun *v = s->current;

	if (v) {
		v->cycles += st->cycles_total - s->mark.cycles_total;
		v->cycles_faults += st->cycles_faults - s->mark.cycles_faults;
		v->accesses += st->accesses - s->mark.accesses;
		v->tlb_misses += st->tlb_misses - s->mark.tlb_misses;
		v->walk_refs += st->walk_refs - s->mark.walk_refs;
	}
	if (vmem_host_advance(s->h, st->cycles_total - s->mark.cycles_total))
		die("%s", vmem_host_error(s->h));
	s->mark = *st;
}

static const char *const series_states[VMEM_PG_STATES] = {
	"untouched", "resident", "shared", "zero", "swapped", "compressed", "ballooned",
};

static void series_header(FILE *f)
{
	fputs("time_ms,vm", f);
	for (int i = 0; i < VMEM_PG_STATES; i++)
		fprintf(f, ",%s", series_states[i]);
	fputs(",records,faults,faults_first,faults_swapin,faults_decompress,faults_cow,swap_out,"
	      "compress_out,reclaimed,balloon_target,cycles_stalled,cycles,cycles_per_access,"
	      "host_free,host_zswap_frames,host_swap_used,pages_shared,pages_sharing\n", f);
}

static double dedup_counter(struct vmem_host *h, const char *name)
{
	double v = 0;

	vmem_host_dedup_stat(h, name, &v);
	return v;
}

static void series_rows(struct sim *s)
{
	struct vmem_host_stats hs;
	double shared = dedup_counter(s->h, "pages_shared");
	double sharing = dedup_counter(s->h, "pages_sharing");

	vmem_host_stats(s->h, &hs);
	for (size_t i = 0; i < s->nvms; i++) {
		const struct vmrun *v = &s->vms[i];
		struct vmem_host_vm_stats st;

		if (vmem_host_vm_stats(s->h, v->id, &st))
			continue;   /* not started yet */
		fprintf(s->series, "%.3f,%u", (double)hs.now / (double)s->cycles_per_ms, v->id);
		for (int k = 0; k < VMEM_PG_STATES; k++)
			fprintf(s->series, ",%" PRIu64, st.state[k]);
		fprintf(s->series, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%.4f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.0f,%.0f\n",
			v->records, st.faults, st.faults_first, st.faults_swapin,
			st.faults_decompress, st.faults_cow, st.swap_out, st.compress_out,
			st.reclaimed, st.balloon_target, st.cycles_stalled, v->cycles,
			v->accesses ? (double)v->cycles / (double)v->accesses : 0.0,
			hs.frames_free, hs.frames_zswap, hs.swap_slots_used, shared, sharing);
	}
}

static void sample(struct sim *s)
{
	uint64_t now = vmem_host_now(s->h);

	if (!s->series)
		return;
	while (now >= s->next_sample) {
		series_rows(s);
		s->next_sample += s->o->interval_ms * s->cycles_per_ms;
	}
}

static void check(struct sim *s)
{
	char err[256];

	if (s->o->check && vmem_host_check(s->h, err, sizeof(err)))
		die("invariant broken: %s", err);
}

static void apply_error(struct sim *s, struct vmem_trace_reader *r, size_t idx)
{
	char where[512];

	vmem_trace_record_position(r, idx, where, sizeof(where));
	fprintf(stderr, "vmem-host: %s: %s\n", where, vmem_mmu_error(s->m));
	exit(1);
}

static struct vmem_trace_reader *open_trace(const struct options *o, const char *path,
					    uint16_t vm)
{
	struct vmem_trace_reader_opts ro = o->ropts;
	struct vmem_trace_reader *r = NULL;

	ro.vm = vm;
	if (vmem_trace_open(path, &ro, &r)) {
		fprintf(stderr, "vmem-host: %s\n", r ? vmem_trace_error(r) : path);
		exit(1);
	}
	return r;
}

/* Reads up to n records of v's trace into the machine; false at the end of the trace. */
static bool run_turn(struct sim *s, struct vmrun *v, uint64_t n)
{
	static struct vmem_trace_rec recs[BATCH];
	struct vmem_trace_rec sw = { .type = VMEM_REC_SWITCH_VM, .vm = v->id };

	if (s->current != v) {
		attribute(s);
		s->current = v;
		if (vmem_mmu_apply(s->m, &sw))
			die("VM %u: %s", v->id, vmem_mmu_error(s->m));
	}
	while (n > 0) {
		uint64_t want = n < BATCH ? n : BATCH;
		long got;

		if (s->o->limit && v->records + want > s->o->limit)
			want = s->o->limit - v->records;
		got = want ? vmem_trace_read(v->r, recs, want) : 0;
		if (got < 0) {
			fprintf(stderr, "vmem-host: %s\n", vmem_trace_error(v->r));
			exit(1);
		}
		if (got == 0)
			return false;
		for (long i = 0; i < got; i++) {
			recs[i].vm = v->id;
			if (vmem_mmu_apply(s->m, &recs[i]))
				apply_error(s, v->r, (size_t)i);
		}
		v->records += (uint64_t)got;
		n -= (uint64_t)got;
	}
	return true;
}

/* VMs take turns, each a quantum scaled by its phase's rate. */
static void run_interleaved(struct sim *s)
{
	size_t left = s->nvms;

	while (left > 0) {
		bool ran = false;

		for (size_t i = 0; i < s->nvms; i++) {
			struct vmrun *v = &s->vms[i];
			uint64_t now_ms = vmem_host_now(s->h) / s->cycles_per_ms;
			double rate = vmem_host_phases_rate(s->phases, v->id, now_ms);
			uint64_t n = (uint64_t)((double)s->o->quantum * rate);

			if (v->done || n == 0)
				continue;
			ran = true;
			if (!run_turn(s, v, n)) {
				v->done = true;
				left--;
			}
			attribute(s);
			check(s);
			sample(s);
		}
		if (!ran && left > 0) {
			/* Every VM left idles: time passes to the next phase change. */
			uint64_t now_ms = vmem_host_now(s->h) / s->cycles_per_ms;
			uint64_t next = vmem_host_phases_next(s->phases, now_ms);

			if (next == UINT64_MAX)
				break;   /* idle for ever: the scenario is over */
			if (vmem_host_advance(s->h, (next - now_ms) * s->cycles_per_ms))
				die("%s", vmem_host_error(s->h));
			sample(s);
		}
	}
}

/* One trace whose records carry VM ids: charged to the VM each record names. */
static void run_vm_ids(struct sim *s, const char *path)
{
	static struct vmem_trace_rec recs[BATCH];
	struct vmem_trace_reader *r = open_trace(s->o, path, 0);
	uint64_t total = 0, since = 0;
	long got;

	while ((got = vmem_trace_read(r, recs, BATCH)) > 0) {
		for (long i = 0; i < got; i++) {
			struct vmrun *v = vm_of(s, recs[i].vm);

			if (s->o->limit && total >= s->o->limit)
				break;
			if (v != s->current) {
				attribute(s);
				s->current = v;
				v->path = path;
			}
			if (vmem_mmu_apply(s->m, &recs[i]))
				apply_error(s, r, (size_t)i);
			v->records++;
			total++;
			if (++since == s->o->quantum) {
				since = 0;
				attribute(s);
				check(s);
				sample(s);
			}
		}
		if (s->o->limit && total >= s->o->limit)
			break;
	}
	if (got < 0) {
		fprintf(stderr, "vmem-host: %s\n", vmem_trace_error(r));
		exit(1);
	}
	attribute(s);
	check(s);
	sample(s);
	vmem_trace_close(r);
}

/* ---- reports ---- */

static FILE *open_out(const char *path, struct outfile *of)
{
	char err[512];
	FILE *f;

	if (outfile_begin(of, path, err, sizeof(err)))
		die("%s", err);
	f = strcmp(outfile_path(of), "-") == 0 ? stdout : fopen(outfile_path(of), "w");
	if (!f)
		die("%s: cannot create: %s", path, strerror(errno));
	return f;
}

static void close_out(FILE *f, struct outfile *of)
{
	char err[512];

	if (fflush(f) || ferror(f) || (f != stdout && fclose(f))) {
		outfile_abort(of);
		die("%s: write failed: %s", of->target, strerror(errno));
	}
	if (outfile_commit(of, err, sizeof(err)))
		die("%s", err);
}

static double mib(uint64_t pages)
{
	return (double)pages / 256.0;
}

static void print_table(struct sim *s)
{
	struct vmem_host_stats hs;

	vmem_host_stats(s->h, &hs);
	printf("host: %.1f MiB, %.1f MiB free, compressed tier %.1f MiB, swap %.1f MiB used; "
	       "%.3f ms simulated\n", mib(hs.frames), mib(hs.frames_free), mib(hs.frames_zswap),
	       mib(hs.swap_slots_used), (double)hs.now / (double)s->cycles_per_ms);
	printf("%-3s %-28s %10s %9s %9s %9s %9s %9s %9s %9s %9s %9s %12s %8s\n", "vm", "trace",
	       "records", "resident", "shared", "zero", "swapped", "compress", "balloon",
	       "swapins", "decomp", "cow", "stall_cyc", "cyc/acc");
	for (size_t i = 0; i < s->nvms; i++) {
		const struct vmrun *v = &s->vms[i];
		struct vmem_host_vm_stats st;
		const char *name = v->path ? strrchr(v->path, '/') : NULL;

		if (vmem_host_vm_stats(s->h, v->id, &st))
			memset(&st, 0, sizeof(st));
		printf("%-3u %-28.28s %10" PRIu64 " %8.1fM %8.1fM %8.1fM %8.1fM %8.1fM %8.1fM "
		       "%9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %12" PRIu64 " %8.2f\n", v->id,
		       name ? name + 1 : v->path ? v->path : "-", v->records,
		       mib(st.state[VMEM_PG_RESIDENT]), mib(st.state[VMEM_PG_SHARED]),
		       mib(st.state[VMEM_PG_ZERO]), mib(st.state[VMEM_PG_SWAPPED]),
		       mib(st.state[VMEM_PG_COMPRESSED]), mib(st.state[VMEM_PG_BALLOONED]),
		       st.faults_swapin, st.faults_decompress, st.faults_cow, st.cycles_stalled,
		       v->accesses ? (double)v->cycles / (double)v->accesses : 0.0);
	}
}

/* The stories of the watched pages, page by page, in time order. */
static void print_stories(struct sim *s)
{
	uint64_t dropped;
	size_t n;
	const struct vmem_host_event *ev = vmem_host_events(s->h, &n, &dropped);
	uint64_t done[64 + 64];   /* pages printed, as vm << 40 | gfn */
	size_t ndone = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t key = (uint64_t)ev[i].vm << 40 | ev[i].gfn;
		bool seen = false;

		for (size_t k = 0; k < ndone; k++)
			seen |= done[k] == key;
		if (seen || ndone == sizeof(done) / sizeof(done[0]))
			continue;
		done[ndone++] = key;
		printf("\nthe story of VM %u page %#" PRIx64 " (guest-physical %#" PRIx64 "):\n",
		       ev[i].vm, ev[i].gfn, ev[i].gfn << 12);
		printf("  %10s  %-24s %10s  %s\n", "time (ms)", "state", "cost (cyc)", "cause");
		for (size_t j = i; j < n; j++) {
			char change[48];

			if (ev[j].vm != ev[i].vm || ev[j].gfn != ev[i].gfn)
				continue;
			snprintf(change, sizeof(change), "%s -> %s", vmem_page_state_name(ev[j].from),
				 vmem_page_state_name(ev[j].to));
			printf("  %10.3f  %-24s %10" PRIu64 "  %s\n",
			       (double)ev[j].time / (double)s->cycles_per_ms, change, ev[j].cycles,
			       ev[j].cause);
		}
	}
	for (unsigned i = 0; i < s->o->nexplain; i++) {
		uint64_t key = (uint64_t)s->o->explain_vm[i] << 40 | s->o->explain_gfn[i];
		bool seen = false;

		for (size_t k = 0; k < ndone; k++)
			seen |= done[k] == key;
		if (!seen)
			printf("\nVM %u page %#" PRIx64 ": never changed state (untouched all along)\n",
			       s->o->explain_vm[i], s->o->explain_gfn[i]);
	}
	if (dropped)
		printf("(%" PRIu64 " more changes were not kept: at most %d)\n", dropped,
		       VMEM_HOST_EVENTS_MAX);
}

static void write_stories_json(struct sim *s, const char *path)
{
	struct outfile of;
	FILE *f = open_out(path, &of);
	uint64_t dropped;
	size_t n;
	const struct vmem_host_event *ev = vmem_host_events(s->h, &n, &dropped);

	fprintf(f, "{\n  \"cpu_hz\": %" PRIu64 ",\n  \"dropped\": %" PRIu64 ",\n  \"events\": [",
		s->o->hc.cpu_hz, dropped);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"time_cycles\": %" PRIu64 ", \"time_ms\": %.6f, \"vm\": %u, "
			"\"gfn\": %" PRIu64 ", \"from\": \"%s\", \"to\": \"%s\", \"cycles\": %" PRIu64
			", \"cause\": ", i ? "," : "", ev[i].time,
			(double)ev[i].time / (double)s->cycles_per_ms, ev[i].vm, ev[i].gfn,
			vmem_page_state_name(ev[i].from), vmem_page_state_name(ev[i].to), ev[i].cycles);
		text_json_string(f, ev[i].cause);
		fputc('}', f);
	}
	fputs("\n  ]\n}\n", f);
	close_out(f, &of);
}

/* The per-VM columns of the CSV and JSON summaries, in order. */
#define VM_FIELDS(X) \
	X(records, v->records) X(accesses, v->accesses) X(cycles, v->cycles) \
	X(cycles_faults, v->cycles_faults) X(tlb_misses, v->tlb_misses) \
	X(walk_refs, v->walk_refs) X(pages, st.pages) \
	X(untouched, st.state[VMEM_PG_UNTOUCHED]) X(resident, st.state[VMEM_PG_RESIDENT]) \
	X(shared, st.state[VMEM_PG_SHARED]) X(zero, st.state[VMEM_PG_ZERO]) \
	X(swapped, st.state[VMEM_PG_SWAPPED]) X(compressed, st.state[VMEM_PG_COMPRESSED]) \
	X(ballooned, st.state[VMEM_PG_BALLOONED]) X(faults, st.faults) \
	X(faults_first, st.faults_first) X(faults_swapin, st.faults_swapin) \
	X(faults_decompress, st.faults_decompress) X(faults_cow, st.faults_cow) \
	X(swap_out, st.swap_out) X(compress_out, st.compress_out) X(reclaimed, st.reclaimed) \
	X(balloon_target, st.balloon_target) X(balloon_inflated, st.balloon_inflated) \
	X(balloon_deflated, st.balloon_deflated) X(guest_swap_out, st.guest_swap_out) \
	X(guest_swap_in, st.guest_swap_in) X(guest_freed, st.guest_freed) \
	X(silent_swap_writes, st.silent_swap_writes) X(stale_swap_reads, st.stale_swap_reads) \
	X(false_swap_reads, st.false_swap_reads) X(double_paging, st.double_paging) \
	X(decayed_swap_reads, st.decayed_swap_reads) \
	X(cycles_stalled, st.cycles_stalled) X(thp_huge, st.thp_huge) \
	X(thp_faults, st.thp_faults) X(thp_splits, st.thp_splits) \
	X(thp_split_reclaim, st.thp_split_by[0]) X(thp_split_dedup, st.thp_split_by[1]) \
	X(thp_split_balloon, st.thp_split_by[2]) X(thp_split_other, st.thp_split_by[3]) \
	X(thp_collapses, st.thp_collapses)

static void write_csv(struct sim *s, const char *path)
{
	const struct vmem_host_config_key *keys = vmem_host_config_keys();
	struct outfile of;
	FILE *f = open_out(path, &of);
	char val[VMEM_HOST_POLICY_SPEC];

	fputs("vm,trace,mode", f);
#define NAME(n, e) fputs("," #n, f);
	VM_FIELDS(NAME)
#undef NAME
	for (const struct vmem_host_config_key *k = keys; k->name; k++)
		fprintf(f, ",cfg.%s", k->name);
	fputs(",cfg.guest.mem\n", f);
	for (size_t i = 0; i < s->nvms; i++) {
		const struct vmrun *v = &s->vms[i];
		struct vmem_host_vm_stats st;
		char *label = text_csv_quote(v->path ? v->path : "");

		if (!label)
			die("out of memory");
		memset(&st, 0, sizeof(st));
		vmem_host_vm_stats(s->h, v->id, &st);
		fprintf(f, "%u,%s,%s", v->id, label, vmem_mode_name(s->o->mc.mode));
		free(label);
#define VALUE(n, e) fprintf(f, ",%" PRIu64, (uint64_t)(e));
		VM_FIELDS(VALUE)
#undef VALUE
		for (const struct vmem_host_config_key *k = keys; k->name; k++) {
			char *q;

			vmem_host_config_get(&s->o->hc, k->name, val, sizeof(val));
			if (!(q = text_csv_quote(val)))
				die("out of memory");
			fprintf(f, ",%s", q);
			free(q);
		}
		fprintf(f, ",%" PRIu64 "\n", s->o->mc.guest_mem);
	}
	close_out(f, &of);
}

static void write_json(struct sim *s, const char *path)
{
	struct outfile of;
	FILE *f = open_out(path, &of);
	struct vmem_host_stats hs;
	char val[VMEM_HOST_POLICY_SPEC];
	const char *sep = "";

	vmem_host_stats(s->h, &hs);
	fprintf(f, "{\n  \"version\": \"%s\",\n  \"mode\": \"%s\",\n  \"config\": {",
		vmem_version(), vmem_mode_name(s->o->mc.mode));
	for (const struct vmem_host_config_key *k = vmem_host_config_keys(); k->name; k++) {
		vmem_host_config_get(&s->o->hc, k->name, val, sizeof(val));
		fprintf(f, "%s\n    \"%s\": ", sep, k->name);
		text_json_string(f, val);
		sep = ",";
	}
	fprintf(f, ",\n    \"guest.mem\": \"%" PRIu64 "\"\n  },\n", s->o->mc.guest_mem);
	fprintf(f, "  \"host\": {\"frames\": %" PRIu64 ", \"frames_free\": %" PRIu64
		", \"frames_private\": %" PRIu64 ", \"frames_shared\": %" PRIu64
		", \"frames_zswap\": %" PRIu64 ", \"zswap_bytes\": %" PRIu64
		", \"swap_slots_used\": %" PRIu64 ", \"swap_reads\": %" PRIu64
		", \"swap_writes\": %" PRIu64 ", \"reclaim_direct\": %" PRIu64
		", \"reclaim_daemon\": %" PRIu64 ", \"cycles_daemon\": %" PRIu64
		", \"cow_breaks\": %" PRIu64 ", \"cycles\": %" PRIu64
		", \"metadata_bytes\": %zu},\n", hs.frames, hs.frames_free, hs.frames_private,
		hs.frames_shared, hs.frames_zswap, hs.zswap_bytes, hs.swap_slots_used,
		hs.swap_reads, hs.swap_writes, hs.reclaim_direct, hs.reclaim_daemon,
		hs.cycles_daemon, hs.cow_breaks, hs.now, hs.metadata_bytes);
	fputs("  \"dedup\": {", f);
	sep = "";
	for (const char *const *n = vmem_host_dedup_stat_names(s->h); *n; n++) {
		fprintf(f, "%s\"%s\": %.0f", sep, *n, dedup_counter(s->h, *n));
		sep = ", ";
	}
	fputs("},\n  \"vms\": [", f);
	for (size_t i = 0; i < s->nvms; i++) {
		const struct vmrun *v = &s->vms[i];
		struct vmem_host_vm_stats st;

		memset(&st, 0, sizeof(st));
		vmem_host_vm_stats(s->h, v->id, &st);
		fprintf(f, "%s\n    {\"vm\": %u, \"trace\": ", i ? "," : "", v->id);
		text_json_string(f, v->path ? v->path : "");
#define VALUE(n, e) fprintf(f, ", \"" #n "\": %" PRIu64, (uint64_t)(e));
		VM_FIELDS(VALUE)
#undef VALUE
		/* The statistics report a virtio-balloon device would send, every tag. */
		{
			struct vmem_balloon_stat bs[VMEM_BALLOON_STAT_TAGS];
			int nb = vmem_host_balloon_stats(s->h, v->id, bs, VMEM_BALLOON_STAT_TAGS);

			fputs(", \"virtio_balloon_stats\": {", f);
			for (int k = 0; k < nb; k++)
				fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", bs[k].name, bs[k].value);
			fputc('}', f);
		}
		fputc('}', f);
	}
	fputs("\n  ]\n}\n", f);
	close_out(f, &of);
}

int main(int argc, char **argv)
{
	static struct options o;
	static struct sim s;
	struct outfile series_of;
	char err[512];
	int rc;

	vmem_host_config_default(&o.hc);
	vmem_mmu_config_default(&o.mc);
	o.mc.mode = VMEM_MODE_NESTED;
	o.quantum = 10000;
	o.interval_ms = 1;
	vmem_trace_reader_opts_default(&o.ropts);
	for (int i = 0; i < MAX_VMS; i++)
		o.shares[i] = 1000;
	parse_args(argc, argv, &o);
	s.o = &o;
	o.hc.vm_mem = o.mc.guest_mem;
	if ((rc = vmem_mmu_config_check(&o.mc, err, sizeof(err))))
		die("%s", err);
	if ((rc = vmem_mmu_create(&o.mc, &s.m)))
		die("cannot create the translation machine: %s", vmem_strerror(rc));
	if ((rc = vmem_host_create(&o.hc, &s.h, err, sizeof(err))))
		die("%s", err);
	if (vmem_host_attach(s.h, s.m))
		die("%s", vmem_host_error(s.h));
	if (o.phases && vmem_host_phases_load(o.phases, &s.phases, err, sizeof(err)))
		die("%s", err);
	for (unsigned i = 0; i < o.nexplain; i++)
		if (vmem_host_watch(s.h, o.explain_vm[i], o.explain_gfn[i]))
			die("%s", vmem_host_error(s.h));
	if (o.explain_reclaim && vmem_host_watch_reclaim(s.h, o.explain_reclaim))
		die("%s", vmem_host_error(s.h));
	vmem_host_watch_balloon(s.h, o.explain_balloon);
	s.cycles_per_ms = o.hc.cpu_hz / 1000;
	s.next_sample = 0;
	if (o.series) {
		s.series = open_out(o.series, &series_of);
		series_header(s.series);
	}
	if (o.vm_ids) {
		run_vm_ids(&s, argv[optind]);
	} else {
		for (int t = optind; t < argc; t++) {
			struct vmrun *v = vm_of(&s, (uint16_t)(t - optind));

			v->path = argv[t];
			v->r = open_trace(&o, argv[t], v->id);
			if (vmem_host_add_vm(s.h, v->id, o.mc.guest_mem, o.shares[v->id]))
				die("%s", vmem_host_error(s.h));
		}
		run_interleaved(&s);
	}
	attribute(&s);
	if (vmem_host_check(s.h, err, sizeof(err)))
		die("invariant broken at the end: %s", err);
	if (s.series) {
		series_rows(&s);
		close_out(s.series, &series_of);
	}
	if (!o.quiet)
		print_table(&s);
	if (o.nexplain || o.explain_reclaim || o.explain_balloon)
		print_stories(&s);
	if (o.explain_json)
		write_stories_json(&s, o.explain_json);
	if (o.csv)
		write_csv(&s, o.csv);
	if (o.json)
		write_json(&s, o.json);
	for (size_t i = 0; i < s.nvms; i++)
		vmem_trace_close(s.vms[i].r);
	vmem_host_phases_free(s.phases);
	vmem_host_destroy(s.h);
	vmem_mmu_destroy(s.m);
	return outfile_stdout_close("vmem-host", 0);
}
