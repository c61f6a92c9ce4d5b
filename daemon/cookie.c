/*
 * cookie.c -- SYN cookies (RFC 4987 3.6): when the half-open table has no
 * room, the SYN-ACK's ISN (and, if the client uses timestamps, the low bits
 * of our TSval) carries what the table entry would have held, under a MAC
 * that only the holder of the secret can compute.
 *
 * Pure: no clock, no socket, no allocation; the caller passes the time
 * counter. Must never accept a cookie without recomputing its MAC over the
 * 4-tuple, the client's ISN and the counter, and must never write the
 * secret anywhere but into the caller's struct.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cookie.h"

/*
 * MSS values a cookie can name; the client's MSS is rounded DOWN to one of
 * them, so we never send a segment larger than the client accepts. An MSS
 * below 536 is raised to 536, as Linux does: RFC 9293 3.7.1 requires every
 * IPv4 host to accept 576-byte datagrams, and a smaller figure is a broken
 * or hostile peer.
 */
const uint16_t cookie_mss_table[] = {
	536,  /* RFC 9293 3.7.1 default for IPv4; hping3 and other bare SYNs */
	1220, /* IPv6 minimum MTU 1280 (RFC 8200) - 60; RFC 9293 IPv6 default */
	1380, /* IPsec/VPN tunnels; Cisco ASA "sysopt connection tcpmss" */
	1400, /* common MSS clamp on VPNs and cloud overlays (VXLAN, GRE) */
	1440, /* IPv6 over Ethernet: 1500 - 40 - 20 */
	1452, /* IPv4 over PPPoE (RFC 2516): 1492 - 40 */
	1460, /* IPv4 over Ethernet: 1500 - 20 - 20, by far the most common */
	8960, /* jumbo frames: 9000 - 40 */
};
const unsigned cookie_mss_table_len =
    sizeof(cookie_mss_table) / sizeof(cookie_mss_table[0]);

/*
 * Window scale shifts a cookie WITHOUT timestamps can name (3 bits).
 * Index 0 means the SYN had no window scale option. The client's shift is
 * rounded DOWN: with a smaller shift we read its window as smaller than it
 * is (we send less than we may, never more than it can take); a larger
 * shift would overrun its receive buffer. Values chosen from what stacks
 * send by default: 2 and 4 older stacks, 6 macOS/iOS and FreeBSD, 7 Linux
 * (tcp_rmem max 6 MB), 8 Windows 10/11 and many Android builds, 9 Linux
 * with larger buffers; 10..14 round to 9 (a window read at most 32 times
 * too small). With timestamps the exact shift travels in the TSval.
 */
#define WS_NONE 0xff
static const uint8_t ws_table[8] = { WS_NONE, 0, 2, 4, 6, 7, 8, 9 };

/* Largest shift RFC 7323 2.3 allows. */
#define WS_MAX 14

/*
 * The layout. The MAC (see cookie_mac) covers the 4-tuple, the client's
 * ISN, the full 32-bit counter, whether timestamps are used, and every
 * data bit below, so nothing in a cookie can be altered without breaking
 * it. Only the counter's parity P travels: cookie_check takes the current
 * counter if its parity matches and the previous one otherwise, so one MAC
 * is computed per ACK and a counter two periods old can never match.
 *
 * Without timestamps, everything lives in the ISN, laid out as FreeBSD's
 * syncookie_generate does (sys/netinet/tcp_syncache.c):
 *
 *    31                                   8   7   6   4 3   1   0
 *   +--------------------------------------+---+-------+-----+---+
 *   |            MAC, 24 bits              | P |  MSS  | WS  | S |
 *   +--------------------------------------+---+-------+-----+---+
 *                                           \___ XOR ISN bits 31..24 __/
 *
 *   P    counter parity          MSS  index into cookie_mss_table
 *   WS   index into ws_table     S    SACK-permitted (RFC 2018)
 *
 * The low byte is XORed with the top 8 MAC bits only so that the options
 * do not show in clear on the wire; it adds no strength. A forged ACK is
 * accepted with probability 2^-24.
 *
 * With timestamps (RFC 7323), the window scale, SACK and parity move to
 * the low 6 bits of our TSval, as Linux's cookie_init_timestamp does
 * (net/ipv4/syncookies.c), and come back in the ACK's TSecr; the ISN keeps
 * the MSS index and 29 MAC bits:
 *
 *   ISN
 *    31                                                3 2       0
 *   +---------------------------------------------------+---------+
 *   |                  MAC, 29 bits                     |   MSS   |
 *   +---------------------------------------------------+---------+
 *                                                        XOR ISN bits 31..29
 *   TSval
 *    31                                  6   5   4   3           0
 *   +-------------------------------------+---+---+---------------+
 *   |  our clock, low 6 bits replaced     | P | S |   WSCALE      |
 *   +-------------------------------------+---+---+---------------+
 *
 *   WSCALE  the client's exact shift 0..14, 15 if it sent none
 *
 * A forged ACK is accepted with probability 2^-29.
 *
 * Which layout an ACK is read with depends on whether it carries a
 * timestamp option. A client that negotiated timestamps must send them on
 * every segment (RFC 7323 3.2); if its ACK has none, it is read with the
 * first layout, and since the layout is an input of the MAC the check
 * fails, but for the 2^-24 chance of any forgery. An ACK with a timestamp
 * for a cookie made without one fails the same way. So the ISN spends no
 * bit on saying whether timestamps were used.
 */
#define NOTS_MAC_SHIFT 8
#define NOTS_MAC_MASK 0xffffffu
#define NOTS_P_SHIFT 7
#define NOTS_MSS_SHIFT 4
#define NOTS_WS_SHIFT 1

#define TS_MAC_SHIFT 3
#define TS_MAC_MASK 0x1fffffffu
#define TS_MSS_MASK 0x7u

#define TSBITS 6
#define TSMASK ((1u << TSBITS) - 1)
#define TS_P 0x20u
#define TS_SACK 0x10u
#define TS_WS_MASK 0x0fu
#define TS_WS_NONE 0x0fu

/* Domain separation between the two layouts, inside the MAC. */
#define MODE_NOTS 0x01
#define MODE_TS 0x02

/* Length of the MAC input; see cookie_mac. */
#define MAC_MSG_LEN 48

/* Store a 32-bit value big-endian, so all hosts hash the same bytes. */
static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The MAC of a cookie. The message is serialised byte by byte rather than
 * hashing struct sg_tuple in place, so that hosts of any byte order that
 * share a key file agree:
 *
 *   0..15 peer address   16..31 local address   32..33 peer port
 *   34..35 local port    36..39 client ISN      40..43 counter
 *   44 family            45 mode                46..47 data bits
 */
static uint64_t
cookie_mac(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t client_isn, uint32_t counter, uint8_t mode, uint8_t d0,
    uint8_t d1)
{
	uint8_t m[MAC_MSG_LEN];

	memcpy(m, t->peer_addr, 16);
	memcpy(m + 16, t->local_addr, 16);
	m[32] = (uint8_t)(t->peer_port >> 8);
	m[33] = (uint8_t)t->peer_port;
	m[34] = (uint8_t)(t->local_port >> 8);
	m[35] = (uint8_t)t->local_port;
	put_be32(m + 36, client_isn);
	put_be32(m + 40, counter);
	m[44] = t->family;
	m[45] = mode;
	m[46] = d0;
	m[47] = d1;
	return siphash24(&s->key, m, sizeof(m));
}

/* Index of the largest table MSS not above mss (0 if mss is below all). */
static unsigned
mss_index(uint16_t mss)
{
	unsigned i;

	for (i = cookie_mss_table_len - 1; i > 0; i--)
		if (cookie_mss_table[i] <= mss)
			break;
	return i;
}

/* The peer's MSS to assume: its option, or RFC 9293 3.7.1's default. */
static uint16_t
syn_mss(const struct sg_tuple *t, const struct sg_tcpopts *syn)
{
	if (syn->flags & SG_OPT_MSS)
		return syn->mss;
	return t->family == AF_INET6 ? 1220 : 536;
}

/* Index of the largest ws_table shift not above ws (the SYN has WS). */
static unsigned
ws_index(uint8_t ws)
{
	unsigned i;

	for (i = 7; i > 1; i--)
		if (ws_table[i] <= ws)
			break;
	return i;
}

/*
 * Put opt in the low bits of our TSval without moving it forward: if the
 * result would be ahead of the clock, step back one 2^TSBITS unit. As in
 * Linux, the SYN-ACK's TSval then never exceeds what our clock says, so
 * every later segment of the connection carries a TSval at least as large
 * and the client's PAWS check (RFC 7323 5.3) never drops it. The cost is
 * a TSval up to 63 ticks old. Unsigned arithmetic keeps this right across
 * the 2^32 wrap.
 */
static uint32_t
ts_embed(uint32_t now, uint32_t opt)
{
	uint32_t ts = (now & ~TSMASK) | opt;

	if ((now & TSMASK) < opt)
		ts -= TSMASK + 1;
	return ts;
}

/* Parity bit of the counter this cookie was made with. */
static uint32_t
parity(uint32_t counter)
{
	return counter & 1;
}

/* The counter a cookie with parity p refers to: now, or the one before. */
static uint32_t
counter_of(uint32_t counter_now, uint32_t p)
{
	return parity(counter_now) == p ? counter_now : counter_now - 1;
}

uint32_t
cookie_counter(uint64_t now_s, uint32_t period_s)
{
	if (period_s == 0)
		period_s = COOKIE_PERIOD_DEFAULT;
	return (uint32_t)(now_s / period_s);
}

/* Fill in *enc from the decoded indices; shared by make and check. */
static void
fill_opts(struct sg_tcpopts *o, unsigned mss_idx, uint8_t ws, int sack)
{
	memset(o, 0, sizeof(*o));
	o->flags = SG_OPT_MSS;
	o->mss = cookie_mss_table[mss_idx];
	if (ws != WS_NONE) {
		o->flags |= SG_OPT_WSCALE;
		o->wscale = ws;
	}
	if (sack)
		o->flags |= SG_OPT_SACKOK;
}

/* Cookie for a SYN without timestamps: all in the ISN. */
static uint32_t
make_nots(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t client_isn, uint32_t counter, const struct sg_tcpopts *syn,
    struct sg_tcpopts *enc)
{
	unsigned mi, wi;
	int sack;
	uint32_t data, mac, isn;

	mi = mss_index(syn_mss(t, syn));
	wi = 0;
	if (syn->flags & SG_OPT_WSCALE)
		wi = ws_index(syn->wscale > WS_MAX ? WS_MAX : syn->wscale);
	sack = (syn->flags & SG_OPT_SACKOK) != 0;

	data = parity(counter) << NOTS_P_SHIFT | mi << NOTS_MSS_SHIFT |
	    wi << NOTS_WS_SHIFT | (uint32_t)sack;
	mac = (uint32_t)cookie_mac(s, t, client_isn, counter, MODE_NOTS,
	    (uint8_t)data, 0) & NOTS_MAC_MASK;
	isn = mac << NOTS_MAC_SHIFT;
	isn |= data ^ (isn >> 24);

	fill_opts(enc, mi, ws_table[wi], sack);
	return isn;
}

/* Cookie for a SYN with timestamps: MSS in the ISN, the rest in TSval. */
static uint32_t
make_ts(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t client_isn, uint32_t counter, const struct sg_tcpopts *syn,
    uint32_t *tsval, struct sg_tcpopts *enc)
{
	unsigned mi;
	uint32_t tsbits, mac, isn;
	uint8_t ws = WS_NONE;

	mi = mss_index(syn_mss(t, syn));
	tsbits = TS_WS_NONE;
	if (syn->flags & SG_OPT_WSCALE) {
		ws = syn->wscale > WS_MAX ? WS_MAX : syn->wscale;
		tsbits = ws;
	}
	if (syn->flags & SG_OPT_SACKOK)
		tsbits |= TS_SACK;
	if (parity(counter))
		tsbits |= TS_P;

	mac = (uint32_t)cookie_mac(s, t, client_isn, counter, MODE_TS,
	    (uint8_t)mi, (uint8_t)tsbits) & TS_MAC_MASK;
	isn = mac << TS_MAC_SHIFT;
	isn |= mi ^ (isn >> 29);

	*tsval = ts_embed(*tsval, tsbits);
	fill_opts(enc, mi, ws, (syn->flags & SG_OPT_SACKOK) != 0);
	enc->flags |= SG_OPT_TS;
	enc->tsval = *tsval;
	enc->tsecr = syn->tsval;
	return isn;
}

uint32_t
cookie_make(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t client_isn, uint32_t counter, const struct sg_tcpopts *syn,
    uint32_t *tsval, struct sg_tcpopts *enc)
{
	if ((syn->flags & SG_OPT_TS) && tsval != NULL)
		return make_ts(s, t, client_isn, counter, syn, tsval, enc);
	return make_nots(s, t, client_isn, counter, syn, enc);
}

/* Check an ACK without timestamps against the ISN-only layout. */
static int
check_nots(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t client_isn, uint32_t isn, uint32_t counter_now,
    struct sg_tcpopts *out)
{
	uint32_t data, counter, mac;

	data = (isn ^ (isn >> 24)) & 0xff;
	counter = counter_of(counter_now, data >> NOTS_P_SHIFT);
	mac = (uint32_t)cookie_mac(s, t, client_isn, counter, MODE_NOTS,
	    (uint8_t)data, 0) & NOTS_MAC_MASK;
	if (mac != isn >> NOTS_MAC_SHIFT)
		return 0;
	fill_opts(out, (data >> NOTS_MSS_SHIFT) & 7,
	    ws_table[(data >> NOTS_WS_SHIFT) & 7], data & 1);
	return 1;
}

/* Check an ACK with timestamps: MSS from the ISN, the rest from TSecr. */
static int
check_ts(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t client_isn, uint32_t isn, uint32_t counter_now,
    const struct sg_tcpopts *opts, struct sg_tcpopts *out)
{
	uint32_t mi, tsbits, counter, mac, ws;

	mi = (isn ^ (isn >> 29)) & TS_MSS_MASK;
	tsbits = opts->tsecr & TSMASK;
	counter = counter_of(counter_now, (tsbits & TS_P) != 0);
	mac = (uint32_t)cookie_mac(s, t, client_isn, counter, MODE_TS,
	    (uint8_t)mi, (uint8_t)tsbits) & TS_MAC_MASK;
	if (mac != isn >> TS_MAC_SHIFT)
		return 0;
	/* 15 means "no option"; the MAC also excludes a forged 15 here. */
	ws = tsbits & TS_WS_MASK;
	fill_opts(out, mi, ws == TS_WS_NONE ? WS_NONE : (uint8_t)ws,
	    (tsbits & TS_SACK) != 0);
	out->flags |= SG_OPT_TS;
	out->tsval = opts->tsval;
	out->tsecr = opts->tsecr;
	return 1;
}

int
cookie_check(const struct sg_cookie_secret *s, const struct sg_tuple *t,
    uint32_t seq, uint32_t ack, uint32_t counter_now,
    const struct sg_tcpopts *opts, struct sg_tcpopts *out)
{
	uint32_t client_isn = seq - 1, isn = ack - 1;

	memset(out, 0, sizeof(*out));
	if (opts != NULL && (opts->flags & SG_OPT_TS))
		return check_ts(s, t, client_isn, isn, counter_now, opts, out);
	return check_nots(s, t, client_isn, isn, counter_now, out);
}

/* Clear a buffer that held key material, in a way the compiler keeps. */
static void
wipe(void *p, size_t len)
{
	explicit_bzero(p, len);
}

int
cookie_secret_random(struct sg_cookie_secret *s)
{
	uint8_t b[16];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(b)) {
		n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			wipe(b, sizeof(b));
			return -1;
		}
		got += (size_t)n;
	}
	siphash_key_from_bytes(&s->key, b);
	wipe(b, sizeof(b));
	return 0;
}

/* Value of one hex digit, or -1. */
static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode 32 hex digits into 16 bytes; 0, or -1 on a non-hex character. */
static int
unhex(const uint8_t *in, uint8_t out[16])
{
	int hi, lo;
	unsigned i;

	for (i = 0; i < 16; i++) {
		hi = hexval(in[2 * i]);
		lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Whether all 16 bytes are zero: a key file filled from /dev/zero. */
static int
all_zero(const uint8_t b[16])
{
	uint8_t acc = 0;
	unsigned i;

	for (i = 0; i < 16; i++)
		acc |= b[i];
	return acc == 0;
}

/* Read exactly len bytes; 0, or -1 with errno set (EIO on a short read). */
static int
read_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/*
 * The checks are made on the open descriptor (fstat), not the path, so the
 * file cannot be swapped between check and read. O_NONBLOCK keeps open()
 * from hanging on a FIFO, which is then refused as not a regular file.
 * Error messages name the file and what is wrong, never its contents.
 */
int
cookie_secret_load(const char *path, struct sg_cookie_secret *s, char *err,
    size_t errlen)
{
	uint8_t buf[34], key[16];
	struct stat st;
	int fd, ok = -1;
	char dummy[1];

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "cookie key file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cookie key file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cookie key file %s: not a regular file",
		    path);
		goto out;
	}
	if (st.st_mode & 007) {
		snprintf(err, errlen,
		    "cookie key file %s: mode %04o gives others access to the "
		    "secret; chmod o-rwx it",
		    path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size != 16 && st.st_size != 32 && st.st_size != 33) {
		snprintf(err, errlen,
		    "cookie key file %s: %lld bytes; expected 16 raw bytes or "
		    "32 hex digits (with an optional newline)",
		    path, (long long)st.st_size);
		goto out;
	}
	if (read_all(fd, buf, (size_t)st.st_size) != 0) {
		snprintf(err, errlen, "cookie key file %s: read: %s", path,
		    strerror(errno));
		goto out;
	}
	if (st.st_size == 16)
		memcpy(key, buf, 16);
	else if ((st.st_size == 33 && buf[32] != '\n') ||
	    unhex(buf, key) != 0) {
		snprintf(err, errlen,
		    "cookie key file %s: %lld bytes but not 32 hex digits "
		    "(with an optional newline)",
		    path, (long long)st.st_size);
		goto out;
	}
	if (all_zero(key)) {
		snprintf(err, errlen,
		    "cookie key file %s: the key is all zeros", path);
		goto out;
	}
	siphash_key_from_bytes(&s->key, key);
	ok = 0;
out:
	wipe(buf, sizeof(buf));
	wipe(key, sizeof(key));
	close(fd);
	return ok;
}
