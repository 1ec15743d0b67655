/*
 * vmem-capture: snapshots the pages of running processes as .vmt CONTENT records.
 *
 *   vmem-capture [-o OUT] [--vm N] [--asid N] [--max-pages N] [--all] [--zstd]
 *                [--level N] [-q] PID [PID...]
 *
 * For each PID, one VMEM_REC_CONTENT record per 4 KiB page the process has touched
 * (resident or swapped out): its XXH3-64 content hash, whether it is all zeros, and its
 * LZ4 compressibility class (see include/vmem/capture.h). The k-th PID's records carry
 * VM id N+k (--vm N, default 0) and address-space id --asid, so several processes in one
 * snapshot look like several VMs, which is what cross-VM deduplication experiments need.
 * --max-pages bounds the pages of each process.
 *
 * OUT defaults to standard output (refused when that is a terminal); a name ending in
 * .zst, or --zstd, compresses the record stream. The file appears only when the whole
 * capture succeeded. A summary per process goes to standard error unless -q.
 *
 * Exit status: 0 on success, 1 when a process cannot be read or the output written, 2 on
 * bad usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmem/capture.h"
#include "vmem/common.h"
#include "vmem/trace.h"

#include "base/parse.h"
#include "trace/trace_outfile.h"

static const char *const usage_text =
	"usage: vmem-capture [-o OUT] [--vm N] [--asid N] [--max-pages N] [--all] [--zstd]\n"
	"                    [--level N] [-q] PID [PID...]\n"
	"       vmem-capture --help | --version\n";

static const char *const help_text =
	"\n"
	"Snapshots the memory of running processes as a .vmt trace of CONTENT records: for\n"
	"each 4 KiB page a process has touched (resident or swapped out), its XXH3-64 content\n"
	"hash, whether it is all zeros, and its LZ4 compressibility class 0..15 (class c: at\n"
	"most (c+1)*256 bytes compressed). Pages come from /proc/PID/maps, /proc/PID/pagemap\n"
	"and /proc/PID/mem; [vvar] and [vsyscall] and pages the kernel cannot read are\n"
	"skipped. Reading a process needs ptrace access to it: root, or the same user where\n"
	"kernel.yama.ptrace_scope is 0.\n"
	"\n"
	"Options:\n"
	"  -o, --output OUT   write to OUT (default standard output, not a terminal);\n"
	"                     OUT ending in .zst compresses the record stream\n"
	"  --vm N             VM id of the first PID's records; the k-th PID gets N+k\n"
	"                     (default 0)\n"
	"  --asid N           address-space id of all records (default 0)\n"
	"  --max-pages N      at most N pages of each process (default 262144, 1 GiB;\n"
	"                     0: no limit)\n"
	"  --all              also pages never touched (read as zeros or file data)\n"
	"  --zstd             compress the record stream (default when OUT ends in .zst)\n"
	"  --level N          zstd level 1..19 (default 3)\n"
	"  -q, --quiet        no summary on standard error\n"
	"\n"
	"Then `vmem-trace info OUT` shows pages, zero pages, distinct hashes and pages\n"
	"shared within and across the processes; `vmem-trace cat OUT` lists them.\n"
	"\n"
	"Examples:\n"
	"  vmem-capture -o self.vmt.zst $$                # the shell it runs from\n"
	"  vmem-capture --vm 1 --max-pages 1000 -o two.vmt $$ $PPID   # as vm 1 and vm 2\n";

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "vmem-capture: %s (vmem-capture --help shows the usage)\n", msg);
	else
		fputs(usage_text, stderr);
	return 2;
}

/* A number (decimal, or hex after 0x) no larger than maxv. */
static bool parse_u64(const char *s, uint64_t maxv, uint64_t *out)
{
	uint64_t v;

	if (!s || !vmem_parse_u64(s, &v) || v > maxv)
		return false;
	*out = v;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The process's command name, from /proc/PID/comm, or "?". */
static void comm(int pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	snprintf(buf, len, "?");
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "vm", required_argument, NULL, 'V' },
		{ "asid", required_argument, NULL, 'A' },
		{ "max-pages", required_argument, NULL, 'M' },
		{ "all", no_argument, NULL, 'a' },
		{ "zstd", no_argument, NULL, 'z' },
		{ "level", required_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ 0, 0, 0, 0 },
	};
	struct vmem_capture_opts co;
	struct vmem_trace_writer_opts wo;
	struct vmem_trace_writer *w = NULL;
	struct outfile out;
	const char *target = "-", *name;
	bool quiet = false;
	uint64_t x, vm0 = 0;
	int *pids, npids = 0, opt, status = 0, rc;
	char err[512];

	vmem_capture_opts_default(&co);
	vmem_trace_writer_opts_default(&wo);
	if (argc < 2)
		return usage(NULL);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			target = optarg;
			break;
		case 'V':
			if (!parse_u64(optarg, UINT16_MAX, &x))
				return usage("--vm needs a number 0..65535");
			vm0 = x;
			break;
		case 'A':
			if (!parse_u64(optarg, UINT32_MAX, &x))
				return usage("--asid needs a number 0..4294967295");
			co.asid = (uint32_t)x;
			break;
		case 'M':
			if (!parse_u64(optarg, UINT64_MAX, &x))
				return usage("--max-pages needs a number (0: no limit)");
			co.max_pages = x;
			break;
		case 'a':
			co.all_pages = true;
			break;
		case 'z':
			wo.zstd = true;
			break;
		case 'L':
			if (!parse_u64(optarg, 19, &x) || x < 1)
				return usage("--level needs a number 1..19");
			wo.zstd_level = (int)x;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return outfile_stdout_close("vmem-capture", 0);
		case 'v':
			printf("vmem-capture (libvmem) %s\n", vmem_version());
			return outfile_stdout_close("vmem-capture", 0);
		default:
			if (optopt) {
				snprintf(err, sizeof(err), "option -%c needs a value or is unknown",
					 optopt);
			} else {
				snprintf(err, sizeof(err), "unknown option or missing value: %s",
					 argv[optind - 1]);
			}
			return usage(err);
		}
	}
	if (optind >= argc)
		return usage("a process id (PID) is needed");
	if ((uint64_t)(argc - optind) - 1 > UINT16_MAX - vm0)
		return usage("too many processes for the VM ids from --vm");
	pids = calloc((size_t)(argc - optind), sizeof(*pids));
	if (!pids)
		return 1;
	for (int i = optind; i < argc; i++) {
		if (!parse_u64(argv[i], INT32_MAX, &x) || x == 0) {
			snprintf(err, sizeof(err), "%s is not a process id (a number 1..2147483647)",
				 argv[i]);
			free(pids);
			return usage(err);
		}
		pids[npids++] = (int)x;
	}
	if (ends_with(target, ".gz") || ends_with(target, ".xz")) {
		fprintf(stderr, "vmem-capture: %s: gzip and xz output are not written; name the "
			"output *.vmt.zst for zstd, or without a compression suffix\n", target);
		free(pids);
		return 2;
	}
	if (ends_with(target, ".zst"))
		wo.zstd = true;
	if (strcmp(target, "-") == 0 && isatty(STDOUT_FILENO)) {
		free(pids);
		return usage("standard output is a terminal; name the output with -o FILE");
	}
	name = strcmp(target, "-") == 0 ? "<stdout>" : target;
	if (outfile_begin(&out, target, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmem-capture: %s\n", err);
		free(pids);
		return 1;
	}
	wo.name = name;
	rc = vmem_trace_writer_open(outfile_path(&out), &wo, &w);
	if (rc < 0) {
		fprintf(stderr, "vmem-capture: %s\n", w ? vmem_trace_writer_error(w) :
			vmem_strerror(rc));
		status = 1;
	}
	for (int i = 0; i < npids && !status; i++) {
		struct vmem_capture_stats st;
		char cname[64];

		co.vm = (uint16_t)(vm0 + (uint64_t)i);
		comm(pids[i], cname, sizeof(cname));
		rc = vmem_capture_process(pids[i], &co, w, &st, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "vmem-capture: %s\n", err);
			status = 1;
			break;
		}
		if (st.pages == 0) {
			fprintf(stderr, "vmem-capture: process %d (%s): no readable pages\n",
				pids[i], cname);
			status = 1;
			break;
		}
		if (!quiet) {
			fprintf(stderr, "vmem-capture: process %d (%s) as vm %u: %" PRIu64
				" pages (%" PRIu64 " zero), %" PRIu64 " untouched and %" PRIu64
				" unreadable skipped%s\n", pids[i], cname, co.vm, st.pages,
				st.pages_zero, st.pages_absent, st.pages_unreadable,
				st.truncated ? ", stopped at --max-pages" : "");
		}
	}
	if (w) {
		rc = vmem_trace_writer_close(w);
		if (rc < 0 && !status) {
			fprintf(stderr, "vmem-capture: %s: write error: %s\n", name,
				vmem_strerror(rc));
			status = 1;
		}
	}
	if (status) {
		outfile_abort(&out);
	} else if (outfile_commit(&out, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmem-capture: %s\n", err);
		status = 1;
	}
	free(pids);
	return outfile_stdout_close("vmem-capture", status);
}
