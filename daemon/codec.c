/*
 * codec.c -- the frame codec, first and last stage of the packet path.
 *
 * In: a frame as the packet tap captured it (Ethernet or bare IP), parsed
 * into IPv4 or IPv6 plus TCP, options included. Out: the SYN-ACK and RST
 * segments the handshake engine asks for, byte for byte what Linux would
 * send, with correct checksums.
 *
 * Every byte of a frame comes from an attacker. Nothing here may read past
 * the length it was given, trust a length field before checking it against
 * that length, allocate, or touch a socket or a clock.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "codec.h"

#define ETH_HDR_LEN 14
#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100  /* customer VLAN tag */
#define ETH_P_8021AD 0x88a8 /* service VLAN tag (QinQ) */
#define VLAN_TAG_LEN 4
#define VLAN_MAX_TAGS 2 /* 802.1ad outer + 802.1Q inner; more is not ours */

#define IPV4_HDR_MIN 20
#define IPV4_DF 0x4000
#define IPV4_MF 0x2000
#define IPV4_OFFMASK 0x1fff
#define IPV6_HDR_LEN 40
#define IPV6_MAX_EXTHDRS 8 /* bounds the walk; real stacks send one or two */

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_TCP_ 6
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_DSTOPTS_ 60

#define TCP_HDR_MIN 20
#define TCP_HDR_MAX 60

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WSCALE 3
#define TCPOPT_SACKOK 4
#define TCPOPT_TS 8
#define TCPOLEN_MSS 4
#define TCPOLEN_WSCALE 3
#define TCPOLEN_SACKOK 2
#define TCPOLEN_TS 10
#define TCP_MAX_WSCALE 14 /* RFC 7323 2.3 */

#define DEFAULT_TTL 64

/* Read a big-endian 16-bit field. */
static inline uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Read a big-endian 32-bit field. */
static inline uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Write a big-endian 16-bit field. */
static inline void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Write a big-endian 32-bit field. */
static inline void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Internet checksum (RFC 1071): add data, as big-endian 16-bit words, to a
 * running sum. A trailing odd byte counts as the high byte of a word, so
 * only the last piece of a checksummed area may have an odd length.
 */
uint32_t
codec_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		acc += get16(p + i);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

/* Fold a running sum to 16 bits and complement it: the field's value. */
uint16_t
codec_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the TCP pseudo-header (RFC 9293 3.1, RFC 8200 8.1). */
static uint32_t
pseudo_sum(uint8_t family, const uint8_t *src, const uint8_t *dst,
           uint32_t l4_len)
{
	uint8_t tail[8];
	uint32_t sum;

	if (family == AF_INET) {
		sum = codec_csum_add(0, src, 4);
		sum = codec_csum_add(sum, dst, 4);
		put16(tail, IPPROTO_TCP_);
		put16(tail + 2, (uint16_t)l4_len);
		return codec_csum_add(sum, tail, 4);
	}
	sum = codec_csum_add(0, src, 16);
	sum = codec_csum_add(sum, dst, 16);
	put32(tail, l4_len);
	put32(tail + 4, IPPROTO_TCP_);
	return codec_csum_add(sum, tail, 8);
}

/* Verify the TCP checksum of a parsed segment: 1 if good, 0 if not. */
int
codec_tcp_csum_ok(const struct sg_segment *seg)
{
	uint32_t sum;

	if (seg->l4 == NULL || seg->l4_len < TCP_HDR_MIN)
		return 0;
	sum = pseudo_sum(seg->tuple.family, seg->tuple.peer_addr,
	                 seg->tuple.local_addr, seg->l4_len);
	sum = codec_csum_add(sum, seg->l4, seg->l4_len);
	return codec_csum_fold(sum) == 0;
}

void
codec_tcp_csum_set(const struct sg_segment *seg, uint8_t *l4)
{
	uint32_t sum;

	if (seg->l4 == NULL || seg->l4_len < TCP_HDR_MIN)
		return;
	l4[16] = l4[17] = 0;
	sum = pseudo_sum(seg->tuple.family, seg->tuple.peer_addr,
	                 seg->tuple.local_addr, seg->l4_len);
	sum = codec_csum_add(sum, l4, seg->l4_len);
	put16(l4 + 16, codec_csum_fold(sum));
}

/*
 * Skip the Ethernet II header and up to two VLAN tags. On success *off is
 * the offset of the IP header and *type its EtherType.
 */
static enum sg_reason
parse_ether(const uint8_t *f, size_t len, size_t *off, uint16_t *type)
{
	size_t o = ETH_HDR_LEN;
	uint16_t t;
	int tags;

	if (len < ETH_HDR_LEN)
		return SG_R_LINK_TRUNCATED;
	t = get16(f + 12);
	for (tags = 0; t == ETH_P_8021Q || t == ETH_P_8021AD; tags++) {
		if (tags == VLAN_MAX_TAGS)
			return SG_R_LINK_NOT_IP;
		if (len - o < VLAN_TAG_LEN)
			return SG_R_LINK_TRUNCATED;
		t = get16(f + o + 2);
		o += VLAN_TAG_LEN;
	}
	if (t != ETH_P_IPV4 && t != ETH_P_IPV6)
		return SG_R_LINK_NOT_IP;
	*off = o;
	*type = t;
	return SG_R_NONE;
}

/*
 * An IPv4 address no TCP segment may come from or go to: unspecified,
 * limited broadcast, multicast (RFC 9293 3.10.7.2: a SYN to or from one is
 * never answered; RFC 1122 4.2.3.10).
 */
static int
ipv4_addr_bad(const uint8_t *a)
{
	static const uint8_t zero[4], bcast[4] = {255, 255, 255, 255};

	return memcmp(a, zero, 4) == 0 || memcmp(a, bcast, 4) == 0 ||
	       (a[0] & 0xf0) == 0xe0;
}

/*
 * An IPv6 address to refuse: unspecified, multicast (ff00::/8), and, as a
 * source, IPv4-mapped (::ffff:0:0/96), which Linux drops in
 * tcp_v6_conn_request because a native IPv6 SYN must not claim one.
 */
static int
ipv6_addr_bad(const uint8_t *a, int is_src)
{
	static const uint8_t zero[16];
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
	                                   0, 0, 0, 0, 0xff, 0xff};

	if (memcmp(a, zero, 16) == 0 || a[0] == 0xff)
		return 1;
	return is_src && memcmp(a, mapped, 12) == 0;
}

/*
 * Check an IPv4 header. On success *l4 and *end are the offsets, from ip,
 * of the TCP header and of the end of the datagram: bytes past the total
 * length (Ethernet pads frames to 60 bytes) are not ours.
 */
static enum sg_reason
parse_ipv4(const uint8_t *ip, size_t len, struct sg_segment *seg, size_t *l4,
           size_t *end)
{
	size_t hlen, tot;
	uint16_t frag;

	if (len < IPV4_HDR_MIN)
		return SG_R_IP_TRUNCATED;
	if (ip[0] >> 4 != 4)
		return SG_R_IP_BAD_VERSION;
	hlen = (size_t)(ip[0] & 0x0f) * 4;
	if (hlen < IPV4_HDR_MIN)
		return SG_R_IP_BAD_HDRLEN;
	tot = get16(ip + 2);
	if (tot < hlen)
		return SG_R_IP_BAD_TOTLEN;
	if (tot > len)
		return SG_R_IP_TRUNCATED;
	/*
	 * Verified whatever csum says: Linux fills in the IPv4 header
	 * checksum in software (ip_send_check), so it is complete even on lo,
	 * and ip_rcv drops a bad one: the kernel would never see this SYN.
	 */
	if (codec_csum_fold(codec_csum_add(0, ip, hlen)) != 0)
		return SG_R_IP_BAD_CSUM;
	frag = get16(ip + 6);
	if (frag & (IPV4_MF | IPV4_OFFMASK))
		return SG_R_IP_FRAGMENT;
	if (ip[9] != IPPROTO_TCP_)
		return SG_R_IP_NOT_TCP;
	if (ipv4_addr_bad(ip + 12) || ipv4_addr_bad(ip + 16))
		return SG_R_IP_BAD_ADDR;
	seg->ttl = ip[8];
	*l4 = hlen;
	*end = tot;
	return SG_R_NONE;
}

/*
 * Walk IPv6 extension headers from offset off up to end, starting with
 * next header nh. Hop-by-hop, routing and destination options are skipped
 * (RFC 8200 4); a fragment header means a fragment, which we never answer.
 * Hop-by-hop is legal only first. A routing header with segments left
 * names another final destination: the packet is not for us.
 */
static enum sg_reason
walk_ipv6_ext(const uint8_t *ip, size_t end, uint8_t nh, size_t *off)
{
	size_t o = IPV6_HDR_LEN, hlen;
	int n;

	for (n = 0; n <= IPV6_MAX_EXTHDRS; n++) {
		switch (nh) {
		case IPPROTO_TCP_:
			*off = o;
			return SG_R_NONE;
		case IPPROTO_FRAGMENT_:
			return SG_R_IP_FRAGMENT;
		case IPPROTO_HOPOPTS_:
			if (n != 0)
				return SG_R_IP6_EXTHDR_BAD;
			break;
		case IPPROTO_ROUTING_:
		case IPPROTO_DSTOPTS_:
			break;
		default:
			return SG_R_IP_NOT_TCP;
		}
		if (end - o < 8)
			return SG_R_IP6_EXTHDR_BAD;
		hlen = ((size_t)ip[o + 1] + 1) * 8;
		if (end - o < hlen)
			return SG_R_IP6_EXTHDR_BAD;
		if (nh == IPPROTO_ROUTING_ && ip[o + 3] != 0)
			return SG_R_IP6_EXTHDR_BAD;
		nh = ip[o];
		o += hlen;
	}
	return SG_R_IP6_EXTHDR_BAD;
}

/* Check an IPv6 header and its extension headers; as parse_ipv4. */
static enum sg_reason
parse_ipv6(const uint8_t *ip, size_t len, struct sg_segment *seg, size_t *l4,
           size_t *end)
{
	size_t tot;
	enum sg_reason r;

	if (len < IPV6_HDR_LEN)
		return SG_R_IP_TRUNCATED;
	if (ip[0] >> 4 != 6)
		return SG_R_IP_BAD_VERSION;
	/* A payload length of 0 announces a jumbogram (RFC 2675): not TCP
	 * we handle, and it then has no room for a TCP header anyway. */
	tot = IPV6_HDR_LEN + (size_t)get16(ip + 4);
	if (tot > len)
		return SG_R_IP_TRUNCATED;
	/* Headers first: routine non-TCP traffic behind extension headers
	 * (MLD reports to ff02::16) then counts as not TCP, not as a bad
	 * address. */
	if ((r = walk_ipv6_ext(ip, tot, ip[6], l4)) != SG_R_NONE)
		return r;
	if (ipv6_addr_bad(ip + 8, 1) || ipv6_addr_bad(ip + 24, 0))
		return SG_R_IP_BAD_ADDR;
	seg->ttl = ip[7];
	*end = tot;
	return SG_R_NONE;
}

/* Check the TCP header at tcp (len bytes up to the datagram's end). */
static enum sg_reason
parse_tcp(const uint8_t *tcp, size_t len, enum sg_csum csum,
          struct sg_segment *seg)
{
	size_t doff;

	if (len < TCP_HDR_MIN)
		return SG_R_TCP_TRUNCATED;
	doff = (size_t)(tcp[12] >> 4) * 4;
	if (doff < TCP_HDR_MIN || doff > len)
		return SG_R_TCP_BAD_DOFF;
	seg->tuple.peer_port = get16(tcp);
	seg->tuple.local_port = get16(tcp + 2);
	if (seg->tuple.peer_port == 0 || seg->tuple.local_port == 0)
		return SG_R_TCP_BAD_PORT;
	seg->l4 = tcp;
	seg->l4_len = (uint32_t)len;
	if (csum == SG_CSUM_VERIFY && !codec_tcp_csum_ok(seg))
		return SG_R_TCP_BAD_CSUM;
	seg->seq = get32(tcp + 4);
	seg->ack = get32(tcp + 8);
	seg->flags = tcp[13];
	seg->window = get16(tcp + 14);
	seg->payload = tcp + doff;
	seg->payload_len = (uint32_t)(len - doff);
	return codec_parse_options(tcp + TCP_HDR_MIN, doff - TCP_HDR_MIN,
	                           &seg->opts);
}

/* Parse a captured frame into *seg; see codec.h. */
enum sg_reason
codec_parse(const uint8_t *frame, size_t len, enum sg_link link,
            enum sg_csum csum, struct sg_segment *seg)
{
	const uint8_t *ip;
	size_t off = 0, l4 = 0, end = 0;
	uint16_t type = 0;
	enum sg_reason r;
	int version;

	memset(seg, 0, sizeof(*seg));
	if (link == SG_LINK_ETHER) {
		if ((r = parse_ether(frame, len, &off, &type)) != SG_R_NONE)
			return r;
	} else if (link != SG_LINK_IP)
		return SG_R_LINK_NOT_IP;
	ip = frame + off;
	len -= off;
	if (len == 0)
		return SG_R_IP_TRUNCATED;
	version = ip[0] >> 4;
	if (type == ETH_P_IPV4 || (type == 0 && version == 4)) {
		if ((r = parse_ipv4(ip, len, seg, &l4, &end)) != SG_R_NONE)
			return r;
		tuple_init_v4(&seg->tuple, ip + 12, 0, ip + 16, 0);
	} else if (type == ETH_P_IPV6 || (type == 0 && version == 6)) {
		if ((r = parse_ipv6(ip, len, seg, &l4, &end)) != SG_R_NONE)
			return r;
		tuple_init_v6(&seg->tuple, ip + 8, 0, ip + 24, 0);
	} else
		return SG_R_IP_BAD_VERSION;
	seg->l3 = ip;
	seg->l3_len = (uint32_t)end;
	return parse_tcp(ip + l4, end - l4, csum, seg);
}

/*
 * Check that a known option has the one length RFC 9293 / 7323 / 2018
 * give it. Linux ignores a misfit; we drop the segment, since no real
 * stack sends one and a SYN-flood tool that does is not worth answering.
 */
static int
opt_len_ok(uint8_t kind, uint8_t olen)
{
	switch (kind) {
	case TCPOPT_MSS:
		return olen == TCPOLEN_MSS;
	case TCPOPT_WSCALE:
		return olen == TCPOLEN_WSCALE;
	case TCPOPT_SACKOK:
		return olen == TCPOLEN_SACKOK;
	case TCPOPT_TS:
		return olen == TCPOLEN_TS;
	default:
		return 1;
	}
}

/* Record one well-formed option in *out; later copies override. */
static void
opt_store(uint8_t kind, const uint8_t *p, struct sg_tcpopts *out)
{
	switch (kind) {
	case TCPOPT_MSS:
		out->mss = get16(p + 2);
		out->flags |= SG_OPT_MSS;
		break;
	case TCPOPT_WSCALE:
		/* RFC 7323 2.3: a shift above 14 is used as 14. */
		out->wscale = p[2] > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : p[2];
		out->flags |= SG_OPT_WSCALE;
		break;
	case TCPOPT_SACKOK:
		out->flags |= SG_OPT_SACKOK;
		break;
	case TCPOPT_TS:
		out->tsval = get32(p + 2);
		out->tsecr = get32(p + 6);
		out->flags |= SG_OPT_TS;
		break;
	}
}

/* Parse a TCP options area; see codec.h. */
enum sg_reason
codec_parse_options(const uint8_t *opt, size_t len, struct sg_tcpopts *out)
{
	size_t i = 0;
	uint8_t kind, olen;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		kind = opt[i];
		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return SG_R_OPT_TRUNCATED;
		olen = opt[i + 1];
		if (olen < 2)
			return SG_R_OPT_BAD_LEN;
		if (olen > len - i)
			return SG_R_OPT_TRUNCATED;
		if (!opt_len_ok(kind, olen))
			return SG_R_OPT_BAD_LEN;
		opt_store(kind, opt + i, out);
		i += olen;
	}
	return SG_R_NONE;
}

/*
 * Write the options of a segment we send, in the layout of Linux's
 * tcp_options_write() (net/ipv4/tcp_output.c), so that our SYN-ACK looks
 * like the kernel's, each option on a 32-bit boundary:
 *
 *   MSS                  02 04 mm mm
 *   SACK-perm + TS       04 02 08 0a  tsval  tsecr
 *   TS alone             01 01 08 0a  tsval  tsecr
 *   SACK-perm alone      01 01 04 02
 *   window scale         01 03 03 ws
 *
 * MSS, SACK-permitted and window scale belong in a SYN only (RFC 9293
 * 3.7.1, RFC 2018 2, RFC 7323 2.2); a RST carries none at all. Returns the
 * number of bytes written, at most 20.
 */
static size_t
write_options(const struct sg_reply *r, uint8_t *p)
{
	uint8_t f = r->opts.flags, *o = p;

	if (r->flags & SG_TCP_RST)
		return 0;
	if (!(r->flags & SG_TCP_SYN))
		f &= SG_OPT_TS;
	if (f & SG_OPT_MSS) {
		*o++ = TCPOPT_MSS;
		*o++ = TCPOLEN_MSS;
		put16(o, r->opts.mss);
		o += 2;
	}
	if (f & SG_OPT_TS) {
		*o++ = (f & SG_OPT_SACKOK) ? TCPOPT_SACKOK : TCPOPT_NOP;
		*o++ = (f & SG_OPT_SACKOK) ? TCPOLEN_SACKOK : TCPOPT_NOP;
		*o++ = TCPOPT_TS;
		*o++ = TCPOLEN_TS;
		put32(o, r->opts.tsval);
		put32(o + 4, r->opts.tsecr);
		o += 8;
	} else if (f & SG_OPT_SACKOK) {
		*o++ = TCPOPT_NOP;
		*o++ = TCPOPT_NOP;
		*o++ = TCPOPT_SACKOK;
		*o++ = TCPOLEN_SACKOK;
	}
	if (f & SG_OPT_WSCALE) {
		*o++ = TCPOPT_NOP;
		*o++ = TCPOPT_WSCALE;
		*o++ = TCPOLEN_WSCALE;
		*o++ = r->opts.wscale > TCP_MAX_WSCALE ? TCP_MAX_WSCALE
		                                       : r->opts.wscale;
	}
	return (size_t)(o - p);
}

/*
 * Write the IPv4 header: DF set as Linux does on TCP (path MTU discovery,
 * RFC 1191), and then, as in Linux's ip_build_and_send_pkt(), IP ID 0,
 * since a DF datagram is never reassembled (RFC 6864 4.1).
 */
static void
write_ipv4(const struct sg_reply *r, uint8_t *ip, size_t tot)
{
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)tot);
	put16(ip + 4, 0);
	put16(ip + 6, IPV4_DF);
	ip[8] = r->ttl != 0 ? r->ttl : DEFAULT_TTL;
	ip[9] = IPPROTO_TCP_;
	put16(ip + 10, 0);
	memcpy(ip + 12, r->tuple.local_addr, 4);
	memcpy(ip + 16, r->tuple.peer_addr, 4);
	put16(ip + 10, codec_csum_fold(codec_csum_add(0, ip, IPV4_HDR_MIN)));
}

/* Write the IPv6 header; traffic class and flow label 0 (RFC 6437 2). */
static void
write_ipv6(const struct sg_reply *r, uint8_t *ip, size_t l4_len)
{
	put32(ip, 6u << 28);
	put16(ip + 4, (uint16_t)l4_len);
	ip[6] = IPPROTO_TCP_;
	ip[7] = r->ttl != 0 ? r->ttl : DEFAULT_TTL;
	memcpy(ip + 8, r->tuple.local_addr, 16);
	memcpy(ip + 24, r->tuple.peer_addr, 16);
}

/* Build a SYN-ACK or RST from local to peer; see codec.h. */
size_t
codec_build(const struct sg_reply *r, uint8_t *buf, size_t buflen)
{
	uint8_t tcp[TCP_HDR_MAX];
	size_t l3, l4_len, olen;
	uint32_t sum;

	if (r->tuple.family == AF_INET)
		l3 = IPV4_HDR_MIN;
	else if (r->tuple.family == AF_INET6)
		l3 = IPV6_HDR_LEN;
	else
		return 0;

	memset(tcp, 0, sizeof(tcp));
	olen = write_options(r, tcp + TCP_HDR_MIN);
	l4_len = TCP_HDR_MIN + olen;
	if (buflen < l3 + l4_len)
		return 0;

	put16(tcp, r->tuple.local_port);
	put16(tcp + 2, r->tuple.peer_port);
	put32(tcp + 4, r->seq);
	put32(tcp + 8, r->ack);
	tcp[12] = (uint8_t)((l4_len / 4) << 4);
	tcp[13] = r->flags;
	put16(tcp + 14, r->window);
	sum = pseudo_sum(r->tuple.family, r->tuple.local_addr,
	                 r->tuple.peer_addr, (uint32_t)l4_len);
	put16(tcp + 16, codec_csum_fold(codec_csum_add(sum, tcp, l4_len)));

	if (r->tuple.family == AF_INET)
		write_ipv4(r, buf, l3 + l4_len);
	else
		write_ipv6(r, buf, l4_len);
	memcpy(buf + l3, tcp, l4_len);
	return l3 + l4_len;
}
