/*
 * A doubly linked list of host frames through two arrays indexed by frame number, with a
 * sentinel after the last frame: O(1) insert, remove and membership, 8 bytes a frame
 * (calloc'd, so frames never listed cost no resident memory). The list policies (fifo,
 * lru, clock) keep their candidates in one.
 *
 * Links hold the neighbour + 1, so 0 means "not in the list".
 */
#ifndef VMEM_FRAME_LIST_H
#define VMEM_FRAME_LIST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "vmem/common.h"

struct frame_list {
	uint32_t *next, *prev;
	uint32_t sentinel;           /* = frames; its next is the first, its prev the last */
};

static inline int frame_list_init(struct frame_list *l, uint64_t frames)
{
	l->next = calloc(frames + 1, sizeof(*l->next));
	l->prev = calloc(frames + 1, sizeof(*l->prev));
	if (!l->next || !l->prev) {
		free(l->next);
		free(l->prev);
		return VMEM_ENOMEM;
	}
	l->sentinel = (uint32_t)frames;
	l->next[l->sentinel] = l->prev[l->sentinel] = l->sentinel + 1;
	return 0;
}

static inline void frame_list_fini(struct frame_list *l)
{
	free(l->next);
	free(l->prev);
}

static inline bool frame_list_has(const struct frame_list *l, uint32_t f)
{
	return l->next[f] != 0;
}

/* The frame after f (the sentinel after the last), and before it. */
static inline uint32_t frame_list_next(const struct frame_list *l, uint32_t f)
{
	return l->next[f] - 1;
}

static inline uint32_t frame_list_prev(const struct frame_list *l, uint32_t f)
{
	return l->prev[f] - 1;
}

/* Links f, not in the list, just before `at` (the sentinel: at the end). */
static inline void frame_list_insert_before(struct frame_list *l, uint32_t f, uint32_t at)
{
	uint32_t before = l->prev[at] - 1;

	l->prev[f] = before + 1;
	l->next[f] = at + 1;
	l->next[before] = f + 1;
	l->prev[at] = f + 1;
}

static inline void frame_list_remove(struct frame_list *l, uint32_t f)
{
	l->next[l->prev[f] - 1] = l->next[f];
	l->prev[l->next[f] - 1] = l->prev[f];
	l->next[f] = l->prev[f] = 0;
}

#endif
