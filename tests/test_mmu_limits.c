/*
 * What a trace can make the translation machine create, and what it costs: the
 * limit.vms and limit.aspaces bounds (the error names the key), address spaces found by
 * id among many (the index), and accesses that would run past the top of the address
 * space.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "mmu_testlib.h"

static struct vmem_mmu *machine(enum vmem_mode mode, const char *vms, const char *aspaces)
{
	struct vmem_mmu_config c;

	mt_config(&c, mode, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	if (vms)
		mt_set(&c, "limit.vms", vms);
	if (aspaces)
		mt_set(&c, "limit.aspaces", aspaces);
	return mt_create(&c);
}

static void test_limit_vms_stops_the_next_vm_naming_the_key(void **state)
{
	struct vmem_mmu *m = machine(VMEM_MODE_NESTED, "2", NULL);
	struct vmem_trace_rec r = mt_switch_vm(0);

	(void)state;
	mt_apply(m, &r);
	r = mt_switch_vm(2);
	mt_touch(m, 1, 0, 0x1000, VMEM_ACC_LOAD);
	assert_int_equal(vmem_mmu_apply(m, &r), VMEM_ELIMIT);
	assert_non_null(strstr(vmem_mmu_error(m), "cannot create VM 2: limit.vms=2"));
	r = mt_access(7, 0, 0x1000, VMEM_ACC_LOAD);
	assert_int_equal(vmem_mmu_apply(m, &r), VMEM_ELIMIT);
	assert_non_null(strstr(vmem_mmu_error(m), "limit.vms=2"));
	/* The VMs that exist still run. */
	mt_touch(m, 0, 0, 0x2000, VMEM_ACC_STORE);
	vmem_mmu_destroy(m);
}

static void test_limit_aspaces_counts_all_vms_together(void **state)
{
	struct vmem_mmu *m = machine(VMEM_MODE_SHADOW, NULL, "3");
	struct vmem_trace_rec r = mt_switch_as(1, 1);

	(void)state;
	mt_touch(m, 0, 0, 0x1000, VMEM_ACC_LOAD);
	mt_touch(m, 0, 1, 0x1000, VMEM_ACC_LOAD);
	mt_touch(m, 1, 0, 0x1000, VMEM_ACC_LOAD);
	assert_int_equal(vmem_mmu_apply(m, &r), VMEM_ELIMIT);
	assert_non_null(strstr(vmem_mmu_error(m), "address space 1 of VM 1: limit.aspaces=3"));
	mt_touch(m, 0, 1, 0x3000, VMEM_ACC_LOAD);
	vmem_mmu_destroy(m);
}

static void test_limits_out_of_range_are_inconsistent(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m;

	(void)state;
	vmem_mmu_config_default(&c);
	assert_int_equal(c.limit_vms, 64);
	assert_int_equal(c.limit_aspaces, 4096);
	c.limit_vms = 0;
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	c.limit_vms = 65537;
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	c.limit_vms = 65536;
	c.limit_aspaces = 0;
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
}

/* Thousands of address spaces, revisited in another order: each keeps its own table. */
static void test_many_address_spaces_each_found_by_id(void **state)
{
	static const enum vmem_mode modes[] = { VMEM_MODE_NATIVE, VMEM_MODE_SHADOW };

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		struct vmem_mmu *m = machine(modes[k], NULL, "5000");
		uint64_t gpa[5000];

		for (uint32_t a = 0; a < 5000; a++)
			mt_touch(m, 0, a * 7919u, 0x400000 + (uint64_t)(a % 97) * 4096,
				 VMEM_ACC_STORE);
		for (uint32_t a = 0; a < 5000; a++)
			assert_int_equal(vmem_mmu_guest_lookup(m, 0, a * 7919u, 0x400000 +
							       (uint64_t)(a % 97) * 4096,
							       &gpa[a]), 0);
		/* First touches in a fresh address space: distinct frames. */
		for (uint32_t a = 1; a < 5000; a++)
			assert_true(gpa[a] != gpa[a - 1]);
		for (uint32_t a = 5000; a-- > 0;)
			mt_touch(m, 0, a * 7919u, 0x400000 + (uint64_t)(a % 97) * 4096,
				 VMEM_ACC_LOAD);
		assert_int_equal(vmem_mmu_stats(m)->guest_faults, 5000);
		vmem_mmu_destroy(m);
	}
}

/* The last byte of an access past 2^64 or past the canonical range is an error; page 0
 * (where a wrapped address would land) stays untouched. */
static void test_access_past_the_top_of_the_address_space_is_an_error(void **state)
{
	static const struct {
		unsigned levels;
		uint64_t va;
		uint8_t size;
	} cases[] = {
		{ 4, 0xfffffffffffffff8ull, 16 },    /* wraps past 2^64 */
		{ 4, 0xffffffffffffffffull, 2 },
		{ 4, 0x00007ffffffffffcull, 8 },     /* into the non-canonical hole */
		{ 5, 0x00fffffffffffff0ull, 255 },
		{ 5, 0xffffffffffffff02ull, 255 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int mode = 0; mode < VMEM_MODES; mode++) {
			struct vmem_mmu_config c;
			struct vmem_mmu *m;
			struct vmem_trace_rec r = mt_access(0, 0, cases[i].va, VMEM_ACC_LOAD);
			uint64_t gpa;

			mt_config(&c, (enum vmem_mode)mode, cases[i].levels, 4, VMEM_PAGE_4K,
				  VMEM_PAGE_4K);
			m = mt_create(&c);
			r.size = cases[i].size;
			if (vmem_mmu_apply(m, &r) != VMEM_ERANGE)
				fail_msg("case %zu, %s mode: no error", i, vmem_mode_name(c.mode));
			assert_non_null(strstr(vmem_mmu_error(m), "runs past the end"));
			assert_int_equal(vmem_mmu_stats(m)->accesses, 0);
			assert_int_equal(vmem_mmu_guest_lookup(m, 0, 0, 0, &gpa), VMEM_ENOENT);
			/* The same size just below the top is fine. */
			r.addr = cases[i].va - cases[i].size - 0x1000;
			mt_apply(m, &r);
			vmem_mmu_destroy(m);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_vms_stops_the_next_vm_naming_the_key),
		cmocka_unit_test(test_limit_aspaces_counts_all_vms_together),
		cmocka_unit_test(test_limits_out_of_range_are_inconsistent),
		cmocka_unit_test(test_many_address_spaces_each_found_by_id),
		cmocka_unit_test(test_access_past_the_top_of_the_address_space_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
