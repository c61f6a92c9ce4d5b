/*
 * test_cookie.c -- SipHash-2-4 against the reference vectors, and SYN
 * cookies as a specification: what a cookie carries, what it refuses, how
 * rarely a blind guess passes, and how the shared key file is guarded.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cookie.h"
#include "siphash.h"

/*
 * SipHash-2-4 outputs (little-endian bytes) for key 00 01 .. 0f and the
 * message 00 01 .. len-1, len = 0..63: vectors_sip64 of the reference
 * implementation's vectors.h (github.com/veorq/SipHash).
 */
static const uint8_t sip64_vectors[64][8] = {
	{ 0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72 },
	{ 0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74 },
	{ 0x5a, 0x4f, 0xa9, 0xd9, 0x09, 0x80, 0x6c, 0x0d },
	{ 0x2d, 0x7e, 0xfb, 0xd7, 0x96, 0x66, 0x67, 0x85 },
	{ 0xb7, 0x87, 0x71, 0x27, 0xe0, 0x94, 0x27, 0xcf },
	{ 0x8d, 0xa6, 0x99, 0xcd, 0x64, 0x55, 0x76, 0x18 },
	{ 0xce, 0xe3, 0xfe, 0x58, 0x6e, 0x46, 0xc9, 0xcb },
	{ 0x37, 0xd1, 0x01, 0x8b, 0xf5, 0x00, 0x02, 0xab },
	{ 0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93 },
	{ 0xb0, 0xe4, 0xa9, 0x0b, 0xdf, 0x82, 0x00, 0x9e },
	{ 0xf3, 0xb9, 0xdd, 0x94, 0xc5, 0xbb, 0x5d, 0x7a },
	{ 0xa7, 0xad, 0x6b, 0x22, 0x46, 0x2f, 0xb3, 0xf4 },
	{ 0xfb, 0xe5, 0x0e, 0x86, 0xbc, 0x8f, 0x1e, 0x75 },
	{ 0x90, 0x3d, 0x84, 0xc0, 0x27, 0x56, 0xea, 0x14 },
	{ 0xee, 0xf2, 0x7a, 0x8e, 0x90, 0xca, 0x23, 0xf7 },
	{ 0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1 },
	{ 0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f },
	{ 0x94, 0x47, 0xbe, 0x2c, 0xf5, 0xe9, 0x9a, 0x69 },
	{ 0x9c, 0xd3, 0x8d, 0x96, 0xf0, 0xb3, 0xc1, 0x4b },
	{ 0xbd, 0x61, 0x79, 0xa7, 0x1d, 0xc9, 0x6d, 0xbb },
	{ 0x98, 0xee, 0xa2, 0x1a, 0xf2, 0x5c, 0xd6, 0xbe },
	{ 0xc7, 0x67, 0x3b, 0x2e, 0xb0, 0xcb, 0xf2, 0xd0 },
	{ 0x88, 0x3e, 0xa3, 0xe3, 0x95, 0x67, 0x53, 0x93 },
	{ 0xc8, 0xce, 0x5c, 0xcd, 0x8c, 0x03, 0x0c, 0xa8 },
	{ 0x94, 0xaf, 0x49, 0xf6, 0xc6, 0x50, 0xad, 0xb8 },
	{ 0xea, 0xb8, 0x85, 0x8a, 0xde, 0x92, 0xe1, 0xbc },
	{ 0xf3, 0x15, 0xbb, 0x5b, 0xb8, 0x35, 0xd8, 0x17 },
	{ 0xad, 0xcf, 0x6b, 0x07, 0x63, 0x61, 0x2e, 0x2f },
	{ 0xa5, 0xc9, 0x1d, 0xa7, 0xac, 0xaa, 0x4d, 0xde },
	{ 0x71, 0x65, 0x95, 0x87, 0x66, 0x50, 0xa2, 0xa6 },
	{ 0x28, 0xef, 0x49, 0x5c, 0x53, 0xa3, 0x87, 0xad },
	{ 0x42, 0xc3, 0x41, 0xd8, 0xfa, 0x92, 0xd8, 0x32 },
	{ 0xce, 0x7c, 0xf2, 0x72, 0x2f, 0x51, 0x27, 0x71 },
	{ 0xe3, 0x78, 0x59, 0xf9, 0x46, 0x23, 0xf3, 0xa7 },
	{ 0x38, 0x12, 0x05, 0xbb, 0x1a, 0xb0, 0xe0, 0x12 },
	{ 0xae, 0x97, 0xa1, 0x0f, 0xd4, 0x34, 0xe0, 0x15 },
	{ 0xb4, 0xa3, 0x15, 0x08, 0xbe, 0xff, 0x4d, 0x31 },
	{ 0x81, 0x39, 0x62, 0x29, 0xf0, 0x90, 0x79, 0x02 },
	{ 0x4d, 0x0c, 0xf4, 0x9e, 0xe5, 0xd4, 0xdc, 0xca },
	{ 0x5c, 0x73, 0x33, 0x6a, 0x76, 0xd8, 0xbf, 0x9a },
	{ 0xd0, 0xa7, 0x04, 0x53, 0x6b, 0xa9, 0x3e, 0x0e },
	{ 0x92, 0x59, 0x58, 0xfc, 0xd6, 0x42, 0x0c, 0xad },
	{ 0xa9, 0x15, 0xc2, 0x9b, 0xc8, 0x06, 0x73, 0x18 },
	{ 0x95, 0x2b, 0x79, 0xf3, 0xbc, 0x0a, 0xa6, 0xd4 },
	{ 0xf2, 0x1d, 0xf2, 0xe4, 0x1d, 0x45, 0x35, 0xf9 },
	{ 0x87, 0x57, 0x75, 0x19, 0x04, 0x8f, 0x53, 0xa9 },
	{ 0x10, 0xa5, 0x6c, 0xf5, 0xdf, 0xcd, 0x9a, 0xdb },
	{ 0xeb, 0x75, 0x09, 0x5c, 0xcd, 0x98, 0x6c, 0xd0 },
	{ 0x51, 0xa9, 0xcb, 0x9e, 0xcb, 0xa3, 0x12, 0xe6 },
	{ 0x96, 0xaf, 0xad, 0xfc, 0x2c, 0xe6, 0x66, 0xc7 },
	{ 0x72, 0xfe, 0x52, 0x97, 0x5a, 0x43, 0x64, 0xee },
	{ 0x5a, 0x16, 0x45, 0xb2, 0x76, 0xd5, 0x92, 0xa1 },
	{ 0xb2, 0x74, 0xcb, 0x8e, 0xbf, 0x87, 0x87, 0x0a },
	{ 0x6f, 0x9b, 0xb4, 0x20, 0x3d, 0xe7, 0xb3, 0x81 },
	{ 0xea, 0xec, 0xb2, 0xa3, 0x0b, 0x22, 0xa8, 0x7f },
	{ 0x99, 0x24, 0xa4, 0x3c, 0xc1, 0x31, 0x57, 0x24 },
	{ 0xbd, 0x83, 0x8d, 0x3a, 0xaf, 0xbf, 0x8d, 0xb7 },
	{ 0x0b, 0x1a, 0x2a, 0x32, 0x65, 0xd5, 0x1a, 0xea },
	{ 0x13, 0x50, 0x79, 0xa3, 0x23, 0x1c, 0xe6, 0x60 },
	{ 0x93, 0x2b, 0x28, 0x46, 0xe4, 0xd7, 0x06, 0x66 },
	{ 0xe1, 0x91, 0x5f, 0x5c, 0xb1, 0xec, 0xa4, 0x6c },
	{ 0xf3, 0x25, 0x96, 0x5c, 0xa1, 0x6d, 0x62, 0x9f },
	{ 0x57, 0x5f, 0xf2, 0x8e, 0x60, 0x38, 0x1b, 0xe5 },
	{ 0x72, 0x45, 0x06, 0xeb, 0x4c, 0x32, 0x8a, 0x95 },
};

/* Key 00 01 .. 0f, the reference implementation's test key. */
static void
reference_key(struct sg_sipkey *k)
{
	uint8_t kb[16];
	unsigned i;

	for (i = 0; i < 16; i++)
		kb[i] = (uint8_t)i;
	siphash_key_from_bytes(k, kb);
}

Test(siphash, matches_all_64_reference_vectors)
{
	struct sg_sipkey k;
	uint8_t msg[64];
	uint64_t want;
	unsigned len, i;

	reference_key(&k);
	for (i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (len = 0; len < 64; len++) {
		want = 0;
		for (i = 0; i < 8; i++)
			want |= (uint64_t)sip64_vectors[len][i] << (8 * i);
		cr_expect_eq(siphash24(&k, msg, len), want,
		    "vector %u: got %016llx want %016llx", len,
		    (unsigned long long)siphash24(&k, msg, len),
		    (unsigned long long)want);
	}
}

Test(siphash, reads_the_key_as_two_little_endian_halves)
{
	struct sg_sipkey k;

	reference_key(&k);
	cr_assert_eq(k.k0, UINT64_C(0x0706050403020100));
	cr_assert_eq(k.k1, UINT64_C(0x0f0e0d0c0b0a0908));
}

Test(siphash, does_not_depend_on_the_alignment_of_the_message)
{
	struct sg_sipkey k;
	uint8_t buf[64 + 8];
	uint64_t want = 0;
	unsigned off, i;

	reference_key(&k);
	for (i = 0; i < 8; i++)
		want |= (uint64_t)sip64_vectors[63][i] << (8 * i);
	for (off = 0; off < 8; off++) {
		for (i = 0; i < 63; i++)
			buf[off + i] = (uint8_t)i;
		cr_assert_eq(siphash24(&k, buf + off, 63), want, "offset %u",
		    off);
	}
}

Test(siphash, changes_with_the_key)
{
	struct sg_sipkey a, b;

	reference_key(&a);
	b = a;
	b.k1 ^= 1;
	cr_assert_neq(siphash24(&a, "x", 1), siphash24(&b, "x", 1));
}

/* ---- SYN cookies ---------------------------------------------------- */

/* splitmix64: a fixed-seed generator so every run tests the same inputs. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A fixed secret, so failures reproduce. */
static void
test_secret(struct sg_cookie_secret *s)
{
	s->key.k0 = UINT64_C(0x5ca1ab1e0ddba11);
	s->key.k1 = UINT64_C(0xfeedfacecafebeef);
}

/* 198.18.0.7:40000 -> 198.18.0.1:80, the test hosts' range. */
static void
tuple_v4(struct sg_tuple *t)
{
	const uint8_t peer[4] = { 198, 18, 0, 7 }, local[4] = { 198, 18, 0, 1 };

	tuple_init_v4(t, peer, 40000, local, 80);
}

/* [fd00:198:18::7]:40000 -> [fd00:198:18::1]:443. */
static void
tuple_v6(struct sg_tuple *t)
{
	uint8_t peer[16] = { 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18 };
	uint8_t local[16] = { 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18 };

	peer[15] = 7;
	local[15] = 1;
	tuple_init_v6(t, peer, 40000, local, 443);
}

/* The MSS a cookie must carry: the largest table value not above mss. */
static uint16_t
expected_mss(int family, int present, unsigned mss)
{
	static const uint16_t table[] = { 536, 1220, 1380, 1400, 1440, 1452,
		1460, 8960 };
	uint16_t best = 536;
	unsigned i;

	if (!present)
		mss = family == AF_INET6 ? 1220 : 536;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i] <= mss)
			best = table[i];
	return best;
}

/* The shift a cookie without timestamps keeps: rounded down to the set. */
static uint8_t
expected_ws_nots(unsigned ws)
{
	static const uint8_t set[] = { 0, 2, 4, 6, 7, 8, 9 };
	uint8_t best = 0;
	unsigned i;

	for (i = 0; i < sizeof(set); i++)
		if (set[i] <= ws)
			best = set[i];
	return best;
}

/* A SYN's options from the test matrix; ws 15 means "no option". */
static struct sg_tcpopts
syn_opts(int mss_present, unsigned mss, unsigned ws, int sack, int ts)
{
	struct sg_tcpopts o;

	memset(&o, 0, sizeof(o));
	if (mss_present) {
		o.flags |= SG_OPT_MSS;
		o.mss = (uint16_t)mss;
	}
	if (ws != 15) {
		o.flags |= SG_OPT_WSCALE;
		o.wscale = (uint8_t)ws;
	}
	if (sack)
		o.flags |= SG_OPT_SACKOK;
	if (ts) {
		o.flags |= SG_OPT_TS;
		o.tsval = 0x11223344;
	}
	return o;
}

/* The third segment's options: timestamps echo our (adjusted) TSval. */
static struct sg_tcpopts
ack_opts(int ts, uint32_t our_tsval)
{
	struct sg_tcpopts o;

	memset(&o, 0, sizeof(o));
	if (ts) {
		o.flags = SG_OPT_TS;
		o.tsval = 0x11223345;
		o.tsecr = our_tsval;
	}
	return o;
}

/* Everything needed to check one cookie, as the handshake engine has it. */
struct made {
	struct sg_tuple t;
	uint32_t client_isn, isn, tsval, counter;
	struct sg_tcpopts syn, enc, ack;
};

/* Make a cookie for t and syn at counter, with a sample clock for TSval. */
static void
make(struct made *m, const struct sg_cookie_secret *s,
    const struct sg_tuple *t, const struct sg_tcpopts *syn, uint32_t counter)
{
	memset(m, 0, sizeof(*m));
	m->t = *t;
	m->syn = *syn;
	m->client_isn = 0xdeadbeef;
	m->counter = counter;
	m->tsval = 0x0badcafe;
	m->isn = cookie_make(s, t, m->client_isn, counter, syn, &m->tsval,
	    &m->enc);
	m->ack = ack_opts((syn->flags & SG_OPT_TS) != 0, m->tsval);
}

/* Check the third segment a real client would send for m. */
static int
check(const struct sg_cookie_secret *s, const struct made *m,
    uint32_t counter_now, struct sg_tcpopts *out)
{
	return cookie_check(s, &m->t, m->client_isn + 1, m->isn + 1,
	    counter_now, &m->ack, out);
}

Test(cookie, counter_is_seconds_divided_by_the_period)
{
	cr_assert_eq(cookie_counter(0, 64), 0);
	cr_assert_eq(cookie_counter(63, 64), 0);
	cr_assert_eq(cookie_counter(64, 64), 1);
	cr_assert_eq(cookie_counter(1700000000, 64), 1700000000u / 64);
	cr_assert_eq(cookie_counter(1000, 0), 1000u / COOKIE_PERIOD_DEFAULT,
	    "a zero period falls back to the default");
	cr_assert_eq(COOKIE_PERIOD_DEFAULT, 64);
}

Test(cookie, mss_table_has_eight_increasing_values_from_536)
{
	unsigned i;

	cr_assert_geq(cookie_mss_table_len, 8);
	cr_assert_eq(cookie_mss_table[0], 536);
	for (i = 1; i < cookie_mss_table_len; i++)
		cr_assert_gt(cookie_mss_table[i], cookie_mss_table[i - 1]);
}

/* Round trip one option combination, checking *enc and *out. */
static void
round_trip(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    int mss_present, unsigned mss, unsigned ws, int sack, int ts)
{
	struct sg_tcpopts syn, out;
	struct made m;
	uint8_t want_ws;
	uint16_t want_mss;

	syn = syn_opts(mss_present, mss, ws, sack, ts);
	make(&m, s, t, &syn, 1000);
	want_mss = expected_mss(t->family, mss_present, mss);
	want_ws = ts ? (uint8_t)ws : expected_ws_nots(ws);

	/* What the SYN-ACK will offer. */
	cr_assert_eq(m.enc.mss, want_mss, "mss %u present %d: enc %u want %u",
	    mss, mss_present, m.enc.mss, want_mss);
	cr_assert(m.enc.flags & SG_OPT_MSS);
	cr_assert_eq((m.enc.flags & SG_OPT_WSCALE) != 0, ws != 15);
	if (ws != 15)
		cr_assert_eq(m.enc.wscale, want_ws, "ws %u ts %d: enc %u", ws,
		    ts, m.enc.wscale);
	cr_assert_eq((m.enc.flags & SG_OPT_SACKOK) != 0, sack);
	cr_assert_eq((m.enc.flags & SG_OPT_TS) != 0, ts);
	if (ts) {
		cr_assert_eq(m.enc.tsval, m.tsval);
		cr_assert_eq(m.enc.tsecr, syn.tsval);
	}

	/* What the third segment gives back. */
	cr_assert_eq(check(s, &m, 1000, &out), 1,
	    "mss %u/%d ws %u sack %d ts %d rejected", mss, mss_present, ws,
	    sack, ts);
	cr_assert_eq(out.mss, m.enc.mss);
	cr_assert_eq(out.flags, m.enc.flags);
	cr_assert_eq(out.wscale, m.enc.wscale);
	if (ts) {
		cr_assert_eq(out.tsval, m.ack.tsval);
		cr_assert_eq(out.tsecr, m.tsval);
	}
}

/* Every MSS class boundary, every wscale and none, SACK and TS on/off. */
static void
round_trip_all(const struct sg_tuple *t)
{
	static const unsigned mss_values[] = { 0, 1, 216, 535, 536, 537,
		1219, 1220, 1221, 1379, 1380, 1399, 1400, 1439, 1440, 1451,
		1452, 1459, 1460, 1461, 1500, 4036, 8959, 8960, 8961, 9000,
		65495, 65535 };
	struct sg_cookie_secret s;
	unsigned mi, ws;
	int present, sack, ts;

	test_secret(&s);
	for (present = 0; present <= 1; present++)
		for (mi = 0; mi < sizeof(mss_values) / sizeof(mss_values[0]);
		     mi++)
			for (ws = 0; ws <= 15; ws++)
				for (sack = 0; sack <= 1; sack++)
					for (ts = 0; ts <= 1; ts++)
						round_trip(&s, t, present,
						    mss_values[mi], ws, sack,
						    ts);
}

Test(cookie, round_trips_every_option_combination_over_ipv4)
{
	struct sg_tuple t;

	tuple_v4(&t);
	round_trip_all(&t);
}

Test(cookie, round_trips_every_option_combination_over_ipv6)
{
	struct sg_tuple t;

	tuple_v6(&t);
	round_trip_all(&t);
}

Test(cookie, treats_a_missing_mss_as_536_over_ipv4_and_1220_over_ipv6)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(0, 0, 15, 0, 0), out;
	struct sg_tuple t;
	struct made m;

	test_secret(&s);
	tuple_v4(&t);
	make(&m, &s, &t, &syn, 7);
	cr_assert_eq(m.enc.mss, 536);
	cr_assert_eq(check(&s, &m, 7, &out), 1);
	cr_assert_eq(out.mss, 536);
	cr_assert_eq(out.flags, SG_OPT_MSS, "no wscale, no SACK, no TS");

	tuple_v6(&t);
	make(&m, &s, &t, &syn, 7);
	cr_assert_eq(m.enc.mss, 1220);
	cr_assert_eq(check(&s, &m, 7, &out), 1);
	cr_assert_eq(out.mss, 1220);
}

Test(cookie, keeps_wscale_and_sack_without_timestamps)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(1, 1460, 7, 1, 0), out;
	struct sg_tuple t;
	struct made m;

	test_secret(&s);
	tuple_v4(&t);
	make(&m, &s, &t, &syn, 3);
	cr_assert_eq(check(&s, &m, 3, &out), 1);
	cr_assert_eq(out.flags, SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK);
	cr_assert_eq(out.wscale, 7);
	cr_assert_eq(out.mss, 1460);
}

Test(cookie, rounds_an_unlisted_wscale_down_without_timestamps)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn, out;
	struct sg_tuple t;
	struct made m;
	unsigned ws;

	test_secret(&s);
	tuple_v4(&t);
	for (ws = 0; ws <= 14; ws++) {
		syn = syn_opts(1, 1460, ws, 0, 0);
		make(&m, &s, &t, &syn, 3);
		cr_assert_eq(check(&s, &m, 3, &out), 1);
		cr_assert_leq(out.wscale, ws, "never a larger shift than sent");
		cr_assert_geq(out.wscale + 5, ws, "at most 2^5 too small");
	}
	syn = syn_opts(1, 1460, 200, 0, 0);
	make(&m, &s, &t, &syn, 3);
	cr_assert_eq(m.enc.wscale, 9, "a shift above 14 is taken as 14");
	syn = syn_opts(1, 1460, 200, 0, 1);
	make(&m, &s, &t, &syn, 3);
	cr_assert_eq(m.enc.wscale, 14);
}

Test(cookie, keeps_the_exact_wscale_with_timestamps)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn, out;
	struct sg_tuple t;
	struct made m;
	unsigned ws;

	test_secret(&s);
	tuple_v4(&t);
	for (ws = 0; ws <= 14; ws++) {
		syn = syn_opts(1, 1460, ws, 1, 1);
		make(&m, &s, &t, &syn, 3);
		cr_assert_eq(check(&s, &m, 3, &out), 1);
		cr_assert_eq(out.wscale, ws);
		cr_assert(out.flags & SG_OPT_WSCALE);
	}
}

Test(cookie, puts_options_in_the_low_6_tsval_bits_never_moving_it_forward)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(1, 1460, 7, 1, 1), enc;
	struct sg_tuple t;
	uint32_t clock, ts, low = 0;
	uint64_t st = 1;
	unsigned i;

	test_secret(&s);
	tuple_v4(&t);
	for (i = 0; i < 4096; i++) {
		clock = (uint32_t)rng_next(&st);
		if (i < 128)
			clock = i < 64 ? i : 0xffffffc0u + (i - 64);
		ts = clock;
		cookie_make(&s, &t, 1, 5, &syn, &ts, &enc);
		if (i == 0)
			low = ts & 63;
		cr_assert_eq(ts & 63, low, "the options, whatever the clock");
		cr_assert(ts >> 6 == clock >> 6 ||
			(uint32_t)((ts >> 6) + 1) << 6 == (clock & ~63u),
		    "the high bits are the clock's, or one step back");
		cr_assert_lt((uint32_t)(clock - ts), 64,
		    "clock %08x -> tsval %08x: not ahead, at most 63 behind",
		    clock, ts);
		cr_assert_eq(enc.tsval, ts);
	}
	cr_assert_eq(low & 0x0f, 7, "WSCALE field");
	cr_assert_eq(low & 0x10, 0x10, "SACK bit");
	cr_assert_eq(low & 0x20, 0x20, "parity of counter 5");
}

Test(cookie, marks_a_missing_wscale_as_15_in_the_tsval)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(1, 1460, 15, 0, 1), enc;
	struct sg_tuple t;
	uint32_t ts = 0x12345678;

	test_secret(&s);
	tuple_v4(&t);
	cookie_make(&s, &t, 1, 4, &syn, &ts, &enc);
	cr_assert_eq(ts & 63, 0x0f);
	cr_assert_eq(enc.flags & SG_OPT_WSCALE, 0);
}

Test(cookie, accepts_the_current_and_previous_counter_only)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn, out;
	struct sg_tuple t;
	struct made m;
	uint32_t c;
	int ts;

	test_secret(&s);
	tuple_v4(&t);
	for (ts = 0; ts <= 1; ts++) {
		syn = syn_opts(1, 1460, 7, 1, ts);
		for (c = 0xfffffff0u; c != 0x10; c++) {
			make(&m, &s, &t, &syn, c);
			cr_assert_eq(check(&s, &m, c, &out), 1, "now");
			cr_assert_eq(check(&s, &m, c + 1, &out), 1, "now-1");
			cr_assert_eq(check(&s, &m, c + 2, &out), 0,
			    "now-2 is expired");
			cr_assert_eq(check(&s, &m, c + 3, &out), 0, "now-3");
			cr_assert_eq(check(&s, &m, c - 1, &out), 0,
			    "a cookie from the next period");
		}
	}
}

/* Whether the cookie in m passes when checked against tuple t2. */
static int
check_tuple(const struct sg_cookie_secret *s, const struct made *m,
    const struct sg_tuple *t2)
{
	struct sg_tcpopts out;

	return cookie_check(s, t2, m->client_isn + 1, m->isn + 1, m->counter,
	    &m->ack, &out);
}

/* A body run for a fresh cookie of each family, with and without TS. */
typedef void mode_body(const struct sg_cookie_secret *, const struct made *);

/* Run body for IPv4 and IPv6, with and without timestamps. */
static void
for_each_mode(mode_body *body)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn;
	struct sg_tuple t;
	struct made m;
	int v6, ts;

	test_secret(&s);
	for (v6 = 0; v6 <= 1; v6++) {
		for (ts = 0; ts <= 1; ts++) {
			if (v6)
				tuple_v6(&t);
			else
				tuple_v4(&t);
			syn = syn_opts(1, 1460, 7, 1, ts);
			make(&m, &s, &t, &syn, 77);
			cr_assert_eq(check_tuple(&s, &m, &t), 1);
			body(&s, &m);
		}
	}
}

/* Body of rejects_a_changed_peer_address, for one cookie. */
static void
changed_peer_addr(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_tuple t2 = m->t;

	t2.peer_addr[3] ^= 1;
	cr_assert_eq(check_tuple(s, m, &t2), 0);
}

Test(cookie, rejects_a_changed_peer_address)
{
	for_each_mode(changed_peer_addr);
}

/* Body of rejects_a_changed_local_address, for one cookie. */
static void
changed_local_addr(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_tuple t2 = m->t;

	t2.local_addr[0] ^= 0x80;
	cr_assert_eq(check_tuple(s, m, &t2), 0);
}

Test(cookie, rejects_a_changed_local_address)
{
	for_each_mode(changed_local_addr);
}

/* Body of rejects_a_changed_peer_port, for one cookie. */
static void
changed_peer_port(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_tuple t2 = m->t;

	t2.peer_port++;
	cr_assert_eq(check_tuple(s, m, &t2), 0);
}

Test(cookie, rejects_a_changed_peer_port)
{
	for_each_mode(changed_peer_port);
}

/* Body of rejects_a_changed_local_port, for one cookie. */
static void
changed_local_port(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_tuple t2 = m->t;

	t2.local_port = 81;
	cr_assert_eq(check_tuple(s, m, &t2), 0);
}

Test(cookie, rejects_a_changed_local_port)
{
	for_each_mode(changed_local_port);
}

/* Body of rejects_a_changed_family, for one cookie. */
static void
changed_family(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_tuple t2 = m->t;

	t2.family = m->t.family == AF_INET ? AF_INET6 : AF_INET;
	cr_assert_eq(check_tuple(s, m, &t2), 0);
}

Test(cookie, rejects_a_changed_family)
{
	for_each_mode(changed_family);
}

/* Body of rejects_a_changed_client_isn, for one cookie. */
static void
changed_client_isn(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_tuple t2 = m->t;
	struct sg_tcpopts out;

	cr_assert_eq(cookie_check(s, &t2, m->client_isn + 2, m->isn + 1, 77,
			 &m->ack, &out),
	    0);
	cr_assert_eq(cookie_check(s, &t2, m->client_isn, m->isn + 1, 77,
			 &m->ack, &out),
	    0);
}

Test(cookie, rejects_a_changed_client_isn)
{
	for_each_mode(changed_client_isn);
}

/* Body of rejects_every_single_bit_change_of_the_ack_number, for one cookie. */
static void
changed_ack_bit(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_tuple t2 = m->t;
	struct sg_tcpopts out;
	unsigned bit;

	for (bit = 0; bit < 32; bit++) {
		cr_assert_eq(cookie_check(s, &t2, m->client_isn + 1,
				 (m->isn + 1) ^ (1u << bit), 77, &m->ack, &out),
		    0, "bit %u", bit);
		cr_assert_eq(out.flags, 0, "*out zeroed on failure");
	}
}

Test(cookie, rejects_every_single_bit_change_of_the_ack_number)
{
	for_each_mode(changed_ack_bit);
}

/* Body of rejects_a_cookie_made_with_another_secret, for one cookie. */
static void
other_secret(const struct sg_cookie_secret *s, const struct made *m)
{
	struct sg_cookie_secret other = *s;
	struct sg_tcpopts out;

	other.key.k0 ^= 1;
	cr_assert_eq(cookie_check(&other, &m->t, m->client_isn + 1, m->isn + 1,
			 77, &m->ack, &out),
	    0);
}

Test(cookie, rejects_a_cookie_made_with_another_secret)
{
	for_each_mode(other_secret);
}

Test(cookie, rejects_changed_option_bits_in_the_echoed_tsval)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(1, 1460, 7, 0, 1), out;
	struct sg_tuple t;
	struct made m, m2;
	unsigned bit;

	test_secret(&s);
	tuple_v4(&t);
	make(&m, &s, &t, &syn, 77);
	for (bit = 0; bit < 6; bit++) {
		m2 = m;
		m2.ack.tsecr ^= 1u << bit;
		cr_assert_eq(check(&s, &m2, 77, &out), 0,
		    "an ACK claiming other options (bit %u)", bit);
	}
	m2 = m;
	m2.ack.tsecr ^= 0x40000000;
	cr_assert_eq(check(&s, &m2, 77, &out), 1,
	    "the clock bits of TSecr are not part of the cookie");
}

Test(cookie, rejects_an_ack_without_timestamps_for_a_timestamp_cookie)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(1, 1460, 7, 1, 1), out;
	struct sg_tuple t;
	struct made m;

	test_secret(&s);
	tuple_v4(&t);
	make(&m, &s, &t, &syn, 77);
	m.ack = ack_opts(0, 0);
	cr_assert_eq(check(&s, &m, 77, &out), 0);
}

Test(cookie, rejects_an_ack_with_timestamps_for_a_cookie_without)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(1, 1460, 7, 1, 0), out;
	struct sg_tuple t;
	struct made m;
	uint32_t low;

	test_secret(&s);
	tuple_v4(&t);
	make(&m, &s, &t, &syn, 77);
	for (low = 0; low < 64; low++) {
		m.ack = ack_opts(1, 0x1000 | low);
		cr_assert_eq(check(&s, &m, 77, &out), 0, "tsecr low %u", low);
	}
}

Test(cookie, gives_different_isns_for_different_clients)
{
	struct sg_cookie_secret s;
	struct sg_tcpopts syn = syn_opts(1, 1460, 7, 1, 0), enc;
	struct sg_tuple t;
	uint32_t a, b, ts = 0;

	test_secret(&s);
	tuple_v4(&t);
	a = cookie_make(&s, &t, 1000, 9, &syn, &ts, &enc);
	t.peer_port++;
	b = cookie_make(&s, &t, 1000, 9, &syn, &ts, &enc);
	cr_assert_neq(a, b);
	cr_assert_neq(a >> 8, b >> 8, "the MAC bits differ");
}

/* e^x for 0 <= x <= 1 by its power series, to keep the test off libm. */
static double
e_to(double x)
{
	double term = 1, sum = 0;
	unsigned i;

	for (i = 0; i < 30; i++) {
		sum += term;
		term *= x / (i + 1);
	}
	return sum;
}

/*
 * Poisson upper tail P(X >= k) for mean lambda: the chance that a correct
 * implementation fails a "at most k-1 accepted" bound.
 */
static double
poisson_tail(double lambda, unsigned k)
{
	double term = 1, tail = 0;
	unsigned i;

	/* sum over i >= k of lambda^i / i!, times e^-lambda (series, no libm:
	 * 40 terms are plenty for lambda <= 1). */
	for (i = 0; i < k + 40; i++) {
		if (i >= k)
			tail += term;
		term *= lambda / (i + 1);
	}
	return tail / e_to(lambda);
}

/* A random tuple of either family. */
static void
random_tuple(uint64_t *st, struct sg_tuple *t)
{
	uint8_t peer[16], local[16];
	uint64_t r[4];
	unsigned i;

	for (i = 0; i < 4; i++)
		r[i] = rng_next(st);
	memcpy(peer, r, 16);
	memcpy(local, r + 2, 16);
	if (r[0] & 1)
		tuple_init_v6(t, peer, (uint16_t)(r[1] >> 16),
		    local, (uint16_t)(r[3] >> 16));
	else
		tuple_init_v4(t, peer, (uint16_t)(r[1] >> 16),
		    local, (uint16_t)(r[3] >> 16));
}

/*
 * Blind ACKs against the cookie without timestamps: random tuple, seq, ack.
 * Each is checked against exactly one counter and passes iff 24 MAC bits
 * match: p = 2^-24. With N = 2^24 trials the count is Binomial(2^24,
 * 2^-24) ~ Poisson(1). Asserting at most 9 fails a correct implementation
 * with probability P(X >= 10) = 1.1e-7 (checked below); a 20-bit MAC
 * (mean 16) fails it with probability 0.96, a 16-bit one (mean 256)
 * always. The seed is fixed, so the outcome is the same on every run.
 */
Test(cookie, accepts_blind_acks_without_timestamps_at_most_at_2_to_minus_24,
    .timeout = 120)
{
	const uint32_t n = 1u << 24, bound = 9;
	struct sg_cookie_secret s;
	struct sg_tcpopts opts, out;
	struct sg_tuple t;
	uint64_t st = 0x5eed0001, r;
	uint32_t i, accepted = 0;

	cr_assert(poisson_tail(1.0, 1) > 0.6321 && poisson_tail(1.0, 1) < 0.6322,
	    "the helper itself: P(X >= 1) = 1 - 1/e");
	cr_assert_lt(poisson_tail(1.0, bound + 1), 1e-6);
	test_secret(&s);
	memset(&opts, 0, sizeof(opts));
	for (i = 0; i < n; i++) {
		random_tuple(&st, &t);
		r = rng_next(&st);
		accepted += (uint32_t)cookie_check(&s, &t, (uint32_t)r,
		    (uint32_t)(r >> 32), 1000, &opts, &out);
	}
	cr_assert_leq(accepted, bound, "%u of 2^24 blind ACKs accepted",
	    accepted);
}

/*
 * The same with timestamps: random TSecr too. 29 MAC bits: p = 2^-29;
 * N = 2^22 gives a mean of 2^-7, and "at most 3" fails a correct
 * implementation with probability P(X >= 4) ~ 1.5e-10. A MAC of 24 bits
 * would have mean 0.25 -- too close to tell apart with this N, which the
 * test above covers for the shared code.
 */
Test(cookie, accepts_blind_acks_with_timestamps_at_most_at_2_to_minus_29,
    .timeout = 120)
{
	const uint32_t n = 1u << 22, bound = 3;
	const double lambda = (double)n / (double)(1u << 29);
	struct sg_cookie_secret s;
	struct sg_tcpopts opts, out;
	struct sg_tuple t;
	uint64_t st = 0x5eed0002, r;
	uint32_t i, accepted = 0;

	cr_assert_lt(poisson_tail(lambda, bound + 1), 1e-6);
	test_secret(&s);
	memset(&opts, 0, sizeof(opts));
	opts.flags = SG_OPT_TS;
	for (i = 0; i < n; i++) {
		random_tuple(&st, &t);
		r = rng_next(&st);
		opts.tsval = (uint32_t)rng_next(&st);
		opts.tsecr = (uint32_t)rng_next(&st);
		accepted += (uint32_t)cookie_check(&s, &t, (uint32_t)r,
		    (uint32_t)(r >> 32), 1000, &opts, &out);
	}
	cr_assert_leq(accepted, bound, "%u of 2^22 blind ACKs accepted",
	    accepted);
}

/* ---- the secret ----------------------------------------------------- */

/* A private directory for key files, removed by the fixture's fini. */
static char keydir[64];

/* Criterion options of a test that writes key files. */
#define KEYDIR .init = keydir_init, .fini = keydir_fini

/* Create the directory the key-file tests write into. */
static void
keydir_init(void)
{
	strcpy(keydir, "/tmp/sg-cookie-test-XXXXXX");
	cr_assert_not_null(mkdtemp(keydir));
}

/* Remove what the key-file tests wrote. */
static void
keydir_fini(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", keydir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", keydir);
}

/* Write len bytes to keydir/name with the given mode; returns the path. */
static const char *
keyfile(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* The key file contents used below: bytes 00 01 .. 0f. */
static const uint8_t raw_key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	12, 13, 14, 15 };
#define HEX_KEY "000102030405060708090a0b0c0d0e0f"

/* Whether *s holds the 00..0f key. */
static void
assert_reference_key(const struct sg_cookie_secret *s)
{
	cr_assert_eq(s->key.k0, UINT64_C(0x0706050403020100));
	cr_assert_eq(s->key.k1, UINT64_C(0x0f0e0d0c0b0a0908));
}

Test(cookie, loads_a_raw_16_byte_file, KEYDIR)
{
	struct sg_cookie_secret s;
	char err[256];

	cr_assert_eq(cookie_secret_load(keyfile("raw", raw_key, 16, 0600), &s,
			 err, sizeof(err)),
	    0, "%s", err);
	assert_reference_key(&s);
}

Test(cookie, loads_32_hex_digits_with_or_without_a_newline, KEYDIR)
{
	struct sg_cookie_secret s;
	char err[256];

	cr_assert_eq(cookie_secret_load(keyfile("hex", HEX_KEY "\n", 33, 0400),
			 &s, err, sizeof(err)),
	    0, "%s", err);
	assert_reference_key(&s);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(cookie_secret_load(keyfile("hex2", HEX_KEY, 32, 0640), &s,
			 err, sizeof(err)),
	    0, "%s", err);
	assert_reference_key(&s);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(cookie_secret_load(keyfile("HEX",
			     "000102030405060708090A0B0C0D0E0F", 32, 0600),
			 &s, err, sizeof(err)),
	    0, "%s", err);
	assert_reference_key(&s);
}

Test(cookie, makes_the_same_cookies_on_hosts_sharing_the_file, KEYDIR)
{
	struct sg_cookie_secret a, b;
	struct sg_tcpopts syn = syn_opts(1, 1460, 7, 1, 0), enc, out;
	struct sg_tuple t;
	uint32_t isn, ts = 0;

	cr_assert_eq(cookie_secret_load(keyfile("raw", raw_key, 16, 0600), &a,
			 NULL, 0),
	    0);
	cr_assert_eq(cookie_secret_load(keyfile("hex", HEX_KEY, 32, 0600), &b,
			 NULL, 0),
	    0);
	tuple_v4(&t);
	isn = cookie_make(&a, &t, 5000, 42, &syn, &ts, &enc);
	cr_assert_eq(cookie_check(&b, &t, 5001, isn + 1, 43, &out, &out), 1);
}

Test(cookie, refuses_a_file_others_can_read_or_write, KEYDIR)
{
	static const mode_t modes[] = { 0644, 0604, 0602, 0601, 0666, 0607 };
	struct sg_cookie_secret s;
	char err[256], want[16];
	unsigned i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		cr_assert_eq(cookie_secret_load(keyfile("k", raw_key, 16,
						    modes[i]),
				 &s, err, sizeof(err)),
		    -1, "mode %04o accepted", (unsigned)modes[i]);
		snprintf(want, sizeof(want), "mode %04o", (unsigned)modes[i]);
		cr_assert_not_null(strstr(err, want), "%s", err);
		cr_assert_not_null(strstr(err, keydir), "names the file: %s",
		    err);
	}
}

Test(cookie, refuses_a_file_of_the_wrong_size, KEYDIR)
{
	static const size_t sizes[] = { 0, 1, 15, 17, 31, 34, 64 };
	uint8_t junk[64];
	struct sg_cookie_secret s;
	char err[256];
	unsigned i;

	memset(junk, 'a', sizeof(junk));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cr_assert_eq(cookie_secret_load(keyfile("k", junk, sizes[i],
						    0600),
				 &s, err, sizeof(err)),
		    -1, "%zu bytes accepted", sizes[i]);
		cr_assert_not_null(strstr(err, "expected 16 raw bytes"), "%s",
		    err);
	}
}

Test(cookie, refuses_a_32_byte_file_that_is_not_hex, KEYDIR)
{
	struct sg_cookie_secret s;
	char err[256];

	cr_assert_eq(cookie_secret_load(keyfile("k",
			     "000102030405060708090a0b0c0d0e0g", 32, 0600),
			 &s, err, sizeof(err)),
	    -1);
	cr_assert_not_null(strstr(err, "not 32 hex digits"), "%s", err);
	cr_assert_eq(cookie_secret_load(keyfile("k", HEX_KEY " ", 33, 0600),
			 &s, err, sizeof(err)),
	    -1, "only a newline may follow the digits");
}

Test(cookie, refuses_an_all_zero_key, KEYDIR)
{
	static const uint8_t zero[16];
	struct sg_cookie_secret s;
	char err[256];

	cr_assert_eq(cookie_secret_load(keyfile("k", zero, 16, 0600), &s, err,
			 sizeof(err)),
	    -1);
	cr_assert_not_null(strstr(err, "all zeros"), "%s", err);
}

Test(cookie, refuses_what_is_not_a_regular_file, KEYDIR)
{
	struct sg_cookie_secret s;
	char path[128], err[256];

	snprintf(path, sizeof(path), "%s/dir", keydir);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(cookie_secret_load(path, &s, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "not a regular file"), "%s", err);

	snprintf(path, sizeof(path), "%s/fifo", keydir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(cookie_secret_load(path, &s, err, sizeof(err)), -1,
	    "a FIFO is refused without blocking");
	cr_assert_not_null(strstr(err, "not a regular file"), "%s", err);
}

Test(cookie, reports_a_missing_file_by_name, KEYDIR)
{
	struct sg_cookie_secret s;
	char path[128], err[256];

	snprintf(path, sizeof(path), "%s/absent", keydir);
	cr_assert_eq(cookie_secret_load(path, &s, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, path), "%s", err);
	cr_assert_not_null(strstr(err, strerror(ENOENT)), "%s", err);
}

Test(cookie, never_puts_the_secret_in_an_error_message, KEYDIR)
{
	struct sg_cookie_secret s;
	char err[512];

	cr_assert_eq(cookie_secret_load(keyfile("k", HEX_KEY "\n", 33, 0644),
			 &s, err, sizeof(err)),
	    -1);
	cr_assert_null(strstr(err, "0102030405"), "%s", err);
	cr_assert_eq(cookie_secret_load(keyfile("k2", HEX_KEY "x", 33, 0600),
			 &s, err, sizeof(err)),
	    -1);
	cr_assert_null(strstr(err, "0102030405"), "%s", err);
}

Test(cookie, truncates_long_messages_safely, KEYDIR)
{
	struct sg_cookie_secret s;
	char err[8];

	cr_assert_eq(cookie_secret_load("/nonexistent/key", &s, err,
			 sizeof(err)),
	    -1);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
	cr_assert_eq(cookie_secret_load("/nonexistent/key", &s, NULL, 0), -1);
}

Test(cookie, draws_a_different_random_secret_each_time, KEYDIR)
{
	struct sg_cookie_secret a, b;

	cr_assert_eq(cookie_secret_random(&a), 0);
	cr_assert_eq(cookie_secret_random(&b), 0);
	cr_assert(a.key.k0 != b.key.k0 || a.key.k1 != b.key.k1);
	cr_assert(a.key.k0 != 0 || a.key.k1 != 0);
}
