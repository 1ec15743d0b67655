/*
 * ChampSim binary instruction traces.
 *
 * Source: ChampSim's inc/trace_instruction.h, struct input_instr (github.com/ChampSim/
 * ChampSim, e.g. commit b92dc114038e4c74bf98fa3022ce3e71e4da3794), written as raw structs
 * by its Pin tracer (tracer/pin/champsim_tracer.cpp) on x86-64, so little-endian with no
 * padding. A trace is a bare array of these 64-byte records, usually .gz or .xz compressed:
 *
 *     offset size field
 *      0     8   ip                          instruction address
 *      8     1   is_branch
 *      9     1   branch_taken
 *     10     2   destination_registers[2]
 *     12     4   source_registers[4]
 *     16    16   destination_memory[2]       u64 each; 0 = unused slot
 *     32    32   source_memory[4]            u64 each; 0 = unused slot
 *
 * Each record yields, in this order:
 *   - an IFETCH of ip with the nominal size 4: the record has no instruction length, and
 *     4 bytes never spans more than the page of ip unless ip is within 3 bytes of its end;
 *   - a LOAD for each non-zero source_memory[i], i = 0..3;
 *   - a STORE for each non-zero destination_memory[i], i = 0..1;
 * memory operands get the nominal size 8 (the trace has no operand sizes). ChampSim
 * itself treats a zero slot as empty, so address 0 can never be a real operand here.
 * Records carry no VM or address-space id: opts.vm and opts.asid are used.
 *
 * Errors name the byte offset of the record in the decompressed trace: a non-canonical
 * address (57-bit) in any used slot, and a final partial record (file length not a
 * multiple of 64). With opts.skip_bad, such a record is counted in skipped_bad and
 * skipped (a final partial record then ends the trace).
 */
#include <stdio.h>
#include <string.h>

#include "trace_internal.h"

#define CS_REC      64
#define CS_DST      16
#define CS_SRC      32
#define CS_IFETCH_SIZE 4
#define CS_DATA_SIZE   8

/*
 * Content check for files whose name does not say ChampSim: every complete record among
 * the first few must look like an x86-64 instruction record (a non-zero canonical user
 * ip, is_branch and branch_taken each 0 or 1, taken only for a branch, canonical operand
 * addresses), and there must be at least one whole record. Text never passes: the bytes
 * at offsets 8 and 9 would have to be 0 or 1.
 */
bool vmem_trace_champsim_sniff(const unsigned char *p, size_t n)
{
	size_t recs = n / CS_REC < 8 ? n / CS_REC : 8;

	if (recs == 0)
		return false;
	for (size_t r = 0; r < recs; r++, p += CS_REC) {
		uint64_t ip = vmem_le64(p);

		if (ip == 0 || !vmem_addr_canonical(ip, 48) || p[8] > 1 || p[9] > p[8])
			return false;
		for (int i = 0; i < 6; i++)
			if (!vmem_addr_canonical(vmem_le64(p + CS_DST + 8 * i), VMEM_TRACE_VA_BITS))
				return false;
	}
	return true;
}

/* Decodes one record into out (room for VMEM_TRACE_CHAMPSIM_MAXREC); -1 if bad. */
static inline int cs_decode(const unsigned char *p, uint16_t vm, uint32_t asid,
			    struct vmem_trace_rec *out)
{
	uint64_t ip = vmem_le64(p);
	int k = 0;

	if (!vmem_addr_canonical(ip, VMEM_TRACE_VA_BITS))
		return -1;
	out[k++] = (struct vmem_trace_rec){
		.type = VMEM_REC_ACCESS, .acc = VMEM_ACC_IFETCH, .size = CS_IFETCH_SIZE,
		.vm = vm, .asid = asid, .addr = ip,
	};
	for (int i = 0; i < 4; i++) {
		uint64_t a = vmem_le64(p + CS_SRC + 8 * i);

		if (!a)
			continue;
		if (!vmem_addr_canonical(a, VMEM_TRACE_VA_BITS))
			return -1;
		out[k++] = (struct vmem_trace_rec){
			.type = VMEM_REC_ACCESS, .acc = VMEM_ACC_LOAD, .size = CS_DATA_SIZE,
			.vm = vm, .asid = asid, .addr = a,
		};
	}
	for (int i = 0; i < 2; i++) {
		uint64_t a = vmem_le64(p + CS_DST + 8 * i);

		if (!a)
			continue;
		if (!vmem_addr_canonical(a, VMEM_TRACE_VA_BITS))
			return -1;
		out[k++] = (struct vmem_trace_rec){
			.type = VMEM_REC_ACCESS, .acc = VMEM_ACC_STORE, .size = CS_DATA_SIZE,
			.vm = vm, .asid = asid, .addr = a,
		};
	}
	return k;
}

/* Names the first non-canonical field of a bad record. */
static int cs_report(struct vmem_trace_reader *r, const unsigned char *p, uint64_t off)
{
	uint64_t a = vmem_le64(p);

	if (!vmem_addr_canonical(a, VMEM_TRACE_VA_BITS))
		return vmem_trace_fail_off(r, off, "expected a canonical 57-bit ip, got 0x%llx",
					   (unsigned long long)a);
	for (int i = 0; i < 4; i++) {
		a = vmem_le64(p + CS_SRC + 8 * i);
		if (!vmem_addr_canonical(a, VMEM_TRACE_VA_BITS))
			return vmem_trace_fail_off(r, off, "expected a canonical 57-bit address "
						   "in source_memory[%d], got 0x%llx", i,
						   (unsigned long long)a);
	}
	for (int i = 0; i < 2; i++) {
		a = vmem_le64(p + CS_DST + 8 * i);
		if (!vmem_addr_canonical(a, VMEM_TRACE_VA_BITS))
			return vmem_trace_fail_off(r, off, "expected a canonical 57-bit address "
						   "in destination_memory[%d], got 0x%llx", i,
						   (unsigned long long)a);
	}
	return vmem_trace_fail_off(r, off, "bad record");
}

long vmem_trace_champsim_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs,
			      size_t max)
{
	struct vmem_trace_input *in = r->data;
	const uint16_t vm = r->opts.vm;
	const uint32_t asid = r->opts.asid;
	size_t n = 0;

	/* First what is left of an instruction that did not fit last time. */
	if (r->cs_pend_i < r->cs_pend_n) {
		while (n < max && r->cs_pend_i < r->cs_pend_n) {
			r->pos[n] = r->cs_pend_off;
			recs[n++] = r->cs_pend[r->cs_pend_i++];
		}
		r->last_pos = r->cs_pend_off;
	}
	while (n < max) {
		size_t avail = in->end - in->pos;
		const unsigned char *p, *e;

		if (avail < CS_REC) {
			long k;

			if (!in->eof) {
				k = vmem_trace_input_fill(in);
				if (k < 0) {
					r->pending = vmem_trace_fail_input(r, in, (int)k);
					break;
				}
				continue;
			}
			if (avail == 0)
				break;
			if (r->opts.skip_bad) {
				r->counts.skipped_bad++;
				in->pos = in->end;
				break;
			}
			r->pending = vmem_trace_fail_off(r, in->base + in->pos,
							 "expected a 64-byte record, got %zu bytes "
							 "before end of input", avail);
			break;
		}
		p = in->buf + in->pos;
		e = p + avail / CS_REC * CS_REC;
		/* Whole records in the window, while a full instruction fits in recs. */
		while (p < e && max - n >= VMEM_TRACE_CHAMPSIM_MAXREC) {
			int k = cs_decode(p, vm, asid, recs + n);
			uint64_t off = in->base + (uint64_t)(p - in->buf);

			if (k < 0)
				break;
			for (int j = 0; j < k; j++)
				r->pos[n++] = off;
			r->last_pos = off;
			p += CS_REC;
		}
		in->pos = (size_t)(p - in->buf);
		if (p == e || n == max)
			continue;
		/* One record that is bad, or that must be split across calls. */
		{
			uint64_t off = in->base + in->pos;
			int k = cs_decode(p, vm, asid, r->cs_pend);

			if (k < 0) {
				if (r->opts.skip_bad) {
					r->counts.skipped_bad++;
					in->pos += CS_REC;
					continue;
				}
				r->pending = cs_report(r, p, off);
				break;
			}
			in->pos += CS_REC;
			r->cs_pend_n = (unsigned)k;
			r->cs_pend_i = 0;
			r->cs_pend_off = off;
			while (n < max && r->cs_pend_i < r->cs_pend_n) {
				r->pos[n] = off;
				recs[n++] = r->cs_pend[r->cs_pend_i++];
			}
			r->last_pos = off;
		}
	}
	return (long)n;
}
