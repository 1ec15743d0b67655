/*
 * Every trace reader through the public API (vmem_trace_open / read / positions /
 * counts / close), on arbitrary bytes.
 *
 * Byte 0 chooses: bits 0-1 the format given (auto, lackey, champsim, vmt), bit 2
 * skip_bad, bits 3-4 whether the rest is first compressed with gzip, xz or zstd (so that
 * arbitrary decoded bytes reach every decoder through a valid stream; the rest may also
 * be a compressed stream itself, corrupt or not), bits 5-7 the batch size.
 *
 * Checked: every record returned is one a reader may return (known type and access kind,
 * size 1..255, canonical 57-bit address, non-zero length where it has one), every record
 * has a position, an error has a one-line message naming the input, and what was read
 * survives a round trip through the .vmt writer and reader unchanged, and its accesses one
 * through Lackey text (vmem_trace_lackey_line) and the Lackey reader. The last 24 bytes
 * are also one record of arbitrary fields for the writer, which must refuse it exactly
 * when a reader would (and give it back otherwise); once per run, outputs that cannot be
 * written and inputs that cannot be read must fail with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "fuzz.h"
#include "vmem/trace.h"

#define MAX_KEEP 65536   /* records kept for the round trip */

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_trace: %s\n", what);
		abort();
	}
}

/* data compressed with codec 1 gzip, 2 xz, 3 zstd into a new buffer; NULL if it fails. */
static unsigned char *pack(unsigned codec, const uint8_t *data, size_t size, size_t *out)
{
	size_t cap = size + size / 2 + 1024;
	unsigned char *buf = malloc(cap);

	if (!buf)
		return NULL;
	if (codec == 1) {
		z_stream z = { 0 };

		if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto fail;
		z.next_in = (Bytef *)data;
		z.avail_in = (uInt)size;
		z.next_out = buf;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
			deflateEnd(&z);
			goto fail;
		}
		*out = z.total_out;
		deflateEnd(&z);
	} else if (codec == 2) {
		*out = 0;
		if (lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, data, size, buf, out, cap) !=
		    LZMA_OK)
			goto fail;
	} else {
		*out = ZSTD_compress(buf, cap, data, size, 1);
		if (ZSTD_isError(*out))
			goto fail;
	}
	return buf;
fail:
	free(buf);
	return NULL;
}

static void check_rec(const struct vmem_trace_rec *x)
{
	check(x->type < VMEM_REC_TYPES, "record type out of range");
	check(vmem_addr_canonical(x->addr, 57), "non-canonical address");
	if (x->type == VMEM_REC_ACCESS) {
		check(x->acc <= VMEM_ACC_MODIFY, "access kind out of range");
		check(x->size != 0, "access of size 0");
	}
	if (x->type == VMEM_REC_UNMAP || x->type == VMEM_REC_PROTECT)
		check(x->len != 0, "range of length 0");
}

static bool same(const struct vmem_trace_rec *a, const struct vmem_trace_rec *b)
{
	return a->type == b->type && a->acc == b->acc && a->prot == b->prot &&
	       a->size == b->size && a->vm == b->vm && a->asid == b->asid &&
	       a->addr == b->addr && a->len == b->len;
}

/* Writes recs as .vmt (zstd or not) and reads them back: they must come back equal. */
static void round_trip(const struct vmem_trace_rec *recs, size_t n, bool zstd)
{
	struct vmem_trace_writer_opts wo;
	struct vmem_trace_writer *w = NULL;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec *back = malloc((n + 1) * sizeof(*back));
	char path[64];
	int fd = fuzz_memfile(NULL, 0, path, sizeof(path));
	size_t got = 0;
	long k;

	check(back != NULL, "out of memory");
	vmem_trace_writer_opts_default(&wo);
	wo.zstd = zstd;
	check(vmem_trace_writer_open(path, &wo, &w) == 0, "writer open");
	check(vmem_trace_write(w, recs, n) == 0, vmem_trace_writer_error(w));
	check(vmem_trace_writer_close(w) == 0, "writer close");
	check(vmem_trace_open(path, NULL, &r) == 0, "reopen");
	while ((k = vmem_trace_read(r, back + got, n + 1 - got)) > 0)
		got += (size_t)k;
	check(k == 0, vmem_trace_error(r));
	check(got == n, "round trip: record count");
	for (size_t i = 0; i < n; i++)
		check(same(&recs[i], &back[i]), "round trip: record");
	vmem_trace_close(r);
	free(back);
	close(fd);
}

/*
 * Writes the accesses of recs as Lackey text (vmem_trace_lackey_line) and reads them back
 * as Lackey: the same accesses must come back, in order (Lackey carries no other record).
 */
static void lackey_round_trip(const struct vmem_trace_rec *recs, size_t n)
{
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec back[64];
	char *text = malloc(n * VMEM_LACKEY_LINE_MAX + 1), path[64];
	size_t len = 0, next = 0;
	int fd;
	long k;

	check(text != NULL, "out of memory");
	for (size_t i = 0; i < n; i++)
		len += vmem_trace_lackey_line(&recs[i], text + len);
	if (len == 0) {
		free(text);
		return;
	}
	fd = fuzz_memfile((const uint8_t *)text, len, path, sizeof(path));
	vmem_trace_reader_opts_default(&o);
	o.format = VMEM_TRACE_LACKEY;
	check(vmem_trace_open(path, &o, &r) == 0, "Lackey reopen");
	while ((k = vmem_trace_read(r, back, sizeof(back) / sizeof(back[0]))) > 0) {
		for (long i = 0; i < k; i++) {
			while (next < n && recs[next].type != VMEM_REC_ACCESS)
				next++;
			check(next < n, "Lackey round trip: more records");
			check(back[i].acc == recs[next].acc && back[i].addr == recs[next].addr &&
			      back[i].size == recs[next].size, "Lackey round trip: record");
			next++;
		}
	}
	check(k == 0, vmem_trace_error(r));
	while (next < n && recs[next].type != VMEM_REC_ACCESS)
		next++;
	check(next == n, "Lackey round trip: fewer records");
	vmem_trace_close(r);
	free(text);
	close(fd);
}

/* A writer's error: names the output, one line. */
static void check_writer_msg(struct vmem_trace_writer *w, const char *name)
{
	const char *e = vmem_trace_writer_error(w);

	check(strncmp(e, name, strlen(name)) == 0 && e[strlen(name)] == ':',
	      "writer error without the output's name");
	check(strchr(e, '\n') == NULL, "writer error of more than one line");
}

/* Once: outputs that cannot be written, bad levels, NULL arguments. */
static void writer_errors(void)
{
	struct vmem_trace_writer_opts wo;
	struct vmem_trace_writer *w = NULL;
	struct vmem_trace_rec rec = { .type = VMEM_REC_ACCESS, .size = 8, .addr = 0x1000 };

	vmem_trace_writer_opts_default(&wo);
	check(vmem_trace_writer_open("/nonexistent/t.vmt", &wo, &w) < 0, "created in no folder");
	check_writer_msg(w, "/nonexistent/t.vmt");
	vmem_trace_writer_close(w);
	wo.zstd = true;
	wo.zstd_level = 20;
	check(vmem_trace_writer_open("/dev/null", &wo, &w) < 0, "zstd level 20 accepted");
	check_writer_msg(w, "/dev/null");
	vmem_trace_writer_close(w);
	/* A full disk shows at the latest when the writer is closed. */
	for (int zstd = 0; zstd < 2; zstd++) {
		int rc;

		wo.zstd = zstd;
		wo.zstd_level = 1;
		rc = vmem_trace_writer_open("/dev/full", &wo, &w);
		for (int i = 0; i < 4096 && rc == 0; i++)
			rc = vmem_trace_write(w, &rec, 1);
		if (rc == 0)
			rc = vmem_trace_writer_close(w);
		else
			vmem_trace_writer_close(w);
		check(rc < 0, "writing /dev/full succeeded");
	}
	check(vmem_trace_writer_open(NULL, NULL, &w) < 0, "writer of no path");
	check(vmem_trace_writer_open("/dev/null", NULL, NULL) < 0, "writer to no handle");
	check(vmem_trace_write(NULL, &rec, 1) < 0, "write to no writer");
	check(vmem_trace_writer_close(NULL) < 0, "close of no writer");
	check(vmem_trace_writer_error(NULL)[0] != '\0', "no writer without a message");
}

/*
 * One record of arbitrary fields (the last 24 bytes of the input) through the writer: it
 * must be refused with a message exactly when a reader would refuse it, else read back
 * as the reader gives it.
 */
static void writer_record(const uint8_t *b)
{
	struct vmem_trace_rec x = {
		.type = b[0] % 8, .acc = b[1] % 8, .size = b[2], .prot = b[3],
		.vm = (uint16_t)(b[4] | b[5] << 8), .asid = (uint32_t)(b[6] | b[7] << 8),
	}, want, got;
	struct vmem_trace_writer *w = NULL;
	struct vmem_trace_reader *r = NULL;
	bool valid;
	char path[64];
	int fd = fuzz_memfile(NULL, 0, path, sizeof(path)), rc;

	for (int i = 7; i >= 0; i--) {
		x.addr = x.addr << 8 | b[8 + i];
		x.len = x.len << 8 | b[16 + i];
	}
	if (b[0] & 0x80)   /* mostly canonical: sign-extended from bit 56 */
		x.addr = (uint64_t)((int64_t)(x.addr << 7) >> 7);
	if (b[0] & 0x40)
		x.len &= 0xffff;
	valid = x.type < VMEM_REC_TYPES && vmem_addr_canonical(x.addr, 57) &&
		(x.type != VMEM_REC_ACCESS || (x.acc <= VMEM_ACC_MODIFY && x.size != 0)) &&
		(x.type != VMEM_REC_PROTECT || (x.prot & ~0xfu) == 0) &&
		(x.type != VMEM_REC_CONTENT || ((x.prot & ~VMEM_CONTENT_ZERO) == 0 &&
						x.size <= 15 && (x.addr & 0xfff) == 0)) &&
		((x.type != VMEM_REC_UNMAP && x.type != VMEM_REC_PROTECT &&
		  x.type != VMEM_REC_FREE) || x.len != 0);
	check(vmem_trace_writer_open(path, NULL, &w) == 0, "writer open");
	rc = vmem_trace_write(w, &x, 1);
	check((rc == 0) == valid, valid ? "writer refused a valid record" :
	      "writer took an invalid record");
	if (rc < 0) {
		check_writer_msg(w, path);
		check(strstr(vmem_trace_writer_error(w), "record 0: ") != NULL,
		      "writer error without the record");
		vmem_trace_writer_close(w);
		close(fd);
		return;
	}
	check(vmem_trace_writer_close(w) == 0, "writer close");
	want = (struct vmem_trace_rec){
		.type = x.type, .vm = x.vm, .asid = x.asid, .addr = x.addr,
		.acc = x.type == VMEM_REC_ACCESS ? x.acc : 0,
		.size = x.type == VMEM_REC_ACCESS || x.type == VMEM_REC_CONTENT ? x.size : 0,
		.prot = x.type == VMEM_REC_PROTECT || x.type == VMEM_REC_CONTENT ? x.prot : 0,
		.len = x.type == VMEM_REC_ACCESS || x.type == VMEM_REC_SWITCH_AS ||
		       x.type == VMEM_REC_SWITCH_VM ? 0 : x.len,
	};
	check(vmem_trace_open(path, NULL, &r) == 0, "reopen");
	check(vmem_trace_read(r, &got, 1) == 1 && same(&got, &want), "record written != read");
	check(vmem_trace_read(r, &got, 1) == 0, "more than the record written");
	vmem_trace_close(r);
	close(fd);
}

/* Once: paths that cannot be read fail at open or at the first read, with a message. */
static void unreadable_paths(void)
{
	static const char *const paths[] = { "/nonexistent/trace.lackey", "/" };

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct vmem_trace_reader *r = NULL;
		struct vmem_trace_rec rec;

		if (vmem_trace_open(paths[i], NULL, &r) == 0)
			check(vmem_trace_read(r, &rec, 1) < 0, "a folder read as a trace");
		check(r == NULL || strncmp(vmem_trace_error(r), paths[i], strlen(paths[i])) == 0,
		      "error without the path");
		vmem_trace_close(r);
	}
}

/* Once: the reader's API used wrongly answers EINVAL or a message, never crashes. */
static void reader_misuse(void)
{
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec rec;
	enum vmem_trace_format f;
	char buf[256], path[64];
	int fd = fuzz_memfile((const uint8_t *)" L 00001000,8\n", 14, path, sizeof(path));

	check(vmem_trace_open(NULL, NULL, &r) < 0 && r == NULL, "open of no path");
	check(vmem_trace_open(path, NULL, NULL) < 0, "open into no handle");
	check(vmem_trace_read(NULL, &rec, 1) < 0, "read of no reader");
	check(strcmp(vmem_trace_error(NULL), "no reader") == 0, "error of no reader");
	vmem_trace_close(NULL);
	check(vmem_trace_format_parse(NULL, &f) < 0 && vmem_trace_format_parse("text", &f) < 0,
	      "format parse");
	check(strcmp(vmem_trace_format_name((enum vmem_trace_format)99), "?") == 0, "format name");
	vmem_trace_reader_opts_default(&o);
	o.format = (enum vmem_trace_format)9;
	check(vmem_trace_open(path, &o, &r) < 0, "format 9 opened");
	check(vmem_trace_read(r, &rec, 1) < 0, "format 9 read");
	vmem_trace_close(r);
	check(vmem_trace_open(path, NULL, &r) == 0, "open");
	vmem_trace_position(r, buf, sizeof(buf));
	check(strcmp(buf, path) == 0, "position before the first read");
	check(vmem_trace_read(r, &rec, 0) < 0, "read of 0 records");
	check(vmem_trace_read(r, &rec, 1) == 1, "read");
	check(vmem_trace_record_position(r, 1, buf, sizeof(buf)) < 0 && strcmp(buf, path) == 0,
	      "position of a record not in the batch");
	check(vmem_trace_record_position(r, 0, NULL, 0) < 0, "position into no buffer");
	vmem_trace_close(r);
	close(fd);
}

/* Once: a name that says ChampSim (compressed or not) is read as ChampSim. */
static void champsim_by_name(void)
{
	static const char *const suffixes[] = { ".champsim.gz", ".champsimtrace" };
	unsigned char rec[64] = { 0 };

	rec[1] = 0x10;   /* ip 0x1000, no memory operands */
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char path[64];
		struct vmem_trace_reader *r = NULL;
		struct vmem_trace_rec x;
		size_t len = sizeof(rec);
		unsigned char *packed = i == 0 ? pack(1, rec, sizeof(rec), &len) : rec;
		int fd;

		snprintf(path, sizeof(path), "/tmp/fuzz-trace.XXXXXX%s", suffixes[i]);
		fd = mkstemps(path, (int)strlen(suffixes[i]));
		check(fd >= 0 && packed && write(fd, packed, len) == (ssize_t)len, "temporary file");
		check(vmem_trace_open(path, NULL, &r) == 0, "open");
		check(vmem_trace_reader_format(r) == VMEM_TRACE_CHAMPSIM, "not read as ChampSim");
		check(vmem_trace_read(r, &x, 1) == 1 && x.addr == 0x1000, "ChampSim record");
		vmem_trace_close(r);
		unlink(path);
		close(fd);
		if (packed != rec)
			free(packed);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t batches[8] = { 1, 2, 3, 7, 64, 100, 4096, 65536 };
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_counts c;
	struct vmem_trace_rec *recs, *keep;
	unsigned char *packed = NULL;
	size_t batch, nkeep = 0;
	char path[64], pos[600];
	int fd;
	long n;

	static bool once;

	if (!once) {
		once = true;
		unreadable_paths();
		reader_misuse();
		champsim_by_name();
		writer_errors();
	}
	if (size < 1)
		return 0;
	if (size >= 25)
		writer_record(data + size - 24);
	vmem_trace_reader_opts_default(&o);
	o.format = (enum vmem_trace_format)(data[0] & 3);
	o.skip_bad = data[0] & 4;
	o.vm = 3;
	o.asid = 77;
	batch = batches[data[0] >> 5];
	if ((data[0] >> 3) & 3) {
		size_t len;

		packed = pack((data[0] >> 3) & 3, data + 1, size - 1, &len);
		if (!packed)
			return 0;
		fd = fuzz_memfile(packed, len, path, sizeof(path));
	} else {
		fd = fuzz_memfile(data + 1, size - 1, path, sizeof(path));
	}
	recs = malloc(batch * sizeof(*recs));
	keep = malloc(MAX_KEEP * sizeof(*keep));
	check(recs && keep, "out of memory");
	if (vmem_trace_open(path, &o, &r) == 0) {
		enum vmem_trace_format f = vmem_trace_reader_format(r), g;

		check(f != VMEM_TRACE_AUTO, "format not resolved");
		check(vmem_trace_format_parse(vmem_trace_format_name(f), &g) == 0 && g == f,
		      "format name does not parse back");
		while ((n = vmem_trace_read(r, recs, batch)) > 0) {
			uint64_t offs[8];
			size_t m = vmem_trace_batch_positions(r, offs, 8);

			check(m == ((size_t)n < 8 ? (size_t)n : 8), "batch positions");
			for (size_t i = 0; i < m; i++) {
				vmem_trace_format_position(r, offs[i], pos, sizeof(pos));
				check(strncmp(pos, path, strlen(path)) == 0, "position without name");
			}
			check((size_t)n <= batch, "more records than asked for");
			for (long i = 0; i < n; i++) {
				check_rec(&recs[i]);
				check(vmem_trace_record_position(r, (size_t)i, pos, sizeof(pos)) == 0,
				      "record without a position");
				check(strncmp(pos, path, strlen(path)) == 0, "position without name");
				if (nkeep < MAX_KEEP)
					keep[nkeep++] = recs[i];
			}
			vmem_trace_position(r, pos, sizeof(pos));
		}
		vmem_trace_counts(r, &c);
		if (n < 0) {
			const char *e = vmem_trace_error(r);

			check(strncmp(e, path, strlen(path)) == 0, "error without the input's name");
			check(strchr(e, '\n') == NULL, "error of more than one line");
			check(vmem_trace_read(r, recs, batch) == n, "error not sticky");
		} else if (nkeep > 0) {
			round_trip(keep, nkeep, data[0] & 0x80);
			lackey_round_trip(keep, nkeep);
		}
	} else {
		check(r == NULL || vmem_trace_error(r)[0] != '\0', "open failed without a message");
	}
	vmem_trace_close(r);
	free(keep);
	free(recs);
	free(packed);
	close(fd);
	return 0;
}
