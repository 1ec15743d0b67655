/*
 * kvm_stats: runs one small KVM guest and prints KVM's own statistics for it, so the MMU
 * that KVM uses (nested paging, shadow paging, kvm_pvm) can be compared by its counters.
 *
 *   kvm_stats LABEL [PAGES]
 *
 * The guest runs in 64-bit long mode with 4-level paging (4 KiB pages, an identity map built
 * here in guest memory), so with shadow paging KVM must shadow the guest's page tables.
 * It runs at CPL3 (DPL-3 segments, U bit in every entry, IOPL 3 so OUT still exits): a
 * software hypervisor such as kvm_pvm emulates CPL0 guest code instruction by instruction
 * and then its MMU counters stay 0, while CPL3 code runs natively.
 * It writes one word to each of PAGES pages (default 4096 = 16 MiB), exits with an OUT,
 * and does it again (the second pass finds every page mapped). Then it loops on OUT for
 * a fixed number of exits, which gives the cost of one exit round trip.
 * After each phase the VM's and the vCPU's statistics are read through KVM_GET_STATS_FD
 * (Documentation/virt/kvm/api.rst, 4.133) and printed as
 *   KVM-STAT LABEL PHASE vm|vcpu NAME VALUE
 * with cumulative values, plus "KVM-TIME LABEL PHASE SECONDS" per phase.
 * Statically linked: it runs in a minimal initramfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_MEM        (32u << 20)
#define PML4             0x1000u
#define PDPT             0x2000u
#define PAGE_DIR         0x3000u
#define PAGE_TABLES      0x4000u /* 16 tables map the 32 MiB */
#define CODE             0x20000u
#define EXIT_LOOP_CODE   0x20040u
#define DATA             0x100000u
#define MAX_PAGES        ((GUEST_MEM - DATA) / 4096u)
#define PASS_PORT        0x10
#define EXIT_LOOP_PORT   0x11
#define EXIT_LOOP_COUNT  2000

static const char *label;

static void die(const char *what)
{
	fprintf(stderr, "kvm_stats: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints every single-valued statistic of the VM or vCPU behind FD (histograms are
 * printed as the sum of their buckets). */
static void print_stats(int fd, const char *phase, const char *who)
{
	int sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	if (sfd < 0)
		die("KVM_GET_STATS_FD");
	struct kvm_stats_header h;
	if (pread(sfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		die("read stats header");
	size_t desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	char *descs = malloc(desc_size * h.num_desc);
	if (!descs)
		die("malloc");
	if (pread(sfd, descs, desc_size * h.num_desc, h.desc_offset) !=
	    (ssize_t)(desc_size * h.num_desc))
		die("read stats descriptors");
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * desc_size);
		uint64_t sum = 0, v;
		for (uint16_t j = 0; j < d->size; j++) {
			if (pread(sfd, &v, sizeof(v), h.data_offset + d->offset + 8u * j) !=
			    (ssize_t)sizeof(v))
				die("read stats data");
			sum += v;
		}
		printf("KVM-STAT %s %s %s %s %llu\n", label, phase, who, d->name,
		       (unsigned long long)sum);
	}
	free(descs);
	close(sfd);
}

static void set_segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffffu;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->dpl = 3;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

/* Runs the vCPU until it exits with an OUT to PORT; anything else is an error. */
static void run_until_out(int vcpu, struct kvm_run *run, uint16_t port)
{
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, NULL) < 0) {
			if (errno == EINTR)
				continue;
			die("KVM_RUN");
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == port)
			return;
		struct kvm_regs regs;
		ioctl(vcpu, KVM_GET_REGS, &regs);
		fprintf(stderr, "kvm_stats: unexpected exit %u (port %u) at rip 0x%llx\n",
			run->exit_reason, run->exit_reason == KVM_EXIT_IO ? run->io.port : 0,
			(unsigned long long)regs.rip);
		exit(1);
	}
}

static void set_rip(int vcpu, uint64_t rip)
{
	struct kvm_regs regs;
	if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
		die("KVM_GET_REGS");
	regs.rip = rip;
	regs.rflags = 0x3002; /* IOPL 3: OUT at CPL3 exits to user space */
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: kvm_stats LABEL [PAGES]\n");
		return 2;
	}
	label = argv[1];
	unsigned long pages = 4096;
	if (argc == 3) {
		char *end;
		errno = 0;
		pages = strtoul(argv[2], &end, 10);
		if (errno || *end || pages == 0 || pages > MAX_PAGES) {
			fprintf(stderr, "kvm_stats: PAGES must be 1..%u, got '%s'\n", MAX_PAGES,
				argv[2]);
			return 2;
		}
	}

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("open /dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	if (mem == MAP_FAILED)
		die("mmap guest memory");
	/* 4 KiB host pages, so that pf_fixed and pages_4k count the guest's pages one by one
	 * whatever the THP setting (Debian's kernel has THP "always"; with it nested paging
	 * maps 2 MiB at a time). */
	if (madvise(mem, GUEST_MEM, MADV_NOHUGEPAGE) < 0)
		die("madvise MADV_NOHUGEPAGE");

	/* Identity map of the 32 MiB with 4 KiB pages: present | writable | user (7). */
	uint64_t *pml4 = (uint64_t *)(mem + PML4), *pdpt = (uint64_t *)(mem + PDPT);
	uint64_t *pd = (uint64_t *)(mem + PAGE_DIR);
	pml4[0] = PDPT | 7u;
	pdpt[0] = PAGE_DIR | 7u;
	for (uint64_t t = 0; t < GUEST_MEM >> 21; t++) {
		uint64_t *pt = (uint64_t *)(mem + PAGE_TABLES + t * 4096u);
		pd[t] = (PAGE_TABLES + t * 4096u) | 7u;
		for (uint64_t e = 0; e < 512; e++)
			pt[e] = ((t << 21) | (e << 12)) | 7u;
	}
	/* Pass code: mov edi, DATA; mov ecx, pages; 1: mov [rdi], ecx; add edi, 4096;
	 * dec ecx; jnz 1b; mov dx, PASS_PORT; out dx, al (the host moves RIP back) */
	const uint8_t pass_code[] = {
		0xbf, DATA & 0xff, (DATA >> 8) & 0xff, (DATA >> 16) & 0xff, DATA >> 24,
		0xb9, pages & 0xff, (pages >> 8) & 0xff, (pages >> 16) & 0xff, (pages >> 24) & 0xff,
		0x89, 0x0f,
		0x81, 0xc7, 0x00, 0x10, 0x00, 0x00,
		0xff, 0xc9,
		0x75, 0xf4,
		0x66, 0xba, PASS_PORT, 0x00,
		0xee,
	};
	memcpy(mem + CODE, pass_code, sizeof(pass_code));
	/* Exit loop: 1: out EXIT_LOOP_PORT, al; jmp 1b */
	const uint8_t exit_loop_code[] = { 0xe6, EXIT_LOOP_PORT, 0xeb, 0xfc };
	memcpy(mem + EXIT_LOOP_CODE, exit_loop_code, sizeof(exit_loop_code));

	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM,
		.userspace_addr = (uint64_t)(uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	set_segment(&sregs.cs, 0x18 | 3, 11);
	sregs.cs.db = 0;
	sregs.cs.l = 1;
	set_segment(&sregs.ds, 0x20 | 3, 3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .selector = 0x08, .limit = 0x67, .type = 11, .present = 1 };
	sregs.cr0 = 0x80050033u; /* PG, AM, WP, NE, ET, MP, PE */
	sregs.cr3 = PML4;
	sregs.cr4 = 0x20;        /* PAE */
	sregs.efer = 0x500;      /* LME, LMA */
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");

	static const char *const passes[] = { "first-touch", "second-touch" };
	for (int p = 0; p < 2; p++) {
		set_rip(vcpu, CODE);
		double t0 = now();
		run_until_out(vcpu, run, PASS_PORT);
		printf("KVM-TIME %s %s %.6f\n", label, passes[p], now() - t0);
		print_stats(vm, passes[p], "vm");
		print_stats(vcpu, passes[p], "vcpu");
	}
	/* The guest's writes must have landed: page i holds pages - i. */
	for (unsigned long i = 0; i < pages; i++) {
		uint32_t v;
		memcpy(&v, mem + DATA + i * 4096u, sizeof(v));
		if (v != pages - i) {
			fprintf(stderr, "kvm_stats: page %lu holds %u, expected %lu\n", i, v,
				pages - i);
			return 1;
		}
	}

	set_rip(vcpu, EXIT_LOOP_CODE);
	double t0 = now();
	for (int i = 0; i < EXIT_LOOP_COUNT; i++)
		run_until_out(vcpu, run, EXIT_LOOP_PORT);
	double t = now() - t0;
	printf("KVM-TIME %s exit-loop %.6f\n", label, t);
	printf("KVM-EXIT-COST %s %d exits %.2f us/exit\n", label, EXIT_LOOP_COUNT,
	       t * 1e6 / EXIT_LOOP_COUNT);
	print_stats(vcpu, "exit-loop", "vcpu");
	printf("KVM-STATS-DONE %s\n", label);
	return 0;
}
