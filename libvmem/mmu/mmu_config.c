/*
 * Configuration of the translation machine: defaults and key=value parsing.
 *
 * Every key lives in one table with its type, its place in struct vmem_mmu_config and a
 * line of help; parsing, printing and `vmemsim --help-config` all read that table.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmem/mmu.h"
#include "vmem/xcache.h"

#include "base/kvfile.h"
#include "base/parse.h"

enum key_type {
	K_UINT,      /* unsigned, 32-bit */
	K_U64,       /* unsigned, 64-bit */
	K_BYTES,     /* 64-bit byte count with optional k/m/g/t suffix (binary) */
	K_BOOL,      /* 0/1, on/off, yes/no, true/false */
	K_PAGE,      /* 4k / 2m / 1g */
	K_GEOM,      /* ENTRIES[:WAYS[:lru|plru|random]] */
	K_MODE,      /* native / nested / shadow */
	K_SYNC,      /* trap / unsync */
	K_PLACE,     /* sequential / random */
	K_LEVELS,    /* 4 / 5 */
	K_PCIDMODE,  /* per_as / linux */
	K_PWCNESTED, /* combined / guest_physical */
};

struct key_def {
	const char *key;
	enum key_type type;
	size_t off;
	const char *help;
};

#define F(field) offsetof(struct vmem_mmu_config, field)

static const struct key_def keys[] = {
	{ "mode", K_MODE, F(mode),
	  "translation mode: native, nested or shadow; a program's --mode overrides it; "
	  "without either, vmemsim runs all three and vmem-walk nested" },
	{ "guest.levels", K_LEVELS, F(guest_levels), "guest page-table levels: 4 or 5" },
	{ "host.levels", K_LEVELS, F(host_levels), "host (EPT) page-table levels: 4 or 5" },
	{ "guest.page", K_PAGE, F(guest_page),
	  "page size the guest maps on first touch (4k, 2m, 1g; falls back to smaller)" },
	{ "host.page", K_PAGE, F(host_page), "page size the host maps guest memory with" },
	{ "guest.mem", K_BYTES, F(guest_mem), "guest-physical memory per VM, e.g. 16g" },
	{ "host.mem", K_BYTES, F(host_mem), "host-physical memory, e.g. 64g" },
	{ "guest.placement", K_PLACE, F(guest_placement),
	  "guest frame placement: sequential or random (seeded)" },
	{ "host.placement", K_PLACE, F(host_placement), "host frame placement likewise" },
	{ "pcid", K_BOOL, F(pcid), "PCID tags: CR3 loads keep the TLB (1) or flush it (0)" },
	{ "pcid.mode", K_PCIDMODE, F(pcid_mode),
	  "PCID assignment: per_as (one PCID per address space) or linux (pcid.count slots "
	  "reused round-robin, a reused slot flushed, as Linux's choose_new_asid)" },
	{ "pcid.count", K_UINT, F(pcid_count),
	  "PCID slots per CPU with pcid.mode=linux (Linux: TLB_NR_DYN_ASIDS = 6), 1..4095" },
	{ "vpid", K_BOOL, F(vpid), "VPID tags: VM switches keep the TLB (1) or flush it (0)" },
	{ "shadow.sync", K_SYNC, F(shadow_sync),
	  "shadow coherence: unsync (default, as KVM: last-level pages go unsync, resynced at "
	  "INVLPG / CR3 load) or trap (every guest PTE write exits)" },
	{ "shadow.roots", K_UINT, F(shadow_roots),
	  "shadow roots cached per VM (LRU); an evicted root's shadow pages are kept" },
	{ "shadow.max_pages", K_UINT, F(shadow_max_pages),
	  "shadow table pages per VM before the least recently loaded trees are zapped "
	  "(0: guest.mem / 4 KiB * 20 / 1000, at least 64, as KVM derives it)" },
	{ "seed", K_U64, F(seed), "seed for random placement and random replacement" },
	{ "limit.vms", K_UINT, F(limit_vms),
	  "VMs a trace may create, 1..65536 (each costs host memory: its tables, its frames)" },
	{ "limit.aspaces", K_UINT, F(limit_aspaces),
	  "address spaces a trace may create, all VMs together (each costs its page tables)" },
	{ "tlb.l1d.4k", K_GEOM, F(tlb.l1d[0]), "L1 data TLB, 4 KiB pages: ENTRIES[:WAYS[:REPL]]" },
	{ "tlb.l1d.2m", K_GEOM, F(tlb.l1d[1]), "L1 data TLB, 2 MiB pages" },
	{ "tlb.l1d.1g", K_GEOM, F(tlb.l1d[2]), "L1 data TLB, 1 GiB pages" },
	{ "tlb.l1i.4k", K_GEOM, F(tlb.l1i[0]), "L1 instruction TLB, 4 KiB pages" },
	{ "tlb.l1i.2m", K_GEOM, F(tlb.l1i[1]), "L1 instruction TLB, 2 MiB pages" },
	{ "tlb.l1i.1g", K_GEOM, F(tlb.l1i[2]), "L1 instruction TLB, 1 GiB pages" },
	{ "tlb.l2", K_GEOM, F(tlb.l2), "second-level TLB (STLB) for 4 KiB and 2 MiB pages" },
	{ "tlb.l2.1g", K_GEOM, F(tlb.l2_1g), "second-level TLB for 1 GiB pages" },
	{ "pwc.pml5e", K_GEOM, F(pwc.level[5]), "paging-structure cache of PML5 entries" },
	{ "pwc.pml4e", K_GEOM, F(pwc.level[4]), "paging-structure cache of PML4 entries" },
	{ "pwc.pdpte", K_GEOM, F(pwc.level[3]), "paging-structure cache of PDPT entries" },
	{ "pwc.pde", K_GEOM, F(pwc.level[2]), "paging-structure cache of page-directory entries" },
	{ "pwc.nested", K_PWCNESTED, F(pwc_nested),
	  "nested walks: guest PWC entries hold the next guest table's host-physical address "
	  "(combined: Intel's combined paging-structure-cache entries; a hit also skips that "
	  "table's host walk) or its guest-physical address (guest_physical)" },
	{ "host.pwc.pml5e", K_GEOM, F(host_pwc.level[5]), "host (EPT) walk cache, level 5" },
	{ "host.pwc.pml4e", K_GEOM, F(host_pwc.level[4]), "host (EPT) walk cache, level 4" },
	{ "host.pwc.pdpte", K_GEOM, F(host_pwc.level[3]), "host (EPT) walk cache, level 3" },
	{ "host.pwc.pde", K_GEOM, F(host_pwc.level[2]), "host (EPT) walk cache, level 2" },
	{ "ntlb", K_GEOM, F(ntlb), "nested TLB (guest-physical -> host-physical, 4 KiB granules)" },
	{ "cost.access", K_UINT, F(cost.access), "cycles of an access itself (not translation)" },
	{ "cost.tlb_l1_hit", K_UINT, F(cost.tlb_l1_hit), "extra cycles of an L1 TLB hit" },
	{ "cost.tlb_l2_hit", K_UINT, F(cost.tlb_l2_hit), "cycles of an L1 miss that hits the STLB" },
	{ "cost.walk_start", K_UINT, F(cost.walk_start), "fixed cycles to start a page walk" },
	{ "cost.ref_mem", K_UINT, F(cost.ref_mem), "cycles per walk reference made" },
	{ "cost.ref_pwc", K_UINT, F(cost.ref_pwc), "cycles per reference skipped by a walk cache" },
	{ "cost.ref_ntlb", K_UINT, F(cost.ref_ntlb), "cycles per host reference skipped by the nested TLB" },
	{ "cost.vm_exit", K_UINT, F(cost.vm_exit), "cycles of a VM exit and re-entry" },
	{ "cost.guest_fault", K_UINT, F(cost.guest_fault), "cycles of the guest's page-fault handler" },
	{ "cost.host_fault", K_UINT, F(cost.host_fault), "cycles of the host's first-touch fault" },
	{ "cost.shadow_fill", K_UINT, F(cost.shadow_fill), "VMM cycles to fill a shadow entry" },
	{ "cost.pte_emulate", K_UINT, F(cost.pte_emulate), "VMM cycles to emulate a guest PTE write" },
	{ "cost.resync", K_UINT, F(cost.resync), "VMM cycles to resync one unsync shadow page" },
	{ NULL, 0, 0, NULL },
};

const struct vmem_config_key *vmem_mmu_config_keys(void)
{
	static struct vmem_config_key out[sizeof(keys) / sizeof(keys[0])];

	if (!out[0].key)
		for (size_t i = 0; keys[i].key; i++)
			out[i] = (struct vmem_config_key){ keys[i].key, keys[i].help };
	return out;
}

void vmem_mmu_config_default(struct vmem_mmu_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = VMEM_MODE_NATIVE;
	c->guest_levels = 4;
	c->host_levels = 4;
	c->guest_page = VMEM_PAGE_4K;
	c->host_page = VMEM_PAGE_4K;
	c->guest_mem = 16ull << 30;
	c->host_mem = 64ull << 30;
	c->pcid = true;
	c->vpid = true;
	c->pcid_mode = VMEM_PCID_PER_AS;
	/* Linux's TLB_NR_DYN_ASIDS (arch/x86/include/asm/tlbflush.h). */
	c->pcid_count = 6;
	/* What KVM does (Documentation/virt/kvm/x86/mmu.rst, "unsync" pages): last-level
	 * shadow pages go unsync and are resynchronized on INVLPG and CR3 loads. */
	c->shadow_sync = VMEM_SHADOW_UNSYNC;
	/* KVM keeps the current root and KVM_MMU_NUM_PREV_ROOTS = 3 previous ones. */
	c->shadow_roots = 4;
	vmem_tlb_config_default(&c->tlb);
	vmem_pwc_config_default(&c->pwc);
	vmem_pwc_config_default(&c->host_pwc);
	/* Intel's behaviour (SDM Vol. 3C, 28.3.1; 29.4.1 in recent revisions). */
	c->pwc_nested = VMEM_PWC_NESTED_COMBINED;
	/* Nested TLB: 32 entries, fully associative (an assumption; AMD does not document
	 * the size; Bhargava et al., ASPLOS 2008, evaluate NTLBs of this order). */
	c->ntlb = (struct vmem_cache_geom){ 32, 0, VMEM_REPL_LRU };
	vmem_cost_default(&c->cost);
	c->seed = 1;
	c->limit_vms = 64;
	c->limit_aspaces = 4096;
}

static const char *const sync_names[] = { "trap", "unsync" };
static const char *const place_names[] = { "sequential", "random" };
static const char *const pcid_mode_names[] = { "per_as", "linux" };
static const char *const pwc_nested_names[] = { "combined", "guest_physical" };

static int pick(const char *v, const char *const *names, unsigned n, unsigned *out)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return VMEM_EINVAL;
}

/*
 * Numbers in strtoull's grammar, base 0: 0x hex, octal after a leading 0 ("010" is 8),
 * leading blanks and a sign allowed. Byte sizes add an optional k/m/g/t and then an
 * optional b ("512b", "16gb"; not "16GiB"). The parsers of parse.h read a stricter grammar.
 */
static int parse_u64(const char *v, uint64_t *out)
{
	char *end;

	if (!*v || *v == '-')
		return VMEM_EINVAL;
	errno = 0;
	*out = strtoull(v, &end, 0);
	return errno || *end ? VMEM_EINVAL : 0;
}

static int parse_bytes(const char *v, uint64_t *out)
{
	char *end;
	unsigned shift = 0;

	if (!*v || *v == '-')
		return VMEM_EINVAL;
	errno = 0;
	*out = strtoull(v, &end, 0);
	if (errno)
		return VMEM_EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || (shift && *out > (UINT64_MAX >> shift)))
		return VMEM_EINVAL;
	*out <<= shift;
	return 0;
}

/* The most entries of a cache geometry (TLB, walk cache, nested TLB): 16m. */
#define GEOM_MAX_ENTRIES (1u << 24)

static int parse_geom(const char *v, struct vmem_cache_geom *g)
{
	char buf[64], *ways, *repl;
	uint64_t e, w = 0;

	if (strlen(v) >= sizeof(buf))
		return VMEM_EINVAL;
	strcpy(buf, v);
	ways = strchr(buf, ':');
	if (ways) {
		*ways++ = '\0';
		repl = strchr(ways, ':');
		if (repl)
			*repl++ = '\0';
	} else {
		repl = NULL;
	}
	if (parse_u64(buf, &e) || e > GEOM_MAX_ENTRIES || (ways && parse_u64(ways, &w)) || w > e)
		return VMEM_EINVAL;
	struct vmem_cache_geom n = { (uint32_t)e, (uint32_t)w, g->repl };

	if (repl && vmem_repl_parse(repl, &n.repl))
		return VMEM_EINVAL;
	if (vmem_xcache_geom_check(&n))
		return VMEM_EINVAL;
	*g = n;
	return 0;
}

static const char *expected(enum key_type t)
{
	switch (t) {
	case K_UINT: case K_U64: return "an unsigned number";
	case K_BYTES: return "a size such as 512m or 16g";
	case K_BOOL: return "0 or 1";
	case K_PAGE: return "4k, 2m or 1g";
	case K_GEOM: return "ENTRIES[:WAYS[:lru|plru|random]] with a power-of-two number of sets";
	case K_MODE: return "native, nested or shadow";
	case K_SYNC: return "trap or unsync";
	case K_PLACE: return "sequential or random";
	case K_LEVELS: return "4 or 5";
	case K_PCIDMODE: return "per_as or linux";
	case K_PWCNESTED: return "combined or guest_physical";
	}
	return "?";
}

static int set_value(struct vmem_mmu_config *c, const struct key_def *k, const char *v)
{
	char *p = (char *)c + k->off;
	uint64_t u;
	unsigned e;
	bool b;

	switch (k->type) {
	case K_UINT:
		if (parse_u64(v, &u) || u > UINT32_MAX)
			return VMEM_EINVAL;
		*(uint32_t *)p = (uint32_t)u;
		return 0;
	case K_U64:
	case K_BYTES:
		/* Parse into u: the parsers leave partial results behind on errors. */
		if (k->type == K_U64 ? parse_u64(v, &u) : parse_bytes(v, &u))
			return VMEM_EINVAL;
		*(uint64_t *)p = u;
		return 0;
	case K_BOOL:
		if (!vmem_parse_bool(v, VMEM_PARSE_CASE_EXACT, &b))
			return VMEM_EINVAL;
		*(bool *)p = b;
		return 0;
	case K_PAGE:
		return vmem_page_size_parse(v, (enum vmem_page_size *)p);
	case K_GEOM:
		return parse_geom(v, (struct vmem_cache_geom *)p);
	case K_MODE:
		return vmem_mode_parse(v, (enum vmem_mode *)p);
	case K_SYNC:
		if (pick(v, sync_names, 2, &e))
			return VMEM_EINVAL;
		*(enum vmem_shadow_sync *)p = (enum vmem_shadow_sync)e;
		return 0;
	case K_PLACE:
		if (pick(v, place_names, 2, &e))
			return VMEM_EINVAL;
		*(unsigned *)p = e;
		return 0;
	case K_LEVELS:
		if (strcmp(v, "4") && strcmp(v, "5"))
			return VMEM_EINVAL;
		*(unsigned *)p = (unsigned)(v[0] - '0');
		return 0;
	case K_PCIDMODE:
		if (pick(v, pcid_mode_names, 2, &e))
			return VMEM_EINVAL;
		*(enum vmem_pcid_mode *)p = (enum vmem_pcid_mode)e;
		return 0;
	case K_PWCNESTED:
		if (pick(v, pwc_nested_names, 2, &e))
			return VMEM_EINVAL;
		*(enum vmem_pwc_nested *)p = (enum vmem_pwc_nested)e;
		return 0;
	}
	return VMEM_EINVAL;
}

static const struct key_def *find_key(const char *key)
{
	for (size_t i = 0; keys[i].key; i++)
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

int vmem_mmu_config_set(struct vmem_mmu_config *c, const char *key, const char *value,
			char *err, size_t errlen)
{
	const struct key_def *k = find_key(key);

	if (!k) {
		if (err)
			snprintf(err, errlen, "unknown key '%s' (vmemsim --help-config lists them)", key);
		return VMEM_EINVAL;
	}
	if (set_value(c, k, value)) {
		/* Running several modes is a program's choice, not the machine's. */
		if (err && k->type == K_MODE && strcmp(value, "all") == 0)
			snprintf(err, errlen, "%s: bad value 'all': expected %s (a configuration "
				 "describes one machine; vmemsim --mode all runs the three)", key,
				 expected(k->type));
		else if (err)
			snprintf(err, errlen, "%s: bad value '%s': expected %s", key, value,
				 expected(k->type));
		return VMEM_EINVAL;
	}
	return 0;
}

int vmem_mmu_config_assign(struct vmem_mmu_config *c, const char *assignment, char *err,
			   size_t errlen)
{
	char key[128];
	const char *eq = strchr(assignment, '=');
	size_t n = eq ? (size_t)(eq - assignment) : 0;

	if (!eq || n == 0 || n >= sizeof(key)) {
		if (err)
			snprintf(err, errlen, "'%s': expected key=value", assignment);
		return VMEM_EINVAL;
	}
	memcpy(key, assignment, n);
	key[n] = '\0';
	return vmem_mmu_config_set(c, key, eq + 1, err, errlen);
}

static int set_from_file(void *ctx, const char *key, const char *value, char *msg,
			 size_t len)
{
	return vmem_mmu_config_set(ctx, key, value, msg, len);
}

int vmem_mmu_config_load(struct vmem_mmu_config *c, const char *path, char *err,
			 size_t errlen)
{
	return kv_file_read(path, set_from_file, c, err, errlen);
}

/* Writes "KEY=VALUE: constraint" into err (if not NULL); returns VMEM_EINVAL. */
static int violation(char *err, size_t errlen, const struct vmem_mmu_config *c, const char *key,
		     const char *fmt, ...)
{
	char val[64], what[256];
	va_list ap;

	if (!err)
		return VMEM_EINVAL;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	vmem_mmu_config_get(c, key, val, sizeof(val));
	snprintf(err, errlen, "%s=%s: %s", key, val, what);
	return VMEM_EINVAL;
}

/* An enumeration field holds no valid value: "KEY=N: expected ...". */
static int out_of_range(char *err, size_t errlen, const char *key, int value)
{
	if (err)
		snprintf(err, errlen, "%s=%d: expected %s", key, value, expected(find_key(key)->type));
	return VMEM_EINVAL;
}

/* Why a cache geometry cannot be built, or NULL when it can. */
static const char *geom_problem(const struct vmem_cache_geom *g)
{
	uint32_t ways = g->ways ? g->ways : g->entries;

	if (g->repl != VMEM_REPL_LRU && g->repl != VMEM_REPL_PLRU && g->repl != VMEM_REPL_RANDOM)
		return "replacement must be lru, plru or random";
	if (g->entries > GEOM_MAX_ENTRIES)
		return "ENTRIES must be at most 16m";
	if (g->entries == 0 || vmem_xcache_geom_check(g) == 0)
		return NULL;
	if (ways > g->entries || g->entries % ways)
		return "ENTRIES must be a multiple of WAYS";
	if (g->repl == VMEM_REPL_PLRU && (ways & (ways - 1)))
		return "plru needs a power-of-two number of WAYS";
	return "ENTRIES / WAYS (the number of sets) must be a power of two";
}

int vmem_mmu_config_check(const struct vmem_mmu_config *c, char *err, size_t errlen)
{
	const uint64_t two_mib = 2ull << 20;

	/* Enumerations out of range can only come from code that fills the struct itself. */
	if ((unsigned)c->mode >= VMEM_MODES)
		return out_of_range(err, errlen, "mode", (int)c->mode);
	if ((unsigned)c->guest_page >= VMEM_PAGE_SIZES)
		return out_of_range(err, errlen, "guest.page", (int)c->guest_page);
	if ((unsigned)c->host_page >= VMEM_PAGE_SIZES)
		return out_of_range(err, errlen, "host.page", (int)c->host_page);
	if (c->guest_placement > 1)
		return out_of_range(err, errlen, "guest.placement", (int)c->guest_placement);
	if (c->host_placement > 1)
		return out_of_range(err, errlen, "host.placement", (int)c->host_placement);
	if ((unsigned)c->pcid_mode > VMEM_PCID_LINUX)
		return out_of_range(err, errlen, "pcid.mode", (int)c->pcid_mode);
	if ((unsigned)c->shadow_sync > VMEM_SHADOW_UNSYNC)
		return out_of_range(err, errlen, "shadow.sync", (int)c->shadow_sync);
	if ((unsigned)c->pwc_nested > VMEM_PWC_NESTED_GUEST_PHYSICAL)
		return out_of_range(err, errlen, "pwc.nested", (int)c->pwc_nested);
	if (c->guest_levels != 4 && c->guest_levels != 5)
		return violation(err, errlen, c, "guest.levels", "must be 4 or 5");
	if (c->host_levels != 4 && c->host_levels != 5)
		return violation(err, errlen, c, "host.levels", "must be 4 or 5");
	/* Frames are allocated in 2 MiB groups (the large-page allocator's unit). */
	if (c->guest_mem < two_mib || c->guest_mem % two_mib)
		return violation(err, errlen, c, "guest.mem", "must be a multiple of 2m, at least 2m");
	if (c->host_mem < two_mib || c->host_mem % two_mib)
		return violation(err, errlen, c, "host.mem", "must be a multiple of 2m, at least 2m");
	if (c->shadow_roots == 0)
		return violation(err, errlen, c, "shadow.roots", "must be at least 1");
	if (c->limit_vms == 0 || c->limit_vms > 65536)
		return violation(err, errlen, c, "limit.vms", "must be 1..65536 (16-bit VM ids)");
	if (c->limit_aspaces == 0)
		return violation(err, errlen, c, "limit.aspaces", "must be at least 1");
	if (c->pcid_count == 0 || c->pcid_count > 4095)
		return violation(err, errlen, c, "pcid.count", "must be 1..4095 (12-bit PCIDs, 0 "
				 "reserved)");
	/* Room for the running tree's root and one path below it. */
	if (c->shadow_max_pages != 0 && c->shadow_max_pages < c->guest_levels)
		return violation(err, errlen, c, "shadow.max_pages", "must be 0 (derived from "
				 "guest.mem) or at least guest.levels=%u, room for a root and one "
				 "path below it", c->guest_levels);
	for (size_t i = 0; keys[i].key; i++) {
		const char *why;

		if (keys[i].type != K_GEOM)
			continue;
		why = geom_problem((const struct vmem_cache_geom *)((const char *)c + keys[i].off));
		if (why)
			return violation(err, errlen, c, keys[i].key, "%s", why);
	}
	return 0;
}

/* The largest binary suffix that divides the size exactly: 16g, 512m, 4096. */
static void format_bytes(uint64_t v, char *buf, size_t len)
{
	static const char suffix[] = "tgmk";

	for (unsigned i = 0; i < 4; i++) {
		unsigned shift = 40 - 10 * i;

		if (v && v % (1ull << shift) == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", v >> shift, suffix[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
}

/* An absent cache (0 entries) has no ways, whatever the field holds: "0:0:lru". */
static void format_geom(const struct vmem_cache_geom *g, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu32 ":%" PRIu32 ":%s", g->entries, g->entries ? g->ways : 0,
		 vmem_repl_name(g->repl));
}

int vmem_mmu_config_get(const struct vmem_mmu_config *c, const char *key, char *buf,
			size_t len)
{
	const struct key_def *k = find_key(key);
	const char *p;

	if (!k)
		return VMEM_ENOENT;
	p = (const char *)c + k->off;
	switch (k->type) {
	case K_UINT:
		snprintf(buf, len, "%" PRIu32, *(const uint32_t *)p);
		break;
	case K_U64:
		snprintf(buf, len, "%" PRIu64, *(const uint64_t *)p);
		break;
	case K_BYTES:
		format_bytes(*(const uint64_t *)p, buf, len);
		break;
	case K_BOOL:
		snprintf(buf, len, "%d", *(const bool *)p ? 1 : 0);
		break;
	case K_PAGE:
		snprintf(buf, len, "%s", vmem_page_size_name(*(const enum vmem_page_size *)p));
		break;
	case K_GEOM:
		format_geom((const struct vmem_cache_geom *)p, buf, len);
		break;
	case K_MODE:
		snprintf(buf, len, "%s", vmem_mode_name(*(const enum vmem_mode *)p));
		break;
	case K_SYNC:
		snprintf(buf, len, "%s", sync_names[*(const enum vmem_shadow_sync *)p & 1]);
		break;
	case K_PLACE:
		snprintf(buf, len, "%s", place_names[*(const unsigned *)p & 1]);
		break;
	case K_LEVELS:
		snprintf(buf, len, "%u", *(const unsigned *)p);
		break;
	case K_PCIDMODE:
		snprintf(buf, len, "%s", pcid_mode_names[*(const enum vmem_pcid_mode *)p & 1]);
		break;
	case K_PWCNESTED:
		snprintf(buf, len, "%s", pwc_nested_names[*(const enum vmem_pwc_nested *)p & 1]);
		break;
	}
	return 0;
}
