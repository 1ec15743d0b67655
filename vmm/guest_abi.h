/*
 * The test guest's ABI: what vmem-vmm and the freestanding test guest (vmm/guest/) agree
 * on. Both compile this header, so it needs only <stdint.h>.
 *
 * Memory: guest-virtual addresses equal guest-physical ones (the VMM builds identity page
 * tables). The system region starts at guest-physical 0 and holds the parameter page, the
 * guest image, the stacks, the page tables and the guest's bookkeeping; the data region,
 * which the guest's workload touches and the VMM swaps, starts at VMM_DATA_GPA.
 *
 * Ports (all 32-bit; the guest runs at CPL3 with IOPL 3, so each `in`/`out` is a
 * KVM_EXIT_IO to the VMM, Documentation/virt/kvm/api.rst, "KVM_EXIT_IO"):
 *   out VMM_PORT_CONSOLE  gpa of a NUL-terminated line of at most VMM_CONSOLE_MAX bytes
 *   out VMM_PORT_RESULT   an event (enum vmm_event); the figures are in the vCPU's block
 *   in  VMM_PORT_COMMAND  the next command for this vCPU (enum vmm_cmd); its argument is
 *                         in the vCPU's block (cmd_arg) before the `in` returns
 *   out VMM_PORT_PING     nothing: a round trip through the VMM, for timing
 * and the balloon channel of include/vmem/balloon_channel.h (0x510..0x51b).
 */
#ifndef VMM_GUEST_ABI_H
#define VMM_GUEST_ABI_H

#include <stdint.h>

#define VMM_PORT_CONSOLE 0x500
#define VMM_PORT_RESULT  0x504
#define VMM_PORT_COMMAND 0x508
#define VMM_PORT_PING    0x50c

#define VMM_CONSOLE_MAX 256

/* System region layout (guest-physical = guest-virtual). */
#define VMM_PARAM_GPA      0x1000ull     /* struct vmm_vcpu_block[VMM_MAX_VCPUS] */
#define VMM_TSS_GPA        0x2000ull     /* the TSS and its I/O bitmap, all zeros */
#define VMM_TSS_BYTES      0x3000ull     /* 0x68 + 8192 bitmap bytes, and the 0xff end byte */
#define VMM_IMAGE_GPA      0x10000ull    /* the guest image: .text, .rodata, .data, .bss */
#define VMM_IMAGE_MAX      0x30000ull    /* up to 0x40000 */
#define VMM_BALLOON_REQ_GPA 0x40000ull   /* the balloon driver's request buffer */
#define VMM_BALLOON_REQ_BYTES 0x10000ull
#define VMM_STACK_GPA      0x80000ull    /* vCPU k's stack: [base + k * size, + size) */
#define VMM_STACK_BYTES    0x4000ull
#define VMM_MAX_VCPUS      16
#define VMM_TABLES_GPA     0x100000ull   /* page tables, then the guest's tables */
#define VMM_DATA_GPA       0x40000000ull /* the data region */

enum vmm_cmd {
	VMM_CMD_FILL = 1,      /* write every page of the slice with generation 0 */
	VMM_CMD_PASS = 2,      /* pass cmd_arg (1, 2, ...): check, then rewrite the window */
	VMM_CMD_VERIFY = 3,    /* check every page of the slice (no writes) */
	VMM_CMD_PING = 4,      /* cmd_arg round trips through VMM_PORT_PING */
	VMM_CMD_BALLOON = 5,   /* read the balloon target, inflate or deflate towards it,
				* report free pages and statistics */
	VMM_CMD_STOP = 6,      /* report VMM_EV_STOPPED and stay stopped */
};

enum vmm_event {
	VMM_EV_DONE = 1,       /* the command is done; the block's figures are current */
	VMM_EV_STOPPED = 2,    /* the guest stopped (VMM_CMD_STOP, or guest_main returned) */
	VMM_EV_ERROR = 3,      /* the command failed; `error` says how */
};

/* Guest errors (vmm_vcpu_block.error). */
enum vmm_guest_error {
	VMM_GERR_NONE = 0,
	VMM_GERR_BAD_COMMAND = 1,
	VMM_GERR_BAD_BLOCK = 2,    /* the block's layout does not fit the guest's memory */
	VMM_GERR_BALLOON = 3,      /* the host rejected a balloon request (balloon_status) */
};

/*
 * One vCPU's parameter block: the VMM writes the first part before the guest starts and
 * cmd_arg before each command; the guest writes the second part.
 */
struct vmm_vcpu_block {
	/* VMM -> guest */
	uint64_t data_gva;         /* the data region's base */
	uint64_t first_page;       /* the slice: data pages [first_page, first_page + pages) */
	uint64_t pages;
	uint64_t gen_table_gva;    /* uint32_t generation per page of the slice */
	uint64_t window;           /* pages a pass touches */
	uint64_t step;             /* how far the window moves from one pass to the next */
	uint32_t dup_every;        /* pages whose global index is a multiple hold one shared
				    * content (never rewritten); 0: none */
	uint32_t cmd_arg;
	/* balloon (vCPU 0 only): the pool of pages the guest's allocator hands out */
	uint64_t pool_first_page;  /* data pages [pool_first_page, + pool_pages) */
	uint64_t pool_pages;
	uint64_t pool_stack_gva;   /* uint32_t pfn per pool page: the allocator's free list */
	uint64_t balloon_pfns_gva; /* uint32_t pfn per pool page: pages in the balloon */
	/* guest -> VMM */
	uint64_t pages_checked;    /* pages compared word by word, this command */
	uint64_t pages_written;    /* pages written, this command */
	uint64_t words_bad;        /* words that differed from their pattern, this command */
	uint64_t first_bad_gva;
	uint64_t first_bad_seen;
	uint64_t first_bad_expected;
	uint64_t balloon_pages;    /* pages in the balloon after VMM_CMD_BALLOON */
	uint64_t free_pages;       /* pages on the allocator's free list */
	int32_t balloon_status;    /* the host's status of the last failed request */
	uint32_t error;            /* enum vmm_guest_error */
	uint64_t reserved[4];
};

#endif
