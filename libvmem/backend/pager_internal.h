/*
 * The pager's state, shared by its files (not part of the public API):
 *   pager.c        eviction, the fault-handling thread, creation and teardown;
 *   pager_merge.c  merged pages: a guest page mapped from a page of the pager's store.
 */
#ifndef VMEM_PAGER_INTERNAL_H
#define VMEM_PAGER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmem/pager.h"

#define PAGE 4096u
#define BUSY 0x80u
#define STATE_MASK 0x7u
#define RAW_LEN PAGE                 /* clen of a page kept uncompressed */
#define NO_STORE_SLOT UINT32_MAX

/* The store of merged contents (pager_merge.c). */
struct pager_store {
	bool ready;                  /* pager_store_init ran (teardown may come before) */
	int fd;                      /* memfd: one 4 KiB page per merged content, sparse */
	int pagemap_fd;              /* /proc/self/pagemap, opened on first use */
	bool shmem_wp;               /* the uffd may write-protect the store's (shmem) pages */
	uint32_t *page_slot;         /* per guest page: the slot it maps while MERGED */
	uint32_t *refs;              /* per slot: MERGED pages mapping it */
	uint32_t *free_slots;        /* slots emptied (punched), to reuse */
	uint32_t nfree, used;        /* never-used slots start at used */
	pthread_mutex_t lock;        /* the slots and their counts */
	/* Held for writing while a merge or unmerge replaces a page's VMA (mmap, mremap,
	 * then UFFDIO_REGISTER of the new VMA), for reading by a range write protection,
	 * which the kernel refuses (ENOENT) across a VMA not registered yet. */
	pthread_rwlock_t vma_lock;
};

struct vmem_pager {
	struct vmem_guest_ram *ram;
	unsigned region;
	char *base;                  /* the region's host address */
	uint64_t pages;
	struct vmem_pager_config cfg;

	int uffd, efd;
	pthread_t thread;
	bool thread_started;

	_Atomic uint32_t *st;        /* per page: state | BUSY */
	void **buf;                  /* compressed copy (COMPRESSED) */
	uint32_t *slot;              /* swap slot (SWAPPED) */
	uint16_t *clen;              /* compressed length, RAW_LEN if kept raw */

	int swap_fd;
	uint64_t nslots;
	pthread_mutex_t slot_lock;
	uint32_t *free_slots;        /* a stack of free slots */
	uint64_t nfree;

	struct pager_store store;

	struct {
		_Atomic uint64_t evictions, evicted_zero, faults, faults_zero, wp_faults;
		_Atomic uint64_t bytes_in, bytes_compressed, compressed_now;
		_Atomic uint64_t swap_full, io_errors, errors, slots_used;
		_Atomic uint64_t merges, merges_refused, unmerges, merged_now, store_pages;
	} n;

	pthread_mutex_t err_lock;
	char err[256];
};

#define INC(p, field, v) atomic_fetch_add_explicit(&(p)->n.field, (v), memory_order_relaxed)
#define DEC(p, field, v) atomic_fetch_sub_explicit(&(p)->n.field, (v), memory_order_relaxed)
#define GET(p, field) atomic_load_explicit(&(p)->n.field, memory_order_relaxed)

void pager_set_error(struct vmem_pager *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The per-page lock (BUSY): takes it whatever the state and returns the state. */
uint32_t pager_page_lock(struct vmem_pager *p, uint64_t i);
void pager_page_unlock(struct vmem_pager *p, uint64_t i, uint32_t state);

/* userfaultfd on one page. */
int pager_uffd_wp(struct vmem_pager *p, uint64_t i, bool protect);
void pager_uffd_wake(struct vmem_pager *p, uint64_t i);

/* pager_merge.c: the store's tables (at create), and its teardown: every merged page
 * gets its own anonymous page back (at destroy, before the region is unregistered). */
int pager_store_init(struct vmem_pager *p);
int pager_store_unmerge_all(struct vmem_pager *p);
void pager_store_fini(struct vmem_pager *p);

#endif
