/*
 * area.c - the context and its areas (area.h): swap_ctx_create / swap_ctx_destroy, swap_on /
 * swap_off, priorities and the avail snapshot, and the choice of the area a new page goes to.
 *
 * A context holds up to SWAP_MAX_AREAS areas in ctx->swap_info[type].  Each public call reaches
 * an area from an entry's type inside an RCU read section; swap_out reaches the writable areas
 * through ctx->avail, an immutable snapshot grouped by priority, rebuilt and republished by
 * swap_on / swap_off under ctx->swap_lock.  Removing an area is, as the kernel's swapoff does it:
 * take it out of allocation (clear SWP_WRITEOK, republish the snapshot, wait a grace period, so
 * no allocator can still be inside the area: it is draining, and stays so), then, once no slot
 * is in use, unpublish it, wait another grace period, free.
 *
 * swap_on picks the backend (the first in `backends` that claims the options), which checks
 * them and creates itself; then the area's parts are built in order: swap_map, clusters, swap
 * cache tree, counters.  swap_info_free undoes them in reverse.
 *
 * This file may not touch swap_map bytes, the swap cache's tree or a backend's data: it creates
 * and destroys them through their modules' calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "area.h"
#include "debug.h"

/* The kinds of backend, in the order they are asked whether they claim swap_on's options. */
static const struct swap_backend_ops *const backends[] = {
    &swi_tier_backend_ops,
    &swi_file_backend_ops,
    &swi_zram_backend_ops,
};

SWAP_API struct swap_ctx *swap_ctx_create(void)
{
	struct swap_ctx *ctx;

	swi_cpus_init();
	swi_rcu_init();
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&ctx->swap_lock, NULL);
	pthread_mutex_init(&ctx->region_lock, NULL);
	atomic_init(&ctx->unuse, NULL);
	ctx->avail = calloc(1, sizeof(*ctx->avail));
	if (!ctx->avail || swi_cache_pages_init(&ctx->cache_pages)) {
		swi_cache_pages_destroy(&ctx->cache_pages);
		free(ctx->avail);
		pthread_mutex_destroy(&ctx->swap_lock);
		pthread_mutex_destroy(&ctx->region_lock);
		free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	return ctx;
}

/* Free an area and its parts, in reverse order of swap_on's construction; @started: the
 * backend was started. */
static void swap_info_free(struct swap_info *si, bool started)
{
	if (!si)
		return;
	if (started && si->backend->ops->stop)
		si->backend->ops->stop(si->backend);
	swap_counters_destroy(&si->stats);
	swi_cache_tree_destroy(&si->cache);
	swi_clusters_destroy(&si->clusters);
	swi_map_destroy(&si->map);
	if (si->backend)
		si->backend->ops->destroy(si->backend);
	free(si);
}

SWAP_API void swap_ctx_destroy(struct swap_ctx *ctx)
{
	if (!ctx)
		return;
	for (int i = 0; i < SWAP_MAX_AREAS; i++)
		swap_info_free(ctx->swap_info[i], true);
	free(ctx->avail);
	swi_cache_pages_destroy(&ctx->cache_pages);
	pthread_mutex_destroy(&ctx->swap_lock);
	pthread_mutex_destroy(&ctx->region_lock);
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

		if (si && (zs_load_relaxed(&si->flags) & SWP_WRITEOK))
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
	old = rcu_xchg_pointer(&ctx->avail, av);
	swi_rcu_synchronize();
	free(old);
}

struct swap_info *swi_area_get_slot(struct swap_ctx *ctx, unsigned cpu, uint8_t usage,
				    uint32_t skip, uint64_t *off)
{
	struct swap_avail *av = rcu_dereference(ctx->avail);

	for (unsigned g = 0; g < av->nr_groups; g++) {
		unsigned first = av->groups[g].first, nr = av->groups[g].nr;
		unsigned start = 0;

		if (nr > 1)
			start = zs_fetch_add_relaxed(&av->groups[g].rr, 1);
		for (unsigned i = 0; i < nr; i++) {
			struct swap_info *si = av->si[first + (start + i) % nr];

			if (skip & (1u << si->type))
				continue;
			*off = swi_cluster_alloc(&si->clusters, cpu, usage);
			if (*off)
				return si;
		}
	}
	return NULL;
}

/* The backend that takes @opts, with the options checked: NULL and *@err set if none. */
static const struct swap_backend_ops *pick_backend(const struct swap_area_opts *opts, int *err)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (backends[i]->claims(opts)) {
			*err = backends[i]->check(opts);
			return *err ? NULL : backends[i];
		}
	}
	*err = -EINVAL;
	return NULL;
}

/* Build the area's parts over the backend's layout; 0 or -errno (the caller frees @si). */
static int area_build(struct swap_info *si, struct swap_backend_layout *layout)
{
	int err;

	si->max = layout->max;
	err = swi_map_init(&si->map, si->max, layout->bad, layout->nr_bad, &si->nr_bad);
	if (err)
		return err;
	si->pages = si->max - 1 - si->nr_bad;
	if (!si->pages)
		return -EINVAL; /* every slot is bad */
	err = swi_clusters_init(&si->clusters, si->map.map, si->map.nr_clusters);
	if (!err)
		err = swi_cache_tree_init(&si->cache, si->max);
	if (!err)
		err = swap_counters_init(&si->stats, ST_NR_ITEMS);
	return err;
}

SWAP_API int swap_on(struct swap_ctx *ctx, const struct swap_area_opts *opts)
{
	struct swap_backend_layout layout = {0};
	const struct swap_backend_ops *ops;
	struct swap_info *si;
	struct swap_avail *av;
	int type = -1, err;

	if (!ctx || !opts)
		return -EINVAL;
	ops = pick_backend(opts, &err);
	if (!ops)
		return err;
	si = calloc(1, sizeof(*si));
	av = malloc(sizeof(*av));
	if (!si || !av) {
		free(si);
		free(av);
		return -ENOMEM;
	}
	si->ctx = ctx;
	si->prio = opts->priority;

	pthread_mutex_lock(&ctx->swap_lock);
	for (int i = 0; i < SWAP_MAX_AREAS; i++) {
		if (!ctx->swap_info[i]) {
			type = i;
			break;
		}
	}
	err = -ENOSPC;
	if (type < 0)
		goto fail;
	si->type = type;
	err = ops->create(opts, &(struct swap_backend_env){.type = type, .si = si}, &si->backend,
			  &layout);
	if (!err)
		err = area_build(si, &layout);
	free(layout.bad);
	if (err)
		goto fail;
	if (ops->start)
		ops->start(si->backend);
	atomic_init(&si->flags, SWP_USED | SWP_WRITEOK);
	swi_debug_check_area(si, 1);
	rcu_assign_pointer(ctx->swap_info[type], si);
	avail_republish(ctx, av);
	pthread_mutex_unlock(&ctx->swap_lock);
	return type;

fail:
	pthread_mutex_unlock(&ctx->swap_lock);
	free(av);
	swap_info_free(si, false);
	return err;
}

/*
 * Take @si out of allocation, if it is not already draining: republish the snapshot without it
 * and wait until no allocator can still be inside it.  Caller holds ctx->swap_lock; *@av is a
 * snapshot to publish (taken when used).  0 or -ENOMEM (nothing changed).
 */
static int area_drain(struct swap_ctx *ctx, struct swap_info *si, struct swap_avail **av)
{
	if (!(zs_load_relaxed(&si->flags) & SWP_WRITEOK))
		return 0;
	if (!*av)
		return -ENOMEM;
	zs_fetch_and_relaxed(&si->flags, ~SWP_WRITEOK);
	avail_republish(ctx, *av);
	*av = NULL;
	return 0;
}

/* Remove draining area @si if it holds no entry: 0 or -EBUSY.  Caller holds ctx->swap_lock. */
static int area_remove_if_empty(struct swap_ctx *ctx, struct swap_info *si)
{
	if (si->backend->ops->quiesce)
		si->backend->ops->quiesce(si->backend);
	if (swi_clusters_inuse(&si->clusters))
		return -EBUSY;
	rcu_assign_pointer(ctx->swap_info[si->type], NULL);
	swi_rcu_synchronize();
	swi_debug_check_area(si, 1);
	swap_info_free(si, true);
	return 0;
}

SWAP_API int swap_off(struct swap_ctx *ctx, int type)
{
	struct swap_avail *av;
	struct swap_info *si;
	int err;

	if (!ctx || type < 0 || type >= SWAP_MAX_AREAS)
		return -EINVAL;
	av = malloc(sizeof(*av));
	pthread_mutex_lock(&ctx->swap_lock);
	si = ctx->swap_info[type];
	err = si ? area_drain(ctx, si, &av) : -EINVAL;
	if (!err) {
		/* The pages regions hold in the area can come back out of it (region_hook.h),
		 * as the kernel's try_to_unuse reads an area's pages back. */
		void (*unuse)(struct swap_ctx *, int) = zs_load_acquire(&ctx->unuse);

		if (unuse && swi_clusters_inuse(&si->clusters))
			unuse(ctx, type);
		err = area_remove_if_empty(ctx, si);
	}
	pthread_mutex_unlock(&ctx->swap_lock);
	free(av);
	return err;
}

SWAP_API int swap_off_wait(struct swap_ctx *ctx, int type, int timeout_ms)
{
	struct timespec start, now;
	long waited_ms = 0, nap_us = 200;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		err = swap_off(ctx, type);
		if (err != -EBUSY)
			return err;
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited_ms =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (timeout_ms >= 0 && waited_ms >= timeout_ms)
			return -EBUSY;
		/* Holders free their entries at their own pace: look again soon, then less often.
		 */
		usleep((useconds_t)nap_us);
		if (nap_us < 20000)
			nap_us *= 2;
	}
}

SWAP_API int swap_off_cancel(struct swap_ctx *ctx, int type)
{
	struct swap_avail *av;
	struct swap_info *si;
	int err = 0;

	if (!ctx || type < 0 || type >= SWAP_MAX_AREAS)
		return -EINVAL;
	av = malloc(sizeof(*av));
	pthread_mutex_lock(&ctx->swap_lock);
	si = ctx->swap_info[type];
	if (!si || (zs_load_relaxed(&si->flags) & SWP_WRITEOK)) {
		err = -EINVAL;
	} else if (!av) {
		err = -ENOMEM;
	} else {
		zs_fetch_or_relaxed(&si->flags, SWP_WRITEOK);
		avail_republish(ctx, av);
		av = NULL;
	}
	pthread_mutex_unlock(&ctx->swap_lock);
	free(av);
	return err;
}
