/*
 * vmem-sweep: experiment sweeps over traces and configurations (docs/SWEEPS.md).
 *
 * A spec (include/vmem/sweep.h) expands to a plan of runs; each run is one vmemsim process
 * replaying one trace under one configuration and mode. `run` executes the plan on a pool
 * of worker processes, `submit` hands it to Slurm as a job array whose tasks execute their
 * share through the same code (`run-task`), `collect` gathers the results into one table
 * and `plot` draws the standard plots from it. Results live in a folder, one file per run
 * named by the run's key (a hash of the trace's content, the full configuration and the
 * version), so a finished run is found again and never redone.
 *
 * Exit status: 0 when everything asked for was done, 1 when runs failed or a command could
 * not complete, 2 on bad usage or a bad spec, 130/143 when interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "vmem/sweep.h"

/* Paths are checked to leave room for what is appended to them (check_path); GCC cannot
 * see that and warns of truncation at every snprintf of a path. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* Room kept after a folder's name for the file names appended to it. */
#define PATH_ROOM 256

#include "trace/trace_outfile.h"

static const char usage[] =
"usage: vmem-sweep COMMAND [options] [SPEC]\n"
"\n"
"Runs experiment sweeps: a SPEC file names traces, configuration axes, fixed keys,\n"
"presets, modes and repetitions (docs/SWEEPS.md); its plan is every combination, one\n"
"vmemsim run each. Results go to a folder (--results DIR; default the spec's results =\n"
"line, else sweep-results/NAME), one file per run named by a hash of the trace's\n"
"content, the full configuration and the version: finished runs are never redone.\n"
"\n"
"commands:\n"
"  plan SPEC            print the runs the spec expands to and their count\n"
"  run SPEC             execute the plan here on --jobs worker processes; a progress\n"
"                       line (done/total, ETA) on a terminal; a failed run is recorded\n"
"                       with its error and the sweep goes on; resumable\n"
"  submit SPEC          write a Slurm batch script (a job array, one task per --chunk\n"
"                       runs) into DIR/slurm/ and submit it with sbatch\n"
"  run-task SPEC --task K   execute chunk K of the plan (what each array task runs)\n"
"  status SPEC          runs done, failed and pending; the Slurm job's tasks (squeue,\n"
"                       sacct) when the sweep was submitted\n"
"  collect [SPEC]       one table of the results present (partial while runs go on):\n"
"                       a row per run, the configuration as columns, a column per\n"
"                       statistic; in plan order with SPEC, else every result in DIR\n"
"  plot SPEC            PNG and PDF plots into DIR/plots (or --out): miss rate against\n"
"                       TLB size per trace, cycles per access by mode, a heat map of\n"
"                       two axes (gnuplot scripts of plots/)\n"
"\n"
"options:\n"
"  -r, --results DIR    the results folder\n"
"  -j, --jobs N         worker processes (run, run-task; default: the online CPUs;\n"
"                       run-task: SLURM_CPUS_PER_TASK, else 1)\n"
"      --max-runs N     refuse plans of more runs (default: the spec's max-runs, else\n"
"                       10000)\n"
"      --vmemsim PATH   the vmemsim program (default: the one beside vmem-sweep, else\n"
"                       $VMEMSIM, else vmemsim in PATH)\n"
"  -q, --quiet          no progress line\n"
"      --task K         run-task: the chunk to run (default $SLURM_ARRAY_TASK_ID)\n"
"      --chunk N        submit, run-task: runs per array task (default: enough for at\n"
"                       most 1000 tasks)\n"
"      --partition P    submit: the Slurm partition\n"
"      --time T         submit: time limit per task (Slurm's format, e.g. 1:00:00)\n"
"      --max-parallel N submit: tasks running at once (--array=...%N)\n"
"      --cpus N         submit: CPUs per task (default 1); each task runs that many\n"
"      --no-submit      submit: write the script, do not call sbatch\n"
"      --csv FILE       collect: write CSV to FILE (default: CSV on standard output)\n"
"      --json FILE      collect: write JSON to FILE\n"
"      --out DIR        plot: where the plots go (default DIR/plots)\n"
"      --x KEY          plot: the TLB-size axis (default: the first axis of a tlb. key)\n"
"      --heat X,Y       plot: the two axes of the heat map (default: the first two)\n"
"      --stat NAME      plot: the statistic of the heat map (default cycles.per_access)\n"
"  -h, --help           this text\n"
"      --version        the version\n"
"\n"
"examples:\n"
"  vmem-sweep plan examples/sweeps/tiny.sweep\n"
"  vmem-sweep run --jobs 2 examples/sweeps/tiny.sweep\n"
"  vmem-sweep status examples/sweeps/tiny.sweep\n"
"  vmem-sweep collect --csv tiny.csv examples/sweeps/tiny.sweep\n"
"  vmem-sweep collect --json tiny.json --results sweep-results/tiny\n"
"  vmem-sweep plot --out tiny-plots examples/sweeps/tiny.sweep\n"
"  vmem-sweep submit --no-submit --chunk 4 --time 10:00 examples/sweeps/tiny.sweep\n";

struct opts {
	const char *cmd;
	const char *spec;
	const char *results;
	const char *vmemsim;
	const char *csv, *json;
	const char *out, *xkey, *heat, *stat;
	const char *partition, *time;
	unsigned jobs;
	uint64_t max_runs;
	long task;
	size_t chunk;
	unsigned max_parallel, cpus;
	bool quiet, no_submit;
};

static char self_dir[PATH_MAX];   /* the folder vmem-sweep runs from */
static char self_path[PATH_MAX];

__attribute__((noreturn, format(printf, 2, 3)))
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmem-sweep: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static uint64_t number(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || *s < '0' || *s > '9' || v < min || v > max)
		die(2, "%s %s: expected a number from %llu to %llu", opt, s,
		    (unsigned long long)min, (unsigned long long)max);
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_MAXRUNS = 256, O_VMEMSIM, O_TASK, O_CHUNK, O_PARTITION, O_TIME, O_MAXPAR,
	       O_CPUS, O_NOSUBMIT, O_CSV, O_JSON, O_OUT, O_X, O_HEAT, O_STAT, O_VERSION };
	static const struct option longopts[] = {
		{ "results", required_argument, NULL, 'r' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "max-runs", required_argument, NULL, O_MAXRUNS },
		{ "vmemsim", required_argument, NULL, O_VMEMSIM },
		{ "quiet", no_argument, NULL, 'q' },
		{ "task", required_argument, NULL, O_TASK },
		{ "chunk", required_argument, NULL, O_CHUNK },
		{ "partition", required_argument, NULL, O_PARTITION },
		{ "time", required_argument, NULL, O_TIME },
		{ "max-parallel", required_argument, NULL, O_MAXPAR },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "no-submit", no_argument, NULL, O_NOSUBMIT },
		{ "csv", required_argument, NULL, O_CSV },
		{ "json", required_argument, NULL, O_JSON },
		{ "out", required_argument, NULL, O_OUT },
		{ "x", required_argument, NULL, O_X },
		{ "heat", required_argument, NULL, O_HEAT },
		{ "stat", required_argument, NULL, O_STAT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->task = -1;
	while ((c = getopt_long(argc, argv, "r:j:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->results = optarg; break;
		case 'j': o->jobs = (unsigned)number("--jobs", optarg, 1, 4096); break;
		case O_MAXRUNS:
			o->max_runs = number("--max-runs", optarg, 1, VMEM_SWEEP_LIMIT_MAX_RUNS);
			break;
		case O_VMEMSIM: o->vmemsim = optarg; break;
		case 'q': o->quiet = true; break;
		case O_TASK: o->task = (long)number("--task", optarg, 0, 10000000); break;
		case O_CHUNK: o->chunk = number("--chunk", optarg, 1, 10000000); break;
		case O_PARTITION: o->partition = optarg; break;
		case O_TIME: o->time = optarg; break;
		case O_MAXPAR:
			o->max_parallel = (unsigned)number("--max-parallel", optarg, 1, 100000);
			break;
		case O_CPUS: o->cpus = (unsigned)number("--cpus", optarg, 1, 4096); break;
		case O_NOSUBMIT: o->no_submit = true; break;
		case O_CSV: o->csv = optarg; break;
		case O_JSON: o->json = optarg; break;
		case O_OUT: o->out = optarg; break;
		case O_X: o->xkey = optarg; break;
		case O_HEAT: o->heat = optarg; break;
		case O_STAT: o->stat = optarg; break;
		case 'h': fputs(usage, stdout); exit(outfile_stdout_close("vmem-sweep", 0));
		case O_VERSION:
			printf("vmem-sweep (libvmem) %s\n", vmem_version());
			exit(outfile_stdout_close("vmem-sweep", 0));
		default:
			fprintf(stderr, "vmem-sweep --help shows the usage\n");
			exit(2);
		}
	}
	if (optind < argc)
		o->spec = argv[optind++];
	if (optind < argc)
		die(2, "%s: one spec only (vmem-sweep --help shows the usage)", argv[optind]);
	if (o->csv && o->json)
		die(2, "--csv, --json: give one of them");
}

/* ---- the spec, the plan, the results folder ---------------------------------------- */

struct sweep {
	struct vmem_sweep_spec *spec;
	struct vmem_sweep_plan *plan;
	char results[PATH_MAX];
	char (*trace_hash)[33];   /* per trace, computed on first use */
	bool *hashed;
};

static void load_sweep(const struct opts *o, struct sweep *sw)
{
	struct vmem_sweep_parse_opts popts = { .max_runs = o->max_runs };
	char err[1024];
	int rc;

	if (!o->spec)
		die(2, "%s: expected a SPEC file (vmem-sweep --help shows the usage)", o->cmd);
	if ((rc = vmem_sweep_spec_load(o->spec, &popts, &sw->spec, err, sizeof(err))))
		die(rc == VMEM_EIO ? 1 : 2, "%s", err);
	if ((rc = vmem_sweep_plan_build(sw->spec, &sw->plan, err, sizeof(err))))
		die(2, "%s", err);
	if (o->results)
		snprintf(sw->results, sizeof(sw->results), "%s", o->results);
	else if (sw->spec->results)
		snprintf(sw->results, sizeof(sw->results), "%s", sw->spec->results);
	else
		snprintf(sw->results, sizeof(sw->results), "sweep-results/%s", sw->spec->name);
	if (strlen(sw->results) >= PATH_MAX - PATH_ROOM)
		die(2, "%s: the results folder's name is too long", sw->results);
	sw->trace_hash = calloc(sw->spec->ntraces, sizeof(*sw->trace_hash));
	sw->hashed = calloc(sw->spec->ntraces, sizeof(bool));
	if (!sw->trace_hash || !sw->hashed)
		die(1, "out of memory");
}

static void free_sweep(struct sweep *sw)
{
	vmem_sweep_plan_free(sw->plan);
	vmem_sweep_spec_free(sw->spec);
	free(sw->trace_hash);
	free(sw->hashed);
}

/* The key of run i (its trace hashed once per process). */
static int run_key(struct sweep *sw, size_t i, char key[33], char *err, size_t errlen)
{
	size_t t = sw->plan->runs[i].trace;
	int rc;

	if (!sw->hashed[t]) {
		if ((rc = vmem_sweep_file_hash(sw->spec->traces[t], sw->trace_hash[t], err,
					       errlen)))
			return rc;
		sw->hashed[t] = true;
	}
	return vmem_sweep_run_key(sw->plan, i, sw->trace_hash[t], key, err, errlen);
}

/* 1: an ok result is stored for key; 0: none, or a failed one. */
static int have_result(const struct sweep *sw, const char *key, struct vmem_sweep_result *r)
{
	char path[PATH_MAX];
	struct vmem_sweep_result tmp;

	if (vmem_sweep_result_path(sw->results, key, path, sizeof(path)))
		return 0;
	if (vmem_sweep_result_load(path, r ? r : &tmp, NULL, 0))
		return -1;
	if (!r) {
		bool ok = tmp.ok;

		vmem_sweep_result_clear(&tmp);
		return ok;
	}
	return r->ok;
}

/* mkdir -p; dies when the folder cannot be made. */
static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0777);
			*p = '/';
		}
	}
	if (mkdir(tmp, 0777) && errno != EEXIST)
		die(1, "%s: %s", tmp, strerror(errno));
}

/* ---- run: the worker pool ---------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

struct worker {
	pid_t pid;
	size_t run;
	char key[33];
	char csv[PATH_MAX];
	char errfile[PATH_MAX];
};

static const char *find_vmemsim(const struct opts *o)
{
	static char path[PATH_MAX + 16];
	const char *env = getenv("VMEMSIM");

	if (o->vmemsim)
		return o->vmemsim;
	snprintf(path, sizeof(path), "%s/vmemsim", self_dir);
	if (self_dir[0] && access(path, X_OK) == 0)
		return path;
	if (env && *env)
		return env;
	return "vmemsim";
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The last non-empty line of a file (vmemsim's error), into buf. */
static void last_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[2048];

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
}

struct tally {
	size_t total, done, ran, reused, failed;
	double start;
	size_t ran_at_start;
	bool progress;
};

static void show_progress(const struct tally *t)
{
	double el = now_s() - t->start;
	char eta[32] = "--:--";

	if (!t->progress)
		return;
	if (t->ran > 0 && t->done < t->total) {
		double left = el / (double)(t->ran + t->failed) * (double)(t->total - t->done);
		long s = (long)(left + 0.5);

		snprintf(eta, sizeof(eta), "%ld:%02ld", s / 60, s % 60);
	} else if (t->done == t->total) {
		snprintf(eta, sizeof(eta), "0:00");
	}
	fprintf(stderr, "\rvmem-sweep: %zu/%zu runs (%zu ran, %zu reused, %zu failed), ETA %s ",
		t->done, t->total, t->ran, t->reused, t->failed, eta);
	fflush(stderr);
}

static void finish_worker(struct sweep *sw, struct worker *w, int status, struct tally *t)
{
	struct vmem_sweep_result r;
	char err[1024], msg[2048], what[1024];
	bool ok = false;

	if (vmem_sweep_result_init(sw->plan, w->run, w->key, &r, err, sizeof(err)))
		die(1, "%s", err);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (vmem_sweep_result_read_csv(&r, w->csv, err, sizeof(err)) == 0)
			ok = true;
		else
			vmem_sweep_result_fail(&r, err);
	} else {
		last_line(w->errfile, msg, sizeof(msg));
		if (!msg[0] && WIFSIGNALED(status))
			snprintf(msg, sizeof(msg), "vmemsim killed by signal %d", WTERMSIG(status));
		else if (!msg[0])
			snprintf(msg, sizeof(msg), "vmemsim exit status %d", WEXITSTATUS(status));
		vmem_sweep_result_fail(&r, msg);
	}
	if (vmem_sweep_result_save(sw->results, &r, err, sizeof(err)))
		die(1, "%s", err);
	if (ok) {
		t->ran++;
	} else {
		t->failed++;
		vmem_sweep_run_describe(sw->plan, w->run, what, sizeof(what));
		fprintf(stderr, "%svmem-sweep: run %zu (%s) failed: %s\n", t->progress ? "\r\n" : "",
			w->run, what, r.error);
	}
	t->done++;
	vmem_sweep_result_clear(&r);
	unlink(w->csv);
	unlink(w->errfile);
	w->pid = 0;
}

static pid_t start_worker(struct sweep *sw, const char *vmemsim, struct worker *w, size_t i,
			  const char *key)
{
	char err[1024], tmpdir[PATH_MAX], host[64] = "host";
	char **argv;
	pid_t pid;

	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", sw->results);
	if (mkdir(tmpdir, 0777) && errno != EEXIST)
		die(1, "%s: %s", tmpdir, strerror(errno));
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	w->run = i;
	snprintf(w->key, sizeof(w->key), "%s", key);
	snprintf(w->csv, sizeof(w->csv), "%s/%s-%s-%ld.csv", tmpdir, key, host, (long)getpid());
	snprintf(w->errfile, sizeof(w->errfile), "%s/%s-%s-%ld.err", tmpdir, key, host,
		 (long)getpid());
	if (vmem_sweep_run_argv(sw->plan, i, vmemsim, w->csv, &argv, err, sizeof(err)))
		die(1, "%s", err);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die(1, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR), ef;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		ef = open(w->errfile, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		if (ef >= 0)
			dup2(ef, 2);
		execvp(argv[0], argv);
		fprintf(stderr, "vmem-sweep: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	vmem_sweep_argv_free(argv);
	w->pid = pid;
	return pid;
}

/*
 * The version vmemsim reports must be the library's: it is part of every result key, so a
 * vmemsim of another version would file its results under keys that do not describe them.
 */
static void check_vmemsim(const char *vmemsim)
{
	char out[256] = "", want[128];
	int fd[2], status;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	if (pipe(fd))
		die(1, "pipe: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) < 0)
		die(1, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execlp(vmemsim, vmemsim, "--version", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while (len < sizeof(out) - 1 && (n = read(fd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[strcspn(out, "\r\n")] = '\0';
	snprintf(want, sizeof(want), "vmemsim (libvmem) %s", vmem_version());
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
		die(1, "cannot run %s (--vmemsim PATH names the program)", vmemsim);
	if (strcmp(out, want) != 0)
		die(1, "%s --version says '%s', expected '%s': vmem-sweep and vmemsim must come "
		    "from the same build", vmemsim, out, want);
}

/*
 * Executes runs [lo, hi) of the plan on `jobs` workers: finished runs are reused, the rest
 * run; prints the summary. Returns the exit status.
 */
static int execute(struct sweep *sw, const struct opts *o, size_t lo, size_t hi, unsigned jobs)
{
	const char *vmemsim = find_vmemsim(o);
	struct worker *w = calloc(jobs, sizeof(*w));
	struct tally t = { .total = hi - lo, .start = now_s() };
	struct sigaction sa;
	char err[1024];
	size_t next = lo;
	unsigned busy = 0;

	if (!w)
		die(1, "out of memory");
	check_vmemsim(vmemsim);
	t.progress = !o->quiet && isatty(2);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Before the first run: the folder exists and is ours to write. */
	{
		char runs[PATH_MAX + 8];

		snprintf(runs, sizeof(runs), "%s/runs", sw->results);
		mkdirs(runs);
	}
	show_progress(&t);
	while ((next < hi || busy) && !stop_signal) {
		/* Fill the free workers; reused runs count at once. */
		while (busy < jobs && next < hi && !stop_signal) {
			char key[33];
			size_t i = next++;

			if (run_key(sw, i, key, err, sizeof(err))) {
				die(1, "run %zu: %s", i, err);
			}
			if (have_result(sw, key, NULL) == 1) {
				t.reused++;
				t.done++;
				continue;
			}
			for (unsigned k = 0; k < jobs; k++) {
				if (!w[k].pid) {
					start_worker(sw, vmemsim, &w[k], i, key);
					busy++;
					break;
				}
			}
		}
		show_progress(&t);
		if (!busy)
			continue;
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			die(1, "waitpid: %s", strerror(errno));
		}
		for (unsigned k = 0; k < jobs; k++) {
			if (w[k].pid != pid)
				continue;
			if (stop_signal && WIFSIGNALED(status)) {
				/* Interrupted with us (Ctrl-C reaches the whole group): not a
				 * failure of the run, which the next run does again. */
				unlink(w[k].csv);
				unlink(w[k].errfile);
				w[k].pid = 0;
			} else {
				finish_worker(sw, &w[k], status, &t);
			}
			busy--;
			break;
		}
		show_progress(&t);
	}
	if (stop_signal) {
		/* Interrupted: stop the runs under way; what finished stays. */
		for (unsigned k = 0; k < jobs; k++)
			if (w[k].pid)
				kill(w[k].pid, SIGTERM);
		for (unsigned k = 0; k < jobs; k++) {
			if (w[k].pid) {
				waitpid(w[k].pid, NULL, 0);
				unlink(w[k].csv);
				unlink(w[k].errfile);
			}
		}
		if (t.progress)
			fputc('\n', stderr);
		fprintf(stderr, "vmem-sweep: interrupted: %zu of %zu runs done (%zu ran, %zu "
			"reused, %zu failed); run again to resume\n", t.done, t.total, t.ran,
			t.reused, t.failed);
		free(w);
		return 128 + stop_signal;
	}
	if (t.progress)
		fputc('\n', stderr);
	fprintf(stderr, "vmem-sweep: %zu runs: %zu ran, %zu reused, %zu failed; results in %s\n",
		t.total, t.ran, t.reused, t.failed, sw->results);
	free(w);
	return t.failed ? 1 : 0;
}

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

static int cmd_run(const struct opts *o)
{
	struct sweep sw = { 0 };
	int rc;

	load_sweep(o, &sw);
	rc = execute(&sw, o, 0, sw.plan->nruns, o->jobs ? o->jobs : online_cpus());
	free_sweep(&sw);
	return rc;
}

static size_t default_chunk(size_t nruns)
{
	return nruns > 1000 ? (nruns + 999) / 1000 : 1;
}

static int cmd_run_task(const struct opts *o)
{
	struct sweep sw = { 0 };
	const char *env;
	size_t chunk, lo, hi, ntasks;
	long task = o->task;
	unsigned jobs = o->jobs;
	int rc;

	load_sweep(o, &sw);
	if (task < 0) {
		env = getenv("SLURM_ARRAY_TASK_ID");
		if (!env || !*env)
			die(2, "run-task: expected --task K (or SLURM_ARRAY_TASK_ID)");
		task = (long)number("SLURM_ARRAY_TASK_ID", env, 0, 10000000);
	}
	if (!jobs) {
		env = getenv("SLURM_CPUS_PER_TASK");
		jobs = env && *env ? (unsigned)number("SLURM_CPUS_PER_TASK", env, 1, 4096) : 1;
	}
	chunk = o->chunk ? o->chunk : default_chunk(sw.plan->nruns);
	ntasks = (sw.plan->nruns + chunk - 1) / chunk;
	if ((size_t)task >= ntasks)
		die(2, "run-task: task %ld: the plan of %zu runs has %zu tasks of %zu runs", task,
		    sw.plan->nruns, ntasks, chunk);
	env = getenv("VMEM_SWEEP_RUNS");
	if (env && *env && strtoull(env, NULL, 10) != sw.plan->nruns)
		die(1, "run-task: the plan has %zu runs, %s when it was submitted: the spec or its "
		    "traces changed; submit again", sw.plan->nruns, env);
	lo = (size_t)task * chunk;
	hi = lo + chunk < sw.plan->nruns ? lo + chunk : sw.plan->nruns;
	fprintf(stderr, "vmem-sweep: task %ld: runs %zu to %zu of %zu\n", task, lo, hi - 1,
		sw.plan->nruns);
	rc = execute(&sw, o, lo, hi, jobs);
	free_sweep(&sw);
	return rc;
}

/* ---- plan, status ------------------------------------------------------------------ */

static int cmd_plan(const struct opts *o)
{
	struct sweep sw = { 0 };
	char what[2048];

	load_sweep(o, &sw);
	printf("%s: %zu runs (%zu traces x %zu presets", sw.spec->path, sw.plan->nruns,
	       sw.spec->ntraces, sw.spec->npresets ? sw.spec->npresets : 1);
	for (size_t a = 0; a < sw.spec->naxes; a++)
		printf(" x %zu %s", sw.spec->axes[a].nvalues, sw.spec->axes[a].key);
	printf(" x %zu modes x %u repeat); results in %s\n", sw.spec->nmodes, sw.spec->repeat,
	       sw.results);
	for (size_t i = 0; i < sw.plan->nruns; i++) {
		vmem_sweep_run_describe(sw.plan, i, what, sizeof(what));
		printf("%zu %s\n", i, what);
	}
	free_sweep(&sw);
	return 0;
}

/* Runs a command, its output passed on; returns its exit status (127: not found). */
static int run_cmd(char *const argv[])
{
	pid_t pid;
	int status;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return 127;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int cmd_status(const struct opts *o)
{
	struct sweep sw = { 0 };
	size_t done = 0, failed = 0, pending = 0;
	char err[1024], path[PATH_MAX + 32], jobid[64] = "";
	FILE *f;

	load_sweep(o, &sw);
	for (size_t i = 0; i < sw.plan->nruns; i++) {
		char key[33];
		int h;

		if (run_key(&sw, i, key, err, sizeof(err)))
			die(1, "%s", err);
		h = have_result(&sw, key, NULL);
		if (h == 1)
			done++;
		else if (h == 0)
			failed++;
		else
			pending++;
	}
	printf("%s: %zu runs: %zu done, %zu failed, %zu pending; results in %s\n",
	       sw.spec->path, sw.plan->nruns, done, failed, pending, sw.results);
	snprintf(path, sizeof(path), "%s/slurm/jobid", sw.results);
	if ((f = fopen(path, "r"))) {
		if (fgets(jobid, sizeof(jobid), f))
			jobid[strcspn(jobid, "\r\n;")] = '\0';
		fclose(f);
	}
	if (jobid[0]) {
		char *sq[] = { "squeue", "-j", jobid, "-r", "-o", "%.18i %.10T %.10M %R", NULL };
		char *sa[] = { "sacct", "-j", jobid, "-X", "-o", "JobID%20,State,Elapsed,ExitCode",
			       NULL };

		printf("Slurm job %s:\n", jobid);
		if (run_cmd(sq))
			printf("(squeue could not report on job %s)\n", jobid);
		if (run_cmd(sa))
			printf("(sacct could not report on job %s: is accounting storage set up?)\n",
			       jobid);
	}
	free_sweep(&sw);
	return 0;
}

/* ---- submit ------------------------------------------------------------------------ */

/* s as one word for sh, in single quotes. */
static void sh_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static void abs_path(const char *p, char *buf, size_t len)
{
	char cwd[PATH_MAX];

	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		snprintf(buf, len, "%s", p);
	else
		snprintf(buf, len, "%s/%s", cwd, p);
}

static int cmd_submit(const struct opts *o)
{
	struct sweep sw = { 0 };
	char dir[PATH_MAX + 16], script[PATH_MAX + 64], tmp[PATH_MAX + 80], spec[PATH_MAX];
	char results[PATH_MAX], cwd[PATH_MAX], err[1024], idpath[PATH_MAX + 64];
	size_t chunk, ntasks;
	FILE *f;
	int rc = 0;

	load_sweep(o, &sw);
	chunk = o->chunk ? o->chunk : default_chunk(sw.plan->nruns);
	ntasks = (sw.plan->nruns + chunk - 1) / chunk;
	/* Hash every trace now: an unreadable one stops the sweep before it is queued. */
	for (size_t i = 0; i < sw.plan->nruns; i++) {
		char key[33];

		if (run_key(&sw, i, key, err, sizeof(err)))
			die(1, "%s", err);
	}
	abs_path(o->spec, spec, sizeof(spec));
	abs_path(sw.results, results, sizeof(results));
	if (!getcwd(cwd, sizeof(cwd)))
		die(1, "getcwd: %s", strerror(errno));
	snprintf(dir, sizeof(dir), "%s/slurm", results);
	mkdirs(dir);
	snprintf(script, sizeof(script), "%s/%s.sbatch", dir, sw.spec->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", script, (long)getpid());
	if (!(f = fopen(tmp, "w")))
		die(1, "%s: %s", tmp, strerror(errno));
	fprintf(f, "#!/bin/sh\n# %s: %zu runs in %zu tasks of %zu (vmem-sweep submit)\n",
		sw.spec->path, sw.plan->nruns, ntasks, chunk);
	fprintf(f, "#SBATCH --job-name=vmem-sweep-%s\n", sw.spec->name);
	if (o->max_parallel)
		fprintf(f, "#SBATCH --array=0-%zu%%%u\n", ntasks - 1, o->max_parallel);
	else
		fprintf(f, "#SBATCH --array=0-%zu\n", ntasks - 1);
	fprintf(f, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%u\n", o->cpus ? o->cpus : 1);
	fprintf(f, "#SBATCH --output=%s/task-%%A_%%a.out\n", dir);
	if (o->partition)
		fprintf(f, "#SBATCH --partition=%s\n", o->partition);
	if (o->time)
		fprintf(f, "#SBATCH --time=%s\n", o->time);
	fprintf(f, "# Trace patterns are relative to the folder the sweep was submitted from.\n"
		"cd ");
	sh_quote(f, cwd);
	fprintf(f, " || exit 1\nexport VMEM_SWEEP_RUNS=%zu\nexec ", sw.plan->nruns);
	sh_quote(f, self_path);
	fprintf(f, " run-task --quiet --chunk %zu --vmemsim ", chunk);
	sh_quote(f, find_vmemsim(o));
	fprintf(f, " --results ");
	sh_quote(f, results);
	if (o->max_runs)
		fprintf(f, " --max-runs %" PRIu64, o->max_runs);
	fprintf(f, " ");
	sh_quote(f, spec);
	fprintf(f, "\n");
	if (fclose(f) || chmod(tmp, 0755) || rename(tmp, script)) {
		unlink(tmp);
		die(1, "%s: %s", script, strerror(errno));
	}
	printf("%s: %zu runs in %zu array tasks of %zu; batch script %s\n", sw.spec->path,
	       sw.plan->nruns, ntasks, chunk, script);
	if (!o->no_submit) {
		char out[256] = "";
		char *cmd;
		FILE *p;

		snprintf(idpath, sizeof(idpath), "%s/jobid", dir);
		if (asprintf(&cmd, "sbatch --parsable '%s'", script) < 0)
			die(1, "out of memory");
		fflush(NULL);
		p = popen(cmd, "r");
		free(cmd);
		if (!p || !fgets(out, sizeof(out), p)) {
			if (p)
				pclose(p);
			die(1, "sbatch %s failed: is Slurm installed and its controller up?",
			    script);
		}
		if (pclose(p) != 0)
			die(1, "sbatch %s failed", script);
		out[strcspn(out, ";\r\n")] = '\0';
		if (!(f = fopen(idpath, "w")) || fprintf(f, "%s\n", out) < 0 || fclose(f))
			die(1, "%s: %s", idpath, strerror(errno));
		printf("submitted job %s (vmem-sweep status %s shows its tasks)\n", out, o->spec);
	}
	free_sweep(&sw);
	return rc;
}

/* ---- collect ----------------------------------------------------------------------- */

struct table {
	struct vmem_sweep_result *res;
	size_t *runs;
	size_t n;
	size_t expected;   /* runs of the plan (0 without a spec) */
	size_t failed;
};

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		vmem_sweep_result_clear(&t->res[i]);
	free(t->res);
	free(t->runs);
}

/* Results of the plan's runs, in plan order, those present only. */
static void gather_plan(struct sweep *sw, struct table *t)
{
	char err[1024];
	const struct vmem_sweep_spec *s = sw->spec;

	t->res = calloc(sw->plan->nruns + 1, sizeof(*t->res));
	t->runs = calloc(sw->plan->nruns + 1, sizeof(size_t));
	if (!t->res || !t->runs)
		die(1, "out of memory");
	t->expected = sw->plan->nruns;
	for (size_t i = 0; i < sw->plan->nruns; i++) {
		const struct vmem_sweep_run *run = &sw->plan->runs[i];
		struct vmem_sweep_result *r = &t->res[t->n];
		char key[33];

		if (run_key(sw, i, key, err, sizeof(err)))
			die(1, "%s", err);
		if (have_result(sw, key, r) < 0)
			continue;
		/* The plan says what this run is (a result may have been made by another spec
		 * naming the same trace otherwise). */
		free(r->trace);
		free(r->preset);
		r->trace = strdup(s->traces[run->trace]);
		r->preset = strdup(run->preset == SIZE_MAX ? "" : s->presets[run->preset].name);
		r->rep = run->rep;
		if (!r->trace || !r->preset)
			die(1, "out of memory");
		if (!r->ok)
			t->failed++;
		t->runs[t->n++] = i;
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every result file of a results folder, by key. */
static void gather_dir(const char *dir, struct table *t)
{
	char runs[PATH_MAX], err[1024];
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	snprintf(runs, sizeof(runs), "%s/runs", dir);
	if (!(d = opendir(runs)))
		die(1, "%s: %s", runs, strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) != 32)
			continue;
		if (n == cap && !(names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(char *))))
			die(1, "out of memory");
		if (!(names[n++] = strdup(e->d_name)))
			die(1, "out of memory");
	}
	closedir(d);
	qsort(names, n, sizeof(char *), cmp_str);
	if (!(t->res = calloc(n + 1, sizeof(*t->res))))
		die(1, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX + 40];

		snprintf(path, sizeof(path), "%s/%s", runs, names[i]);
		if (vmem_sweep_result_load(path, &t->res[t->n], err, sizeof(err)))
			fprintf(stderr, "vmem-sweep: skipped %s\n", err);
		else if (t->res[t->n++].ok == false)
			t->failed++;
		free(names[i]);
	}
	free(names);
}

static int cmd_collect(const struct opts *o)
{
	struct sweep sw = { 0 };
	struct table t = { 0 };
	const char *target = o->csv ? o->csv : o->json;
	struct outfile of;
	char err[1024];
	FILE *f = stdout;

	if (o->spec) {
		load_sweep(o, &sw);
		gather_plan(&sw, &t);
	} else if (o->results) {
		gather_dir(o->results, &t);
	} else {
		die(2, "collect: expected a SPEC or --results DIR");
	}
	if (target) {
		if (outfile_begin(&of, target, err, sizeof(err)))
			die(1, "%s", err);
		if (!(f = fopen(outfile_path(&of), "w")))
			die(1, "%s: %s", outfile_path(&of), strerror(errno));
	}
	vmem_sweep_table_write(f, o->json ? VMEM_SWEEP_JSON : VMEM_SWEEP_CSV, t.res,
			       o->spec ? t.runs : NULL, t.n);
	if (target) {
		if (fclose(f)) {
			outfile_abort(&of);
			die(1, "%s: write failed", target);
		}
		if (outfile_commit(&of, err, sizeof(err)))
			die(1, "%s", err);
	}
	if (o->spec)
		fprintf(stderr, "vmem-sweep: %zu of %zu runs present (%zu failed)%s%s\n", t.n,
			t.expected, t.failed, target ? "; table in " : "", target ? target : "");
	else
		fprintf(stderr, "vmem-sweep: %zu results (%zu failed)%s%s\n", t.n, t.failed,
			target ? "; table in " : "", target ? target : "");
	table_free(&t);
	if (o->spec)
		free_sweep(&sw);
	return 0;
}

/* ---- plot -------------------------------------------------------------------------- */

static int stat_index(const char *name)
{
	const char *const *names = vmem_mmu_stat_names();

	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static double stat_of(const struct vmem_sweep_result *r, int s)
{
	return s >= 0 && r->stats[s] ? strtod(r->stats[s], NULL) : 0;
}

static int axis_index(const struct vmem_sweep_spec *s, const char *key)
{
	for (size_t a = 0; a < s->naxes; a++)
		if (strcmp(s->axes[a].key, key) == 0)
			return (int)a;
	return -1;
}

/* A name for a plot legend: the file name without folders and format suffixes, no blanks. */
static void short_name(const char *path, char *buf, size_t len)
{
	const char *b = strrchr(path, '/');
	static const char *const suffixes[] = { ".zst", ".gz", ".xz", ".lackey", ".vmt",
						".champsim", ".trace", NULL };
	bool again = true;

	snprintf(buf, len, "%s", b ? b + 1 : path);
	while (again) {
		size_t n = strlen(buf);

		again = false;
		for (int i = 0; suffixes[i]; i++) {
			size_t k = strlen(suffixes[i]);

			if (n > k && strcmp(buf + n - k, suffixes[i]) == 0) {
				buf[n - k] = '\0';
				again = true;
				break;
			}
		}
	}
	for (char *c = buf; *c; c++)
		if (*c == ' ' || *c == '\'' || *c == '"' || *c == '\t')
			*c = '_';
}

/* The leading number of a TLB geometry ("1536:12:lru" -> 1536); -1 if none. */
static double leading_number(const char *v)
{
	char *end;
	double x = strtod(v, &end);

	return end == v ? -1 : x;
}

static const char *plots_dir(void)
{
	static char dir[PATH_MAX + 32];
	const char *env = getenv("VMEM_PLOTS");
	struct stat st;

	if (env && *env)
		return env;
	snprintf(dir, sizeof(dir), "%s/../../../plots", self_dir);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return dir;
	return "plots";
}

static int gnuplot(const char *script, const char *vars)
{
	char path[PATH_MAX + 64];
	char *argv[] = { "gnuplot", "-e", (char *)vars, path, NULL };
	int rc;

	snprintf(path, sizeof(path), "%s/%s", plots_dir(), script);
	if (access(path, R_OK))
		die(1, "%s: %s (set VMEM_PLOTS to the plots/ folder)", path, strerror(errno));
	rc = run_cmd(argv);
	if (rc == 127)
		die(1, "gnuplot not found: install gnuplot-nox (make deps does)");
	return rc;
}

/* Draws script into out/NAME.png and out/NAME.pdf; vars are the script's inputs. */
static int draw(const char *script, const char *out, const char *name, const char *vars)
{
	char *v;
	int rc = 0;

	for (int pdf = 0; pdf < 2 && !rc; pdf++) {
		if (asprintf(&v, "%s; out='%s/%s.%s'; pdf=%d", vars, out, name, pdf ? "pdf" : "png",
			     pdf) < 0)
			die(1, "out of memory");
		rc = gnuplot(script, v);
		free(v);
	}
	if (!rc)
		printf("%s/%s.png, %s/%s.pdf\n", out, name, out, name);
	return rc;
}

static int cmd_plot(const struct opts *o)
{
	struct sweep sw = { 0 };
	struct table t = { 0 };
	const struct vmem_sweep_spec *s;
	char out[PATH_MAX], dat[PATH_MAX + 32], name[256], *vars;
	int s_miss = stat_index("tlb.miss_rate");
	int s_cpa = stat_index("cycles.per_access"), s_heat, xa = -1, ha = -1, hb = -1;
	int rc = 0, drawn = 0;
	FILE *f;

	load_sweep(o, &sw);
	s = sw.spec;
	gather_plan(&sw, &t);
	if (t.n == t.failed)
		die(1, "plot: no finished runs in %s (vmem-sweep run first)", sw.results);
	if (o->out && strlen(o->out) >= PATH_MAX - PATH_ROOM)
		die(2, "--out %s: too long", o->out);
	if (o->out)
		snprintf(out, sizeof(out), "%s", o->out);
	else
		snprintf(out, sizeof(out), "%s/plots", sw.results);
	if (strchr(out, '\''))
		die(2, "plot: the output folder may not contain a quote");
	mkdirs(out);
	s_heat = stat_index(o->stat ? o->stat : "cycles.per_access");
	if (s_heat < 0)
		die(2, "--stat %s: not a statistic (vmemsim --help-stats)", o->stat);

	/* 1. Miss rate against TLB size, a line per trace and mode, means over the rest. */
	if (o->xkey) {
		if ((xa = axis_index(s, o->xkey)) < 0)
			die(2, "--x %s: not an axis of %s", o->xkey, s->path);
	} else {
		for (size_t a = 0; a < s->naxes && xa < 0; a++)
			if (strncmp(s->axes[a].key, "tlb.", 4) == 0)
				xa = (int)a;
	}
	if (xa >= 0) {
		const struct vmem_sweep_axis *ax = &s->axes[xa];
		char *titles = NULL;
		size_t tlen = 0, nseries = 0;
		FILE *tf = open_memstream(&titles, &tlen);

		snprintf(dat, sizeof(dat), "%s/miss_rate.dat", out);
		if (!(f = fopen(dat, "w")) || !tf)
			die(1, "%s: %s", dat, strerror(errno));
		for (size_t tr = 0; tr < s->ntraces; tr++) {
			for (size_t m = 0; m < s->nmodes; m++) {
				fprintf(f, "# %s %s\n", s->traces[tr], vmem_mode_name(s->modes[m]));
				for (size_t v = 0; v < ax->nvalues; v++) {
					double sum = 0;
					size_t cnt = 0;

					for (size_t k = 0; k < t.n; k++) {
						const struct vmem_sweep_run *run = &sw.plan->runs[t.runs[k]];

						if (!t.res[k].ok || run->trace != tr ||
						    run->mode != s->modes[m] ||
						    run->axis_value[xa] != v)
							continue;
						sum += 100.0 * stat_of(&t.res[k], s_miss);
						cnt++;
					}
					if (cnt)
						fprintf(f, "%g %g\n", leading_number(ax->values[v]),
							sum / (double)cnt);
				}
				fprintf(f, "\n\n");
				short_name(s->traces[tr], name, sizeof(name));
				fprintf(tf, "%s%s_(%s)", nseries ? " " : "", name,
					vmem_mode_name(s->modes[m]));
				nseries++;
			}
		}
		fclose(f);
		fclose(tf);
		if (asprintf(&vars, "in='%s'; titles='%s'; n=%zu; xlabel='%s (entries)'", dat,
			     titles, nseries, ax->key) < 0)
			die(1, "out of memory");
		rc |= draw("sweep_miss_rate.gp", out, "miss_rate", vars);
		drawn++;
		free(vars);
		free(titles);
	} else {
		printf("no miss-rate plot: no axis of a tlb. key (--x KEY names one)\n");
	}

	/* 2. Cycles per access by mode, a cluster per trace, means over the rest. */
	snprintf(dat, sizeof(dat), "%s/cycles_by_mode.dat", out);
	if (!(f = fopen(dat, "w")))
		die(1, "%s: %s", dat, strerror(errno));
	fprintf(f, "trace");
	for (size_t m = 0; m < s->nmodes; m++)
		fprintf(f, " %s", vmem_mode_name(s->modes[m]));
	fprintf(f, "\n");
	for (size_t tr = 0; tr < s->ntraces; tr++) {
		short_name(s->traces[tr], name, sizeof(name));
		fprintf(f, "%s", name);
		for (size_t m = 0; m < s->nmodes; m++) {
			double sum = 0;
			size_t cnt = 0;

			for (size_t k = 0; k < t.n; k++) {
				const struct vmem_sweep_run *run = &sw.plan->runs[t.runs[k]];

				if (t.res[k].ok && run->trace == tr && run->mode == s->modes[m]) {
					sum += stat_of(&t.res[k], s_cpa);
					cnt++;
				}
			}
			if (cnt)
				fprintf(f, " %g", sum / (double)cnt);
			else
				fprintf(f, " NaN");
		}
		fprintf(f, "\n");
	}
	fclose(f);
	if (asprintf(&vars, "in='%s'; n=%zu", dat, s->nmodes) < 0)
		die(1, "out of memory");
	rc |= draw("sweep_cycles.gp", out, "cycles_by_mode", vars);
	drawn++;
	free(vars);

	/* 3. A heat map of two axes: the statistic's mean over everything else. */
	if (o->heat) {
		char a[256], *comma;

		snprintf(a, sizeof(a), "%s", o->heat);
		if (!(comma = strchr(a, ',')))
			die(2, "--heat %s: expected two axes, X,Y", o->heat);
		*comma = '\0';
		if ((ha = axis_index(s, a)) < 0 || (hb = axis_index(s, comma + 1)) < 0 || ha == hb)
			die(2, "--heat %s: expected two different axes of %s", o->heat, s->path);
	} else if (s->naxes >= 2) {
		ha = 0;
		hb = 1;
	}
	if (ha >= 0) {
		const struct vmem_sweep_axis *ax = &s->axes[ha], *ay = &s->axes[hb];
		char tics[PATH_MAX + 32];

		snprintf(dat, sizeof(dat), "%s/heatmap.dat", out);
		snprintf(tics, sizeof(tics), "%s/heatmap-tics.gp", out);
		if (!(f = fopen(dat, "w")))
			die(1, "%s: %s", dat, strerror(errno));
		for (size_t x = 0; x < ax->nvalues; x++) {
			for (size_t y = 0; y < ay->nvalues; y++) {
				double sum = 0;
				size_t cnt = 0;

				for (size_t k = 0; k < t.n; k++) {
					const struct vmem_sweep_run *run = &sw.plan->runs[t.runs[k]];

					if (t.res[k].ok && run->axis_value[ha] == x &&
					    run->axis_value[hb] == y) {
						sum += stat_of(&t.res[k], s_heat);
						cnt++;
					}
				}
				if (cnt)
					fprintf(f, "%zu %zu %g\n", x, y, sum / (double)cnt);
				else
					fprintf(f, "%zu %zu NaN\n", x, y);
			}
			fprintf(f, "\n");
		}
		fclose(f);
		if (!(f = fopen(tics, "w")))
			die(1, "%s: %s", tics, strerror(errno));
		fprintf(f, "set xtics (");
		for (size_t x = 0; x < ax->nvalues; x++)
			fprintf(f, "%s\"%s\" %zu", x ? ", " : "", ax->values[x], x);
		fprintf(f, ")\nset ytics (");
		for (size_t y = 0; y < ay->nvalues; y++)
			fprintf(f, "%s\"%s\" %zu", y ? ", " : "", ay->values[y], y);
		fprintf(f, ")\n");
		fclose(f);
		if (asprintf(&vars, "in='%s'; tics='%s'; xlabel='%s'; ylabel='%s'; stat='%s'; "
			     "nx=%zu; ny=%zu", dat, tics, ax->key, ay->key,
			     vmem_mmu_stat_names()[s_heat], ax->nvalues, ay->nvalues) < 0)
			die(1, "out of memory");
		rc |= draw("sweep_heatmap.gp", out, "heatmap", vars);
		drawn++;
		free(vars);
	} else {
		printf("no heat map: the spec has fewer than two axes\n");
	}
	table_free(&t);
	free_sweep(&sw);
	if (rc)
		die(1, "plot: gnuplot failed");
	return drawn ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	ssize_t n;
	int rc;

	if ((n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1)) > 0) {
		char *slash;

		self_path[n] = '\0';
		snprintf(self_dir, sizeof(self_dir), "%s", self_path);
		if ((slash = strrchr(self_dir, '/')))
			*slash = '\0';
	} else {
		snprintf(self_path, sizeof(self_path), "%s", argv[0]);
	}
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (argv[1][0] == '-') {
		parse_args(argc, argv, &o);
		fputs(usage, stderr);
		return 2;
	}
	o.cmd = argv[1];
	parse_args(argc - 1, argv + 1, &o);
	if (strcmp(o.cmd, "plan") == 0)
		rc = cmd_plan(&o);
	else if (strcmp(o.cmd, "run") == 0)
		rc = cmd_run(&o);
	else if (strcmp(o.cmd, "run-task") == 0)
		rc = cmd_run_task(&o);
	else if (strcmp(o.cmd, "submit") == 0)
		rc = cmd_submit(&o);
	else if (strcmp(o.cmd, "status") == 0)
		rc = cmd_status(&o);
	else if (strcmp(o.cmd, "collect") == 0)
		rc = cmd_collect(&o);
	else if (strcmp(o.cmd, "plot") == 0)
		rc = cmd_plot(&o);
	else
		die(2, "unknown command %s: expected plan, run, submit, run-task, status, collect "
		    "or plot", o.cmd);
	return outfile_stdout_close("vmem-sweep", rc);
}
