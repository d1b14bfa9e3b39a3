/*
 * codec.c - how zcache encodes each value: raw, lz4, zstd, or zstd with a dictionary trained
 * from the values seen so far, whichever is smallest.
 *
 * Small values barely compress on their own: a 300-byte JSON record has too little history for
 * an LZ coder to find repeats in.  A dictionary trained on earlier values supplies that
 * history, so the cache's values compress as well as its whole content would.
 *
 * Hex text (session tokens, digests, ids: 4 bits of information in every 8) is worth
 * recognising: packed into the bytes it spells it takes half its size, which no entropy coder
 * reaches on short values (zstd spends a Huffman table per value, or codes hex digits with the
 * dictionary's table, built for all the values).  It is one more candidate, chosen when it is
 * the smallest.
 *
 * Per value: lz4 is tried first (cheap, and it bounds what zstd must beat), then zstd with the
 * current dictionary (plain zstd while there is none).  One value in PROBE_EVERY is also
 * compressed with plain zstd: those probes keep the smallest as well, and they measure how much
 * the dictionary still gains on today's data.
 *
 * Dictionaries: the training thread trains in rounds.  A round takes a fresh sample of the
 * values being stored and trains on it each time it has doubled, from FIRST_TRAIN_BYTES to
 * half of sample_bytes (or until it has not grown for ROUND_IDLE_S with a dictionary in use);
 * then the sample is freed and nothing is sampled until a window of
 * probes shows the gain falling (the data changed), which starts the next round (or, while no
 * dictionary was ever adopted, until NO_DICT_RETRY times sample_bytes more were stored).  A new
 * dictionary is adopted only if it encodes held-out samples smaller than the current one.  Values
 * keep the slot of the dictionary that encoded them, and a dictionary lives while any value (or the
 * encoder, while it is current) refers to it: its compression tables go when it stops being current
 * and no encode is using them, its decompression tables with the last value.
 *
 * Lock order: dict_lock and sample_lock are leaves; callers may hold a store shard lock.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>
#include <zdict.h>
/* For ZSTD_c_format / ZSTD_d_format (magicless frames), parameters of the stable
 * ZSTD_CCtx_setParameter() and ZSTD_DCtx_setParameter() calls. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "zcache.h"

const char *const zc_codec_names[ZC_NR_CODECS] = {"raw",       "lz4", "zstd",
						  "zstd_dict", "hex", "hex_upper"};

/* Below this, every codec's framing costs more than it could save. */
#define MIN_COMPRESS 24
#define PROBE_EVERY  16
#define SAMPLE_EVERY 4
#define SAMPLE_MAX   4096 /* bytes kept of one sampled value */
/* The first training waits for this much sample, in bytes and values: fewer gives ZDICT
 * too little to choose from and the dictionary barely helps. */
#define FIRST_TRAIN_BYTES   (256u << 10)
#define FIRST_TRAIN_SAMPLES 128
#define HELD_OUT_EVERY	    8 /* one sample in 8 judges a dictionary instead of training it */
/* Probes are judged in windows of this many: retrain when a window's gain is under DRIFT of
 * the gain measured when the dictionary was adopted. */
#define DRIFT_PROBES 256
#define DRIFT	     0.92
#define ADOPT_GAIN   0.99 /* a new dictionary must encode held-out samples 1% smaller */
/* A round whose sample has not grown for this long, with a dictionary in use, ends: an idle
 * cache does not hold its sample (megabytes) for the writes that may never come. */
#define ROUND_IDLE_S 2
/* Without a dictionary after a round (values that defeat ZDICT), try again after this many
 * times sample_bytes of values: rare rounds cost little and catch a change of data. */
#define NO_DICT_RETRY 16
/* Free memory malloc may keep before the trainer gives it back (see give_back_free). */
#define TRIM_SLACK (1u << 20)

struct dict {
	unsigned int refs;     /* values using it, +1 while current; atomic */
	unsigned int encoders; /* encodes using cdict now; under dict_lock */
	bool current;
	ZSTD_CDict *cdict;
	ZSTD_DDict *ddict;
	size_t bytes;
};

/* Slot 0 means "no dictionary", so at most 255 dictionaries are alive at once. */
#define NR_DICT_SLOTS 256

static pthread_mutex_t dict_lock = PTHREAD_MUTEX_INITIALIZER;
/* Published under dict_lock; a reader holds a reference obtained through dict_lock or from a
 * value, so the slot cannot be freed while it reads. */
static struct dict *dicts[NR_DICT_SLOTS];
static uint8_t current_slot;
static unsigned long dict_version;
static atomic_ulong trainings;

static struct zc_codec_opts opts;

/* Probe sums: what values encoded with the current dictionary took, and what plain zstd
 * would have taken for the same values. */
static atomic_ulong probe_count, probe_dict_bytes, probe_plain_bytes;
static double adopted_gain; /* plain / dictionary on the held-out samples at adoption */

/* Two generations of samples: the newest fills until half of sample_bytes, then becomes the
 * older and the oldest is dropped, so training always sees the latest values.  They exist only
 * during a round (sampling, under sample_lock). */
struct sample_gen {
	uint8_t *data;
	uint16_t *sizes; /* SAMPLE_MAX fits */
	size_t bytes, count, cap_count;
};
static pthread_mutex_t sample_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sample_gen gens[2]; /* [0] newest */
static bool sampling;
static size_t sample_cap; /* bytes allocated for the generations */
static atomic_ulong sample_seq, samples_added_bytes, values_added_bytes;
static atomic_ulong train_bytes; /* memory a training in progress holds */
/* samples_added_bytes at which an encoder wakes the trainer (it also looks every 200 ms). */
static atomic_ulong wake_at = FIRST_TRAIN_BYTES;

static pthread_t trainer;
static bool trainer_started;
static pthread_mutex_t trainer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t trainer_cond = PTHREAD_COND_INITIALIZER;
static bool trainer_stop;

/* Per-thread compression state: contexts are not shareable, and scratch is reused. */
struct codec_tls {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *buf[4]; /* lz4, zstd, the plain zstd probe, hex */
	size_t cap;
	unsigned long seq;
};
static __thread struct codec_tls tls;

/* A compression context for values; the trainer's judges dictionaries with the same frames. */
static ZSTD_CCtx *cctx_create(void)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();

	if (cctx) {
		/* The record keeps the raw length and the dictionary slot, and knows the payload
		 * is zstd: the frame need not say so (the magic number alone is 4 bytes, a
		 * twentieth of a small value). */
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_format, ZSTD_f_zstd1_magicless);
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0);
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, opts.zstd_level);
	}
	return cctx;
}

static int tls_ready(size_t n)
{
	size_t need = ZSTD_compressBound(n);

	if ((size_t)LZ4_compressBound((int)n) > need)
		need = (size_t)LZ4_compressBound((int)n);
	/* Each is checked on its own: after a failed call, the one that failed is made again. */
	if (!tls.dctx) {
		tls.dctx = ZSTD_createDCtx();
		if (!tls.dctx)
			return -ENOMEM;
		ZSTD_DCtx_setParameter(tls.dctx, ZSTD_d_format, ZSTD_f_zstd1_magicless);
	}
	if (!tls.cctx) {
		tls.cctx = cctx_create();
		if (!tls.cctx)
			return -ENOMEM;
	}
	if (need > tls.cap) {
		for (int i = 0; i < 4; i++) {
			uint8_t *p = realloc(tls.buf[i], need);

			if (!p)
				return -ENOMEM;
			tls.buf[i] = p;
		}
		tls.cap = need;
	}
	return 0;
}

size_t zc_codec_thread_bytes(void)
{
	return (tls.cctx ? ZSTD_sizeof_CCtx(tls.cctx) : 0) +
	       (tls.dctx ? ZSTD_sizeof_DCtx(tls.dctx) : 0) + 4 * tls.cap;
}

static atomic_ulong trainer_ctx_bytes;

size_t zc_codec_trainer_bytes(void)
{
	return atomic_load(&trainer_ctx_bytes);
}

/* ---- dictionaries ---- */

static void dict_free(struct dict *d)
{
	ZSTD_freeCDict(d->cdict);
	ZSTD_freeDDict(d->ddict);
	free(d);
}

void zc_dict_get(uint8_t slot)
{
	if (slot)
		__atomic_fetch_add(&dicts[slot]->refs, 1, __ATOMIC_RELAXED);
}

void zc_dict_put(uint8_t slot)
{
	struct dict *d;

	if (!slot)
		return;
	d = dicts[slot];
	if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL))
		return;
	/* The last reference: it is not current (current holds one), so nobody can take
	 * another. */
	pthread_mutex_lock(&dict_lock);
	dicts[slot] = NULL;
	pthread_mutex_unlock(&dict_lock);
	dict_free(d);
}

/* The current dictionary for one encode: a value reference plus an encoder hold. */
static uint8_t dict_begin_encode(void)
{
	uint8_t slot;

	pthread_mutex_lock(&dict_lock);
	slot = current_slot;
	if (slot) {
		__atomic_fetch_add(&dicts[slot]->refs, 1, __ATOMIC_RELAXED);
		dicts[slot]->encoders++;
	}
	pthread_mutex_unlock(&dict_lock);
	return slot;
}

static void dict_end_encode(uint8_t slot)
{
	struct dict *d = dicts[slot];
	ZSTD_CDict *drop = NULL;

	pthread_mutex_lock(&dict_lock);
	if (!--d->encoders && !d->current) {
		drop = d->cdict;
		d->cdict = NULL;
		d->bytes = ZSTD_sizeof_DDict(d->ddict);
	}
	pthread_mutex_unlock(&dict_lock);
	ZSTD_freeCDict(drop);
}

/* Make @d current; the old current keeps its compression tables until its last encode.
 * Returns the slot, or -ENOSPC when every slot is still in use by some value. */
static int dict_install(struct dict *d)
{
	ZSTD_CDict *drop = NULL;
	uint8_t old = 0;
	int slot = -ENOSPC;

	pthread_mutex_lock(&dict_lock);
	/* Slots are reused lowest first once their last value is gone. */
	for (int i = 1; i < NR_DICT_SLOTS; i++) {
		if (!dicts[i]) {
			slot = i;
			break;
		}
	}
	if (slot > 0) {
		__atomic_store_n(&d->refs, 1, __ATOMIC_RELAXED);
		d->current = true;
		dicts[slot] = d;
		old = current_slot;
		if (old) {
			dicts[old]->current = false;
			if (!dicts[old]->encoders) {
				drop = dicts[old]->cdict;
				dicts[old]->cdict = NULL;
				dicts[old]->bytes = ZSTD_sizeof_DDict(dicts[old]->ddict);
			}
		}
		current_slot = (uint8_t)slot;
		dict_version++;
	}
	pthread_mutex_unlock(&dict_lock);
	ZSTD_freeCDict(drop);
	/* The reference the old dictionary held as current. */
	zc_dict_put(old);
	return slot;
}

/* ---- samples ---- */

/* Start a round: fresh, empty generations.  Under sample_lock. */
static int samples_begin(void)
{
	/* Samples are at least MIN_COMPRESS bytes, which bounds their count. */
	size_t count = opts.sample_bytes / 2 / MIN_COMPRESS + 1;

	for (int g = 0; g < 2; g++) {
		gens[g].cap_count = count;
		gens[g].bytes = gens[g].count = 0;
		gens[g].data = malloc(opts.sample_bytes / 2 + SAMPLE_MAX);
		gens[g].sizes = malloc(count * sizeof(uint16_t));
		if (!gens[g].data || !gens[g].sizes)
			return -ENOMEM;
	}
	sample_cap = 2 * (opts.sample_bytes / 2 + SAMPLE_MAX + count * sizeof(uint16_t));
	sampling = true;
	return 0;
}

/* End a round: the samples go, and what training left in malloc's free lists is given back.
 * Under sample_lock. */
static void samples_end(void)
{
	for (int g = 0; g < 2; g++) {
		free(gens[g].data);
		free(gens[g].sizes);
		memset(&gens[g], 0, sizeof(gens[g]));
	}
	sample_cap = 0;
	sampling = false;
}

static void sample_add(const void *src, size_t n)
{
	struct sample_gen *g = &gens[0];
	unsigned long total;

	if (n > SAMPLE_MAX)
		n = SAMPLE_MAX;
	pthread_mutex_lock(&sample_lock);
	if (!sampling) {
		pthread_mutex_unlock(&sample_lock);
		return;
	}
	if (g->bytes + n > opts.sample_bytes / 2 || g->count == g->cap_count) {
		/* The newest generation is full: it becomes the older one. */
		struct sample_gen t = gens[1];

		gens[1] = gens[0];
		gens[0] = t;
		g->bytes = 0;
		g->count = 0;
	}
	memcpy(g->data + g->bytes, src, n);
	g->sizes[g->count++] = (uint16_t)n;
	g->bytes += n;
	pthread_mutex_unlock(&sample_lock);
	total = atomic_fetch_add_explicit(&samples_added_bytes, n, memory_order_relaxed) + n;
	if (total >= atomic_load_explicit(&wake_at, memory_order_relaxed)) {
		atomic_store(&wake_at, ULONG_MAX);
		pthread_cond_signal(&trainer_cond);
	}
}

/* ---- encode and decode ---- */

static int hex_value(uint8_t ch, bool upper)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= (upper ? 'A' : 'a') && ch <= (upper ? 'F' : 'f'))
		return ch - (upper ? 'A' : 'a') + 10;
	return -1;
}

/* Pack @n hex digits of one case into @dst (n / 2 bytes); returns the codec, or ZC_RAW if
 * @src is not such hex. */
static uint8_t hex_pack(const uint8_t *src, size_t n, uint8_t *dst)
{
	bool upper = false;
	size_t i = 0;

	if (n % 2)
		return ZC_RAW;
	/* The case is the first letter's; digits alone are lowercase hex. */
	while (i < n && src[i] >= '0' && src[i] <= '9')
		i++;
	upper = i < n && src[i] >= 'A' && src[i] <= 'F';
	for (i = 0; i < n; i += 2) {
		int hi = hex_value(src[i], upper), lo = hex_value(src[i + 1], upper);

		if (hi < 0 || lo < 0)
			return ZC_RAW;
		dst[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return upper ? ZC_HEX_UPPER : ZC_HEX;
}

static void hex_unpack(const uint8_t *src, size_t n, char *dst, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 15];
	}
}

long zc_encode(const void *src, size_t n, const void **out, uint8_t *codec, uint8_t *dict)
{
	const void *best = src;
	size_t best_len = n, r;
	uint8_t slot;
	int lz;

	*codec = ZC_RAW;
	*dict = 0;
	*out = src;
	if (tls_ready(n))
		return -ENOMEM;
	/* Hex is worth packing at any length; the coders only past MIN_COMPRESS. */
	if (n >= 2 && (*codec = hex_pack(src, n, tls.buf[3])) != ZC_RAW) {
		best = *out = tls.buf[3];
		best_len = n / 2;
	}
	if (n < MIN_COMPRESS)
		return (long)best_len;
	atomic_fetch_add_explicit(&values_added_bytes, n, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&sample_seq, 1, memory_order_relaxed) % SAMPLE_EVERY == 0)
		sample_add(src, n);

	lz = LZ4_compress_default(src, (char *)tls.buf[0], (int)n, (int)best_len - 1);
	if (lz > 0) {
		best = tls.buf[0];
		best_len = (size_t)lz;
		*codec = ZC_LZ4;
	}

	slot = dict_begin_encode();
	ZSTD_CCtx_refCDict(tls.cctx, slot ? dicts[slot]->cdict : NULL);
	r = ZSTD_compress2(tls.cctx, tls.buf[1], tls.cap, src, n);
	if (slot)
		dict_end_encode(slot);
	if (!ZSTD_isError(r) && r < best_len) {
		best = tls.buf[1];
		best_len = r;
		*codec = slot ? ZC_ZSTD_DICT : ZC_ZSTD;
	}
	if (slot && ++tls.seq % PROBE_EVERY == 0) {
		size_t plain;

		ZSTD_CCtx_refCDict(tls.cctx, NULL);
		plain = ZSTD_compress2(tls.cctx, tls.buf[2], tls.cap, src, n);
		if (ZSTD_isError(plain))
			plain = n;
		atomic_fetch_add_explicit(&probe_count, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&probe_plain_bytes, plain, memory_order_relaxed);
		atomic_fetch_add_explicit(&probe_dict_bytes, ZSTD_isError(r) ? n : r,
					  memory_order_relaxed);
		if (plain < best_len) {
			best = tls.buf[2];
			best_len = plain;
			*codec = ZC_ZSTD;
		}
	}
	if (*codec == ZC_ZSTD_DICT)
		*dict = slot;
	else
		zc_dict_put(slot);
	*out = best;
	return (long)best_len;
}

int zc_decode(uint8_t codec, uint8_t slot, const void *src, size_t n, void *dst, size_t rawlen)
{
	size_t r;

	switch (codec) {
	case ZC_RAW:
		if (n != rawlen)
			return -EIO;
		if (n) /* an empty value may have no buffer at all */
			memcpy(dst, src, n);
		return 0;
	case ZC_LZ4:
		return LZ4_decompress_safe(src, dst, (int)n, (int)rawlen) == (int)rawlen ? 0 : -EIO;
	case ZC_HEX:
	case ZC_HEX_UPPER:
		if (n * 2 != rawlen)
			return -EIO;
		hex_unpack(src, n, dst, codec == ZC_HEX_UPPER);
		return 0;
	case ZC_ZSTD:
	case ZC_ZSTD_DICT:
		if (tls_ready(0))
			return -ENOMEM;
		/* The DDict reference lasts for this call only: the next one sets its own. */
		ZSTD_DCtx_refDDict(tls.dctx, codec == ZC_ZSTD ? NULL : dicts[slot]->ddict);
		r = ZSTD_decompressDCtx(tls.dctx, dst, rawlen, src, n);
		return !ZSTD_isError(r) && r == rawlen ? 0 : -EIO;
	}
	return -EIO;
}

/* ---- training ---- */

/* The sample, split into the part ZDICT trains on and the held-out part that judges. */
struct sample_set {
	uint8_t *train, *held;
	size_t *train_sizes, *held_sizes;
	size_t train_bytes, held_bytes, ntrain, nheld;
};

static void sample_set_free(struct sample_set *ss)
{
	free(ss->train);
	free(ss->held);
	free(ss->train_sizes);
	free(ss->held_sizes);
}

static int sample_snapshot(struct sample_set *ss)
{
	size_t bytes, count;

	memset(ss, 0, sizeof(*ss));
	pthread_mutex_lock(&sample_lock);
	bytes = gens[0].bytes + gens[1].bytes;
	count = gens[0].count + gens[1].count;
	ss->train = malloc(bytes + 1);
	ss->held = malloc(bytes + 1);
	ss->train_sizes = malloc((count + 1) * sizeof(size_t));
	ss->held_sizes = malloc((count + 1) * sizeof(size_t));
	if (ss->train && ss->held && ss->train_sizes && ss->held_sizes) {
		size_t k = 0;

		for (int g = 1; g >= 0; g--) {
			const uint8_t *p = gens[g].data;

			for (size_t i = 0; i < gens[g].count; i++, k++) {
				size_t sz = gens[g].sizes[i];

				if (k % HELD_OUT_EVERY == 0) {
					memcpy(ss->held + ss->held_bytes, p, sz);
					ss->held_bytes += sz;
					ss->held_sizes[ss->nheld++] = sz;
				} else {
					memcpy(ss->train + ss->train_bytes, p, sz);
					ss->train_bytes += sz;
					ss->train_sizes[ss->ntrain++] = sz;
				}
				p += sz;
			}
		}
	}
	pthread_mutex_unlock(&sample_lock);
	if (!ss->train || !ss->held || !ss->train_sizes || !ss->held_sizes) {
		sample_set_free(ss);
		return -ENOMEM;
	}
	atomic_store(&train_bytes, 2 * (bytes + 1) + 2 * (count + 1) * sizeof(size_t));
	return 0;
}

/* Bytes the held-out samples take with @cdict (NULL: plain zstd). */
static size_t held_out_size(ZSTD_CCtx *cctx, const struct sample_set *ss, ZSTD_CDict *cdict,
			    void *scratch, size_t cap)
{
	const uint8_t *p = ss->held;
	size_t total = 0;

	ZSTD_CCtx_refCDict(cctx, cdict);
	for (size_t i = 0; i < ss->nheld; i++) {
		size_t r = ZSTD_compress2(cctx, scratch, cap, p, ss->held_sizes[i]);

		total += ZSTD_isError(r) || r > ss->held_sizes[i] ? ss->held_sizes[i] : r;
		p += ss->held_sizes[i];
	}
	return total;
}

/* Train a dictionary on the current sample and adopt it if it beats the current one. */
static void train_once(ZSTD_CCtx *cctx)
{
	size_t cap = ZSTD_compressBound(SAMPLE_MAX), dsize, with_new, with_old, plain;
	struct sample_set ss;
	struct dict *d = NULL;
	void *dbuf = NULL, *scratch = malloc(cap);
	uint8_t old;

	if (!scratch || sample_snapshot(&ss)) {
		free(scratch);
		return;
	}
	dbuf = malloc(opts.dict_size);
	if (!dbuf || !ss.ntrain || !ss.nheld)
		goto out;
	atomic_fetch_add(&train_bytes, opts.dict_size);
	dsize = ZDICT_trainFromBuffer(dbuf, opts.dict_size, ss.train, ss.train_sizes,
				      (unsigned int)ss.ntrain);
	trainings++;
	if (ZDICT_isError(dsize))
		goto out;
	d = calloc(1, sizeof(*d));
	if (!d)
		goto out;
	d->cdict = ZSTD_createCDict(dbuf, dsize, opts.zstd_level);
	d->ddict = ZSTD_createDDict(dbuf, dsize);
	if (!d->cdict || !d->ddict)
		goto out;
	d->bytes = ZSTD_sizeof_CDict(d->cdict) + ZSTD_sizeof_DDict(d->ddict);

	old = dict_begin_encode();
	with_old = held_out_size(cctx, &ss, old ? dicts[old]->cdict : NULL, scratch, cap);
	if (old) {
		dict_end_encode(old);
		zc_dict_put(old);
	}
	with_new = held_out_size(cctx, &ss, d->cdict, scratch, cap);
	plain = held_out_size(cctx, &ss, NULL, scratch, cap);
	if (old && with_new >= with_old * ADOPT_GAIN)
		goto out;
	if (dict_install(d) < 0)
		goto out;
	d = NULL;
	adopted_gain = (double)plain / (double)(with_new ? with_new : 1);
	atomic_store(&probe_count, 0);
	atomic_store(&probe_plain_bytes, 0);
	atomic_store(&probe_dict_bytes, 0);
out:
	if (d)
		dict_free(d);
	free(dbuf);
	free(scratch);
	sample_set_free(&ss);
	atomic_store(&train_bytes, 0);
}

/*
 * Once a second, hand back to the OS what malloc keeps free past TRIM_SLACK: hash tables
 * replaced as they grow, and buffers of connections gone, leave free chunks in the middle of
 * the heaps that malloc's own trimming (of the heaps' tops) never reaches.
 */
static void give_back_free(time_t now)
{
	static time_t last;

	if (now == last)
		return;
	last = now;
	if (mallinfo2().fordblks > TRIM_SLACK)
		malloc_trim(TRIM_SLACK / 2);
}

static void *trainer_main(void *arg)
{
	ZSTD_CCtx *cctx = cctx_create();
	unsigned long trained_at = 0; /* samples_added_bytes at the last training */
	unsigned long trained_on = 0; /* sample bytes that training saw */
	unsigned long round_end = 0;  /* values_added_bytes when the last round ended */
	unsigned long seen = 0;	      /* samples_added_bytes at the last look */
	time_t still_since = 0;	      /* when the sample last stopped growing */

	(void)arg;
	if (!cctx)
		return NULL;
	zc_thread_register();
	pthread_mutex_lock(&trainer_lock);
	while (!trainer_stop) {
		struct timespec ts;
		unsigned long added, have, probes, wake;
		bool train, enough, drift, in_round;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&trainer_cond, &trainer_lock, &ts);
		if (trainer_stop)
			break;
		give_back_free(ts.tv_sec);

		added = atomic_load(&samples_added_bytes);
		pthread_mutex_lock(&sample_lock);
		in_round = sampling;
		have = gens[0].bytes + gens[1].bytes;
		enough = gens[0].count + gens[1].count >= FIRST_TRAIN_SAMPLES;
		pthread_mutex_unlock(&sample_lock);
		probes = atomic_load(&probe_count);
		drift = false;
		if (current_slot && probes >= DRIFT_PROBES) {
			/* The gain over the last window of probes, against the gain at adoption. */
			double gain = (double)atomic_exchange(&probe_plain_bytes, 0) /
				      (double)(atomic_exchange(&probe_dict_bytes, 0) | 1);

			atomic_store(&probe_count, 0);
			drift = gain < adopted_gain * DRIFT;
		}
		if (!in_round) {
			/* The data changed (or, with no dictionary, a long while passed): a new
			 * round on a fresh sample. */
			bool retry =
			    !current_slot && atomic_load(&values_added_bytes) - round_end >=
						 NO_DICT_RETRY * opts.sample_bytes;

			if (drift || retry) {
				pthread_mutex_lock(&sample_lock);
				if (samples_begin())
					samples_end();
				pthread_mutex_unlock(&sample_lock);
				trained_at = added;
				trained_on = 0;
				atomic_store(&wake_at, added + FIRST_TRAIN_BYTES);
			}
			continue;
		}
		/* In a round: first once the sample has FIRST_TRAIN_BYTES, then each time it has
		 * doubled. */
		if (!trained_on)
			train = enough && have >= FIRST_TRAIN_BYTES;
		else
			train = added - trained_at >= trained_on;
		if (train) {
			pthread_mutex_unlock(&trainer_lock);
			train_once(cctx);
			atomic_store(&trainer_ctx_bytes, ZSTD_sizeof_CCtx(cctx));
			trained_at = added;
			trained_on = have;
			pthread_mutex_lock(&trainer_lock);
		}
		/* A sample that has stopped growing while a dictionary is in use (the cache is not
		 * being written) is not kept waiting for more: ROUND_IDLE_S seconds end the round.
		 */
		if (added != seen) {
			seen = added;
			still_since = ts.tv_sec;
		}
		if (trained_on >= opts.sample_bytes / 2 ||
		    (current_slot && ts.tv_sec - still_since >= ROUND_IDLE_S)) {
			/* The round is over: the sample is not needed until the next. */
			pthread_mutex_lock(&sample_lock);
			samples_end();
			pthread_mutex_unlock(&sample_lock);
			malloc_trim(0);
			round_end = atomic_load(&values_added_bytes);
			atomic_store(&wake_at, ULONG_MAX);
			continue;
		}
		/* The encoders wake us when the sample has doubled (or grown some more, when it
		 * had too few values). */
		if (!trained_on)
			wake = added + FIRST_TRAIN_BYTES / 4;
		else
			wake = trained_at + trained_on;
		atomic_store(&wake_at, wake);
	}
	pthread_mutex_unlock(&trainer_lock);
	ZSTD_freeCCtx(cctx);
	return NULL;
}

int zc_codec_init(const struct zc_codec_opts *o)
{
	opts = *o;
	/* No sample: no dictionaries and no trainer (the protocol fuzzer's setting). */
	if (!opts.sample_bytes)
		return 0;
	/* The first round starts with the server. */
	if (samples_begin())
		return -ENOMEM;
	trainer_started = true;
	return -pthread_create(&trainer, NULL, trainer_main, NULL);
}

void zc_codec_stop(void)
{
	if (!trainer_started)
		return;
	pthread_mutex_lock(&trainer_lock);
	trainer_stop = true;
	pthread_cond_signal(&trainer_cond);
	pthread_mutex_unlock(&trainer_lock);
	pthread_join(trainer, NULL);
}

void zc_codec_stats(struct zc_codec_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&dict_lock);
	st->dict_version = dict_version;
	st->trainings = trainings;
	for (int i = 1; i < NR_DICT_SLOTS; i++) {
		if (dicts[i]) {
			st->dicts_live++;
			st->dict_bytes += dicts[i]->bytes;
		}
	}
	pthread_mutex_unlock(&dict_lock);
	pthread_mutex_lock(&sample_lock);
	st->sample_bytes = gens[0].bytes + gens[1].bytes;
	st->sample_cap = sample_cap;
	/* What is resident of them: as far as their bytes and sizes have reached. */
	st->sample_resident =
	    sampling ? st->sample_bytes + (gens[0].count + gens[1].count) * sizeof(uint16_t) : 0;
	st->train_bytes = atomic_load(&train_bytes);
	pthread_mutex_unlock(&sample_lock);
}
