/*
 * The swap victim policies (libvmem/host/swap_*.c): each one's victim order on a crafted
 * sequence, derived by hand below; exact LRU and FIFO against a brute-force reference;
 * every policy behind a real translation machine with two VMs overcommitting a small
 * host; and a policy registered at run time.
 *
 * The hand-derived tests drive a policy's ops table directly, on a real host (which gives
 * it the frame count, the clock and the accessed bits): on_map and on_unmap as the
 * manager would call them, pick to read the victims. pick leaves its victims in place
 * (the manager evicts them and calls on_unmap), so each test unmaps what it picked before
 * going on, as the manager does.
 *
 * Accessed bits (clock, ws) come from the host table of an attached nested machine with
 * every TLB and walk cache off: each access walks, and the walk sets the A bit of the
 * host-table entry of the page it reaches, which vmem_host_frame_young reads (and
 * clears). Frames named A, B, ... are the host frames of guest pages the machine touched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "vmem/mmu.h"

#include "mmu_testlib.h"

#define VA(i) (0x10000000ull + (uint64_t)(i) * 4096)

/* ---- a host with a nested machine ---- */

struct rig {
	struct vmem_mmu *m;
	struct vmem_host *h;
};

/* A host of host_mem bytes with swap policy `swap` (and extra host keys kv, NULL
 * terminated pairs), behind a nested machine of 2 MiB (512 pages) per VM; caches off
 * when `walk_always`. */
static void rig_make(struct rig *r, const char *host_mem, const char *swap,
		     const char *const *kv, bool walk_always)
{
	struct vmem_mmu_config mc;
	struct vmem_host_config hc;
	char err[256];

	mt_config(&mc, VMEM_MODE_NESTED, 4, 4, VMEM_PAGE_4K, VMEM_PAGE_4K);
	mt_set(&mc, "guest.mem", "2m");
	mt_set(&mc, "host.mem", "64m");
	if (walk_always)
		mt_no_caches(&mc);
	r->m = mt_create(&mc);
	vmem_host_config_default(&hc);
	assert_int_equal(vmem_host_config_set(&hc, "host.mem", host_mem, err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&hc, "host.reclaim_batch", "4", err, sizeof(err)),
			 0);
	if (vmem_host_config_set(&hc, "swap", swap, err, sizeof(err)))
		fail_msg("%s", err);
	for (; kv && kv[0]; kv += 2)
		if (vmem_host_config_set(&hc, kv[0], kv[1], err, sizeof(err)))
			fail_msg("%s", err);
	if (vmem_host_create(&hc, &r->h, err, sizeof(err)))
		fail_msg("%s", err);
	if (vmem_host_attach(r->h, r->m))
		fail_msg("attach: %s", vmem_host_error(r->h));
}

static void rig_free(struct rig *r)
{
	vmem_host_destroy(r->h);   /* first: it detaches from the machine */
	vmem_mmu_destroy(r->m);
}

static void check(struct vmem_host *h)
{
	char err[256];

	if (vmem_host_check(h, err, sizeof(err)))
		fail_msg("invariant: %s", err);
}

/* The host frame backing virtual page i of VM vm (address space 0). */
static uint64_t frame_of(struct rig *r, uint16_t vm, unsigned i)
{
	struct vmem_host_page pg;
	uint64_t gpa = mt_gpa(r->m, vm, 0, VA(i));

	assert_int_equal(vmem_host_page(r->h, vm, gpa >> 12, &pg), 0);
	assert_int_equal(pg.state, VMEM_PG_RESIDENT);
	return pg.frame;
}

static void touch(struct rig *r, uint16_t vm, unsigned i)
{
	mt_touch(r->m, vm, 0, VA(i), VMEM_ACC_LOAD);
}

static void advance_ms(struct vmem_host *h, uint64_t ms)
{
	assert_int_equal(vmem_host_advance(h, ms * vmem_host_cycles_per_ms(h)), 0);
}

/* ---- a policy instance driven by hand ---- */

struct inst {
	const struct vmem_swap_policy_ops *ops;
	struct vmem_policy p;
};

static void inst_start(struct inst *in, struct vmem_host *h, const char *name,
		       const char *key, const char *value)
{
	struct vmem_policy_params pp = { 0 };
	char err[256];

	in->ops = vmem_swap_policy_find(name);
	assert_non_null(in->ops);
	if (key) {
		pp.n = 1;
		pp.key[0] = key;
		pp.value[0] = value;
	}
	in->p.host = h;
	in->p.priv = NULL;
	if (in->ops->init(&in->p, &pp, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
}

static void map(struct inst *in, uint64_t f)
{
	in->ops->on_map(&in->p, f);
}

static void unmap(struct inst *in, uint64_t f)
{
	in->ops->on_unmap(&in->p, f);
}

static void access_(struct inst *in, uint64_t f)
{
	in->ops->on_access(&in->p, f, false);
}

/* pick(n) must return exactly the `want` frames, in order (want ends with UINT64_MAX). */
static void expect_pick(struct inst *in, size_t n, const uint64_t *want)
{
	uint64_t out[64];
	size_t k = in->ops->pick(&in->p, out, n), w = 0;

	while (want[w] != UINT64_MAX)
		w++;
	for (size_t i = 0; i < k && i < w; i++)
		if (out[i] != want[i])
			fail_msg("%s: victim %zu is frame %llu, expected %llu", in->ops->name, i,
				 (unsigned long long)out[i], (unsigned long long)want[i]);
	assert_int_equal(k, w);
}

#define PICK(in, n, ...) expect_pick(in, n, (const uint64_t[]){ __VA_ARGS__, UINT64_MAX })
#define PICK_NONE(in, n) expect_pick(in, n, (const uint64_t[]){ UINT64_MAX })

static struct vmem_host *plain_host(const char *swap)
{
	struct vmem_host_config hc;
	struct vmem_host *h;
	char err[256];

	vmem_host_config_default(&hc);
	assert_int_equal(vmem_host_config_set(&hc, "host.mem", "1m", err, sizeof(err)), 0);
	assert_int_equal(vmem_host_config_set(&hc, "swap", swap, err, sizeof(err)), 0);
	if (vmem_host_create(&hc, &h, err, sizeof(err)))
		fail_msg("%s", err);
	return h;
}

/* ---- FIFO ---- */

static void test_fifo_evicts_in_mapping_order(void **state)
{
	/* Frames with numbers unrelated to their order: A=7, B=3, C=250, D=0. */
	enum { A = 7, B = 3, C = 250, D = 0 };
	struct vmem_host *h = plain_host("fifo");
	struct inst in;

	(void)state;
	inst_start(&in, h, "fifo", NULL, NULL);
	PICK_NONE(&in, 4);                 /* nothing mapped: nothing to pick */
	map(&in, A);
	map(&in, B);
	map(&in, C);
	map(&in, D);                       /* queue, oldest first: A B C D */
	PICK(&in, 2, A, B);
	PICK(&in, 2, A, B);                /* pick leaves them in place */
	unmap(&in, A);
	unmap(&in, B);                     /* C D */
	map(&in, B);                       /* B comes back (a swap-in): the newest, C D B */
	map(&in, C);                       /* already a candidate: keeps its place */
	PICK(&in, 8, C, D, B);             /* only three candidates */
	unmap(&in, D);                     /* C B */
	PICK(&in, 1, C);
	unmap(&in, C);
	unmap(&in, B);
	unmap(&in, B);                     /* not a candidate any more: ignored */
	PICK_NONE(&in, 1);
	in.ops->fini(&in.p);
	vmem_host_destroy(h);
}

/* ---- LRU ---- */

static void test_lru_evicts_least_recently_used(void **state)
{
	enum { A = 10, B = 200, C = 5, D = 77, E = 1, F = 99 };
	struct vmem_host *h = plain_host("lru");
	struct inst in;

	(void)state;
	inst_start(&in, h, "lru", NULL, NULL);
	assert_non_null(in.ops->on_access);
	map(&in, A);
	map(&in, B);
	map(&in, C);
	map(&in, D);                       /* most recent first: D C B A */
	access_(&in, B);                   /* B D C A */
	access_(&in, A);                   /* A B D C */
	PICK(&in, 2, C, D);                /* least recent first */
	access_(&in, C);                   /* C A B D */
	unmap(&in, D);                     /* C A B */
	map(&in, E);                       /* E C A B */
	access_(&in, F);                   /* F is no candidate: nothing moves */
	access_(&in, E);                   /* E is the most recent already: E C A B */
	PICK(&in, 3, B, A, C);
	PICK(&in, 9, B, A, C, E);
	unmap(&in, A);                     /* E C B */
	access_(&in, B);                   /* B E C */
	PICK(&in, 1, C);
	in.ops->fini(&in.p);
	vmem_host_destroy(h);
}

/* ---- CLOCK ---- */

/* Touches pages 0..n-1 of VM 0 through the machine, clears their accessed bits and
 * returns their frames. */
static void setup_frames(struct rig *r, unsigned n, uint64_t *f)
{
	for (unsigned i = 0; i < n; i++)
		touch(r, 0, i);
	for (unsigned i = 0; i < n; i++) {
		f[i] = frame_of(r, 0, i);
		/* The walk set the bit; test-and-clear reads it once. */
		assert_true(vmem_host_frame_young(r->h, f[i], true));
		assert_false(vmem_host_frame_young(r->h, f[i], false));
	}
}

static void test_clock_second_chance_order(void **state)
{
	struct rig r;
	struct inst in;
	uint64_t f[6];
	uint64_t A, B, C, D, E, F;

	(void)state;
	rig_make(&r, "1m", "clock", NULL, true);
	setup_frames(&r, 6, f);
	A = f[0], B = f[1], C = f[2], D = f[3], E = f[4], F = f[5];
	inst_start(&in, r.h, "clock", NULL, NULL);
	map(&in, A);
	map(&in, B);
	map(&in, C);
	map(&in, D);
	map(&in, E);                       /* circle A B C D E, hand at A; no bit set */
	touch(&r, 0, 1);
	touch(&r, 0, 3);                   /* B and D referenced */
	/* pick(2): A clear -> victim; B set -> cleared, skipped; C clear -> victim. The
	 * hand stops at D. */
	PICK(&in, 2, A, C);
	unmap(&in, A);
	unmap(&in, C);                     /* circle B D E, hand at D */
	map(&in, F);                       /* behind the hand: B F D E, the hand reaches F
	                                    * last (D E B F) */
	touch(&r, 0, 4);                   /* E referenced */
	/* pick(2): D set (since before the first pick) -> cleared; E set -> cleared; B
	 * clear (cleared by the first pick, not touched since) -> victim; F clear -> victim.
	 * The hand stops at D. */
	PICK(&in, 2, B, F);
	unmap(&in, B);
	unmap(&in, F);                     /* circle D E, hand at D, both clear */
	PICK(&in, 1, D);                   /* the hand stops at E */
	/* Every page referenced (a walk without a TLB sets the bit each time). pick(2)
	 * from E: E set -> cleared; D set -> cleared; second turn: E, then D. */
	touch(&r, 0, 3);
	touch(&r, 0, 4);
	PICK(&in, 2, E, D);
	/* Asked for more than there are: each candidate once (the hand passes the chosen
	 * ones on its second turn), the work bounded by two turns. */
	PICK(&in, 5, E, D);
	in.ops->fini(&in.p);
	rig_free(&r);
}

/* ---- WS (WSClock) ---- */

static void test_ws_evicts_pages_outside_the_window(void **state)
{
	struct rig r;
	struct inst in;
	uint64_t f[6];
	uint64_t A, B, C, D, E, F;

	(void)state;
	rig_make(&r, "1m", "ws", NULL, true);
	setup_frames(&r, 6, f);
	A = f[0], B = f[1], C = f[2], D = f[3], E = f[4], F = f[5];
	assert_int_equal(vmem_host_now(r.h), 0);
	inst_start(&in, r.h, "ws", "tau_ms", "10");
	map(&in, A);
	map(&in, B);
	map(&in, C);
	map(&in, D);
	map(&in, E);                       /* circle A B C D E, hand at A; last use 0 ms */
	advance_ms(r.h, 5);
	touch(&r, 0, 0);
	touch(&r, 0, 2);                   /* A and C referenced */
	/* t = 5 ms, pick(1). First turn: A set -> last use 5; B age 5 <= 10, kept; C set ->
	 * last use 5; D, E age 5, kept: nothing outside the window. Second turn (pages not
	 * referenced since the hand passed): A age 0, kept; B age 5 -> victim. The hand
	 * stops at C. */
	PICK(&in, 1, B);
	unmap(&in, B);                     /* circle A C D E, hand at C */
	advance_ms(r.h, 7);
	touch(&r, 0, 3);                   /* D referenced */
	/* t = 12 ms, pick(1): C age 7, kept; D set -> last use 12; E age 12 > 10 -> victim.
	 * The hand stops at A. */
	PICK(&in, 1, E);
	unmap(&in, E);                     /* circle A C D, hand at A */
	advance_ms(r.h, 4);
	map(&in, F);                       /* t = 16: behind the hand, last use 16: the hand
	                                    * meets A C D F */
	advance_ms(r.h, 4);
	/* t = 20 ms, pick(2): A age 15 -> victim; C age 15 -> victim. */
	PICK(&in, 2, A, C);
	unmap(&in, A);
	unmap(&in, C);                     /* circle D F, hand at D */
	/* t = 20, pick(1): D age 8, F age 4: both in the window; second turn: D age 8 > 0
	 * -> victim. */
	PICK(&in, 1, D);
	advance_ms(r.h, 10);
	/* t = 30 ms, pick(3): the hand at F (after D): F age 14 -> victim; D age 18 ->
	 * victim (still a candidate: not unmapped); two candidates only. */
	PICK(&in, 3, F, D);
	unmap(&in, F);
	unmap(&in, D);
	PICK_NONE(&in, 1);
	/* D comes back (the hand has not unlinked it yet: it takes its old place, used
	 * now) and E anew (behind the hand, after D). t = 35 ms, pick(2): both used 5 ms
	 * ago, in the window; second turn: D, then E. */
	map(&in, D);
	map(&in, E);
	advance_ms(r.h, 5);
	PICK(&in, 2, D, E);
	in.ops->fini(&in.p);
	rig_free(&r);
}

/* ---- parameters ---- */

static void test_policies_check_their_parameters(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		const char *msg;
	} cases[] = {
		{ "fifo", 0, NULL },
		{ "clock", 0, NULL },
		{ "lru", 0, NULL },
		{ "ws", 0, NULL },
		{ "ws:tau_ms=250", 0, NULL },
		{ "fifo:depth=3", VMEM_EINVAL, "policy fifo has no parameter 'depth' (it has: none)" },
		{ "clock:hands=2", VMEM_EINVAL, "policy clock has no parameter 'hands'" },
		{ "lru:k=2", VMEM_EINVAL, "policy lru has no parameter 'k'" },
		{ "ws:tau=5", VMEM_EINVAL, "policy ws has no parameter 'tau' (it has: tau_ms)" },
		{ "ws:tau_ms=0", VMEM_EINVAL, "policy ws: tau_ms=0 is outside 1..86400000" },
		{ "ws:tau_ms=ten", VMEM_EINVAL, "policy ws: tau_ms=ten: expected a whole number" },
	};
	const char *const names[] = { "random", "fifo", "clock", "lru", "ws" };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmem_host_config hc;
		struct vmem_host *h = NULL;
		char err[256] = "";
		int rc;

		vmem_host_config_default(&hc);
		assert_int_equal(vmem_host_config_set(&hc, "host.mem", "1m", err, sizeof(err)), 0);
		assert_int_equal(vmem_host_config_set(&hc, "swap", cases[i].spec, err,
						      sizeof(err)), 0);
		rc = vmem_host_create(&hc, &h, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("%s: %d (%s), expected %d", cases[i].spec, rc, err, cases[i].rc);
		if (cases[i].msg && !strstr(err, cases[i].msg))
			fail_msg("%s: '%s' lacks '%s'", cases[i].spec, err, cases[i].msg);
		vmem_host_destroy(h);
	}
	/* Every built-in one is registered, with a help line. */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct vmem_swap_policy_ops *o = vmem_swap_policy_find(names[i]);

		assert_non_null(o);
		assert_non_null(o->help);
		assert_true(strlen(o->help) > 10);
	}
}

/* ---- differential: exact LRU and FIFO against timestamps and a linear scan ---- */

struct ref {
	uint64_t stamp[256];               /* last use (LRU) or mapping (FIFO); 0: none */
	uint64_t clock;
};

/* The n oldest candidates, oldest first, by linear scans. */
static size_t ref_pick(const struct ref *rf, uint64_t *out, size_t n)
{
	uint64_t after = 0;
	size_t k;

	for (k = 0; k < n; k++) {
		uint64_t best = UINT64_MAX, bf = 0;

		for (uint64_t f = 0; f < 256; f++)
			if (rf->stamp[f] > after && rf->stamp[f] < best) {
				best = rf->stamp[f];
				bf = f;
			}
		if (best == UINT64_MAX)
			break;
		out[k] = bf;
		after = best;
	}
	return k;
}

static void differential(const char *name, bool on_access_refreshes, uint64_t seed)
{
	struct vmem_host *h = plain_host(name);
	struct inst in;
	struct ref rf;
	uint64_t x = seed;

	memset(&rf, 0, sizeof(rf));
	inst_start(&in, h, name, NULL, NULL);
	assert_int_equal(vmem_host_frames(h), 256);
	for (int step = 0; step < 20000; step++) {
		uint64_t r, f;

		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = x % 100;
		/* Frames cluster on 0..63 most of the time, so candidates repeat. */
		f = (x >> 8) % ((x >> 40) % 4 ? 64 : 256);
		if (r < 30) {
			map(&in, f);
			if (!rf.stamp[f] || on_access_refreshes)
				rf.stamp[f] = ++rf.clock;
		} else if (r < 45) {
			unmap(&in, f);
			rf.stamp[f] = 0;
		} else if (r < 90) {
			if (in.ops->on_access)
				access_(&in, f);
			if (rf.stamp[f] && on_access_refreshes)
				rf.stamp[f] = ++rf.clock;
		} else {
			uint64_t got[64], want[64];
			size_t n = 1 + (x >> 20) % 64;
			size_t k = in.ops->pick(&in.p, got, n), kw = ref_pick(&rf, want, n);

			if (k != kw)
				fail_msg("%s step %d: %zu victims, the reference has %zu", name,
					 step, k, kw);
			for (size_t i = 0; i < k; i++)
				if (got[i] != want[i])
					fail_msg("%s step %d: victim %zu is %llu, the reference "
						 "says %llu", name, step, i,
						 (unsigned long long)got[i],
						 (unsigned long long)want[i]);
			/* The manager evicts some of them (the first half). */
			for (size_t i = 0; i < k / 2; i++) {
				unmap(&in, got[i]);
				rf.stamp[got[i]] = 0;
			}
		}
	}
	in.ops->fini(&in.p);
	vmem_host_destroy(h);
}

static void test_lru_matches_a_brute_force_reference(void **state)
{
	(void)state;
	differential("lru", true, 0x9e3779b97f4a7c15ull);
	differential("lru", true, 12345);
}

static void test_fifo_matches_a_brute_force_reference(void **state)
{
	(void)state;
	differential("fifo", false, 0x9e3779b97f4a7c15ull);
	differential("fifo", false, 777);
}

/* ---- every policy behind a real machine: two VMs overcommitting the host ---- */

struct run_result {
	uint64_t swapins, reclaimed;
};

/* The books must add up, for each VM and for the host (no dedup, no balloon here):
 * every page touched once stays touched, in exactly one of resident / swapped /
 * compressed; frames and swap slots match the pages holding them. */
static void check_counts(struct vmem_host *h)
{
	struct vmem_host_stats hs;
	uint64_t resident = 0, swapped = 0;
	size_t n;
	const uint16_t *ids = vmem_host_vms(h, &n);

	check(h);
	vmem_host_stats(h, &hs);
	for (size_t i = 0; i < n; i++) {
		struct vmem_host_vm_stats s;
		uint64_t sum = 0;

		assert_int_equal(vmem_host_vm_stats(h, ids[i], &s), 0);
		for (unsigned st = 0; st < VMEM_PG_STATES; st++)
			sum += s.state[st];
		assert_int_equal(sum, s.pages);
		assert_int_equal(s.state[VMEM_PG_RESIDENT] + s.state[VMEM_PG_SWAPPED] +
				 s.state[VMEM_PG_COMPRESSED], s.faults_first);
		assert_int_equal(s.state[VMEM_PG_SHARED] + s.state[VMEM_PG_ZERO] +
				 s.state[VMEM_PG_BALLOONED], 0);
		assert_int_equal(s.reclaimed, s.swap_out + s.compress_out);
		resident += s.state[VMEM_PG_RESIDENT];
		swapped += s.state[VMEM_PG_SWAPPED];
	}
	assert_int_equal(hs.frames_private, resident);
	assert_int_equal(hs.frames_free + hs.frames_private + hs.frames_zswap, hs.frames);
	assert_int_equal(hs.swap_slots_used, swapped);
}

/* VM 0 and VM 1 each touch 200 pages (and their page tables) on a host of 256 frames,
 * then run a skewed random mix: 80 % of the accesses on their first 40 pages. */
static struct run_result overcommit_run(const char *policy, const char *zswap)
{
	const char *const kv[] = { "zswap.percent", zswap, NULL };
	struct run_result res = { 0, 0 };
	struct rig r;
	uint64_t x = 0x2545f4914f6cdd1dull;

	rig_make(&r, "1m", policy, kv, false);
	for (unsigned i = 0; i < 200; i++)
		for (uint16_t vm = 0; vm < 2; vm++) {
			mt_touch(r.m, vm, 0, VA(i), VMEM_ACC_STORE);
			check_counts(r.h);
		}
	for (int step = 0; step < 6000; step++) {
		uint16_t vm;
		unsigned page;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		vm = (uint16_t)(x & 1);
		page = (unsigned)((x >> 8) % 100 < 80 ? (x >> 16) % 40 : (x >> 16) % 200);
		mt_touch(r.m, vm, 0, VA(page), (x >> 32) % 4 ? VMEM_ACC_LOAD : VMEM_ACC_STORE);
		if (step % 8 == 0)
			assert_int_equal(vmem_host_advance(r.h, 250000), 0);   /* 0.1 ms */
		check_counts(r.h);
	}
	for (uint16_t vm = 0; vm < 2; vm++) {
		struct vmem_host_vm_stats s;

		vmem_host_vm_stats(r.h, vm, &s);
		res.swapins += s.faults_swapin + s.faults_decompress;
		res.reclaimed += s.reclaimed;
		/* Overcommitted: both VMs lost pages, and every page still has a state. */
		assert_true(s.reclaimed > 0);
		assert_true(s.state[VMEM_PG_RESIDENT] > 0);
	}
	rig_free(&r);
	return res;
}

static void test_every_policy_behind_a_machine(void **state)
{
	const char *const policies[] = { "random", "fifo", "clock", "lru", "ws", "ws:tau_ms=1" };
	struct run_result res[6];

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		res[i] = overcommit_run(policies[i], "0");
		assert_true(res[i].swapins > 0);
		print_message("%-12s swap-ins %6llu  reclaimed %6llu\n", policies[i],
			      (unsigned long long)res[i].swapins,
			      (unsigned long long)res[i].reclaimed);
	}
	/* The same with a compressed tier in front of the swap device. */
	for (size_t i = 0; i < 6; i++)
		overcommit_run(policies[i], "20");
}

/* ---- a policy of a program's own, registered at run time ---- */

/* FIFO again, the way a program might write it in a few lines: an array of candidates in
 * mapping order (linear removal: fine for a small host). Same victims as the built-in
 * fifo, so the same run gives the same numbers. */
struct queue {
	uint64_t f[256];
	size_t n;
};

static int queue_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		      size_t errlen)
{
	static const char *const known[] = { NULL };
	int rc = vmem_policy_params_check(pp, "test-queue", known, err, errlen);

	if (rc)
		return rc;
	if (vmem_host_frames(p->host) > 256) {
		snprintf(err, errlen, "test-queue: at most 256 host frames");
		return VMEM_ELIMIT;
	}
	p->priv = calloc(1, sizeof(struct queue));
	return p->priv ? 0 : VMEM_ENOMEM;
}

static void queue_on_map(struct vmem_policy *p, uint64_t frame)
{
	struct queue *s = p->priv;

	for (size_t i = 0; i < s->n; i++)
		if (s->f[i] == frame)
			return;
	s->f[s->n++] = frame;
}

static void queue_on_unmap(struct vmem_policy *p, uint64_t frame)
{
	struct queue *s = p->priv;

	for (size_t i = 0; i < s->n; i++)
		if (s->f[i] == frame) {
			memmove(&s->f[i], &s->f[i + 1], (s->n - i - 1) * sizeof(s->f[0]));
			s->n--;
			return;
		}
}

static size_t queue_pick(struct vmem_policy *p, uint64_t *out, size_t n)
{
	struct queue *s = p->priv;
	size_t k;

	for (k = 0; k < n && k < s->n; k++)
		out[k] = s->f[k];
	return k;
}

static void queue_fini(struct vmem_policy *p)
{
	free(p->priv);
}

static const struct vmem_swap_policy_ops queue_ops = {
	.name = "test-queue",
	.help = "first in, first out (a test's own policy)",
	.init = queue_init,
	.on_map = queue_on_map,
	.on_unmap = queue_on_unmap,
	.pick = queue_pick,
	.fini = queue_fini,
};

static void test_a_program_registers_its_own_policy(void **state)
{
	struct run_result mine, builtin;

	(void)state;
	assert_null(vmem_swap_policy_find("test-queue"));
	assert_int_equal(vmem_swap_policy_register(&queue_ops), 0);
	assert_int_equal(vmem_swap_policy_register(&queue_ops), VMEM_EEXIST);
	assert_ptr_equal(vmem_swap_policy_find("test-queue"), &queue_ops);
	mine = overcommit_run("test-queue", "0");
	builtin = overcommit_run("fifo", "0");
	assert_int_equal(mine.swapins, builtin.swapins);
	assert_int_equal(mine.reclaimed, builtin.reclaimed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_evicts_in_mapping_order),
		cmocka_unit_test(test_lru_evicts_least_recently_used),
		cmocka_unit_test(test_clock_second_chance_order),
		cmocka_unit_test(test_ws_evicts_pages_outside_the_window),
		cmocka_unit_test(test_policies_check_their_parameters),
		cmocka_unit_test(test_lru_matches_a_brute_force_reference),
		cmocka_unit_test(test_fifo_matches_a_brute_force_reference),
		cmocka_unit_test(test_every_policy_behind_a_machine),
		cmocka_unit_test(test_a_program_registers_its_own_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
