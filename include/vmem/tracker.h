/*
 * The tracker: which pages of a range of guest RAM were written since the last look.
 *
 * One API over four kernel mechanisms, probed when the tracker is made (the best one offered
 * is used unless one is forced, and the report says why each other one was not):
 *
 *   VMEM_TRACK_KVM_RING    KVM's dirty ring (KVM_CAP_DIRTY_LOG_RING): each vCPU pushes the
 *                          guest frames it dirties into a ring shared with user space; collect
 *                          harvests every ring and re-arms with KVM_RESET_DIRTY_RINGS. It must
 *                          be enabled on the VM before its first vCPU exists, so the tracker is
 *                          made right after KVM_CREATE_VM and each vCPU is given to it with
 *                          vmem_tracker_add_vcpu. A vCPU whose ring fills exits with
 *                          KVM_EXIT_DIRTY_RING_FULL: call vmem_tracker_harvest (or collect),
 *                          then KVM_RUN again. One ring tracker per VM: the rings hold every
 *                          logged slot's pages, and the tracker drops the other slots' ones.
 *   VMEM_TRACK_KVM_BITMAP  KVM's dirty log (KVM_MEM_LOG_DIRTY_PAGES on the memory slot,
 *                          KVM_GET_DIRTY_LOG), with KVM_CLEAR_DIRTY_LOG where the kernel offers
 *                          KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2.
 *   VMEM_TRACK_UFFD_ASYNC  userfaultfd write-protection in asynchronous mode
 *                          (UFFD_FEATURE_WP_ASYNC, Linux 6.7): the kernel clears the protection
 *                          itself on a write, without a fault message; collect reads the written
 *                          pages and protects them again in one PAGEMAP_SCAN ioctl on
 *                          /proc/self/pagemap.
 *   VMEM_TRACK_UFFD_SYNC   userfaultfd write-protection with a fault-handling thread of the
 *                          tracker's own, which records each page written and lifts its
 *                          protection (every first write after a collect waits for it).
 *
 * What each sees. The KVM mechanisms see writes by the VM's vCPUs only (a write by the host
 * process through the host mapping, e.g. device emulation, is not logged); the userfaultfd
 * mechanisms see every write to the host mapping, by vCPUs (KVM's page faults go through the
 * same page tables) and by host threads alike. Order of preference when not forced: ring,
 * bitmap (both need a VM: kvm_vm_fd), uffd async, uffd sync.
 *
 * "Accessed". None of these mechanisms sees reads. The kernel's page idle tracking
 * (/sys/kernel/mm/page_idle/bitmap) would, and the report says whether it exists; it is not
 * used (it needs physical frame numbers from /proc/self/pagemap). So for swap and balloon
 * policies the tracker offers write recency only: vmem_tracker_write_age(page) is the number of
 * collects since the page was last reported written. A page read but not written ages as if it
 * were idle. uffd sync additionally counts its write faults. Where reads must count, sampling
 * does it: vmem/ram_manager.h's sample_reads takes a few sampled pages away through the
 * pager each period, as ESX does, and counts those touched again.
 *
 * Exactness. uffd async and both KVM mechanisms report exactly the pages written since the
 * last collect. uffd sync never misses a written page but may report one a second time in the
 * next round (two writers faulting on one page before the handler runs). KVM counts a page
 * dirty when it maps it writable for the guest, which its shadow MMU does at the first access,
 * read or write, through a guest mapping that is writable and already dirty: such a page read
 * by the guest is reported as written.
 *
 * The pager (vmem/pager.h) and the tracker. A range can have one userfaultfd registration only,
 * and the pager registers its region in MISSING and write-protect mode. So the uffd mechanisms
 * work on regions without a pager: asked on a region a pager (or anything else) has registered,
 * vmem_tracker_create fails with VMEM_EEXIST and a message that says so; a pager made on a
 * region a uffd tracker holds fails with VMEM_EIO (its UFFDIO_REGISTER is refused: busy). The
 * KVM mechanisms coexist with a pager.
 *
 * Concurrency: vmem_tracker_collect and vmem_tracker_harvest may be called from any thread
 * while any number of threads (vCPUs, host writers) write the range; collects serialize among
 * themselves. vmem_tracker_add_vcpu must not run concurrently with a collect. vmem_tracker_report,
 * vmem_tracker_pages, vmem_tracker_mechanism and vmem_tracker_stats may run at any time;
 * vmem_tracker_write_age is exact between collects. create and destroy need exclusive use.
 */
#ifndef VMEM_TRACKER_H
#define VMEM_TRACKER_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_tracker;

enum vmem_track_mech {
	VMEM_TRACK_AUTO = 0,          /* the best the kernel offers (config only) */
	VMEM_TRACK_KVM_RING = 1,
	VMEM_TRACK_KVM_BITMAP = 2,
	VMEM_TRACK_UFFD_ASYNC = 3,
	VMEM_TRACK_UFFD_SYNC = 4,
	VMEM_TRACK_MECHS = 5,
};

struct vmem_tracker_config {
	void *hva;                    /* start of the range, 4 KiB-aligned */
	uint64_t size;                /* bytes, a non-zero multiple of 4096 */
	enum vmem_track_mech mech;    /* VMEM_TRACK_AUTO or one to force */
	/* A KVM VM whose memory slot kvm_slot maps the range at guest-physical kvm_gpa, or -1
	 * (default): no VM, only the userfaultfd mechanisms. The tracker sets
	 * KVM_MEM_LOG_DIRTY_PAGES on the slot (KVM_SET_USER_MEMORY_REGION with the same
	 * addresses), which registers it if it is not yet. */
	int kvm_vm_fd;
	unsigned kvm_slot;
	uint64_t kvm_gpa;
	uint32_t ring_entries;        /* dirty ring entries per vCPU, a power of two (default 4096) */
	int handler_cpu;              /* uffd sync: CPU to pin the handler to, -1 (default): none */
};

/* What the probe found: the mechanism chosen, and for each mechanism why it is not used
 * ("" for the one used). */
struct vmem_tracker_report {
	enum vmem_track_mech used;
	char why_not[VMEM_TRACK_MECHS][160];
	bool page_idle;               /* /sys/kernel/mm/page_idle/bitmap exists */
	bool manual_protect;          /* bitmap: KVM_CLEAR_DIRTY_LOG is used */
	uint32_t ring_max_entries;    /* the kernel's largest dirty ring (0: none) */
};

struct vmem_tracker_stats {
	uint64_t collects;
	uint64_t pages_reported;      /* sum of every collect's count */
	uint64_t wp_faults;           /* uffd sync: write faults handled */
	uint64_t ring_entries;        /* ring: entries harvested (other slots included) */
	uint64_t ring_harvests;       /* ring: harvest passes */
};

/* Defaults: AUTO, no VM, 4096 ring entries, handler not pinned. */
void vmem_tracker_config_default(struct vmem_tracker_config *c);

/* "auto", "kvm-ring", "kvm-bitmap", "uffd-async", "uffd-sync"; and back (VMEM_EINVAL). */
const char *vmem_tracker_mech_name(enum vmem_track_mech m);
int vmem_tracker_mech_parse(const char *s, enum vmem_track_mech *out);

/*
 * Probes every mechanism for config c without making a tracker: out->used is the one
 * vmem_tracker_create would pick (VMEM_TRACK_AUTO if none), why_not names each reason. A probe
 * has no lasting effect on the VM or the range. Returns 0, or VMEM_EINVAL for a bad config.
 */
int vmem_tracker_probe(const struct vmem_tracker_config *c, struct vmem_tracker_report *out,
		       char *err, size_t errlen);

/*
 * A tracker over c's range with tracking armed: the first collect reports the pages written
 * from now on. VMEM_EINVAL with a message for a bad config; VMEM_ENOENT if the forced mechanism
 * (or, with AUTO, every one) is not available here, the message saying why; VMEM_EEXIST if the
 * range is already registered with a userfaultfd (a pager); VMEM_EIO if the kernel refuses a
 * step. For the ring, create it before the VM's first vCPU.
 */
int vmem_tracker_create(const struct vmem_tracker_config *c, struct vmem_tracker **out,
			char *err, size_t errlen);

/*
 * Ring only: maps vCPU vcpu_fd's dirty ring (at KVM_DIRTY_LOG_PAGE_OFFSET of its mmap). Call it
 * for every vCPU, before the vCPU runs. 0, VMEM_EINVAL for another mechanism, VMEM_EIO.
 */
int vmem_tracker_add_vcpu(struct vmem_tracker *t, int vcpu_fd, char *err, size_t errlen);

/*
 * The pages written since the last collect (or since create): bit p of dirty (pages/64 words,
 * rounded up, written in full) is set for page p; *count (may be NULL) is how many. Tracking is
 * re-armed for exactly those pages before this returns, so a write after it shows in the next
 * collect. Thread-safe. VMEM_EIO if the kernel refuses (the message in vmem_tracker_error).
 */
int vmem_tracker_collect(struct vmem_tracker *t, uint64_t *dirty, uint64_t *count);

/* Ring only: empties the vCPUs' rings into the tracker (the next collect reports them) and
 * resets them, so a vCPU that exited with KVM_EXIT_DIRTY_RING_FULL can run on. No-op for the
 * other mechanisms. */
int vmem_tracker_harvest(struct vmem_tracker *t);

/* Collects since page `page` was last reported written (UINT32_MAX if never). */
uint32_t vmem_tracker_write_age(const struct vmem_tracker *t, uint64_t page);

enum vmem_track_mech vmem_tracker_mechanism(const struct vmem_tracker *t);
void vmem_tracker_report(const struct vmem_tracker *t, struct vmem_tracker_report *out);
uint64_t vmem_tracker_pages(const struct vmem_tracker *t);
void vmem_tracker_stats(const struct vmem_tracker *t, struct vmem_tracker_stats *out);
const char *vmem_tracker_error(struct vmem_tracker *t);

/* Stops tracking (unregisters the range, clears the slot's logging flag), joins the handler
 * thread, unmaps the rings and frees; t may be NULL. */
void vmem_tracker_destroy(struct vmem_tracker *t);

#ifdef __cplusplus
}
#endif

#endif
