/*
 * fuzz_cookie.c -- fuzz target: SYN cookies, made and checked with a fixed
 * secret.
 *
 * Input, field by field (missing bytes read as 0):
 *   mode      1  bit 0 IPv6; bit 1 the SYN carries timestamps and we pass
 *                a TSval; bit 2 the ACK comes one counter period later
 *   tuple    36  peer address 16, local address 16, peer port 2, local 2
 *   SYN      20  client ISN 4, counter 4, MSS 2, wscale 1, option flags 1,
 *                TSval 4, our TSval 4
 *   ACK      28  seq 4, ack 4, counter now 4, MSS 2, wscale 1, flags 1,
 *                TSval 4, TSecr 4, client's TSval on the good ACK 4
 *
 * Invariants:
 *  - cookie_make's output, sent back in the ACK a real client would send,
 *    is accepted by cookie_check in the same and the next counter period,
 *    and the options decoded are exactly those cookie_make said it encoded;
 *  - the encoded MSS is in the table and never above the client's (RFC
 *    9293 3.7.1 floor of 536 aside), the window shift never above the
 *    client's or 14, and our TSval is moved back by at most 63, never
 *    forward (PAWS, RFC 7323 5.3);
 *  - any ACK at all (the second half of the input) never crashes, and if
 *    it is accepted, what it decodes to is something cookie_make can
 *    encode; if refused, *out is zeroed.
 */
#include <string.h>
#include <sys/socket.h>

#include "cookie.h"
#include "fuzz.h"

#define OPT_KNOWN (SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS)

static struct sg_cookie_secret secret;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	uint8_t key[16];

	/* Fixed, so that every run of an input does the same. */
	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x11 * i + 7);
	siphash_key_from_bytes(&secret.key, key);
	return 0;
}

/* Whether mss is one of the values a cookie can carry. */
static int
in_table(uint16_t mss)
{
	for (unsigned i = 0; i < cookie_mss_table_len; i++)
		if (cookie_mss_table[i] == mss)
			return 1;
	return 0;
}

/* What any decoded cookie must look like. */
static void
check_decoded(const struct sg_tcpopts *o)
{
	FUZZ_CHECK((o->flags & ~OPT_KNOWN) == 0);
	FUZZ_CHECK(o->flags & SG_OPT_MSS);
	FUZZ_CHECK(in_table(o->mss));
	FUZZ_CHECK(o->wscale <= 14);
	if (!(o->flags & SG_OPT_WSCALE))
		FUZZ_CHECK(o->wscale == 0);
}

/* Read a tuple: fully initialised, as tuple.h requires. */
static void
read_tuple(struct fuzz_in *in, int v6, struct sg_tuple *t)
{
	uint8_t peer[16], local[16];
	uint16_t pp, lp;

	fuzz_bytes(in, peer, 16);
	fuzz_bytes(in, local, 16);
	pp = fuzz_u16(in);
	lp = fuzz_u16(in);
	if (v6)
		tuple_init_v6(t, peer, pp, local, lp);
	else
		tuple_init_v4(t, peer, pp, local, lp);
}

/* Read an options struct; flags as the codec would set them. */
static void
read_opts(struct fuzz_in *in, struct sg_tcpopts *o)
{
	memset(o, 0, sizeof(*o));
	o->mss = fuzz_u16(in);
	o->wscale = fuzz_u8(in);
	o->flags = fuzz_u8(in) & OPT_KNOWN;
	o->tsval = fuzz_u32(in);
	o->tsecr = fuzz_u32(in);
}

/* Make a cookie and answer it as the client would. */
static void
make_and_check(const struct sg_tuple *t, uint32_t client_isn,
    uint32_t counter, const struct sg_tcpopts *syn, int use_ts,
    uint32_t our_ts, int later, uint32_t client_ts)
{
	struct sg_tcpopts enc, ack, out;
	uint32_t isn, ts = our_ts;
	uint16_t floor;

	isn = cookie_make(&secret, t, client_isn, counter, syn,
	    use_ts ? &ts : NULL, &enc);
	check_decoded(&enc);

	/* MSS rounded down, but never below the RFC 9293 default. */
	floor = t->family == AF_INET6 ? 1220 : 536;
	if (syn->flags & SG_OPT_MSS)
		FUZZ_CHECK(enc.mss <= (syn->mss > 536 ? syn->mss : 536));
	else
		FUZZ_CHECK(enc.mss == floor);
	if (enc.flags & SG_OPT_WSCALE) {
		FUZZ_CHECK(syn->flags & SG_OPT_WSCALE);
		FUZZ_CHECK(enc.wscale <= syn->wscale);
	}
	FUZZ_CHECK(((enc.flags & SG_OPT_WSCALE) != 0) ==
	    ((syn->flags & SG_OPT_WSCALE) != 0));
	FUZZ_CHECK(((enc.flags & SG_OPT_SACKOK) != 0) ==
	    ((syn->flags & SG_OPT_SACKOK) != 0));
	if (use_ts && (syn->flags & SG_OPT_TS)) {
		FUZZ_CHECK(enc.flags & SG_OPT_TS);
		FUZZ_CHECK((uint32_t)(our_ts - ts) <= 63);
		FUZZ_CHECK(enc.tsval == ts && enc.tsecr == syn->tsval);
	} else {
		FUZZ_CHECK(!(enc.flags & SG_OPT_TS));
		FUZZ_CHECK(ts == our_ts);
	}

	/* The third segment: seq = client ISN + 1, ack = our ISN + 1, and
	 * with timestamps TSecr echoes our TSval (RFC 7323 3.2). */
	memset(&ack, 0, sizeof(ack));
	if (enc.flags & SG_OPT_TS) {
		ack.flags = SG_OPT_TS;
		ack.tsval = client_ts;
		ack.tsecr = ts;
	}
	FUZZ_CHECK(cookie_check(&secret, t, client_isn + 1, isn + 1,
	    counter + (later ? 1 : 0), &ack, &out) == 1);
	FUZZ_CHECK(out.mss == enc.mss && out.wscale == enc.wscale);
	FUZZ_CHECK(out.flags == enc.flags);
	if (enc.flags & SG_OPT_TS)
		FUZZ_CHECK(out.tsval == client_ts && out.tsecr == ts);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sg_tcpopts zero;
	struct fuzz_in in = {data, size, 0};
	struct sg_tuple t;
	struct sg_tcpopts syn, opts, out;
	uint32_t client_isn, counter, our_ts, seq, ack, now, client_ts;
	uint8_t mode;
	int ok;

	mode = fuzz_u8(&in);
	read_tuple(&in, mode & 1, &t);
	client_isn = fuzz_u32(&in);
	counter = fuzz_u32(&in);
	memset(&syn, 0, sizeof(syn));
	syn.mss = fuzz_u16(&in);
	syn.wscale = fuzz_u8(&in);
	syn.flags = fuzz_u8(&in) & OPT_KNOWN;
	syn.tsval = fuzz_u32(&in);
	our_ts = fuzz_u32(&in);
	/* The codec clamps the shift to 14 and reports no field without
	 * its flag; cookie_make may rely on that. */
	if (syn.wscale > 14)
		syn.wscale = 14;
	if (!(syn.flags & SG_OPT_MSS))
		syn.mss = 0;
	if (!(syn.flags & SG_OPT_WSCALE))
		syn.wscale = 0;
	if (!(syn.flags & SG_OPT_TS))
		syn.tsval = 0;

	seq = fuzz_u32(&in);
	ack = fuzz_u32(&in);
	now = fuzz_u32(&in);
	read_opts(&in, &opts);
	client_ts = fuzz_u32(&in);

	make_and_check(&t, client_isn, counter, &syn, (mode & 2) != 0, our_ts,
	    (mode & 4) != 0, client_ts);

	/* Any ACK: a forgery is accepted with probability 2^-24 at most, so
	 * only what it decodes to is checked, never that it is refused. */
	ok = cookie_check(&secret, &t, seq, ack, now, &opts, &out);
	FUZZ_CHECK(ok == 0 || ok == 1);
	if (ok)
		check_decoded(&out);
	else
		FUZZ_CHECK(memcmp(&out, &zero, sizeof(out)) == 0);
	/* Without options at all (opts NULL is allowed). */
	ok = cookie_check(&secret, &t, seq, ack, now, NULL, &out);
	FUZZ_CHECK(ok == 0 || ok == 1);
	if (ok)
		check_decoded(&out);
	return 0;
}
