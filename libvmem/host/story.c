/*
 * A page's story: as vmem-walk explains one walk, the manager can tell the life of a few
 * guest pages (or of the victims of one reclaim), every state change with its simulated
 * time, its cause and its cost, for a student to follow.
 *
 * Every state change goes through host_page_set_state, which calls story_record; the code
 * that makes the change says why beforehand in h->why (host_why). Recording costs nothing
 * while no page is watched.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_internal.h"

void host_why(struct vmem_host *h, const char *fmt, ...)
{
	va_list ap;

	/* Words are for stories: while no page is or will be watched, none are needed. */
	if (!story_on(h))
		return;

	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
}

static bool watched(const struct vmem_host *h, uint64_t key)
{
	for (unsigned i = 0; i < h->nwatch; i++)
		if (h->watch[i] == key)
			return true;
	return false;
}

int vmem_host_watch(struct vmem_host *h, uint16_t vm, uint64_t gfn)
{
	uint64_t key = frame_owner(vm, gfn);

	if (watched(h, key))
		return 0;
	if (h->nwatch == VMEM_HOST_WATCH_MAX)
		return host_errorf(h, VMEM_ELIMIT, "at most %d pages can be watched",
				   VMEM_HOST_WATCH_MAX);
	h->watch[h->nwatch++] = key;
	return 0;
}

int vmem_host_watch_balloon(struct vmem_host *h, uint64_t pages)
{
	h->watch_balloon = pages;
	return 0;
}

int vmem_host_watch_reclaim(struct vmem_host *h, uint64_t pass)
{
	if (pass == 0)
		return host_errorf(h, VMEM_EINVAL, "reclaim passes count from 1");
	h->watch_reclaim = pass;
	return 0;
}

void story_record(struct vmem_host *h, struct hvm *v, uint64_t gfn, enum vmem_page_state from,
		  enum vmem_page_state to)
{
	uint64_t key = frame_owner(v->id, gfn);
	struct vmem_host_event *e;

	if (!watched(h, key) && !(h->watch_pass && vmem_host_watch(h, v->id, gfn) == 0))
		return;
	if (!h->events && !(h->events = malloc(VMEM_HOST_EVENTS_MAX * sizeof(*h->events)))) {
		h->events_dropped++;
		return;
	}
	if (h->nevents == VMEM_HOST_EVENTS_MAX) {
		h->events_dropped++;
		return;
	}
	e = &h->events[h->nevents++];
	e->time = h->now;
	e->vm = v->id;
	e->gfn = gfn;
	e->from = from;
	e->to = to;
	e->cycles = 0;
	snprintf(e->cause, sizeof(e->cause), "%s", h->why[0] ? h->why : "?");
}

void story_cost(struct vmem_host *h, size_t since, uint16_t vm, uint64_t gfn, uint64_t cycles)
{
	for (size_t i = since; i < h->nevents; i++)
		if (h->events[i].vm == vm && h->events[i].gfn == gfn)
			h->events[i].cycles = cycles;
}

const struct vmem_host_event *vmem_host_events(const struct vmem_host *h, size_t *n,
					       uint64_t *dropped)
{
	*n = h->nevents;
	if (dropped)
		*dropped = h->events_dropped;
	return h->events;
}

void story_fini(struct vmem_host *h)
{
	free(h->events);
}
