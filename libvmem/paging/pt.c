/*
 * Radix page tables in simulated physical memory.
 *
 * Entry formats:
 *   x86 (Intel SDM Vol. 3A, 4.5, tables 4-15 to 4-20): P(0) R/W(1) U/S(2) A(5) D(6)
 *     PS(7) XD(63), address bits 51:12. Non-leaf entries are written P|RW|US with XD
 *     clear, so permissions are decided by the leaf alone, as Linux builds its tables.
 *   EPT (SDM Vol. 3C, 29.3.2, tables 29-2 to 29-6): R(0) W(1) X(2) memory type 5:3
 *     (6 = write-back, leaves only) PS(7) A(8) D(9), address bits 51:12.
 */
#include <stdlib.h>
#include <string.h>

#include "pt_internal.h"

#define X86_P (1ull << 0)
#define X86_RW (1ull << 1)
#define X86_US (1ull << 2)
#define X86_A (1ull << 5)
#define X86_D (1ull << 6)
#define X86_PS (1ull << 7)
#define X86_NX (1ull << 63)

#define EPT_R (1ull << 0)
#define EPT_W (1ull << 1)
#define EPT_X (1ull << 2)
#define EPT_WB (6ull << 3)
#define EPT_PS (1ull << 7)
#define EPT_A (1ull << 8)
#define EPT_D (1ull << 9)

uint64_t vmem_pte_encode(enum vmem_pt_format f, uint64_t pa, unsigned bits)
{
	uint64_t e = pa & VMEM_PTE_ADDR_MASK;

	if (!(bits & VMEM_PTE_P))
		return 0;
	if (f == VMEM_PT_EPT) {
		e |= EPT_R;
		e |= bits & VMEM_PTE_RW ? EPT_W : 0;
		e |= bits & VMEM_PTE_NX ? 0 : EPT_X;
		e |= bits & VMEM_PTE_A ? EPT_A : 0;
		e |= bits & VMEM_PTE_D ? EPT_D : 0;
		e |= bits & VMEM_PTE_PS ? EPT_PS : 0;
		return e;
	}
	e |= X86_P;
	e |= bits & VMEM_PTE_RW ? X86_RW : 0;
	e |= bits & VMEM_PTE_US ? X86_US : 0;
	e |= bits & VMEM_PTE_A ? X86_A : 0;
	e |= bits & VMEM_PTE_D ? X86_D : 0;
	e |= bits & VMEM_PTE_PS ? X86_PS : 0;
	e |= bits & VMEM_PTE_NX ? X86_NX : 0;
	return e;
}

unsigned vmem_pte_decode(enum vmem_pt_format f, uint64_t e)
{
	unsigned b = 0;

	if (f == VMEM_PT_EPT) {
		if (!(e & (EPT_R | EPT_W | EPT_X)))
			return 0;
		b |= VMEM_PTE_P | VMEM_PTE_US;
		b |= e & EPT_W ? VMEM_PTE_RW : 0;
		b |= e & EPT_X ? 0 : VMEM_PTE_NX;
		b |= e & EPT_A ? VMEM_PTE_A : 0;
		b |= e & EPT_D ? VMEM_PTE_D : 0;
		b |= e & EPT_PS ? VMEM_PTE_PS : 0;
		return b;
	}
	if (!(e & X86_P))
		return 0;
	b |= VMEM_PTE_P;
	b |= e & X86_RW ? VMEM_PTE_RW : 0;
	b |= e & X86_US ? VMEM_PTE_US : 0;
	b |= e & X86_A ? VMEM_PTE_A : 0;
	b |= e & X86_D ? VMEM_PTE_D : 0;
	b |= e & X86_PS ? VMEM_PTE_PS : 0;
	b |= e & X86_NX ? VMEM_PTE_NX : 0;
	return b;
}

unsigned vmem_pte_bits_to_prot(unsigned bits)
{
	unsigned prot = VMEM_PROT_READ;

	if (!(bits & VMEM_PTE_P))
		return 0;
	prot |= bits & VMEM_PTE_RW ? VMEM_PROT_WRITE : 0;
	prot |= bits & VMEM_PTE_NX ? 0 : VMEM_PROT_EXEC;
	prot |= bits & VMEM_PTE_US ? VMEM_PROT_USER : 0;
	return prot;
}

unsigned vmem_prot_to_pte_bits(unsigned prot)
{
	unsigned bits = VMEM_PTE_P;

	bits |= prot & VMEM_PROT_WRITE ? VMEM_PTE_RW : 0;
	bits |= prot & VMEM_PROT_EXEC ? 0 : VMEM_PTE_NX;
	bits |= prot & VMEM_PROT_USER ? VMEM_PTE_US : 0;
	return bits;
}

/* n bytes (zeroed) from the table's pools when n <= PT_POOL_MAX, else from malloc. */
static void *pool_alloc(struct vmem_pt *pt, size_t n)
{
	struct pt_pool *o = &pt->pool;
	void **head;
	void *b;

	if (n > PT_POOL_MAX)
		return calloc(1, n);
	n = (n + 7) & ~(size_t)7;
	head = &o->free[n / 8];
	if (*head) {
		b = *head;
		*head = *(void **)b;
	} else {
		if ((size_t)(o->end - o->next) < n) {
			size_t size = o->chunk ? o->chunk : PT_POOL_CHUNK_MIN;
			char *c = malloc(size);

			if (!c)
				return NULL;
			*(void **)c = o->chunks;
			o->chunks = c;
			o->next = c + 8;
			o->end = c + size;
			o->chunk = size < PT_POOL_CHUNK ? 2 * size : size;
		}
		b = o->next;
		o->next += n;
	}
	return memset(b, 0, n);
}

/* Returns block b of n bytes, as pool_alloc(pt, n) gave it. */
static void pool_free(struct vmem_pt *pt, void *b, size_t n)
{
	void **head;

	if (!b)
		return;
	if (n > PT_POOL_MAX) {
		free(b);
		return;
	}
	head = &pt->pool.free[((n + 7) & ~(size_t)7) / 8];
	*(void **)b = *head;
	*head = b;
}

static void pool_destroy(struct vmem_pt *pt)
{
	for (void *c = pt->pool.chunks, *next; c; c = next) {
		next = *(void **)c;
		free(c);
	}
	memset(&pt->pool, 0, sizeof(pt->pool));
}

/* Bytes of `cap` slots. */
static size_t slot_bytes(unsigned cap)
{
	return (size_t)cap * sizeof(uint64_t);
}

/* Bytes of p's slot block at capacity cap, in the form cap gives it. */
static size_t mem_bytes(unsigned cap)
{
	if (cap == 1)
		return 0;   /* pt_single: in the header */
	if (cap == VMEM_PT_ENTRIES)
		return slot_bytes(cap);
	return (cap <= PT_LIST_MAX ? sizeof(struct pt_list) : sizeof(struct pt_packed)) +
	       slot_bytes(cap);
}

static struct pt_page *page_new(struct vmem_pt *pt, unsigned level, int *err)
{
	struct pt_page *p;
	uint64_t pfn;

	*err = pt->src.alloc(pt->src.ctx, &pfn);
	if (*err)
		return NULL;
	p = pool_alloc(pt, sizeof(*p));
	if (!p) {
		pt->src.free(pt->src.ctx, pfn);
		*err = VMEM_ENOMEM;
		return NULL;
	}
	p->pa = pfn << 12;
	p->level = (uint8_t)level;
	pt->pages++;
	return p;
}

/* Frees p and every table below it; returns how many table pages were freed. */
static uint64_t page_free_tree(struct vmem_pt *pt, struct pt_page *p)
{
	uint64_t n = 1;

	if (p->level > 1 && p->used) {
		const uint64_t *slots = pt_dense(p) ? p->mem :
					pt_single(p) ? &p->single :
					pt_listed(p) ? ((struct pt_list *)p->mem)->slot :
						       ((struct pt_packed *)p->mem)->slot;

		for (unsigned r = 0; r < (pt_dense(p) ? VMEM_PT_ENTRIES : p->used); r++) {
			struct pt_page *c = pt_slot_child(slots + r);

			if (c)
				n += page_free_tree(pt, c);
		}
	}
	pt->src.free(pt->src.ctx, p->pa >> 12);
	pt->pages--;
	pt->tables_gen++;   /* (a remembered answer may be this page) */
	if (p->cap && !pt_single(p))
		pool_free(pt, p->mem, mem_bytes(p->cap));
	pool_free(pt, p, sizeof(*p));
	return n;
}

/* The rank of entry i in a packed page: present entries below it. */
static unsigned packed_rank(const struct pt_packed *k, unsigned i)
{
	return k->rank[i >> 6] + pt_popcount64(k->present[i >> 6] & ((1ull << (i & 63)) - 1));
}

/* A full list page of PT_LIST_MAX entries becomes packed, with room for twice as many. */
static int list_to_packed(struct vmem_pt *pt, struct pt_page *p)
{
	struct pt_list *l = p->mem;
	struct pt_packed *k = pool_alloc(pt, sizeof(*k) + slot_bytes(2 * PT_LIST_MAX));

	if (!k)
		return VMEM_ENOMEM;
	for (unsigned r = 0; r < p->used; r++)
		k->present[l->index[r] >> 6] |= 1ull << (l->index[r] & 63);
	for (unsigned w = 1; w < PT_WORDS; w++)
		k->rank[w] = (uint16_t)(k->rank[w - 1] + pt_popcount64(k->present[w - 1]));
	memcpy(k->slot, l->slot, slot_bytes(p->used));   /* both in index order */
	pool_free(pt, l, mem_bytes(p->cap));
	p->mem = k;
	p->cap = 2 * PT_LIST_MAX;
	return 0;
}

/* A full packed page trades its slots for all 512 indexed directly. */
static int packed_to_dense(struct vmem_pt *pt, struct pt_page *p)
{
	struct pt_packed *k = p->mem;
	unsigned r = 0;
	uint64_t *d = pool_alloc(pt, slot_bytes(VMEM_PT_ENTRIES));

	if (!d)
		return VMEM_ENOMEM;
	for (unsigned i = 0; i < VMEM_PT_ENTRIES; i++)
		if (k->present[i >> 6] & (1ull << (i & 63)))
			d[i] = k->slot[r++];
	pool_free(pt, k, mem_bytes(p->cap));
	p->mem = d;
	p->cap = VMEM_PT_ENTRIES;
	return 0;
}

/* Room for one more slot: the same form, doubled, or the next form. */
static int grow(struct vmem_pt *pt, struct pt_page *p)
{
	/* From one slot: most table pages of a sparse mapping keep one entry. Lists double
	 * (1, 2, 4); packed blocks grow by half (8, 12, 18, ... 202, 256), so that a block
	 * is at least two thirds used (its slots are 8 bytes an entry). */
	unsigned cap = !p->cap ? 1u : pt_listed(p) ? 2u * p->cap :
		       p->cap + p->cap / 2 > PT_DENSE_AT ? PT_DENSE_AT : p->cap + p->cap / 2;
	size_t old = p->cap ? mem_bytes(p->cap) : 0, want = mem_bytes(cap);
	void *n;

	if (cap == 1) {
		p->cap = 1;   /* pt_single: the slot goes in the header */
		return 0;
	}
	if (pt_single(p)) {
		struct pt_list *l = pool_alloc(pt, want);   /* (grow is called when full) */

		if (!l)
			return VMEM_ENOMEM;
		l->index[0] = p->single_index;
		l->slot[0] = p->single;
		p->mem = l;
		p->cap = (uint16_t)cap;
		return 0;
	}
	if (p->cap == PT_LIST_MAX)
		return list_to_packed(pt, p);
	if (p->cap >= PT_DENSE_AT)
		return packed_to_dense(pt, p);
	if (old > PT_POOL_MAX) {
		n = realloc(p->mem, want);
	} else {
		n = pool_alloc(pt, want);
		if (n && old) {
			memcpy(n, p->mem, old);
			pool_free(pt, p->mem, old);
		}
	}
	if (!n)
		return VMEM_ENOMEM;
	p->mem = n;
	p->cap = (uint16_t)cap;
	return 0;
}

/* Makes room for entry i (not present); returns its slot, or NULL. */
static uint64_t *slot_insert(struct vmem_pt *pt, struct pt_page *p, unsigned i)
{
	unsigned r;
	uint64_t *slots;

	if (p->used == p->cap && !pt_dense(p) && grow(pt, p))
		return NULL;
	if (pt_dense(p)) {
		p->used++;
		return (uint64_t *)p->mem + i;
	}
	if (pt_single(p)) {
		p->used = 1;
		p->single_index = (uint16_t)i;
		return &p->single;
	}
	if (pt_listed(p)) {
		struct pt_list *l = p->mem;

		for (r = 0; r < p->used && l->index[r] < i; r++)
			;
		memmove(l->index + r + 1, l->index + r, (p->used - r) * sizeof(l->index[0]));
		l->index[r] = (uint16_t)i;
		slots = l->slot;
	} else {
		struct pt_packed *k = p->mem;

		r = packed_rank(k, i);
		k->present[i >> 6] |= 1ull << (i & 63);
		for (unsigned w = (i >> 6) + 1; w < PT_WORDS; w++)
			k->rank[w]++;
		slots = k->slot;
	}
	memmove(slots + r + 1, slots + r, slot_bytes(p->used - r));
	p->used++;
	return slots + r;
}

/* Removes the slot of entry i (present). */
static void slot_remove(struct pt_page *p, unsigned i)
{
	unsigned r;
	uint64_t *slots;

	if (pt_dense(p)) {
		((uint64_t *)p->mem)[i] = 0;
		p->used--;
		return;
	}
	if (pt_single(p)) {
		p->single = 0;
		p->used = 0;
		return;
	}
	if (pt_listed(p)) {
		struct pt_list *l = p->mem;

		for (r = 0; l->index[r] != i; r++)
			;
		memmove(l->index + r, l->index + r + 1, (p->used - r - 1) * sizeof(l->index[0]));
		slots = l->slot;
	} else {
		struct pt_packed *k = p->mem;

		r = packed_rank(k, i);
		k->present[i >> 6] &= ~(1ull << (i & 63));
		for (unsigned w = (i >> 6) + 1; w < PT_WORDS; w++)
			k->rank[w]--;
		slots = k->slot;
	}
	memmove(slots + r, slots + r + 1, slot_bytes(p->used - r - 1));
	p->used--;
}

/* The first address table page p maps, for an address va it maps (the root: 0). */
static uint64_t page_va_base(const struct vmem_pt *pt, const struct pt_page *p, uint64_t va)
{
	if (p->level == pt->levels)
		return 0;
	return va & ~((1ull << vmem_level_shift(p->level + 1u)) - 1);
}

/* Writes entry i of p, a table page that maps va: e, or for a table-pointer entry e
 * (table_entry of child) the child pointer in its place; 0 or VMEM_ENOMEM. */
static int entry_write(struct vmem_pt *pt, struct pt_page *p, uint64_t va, unsigned i,
		       uint64_t e, struct pt_page *child)
{
	uint64_t *s = pt_slot(p, i);
	uint64_t old = s ? pt_word_entry(*s) : 0;

	/* (A header above the pointer bits, possible only with 5-level user addresses,
	 * cannot be stored in a slot word.) */
	if (child && ((uintptr_t)child & ~(uintptr_t)PT_CHILD_POINTER))
		return VMEM_ENOMEM;
	pt->gen++;
	if (e == 0) {
		if (s)
			slot_remove(p, i);
	} else {
		if (!s && !(s = slot_insert(pt, p, i)))
			return VMEM_ENOMEM;
		*s = child ? pt_child_word(child, e) : e;
	}
	if (pt->obs.on_write)
		pt->obs.on_write(pt->obs.ctx, pt, p->pa, page_va_base(pt, p, va), p->level, i,
				 old, e);
	return 0;
}

int vmem_pt_create(const struct vmem_pt_config *cfg, const struct vmem_frame_source *src,
		   struct vmem_pt **out)
{
	struct vmem_pt *pt;
	int err;

	*out = NULL;
	if ((cfg->levels != 4 && cfg->levels != 5) || !src || !src->alloc || !src->free)
		return VMEM_EINVAL;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return VMEM_ENOMEM;
	pt->levels = cfg->levels;
	pt->va_bits = 12 + 9 * cfg->levels;
	pt->format = cfg->format;
	pt->src = *src;
	pt->gen = 1;
	pt->tables_gen = 1;
	pt->root = page_new(pt, pt->levels, &err);
	if (!pt->root) {
		pool_destroy(pt);
		free(pt);
		return err;
	}
	*out = pt;
	return 0;
}

void vmem_pt_destroy(struct vmem_pt *pt)
{
	if (!pt)
		return;
	page_free_tree(pt, pt->root);
	pool_destroy(pt);
	free(pt->pa_memo);
	free(pt->table_memo);
	free(pt);
}

void vmem_pt_set_observer(struct vmem_pt *pt, const struct vmem_pt_observer *obs)
{
	if (obs)
		pt->obs = *obs;
	else
		memset(&pt->obs, 0, sizeof(pt->obs));
}

unsigned vmem_pt_levels(const struct vmem_pt *pt)
{
	return pt->levels;
}

enum vmem_pt_format vmem_pt_format(const struct vmem_pt *pt)
{
	return pt->format;
}

uint64_t vmem_pt_root(const struct vmem_pt *pt)
{
	return pt->root->pa;
}

uint64_t vmem_pt_table_pages(const struct vmem_pt *pt)
{
	return pt->pages;
}

/* Table-pointer entries grant everything; the leaf decides (see the top comment). Their
 * flags are bits 11:0 only, as a slot word that points to the child keeps them
 * (pt_internal.h). */
static uint64_t table_entry(const struct vmem_pt *pt, const struct pt_page *child)
{
	return vmem_pte_encode(pt->format, child->pa,
			       VMEM_PTE_P | VMEM_PTE_RW | VMEM_PTE_US);
}

/* EPT entries that map a page carry a memory type in bits 5:3 (SDM Vol. 3C, table 29-6);
 * guest RAM is write-back. Non-leaf EPT entries have those bits reserved (0). */
static uint64_t leaf_memtype(const struct vmem_pt *pt)
{
	return pt->format == VMEM_PT_EPT ? EPT_WB : 0;
}

static uint64_t leaf_entry(const struct vmem_pt *pt, uint64_t pa, unsigned level, unsigned prot)
{
	unsigned bits = vmem_prot_to_pte_bits(prot);

	if (level > 1)
		bits |= VMEM_PTE_PS;
	return vmem_pte_encode(pt->format, pa, bits) | leaf_memtype(pt);
}

int vmem_pt_map(struct vmem_pt *pt, uint64_t va, uint64_t pa, enum vmem_page_size size,
		unsigned prot)
{
	unsigned leaf_level = 1 + (unsigned)size;
	uint64_t align = vmem_page_bytes(size) - 1;
	struct pt_page *p = pt->root;
	int err;

	if ((unsigned)size >= VMEM_PAGE_SIZES || (va & align) || (pa & align))
		return VMEM_EINVAL;
	if (!vmem_addr_canonical(va, pt->va_bits))
		return VMEM_ERANGE;
	for (unsigned level = pt->levels; level > leaf_level; level--) {
		unsigned i = vmem_pt_index(va, level);
		const uint64_t *s = pt_slot(p, i);

		if (s) {
			if (!pt_slot_child(s))
				return VMEM_EEXIST;   /* a large-page leaf */
			p = pt_slot_child(s);
		} else {
			struct pt_page *c = page_new(pt, level - 1, &err);

			if (!c)
				return err;
			err = entry_write(pt, p, va, i, table_entry(pt, c), c);
			if (err) {
				page_free_tree(pt, c);
				return err;
			}
			p = c;
		}
	}
	{
		unsigned i = vmem_pt_index(va, leaf_level);

		if (pt_slot(p, i))
			return VMEM_EEXIST;
		return entry_write(pt, p, va, i, leaf_entry(pt, pa, leaf_level, prot), NULL);
	}
}

struct pt_page *pt_find_leaf(const struct vmem_pt *pt, uint64_t va, unsigned *index)
{
	struct pt_page *p = pt->root;

	for (unsigned level = pt->levels; level >= 1; level--) {
		unsigned i = vmem_pt_index(va, level);
		const uint64_t *s = pt_slot(p, i);

		if (!s || !pt_entry_present(pt->format, pt_word_entry(*s)))
			return NULL;
		if (!pt_slot_child(s)) {
			*index = i;
			return p;
		}
		p = pt_slot_child(s);
	}
	return NULL;
}

struct pt_page *pt_find_table(const struct vmem_pt *pt, uint64_t va, unsigned level)
{
	struct pt_page *p = pt->root;

	for (unsigned l = pt->levels; l > level; l--) {
		p = pt_child(p, vmem_pt_index(va, l));
		if (!p)
			return NULL;
	}
	return p;
}

int vmem_pt_unmap(struct vmem_pt *pt, uint64_t va)
{
	unsigned i;
	struct pt_page *p = pt_find_leaf(pt, va, &i);

	if (!p)
		return VMEM_ENOENT;
	return entry_write(pt, p, va, i, 0, NULL);
}

int vmem_pt_protect(struct vmem_pt *pt, uint64_t va, unsigned prot)
{
	unsigned i;
	struct pt_page *p = pt_find_leaf(pt, va, &i);
	uint64_t e;
	unsigned keep;

	if (!p)
		return VMEM_ENOENT;
	e = pt_entry(p, i);
	/* Keep the A and D bits the hardware set; replace the permissions. */
	keep = vmem_pte_decode(pt->format, e) & (VMEM_PTE_A | VMEM_PTE_D | VMEM_PTE_PS);
	return entry_write(pt, p, va, i, vmem_pte_encode(pt->format, vmem_pte_addr(e),
						     vmem_prot_to_pte_bits(prot) | keep) |
					     leaf_memtype(pt), NULL);
}

/* Tests (and with clear, clears) the A (dirty = false) or D bit of the leaf mapping va.
 * Clearing is not a change the write observer needs to see: the hardware sets the bit
 * again on a later walk, and, as Linux's ptep_test_and_clear_young on x86, nothing is
 * flushed, so an access through a cached translation goes unseen until it is evicted. */
static bool test_ad(struct vmem_pt *pt, uint64_t va, bool dirty, bool clear)
{
	unsigned i;
	struct pt_page *p = pt_find_leaf(pt, va, &i);
	bool ept = pt->format == VMEM_PT_EPT;
	uint64_t bit = dirty ? (ept ? 1ull << 9 : 1ull << 6) : (ept ? 1ull << 8 : 1ull << 5);
	uint64_t *e = p ? pt_slot(p, i) : NULL;
	bool set;

	if (!e)
		return false;
	set = (*e & bit) != 0;
	if (clear)
		*e &= ~bit;
	return set;
}

bool vmem_pt_test_young(struct vmem_pt *pt, uint64_t va, bool clear)
{
	return test_ad(pt, va, false, clear);
}

bool vmem_pt_test_dirty(struct vmem_pt *pt, uint64_t va, bool clear)
{
	return test_ad(pt, va, true, clear);
}

uint64_t vmem_pt_zap(struct vmem_pt *pt, uint64_t va, unsigned level)
{
	struct pt_page *p = pt_find_table(pt, va, level);
	struct pt_page *c;
	unsigned i;

	if (!p)
		return 0;
	i = vmem_pt_index(va, level);
	if (!pt_entry_present(pt->format, pt_entry(p, i)))
		return 0;
	c = pt_child(p, i);
	entry_write(pt, p, va, i, 0, NULL);   /* a removal: cannot fail */
	return c ? page_free_tree(pt, c) : 0;
}

int vmem_pt_lookup(const struct vmem_pt *pt, uint64_t va, struct vmem_pt_leaf *leaf,
		   unsigned *level_out)
{
	const struct pt_page *p = pt->root;

	if (!vmem_addr_canonical(va, pt->va_bits))
		return VMEM_ERANGE;
	for (unsigned level = pt->levels; level >= 1; level--) {
		const uint64_t *s = pt_slot(p, vmem_pt_index(va, level));
		uint64_t e = s ? pt_word_entry(*s) : 0;

		if (!pt_entry_present(pt->format, e)) {
			if (level_out)
				*level_out = level;
			return VMEM_ENOENT;
		}
		if (pt_entry_is_leaf(pt->format, e, level)) {
			uint64_t mask = (1ull << vmem_level_shift(level)) - 1;

			leaf->bits = vmem_pte_decode(pt->format, e);
			leaf->prot = vmem_pte_bits_to_prot(leaf->bits);
			leaf->size = (enum vmem_page_size)(level - 1);
			leaf->pa = vmem_pte_addr(e) + (va & mask);
			return 0;
		}
		p = pt_slot_child(s);
	}
	return VMEM_ENOENT;
}

int pt_translate_memo(struct vmem_pt *pt, uint64_t va, uint64_t *pa)
{
	struct vmem_pt_leaf leaf;
	struct pt_pa_memo *e;
	int err;

	if (!pt->pa_memo) {
		pt->pa_memo = calloc(PT_PA_MEMO, sizeof(*pt->pa_memo));
		if (!pt->pa_memo)
			return VMEM_ENOMEM;
	}
	e = &pt->pa_memo[(va >> 12) & (PT_PA_MEMO - 1)];
	if (e->gen == pt->gen && e->va == va) {
		*pa = e->pa;
		return 0;
	}
	err = vmem_pt_lookup(pt, va, &leaf, NULL);
	if (err)
		return err;
	e->va = va;
	e->pa = leaf.pa;
	e->gen = pt->gen;
	*pa = leaf.pa;
	return 0;
}

struct pt_page *pt_find_table_remember(struct vmem_pt *pt, uint64_t va, unsigned level)
{
	uint64_t base = va & ~((1ull << vmem_level_shift(level + 1)) - 1);
	struct pt_table_memo *e;
	struct pt_page *t;

	if (!pt->table_memo) {
		pt->table_memo = calloc(PT_TABLE_MEMO, sizeof(*pt->table_memo));
		if (!pt->table_memo)
			return pt_find_table(pt, va, level);
	}
	e = &pt->table_memo[((base >> vmem_level_shift(level + 1)) + level * 0x9Eu) &
			    (PT_TABLE_MEMO - 1)];
	t = pt_find_table(pt, va, level);
	if (t) {
		e->va_base = base;
		e->level = level;
		e->table = t;
		e->gen = pt->tables_gen;
	}
	return t;
}

bool vmem_pt_has_table(const struct vmem_pt *pt, uint64_t va, unsigned level)
{
	return pt_find_table(pt, va, level) != NULL;
}
