/*
 * rxrate.h -- when a worker moves between reading frames as they come (its
 * plain tap) and reading them through its receive ring. The rule alone, on
 * frame counts and times the caller gives, so tests need no clock or socket.
 *
 * Up to the ring: frames are counted in windows of at least RXRATE_WINDOW_MS.
 * The rate over the last RXRATE_SPAN_WINDOWS windows (50 ms or more) above
 * the threshold moves the worker, and so does a single window above
 * RXRATE_BURST times it (a flood that strong would cost too much read frame
 * by frame even for 50 ms). A burst of real handshakes, fewer than the
 * threshold's worth of 50 ms, so stays quick; a flood cannot stay plain by
 * pausing now and then, as it could if the windows had to be hot in a row:
 * what counts is its rate over the span.
 *
 * Back down: on each beat (the caller's, every half second), a rate below a
 * quarter of the threshold is calm; RXRATE_CALM_BEATS calm beats in a row
 * move the worker back. The gap between a quarter and the whole keeps a
 * rate near the threshold from flapping.
 */
#ifndef SG_RXRATE_H
#define SG_RXRATE_H

#include <stdbool.h>
#include <stdint.h>

#define RXRATE_WINDOW_MS 10
#define RXRATE_SPAN_WINDOWS 5
#define RXRATE_BURST 4
#define RXRATE_CALM_BEATS 2

struct sg_rxrate {
	uint64_t win_ms;      /* reading plainly: the window's start, */
	uint32_t win_frames;  /* the frames read in it, */
	uint32_t span_frames[RXRATE_SPAN_WINDOWS]; /* and the last windows' */
	uint32_t span_ms[RXRATE_SPAN_WINDOWS];     /* frames and lengths, */
	unsigned span_n;      /* how many of them there are, */
	unsigned span_next;   /* and the slot the next one takes */
	uint64_t beat_ms;     /* on the ring: the last beat, */
	uint64_t beat_frames; /* the frames read by then, */
	unsigned calm;        /* and calm beats in a row */
};

/* Start measuring afresh at now_ms; frames: the worker's frames read so
 * far (its rx_frames counter). At start, after a move, for a new
 * threshold. */
void rxrate_restart(struct sg_rxrate *r, uint64_t now_ms, uint64_t frames);

/* Reading plainly, n more frames read at now_ms: true when the worker
 * should move to its ring. above: frames a second (rx_ring_above, > 0). */
bool rxrate_up(struct sg_rxrate *r, uint64_t now_ms, unsigned n,
    uint32_t above);

/* On the ring, a beat at now_ms with frames read so far: true when the
 * worker should move back. Never with above = 0 (the ring for good). */
bool rxrate_down(struct sg_rxrate *r, uint64_t now_ms, uint64_t frames,
    uint32_t above);

#endif
