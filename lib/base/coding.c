/*
 * coding.c — varints, the growable buffer, the bounded reader and CRC-32C.
 *
 * The reader is what every decoder of on-disk bytes is built on: it never reads past the end
 * it was given and reports running out as -1, which the decoder turns into IODB_ECORRUPT
 * naming its file and offset.
 */
#include <pthread.h>

#include "lib/base/base.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

size_t put_uvarint(uint8_t *p, uint64_t v)
{
	size_t i = 0;

	while (v >= 0x80) {
		p[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[i++] = (uint8_t)v;
	return i;
}

size_t uvarint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t put_varint(uint8_t *p, int64_t v)
{
	uint64_t zz = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

	return put_uvarint(p, zz);
}

void buf_init(struct buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	mem_free(b->p);
	buf_init(b);
}

int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return err_set(IODB_ENOMEM, "buffer size overflow");
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (!(p = mem_realloc(b->p, cap)))
		return err_set(IODB_ENOMEM, "out of memory growing a buffer to %zu bytes", cap);
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	RET(buf_reserve(b, n));
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	RET(buf_reserve(b, 4));
	put_u32(b->p + b->len, v);
	b->len += 4;
	return 0;
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	RET(buf_reserve(b, 8));
	put_u64(b->p + b->len, v);
	b->len += 8;
	return 0;
}

int buf_put_uvarint(struct buf *b, uint64_t v)
{
	RET(buf_reserve(b, UVARINT_MAX));
	b->len += put_uvarint(b->p + b->len, v);
	return 0;
}

int rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return -1;
	*v = *r->p++;
	return 0;
}

int rd_u32(struct rd *r, uint32_t *v)
{
	if (rd_left(r) < 4)
		return -1;
	*v = get_u32(r->p);
	r->p += 4;
	return 0;
}

int rd_u64(struct rd *r, uint64_t *v)
{
	if (rd_left(r) < 8)
		return -1;
	*v = get_u64(r->p);
	r->p += 8;
	return 0;
}

int rd_uvarint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0, i = 0; i < UVARINT_MAX; i++, shift += 7) {
		uint8_t c;

		if (r->p >= r->end)
			return -1;
		c = *r->p++;
		if (i == UVARINT_MAX - 1 && c > 1)
			return -1; /* overflows 64 bits */
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

int rd_bytes(struct rd *r, size_t n, const uint8_t **p)
{
	if (rd_left(r) < n)
		return -1;
	*p = r->p;
	r->p += n;
	return 0;
}

/* ---- CRC-32C -------------------------------------------------------------------------- */

static uint32_t crc_table[8][256];
static int crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	{
		unsigned a, b, c, d;

		if (__get_cpuid(1, &a, &b, &c, &d))
			crc_hw = (c & bit_SSE4_2) != 0;
	}
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw_extend(uint32_t crc, const uint8_t *p,
								 size_t n)
{
	uint64_t c = crc;

	while (n && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		n--;
	}
	while (n >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		n -= 8;
	}
	while (n--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static uint32_t crc_sw_extend(uint32_t c, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint32_t lo = c ^ get_u32(p), hi = get_u32(p + 4);

		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c;
}

uint32_t crc32c_extend(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_hw)
		return ~crc_hw_extend(c, p, n);
#endif
	return ~crc_sw_extend(c, p, n);
}
