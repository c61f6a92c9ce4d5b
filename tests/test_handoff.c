/*
 * test_handoff.c -- the handoff protocol and the backend pool, as a
 * specification: the public helpers accept exactly one well-formed message
 * and never leak a descriptor; the pool spreads connections by weight, routes
 * around dead or full backends, resets or holds when none is left, and
 * reconnects when a backend comes back.
 *
 * Backends run in this process on temporary socket paths; the event loop is
 * driven with EVLOOP_ONCE until a condition holds or a deadline passes.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "handoff.h"
#include "log.h"
#include "synguard/handoff.h"

/* ------------------------------------------------------------- utilities */

/* Open descriptors of this process, to prove that nothing leaks. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A well-formed header, as the worker would fill it. */
static void
sample_hdr(struct sg_handoff_hdr *h, uint64_t id)
{
	memset(h, 0, sizeof(*h));
	h->magic = SG_HANDOFF_MAGIC;
	h->version = SG_HANDOFF_VERSION;
	h->hdr_size = sizeof(*h);
	h->family = AF_INET;
	h->flags = SG_HANDOFF_F_COOKIE | SG_HANDOFF_F_SACK;
	h->peer_port = 40000;
	h->local_port = 80;
	inet_pton(AF_INET, "198.18.0.1", h->peer_addr);
	inet_pton(AF_INET, "198.18.0.2", h->local_addr);
	h->peer_mss = 1460;
	h->local_mss = 1460;
	h->handshake_us = 1234;
	h->early_data = 5;
	h->conn_id = id;
}

/* Send len bytes of data with nfds descriptors, as a hostile peer may. */
static void
send_raw(int sock, const void *data, size_t len, const int *fds, int nfds)
{
	char ctl[CMSG_SPACE(64 * sizeof(int))];
	struct msghdr m = {0};
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct cmsghdr *c;

	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (nfds > 0) {
		memset(ctl, 0, sizeof(ctl));
		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	cr_assert_eq(sendmsg(sock, &m, 0), (ssize_t)len);
}

/* A connected TCP pair on loopback: *client and *server. */
static void
tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int l;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_neq(l = socket(AF_INET, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 4), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	cr_assert_neq(*client = socket(AF_INET, SOCK_STREAM, 0), -1);
	cr_assert_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_neq(*server = accept4(l, NULL, NULL, SOCK_NONBLOCK), -1);
	close(l);
}

/* The client of a pair whose server side was reset reads ECONNRESET. */
static bool
was_reset(int client)
{
	char c;

	return recv(client, &c, 1, 0) == -1 && errno == ECONNRESET;
}

/* ------------------------------------------------------- test backends */

#define TB_MAX_CONNS 8

struct tb {
	char path[108];
	int lfd;
	int conns[TB_MAX_CONNS];
	int nconns;
	unsigned received;
	uint64_t last_id;
	bool reading; /* false: a stuck backend that never reads */
};

static char tmpdir[64];

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init(3, "test_handoff");
	strcpy(tmpdir, "/tmp/sg-handoff-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	(void)system(cmd);
}

static void
tb_init(struct tb *t, const char *name)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s/%s", tmpdir, name);
	t->lfd = -1;
	t->reading = true;
}

/* Start listening (again) at t->path. */
static void
tb_listen(struct tb *t)
{
	t->lfd = sg_handoff_listen(t->path);
	cr_assert_neq(t->lfd, -1, "listen %s: %s", t->path, strerror(errno));
	cr_assert_eq(fcntl(t->lfd, F_SETFL, O_NONBLOCK), 0);
}

/* The backend dies: its listening socket and connections close. */
static void
tb_kill(struct tb *t)
{
	int i;

	for (i = 0; i < t->nconns; i++)
		close(t->conns[i]);
	t->nconns = 0;
	if (t->lfd != -1)
		close(t->lfd);
	t->lfd = -1;
}

/* Accept pending connections and receive (and close) handed fds. */
static void
tb_poll(struct tb *t)
{
	struct sg_handoff_hdr h;
	int c, fd, i;

	while (t->lfd != -1 && t->nconns < TB_MAX_CONNS &&
	    (c = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK)) != -1)
		t->conns[t->nconns++] = c;
	if (!t->reading)
		return;
	for (i = 0; i < t->nconns; i++) {
		while ((fd = sg_handoff_recv(t->conns[i], &h)) != -1) {
			t->received++;
			t->last_id = h.conn_id;
			close(fd);
		}
		cr_assert(errno == EAGAIN || errno == ECONNRESET,
		    "recv: %s", strerror(errno));
	}
}

/* A tick so that EVLOOP_ONCE returns at least every 5 ms. */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

struct world {
	struct event_base *base;
	struct event *tick;
	struct tb *tb[2];
	int ntb;
};

static void
world_init(struct world *w, struct tb *a, struct tb *b)
{
	struct timeval tv = {0, 5000};

	memset(w, 0, sizeof(*w));
	cr_assert_not_null(w->base = event_base_new());
	w->tick = event_new(w->base, -1, EV_PERSIST, tick, NULL);
	event_add(w->tick, &tv);
	w->tb[0] = a;
	w->tb[1] = b;
	w->ntb = (a != NULL) + (b != NULL);
}

static void
world_free(struct world *w)
{
	event_free(w->tick);
	event_base_free(w->base);
}

/* Run the loop and the backends until cond(arg) or the deadline (false). */
static bool
run_until(struct world *w, bool (*cond)(void *), void *arg,
    unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	int i;

	for (;;) {
		for (i = 0; i < w->ntb; i++)
			tb_poll(w->tb[i]);
		if (cond(arg))
			return true;
		if (now_ms() >= deadline)
			return false;
		event_base_loop(w->base, EVLOOP_ONCE);
	}
}

/* Let the backends read what is already queued. */
static void
settle(struct world *w)
{
	int i;

	event_base_loop(w->base, EVLOOP_NONBLOCK);
	for (i = 0; i < w->ntb; i++)
		tb_poll(w->tb[i]);
}

static struct sg_config *
conf_new(enum sg_no_backend nb, uint32_t hold_ms)
{
	struct sg_config *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	c->on_no_backend = nb;
	c->hold_timeout_ms = hold_ms;
	return c;
}

static void
conf_add(struct sg_config *c, const char *name, const char *path,
    enum sg_backend_mode mode, uint32_t weight)
{
	struct sg_backend_conf *b = &c->backends[c->nbackends++];

	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->mode = mode;
	b->weight = weight;
}

struct up_arg {
	struct sg_pool *p;
	unsigned i;
	int want;
	struct tb *t;
};

/* Backend i of the pool is (want=1) or is not (want=0) connected, and the
 * test backend t (if any) has accepted. */
static bool
cond_up(void *arg)
{
	struct up_arg *a = arg;
	struct sg_backend_stats st;

	pool_backend_stats(a->p, a->i, &st);
	return st.connected == a->want && (a->t == NULL || a->t->nconns > 0);
}

struct count_arg {
	struct tb *t;
	unsigned want;
};

static bool
cond_received(void *arg)
{
	struct count_arg *a = arg;

	return a->t->received >= a->want;
}

static bool
cond_none_held(void *arg)
{
	return pool_held(arg) == 0;
}

/* A throwaway descriptor to hand on where the fd's kind does not matter. */
static int
some_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cr_assert_neq(fd, -1);
	return fd;
}

/* --------------------------------------------------- the public helpers */

TestSuite(handoff, .init = setup, .fini = teardown);

Test(handoff, header_layout_is_fixed)
{
	cr_assert_eq(sizeof(struct sg_handoff_hdr), 72);
	cr_assert_eq(offsetof(struct sg_handoff_hdr, family), 8);
	cr_assert_eq(offsetof(struct sg_handoff_hdr, peer_addr), 16);
	cr_assert_eq(offsetof(struct sg_handoff_hdr, local_addr), 32);
	cr_assert_eq(offsetof(struct sg_handoff_hdr, handshake_us), 56);
	cr_assert_eq(offsetof(struct sg_handoff_hdr, conn_id), 64);
	cr_assert_eq(memcmp(&(uint32_t){SG_HANDOFF_MAGIC}, "SGH1", 4), 0);
}

Test(handoff, recv_round_trip_delivers_a_working_fd)
{
	struct sg_handoff_hdr h, got;
	int sv[2], pfd[2], fd, before;
	char buf[8] = {0};

	before = count_fds();
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(pipe(pfd), 0);
	sample_hdr(&h, 42);
	send_raw(sv[0], &h, sizeof(h), &pfd[1], 1);
	close(pfd[1]);

	fd = sg_handoff_recv(sv[1], &got);
	cr_assert_geq(fd, 0, "recv: %s", strerror(errno));
	cr_assert_eq(memcmp(&got, &h, sizeof(h)), 0);
	cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	cr_assert_eq(write(fd, "ping", 4), 4);
	cr_assert_eq(read(pfd[0], buf, sizeof(buf)), 4);
	cr_assert_str_eq(buf, "ping");

	close(fd);
	close(pfd[0]);
	close(sv[0]);
	close(sv[1]);
	cr_assert_eq(count_fds(), before);
}

/* Send a variant of a good message and expect EPROTO with nothing left. */
static void
expect_rejected(const void *data, size_t len, int nfds)
{
	struct sg_handoff_hdr got;
	int sv[2], fds[64], i, before, after_sv;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	before = count_fds();
	for (i = 0; i < nfds; i++)
		fds[i] = some_fd();
	send_raw(sv[0], data, len, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	after_sv = count_fds();
	cr_assert_eq(after_sv, before);

	errno = 0;
	cr_assert_eq(sg_handoff_recv(sv[1], &got), -1);
	cr_assert_eq(errno, EPROTO, "errno %s", strerror(errno));
	cr_assert_eq(count_fds(), before, "a received fd leaked");

	/* The connection is still usable after a rejected message. */
	struct sg_handoff_hdr h;
	int fd = some_fd(), r;

	sample_hdr(&h, 7);
	send_raw(sv[0], &h, sizeof(h), &fd, 1);
	close(fd);
	cr_assert_geq(r = sg_handoff_recv(sv[1], &got), 0);
	cr_assert_eq(got.conn_id, 7);
	close(r);
	close(sv[0]);
	close(sv[1]);
}

Test(handoff, recv_rejects_bad_magic_and_closes_the_fd)
{
	struct sg_handoff_hdr h;

	sample_hdr(&h, 1);
	h.magic ^= 1;
	expect_rejected(&h, sizeof(h), 1);
}

Test(handoff, recv_rejects_unknown_version_and_closes_the_fd)
{
	struct sg_handoff_hdr h;

	sample_hdr(&h, 1);
	h.version = SG_HANDOFF_VERSION + 1;
	expect_rejected(&h, sizeof(h), 1);
}

Test(handoff, recv_rejects_wrong_hdr_size_field)
{
	struct sg_handoff_hdr h;

	sample_hdr(&h, 1);
	h.hdr_size = sizeof(h) + 8;
	expect_rejected(&h, sizeof(h), 1);
}

Test(handoff, recv_rejects_unknown_family)
{
	struct sg_handoff_hdr h;

	sample_hdr(&h, 1);
	h.family = AF_UNIX;
	expect_rejected(&h, sizeof(h), 1);
}

Test(handoff, recv_rejects_short_message_and_closes_the_fd)
{
	struct sg_handoff_hdr h;

	sample_hdr(&h, 1);
	expect_rejected(&h, sizeof(h) - 1, 1);
}

Test(handoff, recv_rejects_long_message_and_closes_the_fd)
{
	struct {
		struct sg_handoff_hdr h;
		uint8_t more[16];
	} big;

	memset(&big, 0, sizeof(big));
	sample_hdr(&big.h, 1);
	expect_rejected(&big, sizeof(big), 1);
}

Test(handoff, recv_rejects_a_message_without_fd)
{
	struct sg_handoff_hdr h;

	sample_hdr(&h, 1);
	expect_rejected(&h, sizeof(h), 0);
}

Test(handoff, recv_rejects_two_fds_and_closes_both)
{
	struct sg_handoff_hdr h;

	sample_hdr(&h, 1);
	expect_rejected(&h, sizeof(h), 2);
}

Test(handoff, recv_rejects_more_fds_than_it_has_room_for)
{
	struct sg_handoff_hdr h;

	/* Beyond SG_HANDOFF_MAX_FDS the kernel truncates (MSG_CTRUNC) and
	 * drops the rest itself; those it did pass must be closed. */
	sample_hdr(&h, 1);
	expect_rejected(&h, sizeof(h), 40);
}

Test(handoff, recv_reports_end_of_stream_as_econnreset)
{
	struct sg_handoff_hdr h;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	close(sv[0]);
	cr_assert_eq(sg_handoff_recv(sv[1], &h), -1);
	cr_assert_eq(errno, ECONNRESET);
	close(sv[1]);
}

Test(handoff, listen_replaces_a_stale_socket_but_not_a_live_one)
{
	char path[128], file[128];
	int a, b, f;

	snprintf(path, sizeof(path), "%s/b.sock", tmpdir);
	cr_assert_neq(a = sg_handoff_listen(path), -1);
	cr_assert_eq(sg_handoff_listen(path), -1);
	cr_assert_eq(errno, EADDRINUSE);
	close(a); /* the path stays behind, stale */
	cr_assert_neq(b = sg_handoff_listen(path), -1);
	close(b);

	/* A file that is not a socket is never removed. */
	snprintf(file, sizeof(file), "%s/plain", tmpdir);
	cr_assert_neq(f = open(file, O_CREAT | O_WRONLY, 0600), -1);
	close(f);
	cr_assert_eq(sg_handoff_listen(file), -1);
	cr_assert_eq(access(file, F_OK), 0);
}

/* ------------------------------------------------------------- the pool */

Test(handoff, pool_spreads_connections_by_weight)
{
	struct tb a, b;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_backend_stats sa, sb;
	struct sg_pool *p;
	int i;

	tb_init(&a, "a.sock");
	tb_init(&b, "b.sock");
	tb_listen(&a);
	tb_listen(&b);
	world_init(&w, &a, &b);
	conf_add(c, "a", a.path, SG_BACKEND_FD, 1);
	conf_add(c, "b", b.path, SG_BACKEND_FD, 3);
	cr_assert_not_null(p = pool_new(w.base, c));
	cr_assert_eq(pool_size(p), 2);
	cr_assert_str_eq(pool_backend_name(p, 1), "b");

	for (i = 0; i < 400; i++) {
		sample_hdr(&h, (uint64_t)i);
		cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
		settle(&w);
	}
	cr_assert_eq(a.received, 100);
	cr_assert_eq(b.received, 300);
	pool_backend_stats(p, 0, &sa);
	pool_backend_stats(p, 1, &sb);
	cr_assert_eq(sa.handed, 100);
	cr_assert_eq(sb.handed, 300);
	cr_assert_eq(sa.connects, 1);

	pool_free(p);
	world_free(&w);
	tb_kill(&a);
	tb_kill(&b);
	free(c);
}

Test(handoff, pool_interleaves_smoothly)
{
	struct tb a, b;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	int i, run = 0, longest = 0;
	unsigned last_a = 0;

	tb_init(&a, "a.sock");
	tb_init(&b, "b.sock");
	tb_listen(&a);
	tb_listen(&b);
	world_init(&w, &a, &b);
	conf_add(c, "a", a.path, SG_BACKEND_FD, 1);
	conf_add(c, "b", b.path, SG_BACKEND_FD, 3);
	cr_assert_not_null(p = pool_new(w.base, c));

	/* Weights 1:3 never give b more than 3 in a row (nginx's smooth
	 * WRR), unlike a plain round robin by weight blocks. */
	for (i = 0; i < 40; i++) {
		sample_hdr(&h, (uint64_t)i);
		cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
		settle(&w);
		run = a.received == last_a ? run + 1 : 0;
		last_a = a.received;
		if (run > longest)
			longest = run;
	}
	cr_assert_eq(longest, 3);
	cr_assert_eq(a.received, 10);

	pool_free(p);
	world_free(&w);
	tb_kill(&a);
	tb_kill(&b);
	free(c);
}

Test(handoff, pool_sends_nothing_more_to_a_dead_backend)
{
	struct tb a, b;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	struct up_arg down = {.i = 0, .want = 0};
	int i;

	tb_init(&a, "a.sock");
	tb_init(&b, "b.sock");
	tb_listen(&a);
	tb_listen(&b);
	world_init(&w, &a, &b);
	conf_add(c, "a", a.path, SG_BACKEND_FD, 1);
	conf_add(c, "b", b.path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	down.p = p;
	settle(&w);
	cr_assert_eq(a.nconns, 1);

	tb_kill(&a);
	cr_assert(run_until(&w, cond_up, &down, 2000),
	    "the pool did not notice the dead backend");
	for (i = 0; i < 100; i++) {
		sample_hdr(&h, (uint64_t)i);
		cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
		settle(&w);
	}
	cr_assert_eq(b.received, 100);
	cr_assert_eq(a.received, 0);

	pool_free(p);
	world_free(&w);
	tb_kill(&b);
	free(c);
}

Test(handoff, pool_routes_around_a_backend_killed_between_submissions)
{
	struct tb a, b;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	int i;

	tb_init(&a, "a.sock");
	tb_init(&b, "b.sock");
	tb_listen(&a);
	tb_listen(&b);
	world_init(&w, &a, &b);
	conf_add(c, "a", a.path, SG_BACKEND_FD, 1);
	conf_add(c, "b", b.path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	settle(&w);

	/* No loop turn between the kill and the submissions: the failed
	 * send itself must move the connection on. */
	tb_kill(&a);
	for (i = 0; i < 10; i++) {
		sample_hdr(&h, (uint64_t)i);
		cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
	}
	settle(&w);
	cr_assert_eq(b.received, 10);

	pool_free(p);
	world_free(&w);
	tb_kill(&b);
	free(c);
}

Test(handoff, pool_overflows_a_full_backend_to_the_next)
{
	struct tb a, b;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_backend_stats sa;
	struct sg_pool *p;
	struct sg_handoff_hdr got;
	int i, fd;

	tb_init(&a, "a.sock");
	tb_init(&b, "b.sock");
	tb_listen(&a);
	tb_listen(&b);
	a.reading = false;
	world_init(&w, &a, &b);
	conf_add(c, "a", a.path, SG_BACKEND_FD, 1);
	conf_add(c, "b", b.path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	settle(&w);

	for (i = 0; i < 2000; i++) {
		sample_hdr(&h, (uint64_t)i);
		cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
		settle(&w);
	}
	pool_backend_stats(p, 0, &sa);
	cr_assert_gt(sa.failed, 0, "backend a never filled up");
	cr_assert_lt(sa.handed, 1000);
	cr_assert_eq(sa.handed + b.received, 2000);
	pool_backend_stats(p, 0, &sa);
	cr_assert_eq(sa.connected, 1, "a full backend is not a dead one");

	/* Everything a accepted is really queued for it. */
	for (i = 0; (fd = sg_handoff_recv(a.conns[0], &got)) != -1; i++)
		close(fd);
	cr_assert_eq((uint64_t)i, sa.handed);

	pool_free(p);
	world_free(&w);
	tb_kill(&a);
	tb_kill(&b);
	free(c);
}

Test(handoff, pool_resets_when_no_backend_and_leaks_nothing)
{
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	char path[108];
	int client, server, before, i;

	world_init(&w, NULL, NULL);
	snprintf(path, sizeof(path), "%s/nobody.sock", tmpdir);
	conf_add(c, "nobody", path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	before = count_fds();

	tcp_pair(&client, &server);
	sample_hdr(&h, 1);
	cr_assert_eq(pool_submit(p, server, &h), -1);
	cr_assert(was_reset(client), "the client got no RST");
	close(client);
	for (i = 0; i < 50; i++)
		cr_assert_eq(pool_submit(p, some_fd(), &h), -1);
	cr_assert_eq(count_fds(), before);
	cr_assert_eq(pool_held(p), 0);

	pool_free(p);
	world_free(&w);
	free(c);
}

Test(handoff, pool_holds_until_a_backend_appears)
{
	struct tb a;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_HOLD, 10000);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	struct count_arg got = {.t = &a, .want = 3};
	int i;

	tb_init(&a, "late.sock");
	world_init(&w, &a, NULL);
	conf_add(c, "late", a.path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	for (i = 0; i < 3; i++) {
		sample_hdr(&h, 100 + (uint64_t)i);
		cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
	}
	cr_assert_eq(pool_held(p), 3);

	tb_listen(&a);
	cr_assert(run_until(&w, cond_received, &got, 3000),
	    "held connections were not delivered");
	cr_assert_eq(a.received, 3);
	cr_assert_eq(a.last_id, 102, "held connections left out of order");
	cr_assert_eq(pool_held(p), 0);

	pool_free(p);
	world_free(&w);
	tb_kill(&a);
	free(c);
}

Test(handoff, pool_resets_held_connections_at_the_hold_timeout)
{
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_HOLD, 100);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	char path[108];
	int client, server, before;
	uint64_t t0;

	world_init(&w, NULL, NULL);
	snprintf(path, sizeof(path), "%s/nobody.sock", tmpdir);
	conf_add(c, "nobody", path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	before = count_fds();

	tcp_pair(&client, &server);
	sample_hdr(&h, 1);
	t0 = now_ms();
	cr_assert_eq(pool_submit(p, server, &h), 0);
	cr_assert_eq(pool_held(p), 1);
	cr_assert(run_until(&w, cond_none_held, p, 3000));
	cr_assert_geq(now_ms() - t0, 100, "reset before the hold timeout");
	cr_assert(was_reset(client), "the client got no RST");
	close(client);
	cr_assert_eq(count_fds(), before);

	pool_free(p);
	world_free(&w);
	free(c);
}

Test(handoff, pool_free_resets_what_it_still_holds)
{
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_HOLD, 10000);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	char path[108];
	int client, server;

	world_init(&w, NULL, NULL);
	snprintf(path, sizeof(path), "%s/nobody.sock", tmpdir);
	conf_add(c, "nobody", path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	tcp_pair(&client, &server);
	sample_hdr(&h, 1);
	cr_assert_eq(pool_submit(p, server, &h), 0);
	pool_free(p);
	cr_assert(was_reset(client));
	close(client);
	world_free(&w);
	free(c);
}

Test(handoff, pool_reconnects_after_the_backend_restarts)
{
	struct tb a;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_backend_stats st;
	struct sg_pool *p;
	struct up_arg down = {.i = 0, .want = 0}, up = {.i = 0, .want = 1};
	struct count_arg got = {.t = &a, .want = 1};

	tb_init(&a, "a.sock");
	tb_listen(&a);
	world_init(&w, &a, NULL);
	conf_add(c, "a", a.path, SG_BACKEND_FD, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	down.p = up.p = p;
	up.t = &a;

	tb_kill(&a);
	cr_assert(run_until(&w, cond_up, &down, 2000));
	sample_hdr(&h, 1);
	cr_assert_eq(pool_submit(p, some_fd(), &h), -1);

	tb_listen(&a);
	cr_assert(run_until(&w, cond_up, &up, 3000), "no reconnection");
	pool_backend_stats(p, 0, &st);
	cr_assert_eq(st.connects, 2);
	cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
	cr_assert(run_until(&w, cond_received, &got, 1000));

	pool_free(p);
	world_free(&w);
	tb_kill(&a);
	free(c);
}

Test(handoff, pool_reconfigure_keeps_unchanged_backends_connected)
{
	struct tb a, b;
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_config *c2 = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_backend_stats st;
	struct sg_pool *p;
	int i;

	tb_init(&a, "a.sock");
	tb_init(&b, "b.sock");
	tb_listen(&a);
	tb_listen(&b);
	world_init(&w, &a, &b);
	conf_add(c, "a", a.path, SG_BACKEND_FD, 1);
	conf_add(c, "b", b.path, SG_BACKEND_FD, 1);
	conf_add(c2, "b", b.path, SG_BACKEND_FD, 5);
	cr_assert_not_null(p = pool_new(w.base, c));
	settle(&w);

	cr_assert_eq(pool_reconfigure(p, c2), 0);
	cr_assert_eq(pool_size(p), 1);
	cr_assert_str_eq(pool_backend_name(p, 0), "b");
	pool_backend_stats(p, 0, &st);
	cr_assert_eq(st.connects, 1, "b was reconnected needlessly");
	for (i = 0; i < 10; i++) {
		sample_hdr(&h, (uint64_t)i);
		cr_assert_eq(pool_submit(p, some_fd(), &h), 0);
	}
	settle(&w);
	cr_assert_eq(b.received, 10);
	cr_assert_eq(a.received, 0);
	/* The pool closed its connection to a, which now reads EOF. */
	cr_assert_eq(sg_handoff_recv(a.conns[0], &h), -1);
	cr_assert_eq(errno, ECONNRESET);

	pool_free(p);
	world_free(&w);
	tb_kill(&a);
	tb_kill(&b);
	free(c);
	free(c2);
}

/* --------------------------------------------------------- proxy mode */

struct proxy_arg {
	int lfd, conn;
	uint8_t buf[256];
	size_t len;
	bool eof;
};

/* The stream backend: accept and read whatever arrives. */
static bool
cond_proxy_read(void *arg)
{
	struct proxy_arg *a = arg;
	ssize_t n;

	if (a->conn == -1)
		a->conn = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK);
	if (a->conn == -1)
		return false;
	while ((n = read(a->conn, a->buf + a->len,
	    sizeof(a->buf) - a->len)) > 0)
		a->len += (size_t)n;
	if (n == 0)
		a->eof = true;
	return a->eof;
}

struct client_arg {
	int fd;
	char buf[64];
	size_t len;
	bool eof;
};

static bool
cond_client_eof(void *arg)
{
	struct client_arg *a = arg;
	ssize_t n;

	while ((n = recv(a->fd, a->buf + a->len, sizeof(a->buf) - a->len,
	    MSG_DONTWAIT)) > 0)
		a->len += (size_t)n;
	if (n == 0)
		a->eof = true;
	return a->eof;
}

Test(handoff, proxy_mode_sends_a_proxy_v2_header_and_relays_both_ways)
{
	static const uint8_t expect[28] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 198,
	    18, 0, 1, 198, 18, 0, 2, 0x9c, 0x40, 0x00, 0x50};
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_backend_stats st;
	struct sg_pool *p;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct proxy_arg pa = {.conn = -1};
	struct client_arg ca = {0};
	int client, server, before;

	world_init(&w, NULL, NULL);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/stream.sock",
	    tmpdir);
	cr_assert_neq(pa.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
	    0), -1);
	cr_assert_eq(bind(pa.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(pa.lfd, 4), 0);
	conf_add(c, "stream", sun.sun_path, SG_BACKEND_PROXY, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	before = count_fds();

	tcp_pair(&client, &server);
	ca.fd = client;
	sample_hdr(&h, 1);
	cr_assert_eq(pool_submit(p, server, &h), 0);
	cr_assert_eq(write(client, "hello", 5), 5);
	cr_assert_eq(shutdown(client, SHUT_WR), 0);

	/* The backend sees the header, the data, then the client's FIN. */
	cr_assert(run_until(&w, cond_proxy_read, &pa, 2000));
	cr_assert_eq(pa.len, sizeof(expect) + 5);
	cr_assert_eq(memcmp(pa.buf, expect, sizeof(expect)), 0);
	cr_assert_eq(memcmp(pa.buf + sizeof(expect), "hello", 5), 0);

	/* Half-closed, the other way still flows; then the backend ends. */
	cr_assert_eq(write(pa.conn, "world", 5), 5);
	close(pa.conn);
	cr_assert(run_until(&w, cond_client_eof, &ca, 2000));
	cr_assert_eq(ca.len, 5);
	cr_assert_eq(memcmp(ca.buf, "world", 5), 0);

	close(client);
	pool_backend_stats(p, 0, &st);
	cr_assert_eq(st.handed, 1);
	cr_assert_eq(count_fds(), before, "the relay was not freed");

	pool_free(p);
	world_free(&w);
	close(pa.lfd);
	free(c);
}

Test(handoff, proxy_mode_header_for_ipv6)
{
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_pool *p;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct proxy_arg pa = {.conn = -1};
	uint8_t a6[16];
	int client, server;

	world_init(&w, NULL, NULL);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s6.sock", tmpdir);
	cr_assert_neq(pa.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK,
	    0), -1);
	cr_assert_eq(bind(pa.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(pa.lfd, 4), 0);
	conf_add(c, "s6", sun.sun_path, SG_BACKEND_PROXY, 1);
	cr_assert_not_null(p = pool_new(w.base, c));

	tcp_pair(&client, &server);
	sample_hdr(&h, 1);
	h.family = AF_INET6;
	inet_pton(AF_INET6, "fd00:198:18::1", h.peer_addr);
	inet_pton(AF_INET6, "fd00:198:18::2", h.local_addr);
	cr_assert_eq(pool_submit(p, server, &h), 0);
	close(client);
	cr_assert(run_until(&w, cond_proxy_read, &pa, 2000));
	cr_assert_eq(pa.len, 16 + 36);
	cr_assert_eq(pa.buf[13], 0x21);
	cr_assert_eq(pa.buf[15], 36);
	inet_pton(AF_INET6, "fd00:198:18::1", a6);
	cr_assert_eq(memcmp(pa.buf + 16, a6, 16), 0);
	cr_assert_eq(pa.buf[48], 40000 >> 8);
	cr_assert_eq(pa.buf[51], 80);

	close(pa.conn);
	pool_free(p);
	world_free(&w);
	close(pa.lfd);
	free(c);
}

Test(handoff, proxy_mode_with_backend_gone_resets_the_client)
{
	struct world w;
	struct sg_config *c = conf_new(SG_NO_BACKEND_RESET, 0);
	struct sg_handoff_hdr h;
	struct sg_backend_stats st;
	struct sg_pool *p;
	char path[108];
	int client, server;

	world_init(&w, NULL, NULL);
	snprintf(path, sizeof(path), "%s/gone.sock", tmpdir);
	conf_add(c, "gone", path, SG_BACKEND_PROXY, 1);
	cr_assert_not_null(p = pool_new(w.base, c));
	tcp_pair(&client, &server);
	sample_hdr(&h, 1);
	cr_assert_eq(pool_submit(p, server, &h), -1);
	cr_assert(was_reset(client));
	pool_backend_stats(p, 0, &st);
	cr_assert_eq(st.connected, 0);
	cr_assert_eq(st.failed, 1);
	close(client);
	pool_free(p);
	world_free(&w);
	free(c);
}
