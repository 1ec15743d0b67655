/*
 * Hash tables for the KSM model's stable and unstable indexes (ksm_tree.h).
 */
#include <stdlib.h>
#include <string.h>

#include "vmem/common.h"

#include "ksm_tree.h"

static uint64_t slot_of(const struct ktab *t, uint64_t key, uint32_t group)
{
	/* A 64-bit finalizer (splitmix64's) over the key with the group folded in. */
	uint64_t x = key ^ ((uint64_t)group * 0x9e3779b97f4a7c15ull);

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x & (t->cap - 1);
}

uint64_t *ktab_get(const struct ktab *t, uint64_t key, uint32_t group)
{
	if (!t->cap)
		return NULL;
	for (uint64_t i = slot_of(t, key, group);; i = (i + 1) & (t->cap - 1)) {
		struct kslot *s = &t->s[i];

		if (!s->used)
			return NULL;
		if (s->key == key && s->group == group)
			return &s->val;
	}
}

static int grow(struct ktab *t)
{
	struct ktab bigger = { 0 };

	bigger.cap = t->cap ? t->cap * 2 : 64;
	bigger.s = calloc(bigger.cap, sizeof(*bigger.s));
	if (!bigger.s)
		return VMEM_ENOMEM;
	for (uint64_t i = 0; i < t->cap; i++)
		if (t->s[i].used) {
			uint64_t j = slot_of(&bigger, t->s[i].key, t->s[i].group);

			while (bigger.s[j].used)
				j = (j + 1) & (bigger.cap - 1);
			bigger.s[j] = t->s[i];
			bigger.n++;
		}
	free(t->s);
	*t = bigger;
	return 0;
}

int ktab_put(struct ktab *t, uint64_t key, uint32_t group, uint64_t val)
{
	uint64_t *v = ktab_get(t, key, group);
	uint64_t i;

	if (v) {
		*v = val;
		return 0;
	}
	if ((t->n + 1) * 10 > t->cap * 7) {
		int err = grow(t);

		if (err)
			return err;
	}
	for (i = slot_of(t, key, group); t->s[i].used; i = (i + 1) & (t->cap - 1))
		;
	t->s[i] = (struct kslot){ .key = key, .group = group, .used = 1, .val = val };
	t->n++;
	return 0;
}

bool ktab_del(struct ktab *t, uint64_t key, uint32_t group)
{
	uint64_t i, j, mask = t->cap - 1;

	if (!t->cap)
		return false;
	for (i = slot_of(t, key, group);; i = (i + 1) & mask) {
		if (!t->s[i].used)
			return false;
		if (t->s[i].key == key && t->s[i].group == group)
			break;
	}
	/* Backward shift: move later entries of the run into the hole when their home slot
	 * does not lie cyclically in (hole, their slot]. */
	for (j = (i + 1) & mask; t->s[j].used; j = (j + 1) & mask) {
		uint64_t home = slot_of(t, t->s[j].key, t->s[j].group);

		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t->s[i] = t->s[j];
			i = j;
		}
	}
	t->s[i].used = 0;
	t->n--;
	return true;
}

void ktab_clear(struct ktab *t)
{
	if (t->cap && t->n)
		memset(t->s, 0, t->cap * sizeof(*t->s));
	t->n = 0;
}

void ktab_free(struct ktab *t)
{
	free(t->s);
	t->s = NULL;
	t->cap = t->n = 0;
}

size_t ktab_bytes(const struct ktab *t)
{
	return t->cap * sizeof(*t->s);
}
