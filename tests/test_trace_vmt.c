/*
 * .vmt format (traces/FORMAT.md): writer -> reader round trips with every record type,
 * plain and zstd; header bytes; every class of bad header and bad record, each reported
 * with its byte offset (the same in plain and zstd files); skip_bad; the writer's
 * checks; outer compression; streaming of multi-megabyte traces in small batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "trace_testlib.h"
#include "vmem/trace.h"

/* ---- helpers ------------------------------------------------------------------------ */

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	unsigned char *buf;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

static const unsigned char magic[8] = { 0x89, 'V', 'M', 'T', '\r', '\n', 0x1a, '\n' };

static void header(unsigned char *p, uint16_t version, uint16_t flags, uint32_t hsize)
{
	memset(p, 0, 32);
	memcpy(p, magic, 8);
	ttl_put16(p + 8, version);
	ttl_put16(p + 10, flags);
	ttl_put32(p + 12, hsize);
}

/* A raw record as FORMAT.md lays it out; returns its size (16, or 24 with a length). */
static size_t raw_rec(unsigned char *p, uint8_t op, uint8_t arg, uint16_t vm, uint32_t asid,
		      uint64_t addr, bool long_rec, uint64_t len)
{
	p[0] = op;
	p[1] = arg;
	ttl_put16(p + 2, vm);
	ttl_put32(p + 4, asid);
	ttl_put64(p + 8, addr);
	if (!long_rec)
		return 16;
	ttl_put64(p + 16, len);
	return 24;
}

/* A .vmt file of the given version from a raw record stream; zstd-compresses it when
 * zstd is set. */
static char *make_vmt_version(const unsigned char *recs, size_t len, bool zstd,
			      uint16_t version)
{
	size_t cap = 32 + ZSTD_compressBound(len);
	unsigned char *buf = malloc(cap);
	size_t n = 32;
	char *path;

	assert_non_null(buf);
	header(buf, version, zstd ? 1 : 0, 32);
	if (zstd) {
		size_t z = ZSTD_compress(buf + 32, cap - 32, recs, len, 3);

		assert_false(ZSTD_isError(z));
		n += z;
	} else {
		memcpy(buf + 32, recs, len);
		n += len;
	}
	path = ttl_write_temp(".vmt", buf, n);
	free(buf);
	return path;
}

/* A version-1 file, as the first libvmem wrote them. */
static char *make_vmt(const unsigned char *recs, size_t len, bool zstd)
{
	return make_vmt_version(recs, len, zstd, 1);
}

static bool long_type(unsigned t)
{
	return t == VMEM_REC_UNMAP || t == VMEM_REC_PROTECT || t == VMEM_REC_CONTENT ||
	       t == VMEM_REC_FREE;
}

static struct vmem_trace_reader *open_opts(const char *path, bool skip_bad)
{
	struct vmem_trace_reader_opts o;

	vmem_trace_reader_opts_default(&o);
	o.skip_bad = skip_bad;
	o.vm = 5;      /* never used: .vmt records carry their own ids */
	o.asid = 6;
	return ttl_open(path, &o);
}

static void assert_same(const struct vmem_trace_rec *a, const struct vmem_trace_rec *b,
			size_t i)
{
	if (a->type != b->type || a->acc != b->acc || a->prot != b->prot ||
	    a->size != b->size || a->vm != b->vm || a->asid != b->asid ||
	    a->addr != b->addr || a->len != b->len)
		fail_msg("record %zu: got type %u acc %u prot %u size %u vm %u asid %u addr "
			 "0x%llx len 0x%llx; want type %u acc %u prot %u size %u vm %u asid %u "
			 "addr 0x%llx len 0x%llx", i, a->type, a->acc, a->prot, a->size, a->vm,
			 a->asid, (unsigned long long)a->addr, (unsigned long long)a->len,
			 b->type, b->acc, b->prot, b->size, b->vm, b->asid,
			 (unsigned long long)b->addr, (unsigned long long)b->len);
}

/* Every record type and access kind, extreme field values included. */
static const struct vmem_trace_rec all_types[] = {
	{ .type = VMEM_REC_SWITCH_VM, .vm = 1 },
	{ .type = VMEM_REC_SWITCH_AS, .vm = 1, .asid = 42 },
	{ .type = VMEM_REC_ACCESS, .acc = VMEM_ACC_IFETCH, .size = 4, .vm = 1, .asid = 42,
	  .addr = 0x401000 },
	{ .type = VMEM_REC_ACCESS, .acc = VMEM_ACC_LOAD, .size = 8, .vm = 1, .asid = 42,
	  .addr = 0x7ffffffff000 },
	{ .type = VMEM_REC_ACCESS, .acc = VMEM_ACC_STORE, .size = 255, .vm = 65535,
	  .asid = 0xffffffffu, .addr = 0x00ffffffffffffffull },
	{ .type = VMEM_REC_ACCESS, .acc = VMEM_ACC_MODIFY, .size = 1, .vm = 0, .asid = 0,
	  .addr = 0xff00000000000000ull },
	{ .type = VMEM_REC_UNMAP, .vm = 1, .asid = 42, .addr = 0x600000, .len = 0x200000 },
	{ .type = VMEM_REC_PROTECT, .prot = VMEM_PROT_READ | VMEM_PROT_USER, .vm = 1,
	  .asid = 42, .addr = 0x601000, .len = 4096 },
	{ .type = VMEM_REC_PROTECT, .prot = 0, .vm = 2, .asid = 3, .addr = 0x1000,
	  .len = UINT64_MAX },
	{ .type = VMEM_REC_ACCESS, .acc = VMEM_ACC_LOAD, .size = 2, .vm = 2, .asid = 3,
	  .addr = 0 },
	{ .type = VMEM_REC_CONTENT, .prot = VMEM_CONTENT_ZERO, .size = 0, .vm = 7, .asid = 8,
	  .addr = 0x7f0000001000, .len = 0xc44b4d7a17b3f1b4ull },
	{ .type = VMEM_REC_CONTENT, .prot = 0, .size = 15, .vm = 65535, .asid = 0xffffffffu,
	  .addr = 0xfffffffffffff000ull, .len = 0 },
	{ .type = VMEM_REC_CONTENT, .prot = 0, .size = 7, .vm = 0, .asid = 0, .addr = 0,
	  .len = UINT64_MAX },
	{ .type = VMEM_REC_FREE, .vm = 7, .asid = 8, .addr = 0x7f0000001000, .len = 0x3000 },
	{ .type = VMEM_REC_FREE, .vm = 1, .asid = 1, .addr = 0x1234, .len = 1 },
	{ .type = VMEM_REC_ACCESS, .acc = VMEM_ACC_STORE, .size = 8, .vm = 7, .asid = 8,
	  .addr = 0x7f0000001008 },
};

#define NALL (sizeof(all_types) / sizeof(all_types[0]))

static char *write_with(const struct vmem_trace_rec *v, size_t n, bool zstd)
{
	char *path = ttl_temp_path(".vmt");
	struct vmem_trace_writer_opts o;
	struct vmem_trace_writer *w = NULL;

	vmem_trace_writer_opts_default(&o);
	o.zstd = zstd;
	assert_int_equal(vmem_trace_writer_open(path, &o, &w), 0);
	assert_int_equal(vmem_trace_write(w, v, n), 0);
	assert_int_equal(vmem_trace_writer_close(w), 0);
	return path;
}

/*
 * vmem_trace_record_position names each record of every batch by its offset in the
 * logical file: a 32-byte header, then 16-byte records (24 for UNMAP and PROTECT).
 */
static void check_positions(const char *path, size_t max)
{
	struct vmem_trace_reader *r = open_opts(path, false);
	struct vmem_trace_rec v[NALL + 1];
	uint64_t off = 32;
	size_t seen = 0;
	long n;

	while ((n = vmem_trace_read(r, v, max)) > 0) {
		for (long i = 0; i < n; i++, seen++) {
			char pos[512], want[512];
			uint8_t t = all_types[seen].type;

			assert_int_equal(vmem_trace_record_position(r, (size_t)i, pos, sizeof(pos)), 0);
			snprintf(want, sizeof(want), "%s: offset %llu", path, (unsigned long long)off);
			assert_string_equal(pos, want);
			off += long_type(t) ? 24 : 16;
		}
	}
	assert_int_equal(n, 0);
	assert_int_equal(seen, NALL);
	vmem_trace_close(r);
}

static void round_trip(bool zstd)
{
	char *path = write_with(all_types, NALL, zstd);

	for (size_t max = 1; max <= NALL + 1; max++) {
		struct vmem_trace_reader *r = open_opts(path, false);
		struct vmem_trace_counts c;
		struct vmem_trace_rec *v;
		long last;
		size_t n = ttl_read_all(r, max, &v, &last);

		assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_VMT);
		assert_int_equal(last, 0);
		assert_int_equal(n, NALL);
		for (size_t i = 0; i < n; i++)
			assert_same(&v[i], &all_types[i], i);
		check_positions(path, max);
		vmem_trace_counts(r, &c);
		assert_int_equal(c.records, NALL);
		assert_int_equal(c.skipped_bad, 0);
		free(v);
		vmem_trace_close(r);
	}
	ttl_drop(path);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_vmt_round_trip_all_types_plain_exact(void **state)
{
	(void)state;
	round_trip(false);
}

static void test_vmt_round_trip_all_types_zstd_exact(void **state)
{
	(void)state;
	round_trip(true);
}

static void test_vmt_writer_bytes_match_spec(void **state)
{
	/* Expected bytes derived by hand from traces/FORMAT.md. */
	static const unsigned char want[32 + 16 + 24 + 24 + 24] = {
		0x89, 'V', 'M', 'T', '\r', '\n', 0x1a, '\n',   /* magic */
		2, 0, 0, 0, 32, 0, 0, 0,                         /* version 2, flags 0, 32 */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* reserved */
		0x10, 8, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12,     /* store, size 8, vm, asid */
		0x00, 0x10, 0x40, 0, 0, 0, 0, 0,                 /* addr 0x401000 */
		0x04, 0x07, 1, 0, 2, 0, 0, 0,                    /* protect rwx, vm 1, asid 2 */
		0x00, 0x20, 0, 0, 0, 0, 0, 0,                    /* addr 0x2000 */
		0x00, 0x30, 0, 0, 0, 0, 0, 0,                    /* len 0x3000 */
		0xb5, 0x01, 3, 0, 4, 0, 0, 0,                    /* content class 11, zero flag */
		0x00, 0x50, 0x34, 0x12, 0, 0, 0, 0,              /* addr 0x12345000 */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  /* hash 0x0102030405060708 */
		0x06, 0x00, 3, 0, 4, 0, 0, 0,                    /* free, vm 3, asid 4 */
		0x00, 0x50, 0x34, 0x12, 0, 0, 0, 0,              /* addr 0x12345000 */
		0x00, 0x20, 0, 0, 0, 0, 0, 0,                    /* len 0x2000 */
	};
	const struct vmem_trace_rec v[4] = {
		{ .type = VMEM_REC_ACCESS, .acc = VMEM_ACC_STORE, .size = 8, .vm = 0x1234,
		  .asid = 0x12345678, .addr = 0x401000 },
		{ .type = VMEM_REC_PROTECT, .prot = 7, .vm = 1, .asid = 2, .addr = 0x2000,
		  .len = 0x3000, .size = 99, .acc = 3 },  /* size, acc: unused, not stored */
		{ .type = VMEM_REC_CONTENT, .size = 11, .prot = VMEM_CONTENT_ZERO, .vm = 3,
		  .asid = 4, .addr = 0x12345000, .len = 0x0102030405060708ull, .acc = 2 },
		{ .type = VMEM_REC_FREE, .vm = 3, .asid = 4, .addr = 0x12345000, .len = 0x2000,
		  .prot = 5, .size = 6 },                 /* prot, size: unused, not stored */
	};
	char *path = write_with(v, 4, false);
	size_t len;
	unsigned char *got = slurp(path, &len);

	(void)state;
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	free(got);
	ttl_drop(path);

	path = write_with(v, 0, true);
	got = slurp(path, &len);
	assert_true(len >= 32);
	assert_int_equal(got[10], 1);     /* flags: zstd */
	assert_int_equal(got[32], 0x28);  /* a zstd frame follows the header */
	free(got);
	ttl_drop(path);
}

struct bad_header {
	uint16_t version, flags;
	uint32_t hsize;
	int reserved_at;      /* a non-zero reserved byte there, or -1 */
	size_t cut;           /* file length, or 0 for the whole header */
	unsigned off;
	const char *expect;
};

static const struct bad_header bad_headers[] = {
	{ 3, 0, 32, -1, 0, 8, "expected version 1 or 2, got unsupported version 3" },
	{ 0, 0, 32, -1, 0, 8, "unsupported version 0" },
	{ 1, 2, 32, -1, 0, 10, "unknown flags 0x2" },
	{ 1, 0x8001, 32, -1, 0, 10, "unknown flags 0x8001" },
	{ 1, 0, 40, -1, 0, 12, "expected header size 32, got 40" },
	{ 1, 0, 32, 16, 0, 16, "reserved header bytes" },
	{ 1, 0, 32, 31, 0, 31, "reserved header bytes" },
	{ 1, 0, 32, -1, 20, 20, "expected a 32-byte header, got 20 bytes" },
};

static void test_vmt_bad_header_fails_with_field_offset(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
		const struct bad_header *b = &bad_headers[i];
		unsigned char buf[48];
		char *path;
		struct vmem_trace_reader *r = NULL;
		char want[256];
		int rc;

		header(buf, b->version, b->flags, b->hsize);
		if (b->reserved_at >= 0)
			buf[b->reserved_at] = 1;
		raw_rec(buf + 32, 0, 8, 0, 0, 0x1000, false, 0);
		path = ttl_write_temp(".vmt", buf, b->cut ? b->cut : sizeof(buf));
		rc = vmem_trace_open(path, NULL, &r);
		assert_int_equal(rc, VMEM_EFORMAT);
		snprintf(want, sizeof(want), "%s: offset %u: ", path, b->off);
		if (strncmp(vmem_trace_error(r), want, strlen(want)) != 0 ||
		    !strstr(vmem_trace_error(r), b->expect))
			fail_msg("case %zu: \"%s\", want \"%s\" and \"%s\"", i,
				 vmem_trace_error(r), want, b->expect);
		vmem_trace_close(r);
		ttl_drop(path);
	}
}

static void test_vmt_wrong_magic_fails_at_offset_zero(void **state)
{
	static const char text[] = "I  0400d7d4,8\n L 04ffe4fc,8\n S 04ffe4fc,8\n";
	char *path = ttl_write_temp(".vmt", text, strlen(text));
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r = NULL;
	char want[256];

	(void)state;
	vmem_trace_reader_opts_default(&o);
	o.format = VMEM_TRACE_VMT;
	assert_int_equal(vmem_trace_open(path, &o, &r), VMEM_EFORMAT);
	snprintf(want, sizeof(want), "%s: offset 0: expected the .vmt magic", path);
	assert_true(strncmp(vmem_trace_error(r), want, strlen(want)) == 0);
	vmem_trace_close(r);
	ttl_drop(path);
}

struct bad_rec {
	uint8_t op, arg;
	uint64_t addr;
	bool long_rec;
	uint64_t len;
	size_t cut;          /* bytes of the bad record present (a truncated file), 0 = all */
	bool fatal;          /* fails even with skip_bad */
	const char *expect;
};

static const struct bad_rec bad_recs[] = {
	{ 0x05, 0, 0x1000, true, 7, 0, true, "expected a record type 0..4 in a version 1 file, "
	  "got type 5 (CONTENT records exist from version 2 on)" },
	{ 0x06, 0, 0x1000, true, 7, 0, true, "got type 6 (FREE records" },
	{ 0x07, 0, 0x1000, false, 0, 0, true, "expected a record type 0..4, got unknown type 7" },
	{ 0x0f, 0, 0x1000, false, 0, 0, true, "unknown type 15" },
	{ 0x40, 8, 0x1000, false, 0, 0, false, "expected access kind 0..3, got 4" },
	{ 0xf0, 8, 0x1000, false, 0, 0, false, "expected access kind 0..3, got 15" },
	{ 0x00, 0, 0x1000, false, 0, 0, false, "expected access size 1..255, got 0" },
	{ 0x00, 8, 0x0100000000000000ull, false, 0, 0, false, "canonical 57-bit address" },
	{ 0x01, 0, 0x8000000000000000ull, false, 0, 0, false, "0x8000000000000000" },
	{ 0x11, 0, 0x1000, false, 0, 0, false, "bits 4-7 of byte 0" },
	{ 0x02, 3, 0, false, 0, 0, false, "expected byte 1 to be 0" },
	{ 0x03, 1, 0x1000, true, 4096, 0, false, "expected byte 1 to be 0" },
	{ 0x04, 0x10, 0x1000, true, 4096, 0, false, "expected protection bits" },
	{ 0x03, 0, 0x1000, true, 0, 0, false, "expected a non-zero length" },
	{ 0x04, 1, 0x1000, true, 0, 0, false, "expected a non-zero length" },
	{ 0x00, 8, 0x1000, false, 0, 15, false, "expected a 16-byte record, got 15 bytes" },
	{ 0x00, 8, 0x1000, false, 0, 1, false, "expected a 16-byte record, got 1 bytes" },
	{ 0x03, 0, 0x1000, true, 4096, 20, false, "expected a 24-byte record, got 20 bytes" },
	{ 0x04, 1, 0x1000, true, 4096, 16, false, "expected a 24-byte record, got 16 bytes" },
};

/* Stream: good ACCESS at 32, good UNMAP at 48, the bad record at 72, a good one after. */
static size_t bad_stream(unsigned char *buf, const struct bad_rec *b, bool *has_tail)
{
	size_t n = 0, m;

	n += raw_rec(buf + n, 0x20, 4, 1, 2, 0x401000, false, 0);
	n += raw_rec(buf + n, 0x03, 0, 1, 2, 0x600000, true, 8192);
	m = raw_rec(buf + n, b->op, b->arg, 1, 2, b->addr, b->long_rec, b->len);
	if (b->cut) {
		*has_tail = false;
		return n + b->cut;
	}
	n += m;
	n += raw_rec(buf + n, 0x10, 8, 1, 2, 0x7ff000, false, 0);
	*has_tail = true;
	return n;
}

static void check_good_prefix(const struct vmem_trace_rec *v)
{
	assert_int_equal(v[0].type, VMEM_REC_ACCESS);
	assert_int_equal(v[0].acc, VMEM_ACC_IFETCH);
	assert_int_equal(v[0].addr, 0x401000);
	assert_int_equal(v[1].type, VMEM_REC_UNMAP);
	assert_int_equal(v[1].len, 8192);
}

/* Version 2: the records of version 1 and CONTENT and FREE. */
static const struct bad_rec bad_recs_v2[] = {
	{ 0x07, 0, 0x1000, false, 0, 0, true, "expected a record type 0..6, got unknown type 7" },
	{ 0x0f, 0, 0x1000, false, 0, 0, true, "expected a record type 0..6, got unknown type 15" },
	{ 0x05, 2, 0x1000, true, 7, 0, false, "expected content flags 0x0..0x1, got 0x02" },
	{ 0x05, 0x81, 0x1000, true, 7, 0, false, "expected content flags 0x0..0x1, got 0x81" },
	{ 0xf5, 0, 0x1800, true, 7, 0, false, "expected a 4 KiB-aligned page address in a "
	  "content record, got 0x1800" },
	{ 0x05, 0, 0x0100000000000000ull, true, 7, 0, false, "canonical 57-bit address" },
	{ 0x05, 1, 0x1000, true, 7, 20, false, "expected a 24-byte record, got 20 bytes" },
	{ 0x06, 0, 0x1000, true, 0, 0, false, "expected a non-zero length" },
	{ 0x06, 1, 0x1000, true, 4096, 0, false, "expected byte 1 to be 0 in a type 6 record" },
	{ 0x16, 0, 0x1000, true, 4096, 0, false, "bits 4-7 of byte 0" },
	{ 0x06, 0, 0x1000, true, 4096, 16, false, "expected a 24-byte record, got 16 bytes" },
	{ 0x04, 0x10, 0x1000, true, 4096, 0, false, "expected protection bits" },
	{ 0x00, 0, 0x1000, false, 0, 0, false, "expected access size 1..255, got 0" },
};

static void check_bad_records(const struct bad_rec *tab, size_t ntab, uint16_t version)
{
	for (int z = 0; z < 2; z++) {
		for (size_t i = 0; i < ntab; i++) {
			const struct bad_rec *b = &tab[i];
			unsigned char buf[128];
			bool tail;
			size_t len = bad_stream(buf, b, &tail);
			char *path = make_vmt_version(buf, len, z, version);
			struct vmem_trace_reader *r = open_opts(path, false);
			struct vmem_trace_rec *v;
			char want[256];
			long last;
			size_t n = ttl_read_all(r, 3, &v, &last);

			assert_int_equal(n, 2);
			check_good_prefix(v);
			assert_int_equal(last, VMEM_EFORMAT);
			snprintf(want, sizeof(want), "%s: offset 72: ", path);
			if (strncmp(vmem_trace_error(r), want, strlen(want)) != 0 ||
			    !strstr(vmem_trace_error(r), b->expect))
				fail_msg("zstd %d case %zu: \"%s\", want \"%s\" and \"%s\"", z, i,
					 vmem_trace_error(r), want, b->expect);
			free(v);
			vmem_trace_close(r);
			ttl_drop(path);
		}
	}
}

static void test_vmt_bad_records_fail_with_offset_plain_and_zstd(void **state)
{
	(void)state;
	check_bad_records(bad_recs, sizeof(bad_recs) / sizeof(bad_recs[0]), 1);
}

static void test_vmt2_bad_records_fail_with_offset_plain_and_zstd(void **state)
{
	(void)state;
	check_bad_records(bad_recs_v2, sizeof(bad_recs_v2) / sizeof(bad_recs_v2[0]), 2);
}

static void check_skip_bad(const struct bad_rec *tab, size_t ntab, uint16_t version)
{
	for (size_t i = 0; i < ntab; i++) {
		const struct bad_rec *b = &tab[i];
		unsigned char buf[128];
		bool tail;
		size_t len = bad_stream(buf, b, &tail);
		char *path = make_vmt_version(buf, len, false, version);
		struct vmem_trace_reader *r = open_opts(path, true);
		struct vmem_trace_counts c;
		struct vmem_trace_rec *v;
		long last;
		size_t n = ttl_read_all(r, 16, &v, &last);

		vmem_trace_counts(r, &c);
		if (b->fatal) {
			assert_int_equal(n, 2);
			assert_int_equal(last, VMEM_EFORMAT);
			assert_non_null(strstr(vmem_trace_error(r), "offset 72: "));
			assert_int_equal(c.skipped_bad, 0);
		} else {
			assert_int_equal(last, 0);
			assert_int_equal(n, tail ? 3 : 2);
			check_good_prefix(v);
			if (tail)
				assert_int_equal(v[2].addr, 0x7ff000);
			assert_int_equal(c.skipped_bad, 1);
		}
		free(v);
		vmem_trace_close(r);
		ttl_drop(path);
	}
}

static void test_vmt_skip_bad_skips_known_size_records_unknown_type_fatal(void **state)
{
	(void)state;
	check_skip_bad(bad_recs, sizeof(bad_recs) / sizeof(bad_recs[0]), 1);
	check_skip_bad(bad_recs_v2, sizeof(bad_recs_v2) / sizeof(bad_recs_v2[0]), 2);
}

/* A version-1 file (as libvmem wrote them before CONTENT and FREE) still reads. */
static void test_vmt_version1_file_still_reads(void **state)
{
	unsigned char buf[128];
	size_t n = 0;
	char *path;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec *v;
	long last;

	(void)state;
	n += raw_rec(buf + n, 0x20, 4, 1, 2, 0x401000, false, 0);
	n += raw_rec(buf + n, 0x03, 0, 1, 2, 0x600000, true, 8192);
	n += raw_rec(buf + n, 0x04, 3, 1, 2, 0x600000, true, 4096);
	n += raw_rec(buf + n, 0x01, 0, 1, 3, 0, false, 0);
	path = make_vmt(buf, n, true);
	r = open_opts(path, false);
	assert_int_equal(ttl_read_all(r, 16, &v, &last), 4);
	assert_int_equal(last, 0);
	check_good_prefix(v);
	assert_int_equal(v[2].type, VMEM_REC_PROTECT);
	assert_int_equal(v[2].prot, 3);
	assert_int_equal(v[3].type, VMEM_REC_SWITCH_AS);
	assert_int_equal(v[3].asid, 3);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

/* The class helpers, values worked out by hand from the definition in vmem/trace.h. */
static void test_content_class_helpers(void **state)
{
	static const unsigned bytes_class[][2] = {
		{ 0, 0 }, { 1, 0 }, { 17, 0 }, { 256, 0 }, { 257, 1 }, { 512, 1 }, { 513, 2 },
		{ 1024, 3 }, { 1025, 4 }, { 2048, 7 }, { 2049, 8 }, { 3840, 14 }, { 3841, 15 },
		{ 4096, 15 }, { 4097, 15 }, { 4113, 15 }, { 100000, 15 },
	};
	static const unsigned class_bytes[][2] = {
		{ 0, 256 }, { 1, 512 }, { 3, 1024 }, { 7, 2048 }, { 14, 3840 }, { 15, 4096 },
		{ 16, 4096 }, { 255, 4096 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bytes_class) / sizeof(bytes_class[0]); i++) {
		if (vmem_content_class(bytes_class[i][0]) != bytes_class[i][1])
			fail_msg("vmem_content_class(%u) = %u, want %u", bytes_class[i][0],
				 vmem_content_class(bytes_class[i][0]), bytes_class[i][1]);
	}
	for (size_t i = 0; i < sizeof(class_bytes) / sizeof(class_bytes[0]); i++)
		assert_int_equal(vmem_content_class_bytes(class_bytes[i][0]), class_bytes[i][1]);
	/* Every class holds the sizes up to its bound and none above the one before. */
	for (unsigned c = 0; c < VMEM_CONTENT_CLASSES; c++) {
		assert_int_equal(vmem_content_class(vmem_content_class_bytes(c)), c);
		if (c)
			assert_int_equal(vmem_content_class(vmem_content_class_bytes(c - 1) + 1), c);
	}
}

static void test_vmt_truncated_zstd_stream_fails_with_io_error(void **state)
{
	struct vmem_trace_rec *recs = malloc(50000 * sizeof(*recs));
	char *path;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec v[512];
	size_t got = 0;
	long k;

	(void)state;
	assert_non_null(recs);
	for (size_t i = 0; i < 50000; i++)
		recs[i] = (struct vmem_trace_rec){ .type = VMEM_REC_ACCESS, .size = 8,
			.addr = (i * 0x9e3779b97f4a7c15ull) >> 20 };
	path = write_with(recs, 50000, true);
	assert_int_equal(truncate(path, 100000), 0);
	r = open_opts(path, false);
	while ((k = vmem_trace_read(r, v, 512)) > 0) {
		for (long j = 0; j < k; j++, got++)
			assert_int_equal(v[j].addr, recs[got].addr);
	}
	assert_int_equal(k, VMEM_EIO);
	assert_true(got < 50000);
	assert_non_null(strstr(vmem_trace_error(r), "truncated zstd stream"));
	vmem_trace_close(r);
	ttl_drop(path);
	free(recs);
}

static void test_vmt_writer_rejects_invalid_record_writes_nothing(void **state)
{
	static const struct vmem_trace_rec bad[] = {
		{ .type = 7 },
		{ .type = VMEM_REC_CONTENT, .prot = 2 },
		{ .type = VMEM_REC_CONTENT, .size = 16 },
		{ .type = VMEM_REC_CONTENT, .addr = 0x1008 },
		{ .type = VMEM_REC_FREE, .addr = 0x1000, .len = 0 },
		{ .type = VMEM_REC_ACCESS, .acc = 4, .size = 1 },
		{ .type = VMEM_REC_ACCESS, .acc = 0, .size = 0 },
		{ .type = VMEM_REC_ACCESS, .size = 1, .addr = 0x0100000000000000ull },
		{ .type = VMEM_REC_PROTECT, .prot = 0x10, .len = 1 },
		{ .type = VMEM_REC_UNMAP, .len = 0 },
	};
	char *path = ttl_temp_path(".vmt");
	struct vmem_trace_writer *w = NULL;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec *v;
	long last;
	size_t n;

	(void)state;
	assert_int_equal(vmem_trace_writer_open(path, NULL, &w), 0);
	assert_int_equal(vmem_trace_write(w, all_types, 2), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vmem_trace_rec batch[2] = { all_types[2], bad[i] };

		assert_int_equal(vmem_trace_write(w, batch, 2), VMEM_EINVAL);
		assert_non_null(strstr(vmem_trace_writer_error(w), path));
		assert_non_null(strstr(vmem_trace_writer_error(w), "record 3: "));
	}
	/* The writer is still usable after a rejected batch. */
	assert_int_equal(vmem_trace_write(w, all_types + 2, 1), 0);
	assert_int_equal(vmem_trace_writer_close(w), 0);
	r = open_opts(path, false);
	n = ttl_read_all(r, 16, &v, &last);
	assert_int_equal(last, 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_same(&v[i], &all_types[i], i);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_vmt_writer_bad_path_reports_error(void **state)
{
	struct vmem_trace_writer *w = NULL;

	(void)state;
	assert_int_equal(vmem_trace_writer_open("/nonexistent/dir/x.vmt", NULL, &w), VMEM_EIO);
	assert_non_null(w);
	assert_non_null(strstr(vmem_trace_writer_error(w), "/nonexistent/dir/x.vmt: cannot create"));
	assert_int_equal(vmem_trace_writer_close(w), VMEM_EIO);
}

/* Record i of a long mixed trace; every 7th is a 24-byte UNMAP or PROTECT. */
static struct vmem_trace_rec gen(size_t i)
{
	struct vmem_trace_rec x = { .vm = (uint16_t)(i % 3), .asid = (uint32_t)(i % 5) };

	if (i % 7 == 3) {
		x.type = i % 2 ? VMEM_REC_UNMAP : VMEM_REC_PROTECT;
		x.prot = x.type == VMEM_REC_PROTECT ? (uint8_t)(i % 16) : 0;
		x.addr = (uint64_t)i << 12;
		x.len = 4096 * (i % 9 + 1);
	} else if (i % 1000 == 999) {
		x.type = VMEM_REC_SWITCH_AS;
	} else {
		x.type = VMEM_REC_ACCESS;
		x.acc = (uint8_t)(i % 4);
		x.size = (uint8_t)(i % 255 + 1);
		x.addr = (i * 0x9e3779b97f4a7c15ull) >> 17;
	}
	return x;
}

static void stream_check(bool zstd, size_t count, size_t batch)
{
	struct vmem_trace_writer_opts o;
	struct vmem_trace_writer *w = NULL;
	char *path = ttl_temp_path(".vmt");
	struct vmem_trace_rec chunk[1000];
	struct vmem_trace_rec v[64];
	struct vmem_trace_reader *r;
	struct vmem_trace_counts c;
	char pos[256], want[256];
	uint64_t off = 32, last_off = 0;
	size_t i = 0;
	long k;

	vmem_trace_writer_opts_default(&o);
	o.zstd = zstd;
	assert_int_equal(vmem_trace_writer_open(path, &o, &w), 0);
	for (size_t base = 0; base < count; base += 1000) {
		for (size_t j = 0; j < 1000; j++)
			chunk[j] = gen(base + j);
		assert_int_equal(vmem_trace_write(w, chunk, 1000), 0);
	}
	assert_int_equal(vmem_trace_writer_close(w), 0);

	r = open_opts(path, false);
	while ((k = vmem_trace_read(r, v, batch)) > 0) {
		for (long j = 0; j < k; j++, i++) {
			struct vmem_trace_rec x = gen(i);

			assert_same(&v[j], &x, i);
			last_off = off;
			off += x.type == VMEM_REC_UNMAP || x.type == VMEM_REC_PROTECT ? 24 : 16;
		}
	}
	assert_int_equal(k, 0);
	assert_int_equal(i, count);
	vmem_trace_counts(r, &c);
	assert_int_equal(c.records, count);
	vmem_trace_position(r, pos, sizeof(pos));
	snprintf(want, sizeof(want), "%s: offset %llu", path, (unsigned long long)last_off);
	assert_string_equal(pos, want);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_vmt_multi_megabyte_small_batches_streams_exactly(void **state)
{
	(void)state;
	/* 400000 records: about 6.9 MB of records, several input windows. */
	stream_check(false, 400000, 5);
	stream_check(true, 400000, 64);
}

static void test_vmt_outer_compression_decodes_identically(void **state)
{
	char *path = write_with(all_types, NALL, false);
	char *zpath = write_with(all_types, NALL, true);
	size_t len, zlen;
	unsigned char *plain = slurp(path, &len);
	unsigned char *inner = slurp(zpath, &zlen);
	char *outer[2];

	(void)state;
	/* .vmt inside gzip, and a zstd-flagged .vmt inside xz. */
	outer[0] = ttl_write_gz(".vmt.gz", plain, len);
	outer[1] = ttl_write_xz(".vmt.xz", inner, zlen, 1, LZMA_CHECK_CRC32);
	for (int i = 0; i < 2; i++) {
		struct vmem_trace_reader *r = open_opts(outer[i], false);
		struct vmem_trace_rec *v;
		long last;
		size_t n = ttl_read_all(r, 3, &v, &last);

		assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_VMT);
		assert_int_equal(last, 0);
		assert_int_equal(n, NALL);
		for (size_t j = 0; j < n; j++)
			assert_same(&v[j], &all_types[j], j);
		free(v);
		vmem_trace_close(r);
		ttl_drop(outer[i]);
	}
	free(plain);
	free(inner);
	ttl_drop(path);
	ttl_drop(zpath);
}

static void test_vmt_empty_trace_reads_no_records(void **state)
{
	char *path = write_with(NULL, 0, false);
	char *zpath = write_with(NULL, 0, true);
	struct vmem_trace_rec v[4];

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct vmem_trace_reader *r = open_opts(i ? zpath : path, false);

		assert_int_equal(vmem_trace_read(r, v, 4), 0);
		vmem_trace_close(r);
	}
	ttl_drop(path);
	ttl_drop(zpath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmt_round_trip_all_types_plain_exact),
		cmocka_unit_test(test_vmt_round_trip_all_types_zstd_exact),
		cmocka_unit_test(test_vmt_writer_bytes_match_spec),
		cmocka_unit_test(test_vmt_bad_header_fails_with_field_offset),
		cmocka_unit_test(test_vmt_wrong_magic_fails_at_offset_zero),
		cmocka_unit_test(test_vmt_bad_records_fail_with_offset_plain_and_zstd),
		cmocka_unit_test(test_vmt2_bad_records_fail_with_offset_plain_and_zstd),
		cmocka_unit_test(test_vmt_skip_bad_skips_known_size_records_unknown_type_fatal),
		cmocka_unit_test(test_vmt_version1_file_still_reads),
		cmocka_unit_test(test_content_class_helpers),
		cmocka_unit_test(test_vmt_truncated_zstd_stream_fails_with_io_error),
		cmocka_unit_test(test_vmt_writer_rejects_invalid_record_writes_nothing),
		cmocka_unit_test(test_vmt_writer_bad_path_reports_error),
		cmocka_unit_test(test_vmt_multi_megabyte_small_batches_streams_exactly),
		cmocka_unit_test(test_vmt_outer_compression_decodes_identically),
		cmocka_unit_test(test_vmt_empty_trace_reads_no_records),
	};

	ttl_temp_tag("vmt");
	return cmocka_run_group_tests_name("trace_vmt", tests, NULL, NULL);
}
