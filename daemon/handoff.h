/*
 * handoff.h -- the backend pool: connections to the configured backends'
 * AF_UNIX SOCK_SEQPACKET sockets, weighted round robin among those
 * connected, reconnection with backoff, and the two ways a connection is
 * handed on: its fd with SCM_RIGHTS (mode "fd") or relayed to a backend's
 * Unix stream socket (mode "proxy").
 *
 * One pool per worker event loop; no locks. The wire format is the public
 * header include/synguard/handoff.h. The process must ignore SIGPIPE (proxy
 * relays write with writev()).
 */
#ifndef SG_HANDOFF_H
#define SG_HANDOFF_H

#include <stdint.h>

#include "config.h"
#include "synguard/handoff.h"

struct event_base;
struct sg_pool;

/* Counters of one backend, for stats and tests. */
struct sg_backend_stats {
	uint64_t handed;      /* connections sent (fd) or relayed (proxy) */
	uint64_t failed;      /* attempts that failed: full, or gone */
	uint64_t connects;    /* successful (re)connections; in mode proxy,
				 one per relayed connection */
	int connected;        /* 1 if up now */
};

/*
 * Make a pool for the backends of *conf and start connecting to them (a
 * backend not yet listening is retried with backoff). NULL on allocation
 * failure.
 */
struct sg_pool *pool_new(struct event_base *base, const struct sg_config *conf);

/*
 * Change the backends and on_no_backend settings to those of *conf: backends
 * whose name, path and mode are unchanged keep their connection and
 * counters (and take the new weight); others are closed or opened.
 * Connections held for no backend stay held, with their deadlines, and are
 * offered to the new set at once. Returns 0, or -1 (allocation failure) with
 * the pool unchanged.
 */
int pool_reconfigure(struct sg_pool *p, const struct sg_config *conf);

void pool_free(struct sg_pool *p);

/*
 * Hand a materialized connection on. The pool takes ownership of fd in every
 * case: it is sent (and closed here), relayed, held (on_no_backend = "hold")
 * or reset (closed with SO_LINGER 0, so the kernel sends the RST) when no
 * backend can take it. Returns 0 if a backend took it or it is held, -1 if it
 * was reset. hdr's magic, version and hdr_size are stamped by the pool.
 * At most 1024 connections are held per pool; beyond that they are reset.
 * Never blocks; allocates only for a proxy relay.
 */
int pool_submit(struct sg_pool *p, int fd, const struct sg_handoff_hdr *hdr);

/* Number of backends configured; stats of backend i (0-based) and its name. */
unsigned pool_size(const struct sg_pool *p);
const char *pool_backend_name(const struct sg_pool *p, unsigned i);
void pool_backend_stats(const struct sg_pool *p, unsigned i,
    struct sg_backend_stats *out);
/* Connections currently held waiting for a backend. */
unsigned pool_held(const struct sg_pool *p);
/* Connections held, then reset because no backend took them in time. */
uint64_t pool_held_expired(const struct sg_pool *p);

#endif
