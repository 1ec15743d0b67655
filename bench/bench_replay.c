/*
 * bench_replay: throughput and memory benchmarks of trace replay.
 *
 * Measurements (each is a measurement, not a test: the program exits 0 whatever the
 * figures are, and non-zero only when it cannot run):
 *
 *   minimal  the minimal replay loops of minimal_loops.h, native (memo, L1, STLB, a
 *            4-read radix walk on a miss) and nested (the same with the 24-read 2D
 *            walk), reading the uncompressed .vmt with read(2): the least work a replay
 *            of each mode needs, inline. M records/s.
 *   replay   the same .vmt through vmem_trace_read and vmem_mmu_apply() per mode (native,
 *            nested, shadow; configuration from vmem_mmu_config_default), M records/s
 *            and the ratio to the minimal loop of its kind (shadow: the native one,
 *            since a shadow walk is a 1D walk).
 *   e2e      the trace as shipped (--e2e: compressed Lackey or .vmt) through
 *            vmem_trace_open/read and vmem_mmu_apply, decompression and parsing
 *            included, native and nested, against the same minimal loops.
 *   parse    an uncompressed Lackey text file read through vmem_trace_read with no
 *            simulation, M lines/s, against the minimal native loop.
 *   memory   peak resident memory (VmHWM) of a fresh process replaying a trace: against
 *            trace length (a short trace and the same looped ten times: flat), and
 *            against footprint (--rss-trace, traces mapping more and more pages: bytes
 *            of simulator memory per mapped 4 KiB page).
 *   all      vmemsim --mode all (worker threads) against the three single-mode
 *            runs added up, wall time and CPU time (--all-trace).
 *
 * Method. A short trace is replayed several times in one timed run ("passes": the reader
 * is opened again for each pass and every machine keeps its state, so a looped trace
 * keeps its character) so that the slowest measurement, nested replay, lasts at least
 * --min-seconds; every measurement then streams the same records the same number of
 * times. After one warm-up run of each, the timed runs are interleaved so that a slow
 * spell of the machine hits all of them alike; the best run (shortest wall time) and the
 * median are reported. Targets are ratios to the minimal loops measured in the same
 * process, which makes them independent of the machine's speed.
 *
 * The report goes to standard output, progress to standard error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmem/mmu.h"
#include "vmem/trace.h"

#include "minimal_loops.h"

#define BATCH 4096          /* records per vmem_trace_read, as in vmemsim */
#define MAX_RUNS 15
#define MAX_RSS_TRACES 8
#define RSS_LOOPS 10        /* the long trace is the short one this many times */
#define RSS_TARGET_BYTES 64 /* simulator memory per mapped page, at most */
/* --kind auto: a trace whose minimal native loop walks for at least this share of its
 * records is miss-heavy. */
#define MISS_HEAVY_WALKS 0.01

enum { KIND_AUTO, KIND_HIT, KIND_MISS };

/* Targets as ratios to the minimal loop of the mode's kind (0: none). */
static const double target_hit[VMEM_MODES] = { 0.5, 0.0, 0.0 };
static const double target_miss[VMEM_MODES] = { 0.3, 0.3, 0.0 };
/* 15 M lines/s, set where a minimal native loop would run about 300 M records/s. */
static const double target_parse = 0.05;

struct options {
	const char *vmt;          /* uncompressed .vmt for the minimal loops and replay */
	const char *e2e;          /* the same trace as shipped, for the end-to-end runs */
	const char *lackey;       /* uncompressed Lackey text for parse */
	const char *workdir;      /* where the rss traces are written; NULL: no length runs */
	const char *rss[MAX_RSS_TRACES];  /* traces of growing footprint */
	unsigned nrss;
	const char *vmemsim;      /* vmemsim program, for the --mode all runs */
	const char *all[MAX_RSS_TRACES];  /* traces for vmemsim --mode all against single modes */
	unsigned nall;
	const char *label;        /* name of the trace in the report */
	const char *lackey_label; /* name of the Lackey text in the report */
	int kind;                 /* KIND_AUTO, KIND_HIT or KIND_MISS: which targets apply */
	unsigned runs;
	double min_seconds;
	uint64_t rss_records;     /* records in the short rss trace (at most) */
	const char *profile;      /* run only this measurement, for a profiler */
	unsigned profile_passes;  /* --profile: exactly this many passes (0: from --min-seconds) */
};

static const char usage[] =
"usage: bench_replay [options]\n"
"\n"
"Measures trace replay throughput against minimal replay loops, Lackey parsing speed and\n"
"peak memory against trace length and footprint; writes a report to standard output.\n"
"\n"
"options:\n"
"  --vmt FILE          uncompressed .vmt trace for the minimal loops, replay and the\n"
"                      memory-against-length runs\n"
"  --kind KIND         hit (TLB-hit-dominated) or miss (miss-heavy): which targets apply;\n"
"                      auto (default): miss when the minimal native loop walks for at\n"
"                      least 1% of the records\n"
"  --e2e FILE          the same trace as shipped (compressed Lackey or .vmt), replayed\n"
"                      end to end, decompression and parsing included\n"
"  --lackey FILE       uncompressed Lackey text for the parsing benchmark\n"
"  --workdir DIR       write the short and long traces of the memory runs here\n"
"                      (without it the memory-against-length runs are skipped)\n"
"  --rss-trace FILE    a trace for memory against footprint (repeatable, up to 8)\n"
"  --vmemsim PROGRAM   vmemsim, for --all-trace\n"
"  --all-trace FILE    time vmemsim --mode all on FILE against the three single modes\n"
"                      added up (repeatable, up to 8; needs --vmemsim)\n"
"  --label TEXT        name of the trace in the report\n"
"  --lackey-label TEXT name of the Lackey text in the report\n"
"  --runs N            timed runs per measurement, best and median reported (default 5)\n"
"  --min-seconds S     shortest timed run of the slowest measurement (default 0.5)\n"
"  --rss-records N     records of the short memory-run trace, at most (default 2000000)\n"
"  --profile NAME      run only min-native, min-nested, native, nested, shadow or parse,\n"
"                      once, lasting about --min-seconds, with no warm-up and a one-line\n"
"                      report: for perf record or valgrind --tool=callgrind\n"
"  --passes N          with --profile: exactly N passes, no calibration (instruction\n"
"                      counts of the steady state: N passes against one)\n"
"  -h, --help          this text\n";

static void fatal(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "bench_replay: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(1);
}

static double now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Opens a trace; want < 0 accepts any format. */
static struct vmem_trace_reader *open_trace(const char *path, int want)
{
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;

	vmem_trace_reader_opts_default(&o);
	if (vmem_trace_open(path, &o, &r))
		fatal("%s%s", r ? vmem_trace_error(r) : path, "");
	if (want >= 0 && vmem_trace_reader_format(r) != (enum vmem_trace_format)want)
		fatal("%s: expected a %s trace", path,
		      vmem_trace_format_name((enum vmem_trace_format)want));
	return r;
}

static void read_failed(struct vmem_trace_reader *r)
{
	fatal("%s%s", vmem_trace_error(r), "");
}

/* ---- one pass of each measurement ---------------------------------------------------- */

static uint64_t replay_pass(const char *path, int want, struct vmem_mmu *m,
			    struct vmem_trace_rec *recs)
{
	struct vmem_trace_reader *r = open_trace(path, want);
	uint64_t n_recs = 0;
	long n;

	while ((n = vmem_trace_read(r, recs, BATCH)) > 0) {
		for (long i = 0; i < n; i++) {
			int err = vmem_mmu_apply(m, &recs[i]);

			if (err) {
				char pos[256];

				vmem_trace_position(r, pos, sizeof(pos));
				fprintf(stderr, "bench_replay: %s (near %s): %s\n", path, pos,
					vmem_mmu_error(m));
				exit(1);
			}
		}
		n_recs += (uint64_t)n;
	}
	if (n < 0)
		read_failed(r);
	vmem_trace_close(r);
	return n_recs;
}

static volatile uint64_t sink;

static uint64_t parse_pass(const char *path, struct vmem_trace_rec *recs, uint64_t *lines)
{
	struct vmem_trace_reader *r = open_trace(path, VMEM_TRACE_LACKEY);
	struct vmem_trace_counts c;
	uint64_t n_recs = 0, sum = 0;
	long n;

	while ((n = vmem_trace_read(r, recs, BATCH)) > 0) {
		/* Touch the decoded records so that nothing could be skipped. */
		sum += recs[n - 1].addr;
		n_recs += (uint64_t)n;
	}
	if (n < 0)
		read_failed(r);
	vmem_trace_counts(r, &c);
	vmem_trace_close(r);
	sink += sum;
	*lines = c.records + c.skipped_other + c.skipped_bad;
	return n_recs;
}

/* ---- timed runs ----------------------------------------------------------------------- */

/* Measurement ids: the library modes replaying the .vmt, then the rest. */
enum {
	M_MIN_NATIVE = VMEM_MODES, M_MIN_NESTED, M_E2E_NATIVE, M_E2E_NESTED, M_COUNT
};

static const char *const measure_names[M_COUNT] = {
	"native", "nested", "shadow", "min-native", "min-nested", "e2e-native", "e2e-nested",
};

/* The minimal loop a measurement is compared with. */
static int baseline_of(int id)
{
	return id == VMEM_MODE_NESTED || id == M_E2E_NESTED ? M_MIN_NESTED : M_MIN_NATIVE;
}

struct measure {
	unsigned n;                  /* timed runs so far */
	double wall[MAX_RUNS];
	double cpu[MAX_RUNS];
	uint64_t records;            /* per run */
	uint64_t walks;              /* TLB misses (page walks) per run */
};

struct run_result {
	uint64_t records, walks;
};

static struct run_result run_min(bool nested, const char *path, unsigned passes)
{
	struct min_machine mm;
	struct run_result res = { 0, 0 };
	uint64_t sum = 0;

	min_machine_init(&mm, nested);
	for (unsigned p = 0; p < passes; p++)
		res.records += min_pass(path, &mm, &sum);
	res.walks = mm.walks;
	sink += sum;
	min_machine_free(&mm);
	return res;
}

static struct vmem_mmu *make_mmu(enum vmem_mode mode)
{
	struct vmem_mmu_config cfg;
	struct vmem_mmu *m;
	int err;

	vmem_mmu_config_default(&cfg);
	cfg.mode = mode;
	if ((err = vmem_mmu_create(&cfg, &m)))
		fatal("cannot create the %s machine: %s", vmem_mode_name(mode), vmem_strerror(err));
	return m;
}

static struct run_result run_mode(enum vmem_mode mode, const char *path, int want,
				  unsigned passes, struct vmem_trace_rec *recs)
{
	struct vmem_mmu *m = make_mmu(mode);
	struct run_result res = { 0, 0 };

	for (unsigned p = 0; p < passes; p++)
		res.records += replay_pass(path, want, m, recs);
	res.walks = vmem_mmu_stats(m)->tlb_misses;
	vmem_mmu_destroy(m);
	return res;
}

static struct run_result run_one(int id, const struct options *o, unsigned passes,
				 struct vmem_trace_rec *recs)
{
	switch (id) {
	case M_MIN_NATIVE:
	case M_MIN_NESTED:
		return run_min(id == M_MIN_NESTED, o->vmt, passes);
	case M_E2E_NATIVE:
		return run_mode(VMEM_MODE_NATIVE, o->e2e, -1, passes, recs);
	case M_E2E_NESTED:
		return run_mode(VMEM_MODE_NESTED, o->e2e, -1, passes, recs);
	default:
		return run_mode((enum vmem_mode)id, o->vmt, VMEM_TRACE_VMT, passes, recs);
	}
}

static void timed(struct measure *ms, int id, const struct options *o, unsigned passes,
		  struct vmem_trace_rec *recs)
{
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	struct run_result res = run_one(id, o, passes, recs);
	double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);

	ms->wall[ms->n] = w1 - w0;
	ms->cpu[ms->n] = c1 - c0;
	ms->n++;
	ms->records = res.records;
	ms->walks = res.walks;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double best_wall(const struct measure *ms)
{
	double b = ms->wall[0];

	for (unsigned i = 1; i < ms->n; i++)
		if (ms->wall[i] < b)
			b = ms->wall[i];
	return b;
}

static double median_wall(const struct measure *ms)
{
	double w[MAX_RUNS];

	memcpy(w, ms->wall, ms->n * sizeof(w[0]));
	qsort(w, ms->n, sizeof(w[0]), cmp_double);
	return ms->n % 2 ? w[ms->n / 2] : (w[ms->n / 2 - 1] + w[ms->n / 2]) / 2;
}

/* CPU time over wall time of the best run: well below 1 means the machine was busy. */
static double cpu_share(const struct measure *ms)
{
	unsigned b = 0;

	for (unsigned i = 1; i < ms->n; i++)
		if (ms->wall[i] < ms->wall[b])
			b = i;
	return ms->wall[b] > 0 ? ms->cpu[b] / ms->wall[b] : 0;
}

static double mps(uint64_t units, double seconds)
{
	return seconds > 0 ? (double)units / seconds / 1e6 : 0;
}

static void print_runs(const struct measure *ms)
{
	printf("      runs (s):");
	for (unsigned i = 0; i < ms->n; i++)
		printf(" %.3f", ms->wall[i]);
	printf("   cpu/wall of best: %.2f%s\n", cpu_share(ms),
	       cpu_share(ms) < 0.9 ? " (the machine was busy: figures pessimistic)" : "");
}

/*
 * Passes of a trace so that a run lasts min_seconds when one pass takes one_pass seconds,
 * with a quarter more for a pass that runs faster once warm.
 */
static unsigned passes_for(double one_pass, double min_seconds)
{
	double p = one_pass > 0 ? ceil(1.25 * min_seconds / one_pass) : 1;

	return p < 1 ? 1 : p > 100000 ? 100000 : (unsigned)p;
}

static const char *verdict(double ratio, double target_ratio)
{
	return ratio >= target_ratio ? "PASS" : "FAIL";
}

/* One line per checked target, printed again at the end of the report. */
static char summary[32][200];
static unsigned nsummary;

static void summarize(const char *fmt, const char *what, const char *label, double value,
		      double target, const char *result)
{
	if (nsummary < sizeof(summary) / sizeof(summary[0]))
		snprintf(summary[nsummary++], sizeof(summary[0]), fmt, what, label, value,
			 target, result);
}

/* The time of one pass of nested replay, the slowest measurement. */
static double one_pass_seconds(const struct options *o, struct vmem_trace_rec *recs,
			       uint64_t *records)
{
	double t0 = now(CLOCK_MONOTONIC);

	*records = run_mode(VMEM_MODE_NESTED, o->vmt, VMEM_TRACE_VMT, 1, recs).records;
	return now(CLOCK_MONOTONIC) - t0;
}

/* ---- minimal loops and replay --------------------------------------------------------- */

static void bench_throughput(const struct options *o, struct vmem_trace_rec *recs,
			     double *min_native_mps)
{
	struct measure ms[M_COUNT];
	double rate[M_COUNT];
	const double *target;
	bool miss_heavy;
	int ids[M_COUNT], nids = 0;
	uint64_t one_pass;
	unsigned passes;

	memset(ms, 0, sizeof(ms));
	ids[nids++] = M_MIN_NATIVE;
	ids[nids++] = M_MIN_NESTED;
	for (int m = 0; m < VMEM_MODES; m++)
		ids[nids++] = m;
	if (o->e2e) {
		ids[nids++] = M_E2E_NATIVE;
		ids[nids++] = M_E2E_NESTED;
	}

	passes = passes_for(one_pass_seconds(o, recs, &one_pass), o->min_seconds);
	fprintf(stderr, "bench_replay: %s: %llu records, %u passes per run\n", o->label,
		(unsigned long long)one_pass, passes);
	for (int k = 0; k < nids; k++) {
		fprintf(stderr, "bench_replay: warm-up %s\n", measure_names[ids[k]]);
		run_one(ids[k], o, passes, recs);
	}
	for (unsigned r = 0; r < o->runs; r++) {
		fprintf(stderr, "bench_replay: run %u/%u\n", r + 1, o->runs);
		for (int k = 0; k < nids; k++)
			timed(&ms[ids[k]], ids[k], o, passes, recs);
	}
	for (int k = 0; k < nids; k++)
		rate[ids[k]] = mps(ms[ids[k]].records, best_wall(&ms[ids[k]]));
	*min_native_mps = rate[M_MIN_NATIVE];
	miss_heavy = o->kind == KIND_MISS ||
		     (o->kind == KIND_AUTO &&
		      (double)ms[M_MIN_NATIVE].walks >=
			      MISS_HEAVY_WALKS * (double)ms[M_MIN_NATIVE].records);
	target = miss_heavy ? target_miss : target_hit;

	printf("== Replay throughput against the minimal loops: %s (%s)\n", o->label,
	       miss_heavy ? "miss-heavy" : "TLB-hit-dominated");
	printf("%llu records per pass, %u passes per run (%llu records per run); %u timed runs"
	       " each after one warm-up, interleaved; best and median\n\n",
	       (unsigned long long)one_pass, passes, (unsigned long long)ms[M_MIN_NATIVE].records,
	       o->runs);
	for (int k = 0; k < nids; k++) {
		int id = ids[k], base = baseline_of(id);
		const struct measure *x = &ms[id];

		printf("  %-10s %7.2f M records/s best, %7.2f median;", measure_names[id], rate[id],
		       mps(x->records, median_wall(x)));
		if (id == M_MIN_NATIVE || id == M_MIN_NESTED)
			printf(" walks per record %.5f\n", x->records ? (double)x->walks /
				(double)x->records : 0);
		else
			printf(" ratio to %s %.3f (median %.3f); walks per record %.5f\n",
			       measure_names[base], rate[id] / rate[base],
			       mps(x->records, median_wall(x)) /
				       mps(ms[base].records, median_wall(&ms[base])),
			       x->records ? (double)x->walks / (double)x->records : 0);
		print_runs(x);
	}
	printf("\ntargets (ratio of records/s to the minimal loop of the same kind)\n");
	for (int m = 0; m < VMEM_MODES; m++) {
		double ratio = rate[m] / rate[baseline_of(m)];

		if (target[m] <= 0) {
			printf("  %-7s ratio %.3f: no target on this kind of trace\n",
			       measure_names[m], ratio);
			continue;
		}
		printf("  %-7s ratio %.3f (target %.2f): %s\n", measure_names[m], ratio,
		       target[m], verdict(ratio, target[m]));
		summarize("%-7s %-28s ratio %.3f (target %.2f): %s", measure_names[m], o->label,
			  ratio, target[m], verdict(ratio, target[m]));
	}
	printf("\n");
}

/* ---- Lackey parsing ------------------------------------------------------------------- */

static uint64_t count_lines(const char *path, uint64_t *bytes)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "rb");
	uint64_t lines = 0;
	size_t n;

	if (!f)
		fatal("%s: %s", path, strerror(errno));
	*bytes = 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))); p++)
			lines++;
		*bytes += n;
	}
	fclose(f);
	return lines;
}

/* The fastest of a few single parsing passes. */
static double one_parse_seconds(const char *lackey, struct vmem_trace_rec *recs,
				uint64_t *records)
{
	double best = 0;

	for (int k = 0; k < 3; k++) {
		double t0 = now(CLOCK_MONOTONIC), t;
		uint64_t lines;

		*records = parse_pass(lackey, recs, &lines);
		t = now(CLOCK_MONOTONIC) - t0;
		if (k == 0 || t < best)
			best = t;
	}
	return best;
}

static void bench_parse(const struct options *o, struct vmem_trace_rec *recs,
			double min_native_mps)
{
	struct measure ms = { 0 };
	uint64_t bytes, lines = count_lines(o->lackey, &bytes), seen = 0, rec1;
	unsigned passes = passes_for(one_parse_seconds(o->lackey, recs, &rec1), o->min_seconds);
	double best, rate;

	fprintf(stderr, "bench_replay: parse: %llu lines, %u passes per run\n",
		(unsigned long long)lines, passes);
	for (unsigned k = 0; k <= o->runs; k++) {
		double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
		uint64_t recsum = 0;

		for (unsigned p = 0; p < passes; p++)
			recsum += parse_pass(o->lackey, recs, &seen);
		if (k == 0)
			continue;   /* warm-up */
		ms.wall[ms.n] = now(CLOCK_MONOTONIC) - w0;
		ms.cpu[ms.n] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
		ms.n++;
		ms.records = recsum;
	}
	best = best_wall(&ms);
	rate = mps(lines * passes, best);
	printf("== Lackey text parsing (vmem_trace_read, no simulation, page-cached file)\n");
	printf("file: %s (Lackey text): %llu lines (%llu records, %llu other lines), %.1f MB;"
	       " %u passes per run\n",
	       o->lackey_label ? o->lackey_label : o->lackey, (unsigned long long)lines,
	       (unsigned long long)rec1,
	       (unsigned long long)(seen - rec1), (double)bytes / 1e6, passes);
	printf("  best %.3f s, median %.3f s: %.1f M lines/s best, %.1f median; %.1f M records/s,"
	       " %.0f MB/s\n",
	       best, median_wall(&ms), rate, mps(lines * passes, median_wall(&ms)),
	       mps(ms.records, best), (double)bytes * passes / best / 1e6);
	print_runs(&ms);
	if (min_native_mps > 0) {
		double ratio = rate / min_native_mps;

		printf("  ratio of lines/s to the minimal native loop's records/s %.3f (target %.2f):"
		       " %s\n", ratio, target_parse, verdict(ratio, target_parse));
		summarize("%-7s %-28s ratio %.3f (target %.2f): %s", "parse",
			  o->lackey_label ? o->lackey_label : o->lackey, ratio, target_parse,
			  verdict(ratio, target_parse));
	}
	printf("\n");
}

/* ---- memory against trace length ------------------------------------------------------ */

/*
 * Writes `loops` copies of the first `max` records of src to dst; returns records per copy
 * and sets *cut when src has more than max.
 */
static uint64_t write_looped(const char *src, const char *dst, uint64_t max, unsigned loops,
			     struct vmem_trace_rec *recs, bool *cut)
{
	struct vmem_trace_writer_opts wo;
	struct vmem_trace_writer *w;
	uint64_t per = 0;

	vmem_trace_writer_opts_default(&wo);
	wo.zstd = false;
	if (vmem_trace_writer_open(dst, &wo, &w))
		fatal("%s: %s", dst, w ? vmem_trace_writer_error(w) : "cannot create");
	for (unsigned l = 0; l < loops; l++) {
		struct vmem_trace_reader *r = open_trace(src, VMEM_TRACE_VMT);
		uint64_t done = 0;
		long n;

		while (done < max && (n = vmem_trace_read(r, recs, BATCH)) > 0) {
			size_t take = (uint64_t)n > max - done ? (size_t)(max - done) : (size_t)n;

			if (vmem_trace_write(w, recs, take))
				fatal("%s: %s", dst, vmem_trace_writer_error(w));
			done += take;
			if (take < (size_t)n)
				*cut = true;
		}
		if (done == max && vmem_trace_read(r, recs, 1) > 0)
			*cut = true;
		vmem_trace_close(r);
		per = done;
	}
	if (vmem_trace_writer_close(w))
		fatal("%s: %s", dst, "write failed");
	return per;
}

/* VmHWM of this process in kB, from /proc/self/status. */
static long vm_hwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The child of an rss run: replays one trace once and prints "VmHWM_kB records mapped",
 * mapped = guest 4 KiB data frames in use. */
static int rss_child(const char *mode_name, const char *path)
{
	struct vmem_trace_rec *recs = malloc(BATCH * sizeof(*recs));
	const struct vmem_mmu_stats *s;
	enum vmem_mode mode;
	struct vmem_mmu *m;
	uint64_t n = 0;

	if (!recs)
		fatal("%s%s", "out of memory", "");
	if (strcmp(mode_name, "none") == 0) {
		/* The baseline: a machine is created and the trace read through into recs,
		 * nothing applied, so that the reader's window and buffers (about 1.4 MB,
		 * touched by any replay) are not counted as the simulator's. */
		struct vmem_trace_reader *r = open_trace(path, -1);
		long got;

		m = make_mmu(VMEM_MODE_NATIVE);
		while ((got = vmem_trace_read(r, recs, BATCH)) > 0)
			;
		if (got < 0)
			read_failed(r);
		vmem_trace_close(r);
	} else {
		if (vmem_mode_parse(mode_name, &mode))
			fatal("unknown mode %s%s", mode_name, "");
		m = make_mmu(mode);
		n = replay_pass(path, -1, m, recs);
	}
	s = vmem_mmu_stats(m);
	printf("%ld %llu %llu\n", vm_hwm_kb(), (unsigned long long)n,
	       (unsigned long long)(s->guest_frames - s->guest_table_pages));
	vmem_mmu_destroy(m);
	free(recs);
	return 0;
}

struct rss_answer {
	long kb;
	uint64_t records, mapped;
};

/* Runs one rss child (a fresh process: its peak is its own) and reads its answer. */
static struct rss_answer rss_run(const char *mode_name, const char *path)
{
	struct rss_answer a = { -1, 0, 0 };
	unsigned long long n = 0, mapped = 0;
	int fd[2], status;
	char buf[128];
	ssize_t len;
	pid_t pid;

	if (pipe(fd))
		fatal("pipe: %s%s", strerror(errno), "");
	pid = fork();
	if (pid < 0)
		fatal("fork: %s%s", strerror(errno), "");
	if (pid == 0) {
		close(fd[0]);
		if (dup2(fd[1], 1) < 0)
			_exit(127);
		execl("/proc/self/exe", "bench_replay", "--rss-child", mode_name, path, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	len = read(fd[0], buf, sizeof(buf) - 1);
	close(fd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fatal("memory run (%s, %s) failed", mode_name, path);
	buf[len > 0 ? len : 0] = '\0';
	if (sscanf(buf, "%ld %llu %llu", &a.kb, &n, &mapped) != 3)
		fatal("memory run (%s, %s): no answer", mode_name, path);
	a.records = n;
	a.mapped = mapped;
	return a;
}

static void bench_rss_length(const struct options *o, struct vmem_trace_rec *recs)
{
	char short_path[4096], long_path[4096];
	uint64_t per;
	bool cut = false;
	long base;

	snprintf(short_path, sizeof(short_path), "%s/rss-short.vmt", o->workdir);
	snprintf(long_path, sizeof(long_path), "%s/rss-long.vmt", o->workdir);
	fprintf(stderr, "bench_replay: writing the memory-run traces in %s\n", o->workdir);
	per = write_looped(o->vmt, short_path, o->rss_records, 1, recs, &cut);
	write_looped(o->vmt, long_path, o->rss_records, RSS_LOOPS, recs, &cut);

	base = rss_run("none", short_path).kb;
	printf("== Peak memory against trace length (VmHWM of a fresh process per run)\n");
	printf("short: %llu records (%s); long: %llu records (the short one %u times)\n",
	       (unsigned long long)per, cut ? "the start of the trace" : "the whole trace",
	       (unsigned long long)per * RSS_LOOPS, RSS_LOOPS);
	printf("baseline (machine created, trace read, nothing applied): %ld kB\n", base);
	for (int m = 0; m < VMEM_MODES; m++) {
		const char *name = vmem_mode_name((enum vmem_mode)m);
		struct rss_answer a, b;
		long growth;

		fprintf(stderr, "bench_replay: memory runs, %s\n", name);
		a = rss_run(name, short_path);
		b = rss_run(name, long_path);
		growth = b.kb - a.kb;
		printf("  %-7s short %ld kB, long %ld kB: growth %+ld kB (%+.2f%%) for %.0fx the"
		       " records: %s\n",
		       name, a.kb, b.kb, growth, a.kb > 0 ? 100.0 * (double)growth / (double)a.kb : 0,
		       a.records ? (double)b.records / (double)a.records : 0,
		       labs(growth) <= 1024 ? "flat (PASS)" : "grows (FAIL)");
		summarize("%-7s %-28s %+.0f kB for 10x the records (within %.0f kB): %s", name,
			  "memory against length", (double)growth, 1024.0,
			  labs(growth) <= 1024 ? "PASS" : "FAIL");
	}
	printf("  (flat: growth within 1 MiB)\n\n");
	remove(short_path);
	remove(long_path);
}

/* Peak memory against footprint: bytes of simulator memory per mapped page. */
static void bench_rss_footprint(const struct options *o)
{
	long base = rss_run("none", o->rss[0]).kb;

	printf("== Peak memory against footprint (VmHWM of a fresh process per run, less the\n"
	       "   %ld kB of a process that only creates the machine and reads the trace,\n"
	       "   per mapped 4 KiB page)\n",
	       base);
	for (unsigned t = 0; t < o->nrss; t++) {
		const char *slash = strrchr(o->rss[t], '/');
		const char *name = slash ? slash + 1 : o->rss[t];

		for (int m = 0; m <= VMEM_MODE_NESTED; m++) {
			const char *mode = vmem_mode_name((enum vmem_mode)m);
			struct rss_answer a;
			double per_page;

			fprintf(stderr, "bench_replay: footprint run %s, %s\n", name, mode);
			a = rss_run(mode, o->rss[t]);
			per_page = a.mapped ? (double)(a.kb - base) * 1024.0 / (double)a.mapped : 0;
			printf("  %-28s %-7s %8llu records, %8llu pages mapped: peak %7ld kB,"
			       " %7.1f B per mapped page: %s\n", name, mode,
			       (unsigned long long)a.records, (unsigned long long)a.mapped, a.kb,
			       per_page, verdict(-per_page, -RSS_TARGET_BYTES));
			summarize("%-7s %-28s %.1f B per mapped page (target <= %.0f): %s", mode,
				  name, per_page, RSS_TARGET_BYTES,
				  verdict(-per_page, -RSS_TARGET_BYTES));
		}
	}
	printf("\n");
}

/* ---- vmemsim --mode all against the single modes -------------------------------------- */

/* Runs `vmemsim -q -m MODE FILE` once; returns its wall time and sets *cpu to its CPU
 * time (user + system, from wait4). */
static double vmemsim_run(const char *vmemsim, const char *mode, const char *path, double *cpu)
{
	double t0 = now(CLOCK_MONOTONIC), t;
	struct rusage ru;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		fatal("fork: %s%s", strerror(errno), "");
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null < 0 || dup2(null, 1) < 0)
			_exit(127);
		execl(vmemsim, "vmemsim", "-q", "-m", mode, path, (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fatal("vmemsim --mode %s %s failed", mode, path);
	t = now(CLOCK_MONOTONIC) - t0;
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	return t;
}

/*
 * Best wall time of `runs` runs of --mode all and of each single mode, interleaved, with
 * the CPU time of each best run. The wall-time ratio shows the second core at work only
 * when the machine has one to spare; the CPU time of --mode all against the three added
 * up shows what the threads cost.
 */
static void bench_mode_all(const struct options *o)
{
	static const char *const modes[] = { "all", "native", "nested", "shadow" };

	printf("== vmemsim --mode all (machines on one worker thread a processor) against the three\n"
	       "   single modes added up: best wall time of %u runs each, CPU time of that run\n",
	       o->runs);
	for (unsigned t = 0; t < o->nall; t++) {
		const char *slash = strrchr(o->all[t], '/');
		double wall[4], cpu[4], ratio;

		for (int m = 0; m < 4; m++)
			wall[m] = -1;
		for (unsigned r = 0; r < o->runs; r++) {
			fprintf(stderr, "bench_replay: vmemsim --mode all and single, run %u/%u\n",
				r + 1, o->runs);
			for (int m = 0; m < 4; m++) {
				double c, w = vmemsim_run(o->vmemsim, modes[m], o->all[t], &c);

				if (wall[m] < 0 || w < wall[m]) {
					wall[m] = w;
					cpu[m] = c;
				}
			}
		}
		ratio = wall[0] / (wall[1] + wall[2] + wall[3]);
		printf("  %s\n", slash ? slash + 1 : o->all[t]);
		printf("    wall: all %.3f s; native %.3f + nested %.3f + shadow %.3f = %.3f s:"
		       " ratio %.3f (target 0.60): %s\n", wall[0], wall[1], wall[2], wall[3],
		       wall[1] + wall[2] + wall[3], ratio, verdict(-ratio, -0.6));
		printf("    cpu:  all %.3f s; native %.3f + nested %.3f + shadow %.3f = %.3f s:"
		       " ratio %.3f; --mode all kept %.2f CPUs busy\n", cpu[0], cpu[1], cpu[2],
		       cpu[3], cpu[1] + cpu[2] + cpu[3], cpu[0] / (cpu[1] + cpu[2] + cpu[3]),
		       cpu[0] / wall[0]);
		summarize("%-7s %-28s wall-time ratio %.3f (target %.2f): %s", "all",
			  slash ? slash + 1 : o->all[t], ratio, 0.6, verdict(-ratio, -0.6));
	}
	printf("\n");
}

/* ---- a single measurement for a profiler ---------------------------------------------- */

static void profile_one(const struct options *o, struct vmem_trace_rec *recs)
{
	int id = -1;
	uint64_t units = 0, lines;
	unsigned passes;
	double t0, t;

	for (int k = 0; k < M_E2E_NATIVE; k++)
		if (strcmp(o->profile, measure_names[k]) == 0)
			id = k;
	if (id < 0 && strcmp(o->profile, "parse") != 0)
		fatal("--profile %s: expected min-native, min-nested, native, nested, shadow or"
		      " parse%s", o->profile, "");
	if ((id >= 0 && !o->vmt) || (id < 0 && !o->lackey))
		fatal("--profile %s needs --%s", o->profile, id >= 0 ? "vmt" : "lackey");
	/* --min-seconds 0: one pass and no calibration, for an instruction count. */
	if (o->profile_passes)
		passes = o->profile_passes;
	else if (o->min_seconds <= 0)
		passes = 1;
	else if (id >= 0)
		passes = passes_for(one_pass_seconds(o, recs, &units), o->min_seconds);
	else
		passes = passes_for(one_parse_seconds(o->lackey, recs, &units), o->min_seconds);
	units = 0;
	t0 = now(CLOCK_MONOTONIC);
	if (id >= 0) {
		units = run_one(id, o, passes, recs).records;
	} else {
		for (unsigned p = 0; p < passes; p++) {
			parse_pass(o->lackey, recs, &lines);
			units += lines;
		}
	}
	t = now(CLOCK_MONOTONIC) - t0;
	printf("%s: %u passes, %llu %s, %.3f s: %.1f M/s\n", o->profile, passes,
	       (unsigned long long)units, id >= 0 ? "records" : "lines", t, mps(units, t));
}

/* ---- main ----------------------------------------------------------------------------- */

static double parse_number(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0)
		fatal("%s %s: expected a non-negative number", opt, s);
	return v;
}

int main(int argc, char **argv)
{
	enum { O_VMT = 256, O_LACKEY, O_WORKDIR, O_LABEL, O_RUNS, O_MIN, O_RSSREC, O_CHILD,
	       O_PROFILE, O_LACKEY_LABEL, O_KIND, O_E2E, O_RSS_TRACE, O_VMEMSIM, O_ALL_TRACE,
	       O_PASSES };
	static const struct option longopts[] = {
		{ "vmt", required_argument, NULL, O_VMT },
		{ "kind", required_argument, NULL, O_KIND },
		{ "e2e", required_argument, NULL, O_E2E },
		{ "lackey", required_argument, NULL, O_LACKEY },
		{ "workdir", required_argument, NULL, O_WORKDIR },
		{ "rss-trace", required_argument, NULL, O_RSS_TRACE },
		{ "vmemsim", required_argument, NULL, O_VMEMSIM },
		{ "all-trace", required_argument, NULL, O_ALL_TRACE },
		{ "label", required_argument, NULL, O_LABEL },
		{ "lackey-label", required_argument, NULL, O_LACKEY_LABEL },
		{ "runs", required_argument, NULL, O_RUNS },
		{ "min-seconds", required_argument, NULL, O_MIN },
		{ "rss-records", required_argument, NULL, O_RSSREC },
		{ "rss-child", no_argument, NULL, O_CHILD },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "passes", required_argument, NULL, O_PASSES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .runs = 5, .min_seconds = 0.5, .rss_records = 2000000 };
	struct vmem_trace_rec *recs;
	double min_native_mps = 0;
	bool child = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_VMT: o.vmt = optarg; break;
		case O_E2E: o.e2e = optarg; break;
		case O_LACKEY: o.lackey = optarg; break;
		case O_WORKDIR: o.workdir = optarg; break;
		case O_LABEL: o.label = optarg; break;
		case O_LACKEY_LABEL: o.lackey_label = optarg; break;
		case O_KIND:
			if (strcmp(optarg, "auto") == 0)
				o.kind = KIND_AUTO;
			else if (strcmp(optarg, "hit") == 0)
				o.kind = KIND_HIT;
			else if (strcmp(optarg, "miss") == 0)
				o.kind = KIND_MISS;
			else
				fatal("--kind %s: expected auto, hit or miss%s", optarg, "");
			break;
		case O_RSS_TRACE:
			if (o.nrss == MAX_RSS_TRACES)
				fatal("--rss-trace %s: at most 8%s", optarg, "");
			o.rss[o.nrss++] = optarg;
			break;
		case O_VMEMSIM: o.vmemsim = optarg; break;
		case O_ALL_TRACE:
			if (o.nall == MAX_RSS_TRACES)
				fatal("--all-trace %s: at most 8%s", optarg, "");
			o.all[o.nall++] = optarg;
			break;
		case O_RUNS:
			o.runs = (unsigned)parse_number("--runs", optarg);
			if (o.runs < 1 || o.runs > MAX_RUNS)
				fatal("--runs %s: expected 1..15%s", optarg, "");
			break;
		case O_MIN: o.min_seconds = parse_number("--min-seconds", optarg); break;
		case O_RSSREC:
			o.rss_records = (uint64_t)parse_number("--rss-records", optarg);
			if (o.rss_records < 1)
				fatal("--rss-records %s: expected at least 1%s", optarg, "");
			break;
		case O_CHILD: child = true; break;
		case O_PROFILE: o.profile = optarg; break;
		case O_PASSES:
			o.profile_passes = (unsigned)parse_number("--passes", optarg);
			if (o.profile_passes < 1 || o.profile_passes > 100000)
				fatal("--passes %s: expected 1..100000%s", optarg, "");
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (child) {
		if (argc - optind != 2)
			fatal("%s%s", "--rss-child MODE FILE", "");
		return rss_child(argv[optind], argv[optind + 1]);
	}
	if (o.nall && !o.vmemsim)
		fatal("--all-trace needs --vmemsim%s%s", "", "");
	if (optind != argc || (!o.vmt && !o.lackey && !o.nrss && !o.nall)) {
		fputs(usage, stderr);
		return 2;
	}
	if (!o.label)
		o.label = o.vmt ? o.vmt : o.lackey;
	recs = malloc(BATCH * sizeof(*recs));
	if (!recs)
		fatal("%s%s", "out of memory", "");
	if (o.profile) {
		profile_one(&o, recs);
		free(recs);
		return 0;
	}
	if (o.vmt)
		bench_throughput(&o, recs, &min_native_mps);
	fflush(stdout);
	if (o.lackey)
		bench_parse(&o, recs, min_native_mps);
	fflush(stdout);
	if (o.vmt && o.workdir)
		bench_rss_length(&o, recs);
	if (o.nrss)
		bench_rss_footprint(&o);
	if (o.nall)
		bench_mode_all(&o);
	if (nsummary) {
		printf("== Summary (throughput: ratio to the minimal loop; memory)\n");
		for (unsigned i = 0; i < nsummary; i++)
			printf("  %s\n", summary[i]);
	}
	free(recs);
	return 0;
}
