/* siphash.h -- SipHash-2-4 (Aumasson & Bernstein), the keyed hash behind
 * SYN cookies and the half-open table's bucket choice. */
#ifndef SG_SIPHASH_H
#define SG_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct sg_sipkey {
	uint64_t k0, k1; /* the 128-bit key, little-endian halves */
};

/* Key from 16 bytes, as in the reference implementation. */
void siphash_key_from_bytes(struct sg_sipkey *k, const uint8_t bytes[16]);

/* SipHash-2-4 of len bytes. */
uint64_t siphash24(const struct sg_sipkey *k, const void *data, size_t len);

#endif
