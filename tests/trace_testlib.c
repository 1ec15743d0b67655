/* Helpers for the trace reader and writer tests; see trace_testlib.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "trace_testlib.h"

static const char *temp_tag = "trace";

void ttl_temp_tag(const char *tag)
{
	temp_tag = tag;
}

char *ttl_temp_path(const char *suffix)
{
	size_t cap = strlen("/tmp/vmem--XXXXXX") + strlen(temp_tag) + strlen(suffix) + 1;
	char *path = malloc(cap);
	int fd;

	assert_non_null(path);
	snprintf(path, cap, "/tmp/vmem-%s-XXXXXX%s", temp_tag, suffix);
	fd = mkstemps(path, (int)strlen(suffix));
	assert_true(fd >= 0);
	close(fd);
	return path;
}

static void put_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

char *ttl_write_temp(const char *suffix, const void *data, size_t len)
{
	char *path = ttl_temp_path(suffix);

	put_file(path, data, len);
	return path;
}

char *ttl_write_gz(const char *suffix, const void *data, size_t len)
{
	char *path = ttl_temp_path(suffix);
	gzFile g = gzopen(path, "wb6");

	assert_non_null(g);
	if (len)
		assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
	assert_int_equal(gzclose(g), Z_OK);
	return path;
}

char *ttl_write_xz(const char *suffix, const void *data, size_t len, uint32_t preset,
		   lzma_check check)
{
	size_t cap = len + len / 2 + 4096, out = 0;
	uint8_t *buf = malloc(cap);
	char *path;

	assert_non_null(buf);
	assert_int_equal(lzma_easy_buffer_encode(preset, check, NULL, data, len, buf, &out, cap),
			 LZMA_OK);
	path = ttl_write_temp(suffix, buf, out);
	free(buf);
	return path;
}

char *ttl_write_zst(const char *suffix, const void *data, size_t len)
{
	size_t cap = ZSTD_compressBound(len);
	void *buf = malloc(cap);
	size_t out;
	char *path;

	assert_non_null(buf);
	out = ZSTD_compress(buf, cap, data, len, 3);
	assert_false(ZSTD_isError(out));
	path = ttl_write_temp(suffix, buf, out);
	free(buf);
	return path;
}

void ttl_drop(char *path)
{
	unlink(path);
	free(path);
}

void ttl_put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

void ttl_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void ttl_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

struct vmem_trace_reader *ttl_open(const char *path, const struct vmem_trace_reader_opts *o)
{
	struct vmem_trace_reader *r = NULL;
	int rc = vmem_trace_open(path, o, &r);

	if (rc != 0)
		fail_msg("open %s: %d %s", path, rc, r ? vmem_trace_error(r) : "");
	assert_non_null(r);
	return r;
}

size_t ttl_read_all(struct vmem_trace_reader *r, size_t max, struct vmem_trace_rec **out,
		    long *last)
{
	size_t cap = 1024, n = 0;
	struct vmem_trace_rec *v = malloc(cap * sizeof(*v));
	long k;

	assert_non_null(v);
	for (;;) {
		if (cap - n < max) {
			cap = 2 * cap + max;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
		}
		k = vmem_trace_read(r, v + n, max);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	if (last)
		*last = k;
	else if (k < 0)
		fail_msg("read: %ld %s", k, vmem_trace_error(r));
	*out = v;
	return n;
}

void ttl_assert_rec(const struct vmem_trace_rec *x, uint8_t acc, uint64_t addr, uint8_t size,
		    uint16_t vm, uint32_t asid)
{
	assert_int_equal(x->type, VMEM_REC_ACCESS);
	assert_int_equal(x->acc, acc);
	assert_int_equal(x->addr, addr);
	assert_int_equal(x->size, size);
	assert_int_equal(x->vm, vm);
	assert_int_equal(x->asid, asid);
	assert_int_equal(x->prot, 0);
	assert_int_equal(x->len, 0);
}
