/*
 * pkt.h -- byte order and RFC 1071 checksum helpers for the test code that
 * writes and reads packets by hand (netns.c, tools/craft.c), independently
 * of the daemon's codec.
 */
#ifndef SG_TEST_PKT_H
#define SG_TEST_PKT_H

#include <stddef.h>
#include <stdint.h>

/* Store a 16/32-bit value in network byte order. */
static inline void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* Read a 16/32-bit value in network byte order. */
static inline uint32_t
get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t
get32(const uint8_t *p)
{
	return get16(p) << 16 | get16(p + 2);
}

/* Add bytes to a ones'-complement sum (RFC 1071); an odd length only
 * last. */
static inline uint32_t
sum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* The checksum field's value for a running sum. */
static inline uint16_t
sum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif
