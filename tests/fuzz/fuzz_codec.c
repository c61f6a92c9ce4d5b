/*
 * fuzz_codec.c -- fuzz target: captured frames through codec_parse.
 *
 * Input: one mode byte, then the frame. Bit 0 of the mode byte picks the
 * link type (0 Ethernet, 1 bare IP), bit 1 the checksum mode (0 verify,
 * 1 trusted, as on lo and veth).
 *
 * Invariants, besides "never reads outside the frame":
 *  - a parsed segment's pointers and lengths lie inside the frame, and
 *    payload + header add up to what the IP header said;
 *  - with SG_CSUM_VERIFY, a parsed segment's TCP checksum is good;
 *  - options: wscale never above 14 (RFC 7323 2.3), only known flags;
 *  - a SYN-ACK built with codec_build for a parsed segment parses back
 *    (checksums verified) into the same connection, seen from the other
 *    side, with the same sequence numbers and options.
 */
#include <string.h>
#include <sys/socket.h>

#include "codec.h"
#include "fuzz.h"

#define OPT_KNOWN (SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK | SG_OPT_TS)

/* Whether [p, p + n) lies inside [base, base + len). */
static int
inside(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
	return p >= base && (size_t)(p - base) <= len &&
	    n <= len - (size_t)(p - base);
}

/* An IPv4-mapped IPv6 address: refused as a source (codec.c). */
static int
v4mapped(const struct sg_tuple *t, const uint8_t *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff};

	return t->family == AF_INET6 && memcmp(a, mapped, 12) == 0;
}

/* Build a SYN-ACK answering seg and check it parses back. */
static void
check_reply(const struct sg_segment *seg)
{
	struct sg_reply r;
	struct sg_segment back;
	uint8_t buf[SG_REPLY_MAX];
	size_t n;

	memset(&r, 0, sizeof(r));
	r.tuple = seg->tuple;
	r.seq = seg->ack ^ 0x5a5a5a5a;
	r.ack = seg->seq + 1;
	r.window = seg->window;
	r.flags = SG_TCP_SYN | SG_TCP_ACK;
	r.ttl = seg->ttl;
	r.opts = seg->opts;
	n = codec_build(&r, buf, sizeof(buf));
	FUZZ_CHECK(n > 0 && n <= sizeof(buf));
	/* Our side of the connection must never be one we refuse as a
	 * source; codec_parse checks the destination less strictly. */
	if (v4mapped(&seg->tuple, seg->tuple.local_addr))
		return;
	FUZZ_CHECK(codec_parse(buf, n, SG_LINK_IP, SG_CSUM_VERIFY, &back) ==
	    SG_R_NONE);
	FUZZ_CHECK(back.tuple.family == seg->tuple.family);
	FUZZ_CHECK(memcmp(back.tuple.peer_addr, seg->tuple.local_addr, 16) ==
	    0);
	FUZZ_CHECK(memcmp(back.tuple.local_addr, seg->tuple.peer_addr, 16) ==
	    0);
	FUZZ_CHECK(back.tuple.peer_port == seg->tuple.local_port);
	FUZZ_CHECK(back.tuple.local_port == seg->tuple.peer_port);
	FUZZ_CHECK(back.seq == r.seq && back.ack == r.ack);
	FUZZ_CHECK(back.flags == r.flags && back.window == r.window);
	FUZZ_CHECK(back.ttl == (r.ttl != 0 ? r.ttl : 64));
	FUZZ_CHECK(back.payload_len == 0);
	FUZZ_CHECK(back.opts.flags == r.opts.flags);
	if (r.opts.flags & SG_OPT_MSS)
		FUZZ_CHECK(back.opts.mss == r.opts.mss);
	if (r.opts.flags & SG_OPT_WSCALE)
		FUZZ_CHECK(back.opts.wscale == r.opts.wscale);
	if (r.opts.flags & SG_OPT_TS)
		FUZZ_CHECK(back.opts.tsval == r.opts.tsval &&
		    back.opts.tsecr == r.opts.tsecr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sg_segment seg;
	enum sg_link link;
	enum sg_csum csum;
	enum sg_reason r;

	if (size < 1)
		return -1;
	link = (data[0] & 1) ? SG_LINK_IP : SG_LINK_ETHER;
	csum = (data[0] & 2) ? SG_CSUM_TRUSTED : SG_CSUM_VERIFY;
	data++;
	size--;

	r = codec_parse(data, size, link, csum, &seg);
	FUZZ_CHECK(r >= SG_R_NONE && r < SG_R__COUNT);
	if (r != SG_R_NONE)
		return 0;

	FUZZ_CHECK(seg.tuple.family == AF_INET || seg.tuple.family == AF_INET6);
	FUZZ_CHECK(seg.tuple.peer_port != 0 && seg.tuple.local_port != 0);
	FUZZ_CHECK(inside(seg.l3, seg.l3_len, data, size));
	FUZZ_CHECK(inside(seg.l4, seg.l4_len, seg.l3, seg.l3_len));
	FUZZ_CHECK(seg.l4_len >= 20);
	FUZZ_CHECK(inside(seg.payload, seg.payload_len, seg.l4, seg.l4_len));
	FUZZ_CHECK(seg.l4 + seg.l4_len == seg.l3 + seg.l3_len);
	FUZZ_CHECK(seg.payload + seg.payload_len == seg.l4 + seg.l4_len);
	FUZZ_CHECK((size_t)(seg.payload - seg.l4) == (size_t)(seg.l4[12] >> 4) * 4);
	if (csum == SG_CSUM_VERIFY)
		FUZZ_CHECK(codec_tcp_csum_ok(&seg));
	FUZZ_CHECK((seg.opts.flags & ~OPT_KNOWN) == 0);
	FUZZ_CHECK(seg.opts.wscale <= 14);

	check_reply(&seg);
	return 0;
}
