/*
 * test_rxrate.c -- when a worker moves to its receive ring and back
 * (rxrate.h), on a clock the tests turn by hand.
 */
#include <stdint.h>

#include <criterion/criterion.h>

#include "rxrate.h"

#define ABOVE 25000 /* frames a second, the default rx_ring_above */

/* Frames read at a steady rate (frames a second) for ms milliseconds, one
 * read per millisecond from *now on; true if a read moved the worker,
 * after which the clock stops at that read. */
static bool
feed(struct sg_rxrate *r, uint64_t *now, uint64_t rate, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		*now += 1;
		if (rxrate_up(r, *now, (unsigned)(rate / 1000), ABOVE))
			return true;
	}
	return false;
}

/* The first millisecond at which a steady rate moves the worker, or 0. */
static unsigned
moves_after(uint64_t rate, unsigned within_ms)
{
	struct sg_rxrate r;
	uint64_t now = 1000, start = now;

	rxrate_restart(&r, now, 0);
	return feed(&r, &now, rate, within_ms) ? (unsigned)(now - start) : 0;
}

Test(rxrate, a_rate_above_the_threshold_moves_after_five_windows)
{
	unsigned ms = moves_after(2 * ABOVE, 1000);

	cr_assert_eq(ms, RXRATE_SPAN_WINDOWS * RXRATE_WINDOW_MS,
	    "twice the threshold moved after %u ms", ms);
	/* Just above it too. */
	ms = moves_after(ABOVE + 1000, 1000);
	cr_assert_eq(ms, RXRATE_SPAN_WINDOWS * RXRATE_WINDOW_MS,
	    "just above the threshold moved after %u ms", ms);
}

Test(rxrate, a_rate_at_or_below_the_threshold_never_moves)
{
	cr_assert_eq(moves_after(ABOVE, 5000), 0);
	cr_assert_eq(moves_after(ABOVE / 2, 5000), 0);
	cr_assert_eq(moves_after(0, 5000), 0);
}

Test(rxrate, a_flood_four_times_the_threshold_moves_in_one_window)
{
	unsigned ms = moves_after((RXRATE_BURST + 1) * ABOVE, 1000);

	cr_assert_eq(ms, RXRATE_WINDOW_MS, "moved after %u ms", ms);
	/* Exactly four times is not more than four times. */
	cr_assert_eq(moves_after(RXRATE_BURST * ABOVE, 1000),
	    RXRATE_SPAN_WINDOWS * RXRATE_WINDOW_MS);
}

Test(rxrate, bursts_under_the_thresholds_worth_of_50_ms_do_not_move)
{
	struct sg_rxrate r;
	uint64_t now = 1000;

	rxrate_restart(&r, now, 0);
	for (int round = 0; round < 20; round++) {
		/* 20 ms at twice the threshold (1,000 frames), then 80 ms at
		 * a tenth of it: no 50 ms holds more than 1,250 frames,
		 * the threshold's worth, however the windows fall. */
		cr_assert(!feed(&r, &now, 2 * ABOVE, 2 * RXRATE_WINDOW_MS),
		    "round %d: a burst moved the worker", round);
		cr_assert(!feed(&r, &now, ABOVE / 10, 8 * RXRATE_WINDOW_MS),
		    "round %d: the calm after a burst moved it", round);
	}
}

Test(rxrate, a_flood_that_pauses_now_and_then_still_moves)
{
	struct sg_rxrate r;
	uint64_t now = 1000;
	bool moved = false;

	/* 40 ms at 3.9 times the threshold, 10 ms of nothing, over and
	 * over: never four hot windows... in a row of five, but over the
	 * last five windows the rate is 3.1 times the threshold. */
	rxrate_restart(&r, now, 0);
	for (int round = 0; round < 10 && !moved; round++) {
		moved = feed(&r, &now, 39 * ABOVE / 10, 4 * RXRATE_WINDOW_MS);
		if (!moved)
			moved = feed(&r, &now, 0, RXRATE_WINDOW_MS);
	}
	cr_assert(moved, "a pulsing flood kept the worker reading plainly");
	cr_assert_leq(now - 1000, 2 * RXRATE_SPAN_WINDOWS * RXRATE_WINDOW_MS,
	    "moved only after %llu ms", (unsigned long long)(now - 1000));
}

Test(rxrate, a_long_quiet_window_counts_over_its_length)
{
	struct sg_rxrate r;
	uint64_t now = 0;

	rxrate_restart(&r, now, 0);
	/* Four windows at twice the threshold, then a read after a 1 s
	 * silence: the span is 1,040 ms long and calm. */
	cr_assert(!feed(&r, &now, 2 * ABOVE, 4 * RXRATE_WINDOW_MS));
	now += 1000;
	cr_assert(!rxrate_up(&r, now, 10, ABOVE));
	/* Five more busy windows push the silence out of the span. */
	cr_assert(!feed(&r, &now, 2 * ABOVE, 4 * RXRATE_WINDOW_MS));
	cr_assert(feed(&r, &now, 2 * ABOVE, RXRATE_WINDOW_MS));
}

Test(rxrate, reads_closer_than_a_window_add_up)
{
	struct sg_rxrate r;

	rxrate_restart(&r, 0, 0);
	/* 9 ms of reads, 10,000 frames, never judged before 10 ms. */
	for (uint64_t t = 1; t < RXRATE_WINDOW_MS; t++)
		cr_assert(!rxrate_up(&r, t, 1000 + (unsigned)t, ABOVE));
	/* At 10 ms: 10,045 frames in 10 ms, over a million a second. */
	cr_assert(rxrate_up(&r, RXRATE_WINDOW_MS, 1000, ABOVE));
}

Test(rxrate, a_read_after_a_long_silence_is_judged_over_the_silence)
{
	struct sg_rxrate r;

	rxrate_restart(&r, 0, 0);
	/* 2,000 frames after 1 s of nothing: 2,000 a second, calm. */
	for (int i = 0; i < 10; i++)
		cr_assert(!rxrate_up(&r, (uint64_t)(i + 1) * 1000, 2000, ABOVE));
}

Test(rxrate, counts_that_would_overflow_saturate)
{
	struct sg_rxrate r;

	rxrate_restart(&r, 0, 0);
	cr_assert(!rxrate_up(&r, 1, UINT32_MAX, ABOVE));
	cr_assert(!rxrate_up(&r, 2, UINT32_MAX, ABOVE));
	cr_assert_eq(r.win_frames, UINT32_MAX);
	/* Judged: hot (more than four times), so it moves at once. */
	cr_assert(rxrate_up(&r, RXRATE_WINDOW_MS, 1, ABOVE));
}

Test(rxrate, a_clock_that_goes_back_starts_the_window_over)
{
	struct sg_rxrate r;

	rxrate_restart(&r, 1000, 0);
	cr_assert(!rxrate_up(&r, 500, 1000000, ABOVE));
	cr_assert_eq(r.win_ms, 500);
	cr_assert_eq(r.win_frames, 0);
}

/* Beats every 500 ms on the ring, rate frames a second: the beat at which
 * the worker moves back (1 = the first), or 0 within beats beats. */
static unsigned
back_after(uint64_t rate, unsigned beats)
{
	struct sg_rxrate r;
	uint64_t now = 0, frames = 123456;

	rxrate_restart(&r, now, frames);
	for (unsigned b = 1; b <= beats; b++) {
		now += 500;
		frames += rate / 2;
		if (rxrate_down(&r, now, frames, ABOVE))
			return b;
	}
	return 0;
}

Test(rxrate, back_after_two_calm_beats_below_a_quarter)
{
	cr_assert_eq(back_after(0, 10), RXRATE_CALM_BEATS);
	cr_assert_eq(back_after(ABOVE / 4 - 2, 10), RXRATE_CALM_BEATS);
}

Test(rxrate, a_rate_between_a_quarter_and_the_threshold_stays_on_the_ring)
{
	/* The gap that keeps a rate near the threshold from flapping. */
	cr_assert_eq(back_after(ABOVE / 4, 100), 0);
	cr_assert_eq(back_after(ABOVE / 2, 100), 0);
	cr_assert_eq(back_after(ABOVE, 100), 0);
}

Test(rxrate, a_busy_beat_between_calm_ones_starts_the_count_over)
{
	struct sg_rxrate r;
	uint64_t now = 0, frames = 0;

	rxrate_restart(&r, now, frames);
	for (int i = 0; i < 10; i++) {
		now += 500;
		cr_assert(!rxrate_down(&r, now, frames, ABOVE)); /* calm */
		now += 500;
		frames += ABOVE; /* busy */
		cr_assert(!rxrate_down(&r, now, frames, ABOVE));
	}
	now += 500;
	cr_assert(!rxrate_down(&r, now, frames, ABOVE));
	now += 500;
	cr_assert(rxrate_down(&r, now, frames, ABOVE));
}

Test(rxrate, never_back_with_a_zero_threshold_or_a_stopped_clock)
{
	struct sg_rxrate r;

	rxrate_restart(&r, 1000, 0);
	for (int i = 1; i <= 10; i++)
		cr_assert(!rxrate_down(&r, 1000 + (uint64_t)i * 500, 0, 0));
	rxrate_restart(&r, 1000, 0);
	for (int i = 0; i < 10; i++)
		cr_assert(!rxrate_down(&r, 1000, 0, ABOVE));
}

Test(rxrate, a_restart_forgets_what_was_counted)
{
	struct sg_rxrate r;
	uint64_t now = 1000;

	rxrate_restart(&r, now, 0);
	/* Four hot windows... */
	cr_assert(!feed(&r, &now, 2 * ABOVE,
	    (RXRATE_SPAN_WINDOWS - 1) * RXRATE_WINDOW_MS));
	/* ...a new threshold (a reload) starts over: four more are not
	 * enough. */
	rxrate_restart(&r, now, 0);
	cr_assert(!feed(&r, &now, 2 * ABOVE,
	    (RXRATE_SPAN_WINDOWS - 1) * RXRATE_WINDOW_MS));
	/* And a calm beat counted before a restart is forgotten too. */
	rxrate_restart(&r, now, 0);
	cr_assert(!rxrate_down(&r, now + 500, 0, ABOVE));
	rxrate_restart(&r, now + 500, 0);
	cr_assert(!rxrate_down(&r, now + 1000, 0, ABOVE));
	cr_assert(rxrate_down(&r, now + 1500, 0, ABOVE));
}
