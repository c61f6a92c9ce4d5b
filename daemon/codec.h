/*
 * codec.h -- the frame codec: captured frames in, parsed TCP segments out;
 * SYN-ACK and RST segments built byte for byte with correct checksums.
 *
 * Pure: takes buffers, returns results. Never touches a socket or a clock.
 * Every length read from a packet is checked before it is used.
 */
#ifndef SG_CODEC_H
#define SG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "reason.h"
#include "tuple.h"

/* TCP header flags (RFC 9293 3.1). */
#define SG_TCP_FIN 0x01
#define SG_TCP_SYN 0x02
#define SG_TCP_RST 0x04
#define SG_TCP_PSH 0x08
#define SG_TCP_ACK 0x10
#define SG_TCP_URG 0x20
#define SG_TCP_ECE 0x40
#define SG_TCP_CWR 0x80

/* What precedes the IP header in a captured frame. */
enum sg_link {
	SG_LINK_ETHER, /* Ethernet II, 802.1Q/802.1ad tags skipped; lo and veth */
	SG_LINK_IP,    /* no link header (AF_PACKET SOCK_DGRAM, raw IP) */
};

/* How far the TCP checksum of a captured segment can be trusted. */
enum sg_csum {
	SG_CSUM_VERIFY,  /* unknown: verify it, drop on mismatch */
	SG_CSUM_TRUSTED, /* the kernel checked it, or it is partial
			    (TP_STATUS_CSUMNOTREADY on lo/veth): skip */
};

/* A parsed TCP segment. Pointers point into the caller's frame. */
struct sg_segment {
	struct sg_tuple tuple; /* peer = IP source, local = IP destination */
	uint32_t seq;
	uint32_t ack;
	uint16_t window; /* raw, unscaled */
	uint8_t flags;   /* SG_TCP_* */
	uint8_t ttl;     /* IPv4 TTL or IPv6 hop limit */
	struct sg_tcpopts opts;
	const uint8_t *payload;
	uint32_t payload_len;
	const uint8_t *l3; /* start of the IP header */
	uint32_t l3_len;   /* IP header + TCP header + payload */
	const uint8_t *l4; /* start of the TCP header */
	uint32_t l4_len;   /* TCP header + payload */
};

/*
 * Parse a captured frame. Returns SG_R_NONE and fills *seg, or the reason
 * the frame is not a TCP segment we can use. Bytes past the IP total length
 * (Ethernet padding) are ignored. The IPv4 header checksum is always
 * verified (Linux never leaves it partial); the TCP checksum only with
 * SG_CSUM_VERIFY. seg->opts.mss is reported as sent, 0 included: clamping
 * is the caller's business. On failure *seg holds no meaningful values.
 */
enum sg_reason codec_parse(const uint8_t *frame, size_t len, enum sg_link link,
    enum sg_csum csum, struct sg_segment *seg);

/*
 * Parse the options area of a TCP header (the bytes after the fixed 20).
 * Unknown options are skipped; NOP pads; EOL ends the list. A length byte of
 * 0 or 1, or an option running past the end, is rejected.
 */
enum sg_reason codec_parse_options(const uint8_t *opt, size_t len,
    struct sg_tcpopts *out);

/* What a SYN-ACK or RST we build says. Addresses come from tuple. */
struct sg_reply {
	struct sg_tuple tuple; /* the connection as seen from us */
	uint32_t seq;
	uint32_t ack;
	uint16_t window;
	uint8_t flags; /* SG_TCP_* */
	uint8_t ttl;   /* IPv4 TTL / IPv6 hop limit; 0 means 64 */
	struct sg_tcpopts opts; /* for a SYN-ACK: what we send back */
};

/* Largest segment codec_build can write: IPv6 header + TCP with options. */
#define SG_REPLY_MAX (40 + 60)

/*
 * Build an IP packet (IPv4 or IPv6 by tuple.family, no link header) from
 * local to peer, with the TCP header and options of *r and a correct TCP
 * checksum (and IPv4 header checksum). Options are written in the order
 * Linux uses for a SYN-ACK: MSS, SACK-permitted + timestamps (or NOPs and
 * timestamps), window scale, padded with NOPs to a multiple of 4. MSS,
 * SACK-permitted and window scale are written only with SG_TCP_SYN; a
 * segment with SG_TCP_RST carries no options. IPv4: DF, IP ID 0. IPv6:
 * flow label 0. Returns the packet length, or 0 if buf is too small or
 * the family unknown.
 */
size_t codec_build(const struct sg_reply *r, uint8_t *buf, size_t buflen);

/*
 * Internet checksum helpers (RFC 1071), exposed for tests and tools.
 * codec_csum_add sums big-endian 16-bit words into a running sum (only the
 * last piece may have an odd length); codec_csum_fold returns the value
 * for the checksum field, host order, or 0 when the area summed already
 * holds a correct checksum.
 */
uint32_t codec_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t codec_csum_fold(uint32_t sum);

/* Verify the TCP checksum of a parsed segment: 1 if good, 0 if not. */
int codec_tcp_csum_ok(const struct sg_segment *seg);

/* Write the full TCP checksum of seg into its header at l4, a writable
 * copy of (or the same bytes as) seg->l4: for a segment captured with a
 * partial checksum that is to be sent again. */
void codec_tcp_csum_set(const struct sg_segment *seg, uint8_t *l4);

#endif
