/*
 * test_engine.c -- the handshake engine as a specification: what it answers,
 * what it completes, what it refuses, on a fake clock with fake I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <criterion/criterion.h>

#include "engine.h"
#include "tsclock.h"

#define MAXREC 64

/* What the fake I/O saw. */
static struct {
	struct sg_reply tx[MAXREC];
	unsigned ntx;
	struct sg_conn_params est[MAXREC];
	uint8_t est_data[MAXREC][64];
	bool est_cookie[MAXREC];
	unsigned nest;
	struct sg_tuple made[MAXREC]; /* sockets the "kernel" has */
	unsigned nmade;
	int fail_errno; /* make established() fail with this */
} io;

static struct sg_stats stats;
static struct sg_listen_conf listen4;
static struct sg_engine_conf econf;
static struct sg_cookie_secret secret;
static struct sg_engine *eng;
static struct sg_clock clk;

static int
fake_tx(void *arg, const struct sg_reply *r)
{
	(void)arg;
	if (io.ntx < MAXREC)
		io.tx[io.ntx] = *r;
	io.ntx++;
	return 0;
}

/* Like the kernel: a second socket for a 4-tuple is refused. */
static int
fake_established(void *arg, const struct sg_conn_params *p, bool cookie,
    uint32_t us)
{
	(void)arg;
	(void)us;
	if (io.fail_errno) {
		errno = io.fail_errno;
		return -1;
	}
	for (unsigned i = 0; i < io.nmade; i++) {
		if (tuple_equal(&io.made[i], &p->tuple)) {
			errno = EADDRNOTAVAIL;
			return -1;
		}
	}
	io.made[io.nmade++] = p->tuple;
	if (io.nest < MAXREC) {
		io.est[io.nest] = *p;
		io.est_cookie[io.nest] = cookie;
		if (p->data_len > 0 && p->data_len <= 64)
			memcpy(io.est_data[io.nest], p->data, p->data_len);
	}
	io.nest++;
	return 0;
}

static void
start(enum sg_cookie_mode mode, uint32_t queue)
{
	static const struct sg_engine_ops ops = {fake_tx, fake_established};

	memset(&io, 0, sizeof(io));
	memset(&stats, 0, sizeof(stats));
	listen4.family = AF_INET;
	memset(listen4.addr, 0, sizeof(listen4.addr)); /* 0.0.0.0 */
	listen4.port = 8080;
	econf.cookies = mode;
	econf.cookie_period_s = 64;
	econf.queue_size = queue;
	econf.timing.synack_timeout_ms = 1000;
	econf.timing.synack_retries = 5;
	econf.our_wscale = 7;
	econf.our_window = 65535;
	econf.listen = &listen4;
	econf.nlisten = 1;
	/* A fixed secret keeps every run the same, the random ACK flood
	 * included. */
	static const uint8_t key[16] = "engine-test-key";
	siphash_key_from_bytes(&secret.key, key);
	eng = engine_new(&econf, &secret, &ops, NULL, &stats);
	cr_assert_not_null(eng);
	clk.mono_ms = 1000000;
	clk.real_s = 1700000000;
}

static void
stop(void)
{
	engine_free(eng);
	eng = NULL;
}

/* A segment from 198.18.0.2:port to 198.18.0.1:8080. */
static struct sg_segment
seg_make(uint16_t port, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct sg_segment s;
	uint8_t peer[4] = {198, 18, 0, 2}, local[4] = {198, 18, 0, 1};

	memset(&s, 0, sizeof(s));
	tuple_init_v4(&s.tuple, peer, port, local, 8080);
	s.flags = flags;
	s.seq = seq;
	s.ack = ack;
	s.window = 502;
	return s;
}

/* A SYN as Linux sends it: MSS 1460, SACK, timestamps, wscale 7. */
static struct sg_segment
syn_make(uint16_t port, uint32_t isn)
{
	struct sg_segment s = seg_make(port, SG_TCP_SYN, isn, 0);
	s.opts.flags = SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS;
	s.opts.mss = 1460;
	s.opts.wscale = 7;
	s.opts.tsval = 4242;
	return s;
}

/* The ACK completing the handshake answered by io.tx[i]. */
static struct sg_segment
ack_for(unsigned i, uint16_t port)
{
	const struct sg_reply *r = &io.tx[i];
	struct sg_segment s = seg_make(port, SG_TCP_ACK, r->ack, r->seq + 1);
	if (r->opts.flags & SG_OPT_TS) {
		s.opts.flags = SG_OPT_TS;
		s.opts.tsval = 4243;
		s.opts.tsecr = r->opts.tsval;
	}
	return s;
}

static void
input(const struct sg_segment *s)
{
	engine_input(eng, s, 1460, &clk);
}

TestSuite(engine, .fini = stop);

Test(engine, answers_a_syn_with_a_synack_mirroring_its_options)
{
	start(SG_COOKIES_AUTO, 16);
	struct sg_segment syn = syn_make(40000, 1000);
	input(&syn);
	cr_assert_eq(io.ntx, 1);
	const struct sg_reply *r = &io.tx[0];
	cr_assert_eq(r->flags, SG_TCP_SYN | SG_TCP_ACK);
	cr_assert_eq(r->ack, 1001);
	cr_assert(tuple_equal(&r->tuple, &syn.tuple));
	cr_assert_eq(r->opts.flags,
	    SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS);
	cr_assert_eq(r->opts.mss, 1460);
	cr_assert_eq(r->opts.wscale, 7);
	cr_assert_eq(r->opts.tsecr, 4242);
	cr_assert_eq(engine_halfopen(eng), 1);
	cr_assert_eq(stats.syn_received, 1);
	cr_assert_eq(stats.synack_sent, 1);
	cr_assert_eq(stats.cookie_sent, 0);
}

Test(engine, offers_only_the_options_the_syn_offered)
{
	start(SG_COOKIES_AUTO, 16);
	struct sg_segment syn = seg_make(40000, SG_TCP_SYN, 5, 0); /* hping3 */
	input(&syn);
	cr_assert_eq(io.ntx, 1);
	cr_assert_eq(io.tx[0].opts.flags, SG_OPT_MSS);
	struct sg_segment ack = ack_for(0, 40000);
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert_eq(io.est[0].peer_mss, 536, "RFC 9293: no MSS option means 536");
	cr_assert_eq(io.est[0].optflags, 0);
}

Test(engine, answers_a_retransmitted_syn_with_the_same_isn)
{
	start(SG_COOKIES_AUTO, 16);
	struct sg_segment syn = syn_make(40000, 1000);
	input(&syn);
	clk.mono_ms += 300;
	input(&syn);
	cr_assert_eq(io.ntx, 2);
	cr_assert_eq(io.tx[0].seq, io.tx[1].seq);
	cr_assert_eq(engine_halfopen(eng), 1);
}

Test(engine, completes_a_handshake_once_from_the_table)
{
	start(SG_COOKIES_AUTO, 16);
	struct sg_segment syn = syn_make(40000, 0xfffffff0u); /* seq wraps */
	input(&syn);
	clk.mono_ms += 2;
	struct sg_segment ack = ack_for(0, 40000);
	input(&ack);
	cr_assert_eq(io.nest, 1);
	const struct sg_conn_params *p = &io.est[0];
	cr_assert_eq(p->client_isn, 0xfffffff0u);
	cr_assert_eq(p->our_isn, io.tx[0].seq);
	cr_assert_eq(p->peer_mss, 1460);
	cr_assert_eq(p->peer_wscale, 7);
	cr_assert_eq(p->our_wscale, 7);
	cr_assert_eq(p->optflags, SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS);
	cr_assert_eq(p->ts_recent, 4243);
	cr_assert(!io.est_cookie[0]);
	cr_assert_eq(engine_halfopen(eng), 0);
	cr_assert_eq(stats.halfopen_completed, 1);
	/* The same ACK again, and the connection's later segments: never a
	 * second connection. */
	input(&ack);
	ack.seq += 100;
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert_eq(io.nmade, 1);
}

Test(engine, takes_data_riding_on_the_third_segment)
{
	start(SG_COOKIES_AUTO, 16);
	struct sg_segment syn = syn_make(40000, 77);
	input(&syn);
	struct sg_segment ack = ack_for(0, 40000);
	ack.flags |= SG_TCP_PSH;
	ack.payload = (const uint8_t *)"hello";
	ack.payload_len = 5;
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert_eq(io.est[0].data_len, 5);
	cr_assert_eq(memcmp(io.est_data[0], "hello", 5), 0);
	cr_assert_eq(stats.early_data_bytes, 5);
}

Test(engine, leaves_data_with_a_fin_to_the_clients_retransmission)
{
	start(SG_COOKIES_AUTO, 16);
	struct sg_segment syn = syn_make(40000, 77);
	input(&syn);
	struct sg_segment ack = ack_for(0, 40000);
	ack.flags |= SG_TCP_FIN;
	ack.payload = (const uint8_t *)"bye";
	ack.payload_len = 3;
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert_eq(io.est[0].data_len, 0);
}

Test(engine, refuses_an_ack_with_the_wrong_numbers)
{
	start(SG_COOKIES_NEVER, 16);
	struct sg_segment syn = syn_make(40000, 77);
	input(&syn);
	struct sg_segment ack = ack_for(0, 40000);
	ack.ack += 1;
	input(&ack);
	ack.ack -= 1;
	ack.seq += 1;
	input(&ack);
	cr_assert_eq(io.nest, 0);
	cr_assert_eq(stats.drops[SG_R_ACK_BAD_SEQ], 2);
	cr_assert_eq(engine_halfopen(eng), 1);
}

Test(engine, completes_through_a_cookie_when_always)
{
	start(SG_COOKIES_ALWAYS, 16);
	struct sg_segment syn = syn_make(40000, 123456);
	input(&syn);
	cr_assert_eq(engine_halfopen(eng), 0, "cookies keep no state");
	cr_assert_eq(stats.cookie_sent, 1);
	clk.mono_ms += 5;
	struct sg_segment ack = ack_for(0, 40000);
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert(io.est_cookie[0]);
	cr_assert_eq(io.est[0].peer_mss, 1460);
	cr_assert_eq(io.est[0].peer_wscale, 7);
	cr_assert_eq(io.est[0].optflags, SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS);
	cr_assert_eq(stats.cookie_valid, 1);
	/* ts_next never goes behind what the client echoed */
	cr_assert_geq((int32_t)(io.est[0].ts_next - io.tx[0].opts.tsval), 0);
}

/*
 * SYN-ACK TSvals stay in the handshake range and a materialized socket's
 * clock starts in the established range (tsclock.h), on both paths, for
 * every tuple: that split is what keeps established segments off the tap.
 */
Test(engine, timestamps_split_handshakes_from_established_sockets)
{
	enum sg_cookie_mode modes[] = { SG_COOKIES_NEVER, SG_COOKIES_ALWAYS };

	for (int m = 0; m < 2; m++) {
		start(modes[m], 64);
		clk.mono_ms = 5000 + 1000u * (unsigned)m;
		for (uint16_t i = 0; i < MAXREC; i++) {
			struct sg_segment syn = syn_make(40000 + i, 1000u * i);
			input(&syn);
		}
		cr_assert_eq(io.ntx, MAXREC);
		/* The client answers two minutes later: the filter's base
		 * has moved on. */
		clk.mono_ms += 120000;
		uint32_t base = sg_ts_base(clk.mono_ms);
		for (unsigned i = 0; i < MAXREC; i++) {
			cr_assert(!sg_ts_established(io.tx[i].opts.tsval, base),
			    "SYN-ACK %u: TSval %u in the established range", i,
			    io.tx[i].opts.tsval);
			struct sg_segment ack = ack_for(i, 40000 + (uint16_t)i);
			input(&ack);
		}
		cr_assert_eq(io.nest, MAXREC);
		for (unsigned i = 0; i < MAXREC; i++)
			cr_assert(sg_ts_established(io.est[i].ts_next, base),
			    "socket %u: ts_next %u not established", i,
			    io.est[i].ts_next);
		stop();
	}
}

Test(engine, keeps_wscale_and_sack_in_a_cookie_without_timestamps)
{
	start(SG_COOKIES_ALWAYS, 16);
	struct sg_segment syn = syn_make(40000, 99);
	syn.opts.flags &= (uint8_t)~SG_OPT_TS;
	input(&syn);
	cr_assert_eq(io.tx[0].opts.flags & SG_OPT_TS, 0);
	struct sg_segment ack = ack_for(0, 40000);
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert(io.est[0].optflags & SG_OPT_WSCALE);
	cr_assert(io.est[0].optflags & SG_OPT_SACKOK);
	cr_assert_leq(io.est[0].peer_wscale, 7, "never larger than the client's");
}

Test(engine, falls_back_to_cookies_when_the_table_is_full)
{
	start(SG_COOKIES_AUTO, 4);
	for (uint16_t i = 0; i < 10; i++) {
		struct sg_segment syn = syn_make((uint16_t)(40000 + i), i);
		input(&syn);
	}
	cr_assert_eq(engine_halfopen(eng), 4);
	cr_assert_eq(stats.cookie_sent, 6);
	cr_assert_eq(io.ntx, 10);
	/* Both kinds complete. */
	struct sg_segment a0 = ack_for(0, 40000), a9 = ack_for(9, 40009);
	input(&a0);
	input(&a9);
	cr_assert_eq(io.nest, 2);
	cr_assert(!io.est_cookie[0]);
	cr_assert(io.est_cookie[1]);
}

Test(engine, drops_syns_when_full_and_cookies_are_off)
{
	start(SG_COOKIES_NEVER, 4);
	for (uint16_t i = 0; i < 40; i++) {
		struct sg_segment syn = syn_make((uint16_t)(40000 + i), i);
		input(&syn);
	}
	cr_assert_eq(engine_halfopen(eng), 4, "memory bounded by queue_size");
	cr_assert_eq(stats.drops[SG_R_TABLE_FULL], 36);
	cr_assert_eq(io.ntx, 4);
}

Test(engine, never_evicts_a_live_entry_for_a_flood)
{
	start(SG_COOKIES_AUTO, 2);
	struct sg_segment legit = syn_make(40000, 1);
	input(&legit);
	for (uint16_t i = 1; i < 1000; i++) {
		struct sg_segment syn = syn_make((uint16_t)(40000 + i), i);
		input(&syn);
	}
	struct sg_segment ack = ack_for(0, 40000);
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert(!io.est_cookie[0]);
}

Test(engine, clears_an_entry_on_an_rst_in_the_window_only)
{
	start(SG_COOKIES_NEVER, 16);
	struct sg_segment syn = syn_make(40000, 1000);
	input(&syn);
	struct sg_segment rst = seg_make(40000, SG_TCP_RST, 1001 + 70000, 0);
	input(&rst);
	cr_assert_eq(engine_halfopen(eng), 1);
	cr_assert_eq(stats.drops[SG_R_RST_OUT_OF_WINDOW], 1);
	rst.seq = 1001;
	input(&rst);
	cr_assert_eq(engine_halfopen(eng), 0);
	cr_assert_eq(stats.halfopen_reset, 1);
	cr_assert_eq(io.ntx, 1, "an RST is never answered");
}

Test(engine, ignores_segments_for_other_ports_and_addresses)
{
	start(SG_COOKIES_AUTO, 16);
	listen4.addr[0] = 198;
	listen4.addr[1] = 18;
	listen4.addr[2] = 0;
	listen4.addr[3] = 1;
	engine_reconfigure(eng, &econf);
	struct sg_segment syn = syn_make(40000, 1);
	syn.tuple.local_port = 8081;
	input(&syn);
	syn = syn_make(40000, 1);
	syn.tuple.local_addr[3] = 9;
	input(&syn);
	cr_assert_eq(io.ntx, 0);
	cr_assert_eq(stats.drops[SG_R_NOT_OUR_PORT], 2);
	syn = syn_make(40000, 1);
	input(&syn);
	cr_assert_eq(io.ntx, 1);
}

Test(engine, drops_impossible_flag_combinations_silently)
{
	start(SG_COOKIES_AUTO, 16);
	uint8_t bad[] = {SG_TCP_SYN | SG_TCP_FIN, SG_TCP_SYN | SG_TCP_ACK, 0,
	    SG_TCP_FIN, SG_TCP_PSH | SG_TCP_URG};
	for (size_t i = 0; i < sizeof(bad); i++) {
		struct sg_segment s = syn_make(40000, 1);
		s.flags = bad[i];
		input(&s);
	}
	cr_assert_eq(io.ntx, 0);
	cr_assert_eq(stats.drops[SG_R_BAD_FLAGS], sizeof(bad));
	cr_assert_eq(engine_halfopen(eng), 0);
}

Test(engine, retransmits_on_the_timers_then_expires)
{
	start(SG_COOKIES_AUTO, 16);
	struct sg_segment syn = syn_make(40000, 1);
	input(&syn);
	uint64_t t0 = clk.mono_ms;
	static const uint32_t at[] = {1000, 3000, 7000, 15000, 31000};
	for (unsigned i = 0; i < 5; i++) {
		clk.mono_ms = t0 + at[i] - 1;
		engine_timers(eng, &clk);
		cr_assert_eq(io.ntx, 1 + i, "not before %u ms", at[i]);
		clk.mono_ms = t0 + at[i];
		engine_timers(eng, &clk);
		cr_assert_eq(io.ntx, 2 + i, "retransmission at %u ms", at[i]);
		cr_assert_eq(io.tx[1 + i].seq, io.tx[0].seq, "same ISN");
	}
	clk.mono_ms = t0 + 63000;
	engine_timers(eng, &clk);
	cr_assert_eq(engine_halfopen(eng), 0);
	cr_assert_eq(stats.halfopen_expired, 1);
	cr_assert_eq(stats.synack_retransmitted, 5);
	cr_assert_eq(engine_next_timer(eng, &clk), -1);
}

Test(engine, keeps_the_entry_when_the_kernel_refuses_a_socket)
{
	start(SG_COOKIES_NEVER, 16);
	struct sg_segment syn = syn_make(40000, 1);
	input(&syn);
	struct sg_segment ack = ack_for(0, 40000);
	io.fail_errno = EMFILE;
	input(&ack);
	cr_assert_eq(stats.drops[SG_R_MATERIALIZE_FAILED], 1);
	cr_assert_eq(engine_halfopen(eng), 1, "the client's retransmission can try again");
	io.fail_errno = 0;
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert_eq(engine_halfopen(eng), 0);
}

Test(engine, completes_nothing_under_a_random_ack_flood)
{
	start(SG_COOKIES_AUTO, 16);
	srandom(7);
	for (unsigned i = 0; i < 200000; i++) {
		struct sg_segment a = seg_make((uint16_t)(1024 + (random() & 0x7fff)),
		    SG_TCP_ACK, (uint32_t)random() ^ ((uint32_t)random() << 16),
		    (uint32_t)random() ^ ((uint32_t)random() << 16));
		input(&a);
	}
	cr_assert_eq(io.nest, 0);
	cr_assert_eq(io.ntx, 0);
	cr_assert_eq(stats.cookie_invalid, 200000);
}

Test(engine, completes_ipv6_handshakes)
{
	start(SG_COOKIES_ALWAYS, 16);
	struct sg_listen_conf l6[2];
	l6[0] = listen4;
	memset(&l6[1], 0, sizeof(l6[1]));
	l6[1].family = AF_INET6;
	l6[1].port = 8080;
	econf.listen = l6;
	econf.nlisten = 2;
	engine_reconfigure(eng, &econf);
	struct sg_segment syn = syn_make(40000, 1);
	uint8_t peer[16] = {0xfd, 0, 1, 0x98, 0, 0x18, [15] = 2};
	uint8_t local[16] = {0xfd, 0, 1, 0x98, 0, 0x18, [15] = 1};
	tuple_init_v6(&syn.tuple, peer, 40000, local, 8080);
	input(&syn);
	cr_assert_eq(io.ntx, 1);
	struct sg_segment ack = ack_for(0, 40000);
	ack.tuple = syn.tuple;
	input(&ack);
	cr_assert_eq(io.nest, 1);
	cr_assert_eq(io.est[0].tuple.family, AF_INET6);
}

Test(engine, limits_syns_from_one_source_without_starving_others)
{
	econf.syn_rate = 10;
	econf.syn_burst = 0; /* the rate: 10 at once */
	start(SG_COOKIES_AUTO, 1024);
	for (uint16_t i = 0; i < 25; i++) {
		struct sg_segment syn = syn_make((uint16_t)(40000 + i), i);
		input(&syn);
	}
	cr_assert_eq(io.ntx, 10, "a burst of the rate, then drops");
	cr_assert_eq(stats.drops[SG_R_SYN_RATE_LIMIT], 15);
	/* Another source is not affected. */
	struct sg_segment other = syn_make(50000, 1);
	other.tuple.peer_addr[3] = 99;
	input(&other);
	cr_assert_eq(io.ntx, 11);
	/* 10/s: after 300 ms, 3 more. */
	clk.mono_ms += 300;
	for (uint16_t i = 0; i < 5; i++) {
		struct sg_segment syn = syn_make((uint16_t)(41000 + i), i);
		input(&syn);
	}
	cr_assert_eq(io.ntx, 14);
	cr_assert_eq(stats.drops[SG_R_SYN_RATE_LIMIT], 17);
}

Test(engine, takes_a_rate_limit_on_reload)
{
	start(SG_COOKIES_AUTO, 1024);
	size_t before = engine_memory(eng);
	econf.syn_rate = 1;
	engine_reconfigure(eng, &econf);
	cr_assert_gt(engine_memory(eng), before, "the source table is allocated");
	struct sg_segment a = syn_make(40000, 1), b = syn_make(40001, 2);
	input(&a);
	input(&b);
	cr_assert_eq(io.ntx, 1);
	econf.syn_rate = 0;
	engine_reconfigure(eng, &econf);
	cr_assert_eq(engine_memory(eng), before);
	input(&b);
	cr_assert_eq(io.ntx, 2);
}

Test(engine, skips_retransmissions_when_the_table_is_more_than_half_full)
{
	start(SG_COOKIES_AUTO, 4);
	for (uint16_t i = 0; i < 3; i++) {
		struct sg_segment syn = syn_make((uint16_t)(40000 + i), i);
		input(&syn);
	}
	clk.mono_ms += 1000;
	engine_timers(eng, &clk);
	cr_assert_eq(io.ntx, 3, "3 of 4 taken: no retransmission");
	cr_assert_eq(stats.synack_retransmit_skipped, 3);
	/* The entries still complete and still expire on time. */
	struct sg_segment ack = ack_for(0, 40000);
	input(&ack);
	cr_assert_eq(io.nest, 1);
	clk.mono_ms += 2000; /* 2 of 4 taken: half, not more */
	engine_timers(eng, &clk);
	cr_assert_eq(io.ntx, 5, "retransmitting again");
	for (int k = 0; k < 10; k++) {
		clk.mono_ms += 10000;
		engine_timers(eng, &clk);
	}
	cr_assert_eq(engine_halfopen(eng), 0);
}

Test(engine, answers_a_wildcard_port_only_on_the_hosts_own_addresses)
{
	static struct sg_addrset local;
	local.n = 1;
	local.a[0].family = AF_INET;
	memcpy(local.a[0].addr, (uint8_t[4]){198, 18, 0, 1}, 4);
	econf.local = &local;
	start(SG_COOKIES_AUTO, 16); /* listens on 0.0.0.0:8080 */
	struct sg_segment syn = syn_make(40000, 1); /* to 198.18.0.1 */
	input(&syn);
	cr_assert_eq(io.ntx, 1);
	/* A SYN this host only routes (to 198.18.0.50): not ours. */
	syn = syn_make(40001, 2);
	syn.tuple.local_addr[3] = 50;
	input(&syn);
	cr_assert_eq(io.ntx, 1);
	cr_assert_eq(stats.drops[SG_R_NOT_OUR_PORT], 1);
	/* Unknown addresses (the set could not be read): take everything. */
	local.n = 0;
	input(&syn);
	cr_assert_eq(io.ntx, 2);
}

Test(engine, an_entry_for_an_address_wins_over_a_wildcard_listed_first)
{
	static struct sg_addrset local;
	struct sg_listen_conf two[2];

	local.n = 1;
	local.a[0].family = AF_INET;
	memcpy(local.a[0].addr, (uint8_t[4]){198, 18, 0, 9}, 4);
	econf.local = &local;
	start(SG_COOKIES_AUTO, 16);
	/* 0.0.0.0:8080 first, then 198.18.0.1:8080, an address the set does
	 * not hold (a service address routed here): the second still takes
	 * its SYNs, as the XDP program's two lookups do. */
	two[0] = listen4;
	two[1] = listen4;
	memcpy(two[1].addr, (uint8_t[4]){198, 18, 0, 1}, 4);
	econf.listen = two;
	econf.nlisten = 2;
	engine_reconfigure(eng, &econf);
	struct sg_segment syn = syn_make(40000, 1); /* to 198.18.0.1 */
	input(&syn);
	cr_assert_eq(io.ntx, 1);
	syn = syn_make(40001, 2);
	syn.tuple.local_addr[3] = 50; /* neither listed nor the host's */
	input(&syn);
	cr_assert_eq(io.ntx, 1);
	econf.listen = &listen4;
	econf.nlisten = 1;
	econf.local = NULL;
}

Test(engine, never_remakes_a_cookie_connection_from_a_late_duplicate)
{
	start(SG_COOKIES_ALWAYS, 16);
	struct sg_segment syn = syn_make(40000, 777);
	input(&syn);
	struct sg_segment ack = ack_for(0, 40000);
	input(&ack);
	cr_assert_eq(io.nest, 1);
	/* The connection closes: the kernel would now take a new socket
	 * for the 4-tuple. A late copy of the completing segment (or the
	 * first data segment, same numbers) must not make one. */
	io.nmade = 0;
	clk.mono_ms += 200;
	struct sg_segment data = ack;
	data.flags |= SG_TCP_PSH;
	data.payload = (const uint8_t *)"again";
	data.payload_len = 5;
	input(&data);
	cr_assert_eq(io.nest, 1, "no second connection, no replayed data");
	cr_assert_eq(stats.drops[SG_R_ALREADY_ESTABLISHED], 1);
	/* A new connection on the same 4-tuple (new ISN) is not blocked. */
	struct sg_segment syn2 = syn_make(40000, 999999);
	input(&syn2);
	struct sg_segment ack2 = ack_for(1, 40000);
	input(&ack2);
	cr_assert_eq(io.nest, 2);
}

Test(engine, a_batch_look_ahead_changes_no_answer)
{
	/* The same SYN, its retransmission, a table-full cookie and the
	 * completing ACK, without hints and with: the same answers. */
	struct sg_segment syn, syn2, ack;

	for (int pass = 0; pass < 2; pass++) {
		start(SG_COOKIES_AUTO, 1);
		syn = syn_make(5000, 100);
		syn2 = syn_make(5001, 200);
		if (pass == 0) {
			input(&syn);
			input(&syn);
			input(&syn2); /* the table (1) is full: a cookie */
		} else {
			uint32_t h1 = engine_hint(eng, &syn);
			uint32_t h2 = engine_hint(eng, &syn2);
			cr_assert_neq(h1, SG_HINT_NONE);
			engine_prefetch(eng, h1);
			engine_prefetch(eng, h2);
			engine_input_hinted(eng, &syn, 1460, &clk, h1);
			engine_input_hinted(eng, &syn, 1460, &clk, h1);
			engine_input_hinted(eng, &syn2, 1460, &clk, h2);
		}
		cr_assert_eq(io.ntx, 3, "pass %d", pass);
		cr_assert_eq(io.tx[0].seq, io.tx[1].seq, "a retransmitted SYN");
		cr_assert_eq(io.tx[2].ack, 201);
		cr_assert_eq(stats.halfopen_inserted, 1);
		cr_assert_eq(stats.cookie_sent, 1);
		ack = ack_for(0, 5000);
		if (pass == 0)
			input(&ack);
		else
			engine_input_hinted(eng, &ack, 1460, &clk,
			    engine_hint(eng, &ack));
		cr_assert_eq(io.nest, 1, "pass %d", pass);
		cr_assert_eq(io.est_cookie[0], false);
		cr_assert_eq(engine_halfopen(eng), 0);
		stop();
	}

	/* Always cookies: no table, no hint. */
	start(SG_COOKIES_ALWAYS, 16);
	syn = syn_make(5000, 100);
	cr_assert_eq(engine_hint(eng, &syn), SG_HINT_NONE);
	engine_prefetch(eng, SG_HINT_NONE);
	engine_input_hinted(eng, &syn, 1460, &clk, SG_HINT_NONE);
	cr_assert_eq(io.ntx, 1);
}
