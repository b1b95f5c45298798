/*
 * hash64.c - see hash64.h. Generic utility layer, no privileges.
 */
#include "util/hash64.h"

#include <string.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint64_t load32(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static inline uint64_t round64(uint64_t acc, uint64_t word)
{
	return rotl(acc + word * P2, 31) * P1;
}

static void stripes(uint64_t lane[4], const unsigned char *p, size_t n)
{
	uint64_t a = lane[0], b = lane[1], c = lane[2], d = lane[3];
	for (; n >= 32; p += 32, n -= 32) {
		a = round64(a, load64(p));
		b = round64(b, load64(p + 8));
		c = round64(c, load64(p + 16));
		d = round64(d, load64(p + 24));
	}
	lane[0] = a, lane[1] = b, lane[2] = c, lane[3] = d;
}

void hash64_init(struct hash64 *h)
{
	h->lane[0] = P1 + P2;
	h->lane[1] = P2;
	h->lane[2] = 0;
	h->lane[3] = 0 - P1;
	h->total = 0;
	h->have = 0;
}

void hash64_add(struct hash64 *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	h->total += len;
	if (h->have > 0) {
		size_t take = 32 - h->have < len ? 32 - h->have : len;
		memcpy(h->stripe + h->have, p, take);
		h->have += take;
		p += take;
		len -= take;
		if (h->have < 32)
			return;
		stripes(h->lane, h->stripe, 32);
		h->have = 0;
	}
	size_t whole = len & ~(size_t)31;
	stripes(h->lane, p, whole);
	memcpy(h->stripe, p + whole, len - whole);
	h->have = len - whole;
}

static uint64_t merge(uint64_t acc, uint64_t lane)
{
	return (acc ^ round64(0, lane)) * P1 + P4;
}

uint64_t hash64_value(const struct hash64 *h)
{
	uint64_t v = rotl(h->lane[0], 1) + rotl(h->lane[1], 7) + rotl(h->lane[2], 12) +
		     rotl(h->lane[3], 18);
	for (int i = 0; i < 4; i++)
		v = merge(v, h->lane[i]);
	v += h->total;

	/* The bytes of the last, incomplete stripe: 8, then 4, then 1 at a time. */
	const unsigned char *p = h->stripe;
	size_t n = h->have;
	for (; n >= 8; p += 8, n -= 8)
		v = rotl(v ^ round64(0, load64(p)), 27) * P1 + P4;
	if (n >= 4) {
		v = rotl(v ^ load32(p) * P1, 23) * P2 + P3;
		p += 4;
		n -= 4;
	}
	for (; n > 0; p++, n--)
		v = rotl(v ^ *p * P5, 11) * P1;

	/* Every input bit reaches every output bit. */
	v ^= v >> 33;
	v *= P2;
	v ^= v >> 29;
	v *= P3;
	v ^= v >> 32;
	return v;
}

uint64_t hash64(const void *data, size_t len)
{
	struct hash64 h;
	hash64_init(&h);
	hash64_add(&h, data, len);
	return hash64_value(&h);
}
