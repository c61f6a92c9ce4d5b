/*
 * netns.h -- test helpers for the network-facing modules: move the calling
 * test process into a fresh user and network namespace with loopback up, so
 * tests may open raw sockets, packet taps and repaired sockets, and every
 * packet they make stays there; and write and read TCP/IP packets by hand,
 * independently of the codec under test.
 */
#ifndef SG_TEST_NETNS_H
#define SG_TEST_NETNS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Enter the namespaces (the process must be single-threaded) and bring lo
 * up: 127.0.0.1 and ::1 are then usable. Returns 0, or -1 when namespaces
 * are not allowed here (the caller skips the test).
 */
int sg_test_netns(void);

/* Milliseconds on the monotonic clock, for the tests' deadlines. */
int64_t sg_test_now_ms(void);

/* Set a sysctl of the namespace entered above: name as under /proc/sys
 * ("net/ipv4/tcp_early_retrans"). 0, or -1 with errno. */
int sg_test_sysctl(const char *name, const char *value);

/* One TCP segment, written or read by the helpers below. */
struct sg_test_seg {
	int family;           /* AF_INET or AF_INET6 */
	uint8_t src[16];      /* IPv4: first 4 bytes */
	uint8_t dst[16];
	uint16_t sport, dport; /* host byte order */
	uint32_t seq, ack;
	uint8_t flags;        /* SG_TCP_* */
	uint16_t window;
	uint8_t optflags;     /* SG_OPT_* present */
	uint16_t mss;
	uint8_t wscale;
	uint32_t tsval, tsecr;
	const uint8_t *payload;
	size_t payload_len;
};

/*
 * Write s as an IP packet (no link header) with correct checksums; options
 * in Linux's order (MSS, SACK-permitted, timestamps, window scale). Returns
 * the length, or 0 if buf is too small.
 */
size_t sg_test_build(const struct sg_test_seg *s, uint8_t *buf, size_t len);

/* Read an IP packet holding a TCP segment (no IPv6 extension headers).
 * Returns 0, or -1 if it is anything else. */
int sg_test_parse(const uint8_t *pkt, size_t len, struct sg_test_seg *s);

#endif
