/*
 * The host memory manager on real guest RAM (vmem/ram_manager.h): one vmem_host keeps
 * the books of one region, its swap policy picks victims, and a pager evicts them from
 * the real region and serves them back through userfaultfd. The same policy objects run
 * on simulated frames (vmem-host) and here; the journal lets a test replay what the
 * manager was told through a vmem_host alone and compare its victims.
 *
 * Who runs what:
 *   - the pager's handler thread, in the fault hook: a fault on a page that is not
 *     resident becomes vmem_host_fault under the lock; the victims of its direct reclaim
 *     are evicted before the hook returns, so they are gone before the page is mapped. A
 *     write-protect fault (after a scan) only sets the page's seen bits (atomics).
 *   - the reclaim thread, every reclaim_ms: advances the manager's clock by the real time
 *     that passed (the swap daemon runs in vmem_host_advance), evicts its victims, every
 *     scan_ms tells lru of the pages seen and write-protects the region, and frees
 *     retired table records after a grace period;
 *   - any thread: vmem_ram_manager_page reads the table without a lock (RCU).
 *
 * Why evictions run with the lock held. The books and memory then change together as
 * other manager calls see them: a page the books call swapped is never still mapped
 * when another thread takes the lock. This cannot deadlock with the handler: the
 * handler takes the lock (in the hook) only for a page that is not resident, holding
 * that page's pager lock; an eviction under the lock waits for a resident page's pager
 * lock, which the handler holds only briefly while serving that page (the hook for a
 * resident page takes no lock). A page is picked only while the books call it resident,
 * which they do only from its fault's hook on, so the two page sets never meet.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <urcu/urcu-memb.h>
#include <urcu/pointer.h>

#include "vmem/guest_ram.h"
#include "vmem/host_policy.h"
#include "vmem/pager.h"
#include "vmem/ram_balloon.h"
#include "vmem/ram_manager.h"
#include "backend/backend_internal.h"
#include "backend/metadata_arena.h"
#include "backend/ram_manager_internal.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vmem_ram_manager_config_default(struct vmem_ram_manager_config *c)
{
	memset(c, 0, sizeof(*c));
	c->reclaim_ms = 2;
	c->scan_ms = 20;
}

/* ---- the journal (under the lock) ---- */

static void journal(struct vmem_ram_manager *rm, uint8_t kind, uint64_t page, bool flag,
		    bool answer, uint64_t arg)
{
	if (!rm->journal)
		return;
	if (rm->njournal == rm->journal_max) {
		rm->journal_dropped++;
		return;
	}
	rm->journal[rm->njournal++] = (struct vmem_ram_manager_event){
		.kind = kind, .flag = flag, .answer = answer, .page = page, .arg = arg,
	};
}

/* ---- the table (writers under the lock, readers under RCU) ---- */

static void retired_flush(struct vmem_ram_manager *rm)
{
	if (!rm->nretired)
		return;
	/* Every reader that could still hold an old record is in a read-side critical
	 * section that began before the records were unpublished. */
	urcu_memb_synchronize_rcu();
	for (size_t i = 0; i < rm->nretired; i++)
		metadata_free(rm->arena, rm->retired[i]);
	rm->nretired = 0;
}

static void record_update(struct vmem_ram_manager *rm, uint64_t page, enum vmem_page_state from,
			  enum vmem_page_state to)
{
	struct page_record *old = rm->table[page], *rec;

	rec = metadata_alloc(rm->arena, sizeof(*rec));
	if (!rec)
		return;   /* the check reports the stale record */
	if (old)
		*rec = *old;
	else
		memset(rec, 0, sizeof(*rec));
	rec->state = (uint8_t)to;
	rec->since_ns = now_ns();
	if (to == VMEM_PG_SWAPPED || to == VMEM_PG_COMPRESSED)
		rec->swap_outs++;
	if ((from == VMEM_PG_SWAPPED || from == VMEM_PG_COMPRESSED) && to == VMEM_PG_RESIDENT)
		rec->swap_ins++;
	rcu_assign_pointer(rm->table[page], rec);
	if (old) {
		if (rm->nretired == RETIRE_MAX)
			retired_flush(rm);
		rm->retired[rm->nretired++] = old;
	}
}

/* liburcu's memb flavour needs each reading thread registered: done on its first read,
 * undone by the key's destructor when the thread exits. */
static pthread_key_t reader_key;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;
static _Thread_local bool reader_registered;

static void reader_exit(void *unused)
{
	(void)unused;
	urcu_memb_unregister_thread();
}

static void reader_key_make(void)
{
	pthread_key_create(&reader_key, reader_exit);
}

int vmem_ram_manager_page(struct vmem_ram_manager *rm, uint64_t page,
			  struct vmem_ram_manager_page *out)
{
	const struct page_record *rec;

	if (!rm || page >= rm->pages)
		return VMEM_ERANGE;
	if (!reader_registered) {
		pthread_once(&reader_once, reader_key_make);
		urcu_memb_register_thread();
		pthread_setspecific(reader_key, rm);
		reader_registered = true;
	}
	urcu_memb_read_lock();
	rec = rcu_dereference(rm->table[page]);
	if (rec) {
		out->state = (enum vmem_page_state)rec->state;
		out->since_ns = rec->since_ns;
		out->swap_outs = rec->swap_outs;
		out->swap_ins = rec->swap_ins;
	} else {
		memset(out, 0, sizeof(*out));
		out->state = VMEM_PG_UNTOUCHED;
	}
	urcu_memb_read_unlock();
	return 0;
}

/* ---- the manager's hooks (called inside vmem_host_* calls, under the lock) ---- */

static void on_state(void *ctx, uint16_t vm, uint64_t gfn, enum vmem_page_state from,
		     enum vmem_page_state to)
{
	struct vmem_ram_manager *rm = ctx;

	if (vm != rm->vm || gfn >= rm->pages)
		return;
	record_update(rm, gfn, from, to);
	if (rm->dedup)
		ram_manager_dedup_on_state(rm, gfn, from, to);
	if (from != VMEM_PG_RESIDENT || (to != VMEM_PG_SWAPPED && to != VMEM_PG_COMPRESSED))
		return;
	journal(rm, VMEM_RM_VICTIM, gfn, false, false, to);
	if (rm->nvictims == rm->victims_cap) {
		size_t cap = rm->victims_cap ? rm->victims_cap * 2 : 64;
		uint64_t *v = realloc(rm->victims, cap * sizeof(*v));

		if (!v)
			return;   /* then the check reports a page swapped in the books only */
		rm->victims = v;
		rm->victims_cap = cap;
	}
	rm->victims[rm->nvictims++] = gfn;
}

static bool on_young(void *ctx, uint16_t vm, uint64_t gfn, bool clear)
{
	struct vmem_ram_manager *rm = ctx;
	bool young;

	if (vm != rm->vm || gfn >= rm->pages)
		return false;
	if (clear)
		young = atomic_fetch_and(&rm->seen[gfn], (uint8_t)~SEEN_YOUNG) & SEEN_YOUNG;
	else
		young = atomic_load(&rm->seen[gfn]) & SEEN_YOUNG;
	journal(rm, VMEM_RM_YOUNG, gfn, clear, young, 0);
	return young;
}

/*
 * sample_reads (ESX's statistical sampling, Waldspurger, OSDI 2002, 5.3): the controller
 * picked gfn for its active-fraction sample and cleared its young bit. Queued here
 * (inside vmem_host_advance, which must not be re-entered) and taken away by sample_out
 * once the call returns.
 */
static void on_sample(void *ctx, uint16_t vm, uint64_t gfn)
{
	struct vmem_ram_manager *rm = ctx;

	if (vm != rm->vm || gfn >= rm->pages)
		return;
	if (rm->nsample_queue == rm->sample_queue_cap) {
		size_t cap = rm->sample_queue_cap ? rm->sample_queue_cap * 2 : 128;
		uint64_t *q = realloc(rm->sample_queue, cap * sizeof(*q));

		if (!q)
			return;           /* that page is sampled for writes only */
		rm->sample_queue = q;
		rm->sample_queue_cap = cap;
	}
	rm->sample_queue[rm->nsample_queue++] = gfn;
}

/*
 * Takes the queued sampled pages away (under the lock): each resident page is evicted
 * through the pager, as ESX invalidates a sampled page's mappings, so that its next
 * access, read or write, is a MISSING fault; the hook then marks it young and the pager
 * serves it back, the manager's books unchanged (resident throughout). The flag goes
 * first, so that a fault racing the eviction already knows the page is a sample.
 */
static void sample_out(struct vmem_ram_manager *rm)
{
	for (size_t i = 0; i < rm->nsample_queue; i++) {
		uint64_t g = rm->sample_queue[i];

		if (g == rm->hook_page ||
		    vmem_host_page_state(rm->host, rm->vm, g) != VMEM_PG_RESIDENT ||
		    vmem_pager_page_state(rm->pager, g) != VMEM_PAGER_RESIDENT ||
		    (atomic_fetch_or(&rm->seen[g], SEEN_SAMPLED) & (SEEN_SAMPLED | SEEN_DROPPED)))
			continue;
		if (vmem_pager_evict(rm->pager, g)) {
			atomic_fetch_and(&rm->seen[g], (uint8_t)~SEEN_SAMPLED);
			continue;
		}
		rm->sample_taken++;
	}
	rm->nsample_queue = 0;
}

/* A fault given to the manager, journaled (under the lock). */
int ram_manager_fault(struct vmem_ram_manager *rm, uint64_t page, bool write)
{
	struct vmem_host_fault_result res;

	journal(rm, VMEM_RM_FAULT, page, write, false, 0);
	return vmem_host_fault(rm->host, rm->vm, page, write, &res);
}

/*
 * Carries out the victims the last manager call decided (under the lock). An eviction
 * the pager refuses goes back into the books as a fault on the page, whose own reclaim
 * may add victims; bounded so a full swap file cannot keep it going for ever.
 */
void ram_manager_carry_out(struct vmem_ram_manager *rm)
{
	uint64_t budget = 4 * rm->pages + 64;

	for (size_t i = 0; i < rm->nvictims && budget; i++, budget--) {
		uint64_t page = rm->victims[i];
		int rc;

		if (page == rm->hook_page) {
			/* Cannot happen (the faulting page is not a candidate while its fault
			 * is served); evicting it here would wait for our own page lock. */
			rm->evict_missing++;
			continue;
		}
		rm->evictions++;
		if (atomic_fetch_and(&rm->seen[page], (uint8_t)~SEEN_SAMPLED) & SEEN_SAMPLED)
			continue;         /* a sampled page, taken away already */
		rc = vmem_pager_evict(rm->pager, page);
		if (rc == VMEM_ENOENT) {
			rm->evict_missing++;
		} else if (rc) {
			rm->evict_failed++;
			ram_manager_fault(rm, page, true);
		}
	}
	rm->nvictims = 0;
}

/* ---- the pager's fault hook (its handler thread) ---- */

static void fault_hook(void *ctx, uint64_t page, enum vmem_pager_page was, unsigned flags)
{
	struct vmem_ram_manager *rm = ctx;
	uint64_t t0;

	if (flags & VMEM_PAGER_FAULT_WP) {
		/* A write to a resident page after a scan: its dirty bit. No lock here (an
		 * eviction under the lock may be waiting for this page). */
		atomic_fetch_or(&rm->seen[page], SEEN_YOUNG | SEEN_LRU | SEEN_HASH);
		atomic_fetch_add_explicit(&rm->writes_seen, 1, memory_order_relaxed);
		return;
	}
	/* A second thread's fault on a page served already, unless the balloon dropped the
	 * page: then the pager serves a zero page and the books must see a first touch. */
	if (was == VMEM_PAGER_RESIDENT && !(atomic_load(&rm->seen[page]) & SEEN_DROPPED))
		return;
	/* A sampled page touched again: accessed, and still resident in the books. */
	if (was != VMEM_PAGER_RESIDENT && !(atomic_load(&rm->seen[page]) & SEEN_DROPPED) &&
	    (atomic_fetch_and(&rm->seen[page], (uint8_t)~SEEN_SAMPLED) & SEEN_SAMPLED)) {
		atomic_fetch_or(&rm->seen[page], SEEN_YOUNG | SEEN_LRU |
				(flags & VMEM_PAGER_FAULT_WRITE ? SEEN_HASH : 0));
		atomic_fetch_add_explicit(&rm->sample_touched, 1, memory_order_relaxed);
		return;
	}
	t0 = now_ns();
	pthread_mutex_lock(&rm->lock);
	if (rm->closing) {
		/* The pager is bringing every page back before it stops: no more evictions,
		 * which would drop pages it has passed already. */
		pthread_mutex_unlock(&rm->lock);
		return;
	}
	rm->hook_page = page;
	atomic_fetch_and(&rm->seen[page], (uint8_t)~SEEN_DROPPED);
	ram_manager_fault(rm, page, flags & VMEM_PAGER_FAULT_WRITE);
	ram_manager_carry_out(rm);
	rm->hook_page = NO_PAGE;
	atomic_fetch_or(&rm->seen[page], SEEN_YOUNG | SEEN_LRU | SEEN_HASH);
	rm->faults++;
	rm->fault_ns += now_ns() - t0;
	pthread_mutex_unlock(&rm->lock);
}

/* ---- the balloon: the manager's backend and the balloon's observer ---- */

/* The controller's calls (inside vmem_host_advance, with the lock held). */
static uint64_t be_size(void *ctx, uint16_t vm)
{
	struct vmem_ram_manager *rm = ctx;

	(void)vm;
	return rm->balloon_pages;
}

static uint64_t be_guest_free(void *ctx, uint16_t vm)
{
	struct vmem_ram_manager *rm = ctx;

	(void)vm;
	return rm->guest_free;
}

static void be_set_target(void *ctx, uint16_t vm, uint64_t pages)
{
	struct vmem_ram_manager *rm = ctx;

	(void)vm;
	/* Handed on after the lock is released (target_out): the balloon's lock comes
	 * before the manager's. */
	if (pages != rm->target || !rm->targets_set)
		rm->target_pending = true;
	rm->target = pages;
}

static const struct vmem_host_balloon_backend balloon_backend = {
	.size = be_size, .guest_free = be_guest_free, .set_target = be_set_target,
};

/* The balloon's calls, under its lock: the manager's lock is held from begin to end, so
 * each request is checked, carried out and booked with no eviction in between. */
static void obs_begin(void *ctx)
{
	pthread_mutex_lock(&((struct vmem_ram_manager *)ctx)->lock);
}

static void obs_end(void *ctx)
{
	pthread_mutex_unlock(&((struct vmem_ram_manager *)ctx)->lock);
}

/* The region's page at gpa, or NO_PAGE for a page of another region. */
static uint64_t page_at(const struct vmem_ram_manager *rm, uint64_t gpa)
{
	uint64_t off = gpa - rm->gpa;

	return off / PAGE < rm->pages ? off / PAGE : NO_PAGE;
}

static bool obs_may_drop(void *ctx, uint64_t gpa, char *why, size_t len)
{
	struct vmem_ram_manager *rm = ctx;
	uint64_t g = page_at(rm, gpa);
	enum vmem_page_state s;

	if (g == NO_PAGE)
		return true;
	/* A page taken away for the sample (resident in the books): its copy goes, so that
	 * the next touch after the balloon gives it back reads zeros as for any other. */
	if ((atomic_load(&rm->seen[g]) & SEEN_SAMPLED) && vmem_pager_forget(rm->pager, g) == 0)
		atomic_fetch_and(&rm->seen[g], (uint8_t)~SEEN_SAMPLED);
	s = vmem_host_page_state(rm->host, rm->vm, g);
	if (s == VMEM_PG_SWAPPED || s == VMEM_PG_COMPRESSED || s == VMEM_PG_ZERO) {
		/* Dropping it would leave the pager's copy to be served at the next touch. */
		snprintf(why, len, "the host holds it evicted (%s)", vmem_page_state_name(s));
		rm->balloon_refused++;
		return false;
	}
	return true;
}

static void obs_changed(void *ctx, enum vmem_bch_op op, uint64_t gpa)
{
	struct vmem_ram_manager *rm = ctx;
	uint64_t g = page_at(rm, gpa);

	if (g == NO_PAGE)
		return;
	switch (op) {
	case VMEM_BCH_INFLATE:
		atomic_fetch_or(&rm->seen[g], SEEN_DROPPED);
		vmem_host_balloon_take(rm->host, rm->vm, g);
		rm->balloon_pages++;
		break;
	case VMEM_BCH_DEFLATE:
		vmem_host_balloon_give(rm->host, rm->vm, g);
		rm->balloon_pages--;
		break;
	case VMEM_BCH_REPORT_FREE:
		atomic_fetch_or(&rm->seen[g], SEEN_DROPPED);
		vmem_host_page_dropped(rm->host, rm->vm, g);
		rm->balloon_reported++;
		break;
	case VMEM_BCH_STATS:
		break;
	}
}

static const struct vmem_ram_balloon_observer balloon_observer = {
	.begin = obs_begin, .may_drop = obs_may_drop, .changed = obs_changed, .end = obs_end,
};

/* ---- the reclaim thread ---- */

/* The guest's free pages as its last statistics report said (read outside the lock: the
 * balloon's lock comes first). */
static uint64_t guest_free_pages(struct vmem_ram_manager *rm)
{
	struct vmem_ram_balloon_guest_stats gs;

	vmem_ram_balloon_guest_stats(rm->balloon, &gs);
	return gs.present & (1u << VMEM_BCH_S_MEMFREE) ? gs.value[VMEM_BCH_S_MEMFREE] / PAGE : 0;
}

/* Hands the controller's target to the balloon, outside the manager's lock. */
static void target_out(struct vmem_ram_manager *rm)
{
	uint64_t t;
	bool pending;

	pthread_mutex_lock(&rm->lock);
	t = rm->target;
	pending = rm->target_pending;
	rm->target_pending = false;
	pthread_mutex_unlock(&rm->lock);
	if (pending && vmem_ram_balloon_set_target(rm->balloon, t) == 0) {
		pthread_mutex_lock(&rm->lock);
		rm->targets_set++;
		pthread_mutex_unlock(&rm->lock);
	}
}

void vmem_ram_manager_tick(struct vmem_ram_manager *rm, bool scan)
{
	uint64_t t = now_ns(), total;
	uint64_t gfree = rm->balloon ? guest_free_pages(rm) : 0;

	pthread_mutex_lock(&rm->lock);
	rm->guest_free = gfree;
	/* The clock follows real time: cycles = elapsed ns * cpu_hz / 1e9, given as the
	 * difference to what was given before, so no rounding accumulates. */
	total = (uint64_t)((unsigned __int128)(t - rm->start_ns) * rm->cpu_hz / 1000000000u);
	if (total > rm->cycles_given) {
		journal(rm, VMEM_RM_ADVANCE, 0, false, false, total - rm->cycles_given);
		vmem_host_advance(rm->host, total - rm->cycles_given);
		rm->cycles_given = total;
		ram_manager_carry_out(rm);
		if (rm->nsample_queue)
			sample_out(rm);
		if (rm->dedup)
			ram_manager_dedup_carry_out(rm);
	}
	if (scan) {
		/* lru: every page seen since the last scan, in page order. */
		for (uint64_t g = 0; g < rm->pages; g++) {
			if (!(atomic_load_explicit(&rm->seen[g], memory_order_relaxed) & SEEN_LRU))
				continue;
			atomic_fetch_and(&rm->seen[g], (uint8_t)~SEEN_LRU);
			journal(rm, VMEM_RM_ACCESS, g, true, false, 0);
			vmem_host_access(rm->host, rm->vm, g, true);
		}
		rm->scans++;
		/* With dedup the scan protects the region itself, between taking the pages
		 * to hash and hashing them. */
		if (rm->dedup && ram_manager_dedup_scan(rm))
			scan = false;
	}
	retired_flush(rm);
	pthread_mutex_unlock(&rm->lock);
	if (rm->balloon)
		target_out(rm);
	/* Outside the lock: the pager serialises with its own evictions per page. */
	if (scan)
		vmem_pager_write_protect(rm->pager, 0, rm->pages);
}

static void *reclaim_thread(void *arg)
{
	struct vmem_ram_manager *rm = arg;

	pthread_mutex_lock(&rm->lock);
	while (!rm->stopping) {
		struct timespec ts;
		uint64_t t;
		bool scan = false;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)rm->reclaim_ms * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&rm->wake, &rm->lock, &ts);
		if (rm->stopping)
			break;
		pthread_mutex_unlock(&rm->lock);
		t = now_ns();
		if (rm->scan_ms && t >= rm->next_scan_ns) {
			scan = true;
			rm->next_scan_ns = t + (uint64_t)rm->scan_ms * 1000000;
		}
		vmem_ram_manager_tick(rm, scan);
		pthread_mutex_lock(&rm->lock);
	}
	pthread_mutex_unlock(&rm->lock);
	return NULL;
}

void vmem_ram_manager_stop_thread(struct vmem_ram_manager *rm)
{
	bool join;

	if (!rm)
		return;
	pthread_mutex_lock(&rm->lock);
	rm->stopping = true;
	join = rm->thread_running;
	rm->thread_running = false;
	pthread_cond_signal(&rm->wake);
	pthread_mutex_unlock(&rm->lock);
	if (join)
		pthread_join(rm->thread, NULL);
}

/* ---- create, destroy ---- */

/* Applies "k=v k=v ..." to hc; notes whether host.mem was given. */
static int parse_host(const char *spec, struct vmem_host_config *hc, bool *mem_given,
		      char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *w;
	char msg[256];

	if (strlen(spec) >= sizeof(buf)) {
		backend_errf(err, errlen, "ram manager: host configuration longer than %zu bytes",
			     sizeof(buf) - 1);
		return VMEM_EINVAL;
	}
	strcpy(buf, spec);
	for (w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		char *eq = strchr(w, '=');
		int rc;

		if (!eq || eq == w) {
			backend_errf(err, errlen, "ram manager: host configuration: expected "
				     "KEY=VALUE, got '%s'", w);
			return VMEM_EINVAL;
		}
		*eq = '\0';
		rc = vmem_host_config_set(hc, w, eq + 1, msg, sizeof(msg));
		if (rc) {
			backend_errf(err, errlen, "ram manager: host configuration: %s", msg);
			return VMEM_EINVAL;
		}
		if (strcmp(w, "host.mem") == 0)
			*mem_given = true;
	}
	return 0;
}

/* Whether the policy spec "name:key=value:..." sets key to something other than 0. */
static bool dedup_param_set(const char *spec, const char *key)
{
	size_t kl = strlen(key);

	for (const char *c = strchr(spec, ':'); c; c = strchr(c + 1, ':'))
		if (strncmp(c + 1, key, kl) == 0 && c[1 + kl] == '=')
			return strtoul(c + 2 + kl, NULL, 0) != 0;
	return false;
}

static void free_all(struct vmem_ram_manager *rm)
{
	vmem_pager_destroy(rm->pager);
	ram_manager_dedup_fini(rm);
	vmem_host_destroy(rm->host);
	if (rm->arena) {
		retired_flush(rm);
		metadata_arena_destroy(rm->arena);
	}
	free(rm->victims);
	free(rm->sample_queue);
	free(rm->journal);
	pthread_cond_destroy(&rm->wake);
	pthread_mutex_destroy(&rm->lock);
	free(rm);
}

int vmem_ram_manager_create(struct vmem_guest_ram *ram, unsigned region,
			    const struct vmem_ram_manager_config *c,
			    struct vmem_ram_manager **out, char *err, size_t errlen)
{
	struct vmem_host_config hc;
	struct vmem_pager_config pc;
	struct vmem_ram_region r;
	struct vmem_ram_manager *rm;
	pthread_condattr_t ca;
	bool mem_given = false;
	int rc;

	if (!out || !c || !ram) {
		backend_errf(err, errlen, "ram manager: %s is NULL", !out ? "out" : !c ? "config" :
			     "guest RAM");
		return VMEM_EINVAL;
	}
	*out = NULL;
	if (vmem_guest_ram_region(ram, region, &r)) {
		backend_errf(err, errlen, "ram manager: no guest RAM region %u", region);
		return VMEM_EINVAL;
	}
	if (!c->host) {
		backend_errf(err, errlen, "ram manager: no host configuration (expected e.g. "
			     "\"host.mem=8m swap=clock\")");
		return VMEM_EINVAL;
	}
	if (c->reclaim_ms < 1 || c->reclaim_ms > 1000 || c->scan_ms > 60000) {
		backend_errf(err, errlen, "ram manager: reclaim_ms %u (expected 1..1000) or "
			     "scan_ms %u (expected 0..60000) out of range", c->reclaim_ms,
			     c->scan_ms);
		return VMEM_EINVAL;
	}
	vmem_host_config_default(&hc);
	/* The model's swap device holds what the pager's store holds: as many slots as
	 * the region has pages is always enough. */
	hc.swap_size = r.size;
	rc = parse_host(c->host, &hc, &mem_given, err, errlen);
	if (rc)
		return rc;
	if (!mem_given) {
		backend_errf(err, errlen, "ram manager: host.mem (the budget of resident memory) "
			     "is required");
		return VMEM_EINVAL;
	}
	if (strcmp(hc.swap, "none") == 0 || !hc.swap[0]) {
		backend_errf(err, errlen, "ram manager: swap=none cannot keep host.mem: expected "
			     "a swap policy (random, fifo, clock, lru, ws)");
		return VMEM_EINVAL;
	}
	if (hc.dedup[0] && strcmp(hc.dedup, "none")) {
		/* Real pages have real contents: no page is zero or an image page by the
		 * model's draw before the binding has hashed it (a key given still counts). */
		vmem_host_config_default(&hc);
		hc.swap_size = r.size;
		hc.content_zero = 0;
		hc.content_image = 0;
		rc = parse_host(c->host, &hc, &mem_given, err, errlen);
		if (rc)
			return rc;
		if (c->balloon) {
			backend_errf(err, errlen, "ram manager: dedup=%s with a balloon: not supported "
				     "(a balloon would drop merged pages the store maps)", hc.dedup);
			return VMEM_EINVAL;
		}
		if (!c->scan_ms) {
			backend_errf(err, errlen, "ram manager: dedup=%s needs scan_ms > 0 (the scans "
				     "hash the pages' contents and find writes to merged pages)",
				     hc.dedup);
			return VMEM_EINVAL;
		}
		if (dedup_param_set(hc.dedup, "use_zero_pages")) {
			backend_errf(err, errlen, "ram manager: dedup=%s: use_zero_pages must be 0 on "
				     "real RAM (zero pages are merged into the store like any content)",
				     hc.dedup);
			return VMEM_EINVAL;
		}
	}
	if (hc.balloon[0] && strcmp(hc.balloon, "none") && !c->balloon) {
		backend_errf(err, errlen, "ram manager: balloon=%s needs the guest's balloon "
			     "(config.balloon, vmem_ram_balloon_create)", hc.balloon);
		return VMEM_EINVAL;
	}
	if (c->balloon) {
		struct vmem_ram_balloon_stats bs;

		vmem_ram_balloon_stats(c->balloon, &bs);
		if (bs.balloon_pages) {
			backend_errf(err, errlen, "ram manager: the balloon holds %" PRIu64 " pages "
				     "already (expected an empty balloon)", bs.balloon_pages);
			return VMEM_EINVAL;
		}
	}

	rm = calloc(1, sizeof(*rm));
	if (!rm) {
		backend_errf(err, errlen, "ram manager: out of memory");
		return VMEM_ENOMEM;
	}
	pthread_mutex_init(&rm->lock, NULL);
	/* The reclaim thread's deadlines are CLOCK_MONOTONIC times (the wall clock may jump). */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rm->wake, &ca);
	pthread_condattr_destroy(&ca);
	rm->ram = ram;
	rm->base = r.hva;
	rm->pages = r.size / PAGE;
	rm->vm = c->vm;
	rm->reclaim_ms = c->reclaim_ms;
	rm->scan_ms = c->scan_ms;
	rm->hook_page = NO_PAGE;
	rm->cpu_hz = hc.cpu_hz;
	rm->balloon = c->balloon;
	rm->gpa = r.gpa;
	rc = metadata_arena_create(&rm->arena, err, errlen);
	if (rc) {
		free_all(rm);
		return rc;
	}
	rm->table = metadata_calloc(rm->arena, rm->pages, sizeof(*rm->table));
	rm->seen = metadata_calloc(rm->arena, rm->pages, sizeof(*rm->seen));
	rm->retired = metadata_alloc(rm->arena, RETIRE_MAX * sizeof(*rm->retired));
	if (c->journal_max) {
		rm->journal = malloc(c->journal_max * sizeof(*rm->journal));
		rm->journal_max = c->journal_max;
	}
	if (!rm->table || !rm->seen || !rm->retired || (c->journal_max && !rm->journal)) {
		free_all(rm);
		backend_errf(err, errlen, "ram manager: out of memory for %" PRIu64 " pages",
			     rm->pages);
		return VMEM_ENOMEM;
	}
	rc = vmem_host_create(&hc, &rm->host, err, errlen);
	if (rc == VMEM_ENOENT)
		rc = VMEM_EINVAL;   /* an unknown policy: a configuration error like the others */
	if (!rc && (rc = vmem_host_add_vm(rm->host, rm->vm, r.size, 1000)))
		backend_errf(err, errlen, "ram manager: %s", vmem_host_error(rm->host));
	if (rc) {
		free_all(rm);
		return rc;
	}
	rc = ram_manager_dedup_init(rm, &hc, err, errlen);
	if (rc) {
		free_all(rm);
		return rc;
	}
	vmem_host_set_observer(rm->host, on_state, rm);
	vmem_host_set_young_source(rm->host, on_young, rm);
	rm->sample_reads = c->sample_reads;
	if (c->sample_reads)
		vmem_host_set_sample_source(rm->host, on_sample, rm);
	if (rm->balloon)
		vmem_host_set_balloon_backend(rm->host, &balloon_backend, rm);

	if (c->pager)
		pc = *c->pager;
	else
		vmem_pager_config_default(&pc);
	pc.fault_hook = fault_hook;
	pc.fault_ctx = rm;
	rm->start_ns = now_ns();
	/* The lock from before the handler starts: its hook waits until rm->pager is set
	 * and the pages resident already are in the books. */
	pthread_mutex_lock(&rm->lock);
	rc = vmem_pager_create(ram, region, &pc, &rm->pager, err, errlen);
	if (rc) {
		pthread_mutex_unlock(&rm->lock);
		free_all(rm);
		return rc;
	}
	/* Pages resident already enter the books as first writes (the pager keeps them
	 * resident); beyond the budget, the manager's reclaim sends some away at once. */
	for (uint64_t g = 0; g < rm->pages; g++)
		if (vmem_pager_page_state(rm->pager, g) == VMEM_PAGER_RESIDENT &&
		    vmem_host_page_state(rm->host, rm->vm, g) == VMEM_PG_UNTOUCHED) {
			ram_manager_fault(rm, g, true);
			ram_manager_carry_out(rm);
			atomic_fetch_or(&rm->seen[g], SEEN_HASH);
		}
	pthread_mutex_unlock(&rm->lock);
	if (rm->balloon)
		vmem_ram_balloon_set_observer(rm->balloon, &balloon_observer, rm);
	if (pthread_create(&rm->thread, NULL, reclaim_thread, rm)) {
		if (rm->balloon)
			vmem_ram_balloon_set_observer(rm->balloon, NULL, NULL);
		free_all(rm);
		backend_errf(err, errlen, "ram manager: cannot start the reclaim thread");
		return VMEM_ENOMEM;
	}
	rm->thread_running = true;
	*out = rm;
	return 0;
}

int vmem_ram_manager_destroy(struct vmem_ram_manager *rm)
{
	int rc;

	if (!rm)
		return 0;
	vmem_ram_manager_stop_thread(rm);
	/* Waits for a request in flight; the balloon then books nothing here. */
	if (rm->balloon)
		vmem_ram_balloon_set_observer(rm->balloon, NULL, NULL);
	pthread_mutex_lock(&rm->lock);
	rm->closing = true;
	pthread_mutex_unlock(&rm->lock);
	/* The pager first: its handler may still call the hook until it is joined. */
	rc = vmem_pager_destroy(rm->pager);
	rm->pager = NULL;
	free_all(rm);
	return rc;
}

/* ---- statistics and checks ---- */

static uint64_t mincore_count(const struct vmem_ram_manager *rm, unsigned char *vec)
{
	uint64_t n = 0;

	if (mincore(rm->base, rm->pages * PAGE, vec))
		return UINT64_MAX;
	for (uint64_t g = 0; g < rm->pages; g++)
		n += vec[g] & 1;
	return n;
}

void vmem_ram_manager_stats(struct vmem_ram_manager *rm, struct vmem_ram_manager_stats *out)
{
	unsigned char *vec = malloc(rm->pages);

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&rm->lock);
	vmem_host_vm_stats(rm->host, rm->vm, &out->vm);
	vmem_host_stats(rm->host, &out->host);
	vmem_pager_stats(rm->pager, &out->pager);
	out->pages = rm->pages;
	out->resident = vec ? mincore_count(rm, vec) : UINT64_MAX;
	out->faults = rm->faults;
	out->fault_ns = rm->fault_ns;
	out->writes_seen = atomic_load(&rm->writes_seen);
	out->scans = rm->scans;
	out->evictions = rm->evictions;
	out->evict_failed = rm->evict_failed;
	out->evict_missing = rm->evict_missing;
	out->journal_dropped = rm->journal_dropped;
	out->balloon_pages = rm->balloon_pages;
	out->balloon_target = rm->target;
	out->balloon_targets_set = rm->targets_set;
	out->balloon_refused = rm->balloon_refused;
	out->balloon_reported = rm->balloon_reported;
	out->sample_taken = rm->sample_taken;
	out->sample_touched = atomic_load(&rm->sample_touched);
	for (uint64_t g = 0; rm->sample_reads && g < rm->pages; g++)
		out->sample_out += (atomic_load(&rm->seen[g]) & SEEN_SAMPLED) != 0;
	if (rm->dedup)
		ram_manager_dedup_stats(rm, out);
	pthread_mutex_unlock(&rm->lock);
	out->metadata_bytes = metadata_arena_bytes(rm->arena);
	out->metadata_per_page = (double)out->metadata_bytes / (double)rm->pages;
	free(vec);
}

int vmem_ram_manager_check(struct vmem_ram_manager *rm, char *err, size_t errlen)
{
	unsigned char *vec = malloc(rm->pages);
	uint64_t unmapped = 0, unmapped_page = 0;
	int rc = 0;

	if (!vec) {
		backend_errf(err, errlen, "ram manager check: out of memory");
		return VMEM_ENOMEM;
	}
	pthread_mutex_lock(&rm->lock);
	rc = vmem_host_check(rm->host, err, errlen);
	if (!rc && mincore_count(rm, vec) == UINT64_MAX) {
		backend_errf(err, errlen, "ram manager check: mincore: %s", strerror(errno));
		rc = VMEM_EIO;
	}
	for (uint64_t g = 0; !rc && g < rm->pages; g++) {
		enum vmem_page_state s = vmem_host_page_state(rm->host, rm->vm, g);
		const struct page_record *rec = rm->table[g];
		enum vmem_page_state t = rec ? (enum vmem_page_state)rec->state : VMEM_PG_UNTOUCHED;

		if (rm->dedup && (rc = ram_manager_dedup_check(rm, g, s, err, errlen)))
			break;
		if ((vec[g] & 1) && s != VMEM_PG_RESIDENT && s != VMEM_PG_SHARED) {
			backend_errf(err, errlen, "page %" PRIu64 " is resident in memory, the books "
				     "say %s", g, vmem_page_state_name(s));
			rc = VMEM_EINVAL;
		} else if (!(vec[g] & 1) && s == VMEM_PG_RESIDENT &&
			   !(atomic_load(&rm->seen[g]) & SEEN_SAMPLED) && unmapped++) {
			backend_errf(err, errlen, "pages %" PRIu64 " and %" PRIu64 " are resident in "
				     "the books and not in memory (at most the one being served may "
				     "be)", unmapped_page, g);
			rc = VMEM_EINVAL;
		} else if (t != s) {
			backend_errf(err, errlen, "page %" PRIu64 ": the table says %s, the books %s",
				     g, vmem_page_state_name(t), vmem_page_state_name(s));
			rc = VMEM_EINVAL;
		}
		if (!(vec[g] & 1) && s == VMEM_PG_RESIDENT &&
		    !(atomic_load(&rm->seen[g]) & SEEN_SAMPLED))
			unmapped_page = g;
	}
	pthread_mutex_unlock(&rm->lock);
	free(vec);
	return rc;
}

const struct vmem_ram_manager_event *vmem_ram_manager_journal(struct vmem_ram_manager *rm,
							      size_t *n)
{
	*n = rm->njournal;
	return rm->journal;
}

struct vmem_pager *vmem_ram_manager_pager(struct vmem_ram_manager *rm)
{
	return rm->pager;
}

struct vmem_host *vmem_ram_manager_host(struct vmem_ram_manager *rm)
{
	return rm->host;
}
