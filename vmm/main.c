/*
 * vmem-vmm: a small VMM that runs a freestanding test guest under real KVM, on guest RAM
 * from libvmem (vmem/guest_ram.h), optionally swapped by libvmem's pager (vmem/pager.h)
 * and ballooned through the balloon channel (vmem/balloon_channel.h), and prints KVM's own
 * statistics (KVM_GET_STATS_FD) beside the guest's figures. --trace writes the guest's
 * data accesses as a .vmt trace for vmemsim, to compare KVM's MMU with the simulator's.
 *
 * Exit status: 0 when the guest ran and every check passed, 1 when the guest found a
 * corrupted word, failed or crashed, or an output could not be written, 2 on bad usage or
 * when /dev/kvm cannot run the guest.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <signal.h>
#include <time.h>

#include "vmem/balloon_channel.h"
#include "vmem/common.h"
#include "vmem/guest_ram.h"
#include "vmem/pager.h"

#include "base/parse.h"
#include "trace/trace_outfile.h"

#include "kvm_stats.h"
#include "pattern.h"
#include "vmm.h"

extern const unsigned char vmm_guest_image[];
extern const unsigned char vmm_guest_image_end[];

#define PROG "vmem-vmm"
#define MIB (1ull << 20)

static const char *const usage_text =
	"usage: vmem-vmm [--memory SIZE] [--backing anon|memfd] [--pages 4k|thp|hugetlb]\n"
	"                [--guest-pages 4k|2m] [--vcpus N] [--passes N] [--window N] [--step N]\n"
	"                [--dup-every N] [--pings N] [--swap] [--swap-store lz4|file]\n"
	"                [--swap-batch N] [--swap-interval US] [--swap-handler-cpu C]\n"
	"                [--manager CONFIG]\n"
	"                [--balloon PAGES] [--corrupt-page N] [--json FILE] [--trace FILE]\n"
	"                [--dirty-log] [--pin] [--timeout S] [-q]\n"
	"                [--dedup own|ksm] [--dedup-scan N] [--dedup-sleep MS]\n"
	"                [--snapshot FILE] [--restore FILE [--prefetch]]\n"
	"                [--precopy] [--precopy-mech kvm-bitmap|uffd-async|uffd-sync]\n"
	"                [--precopy-bandwidth MIBS] [--precopy-threshold N]\n"
	"                [--precopy-rounds N] [--pass-interval US]\n"
	"       vmem-vmm --probe | --help | --version\n";

static const char *const help_text =
	"\n"
	"Runs a freestanding 64-bit test guest under KVM (/dev/kvm) at CPL3 on guest RAM made\n"
	"by libvmem. Each vCPU fills its slice of the data region with a known pattern (every\n"
	"page a function of page number and generation), checks it, then runs passes over a\n"
	"working-set window that moves, checking and rewriting each page, and checks all of it\n"
	"at the end. The guest reports every word that is not what it wrote; so does the VMM,\n"
	"which checks the data region again from the host after the guest stopped. Then KVM's\n"
	"statistics of the VM and the vCPUs (KVM_GET_STATS_FD: exits, pf_fixed, pages_4k, ...),\n"
	"the pager's, the host memory manager's and the balloon's are printed.\n"
	"\n"
	"Options:\n"
	"  --memory SIZE       workload memory, split between the vCPUs (default 16m)\n"
	"  --backing KIND      anon or memfd: how the data region is backed (default anon)\n"
	"  --pages KIND        4k, thp or hugetlb host pages (default 4k; hugetlb needs\n"
	"                      vm.nr_hugepages)\n"
	"  --guest-pages SIZE  4k or 2m: the guest's own page size for the data (default 4k)\n"
	"  --vcpus N           vCPUs, one thread each, 1..16 (default 1)\n"
	"  --passes N          passes over the moving window (default 8)\n"
	"  --window N          pages a pass touches per vCPU (default a quarter of its slice)\n"
	"  --step N            pages the window moves per pass (default half the window)\n"
	"  --dup-every N       every N-th page holds one shared content (default 0: none)\n"
	"  --pings N           exit round trips vCPU 0 times (default 2000; 0: none)\n"
	"  --swap              swap the data region while the guest runs: libvmem's pager\n"
	"                      (userfaultfd) evicts random pages in rounds; needs anon, 4k\n"
	"  --swap-store KIND   lz4 (compressed in memory, default) or file (a swap file)\n"
	"  --swap-batch N      pages evicted per round (default 64)\n"
	"  --swap-interval US  microseconds between rounds (default 2000)\n"
	"  --swap-handler-cpu C  pin the pager's fault-handling thread to CPU C\n"
	"  --manager CONFIG    run the data region by libvmem's host memory manager\n"
	"                      (vmem/ram_manager.h): its swap policy (random, fifo, clock,\n"
	"                      lru, ws) picks the pages that leave, host.mem bounds the pages\n"
	"                      resident; CONFIG is its KEY=VALUE words, e.g. 'host.mem=2m\n"
	"                      swap=clock'; its books are checked against mincore every 5 ms\n"
	"                      and at the end; needs anon, 4k, and no --swap or --balloon;\n"
	"                      with dedup=ksm[:KNOB=V...] its dedup policy merges pages too\n"
	"  --balloon PAGES     a pool of PAGES pages for the guest's page allocator, and its\n"
	"                      balloon driver: inflated to half the pool, then deflated\n"
	"  --corrupt-page N    damage one word of data page N after the fill (tests that the\n"
	"                      guest's check fails: the exit status is then 1)\n"
	"  --json FILE         write the figures and KVM's statistics as JSON\n"
	"  --trace FILE        write the guest's data accesses as a .vmt trace (.zst:\n"
	"                      compressed) for vmemsim -m nested / -m shadow\n"
	"  --dirty-log         check KVM's dirty log (KVM_GET_DIRTY_LOG) after every command\n"
	"                      against the pages the guest wrote (one vCPU)\n"
	"  --dedup [own|ksm]   merge the data region's identical pages while the guest runs\n"
	"                      its passes: libvmem's scanner (own, the default; needs anon,\n"
	"                      4k, no --swap) or the kernel's KSM (MADV_MERGEABLE; its knobs\n"
	"                      are restored after); prints the scanner's or KSM's counters\n"
	"                      and the data region's smaps before and after\n"
	"  --dedup-scan N      pages per scan pass (default 1024)\n"
	"  --dedup-sleep MS    milliseconds between scan passes (default 5)\n"
	"  --snapshot FILE     save the data region to FILE after the guest stopped (and its\n"
	"                      pattern options to FILE.vmm)\n"
	"  --restore FILE      a new VM on FILE's data, restored lazily through userfaultfd:\n"
	"                      the guest checks the generations it had, then stops; the\n"
	"                      order of first touches is saved as FILE.ws\n"
	"  --prefetch          with --restore: install FILE.ws's pages first\n"
	"  --precopy           migrate the data region while the guest runs its passes\n"
	"                      (pre-copy): copy it all, then the pages written during each\n"
	"                      round, then pause the vCPUs and copy the rest; checks every\n"
	"                      round's dirty pages against the passes the guest ran and the\n"
	"                      copy against the source byte for byte\n"
	"  --precopy-mech M    the dirty-page tracker: kvm-bitmap (KVM's dirty log, default),\n"
	"                      uffd-async or uffd-sync (userfaultfd write protection)\n"
	"  --precopy-bandwidth MIBS  MiB/s the sender may send, 0 unlimited (default 256)\n"
	"  --precopy-threshold N  stop-and-copy once a round finds at most N dirty pages\n"
	"                      (default 64)\n"
	"  --precopy-rounds N  or after N rounds, 1..1000 (default 30)\n"
	"  --pass-interval US  hand the guest a pass at most every US microseconds, so that\n"
	"                      it dirties --step new pages per interval (default 0: no wait)\n"
	"  --pin               pin vCPU k's thread to CPU k (modulo the CPUs there are)\n"
	"  --timeout S         stop the guest and fail if it has not finished in S seconds\n"
	"                      (default 120)\n"
	"  --probe             only check that /dev/kvm can run the guest (exit 0 or 2)\n"
	"  -q, --quiet         no console lines from the guest\n"
	"  -h, --help          this text\n"
	"      --version       the version of vmem-vmm and libvmem\n"
	"\n"
	"Where /dev/kvm is missing, `make check-kvm` runs vmem-vmm and the KVM tests under\n"
	"a KVM inside QEMU's emulated AMD SVM, with nested (npt=1) and shadow (npt=0)\n"
	"paging (docs/KVM-QEMU.md).\n"
	"\n"
	"Examples:\n"
	"  vmem-vmm --memory 8m --passes 4\n"
	"  vmem-vmm --vcpus 2 --memory 8m --dup-every 4 --json run.json\n"
	"  vmem-vmm --memory 4m --swap --swap-batch 32 --swap-interval 500\n"
	"  vmem-vmm --memory 4m --balloon 256 --backing memfd\n"
	"  vmem-vmm --memory 4m --passes 4 --manager 'host.mem=2m swap=clock'\n"
	"  vmem-vmm --memory 8m --window 16 --passes 400 --pass-interval 1000 --pings 0 --precopy\n";

static int usage(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": %s (" PROG " --help shows the usage)\n", msg);
	return 2;
}

static bool parse_num(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;

	if (!s || !vmem_parse_count(s, &v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Parses argv into o; 0, or 2 on bad usage (--help and --version exit here). */
static int parse_options(int argc, char **argv, struct vmm_options *o, bool *probe)
{
	static const struct option longopts[] = {
		{ "memory", required_argument, NULL, 'M' },
		{ "backing", required_argument, NULL, 'B' },
		{ "pages", required_argument, NULL, 'P' },
		{ "guest-pages", required_argument, NULL, 'G' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "passes", required_argument, NULL, 'p' },
		{ "window", required_argument, NULL, 'W' },
		{ "step", required_argument, NULL, 'S' },
		{ "dup-every", required_argument, NULL, 'D' },
		{ "pings", required_argument, NULL, 'i' },
		{ "swap", no_argument, NULL, 's' },
		{ "swap-store", required_argument, NULL, 'T' },
		{ "swap-batch", required_argument, NULL, 'b' },
		{ "swap-interval", required_argument, NULL, 'I' },
		{ "balloon", required_argument, NULL, 'L' },
		{ "corrupt-page", required_argument, NULL, 'C' },
		{ "json", required_argument, NULL, 'j' },
		{ "trace", required_argument, NULL, 't' },
		{ "probe", no_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 'O' },
		{ "pin", no_argument, NULL, 'N' },
		{ "dirty-log", no_argument, NULL, 'Y' },
		{ "swap-handler-cpu", required_argument, NULL, 'H' },
		{ "manager", required_argument, NULL, 'K' },
		{ "dedup", optional_argument, NULL, 'd' },
		{ "dedup-scan", required_argument, NULL, 'e' },
		{ "dedup-sleep", required_argument, NULL, 'E' },
		{ "snapshot", required_argument, NULL, 'k' },
		{ "restore", required_argument, NULL, 'r' },
		{ "prefetch", no_argument, NULL, 'f' },
		{ "precopy", no_argument, NULL, 'x' },
		{ "precopy-mech", required_argument, NULL, 'X' },
		{ "precopy-bandwidth", required_argument, NULL, 'w' },
		{ "precopy-threshold", required_argument, NULL, 'z' },
		{ "precopy-rounds", required_argument, NULL, 'Z' },
		{ "pass-interval", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ 0, 0, 0, 0 },
	};
	uint64_t x;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'M':
			if (!vmem_parse_bytes(optarg, &x) || x < 4096 || x > (4ull << 30) ||
			    x % 4096)
				return usage("--memory needs a size of 4k..4g in whole 4 KiB pages, "
					     "not '%s'", optarg);
			o->memory = x;
			break;
		case 'B':
			if (strcmp(optarg, "anon") == 0)
				o->backing = VMEM_RAM_ANON;
			else if (strcmp(optarg, "memfd") == 0)
				o->backing = VMEM_RAM_MEMFD;
			else
				return usage("--backing needs anon or memfd, not '%s'", optarg);
			break;
		case 'P':
			if (strcmp(optarg, "4k") == 0)
				o->pages = VMEM_RAM_4K;
			else if (strcmp(optarg, "thp") == 0)
				o->pages = VMEM_RAM_THP;
			else if (strcmp(optarg, "hugetlb") == 0)
				o->pages = VMEM_RAM_HUGETLB;
			else
				return usage("--pages needs 4k, thp or hugetlb, not '%s'", optarg);
			break;
		case 'G':
			if (strcmp(optarg, "4k") != 0 && strcmp(optarg, "2m") != 0)
				return usage("--guest-pages needs 4k or 2m, not '%s'", optarg);
			o->guest_2m = strcmp(optarg, "2m") == 0;
			break;
		case 'c':
			if (!parse_num(optarg, 1, VMM_MAX_VCPUS, &x))
				return usage("--vcpus needs a number 1..%d, not '%s'", VMM_MAX_VCPUS,
					     optarg);
			o->vcpus = (unsigned)x;
			break;
		case 'p':
			if (!parse_num(optarg, 0, 1000000, &x))
				return usage("--passes needs a number 0..1000000, not '%s'", optarg);
			o->passes = (uint32_t)x;
			break;
		case 'W':
			if (!parse_num(optarg, 1, UINT32_MAX, &x))
				return usage("--window needs a number of pages >= 1, not '%s'", optarg);
			o->window = x;
			break;
		case 'S':
			if (!parse_num(optarg, 1, UINT32_MAX, &x))
				return usage("--step needs a number of pages >= 1, not '%s'", optarg);
			o->step = x;
			break;
		case 'D':
			if (!parse_num(optarg, 0, UINT32_MAX, &x))
				return usage("--dup-every needs a number (0: no shared pages), not '%s'",
					     optarg);
			o->dup_every = (uint32_t)x;
			break;
		case 'i':
			if (!parse_num(optarg, 0, 10000000, &x))
				return usage("--pings needs a number 0..10000000, not '%s'", optarg);
			o->pings = (uint32_t)x;
			break;
		case 's':
			o->swap = true;
			break;
		case 'T':
			if (strcmp(optarg, "lz4") == 0)
				o->swap_store = VMEM_PAGER_LZ4;
			else if (strcmp(optarg, "file") == 0)
				o->swap_store = VMEM_PAGER_SWAPFILE;
			else
				return usage("--swap-store needs lz4 or file, not '%s'", optarg);
			break;
		case 'b':
			if (!parse_num(optarg, 1, 1000000, &x))
				return usage("--swap-batch needs a number 1..1000000, not '%s'", optarg);
			o->swap_batch = (uint32_t)x;
			break;
		case 'I':
			if (!parse_num(optarg, 0, 10000000, &x))
				return usage("--swap-interval needs microseconds 0..10000000, not '%s'",
					     optarg);
			o->swap_interval_us = (uint32_t)x;
			break;
		case 'L':
			if (!parse_num(optarg, 1, 1u << 20, &x))
				return usage("--balloon needs a number of pages 1..1048576, not '%s'",
					     optarg);
			o->balloon_pages = x;
			break;
		case 'C':
			if (!parse_num(optarg, 0, INT64_MAX, &x))
				return usage("--corrupt-page needs a page number, not '%s'", optarg);
			o->corrupt_page = (int64_t)x;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 't':
			o->trace = optarg;
			break;
		case 'R':
			*probe = true;
			break;
		case 'N':
			o->pin = true;
			break;
		case 'Y':
			o->dirty_log = true;
			break;
		case 'H':
			if (!parse_num(optarg, 0, CPU_SETSIZE - 1, &x))
				return usage("--swap-handler-cpu needs a CPU number, not '%s'", optarg);
			o->swap_handler_cpu = (int)x;
			break;
		case 'O':
			if (!parse_num(optarg, 1, 86400, &x))
				return usage("--timeout needs seconds 1..86400, not '%s'", optarg);
			o->timeout_s = (uint32_t)x;
			break;
		case 'K':
			if (!optarg[0] || strlen(optarg) > 1000)
				return usage("--manager needs KEY=VALUE words of 1..1000 bytes, e.g. "
					     "'host.mem=2m swap=clock'");
			o->manager = optarg;
			break;
		case 'd':
			if (!optarg || strcmp(optarg, "own") == 0)
				o->dedup = VMM_DEDUP_OWN;
			else if (strcmp(optarg, "ksm") == 0)
				o->dedup = VMM_DEDUP_KSM;
			else
				return usage("--dedup takes own or ksm (as --dedup=ksm), not '%s'",
					     optarg);
			break;
		case 'e':
			if (!parse_num(optarg, 1, 1000000, &x))
				return usage("--dedup-scan needs a number of pages 1..1000000, not '%s'",
					     optarg);
			o->dedup_scan = (uint32_t)x;
			break;
		case 'E':
			if (!parse_num(optarg, 0, 10000, &x))
				return usage("--dedup-sleep needs milliseconds 0..10000, not '%s'",
					     optarg);
			o->dedup_sleep_ms = (uint32_t)x;
			break;
		case 'k':
			o->snapshot = optarg;
			break;
		case 'r':
			o->restore = optarg;
			break;
		case 'f':
			o->prefetch = true;
			break;
		case 'x':
			o->precopy = true;
			break;
		case 'X':
			if (vmem_tracker_mech_parse(optarg, &o->precopy_mech) < 0 ||
			    o->precopy_mech == VMEM_TRACK_AUTO || o->precopy_mech == VMEM_TRACK_KVM_RING)
				return usage("--precopy-mech takes kvm-bitmap, uffd-async or uffd-sync, "
					     "not '%s' (the dirty ring must exist before the vCPUs)",
					     optarg);
			break;
		case 'w':
			if (!parse_num(optarg, 0, 1000000, &x))
				return usage("--precopy-bandwidth needs MiB/s 0..1000000, not '%s'",
					     optarg);
			o->precopy_mibs = (uint32_t)x;
			break;
		case 'z':
			if (!parse_num(optarg, 0, 1ull << 32, &x))
				return usage("--precopy-threshold needs a number of pages, not '%s'",
					     optarg);
			o->precopy_threshold = x;
			break;
		case 'Z':
			if (!parse_num(optarg, 1, 1000, &x))
				return usage("--precopy-rounds needs 1..1000, not '%s'", optarg);
			o->precopy_rounds = (uint32_t)x;
			break;
		case 'l':
			if (!parse_num(optarg, 0, 10000000, &x))
				return usage("--pass-interval needs microseconds 0..10000000, not '%s'",
					     optarg);
			o->pass_interval_us = (uint32_t)x;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			exit(outfile_stdout_close(PROG, 0));
		case 'v':
			printf(PROG " (libvmem) %s\n", vmem_version());
			exit(outfile_stdout_close(PROG, 0));
		default:
			if (optopt)
				return usage("option -%c needs a value or is unknown", optopt);
			return usage("unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Checks the options against each other; 0 or 2 with the message printed. */
static int check_options(struct vmm_options *o)
{
	uint64_t pages = o->memory / 4096, slice = pages / o->vcpus;
	bool huge = o->pages != VMEM_RAM_4K || o->guest_2m;

	if (slice == 0)
		return usage("--memory gives %" PRIu64 " pages, fewer than the %u vCPUs", pages,
			     o->vcpus);
	if (huge && (o->memory % (2 * MIB) || (o->balloon_pages * 4096) % (2 * MIB)))
		return usage("--pages thp/hugetlb and --guest-pages 2m need --memory and the "
			     "balloon pool in whole 2 MiB");
	if (o->window == 0)
		o->window = slice / 4 ? slice / 4 : 1;
	if (o->window > slice)
		return usage("--window %" PRIu64 " is larger than a vCPU's slice of %" PRIu64
			     " pages", o->window, slice);
	if (o->step == 0)
		o->step = o->window / 2 ? o->window / 2 : 1;
	if (o->swap && (o->backing != VMEM_RAM_ANON || o->pages != VMEM_RAM_4K))
		return usage("--swap needs --backing anon and --pages 4k (the pager's regions)");
	if (o->manager && (o->backing != VMEM_RAM_ANON || o->pages != VMEM_RAM_4K))
		return usage("--manager needs --backing anon and --pages 4k (the pager's regions)");
	if (o->manager && (o->swap || o->balloon_pages || o->dirty_log || o->dedup ||
			   o->snapshot || o->restore))
		return usage("--manager runs the data region alone: not with --swap, --balloon, "
			     "--dirty-log, --dedup, --snapshot or --restore");
	if (o->swap && o->balloon_pages)
		return usage("--swap and --balloon together are not supported: both would drop "
			     "the same pages");
	if (o->balloon_pages && o->pages == VMEM_RAM_HUGETLB)
		return usage("--balloon needs 4k or thp host pages: a hugetlb page cannot give "
			     "back 4 KiB");
	if (o->dedup && o->swap)
		return usage("--dedup and --swap together are not supported: the pager owns the "
			     "data region's userfaultfd, which the scanner needs too (and KSM "
			     "cannot merge pages the pager has taken away)");
	if (o->dedup && o->backing != VMEM_RAM_ANON)
		return usage("--dedup needs --backing anon: memfd pages are the file's, shared, "
			     "and neither the scanner nor KSM merges them");
	if (o->dedup == VMM_DEDUP_OWN && o->pages != VMEM_RAM_4K)
		return usage("--dedup own needs --pages 4k (the scanner merges 4 KiB pages)");
	if (o->prefetch && !o->restore)
		return usage("--prefetch needs --restore FILE");
	if ((o->snapshot || o->restore) &&
	    (o->backing != VMEM_RAM_ANON || o->pages != VMEM_RAM_4K || o->swap ||
	     o->balloon_pages || o->dedup || o->dirty_log || o->corrupt_page >= 0))
		return usage("--snapshot and --restore need --backing anon, --pages 4k and none "
			     "of --swap, --balloon, --dedup, --dirty-log, --corrupt-page");
	if (o->snapshot && o->restore)
		return usage("--snapshot and --restore together are not supported");
	if (o->precopy && (o->swap || o->manager || o->balloon_pages || o->dedup ||
			   o->dirty_log || o->snapshot || o->restore))
		return usage("--precopy migrates the data region alone: not with --swap, --manager, "
			     "--balloon, --dedup, --dirty-log, --snapshot or --restore");
	if (o->dirty_log && o->vcpus != 1)
		return usage("--dirty-log needs --vcpus 1 (the log is the VM's, not a vCPU's)");
	if (o->corrupt_page >= 0 && (uint64_t)o->corrupt_page >= slice * o->vcpus)
		return usage("--corrupt-page %" PRId64 " is not a workload page (0..%" PRIu64 ")",
			     o->corrupt_page, slice * o->vcpus - 1);
	return 0;
}

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Guest RAM, page tables, the guest image and the vCPUs' blocks. */
static int setup_memory(struct vmm *m)
{
	struct vmm_options *o = &m->o;
	struct vmem_ram_region_config c;
	uint64_t slice = (o->memory / 4096) / o->vcpus, tables, end;
	char err[256];

	m->work_pages = slice * o->vcpus;
	m->data_pages = m->work_pages + o->balloon_pages;
	m->data_bytes = m->data_pages * 4096;
	/* The system region: fixed layout, then tables, generation tables and pool lists. */
	tables = (vmm_page_tables_pages_for(64 * MIB) + vmm_page_tables_pages_for(m->data_bytes)) *
		 4096;
	end = VMM_TABLES_GPA + tables;
	for (unsigned v = 0; v < o->vcpus; v++) {
		m->vcpus[v].gen_table_gpa = end;
		end += round_up(slice * 4, 4096);
	}
	m->pool_stack_gpa = end;
	end += round_up(o->balloon_pages * 4, 4096);
	m->balloon_pfns_gpa = end;
	end += round_up(o->balloon_pages * 4, 4096);
	m->sys_bytes = round_up(end, 2 * MIB);
	if (m->sys_bytes > 64 * MIB)
		return fail("the guest's tables need %" PRIu64 " MiB, more than 64", m->sys_bytes >> 20);

	if (vmem_guest_ram_create(&m->ram) < 0)
		return fail("out of memory");
	vmem_ram_region_config_default(&c);
	c.gpa = 0;
	c.size = m->sys_bytes;
	c.name = "vmem-vmm-system";
	if (vmem_guest_ram_add(m->ram, &c, NULL, err, sizeof(err)) < 0)
		return fail("system region: %s", err);
	vmem_ram_region_config_default(&c);
	c.gpa = VMM_DATA_GPA;
	c.size = m->data_bytes;
	c.backing = o->backing;
	c.pages = o->pages;
	c.name = "vmem-vmm-data";
	if (vmem_guest_ram_add(m->ram, &c, NULL, err, sizeof(err)) < 0)
		return fail("data region: %s", err);
	m->sys_hva = vmem_guest_ram_gpa_to_hva(m->ram, 0);
	m->data_hva = vmem_guest_ram_gpa_to_hva(m->ram, VMM_DATA_GPA);

	/* Identity page tables: the system region (page 0 left out, to catch NULL) and the
	 * data region. */
	if (vmm_page_tables_init(&m->pt, m->sys_hva + VMM_TABLES_GPA, VMM_TABLES_GPA, tables) < 0 ||
	    vmm_page_tables_map(&m->pt, 4096, 4096, m->sys_bytes - 4096, false) < 0 ||
	    vmm_page_tables_map(&m->pt, VMM_DATA_GPA, VMM_DATA_GPA, m->data_bytes, o->guest_2m) < 0)
		return fail("the guest's page tables do not fit in %" PRIu64 " bytes", tables);

	m->image_bytes = (uint64_t)(vmm_guest_image_end - vmm_guest_image);
	if (m->image_bytes == 0 || m->image_bytes > VMM_IMAGE_MAX)
		return fail("the embedded guest image is %" PRIu64 " bytes, expected 1..%llu",
			    m->image_bytes, VMM_IMAGE_MAX);
	memcpy(m->sys_hva + VMM_IMAGE_GPA, vmm_guest_image, m->image_bytes);

	for (unsigned v = 0; v < o->vcpus; v++) {
		struct vmm_vcpu_block *b = (void *)(m->sys_hva + VMM_PARAM_GPA +
						    v * sizeof(struct vmm_vcpu_block));

		m->vcpus[v].block = b;
		m->vcpus[v].m = m;
		b->data_gva = VMM_DATA_GPA;
		b->first_page = v * slice;
		b->pages = slice;
		b->gen_table_gva = m->vcpus[v].gen_table_gpa;
		b->window = o->window;
		b->step = o->step;
		b->dup_every = o->dup_every;
		if (v == 0 && o->balloon_pages) {
			b->pool_first_page = m->work_pages;
			b->pool_pages = o->balloon_pages;
			b->pool_stack_gva = m->pool_stack_gpa;
			b->balloon_pfns_gva = m->balloon_pfns_gpa;
		}
	}
	if (o->balloon_pages && vmm_balloon_create(m, err, sizeof(err)) < 0)
		return fail("balloon: %s", err);
	return 0;
}

static int setup_vm(struct vmm *m)
{
	char err[256];

	if (vmm_kvm_open(&m->kvm, err, sizeof(err)) < 0)
		return fail("%s", err);
	if (vmem_guest_ram_kvm_register(m->ram, m->kvm.vm_fd, 0, err, sizeof(err)) < 0)
		return fail("%s", err);
	if (m->o.dirty_log && vmm_dirty_log_enable(m, err, sizeof(err)) < 0)
		return fail("%s", err);
	for (unsigned v = 0; v < m->o.vcpus; v++) {
		struct vmm_vcpu_ctx *c = &m->vcpus[v];
		uint64_t stack_top = VMM_STACK_GPA + (v + 1) * VMM_STACK_BYTES;

		if (vmm_vcpu_create(&m->kvm, v, &c->vcpu, err, sizeof(err)) < 0 ||
		    vmm_vcpu_start_long_mode(&c->vcpu, m->pt.pml4, VMM_TSS_GPA, VMM_IMAGE_GPA,
					     stack_top, v,
					     VMM_PARAM_GPA + v * sizeof(struct vmm_vcpu_block),
					     err, sizeof(err)) < 0)
			return fail("%s", err);
	}
	return 0;
}

/* KVM's statistics: the VM's, and every vCPU's summed by name. */
struct kvm_figures {
	struct vmm_kvm_stats vm;
	struct vmm_kvm_stats vcpu[VMM_MAX_VCPUS];
	bool ok;
};

static void read_kvm_stats(struct vmm *m, struct kvm_figures *k)
{
	char err[256];

	memset(k, 0, sizeof(*k));
	k->vm.fd = -1;
	for (unsigned v = 0; v < VMM_MAX_VCPUS; v++)
		k->vcpu[v].fd = -1;
	if (vmm_kvm_stats_open(&k->vm, m->kvm.vm_fd, err, sizeof(err)) < 0 ||
	    vmm_kvm_stats_read(&k->vm, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": VM statistics: %s\n", err);
		return;
	}
	for (unsigned v = 0; v < m->o.vcpus; v++) {
		if (vmm_kvm_stats_open(&k->vcpu[v], m->vcpus[v].vcpu.fd, err, sizeof(err)) < 0 ||
		    vmm_kvm_stats_read(&k->vcpu[v], err, sizeof(err)) < 0) {
			fprintf(stderr, PROG ": vCPU %u statistics: %s\n", v, err);
			return;
		}
	}
	k->ok = true;
}

static uint64_t vcpu_stat_sum(const struct vmm *m, const struct kvm_figures *k, const char *name)
{
	uint64_t sum = 0;

	for (unsigned v = 0; v < m->o.vcpus; v++) {
		const struct vmm_kvm_stat *s = vmm_kvm_stats_find(&k->vcpu[v], name);

		if (s)
			sum += s->value;
	}
	return sum;
}

static double per(uint64_t ns, uint64_t n)
{
	return n ? (double)ns / 1000.0 / (double)n : 0.0;
}

/* Every figure as `key value`, or as JSON members, through one list. */
struct figure {
	const char *key;
	double value;
	bool integer;
};

struct report {
	struct figure f[128];
	unsigned n;
};

static void put(struct report *r, const char *key, double v, bool integer)
{
	if (r->n < sizeof(r->f) / sizeof(r->f[0]))
		r->f[r->n++] = (struct figure){ key, v, integer };
}

static void put_u(struct report *r, const char *key, uint64_t v)
{
	put(r, key, (double)v, true);
}

static void print_figure(FILE *f, const struct figure *x, const char *fmt_int,
			 const char *fmt_real)
{
	if (x->integer)
		fprintf(f, fmt_int, x->key, (uint64_t)x->value);
	else
		fprintf(f, fmt_real, x->key, x->value);
}

static int write_json(const char *path, const struct report *r, const struct vmm *m,
		      const struct kvm_figures *k, const char *result)
{
	struct outfile out;
	char err[512];
	FILE *f;

	if (outfile_begin(&out, path, err, sizeof(err)) < 0)
		return fail("%s", err);
	f = fopen(outfile_path(&out), "w");
	if (!f) {
		outfile_abort(&out);
		return fail("%s: %s", path, strerror(errno));
	}
	fprintf(f, "{\n  \"version\": \"%s\",\n  \"result\": \"%s\",\n", vmem_version(),
		result);
	if (m->o.manager)
		fprintf(f, "  \"manager_policy\": \"%s\",\n", m->manager_policy);
	fprintf(f, "  \"figures\": {\n");
	for (unsigned i = 0; i < r->n; i++)
		print_figure(f, &r->f[i], i + 1 < r->n ? "    \"%s\": %" PRIu64 ",\n" :
			     "    \"%s\": %" PRIu64 "\n", i + 1 < r->n ? "    \"%s\": %.3f,\n" :
			     "    \"%s\": %.3f\n");
	fprintf(f, "  },\n  \"kvm\": {\n    \"vm\": {");
	for (uint32_t i = 0; k->ok && i < k->vm.count; i++)
		fprintf(f, "%s\n      \"%s\": %" PRIu64, i ? "," : "", k->vm.stats[i].name,
			k->vm.stats[i].value);
	fprintf(f, "\n    },\n    \"vcpu\": {");
	for (uint32_t i = 0; k->ok && i < k->vcpu[0].count; i++)
		fprintf(f, "%s\n      \"%s\": %" PRIu64, i ? "," : "", k->vcpu[0].stats[i].name,
			vcpu_stat_sum(m, k, k->vcpu[0].stats[i].name));
	fprintf(f, "\n    }\n  }\n}\n");
	if (fclose(f) != 0) {
		outfile_abort(&out);
		return fail("%s: write error", path);
	}
	if (outfile_commit(&out, err, sizeof(err)) < 0)
		return fail("%s", err);
	return 0;
}

/*
 * The same first touch on the host, for the ratio: `pages` fresh anonymous pages written
 * with the guest's pattern by this thread; microseconds per page (0 if mmap fails).
 */
static double host_first_touch_us(uint64_t pages)
{
	uint64_t bytes = pages * VMM_PAGE_BYTES, t0;
	uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double us;

	if (p == MAP_FAILED)
		return 0;
	madvise(p, bytes, MADV_NOHUGEPAGE);
	t0 = vmm_now_ns();
	for (uint64_t i = 0; i < pages; i++) {
		volatile uint64_t *w = (uint64_t *)(p + i * VMM_PAGE_BYTES);
		uint64_t seed = vmm_page_seed(i, 0, 0);

		for (uint32_t k = 0; k < VMM_PAGE_WORDS; k++)
			w[k] = vmm_pattern_word(seed, k);
	}
	us = per(vmm_now_ns() - t0, pages);
	munmap(p, bytes);
	return us;
}

static void on_kick(int sig)
{
	(void)sig;
}

/*
 * Joins the vCPU threads, or after --timeout seconds stops them: immediate_exit makes a
 * KVM_RUN about to start return EINTR, and a signal interrupts one running
 * (Documentation/virt/kvm/api.rst, "immediate_exit").
 */
static void wait_for_vcpus(struct vmm *m)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += m->o.timeout_s;
	for (unsigned v = 0; v < m->o.vcpus; v++) {
		if (pthread_timedjoin_np(m->vcpus[v].thread, NULL, &deadline) == 0)
			continue;
		atomic_store(&m->timed_out, true);
		for (unsigned u = v; u < m->o.vcpus; u++) {
			m->vcpus[u].vcpu.run->immediate_exit = 1;
			pthread_kill(m->vcpus[u].thread, SIGUSR1);
		}
		for (unsigned u = v; u < m->o.vcpus; u++)
			pthread_join(m->vcpus[u].thread, NULL);
		return;
	}
}

static int run(struct vmm *m)
{
	struct vmm_options *o = &m->o;
	struct kvm_figures k;
	struct vmem_pager_stats ps = { 0 };
	struct report r = { .n = 0 };
	struct vmm_cmd_result fill = { 0 }, vres = { 0 }, vev = { 0 }, vfin = { 0 }, pass = { 0 };
	struct vmem_ram_manager_stats ms = { 0 };
	pthread_t evictor;
	bool evictor_running = false, failed = false;
	uint64_t words_bad = 0, host_bad, host_first = 0, io_exits = 0, evicted_all = 0;
	uint64_t trace_records = 0;
	char err[256];
	int status = 0;

	struct sigaction sa = { .sa_handler = on_kick };

	/* SIGUSR1 only interrupts KVM_RUN (no SA_RESTART); it is sent at --timeout. */
	sigaction(SIGUSR1, &sa, NULL);
	if (o->restore && vmm_snapshot_restore_begin(m, err, sizeof(err)) < 0)
		return fail("%s", err);
	if (o->dedup && vmm_dedup_begin(m, err, sizeof(err)) < 0)
		return fail("%s", err);
	if (o->precopy && vmm_precopy_begin(m, err, sizeof(err)) < 0)
		return fail("%s", err);
	if (o->swap) {
		struct vmem_pager_config pc;

		vmem_pager_config_default(&pc);
		pc.store = o->swap_store;
		pc.handler_cpu = o->swap_handler_cpu;
		if (vmem_pager_create(m->ram, 1, &pc, &m->pager, err, sizeof(err)) < 0)
			return fail("pager: %s", err);
		if (pthread_create(&evictor, NULL, vmm_evictor_thread, m) != 0)
			return fail("cannot start the evictor thread");
		evictor_running = true;
	}
	if (o->manager) {
		if (vmm_manager_create(m, err, sizeof(err)) < 0)
			return fail("%s", err);
		if (pthread_create(&evictor, NULL, vmm_manager_checker_thread, m) != 0) {
			vmm_manager_finish(m, &ms);
			return fail("cannot start the manager's checker thread");
		}
		evictor_running = true;
	}
	for (unsigned v = 0; v < o->vcpus; v++) {
		if (pthread_create(&m->vcpus[v].thread, NULL, vmm_vcpu_thread, &m->vcpus[v]) != 0) {
			/* Threads already started run to their end; the VM goes with them. */
			for (unsigned u = 0; u < v; u++)
				pthread_join(m->vcpus[u].thread, NULL);
			atomic_store(&m->evictor_stop, true);
			if (evictor_running)
				pthread_join(evictor, NULL);
			return fail("cannot start the thread of vCPU %u", v);
		}
	}
	wait_for_vcpus(m);
	vmm_dedup_end(m);
	vmm_precopy_end(m);
	atomic_store(&m->evictor_stop, true);
	if (evictor_running)
		pthread_join(evictor, NULL);
	read_kvm_stats(m, &k);
	if (m->rm) {
		if (vmm_manager_finish(m, &ms) < 0)
			failed = true, fprintf(stderr, PROG ": manager: a page could not be brought "
					       "back\n");
		ps = ms.pager;
		if (m->manager_check_failures) {
			failed = true;
			fprintf(stderr, PROG ": manager: %u of %" PRIu64 " checks failed, the first: "
				"%s\n", atomic_load(&m->manager_check_failures), m->manager_checks,
				m->manager_check_error);
		}
		if (ms.evict_failed || ms.evict_missing)
			failed = true, fprintf(stderr, PROG ": manager: %" PRIu64 " evictions refused, "
					       "%" PRIu64 " of pages not resident\n", ms.evict_failed,
					       ms.evict_missing);
	}
	if (m->pager) {
		vmem_pager_stats(m->pager, &ps);
		if (vmem_pager_destroy(m->pager) < 0)
			failed = true, fprintf(stderr, PROG ": pager: a page could not be brought back\n");
		m->pager = NULL;
	}

	for (unsigned v = 0; v < o->vcpus; v++) {
		struct vmm_vcpu_ctx *c = &m->vcpus[v];

		if (c->failed) {
			fprintf(stderr, PROG ": %s\n", c->error);
			failed = true;
		}
		if (c->words_bad) {
			fprintf(stderr, PROG ": vCPU %u: guest found %" PRIu64 " corrupted words, the "
				"first at gva 0x%" PRIx64 ": 0x%016" PRIx64 ", expected 0x%016" PRIx64
				"\n", v, c->words_bad, c->first_bad_gva, c->first_bad_seen,
				c->first_bad_expected);
		}
		words_bad += c->words_bad;
		io_exits += c->io_exits;
		evicted_all += c->evicted_before_verify;
#define ADD(a, b) (a.ns += b.ns, a.pages_checked += b.pages_checked, \
		   a.pages_written += b.pages_written, a.words_bad += b.words_bad)
		ADD(fill, c->fill);
		ADD(vres, c->verify_resident);
		ADD(vev, c->verify_evicted);
		ADD(vfin, c->verify_final);
		ADD(pass, c->passes);
#undef ADD
	}
	if ((o->snapshot || o->restore) && vmm_snapshot_end(m, !failed && !words_bad, err,
							    sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		failed = true;
	}
	host_bad = failed ? 0 : vmm_model_check(m, &host_first);
	if (host_bad)
		fprintf(stderr, PROG ": host check: %" PRIu64 " words of the data region differ from "
			"the pattern, the first at gpa 0x%" PRIx64 "\n", host_bad, host_first);
	if (o->trace && !failed &&
	    vmm_model_write_trace(m, o->trace, &trace_records, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		status = 1;
	}

	put_u(&r, "vcpus", o->vcpus);
	put_u(&r, "data_pages", m->data_pages);
	put_u(&r, "guest.words_bad", words_bad);
	put_u(&r, "host.words_bad", host_bad);
	put_u(&r, "guest.pages_checked", fill.pages_checked + vres.pages_checked +
	      vev.pages_checked + vfin.pages_checked + pass.pages_checked);
	put_u(&r, "guest.pages_written", fill.pages_written + pass.pages_written);
	put_u(&r, "vmm.io_exits", io_exits);
	put(&r, "us.exit_round_trip", per(m->vcpus[0].ping_ns, m->vcpus[0].pings), false);
	put(&r, "us.first_touch_per_page", per(fill.ns, fill.pages_written), false);
	put(&r, "us.host_first_touch_per_page", host_first_touch_us(m->work_pages < 4096 ?
								     m->work_pages : 4096), false);
	put(&r, "us.check_resident_per_page", per(vres.ns, vres.pages_checked), false);
	if (o->swap) {
		put_u(&r, "swap.evicted_before_check", evicted_all);
		put(&r, "us.check_evicted_per_page", per(vev.ns, vev.pages_checked), false);
		put(&r, "us.uffd_fault", vev.pages_checked ?
		    per(vev.ns, vev.pages_checked) - per(vres.ns, vres.pages_checked) : 0, false);
		put_u(&r, "swap.evictor_rounds", m->evictor_rounds);
		put_u(&r, "swap.evictor_evicted", m->evictor_evicted);
		put_u(&r, "pager.evictions", ps.evictions);
		put_u(&r, "pager.evicted_zero", ps.evicted_zero);
		put_u(&r, "pager.faults", ps.faults);
		put_u(&r, "pager.faults_zero", ps.faults_zero);
		put_u(&r, "pager.wp_faults", ps.wp_faults);
		put_u(&r, "pager.bytes_in", ps.bytes_in);
		put_u(&r, "pager.bytes_compressed", ps.bytes_compressed);
		put_u(&r, "pager.errors", ps.errors + m->evictor_errors);
	}
	if (o->manager) {
		put_u(&r, "manager.budget_pages", m->manager_budget_pages);
		put_u(&r, "manager.max_resident", m->manager_max_resident);
		put_u(&r, "manager.checks", m->manager_checks);
		put_u(&r, "manager.check_failures", atomic_load(&m->manager_check_failures));
		put_u(&r, "manager.faults", ms.vm.faults);
		put_u(&r, "manager.faults_first", ms.vm.faults_first);
		put_u(&r, "manager.swap_ins", ms.vm.faults_swapin + ms.vm.faults_decompress);
		put_u(&r, "manager.swap_outs", ms.vm.reclaimed);
		put_u(&r, "manager.reclaim_direct", ms.host.reclaim_direct);
		put_u(&r, "manager.reclaim_daemon", ms.host.reclaim_daemon);
		put_u(&r, "manager.writes_seen", ms.writes_seen);
		put_u(&r, "manager.scans", ms.scans);
		put_u(&r, "manager.evict_failed", ms.evict_failed);
		put_u(&r, "manager.dedup_hashed", ms.dedup_hashed);
		put_u(&r, "manager.dedup_merges", ms.dedup_merges);
		put_u(&r, "manager.dedup_merges_refused", ms.dedup_merges_refused);
		put_u(&r, "manager.dedup_cow_breaks", ms.dedup_cow_breaks);
		put_u(&r, "manager.dedup_errors", ms.dedup_errors);
		put_u(&r, "manager.shared_pages", ms.vm.state[VMEM_PG_SHARED]);
		put_u(&r, "manager.shared_frames", ms.host.frames_shared);
		put_u(&r, "pager.merged_now", ms.pager.merged_now);
		put_u(&r, "pager.store_pages", ms.pager.store_pages);
		put(&r, "manager.metadata_bytes_per_page", ms.metadata_per_page, false);
		put(&r, "us.manager_fault", per(ms.fault_ns, ms.faults), false);
		put_u(&r, "pager.evictions", ps.evictions);
		put_u(&r, "pager.faults", ps.faults);
		put_u(&r, "pager.wp_faults", ps.wp_faults);
		put_u(&r, "pager.bytes_in", ps.bytes_in);
		put_u(&r, "pager.bytes_compressed", ps.bytes_compressed);
		put_u(&r, "pager.errors", ps.errors);
	}
	put(&r, "us.pass_per_page", per(pass.ns, pass.pages_checked), false);
	if (o->balloon_pages) {
		struct vmem_ram_balloon_stats bs;
		struct vmem_ram_balloon_guest_stats gs;

		vmem_ram_balloon_stats(m->balloon.rb, &bs);
		vmem_ram_balloon_guest_stats(m->balloon.rb, &gs);
		put_u(&r, "balloon.pool_pages", o->balloon_pages);
		put_u(&r, "balloon.requests", bs.requests);
		put_u(&r, "balloon.rejected", bs.rejected);
		put_u(&r, "balloon.inflated", bs.pages_inflated);
		put_u(&r, "balloon.deflated", bs.pages_deflated);
		put_u(&r, "balloon.actual", bs.actual_pages);
		put_u(&r, "balloon.reported_free_pages", bs.pages_reported);
		put_u(&r, "balloon.bytes_given_back", bs.bytes_given_back);
		put_u(&r, "balloon.resident_before_inflate", m->balloon.rss_before_inflate);
		put_u(&r, "balloon.resident_inflated", m->balloon.rss_inflated);
		put_u(&r, "balloon.stats_reports", gs.reports);
		put_u(&r, "balloon.stats_tags", (uint64_t)__builtin_popcount(gs.present));
		put_u(&r, "balloon.stats.memtot", gs.value[VMEM_BCH_S_MEMTOT]);
		put_u(&r, "balloon.stats.memfree", gs.value[VMEM_BCH_S_MEMFREE]);
		put_u(&r, "balloon.stats.avail", gs.value[VMEM_BCH_S_AVAIL]);
		if (bs.rejected) {
			char why[256];

			vmem_ram_balloon_error(m->balloon.rb, why, sizeof(why));
			fprintf(stderr, PROG ": balloon: %" PRIu64 " requests rejected, the last: %s\n",
				bs.rejected, why);
		}
	}
	if (o->trace)
		put_u(&r, "trace.records", trace_records);
	if (o->dirty_log) {
		put_u(&r, "dirty.logged_pages", m->vcpus[0].dirty_logged);
		put_u(&r, "dirty.expected_pages", m->vcpus[0].dirty_expected);
		put_u(&r, "dirty.pager_refaults", m->vcpus[0].dirty_refaults);
		put_u(&r, "dirty.mismatched_commands", m->vcpus[0].dirty_mismatches);
	}
	if (k.ok) {
		static const char *const vm_keys[] = { "pages_4k", "pages_2m", "pages_1g",
			"mmu_shadow_zapped", "mmu_pte_write", "mmu_pde_zapped", "mmu_flooded",
			"mmu_recycled", "mmu_cache_miss", "mmu_unsync", "remote_tlb_flush",
			"nx_lpage_splits", "max_mmu_page_hash_collisions" };
		static const char *const vcpu_keys[] = { "exits", "pf_fixed", "pf_guest",
			"pf_taken", "pf_spurious", "pf_emulate", "pf_fast", "tlb_flush",
			"invlpg", "io_exits", "insn_emulation", "insn_emulation_fail",
			"halt_exits", "irq_exits", "signal_exits", "hypercalls",
			"host_state_reload", "nmi_window_exits", "request_irq_exits" };
		static char names[64][48];
		unsigned used = 0;

		for (size_t i = 0; i < sizeof(vm_keys) / sizeof(vm_keys[0]); i++) {
			const struct vmm_kvm_stat *s = vmm_kvm_stats_find(&k.vm, vm_keys[i]);

			if (s && used < 64) {
				snprintf(names[used], sizeof(names[used]), "kvm.vm.%s", vm_keys[i]);
				put_u(&r, names[used++], s->value);
			}
		}
		for (size_t i = 0; i < sizeof(vcpu_keys) / sizeof(vcpu_keys[0]); i++) {
			if (!vmm_kvm_stats_find(&k.vcpu[0], vcpu_keys[i]) || used >= 64)
				continue;
			snprintf(names[used], sizeof(names[used]), "kvm.vcpu.%s", vcpu_keys[i]);
			put_u(&r, names[used++], vcpu_stat_sum(m, &k, vcpu_keys[i]));
		}
	}

	const char *result = failed ? "FAIL" : (words_bad || host_bad) ? "CORRUPT" : "PASS";

	for (unsigned i = 0; i < r.n; i++)
		print_figure(stdout, &r.f[i], "%s %" PRIu64 "\n", "%s %.3f\n");
	if (o->manager)
		printf("manager.policy %s\n", m->manager_policy);
	vmm_snapshot_print(m, stdout);
	if (vmm_dedup_print(m, stdout) < 0)
		status = 1;
	if (vmm_precopy_print(m, stdout) < 0)
		status = 1;
	printf("result %s\n", result);
	if (!k.ok)
		status = 1;
	if (o->json && write_json(o->json, &r, m, &k, result) != 0)
		status = 1;
	vmm_kvm_stats_close(&k.vm);
	for (unsigned v = 0; v < o->vcpus; v++)
		vmm_kvm_stats_close(&k.vcpu[v]);
	if (failed || words_bad || host_bad)
		status = 1;
	return status;
}

int main(int argc, char **argv)
{
	struct vmm m;
	bool probe = false;
	char err[256];
	int rc;

	memset(&m, 0, sizeof(m));
	m.kvm.kvm_fd = m.kvm.vm_fd = -1;
	m.o.memory = 16 * MIB;
	m.o.vcpus = 1;
	m.o.passes = 8;
	m.o.pings = 2000;
	m.o.swap_batch = 64;
	m.o.swap_interval_us = 2000;
	m.o.corrupt_page = -1;
	m.o.timeout_s = 120;
	m.o.swap_handler_cpu = -1;
	m.o.dedup_scan = 1024;
	m.o.dedup_sleep_ms = 5;
	m.o.precopy_mech = VMEM_TRACK_KVM_BITMAP;
	m.o.precopy_mibs = 256;
	m.o.precopy_threshold = 64;
	m.o.precopy_rounds = 30;
	rc = parse_options(argc, argv, &m.o, &probe);
	if (rc)
		return rc;
	if (m.o.restore && vmm_snapshot_load_options(&m.o, err, sizeof(err)) < 0)
		return usage("--restore: %s", err);
	if (!probe && (rc = check_options(&m.o)) != 0)
		return rc;
	/* One clear line and exit 2 where this machine cannot run the guest at all. */
	if (vmm_kvm_probe(err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": no usable /dev/kvm: %s (running under QEMU's emulated SVM "
			"instead: make check-kvm, docs/KVM-QEMU.md)\n", err);
		return 2;
	}
	if (probe) {
		printf("kvm: usable (a 64-bit CPL3 guest's port I/O reaches the VMM)\n");
		return outfile_stdout_close(PROG, 0);
	}
	pthread_mutex_init(&m.console_lock, NULL);
	pthread_mutex_init(&m.pause_lock, NULL);
	pthread_cond_init(&m.pause_cond, NULL);
	rc = setup_memory(&m);
	if (rc == 0)
		rc = setup_vm(&m);
	if (rc == 0)
		rc = run(&m);
	for (unsigned v = 0; v < m.o.vcpus; v++)
		if (m.vcpus[v].vcpu.run)
			vmm_vcpu_close(&m.vcpus[v].vcpu);
	vmm_dedup_destroy(&m);
	vmm_precopy_destroy(&m);
	vmm_snapshot_destroy(&m);
	vmm_kvm_close(&m.kvm);
	vmem_guest_ram_destroy(m.ram);
	vmm_balloon_destroy(&m);
	free(m.dirty_bitmap);
	pthread_mutex_destroy(&m.console_lock);
	pthread_mutex_destroy(&m.pause_lock);
	pthread_cond_destroy(&m.pause_cond);
	return outfile_stdout_close(PROG, rc);
}
