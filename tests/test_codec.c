/*
 * test_codec.c -- the frame codec, specified by real kernel handshakes and
 * by every way a frame can be malformed.
 *
 * The fixtures in tests/fixtures are tcpdump captures of Linux-to-Linux
 * handshakes across a veth pair with transmit checksum offload off, made
 * by tests/fixtures/capture.sh; their checksums are complete, so they are
 * parsed with SG_CSUM_VERIFY. The expected values below are copied from
 * the tcpdump -vvv -x output kept beside each capture (NAME.txt).
 *
 * Truncation tests copy each prefix into a heap block of exactly that
 * size, so a read past the end is caught when built with ASan.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#ifndef FIXTURES
#define FIXTURES "tests/fixtures"
#endif

#define MAXPKT 512
#define ETH 14 /* Ethernet header in the fixtures */

struct pkt {
	uint8_t b[MAXPKT];
	size_t len;
};

/* --- a tiny classic-pcap reader (LINKTYPE_ETHERNET only) ------------- */

static uint32_t
pcap32(const uint8_t *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

/* Load packet idx of fixture name into *out; fails the test if absent. */
static void
load(const char *name, int idx, struct pkt *out)
{
	static uint8_t file[65536];
	char path[512];
	size_t n, off;
	uint32_t magic, caplen;
	int swap, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.pcap", FIXTURES, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	n = fread(file, 1, sizeof(file), f);
	fclose(f);
	cr_assert_geq(n, 24, "%s: no pcap header", path);
	memcpy(&magic, file, 4);
	cr_assert(magic == 0xa1b2c3d4 || magic == 0xd4c3b2a1 ||
	              magic == 0xa1b23c4d || magic == 0x4d3cb2a1,
	          "%s: not a classic pcap file", path);
	swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
	cr_assert_eq(pcap32(file + 20, swap), 1, "%s: not LINKTYPE_ETHERNET",
	             path);
	off = 24;
	for (i = 0;; i++) {
		cr_assert_leq(off + 16, n, "%s: no packet %d", path, idx);
		caplen = pcap32(file + off + 8, swap);
		cr_assert_eq(caplen, pcap32(file + off + 12, swap),
		             "%s: packet %d was cut by the snap length", path,
		             i);
		cr_assert_leq(off + 16 + caplen, n, "%s: truncated", path);
		if (i == idx) {
			cr_assert_leq(caplen, MAXPKT);
			memcpy(out->b, file + off + 16, caplen);
			out->len = caplen;
			return;
		}
		off += 16 + caplen;
	}
}

/* --- helpers to forge packets from the fixtures ----------------------- */

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Recompute the IPv4 header checksum of the header at ip. */
static void
fix_ip4(uint8_t *ip)
{
	size_t hlen = (size_t)(ip[0] & 0x0f) * 4;

	wr16(ip + 10, 0);
	wr16(ip + 10, codec_csum_fold(codec_csum_add(0, ip, hlen)));
}

/* Recompute the TCP checksum of an IPv4 datagram. */
static void
fix_tcp4(uint8_t *ip)
{
	size_t hlen = (size_t)(ip[0] & 0x0f) * 4, tot = rd16(ip + 2);
	uint8_t ph[4] = {0, 6, 0, 0};
	uint32_t sum;

	wr16(ph + 2, (uint16_t)(tot - hlen));
	wr16(ip + hlen + 16, 0);
	sum = codec_csum_add(0, ip + 12, 8);
	sum = codec_csum_add(sum, ph, 4);
	sum = codec_csum_add(sum, ip + hlen, tot - hlen);
	wr16(ip + hlen + 16, codec_csum_fold(sum));
}

/* Recompute the TCP checksum of an IPv6 packet whose TCP header is at l4. */
static void
fix_tcp6(uint8_t *ip, size_t l4)
{
	size_t tcplen = 40 + rd16(ip + 4) - l4;
	uint8_t ph[8] = {0, 0, 0, 0, 0, 0, 0, 6};
	uint32_t sum;

	wr16(ph + 2, (uint16_t)tcplen);
	wr16(ip + l4 + 16, 0);
	sum = codec_csum_add(0, ip + 8, 32);
	sum = codec_csum_add(sum, ph, 8);
	sum = codec_csum_add(sum, ip + l4, tcplen);
	wr16(ip + l4 + 16, codec_csum_fold(sum));
}

/* Insert n bytes at offset at of p (n bytes of room are assumed). */
static void
insert(struct pkt *p, size_t at, const void *bytes, size_t n)
{
	cr_assert_leq(p->len + n, MAXPKT);
	memmove(p->b + at + n, p->b + at, p->len - at);
	memcpy(p->b + at, bytes, n);
	p->len += n;
}

/* Insert IPv4 options (n a multiple of 4) into an IPv4 frame. */
static void
add_ip4_options(struct pkt *p, const void *opt, size_t n)
{
	uint8_t *ip = p->b + ETH;

	insert(p, ETH + 20, opt, n);
	ip[0] = (uint8_t)(ip[0] + n / 4);
	wr16(ip + 2, (uint16_t)(rd16(ip + 2) + n));
	fix_ip4(ip);
}

/*
 * Insert one IPv6 extension header (8-byte multiple, its own next-header
 * byte overwritten) right after the fixed header; the TCP checksum is not
 * touched: the pseudo-header counts only the upper-layer length.
 */
static void
add_ip6_ext(struct pkt *p, uint8_t type, const uint8_t *hdr, size_t n)
{
	uint8_t *ip = p->b + ETH, tmp[256];

	cr_assert_leq(n, sizeof(tmp));
	memcpy(tmp, hdr, n);
	tmp[0] = ip[6];
	ip[6] = type;
	insert(p, ETH + 40, tmp, n);
	wr16(ip + 4, (uint16_t)(rd16(ip + 4) + n));
}

/* Parse p as an Ethernet frame with checksum verification. */
static enum sg_reason
parse(const struct pkt *p, struct sg_segment *seg)
{
	return codec_parse(p->b, p->len, SG_LINK_ETHER, SG_CSUM_VERIFY, seg);
}

/* Assert the reason a parse gave, by name, so failures read well. */
#define expect_reason(got, want)                                               \
	cr_assert_str_eq(reason_name(got), reason_name(want))

static void
addr4(uint8_t *dst, const char *s)
{
	cr_assert_eq(inet_pton(AF_INET, s, dst), 1);
}

static void
addr6(uint8_t *dst, const char *s)
{
	cr_assert_eq(inet_pton(AF_INET6, s, dst), 1);
}

/* Assert a tuple's addresses and ports. */
static void
expect_tuple(const struct sg_tuple *t, int fam, const char *peer,
             uint16_t pport, const char *local, uint16_t lport)
{
	struct sg_tuple want;
	uint8_t a[16], b[16];

	if (fam == AF_INET) {
		addr4(a, peer);
		addr4(b, local);
		tuple_init_v4(&want, a, pport, b, lport);
	} else {
		addr6(a, peer);
		addr6(b, local);
		tuple_init_v6(&want, a, pport, b, lport);
	}
	cr_assert(tuple_equal(t, &want), "tuple differs");
}

/* ===================================================================== */
/* codec: parsing real captures                                          */
/* ===================================================================== */

Test(codec, parses_kernel_ipv4_syn_as_tcpdump_shows_it)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	expect_tuple(&s.tuple, AF_INET, "198.18.0.1", 34396, "198.18.0.2",
	             5001);
	cr_assert_eq(s.seq, 2315836161u);
	cr_assert_eq(s.ack, 0);
	cr_assert_eq(s.window, 64240);
	cr_assert_eq(s.flags, SG_TCP_SYN);
	cr_assert_eq(s.ttl, 64);
	cr_assert_eq(s.opts.flags,
	             SG_OPT_MSS | SG_OPT_SACKOK | SG_OPT_TS | SG_OPT_WSCALE);
	cr_assert_eq(s.opts.mss, 1460);
	cr_assert_eq(s.opts.wscale, 10);
	cr_assert_eq(s.opts.tsval, 1815539945u);
	cr_assert_eq(s.opts.tsecr, 0);
	cr_assert_eq(s.payload_len, 0);
	cr_assert_eq(s.l3, p.b + ETH);
	cr_assert_eq(s.l3_len, 60);
	cr_assert_eq(s.l4, p.b + ETH + 20);
	cr_assert_eq(s.l4_len, 40);
}

Test(codec, parses_kernel_ipv4_synack)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 1, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	expect_tuple(&s.tuple, AF_INET, "198.18.0.2", 5001, "198.18.0.1",
	             34396);
	cr_assert_eq(s.seq, 896857854u);
	cr_assert_eq(s.ack, 2315836162u);
	cr_assert_eq(s.window, 65160);
	cr_assert_eq(s.flags, SG_TCP_SYN | SG_TCP_ACK);
	cr_assert_eq(s.opts.flags,
	             SG_OPT_MSS | SG_OPT_SACKOK | SG_OPT_TS | SG_OPT_WSCALE);
	cr_assert_eq(s.opts.mss, 1460);
	cr_assert_eq(s.opts.wscale, 10);
	cr_assert_eq(s.opts.tsval, 4228467148u);
	cr_assert_eq(s.opts.tsecr, 1815539945u);
}

Test(codec, parses_kernel_ipv4_final_ack_with_timestamps_only)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 2, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	/* tcpdump shows relative numbers: seq 1, ack 1. */
	cr_assert_eq(s.seq, 2315836162u);
	cr_assert_eq(s.ack, 896857855u);
	cr_assert_eq(s.window, 63);
	cr_assert_eq(s.flags, SG_TCP_ACK);
	cr_assert_eq(s.opts.flags, SG_OPT_TS);
	cr_assert_eq(s.opts.tsval, 1815539945u);
	cr_assert_eq(s.opts.tsecr, 4228467148u);
	cr_assert_eq(s.payload_len, 0);
}

Test(codec, parses_kernel_ipv4_syn_without_timestamps)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4-nots", 0, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	expect_tuple(&s.tuple, AF_INET, "198.18.0.1", 52374, "198.18.0.2",
	             5001);
	cr_assert_eq(s.seq, 858111881u);
	cr_assert_eq(s.window, 64240);
	cr_assert_eq(s.opts.flags, SG_OPT_MSS | SG_OPT_SACKOK | SG_OPT_WSCALE);
	cr_assert_eq(s.opts.mss, 1460);
	cr_assert_eq(s.opts.wscale, 10);
}

Test(codec, parses_kernel_ipv6_syn_as_tcpdump_shows_it)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 0, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	expect_tuple(&s.tuple, AF_INET6, "fd00:198:18::1", 51396,
	             "fd00:198:18::2", 5001);
	cr_assert_eq(s.seq, 2248513459u);
	cr_assert_eq(s.ack, 0);
	cr_assert_eq(s.window, 64800);
	cr_assert_eq(s.flags, SG_TCP_SYN);
	cr_assert_eq(s.ttl, 64);
	cr_assert_eq(s.opts.flags,
	             SG_OPT_MSS | SG_OPT_SACKOK | SG_OPT_TS | SG_OPT_WSCALE);
	cr_assert_eq(s.opts.mss, 1440);
	cr_assert_eq(s.opts.wscale, 10);
	cr_assert_eq(s.opts.tsval, 3337163644u);
	cr_assert_eq(s.opts.tsecr, 0);
	cr_assert_eq(s.l3_len, 80);
	cr_assert_eq(s.l4, p.b + ETH + 40);
	cr_assert_eq(s.l4_len, 40);
}

Test(codec, parses_kernel_ipv6_synack_and_ack)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 1, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	expect_tuple(&s.tuple, AF_INET6, "fd00:198:18::2", 5001,
	             "fd00:198:18::1", 51396);
	cr_assert_eq(s.seq, 2695563191u);
	cr_assert_eq(s.ack, 2248513460u);
	cr_assert_eq(s.window, 64260);
	cr_assert_eq(s.flags, SG_TCP_SYN | SG_TCP_ACK);
	cr_assert_eq(s.opts.tsval, 2063396930u);
	cr_assert_eq(s.opts.tsecr, 3337163644u);

	load("handshake6", 2, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.seq, 2248513460u);
	cr_assert_eq(s.ack, 2695563192u);
	cr_assert_eq(s.window, 64);
	cr_assert_eq(s.flags, SG_TCP_ACK);
	cr_assert_eq(s.opts.flags, SG_OPT_TS);
}

Test(codec, parses_kernel_ipv6_syn_with_mss_only)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake6-mss", 0, &p);
	expect_reason(parse(&p, &s), SG_R_NONE);
	expect_tuple(&s.tuple, AF_INET6, "fd00:198:18::1", 51404,
	             "fd00:198:18::2", 5001);
	cr_assert_eq(s.seq, 2628856726u);
	cr_assert_eq(s.opts.flags, SG_OPT_MSS);
	cr_assert_eq(s.opts.mss, 1440);
}

Test(codec, verifies_the_checksum_of_every_captured_segment)
{
	static const char *names[] = {"handshake4", "handshake4-nots",
	                              "handshake6", "handshake6-mss"};
	struct pkt p;
	struct sg_segment s;
	size_t i;
	int k;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (k = 0; k < 3; k++) {
			load(names[i], k, &p);
			expect_reason(parse(&p, &s), SG_R_NONE);
			cr_assert(codec_tcp_csum_ok(&s), "%s #%d", names[i], k);
		}
}

Test(codec, parses_a_frame_without_link_header)
{
	struct pkt p;
	struct sg_segment a, b;

	load("handshake6", 0, &p);
	expect_reason(parse(&p, &a), SG_R_NONE);
	expect_reason(
	    codec_parse(p.b + ETH, p.len - ETH, SG_LINK_IP, SG_CSUM_VERIFY, &b),
	    SG_R_NONE);
	cr_assert(tuple_equal(&a.tuple, &b.tuple));
	cr_assert_eq(a.seq, b.seq);
	cr_assert_eq(memcmp(&a.opts, &b.opts, sizeof(a.opts)), 0);

	load("handshake4", 0, &p);
	expect_reason(
	    codec_parse(p.b + ETH, p.len - ETH, SG_LINK_IP, SG_CSUM_VERIFY, &b),
	    SG_R_NONE);
	cr_assert_eq(b.seq, 2315836161u);
}

Test(codec, ignores_ethernet_padding_past_the_ip_total_length)
{
	static const uint8_t pad[32];
	struct pkt p;
	struct sg_segment s;

	load("handshake4-nots", 2, &p); /* 54-byte bare ACK */
	insert(&p, p.len, pad, 6);      /* padded to the 60-byte minimum */
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.l3_len, 40);
	cr_assert_eq(s.payload_len, 0);

	load("handshake6-mss", 2, &p);
	insert(&p, p.len, pad, sizeof(pad));
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.l3_len, 60);
	cr_assert_eq(s.payload_len, 0);
}

Test(codec, points_payload_at_the_data_after_the_options)
{
	struct pkt p;
	struct sg_segment s;
	uint8_t *ip;

	load("handshake4", 2, &p);
	ip = p.b + ETH;
	insert(&p, p.len, "hello", 5);
	wr16(ip + 2, (uint16_t)(rd16(ip + 2) + 5));
	fix_ip4(ip);
	fix_tcp4(ip);
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.payload_len, 5);
	cr_assert_eq(memcmp(s.payload, "hello", 5), 0);
	cr_assert_eq(s.payload, ip + 20 + 32);
}

Test(codec, skips_8021q_and_8021ad_tags)
{
	static const uint8_t q[4] = {0x81, 0x00, 0x00, 0x64};
	static const uint8_t ad[4] = {0x88, 0xa8, 0x00, 0x0a};
	struct pkt p;
	struct sg_segment s;

	/* A tag sits between the MACs and the EtherType it announces. */
	load("handshake4", 0, &p);
	insert(&p, 12, q, 4);
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.seq, 2315836161u);
	cr_assert_eq(s.l3, p.b + ETH + 4);

	insert(&p, 12, ad, 4);
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.l3, p.b + ETH + 8);

	insert(&p, 12, q, 4);
	expect_reason(parse(&p, &s), SG_R_LINK_NOT_IP);
}

Test(codec, rejects_a_cut_vlan_tag)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	insert(&p, 12, (uint8_t[]){0x81, 0x00, 0x00, 0x64}, 4);
	expect_reason(codec_parse(p.b, 16, SG_LINK_ETHER, SG_CSUM_VERIFY, &s),
	              SG_R_LINK_TRUNCATED);
	expect_reason(codec_parse(p.b, 18, SG_LINK_ETHER, SG_CSUM_VERIFY, &s),
	              SG_R_IP_TRUNCATED);
}

Test(codec, rejects_non_ip_ethertypes)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	wr16(p.b + 12, 0x0806); /* ARP */
	expect_reason(parse(&p, &s), SG_R_LINK_NOT_IP);
	expect_reason(
	    codec_parse(p.b, p.len, (enum sg_link)7, SG_CSUM_VERIFY, &s),
	    SG_R_LINK_NOT_IP);
}

Test(codec, rejects_an_ip_version_the_ethertype_does_not_announce)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	wr16(p.b + 12, 0x86dd);
	expect_reason(parse(&p, &s), SG_R_IP_BAD_VERSION);

	load("handshake6", 0, &p);
	wr16(p.b + 12, 0x0800);
	expect_reason(parse(&p, &s), SG_R_IP_BAD_VERSION);

	p.b[ETH] = 0x50;
	expect_reason(
	    codec_parse(p.b + ETH, p.len - ETH, SG_LINK_IP, SG_CSUM_VERIFY, &s),
	    SG_R_IP_BAD_VERSION);
}

/* Every prefix of a real SYN: the right reason, and no read past it. */
static void
check_every_prefix(const char *name, enum sg_link link, size_t l2)
{
	struct pkt p;
	struct sg_segment s;
	enum sg_reason r;
	uint8_t *copy;
	size_t n;

	load(name, 0, &p);
	p.len -= ETH - l2; /* the frame starts at p.b + ETH - l2 */
	for (n = 0; n < p.len; n++) {
		copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, p.b + ETH - l2, n);
		r = codec_parse(copy, n, link, SG_CSUM_VERIFY, &s);
		free(copy);
		if (n < l2)
			expect_reason(r, SG_R_LINK_TRUNCATED);
		else
			expect_reason(r, SG_R_IP_TRUNCATED);
	}
	copy = malloc(n);
	memcpy(copy, p.b + ETH - l2, n);
	r = codec_parse(copy, n, link, SG_CSUM_VERIFY, &s);
	free(copy);
	expect_reason(r, SG_R_NONE);
}

Test(codec, rejects_every_truncation_of_a_real_ipv4_syn)
{
	check_every_prefix("handshake4", SG_LINK_ETHER, ETH);
	check_every_prefix("handshake4", SG_LINK_IP, 0);
}

Test(codec, rejects_every_truncation_of_a_real_ipv6_syn)
{
	check_every_prefix("handshake6", SG_LINK_ETHER, ETH);
	check_every_prefix("handshake6", SG_LINK_IP, 0);
}

/*
 * The IP length fields shrunk to every value short of the full segment:
 * the datagram then ends inside the TCP header or its options.
 */
Test(codec, rejects_every_datagram_ending_inside_the_tcp_header)
{
	struct pkt p, q;
	struct sg_segment s;
	enum sg_reason want;
	size_t k;

	load("handshake4", 0, &p); /* TCP header 40 bytes, options included */
	for (k = 0; k < 40; k++) {
		q = p;
		wr16(q.b + ETH + 2, (uint16_t)(20 + k));
		fix_ip4(q.b + ETH);
		want = k < 20 ? SG_R_TCP_TRUNCATED : SG_R_TCP_BAD_DOFF;
		expect_reason(
		    codec_parse(q.b, q.len, SG_LINK_ETHER, SG_CSUM_TRUSTED, &s),
		    want);
	}
	load("handshake6", 0, &p);
	for (k = 0; k < 40; k++) {
		q = p;
		wr16(q.b + ETH + 4, (uint16_t)k);
		want = k < 20 ? SG_R_TCP_TRUNCATED : SG_R_TCP_BAD_DOFF;
		expect_reason(
		    codec_parse(q.b, q.len, SG_LINK_ETHER, SG_CSUM_TRUSTED, &s),
		    want);
	}
}

Test(codec, rejects_an_ipv4_header_length_below_five_words)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	p.b[ETH] = 0x44;
	expect_reason(parse(&p, &s), SG_R_IP_BAD_HDRLEN);
}

Test(codec, rejects_an_ipv4_total_length_out_of_bounds)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	wr16(p.b + ETH + 2, 19);
	fix_ip4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_IP_BAD_TOTLEN);

	wr16(p.b + ETH + 2, (uint16_t)(p.len - ETH + 1));
	fix_ip4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_IP_TRUNCATED);

	/* An IHL pointing past the total length is as bad. */
	load("handshake4", 0, &p);
	p.b[ETH] = 0x4f;
	wr16(p.b + ETH + 2, 56);
	expect_reason(parse(&p, &s), SG_R_IP_BAD_TOTLEN);
}

Test(codec, accepts_ipv4_options)
{
	static const uint8_t ra[4] = {0x94, 0x04, 0x00, 0x00}; /* RFC 2113 */
	static const uint8_t nops[8] = {1, 1, 1, 1, 1, 1, 1, 0};
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	add_ip4_options(&p, ra, sizeof(ra));
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.l4, p.b + ETH + 24);
	cr_assert_eq(s.tuple.peer_port, 34396);
	cr_assert_eq(s.opts.mss, 1460);

	add_ip4_options(&p, nops, sizeof(nops));
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.l4, p.b + ETH + 32);
}

Test(codec, rejects_a_bad_ipv4_header_checksum_even_when_tcp_is_trusted)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	p.b[ETH + 8] = 63; /* TTL changed, header checksum not */
	expect_reason(parse(&p, &s), SG_R_IP_BAD_CSUM);
	expect_reason(
	    codec_parse(p.b, p.len, SG_LINK_ETHER, SG_CSUM_TRUSTED, &s),
	    SG_R_IP_BAD_CSUM);
}

Test(codec, rejects_ipv4_fragments)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	wr16(p.b + ETH + 6, 0x2000); /* MF, offset 0: first fragment */
	fix_ip4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_IP_FRAGMENT);
	wr16(p.b + ETH + 6, 0x0001); /* offset 8: a later fragment */
	fix_ip4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_IP_FRAGMENT);
	wr16(p.b + ETH + 6, 0x0000); /* neither DF nor MF: whole */
	fix_ip4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_NONE);
}

Test(codec, rejects_ipv4_protocols_other_than_tcp)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	p.b[ETH + 9] = 17;
	fix_ip4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_IP_NOT_TCP);
}

/* Set IPv4 address field at off (12 source, 16 destination), fix sums. */
static enum sg_reason
parse_with_addr4(int off, const char *a)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	addr4(p.b + ETH + off, a);
	fix_ip4(p.b + ETH);
	fix_tcp4(p.b + ETH);
	return parse(&p, &s);
}

Test(codec, never_answers_unspecified_broadcast_or_multicast_ipv4)
{
	expect_reason(parse_with_addr4(12, "0.0.0.0"), SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr4(16, "0.0.0.0"), SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr4(12, "255.255.255.255"),
	              SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr4(16, "255.255.255.255"),
	              SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr4(12, "224.0.0.1"), SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr4(16, "239.255.255.250"),
	              SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr4(12, "223.255.255.255"), SG_R_NONE);
	expect_reason(parse_with_addr4(12, "127.0.0.1"), SG_R_NONE);
}

/* Set IPv6 address field at off (8 source, 24 destination), fix sums. */
static enum sg_reason
parse_with_addr6(int off, const char *a)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 0, &p);
	addr6(p.b + ETH + off, a);
	fix_tcp6(p.b + ETH, 40);
	return parse(&p, &s);
}

Test(codec, never_answers_unspecified_or_multicast_ipv6)
{
	expect_reason(parse_with_addr6(8, "::"), SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr6(24, "::"), SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr6(8, "ff02::1"), SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr6(24, "ff0e::1:3"), SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr6(8, "::ffff:198.18.0.1"),
	              SG_R_IP_BAD_ADDR);
	expect_reason(parse_with_addr6(8, "::1"), SG_R_NONE);
	expect_reason(parse_with_addr6(8, "fe80::1"), SG_R_NONE);
}

Test(codec, rejects_an_ipv6_payload_length_past_the_frame)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 0, &p);
	wr16(p.b + ETH + 4, 41);
	expect_reason(parse(&p, &s), SG_R_IP_TRUNCATED);
}

/* An 8-byte extension header: next header (overwritten), length 0, PadN. */
static const uint8_t ext8[8] = {0, 0, 1, 4, 0, 0, 0, 0};

Test(codec, walks_ipv6_hop_by_hop_routing_and_destination_options)
{
	uint8_t rh[24] = {0, 2, 4, 0}; /* routing type 4, segments left 0 */
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 0, &p);
	add_ip6_ext(&p, 60, ext8, sizeof(ext8));
	add_ip6_ext(&p, 43, rh, sizeof(rh));
	add_ip6_ext(&p, 0, ext8, sizeof(ext8));
	expect_reason(parse(&p, &s), SG_R_NONE);
	cr_assert_eq(s.l4, p.b + ETH + 40 + 8 + 24 + 8);
	cr_assert_eq(s.l4_len, 40);
	cr_assert_eq(s.seq, 2248513459u);
	cr_assert_eq(s.opts.mss, 1440);
}

Test(codec, rejects_hop_by_hop_options_anywhere_but_first)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 0, &p);
	add_ip6_ext(&p, 0, ext8, sizeof(ext8));
	add_ip6_ext(&p, 60, ext8, sizeof(ext8));
	expect_reason(parse(&p, &s), SG_R_IP6_EXTHDR_BAD);
}

Test(codec, rejects_a_routing_header_with_segments_left)
{
	uint8_t rh[24] = {0, 2, 4, 1};
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 0, &p);
	add_ip6_ext(&p, 43, rh, sizeof(rh));
	expect_reason(parse(&p, &s), SG_R_IP6_EXTHDR_BAD);
}

Test(codec, rejects_an_extension_header_running_past_the_packet)
{
	uint8_t big[8] = {0, 9, 1, 4};
	struct pkt p;
	struct sg_segment s;
	size_t k;

	/* Its length claims 80 bytes; only 8 + 40 of TCP follow. */
	load("handshake6", 0, &p);
	add_ip6_ext(&p, 60, big, sizeof(big));
	expect_reason(parse(&p, &s), SG_R_IP6_EXTHDR_BAD);

	/* The packet ends inside the extension header, at every length. */
	load("handshake6", 0, &p);
	add_ip6_ext(&p, 60, ext8, sizeof(ext8));
	for (k = 0; k < 8; k++) {
		wr16(p.b + ETH + 4, (uint16_t)k);
		expect_reason(parse(&p, &s), SG_R_IP6_EXTHDR_BAD);
	}
}

Test(codec, bounds_the_number_of_extension_headers)
{
	struct pkt p;
	struct sg_segment s;
	int i;

	load("handshake6", 0, &p);
	for (i = 0; i < 8; i++)
		add_ip6_ext(&p, 60, ext8, sizeof(ext8));
	expect_reason(parse(&p, &s), SG_R_NONE);
	add_ip6_ext(&p, 60, ext8, sizeof(ext8));
	expect_reason(parse(&p, &s), SG_R_IP6_EXTHDR_BAD);
}

Test(codec, rejects_ipv6_fragments_and_other_protocols)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake6", 0, &p);
	add_ip6_ext(&p, 44, ext8, sizeof(ext8));
	expect_reason(parse(&p, &s), SG_R_IP_FRAGMENT);

	load("handshake6", 0, &p);
	p.b[ETH + 6] = 17;
	expect_reason(parse(&p, &s), SG_R_IP_NOT_TCP);
	p.b[ETH + 6] = 59; /* no next header */
	expect_reason(parse(&p, &s), SG_R_IP_NOT_TCP);

	load("handshake6", 0, &p);
	add_ip6_ext(&p, 60, ext8, sizeof(ext8));
	p.b[ETH + 40] = 58; /* ICMPv6 behind destination options */
	expect_reason(parse(&p, &s), SG_R_IP_NOT_TCP);
}

Test(codec, rejects_a_tcp_data_offset_below_five_or_past_the_segment)
{
	struct pkt p;
	struct sg_segment s;
	int d;

	for (d = 0; d < 16; d++) {
		load("handshake4", 0, &p);
		p.b[ETH + 20 + 12] = (uint8_t)(d << 4);
		fix_tcp4(p.b + ETH);
		if (d < 5 || d > 10)
			expect_reason(parse(&p, &s), SG_R_TCP_BAD_DOFF);
		else
			cr_assert_neq(parse(&p, &s), SG_R_TCP_BAD_DOFF);
	}
}

Test(codec, rejects_port_zero)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	wr16(p.b + ETH + 20, 0);
	fix_tcp4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_TCP_BAD_PORT);

	load("handshake6", 0, &p);
	wr16(p.b + ETH + 40 + 2, 0);
	fix_tcp6(p.b + ETH, 40);
	expect_reason(parse(&p, &s), SG_R_TCP_BAD_PORT);
}

Test(codec, rejects_a_bad_tcp_checksum_only_when_asked_to_verify)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	p.b[p.len - 1] ^= 0x01; /* the window scale shift */
	expect_reason(parse(&p, &s), SG_R_TCP_BAD_CSUM);
	expect_reason(
	    codec_parse(p.b, p.len, SG_LINK_ETHER, SG_CSUM_TRUSTED, &s),
	    SG_R_NONE);
	cr_assert_eq(s.opts.wscale, 11);
	cr_assert_not(codec_tcp_csum_ok(&s));

	load("handshake6", 0, &p);
	p.b[ETH + 40 + 4] ^= 0x80;
	expect_reason(parse(&p, &s), SG_R_TCP_BAD_CSUM);
}

Test(codec, covers_the_pseudo_header_in_the_tcp_checksum)
{
	struct pkt p;
	struct sg_segment s;

	/* Another source address, the IPv4 header fixed, TCP left alone. */
	load("handshake4", 0, &p);
	addr4(p.b + ETH + 12, "198.18.0.3");
	fix_ip4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_TCP_BAD_CSUM);

	load("handshake6", 0, &p);
	addr6(p.b + ETH + 24, "fd00:198:18::3");
	expect_reason(parse(&p, &s), SG_R_TCP_BAD_CSUM);
}

Test(codec, rejects_malformed_options_in_a_segment)
{
	struct pkt p;
	struct sg_segment s;

	load("handshake4", 0, &p);
	p.b[ETH + 20 + 20 + 1] = 5; /* MSS length 5 */
	fix_tcp4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_OPT_BAD_LEN);
	p.b[ETH + 20 + 20 + 1] = 60; /* runs past the header */
	fix_tcp4(p.b + ETH);
	expect_reason(parse(&p, &s), SG_R_OPT_TRUNCATED);
}

Test(codec, computes_the_rfc1071_example_checksum)
{
	/* RFC 1071 3: these bytes sum to ddf2; odd lengths pad with zero. */
	static const uint8_t d[8] = {0x00, 0x01, 0xf2, 0x03,
	                             0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t odd[3] = {0x01, 0x02, 0x03};

	cr_assert_eq(codec_csum_fold(codec_csum_add(0, d, 8)), 0x220d);
	cr_assert_eq(codec_csum_fold(codec_csum_add(0, odd, 3)),
	             (uint16_t)~0x0402);
	cr_assert_eq(
	    codec_csum_fold(codec_csum_add(codec_csum_add(0, d, 4), d + 4, 4)),
	    0x220d);
}

/* ===================================================================== */
/* options                                                               */
/* ===================================================================== */

/* Parse an options area given as a list of bytes. */
#define OPTS(out, ...)                                                         \
	codec_parse_options((const uint8_t[]){__VA_ARGS__},                    \
	                    sizeof((const uint8_t[]){__VA_ARGS__}), (out))

Test(options, parses_a_linux_syn)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x6c, 0x36, 0xf0,
	                   0xe9, 0, 0, 0, 0, 1, 3, 3, 7),
	              SG_R_NONE);
	cr_assert_eq(o.flags,
	             SG_OPT_MSS | SG_OPT_SACKOK | SG_OPT_TS | SG_OPT_WSCALE);
	cr_assert_eq(o.mss, 1460);
	cr_assert_eq(o.tsval, 0x6c36f0e9u);
	cr_assert_eq(o.tsecr, 0);
	cr_assert_eq(o.wscale, 7);
}

Test(options, reports_nothing_for_an_empty_area)
{
	struct sg_tcpopts o;

	memset(&o, 0xa5, sizeof(o));
	expect_reason(codec_parse_options(NULL, 0, &o), SG_R_NONE);
	cr_assert_eq(o.flags, 0);
	cr_assert_eq(o.mss, 0);
	cr_assert_eq(o.tsval, 0);
}

Test(options, treats_nop_as_padding)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	                   1, 1, 1, 1, 2, 4),
	              SG_R_OPT_TRUNCATED);
	expect_reason(OPTS(&o, 1, 1, 1, 2, 4, 0x02, 0x18), SG_R_NONE);
	cr_assert_eq(o.flags, SG_OPT_MSS);
	cr_assert_eq(o.mss, 536);
}

Test(options, stops_at_end_of_option_list)
{
	struct sg_tcpopts o;

	/* What follows EOL is padding, whatever it looks like. */
	expect_reason(OPTS(&o, 2, 4, 0x05, 0xb4, 0, 3, 0, 0xff, 0xff),
	              SG_R_NONE);
	cr_assert_eq(o.flags, SG_OPT_MSS);
	expect_reason(OPTS(&o, 0, 2, 4, 0x05, 0xb4), SG_R_NONE);
	cr_assert_eq(o.flags, 0);
}

Test(options, skips_unknown_options)
{
	struct sg_tcpopts o;

	/* 30 = MPTCP, 34 = TFO cookie, 253 = experimental (RFC 6994). */
	expect_reason(
	    OPTS(&o, 30, 4, 0, 0x81, 34, 2, 253, 6, 1, 2, 3, 4, 3, 3, 9),
	    SG_R_NONE);
	cr_assert_eq(o.flags, SG_OPT_WSCALE);
	cr_assert_eq(o.wscale, 9);
}

Test(options, rejects_an_option_length_of_zero_or_one)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 30, 0, 1, 1), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 30, 1, 1, 1), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 2, 0, 5, 0xb4), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 8, 1), SG_R_OPT_BAD_LEN);
}

Test(options, rejects_an_option_running_past_the_end)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 30, 5, 0, 0), SG_R_OPT_TRUNCATED);
	expect_reason(OPTS(&o, 2, 4, 5), SG_R_OPT_TRUNCATED);
	expect_reason(OPTS(&o, 8, 10, 0, 0, 0, 1, 0, 0, 0), SG_R_OPT_TRUNCATED);
	/* A kind byte with no room for its length byte. */
	expect_reason(OPTS(&o, 1, 1, 1, 3), SG_R_OPT_TRUNCATED);
	expect_reason(OPTS(&o, 2), SG_R_OPT_TRUNCATED);
}

Test(options, rejects_a_known_option_with_the_wrong_length)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 2, 3, 5, 1), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 2, 6, 5, 0xb4, 0, 0), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 3, 2, 1, 1), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 3, 4, 7, 0), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 4, 3, 0, 1), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 8, 8, 0, 0, 0, 1, 0, 0), SG_R_OPT_BAD_LEN);
	expect_reason(OPTS(&o, 8, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0),
	              SG_R_OPT_BAD_LEN);
}

Test(options, clamps_window_scale_to_fourteen)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 3, 3, 14), SG_R_NONE);
	cr_assert_eq(o.wscale, 14);
	expect_reason(OPTS(&o, 3, 3, 15), SG_R_NONE);
	cr_assert_eq(o.wscale, 14);
	expect_reason(OPTS(&o, 3, 3, 255), SG_R_NONE);
	cr_assert_eq(o.wscale, 14);
	expect_reason(OPTS(&o, 3, 3, 0), SG_R_NONE);
	cr_assert_eq(o.wscale, 0);
	cr_assert_eq(o.flags, SG_OPT_WSCALE);
}

Test(options, reports_an_mss_of_zero_as_sent)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 2, 4, 0, 0), SG_R_NONE);
	cr_assert_eq(o.flags, SG_OPT_MSS);
	cr_assert_eq(o.mss, 0);
}

Test(options, keeps_the_last_copy_of_a_repeated_option)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 2, 4, 5, 0xb4, 2, 4, 2, 0x18), SG_R_NONE);
	cr_assert_eq(o.mss, 536);
}

Test(options, reads_timestamps_in_network_order)
{
	struct sg_tcpopts o;

	expect_reason(OPTS(&o, 1, 1, 8, 10, 0xfc, 0x09, 0x49, 0xcc, 0x6c, 0x36,
	                   0xf0, 0xe9),
	              SG_R_NONE);
	cr_assert_eq(o.flags, SG_OPT_TS);
	cr_assert_eq(o.tsval, 4228467148u);
	cr_assert_eq(o.tsecr, 1815539945u);
}

Test(options, never_reads_past_the_area_whatever_its_content)
{
	uint8_t src[40], *copy;
	struct sg_tcpopts o;
	size_t n, i;
	unsigned seed = 1;

	/* Pseudo-random areas of every length, each in an exact heap block. */
	for (i = 0; i < 2000; i++) {
		n = i % 41;
		for (size_t j = 0; j < n; j++) {
			seed = seed * 1103515245u + 12345u;
			src[j] = (uint8_t)((seed >> 16) % 12);
		}
		copy = malloc(n ? n : 1);
		cr_assert_not_null(copy);
		memcpy(copy, src, n);
		(void)codec_parse_options(copy, n, &o);
		free(copy);
		cr_assert_leq(o.wscale, 14);
	}
}

/* ===================================================================== */
/* build                                                                 */
/* ===================================================================== */

/* A reply from 198.18.0.2:5001 (us) to 198.18.0.1:34396, or IPv6 alike. */
static void
reply_init(struct sg_reply *r, int fam, uint8_t flags, uint8_t optflags)
{
	uint8_t peer[16], local[16];

	memset(r, 0, sizeof(*r));
	if (fam == AF_INET) {
		addr4(peer, "198.18.0.1");
		addr4(local, "198.18.0.2");
		tuple_init_v4(&r->tuple, peer, 34396, local, 5001);
	} else {
		addr6(peer, "fd00:198:18::1");
		addr6(local, "fd00:198:18::2");
		tuple_init_v6(&r->tuple, peer, 34396, local, 5001);
	}
	r->seq = 0xfedcba98;
	r->ack = 0x01234568;
	r->window = 65160;
	r->flags = flags;
	r->opts.flags = optflags;
	r->opts.mss = 1460;
	r->opts.wscale = 7;
	r->opts.tsval = 0x11223344;
	r->opts.tsecr = 0xaabbccdd;
}

/* The option bytes Linux's tcp_options_write() emits for flags f. */
static size_t
linux_layout(uint8_t f, const struct sg_tcpopts *o, uint8_t *b)
{
	size_t n = 0;

	if (f & SG_OPT_MSS) {
		memcpy(
		    b + n,
		    (uint8_t[]){2, 4, (uint8_t)(o->mss >> 8), (uint8_t)o->mss},
		    4);
		n += 4;
	}
	if (f & SG_OPT_TS) {
		b[n++] = (f & SG_OPT_SACKOK) ? 4 : 1;
		b[n++] = (f & SG_OPT_SACKOK) ? 2 : 1;
		b[n++] = 8;
		b[n++] = 10;
		b[n++] = (uint8_t)(o->tsval >> 24);
		b[n++] = (uint8_t)(o->tsval >> 16);
		b[n++] = (uint8_t)(o->tsval >> 8);
		b[n++] = (uint8_t)o->tsval;
		b[n++] = (uint8_t)(o->tsecr >> 24);
		b[n++] = (uint8_t)(o->tsecr >> 16);
		b[n++] = (uint8_t)(o->tsecr >> 8);
		b[n++] = (uint8_t)o->tsecr;
	} else if (f & SG_OPT_SACKOK) {
		memcpy(b + n, (uint8_t[]){1, 1, 4, 2}, 4);
		n += 4;
	}
	if (f & SG_OPT_WSCALE) {
		memcpy(b + n, (uint8_t[]){1, 3, 3, o->wscale}, 4);
		n += 4;
	}
	return n;
}

/* Build r, parse it back with checksum verification, check every field. */
static void
round_trip(const struct sg_reply *r, size_t want_optlen)
{
	uint8_t buf[SG_REPLY_MAX], want[40];
	size_t l3 = r->tuple.family == AF_INET ? 20 : 40, n;
	struct sg_segment s;
	struct sg_tuple back;

	n = codec_build(r, buf, sizeof(buf));
	cr_assert_eq(n, l3 + 20 + want_optlen);
	expect_reason(codec_parse(buf, n, SG_LINK_IP, SG_CSUM_VERIFY, &s),
	              SG_R_NONE);
	cr_assert(codec_tcp_csum_ok(&s));
	/* What we send, seen from the other end, is the tuple reversed. */
	if (r->tuple.family == AF_INET)
		tuple_init_v4(&back, r->tuple.local_addr, r->tuple.local_port,
		              r->tuple.peer_addr, r->tuple.peer_port);
	else
		tuple_init_v6(&back, r->tuple.local_addr, r->tuple.local_port,
		              r->tuple.peer_addr, r->tuple.peer_port);
	cr_assert(tuple_equal(&s.tuple, &back));
	cr_assert_eq(s.seq, r->seq);
	cr_assert_eq(s.ack, r->ack);
	cr_assert_eq(s.window, r->window);
	cr_assert_eq(s.flags, r->flags);
	cr_assert_eq(s.ttl, r->ttl ? r->ttl : 64);
	cr_assert_eq(s.payload_len, 0);
	cr_assert_eq(s.l4_len % 4, 0);
	if (want_optlen == 0) {
		cr_assert_eq(s.opts.flags, 0);
		return;
	}
	cr_assert_eq(s.opts.flags, r->opts.flags);
	if (r->opts.flags & SG_OPT_MSS)
		cr_assert_eq(s.opts.mss, r->opts.mss);
	if (r->opts.flags & SG_OPT_WSCALE)
		cr_assert_eq(s.opts.wscale, r->opts.wscale);
	if (r->opts.flags & SG_OPT_TS) {
		cr_assert_eq(s.opts.tsval, r->opts.tsval);
		cr_assert_eq(s.opts.tsecr, r->opts.tsecr);
	}
	cr_assert_eq(linux_layout(r->opts.flags, &r->opts, want), want_optlen);
	cr_assert_arr_eq(buf + l3 + 20, want, want_optlen);
}

/* Option bytes for flags f: 4 MSS, 12 TS (+SACK), 4 SACK alone, 4 WS. */
static size_t
optlen(uint8_t f)
{
	return ((f & SG_OPT_MSS) ? 4 : 0) + ((f & SG_OPT_TS) ? 12 : 0) +
	       ((f & SG_OPT_SACKOK) && !(f & SG_OPT_TS) ? 4 : 0) +
	       ((f & SG_OPT_WSCALE) ? 4 : 0);
}

Test(build, synack_round_trips_with_every_option_combination_ipv4)
{
	struct sg_reply r;
	uint8_t f;

	for (f = 0; f < 16; f++) {
		reply_init(&r, AF_INET, SG_TCP_SYN | SG_TCP_ACK, f);
		round_trip(&r, optlen(f));
	}
}

Test(build, synack_round_trips_with_every_option_combination_ipv6)
{
	struct sg_reply r;
	uint8_t f;

	for (f = 0; f < 16; f++) {
		reply_init(&r, AF_INET6, SG_TCP_SYN | SG_TCP_ACK, f);
		round_trip(&r, optlen(f));
	}
}

Test(build, rst_carries_no_options)
{
	struct sg_reply r;
	uint8_t buf[SG_REPLY_MAX];

	reply_init(&r, AF_INET, SG_TCP_RST | SG_TCP_ACK, 0x0f);
	round_trip(&r, 0);
	cr_assert_eq(codec_build(&r, buf, sizeof(buf)), 40);
	cr_assert_eq(buf[20 + 12], 5 << 4);

	reply_init(&r, AF_INET6, SG_TCP_RST, 0x0f);
	r.ack = 0;
	round_trip(&r, 0);
	cr_assert_eq(codec_build(&r, buf, sizeof(buf)), 60);
}

Test(build, writes_only_timestamps_on_a_segment_without_syn)
{
	struct sg_reply r;
	uint8_t buf[SG_REPLY_MAX];
	static const uint8_t want[12] = {1,    1,    8,    10,   0x11, 0x22,
	                                 0x33, 0x44, 0xaa, 0xbb, 0xcc, 0xdd};

	reply_init(&r, AF_INET, SG_TCP_ACK, 0x0f);
	cr_assert_eq(codec_build(&r, buf, sizeof(buf)), 52);
	cr_assert_arr_eq(buf + 40, want, sizeof(want));
}

Test(build, writes_an_ipv4_header_like_linux)
{
	struct sg_reply r;
	uint8_t buf[SG_REPLY_MAX];
	size_t n;

	reply_init(&r, AF_INET, SG_TCP_SYN | SG_TCP_ACK, 0x0f);
	n = codec_build(&r, buf, sizeof(buf));
	cr_assert_eq(n, 60);
	cr_assert_eq(buf[0], 0x45);
	cr_assert_eq(buf[1], 0); /* TOS */
	cr_assert_eq(rd16(buf + 2), 60);
	cr_assert_eq(rd16(buf + 4), 0);      /* IP ID */
	cr_assert_eq(rd16(buf + 6), 0x4000); /* DF, no offset */
	cr_assert_eq(buf[8], 64);
	cr_assert_eq(buf[9], 6);
	cr_assert_eq(codec_csum_fold(codec_csum_add(0, buf, 20)), 0);
	cr_assert_eq(memcmp(buf + 12, r.tuple.local_addr, 4), 0);
	cr_assert_eq(memcmp(buf + 16, r.tuple.peer_addr, 4), 0);
	cr_assert_eq(rd16(buf + 20), 5001);
	cr_assert_eq(rd16(buf + 22), 34396);
}

Test(build, writes_an_ipv6_header_with_flow_label_zero)
{
	struct sg_reply r;
	uint8_t buf[SG_REPLY_MAX];
	static const uint8_t vtf[4] = {0x60, 0, 0, 0};

	reply_init(&r, AF_INET6, SG_TCP_SYN | SG_TCP_ACK, 0x0f);
	cr_assert_eq(codec_build(&r, buf, sizeof(buf)), 80);
	cr_assert_arr_eq(buf, vtf, 4);
	cr_assert_eq(rd16(buf + 4), 40);
	cr_assert_eq(buf[6], 6);
	cr_assert_eq(buf[7], 64);
	cr_assert_eq(memcmp(buf + 8, r.tuple.local_addr, 16), 0);
	cr_assert_eq(memcmp(buf + 24, r.tuple.peer_addr, 16), 0);
}

Test(build, uses_the_given_ttl_and_64_for_zero)
{
	struct sg_reply r;
	struct sg_segment s;
	uint8_t buf[SG_REPLY_MAX];
	size_t n;

	reply_init(&r, AF_INET, SG_TCP_SYN | SG_TCP_ACK, 0);
	r.ttl = 255;
	n = codec_build(&r, buf, sizeof(buf));
	expect_reason(codec_parse(buf, n, SG_LINK_IP, SG_CSUM_VERIFY, &s),
	              SG_R_NONE);
	cr_assert_eq(s.ttl, 255);
	reply_init(&r, AF_INET6, SG_TCP_SYN | SG_TCP_ACK, 0);
	r.ttl = 1;
	n = codec_build(&r, buf, sizeof(buf));
	cr_assert_eq(buf[7], 1);
	r.ttl = 0;
	n = codec_build(&r, buf, sizeof(buf));
	cr_assert_eq(buf[7], 64);
}

Test(build, clamps_the_window_scale_it_sends)
{
	struct sg_reply r;
	uint8_t buf[SG_REPLY_MAX];

	reply_init(&r, AF_INET, SG_TCP_SYN | SG_TCP_ACK, SG_OPT_WSCALE);
	r.opts.wscale = 20;
	cr_assert_eq(codec_build(&r, buf, sizeof(buf)), 44);
	cr_assert_eq(buf[43], 14);
}

Test(build, refuses_a_buffer_too_small_and_writes_nothing_past_it)
{
	struct sg_reply r;
	uint8_t *buf;
	size_t n;

	reply_init(&r, AF_INET6, SG_TCP_SYN | SG_TCP_ACK, 0x0f);
	for (n = 0; n < 80; n++) {
		buf = malloc(n ? n : 1);
		cr_assert_not_null(buf);
		cr_assert_eq(codec_build(&r, buf, n), 0, "len %zu", n);
		free(buf);
	}
	buf = malloc(80);
	cr_assert_eq(codec_build(&r, buf, 80), 80);
	free(buf);
	cr_assert_geq(SG_REPLY_MAX, 80);
}

Test(build, refuses_an_unknown_family)
{
	struct sg_reply r;
	uint8_t buf[SG_REPLY_MAX];

	reply_init(&r, AF_INET, SG_TCP_RST, 0);
	r.tuple.family = AF_UNIX;
	cr_assert_eq(codec_build(&r, buf, sizeof(buf)), 0);
}

/*
 * Our SYN-ACK for the SYN in a capture, given the kernel's choices (ISN,
 * window, options), must be the kernel's SYN-ACK byte for byte. Masked:
 * the IPv6 flow label, which Linux derives from a per-boot hash of the
 * flow (ip6_make_flowlabel); we send 0, which RFC 6437 allows. Nothing is
 * masked for IPv4: Linux also sends IP ID 0 with DF on a SYN-ACK.
 */
static void
same_as_kernel_synack(const char *name)
{
	struct pkt syn, synack;
	struct sg_segment in, k;
	struct sg_reply r;
	uint8_t buf[SG_REPLY_MAX];
	size_t n, l3len;

	load(name, 0, &syn);
	load(name, 1, &synack);
	expect_reason(parse(&syn, &in), SG_R_NONE);
	expect_reason(parse(&synack, &k), SG_R_NONE);

	memset(&r, 0, sizeof(r));
	r.tuple = in.tuple;
	r.seq = k.seq;
	r.ack = in.seq + 1;
	r.window = k.window;
	r.flags = SG_TCP_SYN | SG_TCP_ACK;
	r.opts = k.opts;
	n = codec_build(&r, buf, sizeof(buf));
	l3len = synack.len - ETH;
	cr_assert_eq(n, l3len);
	if (r.tuple.family == AF_INET6) {
		cr_assert_eq(buf[0], synack.b[ETH]);
		cr_assert_eq(buf[1] & 0xf0, synack.b[ETH + 1] & 0xf0);
		cr_assert_arr_eq(buf + 4, synack.b + ETH + 4, n - 4);
	} else
		cr_assert_arr_eq(buf, synack.b + ETH, n);
}

Test(build, synack_matches_the_kernel_byte_for_byte_ipv4)
{
	same_as_kernel_synack("handshake4");
	same_as_kernel_synack("handshake4-nots");
}

Test(build, synack_matches_the_kernel_byte_for_byte_ipv6)
{
	same_as_kernel_synack("handshake6");
	same_as_kernel_synack("handshake6-mss");
}
