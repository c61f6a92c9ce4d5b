/*
 * tsclock.h -- synguard's TCP timestamp clock, split in two ranges so the
 * tap filter can tell an established connection's segments from a
 * handshake's by the TSecr they echo, with no per-connection state.
 *
 * A SYN-ACK's TSval is CLOCK_MONOTONIC in milliseconds plus a keyed
 * per-connection offset below 2^29 (RFC 7323 5.4). The kernel socket made
 * for a completed handshake continues 2^30 ahead of that (a forward jump,
 * which the client's PAWS check accepts: RFC 7323 5.3). With
 *
 *	d = TSecr - (now_ms - SG_TS_MARGIN)		(mod 2^32)
 *
 * a segment that completes a handshake echoes a SYN-ACK at most a few
 * minutes old, so d < 2^30; a segment of a connection we handed on echoes
 * the kernel socket's TSval, so 2^30 <= d < 2^31 as long as the client has
 * heard from it within SG_TS_MARGIN. The filter drops those in the kernel:
 * an established connection's data and ACKs cost synguard nothing. A
 * client idle longer, or one without timestamps, is read and dropped as
 * before. The base may lag the clock by days without a misjudgement; the
 * workers refresh it every minute.
 */
#ifndef SG_TSCLOCK_H
#define SG_TSCLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of a clock: CLOCK_MONOTONIC for timers and the TSval, its
 * _COARSE twin where a tick's precision will do. */
static inline uint64_t
sg_clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define SG_TS_OFFSET_MASK 0x1fffffffu /* per-connection offsets: 29 bits */
#define SG_TS_EPOCH 0x40000000u       /* the materialized socket's jump */
#define SG_TS_MARGIN 0x00100000u      /* ms, about 17 minutes */

/* The filter's base for the monotonic clock now_ms. */
static inline uint32_t
sg_ts_base(uint64_t now_ms)
{
	return (uint32_t)now_ms - SG_TS_MARGIN;
}

/* Does TSecr echo a materialized socket's clock (see above)? */
static inline int
sg_ts_established(uint32_t tsecr, uint32_t base)
{
	return (uint32_t)(tsecr - base) >> 30 == 1;
}

#endif
