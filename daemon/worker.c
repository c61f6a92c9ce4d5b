/*
 * worker.c -- a worker's event loop: frames from the tap go through the
 * codec into the engine; the engine's replies go out through the raw socket;
 * completed handshakes are materialized (repair.c) and handed to the pool
 * (handoff.c).
 *
 * The loop reads frames in batches, takes the clock once per batch, and
 * never blocks. Nothing here is allocated per packet: the frame buffers are
 * allocated with the worker.
 */
#include <sys/random.h>

#include <net/if.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "codec.h"
#include "engine.h"
#include "handoff.h"
#include "log.h"
#include "net.h"
#include "repair.h"
#include "rxrate.h"
#include "siphash.h"
#include "tsclock.h"
#include "worker.h"

/* Frames read per recvmmsg call, and calls per wake-up before timers and
 * other events get their turn. */
#define BATCH 32
#define ROUNDS 8
/* A frame buffer holds the largest IP packet (64 KiB on lo), so data riding
 * on a completing segment is never cut. */
#define FRAME_SIZE 65536
/* Our SYN-ACK's window: the unscaled maximum, as a SYN-ACK's window is never
 * scaled (RFC 7323 2.2). */
#define OUR_WINDOW 65535
/* Connections made lately, for segments that arrive in between (see
 * late_data): direct-mapped by a keyed hash of the 4-tuple. */
#define MADE_SLOTS 4096

struct made_slot {
	uint64_t tag;     /* keyed hash of the 4-tuple; 0: empty */
	uint64_t done_ns; /* the socket was there, CLOCK_REALTIME */
	uint32_t rcv_nxt; /* the first byte it had not been given */
};

/* Interface MTU cache, direct-mapped by ifindex. */
#define MTU_SLOTS 64
#define MTU_TTL_MS 10000

struct mtu_slot {
	int ifindex;
	int mtu;
	uint64_t fetched_ms;
};

struct sg_worker {
	unsigned id;
	struct event_base *base;
	struct event *ev_tap;
	struct event *ev_plain;
	struct event *ev_timer;
	uint64_t timer_at_ms; /* when ev_timer fires, 0 if not armed */
	/* With a ring (rx_batch_ms > 0) a worker has two taps in two fanout
	 * groups joined in the same order, so a flow maps to the same worker
	 * in both, and lets one take frames at a time: `plain`, read as
	 * frames come, while it sees fewer than ring_above frames a second,
	 * else `tap`, read through its ring. Without a ring, or with
	 * rx_ring_above = 0 at start, `tap` alone, and plain.fd is -1. */
	struct sg_tap tap;
	struct sg_tap plain;
	bool on_ring;
	uint32_t ring_above;   /* rx_ring_above; 0: always the ring */
	struct sg_rxrate rate; /* when to move between the two */
	struct sg_tx tx;
	struct sg_engine *engine;
	struct sg_pool *pool;
	struct sg_stats stats;
	uint64_t next_conn_id;
	struct sg_frame frames[BATCH];
	struct sg_segment segs[BATCH];
	uint16_t mss[BATCH];
	/* Replies waiting for one sendmmsg at the end of the batch. */
	uint8_t txbuf[NET_TX_BATCH][SG_REPLY_MAX];
	const uint8_t *txpkt[NET_TX_BATCH];
	size_t txlen[NET_TX_BATCH];
	struct sg_hop txhop[NET_TX_BATCH]; /* ifindex 0: route it */
	unsigned ntx;
	struct sg_hop hop; /* of the segment being handled; ifindex 0 on
			      timers */
	uint8_t *bufs;
	struct mtu_slot mtu[MTU_SLOTS];
	struct sg_clock now;
	struct event *ev_beat;
	volatile uint64_t heartbeat_ms; /* the loop's last turn, for the
					   watchdog */
	unsigned beats;
	struct sg_addrset local; /* the host's addresses, every 2 s */
	unsigned nworkers;
	uint16_t ports[SG_CONFIG_MAX_LISTEN]; /* the tap filter's */
	size_t nports;
	struct sg_sipkey made_key;
	struct made_slot made[MADE_SLOTS];
};

/* A configuration handed to the worker's thread, and its answer. */
struct reconf {
	struct sg_worker *w;
	const struct sg_config *conf;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

/* Read both clocks. */
static void
clock_read(struct sg_clock *c)
{
	struct timespec ts;

	c->mono_ms = sg_clock_ms(CLOCK_MONOTONIC);
	clock_gettime(CLOCK_REALTIME, &ts);
	c->real_s = (uint64_t)ts.tv_sec;
}

/* The MSS to offer on an interface (net_mss), its MTU read again after
 * MTU_TTL_MS. */
static uint16_t
our_mss(struct sg_worker *w, int ifindex, int family)
{
	struct mtu_slot *s = &w->mtu[(unsigned)ifindex % MTU_SLOTS];

	if (s->ifindex != ifindex || w->now.mono_ms - s->fetched_ms > MTU_TTL_MS) {
		s->ifindex = ifindex;
		s->mtu = net_ifmtu(ifindex);
		s->fetched_ms = w->now.mono_ms;
	}
	return net_mss(s->mtu, family);
}

/* Say why an interface's AF_XDP socket could not be had (the sender says
 * so once for each new reason): quietly for one that is not Ethernet
 * (loopback), where it never can. */
static void
xdp_failed(struct sg_worker *w)
{
	char name[IF_NAMESIZE];
	int e = w->tx.xdp_err;

	if (if_indextoname((unsigned)w->tx.xdp_err_ifindex, name) == NULL)
		snprintf(name, sizeof(name), "#%d", w->tx.xdp_err_ifindex);
	w->tx.xdp_err_ifindex = 0;
	if (e == ENOTSUP) {
		log_debug("worker %u: %s is not Ethernet: replies leave "
		    "through AF_PACKET", w->id, name);
		return;
	}
	if (e == ENODEV || e == ENXIO) {
		log_info("worker %u: interface %s is gone, and its AF_XDP "
		    "socket with it", w->id, name);
		return;
	}
	log_warnx("worker %u: no AF_XDP socket on %s queue %u (%s%s); "
	    "replies leave through AF_PACKET, tried again in %d s",
	    w->id, name, w->tx.xdp_queue, strerror(e),
	    e == EINVAL ? ": fewer sending queues than workers?" :
	    e == EBUSY ? ": another AF_XDP program holds it" :
	    e == ENOBUFS ? ": raise RLIMIT_MEMLOCK" : "",
	    NET_TX_XSK_RETRY_MS / 1000);
}

/* The sender's AF_XDP figures into the counters, and its news to the log. */
static void
xdp_counts(struct sg_worker *w)
{
	w->stats.tx_xdp = w->tx.xdp_sent;
	w->stats.tx_xdp_missed = w->tx.xdp_missed;
	/* Counted as sent when they went on the ring: now as failed too
	 * (counters only grow). */
	w->stats.tx_errors += w->tx.xdp_lost;
	w->stats.drops[SG_R_TX_FAILED] += w->tx.xdp_lost;
	w->tx.xdp_lost = 0;
	if (w->tx.xdp_err_ifindex != 0)
		xdp_failed(w);
}

/*
 * Send the queued replies, a run of one kind at a time: answers to a
 * segment go back to the hop they came from (AF_XDP or AF_PACKET), timer
 * retransmissions are routed (raw socket, sendmmsg). A packet the kernel refuses is
 * counted and skipped; a full buffer drops the rest of the batch at once.
 */
static void
tx_flush(struct sg_worker *w)
{
	unsigned off = 0;

	while (off < w->ntx) {
		bool hop = w->txhop[off].ifindex != 0;
		unsigned run = 1;
		while (off + run < w->ntx &&
		    (w->txhop[off + run].ifindex != 0) == hop)
			run++;
		int n = hop ? net_tx_send_hops(&w->tx, &w->txpkt[off],
		    &w->txlen[off], &w->txhop[off], run) :
		    net_tx_send_batch(&w->tx, &w->txpkt[off], &w->txlen[off],
		    run);
		if (n > 0) {
			/* Stopped early or not, sendmmsg reports no error
			 * with a count: the next call starts at the packet
			 * that failed and returns its errno. */
			off += (unsigned)n;
			continue;
		}
		unsigned lost = (errno == EAGAIN || errno == ENOBUFS) ?
		    w->ntx - off : 1;
		w->stats.tx_errors += lost;
		w->stats.synack_sent -= lost;
		w->stats.drops[SG_R_TX_FAILED] += lost;
		off += lost;
	}
	w->ntx = 0;
	xdp_counts(w);
}

/* Engine callback: build a segment into the send batch. */
static int
tx_reply(void *arg, const struct sg_reply *r)
{
	struct sg_worker *w = arg;
	size_t len;

	if (w->ntx == NET_TX_BATCH)
		tx_flush(w);
	len = codec_build(r, w->txbuf[w->ntx], SG_REPLY_MAX);
	if (len == 0)
		return -1;
	w->txpkt[w->ntx] = w->txbuf[w->ntx];
	w->txhop[w->ntx] = w->hop;
	w->txlen[w->ntx++] = len;
	return 0;
}

/* The made table's tag of a 4-tuple; never 0. */
static uint64_t
made_tag(const struct sg_worker *w, const struct sg_tuple *t)
{
	uint64_t tag = siphash24(&w->made_key, t, sizeof(*t));

	return tag != 0 ? tag : 1;
}

/* A connection's socket exists from now on, expecting byte rcv_nxt. */
static void
made_note(struct sg_worker *w, const struct sg_tuple *t, uint32_t rcv_nxt)
{
	uint64_t tag = made_tag(w, t);
	struct made_slot *s = &w->made[tag % MADE_SLOTS];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	s->tag = tag;
	s->done_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	s->rcv_nxt = rcv_nxt;
}

/*
 * A client that writes at once sends its ACK and its first data back to
 * back. When the data arrives after the ACK completed the handshake but
 * before the socket exists, the kernel drops it (the shadow listener), and
 * the client would send it again only after its retransmission timeout,
 * 200 ms or more. The tap still shows us the segment: if it arrived before
 * the socket was there and brings bytes the socket has not had (or a FIN),
 * send it through the local stack again, now to the socket, with its
 * checksum completed (a captured one may be partial). A segment that
 * arrived later, the kernel delivered itself: it goes to the engine, which
 * counts it. O(1): one keyed hash per data segment that reaches us.
 */
static bool
late_data(struct sg_worker *w, unsigned i)
{
	struct sg_frame *f = &w->frames[i];
	const struct sg_segment *seg = &w->segs[i];

	if ((seg->flags & (SG_TCP_SYN | SG_TCP_RST)) || f->rx_ns == 0 ||
	    (seg->payload_len == 0 && !(seg->flags & SG_TCP_FIN)))
		return false;
	uint64_t tag = made_tag(w, &seg->tuple);
	const struct made_slot *s = &w->made[tag % MADE_SLOTS];
	if (s->tag != tag || f->rx_ns >= s->done_ns ||
	    (uint32_t)(seg->seq - s->rcv_nxt) >= 0x40000000u)
		return false;
	codec_tcp_csum_set(seg, f->data + (seg->l4 - f->data));
	if (net_tx_send(&w->tx, seg->l3, seg->l3_len) == 0)
		w->stats.reinjected++;
	else
		w->stats.tx_errors++;
	return true;
}

/* Engine callback: make the kernel socket and hand it on. */
static int
established(void *arg, const struct sg_conn_params *p, bool via_cookie,
    uint32_t handshake_us)
{
	struct sg_worker *w = arg;
	struct sg_handoff_hdr h;
	int fd = repair_materialize(p);

	if (fd == -1)
		return -1;
	made_note(w, &p->tuple, p->client_isn + 1 + (uint32_t)p->data_len);
	memset(&h, 0, sizeof(h));
	h.magic = SG_HANDOFF_MAGIC;
	h.version = SG_HANDOFF_VERSION;
	h.hdr_size = sizeof(h);
	h.family = p->tuple.family;
	h.flags = (via_cookie ? SG_HANDOFF_F_COOKIE : 0) |
	    ((p->optflags & SG_OPT_WSCALE) ? SG_HANDOFF_F_WSCALE : 0) |
	    ((p->optflags & SG_OPT_SACKOK) ? SG_HANDOFF_F_SACK : 0) |
	    ((p->optflags & SG_OPT_TS) ? SG_HANDOFF_F_TS : 0);
	h.peer_port = p->tuple.peer_port;
	h.local_port = p->tuple.local_port;
	memcpy(h.peer_addr, p->tuple.peer_addr, 16);
	memcpy(h.local_addr, p->tuple.local_addr, 16);
	h.peer_mss = p->peer_mss;
	h.local_mss = p->our_mss;
	h.peer_wscale = p->peer_wscale;
	h.local_wscale = p->our_wscale;
	h.handshake_us = handshake_us;
	h.early_data = (uint32_t)p->data_len;
	h.conn_id = ((uint64_t)w->id << 56) | ++w->next_conn_id;
	if (pool_submit(w->pool, fd, &h) == 0)
		w->stats.handoff++;
	else
		w->stats.handoff_reset++;
	return 0;
}

/* Arm the timer for the engine's next deadline, if it moved earlier. */
static void
timer_rearm(struct sg_worker *w)
{
	int64_t ms = engine_next_timer(w->engine, &w->now);

	if (ms < 0)
		return;
	uint64_t at = w->now.mono_ms + (uint64_t)ms;
	if (w->timer_at_ms != 0 && w->timer_at_ms <= at)
		return;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(w->ev_timer, &tv);
	w->timer_at_ms = at;
}

/* Parse one frame into w->segs[i]; false if it is dropped. */
static bool
frame_parse(struct sg_worker *w, unsigned i)
{
	const struct sg_frame *f = &w->frames[i];
	enum sg_reason r;

	w->stats.rx_frames++;
	if (f->truncated) {
		w->stats.rx_truncated++;
		return false;
	}
	r = codec_parse(f->data, f->len, SG_LINK_IP, f->csum, &w->segs[i]);
	if (r != SG_R_NONE) {
		w->stats.drops[r]++;
		return false;
	}
	w->mss[i] = our_mss(w, f->ifindex, w->segs[i].tuple.family);
	return true;
}

/* Handle a parsed segment; replies to it go back to its hop. */
static void
segment_input(struct sg_worker *w, unsigned i, uint32_t hint)
{
	const struct sg_frame *f = &w->frames[i];

	if (late_data(w, i))
		return;
	w->hop.ifindex = f->ifindex;
	w->hop.halen = f->halen;
	memcpy(w->hop.lladdr, f->lladdr, sizeof(w->hop.lladdr));
	engine_input_hinted(w->engine, &w->segs[i], w->mss[i], &w->now, hint);
	w->hop.ifindex = 0;
}

/*
 * Handle one batch in three passes. Segments that complete or clear
 * handshakes (ACK, RST) go before SYNs: when a flood has put the worker
 * behind, the clients that already hold our SYN-ACK finish first, and a
 * flood of new SYNs cannot delay them by a whole batch. Among those, the
 * ones with data go first: a client that writes at once sends its ACK and
 * its first data back to back, often in one batch, and the data segment
 * completes the handshake as well as the ACK does, with the data riding
 * into the new socket. Taken second, it would find the handshake done, and
 * would have to be sent to the socket again (late_data).
 *
 * Before any of it, every segment's half-open bucket, then the first entry
 * of its chain, is asked of memory (engine_hint, engine_prefetch): under a
 * flood nearly every lookup misses the cache, and this way the batch
 * waits for those misses together rather than one after another.
 */
static void
batch_input(struct sg_worker *w, unsigned n)
{
	bool ok[BATCH];
	uint32_t hint[BATCH];

	for (unsigned i = 0; i < n; i++) {
		ok[i] = frame_parse(w, i);
		hint[i] = ok[i] ? engine_hint(w->engine, &w->segs[i]) :
		    SG_HINT_NONE;
	}
	for (unsigned i = 0; i < n; i++)
		engine_prefetch(w->engine, hint[i]);
	for (unsigned i = 0; i < n; i++)
		if (ok[i] && !(w->segs[i].flags & SG_TCP_SYN) &&
		    w->segs[i].payload_len > 0) {
			segment_input(w, i, hint[i]);
			ok[i] = false;
		}
	for (unsigned i = 0; i < n; i++)
		if (ok[i] && !(w->segs[i].flags & SG_TCP_SYN)) {
			segment_input(w, i, hint[i]);
			ok[i] = false;
		}
	for (unsigned i = 0; i < n; i++)
		if (ok[i])
			segment_input(w, i, hint[i]);
}

/*
 * Open one of the worker's taps, in the fanout group *group, or in none if
 * group is NULL. A group given as NET_FANOUT_NEW is made and its id written
 * back; on a kernel that cannot pick ids, with the id `own` (the two groups
 * of a daemon must never be one).
 */
static int
tap_open(struct sg_tap *t, struct sg_worker *w, int *group, int own,
    unsigned batch_ms, char *err, size_t errlen)
{
	int id = group != NULL ? *group : -1;

	if (net_tap_open(t, w->ports, w->nports, id, batch_ms, err,
	    errlen) == -1) {
		if (id != NET_FANOUT_NEW || errno != EOPNOTSUPP)
			return -1;
		id = own;
		if (net_tap_open(t, w->ports, w->nports, id, batch_ms, err,
		    errlen) == -1)
			return -1;
	} else if (id == NET_FANOUT_NEW && (id = net_tap_fanout(t->fd)) == -1) {
		snprintf(err, errlen, "packet tap: fanout group: %s",
		    strerror(errno));
		return -1;
	}
	if (group != NULL)
		*group = id;
	return 0;
}

/* Whether `tap` takes frames now, rather than `plain`. on_ring is read
 * atomically: worker_on_ring asks from the main thread. */
static bool
tap_is_live(const struct sg_worker *w)
{
	return w->plain.fd == -1 ||
	    __atomic_load_n(&w->on_ring, __ATOMIC_RELAXED);
}

/* The tap that takes frames now. */
static struct sg_tap *
tap_live(struct sg_worker *w)
{
	return tap_is_live(w) ? &w->tap : &w->plain;
}

/*
 * Give the live tap the port filter, then pause the other. The live one
 * opens first, so that no frame falls between the two; one may come
 * through both, and a duplicate is harmless (a SYN is answered twice
 * alike, a second ACK finds its connection made). Frames the paused tap
 * took before are still read.
 */
static int
tap_filters(struct sg_worker *w)
{
	struct sg_tap *live = tap_live(w);

	if (net_tap_set_ports(live->fd, w->ports, w->nports) == -1)
		return -1;
	if (w->plain.fd == -1)
		return 0;
	return net_tap_pause(live == &w->tap ? w->plain.fd : w->tap.fd);
}

/* Start measuring the frame rate afresh, from now. */
static void
rate_restart(struct sg_worker *w)
{
	rxrate_restart(&w->rate, w->now.mono_ms, w->stats.rx_frames);
}

/* Move to the ring, or back to reading frames as they come. */
static void
tap_switch(struct sg_worker *w, bool ring)
{
	if (w->plain.fd == -1 || w->on_ring == ring)
		return;
	/* Atomic stores: worker_on_ring reads on_ring from the main
	 * thread. */
	__atomic_store_n(&w->on_ring, ring, __ATOMIC_RELAXED);
	if (tap_filters(w) == -1) {
		log_warn("worker %u: tap filters not switched", w->id);
		__atomic_store_n(&w->on_ring, !ring, __ATOMIC_RELAXED);
		(void)tap_filters(w);
		return;
	}
	if (ring)
		w->stats.rx_to_ring++;
	else
		w->stats.rx_to_plain++;
	rate_restart(w);
}

/* Reading frames as they come, n more read: to the ring if the rate says
 * so (rxrate.h), or if rx_ring_above is 0 (a reload's move that failed is
 * tried again). */
static void
rate_up(struct sg_worker *w, unsigned n)
{
	if (w->on_ring || w->plain.fd == -1)
		return;
	if (w->ring_above == 0 ||
	    rxrate_up(&w->rate, w->now.mono_ms, n, w->ring_above))
		tap_switch(w, true);
}

/* On a beat, reading through the ring: back if the rate says so. */
static void
rate_down(struct sg_worker *w)
{
	if (w->on_ring && w->plain.fd != -1 &&
	    rxrate_down(&w->rate, w->now.mono_ms, w->stats.rx_frames,
	    w->ring_above))
		tap_switch(w, false);
}

/* Drain a tap in batches. */
static void
tap_drain(struct sg_worker *w, struct sg_tap *t)
{
	for (int round = 0; round < ROUNDS; round++) {
		int n = net_tap_read(t, w->frames, BATCH, FRAME_SIZE);
		if (n <= 0) {
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				log_warn("worker %u: tap read", w->id);
			break;
		}
		clock_read(&w->now);
		batch_input(w, (unsigned)n);
		tx_flush(w);
		/* What a paused tap still held does not count. */
		if (t == tap_live(w))
			rate_up(w, (unsigned)n);
		if (n < BATCH)
			break;
	}
	engine_timers(w->engine, &w->now);
	tx_flush(w);
	timer_rearm(w);
}

/* Either tap is readable. */
static void
on_tap(evutil_socket_t fd, short what, void *arg)
{
	struct sg_worker *w = arg;
	(void)what;

	tap_drain(w, fd == w->plain.fd ? &w->plain : &w->tap);
}

/* A timer is due. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sg_worker *w = arg;
	(void)fd;
	(void)what;

	w->timer_at_ms = 0;
	clock_read(&w->now);
	engine_timers(w->engine, &w->now);
	tx_flush(w);
	timer_rearm(w);
}

/* Read the last number of a /proc/sys file; 0 if unreadable. */
static unsigned long
sysctl_last(const char *path)
{
	unsigned long v = 0, last = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return 0;
	while (fscanf(f, "%lu", &v) == 1)
		last = v;
	fclose(f);
	return last;
}

/*
 * The window shift a kernel listener here would offer, so clients see the
 * same as from a plain kernel listener: tcp_select_initial_window() takes
 * the largest of tcp_rmem[2] and rmem_max and offers ilog2(space) - 15,
 * clamped to 0..14 (RFC 7323 2.3).
 */
static uint8_t
our_wscale(void)
{
	unsigned long space = sysctl_last("/proc/sys/net/ipv4/tcp_rmem");
	unsigned long rmax = sysctl_last("/proc/sys/net/core/rmem_max");
	int shift = 0;

	if (rmax > space)
		space = rmax;
	if (space == 0)
		return 7; /* the default tcp_rmem[2] of 6 MiB gives 7 */
	if (space > 0x3fffffffUL)
		space = 0x3fffffffUL;
	while (space >> (shift + 1))
		shift++;
	shift -= 15;
	return shift < 0 ? 0 : shift > 14 ? 14 : (uint8_t)shift;
}

void
worker_synack_window(uint16_t *window, uint8_t *wscale)
{
	*window = OUR_WINDOW;
	*wscale = our_wscale();
}

/* Every half second: prove the loop turns, and collect the tap's drops. */
static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct sg_worker *w = arg;
	(void)fd;
	(void)what;

	clock_read(&w->now);
	w->heartbeat_ms = w->now.mono_ms;
	/* Addresses come and go (DHCP, VIPs, containers): read them again
	 * every 2 s, never per packet. */
	if (++w->beats % 4 == 0) {
		(void)net_local_addrs(&w->local);
		net_tx_refresh(&w->tx);
		xdp_counts(w);
	}
	/* The filter's timestamp base follows the clock (tsclock.h). */
	if (w->beats % 120 == 0 && tap_filters(w) == -1)
		log_warn("worker %u: tap filter not refreshed", w->id);
	int64_t drops = net_tap_drops(w->tap.fd);
	if (drops > 0)
		w->stats.rx_dropped += (uint64_t)drops;
	if (w->plain.fd != -1 && (drops = net_tap_drops(w->plain.fd)) > 0) {
		w->stats.rx_dropped += (uint64_t)drops;
		/* Too slow to read the rate that would move it: the drops
		 * say so. */
		tap_switch(w, true);
	}
	rate_down(w);
}

/* Fill the engine's settings from the configuration. */
static void
engine_conf_from(struct sg_engine_conf *ec, const struct sg_config *conf,
    struct sg_worker *w)
{
	unsigned nworkers = w->nworkers;

	memset(ec, 0, sizeof(*ec));
	ec->cookies = conf->cookies;
	ec->cookie_period_s = conf->cookie_period_s;
	/* queue_size bounds the whole daemon: each worker gets its share. */
	ec->queue_size = conf->queue_size / nworkers;
	if (ec->queue_size == 0)
		ec->queue_size = 1;
	ec->timing.synack_timeout_ms = conf->synack_timeout_ms;
	ec->timing.synack_retries = (uint8_t)conf->synack_retries;
	ec->our_wscale = our_wscale();
	ec->our_window = OUR_WINDOW;
	ec->syn_rate = conf->syn_rate_per_source;
	ec->syn_burst = conf->syn_burst_per_source;
	ec->listen = conf->listen;
	ec->nlisten = conf->nlisten;
	ec->local = &w->local;
}

/* Unique listen ports of the configuration. */
static size_t
listen_ports(const struct sg_config *conf, uint16_t *ports)
{
	size_t n = 0;

	for (unsigned i = 0; i < conf->nlisten; i++) {
		size_t j;
		for (j = 0; j < n && ports[j] != conf->listen[i].port; j++)
			;
		if (j == n)
			ports[n++] = conf->listen[i].port;
	}
	return n;
}

struct sg_worker *
worker_new(unsigned id, unsigned nworkers, int fanout[2],
    const struct sg_config *conf, const struct sg_cookie_secret *secret,
    char *err, size_t errlen)
{
	struct sg_worker *w = calloc(1, sizeof(*w));
	struct sg_engine_conf ec;
	struct sg_engine_ops ops = {tx_reply, established};

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->id = id;
	w->nworkers = nworkers;
	w->tap.fd = w->plain.fd = -1;
	uint8_t key[16];
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		free(w);
		return NULL;
	}
	siphash_key_from_bytes(&w->made_key, key);
	net_tx_init(&w->tx);
	w->bufs = malloc((size_t)BATCH * FRAME_SIZE);
	w->base = event_base_new();
	if (w->bufs == NULL || w->base == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < BATCH; i++)
		w->frames[i].data = w->bufs + (size_t)i * FRAME_SIZE;

	w->nports = listen_ports(conf, w->ports);
	/* Ids of our own, for a kernel that cannot pick them: the pid, with
	 * the top bit telling the two groups apart. */
	int own = (int)(getpid() & 0x7fff);
	if (tap_open(&w->tap, w, nworkers > 1 ? &fanout[0] : NULL, own,
	    conf->rx_batch_ms, err, errlen) == -1)
		goto fail;
	w->ring_above = conf->rx_ring_above;
	w->on_ring = true;
	/* rx_ring_above = 0: the ring alone, no second tap to pay for (a
	 * paused tap still sees every frame, through its fanout group). */
	if (w->tap.ring != NULL && w->ring_above > 0) {
		if (tap_open(&w->plain, w, nworkers > 1 ? &fanout[1] : NULL,
		    own | 0x8000, 0, err, errlen) == -1)
			goto fail;
		if (nworkers > 1 && fanout[0] == fanout[1]) {
			snprintf(err, errlen, "packet tap: both fanout groups "
			    "are %d", fanout[0]);
			goto fail;
		}
		/* Calm until the rate says otherwise. */
		w->on_ring = false;
		if (tap_filters(w) == -1) {
			snprintf(err, errlen, "tap filter: %s",
			    strerror(errno));
			goto fail;
		}
	}
	if (net_tx_open(&w->tx, err, errlen) == -1)
		goto fail;
	net_tx_xdp(&w->tx, conf->tx_path == SG_TX_XDP, w->id);

	(void)net_local_addrs(&w->local);
	engine_conf_from(&ec, conf, w);
	w->engine = engine_new(&ec, secret, &ops, w, &w->stats);
	if (w->engine == NULL) {
		snprintf(err, errlen, "cannot allocate a half-open table of "
		    "%u entries", ec.queue_size);
		goto fail;
	}
	w->pool = pool_new(w->base, conf);
	if (w->pool == NULL) {
		snprintf(err, errlen, "cannot make the backend pool");
		goto fail;
	}
	w->ev_tap = event_new(w->base, w->tap.fd, EV_READ | EV_PERSIST, on_tap,
	    w);
	if (w->plain.fd != -1 && ((w->ev_plain = event_new(w->base,
	    w->plain.fd, EV_READ | EV_PERSIST, on_tap, w)) == NULL ||
	    event_add(w->ev_plain, NULL) == -1)) {
		snprintf(err, errlen, "cannot register events");
		goto fail;
	}
	w->ev_timer = evtimer_new(w->base, on_timer, w);
	w->ev_beat = event_new(w->base, -1, EV_PERSIST, on_beat, w);
	struct timeval half = {0, 500000};
	if (w->ev_tap == NULL || w->ev_timer == NULL || w->ev_beat == NULL ||
	    event_add(w->ev_tap, NULL) == -1 ||
	    event_add(w->ev_beat, &half) == -1) {
		snprintf(err, errlen, "cannot register events");
		goto fail;
	}
	clock_read(&w->now);
	rate_restart(w);
	return w;
fail:
	worker_free(w);
	return NULL;
}

/* In the worker's thread: take the new configuration, then say so. */
static void
on_reconf(evutil_socket_t fd, short what, void *arg)
{
	struct reconf *rc = arg;
	struct sg_worker *w = rc->w;
	struct sg_engine_conf ec;
	(void)fd;
	(void)what;

	engine_conf_from(&ec, rc->conf, w);
	engine_reconfigure(w->engine, &ec);
	if (pool_reconfigure(w->pool, rc->conf) == -1)
		log_warnx("worker %u: backends not reconfigured", w->id);
	w->nports = listen_ports(rc->conf, w->ports);
	if (tap_filters(w) == -1)
		log_warn("worker %u: tap filter not updated", w->id);
	if (w->plain.fd == -1 && w->tap.ring != NULL &&
	    rc->conf->rx_ring_above > 0 && w->id == 0)
		log_warnx("reload: rx_ring_above was 0 at start (the ring "
		    "alone); reading frames as they come needs a restart");
	net_tx_xdp(&w->tx, rc->conf->tx_path == SG_TX_XDP, w->id);
	xdp_counts(w);
	if (w->ring_above != rc->conf->rx_ring_above) {
		clock_read(&w->now);
		w->ring_above = rc->conf->rx_ring_above;
		rate_restart(w);
		if (w->ring_above == 0)
			tap_switch(w, true);
	}
	pthread_mutex_lock(&rc->mu);
	rc->done = 1;
	pthread_cond_signal(&rc->cv);
	pthread_mutex_unlock(&rc->mu);
}

int
worker_reconfigure(struct sg_worker *w, const struct sg_config *conf)
{
	struct reconf rc = {.w = w, .conf = conf};
	struct timeval now = {0, 0};

	pthread_mutex_init(&rc.mu, NULL);
	pthread_cond_init(&rc.cv, NULL);
	if (event_base_once(w->base, -1, EV_TIMEOUT, on_reconf, &rc, &now) == -1)
		return -1;
	pthread_mutex_lock(&rc.mu);
	while (!rc.done)
		pthread_cond_wait(&rc.cv, &rc.mu);
	pthread_mutex_unlock(&rc.mu);
	pthread_mutex_destroy(&rc.mu);
	pthread_cond_destroy(&rc.cv);
	return 0;
}

uint64_t
worker_heartbeat(const struct sg_worker *w)
{
	return w->heartbeat_ms;
}

int
worker_run(struct sg_worker *w)
{
	return event_base_dispatch(w->base) == -1 ? -1 : 0;
}

void
worker_stop(struct sg_worker *w)
{
	event_base_loopbreak(w->base);
}

void
worker_free(struct sg_worker *w)
{
	if (w == NULL)
		return;
	if (w->ev_tap != NULL)
		event_free(w->ev_tap);
	if (w->ev_plain != NULL)
		event_free(w->ev_plain);
	if (w->ev_timer != NULL)
		event_free(w->ev_timer);
	if (w->ev_beat != NULL)
		event_free(w->ev_beat);
	pool_free(w->pool);
	engine_free(w->engine);
	net_tap_close(&w->tap);
	net_tap_close(&w->plain);
	net_tx_close(&w->tx);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w->bufs);
	free(w);
}

void
worker_stats(const struct sg_worker *w, struct sg_stats *out)
{
	*out = w->stats;
	/* A held connection counted as handed off at first; if its hold
	 * ran out, it was reset after all. Read from the pool: a figure
	 * only, as for every counter read across threads. */
	uint64_t expired = pool_held_expired(w->pool);
	out->handoff -= expired;
	out->handoff_reset += expired;
}

unsigned
worker_on_ring(const struct sg_worker *w)
{
	return tap_is_live(w) && w->tap.ring != NULL;
}

uint32_t
worker_halfopen(const struct sg_worker *w)
{
	return engine_halfopen(w->engine);
}

size_t
worker_memory(const struct sg_worker *w)
{
	return sizeof(*w) + (size_t)BATCH * FRAME_SIZE + engine_memory(w->engine) +
	    (size_t)__atomic_load_n(&w->tx.xdp_bytes, __ATOMIC_RELAXED);
}

struct sg_pool *
worker_pool(struct sg_worker *w)
{
	return w->pool;
}
