/*
 * Areas (swap_info): the context, swap_on / swap_off, priorities and the avail snapshot.
 *
 * A context holds up to SWAP_MAX_AREAS areas in ctx->swap_info[type].  Each public call reaches
 * an area from an entry's type inside an RCU read section; swap_out reaches the writable areas
 * through ctx->avail, an immutable snapshot grouped by priority, rebuilt and republished by
 * swap_on / swap_off under ctx->swap_lock.  Removing an area is: clear SWP_WRITEOK, republish
 * the snapshot, wait a grace period (no allocator can still be using the area), check again that
 * no slot is in use, unpublish, wait another grace period, free.
 *
 * This file may not touch swap_map bytes, the swap cache's tree or a backend's data: it creates
 * and destroys them through their files' setup and teardown calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "region_hook.h"
#include "swap_internal.h"

unsigned swap_nr_cpus = 1;

static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;

static void cpus_init(void)
{
	int n = get_nprocs_conf();
	swap_nr_cpus = n > 0 ? (unsigned)n : 1;
}

SWAP_API struct swap_ctx *swap_ctx_create(void)
{
	struct swap_ctx *ctx;

	pthread_once(&cpus_once, cpus_init);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&ctx->swap_lock, NULL);
	pthread_mutex_init(&ctx->desc_chunk_lock, NULL);
	pthread_mutex_init(&ctx->region_lock, NULL); /* regions (issue 12) */
	ctx->avail = calloc(1, sizeof(*ctx->avail));
	if (!ctx->avail || swap_desc_init(ctx)) {
		free(ctx->avail);
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	return ctx;
}

static void swap_info_free(struct swap_info *si)
{
	if (!si)
		return;
	if (si->kind == SWAP_AREA_MEMORY)
		zram_backend_destroy(si);
	else if (si->kind == SWAP_AREA_FILE)
		file_backend_destroy(si);
	swap_cache_tree_destroy(si);
	swap_cluster_teardown(si);
	free(si->percpu);
	free(si);
}

SWAP_API void swap_ctx_destroy(struct swap_ctx *ctx)
{
	if (!ctx)
		return;
	for (int i = 0; i < SWAP_MAX_AREAS; i++)
		swap_info_free(ctx->swap_info[i]);
	free(ctx->avail);
	swap_desc_destroy(ctx);
	pthread_mutex_destroy(&ctx->swap_lock);
	pthread_mutex_destroy(&ctx->desc_chunk_lock);
	pthread_mutex_destroy(&ctx->region_lock); /* regions (issue 12) */
	free(ctx);
}

static int cmp_prio_desc(const void *a, const void *b)
{
	const struct swap_info *x = *(struct swap_info *const *)a;
	const struct swap_info *y = *(struct swap_info *const *)b;
	if (x->prio != y->prio)
		return x->prio > y->prio ? -1 : 1;
	return x->type - y->type;
}

/*
 * Fill @av from the areas with SWP_WRITEOK, publish it, and free the old snapshot after a grace
 * period.  Caller holds ctx->swap_lock.  Cannot fail: the caller allocated @av.
 */
static void avail_republish(struct swap_ctx *ctx, struct swap_avail *av)
{
	struct swap_avail *old;
	unsigned n = 0;

	memset(av, 0, sizeof(*av));
	for (int i = 0; i < SWAP_MAX_AREAS; i++) {
		struct swap_info *si = ctx->swap_info[i];
		if (si && (atomic_load(&si->flags) & SWP_WRITEOK))
			av->si[n++] = si;
	}
	qsort(av->si, n, sizeof(av->si[0]), cmp_prio_desc);
	for (unsigned i = 0; i < n; i++) {
		if (!av->nr_groups || av->groups[av->nr_groups - 1].prio != av->si[i]->prio) {
			av->groups[av->nr_groups].prio = av->si[i]->prio;
			av->groups[av->nr_groups].first = i;
			av->nr_groups++;
		}
		av->groups[av->nr_groups - 1].nr++;
	}
	old = __atomic_exchange_n(&ctx->avail, av, __ATOMIC_SEQ_CST);
	swap_rcu_synchronize();
	free(old);
}

static int setup_percpu(struct swap_info *si)
{
	si->percpu = aligned_alloc(SWAP_CACHELINE, sizeof(*si->percpu) * swap_nr_cpus);
	if (!si->percpu)
		return -ENOMEM;
	memset(si->percpu, 0, sizeof(*si->percpu) * swap_nr_cpus);
	for (unsigned c = 0; c < swap_nr_cpus; c++) {
		swap_spin_init(&si->percpu[c].lock);
		si->percpu[c].cluster = CLUSTER_NONE;
	}
	return 0;
}

SWAP_API int swap_on(struct swap_ctx *ctx, const struct swap_area_opts *opts)
{
	struct swap_info *si;
	struct swap_avail *av;
	uint32_t *bad = NULL, nr_bad = 0;
	int type = -1, err;

	if (!ctx || !opts)
		return -EINVAL;
	swap_rcu_enter();
	si = calloc(1, sizeof(*si));
	if (!si)
		return -ENOMEM;
	si->ctx = ctx;
	si->prio = opts->priority;
	swap_spin_init(&si->lock);

	pthread_mutex_lock(&ctx->swap_lock);
	for (int i = 0; i < SWAP_MAX_AREAS; i++) {
		if (!ctx->swap_info[i]) {
			type = i;
			break;
		}
	}
	if (type < 0) {
		err = -ENOSPC;
		goto fail;
	}
	si->type = type;

	if (!opts->path) {
		if (opts->nr_pages < 2 || opts->nr_pages > SWAP_MAX_PAGES || opts->label ||
		    opts->nr_bad_pages || opts->bad_pages || opts->flags) {
			err = -EINVAL;
			goto fail;
		}
		si->kind = SWAP_AREA_MEMORY;
		si->max = opts->nr_pages;
		err = zram_backend_create(si, opts);
	} else {
		if (opts->compressor || opts->mem_limit || (opts->flags & ~SWAP_AREA_CHECKSUM)) {
			err = -EINVAL;
			goto fail;
		}
		si->kind = SWAP_AREA_FILE;
		err = file_backend_create(ctx, si, opts, &bad, &nr_bad);
	}
	if (err)
		goto fail;

	err = setup_percpu(si);
	if (!err)
		err = swap_cluster_setup(si, bad, nr_bad);
	if (!err)
		err = swap_cache_tree_init(si);
	free(bad);
	bad = NULL;
	if (err)
		goto fail;

	av = malloc(sizeof(*av));
	if (!av) {
		err = -ENOMEM;
		goto fail;
	}
	if (si->kind == SWAP_AREA_FILE)
		file_backend_commit(si);
	atomic_store(&si->flags, SWP_USED | SWP_WRITEOK);
	__atomic_store_n(&ctx->swap_info[type], si, __ATOMIC_RELEASE);
	avail_republish(ctx, av);
	pthread_mutex_unlock(&ctx->swap_lock);
	return type;

fail:
	pthread_mutex_unlock(&ctx->swap_lock);
	free(bad);
	swap_info_free(si);
	return err;
}

/* ---- regions (issue 12, region_hook.h): the context's list of regions ---- */
pthread_mutex_t *swi_ctx_region_lock(struct swap_ctx *ctx)
{
	return &ctx->region_lock;
}

struct swap_region **swi_ctx_regions(struct swap_ctx *ctx)
{
	return &ctx->regions;
}

SWAP_API int swap_off(struct swap_ctx *ctx, int type)
{
	struct swap_avail *av[2];
	struct swap_info *si;
	int err = 0;

	if (!ctx || type < 0 || type >= SWAP_MAX_AREAS)
		return -EINVAL;
	swap_rcu_enter();
	/* Two snapshots: one without the area, one to put it back if it turns out busy. */
	av[0] = malloc(sizeof(*av[0]));
	av[1] = malloc(sizeof(*av[1]));
	pthread_mutex_lock(&ctx->swap_lock);
	si = ctx->swap_info[type];
	if (!si) {
		err = -EINVAL;
		goto out;
	}
	/* With regions over the context, the live entries may be theirs: see below. */
	if (swap_cluster_inuse(si) && !swi_region_any(ctx)) {
		err = -EBUSY;
		goto out;
	}
	if (!av[0] || !av[1]) {
		err = -ENOMEM;
		goto out;
	}
	/* Stop allocations, then wait until no allocator can still be inside this area. */
	atomic_fetch_and(&si->flags, ~SWP_WRITEOK);
	avail_republish(ctx, av[0]);
	av[0] = NULL;
	/* ---- regions (issue 12, region_hook.h): as the kernel's try_to_unuse, bring the pages
	 * regions hold in this area back out of it (it no longer takes new pages) ---- */
	if (swap_cluster_inuse(si) && swi_region_any(ctx))
		swi_region_unuse(ctx, type);
	if (swap_cluster_inuse(si)) {
		/* A swap_out took a slot before it saw the flag: the area stays. */
		atomic_fetch_or(&si->flags, SWP_WRITEOK);
		avail_republish(ctx, av[1]);
		av[1] = NULL;
		err = -EBUSY;
		goto out;
	}
	__atomic_store_n(&ctx->swap_info[type], NULL, __ATOMIC_RELEASE);
	swap_rcu_synchronize();
	swap_info_free(si);
out:
	pthread_mutex_unlock(&ctx->swap_lock);
	free(av[0]);
	free(av[1]);
	return err;
}
