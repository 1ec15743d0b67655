/*
 * Trace readers: opening, format detection, dispatch, errors, positions and counts.
 *
 * The per-format decoders live in trace_lackey.c, trace_champsim.c and trace_vmt.c; the
 * byte input with transparent gzip/xz/zstd decompression in trace_input.c. The dispatcher
 * picks the decoder once per batch (one switch per vmem_trace_read call), never per
 * record.
 *
 * Format detection (opts.format == VMEM_TRACE_AUTO), applied to the first bytes after
 * any outer gzip/xz/zstd compression has been removed:
 *
 *   1. the 8-byte .vmt magic (traces/FORMAT.md)                        -> vmt
 *   2. Lackey text: after any leading empty lines, the first line starts
 *      with "==" (a Valgrind banner), "I  ", " L ", " S " or " M ", or
 *      the first bytes are all empty lines                              -> lackey
 *   3. the file name, less one .gz/.xz/.zst/.zstd suffix, ends in
 *      .champsim or .champsimtrace (case-insensitive), or the first
 *      records look like ChampSim instruction records (trace_champsim.c) -> champsim
 *   4. an empty input is an empty Lackey trace (no records)             -> lackey
 *   5. anything else: "FILE: cannot detect trace format; use --format".
 *
 * ChampSim traces have no magic number (they are bare arrays of 64-byte records): they are
 * recognised by name, or by the shape of their first records; a file that passes neither
 * needs the format given explicitly.
 * A format given explicitly is used without looking at the content (a .vmt reader still
 * checks its magic).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "trace_internal.h"

static const char *const format_names[] = {
	[VMEM_TRACE_AUTO] = "auto",
	[VMEM_TRACE_LACKEY] = "lackey",
	[VMEM_TRACE_CHAMPSIM] = "champsim",
	[VMEM_TRACE_VMT] = "vmt",
};

#define NFORMATS (sizeof(format_names) / sizeof(format_names[0]))

const char *vmem_trace_format_name(enum vmem_trace_format f)
{
	return (unsigned)f < NFORMATS ? format_names[f] : "?";
}

int vmem_trace_format_parse(const char *s, enum vmem_trace_format *out)
{
	if (!s || !out)
		return VMEM_EINVAL;
	for (unsigned i = 0; i < NFORMATS; i++) {
		if (strcasecmp(s, format_names[i]) == 0) {
			*out = (enum vmem_trace_format)i;
			return 0;
		}
	}
	return VMEM_EINVAL;
}

void vmem_trace_reader_opts_default(struct vmem_trace_reader_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = VMEM_TRACE_AUTO;
	o->skip_bad = false;
	o->vm = 0;
	o->asid = 0;
}

static int fail_v(struct vmem_trace_reader *r, int code, const char *prefix_fmt,
		  uint64_t where, const char *fmt, va_list ap)
{
	int n;

	if (prefix_fmt)
		n = snprintf(r->err, sizeof(r->err), prefix_fmt, r->name,
			     (unsigned long long)where);
	else
		n = snprintf(r->err, sizeof(r->err), "%s: ", r->name);
	if (n >= 0 && (size_t)n < sizeof(r->err))
		vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	return code;
}

int vmem_trace_fail(struct vmem_trace_reader *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(r, code, NULL, 0, fmt, ap);
	va_end(ap);
	return code;
}

int vmem_trace_fail_line(struct vmem_trace_reader *r, uint64_t line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(r, VMEM_EFORMAT, "%s:%llu: ", line, fmt, ap);
	va_end(ap);
	return VMEM_EFORMAT;
}

int vmem_trace_fail_off(struct vmem_trace_reader *r, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(r, VMEM_EFORMAT, "%s: offset %llu: ", off, fmt, ap);
	va_end(ap);
	return VMEM_EFORMAT;
}

int vmem_trace_fail_input(struct vmem_trace_reader *r, const struct vmem_trace_input *in,
			  int code)
{
	memcpy(r->err, in->err, sizeof(r->err));
	return code;
}

static bool has_suffix(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);

	return len >= n && strncasecmp(s + len - n, suf, n) == 0;
}

static bool name_is_champsim(const char *name)
{
	static const char *const zsuf[] = { ".gz", ".xz", ".zst", ".zstd" };
	size_t len = strlen(name);

	for (unsigned i = 0; i < sizeof(zsuf) / sizeof(zsuf[0]); i++) {
		if (has_suffix(name, len, zsuf[i])) {
			len -= strlen(zsuf[i]);
			break;
		}
	}
	return has_suffix(name, len, ".champsim") || has_suffix(name, len, ".champsimtrace");
}

static int detect(struct vmem_trace_reader *r)
{
	long k = vmem_trace_input_want(&r->in, 4096);
	const unsigned char *p;

	if (k < 0)
		return vmem_trace_fail_input(r, &r->in, (int)k);
	p = r->in.buf + r->in.pos;
	if (vmem_trace_vmt_sniff(p, (size_t)k))
		r->format = VMEM_TRACE_VMT;
	else if (vmem_trace_lackey_sniff(p, (size_t)k))
		r->format = VMEM_TRACE_LACKEY;
	else if (name_is_champsim(r->name) || vmem_trace_champsim_sniff(p, (size_t)k))
		r->format = VMEM_TRACE_CHAMPSIM;
	else if (k == 0)
		r->format = VMEM_TRACE_LACKEY;
	else
		return vmem_trace_fail(r, VMEM_EFORMAT,
				       "cannot detect trace format; use --format");
	return 0;
}

static int open_reader(struct vmem_trace_reader *r, const char *path)
{
	int rc = vmem_trace_input_open(&r->in, path, r->name);

	if (rc < 0)
		return vmem_trace_fail_input(r, &r->in, rc);
	r->format = r->opts.format;
	if (r->format == VMEM_TRACE_AUTO) {
		rc = detect(r);
		if (rc < 0)
			return rc;
	}
	switch (r->format) {
	case VMEM_TRACE_LACKEY:
	case VMEM_TRACE_CHAMPSIM:
		return 0;
	case VMEM_TRACE_VMT:
		return vmem_trace_vmt_start(r);
	default:
		return vmem_trace_fail(r, VMEM_EINVAL, "unknown trace format %d",
				       (int)r->format);
	}
}

int vmem_trace_open(const char *path, const struct vmem_trace_reader_opts *opts,
		    struct vmem_trace_reader **out)
{
	struct vmem_trace_reader *r;
	int rc;

	if (!out)
		return VMEM_EINVAL;
	*out = NULL;
	if (!path)
		return VMEM_EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return VMEM_ENOMEM;
	r->in.fd = -1;
	r->name = strdup(strcmp(path, "-") == 0 ? "<stdin>" : path);
	if (!r->name) {
		free(r);
		return VMEM_ENOMEM;
	}
	*out = r;
	if (opts)
		r->opts = *opts;
	else
		vmem_trace_reader_opts_default(&r->opts);
	r->data = &r->in;
	r->line = 1;
	rc = open_reader(r, path);
	if (rc < 0)
		r->pending = rc;
	return rc;
}

long vmem_trace_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs, size_t max)
{
	long n;

	if (!r || !recs || max == 0)
		return VMEM_EINVAL;
	r->pos_n = 0;
	if (r->pending)
		return r->pending;
	if (max > r->pos_cap) {
		uint64_t *pos = realloc(r->pos, max * sizeof(*pos));

		if (!pos)
			return vmem_trace_fail(r, VMEM_ENOMEM, "out of memory");
		r->pos = pos;
		r->pos_cap = max;
	}
	switch (r->format) {
	case VMEM_TRACE_LACKEY:
		n = vmem_trace_lackey_read(r, recs, max);
		break;
	case VMEM_TRACE_CHAMPSIM:
		n = vmem_trace_champsim_read(r, recs, max);
		break;
	case VMEM_TRACE_VMT:
		n = vmem_trace_vmt_read(r, recs, max);
		break;
	default:
		return VMEM_EINVAL;
	}
	/* Blame a corrupt compressed stream, not the garbage it decoded to. */
	if (r->pending == VMEM_EFORMAT) {
		int rc = vmem_trace_input_verify(r->data);

		if (rc < 0)
			r->pending = vmem_trace_fail_input(r, r->data, rc);
	}
	if (n > 0) {
		r->counts.records += (uint64_t)n;
		r->have_pos = true;
		r->pos_n = (size_t)n;
		return n;
	}
	return r->pending;
}

const char *vmem_trace_error(const struct vmem_trace_reader *r)
{
	if (!r)
		return "no reader";
	return r->err;
}

enum vmem_trace_format vmem_trace_reader_format(const struct vmem_trace_reader *r)
{
	return r->format;
}

static void format_position(const struct vmem_trace_reader *r, uint64_t where, char *buf,
			    size_t len)
{
	if (r->format == VMEM_TRACE_LACKEY)
		snprintf(buf, len, "%s:%llu", r->name, (unsigned long long)where);
	else
		snprintf(buf, len, "%s: offset %llu", r->name, (unsigned long long)where);
}

void vmem_trace_position(const struct vmem_trace_reader *r, char *buf, size_t len)
{
	if (!buf || len == 0)
		return;
	if (!r->have_pos)
		snprintf(buf, len, "%s", r->name);
	else
		format_position(r, r->last_pos, buf, len);
}

size_t vmem_trace_batch_positions(const struct vmem_trace_reader *r, uint64_t *out, size_t n)
{
	if (n > r->pos_n)
		n = r->pos_n;
	memcpy(out, r->pos, n * sizeof(*out));
	return n;
}

void vmem_trace_format_position(const struct vmem_trace_reader *r, uint64_t pos, char *buf,
				size_t len)
{
	if (buf && len)
		format_position(r, pos, buf, len);
}

int vmem_trace_record_position(const struct vmem_trace_reader *r, size_t index, char *buf,
			       size_t len)
{
	if (!r || !buf || len == 0)
		return VMEM_EINVAL;
	if (index >= r->pos_n) {
		snprintf(buf, len, "%s", r->name);
		return VMEM_EINVAL;
	}
	format_position(r, r->pos[index], buf, len);
	return 0;
}

void vmem_trace_counts(const struct vmem_trace_reader *r, struct vmem_trace_counts *out)
{
	*out = r->counts;
	out->bytes = r->in.raw_bytes;
}

void vmem_trace_close(struct vmem_trace_reader *r)
{
	if (!r)
		return;
	if (r->inner_open)
		vmem_trace_input_close(&r->inner);
	vmem_trace_input_close(&r->in);
	free(r->pos);
	free(r->name);
	free(r);
}
