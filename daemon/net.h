/*
 * net.h -- the thin system-call shell around the packet path: the shadow
 * listener that keeps the kernel quiet on our ports, the packet tap that
 * reads their segments, and the raw socket that writes our replies.
 */
#ifndef SG_NET_H
#define SG_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "xsk.h"

/*
 * Open the shadow listener for (family, addr, port): a listening TCP socket
 * whose socket filter (`ret #0`) drops every segment the kernel would hand it,
 * so the kernel sends no SYN-ACK, no cookie and no RST for the port; segments
 * of established sockets are unaffected. Returns the fd or -1 (errno).
 */
int net_shadow_open(int family, const uint8_t addr[16], uint16_t port,
    char *err, size_t errlen);

/* A packet tap: its socket, and its receive ring if it has one. */
struct sg_tap {
	int fd;
	uint8_t *ring;        /* NULL: no ring */
	size_t ring_size;
	uint32_t cur;         /* the block being read */
	uint32_t left;        /* its frames not read yet; 0: none open */
	uint32_t off;         /* where the next one starts in it */
};

/*
 * Open the packet tap: AF_PACKET, SOCK_DGRAM (frames start at the IP header,
 * SG_LINK_IP), all interfaces, non-blocking, with a cBPF filter that passes
 * only incoming (not PACKET_OUTGOING) IPv4/IPv6 TCP segments whose
 * destination port is one of ports[] (and IPv6 packets whose first next
 * header is an extension header, for user space to count and drop).
 * fanout_id >= 0 joins the tap to that PACKET_FANOUT group (hash mode: all
 * segments of one connection reach the same worker); NET_FANOUT_NEW makes a
 * new group with an id no other group in the network namespace has (read
 * it with net_tap_fanout, for the other taps to join), or fails with
 * EOPNOTSUPP on a kernel that cannot pick one (before Linux 4.12); -1 for
 * none.
 *
 * batch_ms > 0 gives it a TPACKET_V3 receive ring (NET_TAP_RING_BLOCKS
 * blocks of NET_TAP_RING_BLOCK bytes, mapped): the kernel copies frames in
 * and wakes the reader when a block is full or at most batch_ms after a
 * frame arrived, so one wake-up and no system call serve a whole batch.
 * 0: no ring, frames are read with one system call per batch (recvmmsg) as
 * they come. Fills *tap; 0, or -1 (errno) with nothing left open.
 */
int net_tap_open(struct sg_tap *tap, const uint16_t *ports, size_t nports,
    int fanout_id, unsigned batch_ms, char *err, size_t errlen);
void net_tap_close(struct sg_tap *tap);
#define NET_FANOUT_NEW (-2)

/* The id of the fanout group the tap is in, or -1 (errno). */
int net_tap_fanout(int fd);

/* Replace the tap's filter with one for a new port list (reload); the
 * kernel swaps filters atomically. 0 or -1 (errno). */
int net_tap_set_ports(int fd, const uint16_t *ports, size_t nports);

/* Let the tap take nothing until net_tap_set_ports gives it a port list
 * again (a filter that drops every frame; frames already taken stay to be
 * read). 0 or -1 (errno). */
int net_tap_pause(int fd);

/* Frames the kernel dropped because the tap's buffer was full, since the
 * last call (PACKET_STATISTICS); -1 on error. */
int64_t net_tap_drops(int fd);

/* Most ports one tap filters (cBPF conditional jumps reach 255 ahead). */
#define NET_TAP_MAX_PORTS 128
/* Bytes of a segment the tap keeps: a full lo-sized (64 KiB MTU) segment;
 * larger (GRO-merged) frames are cut and flagged truncated. */
#define NET_TAP_SNAPLEN 65536
/* Most frames one net_tap_read call returns (its state lives on the stack). */
#define NET_TAP_BATCH 64
/* The receive ring: a block holds the largest frame, and 64 of them ride
 * out a worker stalled for 64 batches. */
#define NET_TAP_RING_BLOCK (128 * 1024)
#define NET_TAP_RING_BLOCKS 64

/* One frame read from the tap. */
struct sg_frame {
	uint8_t *data;
	uint32_t len;
	int ifindex;
	enum sg_csum csum; /* SG_CSUM_TRUSTED if the kernel vouches or the
			      checksum is partial */
	uint8_t truncated; /* the frame was longer than len (buffer or
			      snap length): count it, do not parse it */
	uint8_t halen;     /* bytes of lladdr */
	uint8_t lladdr[8]; /* the link-layer source: the previous hop */
	uint64_t rx_ns;    /* when it arrived, CLOCK_REALTIME; 0: unknown */
};

/*
 * Read up to n frames into the caller's buffers (copied out of the ring,
 * which gets each block back as soon as it is read; or with recvmmsg).
 * frames[i].data must point at a buffer of bufsize bytes. Returns the number
 * read (0 if none is waiting), or -1 (errno) on error. At most
 * NET_TAP_BATCH frames are read per call.
 */
int net_tap_read(struct sg_tap *tap, struct sg_frame *frames, unsigned n,
    size_t bufsize);

/* Interfaces one sender keeps an AF_XDP socket for. */
#define NET_TX_XSK 4

/* How long an interface whose AF_XDP socket failed is sent to another
 * way before it is tried again; a busy queue, sooner. */
#define NET_TX_XSK_RETRY_MS 60000
#define NET_TX_XSK_BUSY_MS 1000

/* The sending sockets: raw ones for IPv4 and IPv6 (IPPROTO_RAW: we write
 * the IP header; either may be -1 if that family is unused), an AF_PACKET
 * one, and AF_XDP ones per interface. */
struct sg_tx {
	int fd4;
	int fd6;
	int fdll; /* AF_PACKET SOCK_DGRAM: replies straight to a previous hop */
	/* With net_tx_xdp(): replies to a hop leave through an AF_XDP socket
	 * of their interface (xsk.h), opened at its first reply, on queue
	 * xdp_queue; AF_PACKET when it cannot be had (see net_tx_xdp). */
	bool xdp;
	unsigned xdp_queue;
	struct sg_tx_slot {
		struct sg_xsk x;       /* x.fd -1: not open */
		int ifindex;           /* the interface it serves or failed
					  for last */
		uint64_t retry_ms;     /* failed: not before then; 0 */
		int err;               /* how it last failed (busy aside) */
		bool busy, busy_said;  /* its queue was busy; and it was said */
	} xsk[NET_TX_XSK];
	uint64_t xdp_sent;             /* packets put on AF_XDP rings */
	uint64_t xdp_missed;           /* xdp on, sent through AF_PACKET */
	uint64_t xdp_lost;             /* on a ring when its socket closed */
	uint64_t xdp_bytes;            /* the open sockets' regions (read by
					  other threads: atomic) */
	int xdp_err;                   /* the last failure's errno, for the */
	int xdp_err_ifindex;           /* caller to report; 0: none new */
};

/* Where a reply goes at the link layer: back out of the interface its
 * segment came in on, to the hop it came from. */
struct sg_hop {
	int ifindex;
	uint8_t halen;
	uint8_t lladdr[8];
};

/* A sender with nothing open (net_tx_close does nothing to it). */
void net_tx_init(struct sg_tx *tx);
int net_tx_open(struct sg_tx *tx, char *err, size_t errlen);
void net_tx_close(struct sg_tx *tx);

/*
 * Send replies to a hop through AF_XDP sockets on queue `queue` of their
 * interfaces (on), or only through the AF_PACKET socket (off: closes them).
 * An interface that is not Ethernet, has no such queue, or whose socket
 * cannot be had for another reason is sent to through AF_PACKET, and tried
 * again NET_TX_XSK_RETRY_MS later (NET_TX_XSK_BUSY_MS for a first busy
 * queue, at once for an interface that is gone), or at the next call of
 * this (a reload);
 * tx->xdp_err and xdp_err_ifindex say why, when it is not what they said
 * for that interface last time (the caller clears xdp_err_ifindex).
 */
void net_tx_xdp(struct sg_tx *tx, bool on, unsigned queue);

/* Read the AF_XDP sockets' interface addresses again and send what their
 * rings still hold; close those whose interface is gone or that failed. */
void net_tx_refresh(struct sg_tx *tx);

/*
 * Send one IP packet built by codec_build to its destination (taken from
 * its header). 0, or -1 with errno: EAGAIN when the socket buffer is full
 * (count a drop), EINVAL for a packet that is not a plausible IP packet,
 * EAFNOSUPPORT when that family's socket is not open.
 */
int net_tx_send(struct sg_tx *tx, const uint8_t *pkt, size_t len);

/* Most packets one net_tx_send_batch call sends. */
#define NET_TX_BATCH 64

/*
 * Send up to n packets (at most NET_TX_BATCH) with sendmmsg, one system call
 * per run of packets of the same family. Returns how many of the first
 * packets were sent (stopping at the first failure), or -1 (errno) if the
 * first one failed.
 */
int net_tx_send_batch(struct sg_tx *tx, const uint8_t *const *pkts,
    const size_t *lens, unsigned n);

/*
 * Send up to n packets (at most NET_TX_BATCH) each to its hop: no route
 * lookup, no netfilter, the reply leaves by the interface and to the
 * neighbour its segment came from (what an anycast or ECMP node wants).
 * Through the interface's AF_XDP socket if net_tx_xdp() is on and it has
 * one, else with one sendmmsg on the AF_PACKET socket. Returns how many of
 * the first packets were sent, or -1 (errno) if the first one failed.
 */
int net_tx_send_hops(struct sg_tx *tx, const uint8_t *const *pkts,
    const size_t *lens, const struct sg_hop *hops, unsigned n);

/*
 * Read the host's IPv4 (SIOCGIFCONF) and IPv6 (/proc/net/if_inet6)
 * addresses into *set, without netlink. 0, or -1 if neither could be read
 * (then *set is empty).
 */
int net_local_addrs(struct sg_addrset *set);

/* The MTU of an interface (cached by the caller); -1 on error. */
int net_ifmtu(int ifindex);

/* The MSS to offer over an MTU, as the kernel's advmss: the MTU less the
 * IP and TCP headers of family, at most 65535; an MTU that could not be
 * read (-1) or is too small to be true is taken as 1500. The workers and
 * the XDP program must offer the same. */
uint16_t net_mss(int mtu, int family);

/* An interface's link-layer address (its first 6 bytes) and its type
 * (ARPHRD_ETHER, ARPHRD_LOOPBACK, ...), or -1 with errno. */
int net_ifhwaddr(int ifindex, uint8_t mac[6]);

#endif
