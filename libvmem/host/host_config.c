/*
 * Configuration of the host memory manager: defaults with their sources, and key=value
 * parsing from one table that also answers --help-config.
 *
 * Two keys mean the same as for the translation machine and a program sets both from
 * one assignment: host.mem (the host's memory) and seed.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "host_internal.h"

#include "base/kvfile.h"
#include "base/parse.h"

enum key_type { K_BYTES, K_UINT, K_U64, K_PERMILLE, K_CLASS, K_SPEC };

struct key_def {
	struct vmem_host_config_key k;
	enum key_type type;
	size_t off;
};

#define F(field) offsetof(struct vmem_host_config, field)

static const struct key_def keys[] = {
	{ { "host.mem", "host memory for guest pages (the capacity the VMs overcommit), "
	    "e.g. 4g" }, K_BYTES, F(mem) },
	{ { "host.max_vms", "VMs at most" }, K_UINT, F(max_vms) },
	{ { "host.wmark.min", "free memory (per mille of host.mem) at or below which a fault "
	    "reclaims before it takes a frame" }, K_PERMILLE, F(wmark_min) },
	{ { "host.wmark.low", "free memory (per mille) below which the swap daemon wakes" },
	  K_PERMILLE, F(wmark_low) },
	{ { "host.wmark.high", "free memory (per mille) the swap daemon reclaims up to" },
	  K_PERMILLE, F(wmark_high) },
	{ { "host.reclaim_batch", "pages a reclaim pass asks the swap policy for (Linux's "
	    "SWAP_CLUSTER_MAX, 32)" }, K_UINT, F(reclaim_batch) },
	{ { "host.cpu_hz", "cycles per simulated second (converts device times and policy "
	    "periods)" }, K_U64, F(cpu_hz) },
	{ { "host.cost.zero_fill", "cycles of a host first touch: allocate, zero and map a "
	    "frame" }, K_UINT, F(cost_zero_fill) },
	{ { "host.cost.cow", "cycles of a copy-on-write break of a shared or zero page" },
	  K_UINT, F(cost_cow) },
	{ { "host.cost.fault", "cycles of the host's fault handling around a swap-in or "
	    "decompression" }, K_UINT, F(cost_fault) },
	{ { "host.cost.compress", "cycles to compress one page into the compressed tier" },
	  K_UINT, F(cost_compress) },
	{ { "host.cost.decompress", "cycles to decompress one page from it" }, K_UINT,
	  F(cost_decompress) },
	{ { "swap", "hypervisor swap victim policy, name[:key=value...]; none turns swapping "
	    "off" }, K_SPEC, F(swap) },
	{ { "swap.size", "swap device size" }, K_BYTES, F(swap_size) },
	{ { "swap.latency_us", "swap device latency of one read, microseconds" }, K_UINT,
	  F(swap_latency_us) },
	{ { "swap.mb_s", "swap device bandwidth, MB/s" }, K_UINT, F(swap_mb_s) },
	{ { "zswap.percent", "compressed tier in front of the swap device: at most this "
	    "percent of host.mem (0: off; zswap's max_pool_percent is 20)" }, K_UINT,
	  F(zswap_percent) },
	{ { "zswap.max_class", "compressibility class (0..15: compresses to (c+1)*256 bytes) "
	    "above which a page goes to the device instead" }, K_CLASS, F(zswap_max_class) },
	{ { "dedup", "same-page deduplication, name[:key=value...]; none: off" }, K_SPEC,
	  F(dedup) },
	{ { "balloon", "balloon target policy, name[:key=value...]; none: no ballooning" },
	  K_SPEC, F(balloon) },
	{ { "content.zero", "per mille of first-touched pages that stay zero (pages without "
	    "content records)" }, K_PERMILLE, F(content_zero) },
	{ { "content.image", "per mille of a VM's pages that start as its boot image's" },
	  K_PERMILLE, F(content_image) },
	{ { "content.image_vms", "VMs booted from one image: VM ids 0..n-1 share one, n..2n-1 "
	    "the next" }, K_UINT, F(content_image_vms) },
	{ { "content.class", "compressibility class (0..15) of pages written by the guest" },
	  K_CLASS, F(content_class) },
	{ { "thp.zero_fill", "cycles to zero a 2 MiB host page on a first touch (host.page=2m)" },
	  K_UINT, F(thp_zero_fill) },
	{ { "thp.collapse_cost", "cycles to copy a split 2 MiB region into a huge page" },
	  K_UINT, F(thp_collapse_cost) },
	{ { "thp.collapse_pages", "pages the collapse scans per period (khugepaged's "
	    "pages_to_scan; 0: no collapse)" }, K_UINT, F(thp_collapse_pages) },
	{ { "thp.collapse_ms", "collapse period in simulated ms (khugepaged's "
	    "scan_sleep_millisecs)" }, K_UINT, F(thp_collapse_ms) },
	{ { "seed", "seed of the content model and of random policies" }, K_U64, F(seed) },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void vmem_host_config_default(struct vmem_host_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mem = 4ull << 30;
	c->vm_mem = 1ull << 30;
	c->max_vms = 256;
	/* Linux keeps min_free_kbytes near 4 * sqrt(lowmem in KiB) and low/high 25 % and
	 * 50 % above it, scaled up by watermark_scale_factor (0.1 % of memory); 1/2/3 %
	 * leave room for a reclaim batch at the sizes simulated here. */
	c->wmark_min = 10;
	c->wmark_low = 20;
	c->wmark_high = 30;
	c->reclaim_batch = 32;
	c->cpu_hz = 2500000000ull;
	/* A first touch as the translation machine's cost.host_fault (docs/COST-MODEL.md:
	 * allocate, zero, map: ~2 us); a copy-on-write break copies instead of zeroing. */
	c->cost_zero_fill = 5000;
	c->cost_cow = 5000;
	c->cost_fault = 5000;
	/* Compression: a fault served from the compressed tier takes ~6 us in Google's
	 * zswap-based far memory (Lagar-Cavilla et al., ASPLOS 2019): 5000 + 10000 cycles
	 * at 2.5 GHz. Compressing takes about as long (an assumption: LZ4 compresses
	 * slower than it decompresses). */
	c->cost_compress = 12500;
	c->cost_decompress = 10000;
	/* The swap device: an NVMe SSD's 4 KiB random read (~80 us) and 1 GB/s of
	 * bandwidth, stated assumptions (docs/COST-MODEL.md). */
	c->swap_size = 4ull << 30;
	c->swap_latency_us = 80;
	c->swap_mb_s = 1000;
	c->zswap_percent = 0;
	c->zswap_max_class = 13;
	c->content_zero = 100;
	c->content_image = 300;
	c->content_image_vms = 4;
	c->content_class = 11;
	/* Zeroing 2 MiB at ~20 GB/s takes ~100 us, copying it at ~10 GB/s ~200 us (stated
	 * assumptions); khugepaged scans 4096 pages every 10 s by default
	 * (Documentation/admin-guide/mm/transhuge.rst). */
	c->thp_zero_fill = 250000;
	c->thp_collapse_cost = 500000;
	c->thp_collapse_pages = 4096;
	c->thp_collapse_ms = 10000;
	c->seed = 1;
	strcpy(c->swap, "random");
	strcpy(c->dedup, "none");
	strcpy(c->balloon, "none");
}

static const struct key_def *find(const char *key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].k.name, key) == 0)
			return &keys[i];
	return NULL;
}

int vmem_host_config_set(struct vmem_host_config *c, const char *key, const char *value,
			 char *err, size_t errlen)
{
	const struct key_def *k = find(key);
	char *field = (char *)c;
	uint64_t x;

	if (!k) {
		snprintf(err, errlen, "unknown key '%s'", key);
		return VMEM_ENOENT;
	}
	field += k->off;
	switch (k->type) {
	case K_SPEC:
		if (strlen(value) >= VMEM_HOST_POLICY_SPEC || !value[0]) {
			snprintf(err, errlen, "%s: expected a policy name[:key=value...] of 1 to %d "
				 "characters", key, VMEM_HOST_POLICY_SPEC - 1);
			return VMEM_EINVAL;
		}
		strcpy(field, value);
		return 0;
	case K_BYTES:
		if (!vmem_parse_bytes(value, &x)) {
			snprintf(err, errlen, "%s=%s: expected a byte count such as 4g or 512m", key,
				 value);
			return VMEM_EINVAL;
		}
		if (x % 4096) {
			snprintf(err, errlen, "%s=%s: expected a multiple of 4 KiB", key, value);
			return VMEM_EINVAL;
		}
		*(uint64_t *)(void *)field = x;
		return 0;
	case K_U64:
		if (!vmem_parse_count(value, &x)) {
			snprintf(err, errlen, "%s=%s: expected a whole number", key, value);
			return VMEM_EINVAL;
		}
		if (k->off == F(cpu_hz) && (x < 1000000 || x > 100000000000ull)) {
			snprintf(err, errlen, "%s=%s: expected 1m to 100g", key, value);
			return VMEM_EINVAL;
		}
		*(uint64_t *)(void *)field = x;
		return 0;
	default: {
		uint64_t max = k->type == K_PERMILLE ? 1000 : k->type == K_CLASS ? 15 : UINT32_MAX;

		if (!vmem_parse_count(value, &x) || x > max) {
			snprintf(err, errlen, "%s=%s: expected a whole number from 0 to %llu", key,
				 value, (unsigned long long)max);
			return VMEM_EINVAL;
		}
		if (k->off == F(swap_mb_s) && x == 0) {
			snprintf(err, errlen, "%s=%s: expected at least 1", key, value);
			return VMEM_EINVAL;
		}
		if (k->off == F(zswap_percent) && x > 100) {
			snprintf(err, errlen, "%s=%s: expected a percentage, 0 to 100", key, value);
			return VMEM_EINVAL;
		}
		*(unsigned *)(void *)field = (unsigned)x;
		return 0;
	}
	}
}

int vmem_host_config_get(const struct vmem_host_config *c, const char *key, char *buf,
			 size_t len)
{
	const struct key_def *k = find(key);
	const char *field = (const char *)c;

	if (!k)
		return VMEM_ENOENT;
	field += k->off;
	switch (k->type) {
	case K_SPEC:
		snprintf(buf, len, "%s", field);
		break;
	case K_BYTES:
	case K_U64:
		snprintf(buf, len, "%" PRIu64, *(const uint64_t *)(const void *)field);
		break;
	default:
		snprintf(buf, len, "%u", *(const unsigned *)(const void *)field);
		break;
	}
	return 0;
}

static struct vmem_host_config_key key_list[NKEYS + 1];

static void key_list_fill(void)
{
	for (size_t i = 0; i < NKEYS; i++)
		key_list[i] = keys[i].k;
}

const struct vmem_host_config_key *vmem_host_config_keys(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, key_list_fill);
	return key_list;
}

/* Keys both configurations have, meaning the same thing. */
static bool shared_key(const char *key)
{
	return strcmp(key, "host.mem") == 0 || strcmp(key, "seed") == 0;
}

static int set_either(struct vmem_host_config *hc, struct vmem_mmu_config *mc, const char *key,
		      const char *value, char *err, size_t errlen)
{
	int rc;

	if (find(key)) {
		rc = vmem_host_config_set(hc, key, value, err, errlen);
		if (rc || !shared_key(key))
			return rc;
	}
	rc = vmem_mmu_config_set(mc, key, value, err, errlen);
	if (rc == VMEM_ENOENT)
		snprintf(err, errlen, "unknown key '%s' (see --help-config)", key);
	return rc;
}

int vmem_host_setup_assign(struct vmem_host_config *hc, struct vmem_mmu_config *mc,
			   const char *assignment, char *err, size_t errlen)
{
	char key[128];
	const char *eq = strchr(assignment, '=');
	size_t n = eq ? (size_t)(eq - assignment) : 0;

	if (!eq || n == 0 || n >= sizeof(key)) {
		snprintf(err, errlen, "'%s': expected key=value", assignment);
		return VMEM_EINVAL;
	}
	memcpy(key, assignment, n);
	key[n] = '\0';
	return set_either(hc, mc, key, eq + 1, err, errlen);
}

struct both {
	struct vmem_host_config *hc;
	struct vmem_mmu_config *mc;
};

static int set_from_file(void *ctx, const char *key, const char *value, char *msg, size_t len)
{
	struct both *b = ctx;

	return set_either(b->hc, b->mc, key, value, msg, len);
}

int vmem_host_setup_load(struct vmem_host_config *hc, struct vmem_mmu_config *mc,
			 const char *path, char *err, size_t errlen)
{
	struct both b = { hc, mc };

	return kv_file_read(path, set_from_file, &b, err, errlen);
}
