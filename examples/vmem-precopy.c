/*
 * vmem-precopy: live migration's pre-copy phase over the tracker (vmem/tracker.h), on real
 * memory.
 *
 * A source region of guest RAM is written by writer threads standing in for vCPUs, at a given
 * rate (pages per second), uniformly over a working set or mostly into a hot set. The sender
 * copies every page to the destination, then, round after round, the pages the tracker reports
 * written during the previous round, until a round finds no more dirty pages than a threshold
 * or the round limit is reached. Then the writers stop (the VM is paused) and the last dirty
 * pages are copied: the stop-and-copy, whose time is the downtime. At the end the destination
 * must equal the source byte for byte.
 *
 * Pages travel through a pipe to a receiver thread (or are copied directly with
 * --transport copy), optionally at a limited bandwidth, so that rounds take the time they
 * would on a network.
 *
 * The analytical expectation printed beside each round: writes at r pages/s, uniform over W
 * pages, touch W (1 - exp(-r T / W)) distinct pages in T seconds (at most W, about r T while
 * r T << W); a hot set H taking a share h of the writes adds its own term. With a bandwidth of
 * B pages/s a round of D pages takes T = D / B, so the dirty set shrinks by about r / B per
 * round: it converges when r < B.
 *
 * Only the library's public API is used: it is an example of the tracker.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmem/common.h"
#include "vmem/guest_ram.h"
#include "vmem/tracker.h"

#define PROG "vmem-precopy"
#define PAGE 4096u
#define MAX_PAGES (1u << 20)         /* 4 GiB of source (and as much of destination) */

static const char *const usage_text =
	"usage: vmem-precopy [--pages N] [--rate N] [--writers N] [--working-set N]\n"
	"                    [--hot-set N] [--hot-share PCT] [--bandwidth MIBS]\n"
	"                    [--threshold N] [--max-rounds N] [--transport pipe|copy]\n"
	"                    [--mech auto|uffd-async|uffd-sync] [--csv FILE] [--seed N] [-q]\n"
	"       vmem-precopy --help | --version\n";

static const char *const help_text =
	"\n"
	"Live migration's pre-copy over libvmem's dirty-page tracker, on real memory: writer\n"
	"threads dirty a source region of guest RAM at a known rate while a sender copies all\n"
	"pages, then the pages dirtied during each round, until a round finds at most\n"
	"--threshold dirty pages or --max-rounds is reached; then the writers stop and the rest\n"
	"is copied (stop-and-copy: the downtime). The destination is then compared with the\n"
	"source byte for byte.\n"
	"\n"
	"  --pages N          pages of 4 KiB in the source region (default 16384: 64 MiB)\n"
	"  --rate N           pages written per second, all writers together (default 5000)\n"
	"  --writers N        writer threads (default 2)\n"
	"  --working-set N    writes fall on the first N pages (default: all)\n"
	"  --hot-set N        of which the first N take --hot-share of the writes (default 0)\n"
	"  --hot-share PCT    percent of the writes that go to the hot set (default 90)\n"
	"  --bandwidth MIBS   MiB/s the sender may send, 0 unlimited (default 256)\n"
	"  --threshold N      stop-and-copy once a round finds at most N dirty pages (default 64)\n"
	"  --max-rounds N     or after N rounds, the full copy counted (default 30)\n"
	"  --transport T      pipe: through a pipe to a receiver thread (default); copy: memcpy\n"
	"  --mech M           the tracker's mechanism (default auto: the best offered)\n"
	"  --csv FILE         one line per round: round,pages_sent,dirty_found,round_s,\n"
	"                     expected_dirty,phase\n"
	"  --seed N           seed of the writers' choices (default 1)\n"
	"  -q, --quiet        only the summary line\n"
	"\n"
	"Output: the tracker's mechanism (and why not the others), one line per round, then a\n"
	"summary: 'converged' or 'round limit', rounds, pages sent, stop-and-copy pages,\n"
	"downtime, and 'destination == source'. Exit status 0 when the copy is exact, 1 when it\n"
	"is not or the kernel refuses a step, 2 for a bad command line.\n"
	"\n"
	"Examples:\n"
	"  vmem-precopy --pages 4096 --rate 2000               # converges in a few rounds\n"
	"  vmem-precopy --pages 1024 --rate 20000 --bandwidth 8 --max-rounds 3   # does not\n"
	"  vmem-precopy --pages 4096 --working-set 4096 --hot-set 256 --rate 20000 --csv r.csv\n"
	"  vmem-precopy --pages 1024 --mech uffd-sync --transport copy -q\n";

struct options {
	uint64_t pages, rate, writers, working_set, hot_set, hot_share, bandwidth_mib;
	uint64_t threshold, max_rounds, seed;
	bool pipe, quiet;
	enum vmem_track_mech mech;
	const char *csv;
};

/* Standard output written in full, or the status 1 with a message (a full disk, a closed pipe). */
static int stdout_status(int status)
{
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, PROG ": <stdout>: write error: %s\n", strerror(errno));
		return 1;
	}
	return status;
}

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, PROG ": %s (" PROG " --help shows the usage)\n", msg);
	else
		fputs(usage_text, stderr);
	return 2;
}

/* A decimal number in lo..hi. */
static bool number(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- writers ---- */

struct source {
	const struct options *o;
	uint8_t *mem;
	atomic_bool stop;
	_Atomic uint64_t writes;
};

struct writer {
	struct source *src;
	unsigned id;
	pthread_t th;
};

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Writes at rate / writers pages per second, in batches every millisecond. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	const struct options *o = w->src->o;
	double rate = (double)o->rate / (double)o->writers, start = now();
	uint64_t x = (o->seed + 1) * 0x9e3779b97f4a7c15ull + w->id * 0xbf58476d1ce4e5b9ull;
	uint64_t done = 0, cold = o->working_set - o->hot_set;

	while (!atomic_load(&w->src->stop)) {
		uint64_t due = (uint64_t)((now() - start) * rate);
		for (; done < due && !atomic_load_explicit(&w->src->stop, memory_order_relaxed);
		     done++) {
			uint64_t r = next_rand(&x), page;
			if (o->hot_set && (cold == 0 || r % 100 < o->hot_share))
				page = (r >> 8) % o->hot_set;
			else
				page = o->hot_set + (r >> 8) % cold;
			/* One word per write, at a place that moves: the page differs each time. */
			uint64_t *word = (uint64_t *)(w->src->mem + page * PAGE) + (r >> 40) % 512;
			*(volatile uint64_t *)word = r;
		}
		sleep_s(0.001);
	}
	atomic_fetch_add(&w->src->writes, done);
	return NULL;
}

/* ---- transport ---- */

struct link {
	bool pipe;
	int fd[2];
	uint8_t *dst;
	uint64_t pages;
	pthread_t receiver;
	double bytes_per_s;          /* 0: unlimited */
	double t0;                   /* the bandwidth clock */
	uint64_t sent_bytes;
	int recv_error;              /* 0, or what went wrong (receiver's) */
};

static bool read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* The receiver: (page index, 4096 bytes) records until the index UINT64_MAX. */
static void *receiver_main(void *arg)
{
	struct link *l = arg;
	uint64_t page;

	for (;;) {
		if (!read_full(l->fd[0], &page, sizeof(page))) {
			l->recv_error = 1;
			return NULL;
		}
		if (page == UINT64_MAX)
			return NULL;
		if (page >= l->pages || !read_full(l->fd[0], l->dst + page * PAGE, PAGE)) {
			l->recv_error = 1;
			return NULL;
		}
	}
}

static bool send_page(struct link *l, const uint8_t *src, uint64_t page)
{
	if (l->pipe) {
		uint8_t rec[sizeof(uint64_t) + PAGE];
		memcpy(rec, &page, sizeof(page));
		memcpy(rec + sizeof(page), src + page * PAGE, PAGE);
		if (!write_full(l->fd[1], rec, sizeof(rec)))
			return false;
	} else {
		memcpy(l->dst + page * PAGE, src + page * PAGE, PAGE);
	}
	l->sent_bytes += PAGE;
	/* The bandwidth limit: never ahead of sent_bytes / bytes_per_s. */
	if (l->bytes_per_s > 0)
		sleep_s(l->t0 + (double)l->sent_bytes / l->bytes_per_s - now());
	return true;
}

/* ---- the migration ---- */

static double expected_dirty(const struct options *o, double secs)
{
	double r = (double)o->rate * secs, h = (double)o->hot_set;
	double cold = (double)(o->working_set - o->hot_set), share = (double)o->hot_share / 100;

	if (o->hot_set == 0)
		return cold * (1 - exp(-r / cold));
	if (cold == 0)
		return h * (1 - exp(-r / h));
	return h * (1 - exp(-r * share / h)) + cold * (1 - exp(-r * (1 - share) / cold));
}

static uint64_t send_set(struct link *l, const uint8_t *src, const uint64_t *bm, uint64_t pages,
			 bool *ok)
{
	uint64_t n = 0;
	for (uint64_t w = 0; w < (pages + 63) / 64 && *ok; w++)
		for (uint64_t b = bm[w]; b && *ok; b &= b - 1) {
			*ok = send_page(l, src, w * 64 + (uint64_t)__builtin_ctzll(b));
			n++;
		}
	return n;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "pages", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },
		{ "writers", required_argument, NULL, 'w' },
		{ "working-set", required_argument, NULL, 'W' },
		{ "hot-set", required_argument, NULL, 'H' },
		{ "hot-share", required_argument, NULL, 'S' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "threshold", required_argument, NULL, 't' },
		{ "max-rounds", required_argument, NULL, 'R' },
		{ "transport", required_argument, NULL, 'T' },
		{ "mech", required_argument, NULL, 'm' },
		{ "csv", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ 0, 0, 0, 0 },
	};
	int c;

	*o = (struct options){
		.pages = 16384, .rate = 5000, .writers = 2, .hot_share = 90, .bandwidth_mib = 256,
		.threshold = 64, .max_rounds = 30, .seed = 1, .pipe = true,
		.mech = VMEM_TRACK_AUTO,
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":q", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!number(optarg, 1, MAX_PAGES, &o->pages))
				return usage("--pages needs a number of pages 1..1048576");
			break;
		case 'r':
			if (!number(optarg, 0, 100000000, &o->rate))
				return usage("--rate needs pages per second 0..100000000");
			break;
		case 'w':
			if (!number(optarg, 1, 64, &o->writers))
				return usage("--writers needs a number 1..64");
			break;
		case 'W':
			if (!number(optarg, 1, MAX_PAGES, &o->working_set))
				return usage("--working-set needs a number of pages 1..1048576");
			break;
		case 'H':
			if (!number(optarg, 0, MAX_PAGES, &o->hot_set))
				return usage("--hot-set needs a number of pages 0..1048576");
			break;
		case 'S':
			if (!number(optarg, 0, 100, &o->hot_share))
				return usage("--hot-share needs a percentage 0..100");
			break;
		case 'b':
			if (!number(optarg, 0, 1000000, &o->bandwidth_mib))
				return usage("--bandwidth needs MiB/s 0..1000000 (0: unlimited)");
			break;
		case 't':
			if (!number(optarg, 0, MAX_PAGES, &o->threshold))
				return usage("--threshold needs a number of pages 0..1048576");
			break;
		case 'R':
			if (!number(optarg, 1, 10000, &o->max_rounds))
				return usage("--max-rounds needs a number 1..10000");
			break;
		case 'T':
			if (strcmp(optarg, "pipe") && strcmp(optarg, "copy"))
				return usage("--transport needs pipe or copy");
			o->pipe = strcmp(optarg, "pipe") == 0;
			break;
		case 'm':
			if (vmem_tracker_mech_parse(optarg, &o->mech))
				return usage("--mech needs auto, kvm-ring, kvm-bitmap, uffd-async or "
					     "uffd-sync");
			break;
		case 'c':
			o->csv = optarg;
			break;
		case 's':
			if (!number(optarg, 0, UINT32_MAX, &o->seed))
				return usage("--seed needs a number 0..4294967295");
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			exit(stdout_status(0));
		case 'v':
			printf(PROG " (libvmem) %s\n", vmem_version());
			exit(stdout_status(0));
		case ':': {
			char msg[80];
			snprintf(msg, sizeof(msg), "%s needs a value", argv[optind - 1]);
			return usage(msg);
		}
		default: {
			char msg[80];
			snprintf(msg, sizeof(msg), "unknown option %s", argv[optind - 1]);
			return usage(msg);
		}
		}
	}
	if (optind < argc) {
		char msg[80];
		snprintf(msg, sizeof(msg), "unexpected argument '%.40s'", argv[optind]);
		return usage(msg);
	}
	if (o->working_set == 0)
		o->working_set = o->pages;
	if (o->working_set > o->pages)
		return usage("--working-set cannot exceed --pages");
	if (o->hot_set > o->working_set)
		return usage("--hot-set cannot exceed the working set");
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;

	FILE *csv = NULL;
	if (o.csv && !(csv = fopen(o.csv, "w"))) {
		fprintf(stderr, PROG ": %s: cannot write: %s\n", o.csv, strerror(errno));
		return 1;
	}

	/* Source and destination: two regions of guest RAM, 4 KiB pages, prefaulted. */
	struct vmem_guest_ram *ram;
	struct vmem_ram_region_config rc_cfg;
	struct vmem_ram_region src_r, dst_r;
	char err[320];
	vmem_guest_ram_create(&ram);
	vmem_ram_region_config_default(&rc_cfg);
	rc_cfg.size = o.pages * PAGE;
	rc_cfg.prealloc = true;
	unsigned si, di;
	if (vmem_guest_ram_add(ram, &rc_cfg, &si, err, sizeof(err)) ||
	    (rc_cfg.gpa = 1ull << 40, vmem_guest_ram_add(ram, &rc_cfg, &di, err, sizeof(err)))) {
		fprintf(stderr, PROG ": %s\n", err);
		vmem_guest_ram_destroy(ram);
		return 1;
	}
	vmem_guest_ram_region(ram, si, &src_r);
	vmem_guest_ram_region(ram, di, &dst_r);
	uint8_t *src = src_r.hva;
	for (uint64_t p = 0; p < o.pages; p++)         /* a known start: each page names itself */
		memcpy(src + p * PAGE, &p, sizeof(p));

	struct vmem_tracker_config tc;
	struct vmem_tracker *t;
	vmem_tracker_config_default(&tc);
	tc.hva = src;
	tc.size = o.pages * PAGE;
	tc.mech = o.mech;
	if (vmem_tracker_create(&tc, &t, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		vmem_guest_ram_destroy(ram);
		return 1;
	}
	struct vmem_tracker_report rep;
	vmem_tracker_report(t, &rep);
	if (!o.quiet) {
		printf("tracker: %s\n", vmem_tracker_mech_name(rep.used));
		for (unsigned m = 1; m < VMEM_TRACK_MECHS; m++)
			if (m != (unsigned)rep.used)
				printf("  not %s: %s\n", vmem_tracker_mech_name(m), rep.why_not[m]);
		printf("  page idle tracking: %s\n", rep.page_idle ? "present (not used)" :
		       "absent (/sys/kernel/mm/page_idle/bitmap)");
	}

	struct link l = {
		.pipe = o.pipe, .fd = { -1, -1 }, .dst = dst_r.hva, .pages = o.pages,
		.bytes_per_s = (double)o.bandwidth_mib * 1048576.0,
	};
	if (l.pipe && (pipe(l.fd) || pthread_create(&l.receiver, NULL, receiver_main, &l))) {
		fprintf(stderr, PROG ": pipe or receiver thread: %s\n", strerror(errno));
		return 1;
	}

	struct source s = { .o = &o, .mem = src };
	struct writer *w = calloc(o.writers, sizeof(*w));
	for (unsigned i = 0; i < o.writers; i++) {
		w[i] = (struct writer){ .src = &s, .id = i };
		if (o.rate && pthread_create(&w[i].th, NULL, writer_main, &w[i])) {
			fprintf(stderr, PROG ": writer thread: %s\n", strerror(errno));
			return 1;
		}
	}

	uint64_t words = (o.pages + 63) / 64;
	uint64_t *dirty = calloc(words, 8), *last = calloc(words, 8);
	uint64_t total_sent = 0, rounds = 0, ndirty = 0, stop_pages = 0;
	bool ok = true, converged = false;
	double collect_s = 0;
	if (csv)
		fprintf(csv, "round,pages_sent,dirty_found,round_s,expected_dirty,phase\n");

	/* Round 1 sends everything; each later round sends what the previous one dirtied. */
	l.t0 = now();
	l.sent_bytes = 0;
	double t_start = now(), t_round = t_start;
	uint64_t sent = 0;
	for (uint64_t p = 0; p < o.pages && ok; p++, sent++)
		ok = send_page(&l, src, p);
	for (;;) {
		double t_end = now(), secs = t_end - t_round;
		double c0 = now();
		if (vmem_tracker_collect(t, dirty, &ndirty)) {
			fprintf(stderr, PROG ": %s\n", vmem_tracker_error(t));
			return 1;
		}
		collect_s += now() - c0;
		rounds++;
		total_sent += sent;
		double expect = o.rate ? expected_dirty(&o, secs) : 0;
		if (!o.quiet)
			printf("round %" PRIu64 ": sent %" PRIu64 " pages in %.3f s, found %" PRIu64
			       " dirty (expected %.0f)\n", rounds, sent, secs, ndirty, expect);
		if (csv)
			fprintf(csv, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f,%.1f,live\n", rounds,
				sent, ndirty, secs, expect);
		if (!ok || ndirty <= o.threshold || rounds >= o.max_rounds) {
			converged = ndirty <= o.threshold;
			break;
		}
		t_round = now();
		sent = send_set(&l, src, dirty, o.pages, &ok);
	}

	/* Stop-and-copy: pause the writers, then send what the last round found plus what was
	 * written since. */
	double t_pause = now();
	atomic_store(&s.stop, true);
	for (unsigned i = 0; i < o.writers && o.rate; i++)
		pthread_join(w[i].th, NULL);
	if (vmem_tracker_collect(t, last, NULL)) {
		fprintf(stderr, PROG ": %s\n", vmem_tracker_error(t));
		return 1;
	}
	for (uint64_t i = 0; i < words; i++)
		last[i] |= dirty[i];
	l.t0 = now();
	l.sent_bytes = 0;
	stop_pages = send_set(&l, src, last, o.pages, &ok);
	uint64_t end_marker = UINT64_MAX;
	if (l.pipe) {
		ok = ok && write_full(l.fd[1], &end_marker, sizeof(end_marker));
		pthread_join(l.receiver, NULL);
		ok = ok && !l.recv_error;
	}
	double downtime = now() - t_pause, total_s = now() - t_start;
	total_sent += stop_pages;
	if (csv) {
		fprintf(csv, "%" PRIu64 ",%" PRIu64 ",0,%.6f,0,stop-copy\n", rounds + 1, stop_pages,
			downtime);
		if (fclose(csv)) {
			fprintf(stderr, PROG ": %s: cannot write: %s\n", o.csv, strerror(errno));
			return 1;
		}
	}
	if (!ok) {
		fprintf(stderr, PROG ": the transport failed\n");
		return 1;
	}

	uint64_t bad = 0;
	for (uint64_t p = 0; p < o.pages; p++)
		bad += memcmp(src + p * PAGE, l.dst + p * PAGE, PAGE) != 0;
	printf("precopy: %s after %" PRIu64 " rounds, %" PRIu64 " pages sent (%.1f MiB, %.2fx the "
	       "region), stop-and-copy %" PRIu64 " pages, downtime %.1f ms, total %.2f s, %.0f "
	       "writes/s, collect %.3f ms/round (%s), destination %s source (%" PRIu64 " pages "
	       "differ)\n",
	       converged ? "converged" : "round limit", rounds, total_sent,
	       (double)total_sent * PAGE / 1048576.0, (double)total_sent / (double)o.pages,
	       stop_pages, downtime * 1e3, total_s, (double)atomic_load(&s.writes) / total_s,
	       collect_s * 1e3 / (double)rounds, vmem_tracker_mech_name(rep.used),
	       bad ? "!=" : "==", bad);
	vmem_tracker_destroy(t);
	if (l.pipe)
		close(l.fd[0]), close(l.fd[1]);
	vmem_guest_ram_destroy(ram);
	free(w), free(dirty), free(last);
	return stdout_status(bad ? 1 : 0);
}
