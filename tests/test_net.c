/*
 * test_net.c -- the packet tap's filter, the raw sending sockets and the
 * interface helpers, on loopback inside a private network namespace.
 *
 * Negative checks ("the tap did not pass X") send X first and a packet the
 * tap must pass last, pinned to one CPU so loopback keeps them in order:
 * when the marker arrives, X would have arrived before it.
 */
#include <sys/socket.h>

#include <net/if.h>
#include <netinet/in.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "net.h"
#include "netns.h"
#include "tsclock.h"

#define PORT 8080
#define PORT2 8443
#define OTHER 9090

static const uint8_t lo4[16] = { 127, 0, 0, 1 };
static const uint8_t lo6[16] = { [15] = 1 };
static uint8_t bufs[8][65536];

/* Private namespace, one CPU; or skip. */
static void
setup(void)
{
	cpu_set_t set;

	if (sg_test_netns() == -1)
		cr_skip_test("namespaces not available: %s", strerror(errno));
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* How the tests' taps read: 0 with recvmmsg, else through a ring. */
static unsigned batch_ms;

/* A test run twice: with taps that read with recvmmsg, and through a
 * TPACKET_V3 ring. */
#define TAP_TEST(name)                                                       \
	static void name(void);                                              \
	Test(net, name) { batch_ms = 0; name(); }                            \
	Test(net, name##_ring) { batch_ms = 1; name(); }                     \
	static void name(void)

/* Open a tap for the given ports (each test is its own process). */
static struct sg_tap *
tap(const uint16_t *ports, size_t n)
{
	static struct sg_tap t;
	char err[256];

	cr_assert_eq(net_tap_open(&t, ports, n, -1, batch_ms, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(t.ring != NULL, batch_ms > 0);
	return &t;
}

/* A hand-made TCP segment on loopback (the family's), from sport. */
static struct sg_test_seg
seg_make(int family, uint16_t sport, uint16_t dport, uint8_t flags,
    const char *payload)
{
	struct sg_test_seg s;

	memset(&s, 0, sizeof(s));
	s.family = family;
	memcpy(s.src, family == AF_INET ? lo4 : lo6, 16);
	memcpy(s.dst, family == AF_INET ? lo4 : lo6, 16);
	s.sport = sport;
	s.dport = dport;
	s.seq = 1;
	s.flags = flags;
	s.window = 1000;
	s.payload = (const uint8_t *)payload;
	s.payload_len = payload ? strlen(payload) : 0;
	return s;
}

/* Send a segment through net_tx. */
static void
seg_send(struct sg_tx *tx, const struct sg_test_seg *s)
{
	uint8_t pkt[256];
	size_t len = sg_test_build(s, pkt, sizeof(pkt));

	cr_assert_gt(len, 0);
	cr_assert_eq(net_tx_send(tx, pkt, len), 0, "tx: %s", strerror(errno));
}

/* Send one hand-made TCP segment from port 40000. */
static void
send_seg(struct sg_tx *tx, int family, uint16_t dport, uint8_t flags,
    const char *payload)
{
	struct sg_test_seg s = seg_make(family, 40000, dport, flags, payload);

	seg_send(tx, &s);
}

/* Open the raw sockets. */
static void
tx_open(struct sg_tx *tx)
{
	char err[256];

	cr_assert_eq(net_tx_open(tx, err, sizeof(err)), 0, "%s", err);
}

/* Read up to 8 frames from t into f[0..7], each into its own buffer. */
static int
tap_read8(struct sg_tap *t, struct sg_frame *f)
{
	for (int i = 0; i < 8; i++)
		f[i].data = bufs[i];
	return net_tap_read(t, f, 8, 65536);
}

/* Read frames into out[] until one to dport `marker` arrives (within 2 s);
 * returns how many came, the marker included (at most 8), or -1. */
static int
read_until(struct sg_tap *t, uint16_t marker, struct sg_frame *out,
    size_t bufsize)
{
	int64_t deadline = sg_test_now_ms() + 2000;
	struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
	struct sg_test_seg s;
	int n = 0, got, i;

	while (sg_test_now_ms() < deadline && n < 8) {
		poll(&pfd, 1, 100);
		for (i = n; i < 8; i++)
			out[i].data = bufs[i];
		got = net_tap_read(t, out + n, (unsigned)(8 - n), bufsize);
		cr_assert_geq(got, 0);
		for (i = n; i < n + got; i++)
			if (sg_test_parse(out[i].data, out[i].len, &s) == 0 &&
			    s.dport == marker)
				return i + 1;
		n += got;
	}
	return -1;
}

TAP_TEST(tap_passes_incoming_tcp_to_our_ports_once)
{
	uint16_t ports[] = { PORT, PORT2 };
	struct sg_frame f[8];
	struct sg_test_seg s;
	struct sg_tx tx;
	struct sg_tap *t;

	setup();
	t = tap(ports, 2);
	tx_open(&tx);
	send_seg(&tx, AF_INET, PORT2, SG_TCP_SYN, NULL);
	send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);
	/* On lo every packet passes twice, outgoing then incoming: only the
	 * incoming copies may come up, so the marker to PORT is second. */
	cr_assert_eq(read_until(t, PORT, f, 65536), 2);
	cr_assert_eq(sg_test_parse(f[0].data, f[0].len, &s), 0);
	cr_assert_eq(s.dport, PORT2);
	cr_assert_eq(s.flags, SG_TCP_SYN);
	cr_assert_eq(f[0].ifindex, (int)if_nametoindex("lo"));
	cr_assert_eq(f[0].truncated, 0);
}

TAP_TEST(tap_drops_other_ports_udp_and_fragments)
{
	uint16_t ports[] = { PORT };
	struct sg_frame f[8];
	struct sg_tx tx;
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_port = htons(PORT) };
	uint8_t frag[64];
	struct sg_tap *t;
	int u;

	setup();
	t = tap(ports, 1);
	tx_open(&tx);
	send_seg(&tx, AF_INET, OTHER, SG_TCP_SYN, NULL);
	/* UDP to our port number. */
	memcpy(&sin.sin_addr, lo4, 4);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_eq(sendto(u, "x", 1, 0, (struct sockaddr *)&sin,
	    sizeof(sin)), 1);
	/* A non-first IPv4 fragment whose bytes look like TCP to our port. */
	memset(frag, 0, sizeof(frag));
	frag[0] = 0x45;
	frag[3] = sizeof(frag);
	frag[6] = 0x00;
	frag[7] = 0x01; /* offset 8 bytes */
	frag[8] = 64;
	frag[9] = IPPROTO_TCP;
	memcpy(frag + 12, lo4, 4);
	memcpy(frag + 16, lo4, 4);
	frag[22] = PORT >> 8;
	frag[23] = PORT & 0xff;
	cr_assert_eq(net_tx_send(&tx, frag, sizeof(frag)), 0);
	/* IPv6 TCP to another port. */
	send_seg(&tx, AF_INET6, OTHER, SG_TCP_SYN, NULL);
	/* The marker. */
	send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);
	cr_assert_eq(read_until(t, PORT, f, 65536), 1,
	    "the tap passed a segment it should have dropped");
}

/* Send an ACK with a timestamp option echoing tsecr, from sport. */
static void
send_ts_ack(struct sg_tx *tx, int family, uint16_t sport, uint8_t flags,
    uint32_t tsecr, const char *payload)
{
	struct sg_test_seg s = seg_make(family, sport, PORT, flags, payload);

	s.ack = 1;
	s.optflags = SG_OPT_TS;
	s.tsval = 7;
	s.tsecr = tsecr;
	seg_send(tx, &s);
}

/*
 * Segments that echo a materialized socket's clock (tsclock.h) stay in the
 * kernel; a handshake's, anything with SYN or RST, and segments without
 * Linux's timestamp layout come up.
 */
TAP_TEST(tap_keeps_established_segments_in_the_kernel)
{
	uint16_t ports[] = { PORT };
	struct sg_frame f[8];
	struct sg_test_seg s;
	struct sg_tx tx;
	struct sg_tap *t;
	int fam, n;

	setup();
	t = tap(ports, 1);
	tx_open(&tx);
	for (fam = 0; fam < 2; fam++) {
		int family = fam == 0 ? AF_INET : AF_INET6;
		uint32_t base = sg_ts_base((uint64_t)sg_test_now_ms());
		uint32_t est = base + SG_TS_EPOCH + SG_TS_MARGIN;
		uint32_t hs = base + SG_TS_MARGIN + 12345;

		cr_assert(sg_ts_established(est, base));
		cr_assert(!sg_ts_established(hs, base));
		/* Established: a bare ACK, data, a FIN; idle for up to the
		 * margin, or the filter's base a day behind the clock. */
		send_ts_ack(&tx, family, 41001, SG_TCP_ACK, est, NULL);
		send_ts_ack(&tx, family, 41002, SG_TCP_ACK | SG_TCP_PSH, est,
		    "data");
		send_ts_ack(&tx, family, 41003, SG_TCP_ACK | SG_TCP_FIN,
		    est - SG_TS_MARGIN + 1000, NULL);
		send_ts_ack(&tx, family, 41004, SG_TCP_ACK, est + 86400000,
		    NULL);
		/* Up: a handshake's ACK (with data too), one that echoes a
		 * SYN-ACK two minutes old, RST and SYN with any TSecr. */
		send_ts_ack(&tx, family, 42001, SG_TCP_ACK, hs, NULL);
		send_ts_ack(&tx, family, 42002, SG_TCP_ACK, hs, "early");
		send_ts_ack(&tx, family, 42003, SG_TCP_ACK,
		    base + SG_TS_MARGIN - 120000, NULL);
		send_ts_ack(&tx, family, 42004, SG_TCP_ACK | SG_TCP_RST, est,
		    NULL);
		send_ts_ack(&tx, family, 42005, SG_TCP_SYN, est, NULL);
		/* The marker, from port 40000. */
		send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);

		uint16_t up[16];
		int64_t deadline = sg_test_now_ms() + 2000;
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
		bool marker = false;

		n = 0;
		while (!marker && sg_test_now_ms() < deadline) {
			poll(&pfd, 1, 100);
			int got = tap_read8(t, f);
			cr_assert_geq(got, 0);
			for (int i = 0; i < got; i++) {
				cr_assert_eq(sg_test_parse(f[i].data, f[i].len,
				    &s), 0);
				if (s.sport == 40000)
					marker = true;
				else if (n < 16)
					up[n++] = s.sport;
			}
		}
		cr_assert(marker, "the marker did not come up");
		cr_assert_eq(n, 5, "%s: %d segments came up, want 5 (first %u)",
		    family == AF_INET ? "v4" : "v6", n, n > 0 ? up[0] : 0);
		for (int i = 0; i < n; i++)
			cr_assert_eq(up[i], 42001 + i);
	}
}

TAP_TEST(tap_passes_ipv6_tcp_and_extension_headers)
{
	uint16_t ports[] = { PORT };
	struct sg_frame f[8];
	struct sg_tx tx;
	uint8_t pkt[48];
	struct sg_tap *t;
	int n;

	setup();
	t = tap(ports, 1);
	tx_open(&tx);
	send_seg(&tx, AF_INET6, PORT, SG_TCP_SYN | SG_TCP_ACK, "hi");
	cr_assert_eq(read_until(t, PORT, f, 65536), 1);
	cr_assert_eq(f[0].len, 40 + 20 + 2);

	/* Hop-by-hop options header (8 bytes of PadN) then nothing: the
	 * filter cannot see past it and lets user space decide. */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x60;
	pkt[5] = 8;
	pkt[6] = 0; /* next header: hop-by-hop */
	pkt[7] = 64;
	memcpy(pkt + 8, lo6, 16);
	memcpy(pkt + 24, lo6, 16);
	pkt[40] = 59; /* no next header */
	pkt[42] = 1;  /* PadN, 4 bytes */
	pkt[43] = 4;
	cr_assert_eq(net_tx_send(&tx, pkt, sizeof(pkt)), 0, "%s",
	    strerror(errno));
	send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);
	n = read_until(t, PORT, f, 65536);
	cr_assert_eq(n, 2, "extension-header packet not passed (%d)", n);
	cr_assert_eq(f[0].data[6], 0);
}

TAP_TEST(tap_trusts_partial_checksums_and_verifies_the_rest)
{
	uint16_t ports[] = { PORT };
	struct sg_frame f[8];
	struct sg_tx tx;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
		.sin6_port = htons(PORT) };
	struct sg_tap *t;
	int c;

	setup();
	t = tap(ports, 1);
	tx_open(&tx);
	/* A kernel TCP socket leaves the checksum to the device, and lo
	 * never fills it in: the tap reports it as not ready. */
	memcpy(&sin6.sin6_addr, lo6, 16);
	c = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(c, (struct sockaddr *)&sin6, sizeof(sin6));
	cr_assert_eq(read_until(t, PORT, f, 65536), 1);
	cr_assert_eq(f[0].csum, SG_CSUM_TRUSTED);
	/* A packet written whole by a raw socket is nobody's promise. */
	send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);
	cr_assert_eq(read_until(t, PORT, f, 65536), 1);
	cr_assert_eq(f[0].csum, SG_CSUM_VERIFY);
}

TAP_TEST(tap_flags_frames_longer_than_the_buffer)
{
	uint16_t ports[] = { PORT };
	struct sg_frame f;
	struct sg_tx tx;
	struct pollfd pfd;
	struct sg_tap *t;

	setup();
	t = tap(ports, 1);
	tx_open(&tx);
	send_seg(&tx, AF_INET, PORT, SG_TCP_ACK, "0123456789abcdefghij");
	pfd.fd = t->fd;
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 2000), 1);
	f.data = bufs[0];
	cr_assert_eq(net_tap_read(t, &f, 1, 32), 1);
	cr_assert_eq(f.len, 32);
	cr_assert_eq(f.truncated, 1);
}

/*
 * The ring: a 64 KiB segment (lo's MTU) arrives whole, and frames keep
 * coming, in order, after every block has been used and given back a few
 * times over (each frame read before the next is sent retires a block).
 */
Test(net, ring_carries_large_frames_and_wraps)
{
	uint16_t ports[] = { PORT };
	struct sg_frame f[8];
	struct sg_test_seg s;
	struct sg_tx tx;
	struct sg_tap *t;
	static char big[65000];
	int i, n;

	setup();
	batch_ms = 1;
	t = tap(ports, 1);
	tx_open(&tx);
	memset(big, 'x', sizeof(big) - 1);
	s = seg_make(AF_INET, 40000, PORT, SG_TCP_ACK, big);
	uint8_t *pkt = malloc(70000);
	size_t len = sg_test_build(&s, pkt, 70000);
	cr_assert_gt(len, 65000);
	cr_assert_eq(net_tx_send(&tx, pkt, len), 0, "%s", strerror(errno));
	free(pkt);
	cr_assert_eq(read_until(t, PORT, f, 65536), 1);
	cr_assert_eq(f[0].len, len);
	cr_assert_eq(f[0].truncated, 0);
	cr_assert_eq(f[0].csum, SG_CSUM_VERIFY);
	cr_assert_eq(f[0].ifindex, (int)if_nametoindex("lo"));

	for (i = 0; i < 3 * NET_TAP_RING_BLOCKS; i++) {
		s = seg_make(AF_INET, (uint16_t)(1000 + i), PORT, SG_TCP_SYN,
		    NULL);
		seg_send(&tx, &s);
		n = read_until(t, PORT, f, 65536);
		cr_assert_eq(n, 1, "frame %d: %d", i, n);
		cr_assert_eq(sg_test_parse(f[0].data, f[0].len, &s), 0);
		cr_assert_eq(s.sport, 1000 + i);
	}
	/* And a burst within one block, read in pieces. */
	for (i = 0; i < 20; i++) {
		s = seg_make(AF_INET, (uint16_t)(2000 + i), PORT, SG_TCP_SYN,
		    NULL);
		seg_send(&tx, &s);
	}
	for (i = 0; i < 20; i += n) {
		int64_t deadline = sg_test_now_ms() + 2000;
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };

		f[0].data = bufs[0];
		f[1].data = bufs[1];
		f[2].data = bufs[2];
		while ((n = net_tap_read(t, f, 3, 65536)) == 0 &&
		    sg_test_now_ms() < deadline)
			poll(&pfd, 1, 100);
		cr_assert_gt(n, 0, "frames %d..19 did not come", i);
		for (int j = 0; j < n; j++) {
			cr_assert_eq(sg_test_parse(f[j].data, f[j].len, &s), 0);
			cr_assert_eq(s.sport, 2000 + i + j);
		}
	}
}

Test(net, tx_sends_packets_a_raw_receiver_sees_byte_for_byte)
{
	uint16_t ports[] = { PORT };
	struct sg_frame f[8];
	struct sg_test_seg s, r;
	struct sg_tx tx;
	uint8_t pkt[256];
	size_t len;
	struct sg_tap *t;

	setup();
	t = tap(ports, 1);
	tx_open(&tx);
	memset(&s, 0, sizeof(s));
	s.family = AF_INET;
	memcpy(s.src, lo4, 4);
	memcpy(s.dst, lo4, 4);
	s.sport = 1234;
	s.dport = PORT;
	s.seq = 0xdeadbeef;
	s.ack = 0x01020304;
	s.flags = SG_TCP_SYN | SG_TCP_ACK;
	s.window = 29200;
	s.optflags = SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS;
	s.mss = 1460;
	s.wscale = 7;
	s.tsval = 1;
	s.tsecr = 2;
	len = sg_test_build(&s, pkt, sizeof(pkt));
	cr_assert_eq(net_tx_send(&tx, pkt, len), 0);
	cr_assert_eq(read_until(t, PORT, f, 65536), 1);
	cr_assert_eq(f[0].len, len);
	/* The TCP part is exactly ours; the kernel owns only IP id/csum. */
	cr_assert_arr_eq(f[0].data + 20, pkt + 20, len - 20);
	cr_assert_eq(sg_test_parse(f[0].data, f[0].len, &r), 0);
	cr_assert_eq(r.seq, s.seq);
	cr_assert_eq(r.mss, 1460);

	s.family = AF_INET6;
	memcpy(s.src, lo6, 16);
	memcpy(s.dst, lo6, 16);
	len = sg_test_build(&s, pkt, sizeof(pkt));
	cr_assert_eq(net_tx_send(&tx, pkt, len), 0, "%s", strerror(errno));
	cr_assert_eq(read_until(t, PORT, f, 65536), 1);
	cr_assert_eq(f[0].len, len);
	cr_assert_arr_eq(f[0].data, pkt, len);
	net_tx_close(&tx);
	cr_assert_eq(tx.fd4, -1);
}

Test(net, tx_batch_sends_mixed_families)
{
	uint16_t ports[] = { PORT, PORT2 };
	struct sg_frame f[8];
	struct sg_test_seg s;
	struct sg_tx tx;
	uint8_t p[3][128];
	const uint8_t *pkts[3] = { p[0], p[1], p[2] };
	size_t lens[3];
	struct sg_tap *t;
	int i, fam[3] = { AF_INET, AF_INET6, AF_INET };

	setup();
	t = tap(ports, 2);
	tx_open(&tx);
	for (i = 0; i < 3; i++) {
		memset(&s, 0, sizeof(s));
		s.family = fam[i];
		memcpy(s.src, fam[i] == AF_INET ? lo4 : lo6, 16);
		memcpy(s.dst, fam[i] == AF_INET ? lo4 : lo6, 16);
		s.sport = (uint16_t)(1000 + i);
		s.dport = PORT;
		s.flags = SG_TCP_RST;
		lens[i] = sg_test_build(&s, p[i], sizeof(p[i]));
	}
	cr_assert_eq(net_tx_send_batch(&tx, pkts, lens, 3), 3);
	send_seg(&tx, AF_INET, PORT2, SG_TCP_SYN, NULL);
	cr_assert_eq(read_until(t, PORT2, f, 65536), 4);
}

Test(net, tx_refuses_what_is_not_an_ip_packet)
{
	struct sg_tx tx;
	uint8_t junk[40] = { 0x50 };

	setup();
	tx_open(&tx);
	cr_assert_eq(net_tx_send(&tx, junk, 10), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(net_tx_send(&tx, junk, sizeof(junk)), -1);
	cr_assert_eq(errno, EINVAL);
	junk[0] = 0x44; /* IHL below 5 */
	cr_assert_eq(net_tx_send(&tx, junk, sizeof(junk)), -1);
	cr_assert_eq(errno, EINVAL);
}

Test(net, tap_refuses_no_ports_and_too_many)
{
	static uint16_t ports[NET_TAP_MAX_PORTS + 1];
	char err[128];
	struct sg_tap t;

	setup();
	cr_assert_eq(net_tap_open(&t, ports, 0, -1, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(t.fd, -1);
	cr_assert_eq(net_tap_open(&t, ports, NET_TAP_MAX_PORTS + 1, -1, 1, err,
	    sizeof(err)), -1);
	cr_assert_eq(net_tap_open(&t, ports, NET_TAP_MAX_PORTS, -1, 1, err,
	    sizeof(err)), 0, "the largest filter must load: %s", err);
	net_tap_close(&t);
	cr_assert_eq(t.fd, -1);
	cr_assert_null(t.ring);
}

Test(net, ifmtu_reads_the_interface_mtu)
{
	setup();
	cr_assert_eq(net_ifmtu((int)if_nametoindex("lo")), 65536);
	cr_assert_eq(net_ifmtu(99999), -1);
}

Test(net, tap_set_ports_switches_the_filter)
{
	uint16_t before[] = { PORT }, after[] = { PORT2 };
	struct sg_frame f[8];
	struct sg_tx tx;
	struct sg_tap *t;

	setup();
	t = tap(before, 1);
	tx_open(&tx);
	cr_assert_eq(net_tap_set_ports(t->fd, after, 1), 0);
	send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);
	send_seg(&tx, AF_INET, PORT2, SG_TCP_SYN, NULL);
	cr_assert_eq(read_until(t, PORT2, f, 65536), 1,
	    "the old port still passes");
	cr_assert_eq(net_tap_set_ports(t->fd, after, 0), -1);
	cr_assert_eq(errno, EINVAL);
}

/*
 * Read from nt taps until want frames came from them all, or 3 s passed.
 * counts[k] gets how many tap k gave; each frame's source port goes to
 * seen(k, sport) if it is given. Returns the total.
 */
static int
read_taps(struct sg_tap *const *t, int nt, int want, int *counts,
    void (*seen)(int k, uint16_t sport))
{
	struct pollfd pfd[4];
	struct sg_frame f[8];
	struct sg_test_seg s;
	int64_t deadline = sg_test_now_ms() + 3000;
	int total = 0;

	cr_assert(nt <= 4);
	for (int k = 0; k < nt; k++) {
		counts[k] = 0;
		pfd[k].fd = t[k]->fd;
		pfd[k].events = POLLIN;
	}
	while (total < want && sg_test_now_ms() < deadline) {
		poll(pfd, (nfds_t)nt, 50);
		for (int k = 0; k < nt; k++) {
			int got = tap_read8(t[k], f);
			cr_assert_geq(got, 0);
			for (int i = 0; seen != NULL && i < got; i++) {
				cr_assert_eq(sg_test_parse(f[i].data, f[i].len,
				    &s), 0);
				seen(k, s.sport);
			}
			counts[k] += got;
			total += got;
		}
	}
	return total;
}

TAP_TEST(fanout_gives_each_segment_to_one_tap_of_the_group)
{
	uint16_t ports[] = { PORT };
	struct sg_tx tx;
	char err[256];
	struct sg_tap a, b;
	struct sg_tap *t[2] = { &a, &b };
	int i, n[2];

	setup();
	cr_assert_eq(net_tap_open(&a, ports, 1, 4242, batch_ms, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(net_tap_open(&b, ports, 1, 4242, batch_ms, err,
	    sizeof(err)), 0, "%s", err);
	tx_open(&tx);
	for (i = 0; i < 8; i++)
		send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);
	/* Each SYN once in the group, not once per tap. */
	cr_assert_eq(read_taps(t, 2, 8, n, NULL), 8, "a %d b %d", n[0], n[1]);
}

/*
 * A worker's two taps (daemon/worker.c): two fanout groups joined in the
 * same order map a flow to the same member in each, so with worker 0 on its
 * ring and worker 1 on its plain tap (the other tap of each paused), every
 * segment comes up exactly once, from the tap of the worker it belongs
 * to; and again with the modes swapped.
 */
/* What paired_fanout_... saw: which worker each of 64 source ports from
 * paired_base came up at. */
static uint8_t paired_seen[2][64];
static unsigned paired_base;

static void
paired_note(int k, uint16_t sport)
{
	int j = (int)sport - (int)paired_base;

	cr_assert(j >= 0 && j < 64, "port %u", sport);
	cr_assert_eq(paired_seen[0][j] + paired_seen[1][j], 0,
	    "port %u came up twice", sport);
	paired_seen[k][j] = 1;
}

Test(net, paired_fanout_groups_give_each_segment_to_one_live_tap)
{
	uint16_t ports[] = { PORT };
	struct sg_tap ring[2], plain[2];
	struct sg_frame f[8];
	struct sg_tx tx;
	char err[256];

	setup();
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(net_tap_open(&ring[k], ports, 1, 0x1234, 1, err,
		    sizeof(err)), 0, "%s", err);
		cr_assert_eq(net_tap_open(&plain[k], ports, 1, 0x1234 ^ 0x8000,
		    0, err, sizeof(err)), 0, "%s", err);
	}
	tx_open(&tx);
	for (int swap = 0; swap < 2; swap++) {
		/* Worker `live` reads through its ring, the other plainly. */
		int live = swap, n[2];
		struct sg_tap *on[2] = { &ring[live], &plain[!live] };
		struct sg_tap *off[2] = { &plain[live], &ring[!live] };

		for (int k = 0; k < 2; k++) {
			cr_assert_eq(net_tap_set_ports(on[k]->fd, ports, 1), 0);
			cr_assert_eq(net_tap_pause(off[k]->fd), 0);
		}
		memset(paired_seen, 0, sizeof(paired_seen));
		paired_base = 20000 + 64 * (unsigned)swap;
		for (int i = 0; i < 64; i++) {
			struct sg_test_seg seg = seg_make(AF_INET,
			    (uint16_t)(paired_base + (unsigned)i), PORT,
			    SG_TCP_SYN, NULL);
			seg_send(&tx, &seg);
		}
		int got = read_taps(on, 2, 64, n, paired_note);
		cr_assert_eq(got, 64, "round %d: %d of 64 came up", swap, got);
		/* Both workers had some (the hash spreads 64 flows), and the
		 * paused taps took nothing. */
		cr_assert(n[0] > 0 && n[0] < 64, "worker split %d/64", n[0]);
		for (int k = 0; k < 2; k++)
			cr_assert_eq(tap_read8(off[k], f), 0,
			    "a paused tap took a frame");
	}
	for (int k = 0; k < 2; k++) {
		net_tap_close(&ring[k]);
		net_tap_close(&plain[k]);
	}
	net_tx_close(&tx);
}

/* NET_FANOUT_NEW: the kernel picks a free id, so two daemons in one
 * namespace never share a group; a tap joins a made group by its id. */
Test(net, new_fanout_groups_get_ids_of_their_own)
{
	uint16_t ports[] = { PORT };
	struct sg_tap a, b, c;
	struct sg_tx tx;
	char err[256];
	int ida, idb, nac = 0, nb = 0;

	setup();
	cr_assert_eq(net_tap_open(&a, ports, 1, NET_FANOUT_NEW, 0, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(net_tap_open(&b, ports, 1, NET_FANOUT_NEW, 0, err,
	    sizeof(err)), 0, "%s", err);
	ida = net_tap_fanout(a.fd);
	idb = net_tap_fanout(b.fd);
	cr_assert(ida >= 0 && idb >= 0, "ids %d %d", ida, idb);
	cr_assert_neq(ida, idb, "two new groups share id %d", ida);
	cr_assert_eq(net_tap_open(&c, ports, 1, -3, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(c.fd, -1);
	cr_assert_eq(net_tap_open(&c, ports, 1, ida, 0, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(net_tap_fanout(c.fd), ida);
	tx_open(&tx);
	for (int i = 0; i < 8; i++)
		send_seg(&tx, AF_INET, PORT, SG_TCP_SYN, NULL);
	/* Each group takes every SYN once: a and c share theirs. */
	struct sg_tap *t[3] = { &a, &b, &c };
	int n[3];
	(void)read_taps(t, 3, 16, n, NULL);
	nac = n[0] + n[2];
	nb = n[1];
	cr_assert_eq(nac, 8, "group a: %d of 8", nac);
	cr_assert_eq(nb, 8, "group b: %d of 8", nb);
	net_tap_close(&a);
	net_tap_close(&b);
	net_tap_close(&c);
	net_tx_close(&tx);
}
