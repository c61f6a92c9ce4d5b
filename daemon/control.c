/*
 * control.c -- the control socket. One request per connection: a line of
 * text, answered with "ok" or "error: WHY" on the first line, then the
 * body, then the daemon closes the connection.
 *
 * It runs on the main thread's event loop, never on a worker's: nothing a
 * client does can slow the packet path. Limits (line length, idle time,
 * number of clients) are in control.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "control.h"
#include "log.h"
#include "peercred.h"

/* How long accepting pauses after accept() failed (EMFILE, ENFILE). */
#define CONTROL_ACCEPT_PAUSE_MS 250

struct sg_control {
	struct evconnlistener *listener;
	struct event *ev_resume; /* re-enables accepting after a failure */
	struct sg_control_ops ops;
	void *arg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct bufferevent *client[CONTROL_MAX_CLIENTS];
	unsigned clients;
	uint64_t refused; /* clients turned away at the limit */
};

struct figure_desc {
	const char *name;
	const char *help;
	size_t offset;
};

static const struct figure_desc counters[] = {
#define SG_COUNTER_DESC(n, h) {#n, h, offsetof(struct sg_stats, n)},
	SG_COUNTERS(SG_COUNTER_DESC)
#undef SG_COUNTER_DESC
};

static const struct figure_desc gauges[] = {
#define SG_GAUGE_DESC(n, h) {#n, h, offsetof(struct sg_gauges, n)},
	SG_GAUGES(SG_GAUGE_DESC)
#undef SG_GAUGE_DESC
};

#define NFIGURES(a) (sizeof(a) / sizeof((a)[0]))

/* One figure: a table line, or its Prometheus HELP, TYPE and sample. */
static void
figure_format(struct evbuffer *out, const struct figure_desc *d,
    const void *from, int prometheus, bool counter)
{
	const char *sfx = counter ? "_total" : "";
	uint64_t v;

	memcpy(&v, (const char *)from + d->offset, sizeof(v));
	if (!prometheus)
		evbuffer_add_printf(out, "%-24s %20" PRIu64 "\n", d->name, v);
	else
		evbuffer_add_printf(out, "# HELP synguard_%s%s %s.\n"
		    "# TYPE synguard_%s%s %s\nsynguard_%s%s %" PRIu64 "\n",
		    d->name, sfx, d->help, d->name, sfx,
		    counter ? "counter" : "gauge", d->name, sfx, v);
}

void
control_format_stats(struct evbuffer *out, const struct sg_stats *s,
    const struct sg_gauges *g, int prometheus)
{
	size_t i;
	int r;

	for (i = 0; i < NFIGURES(counters); i++)
		figure_format(out, &counters[i], s, prometheus, true);
	if (prometheus) {
		evbuffer_add_printf(out,
		    "# HELP synguard_drops_total Segments dropped, by reason.\n"
		    "# TYPE synguard_drops_total counter\n");
		for (r = 1; r < SG_R__COUNT; r++)
			evbuffer_add_printf(out,
			    "synguard_drops_total{reason=\"%s\"} %" PRIu64 "\n",
			    reason_name(r), s->drops[r]);
	}
	for (i = 0; i < NFIGURES(gauges); i++)
		figure_format(out, &gauges[i], g, prometheus, false);
	if (prometheus)
		return;
	for (r = 1; r < SG_R__COUNT; r++)
		evbuffer_add_printf(out, "drop_%-19s %20" PRIu64 "\n",
		    reason_name(r), s->drops[r]);
}

/* Whether a request line is printable ASCII. */
static int
line_printable(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			return 0;
	return 1;
}

int
control_handle(const struct sg_control_ops *ops, void *arg, const char *line,
    size_t len, struct evbuffer *out)
{
	char err[512];

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (!line_printable(line, len)) {
		evbuffer_add_printf(out, "error: malformed request\n");
		return -1;
	}
#define IS(cmd) (len == sizeof(cmd) - 1 && memcmp(line, cmd, len) == 0)
	if (IS("stats") || IS("stats prometheus")) {
		struct sg_stats s;
		struct sg_gauges g;
		ops->stats(arg, &s, &g);
		evbuffer_add_printf(out, "ok\n");
		control_format_stats(out, &s, &g, len > 5);
	} else if (IS("backends")) {
		evbuffer_add_printf(out, "ok\n");
		ops->backends(arg, out);
	} else if (IS("reload")) {
		if (ops->reload(arg, err, sizeof(err)) == -1)
			evbuffer_add_printf(out, "error: %s\n", err);
		else
			evbuffer_add_printf(out, "ok\n");
	} else if (IS("help")) {
		evbuffer_add_printf(out, "ok\nstats\nstats prometheus\n"
		    "backends\nreload\nhelp\n");
	} else {
		evbuffer_add_printf(out, "error: unknown command (try help)\n");
	}
#undef IS
	return -1;
}

/* Close a client once its answer is written. */
static void
client_done(struct bufferevent *bev, void *arg)
{
	struct sg_control *c = arg;

	for (unsigned i = 0; i < c->clients; i++) {
		if (c->client[i] == bev) {
			c->client[i] = c->client[--c->clients];
			break;
		}
	}
	bufferevent_free(bev);
}

/* Output drained: the answer is out. */
static void
on_client_write(struct bufferevent *bev, void *arg)
{
	client_done(bev, arg);
}

static void on_client_event(struct bufferevent *, short, void *);

/* A request line is in, or too much came without one. */
static void
on_client_read(struct bufferevent *bev, void *arg)
{
	struct sg_control *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
			evbuffer_add_printf(out, "error: request too long "
			    "(at most %d bytes)\n", CONTROL_LINE_MAX);
			goto answer;
		}
		return;
	}
	if (len > CONTROL_LINE_MAX)
		evbuffer_add_printf(out, "error: request too long (at most "
		    "%d bytes)\n", CONTROL_LINE_MAX);
	else
		control_handle(&c->ops, c->arg, line, len, out);
	free(line);
answer:
	/* Stop reading; close when the answer is written. */
	bufferevent_disable(bev, EV_READ);
	/* The event callback stays: a client gone before the answer is
	 * written (EPIPE, time-out) must still free its slot. */
	bufferevent_setcb(bev, NULL, on_client_write, on_client_event, c);
	bufferevent_enable(bev, EV_WRITE);
}

/* EOF, error or idle time-out before an answer. */
static void
on_client_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	client_done(bev, arg);
}

/*
 * Only root, synguard's own user and members of the socket's group may use
 * the socket. Its mode (0660) says the same; this holds even if the mode
 * was loosened by hand. Others get one line saying why.
 */
static bool
control_peer_ok(struct sg_control *c, int fd)
{
	struct stat st;
	char why[160], line[200];

	if (stat(c->path, &st) == -1)
		st.st_gid = getegid();
	int ok = peercred_control_ok(fd, st.st_gid, why, sizeof(why));
	if (ok == 1)
		return true;
	if (ok == -1)
		snprintf(why, sizeof(why), "credentials unknown");
	int n = snprintf(line, sizeof(line), "error: permission denied: %s\n",
	    why);
	if (n > 0 && write(fd, line, (size_t)n) == -1)
		log_debug("control: %s", strerror(errno));
	log_notice("control: refused a client: %s", why);
	return false;
}

/* A new client. */
static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct sg_control *c = arg;
	struct event_base *base = evconnlistener_get_base(l);
	struct timeval idle = {CONTROL_IDLE_S, 0};
	(void)sa;
	(void)salen;

	if (c->clients >= CONTROL_MAX_CLIENTS) {
		c->refused++;
		close(fd);
		return;
	}
	if (!control_peer_ok(c, fd)) {
		c->refused++;
		close(fd);
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	c->client[c->clients++] = bev;
	/* Read at most a line and a bit at a time; never buffer more. */
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_LINE_MAX + 2);
	bufferevent_setcb(bev, on_client_read, NULL, on_client_event, c);
	bufferevent_set_timeouts(bev, &idle, &idle);
	bufferevent_enable(bev, EV_READ);
}

/*
 * accept() failed. Out of descriptors the pending connection stays
 * queued, the listener stays readable and libevent would call accept()
 * again at once, forever, logging each time: pause accepting instead.
 */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct sg_control *c = arg;
	struct timeval pause = {0, CONTROL_ACCEPT_PAUSE_MS * 1000};

	log_debug("control: accept: %s", strerror(errno));
	evconnlistener_disable(l);
	evtimer_add(c->ev_resume, &pause);
}

/* The pause is over: accept again. */
static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct sg_control *c = arg;
	(void)fd;
	(void)what;

	evconnlistener_enable(c->listener);
}

struct sg_control *
control_new(struct event_base *base, const char *path,
    const struct sg_control_ops *ops, void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct sg_control *c;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->ops = *ops;
	c->arg = arg;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	memcpy(c->path, path, strlen(path) + 1);

	/* A socket someone answers on belongs to a running daemon: never
	 * steal it. One nobody answers on is left from a previous run. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe != -1) {
		int live = connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0;
		close(probe);
		if (live) {
			snprintf(err, errlen, "%s: in use by a running synguard",
			    path);
			free(c);
			return NULL;
		}
	}
	(void)unlink(path);
	/* Created 0660 from the start: no moment in which others may
	 * connect. */
	mode_t old = umask(0117);
	c->listener = evconnlistener_new_bind(base, on_accept, c,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, (int)sizeof(sun));
	umask(old);
	if (c->listener == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(c);
		return NULL;
	}
	if ((c->ev_resume = evtimer_new(base, on_resume, c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		evconnlistener_free(c->listener);
		(void)unlink(path);
		free(c);
		return NULL;
	}
	evconnlistener_set_error_cb(c->listener, on_accept_error);
	return c;
}

void
control_free(struct sg_control *c)
{
	if (c == NULL)
		return;
	evconnlistener_free(c->listener);
	event_free(c->ev_resume);
	while (c->clients > 0)
		bufferevent_free(c->client[--c->clients]);
	(void)unlink(c->path);
	free(c);
}
