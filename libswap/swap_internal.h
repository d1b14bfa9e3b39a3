/*
 * libswap internals: the data structures shared by the library's files, and the small inline
 * helpers (spinlock, CPU index, entry lookup) the hot paths are written with.  Never installed.
 * It holds declarations only: no file's policy lives here.
 *
 * Shape
 * -----
 * A context (struct swap_ctx) has up to SWAP_MAX_AREAS areas (struct swap_info, the kernel's
 * swap_info_struct), published in ctx->swap_info[] under RCU, and an "avail" snapshot that lists
 * the writable areas grouped by priority (also under RCU).  Every public call that uses an area
 * runs inside an urcu-memb read-side critical section, so swap_off can free an area after a
 * grace period without any lock on the fast paths.
 *
 * An area of N slots has:
 *   - swap_map[]: one byte per slot (rounded up to whole clusters; the tail is SWAP_MAP_BAD).
 *   - cluster_info[]: one struct swap_cluster per SWAPFILE_CLUSTER slots.  Its lock guards the
 *     swap_map bytes of its slots, its use count and its continuation bytes.  Clusters that no
 *     CPU owns sit on one of three lists (free, nonfull, full) guarded by si->lock.
 *   - percpu[]: per CPU, the cluster that CPU allocates from (the kernel's percpu_cluster), and
 *     per-CPU statistics counters.
 *   - a swap cache: a radix tree indexed by slot offset whose leaves point at page descriptors.
 *   - a backend: compressed memory (backend_zram.c) or a swap file (backend_file.c).
 *
 * lock ordering (outermost first):
 *   ctx->swap_lock          mutex; swap_on / swap_off / swap_ctx_destroy, the avail snapshot
 *   percpu->lock            per area and CPU; the CPU's current cluster (cluster.c)
 *   si->lock                per area; the free / nonfull / full cluster lists, cluster ownership
 *   cluster->lock           per cluster; swap_map bytes, counts, continuation (swap_map.c)
 *   zcomp stream lock       per memory area and CPU; the compression context (backend_zram.c)
 *   ctx->desc_pcpu[].lock   per CPU; free swap-cache descriptors (swap_cache.c)
 *   ctx->desc_chunk_lock    mutex; the list of descriptor chunks and the shared list of free
 *                           descriptors, taken with no other lock
 *   libzs's own locks       innermost: zs_malloc runs under a stream lock, zs_free under a
 *                           cluster lock or none, zs_compact under none; libzs never calls back
 * The stream lock and the descriptor locks are never held together with each other or with a
 * cluster lock, except that a cluster lock may be held while the backend frees a slot (zs_free).
 * Our spinlocks are held for a few dozen instructions, except around zs_malloc / zs_free (which
 * may wait for a libzs class mutex); spinners yield after SWAP_SPIN_BEFORE_YIELD rounds.  Waits
 * for a page being filled (a futex) and for lookups to drop their references happen with no
 * lock held and outside the RCU read section, so a waiter never delays a grace period that the
 * thread it waits for might need (swap_on / swap_off).
 * The swap cache itself takes no lock: lookups are RCU walks, inserts and deletes are single
 * compare-and-swaps on the leaf slot, guarded by the slot's SWAP_HAS_CACHE claim.
 */
#ifndef SWAP_INTERNAL_H
#define SWAP_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* rcu_dereference() and friends as inline functions (allowed for any licence by liburcu). */
#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu/pointer.h>

/* SWAP_TSAN: built with the thread sanitizer (GCC defines the first macro, clang 14 only
 * answers the second test). */
#if defined(__SANITIZE_THREAD__)
#define SWAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SWAP_TSAN 1
#endif
#endif

/*
 * liburcu 0.13 reads and swaps RCU pointers with volatile loads and inline assembly, which the
 * thread sanitizer cannot see: every lookup would be reported racing the insert that published
 * what it found.  Under TSan the two operations we use are the C11 atomics with the ordering
 * liburcu gives them (a dependency-ordered load, a fully ordered compare-and-swap).
 */
#ifdef SWAP_TSAN
#undef rcu_dereference
#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#undef rcu_cmpxchg_pointer
#define rcu_cmpxchg_pointer(p, old, _new)                                                          \
	__extension__({                                                                            \
		__typeof__(*(p)) _o = (old);                                                       \
		__atomic_compare_exchange_n((p), &_o, (_new), false, __ATOMIC_SEQ_CST,             \
					    __ATOMIC_SEQ_CST);                                     \
		_o;                                                                                \
	})
#endif

#include "zs/swap.h"

#define SWAP_CACHELINE 64
#define __swap_aligned __attribute__((aligned(SWAP_CACHELINE)))
#define likely(x)      __builtin_expect(!!(x), 1)
#define unlikely(x)    __builtin_expect(!!(x), 0)

/* ---- spinlock: test-and-test-and-set, yielding when the holder seems preempted ---------- */

struct swap_spinlock {
	atomic_int locked;
};

#define SWAP_SPIN_BEFORE_YIELD                                                                     \
	128 /* ~1-2 us of pause: longer than any of our critical sections                          \
	     */

static inline void swap_spin_init(struct swap_spinlock *l)
{
	atomic_init(&l->locked, 0);
}

void swap_spin_lock_slow(struct swap_spinlock *l);

static inline void swap_spin_lock(struct swap_spinlock *l)
{
	if (likely(!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)))
		return;
	swap_spin_lock_slow(l);
}

static inline void swap_spin_unlock(struct swap_spinlock *l)
{
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- per-CPU ----------------------------------------------------------------------------- */

extern unsigned swap_nr_cpus; /* set once by swap_ctx_create(); sched_getcpu() is below it */

/* The calling thread's CPU, as an index into per-CPU arrays. */
static inline unsigned swap_cpu(void)
{
	int cpu = sched_getcpu();
	if (unlikely(cpu < 0))
		cpu = 0;
	return (unsigned)cpu % swap_nr_cpus;
}

/* ---- RCU (rcu.c) --------------------------------------------------------------------------- */

extern __thread bool swap_rcu_thread_registered __attribute__((tls_model("initial-exec")));
void swap_rcu_register_slow(void);

/* Make sure the calling thread is a registered urcu-memb reader (once per thread). */
static inline void swap_rcu_enter(void)
{
	if (unlikely(!swap_rcu_thread_registered))
		swap_rcu_register_slow();
}

void swap_rcu_read_lock(void);
void swap_rcu_read_unlock(void);
void swap_rcu_synchronize(void);

/* ---- statistics counters, per area and CPU ------------------------------------------------ */

enum swap_stat_item {
	ST_SWAP_OUTS,
	ST_SWAP_INS,
	ST_BACKEND_READS,
	ST_CACHE_HITS,
	ST_CACHE_PAGES,
	ST_FAILED_READS,
	ST_FAILED_WRITES,
	ST_PAGES_STORED, /* memory areas: orig_data_size / 4096 */
	ST_COMPR_SIZE,
	ST_SAME_PAGES,
	ST_HUGE_PAGES,
	ST_NR_ITEMS
};

/* ---- clusters ---------------------------------------------------------------------------- */

#define CLUSTER_NONE UINT32_MAX

enum cluster_list { CL_NONE = 0, CL_FREE, CL_NONFULL, CL_FULL, CL_NR_LISTS };

/*
 * Continuation levels beyond the swap_map byte.  Digit 0 (in swap_map) counts 0..SWAP_MAP_MAX
 * (radix 63); each continuation digit counts 0..SWAP_CONT_MAX (radix 128).  Four levels reach
 * 63 * 128^4 > INT_MAX, the most swap_count() can report.
 */
#define SWAP_CONT_LEVELS 4
#define SWAP_CONT_MAX	 0x7f

struct swap_cluster {
	struct swap_spinlock lock;
	uint16_t count;	       /* slots in use, bad slots included (SWAPFILE_CLUSTER = full) */
	uint16_t nr_bad;       /* bad slots: a cluster with count == nr_bad is free */
	uint16_t nr_continued; /* slots whose count uses continuation bytes */
	uint8_t list;	       /* enum cluster_list; written under si->lock and this lock */
	uint8_t owned;	       /* a CPU allocates from it; written under si->lock and this lock */
	uint32_t prev, next;   /* list links (indexes), under si->lock */
	uint8_t *cont[SWAP_CONT_LEVELS]; /* continuation bytes, SWAPFILE_CLUSTER each, lazily */
};

/* Per area and CPU: the allocation cursor and statistics. */
struct swap_percpu {
	struct swap_spinlock lock;
	uint32_t cluster; /* current cluster index, or CLUSTER_NONE; under lock, read racily */
	uint64_t next;	  /* offset to try first */
	int64_t stat[ST_NR_ITEMS];
} __swap_aligned;

struct cluster_list_head {
	uint32_t head, tail, nr;
};

/* ---- the swap cache (swap_cache.c) ------------------------------------------------------ */

#define SWAP_CACHE_SHIFT  6 /* 64 slots per node: a node is 512 bytes, 8 cache lines */
#define SWAP_CACHE_FANOUT (1u << SWAP_CACHE_SHIFT)

struct swap_cache_node {
	void *slot[SWAP_CACHE_FANOUT];
};

struct swap_cache_tree {
	unsigned height; /* levels of nodes; the leaves are level 0 */
	struct swap_cache_node *root;
};

/* Descriptor states (a futex word). */
#define SCP_LOCKED  0x1u /* not filled yet */
#define SCP_WAITERS 0x2u /* someone sleeps on the futex */
#define SCP_ERROR   0x4u /* filling failed: ->error says how */

/*
 * A page in the swap cache.  Descriptors are type-stable: they are recycled through per-CPU
 * free lists and only freed with the context, so an RCU lookup may take a reference to one that
 * was just reused; it then sees a different ->entry and retries.
 */
struct swap_cache_page {
	atomic_uint ref;   /* 0: free; the owner holds 1; lookups add theirs */
	atomic_uint state; /* SCP_* */
	int error;
	_Atomic uint64_t entry;
	const void *data; /* the page: the owner's buffer */
	struct swap_cache_page *next_free;
} __swap_aligned;

struct swap_desc_pcpu {
	struct swap_spinlock lock;
	struct swap_cache_page *free;
	unsigned nr_free;
} __swap_aligned;

/* ---- backends ---------------------------------------------------------------------------- */

struct zram_backend;
struct file_backend;

/* ---- an area ----------------------------------------------------------------------------- */

#define SWP_USED    0x1u
#define SWP_WRITEOK 0x2u

struct swap_info {
	struct swap_ctx *ctx;
	int type;
	int prio;
	atomic_uint flags; /* SWP_* */
	int kind;	   /* enum swap_area_kind */
	uint64_t max;	   /* slots, including slot 0 */
	uint64_t pages;	   /* usable slots */
	uint64_t nr_bad;   /* bad slots from the header */
	uint8_t *swap_map; /* nr_clusters * SWAPFILE_CLUSTER bytes */
	uint32_t nr_clusters;
	struct swap_cluster *cluster_info;
	struct swap_spinlock lock; /* the cluster lists */
	struct cluster_list_head lists[CL_NR_LISTS];
	struct swap_percpu *percpu;
	struct swap_cache_tree cache;
	union {
		struct zram_backend *zram;
		struct file_backend *file;
	};
};

/* The writable areas, highest priority first, as published for swap_out. */
struct swap_avail {
	unsigned nr_groups;
	struct {
		int prio;
		unsigned first, nr;
		atomic_uint rr; /* round-robin cursor among the group's areas */
	} groups[SWAP_MAX_AREAS];
	struct swap_info *si[SWAP_MAX_AREAS];
};

struct swap_ctx {
	pthread_mutex_t swap_lock;
	struct swap_info *swap_info[SWAP_MAX_AREAS]; /* RCU */
	struct swap_avail *avail;		     /* RCU */
	struct swap_desc_pcpu *desc_pcpu;
	pthread_mutex_t desc_chunk_lock;
	void *desc_chunks; /* list of allocated descriptor chunks */
	struct swap_cache_page *desc_free; /* free descriptors CPUs gave back (desc_chunk_lock) */
	/* ---- regions (issue 12, region_hook.h): the regions over this context ---- */
	pthread_mutex_t region_lock; /* after swap_lock; see region_hook.h */
	struct swap_region *regions;
};

/* ---- area.c -------------------------------------------------------------------------------- */

/* The area of @entry with a valid offset, or NULL.  Caller is inside an RCU read section. */
static inline struct swap_info *swap_info_get(struct swap_ctx *ctx, swp_entry_t entry)
{
	unsigned type = swp_type(entry);
	struct swap_info *si;
	uint64_t off = swp_offset(entry);
	if (unlikely(type >= SWAP_MAX_AREAS))
		return NULL;
	si = rcu_dereference(ctx->swap_info[type]);
	if (unlikely(!si || off == 0 || off >= si->max))
		return NULL;
	return si;
}

/*
 * Enter a public call on @entry: register the thread with RCU, open the read section, find
 * the area.  NULL (section closed again) for a NULL context or a bad entry; otherwise the
 * caller must swap_rcu_read_unlock().
 */
static inline struct swap_info *swap_entry_begin(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si;

	if (!ctx)
		return NULL;
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = swap_info_get(ctx, entry);
	if (!si)
		swap_rcu_read_unlock();
	return si;
}

static inline struct swap_cluster *offset_cluster(struct swap_info *si, uint64_t off)
{
	return &si->cluster_info[off / SWAPFILE_CLUSTER];
}

static inline void swap_stat_add(struct swap_info *si, unsigned cpu, enum swap_stat_item item,
				 int64_t v)
{
	__atomic_fetch_add(&si->percpu[cpu].stat[item], v, __ATOMIC_RELAXED);
}

int64_t swap_stat_sum(struct swap_info *si, enum swap_stat_item item);

/* ---- cluster.c ---------------------------------------------------------------------------- */

/* Allocate swap_map and clusters; slot 0, the tail past si->max and @bad become SWAP_MAP_BAD. */
int swap_cluster_setup(struct swap_info *si, const uint32_t *bad, uint32_t nr_bad);
void swap_cluster_teardown(struct swap_info *si);
/* Allocate a slot of @si for CPU @cpu with swap_map value @usage; 0 if the area is full. */
uint64_t swap_cluster_alloc(struct swap_info *si, unsigned cpu, uint8_t usage);
/* @ci's count changed with ci->lock dropped since: move it to the list it now belongs on. */
void swap_cluster_relist(struct swap_info *si, struct swap_cluster *ci);
/* Whether the cluster's list no longer matches its count (read under ci->lock). */
bool swap_cluster_needs_relist(struct swap_cluster *ci);
uint64_t swap_cluster_inuse(struct swap_info *si);
void swap_cluster_count_lists(struct swap_info *si, uint64_t out[CL_NR_LISTS], uint64_t *owned,
			      uint64_t *continued);

/* ---- swap_map.c --------------------------------------------------------------------------- */

static inline uint8_t swap_map_count_digit(uint8_t m)
{
	return m & SWAP_MAP_BAD;
}

/* A slot with no reference and no swap-cache claim. */
static inline bool swap_map_free(uint8_t m)
{
	return m == 0;
}

static inline bool swap_map_bad(uint8_t m)
{
	return swap_map_count_digit(m) == SWAP_MAP_BAD;
}

/* A usable slot holding at least one reference. */
static inline bool swap_map_has_refs(uint8_t m)
{
	return !swap_map_bad(m) && (swap_map_count_digit(m) != 0 || (m & COUNT_CONTINUED));
}

/* Take the swap-cache claim on a slot with references: 0, -EINVAL, -EEXIST. */
int swap_claim_cache(struct swap_info *si, uint64_t off);
/* Whether the slot is claimed (HAS_CACHE) and valid; -EINVAL if free/bad. */
int swap_check_claimed(struct swap_info *si, uint64_t off);
/* Drop the swap-cache claim; frees the slot when no reference is left. */
void swap_drop_cache(struct swap_info *si, uint64_t off, unsigned cpu);
/* Give back a slot swap_out allocated (one reference and the claim) but could not store. */
void swap_abort_slot(struct swap_info *si, uint64_t off);
/* Free the slot's stored page and continuation, with ci->lock held and the map byte going to 0. */
void swap_slot_release_locked(struct swap_info *si, struct swap_cluster *ci, uint64_t off);
void swap_map_free_continuation(struct swap_cluster *ci);

/* ---- swap_cache.c ------------------------------------------------------------------------- */

int swap_cache_tree_init(struct swap_info *si);
void swap_cache_tree_destroy(struct swap_info *si);
int swap_desc_init(struct swap_ctx *ctx);
void swap_desc_destroy(struct swap_ctx *ctx);
struct swap_cache_page *swap_desc_alloc(struct swap_ctx *ctx, unsigned cpu, swp_entry_t entry,
					const void *data, unsigned state);
/*
 * Remove from the tree (if present), wait for lookups' references, recycle.  Called inside an
 * RCU read section by the holder of the slot's claim; may leave and re-enter the section.
 */
void swap_desc_retire(struct swap_ctx *ctx, unsigned cpu, struct swap_info *si, uint64_t off,
		      struct swap_cache_page *d);
int swap_cache_insert(struct swap_info *si, uint64_t off, struct swap_cache_page *d);
struct swap_cache_page *swap_cache_peek(struct swap_info *si, uint64_t off);
/* RCU lookup with a reference taken (not waiting for the page to be filled). */
struct swap_cache_page *swap_cache_get(struct swap_info *si, uint64_t off, uint64_t val);
/* Wait until @d is filled: 0 or its error. */
int swap_cache_wait(struct swap_cache_page *d);
void swap_cache_page_unlock(struct swap_cache_page *d, int error);
void swap_cache_page_put(struct swap_cache_page *d);

/* ---- page_io.c ---------------------------------------------------------------------------- */

int swap_backend_write(struct swap_info *si, uint64_t off, const void *page, unsigned cpu);
int swap_backend_read(struct swap_info *si, uint64_t off, void *page, unsigned cpu);
void swap_backend_discard(struct swap_info *si, uint64_t off);

/* ---- backend_zram.c ----------------------------------------------------------------------- */

int zram_backend_create(struct swap_info *si, const struct swap_area_opts *opts);
void zram_backend_destroy(struct swap_info *si);
int zram_write(struct swap_info *si, uint64_t off, const void *page, unsigned cpu);
int zram_read(struct swap_info *si, uint64_t off, void *page, unsigned cpu);
void zram_discard(struct swap_info *si, uint64_t off);
void zram_fill_stats(struct swap_info *si, struct swap_area_stats *st);
long zram_compact(struct swap_info *si);
struct zs_pool *zram_pool(struct swap_info *si);
int zram_corrupt(struct swap_info *si, uint64_t off);

/* ---- backend_file.c ----------------------------------------------------------------------- */

/* Open or create and format the file; sets si->max and si->nr_bad, returns the bad pages. */
int file_backend_create(struct swap_ctx *ctx, struct swap_info *si,
			const struct swap_area_opts *opts, uint32_t **bad, uint32_t *nr_bad);
/* swap_on succeeded: a file it created is kept from now on. */
void file_backend_commit(struct swap_info *si);
/* Close the file; one created by a swap_on that then failed is removed. */
void file_backend_destroy(struct swap_info *si);
int file_write(struct swap_info *si, uint64_t off, const void *page);
int file_read(struct swap_info *si, uint64_t off, void *page);
void file_discard(struct swap_info *si, uint64_t off);
void file_fill_stats(struct swap_info *si, struct swap_area_stats *st);
bool file_backend_same(struct swap_info *si, dev_t dev, ino_t ino);

#endif /* SWAP_INTERNAL_H */
