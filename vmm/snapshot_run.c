/*
 * --snapshot FILE and --restore FILE: the guest's data region saved after its passes
 * (vmem/snapshot.h, vmem_snapshot_save, with the guest stopped) and, in a later run, a new
 * VM whose data region is restored lazily (vmem_snapshot_restore: each page arrives through
 * userfaultfd on its first touch, by the guest or by KVM on its behalf), optionally with the
 * working set the previous restore recorded prefetched (--prefetch).
 *
 * The guest's state is its memory plus what the VMM tells it: the system region (code, page
 * tables, the vCPUs' blocks) is rebuilt as at any start, and each vCPU's generation table
 * (the generation every page of its slice holds) is rebuilt from the model of the run that
 * saved the snapshot (guest_model.c), so the restored guest's first command, a check of
 * its whole slice, checks exactly the generations the saved guest wrote. The saving run's
 * options that shape the pattern go into FILE.vmm beside the snapshot and the restoring
 * run takes them from there.
 *
 * Files: FILE (the snapshot), FILE.vmm (the options), FILE.ws (the working set a lazy
 * restore recorded), FILE.lazy (that restore's time to "ready", for the speed-up).
 *
 * Concurrency: everything here runs in main's thread except vmm_snapshot_guest_ready, which
 * vCPU threads call (vmem_snapshot_restore_ready is thread-safe; the counter is atomic).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmem/common.h"
#include "vmem/snapshot.h"

#include "vmm.h"

struct vmm_snapshot_run {
	struct vmem_snapshot_restore *restore;
	struct vmem_snapshot_restore_stats stats;
	atomic_uint vcpus_ready;
	uint64_t restore_start_ns, lazy_ready_ns;
	_Atomic uint64_t first_exit_ns;  /* the guest's first exit to the VMM */
	bool ended;
};

static char *path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s", path, suffix);
	return p;
}

/* The options that shape the pattern, one `key value` a line. */
static const struct {
	const char *key;
	size_t offset;
	int bits;
} saved_options[] = {
	{ "memory", offsetof(struct vmm_options, memory), 64 },
	{ "vcpus", offsetof(struct vmm_options, vcpus), 32 },
	{ "passes", offsetof(struct vmm_options, passes), 32 },
	{ "window", offsetof(struct vmm_options, window), 64 },
	{ "step", offsetof(struct vmm_options, step), 64 },
	{ "dup_every", offsetof(struct vmm_options, dup_every), 32 },
};
#define SAVED_OPTIONS (sizeof(saved_options) / sizeof(saved_options[0]))

static uint64_t option_get(const struct vmm_options *o, unsigned i)
{
	const char *p = (const char *)o + saved_options[i].offset;

	if (saved_options[i].bits == 64)
		return *(const uint64_t *)p;
	if (saved_options[i].bits == 32)
		return *(const uint32_t *)p;
	return *(const bool *)p;
}

static void option_set(struct vmm_options *o, unsigned i, uint64_t v)
{
	char *p = (char *)o + saved_options[i].offset;

	if (saved_options[i].bits == 64)
		*(uint64_t *)p = v;
	else if (saved_options[i].bits == 32)
		*(uint32_t *)p = (uint32_t)v;
	else
		*(bool *)p = v != 0;
}

int vmm_snapshot_load_options(struct vmm_options *o, char *err, size_t errlen)
{
	char *path = path_with(o->restore, ".vmm"), line[128];
	bool seen[SAVED_OPTIONS] = { false };
	unsigned lineno = 0;
	FILE *f;

	if (!path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s (written by --snapshot beside the snapshot)", path,
			 strerror(errno));
		free(path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char key[32];
		uint64_t v;
		unsigned i;
		int used = 0;

		lineno++;
		if (sscanf(line, "%31s %" SCNu64 "%n", key, &v, &used) != 2 ||
		    (line[used] != '\n' && line[used] != 0))
			goto bad;
		for (i = 0; i < SAVED_OPTIONS && strcmp(key, saved_options[i].key) != 0; i++)
			;
		if (i == SAVED_OPTIONS || seen[i] ||
		    (saved_options[i].bits == 32 && v > UINT32_MAX) ||
		    (saved_options[i].bits == 1 && v > 1))
			goto bad;
		seen[i] = true;
		option_set(o, i, v);
	}
	fclose(f);
	for (unsigned i = 0; i < SAVED_OPTIONS; i++) {
		if (!seen[i]) {
			snprintf(err, errlen, "%s: no `%s` line", path, saved_options[i].key);
			free(path);
			return -1;
		}
	}
	free(path);
	return 0;
bad:
	snprintf(err, errlen, "%s:%u: expected `key number` with a key of vmem-vmm's options, "
		 "each once", path, lineno);
	fclose(f);
	free(path);
	return -1;
}

static int save_options(const struct vmm_options *o, const char *path, char *err,
			size_t errlen)
{
	char *p = path_with(path, ".vmm");
	FILE *f = p ? fopen(p, "w") : NULL;
	bool ok;

	if (!f) {
		snprintf(err, errlen, "%s: %s", p ? p : path, p ? strerror(errno) : "out of memory");
		free(p);
		return -1;
	}
	for (unsigned i = 0; i < SAVED_OPTIONS; i++)
		fprintf(f, "%s %" PRIu64 "\n", saved_options[i].key, option_get(o, i));
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok) {
		snprintf(err, errlen, "%s: write error", p);
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

struct gen_rebuild {
	uint32_t *table;
	uint64_t first_page, pages;
};

static void record_write(void *ctx, uint64_t page, uint32_t gen, bool write)
{
	struct gen_rebuild *g = ctx;

	if (write && page >= g->first_page && page - g->first_page < g->pages)
		g->table[page - g->first_page] = gen;
}

int vmm_snapshot_restore_begin(struct vmm *m, char *err, size_t errlen)
{
	struct vmem_snapshot_restore_config c;
	struct vmm_snapshot_run *s = calloc(1, sizeof(*s));
	char why[512];

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->snapshot = s;
	/* The generation tables as the saved guest left them. */
	for (unsigned v = 0; v < m->o.vcpus; v++) {
		const struct vmm_vcpu_block *b = m->vcpus[v].block;
		struct gen_rebuild g = { vmm_guest_range(m, m->vcpus[v].gen_table_gpa, b->pages * 4),
					 b->first_page, b->pages };

		if (!g.table) {
			snprintf(err, errlen, "vCPU %u's generation table is outside guest RAM", v);
			return -1;
		}
		vmm_model_vcpu(m, v, record_write, &g);
		m->vcpus[v].step = STEP_VERIFY_RESIDENT;
	}
	if (m->o.prefetch) {
		char *lazy = path_with(m->o.restore, ".lazy");
		FILE *f = lazy ? fopen(lazy, "r") : NULL;

		if (f) {
			if (fscanf(f, "%" SCNu64, &s->lazy_ready_ns) != 1)
				s->lazy_ready_ns = 0;
			fclose(f);
		}
		free(lazy);
	}
	vmem_snapshot_restore_config_default(&c);
	c.record = !m->o.prefetch;
	c.prefetch = m->o.prefetch ? path_with(m->o.restore, ".ws") : NULL;
	s->restore_start_ns = vmm_now_ns();
	if (vmem_snapshot_restore(m->ram, 1, m->o.restore, &c, &s->restore, why,
				  sizeof(why)) < 0) {
		snprintf(err, errlen, "--restore: %s", why);
		free((char *)c.prefetch);
		return -1;
	}
	free((char *)c.prefetch);
	return 0;
}

void vmm_snapshot_first_exit(struct vmm *m)
{
	struct vmm_snapshot_run *s = m->snapshot;
	uint64_t zero = 0, now = vmm_now_ns();

	if (s)
		atomic_compare_exchange_strong(&s->first_exit_ns, &zero, now);
}

void vmm_snapshot_guest_ready(struct vmm *m)
{
	struct vmm_snapshot_run *s = m->snapshot;

	if (s && s->restore && atomic_fetch_add(&s->vcpus_ready, 1) + 1 == m->o.vcpus)
		vmem_snapshot_restore_ready(s->restore);
}

int vmm_snapshot_end(struct vmm *m, bool guest_ok, char *err, size_t errlen)
{
	struct vmm_snapshot_run *s = m->snapshot;
	char why[512];

	if (m->o.snapshot && guest_ok) {
		struct vmem_snapshot_info info;

		if (vmem_snapshot_save(m->ram, 1, m->o.snapshot, NULL, NULL, &info, why,
				       sizeof(why)) < 0) {
			snprintf(err, errlen, "--snapshot: %s", why);
			return -1;
		}
		if (save_options(&m->o, m->o.snapshot, err, errlen) < 0)
			return -1;
		m->snapshot_pages = info.data_pages;
		m->snapshot_bytes = info.file_bytes;
	}
	if (!s || !s->restore || s->ended)
		return 0;
	s->ended = true;
	if (!m->o.prefetch && guest_ok) {
		char *ws = path_with(m->o.restore, ".ws");

		if (!ws || vmem_snapshot_restore_save_working_set(s->restore, ws, why,
								  sizeof(why)) < 0) {
			snprintf(err, errlen, "--restore: the working set: %s",
				 ws ? why : "out of memory");
			free(ws);
			vmem_snapshot_restore_end(s->restore, &s->stats);
			s->restore = NULL;
			return -1;
		}
		free(ws);
	}
	if (vmem_snapshot_restore_end(s->restore, &s->stats) < 0) {
		snprintf(err, errlen, "--restore: a page could not be read from the snapshot");
		s->restore = NULL;
		return -1;
	}
	s->restore = NULL;
	if (!m->o.prefetch && guest_ok && s->stats.ready_ns) {
		char *lazy = path_with(m->o.restore, ".lazy");
		FILE *f = lazy ? fopen(lazy, "w") : NULL;

		if (f) {
			fprintf(f, "%" PRIu64 "\n", s->stats.ready_ns);
			fclose(f);
		}
		free(lazy);
	}
	return 0;
}

void vmm_snapshot_print(struct vmm *m, FILE *f)
{
	struct vmm_snapshot_run *s = m->snapshot;

	if (m->o.snapshot) {
		vmm_print_figure(f, "snapshot.data_pages", m->snapshot_pages);
		vmm_print_figure(f, "snapshot.file_bytes", m->snapshot_bytes);
	}
	if (!s)
		return;
	vmm_print_figure(f, "restore.us_to_first_instruction",
			 s->stats.first_instruction_ns / 1000);
	vmm_print_figure(f, "restore.us_to_first_exit", s->first_exit_ns ?
	     (s->first_exit_ns - s->restore_start_ns) / 1000 : 0);
	vmm_print_figure(f, "restore.us_to_ready", s->stats.ready_ns / 1000);
	vmm_print_figure(f, "restore.lazy_faults", s->stats.faults);
	vmm_print_figure(f, "restore.lazy_faults_zero", s->stats.faults_zero);
	vmm_print_figure(f, "restore.prefetched", s->stats.prefetched);
	vmm_print_figure(f, "restore.filled_at_end", s->stats.filled);
	vmm_print_figure(f, "restore.recorded", s->stats.recorded);
	vmm_print_figure(f, "restore.checksum_errors", s->stats.checksum_errors);
	if (m->o.prefetch && s->lazy_ready_ns && s->stats.ready_ns)
		fprintf(f, "restore.speedup_vs_lazy %.2f\n",
			(double)s->lazy_ready_ns / (double)s->stats.ready_ns);
}

void vmm_snapshot_destroy(struct vmm *m)
{
	struct vmm_snapshot_run *s = m->snapshot;

	if (!s)
		return;
	if (s->restore)
		vmem_snapshot_restore_end(s->restore, NULL);
	free(s);
	m->snapshot = NULL;
}
