/*
 * Guest RAM: the guest-physical memory of a real VM, as host memory.
 *
 * Guest RAM is a list of regions (banks, as kvmtool calls them), each {gpa, size, hva}:
 * `size` bytes of guest-physical memory from `gpa` backed by host memory at `hva`. A
 * region is backed by anonymous private memory or by a memfd mapped MAP_SHARED, with 4 KiB
 * pages, transparent huge pages (madvise(MADV_HUGEPAGE) on a 2 MiB-aligned range) or
 * hugetlb 2 MiB pages (MAP_HUGETLB; the pool is vm.nr_hugepages); its memory may be placed
 * on NUMA nodes (libnuma: bind, preferred, interleave) and preallocated. Where its pages
 * landed is asked of the kernel (move_pages with no target nodes), not assumed.
 *
 * Frames: every 4 KiB page of guest RAM has a frame number, counted across regions in the
 * order they were added (region 0's pages first). A host memory manager's policy names a
 * victim by frame; vmem_guest_ram_frame() maps it to (region, page), which is what the
 * pager (vmem/pager.h) evicts.
 *
 * Concurrency: adding regions and destroying need one thread (no other call may run on the
 * same guest RAM meanwhile). Once the regions are added, the lookups (vmem_guest_ram_gpa_to_hva,
 * _hva_to_gpa, _frame, _region, _regions, _node_pages) read immutable data and may run
 * concurrently from any number of threads, vCPU and fault-handling threads included.
 */
#ifndef VMEM_GUEST_RAM_H
#define VMEM_GUEST_RAM_H

#include "vmem/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmem_guest_ram;

enum vmem_ram_backing {
	VMEM_RAM_ANON = 0,           /* MAP_PRIVATE | MAP_ANONYMOUS */
	VMEM_RAM_MEMFD = 1,          /* memfd_create, MAP_SHARED (another process may map it) */
};

enum vmem_ram_pages {
	VMEM_RAM_4K = 0,             /* base pages only (MADV_NOHUGEPAGE) */
	VMEM_RAM_THP = 1,            /* 2 MiB-aligned, MADV_HUGEPAGE before first touch */
	VMEM_RAM_HUGETLB = 2,        /* hugetlb 2 MiB pages (MAP_HUGETLB / MFD_HUGETLB) */
};

enum vmem_ram_numa {
	VMEM_NUMA_DEFAULT = 0,       /* the process's policy */
	VMEM_NUMA_BIND = 1,          /* only on `nodes` (MPOL_BIND) */
	VMEM_NUMA_PREFERRED = 2,     /* on the first of `nodes` if it has memory (MPOL_PREFERRED) */
	VMEM_NUMA_INTERLEAVE = 3,    /* page by page across `nodes` (MPOL_INTERLEAVE) */
};

struct vmem_ram_region_config {
	uint64_t gpa;                /* guest-physical start, aligned to the page size */
	uint64_t size;               /* bytes, a non-zero multiple of the page size */
	enum vmem_ram_backing backing;
	enum vmem_ram_pages pages;
	enum vmem_ram_numa numa;
	const char *nodes;           /* libnuma node string ("0", "0-1", "0,2"); NULL = "all" */
	bool prealloc;               /* populate every page now (MADV_POPULATE_WRITE, else touch) */
	const char *name;            /* memfd name (NULL: "vmem-guest-ram") */
};

/* A region as it was created. */
struct vmem_ram_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;                   /* host address of gpa */
	int fd;                      /* the memfd, or -1 (owned by the guest RAM: do not close) */
	uint64_t page_bytes;         /* 4096 or 2 MiB (hugetlb; THP regions say 4096) */
	uint64_t first_frame;        /* frame number of its first 4 KiB page */
	enum vmem_ram_backing backing;
	enum vmem_ram_pages pages;
	enum vmem_ram_numa numa;
};

/* A region config with everything at its default: anonymous, 4 KiB, no NUMA policy. */
void vmem_ram_region_config_default(struct vmem_ram_region_config *c);

/* An empty guest RAM; *out is the caller's until vmem_guest_ram_destroy. */
int vmem_guest_ram_create(struct vmem_guest_ram **out);

/*
 * Maps a region of c->size bytes at guest-physical c->gpa. VMEM_EINVAL with a message in err
 * for a bad argument (unaligned, zero or overflowing size, overlapping another region, an
 * unknown NUMA node, a hugetlb request when the pool holds too few free pages: the message
 * names vm.nr_hugepages); VMEM_ENOMEM when the kernel refuses the memory. On success the
 * region's index goes to *index (may be NULL). c is not kept.
 */
int vmem_guest_ram_add(struct vmem_guest_ram *ram, const struct vmem_ram_region_config *c,
		       unsigned *index, char *err, size_t errlen);

/* How many regions, and region i (VMEM_ENOENT if there is none). */
unsigned vmem_guest_ram_regions(const struct vmem_guest_ram *ram);
int vmem_guest_ram_region(const struct vmem_guest_ram *ram, unsigned i,
			  struct vmem_ram_region *out);

/* 4 KiB frames in all regions. */
uint64_t vmem_guest_ram_frames(const struct vmem_guest_ram *ram);

/* The host address of guest-physical gpa, or NULL if no region holds it
 * (kvmtool's guest_flat_to_host). */
void *vmem_guest_ram_gpa_to_hva(const struct vmem_guest_ram *ram, uint64_t gpa);

/* The guest-physical address of host address hva; VMEM_ENOENT if no region holds it
 * (kvmtool's host_to_guest_flat). */
int vmem_guest_ram_hva_to_gpa(const struct vmem_guest_ram *ram, const void *hva,
			      uint64_t *gpa);

/* Frame number -> (region, 4 KiB page index in it); VMEM_ENOENT past the last frame. */
int vmem_guest_ram_frame(const struct vmem_guest_ram *ram, uint64_t frame, unsigned *region,
			 uint64_t *page);

/*
 * Where region i's pages are, asked of the kernel (move_pages with nodes = NULL):
 * per_node[n] counts the base pages (4 KiB, or 2 MiB for hugetlb) on node n for n < max_nodes,
 * *absent the pages not populated yet. Pages on a node >= max_nodes count as absent.
 * VMEM_EIO if the kernel call fails.
 */
int vmem_guest_ram_node_pages(const struct vmem_guest_ram *ram, unsigned i,
			      uint64_t *per_node, unsigned max_nodes, uint64_t *absent);

/*
 * Registers every region with the KVM VM vm_fd as memory slots first_slot, first_slot + 1, ...
 * (KVM_SET_USER_MEMORY_REGION, flags 0). VMEM_EIO with the kernel's reason in err if KVM
 * refuses one; slots registered before it stay registered (the VM's fd owns them).
 */
int vmem_guest_ram_kvm_register(const struct vmem_guest_ram *ram, int vm_fd,
				unsigned first_slot, char *err, size_t errlen);

/* Unmaps every region and closes its memfd; ram may be NULL. Unregister pagers first. */
void vmem_guest_ram_destroy(struct vmem_guest_ram *ram);

#ifdef __cplusplus
}
#endif

#endif
