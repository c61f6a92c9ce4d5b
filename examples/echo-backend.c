/*
 * echo-backend.c -- the smallest synguard backend: echoes every byte back.
 *
 *	echo-backend SOCKET_PATH
 *
 * It listens on an AF_UNIX SOCK_SEQPACKET socket at SOCKET_PATH (or takes
 * the one systemd passes with socket activation, LISTEN_FDS=1), accepts
 * synguard's connections to it, and receives handed-on TCP connections with
 * sg_handoff_recv() from <synguard/handoff.h>. Each TCP connection is then
 * served like any accept()ed one: one epoll loop, everything non-blocking,
 * many connections at once.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <synguard/handoff.h>

#define MAX_EVENTS 64
#define BUF_SIZE 16384

enum kind { LISTENER, CONTROL, CLIENT };

/* One descriptor in the epoll set. A client's unsent echo stays in buf,
 * and reading pauses until it is written: a client that does not read
 * cannot make us buffer more than BUF_SIZE. */
struct conn {
	enum kind kind;
	int fd;
	size_t off, len;
	int eof;
	char buf[BUF_SIZE];
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

/* Forget a descriptor. The explicit EPOLL_CTL_DEL matters: close() takes
 * an fd out of the set only when no other reference to its open file is
 * left, and a stale registration would hand us a freed conn later. */
static void
conn_close(struct conn *c)
{
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Wait for input, or for room to write the pending echo. */
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

/* Handed-on connections arrive: serve each one. */
static void
on_control(struct conn *c)
{
	struct sg_handoff_hdr hdr;
	int fd;

	for (;;) {
		fd = sg_handoff_recv(c->fd, &hdr);
		if (fd >= 0) {
			(void)conn_add(fd, CLIENT);
			continue;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (errno == EPROTO) {
			fprintf(stderr, "echo-backend: bad handoff message\n");
			continue;
		}
		conn_close(c); /* synguard went away; it will reconnect */
		return;
	}
}

/* Write what is pending; 0 when all of it went out, -1 on error. */
static int
client_flush(struct conn *c)
{
	ssize_t n;

	while (c->off < c->len) {
		n = send(c->fd, c->buf + c->off, c->len - c->off,
		    MSG_NOSIGNAL);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 1 : -1;
		c->off += (size_t)n;
	}
	c->off = c->len = 0;
	return 0;
}

/* Read, echo, and close once the client has ended and all is echoed. */
static void
on_client(struct conn *c)
{
	ssize_t n;
	int r;

	for (;;) {
		if ((r = client_flush(c)) == -1)
			goto done;
		if (r == 1) {
			conn_want(c, EPOLLOUT);
			return;
		}
		if (c->eof)
			goto done;
		n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			conn_want(c, EPOLLIN);
			return;
		}
		if (n <= 0) {
			c->eof = 1; /* flush (nothing pending), then close */
			continue;
		}
		c->len = (size_t)n;
	}
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
			fprintf(stderr, "usage: echo-backend SOCKET_PATH\n");
			return 2;
		}
		if ((lfd = sg_handoff_listen(argv[1])) == -1) {
			fprintf(stderr, "echo-backend: %s: %s\n", argv[1],
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
