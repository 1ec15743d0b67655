/*
 * Internals shared by the trace readers and the .vmt writer (not installed).
 *
 * Layering:
 *
 *   file or stdin --read()--> [outer codec: none, gzip, xz or zstd, by magic bytes]
 *                 --> window of decoded bytes (struct vmem_trace_input)
 *                 --> [.vmt only: inner zstd record stream, a second input that pulls
 *                      its compressed bytes from the first input's window]
 *                 --> format decoder (trace_lackey.c, trace_champsim.c, trace_vmt.c)
 *                 --> caller's batch of struct vmem_trace_rec
 *
 * A window is one fixed buffer of VMEM_TRACE_BUF bytes. Decoders parse straight out of
 * it (buf[pos..end)) and call vmem_trace_input_fill() when they need more: that moves the
 * unparsed tail to the front and appends newly decoded bytes. Nothing ever grows with
 * the length of the trace.
 *
 * Positions: in->base is the offset, in the decoded stream, of buf[0]; so the offset of
 * buf[i] is base + i. For the inner .vmt stream the base starts at the header size, which
 * makes offsets count bytes of the logical (fully decompressed) file in both cases.
 *
 * Format decoders return how many records they stored; when they meet an error they
 * store the good prefix, set r->pending and r->err, and return the prefix length. The
 * dispatcher (trace_reader.c) returns the pending error on the following call and on
 * every call after it.
 */
#ifndef VMEM_TRACE_INTERNAL_H
#define VMEM_TRACE_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "vmem/trace.h"

/* Size of a decoded-bytes window, and of the compressed-bytes buffer in front of it. */
#define VMEM_TRACE_BUF     (1u << 20)
#define VMEM_TRACE_RAWBUF  (256u << 10)
/* Spare bytes after a window's capacity (the Lackey reader appends a final '\n'). */
#define VMEM_TRACE_SLACK   16u
#define VMEM_TRACE_ERRLEN  512

/* Virtual-address width every trace address must be canonical for. */
#define VMEM_TRACE_VA_BITS 57

enum vmem_trace_codec {
	VMEM_TRACE_CODEC_NONE = 0,
	VMEM_TRACE_CODEC_GZIP,
	VMEM_TRACE_CODEC_XZ,
	VMEM_TRACE_CODEC_ZSTD,
};

struct vmem_trace_input {
	const char *name;                /* for messages; owned by the reader */
	int fd;                          /* -1 when reading from src */
	bool close_fd;                   /* false for stdin */
	struct vmem_trace_input *src;    /* compressed bytes come from src's window */
	enum vmem_trace_codec codec;

	unsigned char *buf;              /* decoded window: VMEM_TRACE_BUF + slack bytes */
	size_t pos, end, cap;            /* unparsed bytes are buf[pos..end); cap is the limit */
	uint64_t base;                   /* decoded-stream offset of buf[0] */
	bool eof;                        /* no decoded byte will follow buf[end-1] */

	unsigned char *raw;              /* compressed bytes read from fd */
	size_t raw_pos, raw_end;
	bool raw_eof;                    /* the source has no more bytes */
	uint64_t raw_bytes;              /* bytes read from fd so far */

	void *codec_state;               /* z_stream, lzma_stream or ZSTD_DStream */
	bool frame_open;                 /* a compressed frame/member has started, not ended */
	bool padding;                    /* gzip: in the zero bytes after the last member */
	int failed;                      /* sticky error, reported after the bytes before it */

	char err[VMEM_TRACE_ERRLEN];     /* "NAME: what went wrong" after a failure */
};

/*
 * Opens path ("-" is standard input) and detects the outer compression from the first
 * bytes. name is used in messages and must outlive in. Returns 0, or a negative code with
 * in->err set; vmem_trace_input_close() is safe after either.
 */
int vmem_trace_input_open(struct vmem_trace_input *in, const char *path, const char *name);

/*
 * Sets up in to decode codec from the unparsed bytes of src's window onwards (used for
 * the zstd record stream of a .vmt file). The decoded stream starts at offset base.
 */
int vmem_trace_input_open_sub(struct vmem_trace_input *in, struct vmem_trace_input *src,
			      enum vmem_trace_codec codec, uint64_t base, const char *name);

/*
 * Moves buf[pos..end) to the front and appends decoded bytes. Returns how many bytes were
 * added (> 0), 0 at end of input (in->eof is then set), or a negative code with in->err.
 * Bytes decoded before a read or decompression error are returned first; the error comes
 * from the next call, and from every call after it.
 */
long vmem_trace_input_fill(struct vmem_trace_input *in);

/*
 * After a format error in decompressed bytes: the bytes may be garbage that a checksum
 * further on would have caught. Decodes on, discarding, to the end of the current gzip
 * member or zstd frame (xz: the stream), or VMEM_TRACE_VERIFY bytes at most; returns the
 * input's error (in->err set) if the compressed stream turns out corrupt, else 0.
 * The window's contents are lost: call it only when nothing more will be parsed.
 */
#define VMEM_TRACE_VERIFY (64u << 20)
int vmem_trace_input_verify(struct vmem_trace_input *in);

/* Fills until at least n unparsed bytes are there or input ends; returns end - pos or < 0. */
long vmem_trace_input_want(struct vmem_trace_input *in, size_t n);

void vmem_trace_input_close(struct vmem_trace_input *in);

/* Outer compression guessed from the first bytes of a file ("none" when n is too short). */
enum vmem_trace_codec vmem_trace_codec_sniff(const unsigned char *p, size_t n);

/* One ChampSim instruction yields at most this many records. */
#define VMEM_TRACE_CHAMPSIM_MAXREC 7

struct vmem_trace_reader {
	struct vmem_trace_reader_opts opts;
	enum vmem_trace_format format;
	char *name;                      /* path for messages ("<stdin>" for "-") */
	struct vmem_trace_input in;      /* the file after outer decompression */
	struct vmem_trace_input inner;   /* .vmt zstd record stream */
	bool inner_open;
	struct vmem_trace_input *data;   /* the window records are decoded from */

	int pending;                     /* sticky error returned by the next read */
	struct vmem_trace_counts counts;
	uint64_t last_pos;               /* line or offset of the last record returned */
	bool have_pos;
	/* Line or offset of each record of the last batch returned: decoders store pos[n]
	 * with recs[n], so an error found later by the caller is located without reading
	 * the input again (which a pipe or FIFO cannot). pos_cap >= the batch's max. */
	uint64_t *pos;
	size_t pos_cap, pos_n;

	/* Lackey: number of the line at data->buf[pos], and one past the last '\n'. */
	uint64_t line;
	size_t lim;

	/* .vmt: the header's version (1 or 2). */
	unsigned vmt_version;

	/* ChampSim: records of one instruction that did not fit in the caller's batch. */
	struct vmem_trace_rec cs_pend[VMEM_TRACE_CHAMPSIM_MAXREC];
	unsigned cs_pend_i, cs_pend_n;
	uint64_t cs_pend_off;

	char err[VMEM_TRACE_ERRLEN];
};

/* Error helpers: format the message with the reader's name and return code. */
int vmem_trace_fail(struct vmem_trace_reader *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vmem_trace_fail_line(struct vmem_trace_reader *r, uint64_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vmem_trace_fail_off(struct vmem_trace_reader *r, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Copies an input's failure message into the reader; returns code. */
int vmem_trace_fail_input(struct vmem_trace_reader *r, const struct vmem_trace_input *in,
			  int code);

/* Per-format hooks called by trace_reader.c. */
bool vmem_trace_lackey_sniff(const unsigned char *p, size_t n);
long vmem_trace_lackey_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs,
			    size_t max);
long vmem_trace_champsim_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs,
			      size_t max);
bool vmem_trace_vmt_sniff(const unsigned char *p, size_t n);
/* True if the first bytes look like ChampSim records (see trace_champsim.c). */
bool vmem_trace_champsim_sniff(const unsigned char *p, size_t n);
int vmem_trace_vmt_start(struct vmem_trace_reader *r);
long vmem_trace_vmt_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs,
			 size_t max);

/* Little-endian field access; compiles to plain loads on x86-64. */
static inline uint16_t vmem_le16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap16(v);
#endif
	return v;
}

static inline uint32_t vmem_le32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline uint64_t vmem_le64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void vmem_put_le16(unsigned char *p, uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap16(v);
#endif
	memcpy(p, &v, sizeof(v));
}

static inline void vmem_put_le32(unsigned char *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, sizeof(v));
}

static inline void vmem_put_le64(unsigned char *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof(v));
}

#endif
