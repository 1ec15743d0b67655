/*
 * The tracker (libvmem/backend/tracker.c): written pages reported by each mechanism, exactly.
 *
 * Facts the expected values rest on:
 *  - Rounds on plain memory: a 1024-page region, fresh (no page populated). In round r, two
 *    writer threads write the pages p with (p * 7 + r * 13) % 5 == 0 (one in five: ~205), writer
 *    w taking those with p % 2 == w, so no page is written by both; a reader thread reads every
 *    page with p % 3 == 0 (reads are not writes: none of those may be reported unless written).
 *    After the threads are joined the collect must report exactly that set, for uffd async and
 *    for uffd sync (one writer per page: no repeated fault).
 *  - Concurrency: writers keep writing while collects run. Per page, one writer, which counts
 *    started[p] before each write and done[p] after. With S_k / E_k the snapshots just before
 *    and just after collect k: a write that started after E_{k-1} and ended before S_k
 *    (done(S_k) > started(E_{k-1})) must be in collect k (no false negative); a page reported
 *    by collect k must have had a write in flight or started after S_{k-1}
 *    (started(E_k) > done(S_{k-1})) (no false positive, for uffd async and KVM). And a copy made
 *    from the collects (the pre-copy rule) equals the region at the end.
 *  - KVM: a CPL3 64-bit guest (../shared/KVM-TESTING.md) in a 4 MiB slot at guest-physical 0,
 *    identity-mapped (4 KiB pages below 2 MiB, a 2 MiB page above) with the Accessed and Dirty
 *    bits preset (so neither the CPU nor KVM's shadow MMU writes the page tables), tables and
 *    code (at 0x8000) read-only to the guest, data pages from 16 on; in round r it writes one
 *    byte to each page of its chosen set (`mov rax, gpa; mov byte [rax], r`) and ends the round
 *    with `out 0x10, al`. The dirty set of the round is exactly the pages written.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmem/guest_ram.h"
#include "vmem/pager.h"
#include "vmem/tracker.h"

#define PAGE 4096u
#define WORDS(pages) (((pages) + 63) / 64)

static void *fresh_region(uint64_t pages)
{
	void *m = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(m != MAP_FAILED);
	madvise(m, pages * PAGE, MADV_NOHUGEPAGE);
	return m;
}

static bool bit(const uint64_t *bm, uint64_t p)
{
	return (bm[p / 64] >> (p % 64)) & 1;
}

static struct vmem_tracker *make(void *hva, uint64_t pages, enum vmem_track_mech m, int vm)
{
	struct vmem_tracker_config c;
	struct vmem_tracker *t;
	char err[256] = "";

	vmem_tracker_config_default(&c);
	c.hva = hva;
	c.size = pages * PAGE;
	c.mech = m;
	c.kvm_vm_fd = vm;
	int rc = vmem_tracker_create(&c, &t, err, sizeof(err));
	if (rc)
		fail_msg("tracker %s: %s", vmem_tracker_mech_name(m), err);
	assert_int_equal(vmem_tracker_mechanism(t), m);
	return t;
}

/* ---- probe, names, bad configurations ---- */

static void test_tracker_probe_reports_each_mechanism(void **state)
{
	(void)state;
	uint8_t *m = fresh_region(16);
	struct vmem_tracker_config c;
	struct vmem_tracker_report r;
	char err[256];

	vmem_tracker_config_default(&c);
	c.hva = m;
	c.size = 16 * PAGE;
	assert_int_equal(vmem_tracker_probe(&c, &r, err, sizeof(err)), 0);
	/* No VM: both KVM mechanisms say so; this kernel (6.18) offers WP_ASYNC + PAGEMAP_SCAN. */
	assert_string_equal(r.why_not[VMEM_TRACK_KVM_RING], "no VM attached (kvm_vm_fd is -1)");
	assert_string_equal(r.why_not[VMEM_TRACK_KVM_BITMAP], "no VM attached (kvm_vm_fd is -1)");
	assert_int_equal(r.used, VMEM_TRACK_UFFD_ASYNC);
	assert_string_equal(r.why_not[VMEM_TRACK_UFFD_ASYNC], "");
	assert_string_equal(r.why_not[VMEM_TRACK_UFFD_SYNC], "available; uffd-async is preferred");
	/* page_idle: what the file system says (compiled out on this kernel). */
	assert_int_equal(r.page_idle, access("/sys/kernel/mm/page_idle/bitmap", F_OK) == 0);
	printf("probe: used %s; page_idle %s\n", vmem_tracker_mech_name(r.used),
	       r.page_idle ? "present" : "absent");

	/* Forcing a KVM mechanism without a VM fails and says why. */
	struct vmem_tracker *t;
	c.mech = VMEM_TRACK_KVM_RING;
	assert_int_equal(vmem_tracker_create(&c, &t, err, sizeof(err)), VMEM_ENOENT);
	assert_string_equal(err, "tracker: kvm-ring is not available here: no VM attached "
			    "(kvm_vm_fd is -1)");
	assert_null(t);

	enum vmem_track_mech mech;
	for (unsigned i = 0; i < VMEM_TRACK_MECHS; i++) {
		assert_int_equal(vmem_tracker_mech_parse(vmem_tracker_mech_name(i), &mech), 0);
		assert_int_equal(mech, i);
	}
	assert_int_equal(vmem_tracker_mech_parse("dirty", &mech), VMEM_EINVAL);
	munmap(m, 16 * PAGE);
}

static void test_tracker_bad_configs_rejected_with_a_message(void **state)
{
	(void)state;
	uint8_t *m = fresh_region(4);
	struct vmem_tracker_config c;
	struct vmem_tracker *t;
	char err[256];

	vmem_tracker_config_default(&c);
	c.hva = m + 1;
	c.size = PAGE;
	assert_int_equal(vmem_tracker_create(&c, &t, err, sizeof(err)), VMEM_EINVAL);
	assert_string_equal(err, "tracker: hva must be a 4096-aligned address");
	c.hva = m;
	c.size = 100;
	assert_int_equal(vmem_tracker_create(&c, &t, err, sizeof(err)), VMEM_EINVAL);
	assert_string_equal(err, "tracker: size 100 is not a non-zero multiple of 4096");
	c.size = PAGE;
	c.ring_entries = 1000;
	assert_int_equal(vmem_tracker_create(&c, &t, err, sizeof(err)), VMEM_EINVAL);
	assert_string_equal(err, "tracker: ring_entries 1000 is not a power of two in "
			    "256..16777216");
	munmap(m, 4 * PAGE);
}

/* ---- rounds of known writes, threads joined before each collect ---- */

#define ROUND_PAGES 1024u

struct round_arg {
	uint8_t *m;
	unsigned round, who;         /* who: 0, 1 writers; 2 the reader */
	volatile uint64_t sink;
};

static bool written_in(uint64_t p, unsigned r)
{
	return (p * 7 + r * 13) % 5 == 0;
}

static void *round_thread(void *arg)
{
	struct round_arg *a = arg;

	for (uint64_t p = 0; p < ROUND_PAGES; p++) {
		if (a->who == 2 && p % 3 == 0)
			a->sink += a->m[p * PAGE + 17];
		else if (a->who < 2 && p % 2 == a->who && written_in(p, a->round))
			a->m[p * PAGE + (p + a->round) % PAGE] = (uint8_t)(a->round + 1);
	}
	return NULL;
}

static void rounds(enum vmem_track_mech mech)
{
	uint8_t *m = fresh_region(ROUND_PAGES);
	struct vmem_tracker *t = make(m, ROUND_PAGES, mech, -1);
	uint64_t dirty[WORDS(ROUND_PAGES)], n;

	/* Nothing written yet: nothing reported (reads only). */
	struct round_arg rd = { .m = m, .who = 2 };
	round_thread(&rd);
	assert_int_equal(vmem_tracker_collect(t, dirty, &n), 0);
	assert_int_equal(n, 0);

	for (unsigned r = 0; r < 6; r++) {
		pthread_t th[3];
		struct round_arg a[3];
		uint64_t expect = 0, wrong = 0;
		for (unsigned w = 0; w < 3; w++) {
			a[w] = (struct round_arg){ .m = m, .round = r, .who = w };
			assert_int_equal(pthread_create(&th[w], NULL, round_thread, &a[w]), 0);
		}
		for (unsigned w = 0; w < 3; w++)
			pthread_join(th[w], NULL);
		assert_int_equal(vmem_tracker_collect(t, dirty, &n), 0);
		for (uint64_t p = 0; p < ROUND_PAGES; p++) {
			expect += written_in(p, r);
			wrong += bit(dirty, p) != written_in(p, r);
		}
		/* One in five of 1024 pages: 204 or 205 depending on the round. */
		assert_in_range(expect, 204, 205);
		assert_int_equal(wrong, 0);
		assert_int_equal(n, expect);
		/* Write ages: 0 for this round's pages. */
		for (uint64_t p = 0; p < ROUND_PAGES; p++)
			if (written_in(p, r))
				assert_int_equal(vmem_tracker_write_age(t, p), 0);
	}
	/* Page 1: written in round r when (7 + 13 r) % 5 == 0, i.e. r = 1 (20 % 5), then r = 6;
	 * so after the six rounds (0..5) its age is 4 (collects 2, 3, 4, 5 since). */
	assert_int_equal(vmem_tracker_write_age(t, 1), 4);
	/* Page 3, read every round (3 % 3 == 0), written when (21 + 13 r) % 5 == 0: r = 3. */
	assert_int_equal(vmem_tracker_write_age(t, 3), 2);
	struct vmem_tracker_stats st;
	vmem_tracker_stats(t, &st);
	assert_int_equal(st.collects, 7);
	if (mech == VMEM_TRACK_UFFD_SYNC)
		assert_int_equal(st.wp_faults, st.pages_reported);
	vmem_tracker_destroy(t);
	/* After destroy the region is plain memory again: writable, contents kept. */
	m[5 * PAGE] = 9;
	assert_int_equal(m[5 * PAGE], 9);
	munmap(m, ROUND_PAGES * PAGE);
}

static void test_tracker_uffd_async_rounds_exact(void **state)
{
	(void)state;
	rounds(VMEM_TRACK_UFFD_ASYNC);
}

static void test_tracker_uffd_sync_rounds_exact(void **state)
{
	(void)state;
	rounds(VMEM_TRACK_UFFD_SYNC);
}

/* ---- writes concurrent with collects ---- */

#define CONC_PAGES 4096u
#define CONC_WRITERS 2u
#define CONC_ROUNDS 12u

struct conc {
	uint8_t *m;
	_Atomic uint64_t started[CONC_PAGES], done[CONC_PAGES];
	atomic_bool stop;
};

struct conc_writer {
	struct conc *c;
	unsigned who;
};

static void *conc_writer(void *arg)
{
	struct conc_writer *w = arg;
	struct conc *c = w->c;
	uint64_t x = 0x9e3779b97f4a7c15ull * (w->who + 1);

	while (!atomic_load(&c->stop)) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* A hot set of 256 pages half the time, else anywhere: pages of this writer only. */
		uint64_t p = (x >> 8) % ((x & 1) ? 256 : CONC_PAGES);
		p = p - p % CONC_WRITERS + w->who;
		if (p >= CONC_PAGES)
			continue;
		uint64_t v = atomic_fetch_add(&c->started[p], 1) + 1;
		memcpy(c->m + p * PAGE + (v % 500) * 8, &v, 8);
		atomic_fetch_add(&c->done[p], 1);
	}
	return NULL;
}

static void snapshot(_Atomic uint64_t *src, uint64_t *dst)
{
	for (unsigned p = 0; p < CONC_PAGES; p++)
		dst[p] = atomic_load(&src[p]);
}

static uint64_t total(_Atomic uint64_t *counts)
{
	uint64_t sum = 0;

	for (unsigned p = 0; p < CONC_PAGES; p++)
		sum += atomic_load(&counts[p]);
	return sum;
}

static void concurrent(enum vmem_track_mech mech, bool exact)
{
	uint64_t total_before = 0;
	struct conc *c = calloc(1, sizeof(*c));
	uint64_t *done_s = malloc(CONC_PAGES * 8), *started_s = malloc(CONC_PAGES * 8);
	uint64_t *prev_done_s = malloc(CONC_PAGES * 8), *prev_started_e = malloc(CONC_PAGES * 8);
	uint64_t *started_e = malloc(CONC_PAGES * 8);
	uint64_t dirty[WORDS(CONC_PAGES)], n, fneg = 0, fpos = 0, reported = 0;
	uint8_t *copy = malloc((size_t)CONC_PAGES * PAGE);
	pthread_t th[CONC_WRITERS];
	struct conc_writer w[CONC_WRITERS];

	c->m = fresh_region(CONC_PAGES);
	memset(copy, 0, (size_t)CONC_PAGES * PAGE);
	snapshot(c->done, prev_done_s);
	snapshot(c->started, prev_started_e);
	struct vmem_tracker *t = make(c->m, CONC_PAGES, mech, -1);
	for (unsigned i = 0; i < CONC_WRITERS; i++) {
		w[i] = (struct conc_writer){ c, i };
		assert_int_equal(pthread_create(&th[i], NULL, conc_writer, &w[i]), 0);
	}
	for (unsigned k = 0; k <= CONC_ROUNDS; k++) {
		if (k == CONC_ROUNDS) {          /* the last round: writers stopped */
			atomic_store(&c->stop, true);
			for (unsigned i = 0; i < CONC_WRITERS; i++)
				pthread_join(th[i], NULL);
		} else {
			/* 3 ms, and then until the writers wrote something since the last
			 * collect (on a loaded machine they may not have run at all), 10 s at most. */
			nanosleep(&(struct timespec){ 0, 3000000 }, NULL);
			for (unsigned ms = 0; ms < 10000 && total(c->done) == total_before; ms++)
				nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		}
		total_before = total(c->done);
		snapshot(c->done, done_s);
		(void)started_s;
		assert_int_equal(vmem_tracker_collect(t, dirty, &n), 0);
		snapshot(c->started, started_e);
		reported += n;
		for (unsigned p = 0; p < CONC_PAGES; p++) {
			if (done_s[p] > prev_started_e[p] && !bit(dirty, p))
				fneg++;
			if (bit(dirty, p) && started_e[p] == prev_done_s[p])
				fpos++;
			if (bit(dirty, p))
				memcpy(copy + (size_t)p * PAGE, c->m + (size_t)p * PAGE, PAGE);
		}
		memcpy(prev_done_s, done_s, CONC_PAGES * 8);
		memcpy(prev_started_e, started_e, CONC_PAGES * 8);
	}
	printf("%s: %u collects under 2 writers, %lu pages reported, %lu false negatives, "
	       "%lu false positives\n", vmem_tracker_mech_name(mech), CONC_ROUNDS + 1,
	       (unsigned long)reported, (unsigned long)fneg, (unsigned long)fpos);
	assert_int_equal(fneg, 0);
	if (exact)
		assert_int_equal(fpos, 0);
	assert_true(reported > CONC_ROUNDS);
	/* The pre-copy rule: copying what each collect reported gives the region byte for byte. */
	assert_memory_equal(copy, c->m, (size_t)CONC_PAGES * PAGE);
	vmem_tracker_destroy(t);
	munmap(c->m, CONC_PAGES * PAGE);
	free(copy);
	free(done_s), free(started_s), free(prev_done_s), free(prev_started_e), free(started_e);
	free(c);
}

static void test_tracker_uffd_async_concurrent_exact(void **state)
{
	(void)state;
	concurrent(VMEM_TRACK_UFFD_ASYNC, true);
}

static void test_tracker_uffd_sync_concurrent_no_misses(void **state)
{
	(void)state;
	concurrent(VMEM_TRACK_UFFD_SYNC, false);
}

/* ---- the pager and the tracker on one region ---- */

static void test_tracker_and_pager_refuse_one_region(void **state)
{
	(void)state;
	struct vmem_guest_ram *ram;
	struct vmem_ram_region_config rc;
	struct vmem_ram_region reg;
	struct vmem_pager_config pc;
	struct vmem_pager *p;
	struct vmem_tracker_config tc;
	struct vmem_tracker *t;
	char err[256];

	assert_int_equal(vmem_guest_ram_create(&ram), 0);
	vmem_ram_region_config_default(&rc);
	rc.size = 64 * PAGE;
	assert_int_equal(vmem_guest_ram_add(ram, &rc, NULL, err, sizeof(err)), 0);
	rc.gpa = 1ull << 30;
	assert_int_equal(vmem_guest_ram_add(ram, &rc, NULL, err, sizeof(err)), 0);

	/* Region 0: pager first, then a tracker: refused, VMEM_EEXIST, the reason named. */
	vmem_pager_config_default(&pc);
	assert_int_equal(vmem_pager_create(ram, 0, &pc, &p, err, sizeof(err)), 0);
	assert_int_equal(vmem_guest_ram_region(ram, 0, &reg), 0);
	vmem_tracker_config_default(&tc);
	tc.hva = reg.hva;
	tc.size = reg.size;
	assert_int_equal(vmem_tracker_create(&tc, &t, err, sizeof(err)), VMEM_EEXIST);
	assert_string_equal(err, "tracker: no mechanism is available here; uffd-async: the "
			    "range is already registered with a userfaultfd (a pager's?): one registration "
			    "per range");
	tc.mech = VMEM_TRACK_UFFD_SYNC;
	assert_int_equal(vmem_tracker_create(&tc, &t, err, sizeof(err)), VMEM_EEXIST);
	assert_int_equal(vmem_pager_destroy(p), 0);

	/* Region 1: tracker first, then a pager: the pager's registration is refused. */
	assert_int_equal(vmem_guest_ram_region(ram, 1, &reg), 0);
	tc.hva = reg.hva;
	tc.size = reg.size;
	tc.mech = VMEM_TRACK_AUTO;
	assert_int_equal(vmem_tracker_create(&tc, &t, err, sizeof(err)), 0);
	assert_int_equal(vmem_pager_create(ram, 1, &pc, &p, err, sizeof(err)), VMEM_EIO);
	assert_non_null(strstr(err, "UFFDIO_REGISTER"));
	assert_non_null(strstr(err, "busy"));
	vmem_tracker_destroy(t);
	vmem_guest_ram_destroy(ram);
}

/* ---- KVM: a CPL3 guest writing chosen pages ---- */

#define GUEST_PAGES 1024u            /* 4 MiB slot at guest-physical 0 */
#define GUEST_CODE 0x8000u
#define GUEST_DATA_FIRST 16u         /* pages 16.. are data */

struct guest {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
	char why[200];
};

static bool kvm_open(struct guest *g)
{
	memset(g, 0, sizeof(*g));
	g->vcpu = -1;
	g->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (g->kvm < 0) {
		snprintf(g->why, sizeof(g->why), "open: %s", strerror(errno));
		return false;
	}
	g->vm = ioctl(g->kvm, KVM_CREATE_VM, 0);
	if (g->vm < 0) {
		snprintf(g->why, sizeof(g->why), "KVM_CREATE_VM: %s", strerror(errno));
		close(g->kvm);
		return false;
	}
	g->mem = mmap(NULL, GUEST_PAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->mem != MAP_FAILED);
	madvise(g->mem, GUEST_PAGES * PAGE, MADV_NOHUGEPAGE);
	struct kvm_userspace_memory_region mr = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_PAGES * PAGE,
		.userspace_addr = (uintptr_t)g->mem,
	};
	assert_int_equal(ioctl(g->vm, KVM_SET_USER_MEMORY_REGION, &mr), 0);
	/* Page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD), 0x6000 (the PT of the first
	 * 2 MiB): present, user, accessed. Pages 0-15 (tables and code) are mapped read-only: KVM
	 * maps a page writable, and so logs it dirty, on any access through a guest entry that is
	 * writable and dirty. The data pages are writable and dirty already, as is the 2 MiB page
	 * above, so nothing ever writes the tables. */
	uint64_t *pml4 = (uint64_t *)(g->mem + 0x1000), *pdpt = (uint64_t *)(g->mem + 0x2000);
	uint64_t *pd = (uint64_t *)(g->mem + 0x3000), *pt = (uint64_t *)(g->mem + 0x6000);
	pml4[0] = 0x2000 | 0x27;
	pdpt[0] = 0x3000 | 0x27;
	pd[0] = 0x6000 | 0x27;
	pd[1] = 0x200000 | 0xe7;
	for (uint64_t i = 0; i < 512; i++)
		pt[i] = i * PAGE | (i < GUEST_DATA_FIRST ? 0x25 : 0x67);
	return true;
}

/* Writes the guest's program: round r writes byte r + 1 to each page of sets[r], then `out`. */
static void guest_program(struct guest *g, unsigned rounds, const uint64_t *const *sets,
			  const unsigned *counts)
{
	uint8_t *c = g->mem + GUEST_CODE;

	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < counts[r]; i++) {
			uint64_t gpa = sets[r][i] * PAGE + 64 + r;
			*c++ = 0x48, *c++ = 0xb8;                 /* mov rax, imm64 */
			memcpy(c, &gpa, 8), c += 8;
			*c++ = 0xc6, *c++ = 0x00, *c++ = (uint8_t)(r + 1); /* mov byte [rax], imm8 */
		}
		*c++ = 0xe6, *c++ = 0x10;                         /* out 0x10, al */
	}
	assert_true(c < g->mem + GUEST_DATA_FIRST * PAGE);
}

static bool guest_vcpu(struct guest *g)
{
	g->vcpu = ioctl(g->vm, KVM_CREATE_VCPU, 0);
	if (g->vcpu < 0) {
		snprintf(g->why, sizeof(g->why), "KVM_CREATE_VCPU: %s", strerror(errno));
		return false;
	}
	g->run_size = (size_t)ioctl(g->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	g->run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, g->vcpu, 0);
	assert_true(g->run != MAP_FAILED);

	struct kvm_sregs s;
	assert_int_equal(ioctl(g->vcpu, KVM_GET_SREGS, &s), 0);
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x1b, .type = 11, .present = 1,
		.dpl = 3, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = code;
	data.selector = 0x23;
	data.type = 3;
	data.l = 0;
	data.db = 1;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = (struct kvm_segment){ .selector = 0x08, .limit = 0x67, .type = 11, .present = 1 };
	s.cr0 = 0x80050033;          /* PG, AM, WP, NE, ET, MP, PE */
	s.cr3 = 0x1000;
	s.cr4 = 0x20;                /* PAE */
	s.efer = 0x500;              /* LME, LMA */
	assert_int_equal(ioctl(g->vcpu, KVM_SET_SREGS, &s), 0);
	struct kvm_regs regs = { .rip = GUEST_CODE, .rflags = 0x3002 };  /* IOPL 3 */
	assert_int_equal(ioctl(g->vcpu, KVM_SET_REGS, &regs), 0);
	return true;
}

/* Runs the guest to its next `out`; harvests the ring when it fills. Returns the harvests. */
static unsigned guest_round(struct guest *g, struct vmem_tracker *t)
{
	unsigned fulls = 0;

	for (;;) {
		assert_int_equal(ioctl(g->vcpu, KVM_RUN, 0), 0);
		if (g->run->exit_reason == KVM_EXIT_IO)
			return fulls;
		if (g->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			assert_int_equal(vmem_tracker_harvest(t), 0);
			fulls++;
			continue;
		}
		fail_msg("guest exit %u (expected KVM_EXIT_IO)", g->run->exit_reason);
	}
}

static void guest_close(struct guest *g)
{
	if (g->run)
		munmap(g->run, g->run_size);
	if (g->vcpu >= 0)
		close(g->vcpu);
	close(g->vm);
	close(g->kvm);
	munmap(g->mem, GUEST_PAGES * PAGE);
}

static bool kvm_usable(struct guest *g, const char *test)
{
	if (kvm_open(g))
		return true;
	printf("SKIP: %s: no usable /dev/kvm (%s)\n", test, g->why);
	return false;
}

/* Round r's set: `per` data pages spread with a stride that changes with r. */
static unsigned pick(uint64_t *set, unsigned per, unsigned r)
{
	/* Strides prime to the 1008 data pages, so `per` distinct pages are always found. */
	static const uint64_t stride[] = { 37, 41, 43 };
	unsigned n = 0;
	for (uint64_t k = 0; n < per; k++) {
		uint64_t p = GUEST_DATA_FIRST + (k * stride[r % 3] + r * 11) %
						(GUEST_PAGES - GUEST_DATA_FIRST);
		bool dup = false;
		for (unsigned i = 0; i < n; i++)
			dup |= set[i] == p;
		if (!dup)
			set[n++] = p;
	}
	return n;
}

static void kvm_rounds(enum vmem_track_mech mech, const char *test, unsigned per,
		       uint32_t ring_entries)
{
	struct guest g;
	enum { ROUNDS = 3 };
	uint64_t sets[ROUNDS][700];
	const uint64_t *setp[ROUNDS];
	unsigned counts[ROUNDS];
	uint64_t dirty[WORDS(GUEST_PAGES)], n;
	char err[256];

	if (!kvm_usable(&g, test)) {
		skip();
		return;
	}
	for (unsigned r = 0; r < ROUNDS; r++) {
		counts[r] = pick(sets[r], per + r, r);
		setp[r] = sets[r];
	}
	guest_program(&g, ROUNDS, setp, counts);

	struct vmem_tracker_config c;
	struct vmem_tracker *t;
	vmem_tracker_config_default(&c);
	c.hva = g.mem;
	c.size = GUEST_PAGES * PAGE;
	c.kvm_vm_fd = g.vm;
	c.kvm_slot = 0;
	c.mech = mech;
	c.ring_entries = ring_entries;
	if (vmem_tracker_create(&c, &t, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(guest_vcpu(&g));
	if (mech == VMEM_TRACK_KVM_RING)
		assert_int_equal(vmem_tracker_add_vcpu(t, g.vcpu, err, sizeof(err)), 0);
	else
		assert_int_equal(vmem_tracker_add_vcpu(t, g.vcpu, err, sizeof(err)), VMEM_EINVAL);

	unsigned fulls = 0;
	for (unsigned r = 0; r < ROUNDS; r++) {
		fulls += guest_round(&g, t);
		/* A host write through the mapping: KVM's log does not see it. */
		g.mem[(GUEST_PAGES - 1) * PAGE] = (uint8_t)r;
		assert_int_equal(vmem_tracker_collect(t, dirty, &n), 0);
		/* Exact on the data pages. Below them lie the guest's tables and code, which the
		 * guest never writes; with nested paging (AMD NPT) the CPU's walk of the guest's
		 * tables counts as a write to them (AMD APM Vol. 2, 15.25.5), so KVM's log may
		 * name them: they are counted apart, not compared. */
		uint64_t wrong = 0, below = 0;
		for (uint64_t p = 0; p < GUEST_DATA_FIRST; p++)
			below += bit(dirty, p);
		for (uint64_t p = GUEST_DATA_FIRST; p < GUEST_PAGES; p++) {
			bool want = false;
			for (unsigned i = 0; i < counts[r]; i++)
				want |= sets[r][i] == p;
			wrong += bit(dirty, p) != want;
			if (want)    /* and the guest really wrote it */
				assert_int_equal(g.mem[p * PAGE + 64 + r], r + 1);
		}
		for (uint64_t p = GUEST_DATA_FIRST; p < GUEST_PAGES && wrong; p++) {
			bool want = false;
			for (unsigned i = 0; i < counts[r]; i++)
				want |= sets[r][i] == p;
			if (bit(dirty, p) != want)
				printf("page %lu: %s\n", (unsigned long)p,
				       want ? "written, not reported" : "reported, not written");
		}
		if (wrong)
			fail_msg("%s round %u: %lu pages differ from the %u written (reported %lu)",
				 test, r, (unsigned long)wrong, counts[r], (unsigned long)n);
		if (below)
			printf("%s round %u: %lu table or code pages logged too\n", test, r,
			       (unsigned long)below);
		assert_int_equal(n, counts[r] + below);
	}
	struct vmem_tracker_stats st;
	vmem_tracker_stats(t, &st);
	printf("%s: 3 rounds of %u, %u, %u guest-written pages reported exactly%s",
	       vmem_tracker_mech_name(mech), counts[0], counts[1], counts[2],
	       mech == VMEM_TRACK_KVM_RING ? "" : "\n");
	if (mech == VMEM_TRACK_KVM_RING)
		printf(" (ring of %u entries, %u ring-full exits, %lu entries harvested)\n",
		       ring_entries, fulls, (unsigned long)st.ring_entries);
	if (ring_entries < per)
		assert_true(fulls > 0);
	vmem_tracker_destroy(t);
	guest_close(&g);
}

static void test_tracker_kvm_ring_guest_writes_exact(void **state)
{
	(void)state;
	kvm_rounds(VMEM_TRACK_KVM_RING, "tracker kvm-ring", 150, 4096);
}

static void test_tracker_kvm_ring_full_exits_harvested(void **state)
{
	(void)state;
	/* 600 pages a round through a ring of 256 entries: the vCPU exits with
	 * KVM_EXIT_DIRTY_RING_FULL, the host harvests, and the collect still has all 600. */
	kvm_rounds(VMEM_TRACK_KVM_RING, "tracker kvm-ring full", 600, 256);
}

static void test_tracker_kvm_bitmap_guest_writes_exact(void **state)
{
	(void)state;
	kvm_rounds(VMEM_TRACK_KVM_BITMAP, "tracker kvm-bitmap", 150, 4096);
}

static void test_tracker_kvm_ring_after_vcpu_falls_back(void **state)
{
	(void)state;
	struct guest g;
	struct vmem_tracker_config c;
	struct vmem_tracker *t;
	char err[256];

	if (!kvm_usable(&g, "tracker kvm ring after vCPU")) {
		skip();
		return;
	}
	assert_true(guest_vcpu(&g));
	vmem_tracker_config_default(&c);
	c.hva = g.mem;
	c.size = GUEST_PAGES * PAGE;
	c.kvm_vm_fd = g.vm;
	c.mech = VMEM_TRACK_KVM_RING;
	assert_int_equal(vmem_tracker_create(&c, &t, err, sizeof(err)), VMEM_ENOENT);
	assert_string_equal(err, "tracker: kvm-ring: KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING) "
			    "refused: Invalid argument (it must be enabled before the VM's first "
			    "vCPU, and once)");
	/* AUTO on the same VM: the bitmap, and the report says why not the ring. */
	c.mech = VMEM_TRACK_AUTO;
	assert_int_equal(vmem_tracker_create(&c, &t, err, sizeof(err)), 0);
	assert_int_equal(vmem_tracker_mechanism(t), VMEM_TRACK_KVM_BITMAP);
	struct vmem_tracker_report r;
	vmem_tracker_report(t, &r);
	assert_non_null(strstr(r.why_not[VMEM_TRACK_KVM_RING], "before the VM's first vCPU"));
	assert_string_equal(r.why_not[VMEM_TRACK_UFFD_ASYNC], "available; kvm-bitmap is preferred");
	printf("kvm: ring refused after a vCPU; auto chose %s (manual protect %s, ring up to %u "
	       "entries)\n", vmem_tracker_mech_name(r.used), r.manual_protect ? "on" : "off",
	       r.ring_max_entries);
	vmem_tracker_destroy(t);
	guest_close(&g);
}

/* ---- KVM: collects while the guest runs (the pre-copy rule) ---- */

struct running_guest {
	struct guest *g;
	struct vmem_tracker *t;
	atomic_bool stop;
	_Atomic uint64_t loops, fulls;
};

static void *vcpu_main(void *arg)
{
	struct running_guest *rg = arg;

	while (!atomic_load(&rg->stop)) {
		if (ioctl(rg->g->vcpu, KVM_RUN, 0))
			return (void *)"KVM_RUN failed";
		if (rg->g->run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			vmem_tracker_harvest(rg->t);
			atomic_fetch_add(&rg->fulls, 1);
		} else if (rg->g->run->exit_reason == KVM_EXIT_IO) {
			atomic_fetch_add(&rg->loops, 1);
		} else {
			return (void *)"unexpected exit";
		}
	}
	return NULL;
}

static void kvm_concurrent(enum vmem_track_mech mech, const char *test)
{
	struct guest g;
	uint64_t set[300];
	uint64_t dirty[WORDS(GUEST_PAGES)], n, outside = 0, reported = 0;
	char err[256];

	if (!kvm_usable(&g, test)) {
		skip();
		return;
	}
	/* The guest's loop: rbx += 1; write rbx to a word of each of 300 pages (the word moves
	 * with nothing: the value changes every pass); out; jump back. */
	unsigned count = pick(set, 300, 0);
	uint8_t *c = g.mem + GUEST_CODE, *loop = c;
	*c++ = 0x48, *c++ = 0xff, *c++ = 0xc3;                     /* inc rbx */
	for (unsigned i = 0; i < count; i++) {
		uint64_t gpa = set[i] * PAGE + 8 * (i % 500);
		*c++ = 0x48, *c++ = 0xb8;                          /* mov rax, imm64 */
		memcpy(c, &gpa, 8), c += 8;
		*c++ = 0x48, *c++ = 0x89, *c++ = 0x18;             /* mov [rax], rbx */
	}
	*c++ = 0xe6, *c++ = 0x10;                                  /* out 0x10, al */
	int32_t rel = (int32_t)(loop - (c + 5));
	*c++ = 0xe9;                                               /* jmp loop */
	memcpy(c, &rel, 4), c += 4;

	struct vmem_tracker_config tc;
	struct vmem_tracker *t;
	vmem_tracker_config_default(&tc);
	tc.hva = g.mem;
	tc.size = GUEST_PAGES * PAGE;
	tc.kvm_vm_fd = g.vm;
	tc.mech = mech;
	tc.ring_entries = 256;       /* small: ring-full exits happen while collects run */
	if (vmem_tracker_create(&tc, &t, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(guest_vcpu(&g));
	if (mech == VMEM_TRACK_KVM_RING)
		assert_int_equal(vmem_tracker_add_vcpu(t, g.vcpu, err, sizeof(err)), 0);

	/* Round 1 of the pre-copy: everything. */
	uint8_t *copy = malloc((size_t)GUEST_PAGES * PAGE);
	memcpy(copy, g.mem, (size_t)GUEST_PAGES * PAGE);
	struct running_guest rg = { .g = &g, .t = t };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, vcpu_main, &rg), 0);
	/* 20 collects 2 ms apart, and more until the guest has made two passes (an emulated
	 * CPU is far slower), 30 s at most. */
	for (unsigned k = 0; k < 20 || (atomic_load(&rg.loops) < 2 && k < 15000); k++) {
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
		assert_int_equal(vmem_tracker_collect(t, dirty, &n), 0);
		reported += n;
		for (uint64_t p = 0; p < GUEST_PAGES; p++)
			if (bit(dirty, p)) {
				bool in = p < GUEST_DATA_FIRST;   /* tables and code: see kvm_rounds */
				for (unsigned i = 0; i < count; i++)
					in |= set[i] == p;
				outside += !in;
				memcpy(copy + p * PAGE, g.mem + p * PAGE, PAGE);
			}
	}
	atomic_store(&rg.stop, true);
	void *why;
	pthread_join(th, &why);
	if (why)
		fail_msg("%s: %s", test, (const char *)why);
	/* Stop-and-copy: the guest is paused; the last collect and copy. */
	assert_int_equal(vmem_tracker_collect(t, dirty, &n), 0);
	for (uint64_t p = 0; p < GUEST_PAGES; p++)
		if (bit(dirty, p))
			memcpy(copy + p * PAGE, g.mem + p * PAGE, PAGE);
	printf("%s: collects every 2 ms while the guest ran %lu passes over %u pages (%lu ring-full "
	       "exits): %lu pages reported, %lu outside the written set\n",
	       vmem_tracker_mech_name(mech), (unsigned long)atomic_load(&rg.loops), count,
	       (unsigned long)atomic_load(&rg.fulls), (unsigned long)(reported + n),
	       (unsigned long)outside);
	assert_true(atomic_load(&rg.loops) > 1);
	assert_int_equal(outside, 0);
	assert_memory_equal(copy, g.mem, (size_t)GUEST_PAGES * PAGE);
	free(copy);
	vmem_tracker_destroy(t);
	guest_close(&g);
}

static void test_tracker_kvm_ring_collects_while_guest_runs(void **state)
{
	(void)state;
	kvm_concurrent(VMEM_TRACK_KVM_RING, "tracker kvm-ring concurrent");
}

static void test_tracker_kvm_bitmap_collects_while_guest_runs(void **state)
{
	(void)state;
	kvm_concurrent(VMEM_TRACK_KVM_BITMAP, "tracker kvm-bitmap concurrent");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracker_probe_reports_each_mechanism),
		cmocka_unit_test(test_tracker_bad_configs_rejected_with_a_message),
		cmocka_unit_test(test_tracker_uffd_async_rounds_exact),
		cmocka_unit_test(test_tracker_uffd_sync_rounds_exact),
		cmocka_unit_test(test_tracker_uffd_async_concurrent_exact),
		cmocka_unit_test(test_tracker_uffd_sync_concurrent_no_misses),
		cmocka_unit_test(test_tracker_and_pager_refuse_one_region),
		cmocka_unit_test(test_tracker_kvm_ring_guest_writes_exact),
		cmocka_unit_test(test_tracker_kvm_ring_full_exits_harvested),
		cmocka_unit_test(test_tracker_kvm_bitmap_guest_writes_exact),
		cmocka_unit_test(test_tracker_kvm_ring_after_vcpu_falls_back),
		cmocka_unit_test(test_tracker_kvm_ring_collects_while_guest_runs),
		cmocka_unit_test(test_tracker_kvm_bitmap_collects_while_guest_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
