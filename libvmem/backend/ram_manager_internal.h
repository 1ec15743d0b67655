/*
 * The binding of a host memory manager to real guest RAM, shared by its files (not part
 * of the public API):
 *   ram_manager.c        events in (faults, scans, time), evictions out, the table;
 *   ram_manager_dedup.c  the manager's dedup policy on real pages: contents hashed in,
 *                        merges and copy-on-write breaks carried out by the pager.
 */
#ifndef VMEM_RAM_MANAGER_INTERNAL_H
#define VMEM_RAM_MANAGER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmem/host.h"
#include "vmem/ram_manager.h"

#define PAGE 4096u
#define SEEN_YOUNG 1u                /* accessed since a policy last cleared the bit */
#define SEEN_LRU 2u                  /* accessed since the last scan told lru */
#define SEEN_DROPPED 4u              /* dropped by the balloon while the pager calls it
				      * resident: its next fault is the manager's business */
#define RETIRE_MAX 1024              /* records awaiting a grace period before a flush */
#define SEEN_HASH 8u                 /* its content may have changed since it was hashed */
#define SEEN_SAMPLED 16u             /* taken away for the active-fraction sample, resident
				      * in the books (sample_reads) */
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

	/* Ballooning (under the lock). */
	struct vmem_ram_balloon *balloon;
	uint64_t gpa;                /* guest-physical address of the region */
	uint64_t balloon_pages;      /* pages of the region in the balloon, as told */
	uint64_t guest_free;         /* the guest's MEMFREE statistic, pages */
	uint64_t target;             /* the controller's last target */
	bool target_pending;         /* not yet handed to the balloon */
	uint64_t targets_set, balloon_refused, balloon_reported;

	/* sample_reads: the controller's sampled pages, queued during vmem_host_advance and
	 * taken away after it (under the lock; the counters the hook bumps are atomic). */
	bool sample_reads;
	uint64_t *sample_queue;
	size_t nsample_queue, sample_queue_cap;
	uint64_t sample_taken;
	_Atomic uint64_t sample_touched;

	/* Dedup (ram_manager_dedup.c; under the lock). */
	struct ram_manager_dedup *dedup;
};

/* A fault given to the manager, journaled (under the lock). */
int ram_manager_fault(struct vmem_ram_manager *rm, uint64_t page, bool write);

/* Carries out the victims the last manager call decided (under the lock). */
void ram_manager_carry_out(struct vmem_ram_manager *rm);

/* ram_manager_dedup.c. init: with dedup=POLICY (the host configuration hc), the tables;
 * the others do nothing without it. on_state: a state change the observer saw;
 * carry_out: the merges the last manager call decided; scan: copy-on-write breaks of
 * merged pages, then the write protection of the region and the contents of the pages
 * written since the last scan (returns false without dedup: the caller protects the
 * region itself); stats: its counters; check: the books against the pager's merged
 * pages. All under the lock except init and fini. */
struct vmem_host_config;
int ram_manager_dedup_init(struct vmem_ram_manager *rm, const struct vmem_host_config *hc,
			   char *err, size_t errlen);
void ram_manager_dedup_fini(struct vmem_ram_manager *rm);
void ram_manager_dedup_on_state(struct vmem_ram_manager *rm, uint64_t gfn,
				enum vmem_page_state from, enum vmem_page_state to);
void ram_manager_dedup_carry_out(struct vmem_ram_manager *rm);
bool ram_manager_dedup_scan(struct vmem_ram_manager *rm);
void ram_manager_dedup_stats(struct vmem_ram_manager *rm, struct vmem_ram_manager_stats *out);
int ram_manager_dedup_check(struct vmem_ram_manager *rm, uint64_t page,
			    enum vmem_page_state books, char *err, size_t errlen);

#endif
