/*
 * tuple.h -- the types every stage of the packet path shares: a
 * connection's 4-tuple and the TCP options negotiated in a handshake.
 *
 * A tuple is hashed and compared as raw bytes (cookie MAC, half-open table),
 * so it must always be fully initialised: use tuple_init_v4/v6, never fill
 * one field by field on top of garbage.
 */
#ifndef SG_TUPLE_H
#define SG_TUPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Seen from synguard: "peer" is the client, "local" is our listen address. */
struct sg_tuple {
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t pad[3];        /* always zero */
	uint16_t peer_port;    /* host byte order */
	uint16_t local_port;   /* host byte order */
	uint8_t peer_addr[16]; /* IPv4: first 4 bytes, the rest zero */
	uint8_t local_addr[16];
};

/* Option presence bits in sg_tcpopts.flags. */
#define SG_OPT_MSS 0x01
#define SG_OPT_WSCALE 0x02
#define SG_OPT_SACKOK 0x04
#define SG_OPT_TS 0x08

/* TCP options as carried by one segment (RFC 9293 3.2, RFC 7323, RFC 2018). */
struct sg_tcpopts {
	uint16_t mss;    /* valid if SG_OPT_MSS */
	uint8_t wscale;  /* valid if SG_OPT_WSCALE; clamped to 14 (RFC 7323 2.3) */
	uint8_t flags;   /* SG_OPT_* */
	uint32_t tsval;  /* valid if SG_OPT_TS */
	uint32_t tsecr;  /* valid if SG_OPT_TS */
};

/* The host's own addresses, for listeners on the wildcard address: a
 * segment to another address (one this host only routes or bridges) is
 * not ours to answer. */
#define SG_ADDRSET_MAX 256

struct sg_addrset {
	unsigned n;
	struct {
		uint8_t family;
		uint8_t addr[16];
	} a[SG_ADDRSET_MAX];
};

static inline void
tuple_init_v4(struct sg_tuple *t, const void *peer, uint16_t peer_port,
    const void *local, uint16_t local_port)
{
	memset(t, 0, sizeof(*t));
	t->family = AF_INET;
	t->peer_port = peer_port;
	t->local_port = local_port;
	memcpy(t->peer_addr, peer, 4);
	memcpy(t->local_addr, local, 4);
}

static inline void
tuple_init_v6(struct sg_tuple *t, const void *peer, uint16_t peer_port,
    const void *local, uint16_t local_port)
{
	memset(t, 0, sizeof(*t));
	t->family = AF_INET6;
	t->peer_port = peer_port;
	t->local_port = local_port;
	memcpy(t->peer_addr, peer, 16);
	memcpy(t->local_addr, local, 16);
}

static inline bool
tuple_equal(const struct sg_tuple *a, const struct sg_tuple *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

#endif
