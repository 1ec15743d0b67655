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
#include "vmem/ram_manager.h"
#include "backend/backend_internal.h"
#include "backend/metadata_arena.h"

#define PAGE 4096u
#define SEEN_YOUNG 1u                /* accessed since a policy last cleared the bit */
#define SEEN_LRU 2u                  /* accessed since the last scan told lru */
#define RETIRE_MAX 1024              /* records awaiting a grace period before a flush */
#define NO_PAGE UINT64_MAX

/* One page's record in the table: replaced whole on every change (RCU). */
struct page_record {
	uint64_t since_ns;
	uint32_t swap_outs, swap_ins;
	uint8_t state;
};

struct vmem_ram_manager {
	struct vmem_guest_ram *ram;
	char *base;
	uint64_t pages;
	uint16_t vm;
	unsigned reclaim_ms, scan_ms;
	struct vmem_host *host;
	struct vmem_pager *pager;
	struct metadata_arena *arena;

	pthread_mutex_t lock;        /* the manager, the journal, the writers of the table */
	struct page_record **table;  /* RCU-published records, NULL: untouched */
	_Atomic uint8_t *seen;       /* SEEN_* bits per page */
	struct page_record **retired;
	size_t nretired;
	/* Victims of the manager call being made, in the order it decided them. */
	uint64_t *victims;
	size_t nvictims, victims_cap;
	uint64_t hook_page;          /* the page whose fault hook holds the lock, or NO_PAGE */

	uint64_t cpu_hz, start_ns, cycles_given;
	uint64_t next_scan_ns;

	struct vmem_ram_manager_event *journal;
	size_t njournal, journal_max;
	uint64_t journal_dropped;

	pthread_t thread;
	bool thread_running, stopping;
	bool closing;                /* destroy runs: the hook no longer calls the manager */
	pthread_cond_t wake;

	/* Counters: under the lock, except the atomics the hook's WP path bumps. */
	uint64_t faults, fault_ns, scans, evictions, evict_failed, evict_missing;
	_Atomic uint64_t writes_seen;
};

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

/* A fault given to the manager, journaled (under the lock). */
static int manager_fault(struct vmem_ram_manager *rm, uint64_t page, bool write)
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
static void carry_out(struct vmem_ram_manager *rm)
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
		rc = vmem_pager_evict(rm->pager, page);
		rm->evictions++;
		if (rc == VMEM_ENOENT) {
			rm->evict_missing++;
		} else if (rc) {
			rm->evict_failed++;
			manager_fault(rm, page, true);
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
		atomic_fetch_or(&rm->seen[page], SEEN_YOUNG | SEEN_LRU);
		atomic_fetch_add_explicit(&rm->writes_seen, 1, memory_order_relaxed);
		return;
	}
	if (was == VMEM_PAGER_RESIDENT)
		return;   /* a second thread's fault on a page served already */
	t0 = now_ns();
	pthread_mutex_lock(&rm->lock);
	if (rm->closing) {
		/* The pager is bringing every page back before it stops: no more evictions,
		 * which would drop pages it has passed already. */
		pthread_mutex_unlock(&rm->lock);
		return;
	}
	rm->hook_page = page;
	manager_fault(rm, page, flags & VMEM_PAGER_FAULT_WRITE);
	carry_out(rm);
	rm->hook_page = NO_PAGE;
	atomic_fetch_or(&rm->seen[page], SEEN_YOUNG | SEEN_LRU);
	rm->faults++;
	rm->fault_ns += now_ns() - t0;
	pthread_mutex_unlock(&rm->lock);
}

/* ---- the reclaim thread ---- */

void vmem_ram_manager_tick(struct vmem_ram_manager *rm, bool scan)
{
	uint64_t t = now_ns(), total;

	pthread_mutex_lock(&rm->lock);
	/* The clock follows real time: cycles = elapsed ns * cpu_hz / 1e9, given as the
	 * difference to what was given before, so no rounding accumulates. */
	total = (uint64_t)((unsigned __int128)(t - rm->start_ns) * rm->cpu_hz / 1000000000u);
	if (total > rm->cycles_given) {
		journal(rm, VMEM_RM_ADVANCE, 0, false, false, total - rm->cycles_given);
		vmem_host_advance(rm->host, total - rm->cycles_given);
		rm->cycles_given = total;
		carry_out(rm);
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
	}
	retired_flush(rm);
	pthread_mutex_unlock(&rm->lock);
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

static void free_all(struct vmem_ram_manager *rm)
{
	vmem_pager_destroy(rm->pager);
	vmem_host_destroy(rm->host);
	if (rm->arena) {
		retired_flush(rm);
		metadata_arena_destroy(rm->arena);
	}
	free(rm->victims);
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
	if ((hc.dedup[0] && strcmp(hc.dedup, "none")) ||
	    (hc.balloon[0] && strcmp(hc.balloon, "none"))) {
		backend_errf(err, errlen, "ram manager: dedup and balloon must be none (real RAM "
			     "is managed by swapping only)");
		return VMEM_EINVAL;
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
	vmem_host_set_observer(rm->host, on_state, rm);
	vmem_host_set_young_source(rm->host, on_young, rm);

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
			manager_fault(rm, g, true);
			carry_out(rm);
		}
	pthread_mutex_unlock(&rm->lock);
	if (pthread_create(&rm->thread, NULL, reclaim_thread, rm)) {
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

		if ((vec[g] & 1) && s != VMEM_PG_RESIDENT) {
			backend_errf(err, errlen, "page %" PRIu64 " is resident in memory, the books "
				     "say %s", g, vmem_page_state_name(s));
			rc = VMEM_EINVAL;
		} else if (!(vec[g] & 1) && s == VMEM_PG_RESIDENT && unmapped++) {
			backend_errf(err, errlen, "pages %" PRIu64 " and %" PRIu64 " are resident in "
				     "the books and not in memory (at most the one being served may "
				     "be)", unmapped_page, g);
			rc = VMEM_EINVAL;
		} else if (t != s) {
			backend_errf(err, errlen, "page %" PRIu64 ": the table says %s, the books %s",
				     g, vmem_page_state_name(t), vmem_page_state_name(s));
			rc = VMEM_EINVAL;
		}
		if (!(vec[g] & 1) && s == VMEM_PG_RESIDENT)
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
