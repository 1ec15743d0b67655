/*
 * Buffered byte input for trace readers, with transparent decompression.
 *
 * A struct vmem_trace_input is one fixed window of decoded bytes (VMEM_TRACE_BUF) that
 * the format decoders parse in place. Its bytes come from a file descriptor (a file or
 * standard input) or, for the zstd record stream inside a .vmt file, from the window of
 * another input. See trace_internal.h for how the layers fit.
 *
 * Compression is recognised by magic bytes, never by file name, so it works for every
 * trace format and for standard input:
 *
 *   gzip   1f 8b 08                 (RFC 1952; 08 = deflate)      zlib inflate
 *   xz     fd 37 7a 58 5a 00        (.xz file format, section 2.1.1.1)   liblzma
 *   zstd   28 b5 2f fd              (RFC 8878, frame magic 0xFD2FB528)   libzstd
 *
 * Concatenated gzip members, xz streams and zstd frames are decoded one after the other,
 * as gzip -d, xz -d and zstd -d do. A stream that ends in the middle of a member or frame
 * is an error ("truncated ... stream"); bytes after the last member that are not another
 * member are an error too.
 *
 * Memory is fixed: the window plus, for compressed input, VMEM_TRACE_RAWBUF bytes of
 * compressed data and the decoder's own state (the xz and zstd dictionaries). A plain
 * file is read straight into the window with no extra copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "trace_internal.h"

static int in_fail(struct vmem_trace_input *in, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes the message after the n characters of prefix already in in->err. */
static void append_message(struct vmem_trace_input *in, int n, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void append_message(struct vmem_trace_input *in, int n, const char *fmt, va_list ap)
{
	if (n >= 0 && (size_t)n < sizeof(in->err))
		vsnprintf(in->err + n, sizeof(in->err) - (size_t)n, fmt, ap);
}

static int in_fail(struct vmem_trace_input *in, int code, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(in->err, sizeof(in->err), "%s: ", in->name ? in->name : "?");

	va_start(ap, fmt);
	append_message(in, n, fmt, ap);
	va_end(ap);
	return code;
}

/* Offset of the next compressed byte the decoder will take, in in's source. */
static uint64_t raw_offset(const struct vmem_trace_input *in)
{
	if (in->src)
		return in->src->base + in->src->pos;
	return in->raw_bytes - (in->raw_end - in->raw_pos);
}

/* A decompression error: "NAME: compressed byte offset N: ..." */
static int codec_fail(struct vmem_trace_input *in, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int codec_fail(struct vmem_trace_input *in, int code, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(in->err, sizeof(in->err), "%s: compressed byte offset %llu: ",
			 in->name ? in->name : "?", (unsigned long long)raw_offset(in));

	va_start(ap, fmt);
	append_message(in, n, fmt, ap);
	va_end(ap);
	return code;
}

enum vmem_trace_codec vmem_trace_codec_sniff(const unsigned char *p, size_t n)
{
	static const unsigned char xz[6] = { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 };
	static const unsigned char zst[4] = { 0x28, 0xb5, 0x2f, 0xfd };

	if (n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 0x08)
		return VMEM_TRACE_CODEC_GZIP;
	if (n >= sizeof(xz) && memcmp(p, xz, sizeof(xz)) == 0)
		return VMEM_TRACE_CODEC_XZ;
	if (n >= sizeof(zst) && memcmp(p, zst, sizeof(zst)) == 0)
		return VMEM_TRACE_CODEC_ZSTD;
	return VMEM_TRACE_CODEC_NONE;
}

/* read() that retries on EINTR and counts bytes; 0 at end of file. */
static long fd_read(struct vmem_trace_input *in, unsigned char *dst, size_t cap)
{
	for (;;) {
		ssize_t k = read(in->fd, dst, cap);

		if (k >= 0) {
			in->raw_bytes += (uint64_t)k;
			return (long)k;
		}
		if (errno != EINTR)
			return in_fail(in, VMEM_EIO, "read error: %s", strerror(errno));
	}
}

/*
 * Points *p at compressed bytes not yet given to the decoder. Returns how many (> 0),
 * 0 when the source is exhausted, or < 0 on a read error.
 */
static long raw_get(struct vmem_trace_input *in, const unsigned char **p)
{
	if (in->src) {
		struct vmem_trace_input *s = in->src;

		if (s->pos == s->end) {
			long k = vmem_trace_input_fill(s);

			if (k < 0) {
				memcpy(in->err, s->err, sizeof(in->err));
				return k;
			}
			if (k == 0)
				return 0;
		}
		*p = s->buf + s->pos;
		return (long)(s->end - s->pos);
	}
	if (in->raw_pos == in->raw_end) {
		long k;

		if (in->raw_eof)
			return 0;
		k = fd_read(in, in->raw, VMEM_TRACE_RAWBUF);
		if (k < 0)
			return k;
		if (k == 0) {
			in->raw_eof = true;
			return 0;
		}
		in->raw_pos = 0;
		in->raw_end = (size_t)k;
	}
	*p = in->raw + in->raw_pos;
	return (long)(in->raw_end - in->raw_pos);
}

static void raw_take(struct vmem_trace_input *in, size_t n)
{
	if (in->src)
		in->src->pos += n;
	else
		in->raw_pos += n;
}

static int codec_init(struct vmem_trace_input *in)
{
	switch (in->codec) {
	case VMEM_TRACE_CODEC_NONE:
		return 0;
	case VMEM_TRACE_CODEC_GZIP: {
		z_stream *z = calloc(1, sizeof(*z));

		if (!z)
			return in_fail(in, VMEM_ENOMEM, "out of memory");
		/* 15 + 16: 32 KiB window, gzip wrapper only. */
		if (inflateInit2(z, 15 + 16) != Z_OK) {
			free(z);
			return in_fail(in, VMEM_ENOMEM, "cannot start gzip decoder");
		}
		in->codec_state = z;
		return 0;
	}
	case VMEM_TRACE_CODEC_XZ: {
		lzma_stream *x = malloc(sizeof(*x));

		if (!x)
			return in_fail(in, VMEM_ENOMEM, "out of memory");
		*x = (lzma_stream)LZMA_STREAM_INIT;
		if (lzma_stream_decoder(x, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
			free(x);
			return in_fail(in, VMEM_ENOMEM, "cannot start xz decoder");
		}
		in->codec_state = x;
		return 0;
	}
	case VMEM_TRACE_CODEC_ZSTD: {
		ZSTD_DStream *z = ZSTD_createDStream();

		if (!z)
			return in_fail(in, VMEM_ENOMEM, "cannot start zstd decoder");
		ZSTD_initDStream(z);
		in->codec_state = z;
		return 0;
	}
	}
	return in_fail(in, VMEM_EINVAL, "unknown compression");
}

static void codec_fini(struct vmem_trace_input *in)
{
	if (!in->codec_state)
		return;
	switch (in->codec) {
	case VMEM_TRACE_CODEC_GZIP:
		inflateEnd(in->codec_state);
		free(in->codec_state);
		break;
	case VMEM_TRACE_CODEC_XZ:
		lzma_end(in->codec_state);
		free(in->codec_state);
		break;
	case VMEM_TRACE_CODEC_ZSTD:
		ZSTD_freeDStream(in->codec_state);
		break;
	case VMEM_TRACE_CODEC_NONE:
		break;
	}
	in->codec_state = NULL;
}

/* Each decoder appends to buf[end..cap) until it is full or the stream ends. */
static int decode_gzip(struct vmem_trace_input *in)
{
	z_stream *z = in->codec_state;

	while (in->end < in->cap) {
		const unsigned char *p = NULL;
		long k = raw_get(in, &p);
		size_t out_before = in->end;
		int zr;

		if (k < 0)
			return (int)k;
		if (k == 0 && !in->frame_open) {
			in->eof = true;
			return 0;
		}
		/* Zero bytes after a member are padding (tape blocks), as gzip -d reads them. */
		if (!in->frame_open && (in->padding || p[0] == 0)) {
			size_t zeros = 0;

			while (zeros < (size_t)k && p[zeros] == 0)
				zeros++;
			raw_take(in, zeros);
			in->padding = true;
			if (zeros < (size_t)k)
				return codec_fail(in, VMEM_EIO, "gzip: data after the trailing zero "
						  "padding");
			continue;
		}
		in->frame_open = true;
		z->next_in = (Bytef *)p;
		z->avail_in = (uInt)k;
		z->next_out = in->buf + in->end;
		z->avail_out = (uInt)(in->cap - in->end);
		zr = inflate(z, Z_NO_FLUSH);
		raw_take(in, (size_t)k - z->avail_in);
		in->end = in->cap - z->avail_out;
		if (zr == Z_STREAM_END) {
			/* Another member may follow (gzip -c a b > ab.gz). */
			inflateReset(z);
			in->frame_open = false;
		} else if (zr == Z_BUF_ERROR || zr == Z_OK) {
			if (k == 0 && in->end == out_before)
				return codec_fail(in, VMEM_EIO, "truncated gzip stream");
		} else {
			return codec_fail(in, VMEM_EIO, "gzip: %s",
					  z->msg ? z->msg : "corrupt data");
		}
	}
	return 0;
}

static int decode_xz(struct vmem_trace_input *in)
{
	lzma_stream *x = in->codec_state;

	while (in->end < in->cap) {
		const unsigned char *p = NULL;
		long k = raw_get(in, &p);
		lzma_ret lr;

		if (k < 0)
			return (int)k;
		x->next_in = p;
		x->avail_in = (size_t)k;
		x->next_out = in->buf + in->end;
		x->avail_out = in->cap - in->end;
		lr = lzma_code(x, k == 0 ? LZMA_FINISH : LZMA_RUN);
		raw_take(in, (size_t)k - x->avail_in);
		in->end = in->cap - x->avail_out;
		switch (lr) {
		case LZMA_OK:
			break;
		case LZMA_STREAM_END:
			in->eof = true;
			return 0;
		case LZMA_BUF_ERROR:
			return codec_fail(in, VMEM_EIO, "truncated xz stream");
		case LZMA_MEM_ERROR:
			return codec_fail(in, VMEM_ENOMEM, "xz: out of memory");
		case LZMA_FORMAT_ERROR:
			return codec_fail(in, VMEM_EIO, "xz: not an xz stream");
		case LZMA_OPTIONS_ERROR:
			return codec_fail(in, VMEM_EIO, "xz: unsupported options");
		case LZMA_DATA_ERROR:
			return codec_fail(in, VMEM_EIO, "xz: compressed data is corrupt");
		default:
			return codec_fail(in, VMEM_EIO, "xz: corrupt data (error %d)", (int)lr);
		}
	}
	return 0;
}

#define ZSTD_CHUNK 4096u

static int decode_zstd(struct vmem_trace_input *in)
{
	ZSTD_DStream *z = in->codec_state;

	while (in->end < in->cap) {
		const unsigned char *p = NULL;
		long k = raw_get(in, &p);
		ZSTD_inBuffer ib;
		ZSTD_outBuffer ob = { in->buf, in->cap, in->end };
		size_t zr;

		if (k < 0)
			return (int)k;
		if (k == 0 && !in->frame_open) {
			in->eof = true;
			return 0;
		}
		/*
		 * A few KiB at a time: libzstd reports an error without saying how much input
		 * it took, so the chunk bounds the offset an error message names.
		 */
		ib.src = p;
		ib.size = (size_t)k < ZSTD_CHUNK ? (size_t)k : ZSTD_CHUNK;
		ib.pos = 0;
		zr = ZSTD_decompressStream(z, &ob, &ib);
		if (ZSTD_isError(zr)) {
			raw_take(in, ib.size);
			return codec_fail(in, VMEM_EIO, "zstd: %s", ZSTD_getErrorName(zr));
		}
		raw_take(in, ib.pos);
		if (k == 0 && ob.pos == in->end && zr != 0)
			return codec_fail(in, VMEM_EIO, "truncated zstd stream");
		in->end = ob.pos;
		/* 0: a frame ended and everything is flushed; more frames may follow. */
		in->frame_open = zr != 0;
	}
	return 0;
}

static int fill_plain(struct vmem_trace_input *in)
{
	long k = fd_read(in, in->buf + in->end, in->cap - in->end);

	if (k < 0)
		return (int)k;
	if (k == 0)
		in->eof = true;
	in->end += (size_t)k;
	return 0;
}

long vmem_trace_input_fill(struct vmem_trace_input *in)
{
	size_t before;

	if (in->pos > 0) {
		memmove(in->buf, in->buf + in->pos, in->end - in->pos);
		in->base += in->pos;
		in->end -= in->pos;
		in->pos = 0;
	}
	if (in->failed)
		return in->failed;
	if (in->eof)
		return 0;
	if (in->end >= in->cap)
		return in_fail(in, VMEM_EINVAL, "input window full");
	before = in->end;
	while (in->end == before && !in->eof) {
		int rc;

		switch (in->codec) {
		case VMEM_TRACE_CODEC_GZIP: rc = decode_gzip(in); break;
		case VMEM_TRACE_CODEC_XZ: rc = decode_xz(in); break;
		case VMEM_TRACE_CODEC_ZSTD: rc = decode_zstd(in); break;
		default: rc = fill_plain(in); break;
		}
		if (rc < 0) {
			in->failed = rc;
			if (in->end == before)
				return rc;
		}
	}
	return (long)(in->end - before);
}

int vmem_trace_input_verify(struct vmem_trace_input *in)
{
	uint64_t decoded = 0;

	if (in->codec == VMEM_TRACE_CODEC_NONE)
		return 0;
	while (decoded < VMEM_TRACE_VERIFY) {
		long k;

		in->pos = in->end;   /* discard */
		k = vmem_trace_input_fill(in);
		if (k < 0)
			return (int)k;
		if (k == 0)
			return 0;
		decoded += (uint64_t)k;
		/* A gzip member or zstd frame ended with its checksum checked. */
		if (!in->frame_open && in->codec != VMEM_TRACE_CODEC_XZ)
			return 0;
	}
	return 0;
}

long vmem_trace_input_want(struct vmem_trace_input *in, size_t n)
{
	if (n > in->cap)
		n = in->cap;
	while (in->end - in->pos < n && !in->eof) {
		long k = vmem_trace_input_fill(in);

		if (k < 0)
			return k;
		if (in->failed)
			break;
	}
	return (long)(in->end - in->pos);
}

static int window_alloc(struct vmem_trace_input *in)
{
	in->cap = VMEM_TRACE_BUF;
	in->buf = malloc(VMEM_TRACE_BUF + VMEM_TRACE_SLACK);
	if (!in->buf)
		return in_fail(in, VMEM_ENOMEM, "out of memory");
	return 0;
}

int vmem_trace_input_open(struct vmem_trace_input *in, const char *path, const char *name)
{
	int rc;

	memset(in, 0, sizeof(*in));
	in->fd = -1;
	in->name = name;
	if (strcmp(path, "-") == 0) {
		in->fd = STDIN_FILENO;
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0)
			return in_fail(in, VMEM_EIO, "cannot open: %s", strerror(errno));
		in->close_fd = true;
		posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	rc = window_alloc(in);
	if (rc < 0)
		return rc;
	in->raw = malloc(VMEM_TRACE_RAWBUF);
	if (!in->raw)
		return in_fail(in, VMEM_ENOMEM, "out of memory");

	/* Read enough to see the longest magic (xz, 6 bytes) unless the file is shorter. */
	while (in->raw_end < 6 && !in->raw_eof) {
		long k = fd_read(in, in->raw + in->raw_end, VMEM_TRACE_RAWBUF - in->raw_end);

		if (k < 0)
			return (int)k;
		if (k == 0)
			in->raw_eof = true;
		in->raw_end += (size_t)k;
	}
	in->codec = vmem_trace_codec_sniff(in->raw, in->raw_end);
	if (in->codec == VMEM_TRACE_CODEC_NONE) {
		/* Plain input is read straight into the window from now on. */
		memcpy(in->buf, in->raw, in->raw_end);
		in->end = in->raw_end;
		in->eof = in->raw_eof;
		free(in->raw);
		in->raw = NULL;
		in->raw_pos = in->raw_end = 0;
		return 0;
	}
	return codec_init(in);
}

int vmem_trace_input_open_sub(struct vmem_trace_input *in, struct vmem_trace_input *src,
			      enum vmem_trace_codec codec, uint64_t base, const char *name)
{
	int rc;

	memset(in, 0, sizeof(*in));
	in->fd = -1;
	in->name = name;
	in->src = src;
	in->codec = codec;
	in->base = base;
	if (codec == VMEM_TRACE_CODEC_NONE)
		return in_fail(in, VMEM_EINVAL, "a nested input needs a codec");
	rc = window_alloc(in);
	if (rc < 0)
		return rc;
	return codec_init(in);
}

void vmem_trace_input_close(struct vmem_trace_input *in)
{
	codec_fini(in);
	free(in->buf);
	free(in->raw);
	in->buf = NULL;
	in->raw = NULL;
	if (in->close_fd && in->fd >= 0)
		close(in->fd);
	in->fd = -1;
	in->close_fd = false;
}
