/*
 * cpu.h - the CPU index that libswap's per-CPU arrays (cluster cursors, counters, compression
 * streams, free swap-cache pages) are indexed by.  A thread may migrate between reading its
 * index and using the slot: every per-CPU structure is locked or atomic, the index only spreads
 * threads over them.
 */
#ifndef SWAP_CPU_H
#define SWAP_CPU_H

#include <sched.h>

/* CPUs the process may run on (get_nprocs_conf), set once by swi_cpus_init(); at least 1. */
extern unsigned swi_nr_cpus;

/* Set swi_nr_cpus, once per process (swap_ctx_create calls it). */
void swi_cpus_init(void);

/* The calling thread's CPU, as an index below swi_nr_cpus. */
static inline unsigned swap_cpu(void)
{
	int cpu = sched_getcpu();

	if (__builtin_expect(cpu < 0, 0))
		cpu = 0;
	return (unsigned)cpu % swi_nr_cpus;
}

#endif /* SWAP_CPU_H */
