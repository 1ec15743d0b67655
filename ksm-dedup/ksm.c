/*
 * ksm: same-page deduplication as Linux's Kernel Samepage Merging does it (mm/ksm.c,
 * described in Documentation/admin-guide/mm/ksm.rst), as a dedup policy of the host
 * memory manager (vmem/host_policy.h): dedup=ksm:pages_to_scan=100:sleep_millisecs=20.
 *
 * The algorithm
 * -------------
 * A background thread (ksmd) wakes every sleep_millisecs, looks at pages_to_scan pages and
 * goes back to sleep. Its cursor walks every page of every registered memory area in turn;
 * one walk over all of them is a full scan (full_scans). Here the areas are the VMs' guest
 * memories, in the order the VMs were created, and the clock is the manager's simulated
 * time: the batches fall at start + k * sleep_millisecs (k = 1, 2, ...), converted to
 * cycles with vmem_host_cycles_per_ms, so after N ms of simulated time the scanner has
 * looked at pages_to_scan * floor(N / sleep_millisecs) pages (within one full scan; see
 * the end of a scan below). Only pages that have memory count: a page never touched,
 * swapped out, compressed or ballooned is passed over at no cost, as ksmd passes over
 * addresses with no page.
 *
 * Each page the scanner has met keeps a small record (the kernel's rmap_item: 64 bytes
 * on 64-bit) with the checksum of its content at the last look. A page is a merge
 * candidate only when its checksum has not changed since the previous full scan: a page
 * whose content changed is volatile (pages_volatile) and is only re-checksummed. This is
 * why a fresh page needs two full scans to be merged.
 *
 * Two indexes sort the candidates by content:
 *   - the unstable tree holds pages seen unchanged in this full scan and not yet merged.
 *     Their content may change under it (they are still writable), so it is trusted only
 *     through a full compare, and it is emptied when a new full scan starts;
 *   - the stable tree holds the merged pages (KSM pages): read-only host frames, so their
 *     content cannot change while they are in it. It is never emptied; a node leaves it
 *     when its last mapper goes.
 * A candidate is first looked up in the stable tree (a hit merges it into the KSM page:
 * pages_sharing grows by one), then in the unstable tree: a hit there merges the two
 * pages into a new KSM page (the tree page's frame becomes it, write-protected; the
 * scanned page's frame is freed), which moves to the stable tree (pages_shared grows by
 * one, pages_sharing by one); a miss inserts the page into the unstable tree
 * (pages_unshared). Merging goes through vmem_host_merge, which does the full compare
 * and remaps the page read-only; a guest write to it later costs a copy-on-write break
 * in the manager, which tells us through on_unshare so the stable index drops that
 * mapper (and the node, with the frame, when it was the last).
 *
 * Here the trees are hash tables keyed by (content hash, merge group) (ksm_tree.c). Linux
 * sorts by memcmp of the contents because it has no collision-free key; the manager's
 * 64-bit content hash stands for the content (two pages with equal hashes hold equal
 * contents, which vmem_host_merge checks again), so an exact-match table finds the same
 * partner the tree walk would find, in O(1) instead of O(log n) compares. Every count
 * KSM reports depends only on which pages match, not on the order of a tree walk, so the
 * counters are the ones the trees would give. (When several unstable pages hold one
 * content, the tree keeps one of them: so does the table.)
 *
 * The knobs, with the kernel's defaults:
 *   pages_to_scan (100), sleep_millisecs (20): the scan rate.
 *   max_page_sharing (256): at most that many pages map one KSM page (so that its reverse
 *     map stays short). A content with more duplicates gets further KSM pages ("dups")
 *     linked in a stable node chain (stable_node_chains, stable_node_dups); a candidate
 *     merges into the fullest dup that still has room, and when all are full it waits in
 *     the unstable tree for a partner to make a new dup with. A chain whose dups fall to
 *     one becomes a plain node again.
 *   use_zero_pages (0): a candidate whose content is all zeros is mapped onto the host's
 *     zero page (vmem_host_merge_zero) instead of a KSM page: no stable node, no reverse
 *     map; counted in ksm_zero_pages. Its record is freed at once (Linux frees it when the
 *     scanner next passes the page, which is then no longer an anonymous page).
 *   smart_scan (1): a page that keeps failing to merge is skipped for a growing number of
 *     full scans. Its record counts the scans it was looked at (its age, never reset):
 *     ages 0..2 are always looked at; after that the page is looked at once, then skipped
 *     1 (age <= 3), 2 (<= 5), 4 (<= 8) or 8 full scans, and so on (pages_skipped). A
 *     skipped page is not scanned and costs nothing from the batch. KSM pages are never
 *     skipped.
 *   advisor_mode (none | scan-time): the scan-time advisor sets pages_to_scan itself,
 *     starting from advisor_min_pages_to_scan, so that a full scan takes
 *     advisor_target_scan_time seconds (200). After each full scan it scales pages_to_scan
 *     by scan_time / target_scan_time and by a smoothed (exponentially weighted, 30 %)
 *     ratio of this scan's time to the last; then caps it so that ksmd's CPU share stays
 *     between 10 % and advisor_max_cpu (70 %), assuming CPU grows with pages_to_scan, and
 *     keeps it within advisor_min_pages_to_scan (500) .. advisor_max_pages_to_scan
 *     (30000). The arithmetic is the kernel's scan_time_advisor (whole seconds and
 *     integer percents; the average starts from 0 as the kernel's does), plus the lower
 *     limit of advisor_min_pages_to_scan that ksm.rst documents. CPU time is modelled:
 *     each scanned page costs cost_scan cycles and each merge attempt cost_merge cycles
 *     of ksmd's CPU (the defaults, 2500 and 25000 cycles, are 1 us and 10 us at the
 *     default 2.5 GHz: an assumption of about 1 us to checksum 4 KiB and look it up, and
 *     10 us to write-protect, compare and remap a page, in line with the 50-94 K merges/s
 *     measured at pages_to_scan=10000 on a 2-core machine, ../shared/OVERCOMMIT.md). The
 *     model charges this CPU to the scanner only (cpu_cycles), not to the guests, and the
 *     batches stay sleep_millisecs apart whatever they cost.
 *
 * Scope (a knob Linux does not have): scope=vm (the default) merges pages of one VM
 * only; scope=domain merges within a trust domain of domain_vms VMs (VM ids id /
 * domain_vms); scope=all merges across all VMs. Cross-VM merging is off unless asked
 * for: a write to a merged page takes a copy-on-write fault that another tenant can time,
 * which leaks whether it holds the same content (ksm.rst asks to merge only mutually
 * trusted workloads; VMware ESX turned inter-VM sharing off by default and shares only
 * within a salt group). The scope is part of the index key, so pages of different groups
 * never meet. Zero pages go to the host's one zero page in every scope, as with Linux's
 * use_zero_pages.
 *
 * Counters (stat and names), under the names of /sys/kernel/mm/ksm/: pages_scanned,
 * pages_shared (KSM pages: frames in use for merged content), pages_sharing (further
 * mappings of them: the pages saved), pages_unshared (unstable tree), pages_volatile
 * (records in neither tree: rmap items - shared - sharing - unshared), pages_skipped,
 * full_scans, stable_node_chains, stable_node_dups, ksm_zero_pages, general_profit
 * ((pages_sharing + ksm_zero_pages) * 4096 - 64 * records); also ksm_rmap_items,
 * pages_to_scan (as the advisor moves it) and cpu_cycles (ksmd's modelled CPU). Per VM,
 * as /proc/PID/ksm_stat names them: vm.<id>.ksm_rmap_items, vm.<id>.ksm_zero_pages,
 * vm.<id>.ksm_merging_pages (its pages that map a KSM page) and vm.<id>.ksm_process_profit
 * ((merging + zero pages) * 4096 - 64 * its records, the kernel's formula, which counts
 * every mapper of a KSM page as saved, so it adds up to more than general_profit); and
 * vm.<id>.profit, which splits each KSM page's saving fairly: a KSM page with r mappers
 * saves r - 1 frames, and a VM with c of those mappers is credited c * (r - 1) / r of
 * them; plus its zero pages, minus 64 bytes per record of its own. The VMs' profits add
 * up to general_profit, and vm.<id>.profit is also the VM's dedup_profit in
 * vmem_host_vm_stats (refreshed when the clock advances after a batch or a copy-on-write
 * break of a KSM page; a write to a zero page shows there after the next batch).
 *
 * What is simplified: there is no madvise: every VM's memory is mergeable (Linux's
 * prctl(PR_SET_MEMORY_MERGE) for the whole VM process); no NUMA (merge_across_nodes is
 * moot), no huge pages to split, no run=2 (unmerge); copy-on-write breaks update the
 * counters at once, where Linux updates them when the scanner next visits the page; the
 * chain of a content is collapsed to a plain node as soon as one dup is left, where Linux
 * prunes chains lazily. As in Linux, the unstable tree is emptied when a full scan
 * starts, but a page inserted in the last full scan counts in pages_unshared (not in
 * pages_volatile) until the scanner comes to it again. As in ksmd, the batch that finds
 * the end of a full scan stops there, and the next batch starts the next one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmem/host_policy.h"

#include "host/policy_builtin.h"

#include "ksm_tree.h"

#define NIL UINT32_MAX
#define PAGE_BYTES 4096
#define RMAP_ITEM_BYTES 64     /* sizeof(struct ksm_rmap_item) on 64-bit Linux */
#define ADVISOR_MIN_CPU 10     /* KSM_ADVISOR_MIN_CPU, percent */
#define EWMA_WEIGHT 30         /* the advisor's smoothing, percent of the newest value */

enum { IT_NONE, IT_VOLATILE, IT_UNSTABLE, IT_STABLE };
enum scope { SCOPE_VM, SCOPE_DOMAIN, SCOPE_ALL };

/* A guest page's record (Linux's rmap_item), 16 bytes here. */
struct item {
	uint64_t checksum;           /* content at the last look */
	uint32_t node;               /* IT_STABLE: its stable node */
	uint8_t state;               /* IT_* */
	uint8_t age;                 /* looks since the record was made (smart_scan) */
	uint8_t skips;               /* full scans still to skip (smart_scan) */
	uint8_t seen;                /* a checksum was taken */
};

/* The scanner's view of one VM. */
struct kvm {
	uint16_t id;
	uint64_t npages;
	struct item *items;          /* one per guest page */
	uint64_t rmap_items;         /* records in use */
	uint64_t merging;            /* pages mapping a KSM page (ksm_merging_pages) */
	double saved;                /* its fair share of the frames KSM pages save */
};

struct vmcount {
	uint16_t vm;
	uint32_t n;
};

/* A KSM page: a node of the stable index, or a dup of a chain. */
struct snode {
	uint64_t hash;
	uint32_t group;
	uint32_t frame;
	uint32_t mappers;            /* guest pages mapping the frame */
	uint32_t next;               /* next dup of the same content (NIL), or next free */
	struct vmcount *by_vm;       /* mappers per VM */
	uint16_t nby, capby;
};

struct ksm {
	struct vmem_host *h;
	/* Parameters. */
	uint64_t pages_to_scan, sleep_ms, max_sharing;
	uint64_t adv_max_cpu, adv_target, adv_min, adv_max;
	uint64_t domain_vms, cost_scan, cost_merge;
	bool use_zero, smart, advisor;
	bool profits_stale;          /* dedup_profit to publish at the next run */
	enum scope scope;
	/* Pacing. */
	uint64_t cpms, period, next_batch, batch_time;
	/* Cursor: at_head between full scans, else (index in the VM list, next page). */
	bool at_head;
	size_t vi;
	uint64_t gfn;
	struct kvm **vms;            /* by VM id */
	/* The indexes: stable (hash, group) -> first dup; unstable (hash, group) -> page;
	 * frame -> stable node. */
	struct ktab stable, unstable, by_frame;
	struct snode *nodes;
	uint32_t nnodes, capnodes, free_node;
	/* Counters. */
	uint64_t scanned, skipped, full_scans, unshared, rmap_items, cpu;
	uint64_t nodes_live, mappers, chains, dups;
	/* The advisor. */
	uint64_t pass_start, pass_cpu, adv_scan_time, adv_change;
	/* names(): built for the VMs there are. */
	const char **names;
	char *names_buf;
	size_t names_vms;
};

static const char *const global_names[] = {
	"pages_scanned", "pages_shared", "pages_sharing", "pages_unshared", "pages_volatile",
	"pages_skipped", "full_scans", "stable_node_chains", "stable_node_dups",
	"ksm_zero_pages", "general_profit", "ksm_rmap_items", "pages_to_scan", "cpu_cycles",
	NULL,
};

static const char *const vm_names[] = {
	"ksm_rmap_items", "ksm_zero_pages", "ksm_merging_pages", "ksm_process_profit", "profit",
	NULL,
};

/* ---- VMs and records ---- */

static uint32_t group_of(const struct ksm *s, uint16_t vm)
{
	switch (s->scope) {
	case SCOPE_VM:
		return vm;
	case SCOPE_DOMAIN:
		return (uint32_t)(vm / s->domain_vms);
	default:
		return 0;
	}
}

static struct kvm *kvm_get(struct ksm *s, uint16_t vm)
{
	struct kvm *kv = s->vms[vm];

	if (kv)
		return kv;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return NULL;
	kv->id = vm;
	kv->npages = vmem_host_vm_pages(s->h, vm);
	kv->items = calloc(kv->npages ? kv->npages : 1, sizeof(*kv->items));
	if (!kv->items) {
		free(kv);
		return NULL;
	}
	s->vms[vm] = kv;
	return kv;
}

static uint64_t zero_pages_of(const struct ksm *s, uint16_t vm)
{
	struct vmem_host_vm_stats st;

	return vmem_host_vm_stats(s->h, vm, &st) ? 0 : st.state[VMEM_PG_ZERO];
}

static uint64_t pack(uint16_t vm, uint64_t gfn)
{
	return (uint64_t)vm << 40 | gfn;
}

static void unpack(uint64_t v, uint16_t *vm, uint64_t *gfn)
{
	*vm = (uint16_t)(v >> 40);
	*gfn = v & ((1ull << 40) - 1);
}

/* Takes record `it` of page (kv, gfn) out of the unstable index if it is there. */
static void unstable_leave(struct ksm *s, struct kvm *kv, uint64_t gfn, struct item *it)
{
	uint32_t g = group_of(s, kv->id);
	uint64_t *v;

	if (it->state != IT_UNSTABLE)
		return;
	v = ktab_get(&s->unstable, it->checksum, g);
	if (v && *v == pack(kv->id, gfn))
		ktab_del(&s->unstable, it->checksum, g);
	s->unshared--;
	it->state = IT_VOLATILE;
}

static void item_drop(struct ksm *s, struct kvm *kv, uint64_t gfn)
{
	struct item *it = &kv->items[gfn];

	if (it->state == IT_NONE)
		return;
	unstable_leave(s, kv, gfn, it);
	memset(it, 0, sizeof(*it));
	kv->rmap_items--;
	s->rmap_items--;
}

static void item_new(struct ksm *s, struct kvm *kv, struct item *it)
{
	memset(it, 0, sizeof(*it));
	it->state = IT_VOLATILE;
	kv->rmap_items++;
	s->rmap_items++;
}

/* ---- the stable index ---- */

/* Adds sign times node n's contribution to its VMs' fair shares of the saving. */
static void node_account(struct ksm *s, const struct snode *n, double sign)
{
	if (n->mappers == 0)
		return;
	for (unsigned i = 0; i < n->nby; i++)
		s->vms[n->by_vm[i].vm]->saved += sign * (double)n->by_vm[i].n *
						 (double)(n->mappers - 1) / (double)n->mappers;
}

static uint32_t chain_len(const struct ksm *s, uint32_t head)
{
	uint32_t len = 0;

	for (; head != NIL; head = s->nodes[head].next)
		len++;
	return len;
}

/* A content's dup count went from `from` to `to`: chains exist from two dups on. */
static void chain_count(struct ksm *s, uint32_t from, uint32_t to)
{
	if (from >= 2) {
		s->chains--;
		s->dups -= from;
	}
	if (to >= 2) {
		s->chains++;
		s->dups += to;
	}
}

/* A new KSM page for content (hash, group) in frame; its index, or NIL (no memory). */
static uint32_t node_insert(struct ksm *s, uint64_t hash, uint32_t group, uint64_t frame)
{
	uint64_t *head = ktab_get(&s->stable, hash, group);
	uint32_t idx, len = head ? chain_len(s, (uint32_t)*head) : 0;
	struct snode *n;

	if (s->free_node != NIL) {
		idx = s->free_node;
		s->free_node = s->nodes[idx].next;
	} else {
		if (s->nnodes == s->capnodes) {
			uint32_t cap = s->capnodes ? s->capnodes * 2 : 256;
			struct snode *nn = realloc(s->nodes, cap * sizeof(*nn));

			if (!nn)
				return NIL;
			s->nodes = nn;
			s->capnodes = cap;
		}
		idx = s->nnodes++;
	}
	n = &s->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->hash = hash;
	n->group = group;
	n->frame = (uint32_t)frame;
	if (ktab_put(&s->by_frame, frame, 0, idx) ||
	    (!head && ktab_put(&s->stable, hash, group, idx))) {
		ktab_del(&s->by_frame, frame, 0);
		n->next = s->free_node;
		s->free_node = idx;
		return NIL;
	}
	if (head) {
		/* Appended to the content's chain (ktab_put above may have moved *head). */
		uint32_t last = (uint32_t)*ktab_get(&s->stable, hash, group);

		while (s->nodes[last].next != NIL)
			last = s->nodes[last].next;
		s->nodes[last].next = idx;
	}
	n->next = NIL;
	chain_count(s, len, len + 1);
	s->nodes_live++;
	return idx;
}

static void node_remove(struct ksm *s, uint32_t idx)
{
	struct snode *n = &s->nodes[idx];
	uint64_t *head = ktab_get(&s->stable, n->hash, n->group);
	uint32_t len = chain_len(s, (uint32_t)*head);

	if (*head == idx) {
		if (n->next == NIL)
			ktab_del(&s->stable, n->hash, n->group);
		else
			*head = n->next;
	} else {
		uint32_t p = (uint32_t)*head;

		while (s->nodes[p].next != idx)
			p = s->nodes[p].next;
		s->nodes[p].next = n->next;
	}
	chain_count(s, len, len - 1);
	ktab_del(&s->by_frame, n->frame, 0);
	free(n->by_vm);
	n->by_vm = NULL;
	n->nby = n->capby = 0;
	n->next = s->free_node;
	s->free_node = idx;
	s->nodes_live--;
}

static int node_add_mapper(struct ksm *s, uint32_t idx, struct kvm *kv)
{
	struct snode *n = &s->nodes[idx];
	unsigned i;

	for (i = 0; i < n->nby && n->by_vm[i].vm != kv->id; i++)
		;
	if (i == n->nby) {
		if (n->nby == n->capby) {
			uint16_t cap = n->capby ? (uint16_t)(n->capby * 2) : 2;
			struct vmcount *b = realloc(n->by_vm, cap * sizeof(*b));

			if (!b)
				return VMEM_ENOMEM;
			n->by_vm = b;
			n->capby = cap;
		}
		n->by_vm[n->nby++] = (struct vmcount){ .vm = kv->id, .n = 0 };
	}
	node_account(s, n, -1);
	n->by_vm[i].n++;
	n->mappers++;
	node_account(s, n, +1);
	kv->merging++;
	s->mappers++;
	return 0;
}

static void node_drop_mapper(struct ksm *s, uint32_t idx, struct kvm *kv)
{
	struct snode *n = &s->nodes[idx];
	unsigned i;

	for (i = 0; i < n->nby && n->by_vm[i].vm != kv->id; i++)
		;
	if (i == n->nby)
		return;
	node_account(s, n, -1);
	if (--n->by_vm[i].n == 0)
		n->by_vm[i] = n->by_vm[--n->nby];
	n->mappers--;
	node_account(s, n, +1);
	kv->merging--;
	s->mappers--;
	if (n->mappers == 0)
		node_remove(s, idx);
}

/* The fullest dup of (hash, group) that still has room, or NIL. */
static uint32_t stable_find(const struct ksm *s, uint64_t hash, uint32_t group)
{
	uint64_t *head = ktab_get(&s->stable, hash, group);
	uint32_t best = NIL;

	if (!head)
		return NIL;
	for (uint32_t i = (uint32_t)*head; i != NIL; i = s->nodes[i].next)
		if (s->nodes[i].mappers < s->max_sharing &&
		    (best == NIL || s->nodes[i].mappers > s->nodes[best].mappers))
			best = i;
	return best;
}

/* Recomputes every VM's fair share from the nodes (floating-point sums drift). */
static void resum_saved(struct ksm *s)
{
	size_t n;
	const uint16_t *ids = vmem_host_vms(s->h, &n);

	for (size_t i = 0; i < n; i++)
		if (s->vms[ids[i]])
			s->vms[ids[i]]->saved = 0;
	for (uint32_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i].mappers)
			node_account(s, &s->nodes[i], +1);
}

/* ---- one page ---- */

/* smart_scan: whether to pass over this non-KSM page in this full scan. */
static bool should_skip(struct ksm *s, struct kvm *kv, uint64_t gfn, struct item *it)
{
	unsigned age = it->age;

	if (!s->smart)
		return false;
	if (age != UINT8_MAX)
		it->age++;
	if (age < 3)
		return false;
	if (!it->skips) {
		it->skips = age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8;
		return false;
	}
	it->skips--;
	s->skipped++;
	unstable_leave(s, kv, gfn, it);
	return true;
}

static void merge_attempt(struct ksm *s)
{
	s->cpu += s->cost_merge;
	s->pass_cpu += s->cost_merge;
}

/* Linux's cmp_and_merge_page for resident or shared page (kv, gfn). */
static void cmp_and_merge(struct ksm *s, struct kvm *kv, uint64_t gfn,
			  const struct vmem_host_page *pg)
{
	struct item *it = &kv->items[gfn];
	uint32_t group = group_of(s, kv->id), idx;
	uint64_t *cand;

	if (pg->state == VMEM_PG_SHARED)
		return;   /* a KSM page already: nothing to do */
	unstable_leave(s, kv, gfn, it);
	/* Changed since the last look: volatile; remember the new checksum. */
	if (!it->seen || it->checksum != pg->hash) {
		it->seen = 1;
		it->checksum = pg->hash;
		return;
	}
	if (s->use_zero && pg->zero) {
		merge_attempt(s);
		if (vmem_host_merge_zero(s->h, kv->id, gfn) == 0) {
			item_drop(s, kv, gfn);
			return;
		}
	}
	/* The stable index first. */
	if ((idx = stable_find(s, pg->hash, group)) != NIL) {
		merge_attempt(s);
		if (vmem_host_merge(s->h, kv->id, gfn, s->nodes[idx].frame) == 0 &&
		    node_add_mapper(s, idx, kv) == 0) {
			it->state = IT_STABLE;
			it->node = idx;
		}
		return;
	}
	/* Then the unstable one: a partner makes a new KSM page with it. */
	cand = ktab_get(&s->unstable, pg->hash, group);
	if (cand) {
		struct vmem_host_page p2;
		struct kvm *kv2;
		struct item *it2;
		uint16_t vm2;
		uint64_t gfn2;

		unpack(*cand, &vm2, &gfn2);
		kv2 = s->vms[vm2];
		it2 = &kv2->items[gfn2];
		if (vmem_host_page(s->h, vm2, gfn2, &p2) == 0 && p2.state == VMEM_PG_RESIDENT &&
		    p2.hash == pg->hash) {
			merge_attempt(s);
			if (vmem_host_merge(s->h, kv->id, gfn, p2.frame) == 0) {
				ktab_del(&s->unstable, pg->hash, group);
				s->unshared--;
				idx = node_insert(s, pg->hash, group, p2.frame);
				/* (Out of memory for the index: the frame stays shared,
				 * unknown to the index, as Linux's failed stable_tree_insert
				 * leaves it until the pages are unmerged.) */
				it2->state = IT_VOLATILE;
				if (idx != NIL && node_add_mapper(s, idx, kv2) == 0) {
					it2->state = IT_STABLE;
					it2->node = idx;
					if (node_add_mapper(s, idx, kv) == 0) {
						it->state = IT_STABLE;
						it->node = idx;
					}
				}
			}
			return;
		}
		/* The tree page changed or went: this page takes its place. */
		if (it2->state == IT_UNSTABLE) {
			it2->state = IT_VOLATILE;
			s->unshared--;
		}
	}
	if (ktab_put(&s->unstable, pg->hash, group, pack(kv->id, gfn)) == 0) {
		it->state = IT_UNSTABLE;
		s->unshared++;
	}
}

/* ---- the scan ---- */

static void pass_begin(struct ksm *s)
{
	/* The unstable tree starts afresh. As in Linux, its pages still count in
	 * pages_unshared until the scanner comes to them again (their records keep
	 * IT_UNSTABLE; unstable_leave finds no entry of theirs to remove). */
	ktab_clear(&s->unstable);
	s->pass_start = s->batch_time;
	s->pass_cpu = 0;
	resum_saved(s);
}

/* The kernel's scan_time_advisor, on simulated time and modelled CPU. */
static void advise(struct ksm *s)
{
	uint64_t scan_time = (s->batch_time - s->pass_start) / (s->cpms * 1000);
	uint64_t cpu_ms = s->pass_cpu / s->cpms, cpu_percent, last, factor, change, pages, ppc;

	if (!scan_time)
		scan_time = 1;
	cpu_percent = cpu_ms * 100 / (scan_time * 1000);
	if (!cpu_percent)
		cpu_percent = 1;
	last = s->adv_scan_time ? s->adv_scan_time : scan_time;
	factor = s->adv_target * 100 / scan_time;
	if (!factor)
		factor = 1;
	change = scan_time * 100 / last;
	if (!change)
		change = 1;
	change = ((100 - EWMA_WEIGHT) * s->adv_change + EWMA_WEIGHT * change) / 100;
	pages = s->pages_to_scan * 100 / factor;
	pages = pages * change / 100;
	ppc = s->pages_to_scan / cpu_percent;
	if (!ppc)
		ppc = 1;
	if (pages > ppc * s->adv_max_cpu)
		pages = ppc * s->adv_max_cpu;
	if (pages < ppc * ADVISOR_MIN_CPU)
		pages = ppc * ADVISOR_MIN_CPU;
	if (pages > s->adv_max)
		pages = s->adv_max;
	if (pages < s->adv_min)
		pages = s->adv_min;
	s->adv_change = change;
	s->adv_scan_time = scan_time;
	s->pages_to_scan = pages;
}

static void pass_end(struct ksm *s)
{
	s->full_scans++;
	if (s->advisor)
		advise(s);
}

/* The next page to scan (a resident or shared page, not skipped): false at the end of a
 * full scan. */
static bool next_page(struct ksm *s, struct kvm **kvo, uint64_t *gfno,
		      struct vmem_host_page *pg)
{
	size_t n;
	const uint16_t *ids = vmem_host_vms(s->h, &n);

	if (s->at_head) {
		pass_begin(s);
		s->at_head = false;
		s->vi = 0;
		s->gfn = 0;
	}
	for (; s->vi < n; s->vi++, s->gfn = 0) {
		struct kvm *kv = kvm_get(s, ids[s->vi]);

		if (!kv)
			continue;   /* no memory for its records: not scanned */
		while (s->gfn < kv->npages) {
			uint64_t g = s->gfn++;
			struct item *it = &kv->items[g];

			if (vmem_host_page(s->h, kv->id, g, pg) ||
			    (pg->state != VMEM_PG_RESIDENT && pg->state != VMEM_PG_SHARED)) {
				item_drop(s, kv, g);
				continue;
			}
			if (it->state == IT_NONE)
				item_new(s, kv, it);
			if (pg->state == VMEM_PG_RESIDENT && should_skip(s, kv, g, it))
				continue;
			*kvo = kv;
			*gfno = g;
			return true;
		}
	}
	s->at_head = true;
	pass_end(s);
	return false;
}

static void batch(struct ksm *s)
{
	for (uint64_t i = 0; i < s->pages_to_scan; i++) {
		struct vmem_host_page pg;
		struct kvm *kv;
		uint64_t gfn;

		if (!next_page(s, &kv, &gfn, &pg))
			return;
		cmp_and_merge(s, kv, gfn, &pg);
		s->scanned++;
		s->cpu += s->cost_scan;
		s->pass_cpu += s->cost_scan;
	}
}

/* ---- profits ---- */

static int64_t vm_profit(const struct kvm *kv, uint64_t zero)
{
	return (int64_t)llround((kv->saved + (double)zero) * PAGE_BYTES) -
	       (int64_t)(kv->rmap_items * RMAP_ITEM_BYTES);
}

static void publish_profits(struct ksm *s)
{
	size_t n;
	const uint16_t *ids = vmem_host_vms(s->h, &n);

	for (size_t i = 0; i < n; i++) {
		const struct kvm *kv = s->vms[ids[i]];

		if (kv)
			vmem_host_set_dedup_profit(s->h, kv->id,
						   vm_profit(kv, zero_pages_of(s, kv->id)));
	}
}

/* ---- the ops ---- */

static void ksm_run(struct vmem_policy *p, uint64_t now)
{
	struct ksm *s = p->priv;

	while (s->next_batch <= now) {
		s->batch_time = s->next_batch;
		batch(s);
		s->next_batch += s->period;
		s->profits_stale = true;
	}
	/* (The manager advances its clock often: publish only after a change.) */
	if (s->profits_stale) {
		publish_profits(s);
		s->profits_stale = false;
	}
}

static void ksm_on_unshare(struct vmem_policy *p, uint16_t vm, uint64_t gfn, uint64_t frame)
{
	struct ksm *s = p->priv;
	uint64_t *idx = ktab_get(&s->by_frame, frame, 0);
	struct kvm *kv = s->vms[vm];

	if (!idx || !kv)
		return;   /* not a KSM page of ours */
	if (gfn < kv->npages && kv->items[gfn].state == IT_STABLE)
		kv->items[gfn].state = IT_VOLATILE;
	node_drop_mapper(s, (uint32_t)*idx, kv);
	s->profits_stale = true;
}

static int ksm_stat(struct vmem_policy *p, const char *name, double *value)
{
	struct ksm *s = p->priv;
	uint64_t sharing = s->mappers - s->nodes_live;

	if (strncmp(name, "vm.", 3) == 0) {
		char *end;
		unsigned long id = strtoul(name + 3, &end, 10);
		const struct kvm *kv;
		uint64_t zero;

		if (end == name + 3 || *end != '.' || id > UINT16_MAX)
			return VMEM_ENOENT;
		kv = s->vms[id];
		zero = zero_pages_of(s, (uint16_t)id);
		name = end + 1;
		if (strcmp(name, "profit") == 0)
			*value = kv ? (double)vm_profit(kv, zero) : (double)zero * PAGE_BYTES;
		else if (strcmp(name, "ksm_rmap_items") == 0)
			*value = kv ? (double)kv->rmap_items : 0;
		else if (strcmp(name, "ksm_zero_pages") == 0)
			*value = (double)zero;
		else if (strcmp(name, "ksm_merging_pages") == 0)
			*value = kv ? (double)kv->merging : 0;
		else if (strcmp(name, "ksm_process_profit") == 0)
			*value = ((double)(kv ? kv->merging : 0) + (double)zero) * PAGE_BYTES -
				 (double)(kv ? kv->rmap_items : 0) * RMAP_ITEM_BYTES;
		else
			return VMEM_ENOENT;
		return 0;
	}
	if (strcmp(name, "pages_scanned") == 0)
		*value = (double)s->scanned;
	else if (strcmp(name, "pages_shared") == 0)
		*value = (double)s->nodes_live;
	else if (strcmp(name, "pages_sharing") == 0)
		*value = (double)sharing;
	else if (strcmp(name, "pages_unshared") == 0)
		*value = (double)s->unshared;
	else if (strcmp(name, "pages_volatile") == 0) {
		int64_t v = (int64_t)s->rmap_items - (int64_t)s->mappers - (int64_t)s->unshared;

		*value = v > 0 ? (double)v : 0;
	} else if (strcmp(name, "pages_skipped") == 0)
		*value = (double)s->skipped;
	else if (strcmp(name, "full_scans") == 0)
		*value = (double)s->full_scans;
	else if (strcmp(name, "stable_node_chains") == 0)
		*value = (double)s->chains;
	else if (strcmp(name, "stable_node_dups") == 0)
		*value = (double)s->dups;
	else if (strcmp(name, "ksm_rmap_items") == 0)
		*value = (double)s->rmap_items;
	else if (strcmp(name, "pages_to_scan") == 0)
		*value = (double)s->pages_to_scan;
	else if (strcmp(name, "cpu_cycles") == 0)
		*value = (double)s->cpu;
	else if (strcmp(name, "ksm_zero_pages") == 0 || strcmp(name, "general_profit") == 0) {
		size_t n;
		const uint16_t *ids = vmem_host_vms(s->h, &n);
		uint64_t zero = 0;

		for (size_t i = 0; i < n; i++)
			zero += zero_pages_of(s, ids[i]);
		if (name[0] == 'k')
			*value = (double)zero;
		else
			*value = (double)(sharing + zero) * PAGE_BYTES -
				 (double)s->rmap_items * RMAP_ITEM_BYTES;
	} else
		return VMEM_ENOENT;
	return 0;
}

static const char *const *ksm_names(struct vmem_policy *p)
{
	struct ksm *s = p->priv;
	size_t n, ng = sizeof(global_names) / sizeof(global_names[0]) - 1;
	size_t nv = sizeof(vm_names) / sizeof(vm_names[0]) - 1;
	const uint16_t *ids = vmem_host_vms(s->h, &n);
	const char **names;
	char *buf, *b;

	if (s->names && s->names_vms == n)
		return s->names;
	/* "vm.65535." + the longest name + NUL fits in 40 bytes. */
	names = calloc(ng + n * nv + 1, sizeof(*names));
	buf = malloc(n * nv * 40 + 1);
	if (!names || !buf) {
		free(names);
		free(buf);
		return s->names ? s->names : global_names;
	}
	for (size_t i = 0; i < ng; i++)
		names[i] = global_names[i];
	b = buf;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < nv; j++) {
			names[ng + i * nv + j] = b;
			b += snprintf(b, 40, "vm.%u.%s", ids[i], vm_names[j]) + 1;
		}
	free(s->names);
	free(s->names_buf);
	s->names = names;
	s->names_buf = buf;
	s->names_vms = n;
	return names;
}

static void ksm_fini(struct vmem_policy *p)
{
	struct ksm *s = p->priv;

	if (!s)
		return;
	for (unsigned i = 0; i < 65536; i++)
		if (s->vms[i]) {
			free(s->vms[i]->items);
			free(s->vms[i]);
		}
	for (uint32_t i = 0; i < s->nnodes; i++)
		free(s->nodes[i].by_vm);
	free(s->nodes);
	ktab_free(&s->stable);
	ktab_free(&s->unstable);
	ktab_free(&s->by_frame);
	free(s->vms);
	free(s->names);
	free(s->names_buf);
	free(s);
	p->priv = NULL;
}

static int ksm_init(struct vmem_policy *p, const struct vmem_policy_params *pp, char *err,
		    size_t errlen)
{
	static const char *const known[] = {
		"pages_to_scan", "sleep_millisecs", "max_page_sharing", "use_zero_pages",
		"smart_scan", "advisor_mode", "advisor_max_cpu", "advisor_target_scan_time",
		"advisor_min_pages_to_scan", "advisor_max_pages_to_scan", "scope", "domain_vms",
		"cost_scan", "cost_merge", NULL,
	};
	const char *mode = vmem_policy_param(pp, "advisor_mode");
	const char *scope = vmem_policy_param(pp, "scope");
	struct ksm *s;
	uint64_t zero = 0, smart = 0;
	int rc = vmem_policy_params_check(pp, "ksm", known, err, errlen);

	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->vms = calloc(65536, sizeof(*s->vms)))) {
		free(s);
		snprintf(err, errlen, "policy ksm: out of memory");
		return VMEM_ENOMEM;
	}
	s->h = p->host;
	s->free_node = NIL;
	s->at_head = true;
	p->priv = s;
#define U64(key, def, min, max, out) \
	if ((rc = vmem_policy_param_u64(pp, "ksm", key, def, min, max, out, err, errlen))) \
		goto fail
	U64("pages_to_scan", 100, 0, 100000000, &s->pages_to_scan);
	U64("sleep_millisecs", 20, 1, 3600000, &s->sleep_ms);
	U64("max_page_sharing", 256, 2, 1000000000, &s->max_sharing);
	U64("use_zero_pages", 0, 0, 1, &zero);
	U64("smart_scan", 1, 0, 1, &smart);
	U64("advisor_max_cpu", 70, 1, 100, &s->adv_max_cpu);
	U64("advisor_target_scan_time", 200, 1, 1000000, &s->adv_target);
	U64("advisor_min_pages_to_scan", 500, 1, 100000000, &s->adv_min);
	U64("advisor_max_pages_to_scan", 30000, 1, 100000000, &s->adv_max);
	U64("domain_vms", 4, 1, 65536, &s->domain_vms);
	U64("cost_scan", 2500, 0, 1000000000, &s->cost_scan);
	U64("cost_merge", 25000, 0, 1000000000, &s->cost_merge);
#undef U64
	s->use_zero = zero;
	s->smart = smart;
	if (!mode || strcmp(mode, "none") == 0) {
		s->advisor = false;
	} else if (strcmp(mode, "scan-time") == 0) {
		s->advisor = true;
	} else {
		snprintf(err, errlen, "policy ksm: advisor_mode=%s: expected none or scan-time",
			 mode);
		rc = VMEM_EINVAL;
		goto fail;
	}
	if (!scope || strcmp(scope, "vm") == 0) {
		s->scope = SCOPE_VM;
	} else if (strcmp(scope, "domain") == 0) {
		s->scope = SCOPE_DOMAIN;
	} else if (strcmp(scope, "all") == 0) {
		s->scope = SCOPE_ALL;
	} else {
		snprintf(err, errlen, "policy ksm: scope=%s: expected vm, domain or all", scope);
		rc = VMEM_EINVAL;
		goto fail;
	}
	if (vmem_policy_param(pp, "domain_vms") && s->scope != SCOPE_DOMAIN) {
		snprintf(err, errlen, "policy ksm: domain_vms applies with scope=domain only");
		rc = VMEM_EINVAL;
		goto fail;
	}
	if (s->adv_min > s->adv_max) {
		snprintf(err, errlen, "policy ksm: advisor_min_pages_to_scan=%llu is above "
			 "advisor_max_pages_to_scan=%llu", (unsigned long long)s->adv_min,
			 (unsigned long long)s->adv_max);
		rc = VMEM_EINVAL;
		goto fail;
	}
	if (s->advisor) {
		/* The advisor owns pages_to_scan, as writing it under the advisor fails in
		 * the kernel; it starts from the lower limit. */
		if (vmem_policy_param(pp, "pages_to_scan")) {
			snprintf(err, errlen, "policy ksm: pages_to_scan is set by the advisor "
				 "(advisor_mode=scan-time): give advisor_min_pages_to_scan instead");
			rc = VMEM_EINVAL;
			goto fail;
		}
		s->pages_to_scan = s->adv_min;
	} else if (vmem_policy_param(pp, "advisor_max_cpu") ||
		   vmem_policy_param(pp, "advisor_target_scan_time") ||
		   vmem_policy_param(pp, "advisor_min_pages_to_scan") ||
		   vmem_policy_param(pp, "advisor_max_pages_to_scan")) {
		snprintf(err, errlen, "policy ksm: the advisor_* parameters apply with "
			 "advisor_mode=scan-time only");
		rc = VMEM_EINVAL;
		goto fail;
	}
	s->cpms = vmem_host_cycles_per_ms(s->h);
	if (!s->cpms)
		s->cpms = 1;
	s->period = s->sleep_ms * s->cpms;
	s->next_batch = vmem_host_now(s->h) + s->period;
	return 0;
fail:
	ksm_fini(p);
	return rc;
}

const struct vmem_dedup_ops dedup_ksm = {
	.name = "ksm",
	.help = "Linux KSM: scan pages_to_scan (100) pages every sleep_millisecs (20), merge "
		"unchanged duplicates; max_page_sharing (256), use_zero_pages (0), smart_scan (1), "
		"advisor_mode (none|scan-time) with advisor_max_cpu (70), "
		"advisor_target_scan_time (200 s), advisor_min/max_pages_to_scan (500/30000); "
		"scope=vm|domain|all (vm) with domain_vms (4); cost_scan (2500), cost_merge "
		"(25000) cycles",
	.init = ksm_init,
	.run = ksm_run,
	.on_unshare = ksm_on_unshare,
	.stat = ksm_stat,
	.names = ksm_names,
	.fini = ksm_fini,
};
