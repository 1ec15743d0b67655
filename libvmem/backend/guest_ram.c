/*
 * Guest RAM (vmem/guest_ram.h): regions of guest-physical memory backed by host memory.
 *
 * A region is created in four steps, in this order because each one must come before the
 * next touches memory:
 *   1. map: reserve size + 2 MiB of PROT_NONE address space, map the backing (anonymous or
 *      the memfd) MAP_FIXED at the first 2 MiB boundary inside it and give the rest back,
 *      so every region starts 2 MiB-aligned (THP and hugetlb need it; 4 KiB does not mind);
 *   2. huge pages: MADV_HUGEPAGE (THP is madvise-only on the machines we run on) or
 *      MADV_NOHUGEPAGE, before the first touch, which is when the kernel decides;
 *   3. NUMA policy: mbind() with the node mask libnuma parsed (MPOL_BIND, MPOL_PREFERRED,
 *      MPOL_INTERLEAVE), again before the first touch, which is when pages are placed;
 *   4. preallocation: MADV_POPULATE_WRITE (Linux 5.14), which reports a failure as an error
 *      instead of a SIGBUS, else one write per page.
 * Where pages landed is read back with move_pages(2) with nodes = NULL, which returns each
 * page's node in status[] (or -ENOENT for a page not populated).
 *
 * Kernel references: mmap(2), memfd_create(2), madvise(2), mbind(2), move_pages(2);
 * Documentation/admin-guide/mm/transhuge.rst and hugetlbpage.rst; KVM's api.rst for
 * KVM_SET_USER_MEMORY_REGION.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <numa.h>
#include <numaif.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmem/guest_ram.h"
#include "backend/backend_internal.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define HUGE_2M (2ull << 20)
#define MAX_REGIONS 512

struct vmem_guest_ram {
	unsigned n;
	uint64_t frames;
	struct vmem_ram_region r[MAX_REGIONS];
};

void backend_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void vmem_ram_region_config_default(struct vmem_ram_region_config *c)
{
	memset(c, 0, sizeof(*c));
	c->backing = VMEM_RAM_ANON;
	c->pages = VMEM_RAM_4K;
	c->numa = VMEM_NUMA_DEFAULT;
}

int vmem_guest_ram_create(struct vmem_guest_ram **out)
{
	if (!out)
		return VMEM_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : VMEM_ENOMEM;
}

/* Free 2 MiB pages in the hugetlb pool (HugePages_Free of /proc/meminfo), or -1. */
static long hugetlb_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static const char *numa_name(enum vmem_ram_numa m)
{
	switch (m) {
	case VMEM_NUMA_DEFAULT: return "default";
	case VMEM_NUMA_BIND: return "bind";
	case VMEM_NUMA_PREFERRED: return "preferred";
	case VMEM_NUMA_INTERLEAVE: return "interleave";
	}
	return "?";
}

/*
 * "all", "N", "N-M" or comma-separated lists of them, every node existing with memory, as a
 * new libnuma node mask; NULL if the string is bad. (numa_parse_nodestring does the same but
 * prints its complaints on stderr, which a library must not do.)
 */
static struct bitmask *parse_nodes(const char *spec)
{
	struct bitmask *mask = numa_allocate_nodemask();
	const char *s = spec;
	int max = numa_max_node();

	if (!mask)
		return NULL;
	if (strcmp(spec, "all") == 0) {
		copy_bitmask_to_bitmask(numa_all_nodes_ptr, mask);
		return mask;
	}
	for (;;) {
		char *end;
		long lo, hi;

		if (*s < '0' || *s > '9')
			goto bad;
		lo = hi = strtol(s, &end, 10);
		s = end;
		if (*s == '-') {
			if (s[1] < '0' || s[1] > '9')
				goto bad;
			hi = strtol(s + 1, &end, 10);
			s = end;
		}
		if (lo > hi || hi > max)
			goto bad;
		for (long n = lo; n <= hi; n++) {
			if (!numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n))
				goto bad;
			numa_bitmask_setbit(mask, (unsigned)n);
		}
		if (*s == '\0')
			return mask;
		if (*s++ != ',')
			goto bad;
	}
bad:
	numa_bitmask_free(mask);
	return NULL;
}

/* Applies c's NUMA policy to [addr, addr + size). */
static int apply_numa(void *addr, uint64_t size, const struct vmem_ram_region_config *c,
		      char *err, size_t errlen)
{
	const char *spec = c->nodes ? c->nodes : "all";
	struct bitmask *mask;
	int mode, rc;

	if (c->numa == VMEM_NUMA_DEFAULT)
		return 0;
	if (numa_available() < 0) {
		backend_errf(err, errlen, "guest RAM: numa=%s: this kernel offers no NUMA "
				  "policy (numa_available() < 0)", numa_name(c->numa));
		return VMEM_EINVAL;
	}
	mask = parse_nodes(spec);
	if (!mask) {
		backend_errf(err, errlen, "guest RAM: nodes=\"%s\": not a set of existing NUMA "
				  "nodes (this host has nodes 0-%d)", spec, numa_max_node());
		return VMEM_EINVAL;
	}
	mode = c->numa == VMEM_NUMA_BIND ? MPOL_BIND :
	       c->numa == VMEM_NUMA_PREFERRED ? MPOL_PREFERRED : MPOL_INTERLEAVE;
	if (c->numa == VMEM_NUMA_PREFERRED) {
		/* MPOL_PREFERRED takes one node: the first of the set. */
		unsigned first = 0;

		while (!numa_bitmask_isbitset(mask, first))
			first++;
		numa_bitmask_clearall(mask);
		numa_bitmask_setbit(mask, first);
	}
	rc = mbind(addr, size, mode, mask->maskp, mask->size + 1, 0);
	numa_bitmask_free(mask);
	if (rc) {
		backend_errf(err, errlen, "guest RAM: mbind(numa=%s, nodes=%s): %s",
				  numa_name(c->numa), spec, strerror(errno));
		return VMEM_EINVAL;
	}
	return 0;
}

static int check_config(const struct vmem_guest_ram *ram, const struct vmem_ram_region_config *c,
			char *err, size_t errlen)
{
	uint64_t align = c->pages == VMEM_RAM_HUGETLB ? HUGE_2M : 4096;

	if ((unsigned)c->backing > VMEM_RAM_MEMFD) {
		backend_errf(err, errlen, "guest RAM: backing %d: not anon (0) or memfd (1)",
				  (int)c->backing);
		return VMEM_EINVAL;
	}
	if ((unsigned)c->pages > VMEM_RAM_HUGETLB) {
		backend_errf(err, errlen, "guest RAM: pages %d: not 4k (0), thp (1) or "
				  "hugetlb (2)", (int)c->pages);
		return VMEM_EINVAL;
	}
	if ((unsigned)c->numa > VMEM_NUMA_INTERLEAVE) {
		backend_errf(err, errlen, "guest RAM: numa %d: not default, bind, preferred "
				  "or interleave", (int)c->numa);
		return VMEM_EINVAL;
	}
	if (c->numa == VMEM_NUMA_DEFAULT && c->nodes) {
		backend_errf(err, errlen, "guest RAM: nodes=\"%s\" given without a NUMA policy "
				  "(bind, preferred or interleave)", c->nodes);
		return VMEM_EINVAL;
	}
	if (c->size == 0 || c->size % align) {
		backend_errf(err, errlen, "guest RAM: size %" PRIu64 ": must be a non-zero "
				  "multiple of %" PRIu64 " bytes (the region's page size)", c->size,
				  align);
		return VMEM_EINVAL;
	}
	if (c->gpa % align) {
		backend_errf(err, errlen, "guest RAM: gpa 0x%" PRIx64 ": not aligned to the "
				  "region's page size (%" PRIu64 " bytes)", c->gpa, align);
		return VMEM_EINVAL;
	}
	if (c->gpa + c->size < c->gpa || c->gpa + c->size > (1ull << 52)) {
		backend_errf(err, errlen, "guest RAM: gpa 0x%" PRIx64 " + size 0x%" PRIx64
				  " goes past the 52-bit guest-physical address space", c->gpa,
				  c->size);
		return VMEM_EINVAL;
	}
	if (ram->n == MAX_REGIONS) {
		backend_errf(err, errlen, "guest RAM: already %d regions, the most it holds",
				  MAX_REGIONS);
		return VMEM_EINVAL;
	}
	for (unsigned i = 0; i < ram->n; i++) {
		const struct vmem_ram_region *r = &ram->r[i];

		if (c->gpa < r->gpa + r->size && r->gpa < c->gpa + c->size) {
			backend_errf(err, errlen, "guest RAM: [0x%" PRIx64 ", 0x%" PRIx64 ") "
					  "overlaps region %u [0x%" PRIx64 ", 0x%" PRIx64 ")", c->gpa,
					  c->gpa + c->size, i, r->gpa, r->gpa + r->size);
			return VMEM_EINVAL;
		}
	}
	if (c->pages == VMEM_RAM_HUGETLB) {
		long free = hugetlb_free();
		uint64_t need = c->size / HUGE_2M;

		if (free >= 0 && (uint64_t)free < need) {
			backend_errf(err, errlen, "guest RAM: hugetlb region of %" PRIu64 " 2 MiB "
					  "pages, but the pool has %ld free: raise vm.nr_hugepages "
					  "(sysctl -w vm.nr_hugepages=N)", need, free);
			return VMEM_EINVAL;
		}
	}
	return 0;
}

int vmem_guest_ram_add(struct vmem_guest_ram *ram, const struct vmem_ram_region_config *c,
		       unsigned *index, char *err, size_t errlen)
{
	struct vmem_ram_region *r;
	uint64_t resv_size, head, tail;
	char *resv, *addr;
	int fd = -1, rc, flags;

	if (!ram || !c) {
		backend_errf(err, errlen, "guest RAM: %s is NULL", ram ? "config" : "guest RAM");
		return VMEM_EINVAL;
	}
	rc = check_config(ram, c, err, errlen);
	if (rc)
		return rc;

	/* 1. Map, 2 MiB-aligned. */
	resv_size = c->size + HUGE_2M;
	resv = mmap(NULL, resv_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (resv == MAP_FAILED) {
		backend_errf(err, errlen, "guest RAM: cannot reserve %" PRIu64 " bytes of "
				  "address space: %s", resv_size, strerror(errno));
		return VMEM_ENOMEM;
	}
	addr = (char *)(((uintptr_t)resv + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	if (c->backing == VMEM_RAM_MEMFD) {
		unsigned mfd = MFD_CLOEXEC;

		if (c->pages == VMEM_RAM_HUGETLB)
			mfd |= MFD_HUGETLB | MFD_HUGE_2MB;
		fd = memfd_create(c->name ? c->name : "vmem-guest-ram", mfd);
		if (fd < 0 || ftruncate(fd, (off_t)c->size)) {
			backend_errf(err, errlen, "guest RAM: memfd of %" PRIu64 " bytes: %s%s",
					  c->size, strerror(errno), c->pages == VMEM_RAM_HUGETLB ?
					  " (hugetlb: check vm.nr_hugepages)" : "");
			goto fail_nomem;
		}
		flags = MAP_SHARED | MAP_FIXED;
	} else {
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
		if (c->pages == VMEM_RAM_HUGETLB)
			flags |= MAP_HUGETLB | MAP_HUGE_2MB;
	}
	if (mmap(addr, c->size, PROT_READ | PROT_WRITE, flags, fd, 0) == MAP_FAILED) {
		backend_errf(err, errlen, "guest RAM: mmap of %" PRIu64 " bytes: %s%s", c->size,
				  strerror(errno), c->pages == VMEM_RAM_HUGETLB ?
				  " (hugetlb pool too small: raise vm.nr_hugepages)" : "");
		goto fail_nomem;
	}
	head = (uint64_t)(addr - resv);
	tail = resv_size - head - c->size;
	if (head)
		munmap(resv, head);
	if (tail)
		munmap(addr + c->size, tail);
	resv = NULL;

	/* 2. Huge pages, before the first touch. */
	if (c->pages != VMEM_RAM_HUGETLB &&
	    madvise(addr, c->size, c->pages == VMEM_RAM_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) &&
	    c->pages == VMEM_RAM_THP) {
		backend_errf(err, errlen, "guest RAM: madvise(MADV_HUGEPAGE): %s (is THP "
				  "compiled in? /sys/kernel/mm/transparent_hugepage/enabled)",
				  strerror(errno));
		rc = VMEM_EINVAL;
		goto fail_mapped;
	}
	/* 3. NUMA placement. */
	rc = apply_numa(addr, c->size, c, err, errlen);
	if (rc)
		goto fail_mapped;
	/* 4. Preallocation. */
	if (c->prealloc && madvise(addr, c->size, MADV_POPULATE_WRITE)) {
		if (errno != EINVAL) {
			backend_errf(err, errlen, "guest RAM: preallocating %" PRIu64 " bytes: %s",
					  c->size, strerror(errno));
			rc = VMEM_ENOMEM;
			goto fail_mapped;
		}
		/* A kernel older than 5.14: touch each page (a failure is then a SIGBUS). */
		for (uint64_t off = 0; off < c->size; off += 4096)
			((volatile char *)addr)[off] = 0;
	}

	r = &ram->r[ram->n];
	r->gpa = c->gpa;
	r->size = c->size;
	r->hva = addr;
	r->fd = fd;
	r->page_bytes = c->pages == VMEM_RAM_HUGETLB ? HUGE_2M : 4096;
	r->first_frame = ram->frames;
	r->backing = c->backing;
	r->pages = c->pages;
	r->numa = c->numa;
	ram->frames += c->size / 4096;
	if (index)
		*index = ram->n;
	ram->n++;
	return 0;

fail_mapped:
	munmap(addr, c->size);
	if (fd >= 0)
		close(fd);
	return rc;
fail_nomem:
	if (resv)
		munmap(resv, resv_size);
	if (fd >= 0)
		close(fd);
	return VMEM_ENOMEM;
}

unsigned vmem_guest_ram_regions(const struct vmem_guest_ram *ram)
{
	return ram ? ram->n : 0;
}

int vmem_guest_ram_region(const struct vmem_guest_ram *ram, unsigned i,
			  struct vmem_ram_region *out)
{
	if (!ram || !out || i >= ram->n)
		return VMEM_ENOENT;
	*out = ram->r[i];
	return 0;
}

uint64_t vmem_guest_ram_frames(const struct vmem_guest_ram *ram)
{
	return ram ? ram->frames : 0;
}

void *vmem_guest_ram_gpa_to_hva(const struct vmem_guest_ram *ram, uint64_t gpa)
{
	if (!ram)
		return NULL;
	for (unsigned i = 0; i < ram->n; i++) {
		const struct vmem_ram_region *r = &ram->r[i];

		if (gpa - r->gpa < r->size)
			return (char *)r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int vmem_guest_ram_hva_to_gpa(const struct vmem_guest_ram *ram, const void *hva, uint64_t *gpa)
{
	if (!ram || !gpa)
		return VMEM_EINVAL;
	for (unsigned i = 0; i < ram->n; i++) {
		const struct vmem_ram_region *r = &ram->r[i];
		uintptr_t off = (uintptr_t)hva - (uintptr_t)r->hva;

		if (off < r->size) {
			*gpa = r->gpa + off;
			return 0;
		}
	}
	return VMEM_ENOENT;
}

int vmem_guest_ram_frame(const struct vmem_guest_ram *ram, uint64_t frame, unsigned *region,
			 uint64_t *page)
{
	if (!ram)
		return VMEM_EINVAL;
	for (unsigned i = 0; i < ram->n; i++) {
		const struct vmem_ram_region *r = &ram->r[i];

		if (frame - r->first_frame < r->size / 4096) {
			if (region)
				*region = i;
			if (page)
				*page = frame - r->first_frame;
			return 0;
		}
	}
	return VMEM_ENOENT;
}

int vmem_guest_ram_node_pages(const struct vmem_guest_ram *ram, unsigned i,
			      uint64_t *per_node, unsigned max_nodes, uint64_t *absent)
{
	enum { BATCH = 4096 };
	void *pages[BATCH];
	int status[BATCH];
	const struct vmem_ram_region *r;
	uint64_t n, done = 0, gone = 0;

	if (!ram || i >= ram->n)
		return VMEM_ENOENT;
	if (max_nodes && !per_node)
		return VMEM_EINVAL;
	r = &ram->r[i];
	n = r->size / r->page_bytes;
	for (unsigned k = 0; k < max_nodes; k++)
		per_node[k] = 0;
	while (done < n) {
		unsigned m = n - done < BATCH ? (unsigned)(n - done) : BATCH;

		for (unsigned k = 0; k < m; k++)
			pages[k] = (char *)r->hva + (done + k) * r->page_bytes;
		if (move_pages(0, m, pages, NULL, status, 0))
			return VMEM_EIO;
		for (unsigned k = 0; k < m; k++) {
			if (status[k] >= 0 && (unsigned)status[k] < max_nodes)
				per_node[status[k]]++;
			else
				gone++;
		}
		done += m;
	}
	if (absent)
		*absent = gone;
	return 0;
}

int vmem_guest_ram_kvm_register(const struct vmem_guest_ram *ram, int vm_fd,
				unsigned first_slot, char *err, size_t errlen)
{
	if (!ram || vm_fd < 0) {
		backend_errf(err, errlen, "KVM memory slots: %s", ram ? "bad VM fd" :
				  "guest RAM is NULL");
		return VMEM_EINVAL;
	}
	if (first_slot > 0xffff - ram->n) {
		backend_errf(err, errlen, "KVM memory slots: first slot %u + %u regions goes "
				  "past slot 65535", first_slot, ram->n);
		return VMEM_EINVAL;
	}
	for (unsigned i = 0; i < ram->n; i++) {
		const struct vmem_ram_region *r = &ram->r[i];
		struct kvm_userspace_memory_region m = {
			.slot = first_slot + i,
			.flags = 0,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};

		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m)) {
			backend_errf(err, errlen, "KVM_SET_USER_MEMORY_REGION slot %u (gpa 0x%"
					  PRIx64 ", %" PRIu64 " bytes): %s", m.slot, r->gpa, r->size,
					  strerror(errno));
			return VMEM_EIO;
		}
	}
	return 0;
}

void vmem_guest_ram_destroy(struct vmem_guest_ram *ram)
{
	if (!ram)
		return;
	for (unsigned i = 0; i < ram->n; i++) {
		munmap(ram->r[i].hva, ram->r[i].size);
		if (ram->r[i].fd >= 0)
			close(ram->r[i].fd);
	}
	free(ram);
}
