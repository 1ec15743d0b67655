/*
 * --precopy: live migration's pre-copy phase (Clark et al., NSDI 2005) of the data region,
 * while the guest runs its passes, over libvmem's dirty-page tracker (vmem/tracker.h): KVM's
 * dirty log on the data region's memory slot by default, or userfaultfd write protection.
 *
 * Once every vCPU has reached its passes, the sender copies every page of the data region
 * to a destination buffer (round 0), then, round after round, the pages the tracker
 * reports written during the previous round, until a round finds at most --precopy-threshold
 * pages or --precopy-rounds rounds are done. A round takes at least the time its pages take
 * at --precopy-bandwidth MiB/s, as on a network. Then the vCPUs are paused (each at its next
 * command; none runs guest code while paused) and the rest is copied: the stop-and-copy,
 * whose time is the downtime. The destination must then equal the source byte for byte, and
 * the vCPUs run on to the end of the guest's script.
 *
 * The guest dirties memory at a known rate: pass p (1, 2, ...) of a vCPU rewrites the
 * non-shared pages of its window, which starts vmm_window_start(p) pages into its slice, and
 * --pass-interval spaces the passes out. So the pages a round must report are known from
 * which passes ran: every page of a pass that started after the previous collect and ended
 * before this one (the lower bound), and none outside the passes that had not ended before
 * the previous collect and had started before this one ended (the upper bound). Each round
 * checks the tracker's report against both, page by page: dirty_missing counts pages of the
 * lower bound not reported, dirty_outside pages reported outside the upper bound. A vCPU past
 * its passes (its final check reads every page, which KVM may log: docs/KVM.md) makes its
 * whole slice the upper bound.
 *
 * Concurrency: vmm_precopy_begin and _end run in main's thread; between them the sender
 * thread alone touches the state. vmm_precopy_checkpoint runs in the vCPU threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmem/common.h"
#include "vmem/tracker.h"

#include "pattern.h"
#include "vmm.h"

#define PAGE 4096u
#define ROUNDS_MAX 1000u

/* Where one vCPU's passes stood when a collect began and ended. */
struct pass_marks {
	uint32_t done_before[VMM_MAX_VCPUS];     /* passes ended before the collect */
	uint32_t started_after[VMM_MAX_VCPUS];   /* passes started by its end */
	bool past_after[VMM_MAX_VCPUS];          /* past its passes by its end */
};

struct precopy_round {
	uint64_t dirty, expected_min, expected_max, missing, outside, sent;
	uint64_t ns;
};

struct vmm_precopy_run {
	struct vmm *m;
	pthread_t sender;
	bool sender_running;
	struct vmem_tracker *tracker;
	uint8_t *dest;
	uint64_t *dirty, *lower, *upper, *pending;  /* bitmaps of data pages */
	size_t words;
	struct precopy_round rounds[ROUNDS_MAX + 1];
	unsigned nrounds;                         /* rounds after round 0 */
	bool started, converged, stopped_guest;
	uint64_t pages_sent, stop_copy_pages, downtime_ns, pause_wait_ns;
	uint64_t missing, outside;
	int dest_equal;                           /* -1: not compared */
	int error;
	char why[256];
};

static uint32_t load32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void marks_before(struct vmm *m, struct pass_marks *k)
{
	for (unsigned v = 0; v < m->o.vcpus; v++)
		k->done_before[v] = load32(&m->vcpus[v].passes_done);
}

static void marks_after(struct vmm *m, struct pass_marks *k)
{
	for (unsigned v = 0; v < m->o.vcpus; v++) {
		k->started_after[v] = load32(&m->vcpus[v].passes_started);
		k->past_after[v] = __atomic_load_n(&m->vcpus[v].past_passes, __ATOMIC_ACQUIRE);
	}
}

static void set_bit(uint64_t *bm, uint64_t p)
{
	bm[p / 64] |= 1ull << (p % 64);
}

static bool test_bit(const uint64_t *bm, uint64_t p)
{
	return bm[p / 64] >> (p % 64) & 1;
}

/* Marks the pages passes (first, last] (1-based) of vCPU v write. */
static void mark_passes(const struct vmm *m, unsigned v, uint32_t first, uint32_t last,
			uint64_t *bm)
{
	const struct vmm_vcpu_block *b = m->vcpus[v].block;

	for (uint32_t p = first + 1; p <= last && p <= m->o.passes; p++) {
		uint64_t start = vmm_window_start(p, b->step, b->pages);

		for (uint64_t j = 0; j < b->window; j++) {
			uint64_t page = b->first_page + (start + j) % b->pages;

			if (!vmm_page_is_shared(page, b->dup_every))
				set_bit(bm, page);
		}
	}
}

/* Checks one collect's report against what the passes between the two marks wrote. */
static void check_round(struct vmm_precopy_run *d, const struct pass_marks *prev,
			const struct pass_marks *now, struct precopy_round *r)
{
	struct vmm *m = d->m;

	memset(d->lower, 0, d->words * 8);
	memset(d->upper, 0, d->words * 8);
	for (unsigned v = 0; v < m->o.vcpus; v++) {
		const struct vmm_vcpu_block *b = m->vcpus[v].block;

		if (now->done_before[v] > prev->started_after[v])
			mark_passes(m, v, prev->started_after[v], now->done_before[v], d->lower);
		if (now->past_after[v])
			for (uint64_t p = b->first_page; p < b->first_page + b->pages; p++)
				set_bit(d->upper, p);
		else
			mark_passes(m, v, prev->done_before[v], now->started_after[v], d->upper);
	}
	for (size_t w = 0; w < d->words; w++) {
		r->expected_min += (uint64_t)__builtin_popcountll(d->lower[w]);
		r->expected_max += (uint64_t)__builtin_popcountll(d->upper[w]);
		r->missing += (uint64_t)__builtin_popcountll(d->lower[w] & ~d->dirty[w]);
		r->outside += (uint64_t)__builtin_popcountll(d->dirty[w] & ~d->upper[w]);
	}
	d->missing += r->missing;
	d->outside += r->outside;
}

static void copy_marked(struct vmm_precopy_run *d, const uint64_t *bm)
{
	for (uint64_t p = 0; p < d->m->data_pages; p++)
		if (test_bit(bm, p))
			memcpy(d->dest + p * PAGE, d->m->data_hva + p * PAGE, PAGE);
}

/* A round of `pages` pages takes at least pages / bandwidth seconds: sleeps out the rest. */
static void pace(struct vmm_precopy_run *d, uint64_t start_ns, uint64_t pages)
{
	uint64_t bw = d->m->o.precopy_mibs;
	uint64_t want_ns, spent;

	if (!bw)
		return;
	want_ns = pages * PAGE * 1000000000ull / (bw << 20);
	spent = vmm_now_ns() - start_ns;
	if (spent < want_ns) {
		struct timespec ts = { (time_t)((want_ns - spent) / 1000000000ull),
				       (long)((want_ns - spent) % 1000000000ull) };

		nanosleep(&ts, NULL);
	}
}

static bool guest_gone(struct vmm *m)
{
	return atomic_load(&m->vcpus_done) == m->o.vcpus;
}

static int collect(struct vmm_precopy_run *d, uint64_t *count)
{
	if (vmem_tracker_collect(d->tracker, d->dirty, count) < 0) {
		d->error = 1;
		snprintf(d->why, sizeof(d->why), "collect: %s", vmem_tracker_error(d->tracker));
		return -1;
	}
	return 0;
}

/* Pauses every vCPU at its next command (or its end); returns when none runs. */
static void pause_vcpus(struct vmm *m)
{
	pthread_mutex_lock(&m->pause_lock);
	m->pause_requested = true;
	while (m->vcpus_paused + atomic_load(&m->vcpus_done) < m->o.vcpus)
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	pthread_mutex_unlock(&m->pause_lock);
}

static void resume_vcpus(struct vmm *m)
{
	pthread_mutex_lock(&m->pause_lock);
	m->pause_requested = false;
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
}

void vmm_precopy_checkpoint(struct vmm *m)
{
	pthread_mutex_lock(&m->pause_lock);
	if (m->pause_requested) {
		m->vcpus_paused++;
		pthread_cond_broadcast(&m->pause_cond);
		while (m->pause_requested)
			pthread_cond_wait(&m->pause_cond, &m->pause_lock);
		m->vcpus_paused--;
	}
	pthread_mutex_unlock(&m->pause_lock);
}

/* The vCPUs that end while the sender waits for them to pause wake it. */
void vmm_precopy_vcpu_done(struct vmm *m)
{
	pthread_mutex_lock(&m->pause_lock);
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
}

static void *sender_thread(void *arg)
{
	struct vmm_precopy_run *d = arg;
	struct vmm *m = d->m;
	struct timespec tick = { 0, 200000 };
	struct vmem_tracker_config tc;
	struct pass_marks prev, now;
	uint64_t t0, count = 0;
	char why[256];

	while (atomic_load(&m->vcpus_in_passes) < m->o.vcpus && !guest_gone(m))
		nanosleep(&tick, NULL);
	if (guest_gone(m))
		return NULL;                /* the guest ended (or failed) before its passes */
	vmem_tracker_config_default(&tc);
	tc.hva = m->data_hva;
	tc.size = m->data_bytes;
	tc.mech = m->o.precopy_mech;
	if (tc.mech == VMEM_TRACK_KVM_BITMAP) {
		tc.kvm_vm_fd = m->kvm.vm_fd;
		tc.kvm_slot = 1;
		tc.kvm_gpa = VMM_DATA_GPA;
	}
	marks_before(m, &prev);
	if (vmem_tracker_create(&tc, &d->tracker, why, sizeof(why)) < 0) {
		d->error = 1;
		snprintf(d->why, sizeof(d->why), "tracker: %.200s", why);
		return NULL;
	}
	marks_after(m, &prev);
	d->started = true;

	/* Round 0: everything. */
	t0 = vmm_now_ns();
	memcpy(d->dest, m->data_hva, m->data_bytes);
	pace(d, t0, m->data_pages);
	d->rounds[0].dirty = d->rounds[0].sent = m->data_pages;
	d->rounds[0].ns = vmm_now_ns() - t0;
	d->pages_sent = m->data_pages;

	for (;;) {
		struct precopy_round *r = &d->rounds[d->nrounds + 1];

		t0 = vmm_now_ns();
		marks_before(m, &now);
		if (collect(d, &count) < 0)
			return NULL;
		marks_after(m, &now);
		d->nrounds++;
		r->dirty = count;
		check_round(d, &prev, &now, r);
		prev = now;
		if (count <= m->o.precopy_threshold) {
			d->converged = true;
			break;
		}
		if (d->nrounds >= m->o.precopy_rounds || guest_gone(m))
			break;
		copy_marked(d, d->dirty);
		pace(d, t0, count);
		r->sent = count;
		r->ns = vmm_now_ns() - t0;
		d->pages_sent += count;
	}

	/* Stop-and-copy: the last round's pages and whatever was written since. */
	memcpy(d->pending, d->dirty, d->words * 8);
	t0 = vmm_now_ns();
	pause_vcpus(m);
	d->stopped_guest = true;
	d->pause_wait_ns = vmm_now_ns() - t0;
	t0 = vmm_now_ns();
	if (collect(d, &count) == 0) {
		for (size_t w = 0; w < d->words; w++)
			d->pending[w] |= d->dirty[w];
		copy_marked(d, d->pending);
		for (size_t w = 0; w < d->words; w++)
			d->stop_copy_pages += (uint64_t)__builtin_popcountll(d->pending[w]);
		pace(d, t0, d->stop_copy_pages);
		d->downtime_ns = vmm_now_ns() - t0;
		d->pages_sent += d->stop_copy_pages;
		d->dest_equal = memcmp(d->dest, m->data_hva, m->data_bytes) == 0;
	}
	resume_vcpus(m);
	return NULL;
}

int vmm_precopy_begin(struct vmm *m, char *err, size_t errlen)
{
	struct vmm_precopy_run *d = calloc(1, sizeof(*d));

	if (!d) {
		snprintf(err, errlen, "--precopy: out of memory");
		return -1;
	}
	d->m = m;
	d->dest_equal = -1;
	m->precopy = d;
	d->words = (m->data_pages + 63) / 64;
	d->dest = malloc(m->data_bytes);
	d->dirty = calloc(d->words, 8);
	d->lower = calloc(d->words, 8);
	d->upper = calloc(d->words, 8);
	d->pending = calloc(d->words, 8);
	if (!d->dest || !d->dirty || !d->lower || !d->upper || !d->pending) {
		snprintf(err, errlen, "--precopy: out of memory for a destination of %" PRIu64
			 " bytes", m->data_bytes);
		return -1;
	}
	if (pthread_create(&d->sender, NULL, sender_thread, d) != 0) {
		snprintf(err, errlen, "--precopy: cannot start the sender thread");
		return -1;
	}
	d->sender_running = true;
	return 0;
}

void vmm_precopy_end(struct vmm *m)
{
	struct vmm_precopy_run *d = m->precopy;

	if (d && d->sender_running) {
		pthread_join(d->sender, NULL);
		d->sender_running = false;
	}
}

int vmm_precopy_print(struct vmm *m, FILE *f)
{
	struct vmm_precopy_run *d = m->precopy;
	struct vmem_tracker_report rep;
	char key[64];

	if (!d)
		return 0;
	if (d->error)
		fprintf(stderr, "vmem-vmm: --precopy: %s\n", d->why);
	else if (!d->started)
		fprintf(stderr, "vmem-vmm: --precopy: the guest ended before its passes: nothing "
			"was migrated\n");
	if (d->tracker) {
		vmem_tracker_report(d->tracker, &rep);
		fprintf(f, "precopy.mechanism %s\n", vmem_tracker_mech_name(rep.used));
	}
	vmm_print_figure(f, "precopy.started", d->started);
	vmm_print_figure(f, "precopy.rounds", d->nrounds);
	vmm_print_figure(f, "precopy.round.0.sent", d->rounds[0].sent);
	vmm_print_figure(f, "precopy.round.0.us", d->rounds[0].ns / 1000);
	for (unsigned i = 1; i <= d->nrounds; i++) {
		const struct precopy_round *r = &d->rounds[i];

		snprintf(key, sizeof(key), "precopy.round.%u.dirty", i);
		vmm_print_figure(f, key, r->dirty);
		snprintf(key, sizeof(key), "precopy.round.%u.expected_min", i);
		vmm_print_figure(f, key, r->expected_min);
		snprintf(key, sizeof(key), "precopy.round.%u.expected_max", i);
		vmm_print_figure(f, key, r->expected_max);
		snprintf(key, sizeof(key), "precopy.round.%u.sent", i);
		vmm_print_figure(f, key, r->sent);
	}
	vmm_print_figure(f, "precopy.converged", d->converged);
	vmm_print_figure(f, "precopy.pages_sent", d->pages_sent);
	vmm_print_figure(f, "precopy.stop_copy_pages", d->stop_copy_pages);
	vmm_print_figure(f, "precopy.downtime_us", d->downtime_ns / 1000);
	vmm_print_figure(f, "precopy.pause_wait_us", d->pause_wait_ns / 1000);
	vmm_print_figure(f, "precopy.dirty_missing", d->missing);
	vmm_print_figure(f, "precopy.dirty_outside", d->outside);
	vmm_print_figure(f, "precopy.dest_equals_source", d->dest_equal == 1);
	if (d->error || (d->started && (d->dest_equal != 1 || d->missing)))
		return -1;
	return 0;
}

void vmm_precopy_destroy(struct vmm *m)
{
	struct vmm_precopy_run *d = m->precopy;

	if (!d)
		return;
	vmm_precopy_end(m);
	vmem_tracker_destroy(d->tracker);
	free(d->dest);
	free(d->dirty);
	free(d->lower);
	free(d->upper);
	free(d->pending);
	free(d);
	m->precopy = NULL;
}
