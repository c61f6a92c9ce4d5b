/* rxrate.c -- the rule for moving a worker to its receive ring and back
 * (rxrate.h). */
#include "rxrate.h"

void
rxrate_restart(struct sg_rxrate *r, uint64_t now_ms, uint64_t frames)
{
	r->win_ms = r->beat_ms = now_ms;
	r->win_frames = 0;
	r->hot = 0;
	r->beat_frames = frames;
	r->calm = 0;
}

bool
rxrate_up(struct sg_rxrate *r, uint64_t now_ms, unsigned n, uint32_t above)
{
	uint64_t ms, f;

	r->win_frames = n > UINT32_MAX - r->win_frames ? UINT32_MAX :
	    r->win_frames + n;
	/* A clock that went back (it does not: monotonic) starts over. */
	if (now_ms < r->win_ms) {
		r->win_ms = now_ms;
		r->win_frames = 0;
		return false;
	}
	ms = now_ms - r->win_ms;
	if (ms < RXRATE_WINDOW_MS)
		return false;
	/* Frames a second against above, without dividing. */
	f = (uint64_t)r->win_frames * 1000;
	r->win_ms = now_ms;
	r->win_frames = 0;
	if (f <= (uint64_t)above * ms) {
		r->hot = 0;
		return false;
	}
	r->hot++;
	return r->hot >= RXRATE_HOT_WINDOWS ||
	    f > (uint64_t)above * RXRATE_BURST * ms;
}

bool
rxrate_down(struct sg_rxrate *r, uint64_t now_ms, uint64_t frames,
    uint32_t above)
{
	uint64_t ms, n;

	if (above == 0 || now_ms <= r->beat_ms)
		return false;
	ms = now_ms - r->beat_ms;
	n = frames >= r->beat_frames ? frames - r->beat_frames : 0;
	r->beat_ms = now_ms;
	r->beat_frames = frames;
	/* n / ms < above / 4 / 1000, without dividing. */
	if (n * 4000 >= (uint64_t)above * ms) {
		r->calm = 0;
		return false;
	}
	return ++r->calm >= RXRATE_CALM_BEATS;
}
