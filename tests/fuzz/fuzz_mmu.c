/*
 * Structured records straight into the translation machine (vmem_mmu_apply), in every
 * mode, with small memories and limits so that exhaustion and limit errors are reached.
 *
 * Bytes 0-3 choose the configuration (and whether the miss-ratio curves are profiled);
 * then every 16 bytes are one record: byte 0 the type (mod 5; 5..7 a vmem_mmu_translate
 * with a recorded walk instead) and access kind,
 * byte 1 the size or protection, byte 2 the VM (mod 6), byte 3 the address space (mod 24),
 * byte 4 the address region, bytes 8-15 the address bits, bytes 5-7 the length.
 *
 * Checked: no crash, hang or leak; a failed record has a one-line message; a translated
 * address keeps its page offset; the counters stay consistent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmem/mmu.h"
#include "vmem/mrc.h"

#define MAX_RECS 4096

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mmu: %s\n", what);
		abort();
	}
}

static void set(struct vmem_mmu_config *c, const char *key, const char *value)
{
	char err[256];

	check(vmem_mmu_config_set(c, key, value, err, sizeof(err)) == 0, err);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Addresses near the places where translation has edges. */
static uint64_t address(unsigned region, uint64_t bits)
{
	switch (region % 6) {
	case 0: return bits & 0xffffffull;                              /* low, dense */
	case 1: return 0x7fffffe00000ull | (bits & 0x1fffff);           /* top of 48-bit half */
	case 2: return 0xffff800000000000ull | (bits & 0xffffffull);    /* bottom of upper half */
	case 3: return 0xfffffffffff00000ull | (bits & 0xfffff);        /* top of 2^64 */
	case 4: return 0x00ffffffffe00000ull | (bits & 0x1fffff);       /* top of 57-bit half */
	default: return bits;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pages[3] = { "4k", "2m", "1g" };
	static const char *const mems[4] = { "2m", "8m", "64m", "2g" };
	struct vmem_mmu_config c;
	struct vmem_mmu *m;
	size_t n;

	if (size < 4)
		return 0;
	vmem_mmu_config_default(&c);
	c.mode = (enum vmem_mode)(data[0] % 3);
	set(&c, "guest.levels", data[0] & 4 ? "5" : "4");
	set(&c, "host.levels", data[0] & 8 ? "5" : "4");
	set(&c, "guest.page", pages[(data[0] >> 4) % 3]);
	set(&c, "host.page", pages[(data[0] >> 6) % 3]);
	set(&c, "guest.mem", mems[data[1] & 3]);
	set(&c, "host.mem", mems[(data[1] >> 2) & 3]);
	set(&c, "pcid", data[1] & 0x10 ? "0" : "1");
	set(&c, "pcid.mode", data[1] & 0x20 ? "linux" : "per_as");
	set(&c, "vpid", data[1] & 0x40 ? "0" : "1");
	set(&c, "shadow.sync", data[1] & 0x80 ? "trap" : "unsync");
	set(&c, "guest.placement", data[2] & 1 ? "random" : "sequential");
	set(&c, "host.placement", data[2] & 2 ? "random" : "sequential");
	set(&c, "pwc.nested", data[2] & 4 ? "guest_physical" : "combined");
	if (data[2] & 8)
		set(&c, "shadow.max_pages", "8");
	if (data[2] & 0x10) {
		set(&c, "tlb.l1d.4k", "4:2");
		set(&c, "tlb.l2", "8:2");
		set(&c, "pwc.pde", "2");
		set(&c, "ntlb", "2");
	}
	set(&c, "shadow.roots", data[2] & 0x20 ? "1" : "4");
	set(&c, "limit.vms", "4");
	set(&c, "limit.aspaces", data[3] & 1 ? "3" : "16");
	if (vmem_mmu_create(&c, &m) != 0)
		return 0;
	/* The miss-ratio-curve profiler watches the same TLB traffic. */
	if ((data[3] & 2) && vmem_mmu_enable_mrc(m, 0) != 0) {
		vmem_mmu_destroy(m);
		return 0;
	}
	data += 4;
	size -= 4;
	for (n = 0; size >= 16 && n < MAX_RECS; n++, data += 16, size -= 16) {
		struct vmem_trace_rec r = {
			.type = (uint8_t)((data[0] & 7) % 5),
			.acc = (uint8_t)((data[0] >> 4) & 3),
			.size = data[1],
			.prot = data[1] & 0xf,
			.vm = (uint16_t)(data[2] % 6),
			.asid = data[3] % 24u,
			.addr = address(data[4], le64(data + 8)),
			.len = (uint64_t)data[5] << 12 | (uint64_t)data[6] << 20 | data[7],
		};
		int err;

		if ((data[0] & 7) >= 5) {
			struct vmem_walk w;
			uint64_t pa = 0;

			err = vmem_mmu_translate(m, r.vm, r.asid, r.addr,
						 (enum vmem_access_type)r.acc, &w, &pa);
			if (!err)
				check((pa & 0xfff) == (r.addr & 0xfff), "page offset changed");
		} else {
			err = vmem_mmu_apply(m, &r);
		}
		if (err) {
			const char *e = vmem_mmu_error(m);

			check(e[0] != '\0', "error without a message");
			check(strchr(e, '\n') == NULL, "error of more than one line");
		}
	}
	{
		const struct vmem_mmu_stats *s = vmem_mmu_stats(m);

		check(s->accesses <= s->records, "more accesses than records");
		check(s->tlb_l1_hits + s->tlb_l2_hits + s->tlb_misses == s->translations,
		      "TLB hits and misses do not add up to the translations");
	}
	vmem_mmu_destroy(m);
	return 0;
}
