/*
 * Page contents: vmem_content_page on pages of known content, a capture of this very
 * process finding its own buffers with the right hashes, flags and classes, the CONTENT
 * and FREE records through the .vmt writer and reader, and their replay by the
 * translation machine (CONTENT a store to the page, FREE an unmap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <lz4.h>
#include <xxhash.h>

#include "mmu_testlib.h"
#include "trace_testlib.h"
#include "vmem/capture.h"
#include "vmem/trace.h"

#define PAGE 4096

/* A deterministic pseudo-random page: xorshift64, incompressible for LZ4. */
static void random_page(unsigned char *p, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < PAGE; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static void test_content_page_zero_random_and_text(void **state)
{
	static unsigned char page[PAGE + 1] __attribute__((aligned(64)));
	struct vmem_trace_rec r;
	char dst[LZ4_COMPRESSBOUND(PAGE)];
	int z;

	(void)state;
	memset(page, 0, sizeof(page));
	vmem_content_page(page, 0x7f0000001234, 3, 4, &r);
	assert_int_equal(r.type, VMEM_REC_CONTENT);
	assert_int_equal(r.vm, 3);
	assert_int_equal(r.asid, 4);
	assert_int_equal(r.addr, 0x7f0000001000);     /* aligned down */
	assert_int_equal(r.prot, VMEM_CONTENT_ZERO);
	assert_int_equal(r.size, 0);                  /* LZ4 makes 4096 zeros ~20 bytes */
	assert_int_equal(r.len, XXH3_64bits(page, PAGE));

	random_page(page, 1);
	vmem_content_page(page, 0x2000, 0, 0, &r);
	assert_int_equal(r.prot, 0);
	assert_int_equal(r.size, 15);                 /* incompressible */
	assert_int_equal(r.len, XXH3_64bits(page, PAGE));

	/* Half random, half zeros: about 2048 + a little compressed, class 8. */
	memset(page + PAGE / 2, 0, PAGE / 2);
	z = LZ4_compress_default((const char *)page, dst, PAGE, (int)sizeof(dst));
	assert_true(z > 2048 && z <= 2304);
	vmem_content_page(page, 0x2000, 0, 0, &r);
	assert_int_equal(r.size, 8);

	/* Unaligned input gives the same record as aligned input. */
	{
		struct vmem_trace_rec a;

		memmove(page + 1, page, PAGE);
		vmem_content_page(page + 1, 0x2000, 0, 0, &a);
		assert_int_equal(a.len, r.len);
		assert_int_equal(a.size, r.size);
		assert_int_equal(a.prot, r.prot);
	}

	/* A single non-zero byte: not a zero page, still class 0. */
	memset(page, 0, sizeof(page));
	page[PAGE - 1] = 1;
	vmem_content_page(page, 0, 0, 0, &r);
	assert_int_equal(r.prot, 0);
	assert_int_equal(r.size, 0);
	{
		uint64_t h = r.len;

		page[PAGE - 1] = 0;
		assert_true(h != XXH3_64bits(page, PAGE));   /* differs from all zeros */
	}
}

/* Finds the CONTENT record of addr among recs, or fails. */
static const struct vmem_trace_rec *find(const struct vmem_trace_rec *v, size_t n,
					 uint64_t addr)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].type == VMEM_REC_CONTENT && v[i].addr == addr)
			return &v[i];
	}
	fail_msg("no content record for 0x%llx", (unsigned long long)addr);
	return NULL;
}

static void test_capture_self_finds_own_pages(void **state)
{
	unsigned char *buf = mmap(NULL, 6 * PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t base = (uint64_t)(uintptr_t)buf;
	char *path = ttl_temp_path(".vmt");
	struct vmem_trace_writer *w = NULL;
	struct vmem_capture_opts o;
	struct vmem_capture_stats st;
	struct vmem_trace_reader *r;
	struct vmem_trace_rec *v;
	const struct vmem_trace_rec *x;
	char err[256] = "";
	long last;
	size_t n;

	(void)state;
	assert_true(buf != MAP_FAILED);
	/* Pages 0 and 1 the same random bytes, page 2 touched but zero, page 3 text-like,
	 * page 4 never touched, page 5 unmapped (a hole). */
	random_page(buf, 7);
	memcpy(buf + PAGE, buf, PAGE);
	buf[2 * PAGE] = 1;
	buf[2 * PAGE] = 0;
	for (size_t i = 0; i < PAGE; i++)
		buf[3 * PAGE + i] = (unsigned char)("abcdefgh"[i % 8]);
	assert_int_equal(munmap(buf + 5 * PAGE, PAGE), 0);

	vmem_capture_opts_default(&o);
	assert_int_equal(o.max_pages, VMEM_CAPTURE_MAX_PAGES_DEFAULT);
	o.vm = 9;
	o.asid = 10;
	o.max_pages = 0;
	assert_int_equal(vmem_trace_writer_open(path, NULL, &w), 0);
	if (vmem_capture_process((int)getpid(), &o, w, &st, err, sizeof(err)) != 0)
		fail_msg("capture: %s", err);
	assert_int_equal(vmem_trace_writer_close(w), 0);
	assert_true(st.pages > 6);
	assert_true(st.regions > 3);
	assert_false(st.truncated);

	r = ttl_open(path, NULL);
	n = ttl_read_all(r, 1000, &v, &last);
	assert_int_equal(last, 0);
	assert_int_equal(n, st.pages);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i].type, VMEM_REC_CONTENT);
		assert_int_equal(v[i].vm, 9);
		assert_int_equal(v[i].asid, 10);
		assert_int_equal(v[i].addr & 0xfff, 0);
		if (i)
			assert_true(v[i].addr > v[i - 1].addr);   /* address order */
	}
	x = find(v, n, base);
	assert_int_equal(x->len, XXH3_64bits(buf, PAGE));
	assert_int_equal(x->size, 15);
	assert_int_equal(find(v, n, base + PAGE)->len, x->len);   /* same content, same hash */
	x = find(v, n, base + 2 * PAGE);
	assert_int_equal(x->prot, VMEM_CONTENT_ZERO);
	assert_int_equal(x->size, 0);
	x = find(v, n, base + 3 * PAGE);
	assert_int_equal(x->prot, 0);
	assert_int_equal(x->size, 0);
	assert_int_equal(x->len, XXH3_64bits(buf + 3 * PAGE, PAGE));
	if (st.resident_only) {
		for (size_t i = 0; i < n; i++)
			assert_true(v[i].addr != base + 4 * PAGE);   /* never touched */
	}
	for (size_t i = 0; i < n; i++)
		assert_true(v[i].addr != base + 5 * PAGE);           /* not mapped */
	free(v);
	vmem_trace_close(r);

	/* max_pages stops the capture there. */
	o.max_pages = 5;
	assert_int_equal(vmem_trace_writer_open(path, NULL, &w), 0);
	assert_int_equal(vmem_capture_process((int)getpid(), &o, w, &st, err, sizeof(err)), 0);
	assert_int_equal(vmem_trace_writer_close(w), 0);
	assert_int_equal(st.pages, 5);
	assert_true(st.truncated);

	ttl_drop(path);
	munmap(buf, 5 * PAGE);
}

static void test_capture_no_such_process(void **state)
{
	char *path = ttl_temp_path(".vmt");
	struct vmem_trace_writer *w = NULL;
	char err[256];

	(void)state;
	assert_int_equal(vmem_trace_writer_open(path, NULL, &w), 0);
	assert_int_equal(vmem_capture_process(0x7fffffff, NULL, w, NULL, err, sizeof(err)),
			 VMEM_ENOENT);
	assert_string_equal(err, "no such process 2147483647");
	assert_int_equal(vmem_trace_writer_close(w), 0);
	ttl_drop(path);
}

/* CONTENT is a store to its page, FREE unmaps its range: the next store faults again. */
static void test_mmu_replays_content_and_free(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	struct vmem_trace_rec content = {
		.type = VMEM_REC_CONTENT, .vm = 0, .asid = 1, .addr = 0x7f0000002000,
		.len = 0x1234, .size = 3,
	};
	struct vmem_trace_rec fr = {
		.type = VMEM_REC_FREE, .vm = 0, .asid = 1, .addr = 0x7f0000002000, .len = PAGE,
	};

	(void)state;
	for (int mode = 0; mode < 3; mode++) {
		mt_config(&c, mode == 0 ? VMEM_MODE_NATIVE : mode == 1 ? VMEM_MODE_NESTED :
			  VMEM_MODE_SHADOW, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
		m = mt_create(&c);
		mt_apply(m, &content);
		assert_int_equal(mt_stat(m, "records"), 1);
		assert_int_equal(mt_stat(m, "accesses"), 1);
		assert_int_equal(mt_stat(m, "faults.guest"), 1);
		mt_gpa(m, 0, 1, 0x7f0000002000);               /* mapped now */
		/* A load after it hits the page the content record made. */
		mt_touch(m, 0, 1, 0x7f0000002008, VMEM_ACC_LOAD);
		assert_int_equal(mt_stat(m, "faults.guest"), 1);
		mt_apply(m, &fr);
		assert_int_equal(mt_stat(m, "records"), 3);
		{
			uint64_t gpa;

			assert_int_equal(vmem_mmu_guest_lookup(m, 0, 1, 0x7f0000002000, &gpa),
					 VMEM_ENOENT);
		}
		mt_apply(m, &content);
		assert_int_equal(mt_stat(m, "faults.guest"), 2);
		vmem_mmu_destroy(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_page_zero_random_and_text),
		cmocka_unit_test(test_capture_self_finds_own_pages),
		cmocka_unit_test(test_capture_no_such_process),
		cmocka_unit_test(test_mmu_replays_content_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
