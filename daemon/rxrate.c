/* rxrate.c -- the rule for moving a worker to its receive ring and back
 * (rxrate.h). */
#include "rxrate.h"

void
rxrate_restart(struct sg_rxrate *r, uint64_t now_ms, uint64_t frames)
{
	r->win_ms = r->beat_ms = now_ms;
	r->win_frames = 0;
	r->span_n = r->span_next = 0;
	r->beat_frames = frames;
	r->calm = 0;
}

bool
rxrate_up(struct sg_rxrate *r, uint64_t now_ms, unsigned n, uint32_t above)
{
	uint64_t ms, f, span_f = 0, span_ms = 0;
	unsigned i;

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
	if (ms > UINT32_MAX)
		ms = UINT32_MAX;
	f = r->win_frames;
	r->win_ms = now_ms;
	r->win_frames = 0;
	r->span_frames[r->span_next] = (uint32_t)f;
	r->span_ms[r->span_next] = (uint32_t)ms;
	r->span_next = (r->span_next + 1) % RXRATE_SPAN_WINDOWS;
	if (r->span_n < RXRATE_SPAN_WINDOWS)
		r->span_n++;
	/* Frames a second against above, without dividing (no product
	 * exceeds 2^58). */
	if (f * 1000 > (uint64_t)above * RXRATE_BURST * ms)
		return true;
	if (r->span_n < RXRATE_SPAN_WINDOWS)
		return false;
	for (i = 0; i < RXRATE_SPAN_WINDOWS; i++) {
		span_f += r->span_frames[i];
		span_ms += r->span_ms[i];
	}
	return span_f * 1000 > (uint64_t)above * span_ms;
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
