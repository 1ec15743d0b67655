/*
 * bench_replay: throughput and memory benchmarks of trace replay.
 *
 * Measurements (each is a measurement, not a test: the program exits 0 whatever the
 * figures are, and non-zero only when it cannot run):
 *
 *   floor    stream the .vmt records through vmem_trace_open/vmem_trace_read in batches of
 *            4096 (as vmemsim does) and make one lookup per record in a 64-entry 4-way
 *            LRU vmem_xcache, keyed by addr >> 12, filling on a miss. This is the cost
 *            of reading a record and probing one TLB array: the floor that a replay
 *            cannot beat. Reported in M records/s.
 *   replay   the same record stream through vmem_mmu_apply() for each mode (native,
 *            nested, shadow; configuration from vmem_mmu_config_default), M accesses/s,
 *            and the ratio to the floor measured in the same process.
 *   parse    an uncompressed Lackey text file read through vmem_trace_read with no
 *            simulation, M lines/s.
 *   rss      peak resident memory (VmHWM) of a fresh process replaying a short trace and
 *            one ten times longer (the short one looped), per mode: the state grows with
 *            the pages touched, not with the records, so the two peaks should be equal.
 *
 * Method. A short trace is replayed several times in one timed run ("passes": the reader
 * is opened again for each pass and the machine keeps its state, so a looped trace keeps
 * its TLB-hit-dominated character) so that the fastest measurement, the floor, lasts at
 * least --min-seconds; the floor and every mode then stream the same records. After one
 * warm-up run of each, the timed runs are interleaved (floor, native, nested, shadow,
 * floor, ...) so that a slow spell of the machine hits all of them alike; the best run
 * (shortest wall time) and the median are reported. Targets are checked as ratios to
 * the floor: the targets were stated on a machine whose floor ran at 140 M/s,
 * so target / 140 is the ratio a mode must reach; the absolute figures are printed too.
 *
 * The report goes to standard output, progress to standard error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmem/mmu.h"
#include "vmem/trace.h"
#include "vmem/xcache.h"

#define BATCH 4096          /* records per vmem_trace_read, as in vmemsim */
#define MAX_RUNS 15
#define FLOOR_REF 140.0     /* M records/s of the floor loop where the targets were set */
#define RSS_LOOPS 10        /* the long trace is the short one this many times */

static const double target_mps[VMEM_MODES] = { 60.0, 25.0, 0.0 };   /* 0: no target */
static const double target_parse = 15.0;                             /* M lines/s */

struct options {
	const char *vmt;          /* trace for floor, replay and rss */
	const char *lackey;       /* uncompressed Lackey text for parse */
	const char *workdir;      /* where the rss traces are written; NULL: no rss */
	const char *label;        /* name of the trace in the report */
	const char *lackey_label; /* name of the Lackey text in the report */
	unsigned runs;
	double min_seconds;
	uint64_t rss_records;     /* records in the short rss trace (at most) */
	const char *profile;      /* run only this measurement, for a profiler */
};

static const char usage[] =
"usage: bench_replay [options]\n"
"\n"
"Measures trace replay throughput against a floor loop, Lackey parsing speed and peak\n"
"memory against trace length; writes a report to standard output.\n"
"\n"
"options:\n"
"  --vmt FILE          .vmt trace for the floor loop, the replays and the memory runs\n"
"  --lackey FILE       uncompressed Lackey text for the parsing benchmark\n"
"  --workdir DIR       write the short and long traces of the memory runs here\n"
"                      (without it the memory runs are skipped)\n"
"  --label TEXT        name of the trace in the report\n"
"  --lackey-label TEXT name of the Lackey text in the report\n"
"  --runs N            timed runs per measurement, best and median reported (default 5)\n"
"  --min-seconds S     shortest timed run of the fastest measurement (default 0.5)\n"
"  --rss-records N     records of the short memory-run trace, at most (default 2000000)\n"
"  --profile NAME      run only floor, native, nested, shadow or parse, once, lasting\n"
"                      about --min-seconds, with no warm-up and a one-line report: for\n"
"                      perf record or valgrind --tool=callgrind\n"
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

static struct vmem_trace_reader *open_trace(const char *path, enum vmem_trace_format want)
{
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;

	vmem_trace_reader_opts_default(&o);
	if (vmem_trace_open(path, &o, &r))
		fatal("%s%s", r ? vmem_trace_error(r) : path, "");
	if (vmem_trace_reader_format(r) != want)
		fatal("%s: expected a %s trace", path, vmem_trace_format_name(want));
	return r;
}

static void read_failed(struct vmem_trace_reader *r)
{
	fatal("%s%s", vmem_trace_error(r), "");
}

/* ---- one pass of each measurement ---------------------------------------------------- */

/* The floor: read every record and probe one 64-entry 4-way LRU array with it. */
static uint64_t floor_pass(const char *path, struct vmem_xcache *c, struct vmem_trace_rec *recs,
			   uint64_t *hits)
{
	struct vmem_trace_reader *r = open_trace(path, VMEM_TRACE_VMT);
	uint64_t n_recs = 0, h = 0;
	long n;

	while ((n = vmem_trace_read(r, recs, BATCH)) > 0) {
		for (long i = 0; i < n; i++) {
			uint64_t key = recs[i].addr >> 12, val;

			if (vmem_xcache_lookup(c, key, 0, &val))
				h++;
			else
				vmem_xcache_fill(c, key, 0, key);
		}
		n_recs += (uint64_t)n;
	}
	if (n < 0)
		read_failed(r);
	vmem_trace_close(r);
	*hits += h;
	return n_recs;
}

static uint64_t replay_pass(const char *path, struct vmem_mmu *m, struct vmem_trace_rec *recs)
{
	struct vmem_trace_reader *r = open_trace(path, VMEM_TRACE_VMT);
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

static volatile uint64_t parse_sink;

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
	parse_sink += sum;
	*lines = c.records + c.skipped_other + c.skipped_bad;
	return n_recs;
}

/* ---- timed runs ----------------------------------------------------------------------- */

enum { M_FLOOR = VMEM_MODES, M_COUNT };   /* measurement ids: the modes, then the floor */

struct measure {
	const char *name;
	unsigned n;                  /* timed runs so far */
	double wall[MAX_RUNS];
	double cpu[MAX_RUNS];
	uint64_t records;            /* per run */
	uint64_t units;              /* per run: records (floor), accesses (modes), lines */
	uint64_t extra;              /* floor: hits per run; modes: TLB misses per run */
};

struct run_result {
	uint64_t records, units, extra;
};

static struct run_result run_floor(const char *path, unsigned passes, struct vmem_trace_rec *recs)
{
	static const struct vmem_cache_geom geom = { 64, 4, VMEM_REPL_LRU };
	struct vmem_xcache *c;
	struct run_result res = { 0, 0, 0 };

	if (vmem_xcache_create(&geom, 1, &c))
		fatal("%s%s", "cannot create the floor cache", "");
	for (unsigned p = 0; p < passes; p++)
		res.records += floor_pass(path, c, recs, &res.extra);
	res.units = res.records;
	vmem_xcache_destroy(c);
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

static struct run_result run_mode(enum vmem_mode mode, const char *path, unsigned passes,
				  struct vmem_trace_rec *recs)
{
	struct vmem_mmu *m = make_mmu(mode);
	const struct vmem_mmu_stats *s;
	struct run_result res = { 0, 0, 0 };

	for (unsigned p = 0; p < passes; p++)
		res.records += replay_pass(path, m, recs);
	s = vmem_mmu_stats(m);
	res.units = s->accesses;
	res.extra = s->tlb_misses;
	vmem_mmu_destroy(m);
	return res;
}

static struct run_result run_one(int id, const char *path, unsigned passes,
				 struct vmem_trace_rec *recs)
{
	if (id == M_FLOOR)
		return run_floor(path, passes, recs);
	return run_mode((enum vmem_mode)id, path, passes, recs);
}

static void timed(struct measure *ms, int id, const char *path, unsigned passes,
		  struct vmem_trace_rec *recs)
{
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	struct run_result res = run_one(id, path, passes, recs);
	double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);

	ms->wall[ms->n] = w1 - w0;
	ms->cpu[ms->n] = c1 - c0;
	ms->n++;
	ms->records = res.records;
	ms->units = res.units;
	ms->extra = res.extra;
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
	printf("    runs (s):");
	for (unsigned i = 0; i < ms->n; i++)
		printf(" %.3f", ms->wall[i]);
	printf("   cpu/wall of best: %.2f%s\n", cpu_share(ms),
	       cpu_share(ms) < 0.9 ? " (the machine was busy: figures pessimistic)" : "");
}

/*
 * Passes of a trace so that a run lasts min_seconds when one pass takes one_pass seconds
 * (the fastest of a few single passes), with a quarter more for a pass that runs faster
 * once warm.
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
static char summary[16][160];
static unsigned nsummary;

static void summarize(const char *fmt, const char *what, double value, const char *result)
{
	if (nsummary < sizeof(summary) / sizeof(summary[0]))
		snprintf(summary[nsummary++], sizeof(summary[0]), fmt, what, value, result);
}

#define CALIBRATION_PASSES 3

/* The fastest of a few single passes of the floor (vmt) or of the parser (lackey). */
static double one_pass_seconds(const char *vmt, const char *lackey, struct vmem_trace_rec *recs,
			       uint64_t *records)
{
	double best = 0;

	for (int k = 0; k < CALIBRATION_PASSES; k++) {
		double t0 = now(CLOCK_MONOTONIC), t;
		uint64_t lines;

		*records = vmt ? run_floor(vmt, 1, recs).records : parse_pass(lackey, recs, &lines);
		t = now(CLOCK_MONOTONIC) - t0;
		if (k == 0 || t < best)
			best = t;
	}
	return best;
}

/* ---- floor and replay ----------------------------------------------------------------- */

static void bench_throughput(const struct options *o, struct vmem_trace_rec *recs,
			     double *floor_best)
{
	struct measure ms[M_COUNT];
	double floor_mps, mode_mps[VMEM_MODES];
	uint64_t one_pass;
	unsigned passes;

	memset(ms, 0, sizeof(ms));
	for (int m = 0; m < VMEM_MODES; m++)
		ms[m].name = vmem_mode_name((enum vmem_mode)m);
	ms[M_FLOOR].name = "floor";

	/* Calibration on the floor, which also brings the file into the page cache. */
	passes = passes_for(one_pass_seconds(o->vmt, NULL, recs, &one_pass), o->min_seconds);
	fprintf(stderr, "bench_replay: %llu records, %u passes per run\n",
		(unsigned long long)one_pass, passes);

	for (int id = 0; id < M_COUNT; id++) {
		fprintf(stderr, "bench_replay: warm-up %s\n", ms[id].name);
		run_one(id, o->vmt, passes, recs);
	}
	for (unsigned k = 0; k < o->runs; k++) {
		fprintf(stderr, "bench_replay: run %u/%u\n", k + 1, o->runs);
		timed(&ms[M_FLOOR], M_FLOOR, o->vmt, passes, recs);
		for (int m = 0; m < VMEM_MODES; m++)
			timed(&ms[m], m, o->vmt, passes, recs);
	}

	floor_mps = mps(ms[M_FLOOR].units, best_wall(&ms[M_FLOOR]));
	*floor_best = floor_mps;
	printf("== Floor loop and replay throughput\n");
	printf("trace: %s, %llu records per pass, %u passes per run (%llu records per run)\n",
	       o->label, (unsigned long long)one_pass, passes,
	       (unsigned long long)ms[M_FLOOR].records);
	printf("%u timed runs each after one warm-up, interleaved; best and median of the runs\n\n",
	       o->runs);

	printf("floor (read + one 64-entry 4-way LRU lookup per record)\n");
	printf("  %llu records, best %.3f s, median %.3f s: %.1f M records/s best, %.1f median;"
	       " hit rate %.4f\n",
	       (unsigned long long)ms[M_FLOOR].records, best_wall(&ms[M_FLOOR]),
	       median_wall(&ms[M_FLOOR]), floor_mps,
	       mps(ms[M_FLOOR].units, median_wall(&ms[M_FLOOR])),
	       ms[M_FLOOR].records ? (double)ms[M_FLOOR].extra / (double)ms[M_FLOOR].records : 0);
	print_runs(&ms[M_FLOOR]);
	printf("\nreplay (vmem_mmu_apply, default configuration)\n");
	for (int m = 0; m < VMEM_MODES; m++) {
		const struct measure *x = &ms[m];

		mode_mps[m] = mps(x->units, best_wall(x));
		printf("  %-7s %llu accesses, best %.3f s, median %.3f s: %.1f M accesses/s best,"
		       " %.1f median; ratio to floor %.3f (median %.3f); TLB miss rate %.5f\n",
		       x->name, (unsigned long long)x->units, best_wall(x), median_wall(x),
		       mode_mps[m], mps(x->units, median_wall(x)), mode_mps[m] / floor_mps,
		       mps(x->units, median_wall(x)) / mps(ms[M_FLOOR].units,
							   median_wall(&ms[M_FLOOR])),
		       x->units ? (double)x->extra / (double)x->units : 0);
		print_runs(x);
	}

	printf("\ntargets (checked as ratio to the floor; target ratio = target / %.0f M/s,\n"
	       "the floor where the targets were set; absolute figures for information)\n",
	       FLOOR_REF);
	for (int m = 0; m < VMEM_MODES; m++) {
		double tr = target_mps[m] / FLOOR_REF, ratio = mode_mps[m] / floor_mps;

		if (target_mps[m] <= 0) {
			printf("  %-7s %6.1f M/s, ratio %.3f: no target\n", ms[m].name, mode_mps[m],
			       ratio);
			continue;
		}
		printf("  %-7s %6.1f M/s (target %.0f, %s), ratio %.3f (target %.3f): %s\n",
		       ms[m].name, mode_mps[m], target_mps[m],
		       mode_mps[m] >= target_mps[m] ? "met" : "not met", ratio, tr,
		       verdict(ratio, tr));
		summarize("%-7s replay  %6.1f M accesses/s: %s", ms[m].name, mode_mps[m],
			  verdict(ratio, tr));
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

static void bench_parse(const struct options *o, struct vmem_trace_rec *recs, double floor_mps)
{
	struct measure ms = { .name = "parse" };
	uint64_t bytes, lines = count_lines(o->lackey, &bytes), seen, rec1;
	unsigned passes = passes_for(one_pass_seconds(NULL, o->lackey, recs, &rec1),
				     o->min_seconds);
	double best;

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
	ms.units = lines * passes;
	best = best_wall(&ms);
	printf("== Lackey text parsing (vmem_trace_read, no simulation, page-cached file)\n");
	printf("file: %s (Lackey text): %llu lines (%llu records, %llu other lines), %.1f MB;"
	       " %u passes per run\n",
	       o->lackey_label ? o->lackey_label : o->lackey, (unsigned long long)lines,
	       (unsigned long long)rec1,
	       (unsigned long long)(seen - rec1), (double)bytes / 1e6, passes);
	printf("  %llu lines, best %.3f s, median %.3f s: %.1f M lines/s best, %.1f median;"
	       " %.1f M records/s, %.0f MB/s\n",
	       (unsigned long long)ms.units, best, median_wall(&ms), mps(ms.units, best),
	       mps(ms.units, median_wall(&ms)), mps(ms.records, best),
	       (double)bytes * passes / best / 1e6);
	print_runs(&ms);
	if (floor_mps > 0) {
		double ratio = mps(ms.units, best) / floor_mps, tr = target_parse / FLOOR_REF;

		printf("  target %.0f M lines/s (%s); ratio to floor %.3f (target %.3f): %s\n",
		       target_parse, mps(ms.units, best) >= target_parse ? "met" : "not met",
		       ratio, tr, verdict(ratio, tr));
		summarize("%-7s Lackey  %6.1f M lines/s:    %s", "parse", mps(ms.units, best),
			  verdict(ratio, tr));
	} else {
		printf("  target %.0f M lines/s: %s (no floor measured for the ratio)\n",
		       target_parse, mps(ms.units, best) >= target_parse ? "met" : "not met");
		summarize("%-7s Lackey  %6.1f M lines/s:    %s", "parse", mps(ms.units, best),
			  mps(ms.units, best) >= target_parse ? "PASS" : "FAIL");
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

/* The child of an rss run: replays one trace once and prints "VmHWM_kB records". */
static int rss_child(const char *mode_name, const char *path)
{
	struct vmem_trace_rec *recs = malloc(BATCH * sizeof(*recs));
	enum vmem_mode mode;
	struct vmem_mmu *m;
	uint64_t n = 0;

	if (!recs)
		fatal("%s%s", "out of memory", "");
	if (strcmp(mode_name, "none") == 0) {
		/* The baseline: a machine is created and a reader opened, nothing replayed. */
		struct vmem_trace_reader *r = open_trace(path, VMEM_TRACE_VMT);

		m = make_mmu(VMEM_MODE_NATIVE);
		vmem_trace_close(r);
	} else {
		if (vmem_mode_parse(mode_name, &mode))
			fatal("unknown mode %s%s", mode_name, "");
		m = make_mmu(mode);
		n = replay_pass(path, m, recs);
	}
	printf("%ld %llu\n", vm_hwm_kb(), (unsigned long long)n);
	vmem_mmu_destroy(m);
	free(recs);
	return 0;
}

/* Runs one rss child (a fresh process: its peak is its own) and reads its answer. */
static long rss_run(const char *mode_name, const char *path, uint64_t *records)
{
	int fd[2], status;
	char buf[128];
	ssize_t len;
	long kb = -1;
	unsigned long long n = 0;
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
	if (sscanf(buf, "%ld %llu", &kb, &n) != 2)
		fatal("memory run (%s, %s): no answer", mode_name, path);
	*records = n;
	return kb;
}

static void bench_rss(const struct options *o, struct vmem_trace_rec *recs)
{
	char short_path[4096], long_path[4096];
	uint64_t per, n_short, n_long;
	bool cut = false;
	long base;

	snprintf(short_path, sizeof(short_path), "%s/rss-short.vmt", o->workdir);
	snprintf(long_path, sizeof(long_path), "%s/rss-long.vmt", o->workdir);
	fprintf(stderr, "bench_replay: writing the memory-run traces in %s\n", o->workdir);
	per = write_looped(o->vmt, short_path, o->rss_records, 1, recs, &cut);
	write_looped(o->vmt, long_path, o->rss_records, RSS_LOOPS, recs, &cut);

	base = rss_run("none", short_path, &n_short);
	printf("== Peak memory against trace length (VmHWM of a fresh process per run)\n");
	printf("short: %llu records (%s); long: %llu records (the short one %u times)\n",
	       (unsigned long long)per, cut ? "the start of the trace" : "the whole trace",
	       (unsigned long long)per * RSS_LOOPS, RSS_LOOPS);
	printf("baseline (machine created, nothing replayed): %ld kB\n", base);
	for (int m = 0; m < VMEM_MODES; m++) {
		const char *name = vmem_mode_name((enum vmem_mode)m);
		long a, b, growth;

		fprintf(stderr, "bench_replay: memory runs, %s\n", name);
		a = rss_run(name, short_path, &n_short);
		b = rss_run(name, long_path, &n_long);
		growth = b - a;
		printf("  %-7s short %ld kB, long %ld kB: growth %+ld kB (%+.2f%%) for %.0fx the"
		       " records: %s\n",
		       name, a, b, growth, a > 0 ? 100.0 * (double)growth / (double)a : 0,
		       n_short ? (double)n_long / (double)n_short : 0,
		       labs(growth) <= 1024 ? "flat (PASS)" : "grows (FAIL)");
		summarize("%-7s memory  %+6.0f kB for 10x records: %s", name, (double)growth,
			  labs(growth) <= 1024 ? "PASS" : "FAIL");
	}
	printf("  (flat: growth within 1 MiB)\n\n");
	remove(short_path);
	remove(long_path);
}

/* ---- a single measurement for a profiler ---------------------------------------------- */

static void profile_one(const struct options *o, struct vmem_trace_rec *recs)
{
	int id = -1;
	uint64_t units = 0, lines;
	unsigned passes;
	double t0, t;

	if (strcmp(o->profile, "floor") == 0) {
		id = M_FLOOR;
	} else if (strcmp(o->profile, "parse") != 0) {
		enum vmem_mode m;

		if (vmem_mode_parse(o->profile, &m))
			fatal("--profile %s: expected floor, native, nested, shadow or parse%s",
			      o->profile, "");
		id = (int)m;
	}
	if ((id >= 0 && !o->vmt) || (id < 0 && !o->lackey))
		fatal("--profile %s needs --%s", o->profile, id >= 0 ? "vmt" : "lackey");
	/* Passes from the floor (or the parser), as in the full benchmark. */
	passes = passes_for(one_pass_seconds(id >= 0 ? o->vmt : NULL, o->lackey, recs, &units),
			    o->min_seconds);
	units = 0;
	t0 = now(CLOCK_MONOTONIC);
	if (id >= 0) {
		units = run_one(id, o->vmt, passes, recs).units;
	} else {
		for (unsigned p = 0; p < passes; p++) {
			parse_pass(o->lackey, recs, &lines);
			units += lines;
		}
	}
	t = now(CLOCK_MONOTONIC) - t0;
	printf("%s: %u passes, %llu %s, %.3f s: %.1f M/s\n", o->profile, passes,
	       (unsigned long long)units,
	       id == M_FLOOR ? "records" : id >= 0 ? "accesses" : "lines", t, mps(units, t));
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
	       O_PROFILE, O_LACKEY_LABEL };
	static const struct option longopts[] = {
		{ "vmt", required_argument, NULL, O_VMT },
		{ "lackey", required_argument, NULL, O_LACKEY },
		{ "workdir", required_argument, NULL, O_WORKDIR },
		{ "label", required_argument, NULL, O_LABEL },
		{ "lackey-label", required_argument, NULL, O_LACKEY_LABEL },
		{ "runs", required_argument, NULL, O_RUNS },
		{ "min-seconds", required_argument, NULL, O_MIN },
		{ "rss-records", required_argument, NULL, O_RSSREC },
		{ "rss-child", no_argument, NULL, O_CHILD },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .runs = 5, .min_seconds = 0.5, .rss_records = 2000000 };
	struct vmem_trace_rec *recs;
	double floor_mps = 0;
	bool child = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_VMT: o.vmt = optarg; break;
		case O_LACKEY: o.lackey = optarg; break;
		case O_WORKDIR: o.workdir = optarg; break;
		case O_LABEL: o.label = optarg; break;
		case O_LACKEY_LABEL: o.lackey_label = optarg; break;
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
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (child) {
		if (argc - optind != 2)
			fatal("%s%s", "--rss-child MODE FILE", "");
		return rss_child(argv[optind], argv[optind + 1]);
	}
	if (optind != argc || (!o.vmt && !o.lackey)) {
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
		bench_throughput(&o, recs, &floor_mps);
	fflush(stdout);
	if (o.lackey)
		bench_parse(&o, recs, floor_mps);
	fflush(stdout);
	if (o.vmt && o.workdir)
		bench_rss(&o, recs);
	if (nsummary) {
		printf("== Summary (PASS/FAIL: throughput as ratio to the floor, memory within 1 MiB)\n");
		for (unsigned i = 0; i < nsummary; i++)
			printf("  %s\n", summary[i]);
	}
	free(recs);
	return 0;
}
