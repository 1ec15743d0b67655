/*
 * The .vmt trace format: libvmem's native binary traces, reader and writer.
 *
 * traces/FORMAT.md is the specification; in short:
 *
 *   header, 32 bytes, never compressed:
 *     0  magic        89 56 4d 54 0d 0a 1a 0a  ("\x89VMT\r\n\x1a\n")
 *     8  u16 version  1 or 2 (read); 2 (written)
 *    10  u16 flags    bit 0: the record stream is zstd-compressed; other bits 0
 *    12  u32 hsize    32
 *    16  16 bytes     reserved, 0
 *   records (all fields little-endian):
 *     0  u8  op       bits 0-3 record type; bits 4-7 access kind (ACCESS), compressibility
 *                     class (CONTENT), else 0
 *     1  u8  arg      ACCESS: size 1..255; PROTECT: prot bits (0..15); CONTENT: flags
 *                     (bit 0: zero page); others: 0
 *     2  u16 vm
 *     4  u32 asid
 *     8  u64 addr     canonical 57-bit; CONTENT: 4 KiB-aligned
 *    16  u64 len      UNMAP, PROTECT, FREE: length, non-zero; CONTENT: the content hash
 *                     (24-byte records)
 *   Types 5 (CONTENT) and 6 (FREE) exist from version 2 on: a version-1 file holding one
 *   fails at its offset.
 *
 * Reader errors are "FILE: offset N: ..." where N counts bytes of the logical file (the
 * header plus the decompressed record stream), so a plain and a zstd copy of one trace
 * report the same offsets. With opts.skip_bad a bad record whose size is known is
 * counted in skipped_bad and skipped; an unknown record type stays fatal because its
 * size, and so the start of the next record, is unknown. A record cut by the end of the
 * input is, with skip_bad, counted and ends the trace.
 *
 * Decoding speed: the hot loop handles ACCESS records in place in the window: two
 * little-endian loads, one combined validity test and one store per record. Everything
 * else takes a slower path.
 *
 * The writer buffers VMEM_TRACE_BUF bytes of records and writes them with write(2), or
 * compresses them with ZSTD_compressStream2() (content checksum on) when opts.zstd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "trace_internal.h"

#define VMT_MAGIC        "\x89VMT\r\n\x1a\n"
#define VMT_MAGIC_LEN    8
#define VMT_VERSION      2   /* written; 1 and 2 are read */
#define VMT_V1_TYPES     5   /* record types 0..4 of version 1 */
#define VMT_FLAG_ZSTD    0x0001u
#define VMT_FLAGS_KNOWN  VMT_FLAG_ZSTD
#define VMT_HEADER       32
#define VMT_REC          16
#define VMT_REC_LONG     24
#define VMT_PROT_KNOWN   (VMEM_PROT_READ | VMEM_PROT_WRITE | VMEM_PROT_EXEC | VMEM_PROT_USER)

bool vmem_trace_vmt_sniff(const unsigned char *p, size_t n)
{
	return n >= VMT_MAGIC_LEN && memcmp(p, VMT_MAGIC, VMT_MAGIC_LEN) == 0;
}

static bool rec_long(unsigned type)
{
	return type == VMEM_REC_UNMAP || type == VMEM_REC_PROTECT ||
	       type == VMEM_REC_CONTENT || type == VMEM_REC_FREE;
}

static size_t rec_size(unsigned type)
{
	return rec_long(type) ? VMT_REC_LONG : VMT_REC;
}

static const char *const type_names[VMEM_REC_TYPES] = {
	"ACCESS", "SWITCH_AS", "SWITCH_VM", "UNMAP", "PROTECT", "CONTENT", "FREE",
};

int vmem_trace_vmt_start(struct vmem_trace_reader *r)
{
	struct vmem_trace_input *in = &r->in;
	long k = vmem_trace_input_want(in, VMT_HEADER);
	const unsigned char *p;
	unsigned version, flags, hsize;

	if (k < 0)
		return vmem_trace_fail_input(r, in, (int)k);
	p = in->buf + in->pos;
	if (!vmem_trace_vmt_sniff(p, (size_t)k))
		return vmem_trace_fail_off(r, 0, "expected the .vmt magic bytes "
					   "89 56 4d 54 0d 0a 1a 0a");
	if (k < VMT_HEADER)
		return vmem_trace_fail_off(r, (uint64_t)k, "expected a 32-byte header, got %ld "
					   "bytes before end of input", k);
	version = vmem_le16(p + 8);
	flags = vmem_le16(p + 10);
	hsize = vmem_le32(p + 12);
	if (version != 1 && version != 2)
		return vmem_trace_fail_off(r, 8, "expected version 1 or 2, got unsupported "
					   "version %u", version);
	r->vmt_version = version;
	if (flags & ~VMT_FLAGS_KNOWN)
		return vmem_trace_fail_off(r, 10, "expected flags 0 or 1, got unknown flags 0x%x",
					   flags);
	if (hsize != VMT_HEADER)
		return vmem_trace_fail_off(r, 12, "expected header size 32, got %u", hsize);
	for (unsigned i = 16; i < VMT_HEADER; i++) {
		if (p[i])
			return vmem_trace_fail_off(r, i, "expected reserved header bytes to be 0");
	}
	in->pos += VMT_HEADER;
	if (flags & VMT_FLAG_ZSTD) {
		int rc = vmem_trace_input_open_sub(&r->inner, in, VMEM_TRACE_CODEC_ZSTD,
						   in->base + in->pos, r->name);

		r->inner_open = true;
		if (rc < 0)
			return vmem_trace_fail_input(r, &r->inner, rc);
		r->data = &r->inner;
	}
	return 0;
}

enum slow_result { SLOW_REC, SLOW_SKIP, SLOW_END, SLOW_ERR };

/*
 * Decodes the record at data->buf[pos] that the fast path did not take: any record type,
 * a bad record, or one cut by the end of the window. Consumes it unless it is an error.
 */
static enum slow_result vmt_slow(struct vmem_trace_reader *r, struct vmem_trace_rec *o)
{
	struct vmem_trace_input *in = r->data;
	const unsigned char *p;
	uint64_t off, addr, len = 0;
	size_t avail, need;
	unsigned op, type, arg;
	int rc;

	avail = in->end - in->pos;
	p = in->buf + in->pos;
	off = in->base + in->pos;
	op = p[0];
	type = op & 0x0f;
	if (type >= VMEM_REC_TYPES) {
		r->pending = vmem_trace_fail_off(r, off, "expected a record type 0..%u, got unknown "
						 "type %u (its size is unknown, so the rest "
						 "of the trace cannot be read)",
						 r->vmt_version == 1 ? VMT_V1_TYPES - 1 :
						 VMEM_REC_TYPES - 1, type);
		return SLOW_ERR;
	}
	if (r->vmt_version == 1 && type >= VMT_V1_TYPES) {
		r->pending = vmem_trace_fail_off(r, off, "expected a record type 0..4 in a version "
						 "1 file, got type %u (%s records exist from "
						 "version 2 on)", type, type_names[type]);
		return SLOW_ERR;
	}
	need = rec_size(type);
	if (avail < need) {
		/* Only at the end of input: the caller keeps >= 24 bytes otherwise. */
		if (r->opts.skip_bad) {
			r->counts.skipped_bad++;
			in->pos = in->end;
			return SLOW_END;
		}
		r->pending = vmem_trace_fail_off(r, off, "expected a %zu-byte record, got %zu "
						 "bytes before end of input", need, avail);
		return SLOW_ERR;
	}
	arg = p[1];
	addr = vmem_le64(p + 8);
	if (need == VMT_REC_LONG)
		len = vmem_le64(p + 16);
	if (type == VMEM_REC_ACCESS) {
		if ((op >> 4) > VMEM_ACC_MODIFY)
			rc = vmem_trace_fail_off(r, off, "expected access kind 0..3, got %u", op >> 4);
		else if (arg == 0)
			rc = vmem_trace_fail_off(r, off, "expected access size 1..255, got 0");
		else
			rc = 0;
	} else if (type == VMEM_REC_CONTENT) {
		if (arg & ~VMEM_CONTENT_FLAGS)
			rc = vmem_trace_fail_off(r, off, "expected content flags 0x0..0x1, got "
						 "0x%02x", arg);
		else if (addr & 0xfff)
			rc = vmem_trace_fail_off(r, off, "expected a 4 KiB-aligned page address in "
						 "a content record, got 0x%llx",
						 (unsigned long long)addr);
		else
			rc = 0;
	} else if (op >> 4) {
		rc = vmem_trace_fail_off(r, off, "expected bits 4-7 of byte 0 to be 0 in a "
					 "type %u record, got 0x%02x", type, op);
	} else if (type == VMEM_REC_PROTECT && (arg & ~VMT_PROT_KNOWN)) {
		rc = vmem_trace_fail_off(r, off, "expected protection bits 0x0..0xf, got 0x%02x",
					 arg);
	} else if (type != VMEM_REC_PROTECT && arg) {
		rc = vmem_trace_fail_off(r, off, "expected byte 1 to be 0 in a type %u record, "
					 "got 0x%02x", type, arg);
	} else {
		rc = 0;
	}
	if (rc == 0 && !vmem_addr_canonical(addr, VMEM_TRACE_VA_BITS))
		rc = vmem_trace_fail_off(r, off, "expected a canonical 57-bit address, got 0x%llx",
					 (unsigned long long)addr);
	if (rc == 0 && need == VMT_REC_LONG && type != VMEM_REC_CONTENT && len == 0)
		rc = vmem_trace_fail_off(r, off, "expected a non-zero length");
	if (rc < 0) {
		if (r->opts.skip_bad) {
			r->counts.skipped_bad++;
			in->pos += need;
			return SLOW_SKIP;
		}
		r->pending = rc;
		return SLOW_ERR;
	}
	*o = (struct vmem_trace_rec){
		.type = (uint8_t)type,
		.acc = type == VMEM_REC_ACCESS ? (uint8_t)(op >> 4) : 0,
		.size = type == VMEM_REC_ACCESS ? (uint8_t)arg :
			type == VMEM_REC_CONTENT ? (uint8_t)(op >> 4) : 0,
		.prot = type == VMEM_REC_PROTECT || type == VMEM_REC_CONTENT ? (uint8_t)arg : 0,
		.vm = vmem_le16(p + 2),
		.asid = vmem_le32(p + 4),
		.addr = addr,
		.len = len,
	};
	in->pos += need;
	return SLOW_REC;
}

long vmem_trace_vmt_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs,
			 size_t max)
{
	struct vmem_trace_input *in = r->data;
	size_t n = 0;

	while (n < max) {
		size_t avail = in->end - in->pos;
		const unsigned char *p, *e;

		if (avail < VMT_REC_LONG && !in->eof) {
			long k = vmem_trace_input_fill(in);

			if (k < 0) {
				r->pending = vmem_trace_fail_input(r, in, (int)k);
				break;
			}
			continue;
		}
		if (avail == 0)
			break;
		/*
		 * Fast path: ACCESS records (op 0x00, 0x10, 0x20 or 0x30) with a non-zero size
		 * and a canonical address, while a whole 24-byte record still fits, so the
		 * slow path never needs a refill in the middle of a record.
		 */
		p = in->buf + in->pos;
		e = avail >= VMT_REC_LONG ? in->buf + in->end - (VMT_REC_LONG - 1) : p;
		while (p < e && n < max) {
			unsigned op = p[0];
			unsigned size = p[1];
			uint64_t addr = vmem_le64(p + 8);

			if ((op & 0xcf) != 0 || size == 0 ||
			    !vmem_addr_canonical(addr, VMEM_TRACE_VA_BITS))
				break;
			r->pos[n] = in->base + (uint64_t)(p - in->buf);
			recs[n++] = (struct vmem_trace_rec){
				.type = VMEM_REC_ACCESS,
				.acc = (uint8_t)(op >> 4),
				.size = (uint8_t)size,
				.vm = vmem_le16(p + 2),
				.asid = vmem_le32(p + 4),
				.addr = addr,
			};
			p += VMT_REC;
		}
		if (p != in->buf + in->pos) {
			r->last_pos = in->base + (uint64_t)(p - VMT_REC - in->buf);
			in->pos = (size_t)(p - in->buf);
			continue;
		}
		if (n == max)
			break;
		{
			uint64_t off = in->base + in->pos;
			enum slow_result s = vmt_slow(r, &recs[n]);

			if (s == SLOW_REC) {
				r->pos[n++] = off;
				r->last_pos = off;
			} else if (s != SLOW_SKIP) {
				break;
			}
		}
	}
	return (long)n;
}

/* ------------------------------------------------------------------------------------ */
/* Writer                                                                               */

struct vmem_trace_writer {
	char *name;
	int fd;
	bool close_fd;
	ZSTD_CCtx *cctx;
	unsigned char *buf;             /* records not yet written or compressed */
	size_t len;
	unsigned char *zbuf;            /* compressed output */
	size_t zcap;
	uint64_t nrec;                  /* records accepted so far */
	int err;                        /* first I/O error, sticky */
	char msg[VMEM_TRACE_ERRLEN];
};

static int wr_fail(struct vmem_trace_writer *w, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int wr_fail(struct vmem_trace_writer *w, int code, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(w->msg, sizeof(w->msg), "%s: ", w->name ? w->name : "?");

	if (n >= 0 && (size_t)n < sizeof(w->msg)) {
		va_start(ap, fmt);
		vsnprintf(w->msg + n, sizeof(w->msg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return code;
}

void vmem_trace_writer_opts_default(struct vmem_trace_writer_opts *o)
{
	o->zstd = false;
	o->zstd_level = 3;
	o->name = NULL;
}

static int write_all(struct vmem_trace_writer *w, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(w->fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			w->err = wr_fail(w, VMEM_EIO, "write error: %s", strerror(errno));
			return w->err;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int wr_flush(struct vmem_trace_writer *w, bool end)
{
	ZSTD_inBuffer zin = { w->buf, w->len, 0 };
	int rc;

	if (!w->cctx) {
		rc = write_all(w, w->buf, w->len);
		w->len = 0;
		return rc;
	}
	for (;;) {
		ZSTD_outBuffer zout = { w->zbuf, w->zcap, 0 };
		size_t rem = ZSTD_compressStream2(w->cctx, &zout, &zin,
						  end ? ZSTD_e_end : ZSTD_e_continue);

		if (ZSTD_isError(rem)) {
			w->err = wr_fail(w, VMEM_EIO, "zstd: %s", ZSTD_getErrorName(rem));
			return w->err;
		}
		rc = write_all(w, w->zbuf, zout.pos);
		if (rc < 0)
			return rc;
		if (end ? rem == 0 : zin.pos == zin.size)
			break;
	}
	w->len = 0;
	return 0;
}

int vmem_trace_writer_open(const char *path, const struct vmem_trace_writer_opts *opts,
			   struct vmem_trace_writer **out)
{
	struct vmem_trace_writer_opts o;
	struct vmem_trace_writer *w;
	unsigned char hdr[VMT_HEADER] = { 0 };

	if (!out)
		return VMEM_EINVAL;
	*out = NULL;
	if (!path)
		return VMEM_EINVAL;
	if (opts)
		o = *opts;
	else
		vmem_trace_writer_opts_default(&o);
	w = calloc(1, sizeof(*w));
	if (!w)
		return VMEM_ENOMEM;
	w->fd = -1;
	w->name = strdup(o.name ? o.name : strcmp(path, "-") == 0 ? "<stdout>" : path);
	if (!w->name) {
		free(w);
		return VMEM_ENOMEM;
	}
	*out = w;
	if (o.zstd_level == 0)
		o.zstd_level = 3;
	if (o.zstd && (o.zstd_level < 1 || o.zstd_level > 19))
		return w->err = wr_fail(w, VMEM_EINVAL, "zstd level %d out of range 1..19",
					o.zstd_level);
	w->buf = malloc(VMEM_TRACE_BUF);
	if (!w->buf)
		return w->err = wr_fail(w, VMEM_ENOMEM, "out of memory");
	if (o.zstd) {
		w->cctx = ZSTD_createCCtx();
		w->zcap = ZSTD_CStreamOutSize();
		w->zbuf = malloc(w->zcap);
		if (!w->cctx || !w->zbuf)
			return w->err = wr_fail(w, VMEM_ENOMEM, "out of memory");
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, o.zstd_level);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	}
	if (strcmp(path, "-") == 0) {
		w->fd = STDOUT_FILENO;
	} else {
		w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (w->fd < 0)
			return w->err = wr_fail(w, VMEM_EIO, "cannot create: %s", strerror(errno));
		w->close_fd = true;
	}
	memcpy(hdr, VMT_MAGIC, VMT_MAGIC_LEN);
	vmem_put_le16(hdr + 8, VMT_VERSION);
	vmem_put_le16(hdr + 10, o.zstd ? VMT_FLAG_ZSTD : 0);
	vmem_put_le32(hdr + 12, VMT_HEADER);
	return write_all(w, hdr, sizeof(hdr));
}

/* Checks a record against what a reader accepts; 0 or VMEM_EINVAL with the message. */
static int wr_check(struct vmem_trace_writer *w, const struct vmem_trace_rec *x, uint64_t i)
{
	const char *what = NULL;

	if (x->type >= VMEM_REC_TYPES)
		what = "unknown record type";
	else if (x->type == VMEM_REC_ACCESS && x->acc > VMEM_ACC_MODIFY)
		what = "access kind out of range 0..3";
	else if (x->type == VMEM_REC_ACCESS && x->size == 0)
		what = "access size 0";
	else if (x->type == VMEM_REC_PROTECT && (x->prot & ~VMT_PROT_KNOWN))
		what = "unknown protection bits";
	else if (x->type == VMEM_REC_CONTENT && (x->prot & ~VMEM_CONTENT_FLAGS))
		what = "unknown content flags";
	else if (x->type == VMEM_REC_CONTENT && x->size >= VMEM_CONTENT_CLASSES)
		what = "content class out of range 0..15";
	else if (x->type == VMEM_REC_CONTENT && (x->addr & 0xfff))
		what = "content record for an address that is not 4 KiB-aligned";
	else if (!vmem_addr_canonical(x->addr, VMEM_TRACE_VA_BITS))
		what = "non-canonical address";
	else if (rec_long(x->type) && x->type != VMEM_REC_CONTENT && x->len == 0)
		what = "zero length";
	if (!what)
		return 0;
	return wr_fail(w, VMEM_EINVAL, "record %llu: %s", (unsigned long long)i, what);
}

int vmem_trace_write(struct vmem_trace_writer *w, const struct vmem_trace_rec *recs, size_t n)
{
	if (!w || (!recs && n))
		return VMEM_EINVAL;
	if (w->err)
		return w->err;
	/* Validate first, so that a rejected batch writes nothing. */
	for (size_t i = 0; i < n; i++) {
		int rc = wr_check(w, &recs[i], w->nrec + i);

		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		const struct vmem_trace_rec *x = &recs[i];
		unsigned char *p;

		if (w->len + VMT_REC_LONG > VMEM_TRACE_BUF) {
			int rc = wr_flush(w, false);

			if (rc < 0)
				return rc;
		}
		p = w->buf + w->len;
		switch (x->type) {
		case VMEM_REC_ACCESS:
			p[0] = (unsigned char)(x->type | x->acc << 4);
			p[1] = x->size;
			break;
		case VMEM_REC_PROTECT:
			p[0] = x->type;
			p[1] = x->prot;
			break;
		case VMEM_REC_CONTENT:
			p[0] = (unsigned char)(x->type | x->size << 4);
			p[1] = x->prot;
			break;
		default:
			p[0] = x->type;
			p[1] = 0;
			break;
		}
		vmem_put_le16(p + 2, x->vm);
		vmem_put_le32(p + 4, x->asid);
		vmem_put_le64(p + 8, x->addr);
		if (rec_long(x->type)) {
			vmem_put_le64(p + 16, x->len);
			w->len += VMT_REC_LONG;
		} else {
			w->len += VMT_REC;
		}
	}
	w->nrec += n;
	return 0;
}

const char *vmem_trace_writer_error(const struct vmem_trace_writer *w)
{
	return w ? w->msg : "no writer";
}

int vmem_trace_writer_close(struct vmem_trace_writer *w)
{
	int rc;

	if (!w)
		return VMEM_EINVAL;
	rc = w->err;
	if (!rc && w->fd >= 0)
		rc = wr_flush(w, true);
	if (w->close_fd && close(w->fd) < 0 && !rc)
		rc = wr_fail(w, VMEM_EIO, "close error: %s", strerror(errno));
	ZSTD_freeCCtx(w->cctx);
	free(w->zbuf);
	free(w->buf);
	free(w->name);
	free(w);
	return rc;
}
