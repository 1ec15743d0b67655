/*
 * Layout of radix page tables, shared by the table code and the walkers.
 *
 * A simulated table page costs host memory in proportion to its present entries, not
 * 4 KiB. Its slots, one word per present entry, live in one growable block whose form
 * follows its capacity (cap):
 *   single (cap == 1) the one slot in the header itself, its index beside it: at sparse
 *          footprints almost every mapped page has a level-1 table of its own with one
 *          entry, which then costs its 24-byte header and nothing more.
 *   list   (cap <= PT_LIST_MAX) the indices of the present entries in ascending order,
 *          then their slots in the same order: a page of a few entries, as sparse
 *          mappings make them, costs a few dozen bytes.
 *   packed (larger) a 512-bit bitmap of the present entries and a running count per
 *          bitmap word, then the slots in index order: entry i lives at slot rank(i),
 *          the number of present entries below i, from one population count.
 *   dense  (cap == VMEM_PT_ENTRIES, from PT_DENSE_AT present entries on) all 512 slots
 *          indexed directly, as hardware lays a table out (8 bytes per present entry at
 *          most): a walk step is one load.
 *
 * A slot holds the entry itself, except for an entry that points to a child table: that
 * slot holds the host pointer to the child's header instead (PT_CHILD set, the entry's
 * flag bits 11:0 in bits 59:48). The entry is the child's physical address with those
 * flags (pt_word_entry): a table-pointer entry carries nothing else (libvmem writes
 * them P|RW|US, or R|W|X in EPT, and the walker adds A), and the walker reads the child's
 * header next anyway. One word per slot instead of an entry beside a pointer halves the
 * slots of the upper levels, and so their cache lines per walk step.
 *
 * A not-present entry is 0 in both formats as libvmem writes them (vmem_pte_encode), so
 * "stored" and "present" are the same thing: writing 0 removes the slot.
 *
 * There is no index of table pages by physical address: a walk that starts from a
 * paging-structure-cache hit finds its table through pt_find_table_memo and checks its
 * address (an index cost 11 to 21 bytes per table page at sparse footprints).
 *
 * Host memory: a block starts at one slot; lists double, packed blocks grow by half. The
 * headers (struct pt_page) and list blocks, at most PT_POOL_MAX bytes, come from the
 * table's own size-class pools (struct pt_pool), not malloc: at sparse footprints almost
 * every mapped page has a level-1 table of its own, and malloc's 16 bytes per allocation
 * were a third of that table's cost. Larger blocks are malloc'ed.
 */
#ifndef VMEM_PT_INTERNAL_H
#define VMEM_PT_INTERNAL_H

#include "vmem/pt.h"

#define PT_WORDS (VMEM_PT_ENTRIES / 64)
#define PT_LIST_MAX 4
#define PT_DENSE_AT 256

struct pt_list {
	uint16_t index[PT_LIST_MAX];
	uint64_t slot[];
};

struct pt_packed {
	uint64_t present[PT_WORDS];  /* bit i: entry i is present */
	uint16_t rank[PT_WORDS];     /* present entries in the words before this one */
	uint64_t slot[];
};

struct pt_page {
	union {
		void *mem;           /* slots in the form cap says (see above); NULL if cap 0 */
		uint64_t single;     /* pt_single(): the one slot itself */
	};
	uint64_t pa;                 /* physical address of this table page */
	uint16_t used;               /* present entries */
	uint16_t cap;                /* slots allocated */
	uint8_t level;               /* 1 (PT) .. 5 (PML5) */
	uint8_t user_flags;          /* owned by the table's user: shadow paging marks unsync pages */
	uint16_t single_index;       /* pt_single(): the index of the entry in `single` */
};

/*
 * Table-page headers and small slot blocks (up to PT_POOL_MAX bytes: every list form)
 * come from per-table pools, one free list per multiple of 8 bytes, carved from chunks
 * that double from PT_POOL_CHUNK_MIN to PT_POOL_CHUNK bytes (a table of a few pages, as
 * thousands of address spaces make them, stays small): at large sparse footprints almost every mapped page has a
 * level-1 table of its own, and malloc's 16 bytes of overhead per allocation (header
 * and slots: two allocations) was a third of its cost. Chunks are freed with the table.
 */
#define PT_POOL_MAX 72
#define PT_POOL_CHUNK_MIN 512
#define PT_POOL_CHUNK 65536

struct pt_pool {
	void *free[PT_POOL_MAX / 8 + 1];  /* [n / 8]: free blocks of n bytes, linked */
	char *next, *end;                 /* unused rest of the newest chunk */
	void *chunks;                     /* every chunk, linked through its first word */
	size_t chunk;                     /* bytes of the next chunk */
};

struct vmem_pt {
	struct pt_page *root;
	struct pt_pool pool;
	unsigned levels;
	unsigned va_bits;   /* 48 or 57 */
	enum vmem_pt_format format;
	struct vmem_frame_source src;
	struct vmem_pt_observer obs;
	uint64_t pages;
	/* Every entry write (map, unmap, protect, zap) increments gen. pa_memo remembers
	 * recent translations of table-aligned addresses (pt_translate_memo) with the gen
	 * they were made at; one made at an earlier gen is stale. Allocated on first use. */
	uint64_t gen;
	struct pt_pa_memo *pa_memo;  /* [PT_PA_MEMO] or NULL */
	/* pt_find_table answers (never NULL ones) with the tables_gen they were made at:
	 * the answer changes only when a table page is freed (which increments tables_gen),
	 * since a new table appears only where the answer was NULL. */
	uint64_t tables_gen;
	struct pt_table_memo *table_memo;  /* [PT_TABLE_MEMO] or NULL (pt_find_table_memo) */
};

#define PT_TABLE_MEMO 1024

struct pt_table_memo {
	uint64_t va_base;            /* first address the table maps */
	uint64_t gen;                /* 0: empty */
	struct pt_page *table;       /* what pt_find_table answered (not NULL) */
	unsigned level;
};

#define PT_PA_MEMO 512

struct pt_pa_memo {
	uint64_t va;                 /* 4 KiB aligned */
	uint64_t pa;
	uint64_t gen;                /* 0: empty (gen starts at 1) */
};

static inline unsigned pt_popcount64(uint64_t x)
{
#if defined(__POPCNT__)
	return (unsigned)__builtin_popcountll(x);
#else
	/* Without the instruction the builtin is a library call; this is a few ALU steps. */
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
#endif
}

static inline bool pt_dense(const struct pt_page *p)
{
	return p->cap == VMEM_PT_ENTRIES;
}

static inline bool pt_listed(const struct pt_page *p)
{
	return p->cap <= PT_LIST_MAX;
}

/* A page of one slot keeps it in the header: no block at all. */
static inline bool pt_single(const struct pt_page *p)
{
	return p->cap == 1;
}

/* The slot of entry i, or NULL when the entry is not present. */
static inline uint64_t *pt_slot(const struct pt_page *p, unsigned i)
{
	if (pt_dense(p)) {
		uint64_t *s = (uint64_t *)p->mem + i;

		return *s ? s : NULL;
	}
	if (pt_listed(p)) {
		struct pt_list *l = p->mem;

		if (pt_single(p))
			return p->used && p->single_index == i ? (uint64_t *)&p->single : NULL;
		for (unsigned r = 0; r < p->used; r++)
			if (l->index[r] == i)
				return l->slot + r;
		return NULL;
	} else {
		struct pt_packed *k = p->mem;
		unsigned w = i >> 6;
		uint64_t bit = 1ull << (i & 63), bits = k->present[w];

		if (!(bits & bit))
			return NULL;
		return k->slot + k->rank[w] + pt_popcount64(bits & (bit - 1));
	}
}

/* A slot word that points to a child table (see the top comment). */
#define PT_CHILD (1ull << 62)
#define PT_CHILD_FLAGS_SHIFT 48
#define PT_CHILD_POINTER ((1ull << PT_CHILD_FLAGS_SHIFT) - 1)

/* The slot word of table-pointer entry e (flags in bits 11:0 only) to child c. */
static inline uint64_t pt_child_word(const struct pt_page *c, uint64_t e)
{
	return PT_CHILD | (e & 0xfffu) << PT_CHILD_FLAGS_SHIFT | (uint64_t)(uintptr_t)c;
}

/* The child table page a slot word points to, or NULL (a leaf). */
static inline struct pt_page *pt_word_child(uint64_t w)
{
	return w & PT_CHILD ? (struct pt_page *)(uintptr_t)(w & PT_CHILD_POINTER) : NULL;
}

/* The entry a slot word stands for. */
static inline uint64_t pt_word_entry(uint64_t w)
{
	if (!(w & PT_CHILD))
		return w;
	return pt_word_child(w)->pa | ((w >> PT_CHILD_FLAGS_SHIFT) & 0xfffu);
}

/* Entry i of a table page (0 when not present). */
static inline uint64_t pt_entry(const struct pt_page *p, unsigned i)
{
	const uint64_t *s = pt_slot(p, i);

	return s ? pt_word_entry(*s) : 0;
}

/* The child table page of a slot, or NULL (a leaf). */
static inline struct pt_page *pt_slot_child(const uint64_t *s)
{
	return pt_word_child(*s);
}

/* The child table page of entry i, or NULL (not present, a leaf, or a level-1 table). */
static inline struct pt_page *pt_child(const struct pt_page *p, unsigned i)
{
	const uint64_t *s = p->level > 1 ? pt_slot(p, i) : NULL;

	return s ? pt_slot_child(s) : NULL;
}

/* True if entry e of a level-`level` table is a leaf (a page, not a table). */
static inline bool pt_entry_is_leaf(enum vmem_pt_format f, uint64_t e, unsigned level)
{
	(void)f;    /* PS is bit 7 in both formats */
	return level == 1 || (e & (1ull << 7));
}

static inline bool pt_entry_present(enum vmem_pt_format f, uint64_t e)
{
	return f == VMEM_PT_EPT ? (e & 7u) != 0 : (e & 1u) != 0;
}

/*
 * The physical address va (4 KiB aligned) translates to, as vmem_pt_lookup gives it in
 * leaf.pa: 0 and *pa, or VMEM_ENOENT / VMEM_ERANGE / VMEM_ENOMEM. A translation
 * remembered since the last entry write is answered without a walk.
 */
int pt_translate_memo(struct vmem_pt *pt, uint64_t va, uint64_t *pa);

/* pt_find_table_memo when the memo does not know the answer. */
struct pt_page *pt_find_table_remember(struct vmem_pt *pt, uint64_t va, unsigned level);

/* pt_find_table(pt, va, level), remembered until a table page is freed. */
static inline struct pt_page *pt_find_table_memo(struct vmem_pt *pt, uint64_t va,
						  unsigned level)
{
	unsigned shift = 12 + 9 * level;   /* vmem_level_shift(level + 1) */
	uint64_t base = va & ~((1ull << shift) - 1);
	const struct pt_table_memo *e;

	if (pt->table_memo) {
		e = &pt->table_memo[((base >> shift) + level * 0x9Eu) & (PT_TABLE_MEMO - 1)];
		if (e->gen == pt->tables_gen && e->va_base == base && e->level == level)
			return e->table;
	}
	return pt_find_table_remember(pt, va, level);
}

/*
 * Starts loading the level-1 entry of va into the processor's cache if the table memo
 * knows its table, and does nothing else (no simulated state changes). On a miss-heavy
 * trace that entry is a cache miss of the simulator's own on every walk; asked for at the
 * start of the walk, it arrives while the walk caches are probed. (always_inline: GCC 12
 * finds a function whose only effect is a prefetch free of side effects and drops the
 * call to it.)
 */
static inline __attribute__((always_inline)) void
pt_prefetch_leaf_slot(const struct vmem_pt *pt, uint64_t va)
{
	uint64_t base = va & ~((1ull << 21) - 1);
	const struct pt_table_memo *e;
	uintptr_t slot;

	if (!pt->table_memo)
		return;
	e = &pt->table_memo[((base >> 21) + 0x9Eu) & (PT_TABLE_MEMO - 1)];
	if (e->gen != pt->tables_gen || e->va_base != base || e->level != 1)
		return;
	/* (A table that is not dense: the start of its slots, its index or list.) */
	slot = (uintptr_t)e->table->mem;
	if (pt_dense(e->table))
		slot += 8u * vmem_pt_index(va, 1);
	__builtin_prefetch((const void *)slot);
}

/* The leaf table page and entry index mapping va, or NULL. */
struct pt_page *pt_find_leaf(const struct vmem_pt *pt, uint64_t va, unsigned *index);

/* The table page at `level` covering va, or NULL. */
struct pt_page *pt_find_table(const struct vmem_pt *pt, uint64_t va, unsigned level);

/* vmem_pte_bits_to_prot(vmem_pte_decode(f, e)) of a present entry e, inline for the
 * walkers (bit positions in the top comment of pt.c). */
static inline unsigned pt_entry_prot(enum vmem_pt_format f, uint64_t e)
{
	if (f == VMEM_PT_EPT)
		return VMEM_PROT_READ | VMEM_PROT_USER | (e & 2u ? VMEM_PROT_WRITE : 0) |
		       (e & 4u ? VMEM_PROT_EXEC : 0);
	return VMEM_PROT_READ | (e & 2u ? VMEM_PROT_WRITE : 0) | (e & 4u ? VMEM_PROT_USER : 0) |
	       (e >> 63 ? 0 : VMEM_PROT_EXEC);
}

/* Sets the A bit (and D for writes to a leaf) of the entry in slot s, as the walker does
 * (no observer); a table-pointer slot keeps its flags in its upper bits. */
static inline void pt_set_accessed(enum vmem_pt_format f, uint64_t *s, bool leaf, bool write)
{
	uint64_t a = f == VMEM_PT_EPT ? 1ull << 8 : 1ull << 5;
	uint64_t d = f == VMEM_PT_EPT ? 1ull << 9 : 1ull << 6;

	if (!leaf)
		*s |= a << PT_CHILD_FLAGS_SHIFT;
	else
		*s |= a | (write ? d : 0);
}

#endif
