/*
 * synguard/handoff.h -- how synguard hands a TCP connection to a backend.
 *
 * This header is public and self-contained (C99 or later, Linux): a
 * backend includes it and needs nothing else from synguard. Like any program
 * that uses sockets it needs the POSIX.1-2008 declarations: compile with
 * -D_POSIX_C_SOURCE=200809L (or _DEFAULT_SOURCE, _GNU_SOURCE) under a strict
 * -std=c99.
 *
 * The protocol
 * ------------
 * The BACKEND listens on an AF_UNIX SOCK_SEQPACKET socket at a path of its
 * choosing (so systemd can create that socket and socket-activate the
 * backend); synguard's backend pool CONNECTS to it, and reconnects with
 * backoff whenever the connection is lost. synguard may open several such
 * connections to one backend (one per worker thread): accept them all.
 *
 * Over a connection, synguard sends one message per TCP connection it hands
 * on, and nothing else. A message is exactly one struct sg_handoff_hdr as its
 * data and exactly one file descriptor as SCM_RIGHTS ancillary data: an
 * ESTABLISHED, non-blocking TCP socket whose handshake synguard completed.
 * From then on the socket belongs to the backend, which reads and writes it
 * like any accept()ed socket. The backend never writes to the Unix socket;
 * when synguard closes its end the backend reads end-of-file.
 *
 * synguard closes its own copy of the fd just after sending it, so for a
 * moment both processes hold the socket. A backend that polls handed-on
 * fds with epoll must therefore remove an fd from its epoll set
 * (EPOLL_CTL_DEL) before closing it: close() alone leaves the registration
 * in place while another copy of the file exists, and a later event would
 * then name a connection the backend has already freed.
 *
 * SOCK_SEQPACKET keeps message boundaries, so a header can never be split
 * or merged with the next one, and it tells both ends when the other goes.
 *
 * A backend's accept loop, blocking and for one synguard connection (see
 * examples/echo-backend.c for many connections with epoll):
 *
 *	int l = sg_handoff_listen_fds();	// systemd socket activation
 *	if (l == -1)
 *		l = sg_handoff_listen("/run/mysvc/handoff.sock");
 *	int c = accept(l, NULL, NULL);
 *	struct sg_handoff_hdr h;
 *	for (;;) {
 *		int fd = sg_handoff_recv(c, &h);
 *		if (fd >= 0)
 *			serve(fd, &h);		// an accept()ed TCP socket
 *		else if (errno != EPROTO && errno != EINTR)
 *			break;			// synguard went away: accept again
 *	}
 *
 * The header
 * ----------
 * All integers are in HOST byte order (both ends run on the same host),
 * except the addresses, which are in network byte order as in struct
 * in_addr / in6_addr. The layout is fixed; any change to it changes
 * SG_HANDOFF_VERSION, and a receiver must reject a version it does not
 * know (sg_handoff_recv does). Padding is explicit and always zero.
 *
 *	offset size field
 *	     0    4 magic          SG_HANDOFF_MAGIC
 *	     4    2 version        SG_HANDOFF_VERSION
 *	     6    2 hdr_size       sizeof(struct sg_handoff_hdr) = 72
 *	     8    1 family         AF_INET or AF_INET6
 *	     9    1 pad0
 *	    10    2 flags          SG_HANDOFF_F_*
 *	    12    2 peer_port      the client's port
 *	    14    2 local_port     the port the client connected to
 *	    16   16 peer_addr      the client's address; IPv4 in the first 4
 *	    32   16 local_addr     the address the client connected to
 *	    48    2 peer_mss       MSS the client announced (536 if none,
 *	                           RFC 9293 3.7.1)
 *	    50    2 local_mss      MSS synguard announced
 *	    52    1 peer_wscale    client's window shift (if F_WSCALE)
 *	    53    1 local_wscale   synguard's window shift (if F_WSCALE)
 *	    54    2 pad1
 *	    56    4 handshake_us   microseconds from the first SYN seen to the
 *	                           segment that completed the handshake
 *	                           (saturates at UINT32_MAX); 0 if unknown,
 *	                           as with a SYN cookie, where the SYN left
 *	                           no trace
 *	    60    4 early_data     bytes that arrived with the completing
 *	                           segment, already in the socket's receive
 *	                           queue
 *	    64    8 conn_id        unique per synguard instance, for logs
 */
#ifndef SYNGUARD_HANDOFF_H
#define SYNGUARD_HANDOFF_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define SG_HANDOFF_MAGIC 0x31484753u /* "SGH1" in little-endian memory */
#define SG_HANDOFF_VERSION 1

/* Bits of sg_handoff_hdr.flags. */
#define SG_HANDOFF_F_COOKIE 0x0001 /* completed through a SYN cookie
				      (RFC 4987 3.6): no SYN-ACK retransmit
				      state existed */
#define SG_HANDOFF_F_WSCALE 0x0002 /* window scaling on (RFC 7323 2) */
#define SG_HANDOFF_F_SACK 0x0004   /* SACK permitted (RFC 2018) */
#define SG_HANDOFF_F_TS 0x0008     /* timestamps on (RFC 7323 3) */

struct sg_handoff_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;
	uint8_t family;
	uint8_t pad0;
	uint16_t flags;
	uint16_t peer_port;
	uint16_t local_port;
	uint8_t peer_addr[16];
	uint8_t local_addr[16];
	uint16_t peer_mss;
	uint16_t local_mss;
	uint8_t peer_wscale;
	uint8_t local_wscale;
	uint8_t pad1[2];
	uint32_t handshake_us;
	uint32_t early_data;
	uint64_t conn_id;
};

#define SG_HANDOFF_HDR_SIZE 72

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct sg_handoff_hdr) == SG_HANDOFF_HDR_SIZE,
    "struct sg_handoff_hdr is part of the wire format");
_Static_assert(offsetof(struct sg_handoff_hdr, conn_id) == 64,
    "conn_id must stay 8-byte aligned at offset 64");
#else
typedef char sg_handoff_hdr_size_check
    [sizeof(struct sg_handoff_hdr) == SG_HANDOFF_HDR_SIZE ? 1 : -1];
#endif

/* The most descriptors one message may carry before it is refused whole:
 * room for more than one, so that extra ones are received and closed
 * instead of being cut off by the kernel. */
#define SG_HANDOFF_MAX_FDS 8

/* Close every descriptor carried by the control messages of m. */
static inline void
sg_handoff_close_fds_(struct msghdr *m)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			close(fd);
		}
	}
}

/*
 * Receive one handed-on connection from synguard on sock (a connection
 * accepted on the backend's listening socket). On success, fill *hdr and
 * return the connection's fd (close-on-exec, non-blocking). Otherwise
 * return -1 with errno:
 *   EAGAIN    sock is non-blocking and no message is waiting;
 *   ECONNRESET synguard closed this connection: close sock;
 *   EPROTO    a malformed message (wrong size, magic, version or family,
 *             not exactly one fd) was received and discarded, with every
 *             fd it carried closed; the connection is still usable;
 *   other     from recvmsg(2).
 * No descriptor is ever leaked.
 */
static inline int
sg_handoff_recv(int sock, struct sg_handoff_hdr *hdr)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SG_HANDOFF_MAX_FDS * sizeof(int))];
	} ctl;
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1, nfds = 0, flags = 0;

#ifdef MSG_CMSG_CLOEXEC
	flags |= MSG_CMSG_CLOEXEC;
#endif
	memset(&m, 0, sizeof(m));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = hdr;
	iov.iov_len = sizeof(*hdr);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);

	do
		n = recvmsg(sock, &m, flags);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0 && m.msg_controllen == 0) {
		errno = ECONNRESET;
		return -1;
	}

	for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (nfds == 1 && fd == -1)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	}

	/* MSG_CTRUNC: the kernel dropped descriptors that did not fit, so
	 * this message carried more than we allow; MSG_TRUNC: more data than
	 * one header. Either way it is not ours to trust. */
	if ((m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0 || nfds != 1 ||
	    (size_t)n != sizeof(*hdr) || hdr->magic != SG_HANDOFF_MAGIC ||
	    hdr->version != SG_HANDOFF_VERSION ||
	    hdr->hdr_size != sizeof(*hdr) ||
	    (hdr->family != AF_INET && hdr->family != AF_INET6)) {
		sg_handoff_close_fds_(&m);
		errno = EPROTO;
		return -1;
	}
#ifndef MSG_CMSG_CLOEXEC
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
	return fd;
}

/*
 * Create the backend's listening socket at path: AF_UNIX SOCK_SEQPACKET,
 * close-on-exec. A file already at path is removed only if it is a socket
 * that nobody listens on any more (left by a previous run); a live one makes
 * this fail with EADDRINUSE. Returns the fd, or -1 with errno.
 */
static inline int
sg_handoff_listen(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, probe, err;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		probe = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (probe == -1)
			return -1;
		err = connect(probe, (struct sockaddr *)&sun, sizeof(sun));
		close(probe);
		if (err == 0) {
			errno = EADDRINUSE;
			return -1;
		}
		if (errno == ECONNREFUSED)
			unlink(path);
	}

	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (fd == -1)
		return -1;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/*
 * The listening socket systemd passed by socket activation
 * (sd_listen_fds(3): LISTEN_PID is us and LISTEN_FDS >= 1; the first fd is
 * 3), if it is a listening AF_UNIX SOCK_SEQPACKET socket. Returns it, or -1
 * if there is none (then call sg_handoff_listen).
 */
static inline int
sg_handoff_listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *nfds = getenv("LISTEN_FDS");
	struct sockaddr_un sun;
	socklen_t len;
	int type = 0, acc = 0;

	if (pid == NULL || nfds == NULL ||
	    strtol(pid, NULL, 10) != (long)getpid() ||
	    strtol(nfds, NULL, 10) < 1)
		return -1;
	len = sizeof(type);
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_SEQPACKET)
		return -1;
	len = sizeof(acc);
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 ||
	    acc == 0)
		return -1;
	len = sizeof(sun);
	if (getsockname(3, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX)
		return -1;
	(void)fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

#endif
