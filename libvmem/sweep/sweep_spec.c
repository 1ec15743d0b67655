/*
 * The sweep spec parser (docs/SWEEPS.md): line-oriented, "KEYWORD = VALUE" lines in the
 * style of the configuration files, "axis KEY = VALUES" and "set KEY = VALUE" lines, and
 * "[preset NAME]" sections. Every configuration key and value is checked against the
 * machine's own setter when read, so a typo stops the sweep at its line, before anything
 * runs.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/parse.h"
#include "sweep/sweep_internal.h"

void sweep_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *config_keys[256];
static size_t nconfig_keys;
static pthread_once_t config_keys_once = PTHREAD_ONCE_INIT;

static void init_config_keys(void)
{
	size_t k = 0;

	for (const struct vmem_config_key *c = vmem_mmu_config_keys(); c->key; c++)
		if (strcmp(c->key, "mode") != 0 &&
		    k < sizeof(config_keys) / sizeof(config_keys[0]) - 1)
			config_keys[k++] = c->key;
	config_keys[k] = NULL;
	nconfig_keys = k;
}

const char *const *sweep_config_keys(size_t *n)
{
	pthread_once(&config_keys_once, init_config_keys);
	if (n)
		*n = nconfig_keys;
	return config_keys;
}

size_t sweep_stat_count(void)
{
	size_t n = 0;

	for (const char *const *s = vmem_mmu_stat_names(); *s; s++)
		n++;
	return n;
}

int sweep_apply_set(struct vmem_mmu_config *cfg, const struct vmem_sweep_set *s, char *err,
		    size_t errlen)
{
	if (strcmp(s->key, "@config") == 0)
		return vmem_mmu_config_load(cfg, s->value, err, errlen);
	return vmem_mmu_config_set(cfg, s->key, s->value, err, errlen);
}

/* The parser's state: the spec being built, where we are, what was seen on which line. */
struct parser {
	struct vmem_sweep_spec *spec;
	const char *file;
	unsigned line;
	const struct vmem_sweep_parse_opts *opts;
	struct vmem_sweep_preset *preset;   /* the open [preset] section, or NULL */
	unsigned seen[16];                  /* line of each once-only keyword */
	char *err;
	size_t errlen;
};

#define FAIL(p, ...) do { fail_at(p, __VA_ARGS__); return VMEM_EFORMAT; } while (0)

__attribute__((format(printf, 2, 3)))
static void fail_at(struct parser *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sweep_err(p->err, p->errlen, "%s:%u: %s", p->file, p->line, msg);
}

static bool grow(void **arr, size_t n, size_t size)
{
	/* Capacity doubles at powers of two: grow when n is 0 or a power of two. */
	if (n && (n & (n - 1)))
		return true;
	void *a = realloc(*arr, (n ? n * 2 : 4) * size);

	if (!a)
		return false;
	*arr = a;
	return true;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Splits s at blanks in place; the words go into a new array. */
static int split_words(char *s, char ***words, size_t *n)
{
	char *save = NULL;

	*words = NULL;
	*n = 0;
	for (char *w = strtok_r(s, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (*n >= VMEM_SWEEP_MAX_VALUES || !grow((void **)words, *n, sizeof(char *))) {
			free(*words);
			*words = NULL;
			return *n >= VMEM_SWEEP_MAX_VALUES ? VMEM_ELIMIT : VMEM_ENOMEM;
		}
		(*words)[(*n)++] = w;
	}
	return 0;
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-+", *s))
			return false;
	return true;
}

/* Checks key = value against a default configuration; the message names the line. */
static int check_assignment(struct parser *p, const char *key, const char *value)
{
	struct vmem_mmu_config cfg;
	char msg[512];

	if (strcmp(key, "mode") == 0)
		FAIL(p, "the mode is not a configuration key here: expected modes = native "
		     "nested shadow");
	vmem_mmu_config_default(&cfg);
	if (vmem_mmu_config_set(&cfg, key, value, msg, sizeof(msg)))
		FAIL(p, "%s", msg);
	return 0;
}

static int check_config_file(struct parser *p, const char *path)
{
	struct vmem_mmu_config cfg;
	char msg[512];

	vmem_mmu_config_default(&cfg);
	if (vmem_mmu_config_load(&cfg, path, msg, sizeof(msg)))
		FAIL(p, "config = %s: %s", path, msg);
	return 0;
}

static int add_set(struct parser *p, struct vmem_sweep_set **sets, size_t *n, const char *key,
		   const char *value)
{
	struct vmem_sweep_set *s;

	if (*n >= VMEM_SWEEP_MAX_VALUES)
		FAIL(p, "too many set and config lines (at most %d)", VMEM_SWEEP_MAX_VALUES);
	if (!grow((void **)sets, *n, sizeof(**sets)))
		return VMEM_ENOMEM;
	s = &(*sets)[*n];
	s->key = strdup(key);
	s->value = strdup(value);
	s->line = p->line;
	if (!s->key || !s->value) {
		free(s->key);
		free(s->value);
		return VMEM_ENOMEM;
	}
	(*n)++;
	return 0;
}

/* A plain decimal number for a range: digits only. */
static bool range_number(const char *s, uint64_t *out)
{
	if (!*s || !isdigit((unsigned char)*s))
		return false;
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c))
			return false;
	return vmem_parse_u64(s, out);
}

static int push_value(struct parser *p, struct vmem_sweep_axis *a, char *v)
{
	if (a->nvalues >= VMEM_SWEEP_MAX_VALUES) {
		free(v);
		FAIL(p, "axis %s: more than %d values", a->key, VMEM_SWEEP_MAX_VALUES);
	}
	if (!grow((void **)&a->values, a->nvalues, sizeof(char *))) {
		free(v);
		return VMEM_ENOMEM;
	}
	a->values[a->nvalues++] = v;
	return 0;
}

/* Expands "range A..B [step S | *F] [as TEMPLATE]" (words after "range") into a. */
static int parse_range(struct parser *p, struct vmem_sweep_axis *a, char **w, size_t n)
{
	static const char expect[] = "expected range FIRST..LAST [step N | *N] [as TEMPLATE]";
	const char *tmpl = "{}", *dots, *hole;
	uint64_t first, last, step = 1, factor = 0;
	char num[32];
	size_t i = 1;
	int rc;

	if (n < 1 || !(dots = strstr(w[0], "..")) || (size_t)(dots - w[0]) >= sizeof(num))
		FAIL(p, "axis %s: %s", a->key, expect);
	memcpy(num, w[0], (size_t)(dots - w[0]));
	num[dots - w[0]] = '\0';
	if (!range_number(num, &first) || !range_number(dots + 2, &last))
		FAIL(p, "axis %s: range %s: expected two decimal numbers, FIRST..LAST", a->key,
		     w[0]);
	if (first > last)
		FAIL(p, "axis %s: range %s: FIRST must not exceed LAST", a->key, w[0]);
	if (i < n && strcmp(w[i], "step") == 0) {
		if (i + 1 >= n || !range_number(w[i + 1], &step) || step == 0)
			FAIL(p, "axis %s: step: expected a number of at least 1", a->key);
		i += 2;
	} else if (i < n && (w[i][0] == '*' || w[i][0] == 'x')) {
		const char *f = w[i][1] ? w[i] + 1 : (i + 1 < n ? w[++i] : "");

		if (!range_number(f, &factor) || factor < 2)
			FAIL(p, "axis %s: %s: expected a factor of at least 2, as *2", a->key, f);
		if (first == 0)
			FAIL(p, "axis %s: a geometric range must start above 0", a->key);
		i++;
	}
	if (i < n && strcmp(w[i], "as") == 0) {
		if (i + 1 >= n)
			FAIL(p, "axis %s: as: expected a template with {}, as {}:8", a->key);
		tmpl = w[i + 1];
		i += 2;
	}
	if (i < n)
		FAIL(p, "axis %s: unexpected '%s': %s", a->key, w[i], expect);
	hole = strstr(tmpl, "{}");
	if (!hole || strstr(hole + 2, "{}"))
		FAIL(p, "axis %s: template %s: expected {} exactly once", a->key, tmpl);
	for (uint64_t v = first; v <= last;) {
		size_t len = strlen(tmpl) + 24;
		char *s = malloc(len);

		if (!s)
			return VMEM_ENOMEM;
		snprintf(s, len, "%.*s%llu%s", (int)(hole - tmpl), tmpl, (unsigned long long)v,
			 hole + 2);
		if ((rc = push_value(p, a, s)))
			return rc;
		if (factor ? v > last / factor : v > last - step)
			break;
		v = factor ? v * factor : v + step;
	}
	return 0;
}

static int parse_axis(struct parser *p, const char *key, char *rhs)
{
	struct vmem_sweep_spec *s = p->spec;
	struct vmem_sweep_axis *a;
	char **w;
	size_t n;
	int rc;

	if (!valid_name(key))
		FAIL(p, "axis '%s': expected a configuration key (vmemsim --help-config)", key);
	for (size_t i = 0; i < s->naxes; i++)
		if (strcmp(s->axes[i].key, key) == 0)
			FAIL(p, "axis %s: already an axis at line %u", key, s->axes[i].line);
	if (s->naxes >= 64)
		FAIL(p, "too many axes (at most 64)");
	if (!grow((void **)&s->axes, s->naxes, sizeof(*s->axes)))
		return VMEM_ENOMEM;
	a = &s->axes[s->naxes];
	memset(a, 0, sizeof(*a));
	a->line = p->line;
	if (!(a->key = strdup(key)))
		return VMEM_ENOMEM;
	s->naxes++;
	if ((rc = split_words(rhs, &w, &n))) {
		if (rc == VMEM_ELIMIT)
			FAIL(p, "axis %s: more than %d values", key, VMEM_SWEEP_MAX_VALUES);
		return rc;
	}
	if (n == 0) {
		free(w);
		FAIL(p, "axis %s: expected one or more values, or range FIRST..LAST", key);
	}
	if (strcmp(w[0], "range") == 0) {
		rc = parse_range(p, a, w + 1, n - 1);
	} else {
		rc = 0;
		for (size_t i = 0; i < n && !rc; i++) {
			char *v = strdup(w[i]);

			rc = v ? push_value(p, a, v) : VMEM_ENOMEM;
		}
	}
	free(w);
	if (rc)
		return rc;
	for (size_t i = 0; i < a->nvalues; i++) {
		if ((rc = check_assignment(p, key, a->values[i])))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(a->values[i], a->values[j]) == 0)
				FAIL(p, "axis %s: value %s given twice", key, a->values[i]);
	}
	return 0;
}

static int add_trace(struct parser *p, const char *path)
{
	struct vmem_sweep_spec *s = p->spec;

	for (size_t i = 0; i < s->ntraces; i++)
		if (strcmp(s->traces[i], path) == 0)
			return 0;
	if (s->ntraces >= VMEM_SWEEP_MAX_VALUES)
		FAIL(p, "more than %d traces", VMEM_SWEEP_MAX_VALUES);
	if (!grow((void **)&s->traces, s->ntraces, sizeof(char *)))
		return VMEM_ENOMEM;
	if (!(s->traces[s->ntraces] = strdup(path)))
		return VMEM_ENOMEM;
	s->ntraces++;
	return 0;
}

static int parse_traces(struct parser *p, char *rhs)
{
	char **w;
	size_t n;
	int rc;

	if ((rc = split_words(rhs, &w, &n))) {
		if (rc == VMEM_ELIMIT)
			FAIL(p, "more than %d trace patterns on one line", VMEM_SWEEP_MAX_VALUES);
		return rc;
	}
	if (n == 0) {
		free(w);
		FAIL(p, "trace: expected one or more trace files or patterns");
	}
	for (size_t i = 0; i < n && !rc; i++) {
		glob_t g;
		int grc;
		struct stat st;

		if (p->opts->literal_traces) {
			rc = add_trace(p, w[i]);
			continue;
		}
		grc = glob(w[i], GLOB_BRACE | GLOB_TILDE, NULL, &g);
		if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
			if (grc == 0)
				globfree(&g);
			fail_at(p, "trace %s: no such file (patterns are relative to the "
				"current directory)", w[i]);
			rc = VMEM_EFORMAT;
			break;
		}
		if (grc) {
			fail_at(p, "trace %s: cannot expand the pattern", w[i]);
			rc = grc == GLOB_NOSPACE ? VMEM_ENOMEM : VMEM_EIO;
			break;
		}
		for (size_t k = 0; k < g.gl_pathc && !rc; k++) {
			if (stat(g.gl_pathv[k], &st) || !S_ISREG(st.st_mode)) {
				fail_at(p, "trace %s: not a regular file", g.gl_pathv[k]);
				rc = VMEM_EFORMAT;
			} else {
				rc = add_trace(p, g.gl_pathv[k]);
			}
		}
		globfree(&g);
	}
	free(w);
	return rc;
}

static int parse_modes(struct parser *p, char *rhs)
{
	struct vmem_sweep_spec *s = p->spec;
	char **w;
	size_t n;
	int rc;

	if ((rc = split_words(rhs, &w, &n)))
		FAIL(p, "modes: expected native, nested, shadow or all");
	s->nmodes = 0;
	for (size_t i = 0; i < n; i++) {
		enum vmem_mode m;

		if (strcmp(w[i], "all") == 0) {
			for (int k = 0; k < VMEM_MODES; k++)
				s->modes[k] = (enum vmem_mode)k;
			s->nmodes = VMEM_MODES;
			if (n > 1) {
				free(w);
				FAIL(p, "modes: all stands alone");
			}
			break;
		}
		if (vmem_mode_parse(w[i], &m)) {
			fail_at(p, "modes: %s: expected native, nested, shadow or all", w[i]);
			free(w);
			return VMEM_EFORMAT;
		}
		for (size_t k = 0; k < s->nmodes; k++) {
			if (s->modes[k] == m) {
				fail_at(p, "modes: %s given twice", w[i]);
				free(w);
				return VMEM_EFORMAT;
			}
		}
		s->modes[s->nmodes++] = m;
	}
	free(w);
	if (!s->nmodes)
		FAIL(p, "modes: expected native, nested, shadow or all");
	return 0;
}

/* The keywords of the spec's main part, each allowed once. */
static const char *const keywords[] = {
	"name", "trace", "modes", "repeat", "seed", "warmup", "limit", "data-only", "max-runs",
	"results", "config", NULL,
};

static int parse_keyword(struct parser *p, const char *kw, char *rhs)
{
	struct vmem_sweep_spec *s = p->spec;
	size_t k;
	uint64_t v;
	bool b;

	for (k = 0; keywords[k] && strcmp(keywords[k], kw) != 0; k++)
		;
	if (!keywords[k])
		FAIL(p, "unknown keyword '%s': expected trace, axis KEY, set KEY, modes, repeat, "
		     "seed, warmup, limit, data-only, max-runs, results, name, config or "
		     "[preset NAME]", kw);
	/* trace and config lines add up; the others are given once. */
	if (strcmp(kw, "trace") && strcmp(kw, "config") && p->seen[k])
		FAIL(p, "%s given twice (first at line %u)", kw, p->seen[k]);
	p->seen[k] = p->line;
	if (!*rhs && strcmp(kw, "trace"))
		FAIL(p, "%s: expected a value after '='", kw);

	if (strcmp(kw, "trace") == 0)
		return parse_traces(p, rhs);
	if (strcmp(kw, "modes") == 0)
		return parse_modes(p, rhs);
	if (strcmp(kw, "config") == 0) {
		int rc = check_config_file(p, rhs);

		return rc ? rc : add_set(p, &s->sets, &s->nsets, "@config", rhs);
	}
	if (strcmp(kw, "name") == 0) {
		if (!valid_name(rhs))
			FAIL(p, "name %s: expected letters, digits, '_', '.', '-' or '+'", rhs);
		free(s->name);
		return (s->name = strdup(rhs)) ? 0 : VMEM_ENOMEM;
	}
	if (strcmp(kw, "results") == 0)
		return (s->results = strdup(rhs)) ? 0 : VMEM_ENOMEM;
	if (strcmp(kw, "data-only") == 0) {
		if (!vmem_parse_bool(rhs, VMEM_PARSE_CASE_ANY, &b))
			FAIL(p, "data-only = %s: expected yes or no", rhs);
		s->data_only = b;
		return 0;
	}
	if (strcmp(kw, "seed") == 0) {
		if (!vmem_parse_u64(rhs, &v))
			FAIL(p, "seed = %s: expected a number (decimal or 0x hex)", rhs);
		s->seed = v;
		s->seeded = true;
		return 0;
	}
	if (!vmem_parse_count(rhs, &v))
		FAIL(p, "%s = %s: expected a number (suffixes k, m, g: x 1000)", kw, rhs);
	if (strcmp(kw, "repeat") == 0) {
		if (v < 1 || v > 1000)
			FAIL(p, "repeat = %s: expected 1 to 1000", rhs);
		s->repeat = (unsigned)v;
		if (v > 1)
			s->seeded = true;
	} else if (strcmp(kw, "warmup") == 0) {
		s->warmup = v;
	} else if (strcmp(kw, "limit") == 0) {
		s->limit = v;
	} else {
		if (v < 1 || v > VMEM_SWEEP_LIMIT_MAX_RUNS)
			FAIL(p, "max-runs = %s: expected 1 to %d", rhs, VMEM_SWEEP_LIMIT_MAX_RUNS);
		s->max_runs = v;
	}
	return 0;
}

static int parse_section(struct parser *p, char *line)
{
	struct vmem_sweep_spec *s = p->spec;
	size_t len = strlen(line);
	char *name;

	if (line[len - 1] != ']' || strncmp(line, "[preset", 7) != 0 ||
	    !isspace((unsigned char)line[7]))
		FAIL(p, "%s: expected a section [preset NAME]", line);
	line[len - 1] = '\0';
	name = trim(line + 7);
	if (!valid_name(name))
		FAIL(p, "[preset %s]: expected a name of letters, digits, '_', '.', '-' or '+'",
		     name);
	for (size_t i = 0; i < s->npresets; i++)
		if (strcmp(s->presets[i].name, name) == 0)
			FAIL(p, "[preset %s]: already defined at line %u", name,
			     s->presets[i].line);
	if (s->npresets >= VMEM_SWEEP_MAX_VALUES)
		FAIL(p, "more than %d presets", VMEM_SWEEP_MAX_VALUES);
	if (!grow((void **)&s->presets, s->npresets, sizeof(*s->presets)))
		return VMEM_ENOMEM;
	p->preset = &s->presets[s->npresets];
	memset(p->preset, 0, sizeof(*p->preset));
	p->preset->line = p->line;
	if (!(p->preset->name = strdup(name)))
		return VMEM_ENOMEM;
	s->npresets++;
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	char *eq, *lhs, *rhs, *sp;

	/* '#' starts a comment at the start of a line or after a blank. */
	for (char *c = line; *c; c++) {
		if (*c == '#' && (c == line || isspace((unsigned char)c[-1]))) {
			*c = '\0';
			break;
		}
	}
	line = trim(line);
	if (!*line)
		return 0;
	if (*line == '[')
		return parse_section(p, line);
	if (!(eq = strchr(line, '=')))
		FAIL(p, "'%s': expected KEYWORD = VALUE, axis KEY = VALUES, set KEY = VALUE or "
		     "[preset NAME]", line);
	*eq = '\0';
	lhs = trim(line);
	rhs = trim(eq + 1);
	sp = lhs + strcspn(lhs, " \t");
	if (*sp) {
		char *key;

		*sp = '\0';
		key = trim(sp + 1);
		if (strchr(key, ' ') || strchr(key, '\t'))
			FAIL(p, "'%s %s': expected one configuration key", lhs, key);
		if (strcmp(lhs, "set") == 0) {
			int rc;

			if (!*rhs)
				FAIL(p, "set %s: expected a value after '='", key);
			if ((rc = check_assignment(p, key, rhs)))
				return rc;
			if (p->preset)
				return add_set(p, &p->preset->sets, &p->preset->nsets, key, rhs);
			return add_set(p, &p->spec->sets, &p->spec->nsets, key, rhs);
		}
		if (strcmp(lhs, "axis") == 0) {
			if (p->preset)
				FAIL(p, "axis %s: axes belong before the first [preset]", key);
			return parse_axis(p, key, rhs);
		}
		FAIL(p, "'%s %s': expected axis KEY = VALUES or set KEY = VALUE", lhs, key);
	}
	if (p->preset) {
		if (strcmp(lhs, "config") == 0) {
			int rc = *rhs ? check_config_file(p, rhs) : VMEM_EFORMAT;

			if (!*rhs)
				FAIL(p, "config: expected a file after '='");
			return rc ? rc : add_set(p, &p->preset->sets, &p->preset->nsets, "@config",
						 rhs);
		}
		FAIL(p, "%s: a preset holds only set KEY = VALUE and config = FILE lines", lhs);
	}
	return parse_keyword(p, lhs, rhs);
}

/* The file name without its folders and from its first '.' on. */
static char *default_name(const char *path)
{
	const char *b = strrchr(path, '/');
	size_t n;
	char *s;

	b = b ? b + 1 : path;
	n = strcspn(b, ".");
	if (!(s = strndup(b, n ? n : strlen(b))))
		return NULL;
	for (char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("_.-+", *c))
			*c = '_';
	return s;
}

int vmem_sweep_spec_parse(const char *text, size_t len, const char *name,
			  const struct vmem_sweep_parse_opts *opts, struct vmem_sweep_spec **out,
			  char *err, size_t errlen)
{
	static const struct vmem_sweep_parse_opts defaults;
	struct vmem_sweep_spec *s = calloc(1, sizeof(*s));
	struct parser p = { .spec = s, .file = name ? name : "<string>",
			    .opts = opts ? opts : &defaults, .err = err, .errlen = errlen };
	char line[VMEM_SWEEP_MAX_LINE + 2];
	size_t pos = 0;
	uint64_t count;
	int rc = 0;

	*out = NULL;
	if (!s)
		return VMEM_ENOMEM;
	s->repeat = 1;
	s->seed = 1;
	s->max_runs = VMEM_SWEEP_DEFAULT_MAX_RUNS;
	s->path = strdup(p.file);
	s->name = default_name(p.file);
	if (!s->path || !s->name) {
		vmem_sweep_spec_free(s);
		return VMEM_ENOMEM;
	}
	while (pos < len && !rc) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		p.line++;
		if (n > VMEM_SWEEP_MAX_LINE) {
			fail_at(&p, "line longer than %d bytes", VMEM_SWEEP_MAX_LINE);
			rc = VMEM_EFORMAT;
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (strlen(line) != n) {
			fail_at(&p, "a NUL byte: expected text");
			rc = VMEM_EFORMAT;
			break;
		}
		pos += n + 1;
		rc = parse_line(&p, line);
	}
	if (!rc && !s->ntraces) {
		sweep_err(err, errlen, "%s: no trace: expected a line trace = FILE...", p.file);
		rc = VMEM_EFORMAT;
	}
	if (!rc && !s->nmodes) {
		s->modes[0] = VMEM_MODE_NATIVE;
		s->nmodes = 1;
	}
	for (size_t i = 0; !rc && i < s->naxes; i++) {
		if (s->seeded && strcmp(s->axes[i].key, "seed") == 0) {
			sweep_err(err, errlen, "%s:%u: axis seed: repeat and seed = set the seed "
				  "of each run already; give one or the other", p.file,
				  s->axes[i].line);
			rc = VMEM_EFORMAT;
		}
	}
	if (!rc && s->limit && s->warmup >= s->limit) {
		sweep_err(err, errlen, "%s: warmup = %llu: must be less than limit = %llu, or "
			  "nothing is left to measure", p.file, (unsigned long long)s->warmup,
			  (unsigned long long)s->limit);
		rc = VMEM_EFORMAT;
	}
	if (!rc && p.opts->max_runs)
		s->max_runs = p.opts->max_runs;
	if (!rc)
		rc = vmem_sweep_spec_count(s, &count, err, errlen);
	if (rc) {
		vmem_sweep_spec_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int vmem_sweep_spec_load(const char *path, const struct vmem_sweep_parse_opts *opts,
			 struct vmem_sweep_spec **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	*out = NULL;
	if (!f) {
		sweep_err(err, errlen, "%s: %s", path, strerror(errno));
		return VMEM_EIO;
	}
	for (;;) {
		size_t got;

		if (len + 4096 > cap) {
			char *t;

			/* A spec is a few lines; a megabyte is a mistake (a trace named instead). */
			if (cap >= (1u << 20)) {
				sweep_err(err, errlen, "%s: larger than 1 MiB: expected a sweep spec",
					  path);
				free(text);
				fclose(f);
				return VMEM_EFORMAT;
			}
			t = realloc(text, cap = cap ? cap * 2 : 8192);
			if (!t) {
				free(text);
				fclose(f);
				return VMEM_ENOMEM;
			}
			text = t;
		}
		got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		sweep_err(err, errlen, "%s: read error", path);
		free(text);
		fclose(f);
		return VMEM_EIO;
	}
	fclose(f);
	rc = vmem_sweep_spec_parse(text ? text : "", len, path, opts, out, err, errlen);
	free(text);
	return rc;
}

static void free_sets(struct vmem_sweep_set *sets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(sets[i].key);
		free(sets[i].value);
	}
	free(sets);
}

void vmem_sweep_spec_free(struct vmem_sweep_spec *s)
{
	if (!s)
		return;
	free(s->path);
	free(s->name);
	for (size_t i = 0; i < s->ntraces; i++)
		free(s->traces[i]);
	free(s->traces);
	for (size_t i = 0; i < s->naxes; i++) {
		free(s->axes[i].key);
		for (size_t j = 0; j < s->axes[i].nvalues; j++)
			free(s->axes[i].values[j]);
		free(s->axes[i].values);
	}
	free(s->axes);
	free_sets(s->sets, s->nsets);
	for (size_t i = 0; i < s->npresets; i++) {
		free(s->presets[i].name);
		free_sets(s->presets[i].sets, s->presets[i].nsets);
	}
	free(s->presets);
	free(s->results);
	free(s);
}

int vmem_sweep_spec_count(const struct vmem_sweep_spec *s, uint64_t *n, char *err,
			  size_t errlen)
{
	uint64_t factors[70], c = 1;
	size_t nf = 0;

	factors[nf++] = s->ntraces;
	factors[nf++] = s->npresets ? s->npresets : 1;
	for (size_t i = 0; i < s->naxes && nf < 68; i++)
		factors[nf++] = s->axes[i].nvalues;
	factors[nf++] = s->nmodes ? s->nmodes : 1;
	factors[nf++] = s->repeat ? s->repeat : 1;
	for (size_t i = 0; i < nf; i++) {
		if (__builtin_mul_overflow(c, factors[i], &c)) {
			sweep_err(err, errlen, "%s: the plan has more than 2^64 runs, more than "
				  "max-runs = %llu", s->path, (unsigned long long)s->max_runs);
			return VMEM_ELIMIT;
		}
	}
	if (c > s->max_runs) {
		sweep_err(err, errlen, "%s: the plan has %llu runs, more than max-runs = %llu "
			  "(traces x presets x axis values x modes x repeat); raise it with "
			  "max-runs = N in the spec or --max-runs N", s->path,
			  (unsigned long long)c, (unsigned long long)s->max_runs);
		return VMEM_ELIMIT;
	}
	*n = c;
	return 0;
}
