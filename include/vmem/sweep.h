/*
 * Experiment sweeps: a spec file names traces, configuration axes (lists or ranges of
 * values), fixed keys, presets, modes and repetitions; its plan is every combination, one
 * run (one vmemsim replay) each; each run's result is stored under a key that hashes the
 * trace's content, the run's full configuration and the program version, so a finished
 * run is never redone and a changed input never reuses a stale result. docs/SWEEPS.md
 * describes the format; vmem-sweep runs plans locally or as a Slurm job array.
 *
 * Errors: functions return 0 or a negative VMEM_E* code and write one line into err (when
 * not NULL); spec errors read "FILE:LINE: what was wrong, what was expected".
 *
 * Concurrency: a spec and a plan are read-only once built; several threads may read them.
 */
#ifndef VMEM_SWEEP_H
#define VMEM_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmem/mmu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds on a spec: what an input may make the parser and the plan allocate. */
#define VMEM_SWEEP_MAX_LINE 4096          /* bytes per spec line */
#define VMEM_SWEEP_MAX_VALUES 4096        /* values of one axis or one trace line */
#define VMEM_SWEEP_DEFAULT_MAX_RUNS 10000 /* runs a plan may have unless max-runs says */
#define VMEM_SWEEP_LIMIT_MAX_RUNS 10000000 /* the largest max-runs accepted */

/* One key=value assignment of the machine's configuration, and the spec line it came from. */
struct vmem_sweep_set {
	char *key;
	char *value;
	unsigned line;
};

/* An axis: a configuration key and the values it takes, in the order given. */
struct vmem_sweep_axis {
	char *key;
	char **values;
	size_t nvalues;
	unsigned line;
};

/* A named preset: configuration files, then keys, applied before the axes. */
struct vmem_sweep_preset {
	char *name;
	struct vmem_sweep_set *sets;   /* key "@config" = a configuration file to load */
	size_t nsets;
	unsigned line;
};

struct vmem_sweep_spec {
	char *path;                    /* the spec file as named ("<string>" when parsed) */
	char *name;                    /* name = ..., default: the file name up to its first '.' */
	char **traces;                 /* trace files, globs expanded (sorted), duplicates dropped */
	size_t ntraces;
	struct vmem_sweep_axis *axes;
	size_t naxes;
	struct vmem_sweep_set *sets;   /* fixed keys, "@config" = a configuration file */
	size_t nsets;
	struct vmem_sweep_preset *presets;
	size_t npresets;
	enum vmem_mode modes[VMEM_MODES];
	size_t nmodes;                 /* default: native only */
	unsigned repeat;               /* runs of each configuration, default 1 */
	uint64_t seed;                 /* repetition r sets seed = seed + r (when seeded) */
	bool seeded;                   /* seed = or repeat > 1 given */
	uint64_t warmup;               /* vmemsim --warmup (0: none) */
	uint64_t limit;                /* vmemsim --limit (0: none) */
	bool data_only;                /* vmemsim --data-only */
	uint64_t max_runs;             /* the plan may not have more runs */
	char *results;                 /* results = DIR, or NULL */
};

struct vmem_sweep_parse_opts {
	/* Overrides the spec's max-runs when not 0. */
	uint64_t max_runs;
	/* Take trace patterns as plain names: no glob expansion, no check that they exist
	 * (for tests). Configuration files are still read. */
	bool literal_traces;
};

/* Parses a spec from text; name is what errors call the file. NULL opts: defaults. */
int vmem_sweep_spec_parse(const char *text, size_t len, const char *name,
			  const struct vmem_sweep_parse_opts *opts, struct vmem_sweep_spec **out,
			  char *err, size_t errlen);

/* Reads and parses a spec file. */
int vmem_sweep_spec_load(const char *path, const struct vmem_sweep_parse_opts *opts,
			 struct vmem_sweep_spec **out, char *err, size_t errlen);

void vmem_sweep_spec_free(struct vmem_sweep_spec *spec);

/*
 * The number of runs spec expands to: traces x presets (1 without) x the values of each
 * axis x modes x repeat. Returns 0 with the count in *n, or VMEM_ELIMIT past max_runs
 * (and past 2^64).
 */
int vmem_sweep_spec_count(const struct vmem_sweep_spec *spec, uint64_t *n, char *err,
			  size_t errlen);

/* One run of a plan: indices into the spec. Traces vary slowest, repetitions fastest. */
struct vmem_sweep_run {
	size_t index;         /* in the plan, from 0 */
	size_t trace;         /* into spec->traces */
	size_t preset;        /* into spec->presets, SIZE_MAX when there are none */
	size_t *axis_value;   /* for each axis, into its values */
	enum vmem_mode mode;
	unsigned rep;         /* repetition, from 0 */
};

struct vmem_sweep_plan {
	const struct vmem_sweep_spec *spec;
	struct vmem_sweep_run *runs;
	size_t nruns;
};

/*
 * Expands spec into its runs and checks each run's configuration (keys that contradict
 * each other name the run). The plan points into spec, which must outlive it.
 */
int vmem_sweep_plan_build(const struct vmem_sweep_spec *spec, struct vmem_sweep_plan **out,
			  char *err, size_t errlen);

void vmem_sweep_plan_free(struct vmem_sweep_plan *plan);

/*
 * The configuration of run i: defaults, the spec's fixed keys and files (in order), the
 * preset's, the axes' values, the repetition's seed, the mode.
 */
int vmem_sweep_run_config(const struct vmem_sweep_plan *plan, size_t i,
			  struct vmem_mmu_config *cfg, char *err, size_t errlen);

/* A one-line description of run i: "TRACE mode=M [preset=P] KEY=V... [rep=R]". */
int vmem_sweep_run_describe(const struct vmem_sweep_plan *plan, size_t i, char *buf,
			    size_t len);

/*
 * The hash of a file's content (XXH3, 128 bits) as 32 hex digits and a NUL in hex[33].
 * VMEM_EIO with err naming the file when it cannot be read.
 */
int vmem_sweep_file_hash(const char *path, char hex[33], char *err, size_t errlen);

/*
 * The result key of run i, given the hash of its trace's content: the XXH3-128 hash (32
 * hex digits) of the trace hash, every configuration key's value, the mode, the replay
 * options (warmup, limit, data-only) and the library version.
 */
int vmem_sweep_run_key(const struct vmem_sweep_plan *plan, size_t i, const char *trace_hash,
		       char key[33], char *err, size_t errlen);

/*
 * The command line that performs run i: vmemsim (the program path given) replaying the
 * run's trace quietly with every configuration key set, writing its CSV to csv_out.
 * A NULL-terminated array; free it with vmem_sweep_argv_free.
 */
int vmem_sweep_run_argv(const struct vmem_sweep_plan *plan, size_t i, const char *vmemsim,
			const char *csv_out, char ***argv, char *err, size_t errlen);

void vmem_sweep_argv_free(char **argv);

/*
 * A run's result, as stored in RESULTS/runs/KEY: what ran (trace, mode, preset,
 * repetition, configuration) and either the statistics of its measured phase (the steady
 * state after a warm-up, else the whole replay) or the error that stopped it. Values
 * are kept as text, exactly as vmemsim wrote them.
 */
struct vmem_sweep_result {
	char key[33];
	bool ok;
	char *error;            /* when !ok: the failure, one line */
	char *trace;            /* as the spec named it */
	char *mode;
	char *preset;           /* "" when none */
	unsigned rep;
	char *version;
	char **stats;           /* per vmem_mmu_stat_names(), NULL when absent */
	char **config;          /* per vmem_mmu_config_keys() but mode */
};

/* The result skeleton of run i (what ran, its configuration, no statistics yet). */
int vmem_sweep_result_init(const struct vmem_sweep_plan *plan, size_t i, const char *key,
			   struct vmem_sweep_result *r, char *err, size_t errlen);

/*
 * Reads the statistics of the measured phase from the CSV vmemsim wrote (--csv) into r;
 * sets r->ok. VMEM_EFORMAT when the file has no such row.
 */
int vmem_sweep_result_read_csv(struct vmem_sweep_result *r, const char *csv, char *err,
			       size_t errlen);

/* Marks r failed with the message (its first line is kept). */
int vmem_sweep_result_fail(struct vmem_sweep_result *r, const char *message);

/* The path of key's result in dir: DIR/runs/KEY (into buf; VMEM_EINVAL if too long). */
int vmem_sweep_result_path(const char *dir, const char *key, char *buf, size_t len);

/*
 * Writes r into dir/runs/KEY atomically (a temporary file in the same folder, renamed
 * over the target), creating the folders.
 */
int vmem_sweep_result_save(const char *dir, const struct vmem_sweep_result *r, char *err,
			   size_t errlen);

/* Reads a result file; VMEM_ENOENT when there is none, VMEM_EFORMAT when malformed. */
int vmem_sweep_result_load(const char *path, struct vmem_sweep_result *r, char *err,
			   size_t errlen);

void vmem_sweep_result_clear(struct vmem_sweep_result *r);

enum vmem_sweep_table_format { VMEM_SWEEP_CSV, VMEM_SWEEP_JSON };

/*
 * Writes results as one table: one row per result, the columns run (runs[k], or empty
 * when runs is NULL), key, trace, mode, preset, rep, status, error, every statistic, then
 * every configuration key as cfg.KEY. JSON: an array of objects with the same names.
 */
int vmem_sweep_table_write(FILE *f, enum vmem_sweep_table_format fmt,
			   const struct vmem_sweep_result *results, const size_t *runs, size_t n);

#ifdef __cplusplus
}
#endif

#endif
