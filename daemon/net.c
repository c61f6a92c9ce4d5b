/*
 * net.c -- the system-call shell around the packet path.
 *
 * Three kinds of socket live here: the shadow listener that keeps the kernel
 * silent on our ports, the AF_PACKET tap that shows us their segments, and
 * the raw IPPROTO_RAW sockets that carry our SYN-ACKs and RSTs out.
 *
 * Nothing here parses or decides: frames go to the codec untouched, packets
 * come from the codec untouched. Nothing here allocates on the per-packet
 * path: net_tap_read and net_tx_send* keep their state on the stack.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "tsclock.h"

/* The tap's receive buffer: deep enough to ride out a burst at flood rate
 * while the worker is busy (about 4000 full-size frames). */
#define NET_TAP_RCVBUF (4 * 1024 * 1024)

/* Longest cBPF program net_tap_open builds: the fixed part plus one
 * comparison per port. */
#define TAP_FIXED_INSNS 37
#define TAP_MAX_INSNS (TAP_FIXED_INSNS + NET_TAP_MAX_PORTS)

/* IPv6 next-header values of extension headers the filter lets through so
 * that user space can count and drop them (RFC 8200 4): hop-by-hop options,
 * routing, fragment, destination options. */
#define NH_HOPOPTS 0
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_DSTOPTS 60

/* Linux >= 6.2 (if_packet.h): a fanout group that outgoing packets skip. */
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36 /* linux/in6.h, Linux >= 4.5 */
#endif

/* Write a formatted message into the caller's error buffer, if any. */
static void net_err(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
net_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Close fd without disturbing errno, so callers can report the cause. */
static void
net_close_keep_errno(int fd)
{
	int saved = errno;

	if (fd != -1)
		close(fd);
	errno = saved;
}

/* Fill a sockaddr for (family, addr, port); returns its length or 0. */
static socklen_t
net_sockaddr(int family, const uint8_t addr[16], uint16_t port,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
		return sizeof(*sin);
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
		return sizeof(*sin6);
	}
	return 0;
}

int
net_shadow_open(int family, const uint8_t addr[16], uint16_t port,
    char *err, size_t errlen)
{
	/*
	 * `ret #0`: the kernel runs a listener's socket filter before any TCP
	 * processing (tcp_filter() in tcp_v4_rcv/tcp_v6_rcv), so a SYN, a
	 * stray ACK or a RST to the port is discarded there: no SYN-ACK, no
	 * cookie, no RST. Established sockets are looked up before the
	 * listener and never see this filter.
	 */
	static struct sock_filter drop_all[] = {
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { 1, drop_all };
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, on = 1;

	if ((sslen = net_sockaddr(family, addr, port, &ss)) == 0) {
		errno = EAFNOSUPPORT;
		net_err(err, errlen, "shadow listener: bad address family");
		return -1;
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		net_err(err, errlen, "shadow listener: socket: %s",
		    strerror(errno));
		return -1;
	}
	/* Plain SO_REUSEADDR is fine here: this socket is never repaired. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	/* The filter goes on before listen() so no SYN races past it. */
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	    sizeof(prog)) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1)
		goto fail;
	/* The backlog is never used: every SYN is dropped by the filter. */
	if (listen(fd, 1) == -1)
		goto fail;
	return fd;

fail:
	net_err(err, errlen, "shadow listener on port %u: %s", port,
	    strerror(errno));
	net_close_keep_errno(fd);
	return -1;
}

/* Append one instruction to the program being built. */
static void
tap_emit(struct sock_filter *insns, unsigned *n, struct sock_filter insn)
{
	insns[(*n)++] = insn;
}

/*
 * Build the tap filter. Frames of an AF_PACKET SOCK_DGRAM socket start at
 * the network header, so offsets are relative to the IP header; X holds the
 * TCP header's offset once found. Layout (P = nports, D = drop, A = accept):
 *
 *   0  ld   pkttype                 only frames for this host: not our
 *   1  jeq  #HOST       0 D         own transmissions (OUTGOING), nor
 *                                   frames a bridge or a promiscuous
 *                                   interface sees for other hosts
 *                                   (OTHERHOST), nor broadcast/multicast
 *   2  ld   protocol
 *   3  jeq  #ETH_P_IP   0 V6
 *   4  ldb  [9]                     IPv4 protocol
 *   5  jeq  #TCP        0 D
 *   6  ldh  [6]                     flags + fragment offset
 *   7  jset #0x1fff     D 0         non-first fragment: no TCP header
 *   8  ldxb 4*([0]&0xf)             IHL
 *   9  ja   PORT
 *  V6:
 *  10  jeq  #ETH_P_IPV6 0 D
 *  11  ldb  [6]                     next header
 *  12  jeq  #TCP        V6TCP 0
 *  13  jeq  #HOPOPTS    EXT 0       extension headers go up to be
 *  14  jeq  #ROUTING    EXT 0       counted and dropped: cBPF cannot
 *  15  jeq  #FRAGMENT   EXT 0       walk the chain
 *  16  jeq  #DSTOPTS    0 D
 *  17  EXT: ja A
 *  18  V6TCP: ldx #40
 *  19  PORT: ldh [x+2]              destination port
 *  20  jeq  #port[i]    EST 0       one per port
 *  20+P    D: ret #0
 *  EST (E = 21+P): an established connection's segment? (tsclock.h)
 *  E+0   ld   len
 *  E+1   sub  x
 *  E+2   jge  #32       0 A         shorter: up to user space to count
 *                                   (a load past the end would drop it)
 *  E+3   ldb  [x+13]                TCP flags
 *  E+4   jset #SYN|RST  A 0
 *  E+5   jset #ACK      0 A
 *  E+6   ldb  [x+12]                data offset
 *  E+7   jge  #0x80     0 A         at least 32 bytes of header
 *  E+8   ld   [x+20]                NOP NOP TS(10): where Linux and the
 *  E+9   jeq  #0x0101080a 0 A       BSDs put it on every segment
 *  E+10  ld   [x+28]                TSecr
 *  E+11  sub  #base
 *  E+12  rsh  #30
 *  E+13  jeq  #1        0 A
 *  E+14  ret  #0
 *  E+15  A: ret #NET_TAP_SNAPLEN
 *
 * Conditional jumps are 8 bit, so D and EST must lie within 255 of every
 * branch: hence NET_TAP_MAX_PORTS.
 */
static unsigned
tap_build_filter(const uint16_t *ports, size_t nports, uint32_t ts_base,
    struct sock_filter *insns)
{
	unsigned n = 0, i, drop, est, accept;

	drop = 20 + (unsigned)nports;
	est = drop + 1;
	accept = est + 15;

	/* Jump targets are instruction indexes; 0 (never a target) means
	 * the next instruction. */
#define EMIT(insn) tap_emit(insns, &n, (struct sock_filter)insn)
#define JUMP(code, k, to_t, to_f) EMIT(BPF_JUMP(BPF_JMP | (code) | BPF_K, \
	(k), (uint8_t)((to_t) == 0 ? 0 : (to_t) - n - 1), \
	(uint8_t)((to_f) == 0 ? 0 : (to_f) - n - 1)))
	EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)));
	JUMP(BPF_JEQ, PACKET_HOST, 0, drop);
	EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL)));
	JUMP(BPF_JEQ, ETH_P_IP, 0, 10);
	/* IPv4 */
	EMIT(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9));
	JUMP(BPF_JEQ, IPPROTO_TCP, 0, drop);
	EMIT(BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6));
	JUMP(BPF_JSET, 0x1fff, drop, 0);
	EMIT(BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0));
	EMIT(BPF_STMT(BPF_JMP | BPF_JA, 19 - 10));
	/* IPv6 */
	JUMP(BPF_JEQ, ETH_P_IPV6, 0, drop);
	EMIT(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6));
	JUMP(BPF_JEQ, IPPROTO_TCP, 18, 0);
	JUMP(BPF_JEQ, NH_HOPOPTS, 17, 0);
	JUMP(BPF_JEQ, NH_ROUTING, 17, 0);
	JUMP(BPF_JEQ, NH_FRAGMENT, 17, 0);
	JUMP(BPF_JEQ, NH_DSTOPTS, 0, drop);
	EMIT(BPF_STMT(BPF_JMP | BPF_JA, accept - 18));
	EMIT(BPF_STMT(BPF_LDX | BPF_W | BPF_IMM, 40));
	/* PORT */
	EMIT(BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2));
	for (i = 0; i < nports; i++)
		JUMP(BPF_JEQ, ports[i], est, 0);
	EMIT(BPF_STMT(BPF_RET | BPF_K, 0));
	/* EST */
	EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0));
	EMIT(BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0));
	JUMP(BPF_JGE, 32, 0, accept);
	EMIT(BPF_STMT(BPF_LD | BPF_B | BPF_IND, 13));
	JUMP(BPF_JSET, SG_TCP_SYN | SG_TCP_RST, accept, 0);
	JUMP(BPF_JSET, SG_TCP_ACK, 0, accept);
	EMIT(BPF_STMT(BPF_LD | BPF_B | BPF_IND, 12));
	JUMP(BPF_JGE, 0x80, 0, accept);
	EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_IND, 20));
	JUMP(BPF_JEQ, 0x0101080a, 0, accept);
	EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_IND, 28));
	EMIT(BPF_STMT(BPF_ALU | BPF_SUB | BPF_K, ts_base));
	EMIT(BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 30));
	JUMP(BPF_JEQ, 1, 0, accept);
	EMIT(BPF_STMT(BPF_RET | BPF_K, 0));
	EMIT(BPF_STMT(BPF_RET | BPF_K, NET_TAP_SNAPLEN));
#undef JUMP
#undef EMIT
	return n;
}

/* Attach a socket filter that drops every packet. 0 or -1 (errno). */
static int
drop_all(int fd)
{
	static struct sock_filter ret0[] = {
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { 1, ret0 };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	    sizeof(prog));
}

/* Give the tap a deep receive buffer; FORCE (CAP_NET_ADMIN) passes
 * net.core.rmem_max, plain SO_RCVBUF is the fallback. */
static void
tap_set_rcvbuf(int fd)
{
	int size = NET_TAP_RCVBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
		    sizeof(size));
}

/* Build and attach the tap filter for ports[], with the timestamp base of
 * the clock now. */
static int
tap_attach(int fd, const uint16_t *ports, size_t nports)
{
	struct sock_filter insns[TAP_MAX_INSNS];
	struct sock_fprog prog;

	if (ports == NULL || nports == 0 || nports > NET_TAP_MAX_PORTS) {
		errno = EINVAL;
		return -1;
	}
	prog.len = (unsigned short)tap_build_filter(ports, nports,
	    sg_ts_base(sg_clock_ms(CLOCK_MONOTONIC)), insns);
	prog.filter = insns;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	    sizeof(prog));
}

int
net_tap_set_ports(int fd, const uint16_t *ports, size_t nports)
{
	return tap_attach(fd, ports, nports);
}

int
net_tap_pause(int fd)
{
	return drop_all(fd);
}

/* Set PACKET_FANOUT: the group id and mode with the flags. */
static int
tap_fanout_set(int fd, int id, int flags)
{
	int arg = (id & 0xffff) | ((PACKET_FANOUT_HASH | flags) << 16);

	return setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg));
}

/* Read PACKET_FANOUT back: id | type << 16 | flags << 24, or -1 (errno);
 * the flags we set never reach the top bit, so a group reads as >= 0. */
static int
tap_fanout_get(int fd)
{
	int got;
	socklen_t len = sizeof(got);

	if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &got, &len) == -1)
		return -1;
	return got;
}

/*
 * Join a fanout group, or with NET_FANOUT_NEW make one whose id the kernel
 * picks among those free in the network namespace (so that two daemons in
 * one namespace never share a group and split each other's flows). Hash mode
 * sends every segment of a flow (the kernel's flow hash over the 4-tuple) to
 * the same socket, so a connection's SYN and ACK meet the same half-open
 * table. The group ignores outgoing packets, as net_tap_open asks of a tap
 * outside any group (PACKET_IGNORE_OUTGOING, which a group member's own
 * socket does not consult); a kernel that refuses that flag takes the group
 * without it.
 *
 * A kernel without kernel-picked ids (before Linux 4.12) does not refuse
 * the flag: it keeps it among the group's flags, unused, and puts the tap
 * in group 0, which anyone may share. That is read back and refused with
 * EOPNOTSUPP (the caller then picks an id itself), as is a refused flag.
 */
static int
tap_fanout(int fd, int fanout_id)
{
	int flags = PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
	int id = fanout_id, r, got;

	if (fanout_id == NET_FANOUT_NEW) {
		id = 0;
		flags |= PACKET_FANOUT_FLAG_UNIQUEID;
	}
	if ((r = tap_fanout_set(fd, id, flags)) == -1 && errno == EINVAL)
		r = tap_fanout_set(fd, id,
		    flags & ~PACKET_FANOUT_FLAG_IGNORE_OUTGOING);
	if (fanout_id != NET_FANOUT_NEW)
		return r;
	if (r == -1) {
		if (errno == EINVAL)
			errno = EOPNOTSUPP;
		return -1;
	}
	if ((got = tap_fanout_get(fd)) == -1)
		return -1;
	if (((unsigned)got >> 24) & (PACKET_FANOUT_FLAG_UNIQUEID >> 8)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return 0;
}

int
net_tap_fanout(int fd)
{
	int got = tap_fanout_get(fd);

	return got == -1 ? -1 : got & 0xffff;
}

int64_t
net_tap_drops(int fd)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	/* Reading the statistics resets them: each call returns the drops
	 * since the previous one. */
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == -1)
		return -1;
	return (int64_t)st.tp_drops;
}

/* Give the tap its TPACKET_V3 receive ring and map it. */
static int
tap_ring(struct sg_tap *tap, unsigned batch_ms)
{
	int version = TPACKET_V3;
	struct tpacket_req3 req;
	void *map;

	if (setsockopt(tap->fd, SOL_PACKET, PACKET_VERSION, &version,
	    sizeof(version)) == -1)
		return -1;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = NET_TAP_RING_BLOCK;
	req.tp_block_nr = NET_TAP_RING_BLOCKS;
	/* V3 frames are of any size; the kernel checks only that these add
	 * up. */
	req.tp_frame_size = TPACKET_ALIGNMENT << 7;
	req.tp_frame_nr = req.tp_block_size / req.tp_frame_size *
	    req.tp_block_nr;
	req.tp_retire_blk_tov = batch_ms;
	if (setsockopt(tap->fd, SOL_PACKET, PACKET_RX_RING, &req,
	    sizeof(req)) == -1)
		return -1;
	tap->ring_size = (size_t)req.tp_block_size * req.tp_block_nr;
	map = mmap(NULL, tap->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    tap->fd, 0);
	if (map == MAP_FAILED)
		return -1;
	tap->ring = map;
	return 0;
}

void
net_tap_close(struct sg_tap *tap)
{
	if (tap->ring != NULL)
		munmap(tap->ring, tap->ring_size);
	if (tap->fd != -1)
		close(tap->fd);
	tap->ring = NULL;
	tap->fd = -1;
}

int
net_tap_open(struct sg_tap *tap, const uint16_t *ports, size_t nports,
    int fanout_id, unsigned batch_ms, char *err, size_t errlen)
{
	struct sockaddr_ll sll;
	int fd, on = 1;

	memset(tap, 0, sizeof(*tap));
	tap->fd = -1;
	if (ports == NULL || nports == 0 || nports > NET_TAP_MAX_PORTS ||
	    fanout_id > 0xffff || fanout_id < NET_FANOUT_NEW) {
		errno = EINVAL;
		net_err(err, errlen, "packet tap: need 1 to %d ports",
		    NET_TAP_MAX_PORTS);
		return -1;
	}

	/*
	 * Protocol 0: the socket is hooked to no packet type until bind(),
	 * so nothing is queued before the filter is in place (the usual race
	 * of socket(ETH_P_ALL) then SO_ATTACH_FILTER, where unfiltered frames
	 * slip in between and would need draining).
	 */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		net_err(err, errlen, "packet tap: socket: %s",
		    strerror(errno));
		return -1;
	}
	tap->fd = fd;
	if (tap_attach(fd, ports, nports) == -1)
		goto fail;
	/*
	 * Bound to every protocol, the tap would otherwise be handed a copy
	 * of every packet the host sends (our SYN-ACKs first of all), only
	 * for its filter to drop it: a clone, and with fanout a flow hash,
	 * per packet, a sixth of a SYN's cost under a flood. Linux >= 4.20;
	 * older kernels only pay that cost. In a fanout group the group's
	 * own flag does this instead (tap_fanout).
	 */
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on,
	    sizeof(on));
	if (batch_ms > 0) {
		/* The ring has the checksum status in each frame's header. */
		if (tap_ring(tap, batch_ms) == -1)
			goto fail;
	} else {
		/* Checksum status per frame: partial checksums on lo and
		 * veth are not errors (design.md, pitfalls). Arrival times,
		 * as the ring has them. */
		if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &on,
		    sizeof(on)) == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on,
		    sizeof(on)) == -1)
			goto fail;
		tap_set_rcvbuf(fd);
	}

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = 0; /* all interfaces */
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == -1)
		goto fail;
	/* Fanout needs a bound socket. */
	if (fanout_id != -1 && tap_fanout(fd, fanout_id) == -1)
		goto fail;
	return 0;

fail:
	net_err(err, errlen, "packet tap: %s", strerror(errno));
	{
		int e = errno;
		net_tap_close(tap);
		errno = e;
	}
	return -1;
}

/*
 * The checksum status of a frame. CSUMNOTREADY: the sender's checksum is
 * partial (offloaded, looped back before it was computed); CSUM_VALID: the
 * driver checked it. Either way there is nothing to verify.
 */
static enum sg_csum
tap_csum(uint32_t tp_status)
{
	return (tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)) ?
	    SG_CSUM_TRUSTED : SG_CSUM_VERIFY;
}

/* Fill a frame's checksum status, truncation and arrival time from its
 * control messages. */
static void
tap_frame_aux(struct sg_frame *f, struct msghdr *mh)
{
	struct cmsghdr *c;
	struct tpacket_auxdata aux;

	f->csum = SG_CSUM_VERIFY;
	f->rx_ns = 0;
	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_TIMESTAMPNS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			f->rx_ns = (uint64_t)ts.tv_sec * 1000000000u +
			    (uint64_t)ts.tv_nsec;
			continue;
		}
		if (c->cmsg_level != SOL_PACKET ||
		    c->cmsg_type != PACKET_AUXDATA ||
		    c->cmsg_len < CMSG_LEN(sizeof(aux)))
			continue;
		memcpy(&aux, CMSG_DATA(c), sizeof(aux));
		f->csum = tap_csum(aux.tp_status);
		/* The filter's snap length cuts silently: tp_len is the
		 * frame's real length. */
		if (aux.tp_len > f->len)
			f->truncated = 1;
	}
}

/*
 * Copy up to n frames out of the ring. A block is the reader's from the
 * moment the kernel marks it TP_STATUS_USER until it is given back, which
 * happens as soon as its last frame is copied. Offsets come from the kernel;
 * they are still checked to stay inside the block.
 */
static int
tap_ring_read(struct sg_tap *tap, struct sg_frame *frames, unsigned n,
    size_t bufsize)
{
	unsigned got = 0;

	while (got < n) {
		uint8_t *blk = tap->ring + (size_t)tap->cur * NET_TAP_RING_BLOCK;
		struct tpacket_block_desc *bd = (struct tpacket_block_desc *)blk;

		if (tap->left == 0) {
			if (!(__atomic_load_n(&bd->hdr.bh1.block_status,
			    __ATOMIC_ACQUIRE) & TP_STATUS_USER))
				break;
			tap->left = bd->hdr.bh1.num_pkts;
			tap->off = bd->hdr.bh1.offset_to_first_pkt;
		}
		while (tap->left > 0 && got < n) {
			const struct tpacket3_hdr *h;
			const struct sockaddr_ll *sll;
			size_t hdrs = TPACKET_ALIGN(sizeof(*h)) + sizeof(*sll);

			if (tap->off > NET_TAP_RING_BLOCK - hdrs) {
				tap->left = 0;
				break;
			}
			h = (const struct tpacket3_hdr *)(blk + tap->off);
			sll = (const struct sockaddr_ll *)(blk + tap->off +
			    TPACKET_ALIGN(sizeof(*h)));
			if (h->tp_net > NET_TAP_RING_BLOCK - tap->off ||
			    h->tp_snaplen > NET_TAP_RING_BLOCK - tap->off -
			    h->tp_net) {
				tap->left = 0;
				break;
			}
			struct sg_frame *f = &frames[got++];
			size_t len = h->tp_snaplen < bufsize ? h->tp_snaplen :
			    bufsize;
			memcpy(f->data, blk + tap->off + h->tp_net, len);
			f->len = (uint32_t)len;
			f->truncated = h->tp_len > len;
			f->ifindex = sll->sll_ifindex;
			f->halen = sll->sll_halen <= sizeof(f->lladdr) ?
			    sll->sll_halen : 0;
			memcpy(f->lladdr, sll->sll_addr, f->halen);
			f->csum = tap_csum(h->tp_status);
			f->rx_ns = (uint64_t)h->tp_sec * 1000000000u +
			    h->tp_nsec;
			tap->off += h->tp_next_offset;
			tap->left--;
		}
		if (tap->left > 0)
			break;
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
		    __ATOMIC_RELEASE);
		tap->cur = (tap->cur + 1) % NET_TAP_RING_BLOCKS;
	}
	return (int)got;
}

int
net_tap_read(struct sg_tap *tap, struct sg_frame *frames, unsigned n,
    size_t bufsize)
{
	struct mmsghdr mm[NET_TAP_BATCH];
	struct iovec iov[NET_TAP_BATCH];
	struct sockaddr_ll sll[NET_TAP_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata)) +
		    CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} cbuf[NET_TAP_BATCH];
	unsigned i;
	int got;

	if (frames == NULL || bufsize == 0 || bufsize > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (n > NET_TAP_BATCH)
		n = NET_TAP_BATCH;
	if (n == 0)
		return 0;
	if (tap->ring != NULL)
		return tap_ring_read(tap, frames, n, bufsize);
	memset(mm, 0, n * sizeof(mm[0]));
	for (i = 0; i < n; i++) {
		iov[i].iov_base = frames[i].data;
		iov[i].iov_len = bufsize;
		mm[i].msg_hdr.msg_name = &sll[i];
		mm[i].msg_hdr.msg_namelen = sizeof(sll[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = cbuf[i].buf;
		mm[i].msg_hdr.msg_controllen = sizeof(cbuf[i].buf);
	}
	got = recvmmsg(tap->fd, mm, n, MSG_DONTWAIT, NULL);
	if (got == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	for (i = 0; i < (unsigned)got; i++) {
		struct sg_frame *f = &frames[i];

		f->len = mm[i].msg_len > bufsize ? (uint32_t)bufsize :
		    mm[i].msg_len;
		f->ifindex = mm[i].msg_hdr.msg_namelen >=
		    offsetof(struct sockaddr_ll, sll_ifindex) + sizeof(int) ?
		    sll[i].sll_ifindex : 0;
		f->truncated = (mm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
		f->halen = 0;
		if (mm[i].msg_hdr.msg_namelen >= sizeof(struct sockaddr_ll) &&
		    sll[i].sll_halen <= sizeof(f->lladdr)) {
			f->halen = sll[i].sll_halen;
			memcpy(f->lladdr, sll[i].sll_addr, f->halen);
		}
		tap_frame_aux(f, &mm[i].msg_hdr);
	}
	return got;
}

/* A raw socket that sends whole IP packets and never receives any. */
static int
tx_socket(int family)
{
	int fd, on = 1;

	/* IPPROTO_RAW implies IP_HDRINCL (raw(7)); for IPv6 it does since
	 * Linux 4.5, where IPV6_HDRINCL also appeared: set it explicitly. */
	fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_RAW);
	if (fd == -1)
		return -1;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL,
	    &on, sizeof(on)) == -1) {
		net_close_keep_errno(fd);
		return -1;
	}
	/* An IPPROTO_RAW socket would be handed protocol-255 packets; drop
	 * them in the kernel rather than let them pile up. */
	(void)drop_all(fd);
	return fd;
}

/* The link-layer sending socket: protocol 0, so it receives nothing. */
static int
tx_packet_socket(void)
{
	return socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

void
net_tx_init(struct sg_tx *tx)
{
	memset(tx, 0, sizeof(*tx));
	tx->fd4 = tx->fd6 = tx->fdll = -1;
	for (unsigned i = 0; i < NET_TX_XSK; i++)
		tx->xsk[i].x.fd = -1;
}

int
net_tx_open(struct sg_tx *tx, char *err, size_t errlen)
{
	net_tx_init(tx);
	tx->fdll = tx_packet_socket();
	if (tx->fdll == -1) {
		net_err(err, errlen, "AF_PACKET sending socket: %s",
		    strerror(errno));
		return -1;
	}
	tx->fd4 = tx_socket(AF_INET);
	if (tx->fd4 == -1) {
		net_err(err, errlen, "raw IPv4 socket: %s", strerror(errno));
		net_close_keep_errno(tx->fdll);
		tx->fdll = -1;
		return -1;
	}
	tx->fd6 = tx_socket(AF_INET6);
	if (tx->fd6 == -1) {
		/* A host without IPv6 still serves IPv4. */
		if (errno == EAFNOSUPPORT)
			return 0;
		net_err(err, errlen, "raw IPv6 socket: %s", strerror(errno));
		net_close_keep_errno(tx->fd4);
		net_close_keep_errno(tx->fdll);
		tx->fd4 = tx->fdll = -1;
		return -1;
	}
	return 0;
}

void
net_tx_close(struct sg_tx *tx)
{
	net_tx_xdp(tx, false, 0);
	if (tx->fd4 != -1)
		close(tx->fd4);
	if (tx->fd6 != -1)
		close(tx->fd6);
	if (tx->fdll != -1)
		close(tx->fdll);
	tx->fd4 = tx->fd6 = tx->fdll = -1;
}

/* The open sockets' regions, for the memory gauge. */
static void
tx_xsk_bytes(struct sg_tx *tx)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < NET_TX_XSK; i++)
		if (tx->xsk[i].x.fd != -1)
			n += (uint64_t)XSK_FRAMES * XSK_CHUNK;
	__atomic_store_n(&tx->xdp_bytes, n, __ATOMIC_RELAXED);
}

/* Close a slot's AF_XDP socket; frames it had not sent yet are lost. */
static void
tx_xsk_close(struct sg_tx *tx, int slot)
{
	tx->xdp_lost += xsk_unsent(&tx->xsk[slot].x);
	xsk_close(&tx->xsk[slot].x);
	tx_xsk_bytes(tx);
}

void
net_tx_xdp(struct sg_tx *tx, bool on, unsigned queue)
{
	for (unsigned i = 0; i < NET_TX_XSK; i++) {
		if (tx->xsk[i].x.fd != -1 && (!on || queue != tx->xdp_queue))
			tx_xsk_close(tx, (int)i);
		tx->xsk[i].retry_ms = 0;
		tx->xsk[i].err = 0;
		tx->xsk[i].busy = tx->xsk[i].busy_said = false;
	}
	tx->xdp = on;
	tx->xdp_queue = queue;
}

/* Say why an interface's AF_XDP socket could not be had. */
static void
tx_xsk_report(struct sg_tx *tx, int ifindex, int err)
{
	tx->xdp_err = err;
	tx->xdp_err_ifindex = ifindex;
}

/*
 * An interface's AF_XDP socket could not be had, or failed: send to it
 * another way for a while, and say why, unless that is what was said last
 * time for it (a slot forgets its last failure only when a send through it
 * works). An interface that is gone frees its slot at once. A queue our
 * own socket held a moment ago stays busy until the kernel lets it go: try
 * that again in a second, quietly; busy again, another AF_XDP program
 * holds it (said once). Busy does not replace the last other reason.
 */
static void
tx_xsk_failed(struct sg_tx *tx, int slot, int ifindex, int err)
{
	struct sg_tx_slot *s = &tx->xsk[slot];
	bool same = s->ifindex == ifindex;
	uint64_t now = sg_clock_ms(CLOCK_MONOTONIC_COARSE);

	s->ifindex = ifindex;
	if (err == EBUSY) {
		if (same && s->busy) {
			if (!s->busy_said)
				tx_xsk_report(tx, ifindex, err);
			s->busy_said = true;
			s->retry_ms = now + NET_TX_XSK_RETRY_MS;
		} else {
			if (!same)
				s->err = 0;
			s->busy = true;
			s->retry_ms = now + NET_TX_XSK_BUSY_MS;
		}
		return;
	}
	s->busy = s->busy_said = false;
	if (!same || s->err != err)
		tx_xsk_report(tx, ifindex, err);
	s->err = err;
	s->retry_ms = err == ENODEV || err == ENXIO ? 0 :
	    now + NET_TX_XSK_RETRY_MS;
}

void
net_tx_refresh(struct sg_tx *tx)
{
	for (unsigned i = 0; i < NET_TX_XSK; i++) {
		struct sg_xsk *x = &tx->xsk[i].x;
		if (x->fd == -1)
			continue;
		/* Only an interface that is gone, or no longer Ethernet,
		 * loses its socket: not one whose address could not be read
		 * for want of a descriptor. */
		int e = 0;
		if (xsk_refresh(x) == -1 && (errno == ENODEV ||
		    errno == ENXIO || errno == ENOTSUP))
			e = errno;
		else if (xsk_flush(x) == -1)
			e = x->error;
		if (e == 0)
			continue;
		tx_xsk_close(tx, (int)i);
		tx_xsk_failed(tx, (int)i, tx->xsk[i].ifindex, e);
	}
}

/*
 * The slot of an interface's AF_XDP socket: open, or opened now; -1 when
 * it is not to be had, or not tried again yet. A slot is free when its
 * socket is closed and not waiting to be tried again.
 */
static int
tx_xsk(struct sg_tx *tx, int ifindex)
{
	int freeslot = -1;
	uint64_t now = 0;

	for (unsigned i = 0; i < NET_TX_XSK; i++) {
		if (tx->xsk[i].x.fd != -1) {
			if (tx->xsk[i].ifindex == ifindex)
				return (int)i;
			continue;
		}
		if (tx->xsk[i].retry_ms != 0) {
			if (now == 0)
				now = sg_clock_ms(CLOCK_MONOTONIC_COARSE);
			if (now < tx->xsk[i].retry_ms) {
				if (tx->xsk[i].ifindex == ifindex)
					return -1;
				continue;
			}
		}
		/* Free: the one that last served it, else the first. */
		if (freeslot == -1 || tx->xsk[i].ifindex == ifindex)
			freeslot = (int)i;
	}
	if (freeslot == -1)
		return -1;
	if (xsk_open(&tx->xsk[freeslot].x, ifindex, tx->xdp_queue) == -1) {
		tx_xsk_failed(tx, freeslot, ifindex, errno);
		return -1;
	}
	struct sg_tx_slot *sl = &tx->xsk[freeslot];
	if (sl->ifindex != ifindex)
		sl->err = 0; /* another interface's news */
	sl->ifindex = ifindex;
	sl->retry_ms = 0;
	sl->busy = sl->busy_said = false;
	tx_xsk_bytes(tx);
	return freeslot;
}

/* Send the n packets, all to hops[0]'s interface, through its AF_XDP
 * socket: how many of the first went. When none did, *other says how many
 * of them are to go another way: the first alone if only it could not go
 * (not IP, too long, no Ethernet hop), else all. */
static unsigned
tx_hops_xdp(struct sg_tx *tx, const uint8_t *const *pkts, const size_t *lens,
    const struct sg_hop *hops, unsigned n, unsigned *other)
{
	int slot, sent;

	*other = n;
	if ((slot = tx_xsk(tx, hops[0].ifindex)) == -1)
		return 0;
	sent = xsk_send(&tx->xsk[slot].x, pkts, lens, hops, n);
	if (sent == 0 && !tx->xsk[slot].x.broken && tx->xsk[slot].x.nfree > 0)
		*other = 1;
	if (tx->xsk[slot].x.broken) {
		int e = tx->xsk[slot].x.error;
		tx_xsk_close(tx, slot);
		tx_xsk_failed(tx, slot, hops[0].ifindex, e);
	} else if (sent > 0) {
		tx->xsk[slot].err = 0; /* it works: the next failure is news */
	}
	tx->xdp_sent += (unsigned)sent;
	return (unsigned)sent;
}

/*
 * Find the socket and destination for one packet from its IP header.
 * Returns the fd, or -1 with errno. The port must be 0: for a raw IPv6
 * socket a non-zero sin6_port is read as the protocol number.
 */
static int
tx_dest(struct sg_tx *tx, const uint8_t *pkt, size_t len,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	unsigned version;

	if (pkt == NULL || len < 20) {
		errno = EINVAL;
		return -1;
	}
	version = pkt[0] >> 4;
	if (version == 4) {
		if (len > 65535 || (pkt[0] & 0x0f) < 5) {
			errno = EINVAL;
			return -1;
		}
		if (tx->fd4 == -1) {
			errno = EAFNOSUPPORT;
			return -1;
		}
		*sslen = net_sockaddr(AF_INET, pkt + 16, 0, ss);
		return tx->fd4;
	}
	if (version == 6) {
		if (len < 40 || len > 40 + 65535) {
			errno = EINVAL;
			return -1;
		}
		if (tx->fd6 == -1) {
			errno = EAFNOSUPPORT;
			return -1;
		}
		*sslen = net_sockaddr(AF_INET6, pkt + 24, 0, ss);
		return tx->fd6;
	}
	errno = EINVAL;
	return -1;
}

int
net_tx_send(struct sg_tx *tx, const uint8_t *pkt, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	ssize_t w;
	int fd;

	if ((fd = tx_dest(tx, pkt, len, &ss, &sslen)) == -1)
		return -1;
	w = sendto(fd, pkt, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sslen);
	if (w == -1)
		return -1;
	if ((size_t)w != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
net_tx_send_batch(struct sg_tx *tx, const uint8_t *const *pkts,
    const size_t *lens, unsigned n)
{
	struct mmsghdr mm[NET_TX_BATCH];
	struct iovec iov[NET_TX_BATCH];
	struct sockaddr_storage ss[NET_TX_BATCH];
	unsigned i, start, run, done = 0;
	int fd, runfd, sent;

	if (n == 0)
		return 0;
	if (n > NET_TX_BATCH)
		n = NET_TX_BATCH;
	memset(mm, 0, n * sizeof(mm[0]));
	for (i = 0; i < n; i++) {
		socklen_t sslen;

		if ((fd = tx_dest(tx, pkts[i], lens[i], &ss[i], &sslen)) == -1)
			break;
		iov[i].iov_base = (void *)(uintptr_t)pkts[i];
		iov[i].iov_len = lens[i];
		mm[i].msg_hdr.msg_name = &ss[i];
		mm[i].msg_hdr.msg_namelen = sslen;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	n = i; /* stop before the first packet that cannot be sent */
	if (n == 0)
		return -1;

	for (start = 0; start < n; start += run) {
		runfd = (pkts[start][0] >> 4) == 4 ? tx->fd4 : tx->fd6;
		for (run = 1; start + run < n; run++) {
			fd = (pkts[start + run][0] >> 4) == 4 ? tx->fd4 :
			    tx->fd6;
			if (fd != runfd)
				break;
		}
		sent = sendmmsg(runfd, &mm[start], run, MSG_DONTWAIT);
		if (sent == -1)
			return done == 0 ? -1 : (int)done;
		done += (unsigned)sent;
		if ((unsigned)sent < run)
			break;
	}
	return (int)done;
}

int
net_tx_send_hops(struct sg_tx *tx, const uint8_t *const *pkts,
    const size_t *lens, const struct sg_hop *hops, unsigned n)
{
	struct mmsghdr mm[NET_TX_BATCH];
	struct iovec iov[NET_TX_BATCH];
	struct sockaddr_ll sll[NET_TX_BATCH];

	if (n == 0)
		return 0;
	if (n > NET_TX_BATCH)
		n = NET_TX_BATCH;
	bool missed = false;
	if (tx->xdp && hops[0].ifindex > 0) {
		/* The leading run to one interface; what AF_XDP does not
		 * take of it goes through AF_PACKET, and the runs after it
		 * get their own chance at the next call. */
		unsigned run = 1, other;
		while (run < n && hops[run].ifindex == hops[0].ifindex)
			run++;
		unsigned sent = tx_hops_xdp(tx, pkts, lens, hops, run, &other);
		if (sent > 0)
			return (int)sent;
		missed = true;
		n = other;
	}
	memset(mm, 0, n * sizeof(mm[0]));
	memset(sll, 0, n * sizeof(sll[0]));
	for (unsigned i = 0; i < n; i++) {
		unsigned version = lens[i] > 0 ? pkts[i][0] >> 4 : 0;
		if ((version != 4 && version != 6) ||
		    hops[i].halen > sizeof(sll[i].sll_addr)) {
			if (i == 0) {
				errno = EINVAL;
				return -1;
			}
			n = i;
			break;
		}
		sll[i].sll_family = AF_PACKET;
		sll[i].sll_protocol = htons(version == 4 ? ETH_P_IP :
		    ETH_P_IPV6);
		sll[i].sll_ifindex = hops[i].ifindex;
		sll[i].sll_halen = hops[i].halen;
		memcpy(sll[i].sll_addr, hops[i].lladdr, hops[i].halen);
		iov[i].iov_base = (void *)(uintptr_t)pkts[i];
		iov[i].iov_len = lens[i];
		mm[i].msg_hdr.msg_name = &sll[i];
		mm[i].msg_hdr.msg_namelen = sizeof(sll[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	int sent = sendmmsg(tx->fdll, mm, n, MSG_DONTWAIT);
	if (missed && sent > 0)
		tx->xdp_missed += (unsigned)sent;
	return sent;
}

/* Add one address to a set, if there is room. */
static void
addrset_add(struct sg_addrset *set, int family, const void *addr)
{
	if (set->n >= SG_ADDRSET_MAX)
		return;
	memset(set->a[set->n].addr, 0, sizeof(set->a[set->n].addr));
	set->a[set->n].family = (uint8_t)family;
	memcpy(set->a[set->n].addr, addr, family == AF_INET ? 4 : 16);
	set->n++;
}

/* IPv4 addresses of the interfaces that are up. */
static int
local_addrs4(struct sg_addrset *set)
{
	struct ifreq req[64];
	struct ifconf ifc;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	ifc.ifc_len = sizeof(req);
	ifc.ifc_req = req;
	if (ioctl(fd, SIOCGIFCONF, &ifc) == -1) {
		net_close_keep_errno(fd);
		return -1;
	}
	close(fd);
	for (size_t i = 0; i < (size_t)ifc.ifc_len / sizeof(req[0]); i++) {
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)&req[i].ifr_addr;
		if (sin->sin_family == AF_INET)
			addrset_add(set, AF_INET, &sin->sin_addr);
	}
	return 0;
}

/* IPv6 addresses: /proc/net/if_inet6 lists one per line, 32 hex digits
 * first. */
static int
local_addrs6(struct sg_addrset *set)
{
	char line[256];
	FILE *f = fopen("/proc/net/if_inet6", "re");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		uint8_t a[16];
		unsigned i;
		for (i = 0; i < 16; i++) {
			unsigned byte;
			if (sscanf(line + 2 * i, "%2x", &byte) != 1)
				break;
			a[i] = (uint8_t)byte;
		}
		if (i == 16)
			addrset_add(set, AF_INET6, a);
	}
	fclose(f);
	return 0;
}

int
net_local_addrs(struct sg_addrset *set)
{
	set->n = 0;
	int r4 = local_addrs4(set);
	int r6 = local_addrs6(set);
	return r4 == -1 && r6 == -1 ? -1 : 0;
}

int
net_ifhwaddr(int ifindex, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd, type = -1;

	memset(&ifr, 0, sizeof(ifr));
	if (if_indextoname((unsigned)ifindex, ifr.ifr_name) == NULL)
		return -1;
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
		type = ifr.ifr_hwaddr.sa_family;
	}
	net_close_keep_errno(fd);
	return type;
}

uint16_t
net_mss(int mtu, int family)
{
	int hdrs = family == AF_INET ? 40 : 60;
	int mss = (mtu > hdrs + 88 ? mtu : 1500) - hdrs;

	return mss > 65535 ? 65535 : (uint16_t)mss;
}

int
net_ifmtu(int ifindex)
{
	struct ifreq ifr;
	int fd, mtu;

	memset(&ifr, 0, sizeof(ifr));
	if (if_indextoname((unsigned)ifindex, ifr.ifr_name) == NULL)
		return -1;
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	mtu = ioctl(fd, SIOCGIFMTU, &ifr) == -1 ? -1 : ifr.ifr_mtu;
	net_close_keep_errno(fd);
	return mtu;
}
