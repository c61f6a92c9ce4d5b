/*
 * main.c -- synguard's entry point and its main thread: the command line,
 * start-up in the order that never leaves the kernel answering our ports
 * (shadow listeners first), the privilege drop, the worker threads, and the
 * main event loop, which owns signals, reloads, the control socket and the
 * service manager's notifications. It never touches a packet.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "control.h"
#include "cookie.h"
#include "handoff.h"
#include "log.h"
#include "net.h"
#include "notify.h"
#include "tsclock.h"
#include "worker.h"
#include "xdp.h"
#include "xdp_abi.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/synguard.conf"
#define MAX_WORKERS 64
#define STATUS_INTERVAL_S 5  /* STATUS= refresh */
#define SUMMARY_INTERVAL_S 60 /* drop summary in the log */
#define XDP_TICK_MS 25        /* the XDP program's on/off rule */
#define XDP_SYNC_TICKS 80     /* its maps' refresh: every 2 s */

/* Capabilities kept after the privilege drop: CAP_NET_RAW for the tap and
 * the raw socket, CAP_NET_ADMIN for TCP_REPAIR, CAP_NET_BIND_SERVICE because
 * every materialized socket binds the listen port (inet_bind() checks it
 * for ports below 1024, repair mode or not). */
#define KEPT_CAPS                                                            \
	((1u << CAP_NET_RAW) | (1u << CAP_NET_ADMIN) |                       \
	    (1u << CAP_NET_BIND_SERVICE))

struct shadow {
	struct sg_listen_conf l;
	int fd;
};

struct sg_daemon {
	const char *file;
	struct sg_config conf;
	struct sg_config next; /* a reload's candidate */
	struct sg_cookie_secret secret;
	struct shadow shadow[SG_CONFIG_MAX_LISTEN];
	unsigned nshadow;
	struct sg_worker *workers[MAX_WORKERS];
	pthread_t threads[MAX_WORKERS];
	unsigned nworkers;
	unsigned nthreads;
	struct event_base *base;
	struct sg_control *control;
	struct event *ev_status, *ev_watchdog;
	uint64_t watchdog_usec;
	struct sg_stats last;     /* for rates in STATUS= */
	struct sg_stats summarized; /* for the drop summary */
	uint64_t last_summary_s;
	char reload_error[600];   /* the last failed reload, for STATUS= */
	struct sg_xdp *xdp;       /* NULL: no xdp_interfaces */
	struct event *ev_xdp;
	struct sg_xdp_gate xdp_gate;
	unsigned xdp_ticks;
	bool xdp_sync_failed;     /* said once until a sync works again */
	uint16_t xdp_window;      /* what the workers' SYN-ACKs offer, read */
	uint8_t xdp_wscale;       /* with them: at start and on reload */
	struct sg_addrset xdp_local;
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: synguard [-ft] [-c FILE]\n"
	    "  -c FILE     configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -f          stay in the foreground, log to stderr\n"
	    "  -t          check the configuration file and exit\n"
	    "  --version   print the version and exit\n"
	    "  --help      print this help and exit\n");
}

/*
 * Without -f: fork, and let the parent exit only when the child says it
 * started (exit 0) or died trying (exit 1), so that a failure at start-up
 * still shows in the command's exit status and on its stderr. Returns the
 * pipe on which the child reports success.
 */
static int
detach(void)
{
	int p[2];
	char c;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe2");
	switch (fork()) {
	case -1:
		fatal("fork");
	case 0:
		close(p[0]);
		if (setsid() == -1)
			fatal("setsid");
		return p[1];
	default:
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
}

/* The child started: release the parent, leave the terminal, log to
 * syslog from now on. */
static void
detached(int ready_fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null != -1) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	log_to_syslog();
	if (write(ready_fd, "1", 1) != 1)
		log_warn("cannot tell the parent we started");
	close(ready_fd);
}

/* Seconds on the monotonic clock. */
static uint64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* The shadow listener of a listen entry, or NULL. */
static struct shadow *
shadow_find(struct sg_daemon *d, const struct sg_listen_conf *l)
{
	for (unsigned i = 0; i < d->nshadow; i++) {
		struct shadow *s = &d->shadow[i];
		if (s->l.family == l->family && s->l.port == l->port &&
		    memcmp(s->l.addr, l->addr, 16) == 0)
			return s;
	}
	return NULL;
}

/* Open shadow listeners for the entries of conf that have none yet.
 * Returns 0, or -1 with a message in err (those opened stay open). */
static int
shadows_open(struct sg_daemon *d, const struct sg_config *conf, char *err,
    size_t errlen)
{
	char why[256];

	for (unsigned i = 0; i < conf->nlisten; i++) {
		const struct sg_listen_conf *l = &conf->listen[i];
		if (shadow_find(d, l) != NULL)
			continue;
		int fd = net_shadow_open(l->family, l->addr, l->port, why,
		    sizeof(why));
		if (fd == -1) {
			snprintf(err, errlen, "listen %s port %u: %s",
			    l->address, l->port, why);
			return -1;
		}
		d->shadow[d->nshadow].l = *l;
		d->shadow[d->nshadow++].fd = fd;
		log_info("listening on %s port %u", l->address, l->port);
	}
	return 0;
}

/* Close the shadow listeners of entries conf no longer has. */
static void
shadows_prune(struct sg_daemon *d, const struct sg_config *conf)
{
	for (unsigned i = 0; i < d->nshadow;) {
		struct shadow *s = &d->shadow[i];
		unsigned j;
		for (j = 0; j < conf->nlisten; j++)
			if (conf->listen[j].family == s->l.family &&
			    conf->listen[j].port == s->l.port &&
			    memcmp(conf->listen[j].addr, s->l.addr, 16) == 0)
				break;
		if (j < conf->nlisten) {
			i++;
			continue;
		}
		log_info("no longer listening on %s port %u", s->l.address,
		    s->l.port);
		close(s->fd);
		*s = d->shadow[--d->nshadow];
	}
}

/* The cookie secret: from the key file, or fresh. */
static void
secret_init(struct sg_daemon *d)
{
	char err[256];

	if (d->conf.cookie_key_file[0] != '\0') {
		if (cookie_secret_load(d->conf.cookie_key_file, &d->secret, err,
			sizeof(err)) == -1)
			fatalx("cookie_key_file: %s", err);
	} else if (cookie_secret_random(&d->secret) == -1) {
		fatal("getrandom");
	}
}

/* Make the workers (their sockets are opened now, before the privilege
 * drop); their threads start later. */
static void
workers_make(struct sg_daemon *d)
{
	char err[256];
	unsigned n = d->conf.workers;
	int fanout[2] = { NET_FANOUT_NEW, NET_FANOUT_NEW };

	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	for (unsigned i = 0; i < n; i++) {
		d->workers[i] = worker_new(i, n, fanout, &d->conf, &d->secret,
		    err, sizeof(err));
		if (d->workers[i] == NULL)
			fatalx("worker %u: %s", i, err);
		d->nworkers++;
	}
}

/* Thread body of a worker. */
static void *
worker_thread(void *arg)
{
	if (worker_run(arg) == -1)
		log_warnx("a worker loop failed");
	return NULL;
}

/* Start one thread per worker. */
static void
workers_start(struct sg_daemon *d)
{
	for (unsigned i = 0; i < d->nworkers; i++) {
		int e = pthread_create(&d->threads[i], NULL, worker_thread,
		    d->workers[i]);
		if (e != 0) {
			errno = e;
			fatal("pthread_create");
		}
		d->nthreads++;
	}
	log_info("%u worker%s, queue_size %u, cookies %s", d->nworkers,
	    d->nworkers == 1 ? "" : "s", d->conf.queue_size,
	    config_cookie_mode_name(d->conf.cookies));
}

/* Give the XDP program the listen entries, our SYN-ACK's window, the
 * host's addresses and the interfaces' MSS. */
static void
xdp_refresh(struct sg_daemon *d)
{
	if (net_local_addrs(&d->xdp_local) == -1)
		d->xdp_local.n = 0;
	if (xdp_sync(d->xdp, &d->conf, &d->xdp_local, d->xdp_window,
	    d->xdp_wscale) == -1) {
		if (!d->xdp_sync_failed)
			log_warn("cannot update the XDP program's maps");
		d->xdp_sync_failed = true;
	} else {
		d->xdp_sync_failed = false;
	}
}

/* xdp_above as it applies: 0 (always on) with cookies = "always". */
static uint32_t
xdp_above(const struct sg_config *conf)
{
	return conf->cookies == SG_COOKIES_ALWAYS ? 0 : conf->xdp_above;
}

/*
 * The cookie counter, and on or off by the rate of segments for the listen
 * ports: those the workers read, and the SYNs answered (or dropped) in
 * XDP. Any flood turns the program on, an ACK or RST flood too: the
 * workers are then busy, and a handshake's SYN should not queue behind the
 * flood's segments.
 */
static void
xdp_tick(struct sg_daemon *d)
{
	struct sg_stats s;
	struct timespec rt;
	uint64_t segs = xdp_count(d->xdp, SG_XDP_ANSWERED) +
	    xdp_count(d->xdp, SG_XDP_DROPPED);
	uint32_t above = xdp_above(&d->conf);
	bool was = d->xdp_gate.on, on;

	for (unsigned i = 0; i < d->nworkers; i++) {
		worker_stats(d->workers[i], &s);
		segs += s.rx_frames;
	}
	on = xdp_gate(&d->xdp_gate, above, sg_clock_ms(CLOCK_MONOTONIC),
	    segs);
	if (on != was && above != 0)
		log_info("%s", on ? "segment rate above xdp_above: the XDP "
		    "program answers SYNs" : "segment rate low again: the "
		    "workers answer SYNs");
	clock_gettime(CLOCK_REALTIME, &rt);
	if (xdp_set(d->xdp, cookie_counter((uint64_t)rt.tv_sec,
	    d->conf.cookie_period_s), on, above < 200 ? 0 :
	    above / 100) == -1 && !d->xdp_sync_failed) {
		log_warn("cannot update the XDP program's settings");
		d->xdp_sync_failed = true;
	}
}

/*
 * Load the XDP program and attach it to xdp_interfaces: before the
 * privilege drop, since both need CAP_BPF and CAP_NET_ADMIN. A failure
 * ends the start: an operator who named the interfaces expects it there.
 */
static void
xdp_start(struct sg_daemon *d)
{
	char err[512];

	if (d->conf.nxdp == 0)
		return;
	d->xdp = xdp_new(&d->secret, err, sizeof(err));
	if (d->xdp == NULL)
		fatalx("xdp_interfaces: %s", err);
	for (unsigned i = 0; i < d->conf.nxdp; i++)
		if (xdp_attach(d->xdp, d->conf.xdp_interfaces[i], err,
		    sizeof(err)) == -1)
			fatalx("%s", err);
	worker_synack_window(&d->xdp_window, &d->xdp_wscale);
	xdp_refresh(d);
	log_info("XDP program attached to %u interface%s; it answers SYNs "
	    "%s", d->conf.nxdp, d->conf.nxdp == 1 ? "" : "s",
	    xdp_above(&d->conf) == 0 ? "always" : "above xdp_above");
}

/* Every XDP_TICK_MS: the above, and now and then the maps. */
static void
on_xdp_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sg_daemon *d = arg;
	(void)fd;
	(void)what;

	xdp_tick(d);
	if (++d->xdp_ticks % XDP_SYNC_TICKS == 0)
		xdp_refresh(d);
}

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/*
 * Started with CAP_BPF but not as root (systemd's AmbientCapabilities, for
 * xdp_interfaces): it served to load the XDP program, and is needed no
 * more; give it up, ambient, inheritable, effective and permitted.
 */
static void
caps_drop_bpf(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uint32_t bit = 1u << (CAP_BPF - 32);

	memset(data, 0, sizeof(data)); /* valgrind knows capget less well */
	if (syscall(SYS_capget, &hdr, data) == -1 ||
	    !(data[1].permitted & bit))
		return;
	(void)prctl(PR_CAP_AMBIENT_LOWER, CAP_BPF, 0, 0, 0);
	data[1].effective &= ~bit;
	data[1].permitted &= ~bit;
	data[1].inheritable &= ~bit;
	if (syscall(SYS_capset, &hdr, data) == -1)
		log_warn("cannot give up CAP_BPF");
}

/*
 * Started as root: become conf.user, keeping only KEPT_CAPS, and forbid
 * regaining privileges (no_new_privs). Started otherwise (under systemd
 * with User= and AmbientCapabilities=): give up CAP_BPF, then
 * no_new_privs. Must run before any thread starts: capabilities are per
 * thread, and threads inherit them.
 */
static void
privileges_drop(struct sg_daemon *d)
{
	const char *user = d->conf.user;

	if (geteuid() == 0 && user[0] != '\0') {
		struct passwd *pw = getpwnam(user);
		if (pw == NULL)
			fatalx("user %s: no such user", user);
		if (d->control != NULL && d->conf.control_socket[0] != '\0' &&
		    chown(d->conf.control_socket, pw->pw_uid, pw->pw_gid) == -1)
			log_warn("chown %s", d->conf.control_socket);
		/* The bounding set first: dropping needs CAP_SETPCAP, which
		 * goes with root. */
		for (unsigned long cap = 0; cap <= 63; cap++) {
			if (cap < 32 && (KEPT_CAPS & (1u << cap)))
				continue;
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
			    errno == EINVAL)
				break; /* past the kernel's last capability */
		}
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1)
			fatal("prctl(PR_SET_KEEPCAPS)");
		if (setgroups(1, &pw->pw_gid) == -1 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
			fatal("cannot become user %s", user);
		struct __user_cap_header_struct hdr = {
		    _LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct data[2];
		memset(data, 0, sizeof(data));
		data[0].effective = data[0].permitted = KEPT_CAPS;
		if (syscall(SYS_capset, &hdr, data) == -1)
			fatal("capset");
		if (setuid(0) == 0)
			fatalx("could regain root after dropping it");
		log_info("running as %s with CAP_NET_RAW, CAP_NET_ADMIN and "
		    "CAP_NET_BIND_SERVICE only", user);
	} else {
		caps_drop_bpf();
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
}

/* Sum every worker's counters and gauges. */
static void
stats_sum(struct sg_daemon *d, struct sg_stats *out, struct sg_gauges *g)
{
	struct sg_stats s;

	memset(out, 0, sizeof(*out));
	memset(g, 0, sizeof(*g));
	for (unsigned i = 0; i < d->nworkers; i++) {
		worker_stats(d->workers[i], &s);
		uint64_t *dst = (uint64_t *)out;
		const uint64_t *src = (const uint64_t *)&s;
		for (size_t k = 0; k < sizeof(s) / sizeof(uint64_t); k++)
			dst[k] += src[k];
		g->halfopen_entries += worker_halfopen(d->workers[i]);
		g->memory_bytes += worker_memory(d->workers[i]);
		g->rx_ring_workers += worker_on_ring(d->workers[i]);
	}
	if (d->xdp != NULL) {
		out->xdp_answered = xdp_count(d->xdp, SG_XDP_ANSWERED);
		out->xdp_passed = xdp_count(d->xdp, SG_XDP_PASSED);
		out->xdp_dropped = xdp_count(d->xdp, SG_XDP_DROPPED);
		xdp_runtime(d->xdp, &out->xdp_run_ns, &out->xdp_runs);
	}
}

/* Control: the counters and gauges. */
static void
ctl_stats(void *arg, struct sg_stats *out, struct sg_gauges *g)
{
	stats_sum(arg, out, g);
}

/* Per backend: how many workers are connected to it, and its counts. */
static void
backend_sum(struct sg_daemon *d, unsigned b, struct sg_backend_stats *sum,
    unsigned *up)
{
	struct sg_backend_stats bs;

	memset(sum, 0, sizeof(*sum));
	*up = 0;
	for (unsigned i = 0; i < d->nworkers; i++) {
		pool_backend_stats(worker_pool(d->workers[i]), b, &bs);
		sum->handed += bs.handed;
		sum->failed += bs.failed;
		sum->connects += bs.connects;
		*up += bs.connected != 0;
	}
}

/* The state word of a backend connected from up of the workers. */
static const char *
backend_state(const struct sg_daemon *d, unsigned up)
{
	return up == d->nworkers ? "up" : up == 0 ? "down" : "partial";
}

/* Control: one line per backend, summed over the workers' pools. */
static void
ctl_backends(void *arg, struct evbuffer *out)
{
	struct sg_daemon *d = arg;
	struct sg_backend_stats sum;
	unsigned up;

	if (d->nworkers == 0)
		return;
	struct sg_pool *p0 = worker_pool(d->workers[0]);
	evbuffer_add_printf(out, "%-16s %-8s %12s %10s %10s\n", "name",
	    "state", "handed", "failed", "connects");
	for (unsigned b = 0; b < pool_size(p0); b++) {
		backend_sum(d, b, &sum, &up);
		evbuffer_add_printf(out, "%-16s %-8s %12" PRIu64 " %10" PRIu64
		    " %10" PRIu64 "\n", pool_backend_name(p0, b),
		    backend_state(d, up), sum.handed, sum.failed, sum.connects);
	}
}

/* "app up, db down": the backends for STATUS=. */
static void
backends_line(struct sg_daemon *d, char *buf, size_t len)
{
	struct sg_backend_stats sum;
	size_t n = 0;
	unsigned up;

	buf[0] = '\0';
	if (d->nworkers == 0)
		return;
	struct sg_pool *p0 = worker_pool(d->workers[0]);
	for (unsigned b = 0; b < pool_size(p0) && n < len; b++) {
		backend_sum(d, b, &sum, &up);
		int m = snprintf(buf + n, len - n, "%s%s %s", b ? ", " : "",
		    pool_backend_name(p0, b), backend_state(d, up));
		if (m < 0)
			break;
		n += (size_t)m;
	}
}

/* STATUS= with live figures, every STATUS_INTERVAL_S. */
static void
status_update(struct sg_daemon *d, int ready)
{
	struct sg_stats s;
	struct sg_gauges g;
	char be[256], status[1024];

	stats_sum(d, &s, &g);
	backends_line(d, be, sizeof(be));
#define RATE(f) (s.f > d->last.f ? (s.f - d->last.f) / STATUS_INTERVAL_S : 0)
	if (d->reload_error[0] != '\0')
		snprintf(status, sizeof(status), "reload failed, old "
		    "configuration in force: %s", d->reload_error);
	else
		snprintf(status, sizeof(status), "%" PRIu64 " SYN/s, %" PRIu64
		    " half-open, %" PRIu64 " cookies/s, %" PRIu64 " handoffs/s; "
		    "backends: %s", ready ? 0 : RATE(syn_received),
		    g.halfopen_entries,
		    ready ? 0 : RATE(cookie_sent), ready ? 0 : RATE(handoff), be);
#undef RATE
	d->last = s;
	if (ready)
		notify_ready(status);
	else
		notify_status(status);
}

/* Log a summary of the drops since the last one (never per packet). */
static void
summary_log(struct sg_daemon *d)
{
	struct sg_stats s;
	struct sg_gauges g;
	uint64_t total = 0;
	char buf[900];
	size_t n = 0;

	stats_sum(d, &s, &g);
	buf[0] = '\0';
	for (int r = 1; r < SG_R__COUNT && n < sizeof(buf); r++) {
		uint64_t delta = s.drops[r] - d->summarized.drops[r];
		if (delta == 0)
			continue;
		total += delta;
		int m = snprintf(buf + n, sizeof(buf) - n, " %s=%" PRIu64,
		    reason_name(r), delta);
		if (m > 0)
			n += (size_t)m;
	}
	if (total > 0)
		log_notice("last %us: %" PRIu64 " segments dropped:%s",
		    SUMMARY_INTERVAL_S, total, buf);
	d->summarized = s;
}

/* Every STATUS_INTERVAL_S: STATUS=, and now and then the drop summary. */
static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	struct sg_daemon *d = arg;
	(void)fd;
	(void)what;

	status_update(d, 0);
	if (mono_s() - d->last_summary_s >= SUMMARY_INTERVAL_S) {
		summary_log(d);
		d->last_summary_s = mono_s();
	}
}

/* At half of WatchdogSec: WATCHDOG=1, but only if every worker's loop has
 * turned within that time, so a stuck worker gets us restarted. */
static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct sg_daemon *d = arg;
	(void)fd;
	(void)what;

	uint64_t now_ms = sg_clock_ms(CLOCK_MONOTONIC);
	uint64_t limit_ms = d->watchdog_usec / 2000;
	for (unsigned i = 0; i < d->nworkers; i++) {
		uint64_t beat = worker_heartbeat(d->workers[i]);
		if (beat < now_ms && now_ms - beat > limit_ms + 500) {
			log_warnx("worker %u is stuck: no watchdog ping", i);
			return;
		}
	}
	notify_watchdog();
}

/* Settings read at start only: name those a reload tried to change. */
static void
reload_warn_restart(const struct sg_config *old, const struct sg_config *new)
{
	if (old->workers != new->workers)
		log_warnx("reload: workers changes at the next start");
	if (old->queue_size != new->queue_size)
		log_warnx("reload: queue_size changes at the next start");
	if (old->rx_batch_ms != new->rx_batch_ms)
		log_warnx("reload: rx_batch_ms changes at the next start");
	if (strcmp(old->cookie_key_file, new->cookie_key_file) != 0)
		log_warnx("reload: cookie_key_file changes at the next start");
	if (strcmp(old->control_socket, new->control_socket) != 0)
		log_warnx("reload: control_socket changes at the next start");
	if (strcmp(old->user, new->user) != 0)
		log_warnx("reload: user changes at the next start");
	if (old->nxdp != new->nxdp || memcmp(old->xdp_interfaces,
	    new->xdp_interfaces, sizeof(old->xdp_interfaces)) != 0)
		log_warnx("reload: xdp_interfaces changes at the next start");
}

/*
 * Re-read the configuration. New listeners open before the taps learn their
 * ports, and old ones close after the taps forget them, so the kernel never
 * answers a port in between. Half-open entries and handed-off connections
 * are untouched. On any error the old configuration stays in force.
 */
static int
reload(struct sg_daemon *d, char *err, size_t errlen)
{
	struct sg_config *n = &d->next;

	notify_reloading();
	if (config_load(d->file, n, err, errlen) == -1)
		goto fail;
	if (shadows_open(d, n, err, errlen) == -1) {
		shadows_prune(d, &d->conf);
		goto fail;
	}
	reload_warn_restart(&d->conf, n);
	/* Keep what only a start can change. */
	n->workers = d->conf.workers;
	n->queue_size = d->conf.queue_size;
	n->rx_batch_ms = d->conf.rx_batch_ms;
	memcpy(n->cookie_key_file, d->conf.cookie_key_file,
	    sizeof(n->cookie_key_file));
	memcpy(n->control_socket, d->conf.control_socket,
	    sizeof(n->control_socket));
	memcpy(n->user, d->conf.user, sizeof(n->user));
	n->nxdp = d->conf.nxdp;
	memcpy(n->xdp_interfaces, d->conf.xdp_interfaces,
	    sizeof(n->xdp_interfaces));
	if (d->xdp != NULL && n->cookies == SG_COOKIES_NEVER) {
		snprintf(err, errlen, "%s: handshake.cookies = \"never\" "
		    "needs a restart without xdp_interfaces", d->file);
		shadows_prune(d, &d->conf);
		goto fail;
	}
	for (unsigned i = 0; i < d->nworkers; i++)
		if (worker_reconfigure(d->workers[i], n) == -1)
			log_warnx("reload: worker %u did not take it", i);
	shadows_prune(d, n);
	d->conf = *n;
	if (d->xdp != NULL) {
		/* As the workers read it in worker_reconfigure, just now. */
		worker_synack_window(&d->xdp_window, &d->xdp_wscale);
		xdp_refresh(d);
	}
	log_setlevel(d->conf.log_level);
	d->reload_error[0] = '\0';
	log_info("reloaded %s", d->file);
	status_update(d, 1);
	return 0;
fail:
	log_warnx("reload failed, old configuration in force: %s", err);
	snprintf(d->reload_error, sizeof(d->reload_error), "%s", err);
	status_update(d, 1);
	return -1;
}

/* Control: reload. */
static int
ctl_reload(void *arg, char *err, size_t errlen)
{
	return reload(arg, err, errlen);
}

/* SIGHUP: reload. */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	char err[512];
	(void)sig;
	(void)what;

	reload(arg, err, sizeof(err));
}

/* SIGTERM, SIGINT: leave the main loop. */
static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sg_daemon *d = arg;
	(void)what;

	log_info("signal %d: stopping", (int)sig);
	notify_stopping();
	event_base_loopbreak(d->base);
}

/* Stop and free the workers, then close the listeners. */
static void
daemon_stop(struct sg_daemon *d)
{
	for (unsigned i = 0; i < d->nthreads; i++)
		worker_stop(d->workers[i]);
	for (unsigned i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	for (unsigned i = 0; i < d->nworkers; i++)
		worker_free(d->workers[i]);
	for (unsigned i = 0; i < d->nshadow; i++)
		close(d->shadow[i].fd);
	d->nworkers = d->nthreads = d->nshadow = 0;
}

/* Register the main loop's events. */
static void
events_start(struct sg_daemon *d, struct event **sigs)
{
	static const int signals[] = {SIGTERM, SIGINT, SIGHUP};
	struct timeval status_tv = {STATUS_INTERVAL_S, 0};

	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(d->base, signals[i],
		    signals[i] == SIGHUP ? on_hup : on_stop_signal, d);
		if (sigs[i] == NULL || event_add(sigs[i], NULL) == -1)
			fatalx("cannot register signal events");
	}
	d->ev_status = event_new(d->base, -1, EV_PERSIST, on_status, d);
	if (d->ev_status == NULL || event_add(d->ev_status, &status_tv) == -1)
		fatalx("cannot register the status timer");
	if (d->xdp != NULL) {
		struct timeval tick = {0, XDP_TICK_MS * 1000};
		d->ev_xdp = event_new(d->base, -1, EV_PERSIST, on_xdp_tick, d);
		if (d->ev_xdp == NULL || event_add(d->ev_xdp, &tick) == -1)
			fatalx("cannot register the XDP timer");
	}
	d->watchdog_usec = notify_watchdog_usec();
	if (d->watchdog_usec > 0) {
		struct timeval half = {(time_t)(d->watchdog_usec / 2000000),
		    (suseconds_t)(d->watchdog_usec / 2 % 1000000)};
		d->ev_watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog,
		    d);
		if (d->ev_watchdog == NULL || event_add(d->ev_watchdog, &half))
			fatalx("cannot register the watchdog timer");
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct sg_daemon d;
	int check_only = 0, foreground = 0;
	char err[512];
	int ch;

	d.file = DEFAULT_CONFIG;
	log_init(6, "synguard");
	while ((ch = getopt_long(argc, argv, "c:fth", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			d.file = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			check_only = 1;
			break;
		case 'V':
			printf("synguard %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if (config_load(d.file, &d.conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "synguard: %s\n", err);
		if (check_only)
			fprintf(stderr, "synguard: configuration file %s test "
			    "failed\n", d.file);
		return 1;
	}
	if (check_only) {
		fprintf(stderr, "synguard: configuration file %s test is "
		    "successful\n", d.file);
		return 0;
	}
	log_setlevel(d.conf.log_level);
	int ready_fd = foreground ? -1 : detach();
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent has no thread support");
	d.base = event_base_new();
	if (d.base == NULL)
		fatalx("event_base_new failed");

	secret_init(&d);
	/* The shadow listeners come first: from then on the kernel answers
	 * nothing on our ports, and the taps see every segment. */
	if (shadows_open(&d, &d.conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	workers_make(&d);
	if (d.conf.control_socket[0] != '\0') {
		static const struct sg_control_ops ops = {ctl_stats,
		    ctl_backends, ctl_reload};
		d.control = control_new(d.base, d.conf.control_socket, &ops, &d,
		    err, sizeof(err));
		if (d.control == NULL)
			fatalx("control_socket %s", err);
	}
	xdp_start(&d);
	privileges_drop(&d);
	workers_start(&d);
	if (d.xdp != NULL)
		xdp_tick(&d); /* on from now, if it is to be */

	struct event *sigs[3];
	events_start(&d, sigs);
	d.last_summary_s = mono_s();
	log_info("synguard %s started", PACKAGE_VERSION);
	if (ready_fd != -1)
		detached(ready_fd);
	status_update(&d, 1);

	event_base_dispatch(d.base);

	control_free(d.control);
	/* The program off the interfaces first: it must not answer for a
	 * daemon that no longer takes the ACKs. */
	xdp_free(d.xdp);
	daemon_stop(&d);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_free(d.ev_status);
	if (d.ev_xdp != NULL)
		event_free(d.ev_xdp);
	if (d.ev_watchdog != NULL)
		event_free(d.ev_watchdog);
	event_base_free(d.base);
	libevent_global_shutdown();
	log_info("stopped");
	return 0;
}
