/*
 * The indexes of the KSM model (ksm.c): hash tables keyed by (content hash, merge group)
 * that stand in for Linux's stable and unstable red-black trees, and by host frame for
 * the reverse look-up on copy-on-write breaks.
 *
 * Open addressing with linear probing and backward-shift deletion (no tombstones, so a
 * table that is emptied and refilled every full scan stays as fast as a fresh one). A
 * table grows to keep its load under 70 %.
 */
#ifndef VMEM_KSM_TREE_H
#define VMEM_KSM_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kslot {
	uint64_t key;
	uint32_t group;
	uint32_t used;
	uint64_t val;
};

struct ktab {
	struct kslot *s;
	uint64_t cap;                /* slots, a power of two (0: nothing allocated yet) */
	uint64_t n;                  /* used slots */
};

/* The value stored under (key, group), or NULL. The pointer lives until the next put or
 * del. */
uint64_t *ktab_get(const struct ktab *t, uint64_t key, uint32_t group);
/* Stores val under (key, group), replacing what was there. VMEM_ENOMEM if growing fails. */
int ktab_put(struct ktab *t, uint64_t key, uint32_t group, uint64_t val);
/* Removes (key, group); returns whether it was there. */
bool ktab_del(struct ktab *t, uint64_t key, uint32_t group);
/* Empties the table and keeps its slots. */
void ktab_clear(struct ktab *t);
void ktab_free(struct ktab *t);
/* Bytes the table holds. */
size_t ktab_bytes(const struct ktab *t);

#endif
