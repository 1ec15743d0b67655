/*
 * Lackey trace reader: exact records, skipped lines, every class of malformed line with
 * its line number, skip_bad, compressed input, stdin, streaming, format detection.
 * Inputs are written to temporary files (mkstemps) and removed afterwards.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "trace_testlib.h"
#include "vmem/trace.h"

/* ---- helpers ------------------------------------------------------------------------ */

static const char good_text[] =
	"==4242== Lackey, an example Valgrind tool\n"
	"==4242== Command: ./a.out\n"
	"\n"
	"I  0400d7d4,8\n"
	" L 04ffe4fc,8\n"
	" S 7ff000100,4\n"
	" M 0000000000001000,2\n"
	"I  0400D7DC,3\r\n"
	" L ff80000000001000,16\n"
	" S 0,255\n"
	"==4242== \n";

static void check_good(const struct vmem_trace_rec *v, size_t n, uint16_t vm, uint32_t asid)
{
	assert_int_equal(n, 7);
	ttl_assert_rec(&v[0], VMEM_ACC_IFETCH, 0x0400d7d4, 8, vm, asid);
	ttl_assert_rec(&v[1], VMEM_ACC_LOAD, 0x04ffe4fc, 8, vm, asid);
	ttl_assert_rec(&v[2], VMEM_ACC_STORE, 0x7ff000100, 4, vm, asid);
	ttl_assert_rec(&v[3], VMEM_ACC_MODIFY, 0x1000, 2, vm, asid);
	ttl_assert_rec(&v[4], VMEM_ACC_IFETCH, 0x0400d7dc, 3, vm, asid);
	ttl_assert_rec(&v[5], VMEM_ACC_LOAD, 0xff80000000001000ull, 16, vm, asid);
	ttl_assert_rec(&v[6], VMEM_ACC_STORE, 0, 255, vm, asid);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_lackey_good_input_exact_records(void **state)
{
	char *path = ttl_write_temp(".txt", good_text, strlen(good_text));
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	struct vmem_trace_counts c;
	struct vmem_trace_rec *v;
	size_t n;

	(void)state;
	assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_LACKEY);
	n = ttl_read_all(r, 4096, &v, NULL);
	check_good(v, n, 0, 0);
	vmem_trace_counts(r, &c);
	assert_int_equal(c.records, 7);
	/* 3 banners + 1 blank line. */
	assert_int_equal(c.skipped_other, 4);
	assert_int_equal(c.skipped_bad, 0);
	assert_int_equal(c.bytes, strlen(good_text));
	assert_int_equal(vmem_trace_read(r, v, 16), 0);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_lackey_opts_vm_asid_given_to_records(void **state)
{
	char *path = ttl_write_temp(".txt", good_text, strlen(good_text));
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec *v;
	size_t n;

	(void)state;
	vmem_trace_reader_opts_default(&o);
	o.vm = 3;
	o.asid = 77;
	r = ttl_open(path, &o);
	n = ttl_read_all(r, 2, &v, NULL);
	check_good(v, n, 3, 77);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_lackey_batch_of_one_same_records(void **state)
{
	char *path = ttl_write_temp(".txt", good_text, strlen(good_text));
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	struct vmem_trace_rec *v;
	size_t n;

	(void)state;
	n = ttl_read_all(r, 1, &v, NULL);
	check_good(v, n, 0, 0);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

struct bad_case {
	const char *text;
	unsigned line;
	long good;           /* records before the bad line */
	const char *expect;  /* substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ "I  1000,4\nX 1000,4\n", 2, 1, "expected \"I  \"" },
	{ "I  1000,4\n\tI  1000,4\n", 2, 1, "expected \"I  \"" },
	{ " X 1000,4\n", 1, 0, "expected \"I  \"" },
	{ "I 1000,4\n", 1, 0, "expected two spaces after 'I'" },
	{ " L1000,4\n", 1, 0, "expected a space after 'L'" },
	{ " L zz,8\n", 1, 0, "expected hex address after 'L'" },
	{ "I  1,1\n S ,8\n", 2, 1, "expected hex address after 'S'" },
	{ " L 12345678901234567,8\n", 1, 0, "expected at most 16 hex digits" },
	{ " L 00000000000000001,8\n", 1, 0, "expected at most 16 hex digits" },
	{ " S 1000;8\n", 1, 0, "expected ',' after address" },
	{ " M 1000,\n", 1, 0, "expected decimal size after ','" },
	{ " M 1000,x\n", 1, 0, "expected decimal size after ','" },
	{ " L 1000,8x\n", 1, 0, "expected end of line after size" },
	{ " L 1000,8 \n", 1, 0, "expected end of line after size" },
	{ " L 1000,0\n", 1, 0, "expected size 1..255, got 0" },
	{ " L 1000,256\n", 1, 0, "expected size 1..255, got 256" },
	{ " L 1000,99999999999999999999\n", 1, 0, "expected size 1..255" },
	{ "\n\nI  1,1\n L 0100000000000000,8\n", 4, 1, "canonical 57-bit address" },
	{ " L 8000000000000000,8\n", 1, 0, "0x8000000000000000" },
	/* A last line cut inside a field (no newline at end of file). */
	{ "I  0400d7d4,8\n L 04ffe4", 2, 1, "expected ',' after address" },
	{ "I  0400d7d4,8\n L 04ffe4fc,", 2, 1, "expected decimal size after ','" },
	{ "I  0400d7d4,8\n L", 2, 1, "expected a space after 'L'" },
};

static void test_lackey_malformed_lines_fail_with_file_and_line(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		char *path = ttl_write_temp(".lackey", b->text, strlen(b->text));
		struct vmem_trace_reader_opts o;
		struct vmem_trace_reader *r;
		struct vmem_trace_rec v[16];
		char want[128];
		long k;

		vmem_trace_reader_opts_default(&o);
		o.format = VMEM_TRACE_LACKEY;
		r = ttl_open(path, &o);
		k = vmem_trace_read(r, v, 16);
		if (b->good) {
			assert_int_equal(k, b->good);
			k = vmem_trace_read(r, v, 16);
		}
		if (k != VMEM_EFORMAT)
			fail_msg("case %zu: got %ld, want VMEM_EFORMAT", i, k);
		snprintf(want, sizeof(want), "%s:%u: ", path, b->line);
		if (strncmp(vmem_trace_error(r), want, strlen(want)) != 0 ||
		    !strstr(vmem_trace_error(r), b->expect))
			fail_msg("case %zu: message \"%s\", want prefix \"%s\" and \"%s\"", i,
				 vmem_trace_error(r), want, b->expect);
		vmem_trace_close(r);
		ttl_drop(path);
	}
}

static void test_lackey_error_after_good_prefix_returned_next_call_and_sticks(void **state)
{
	static const char text[] = "I  1,1\n L 2,2\n\nbad line\nI  3,3\n";
	char *path = ttl_write_temp(".txt", text, strlen(text));
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	struct vmem_trace_rec v[16];
	char pos[256], want[256];

	(void)state;
	assert_int_equal(vmem_trace_read(r, v, 16), 2);
	vmem_trace_position(r, pos, sizeof(pos));
	snprintf(want, sizeof(want), "%s:2", path);
	assert_string_equal(pos, want);
	assert_int_equal(vmem_trace_read(r, v, 16), VMEM_EFORMAT);
	assert_int_equal(vmem_trace_read(r, v, 16), VMEM_EFORMAT);
	snprintf(want, sizeof(want), "%s:4: ", path);
	assert_true(strncmp(vmem_trace_error(r), want, strlen(want)) == 0);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_lackey_truncated_last_line_that_parses_accepted(void **state)
{
	static const char text[] = "I  0400d7d4,8\n L 04ffe4fc,8";
	char *path = ttl_write_temp(".txt", text, strlen(text));
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	struct vmem_trace_rec *v;
	char pos[256], want[256];
	size_t n;

	(void)state;
	n = ttl_read_all(r, 16, &v, NULL);
	assert_int_equal(n, 2);
	ttl_assert_rec(&v[1], VMEM_ACC_LOAD, 0x04ffe4fc, 8, 0, 0);
	vmem_trace_position(r, pos, sizeof(pos));
	snprintf(want, sizeof(want), "%s:2", path);
	assert_string_equal(pos, want);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_lackey_skip_bad_counts_and_continues(void **state)
{
	static const char text[] =
		"I  1000,4\n"
		"garbage\n"
		" L 1000,0\n"
		" L 0100000000000000,8\n"
		"==1== banner\n"
		" S 2000,8\n"
		" M 3000,4x\n"
		" M 3000,4";
	char *path = ttl_write_temp(".txt", text, strlen(text));
	struct vmem_trace_reader_opts o;
	struct vmem_trace_reader *r;
	struct vmem_trace_counts c;
	struct vmem_trace_rec *v;
	size_t n;

	(void)state;
	vmem_trace_reader_opts_default(&o);
	o.skip_bad = true;
	r = ttl_open(path, &o);
	n = ttl_read_all(r, 16, &v, NULL);
	assert_int_equal(n, 3);
	ttl_assert_rec(&v[0], VMEM_ACC_IFETCH, 0x1000, 4, 0, 0);
	ttl_assert_rec(&v[1], VMEM_ACC_STORE, 0x2000, 8, 0, 0);
	ttl_assert_rec(&v[2], VMEM_ACC_MODIFY, 0x3000, 4, 0, 0);
	vmem_trace_counts(r, &c);
	/* garbage, size 0, non-canonical, trailing 'x'. */
	assert_int_equal(c.skipped_bad, 4);
	assert_int_equal(c.skipped_other, 1);
	assert_int_equal(c.records, 3);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_lackey_empty_file_no_records(void **state)
{
	char *path = ttl_write_temp(".txt", "", 0);
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	struct vmem_trace_rec v[4];
	char pos[256];

	(void)state;
	assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_LACKEY);
	assert_int_equal(vmem_trace_read(r, v, 4), 0);
	vmem_trace_position(r, pos, sizeof(pos));
	assert_string_equal(pos, path);
	vmem_trace_close(r);
	ttl_drop(path);
}

/* Deterministic multi-megabyte Lackey text: line i has kind i % 4 and a varied address. */
static uint64_t gen_addr(size_t i)
{
	return ((uint64_t)i * 0x9e3779b97f4a7c15ull) >> 17;  /* 47 bits */
}

static char *gen_text(size_t lines, size_t *len)
{
	static const char *const pre[4] = { "I  ", " L ", " S ", " M " };
	char *t = malloc(lines * 32 + 64);
	size_t o = 0;

	assert_non_null(t);
	o += (size_t)sprintf(t, "==1== start\n");
	for (size_t i = 0; i < lines; i++)
		o += (size_t)sprintf(t + o, "%s%08llx,%u\n", pre[i % 4],
				     (unsigned long long)gen_addr(i), (unsigned)(i % 255 + 1));
	*len = o;
	return t;
}

static const uint8_t gen_acc[4] = {
	VMEM_ACC_IFETCH, VMEM_ACC_LOAD, VMEM_ACC_STORE, VMEM_ACC_MODIFY
};

static void check_stream(const char *path, size_t lines, size_t batch)
{
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	struct vmem_trace_rec v[64];
	struct vmem_trace_counts c;
	char pos[256], want[256];
	size_t i = 0;
	long k;

	assert_true(batch <= 64);
	while ((k = vmem_trace_read(r, v, batch)) > 0) {
		for (long j = 0; j < k; j++, i++) {
			if (v[j].addr != gen_addr(i) || v[j].acc != gen_acc[i % 4] ||
			    v[j].size != i % 255 + 1)
				fail_msg("%s: record %zu differs", path, i);
		}
	}
	assert_int_equal(k, 0);
	assert_int_equal(i, lines);
	vmem_trace_counts(r, &c);
	assert_int_equal(c.records, lines);
	assert_int_equal(c.skipped_other, 1);
	vmem_trace_position(r, pos, sizeof(pos));
	snprintf(want, sizeof(want), "%s:%zu", path, lines + 1);
	assert_string_equal(pos, want);
	vmem_trace_close(r);
}

static void test_lackey_multi_megabyte_small_batches_streams_exactly(void **state)
{
	size_t lines = 300000, len;  /* about 5.4 MB, more than five input windows */
	char *text = gen_text(lines, &len);
	char *plain = ttl_write_temp(".txt", text, len);
	char *gz = ttl_write_gz(".txt.gz", text, len);

	(void)state;
	assert_true(len > 4u << 20);
	check_stream(plain, lines, 7);
	check_stream(gz, lines, 61);
	ttl_drop(plain);
	ttl_drop(gz);
	free(text);
}

static void test_lackey_compressed_inputs_decode_identically(void **state)
{
	char *paths[4];
	char *two;
	size_t half = strlen(good_text) / 2;

	(void)state;
	while (good_text[half - 1] != '\n')
		half++;
	paths[0] = ttl_write_gz(".gz", good_text, strlen(good_text));
	paths[1] = ttl_write_xz(".xz", good_text, strlen(good_text), 6, LZMA_CHECK_CRC64);
	paths[2] = ttl_write_zst(".zst", good_text, strlen(good_text));
	/* Two gzip members back to back, as `cat a.gz b.gz` makes. */
	{
		char *a = ttl_write_gz(".gz", good_text, half);
		char *b = ttl_write_gz(".gz", good_text + half, strlen(good_text) - half);
		FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
		char buf[4096];
		size_t na, nb;

		assert_non_null(fa);
		assert_non_null(fb);
		na = fread(buf, 1, sizeof(buf) / 2, fa);
		nb = fread(buf + na, 1, sizeof(buf) / 2, fb);
		fclose(fa);
		fclose(fb);
		two = ttl_write_temp(".gz", buf, na + nb);
		ttl_drop(a);
		ttl_drop(b);
	}
	paths[3] = two;
	for (int i = 0; i < 4; i++) {
		struct vmem_trace_reader *r = ttl_open(paths[i], NULL);
		struct vmem_trace_rec *v;
		struct vmem_trace_counts c;
		size_t n = ttl_read_all(r, 3, &v, NULL);

		assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_LACKEY);
		check_good(v, n, 0, 0);
		vmem_trace_counts(r, &c);
		assert_int_equal(c.skipped_other, 4);
		free(v);
		vmem_trace_close(r);
		ttl_drop(paths[i]);
	}
}

static void test_lackey_truncated_gzip_fails_with_io_error(void **state)
{
	size_t lines = 20000, len;
	char *text = gen_text(lines, &len);
	char *gz = ttl_write_gz(".gz", text, len);
	struct vmem_trace_reader *r;
	struct vmem_trace_rec v[256];
	size_t got = 0;
	long k;

	(void)state;
	assert_int_equal(truncate(gz, 2000), 0);
	r = ttl_open(gz, NULL);
	while ((k = vmem_trace_read(r, v, 256)) > 0) {
		/* The complete lines decoded before the cut come first, unchanged. */
		for (long j = 0; j < k; j++, got++)
			assert_int_equal(v[j].addr, gen_addr(got));
	}
	assert_true(got > 0 && got < lines);
	assert_int_equal(k, VMEM_EIO);
	assert_non_null(strstr(vmem_trace_error(r), gz));
	assert_non_null(strstr(vmem_trace_error(r), "truncated gzip"));
	vmem_trace_close(r);
	ttl_drop(gz);
	free(text);
}

static void test_lackey_stdin_dash_reads_standard_input(void **state)
{
	char *path = ttl_write_gz(".gz", good_text, strlen(good_text));
	int saved = dup(STDIN_FILENO);
	int fd = open(path, O_RDONLY);
	struct vmem_trace_reader *r;
	struct vmem_trace_rec *v;
	size_t n;

	(void)state;
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	r = ttl_open("-", NULL);
	n = ttl_read_all(r, 4096, &v, NULL);
	check_good(v, n, 0, 0);
	vmem_trace_close(r);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	free(v);
	ttl_drop(path);
}

static void test_lackey_overlong_line_fails(void **state)
{
	size_t len = (3u << 20) / 2;
	char *text = malloc(len + 1);
	char *path;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec v[4];

	(void)state;
	assert_non_null(text);
	memset(text, '=', len);
	text[len] = '\n';
	path = ttl_write_temp(".txt", text, len + 1);
	r = ttl_open(path, NULL);
	assert_int_equal(vmem_trace_read(r, v, 4), VMEM_EFORMAT);
	assert_non_null(strstr(vmem_trace_error(r), ":1: line longer than"));
	vmem_trace_close(r);
	ttl_drop(path);
	free(text);
}

static void test_detect_unknown_content_fails_with_format_hint(void **state)
{
	static const unsigned char junk[64] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	char *path = ttl_write_temp(".bin", junk, sizeof(junk));
	struct vmem_trace_reader *r = NULL;
	char want[256];

	(void)state;
	assert_int_equal(vmem_trace_open(path, NULL, &r), VMEM_EFORMAT);
	assert_non_null(r);
	snprintf(want, sizeof(want), "%s: cannot detect trace format; use --format", path);
	assert_string_equal(vmem_trace_error(r), want);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_open_missing_file_fails_with_io_error(void **state)
{
	struct vmem_trace_reader *r = NULL;
	struct vmem_trace_rec v[1];

	(void)state;
	assert_int_equal(vmem_trace_open("/nonexistent/x.lackey", NULL, &r), VMEM_EIO);
	assert_non_null(r);
	assert_non_null(strstr(vmem_trace_error(r), "/nonexistent/x.lackey: cannot open"));
	assert_int_equal(vmem_trace_read(r, v, 1), VMEM_EIO);
	vmem_trace_close(r);
}

static void test_format_names_parse_back(void **state)
{
	enum vmem_trace_format f;

	(void)state;
	for (int i = VMEM_TRACE_AUTO; i <= VMEM_TRACE_VMT; i++) {
		assert_int_equal(vmem_trace_format_parse(vmem_trace_format_name(i), &f), 0);
		assert_int_equal(f, i);
	}
	assert_string_equal(vmem_trace_format_name(VMEM_TRACE_LACKEY), "lackey");
	assert_int_equal(vmem_trace_format_parse("LACKEY", &f), 0);
	assert_int_equal(f, VMEM_TRACE_LACKEY);
	assert_int_equal(vmem_trace_format_parse("pin", &f), VMEM_EINVAL);
}

/* Every record of a batch is located by the line it came from, banners and blank lines
 * counted, without reading the input again. */
static void test_record_position_names_each_line_of_the_batch(void **state)
{
	char *path = ttl_write_temp(".txt", good_text, strlen(good_text));
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	static const unsigned lines[7] = { 4, 5, 6, 7, 8, 9, 10 };
	struct vmem_trace_rec v[4];
	char pos[512], want[512];
	size_t seen = 0;
	long n;

	(void)state;
	assert_int_equal(vmem_trace_record_position(r, 0, pos, sizeof(pos)), VMEM_EINVAL);
	while ((n = vmem_trace_read(r, v, 4)) > 0) {
		for (long i = 0; i < n; i++, seen++) {
			assert_int_equal(vmem_trace_record_position(r, (size_t)i, pos, sizeof(pos)), 0);
			snprintf(want, sizeof(want), "%s:%u", path, lines[seen]);
			assert_string_equal(pos, want);
		}
		assert_int_equal(vmem_trace_record_position(r, (size_t)n, pos, sizeof(pos)),
				 VMEM_EINVAL);
		assert_string_equal(pos, path);
	}
	assert_int_equal(n, 0);
	assert_int_equal(seen, 7);
	vmem_trace_close(r);
	ttl_drop(path);
}

/* Blank lines only: an empty Lackey trace, as an empty file is (the programs then say
 * "no trace records" rather than "cannot detect trace format"). */
static void test_blank_lines_only_are_an_empty_lackey_trace(void **state)
{
	static const char text[] = "\n\r\n\n\n";
	char *path = ttl_write_temp(".txt", text, strlen(text));
	struct vmem_trace_reader *r = ttl_open(path, NULL);
	struct vmem_trace_rec v[4];

	(void)state;
	assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_LACKEY);
	assert_int_equal(vmem_trace_read(r, v, 4), 0);
	vmem_trace_close(r);
	ttl_drop(path);
}

/* A big Lackey text: lines " L <8 hex digits>,8". */
static char *many_lines(size_t nlines, size_t *len)
{
	char *t = malloc(nlines * 14 + 1);

	assert_non_null(t);
	for (size_t i = 0; i < nlines; i++)
		snprintf(t + 14 * i, 15, " L %08zx,8\n", 0x1000 + 64 * i);
	*len = nlines * 14;
	return t;
}

/* Appends n bytes (or, with flip, XORs 0x10 into the byte at offset at) in a file. */
static void patch_file(const char *path, const void *append, size_t n, long at, bool flip)
{
	FILE *f = fopen(path, "r+b");

	assert_non_null(f);
	if (flip) {
		int c;

		assert_int_equal(fseek(f, at, SEEK_SET), 0);
		c = fgetc(f);
		assert_int_equal(fseek(f, at, SEEK_SET), 0);
		fputc(c ^ 0x10, f);
	} else {
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		assert_int_equal(fwrite(append, 1, n, f), n);
	}
	assert_int_equal(fclose(f), 0);
}

static long file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

/* Trailing zero padding after a gzip member or xz stream reads as gzip -d and xz -d read
 * it; anything else after gzip padding is an error at its compressed offset. */
static void test_compressed_padding_reads_as_gzip_and_xz_do(void **state)
{
	static const unsigned char zeros[12];
	char *paths[2] = {
		ttl_write_gz(".gz", good_text, strlen(good_text)),
		ttl_write_xz(".xz", good_text, strlen(good_text), 6, LZMA_CHECK_CRC64),
	};

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct vmem_trace_reader *r;
		struct vmem_trace_rec *v;
		long last;

		patch_file(paths[i], zeros, sizeof(zeros), 0, false);
		r = ttl_open(paths[i], NULL);
		check_good(v, ttl_read_all(r, 4096, &v, &last), 0, 0);
		assert_int_equal(last, 0);
		free(v);
		vmem_trace_close(r);
	}
	{
		long size = file_size(paths[0]);
		char want[600];
		struct vmem_trace_reader *r;
		struct vmem_trace_rec *v;
		long last;

		patch_file(paths[0], "x", 1, 0, false);
		r = ttl_open(paths[0], NULL);
		ttl_read_all(r, 4096, &v, &last);
		assert_int_equal(last, VMEM_EIO);
		snprintf(want, sizeof(want), "%s: compressed byte offset %ld: gzip: data after the "
			 "trailing zero padding", paths[0], size);
		assert_string_equal(vmem_trace_error(r), want);
		free(v);
		vmem_trace_close(r);
	}
	ttl_drop(paths[0]);
	ttl_drop(paths[1]);
}

/* A corrupt compressed stream is reported as such, with a compressed byte offset, not as
 * a malformed line of the garbage decoded before its checksum. */
static void test_corrupt_compressed_stream_blamed_not_its_garbage(void **state)
{
	size_t len;
	char *text = many_lines(20000, &len);
	char *paths[3] = {
		ttl_write_gz(".gz", text, len),
		ttl_write_xz(".xz", text, len, 6, LZMA_CHECK_CRC64),
		ttl_write_zst(".zst", text, len),
	};
	static const char *const what[3] = {
		"gzip: ", "xz: compressed data is corrupt", "zstd: ",
	};

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct vmem_trace_reader *r;
		struct vmem_trace_rec *v = NULL;
		char prefix[600];
		long last;

		patch_file(paths[i], NULL, 0, file_size(paths[i]) / 2, true);
		/* The error may come as early as the format detection. */
		last = vmem_trace_open(paths[i], NULL, &r);
		if (last == 0)
			ttl_read_all(r, 4096, &v, &last);
		assert_int_equal(last, VMEM_EIO);
		snprintf(prefix, sizeof(prefix), "%s: compressed byte offset ", paths[i]);
		if (strncmp(vmem_trace_error(r), prefix, strlen(prefix)) != 0 ||
		    !strstr(vmem_trace_error(r), what[i]))
			fail_msg("%s", vmem_trace_error(r));
		free(v);
		vmem_trace_close(r);
		ttl_drop(paths[i]);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lackey_good_input_exact_records),
		cmocka_unit_test(test_lackey_opts_vm_asid_given_to_records),
		cmocka_unit_test(test_lackey_batch_of_one_same_records),
		cmocka_unit_test(test_lackey_malformed_lines_fail_with_file_and_line),
		cmocka_unit_test(test_lackey_error_after_good_prefix_returned_next_call_and_sticks),
		cmocka_unit_test(test_lackey_truncated_last_line_that_parses_accepted),
		cmocka_unit_test(test_lackey_skip_bad_counts_and_continues),
		cmocka_unit_test(test_lackey_empty_file_no_records),
		cmocka_unit_test(test_lackey_multi_megabyte_small_batches_streams_exactly),
		cmocka_unit_test(test_lackey_compressed_inputs_decode_identically),
		cmocka_unit_test(test_lackey_truncated_gzip_fails_with_io_error),
		cmocka_unit_test(test_lackey_stdin_dash_reads_standard_input),
		cmocka_unit_test(test_lackey_overlong_line_fails),
		cmocka_unit_test(test_detect_unknown_content_fails_with_format_hint),
		cmocka_unit_test(test_open_missing_file_fails_with_io_error),
		cmocka_unit_test(test_format_names_parse_back),
		cmocka_unit_test(test_record_position_names_each_line_of_the_batch),
		cmocka_unit_test(test_blank_lines_only_are_an_empty_lackey_trace),
		cmocka_unit_test(test_compressed_padding_reads_as_gzip_and_xz_do),
		cmocka_unit_test(test_corrupt_compressed_stream_blamed_not_its_garbage),
	};

	ttl_temp_tag("lackey");
	return cmocka_run_group_tests_name("trace_lackey", tests, NULL, NULL);
}
