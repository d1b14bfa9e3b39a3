/*
 * cpu.c - how many per-CPU slots libswap's arrays have (cpu.h).
 */
#include <pthread.h>
#include <sys/sysinfo.h>

#include "cpu.h"

unsigned swi_nr_cpus = 1;

static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;

static void cpus_count(void)
{
	int n = get_nprocs_conf();

	swi_nr_cpus = n > 0 ? (unsigned)n : 1;
}

void swi_cpus_init(void)
{
	pthread_once(&cpus_once, cpus_count);
}
