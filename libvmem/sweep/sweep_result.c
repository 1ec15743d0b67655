/*
 * Run results: read from the CSV vmemsim writes, stored one file per run under its key
 * (written to a temporary file and renamed, so a result is whole or absent), read back,
 * and written out as one table.
 *
 * A result file is text, one NAME=VALUE a line after the line "# vmem-sweep result 1":
 * key, status (ok or failed), error, trace, mode, preset, rep, version, then stat.NAME for
 * each statistic and cfg.KEY for each configuration key. Values hold no newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sweep/sweep_internal.h"

static const char result_magic[] = "# vmem-sweep result 1";

void vmem_sweep_result_clear(struct vmem_sweep_result *r)
{
	size_t nstats = sweep_stat_count(), ncfg;

	sweep_config_keys(&ncfg);
	free(r->error);
	free(r->trace);
	free(r->mode);
	free(r->preset);
	free(r->version);
	if (r->stats)
		for (size_t i = 0; i < nstats; i++)
			free(r->stats[i]);
	if (r->config)
		for (size_t i = 0; i < ncfg; i++)
			free(r->config[i]);
	free(r->stats);
	free(r->config);
	memset(r, 0, sizeof(*r));
}

/* A copy of s with CR and LF turned into blanks. */
static char *one_line(const char *s)
{
	char *c = strdup(s ? s : "");

	if (c)
		for (char *p = c; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	return c;
}

static int result_alloc(struct vmem_sweep_result *r)
{
	size_t ncfg;

	sweep_config_keys(&ncfg);
	memset(r, 0, sizeof(*r));
	r->stats = calloc(sweep_stat_count() + 1, sizeof(char *));
	r->config = calloc(ncfg + 1, sizeof(char *));
	if (!r->stats || !r->config) {
		vmem_sweep_result_clear(r);
		return VMEM_ENOMEM;
	}
	return 0;
}

int vmem_sweep_result_init(const struct vmem_sweep_plan *plan, size_t i, const char *key,
			   struct vmem_sweep_result *r, char *err, size_t errlen)
{
	const struct vmem_sweep_spec *s = plan->spec;
	const struct vmem_sweep_run *run;
	const char *const *keys = sweep_config_keys(NULL);
	struct vmem_mmu_config cfg;
	int rc;

	if ((rc = vmem_sweep_run_config(plan, i, &cfg, err, errlen)))
		return rc;
	if ((rc = result_alloc(r)))
		return rc;
	run = &plan->runs[i];
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->trace = one_line(s->traces[run->trace]);
	r->mode = strdup(vmem_mode_name(run->mode));
	r->preset = strdup(run->preset == SIZE_MAX ? "" : s->presets[run->preset].name);
	r->version = strdup(vmem_version());
	r->rep = run->rep;
	for (size_t k = 0; keys[k]; k++) {
		char val[128];

		vmem_mmu_config_get(&cfg, keys[k], val, sizeof(val));
		if (!(r->config[k] = strdup(val)))
			break;
	}
	if (!r->trace || !r->mode || !r->preset || !r->version) {
		vmem_sweep_result_clear(r);
		return VMEM_ENOMEM;
	}
	return 0;
}

int vmem_sweep_result_fail(struct vmem_sweep_result *r, const char *message)
{
	const char *m = message && *message ? message : "failed";
	size_t n = strcspn(m, "\r\n");

	free(r->error);
	r->ok = false;
	if (!(r->error = strndup(m, n)))
		return VMEM_ENOMEM;
	return 0;
}

/*
 * Splits one CSV record (RFC 4180, the quoting vmemsim uses) in place into fields. The
 * line holds no newline. Returns the number of fields, or -1 on a stray quote.
 */
static int csv_split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *out = p;

		if (n >= max)
			return -1;
		fields[n++] = p;
		if (*p == '"') {
			char *w = p;

			p++;
			for (;;) {
				if (!*p)
					return -1;
				if (*p == '"' && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*w++ = *p++;
				}
			}
			if (*p && *p != ',')
				return -1;
			fields[n - 1] = out;
			*w = '\0';
			if (!*p)
				return n;
			p++;
			continue;
		}
		p += strcspn(p, ",");
		if (!*p)
			return n;
		*p++ = '\0';
	}
}

/* Reads one line of any length; NULL at the end. The newline is removed. */
static char *read_line(FILE *f, char **buf, size_t *cap)
{
	ssize_t n = getline(buf, cap, f);

	if (n < 0)
		return NULL;
	while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
		(*buf)[--n] = '\0';
	return *buf;
}

int vmem_sweep_result_read_csv(struct vmem_sweep_result *r, const char *csv, char *err,
			       size_t errlen)
{
	enum { MAXF = 512 };
	const char *const *names = vmem_mmu_stat_names();
	FILE *f = fopen(csv, "r");
	char *buf = NULL, *hdr = NULL, *line;
	char **hf = NULL, **rf = NULL;
	size_t cap = 0;
	int nh, nr, phase = -1, rc = VMEM_EFORMAT;

	if (!f) {
		sweep_err(err, errlen, "%s: %s", csv, strerror(errno));
		return VMEM_EIO;
	}
	hf = calloc(MAXF, sizeof(char *));
	rf = calloc(MAXF, sizeof(char *));
	if (!hf || !rf) {
		rc = VMEM_ENOMEM;
		goto out;
	}
	if (!(line = read_line(f, &buf, &cap)) || !(hdr = strdup(line)) ||
	    (nh = csv_split(hdr, hf, MAXF)) < 0) {
		sweep_err(err, errlen, "%s: no CSV header", csv);
		goto out;
	}
	for (int c = 0; c < nh; c++)
		if (strcmp(hf[c], "phase") == 0)
			phase = c;
	if (phase < 0) {
		sweep_err(err, errlen, "%s: no phase column", csv);
		goto out;
	}
	while ((line = read_line(f, &buf, &cap))) {
		if ((nr = csv_split(line, rf, MAXF)) != nh) {
			sweep_err(err, errlen, "%s: a row of %d fields under a header of %d", csv,
				  nr, nh);
			goto out;
		}
		if (strcmp(rf[phase], "steady") && strcmp(rf[phase], "whole"))
			continue;
		for (size_t s = 0; names[s]; s++) {
			for (int c = 0; c < nh; c++) {
				if (strcmp(hf[c], names[s]) == 0) {
					free(r->stats[s]);
					if (!(r->stats[s] = strdup(rf[c]))) {
						rc = VMEM_ENOMEM;
						goto out;
					}
					break;
				}
			}
		}
		r->ok = true;
		free(r->error);
		r->error = NULL;
		rc = 0;
		break;
	}
	if (rc == VMEM_EFORMAT)
		sweep_err(err, errlen, "%s: no row of phase steady or whole", csv);
out:
	free(buf);
	free(hdr);
	free(hf);
	free(rf);
	fclose(f);
	return rc;
}

int vmem_sweep_result_path(const char *dir, const char *key, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/runs/%s", dir, key);

	return n < 0 || (size_t)n >= len ? VMEM_EINVAL : 0;
}

/* mkdir -p, for the results folder and its runs/. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf)) {
		sweep_err(err, errlen, "%s: path too long", path);
		return VMEM_EINVAL;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0777) && errno != EEXIST) {
				sweep_err(err, errlen, "%s: %s", buf, strerror(errno));
				return VMEM_EIO;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

int vmem_sweep_result_save(const char *dir, const struct vmem_sweep_result *r, char *err,
			   size_t errlen)
{
	const char *const *names = vmem_mmu_stat_names();
	const char *const *keys = sweep_config_keys(NULL);
	char path[PATH_MAX], tmp[PATH_MAX + 64], runs[PATH_MAX], host[64] = "host";
	static unsigned serial;
	FILE *f;
	int rc, fd;

	if (vmem_sweep_result_path(dir, r->key, path, sizeof(path)) ||
	    snprintf(runs, sizeof(runs), "%s/runs", dir) >= (int)sizeof(runs)) {
		sweep_err(err, errlen, "%s: path too long", dir);
		return VMEM_EINVAL;
	}
	if ((rc = make_dirs(runs, err, errlen)))
		return rc;
	/* Unique across the hosts of a shared file system and the processes of each. */
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%s-%ld-%u", runs, r->key, host, (long)getpid(),
		 __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED));
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666)) < 0 || !(f = fdopen(fd, "w"))) {
		sweep_err(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return VMEM_EIO;
	}
	fprintf(f, "%s\nkey=%s\nstatus=%s\nerror=%s\ntrace=%s\nmode=%s\npreset=%s\nrep=%u\n"
		"version=%s\n", result_magic, r->key, r->ok ? "ok" : "failed",
		r->error ? r->error : "", r->trace ? r->trace : "", r->mode ? r->mode : "",
		r->preset ? r->preset : "", r->rep, r->version ? r->version : "");
	for (size_t s = 0; names[s]; s++)
		if (r->stats && r->stats[s])
			fprintf(f, "stat.%s=%s\n", names[s], r->stats[s]);
	for (size_t k = 0; keys[k]; k++)
		if (r->config && r->config[k])
			fprintf(f, "cfg.%s=%s\n", keys[k], r->config[k]);
	if (fflush(f) || fsync(fileno(f)) || ferror(f)) {
		sweep_err(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return VMEM_EIO;
	}
	if (fclose(f) || rename(tmp, path)) {
		sweep_err(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return VMEM_EIO;
	}
	return 0;
}

static int set_field(char **field, const char *v)
{
	free(*field);
	return (*field = strdup(v)) ? 0 : VMEM_ENOMEM;
}

int vmem_sweep_result_load(const char *path, struct vmem_sweep_result *r, char *err,
			   size_t errlen)
{
	const char *const *names = vmem_mmu_stat_names();
	const char *const *keys = sweep_config_keys(NULL);
	FILE *f = fopen(path, "r");
	char *buf = NULL, *line;
	size_t cap = 0;
	unsigned lineno = 1;
	int rc;
	bool status = false;

	if (!f) {
		int e = errno;

		sweep_err(err, errlen, "%s: %s", path, strerror(e));
		return e == ENOENT ? VMEM_ENOENT : VMEM_EIO;
	}
	if ((rc = result_alloc(r))) {
		fclose(f);
		return rc;
	}
	if (!(line = read_line(f, &buf, &cap)) || strcmp(line, result_magic) != 0) {
		sweep_err(err, errlen, "%s:1: expected '%s'", path, result_magic);
		rc = VMEM_EFORMAT;
		goto out;
	}
	while (!rc && (line = read_line(f, &buf, &cap))) {
		char *eq = strchr(line, '='), *v;
		bool known = true;

		lineno++;
		if (!eq) {
			sweep_err(err, errlen, "%s:%u: expected NAME=VALUE", path, lineno);
			rc = VMEM_EFORMAT;
			break;
		}
		*eq = '\0';
		v = eq + 1;
		if (strcmp(line, "key") == 0) {
			if (strlen(v) != 32) {
				sweep_err(err, errlen, "%s:%u: expected a key of 32 hex digits", path,
					  lineno);
				rc = VMEM_EFORMAT;
			}
			snprintf(r->key, sizeof(r->key), "%s", v);
		} else if (strcmp(line, "status") == 0) {
			r->ok = strcmp(v, "ok") == 0;
			status = true;
		} else if (strcmp(line, "error") == 0) {
			rc = *v ? set_field(&r->error, v) : 0;
		} else if (strcmp(line, "trace") == 0) {
			rc = set_field(&r->trace, v);
		} else if (strcmp(line, "mode") == 0) {
			rc = set_field(&r->mode, v);
		} else if (strcmp(line, "preset") == 0) {
			rc = set_field(&r->preset, v);
		} else if (strcmp(line, "version") == 0) {
			rc = set_field(&r->version, v);
		} else if (strcmp(line, "rep") == 0) {
			r->rep = (unsigned)strtoul(v, NULL, 10);
		} else if (strncmp(line, "stat.", 5) == 0) {
			known = false;
			for (size_t s = 0; names[s] && !known; s++)
				if (strcmp(names[s], line + 5) == 0) {
					rc = set_field(&r->stats[s], v);
					known = true;
				}
		} else if (strncmp(line, "cfg.", 4) == 0) {
			known = false;
			for (size_t k = 0; keys[k] && !known; k++)
				if (strcmp(keys[k], line + 4) == 0) {
					rc = set_field(&r->config[k], v);
					known = true;
				}
		}
		(void)known;   /* names of another version's statistics are skipped */
	}
	if (!rc && (!status || !r->key[0] || !r->trace || !r->mode)) {
		sweep_err(err, errlen, "%s: incomplete result (key, status, trace and mode are "
			  "required)", path);
		rc = VMEM_EFORMAT;
	}
	if (!rc && !r->preset)
		rc = set_field(&r->preset, "");
out:
	free(buf);
	fclose(f);
	if (rc)
		vmem_sweep_result_clear(r);
	return rc;
}

/* s as one CSV field (quoted when it holds a comma, a quote, CR or LF). */
static void csv_field(FILE *f, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A statistic as JSON: a number when it reads as a finite one, else a string. */
static void json_number(FILE *f, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s && !*end && !errno && isfinite(v) && strspn(s, "0123456789.-+eE") == strlen(s))
		fputs(s, f);
	else
		json_string(f, s);
}

int vmem_sweep_table_write(FILE *f, enum vmem_sweep_table_format fmt,
			   const struct vmem_sweep_result *res, const size_t *runs, size_t n)
{
	const char *const *names = vmem_mmu_stat_names();
	const char *const *keys = sweep_config_keys(NULL);

	if (fmt == VMEM_SWEEP_CSV) {
		fputs("run,key,trace,mode,preset,rep,status,error", f);
		for (size_t s = 0; names[s]; s++)
			fprintf(f, ",%s", names[s]);
		for (size_t k = 0; keys[k]; k++)
			fprintf(f, ",cfg.%s", keys[k]);
		fputc('\n', f);
		for (size_t i = 0; i < n; i++) {
			const struct vmem_sweep_result *r = &res[i];

			if (runs)
				fprintf(f, "%zu", runs[i]);
			fprintf(f, ",%s,", r->key);
			csv_field(f, r->trace ? r->trace : "");
			fprintf(f, ",%s,", r->mode ? r->mode : "");
			csv_field(f, r->preset ? r->preset : "");
			fprintf(f, ",%u,%s,", r->rep, r->ok ? "ok" : "failed");
			csv_field(f, r->error ? r->error : "");
			for (size_t s = 0; names[s]; s++) {
				fputc(',', f);
				csv_field(f, r->stats && r->stats[s] ? r->stats[s] : "");
			}
			for (size_t k = 0; keys[k]; k++) {
				fputc(',', f);
				csv_field(f, r->config && r->config[k] ? r->config[k] : "");
			}
			fputc('\n', f);
		}
	} else {
		fputs("[", f);
		for (size_t i = 0; i < n; i++) {
			const struct vmem_sweep_result *r = &res[i];

			fputs(i ? ",\n {" : "\n {", f);
			if (runs)
				fprintf(f, "\"run\": %zu, ", runs[i]);
			fprintf(f, "\"key\": \"%s\", \"trace\": ", r->key);
			json_string(f, r->trace ? r->trace : "");
			fputs(", \"mode\": ", f);
			json_string(f, r->mode ? r->mode : "");
			fputs(", \"preset\": ", f);
			json_string(f, r->preset ? r->preset : "");
			fprintf(f, ", \"rep\": %u, \"status\": \"%s\", \"error\": ", r->rep,
				r->ok ? "ok" : "failed");
			json_string(f, r->error ? r->error : "");
			fputs(",\n  \"stats\": {", f);
			bool first = true;

			for (size_t s = 0; names[s]; s++) {
				if (!r->stats || !r->stats[s])
					continue;
				fprintf(f, "%s\"%s\": ", first ? "" : ", ", names[s]);
				json_number(f, r->stats[s]);
				first = false;
			}
			fputs("},\n  \"config\": {", f);
			first = true;
			for (size_t k = 0; keys[k]; k++) {
				if (!r->config || !r->config[k])
					continue;
				fprintf(f, "%s\"%s\": ", first ? "" : ", ", keys[k]);
				json_string(f, r->config[k]);
				first = false;
			}
			fputs("}}", f);
		}
		fputs("\n]\n", f);
	}
	return ferror(f) ? VMEM_EIO : 0;
}
