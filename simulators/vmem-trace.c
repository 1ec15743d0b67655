/*
 * vmem-trace: convert, inspect and print memory traces.
 *
 *   vmem-trace convert [options] [--to vmt|lackey] [--zstd] [--level N] IN OUT
 *       Reads IN in any supported format (Lackey text, ChampSim, .vmt; plain, .gz, .xz or
 *       .zst) and writes OUT as .vmt (default; --zstd compresses the record stream) or as
 *       Lackey text (--to lackey; control records have no Lackey form and are dropped,
 *       with a note; a trace with page contents is refused). "-" is standard input or output. Without --to, OUT's name chooses:
 *       *.lackey is Lackey text, anything else .vmt; *.vmt.zst (or *.zst) compresses as
 *       --zstd does. A name that asks for what is not written (gzip, xz, compressed Lackey
 *       text) or contradicts --to is refused.
 *   vmem-trace info [options] FILE
 *       Prints "key: value" lines: the format, record counts by type and accesses by
 *       kind, distinct 4K pages touched (per VM and address space), the lowest and
 *       highest access address, skipped lines or records, and bytes read; for a trace
 *       with CONTENT records, content.* lines on the last content of each page: pages,
 *       zero pages, distinct hashes, pages that share their hash with another page
 *       (any, one of the same VM and address space, one of another) and the
 *       compressibility classes.
 *   vmem-trace cat [options] [--limit N] FILE
 *       Prints the records as text, one per line.
 *
 * Options for reading: --from FMT or --format FMT (auto, lackey, champsim, vmt),
 * --skip-bad (count and skip malformed records), --vm N and --asid N (ids given to
 * records of formats that carry none).
 *
 * Exit status: 0 on success, 1 when a trace cannot be read or written, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmem/vmem.h"

#include "trace/trace_outfile.h"

#define BATCH 4096

static const char *const usage_text =
	"usage: vmem-trace convert [--from FMT] [--to vmt|lackey] [--zstd] [--level N]\n"
	"                          [--skip-bad] [--vm N] [--asid N] IN OUT\n"
	"       vmem-trace info [--format FMT] [--skip-bad] [--vm N] [--asid N] FILE\n"
	"       vmem-trace cat [--format FMT] [--skip-bad] [--vm N] [--asid N] [--limit N] FILE\n"
	"       vmem-trace --help | --version\n"
	"FMT is auto, lackey, champsim or vmt; \"-\" is standard input or output.\n"
	"convert writes OUT as its name says unless --to is given: *.lackey Lackey text,\n"
	"*.vmt.zst compressed .vmt, anything else .vmt (gzip and xz are not written).\n"
	"\n"
	"examples:\n"
	"  vmem-trace convert tests/data/ls-head.lackey.zst ls-head.vmt.zst\n"
	"  vmem-trace info traces/lackey/sort-large.lackey.zst\n";

/* A usage error: one line (msg), or the usage text when no argument was given at all. */
static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "vmem-trace: %s (vmem-trace --help shows the usage)\n", msg);
	else
		fputs(usage_text, stderr);
	return 2;
}

struct cli {
	struct vmem_trace_reader_opts ropts;
	struct vmem_trace_writer_opts wopts;
	bool to_lackey;
	bool to_given;
	uint64_t limit;
	const char *args[2];
	int nargs;
};

static bool parse_u64(const char *s, uint64_t maxv, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > maxv)
		return false;
	*out = v;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * What OUT's name asks for: *.lackey is Lackey text, *.zst compressed .vmt; gzip, xz and
 * compressed Lackey text are not written. --to, when given, must agree with the name.
 * Returns 0, or 1 after a message.
 */
static int output_kind_from_name(const char *out, struct cli *c)
{
	size_t n = strlen(out);
	bool zst = ends_with(out, ".zst");
	bool lackey;
	char base[4096];

	if (strcmp(out, "-") == 0)
		return 0;
	if (ends_with(out, ".gz") || ends_with(out, ".xz")) {
		fprintf(stderr, "vmem-trace: %s: gzip and xz output are not written; name the "
			"output *.vmt.zst for zstd, or without a compression suffix\n", out);
		return 1;
	}
	snprintf(base, sizeof(base), "%.*s", (int)(zst ? n - 4 : n), out);
	lackey = ends_with(base, ".lackey");
	if (c->to_given && lackey != c->to_lackey && (lackey || ends_with(base, ".vmt"))) {
		fprintf(stderr, "vmem-trace: %s: the name says %s but --to %s was given\n", out,
			lackey ? "Lackey text" : ".vmt", c->to_lackey ? "lackey" : "vmt");
		return 1;
	}
	if (!c->to_given)
		c->to_lackey = lackey;
	if (zst && c->to_lackey) {
		fprintf(stderr, "vmem-trace: %s: Lackey output is written as plain text; name it "
			"without .zst (and compress it with zstd), or write .vmt.zst\n", out);
		return 1;
	}
	if (zst)
		c->wopts.zstd = true;
	return 0;
}

/* Parses options and positional arguments; returns 0 or an exit status. */
static int parse_args(int argc, char **argv, const char *cmd, int want_args, struct cli *c)
{
	bool is_convert = strcmp(cmd, "convert") == 0;
	bool is_cat = strcmp(cmd, "cat") == 0;

	memset(c, 0, sizeof(*c));
	vmem_trace_reader_opts_default(&c->ropts);
	vmem_trace_writer_opts_default(&c->wopts);
	c->limit = UINT64_MAX;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;

		if (a[0] != '-' || strcmp(a, "-") == 0) {
			if (c->nargs >= want_args)
				return usage("too many arguments");
			c->args[c->nargs++] = a;
			continue;
		}
		if (strcmp(a, "--from") == 0 || strcmp(a, "--format") == 0) {
			if (!v || vmem_trace_format_parse(v, &c->ropts.format) < 0)
				return usage("--from/--format needs auto, lackey, champsim or vmt");
			i++;
		} else if (strcmp(a, "--skip-bad") == 0) {
			c->ropts.skip_bad = true;
		} else if (strcmp(a, "--vm") == 0) {
			if (!parse_u64(v, UINT16_MAX, &x))
				return usage("--vm needs a number 0..65535");
			c->ropts.vm = (uint16_t)x;
			i++;
		} else if (strcmp(a, "--asid") == 0) {
			if (!parse_u64(v, UINT32_MAX, &x))
				return usage("--asid needs a number 0..4294967295");
			c->ropts.asid = (uint32_t)x;
			i++;
		} else if (is_convert && strcmp(a, "--to") == 0) {
			if (v && strcmp(v, "vmt") == 0)
				c->to_lackey = false;
			else if (v && strcmp(v, "lackey") == 0)
				c->to_lackey = true;
			else
				return usage("--to needs vmt or lackey");
			c->to_given = true;
			i++;
		} else if (is_convert && strcmp(a, "--zstd") == 0) {
			c->wopts.zstd = true;
		} else if (is_convert && strcmp(a, "--level") == 0) {
			if (!parse_u64(v, 19, &x) || x < 1)
				return usage("--level needs a number 1..19");
			c->wopts.zstd_level = (int)x;
			i++;
		} else if (is_cat && strcmp(a, "--limit") == 0) {
			if (!parse_u64(v, UINT64_MAX, &x))
				return usage("--limit needs a number");
			c->limit = x;
			i++;
		} else {
			fprintf(stderr, "vmem-trace: unknown option %s for %s (vmem-trace --help shows "
				"the usage)\n", a, cmd);
			return 2;
		}
	}
	if (c->nargs != want_args)
		return usage(want_args == 2 ? "convert needs IN and OUT" : "a trace file is needed");
	if (is_convert && output_kind_from_name(c->args[1], c))
		return 2;
	if (c->to_lackey && c->wopts.zstd)
		return usage("--zstd applies to .vmt output only");
	return 0;
}

/* An input as messages name it. */
static const char *in_name(const char *path)
{
	return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

static int open_reader(const char *path, const struct cli *c, struct vmem_trace_reader **r)
{
	int rc = vmem_trace_open(path, &c->ropts, r);

	if (rc < 0) {
		fprintf(stderr, "vmem-trace: %s\n",
			*r ? vmem_trace_error(*r) : vmem_strerror(rc));
		vmem_trace_close(*r);
		*r = NULL;
		return 1;
	}
	return 0;
}

static int read_failed(struct vmem_trace_reader *r)
{
	fprintf(stderr, "vmem-trace: %s\n", vmem_trace_error(r));
	vmem_trace_close(r);
	return 1;
}

/* ---- Lackey text output ------------------------------------------------------------ */


/* Writes to out_path; messages name the output `name`. */
static int convert_to_lackey(struct vmem_trace_reader *r, const char *out_path,
			     const char *name, uint64_t *written, uint64_t *dropped)
{
	FILE *f = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
	struct vmem_trace_rec *recs = malloc(BATCH * sizeof(*recs));
	char *line = malloc((size_t)BATCH * VMEM_LACKEY_LINE_MAX);
	long n;
	int status = 0;

	if (!f || !recs || !line) {
		fprintf(stderr, "vmem-trace: %s: %s\n", name,
			f ? "out of memory" : strerror(errno));
		status = 1;
		goto out;
	}
	while ((n = vmem_trace_read(r, recs, BATCH)) > 0) {
		char *p = line;

		for (long i = 0; i < n; i++) {
			const struct vmem_trace_rec *x = &recs[i];

			size_t len = vmem_trace_lackey_line(x, p);

			if (x->type == VMEM_REC_CONTENT) {
				char pos[512];

				vmem_trace_record_position(r, (size_t)i, pos, sizeof(pos));
				fprintf(stderr, "vmem-trace: %s: a content record has no Lackey form; "
					"convert to .vmt instead\n", pos);
				status = 1;
				goto out;
			}
			if (len == 0) {
				(*dropped)++;
				continue;
			}
			p += len;
			(*written)++;
		}
		if (fwrite(line, 1, (size_t)(p - line), f) != (size_t)(p - line)) {
			fprintf(stderr, "vmem-trace: %s: write error: %s\n", name,
				strerror(errno));
			status = 1;
			goto out;
		}
	}
	if (n < 0) {
		fprintf(stderr, "vmem-trace: %s\n", vmem_trace_error(r));
		status = 1;
	}
out:
	if (f && f != stdout) {
		if (fclose(f) != 0 && !status) {
			fprintf(stderr, "vmem-trace: %s: write error: %s\n", name, strerror(errno));
			status = 1;
		}
	} else if (f && fflush(f) != 0 && !status) {
		fprintf(stderr, "vmem-trace: %s: write error: %s\n", name, strerror(errno));
		status = 1;
	}
	free(line);
	free(recs);
	return status;
}

/* Writes to out_path; wopts->name names the output in messages. */
static int convert_to_vmt(struct vmem_trace_reader *r, const char *out_path,
			  const struct vmem_trace_writer_opts *wopts, uint64_t *written)
{
	struct vmem_trace_writer *w = NULL;
	struct vmem_trace_rec *recs = malloc(BATCH * sizeof(*recs));
	long n;
	int rc, status = 0;

	if (!recs) {
		fprintf(stderr, "vmem-trace: out of memory\n");
		return 1;
	}
	rc = vmem_trace_writer_open(out_path, wopts, &w);
	if (rc < 0) {
		fprintf(stderr, "vmem-trace: %s\n",
			w ? vmem_trace_writer_error(w) : vmem_strerror(rc));
		vmem_trace_writer_close(w);
		free(recs);
		return 1;
	}
	while ((n = vmem_trace_read(r, recs, BATCH)) > 0) {
		rc = vmem_trace_write(w, recs, (size_t)n);
		if (rc < 0) {
			fprintf(stderr, "vmem-trace: %s\n", vmem_trace_writer_error(w));
			status = 1;
			break;
		}
		*written += (uint64_t)n;
	}
	if (n < 0) {
		fprintf(stderr, "vmem-trace: %s\n", vmem_trace_error(r));
		status = 1;
	}
	rc = vmem_trace_writer_close(w);
	if (rc < 0 && !status) {
		fprintf(stderr, "vmem-trace: %s: write error: %s\n", wopts->name,
			vmem_strerror(rc));
		status = 1;
	}
	free(recs);
	return status;
}

static int cmd_convert(int argc, char **argv)
{
	struct cli c;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_counts cnt;
	uint64_t written = 0, dropped = 0;
	struct outfile out;
	const char *out_name;
	char err[512];
	int status = parse_args(argc, argv, "convert", 2, &c);

	if (status)
		return status;
	out_name = strcmp(c.args[1], "-") == 0 ? "<stdout>" : c.args[1];
	/* Compared as files, not names: ./x and x, links, or "- < x" with OUT x. */
	if (outfile_same(c.args[0], c.args[1])) {
		fprintf(stderr, "vmem-trace: %s: input and output are the same file\n", out_name);
		return 2;
	}
	if (open_reader(c.args[0], &c, &r))
		return 1;
	if (outfile_begin(&out, c.args[1], err, sizeof(err)) < 0) {
		fprintf(stderr, "vmem-trace: %s\n", err);
		vmem_trace_close(r);
		return 1;
	}
	if (c.to_lackey) {
		status = convert_to_lackey(r, outfile_path(&out), out_name, &written,
					   &dropped);
	} else {
		c.wopts.name = out_name;
		status = convert_to_vmt(r, outfile_path(&out), &c.wopts, &written);
	}
	vmem_trace_counts(r, &cnt);
	if (!status && cnt.records == 0) {
		fprintf(stderr, "vmem-trace: %s: no trace records\n", in_name(c.args[0]));
		status = 1;
	}
	if (status) {
		outfile_abort(&out);
	} else if (outfile_commit(&out, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmem-trace: %s\n", err);
		status = 1;
	}
	if (!status) {
		fprintf(stderr, "vmem-trace: %s (%s) -> %s (%s): %" PRIu64 " records",
			in_name(c.args[0]),
			vmem_trace_format_name(vmem_trace_reader_format(r)),
			out_name, c.to_lackey ? "lackey" : (c.wopts.zstd ? "vmt+zstd" : "vmt"), written);
		if (cnt.skipped_bad)
			fprintf(stderr, ", %" PRIu64 " bad skipped", cnt.skipped_bad);
		fputc('\n', stderr);
		if (dropped)
			fprintf(stderr, "vmem-trace: %" PRIu64 " control records have no Lackey "
				"form and were dropped\n", dropped);
	}
	vmem_trace_close(r);
	return status;
}

/* ---- info --------------------------------------------------------------------------- */

/* A set of (context, 4K page) pairs: open addressing, linear probing, grows at 1/2. */
struct page_set {
	uint64_t *ctx;      /* vm << 32 | asid; EMPTY marks a free slot */
	uint64_t *page;
	size_t cap, n;
};

#define EMPTY UINT64_MAX

static size_t ps_slot(const struct page_set *s, uint64_t ctx, uint64_t page)
{
	uint64_t h = (page ^ (ctx * 0xff51afd7ed558ccdull)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 17) & (s->cap - 1);
}

static int ps_init(struct page_set *s, size_t cap)
{
	s->cap = cap;
	s->n = 0;
	s->ctx = malloc(cap * sizeof(*s->ctx));
	s->page = malloc(cap * sizeof(*s->page));
	if (!s->ctx || !s->page)
		return -1;
	for (size_t i = 0; i < cap; i++)
		s->ctx[i] = EMPTY;
	return 0;
}

static void ps_free(struct page_set *s)
{
	free(s->ctx);
	free(s->page);
}

static void ps_put(struct page_set *s, uint64_t ctx, uint64_t page)
{
	size_t i = ps_slot(s, ctx, page);

	while (s->ctx[i] != EMPTY) {
		if (s->ctx[i] == ctx && s->page[i] == page)
			return;
		i = (i + 1) & (s->cap - 1);
	}
	s->ctx[i] = ctx;
	s->page[i] = page;
	s->n++;
}

static int ps_add(struct page_set *s, uint64_t ctx, uint64_t page)
{
	if (2 * (s->n + 1) > s->cap) {
		struct page_set t;

		if (ps_init(&t, s->cap * 2) < 0) {
			ps_free(&t);
			return -1;
		}
		for (size_t i = 0; i < s->cap; i++) {
			if (s->ctx[i] != EMPTY)
				ps_put(&t, s->ctx[i], s->page[i]);
		}
		ps_free(s);
		*s = t;
	}
	ps_put(s, ctx, page);
	return 0;
}

static const char *const rec_names[VMEM_REC_TYPES] = {
	"access", "switch_as", "switch_vm", "unmap", "protect", "content", "free",
};

/* The last content of each page: (context, page) -> hash, flags and class. */
struct content_map {
	struct page_set keys;       /* the pages */
	uint64_t *hash;             /* per slot of keys */
	uint8_t *meta;              /* flags << 4 | class, per slot */
};

static int cm_init(struct content_map *c, size_t cap)
{
	int rc = ps_init(&c->keys, cap);

	c->hash = malloc(cap * sizeof(*c->hash));
	c->meta = malloc(cap);
	return rc < 0 || !c->hash || !c->meta ? -1 : 0;
}

static void cm_free(struct content_map *c)
{
	ps_free(&c->keys);
	free(c->hash);
	free(c->meta);
}

static void cm_put(struct content_map *c, uint64_t ctx, uint64_t page, uint64_t hash,
		   uint8_t meta)
{
	struct page_set *s = &c->keys;
	size_t i = ps_slot(s, ctx, page);

	while (s->ctx[i] != EMPTY && !(s->ctx[i] == ctx && s->page[i] == page))
		i = (i + 1) & (s->cap - 1);
	if (s->ctx[i] == EMPTY) {
		s->ctx[i] = ctx;
		s->page[i] = page;
		s->n++;
	}
	c->hash[i] = hash;
	c->meta[i] = meta;
}

static int cm_add(struct content_map *c, uint64_t ctx, uint64_t page, uint64_t hash,
		  uint8_t meta)
{
	if (2 * (c->keys.n + 1) > c->keys.cap) {
		struct content_map t;

		if (cm_init(&t, c->keys.cap * 2) < 0) {
			cm_free(&t);
			return -1;
		}
		for (size_t i = 0; i < c->keys.cap; i++) {
			if (c->keys.ctx[i] != EMPTY)
				cm_put(&t, c->keys.ctx[i], c->keys.page[i], c->hash[i], c->meta[i]);
		}
		cm_free(c);
		*c = t;
	}
	cm_put(c, ctx, page, hash, meta);
	return 0;
}

struct hash_ctx {
	uint64_t hash, ctx;
};

static int hc_cmp(const void *a, const void *b)
{
	const struct hash_ctx *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->ctx < y->ctx ? -1 : x->ctx > y->ctx;
}

/* Prints the content.* lines; returns 0 or -1 when out of memory. */
static int content_report(const struct content_map *c)
{
	size_t n = 0, npages = c->keys.n;
	struct hash_ctx *v = malloc((npages ? npages : 1) * sizeof(*v));
	uint64_t zero = 0, distinct = 0, shared = 0, shared_hashes = 0, across = 0, within = 0;
	uint64_t cls[VMEM_CONTENT_CLASSES] = { 0 }, bound = 0;

	if (!v)
		return -1;
	for (size_t i = 0; i < c->keys.cap; i++) {
		if (c->keys.ctx[i] == EMPTY)
			continue;
		v[n++] = (struct hash_ctx){ c->hash[i], c->keys.ctx[i] };
		if ((c->meta[i] >> 4) & VMEM_CONTENT_ZERO)
			zero++;
		cls[c->meta[i] & 15]++;
		bound += vmem_content_class_bytes(c->meta[i] & 15);
	}
	qsort(v, n, sizeof(*v), hc_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && v[j].hash == v[i].hash)
			j++;
		distinct++;
		if (j - i > 1) {
			shared += j - i;
			shared_hashes++;
			if (v[j - 1].ctx != v[i].ctx)
				across += j - i;
			/* Runs of one context within the hash's group (sorted by context). */
			for (size_t k = i; k < j;) {
				size_t l = k + 1;

				while (l < j && v[l].ctx == v[k].ctx)
					l++;
				if (l - k > 1)
					within += l - k;
				k = l;
			}
		}
		i = j;
	}
	free(v);
	printf("content.pages: %zu\n", npages);
	printf("content.pages_zero: %" PRIu64 "\n", zero);
	printf("content.hashes_distinct: %" PRIu64 "\n", distinct);
	printf("content.pages_shared: %" PRIu64 "\n", shared);
	printf("content.hashes_shared: %" PRIu64 "\n", shared_hashes);
	printf("content.pages_duplicate: %" PRIu64 "\n", (uint64_t)npages - distinct);
	printf("content.pages_shared_within: %" PRIu64 "\n", within);
	printf("content.pages_shared_across: %" PRIu64 "\n", across);
	printf("content.classes:");
	for (int k = 0; k < VMEM_CONTENT_CLASSES; k++)
		printf(" %" PRIu64, cls[k]);
	printf("\ncontent.lz4_bytes_max: %" PRIu64 "\n", bound);
	return 0;
}

static const char *const acc_names[4] = { "load", "store", "ifetch", "modify" };

static int cmd_info(int argc, char **argv)
{
	struct cli c;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec *recs;
	struct vmem_trace_counts cnt;
	struct page_set pages = { 0 };
	struct content_map content = { 0 };
	uint64_t by_type[VMEM_REC_TYPES] = { 0 }, by_acc[4] = { 0 };
	uint64_t amin = UINT64_MAX, amax = 0;
	long n;
	int status = parse_args(argc, argv, "info", 1, &c);

	if (status)
		return status;
	if (open_reader(c.args[0], &c, &r))
		return 1;
	recs = malloc(BATCH * sizeof(*recs));
	if (!recs || ps_init(&pages, 1u << 16) < 0 || cm_init(&content, 1u << 10) < 0) {
		fprintf(stderr, "vmem-trace: out of memory\n");
		status = 1;
		goto out;
	}
	while ((n = vmem_trace_read(r, recs, BATCH)) > 0) {
		for (long i = 0; i < n; i++) {
			const struct vmem_trace_rec *x = &recs[i];

			by_type[x->type < VMEM_REC_TYPES ? x->type : 0]++;
			if (x->type == VMEM_REC_CONTENT &&
			    cm_add(&content, (uint64_t)x->vm << 32 | x->asid, x->addr >> 12, x->len,
				   (uint8_t)((x->prot & 15) << 4 | (x->size & 15))) < 0) {
				fprintf(stderr, "vmem-trace: out of memory\n");
				status = 1;
				goto out;
			}
			if (x->type != VMEM_REC_ACCESS)
				continue;
			by_acc[x->acc & 3]++;
			if (x->addr < amin)
				amin = x->addr;
			if (x->addr > amax)
				amax = x->addr;
			if (ps_add(&pages, (uint64_t)x->vm << 32 | x->asid, x->addr >> 12) < 0) {
				fprintf(stderr, "vmem-trace: out of memory\n");
				status = 1;
				goto out;
			}
		}
	}
	if (n < 0) {
		fprintf(stderr, "vmem-trace: %s\n", vmem_trace_error(r));
		status = 1;
		goto out;
	}
	vmem_trace_counts(r, &cnt);
	if (cnt.records == 0) {
		fprintf(stderr, "vmem-trace: %s: no trace records\n", in_name(c.args[0]));
		status = 1;
		goto out;
	}
	printf("file: %s\n", in_name(c.args[0]));
	printf("format: %s\n", vmem_trace_format_name(vmem_trace_reader_format(r)));
	printf("records: %" PRIu64 "\n", cnt.records);
	for (int t = 0; t < VMEM_REC_TYPES; t++)
		printf("records.%s: %" PRIu64 "\n", rec_names[t], by_type[t]);
	for (int a = 0; a < 4; a++)
		printf("accesses.%s: %" PRIu64 "\n", acc_names[a], by_acc[a]);
	printf("pages_4k: %zu\n", pages.n);
	if (by_type[VMEM_REC_ACCESS]) {
		printf("addr_min: 0x%" PRIx64 "\n", amin);
		printf("addr_max: 0x%" PRIx64 "\n", amax);
	} else {
		printf("addr_min: none\naddr_max: none\n");
	}
	printf("skipped_bad: %" PRIu64 "\n", cnt.skipped_bad);
	printf("skipped_other: %" PRIu64 "\n", cnt.skipped_other);
	printf("bytes: %" PRIu64 "\n", cnt.bytes);
	if (by_type[VMEM_REC_CONTENT] && content_report(&content) < 0) {
		fprintf(stderr, "vmem-trace: out of memory\n");
		status = 1;
	}
out:
	cm_free(&content);
	ps_free(&pages);
	free(recs);
	vmem_trace_close(r);
	return status;
}

/* ---- cat ---------------------------------------------------------------------------- */

static void print_rec(FILE *f, const struct vmem_trace_rec *x)
{
	switch (x->type) {
	case VMEM_REC_ACCESS:
		fprintf(f, "%-9s vm=%u asid=%u addr=0x%" PRIx64 " size=%u\n",
			acc_names[x->acc & 3], x->vm, x->asid, x->addr, x->size);
		break;
	case VMEM_REC_SWITCH_AS:
	case VMEM_REC_SWITCH_VM:
		fprintf(f, "%-9s vm=%u asid=%u\n", rec_names[x->type], x->vm, x->asid);
		break;
	case VMEM_REC_UNMAP:
	case VMEM_REC_FREE:
		fprintf(f, "%-9s vm=%u asid=%u addr=0x%" PRIx64 " len=0x%" PRIx64 "\n",
			rec_names[x->type], x->vm, x->asid, x->addr, x->len);
		break;
	case VMEM_REC_CONTENT:
		fprintf(f, "%-9s vm=%u asid=%u addr=0x%" PRIx64 " hash=0x%016" PRIx64
			" class=%u%s\n", "content", x->vm, x->asid, x->addr, x->len, x->size,
			x->prot & VMEM_CONTENT_ZERO ? " zero" : "");
		break;
	case VMEM_REC_PROTECT:
		fprintf(f, "%-9s vm=%u asid=%u addr=0x%" PRIx64 " len=0x%" PRIx64
			" prot=%c%c%c%c\n", "protect", x->vm, x->asid, x->addr, x->len,
			x->prot & VMEM_PROT_READ ? 'r' : '-',
			x->prot & VMEM_PROT_WRITE ? 'w' : '-',
			x->prot & VMEM_PROT_EXEC ? 'x' : '-',
			x->prot & VMEM_PROT_USER ? 'u' : '-');
		break;
	default:
		fprintf(f, "type%u\n", x->type);
		break;
	}
}

static int cmd_cat(int argc, char **argv)
{
	struct cli c;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec *recs;
	uint64_t left;
	long n = 0;
	int status = parse_args(argc, argv, "cat", 1, &c);

	if (status)
		return status;
	if (open_reader(c.args[0], &c, &r))
		return 1;
	recs = malloc(BATCH * sizeof(*recs));
	if (!recs) {
		vmem_trace_close(r);
		return 1;
	}
	left = c.limit;
	while (left > 0) {
		n = vmem_trace_read(r, recs, left < BATCH ? (size_t)left : BATCH);
		if (n <= 0)
			break;
		for (long i = 0; i < n; i++)
			print_rec(stdout, &recs[i]);
		left -= (uint64_t)n;
	}
	free(recs);
	if (left > 0 && n < 0) {
		fflush(stdout);
		return read_failed(r);
	}
	if (c.limit > 0 && left == c.limit) {
		fprintf(stderr, "vmem-trace: %s: no trace records\n", in_name(c.args[0]));
		vmem_trace_close(r);
		return 1;
	}
	vmem_trace_close(r);
	return 0;
}

#define PARSED (-1)         /* parse_command: a command to run */

/* The commands: name, number of file arguments, what runs them. */
static const struct command {
	const char *name;
	int args;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "convert", 2, cmd_convert },
	{ "info", 1, cmd_info },
	{ "cat", 1, cmd_cat },
};

/*
 * The first word: sets *cmd and returns PARSED for a command (which parses the rest), or
 * returns the exit status after a message (2) or after --help or --version printed to
 * standard output (0; the caller checks that output with outfile_stdout_close).
 */
static int parse_command(int argc, char **argv, const struct command **cmd)
{
	if (argc < 2)
		return usage(NULL);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("vmem-trace (libvmem) %s\n", vmem_version());
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			*cmd = &commands[i];
			return PARSED;
		}
	}
	fprintf(stderr, "vmem-trace: unknown command %s (vmem-trace --help shows the usage)\n",
		argv[1]);
	return 2;
}

int main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	int status = parse_command(argc, argv, &cmd);

	if (status != PARSED)
		return outfile_stdout_close("vmem-trace", status);
	return outfile_stdout_close("vmem-trace", cmd->run(argc - 2, argv + 2));
}
