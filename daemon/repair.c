/*
 * repair.c -- materializing: a handshake synguard completed becomes an
 * ordinary ESTABLISHED kernel socket, built with TCP_REPAIR (the interface
 * CRIU restores connections with), carrying the sequence numbers, options,
 * windows and timestamp clock that the client already agreed to.
 *
 * The kernel sends nothing while a socket is in repair mode: connect() only
 * moves it to ESTABLISHED. The one segment this module makes the kernel send
 * is an ACK at the end (see repair_leave).
 *
 * Never: set SO_REUSEADDR on a socket still in repair mode (it replaces the
 * "force reuse" that TCP_REPAIR=1 set, and bind() beside the shadow listener
 * then fails with EADDRINUSE); create a second socket for a 4-tuple (the
 * kernel's established-hash check in connect() refuses it, and that refusal
 * is passed up, not worked around).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <linux/filter.h>
#include <linux/tcp.h>
#include <netinet/in.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "repair.h"

#ifndef TCPOPT_MAXSEG
#define TCPOPT_MAXSEG 2
#endif
#ifndef TCPOPT_WINDOW
#define TCPOPT_WINDOW 3
#endif
#ifndef TCPOPT_SACK_PERM
#define TCPOPT_SACK_PERM 4
#endif
#ifndef TCPOPT_TIMESTAMP
#define TCPOPT_TIMESTAMP 8
#endif

/* RFC 7323 2.3: a shift above 14 is treated as 14; the kernel refuses
 * larger values with EFBIG. */
#define REPAIR_MAX_WSCALE 14

/* `ret #0`: drops every segment for the socket while it is being built. */
static struct sock_filter repair_hold_insns[] = {
	BPF_STMT(BPF_RET | BPF_K, 0),
};
static const struct sock_fprog repair_hold = { 1, repair_hold_insns };

/* Set one integer TCP option. */
static int
repair_setint(int fd, int opt, int val)
{
	return setsockopt(fd, IPPROTO_TCP, opt, &val, sizeof(val));
}

/* Select a repair queue and set the sequence number it starts at. Only
 * allowed while the socket is still closed (TCP_QUEUE_SEQ needs TCP_CLOSE). */
static int
repair_queue_seq(int fd, int queue, uint32_t seq)
{
	if (repair_setint(fd, TCP_REPAIR_QUEUE, queue) == -1)
		return -1;
	return setsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq));
}

/* Build the local and peer socket addresses of the tuple. */
static int
repair_addrs(const struct sg_tuple *t, struct sockaddr_storage *local,
    struct sockaddr_storage *peer, socklen_t *len)
{
	memset(local, 0, sizeof(*local));
	memset(peer, 0, sizeof(*peer));
	if (t->family == AF_INET) {
		struct sockaddr_in *l = (struct sockaddr_in *)local;
		struct sockaddr_in *p = (struct sockaddr_in *)peer;

		l->sin_family = p->sin_family = AF_INET;
		l->sin_port = htons(t->local_port);
		p->sin_port = htons(t->peer_port);
		memcpy(&l->sin_addr, t->local_addr, 4);
		memcpy(&p->sin_addr, t->peer_addr, 4);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (t->family == AF_INET6) {
		struct sockaddr_in6 *l = (struct sockaddr_in6 *)local;
		struct sockaddr_in6 *p = (struct sockaddr_in6 *)peer;

		l->sin6_family = p->sin6_family = AF_INET6;
		l->sin6_port = htons(t->local_port);
		p->sin6_port = htons(t->peer_port);
		memcpy(&l->sin6_addr, t->local_addr, 16);
		memcpy(&p->sin6_addr, t->peer_addr, 16);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	errno = EAFNOSUPPORT;
	return -1;
}

/*
 * Install the options both sides agreed on. Window scaling is always
 * installed, with zero shifts when it was not agreed: connect() in repair
 * mode leaves the kernel's own choice of receive shift in place (the
 * SYN-SENT code that would clear it never runs), and the socket would then
 * advertise windows shifted by a factor the client never agreed to.
 */
static int
repair_options(int fd, const struct sg_conn_params *p)
{
	struct tcp_repair_opt opts[4];
	unsigned n = 0, snd = 0, rcv = 0;

	opts[n].opt_code = TCPOPT_MAXSEG;
	opts[n++].opt_val = p->peer_mss;
	if (p->optflags & SG_OPT_WSCALE) {
		snd = p->peer_wscale > REPAIR_MAX_WSCALE ? REPAIR_MAX_WSCALE :
		    p->peer_wscale;
		rcv = p->our_wscale > REPAIR_MAX_WSCALE ? REPAIR_MAX_WSCALE :
		    p->our_wscale;
	}
	opts[n].opt_code = TCPOPT_WINDOW;
	opts[n++].opt_val = snd | (rcv << 16);
	if (p->optflags & SG_OPT_SACKOK) {
		opts[n].opt_code = TCPOPT_SACK_PERM;
		opts[n++].opt_val = 0;
	}
	if (p->optflags & SG_OPT_TS) {
		opts[n].opt_code = TCPOPT_TIMESTAMP;
		opts[n++].opt_val = 0;
	}
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts,
	    (socklen_t)(n * sizeof(opts[0])));
}

/*
 * Continue the timestamp clock our SYN-ACK started. The kernel stores
 * tsoffset = val - now (ms) and stamps val + elapsed on each segment, so
 * the next TSval is at least ts_next and the client's PAWS check (RFC 7323
 * 5) accepts it. Since Linux 6.7 the low bit of val selects microsecond
 * timestamps; it is kept clear (milliseconds, as the SYN-ACK used) by
 * rounding up, never down.
 */
static int
repair_timestamp(int fd, const struct sg_conn_params *p)
{
	uint32_t val = (p->ts_next + 1) & ~(uint32_t)1;

	return setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &val, sizeof(val));
}

/*
 * Set the windows. A repaired connect() leaves snd_wnd at 0, so without
 * this the socket could not send until the client happened to update it.
 * Send side: the client's window from the completing segment, scaled by
 * its shift (RFC 7323 2.2; never scaled when scaling was not agreed).
 * Receive side: the window our SYN-ACK offered (unscaled, as SYN windows
 * always are), starting at client_isn + 1; the right edge the client was
 * promised is then honoured. The kernel checks max_window >= snd_wnd,
 * snd_wl1 <= rcv_nxt + rcv_wnd and rcv_wup <= rcv_nxt.
 */
static int
repair_window(int fd, const struct sg_conn_params *p)
{
	struct tcp_repair_window w;
	socklen_t len = sizeof(w);
	uint64_t snd;

	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &len) == -1)
		return -1;
	snd = p->peer_window;
	if (p->optflags & SG_OPT_WSCALE)
		snd <<= p->peer_wscale > REPAIR_MAX_WSCALE ? REPAIR_MAX_WSCALE :
		    p->peer_wscale;
	w.snd_wl1 = p->client_isn + 1;
	w.snd_wnd = snd > UINT32_MAX ? UINT32_MAX : (uint32_t)snd;
	w.max_window = w.snd_wnd;
	w.rcv_wnd = p->our_window;
	w.rcv_wup = p->client_isn + 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w));
}

/*
 * Put the early data (the payload of the completing segment) in the receive
 * queue: in repair mode with the receive queue selected, send() appends to
 * it as if the bytes had arrived (tcp_send_rcvq) and advances rcv_nxt.
 * One call queues at most MAX_SKB_FRAGS pages, so loop.
 */
static int
repair_early_data(int fd, const uint8_t *data, size_t len)
{
	ssize_t w;

	if (repair_setint(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) == -1)
		return -1;
	while (len > 0) {
		w = send(fd, data, len, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOBUFS;
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return repair_setint(fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
}

/*
 * Leave repair mode. TCP_REPAIR_OFF makes the kernel send a window probe
 * (tcp_send_window_probe): a bare ACK with seq = snd_una - 1. The client
 * finds that below its window, drops it unread and answers with a duplicate
 * ACK carrying its current window; the probe's own ACK field is not
 * processed. So with early data queued the probe does not acknowledge it,
 * and the client would have to retransmit after its RTO.
 *
 * Early data is acknowledged instead with an in-window ACK, made from user
 * space: leave repair without the probe (TCP_REPAIR_OFF_NO_WP), then peek
 * at the queued data. tcp_recvmsg's clean-up (tcp_cleanup_rbuf) sends an
 * ACK right away when the window it can now offer is at least twice the
 * one it offered last; repair_window's receive window is set, for this
 * case only, to end exactly at the data (the right edge the client's data
 * reached), so the peek always qualifies. The peek consumes nothing.
 */
static int
repair_leave(int fd, size_t data_len)
{
	char c;

	if (data_len == 0)
		return repair_setint(fd, TCP_REPAIR, TCP_REPAIR_OFF);
	if (repair_setint(fd, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP) == -1)
		return -1;
	if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1)
		return -1;
	return 0;
}

int
repair_materialize(const struct sg_conn_params *p)
{
	struct sockaddr_storage local, peer;
	struct sg_conn_params q;
	socklen_t alen;
	int fd, on = 1;

	if (p == NULL || (p->data_len > 0 && p->data == NULL)) {
		errno = EINVAL;
		return -1;
	}
	if (repair_addrs(&p->tuple, &local, &peer, &alen) == -1)
		return -1;
	q = *p;
	/* With early data, the receive window is made to end at the data so
	 * that repair_leave can make the kernel acknowledge it at once; the
	 * ACK then reopens it to what the buffer allows. */
	if (q.data_len > 0)
		q.our_window = q.data_len > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)q.data_len;

	fd = socket(p->tuple.family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (repair_setint(fd, TCP_REPAIR, TCP_REPAIR_ON) == -1)
		goto fail;
	/* rcv_nxt and snd_nxt as the handshake left them (RFC 9293 3.4):
	 * both ISNs were consumed by the SYNs. */
	if (repair_queue_seq(fd, TCP_RECV_QUEUE, p->client_isn + 1) == -1)
		goto fail;
	if (repair_queue_seq(fd, TCP_SEND_QUEUE, p->our_isn + 1) == -1)
		goto fail;
	if (repair_setint(fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) == -1)
		goto fail;
	if (p->tuple.family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	/* From connect() on, the socket is in the established hash and
	 * would take the client's segments while half-built (repair mode
	 * does not stop input); a drop-all filter holds them off until the
	 * socket is complete. The client retransmits anything dropped. */
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &repair_hold,
	    sizeof(repair_hold)) == -1)
		goto fail;
	/* bind() refusing the address (not, or no longer, ours) is not a
	 * duplicate connection: say ENXIO, so only connect() below reports
	 * the duplicate (EADDRNOTAVAIL). */
	if (bind(fd, (struct sockaddr *)&local, alen) == -1) {
		if (errno == EADDRNOTAVAIL || errno == EADDRINUSE)
			errno = ENXIO;
		goto fail;
	}
	/* In repair mode connect() sends no SYN and goes straight to
	 * ESTABLISHED; it fails with EADDRNOTAVAIL when an established
	 * socket already owns the 4-tuple. */
	if (connect(fd, (struct sockaddr *)&peer, alen) == -1)
		goto fail;
	if (repair_options(fd, p) == -1)
		goto fail;
	if ((p->optflags & SG_OPT_TS) && repair_timestamp(fd, p) == -1)
		goto fail;
	if (repair_window(fd, &q) == -1)
		goto fail;
	if (p->data_len > 0 && repair_early_data(fd, p->data,
	    p->data_len) == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &on,
	    sizeof(on)) == -1)
		goto fail;
	if (repair_leave(fd, p->data_len) == -1)
		goto fail;
	/* Leaving repair mode cleared the socket's reuse flag, and a socket
	 * without it bound to the listen port (its TIME_WAIT too) would keep
	 * a restarted synguard from binding its shadow listener there
	 * (inet_csk_bind_conflict). Out of repair mode, SO_REUSEADDR is
	 * safe. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	return fd;

fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}
