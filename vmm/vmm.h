/*
 * vmem-vmm's state, shared by its parts: the options, the guest's memory and layout, the
 * VM, the vCPUs and what each reported.
 *
 * Concurrency: main() sets everything up in one thread, then each vCPU thread changes only
 * its own struct vmm_vcpu_ctx, the evictor thread only its counters (the manager's checker
 * thread only its own), and the balloon state
 * is touched by vCPU 0 alone; `console_lock` orders the lines printed. main() reads the
 * results after joining the threads.
 */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmem/guest_ram.h"
#include "vmem/pager.h"
#include "vmem/ram_balloon.h"
#include "vmem/ram_manager.h"
#include "vmem/tracker.h"

#include "guest_abi.h"
#include "kvm_vm.h"
#include "page_tables.h"

enum vmm_dedup_mode { VMM_DEDUP_OFF, VMM_DEDUP_OWN, VMM_DEDUP_KSM };

struct vmm_options {
	uint64_t memory;              /* bytes of workload memory (the data region less the pool) */
	enum vmem_ram_backing backing;
	enum vmem_ram_pages pages;
	bool guest_2m;                /* the guest maps the data region with 2 MiB pages */
	unsigned vcpus;
	uint32_t passes;
	uint64_t window;              /* pages per pass per vCPU; 0: a quarter of the slice */
	uint64_t step;                /* 0: half the window */
	uint32_t dup_every;
	uint32_t pings;
	bool swap;
	const char *manager;          /* --manager: the ram manager's KEY=VALUE configuration */
	enum vmem_pager_store swap_store;
	uint32_t swap_batch;          /* pages evicted per round */
	uint32_t swap_interval_us;    /* between rounds */
	int swap_handler_cpu;         /* the pager's handler thread's CPU, or -1 */
	bool pin;                     /* vCPU k's thread on CPU k modulo the CPUs online */
	bool dirty_log;               /* KVM's dirty log checked after every command */
	uint64_t balloon_pages;       /* the guest allocator's pool; 0: no balloon */
	int64_t corrupt_page;         /* data page the VMM corrupts after the fill; -1: none */
	const char *json;
	const char *trace;
	uint32_t timeout_s;           /* the guest must be done by then */
	bool quiet;
	enum vmm_dedup_mode dedup;   /* --dedup: merge the data region while the guest runs */
	uint32_t dedup_scan;          /* pages per scan pass (KSM: pages_to_scan) */
	uint32_t dedup_sleep_ms;      /* between passes */
	const char *snapshot;         /* --snapshot: save the data region here at the end */
	const char *restore;          /* --restore: a new VM on this snapshot, restored lazily */
	bool prefetch;                /* --prefetch: the working set the last restore recorded */
	bool precopy;                 /* --precopy: pre-copy migration while the guest runs */
	enum vmem_track_mech precopy_mech;
	uint32_t precopy_mibs;        /* the sender's bandwidth, MiB/s; 0: unlimited */
	uint64_t precopy_threshold;   /* stop-and-copy once a round finds at most this many */
	uint32_t precopy_rounds;      /* or after this many rounds */
	uint32_t pass_interval_us;    /* the VMM hands out a pass at most this often */
};

/* What one guest command took and found. */
struct vmm_cmd_result {
	uint64_t ns;
	uint64_t pages_checked, pages_written, words_bad;
};

enum vmm_step {
	STEP_FILL,
	STEP_VERIFY_RESIDENT,
	STEP_EVICT_ALL,               /* host side, between two commands (--swap) */
	STEP_VERIFY_EVICTED,
	STEP_PING,
	STEP_BALLOON_INFLATE,
	STEP_PASSES,
	STEP_BALLOON_DEFLATE,
	STEP_VERIFY_FINAL,
	STEP_STOP,
	STEP_DONE,
};

struct vmm;

struct vmm_vcpu_ctx {
	struct vmm *m;
	struct vmm_vcpu vcpu;
	pthread_t thread;
	struct vmm_vcpu_block *block; /* host address of the vCPU's block */
	uint64_t gen_table_gpa;
	/* the command script */
	enum vmm_step step;
	uint32_t pass;
	uint32_t cmd;                 /* the command running, 0 between commands */
	uint64_t cmd_start_ns;
	/* results */
	struct vmm_cmd_result fill, verify_resident, verify_evicted, verify_final, passes;
	uint64_t words_bad;           /* over every command */
	uint64_t first_bad_gva, first_bad_seen, first_bad_expected;
	uint64_t pings, ping_ns;
	uint64_t io_exits;            /* exits that reached user space */
	uint64_t evicted_before_verify;
	uint64_t dirty_logged, dirty_expected, dirty_mismatches; /* --dirty-log */
	uint64_t dirty_refaults;      /* pager faults during the commands: pages that may be
				       * logged without a guest write */
	uint64_t pager_faults_at_start;
	bool dirty_fetched;
	bool counted_in_passes;
	/* --precopy reads these from its own thread (atomically) */
	uint32_t passes_started, passes_done;
	bool past_passes;             /* its passes are over */
	uint64_t last_pass_ns;        /* --pass-interval: when the last pass was handed out */
	bool stopped;
	bool failed;
	char error[256];
};

struct vmm_balloon_state {
	struct vmem_ram_balloon *rb;  /* the channel's host side (vmem/ram_balloon.h) */
	uint64_t rss_before_inflate, rss_inflated, rss_deflated; /* data region, pages */
};

struct vmm {
	struct vmm_options o;
	struct vmem_guest_ram *ram;
	uint8_t *sys_hva, *data_hva;
	uint64_t sys_bytes, data_bytes, data_pages, work_pages;
	struct vmm_kvm kvm;
	struct vmm_page_tables pt;
	struct vmm_vcpu_ctx vcpus[VMM_MAX_VCPUS];
	uint64_t pool_stack_gpa, balloon_pfns_gpa;
	struct vmem_pager *pager;
	pthread_mutex_t console_lock;
	atomic_uint vcpus_in_passes;  /* the evictor starts when all are there */
	atomic_uint vcpus_done;
	atomic_bool evictor_stop;
	atomic_bool timed_out;        /* --timeout passed: the vCPU threads stop */
	uint64_t evictor_rounds, evictor_evicted, evictor_errors;
	/* --manager: the binding, its policy and budget, and what the checks found */
	struct vmem_ram_manager *rm;
	char manager_policy[VMEM_HOST_POLICY_SPEC];
	uint64_t manager_budget_pages;
	uint64_t manager_checks, manager_max_resident;
	atomic_uint manager_check_failures;
	char manager_check_error[256];
	struct vmm_balloon_state balloon;
	uint64_t *dirty_bitmap;
	uint64_t image_bytes;
	struct vmm_dedup_run *dedup;  /* --dedup (dedup_run.c) */
	struct vmm_snapshot_run *snapshot; /* --restore (snapshot_run.c) */
	struct vmm_precopy_run *precopy;   /* --precopy (precopy_run.c) */
	/* --precopy's stop-and-copy: vCPUs wait at their next command while pause_requested */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	bool pause_requested;
	unsigned vcpus_paused;
	uint64_t snapshot_pages, snapshot_bytes; /* --snapshot: what was saved */
};

uint64_t vmm_now_ns(void);

/* Writes one figure as a `key value` line, as the VMM prints all of them. */
void vmm_print_figure(FILE *f, const char *key, uint64_t v);

/* The host address of [gpa, gpa + len) when it lies in one region of guest RAM, else NULL. */
void *vmm_guest_range(struct vmm *m, uint64_t gpa, uint64_t len);

/* Runs vCPU c until the guest stops or fails (the vCPU thread's body). */
void *vmm_vcpu_thread(void *c);

/* Evicts pages while the guest runs its passes (the evictor thread's body, --swap). */
void *vmm_evictor_thread(void *m);

/* --manager: binds the ram manager to the data region (0, or -1 with the reason in err);
 * the checker thread's body (vmem_ram_manager_check every 5 ms until evictor_stop); after
 * the guest stopped: a last check, the figures, and the binding destroyed (0, or -1 if a
 * page could not be brought back). */
int vmm_manager_create(struct vmm *m, char *err, size_t errlen);
void *vmm_manager_checker_thread(void *m);
int vmm_manager_finish(struct vmm *m, struct vmem_ram_manager_stats *st);

/* Evicts every resident page of vCPU c's slice; how many were evicted. */
uint64_t vmm_evict_slice(struct vmm *m, struct vmm_vcpu_ctx *c);

/* The balloon over the data region: 0, or a VMEM_E* code with the reason in err. */
int vmm_balloon_create(struct vmm *m, char *err, size_t errlen);
void vmm_balloon_destroy(struct vmm *m);
/* The pages the VMM wants the guest's balloon to hold (the TARGET port). */
int vmm_balloon_set_target(struct vmm *m, uint32_t pages);
/* A balloon channel port: 0 when served (the value read in *value), -1 when the port is
 * not the balloon's or not in that direction. */
int vmm_balloon_port(struct vmm *m, struct vmm_vcpu_ctx *c, uint16_t port, bool write,
		     uint32_t *value);
/* --dirty-log: slot 1 logs dirty pages (0, or -1 with the reason); fetching clears the log
 * and returns the pages written since (UINT64_MAX on error); what the guest's command at
 * `step` (pass `pass`; `first`: the first fetch) must have written. */
int vmm_dirty_log_enable(struct vmm *m, char *err, size_t errlen);
uint64_t vmm_dirty_log_fetch(struct vmm *m);
uint64_t vmm_dirty_expected(const struct vmm_vcpu_ctx *c, enum vmm_step step, uint32_t pass,
			    bool first);

/* The pages of the data region resident now (mincore). */
uint64_t vmm_data_resident_pages(struct vmm *m);

/*
 * The guest's accesses to the data region, as its commands make them, for one vCPU:
 * visit(ctx, page, gen, write) for each page it checks (write false, gen the generation it
 * expects) or writes (write true, gen the one it writes), in the guest's order.
 */
void vmm_model_vcpu(const struct vmm *m, unsigned vcpu,
		    void (*visit)(void *ctx, uint64_t page, uint32_t gen, bool write), void *ctx);

/* Checks the data region from the host against the model; bad words, the first in *gpa. */
uint64_t vmm_model_check(const struct vmm *m, uint64_t *first_bad_gpa);

/* Writes the guest's data accesses as a .vmt trace; 0 or -1 with the reason in err. */
int vmm_model_write_trace(const struct vmm *m, const char *path, uint64_t *records,
			  char *err, size_t errlen);

/* --dedup (dedup_run.c): _begin before the vCPUs start (merging starts when all reached
 * their passes; 0, or -1 with the reason in err), _end once they stopped (merging stops,
 * figures taken), _print writes the figures as `key value` lines (-1 if merging failed),
 * _destroy unmerges and restores KSM's knobs (before the guest RAM goes). */
int vmm_dedup_begin(struct vmm *m, char *err, size_t errlen);
void vmm_dedup_end(struct vmm *m);
int vmm_dedup_print(struct vmm *m, FILE *f);
void vmm_dedup_destroy(struct vmm *m);

/* --snapshot / --restore (snapshot_run.c). _load_options takes the saving run's options
 * from FILE.vmm; _restore_begin (before the vCPUs start) rebuilds the generation tables and
 * starts the lazy restore; _first_exit and _guest_ready are called by vCPU threads (the
 * first exit; a vCPU's first full check done); _end saves the snapshot or ends the restore
 * (recording the working set); _print writes the figures; _destroy frees. 0 or -1 with the
 * reason in err. */
int vmm_snapshot_load_options(struct vmm_options *o, char *err, size_t errlen);
int vmm_snapshot_restore_begin(struct vmm *m, char *err, size_t errlen);
void vmm_snapshot_first_exit(struct vmm *m);
void vmm_snapshot_guest_ready(struct vmm *m);
int vmm_snapshot_end(struct vmm *m, bool guest_ok, char *err, size_t errlen);
void vmm_snapshot_print(struct vmm *m, FILE *f);
void vmm_snapshot_destroy(struct vmm *m);

/* --precopy (precopy_run.c): _begin before the vCPUs start (the sender starts copying when
 * all reached their passes; 0, or -1 with the reason in err), _end once they stopped,
 * _print writes the rounds and figures as `key value` lines (-1 if the copy is not exact or
 * the tracker missed a page the guest wrote). A vCPU thread calls _checkpoint before each
 * command (it waits there while the sender pauses the VM) and _vcpu_done when it ends. */
int vmm_precopy_begin(struct vmm *m, char *err, size_t errlen);
void vmm_precopy_end(struct vmm *m);
int vmm_precopy_print(struct vmm *m, FILE *f);
void vmm_precopy_destroy(struct vmm *m);
void vmm_precopy_checkpoint(struct vmm *m);
void vmm_precopy_vcpu_done(struct vmm *m);

#endif
