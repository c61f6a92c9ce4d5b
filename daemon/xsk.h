/*
 * xsk.h -- an AF_XDP socket that only sends, in copy mode: a worker's
 * replies out of one Ethernet interface, through one of its queues.
 *
 * sendmmsg on an AF_PACKET socket parses a message header, an address and
 * an iovec for every packet, builds its link header and runs the flow
 * dissector over it. Here the packets are written whole (the Ethernet
 * header too) into a region shared with the kernel, their descriptors into
 * a ring, and one sendto() asks the kernel to send what the ring holds: it
 * copies each into a socket buffer (or attaches the chunk, for drivers that
 * take no linear data) and gives it straight to the driver. No program is
 * attached, and the kernel's own traffic keeps using the queue; but no
 * other AF_XDP socket can bind it while this one is open. It needs
 * CAP_NET_RAW, in the network namespace's user namespace, and locked memory
 * for the region (RLIMIT_MEMLOCK). What it skips, as AF_PACKET's qdisc
 * bypass does: the interface's qdisc and egress hooks, and the packet taps
 * (tcpdump on the interface does not see what leaves this way).
 */
#ifndef SG_XSK_H
#define SG_XSK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sg_hop;

/* Chunks of the shared region, and entries of each ring. 2048 bytes is
 * the smallest chunk AF_XDP takes; 256 of them lock 512 KiB. */
#define XSK_FRAMES 256
#define XSK_CHUNK 2048

/* Largest IP packet one chunk holds behind its Ethernet header. */
#define XSK_MAX_PACKET (XSK_CHUNK - 14)

struct sg_xsk {
	int fd; /* -1: closed */
	int ifindex;
	uint8_t mac[6]; /* the interface's: the frames' source */
	bool broken;    /* the socket failed: close it */
	int error;      /* how (errno) */
	uint8_t *umem;
	void *txmap, *cqmap;
	size_t txmap_len, cqmap_len;
	uint32_t *tx_prod, *tx_cons, *cq_prod, *cq_cons;
	void *tx_desc;      /* struct xdp_desc[XSK_FRAMES] */
	uint64_t *cq_addr;  /* [XSK_FRAMES] */
	uint32_t tx_head;   /* our producer index on the TX ring */
	uint32_t cq_tail;   /* our consumer index on the completion ring */
	unsigned nfree;
	uint16_t free[XSK_FRAMES]; /* chunks the kernel gave back */
};

/*
 * Open a sending AF_XDP socket on an Ethernet interface's queue. 0, or -1
 * with errno: ENOTSUP when the interface is not Ethernet (loopback
 * included), EPROTONOSUPPORT when the kernel has no AF_XDP, EINVAL when the
 * interface has no such queue, EBUSY when another AF_XDP socket holds it,
 * ENOBUFS when the region exceeds RLIMIT_MEMLOCK, EPERM without
 * CAP_NET_RAW.
 */
int xsk_open(struct sg_xsk *x, int ifindex, unsigned queue);
void xsk_close(struct sg_xsk *x);

/* Read the interface's address again (it may change), 0 or -1. */
int xsk_refresh(struct sg_xsk *x);

/*
 * Send up to n IP packets, each behind an Ethernet header to hops[i] (all of
 * this socket's interface). Returns how many of the first packets went to
 * the kernel: fewer than n when a packet cannot go this way (longer than
 * XSK_MAX_PACKET, not IPv4 or IPv6, a hop without a 6-byte address), when
 * the kernel has not yet given back enough chunks, or when the socket
 * failed (the interface went away or down, or the queue has no sending
 * side: then x->broken and x->error are set, and the socket is to be
 * closed). The packets from the count on are the caller's to send another
 * way. A packet counted is on the ring: sent at once, or, when the driver's
 * queue is full, by a later call of this or of xsk_flush.
 */
int xsk_send(struct sg_xsk *x, const uint8_t *const *pkts,
    const size_t *lens, const struct sg_hop *hops, unsigned n);

/* Send what an earlier call left on the ring, if anything: 0, or -1 when
 * the socket failed (x->broken). */
int xsk_flush(struct sg_xsk *x);

/* Frames on the ring the kernel has not taken yet: lost if it closes. */
unsigned xsk_unsent(const struct sg_xsk *x);

#endif
