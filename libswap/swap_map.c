/*
 * swap_map.c - the swap_map bytes and reference counts of an area's slots (swap_map.h).
 *
 * A swap_map byte is: bits 0-5 the low digit of the reference count (0 .. SWAP_MAP_MAX), or
 * SWAP_MAP_BAD for a slot that is never used; SWAP_HAS_CACHE when someone holds the slot's
 * swap-cache claim (a page of it is being written, read, or kept in the swap cache);
 * COUNT_CONTINUED when higher digits of the count live in continuation bytes.
 *
 * Count continuation, our layout: the count is a mixed-radix number.  Digit 0 is in swap_map
 * (radix SWAP_MAP_MAX + 1 = 63); digit k >= 1 is in byte (offset % SWAPFILE_CLUSTER) of the
 * cluster's continuation array k - 1 (radix SWAP_CONT_MAX + 1 = 128, bits 0-6), whose bit 7 says
 * that some digit above it is non-zero, just as COUNT_CONTINUED says it of digit 0.  So a slot
 * with COUNT_CONTINUED is never free even when its low digit is 0, and the flags let increment
 * and decrement stop at the first digit that does not carry or borrow.  Continuation arrays are
 * allocated the first time a slot of the cluster needs one and freed when no slot of the
 * cluster uses them any more.
 *
 * This file may not take locks (its callers hold the cluster lock), touch the cluster lists,
 * backends or the swap cache.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "swap_map.h"

int swi_map_init(struct swap_map *m, uint64_t max, const uint32_t *bad, uint32_t nr_bad,
		 uint64_t *nr_bad_used)
{
	uint64_t nr = (max + SWAPFILE_CLUSTER - 1) / SWAPFILE_CLUSTER;
	uint64_t len = nr * SWAPFILE_CLUSTER;

	m->nr_clusters = (uint32_t)nr;
	m->map = calloc(len, 1);
	m->cont = calloc(nr, sizeof(*m->cont));
	if (!m->map || !m->cont)
		return -ENOMEM;
	/* Slot 0 holds the header of a swap device: never a page.  The tail lies past the area. */
	m->map[0] = SWAP_MAP_BAD;
	for (uint64_t off = max; off < len; off++)
		m->map[off] = SWAP_MAP_BAD;
	*nr_bad_used = 0;
	for (uint32_t i = 0; i < nr_bad; i++) {
		uint64_t off = bad[i];
		if (off == 0 || off >= max || m->map[off] == SWAP_MAP_BAD)
			continue;
		m->map[off] = SWAP_MAP_BAD;
		(*nr_bad_used)++;
	}
	return 0;
}

static void free_continuation(struct swap_map_cont *c)
{
	for (int l = 0; l < SWAP_CONT_LEVELS; l++) {
		free(c->digit[l]);
		c->digit[l] = NULL;
	}
}

void swi_map_destroy(struct swap_map *m)
{
	if (m->cont) {
		for (uint32_t i = 0; i < m->nr_clusters; i++)
			free_continuation(&m->cont[i]);
	}
	free(m->cont);
	free(m->map);
	m->cont = NULL;
	m->map = NULL;
}

static inline struct swap_map_cont *cont_of(const struct swap_map *m, uint64_t off)
{
	return &m->cont[off / SWAPFILE_CLUSTER];
}

static inline uint8_t *cont_byte(const struct swap_map_cont *c, int level, uint64_t off)
{
	return &c->digit[level][off % SWAPFILE_CLUSTER];
}

uint64_t swi_map_count(const struct swap_map *m, uint64_t off)
{
	const struct swap_map_cont *c = cont_of(m, off);
	uint8_t b = m->map[off];
	uint64_t high = 0;
	int top = -1;

	if (!(b & COUNT_CONTINUED))
		return swap_map_count_digit(b);
	/* Find the highest level in use, then accumulate downwards. */
	for (int l = 0; l < SWAP_CONT_LEVELS && c->digit[l]; l++) {
		top = l;
		if (!(*cont_byte(c, l, off) & COUNT_CONTINUED))
			break;
	}
	for (int l = top; l >= 0; l--)
		high = high * (SWAP_CONT_MAX + 1) + (*cont_byte(c, l, off) & SWAP_CONT_MAX);
	return swap_map_count_digit(b) + high * (SWAP_MAP_MAX + 1);
}

int swi_map_count_inc(struct swap_map *m, uint64_t off)
{
	struct swap_map_cont *c = cont_of(m, off);
	uint8_t b = m->map[off];
	int level = 0;

	/* Only a count with continuation digits can be near INT_MAX. */
	if ((b & COUNT_CONTINUED) && swi_map_count(m, off) >= INT_MAX)
		return -EOVERFLOW;
	if (swap_map_count_digit(b) < SWAP_MAP_MAX) {
		m->map[off] = b + 1;
		return 0;
	}
	/* Digit 0 carries: find the first continuation digit that does not. */
	if (b & COUNT_CONTINUED) {
		while (level < SWAP_CONT_LEVELS && c->digit[level] &&
		       (*cont_byte(c, level, off) & SWAP_CONT_MAX) == SWAP_CONT_MAX)
			level++;
		if (level == SWAP_CONT_LEVELS)
			return -EOVERFLOW;
	}
	for (int l = 0; l <= level; l++) {
		if (!c->digit[l]) {
			c->digit[l] = calloc(SWAPFILE_CLUSTER, 1);
			if (!c->digit[l])
				return -ENOMEM;
		}
	}
	for (int l = 0; l < level; l++) /* 0x7f + 1: digit 0, carry, something above is set */
		*cont_byte(c, l, off) = COUNT_CONTINUED;
	(*cont_byte(c, level, off))++;
	if (!(b & COUNT_CONTINUED))
		zs_store_relaxed(&c->nr_continued, zs_load_relaxed(&c->nr_continued) + 1);
	m->map[off] = (b & SWAP_HAS_CACHE) | COUNT_CONTINUED;
	return 0;
}

void swi_map_count_dec(struct swap_map *m, uint64_t off)
{
	struct swap_map_cont *c = cont_of(m, off);
	uint8_t b = m->map[off];
	bool above;
	int level = 0;

	if (swap_map_count_digit(b) > 0) {
		m->map[off] = b - 1;
		return;
	}
	/* Digit 0 is 0 with COUNT_CONTINUED: borrow from the first non-zero digit above. */
	while ((*cont_byte(c, level, off) & SWAP_CONT_MAX) == 0)
		level++;
	(*cont_byte(c, level, off))--;
	above = *cont_byte(c, level, off) != 0; /* its digit or its own "more above" flag */
	for (int l = level - 1; l >= 0; l--) {
		*cont_byte(c, l, off) = SWAP_CONT_MAX | (above ? COUNT_CONTINUED : 0);
		above = true;
	}
	m->map[off] = (b & SWAP_HAS_CACHE) | SWAP_MAP_MAX | (above ? COUNT_CONTINUED : 0);
	if (!above) {
		uint16_t n = zs_load_relaxed(&c->nr_continued) - 1;
		zs_store_relaxed(&c->nr_continued, n);
		if (n == 0)
			free_continuation(c);
	}
}

uint64_t swi_map_nr_continued(const struct swap_map *m)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < m->nr_clusters; i++)
		n += zs_load_relaxed(&m->cont[i].nr_continued);
	return n;
}
