/*
 * test_halfopen.c -- the half-open table and its SYN-ACK timers, on a fake
 * clock: every "now" below is a plain number of milliseconds.
 */
#include <sys/types.h>

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "halfopen.h"

static const struct sg_halfopen_timing linux_timing = {1000, 5};

/* A fixed key: the tests must not depend on which key is used. */
static struct sg_sipkey
test_key(void)
{
	static const uint8_t b[16] = {0, 1, 2,  3,  4,  5,  6,  7,
	                              8, 9, 10, 11, 12, 13, 14, 15};
	struct sg_sipkey k;

	siphash_key_from_bytes(&k, b);
	return k;
}

/* Table of capacity entries with the given timing. */
static struct sg_halfopen *
table(uint32_t capacity, const struct sg_halfopen_timing *t)
{
	struct sg_sipkey k = test_key();
	struct sg_halfopen *h = halfopen_new(capacity, &k, t);

	cr_assert_not_null(h);
	return h;
}

/* Client number n (198.18.x.y:port) to 198.19.0.1:443. */
static struct sg_tuple
client(uint32_t n)
{
	uint8_t peer[4] = {198, 18, (uint8_t)(n >> 16), (uint8_t)(n >> 8)};
	uint8_t local[4] = {198, 19, 0, 1};
	struct sg_tuple t;

	tuple_init_v4(&t, peer, (uint16_t)(1024 + (n & 0xff)), local, 443);
	return t;
}

/* The client number back from a tuple made by client(). */
static uint32_t
client_number(const struct sg_tuple *t)
{
	return ((uint32_t)t->peer_addr[2] << 16) |
	       ((uint32_t)t->peer_addr[3] << 8) |
	       (uint32_t)(t->peer_port - 1024);
}

/* What the callbacks saw, in order. */
struct event_log {
	unsigned n;
	uint32_t who[64];
	enum sg_timer_event ev[64];
	uint8_t retries[64];
	uint64_t at[64];
	uint64_t now;
};

/* Callback that appends to an event_log. */
static void
log_event(struct sg_halfopen_entry *e, enum sg_timer_event ev, void *arg)
{
	struct event_log *l = arg;

	if (l->n >= 64)
		return;
	l->who[l->n] = client_number(&e->tuple);
	l->ev[l->n] = ev;
	l->retries[l->n] = e->retries;
	l->at[l->n] = l->now;
	l->n++;
}

/* Advance the clock from timer to timer until nothing is armed or limit. */
static void
run_until_idle(struct sg_halfopen *h, struct event_log *l, uint64_t limit)
{
	int64_t wait;

	while ((wait = halfopen_next_timer(h, l->now)) >= 0 &&
	       l->now + (uint64_t)wait <= limit) {
		l->now += (uint64_t)wait;
		cr_assert_gt(halfopen_run_timers(h, l->now, log_event, l), 0,
		             "next_timer pointed at %llu but nothing fired",
		             (unsigned long long)l->now);
	}
}

/* Check a log against the schedule of one entry inserted at start. */
static void
assert_schedule(const struct event_log *l, uint64_t start,
                const uint64_t *offsets, unsigned n)
{
	unsigned i;

	cr_assert_eq(l->n, n, "%u events, expected %u", l->n, n);
	for (i = 0; i < n; i++) {
		cr_assert_eq(l->at[i] - start, offsets[i],
		             "event %u at +%llu, expected +%llu", i,
		             (unsigned long long)(l->at[i] - start),
		             (unsigned long long)offsets[i]);
		cr_assert_eq(l->ev[i],
		             i + 1 < n ? HALFOPEN_RETRANSMIT : HALFOPEN_EXPIRE);
		cr_assert_eq(l->retries[i], i + 1 < n ? i + 1 : n - 1);
	}
}

Test(halfopen, inserts_finds_and_deletes)
{
	struct sg_halfopen *h = table(16, &linux_timing);
	struct sg_tuple t = client(7);
	struct sg_halfopen_entry *e;

	cr_assert_null(halfopen_lookup(h, &t));
	e = halfopen_insert(h, &t, 500);
	cr_assert_not_null(e);
	cr_assert(tuple_equal(&e->tuple, &t));
	cr_assert_eq(e->created_ms, 500);
	cr_assert_eq(e->retries, 0);
	cr_assert_eq(e->deadline_ms, 1500);
	cr_assert_eq(halfopen_count(h), 1);
	cr_assert_eq(halfopen_lookup(h, &t), e);

	halfopen_delete(h, e);
	cr_assert_eq(halfopen_count(h), 0);
	cr_assert_null(halfopen_lookup(h, &t));
	halfopen_free(h);
}

Test(halfopen, finds_ipv6_entries)
{
	struct sg_halfopen *h = table(16, &linux_timing);
	uint8_t peer[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0,
	                    0,    0, 0,    0,    0, 0,    0, 2};
	uint8_t local[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0,
	                     0,    0, 0,    0,    0, 0,    0, 1};
	struct sg_tuple t6, t4;

	tuple_init_v6(&t6, peer, 40000, local, 443);
	/* Same leading bytes and ports, other family: a different tuple. */
	tuple_init_v4(&t4, peer, 40000, local, 443);
	cr_assert_not_null(halfopen_insert(h, &t6, 0));
	cr_assert_not_null(halfopen_lookup(h, &t6));
	cr_assert_null(halfopen_lookup(h, &t4));
	halfopen_free(h);
}

Test(halfopen, lookup_misses_on_any_changed_field)
{
	struct sg_halfopen *h = table(64, &linux_timing);
	struct sg_tuple t = client(3), u;

	cr_assert_not_null(halfopen_insert(h, &t, 0));

	u = t;
	u.peer_port++;
	cr_assert_null(halfopen_lookup(h, &u), "changed peer port");
	u = t;
	u.local_port = 80;
	cr_assert_null(halfopen_lookup(h, &u), "changed local port");
	u = t;
	u.peer_addr[3] ^= 1;
	cr_assert_null(halfopen_lookup(h, &u), "changed peer address");
	u = t;
	u.local_addr[0] ^= 0x80;
	cr_assert_null(halfopen_lookup(h, &u), "changed local address");
	u = t;
	cr_assert_not_null(halfopen_lookup(h, &u), "unchanged copy");
	halfopen_free(h);
}

Test(halfopen, rejects_zero_and_oversized_capacity)
{
	struct sg_sipkey k = test_key();

	cr_assert_null(halfopen_new(0, &k, &linux_timing));
	cr_assert_null(
	    halfopen_new(HALFOPEN_MAX_CAPACITY + 1, &k, &linux_timing));
	cr_assert_null(halfopen_new(UINT32_MAX, &k, &linux_timing));
	cr_assert_null(halfopen_new(16, NULL, &linux_timing));
}

Test(halfopen, never_holds_more_than_capacity)
{
	const uint32_t cap = 1000;
	struct sg_halfopen *h = table(cap, &linux_timing);
	struct sg_tuple t;
	uint32_t n, accepted = 0;

	for (n = 0; n < 10 * cap; n++) {
		t = client(n);
		if (halfopen_insert(h, &t, n) != NULL)
			accepted++;
		cr_assert_leq(halfopen_count(h), cap);
	}
	cr_assert_eq(accepted, cap);
	cr_assert_eq(halfopen_count(h), cap);
	/* A full table refuses; it never evicts the entries it holds. */
	for (n = 0; n < 10 * cap; n++) {
		t = client(n);
		if (n < cap)
			cr_assert_not_null(halfopen_lookup(h, &t), "lost %u",
			                   n);
		else
			cr_assert_null(halfopen_lookup(h, &t), "kept %u", n);
	}
	halfopen_free(h);
}

Test(halfopen, delete_frees_a_slot_for_reuse)
{
	struct sg_halfopen *h = table(4, &linux_timing);
	struct sg_halfopen_entry *e[4];
	struct sg_tuple t;
	uint32_t n;

	for (n = 0; n < 4; n++) {
		t = client(n);
		cr_assert_not_null(e[n] = halfopen_insert(h, &t, 0));
	}
	t = client(99);
	cr_assert_null(halfopen_insert(h, &t, 0));
	halfopen_delete(h, e[2]);
	cr_assert_not_null(halfopen_insert(h, &t, 0));
	cr_assert_not_null(halfopen_lookup(h, &t));
	cr_assert_eq(halfopen_count(h), 4);
	t = client(100);
	cr_assert_null(halfopen_insert(h, &t, 0));
	halfopen_free(h);
}

Test(halfopen, delete_ignores_foreign_and_dead_pointers)
{
	struct sg_halfopen *h = table(4, &linux_timing);
	struct sg_halfopen_entry stranger, *e;
	struct sg_tuple t = client(1);

	memset(&stranger, 0, sizeof(stranger));
	cr_assert_not_null(e = halfopen_insert(h, &t, 0));
	halfopen_delete(h, &stranger);
	halfopen_delete(h, NULL);
	halfopen_delete(h, (struct sg_halfopen_entry *)((char *)e + 1));
	cr_assert_eq(halfopen_count(h), 1);
	halfopen_delete(h, e);
	halfopen_delete(h, e); /* twice: the second is a no-op */
	cr_assert_eq(halfopen_count(h), 0);
	halfopen_free(h);
}

Test(halfopen, deletes_from_the_middle_of_hash_chains)
{
	/* 256 entries in 256 buckets: many chains hold several. */
	const uint32_t cap = 256;
	struct sg_halfopen *h = table(cap, &linux_timing);
	struct sg_tuple t;
	uint32_t n;

	for (n = 0; n < cap; n++) {
		t = client(n);
		cr_assert_not_null(halfopen_insert(h, &t, 0));
	}
	for (n = 0; n < cap; n += 2) {
		t = client(n);
		halfopen_delete(h, halfopen_lookup(h, &t));
	}
	cr_assert_eq(halfopen_count(h), cap / 2);
	for (n = 0; n < cap; n++) {
		t = client(n);
		if (n % 2)
			cr_assert_not_null(halfopen_lookup(h, &t), "lost %u",
			                   n);
		else
			cr_assert_null(halfopen_lookup(h, &t), "kept %u", n);
	}
	halfopen_free(h);
}

Test(halfopen, fires_in_deadline_order_across_insert_times)
{
	struct sg_halfopen *h = table(16, &linux_timing);
	struct event_log l = {0};
	struct sg_tuple t;
	uint32_t n;

	/* Inserted 100 ms apart: 0 at 0, 1 at 100, 2 at 200, 3 at 300. */
	for (n = 0; n < 4; n++) {
		t = client(n);
		cr_assert_not_null(halfopen_insert(h, &t, 100 * n));
	}
	l.now = 1250;
	cr_assert_eq(halfopen_run_timers(h, l.now, log_event, &l), 3);
	cr_assert_eq(l.who[0], 0);
	cr_assert_eq(l.who[1], 1);
	cr_assert_eq(l.who[2], 2);
	/* First retransmissions of 0..2 at 1250 re-arm them for 3250..; 3's
	 * first one is due at 1300 and comes before them. */
	run_until_idle(h, &l, 3250);
	cr_assert_eq(l.n, 7);
	cr_assert_eq(l.who[3], 3);
	cr_assert_eq(l.at[3], 1300);
	for (n = 0; n < 3; n++) {
		cr_assert_eq(l.who[4 + n], n);
		cr_assert_eq(l.at[4 + n], 3250);
	}
	halfopen_free(h);
}

Test(halfopen, retransmits_on_the_linux_schedule)
{
	static const uint64_t at[] = {1000, 3000, 7000, 15000, 31000, 63000};
	struct sg_halfopen *h = table(16, &linux_timing);
	struct event_log l = {0};
	struct sg_tuple t = client(1);
	unsigned i;

	cr_assert_not_null(halfopen_insert(h, &t, 0));
	/* One millisecond early, nothing fires. */
	for (i = 0; i < 6; i++) {
		l.now = at[i] - 1;
		cr_assert_eq(halfopen_run_timers(h, l.now, log_event, &l), 0);
		cr_assert_eq(halfopen_next_timer(h, l.now), 1);
		l.now = at[i];
		cr_assert_eq(halfopen_run_timers(h, l.now, log_event, &l), 1);
	}
	assert_schedule(&l, 0, at, 6);
	cr_assert_eq(halfopen_count(h), 0);
	cr_assert_null(halfopen_lookup(h, &t));
	cr_assert_eq(halfopen_next_timer(h, l.now), -1);
	halfopen_free(h);
}

Test(halfopen, defaults_to_the_linux_schedule)
{
	static const uint64_t at[] = {1000, 3000, 7000, 15000, 31000, 63000};
	struct sg_sipkey k = test_key();
	struct sg_halfopen *h = halfopen_new(8, &k, NULL);
	struct event_log l = {0};
	struct sg_tuple t = client(1);

	cr_assert_not_null(h);
	cr_assert_not_null(halfopen_insert(h, &t, 0));
	run_until_idle(h, &l, UINT64_MAX);
	assert_schedule(&l, 0, at, 6);
	halfopen_free(h);
}

Test(halfopen, follows_other_timings)
{
	static const uint64_t at2[] = {200, 600, 1400};
	static const uint64_t at0[] = {3000};
	static const struct sg_halfopen_timing fast = {200, 2};
	static const struct sg_halfopen_timing none = {3000, 0};
	struct sg_halfopen *h;
	struct event_log l = {0};
	struct sg_tuple t = client(1);

	h = table(8, &fast);
	cr_assert_not_null(halfopen_insert(h, &t, 0));
	run_until_idle(h, &l, UINT64_MAX);
	assert_schedule(&l, 0, at2, 3);
	halfopen_free(h);

	/* No retransmission at all: expiry after the first timeout. */
	memset(&l, 0, sizeof(l));
	h = table(8, &none);
	cr_assert_not_null(halfopen_insert(h, &t, 0));
	run_until_idle(h, &l, UINT64_MAX);
	assert_schedule(&l, 0, at0, 1);
	halfopen_free(h);
}

Test(halfopen, clamps_hostile_timings)
{
	static const struct sg_halfopen_timing zero = {0, 200};
	static const struct sg_halfopen_timing huge = {UINT32_MAX, 15};
	struct sg_halfopen *h;
	struct event_log l = {0};
	struct sg_tuple t = client(1);
	int64_t wait;
	unsigned events = 0;

	/* 0 ms becomes 1 ms; 200 retries become HALFOPEN_MAX_RETRIES. */
	h = table(8, &zero);
	cr_assert_not_null(halfopen_insert(h, &t, 0));
	cr_assert_eq(halfopen_next_timer(h, 0), 1);
	run_until_idle(h, &l, UINT64_MAX);
	cr_assert_eq(l.n, HALFOPEN_MAX_RETRIES + 1);
	cr_assert_eq(l.ev[HALFOPEN_MAX_RETRIES], HALFOPEN_EXPIRE);
	halfopen_free(h);

	/* Every wait stays under 2^31 ms, so deadlines stay comparable. */
	h = table(8, &huge);
	cr_assert_not_null(halfopen_insert(h, &t, 0));
	l.now = 0;
	while ((wait = halfopen_next_timer(h, l.now)) >= 0) {
		cr_assert_leq(wait, INT64_C(1) << 30);
		cr_assert_gt(wait, 0);
		l.now += (uint64_t)wait;
		events += halfopen_run_timers(h, l.now, NULL, NULL);
		cr_assert_leq(events, 16);
	}
	cr_assert_eq(events, 16);
	halfopen_free(h);
}

Test(halfopen, next_timer_says_how_long_to_wait)
{
	struct sg_halfopen *h = table(8, &linux_timing);
	struct sg_tuple a = client(1), b = client(2);

	cr_assert_eq(halfopen_next_timer(h, 0), -1);
	cr_assert_not_null(halfopen_insert(h, &b, 40));
	cr_assert_not_null(halfopen_insert(h, &a, 100));
	cr_assert_eq(halfopen_next_timer(h, 100), 940);
	cr_assert_eq(halfopen_next_timer(h, 1040), 0);
	cr_assert_eq(halfopen_next_timer(h, 5000), 0, "overdue is due now");
	cr_assert_eq(halfopen_run_timers(h, 1040, NULL, NULL), 1);
	cr_assert_eq(halfopen_next_timer(h, 1040), 60);
	halfopen_free(h);
}

Test(halfopen, delete_cancels_timers)
{
	struct sg_halfopen *h = table(8, &linux_timing);
	struct event_log l = {0};
	struct sg_tuple a = client(1), b = client(2), c = client(3);
	struct sg_halfopen_entry *eb;

	cr_assert_not_null(halfopen_insert(h, &a, 0));
	cr_assert_not_null(eb = halfopen_insert(h, &b, 10));
	cr_assert_not_null(halfopen_insert(h, &c, 20));
	/* b sits in the middle of its FIFO. */
	halfopen_delete(h, eb);
	run_until_idle(h, &l, UINT64_MAX);
	cr_assert_eq(l.n, 12);
	for (unsigned i = 0; i < l.n; i++)
		cr_assert_neq(l.who[i], 2, "deleted entry fired");

	/* Deleted after a retransmission, as a final ACK would. */
	cr_assert_not_null(eb = halfopen_insert(h, &b, l.now));
	l.now += 1000;
	cr_assert_eq(halfopen_run_timers(h, l.now, log_event, &l), 1);
	cr_assert_eq(eb->retries, 1);
	halfopen_delete(h, eb);
	cr_assert_eq(halfopen_next_timer(h, l.now), -1);
	cr_assert_eq(halfopen_run_timers(h, l.now + 100000, log_event, &l), 0);
	cr_assert_eq(l.n, 13);
	halfopen_free(h);
}

Test(halfopen, delete_cancels_timers_in_either_generation)
{
	static const struct sg_halfopen_timing shorter = {500, 5};
	static const struct sg_halfopen_timing shortest = {200, 5};
	struct sg_halfopen *h = table(8, &linux_timing);
	struct event_log l = {0};
	struct sg_tuple a = client(1), b = client(2), c = client(3),
	                d = client(4);
	struct sg_halfopen_entry *eb, *ed;

	/* a and c armed under 1000 ms, b under 500 ms, d under 200 ms
	 * (which merges the first two generations): each heads a FIFO. */
	cr_assert_not_null(halfopen_insert(h, &a, 0));
	halfopen_set_timing(h, &shorter);
	cr_assert_not_null(eb = halfopen_insert(h, &b, 0));
	cr_assert_not_null(halfopen_insert(h, &c, 0));
	halfopen_delete(h, eb);
	cr_assert_eq(halfopen_next_timer(h, 0), 500, "c's 500 ms");
	halfopen_set_timing(h, &shortest);
	cr_assert_not_null(ed = halfopen_insert(h, &d, 0));
	cr_assert_eq(halfopen_next_timer(h, 0), 200);
	halfopen_delete(h, ed);
	cr_assert_eq(halfopen_next_timer(h, 0), 500);

	l.now = 1000;
	cr_assert_eq(halfopen_run_timers(h, l.now, log_event, &l), 2);
	cr_assert_eq(l.who[0], 3);
	cr_assert_eq(l.who[1], 1);
	run_until_idle(h, &l, UINT64_MAX);
	cr_assert_eq(l.n, 12);
	for (unsigned i = 0; i < l.n; i++)
		cr_assert(l.who[i] == 1 || l.who[i] == 3);
	cr_assert_eq(halfopen_count(h), 0);
	halfopen_free(h);
}

Test(halfopen, keeps_the_schedule_across_the_32_bit_wrap)
{
	static const uint64_t at[] = {1000, 3000, 7000, 15000, 31000, 63000};
	/* Insert 20 s before the low 32 bits wrap, on a clock that has
	 * already wrapped five times. */
	const uint64_t start = (UINT64_C(5) << 32) + UINT32_MAX - 20000;
	struct sg_halfopen *h = table(8, &linux_timing);
	struct event_log l = {0};
	struct sg_tuple t = client(1);

	cr_assert_not_null(halfopen_insert(h, &t, start));
	l.now = start;
	cr_assert_eq(halfopen_next_timer(h, l.now), 1000);
	run_until_idle(h, &l, UINT64_MAX);
	assert_schedule(&l, start, at, 6);
	halfopen_free(h);
}

/* Per-entry bookkeeping for the big and the re-timed runs. */
struct tally {
	uint8_t *events;    /* events seen per client */
	uint8_t *expired;   /* EXPIRE seen per client */
	uint32_t *last_run; /* run that last fired each client */
	uint32_t run;       /* current run_timers call */
	uint32_t now;       /* its time, low 32 bits */
	uint32_t late;      /* events whose deadline was not exactly now */
	uint32_t twice;     /* clients fired twice in one run */
	uint32_t *deadline; /* what the test expects, per client */
};

/* Callback: count and check against the expected deadline. */
static void
tally_event(struct sg_halfopen_entry *e, enum sg_timer_event ev, void *arg)
{
	struct tally *t = arg;
	uint32_t n = client_number(&e->tuple);

	if (t->deadline != NULL && t->deadline[n] != t->now)
		t->late++;
	if (t->last_run[n] == t->run)
		t->twice++;
	t->last_run[n] = t->run;
	t->events[n]++;
	if (ev == HALFOPEN_EXPIRE)
		t->expired[n]++;
	else if (t->deadline != NULL)
		t->deadline[n] = e->deadline_ms;
}

/* The sanitizers' allocators do not report through mallinfo2. */
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_COUNTED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_COUNTED 0
#endif
#endif
#ifndef HEAP_COUNTED
#define HEAP_COUNTED 1
#endif

/* Bytes the allocator has handed out (heap and mmap). */
static size_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

Test(halfopen, runs_100k_entries_through_the_whole_schedule, .timeout = 60)
{
	const uint32_t n = 100000, retries = 5;
	struct sg_sipkey k = test_key();
	struct sg_halfopen *h;
	struct tally t = {0};
	struct sg_tuple tu;
	uint64_t now = 0, events = 0;
	size_t before, after_new, after_run;
	int64_t wait;
	uint32_t i, bad = 0;

	t.events = calloc(n, 1);
	t.expired = calloc(n, 1);
	t.last_run = calloc(n, sizeof(*t.last_run));
	cr_assert(t.events && t.expired && t.last_run);
	t.run = 1;

	before = heap_in_use();
	h = halfopen_new(n, &k, &linux_timing);
	after_new = heap_in_use();
	/* 100 SYNs per millisecond over one second. Only table calls run
	 * between the heap measurements, no assertion. */
	for (i = 0; i < n; i++) {
		tu = client(i);
		if (h == NULL || halfopen_insert(h, &tu, i / 100) == NULL)
			bad++;
	}
	now = (n - 1) / 100;
	while (h != NULL && (wait = halfopen_next_timer(h, now)) >= 0) {
		now += (uint64_t)wait;
		t.run++;
		t.now = (uint32_t)now;
		events += halfopen_run_timers(h, now, tally_event, &t);
	}
	after_run = heap_in_use();

	cr_assert_not_null(h);
	cr_assert_eq(bad, 0);
	cr_assert_eq(events, (uint64_t)n * (retries + 1));
	for (i = 0; i < n; i++) {
		cr_assert_eq(t.events[i], retries + 1, "client %u: %u events",
		             i, t.events[i]);
		cr_assert_eq(t.expired[i], 1);
	}
	cr_assert_eq(t.twice, 0);
	cr_assert_eq(halfopen_count(h), 0);
	/* The last SYN came at 999 ms and expires 63 s later. */
	cr_assert_eq(now, 999 + 63000);
	/* Memory: what halfopen_memory says, give or take the allocator's
	 * headers and page rounding, and not a byte more after the run. */
	if (HEAP_COUNTED) {
		cr_assert_geq(after_new - before, halfopen_memory(h));
		cr_assert_leq(after_new - before,
		              halfopen_memory(h) + 3 * 4096);
		cr_assert_eq(after_run, after_new, "grew by %zd bytes",
		             (ssize_t)(after_run - after_new));
	}
	halfopen_free(h);
	free(t.events);
	free(t.expired);
	free(t.last_run);
}

Test(halfopen, set_timing_mid_run_loses_and_doubles_nothing, .timeout = 60)
{
	/* Timings changed at fixed times while 20000 entries are in flight:
	 * shorter (new generation), longer (same one), shorter again before
	 * the old generation drained (merge), fewer and more retries. */
	static const struct {
		uint64_t at;
		struct sg_halfopen_timing timing;
	} change[] = {
	    {1500, {300, 4}}, {2500, {700, 6}},  {2600, {100, 2}},
	    {4000, {50, 8}},  {9000, {2000, 1}},
	};
	const uint32_t n = 20000;
	struct sg_halfopen *h = table(n, &linux_timing);
	struct tally t = {0};
	struct sg_tuple tu;
	uint64_t now = 0;
	int64_t wait;
	unsigned c = 0;
	uint32_t i, inserted = 0;

	t.events = calloc(n, 1);
	t.expired = calloc(n, 1);
	t.last_run = calloc(n, sizeof(*t.last_run));
	t.deadline = calloc(n, sizeof(*t.deadline));
	cr_assert(t.events && t.expired && t.last_run && t.deadline);

	for (;;) {
		/* Next moment: a timer, an insert (two a millisecond for
		 * 10 s), or a timing change, whichever is first. */
		uint64_t next = UINT64_MAX;

		wait = halfopen_next_timer(h, now);
		if (wait >= 0)
			next = now + (uint64_t)wait;
		if (inserted < n && inserted / 2 < next)
			next = inserted / 2;
		if (c < sizeof(change) / sizeof(change[0]) &&
		    change[c].at < next)
			next = change[c].at;
		if (next == UINT64_MAX)
			break;
		cr_assert_geq(next, now);
		now = next;
		while (c < sizeof(change) / sizeof(change[0]) &&
		       change[c].at == now)
			halfopen_set_timing(h, &change[c++].timing);
		while (inserted < n && inserted / 2 == now) {
			struct sg_halfopen_entry *e;

			tu = client(inserted);
			cr_assert_not_null(e = halfopen_insert(h, &tu, now));
			t.deadline[inserted++] = e->deadline_ms;
		}
		t.run++;
		t.now = (uint32_t)now;
		halfopen_run_timers(h, now, tally_event, &t);
		cr_assert_neq(halfopen_next_timer(h, now), 0,
		              "something due at %llu was left",
		              (unsigned long long)now);
	}
	cr_assert_eq(inserted, n);
	cr_assert_eq(halfopen_count(h), 0, "%u never expired",
	             halfopen_count(h));
	for (i = 0; i < n; i++) {
		cr_assert_eq(t.expired[i], 1, "client %u expired %u times", i,
		             t.expired[i]);
		cr_assert_geq(t.events[i], 1);
	}
	cr_assert_eq(t.twice, 0, "%u entries fired twice in one run", t.twice);
	cr_assert_eq(t.late, 0, "%u events fired after their deadline", t.late);
	halfopen_free(h);
	free(t.events);
	free(t.expired);
	free(t.last_run);
	free(t.deadline);
}

Test(halfopen, set_timing_applies_to_entries_armed_afterwards)
{
	static const struct sg_halfopen_timing shorter = {100, 1};
	struct sg_halfopen *h = table(8, &linux_timing);
	struct event_log l = {0};
	struct sg_tuple a = client(1), b = client(2);

	cr_assert_not_null(halfopen_insert(h, &a, 0));
	halfopen_set_timing(h, &shorter);
	cr_assert_not_null(halfopen_insert(h, &b, 10));
	/* b, armed later with a shorter wait, fires first although it sits
	 * behind a in age; a keeps its 1000 ms. */
	run_until_idle(h, &l, UINT64_MAX);
	cr_assert_eq(l.n, 4);
	cr_assert_eq(l.who[0], 2);
	cr_assert_eq(l.at[0], 110);
	cr_assert_eq(l.ev[0], HALFOPEN_RETRANSMIT);
	cr_assert_eq(l.who[1], 2);
	cr_assert_eq(l.at[1], 310);
	cr_assert_eq(l.ev[1], HALFOPEN_EXPIRE);
	cr_assert_eq(l.who[2], 1);
	cr_assert_eq(l.at[2], 1000);
	cr_assert_eq(l.ev[2], HALFOPEN_RETRANSMIT);
	/* a's first retransmission was its last under the new timing. */
	cr_assert_eq(l.who[3], 1);
	cr_assert_eq(l.at[3], 1200);
	cr_assert_eq(l.ev[3], HALFOPEN_EXPIRE);
	halfopen_free(h);
}

Test(halfopen, reads_the_retry_count_when_a_timer_fires)
{
	static const struct sg_halfopen_timing none = {1000, 0};
	static const struct sg_halfopen_timing two = {1000, 2};
	struct sg_halfopen *h = table(8, &linux_timing);
	struct event_log l = {0};
	struct sg_tuple a = client(1);

	/* Armed for a retransmission; fewer retries make it an expiry. */
	cr_assert_not_null(halfopen_insert(h, &a, 0));
	halfopen_set_timing(h, &none);
	l.now = 1000;
	cr_assert_eq(halfopen_run_timers(h, l.now, log_event, &l), 1);
	cr_assert_eq(l.ev[0], HALFOPEN_EXPIRE);
	cr_assert_eq(halfopen_count(h), 0);

	/* Armed for expiry; more retries make it retransmit on. */
	cr_assert_not_null(halfopen_insert(h, &a, l.now));
	halfopen_set_timing(h, &two);
	run_until_idle(h, &l, UINT64_MAX);
	cr_assert_eq(l.n, 4);
	cr_assert_eq(l.at[1], 2000);
	cr_assert_eq(l.ev[1], HALFOPEN_RETRANSMIT);
	cr_assert_eq(l.at[2], 4000);
	cr_assert_eq(l.ev[2], HALFOPEN_RETRANSMIT);
	cr_assert_eq(l.at[3], 8000);
	cr_assert_eq(l.ev[3], HALFOPEN_EXPIRE);
	halfopen_free(h);
}

Test(halfopen, keeps_caller_fields_apart_from_its_links)
{
	struct sg_halfopen *h = table(8, &linux_timing);
	struct sg_halfopen_entry *e[3];
	struct sg_tuple t;
	unsigned i;

	/* Fields that share a word with a link, written with every bit set. */
	for (i = 0; i < 3; i++) {
		t = client(i);
		cr_assert_not_null(e[i] = halfopen_insert(h, &t, 0));
		e[i]->wscale = 0xff;
		e[i]->optflags = 0xff;
		e[i]->mss = e[i]->our_mss = 0xffff;
	}
	halfopen_delete(h, e[1]);
	for (i = 0; i < 3; i += 2) {
		t = client(i);
		cr_assert_eq(halfopen_lookup(h, &t), e[i]);
		cr_assert_eq(e[i]->wscale, 0xff);
		cr_assert_eq(e[i]->optflags, 0xff);
	}
	cr_assert_eq(halfopen_run_timers(h, 1000, NULL, NULL), 2);
	cr_assert_eq(e[0]->retries, 1);
	cr_assert_eq(e[0]->optflags, 0xff);
	cr_assert_eq(e[2]->wscale, 0xff);
	halfopen_free(h);
}

Test(halfopen, entry_and_memory_sizes_match_the_documentation)
{
	struct sg_halfopen *h;

	cr_assert_eq(sizeof(struct sg_halfopen_entry), HALFOPEN_ENTRY_SIZE);
	cr_assert_eq(HALFOPEN_ENTRY_SIZE, 80);
	cr_assert_eq(HALFOPEN_BUCKET_SIZE, 4);

	/* A power of two: twice as many buckets, 88 bytes an entry, plus the
	 * small table header. */
	h = table(65536, &linux_timing);
	cr_assert_geq(halfopen_memory(h), 65536u * 88);
	cr_assert_lt(halfopen_memory(h), 65536u * 88 + 512);
	cr_assert_eq(halfopen_capacity(h), 65536);
	halfopen_free(h);

	/* Otherwise buckets round up to the power of two at or above twice
	 * the capacity. */
	h = table(100000, &linux_timing);
	cr_assert_geq(halfopen_memory(h), 100000u * 80 + 262144u * 4);
	cr_assert_lt(halfopen_memory(h), 100000u * 80 + 262144u * 4 + 512);
	halfopen_free(h);
}

/* Count the events of a run. */
static void
count_event(struct sg_halfopen_entry *e, enum sg_timer_event ev, void *arg)
{
	(void)e;
	(void)ev;
	(*(unsigned *)arg)++;
}

Test(halfopen, fires_at_most_max_events_per_call_and_keeps_the_rest_due)
{
	struct sg_halfopen *h = table(1000, NULL);
	unsigned seen = 0;

	for (uint32_t n = 0; n < 1000; n++) {
		struct sg_tuple t = client(n);
		cr_assert_not_null(halfopen_insert(h, &t, 0));
	}
	cr_assert_eq(halfopen_run_timers_max(h, 1000, 300, count_event, &seen),
	             300);
	cr_assert_eq(seen, 300);
	cr_assert_eq(halfopen_next_timer(h, 1000), 0, "the rest is still due");
	cr_assert_eq(halfopen_run_timers_max(h, 1000, 1000, count_event, &seen),
	             700);
	cr_assert_eq(seen, 1000);
	cr_assert_gt(halfopen_next_timer(h, 1000), 0);
	halfopen_free(h);
}

Test(halfopen, bucket_calls_agree_with_the_hashing_ones)
{
	/* Every other entry goes in through halfopen_insert_at with its own
	 * bucket: both lookups find all of them, deletes find their chains. */
	const uint32_t cap = 512;
	struct sg_halfopen *h = table(cap, &linux_timing);
	struct sg_tuple t;
	uint32_t n, b;

	for (n = 0; n < cap; n++) {
		t = client(n);
		b = halfopen_bucket(h, &t);
		cr_assert_eq(halfopen_bucket(h, &t), b, "not a function");
		halfopen_prefetch(h, b, false);
		halfopen_prefetch(h, b, true);
		cr_assert_null(halfopen_lookup_at(h, &t, b));
		cr_assert_not_null(n % 2 ? halfopen_insert_at(h, &t, b, 0) :
		    halfopen_insert(h, &t, 0));
	}
	t = client(cap);
	cr_assert_null(halfopen_insert_at(h, &t, halfopen_bucket(h, &t), 0),
	    "full is full");
	for (n = 0; n < cap; n++) {
		t = client(n);
		b = halfopen_bucket(h, &t);
		cr_assert_not_null(halfopen_lookup(h, &t), "lost %u", n);
		cr_assert_eq(halfopen_lookup_at(h, &t, b),
		    halfopen_lookup(h, &t));
		if (n % 3 == 0)
			halfopen_delete(h, halfopen_lookup_at(h, &t, b));
	}
	for (n = 0; n < cap; n++) {
		t = client(n);
		cr_assert_eq(halfopen_lookup(h, &t) == NULL, n % 3 == 0);
	}
	/* A bucket out of range is folded into the table, never read past
	 * it (ASan would see). */
	halfopen_prefetch(h, UINT32_MAX - 1, true);
	halfopen_prefetch(h, UINT32_MAX - 1, false);
	(void)halfopen_lookup_at(h, &t, UINT32_MAX - 1);
	halfopen_free(h);
}
