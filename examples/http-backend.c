/*
 * http-backend.c -- a synguard backend that answers every HTTP request with
 * a small page showing what synguard reported about the connection: the
 * client's address and port, whether a SYN cookie completed the handshake,
 * the handshake time and the negotiated options.
 *
 *	http-backend SOCKET_PATH
 *
 * Same skeleton as echo-backend.c: AF_UNIX SOCK_SEQPACKET listener at
 * SOCKET_PATH (or LISTEN_FDS=1 from systemd), sg_handoff_recv() for each
 * handed-on connection, one non-blocking epoll loop. One request per
 * connection ("Connection: close"); the request itself is not parsed beyond
 * finding its end.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <synguard/handoff.h>

#define MAX_EVENTS 64
#define REQ_MAX 8192  /* a longer request head gets a 431 */
#define RESP_MAX 2048

enum kind { LISTENER, CONTROL, CLIENT };
enum state { READING, WRITING, DRAINING };

/* One descriptor in the epoll set; for a client, what synguard said about
 * it, the request read so far and the response being written. */
struct conn {
	enum kind kind;
	int fd;
	enum state state;
	struct sg_handoff_hdr hdr;
	char req[REQ_MAX];
	size_t reqlen;
	char resp[RESP_MAX];
	size_t resplen, respoff;
};

static int ep;

/* Add fd to the epoll set as kind; NULL on failure (fd is closed). */
static struct conn *
conn_add(int fd, enum kind kind)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return NULL;
	}
	c->kind = kind;
	c->fd = fd;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		perror("epoll_ctl");
		close(fd);
		free(c);
		return NULL;
	}
	return c;
}

static void
conn_close(struct conn *c)
{
	/* Out of the epoll set first: synguard may still hold its copy of a
	 * handed-on fd for a moment, and close() alone leaves the
	 * registration alive while any copy exists. */
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void
conn_want(struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	(void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* synguard connected to our socket: watch the new control connection. */
static void
on_listener(struct conn *c)
{
	int fd;

	while ((fd = accept4(c->fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1)
		(void)conn_add(fd, CONTROL);
}

/* Handed-on connections arrive, each with its header. */
static void
on_control(struct conn *c)
{
	struct sg_handoff_hdr hdr;
	struct conn *cl;
	int fd;

	for (;;) {
		fd = sg_handoff_recv(c->fd, &hdr);
		if (fd >= 0) {
			if ((cl = conn_add(fd, CLIENT)) != NULL)
				cl->hdr = hdr;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (errno == EPROTO) {
			fprintf(stderr, "http-backend: bad handoff message\n");
			continue;
		}
		conn_close(c);
		return;
	}
}

/* "198.18.0.1:40000" or "[fd00::1]:40000" from the header's fields. */
static void
format_endpoint(int family, const uint8_t addr[16], uint16_t port,
    char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, addr, a, sizeof(a));
	snprintf(out, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
	    (unsigned)port);
}

/* The page for this connection, with its HTTP head, into c->resp. */
static void
build_response(struct conn *c, int status)
{
	const struct sg_handoff_hdr *h = &c->hdr;
	char peer[64], local[64], body[1024];
	int n;

	format_endpoint(h->family, h->peer_addr, h->peer_port, peer,
	    sizeof(peer));
	format_endpoint(h->family, h->local_addr, h->local_port, local,
	    sizeof(local));
	n = snprintf(body, sizeof(body),
	    "<!doctype html>\n<title>synguard</title>\n"
	    "<h1>Hello, %s</h1>\n<ul>\n"
	    "<li>connected to %s</li>\n"
	    "<li>SYN cookie: %s</li>\n"
	    "<li>handshake: %u us</li>\n"
	    "<li>MSS: yours %u, ours %u; window scaling: %s; SACK: %s; "
	    "timestamps: %s</li>\n"
	    "<li>connection %llu, %u bytes of early data</li>\n</ul>\n",
	    peer, local, (h->flags & SG_HANDOFF_F_COOKIE) ? "yes" : "no",
	    (unsigned)h->handshake_us, (unsigned)h->peer_mss,
	    (unsigned)h->local_mss,
	    (h->flags & SG_HANDOFF_F_WSCALE) ? "on" : "off",
	    (h->flags & SG_HANDOFF_F_SACK) ? "on" : "off",
	    (h->flags & SG_HANDOFF_F_TS) ? "on" : "off",
	    (unsigned long long)h->conn_id, (unsigned)h->early_data);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	if (status != 200)
		n = snprintf(body, sizeof(body), "request too large\n");
	c->resplen = (size_t)snprintf(c->resp, sizeof(c->resp),
	    "HTTP/1.1 %d %s\r\nContent-Type: text/%s; charset=utf-8\r\n"
	    "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
	    status, status == 200 ? "OK" : "Request Header Fields Too Large",
	    status == 200 ? "html" : "plain", n, body);
	if (c->resplen >= sizeof(c->resp))
		c->resplen = sizeof(c->resp) - 1;
	c->respoff = 0;
	c->state = WRITING;
}

/* Read the request head; 1 when it is complete (or too large). */
static int
client_read(struct conn *c)
{
	ssize_t n;

	for (;;) {
		if (c->reqlen == sizeof(c->req) - 1) {
			build_response(c, 431);
			return 1;
		}
		n = recv(c->fd, c->req + c->reqlen,
		    sizeof(c->req) - 1 - c->reqlen, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		c->reqlen += (size_t)n;
		c->req[c->reqlen] = '\0';
		if (strstr(c->req, "\r\n\r\n") != NULL ||
		    strstr(c->req, "\n\n") != NULL) {
			build_response(c, 200);
			return 1;
		}
	}
}

/* Write the response; 1 when all of it went out. */
static int
client_write(struct conn *c)
{
	ssize_t n;

	while (c->respoff < c->resplen) {
		n = send(c->fd, c->resp + c->respoff,
		    c->resplen - c->respoff, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n == -1)
			return -1;
		c->respoff += (size_t)n;
	}
	return 1;
}

/* After the response, wait for the client's end: closing with unread input
 * would make the kernel send a RST that can destroy the response in flight
 * (RFC 9293 3.6.1: "reset" on close with pending data). */
static int
client_drain(struct conn *c)
{
	char buf[1024];
	ssize_t n;

	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

static void
on_client(struct conn *c)
{
	int r;

	if (c->state == READING) {
		if ((r = client_read(c)) == -1)
			goto done;
		if (r == 0)
			return;
	}
	if (c->state == WRITING) {
		if ((r = client_write(c)) == -1)
			goto done;
		if (r == 0) {
			conn_want(c, EPOLLOUT);
			return;
		}
		(void)shutdown(c->fd, SHUT_WR);
		c->state = DRAINING;
		conn_want(c, EPOLLIN);
	}
	if (client_drain(c) == 0)
		return;
done:
	conn_close(c);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[MAX_EVENTS];
	int lfd, n, i;

	signal(SIGPIPE, SIG_IGN);
	if ((lfd = sg_handoff_listen_fds()) == -1) {
		if (argc != 2) {
			fprintf(stderr, "usage: http-backend SOCKET_PATH\n");
			return 2;
		}
		if ((lfd = sg_handoff_listen(argv[1])) == -1) {
			fprintf(stderr, "http-backend: %s: %s\n", argv[1],
			    strerror(errno));
			return 1;
		}
	}
	(void)fcntl(lfd, F_SETFL, O_NONBLOCK);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("epoll_create1");
		return 1;
	}
	if (conn_add(lfd, LISTENER) == NULL)
		return 1;

	for (;;) {
		n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			perror("epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			switch (c->kind) {
			case LISTENER:
				on_listener(c);
				break;
			case CONTROL:
				on_control(c);
				break;
			case CLIENT:
				on_client(c);
				break;
			}
		}
	}
}
