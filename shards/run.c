/*
 * run.c — run files: immutable sorted files of entries, written once, read by many threads.
 *
 * A run is a sequence of data blocks, then a filter block, an index block, a meta block and
 * a fixed 64-byte footer (docs/format.md, "Run files"). A data block holds whole entries in
 * internal order, keys prefix-compressed against the entry before, and an array of entry
 * offsets; it is stored LZ4-compressed (or raw when that saves too little) with a trailer of
 * a type byte and a CRC. The index has one record per block, naming its last entry; the
 * filter has one small Bloom filter per block over the keys that begin in it.
 *
 * Writing streams: the writer holds the block being filled, the index and the filter bits,
 * never all entries. A block is written (through a small coalescing buffer) as soon as it
 * is full. Any failed write makes the writer fail for good; finish or abort removes the
 * file.
 *
 * Reading: run_open reads the footer, then the filter, index and meta blocks, checks every
 * CRC, that the pieces tile the file exactly and that the index is sorted and consistent,
 * and keeps them in memory. Data blocks are read through the block cache; a block is checked
 * (CRC, size, every entry's bounds, order, agreement with the index) when it is decoded, so
 * every byte of the file is checked before anything from it is returned. Anything wrong is
 * IODB_ECORRUPT naming the file and offset.
 *
 * Threads: a run is immutable after open and reference-counted; reads use pread through the
 * env, so any number of threads may read it at once. An iterator belongs to one thread.
 * The last run_unref closes the file and, when run_set_obsolete was called, removes it.
 */
#include <inttypes.h>
#include <lz4.h>
#include <pthread.h>
#include <stdio.h>

#include "shards/run_int.h"

#define RUN_MAGIC "iodbrun."
#define RUN_FORMAT 1
#define RUN_FOOTER 64
#define BLOCK_TRAILER 5		       /* type byte, masked CRC-32C */
#define BLOCK_RAW 0
#define BLOCK_LZ4 1
#define BLOCK_DEFAULT (16u << 10)
#define BLOCK_TARGET_MAX (64u << 20)
#define BLOCK_MAX (512u << 20)	       /* largest uncompressed block a reader accepts */
#define BLOOM_DEFAULT 10
#define BLOOM_MAX_BITS 32
#define BLOOM_MIN_BYTES 8
#define BLOOM_MAX_PROBES 30
#define ENTRY_HEAD_MAX (5 * 5)	       /* five uvarints of at most 32 bits */
#define WBUF_BYTES (256u << 10)

/* ---- Key hash and Bloom filters (docs/format.md, "Filter block") ------------------------ */

static inline uint64_t rotl64(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

/* 64-bit hash of (store, key): 8 bytes at a time, little-endian, then a full mix. */
static uint64_t key_hash(uint32_t store, const uint8_t *key, size_t klen)
{
	uint64_t h = mix64((uint64_t)store << 32 ^ klen ^ 0x9e3779b97f4a7c15ull), w;

	for (; klen >= 8; key += 8, klen -= 8) {
		h ^= get_u64(key) * 0x87c37b91114253d5ull;
		h = rotl64(h, 31) * 0x4cf5ad432745937full + 0x52dce729;
	}
	if (klen) {
		w = 0;
		for (size_t i = 0; i < klen; i++)
			w |= (uint64_t)key[i] << (8 * i);
		h ^= w * 0x87c37b91114253d5ull;
		h = rotl64(h, 31) * 0x4cf5ad432745937full + 0x52dce729;
	}
	return mix64(h);
}

/* Bit j of a filter of nbits bits is probed at (lo32(h) + j * hi32(h)) mod nbits. */
static void bloom_set(uint8_t *bits, uint64_t nbits, unsigned k, uint64_t h)
{
	uint64_t a = h & 0xffffffffu, b = h >> 32;

	for (unsigned j = 0; j < k; j++) {
		uint64_t bit = (a + j * b) % nbits;

		bits[bit >> 3] |= (uint8_t)(1u << (bit & 7));
	}
}

static int bloom_test(const uint8_t *bits, uint64_t nbits, unsigned k, uint64_t h)
{
	uint64_t a = h & 0xffffffffu, b = h >> 32;

	for (unsigned j = 0; j < k; j++) {
		uint64_t bit = (a + j * b) % nbits;

		if (!(bits[bit >> 3] & (1u << (bit & 7))))
			return 0;
	}
	return 1;
}

/* ---- Writer --------------------------------------------------------------------------- */

struct run_writer {
	struct env *env;
	char *path;
	struct env_file *f;
	uint64_t file_no;
	uint32_t block_bytes, bloom_bits;
	unsigned probes;
	int failed;	/* sticky: the error that stopped the writer */
	char why[256];	/* and its message */

	struct buf blk;	 /* the block being filled: entries */
	struct buf offs; /* its entry offsets, u32 each */
	uint32_t blk_n;
	uint64_t *hv; /* hashes of the keys that begin in it */
	uint32_t nh, hcap;
	struct buf cbuf; /* compressed block */

	struct buf last_key; /* the last entry added */
	uint32_t last_store, last_n;
	struct buf first_key;
	uint32_t first_store;

	struct buf index, filter, fstarts;
	uint32_t nblocks;
	struct buf wbuf; /* bytes not yet handed to the env */
	uint64_t off;	 /* file offset of the next byte */
	struct run_meta m;
};

int run_writer_open(struct env *env, const char *path, uint64_t file_no,
		    const struct run_wopts *o, struct run_writer **out)
{
	struct run_writer *w;
	int rc;

	if (env_exists(env, path))
		return err_set(IODB_EINVAL, "%s: a run file by that name already exists", path);
	if (!(w = mem_calloc(1, sizeof(*w))) || !(w->path = mem_dup(path, strlen(path) + 1))) {
		mem_free(w);
		return err_set(IODB_ENOMEM, "out of memory creating run %s", path);
	}
	w->env = env;
	w->file_no = file_no;
	w->block_bytes = o && o->block_bytes ? o->block_bytes : BLOCK_DEFAULT;
	if (w->block_bytes > BLOCK_TARGET_MAX)
		w->block_bytes = BLOCK_TARGET_MAX;
	w->bloom_bits = o && o->bloom_bits ? o->bloom_bits : BLOOM_DEFAULT;
	if (w->bloom_bits > BLOOM_MAX_BITS)
		w->bloom_bits = BLOOM_MAX_BITS;
	/* k = bits per key * ln 2 minimizes the false-positive rate. */
	w->probes = (w->bloom_bits * 69 + 50) / 100;
	w->probes = w->probes < 1 ? 1 : w->probes > BLOOM_MAX_PROBES ? BLOOM_MAX_PROBES : w->probes;
	w->m.file_no = file_no;
	w->m.min_n = UINT32_MAX;
	buf_init(&w->blk);
	buf_init(&w->offs);
	buf_init(&w->cbuf);
	buf_init(&w->last_key);
	buf_init(&w->first_key);
	buf_init(&w->index);
	buf_init(&w->filter);
	buf_init(&w->fstarts);
	buf_init(&w->wbuf);
	if ((rc = env_open_append(env, path, &w->f)) != 0) {
		mem_free(w->path);
		mem_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static void writer_free(struct run_writer *w)
{
	buf_free(&w->blk);
	buf_free(&w->offs);
	buf_free(&w->cbuf);
	buf_free(&w->last_key);
	buf_free(&w->first_key);
	buf_free(&w->index);
	buf_free(&w->filter);
	buf_free(&w->fstarts);
	buf_free(&w->wbuf);
	mem_free(w->hv);
	mem_free(w->path);
	mem_free(w);
}

void run_writer_abort(struct run_writer *w)
{
	if (!w)
		return;
	env_file_close(w->f);
	env_unlink(w->env, w->path);
	writer_free(w);
}

uint64_t run_writer_entries(const struct run_writer *w)
{
	return w->m.entries;
}

static int writer_flush(struct run_writer *w)
{
	int rc = 0;

	if (w->wbuf.len)
		rc = env_file_append(w->f, w->wbuf.p, w->wbuf.len);
	w->wbuf.len = 0;
	return rc;
}

/* Append bytes to the file, coalescing small pieces into writes of WBUF_BYTES. */
static int writer_write(struct run_writer *w, const void *p, size_t n)
{
	if (w->wbuf.len && w->wbuf.len + n > WBUF_BYTES)
		RET(writer_flush(w));
	if (n >= WBUF_BYTES)
		RET(env_file_append(w->f, p, n));
	else
		RET(buf_append(&w->wbuf, p, n));
	w->off += n;
	return 0;
}

/* The current block's filter: BLOOM_MIN_BYTES or more, bloom_bits per key. */
static int writer_block_filter(struct run_writer *w)
{
	size_t bytes = ((size_t)w->nh * w->bloom_bits + 7) / 8;
	uint8_t *bits;

	if (bytes < BLOOM_MIN_BYTES)
		bytes = BLOOM_MIN_BYTES;
	if (w->filter.len + bytes > UINT32_MAX)
		return err_set(IODB_EINVAL, "%s: the run's filter outgrows 4 GiB", w->path);
	RET(buf_put_u32(&w->fstarts, (uint32_t)w->filter.len));
	RET(buf_reserve(&w->filter, bytes));
	bits = w->filter.p + w->filter.len;
	memset(bits, 0, bytes);
	for (uint32_t i = 0; i < w->nh; i++)
		bloom_set(bits, (uint64_t)bytes * 8, w->probes, w->hv[i]);
	w->filter.len += bytes;
	w->nh = 0;
	return 0;
}

/* Index record of the block just written (docs/format.md, "Index block"). */
static int writer_index_record(struct run_writer *w, uint64_t off, uint32_t stored,
			       uint32_t usize)
{
	struct buf *x = &w->index;

	RET(buf_put_uvarint(x, w->last_store));
	RET(buf_put_uvarint(x, w->last_key.len));
	RET(buf_append(x, w->last_key.p, w->last_key.len));
	RET(buf_put_uvarint(x, w->last_n));
	RET(buf_put_uvarint(x, off));
	RET(buf_put_uvarint(x, stored));
	RET(buf_put_uvarint(x, usize));
	RET(buf_put_uvarint(x, w->blk_n));
	return 0;
}

/* Finish the current block: offsets and count, compress, trailer, write; index; filter. */
static int writer_block(struct run_writer *w)
{
	uint64_t off = w->off;
	uint32_t usize, stored;
	struct buf *src = &w->blk;
	uint8_t type = BLOCK_RAW;
	int bound, clen;

	RET(buf_append(&w->blk, w->offs.p, w->offs.len));
	RET(buf_put_u32(&w->blk, w->blk_n));
	usize = (uint32_t)w->blk.len;
	bound = LZ4_compressBound((int)usize);
	RET(buf_reserve(&w->cbuf, (size_t)bound + BLOCK_TRAILER));
	clen = LZ4_compress_default((const char *)w->blk.p, (char *)w->cbuf.p, (int)usize, bound);
	if (clen > 0 && (uint32_t)clen <= usize - usize / 8) {
		src = &w->cbuf;
		src->len = (size_t)clen;
		type = BLOCK_LZ4;
	}
	stored = (uint32_t)src->len;
	RET(buf_reserve(src, BLOCK_TRAILER));
	src->p[stored] = type;
	put_u32(src->p + stored + 1, crc_mask(crc32c(src->p, (size_t)stored + 1)));
	RET(writer_write(w, src->p, (size_t)stored + BLOCK_TRAILER));
	RET(writer_index_record(w, off, stored, usize));
	RET(writer_block_filter(w));
	w->nblocks++;
	w->blk.len = w->offs.len = w->cbuf.len = 0;
	w->blk_n = 0;
	/* After a block made big by one large value, give its memory back. */
	if (w->blk.cap > 4 * (size_t)w->block_bytes) {
		buf_free(&w->blk);
		buf_free(&w->cbuf);
	}
	return 0;
}

static int writer_check_entry(struct run_writer *w, const struct entry *e)
{
	if (e->klen == 0 || e->klen > IODB_MAX_KEY || !e->key)
		return err_set(IODB_EINVAL, "%s: key of %" PRIu32 " bytes (1 to %u allowed)",
			       w->path, e->klen, IODB_MAX_KEY);
	if (!e->tomb && e->vlen > IODB_MAX_VALUE)
		return err_set(IODB_EINVAL, "%s: value of %" PRIu32 " bytes (at most %u allowed)",
			       w->path, e->vlen, IODB_MAX_VALUE);
	if (!e->tomb && e->vlen && !e->val)
		return err_set(IODB_EINVAL, "%s: value pointer is NULL", w->path);
	if (w->m.entries && entry_cmp(w->last_store, w->last_key.p, w->last_key.len, w->last_n,
				      e->store, e->key, e->klen, e->n) >= 0)
		return err_set(IODB_EINVAL,
			       "%s: entry (store %" PRIu32 ", %" PRIu32 "-byte key, n %" PRIu32
			       ") does not follow the previous one in internal order",
			       w->path, e->store, e->klen, e->n);
	return 0;
}

static int writer_remember(struct run_writer *w, const struct entry *e, size_t common)
{
	uint32_t vlen = e->tomb ? 0 : e->vlen;

	if (w->m.entries == 0) {
		w->first_store = e->store;
		RET(buf_append(&w->first_key, e->key, e->klen));
	}
	RET(buf_reserve(&w->last_key, e->klen - common));
	memcpy(w->last_key.p + common, e->key + common, e->klen - common);
	w->last_key.len = e->klen;
	w->last_store = e->store;
	w->last_n = e->n;
	w->m.entries++;
	w->m.key_bytes += e->klen;
	w->m.val_bytes += vlen;
	w->m.min_n = e->n < w->m.min_n ? e->n : w->m.min_n;
	w->m.max_n = e->n > w->m.max_n ? e->n : w->m.max_n;
	return 0;
}

static int writer_add_hash(struct run_writer *w, const struct entry *e)
{
	if (w->nh == w->hcap) {
		uint32_t cap = w->hcap ? w->hcap * 2 : 256;
		uint64_t *v = mem_realloc(w->hv, cap * sizeof(*v));

		if (!v)
			return err_set(IODB_ENOMEM, "out of memory writing run %s", w->path);
		w->hv = v;
		w->hcap = cap;
	}
	w->hv[w->nh++] = key_hash(e->store, e->key, e->klen);
	return 0;
}

/* An entry (docs/format.md, "Data blocks"): shared, unshared, store, n, vtag, suffix,
 * value; vtag is 0 for a tombstone, else the value length + 1. */
static int writer_encode(struct run_writer *w, const struct entry *e, size_t shared)
{
	uint32_t vlen = e->tomb ? 0 : e->vlen;
	uint8_t *p;

	RET(buf_put_u32(&w->offs, (uint32_t)w->blk.len));
	RET(buf_reserve(&w->blk, ENTRY_HEAD_MAX + e->klen - shared + (size_t)vlen));
	p = w->blk.p + w->blk.len;
	p += put_uvarint(p, shared);
	p += put_uvarint(p, e->klen - shared);
	p += put_uvarint(p, e->store);
	p += put_uvarint(p, e->n);
	p += put_uvarint(p, e->tomb ? 0 : (uint64_t)vlen + 1);
	memcpy(p, e->key + shared, e->klen - shared);
	p += e->klen - shared;
	if (vlen)
		memcpy(p, e->val, vlen);
	w->blk.len = (size_t)(p - w->blk.p) + vlen;
	w->blk_n++;
	return 0;
}

int run_writer_add(struct run_writer *w, const struct entry *e)
{
	size_t common = 0, shared, size;
	int new_key, rc;

	if (w->failed)
		return err_set(w->failed, "%s: the run failed earlier: %s", w->path, w->why);
	RET(writer_check_entry(w, e));
	if (w->m.entries) {
		size_t l = e->klen < w->last_key.len ? e->klen : w->last_key.len;

		while (common < l && e->key[common] == w->last_key.p[common])
			common++;
	}
	new_key = !w->m.entries || e->store != w->last_store || common != e->klen ||
		  common != w->last_key.len;
	shared = w->blk_n ? common : 0;
	size = uvarint_len(shared) + uvarint_len(e->klen - shared) + uvarint_len(e->store) +
	       uvarint_len(e->n) + uvarint_len(e->tomb ? 0 : (uint64_t)e->vlen + 1) + e->klen -
	       shared + (e->tomb ? 0 : e->vlen) + 4;
	/* A block never splits an entry; one too big for a block gets a block of its own. */
	if (w->blk_n && w->blk.len + w->offs.len + size + 4 > w->block_bytes) {
		ERR(writer_block(w));
		shared = 0;
	}
	/* A key's filter is that of the block its newest version is in: run_get looks there. */
	if (new_key)
		ERR(writer_add_hash(w, e));
	ERR(writer_encode(w, e, shared));
	ERR(writer_remember(w, e, common));
	return 0;
err:
	w->failed = rc;
	snprintf(w->why, sizeof(w->why), "%s", iodb_errmsg());
	return rc;
}

/* Write a filter, index or meta block; note where it went in the footer at f. */
static int writer_region(struct run_writer *w, const struct buf *b, uint8_t *f)
{
	if (b->len > UINT32_MAX)
		return err_set(IODB_EINVAL, "%s: a %zu-byte run metadata block is too large",
			       w->path, b->len);
	put_u64(f, w->off);
	put_u32(f + 8, (uint32_t)b->len);
	put_u32(f + 12, crc_mask(crc32c(b->p, b->len)));
	return writer_write(w, b->p, b->len);
}

/* docs/format.md, "Meta block". */
static int writer_meta(struct run_writer *w, struct buf *b)
{
	int empty = w->m.entries == 0;

	RET(buf_put_u64(b, w->file_no));
	RET(buf_put_u64(b, w->m.entries));
	RET(buf_put_u64(b, w->m.key_bytes));
	RET(buf_put_u64(b, w->m.val_bytes));
	RET(buf_put_u32(b, empty ? 0 : w->m.min_n));
	RET(buf_put_u32(b, empty ? 0 : w->m.max_n));
	RET(buf_put_u32(b, empty ? 0 : w->first_store));
	RET(buf_put_u32(b, (uint32_t)w->first_key.len));
	RET(buf_append(b, w->first_key.p, w->first_key.len));
	RET(buf_put_u32(b, empty ? 0 : w->last_store));
	RET(buf_put_u32(b, (uint32_t)w->last_key.len));
	RET(buf_append(b, w->last_key.p, w->last_key.len));
	return 0;
}

/* Filter, index, meta and footer (docs/format.md, "Run files"). */
static int writer_tail(struct run_writer *w)
{
	uint8_t footer[RUN_FOOTER] = {0};
	struct buf meta;
	int rc;

	buf_init(&meta);
	ERR(buf_append(&w->filter, w->fstarts.p, w->fstarts.len));
	ERR(buf_put_u32(&w->filter, w->nblocks));
	ERR(buf_put_u8(&w->filter, (uint8_t)w->probes));
	ERR(writer_region(w, &w->filter, footer));
	ERR(buf_put_u32(&w->index, w->nblocks));
	ERR(writer_region(w, &w->index, footer + 16));
	ERR(writer_meta(w, &meta));
	ERR(writer_region(w, &meta, footer + 32));
	put_u32(footer + 48, RUN_FORMAT);
	memcpy(footer + 52, RUN_MAGIC, 8);
	put_u32(footer + 60, crc_mask(crc32c(footer, 60)));
	ERR(writer_write(w, footer, RUN_FOOTER));
	ERR(writer_flush(w));
err:
	buf_free(&meta);
	return rc;
}

uint64_t run_writer_bytes(const struct run_writer *w)
{
	return w->off + w->blk.len;
}

int run_writer_finish(struct run_writer *w, struct run_meta *m)
{
	int rc;

	if ((rc = w->failed) != 0) {
		err_set(rc, "%s: the run failed earlier: %s", w->path, w->why);
		goto err;
	}
	if (w->blk_n)
		ERR(writer_block(w));
	ERR(writer_tail(w));
	ERR(env_file_sync(w->f));
	w->m.size = w->off;
	if (!w->m.entries)
		w->m.min_n = 0;
	*m = w->m;
	env_file_close(w->f);
	writer_free(w);
	return 0;
err:
	run_writer_abort(w);
	return rc;
}

/* ---- Reader: open --------------------------------------------------------------------- */

/* An index record, decoded: the block's last entry and where the block is. */
struct ridx {
	uint64_t off;
	const uint8_t *key; /* into run.index_raw */
	uint32_t klen, store, n;
	uint32_t stored, usize, count;
};

struct run {
	atomic_int refs;
	atomic_int obsolete;
	/* A run named by the manifest is opened on first use (run_new): until loaded is
	 * set, only path, env, bc and meta (the manifest's copy) are valid. */
	atomic_int loaded;
	pthread_mutex_t load_mu;
	int from_manifest;
	struct env *env;
	char *path;
	struct env_file *f;
	struct block_cache *bc;
	struct run_meta meta;
	uint64_t filter_off, index_off, meta_off;

	uint32_t nblocks;
	struct ridx *idx;
	uint8_t *index_raw;
	uint8_t *filter;  /* per-block Bloom filters, back to back */
	uint32_t *fstart; /* nblocks + 1 */
	unsigned probes;
	uint8_t *meta_raw;
	uint32_t first_store, last_store; /* smallest and largest (store, key) */
	const uint8_t *first_key, *last_key;
	uint32_t first_klen, last_klen;
};

static void run_unload(struct run *r);

static void run_free(struct run *r)
{
	run_unload(r);
	pthread_mutex_destroy(&r->load_mu);
	mem_free(r->path);
	mem_free(r);
}

/* Read [off, off+len) whole into a fresh allocation and check its CRC. */
static int run_read_region(struct run *r, uint64_t off, uint32_t len, uint32_t crc,
			   const char *what, uint8_t **out)
{
	uint8_t *p = mem_alloc(len ? len : 1);
	size_t got;
	int rc;

	if (!p)
		return err_set(IODB_ENOMEM, "out of memory reading the %s of %s", what, r->path);
	ERR(env_file_read(r->f, off, p, len, &got));
	if (got != len) {
		rc = ERR_CORRUPT(r->path, off, "%s cut short: %zu of %" PRIu32 " bytes", what, got,
				 len);
		goto err;
	}
	if (crc_mask(crc32c(p, len)) != crc) {
		rc = ERR_CORRUPT(r->path, off, "%s checksum mismatch", what);
		goto err;
	}
	*out = p;
	return 0;
err:
	mem_free(p);
	return rc;
}

/* Footer: magic, checksum, format, and the three blocks tiling [filter_off, size - 64). */
static int run_read_footer(struct run *r, uint32_t len[3], uint32_t crc[3])
{
	uint64_t size = env_file_size(r->f), foot = size - RUN_FOOTER;
	uint8_t f[RUN_FOOTER];
	size_t got;

	if (size < RUN_FOOTER)
		return ERR_CORRUPT(r->path, 0, "file of %" PRIu64 " bytes is too short for a run",
				   size);
	RET(env_file_read(r->f, foot, f, RUN_FOOTER, &got));
	if (got != RUN_FOOTER)
		return ERR_CORRUPT(r->path, foot, "run footer cut short");
	if (memcmp(f + 52, RUN_MAGIC, 8) != 0)
		return ERR_CORRUPT(r->path, foot, "bad run footer magic");
	if (get_u32(f + 60) != crc_mask(crc32c(f, 60)))
		return ERR_CORRUPT(r->path, foot, "run footer checksum mismatch");
	if (get_u32(f + 48) != RUN_FORMAT)
		return ERR_CORRUPT(r->path, foot, "run format %" PRIu32 ", this build reads %d",
				   get_u32(f + 48), RUN_FORMAT);
	r->filter_off = get_u64(f);
	r->index_off = get_u64(f + 16);
	r->meta_off = get_u64(f + 32);
	for (int i = 0; i < 3; i++) {
		len[i] = get_u32(f + 16 * i + 8);
		crc[i] = get_u32(f + 16 * i + 12);
	}
	if (r->filter_off > foot || len[0] > foot - r->filter_off ||
	    r->index_off != r->filter_off + len[0] || len[1] > foot - r->index_off ||
	    r->meta_off != r->index_off + len[1] || len[2] != foot - r->meta_off)
		return ERR_CORRUPT(r->path, foot,
				   "run footer places its blocks outside the file or with gaps");
	return 0;
}

/* docs/format.md, "Meta block". */
static int run_parse_meta(struct run *r, uint32_t len, uint64_t file_no, struct run_meta *m)
{
	struct rd d;
	uint32_t s1, l1, s2, l2;
	const uint8_t *k1, *k2;

	rd_init(&d, r->meta_raw, len);
	if (rd_u64(&d, &m->file_no) || rd_u64(&d, &m->entries) || rd_u64(&d, &m->key_bytes) ||
	    rd_u64(&d, &m->val_bytes) || rd_u32(&d, &m->min_n) || rd_u32(&d, &m->max_n) ||
	    rd_u32(&d, &s1) || rd_u32(&d, &l1) || rd_bytes(&d, l1, &k1) || rd_u32(&d, &s2) ||
	    rd_u32(&d, &l2) || rd_bytes(&d, l2, &k2) || rd_left(&d))
		return ERR_CORRUPT(r->path, r->meta_off, "meta block does not decode");
	if (m->file_no != file_no)
		return ERR_CORRUPT(r->path, r->meta_off,
				   "run says it is file %" PRIu64 ", expected %" PRIu64,
				   m->file_no, file_no);
	if (m->entries ? l1 == 0 || l1 > IODB_MAX_KEY || l2 == 0 || l2 > IODB_MAX_KEY ||
				 m->min_n > m->max_n ||
				 entry_cmp(s1, k1, l1, 0, s2, k2, l2, 0) > 0
		       : l1 || l2 || m->key_bytes || m->val_bytes)
		return ERR_CORRUPT(r->path, r->meta_off, "meta block is inconsistent");
	r->first_store = s1;
	r->first_key = k1;
	r->first_klen = l1;
	r->last_store = s2;
	r->last_key = k2;
	r->last_klen = l2;
	return 0;
}

static int rd_u32v(struct rd *d, uint32_t *v)
{
	uint64_t x;

	if (rd_uvarint(d, &x) || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* One index record; 0 or -1. */
static int index_record(struct rd *d, struct ridx *x)
{
	return rd_u32v(d, &x->store) || rd_u32v(d, &x->klen) || x->klen == 0 ||
			       x->klen > IODB_MAX_KEY || rd_bytes(d, x->klen, &x->key) ||
			       rd_u32v(d, &x->n) || rd_uvarint(d, &x->off) ||
			       rd_u32v(d, &x->stored) || rd_u32v(d, &x->usize) ||
			       rd_u32v(d, &x->count)
		       ? -1
		       : 0;
}

/* docs/format.md, "Index block": sorted, blocks back to back from 0 up to the filter. */
static int run_parse_index(struct run *r, uint32_t len)
{
	uint64_t end = 0, entries = 0;
	struct rd d;

	if (len < 4 || (r->nblocks = get_u32(r->index_raw + len - 4)) > len / 8)
		return ERR_CORRUPT(r->path, r->index_off, "index block does not decode");
	if (!(r->idx = mem_calloc(r->nblocks ? r->nblocks : 1, sizeof(*r->idx))))
		return err_set(IODB_ENOMEM, "out of memory opening %s", r->path);
	rd_init(&d, r->index_raw, len - 4);
	for (uint32_t i = 0; i < r->nblocks; i++) {
		struct ridx *x = &r->idx[i], *p = x - 1;
		uint64_t at = r->index_off + (uint64_t)(d.p - r->index_raw);

		if (index_record(&d, x))
			return ERR_CORRUPT(r->path, at, "index record %" PRIu32 " does not decode",
					   i);
		if (x->off != end || x->stored == 0 || x->stored > x->usize ||
		    x->usize > BLOCK_MAX || x->count == 0 || x->count > x->usize / 8)
			return ERR_CORRUPT(r->path, at, "index record %" PRIu32
					   " describes an impossible block", i);
		if (i && entry_cmp(p->store, p->key, p->klen, p->n, x->store, x->key, x->klen,
				   x->n) >= 0)
			return ERR_CORRUPT(r->path, at, "index record %" PRIu32 " is out of order",
					   i);
		if (x->n < r->meta.min_n || x->n > r->meta.max_n)
			return ERR_CORRUPT(r->path, at, "index record %" PRIu32
					   " has n outside the run's range", i);
		end += (uint64_t)x->stored + BLOCK_TRAILER;
		entries += x->count;
	}
	if (rd_left(&d))
		return ERR_CORRUPT(r->path, r->index_off, "index block has trailing bytes");
	if (end != r->filter_off)
		return ERR_CORRUPT(r->path, r->index_off,
				   "data blocks end at %" PRIu64 ", the filter starts at %" PRIu64,
				   end, r->filter_off);
	if (entries != r->meta.entries)
		return ERR_CORRUPT(r->path, r->index_off,
				   "blocks hold %" PRIu64 " entries, the meta block says %" PRIu64,
				   entries, r->meta.entries);
	if (r->nblocks) {
		const struct ridx *x = &r->idx[r->nblocks - 1];

		if (x->store != r->last_store ||
		    key_cmp(x->key, x->klen, r->last_key, r->last_klen) != 0)
			return ERR_CORRUPT(r->path, r->index_off,
					   "last block's key differs from the run's largest");
	}
	return 0;
}

/* docs/format.md, "Filter block". */
static int run_parse_filter(struct run *r, uint32_t len)
{
	uint64_t bits_len;
	uint32_t nb;

	if (len < 5 || (nb = get_u32(r->filter + len - 5)) != r->nblocks ||
	    (uint64_t)nb * 4 > len - 5)
		return ERR_CORRUPT(r->path, r->filter_off, "filter block does not decode");
	r->probes = r->filter[len - 1];
	if (r->probes < 1 || r->probes > BLOOM_MAX_PROBES)
		return ERR_CORRUPT(r->path, r->filter_off, "filter uses %u probes", r->probes);
	bits_len = len - 5 - (uint64_t)nb * 4;
	if (!(r->fstart = mem_alloc(((size_t)nb + 1) * sizeof(*r->fstart))))
		return err_set(IODB_ENOMEM, "out of memory opening %s", r->path);
	for (uint32_t i = 0; i < nb; i++)
		r->fstart[i] = get_u32(r->filter + bits_len + 4 * (uint64_t)i);
	r->fstart[nb] = (uint32_t)bits_len;
	for (uint32_t i = 0; i < nb; i++)
		if ((i == 0 && r->fstart[0] != 0) || r->fstart[i] >= r->fstart[i + 1])
			return ERR_CORRUPT(r->path, r->filter_off + bits_len + 4 * (uint64_t)i,
					   "filter of block %" PRIu32 " is out of place", i);
	if (nb == 0 && bits_len)
		return ERR_CORRUPT(r->path, r->filter_off, "filter block has stray bytes");
	return 0;
}

/* Free what loading read, so that a failed load can be tried again. */
static void run_unload(struct run *r)
{
	env_file_close(r->f);
	r->f = NULL;
	mem_free(r->idx);
	mem_free(r->index_raw);
	mem_free(r->filter);
	mem_free(r->fstart);
	mem_free(r->meta_raw);
	r->idx = NULL;
	r->index_raw = r->filter = r->meta_raw = NULL;
	r->fstart = NULL;
	r->nblocks = 0;
}

/* Read the footer, filter, index and meta block; a run from the manifest must also agree
 * with what the manifest says of it. */
static int run_load_locked(struct run *r)
{
	struct run_meta want = r->meta, got = {0};
	uint32_t len[3], crc[3];
	int rc;

	if ((rc = env_open_read(r->env, r->path, &r->f)) == IODB_NOTFOUND && r->from_manifest)
		return ERR_CORRUPT(r->path, 0, "run file is missing, though the MANIFEST names it");
	if (rc)
		goto err;
	if (r->from_manifest && env_file_size(r->f) != want.size) {
		rc = ERR_CORRUPT(r->path, env_file_size(r->f),
				 "run file is %" PRIu64 " bytes; the manifest says %" PRIu64,
				 env_file_size(r->f), want.size);
		goto err;
	}
	ERR(run_read_footer(r, len, crc));
	ERR(run_read_region(r, r->filter_off, len[0], crc[0], "filter block", &r->filter));
	ERR(run_read_region(r, r->index_off, len[1], crc[1], "index block", &r->index_raw));
	ERR(run_read_region(r, r->meta_off, len[2], crc[2], "meta block", &r->meta_raw));
	/* A run from the manifest is shared already: its meta is checked, never rewritten. */
	ERR(run_parse_meta(r, len[2], want.file_no, &got));
	got.size = env_file_size(r->f);
	if (r->from_manifest &&
	    (got.entries != want.entries || got.key_bytes != want.key_bytes ||
	     got.val_bytes != want.val_bytes || got.min_n != want.min_n ||
	     got.max_n != want.max_n)) {
		rc = ERR_CORRUPT(r->path, r->meta_off, "run's meta block disagrees with the manifest");
		goto err;
	}
	if (!r->from_manifest)
		r->meta = got;
	ERR(run_parse_index(r, len[1]));
	ERR(run_parse_filter(r, len[0]));
	return 0;
err:
	run_unload(r);
	return rc;
}

static int run_load(struct run *r)
{
	int rc = 0;

	if (atomic_load_explicit(&r->loaded, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&r->load_mu);
	if (!atomic_load_explicit(&r->loaded, memory_order_relaxed) &&
	    (rc = run_load_locked(r)) == 0)
		atomic_store_explicit(&r->loaded, 1, memory_order_release);
	pthread_mutex_unlock(&r->load_mu);
	return rc;
}

static int run_alloc(struct env *env, const char *path, struct block_cache *c, struct run **out)
{
	struct run *r = mem_calloc(1, sizeof(*r));

	if (!r || !(r->path = mem_dup(path, strlen(path) + 1))) {
		mem_free(r);
		return err_set(IODB_ENOMEM, "out of memory opening %s", path);
	}
	atomic_init(&r->refs, 1);
	atomic_init(&r->obsolete, 0);
	atomic_init(&r->loaded, 0);
	pthread_mutex_init(&r->load_mu, NULL);
	r->env = env;
	r->bc = c;
	*out = r;
	return 0;
}

int run_open(struct env *env, const char *path, uint64_t file_no, struct block_cache *c,
	     struct run **out)
{
	struct run *r = NULL;
	int rc;

	RET(run_alloc(env, path, c, &r));
	r->meta.file_no = file_no;
	if ((rc = run_load(r)) != 0) {
		run_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int run_new(struct env *env, const char *path, const struct run_meta *m, struct block_cache *c,
	    struct run **out)
{
	struct run *r = NULL;

	RET(run_alloc(env, path, c, &r));
	r->meta = *m;
	r->from_manifest = 1;
	*out = r;
	return 0;
}

void run_ref(struct run *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void run_unref(struct run *r)
{
	if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	env_file_close(r->f);
	r->f = NULL;
	/* Nobody to tell if this fails: the next manifest_open removes unnamed files. */
	if (atomic_load_explicit(&r->obsolete, memory_order_relaxed)) {
		env_unlink(r->env, r->path);
		if (r->bc)
			bcache_obsolete_add(r->bc, -(int64_t)r->meta.size);
	}
	run_free(r);
}

void run_set_obsolete(struct run *r)
{
	if (atomic_exchange_explicit(&r->obsolete, 1, memory_order_relaxed) == 0 && r->bc)
		bcache_obsolete_add(r->bc, (int64_t)r->meta.size);
}

void run_set_unsplittable(struct run *r)
{
	r->meta.unsplittable = 1;
}

void run_set_gc(struct run *r, uint64_t gc_dead, uint32_t gc_base)
{
	r->meta.gc_dead = gc_dead;
	r->meta.gc_base = gc_base;
}

const struct run_meta *run_meta(const struct run *r)
{
	return &r->meta;
}

const char *run_path(const struct run *r)
{
	return r->path;
}

/* ---- Reader: blocks ------------------------------------------------------------------- */

/* An entry's fields as stored (docs/format.md, "Data blocks"). */
struct raw_entry {
	uint32_t shared, unshared, store, n, vtag;
	const uint8_t *suffix, *val;
};

/* Decode the entry at p within [p, end); 0 and *next, or -1 when it does not fit. */
static int raw_entry_decode(const uint8_t *p, const uint8_t *end, struct raw_entry *e,
			    const uint8_t **next)
{
	struct rd d;

	rd_init(&d, p, (size_t)(end - p));
	if (rd_u32v(&d, &e->shared) || rd_u32v(&d, &e->unshared) || rd_u32v(&d, &e->store) ||
	    rd_u32v(&d, &e->n) || rd_u32v(&d, &e->vtag) || e->vtag > IODB_MAX_VALUE + 1u ||
	    rd_bytes(&d, e->unshared, &e->suffix) ||
	    rd_bytes(&d, e->vtag ? e->vtag - 1 : 0, &e->val))
		return -1;
	*next = d.p;
	return 0;
}

/*
 * Check every entry of block i's data and count the key arena it needs: each entry must
 * start where the offset array says, fit, and have a key of 1 to 65,535 bytes.
 */
static int block_scan(struct run *r, uint32_t i, const uint8_t *d, uint32_t n,
		      const uint8_t *end, size_t *arena)
{
	const uint8_t *p = d, *offs = end;
	uint32_t prev = 0;

	*arena = 0;
	for (uint32_t j = 0; j < n; j++) {
		struct raw_entry e;
		uint64_t klen;

		if (get_u32(offs + 4 * (size_t)j) != (uint64_t)(p - d) ||
		    raw_entry_decode(p, end, &e, &p))
			return ERR_CORRUPT(r->path, r->idx[i].off,
					   "block entry %" PRIu32 " does not decode", j);
		klen = (uint64_t)e.shared + e.unshared;
		if (e.shared > prev || (j == 0 && e.shared) || klen == 0 || klen > IODB_MAX_KEY)
			return ERR_CORRUPT(r->path, r->idx[i].off,
					   "block entry %" PRIu32 " has a bad key length", j);
		if (e.shared)
			*arena += klen;
		prev = (uint32_t)klen;
	}
	if (p != end)
		return ERR_CORRUPT(r->path, r->idx[i].off, "block has stray bytes after entry %"
				   PRIu32, n - 1);
	return 0;
}

/* The entries must be in order, after the previous block, and end with the index's key. */
static int block_check_order(struct run *r, uint32_t i, const struct block *b)
{
	const struct ridx *x = &r->idx[i];
	const struct entry *e = b->ents, *last = &b->ents[b->n - 1];

	for (uint32_t j = 1; j < b->n; j++)
		if (entry_cmp(e[j - 1].store, e[j - 1].key, e[j - 1].klen, e[j - 1].n, e[j].store,
			      e[j].key, e[j].klen, e[j].n) >= 0)
			return ERR_CORRUPT(r->path, x->off, "block entry %" PRIu32
					   " is out of order", j);
	if (entry_cmp(last->store, last->key, last->klen, last->n, x->store, x->key, x->klen,
		      x->n) != 0)
		return ERR_CORRUPT(r->path, x->off, "block's last entry differs from the index");
	if (i ? entry_cmp(x[-1].store, x[-1].key, x[-1].klen, x[-1].n, e->store, e->key,
			  e->klen, e->n) >= 0
	      : e->store != r->first_store ||
			key_cmp(e->key, e->klen, r->first_key, r->first_klen) != 0)
		return ERR_CORRUPT(r->path, x->off, "block's first entry is out of place");
	return 0;
}

/* Build b->ents from b->data (docs/format.md, "Data blocks"). */
static int block_decode(struct run *r, uint32_t i, struct block *b)
{
	const struct ridx *x = &r->idx[i];
	const uint8_t *d = b->data, *end, *p;
	uint8_t *arena;
	size_t asize;
	uint32_t n;

	n = get_u32(d + x->usize - 4);
	if (n != x->count || (uint64_t)n * 4 + 4 > x->usize)
		return ERR_CORRUPT(r->path, x->off, "block holds %" PRIu32
				   " entries, the index says %" PRIu32, n, x->count);
	end = d + x->usize - 4 - 4 * (size_t)n;
	RET(block_scan(r, i, d, n, end, &asize));
	if (!(b->ents = mem_alloc(n * sizeof(*b->ents) + asize)))
		return err_set(IODB_ENOMEM, "out of memory reading %s", r->path);
	b->n = n;
	arena = (uint8_t *)(b->ents + n);
	for (uint32_t j = 0; j < n; j++) {
		struct entry *e = &b->ents[j];
		struct raw_entry w;

		p = d + get_u32(end + 4 * (size_t)j);
		(void)raw_entry_decode(p, end, &w, &p); /* checked by block_scan */
		e->store = w.store;
		e->n = w.n;
		e->klen = w.shared + w.unshared;
		e->tomb = w.vtag == 0;
		e->val = e->tomb ? NULL : w.val;
		e->vlen = e->tomb ? 0 : w.vtag - 1;
		if (w.shared) {
			memcpy(arena, e[-1].key, w.shared);
			memcpy(arena + w.shared, w.suffix, w.unshared);
			e->key = arena;
			arena += e->klen;
		} else {
			e->key = w.suffix;
		}
	}
	b->charge = sizeof(*b) + n * sizeof(*b->ents) + asize + x->usize;
	return block_check_order(r, i, b);
}

/* Read block i from the file, check its trailer and decompress it into b->data. */
static int block_read(struct run *r, uint32_t i, struct block *b)
{
	const struct ridx *x = &r->idx[i];
	uint8_t *raw = mem_alloc((size_t)x->stored + BLOCK_TRAILER), type;
	size_t got;
	int rc;

	if (!raw)
		return err_set(IODB_ENOMEM, "out of memory reading %s", r->path);
	ERR(env_file_read(r->f, x->off, raw, (size_t)x->stored + BLOCK_TRAILER, &got));
	if (got != (size_t)x->stored + BLOCK_TRAILER) {
		rc = ERR_CORRUPT(r->path, x->off, "block cut short");
		goto err;
	}
	if (get_u32(raw + x->stored + 1) != crc_mask(crc32c(raw, (size_t)x->stored + 1))) {
		rc = ERR_CORRUPT(r->path, x->off, "block checksum mismatch");
		goto err;
	}
	type = raw[x->stored];
	if (type == BLOCK_RAW && x->stored == x->usize) {
		b->data = raw;
		return 0;
	}
	if (type != BLOCK_LZ4) {
		rc = ERR_CORRUPT(r->path, x->off, "block of type %u, stored %" PRIu32
				 " bytes for %" PRIu32, type, x->stored, x->usize);
		goto err;
	}
	if (!(b->data = mem_alloc(x->usize))) {
		rc = err_set(IODB_ENOMEM, "out of memory reading %s", r->path);
		goto err;
	}
	if (LZ4_decompress_safe((const char *)raw, (char *)b->data, (int)x->stored,
				(int)x->usize) != (int)x->usize) {
		rc = ERR_CORRUPT(r->path, x->off, "block does not decompress to %" PRIu32
				 " bytes", x->usize);
		goto err;
	}
	mem_free(raw);
	return 0;
err:
	mem_free(raw);
	return rc;
}

/* Block i, held: from the cache, or read, checked and decoded (and offered to the cache
 * unless `scan`: a block read once by a compaction would only push out what readers use). */
static int run_block_get(struct run *r, uint32_t i, int scan, struct block **out)
{
	struct block *b;
	int rc;

	if (r->bc && (b = bcache_lookup(r->bc, r->meta.file_no, r->idx[i].off)) != NULL) {
		*out = b;
		return 0;
	}
	if (!(b = mem_calloc(1, sizeof(*b))))
		return err_set(IODB_ENOMEM, "out of memory reading %s", r->path);
	atomic_init(&b->refs, 1);
	b->file_no = r->meta.file_no;
	b->off = r->idx[i].off;
	ERR(block_read(r, i, b));
	ERR(block_decode(r, i, b));
	*out = r->bc && !scan ? bcache_insert(r->bc, b) : b;
	return 0;
err:
	block_free(b);
	return rc;
}

static int run_block(struct run *r, uint32_t i, struct block **out)
{
	return run_block_get(r, i, 0, out);
}

/* ---- Reader: search ------------------------------------------------------------------- */

/* First block whose last entry is >= the target, or nblocks. */
static uint32_t index_seek(const struct run *r, uint32_t store, const uint8_t *key, size_t klen,
			   uint32_t n)
{
	uint32_t lo = 0, hi = r->nblocks;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct ridx *x = &r->idx[mid];

		if (entry_cmp(x->store, x->key, x->klen, x->n, store, key, klen, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First entry of b that is >= the target, or b->n. */
static uint32_t block_seek(const struct block *b, uint32_t store, const uint8_t *key,
			   size_t klen, uint32_t n)
{
	uint32_t lo = 0, hi = b->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct entry *e = &b->ents[mid];

		if (entry_cmp(e->store, e->key, e->klen, e->n, store, key, klen, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int filter_may_contain(const struct run *r, uint32_t i, uint64_t h)
{
	const uint8_t *bits = r->filter + r->fstart[i];
	uint64_t nbits = (uint64_t)(r->fstart[i + 1] - r->fstart[i]) * 8;

	return bloom_test(bits, nbits, r->probes, h);
}

int run_get(struct run *r, uint32_t store, const uint8_t *key, uint32_t klen,
	    const roaring_bitmap_t *anc, struct entry *e, struct block **hold)
{
	uint32_t i;

	*hold = NULL;
	RET(run_load(r));
	i = index_seek(r, store, key, klen, N_MAX);
	/* The newest version is in block i, whose filter has the key if the run does. */
	if (i == r->nblocks || !filter_may_contain(r, i, key_hash(store, key, klen)))
		return 0;
	for (; i < r->nblocks; i++) {
		struct block *b;

		RET(run_block(r, i, &b));
		for (uint32_t j = block_seek(b, store, key, klen, N_MAX); j < b->n; j++) {
			const struct entry *x = &b->ents[j];

			if (x->store != store || key_cmp(x->key, x->klen, key, klen) != 0) {
				block_unref(b);
				return 0;
			}
			if (!anc || roaring_bitmap_contains(anc, x->n)) {
				*e = *x;
				*hold = b;
				return 1;
			}
		}
		/* Every entry from the key on was a version not in anc: go on to the next. */
		block_unref(b);
	}
	return 0;
}

/* ---- Iterator ------------------------------------------------------------------------- */

/*
 * Holds block bi (b) while valid, at entry pos. Any failure to load a block makes it
 * invalid with the error in status; seek, first and last start afresh.
 */
struct run_iter {
	struct iiter base;
	struct run *r;
	struct block *b;
	uint32_t bi, pos;
	int status;
	int scan; /* blocks not offered to the cache */
};

static void ri_invalidate(struct run_iter *it)
{
	block_unref(it->b);
	it->b = NULL;
}

/* Move to block bi (dropping the current one first, so one block at most is held). */
static int ri_load(struct run_iter *it, uint32_t bi)
{
	ri_invalidate(it);
	if ((it->status = run_block_get(it->r, bi, it->scan, &it->b)) != 0)
		return -1;
	it->bi = bi;
	return 0;
}

static void ri_seek(struct iiter *i, uint32_t store, const uint8_t *key, size_t klen,
		    uint32_t n)
{
	struct run_iter *it = (struct run_iter *)i;
	uint32_t bi = index_seek(it->r, store, key, klen, n);

	it->status = 0;
	if (bi == it->r->nblocks) {
		ri_invalidate(it);
		return;
	}
	if (ri_load(it, bi) == 0)
		/* < n: block bi's last entry, checked to equal the index's, is >= the target */
		it->pos = block_seek(it->b, store, key, klen, n);
}

static void ri_first(struct iiter *i)
{
	struct run_iter *it = (struct run_iter *)i;

	it->status = 0;
	if (it->r->nblocks == 0)
		ri_invalidate(it);
	else if (ri_load(it, 0) == 0)
		it->pos = 0;
}

static void ri_last(struct iiter *i)
{
	struct run_iter *it = (struct run_iter *)i;

	it->status = 0;
	if (it->r->nblocks == 0)
		ri_invalidate(it);
	else if (ri_load(it, it->r->nblocks - 1) == 0)
		it->pos = it->b->n - 1;
}

static void ri_next(struct iiter *i)
{
	struct run_iter *it = (struct run_iter *)i;

	if (!it->b || ++it->pos < it->b->n)
		return;
	if (it->bi + 1 == it->r->nblocks)
		ri_invalidate(it);
	else if (ri_load(it, it->bi + 1) == 0)
		it->pos = 0;
}

static void ri_prev(struct iiter *i)
{
	struct run_iter *it = (struct run_iter *)i;

	if (!it->b)
		return;
	if (it->pos > 0)
		it->pos--;
	else if (it->bi == 0)
		ri_invalidate(it);
	else if (ri_load(it, it->bi - 1) == 0)
		it->pos = it->b->n - 1;
}

static int ri_valid(const struct iiter *i)
{
	return ((const struct run_iter *)i)->b != NULL;
}

static const struct entry *ri_entry(const struct iiter *i)
{
	const struct run_iter *it = (const struct run_iter *)i;

	return &it->b->ents[it->pos];
}

static int ri_status(const struct iiter *i)
{
	return ((const struct run_iter *)i)->status;
}

static void ri_close(struct iiter *i)
{
	struct run_iter *it = (struct run_iter *)i;

	if (!it)
		return;
	ri_invalidate(it);
	run_unref(it->r);
	mem_free(it);
}

static const struct iiter_ops run_iter_ops = {
	ri_seek, ri_first, ri_last, ri_next, ri_prev, ri_valid, ri_entry, ri_status, ri_close,
};

static int iter_new(struct run *r, int scan, struct iiter **out)
{
	struct run_iter *it;

	RET(run_load(r));
	if (!(it = mem_calloc(1, sizeof(*it))))
		return err_set(IODB_ENOMEM, "out of memory opening an iterator on %s", r->path);
	it->base.ops = &run_iter_ops;
	it->r = r;
	it->scan = scan;
	run_ref(r);
	*out = &it->base;
	return 0;
}

int run_iter_new(struct run *r, struct iiter **out)
{
	return iter_new(r, 0, out);
}

int run_scan_new(struct run *r, struct iiter **out)
{
	return iter_new(r, 1, out);
}
