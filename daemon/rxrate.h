/*
 * rxrate.h -- when a worker moves between reading frames as they come (its
 * plain tap) and reading them through its receive ring. The rule alone, on
 * frame counts and times the caller gives, so tests need no clock or socket.
 *
 * Up to the ring: the rate is measured over windows of at least
 * RXRATE_WINDOW_MS. RXRATE_HOT_WINDOWS windows in a row above the threshold
 * move the worker (a burst of real handshakes, a few tens of ms, is not a
 * flood, and reading it as it comes keeps it quick), and so does a single
 * window above RXRATE_BURST times the threshold (a flood that strong would
 * cost too much read frame by frame even for 50 ms).
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
#define RXRATE_HOT_WINDOWS 5
#define RXRATE_BURST 4
#define RXRATE_CALM_BEATS 2

struct sg_rxrate {
	uint64_t win_ms;      /* reading plainly: the window's start, */
	uint32_t win_frames;  /* the frames read in it, */
	unsigned hot;         /* and windows in a row above the threshold */
	uint64_t beat_ms;     /* on the ring: the last beat, */
	uint64_t beat_frames; /* the frames read by then, */
	unsigned calm;        /* and calm beats in a row */
};

/* Start measuring afresh at now_ms; frames: the worker's frames read so
 * far (its rx_frames counter). After a move, or a new threshold. */
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
