/*
 * vmem-gen: writes a seeded synthetic memory trace (see include/vmem/tracegen.h).
 *
 *   vmem-gen [--format vmt|lackey] [--zstd] [--level N] [-v] -o OUT key=value...
 *
 * The keys (pattern, count, footprint, ...) are those of vmem_tracegen_config_set();
 * --help lists them with their defaults. OUT "-" is standard output.
 *
 * Formats: vmt (the default) goes through vmem_trace_writer_*; --zstd compresses its
 * record stream. lackey is Valgrind Lackey text as `valgrind --tool=lackey
 * --trace-mem=yes` prints it ("I  %08lx,%u", " L ...", " S ..."); --zstd compresses the
 * whole text into one zstd frame, which every libvmem reader decompresses. Lackey text
 * has no address spaces or control records, so a configuration that emits switches,
 * unmaps or protects is refused for lackey output. Without --format, an OUT whose name
 * contains ".lackey" is written as lackey; without --zstd, an OUT ending in ".zst" is
 * compressed.
 *
 * Exit status: 0 on success, 1 when the trace cannot be written, 2 on bad usage or a bad
 * key=value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "vmem/tracegen.h"
#include "vmem/trace.h"

#include "trace/trace_outfile.h"

#define BATCH 4096

static const char *const usage_text =
	"usage: vmem-gen [--format vmt|lackey] [--zstd] [--level N] [-v] -o OUT key=value...\n"
	"       vmem-gen --help | --version\n";

/* A usage error: one line (msg), or the usage text when no argument was given at all. */
static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "vmem-gen: %s (vmem-gen --help shows the usage)\n", msg);
	else
		fputs(usage_text, stderr);
	return 2;
}

static void help(void)
{
	size_t n;
	const struct vmem_tracegen_key *k = vmem_tracegen_keys(&n);

	fputs(usage_text, stdout);
	fputs("\nWrites a seeded synthetic trace: the same keys give the same trace on every\n"
	      "machine. OUT \"-\" is standard output.\n\n"
	      "Options:\n"
	      "  --format vmt|lackey  output format (default vmt; lackey if OUT contains .lackey)\n"
	      "  --zstd               compress with zstd (default when OUT ends in .zst)\n"
	      "  --level N            zstd level 1..19 (default 3)\n"
	      "  -v                   print what was written to standard error\n\n"
	      "Keys (key=value). Numbers are decimal or 0x hex; counts (N) take the suffixes\n"
	      "k, m, g (10^3, 10^6, 10^9), byte amounts (BYTES) k, m, g, t (2^10 ... 2^40).\n",
	      stdout);
	for (size_t i = 0; i < n; i++)
		printf("  %s=%s  (default %s)\n      %s\n", k[i].name, k[i].values, k[i].def,
		       k[i].help);
	fputs("\nExamples:\n"
	      "  vmem-gen -o chase.vmt.zst pattern=chase footprint=256m granule=4k count=1m\n"
	      "  vmem-gen -o hot.lackey pattern=zipf alpha=1.1 footprint=1g ifetch=1\n"
	      "  vmem-gen -o mp.vmt.zst pattern=multiproc processes=3 inner=zipf,chase,uniform \\\n"
	      "           quantum=50k unmap_every=200k protect_every=300k\n", stdout);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* ---- Lackey text output ---- */

struct lackey_out {
	FILE *f;
	bool close_f;
	ZSTD_CCtx *cctx;
	char *zbuf;
	size_t zcap;
	char text[BATCH * VMEM_LACKEY_LINE_MAX];
};

static int lk_emit(struct lackey_out *o, const char *buf, size_t len, ZSTD_EndDirective end)
{
	if (!o->cctx) {
		if (len && fwrite(buf, 1, len, o->f) != len)
			return -1;
		return 0;
	}
	ZSTD_inBuffer in = { buf, len, 0 };
	for (;;) {
		ZSTD_outBuffer zo = { o->zbuf, o->zcap, 0 };
		size_t left = ZSTD_compressStream2(o->cctx, &zo, &in, end);

		if (ZSTD_isError(left)) {
			fprintf(stderr, "vmem-gen: zstd: %s\n", ZSTD_getErrorName(left));
			return -1;
		}
		if (zo.pos && fwrite(o->zbuf, 1, zo.pos, o->f) != zo.pos)
			return -1;
		if (end == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

static int lk_write(struct lackey_out *o, const struct vmem_trace_rec *recs, size_t n)
{
	char *p = o->text;

	/* Control records were refused before generation: every record has a line. */
	for (size_t i = 0; i < n; i++)
		p += vmem_trace_lackey_line(&recs[i], p);
	return lk_emit(o, o->text, (size_t)(p - o->text), ZSTD_e_continue);
}

/* Opens path for writing; messages name the output `name`. */
static int lk_open(struct lackey_out *o, const char *path, const char *name, bool zstd,
		   int level)
{
	if (strcmp(path, "-") == 0) {
		o->f = stdout;
	} else {
		o->f = fopen(path, "wb");
		if (!o->f) {
			fprintf(stderr, "vmem-gen: %s: %s\n", name, strerror(errno));
			return -1;
		}
		o->close_f = true;
	}
	if (zstd) {
		o->cctx = ZSTD_createCCtx();
		o->zcap = ZSTD_CStreamOutSize();
		o->zbuf = malloc(o->zcap);
		if (!o->cctx || !o->zbuf) {
			fprintf(stderr, "vmem-gen: out of memory\n");
			return -1;
		}
		ZSTD_CCtx_setParameter(o->cctx, ZSTD_c_compressionLevel, level);
		ZSTD_CCtx_setParameter(o->cctx, ZSTD_c_checksumFlag, 1);
	}
	return 0;
}

/* Finishes the zstd frame (when ok) and closes; returns 0 or -1. */
static int lk_close(struct lackey_out *o, bool ok)
{
	int rc = 0;

	if (ok && o->cctx && lk_emit(o, "", 0, ZSTD_e_end) < 0)
		rc = -1;
	if (o->f && fflush(o->f) != 0)
		rc = -1;
	if (o->close_f && fclose(o->f) != 0)
		rc = -1;
	ZSTD_freeCCtx(o->cctx);
	free(o->zbuf);
	return rc;
}

/* ---- main ---- */

struct cli {
	bool lackey;
	bool format_given;
	bool zstd;
	int level;
	bool verbose;
	const char *out;
};

static int generate(const struct cli *c, const struct vmem_tracegen_config *cfg)
{
	static struct vmem_trace_rec recs[BATCH];
	struct vmem_tracegen *g = NULL;
	struct vmem_trace_writer *w = NULL;
	struct lackey_out *lk = NULL;
	struct vmem_tracegen_counts counts;
	uint64_t records = 0;
	struct outfile out;
	const char *name = strcmp(c->out, "-") == 0 ? "<stdout>" : c->out;
	char err[512];
	int rc, status = 0;
	long n;

	rc = vmem_tracegen_create(cfg, &g);
	if (rc < 0) {
		fprintf(stderr, "vmem-gen: %s\n", vmem_strerror(rc));
		return 1;
	}
	if (outfile_begin(&out, c->out, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmem-gen: %s\n", err);
		vmem_tracegen_destroy(g);
		return 1;
	}
	if (c->lackey) {
		lk = calloc(1, sizeof(*lk));
		if (!lk || lk_open(lk, outfile_path(&out), name, c->zstd, c->level) < 0) {
			if (!lk)
				fprintf(stderr, "vmem-gen: out of memory\n");
			status = 1;
			goto out;
		}
	} else {
		struct vmem_trace_writer_opts wo;

		vmem_trace_writer_opts_default(&wo);
		wo.zstd = c->zstd;
		wo.zstd_level = c->level;
		wo.name = name;
		rc = vmem_trace_writer_open(outfile_path(&out), &wo, &w);
		if (rc < 0) {
			fprintf(stderr, "vmem-gen: %s\n",
				w ? vmem_trace_writer_error(w) : vmem_strerror(rc));
			status = 1;
			goto out;
		}
	}
	while ((n = vmem_tracegen_next(g, recs, BATCH)) > 0) {
		if (lk) {
			if (lk_write(lk, recs, (size_t)n) < 0) {
				fprintf(stderr, "vmem-gen: %s: write error: %s\n", name,
					strerror(errno));
				status = 1;
				break;
			}
		} else {
			rc = vmem_trace_write(w, recs, (size_t)n);
			if (rc < 0) {
				fprintf(stderr, "vmem-gen: %s\n", vmem_trace_writer_error(w));
				status = 1;
				break;
			}
		}
		records += (uint64_t)n;
	}
	if (n < 0) {
		fprintf(stderr, "vmem-gen: %s\n", vmem_strerror((int)n));
		status = 1;
	}
out:
	if (lk) {
		if (lk_close(lk, status == 0) < 0 && status == 0) {
			fprintf(stderr, "vmem-gen: %s: write error: %s\n", name, strerror(errno));
			status = 1;
		}
		free(lk);
	}
	if (w) {
		rc = vmem_trace_writer_close(w);
		if (rc < 0 && status == 0) {
			fprintf(stderr, "vmem-gen: %s: write error: %s\n", name, vmem_strerror(rc));
			status = 1;
		}
	}
	if (status) {
		outfile_abort(&out);
	} else if (outfile_commit(&out, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmem-gen: %s\n", err);
		status = 1;
	}
	if (status == 0 && c->verbose) {
		vmem_tracegen_counts(g, &counts);
		fprintf(stderr,
			"vmem-gen: %s: %" PRIu64 " records (%s%s): %" PRIu64 " data accesses "
			"(%" PRIu64 " stores), %" PRIu64 " ifetches, %" PRIu64 " switches, "
			"%" PRIu64 " unmaps, %" PRIu64 " protects\n",
			name, records, c->lackey ? "lackey" : "vmt", c->zstd ? "+zstd" : "",
			counts.accesses, counts.stores, counts.ifetches, counts.switches,
			counts.unmaps, counts.protects);
	}
	vmem_tracegen_destroy(g);
	return status;
}

#define PARSED (-1)         /* parse_args: the command line is good, go on */

/*
 * Parses argv[1..] into c and cfg (both set to their defaults first). Returns PARSED to
 * go on, or the exit status after a message (2) or after --help or --version printed to
 * standard output (0; the caller checks that output with outfile_stdout_close). Never
 * exits.
 */
static int parse_args(int argc, char **argv, struct cli *c, struct vmem_tracegen_config *cfg)
{
	bool zstd_given = false;
	char err[640];

	*c = (struct cli){ .level = 3 };
	vmem_tracegen_config_default(cfg);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		const char *eq = strchr(a, '=');

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			help();
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("vmem-gen (libvmem) %s\n", vmem_version());
			return 0;
		} else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
			if (!v)
				return usage("-o needs a file name");
			c->out = v;
			i++;
		} else if (strcmp(a, "--format") == 0) {
			if (v && strcmp(v, "vmt") == 0)
				c->lackey = false;
			else if (v && strcmp(v, "lackey") == 0)
				c->lackey = true;
			else
				return usage("--format needs vmt or lackey");
			c->format_given = true;
			i++;
		} else if (strcmp(a, "--zstd") == 0) {
			c->zstd = true;
			zstd_given = true;
		} else if (strcmp(a, "--level") == 0) {
			char *end;
			long l = v ? strtol(v, &end, 10) : 0;

			if (!v || *end || l < 1 || l > 19)
				return usage("--level needs a number 1..19");
			c->level = (int)l;
			i++;
		} else if (strcmp(a, "-v") == 0) {
			c->verbose = true;
		} else if (a[0] != '-' && eq && eq != a) {
			char key[64];
			size_t klen = (size_t)(eq - a);

			if (klen >= sizeof(key)) {
				fprintf(stderr, "vmem-gen: unknown key '%.*s'\n", (int)klen, a);
				return 2;
			}
			memcpy(key, a, klen);
			key[klen] = '\0';
			if (vmem_tracegen_config_set(cfg, key, eq + 1, err, sizeof(err)) < 0) {
				fprintf(stderr, "vmem-gen: %s\n", err);
				return 2;
			}
		} else {
			fprintf(stderr, "vmem-gen: unexpected argument '%s' (vmem-gen --help shows "
				"the usage)\n", a);
			return 2;
		}
	}
	if (!c->out)
		return usage("no output: -o OUT (\"-\" for standard output)");
	if (ends_with(c->out, ".gz") || ends_with(c->out, ".xz")) {
		fprintf(stderr, "vmem-gen: %s: gzip and xz output are not written; name the output "
			"*.zst for zstd, or without a compression suffix\n", c->out);
		return 2;
	}
	if (!c->format_given)
		c->lackey = strstr(c->out, ".lackey") != NULL;
	if (!zstd_given && ends_with(c->out, ".zst"))
		c->zstd = true;
	if (vmem_tracegen_config_check(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmem-gen: %s\n", err);
		return 2;
	}
	if (c->lackey && vmem_tracegen_config_has_events(cfg)) {
		fprintf(stderr, "vmem-gen: Lackey text cannot carry address-space switches, "
			"unmaps or protects (pattern=%s, unmap_every=%" PRIu64 ", protect_every=%"
			PRIu64 "); write .vmt (--format vmt) or drop them\n",
			vmem_tracegen_pattern_name(cfg->pattern), cfg->unmap_every, cfg->protect_every);
		return 2;
	}
	return PARSED;
}

int main(int argc, char **argv)
{
	struct vmem_tracegen_config cfg;
	struct cli c;
	int status = parse_args(argc, argv, &c, &cfg);

	if (status != PARSED)
		return outfile_stdout_close("vmem-gen", status);
	return outfile_stdout_close("vmem-gen", generate(&c, &cfg));
}
