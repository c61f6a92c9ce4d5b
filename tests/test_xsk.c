/*
 * test_xsk.c -- the AF_XDP sending socket, and the sender that uses it or
 * falls back to AF_PACKET, on a veth pair inside a private network
 * namespace. What leaves one end is read whole, Ethernet header included,
 * by a packet socket on the other.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "net.h"
#include "netns.h"
#include "xsk.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

static const uint8_t mac0[6] = { 2, 0, 0, 0, 0, 1 };  /* sgx0, the sender */
static const uint8_t mac1[6] = { 2, 0, 0, 0, 0, 2 };  /* sgx1, the peer */
static int if0, if1;

/* Run an ip(8) command; /usr/sbin may not be on a user's PATH. */
static void
ip(const char *args)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "PATH=\"$PATH:/usr/sbin:/sbin\" ip %s",
	    args);
	cr_assert_eq(system(cmd), 0, "ip %s", args);
}

/*
 * Wait until an interface runs (IFF_RUNNING: the kernel has done with
 * bringing it up, its qdisc attached); before that, what goes through the
 * qdisc layer (AF_PACKET) is dropped.
 */
static void
wait_running(const char *name)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int64_t deadline = sg_test_now_ms() + 5000;

	cr_assert_neq(fd, -1);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	for (;;) {
		cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0, "%s", name);
		if (ifr.ifr_flags & IFF_RUNNING)
			break;
		cr_assert_lt(sg_test_now_ms(), deadline, "%s does not run",
		    name);
		usleep(5000);
	}
	close(fd);
}

/* A private namespace with a veth pair of two queues a side, running. */
static void
setup(void)
{
	if (sg_test_netns() == -1)
		cr_skip_test("namespaces not available: %s", strerror(errno));
	int fd = socket(AF_XDP, SOCK_RAW, 0);
	if (fd == -1 && errno == EAFNOSUPPORT)
		cr_skip_test("this kernel has no AF_XDP sockets");
	if (fd != -1)
		close(fd);
	ip("link add sgx0 numtxqueues 2 numrxqueues 2 type veth peer name sgx1");
	ip("link set sgx0 address 02:00:00:00:00:01");
	ip("link set sgx1 address 02:00:00:00:00:02");
	ip("link set sgx0 up");
	ip("link set sgx1 up");
	if0 = (int)if_nametoindex("sgx0");
	if1 = (int)if_nametoindex("sgx1");
	cr_assert(if0 > 0 && if1 > 0);
	wait_running("sgx0");
	wait_running("sgx1");
}

/* A sender (net_tx) replying through AF_XDP sockets on this queue. */
static void
sender_open(struct sg_tx *tx, unsigned queue)
{
	char err[256];

	cr_assert_eq(net_tx_open(tx, err, sizeof(err)), 0, "%s", err);
	net_tx_xdp(tx, true, queue);
}

/* A packet socket that reads whole frames arriving on sgx1. */
static int
peer_socket(void)
{
	struct sockaddr_ll sll;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));

	cr_assert_neq(fd, -1, "%s", strerror(errno));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = if1;
	cr_assert_eq(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

/* The next TCP frame on the peer (the interface may send others: IPv6
 * router solicitations), waiting up to 2 s; its length, or -1. */
static int
peer_read(int fd, uint8_t *buf, size_t len)
{
	int64_t deadline = sg_test_now_ms() + 2000;

	while (sg_test_now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n = recv(fd, buf, len, 0);
		if (n >= 14 + 20 && ((buf[12] == 0x08 && buf[13] == 0 &&
		    buf[14 + 9] == IPPROTO_TCP) || (buf[12] == 0x86 &&
		    buf[13] == 0xdd && buf[14 + 6] == IPPROTO_TCP)))
			return (int)n;
		if (n == -1)
			poll(&pfd, 1, 50);
	}
	return -1;
}

/* A SYN-ACK from 198.18.0.1 (or 2001:2::1) to the given port. */
static size_t
synack(int family, uint16_t dport, uint8_t *pkt, size_t len)
{
	struct sg_test_seg s;

	memset(&s, 0, sizeof(s));
	s.family = family;
	if (family == AF_INET) {
		memcpy(s.src, (uint8_t[]){ 198, 18, 0, 1 }, 4);
		memcpy(s.dst, (uint8_t[]){ 198, 18, 0, 2 }, 4);
	} else {
		memcpy(s.src, (uint8_t[]){ 0x20, 1, 0, 2, [15] = 1 }, 16);
		memcpy(s.dst, (uint8_t[]){ 0x20, 1, 0, 2, [15] = 2 }, 16);
	}
	s.sport = 8080;
	s.dport = dport;
	s.seq = 0x01020304;
	s.ack = 0x0a0b0c0d;
	s.flags = SG_TCP_SYN | SG_TCP_ACK;
	s.window = 65535;
	s.optflags = SG_OPT_MSS | SG_OPT_SACKOK;
	s.mss = 1460;
	return sg_test_build(&s, pkt, len);
}

/* A hop to sgx1's address out of ifindex. */
static struct sg_hop
hop(int ifindex)
{
	struct sg_hop h;

	memset(&h, 0, sizeof(h));
	h.ifindex = ifindex;
	h.halen = 6;
	memcpy(h.lladdr, mac1, 6);
	return h;
}

/* Read one frame on the peer and check it is pkt behind an Ethernet
 * header from sgx0 to sgx1. */
static void
expect_frame(int fd, const uint8_t *pkt, size_t len)
{
	uint8_t buf[2048];
	int n = peer_read(fd, buf, sizeof(buf));

	cr_assert_eq(n, (int)(14 + len), "frame of %d bytes, want %zu", n,
	    14 + len);
	cr_assert_arr_eq(buf, mac1, 6);
	cr_assert_arr_eq(buf + 6, mac0, 6);
	cr_assert_eq(buf[12], (pkt[0] >> 4) == 4 ? 0x08 : 0x86);
	cr_assert_eq(buf[13], (pkt[0] >> 4) == 4 ? 0x00 : 0xdd);
	cr_assert_arr_eq(buf + 14, pkt, len);
}

Test(xsk, sends_frames_the_peer_reads_byte_for_byte)
{
	uint8_t p4[128], p6[128];
	struct sg_xsk x;
	int fd;

	setup();
	fd = peer_socket();
	cr_assert_eq(xsk_open(&x, if0, 0), 0, "%s", strerror(errno));
	cr_assert_arr_eq(x.mac, mac0, 6);
	size_t l4 = synack(AF_INET, 40000, p4, sizeof(p4));
	size_t l6 = synack(AF_INET6, 40001, p6, sizeof(p6));
	const uint8_t *pkts[] = { p4, p6, p4 };
	const size_t lens[] = { l4, l6, l4 };
	const struct sg_hop hops[] = { hop(if0), hop(if0), hop(if0) };
	cr_assert_eq(xsk_send(&x, pkts, lens, hops, 3), 3);
	cr_assert(!x.broken);
	expect_frame(fd, p4, l4);
	expect_frame(fd, p6, l6);
	expect_frame(fd, p4, l4);
	xsk_close(&x);
	cr_assert_eq(x.fd, -1);
	close(fd);
}

Test(xsk, refuses_loopback_missing_queues_and_busy_ones)
{
	struct sg_xsk x, y;

	setup();
	cr_assert_eq(xsk_open(&x, (int)if_nametoindex("lo"), 0), -1);
	cr_assert_eq(errno, ENOTSUP);
	cr_assert_eq(x.fd, -1);
	cr_assert_eq(xsk_open(&x, if0, 2), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(xsk_open(&x, 999999, 0), -1);
	cr_assert_eq(xsk_open(&x, if0, 1), 0, "%s", strerror(errno));
	cr_assert_eq(xsk_open(&y, if0, 1), -1);
	cr_assert_eq(errno, EBUSY);
	cr_assert_eq(y.fd, -1);
	xsk_close(&x);
}

Test(xsk, stops_before_a_packet_that_cannot_go_this_way)
{
	static uint8_t big[XSK_MAX_PACKET + 1];
	uint8_t p4[128], junk[64] = { 0x50 };
	struct sg_xsk x;
	struct sg_hop nohw = hop(if0);
	int fd;

	setup();
	fd = peer_socket();
	cr_assert_eq(xsk_open(&x, if0, 0), 0, "%s", strerror(errno));
	size_t l4 = synack(AF_INET, 40000, p4, sizeof(p4));
	memcpy(big, p4, l4);
	nohw.halen = 0;
	{
		const uint8_t *pkts[] = { p4, junk, p4 };
		const size_t lens[] = { l4, sizeof(junk), l4 };
		const struct sg_hop hops[] = { hop(if0), hop(if0), hop(if0) };
		cr_assert_eq(xsk_send(&x, pkts, lens, hops, 3), 1);
	}
	{
		const uint8_t *pkts[] = { p4 };
		const size_t lens[] = { l4 };
		cr_assert_eq(xsk_send(&x, pkts, lens, &nohw, 1), 0);
	}
	{
		const uint8_t *pkts[] = { big };
		const size_t lens[] = { sizeof(big) };
		const struct sg_hop hops[] = { hop(if0) };
		cr_assert_eq(xsk_send(&x, pkts, lens, hops, 1), 0);
		cr_assert_eq(xsk_send(&x, pkts, lens, hops, 0), 0);
	}
	expect_frame(fd, p4, l4);
	cr_assert(!x.broken);
	xsk_close(&x);
	close(fd);
}

/* Four times as many packets as the region has chunks: each chunk goes
 * back to the socket once the kernel has sent its frame, and every frame
 * arrives. */
Test(xsk, chunks_come_back_and_every_frame_arrives)
{
	enum { TOTAL = 4 * XSK_FRAMES, BATCH = 64 };
	uint8_t pkt[BATCH][128], buf[2048];
	const uint8_t *pkts[BATCH];
	size_t lens[BATCH];
	struct sg_hop hops[BATCH];
	struct sg_xsk x;
	unsigned sent = 0, got = 0, seen[TOTAL] = { 0 };
	int fd;

	setup();
	fd = peer_socket();
	cr_assert_eq(xsk_open(&x, if0, 0), 0, "%s", strerror(errno));
	int64_t deadline = sg_test_now_ms() + 10000;
	while (sent < TOTAL && sg_test_now_ms() < deadline) {
		for (unsigned i = 0; i < BATCH; i++) {
			lens[i] = synack(AF_INET, (uint16_t)(10000 + sent + i),
			    pkt[i], sizeof(pkt[i]));
			pkts[i] = pkt[i];
			hops[i] = hop(if0);
		}
		unsigned n = TOTAL - sent < BATCH ? TOTAL - sent : BATCH;
		int k = xsk_send(&x, pkts, lens, hops, n);
		cr_assert_geq(k, 0);
		cr_assert(!x.broken);
		sent += (unsigned)k;
		/* Read what arrived, so the peer's socket never fills. */
		ssize_t r;
		while ((r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
			if (r >= 14 + 40 && buf[12] == 0x08 &&
			    buf[14 + 9] == IPPROTO_TCP) {
				unsigned port = ((unsigned)buf[36] << 8 |
				    buf[37]) - 10000;
				cr_assert_lt(port, TOTAL);
				cr_assert_eq(seen[port]++, 0, "port %u twice",
				    port);
				got++;
			}
		}
	}
	cr_assert_eq(sent, TOTAL, "only %u of %d sent", sent, TOTAL);
	while (got < TOTAL) {
		int n = peer_read(fd, buf, sizeof(buf));
		cr_assert_gt(n, 0, "%u of %d frames arrived", got, TOTAL);
		unsigned port = ((unsigned)buf[36] << 8 | buf[37]) - 10000;
		cr_assert_lt(port, TOTAL);
		cr_assert_eq(seen[port]++, 0, "port %u twice", port);
		got++;
	}
	xsk_close(&x);
	close(fd);
}

/* The sender: AF_XDP for an Ethernet hop when on, AF_PACKET for loopback
 * and when off, and AF_PACKET again when the interface went down. */
Test(xsk, sender_uses_xdp_where_it_can_and_falls_back)
{
	uint8_t p4[128], p6[128];
	char err[256];
	struct sg_tx tx;
	int fd;

	setup();
	fd = peer_socket();
	cr_assert_eq(net_tx_open(&tx, err, sizeof(err)), 0, "%s", err);
	size_t l4 = synack(AF_INET, 40000, p4, sizeof(p4));
	size_t l6 = synack(AF_INET6, 40001, p6, sizeof(p6));
	const uint8_t *pkts[] = { p4, p6 };
	const size_t lens[] = { l4, l6 };
	const struct sg_hop hops[] = { hop(if0), hop(if0) };

	/* Off (as opened): AF_PACKET, the same frames. */
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 2), 2);
	cr_assert_eq(tx.xdp_sent, 0);
	cr_assert_eq(tx.xdp_missed, 0, "off is not a miss");
	expect_frame(fd, p4, l4);
	expect_frame(fd, p6, l6);

	net_tx_xdp(&tx, true, 1);
	cr_assert_eq(tx.xdp_bytes, 0);
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 2), 2);
	cr_assert_eq(tx.xdp_sent, 2);
	cr_assert_eq(tx.xdp_err_ifindex, 0);
	cr_assert_eq(tx.xdp_bytes, XSK_FRAMES * XSK_CHUNK);
	expect_frame(fd, p4, l4);
	expect_frame(fd, p6, l6);

	/* Loopback is not Ethernet: sent all the same, and said once. */
	struct sg_hop lo = { .ifindex = (int)if_nametoindex("lo"),
		.halen = 6 };
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens,
	    (const struct sg_hop[]){ lo, lo }, 2), 2);
	cr_assert_eq(tx.xdp_sent, 2);
	cr_assert_eq(tx.xdp_missed, 2);
	cr_assert_eq(tx.xdp_err, ENOTSUP);
	cr_assert_eq(tx.xdp_err_ifindex, lo.ifindex);

	/* Loopback first, then sgx0, in one batch: AF_PACKET takes only the
	 * loopback run; the sgx0 run goes through AF_XDP in the next call. */
	tx.xdp_err_ifindex = 0;
	const struct sg_hop mixed[] = { lo, hop(if0) };
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, mixed, 2), 1);
	cr_assert_eq(tx.xdp_missed, 3);
	cr_assert_eq(tx.xdp_err_ifindex, 0, "loopback's reason said twice");
	cr_assert_eq(net_tx_send_hops(&tx, pkts + 1, lens + 1, mixed + 1, 1), 1);
	cr_assert_eq(tx.xdp_sent, 3);
	cr_assert_eq(tx.xdp_missed, 3);
	expect_frame(fd, p6, l6);

	/* A queue the interface does not have. */
	net_tx_xdp(&tx, true, 7);
	tx.xdp_err_ifindex = 0;
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 2), 2);
	cr_assert_eq(tx.xdp_sent, 3);
	cr_assert_eq(tx.xdp_err, EINVAL);
	cr_assert_eq(tx.xdp_err_ifindex, if0);
	expect_frame(fd, p4, l4);
	expect_frame(fd, p6, l6);
	/* Tried again (its time made to have come): the same reason is not
	 * said twice. */
	tx.xdp_err_ifindex = 0;
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		if (tx.xsk[i].retry_ms != 0)
			tx.xsk[i].retry_ms = 1;
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 2), 2);
	cr_assert_eq(tx.xdp_sent, 3);
	cr_assert_eq(tx.xdp_err_ifindex, 0);
	unsigned failed = 0;
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		failed += tx.xsk[i].retry_ms > 1;
	cr_assert_eq(failed, 1, "sgx0 waits to be tried again");
	expect_frame(fd, p4, l4);
	expect_frame(fd, p6, l6);

	/* Back to queue 0 (which the socket closed a moment ago may still
	 * hold: busy, quietly, meanwhile), then the interface goes down: the
	 * socket is closed and the sender says why; AF_PACKET reports the
	 * error. */
	int64_t deadline = sg_test_now_ms() + 3000;
	do {
		net_tx_xdp(&tx, true, 0);
		tx.xdp_err_ifindex = 0;
		cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 1), 1);
		expect_frame(fd, p4, l4);
		cr_assert_eq(tx.xdp_err_ifindex, 0);
		if (tx.xdp_sent == 3)
			usleep(10000);
	} while (tx.xdp_sent == 3 && sg_test_now_ms() < deadline);
	cr_assert_eq(tx.xdp_sent, 4);
	ip("link set sgx0 down");
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 2), -1);
	cr_assert_eq(errno, ENETDOWN, "%s", strerror(errno));
	cr_assert_eq(tx.xdp_sent, 4);
	cr_assert_eq(tx.xdp_err_ifindex, if0);
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		cr_assert_eq(tx.xsk[i].x.fd, -1);

	/* Up again: the queue is the closed socket's for a moment (the
	 * kernel lets it go later), then a new one has it. */
	ip("link set sgx0 up");
	deadline = sg_test_now_ms() + 3000;
	while (tx.xdp_sent == 4 && sg_test_now_ms() < deadline) {
		net_tx_xdp(&tx, true, 0);
		cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 2), 2);
		if (tx.xdp_sent == 4) {
			bool busy = false;
			for (unsigned i = 0; i < NET_TX_XSK; i++)
				busy |= tx.xsk[i].busy;
			cr_assert(busy, "not through AF_XDP, nor for a busy "
			    "queue");
			usleep(10000);
		}
	}
	cr_assert_eq(tx.xdp_sent, 6);

	wait_running("sgx0");

	/* Off closes every socket. */
	net_tx_xdp(&tx, false, 0);
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		cr_assert_eq(tx.xsk[i].x.fd, -1);
	cr_assert_eq(tx.xdp_bytes, 0);
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 2), 2);
	cr_assert_eq(tx.xdp_sent, 6);
	net_tx_close(&tx);
	close(fd);
}

/* bind() takes any queue below the number of receive queues; one with no
 * sending side sends nothing, and says so with no error: the socket is
 * given up, and the sender answers through AF_PACKET. */
Test(xsk, a_queue_with_no_sending_side_is_given_up)
{
	uint8_t p4[128], buf[2048];
	struct sg_xsk x;
	struct sg_tx tx;
	int fd;

	setup();
	ip("link add sgx2 numtxqueues 1 numrxqueues 2 type veth peer name sgx3");
	ip("link set sgx2 up");
	ip("link set sgx3 up");
	wait_running("sgx2");
	wait_running("sgx3");
	int if2 = (int)if_nametoindex("sgx2");
	size_t l4 = synack(AF_INET, 40000, p4, sizeof(p4));
	const uint8_t *pkts[] = { p4 };
	const size_t lens[] = { l4 };
	const struct sg_hop hops[] = { hop(if2) };

	cr_assert_eq(xsk_open(&x, if2, 1), 0, "%s", strerror(errno));
	cr_assert_eq(xsk_send(&x, pkts, lens, hops, 1), 0);
	cr_assert(x.broken);
	cr_assert_eq(x.error, EINVAL);
	cr_assert_eq(xsk_unsent(&x), 0, "the frame is handed back, not lost");
	xsk_close(&x);

	/* The sender, on queue 1 of sgx2: AF_PACKET takes it. */
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex("sgx3") };
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
	cr_assert_neq(fd, -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	sender_open(&tx, 1);
	int64_t deadline = sg_test_now_ms() + 3000;
	/* (the queue may still be held a moment by the socket closed above) */
	while (tx.xdp_err != EINVAL && sg_test_now_ms() < deadline) {
		net_tx_xdp(&tx, true, 1);
		cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 1), 1);
		usleep(10000);
	}
	cr_assert_eq(tx.xdp_err, EINVAL, "%s", strerror(tx.xdp_err));
	cr_assert_eq(tx.xdp_err_ifindex, if2);
	cr_assert_eq(tx.xdp_lost, 0, "its frame went through AF_PACKET");
	cr_assert_geq(tx.xdp_missed, 1);
	int n = peer_read(fd, buf, sizeof(buf));
	cr_assert_eq(n, (int)(14 + l4));
	cr_assert_arr_eq(buf + 14, p4, l4);

	/* Tried again (its time made to have come, here at once): it opens
	 * (once the kernel lets the queue go: busy meanwhile, quietly),
	 * fails the same way, and that is not said twice. */
	tx.xdp_err_ifindex = 0;
	deadline = sg_test_now_ms() + 3000;
	unsigned slot = NET_TX_XSK;
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		if (tx.xsk[i].retry_ms != 0)
			slot = i;
	cr_assert_lt(slot, NET_TX_XSK);
	do {
		uint64_t missed = tx.xdp_missed;
		tx.xsk[slot].busy = false; /* each try the first */
		tx.xsk[slot].retry_ms = 1;
		cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 1), 1);
		cr_assert_eq(tx.xdp_missed, missed + 1);
		cr_assert_eq(tx.xdp_err_ifindex, 0,
		    "said: %s", strerror(tx.xdp_err));
		usleep(10000);
	} while (tx.xsk[slot].busy && sg_test_now_ms() < deadline);
	cr_assert(!tx.xsk[slot].busy, "the queue stayed busy");
	cr_assert_eq(tx.xsk[slot].err, EINVAL);
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		cr_assert(tx.xsk[i].x.fd == -1 && (tx.xsk[i].retry_ms == 0 ||
		    tx.xsk[i].retry_ms > 1), "slot %u", i);
	net_tx_close(&tx);
	close(fd);
}

/* The interface's address changes: the next refresh puts the new one in
 * the frames. */
Test(xsk, refresh_follows_a_new_interface_address)
{
	static const uint8_t mac9[6] = { 2, 0, 0, 0, 0, 9 };
	uint8_t p4[128], buf[2048];
	struct sg_tx tx;
	int fd;

	setup();
	fd = peer_socket();
	sender_open(&tx, 0);
	size_t l4 = synack(AF_INET, 40000, p4, sizeof(p4));
	const uint8_t *pkts[] = { p4 };
	const size_t lens[] = { l4 };
	const struct sg_hop hops[] = { hop(if0) };
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 1), 1);
	expect_frame(fd, p4, l4);
	ip("link set sgx0 address 02:00:00:00:00:09");
	net_tx_refresh(&tx);
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 1), 1);
	cr_assert_eq(tx.xdp_sent, 2);
	int n = peer_read(fd, buf, sizeof(buf));
	cr_assert_eq(n, (int)(14 + l4));
	cr_assert_arr_eq(buf + 6, mac9, 6);
	/* Gone: the socket closes at the next refresh. */
	ip("link del sgx0");
	net_tx_refresh(&tx);
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		cr_assert_eq(tx.xsk[i].x.fd, -1);
	cr_assert_eq(tx.xdp_err_ifindex, if0);
	net_tx_close(&tx);
	close(fd);
}

/* Another AF_XDP socket holds the queue: the first busy is taken for our
 * own socket's a moment ago and retried in a second, quietly; busy again
 * is said once and retried a minute later; and not said again. */
Test(xsk, a_queue_someone_else_holds_is_said_once)
{
	uint8_t p4[128];
	struct sg_xsk other;
	struct sg_tx tx;
	int fd;

	setup();
	fd = peer_socket();
	cr_assert_eq(xsk_open(&other, if0, 1), 0, "%s", strerror(errno));
	sender_open(&tx, 1);
	size_t l4 = synack(AF_INET, 40000, p4, sizeof(p4));
	const uint8_t *pkts[] = { p4 };
	const size_t lens[] = { l4 };
	const struct sg_hop hops[] = { hop(if0) };

	for (int round = 0; round < 3; round++) {
		if (round > 0)
			for (unsigned i = 0; i < NET_TX_XSK; i++)
				if (tx.xsk[i].retry_ms != 0)
					tx.xsk[i].retry_ms = 1;
		uint64_t t0 = (uint64_t)sg_test_now_ms();
		tx.xdp_err_ifindex = 0;
		cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 1), 1);
		expect_frame(fd, p4, l4);
		cr_assert_eq(tx.xdp_sent, 0);
		cr_assert_eq(tx.xdp_missed, (uint64_t)round + 1);
		unsigned slot = NET_TX_XSK;
		for (unsigned i = 0; i < NET_TX_XSK; i++)
			if (tx.xsk[i].retry_ms != 0)
				slot = i;
		cr_assert_lt(slot, NET_TX_XSK);
		uint64_t wait = tx.xsk[slot].retry_ms - t0;
		if (round == 0) {
			cr_assert_eq(tx.xdp_err_ifindex, 0, "first busy said");
			cr_assert_leq(wait, NET_TX_XSK_BUSY_MS + 100);
		} else {
			cr_assert_eq(tx.xdp_err_ifindex, round == 1 ? if0 : 0);
			if (round == 1)
				cr_assert_eq(tx.xdp_err, EBUSY);
			cr_assert_geq(wait, NET_TX_XSK_RETRY_MS - 100);
		}
	}
	xsk_close(&other);
	net_tx_close(&tx);
	close(fd);
}

/* One packet AF_XDP cannot take (a hop address that is not 6 bytes) goes
 * through AF_PACKET alone; the rest of its run still goes through AF_XDP. */
Test(xsk, only_the_packet_that_cannot_go_takes_the_other_way)
{
	uint8_t p4[128];
	struct sg_tx tx;
	int fd;

	setup();
	fd = peer_socket();
	sender_open(&tx, 0);
	size_t l4 = synack(AF_INET, 40000, p4, sizeof(p4));
	struct sg_hop odd = hop(if0);
	odd.halen = 8;
	const uint8_t *pkts[] = { p4, p4, p4 };
	const size_t lens[] = { l4, l4, l4 };
	const struct sg_hop hops[] = { odd, hop(if0), hop(if0) };
	cr_assert_eq(net_tx_send_hops(&tx, pkts, lens, hops, 3), 1);
	cr_assert_eq(tx.xdp_missed, 1);
	cr_assert_eq(tx.xdp_sent, 0);
	cr_assert_eq(net_tx_send_hops(&tx, pkts + 1, lens + 1, hops + 1, 2), 2);
	cr_assert_eq(tx.xdp_sent, 2);
	cr_assert_eq(tx.xdp_missed, 1);
	for (int i = 0; i < 3; i++)
		expect_frame(fd, p4, l4);
	net_tx_close(&tx);
	close(fd);
}
