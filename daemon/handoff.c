/*
 * handoff.c -- the backend pool: the last stage of the data path, where a
 * materialized connection leaves synguard.
 *
 * Mode "fd" backends listen on an AF_UNIX SOCK_SEQPACKET socket; the pool
 * keeps one connection to each and sends every connection's fd over it with
 * SCM_RIGHTS after a struct sg_handoff_hdr (include/synguard/handoff.h).
 * Mode "proxy" backends only speak a Unix stream socket: the pool opens one
 * stream per client, writes a PROXY protocol v2 header and relays bytes both
 * ways. Backends are chosen by smooth weighted round robin (as nginx does:
 * an even interleaving, exact over every cycle of the weights' sum).
 *
 * This module must never block the event loop (every socket is
 * non-blocking; an AF_UNIX connect completes or fails at once), never
 * allocate per segment (the held queue is allocated with the pool; only a
 * proxy relay allocates, once per connection) and never lose a client fd:
 * each one submitted is sent and closed, relayed, held, or reset.
 *
 * SIGPIPE must be ignored by the process: sendmsg() uses MSG_NOSIGNAL, but
 * the relays' bufferevents write with writev().
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "handoff.h"
#include "log.h"
#include "peercred.h"
#include "tsclock.h"

/* Reconnection backoff: doubling from MIN to MAX, each delay drawn from
 * [d/2, d] so that backends restarted together are not hit in lockstep. A
 * connection that stayed up STABLE resets the backoff. */
#define POOL_BACKOFF_MIN_MS 100
#define POOL_BACKOFF_MAX_MS 5000
#define POOL_STABLE_MS 5000

/* At most this many connections wait for a backend (on_no_backend =
 * "hold"); beyond it they are reset. Each one is an open fd, and a client
 * left waiting longer than the hold timeout gives up anyway. */
#define POOL_HOLD_MAX 1024

/* Held connections are retried this often while a backend refuses them
 * without being full (see struct backend, refused). */
#define POOL_RETRY_MS 100

/* A relay stops reading one side while the other side has this much
 * unsent, so a fast sender cannot make synguard buffer without bound. */
#define POOL_RELAY_HIWAT (256 * 1024)

/* PROXY protocol v2 (haproxy proxy-protocol.txt, section 2.2). */
static const uint8_t pp2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
#define PP2_VER_PROXY 0x21  /* version 2, command PROXY */
#define PP2_VER_LOCAL 0x20  /* version 2, command LOCAL */
#define PP2_TCP4 0x11
#define PP2_TCP6 0x21
#define PP2_UNSPEC 0x00

/* What a failed attempt at a backend means for it. */
enum try_result {
	TRY_OK,   /* it took the connection */
	TRY_BUSY, /* full for now: try another, keep it up */
	TRY_DOWN, /* it is gone: mark it down and reconnect */
};

struct backend {
	struct sg_pool *pool;
	struct sg_backend_conf conf;
	int fd;                  /* mode fd: the connection, or -1 */
	int up;                  /* mode proxy: 1 unless the last connect
				    failed and the retry timer runs */
	struct event *ev_read;   /* EOF or HUP on the connection */
	struct event *ev_write;  /* room again, armed while some are held */
	struct event *ev_retry;  /* reconnection timer */
	uint32_t backoff_ms;
	uint64_t up_since_ms;
	int64_t cur;             /* smooth WRR current weight */
	int refused;             /* the last try failed with no "room again"
				    to wait for: ETOOMANYREFS (fds in flight
				    over RLIMIT_NOFILE), ENOBUFS, ENOMEM, or
				    a proxy connect; EPOLLOUT would fire at
				    once, so the hold timer retries instead */
	struct sg_backend_stats st;
};

struct held {
	int fd;
	uint64_t deadline_ms;
	struct sg_handoff_hdr hdr;
};

struct relay_side {
	struct bufferevent *bev;
	int eof;  /* read end-of-file from this side */
	int shut; /* shut down writing to this side */
};

struct relay {
	LIST_ENTRY(relay) entry;
	struct sg_pool *pool;
	struct relay_side s[2]; /* 0: the client, 1: the backend */
};

struct sg_pool {
	struct event_base *base;
	struct backend *b[SG_CONFIG_MAX_BACKENDS];
	unsigned nb;
	enum sg_no_backend on_no_backend;
	uint32_t hold_timeout_ms;
	struct held *held; /* FIFO, POOL_HOLD_MAX entries */
	unsigned nheld;
	struct event *ev_hold; /* the earliest hold deadline */
	LIST_HEAD(, relay) relays;
	uint64_t rng;
	uint64_t held_expired; /* held, then reset at hold_timeout_ms */
};

static void pool_drain(struct sg_pool *);
static void backend_schedule_retry(struct backend *);

/* Monotonic milliseconds, for hold deadlines and backoff. */
static uint64_t
now_ms(void)
{
	return sg_clock_ms(CLOCK_MONOTONIC);
}

/* xorshift64*: jitter only, no secrecy needed. */
static uint64_t
pool_rand(struct sg_pool *p)
{
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * 0x2545F4914F6CDD1DULL;
}

static void
ms_to_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* Abort a client connection: SO_LINGER {1, 0} makes close() send a RST
 * (RFC 9293 3.6) instead of a FIN, so the client learns at once. */
static void
conn_reset(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* Fill a sockaddr_un for path; -1 if it does not fit. */
static int
unix_addr(const char *path, struct sockaddr_un *sun)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (len == 0 || len >= sizeof(sun->sun_path))
		return -1;
	memcpy(sun->sun_path, path, len + 1);
	return 0;
}

/* Connect a non-blocking AF_UNIX socket of type to path: fd or -1. */
static int
unix_connect(const char *path, int type)
{
	struct sockaddr_un sun;
	int fd, saved;

	if (unix_addr(path, &sun) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* An AF_UNIX connect never goes "in progress": it succeeds, or fails
	 * with EAGAIN when the listener's backlog is full. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Errors after which a backend can still take the next connection. */
static int
errno_is_busy(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS ||
	    e == ENOMEM || e == ETOOMANYREFS || e == EINTR;
}

/* ---------------------------------------------------------------- backends */

/* The connection to a mode-fd backend is gone: close it, retry later. */
static void
backend_down(struct backend *b)
{
	uint64_t now = now_ms();

	if (b->up)
		log_warnx("backend %s: down", b->conf.name);
	if (b->ev_read != NULL)
		event_free(b->ev_read);
	if (b->ev_write != NULL)
		event_free(b->ev_write);
	b->ev_read = b->ev_write = NULL;
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
	if (b->up && now - b->up_since_ms >= POOL_STABLE_MS)
		b->backoff_ms = POOL_BACKOFF_MIN_MS;
	b->up = 0;
	b->st.connected = 0;
	backend_schedule_retry(b);
}

/* Readable on a connection that carries nothing our way: EOF or error. */
static void
backend_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct backend *b = arg;
	char buf[64];
	ssize_t n;
	int i;

	(void)what;
	/* A backend has nothing to say; whatever it sends is discarded, a
	 * bounded amount per wake-up. */
	for (i = 0; i < 16; i++) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		backend_down(b);
		return;
	}
}

/* Room again in a backend's queue: retry the held connections. */
static void
backend_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct backend *b = arg;

	(void)fd;
	(void)what;
	pool_drain(b->pool);
}

/* Try to (re)connect a backend; 0 if it is up. */
/*
 * With allowed_uid set, only a backend process running as that user may
 * receive connections: one that took over the socket path must not. The
 * kernel recorded the listener's credentials at listen() (SO_PEERCRED).
 */
static bool
backend_peer_ok(struct backend *b, int fd)
{
	uint32_t uid = 0;
	int ok;

	if (b->conf.allowed_uid == SG_ANY_UID)
		return true;
	ok = peercred_uid_is(fd, b->conf.allowed_uid, &uid);
	if (ok == 1)
		return true;
	if (ok == 0)
		log_warnx("backend %s: %s is served by uid %u, not allowed_uid "
		    "%u: not used", b->conf.name, b->conf.path, (unsigned)uid,
		    (unsigned)b->conf.allowed_uid);
	else
		log_warn("backend %s: SO_PEERCRED", b->conf.name);
	return false;
}

static int
backend_connect(struct backend *b)
{
	struct event_base *base = b->pool->base;
	int fd;

	if (b->conf.mode == SG_BACKEND_PROXY) {
		/* Proxy connections are made per client; "up" only means the
		 * last attempt did not fail. */
		b->up = 1;
		b->st.connected = 1;
		return 0;
	}
	fd = unix_connect(b->conf.path, SOCK_SEQPACKET);
	if (fd == -1) {
		log_debug("backend %s: connect %s: %s", b->conf.name,
		    b->conf.path, strerror(errno));
		return -1;
	}
	if (!backend_peer_ok(b, fd)) {
		close(fd);
		return -1;
	}
	b->ev_read = event_new(base, fd, EV_READ | EV_PERSIST,
	    backend_readcb, b);
	b->ev_write = event_new(base, fd, EV_WRITE, backend_writecb, b);
	if (b->ev_read == NULL || b->ev_write == NULL ||
	    event_add(b->ev_read, NULL) == -1) {
		if (b->ev_read != NULL)
			event_free(b->ev_read);
		if (b->ev_write != NULL)
			event_free(b->ev_write);
		b->ev_read = b->ev_write = NULL;
		close(fd);
		return -1;
	}
	b->fd = fd;
	b->up = 1;
	b->refused = 0;
	b->cur = 0;
	b->up_since_ms = now_ms();
	b->st.connected = 1;
	b->st.connects++;
	log_info("backend %s: connected to %s", b->conf.name, b->conf.path);
	return 0;
}

/* Reconnection timer: try again, or back off further. */
static void
backend_retrycb(evutil_socket_t fd, short what, void *arg)
{
	struct backend *b = arg;

	(void)fd;
	(void)what;
	if (backend_connect(b) == 0)
		pool_drain(b->pool);
	else
		backend_schedule_retry(b);
}

/* Arm the retry timer at the current backoff, with jitter, and double it. */
static void
backend_schedule_retry(struct backend *b)
{
	struct timeval tv;
	uint64_t d = b->backoff_ms;

	d = d / 2 + pool_rand(b->pool) % (d / 2 + 1);
	ms_to_tv(d, &tv);
	evtimer_add(b->ev_retry, &tv);
	b->backoff_ms *= 2;
	if (b->backoff_ms > POOL_BACKOFF_MAX_MS)
		b->backoff_ms = POOL_BACKOFF_MAX_MS;
}

/* A backend as configured, not yet connected; NULL on allocation failure. */
static struct backend *
backend_new(struct sg_pool *p, const struct sg_backend_conf *conf)
{
	struct backend *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->pool = p;
	b->conf = *conf;
	b->conf.name[sizeof(b->conf.name) - 1] = '\0';
	b->conf.path[sizeof(b->conf.path) - 1] = '\0';
	if (b->conf.weight == 0)
		b->conf.weight = 1;
	b->fd = -1;
	b->backoff_ms = POOL_BACKOFF_MIN_MS;
	b->ev_retry = evtimer_new(p->base, backend_retrycb, b);
	if (b->ev_retry == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

/* First connection attempt of a new backend. */
static void
backend_start(struct backend *b)
{
	if (backend_connect(b) == -1) {
		log_warn("backend %s: cannot connect to %s yet", b->conf.name,
		    b->conf.path);
		backend_schedule_retry(b);
	}
}

static void
backend_free(struct backend *b)
{
	if (b->ev_read != NULL)
		event_free(b->ev_read);
	if (b->ev_write != NULL)
		event_free(b->ev_write);
	event_free(b->ev_retry);
	if (b->fd != -1)
		close(b->fd);
	free(b);
}

/* Send the header and fd on a mode-fd backend's connection. */
static enum try_result
backend_send(struct backend *b, int fd, const struct sg_handoff_hdr *hdr)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct sg_handoff_hdr h = *hdr;
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *c;
	ssize_t n;

	/* The pool stamps what makes the message valid on the wire. */
	h.magic = SG_HANDOFF_MAGIC;
	h.version = SG_HANDOFF_VERSION;
	h.hdr_size = sizeof(h);
	h.pad0 = 0;
	memset(h.pad1, 0, sizeof(h.pad1));

	memset(&m, 0, sizeof(m));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = &h;
	iov.iov_len = sizeof(h);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));

	n = sendmsg(b->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(h))
		return TRY_OK;
	if (n >= 0 || errno_is_busy(errno))
		return TRY_BUSY;
	log_warn("backend %s: send", b->conf.name);
	return TRY_DOWN;
}

/* ------------------------------------------------------------ proxy relays */

/* Close both sides of a relay and forget it. */
static void
relay_free(struct relay *r)
{
	LIST_REMOVE(r, entry);
	bufferevent_free(r->s[0].bev);
	bufferevent_free(r->s[1].bev);
	free(r);
}

/* Which side of r a bufferevent belongs to. */
static int
relay_side(struct relay *r, struct bufferevent *bev)
{
	return bev == r->s[0].bev ? 0 : 1;
}

/* Once side i has ended and all it sent is written to the other side, pass
 * the end on (half-close, RFC 9293 3.6); when both ends have passed, done. */
static int
relay_pass_eof(struct relay *r, int i)
{
	struct relay_side *o = &r->s[!i];

	if (r->s[i].eof && !o->shut &&
	    evbuffer_get_length(bufferevent_get_output(o->bev)) == 0) {
		(void)shutdown(bufferevent_getfd(o->bev), SHUT_WR);
		o->shut = 1;
	}
	if (r->s[0].shut && r->s[1].shut) {
		relay_free(r);
		return 1;
	}
	return 0;
}

/* Data from one side: queue it to the other, pausing when that is full. */
static void
relay_readcb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	int i = relay_side(r, bev);
	struct bufferevent *out = r->s[!i].bev;

	evbuffer_add_buffer(bufferevent_get_output(out),
	    bufferevent_get_input(bev));
	if (evbuffer_get_length(bufferevent_get_output(out)) >=
	    POOL_RELAY_HIWAT) {
		bufferevent_disable(bev, EV_READ);
		bufferevent_setwatermark(out, EV_WRITE, POOL_RELAY_HIWAT / 2,
		    0);
	}
}

/* One side's output drained (to half, or empty): resume the other side. */
static void
relay_writecb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	int o = relay_side(r, bev);

	if (!r->s[!o].eof)
		bufferevent_enable(r->s[!o].bev, EV_READ);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	(void)relay_pass_eof(r, !o);
}

/* End of file or error on one side. */
static void
relay_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;
	int i = relay_side(r, bev);

	if (what & BEV_EVENT_EOF) {
		r->s[i].eof = 1;
		(void)relay_pass_eof(r, i);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		/* The backend failed mid-connection: abort the client too
		 * rather than let it see a clean end of stream. */
		if (i == 1)
			(void)setsockopt(bufferevent_getfd(r->s[0].bev),
			    SOL_SOCKET, SO_LINGER,
			    &(struct linger){.l_onoff = 1, .l_linger = 0},
			    sizeof(struct linger));
		relay_free(r);
	}
}

/* The PROXY v2 header for hdr's addresses into buf; its length. */
static size_t
pp2_build(const struct sg_handoff_hdr *hdr, uint8_t buf[52])
{
	uint16_t len, sp = htons(hdr->peer_port), dp = htons(hdr->local_port);
	uint8_t *a = buf + 16;

	memcpy(buf, pp2_sig, sizeof(pp2_sig));
	if (hdr->family == AF_INET) {
		buf[12] = PP2_VER_PROXY;
		buf[13] = PP2_TCP4;
		memcpy(a, hdr->peer_addr, 4);
		memcpy(a + 4, hdr->local_addr, 4);
		memcpy(a + 8, &sp, 2);
		memcpy(a + 10, &dp, 2);
		len = 12;
	} else if (hdr->family == AF_INET6) {
		buf[12] = PP2_VER_PROXY;
		buf[13] = PP2_TCP6;
		memcpy(a, hdr->peer_addr, 16);
		memcpy(a + 16, hdr->local_addr, 16);
		memcpy(a + 32, &sp, 2);
		memcpy(a + 34, &dp, 2);
		len = 36;
	} else {
		/* Unknown family: LOCAL, the receiver uses the real
		 * (Unix) addresses, which say nothing about the client. */
		buf[12] = PP2_VER_LOCAL;
		buf[13] = PP2_UNSPEC;
		len = 0;
	}
	buf[14] = (uint8_t)(len >> 8);
	buf[15] = (uint8_t)len;
	return 16 + (size_t)len;
}

/* Open a stream to a mode-proxy backend and relay fd through it. */
static enum try_result
backend_proxy(struct backend *b, int fd, const struct sg_handoff_hdr *hdr)
{
	struct sg_pool *p = b->pool;
	struct relay *r;
	uint8_t pp2[52];
	size_t pp2len;
	int u, i;

	if ((u = unix_connect(b->conf.path, SOCK_STREAM)) == -1) {
		if (errno_is_busy(errno))
			return TRY_BUSY;
		log_warn("backend %s: connect %s", b->conf.name,
		    b->conf.path);
		return TRY_DOWN;
	}
	if (!backend_peer_ok(b, u)) {
		close(u);
		return TRY_DOWN;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->pool = p;
	r->s[0].bev = bufferevent_socket_new(p->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	r->s[1].bev = bufferevent_socket_new(p->base, u,
	    BEV_OPT_CLOSE_ON_FREE);
	if (r->s[0].bev == NULL || r->s[1].bev == NULL)
		goto fail;
	pp2len = pp2_build(hdr, pp2);
	if (evbuffer_add(bufferevent_get_output(r->s[1].bev), pp2,
	    pp2len) == -1)
		goto fail;
	for (i = 0; i < 2; i++) {
		bufferevent_setcb(r->s[i].bev, relay_readcb, relay_writecb,
		    relay_eventcb, r);
		if (bufferevent_enable(r->s[i].bev, EV_READ | EV_WRITE) == -1)
			goto fail;
	}
	LIST_INSERT_HEAD(&p->relays, r, entry);
	b->st.connects++;
	return TRY_OK;

fail:
	/* Detach the descriptors before freeing: fd stays the caller's. */
	if (r != NULL) {
		for (i = 0; i < 2; i++) {
			if (r->s[i].bev == NULL)
				continue;
			bufferevent_setfd(r->s[i].bev, -1);
			bufferevent_free(r->s[i].bev);
		}
		free(r);
	}
	close(u);
	return TRY_BUSY;
}

/* ------------------------------------------------------------------- pool */

/*
 * Smooth weighted round robin (nginx ngx_http_upstream_get_peer): every
 * eligible backend gains its weight, the richest is chosen and pays the sum.
 * Weights 1 and 3 give B B A B ..., exact over every 4 picks. Backends in
 * tried are skipped. Returns an index or -1.
 */
static int
pool_pick(struct sg_pool *p, uint64_t tried)
{
	int64_t total = 0;
	int best = -1;
	unsigned i;

	for (i = 0; i < p->nb; i++) {
		struct backend *b = p->b[i];

		if (!b->up || (tried & (UINT64_C(1) << i)) != 0)
			continue;
		b->cur += b->conf.weight;
		total += b->conf.weight;
		if (best == -1 || b->cur > p->b[best]->cur)
			best = (int)i;
	}
	if (best != -1)
		p->b[best]->cur -= total;
	return best;
}

/* Offer fd to the backends in WRR order until one takes it: 0 if one did
 * (fd is no longer the caller's), -1 if none could (fd untouched). */
static int
pool_deliver(struct sg_pool *p, int fd, const struct sg_handoff_hdr *hdr)
{
	uint64_t tried = 0;
	enum try_result r;
	struct backend *b;
	int i;

	while ((i = pool_pick(p, tried)) != -1) {
		tried |= UINT64_C(1) << i;
		b = p->b[i];
		if (b->conf.mode == SG_BACKEND_FD)
			r = backend_send(b, fd, hdr);
		else
			r = backend_proxy(b, fd, hdr);
		if (r == TRY_OK) {
			if (b->conf.mode == SG_BACKEND_FD)
				close(fd); /* the backend has its own now */
			b->refused = 0;
			b->st.handed++;
			return 0;
		}
		b->refused = b->conf.mode != SG_BACKEND_FD ||
		    (errno != EAGAIN && errno != EWOULDBLOCK);
		b->st.failed++;
		if (r == TRY_DOWN) {
			if (b->conf.mode == SG_BACKEND_FD)
				backend_down(b);
			else {
				b->up = 0;
				b->st.connected = 0;
				backend_schedule_retry(b);
			}
		}
	}
	return -1;
}

/* Arm the hold timer at the earliest deadline among the held. */
static void
pool_arm_hold(struct sg_pool *p)
{
	uint64_t now = now_ms(), first = UINT64_MAX;
	struct timeval tv;
	unsigned i;

	if (p->nheld == 0) {
		evtimer_del(p->ev_hold);
		return;
	}
	for (i = 0; i < p->nheld; i++)
		if (p->held[i].deadline_ms < first)
			first = p->held[i].deadline_ms;
	for (i = 0; i < p->nb; i++)
		if (p->b[i]->up && p->b[i]->refused &&
		    now + POOL_RETRY_MS < first)
			first = now + POOL_RETRY_MS;
	ms_to_tv(first > now ? first - now : 0, &tv);
	evtimer_add(p->ev_hold, &tv);
}

/* While some are held, wake up when an up backend has room again. */
static void
pool_arm_write(struct sg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nb; i++) {
		struct backend *b = p->b[i];

		if (b->ev_write == NULL)
			continue;
		if (p->nheld > 0 && !b->refused)
			event_add(b->ev_write, NULL);
		else
			event_del(b->ev_write);
	}
}

/* Hand on as many held connections as the backends take, oldest first. */
static void
pool_drain(struct sg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nheld; i++)
		if (pool_deliver(p, p->held[i].fd, &p->held[i].hdr) == -1)
			break;
	if (i > 0) {
		memmove(p->held, p->held + i,
		    (p->nheld - i) * sizeof(p->held[0]));
		p->nheld -= i;
	}
	pool_arm_hold(p);
	pool_arm_write(p);
}

/* Hold timer: reset every connection that waited past its deadline, and
 * offer the others again. */
static void
pool_holdcb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_pool *p = arg;
	uint64_t now = now_ms();
	unsigned i, n = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < p->nheld; i++) {
		if (p->held[i].deadline_ms <= now) {
			log_debug("held connection %llu: no backend in time",
			    (unsigned long long)p->held[i].hdr.conn_id);
			conn_reset(p->held[i].fd);
			p->held_expired++;
		} else
			p->held[n++] = p->held[i];
	}
	p->nheld = n;
	pool_drain(p);
}

/* Queue fd until a backend can take it; -1 if the queue is full. */
static int
pool_hold(struct sg_pool *p, int fd, const struct sg_handoff_hdr *hdr)
{
	struct held *h;

	if (p->nheld >= POOL_HOLD_MAX)
		return -1;
	h = &p->held[p->nheld++];
	h->fd = fd;
	h->hdr = *hdr;
	h->deadline_ms = now_ms() + p->hold_timeout_ms;
	pool_arm_hold(p);
	pool_arm_write(p);
	return 0;
}

struct sg_pool *
pool_new(struct event_base *base, const struct sg_config *conf)
{
	struct sg_pool *p;
	struct timespec ts;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->base = base;
	LIST_INIT(&p->relays);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	p->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)p ^
	    (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
	p->held = calloc(POOL_HOLD_MAX, sizeof(p->held[0]));
	p->ev_hold = evtimer_new(base, pool_holdcb, p);
	if (p->held == NULL || p->ev_hold == NULL ||
	    pool_reconfigure(p, conf) == -1) {
		pool_free(p);
		return NULL;
	}
	return p;
}

/* An unclaimed backend of the old set matching c by name, path and mode. */
static int
pool_find(struct sg_pool *p, const struct sg_backend_conf *c,
    uint64_t taken)
{
	unsigned i;

	for (i = 0; i < p->nb; i++) {
		const struct backend *b = p->b[i];

		if ((taken & (UINT64_C(1) << i)) == 0 &&
		    b->conf.mode == c->mode &&
		    b->conf.allowed_uid == c->allowed_uid &&
		    strncmp(b->conf.name, c->name, sizeof(c->name)) == 0 &&
		    strncmp(b->conf.path, c->path, sizeof(c->path)) == 0)
			return (int)i;
	}
	return -1;
}

int
pool_reconfigure(struct sg_pool *p, const struct sg_config *conf)
{
	struct backend *nb[SG_CONFIG_MAX_BACKENDS] = {NULL};
	uint64_t taken = 0, fresh = 0;
	unsigned i, n = conf->nbackends;
	int j;

	if (n > SG_CONFIG_MAX_BACKENDS)
		return -1;
	for (i = 0; i < n; i++) {
		const struct sg_backend_conf *c = &conf->backends[i];

		if ((j = pool_find(p, c, taken)) != -1) {
			taken |= UINT64_C(1) << j;
			nb[i] = p->b[j];
			nb[i]->conf.weight = c->weight > 0 ? c->weight : 1;
		} else if ((nb[i] = backend_new(p, c)) != NULL)
			fresh |= UINT64_C(1) << i;
		else
			goto fail;
	}
	for (i = 0; i < p->nb; i++)
		if ((taken & (UINT64_C(1) << i)) == 0)
			backend_free(p->b[i]);
	memcpy(p->b, nb, sizeof(p->b));
	p->nb = n;
	p->on_no_backend = conf->on_no_backend;
	p->hold_timeout_ms = conf->hold_timeout_ms;
	for (i = 0; i < n; i++) {
		p->b[i]->cur = 0; /* a new round for the new weights */
		if (fresh & (UINT64_C(1) << i))
			backend_start(p->b[i]);
	}
	pool_drain(p);
	return 0;

fail:
	for (i = 0; i < n; i++)
		if (fresh & (UINT64_C(1) << i))
			backend_free(nb[i]);
	return -1;
}

void
pool_free(struct sg_pool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	while (!LIST_EMPTY(&p->relays))
		relay_free(LIST_FIRST(&p->relays));
	for (i = 0; i < p->nheld; i++)
		conn_reset(p->held[i].fd);
	for (i = 0; i < p->nb; i++)
		backend_free(p->b[i]);
	if (p->ev_hold != NULL)
		event_free(p->ev_hold);
	free(p->held);
	free(p);
}

int
pool_submit(struct sg_pool *p, int fd, const struct sg_handoff_hdr *hdr)
{
	if (fd < 0)
		return -1;
	if (p->nheld > 0)
		pool_drain(p);
	/* Behind connections already waiting, a new one waits too: first
	 * come, first handed on. */
	if ((p->nheld == 0 || p->on_no_backend != SG_NO_BACKEND_HOLD) &&
	    pool_deliver(p, fd, hdr) == 0)
		return 0;
	if (p->on_no_backend == SG_NO_BACKEND_HOLD && pool_hold(p, fd, hdr) == 0)
		return 0;
	conn_reset(fd);
	return -1;
}

unsigned
pool_size(const struct sg_pool *p)
{
	return p->nb;
}

const char *
pool_backend_name(const struct sg_pool *p, unsigned i)
{
	return i < p->nb ? p->b[i]->conf.name : NULL;
}

void
pool_backend_stats(const struct sg_pool *p, unsigned i,
    struct sg_backend_stats *out)
{
	if (i < p->nb)
		*out = p->b[i]->st;
	else
		memset(out, 0, sizeof(*out));
}

uint64_t
pool_held_expired(const struct sg_pool *p)
{
	return p->held_expired;
}

unsigned
pool_held(const struct sg_pool *p)
{
	return p->nheld;
}
