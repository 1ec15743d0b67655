/*
 * Guest RAM (libvmem/backend/guest_ram.c): regions on real host memory, asked of the kernel.
 *
 * Facts the expected values rest on:
 *  - Every region starts 2 MiB-aligned (the mapping is placed inside a reservation 2 MiB
 *    larger), so hva % 2 MiB == 0 whatever the page size.
 *  - Frames count 4 KiB pages across regions in the order added: a 1 MiB region has 256
 *    frames, so the first frame of the region added after it is 256.
 *  - move_pages(2) with nodes = NULL reports -ENOENT for a page not populated yet, and the
 *    node for a populated one: a preallocated region bound to node 0 has every page on 0.
 *  - An empty hugetlb pool (vm.nr_hugepages = 0) cannot back a MAP_HUGETLB region; the test
 *    raises the pool by 4 pages for two 4 MiB regions and restores it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/guest_ram.h"

#define MiB (1ull << 20)

static struct vmem_guest_ram *make(void)
{
	struct vmem_guest_ram *ram;

	assert_int_equal(vmem_guest_ram_create(&ram), 0);
	return ram;
}

static unsigned add(struct vmem_guest_ram *ram, uint64_t gpa, uint64_t size,
		    enum vmem_ram_backing b, enum vmem_ram_pages pg, bool prealloc)
{
	struct vmem_ram_region_config c;
	char err[256];
	unsigned idx;

	vmem_ram_region_config_default(&c);
	c.gpa = gpa;
	c.size = size;
	c.backing = b;
	c.pages = pg;
	c.prealloc = prealloc;
	if (vmem_guest_ram_add(ram, &c, &idx, err, sizeof(err)))
		fail_msg("vmem_guest_ram_add: %s", err);
	return idx;
}

/* add() that must fail with rc and an error containing `want`. */
static void add_fails(struct vmem_guest_ram *ram, const struct vmem_ram_region_config *c,
		      int rc, const char *want)
{
	char err[256] = "";

	assert_int_equal(vmem_guest_ram_add(ram, c, NULL, err, sizeof(err)), rc);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
}

static void test_ram_two_regions_lookups_both_ways(void **state)
{
	struct vmem_guest_ram *ram = make();
	struct vmem_ram_region r0, r1;
	unsigned region;
	uint64_t gpa, page;

	(void)state;
	add(ram, 0, 1 * MiB, VMEM_RAM_ANON, VMEM_RAM_4K, false);
	add(ram, 4ull << 30, 2 * MiB, VMEM_RAM_ANON, VMEM_RAM_4K, false);
	assert_int_equal(vmem_guest_ram_regions(ram), 2);
	assert_int_equal(vmem_guest_ram_region(ram, 0, &r0), 0);
	assert_int_equal(vmem_guest_ram_region(ram, 1, &r1), 0);
	assert_int_equal(vmem_guest_ram_region(ram, 2, &r1), VMEM_ENOENT);
	assert_int_equal((uintptr_t)r0.hva % (2 * MiB), 0);
	assert_int_equal((uintptr_t)r1.hva % (2 * MiB), 0);
	assert_int_equal(r0.fd, -1);

	/* gpa -> hva, and back. */
	assert_ptr_equal(vmem_guest_ram_gpa_to_hva(ram, 0x1234), (char *)r0.hva + 0x1234);
	assert_ptr_equal(vmem_guest_ram_gpa_to_hva(ram, (4ull << 30) + MiB + 5),
			 (char *)r1.hva + MiB + 5);
	assert_null(vmem_guest_ram_gpa_to_hva(ram, 1 * MiB));          /* the gap */
	assert_null(vmem_guest_ram_gpa_to_hva(ram, (4ull << 30) + 2 * MiB));
	assert_int_equal(vmem_guest_ram_hva_to_gpa(ram, (char *)r1.hva + 77, &gpa), 0);
	assert_int_equal(gpa, (4ull << 30) + 77);
	assert_int_equal(vmem_guest_ram_hva_to_gpa(ram, &gpa, &gpa), VMEM_ENOENT);

	/* Memory works and reads back through both addresses. */
	memset(vmem_guest_ram_gpa_to_hva(ram, 0x2000), 0xab, 4096);
	assert_int_equal(((unsigned char *)r0.hva)[0x2fff], 0xab);

	/* Frames: 256 in region 0, then 512 in region 1. */
	assert_int_equal(vmem_guest_ram_frames(ram), 768);
	assert_int_equal(r1.first_frame, 256);
	assert_int_equal(vmem_guest_ram_frame(ram, 259, &region, &page), 0);
	assert_int_equal(region, 1);
	assert_int_equal(page, 3);
	assert_int_equal(vmem_guest_ram_frame(ram, 255, &region, &page), 0);
	assert_int_equal(region, 0);
	assert_int_equal(page, 255);
	assert_int_equal(vmem_guest_ram_frame(ram, 768, &region, &page), VMEM_ENOENT);
	vmem_guest_ram_destroy(ram);
}

static void test_ram_bad_arguments_rejected_with_a_message(void **state)
{
	struct vmem_guest_ram *ram = make();
	struct vmem_ram_region_config c;
	char err[256];

	(void)state;
	add(ram, 1 * MiB, 1 * MiB, VMEM_RAM_ANON, VMEM_RAM_4K, false);
	vmem_ram_region_config_default(&c);
	c.size = 0;
	add_fails(ram, &c, VMEM_EINVAL, "non-zero multiple of 4096");
	c.size = 4097;
	add_fails(ram, &c, VMEM_EINVAL, "non-zero multiple of 4096");
	c.size = 4096;
	c.gpa = 100;
	add_fails(ram, &c, VMEM_EINVAL, "not aligned");
	c.gpa = 1 * MiB + 4096 * 10;                                   /* inside region 0 */
	add_fails(ram, &c, VMEM_EINVAL, "overlaps region 0");
	c.gpa = 0;
	c.size = 1 * MiB + 4096;                                       /* reaches into it */
	add_fails(ram, &c, VMEM_EINVAL, "overlaps region 0");
	c.gpa = UINT64_MAX - 4095;
	c.size = 8192;
	add_fails(ram, &c, VMEM_EINVAL, "52-bit");
	c.gpa = 0;
	c.size = 4096;
	c.pages = (enum vmem_ram_pages)7;
	add_fails(ram, &c, VMEM_EINVAL, "pages 7");
	c.pages = VMEM_RAM_4K;
	c.backing = (enum vmem_ram_backing)3;
	add_fails(ram, &c, VMEM_EINVAL, "backing 3");
	c.backing = VMEM_RAM_ANON;
	c.nodes = "0";
	add_fails(ram, &c, VMEM_EINVAL, "without a NUMA policy");
	c.numa = VMEM_NUMA_BIND;
	c.nodes = "63";
	add_fails(ram, &c, VMEM_EINVAL, "NUMA nodes");
	c.numa = VMEM_NUMA_DEFAULT;
	c.nodes = NULL;
	c.pages = VMEM_RAM_HUGETLB;
	c.size = 4096;
	add_fails(ram, &c, VMEM_EINVAL, "multiple of 2097152");
	assert_int_equal(vmem_guest_ram_add(NULL, &c, NULL, err, sizeof(err)), VMEM_EINVAL);
	assert_int_equal(vmem_guest_ram_add(ram, NULL, NULL, err, sizeof(err)), VMEM_EINVAL);
	/* Nothing was added by the failures. */
	assert_int_equal(vmem_guest_ram_regions(ram), 1);
	vmem_guest_ram_destroy(ram);
}

static void test_ram_memfd_region_is_the_files_content(void **state)
{
	struct vmem_guest_ram *ram = make();
	struct vmem_ram_region r;
	char buf[16];

	(void)state;
	add(ram, 0, 1 * MiB, VMEM_RAM_MEMFD, VMEM_RAM_4K, true);
	assert_int_equal(vmem_guest_ram_region(ram, 0, &r), 0);
	assert_true(r.fd >= 0);
	memcpy((char *)r.hva + 8192, "guest wrote", 12);
	assert_int_equal(pread(r.fd, buf, 12, 8192), 12);
	assert_string_equal(buf, "guest wrote");
	vmem_guest_ram_destroy(ram);
}

/* AnonHugePages (kB) of the mapping that starts at addr, from /proc/self/smaps. */
static long anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo == (uintptr_t)addr;
		else if (in && sscanf(line, "AnonHugePages: %ld", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void test_ram_thp_region_gets_huge_pages(void **state)
{
	struct vmem_guest_ram *ram = make();
	struct vmem_ram_region r;
	char mode[128] = "";
	FILE *f;
	long kb;

	(void)state;
	add(ram, 0, 8 * MiB, VMEM_RAM_ANON, VMEM_RAM_THP, true);
	assert_int_equal(vmem_guest_ram_region(ram, 0, &r), 0);
	kb = anon_huge_kb(r.hva);
	printf("THP region: AnonHugePages %ld kB of 8192 kB\n", kb);
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f && fgets(mode, sizeof(mode), f) && !strstr(mode, "[never]"))
		assert_true(kb >= 2048);             /* at least one 2 MiB page */
	if (f)
		fclose(f);
	vmem_guest_ram_destroy(ram);
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static bool write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

static void test_ram_hugetlb_empty_pool_names_nr_hugepages(void **state)
{
	const char *knob = "/proc/sys/vm/nr_hugepages";
	struct vmem_guest_ram *ram = make();
	struct vmem_ram_region_config c;
	struct vmem_ram_region r;
	long before = read_long(knob);
	char err[256];

	(void)state;
	vmem_ram_region_config_default(&c);
	c.size = 4 * MiB;
	c.pages = VMEM_RAM_HUGETLB;
	/* With the pool at 0 (this machine's default) the error names the knob. */
	if (before == 0)
		add_fails(ram, &c, VMEM_EINVAL, "vm.nr_hugepages");
	/* With four pages in the pool (root raises it; restored after): an anonymous and a
	 * memfd region of two pages each. */
	if (before >= 0 && write_long(knob, before + 4) && read_long(knob) == before + 4) {
		uint64_t on[1], absent;

		c.prealloc = true;
		if (vmem_guest_ram_add(ram, &c, NULL, err, sizeof(err))) {
			write_long(knob, before);
			fail_msg("hugetlb with 2 free pages: %s", err);
		}
		assert_int_equal(vmem_guest_ram_region(ram, 0, &r), 0);
		assert_int_equal(r.page_bytes, 2 * MiB);
		memset(r.hva, 0x5a, 4 * MiB);
		/* Two 2 MiB pages, populated (on node 0 or, past on[], counted absent). */
		assert_int_equal(vmem_guest_ram_node_pages(ram, 0, on, 1, &absent), 0);
		assert_int_equal(on[0] + absent, 2);
		assert_int_equal(on[0], 2);
		/* The other two pages back a memfd region (MFD_HUGETLB). */
		c.gpa = 1ull << 30;
		c.backing = VMEM_RAM_MEMFD;
		if (vmem_guest_ram_add(ram, &c, NULL, err, sizeof(err))) {
			write_long(knob, before);
			fail_msg("hugetlb memfd with 2 free pages: %s", err);
		}
		assert_int_equal(vmem_guest_ram_region(ram, 1, &r), 0);
		assert_true(r.fd >= 0);
		assert_int_equal(r.page_bytes, 2 * MiB);
		memset(r.hva, 0x6b, 4 * MiB);
		vmem_guest_ram_destroy(ram);
		ram = NULL;
		write_long(knob, before);
	} else {
		printf("hugetlb: cannot raise vm.nr_hugepages here; only the empty-pool error "
		       "was checked\n");
	}
	vmem_guest_ram_destroy(ram);
}

static void test_ram_numa_policies_place_pages_on_the_node(void **state)
{
	enum vmem_ram_numa modes[] = { VMEM_NUMA_BIND, VMEM_NUMA_PREFERRED, VMEM_NUMA_INTERLEAVE };
	struct vmem_guest_ram *ram = make();
	char err[256];

	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct vmem_ram_region_config c;
		uint64_t on[8], absent;
		unsigned idx;

		vmem_ram_region_config_default(&c);
		c.gpa = k * 4 * MiB;
		c.size = 2 * MiB;
		c.numa = modes[k];
		c.nodes = "0";
		if (vmem_guest_ram_add(ram, &c, &idx, err, sizeof(err)))
			fail_msg("numa mode %u: %s", k, err);
		/* Nothing populated yet: all 512 pages absent. */
		assert_int_equal(vmem_guest_ram_node_pages(ram, idx, on, 8, &absent), 0);
		assert_int_equal(absent, 512);
		memset(vmem_guest_ram_gpa_to_hva(ram, c.gpa), 1, c.size);
		assert_int_equal(vmem_guest_ram_node_pages(ram, idx, on, 8, &absent), 0);
		assert_int_equal(on[0], 512);
		assert_int_equal(absent, 0);
	}
	vmem_guest_ram_destroy(ram);
}

static void test_ram_registers_as_kvm_memory_slots(void **state)
{
	struct vmem_guest_ram *ram = make();
	char err[256];
	int kvm, vm;

	(void)state;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("KVM: /dev/kvm cannot be opened (%s): slot registration NOT tested\n",
		       strerror(errno));
		vmem_guest_ram_destroy(ram);
		skip();
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		printf("KVM: KVM_CREATE_VM failed (%s): slot registration NOT tested\n",
		       strerror(errno));
		close(kvm);
		vmem_guest_ram_destroy(ram);
		skip();
	}
	add(ram, 0, 2 * MiB, VMEM_RAM_ANON, VMEM_RAM_4K, false);
	add(ram, 1ull << 32, 2 * MiB, VMEM_RAM_MEMFD, VMEM_RAM_4K, false);
	add(ram, 8 * MiB, 4 * MiB, VMEM_RAM_ANON, VMEM_RAM_THP, false);
	if (vmem_guest_ram_kvm_register(ram, vm, 0, err, sizeof(err)))
		fail_msg("%s", err);
	/* A bad VM fd is refused with the kernel's reason. */
	assert_int_equal(vmem_guest_ram_kvm_register(ram, kvm, 0, err, sizeof(err)), VMEM_EIO);
	assert_non_null(strstr(err, "KVM_SET_USER_MEMORY_REGION slot 0"));
	assert_int_equal(vmem_guest_ram_kvm_register(ram, -1, 0, err, sizeof(err)), VMEM_EINVAL);
	close(vm);
	close(kvm);
	vmem_guest_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_two_regions_lookups_both_ways),
		cmocka_unit_test(test_ram_bad_arguments_rejected_with_a_message),
		cmocka_unit_test(test_ram_memfd_region_is_the_files_content),
		cmocka_unit_test(test_ram_thp_region_gets_huge_pages),
		cmocka_unit_test(test_ram_hugetlb_empty_pool_names_nr_hugepages),
		cmocka_unit_test(test_ram_numa_policies_place_pages_on_the_node),
		cmocka_unit_test(test_ram_registers_as_kvm_memory_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
