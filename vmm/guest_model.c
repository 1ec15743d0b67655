/*
 * The guest's data accesses, computed on the host from vmm/pattern.h: the same sequence of
 * pages the test guest checks and writes, command by command (vcpu_loop.c's script). Used
 * twice: to check the data region from the host after the guest stopped (an independent
 * check of the guest's own), and to write the accesses as a .vmt trace that vmemsim
 * replays, so the simulator sees what KVM saw.
 *
 * The trace holds one 8-byte access per 64-byte line of each page visited (a load per line
 * for a check, a store per line for a write): the guest touches every word, but the
 * translation models care about pages, and a line keeps the trace 8 times smaller. The
 * guest's code, stack, page tables and parameter block are not in it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmem/trace.h"

#include "pattern.h"
#include "vmm.h"

void vmm_model_vcpu(const struct vmm *m, unsigned vcpu,
		    void (*visit)(void *ctx, uint64_t page, uint32_t gen, bool write), void *ctx)
{
	const struct vmm_vcpu_block *b = m->vcpus[vcpu].block;
	const struct vmm_options *o = &m->o;
	uint32_t *gen = calloc(b->pages ? b->pages : 1, sizeof(*gen));
	int checks_before_passes = o->swap ? 2 : 1;

	if (!gen)
		return;
	if (vcpu == 0 && b->pool_pages) {
		/* The balloon pool's pages are written once when the guest starts. */
		for (uint64_t i = b->pool_pages; i-- > 0;)
			visit(ctx, b->pool_first_page + i, 0, true);
	}
	for (uint64_t i = 0; i < b->pages; i++)
		visit(ctx, b->first_page + i, 0, true);
	for (int k = 0; k < checks_before_passes; k++)
		for (uint64_t i = 0; i < b->pages; i++)
			visit(ctx, b->first_page + i, 0, false);
	for (uint32_t p = 1; p <= o->passes; p++) {
		uint64_t start = vmm_window_start(p, b->step, b->pages);

		for (uint64_t j = 0; j < b->window; j++) {
			uint64_t i = (start + j) % b->pages, page = b->first_page + i;

			visit(ctx, page, gen[i], false);
			if (!vmm_page_is_shared(page, b->dup_every)) {
				visit(ctx, page, p, true);
				gen[i] = p;
			}
		}
	}
	for (uint64_t i = 0; i < b->pages; i++)
		visit(ctx, b->first_page + i, gen[i], false);
	free(gen);
}

/* The model's last generation of every page: the last write wins. */
struct last_gen {
	uint32_t *gen;
};

static void record_gen(void *ctx, uint64_t page, uint32_t gen, bool write)
{
	struct last_gen *l = ctx;

	if (write)
		l->gen[page] = gen;
}

uint64_t vmm_model_check(const struct vmm *m, uint64_t *first_bad_gpa)
{
	struct last_gen l = { calloc(m->data_pages, sizeof(uint32_t)) };
	uint64_t bad = 0;

	*first_bad_gpa = 0;
	if (!l.gen)
		return UINT64_MAX;
	for (unsigned v = 0; v < m->o.vcpus; v++)
		vmm_model_vcpu(m, v, record_gen, &l);
	for (unsigned v = 0; v < m->o.vcpus; v++) {
		const struct vmm_vcpu_block *b = m->vcpus[v].block;

		for (uint64_t page = b->first_page; page < b->first_page + b->pages; page++) {
			const uint64_t *w = (const uint64_t *)(m->data_hva + page * VMM_PAGE_BYTES);
			uint64_t seed = vmm_page_seed(page, l.gen[page], b->dup_every);

			for (uint32_t i = 0; i < VMM_PAGE_WORDS; i++) {
				if (w[i] != vmm_pattern_word(seed, i) && bad++ == 0)
					*first_bad_gpa = VMM_DATA_GPA + page * VMM_PAGE_BYTES + i * 8;
			}
		}
	}
	free(l.gen);
	return bad;
}

struct trace_out {
	struct vmem_trace_writer *w;
	struct vmem_trace_rec buf[1024];
	size_t n;
	uint64_t records;
	int rc;
};

static void flush(struct trace_out *t)
{
	if (t->n && t->rc == 0)
		t->rc = vmem_trace_write(t->w, t->buf, t->n);
	t->n = 0;
}

static void record_access(void *ctx, uint64_t page, uint32_t gen, bool write)
{
	struct trace_out *t = ctx;
	uint64_t gva = VMM_DATA_GPA + page * VMM_PAGE_BYTES;

	(void)gen;
	for (uint64_t line = 0; line < VMM_PAGE_BYTES; line += 64) {
		struct vmem_trace_rec *r = &t->buf[t->n++];

		*r = (struct vmem_trace_rec){ .type = VMEM_REC_ACCESS,
					       .acc = write ? VMEM_ACC_STORE : VMEM_ACC_LOAD,
					       .size = 8, .addr = gva + line };
		if (t->n == sizeof(t->buf) / sizeof(t->buf[0]))
			flush(t);
	}
	t->records += VMM_PAGE_BYTES / 64;
}

int vmm_model_write_trace(const struct vmm *m, const char *path, uint64_t *records,
			  char *err, size_t errlen)
{
	struct vmem_trace_writer_opts wo;
	struct trace_out t = { 0 };
	size_t len = 0;
	int rc;

	while (path[len])
		len++;
	vmem_trace_writer_opts_default(&wo);
	wo.zstd = len > 4 && path[len - 4] == '.' && path[len - 3] == 'z' &&
		  path[len - 2] == 's' && path[len - 1] == 't';
	rc = vmem_trace_writer_open(path, &wo, &t.w);
	if (rc < 0) {
		snprintf(err, errlen, "%s", t.w ? vmem_trace_writer_error(t.w) : vmem_strerror(rc));
		if (t.w)
			vmem_trace_writer_close(t.w);
		return -1;
	}
	for (unsigned v = 0; v < m->o.vcpus; v++)
		vmm_model_vcpu(m, v, record_access, &t);
	flush(&t);
	if (t.rc < 0)
		snprintf(err, errlen, "%s: %s", path, vmem_trace_writer_error(t.w));
	rc = vmem_trace_writer_close(t.w);
	if (t.rc == 0 && rc < 0) {
		snprintf(err, errlen, "%s: write error: %s", path, vmem_strerror(rc));
		t.rc = rc;
	}
	*records = t.records;
	return t.rc < 0 ? -1 : 0;
}
