/*
 * xdp_syn.bpf.c -- synguard's answer to a SYN flood in the receive path.
 *
 * An XDP program the daemon attaches to the interfaces named in
 * xdp_interfaces. While the daemon has it on (sg_conf.on: a flood, or
 * cookies = "always"), it answers a bare SYN to one of synguard's listen
 * entries where the driver hands it over: the frame is turned into the
 * SYN-ACK in place and sent back out of the same interface (XDP_TX), with
 * the very cookie, TSval and options the daemon's engine would have sent
 * (engine.c syn_cookie, cookie.c, codec.c write_options). No worker wakes
 * for it: the answer costs what the kernel's own SYN cookies cost, in the
 * same place. The client's ACK goes on to the daemon, whose cookie check
 * accepts it like any other.
 *
 * Anything unusual goes on to the daemon (XDP_PASS), which answers or
 * drops it as before and counts why: IPv4 options, IPv6 extension
 * headers, VLAN tags, fragments, data on the SYN, a known option of the
 * wrong length, a checksum that does not verify (a partial one from a
 * local sender included), a frame not to the interface's own MAC, and any
 * port or address that is not a listen entry. While it answers, a SYN to a
 * listen entry from or to an address no SYN may have is dropped here (the
 * workers would drop it too, after waking for it). Its counters are in
 * xdp_abi.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_abi.h"

#define AF_INET 2
#define AF_INET6 10

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define OPT_MSS 0x01
#define OPT_WSCALE 0x02
#define OPT_SACKOK 0x04
#define OPT_TS 0x08

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_xdp_conf);
} sg_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_XDP_LISTEN_MAX);
	__type(key, struct sg_xdp_listen);
	__type(value, __u8);
} sg_listen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_XDP_ADDRS_MAX);
	__type(key, struct sg_xdp_addr);
	__type(value, __u8);
} sg_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SG_XDP_IFS_MAX);
	__type(key, __u32);
	__type(value, struct sg_xdp_if);
} sg_ifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sg_xdp_rate);
} sg_rate SEC(".maps");

/* Until when a burst seen on any CPU keeps the program on (all CPUs: a
 * flood on one must not leave a client's SYN on another to the workers). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sg_hot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_XDP__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} sg_counters SEC(".maps");

/* The SYN, as the engine sees it (struct sg_tuple, struct sg_tcpopts). */
struct syn {
	/* struct sg_tuple, byte for byte: the MACs hash it as it lies. */
	__u8 family;
	__u8 tpad[3];
	__u16 peer_port;  /* host order */
	__u16 local_port; /* host order */
	__u8 peer_addr[16];
	__u8 local_addr[16];
	/* the rest */
	__u32 seq;
	__u32 tsval, tsecr;
	__u16 mss;
	__u8 wscale;
	__u8 flags;
	__u64 now_ns;     /* the clock, read once a SYN */
};

/* The reply's TCP header, built on the side. */
struct reply {
	union {
		__u32 w[10];
		__u8 b[40];
	} t;
	__u32 len; /* 20 + options */
};

/* A copy of the SYN's TCP header, with slack for masked indices. */
union tcphdr_copy {
	__u32 w[20];
	__u8 b[80];
};

/* What one SYN needs, kept off the 512-byte BPF stack. */
struct scratch {
	struct syn s;
	struct reply r;
	union tcphdr_copy h;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} sg_scratch SEC(".maps");

static __always_inline void
count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&sg_counters, &idx);

	if (c)
		*c += 1;
}

/* SipHash-2-4 (siphash.c), on whole little-endian words. */
#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                       \
	do {                                                           \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                 \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                 \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

/* Eight message bytes as siphash24() reads them: little-endian. */
static __always_inline __u64
le64(__u64 v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

/* Hash n whole words w and then the last word (the tail bytes with the
 * length on top), as siphash24() does for an n * 8 + tail byte message. */
static __always_inline __u64
siphash(__u64 k0, __u64 k1, const __u64 *w, int n, __u64 last)
{
	__u64 v0 = k0 ^ 0x736f6d6570736575ULL;
	__u64 v1 = k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = k0 ^ 0x6c7967656e657261ULL;
	__u64 v3 = k1 ^ 0x7465646279746573ULL;

#pragma unroll
	for (int i = 0; i < 6; i++) {
		if (i >= n)
			break;
		__u64 m = le64(w[i]);

		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static __always_inline void
put_be32(__u8 *p, __u32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* cookie.c cookie_mac: the 48-byte message, serialised the same way. */
static __always_inline __u32
cookie_mac(const struct sg_xdp_conf *c, const struct syn *s, __u32 counter,
    __u8 mode, __u8 d0, __u8 d1)
{
	union {
		__u64 w[6];
		__u8 b[48];
	} m;

	__builtin_memcpy(m.b, s->peer_addr, 16);
	__builtin_memcpy(m.b + 16, s->local_addr, 16);
	m.b[32] = s->peer_port >> 8;
	m.b[33] = s->peer_port;
	m.b[34] = s->local_port >> 8;
	m.b[35] = s->local_port;
	put_be32(m.b + 36, s->seq);
	put_be32(m.b + 40, counter);
	m.b[44] = s->family;
	m.b[45] = mode;
	m.b[46] = d0;
	m.b[47] = d1;
	return (__u32)siphash(c->k0, c->k1, m.w, 6, 48ULL << 56);
}

/* engine.c tsval_now: the clock in ms plus a keyed per-tuple offset. The
 * hash input is struct sg_tuple (40 bytes) and a 32-bit salt. */
static __always_inline __u32
tsval_now(const struct sg_xdp_conf *c, const struct syn *s)
{
	union {
		__u64 w[5];
		__u8 b[40];
	} m;
	__u64 last = (44ULL << 56) | 0x54530000u;
	__u32 off;

	__builtin_memcpy(m.b, s, 40);
	off = (__u32)siphash(c->ik0, c->ik1, m.w, 5, last) & 0x1fffffffu;
	return (__u32)(s->now_ns / 1000000) + off;
}

/* cookie.c's tables and rounding. */
static __always_inline __u32
mss_index(__u16 mss)
{
	if (mss >= 8960) return 7;
	if (mss >= 1460) return 6;
	if (mss >= 1452) return 5;
	if (mss >= 1440) return 4;
	if (mss >= 1400) return 3;
	if (mss >= 1380) return 2;
	if (mss >= 1220) return 1;
	return 0;
}

static __always_inline __u32
ws_index(__u8 ws)
{
	/* ws_table = { none, 0, 2, 4, 6, 7, 8, 9 } */
	if (ws >= 9) return 7;
	if (ws >= 8) return 6;
	if (ws >= 7) return 5;
	if (ws >= 6) return 4;
	if (ws >= 4) return 3;
	if (ws >= 2) return 2;
	return 1;
}

/* cookie_make, then send_synack's options in write_options' layout. */
static __always_inline void
make_reply(const struct sg_xdp_conf *c, const struct syn *s, __u16 our_mss,
    struct reply *r)
{
	__u32 counter = c->counter, p = counter & 1, isn, mac, tsval = 0;
	__u16 peer_mss = (s->flags & OPT_MSS) ? s->mss :
	    (s->family == AF_INET6 ? 1220 : 536);
	__u32 mi = mss_index(peer_mss);
	__u8 f = OPT_MSS;
	__u32 len;
	__u8 *o;

	if (s->flags & OPT_TS) {
		__u32 tsbits = 0x0f, now;

		if (s->flags & OPT_WSCALE)
			tsbits = s->wscale;
		if (s->flags & OPT_SACKOK)
			tsbits |= 0x10;
		if (p)
			tsbits |= 0x20;
		mac = cookie_mac(c, s, counter, 0x02, mi, tsbits) & 0x1fffffffu;
		isn = mac << 3;
		isn |= mi ^ (isn >> 29);
		now = tsval_now(c, s);
		tsval = (now & ~0x3fu) | tsbits;
		if ((now & 0x3fu) < tsbits)
			tsval -= 0x40;
		f |= OPT_TS | (s->flags & (OPT_WSCALE | OPT_SACKOK));
	} else {
		__u32 wi = 0, sack = (s->flags & OPT_SACKOK) != 0, data;

		if (s->flags & OPT_WSCALE)
			wi = ws_index(s->wscale);
		data = p << 7 | mi << 4 | wi << 1 | sack;
		mac = cookie_mac(c, s, counter, 0x01, data, 0) & 0xffffffu;
		isn = mac << 8;
		isn |= data ^ (isn >> 24);
		if (wi != 0)
			f |= OPT_WSCALE;
		if (sack)
			f |= OPT_SACKOK;
	}

	__builtin_memset(&r->t, 0, sizeof(r->t));
	r->t.b[0] = s->local_port >> 8;
	r->t.b[1] = s->local_port;
	r->t.b[2] = s->peer_port >> 8;
	r->t.b[3] = s->peer_port;
	put_be32(r->t.b + 4, isn);
	put_be32(r->t.b + 8, s->seq + 1);
	r->t.b[13] = TCP_SYN | TCP_ACK;
	r->t.b[14] = c->window >> 8;
	r->t.b[15] = c->window;

	/*
	 * The options as four words after the MSS, each chosen as a value
	 * and stored at a fixed offset (a pointer that moves, or a store
	 * whose place depends on a branch, is pointer arithmetic the
	 * verifier allows only with CAP_PERFMON); past the options, zeros.
	 */
	o = r->t.b;
	put_be32(o + 20, 2u << 24 | 4u << 16 | our_mss);
	{
		__u32 ws = 0, w6, w7, w8, w9;

		if (f & OPT_WSCALE)
			ws = 1u << 24 | 3u << 16 | 3u << 8 |
			    (c->wscale > 14 ? 14 : c->wscale);
		if (f & OPT_TS) {
			w6 = ((f & OPT_SACKOK) ? 0x0402u : 0x0101u) << 16 |
			    0x080a;
			w7 = tsval;
			w8 = s->tsval;
			w9 = ws;
			len = 36;
		} else if (f & OPT_SACKOK) {
			w6 = 0x01010402;
			w7 = ws;
			w8 = 0;
			w9 = 0;
			len = 28;
		} else {
			w6 = ws;
			w7 = 0;
			w8 = 0;
			w9 = 0;
			len = 24;
		}
		if (f & OPT_WSCALE)
			len += 4;
		put_be32(o + 24, w6);
		put_be32(o + 28, w7);
		put_be32(o + 32, w8);
		put_be32(o + 36, w9);
	}
	r->len = len;
	r->t.b[12] = (r->len / 4) << 4;
}

static __always_inline __u16
fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Sum of the 16-bit words of an address, loaded as the header's words
 * are (in the host's order, which the one's complement sum allows). */
static __always_inline __u64
addr_sum(const __u8 *a, int n)
{
	__u64 sum = 0;

#pragma unroll
	for (int i = 0; i < 16; i += 2) {
		__u16 w;

		if (i >= n)
			break;
		__builtin_memcpy(&w, a + i, 2);
		sum += w;
	}
	return sum;
}

/* The pseudo-header's sum (RFC 9293 3.1, RFC 8200 8.1), from the SYN's
 * point of view: the same both ways, since addition commutes. */
static __always_inline __u64
pseudo_sum(const struct syn *s, __u32 l4len)
{
	int n = s->family == AF_INET ? 4 : 16;

	return addr_sum(s->peer_addr, n) + addr_sum(s->local_addr, n) +
	    bpf_htons(IPPROTO_TCP) + bpf_htons((__u16)l4len);
}

/*
 * One byte of the options area, at offset p (a constant once inlined, so
 * every read is at a fixed offset of the copy, up to 20 + 39 + 9 = 68,
 * inside its 80 bytes: the verifier lets indexing at a varying offset
 * through only with CAP_PERFMON). *skip counts the bytes left of the
 * option read last. Returns 1 to go on, 0 at the end of the options, -1
 * for a malformed area (codec_parse_options' rules).
 */
static __always_inline int
opt_step(const union tcphdr_copy *hp, struct syn *s, const __u32 p,
    __u32 optlen, __u32 *skip)
{
	__u8 kind, olen;

	if (p >= optlen)
		return 0;
	if (*skip > 0) {
		(*skip)--;
		return 1;
	}
	kind = hp->b[20 + p];
	if (kind == 0)
		return 0;
	if (kind == 1)
		return 1;
	if (p + 2 > optlen)
		return -1;
	olen = hp->b[20 + p + 1];
	if (olen < 2 || p + olen > optlen)
		return -1;
	switch (kind) {
	case 2:
		if (olen != 4)
			return -1;
		s->mss = hp->b[20 + p + 2] << 8 | hp->b[20 + p + 3];
		s->flags |= OPT_MSS;
		break;
	case 3:
		if (olen != 3)
			return -1;
		s->wscale = hp->b[20 + p + 2] > 14 ? 14 : hp->b[20 + p + 2];
		s->flags |= OPT_WSCALE;
		break;
	case 4:
		if (olen != 2)
			return -1;
		s->flags |= OPT_SACKOK;
		break;
	case 8:
		if (olen != 10)
			return -1;
		s->tsval = (__u32)hp->b[20 + p + 2] << 24 |
		    hp->b[20 + p + 3] << 16 | hp->b[20 + p + 4] << 8 |
		    hp->b[20 + p + 5];
		s->tsecr = (__u32)hp->b[20 + p + 6] << 24 |
		    hp->b[20 + p + 7] << 16 | hp->b[20 + p + 8] << 8 |
		    hp->b[20 + p + 9];
		s->flags |= OPT_TS;
		break;
	}
	*skip = olen - 1;
	return 1;
}

#define OPT_STEP(p)                                                    \
	do {                                                           \
		int r_ = opt_step(hp, s, (p), optlen, &skip);          \
		if (r_ <= 0)                                           \
			return r_;                                     \
	} while (0)
#define OPT_STEP4(p)                                                   \
	do {                                                           \
		OPT_STEP(p);                                           \
		OPT_STEP((p) + 1);                                     \
		OPT_STEP((p) + 2);                                     \
		OPT_STEP((p) + 3);                                     \
	} while (0)

/*
 * Parse the options of the header copy (codec_parse_options): later copies
 * override. Returns 0, or -1 for a malformed area. A global function, so
 * the verifier checks it once, not once for every path into it; it finds
 * the scratch itself (a map value) rather than taking a pointer to it.
 */
__attribute__((noinline)) int
sg_parse_options(__u32 doff)
{
	struct scratch *sc;
	union tcphdr_copy *hp;
	struct syn *s;
	__u32 optlen, skip = 0, zero = 0;

	sc = bpf_map_lookup_elem(&sg_scratch, &zero);
	if (!sc)
		return -1;
	hp = &sc->h;
	s = &sc->s;
	if (doff < 20 || doff > 60)
		return -1;
	optlen = doff - 20;
	OPT_STEP4(0);
	OPT_STEP4(4);
	OPT_STEP4(8);
	OPT_STEP4(12);
	OPT_STEP4(16);
	OPT_STEP4(20);
	OPT_STEP4(24);
	OPT_STEP4(28);
	OPT_STEP4(32);
	OPT_STEP4(36);
	return 0;
}

/*
 * Read the SYN's TCP header at tcp (doff bytes; the caller checked the
 * first 20), verify its checksum and parse its options into *s. Returns
 * 0, or -1 to leave the SYN to the daemon. The header is copied to the
 * stack a word at a time at fixed offsets, which the verifier can follow
 * on any kernel with XDP; past that, indices are masked into the copy.
 */
static __always_inline int
read_tcp(void *tcp, void *end, __u32 doff, struct scratch *sc)
{
	struct syn *s = &sc->s;
	union tcphdr_copy *hp = &sc->h;
	__u64 sum = pseudo_sum(s, doff);

	__builtin_memset(hp, 0, sizeof(*hp));
#pragma unroll
	for (int k = 0; k < 15; k++) {
		if (k * 4 >= (int)doff)
			break;
		if (tcp + k * 4 + 4 > end)
			return -1;
		hp->w[k] = *(__u32 *)(tcp + k * 4);
		sum += hp->w[k];
	}
	if (fold(sum) != 0)
		return -1;

	return sg_parse_options(doff);
}

/*
 * Whether the SYN is for a listen entry (engine.c listen_match: an entry
 * for its address first, then the wildcard one, which takes only the
 * host's own addresses); *our_mss then what to offer on interface m.
 */
static __always_inline int
ours(const struct sg_xdp_conf *c, const struct syn *s,
    const struct sg_xdp_if *m, __u16 *our_mss)
{
	struct sg_xdp_listen l = { .family = s->family, .port = s->local_port };

	__builtin_memcpy(l.addr, s->local_addr, 16);
	if (!bpf_map_lookup_elem(&sg_listen, &l)) {
		__builtin_memset(l.addr, 0, 16);
		if (!bpf_map_lookup_elem(&sg_listen, &l))
			return 0;
		if (c->addrs_known) {
			struct sg_xdp_addr a = { .family = s->family };

			__builtin_memcpy(a.addr, s->local_addr, 16);
			if (!bpf_map_lookup_elem(&sg_addrs, &a))
				return 0;
		}
	}
	/* Both read, then one chosen: a pointer picked by a branch is
	 * pointer arithmetic the verifier allows only with CAP_PERFMON. */
	__u16 mss4 = m->mss4, mss6 = m->mss6;
	asm volatile("" : "+r"(mss4), "+r"(mss6));
	*our_mss = s->family == AF_INET ? mss4 : mss6;
	return 1;
}

/* The checksum of the reply's TCP header (its own field zero). */
static __always_inline __u16
reply_csum(const struct syn *s, const struct reply *r)
{
	__u64 sum = pseudo_sum(s, r->len);

	/* All ten words: past the options they are zero (make_reply). */
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += r->t.w[i];
	return fold(sum);
}

/* The reply, cookie and checksum included; global, as sg_parse_options
 * (and, as it, finding the scratch and the settings itself). */
__attribute__((noinline)) int
sg_make_reply(__u32 our_mss)
{
	struct scratch *sc;
	struct sg_xdp_conf *c;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&sg_scratch, &zero);
	c = bpf_map_lookup_elem(&sg_conf, &zero);
	if (!sc || !c)
		return -1;
	make_reply(c, &sc->s, our_mss, &sc->r);
	*(__u16 *)(sc->r.t.b + 16) = reply_csum(&sc->s, &sc->r);
	return 0;
}

/* Write the reply's TCP header, word by word, at tcp. */
static __always_inline int
write_tcp(void *tcp, void *end, const struct reply *r)
{
	__u32 *w = tcp;

#pragma unroll
	for (int i = 0; i < 10; i++) {
		if (i * 4 >= (int)r->len)
			break;
		if ((void *)(w + i + 1) > end)
			return -1;
		w[i] = r->t.w[i];
	}
	return 0;
}

/*
 * Whether to answer a SYN to a listen entry here: the daemon says so (a
 * flood, by its rule), or some CPU has just seen a burst of them (burst
 * within a SG_XDP_BURST_NS window), a flood's first moments, before the
 * daemon's rule could tell. Never on settings the daemon stopped
 * refreshing.
 */
static __always_inline int
on(const struct sg_xdp_conf *c, __u64 now)
{
	struct sg_xdp_rate *r;
	__u64 *hot;
	__u32 zero = 0;

	if (now > c->until_ns)
		return 0;
	if (c->on)
		return 1;
	r = bpf_map_lookup_elem(&sg_rate, &zero);
	hot = bpf_map_lookup_elem(&sg_hot, &zero);
	if (!r || !hot || c->burst == 0)
		return 0;
	if (now < *hot)
		return 1;
	if (now - r->win_ns >= SG_XDP_BURST_NS) {
		r->win_ns = now;
		r->n = 0;
	}
	if (++r->n < c->burst)
		return 0;
	/* Written once a burst, not once a SYN: the other CPUs only read. */
	*hot = now + SG_XDP_HOT_NS;
	return 1;
}

/* The part after the IP header, shared by both families: returns the
 * action. tcp_off is the TCP header's offset in the frame. */
static __always_inline int
answer(struct xdp_md *ctx, const struct sg_xdp_conf *c,
    const struct sg_xdp_if *ifp, struct scratch *sc, __u32 tcp_off,
    __u32 l4len, int bad_addr)
{
	struct syn *s = &sc->s;
	struct reply *r = &sc->r;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *tcp = data + tcp_off;
	__u16 our_mss;
	__u32 doff, newlen;
	__u8 fl;

	if ((void *)(tcp + 20) > end)
		return XDP_PASS;
	fl = tcp[13];
	if ((fl & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)) != TCP_SYN)
		return XDP_PASS;
	s->peer_port = tcp[0] << 8 | tcp[1];
	s->local_port = tcp[2] << 8 | tcp[3];
	if (s->peer_port == 0 || s->local_port == 0)
		return XDP_PASS;
	if (!ours(c, s, ifp, &our_mss))
		return XDP_PASS;
	s->now_ns = bpf_ktime_get_ns();
	if (!on(c, s->now_ns))
		goto pass;
	/* A flood's SYNs from addresses no SYN may come from (random
	 * sources include multicast and broadcast ones): dropped here, as
	 * the workers would drop them, so that they do not wake a worker
	 * for each one. */
	if (bad_addr) {
		count(SG_XDP_DROPPED);
		return XDP_DROP;
	}
	doff = (tcp[12] >> 4) * 4;
	/* A header alone: data on a SYN goes to the daemon. */
	if (doff < 20 || doff != l4len)
		goto pass;
	s->seq = (__u32)tcp[4] << 24 | tcp[5] << 16 | tcp[6] << 8 | tcp[7];
	if (read_tcp(tcp, end, doff, sc) != 0)
		goto pass;

	if (sg_make_reply(our_mss) != 0)
		goto pass;

	/* Fit the frame to the reply: the SYN's own Ethernet padding goes,
	 * and a reply shorter than Ethernet's 60 bytes (IPv4, MSS alone)
	 * gets two zero bytes, since XDP_TX leaves padding to the driver. */
	newlen = tcp_off + r->len;
	if (newlen < 60)
		newlen = 60;
	if (bpf_xdp_adjust_tail(ctx, (int)newlen -
	    (int)bpf_xdp_get_buff_len(ctx)) != 0)
		goto pass;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (write_tcp(data + tcp_off, end, r) != 0)
		return XDP_DROP; /* the frame is no longer the SYN */
	if (tcp_off + r->len < 60) {
		__u8 *p = data;

		if ((void *)(p + 60) > end)
			return XDP_DROP;
		p[58] = 0;
		p[59] = 0;
	}
	count(SG_XDP_ANSWERED);
	return XDP_TX;
pass:
	count(SG_XDP_PASSED);
	return XDP_PASS;
}

static __always_inline int
bad4(const __u8 *a)
{
	/* unspecified, limited broadcast, multicast (codec.c) */
	return (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0) ||
	    (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255) ||
	    (a[0] & 0xf0) == 0xe0;
}

static __always_inline void
swap_mac(struct ethhdr *eth)
{
	__u8 t[ETH_ALEN];

	__builtin_memcpy(t, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, t, ETH_ALEN);
}

static __always_inline int
on_ipv4(struct xdp_md *ctx, const struct sg_xdp_conf *c,
    const struct sg_xdp_if *ifp, struct scratch *sc)
{
	struct syn *s = &sc->s;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *ip = data + sizeof(struct ethhdr);
	__u32 tot, i;
	__u64 sum = 0;
	int act;

	if ((void *)(ip + 20) > end)
		return XDP_PASS;
	/* No IP options, no fragments, TCP. */
	if (ip[0] != 0x45 || ip[9] != IPPROTO_TCP || (ip[6] & 0x3f) != 0 ||
	    ip[7] != 0)
		return XDP_PASS;
	tot = ip[2] << 8 | ip[3];
	/* The frame's length from the kernel, not by pointer arithmetic,
	 * which the verifier allows only with CAP_PERFMON. */
	if (tot < 40 || sizeof(struct ethhdr) + tot > bpf_xdp_get_buff_len(ctx))
		return XDP_PASS;
#pragma unroll
	for (i = 0; i < 20; i += 2)
		sum += *(__u16 *)(ip + i);
	if (fold(sum) != 0)
		return XDP_PASS;
	__builtin_memset(s, 0, sizeof(*s));
	s->family = AF_INET;
	__builtin_memcpy(s->peer_addr, ip + 12, 4);
	__builtin_memcpy(s->local_addr, ip + 16, 4);

	act = answer(ctx, c, ifp, sc, sizeof(struct ethhdr) + 20, tot - 20,
	    bad4(ip + 12) || bad4(ip + 16));
	if (act != XDP_TX)
		return act;

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 20) > end)
		return XDP_DROP;
	swap_mac(data);
	tot = 20 + sc->r.len;
	/* write_ipv4: DF, IP ID 0, TTL 64. */
	ip[1] = 0;
	ip[2] = tot >> 8;
	ip[3] = tot;
	ip[4] = 0;
	ip[5] = 0;
	ip[6] = 0x40;
	ip[7] = 0;
	ip[8] = 64;
	ip[10] = 0;
	ip[11] = 0;
	__builtin_memcpy(ip + 12, s->local_addr, 4);
	__builtin_memcpy(ip + 16, s->peer_addr, 4);
	sum = 0;
#pragma unroll
	for (i = 0; i < 20; i += 2)
		sum += *(__u16 *)(ip + i);
	*(__u16 *)(ip + 10) = fold(sum);
	return XDP_TX;
}

static __always_inline int
bad6(const __u8 *a, int is_src)
{
	int zero = 1, mapped = 1;

#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (a[i] != 0)
			zero = 0;
		if (i < 10 && a[i] != 0)
			mapped = 0;
	}
	if (zero || a[0] == 0xff)
		return 1;
	return is_src && mapped && a[10] == 0xff && a[11] == 0xff;
}

static __always_inline int
on_ipv6(struct xdp_md *ctx, const struct sg_xdp_conf *c,
    const struct sg_xdp_if *ifp, struct scratch *sc)
{
	struct syn *s = &sc->s;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *ip = data + sizeof(struct ethhdr);
	__u32 plen;
	int act;

	if ((void *)(ip + 40) > end)
		return XDP_PASS;
	/* TCP right behind the header: extension headers go on. */
	if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP)
		return XDP_PASS;
	plen = ip[4] << 8 | ip[5];
	if (plen < 20 ||
	    sizeof(struct ethhdr) + 40 + plen > bpf_xdp_get_buff_len(ctx))
		return XDP_PASS;
	__builtin_memset(s, 0, sizeof(*s));
	s->family = AF_INET6;
	__builtin_memcpy(s->peer_addr, ip + 8, 16);
	__builtin_memcpy(s->local_addr, ip + 24, 16);

	act = answer(ctx, c, ifp, sc, sizeof(struct ethhdr) + 40, plen,
	    bad6(ip + 8, 1) || bad6(ip + 24, 0));
	if (act != XDP_TX)
		return act;

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 40) > end)
		return XDP_DROP;
	swap_mac(data);
	plen = sc->r.len;
	/* write_ipv6: traffic class and flow label 0, hop limit 64. */
	ip[0] = 0x60;
	ip[1] = 0;
	ip[2] = 0;
	ip[3] = 0;
	ip[4] = plen >> 8;
	ip[5] = plen;
	ip[7] = 64;
	__builtin_memcpy(ip + 8, s->local_addr, 16);
	__builtin_memcpy(ip + 24, s->peer_addr, 16);
	return XDP_TX;
}

/* xdp.frags: a driver with a large MTU, which hands a frame over in
 * pieces, takes the program all the same; a SYN fits in the first piece,
 * and every read and write here is checked against its end. */
SEC("xdp.frags")
int
sg_xdp_syn(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sg_xdp_conf *c;
	struct sg_xdp_if *ifp;
	struct scratch *sc;
	__u32 zero = 0, ifindex = ctx->ingress_ifindex;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&sg_conf, &zero);
	sc = bpf_map_lookup_elem(&sg_scratch, &zero);
	ifp = bpf_map_lookup_elem(&sg_ifs, &ifindex);
	if (!c || !sc || !ifp)
		return XDP_PASS;
	/* Only frames to this interface's own address, from a unicast one,
	 * as the workers' tap (PACKET_HOST): the reply goes back to it. */
	if ((eth->h_dest[0] ^ ifp->mac[0]) | (eth->h_dest[1] ^ ifp->mac[1]) |
	    (eth->h_dest[2] ^ ifp->mac[2]) | (eth->h_dest[3] ^ ifp->mac[3]) |
	    (eth->h_dest[4] ^ ifp->mac[4]) | (eth->h_dest[5] ^ ifp->mac[5]) ||
	    (eth->h_source[0] & 1))
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return on_ipv4(ctx, c, ifp, sc);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return on_ipv6(ctx, c, ifp, sc);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
