/*
 * The configuration parsers: vmem_mmu_config_load on arbitrary file contents,
 * vmem_mmu_config_assign and vmem_tracegen_config_set on arbitrary lines, then a
 * get -> set -> get round trip of every machine key, which must give the text back.
 *
 * Byte 0 chooses what the rest is: 0 a configuration file, 1 lines of KEY=VALUE for the
 * machine, 2 lines of KEY=VALUE for the trace generator.
 */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmem_mmu_config c;
	struct vmem_tracegen_config g;
	char err[512] = "", path[64];
	int fd;

	if (size < 1)
		return 0;
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
	round_trip(&c);
	return 0;
}
