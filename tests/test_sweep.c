/*
 * Sweep specs and plans (libvmem/sweep/): lists, ranges (arithmetic, geometric, with a
 * template), presets, fixed keys, modes and seeded repetitions parse as documented; every
 * error names FILE:LINE (or FILE for what concerns the whole spec) and what was expected;
 * plans have the number of runs derived by hand below, in the documented order, with each
 * run's configuration layered as documented; run keys change with what changes the figures
 * only; results survive a save and a load, and the table has the documented columns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/sweep.h"

static const struct vmem_sweep_parse_opts literal = { .literal_traces = true };

static struct vmem_sweep_spec *parse_ok(const char *text)
{
	struct vmem_sweep_spec *s = NULL;
	char err[512] = "";
	int rc = vmem_sweep_spec_parse(text, strlen(text), "t.sweep", &literal, &s, err,
				       sizeof(err));

	if (rc)
		fail_msg("unexpected error %d: %s", rc, err);
	assert_non_null(s);
	return s;
}

/* Parses text, expects failure with rc and a message starting with prefix and holding
 * the word `what`. */
static void parse_fails(const char *text, int rc, const char *prefix, const char *what)
{
	struct vmem_sweep_spec *s = NULL;
	char err[512] = "";
	int got = vmem_sweep_spec_parse(text, strlen(text), "t.sweep", &literal, &s, err,
					sizeof(err));

	if (got != rc || strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, what))
		fail_msg("spec:\n%s\nexpected %d '%s...%s', got %d '%s'", text, rc, prefix, what,
			 got, err);
	assert_null(s);
}

static uint64_t count_of(const struct vmem_sweep_spec *s)
{
	uint64_t n = 0;

	assert_int_equal(vmem_sweep_spec_count(s, &n, NULL, 0), 0);
	return n;
}

static void test_lists(void **state)
{
	(void)state;
	struct vmem_sweep_spec *s = parse_ok(
		"# a comment\n"
		"trace = a.vmt b.vmt   # two traces\n"
		"trace = c.vmt a.vmt\n"                       /* a.vmt again: kept once */
		"axis tlb.l2 = 512:8 1024:8 1536:12\n"
		"axis guest.page = 4k 2m\n"
		"set host.page = 2m\n"
		"modes = native shadow\n");

	assert_int_equal(s->ntraces, 3);
	assert_string_equal(s->traces[2], "c.vmt");
	assert_int_equal(s->naxes, 2);
	assert_string_equal(s->axes[0].key, "tlb.l2");
	assert_int_equal(s->axes[0].nvalues, 3);
	assert_string_equal(s->axes[0].values[2], "1536:12");
	assert_int_equal(s->axes[0].line, 4);
	assert_int_equal(s->nsets, 1);
	assert_int_equal(s->nmodes, 2);
	assert_int_equal(s->modes[1], VMEM_MODE_SHADOW);
	assert_int_equal(s->repeat, 1);
	assert_false(s->seeded);
	assert_string_equal(s->name, "t");
	/* 3 traces x 3 tlb.l2 x 2 guest.page x 2 modes = 36. */
	assert_int_equal(count_of(s), 36);
	vmem_sweep_spec_free(s);
}

static void test_ranges(void **state)
{
	(void)state;
	struct vmem_sweep_spec *s = parse_ok(
		"trace = x\n"
		"axis cost.ref_mem = range 1..8 step 3\n"        /* 1 4 7 */
		"axis tlb.l2 = range 256..2048 *2 as {}:8\n"     /* 256:8 512:8 1024:8 2048:8 */
		"axis pcid.count = range 3..3\n"                 /* 3 */
		"axis cost.vm_exit = range 100..1000 x 3\n");    /* 100 300 900 */

	assert_int_equal(s->axes[0].nvalues, 3);
	assert_string_equal(s->axes[0].values[0], "1");
	assert_string_equal(s->axes[0].values[2], "7");
	assert_int_equal(s->axes[1].nvalues, 4);
	assert_string_equal(s->axes[1].values[0], "256:8");
	assert_string_equal(s->axes[1].values[3], "2048:8");
	assert_int_equal(s->axes[2].nvalues, 1);
	assert_string_equal(s->axes[2].values[0], "3");
	assert_int_equal(s->axes[3].nvalues, 3);
	assert_string_equal(s->axes[3].values[2], "900");
	/* 1 trace x 3 x 4 x 1 x 3 x 1 mode (native, the default) = 36. */
	assert_int_equal(count_of(s), 36);
	vmem_sweep_spec_free(s);
}

static char cfg_path[64];

static int make_config(void **state)
{
	(void)state;
	int fd;

	snprintf(cfg_path, sizeof(cfg_path), "/tmp/test_sweep.XXXXXX");
	fd = mkstemp(cfg_path);
	assert_true(fd >= 0);
	assert_true(write(fd, "tlb.l2 = 2048:16\ncost.ref_mem = 30\n", 35) == 35);
	close(fd);
	return 0;
}

static int remove_config(void **state)
{
	(void)state;
	unlink(cfg_path);
	return 0;
}

/* A spec with presets, for the plan tests: 2 traces x 2 presets x (3 x 2) axis values x
 * 2 modes x 3 repeat = 2 x 2 x 6 x 2 x 3 = 144 runs. */
static struct vmem_sweep_spec *preset_spec(void)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "name = presets\n"
		 "trace = t1 t2\n"
		 "axis tlb.l1d.4k = 32:4 64:4 128:8\n"
		 "axis guest.page = 4k 2m\n"
		 "modes = nested native\n"
		 "repeat = 3\n"
		 "seed = 10\n"
		 "set cost.vm_exit = 1000\n"
		 "[preset big]\n"
		 "config = %s\n"
		 "set tlb.l1d.4k = 16:4\n"          /* overridden by the axis */
		 "\n"
		 "[preset small]   # comment\n"
		 "set tlb.l2 = 512:4\n", cfg_path);
	return parse_ok(text);
}

static void test_presets(void **state)
{
	(void)state;
	struct vmem_sweep_spec *s = preset_spec();

	assert_string_equal(s->name, "presets");
	assert_int_equal(s->npresets, 2);
	assert_string_equal(s->presets[0].name, "big");
	assert_int_equal(s->presets[0].nsets, 2);
	assert_string_equal(s->presets[0].sets[0].key, "@config");
	assert_int_equal(s->presets[0].sets[1].line, 11);
	assert_string_equal(s->presets[1].name, "small");
	assert_int_equal(s->presets[1].nsets, 1);
	assert_true(s->seeded);
	assert_int_equal(s->seed, 10);
	assert_int_equal(count_of(s), 144);
	vmem_sweep_spec_free(s);
}

static void test_plan(void **state)
{
	(void)state;
	struct vmem_sweep_spec *s = preset_spec();
	struct vmem_sweep_plan *p = NULL;
	struct vmem_mmu_config cfg;
	char err[512], buf[512];

	assert_int_equal(vmem_sweep_plan_build(s, &p, err, sizeof(err)), 0);
	assert_int_equal(p->nruns, 144);
	/* Order: trace, preset, tlb.l1d.4k, guest.page, mode, rep (fastest). Each trace has
	 * 72 runs, each preset 36, each tlb.l1d.4k value 12, each guest.page 6, each mode 3. */
	assert_int_equal(p->runs[0].trace, 0);
	assert_int_equal(p->runs[71].trace, 0);
	assert_int_equal(p->runs[72].trace, 1);
	assert_int_equal(p->runs[36].preset, 1);
	assert_int_equal(p->runs[12].axis_value[0], 1);
	assert_int_equal(p->runs[6].axis_value[1], 1);
	assert_int_equal(p->runs[3].mode, VMEM_MODE_NATIVE);
	assert_int_equal(p->runs[0].mode, VMEM_MODE_NESTED);
	assert_int_equal(p->runs[2].rep, 2);
	assert_int_equal(p->runs[143].index, 143);

	/* Run 0: defaults, set, preset big (file: tlb.l2 2048:16, ref_mem 30; tlb.l1d.4k
	 * 16:4), then the axes (tlb.l1d.4k 32:4, guest.page 4k), seed 10 + rep 0. */
	assert_int_equal(vmem_sweep_run_config(p, 0, &cfg, err, sizeof(err)), 0);
	vmem_mmu_config_get(&cfg, "tlb.l2", buf, sizeof(buf));
	assert_string_equal(buf, "2048:16:lru");
	vmem_mmu_config_get(&cfg, "tlb.l1d.4k", buf, sizeof(buf));
	assert_string_equal(buf, "32:4:lru");
	vmem_mmu_config_get(&cfg, "cost.ref_mem", buf, sizeof(buf));
	assert_string_equal(buf, "30");
	vmem_mmu_config_get(&cfg, "cost.vm_exit", buf, sizeof(buf));
	assert_string_equal(buf, "1000");
	assert_int_equal(cfg.seed, 10);
	assert_int_equal(cfg.mode, VMEM_MODE_NESTED);
	/* Run 36 + 12 + 6 + 3 + 2 = 59: preset small, tlb.l1d.4k 64:4, guest.page 2m, native,
	 * rep 2 (seed 12). */
	assert_int_equal(vmem_sweep_run_config(p, 59, &cfg, err, sizeof(err)), 0);
	vmem_mmu_config_get(&cfg, "tlb.l2", buf, sizeof(buf));
	assert_string_equal(buf, "512:4:lru");
	vmem_mmu_config_get(&cfg, "guest.page", buf, sizeof(buf));
	assert_string_equal(buf, "2m");
	assert_int_equal(cfg.seed, 12);
	assert_int_equal(vmem_sweep_run_describe(p, 59, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "t1 mode=native preset=small tlb.l1d.4k=64:4 guest.page=2m "
			    "rep=2 seed=12");
	assert_int_not_equal(vmem_sweep_run_config(p, 144, &cfg, err, sizeof(err)), 0);

	/* Keys: a function of the trace's content and the configuration, not of the place in
	 * the plan; every run of this plan differs from every other. */
	{
		char k0[33], k0b[33], k1[33], kt[33];

		assert_int_equal(vmem_sweep_run_key(p, 0, "00112233445566778899aabbccddeeff", k0,
						    err, sizeof(err)), 0);
		assert_int_equal(vmem_sweep_run_key(p, 0, "00112233445566778899aabbccddeeff", k0b,
						    err, sizeof(err)), 0);
		assert_int_equal(vmem_sweep_run_key(p, 1, "00112233445566778899aabbccddeeff", k1,
						    err, sizeof(err)), 0);
		assert_int_equal(vmem_sweep_run_key(p, 0, "ffffffffffffffffffffffffffffffff", kt,
						    err, sizeof(err)), 0);
		assert_int_equal(strlen(k0), 32);
		assert_string_equal(k0, k0b);
		assert_string_not_equal(k0, k1);   /* another seed */
		assert_string_not_equal(k0, kt);   /* another trace content */
		/* Run 72 is run 0 on trace t2: the same key for the same content. */
		assert_int_equal(vmem_sweep_run_key(p, 72, "00112233445566778899aabbccddeeff", kt,
						    err, sizeof(err)), 0);
		assert_string_equal(k0, kt);
	}
	/* The command line: vmemsim, quiet, the mode, the CSV, every key, the trace last. */
	{
		char **argv;
		size_t n = 0;

		assert_int_equal(vmem_sweep_run_argv(p, 59, "vmemsim", "out.csv", &argv, err,
						     sizeof(err)), 0);
		while (argv[n])
			n++;
		assert_string_equal(argv[0], "vmemsim");
		assert_string_equal(argv[3], "native");
		assert_string_equal(argv[5], "out.csv");
		assert_string_equal(argv[n - 2], "--");
		assert_string_equal(argv[n - 1], "t1");
		vmem_sweep_argv_free(argv);
	}
	vmem_sweep_plan_free(p);
	vmem_sweep_spec_free(s);
}

static void test_modes_repeat(void **state)
{
	(void)state;
	struct vmem_sweep_spec *s = parse_ok("trace = x y\nmodes = all\nrepeat = 4\n"
					     "warmup = 10k\nlimit = 1m\ndata-only = yes\n");

	/* 2 traces x 3 modes x 4 repeat = 24. */
	assert_int_equal(count_of(s), 24);
	assert_int_equal(s->warmup, 10000);
	assert_int_equal(s->limit, 1000000);
	assert_true(s->data_only);
	assert_true(s->seeded);
	assert_int_equal(s->seed, 1);
	vmem_sweep_spec_free(s);
}

static void test_errors(void **state)
{
	(void)state;
	parse_fails("trace = x\n\nfoo = 1\n", VMEM_EFORMAT, "t.sweep:3: ", "unknown keyword");
	parse_fails("trace = x\naxis tlb.l2 = abc\n", VMEM_EFORMAT, "t.sweep:2: ", "tlb.l2");
	parse_fails("trace = x\naxis no.such.key = 1\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "no.such.key");
	parse_fails("trace = x\nset mode = nested\n", VMEM_EFORMAT, "t.sweep:2: ", "modes =");
	parse_fails("trace = x\naxis tlb.l2 = 512\naxis tlb.l2 = 1024\n", VMEM_EFORMAT,
		    "t.sweep:3: ", "line 2");
	parse_fails("trace = x\naxis tlb.l2 = 512 512\n", VMEM_EFORMAT, "t.sweep:2: ", "twice");
	parse_fails("trace = x\naxis tlb.l2 =\n", VMEM_EFORMAT, "t.sweep:2: ", "expected");
	parse_fails("trace = x\naxis tlb.l2 = range 8..1\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "FIRST must not exceed LAST");
	parse_fails("trace = x\naxis tlb.l2 = range 1..8 step 0\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "step");
	parse_fails("trace = x\naxis tlb.l2 = range 1..8 *1\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "factor");
	parse_fails("trace = x\naxis tlb.l2 = range 1..8 as :8\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "{}");
	parse_fails("trace = x\naxis tlb.l2 = range 1-8\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "FIRST..LAST");
	parse_fails("trace = x\nmodes = native virtual\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "virtual");
	parse_fails("trace = x\nmodes = native native\n", VMEM_EFORMAT, "t.sweep:2: ", "twice");
	parse_fails("trace = x\nrepeat = 0\n", VMEM_EFORMAT, "t.sweep:2: ", "1 to 1000");
	parse_fails("trace = x\nrepeat = 2\nrepeat = 3\n", VMEM_EFORMAT, "t.sweep:3: ",
		    "first at line 2");
	parse_fails("trace = x\n[preset a]\naxis tlb.l2 = 512\n", VMEM_EFORMAT, "t.sweep:3: ",
		    "before the first [preset]");
	parse_fails("trace = x\n[preset a]\nmodes = all\n", VMEM_EFORMAT, "t.sweep:3: ",
		    "preset holds only");
	parse_fails("trace = x\n[preset a]\n[preset a]\n", VMEM_EFORMAT, "t.sweep:3: ",
		    "already defined at line 2");
	parse_fails("trace = x\n[presets a]\n", VMEM_EFORMAT, "t.sweep:2: ", "[preset NAME]");
	parse_fails("trace = x\njust words\n", VMEM_EFORMAT, "t.sweep:2: ", "KEYWORD = VALUE");
	parse_fails("trace = x\nconfig = /nonexistent/file.conf\n", VMEM_EFORMAT, "t.sweep:2: ",
		    "/nonexistent/file.conf");
	parse_fails("axis tlb.l2 = 512\n", VMEM_EFORMAT, "t.sweep: ", "no trace");
	parse_fails("trace = x\nrepeat = 2\naxis seed = 1 2\n", VMEM_EFORMAT, "t.sweep:3: ",
		    "seed");
	parse_fails("trace = x\nwarmup = 10\nlimit = 10\n", VMEM_EFORMAT, "t.sweep: ",
		    "less than limit");
	/* 1 trace x 11 values x 3 modes x 4 repeat = 132 runs, more than max-runs = 100. */
	parse_fails("trace = x\naxis cost.ref_mem = range 0..100 step 10\nmodes = all\n"
		    "repeat = 4\nmax-runs = 100\n", VMEM_ELIMIT, "t.sweep: ", "132 runs");
	/* A line longer than the bound. */
	{
		size_t n = VMEM_SWEEP_MAX_LINE + 10;
		char *text = malloc(n + 16);

		assert_non_null(text);
		memcpy(text, "trace = x\n#", 11);
		memset(text + 11, 'a', n);
		text[11 + n] = '\0';
		parse_fails(text, VMEM_EFORMAT, "t.sweep:2: ", "longer than");
		free(text);
	}
}

static void test_max_runs_option(void **state)
{
	(void)state;
	const char *text = "trace = x\naxis cost.ref_mem = range 1..50\nmodes = all\n";
	struct vmem_sweep_parse_opts o = { .literal_traces = true, .max_runs = 149 };
	struct vmem_sweep_spec *s = NULL;
	char err[512];

	/* 50 values x 3 modes = 150 runs: over 149, within 150. */
	assert_int_equal(vmem_sweep_spec_parse(text, strlen(text), "m.sweep", &o, &s, err,
					       sizeof(err)), VMEM_ELIMIT);
	assert_non_null(strstr(err, "--max-runs"));
	o.max_runs = 150;
	assert_int_equal(vmem_sweep_spec_parse(text, strlen(text), "m.sweep", &o, &s, err,
					       sizeof(err)), 0);
	assert_int_equal(count_of(s), 150);
	vmem_sweep_spec_free(s);
}

static void test_plan_inconsistent(void **state)
{
	(void)state;
	/* guest.mem must be a multiple of 2m: 3m passes the key's own check but not the
	 * machine's; the plan names the run. */
	struct vmem_sweep_spec *s = parse_ok("trace = x\naxis guest.mem = 4m 3m\n");
	struct vmem_sweep_plan *p = NULL;
	char err[512];

	assert_int_not_equal(vmem_sweep_plan_build(s, &p, err, sizeof(err)), 0);
	assert_null(p);
	assert_non_null(strstr(err, "run 1"));
	assert_non_null(strstr(err, "guest.mem=3m"));
	vmem_sweep_spec_free(s);
}

static void test_results(void **state)
{
	(void)state;
	struct vmem_sweep_spec *s = parse_ok("trace = tr,ace\naxis tlb.l2 = 512:8 1024:8\n");
	struct vmem_sweep_plan *p = NULL;
	struct vmem_sweep_result r, back;
	char err[512], dir[] = "/tmp/test_sweep_res.XXXXXX", csv[128], path[256];
	const char *key = "0123456789abcdef0123456789abcdef";
	FILE *f;
	char *table = NULL;
	size_t tlen = 0;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(vmem_sweep_plan_build(s, &p, err, sizeof(err)), 0);
	assert_int_equal(vmem_sweep_result_init(p, 1, key, &r, err, sizeof(err)), 0);
	/* A CSV as vmemsim writes it with a warm-up: the steady row is the one kept. */
	snprintf(csv, sizeof(csv), "%s/in.csv", dir);
	f = fopen(csv, "w");
	assert_non_null(f);
	fprintf(f, "trace,mode,phase,warmup,accesses,tlb.misses,version,cfg.seed\n"
		   "\"tr,ace\",native,cold,5,5,3,0.1.0,1\n"
		   "\"tr,ace\",native,steady,5,95,7,0.1.0,1\n");
	fclose(f);
	assert_int_equal(vmem_sweep_result_read_csv(&r, csv, err, sizeof(err)), 0);
	assert_true(r.ok);
	assert_int_equal(vmem_sweep_result_save(dir, &r, err, sizeof(err)), 0);
	assert_int_equal(vmem_sweep_result_path(dir, key, path, sizeof(path)), 0);
	assert_int_equal(vmem_sweep_result_load(path, &back, err, sizeof(err)), 0);
	assert_true(back.ok);
	assert_string_equal(back.key, key);
	assert_string_equal(back.trace, "tr,ace");
	assert_string_equal(back.mode, "native");

	/* The table: documented columns, the trace quoted, stats as written. */
	f = open_memstream(&table, &tlen);
	assert_int_equal(vmem_sweep_table_write(f, VMEM_SWEEP_CSV, &back, (size_t[]){ 1 }, 1), 0);
	fclose(f);
	assert_true(strncmp(table, "run,key,trace,mode,preset,rep,status,error,records,accesses,",
			    60) == 0);
	assert_non_null(strstr(table, "\n1,0123456789abcdef0123456789abcdef,\"tr,ace\",native,,0,"
				      "ok,,"));
	assert_non_null(strstr(table, ",95,"));          /* accesses of the steady row */
	assert_non_null(strstr(table, ",1024:8:lru,"));  /* cfg.tlb.l2 of run 1 */
	free(table);
	vmem_sweep_result_clear(&back);

	/* A failure keeps its first line and replaces the result. */
	assert_int_equal(vmem_sweep_result_fail(&r, "vmemsim: x: bad record\nmore"), 0);
	assert_int_equal(vmem_sweep_result_save(dir, &r, err, sizeof(err)), 0);
	assert_int_equal(vmem_sweep_result_load(path, &back, err, sizeof(err)), 0);
	assert_false(back.ok);
	assert_string_equal(back.error, "vmemsim: x: bad record");
	vmem_sweep_result_clear(&back);
	vmem_sweep_result_clear(&r);

	/* Absent and malformed results. */
	assert_int_equal(vmem_sweep_result_path(dir, "ffffffffffffffffffffffffffffffff", path,
						sizeof(path)), 0);
	assert_int_equal(vmem_sweep_result_load(path, &back, err, sizeof(err)), VMEM_ENOENT);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a result\n", f);
	fclose(f);
	assert_int_equal(vmem_sweep_result_load(path, &back, err, sizeof(err)), VMEM_EFORMAT);
	assert_non_null(strstr(err, ":1: expected"));
	unlink(path);
	assert_int_equal(vmem_sweep_result_path(dir, key, path, sizeof(path)), 0);
	unlink(path);
	unlink(csv);
	snprintf(path, sizeof(path), "%s/runs", dir);
	rmdir(path);
	rmdir(dir);
	vmem_sweep_plan_free(p);
	vmem_sweep_spec_free(s);
}

static void test_file_hash(void **state)
{
	(void)state;
	char path[] = "/tmp/test_sweep_hash.XXXXXX", a[33], b[33], err[256];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_true(write(fd, "abc", 3) == 3);
	close(fd);
	assert_int_equal(vmem_sweep_file_hash(path, a, err, sizeof(err)), 0);
	assert_int_equal(strlen(a), 32);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(write(fd, "d", 1) == 1);
	close(fd);
	assert_int_equal(vmem_sweep_file_hash(path, b, err, sizeof(err)), 0);
	assert_string_not_equal(a, b);
	unlink(path);
	assert_int_equal(vmem_sweep_file_hash(path, a, err, sizeof(err)), VMEM_EIO);
	assert_non_null(strstr(err, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test_setup_teardown(test_presets, make_config, remove_config),
		cmocka_unit_test_setup_teardown(test_plan, make_config, remove_config),
		cmocka_unit_test(test_modes_repeat),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_max_runs_option),
		cmocka_unit_test(test_plan_inconsistent),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_file_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
