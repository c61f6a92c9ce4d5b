/*
 * netns.c -- test helpers: a private user + network namespace per test, and
 * TCP/IP packets written and read by hand.
 *
 * Criterion runs each test in its own worker process, so unsharing there
 * leaves the runner and the other tests untouched. For an ordinary user a
 * user namespace maps the caller's uid and gid to root, which grants
 * CAP_NET_RAW and CAP_NET_ADMIN over the new network namespace only.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <net/if.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "netns.h"
#include "pkt.h"

/* Write a short string to a /proc file; 0 or -1. */
static int
write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t w;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	w = write(fd, text, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

/* Map our ids to root in the new user namespace (setgroups must be denied
 * before an unprivileged gid_map write, see user_namespaces(7)). */
static int
map_ids(unsigned uid, unsigned gid)
{
	char line[64];

	if (write_file("/proc/self/setgroups", "deny") == -1 && errno != ENOENT)
		return -1;
	snprintf(line, sizeof(line), "0 %u 1\n", uid);
	if (write_file("/proc/self/uid_map", line) == -1)
		return -1;
	snprintf(line, sizeof(line), "0 %u 1\n", gid);
	return write_file("/proc/self/gid_map", line);
}

/* Bring the loopback interface up; the kernel then adds 127.0.0.1/8
 * and ::1 by itself. */
static int
lo_up(void)
{
	struct ifreq ifr;
	int fd, rc = -1;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) == 0)
			rc = 0;
	}
	close(fd);
	return rc;
}

/*
 * Criterion's worker process runs a helper thread, and a multi-threaded
 * process may not unshare a user namespace (EINVAL), while a network
 * namespace needs CAP_SYS_ADMIN over the current user namespace. So an
 * ordinary user's test program enters its own user namespace here, before
 * main() while it is still single-threaded; the workers it starts inherit
 * it, and each test then only unshares the network namespace. Root needs
 * none of this.
 */
__attribute__((constructor)) static void
netns_enter_userns(void)
{
	unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();

	if (geteuid() == 0)
		return;
	if (unshare(CLONE_NEWUSER) == 0)
		(void)map_ids(uid, gid);
}

int
sg_test_netns(void)
{
	unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();

	/* Affects the calling thread: the test's own. */
	if (unshare(CLONE_NEWNET) == -1) {
		/* Without the constructor's namespace: a single-threaded
		 * caller can still make both at once. */
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == -1)
			return -1;
		if (map_ids(uid, gid) == -1)
			return -1;
	}
	return lo_up();
}

int64_t
sg_test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
sg_test_sysctl(const char *name, const char *value)
{
	char path[256];

	if (snprintf(path, sizeof(path), "/proc/sys/%s", name) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return write_file(path, value);
}

/* Write the TCP options of s; returns their length (a multiple of 4). */
static size_t
build_opts(const struct sg_test_seg *s, uint8_t *o)
{
	size_t n = 0;

	if (s->optflags & SG_OPT_MSS) {
		o[n++] = 2;
		o[n++] = 4;
		put16(o + n, s->mss);
		n += 2;
	}
	if (s->optflags & SG_OPT_SACKOK) {
		o[n++] = 4;
		o[n++] = 2;
	} else if (s->optflags & SG_OPT_TS) {
		o[n++] = 1;
		o[n++] = 1;
	}
	if (s->optflags & SG_OPT_TS) {
		o[n++] = 8;
		o[n++] = 10;
		put32(o + n, s->tsval);
		put32(o + n + 4, s->tsecr);
		n += 8;
	} else if (s->optflags & SG_OPT_SACKOK) {
		o[n++] = 1;
		o[n++] = 1;
	}
	if (s->optflags & SG_OPT_WSCALE) {
		o[n++] = 1;
		o[n++] = 3;
		o[n++] = 3;
		o[n++] = s->wscale;
	}
	return n;
}

size_t
sg_test_build(const struct sg_test_seg *s, uint8_t *buf, size_t len)
{
	uint8_t opts[40], *th;
	size_t olen = build_opts(s, opts), iphl, tcplen, total;
	uint32_t sum;

	iphl = s->family == AF_INET ? 20 : 40;
	tcplen = 20 + olen + s->payload_len;
	total = iphl + tcplen;
	if (total > len || total > 65535)
		return 0;
	memset(buf, 0, iphl + 20);
	if (s->family == AF_INET) {
		buf[0] = 0x45;
		put16(buf + 2, (uint32_t)total);
		put16(buf + 6, 0x4000); /* DF */
		buf[8] = 64;
		buf[9] = IPPROTO_TCP;
		memcpy(buf + 12, s->src, 4);
		memcpy(buf + 16, s->dst, 4);
		put16(buf + 10, sum_fold(sum_add(0, buf, 20)));
		sum = sum_add(0, s->src, 4);
		sum = sum_add(sum, s->dst, 4);
	} else {
		buf[0] = 0x60;
		put16(buf + 4, (uint32_t)tcplen);
		buf[6] = IPPROTO_TCP;
		buf[7] = 64;
		memcpy(buf + 8, s->src, 16);
		memcpy(buf + 24, s->dst, 16);
		sum = sum_add(0, s->src, 16);
		sum = sum_add(sum, s->dst, 16);
	}
	sum += IPPROTO_TCP + (uint32_t)tcplen;
	th = buf + iphl;
	put16(th, s->sport);
	put16(th + 2, s->dport);
	put32(th + 4, s->seq);
	put32(th + 8, s->ack);
	th[12] = (uint8_t)(((20 + olen) / 4) << 4);
	th[13] = s->flags;
	put16(th + 14, s->window);
	memcpy(th + 20, opts, olen);
	if (s->payload_len > 0)
		memcpy(th + 20 + olen, s->payload, s->payload_len);
	put16(th + 16, sum_fold(sum_add(sum, th, tcplen)));
	return total;
}

/* Read the TCP options the helpers care about. */
static void
parse_opts(const uint8_t *o, size_t len, struct sg_test_seg *s)
{
	size_t i = 0, l;

	while (i < len) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || (l = o[i + 1]) < 2 || i + l > len)
			break;
		if (o[i] == 2 && l == 4) {
			s->optflags |= SG_OPT_MSS;
			s->mss = (uint16_t)get16(o + i + 2);
		} else if (o[i] == 3 && l == 3) {
			s->optflags |= SG_OPT_WSCALE;
			s->wscale = o[i + 2];
		} else if (o[i] == 4 && l == 2) {
			s->optflags |= SG_OPT_SACKOK;
		} else if (o[i] == 8 && l == 10) {
			s->optflags |= SG_OPT_TS;
			s->tsval = get32(o + i + 2);
			s->tsecr = get32(o + i + 6);
		}
		i += l;
	}
}

int
sg_test_parse(const uint8_t *pkt, size_t len, struct sg_test_seg *s)
{
	size_t iphl, total, doff;
	const uint8_t *th;

	memset(s, 0, sizeof(*s));
	if (len < 20)
		return -1;
	if ((pkt[0] >> 4) == 4) {
		iphl = (size_t)(pkt[0] & 0x0f) * 4;
		total = get16(pkt + 2);
		if (iphl < 20 || total < iphl || total > len ||
		    pkt[9] != IPPROTO_TCP || (get16(pkt + 6) & 0x1fff))
			return -1;
		s->family = AF_INET;
		memcpy(s->src, pkt + 12, 4);
		memcpy(s->dst, pkt + 16, 4);
	} else if ((pkt[0] >> 4) == 6) {
		iphl = 40;
		if (len < 40)
			return -1;
		total = 40 + get16(pkt + 4);
		if (total > len || pkt[6] != IPPROTO_TCP)
			return -1;
		s->family = AF_INET6;
		memcpy(s->src, pkt + 8, 16);
		memcpy(s->dst, pkt + 24, 16);
	} else
		return -1;
	if (total - iphl < 20)
		return -1;
	th = pkt + iphl;
	doff = (size_t)(th[12] >> 4) * 4;
	if (doff < 20 || doff > total - iphl)
		return -1;
	s->sport = (uint16_t)get16(th);
	s->dport = (uint16_t)get16(th + 2);
	s->seq = get32(th + 4);
	s->ack = get32(th + 8);
	s->flags = th[13];
	s->window = (uint16_t)get16(th + 14);
	parse_opts(th + 20, doff - 20, s);
	s->payload = th + doff;
	s->payload_len = total - iphl - doff;
	return 0;
}
