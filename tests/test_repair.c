/*
 * test_repair.c -- materializing handshakes into kernel sockets, against
 * real kernel TCP clients, each test in its own network namespace.
 *
 * The handshake is driven by hand as synguard drives it: the client's SYN is
 * read from the packet tap, a SYN-ACK written here goes out of the raw
 * socket, the client's ACK is read from the tap, then repair_materialize.
 */
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/tcp.h>
#include <netinet/in.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "net.h"
#include "netns.h"
#include "repair.h"

#define PORT 8080
#define OUR_ISN 0xfffffff0u /* wraps a few bytes in: u32 arithmetic */
#define OUR_MSS 1400
#define OUR_WSCALE 7
#define OUR_WINDOW 65535

static const uint8_t lo4[16] = { 127, 0, 0, 1 };
static const uint8_t lo6[16] = { [15] = 1 };

/* Enter a private namespace, or skip the test where that is not allowed. */
static void
enter_netns(void)
{
	if (sg_test_netns() == -1)
		cr_skip_test("user/network namespaces not available: %s",
		    strerror(errno));
}

/* Wait (up to ms) for a tap frame from or to `port` with the given flags
 * set and, if want_data, carrying payload; its bytes are kept in buf. */
static int
tap_wait(struct sg_tap *tap, uint16_t sport, uint16_t dport, uint8_t flags,
    int want_data, struct sg_test_seg *seg, uint8_t *buf, int ms)
{
	int64_t deadline = sg_test_now_ms() + ms;
	struct sg_frame f;
	struct pollfd pfd = { .fd = tap->fd, .events = POLLIN };

	while (sg_test_now_ms() < deadline) {
		poll(&pfd, 1, (int)(deadline - sg_test_now_ms()));
		f.data = buf;
		while (net_tap_read(tap, &f, 1, 65536) == 1) {
			if (sg_test_parse(f.data, f.len, seg) == -1)
				continue;
			if ((sport && seg->sport != sport) ||
			    (dport && seg->dport != dport))
				continue;
			if ((seg->flags & flags) != flags)
				continue;
			if (want_data && seg->payload_len == 0)
				continue;
			if (!want_data && seg->payload_len != 0)
				continue;
			return 0;
		}
	}
	return -1;
}

/* A client connection driven through the handshake by hand. */
struct hs {
	int family;
	int shadow, client, fd;
	struct sg_tap tap;
	struct sg_tx tx;
	uint16_t cport;
	uint32_t client_isn;
	uint32_t ts0; /* our SYN-ACK's TSval */
	struct sg_test_seg syn, ack;
	struct sg_conn_params p;
	uint8_t synbuf[65536], ackbuf[65536];
};

/* Open the shadow listener, tap and raw socket, and start the client's
 * non-blocking connect. */
static void
hs_start(struct hs *h, int family)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char err[256];
	uint16_t port = PORT;
	const uint8_t *addr = family == AF_INET ? lo4 : lo6;
	int on = 1;

	memset(h, 0, sizeof(*h));
	h->family = family;
	enter_netns();
	/*
	 * No tail loss probes in this namespace. With many segments in flight
	 * one fires after 2 ms without an ACK, and on a loaded machine
	 * loopback's ACKs can wait that long for their softirq (1 run in 25
	 * under two busy loops): a retransmission that the tests below, which
	 * count none, would blame on the socket. What they look for, wrong
	 * windows or timestamps, shows as retransmissions on the timer or
	 * after duplicate ACKs, which stay on.
	 */
	if (sg_test_sysctl("net/ipv4/tcp_early_retrans", "0") == -1)
		/* Kernels before 4.15 keep it global: not ours to change,
		 * and the tests run as they are. */
		cr_assert_eq(errno, ENOENT, "tcp_early_retrans: %s",
		    strerror(errno));
	h->shadow = net_shadow_open(family, addr, PORT, err, sizeof(err));
	cr_assert_geq(h->shadow, 0, "%s", err);
	cr_assert_eq(net_tap_open(&h->tap, &port, 1, -1, 1, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(net_tx_open(&h->tx, err, sizeof(err)), 0, "%s", err);

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(PORT);
		memcpy(&sin->sin_addr, lo4, 4);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(PORT);
		memcpy(&sin6->sin6_addr, lo6, 16);
		sslen = sizeof(*sin6);
	}
	h->client = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	cr_assert_geq(h->client, 0);
	setsockopt(h->client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	cr_assert_eq(connect(h->client, (struct sockaddr *)&ss, sslen), -1);
	cr_assert_eq(errno, EINPROGRESS);
}

/* Read the SYN, answer it with our SYN-ACK and read the client's ACK. */
static void
hs_answer(struct hs *h)
{
	struct sg_test_seg sa;
	uint8_t pkt[128];
	size_t len;
	struct pollfd pfd = { .fd = h->client, .events = POLLOUT };
	int soerr = -1;
	socklen_t sl = sizeof(soerr);

	cr_assert_eq(tap_wait(&h->tap, 0, PORT, SG_TCP_SYN, 0, &h->syn,
	    h->synbuf, 2000), 0, "no SYN on the tap");
	cr_assert_eq(h->syn.flags & SG_TCP_ACK, 0);
	h->cport = h->syn.sport;
	h->client_isn = h->syn.seq;
	/* Far from the kernel's own clock: if the repaired socket did not
	 * continue it, the client's PAWS check would drop its segments. */
	h->ts0 = (uint32_t)sg_test_now_ms() + 0x10000000u;

	memset(&sa, 0, sizeof(sa));
	sa.family = h->family;
	memcpy(sa.src, h->syn.dst, 16);
	memcpy(sa.dst, h->syn.src, 16);
	sa.sport = PORT;
	sa.dport = h->cport;
	sa.seq = OUR_ISN;
	sa.ack = h->client_isn + 1;
	sa.flags = SG_TCP_SYN | SG_TCP_ACK;
	sa.window = OUR_WINDOW;
	sa.optflags = SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS;
	sa.mss = OUR_MSS;
	sa.wscale = OUR_WSCALE;
	sa.tsval = h->ts0;
	sa.tsecr = h->syn.tsval;
	len = sg_test_build(&sa, pkt, sizeof(pkt));
	cr_assert_gt(len, 0);
	cr_assert_eq(net_tx_send(&h->tx, pkt, len), 0, "tx: %s",
	    strerror(errno));

	cr_assert_eq(tap_wait(&h->tap, h->cport, PORT, SG_TCP_ACK, 0, &h->ack,
	    h->ackbuf, 2000), 0, "no ACK from the client");
	cr_assert_eq(h->ack.seq, h->client_isn + 1);
	cr_assert_eq(h->ack.ack, OUR_ISN + 1);
	cr_assert_eq(poll(&pfd, 1, 2000), 1);
	getsockopt(h->client, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	cr_assert_eq(soerr, 0, "client connect: %s", strerror(soerr));
}

/* Fill the materialization parameters from the handshake, with the given
 * completing segment (the ACK, or a data segment). */
static void
hs_params(struct hs *h, const struct sg_test_seg *done)
{
	struct sg_conn_params *p = &h->p;

	memset(p, 0, sizeof(*p));
	if (h->family == AF_INET)
		tuple_init_v4(&p->tuple, h->syn.src, h->cport, h->syn.dst, PORT);
	else
		tuple_init_v6(&p->tuple, h->syn.src, h->cport, h->syn.dst, PORT);
	p->client_isn = h->client_isn;
	p->our_isn = OUR_ISN;
	p->optflags = h->syn.optflags &
	    (SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS);
	p->peer_wscale = h->syn.wscale;
	p->our_wscale = OUR_WSCALE;
	p->peer_mss = (h->syn.optflags & SG_OPT_MSS) ? h->syn.mss : 536;
	p->our_mss = OUR_MSS;
	p->peer_window = done->window;
	p->our_window = OUR_WINDOW;
	p->ts_recent = done->tsval;
	p->ts_next = h->ts0 + 1;
	p->data = done->payload;
	p->data_len = done->payload_len;
}

/* The whole handshake, then materialize. */
static void
hs_materialize(struct hs *h, int family)
{
	hs_start(h, family);
	hs_answer(h);
	hs_params(h, &h->ack);
	h->fd = repair_materialize(&h->p);
	cr_assert_geq(h->fd, 0, "materialize: %s", strerror(errno));
}

/* Move n bytes from one socket to the other in both directions at once,
 * with a deadline; checks the bytes. Returns 0 when all arrived. */
static int
pump(int a, int b, size_t n)
{
	static uint8_t out[1 << 20], in_a[1 << 20], in_b[1 << 20];
	size_t sent_a = 0, sent_b = 0, got_a = 0, got_b = 0, i;
	int64_t deadline = sg_test_now_ms() + 10000;
	ssize_t r;

	cr_assert_leq(n, sizeof(out));
	for (i = 0; i < n; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	while (got_a < n || got_b < n) {
		struct pollfd pfd[2] = {
			{ .fd = a, .events = POLLIN | (sent_a < n ? POLLOUT : 0) },
			{ .fd = b, .events = POLLIN | (sent_b < n ? POLLOUT : 0) },
		};

		if (sg_test_now_ms() > deadline)
			return -1;
		poll(pfd, 2, 100);
		if (sent_a < n && (r = write(a, out + sent_a, n - sent_a)) > 0)
			sent_a += (size_t)r;
		if (sent_b < n && (r = write(b, out + sent_b, n - sent_b)) > 0)
			sent_b += (size_t)r;
		if (got_a < n && (r = read(a, in_a + got_a, n - got_a)) >= 0) {
			if (r == 0)
				return -1; /* EOF before all the bytes */
			got_a += (size_t)r;
		}
		if (got_b < n && (r = read(b, in_b + got_b, n - got_b)) >= 0) {
			if (r == 0)
				return -1;
			got_b += (size_t)r;
		}
	}
	cr_assert_arr_eq(in_a, out, n);
	cr_assert_arr_eq(in_b, out, n);
	return 0;
}

/* TCP_INFO of a socket. */
static struct tcp_info
info(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti;
}

/* Read exactly n bytes from a socket within ms. */
static int
read_exact(int fd, uint8_t *buf, size_t n, int ms)
{
	int64_t deadline = sg_test_now_ms() + ms;
	size_t got = 0;
	ssize_t r;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (got < n && sg_test_now_ms() < deadline) {
		poll(&pfd, 1, 50);
		if ((r = read(fd, buf + got, n - got)) > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
	}
	return got == n ? 0 : -1;
}

Test(repair, two_repaired_sockets_talk_to_each_other)
{
	struct sg_conn_params pa, pb;
	uint32_t isn_a = 0x7ffffff0u, isn_b = 0x10u;
	char err[256];
	int a, b, sa, sb;

	enter_netns();
	/* Each side's window probe on leaving repair must not meet a RST
	 * before the other side exists: the shadow listeners drop it. */
	sa = net_shadow_open(AF_INET, lo4, 40001, err, sizeof(err));
	sb = net_shadow_open(AF_INET, lo4, 40002, err, sizeof(err));
	cr_assert(sa >= 0 && sb >= 0, "%s", err);

	memset(&pa, 0, sizeof(pa));
	tuple_init_v4(&pa.tuple, lo4, 40002, lo4, 40001);
	pa.client_isn = isn_b;
	pa.our_isn = isn_a;
	pa.optflags = SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS;
	pa.peer_wscale = pa.our_wscale = 7;
	pa.peer_mss = pa.our_mss = 1460;
	pa.peer_window = pa.our_window = 65535;
	pa.ts_recent = 5000;
	pa.ts_next = 1000;
	pb = pa;
	tuple_init_v4(&pb.tuple, lo4, 40001, lo4, 40002);
	pb.client_isn = isn_a;
	pb.our_isn = isn_b;
	pb.ts_recent = 1000;
	pb.ts_next = 5000;

	a = repair_materialize(&pa);
	cr_assert_geq(a, 0, "a: %s", strerror(errno));
	b = repair_materialize(&pb);
	cr_assert_geq(b, 0, "b: %s", strerror(errno));
	cr_assert_eq(pump(a, b, 256 * 1024), 0, "data did not flow");
	cr_assert_eq(info(a).tcpi_state, 1 /* TCP_ESTABLISHED */);
	cr_assert_eq(info(b).tcpi_state, 1 /* TCP_ESTABLISHED */);
}

Test(repair, kernel_client_talks_to_materialized_socket_with_its_options)
{
	static struct hs h;
	struct tcp_info ci, si;

	hs_materialize(&h, AF_INET);
	cr_assert_eq(pump(h.client, h.fd, 512 * 1024), 0, "data did not flow");

	ci = info(h.client);
	si = info(h.fd);
	cr_assert(ci.tcpi_options & TCPI_OPT_TIMESTAMPS);
	cr_assert(ci.tcpi_options & TCPI_OPT_SACK);
	cr_assert(ci.tcpi_options & TCPI_OPT_WSCALE);
	cr_assert_eq(ci.tcpi_snd_wscale, OUR_WSCALE);
	cr_assert_eq(ci.tcpi_rcv_wscale, h.syn.wscale);
	/* Our MSS less the 12 bytes of timestamp option per segment. */
	cr_assert_eq(ci.tcpi_snd_mss, OUR_MSS - 12);
	cr_assert(si.tcpi_options & TCPI_OPT_TIMESTAMPS);
	cr_assert(si.tcpi_options & TCPI_OPT_SACK);
	cr_assert(si.tcpi_options & TCPI_OPT_WSCALE);
	cr_assert_eq(si.tcpi_snd_wscale, h.syn.wscale);
	cr_assert_eq(si.tcpi_rcv_wscale, OUR_WSCALE);
	cr_assert_leq(si.tcpi_snd_mss, h.syn.mss - 12);
	/* Windows and timestamps were right: nothing had to be resent. */
	cr_assert_eq(ci.tcpi_total_retrans, 0);
	cr_assert_eq(si.tcpi_total_retrans, 0);
}

Test(repair, socket_continues_the_syn_ack_timestamp_clock)
{
	static struct hs h;
	uint32_t ts;
	socklen_t len = sizeof(ts);

	hs_materialize(&h, AF_INET);
	cr_assert_eq(getsockopt(h.fd, IPPROTO_TCP, TCP_TIMESTAMP, &ts, &len),
	    0);
	cr_assert_geq((int32_t)(ts - h.p.ts_next), 0);
	cr_assert_lt((int32_t)(ts - h.p.ts_next), 2000, "TSval %u, wanted about %u", ts,
	    h.p.ts_next);
}

Test(repair, early_data_lands_in_the_socket_and_is_acked_at_once)
{
	static struct hs h;
	static const char early[] = "GET / HTTP/1.0\r\n\r\n";
	struct sg_test_seg data;
	static uint8_t databuf[65536];
	uint8_t got[sizeof(early) - 1];
	struct tcp_info ci;
	int64_t deadline;

	hs_start(&h, AF_INET);
	hs_answer(&h);
	/* The shadow listener drops this segment; it reaches the new socket
	 * only through the receive queue. */
	cr_assert_eq(write(h.client, early, sizeof(early) - 1),
	    (ssize_t)sizeof(early) - 1);
	cr_assert_eq(tap_wait(&h.tap, h.cport, PORT, SG_TCP_ACK, 1, &data,
	    databuf, 2000), 0, "no data segment");
	cr_assert_eq(data.payload_len, sizeof(early) - 1);
	hs_params(&h, &data);
	h.fd = repair_materialize(&h.p);
	cr_assert_geq(h.fd, 0, "materialize: %s", strerror(errno));

	cr_assert_eq(read_exact(h.fd, got, sizeof(got), 2000), 0);
	cr_assert_arr_eq(got, early, sizeof(got));

	/* Well inside the client's minimum RTO (200 ms): an ACK that came
	 * only in reply to a retransmission would miss this. */
	deadline = sg_test_now_ms() + 150;
	do {
		ci = info(h.client);
		if (ci.tcpi_unacked == 0)
			break;
		usleep(1000);
	} while (sg_test_now_ms() < deadline);
	cr_assert_eq(ci.tcpi_unacked, 0, "early data still unacked");
	cr_assert_eq(ci.tcpi_total_retrans, 0);

	/* The connection goes on normally afterwards. */
	cr_assert_eq(pump(h.client, h.fd, 64 * 1024), 0);
}

Test(repair, second_materialization_of_a_tuple_fails)
{
	static struct hs h;
	int again;

	hs_materialize(&h, AF_INET);
	errno = 0;
	again = repair_materialize(&h.p);
	cr_assert_eq(again, -1, "a second socket for the same 4-tuple");
	cr_assert(errno == EADDRNOTAVAIL || errno == EADDRINUSE,
	    "errno %d (%s)", errno, strerror(errno));
	/* The first socket is unharmed. */
	cr_assert_eq(pump(h.client, h.fd, 16 * 1024), 0);
}

Test(repair, ipv6_client_on_loopback)
{
	static struct hs h;
	struct tcp_info ci;

	hs_materialize(&h, AF_INET6);
	cr_assert_eq(pump(h.client, h.fd, 256 * 1024), 0);
	ci = info(h.client);
	cr_assert(ci.tcpi_options & TCPI_OPT_TIMESTAMPS);
	cr_assert_eq(ci.tcpi_snd_wscale, OUR_WSCALE);
	cr_assert_eq(ci.tcpi_total_retrans, 0);
}

Test(repair, options_not_agreed_are_not_installed)
{
	static struct hs h;
	struct tcp_info si;

	hs_start(&h, AF_INET);
	hs_answer(&h);
	hs_params(&h, &h.ack);
	/* As if the SYN had carried no options (hping3-style): only the
	 * socket's side is checked, the client did agree to them. */
	h.p.optflags = 0;
	h.p.peer_mss = 536;
	h.fd = repair_materialize(&h.p);
	cr_assert_geq(h.fd, 0, "materialize: %s", strerror(errno));
	si = info(h.fd);
	cr_assert_eq(si.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK),
	    0);
	cr_assert_eq(si.tcpi_rcv_wscale, 0);
	cr_assert_eq(si.tcpi_snd_wscale, 0);
	cr_assert_leq(si.tcpi_snd_mss, 536);
}

/* A packet socket that sees everything on lo, outgoing included. */
static int
watcher_open(void)
{
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK,
	    htons(ETH_P_ALL));

	cr_assert_geq(fd, 0);
	return fd;
}

/* Whether the watcher sees a segment from `port` within ms. */
static int
watcher_sees_from(int w, uint16_t port, uint8_t *flags, int ms)
{
	static uint8_t buf[65536];
	int64_t deadline = sg_test_now_ms() + ms;
	struct pollfd pfd = { .fd = w, .events = POLLIN };
	struct sg_test_seg s;
	ssize_t r;

	while (sg_test_now_ms() < deadline) {
		poll(&pfd, 1, (int)(deadline - sg_test_now_ms()));
		while ((r = recv(w, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
			if (sg_test_parse(buf, (size_t)r, &s) == 0 &&
			    s.sport == port) {
				*flags = s.flags;
				return 1;
			}
		}
	}
	return 0;
}

Test(repair, shadow_listener_answers_nothing)
{
	static struct hs h;
	uint8_t flags = 0;
	int w;
	struct pollfd pfd;

	hs_start(&h, AF_INET);
	w = watcher_open();
	cr_assert_eq(tap_wait(&h.tap, 0, PORT, SG_TCP_SYN, 0, &h.syn,
	    h.synbuf, 2000), 0);
	/* A negative assertion, bounded: the SYN-ACK or RST would come in
	 * microseconds on lo. */
	cr_assert_eq(watcher_sees_from(w, PORT, &flags, 300), 0,
	    "the kernel answered the SYN (flags %#x)", flags);
	pfd.fd = h.client;
	pfd.events = POLLOUT;
	cr_assert_eq(poll(&pfd, 1, 0), 0, "client connect finished");
}

Test(repair, without_shadow_listener_the_kernel_resets)
{
	int w, c;
	uint8_t flags = 0;
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_port = htons(PORT) };

	enter_netns();
	w = watcher_open();
	memcpy(&sin.sin_addr, lo4, 4);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(c, (struct sockaddr *)&sin, sizeof(sin));
	cr_assert_eq(watcher_sees_from(w, PORT, &flags, 2000), 1);
	cr_assert(flags & SG_TCP_RST);
}
