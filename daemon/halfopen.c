/*
 * halfopen.c -- the half-open (SYN_RECV) table and its SYN-ACK timers.
 *
 * Sits between the handshake engine and the wire: a SYN that is not answered
 * with a cookie gets an entry here, the entry's timer drives the SYN-ACK
 * retransmissions, and the final ACK (or a RST) removes it. RFC 4987 3.2-3.3
 * is why it exists: a bounded table that a flood fills but cannot overflow.
 *
 * It must never allocate after halfopen_new, never evict a live entry to make
 * room (the caller falls back to cookies) and never touch a socket or a clock.
 *
 * Hashing: SipHash-2-4 of the whole tuple under a secret key, so a flood with
 * chosen addresses and ports cannot aim at one bucket (Linux hashes its
 * request sockets with a keyed hash for the same reason). Buckets are a power
 * of two >= 2 * capacity, so chains average under half an entry even when the
 * table is full, as it is under a flood, when nearly every lookup is a miss
 * that walks a whole chain.
 *
 * Timers: an entry waiting after k retransmissions sits in FIFO k. Deadlines
 * appended to one FIFO are now + interval(k); the clock never goes back and
 * interval(k) is fixed, so each FIFO stays sorted and only its head needs
 * looking at. A longer timeout keeps that true (later now, longer interval).
 * A shorter one would not: new deadlines could land before old ones. So the
 * FIFOs come in two generations: new deadlines always go to the current one,
 * and a shorter timeout makes the current one "old", where it only drains (a
 * FIFO that is only popped stays sorted). Should the timeout shrink again
 * before the old generation is empty, the current generation is merged into
 * the old one first: both are sorted, so a linear merge keeps the order; it
 * costs O(count) once, at a configuration change, never on the packet path.
 * Firing then looks at no more than 2 * (HALFOPEN_MAX_RETRIES + 1) heads.
 *
 * What a due timer means is decided when it fires: a retransmission while
 * retries < synack_retries, expiry after that, as Linux's reqsk_timer_handler
 * reads tcp_synack_retries each time. So an entry needs no state byte (none
 * would fit in 80 bytes): it is live when its hash chain leads to it.
 */
#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "halfopen.h"

#define NIL UINT32_MAX
/* What a lookup reads of an entry: the tuple and the word with hnext. */
#define LOOKUP_BYTES (offsetof(struct sg_halfopen_entry, client_isn))
#define NQUEUES (HALFOPEN_MAX_RETRIES + 1)
/* Deadlines are compared by signed 32-bit difference, which is right while
 * every pending deadline is less than 2^31 ms away; 2^30 leaves room. */
#define MAX_INTERVAL_MS (UINT32_C(1) << 30)
#define DEFAULT_TIMEOUT_MS 1000 /* RFC 6298 2.1 */
#define DEFAULT_RETRIES 5       /* Linux tcp_synack_retries */

static_assert(sizeof(struct sg_tuple) == 40, "tuple layout");
static_assert(sizeof(struct sg_halfopen_entry) == HALFOPEN_ENTRY_SIZE,
              "half-open entry size is documented in halfopen.h");
static_assert(offsetof(struct sg_halfopen_entry, optflags) == 40 &&
                  offsetof(struct sg_halfopen_entry, client_isn) == 44 &&
                  offsetof(struct sg_halfopen_entry, wscale) == 72 &&
                  offsetof(struct sg_halfopen_entry, retries) == 76,
              "each 24-bit link shares a word with a one-byte field, and "
              "the tuple and its chain link fill the first 44 bytes");
static_assert(HALFOPEN_MAX_CAPACITY - 1 <= 0xffffff, "timer links are 24 bits");
static_assert(2 * NQUEUES <= 32, "one busy bit per FIFO");

struct sg_halfopen {
	struct sg_halfopen_entry *entries;
	uint32_t *buckets; /* first entry of each chain, or NIL */
	uint32_t capacity;
	uint32_t mask; /* buckets - 1 */
	uint32_t count;
	uint32_t freelist; /* chained through hnext, or NIL */
	struct sg_sipkey key;
	struct sg_halfopen_timing timing;
	uint32_t queue[2][NQUEUES]; /* FIFO heads by generation and retries */
	uint32_t busy; /* bit g * NQUEUES + k: queue[g][k] in use */
	unsigned gen;  /* the generation new deadlines go to */
};

/* Signed distance from b to a, right across the 2^32 ms wrap. */
static int32_t
ms_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

/* Bucket of a tuple: keyed hash of all 40 bytes. */
static uint32_t
bucket_of(const struct sg_halfopen *h, const struct sg_tuple *t)
{
	return (uint32_t)siphash24(&h->key, t, sizeof(*t)) & h->mask;
}

/* Wait after k retransmissions: the first timeout doubled k times
 * (RFC 6298 5.5), capped so deadlines stay comparable. */
static uint32_t
interval_ms(const struct sg_halfopen *h, unsigned k)
{
	uint64_t ms = (uint64_t)h->timing.synack_timeout_ms << k;

	return ms > MAX_INTERVAL_MS ? MAX_INTERVAL_MS : (uint32_t)ms;
}

/* Copy a timing, clamped to what the FIFOs and the comparisons support. */
static void
timing_clamp(struct sg_halfopen_timing *dst,
             const struct sg_halfopen_timing *src)
{
	dst->synack_timeout_ms = src->synack_timeout_ms;
	if (dst->synack_timeout_ms < 1)
		dst->synack_timeout_ms = 1;
	if (dst->synack_timeout_ms > MAX_INTERVAL_MS)
		dst->synack_timeout_ms = MAX_INTERVAL_MS;
	dst->synack_retries = src->synack_retries;
	if (dst->synack_retries > HALFOPEN_MAX_RETRIES)
		dst->synack_retries = HALFOPEN_MAX_RETRIES;
}

/* The entry after i on its hash chain or the free list, or NIL: a chain
 * ends at an entry linked to itself. */
static uint32_t
chain_next(const struct sg_halfopen *h, uint32_t i)
{
	uint32_t next = h->entries[i].hnext;

	return next == i ? NIL : next;
}

/* Push entry i in front of the chain starting at *head. */
static void
chain_push(struct sg_halfopen *h, uint32_t *head, uint32_t i)
{
	h->entries[i].hnext = *head == NIL ? i : *head;
	*head = i;
}

/* Take entry i off the chain starting at *head; false if it is not there. */
static bool
chain_remove(struct sg_halfopen *h, uint32_t *head, uint32_t i)
{
	uint32_t prev = NIL, j, next = chain_next(h, i);

	for (j = *head; j != NIL && j != i; j = chain_next(h, j))
		prev = j;
	if (j == NIL)
		return false;
	if (prev == NIL)
		*head = next;
	else
		h->entries[prev].hnext = next == NIL ? prev : next;
	return true;
}

/* Keep the busy bit of queue[g][k] in step with its head. */
static void
queue_mark(struct sg_halfopen *h, unsigned g, unsigned k)
{
	uint32_t bit = UINT32_C(1) << (g * NQUEUES + k);

	if (h->queue[g][k] == NIL)
		h->busy &= ~bit;
	else
		h->busy |= bit;
}

/* Append entry i at the tail of the circular list starting at *head. */
static void
ring_append(struct sg_halfopen *h, uint32_t *head, uint32_t i)
{
	struct sg_halfopen_entry *e = &h->entries[i], *first, *last;

	if (*head == NIL) {
		e->tprev = e->tnext = i;
		*head = i;
		return;
	}
	first = &h->entries[*head];
	last = &h->entries[first->tprev];
	e->tprev = first->tprev;
	e->tnext = *head;
	last->tnext = i;
	first->tprev = i;
}

/* Take entry i out of the circular list starting at *head. */
static void
ring_remove(struct sg_halfopen *h, uint32_t *head, uint32_t i)
{
	struct sg_halfopen_entry *e = &h->entries[i];

	if (e->tnext == i) {
		*head = NIL;
		return;
	}
	h->entries[e->tprev].tnext = e->tnext;
	h->entries[e->tnext].tprev = e->tprev;
	if (*head == i)
		*head = e->tnext;
}

/* Arm entry i for its next event, now_ms + interval(retries), in the
 * current generation. */
static void
timer_arm(struct sg_halfopen *h, uint32_t i, uint32_t now_ms)
{
	struct sg_halfopen_entry *e = &h->entries[i];
	unsigned k = e->retries;

	e->deadline_ms = now_ms + interval_ms(h, k);
	ring_append(h, &h->queue[h->gen][k], i);
	queue_mark(h, h->gen, k);
}

/* Disarm entry i. Its FIFO is the one for its retries; of the two
 * generations only a head needs telling apart, and a head is unique. */
static void
timer_cancel(struct sg_halfopen *h, uint32_t i)
{
	unsigned k = h->entries[i].retries;
	unsigned g = h->queue[1][k] == i;

	ring_remove(h, &h->queue[g][k], i);
	queue_mark(h, g, k);
}

/* The FIFO head with the earliest deadline, or NIL; its generation in *gp. */
static uint32_t
timer_earliest(const struct sg_halfopen *h, unsigned *gp)
{
	uint32_t busy = h->busy, best = NIL, i;
	unsigned q;

	while (busy != 0) {
		q = (unsigned)__builtin_ctz(busy);
		busy &= busy - 1;
		i = h->queue[q / NQUEUES][q % NQUEUES];
		if (best == NIL || ms_diff(h->entries[i].deadline_ms,
		                           h->entries[best].deadline_ms) < 0) {
			best = i;
			*gp = q / NQUEUES;
		}
	}
	return best;
}

/* Fold queue[from][k] into queue[to][k], both sorted, keeping deadline
 * order (ties keep the entries of to first). */
static void
queue_merge(struct sg_halfopen *h, unsigned to, unsigned from, unsigned k)
{
	uint32_t *a = &h->queue[to][k], *b = &h->queue[from][k], out = NIL;
	uint32_t *take, i;

	while (*a != NIL || *b != NIL) {
		if (*b == NIL)
			take = a;
		else if (*a == NIL)
			take = b;
		else if (ms_diff(h->entries[*b].deadline_ms,
		                 h->entries[*a].deadline_ms) < 0)
			take = b;
		else
			take = a;
		i = *take;
		ring_remove(h, take, i);
		ring_append(h, &out, i);
	}
	*a = out;
	queue_mark(h, to, k);
	queue_mark(h, from, k);
}

/* Unhash entry i and put it on the free list; false if it was not live. */
static bool
entry_release(struct sg_halfopen *h, uint32_t i)
{
	struct sg_halfopen_entry *e = &h->entries[i];

	if (!chain_remove(h, &h->buckets[bucket_of(h, &e->tuple)], i))
		return false;
	chain_push(h, &h->freelist, i);
	h->count--;
	return true;
}

/* Index of e if it points at an entry slot of h, else NIL. */
static uint32_t
entry_index(const struct sg_halfopen *h, const struct sg_halfopen_entry *e)
{
	uintptr_t base = (uintptr_t)h->entries, p = (uintptr_t)e;
	size_t off;

	if (e == NULL || p < base)
		return NIL;
	off = p - base;
	if (off % sizeof(*e) != 0 || off / sizeof(*e) >= h->capacity)
		return NIL;
	return (uint32_t)(off / sizeof(*e));
}

struct sg_halfopen *
halfopen_new(uint32_t capacity, const struct sg_sipkey *k,
             const struct sg_halfopen_timing *timing)
{
	static const struct sg_halfopen_timing defaults = {DEFAULT_TIMEOUT_MS,
	                                                   DEFAULT_RETRIES};
	struct sg_halfopen *h;
	uint64_t nbuckets = 1;
	uint32_t i;

	if (capacity == 0 || capacity > HALFOPEN_MAX_CAPACITY || k == NULL)
		return NULL;
	while (nbuckets < 2 * (uint64_t)capacity)
		nbuckets <<= 1;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->entries = calloc(capacity, sizeof(*h->entries));
	h->buckets = malloc(nbuckets * sizeof(*h->buckets));
	if (h->entries == NULL || h->buckets == NULL)
		goto fail;

	h->capacity = capacity;
	h->mask = (uint32_t)(nbuckets - 1);
	h->key = *k;
	timing_clamp(&h->timing, timing != NULL ? timing : &defaults);
	/* Writing every word now commits the memory at start-up rather than
	 * page by page under a flood. */
	memset(h->buckets, 0xff, nbuckets * sizeof(*h->buckets));
	memset(h->queue, 0xff, sizeof(h->queue));
	h->freelist = NIL;
	for (i = capacity; i-- > 0;)
		chain_push(h, &h->freelist, i);
	return h;

fail:
	halfopen_free(h);
	return NULL;
}

void
halfopen_free(struct sg_halfopen *h)
{
	if (h == NULL)
		return;
	free(h->entries);
	free(h->buckets);
	free(h);
}

void
halfopen_set_timing(struct sg_halfopen *h,
                    const struct sg_halfopen_timing *timing)
{
	struct sg_halfopen_timing t;
	unsigned old, k;

	if (h == NULL || timing == NULL)
		return;
	timing_clamp(&t, timing);
	if (t.synack_timeout_ms < h->timing.synack_timeout_ms) {
		/* Shorter intervals: start appending to an empty generation
		 * (see the top of the file). */
		old = h->gen ^ 1;
		if (h->busy &
		    (((UINT32_C(1) << NQUEUES) - 1) << (old * NQUEUES))) {
			for (k = 0; k < NQUEUES; k++)
				queue_merge(h, old, h->gen, k);
		} else
			h->gen = old;
	}
	h->timing = t;
}

uint32_t
halfopen_count(const struct sg_halfopen *h)
{
	return h->count;
}

uint32_t
halfopen_capacity(const struct sg_halfopen *h)
{
	return h->capacity;
}

size_t
halfopen_memory(const struct sg_halfopen *h)
{
	return sizeof(*h) + (size_t)h->capacity * sizeof(*h->entries) +
	       ((size_t)h->mask + 1) * sizeof(*h->buckets);
}

uint32_t
halfopen_bucket(const struct sg_halfopen *h, const struct sg_tuple *t)
{
	return bucket_of(h, t);
}

void
halfopen_prefetch(const struct sg_halfopen *h, uint32_t bucket, bool deep)
{
	const uint32_t *b = &h->buckets[bucket & h->mask];
	const struct sg_halfopen_entry *e;

	if (!deep) {
		__builtin_prefetch(b);
	} else if (*b != NIL) {
		/* The lookup's 44 bytes: one cache line or two. */
		e = &h->entries[*b];
		__builtin_prefetch(e);
		__builtin_prefetch((const uint8_t *)e + LOOKUP_BYTES - 1);
	}
}

struct sg_halfopen_entry *
halfopen_lookup_at(struct sg_halfopen *h, const struct sg_tuple *t,
                   uint32_t bucket)
{
	uint32_t i = h->buckets[bucket & h->mask];

	for (; i != NIL; i = chain_next(h, i)) {
		if (tuple_equal(&h->entries[i].tuple, t))
			return &h->entries[i];
	}
	return NULL;
}

struct sg_halfopen_entry *
halfopen_lookup(struct sg_halfopen *h, const struct sg_tuple *t)
{
	return halfopen_lookup_at(h, t, bucket_of(h, t));
}

struct sg_halfopen_entry *
halfopen_insert_at(struct sg_halfopen *h, const struct sg_tuple *t,
                   uint32_t bucket, uint64_t now_ms)
{
	struct sg_halfopen_entry *e;
	uint32_t i = h->freelist;

	if (i == NIL)
		return NULL;
	e = &h->entries[i];
	h->freelist = chain_next(h, i);
	memset(e, 0, sizeof(*e));
	e->tuple = *t;
	e->created_ms = (uint32_t)now_ms;
	timer_arm(h, i, (uint32_t)now_ms);
	chain_push(h, &h->buckets[bucket & h->mask], i);
	h->count++;
	return e;
}

struct sg_halfopen_entry *
halfopen_insert(struct sg_halfopen *h, const struct sg_tuple *t,
                uint64_t now_ms)
{
	return h->freelist == NIL ? NULL :
	    halfopen_insert_at(h, t, bucket_of(h, t), now_ms);
}

void
halfopen_delete(struct sg_halfopen *h, struct sg_halfopen_entry *e)
{
	uint32_t i = entry_index(h, e);

	/* Unhashing first also proves the entry is live. */
	if (i == NIL || !entry_release(h, i))
		return;
	timer_cancel(h, i);
}

unsigned
halfopen_run_timers(struct sg_halfopen *h, uint64_t now_ms,
                    halfopen_timer_cb cb, void *arg)
{
	return halfopen_run_timers_max(h, now_ms, UINT_MAX, cb, arg);
}

unsigned
halfopen_run_timers_max(struct sg_halfopen *h, uint64_t now_ms, unsigned max,
                        halfopen_timer_cb cb, void *arg)
{
	struct sg_halfopen_entry *e;
	uint32_t now = (uint32_t)now_ms, i;
	unsigned g, fired = 0;

	while (fired < max && (i = timer_earliest(h, &g)) != NIL) {
		e = &h->entries[i];
		if (ms_diff(e->deadline_ms, now) > 0)
			break;
		ring_remove(h, &h->queue[g][e->retries], i);
		queue_mark(h, g, e->retries);
		fired++;
		if (e->retries >= h->timing.synack_retries) {
			if (cb != NULL)
				cb(e, HALFOPEN_EXPIRE, arg);
			entry_release(h, i);
			continue;
		}
		/* Re-armed from now, as RFC 6298 5.6 restarts the timer when
		 * it retransmits: the new deadline is in the future, so no
		 * entry fires twice in one call. */
		e->retries++;
		timer_arm(h, i, now);
		if (cb != NULL)
			cb(e, HALFOPEN_RETRANSMIT, arg);
	}
	return fired;
}

int64_t
halfopen_next_timer(const struct sg_halfopen *h, uint64_t now_ms)
{
	uint32_t i;
	unsigned g;
	int32_t d;

	if ((i = timer_earliest(h, &g)) == NIL)
		return -1;
	d = ms_diff(h->entries[i].deadline_ms, (uint32_t)now_ms);
	return d > 0 ? d : 0;
}
