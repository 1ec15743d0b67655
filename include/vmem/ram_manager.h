/*
 * The host memory manager (vmem/host.h) running the real RAM of a guest: one vmem_host,
 * with its swap policy objects, keeps the books of one region of guest RAM
 * (vmem/guest_ram.h), and a pager (vmem/pager.h) carries its decisions out on the real
 * pages. host.mem is the budget of real resident memory of the region.
 *
 * Events in:
 *   - every fault the pager's handler serves (a first touch or the return of an evicted
 *     page) becomes vmem_host_fault(vm, page, write) before the page is mapped, so the
 *     manager's direct reclaim runs (and its victims leave) before the page arrives;
 *   - access information, from what the kernel can tell: the faults themselves, and
 *     writes to resident pages. Every scan_ms the binding write-protects the whole region
 *     (UFFDIO_WRITEPROTECT, one ioctl); the first write to a resident page after that is a
 *     write-protect fault that the pager lets through at once and reports: a software
 *     dirty bit, page-exact. Reads of resident pages are invisible (x86 Linux offers no
 *     per-page accessed bit to user space: no page_idle or soft-dirty on this kernel, and
 *     PAGEMAP_SCAN has no accessed category). A page faulted in or written since the
 *     policy last cleared its bit is "young" (vmem_host_set_young_source); clock and ws
 *     sample those bits, and lru is told of each page seen accessed at each scan
 *     (vmem_host_access), so its order is exact to one scan period.
 *   - time: the reclaim thread advances the manager's clock by the real time that
 *     passed (host.cpu_hz cycles per second), so ws's tau_ms is real milliseconds.
 * Decisions out: a page the manager moves from resident to swapped or compressed (its
 * reclaim under its watermarks, with its swap policy) is evicted by vmem_pager_evict
 * before the manager's lock is released. An eviction the pager refuses (its swap file is
 * full, an I/O error) is given back to the manager as a fault on the page, so its books
 * say resident again (counted in evict_failed).
 *
 * The invariant, checked by vmem_ram_manager_check: with the lock held, every page that is
 * resident in real memory (mincore) is resident in the manager's books, and at most one
 * page the books call resident is not yet mapped (the fault the handler is serving). So
 * real resident pages never exceed host.mem.
 *
 * Locking. One mutex (the binding's) serialises every call into the manager and every
 * eviction it decides. The pager's handler thread takes it in its fault hook only for a
 * page that is not resident (then no eviction can be waiting for that page: only resident
 * pages are picked); for write-protect faults it only sets an atomic bit. An eviction
 * waits for the page's pager lock, which the handler holds only while serving a page or
 * running the hook without the mutex; so the two never wait for each other.
 *
 * The per-page table: each touched page has a record (its state in the books, when it
 * entered it, its swap-outs and swap-ins) allocated from the library's own jemalloc
 * arena. Readers (vmem_ram_manager_page: any thread, vCPUs, scanners) read it lock-free
 * under liburcu (urcu-memb flavour); a change (under the mutex) publishes a new record
 * with rcu_assign_pointer and frees the old one after a grace period (synchronize_rcu,
 * batched). A reading thread is registered with liburcu on its first read and
 * unregistered when it exits.
 */
/*
 * Ballooning. With balloon=POLICY (static, proportional, share-idle-tax, pressure: the
 * same registered target policy objects as in simulation) and a vmem_ram_balloon, the
 * manager's balloon controller runs in its clock (vmem_host_advance, every
 * balloon.period_ms of real time): it estimates the active fraction from the young
 * source's bits, asks the policy for a target with the manager's view of the region (its
 * resident pages, the balloon's size in the books, the guest's MEMFREE statistic) and
 * the binding hands it to vmem_ram_balloon_set_target after the manager's lock is
 * released (the guest reads it from VMEM_BCH_PORT_TARGET and inflates or deflates at
 * its own pace). The binding is the manager's balloon backend
 * (vmem_host_set_balloon_backend) and the balloon's observer
 * (vmem_ram_balloon_set_observer):
 *   - INFLATE of a page: the books move it to ballooned (its frame is free in the
 *     budget); it is not resident, so the pager never picks it;
 *   - DEFLATE: ballooned -> untouched; the guest's next touch is a first touch;
 *   - REPORT_FREE: resident -> untouched (vmem_host_page_dropped);
 *   - a page the pager holds evicted (swapped, compressed or zero in the books) is
 *     refused: the request is rejected whole (VMEM_RB_REFUSED, "the host holds it
 *     evicted"), since dropping it would leave the pager's stored copy to be served at
 *     the next touch instead of a zero page. A guest inflates free pages it touched
 *     recently, so few are refused; a driver retries with other pages.
 * Each request is checked, carried out and booked with the manager's lock held (lock
 * order: the balloon's lock, then the manager's; the manager never calls the balloon
 * while holding its lock), so no eviction runs between the check and the drop.
 * A page the guest touches while in the balloon is deflated by the touch in the books
 * (as in simulation); vmem_ram_balloon still counts it in its balloon until the guest
 * deflates it. A guest that touches a page while its own INFLATE of it is in flight may
 * leave it mapped while the books say ballooned (vmem_ram_manager_check reports it). The
 * journal does not record balloon events: replaying it applies to runs without a balloon.
 */
/*
 * Dedup. With dedup=POLICY (ksm and its knobs: the same registered dedup policy objects
 * as in simulation) the policy merges real pages of the region:
 *   - contents in: at every scan (scan_ms, which must not be 0) the binding hashes
 *     (XXH3-64) the resident pages written or faulted in since their last hash, after
 *     write-protecting the region, and gives the hashes to the manager
 *     (vmem_host_set_content); the policy compares hashes as it compares the model's;
 *   - merges out: each page the policy merges (resident -> shared, seen through the
 *     observer) is carried out by the pager once the manager call returns: the first
 *     page of a shared frame becomes a store page (vmem_pager_share), every further page
 *     is compared with it in full under write protection and mapped from it
 *     (vmem_pager_merge). A page that differs (written since its hash) is not merged and
 *     is booked as a write fault: shared -> resident (dedup_merges_refused);
 *   - writes to merged pages: the kernel copies the store page with no event; each scan
 *     finds the pages copied (the pager reads /proc/self/pagemap) and books each as a
 *     write fault (shared -> resident, the policy's on_unshare), then the pager gives it
 *     an anonymous page of its own, so it can be evicted and served back.
 * The invariant gains: a page is shared in the books exactly when it maps a store page.
 * Between a write to a merged page and the next scan memory holds one private page the
 * books do not count (at most one per page written, for at most scan_ms). The journal
 * does not record contents or merges: replaying it applies to runs without dedup.
 */
#ifndef VMEM_RAM_MANAGER_H
#define VMEM_RAM_MANAGER_H

#include "vmem/common.h"
#include "vmem/host.h"
#include "vmem/pager.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_guest_ram;
struct vmem_ram_manager;

struct vmem_ram_manager_config {
	/* The manager's configuration: KEY=VALUE words separated by spaces, the keys of
	 * vmem_host_config_set, e.g. "host.mem=8m swap=clock zswap.percent=0". host.mem is
	 * required. dedup=POLICY (ksm:pages_to_scan=...) merges real pages (see "Dedup"
	 * above; use_zero_pages must be 0, and no balloon); balloon=POLICY needs `balloon`
	 * below. */
	const char *host;
	uint16_t vm;                 /* the VM id in the manager (default 0) */
	unsigned reclaim_ms;         /* period of the reclaim thread (default 2, 1..1000) */
	unsigned scan_ms;            /* write-protect scan period; 0: faults only (default 20) */
	/* The pager's store (its fault_hook is the binding's own); NULL: lz4, verified. */
	const struct vmem_pager_config *pager;
	/* Keep a journal of the manager's inputs and decisions for replay (differential
	 * tests); at most journal_max entries, later ones are dropped and counted. */
	size_t journal_max;
	/* The guest's balloon (vmem/ram_balloon.h), which must own the region, be empty and
	 * outlive the binding; NULL: none (then balloon must be none). With balloon=none the
	 * books still follow what the guest balloons on its own. See "Ballooning" above. */
	struct vmem_ram_balloon *balloon;
	/* With a balloon policy: make reads count in the controller's active fraction, as
	 * ESX does (Waldspurger, OSDI 2002, 5.3). The young bits here see faults and writes
	 * only; with sample_reads each page the controller samples is taken away through the
	 * pager (an eviction; the books still call it resident), so that its next access of
	 * any kind faults, and that fault sets its bit instead of reaching the manager. A
	 * sampled page not touched again stays out until touched or chosen as a victim (then
	 * evicting it costs nothing). Default false. */
	bool sample_reads;
};

/* Defaults as above, host = NULL (to be set), no journal. Touches only *c. */
void vmem_ram_manager_config_default(struct vmem_ram_manager_config *c);

/*
 * Binds a new manager to region `region` of ram (anonymous, 4 KiB pages; the pager's
 * requirements): creates the host from c->host and a VM of the region's size, the pager,
 * takes every page already resident into the books (as a first write; reclaiming if they
 * exceed the budget), and starts the reclaim thread. VMEM_EINVAL with a message naming
 * the key or argument. ram must outlive the binding. Not thread-safe with other calls
 * on the same ram region.
 */
int vmem_ram_manager_create(struct vmem_guest_ram *ram, unsigned region,
			    const struct vmem_ram_manager_config *c,
			    struct vmem_ram_manager **out, char *err, size_t errlen);

/*
 * Stops the reclaim thread, brings every evicted page back (vmem_pager_destroy) and
 * frees everything; rm may be NULL. vCPU threads may still touch the region. Needs
 * exclusive use of rm (no other vmem_ram_manager_* call in flight). 0, or VMEM_EIO if a
 * page could not be brought back.
 */
int vmem_ram_manager_destroy(struct vmem_ram_manager *rm);

/* One page as the table says (a consistent snapshot of its record). */
struct vmem_ram_manager_page {
	enum vmem_page_state state;  /* untouched for a page never touched */
	uint64_t since_ns;           /* CLOCK_MONOTONIC time it entered the state */
	uint32_t swap_outs;          /* times it left for the swap device or tier */
	uint32_t swap_ins;           /* times it came back */
};

/* Lock-free (RCU read side); any thread, at any time. VMEM_ERANGE past the region. */
int vmem_ram_manager_page(struct vmem_ram_manager *rm, uint64_t page,
			  struct vmem_ram_manager_page *out);

struct vmem_ram_manager_stats {
	struct vmem_host_vm_stats vm;      /* the manager's counters for the guest */
	struct vmem_host_stats host;
	struct vmem_pager_stats pager;
	uint64_t pages;                    /* pages of the region */
	uint64_t resident;                 /* resident in real memory (mincore), now; a
	                                    * merged page counts (its store page is) */
	uint64_t faults;                   /* faults the hook gave the manager */
	uint64_t fault_ns;                 /* time spent in them (manager + direct reclaim
	                                    * evictions), CLOCK_MONOTONIC ns */
	uint64_t writes_seen;              /* write-protect faults reported (dirty bits) */
	uint64_t scans;                    /* write-protect scans of the region */
	uint64_t evictions;                /* evictions the binding asked of the pager */
	uint64_t evict_failed;             /* ... refused by the pager, page back in the books */
	uint64_t evict_missing;            /* ... of a page the pager did not have resident
	                                    * (0 unless the books and memory disagree) */
	size_t metadata_bytes;             /* the binding's metadata arena, bytes now */
	double metadata_per_page;          /* metadata_bytes / pages */
	uint64_t journal_dropped;
	/* Ballooning (zero without a balloon). */
	uint64_t balloon_pages;            /* pages of the region in the balloon, as told */
	uint64_t balloon_target;           /* the controller's last target */
	uint64_t balloon_targets_set;      /* targets handed to vmem_ram_balloon_set_target */
	uint64_t balloon_refused;          /* pages refused (held evicted by the pager) */
	uint64_t balloon_reported;         /* pages dropped by REPORT_FREE */
	uint64_t sample_taken;             /* sample_reads: sampled pages taken away */
	uint64_t sample_touched;           /* ... touched again (read or write) and given back */
	uint64_t sample_out;               /* ... taken away and not touched since, now */
	/* Dedup (zero without a dedup policy; the pager's own counters are in `pager`). */
	uint64_t dedup_hashed;             /* page contents hashed and given to the manager */
	uint64_t dedup_merges;             /* merges carried out (pages mapped from the store) */
	uint64_t dedup_merges_refused;     /* ... refused: the page differed, booked written */
	uint64_t dedup_cow_breaks;         /* merged pages written, booked and unmerged */
	uint64_t dedup_errors;             /* merges or unmerges a system call failed */
	uint64_t dedup_merge_ns;           /* time carrying merges out (pager and books),
	                                    * CLOCK_MONOTONIC ns */
};

/* Takes the lock for a consistent snapshot; any thread. */
void vmem_ram_manager_stats(struct vmem_ram_manager *rm, struct vmem_ram_manager_stats *out);

/*
 * With the lock held: vmem_host_check, then the books against real memory (the
 * invariant above, page by page with mincore) and the table against the books. 0 or
 * VMEM_EINVAL with the first difference in err. Any thread.
 */
int vmem_ram_manager_check(struct vmem_ram_manager *rm, char *err, size_t errlen);

/* Runs one reclaim tick now (advance the clock, the swap daemon, lru accesses) and, if
 * scan is true, a write-protect scan. Any thread; the reclaim thread does the same. */
void vmem_ram_manager_tick(struct vmem_ram_manager *rm, bool scan);

/*
 * The journal: the manager's inputs in the order it took them (faults, clock advances,
 * accessed-bit answers, lru accesses) and its decisions (victims), for replaying through
 * a vmem_host alone. Valid until destroy; read it when no fault or tick can run (vCPUs
 * stopped, after vmem_ram_manager_stop_thread).
 */
enum vmem_ram_manager_event_kind {
	VMEM_RM_FAULT = 0,           /* vmem_host_fault(vm, page, write) */
	VMEM_RM_ADVANCE = 1,         /* vmem_host_advance(arg) */
	VMEM_RM_YOUNG = 2,           /* the young source was asked (page, clear): answer */
	VMEM_RM_ACCESS = 3,          /* vmem_host_access(vm, page, write) */
	VMEM_RM_VICTIM = 4,          /* the manager moved page from resident to arg (state) */
};
struct vmem_ram_manager_event {
	uint8_t kind;
	bool flag;                   /* FAULT, ACCESS: write; YOUNG: clear */
	bool answer;                 /* YOUNG: the answer given */
	uint64_t page;
	uint64_t arg;                /* ADVANCE: cycles; VICTIM: the new state */
};
const struct vmem_ram_manager_event *vmem_ram_manager_journal(struct vmem_ram_manager *rm,
							      size_t *n);

/* Stops the reclaim thread (the binding then acts only on faults and explicit ticks).
 * Any thread; idempotent. */
void vmem_ram_manager_stop_thread(struct vmem_ram_manager *rm);

/* The pager and the host, for inspection. The host must be used only with the lock held
 * or after vmem_ram_manager_stop_thread with the vCPUs stopped. */
struct vmem_pager *vmem_ram_manager_pager(struct vmem_ram_manager *rm);
struct vmem_host *vmem_ram_manager_host(struct vmem_ram_manager *rm);

#ifdef __cplusplus
}
#endif

#endif
