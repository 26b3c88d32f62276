/*
 * test_base.c — suite "base": lib/base's encoding (coding), checksums (crc) and the env layer
 * with its fault injection and power-cut simulation (env).
 *
 * Encodings are checked against Go's encoding/binary byte for byte; CRC-32C against the
 * RFC 3720 check values and a bitwise reference written here; the env against what its
 * header promises tests: the Nth call fails exactly once, a crash keeps only synced bytes
 * and directory-synced creates and renames.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/base/base.h"
#include "testutil.h"

/* ---- helpers -------------------------------------------------------------------------- */

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* A heap copy of exactly n bytes, so that ASan sees any read past the end. */
static uint8_t *exact_copy(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	memcpy(q, p, n);
	return q;
}

static int decode_uvarint(const uint8_t *p, size_t n, uint64_t *v, size_t *used)
{
	uint8_t *q = exact_copy(p, n);
	struct rd r;
	int rc;

	rd_init(&r, q, n);
	rc = rd_uvarint(&r, v);
	ck_assert(r.p <= r.end);
	*used = (size_t)(r.p - q);
	free(q);
	return rc;
}

/* ---- TCase coding --------------------------------------------------------------------- */

/* Go: binary.PutVarint. */
static const struct {
	int64_t v;
	const char *hex;
} varint_vec[] = {
	{0, "00"},
	{1, "02"},
	{2, "04"},
	{-1, "01"},
	{-2, "03"},
	{63, "7e"},
	{-64, "7f"},
	{64, "8001"},
	{-65, "8101"},
	{100, "c801"},
	{-100, "c701"},
	{INT64_MAX, "feffffffffffffffff01"},
	{INT64_MIN, "ffffffffffffffffff01"},
};

/* Go: binary.PutUvarint. */
static const struct {
	uint64_t v;
	const char *hex;
} uvarint_vec[] = {
	{0, "00"},
	{1, "01"},
	{127, "7f"},
	{128, "8001"},
	{255, "ff01"},
	{300, "ac02"},
	{16383, "ff7f"},
	{16384, "808001"},
	{1ull << 32, "8080808010"},
	{(1ull << 63), "80808080808080808001"},
	{UINT64_MAX, "ffffffffffffffffff01"},
};

START_TEST(test_varint_go_vectors)
{
	for (size_t i = 0; i < sizeof(varint_vec) / sizeof(varint_vec[0]); i++) {
		uint8_t want[16], got[UVARINT_MAX + 4];
		size_t wn = unhex(varint_vec[i].hex, want), gn;

		memset(got, 0xee, sizeof(got));
		gn = put_varint(got, varint_vec[i].v);
		ck_assert_msg(gn == wn && memcmp(got, want, wn) == 0, "put_varint(%lld): %zu bytes",
			      (long long)varint_vec[i].v, gn);
		ck_assert_uint_eq(got[gn], 0xee); /* wrote nothing past its length */
	}
	for (size_t i = 0; i < sizeof(uvarint_vec) / sizeof(uvarint_vec[0]); i++) {
		uint8_t want[16], got[UVARINT_MAX + 4];
		size_t wn = unhex(uvarint_vec[i].hex, want), gn, used;
		uint64_t back;

		memset(got, 0xee, sizeof(got));
		gn = put_uvarint(got, uvarint_vec[i].v);
		ck_assert_msg(gn == wn && memcmp(got, want, wn) == 0, "put_uvarint(%llu): %zu",
			      (unsigned long long)uvarint_vec[i].v, gn);
		ck_assert_uint_eq(got[gn], 0xee);
		ck_assert_int_eq(decode_uvarint(want, wn, &back, &used), 0);
		ck_assert_uint_eq(back, uvarint_vec[i].v);
		ck_assert_uint_eq(used, wn);
	}
}
END_TEST

/* 7 bits a byte: ceil(significant bits / 7), at least 1. */
static size_t ref_uvarint_len(uint64_t v)
{
	int bits = v ? 64 - __builtin_clzll(v) : 1;

	return (size_t)(bits + 6) / 7;
}

START_TEST(test_uvarint_round_trip)
{
	uint64_t seed = tu_seed(0xC0D1C0D1), vals[64 * 3 + 1000];
	size_t nv = 0;
	uint8_t stream[sizeof(vals) / sizeof(vals[0]) * UVARINT_MAX];
	size_t slen = 0;
	struct rd r;

	for (int s = 0; s < 64; s++) {
		vals[nv++] = 1ull << s;
		vals[nv++] = (1ull << s) - 1;
		vals[nv++] = (1ull << s) + 1;
	}
	for (int i = 0; i < 1000; i++)
		vals[nv++] = tu_rand(&seed) >> tu_below(&seed, 64);
	vals[0] = UINT64_MAX;
	for (size_t i = 0; i < nv; i++) {
		uint8_t b[UVARINT_MAX];
		size_t n = put_uvarint(b, vals[i]), used;
		uint64_t back;

		ck_assert_uint_eq(n, ref_uvarint_len(vals[i]));
		ck_assert_uint_eq(n, uvarint_len(vals[i]));
		ck_assert_int_eq(decode_uvarint(b, n, &back, &used), 0);
		ck_assert_uint_eq(back, vals[i]);
		ck_assert_uint_eq(used, n);
		memcpy(stream + slen, b, n);
		slen += n;

		/* Signed: zigzag back from the uvarint. */
		{
			int64_t sv = (int64_t)vals[i];
			uint64_t zz;

			n = put_varint(b, sv);
			ck_assert_int_eq(decode_uvarint(b, n, &zz, &used), 0);
			ck_assert_int_eq((int64_t)(zz >> 1) ^ -(int64_t)(zz & 1), sv);
		}
	}
	/* Back to back in one stream. */
	rd_init(&r, stream, slen);
	for (size_t i = 0; i < nv; i++) {
		uint64_t v;

		ck_assert_int_eq(rd_uvarint(&r, &v), 0);
		ck_assert_uint_eq(v, vals[i]);
	}
	ck_assert_uint_eq(rd_left(&r), 0);
}
END_TEST

START_TEST(test_uvarint_rejects)
{
	static const char *bad[] = {
		"",			  /* nothing */
		"80",			  /* truncated continuation */
		"ffff",			  /* truncated continuation */
		"ffffffffffffffffff",	  /* 9 bytes, all continuation */
		"ffffffffffffffffff02",	  /* 10th byte > 1: overflows 64 bits */
		"ffffffffffffffffff7f",	  /* 10th byte > 1 */
		"80808080808080808002",	  /* 10th byte > 1 */
		"ffffffffffffffffff8100", /* 10th byte has the continuation bit: 11 bytes */
		"ffffffffffffffffffff00", /* 11-byte varint */
		"8080808080808080808000", /* 11-byte varint */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t b[16];
		size_t n = unhex(bad[i], b), used;
		uint64_t v = 12345;

		ck_assert_msg(decode_uvarint(b, n, &v, &used) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_uint_eq(v, 12345); /* untouched on failure */
	}
	/* The largest 10-byte forms are fine. */
	{
		uint8_t b[16];
		size_t n = unhex("80808080808080808001", b), used;
		uint64_t v;

		ck_assert_int_eq(decode_uvarint(b, n, &v, &used), 0);
		ck_assert_uint_eq(v, 1ull << 63);
	}
}
END_TEST

/* A reader given n bytes must not look at byte n, even when it would make the input valid. */
START_TEST(test_rd_bounds)
{
	uint8_t b[16] = {0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
	struct rd r;
	uint64_t v64 = 7;
	uint32_t v32 = 7;
	uint8_t v8 = 7;
	const uint8_t *p = NULL;

	rd_init(&r, b, 1);
	ck_assert_int_eq(rd_uvarint(&r, &v64), -1); /* b[1] would complete it */
	ck_assert(r.p <= r.end);
	ck_assert_uint_eq(v64, 7);

	rd_init(&r, b, 3);
	ck_assert_int_eq(rd_u32(&r, &v32), -1);
	ck_assert_uint_eq(v32, 7);
	ck_assert_uint_eq(rd_left(&r), 3);
	rd_init(&r, b, 7);
	ck_assert_int_eq(rd_u64(&r, &v64), -1);
	ck_assert_uint_eq(rd_left(&r), 7);
	rd_init(&r, b, 0);
	ck_assert_int_eq(rd_u8(&r, &v8), -1);
	ck_assert_uint_eq(v8, 7);

	rd_init(&r, b, 5);
	ck_assert_int_eq(rd_bytes(&r, 6, &p), -1);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(rd_bytes(&r, SIZE_MAX, &p), -1);
	ck_assert_int_eq(rd_bytes(&r, (size_t)-5, &p), -1);
	ck_assert_uint_eq(rd_left(&r), 5);
	ck_assert_int_eq(rd_bytes(&r, 5, &p), 0);
	ck_assert_ptr_eq(p, b);
	ck_assert_uint_eq(rd_left(&r), 0);
	ck_assert_int_eq(rd_bytes(&r, 0, &p), 0);
	ck_assert_ptr_eq(p, b + 5);
	ck_assert_int_eq(rd_bytes(&r, 1, &p), -1);

	/* Little-endian fixed widths, read in sequence. */
	{
		uint8_t *q = exact_copy("\x01\x02\x03\x04\x11\x12\x13\x14\x15\x16\x17\x18\xfe", 13);

		rd_init(&r, q, 13);
		ck_assert_int_eq(rd_u32(&r, &v32), 0);
		ck_assert_uint_eq(v32, 0x04030201u);
		ck_assert_int_eq(rd_u64(&r, &v64), 0);
		ck_assert_uint_eq(v64, 0x1817161514131211ull);
		ck_assert_int_eq(rd_u8(&r, &v8), 0);
		ck_assert_uint_eq(v8, 0xfe);
		ck_assert_uint_eq(rd_left(&r), 0);
		ck_assert_int_eq(rd_u8(&r, &v8), -1);
		ck_assert_int_eq(rd_u32(&r, &v32), -1);
		ck_assert_int_eq(rd_u64(&r, &v64), -1);
		ck_assert_int_eq(rd_uvarint(&r, &v64), -1);
		ck_assert_ptr_eq(r.p, r.end);
		free(q);
	}

	/* Every prefix of a run of maximal varints fails cleanly (ASan watches the copy). */
	{
		uint8_t s[3 * UVARINT_MAX];
		size_t n = 0;

		for (int i = 0; i < 3; i++)
			n += put_uvarint(s + n, UINT64_MAX - (uint64_t)i);
		for (size_t cut = 0; cut < n; cut++) {
			uint8_t *q = exact_copy(s, cut);
			int ok = 0;

			rd_init(&r, q, cut);
			while (rd_uvarint(&r, &v64) == 0)
				ok++;
			ck_assert_int_eq(ok, (int)(cut / UVARINT_MAX));
			ck_assert(r.p <= r.end);
			free(q);
		}
	}
}
END_TEST

START_TEST(test_fixed_width)
{
	uint8_t b[8];

	put_u16(b, 0xa1b2);
	ck_assert_mem_eq(b, "\xb2\xa1", 2);
	ck_assert_uint_eq(get_u16(b), 0xa1b2);
	put_u32(b, 0x11223344u);
	ck_assert_mem_eq(b, "\x44\x33\x22\x11", 4);
	ck_assert_uint_eq(get_u32(b), 0x11223344u);
	put_u32(b, 0xfedcba98u);
	ck_assert_uint_eq(get_u32(b), 0xfedcba98u);
	put_u64(b, 0x0102030405060708ull);
	ck_assert_mem_eq(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	ck_assert_uint_eq(get_u64(b), 0x0102030405060708ull);
	put_u64(b, UINT64_MAX - 1);
	ck_assert_uint_eq(get_u64(b), UINT64_MAX - 1);
}
END_TEST

START_TEST(test_buf)
{
	uint64_t seed = tu_seed(0xB0F);
	struct buf b;
	uint8_t *ref = malloc(1 << 20);
	size_t n = 0;

	buf_init(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 0);
	/* Grow one byte at a time, then in chunks of every size up to 4 KiB. */
	for (int i = 0; i < 5000; i++) {
		uint8_t c = (uint8_t)(i * 7);

		ck_assert_int_eq(buf_put_u8(&b, c), 0);
		ref[n++] = c;
	}
	while (n < (1 << 20) - 4096) {
		uint8_t chunk[4096];
		size_t k = tu_below(&seed, 4097);

		for (size_t i = 0; i < k; i++)
			chunk[i] = (uint8_t)tu_rand(&seed);
		ck_assert_int_eq(buf_append(&b, chunk, k), 0);
		memcpy(ref + n, chunk, k);
		n += k;
		ck_assert_uint_ge(b.cap, b.len);
	}
	ck_assert_uint_eq(b.len, n);
	ck_assert_int_eq(memcmp(b.p, ref, n), 0);

	/* Typed appends. */
	b.len = 0;
	ck_assert_int_eq(buf_put_u32(&b, 0xdeadbeef), 0);
	ck_assert_int_eq(buf_put_u64(&b, 0x0102030405060708ull), 0);
	ck_assert_int_eq(buf_put_uvarint(&b, 300), 0);
	ck_assert_int_eq(buf_put_uvarint(&b, UINT64_MAX), 0);
	ck_assert_int_eq(buf_put_u8(&b, 0x5a), 0);
	ck_assert_uint_eq(b.len, 4 + 8 + 2 + 10 + 1);
	ck_assert_mem_eq(b.p, "\xef\xbe\xad\xde\x08\x07\x06\x05\x04\x03\x02\x01\xac\x02"
			      "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x5a",
			 25);

	/* A size that cannot be represented fails cleanly and leaves the buffer alone. */
	{
		size_t len = b.len, cap = b.cap;
		uint8_t *p = b.p;

		ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), IODB_ENOMEM);
		ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - len + 1), IODB_ENOMEM);
		ck_assert_ptr_eq(b.p, p);
		ck_assert_uint_eq(b.len, len);
		ck_assert_uint_eq(b.cap, cap);
	}
	ck_assert_int_eq(buf_reserve(&b, 100000), 0);
	ck_assert_uint_ge(b.cap, b.len + 100000);
	buf_free(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	buf_free(&b); /* twice is fine */
	free(ref);
}
END_TEST

/* ---- TCase crc ------------------------------------------------------------------------ */

static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

START_TEST(test_crc_vectors)
{
	uint8_t b[32];

	ck_assert_uint_eq(crc32c("123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc_ref(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c("", 0), 0);
	ck_assert_uint_eq(crc32c(NULL, 0), 0);
	ck_assert_uint_eq(crc32c_extend(0x12345678u, "", 0), 0x12345678u);
	/* RFC 3720, B.4. */
	memset(b, 0, 32);
	ck_assert_uint_eq(crc32c(b, 32), 0x8A9136AAu);
	memset(b, 0xff, 32);
	ck_assert_uint_eq(crc32c(b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	ck_assert_uint_eq(crc32c(b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(crc32c(b, 32), 0x113FDB5Cu);
	/* The mask rotates right by 15 and adds a constant. */
	ck_assert_uint_eq(crc_mask(0), 0xa282ead8u);
	ck_assert_uint_eq(crc_mask(0x8000), 0xa282ead9u);
	ck_assert_uint_eq(crc_mask(1), 0xa284ead8u);
	ck_assert_uint_ne(crc_mask(0xE3069283u), 0xE3069283u);
}
END_TEST

START_TEST(test_crc_split)
{
	uint64_t seed = tu_seed(0xC4C);
	uint8_t b[300];

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)tu_rand(&seed);
	for (size_t len = 0; len <= sizeof(b); len += len < 80 ? 1 : 37) {
		uint32_t whole = crc32c(b, len);

		ck_assert_uint_eq(whole, crc_ref(0, b, len));
		for (size_t k = 0; k <= len; k++)
			ck_assert_uint_eq(crc32c_extend(crc32c(b, k), b + k, len - k), whole);
		/* Three pieces. */
		for (size_t k = 0; k + 3 <= len; k += 5)
			ck_assert_uint_eq(crc32c_extend(crc32c_extend(crc32c(b, k), b + k, 3),
							b + k + 3, len - k - 3),
					  whole);
	}
}
END_TEST

START_TEST(test_crc_alignments)
{
	uint64_t seed = tu_seed(0xA11C);
	_Alignas(64) uint8_t b[64 + 16 + 64];
	uint8_t *big;
	size_t bign = 1 << 20;

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)tu_rand(&seed);
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len <= 64; len++) {
			uint32_t init = (uint32_t)tu_rand(&seed);

			ck_assert_msg(crc32c(b + off, len) == crc_ref(0, b + off, len),
				      "offset %zu length %zu", off, len);
			ck_assert_msg(crc32c_extend(init, b + off, len) ==
					      crc_ref(init, b + off, len),
				      "extend: offset %zu length %zu", off, len);
		}
	big = malloc(bign + 8);
	for (size_t i = 0; i < bign + 8; i++)
		big[i] = (uint8_t)tu_rand(&seed);
	for (size_t off = 0; off < 8; off++)
		ck_assert_uint_eq(crc32c(big + off, bign - off), crc_ref(0, big + off, bign - off));
	free(big);
}
END_TEST

/* ---- TCase env ------------------------------------------------------------------------ */

struct envt {
	struct env *e;
	char *dir;
};

static void envt_init(struct envt *t)
{
	ck_assert_int_eq(env_new(&t->e), 0);
	t->dir = tu_tmpdir("base");
}

static void envt_done(struct envt *t)
{
	env_free(t->e);
	tu_rmrf(t->dir);
	free(t->dir);
}

static int file_is(const char *path, const void *want, size_t n)
{
	unsigned char *d;
	size_t len;
	int eq;

	if (tu_read_file(path, &d, &len) != 0)
		return 0;
	eq = len == n && memcmp(d, want, n) == 0;
	free(d);
	return eq;
}

#define ck_msg_has(s)                                                                     \
	ck_assert_msg(strstr(iodb_errmsg(), (s)) != NULL, "errmsg \"%s\" lacks \"%s\"",      \
		      iodb_errmsg(), (s))

START_TEST(test_env_fail_nth_write)
{
	for (uint64_t nth = 1; nth <= 4; nth++) {
		struct envt t;
		struct env_file *f;
		char *path;
		char want[8];
		size_t wn = 0;

		envt_init(&t);
		path = tu_path(t.dir, "f");
		ck_ok(env_open_append(t.e, path, &f));
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_WRITE), 0);
		env_fail_nth(t.e, ENV_OP_WRITE, nth);
		for (int i = 0; i < 6; i++) {
			char c = (char)('a' + i);
			int rc = env_file_append(f, &c, 1);

			if ((uint64_t)i + 1 == nth) {
				ck_assert_int_eq(rc, IODB_EIO);
				ck_msg_has(path);
			} else {
				ck_assert_int_eq(rc, 0);
				want[wn++] = c;
			}
		}
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_WRITE), 6);
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC), 0);
		ck_assert_uint_eq(env_file_size(f), wn);
		ck_assert_uint_eq(env_bytes_written(t.e), wn);
		ck_assert(file_is(path, want, wn));
		env_file_close(f);
		free(path);
		envt_done(&t);
	}
}
END_TEST

START_TEST(test_env_fail_nth_sync_rename)
{
	struct envt t;
	struct env_file *f;
	char *a, *b, *c;

	envt_init(&t);
	a = tu_path(t.dir, "a");
	b = tu_path(t.dir, "b");
	c = tu_path(t.dir, "c");
	ck_ok(env_open_append(t.e, a, &f));
	ck_ok(env_file_append(f, "x", 1));

	/* fdatasync and directory fsync count as one op. */
	env_fail_nth(t.e, ENV_OP_SYNC, 2);
	ck_ok(env_file_sync(f));
	ck_rc(env_sync_dir(t.e, t.dir), IODB_EIO);
	ck_msg_has(t.dir);
	ck_ok(env_file_sync(f));
	ck_ok(env_sync_dir(t.e, t.dir));
	ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC), 4);
	env_fail_nth(t.e, ENV_OP_SYNC, 1);
	ck_rc(env_file_sync(f), IODB_EIO);
	ck_msg_has(a);
	ck_ok(env_file_sync(f));
	ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC), 6);
	env_file_close(f);

	/* n counts from now, not from the env's creation. */
	env_fail_nth(t.e, ENV_OP_RENAME, 2);
	ck_ok(env_rename(t.e, a, b));
	ck_rc(env_rename(t.e, b, c), IODB_EIO);
	ck_msg_has(b);
	ck_assert(env_exists(t.e, b));
	ck_assert(!env_exists(t.e, c));
	ck_ok(env_rename(t.e, b, c));
	ck_assert(file_is(c, "x", 1));
	ck_assert_uint_eq(env_op_count(t.e, ENV_OP_RENAME), 3);
	ck_assert_uint_eq(env_op_count(t.e, ENV_OP_WRITE), 1);

	/* 0 disarms. */
	env_fail_nth(t.e, ENV_OP_RENAME, 1);
	env_fail_nth(t.e, ENV_OP_RENAME, 0);
	ck_ok(env_rename(t.e, c, a));
	/* A fault on one op leaves the others alone. */
	env_fail_nth(t.e, ENV_OP_WRITE, 1);
	ck_ok(env_rename(t.e, a, b));
	ck_ok(env_sync_dir(t.e, t.dir));
	free(a);
	free(b);
	free(c);
	envt_done(&t);
}
END_TEST

START_TEST(test_env_files)
{
	struct envt t;
	struct env_file *f, *r;
	char *a, *sub, *missing;
	uint8_t buf[64];
	size_t got;

	envt_init(&t);
	a = tu_path(t.dir, "a");
	sub = tu_path(t.dir, "sub");
	missing = tu_path(t.dir, "nope/x");
	ck_ok(env_open_append(t.e, a, &f));
	ck_assert_str_eq(env_file_path(f), a);
	ck_ok(env_file_append(f, "0123456789", 10));
	ck_ok(env_file_append(f, "", 0));
	ck_assert_uint_eq(env_file_size(f), 10);
	ck_ok(env_open_read(t.e, a, &r));
	ck_assert_uint_eq(env_file_size(r), 10);
	ck_ok(env_file_read(r, 3, buf, sizeof(buf), &got));
	ck_assert_uint_eq(got, 7);
	ck_assert_mem_eq(buf, "3456789", 7);
	ck_ok(env_file_read(r, 10, buf, 4, &got));
	ck_assert_uint_eq(got, 0);
	ck_ok(env_file_read(r, 100, buf, 4, &got));
	ck_assert_uint_eq(got, 0);
	ck_assert_uint_eq(env_bytes_read(t.e), 7);
	env_file_close(r);
	ck_ok(env_file_truncate(f, 4));
	ck_assert_uint_eq(env_file_size(f), 4);
	ck_ok(env_file_append(f, "ab", 2));
	ck_assert(file_is(a, "0123ab", 6));
	env_file_close(f);
	env_file_close(NULL);

	/* Reopening to append continues at the end. */
	ck_ok(env_open_append(t.e, a, &f));
	ck_assert_uint_eq(env_file_size(f), 6);
	ck_ok(env_file_append(f, "Z", 1));
	env_file_close(f);
	ck_assert(file_is(a, "0123abZ", 7));

	/* Errors name the path. */
	ck_rc(env_open_read(t.e, missing, &r), IODB_NOTFOUND);
	ck_msg_has(missing);
	ck_rc(env_open_append(t.e, missing, &f), IODB_EIO);
	ck_msg_has(missing);
	ck_rc(env_list_dir(t.e, sub, NULL, NULL), IODB_NOTFOUND);
	ck_msg_has(sub);

	ck_ok(env_mkdir(t.e, sub));
	ck_ok(env_mkdir(t.e, sub)); /* already a directory */
	ck_rc(env_mkdir(t.e, a), IODB_EIO); /* a file is in the way */
	ck_msg_has(a);
	ck_assert_int_eq(env_exists(t.e, sub), 1);
	ck_assert_int_eq(env_exists(t.e, missing), 0);
	ck_ok(env_unlink(t.e, a));
	ck_assert_int_eq(env_exists(t.e, a), 0);
	ck_ok(env_unlink(t.e, a)); /* already gone */
	ck_ok(env_sync_dir(t.e, t.dir));
	{
		char *p = path_join("/x/y", "z.log");

		ck_assert_str_eq(p, "/x/y/z.log");
		mem_free(p);
	}
	free(a);
	free(sub);
	free(missing);
	envt_done(&t);
}
END_TEST

struct listing {
	char names[8][32];
	int n, stop_at;
};

static int list_fn(void *ctx, const char *name)
{
	struct listing *l = ctx;

	ck_assert_int_lt(l->n, 8);
	snprintf(l->names[l->n++], 32, "%s", name);
	return l->n == l->stop_at ? 99 : 0;
}

static int listed(const struct listing *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return 1;
	return 0;
}

START_TEST(test_env_list_dir)
{
	struct envt t;
	struct listing l = {.stop_at = -1};
	const char *names[] = {"one", "two.log", "3"};

	envt_init(&t);
	for (int i = 0; i < 3; i++) {
		char *p = tu_path(t.dir, names[i]);

		ck_assert_int_eq(tu_write_file(p, (const unsigned char *)"x", 1), 0);
		free(p);
	}
	ck_ok(env_list_dir(t.e, t.dir, list_fn, &l));
	ck_assert_int_eq(l.n, 3);
	for (int i = 0; i < 3; i++)
		ck_assert(listed(&l, names[i]));
	ck_assert(!listed(&l, ".") && !listed(&l, ".."));
	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	ck_assert_int_eq(env_list_dir(t.e, t.dir, list_fn, &l), 99);
	ck_assert_int_eq(l.n, 2);
	envt_done(&t);
}
END_TEST

/* Create path durably (directory fsynced) with `synced` bytes synced and `extra` not. */
static struct env_file *durable_file(struct envt *t, const char *path, const char *synced,
				     const char *extra)
{
	struct env_file *f;

	ck_ok(env_open_append(t->e, path, &f));
	ck_ok(env_sync_dir(t->e, t->dir));
	ck_ok(env_file_append(f, synced, strlen(synced)));
	ck_ok(env_file_sync(f));
	if (extra)
		ck_ok(env_file_append(f, extra, strlen(extra)));
	return f;
}

START_TEST(test_env_crash_contents)
{
	struct envt t;
	struct env_file *f, *g, *h;
	char *a, *b, *c, lost[200];

	envt_init(&t);
	a = tu_path(t.dir, "a");
	b = tu_path(t.dir, "b");
	c = tu_path(t.dir, "c");
	memset(lost, 'L', sizeof(lost) - 1);
	lost[sizeof(lost) - 1] = '\0';
	f = durable_file(&t, a, "hello", " world");
	ck_ok(env_file_append(f, lost, sizeof(lost) - 1));
	/* A failed fsync makes nothing durable. */
	g = durable_file(&t, b, "kept", NULL);
	ck_ok(env_file_append(g, "-not", 4));
	env_fail_nth(t.e, ENV_OP_SYNC, 1);
	ck_rc(env_file_sync(g), IODB_EIO);
	/* A file that was there before the env first opened it counts as durable. */
	ck_assert_int_eq(tu_write_file(c, (const unsigned char *)"before", 6), 0);
	ck_ok(env_open_append(t.e, c, &h));
	ck_ok(env_file_append(h, "after", 5));

	env_crash(t.e, 0, 1);
	ck_assert(file_is(a, "hello", 5));
	ck_assert(file_is(b, "kept", 4));
	ck_assert(file_is(c, "before", 6));

	/* After the crash every write-side call fails with EIO. */
	ck_rc(env_file_append(f, "x", 1), IODB_EIO);
	ck_rc(env_file_sync(f), IODB_EIO);
	ck_rc(env_file_truncate(f, 0), IODB_EIO);
	ck_rc(env_rename(t.e, a, b), IODB_EIO);
	ck_rc(env_sync_dir(t.e, t.dir), IODB_EIO);
	ck_rc(env_unlink(t.e, a), IODB_EIO);
	{
		struct env_file *n = NULL;
		char *d = tu_path(t.dir, "d"), *sub = tu_path(t.dir, "sub");

		ck_rc(env_open_append(t.e, d, &n), IODB_EIO);
		ck_assert_ptr_null(n);
		ck_assert_int_eq(env_exists(t.e, d), 0);
		ck_rc(env_mkdir(t.e, sub), IODB_EIO);
		free(d);
		free(sub);
	}
	ck_assert(file_is(a, "hello", 5));
	ck_assert(file_is(b, "kept", 4));
	env_file_close(f);
	env_file_close(g);
	env_file_close(h);
	free(a);
	free(b);
	free(c);
	envt_done(&t);
}
END_TEST

START_TEST(test_env_crash_garbage)
{
	uint64_t seed = tu_seed(0x6A5);

	for (int round = 0; round < 8; round++) {
		struct envt t;
		struct env_file *f;
		char *a;
		uint8_t synced[100], lost[300];
		size_t nsynced = 1 + tu_below(&seed, 100), nlost = 1 + tu_below(&seed, 300);
		unsigned char *d;
		size_t len;

		envt_init(&t);
		a = tu_path(t.dir, "a");
		for (size_t i = 0; i < sizeof(synced); i++)
			synced[i] = (uint8_t)tu_rand(&seed);
		for (size_t i = 0; i < sizeof(lost); i++)
			lost[i] = (uint8_t)tu_rand(&seed);
		ck_ok(env_open_append(t.e, a, &f));
		ck_ok(env_sync_dir(t.e, t.dir));
		ck_ok(env_file_append(f, synced, nsynced));
		ck_ok(env_file_sync(f));
		ck_ok(env_file_append(f, lost, nlost));
		env_crash(t.e, 1, tu_rand(&seed));
		ck_assert_int_eq(tu_read_file(a, &d, &len), 0);
		/* The synced bytes, then a few junk bytes where the lost ones were. */
		ck_assert_uint_gt(len, nsynced);
		ck_assert_uint_le(len, nsynced + (nlost < 64 ? nlost : 64));
		ck_assert_int_eq(memcmp(d, synced, nsynced), 0);
		ck_assert_msg(len - nsynced < 4 || memcmp(d + nsynced, lost, len - nsynced) != 0,
			      "the lost bytes survived the crash");
		free(d);
		env_file_close(f);
		free(a);
		envt_done(&t);
	}
}
END_TEST

START_TEST(test_env_crash_namespace)
{
	struct envt t;
	struct env_file *f;
	char *nosync, *sub, *insub, *from, *to, *from2, *to2, *tmp, *gone;

	envt_init(&t);
	nosync = tu_path(t.dir, "nosync");
	sub = tu_path(t.dir, "sub");
	insub = tu_path(sub, "f");
	from = tu_path(t.dir, "from");
	to = tu_path(t.dir, "to");
	from2 = tu_path(t.dir, "from2");
	to2 = tu_path(t.dir, "to2");
	tmp = tu_path(t.dir, "tmp");
	gone = tu_path(t.dir, "gone");
	ck_ok(env_mkdir(t.e, sub));

	/* Renamed, directory synced: kept. */
	f = durable_file(&t, from2, "payload2", NULL);
	env_file_close(f);
	ck_ok(env_rename(t.e, from2, to2));
	ck_ok(env_sync_dir(t.e, t.dir));
	f = durable_file(&t, from, "payload", NULL);
	env_file_close(f);

	/* From here on t.dir is never synced again. */
	/* Renamed without a directory sync: undone. */
	ck_ok(env_rename(t.e, from, to));
	/* Created, contents synced, directory never synced: disappears. */
	ck_ok(env_open_append(t.e, nosync, &f));
	ck_ok(env_file_append(f, "data", 4));
	ck_ok(env_file_sync(f));
	env_file_close(f);
	/* Created in sub, contents synced; sub never synced: disappears. */
	ck_ok(env_open_append(t.e, insub, &f));
	ck_ok(env_file_append(f, "data", 4));
	ck_ok(env_file_sync(f));
	env_file_close(f);
	/* Opening an existing file again creates nothing new, and does not make it durable. */
	ck_ok(env_open_append(t.e, insub, &f));
	env_file_close(f);
	/* Created and renamed, nothing synced: neither name survives. */
	ck_ok(env_open_append(t.e, tmp, &f));
	env_file_close(f);
	ck_ok(env_rename(t.e, tmp, gone));

	ck_assert(env_exists(t.e, nosync) && env_exists(t.e, to) && env_exists(t.e, gone));
	env_crash(t.e, 0, 7);
	ck_assert(!env_exists(t.e, nosync));
	ck_assert(!env_exists(t.e, insub));
	ck_assert(file_is(from, "payload", 7));
	ck_assert(!env_exists(t.e, to));
	ck_assert(file_is(to2, "payload2", 8));
	ck_assert(!env_exists(t.e, from2));
	ck_assert(!env_exists(t.e, tmp));
	ck_assert(!env_exists(t.e, gone));
	free(nosync);
	free(sub);
	free(insub);
	free(from);
	free(to);
	free(from2);
	free(to2);
	free(tmp);
	free(gone);
	envt_done(&t);
}
END_TEST

/* The file in sub was synced with sub's directory sync, not the parent's. */
START_TEST(test_env_crash_subdir_synced)
{
	struct envt t;
	struct env_file *f;
	char *sub, *insub, *top;

	envt_init(&t);
	sub = tu_path(t.dir, "sub");
	insub = tu_path(sub, "f");
	top = tu_path(t.dir, "top");
	ck_ok(env_mkdir(t.e, sub));
	ck_ok(env_open_append(t.e, insub, &f));
	ck_ok(env_file_append(f, "abc", 3));
	ck_ok(env_file_sync(f));
	env_file_close(f);
	ck_ok(env_open_append(t.e, top, &f));
	env_file_close(f);
	ck_ok(env_sync_dir(t.e, sub));
	env_crash(t.e, 1, 3);
	ck_assert(file_is(insub, "abc", 3));
	ck_assert(!env_exists(t.e, top));
	free(sub);
	free(insub);
	free(top);
	envt_done(&t);
}
END_TEST

START_TEST(test_env_lock)
{
	struct envt t;
	struct env *e2;
	struct env_lock *l1, *l2 = NULL;
	char *path;

	envt_init(&t);
	ck_ok(env_new(&e2));
	path = tu_path(t.dir, "LOCK");
	ck_ok(env_lock(t.e, path, &l1));
	ck_assert(env_exists(t.e, path));
	ck_rc(env_lock(t.e, path, &l2), IODB_EBUSY);
	ck_msg_has(path);
	ck_assert_ptr_null(l2);
	ck_rc(env_lock(e2, path, &l2), IODB_EBUSY);
	env_unlock(l1);
	ck_ok(env_lock(e2, path, &l2));
	ck_rc(env_lock(t.e, path, &l1), IODB_EBUSY);
	env_unlock(l2);
	ck_ok(env_lock(t.e, path, &l1));
	env_unlock(l1);
	env_unlock(NULL);
	env_free(e2);
	env_free(NULL);
	free(path);
	envt_done(&t);
}
END_TEST

START_TEST(test_errors)
{
	ck_assert_str_eq(iodb_strerror(IODB_OK), "ok");
	for (int rc = IODB_EBUSY; rc <= IODB_OK; rc++) {
		ck_assert_ptr_nonnull(iodb_strerror(rc));
		for (int other = IODB_EBUSY; other < rc; other++)
			ck_assert_str_ne(iodb_strerror(rc), iodb_strerror(other));
	}
	ck_assert_ptr_nonnull(iodb_strerror(-1000));
	ck_assert_int_eq(err_set(IODB_EINVAL, "bad %s %d", "thing", 42), IODB_EINVAL);
	ck_assert_str_eq(iodb_errmsg(), "bad thing 42");
	ck_assert_int_eq(ERR_CORRUPT("/some/file", 1234, "broken %d", 7), IODB_ECORRUPT);
	ck_msg_has("/some/file");
	ck_msg_has("1234");
	ck_msg_has("broken 7");
	err_clear();
	ck_assert_str_eq(iodb_errmsg(), "");
}
END_TEST

static Suite *base_suite(void)
{
	Suite *s = suite_create("base");
	TCase *tc;

	tc = tcase_create("coding");
	tcase_add_test(tc, test_varint_go_vectors);
	tcase_add_test(tc, test_uvarint_round_trip);
	tcase_add_test(tc, test_uvarint_rejects);
	tcase_add_test(tc, test_rd_bounds);
	tcase_add_test(tc, test_fixed_width);
	tcase_add_test(tc, test_buf);
	suite_add_tcase(s, tc);

	tc = tcase_create("crc");
	tcase_add_test(tc, test_crc_vectors);
	tcase_add_test(tc, test_crc_split);
	tcase_add_test(tc, test_crc_alignments);
	suite_add_tcase(s, tc);

	tc = tcase_create("env");
	tcase_add_test(tc, test_env_fail_nth_write);
	tcase_add_test(tc, test_env_fail_nth_sync_rename);
	tcase_add_test(tc, test_env_files);
	tcase_add_test(tc, test_env_list_dir);
	tcase_add_test(tc, test_env_crash_contents);
	tcase_add_test(tc, test_env_crash_garbage);
	tcase_add_test(tc, test_env_crash_namespace);
	tcase_add_test(tc, test_env_crash_subdir_synced);
	tcase_add_test(tc, test_env_lock);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(base_suite());
}
