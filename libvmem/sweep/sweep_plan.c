/*
 * A sweep's plan: the runs its spec expands to, each run's configuration, its result key
 * (a hash of what determines its figures) and the vmemsim command line that performs it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "sweep/sweep_internal.h"

int vmem_sweep_plan_build(const struct vmem_sweep_spec *spec, struct vmem_sweep_plan **out,
			  char *err, size_t errlen)
{
	struct vmem_sweep_plan *plan;
	size_t npresets = spec->npresets ? spec->npresets : 1, naxes = spec->naxes;
	size_t *digits;
	uint64_t n;
	int rc;

	*out = NULL;
	if ((rc = vmem_sweep_spec_count(spec, &n, err, errlen)))
		return rc;
	plan = calloc(1, sizeof(*plan));
	digits = calloc(naxes + 1, sizeof(size_t));
	if (!plan || !digits || !(plan->runs = calloc(n ? n : 1, sizeof(*plan->runs)))) {
		free(digits);
		free(plan);
		return VMEM_ENOMEM;
	}
	plan->spec = spec;
	plan->nruns = 0;
	/* Traces slowest, then presets, the axes in spec order, modes, repetitions fastest. */
	for (size_t t = 0; t < spec->ntraces; t++) {
		for (size_t pr = 0; pr < npresets; pr++) {
			memset(digits, 0, (naxes + 1) * sizeof(size_t));
			for (;;) {
				for (size_t m = 0; m < spec->nmodes; m++) {
					for (unsigned r = 0; r < spec->repeat; r++) {
						struct vmem_sweep_run *run = &plan->runs[plan->nruns];

						run->index = plan->nruns++;
						run->trace = t;
						run->preset = spec->npresets ? pr : SIZE_MAX;
						run->mode = spec->modes[m];
						run->rep = r;
						run->axis_value = malloc((naxes ? naxes : 1) *
									 sizeof(size_t));
						if (!run->axis_value) {
							free(digits);
							vmem_sweep_plan_free(plan);
							return VMEM_ENOMEM;
						}
						memcpy(run->axis_value, digits, naxes * sizeof(size_t));
					}
				}
				/* The next combination of axis values, the last axis fastest. */
				size_t a = naxes;

				while (a > 0) {
					if (++digits[a - 1] < spec->axes[a - 1].nvalues)
						break;
					digits[a - 1] = 0;
					a--;
				}
				if (a == 0)
					break;
			}
		}
	}
	free(digits);
	for (size_t i = 0; i < plan->nruns; i++) {
		struct vmem_mmu_config cfg;
		char msg[512], what[1024];

		if ((rc = vmem_sweep_run_config(plan, i, &cfg, msg, sizeof(msg))) == 0 &&
		    (rc = vmem_mmu_config_check(&cfg, msg, sizeof(msg))) != 0) {
			vmem_sweep_run_describe(plan, i, what, sizeof(what));
			sweep_err(err, errlen, "%s: run %zu (%s): inconsistent configuration: %s",
				  spec->path, i, what, msg);
		} else if (rc) {
			sweep_err(err, errlen, "%s: run %zu: %s", spec->path, i, msg);
		}
		if (rc) {
			vmem_sweep_plan_free(plan);
			return rc;
		}
	}
	*out = plan;
	return 0;
}

void vmem_sweep_plan_free(struct vmem_sweep_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->nruns; i++)
		free(plan->runs[i].axis_value);
	free(plan->runs);
	free(plan);
}

static int apply_sets(struct vmem_mmu_config *cfg, const struct vmem_sweep_set *sets, size_t n,
		      const char *file, char *err, size_t errlen)
{
	char msg[512];

	for (size_t i = 0; i < n; i++) {
		if (sweep_apply_set(cfg, &sets[i], msg, sizeof(msg))) {
			sweep_err(err, errlen, "%s:%u: %s", file, sets[i].line, msg);
			return VMEM_EINVAL;
		}
	}
	return 0;
}

int vmem_sweep_run_config(const struct vmem_sweep_plan *plan, size_t i,
			  struct vmem_mmu_config *cfg, char *err, size_t errlen)
{
	const struct vmem_sweep_spec *s = plan->spec;
	const struct vmem_sweep_run *run;
	char msg[512];
	int rc;

	if (i >= plan->nruns) {
		sweep_err(err, errlen, "run %zu: the plan has %zu runs", i, plan->nruns);
		return VMEM_EINVAL;
	}
	run = &plan->runs[i];
	vmem_mmu_config_default(cfg);
	if ((rc = apply_sets(cfg, s->sets, s->nsets, s->path, err, errlen)))
		return rc;
	if (run->preset != SIZE_MAX &&
	    (rc = apply_sets(cfg, s->presets[run->preset].sets, s->presets[run->preset].nsets,
			     s->path, err, errlen)))
		return rc;
	for (size_t a = 0; a < s->naxes; a++) {
		const struct vmem_sweep_axis *ax = &s->axes[a];

		if (vmem_mmu_config_set(cfg, ax->key, ax->values[run->axis_value[a]], msg,
					sizeof(msg))) {
			sweep_err(err, errlen, "%s:%u: %s", s->path, ax->line, msg);
			return VMEM_EINVAL;
		}
	}
	if (s->seeded)
		cfg->seed = s->seed + run->rep;
	cfg->mode = run->mode;
	return 0;
}

int vmem_sweep_run_describe(const struct vmem_sweep_plan *plan, size_t i, char *buf, size_t len)
{
	const struct vmem_sweep_spec *s = plan->spec;
	const struct vmem_sweep_run *run;
	size_t off = 0;

#define PUT(...) do { \
		int w_ = snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__); \
		off += w_ > 0 ? (size_t)w_ : 0; \
	} while (0)
	if (!len)
		return VMEM_EINVAL;
	buf[0] = '\0';
	if (i >= plan->nruns)
		return VMEM_EINVAL;
	run = &plan->runs[i];
	PUT("%s mode=%s", s->traces[run->trace], vmem_mode_name(run->mode));
	if (run->preset != SIZE_MAX)
		PUT(" preset=%s", s->presets[run->preset].name);
	for (size_t a = 0; a < s->naxes; a++)
		PUT(" %s=%s", s->axes[a].key, s->axes[a].values[run->axis_value[a]]);
	if (s->repeat > 1)
		PUT(" rep=%u", run->rep);
	if (s->seeded)
		PUT(" seed=%" PRIu64, s->seed + run->rep);
#undef PUT
	return off < len ? 0 : VMEM_EINVAL;
}

static void hex128(XXH128_hash_t h, char hex[33])
{
	snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

int vmem_sweep_file_hash(const char *path, char hex[33], char *err, size_t errlen)
{
	XXH3_state_t *st = XXH3_createState();
	FILE *f;
	char buf[1 << 16];
	size_t n;
	int rc = 0;

	if (!st)
		return VMEM_ENOMEM;
	if (!(f = fopen(path, "rb"))) {
		sweep_err(err, errlen, "%s: %s", path, strerror(errno));
		XXH3_freeState(st);
		return VMEM_EIO;
	}
	XXH3_128bits_reset(st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		XXH3_128bits_update(st, buf, n);
	if (ferror(f)) {
		sweep_err(err, errlen, "%s: read error", path);
		rc = VMEM_EIO;
	} else {
		hex128(XXH3_128bits_digest(st), hex);
	}
	fclose(f);
	XXH3_freeState(st);
	return rc;
}

/* "KEY=VALUE\n" for every configuration key of cfg but mode, in the library's order. */
static int config_text(const struct vmem_mmu_config *cfg, char **text, size_t *len)
{
	const char *const *keys = sweep_config_keys(NULL);
	FILE *f = open_memstream(text, len);

	if (!f)
		return VMEM_ENOMEM;
	for (size_t k = 0; keys[k]; k++) {
		char val[128];

		vmem_mmu_config_get(cfg, keys[k], val, sizeof(val));
		fprintf(f, "%s=%s\n", keys[k], val);
	}
	return fclose(f) ? VMEM_ENOMEM : 0;
}

int vmem_sweep_run_key(const struct vmem_sweep_plan *plan, size_t i, const char *trace_hash,
		       char key[33], char *err, size_t errlen)
{
	const struct vmem_sweep_spec *s = plan->spec;
	struct vmem_mmu_config cfg;
	char *text = NULL, *all = NULL;
	size_t len = 0, alen = 0;
	FILE *f;
	int rc;

	if ((rc = vmem_sweep_run_config(plan, i, &cfg, err, errlen)))
		return rc;
	if ((rc = config_text(&cfg, &text, &len)))
		return rc;
	if (!(f = open_memstream(&all, &alen))) {
		free(text);
		return VMEM_ENOMEM;
	}
	/* Everything that decides the figures, and nothing that does not (the trace's path,
	 * the run's place in the plan, the preset's name). */
	fprintf(f, "vmem-sweep run 1\nversion=%s\ntrace=%s\nmode=%s\nwarmup=%" PRIu64
		"\nlimit=%" PRIu64 "\ndata_only=%d\n%s", vmem_version(), trace_hash,
		vmem_mode_name(cfg.mode), s->warmup, s->limit, s->data_only ? 1 : 0, text);
	free(text);
	if (fclose(f)) {
		free(all);
		return VMEM_ENOMEM;
	}
	hex128(XXH3_128bits(all, alen), key);
	free(all);
	return 0;
}

void vmem_sweep_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int vmem_sweep_run_argv(const struct vmem_sweep_plan *plan, size_t i, const char *vmemsim,
			const char *csv_out, char ***argvp, char *err, size_t errlen)
{
	const struct vmem_sweep_spec *s = plan->spec;
	const char *const *keys;
	struct vmem_mmu_config cfg;
	size_t nkeys, n = 0, cap;
	char **argv;
	int rc;

	*argvp = NULL;
	if ((rc = vmem_sweep_run_config(plan, i, &cfg, err, errlen)))
		return rc;
	keys = sweep_config_keys(&nkeys);
	cap = 2 * nkeys + 20;
	if (!(argv = calloc(cap, sizeof(char *))))
		return VMEM_ENOMEM;
#define ARG(...) do { \
		if (asprintf(&argv[n], __VA_ARGS__) < 0) { \
			argv[n] = NULL; \
			vmem_sweep_argv_free(argv); \
			return VMEM_ENOMEM; \
		} \
		n++; \
	} while (0)
	ARG("%s", vmemsim);
	ARG("--quiet");
	ARG("--mode");
	ARG("%s", vmem_mode_name(cfg.mode));
	ARG("--csv");
	ARG("%s", csv_out);
	ARG("--label");
	ARG("%s", s->traces[plan->runs[i].trace]);
	if (s->warmup) {
		ARG("--warmup");
		ARG("%" PRIu64, s->warmup);
	}
	if (s->limit) {
		ARG("--limit");
		ARG("%" PRIu64, s->limit);
	}
	if (s->data_only)
		ARG("--data-only");
	for (size_t k = 0; keys[k]; k++) {
		char val[128];

		vmem_mmu_config_get(&cfg, keys[k], val, sizeof(val));
		ARG("--set");
		ARG("%s=%s", keys[k], val);
	}
	ARG("--");
	ARG("%s", s->traces[plan->runs[i].trace]);
#undef ARG
	argv[n] = NULL;
	*argvp = argv;
	return 0;
}
