/*
 * counters.h - per-CPU event counters: each CPU adds to its own cache line, a reader sums the
 * lines.  So the hot paths never write a line another CPU is writing; a sum taken while others
 * count is a snapshot (each counter exact, the set of them not taken at one instant).  Used for
 * an area's events (area.h) and by backends for their own figures.
 */
#ifndef SWAP_COUNTERS_H
#define SWAP_COUNTERS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../libzs/zs_atomic.h"
#include "cpu.h"

#define SWAP_CACHELINE 64

struct swap_counters {
	unsigned nr;	    /* counters per CPU */
	unsigned stride;    /* counters per CPU line(s): nr rounded up to a cache line */
	_Atomic int64_t *v; /* swi_nr_cpus * stride */
};

/* Room for @nr counters per CPU, all zero.  0 or -ENOMEM. */
static inline int swap_counters_init(struct swap_counters *c, unsigned nr)
{
	size_t per_line = SWAP_CACHELINE / sizeof(int64_t);
	size_t bytes;

	c->nr = nr;
	c->stride = (unsigned)((nr + per_line - 1) / per_line * per_line);
	bytes = (size_t)c->stride * swi_nr_cpus * sizeof(int64_t);
	c->v = aligned_alloc(SWAP_CACHELINE, bytes);
	if (!c->v)
		return -ENOMEM;
	for (size_t i = 0; i < bytes / sizeof(int64_t); i++)
		atomic_init(&c->v[i], 0);
	return 0;
}

static inline void swap_counters_destroy(struct swap_counters *c)
{
	free((void *)(uintptr_t)c->v);
	c->v = NULL;
}

static inline void swap_count_add(struct swap_counters *c, unsigned cpu, unsigned item, int64_t d)
{
	zs_fetch_add_relaxed(&c->v[(size_t)cpu * c->stride + item], d);
}

static inline int64_t swap_count_sum(const struct swap_counters *c, unsigned item)
{
	int64_t sum = 0;

	for (unsigned cpu = 0; cpu < swi_nr_cpus; cpu++)
		sum += zs_load_relaxed(&c->v[(size_t)cpu * c->stride + item]);
	return sum;
}

#endif /* SWAP_COUNTERS_H */
