/*
 * xsk.c -- an AF_XDP socket that only sends (see xsk.h).
 *
 * The region holds XSK_FRAMES chunks; a chunk is ours from the moment the
 * kernel lists it in the completion ring (it is done with the frame) until
 * we write a frame into it and put its descriptor on the TX ring. The rings'
 * indices run freely and wrap; the kernel's are read with acquire and ours
 * published with release, as the kernel's own xsk_queue.h pairs them.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <net/if.h>
#include <net/if_arp.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_xdp.h>

#include "net.h"
#include "xsk.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define MASK (XSK_FRAMES - 1)

/* The interface's address, if it is an Ethernet interface (not
 * loopback). 0, or -1 (errno ENOTSUP for any other kind). */
static int
ether_addr(int ifindex, uint8_t mac[6])
{
	int type = net_ifhwaddr(ifindex, mac);

	if (type == -1)
		return -1;
	if (type != ARPHRD_ETHER) {
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

int
xsk_open(struct sg_xsk *x, int ifindex, unsigned queue)
{
	struct xdp_umem_reg reg;
	struct xdp_mmap_offsets off;
	struct sockaddr_xdp sa;
	socklen_t offlen = sizeof(off);
	int ring = XSK_FRAMES, one = 1;
	size_t size = (size_t)XSK_FRAMES * XSK_CHUNK;

	memset(x, 0, sizeof(*x));
	x->fd = -1;
	x->umem = MAP_FAILED;
	x->txmap = x->cqmap = MAP_FAILED;
	x->ifindex = ifindex;
	if (ether_addr(ifindex, x->mac) == -1)
		return -1;
	x->umem = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x->umem == MAP_FAILED)
		goto fail;
	if ((x->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0)) == -1) {
		if (errno == EAFNOSUPPORT)
			errno = EPROTONOSUPPORT;
		goto fail;
	}
	memset(&reg, 0, sizeof(reg));
	reg.addr = (uint64_t)(uintptr_t)x->umem;
	reg.len = size;
	reg.chunk_size = XSK_CHUNK;
	/* bind() wants a fill ring, which only receiving uses: the smallest,
	 * never mapped. */
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) == -1 ||
	    setsockopt(x->fd, SOL_XDP, XDP_UMEM_FILL_RING, &one,
	    sizeof(one)) == -1 ||
	    setsockopt(x->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring,
	    sizeof(ring)) == -1 ||
	    setsockopt(x->fd, SOL_XDP, XDP_TX_RING, &ring, sizeof(ring)) == -1 ||
	    getsockopt(x->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &offlen) == -1)
		goto fail;
	x->txmap_len = off.tx.desc + (size_t)XSK_FRAMES *
	    sizeof(struct xdp_desc);
	x->txmap = mmap(NULL, x->txmap_len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, x->fd, XDP_PGOFF_TX_RING);
	if (x->txmap == MAP_FAILED)
		goto fail;
	x->cqmap_len = off.cr.desc + (size_t)XSK_FRAMES * sizeof(uint64_t);
	x->cqmap = mmap(NULL, x->cqmap_len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, x->fd, XDP_UMEM_PGOFF_COMPLETION_RING);
	if (x->cqmap == MAP_FAILED)
		goto fail;
	x->tx_prod = (uint32_t *)((uint8_t *)x->txmap + off.tx.producer);
	x->tx_cons = (uint32_t *)((uint8_t *)x->txmap + off.tx.consumer);
	x->tx_desc = (uint8_t *)x->txmap + off.tx.desc;
	x->cq_prod = (uint32_t *)((uint8_t *)x->cqmap + off.cr.producer);
	x->cq_cons = (uint32_t *)((uint8_t *)x->cqmap + off.cr.consumer);
	x->cq_addr = (uint64_t *)(void *)((uint8_t *)x->cqmap + off.cr.desc);

	memset(&sa, 0, sizeof(sa));
	sa.sxdp_family = AF_XDP;
	sa.sxdp_ifindex = (uint32_t)ifindex;
	sa.sxdp_queue_id = queue;
	sa.sxdp_flags = XDP_COPY;
	if (bind(x->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		goto fail;
	/* A frame's socket buffer counts against the send buffer until the
	 * driver is done with it: room for every chunk at once, if we may
	 * (CAP_NET_ADMIN), else the default, and a little waiting. */
	int sndbuf = XSK_FRAMES * 4096;
	(void)setsockopt(x->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
	    sizeof(sndbuf));
	x->tx_head = __atomic_load_n(x->tx_prod, __ATOMIC_RELAXED);
	x->cq_tail = __atomic_load_n(x->cq_cons, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < XSK_FRAMES; i++)
		x->free[i] = (uint16_t)(XSK_FRAMES - 1 - i);
	x->nfree = XSK_FRAMES;
	return 0;
fail:;
	int e = errno;
	xsk_close(x);
	errno = e;
	return -1;
}

void
xsk_close(struct sg_xsk *x)
{
	if (x->txmap != MAP_FAILED && x->txmap != NULL)
		munmap(x->txmap, x->txmap_len);
	if (x->cqmap != MAP_FAILED && x->cqmap != NULL)
		munmap(x->cqmap, x->cqmap_len);
	if (x->fd != -1)
		close(x->fd);
	if (x->umem != MAP_FAILED && x->umem != NULL)
		munmap(x->umem, (size_t)XSK_FRAMES * XSK_CHUNK);
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

int
xsk_refresh(struct sg_xsk *x)
{
	return ether_addr(x->ifindex, x->mac);
}

/* Take back the chunks the kernel has sent. An address that is not one of
 * our chunks' (it never is) is ignored rather than trusted. */
static void
reap(struct sg_xsk *x)
{
	uint32_t prod = __atomic_load_n(x->cq_prod, __ATOMIC_ACQUIRE);

	while (x->cq_tail != prod) {
		uint64_t a = x->cq_addr[x->cq_tail & MASK];
		x->cq_tail++;
		if (a % XSK_CHUNK == 0 && a / XSK_CHUNK < XSK_FRAMES &&
		    x->nfree < XSK_FRAMES)
			x->free[x->nfree++] = (uint16_t)(a / XSK_CHUNK);
	}
	__atomic_store_n(x->cq_cons, x->cq_tail, __ATOMIC_RELEASE);
}

/*
 * Ask the kernel to send what the TX ring holds: 0, or -1 with errno when
 * the socket failed. In copy mode one sendto() sends a few dozen frames at
 * most and says EAGAIN while more wait; older kernels publish their
 * consumer index only once they have caught up, so progress cannot be told
 * on the way: ask again, a whole ring's worth of times at most. EBUSY: the
 * driver dropped one, which counts as sent (a full NIC queue drops too).
 * Frames a stopped driver queue leaves wait for the next call.
 */
static int
kick(struct sg_xsk *x)
{
	for (unsigned tries = 0; tries < XSK_FRAMES / 16 + 2; tries++) {
		if (__atomic_load_n(x->tx_cons, __ATOMIC_ACQUIRE) == x->tx_head)
			return 0;
		ssize_t r = sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
		if (r > 0)
			continue; /* NET_XMIT_CN from a congested driver */
		if (r == 0) {
			/* Done, yet frames left and no error: a queue with
			 * no sending side (bind takes any below the number
			 * of receive queues, which may be more). */
			if (__atomic_load_n(x->tx_cons, __ATOMIC_ACQUIRE) !=
			    x->tx_head) {
				errno = EINVAL;
				return -1;
			}
			return 0;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EBUSY &&
		    errno != ENOBUFS)
			return -1;
	}
	return 0;
}

/* The socket failed: say so and how. */
static void
fail_with(struct sg_xsk *x, int err)
{
	x->broken = true;
	x->error = err;
}

int
xsk_send(struct sg_xsk *x, const uint8_t *const *pkts, const size_t *lens,
    const struct sg_hop *hops, unsigned n)
{
	struct xdp_desc *ring = x->tx_desc;
	uint32_t start = x->tx_head;
	unsigned i;

	if (x->fd == -1 || x->broken)
		return 0;
	reap(x);
	for (i = 0; i < n && x->nfree > 0; i++) {
		unsigned version = lens[i] > 0 ? pkts[i][0] >> 4 : 0;
		if ((version != 4 && version != 6) || hops[i].halen != 6 ||
		    lens[i] > XSK_MAX_PACKET)
			break;
		uint16_t c = x->free[--x->nfree];
		uint8_t *f = x->umem + (size_t)c * XSK_CHUNK;
		memcpy(f, hops[i].lladdr, 6);
		memcpy(f + 6, x->mac, 6);
		f[12] = version == 4 ? 0x08 : 0x86;
		f[13] = version == 4 ? 0x00 : 0xdd;
		memcpy(f + 14, pkts[i], lens[i]);
		struct xdp_desc *d = &ring[x->tx_head & MASK];
		d->addr = (uint64_t)c * XSK_CHUNK;
		d->len = (uint32_t)(14 + lens[i]);
		d->options = 0;
		x->tx_head++;
	}
	if (i > 0)
		__atomic_store_n(x->tx_prod, x->tx_head, __ATOMIC_RELEASE);
	/* Even with nothing new: frames an earlier call left wait for it. */
	if (kick(x) == -1) {
		/* What the kernel took of these is sent, the rest is the
		 * caller's; older frames still on the ring are lost. (An
		 * older kernel that had taken frames but not yet said so
		 * when the interface went away makes us hand back a few it
		 * sent: they go twice, which a client takes as a duplicate
		 * SYN-ACK.) */
		fail_with(x, errno);
		int32_t took = (int32_t)(__atomic_load_n(x->tx_cons,
		    __ATOMIC_ACQUIRE) - start);
		took = took < 0 ? 0 : took > (int32_t)i ? (int32_t)i : took;
		/* The socket is closed next: forget the frames handed back,
		 * so that xsk_unsent counts only the lost ones. */
		x->tx_head = start + (uint32_t)took;
		return (int)took;
	}
	return (int)i;
}

int
xsk_flush(struct sg_xsk *x)
{
	if (x->fd == -1 || x->broken)
		return 0;
	reap(x);
	if (kick(x) == -1) {
		fail_with(x, errno);
		return -1;
	}
	return 0;
}

unsigned
xsk_unsent(const struct sg_xsk *x)
{
	if (x->fd == -1)
		return 0;
	return x->tx_head - __atomic_load_n(x->tx_cons, __ATOMIC_ACQUIRE);
}
