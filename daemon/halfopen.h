/*
 * halfopen.h -- the half-open (SYN_RECV) table and its timers.
 *
 * Fixed capacity chosen at start-up, all memory allocated then; keyed hash
 * of the 4-tuple so an attacker cannot aim SYNs at one bucket; O(1) insert,
 * lookup, delete and timer event. A full table refuses new entries (the
 * caller falls back to SYN cookies); it never evicts a live entry.
 *
 * Timers: every entry waits for its next SYN-ACK retransmission, then for
 * expiry. All entries at the same retransmission count wait for the same
 * interval, so each count keeps a FIFO ordered by deadline and only the
 * heads are looked at (the idea of libevent's common timeouts).
 *
 * Pure: the caller passes the time (milliseconds on any monotonic clock).
 */
#ifndef SG_HALFOPEN_H
#define SG_HALFOPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"
#include "tuple.h"

#define HALFOPEN_MAX_RETRIES 15

/*
 * One half-open connection: 80 bytes (HALFOPEN_ENTRY_SIZE, asserted in
 * halfopen.c), plus 8 bytes of bucket array per entry when the capacity is a
 * power of two (the bucket count is the power of two >= 2 * capacity).
 *
 *   0  tuple (40)      40 optflags     41 hnext (24 bits)
 *  44  client_isn      48 our_isn      52 ts_recent   56 tsval
 *  60  created_ms      64 deadline_ms  68 mss         70 our_mss
 *  72  wscale          73 tprev (24 bits)
 *  76  retries         77 tnext (24 bits)
 *
 * A lookup reads bytes 0-43 only (the tuple and the chain link), so under a
 * flood, where nearly every lookup misses, each entry on a chain costs at
 * most two cache lines, both prefetched for a chain's first entry.
 *
 * The links are entry indices; 24 bits cover the largest capacity, 2^24,
 * because no link needs a "none" value: timer FIFOs are circular and a hash
 * chain (or the free list) ends at an entry that links to itself. The
 * fields marked internal belong to halfopen.c.
 */
#define HALFOPEN_ENTRY_SIZE 80
#define HALFOPEN_BUCKET_SIZE 4
#define HALFOPEN_MAX_CAPACITY (UINT32_C(1) << 24)

struct sg_halfopen_entry {
	struct sg_tuple tuple;
	uint8_t optflags;     /* SG_OPT_* the SYN offered */
	uint32_t hnext : 24;  /* internal: hash chain or free list */
	uint32_t client_isn;  /* the SYN's sequence number */
	uint32_t our_isn;     /* the SYN-ACK's sequence number */
	uint32_t ts_recent;   /* the client's TSval from the SYN */
	uint32_t tsval;       /* the TSval our SYN-ACK sent */
	uint32_t created_ms;  /* when the SYN arrived (low 32 bits) */
	uint32_t deadline_ms; /* next timer event (low 32 bits) */
	uint16_t mss;         /* client's MSS (536 if absent, RFC 9293) */
	uint16_t our_mss;     /* the MSS our SYN-ACK offered */
	uint8_t wscale;       /* client's window scale */
	uint32_t tprev : 24;  /* internal: timer FIFO, previous entry */
	uint8_t retries;      /* SYN-ACKs retransmitted so far */
	uint32_t tnext : 24;  /* internal: timer FIFO, next entry */
};

struct sg_halfopen_timing {
	uint32_t synack_timeout_ms; /* first retransmission (RFC 6298: 1 s) */
	uint8_t synack_retries;     /* retransmissions before expiry */
};

enum sg_timer_event {
	HALFOPEN_RETRANSMIT, /* send the SYN-ACK again; entry stays */
	HALFOPEN_EXPIRE,     /* last wait is over; entry is removed after the
	                        callback returns */
};

struct sg_halfopen;

/* Allocate a table for capacity entries. NULL on allocation failure or a
 * capacity of 0 or above HALFOPEN_MAX_CAPACITY (2^24); a NULL timing means
 * the defaults (1000 ms, 5 retries). All the memory is allocated and touched
 * here; nothing is allocated afterwards. */
struct sg_halfopen *halfopen_new(uint32_t capacity, const struct sg_sipkey *k,
                                 const struct sg_halfopen_timing *timing);
void halfopen_free(struct sg_halfopen *h);

/* Change the timing from now on. A deadline already armed stays; waits armed
 * afterwards use the new timeout. The retry count is read when a timer fires
 * (as Linux reads tcp_synack_retries), so an entry past the new count
 * expires at its next event. synack_timeout_ms is clamped to 1 ms .. 2^30 ms
 * (so is every doubled interval), synack_retries to HALFOPEN_MAX_RETRIES.
 * O(1), or O(count) when the timeout shrinks twice before the entries armed
 * under the oldest timing have drained. */
void halfopen_set_timing(struct sg_halfopen *h,
                         const struct sg_halfopen_timing *timing);

uint32_t halfopen_count(const struct sg_halfopen *h);
uint32_t halfopen_capacity(const struct sg_halfopen *h);
/* Bytes allocated for the table: entries, buckets and the header. */
size_t halfopen_memory(const struct sg_halfopen *h);

struct sg_halfopen_entry *halfopen_lookup(struct sg_halfopen *h,
                                          const struct sg_tuple *t);

/*
 * For a batch of segments: halfopen_bucket hashes a tuple once;
 * halfopen_prefetch starts loading its bucket (deep false) or, once that is
 * in, the first entry of its chain (deep true), so the cache misses of a
 * batch overlap instead of coming one after another; halfopen_lookup_at and
 * halfopen_insert_at take the bucket instead of hashing again. A bucket
 * belongs to the table it came from.
 */
uint32_t halfopen_bucket(const struct sg_halfopen *h, const struct sg_tuple *t);
void halfopen_prefetch(const struct sg_halfopen *h, uint32_t bucket, bool deep);
struct sg_halfopen_entry *halfopen_lookup_at(struct sg_halfopen *h,
    const struct sg_tuple *t, uint32_t bucket);

/*
 * Insert an entry for t, armed for its first retransmission at
 * now_ms + synack_timeout_ms. Returns the new entry with tuple and
 * created_ms set (the caller fills the rest), or NULL if the table is full.
 * The caller must have checked that t is not already present.
 */
struct sg_halfopen_entry *halfopen_insert(struct sg_halfopen *h,
                                          const struct sg_tuple *t,
                                          uint64_t now_ms);
struct sg_halfopen_entry *halfopen_insert_at(struct sg_halfopen *h,
    const struct sg_tuple *t, uint32_t bucket, uint64_t now_ms);

/* Remove an entry (handshake completed, RST, ...), cancelling its timer.
 * A pointer that is not a live entry of h is ignored. */
void halfopen_delete(struct sg_halfopen *h, struct sg_halfopen_entry *e);

typedef void (*halfopen_timer_cb)(struct sg_halfopen_entry *e,
                                  enum sg_timer_event ev, void *arg);

/*
 * Fire every timer due at now_ms, in deadline order. On RETRANSMIT the
 * entry's retries is incremented before the callback and it is re-armed after
 * twice the previous interval (RFC 6298 5.5). After synack_retries
 * retransmissions, the entry expires one more doubled interval later (as
 * Linux does: 1+2+4+8+16+32 s with the defaults). The callback must not
 * insert or delete. Returns the number of events fired.
 */
unsigned halfopen_run_timers(struct sg_halfopen *h, uint64_t now_ms,
                             halfopen_timer_cb cb, void *arg);

/*
 * The same, firing at most max events: a flood's entries were made within
 * the same second and fall due together, and an event loop must not stall
 * behind tens of thousands of them. The rest stay due for the next call.
 */
unsigned halfopen_run_timers_max(struct sg_halfopen *h, uint64_t now_ms,
    unsigned max, halfopen_timer_cb cb, void *arg);

/* Milliseconds from now_ms to the next timer event (0 if due), or -1 if no
 * entry is waiting. */
int64_t halfopen_next_timer(const struct sg_halfopen *h, uint64_t now_ms);

#endif
