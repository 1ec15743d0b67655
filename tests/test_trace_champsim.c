/*
 * ChampSim trace reader: expansion of 64-byte input_instr records into ifetch, loads and
 * stores; batches that split an instruction; partial and non-canonical records with their
 * byte offsets; skip_bad; detection by file name; compressed input; streaming.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace_testlib.h"
#include "vmem/trace.h"

/* ---- helpers ------------------------------------------------------------------------ */

/*
 * One ChampSim input_instr: ip at 0, is_branch 8, branch_taken 9, destination_registers
 * 10..11, source_registers 12..15, destination_memory[2] at 16, source_memory[4] at 32.
 */
static void cs_rec(unsigned char *p, uint64_t ip, const uint64_t src[4], const uint64_t dst[2])
{
	memset(p, 0, 64);
	ttl_put64(p, ip);
	p[8] = 1;      /* is_branch, ignored */
	p[9] = 1;      /* branch_taken, ignored */
	p[10] = 25;    /* registers, ignored */
	p[12] = 26;
	for (int i = 0; i < 2; i++)
		ttl_put64(p + 16 + 8 * i, dst ? dst[i] : 0);
	for (int i = 0; i < 4; i++)
		ttl_put64(p + 32 + 8 * i, src ? src[i] : 0);
}

static struct vmem_trace_reader *open_fmt(const char *path, enum vmem_trace_format f,
					  bool skip_bad)
{
	struct vmem_trace_reader_opts o;

	vmem_trace_reader_opts_default(&o);
	o.format = f;
	o.skip_bad = skip_bad;
	o.vm = 2;
	o.asid = 9;
	return ttl_open(path, &o);
}

/* An access of the reader opened by open_fmt (vm 2, asid 9). */
static void assert_rec(const struct vmem_trace_rec *x, uint8_t acc, uint64_t addr, uint8_t size)
{
	ttl_assert_rec(x, acc, addr, size, 2, 9);
}

/* Three instructions: no operands; 2 loads + 1 store; every slot used. 1 + 4 + 7 records. */
static unsigned char good[3 * 64];

static void make_good(void)
{
	const uint64_t s1[4] = { 0x7ffd1000, 0, 0x601040, 0 };
	const uint64_t d1[2] = { 0, 0x7ffd0ff8 };
	const uint64_t s2[4] = { 0x1000, 0x2000, 0x3000, 0xff80000000004000ull };
	const uint64_t d2[2] = { 0x5000, 0x6000 };

	cs_rec(good, 0x401000, NULL, NULL);
	cs_rec(good + 64, 0x401004, s1, d1);
	cs_rec(good + 128, 0xffffffff81000000ull, s2, d2);
}

static void check_good(const struct vmem_trace_rec *v, size_t n)
{
	assert_int_equal(n, 12);
	assert_rec(&v[0], VMEM_ACC_IFETCH, 0x401000, 4);
	assert_rec(&v[1], VMEM_ACC_IFETCH, 0x401004, 4);
	assert_rec(&v[2], VMEM_ACC_LOAD, 0x7ffd1000, 8);
	assert_rec(&v[3], VMEM_ACC_LOAD, 0x601040, 8);
	assert_rec(&v[4], VMEM_ACC_STORE, 0x7ffd0ff8, 8);
	assert_rec(&v[5], VMEM_ACC_IFETCH, 0xffffffff81000000ull, 4);
	assert_rec(&v[6], VMEM_ACC_LOAD, 0x1000, 8);
	assert_rec(&v[7], VMEM_ACC_LOAD, 0x2000, 8);
	assert_rec(&v[8], VMEM_ACC_LOAD, 0x3000, 8);
	assert_rec(&v[9], VMEM_ACC_LOAD, 0xff80000000004000ull, 8);
	assert_rec(&v[10], VMEM_ACC_STORE, 0x5000, 8);
	assert_rec(&v[11], VMEM_ACC_STORE, 0x6000, 8);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_champsim_good_records_expand_in_order(void **state)
{
	char *path;
	struct vmem_trace_reader *r;
	struct vmem_trace_counts c;
	struct vmem_trace_rec *v;
	char pos[256], want[256];
	long last;
	size_t n;

	(void)state;
	make_good();
	path = ttl_write_temp(".bin", good, sizeof(good));
	r = open_fmt(path, VMEM_TRACE_CHAMPSIM, false);
	n = ttl_read_all(r, 4096, &v, &last);
	assert_int_equal(last, 0);
	check_good(v, n);
	vmem_trace_counts(r, &c);
	assert_int_equal(c.records, 12);
	assert_int_equal(c.bytes, sizeof(good));
	assert_int_equal(c.skipped_bad, 0);
	vmem_trace_position(r, pos, sizeof(pos));
	snprintf(want, sizeof(want), "%s: offset 128", path);
	assert_string_equal(pos, want);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_champsim_small_batches_split_instructions_identically(void **state)
{
	char *path;

	(void)state;
	make_good();
	path = ttl_write_temp(".bin", good, sizeof(good));
	for (size_t max = 1; max <= 13; max++) {
		struct vmem_trace_reader *r = open_fmt(path, VMEM_TRACE_CHAMPSIM, false);
		struct vmem_trace_rec *v;
		long last;
		size_t n = ttl_read_all(r, max, &v, &last);

		assert_int_equal(last, 0);
		check_good(v, n);
		free(v);
		vmem_trace_close(r);
	}
	ttl_drop(path);
}

/* Every record an instruction yields is located at that instruction's offset, also when
 * the instruction is split across batches. */
static void test_champsim_record_position_per_record_any_batch(void **state)
{
	static const unsigned offs[12] = { 0, 64, 64, 64, 64, 128, 128, 128, 128, 128, 128, 128 };
	char *path;

	(void)state;
	make_good();
	path = ttl_write_temp(".bin", good, sizeof(good));
	for (size_t max = 1; max <= 13; max++) {
		struct vmem_trace_reader *r = open_fmt(path, VMEM_TRACE_CHAMPSIM, false);
		struct vmem_trace_rec v[13];
		size_t seen = 0;
		long n;

		while ((n = vmem_trace_read(r, v, max)) > 0) {
			for (long i = 0; i < n; i++, seen++) {
				char pos[256], want[256];

				assert_int_equal(vmem_trace_record_position(r, (size_t)i, pos,
									    sizeof(pos)), 0);
				snprintf(want, sizeof(want), "%s: offset %u", path, offs[seen]);
				assert_string_equal(pos, want);
			}
		}
		assert_int_equal(n, 0);
		assert_int_equal(seen, 12);
		vmem_trace_close(r);
	}
	ttl_drop(path);
}

static void test_champsim_position_names_offset_of_split_instruction(void **state)
{
	char *path;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec v[8];
	char pos[256], want[256];

	(void)state;
	make_good();
	path = ttl_write_temp(".bin", good, sizeof(good));
	r = open_fmt(path, VMEM_TRACE_CHAMPSIM, false);
	/* 1 record of instruction 0, then 2 of instruction 1 (at offset 64). */
	assert_int_equal(vmem_trace_read(r, v, 3), 3);
	vmem_trace_position(r, pos, sizeof(pos));
	snprintf(want, sizeof(want), "%s: offset 64", path);
	assert_string_equal(pos, want);
	/* The last 2 of instruction 1, then 1 from instruction 2 (offset 128). */
	assert_int_equal(vmem_trace_read(r, v, 3), 3);
	assert_rec(&v[1], VMEM_ACC_STORE, 0x7ffd0ff8, 8);
	vmem_trace_position(r, pos, sizeof(pos));
	snprintf(want, sizeof(want), "%s: offset 128", path);
	assert_string_equal(pos, want);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_champsim_trailing_partial_record_fails_with_offset(void **state)
{
	unsigned char buf[3 * 64 + 10];
	char *path;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec *v;
	char want[256];
	long last;
	size_t n;

	(void)state;
	make_good();
	memcpy(buf, good, sizeof(good));
	memset(buf + sizeof(good), 0x11, 10);
	path = ttl_write_temp(".champsim", buf, sizeof(buf));
	r = open_fmt(path, VMEM_TRACE_AUTO, false);
	assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_CHAMPSIM);
	n = ttl_read_all(r, 4096, &v, &last);
	check_good(v, n);
	assert_int_equal(last, VMEM_EFORMAT);
	snprintf(want, sizeof(want), "%s: offset 192: expected a 64-byte record, got 10 bytes",
		 path);
	assert_true(strncmp(vmem_trace_error(r), want, strlen(want)) == 0);
	assert_int_equal(vmem_trace_read(r, v, 4), VMEM_EFORMAT);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_champsim_noncanonical_address_fails_with_record_offset(void **state)
{
	static const struct {
		int slot;             /* -1 ip, 0..3 source_memory, 4..5 destination_memory */
		const char *field;
	} cases[] = {
		{ -1, "ip" },
		{ 2, "source_memory[2]" },
		{ 5, "destination_memory[1]" },
	};

	(void)state;
	make_good();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char buf[4 * 64];
		uint64_t src[4] = { 0x1000, 0, 0, 0 }, dst[2] = { 0, 0 };
		uint64_t bad = 0x0100000000000000ull;  /* bit 56 set, bits 57..63 clear */
		uint64_t ip = 0x400000;
		char *path;
		struct vmem_trace_reader *r;
		struct vmem_trace_rec *v;
		char want[256];
		long last;
		size_t n;

		if (cases[i].slot < 0)
			ip = bad;
		else if (cases[i].slot < 4)
			src[cases[i].slot] = bad;
		else
			dst[cases[i].slot - 4] = bad;
		memcpy(buf, good, sizeof(good));
		cs_rec(buf + 192, ip, src, dst);
		path = ttl_write_temp(".bin", buf, sizeof(buf));
		r = open_fmt(path, VMEM_TRACE_CHAMPSIM, false);
		n = ttl_read_all(r, 5, &v, &last);
		check_good(v, n);
		assert_int_equal(last, VMEM_EFORMAT);
		snprintf(want, sizeof(want), "%s: offset 192: ", path);
		if (strncmp(vmem_trace_error(r), want, strlen(want)) != 0 ||
		    !strstr(vmem_trace_error(r), cases[i].field) ||
		    !strstr(vmem_trace_error(r), "0x100000000000000"))
			fail_msg("case %zu: \"%s\"", i, vmem_trace_error(r));
		free(v);
		vmem_trace_close(r);
		ttl_drop(path);
	}
}

static void test_champsim_skip_bad_counts_and_continues(void **state)
{
	unsigned char buf[5 * 64 + 7];
	const uint64_t src[4] = { 0x0200000000000000ull, 0, 0, 0 };
	char *path;
	struct vmem_trace_reader *r;
	struct vmem_trace_counts c;
	struct vmem_trace_rec *v;
	long last;
	size_t n;

	(void)state;
	make_good();
	cs_rec(buf, 0x401000, NULL, NULL);
	cs_rec(buf + 64, 0x1000, src, NULL);                 /* bad operand */
	memcpy(buf + 128, good + 64, 128);
	cs_rec(buf + 256, 0x8000000000000000ull, NULL, NULL); /* bad ip */
	memset(buf + 320, 0, 7);                              /* partial tail */
	path = ttl_write_temp(".bin", buf, sizeof(buf));
	r = open_fmt(path, VMEM_TRACE_CHAMPSIM, true);
	n = ttl_read_all(r, 4, &v, &last);
	assert_int_equal(last, 0);
	check_good(v, n);
	vmem_trace_counts(r, &c);
	assert_int_equal(c.skipped_bad, 3);
	assert_int_equal(c.records, 12);
	free(v);
	vmem_trace_close(r);
	ttl_drop(path);
}

static void test_champsim_detected_by_name_or_record_shape(void **state)
{
	static const char *const named[] = {
		".champsim", ".champsimtrace", ".CHAMPSIMTRACE", ".champsimtrace.xz",
		".champsim.gz", ".champsimtrace.zst",
	};
	char *path;
	struct vmem_trace_reader *r = NULL;

	(void)state;
	make_good();
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		struct vmem_trace_rec *v;
		long last;
		size_t n;

		if (strstr(named[i], ".xz"))
			path = ttl_write_xz(named[i], good, sizeof(good), 1, LZMA_CHECK_CRC64);
		else if (strstr(named[i], ".gz"))
			path = ttl_write_gz(named[i], good, sizeof(good));
		else if (strstr(named[i], ".zst"))
			path = ttl_write_zst(named[i], good, sizeof(good));
		else
			path = ttl_write_temp(named[i], good, sizeof(good));
		r = open_fmt(path, VMEM_TRACE_AUTO, false);
		assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_CHAMPSIM);
		n = ttl_read_all(r, 4096, &v, &last);
		assert_int_equal(last, 0);
		check_good(v, n);
		free(v);
		vmem_trace_close(r);
		ttl_drop(path);
	}
	/* Same bytes under another name: recognised by the shape of the records. */
	path = ttl_write_temp(".trace", good, sizeof(good));
	r = open_fmt(path, VMEM_TRACE_AUTO, false);
	assert_int_equal(vmem_trace_reader_format(r), VMEM_TRACE_CHAMPSIM);
	vmem_trace_close(r);
	ttl_drop(path);
	/* A record whose is_branch byte is 2 is no instruction record: no guess. */
	{
		unsigned char odd[sizeof(good)];

		memcpy(odd, good, sizeof(good));
		odd[8] = 2;
		path = ttl_write_temp(".trace", odd, sizeof(odd));
		assert_int_equal(vmem_trace_open(path, NULL, &r), VMEM_EFORMAT);
		assert_non_null(strstr(vmem_trace_error(r),
				       "cannot detect trace format; use --format"));
		vmem_trace_close(r);
		ttl_drop(path);
	}
}

static void test_champsim_compressed_inputs_decode_identically(void **state)
{
	char *paths[3];

	(void)state;
	make_good();
	paths[0] = ttl_write_gz(".gz", good, sizeof(good));
	paths[1] = ttl_write_xz(".xz", good, sizeof(good), 1, LZMA_CHECK_CRC64);
	paths[2] = ttl_write_zst(".zst", good, sizeof(good));
	for (int i = 0; i < 3; i++) {
		struct vmem_trace_reader *r = open_fmt(paths[i], VMEM_TRACE_CHAMPSIM, false);
		struct vmem_trace_rec *v;
		long last;
		size_t n = ttl_read_all(r, 5, &v, &last);

		assert_int_equal(last, 0);
		check_good(v, n);
		free(v);
		vmem_trace_close(r);
		ttl_drop(paths[i]);
	}
}

/* Instruction i: ip 0x400000 + 4i; source_memory[i % 4] and, for odd i, destination_memory[0]. */
static void gen(unsigned char *p, size_t i)
{
	uint64_t src[4] = { 0 }, dst[2] = { 0 };

	src[i % 4] = 0x10000000 + 8 * (uint64_t)i;
	if (i & 1)
		dst[0] = 0x20000000 + 8 * (uint64_t)i;
	cs_rec(p, 0x400000 + 4 * (uint64_t)i, src, dst);
}

static void check_stream(const char *path, size_t count, size_t batch)
{
	struct vmem_trace_reader *r = open_fmt(path, VMEM_TRACE_CHAMPSIM, false);
	struct vmem_trace_rec v[16];
	size_t i = 0, sub = 0, total = 0;
	long k;

	while ((k = vmem_trace_read(r, v, batch)) > 0) {
		for (long j = 0; j < k; j++) {
			const struct vmem_trace_rec *x = &v[j];
			uint64_t want;
			uint8_t acc;

			if (sub == 0) {
				want = 0x400000 + 4 * (uint64_t)i;
				acc = VMEM_ACC_IFETCH;
			} else if (sub == 1) {
				want = 0x10000000 + 8 * (uint64_t)i;
				acc = VMEM_ACC_LOAD;
			} else {
				want = 0x20000000 + 8 * (uint64_t)i;
				acc = VMEM_ACC_STORE;
			}
			if (x->addr != want || x->acc != acc)
				fail_msg("instruction %zu record %zu differs", i, sub);
			total++;
			if (++sub == ((i & 1) ? 3u : 2u)) {
				sub = 0;
				i++;
			}
		}
	}
	assert_int_equal(k, 0);
	assert_int_equal(i, count);
	assert_int_equal(total, count / 2 * 5);
	vmem_trace_close(r);
}

static void test_champsim_multi_megabyte_small_batches_streams_exactly(void **state)
{
	size_t count = 100000;  /* 6.4 MB */
	unsigned char *buf = malloc(count * 64);
	char *plain, *xz;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < count; i++)
		gen(buf + 64 * i, i);
	plain = ttl_write_temp(".bin", buf, count * 64);
	xz = ttl_write_xz(".xz", buf, count * 64, 1, LZMA_CHECK_CRC64);
	check_stream(plain, count, 5);
	check_stream(xz, count, 16);
	ttl_drop(plain);
	ttl_drop(xz);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_champsim_good_records_expand_in_order),
		cmocka_unit_test(test_champsim_small_batches_split_instructions_identically),
		cmocka_unit_test(test_champsim_record_position_per_record_any_batch),
		cmocka_unit_test(test_champsim_position_names_offset_of_split_instruction),
		cmocka_unit_test(test_champsim_trailing_partial_record_fails_with_offset),
		cmocka_unit_test(test_champsim_noncanonical_address_fails_with_record_offset),
		cmocka_unit_test(test_champsim_skip_bad_counts_and_continues),
		cmocka_unit_test(test_champsim_detected_by_name_or_record_shape),
		cmocka_unit_test(test_champsim_compressed_inputs_decode_identically),
		cmocka_unit_test(test_champsim_multi_megabyte_small_batches_streams_exactly),
	};

	ttl_temp_tag("champsim");
	return cmocka_run_group_tests_name("trace_champsim", tests, NULL, NULL);
}
