/*
 * Configuration of the translation machine (libvmem/mmu_config.c): every documented key
 * round-trips through vmem_mmu_config_set / vmem_mmu_config_get, takes a non-default
 * value of its type, rejects bad values with VMEM_EINVAL and a message naming the key
 * and what was expected (leaving the configuration as it was), config files report
 * FILE:LINE, unknown keys are rejected, and vmem_mmu_create refuses inconsistent
 * configurations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/mmu.h"

/*
 * Every key with a valid non-default value and what vmem_mmu_config_get must print for
 * it afterwards (sizes in bytes, booleans as 0/1, geometries as ENTRIES:WAYS:REPL with
 * the default replacement kept when the value names none).
 */
static const struct key_value {
	const char *key, *set, *get;
} key_values[] = {
	{ "mode", "shadow", "shadow" },
	{ "guest.levels", "5", "5" },
	{ "host.levels", "5", "5" },
	{ "guest.page", "1g", "1g" },
	{ "host.page", "2M", "2m" },                         /* page sizes: any case */
	{ "guest.mem", "536870912", "512m" },                /* 512 << 20, shown with its suffix */
	{ "host.mem", "1099511627776", "1t" },               /* 1 << 40 */
	{ "guest.placement", "random", "random" },
	{ "host.placement", "random", "random" },
	{ "pcid", "off", "0" },
	{ "pcid.mode", "linux", "linux" },
	{ "pcid.count", "12", "12" },
	{ "vpid", "no", "0" },
	{ "shadow.sync", "trap", "trap" },
	{ "shadow.roots", "7", "7" },
	{ "shadow.max_pages", "1000", "1000" },
	{ "seed", "0x10", "16" },                            /* strtoull base 0 */
	{ "limit.vms", "2", "2" },
	{ "limit.aspaces", "100000", "100000" },
	{ "tlb.l1d.4k", "128:8:plru", "128:8:plru" },
	{ "tlb.l1d.2m", "16", "16:0:lru" },
	{ "tlb.l1d.1g", "0", "0:0:lru" },
	{ "tlb.l1i.4k", "64:4:random", "64:4:random" },
	{ "tlb.l1i.2m", "4:2", "4:2:lru" },
	{ "tlb.l1i.1g", "2", "2:0:lru" },
	{ "tlb.l2", "2048:16", "2048:16:lru" },
	{ "tlb.l2.1g", "8:8:plru", "8:8:plru" },
	{ "pwc.pml5e", "1", "1:0:lru" },
	{ "pwc.pml4e", "2", "2:0:lru" },
	{ "pwc.pdpte", "8:2", "8:2:lru" },
	{ "pwc.pde", "64:4:random", "64:4:random" },
	{ "pwc.nested", "guest_physical", "guest_physical" },
	{ "host.pwc.pml5e", "0", "0:0:lru" },
	{ "host.pwc.pml4e", "0", "0:0:lru" },
	{ "host.pwc.pdpte", "16", "16:0:lru" },
	{ "host.pwc.pde", "16:4", "16:4:lru" },
	{ "ntlb", "64:8:plru", "64:8:plru" },
	{ "cost.access", "5", "5" },
	{ "cost.tlb_l1_hit", "1", "1" },
	{ "cost.tlb_l2_hit", "10", "10" },
	{ "cost.walk_start", "3", "3" },
	{ "cost.ref_mem", "30", "30" },
	{ "cost.ref_pwc", "2", "2" },
	{ "cost.ref_ntlb", "1", "1" },
	{ "cost.vm_exit", "4294967295", "4294967295" },     /* UINT32_MAX fits */
	{ "cost.guest_fault", "6000", "6000" },
	{ "cost.host_fault", "7000", "7000" },
	{ "cost.shadow_fill", "700", "700" },
	{ "cost.pte_emulate", "900", "900" },
	{ "cost.resync", "3500", "3500" },
};

#define NKV (sizeof(key_values) / sizeof(key_values[0]))

static const struct key_value *kv_find(const char *key)
{
	for (size_t i = 0; i < NKV; i++)
		if (strcmp(key_values[i].key, key) == 0)
			return &key_values[i];
	return NULL;
}

static void test_config_keys_are_unique_with_help_and_all_covered_here(void **state)
{
	const struct vmem_config_key *k = vmem_mmu_config_keys();
	size_t n = 0;

	(void)state;
	for (; k[n].key; n++) {
		assert_non_null(k[n].help);
		assert_true(strlen(k[n].help) > 10);
		for (size_t j = 0; j < n; j++)
			assert_string_not_equal(k[j].key, k[n].key);
		if (!kv_find(k[n].key))
			fail_msg("key %s has no case in this test", k[n].key);
	}
	/* And every key tested here is documented. */
	assert_int_equal(n, NKV);
}

static void test_config_every_key_roundtrips_get_set_get(void **state)
{
	const struct vmem_config_key *k = vmem_mmu_config_keys();
	struct vmem_mmu_config c, d;

	(void)state;
	vmem_mmu_config_default(&c);
	vmem_mmu_config_default(&d);
	for (size_t i = 0; k[i].key; i++) {
		char v1[128], v2[128], err[256] = "";

		assert_int_equal(vmem_mmu_config_get(&c, k[i].key, v1, sizeof(v1)), 0);
		if (vmem_mmu_config_set(&c, k[i].key, v1, err, sizeof(err)))
			fail_msg("%s=%s does not parse back: %s", k[i].key, v1, err);
		assert_int_equal(vmem_mmu_config_get(&c, k[i].key, v2, sizeof(v2)), 0);
		assert_string_equal(v1, v2);
	}
	/* Writing back every default changed nothing. */
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_config_every_key_takes_a_non_default_value(void **state)
{
	struct vmem_mmu_config c, d;

	(void)state;
	vmem_mmu_config_default(&d);
	for (size_t i = 0; i < NKV; i++) {
		char def[128], got[128], err[256] = "";

		vmem_mmu_config_default(&c);
		assert_int_equal(vmem_mmu_config_get(&c, key_values[i].key, def, sizeof(def)), 0);
		if (vmem_mmu_config_set(&c, key_values[i].key, key_values[i].set, err, sizeof(err)))
			fail_msg("%s=%s rejected: %s", key_values[i].key, key_values[i].set, err);
		assert_int_equal(vmem_mmu_config_get(&c, key_values[i].key, got, sizeof(got)), 0);
		assert_string_equal(got, key_values[i].get);
		/* The value differs from the default, so the key reached its own field. */
		assert_string_not_equal(got, def);
		assert_memory_not_equal(&c, &d, sizeof(c));
		/* And that field only: setting the default back restores the whole struct. */
		assert_int_equal(vmem_mmu_config_set(&c, key_values[i].key, def, NULL, 0), 0);
		assert_memory_equal(&c, &d, sizeof(c));
	}
}

static void test_config_set_lands_in_the_documented_fields(void **state)
{
	struct vmem_mmu_config c;

	(void)state;
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_set(&c, "guest.mem", "4g", NULL, 0), 0);
	assert_int_equal(c.guest_mem, 4ull << 30);
	assert_int_equal(vmem_mmu_config_set(&c, "host.mem", "3G", NULL, 0), 0);
	assert_int_equal(c.host_mem, 3ull << 30);
	assert_int_equal(vmem_mmu_config_set(&c, "guest.mem", "8mb", NULL, 0), 0);
	assert_int_equal(c.guest_mem, 8ull << 20);
	assert_int_equal(vmem_mmu_config_set(&c, "mode", "nested", NULL, 0), 0);
	assert_int_equal(c.mode, VMEM_MODE_NESTED);
	assert_int_equal(vmem_mmu_config_set(&c, "pcid", "true", NULL, 0), 0);
	assert_true(c.pcid);
	assert_int_equal(vmem_mmu_config_set(&c, "pcid", "false", NULL, 0), 0);
	assert_false(c.pcid);
	assert_int_equal(vmem_mmu_config_set(&c, "vpid", "0", NULL, 0), 0);
	assert_false(c.vpid);
	assert_int_equal(vmem_mmu_config_set(&c, "vpid", "yes", NULL, 0), 0);
	assert_true(c.vpid);
	assert_int_equal(vmem_mmu_config_set(&c, "pwc.pde", "16:2:plru", NULL, 0), 0);
	assert_int_equal(c.pwc.level[2].entries, 16);
	assert_int_equal(c.pwc.level[2].ways, 2);
	assert_int_equal(c.pwc.level[2].repl, VMEM_REPL_PLRU);
	assert_int_equal(vmem_mmu_config_set(&c, "host.pwc.pml4e", "8", NULL, 0), 0);
	assert_int_equal(c.host_pwc.level[4].entries, 8);
	assert_int_equal(c.pwc.level[4].entries, 4);          /* guest one untouched */
	assert_int_equal(vmem_mmu_config_set(&c, "tlb.l1i.2m", "16:4:random", NULL, 0), 0);
	assert_int_equal(c.tlb.l1i[VMEM_PAGE_2M].entries, 16);
	assert_int_equal(c.tlb.l1i[VMEM_PAGE_2M].repl, VMEM_REPL_RANDOM);
	assert_int_equal(vmem_mmu_config_set(&c, "tlb.l2.1g", "32:4", NULL, 0), 0);
	assert_int_equal(c.tlb.l2_1g.entries, 32);
	assert_int_equal(vmem_mmu_config_set(&c, "shadow.sync", "unsync", NULL, 0), 0);
	assert_int_equal(c.shadow_sync, VMEM_SHADOW_UNSYNC);
	assert_int_equal(vmem_mmu_config_set(&c, "cost.resync", "1", NULL, 0), 0);
	assert_int_equal(c.cost.resync, 1);
	assert_int_equal(vmem_mmu_config_set(&c, "seed", "18446744073709551615", NULL, 0), 0);
	assert_int_equal(c.seed, UINT64_MAX);
}

/* A bad value, the phrase the message must contain, and the key's type in words. */
static const struct bad_value {
	const char *key, *value, *expect;
} bad_values[] = {
	{ "mode", "hybrid", "native, nested or shadow" },
	{ "mode", "", "native, nested or shadow" },
	{ "guest.levels", "3", "4 or 5" },
	{ "host.levels", "4.0", "4 or 5" },
	{ "guest.page", "8k", "4k, 2m or 1g" },
	{ "guest.mem", "12q", "a size such as 512m or 16g" },
	{ "guest.mem", "-1", "a size such as 512m or 16g" },
	{ "host.mem", "17179869184t", "a size such as 512m or 16g" },   /* overflows 2^64 */
	{ "host.mem", "", "a size such as 512m or 16g" },
	{ "pcid", "maybe", "0 or 1" },
	{ "vpid", "2", "0 or 1" },
	{ "shadow.sync", "lazy", "trap or unsync" },
	{ "guest.placement", "first", "sequential or random" },
	{ "shadow.roots", "4294967296", "an unsigned number" },       /* UINT32_MAX + 1 */
	{ "shadow.roots", "-4", "an unsigned number" },
	{ "cost.vm_exit", "12x", "an unsigned number" },
	{ "seed", "12x", "an unsigned number" },
	{ "seed", "99999999999999999999", "an unsigned number" },     /* > UINT64_MAX */
	{ "tlb.l2", "48:5", "ENTRIES[:WAYS[:lru|plru|random]]" },      /* 48 % 5 != 0 */
	{ "tlb.l2", "48:4", "power-of-two number of sets" },          /* 12 sets */
	{ "tlb.l2", "4:8", "ENTRIES" },                               /* ways > entries */
	{ "tlb.l2", "24:3:plru", "ENTRIES" },                         /* PLRU, 3 ways */
	{ "tlb.l2", "64:4:fifo", "lru|plru|random" },
	{ "ntlb", "abc", "ENTRIES" },
	{ "pwc.pde", "32:4:lru:x", "ENTRIES" },
	{ "pwc.pde", "", "ENTRIES" },
};

static void test_config_bad_values_are_einval_naming_key_and_expectation(void **state)
{
	struct vmem_mmu_config c, d;

	(void)state;
	vmem_mmu_config_default(&d);
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct bad_value *b = &bad_values[i];
		char err[256] = "", quoted[128];

		vmem_mmu_config_default(&c);
		assert_int_equal(vmem_mmu_config_set(&c, b->key, b->value, err, sizeof(err)),
				 VMEM_EINVAL);
		snprintf(quoted, sizeof(quoted), "'%s'", b->value);
		if (strncmp(err, b->key, strlen(b->key)) != 0 || !strstr(err, quoted) ||
		    !strstr(err, b->expect))
			fail_msg("%s=%s: message '%s' should name the key, the value and '%s'",
				 b->key, b->value, err, b->expect);
		/* A rejected value leaves the configuration as it was. */
		if (memcmp(&c, &d, sizeof(c)) != 0)
			fail_msg("%s=%s was rejected but changed the configuration", b->key,
				 b->value);
	}
}

static void test_config_unknown_key_is_rejected_by_set_get_and_assign(void **state)
{
	struct vmem_mmu_config c, d;
	char err[256] = "", buf[64];

	(void)state;
	vmem_mmu_config_default(&c);
	vmem_mmu_config_default(&d);
	assert_int_equal(vmem_mmu_config_set(&c, "tlb.l3", "64", err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "unknown key 'tlb.l3'"));
	assert_int_equal(vmem_mmu_config_set(&c, "", "1", err, sizeof(err)), VMEM_EINVAL);
	assert_int_equal(vmem_mmu_config_set(&c, "Mode", "native", NULL, 0), VMEM_EINVAL);
	assert_int_equal(vmem_mmu_config_get(&c, "tlb.l3", buf, sizeof(buf)), VMEM_ENOENT);
	assert_int_equal(vmem_mmu_config_assign(&c, "nosuch=1", err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "unknown key 'nosuch'"));
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_config_assign_splits_at_first_equals(void **state)
{
	struct vmem_mmu_config c;
	char err[256] = "";

	(void)state;
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_assign(&c, "guest.levels=5", err, sizeof(err)), 0);
	assert_int_equal(c.guest_levels, 5);
	assert_int_equal(vmem_mmu_config_assign(&c, "guest.levels", err, sizeof(err)),
			 VMEM_EINVAL);
	assert_non_null(strstr(err, "expected key=value"));
	assert_int_equal(vmem_mmu_config_assign(&c, "=5", err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "expected key=value"));
	/* The value is everything after the first '=': "nested=1" is not a mode. */
	assert_int_equal(vmem_mmu_config_assign(&c, "mode=nested=1", err, sizeof(err)),
			 VMEM_EINVAL);
	assert_non_null(strstr(err, "mode: bad value 'nested=1'"));
	/* No blanks are stripped on the command-line form. */
	assert_int_equal(vmem_mmu_config_assign(&c, "mode= nested", err, sizeof(err)),
			 VMEM_EINVAL);
	assert_int_equal(c.mode, VMEM_MODE_NATIVE);
}

/* Writes text to a fresh temporary file; returns its path in path (>= 32 bytes). */
static void write_tmp(char *path, const char *text)
{
	int fd;
	FILE *f;

	strcpy(path, "/tmp/vmem-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_config_load_applies_lines_and_skips_comments(void **state)
{
	struct vmem_mmu_config c;
	char path[64], err[512] = "";

	(void)state;
	write_tmp(path, "# libvmem configuration\n"
			"guest.levels = 5   # trailing comment\n"
			"  mode=nested\r\n"
			"\n"
			"\t\ttlb.l2 =\t1024:8 \n"
			"host.mem=2g");                 /* no final newline */
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.guest_levels, 5);
	assert_int_equal(c.mode, VMEM_MODE_NESTED);
	assert_int_equal(c.tlb.l2.entries, 1024);
	assert_int_equal(c.tlb.l2.ways, 8);
	assert_int_equal(c.host_mem, 2ull << 30);
	unlink(path);
}

/* Loads text; expects rc and a message that starts with "PATH:LINE: " and has `has`. */
static void expect_load_error(const char *text, int rc, unsigned line, const char *has)
{
	struct vmem_mmu_config c;
	char path[64], err[512] = "", prefix[96];

	write_tmp(path, text);
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_load(&c, path, err, sizeof(err)), rc);
	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, has))
		fail_msg("message '%s' should start with '%s' and contain '%s'", err, prefix, has);
	unlink(path);
}

static void test_config_load_bad_line_reports_file_and_line(void **state)
{
	static char longline[700];

	(void)state;
	/* Line 5 has a bad geometry (12 sets); comments and blank lines count as lines. */
	expect_load_error("# comment\nguest.levels=5\n\nmode = nested\ntlb.l2 = 48:4\n",
			  VMEM_EINVAL, 5, "tlb.l2: bad value '48:4': expected ENTRIES");
	/* Line 2 has no '='. */
	expect_load_error("mode=native\npcid\n", VMEM_EINVAL, 2, "'pcid': expected key=value");
	/* Line 3 names no key. */
	expect_load_error("\n\nfoo.bar = 1\n", VMEM_EINVAL, 3, "unknown key 'foo.bar'");
	/* Line 1 longer than the 510 bytes a line may have. */
	memset(longline, 'x', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	expect_load_error(longline, VMEM_EFORMAT, 1, "line longer than");
}

static void test_config_load_stops_at_first_error_keeping_earlier_lines(void **state)
{
	struct vmem_mmu_config c;
	char path[64], err[512] = "";

	(void)state;
	write_tmp(path, "guest.levels=5\nmode=bogus\nhost.levels=5\n");
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_load(&c, path, err, sizeof(err)), VMEM_EINVAL);
	assert_int_equal(c.guest_levels, 5);         /* line 1 applied */
	assert_int_equal(c.mode, VMEM_MODE_NATIVE);  /* line 2 rejected */
	assert_int_equal(c.host_levels, 4);          /* line 3 never read */
	unlink(path);
}

static void test_config_load_missing_file_is_eio_naming_it(void **state)
{
	struct vmem_mmu_config c;
	char err[512] = "";

	(void)state;
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_load(&c, "/nonexistent/vmem.conf", err, sizeof(err)),
			 VMEM_EIO);
	assert_non_null(strstr(err, "/nonexistent/vmem.conf: cannot open"));
}

/* A NUL byte is named as such (not as a long line); a directory is not a file. */
static void test_config_load_nul_byte_and_directory_name_the_cause(void **state)
{
	static const char text[] = "mode=native\npcid=1\0\n";
	struct vmem_mmu_config c;
	char path[64], err[512] = "", want[128];
	int fd;

	(void)state;
	strcpy(path, "/tmp/vmem-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_load(&c, path, err, sizeof(err)), VMEM_EFORMAT);
	snprintf(want, sizeof(want), "%s:2: NUL byte: expected text, KEY=VALUE lines", path);
	assert_string_equal(err, want);
	unlink(path);

	assert_int_equal(vmem_mmu_config_load(&c, "/tmp", err, sizeof(err)), VMEM_EIO);
	assert_string_equal(err, "/tmp: is a directory; expected a file of KEY=VALUE lines");
}

static void test_config_mode_all_is_refused_with_the_reason(void **state)
{
	struct vmem_mmu_config c;
	char err[512] = "";

	(void)state;
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_set(&c, "mode", "all", err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "mode: bad value 'all': expected native, nested or shadow"));
	assert_non_null(strstr(err, "vmemsim --mode all"));
	assert_int_equal(c.mode, VMEM_MODE_NATIVE);
}

static void test_mmu_create_rejects_inconsistent_configs(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m = (struct vmem_mmu *)&c;

	(void)state;
	vmem_mmu_config_default(&c);
	c.guest_mem = 3ull << 20;                   /* not a multiple of 2 MiB */
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	assert_null(m);
	vmem_mmu_config_default(&c);
	c.host_mem = 1ull << 20;                    /* below 2 MiB */
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	vmem_mmu_config_default(&c);
	c.shadow_roots = 0;
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	vmem_mmu_config_default(&c);
	c.shadow_max_pages = 3;                     /* no room for a 4-level root and path */
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	vmem_mmu_config_default(&c);
	c.pcid_count = 0;
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	c.pcid_count = 4096;                        /* PCIDs 1..4095 */
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	vmem_mmu_config_default(&c);
	c.host_levels = 3;
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	vmem_mmu_config_default(&c);
	c.guest_page = VMEM_PAGE_SIZES;
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	vmem_mmu_config_default(&c);
	c.tlb.l2 = (struct vmem_cache_geom){ 48, 4, VMEM_REPL_LRU };   /* 12 sets */
	assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
	assert_null(m);
	/* The smallest valid memories: 2 MiB each. */
	vmem_mmu_config_default(&c);
	c.guest_mem = c.host_mem = 2ull << 20;
	assert_int_equal(vmem_mmu_create(&c, &m), 0);
	assert_non_null(m);
	vmem_mmu_destroy(m);
}

/* One broken constraint per case, and the message vmem_mmu_config_check must give. */
enum broken {
	B_GUEST_MEM_ODD, B_GUEST_MEM_SMALL, B_HOST_MEM_ODD, B_HOST_MEM_SMALL, B_SHADOW_ROOTS,
	B_SHADOW_MAX_PAGES, B_PCID_COUNT_ZERO, B_PCID_COUNT_BIG, B_GUEST_LEVELS, B_HOST_LEVELS,
	B_MODE, B_GUEST_PAGE, B_HOST_PAGE, B_GUEST_PLACEMENT, B_HOST_PLACEMENT, B_PCID_MODE,
	B_SHADOW_SYNC, B_PWC_NESTED, B_GEOM_SETS, B_GEOM_MULTIPLE, B_GEOM_PLRU, B_GEOM_REPL,
	B_LIMIT_VMS_ZERO, B_LIMIT_VMS_BIG, B_LIMIT_ASPACES, B_GEOM_ENTRIES, B_CASES
};

static void break_config(struct vmem_mmu_config *c, enum broken b)
{
	switch (b) {
	case B_GUEST_MEM_ODD: c->guest_mem = 3ull << 20; break;
	case B_GUEST_MEM_SMALL: c->guest_mem = 1ull << 20; break;
	case B_HOST_MEM_ODD: c->host_mem = 5ull << 20; break;
	case B_HOST_MEM_SMALL: c->host_mem = 0; break;
	case B_SHADOW_ROOTS: c->shadow_roots = 0; break;
	case B_SHADOW_MAX_PAGES: c->shadow_max_pages = 3; break;
	case B_PCID_COUNT_ZERO: c->pcid_count = 0; break;
	case B_PCID_COUNT_BIG: c->pcid_count = 4096; break;
	case B_GUEST_LEVELS: c->guest_levels = 3; break;
	case B_HOST_LEVELS: c->host_levels = 6; break;
	case B_MODE: c->mode = VMEM_MODES; break;
	case B_GUEST_PAGE: c->guest_page = VMEM_PAGE_SIZES; break;
	case B_HOST_PAGE: c->host_page = VMEM_PAGE_SIZES; break;
	case B_GUEST_PLACEMENT: c->guest_placement = 2; break;
	case B_HOST_PLACEMENT: c->host_placement = 7; break;
	case B_PCID_MODE: c->pcid_mode = (enum vmem_pcid_mode)2; break;
	case B_SHADOW_SYNC: c->shadow_sync = (enum vmem_shadow_sync)2; break;
	case B_PWC_NESTED: c->pwc_nested = (enum vmem_pwc_nested)2; break;
	case B_GEOM_SETS: c->tlb.l2 = (struct vmem_cache_geom){ 48, 4, VMEM_REPL_LRU }; break;
	case B_GEOM_MULTIPLE: c->pwc.level[2] = (struct vmem_cache_geom){ 30, 4, VMEM_REPL_LRU }; break;
	case B_GEOM_PLRU: c->ntlb = (struct vmem_cache_geom){ 24, 3, VMEM_REPL_PLRU }; break;
	case B_GEOM_REPL: c->host_pwc.level[3] = (struct vmem_cache_geom){ 4, 0, (enum vmem_repl)9 }; break;
	case B_LIMIT_VMS_ZERO: c->limit_vms = 0; break;
	case B_LIMIT_VMS_BIG: c->limit_vms = 65537; break;
	case B_LIMIT_ASPACES: c->limit_aspaces = 0; break;
	/* Beyond what -s accepts (16m): a fully associative 2^32 - 2^16 entries passed. */
	case B_GEOM_ENTRIES:
		c->ntlb = (struct vmem_cache_geom){ 0xffff0000u, 0, VMEM_REPL_LRU };
		break;
	case B_CASES: break;
	}
}

static const char *const broken_message[B_CASES] = {
	[B_GUEST_MEM_ODD] = "guest.mem=3m: must be a multiple of 2m, at least 2m",
	[B_GUEST_MEM_SMALL] = "guest.mem=1m: must be a multiple of 2m, at least 2m",
	[B_HOST_MEM_ODD] = "host.mem=5m: must be a multiple of 2m, at least 2m",
	[B_HOST_MEM_SMALL] = "host.mem=0: must be a multiple of 2m, at least 2m",
	[B_SHADOW_ROOTS] = "shadow.roots=0: must be at least 1",
	[B_SHADOW_MAX_PAGES] = "shadow.max_pages=3: must be 0 (derived from guest.mem) or at "
			       "least guest.levels=4, room for a root and one path below it",
	[B_PCID_COUNT_ZERO] = "pcid.count=0: must be 1..4095",
	[B_PCID_COUNT_BIG] = "pcid.count=4096: must be 1..4095",
	[B_GUEST_LEVELS] = "guest.levels=3: must be 4 or 5",
	[B_HOST_LEVELS] = "host.levels=6: must be 4 or 5",
	[B_MODE] = "mode=3: expected native, nested or shadow",
	[B_GUEST_PAGE] = "guest.page=3: expected 4k, 2m or 1g",
	[B_HOST_PAGE] = "host.page=3: expected 4k, 2m or 1g",
	[B_GUEST_PLACEMENT] = "guest.placement=2: expected sequential or random",
	[B_HOST_PLACEMENT] = "host.placement=7: expected sequential or random",
	[B_PCID_MODE] = "pcid.mode=2: expected per_as or linux",
	[B_SHADOW_SYNC] = "shadow.sync=2: expected trap or unsync",
	[B_PWC_NESTED] = "pwc.nested=2: expected combined or guest_physical",
	[B_GEOM_SETS] = "tlb.l2=48:4:lru: ENTRIES / WAYS (the number of sets) must be a power of two",
	[B_GEOM_MULTIPLE] = "pwc.pde=30:4:lru: ENTRIES must be a multiple of WAYS",
	[B_GEOM_PLRU] = "ntlb=24:3:plru: plru needs a power-of-two number of WAYS",
	[B_GEOM_REPL] = "host.pwc.pdpte=4:0:?: replacement must be lru, plru or random",
	[B_LIMIT_VMS_ZERO] = "limit.vms=0: must be 1..65536",
	[B_LIMIT_VMS_BIG] = "limit.vms=65537: must be 1..65536",
	[B_LIMIT_ASPACES] = "limit.aspaces=0: must be at least 1",
	[B_GEOM_ENTRIES] = "ntlb=4294901760:0:lru: ENTRIES must be at most 16m",
};

static void test_config_check_names_key_value_and_constraint(void **state)
{
	struct vmem_mmu_config c;
	struct vmem_mmu *m = (struct vmem_mmu *)&c;
	char err[512];

	(void)state;
	vmem_mmu_config_default(&c);
	strcpy(err, "untouched");
	assert_int_equal(vmem_mmu_config_check(&c, err, sizeof(err)), 0);
	assert_string_equal(err, "untouched");
	for (int b = 0; b < B_CASES; b++) {
		vmem_mmu_config_default(&c);
		break_config(&c, (enum broken)b);
		err[0] = '\0';
		assert_int_equal(vmem_mmu_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
		if (strncmp(err, broken_message[b], strlen(broken_message[b])) != 0)
			fail_msg("case %d: message '%s', expected '%s'", b, err, broken_message[b]);
		/* The same verdict without a message, and from vmem_mmu_create. */
		assert_int_equal(vmem_mmu_config_check(&c, NULL, 0), VMEM_EINVAL);
		assert_int_equal(vmem_mmu_create(&c, &m), VMEM_EINVAL);
		assert_null(m);
	}
}

/*
 * An absent cache (0 entries) may keep any ways in the struct (examples/walk_cost.c sets
 * entries only): it passes the check and reads as "0:0:REPL", which set takes back.
 */
static void test_config_absent_cache_reads_without_ways(void **state)
{
	struct vmem_mmu_config c, d;
	char v1[64], v2[64];

	(void)state;
	vmem_mmu_config_default(&c);
	c.ntlb = (struct vmem_cache_geom){ 0, 0xff0a0000u, VMEM_REPL_LRU };
	assert_int_equal(vmem_mmu_config_check(&c, NULL, 0), 0);
	assert_int_equal(vmem_mmu_config_get(&c, "ntlb", v1, sizeof(v1)), 0);
	assert_string_equal(v1, "0:0:lru");
	d = c;
	assert_int_equal(vmem_mmu_config_set(&d, "ntlb", v1, NULL, 0), 0);
	assert_int_equal(vmem_mmu_config_get(&d, "ntlb", v2, sizeof(v2)), 0);
	assert_string_equal(v1, v2);
}

/* Keys set from text cannot express every broken value, but those they can, it names. */
static void test_config_check_after_set_names_the_key(void **state)
{
	struct vmem_mmu_config c;
	char err[512] = "";

	(void)state;
	vmem_mmu_config_default(&c);
	assert_int_equal(vmem_mmu_config_set(&c, "guest.levels", "5", NULL, 0), 0);
	assert_int_equal(vmem_mmu_config_set(&c, "shadow.max_pages", "4", NULL, 0), 0);
	assert_int_equal(vmem_mmu_config_check(&c, err, sizeof(err)), VMEM_EINVAL);
	assert_non_null(strstr(err, "shadow.max_pages=4: "));
	assert_non_null(strstr(err, "guest.levels=5"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_keys_are_unique_with_help_and_all_covered_here),
		cmocka_unit_test(test_config_every_key_roundtrips_get_set_get),
		cmocka_unit_test(test_config_every_key_takes_a_non_default_value),
		cmocka_unit_test(test_config_set_lands_in_the_documented_fields),
		cmocka_unit_test(test_config_bad_values_are_einval_naming_key_and_expectation),
		cmocka_unit_test(test_config_unknown_key_is_rejected_by_set_get_and_assign),
		cmocka_unit_test(test_config_assign_splits_at_first_equals),
		cmocka_unit_test(test_config_load_applies_lines_and_skips_comments),
		cmocka_unit_test(test_config_load_bad_line_reports_file_and_line),
		cmocka_unit_test(test_config_load_stops_at_first_error_keeping_earlier_lines),
		cmocka_unit_test(test_config_load_missing_file_is_eio_naming_it),
		cmocka_unit_test(test_config_load_nul_byte_and_directory_name_the_cause),
		cmocka_unit_test(test_mmu_create_rejects_inconsistent_configs),
		cmocka_unit_test(test_config_mode_all_is_refused_with_the_reason),
		cmocka_unit_test(test_config_check_names_key_value_and_constraint),
		cmocka_unit_test(test_config_check_after_set_names_the_key),
		cmocka_unit_test(test_config_absent_cache_reads_without_ways),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
