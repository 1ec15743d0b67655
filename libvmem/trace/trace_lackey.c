/*
 * Valgrind Lackey memory traces (valgrind --tool=lackey --trace-mem=yes).
 *
 * Source: Valgrind's lackey/lk_main.c prints one line per access,
 *
 *     "I  %08lx,%lu\n"   instruction fetch     -> VMEM_ACC_IFETCH
 *     " L %08lx,%lu\n"   data load             -> VMEM_ACC_LOAD
 *     " S %08lx,%lu\n"   data store            -> VMEM_ACC_STORE
 *     " M %08lx,%lu\n"   data modify (r-m-w)   -> VMEM_ACC_MODIFY
 *
 * i.e. a hex address (at least 8 digits; we accept 1 to 16) and a decimal size. Valgrind
 * itself adds "==pid== ..." banner lines when its log shares the stream; those and blank
 * lines are skipped and counted in skipped_other. Every other line is malformed.
 *
 * Rules enforced, each failure reported as "FILE:LINE: expected ..." (VMEM_EFORMAT), or
 * counted in skipped_bad and skipped with opts.skip_bad:
 *   - the line starts with exactly "I  ", " L ", " S " or " M ";
 *   - 1..16 hex digits, then ',', then 1 or more decimal digits, then end of line (a
 *     '\r' before the '\n' is allowed);
 *   - size in 1..255 (the field of struct vmem_trace_rec);
 *   - the address is canonical for 57-bit virtual addresses.
 * A last line without a newline is parsed as if it had one, so a complete final record
 * is accepted and a line cut inside a field fails like any other malformed line.
 * Lines longer than the input window (1 MiB) are an error.
 *
 * Speed: the parser runs over the input window in place. It first finds the last '\n'
 * in the window; every line before it is complete, so the per-character loops need no
 * bounds checks (a '\n' stops every field). Hex digits go through a 256-entry table.
 * There is no per-line call: one loop fills the caller's batch.
 */
#include <stdio.h>
#include <string.h>

#include "trace_internal.h"

/* Hex digit value plus one; 0 for a byte that is not a hex digit. */
static const unsigned char hexval1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

bool vmem_trace_lackey_sniff(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == '\n' || p[i] == '\r'))
		i++;
	p += i;
	n -= i;
	/* Nothing but blank lines (as far as we look) reads as Lackey text with no records. */
	if (n == 0 && i > 0)
		return true;
	if (n >= 2 && p[0] == '=' && p[1] == '=')
		return true;
	if (n >= 3 && p[0] == 'I' && p[1] == ' ' && p[2] == ' ')
		return true;
	if (n >= 3 && p[0] == ' ' && (p[1] == 'L' || p[1] == 'S' || p[1] == 'M') && p[2] == ' ')
		return true;
	return false;
}

/*
 * Makes data->buf[pos..lim) hold whole lines, at least one. Returns 1, 0 at the end of
 * the input, or a negative code with the error set.
 */
static int refill(struct vmem_trace_reader *r)
{
	struct vmem_trace_input *in = r->data;

	for (;;) {
		long k;

		if (in->pos < in->end) {
			const unsigned char *nl = memrchr(in->buf + in->pos, '\n', in->end - in->pos);

			if (nl) {
				r->lim = (size_t)(nl + 1 - in->buf);
				return 1;
			}
			if (in->eof) {
				/* A final line without '\n': terminate it (the window has slack). */
				in->buf[in->end++] = '\n';
				r->lim = in->end;
				return 1;
			}
			if (in->pos == 0 && in->end == in->cap)
				return vmem_trace_fail_line(r, r->line, "line longer than %u bytes",
							    VMEM_TRACE_BUF);
		} else if (in->eof) {
			return 0;
		}
		k = vmem_trace_input_fill(in);
		if (k < 0)
			return vmem_trace_fail_input(r, in, (int)k);
	}
}

enum lk_err {
	LK_START,
	LK_SPACE,
	LK_HEX,
	LK_LONG,
	LK_COMMA,
	LK_SIZE,
	LK_EOL,
	LK_RANGE,
	LK_CANON,
};

static int report(struct vmem_trace_reader *r, uint64_t line, enum lk_err e, char tag,
		  uint64_t addr, unsigned size)
{
	switch (e) {
	case LK_START:
		return vmem_trace_fail_line(r, line, "expected \"I  \", \" L \", \" S \", \" M \", "
					    "a \"==\" line or a blank line");
	case LK_SPACE:
		if (tag == 'I')
			return vmem_trace_fail_line(r, line, "expected two spaces after 'I'");
		return vmem_trace_fail_line(r, line, "expected a space after '%c'", tag);
	case LK_HEX:
		return vmem_trace_fail_line(r, line, "expected hex address after '%c'", tag);
	case LK_LONG:
		return vmem_trace_fail_line(r, line, "expected at most 16 hex digits in address");
	case LK_COMMA:
		return vmem_trace_fail_line(r, line, "expected ',' after address");
	case LK_SIZE:
		return vmem_trace_fail_line(r, line, "expected decimal size after ','");
	case LK_EOL:
		return vmem_trace_fail_line(r, line, "expected end of line after size");
	case LK_RANGE:
		if (size > 999)
			return vmem_trace_fail_line(r, line, "expected size 1..255, got a larger one");
		return vmem_trace_fail_line(r, line, "expected size 1..255, got %u", size);
	case LK_CANON:
		return vmem_trace_fail_line(r, line, "expected a canonical 57-bit address, got "
					    "0x%llx", (unsigned long long)addr);
	}
	return VMEM_EFORMAT;
}

long vmem_trace_lackey_read(struct vmem_trace_reader *r, struct vmem_trace_rec *recs,
			    size_t max)
{
	struct vmem_trace_input *in = r->data;
	const uint16_t vm = r->opts.vm;
	const uint32_t asid = r->opts.asid;
	unsigned char *p = in->buf + in->pos;
	unsigned char *lim = in->buf + r->lim;
	uint64_t line = r->line;
	uint64_t rec_line = 0;
	size_t n = 0;

	if (lim < p)
		lim = p;
	while (n < max) {
		unsigned char *ls;
		enum lk_err e;
		uint8_t acc;
		char tag;
		uint64_t a = 0;
		unsigned d, size = 0;
		const unsigned char *f;

		if (p >= lim) {
			int rc;

			in->pos = (size_t)(p - in->buf);
			r->line = line;
			rc = refill(r);
			if (rc <= 0) {
				if (rc < 0)
					r->pending = rc;
				break;
			}
			p = in->buf + in->pos;
			lim = in->buf + r->lim;
		}
		ls = p;
		tag = 0;
		if (p[0] == ' ') {
			tag = (char)p[1];
			if (tag == 'L')
				acc = VMEM_ACC_LOAD;
			else if (tag == 'S')
				acc = VMEM_ACC_STORE;
			else if (tag == 'M')
				acc = VMEM_ACC_MODIFY;
			else {
				e = LK_START;
				goto bad;
			}
			if (p[2] != ' ') {
				e = LK_SPACE;
				goto bad;
			}
		} else if (p[0] == 'I') {
			tag = 'I';
			acc = VMEM_ACC_IFETCH;
			if (p[1] != ' ' || p[2] != ' ') {
				e = LK_SPACE;
				goto bad;
			}
		} else if (p[0] == '\n' || (p[0] == '\r' && p[1] == '\n')) {
			p += p[0] == '\r' ? 2 : 1;
			line++;
			r->counts.skipped_other++;
			continue;
		} else if (p[0] == '=' && p[1] == '=') {
			p = (unsigned char *)memchr(p, '\n', (size_t)(lim - p)) + 1;
			line++;
			r->counts.skipped_other++;
			continue;
		} else {
			e = LK_START;
			goto bad;
		}
		p += 3;

		f = p;
		while ((d = hexval1[*p]) != 0) {
			a = a << 4 | (d - 1);
			p++;
		}
		if (p == f) {
			e = LK_HEX;
			goto bad;
		}
		if (p - f > 16) {
			e = LK_LONG;
			goto bad;
		}
		if (*p != ',') {
			e = LK_COMMA;
			goto bad;
		}
		f = ++p;
		while ((d = (unsigned)*p - '0') < 10) {
			if (size < 1000)
				size = size * 10 + d;
			p++;
		}
		if (p == f) {
			e = LK_SIZE;
			goto bad;
		}
		if (*p == '\r')
			p++;
		if (*p != '\n') {
			e = LK_EOL;
			goto bad;
		}
		p++;
		if (size - 1 > 254) {
			e = LK_RANGE;
			goto bad;
		}
		if (!vmem_addr_canonical(a, VMEM_TRACE_VA_BITS)) {
			e = LK_CANON;
			goto bad;
		}
		r->pos[n] = line;
		recs[n++] = (struct vmem_trace_rec){
			.type = VMEM_REC_ACCESS,
			.acc = acc,
			.size = (uint8_t)size,
			.vm = vm,
			.asid = asid,
			.addr = a,
		};
		rec_line = line++;
		continue;
bad:
		if (r->opts.skip_bad) {
			p = (unsigned char *)memchr(ls, '\n', (size_t)(lim - ls)) + 1;
			line++;
			r->counts.skipped_bad++;
			continue;
		}
		r->pending = report(r, line, e, tag, a, size);
		p = ls;
		break;
	}
	in->pos = (size_t)(p - in->buf);
	r->line = line;
	if (n > 0)
		r->last_pos = rec_line;
	return (long)n;
}

size_t vmem_trace_lackey_line(const struct vmem_trace_rec *r, char *buf)
{
	static const char *const prefix[4] = {
		[VMEM_ACC_LOAD] = " L ",
		[VMEM_ACC_STORE] = " S ",
		[VMEM_ACC_IFETCH] = "I  ",
		[VMEM_ACC_MODIFY] = " M ",
	};
	static const char digits[] = "0123456789abcdef";
	char tmp[20];
	char *p = buf;
	uint64_t a = r->addr;
	unsigned v = r->size;
	int n = 0;

	if (r->type != VMEM_REC_ACCESS)
		return 0;
	memcpy(p, prefix[r->acc & 3], 3);
	p += 3;
	do {
		tmp[n++] = digits[a & 15];
		a >>= 4;
	} while (a);
	for (int i = n; i < 8; i++)   /* Valgrind prints %08lx */
		*p++ = '0';
	while (n)
		*p++ = tmp[--n];
	*p++ = ',';
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	*p++ = '\n';
	return (size_t)(p - buf);
}
