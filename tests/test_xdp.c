/*
 * test_xdp.c -- the XDP program (daemon/xdp_syn.bpf.c) run by the kernel
 * on frames the test writes (BPF_PROG_TEST_RUN), in the test's own network
 * namespace with the program attached to its loopback.
 *
 * What it must show: a SYN it answers gets byte for byte the SYN-ACK the
 * daemon's engine would have sent in cookies = "always" (same cookie, same
 * options, TSval from the same clock and key), whose cookie the engine's
 * check accepts; whatever is unusual or not ours goes on untouched
 * (XDP_PASS); random and mangled frames never make it send anything but a
 * well-formed SYN-ACK. And the on/off rule (xdp_gate) on its own.
 *
 * Loading a BPF program needs CAP_BPF in the initial user namespace: run
 * otherwise (an ordinary user, a container without it), the program tests
 * skip and say so; the gate's do not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <criterion/criterion.h>

#include "codec.h"
#include "cookie.h"
#include "engine.h"
#include "netns.h"
#include "pkt.h"
#include "siphash.h"
#include "tsclock.h"
#include "xdp.h"
#include "xdp_abi.h"

#define ETH_LEN 14
#define PORT 8080
#define WSCALE 7
#define WINDOW 65535

static struct sg_xdp *x;
static struct sg_cookie_secret secret;
static struct sg_config conf;
static struct sg_addrset *local; /* the host's addresses, for both sides */
static uint32_t counter;         /* one cookie counter for both sides */
static uint16_t lo_mss4, lo_mss6;
static cpu_set_t allowed;        /* the CPUs this test may run on */

static const uint8_t cli4[4] = {198, 18, 0, 2}, srv4[4] = {198, 18, 0, 1};
static const uint8_t cli6[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 2};
static const uint8_t srv6[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 1};
static const uint8_t mac_cli[6] = {2, 0, 0, 0, 0, 2};
static const uint8_t mac_srv[6]; /* loopback's, where the program runs */

/* Listen on the wildcard addresses, both families; local: NULL (every
 * address ours) unless a test says otherwise. */
static void
setup(void)
{
	char err[512];

	cpu_set_t one;

	cr_assert_eq(sg_test_netns(), 0, "netns: %s", strerror(errno));
	/* One CPU: the program's per-CPU burst count sees every run. */
	cr_assert_eq(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	static const uint8_t key[16] = "xdp-test-key-16b";
	siphash_key_from_bytes(&secret.key, key);
	x = xdp_new(&secret, err, sizeof(err));
	if (x == NULL) {
		if (!xdp_built())
			cr_skip_test("built without the XDP program: %s", err);
		if (strstr(err, strerror(EPERM)) != NULL)
			cr_skip_test("no CAP_BPF here: %s", err);
		cr_assert_fail("xdp_new: %s", err);
	}
	cr_assert_eq(xdp_attach(x, "lo", err, sizeof(err)), 0, "%s", err);
	config_defaults(&conf);
	conf.listen[0].family = AF_INET;
	conf.listen[0].port = PORT;
	conf.listen[1].family = AF_INET6;
	conf.listen[1].port = PORT;
	conf.nlisten = 2;
	local = NULL;
	counter = cookie_counter((uint64_t)time(NULL), COOKIE_PERIOD_DEFAULT);
	cr_assert_eq(xdp_sync(x, &conf, NULL, WINDOW, WSCALE), 0);
	cr_assert_eq(xdp_set(x, counter, true, 0), 0);
	/* lo's MTU is 65536: the MSS the workers would offer. */
	lo_mss4 = 65536 - 40;
	lo_mss6 = 65536 - 60;
}

static void
teardown(void)
{
	xdp_free(x);
	x = NULL;
}

/* A segment from the client to the server on PORT, Linux's options. */
static struct sg_test_seg
syn_seg(int family)
{
	struct sg_test_seg s;

	memset(&s, 0, sizeof(s));
	s.family = family;
	memcpy(s.src, family == AF_INET ? cli4 : cli6, family == AF_INET ? 4 : 16);
	memcpy(s.dst, family == AF_INET ? srv4 : srv6, family == AF_INET ? 4 : 16);
	s.sport = 40000;
	s.dport = PORT;
	s.seq = 0x12345678;
	s.flags = SG_TCP_SYN;
	s.window = 64240;
	s.optflags = SG_OPT_MSS | SG_OPT_SACKOK | SG_OPT_TS | SG_OPT_WSCALE;
	s.mss = 1460;
	s.wscale = 7;
	s.tsval = 777777;
	return s;
}

/* An Ethernet frame around s. Returns its length. */
static size_t
frame(const struct sg_test_seg *s, uint8_t *buf, size_t len)
{
	size_t n;

	memcpy(buf, mac_srv, 6);
	memcpy(buf + 6, mac_cli, 6);
	put16(buf + 12, s->family == AF_INET ? 0x0800 : 0x86dd);
	n = sg_test_build(s, buf + ETH_LEN, len - ETH_LEN);
	cr_assert_gt(n, 0);
	return ETH_LEN + n;
}

/* Run the program repeat times in a row on a frame (one system call);
 * the last run's action, and the frame after it. */
static int
run_n(const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
    uint32_t repeat)
{
	struct xdp_md md = {0};
	LIBBPF_OPTS(bpf_test_run_opts, o);
	int err;

	md.ingress_ifindex = if_nametoindex("lo");
	md.data_end = (uint32_t)len; /* the kernel wants the frame's bounds */
	o.data_in = in;
	o.data_size_in = (uint32_t)len;
	o.data_out = out;
	o.data_size_out = (uint32_t)*outlen;
	o.ctx_in = &md;
	o.ctx_size_in = sizeof(md);
	o.repeat = repeat;
	err = bpf_prog_test_run_opts(xdp_prog_fd(x), &o);
	cr_assert_eq(err, 0, "test_run: %s", strerror(-err));
	*outlen = o.data_size_out;
	return (int)o.retval;
}

/* Run the program once on a frame. */
static int
run(const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	return run_n(in, len, out, outlen, 1);
}

/* What the engine sends for the same SYN, in cookies = "always". */
static struct sg_reply engine_reply;
static unsigned engine_ntx;

static int
capture_tx(void *arg, const struct sg_reply *r)
{
	(void)arg;
	engine_reply = *r;
	engine_ntx++;
	return 0;
}

static int
no_established(void *arg, const struct sg_conn_params *p, bool cookie,
    uint32_t us)
{
	(void)arg;
	(void)p;
	(void)cookie;
	(void)us;
	return -1;
}

static struct sg_reply
engine_answer(const uint8_t *ip, size_t len, uint16_t our_mss)
{
	static const struct sg_engine_ops ops = {capture_tx, no_established};
	struct sg_engine_conf ec;
	struct sg_stats st;
	struct sg_segment seg;
	struct sg_clock clk;
	struct sg_engine *e;

	memset(&ec, 0, sizeof(ec));
	memset(&st, 0, sizeof(st));
	ec.cookies = SG_COOKIES_ALWAYS;
	ec.cookie_period_s = COOKIE_PERIOD_DEFAULT;
	ec.queue_size = 16;
	ec.timing.synack_timeout_ms = 1000;
	ec.timing.synack_retries = 1;
	ec.our_wscale = WSCALE;
	ec.our_window = WINDOW;
	ec.listen = conf.listen;
	ec.nlisten = conf.nlisten;
	ec.local = local;
	e = engine_new(&ec, &secret, &ops, NULL, &st);
	cr_assert_not_null(e);
	cr_assert_eq(codec_parse(ip, len, SG_LINK_IP, SG_CSUM_VERIFY, &seg),
	    SG_R_NONE);
	clk.mono_ms = sg_clock_ms(CLOCK_MONOTONIC);
	clk.real_s = (uint64_t)counter * COOKIE_PERIOD_DEFAULT;
	engine_ntx = 0;
	engine_input(e, &seg, our_mss, &clk);
	engine_free(e);
	cr_assert_eq(engine_ntx, 1, "the engine did not answer");
	return engine_reply;
}

/*
 * The program answered the frame in[0..len) with out[0..outlen): check the
 * answer against the engine's for the same SYN, and that the ACK which
 * would follow passes the engine's cookie check. Returns the answer.
 */
static struct sg_segment
engine_agrees(const uint8_t *in, size_t len, const uint8_t *out,
    size_t outlen, uint16_t our_mss)
{
	uint8_t want[SG_REPLY_MAX];
	size_t wlen;
	struct sg_segment got, syn;
	struct sg_reply r;
	struct sg_tcpopts dec, ackopts;

	cr_assert_eq(codec_parse(in + ETH_LEN, len - ETH_LEN, SG_LINK_IP,
	    SG_CSUM_VERIFY, &syn), SG_R_NONE, "answered a SYN the engine "
	    "cannot parse");
	r = engine_answer(in + ETH_LEN, len - ETH_LEN, our_mss);

	/* The link header mirrored; IP and TCP well formed. */
	cr_assert_arr_eq(out, in + 6, 6);
	cr_assert_arr_eq(out + 6, in, 6);
	cr_assert_arr_eq(out + 12, in + 12, 2);
	cr_assert_eq(codec_parse(out, outlen, SG_LINK_ETHER, SG_CSUM_VERIFY,
	    &got), SG_R_NONE);

	/* The TSval is the one field that moves with the clock: the two
	 * were read within a few ms, each rounded back by at most 63. */
	if (r.opts.flags & SG_OPT_TS) {
		cr_assert(got.opts.flags & SG_OPT_TS);
		int32_t d = (int32_t)(got.opts.tsval - r.opts.tsval);
		cr_assert(d > -1000 && d < 1000, "TSval %u, engine's %u",
		    got.opts.tsval, r.opts.tsval);
		/* Its low 6 bits carry cookie data: the same. */
		cr_assert_eq(got.opts.tsval & 63, r.opts.tsval & 63);
		r.opts.tsval = got.opts.tsval;
	}
	wlen = codec_build(&r, want, sizeof(want));
	cr_assert_gt(wlen, 0);
	/* The engine's datagram, then Ethernet's padding (zeros) to 60. */
	cr_assert_eq(outlen, ETH_LEN + wlen < 60 ? 60 : ETH_LEN + wlen,
	    "length %zu, engine's %zu", outlen, ETH_LEN + wlen);
	cr_assert_arr_eq(out + ETH_LEN, want, wlen,
	    "the SYN-ACK differs from the engine's");
	for (size_t i = ETH_LEN + wlen; i < outlen; i++)
		cr_assert_eq(out[i], 0, "padding byte %zu not zero", i);

	/* The client's ACK passes the daemon's cookie check. */
	memset(&ackopts, 0, sizeof(ackopts));
	if (got.opts.flags & SG_OPT_TS) {
		ackopts.flags = SG_OPT_TS;
		ackopts.tsval = syn.opts.tsval + 1;
		ackopts.tsecr = got.opts.tsval;
	}
	cr_assert_eq(cookie_check(&secret, &syn.tuple, syn.seq + 1,
	    got.seq + 1, counter, &ackopts, &dec), 1,
	    "the cookie does not check");
	cr_assert_eq(got.ack, syn.seq + 1);
	return got;
}

/* Send s through the program, which must answer as the engine would. */
static void
check_answer(const struct sg_test_seg *s, uint16_t our_mss)
{
	uint8_t in[256], out[4096];
	size_t len = frame(s, in, sizeof(in)), outlen = sizeof(out);

	cr_assert_eq(run(in, len, out, &outlen), XDP_TX);
	engine_agrees(in, len, out, outlen, our_mss);
}

TestSuite(xdp, .init = setup, .fini = teardown);

Test(xdp, ipv4_linux_syn_answered_as_the_engine_would)
{
	struct sg_test_seg s = syn_seg(AF_INET);

	check_answer(&s, lo_mss4);
	cr_assert_eq(xdp_count(x, SG_XDP_ANSWERED), 1);
}

Test(xdp, ipv4_bare_syn_answered_as_the_engine_would)
{
	struct sg_test_seg s = syn_seg(AF_INET);

	s.optflags = 0; /* hping3's: no options at all */
	check_answer(&s, lo_mss4);
}

Test(xdp, ipv4_option_mixes)
{
	static const uint8_t mixes[] = {
		SG_OPT_MSS, SG_OPT_MSS | SG_OPT_WSCALE,
		SG_OPT_MSS | SG_OPT_SACKOK, SG_OPT_TS,
		SG_OPT_TS | SG_OPT_SACKOK, SG_OPT_WSCALE | SG_OPT_TS,
		SG_OPT_MSS | SG_OPT_WSCALE | SG_OPT_SACKOK,
	};
	static const uint16_t msses[] = {100, 536, 1219, 1300, 1452, 9000};

	for (size_t i = 0; i < sizeof(mixes); i++) {
		for (size_t j = 0; j < sizeof(msses) / sizeof(msses[0]); j++) {
			struct sg_test_seg s = syn_seg(AF_INET);
			s.optflags = mixes[i];
			s.mss = msses[j];
			s.wscale = (uint8_t)(i * 2 + j); /* 0..17: clamped */
			s.sport = (uint16_t)(1000 + i * 10 + j);
			check_answer(&s, lo_mss4);
		}
	}
}

Test(xdp, ipv6_syns_answered_as_the_engine_would)
{
	struct sg_test_seg s = syn_seg(AF_INET6);

	check_answer(&s, lo_mss6);
	s.optflags = 0;
	s.sport++;
	check_answer(&s, lo_mss6);
}

/* Run a frame that must go on to the daemon untouched. */
static void
check_pass(const uint8_t *in, size_t len)
{
	uint8_t out[4096];
	size_t outlen = sizeof(out);

	cr_assert_eq(run(in, len, out, &outlen), XDP_PASS);
	cr_assert_eq(outlen, len);
	cr_assert_arr_eq(out, in, len, "a passed frame was changed");
}

/* Run a frame the program must drop: one the engine drops too, for an
 * address no SYN may have. */
static void
check_drop(const uint8_t *in, size_t len)
{
	uint8_t out[4096];
	size_t outlen = sizeof(out);
	struct sg_segment seg;

	cr_assert_eq(run(in, len, out, &outlen), XDP_DROP);
	cr_assert_eq(codec_parse(in + ETH_LEN, len - ETH_LEN, SG_LINK_IP,
	    SG_CSUM_TRUSTED, &seg), SG_R_IP_BAD_ADDR);
}

/* Rebuild s's frame after fix() changed the IP packet, with checksums
 * made right again unless keep_sums. */
static void
refix_v4(uint8_t *f, size_t len)
{
	uint8_t *ip = f + ETH_LEN;
	size_t hl = (size_t)(ip[0] & 15) * 4, l4 = len - ETH_LEN - hl;
	uint32_t sum;

	put16(ip + 10, 0);
	put16(ip + 10, sum_fold(sum_add(0, ip, hl)));
	put16(ip + hl + 16, 0);
	sum = sum_add(0, ip + 12, 8);
	sum += 6 + (uint32_t)l4;
	put16(ip + hl + 16, sum_fold(sum_add(sum, ip + hl, l4)));
}

Test(xdp, off_means_every_syn_goes_to_the_workers)
{
	struct sg_test_seg s = syn_seg(AF_INET);
	uint8_t in[256];
	size_t len = frame(&s, in, sizeof(in));

	cr_assert_eq(xdp_set(x, counter, false, 0), 0);
	check_pass(in, len);
	cr_assert_eq(xdp_count(x, SG_XDP_PASSED), 1);
	cr_assert_eq(xdp_count(x, SG_XDP_ANSWERED), 0);
}

Test(xdp, not_ours_goes_on)
{
	struct sg_test_seg s = syn_seg(AF_INET);
	uint8_t in[256];
	size_t len;

	s.dport = PORT + 1; /* no listen entry */
	len = frame(&s, in, sizeof(in));
	check_pass(in, len);
	cr_assert_eq(xdp_count(x, SG_XDP_PASSED), 0, "not ours, not counted");

	/* A wildcard entry takes only the host's own addresses. */
	struct sg_addrset set;
	memset(&set, 0, sizeof(set));
	set.n = 1;
	set.a[0].family = AF_INET;
	memcpy(set.a[0].addr, cli4, 4); /* not srv4 */
	cr_assert_eq(xdp_sync(x, &conf, &set, WINDOW, WSCALE), 0);
	s = syn_seg(AF_INET);
	len = frame(&s, in, sizeof(in));
	check_pass(in, len);
	memcpy(set.a[0].addr, srv4, 4);
	cr_assert_eq(xdp_sync(x, &conf, &set, WINDOW, WSCALE), 0);
	local = &set;
	check_answer(&s, lo_mss4);
	local = NULL;

	/* A reload that drops the port takes it out of the program too. */
	conf.listen[0].port = PORT + 2;
	cr_assert_eq(xdp_sync(x, &conf, NULL, WINDOW, WSCALE), 0);
	check_pass(in, len);
}

Test(xdp, unusual_syns_go_to_the_workers)
{
	struct sg_test_seg s = syn_seg(AF_INET);
	uint8_t base[256], in[256];
	size_t len = frame(&s, base, sizeof(base));
	uint8_t *ip = in + ETH_LEN, *tcp = ip + 20;

	/* A bad TCP checksum (or a partial one, from a local sender). */
	memcpy(in, base, len);
	tcp[16] ^= 0x55;
	check_pass(in, len);
	/* A bad IP header checksum. */
	memcpy(in, base, len);
	ip[10] ^= 0x55;
	check_pass(in, len);
	/* SYN+ACK, SYN+FIN, SYN+RST. */
	const uint8_t bad_flags[] = {0x12, 0x03, 0x06};
	for (size_t i = 0; i < sizeof(bad_flags); i++) {
		memcpy(in, base, len);
		tcp[13] = bad_flags[i];
		refix_v4(in, len);
		check_pass(in, len);
	}
	/* A fragment (MF), and a later fragment. */
	memcpy(in, base, len);
	ip[6] |= 0x20;
	refix_v4(in, len);
	check_pass(in, len);
	memcpy(in, base, len);
	ip[7] = 1;
	refix_v4(in, len);
	check_pass(in, len);
	/* A known option of the wrong length: MSS of 3 bytes. */
	memcpy(in, base, len);
	cr_assert_eq(tcp[20], 2);
	tcp[21] = 3;
	refix_v4(in, len);
	check_pass(in, len);
	/* An option running past the header. */
	memcpy(in, base, len);
	tcp[21] = 60;
	refix_v4(in, len);
	check_pass(in, len);
	/* Truncated: the frame ends inside the TCP header. */
	memcpy(in, base, len);
	check_pass(in, ETH_LEN + 20 + 12);
	/* Multicast destination, broadcast source: dropped (the workers
	 * would drop them too), and counted. */
	memcpy(in, base, len);
	ip[16] = 224;
	refix_v4(in, len);
	check_drop(in, len);
	memcpy(in, base, len);
	memset(ip + 12, 255, 4);
	refix_v4(in, len);
	check_drop(in, len);
	cr_assert_eq(xdp_count(x, SG_XDP_DROPPED), 2);
	/* Off, they go on to the workers like any SYN. */
	cr_assert_eq(xdp_set(x, counter, false, 0), 0);
	check_pass(in, len);
	cr_assert_eq(xdp_set(x, counter, true, 0), 0);
	/* Port 0. */
	memcpy(in, base, len);
	put16(tcp, 0);
	refix_v4(in, len);
	check_pass(in, len);
	/* A VLAN tag. */
	memcpy(in, base, len);
	put16(in + 12, 0x8100);
	check_pass(in, len);

	/* Data on the SYN. */
	static const uint8_t data[] = "hello";
	s.payload = data;
	s.payload_len = 5;
	len = frame(&s, in, sizeof(in));
	check_pass(in, len);

	/* IP options (a NOP-padded header of 24 bytes). */
	s = syn_seg(AF_INET);
	len = frame(&s, base, sizeof(base));
	memcpy(in, base, ETH_LEN + 20);
	memset(in + ETH_LEN + 20, 1, 4); /* four NOPs */
	memcpy(in + ETH_LEN + 24, base + ETH_LEN + 20, len - ETH_LEN - 20);
	in[ETH_LEN] = 0x46;
	put16(in + ETH_LEN + 2, (uint32_t)(len - ETH_LEN + 4));
	refix_v4(in, len + 4);
	check_pass(in, len + 4);

	cr_assert_eq(xdp_count(x, SG_XDP_ANSWERED), 0);
}

Test(xdp, ipv6_extension_headers_go_to_the_workers)
{
	struct sg_test_seg s = syn_seg(AF_INET6);
	uint8_t in[256];
	size_t len = frame(&s, in, sizeof(in));

	in[ETH_LEN + 6] = 0; /* hop-by-hop first */
	check_pass(in, len);
	len = frame(&s, in, sizeof(in));
	in[ETH_LEN + 24] = 0xff; /* to a multicast address */
	check_drop(in, len);
	len = frame(&s, in, sizeof(in));
	memset(in + ETH_LEN + 8, 0, 16); /* from :: */
	check_drop(in, len);
}

/*
 * Hostile frames: a SYN mangled at random, and random bytes. The program
 * must never send anything but a well-formed SYN-ACK (valid checksums, the
 * client's addresses and port) and must leave what it passes unchanged.
 */
Test(xdp, mangled_frames_never_make_a_bad_answer)
{
	uint8_t base[256], in[256], out[4096];
	unsigned seed = 12345, sent = 0;

	for (int round = 0; round < 3000; round++) {
		struct sg_test_seg s = syn_seg(round & 1 ? AF_INET6 : AF_INET);
		size_t len = frame(&s, base, sizeof(base)), outlen;
		memcpy(in, base, len);
		if (round % 10 == 9) {
			for (size_t i = 0; i < len; i++)
				in[i] = (uint8_t)rand_r(&seed);
			put16(in + 12, round & 2 ? 0x0800 : 0x86dd);
		} else {
			int flips = 1 + rand_r(&seed) % 4;
			for (int f = 0; f < flips; f++)
				in[ETH_LEN + (size_t)rand_r(&seed) %
				    (len - ETH_LEN)] ^= (uint8_t)(1 +
				    rand_r(&seed) % 255);
			if (round % 3 == 0 && s.family == AF_INET &&
			    (in[ETH_LEN] & 15) == 5)
				refix_v4(in, len);
		}
		/* Random lengths too, truncated and padded. */
		size_t n = round % 7 == 0 ? ETH_LEN + (size_t)rand_r(&seed) %
		    (len - ETH_LEN) :
		    round % 7 == 1 ? len + (size_t)rand_r(&seed) % 20 : len;
		outlen = sizeof(out);
		int act = run(in, n, out, &outlen);
		if (act == XDP_PASS) {
			cr_assert_eq(outlen, n);
			cr_assert_arr_eq(out, in, n);
			continue;
		}
		if (act == XDP_DROP) {
			struct sg_segment seg;
			cr_assert_eq(codec_parse(in + ETH_LEN, n - ETH_LEN,
			    SG_LINK_IP, SG_CSUM_VERIFY, &seg),
			    SG_R_IP_BAD_ADDR, "dropped what the engine keeps");
			continue;
		}
		cr_assert_eq(act, XDP_TX, "action %d", act);
		/* Answered: then the engine answers the same frame, with the
		 * same bytes. */
		struct sg_segment got = engine_agrees(in, n, out, outlen,
		    (in[12] == 0x08 ? lo_mss4 : lo_mss6));
		cr_assert_eq(got.flags, SG_TCP_SYN | SG_TCP_ACK);
		cr_assert_eq(got.payload_len, 0);
		sent++;
	}
	/* Flips that miss everything checked still get answers. */
	cr_assert_gt(sent, 0);
}

Test(xdp, frames_not_to_this_interface_go_on)
{
	struct sg_test_seg s = syn_seg(AF_INET);
	uint8_t in[256];
	size_t len = frame(&s, in, sizeof(in));

	memset(in, 0xff, 6); /* broadcast */
	check_pass(in, len);
	len = frame(&s, in, sizeof(in));
	in[0] = 0x01; /* multicast */
	check_pass(in, len);
	len = frame(&s, in, sizeof(in));
	in[5] = 0x42; /* another host's, on a promiscuous port */
	check_pass(in, len);
	len = frame(&s, in, sizeof(in));
	in[6] |= 1; /* from a multicast address: no unicast to answer */
	check_pass(in, len);
	cr_assert_eq(xdp_count(x, SG_XDP_ANSWERED), 0);
}

Test(xdp, padded_frames_and_short_answers)
{
	struct sg_test_seg s = syn_seg(AF_INET);
	uint8_t in[256], out[4096];
	size_t len, outlen = sizeof(out);

	/* A bare SYN, 54 bytes, padded to 60 with junk as a NIC may; the
	 * answer (MSS alone) is 58 bytes, sent as 60 with zero padding. */
	s.optflags = 0;
	len = frame(&s, in, sizeof(in));
	cr_assert_eq(len, 54);
	memset(in + len, 0xa5, 6);
	cr_assert_eq(run(in, 60, out, &outlen), XDP_TX);
	engine_agrees(in, 60, out, outlen, lo_mss4);
	cr_assert_eq(outlen, 60);
}

Test(xdp, an_entry_for_an_address_wins_over_a_wildcard_listed_first)
{
	static struct sg_addrset set; /* the host holds none of them */
	struct sg_test_seg s = syn_seg(AF_INET);

	set.n = 1;
	set.a[0].family = AF_INET;
	memcpy(set.a[0].addr, cli4, 4);
	/* listen[0] is 0.0.0.0:PORT; then srv4:PORT. */
	memcpy(conf.listen[1].addr, srv4, 4);
	conf.listen[1].family = AF_INET;
	conf.nlisten = 2;
	cr_assert_eq(xdp_sync(x, &conf, &set, WINDOW, WSCALE), 0);
	local = &set;
	check_answer(&s, lo_mss4);
	local = NULL;
}

Test(xdp, a_burst_on_one_cpu_turns_it_on_at_once_on_all)
{
	struct sg_test_seg s = syn_seg(AF_INET);
	uint8_t in[256], out[4096];
	size_t len = frame(&s, in, sizeof(in)), outlen = sizeof(out);

	/* Off, but 3 SYNs within 10 ms turn it on: the same SYN run twice
	 * in one call goes on, three times is answered. */
	cr_assert_eq(xdp_set(x, counter, false, 3), 0);
	cr_assert_eq(run_n(in, len, out, &outlen, 2), XDP_PASS);
	/* A new window: the count starts again. */
	struct timespec ms = {0, 11000000};
	nanosleep(&ms, NULL);
	outlen = sizeof(out);
	cr_assert_eq(run_n(in, len, out, &outlen, 3), XDP_TX);
	/* And it stays on for a while, for a single SYN, on this CPU and on
	 * another (a client's SYN need not come in where the flood does). */
	outlen = sizeof(out);
	cr_assert_eq(run(in, len, out, &outlen), XDP_TX);
	engine_agrees(in, len, out, outlen, lo_mss4);
	cpu_set_t other;
	int here = sched_getcpu(), there = -1;
	for (int i = 0; i < CPU_SETSIZE && there == -1; i++)
		if (i != here && CPU_ISSET(i, &allowed))
			there = i;
	if (there != -1) {
		CPU_ZERO(&other);
		CPU_SET(there, &other);
		cr_assert_eq(sched_setaffinity(0, sizeof(other), &other), 0);
		cr_assert_neq(sched_getcpu(), here);
		outlen = sizeof(out);
		cr_assert_eq(run(in, len, out, &outlen), XDP_TX,
		    "not on, on CPU %d, after a burst on CPU %d",
		    sched_getcpu(), here);
	} else {
		cr_log_warn("one CPU only: not tried on another");
	}
	/* burst 0: never, however many. */
	cr_assert_eq(xdp_set(x, counter, false, 0), 0);
	teardown();
	setup();
	cr_assert_eq(xdp_set(x, counter, false, 0), 0);
	outlen = sizeof(out);
	cr_assert_eq(run_n(in, len, out, &outlen, 100), XDP_PASS);
}

/* The on/off rule, alone. */
Test(xdp_gate, on_above_off_after_a_calm_second)
{
	struct sg_xdp_gate g;
	uint64_t t = 1000, syns = 0;

	memset(&g, 0, sizeof(g));
	cr_assert_not(xdp_gate(&g, 20000, t, syns));
	/* 1,000 SYN/s: off. */
	for (int i = 0; i < 20; i++) {
		t += 100;
		syns += 100;
		cr_assert_not(xdp_gate(&g, 20000, t, syns));
	}
	/* 30,000 SYN/s: on within one tick. */
	t += 100;
	syns += 3000;
	cr_assert(xdp_gate(&g, 20000, t, syns));
	/* 10,000 SYN/s: above a quarter, stays on however long. */
	for (int i = 0; i < 30; i++) {
		t += 100;
		syns += 1000;
		cr_assert(xdp_gate(&g, 20000, t, syns));
	}
	/* 1,000 SYN/s: on for a second yet, then off. */
	for (int i = 0; i < 9; i++) {
		t += 100;
		syns += 100;
		cr_assert(xdp_gate(&g, 20000, t, syns), "tick %d", i);
	}
	t += 100;
	syns += 100;
	t += 100;
	syns += 100;
	cr_assert_not(xdp_gate(&g, 20000, t, syns));
}

Test(xdp_gate, zero_means_always_and_short_samples_wait)
{
	struct sg_xdp_gate g;

	memset(&g, 0, sizeof(g));
	cr_assert(xdp_gate(&g, 0, 5, 0));
	memset(&g, 0, sizeof(g));
	cr_assert_not(xdp_gate(&g, 100, 1000, 0));
	/* 10 ms is too short to tell a rate, however many SYNs. */
	cr_assert_not(xdp_gate(&g, 100, 1010, 1000000));
	cr_assert(xdp_gate(&g, 100, 1100, 1000000));
	/* A counter that went back (a restart) starts over. */
	cr_assert(xdp_gate(&g, 100, 1200, 5));
}
