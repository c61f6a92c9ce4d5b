/*
 * engine.h -- the handshake engine: the TCP LISTEN/SYN-RECEIVED state
 * machine (RFC 9293 3.10.7) for synguard's ports.
 *
 * Pure: it reads parsed segments and a clock, keeps its state in a
 * half-open table and SYN cookies, and acts only through the callbacks in
 * struct sg_engine_ops (send a reply; a handshake completed). The worker
 * supplies those callbacks; tests supply fakes.
 *
 * It never sends an RST: a segment it cannot use is counted and dropped.
 * Under a flood, silence is cheaper than answers and amplifies nothing.
 */
#ifndef SG_ENGINE_H
#define SG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "config.h"
#include "cookie.h"
#include "halfopen.h"
#include "repair.h"
#include "stats.h"

/* The clock the worker reads once per batch. */
struct sg_clock {
	uint64_t mono_ms; /* CLOCK_MONOTONIC: timers, TSval */
	uint64_t real_s;  /* CLOCK_REALTIME: cookie counter, so hosts that
			     share a key file agree on it */
};

struct sg_engine_ops {
	/* Send a segment. 0, or -1 if it could not be sent. */
	int (*tx)(void *arg, const struct sg_reply *r);
	/*
	 * A handshake completed: materialize and hand on. via_cookie tells
	 * which path; handshake_us is the time since the SYN (0 if unknown,
	 * the cookie path). Returns 0, or -1 with errno (EADDRNOTAVAIL or
	 * EADDRINUSE: the connection exists already).
	 */
	int (*established)(void *arg, const struct sg_conn_params *p,
	    bool via_cookie, uint32_t handshake_us);
};

/* Settings the engine reads; the worker fills them from struct sg_config. */
struct sg_engine_conf {
	enum sg_cookie_mode cookies;
	uint32_t cookie_period_s;
	uint32_t queue_size;
	struct sg_halfopen_timing timing;
	uint8_t our_wscale;     /* the shift our SYN-ACK offers */
	uint16_t our_window;    /* the window our SYN-ACK offers */
	uint32_t syn_rate;      /* SYN/s per source address; 0: no limit */
	uint32_t syn_burst;     /* bucket depth; 0: syn_rate */
	const struct sg_listen_conf *listen;
	unsigned nlisten;
	/* The host's addresses, for wildcard listeners (kept up to date by
	 * the caller); NULL or empty: any destination is taken as ours. */
	const struct sg_addrset *local;
};

struct sg_engine;

/* The key of ISNs and TSval offsets, derived from the cookie secret, so
 * that every worker, every host sharing a key file and the XDP program
 * (xdp.c) compute the same. */
void engine_isn_key(const struct sg_cookie_secret *secret,
    struct sg_sipkey *k);

/*
 * Make an engine. secret authenticates cookies (shared between workers and,
 * with a key file, hosts); the table and ISN keys are drawn here. NULL on
 * allocation or getrandom failure.
 */
struct sg_engine *engine_new(const struct sg_engine_conf *conf,
    const struct sg_cookie_secret *secret, const struct sg_engine_ops *ops,
    void *arg, struct sg_stats *stats);
void engine_free(struct sg_engine *e);

/* Take new settings (listen set, cookie mode, timing); the table keeps its
 * entries. queue_size changes take effect at the next start. */
void engine_reconfigure(struct sg_engine *e, const struct sg_engine_conf *conf);

/*
 * Handle one parsed segment that arrived on an interface whose MTU gives
 * our_mss (the MSS our SYN-ACK offers: MTU - 40 for IPv4, - 60 for IPv6).
 */
void engine_input(struct sg_engine *e, const struct sg_segment *seg,
    uint16_t our_mss, const struct sg_clock *now);

/*
 * The same for a batch, with a look-ahead. engine_hint hashes a segment's
 * tuple for the half-open table and starts loading its bucket;
 * engine_prefetch starts loading the first entry of its chain, once the
 * bucket is in; engine_input_hinted handles the segment with its hint. Call
 * the first for every segment of a batch, then the second for each, then
 * the third for each: the table's cache misses overlap instead of coming
 * one per segment, and no tuple is hashed twice. A hint is good until the
 * next engine_reconfigure; SG_HINT_NONE is always good.
 */
#define SG_HINT_NONE UINT32_MAX
uint32_t engine_hint(struct sg_engine *e, const struct sg_segment *seg);
void engine_prefetch(struct sg_engine *e, uint32_t hint);
void engine_input_hinted(struct sg_engine *e, const struct sg_segment *seg,
    uint16_t our_mss, const struct sg_clock *now, uint32_t hint);

/* Run due timers (SYN-ACK retransmission, expiry), a bounded number per
 * call; engine_next_timer says 0 if more are due. */
void engine_timers(struct sg_engine *e, const struct sg_clock *now);

/* Milliseconds until the next timer, or -1 if none. */
int64_t engine_next_timer(const struct sg_engine *e, const struct sg_clock *now);

/* Half-open entries in the table now, and the table's bytes. */
uint32_t engine_halfopen(const struct sg_engine *e);
size_t engine_memory(const struct sg_engine *e);

#endif
