/*
 * siphash.c -- SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast
 * short-input PRF", 2012), as in the reference implementation
 * (github.com/veorq/SipHash): 2 compression rounds per 8-byte word, 4
 * finalisation rounds, 64-bit output.
 *
 * Reads the message a byte at a time into little-endian words, so the
 * result is the same on every host and for any alignment of data: hosts
 * sharing a cookie key must agree on every MAC. Never allocates, never
 * branches on key or data contents.
 */
#include "siphash.h"

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* Read 8 bytes as a little-endian word, whatever the host order. */
static uint64_t
load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56;
}

/*
 * One SipRound: the ARX permutation of the four state words. A macro on
 * locals, so the state stays in registers whatever the compiler inlines
 * (gcc -O2 called a static round function, on a struct in memory, 6 times
 * a hash).
 */
#define SIPROUND(v0, v1, v2, v3)                                          \
	do {                                                              \
		v0 += v1;                                                 \
		v1 = ROTL64(v1, 13);                                      \
		v1 ^= v0;                                                 \
		v0 = ROTL64(v0, 32);                                      \
		v2 += v3;                                                 \
		v3 = ROTL64(v3, 16);                                      \
		v3 ^= v2;                                                 \
		v0 += v3;                                                 \
		v3 = ROTL64(v3, 21);                                      \
		v3 ^= v0;                                                 \
		v2 += v1;                                                 \
		v1 = ROTL64(v1, 17);                                      \
		v1 ^= v2;                                                 \
		v2 = ROTL64(v2, 32);                                      \
	} while (0)

/* Absorb one message word with the 2 compression rounds of SipHash-2-4. */
#define SIPCOMPRESS(v0, v1, v2, v3, m)                                    \
	do {                                                              \
		v3 ^= (m);                                                \
		SIPROUND(v0, v1, v2, v3);                                 \
		SIPROUND(v0, v1, v2, v3);                                 \
		v0 ^= (m);                                                \
	} while (0)

void
siphash_key_from_bytes(struct sg_sipkey *k, const uint8_t bytes[16])
{
	k->k0 = load_le64(bytes);
	k->k1 = load_le64(bytes + 8);
}

uint64_t
siphash24(const struct sg_sipkey *k, const void *data, size_t len)
{
	const uint8_t *p = data;
	const uint8_t *end = p + (len & ~(size_t)7);
	uint64_t v0, v1, v2, v3, m;
	size_t left = len & 7;

	/* "somepseudorandomlygeneratedbytes", the initialisation constants. */
	v0 = k->k0 ^ UINT64_C(0x736f6d6570736575);
	v1 = k->k1 ^ UINT64_C(0x646f72616e646f6d);
	v2 = k->k0 ^ UINT64_C(0x6c7967656e657261);
	v3 = k->k1 ^ UINT64_C(0x7465646279746573);

	for (; p != end; p += 8) {
		m = load_le64(p);
		SIPCOMPRESS(v0, v1, v2, v3, m);
	}

	/* Last word: the remaining bytes, and the length mod 256 on top. */
	m = (uint64_t)(len & 0xff) << 56;
	while (left > 0) {
		left--;
		m |= (uint64_t)p[left] << (8 * left);
	}
	SIPCOMPRESS(v0, v1, v2, v3, m);

	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}
