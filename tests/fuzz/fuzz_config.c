/*
 * The configuration parsers: vmem_mmu_config_load on arbitrary file contents,
 * vmem_mmu_config_assign and vmem_tracegen_config_set on arbitrary lines, then a
 * get -> set -> get round trip of every machine key, which must give the text back.
 *
 * Byte 0 chooses what the rest is: below 0xf0, by its value mod 3: 0 a configuration file,
 * 1 lines of KEY=VALUE for the machine, 2 lines of KEY=VALUE for the trace generator;
 * 0xf0 and above, raw values of the numeric fields of both structures, as a program that
 * fills them in itself may give: vmem_mmu_config_check and vmem_tracegen_config_check
 * must reject what is out of range with a message, every key must read back (get), and a
 * machine configuration that passes the check must survive the round trip.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "vmem/mmu.h"
#include "vmem/tracegen.h"

static void check(int ok, const char *what, const char *key)
{
	if (!ok) {
		fprintf(stderr, "fuzz_config: %s: %s\n", key, what);
		abort();
	}
}

/* An error message: one line, not empty. */
static void check_msg(const char *err, const char *where)
{
	check(err[0] != '\0', "error without a message", where);
	check(strchr(err, '\n') == NULL, "error of more than one line", where);
}

static void round_trip(const struct vmem_mmu_config *c)
{
	for (const struct vmem_config_key *k = vmem_mmu_config_keys(); k->key; k++) {
		struct vmem_mmu_config d = *c;
		char v1[128], v2[128], err[256];

		check(vmem_mmu_config_get(c, k->key, v1, sizeof(v1)) == 0, "get", k->key);
		check(vmem_mmu_config_set(&d, k->key, v1, err, sizeof(err)) == 0, err, k->key);
		check(vmem_mmu_config_get(&d, k->key, v2, sizeof(v2)) == 0, "get", k->key);
		check(strcmp(v1, v2) == 0, "get -> set -> get changed the value", k->key);
	}
}

/* Calls line(ctx, text) for each '\n'-separated line of data (NUL-terminated copies). */
static void each_line(const uint8_t *data, size_t size, void (*line)(void *, const char *),
		      void *ctx)
{
	char *buf = malloc(size + 1);

	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (char *s = buf, *e; s; s = e) {
		e = strchr(s, '\n');
		if (e)
			*e++ = '\0';
		line(ctx, s);
	}
	free(buf);
}

static void mmu_line(void *ctx, const char *s)
{
	char err[256] = "";

	if (vmem_mmu_config_assign(ctx, s, err, sizeof(err)) != 0)
		check_msg(err, "assign");
}

static void gen_line(void *ctx, const char *s)
{
	char key[128], err[256] = "";
	const char *eq = strchr(s, '=');
	size_t n = eq ? (size_t)(eq - s) : 0;

	if (!eq || n >= sizeof(key))
		return;
	memcpy(key, s, n);
	key[n] = '\0';
	if (vmem_tracegen_config_set(ctx, key, eq + 1, err, sizeof(err)) != 0)
		check_msg(err, "tracegen set");
}

/* The next n bytes of the input, little-endian (zeros past its end). */
static uint64_t take(const uint8_t **p, const uint8_t *end, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++, (*p)++)
		v |= (uint64_t)(*p < end ? **p : 0) << (8 * i);
	return v;
}

/* Stores v into the integer field of size n (4 or 8 bytes) at f. */
static void poke(void *f, size_t n, uint64_t v)
{
	if (n == 8) {
		memcpy(f, &v, 8);
	} else {
		uint32_t w = (uint32_t)v;

		memcpy(f, &w, 4);
	}
}

#define FIELD(s, m) { offsetof(s, m), sizeof(((s *)0)->m) }

static void raw_fields(const uint8_t *data, size_t size)
{
	static const struct { size_t off, len; } mmu[] = {
		FIELD(struct vmem_mmu_config, mode), FIELD(struct vmem_mmu_config, guest_levels),
		FIELD(struct vmem_mmu_config, host_levels),
		FIELD(struct vmem_mmu_config, guest_page), FIELD(struct vmem_mmu_config, host_page),
		FIELD(struct vmem_mmu_config, guest_mem), FIELD(struct vmem_mmu_config, host_mem),
		FIELD(struct vmem_mmu_config, guest_placement),
		FIELD(struct vmem_mmu_config, host_placement),
		FIELD(struct vmem_mmu_config, pcid_mode), FIELD(struct vmem_mmu_config, pcid_count),
		FIELD(struct vmem_mmu_config, shadow_sync),
		FIELD(struct vmem_mmu_config, shadow_roots),
		FIELD(struct vmem_mmu_config, shadow_max_pages),
		FIELD(struct vmem_mmu_config, pwc_nested),
		FIELD(struct vmem_mmu_config, ntlb.entries), FIELD(struct vmem_mmu_config, ntlb.ways),
		FIELD(struct vmem_mmu_config, ntlb.repl), FIELD(struct vmem_mmu_config, seed),
		FIELD(struct vmem_mmu_config, limit_vms),
		FIELD(struct vmem_mmu_config, limit_aspaces),
	}, gen[] = {
		FIELD(struct vmem_tracegen_config, pattern),
		FIELD(struct vmem_tracegen_config, inner[0]),
		FIELD(struct vmem_tracegen_config, inner[1]),
		FIELD(struct vmem_tracegen_config, n_inner),
		FIELD(struct vmem_tracegen_config, count),
		FIELD(struct vmem_tracegen_config, footprint),
		FIELD(struct vmem_tracegen_config, base), FIELD(struct vmem_tracegen_config, size),
		FIELD(struct vmem_tracegen_config, stride),
		FIELD(struct vmem_tracegen_config, granule),
		FIELD(struct vmem_tracegen_config, alpha),
		FIELD(struct vmem_tracegen_config, write_ratio),
		FIELD(struct vmem_tracegen_config, code_base),
		FIELD(struct vmem_tracegen_config, code_size),
		FIELD(struct vmem_tracegen_config, processes),
		FIELD(struct vmem_tracegen_config, quantum),
		FIELD(struct vmem_tracegen_config, unmap_every),
		FIELD(struct vmem_tracegen_config, protect_every),
		FIELD(struct vmem_tracegen_config, event_pages),
		FIELD(struct vmem_tracegen_config, asid),
		FIELD(struct vmem_tracegen_config, va_bits),
	};
	const uint8_t *p = data, *end = data + size;
	struct vmem_mmu_config c;
	struct vmem_tracegen_config g;
	char err[512] = "", val[128];
	uint64_t which;

	/* Which fields to set (a bit each), then their values in order. */
	vmem_mmu_config_default(&c);
	which = take(&p, end, 4);
	for (size_t i = 0; i < sizeof(mmu) / sizeof(mmu[0]); i++)
		if (which >> i & 1)
			poke((char *)&c + mmu[i].off, mmu[i].len, take(&p, end, mmu[i].len));
	c.pcid = which >> 30 & 1;
	c.vpid = which >> 31 & 1;
	for (const struct vmem_config_key *k = vmem_mmu_config_keys(); k->key; k++)
		check(vmem_mmu_config_get(&c, k->key, val, sizeof(val)) == 0, "get", k->key);
	if (vmem_mmu_config_check(&c, err, sizeof(err)) != 0) {
		check_msg(err, "mmu check");
		check(vmem_mmu_config_check(&c, NULL, 0) != 0, "check without a buffer", err);
	} else {
		round_trip(&c);
	}
	check(vmem_mmu_config_get(&c, "no.such.key", val, sizeof(val)) != 0, "get", "no.such.key");

	vmem_tracegen_config_default(&g);
	which = take(&p, end, 4);
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++)
		if (which >> i & 1)
			poke((char *)&g + gen[i].off, gen[i].len, take(&p, end, gen[i].len));
	g.ifetch = which >> 31 & 1;
	if (vmem_tracegen_config_check(&g, err, sizeof(err)) != 0)
		check_msg(err, "tracegen check");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmem_mmu_config c;
	struct vmem_tracegen_config g;
	char err[512] = "", path[64];
	int fd;

	if (size < 1)
		return 0;
	if (data[0] >= 0xf0) {
		raw_fields(data + 1, size - 1);
		return 0;
	}
	vmem_mmu_config_default(&c);
	switch (data[0] % 3) {
	case 0:
		fd = fuzz_memfile(data + 1, size - 1, path, sizeof(path));
		if (vmem_mmu_config_load(&c, path, err, sizeof(err)) != 0) {
			check_msg(err, "load");
			check(strncmp(err, path, strlen(path)) == 0, "error without the file name",
			      err);
		}
		close(fd);
		break;
	case 1:
		each_line(data + 1, size - 1, mmu_line, &c);
		break;
	default:
		vmem_tracegen_config_default(&g);
		each_line(data + 1, size - 1, gen_line, &g);
		if (vmem_tracegen_config_check(&g, err, sizeof(err)) != 0)
			check_msg(err, "tracegen check");
		break;
	}
	if (vmem_mmu_config_check(&c, err, sizeof(err)) != 0)
		check_msg(err, "mmu check");
	round_trip(&c);
	return 0;
}
