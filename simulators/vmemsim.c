/*
 * vmemsim: replay memory traces through the translation models and report what address
 * translation costs natively, under nested paging and under shadow paging.
 *
 * One pass over each trace feeds every selected mode, so `--mode all` reads the trace once
 * and the three machines see exactly the same records. With more than one mode and more
 * than one processor, the machines run on worker threads, no more than the processors
 * this process may run on (struct ring): the workers take turns at reading batches of
 * records into a ring and apply every batch to each machine in order (a machine is on
 * one thread at a time, so the figures are those of a run on one thread).
 *
 * With --warmup N the first N records warm the machines up (tables built, TLBs and walk
 * caches filled); the statistics then restart and the rest of the trace gives the
 * steady-state figures. Both sets are reported, as phases "cold" and "steady"; without a
 * warm-up the single phase is "whole".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmem/mmu.h"
#include "vmem/mrc.h"
#include "vmem/trace.h"

#include "trace/textout.h"
#include "trace/trace_outfile.h"

#define BATCH 16384         /* records per read (512 KiB with their positions): the unit of
			     * work a thread takes, large enough that taking it costs nothing */
#define RING 8              /* batches in flight: how far one machine may run ahead of another */
#define STICKY 2            /* a thread stays on its machine unless another has this many of
			     * its batches' worth of work more left to do */
#define MAX_THREADS 1024    /* --threads: more than one a machine is as good as one a machine */
#define MAX_THREADS_TEXT "1024"
#define PARSED (-1)         /* parse_args: the command line is good, go on */

static const char usage[] =
"usage: vmemsim [options] TRACE...\n"
"\n"
"Replays each TRACE (Valgrind Lackey text, ChampSim binary, or .vmt; compressed with\n"
"gzip, xz or zstd or not) through models of x86-64 address translation and prints, per\n"
"mode, TLB hits and misses, page walks and their memory references, walk-cache hits,\n"
"VM exits by cause, faults and cycles.\n"
"\n"
"options:\n"
"  -m, --mode MODE      native, nested, shadow or all; overrides a mode= key of the\n"
"                       configuration (default: that key when given, else all)\n"
"  -s, --set KEY=VALUE  set one configuration key (repeatable; see --help-config)\n"
"  -c, --config FILE    read KEY=VALUE lines from FILE ('#' starts a comment)\n"
"      --tlb LIST       shorthand for tlb.* keys: --tlb l1d.4k=64:4:lru,l2=1536:12\n"
"      --pwc LIST       shorthand for pwc.* keys: --pwc pde=32:4,pdpte=4,pml4e=2\n"
"      --csv FILE       write one CSV row per trace, mode and phase: trace, mode, phase,\n"
"                       warmup, the statistics, the version and every configuration key\n"
"                       as cfg.KEY (see --help-stats)\n"
"      --csv-append FILE  the same, added to the rows FILE already has (the header is\n"
"                       written only to a new or empty FILE; a different one is refused)\n"
"      --json FILE      write the configuration and statistics as JSON\n"
"      --hist FILE      write the distribution of memory references per walk as CSV\n"
"                       (of the steady state when --warmup is given)\n"
"      --mrc FILE       write each TLB array's miss-ratio curve as CSV (misses of every\n"
"                       associativity up to 8 x the configured one, same sets; one pass;\n"
"                       of the steady state when --warmup is given)\n"
"      --label TEXT     label for the CSV/JSON rows (default: the trace file name)\n"
"  -f, --format FMT     trace format: auto, lackey, champsim, vmt (default: auto)\n"
"      --skip-bad       count and skip malformed trace records instead of stopping\n"
"  -n, --limit N        replay at most N records of each trace\n"
"  -w, --warmup N       the first N records of each trace warm the machine up: report\n"
"                       them apart (phase cold), then restart the statistics (phase\n"
"                       steady); the machine keeps its tables, TLBs and caches\n"
"  -d, --data-only      skip instruction-fetch records (replay data accesses only)\n"
"  -q, --quiet          no table on standard output, no progress bar\n"
"  -j, --threads N      run the machines of more than one mode on at most N threads\n"
"                       (default: the number of processors vmemsim may run on; 1 runs\n"
"                       them in turn on one thread; the figures are the same)\n"
"      --help-config    list every configuration key with its meaning and default\n"
"      --help-stats     what every statistic and output column means\n"
"  -h, --help           this text\n"
"      --version        the version of vmemsim and libvmem\n"
"\n"
"examples:\n"
"  vmemsim traces/lackey/sort-words.lackey.zst\n"
"  vmemsim --mode nested -s guest.page=2m -s host.page=2m --csv out.csv \\\n"
"          traces/synthetic/zipf-1g.vmt.zst\n"
"  vmemsim --mode shadow -s shadow.sync=trap -s pcid=0 traces/synthetic/multiproc-3.vmt.zst\n"
"  vmemsim --warmup 1000000 --data-only --csv steady.csv traces/lackey/xz-text.lackey.zst\n"
"  vmemsim --csv-append runs.csv -s tlb.l2=2048:16 traces/lackey/xz-text.lackey.zst\n";

struct options {
	struct vmem_mmu_config cfg;
	bool modes[VMEM_MODES];
	const char *csv, *json, *hist, *label, *mrc;
	bool csv_append;
	struct vmem_trace_reader_opts ropts;
	uint64_t limit;
	uint64_t warmup;
	bool data_only;
	bool quiet;
	int threads;          /* --threads; 0: the processors this process may run on */
};

/* Prints "vmemsim: " and the message; returns 2, the exit status of a usage error. */
static int complain(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "vmemsim: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 2;
}

static void die(const char *fmt, const char *a, const char *b)
{
	exit(complain(fmt, a, b));
}

static int set_key(struct options *o, const char *assignment)
{
	char err[256];

	if (vmem_mmu_config_assign(&o->cfg, assignment, err, sizeof(err)))
		return complain("%s%s", err, "");
	return 0;
}

/* "--tlb l1d.4k=64:4,l2=1536:12" sets tlb.l1d.4k and tlb.l2. Returns 0 or 2. */
static int set_list(struct options *o, const char *prefix, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int status = 0;

	if (!copy)
		return complain("%s%s", "out of memory", "");
	for (char *item = strtok_r(copy, ",", &save); item && !status;
	     item = strtok_r(NULL, ",", &save)) {
		char buf[256];

		snprintf(buf, sizeof(buf), "%s.%s", prefix, item);
		status = set_key(o, buf);
	}
	free(copy);
	return status;
}

static void help_config(void)
{
	struct vmem_mmu_config def;
	const struct vmem_config_key *k = vmem_mmu_config_keys();
	char val[64];

	vmem_mmu_config_default(&def);
	printf("configuration keys (KEY=VALUE; defaults in brackets):\n\n");
	for (; k->key; k++) {
		/* vmemsim's own default: without mode=, every mode runs. */
		if (strcmp(k->key, "mode") == 0)
			snprintf(val, sizeof(val), "unset: all three");
		else
			vmem_mmu_config_get(&def, k->key, val, sizeof(val));
		printf("  %-18s %s [%s]\n", k->key, k->help, val);
	}
	printf("\ncache geometry: ENTRIES[:WAYS[:REPL]], WAYS 0 or ENTRIES = fully associative,\n"
	       "REPL lru, plru or random, ENTRIES 0 = absent. Sizes accept k, m, g suffixes.\n");
}

/*
 * The glossary of every output column: vmemsim's own, then the library's statistics and
 * miss-ratio-curve columns from their tables. scripts/stats-doc.sh turns it into
 * docs/STATS.md: section titles end with ':', entries are "  NAME  MEANING".
 */
static void help_stats(void)
{
	static const char *const row[][2] = {
		{ "trace", "the trace's label (--label; default the trace file name)" },
		{ "mode", "translation mode: native, nested or shadow" },
		{ "phase", "whole (no warm-up), cold (the warm-up records) or steady (the records "
		  "after them)" },
		{ "warmup", "records of the warm-up (--warmup; 0 without one)" },
	}, *const source[][2] = {
		{ "version", "libvmem's version (vmemsim --version)" },
		{ "cfg.KEY", "the value of configuration key KEY, one column per key but mode "
		  "(vmemsim --help-config)" },
	}, *const hist[][2] = {
		{ "trace", "the trace's label" },
		{ "mode", "translation mode" },
		{ "refs", "memory references made by a walk" },
		{ "walks", "walks that made that many references" },
	};
	const char *const *names = vmem_mmu_stat_names();

	printf("What vmemsim reports: the table rows, CSV columns and JSON keys (\"modes\",\n"
	       "\"cold\") share these names. Counters restart after --warmup; gauges do not.\n"
	       "\nCSV (--csv, --csv-append), the columns that identify a row:\n");
	for (size_t i = 0; i < sizeof(row) / sizeof(row[0]); i++)
		printf("  %-26s %s\n", row[i][0], row[i][1]);
	printf("\nstatistics, in output order:\n");
	for (size_t i = 0; names[i]; i++)
		printf("  %-26s %s\n", names[i], vmem_mmu_stat_help(names[i]));
	printf("\nCSV, the columns after the statistics that say what produced the row:\n");
	for (size_t i = 0; i < sizeof(source) / sizeof(source[0]); i++)
		printf("  %-26s %s\n", source[i][0], source[i][1]);
	printf("\nwalk histogram (--hist), one row per mode and reference count:\n");
	for (size_t i = 0; i < sizeof(hist) / sizeof(hist[0]); i++)
		printf("  %-26s %s\n", hist[i][0], hist[i][1]);
	printf("\nmiss-ratio curves (--mrc), one row per TLB array and associativity:\n");
	for (const char *const *c = vmem_mrc_csv_columns(); *c; c++)
		printf("  %-26s %s\n", *c, vmem_mrc_csv_column_help(*c));
}

/* A count of records: decimal digits only. Returns 0, or 2 after a message. */
static int record_count(const char *opt, const char *text, uint64_t *n)
{
	char *end;

	errno = 0;
	*n = strtoull(text, &end, 10);
	if (errno || *end || !*text || *text < '0' || *text > '9')
		return complain("%s %s: expected a number of records", opt, text);
	return 0;
}

/* --threads: a number from 1 to MAX_THREADS. Returns 0, or 2 after a message. */
static int thread_count(const char *text, int *n)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || *text < '0' || *text > '9' || v < 1 || v > MAX_THREADS)
		return complain("--threads %s: expected a number of threads from 1 to %s", text,
				MAX_THREADS_TEXT);
	*n = (int)v;
	return 0;
}

static const char *warmup_text(uint64_t n)
{
	static char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, n);
	return buf;
}

/*
 * Parses the command line into o (set to its defaults first) and leaves optind at the
 * first trace. Returns PARSED to go on, or the exit status after a message (2) or after
 * --help, --version and the like printed to standard output (0; the caller checks that
 * output with outfile_stdout_close). Never exits.
 */
static int parse_args(int argc, char **argv, struct options *o)
{
	enum { O_TLB = 256, O_PWC, O_CSV, O_JSON, O_HIST, O_LABEL, O_SKIP, O_HELPCFG, O_MRC,
	       O_VERSION, O_CSV_APPEND, O_HELPSTATS };
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "set", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "tlb", required_argument, NULL, O_TLB },
		{ "pwc", required_argument, NULL, O_PWC },
		{ "csv", required_argument, NULL, O_CSV },
		{ "csv-append", required_argument, NULL, O_CSV_APPEND },
		{ "json", required_argument, NULL, O_JSON },
		{ "hist", required_argument, NULL, O_HIST },
		{ "mrc", required_argument, NULL, O_MRC },
		{ "label", required_argument, NULL, O_LABEL },
		{ "format", required_argument, NULL, 'f' },
		{ "skip-bad", no_argument, NULL, O_SKIP },
		{ "limit", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "data-only", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help-config", no_argument, NULL, O_HELPCFG },
		{ "help-stats", no_argument, NULL, O_HELPSTATS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL;
	char err[256];
	int c, status = 0;

	memset(o, 0, sizeof(*o));
	vmem_mmu_config_default(&o->cfg);
	vmem_trace_reader_opts_default(&o->ropts);
	/* No valid mode: tells whether the configuration (-s, -c) names one. */
	o->cfg.mode = VMEM_MODES;

	while (!status &&
	       (c = getopt_long(argc, argv, "m:s:c:f:n:w:j:dqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': mode = optarg; break;
		case 's': status = set_key(o, optarg); break;
		case 'c':
			if (vmem_mmu_config_load(&o->cfg, optarg, err, sizeof(err)))
				status = complain("%s%s", err, "");
			break;
		case O_TLB: status = set_list(o, "tlb", optarg); break;
		case O_PWC: status = set_list(o, "pwc", optarg); break;
		case O_CSV:
		case O_CSV_APPEND:
			if (o->csv)
				return complain("--csv, --csv-append: give one CSV output, not %s and %s",
						o->csv, optarg);
			o->csv = optarg;
			o->csv_append = c == O_CSV_APPEND;
			break;
		case O_JSON: o->json = optarg; break;
		case O_HIST: o->hist = optarg; break;
		case O_MRC: o->mrc = optarg; break;
		case O_LABEL: o->label = optarg; break;
		case 'f':
			if (vmem_trace_format_parse(optarg, &o->ropts.format))
				status = complain("--format %s: expected auto, lackey, champsim or vmt",
						  optarg, "");
			break;
		case O_SKIP: o->ropts.skip_bad = true; break;
		case 'n': status = record_count("--limit", optarg, &o->limit); break;
		case 'w': status = record_count("--warmup", optarg, &o->warmup); break;
		case 'd': o->data_only = true; break;
		case 'q': o->quiet = true; break;
		case 'j': status = thread_count(optarg, &o->threads); break;
		case O_HELPCFG: help_config(); return 0;
		case O_HELPSTATS: help_stats(); return 0;
		case 'h': fputs(usage, stdout); return 0;
		case O_VERSION:
			printf("vmemsim (libvmem) %s\n", vmem_version());
			return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (status)
		return status;
	if (mode && strcmp(mode, "all") == 0) {
		for (int i = 0; i < VMEM_MODES; i++)
			o->modes[i] = true;
	} else if (mode) {
		enum vmem_mode m;

		if (vmem_mode_parse(mode, &m))
			return complain("--mode %s: expected native, nested, shadow or all", mode, "");
		o->modes[m] = true;
	} else if (o->cfg.mode != VMEM_MODES) {
		o->modes[o->cfg.mode] = true;
	} else {
		for (int i = 0; i < VMEM_MODES; i++)
			o->modes[i] = true;
	}
	o->cfg.mode = VMEM_MODE_NATIVE;   /* each run sets its own */
	if (vmem_mmu_config_check(&o->cfg, err, sizeof(err)))
		return complain("inconsistent configuration: %s%s", err, "");
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (o->limit && o->warmup >= o->limit)
		return complain("--warmup %s: must be less than --limit, or nothing is left to "
				"measure", warmup_text(o->warmup), "");
	return PARSED;
}

struct run {
	enum vmem_mode mode;
	struct vmem_mmu *mmu;
	struct vmem_mmu_stats cold;   /* at the end of the warm-up, when there is one */
};

/* What a row of output reports: the whole replay, or one side of the warm-up. */
enum phase { PHASE_WHOLE, PHASE_COLD, PHASE_STEADY };

static const char *const phase_names[] = { "whole", "cold", "steady" };

static const struct vmem_mmu_stats *phase_stats(struct run *run, enum phase ph)
{
	return ph == PHASE_COLD ? &run->cold : vmem_mmu_stats(run->mmu);
}

static double stat_value(struct run *run, enum phase ph, const char *name)
{
	double v = 0;

	vmem_mmu_stats_value(phase_stats(run, ph), name, &v);
	return v;
}

/* A batch of records as read, with where each came from and where the warm-up ends. */
struct batch {
	struct vmem_trace_rec recs[BATCH];
	uint64_t pos[BATCH];  /* each record's line or offset (vmem_trace_batch_positions) */
	size_t take;          /* records to apply */
	size_t split;         /* the first `split` belong to the warm-up, or all when it goes on */
	uint64_t first;       /* number of records before recs[0] in the trace */
};

/* A record a machine rejected: where, and the message that says so. */
struct failure {
	uint64_t index;       /* records before it in the trace; UINT64_MAX: none */
	int mode;             /* the machine's mode */
	char msg[768];
};

/* Whether failure a is reported before b: the earliest record, then the first mode in
 * vmemsim's order, so that the message does not depend on which thread got there first. */
static bool failure_first(const struct failure *a, const struct failure *b)
{
	return a->index < b->index || (a->index == b->index && a->mode < b->mode);
}

/*
 * Applies records [from, to) of a batch to one machine. On an error fills *f, with the
 * position the reader kept (a FIFO or standard input cannot be read again), and returns
 * false.
 */
static bool apply_range(const struct options *o, const struct vmem_trace_reader *r,
			struct run *run, const struct batch *b, size_t from, size_t to,
			struct failure *f)
{
	for (size_t i = from; i < to; i++) {
		const struct vmem_trace_rec *rec = &b->recs[i];
		char pos[512];

		if (o->data_only && rec->type == VMEM_REC_ACCESS && rec->acc == VMEM_ACC_IFETCH)
			continue;
		if (vmem_mmu_apply(run->mmu, rec) == 0)
			continue;
		vmem_trace_format_position(r, b->pos[i], pos, sizeof(pos));
		snprintf(f->msg, sizeof(f->msg), "vmemsim: %s: %s (%s mode)", pos,
			 vmem_mmu_error(run->mmu), vmem_mode_name(run->mode));
		f->index = b->first + i;
		f->mode = (int)run->mode;
		return false;
	}
	return true;
}

/* Applies one batch to one machine; the warm-up ends where the batch says. */
static bool apply_batch(const struct options *o, const struct vmem_trace_reader *r,
			struct run *run, const struct batch *b, struct failure *f)
{
	if (!apply_range(o, r, run, b, 0, b->split, f))
		return false;
	if (o->warmup && b->first + b->split == o->warmup) {
		/* Keep the warm-up's figures, restart the statistics and curve counts. */
		run->cold = *vmem_mmu_stats(run->mmu);
		vmem_mmu_stats_reset(run->mmu);
		vmem_mmu_mrc_reset_counts(run->mmu);
	}
	return apply_range(o, r, run, b, b->split, b->take, f);
}

/*
 * Applies one batch to each of n machines. Returns false, with the failure reported first
 * in *f, when one of them rejected a record; the others still get the whole batch, since
 * one of them may reject an earlier record.
 */
static bool apply_runs(const struct options *o, const struct vmem_trace_reader *r,
		       struct run *const *runs, int n, const struct batch *b, struct failure *f)
{
	bool ok = true;

	for (int j = 0; j < n; j++) {
		struct failure fj;

		if (!apply_batch(o, r, runs[j], b, &fj)) {
			if (ok || failure_first(&fj, f))
				*f = fj;
			ok = false;
		}
	}
	return ok;
}

/* A progress line on a terminal for runs longer than a second, four times a second. */
struct progress {
	bool on;
	bool shown;
	off_t size;
	struct timespec start, last;
};

static long elapsed_ms(const struct timespec *from, const struct timespec *to)
{
	return (to->tv_sec - from->tv_sec) * 1000L + (to->tv_nsec - from->tv_nsec) / 1000000L;
}

static void progress_update(struct progress *p, const struct vmem_trace_reader *r,
			    const char *path, uint64_t records, bool final)
{
	struct vmem_trace_counts c;
	struct timespec now;

	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!p->start.tv_sec && !p->start.tv_nsec)
		p->start = p->last = now;
	if (final ? !p->shown : elapsed_ms(&p->start, &now) < 1000 ||
				elapsed_ms(&p->last, &now) < 250)
		return;
	p->last = now;
	p->shown = true;
	vmem_trace_counts(r, &c);
	if (p->size > 0) {
		int pct = (int)(100.0 * (double)c.bytes / (double)p->size);
		int bar = pct / 4;

		fprintf(stderr, "\r%s [%-25.*s] %3d%% %llu records", path, bar,
			"#########################", pct, (unsigned long long)records);
	} else {
		fprintf(stderr, "\r%s %llu records", path, (unsigned long long)records);
	}
	if (final)
		fputc('\n', stderr);
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/*
 * Reads the batch that follows the first `done` records of the trace into b: no more
 * records than --limit leaves, the warm-up's end marked. Returns vmem_trace_read's result.
 */
static long read_batch(const struct options *o, struct vmem_trace_reader *r, struct batch *b,
		       uint64_t done)
{
	size_t want = BATCH;
	long n;

	if (o->limit && o->limit - done < want)
		want = (size_t)(o->limit - done);
	n = vmem_trace_read(r, b->recs, want);
	if (n <= 0)
		return n;
	vmem_trace_batch_positions(r, b->pos, (size_t)n);
	b->first = done;
	b->take = (size_t)n;
	/* The warm-up may end inside this batch: split it there. */
	if (o->warmup > done && o->warmup - done < b->take)
		b->split = (size_t)(o->warmup - done);
	else
		b->split = b->take;
	return n;
}

/*
 * The machines of a replay on more than one thread. The threads ("workers") are all
 * alike, the main thread being one of them, and there are no more of them than
 * processors this process may run on, nor than machines: a processor time-shared between
 * two machines loses each one's caches at every switch (measured: 44 % more CPU time for
 * three machine threads on two processors), and a reader thread of its own would be a
 * thread more to share them with. A worker takes, under the lock, the first task there is:
 *
 *   1. read the next batch into the ring, when there is room and nobody is reading (the
 *      trace reader is used by one thread at a time, and reading is never left waiting
 *      for a reader thread that the scheduler has not run yet);
 *   2. apply the next batch to the idle machine with the most work left in the ring: its
 *      batches not yet applied times the CPU time its batches took so far (a machine not
 *      yet timed first). That keeps the work left to the machines even, so that when the
 *      trace ends they finish together rather than one worker finishing a slow machine's
 *      backlog alone while the others wait (longest remaining processing time first, the
 *      rule that minimizes the makespan of jobs that may be preempted), whatever each
 *      machine costs on this trace, with no estimate made beforehand. A
 *      worker stays on the machine it applied the last batch to unless another has more
 *      than STICKY of that machine's batches' worth of work more: staying keeps the
 *      machine's tables and TLBs in one processor's caches;
 *   3. sleep on the condition variable until another worker changes something.
 *
 * Batch i lives in slot i % RING; a slot is read into again only when every machine that
 * has not stopped is past it. A machine is on one worker at a time and applies the
 * batches in order, so its figures are those of a run on one thread.
 */
struct ring {
	struct batch *slot;        /* RING batches */
	uint64_t head;             /* batches read so far: the next goes to slot head % RING */
	uint64_t next[VMEM_MODES]; /* the next batch machine j needs */
	bool busy[VMEM_MODES];     /* a worker is applying a batch to machine j */
	bool stopped[VMEM_MODES];  /* machine j rejected a record, or passed one rejected */
	uint64_t timed[VMEM_MODES];   /* batches machine j applied with their CPU time known */
	double cpu[VMEM_MODES];       /* the CPU seconds they took */
	int nstopped;
	struct failure fail;       /* the rejected record reported (failure_first) */
	bool reading;              /* a worker is reading the next batch */
	bool eof;                  /* no batch after head: end of the trace, --limit or a read error */
	long read_status;          /* vmem_trace_read's last result when it ended the trace */
	uint64_t done;             /* records in the batches read */
	int nruns;
	struct run **runs;
	const struct options *o;
	struct vmem_trace_reader *reader;
	const char *path;
	struct progress *prog;
	pthread_mutex_t lock;
	pthread_cond_t changed;    /* a batch read, a machine released or stopped */
};

/* Machine j stops consuming batches (the lock is held). */
static void ring_stop(struct ring *q, int j)
{
	q->stopped[j] = true;
	q->nstopped++;
}

/* Whether the next batch can be read now (the lock is held). */
static bool ring_can_read(const struct ring *q)
{
	if (q->reading || q->eof || q->nstopped == q->nruns)
		return false;
	for (int j = 0; j < q->nruns; j++)
		if (!q->stopped[j] && q->head - q->next[j] >= RING)
			return false;   /* machine j still needs the batch in the slot to reuse */
	return true;
}

/* Whether machine j can take its next batch now (the lock is held). */
static bool ring_ready(const struct ring *q, int j)
{
	return !q->busy[j] && !q->stopped[j] && q->next[j] < q->head;
}

/* CPU seconds a batch of machine j takes, as far as measured; 0: not measured yet. */
static double ring_batch_cost(const struct ring *q, int j)
{
	return q->timed[j] ? q->cpu[j] / (double)q->timed[j] : 0;
}

/* The work machine j has left in the ring, in CPU seconds; HUGE_VAL before its first batch
 * is timed (the lock is held). */
static double ring_work_left(const struct ring *q, int j)
{
	return q->timed[j] ? (double)(q->head - q->next[j]) * ring_batch_cost(q, j) : HUGE_VAL;
}

/* The machine a worker that last applied a batch to `last` (or -1) takes now, or -1 when
 * none can take a batch (the lock is held). */
static int ring_pick(const struct ring *q, int last)
{
	int most = -1;

	for (int j = 0; j < q->nruns; j++)
		if (ring_ready(q, j) && (most < 0 || ring_work_left(q, j) > ring_work_left(q, most)))
			most = j;
	if (most >= 0 && last >= 0 && ring_ready(q, last) &&
	    ring_work_left(q, last) + STICKY * ring_batch_cost(q, last) >= ring_work_left(q, most))
		return last;
	return most;
}

static double thread_cpu_seconds(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t))
		return 0;
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* True when no worker will have anything more to do (the lock is held). */
static bool ring_done(const struct ring *q)
{
	if (q->reading || (!q->eof && q->nstopped < q->nruns))
		return false;
	for (int j = 0; j < q->nruns; j++)
		if (!q->stopped[j] && (q->busy[j] || q->next[j] < q->head))
			return false;
	return true;
}

/* Task 1: reads the next batch, the lock released meanwhile (the lock is held). */
static void ring_read(struct ring *q)
{
	struct batch *b = &q->slot[q->head % RING];
	uint64_t done = q->done;
	long n;

	q->reading = true;
	pthread_mutex_unlock(&q->lock);
	n = read_batch(q->o, q->reader, b, done);
	if (n > 0)
		progress_update(q->prog, q->reader, q->path, done + b->take, false);
	pthread_mutex_lock(&q->lock);
	q->reading = false;
	if (n > 0) {
		q->head++;
		q->done += b->take;
		q->eof = q->o->limit && q->done >= q->o->limit;
	} else {
		q->eof = true;
		q->read_status = n;
	}
	pthread_cond_broadcast(&q->changed);
}

/* Task 2: applies machine j's next batch, the lock released meanwhile (the lock is held). */
static void ring_apply(struct ring *q, int j)
{
	uint64_t i = q->next[j];
	const struct batch *b = &q->slot[i % RING];
	struct failure f;
	double cpu;
	bool ok;

	/* Past a record another machine rejected: this machine can reject none earlier. */
	if (q->fail.index < b->first) {
		ring_stop(q, j);
		pthread_cond_broadcast(&q->changed);
		return;
	}
	q->busy[j] = true;
	pthread_mutex_unlock(&q->lock);
	cpu = thread_cpu_seconds();
	ok = apply_batch(q->o, q->reader, q->runs[j], b, &f);
	cpu = thread_cpu_seconds() - cpu;
	pthread_mutex_lock(&q->lock);
	q->busy[j] = false;
	q->timed[j]++;
	q->cpu[j] += cpu;
	if (ok) {
		q->next[j] = i + 1;
	} else {
		if (failure_first(&f, &q->fail))
			q->fail = f;
		ring_stop(q, j);
	}
	pthread_cond_broadcast(&q->changed);
}

static void *ring_worker(void *arg)
{
	struct ring *q = arg;
	int last = -1, j;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		if (ring_can_read(q)) {
			ring_read(q);
		} else if ((j = ring_pick(q, last)) >= 0) {
			ring_apply(q, j);
			last = j;
		} else if (ring_done(q)) {
			break;
		} else {
			pthread_cond_wait(&q->changed, &q->lock);
		}
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* The number of processors this process may run on (its affinity mask: taskset, cpusets). */
static int usable_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	/* More processors than a cpu_set_t holds: the mask did not fit. */
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

/*
 * Replays on nworkers threads (the calling one and nworkers - 1 more) through q, set up
 * by the caller but for its lock, condition variable and slots. When the system refuses
 * a thread, the workers that run do its share.
 */
static void replay_threads(struct ring *q, int nworkers)
{
	pthread_t ids[VMEM_MODES];
	int started = 0;

	q->slot = malloc(RING * sizeof(*q->slot));
	if (!q->slot)
		die("%s%s", "out of memory", "");
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->changed, NULL);
	while (started < nworkers - 1 && pthread_create(&ids[started], NULL, ring_worker, q) == 0)
		started++;
	ring_worker(q);
	for (int k = 0; k < started; k++)
		pthread_join(ids[k], NULL);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->changed);
	free(q->slot);
}

/* Replays on the calling thread alone: each batch read, then applied to every machine. */
static void replay_sequential(struct ring *q)
{
	struct batch *b = malloc(sizeof(*b));
	long n;

	if (!b)
		die("%s%s", "out of memory", "");
	for (;;) {
		n = read_batch(q->o, q->reader, b, q->done);
		if (n <= 0) {
			q->read_status = n;
			break;
		}
		if (!apply_runs(q->o, q->reader, q->runs, q->nruns, b, &q->fail))
			break;
		q->done += b->take;
		progress_update(q->prog, q->reader, q->path, q->done, false);
		if (q->o->limit && q->done >= q->o->limit)
			break;
	}
	free(b);
}

/* Replays one trace through every run; exits with a message on bad input. */
static void replay(const struct options *o, const char *path, struct run *runs, int nruns)
{
	struct vmem_trace_reader *r = NULL;
	struct progress prog = { .on = !o->quiet && isatty(2) };
	struct run *all[VMEM_MODES];
	int nworkers = o->threads ? o->threads : usable_cpus();
	struct ring q = { .nruns = nruns, .runs = all, .fail = { .index = UINT64_MAX },
			  .o = o, .path = path, .prog = &prog };
	struct stat sb;

	for (int j = 0; j < nruns; j++)
		all[j] = &runs[j];
	if (nworkers > nruns)
		nworkers = nruns;
	if (vmem_trace_open(path, &o->ropts, &r)) {
		fprintf(stderr, "vmemsim: %s\n", r ? vmem_trace_error(r) : path);
		exit(1);
	}
	q.reader = r;
	if (prog.on && stat(path, &sb) == 0)
		prog.size = sb.st_size;
	if (nworkers > 1)
		replay_threads(&q, nworkers);
	else
		replay_sequential(&q);
	if (q.fail.index != UINT64_MAX) {
		if (prog.on)
			fputc('\n', stderr);
		fprintf(stderr, "%s\n", q.fail.msg);
		exit(1);
	}
	if (q.read_status < 0) {
		if (prog.on)
			fputc('\n', stderr);
		fprintf(stderr, "vmemsim: %s\n", vmem_trace_error(r));
		exit(1);
	}
	progress_update(&prog, r, path, q.done, true);
	if (q.done == 0) {
		fprintf(stderr, "vmemsim: %s: no trace records\n", path);
		exit(1);
	}
	if (o->warmup && q.done <= o->warmup) {
		fprintf(stderr, "vmemsim: %s: %" PRIu64 " records; --warmup %" PRIu64
			" leaves none for the steady state\n", path, q.done, o->warmup);
		exit(1);
	}
	if (!o->quiet) {
		struct vmem_trace_counts c;

		vmem_trace_counts(r, &c);
		if (c.skipped_bad)
			fprintf(stderr, "vmemsim: %s: skipped %llu malformed records\n", path,
				(unsigned long long)c.skipped_bad);
	}
	vmem_trace_close(r);
}

static void print_value(FILE *f, double v)
{
	if (v == (double)(uint64_t)v && v < 1e18)
		fprintf(f, "%llu", (unsigned long long)v);
	else
		fprintf(f, "%.6g", v);
}

static void print_table(const char *path, struct run *runs, int nruns, enum phase ph,
			uint64_t warmup)
{
	const char *const *names = vmem_mmu_stat_names();

	printf("\n%s", path);
	if (ph == PHASE_COLD)
		printf(": cold start, the first %" PRIu64 " records", warmup);
	else if (ph == PHASE_STEADY)
		printf(": steady state, after %" PRIu64 " warm-up records", warmup);
	printf("\n%-26s", "statistic");
	for (int k = 0; k < nruns; k++)
		printf(" %16s", vmem_mode_name(runs[k].mode));
	printf("\n");
	for (size_t i = 0; names[i]; i++) {
		bool nonzero = false;
		double v[VMEM_MODES];

		for (int k = 0; k < nruns; k++) {
			v[k] = stat_value(&runs[k], ph, names[i]);
			nonzero |= v[k] != 0;
		}
		if (!nonzero)
			continue;   /* keep the table short: shadow counters in native mode, ... */
		printf("%-26s", names[i]);
		for (int k = 0; k < nruns; k++) {
			char buf[32];

			if (v[k] == (double)(uint64_t)v[k])
				snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v[k]);
			else
				snprintf(buf, sizeof(buf), "%.4f", v[k]);
			printf(" %16s", buf);
		}
		printf("\n");
	}
}

static FILE *open_out(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");

	if (!f)
		die("%s: cannot create: %s", path, strerror(errno));
	return f;
}

static void close_out(FILE *f, const char *path)
{
	if (fflush(f) || ferror(f) || (f != stdout && fclose(f)))
		die("%s: write failed: %s", path, strerror(errno));
}

/* The configuration keys that become cfg.KEY columns: all but mode, a column of its own. */
static bool csv_config_key(const char *key)
{
	return strcmp(key, "mode") != 0;
}

/* label: already a CSV field (csv_quote). */
static void csv_row(FILE *f, const char *label, struct run *run, enum phase ph,
		    uint64_t warmup)
{
	const char *const *names = vmem_mmu_stat_names();
	const struct vmem_config_key *k = vmem_mmu_config_keys();
	char val[64];

	fprintf(f, "%s,%s,%s,%" PRIu64, label, vmem_mode_name(run->mode), phase_names[ph],
		warmup);
	for (size_t i = 0; names[i]; i++) {
		fputc(',', f);
		print_value(f, stat_value(run, ph, names[i]));
	}
	fprintf(f, ",%s", vmem_version());
	for (; k->key; k++) {
		if (!csv_config_key(k->key))
			continue;
		vmem_mmu_config_get(vmem_mmu_get_config(run->mmu), k->key, val, sizeof(val));
		fprintf(f, ",%s", val);
	}
	fputc('\n', f);
}

/*
 * The header line, newline included: the row's identity, the statistics, then what
 * produced them (version, configuration), so rows gathered in one file stay comparable.
 */
static char *csv_header(void)
{
	const char *const *names = vmem_mmu_stat_names();
	const struct vmem_config_key *k = vmem_mmu_config_keys();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		die("%s%s", "out of memory", "");
	fprintf(f, "trace,mode,phase,warmup");
	for (size_t i = 0; names[i]; i++)
		fprintf(f, ",%s", names[i]);
	fprintf(f, ",version");
	for (; k->key; k++)
		if (csv_config_key(k->key))
			fprintf(f, ",cfg.%s", k->key);
	fputc('\n', f);
	if (fclose(f))
		die("%s%s", "out of memory", "");
	return text;
}

/* Column n (from 1) of a header line, quoted into buf, or "none" if the line is shorter. */
static void header_column(const char *line, unsigned n, char *buf, size_t len)
{
	for (unsigned i = 1; i < n && line; i++) {
		line = strpbrk(line, ",\n");
		line = line && *line == ',' ? line + 1 : NULL;
	}
	if (line)
		snprintf(buf, len, "'%.*s'", (int)strcspn(line, ",\n"), line);
	else
		snprintf(buf, len, "none");
}

/*
 * --csv-append: opens path for appending. A new or empty file gets the header; a file
 * with rows must have this run's header, or the columns would not line up. What is not
 * a regular file (a FIFO, /dev/null) is written to as a new file, never read.
 */
static FILE *open_csv_append(const char *path, const char *header)
{
	FILE *f = fopen(path, "a+");
	char *line = NULL;
	size_t cap = 0;
	struct stat st;
	ssize_t n;

	if (!f)
		die("%s: cannot open for appending: %s", path, strerror(errno));
	/* Only a regular file has rows to check: a FIFO would block, /dev/zero not end. */
	n = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? getline(&line, &cap, f) : 0;
	if (n <= 0) {
		fputs(header, f);
	} else if (strcmp(line, header) != 0) {
		unsigned col = 1;
		char theirs[128], ours[128];
		size_t i = 0;

		for (; line[i] && line[i] == header[i]; i++)
			col += line[i] == ',';
		/* One line ends where the other goes on: the first column of one only. */
		if ((line[i] == ',' && (header[i] == '\n' || !header[i])) ||
		    (header[i] == ',' && (line[i] == '\n' || !line[i])))
			col++;
		header_column(line, col, theirs, sizeof(theirs));
		header_column(header, col, ours, sizeof(ours));
		fprintf(stderr, "vmemsim: %s: cannot append: its header differs from this run's at "
			"column %u (%s there, %s here); write to a new file\n", path, col,
			theirs, ours);
		exit(2);
	} else if (fseek(f, -1, SEEK_END) == 0 && fgetc(f) != '\n') {
		fprintf(stderr, "vmemsim: %s: cannot append: its last row does not end with a "
			"newline\n", path);
		exit(2);
	}
	free(line);
	return f;
}

static void json_modes(FILE *f, struct run *runs, int nruns, enum phase ph)
{
	const char *const *names = vmem_mmu_stat_names();

	fputc('{', f);
	for (int r = 0; r < nruns; r++) {
		fprintf(f, "%s\n       \"%s\": {", r ? "," : "", vmem_mode_name(runs[r].mode));
		for (size_t i = 0; names[i]; i++) {
			fprintf(f, "%s\"%s\": ", i ? ", " : "", names[i]);
			print_value(f, stat_value(&runs[r], ph, names[i]));
		}
		fputc('}', f);
	}
	fputc('}', f);
}

/*
 * One trace: its configuration, then "modes" (the whole replay, or the steady state
 * after a warm-up) and, after a warm-up, "cold" with the warm-up's own figures.
 */
static void json_trace(FILE *f, const char *path, const char *label, struct run *runs,
		       int nruns, bool first, const struct options *o)
{
	const struct vmem_config_key *k = vmem_mmu_config_keys();
	char val[64];

	fprintf(f, "%s\n    {\"trace\": ", first ? "" : ",");
	text_json_string(f, path);
	fprintf(f, ", \"label\": ");
	text_json_string(f, label);
	fprintf(f, ",\n     \"config\": {");
	for (bool fk = true; k->key; k++) {
		if (strcmp(k->key, "mode") == 0)
			continue;
		vmem_mmu_config_get(vmem_mmu_get_config(runs[0].mmu), k->key, val, sizeof(val));
		fprintf(f, "%s\"%s\": ", fk ? "" : ", ", k->key);
		text_json_string(f, val);
		fk = false;
	}
	fprintf(f, "},\n     \"warmup\": %" PRIu64 ", \"data_only\": %s,\n     \"modes\": ",
		o->warmup, o->data_only ? "true" : "false");
	json_modes(f, runs, nruns, o->warmup ? PHASE_STEADY : PHASE_WHOLE);
	if (o->warmup) {
		fprintf(f, ",\n     \"cold\": ");
		json_modes(f, runs, nruns, PHASE_COLD);
	}
	fputc('}', f);
}

/* label: already a CSV field (csv_quote). */
static void hist_rows(FILE *f, const char *label, struct run *runs, int nruns)
{
	for (int r = 0; r < nruns; r++) {
		const struct vmem_mmu_stats *s = vmem_mmu_stats(runs[r].mmu);

		for (unsigned b = 0; b < VMEM_WALK_HIST; b++)
			if (s->walk_hist[b])
				fprintf(f, "%s,%s,%u,%llu\n", label, vmem_mode_name(runs[r].mode), b,
					(unsigned long long)s->walk_hist[b]);
	}
}

int main(int argc, char **argv)
{
	struct options o;
	FILE *csv = NULL, *json = NULL, *hist = NULL, *mrc = NULL;
	int status = parse_args(argc, argv, &o);

	if (status != PARSED)
		return outfile_stdout_close("vmemsim", status);
	if (o.csv) {
		char *header = csv_header();

		if (o.csv_append && strcmp(o.csv, "-") != 0) {
			csv = open_csv_append(o.csv, header);
		} else {
			csv = open_out(o.csv);
			fputs(header, csv);
		}
		free(header);
	}
	if (o.json) {
		json = open_out(o.json);
		fprintf(json, "{\"version\": \"%s\", \"traces\": [", vmem_version());
	}
	if (o.hist) {
		hist = open_out(o.hist);
		fprintf(hist, "trace,mode,refs,walks\n");
	}
	if (o.mrc) {
		mrc = open_out(o.mrc);
		vmem_mrc_csv_header(mrc);
	}
	for (int t = optind; t < argc; t++) {
		const char *path = argv[t], *label = o.label ? o.label : basename_of(path);
		char *csv_label = text_csv_quote(label);
		struct run runs[VMEM_MODES];
		int nruns = 0;

		if (!csv_label)
			die("%s%s", "out of memory", "");
		for (int mode = 0; mode < VMEM_MODES; mode++) {
			struct vmem_mmu_config cfg = o.cfg;
			int err;

			if (!o.modes[mode])
				continue;
			cfg.mode = (enum vmem_mode)mode;
			err = vmem_mmu_create(&cfg, &runs[nruns].mmu);
			if (!err && mrc)
				err = vmem_mmu_enable_mrc(runs[nruns].mmu, 0);
			if (err == VMEM_ENOMEM)
				die("configuration too large for this host: %s creating the %s machine "
				    "(guest.mem, host.mem, tlb.*, pwc.*, ntlb)", vmem_strerror(err),
				    vmem_mode_name(cfg.mode));
			if (err)
				die("cannot create the %s machine: %s", vmem_mode_name((enum vmem_mode)mode),
				    vmem_strerror(err));
			runs[nruns++].mode = (enum vmem_mode)mode;
		}
		replay(&o, path, runs, nruns);
		if (!o.quiet && o.warmup)
			print_table(path, runs, nruns, PHASE_COLD, o.warmup);
		if (!o.quiet)
			print_table(path, runs, nruns, o.warmup ? PHASE_STEADY : PHASE_WHOLE,
				    o.warmup);
		for (int r = 0; csv && r < nruns; r++) {
			if (o.warmup)
				csv_row(csv, csv_label, &runs[r], PHASE_COLD, o.warmup);
			csv_row(csv, csv_label, &runs[r], o.warmup ? PHASE_STEADY : PHASE_WHOLE,
				o.warmup);
		}
		if (json)
			json_trace(json, path, label, runs, nruns, t == optind, &o);
		if (hist)
			hist_rows(hist, csv_label, runs, nruns);
		for (int r = 0; mrc && r < nruns; r++)
			vmem_mmu_mrc_csv(mrc, csv_label, runs[r].mmu);
		for (int r = 0; r < nruns; r++)
			vmem_mmu_destroy(runs[r].mmu);
		free(csv_label);
	}
	if (csv)
		close_out(csv, o.csv);
	if (json) {
		fprintf(json, "\n]}\n");
		close_out(json, o.json);
	}
	if (hist)
		close_out(hist, o.hist);
	if (mrc)
		close_out(mrc, o.mrc);
	return outfile_stdout_close("vmemsim", 0);
}
