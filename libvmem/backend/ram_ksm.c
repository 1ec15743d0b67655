/*
 * The kernel's KSM, driven for guest RAM (vmem/ram_dedup.h, vmem_ksm_*).
 *
 * Documentation/admin-guide/mm/ksm.rst: a range is offered to ksmd with
 * madvise(MADV_MERGEABLE), a whole process with prctl(PR_SET_MEMORY_MERGE, 1) (Linux 6.4);
 * ksmd scans pages_to_scan pages every sleep_millisecs while /sys/kernel/mm/ksm/run is 1.
 * The knobs are global, so vmem_ksm_open saves every one it may touch and vmem_ksm_close
 * writes them back, run last. If run was 0, close writes 2 first: that unmerges every KSM
 * page and frees the stable tree, whose nodes would otherwise linger and keep the global
 * counters stale after the processes that made them exit. A lock file serializes the
 * processes that use this driver, so that two of them do not save each other's settings.
 *
 * The figures that say what merging saved are the process's own: /proc/self/ksm_stat
 * (ksm_rmap_items, ksm_zero_pages, ksm_merging_pages, ksm_process_profit) and
 * /proc/self/ksm_merging_pages; ksmd's CPU time is utime + stime of /proc/PID/stat
 * (proc(5), fields 14 and 15, in clock ticks).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "vmem/ram_dedup.h"
#include "backend/backend_internal.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

#define KSM_DIR "/sys/kernel/mm/ksm/"
#define LOCK_PATH "/run/lock/vmem-ksm.lock"

/* The knobs saved and restored, run last. */
static const char *const knob_names[] = {
	"pages_to_scan", "sleep_millisecs", "use_zero_pages", "smart_scan", "max_page_sharing",
	"merge_across_nodes", "run",
};
enum { KNOBS = sizeof(knob_names) / sizeof(knob_names[0]), KNOB_RUN = KNOBS - 1 };

struct vmem_ksm {
	int lock_fd;
	bool have[KNOBS];
	int64_t saved[KNOBS];
};

void vmem_ksm_config_default(struct vmem_ksm_config *c)
{
	c->pages_to_scan = c->sleep_millisecs = c->use_zero_pages = -1;
	c->smart_scan = c->max_page_sharing = c->merge_across_nodes = -1;
}

int vmem_ksm_available(char *err, size_t errlen)
{
	if (access(KSM_DIR "run", R_OK | W_OK)) {
		backend_errf(err, errlen, "KSM: " KSM_DIR "run: %s (a kernel without "
			     "CONFIG_KSM, or not root)", strerror(errno));
		return VMEM_ENOENT;
	}
	return 0;
}

static int read_knob(const char *name, int64_t *v)
{
	char path[128];
	long long x;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), KSM_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ok = fscanf(f, "%lld", &x) == 1;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*v = x;
	return 0;
}

static int write_knob(const char *name, int64_t v)
{
	char path[128], text[32];
	int fd, len, rc = 0;

	snprintf(path, sizeof(path), KSM_DIR "%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(text, sizeof(text), "%lld\n", (long long)v);
	if (write(fd, text, (size_t)len) != len)
		rc = -errno;
	close(fd);
	return rc;
}

/* Writes back every saved knob, run last; 0 or the first error. */
static int restore(struct vmem_ksm *k)
{
	int rc = 0, e;

	for (unsigned i = 0; i < KNOB_RUN; i++) {
		int64_t now;

		if (!k->have[i] || (read_knob(knob_names[i], &now) == 0 && now == k->saved[i]))
			continue;
		e = write_knob(knob_names[i], k->saved[i]);
		if (e && !rc)
			rc = e;
	}
	if (k->have[KNOB_RUN]) {
		if (k->saved[KNOB_RUN] == 0) {
			e = write_knob("run", 2);    /* unmerge all: no stale stable nodes */
			if (e && !rc)
				rc = e;
		}
		e = write_knob("run", k->saved[KNOB_RUN]);
		if (e && !rc)
			rc = e;
	}
	return rc;
}

int vmem_ksm_open(const struct vmem_ksm_config *c, struct vmem_ksm **out, char *err,
		  size_t errlen)
{
	const int64_t want[KNOBS] = {
		c ? c->pages_to_scan : -1, c ? c->sleep_millisecs : -1,
		c ? c->use_zero_pages : -1, c ? c->smart_scan : -1,
		c ? c->max_page_sharing : -1, c ? c->merge_across_nodes : -1, 1,
	};
	struct vmem_ksm *k;
	int rc;

	if (!out) {
		backend_errf(err, errlen, "KSM: out is NULL");
		return VMEM_EINVAL;
	}
	rc = vmem_ksm_available(err, errlen);
	if (rc)
		return rc;
	k = calloc(1, sizeof(*k));
	if (!k)
		return VMEM_ENOMEM;
	k->lock_fd = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (k->lock_fd < 0 || flock(k->lock_fd, LOCK_EX)) {
		backend_errf(err, errlen, "KSM: lock file " LOCK_PATH ": %s", strerror(errno));
		if (k->lock_fd >= 0)
			close(k->lock_fd);
		free(k);
		return VMEM_EIO;
	}
	for (unsigned i = 0; i < KNOBS; i++)
		k->have[i] = read_knob(knob_names[i], &k->saved[i]) == 0;
	if (!k->have[KNOB_RUN]) {
		backend_errf(err, errlen, "KSM: cannot read " KSM_DIR "run");
		rc = VMEM_EIO;
		goto fail;
	}
	for (unsigned i = 0; i < KNOBS; i++) {
		int e;

		if (want[i] < 0 || (k->have[i] && k->saved[i] == want[i]))
			continue;
		e = k->have[i] ? write_knob(knob_names[i], want[i]) : -ENOENT;
		if (e) {
			backend_errf(err, errlen, "KSM: writing %lld to " KSM_DIR "%s: %s%s",
				     (long long)want[i], knob_names[i], strerror(-e),
				     e == -EBUSY ? " (the kernel allows it only while no KSM "
				     "page exists)" : "");
			rc = VMEM_EIO;
			goto fail;
		}
	}
	*out = k;
	return 0;
fail:
	restore(k);
	close(k->lock_fd);
	free(k);
	return rc;
}

int vmem_ksm_close(struct vmem_ksm *k)
{
	int rc;

	if (!k)
		return 0;
	rc = restore(k);
	close(k->lock_fd);
	free(k);
	return rc ? VMEM_EIO : 0;
}

int vmem_ksm_merge_range(void *addr, uint64_t len, bool on)
{
	return madvise(addr, len, on ? MADV_MERGEABLE : MADV_UNMERGEABLE) ? VMEM_EINVAL : 0;
}

int vmem_ksm_merge_process(bool on)
{
	return prctl(PR_SET_MEMORY_MERGE, on ? 1 : 0, 0, 0, 0) ? VMEM_EINVAL : 0;
}

int vmem_ksm_process_stat(struct vmem_ksm_process_stat *out)
{
	FILE *f = fopen("/proc/self/ksm_stat", "r");
	char line[128], key[64];
	long long v;
	int got = 0;

	memset(out, 0, sizeof(*out));
	if (!f)
		return VMEM_ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lld", key, &v) != 2)
			continue;                    /* ksm_merge_any: no, ... */
		if (!strcmp(key, "ksm_rmap_items"))
			out->ksm_rmap_items = (uint64_t)v, got++;
		else if (!strcmp(key, "ksm_merging_pages"))
			out->ksm_merging_pages = (uint64_t)v, got++;
		else if (!strcmp(key, "ksm_zero_pages"))
			out->ksm_zero_pages = (uint64_t)v, got++;
		else if (!strcmp(key, "ksm_process_profit"))
			out->ksm_process_profit = v, got++;
	}
	fclose(f);
	/* An older kernel without ksm_stat's merging line: the file of its own. */
	if (got < 4) {
		f = fopen("/proc/self/ksm_merging_pages", "r");
		if (f) {
			if (fscanf(f, "%lld", &v) == 1)
				out->ksm_merging_pages = (uint64_t)v, got++;
			fclose(f);
		}
	}
	return got ? 0 : VMEM_EIO;
}

int vmem_ksm_global_stat(struct vmem_ksm_global_stat *out)
{
	static const char *const names[] = {
		"pages_scanned", "pages_shared", "pages_sharing", "pages_unshared",
		"pages_volatile", "pages_skipped", "full_scans", "ksm_zero_pages",
		"general_profit",
	};
	int64_t v[9];

	for (unsigned i = 0; i < 9; i++)
		if (read_knob(names[i], &v[i]))
			v[i] = 0;
	out->pages_scanned = (uint64_t)v[0];
	out->pages_shared = (uint64_t)v[1];
	out->pages_sharing = (uint64_t)v[2];
	out->pages_unshared = (uint64_t)v[3];
	out->pages_volatile = (uint64_t)v[4];
	out->pages_skipped = (uint64_t)v[5];
	out->full_scans = (uint64_t)v[6];
	out->ksm_zero_pages = (uint64_t)v[7];
	out->general_profit = v[8];
	return access(KSM_DIR "run", R_OK) ? VMEM_ENOENT : 0;
}

int vmem_ksm_wait(uint64_t merging, uint64_t zero, unsigned timeout_ms,
		  struct vmem_ksm_process_stat *out)
{
	struct vmem_ksm_process_stat s;
	struct timespec tick = { 0, 10 * 1000000l };

	for (unsigned waited = 0;; waited += 10) {
		int rc = vmem_ksm_process_stat(&s);

		if (out)
			*out = s;
		if (rc)
			return rc;
		if (s.ksm_merging_pages >= merging && s.ksm_zero_pages >= zero)
			return 0;
		if (waited >= timeout_ms)
			return VMEM_ELIMIT;
		nanosleep(&tick, NULL);
	}
}

int vmem_ksm_daemon_cpu_ns(uint64_t *ns)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	int rc = VMEM_ENOENT;

	if (!dir)
		return VMEM_EIO;
	while ((e = readdir(dir))) {
		char path[64], line[512], comm[32];
		unsigned long long utime, stime;
		FILE *f;
		char *close_paren;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f) || strcmp(comm, "ksmd\n")) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%.20s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		/* Fields after "(comm) ": state, ppid, pgrp, session, tty_nr, tpgid, flags,
		 * minflt, cminflt, majflt, cmajflt, utime, stime. */
		if (fgets(line, sizeof(line), f) && (close_paren = strrchr(line, ')')) &&
		    sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			   &utime, &stime) == 2) {
			*ns = (utime + stime) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
			rc = 0;
		}
		fclose(f);
		break;
	}
	closedir(dir);
	return rc;
}
