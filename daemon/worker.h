/*
 * worker.h -- one worker: an event loop that owns a packet tap, a raw
 * sending socket, a handshake engine with its half-open table, and a pool of
 * backend connections. Workers share nothing but the cookie secret; the tap
 * fan-out sends both segments of a flow's handshake to the same worker.
 */
#ifndef SG_WORKER_H
#define SG_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "cookie.h"
#include "stats.h"

struct sg_worker;

/*
 * Make worker id of nworkers for conf: open its taps, its sending socket,
 * its engine and its backend pool. With nworkers > 1 the taps join the
 * fanout groups fanout[0] (the ring taps, or the only ones) and fanout[1]
 * (the plain taps); a group given as NET_FANOUT_NEW is made, and its id
 * written back for the next workers to join. Returns NULL with a message
 * in err.
 */
struct sg_worker *worker_new(unsigned id, unsigned nworkers, int fanout[2],
    const struct sg_config *conf, const struct sg_cookie_secret *secret,
    char *err, size_t errlen);

/* Run the loop until worker_stop. Returns 0, or -1 on a fatal loop error. */
int worker_run(struct sg_worker *w);

/* Ask the loop to stop (any thread; async-safe enough for a signal event). */
void worker_stop(struct sg_worker *w);

/*
 * Apply a new configuration (listen set, backends, tunables) in the worker's
 * own thread and wait until it is in force. queue_size and workers are
 * read at start only. 0, or -1 if the request could not be queued.
 */
int worker_reconfigure(struct sg_worker *w, const struct sg_config *conf);

/* The window and shift the workers' SYN-ACKs offer (the XDP program's
 * must match). */
void worker_synack_window(uint16_t *window, uint8_t *wscale);

/* CLOCK_MONOTONIC ms of the loop's last turn (it turns every 500 ms at
 * least), for the watchdog. */
uint64_t worker_heartbeat(const struct sg_worker *w);

void worker_free(struct sg_worker *w);

/* Copy the worker's counters (read while it runs: figures only). */
void worker_stats(const struct sg_worker *w, struct sg_stats *out);
uint32_t worker_halfopen(const struct sg_worker *w);
/* 1 if the worker reads from its receive ring now, else 0. */
unsigned worker_on_ring(const struct sg_worker *w);
size_t worker_memory(const struct sg_worker *w);
struct sg_pool *worker_pool(struct sg_worker *w);

#endif
