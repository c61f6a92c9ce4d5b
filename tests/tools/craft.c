/*
 * craft.c -- hand-built TCP segments for the hostile-input tests.
 *
 * Builds COUNT IPv4 or IPv6 TCP segments, each either well formed or broken
 * in one named way (a KIND), sends them from the client host, and captures,
 * for a bounded time, every TCP segment that comes back from the target
 * port. Segments go out through an IPPROTO_RAW socket with the IP header
 * written here, as daemon/net.c sends its own; the few kinds whose IP
 * header the kernel would repair on that path (IPv4 checksum and total
 * length are always recomputed by __ip_local_out, the IPv6 payload length
 * by __ip6_local_out) go out through an AF_PACKET socket on the given
 * interface instead, addressed to the next hop's MAC.
 *
 *   craft [-l] [-n COUNT] [-P SPORT] [-q SEQ] [-a ACK] [-i IFNAME]
 *         [-m MAC] [-w MS [-e REPLIES]] SRC DST PORT KIND
 *
 * Packet i comes from port SPORT + i (default 20000); SEQ and ACK default
 * to random numbers per packet. -l sends every kind through the link.
 * With -w it captures on IFNAME for MS milliseconds after the last send
 * (or until REPLIES replies came), and prints each TCP segment from
 * DST:PORT to one of the ports it sent from:
 *
 *   sent COUNT KIND via raw|link
 *   reply FLAGS sport=P dport=P seq=N ack=N      (flags as tcpdump's)
 *   replies N
 *
 * A test tool, never installed. It sends only to a test address
 * (198.18.0.0/15, 2001:2::/48, RFC 2544 / RFC 5180, or loopback), sends
 * exactly COUNT packets, and captures for at most the time it is given.
 * Checksums are computed here, independently of the daemon's codec, so the
 * daemon is not tested against itself.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../pkt.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36 /* linux/in6.h, Linux >= 4.5 */
#endif

#define PKT_MAX 2048
#define TCP_HDR 20
#define IP4_HDR 20
#define IP6_HDR 40
#define SNIFF_MAX_MS 10000
#define COUNT_MAX 1000

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

/* IPv6 next-header values (RFC 8200 4). */
#define NH_HOPOPTS 0
#define NH_TCP 6
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_DSTOPTS 60

/* How the TCP segment is broken, if at all. */
enum tcp_kind {
	T_SYN,        /* a bare SYN, no options */
	T_SYN_DATA,   /* a SYN carrying 16 bytes of payload */
	T_SYN_FIN,    /* SYN and FIN together */
	T_SYN_RST,    /* SYN and RST together */
	T_ACK,        /* a bare ACK with the given (or random) numbers */
	T_RST,        /* a bare RST with the given (or random) sequence */
	T_BAD_CSUM,   /* a SYN whose TCP checksum is wrong */
	T_SHORT,      /* only the first 10 bytes of a TCP header */
	T_DOFF_SMALL, /* data offset 4: a header shorter than 20 bytes */
	T_DOFF_BIG,   /* data offset 15 in a 20-byte segment */
	T_OPT_LEN0,   /* an MSS option with length 0 */
	T_OPT_LEN1,   /* an MSS option with length 1 */
	T_OPT_PAST,   /* a timestamp option running past the header's end */
};

/* How the IP layer is built or broken. */
enum ip_kind {
	IP_PLAIN,      /* a plain header, DF set */
	IP_BAD_CSUM,   /* IPv4 header checksum wrong */
	IP_TOTLEN,     /* total / payload length 20 bytes past the end */
	IP_SHORT,      /* the datagram cut inside the IP header */
	IP_FRAG_FIRST, /* a first fragment: MF set, offset 0 */
	IP_FRAG_LATER, /* a later fragment: offset 8, MF clear */
	IP_EXT_HBH,    /* IPv6: hop-by-hop options, then TCP */
	IP_EXT_DST,    /* IPv6: destination options, then TCP */
	IP_EXT_RH0,    /* IPv6: routing header, segments left 0 */
	IP_EXT_RH_LEFT, /* IPv6: routing header, segments left 1 */
	IP_EXT_CHAIN,  /* IPv6: hop-by-hop, dst opts, routing, dst opts */
	IP_EXT_HBH_LATE, /* IPv6: hop-by-hop after destination options */
	IP_EXT_LONG,   /* IPv6: nine destination options headers */
	IP_EXT_TRUNC,  /* IPv6: an extension header running past the end */
};

/* Which family a kind is defined for. */
#define FAM_4 1
#define FAM_6 2
#define FAM_ANY (FAM_4 | FAM_6)

struct kind {
	const char *name;
	enum tcp_kind tcp;
	enum ip_kind ip;
	int families;
	int link; /* the kernel would repair it on the raw path */
};

static const struct kind kinds[] = {
	{"syn", T_SYN, IP_PLAIN, FAM_ANY, 0},
	{"syn-data", T_SYN_DATA, IP_PLAIN, FAM_ANY, 0},
	{"syn-fin", T_SYN_FIN, IP_PLAIN, FAM_ANY, 0},
	{"syn-rst", T_SYN_RST, IP_PLAIN, FAM_ANY, 0},
	{"ack", T_ACK, IP_PLAIN, FAM_ANY, 0},
	{"rst", T_RST, IP_PLAIN, FAM_ANY, 0},
	{"tcp-csum", T_BAD_CSUM, IP_PLAIN, FAM_ANY, 0},
	{"tcp-short", T_SHORT, IP_PLAIN, FAM_ANY, 0},
	{"doff-small", T_DOFF_SMALL, IP_PLAIN, FAM_ANY, 0},
	{"doff-big", T_DOFF_BIG, IP_PLAIN, FAM_ANY, 0},
	{"opt-len0", T_OPT_LEN0, IP_PLAIN, FAM_ANY, 0},
	{"opt-len1", T_OPT_LEN1, IP_PLAIN, FAM_ANY, 0},
	{"opt-past", T_OPT_PAST, IP_PLAIN, FAM_ANY, 0},
	{"ip-csum", T_SYN, IP_BAD_CSUM, FAM_4, 1},
	{"ip-totlen", T_SYN, IP_TOTLEN, FAM_ANY, 1},
	{"ip-short", T_SYN, IP_SHORT, FAM_ANY, 1},
	{"frag-first", T_SYN, IP_FRAG_FIRST, FAM_ANY, 0},
	{"frag-later", T_SYN, IP_FRAG_LATER, FAM_ANY, 0},
	{"ext-hbh", T_SYN, IP_EXT_HBH, FAM_6, 0},
	{"ext-dst", T_SYN, IP_EXT_DST, FAM_6, 0},
	{"ext-rh0", T_SYN, IP_EXT_RH0, FAM_6, 0},
	{"ext-rh-left", T_SYN, IP_EXT_RH_LEFT, FAM_6, 0},
	{"ext-chain", T_SYN, IP_EXT_CHAIN, FAM_6, 0},
	{"ext-hbh-late", T_SYN, IP_EXT_HBH_LATE, FAM_6, 0},
	{"ext-long", T_SYN, IP_EXT_LONG, FAM_6, 0},
	{"ext-trunc", T_SYN, IP_EXT_TRUNC, FAM_6, 0},
};

/* What to send, and where. */
struct job {
	int family;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	const struct kind *kind;
	unsigned count;
	int have_seq, have_ack;
	uint32_t seq, ack;
	int ifindex;
	uint8_t mac[6];
	int have_mac;
	int force_link;
	unsigned wait_ms;
	unsigned enough; /* stop capturing after this many replies; 0: never */
};

/* One packet being built. */
struct pkt {
	uint8_t b[PKT_MAX];
	size_t len;
};

static void usage(void) __attribute__((noreturn));
static void die(const char *, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Print the command line and exit 2. */
static void
usage(void)
{
	size_t i;

	fprintf(stderr,
	    "usage: craft [-l] [-n count] [-P sport] [-q seq] [-a ack]\n"
	    "             [-i ifname] [-m mac] [-w ms [-e replies]]\n"
	    "             SRC DST PORT KIND\n"
	    "kinds:");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		fprintf(stderr, " %s", kinds[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

/* Print a message (and errno's, if set) and exit 1. */
static void
die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "craft: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e != 0)
		fprintf(stderr, ": %s", strerror(e));
	fprintf(stderr, "\n");
	exit(1);
}

/* A random 32-bit number. */
static uint32_t
rnd32(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		die("getrandom");
	return v;
}

/* Milliseconds on the monotonic clock. */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether an address is one a test may aim at: the benchmark ranges
 * (198.18.0.0/15, 2001:2::/48) or loopback. */
static int
dst_allowed(int family, const uint8_t *a)
{
	static const uint8_t bench6[6] = {0x20, 0x01, 0x00, 0x02, 0x00, 0x00};
	static const uint8_t lo6[16] = {[15] = 1};

	if (family == AF_INET)
		return (a[0] == 198 && (a[1] & 0xfe) == 18) || a[0] == 127;
	return memcmp(a, bench6, 6) == 0 || memcmp(a, lo6, 16) == 0;
}

/*
 * Build the TCP segment for the job's kind into t (room for 64 bytes of
 * header and 16 of payload), with its checksum over the pseudo-header.
 * Returns the segment's length as it goes on the wire.
 */
static size_t
build_tcp(const struct job *j, unsigned i, uint8_t *t)
{
	static const uint8_t payload[16] = "hostile payload!";
	uint8_t flags = F_SYN, doff = 5, pseudo[40];
	size_t len, olen = 0, plen = 0;
	uint32_t sum;

	memset(t, 0, 80);
	switch (j->kind->tcp) {
	case T_SYN_DATA:
		plen = sizeof(payload);
		break;
	case T_SYN_FIN:
		flags = F_SYN | F_FIN;
		break;
	case T_SYN_RST:
		flags = F_SYN | F_RST;
		break;
	case T_ACK:
		flags = F_ACK;
		break;
	case T_RST:
		flags = F_RST;
		break;
	case T_DOFF_SMALL:
		doff = 4;
		break;
	case T_DOFF_BIG:
		doff = 15;
		break;
	case T_OPT_LEN0:
	case T_OPT_LEN1:
		/* MSS, kind 2, with a length byte that cannot be. */
		t[TCP_HDR] = 2;
		t[TCP_HDR + 1] = j->kind->tcp == T_OPT_LEN0 ? 0 : 1;
		olen = 4;
		break;
	case T_OPT_PAST:
		/* NOP NOP, then timestamps (length 10) with 2 bytes left. */
		t[TCP_HDR] = 1;
		t[TCP_HDR + 1] = 1;
		t[TCP_HDR + 2] = 8;
		t[TCP_HDR + 3] = 10;
		olen = 4;
		break;
	default:
		break;
	}
	if (olen != 0)
		doff = (uint8_t)(5 + olen / 4);
	memcpy(t + TCP_HDR + olen, payload, plen);
	len = TCP_HDR + olen + plen;

	put16(t, (uint16_t)(j->sport + i));
	put16(t + 2, j->dport);
	put32(t + 4, j->have_seq ? j->seq : rnd32());
	put32(t + 8, (flags & F_ACK) ? (j->have_ack ? j->ack : rnd32()) : 0);
	t[12] = (uint8_t)(doff << 4);
	t[13] = flags;
	put16(t + 14, 64240);

	/* The pseudo-header (RFC 9293 3.1, RFC 8200 8.1), final destination. */
	memset(pseudo, 0, sizeof(pseudo));
	if (j->family == AF_INET) {
		memcpy(pseudo, j->src, 4);
		memcpy(pseudo + 4, j->dst, 4);
		pseudo[9] = NH_TCP;
		put16(pseudo + 10, (uint16_t)len);
		sum = sum_add(0, pseudo, 12);
	} else {
		memcpy(pseudo, j->src, 16);
		memcpy(pseudo + 16, j->dst, 16);
		put32(pseudo + 32, (uint32_t)len);
		pseudo[39] = NH_TCP;
		sum = sum_add(0, pseudo, 40);
	}
	put16(t + 16, sum_fold(sum_add(sum, t, len)));
	/* Any change smaller than 0xffff makes a wrong sum: 0 and 0xffff
	 * are the only two spellings of one value. */
	if (j->kind->tcp == T_BAD_CSUM)
		put16(t + 16, get16(t + 16) ^ 0x0f0f);
	if (j->kind->tcp == T_SHORT)
		len = 10;
	return len;
}

/* Append an 8-byte IPv6 options header (hop-by-hop or destination:
 * one PadN option, RFC 8200 4.2) whose next header is nh. */
static size_t
ext_opts(uint8_t *p, uint8_t nh)
{
	memset(p, 0, 8);
	p[0] = nh;
	p[1] = 0; /* (0 + 1) * 8 bytes */
	p[2] = 1; /* PadN */
	p[3] = 4;
	return 8;
}

/* Append an 8-byte routing header (type 0, no addresses) with the given
 * segments left. */
static size_t
ext_routing(uint8_t *p, uint8_t nh, uint8_t left)
{
	memset(p, 0, 8);
	p[0] = nh;
	p[1] = 0;
	p[2] = 0;
	p[3] = left;
	return 8;
}

/* Append a fragment header (RFC 8200 4.5): offset in 8-byte units. */
static size_t
ext_fragment(uint8_t *p, uint8_t nh, uint16_t off8, int more)
{
	memset(p, 0, 8);
	p[0] = nh;
	put16(p + 2, (uint16_t)(off8 << 3 | (more ? 1 : 0)));
	put32(p + 4, rnd32());
	return 8;
}

/*
 * Write the IPv6 extension headers a kind asks for, TCP last, into p.
 * Returns their length and sets *first to the IPv6 header's next header.
 */
static size_t
build_ext6(enum ip_kind k, uint8_t *p, uint8_t *first)
{
	size_t o = 0;
	int n;

	*first = NH_TCP;
	switch (k) {
	case IP_EXT_HBH:
		*first = NH_HOPOPTS;
		o += ext_opts(p, NH_TCP);
		break;
	case IP_EXT_DST:
		*first = NH_DSTOPTS;
		o += ext_opts(p, NH_TCP);
		break;
	case IP_EXT_RH0:
	case IP_EXT_RH_LEFT:
		*first = NH_ROUTING;
		o += ext_routing(p, NH_TCP, k == IP_EXT_RH_LEFT ? 1 : 0);
		break;
	case IP_EXT_CHAIN:
		*first = NH_HOPOPTS;
		o += ext_opts(p + o, NH_DSTOPTS);
		o += ext_opts(p + o, NH_ROUTING);
		o += ext_routing(p + o, NH_DSTOPTS, 0);
		o += ext_opts(p + o, NH_TCP);
		break;
	case IP_EXT_HBH_LATE:
		*first = NH_DSTOPTS;
		o += ext_opts(p + o, NH_HOPOPTS);
		o += ext_opts(p + o, NH_TCP);
		break;
	case IP_EXT_LONG:
		*first = NH_DSTOPTS;
		for (n = 0; n < 9; n++)
			o += ext_opts(p + o, n < 8 ? NH_DSTOPTS : NH_TCP);
		break;
	case IP_FRAG_FIRST:
	case IP_FRAG_LATER:
		*first = NH_FRAGMENT;
		o += ext_fragment(p, NH_TCP, k == IP_FRAG_LATER ? 1 : 0,
		    k == IP_FRAG_FIRST);
		break;
	default:
		break;
	}
	return o;
}

/* Build packet i of the job: IP header(s), then the TCP segment. */
static void
build(const struct job *j, unsigned i, struct pkt *pk)
{
	uint8_t tcp[80], *ip = pk->b, first;
	size_t tlen = build_tcp(j, i, tcp), hlen, ext;
	enum ip_kind k = j->kind->ip;

	memset(pk->b, 0, sizeof(pk->b));
	if (j->family == AF_INET) {
		hlen = IP4_HDR;
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(hlen + tlen));
		put16(ip + 4, (uint16_t)(rnd32() | 1));
		put16(ip + 6, k == IP_FRAG_FIRST ? 0x2000 :
		    k == IP_FRAG_LATER ? 0x0001 : 0x4000);
		ip[8] = 64;
		ip[9] = NH_TCP;
		memcpy(ip + 12, j->src, 4);
		memcpy(ip + 16, j->dst, 4);
		if (k == IP_TOTLEN)
			put16(ip + 2, (uint16_t)(hlen + tlen + 20));
		put16(ip + 10, sum_fold(sum_add(0, ip, hlen)));
		if (k == IP_BAD_CSUM)
			put16(ip + 10, get16(ip + 10) ^ 0x0f0f);
		memcpy(ip + hlen, tcp, tlen);
		pk->len = hlen + tlen;
		if (k == IP_SHORT)
			pk->len = 16;
		return;
	}
	ext = build_ext6(k, ip + IP6_HDR, &first);
	if (k == IP_EXT_TRUNC) {
		/* Destination options claiming 16 bytes; 8 are there, and
		 * nothing after them. */
		first = NH_DSTOPTS;
		ext_opts(ip + IP6_HDR, NH_TCP);
		ip[IP6_HDR + 1] = 1;
		ext = 8;
		tlen = 0;
	}
	put32(ip, 6u << 28);
	put16(ip + 4, (uint16_t)(ext + tlen + (k == IP_TOTLEN ? 20 : 0)));
	ip[6] = first;
	ip[7] = 64;
	memcpy(ip + 8, j->src, 16);
	memcpy(ip + 24, j->dst, 16);
	memcpy(ip + IP6_HDR + ext, tcp, tlen);
	pk->len = IP6_HDR + ext + tlen;
	if (k == IP_SHORT) {
		/* Cut inside the header, after a next header the tap's filter
		 * passes up (it cannot walk an extension chain). */
		ip[6] = NH_HOPOPTS;
		pk->len = 32;
	}
}

/* A socket to send the job's packets: raw IP, or the link when needed. */
static int
tx_open(const struct job *j, int *link)
{
	int fd, on = 1;

	*link = j->kind->link || j->force_link;
	if (*link) {
		if (j->ifindex == 0 || !j->have_mac)
			die("kind %s needs -i and -m: the kernel would repair "
			    "it on a raw socket", j->kind->name);
		fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			die("packet socket");
		return fd;
	}
	fd = socket(j->family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd == -1)
		die("raw socket");
	if (j->family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_HDRINCL, &on, sizeof(on)) == -1)
		die("IPV6_HDRINCL");
	return fd;
}

/* Send one packet. */
static void
tx_one(const struct job *j, int fd, int link, const struct pkt *pk)
{
	struct sockaddr_storage ss;
	struct sockaddr_ll *sll = (struct sockaddr_ll *)&ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen;
	ssize_t w;

	memset(&ss, 0, sizeof(ss));
	if (link) {
		sll->sll_family = AF_PACKET;
		sll->sll_protocol = htons(j->family == AF_INET ? ETH_P_IP :
		    ETH_P_IPV6);
		sll->sll_ifindex = j->ifindex;
		sll->sll_halen = 6;
		memcpy(sll->sll_addr, j->mac, 6);
		sslen = sizeof(*sll);
	} else if (j->family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, j->dst, 4);
		sslen = sizeof(*sin);
	} else {
		/* Port 0: on a raw IPv6 socket it would name the protocol. */
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, j->dst, 16);
		sslen = sizeof(*sin6);
	}
	w = sendto(fd, pk->b, pk->len, 0, (struct sockaddr *)&ss, sslen);
	if (w != (ssize_t)pk->len)
		die("sendto (%zu bytes)", pk->len);
}

/* A capture socket on the interface, opened before anything is sent. */
static int
rx_open(const struct job *j)
{
	struct sockaddr_ll sll;
	int fd;

	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd == -1)
		die("capture socket");
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = j->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == -1)
		die("bind capture socket");
	return fd;
}

/* The name of a flags byte, as tcpdump spells it. */
static const char *
flag_name(uint8_t f, char *buf)
{
	static const char letters[] = "FSRPAUEW";
	char *p = buf;
	int b;

	for (b = 0; b < 8; b++)
		if (f & (1 << b))
			*p++ = letters[b];
	if (p == buf)
		*p++ = '.';
	*p = '\0';
	return buf;
}

/*
 * Report a captured frame if it is a TCP segment from DST:PORT to one of
 * the ports we sent from. Returns 1 if it was reported.
 */
static int
rx_match(const struct job *j, const uint8_t *f, size_t len)
{
	const uint8_t *t, *from;
	char fl[9];
	uint16_t dport;

	if (len >= IP4_HDR && f[0] >> 4 == 4 && j->family == AF_INET) {
		size_t hl = (size_t)(f[0] & 0x0f) * 4;
		if (f[9] != NH_TCP || hl < IP4_HDR || len < hl + TCP_HDR)
			return 0;
		from = f + 12;
		t = f + hl;
	} else if (len >= IP6_HDR + TCP_HDR && f[0] >> 4 == 6 &&
	    j->family == AF_INET6) {
		/* Replies carry no extension headers. */
		if (f[6] != NH_TCP)
			return 0;
		from = f + 8;
		t = f + IP6_HDR;
	} else
		return 0;
	if (memcmp(from, j->dst, j->family == AF_INET ? 4 : 16) != 0 ||
	    get16(t) != j->dport)
		return 0;
	dport = get16(t + 2);
	if (dport < j->sport || dport - j->sport >= (int)j->count)
		return 0;
	printf("reply %s sport=%u dport=%u seq=%u ack=%u\n",
	    flag_name(t[13], fl), get16(t), dport, get32(t + 4),
	    get32(t + 8));
	return 1;
}

/* Capture until the deadline; return how many replies were seen. */
static unsigned
rx_until(const struct job *j, int fd, uint64_t deadline)
{
	static uint8_t f[65536];
	struct sockaddr_ll from;
	socklen_t fl;
	struct pollfd pfd = {fd, POLLIN, 0};
	unsigned n = 0;
	uint64_t t;
	ssize_t r;

	while ((t = now_ms()) < deadline && (j->enough == 0 || n < j->enough)) {
		if (poll(&pfd, 1, (int)(deadline - t)) <= 0)
			continue;
		fl = sizeof(from);
		r = recvfrom(fd, f, sizeof(f), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fl);
		if (r <= 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		n += (unsigned)rx_match(j, f, (size_t)r);
	}
	return n;
}

/* Parse "aa:bb:cc:dd:ee:ff". */
static int
parse_mac(const char *s, uint8_t *mac)
{
	unsigned v[6];
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3],
	    &v[4], &v[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* Parse an unsigned number within [0, max]. */
static unsigned long
parse_num(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0' || end == s || v > max || s[0] == '-') {
		errno = 0;
		die("bad %s: %s", what, s);
	}
	return v;
}

/* Fill the addresses, port and kind from the operands. */
static void
parse_operands(struct job *j, char **argv)
{
	int fs, fd;
	size_t i;

	fs = inet_pton(AF_INET, argv[0], j->src) == 1 ? AF_INET :
	    inet_pton(AF_INET6, argv[0], j->src) == 1 ? AF_INET6 : 0;
	fd = inet_pton(AF_INET, argv[1], j->dst) == 1 ? AF_INET :
	    inet_pton(AF_INET6, argv[1], j->dst) == 1 ? AF_INET6 : 0;
	errno = 0;
	if (fs == 0 || fd == 0 || fs != fd)
		die("SRC and DST must be addresses of one family");
	j->family = fs;
	if (!dst_allowed(j->family, j->dst))
		die("%s is not a test address (198.18.0.0/15, 2001:2::/48, "
		    "loopback)", argv[1]);
	j->dport = (uint16_t)parse_num(argv[2], 65535, "port");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(argv[3], kinds[i].name) == 0)
			j->kind = &kinds[i];
	if (j->kind == NULL)
		usage();
	if (!(j->kind->families & (j->family == AF_INET ? FAM_4 : FAM_6)))
		die("kind %s is not defined for this family", j->kind->name);
}

int
main(int argc, char **argv)
{
	struct job j;
	struct pkt pk;
	int c, tx, rx = -1, link;
	unsigned i, replies = 0;

	memset(&j, 0, sizeof(j));
	j.count = 1;
	j.sport = 20000;
	while ((c = getopt(argc, argv, "la:e:i:m:n:P:q:w:")) != -1) {
		switch (c) {
		case 'l':
			j.force_link = 1;
			break;
		case 'a':
			j.ack = (uint32_t)parse_num(optarg, UINT32_MAX, "ack");
			j.have_ack = 1;
			break;
		case 'e':
			j.enough = (unsigned)parse_num(optarg, COUNT_MAX,
			    "replies");
			break;
		case 'i':
			if ((j.ifindex = (int)if_nametoindex(optarg)) == 0)
				die("no interface %s", optarg);
			break;
		case 'm':
			if (parse_mac(optarg, j.mac) == -1)
				die("bad MAC %s", optarg);
			j.have_mac = 1;
			break;
		case 'n':
			j.count = (unsigned)parse_num(optarg, COUNT_MAX,
			    "count");
			break;
		case 'P':
			j.sport = (uint16_t)parse_num(optarg, 65535, "port");
			break;
		case 'q':
			j.seq = (uint32_t)parse_num(optarg, UINT32_MAX, "seq");
			j.have_seq = 1;
			break;
		case 'w':
			j.wait_ms = (unsigned)parse_num(optarg, SNIFF_MAX_MS,
			    "wait");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 4)
		usage();
	parse_operands(&j, argv);
	if (j.count == 0 || j.sport == 0 || j.sport + j.count - 1 > 65535) {
		errno = 0;
		die("count and source port out of range");
	}
	if (j.wait_ms > 0) {
		if (j.ifindex == 0) {
			errno = 0;
			die("-w needs -i");
		}
		rx = rx_open(&j);
	}
	tx = tx_open(&j, &link);
	for (i = 0; i < j.count; i++) {
		build(&j, i, &pk);
		tx_one(&j, tx, link, &pk);
	}
	printf("sent %u %s via %s\n", j.count, j.kind->name,
	    link ? "link" : "raw");
	if (rx != -1)
		replies = rx_until(&j, rx, now_ms() + j.wait_ms);
	printf("replies %u\n", replies);
	close(tx);
	if (rx != -1)
		close(rx);
	return 0;
}
