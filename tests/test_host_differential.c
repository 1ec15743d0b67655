/*
 * Differential test of the host memory manager (libvmem/host/): seeded random sequences
 * of operations on several VMs replayed on the library and on the deliberately simple
 * reference manager of tests/ref_host.c (linear scans, no indexes, counts taken from the
 * records). After every step every page's state, frame, content and sharing count, every
 * per-VM counter and every host counter both models define must be equal, and
 * vmem_host_check must pass.
 *
 * The host is small (128 frames) and the VMs together have two to four times its memory,
 * so direct reclaim, the swap daemon, the compressed tier and the swap device all work,
 * and one configuration has a swap device small enough to fill up. Content records draw
 * from a handful of hashes so that pages of equal content are common and merges happen;
 * the content model's image pages collide across the VMs of one image group too.
 *
 * No translation machine is attached (no vmem_mmu), so the host table's accessed and
 * dirty bits play no role: contents change only through write faults and content
 * records, and the swap rules below do not look at accessed bits.
 *
 * The swap policy is one of two deterministic rules registered here with
 * vmem_swap_policy_register and restated in the reference: "difftest-lowest" (the
 * private frames with the lowest numbers) and "difftest-fifo" (the private frames mapped
 * longest ago, kept in the policy from on_map / on_unmap).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "ref_host.h"

/* ---- the test's swap policies ---- */

static int lowest_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		       size_t errlen)
{
	static const char *const known[] = { NULL };

	(void)p;
	return vmem_policy_params_check(pp, "difftest-lowest", known, err, errlen);
}

static size_t lowest_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	uint64_t frames = vmem_host_frames(p->host);
	size_t k = 0;

	for (uint64_t f = 0; f < frames && k < n; f++) {
		uint16_t vm;
		uint64_t gfn;

		if (vmem_host_frame_owner(p->host, f, &vm, &gfn) == 0)
			out[k++] = f;
	}
	return k;
}

static const struct vmem_swap_policy_ops lowest_ops = {
	.name = "difftest-lowest",
	.help = "the private frames with the lowest frame numbers (differential test)",
	.init = lowest_init,
	.pick = lowest_pick,
};

struct fifo {
	uint64_t *mapped;        /* per frame: when it was mapped (0: not a candidate) */
	uint64_t clock;
};

static int fifo_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		     size_t errlen)
{
	static const char *const known[] = { NULL };
	struct fifo *st;
	int rc = vmem_policy_params_check(pp, "difftest-fifo", known, err, errlen);

	if (rc)
		return rc;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->mapped = calloc(vmem_host_frames(p->host), sizeof(*st->mapped)))) {
		free(st);
		return VMEM_ENOMEM;
	}
	p->priv = st;
	return 0;
}

static void fifo_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct fifo *st = p->priv;

	st->mapped[frame] = ++st->clock;
}

static void fifo_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct fifo *st = p->priv;

	st->mapped[frame] = 0;
}

static size_t fifo_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct fifo *st = p->priv;
	uint64_t frames = vmem_host_frames(p->host), last = 0;
	size_t k = 0;

	while (k < n) {
		uint64_t best = UINT64_MAX;

		for (uint64_t f = 0; f < frames; f++)
			if (st->mapped[f] > last &&
			    (best == UINT64_MAX || st->mapped[f] < st->mapped[best]))
				best = f;
		if (best == UINT64_MAX)
			break;
		out[k++] = best;
		last = st->mapped[best];
	}
	return k;
}

static void fifo_fini(struct vmem_policy *p)
{
	struct fifo *st = p->priv;

	if (st)
		free(st->mapped);
	free(st);
}

static const struct vmem_swap_policy_ops fifo_ops = {
	.name = "difftest-fifo",
	.help = "the private frames mapped longest ago (differential test)",
	.init = fifo_init,
	.on_map = fifo_on_map,
	.on_unmap = fifo_on_unmap,
	.pick = fifo_pick,
	.fini = fifo_fini,
};

static int register_policies(void **state)
{
	int a = vmem_swap_policy_register(&lowest_ops);
	int b = vmem_swap_policy_register(&fifo_ops);

	(void)state;
	return (a && a != VMEM_EEXIST) || (b && b != VMEM_EEXIST);
}

/* ---- the operation generator (splitmix64; unrelated to the models) ---- */

struct gen {
	uint64_t s;
};

static uint64_t gen_next(struct gen *g)
{
	uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t gen_below(struct gen *g, uint64_t n)
{
	return gen_next(g) % n;
}

/* ---- one run ---- */

struct scenario {
	uint64_t seed;
	unsigned nvms;
	enum ref_swap_rule rule;
	const char *swap_size;
	const char *zswap_percent;
	const char *zswap_max_class;
	int steps;
};

struct run {
	const struct scenario *sc;
	struct vmem_host *h;
	struct ref_host *r;
	uint16_t vm[4];
	uint64_t pages[4];
	unsigned nvms;
	int step;
	const char *op;
	/* What the run exercised (checked at the end). */
	uint64_t merged, zero_merged, faults_refused;
};

#define WHERE "seed %llu step %d (%s)"
#define WHERE_ARGS (unsigned long long)run->sc->seed, run->step, run->op

struct field {
	const char *name;
	size_t off;
};

#define VF(x) { #x, offsetof(struct vmem_host_vm_stats, x) }
static const struct field vm_fields[] = {
	VF(pages), VF(faults), VF(faults_first), VF(faults_swapin), VF(faults_decompress),
	VF(faults_cow), VF(swap_out), VF(compress_out), VF(reclaimed), VF(balloon_target),
	VF(balloon_inflated), VF(balloon_deflated), VF(guest_swap_out), VF(guest_swap_in),
	VF(guest_freed), VF(silent_swap_writes), VF(stale_swap_reads), VF(false_swap_reads),
	VF(double_paging), VF(cycles_stalled), VF(dedup_profit),
	/* Huge pages need host.page=2m on an attached machine: 0 in both here. */
	VF(thp_huge), VF(thp_faults), VF(thp_splits), VF(thp_collapses),
};
#undef VF

#define HF(x) { #x, offsetof(struct vmem_host_stats, x) }
static const struct field host_fields[] = {
	HF(frames), HF(frames_free), HF(frames_private), HF(frames_shared), HF(frames_zswap),
	HF(zswap_bytes), HF(swap_slots_used), HF(swap_slots), HF(swap_reads), HF(swap_writes),
	HF(reclaim_direct), HF(reclaim_daemon), HF(cycles_daemon), HF(cow_breaks), HF(now),
	HF(device_busy_until),
};
#undef HF

static uint64_t field_of(const void *s, size_t off)
{
	return *(const uint64_t *)(const void *)((const char *)s + off);
}

static void compare_all(struct run *run)
{
	struct vmem_host_stats hs, rs;
	char err[256];

	for (unsigned i = 0; i < run->nvms; i++) {
		uint16_t vm = run->vm[i];
		struct vmem_host_vm_stats a, b;

		assert_int_equal(vmem_host_vm_stats(run->h, vm, &a), 0);
		assert_int_equal(ref_host_vm_stats(run->r, vm, &b), 0);
		for (size_t k = 0; k < sizeof(vm_fields) / sizeof(vm_fields[0]); k++) {
			uint64_t x = field_of(&a, vm_fields[k].off), y = field_of(&b, vm_fields[k].off);

			if (x != y)
				fail_msg(WHERE ": VM %u: %s: library %llu, reference %llu", WHERE_ARGS,
					 vm, vm_fields[k].name, (unsigned long long)x,
					 (unsigned long long)y);
		}
		for (unsigned s = 0; s < VMEM_PG_STATES; s++)
			if (a.state[s] != b.state[s])
				fail_msg(WHERE ": VM %u: pages %s: library %llu, reference %llu",
					 WHERE_ARGS, vm, vmem_page_state_name(s),
					 (unsigned long long)a.state[s],
					 (unsigned long long)b.state[s]);
		for (uint64_t g = 0; g < run->pages[i]; g++) {
			struct vmem_host_page p, q;
			enum vmem_page_state st = vmem_host_page_state(run->h, vm, g);

			assert_int_equal(vmem_host_page(run->h, vm, g, &p), 0);
			assert_int_equal(ref_host_page(run->r, vm, g, &q), 0);
			if (st != q.state || p.state != q.state)
				fail_msg(WHERE ": VM %u page %#llx: state: library %s, reference %s",
					 WHERE_ARGS, vm, (unsigned long long)g,
					 vmem_page_state_name(st), vmem_page_state_name(q.state));
			if (p.frame != q.frame)
				fail_msg(WHERE ": VM %u page %#llx (%s): frame: library %llu, "
					 "reference %llu", WHERE_ARGS, vm, (unsigned long long)g,
					 vmem_page_state_name(st), (unsigned long long)p.frame,
					 (unsigned long long)q.frame);
			if (p.hash != q.hash || p.zero != q.zero)
				fail_msg(WHERE ": VM %u page %#llx (%s): content: library %#llx%s, "
					 "reference %#llx%s", WHERE_ARGS, vm, (unsigned long long)g,
					 vmem_page_state_name(st), (unsigned long long)p.hash,
					 p.zero ? " zero" : "", (unsigned long long)q.hash,
					 q.zero ? " zero" : "");
			if (p.refs != q.refs)
				fail_msg(WHERE ": VM %u page %#llx (%s): references: library %u, "
					 "reference %u", WHERE_ARGS, vm, (unsigned long long)g,
					 vmem_page_state_name(st), p.refs, q.refs);
		}
	}
	vmem_host_stats(run->h, &hs);
	ref_host_stats(run->r, &rs);
	for (size_t k = 0; k < sizeof(host_fields) / sizeof(host_fields[0]); k++) {
		uint64_t x = field_of(&hs, host_fields[k].off), y = field_of(&rs, host_fields[k].off);

		if (x != y)
			fail_msg(WHERE ": host: %s: library %llu, reference %llu", WHERE_ARGS,
				 host_fields[k].name, (unsigned long long)x, (unsigned long long)y);
	}
	if (vmem_host_check(run->h, err, sizeof(err)))
		fail_msg(WHERE ": vmem_host_check: %s", WHERE_ARGS, err);
}

static void same_rc(struct run *run, int a, int b)
{
	if (a != b)
		fail_msg(WHERE ": return: library %d (%s), reference %d", WHERE_ARGS, a,
			 a ? vmem_host_error(run->h) : "ok", b);
}

/* A random page of a random VM. */
static void any_page(struct run *run, struct gen *g, uint16_t *vm, uint64_t *gfn)
{
	unsigned i = (unsigned)gen_below(g, run->nvms);

	*vm = run->vm[i];
	*gfn = gen_below(g, run->pages[i]);
}

/* The first page from a random start (over all VMs) for which want() holds. */
static bool find_page(struct run *run, struct gen *g,
		      bool (*want)(const struct vmem_host_page *, const void *),
		      const void *arg, uint16_t *vm, uint64_t *gfn,
		      struct vmem_host_page *out)
{
	uint64_t total = 0, start;

	for (unsigned i = 0; i < run->nvms; i++)
		total += run->pages[i];
	start = gen_below(g, total);
	for (uint64_t n = 0; n < total; n++) {
		uint64_t k = (start + n) % total;
		unsigned i = 0;

		while (k >= run->pages[i])
			k -= run->pages[i++];
		if (ref_host_page(run->r, run->vm[i], k, out) == 0 && want(out, arg)) {
			*vm = run->vm[i];
			*gfn = k;
			return true;
		}
	}
	return false;
}

static bool is_resident(const struct vmem_host_page *p, const void *arg)
{
	(void)arg;
	return p->state == VMEM_PG_RESIDENT;
}

static bool is_resident_zero(const struct vmem_host_page *p, const void *arg)
{
	(void)arg;
	return p->state == VMEM_PG_RESIDENT && p->zero;
}

/* A page of the same content as *arg in another frame, resident or shared. */
static bool is_twin(const struct vmem_host_page *p, const void *arg)
{
	const struct vmem_host_page *a = arg;

	return (p->state == VMEM_PG_RESIDENT || p->state == VMEM_PG_SHARED) &&
	       p->hash == a->hash && p->frame != a->frame;
}

static const uint64_t hash_pool[] = {
	0x1111111111111111ull, 0x2222222222222222ull, 0x3333333333333333ull,
	0x4444444444444444ull, 0x5555555555555555ull,
};

static void step(struct run *run, struct gen *g)
{
	uint64_t k = gen_below(g, 100), gfn, gfn2;
	uint16_t vm, vm2;
	struct vmem_host_page a, b;
	int x, y;

	/* Every other stretch of 150 steps is a burst: time hardly passes, the swap daemon
	 * falls behind and faults reclaim themselves (direct reclaim). */
	if (run->step / 150 % 2 == 1 && k >= 78 && gen_below(g, 8) != 0)
		k = 0;
	if (k < 45) {
		bool write = gen_below(g, 100) < 35;
		struct vmem_host_fault_result fa = { 0 }, fb = { 0 };

		run->op = write ? "write fault" : "read fault";
		any_page(run, g, &vm, &gfn);
		x = vmem_host_fault(run->h, vm, gfn, write, &fa);
		y = ref_host_fault(run->r, vm, gfn, write, &fb);
		same_rc(run, x, y);
		run->faults_refused += x != 0;
		if (x == 0 && (fa.frame != fb.frame || fa.writable != fb.writable ||
			       fa.cycles != fb.cycles || fa.huge || fb.huge))
			fail_msg(WHERE ": VM %u page %#llx: fault result: library frame %llu%s "
				 "%llu cycles, reference frame %llu%s %llu cycles", WHERE_ARGS, vm,
				 (unsigned long long)gfn, (unsigned long long)fa.frame,
				 fa.writable ? " writable" : "", (unsigned long long)fa.cycles,
				 (unsigned long long)fb.frame, fb.writable ? " writable" : "",
				 (unsigned long long)fb.cycles);
	} else if (k < 55) {
		bool zero = gen_below(g, 5) == 0;
		uint64_t hash = zero ? 0 : hash_pool[gen_below(g, 5)];
		unsigned cls = (unsigned)gen_below(g, 17);   /* 16 is refused by both */

		run->op = "content record";
		any_page(run, g, &vm, &gfn);
		x = vmem_host_set_content(run->h, vm, gfn, hash, zero, cls);
		y = ref_host_set_content(run->r, vm, gfn, hash, zero, cls);
		same_rc(run, x, y);
	} else if (k < 60) {
		run->op = "guest free";
		any_page(run, g, &vm, &gfn);
		x = vmem_host_guest_free(run->h, vm, gfn);
		y = ref_host_guest_free(run->r, vm, gfn);
		same_rc(run, x, y);
	} else if (k < 72) {
		run->op = "merge";
		if (find_page(run, g, is_resident, NULL, &vm, &gfn, &a) &&
		    find_page(run, g, is_twin, &a, &vm2, &gfn2, &b)) {
			x = vmem_host_merge(run->h, vm, gfn, b.frame);
			y = ref_host_merge(run->r, vm, gfn, b.frame);
			run->merged += x == 0;
		} else {
			/* No twin: a merge with any frame, which both must refuse alike. */
			uint64_t frame = gen_below(g, 140);

			run->op = "merge (no twin)";
			any_page(run, g, &vm, &gfn);
			x = vmem_host_merge(run->h, vm, gfn, frame);
			y = ref_host_merge(run->r, vm, gfn, frame);
		}
		same_rc(run, x, y);
	} else if (k < 78) {
		run->op = "zero merge";
		if (gen_below(g, 4) == 0 || !find_page(run, g, is_resident_zero, NULL, &vm, &gfn, &a))
			any_page(run, g, &vm, &gfn);
		x = vmem_host_merge_zero(run->h, vm, gfn);
		y = ref_host_merge_zero(run->r, vm, gfn);
		same_rc(run, x, y);
		run->zero_merged += x == 0;
	} else {
		uint64_t cycles = gen_below(g, 4) == 0 ? 0 : gen_below(g, 60000);

		run->op = "advance";
		assert_int_equal(vmem_host_advance(run->h, cycles), 0);
		ref_host_advance(run->r, cycles);
	}
	compare_all(run);
}

/* The run did what it is for: every mechanism worked at least once. */
static void covered(struct run *run)
{
	struct vmem_host_vm_stats t = { 0 }, s;
	struct vmem_host_stats hs;

	for (unsigned i = 0; i < run->nvms; i++) {
		vmem_host_vm_stats(run->h, run->vm[i], &s);
		t.faults_first += s.faults_first;
		t.faults_swapin += s.faults_swapin;
		t.faults_decompress += s.faults_decompress;
		t.faults_cow += s.faults_cow;
		t.swap_out += s.swap_out;
		t.compress_out += s.compress_out;
		t.silent_swap_writes += s.silent_swap_writes;
		t.stale_swap_reads += s.stale_swap_reads;
		t.false_swap_reads += s.false_swap_reads;
	}
	vmem_host_stats(run->h, &hs);
	print_message("seed %llu: %d steps; faults: %llu first, %llu swap-in, %llu decompress, "
		      "%llu cow, %llu refused; %llu swapped out, %llu compressed; reclaim %llu "
		      "direct, %llu daemon; %llu merges, %llu zero merges; silent writes %llu, "
		      "stale reads %llu, false reads %llu\n",
		      (unsigned long long)run->sc->seed, run->sc->steps,
		      (unsigned long long)t.faults_first, (unsigned long long)t.faults_swapin,
		      (unsigned long long)t.faults_decompress, (unsigned long long)t.faults_cow,
		      (unsigned long long)run->faults_refused, (unsigned long long)t.swap_out,
		      (unsigned long long)t.compress_out, (unsigned long long)hs.reclaim_direct,
		      (unsigned long long)hs.reclaim_daemon, (unsigned long long)run->merged,
		      (unsigned long long)run->zero_merged,
		      (unsigned long long)t.silent_swap_writes,
		      (unsigned long long)t.stale_swap_reads, (unsigned long long)t.false_swap_reads);
	assert_true(t.faults_swapin > 0 && t.swap_out > 0 && t.faults_cow > 0);
	assert_true(hs.reclaim_direct > 0 && hs.reclaim_daemon > 0);
	assert_true(run->merged > 0 && run->zero_merged > 0);
	assert_true(t.silent_swap_writes > 0 && t.stale_swap_reads > 0 && t.false_swap_reads > 0);
	if (run->sc->zswap_percent[0] != '0')
		assert_true(t.compress_out > 0 && t.faults_decompress > 0);
}

static void set(struct vmem_host_config *c, const char *key, const char *value)
{
	char err[256];

	if (vmem_host_config_set(c, key, value, err, sizeof(err)))
		fail_msg("%s", err);
}

static void run_scenario(const struct scenario *sc)
{
	struct vmem_host_config c;
	struct run run = { .sc = sc };
	struct run *r_ = &run;
	struct gen g = { sc->seed * 0x9E3779B97F4A7C15ull + 17 };
	char err[256], seed[32];

	vmem_host_config_default(&c);
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)sc->seed);
	set(&c, "seed", seed);
	set(&c, "host.mem", "512k");   /* 128 frames */
	set(&c, "host.wmark.min", "30");
	set(&c, "host.wmark.low", "60");
	set(&c, "host.wmark.high", "125");
	set(&c, "host.reclaim_batch", "8");
	set(&c, "swap", sc->rule == REF_SWAP_LOWEST_FRAME ? "difftest-lowest" : "difftest-fifo");
	set(&c, "swap.size", sc->swap_size);
	set(&c, "zswap.percent", sc->zswap_percent);
	set(&c, "zswap.max_class", sc->zswap_max_class);
	set(&c, "content.zero", "150");
	set(&c, "content.image", "300");
	set(&c, "content.image_vms", "2");
	set(&c, "content.class", "5");
	if (vmem_host_create(&c, &run.h, err, sizeof(err)))
		fail_msg("%s", err);
	run.r = ref_host_new(&c, sc->rule);
	assert_non_null(run.r);
	run.nvms = sc->nvms;
	for (unsigned i = 0; i < sc->nvms; i++) {
		run.vm[i] = (uint16_t)(i * 3 + (sc->seed & 1));   /* ids not 0..n-1 */
		run.pages[i] = 64 + gen_below(&g, 97);
		assert_int_equal(vmem_host_add_vm(run.h, run.vm[i], run.pages[i] << 12, 1000), 0);
		assert_int_equal(ref_host_add_vm(run.r, run.vm[i], run.pages[i] << 12), 0);
	}
	run.op = "start";
	compare_all(r_);
	for (run.step = 1; run.step <= sc->steps; run.step++)
		step(r_, &g);
	covered(r_);
	ref_host_free(run.r);
	vmem_host_destroy(run.h);
}

/* ---- the scenarios ---- */

#define STEPS 6000

static const struct scenario scenarios[] = {
	{ 1, 2, REF_SWAP_LOWEST_FRAME, "4m", "25", "9", STEPS },
	{ 2, 3, REF_SWAP_OLDEST_MAPPED, "4m", "25", "9", STEPS },
	{ 3, 4, REF_SWAP_LOWEST_FRAME, "4m", "0", "13", STEPS },
	{ 4, 4, REF_SWAP_OLDEST_MAPPED, "4m", "40", "15", STEPS },
	/* A swap device of 48 slots that fills up: evictions fail, faults run out. */
	{ 5, 3, REF_SWAP_OLDEST_MAPPED, "192k", "10", "6", STEPS },
	{ 6, 4, REF_SWAP_LOWEST_FRAME, "192k", "25", "9", STEPS },
	{ 7, 2, REF_SWAP_OLDEST_MAPPED, "4m", "15", "4", STEPS },
	{ 8, 3, REF_SWAP_LOWEST_FRAME, "4m", "25", "15", STEPS },
};

#define SCENARIO_TEST(n) \
	static void test_host_differential_##n(void **state) \
	{ \
		(void)state; \
		run_scenario(&scenarios[n]); \
	}
SCENARIO_TEST(0)
SCENARIO_TEST(1)
SCENARIO_TEST(2)
SCENARIO_TEST(3)
SCENARIO_TEST(4)
SCENARIO_TEST(5)
SCENARIO_TEST(6)
SCENARIO_TEST(7)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_differential_0),
		cmocka_unit_test(test_host_differential_1),
		cmocka_unit_test(test_host_differential_2),
		cmocka_unit_test(test_host_differential_3),
		cmocka_unit_test(test_host_differential_4),
		cmocka_unit_test(test_host_differential_5),
		cmocka_unit_test(test_host_differential_6),
		cmocka_unit_test(test_host_differential_7),
	};

	return cmocka_run_group_tests(tests, register_policies, NULL);
}
