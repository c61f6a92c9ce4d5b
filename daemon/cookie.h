/*
 * cookie.h -- SYN cookies (RFC 4987 3.6): the SYN-ACK's sequence number
 * carries, authenticated, what the half-open table would have kept.
 *
 * Pure: the caller passes the key, the time counter and the packets'
 * fields. The bit layout is drawn in cookie.c.
 */
#ifndef SG_COOKIE_H
#define SG_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"
#include "tuple.h"

/* Default lifetime of one counter value, in seconds. */
#define COOKIE_PERIOD_DEFAULT 64

struct sg_cookie_secret {
	struct sg_sipkey key;
};

/* Fill *s from getrandom(). Returns 0, or -1 with errno set. */
int cookie_secret_random(struct sg_cookie_secret *s);

/*
 * Load a 16-byte secret from a key file shared by several hosts: either 16
 * raw bytes or 32 hex digits (with an optional trailing newline). A file that
 * is readable or writable by others (mode & 007), not a regular file, or of
 * another size is refused. Returns 0, or -1 with a message in err.
 */
int cookie_secret_load(const char *path, struct sg_cookie_secret *s,
    char *err, size_t errlen);

/* The counter for a time in seconds: now / period. */
uint32_t cookie_counter(uint64_t now_s, uint32_t period_s);

/* The MSS values a cookie can carry; the client's MSS is rounded down. */
extern const uint16_t cookie_mss_table[];
extern const unsigned cookie_mss_table_len;

/*
 * Make the ISN of a SYN-ACK for a SYN with sequence number client_isn and
 * options *syn. If the SYN carried timestamps, *tsval (on entry, the TSval we
 * would send) is adjusted so its low bits carry what the ISN has no room for;
 * the caller sends the adjusted value. It is never moved forward, only back
 * by at most 63. *enc tells what the cookie encoded: the SYN-ACK must offer
 * exactly that (window scale iff SG_OPT_WSCALE, SACK-permitted iff
 * SG_OPT_SACKOK, timestamps iff SG_OPT_TS). In *enc, mss is the client's MSS
 * rounded down to the table (536 for IPv4, 1220 for IPv6 if the SYN had
 * none; SG_OPT_MSS always set), wscale is the client's shift as the cookie
 * keeps it (exact with timestamps, else possibly rounded down), tsval is the
 * adjusted TSval and tsecr the SYN's TSval. A NULL tsval makes a cookie
 * without timestamps.
 */
uint32_t cookie_make(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t client_isn, uint32_t counter, const struct sg_tcpopts *syn,
    uint32_t *tsval, struct sg_tcpopts *enc);

/*
 * Check the third segment of a handshake: ack is its acknowledgement number
 * (our ISN + 1), seq its sequence number (client ISN + 1), *opts its options
 * (the TSecr echoes our TSval). Accepts the current and the previous
 * counter. Returns 1 and fills *out (the options of the SYN as encoded) if the
 * cookie is good, 0 if not (*out is then zeroed). On success out->mss,
 * wscale and the SG_OPT_MSS/WSCALE/SACKOK flags equal what cookie_make put
 * in *enc; with timestamps, SG_OPT_TS is set and tsval/tsecr are copied from
 * the ACK (the client's latest TSval, and our TSval echoed).
 */
int cookie_check(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t seq, uint32_t ack, uint32_t counter_now,
    const struct sg_tcpopts *opts, struct sg_tcpopts *out);

#endif
